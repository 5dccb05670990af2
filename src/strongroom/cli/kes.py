"""``strongroom kes``: run the key server and talk to it (KES-compatible command line).

Thin: parse, call the library, print. Client commands read the server and credentials from the
environment like KES: ``KES_SERVER`` (default https://127.0.0.1:7373; comma list allowed),
``KES_CLIENT_KEY`` + ``KES_CLIENT_CERT`` or ``KES_API_KEY`` (the ``MINIO_KES_*`` spellings too).
``-k/--insecure`` skips verifying the server certificate, ``--ca`` trusts a CA file or directory.
Errors print ``Error: <server message>`` on stderr and exit 1.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import re
import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

T = TypeVar("T")

_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _is_tty() -> bool:
    return sys.stdout.isatty()


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")
_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}


def parse_duration(text: str) -> timedelta:
    """A Go-style duration (``8760h``, ``1h30m``, ``720h0m0s``)."""
    text = text.strip()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise click.BadParameter(f"invalid duration '{text}'")
    return timedelta(seconds=total)


# -- client plumbing -------------------------------------------------------------------------


def _client_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "-k", "--insecure", is_flag=True, help="Skip verifying the server certificate."
    )(func)
    func = click.option(
        "--ca", "ca", metavar="PATH", help="Trust this CA file or directory for the server."
    )(func)
    func = click.option(
        "--server",
        "server",
        metavar="URL",
        help="Server endpoint(s), comma separated [env: KES_SERVER].",
    )(func)
    return func


def _client(server: str | None, ca: str | None, insecure: bool) -> Any:
    from strongroom.kes.client import DEFAULT_SERVER, KESClient

    endpoints = (
        server or _env("MINIO_KES_SERVER", "KES_SERVER", "MINIO_KMS_KES_ENDPOINT") or DEFAULT_SERVER
    )
    api_key = _env("MINIO_KES_API_KEY", "KES_API_KEY", "MINIO_KMS_KES_API_KEY")
    key_file = _env("MINIO_KES_KEY_FILE", "KES_CLIENT_KEY", "MINIO_KES_CLIENT_KEY")
    cert_file = _env("MINIO_KES_CERT_FILE", "KES_CLIENT_CERT", "MINIO_KES_CLIENT_CERT")
    ca = ca or _env("KES_CAPATH", "MINIO_KMS_KES_CAPATH")
    if api_key and (key_file or cert_file):
        _fail("API key and private key file cannot be used at the same time")
    if not api_key and not (key_file and cert_file):
        if not key_file and not cert_file:
            _fail(
                "no API key or client certificate specified. "
                "Consider setting KES_API_KEY or KES_CLIENT_KEY and KES_CLIENT_CERT"
            )
        _fail("no certificate file specified" if key_file else "no private key file specified")
    try:
        return KESClient(
            endpoints,
            api_key=api_key,
            key_file=key_file,
            cert_file=cert_file,
            ca=ca,
            insecure=insecure,
            password=_env("KES_CLIENT_KEY_PASSWORD"),
        )
    except (OSError, ValueError) as exc:
        _fail(str(exc))


def _run(coro_fn: Callable[[Any], Coroutine[Any, Any, T]], client: Any) -> T:
    """Run ``coro_fn(client)``; print server errors as ``Error: …`` and exit 1."""
    from strongroom.kes.client import KESError

    async def main() -> T:
        async with client:
            return await coro_fn(client)

    try:
        return asyncio.run(main())
    except KESError as exc:
        _fail(exc.message)
    except OSError as exc:
        _fail(str(exc))
    raise AssertionError("unreachable")  # pragma: no cover


def _decode_b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise click.BadParameter(f"{what} is not valid base64") from None


def _echo_json(doc: Any, newline: bool = True) -> None:
    click.echo(json.dumps(doc, separators=(",", ":")), nl=newline)


# -- groups ----------------------------------------------------------------------------------


@click.group(context_settings=_SETTINGS)
def cli() -> None:
    """Run or talk to the KES-compatible key server."""


@cli.command("server")
@click.option("--config", "config", metavar="FILE", required=True, help="Server config file.")
@click.option("--addr", metavar="HOST:PORT", help="Listen address [default: 0.0.0.0:7373].")
@click.option("--key", "key_file", metavar="FILE", help="TLS private key (overrides tls.key).")
@click.option("--cert", "cert_file", metavar="FILE", help="TLS certificate (overrides tls.cert).")
@click.option(
    "--auth",
    type=click.Choice(["on", "off"]),
    help="on: verify client certificates against the CA; off: accept any (identity pin).",
)
@click.option("--root", metavar="IDENTITY", help="Admin identity, or 'disabled'.")
@click.option("--mlock", is_flag=True, help="Lock all memory (needs CAP_IPC_LOCK).")
@click.option("-q", "--quiet", is_flag=True, help="Do not print the startup banner.")
def server_cmd(
    config: str,
    addr: str | None,
    key_file: str | None,
    cert_file: str | None,
    auth: str | None,
    root: str | None,
    mlock: bool,
    quiet: bool,
) -> None:
    """Start the key server."""
    from strongroom.kes.server import Overrides, ServerError, run

    overrides = Overrides(
        address=addr,
        key_file=key_file,
        cert_file=cert_file,
        auth=auth,
        root=root,
        mlock=mlock,
        quiet=quiet,
    )
    try:
        run(config, overrides)
    except ServerError as exc:
        _fail(str(exc))


# -- keys ------------------------------------------------------------------------------------


@cli.group(context_settings=_SETTINGS)
def key() -> None:
    """Manage master keys and use them."""


@key.command("create")
@click.argument("names", nargs=-1, required=True)
@_client_options
def key_create(names: tuple[str, ...], server: str | None, ca: str | None, insecure: bool) -> None:
    """Create new master keys."""

    async def go(c: Any) -> None:
        for name in names:
            await c.create_key(name)

    _run(go, _client(server, ca, insecure))


@key.command("import")
@click.argument("name")
@click.argument("material")
@click.option("--cipher", default="AES256", show_default=True, help="AES256 or ChaCha20.")
@_client_options
def key_import(
    name: str, material: str, cipher: str, server: str | None, ca: str | None, insecure: bool
) -> None:
    """Import a master key given as base64 (32 bytes)."""
    raw = _decode_b64(material, "key")

    async def go(c: Any) -> None:
        await c.import_key(name, raw, cipher)

    _run(go, _client(server, ca, insecure))


@key.command("describe")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_client_options
def key_describe(
    name: str, as_json: bool, server: str | None, ca: str | None, insecure: bool
) -> None:
    """Show a key's metadata."""

    async def go(c: Any) -> dict[str, Any]:
        result: dict[str, Any] = await c.describe_key(name)
        return result

    doc = _run(go, _client(server, ca, insecure))
    if as_json:
        _echo_json(doc)
        return
    click.echo(f"Name      {doc.get('name', name)}")
    click.echo(f"ID        {doc.get('id', '')}")
    click.echo(f"Algorithm {doc.get('algorithm', '')}")
    click.echo(f"Date      {doc.get('created_at', '')}")
    click.echo(f"Owner     {doc.get('created_by', '')}")


