"""Helpers shared by the client compatibility tests (see conftest.py for the fixtures)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server

MIB = 1024 * 1024
#: Large enough to cross the 8 MiB multipart threshold of the AWS CLI, boto3 and s3cmd's
#: default chunk size (15 MiB), small enough to keep the suite fast.
MULTIPART_SIZE = 20 * MIB


#: Run a test that uses the `target` fixture over plain HTTP only (it overrides the fixture's
#: http/https parametrisation); for cases whose wire traffic does not depend on TLS.
http_only = pytest.mark.parametrize("target", ["http"], indirect=True)


def unique_bucket(prefix: str = "cl") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(MIB), b""):
            digest.update(block)
    return digest.hexdigest()


def clean_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without any AWS/MinIO/rclone/s3cmd settings, with HOME at `home`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "MINIO_", "RCLONE_", "S3CMD", "BOTO_"))
        and name not in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    }
    env["HOME"] = str(home)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 90,
    server: S3Server | None = None,
    input_bytes: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run a client program; on an unexpected exit status fail with its output and the server log."""
    proc = subprocess.run(
        list(argv),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        timeout=timeout,
        input=input_bytes,
        check=False,
    )
    if check and proc.returncode != 0:
        log = server.log()[-4000:] if server is not None else ""
        pytest.fail(
            f"command failed with status {proc.returncode}: {' '.join(argv)}\n"
            f"--- stdout ---\n{proc.stdout.decode(errors='replace')[-4000:]}\n"
            f"--- stderr ---\n{proc.stderr.decode(errors='replace')[-4000:]}\n"
            f"--- server log (tail) ---\n{log}",
            pytrace=False,
        )
    return proc


@dataclass
class Target:
    """One running server as a client sees it."""

    server: S3Server
    scheme: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    @property
    def ca_path(self) -> Path | None:
        return self.server.ca_path

    def boto3(self, **config: Any) -> Any:
        return self.server.client(**config)


def require_program(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found
