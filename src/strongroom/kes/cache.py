"""The key server's cache of parsed master keys in front of a keystore (``specs/kes.md`` §8.2).

* :meth:`KeyCache.get` serves hits from memory and marks them used. Concurrent misses for one
  name share a single fetch (single-flight), which runs as its own task so that a cancelled
  caller never cancels the fetch the others wait on.
* Expiry is driven by tickers, not per-entry TTLs (as KES does), each disabled when its period
  is 0:

  - every ``expiry_any``: drop all entries;
  - every ``expiry_unused / 2``: drop entries not used since the last pass, clear the flags
    (an unused entry lives between unused/2 and unused);
  - every ``expiry_offline`` while offline: drop all entries (the period restarts when the
    store goes offline, so cached keys serve for at least ``expiry_offline``);
  - every ``probe_interval``: probe ``store.status()``; failure -> offline, success -> online.

  While offline and ``expiry_offline > 0`` the ``any`` and ``unused`` passes are suspended:
  cached keys keep working through a keystore outage. Misses still go to the store and fail
  with its error (the key server answers 5xx).
* Time comes from the injectable ``clock``; :meth:`tick` runs whatever is due at ``now``, so
  tests drive expiry deterministically. :meth:`start` runs :meth:`tick` in a background task
  that sleeps until the next deadline; :meth:`close` stops it.

A key server instance shares nothing with its peers: a key deleted through one instance stays
usable on others until their entries expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from strongroom.crypto.kes_crypto import (
    KeyFormatError,
    SecretKey,
    StoredKeyProfile,
    parse_stored_key,
)
from strongroom.kes.keystore.base import (
    KeyStore,
    KeyStoreError,
    KeyStoreStatus,
    KeyStoreUnreachableError,
)

__all__ = ["InvalidStoredKeyError", "KeyCache"]

_log = logging.getLogger(__name__)


class InvalidStoredKeyError(KeyStoreError):
    """The store holds a value under the name that is not a §7 stored key."""


@dataclass(slots=True)
class _Entry:
    key: SecretKey
    used: bool


class KeyCache:
    """Cache of parsed keys over ``store``; see the module docstring for the expiry rules.

    ``profile`` selects the stored-key format :meth:`create` writes (``modern``/``legacy``).
    Durations are seconds; 0 disables that expiry (``expiry_offline`` 0 = no offline caching).
    The cache does not own the store: :meth:`close` leaves it open.
    """

    def __init__(
        self,
        store: KeyStore,
        *,
        expiry_any: float,
        expiry_unused: float,
        expiry_offline: float,
        clock: Callable[[], float] = time.monotonic,
        probe_interval: float = 10.0,
        profile: StoredKeyProfile = "modern",
    ) -> None:
        for label, value in (
            ("expiry_any", expiry_any),
            ("expiry_unused", expiry_unused),
            ("expiry_offline", expiry_offline),
            ("probe_interval", probe_interval),
        ):
            if value < 0 or math.isnan(value):
                raise ValueError(f"{label} must not be negative")
        self._store = store
        self._any = expiry_any
        self._unused_period = expiry_unused / 2
        self._offline_period = expiry_offline
        self._probe_interval = probe_interval
        self._clock = clock
        self._profile: StoredKeyProfile = profile
        self._entries: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Task[SecretKey]] = {}
        self._generation = 0
        self._offline = False
        self._task: asyncio.Task[None] | None = None
        now = clock()
        self._next_any = now + expiry_any if expiry_any else math.inf
        self._next_unused = now + self._unused_period if expiry_unused else math.inf
        self._next_offline = math.inf
        self._next_probe = now + probe_interval if probe_interval else math.inf

    def __repr__(self) -> str:
        return f"KeyCache(entries={len(self._entries)}, offline={self._offline})"

    # -- state -----------------------------------------------------------------------------

    @property
    def store(self) -> KeyStore:
        return self._store

    @property
    def offline(self) -> bool:
        """True while the last probe (or store call) found the keystore unreachable."""
        return self._offline

    def cached(self, name: str) -> bool:
        """Whether ``name`` is in the cache now (does not mark it used)."""
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def _set_offline(self, offline: bool) -> None:
        if offline and not self._offline:
            _log.warning("keystore is unreachable: serving cached keys only")
            if self._offline_period:
                self._next_offline = self._clock() + self._offline_period
        elif not offline and self._offline:
            _log.info("keystore is reachable again")
            self._next_offline = math.inf
        self._offline = offline

    def _note_error(self, exc: BaseException) -> None:
        if isinstance(exc, KeyStoreUnreachableError):
            self._set_offline(True)

    # -- key operations --------------------------------------------------------------------

    def peek(self, name: str) -> SecretKey | None:
        """The key ``name`` if it is cached now (marked used, as :meth:`get` does), else None."""
        entry = self._entries.get(name)
        if entry is None:
            return None
        entry.used = True
        return entry.key

    async def get(self, name: str) -> SecretKey:
        """The parsed key ``name``: from the cache, else fetched once for all concurrent
        callers. Raises the store's ``KeyNotFoundError``/``KeyStoreError`` (an unreachable
        store also marks the cache offline) or :class:`InvalidStoredKeyError`."""
        entry = self._entries.get(name)
        if entry is not None:
            entry.used = True
            return entry.key
        task = self._inflight.get(name)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._fetch(name, self._generation))
            self._inflight[name] = task
            task.add_done_callback(lambda t: self._forget(name, t))
        return await asyncio.shield(task)

    def _forget(self, name: str, task: asyncio.Task[SecretKey]) -> None:
        if self._inflight.get(name) is task:
            del self._inflight[name]
        if not task.cancelled():
            task.exception()  # mark retrieved: a failed fetch nobody awaits is not an error

    async def _fetch(self, name: str, generation: int) -> SecretKey:
        try:
            value = await self._store.get(name)
        except BaseException as exc:
            self._note_error(exc)
            raise
        try:
            key = parse_stored_key(value)
        except KeyFormatError:
            raise InvalidStoredKeyError(f"key '{name}' has an invalid stored format") from None
        if generation == self._generation:  # not evicted while we were fetching
            self._entries[name] = _Entry(key, used=True)
        return key

    async def create(self, name: str, key: SecretKey) -> None:
        """Write ``key`` through to the store (create-only; ``KeyExistsError`` if present) and
        cache it as read back from its stored form (the legacy profile has no HMAC key)."""
        value = key.marshal(self._profile)
        try:
            await self._store.create(name, value)
        except BaseException as exc:
            self._note_error(exc)
            raise
        self._entries[name] = _Entry(parse_stored_key(value), used=False)

    async def delete(self, name: str) -> None:
        """Delete ``name`` from the store and evict it (also when the store call fails)."""
        self._evict(name)
        try:
            await self._store.delete(name)
        except BaseException as exc:
            self._note_error(exc)
            raise
        finally:
            self._evict(name)

    async def list(self, prefix: str, limit: int = -1) -> tuple[list[str], str]:
        """Pass-through to ``store.list`` (listings are never cached)."""
        try:
            return await self._store.list(prefix, limit)
        except BaseException as exc:
            self._note_error(exc)
            raise

    def _evict(self, name: str) -> None:
        self._generation += 1
        self._entries.pop(name, None)

    def evict_all(self) -> None:
        """Drop every cached key (and discard results of fetches in flight)."""
        self._generation += 1
        self._entries.clear()

    async def status(self) -> KeyStoreStatus:
        """The store's status; while offline, ``KeyStoreUnreachableError`` at once."""
        if self._offline:
            raise KeyStoreUnreachableError("key store is not reachable")
        try:
            return await self._store.status()
        except BaseException as exc:
            self._note_error(exc)
            raise

    # -- expiry ----------------------------------------------------------------------------

    async def probe(self) -> bool:
        """Probe ``store.status()`` now and update :attr:`offline`; return reachability."""
        try:
            await self._store.status()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log.debug("keystore probe failed: %s", exc)
            self._set_offline(True)
            return False
        self._set_offline(False)
        return True

    def gc(self, now: float | None = None) -> None:
        """Run the expiry passes that are due at ``now`` (default: the clock)."""
        now = self._clock() if now is None else now
        suspended = self._offline and self._offline_period > 0
        if now >= self._next_any:
            self._next_any = now + self._any
            if not suspended:
                self.evict_all()
        if now >= self._next_unused:
            self._next_unused = now + self._unused_period
            if not suspended:
                for name in [n for n, e in self._entries.items() if not e.used]:
                    del self._entries[name]
                for entry in self._entries.values():
                    entry.used = False
        if now >= self._next_offline:
            self._next_offline = now + self._offline_period
            if self._offline:
                self.evict_all()

    async def tick(self, now: float | None = None) -> None:
        """Probe the store if the probe is due, then run :meth:`gc`. The background task calls
        this; tests call it with an explicit ``now``."""
        now = self._clock() if now is None else now
        if now >= self._next_probe:
            self._next_probe = now + self._probe_interval
            await self.probe()
        self.gc(now)

    def next_deadline(self) -> float:
        """Clock time of the next due ticker (``inf`` if none)."""
        return min(self._next_any, self._next_unused, self._next_offline, self._next_probe)

    def start(self) -> None:
        """Start the background expiry task on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            delay = self.next_deadline() - self._clock()
            await asyncio.sleep(min(max(delay, 0.0), 60.0))
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # never let expiry die: keys would then live forever
                _log.exception("key cache expiry pass failed")

    async def close(self) -> None:
        """Stop the background task and drop all keys. The store stays open."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for inflight in list(self._inflight.values()):
            inflight.cancel()
        self.evict_all()
