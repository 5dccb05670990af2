"""Running the object server: configuration from the environment, TLS, worker processes,
signals and clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from strongroom.net.streaming import HttpConnection
from strongroom.s3.app import S3App
from strongroom.s3.context import Credentials, ServerConfig, Services
from strongroom.s3.storage import LocalStorage
from strongroom.s3.storage.local import ORPHAN_GRACE_SECONDS

log = logging.getLogger("strongroom.server")

DEFAULT_USER = "minioadmin"
DEFAULT_PASSWORD = "minioadmin"  # noqa: S105 - MinIO's documented default for local use
MIN_ACCESS_KEY = 3
MIN_SECRET_KEY = 8
SHUTDOWN_GRACE = 10.0
ORPHAN_SWEEP_DELAY = 60.0  # after start, so that start-up is not slowed by a large store


class ConfigError(Exception):
    """The server cannot start; the message says why and what to set."""


def credentials_from_env(env: Mapping[str, str]) -> tuple[Credentials, bool]:
    """Root credentials; the flag is True when the documented defaults are in use."""
    user = env.get("MINIO_ROOT_USER") or env.get("MINIO_ACCESS_KEY")
    password = env.get("MINIO_ROOT_PASSWORD") or env.get("MINIO_SECRET_KEY")
    if user is None and password is None:
        return Credentials(DEFAULT_USER, DEFAULT_PASSWORD), True
    if not user:
        raise ConfigError("MINIO_ROOT_PASSWORD is set but MINIO_ROOT_USER is missing")
    if not password:
        raise ConfigError("MINIO_ROOT_USER is set but MINIO_ROOT_PASSWORD is missing")
    if len(user) < MIN_ACCESS_KEY:
        raise ConfigError(f"MINIO_ROOT_USER must be at least {MIN_ACCESS_KEY} characters long")
    if len(password) < MIN_SECRET_KEY:
        raise ConfigError(f"MINIO_ROOT_PASSWORD must be at least {MIN_SECRET_KEY} characters long")
    return Credentials(user, password), False


def parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep:
        host, port = address, "9000"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"invalid address {address!r}: expected HOST:PORT or :PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def tls_context(certs_dir: Path | None) -> ssl.SSLContext | None:
    if certs_dir is None:
        return None
    cert, key = certs_dir / "public.crt", certs_dir / "private.key"
    if not cert.is_file() or not key.is_file():
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"cannot load TLS certificate from {certs_dir}: {exc}") from None
    context.set_alpn_protocols(["http/1.1"])
    return context


@dataclass(slots=True)
class ServerOptions:
    data_dir: Path
    host: str
    port: int
    certs_dir: Path | None
    workers: int
    config: ServerConfig


def bind(host: str, port: int, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
    # IPPROTO_TCP, and Nagle would hold back every second write of a response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def serve(
    options: ServerOptions, sock: socket.socket, ready: asyncio.Event | None = None
) -> None:
    """Serve on ``sock`` until SIGTERM/SIGINT, then drain connections and return."""
    loop = asyncio.get_running_loop()
    storage = LocalStorage(options.data_dir)
    services = Services(options.config, storage)
    app = S3App(services)
    context = tls_context(options.certs_dir)
    tls = context is not None
    server = await loop.create_server(
        lambda: HttpConnection(app, tls=tls), sock=sock, ssl=context, backlog=1024
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), SHUTDOWN_GRACE)
        services.close()


def sweep_orphans_periodically(
    data_dir: Path,
    stop: threading.Event,
    *,
    delay: float = ORPHAN_SWEEP_DELAY,
    interval: float = ORPHAN_GRACE_SECONDS,
    grace: float = ORPHAN_GRACE_SECONDS,
) -> None:
    """Remove data files that crashes left unreferenced: once ``delay`` seconds after start,
    then every ``interval`` seconds, until ``stop`` is set. Runs in its own thread."""
    if stop.wait(delay):
        return
    while True:
        storage = LocalStorage(data_dir)
        try:
            removed = storage.sweep_orphans(grace)
        except Exception:
            log.exception("sweeping unreferenced data files failed")
        else:
            if removed:
                log.info("removed %d unreferenced data files", removed)
        finally:
            storage.close()
        if stop.wait(interval):
            return


def _start_sweeper(data_dir: Path) -> threading.Event:
    stop = threading.Event()
    threading.Thread(
        target=sweep_orphans_periodically, args=(data_dir, stop), name="orphans", daemon=True
    ).start()
    return stop


def _worker(options: ServerOptions, sock: socket.socket) -> None:
    asyncio.run(serve(options, sock))


def run(options: ServerOptions) -> None:
    """Start ``options.workers`` processes sharing one port (SO_REUSEPORT); block until done."""
    LocalStorage(options.data_dir).close()  # create the layout and schema once, up front
    scheme = "https" if tls_context(options.certs_dir) is not None else "http"
    shown_host = options.host if options.host != "0.0.0.0" else "127.0.0.1"
    print(f"Strongroom object server: {scheme}://{shown_host}:{options.port}", file=sys.stderr)
    print(f"Data directory: {options.data_dir}", file=sys.stderr)
    if options.workers <= 1:
        sock = bind(options.host, options.port, reuse_port=False)
        stop = _start_sweeper(options.data_dir)
        try:
            _worker(options, sock)
        finally:
            stop.set()
        return
    children: list[int] = []
    socks = [bind(options.host, options.port, reuse_port=True) for _ in range(options.workers)]
    for sock in socks:
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _worker(options, sock)
            except BaseException:
                log.exception("worker failed")
                code = 1
            finally:
                os._exit(code)
        children.append(pid)
        sock.close()
    stop = _start_sweeper(options.data_dir)  # in the parent, after every fork

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for child in children:
        while True:
            try:
                _, code = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        if os.waitstatus_to_exitcode(code) not in (0, -signal.SIGTERM, -signal.SIGINT):
            status = 1
    stop.set()
    if status:
        raise SystemExit(status)
