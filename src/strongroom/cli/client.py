"""The S3 client commands (mc's role): ``alias``, ``mb``, ``rb``, ``ls``, ``cp``, ``cat``,
``rm``, ``stat``. Thin: parse, call ``strongroom.client``, print. See ``docs/client.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from strongroom.client import buckets, listing, objects
from strongroom.client.aliases import Alias
from strongroom.client.app import App, run
from strongroom.client.errors import UsageError
from strongroom.client.progress import NullProgress, make_progress
from strongroom.client.sse import Encryption, parse_encryption
from strongroom.client.transfer import Copier

F = TypeVar("F", bound=Callable[..., Any])

_CONTEXT = {"help_option_names": ["-h", "--help"]}


def config_options(func: F) -> F:
    """``--json`` and ``--config-dir``."""
    func = click.option(
        "--config-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="STRONGROOM_CONFIG_DIR",
        help="Directory of config.json [default: ~/.strongroom; env STRONGROOM_CONFIG_DIR].",
    )(func)
    func = click.option("--json", "json_output", is_flag=True, help="One JSON object per line.")(
        func
    )
    return func


def common(func: F) -> F:
    """``--json``, ``--config-dir`` and ``--insecure`` on every command that talks to S3."""
    func = click.option(
        "--insecure",
        is_flag=True,
        help="Do not verify the server's TLS certificate (this run only).",
    )(func)
    return config_options(func)


def encryption_options(func: F) -> F:
    func = click.option(
        "--enc-c",
        "enc_c",
        multiple=True,
        metavar="[ALIAS/BUCKET/PREFIX=]KEY",
        help="SSE-C key: 32 bytes as base64 or 64 hex digits, for a prefix or for every path.",
    )(func)
    return func


def _app(json_output: bool, config_dir: Path | None, insecure: bool) -> App:
    return App(json_output=json_output, config_dir=config_dir, insecure=insecure)


def _encryption(
    app: App, *, s3: bool = False, kms: tuple[str, ...] = (), sse_c: tuple[str, ...] = ()
) -> Encryption:
    return parse_encryption(s3=s3, kms=kms, sse_c=sse_c, aliases=app.aliases)


# -- alias ---------------------------------------------------------------------------------------


@click.group(context_settings=_CONTEXT)
def alias() -> None:
    """Manage S3 server aliases (kept in ~/.strongroom/config.json, mode 0600)."""


@alias.command("set", context_settings=_CONTEXT)
@click.argument("name")
@click.argument("url")
@click.argument("access_key", required=False)
@click.argument("secret_key", required=False)
@click.option("--ca", type=click.Path(dir_okay=False), help="CA certificate (PEM) to trust.")
@click.option("--region", default="us-east-1", show_default=True, help="Signing region.")
@click.option(
    "--path",
    "path_style",
    type=click.Choice(["auto", "on", "off"]),
    default="auto",
    show_default=True,
    help="Path-style addressing: on, off, or auto (path style except on AWS).",
)
@click.option("--api", default="S3v4", hidden=True)
@common
def alias_set(
    name: str,
    url: str,
    access_key: str | None,
    secret_key: str | None,
    ca: str | None,
    region: str,
    path_style: str,
    api: str,
    json_output: bool,
    config_dir: Path | None,
    insecure: bool,
) -> None:
    """Add or replace alias NAME for URL. ACCESS_KEY and SECRET_KEY are asked for if left out
    (so they stay out of shell history)."""
    app = _app(json_output, config_dir, False)

    def body() -> None:
        if api.lower() != "s3v4":
            raise UsageError("--api: only S3v4 is supported")
        access = access_key if access_key is not None else click.prompt("Enter Access Key")
        secret = (
            secret_key
            if secret_key is not None
            else click.prompt("Enter Secret Key", hide_input=True)
        )
        stored = app.store.set(
            Alias(
                name=name,
                url=url,
                access_key=access,
                secret_key=secret,
                region=region,
                path=path_style,  # type: ignore[arg-type]
                insecure=insecure,
                ca=ca,
            )
        )
        app.emit({"status": "success", **stored.public()}, f"Added `{stored.name}` successfully.")

    run(app, body)


@alias.command("ls", context_settings=_CONTEXT)
@click.argument("name", required=False)
@config_options
def alias_ls(name: str | None, json_output: bool, config_dir: Path | None) -> None:
    """List aliases (secret keys masked)."""
    app = _app(json_output, config_dir, False)

    def body() -> None:
        aliases = app.store.load()
        chosen = [app.store.get(name)] if name else [aliases[n] for n in sorted(aliases)]
        for entry in chosen:
            public = entry.public()
            lines = [
                entry.name,
                f"  URL       : {public['URL']}",
                f"  AccessKey : {public['accessKey']}",
                f"  SecretKey : {public['secretKey']}",
                f"  API       : {public['api']}",
                f"  Path      : {public['path']}",
                f"  Region    : {public['region']}",
            ]
            if entry.insecure:
                lines.append("  Insecure  : true")
            if entry.ca:
                lines.append(f"  CA        : {entry.ca}")
            app.emit({"status": "success", **public}, lines)

    run(app, body)


@alias.command("rm", context_settings=_CONTEXT)
@click.argument("name")
@config_options
def alias_rm(name: str, json_output: bool, config_dir: Path | None) -> None:
    """Remove alias NAME."""
    app = _app(json_output, config_dir, False)

    def body() -> None:
        app.store.remove(name)
        app.emit({"status": "success", "alias": name}, f"Removed `{name}` successfully.")

    run(app, body)


# mc's long names
alias.add_command(alias_ls, "list")
alias.add_command(alias_rm, "remove")


# -- buckets -------------------------------------------------------------------------------------


@click.command(context_settings=_CONTEXT)
@click.argument("targets", nargs=-1, required=True, metavar="ALIAS/BUCKET...")
@click.option("-p", "--ignore-existing", is_flag=True, help="No error if the bucket exists.")
@click.option("--region", help="Region of the new bucket [default: the alias's region].")
@common
def mb(
    targets: tuple[str, ...],
    ignore_existing: bool,
    region: str | None,
    json_output: bool,
    config_dir: Path | None,
    insecure: bool,
) -> None:
    """Make buckets."""
    app = _app(json_output, config_dir, insecure)

    def body() -> None:
        for text in targets:
            path = app.remote(text)
            created = buckets.make_bucket(
                app.conns, path, ignore_existing=ignore_existing, region=region
            )
            message = "Bucket created successfully" if created else "Bucket already exists"
            app.emit({"status": "success", "bucket": str(path)}, f"{message} `{path}`.")

    run(app, body)


@click.command(context_settings=_CONTEXT)
@click.argument("targets", nargs=-1, required=True, metavar="ALIAS/BUCKET...")
@click.option("--force", is_flag=True, help="Remove the bucket's objects first.")
@common
def rb(
    targets: tuple[str, ...],
    force: bool,
    json_output: bool,
    config_dir: Path | None,
    insecure: bool,
) -> None:
    """Remove buckets (non-empty ones only with --force)."""
    app = _app(json_output, config_dir, insecure)

    def body() -> None:
        for text in targets:
            path = app.remote(text)
            for url in buckets.remove_bucket(app.conns, path, force=force):
                app.emit({"status": "success", "key": url}, f"Removed `{url}`.")
            app.emit({"status": "success", "bucket": str(path)}, f"Removed `{path}` successfully.")

    run(app, body)


# -- listing and objects -------------------------------------------------------------------------


@click.command(context_settings=_CONTEXT)
@click.argument("targets", nargs=-1, required=True, metavar="ALIAS[/BUCKET[/PREFIX]]...")
@click.option("-r", "--recursive", is_flag=True, help="List everything under the prefix.")
@common
def ls(
    targets: tuple[str, ...],
    recursive: bool,
    json_output: bool,
    config_dir: Path | None,
    insecure: bool,
) -> None:
    """List buckets, or objects and prefixes."""
    app = _app(json_output, config_dir, insecure)

    def body() -> None:
        for text in targets:
            for entry in listing.list_path(app.conns, app.remote(text), recursive=recursive):
                app.emit(entry.to_json(), entry.to_text())

    run(app, body)


@click.command(context_settings=_CONTEXT)
@click.argument("targets", nargs=-1, required=True, metavar="ALIAS/BUCKET[/KEY]...")
@encryption_options
@common
def stat(
    targets: tuple[str, ...],
    enc_c: tuple[str, ...],
    json_output: bool,
    config_dir: Path | None,
    insecure: bool,
) -> None:
    """Show an object's (or bucket's) size, date, ETag, type, metadata and encryption."""
    app = _app(json_output, config_dir, insecure)

    def body() -> None:
        enc = _encryption(app, sse_c=enc_c)
        for index, text in enumerate(targets):
            info = objects.stat_path(app.conns, app.remote(text), enc)
            lines = info.to_text()
            app.emit(info.to_json(), lines if index == 0 else ["", *lines])

    run(app, body)


@click.command(context_settings=_CONTEXT)
@click.argument("targets", nargs=-1, required=True, metavar="ALIAS/BUCKET/KEY...")
@encryption_options
@common
def cat(
    targets: tuple[str, ...],
    enc_c: tuple[str, ...],
    json_output: bool,
    config_dir: Path | None,
    insecure: bool,
) -> None:
    """Write objects' contents to standard output."""
    app = _app(json_output, config_dir, insecure)

    def body() -> None:
        enc = _encryption(app, sse_c=enc_c)
        out = click.get_binary_stream("stdout")
        for text in targets:
            objects.cat_object(app.conns, app.remote(text), enc, out)

    run(app, body)


