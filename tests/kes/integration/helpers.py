"""Shared helpers for the key server's integration tests: certificates and servers on loopback."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from strongroom.crypto.identity import (
    api_key_certificate,
    identity_of_certificate,
    new_identity_certificate,
)


@dataclass
class ClientCert:
    key: Path
    cert: Path
    identity: str


@dataclass
class PKI:
    """A CA, a server certificate for 127.0.0.1/localhost and helpers for client certs."""

    dir: Path
    ca: trustme.CA
    ca_file: Path
    server_key: Path
    server_cert: Path

    def self_signed(self, name: str) -> ClientCert:
        """A self-signed Ed25519 client certificate (what `identity new` writes)."""
        key_pem, cert_pem = new_identity_certificate(name)
        return self._write(name, key_pem, cert_pem)

    def api_key(self, name: str, api_key: str) -> ClientCert:
        key_pem, cert_pem = api_key_certificate(api_key)
        return self._write(name, key_pem, cert_pem)

    def ca_signed(self, name: str) -> ClientCert:
        leaf = self.ca.issue_cert(f"{name}@example.org")
        return self._write(name, leaf.private_key_pem.bytes(), leaf.cert_chain_pems[0].bytes())

    def _write(self, name: str, key_pem: bytes, cert_pem: bytes) -> ClientCert:
        key, cert = self.dir / f"{name}.key", self.dir / f"{name}.cert"
        key.write_bytes(key_pem)
        key.chmod(0o600)
        cert.write_bytes(cert_pem)
        return ClientCert(key, cert, identity_of_certificate(cert_pem))

    def client_context(self, client: ClientCert | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if client is not None:
            ctx.load_cert_chain(str(client.cert), str(client.key))
        return ctx


def make_pki(directory: Path) -> PKI:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = directory / "ca.cert"
    ca.cert_pem.write_to_path(str(ca_file))
    server_key, server_cert = directory / "server.key", directory / "server.cert"
    leaf.private_key_pem.write_to_path(str(server_key))
    leaf.cert_chain_pems[0].write_to_path(str(server_cert))
    return PKI(directory, ca, ca_file, server_key, server_cert)


class LoopThread:
    """An event loop running in a daemon thread; ``call`` runs a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coro: Awaitable[Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(_wrap(coro), self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


async def _wrap(coro: Awaitable[Any]) -> Any:
    return await coro


@contextmanager
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    try:
        yield lt
    finally:
        lt.stop()


__all__ = ["PKI", "Callable", "ClientCert", "LoopThread", "loop_thread", "make_pki"]


# -- an in-process key server ------------------------------------------------------------------

from strongroom.kes.api import Access  # noqa: E402
from strongroom.kes.policy import Policy  # noqa: E402
from strongroom.kes.server import KeyServer, Settings  # noqa: E402
from strongroom.net.mtls import TLSSettings  # noqa: E402


class RunningServer:
    """A KeyServer on 127.0.0.1 in a loop thread; ``url`` is its endpoint."""

    def __init__(self, lt: LoopThread, settings: Settings) -> None:
        self.lt = lt
        self.server = KeyServer(settings)
        lt.call(self.server.start())
        self.url = f"https://127.0.0.1:{self.server.port}"

    def stop(self) -> None:
        self.lt.call(self.server.stop(1))


def settings_for(
    pki: PKI,
    store: Any,
    *,
    admin: str | None = None,
    policies: dict[str, tuple[Policy, list[str]]] | None = None,
    verify_client: bool = False,
    **kw: Any,
) -> Settings:
    policies = policies or {}
    access = Access(
        admin=admin,
        policies={n: p for n, (p, _) in policies.items()},
        identities={i: n for n, (_, ids) in policies.items() for i in ids},
    )
    tls = TLSSettings(
        str(pki.server_cert),
        str(pki.server_key),
        verify_client=verify_client,
        ca=str(pki.ca_file) if verify_client else None,
    )
    kw.setdefault("error_stderr", False)
    return Settings(address="127.0.0.1:0", tls=tls, access=access, store=store, **kw)
