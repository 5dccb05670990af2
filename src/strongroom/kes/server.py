"""Start and stop the key server: config + CLI overrides -> keystore, cache, API, mTLS listener.

``run(config_path, overrides)`` is what ``strongroom kes server`` calls: it loads and validates
the config (a bad file stops here, naming file, line and key), locks memory if asked, builds the
server, creates the declared keys, serves until SIGTERM/SIGINT and shuts down gracefully
(idle connections close at once, in-flight requests get a few seconds, log streams end).
SIGHUP re-reads the TLS key and certificate for new connections (certificate rotation).

:class:`KeyServer` is the same server as an object, for tests and benchmarks: ``await
start()``, ``port``, ``await stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import gc
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from OpenSSL import SSL

from strongroom.kes.api import Access, KeyServerAPI
from strongroom.kes.audit import AuditLog, ErrorLog
from strongroom.kes.cache import KeyCache
from strongroom.kes.keystore.base import KeyExistsError, KeyStore, KeyStoreError
from strongroom.kes.metrics import Metrics
from strongroom.net.http import HTTPServerState
from strongroom.net.mtls import TLSSettings, create_tls_server, server_context
from strongroom.scheduling import AdaptivePolicy

if TYPE_CHECKING:
    from strongroom.kes.config import ServerConfig

__all__ = ["KeyServer", "Overrides", "ServerError", "lock_memory", "run"]

log = logging.getLogger("strongroom.kes")

DEFAULT_ADDRESS = "0.0.0.0:7373"
SHUTDOWN_GRACE = 5.0


class ServerError(Exception):
    """The server cannot start; the message says why (shown as ``Error: …``)."""


@dataclass(frozen=True, slots=True)
class Overrides:
    """Command-line flags that win over the config file (SEED semantics)."""

    address: str | None = None
    key_file: str | None = None
    cert_file: str | None = None
    auth: str | None = None  # "on" | "off"
    root: str | None = None  # identity or "disabled"
    mlock: bool = False
    quiet: bool = False


# -- memory locking ----------------------------------------------------------------------------

MCL_CURRENT, MCL_FUTURE = 1, 2


def _libc_mlockall(flags: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mlockall(flags) != 0:
        return ctypes.get_errno()
    return 0


def lock_memory(mlockall: Callable[[int], int] = _libc_mlockall) -> None:
    """Lock all current and future memory (no key material in swap) or raise ServerError."""
    if not sys.platform.startswith("linux"):
        raise ServerError("--mlock is only supported on Linux")
    err = mlockall(MCL_CURRENT | MCL_FUTURE)
    if err == 0:
        return
    if err in (errno.EPERM, errno.ENOMEM, errno.EAGAIN):
        raise ServerError(
            "failed to lock memory (--mlock): "
            + ("operation not permitted" if err == errno.EPERM else "locked-memory limit too low")
            + ". The process needs the CAP_IPC_LOCK capability (for example: sudo setcap "
            "cap_ipc_lock=+ep $(readlink -f $(which python3))) or a locked-memory limit "
            "(ulimit -l, RLIMIT_MEMLOCK) large enough for the whole process; or start without "
            "--mlock"
        )
    raise ServerError(f"failed to lock memory (--mlock): errno {err}")


# -- address -----------------------------------------------------------------------------------


def split_address(address: str) -> tuple[str, int]:
    """``host:port``, ``:port`` or ``[v6]:port`` -> (host, port); empty host = all interfaces."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ServerError(f"invalid address '{address}': expected HOST:PORT")
    host = host.strip("[]")
    return (host or "0.0.0.0"), int(port)


# -- the server --------------------------------------------------------------------------------


@dataclass
class Settings:
    """Everything the server needs, independent of the config file format."""

    address: str
    tls: TLSSettings
    access: Access
    store: KeyStore
    expiry_any: float = 300.0
    expiry_unused: float = 30.0
    expiry_offline: float = 0.0
    keys: tuple[str, ...] = ()
    audit_stdout: bool = False
    error_stderr: bool = True
    profile: str = "modern"
    timeouts: dict[str, float] | None = None
    skip_auth: frozenset[str] = frozenset()
    version: str = ""
    clock: Callable[[], float] = time.monotonic  # the cache's clock (tests make it fake)


class KeyServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.cache = KeyCache(
            settings.store,
            expiry_any=settings.expiry_any,
            expiry_unused=settings.expiry_unused,
            expiry_offline=settings.expiry_offline,
            profile="legacy" if settings.profile == "legacy" else "modern",
            clock=settings.clock,
        )
        self.audit = AuditLog(
            to_stdout=settings.audit_stdout, on_delivered=self.metrics.audit_delivered
        )
        self.error_log = ErrorLog(
            to_stderr=settings.error_stderr, on_delivered=self.metrics.error_delivered
        )
        self.api = KeyServerAPI(
            cache=self.cache,
            access=settings.access,
            audit=self.audit,
            error_log=self.error_log,
            metrics=self.metrics,
            version=settings.version or _version(),
            commit="",
            profile=settings.profile,
            timeouts=settings.timeouts,
            skip_auth=settings.skip_auth,
        )
        self.http = HTTPServerState(
            self.api.handle,
            body_limit=self.api.body_limit,
            on_error=self._on_error,
            scheduling=AdaptivePolicy(),  # object servers pipeline their data-key calls
            immediate=self.api.handle_now,
        )
        self._server: asyncio.Server | None = None
        self._context: SSL.Context | None = None
        self.port = 0
        self.host = ""

    def _on_error(self, exc: BaseException) -> None:
        log.error("request failed: %s: %s", type(exc).__name__, exc)

    async def start(self) -> None:
        """Create the declared keys, start the cache and listen. Raises ServerError."""
        log.addHandler(self.error_log)
        log.setLevel(logging.INFO)
        log.propagate = False
        host, port = split_address(self.settings.address)
        try:
            context = server_context(self.settings.tls)
        except Exception as exc:
            raise ServerError(f"failed to load the TLS key and certificate: {exc}") from None
        self._context = context
        await self._check_keystore()
        await self._create_keys()
        self.cache.start()
        try:
            self._server = await create_tls_server(
                self.http.protocol_factory,
                host,
                port,
                self.settings.tls,
                context=self._current_context,
            )
        except OSError as exc:
            await self.cache.close()
            raise ServerError(f"cannot listen on {self.settings.address}: {exc}") from None
        sockname = self._server.sockets[0].getsockname()
        self.host, self.port = sockname[0], sockname[1]

    def _current_context(self) -> SSL.Context:
        assert self._context is not None
        return self._context

    def reload_tls(self) -> bool:
        """Re-read the TLS key and certificate (SIGHUP) for new connections; on failure keep
        the current ones and log why. Returns whether the reload worked."""
        try:
            self._context = server_context(self.settings.tls)
        except Exception as exc:
            log.error("TLS reload failed, keeping the current certificate: %s", exc)
            return False
        log.info("TLS key and certificate reloaded")
        return True

    async def _check_keystore(self) -> None:
        """Keystores that can check themselves (Vault: reachable, unsealed, login, policy) do so
        now, so that a misconfigured store stops start-up with a clear message."""
        check = getattr(self.settings.store, "check", None)
        if check is None:
            return
        try:
            warnings = await check()
        except KeyStoreError as exc:
            raise ServerError(f"the keystore is not usable: {exc}") from None
        for warning in warnings or ():
            log.warning("keystore: %s", warning)

    async def _create_keys(self) -> None:
        from strongroom.crypto.kes_crypto import SecretKey

        for name in self.settings.keys:
            try:
                await self.cache.create(name, SecretKey.generate(created_by=self._creator()))
            except KeyExistsError:
                continue
            except KeyStoreError as exc:
                raise ServerError(f"failed to create key '{name}': {exc}") from None
            log.info("created key '%s'", name)

    def _creator(self) -> str:
        return self.settings.access.admin or ""

    async def stop(self, grace: float = SHUTDOWN_GRACE) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self.audit.stream.close()
        self.error_log.stream.close()
        await self.http.shutdown(grace)
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)
        await self.api.close()
        await self.cache.close()
        with contextlib.suppress(Exception):
            await self.settings.store.close()
        log.removeHandler(self.error_log)

    async def serve_until_signal(self, banner: Callable[[KeyServer], None] | None = None) -> None:
        await self.start()
        if banner is not None:
            banner(self)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_tls)
        try:
            await stop.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            log.info("shutting down")
            await self.stop()


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("strongroom")
    except Exception:  # pragma: no cover - not installed
        return "0.0.0"


