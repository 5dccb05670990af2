"""`strongroom server DIR`: run the S3 object server."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import click

from strongroom.kms import kes, static
from strongroom.kms.base import KMS, KMSError
from strongroom.kms.static import KMSConfigError
from strongroom.s3.context import ServerConfig
from strongroom.s3.server import (
    ConfigError,
    ServerOptions,
    credentials_from_env,
    parse_address,
    run,
)

_TRUE = ("on", "true", "1", "yes", "enable", "enabled")
_FALSE = ("off", "false", "0", "no", "disable", "disabled")


def _env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise click.ClickException(f"{name}={value!r}: expected on or off")


async def _prepare_kes(kms: kes.KESKMS) -> None:
    try:
        await kms.ensure_default_key()
    finally:
        await kms.close()


def configure_kms(env: Mapping[str, str], directory: Path) -> tuple[KMS, bool]:
    """The KMS and auto-encryption setting from the environment.

    A configured KMS (static key) leaves auto-encryption off unless MINIO_KMS_AUTO_ENCRYPTION=on,
    as MinIO does. With none configured, the embedded default generates a local master key in
    the data directory and encrypts every object (MINIO_KMS_AUTO_ENCRYPTION=off opts out).
    """
    kes_settings = kes.settings_from_env(env)
    kms = static.from_env(env)
    if kes_settings is not None and kms is not None:
        raise ConfigError(
            "both a KES endpoint (MINIO_KMS_KES_ENDPOINT) and a static key are configured: "
            "choose one"
        )
    if kes_settings is not None:
        kes_kms = kes.KESKMS(kes_settings)
        try:
            asyncio.run(_prepare_kes(kes_kms))
        except KMSError as exc:
            raise ConfigError(f"cannot use the key server: {exc}") from None
        return kes_kms, _env_flag("MINIO_KMS_AUTO_ENCRYPTION")
    if kms is not None:
        return kms, _env_flag("MINIO_KMS_AUTO_ENCRYPTION")
    local = static.load_or_create_local_kms(directory)
    click.echo(
        "WARNING: no KMS configured; using a master key generated in the data directory "
        f"({directory / static.LOCAL_KEY_PATH}). It is for local use only: anyone who can read "
        "the directory can decrypt the objects, and losing the key loses them.",
        err=True,
    )
    return local, _env_flag("MINIO_KMS_AUTO_ENCRYPTION", default=True)


@click.command("server")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--address", default=":9000", show_default=True, help="HOST:PORT to listen on.")
@click.option(
    "--certs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: str(Path.home() / ".minio" / "certs"),
    show_default="~/.minio/certs",
    help="Serve HTTPS when this directory holds public.crt and private.key.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=lambda: os.cpu_count() or 1,
    show_default="number of CPUs",
    help="Worker processes sharing the port.",
)
def cli(directory: Path, address: str, certs_dir: Path, workers: int) -> None:
    """Serve DIRECTORY over the S3 API.

    Credentials come from MINIO_ROOT_USER/MINIO_ROOT_PASSWORD (or MINIO_ACCESS_KEY/
    MINIO_SECRET_KEY); without them the local default minioadmin/minioadmin is used.
    """
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # the KES client's HTTP library would log every data-key request at INFO
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    env = os.environ
    try:
        credentials, default = credentials_from_env(env)
        host, port = parse_address(address)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if default:
        click.echo(
            "WARNING: using the default credentials minioadmin:minioadmin; set "
            "MINIO_ROOT_USER and MINIO_ROOT_PASSWORD for anything but local use.",
            err=True,
        )
    domains = tuple(d.strip().lower() for d in env.get("MINIO_DOMAIN", "").split(",") if d.strip())
    directory.mkdir(parents=True, exist_ok=True)
    try:
        kms, auto_encryption = configure_kms(env, directory)
    except (KMSConfigError, kes.KESConfigError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    config = ServerConfig(
        credentials=credentials,
        region=env.get("MINIO_REGION") or env.get("MINIO_SITE_REGION") or "us-east-1",
        enforce_region=bool(env.get("MINIO_REGION") or env.get("MINIO_SITE_REGION")),
        domains=domains,
        kms=kms,
        auto_encryption=auto_encryption,
        allow_ssec_over_http=_env_flag("STRONGROOM_SSEC_ALLOW_HTTP"),
    )
    options = ServerOptions(directory.resolve(), host, port, certs_dir, workers, config)
    try:
        run(options)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        click.echo(f"error: cannot start the server: {exc}", err=True)
        sys.exit(1)
