"""Session-scoped OpenBao fixtures for the Vault tests (see ``tests/support/openbao.py``).

- ``openbao``: one initialised, unsealed OpenBao shared by the whole session. Tests keep out of
  each other's way with their own mounts, prefixes, policies and roles (``unique``); tests that
  seal, stop or restart a server use ``openbao_private`` instead.
- ``openbao_private``: a second initialised server for this module's destructive tests.
- ``openbao_fresh``: a new, uninitialised server per test (for ``init``).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.support.openbao import OpenBaoNotFoundError, OpenBaoServer, find_bao, openbao_server


def _require_bao() -> None:
    try:
        find_bao()
    except OpenBaoNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def openbao() -> Iterator[OpenBaoServer]:
    _require_bao()
    with openbao_server() as server:
        yield server


@pytest.fixture(scope="module")
def openbao_private() -> Iterator[OpenBaoServer]:
    _require_bao()
    with openbao_server() as server:
        yield server


@pytest.fixture
def openbao_fresh() -> Iterator[OpenBaoServer]:
    _require_bao()
    with openbao_server(initialize=False) as server:
        yield server


_counter = itertools.count()
_run = uuid.uuid4().hex[:6]


@pytest.fixture
def unique() -> Callable[[str], str]:
    """``unique("role")`` -> a name no other test in this session uses."""
    return lambda stem: f"{stem}-{_run}-{next(_counter)}"
