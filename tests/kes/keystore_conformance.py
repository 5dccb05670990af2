"""The conformance suite every ``KeyStore`` backend passes (memory, filesystem, Vault K/V).

Use it by subclassing in a test module whose class name starts with ``Test``::

    from tests.kes.keystore_conformance import KeyStoreConformance

    class TestMyStore(KeyStoreConformance):
        @contextlib.asynccontextmanager
        async def open_store(self) -> AsyncIterator[KeyStore]:
            store = MyStore(...)          # must start EMPTY (e.g. a fresh random prefix)
            try:
                yield store
            finally:
                await store.close()

Every test runs its own event loop with ``asyncio.run`` (no pytest asyncio plugin needed) and
opens a fresh store. Class attributes adapt the suite to documented backend differences:

* ``delete_missing_raises``: Vault deletes are idempotent (§4.3.5), set it to ``False``.
* ``concurrent_creators``: how many tasks race to create one name.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from strongroom.crypto.kes_crypto import SecretKey
from strongroom.kes.keystore.base import (
    KeyExistsError,
    KeyNotFoundError,
    KeyStore,
    KeyStoreStatus,
)

__all__ = ["KeyStoreConformance", "run"]


T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    """Run one coroutine to completion in a fresh event loop."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


class KeyStoreConformance(abc.ABC):
    """Base class of the keystore conformance suite; see the module docstring."""

    delete_missing_raises: bool = True
    concurrent_creators: int = 16

    @abc.abstractmethod
    def open_store(self) -> contextlib.AbstractAsyncContextManager[KeyStore]:
        """An async context manager yielding a fresh, empty store and closing it after."""

    def check(self, body: Callable[[KeyStore], Awaitable[Any]]) -> None:
        async def main() -> None:
            async with self.open_store() as store:
                await body(store)

        asyncio.run(main())

    # -- create / get ------------------------------------------------------------------------

    def test_create_then_get(self) -> None:
        async def body(store: KeyStore) -> None:
            await store.create("my-key", b"value-1")
            assert await store.get("my-key") == b"value-1"

        self.check(body)

    def test_create_existing_fails_and_keeps_the_first_value(self) -> None:
        async def body(store: KeyStore) -> None:
            await store.create("my-key", b"first")
            with pytest.raises(KeyExistsError):
                await store.create("my-key", b"second")
            assert await store.get("my-key") == b"first"

        self.check(body)

    def test_get_missing(self) -> None:
        async def body(store: KeyStore) -> None:
            with pytest.raises(KeyNotFoundError):
                await store.get("missing-key")

        self.check(body)

    def test_values_round_trip_byte_exact(self) -> None:
        key = SecretKey.generate(created_by="a" * 64)
        values = {
            "modern": key.marshal("modern"),
            "legacy": key.marshal("legacy"),
            "seed": b'{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}',
            "spaces": b'  {"bytes": "x"}\n\t\r\n',
            "unicode": "schl\u00fcssel \u2603 \U0001f511".encode(),
            "big": bytes(range(0x20, 0x7F)) * 300,
            "one-byte": b"x",
        }

        async def body(store: KeyStore) -> None:
            for name, value in values.items():
                await store.create(name, value)
            for name, value in values.items():
                got = await store.get(name)
                assert type(got) is bytes
                assert got == value, name

        self.check(body)

    # -- delete --------------------------------------------------------------------------------

    def test_delete(self) -> None:
        async def body(store: KeyStore) -> None:
            await store.create("my-key", b"v")
            await store.delete("my-key")
            with pytest.raises(KeyNotFoundError):
                await store.get("my-key")
            await store.create("my-key", b"w")  # the name is free again
            assert await store.get("my-key") == b"w"

        self.check(body)

    def test_delete_missing(self) -> None:
        async def body(store: KeyStore) -> None:
            if self.delete_missing_raises:
                with pytest.raises(KeyNotFoundError):
                    await store.delete("missing-key")
            else:
                await store.delete("missing-key")

        self.check(body)

    # -- list ----------------------------------------------------------------------------------

    NAMES = ("my-key", "my-key-2", "my-app", "your-key", "minio-key-1", "minio-key-2", "a", "z_9")

    def test_list_empty(self) -> None:
        async def body(store: KeyStore) -> None:
            assert await store.list("") == ([], "")
            assert await store.list("my") == ([], "")

        self.check(body)

    def test_list_all_sorted(self) -> None:
        async def body(store: KeyStore) -> None:
            for name in reversed(self.NAMES):
                await store.create(name, b"v")
            assert await store.list("") == (sorted(self.NAMES), "")
            assert await store.list("", -1) == (sorted(self.NAMES), "")

        self.check(body)

    def test_list_prefix(self) -> None:
        async def body(store: KeyStore) -> None:
            for name in self.NAMES:
                await store.create(name, b"v")
            assert await store.list("my") == (["my-app", "my-key", "my-key-2"], "")
            assert await store.list("my-key") == (["my-key", "my-key-2"], "")
            assert await store.list("minio-") == (["minio-key-1", "minio-key-2"], "")
            assert await store.list("nothing") == ([], "")
            assert await store.list("my-key-2-") == ([], "")

        self.check(body)

    def test_list_limit_and_continuation(self) -> None:
        async def body(store: KeyStore) -> None:
            for name in self.NAMES:
                await store.create(name, b"v")
            everything = sorted(self.NAMES)
            names, continue_at = await store.list("", 3)
            assert names == everything[:3]
            assert continue_at == everything[3]
            names, continue_at = await store.list("my", 2)
            assert (names, continue_at) == (["my-app", "my-key"], "my-key-2")
            assert await store.list("my", 3) == (["my-app", "my-key", "my-key-2"], "")
            assert await store.list("my", 10) == (["my-app", "my-key", "my-key-2"], "")
            # The deleted name disappears from listings.
            await store.delete("my-app")
            assert await store.list("my") == (["my-key", "my-key-2"], "")

        self.check(body)

    # -- concurrency and status ------------------------------------------------------------------

    def test_concurrent_creates_of_one_name_have_one_winner(self) -> None:
        async def body(store: KeyStore) -> None:
            async def attempt(i: int) -> int | None:
                try:
                    await store.create("contended", f"value-{i}".encode())
                except KeyExistsError:
                    return None
                return i

            results = await asyncio.gather(*(attempt(i) for i in range(self.concurrent_creators)))
            winners = [i for i in results if i is not None]
            assert len(winners) == 1, winners
            assert await store.get("contended") == f"value-{winners[0]}".encode()
            assert await store.list("contended") == (["contended"], "")

        self.check(body)

    def test_concurrent_creates_of_distinct_names(self) -> None:
        async def body(store: KeyStore) -> None:
            names = [f"key-{i:02d}" for i in range(12)]
            await asyncio.gather(*(store.create(n, n.encode()) for n in names))
            assert await store.list("key-") == (names, "")
            values = await asyncio.gather(*(store.get(n) for n in names))
            assert values == [n.encode() for n in names]

        self.check(body)

    def test_status(self) -> None:
        async def body(store: KeyStore) -> None:
            status = await store.status()
            assert isinstance(status, KeyStoreStatus)
            assert status.latency >= 0

        self.check(body)