key.add_command(key_describe, "info")


@key.command("ls")
@click.argument("pattern", default="*")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@_client_options
def key_ls(pattern: str, as_json: bool, server: str | None, ca: str | None, insecure: bool) -> None:
    """List keys (by prefix; a trailing * is allowed)."""

    async def go(c: Any) -> list[str]:
        result: list[str] = await c.list_keys(pattern)
        return result

    names = _run(go, _client(server, ca, insecure))
    if as_json:
        _echo_json(names)
        return
    for name in names:
        click.echo(name)


key.add_command(key_ls, "list")


@key.command("rm")
@click.argument("names", nargs=-1, required=True)
@_client_options
def key_rm(names: tuple[str, ...], server: str | None, ca: str | None, insecure: bool) -> None:
    """Delete keys. Ciphertexts made with them can never be decrypted again."""

    async def go(c: Any) -> None:
        for name in names:
            await c.delete_key(name)

    _run(go, _client(server, ca, insecure))


key.add_command(key_rm, "delete")


@key.command("encrypt")
@click.argument("name")
@click.argument("message")
@click.argument("context", required=False, default="")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_client_options
def key_encrypt(
    name: str,
    message: str,
    context: str,
    as_json: bool,
    server: str | None,
    ca: str | None,
    insecure: bool,
) -> None:
    """Encrypt MESSAGE (text) with key NAME; CONTEXT is base64 associated data."""
    ctx = _decode_b64(context, "context") if context else b""

    async def go(c: Any) -> bytes:
        result: bytes = await c.encrypt(name, message.encode(), ctx)
        return result

    ciphertext = base64.b64encode(_run(go, _client(server, ca, insecure))).decode()
    if as_json or not _is_tty():
        _echo_json({"ciphertext": ciphertext})
    else:
        click.echo(f"\nciphertext: {ciphertext}")


