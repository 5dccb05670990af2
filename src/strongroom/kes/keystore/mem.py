"""In-memory keystore (``kes server --dev``, tests), and the listing helper every store shares.

Values live in a dict for the life of the process; nothing is persisted. All operations finish
without awaiting, so they are atomic with respect to other tasks on the same event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from strongroom.kes.keystore.base import (
    KeyExistsError,
    KeyNotFoundError,
    KeyStoreError,
    KeyStoreStatus,
)

__all__ = ["MemoryKeyStore", "list_page"]


def list_page(names: Iterable[str], prefix: str, limit: int = -1) -> tuple[list[str], str]:
    """Select one listing page (``KeyStore.list`` semantics, KES ``keystore.List``).

    Returns the names starting with ``prefix`` in ascending order, at most ``limit`` of them
    (all when ``limit < 0``), and the first name left out ("continue at"; empty when the
    listing is complete).
    """
    matching = sorted(n for n in names if n.startswith(prefix))
    if 0 <= limit < len(matching):
        return matching[:limit], matching[limit]
    return matching, ""


class MemoryKeyStore:
    """A ``KeyStore`` that keeps values in memory. ``closed`` stores raise ``KeyStoreError``."""

    def __init__(self, values: Mapping[str, bytes] | None = None) -> None:
        self._values: dict[str, bytes] = dict(values or {})
        self._closed = False

    def __repr__(self) -> str:
        return f"MemoryKeyStore(keys={len(self._values)})"

    def _check(self) -> None:
        if self._closed:
            raise KeyStoreError("keystore is closed")

    async def status(self) -> KeyStoreStatus:
        self._check()
        return KeyStoreStatus(latency=0.0)

    async def create(self, name: str, value: bytes) -> None:
        self._check()
        if not name:
            raise KeyStoreError("invalid key name")
        if name in self._values:
            raise KeyExistsError(f"key '{name}' already exists")
        self._values[name] = bytes(value)

    async def get(self, name: str) -> bytes:
        self._check()
        try:
            return self._values[name]
        except KeyError:
            raise KeyNotFoundError(f"key '{name}' does not exist") from None

    async def delete(self, name: str) -> None:
        self._check()
        try:
            del self._values[name]
        except KeyError:
            raise KeyNotFoundError(f"key '{name}' does not exist") from None

    async def list(self, prefix: str, limit: int = -1) -> tuple[list[str], str]:
        self._check()
        return list_page(self._values, prefix, limit)

    async def close(self) -> None:
        self._closed = True
