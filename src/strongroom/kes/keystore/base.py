"""The keystore contract every backend (memory, filesystem, Vault K/V) implements.

Values are the stored-key encoding of ``../shared/specs/kes.md`` §7, opaque to the store.
Keys are immutable: there is no update. Error hierarchy::

    KeyStoreError
    ├── KeyExistsError          create() of a name that is present
    ├── KeyNotFoundError        get()/delete() of a name that is absent
    ├── KeyStoreDeniedError     the store's own access policy refuses (key server: 403)
    └── KeyStoreUnreachableError  network failure, sealed or down store (key server answers 5xx)

Any other failure (for example a policy denial in Vault) is a plain ``KeyStoreError`` whose
message is safe to show a client: it never contains key material.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class KeyStoreError(Exception):
    """A keystore operation failed; the message is safe to log and return."""


class KeyExistsError(KeyStoreError):
    pass


class KeyNotFoundError(KeyStoreError):
    pass


class KeyStoreDeniedError(KeyStoreError):
    pass


class KeyStoreUnreachableError(KeyStoreError):
    pass


@dataclass(frozen=True, slots=True)
class KeyStoreStatus:
    """Outcome of a successful status probe; ``latency`` in seconds."""

    latency: float


class KeyStore(Protocol):
    """Async keystore. Implementations must be safe for concurrent use by many tasks."""

    async def status(self) -> KeyStoreStatus:
        """Probe the store; raise KeyStoreUnreachableError when it cannot serve."""
        ...

    async def create(self, name: str, value: bytes) -> None:
        """Store ``value`` under ``name`` only if absent, else raise KeyExistsError."""
        ...

    async def get(self, name: str) -> bytes:
        """Return the value stored under ``name`` or raise KeyNotFoundError."""
        ...

    async def delete(self, name: str) -> None:
        """Remove ``name`` or raise KeyNotFoundError."""
        ...

    async def list(self, prefix: str, limit: int = -1) -> tuple[list[str], str]:
        """Return up to ``limit`` names (all when < 0) starting with ``prefix``, sorted,
        and the name to continue at (empty when the listing is complete)."""
        ...

    async def close(self) -> None: ...