@key.command("decrypt")
@click.argument("name")
@click.argument("ciphertext")
@click.argument("context", required=False, default="")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_client_options
def key_decrypt(
    name: str,
    ciphertext: str,
    context: str,
    as_json: bool,
    server: str | None,
    ca: str | None,
    insecure: bool,
) -> None:
    """Decrypt a base64 CIPHERTEXT with key NAME; CONTEXT is base64 associated data."""
    raw = _decode_b64(ciphertext, "ciphertext")
    ctx = _decode_b64(context, "context") if context else b""

    async def go(c: Any) -> bytes:
        result: bytes = await c.decrypt(name, raw, ctx)
        return result

    plaintext = base64.b64encode(_run(go, _client(server, ca, insecure))).decode()
    if as_json or not _is_tty():
        _echo_json({"plaintext": plaintext})
    else:
        click.echo(f"\nplaintext: {plaintext}")


@key.command("dek")
@click.argument("name")
@click.argument("context", required=False, default="")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_client_options
def key_dek(
    name: str, context: str, as_json: bool, server: str | None, ca: str | None, insecure: bool
) -> None:
    """Generate a data encryption key under key NAME (CONTEXT: base64 associated data)."""
    ctx = _decode_b64(context, "context") if context else b""

    async def go(c: Any) -> tuple[bytes, bytes]:
        result: tuple[bytes, bytes] = await c.generate_key(name, ctx)
        return result

    plaintext, ciphertext = _run(go, _client(server, ca, insecure))
    p, c = base64.b64encode(plaintext).decode(), base64.b64encode(ciphertext).decode()
    if as_json or not _is_tty():
        _echo_json({"plaintext": p, "ciphertext": c}, newline=False)
    else:
        click.echo(f"\nplaintext:  {p}\nciphertext: {c}")


# -- identities ------------------------------------------------------------------------------


