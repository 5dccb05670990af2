"""Fixtures for the client CLI: real servers on 127.0.0.1 (ours over HTTP and HTTPS, and
moto's server) and a `strongroom` runner with a private config directory.

Servers are shared by the whole directory (session scope); tests isolate themselves with
fresh bucket and alias names.
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from strongroom.cli.main import cli as strongroom_cli
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server, free_port

_names = itertools.count()


def unique(prefix: str = "b") -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


@dataclass
class Strongroom:
    """Runs `strongroom ...` in process (CliRunner) or as a subprocess, one config dir."""

    config_dir: Path
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self, *args: str, input: bytes | str | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(
            strongroom_cli,
            list(args),
            input=input,
            env={"STRONGROOM_CONFIG_DIR": str(self.config_dir), **self.env},
            catch_exceptions=False,
        )

    def ok(self, *args: str, input: bytes | str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, (args, result.output)
        return result

    def process(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STRONGROOM_"))}
        env.update({"STRONGROOM_CONFIG_DIR": str(self.config_dir), **self.env})
        return subprocess.run(
            [sys.executable, "-m", "strongroom", *args],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def sr(tmp_path: Path) -> Strongroom:
    return Strongroom(tmp_path / "config")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("client-http")
    with S3Server(root / "data") as srv:
        yield srv


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("client-https")
    with S3Server(root / "data", tls=True) as srv:
        yield srv


@dataclass
class Moto:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    pytest.importorskip("moto.server")
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto exited:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield Moto(port, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def set_alias(sr: Strongroom, name: str, endpoint: str, *extra: str) -> None:
    sr.ok("alias", "set", name, endpoint, ACCESS_KEY, SECRET_KEY, *extra)


@pytest.fixture
def local(sr: Strongroom, server: S3Server) -> str:
    """An alias `local` for the HTTP server; returns a fresh bucket on it."""
    set_alias(sr, "local", server.endpoint)
    bucket = unique()
    sr.ok("mb", f"local/{bucket}")
    return bucket


def lines_json(result: Result) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
