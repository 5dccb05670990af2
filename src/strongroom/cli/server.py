"""`strongroom server DIR`: run the S3 object server."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from strongroom.s3.context import ServerConfig
from strongroom.s3.server import (
    ConfigError,
    ServerOptions,
    credentials_from_env,
    parse_address,
    run,
)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("on", "true", "1", "yes", "enable")


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
    config = ServerConfig(
        credentials=credentials,
        region=env.get("MINIO_REGION") or env.get("MINIO_SITE_REGION") or "us-east-1",
        domains=domains,
        auto_encryption=_env_flag("MINIO_KMS_AUTO_ENCRYPTION"),
    )
    directory.mkdir(parents=True, exist_ok=True)
    options = ServerOptions(directory.resolve(), host, port, certs_dir, workers, config)
    try:
        run(options)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        click.echo(f"error: cannot start the server: {exc}", err=True)
        sys.exit(1)