def _identity_new(
    subject: str | None,
    key_file: str | None,
    cert_file: str | None,
    validity: str,
    force: bool,
    dns: tuple[str, ...],
    ips: tuple[str, ...],
    as_json: bool,
) -> None:
    from strongroom.crypto import identity as ident

    if bool(key_file) != bool(cert_file):
        raise click.UsageError("--key and --cert must be given together")
    if not key_file or not cert_file:
        api_key = ident.new_api_key()
        identity = ident.api_key_identity(api_key)
        if as_json:
            _echo_json({"api_key": api_key, "identity": identity})
        elif _is_tty():
            click.echo(f"\n  API key:   {api_key}\n  Identity:  {identity}\n")
        else:
            click.echo(api_key)
        return
    for path in (key_file, cert_file):
        if Path(path).exists() and not force:
            _fail(f"'{path}' already exists. Use --force to overwrite it")
    key_pem, cert_pem = ident.new_identity_certificate(
        subject or "localhost",
        validity=parse_duration(validity),
        dns_names=dns,
        ip_addresses=ips,
    )
    if force:
        Path(key_file).unlink(missing_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    Path(cert_file).write_bytes(cert_pem)
    identity = ident.identity_of_certificate(cert_pem)
    if as_json:
        _echo_json({"identity": identity, "key": key_file, "cert": cert_file})
    else:
        click.echo(f"Identity: {identity}")


def _identity_of(value: str, as_json: bool) -> None:
    from strongroom.crypto import identity as ident

    try:
        if value.startswith(ident.API_KEY_PREFIX):
            identity = ident.api_key_identity(value)
        else:
            data = sys.stdin.buffer.read() if value == "-" else Path(value).read_bytes()
            identity = ident.identity_of_certificate(data)
    except (OSError, ValueError) as exc:
        _fail(f"cannot compute the identity of '{value}': {exc}")
    if as_json:
        _echo_json({"identity": identity})
    elif _is_tty():
        click.echo(f"\n  Identity:  {identity}\n")
    else:
        click.echo(identity)


def _new_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.argument("subject", required=False)(func)
    func = click.option("--key", "key_file", metavar="FILE", help="Write the private key here.")(
        func
    )
    func = click.option("--cert", "cert_file", metavar="FILE", help="Write the certificate here.")(
        func
    )
    func = click.option(
        "-t",
        "--time",
        "--expiry",
        "validity",
        default="720h",
        show_default=True,
        help="Certificate validity (Go duration, e.g. 8760h).",
    )(func)
    func = click.option("-f", "--force", is_flag=True, help="Overwrite existing files.")(func)
    func = click.option("--dns", multiple=True, help="DNS SAN (repeatable).")(func)
    func = click.option("--ip", "ips", multiple=True, help="IP SAN (repeatable).")(func)
    func = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)
    return func


@cli.group(context_settings=_SETTINGS)
def identity() -> None:
    """Create identities and inspect them."""