@click.command(context_settings=_CONTEXT)
@click.argument("targets", nargs=-1, required=True, metavar="ALIAS/BUCKET/KEY...")
@click.option("-r", "--recursive", is_flag=True, help="Remove everything under the prefix.")
@click.option("--force", is_flag=True, help="Required with --recursive.")
@common
def rm(
    targets: tuple[str, ...],
    recursive: bool,
    force: bool,
    json_output: bool,
    config_dir: Path | None,
    insecure: bool,
) -> None:
    """Remove objects; -r --force removes a whole prefix."""
    app = _app(json_output, config_dir, insecure)

    def body() -> None:
        objects.check_recursive_remove(recursive, force)
        for text in targets:
            path = app.remote(text)
            path.require_bucket("rm")
            removed = (
                objects.remove_tree(app.conns, path)
                if recursive
                else iter([objects.remove_object(app.conns, path)])
            )
            for url in removed:
                app.emit({"status": "success", "key": url}, f"Removed `{url}`.")

    run(app, body)


@click.command(context_settings=_CONTEXT)
@click.argument("paths", nargs=-1, required=True, metavar="SOURCE... TARGET")
@click.option("-r", "--recursive", is_flag=True, help="Copy directories and prefixes.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--enc-s3", "enc_s3", is_flag=True, help="Encrypt uploads with SSE-S3.")
@click.option(
    "--enc-kms",
    "enc_kms",
    multiple=True,
    metavar="[ALIAS/BUCKET/PREFIX=]KEY-ID",
    help="Encrypt uploads with SSE-KMS under this key.",
)
@encryption_options
@common
def cp(
    paths: tuple[str, ...],
    recursive: bool,
    quiet: bool,
    enc_s3: bool,
    enc_kms: tuple[str, ...],
    enc_c: tuple[str, ...],
    json_output: bool,
    config_dir: Path | None,
    insecure: bool,
) -> None:
    """Copy files and objects: local to remote, remote to local, remote to remote."""
    app = _app(json_output, config_dir, insecure)

    def body() -> None:
        if len(paths) < 2:
            raise UsageError("cp: give at least one SOURCE and a TARGET")
        enc = _encryption(app, s3=enc_s3, kms=enc_kms, sse_c=enc_c)
        sources = [app.target(p) for p in paths[:-1]]
        target = app.target(paths[-1])
        progress = make_progress(not (quiet or json_output))
        show_lines = not json_output and isinstance(progress, NullProgress)
        copier = Copier(app.conns, enc, progress)
        items = copier.plan(sources, target, recursive=recursive)
        for result in copier.run(items):
            app.emit(result.to_json(), result.to_text() if show_lines else None)

    run(app, body)