# -- from the config file ------------------------------------------------------------------------


def settings_from_config(config: ServerConfig, overrides: Overrides = Overrides()) -> Settings:
    """Map a loaded :class:`ServerConfig` plus CLI flags to :class:`Settings`."""
    from strongroom.kes.keystore.factory import make_keystore
    from strongroom.kes.policy import PolicyError

    tls_cfg = config.tls
    key_file = overrides.key_file or tls_cfg.key
    cert_file = overrides.cert_file or tls_cfg.cert
    if not key_file or not cert_file:
        raise ServerError(
            f"{config.source}: no TLS private key or certificate: "
            "set tls.key and tls.cert or use --key and --cert"
        )
    if tls_cfg.proxy_identities:
        raise ServerError(
            f"{config.source}: tls.proxy is not supported: terminate client TLS at the key "
            "server (identities are public-key pins of the client certificate)"
        )
    auth = overrides.auth if overrides.auth is not None else (tls_cfg.auth or "off")
    tls = TLSSettings(
        cert_file=cert_file,
        key_file=key_file,
        password=tls_cfg.password or None,
        verify_client=auth == "on",
        ca=tls_cfg.ca or None,
    )
    admin = overrides.root if overrides.root is not None else config.admin
    if admin is None:
        raise ServerError(
            f"{config.source}: no admin identity: set admin.identity (or root) or use "
            "--root IDENTITY (--root disabled turns the admin off)"
        )
    try:
        policies = config.policy_set(admin)
    except PolicyError as exc:
        raise ServerError(f"{config.source}: policy: {exc}") from None
    for warning in config.warnings:
        log.warning("%s", warning)
    access = Access(
        admin=policies.admin, policies=policies.policies, identities=dict(policies.identities)
    )
    timeouts: dict[str, float] = {}
    skip_auth: set[str] = set()
    for path, route in config.api.items():
        key = path.rstrip("/")
        if route.timeout is not None:
            timeouts[key] = route.timeout
        if route.skip_auth:
            skip_auth.add(key)
    try:
        store = make_keystore(config.keystore)
    except KeyStoreError as exc:
        raise ServerError(f"cannot open the keystore: {exc}") from None
    return Settings(
        address=overrides.address or config.address or DEFAULT_ADDRESS,
        tls=tls,
        access=access,
        store=store,
        expiry_any=config.cache.expiry_any,
        expiry_unused=config.cache.expiry_unused,
        expiry_offline=config.cache.expiry_offline,
        keys=config.keys,
        audit_stdout=config.log.audit,
        error_stderr=config.log.error,
        timeouts=timeouts,
        skip_auth=frozenset(skip_auth),
    )


def _banner(server: KeyServer) -> None:
    s = server.settings
    admin = s.access.admin
    from strongroom.kes.policy import valid_name

    shown = admin if admin and len(admin) == 64 and valid_name(admin) else "_ [ disabled ]"
    endpoint = f"https://{server.host}:{server.port}"
    print(f"Endpoint: {endpoint}", file=sys.stderr)
    print(f"Admin:    {shown}", file=sys.stderr)
    print(
        f"Auth:     {'on (verify client certificates)' if s.tls.verify_client else 'off'}",
        file=sys.stderr,
    )
    print(f"Keystore: {s.store!r}", file=sys.stderr)
    print(f"Client:   export KES_SERVER={endpoint}", file=sys.stderr, flush=True)


def run(config_path: str, overrides: Overrides = Overrides()) -> None:
    """Load the config, start the server and serve until SIGTERM/SIGINT. Raises ServerError."""
    from strongroom.kes.config import ConfigError, load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise ServerError(str(exc)) from None
    except OSError as exc:
        raise ServerError(f"cannot read config file '{config_path}': {exc.strerror}") from None
    if overrides.mlock:
        lock_memory()
    settings = settings_from_config(config, overrides)
    server = KeyServer(settings)
    banner = None if overrides.quiet else _banner
    # A long-running server: move start-up objects out of the collector's way.
    gc.collect()
    gc.freeze()
    try:
        import uvloop

        uvloop.run(server.serve_until_signal(banner))
    except ImportError:  # pragma: no cover
        asyncio.run(server.serve_until_signal(banner))
