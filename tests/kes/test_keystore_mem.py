"""The in-memory keystore passes the conformance suite."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from strongroom.kes.keystore.base import KeyStore, KeyStoreError
from strongroom.kes.keystore.mem import MemoryKeyStore, list_page
from tests.kes.keystore_conformance import KeyStoreConformance, run


class TestMemoryKeyStore(KeyStoreConformance):
    @contextlib.asynccontextmanager
    async def open_store(self) -> AsyncIterator[KeyStore]:
        store = MemoryKeyStore()
        try:
            yield store
        finally:
            await store.close()


def test_closed_store_refuses() -> None:
    store = MemoryKeyStore({"a": b"1"})
    run(store.close())
    with pytest.raises(KeyStoreError):
        run(store.get("a"))


@pytest.mark.parametrize(
    ("prefix", "limit", "expected"),
    [
        ("", -1, (["a", "b", "c"], "")),
        ("", 0, ([], "a")),
        ("", 2, (["a", "b"], "c")),
        ("b", 1, (["b"], "")),
        ("x", 1, ([], "")),
    ],
)
def test_list_page(prefix: str, limit: int, expected: tuple[list[str], str]) -> None:
    assert list_page(["c", "a", "b"], prefix, limit) == expected