@identity.command("new")
@_new_options
def identity_new(
    subject: str | None,
    key_file: str | None,
    cert_file: str | None,
    validity: str,
    force: bool,
    dns: tuple[str, ...],
    ips: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create an identity: a key and self-signed certificate (--key/--cert), else an API key."""
    _identity_new(subject, key_file, cert_file, validity, force, dns, ips, as_json)


@identity.command("of")
@click.argument("value", default="-")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def identity_of(value: str, as_json: bool) -> None:
    """Print the identity of a certificate file (or - for stdin) or of a kes:v1: API key."""
    _identity_of(value, as_json)


@identity.command("info")
@click.argument("ident", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_client_options
def identity_info(
    ident: str | None, as_json: bool, server: str | None, ca: str | None, insecure: bool
) -> None:
    """Describe an identity (default: the one you are)."""

    async def go(c: Any) -> dict[str, Any]:
        doc: dict[str, Any] = await c.describe_identity(ident) if ident else await c.describe_self()
        return doc

    doc = _run(go, _client(server, ca, insecure))
    if as_json:
        _echo_json(doc)
        return
    if ident:
        doc.setdefault("identity", ident)
    click.echo(f"Identity  {doc.get('identity', '')}")
    if doc.get("admin"):
        click.echo("Role      Admin")
    else:
        click.echo(f"Policy    {doc.get('policy', '')}")
        for pattern in doc.get("allow") or {}:
            click.echo(f"Allow     {pattern}")
        for pattern in doc.get("deny") or {}:
            click.echo(f"Deny      {pattern}")
    click.echo(f"Date      {doc.get('created_at', '')}")


@identity.command("ls")
@click.argument("pattern", default="*")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@_client_options
def identity_ls(
    pattern: str, as_json: bool, server: str | None, ca: str | None, insecure: bool
) -> None:
    """List identities the server knows."""

    async def go(c: Any) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await c.list_identities(pattern)
        return rows

    for row in _run(go, _client(server, ca, insecure)):
        if as_json:
            _echo_json(row)
        else:
            role = "admin" if row.get("admin") else row.get("policy", "")
            click.echo(f"{row.get('identity', '')}  {role}")


@identity.command("rm")
@click.argument("ident")
@_client_options
def identity_rm(ident: str, server: str | None, ca: str | None, insecure: bool) -> None:
    """Remove an identity's policy assignment on this server (until restart)."""

    async def go(c: Any) -> None:
        await c.delete_identity(ident)

    _run(go, _client(server, ca, insecure))


# -- the guide's `kes tool identity new|of` spellings ------------------------------------------


@cli.group(context_settings=_SETTINGS)
def tool() -> None:
    """Tools (the guide's `kes tool identity ...` spellings)."""


@tool.group("identity", context_settings=_SETTINGS)
def tool_identity() -> None:
    """Create identities and inspect them."""


tool_identity.add_command(identity_new, "new")
tool_identity.add_command(identity_of, "of")


# -- policies --------------------------------------------------------------------------------


@cli.group(context_settings=_SETTINGS)
def policy() -> None:
    """Inspect the server's policies."""


@policy.command("ls")
@click.argument("pattern", default="*")
@_client_options
def policy_ls(pattern: str, server: str | None, ca: str | None, insecure: bool) -> None:
    """List policies."""

    async def go(c: Any) -> list[str]:
        names: list[str] = await c.list_policies(pattern)
        return names

    for name in _run(go, _client(server, ca, insecure)):
        click.echo(name)


@policy.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_client_options
def policy_show(
    name: str, as_json: bool, server: str | None, ca: str | None, insecure: bool
) -> None:
    """Show a policy's allow and deny rules."""

    async def go(c: Any) -> dict[str, Any]:
        doc: dict[str, Any] = await c.read_policy(name)
        return doc

    doc = _run(go, _client(server, ca, insecure))
    if as_json:
        _echo_json(doc)
        return
    for pattern in doc.get("allow") or {}:
        click.echo(f"allow  {pattern}")
    for pattern in doc.get("deny") or {}:
        click.echo(f"deny   {pattern}")


# -- logs ------------------------------------------------------------------------------------


@cli.command("log")
@click.option("--audit", "kind", flag_value="audit", default=True, help="Audit events (default).")
@click.option("--error", "kind", flag_value="error", help="Error log lines.")
@click.option("--json", "as_json", is_flag=True, help="Print the events as JSON lines.")
@_client_options
def log_cmd(kind: str, as_json: bool, server: str | None, ca: str | None, insecure: bool) -> None:
    """Follow the server's audit or error log until interrupted."""

    async def go(c: Any) -> None:
        async for event in c.log_stream(kind):
            if as_json:
                _echo_json(event)
            elif kind == "error":
                click.echo(event.get("message", ""))
            else:
                req, res = event.get("request", {}), event.get("response", {})
                ms = res.get("time", 0) / 1e6
                click.echo(
                    f"{event.get('time', '')}  {res.get('code', '')}  {ms:8.2f}ms  "
                    f"{req.get('identity', '')[:16]}  {req.get('path', '')}"
                )

    with contextlib.suppress(KeyboardInterrupt):
        _run(go, _client(server, ca, insecure))


# -- status ----------------------------------------------------------------------------------


@cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_client_options
def status_cmd(as_json: bool, server: str | None, ca: str | None, insecure: bool) -> None:
    """Show the server's status (version, uptime, keystore)."""

    async def go(c: Any) -> dict[str, Any]:
        doc: dict[str, Any] = await c.status()
        return doc

    doc = _run(go, _client(server, ca, insecure))
    if as_json:
        _echo_json(doc)
        return
    store = (
        "unreachable"
        if doc.get("keystore_unreachable")
        else f"reachable ({doc.get('keystore_latency', 0)} ms)"
    )
    click.echo(f"Version   {doc.get('version', '')}")
    click.echo(f"Uptime    {doc.get('uptime', 0)}s")
    click.echo(f"CPUs      {doc.get('num_cpu_used', '')}/{doc.get('num_cpu', '')}")
    click.echo(f"Memory    {doc.get('mem_heap_used', 0)} bytes")
    click.echo(f"Keystore  {store}")
    if doc.get("keystore_unreachable"):
        sys.exit(1)


__all__ = ["cli", "parse_duration"]
