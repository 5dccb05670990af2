"""Start a real `strongroom server` process on 127.0.0.1 for integration tests.

Usage::

    with S3Server(tmp_path / "data") as server:          # HTTP
        boto3.client("s3", **server.boto3_kwargs())
    with S3Server(tmp_path / "data", tls=True) as server:  # HTTPS with a generated CA
        server.ca_path                                      # PEM for clients to trust
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

ACCESS_KEY = "strongroom-test"
SECRET_KEY = "strongroom-test-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class S3Server:
    def __init__(
        self,
        data_dir: Path,
        *,
        tls: bool = False,
        env: Mapping[str, str] | None = None,
        workers: int = 1,
        port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.tls = tls
        self.port = port or free_port()
        self.workers = workers
        self.extra_env = dict(env or {})
        self.certs_dir = data_dir.parent / f"certs-{self.port}"
        self.ca_path: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        if tls:
            self._make_certs()

    @property
    def endpoint(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def _make_certs(self) -> None:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.certs_dir.mkdir(parents=True, exist_ok=True)
        cert.private_key_pem.write_to_path(str(self.certs_dir / "private.key"))
        cert.cert_chain_pems[0].write_to_path(str(self.certs_dir / "public.crt"))
        self.ca_path = self.certs_dir / "ca.crt"
        ca.cert_pem.write_to_path(str(self.ca_path))

    def start(self) -> S3Server:
        env = dict(os.environ)
        for name in list(env):
            if name.startswith(("MINIO_", "AWS_")):
                del env[name]
        env.update(
            {
                "MINIO_ROOT_USER": ACCESS_KEY,
                "MINIO_ROOT_PASSWORD": SECRET_KEY,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        certs = str(self.certs_dir) if self.tls else str(self.data_dir.parent / "no-certs")
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "strongroom",
                "server",
                str(self.data_dir),
                "--address",
                f"127.0.0.1:{self.port}",
                "--certs-dir",
                certs,
                "--workers",
                str(self.workers),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None
        return process.returncode

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> S3Server:
        self.stop()
        return self.start()

    def boto3_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "region_name": "us-east-1",
        }
        if self.ca_path is not None:
            kwargs["verify"] = str(self.ca_path)
        return kwargs

    def client(self, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config)
        return boto3.client("s3", config=cfg, **self.boto3_kwargs())

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
