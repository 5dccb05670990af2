"""Key cache (specs/kes.md §8.2): expiry with an injectable clock, offline mode, single-flight."""

from __future__ import annotations

import asyncio

import pytest

from strongroom.crypto.kes_crypto import SecretKey
from strongroom.kes.cache import InvalidStoredKeyError, KeyCache
from strongroom.kes.keystore.base import (
    KeyExistsError,
    KeyNotFoundError,
    KeyStoreStatus,
    KeyStoreUnreachableError,
)
from strongroom.kes.keystore.mem import MemoryKeyStore
from tests.kes.keystore_conformance import run


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyStore(MemoryKeyStore):
    """A memory store that counts reads, can be slow, and can go down."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.down = False
        self.delay = delay
        self.gets = 0

    def _fail(self) -> None:
        if self.down:
            raise KeyStoreUnreachableError("connection refused")

    async def status(self) -> KeyStoreStatus:
        self._fail()
        return await super().status()

    async def get(self, name: str) -> bytes:
        self.gets += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        self._fail()
        return await super().get(name)

    async def create(self, name: str, value: bytes) -> None:
        self._fail()
        await super().create(name, value)

    async def delete(self, name: str) -> None:
        self._fail()
        await super().delete(name)


def setup(
    *, any_: float = 300, unused: float = 30, offline: float = 0, delay: float = 0.0
) -> tuple[KeyCache, FlakyStore, Clock]:
    store, clock = FlakyStore(delay), Clock()
    cache = KeyCache(
        store,
        expiry_any=any_,
        expiry_unused=unused,
        expiry_offline=offline,
        clock=clock,
        probe_interval=10,
    )
    return cache, store, clock


def is_offline(cache: KeyCache) -> bool:
    """Read the flag through a call so that mypy does not narrow it across awaits."""
    return cache.offline


KEY = SecretKey.generate(created_by="a" * 64)


def put(store: FlakyStore, name: str = "k", key: SecretKey = KEY) -> None:
    run(store.create(name, key.marshal()))


def test_get_caches_and_parses() -> None:
    cache, store, _ = setup()
    put(store)

    async def body() -> None:
        assert await cache.get("k") == KEY
        assert await cache.get("k") == KEY
        assert store.gets == 1
        assert cache.cached("k")

    run(body())


def test_get_missing_and_invalid() -> None:
    cache, store, _ = setup()
    run(store.create("bad", b"not a key"))
    with pytest.raises(KeyNotFoundError):
        run(cache.get("nope"))
    with pytest.raises(InvalidStoredKeyError, match="key 'bad' has an invalid stored format"):
        run(cache.get("bad"))
    assert len(cache) == 0


def test_single_flight_with_a_slow_store() -> None:
    cache, store, _ = setup(delay=0.05)
    put(store)

    async def body() -> None:
        keys = await asyncio.gather(*(cache.get("k") for _ in range(50)))
        assert all(k == KEY for k in keys)
        assert store.gets == 1

    run(body())


def test_single_flight_shares_failures_and_survives_a_cancelled_caller() -> None:
    cache, store, _ = setup(delay=0.05)

    async def body() -> None:
        results = await asyncio.gather(
            *(cache.get("nope") for _ in range(10)), return_exceptions=True
        )
        assert all(isinstance(r, KeyNotFoundError) for r in results)
        assert store.gets == 1
        await store.create("later", KEY.marshal())
        first = asyncio.ensure_future(cache.get("later"))
        second = asyncio.ensure_future(cache.get("later"))
        await asyncio.sleep(0.01)
        first.cancel()
        assert await second == KEY
        assert store.gets == 2

    run(body())


def test_create_writes_through_and_rejects_existing() -> None:
    cache, store, _ = setup()

    async def body() -> None:
        await cache.create("k", KEY)
        assert parse(await store.get("k")) == KEY
        with pytest.raises(KeyExistsError):
            await cache.create("k", SecretKey.generate())
        assert await cache.get("k") == KEY
        assert store.gets == 1  # the read-back check above, not the cache

    from strongroom.crypto.kes_crypto import parse_stored_key as parse

    run(body())


def test_legacy_profile_writes_json() -> None:
    store = FlakyStore()
    cache = KeyCache(store, expiry_any=0, expiry_unused=0, expiry_offline=0, profile="legacy")
    run(cache.create("k", KEY))
    assert run(store.get("k")).startswith(b'{"bytes":')
    assert not run(cache.get("k")).has_hmac


def test_delete_evicts() -> None:
    cache, store, _ = setup()
    put(store)

    async def body() -> None:
        await cache.get("k")
        await cache.delete("k")
        assert not cache.cached("k")
        with pytest.raises(KeyNotFoundError):
            await cache.get("k")
        with pytest.raises(KeyNotFoundError):
            await cache.delete("k")

    run(body())


def test_delete_during_a_fetch_does_not_resurrect_the_key() -> None:
    cache, store, _ = setup(delay=0.05)
    put(store)

    async def body() -> None:
        fetch = asyncio.ensure_future(cache.get("k"))
        await asyncio.sleep(0.01)
        cache.evict_all()
        assert await fetch == KEY
        assert not cache.cached("k")

    run(body())


def test_expiry_any_drops_everything() -> None:
    cache, store, clock = setup(any_=300, unused=0)
    put(store)

    async def body() -> None:
        await cache.get("k")
        clock.now += 299
        await cache.tick()
        assert cache.cached("k")
        clock.now += 1
        await cache.tick()
        assert not cache.cached("k")

    run(body())


def test_expiry_unused() -> None:
    cache, store, clock = setup(any_=0, unused=30)
    put(store, "used")
    put(store, "idle")

    async def body() -> None:
        await cache.get("used")
        await cache.get("idle")
        for _ in range(4):  # "used" is used in every 15 s window and stays
            clock.now += 15
            await cache.get("used")
            await cache.tick()
            assert cache.cached("used")
        assert not cache.cached("idle")
        clock.now += 14
        await cache.tick()
        assert cache.cached("used")
        clock.now += 1
        await cache.tick()  # not used in the window since the last pass
        assert not cache.cached("used")

    run(body())


def test_zero_expiries_keep_keys() -> None:
    cache, store, clock = setup(any_=0, unused=0)
    put(store)
    run(cache.get("k"))
    clock.now += 10**6
    run(cache.tick())
    assert cache.cached("k")


def test_offline_keeps_cached_keys_within_the_offline_expiry() -> None:
    cache, store, clock = setup(any_=60, unused=20, offline=300)
    put(store, "cached")
    put(store, "other")

    async def body() -> None:
        await cache.get("cached")
        store.down = True
        clock.now += 10
        await cache.tick()  # probe fails
        assert is_offline(cache)
        with pytest.raises(KeyStoreUnreachableError):
            await cache.status()
        for _ in range(29):  # 290 s: any and unused passes are suspended
            clock.now += 10
            await cache.tick()
            assert await cache.get("cached") == KEY
        with pytest.raises(KeyStoreUnreachableError):
            await cache.get("other")
        with pytest.raises(KeyStoreUnreachableError):
            await cache.create("new", KEY)
        clock.now += 10  # 300 s offline: the offline expiry drops everything
        await cache.tick()
        assert len(cache) == 0
        with pytest.raises(KeyStoreUnreachableError):
            await cache.get("cached")
        store.down = False
        clock.now += 10
        await cache.tick()
        assert not is_offline(cache)
        assert await cache.get("cached") == KEY
        assert (await cache.status()).latency >= 0

    run(body())


def test_offline_zero_means_no_offline_caching() -> None:
    cache, store, clock = setup(any_=60, unused=0, offline=0)
    put(store)

    async def body() -> None:
        await cache.get("k")
        store.down = True
        clock.now += 10
        await cache.tick()
        assert is_offline(cache)
        assert await cache.get("k") == KEY  # still cached until "any" fires
        clock.now += 50
        await cache.tick()
        with pytest.raises(KeyStoreUnreachableError):
            await cache.get("k")

    run(body())


def test_failed_read_marks_offline() -> None:
    cache, store, _ = setup()
    store.down = True
    with pytest.raises(KeyStoreUnreachableError):
        run(cache.get("k"))
    assert is_offline(cache)
    store.down = False
    assert run(cache.probe())
    assert not is_offline(cache)


def test_background_task_runs_ticks() -> None:
    store = FlakyStore()
    put(store)
    cache = KeyCache(store, expiry_any=0.05, expiry_unused=0, expiry_offline=0)

    async def body() -> None:
        cache.start()
        cache.start()
        await cache.get("k")
        await asyncio.sleep(0.2)
        assert not cache.cached("k")
        await cache.close()
        await cache.close()

    run(body())


def test_negative_durations_are_rejected() -> None:
    with pytest.raises(ValueError, match="expiry_unused"):
        KeyCache(MemoryKeyStore(), expiry_any=1, expiry_unused=-1, expiry_offline=0)


def test_repr_has_no_key_material() -> None:
    cache, store, _ = setup()
    put(store)
    run(cache.get("k"))
    assert KEY.secret_bytes().hex() not in repr(cache)
