"""``strongroom admin kms ...``: the object server's KMS through its admin API (mc admin kms).

Exit codes as the other client commands; ``key status`` also exits 1 when the key fails its
encryption or decryption check.
"""

from __future__ import annotations

from pathlib import Path

import click

from strongroom.cli.client import common
from strongroom.client.admin import AdminClient
from strongroom.client.app import App, run
from strongroom.client.errors import ClientError, UsageError

_CONTEXT = {"help_option_names": ["-h", "--help"]}


def _admin(app: App, alias_name: str) -> AdminClient:
    if "/" in alias_name:
        raise UsageError(f"`{alias_name}`: give an alias name, not a path")
    if alias_name not in app.aliases:
        raise UsageError(f"no alias `{alias_name}` (add one with `strongroom alias set`)")
    return AdminClient(app.aliases[alias_name])


@click.group(context_settings=_CONTEXT)
def cli() -> None:
    """Administer an object server."""


@cli.group(context_settings=_CONTEXT)
def kms() -> None:
    """The object server's KMS: status and master keys."""


@kms.command("status", context_settings=_CONTEXT)
@click.argument("alias_name", metavar="ALIAS")
@common
def kms_status(alias_name: str, json_output: bool, config_dir: Path | None, insecure: bool) -> None:
    """Show the KMS the object server uses: name, default key, endpoints."""
    app = App(json_output=json_output, config_dir=config_dir, insecure=insecure)

    def body() -> None:
        status = _admin(app, alias_name).kms_status()
        app.emit(status.to_json(), status.to_text())

    run(app, body)


@kms.group(context_settings=_CONTEXT)
def key() -> None:
    """Create master keys and check them."""


@key.command("create", context_settings=_CONTEXT)
@click.argument("alias_name", metavar="ALIAS")
@click.argument("name")
@common
def key_create(
    alias_name: str, name: str, json_output: bool, config_dir: Path | None, insecure: bool
) -> None:
    """Create master key NAME in the object server's KMS."""
    app = App(json_output=json_output, config_dir=config_dir, insecure=insecure)

    def body() -> None:
        _admin(app, alias_name).create_key(name)
        app.emit({"status": "success", "key": name}, f"Created master key `{name}` successfully")

    run(app, body)


@key.command("status", context_settings=_CONTEXT)
@click.argument("alias_name", metavar="ALIAS")
@click.argument("name", required=False)
@common
def key_status(
    alias_name: str, name: str | None, json_output: bool, config_dir: Path | None, insecure: bool
) -> None:
    """Check that key NAME (default: the server's default key) encrypts and decrypts."""
    app = App(json_output=json_output, config_dir=config_dir, insecure=insecure)

    def body() -> None:
        status = _admin(app, alias_name).key_status(name)
        app.emit(status.to_json(), status.to_text())
        if not status.ok:
            raise click.exceptions.Exit(ClientError.exit_code)

    run(app, body)
