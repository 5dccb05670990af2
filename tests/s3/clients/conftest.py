"""Fixtures for driving real S3 clients against a real `strongroom server` process.

Every test module shares one HTTP server and one HTTPS server (module scope) so the whole
directory stays fast; tests isolate themselves with fresh bucket names.

Clients run with a private HOME and private config files under the test's temp directory, so
nothing outside it is read or written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from tests.s3.clients.helpers import MULTIPART_SIZE, Target
from tests.support.s3server import S3Server


def _start(
    root: Path, *, tls: bool, env: Mapping[str, str] | None = None, workers: int = 1
) -> S3Server:
    root.mkdir(parents=True, exist_ok=True)
    return S3Server(root / "data", tls=tls, env=env, workers=workers).start()


@pytest.fixture(scope="module")
def http_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    # two worker processes: clients spread one multipart upload or one sync over both
    srv = _start(tmp_path_factory.mktemp("clients-http"), tls=False, workers=2)
    try:
        yield Target(srv, "http")
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def https_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    srv = _start(tmp_path_factory.mktemp("clients-https"), tls=True)
    try:
        yield Target(srv, "https")
    finally:
        srv.stop()


@pytest.fixture(scope="module", params=["http", "https"])
def target(request: pytest.FixtureRequest) -> Target:
    """Both transports: tests using this run once over HTTP and once over HTTPS."""
    name = "http_target" if request.param == "http" else "https_target"
    result: Target = request.getfixturevalue(name)
    return result


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clients-files")


@pytest.fixture(scope="module")
def big_file(module_dir: Path) -> Path:
    """A random file large enough to make every client upload it in several parts."""
    path = module_dir / "big.bin"
    path.write_bytes(os.urandom(MULTIPART_SIZE))
    return path
