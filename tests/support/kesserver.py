"""Start a real `strongroom kes server` process on 127.0.0.1 with a filesystem keystore.

The server certificate comes from a trustme CA; the object server's identity is a self-signed
Ed25519 client certificate made by our identity helpers (as `kes identity new` does).
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import trustme

from strongroom.crypto.identity import identity_of_certificate, new_identity_certificate
from tests.support.s3server import free_port

POLICY_PATHS = (
    "/v1/key/create/minio-*",
    "/v1/key/generate/minio-*",
    "/v1/key/decrypt/minio-*",
    "/v1/key/describe/minio-*",
)


class KESServer:
    def __init__(
        self, root: Path, *, port: int | None = None, keystore: Path | None = None
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.keystore = keystore or root / "keys"
        self.ca = trustme.CA()
        server_cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.server_key = root / "kes-tls.key"
        self.server_cert = root / "kes-tls.crt"
        self.ca_path = root / "kes-ca.crt"
        server_cert.private_key_pem.write_to_path(str(self.server_key))
        server_cert.cert_chain_pems[0].write_to_path(str(self.server_cert))
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        key_pem, cert_pem = new_identity_certificate(
            "MinIO", validity=__import__("datetime").timedelta(days=365)
        )
        self.client_key = root / "minio.key"
        self.client_cert = root / "minio.cert"
        self.client_key.write_bytes(key_pem)
        os.chmod(self.client_key, 0o600)
        self.client_cert.write_bytes(cert_pem)
        self.identity = identity_of_certificate(cert_pem)
        self.config = root / "kes-config.yaml"
        self._write_config()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = root / f"kes-{self.port}.log"

    def _write_config(self) -> None:
        paths = "\n".join(f"      - {p}" for p in POLICY_PATHS)
        self.config.write_text(
            f"""address: 127.0.0.1:{self.port}
root: disabled
tls:
  key: {self.server_key}
  cert: {self.server_cert}
policy:
  minio:
    paths:
{paths}
    identities:
      - {self.identity}
cache:
  expiry:
    any: 5m0s
    unused: 20s
keys:
  fs:
    path: {self.keystore}
"""
        )

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def object_server_env(self, key_name: str = "minio-key-1") -> dict[str, str]:
        """The guide's MINIO_KMS_KES_* environment for an object server using this key server."""
        return {
            "MINIO_KMS_KES_ENDPOINT": self.endpoint,
            "MINIO_KMS_KES_KEY_FILE": str(self.client_key),
            "MINIO_KMS_KES_CERT_FILE": str(self.client_cert),
            "MINIO_KMS_KES_KEY_NAME": key_name,
            "MINIO_KMS_KES_CA_PATH": str(self.ca_path),
        }

    def start(self) -> KESServer:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "strongroom",
                "kes",
                "server",
                "--config",
                str(self.config),
                "--auth",
                "off",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 20.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        context = ssl.create_default_context(cafile=str(self.ca_path))
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"key server exited early:\n{self.log()}")
            try:
                with (
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw,
                    context.wrap_socket(raw, server_hostname="127.0.0.1"),
                ):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"key server did not start in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None

    def __enter__(self) -> KESServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
