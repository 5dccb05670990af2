from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.s3server import S3Server

_counter = itertools.count()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("s3-http")
    with S3Server(root / "data") as srv:
        yield srv


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("s3-https")
    with S3Server(root / "data", tls=True) as srv:
        yield srv


@pytest.fixture
def s3(server: S3Server) -> Any:
    return server.client()


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"test-bucket-{next(_counter)}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def data_path(tmp_path: Path) -> Path:
    return tmp_path
