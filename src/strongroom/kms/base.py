"""The KMS contract of the object server: one interface, several implementations.

Implementations: the built-in static key (``strongroom.kms.static``) and the KES client
(``strongroom.kms.kes``). The object server only ever talks to ``KMS``.

Errors::

    KMSError                  -> S3 500 InternalError (message safe to show)
    ├── KMSKeyNotFoundError   -> S3 400 KMS.NotFoundException
    ├── KMSKeyExistsError     (create of an existing key; callers usually ignore it)
    ├── KMSDecryptError       the ciphertext or context is wrong -> fail closed, S3 error
    ├── KMSNotSupportedError  the KMS cannot do this at all (e.g. create keys) -> 501
    └── KMSUnavailableError   -> S3 503: the KMS cannot be reached right now
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class KMSError(Exception):
    """A KMS operation failed; the message never holds key material."""


class KMSKeyNotFoundError(KMSError):
    pass


class KMSKeyExistsError(KMSError):
    pass


class KMSDecryptError(KMSError):
    pass


class KMSNotSupportedError(KMSError):
    pass


class KMSUnavailableError(KMSError):
    pass


@dataclass(frozen=True, slots=True)
class DataKey:
    """A fresh data key: 32 plaintext bytes and the KMS ciphertext that unwraps to them."""

    key_id: str
    plaintext: bytes = field(repr=False)
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class KMSStatus:
    name: str  # e.g. "Builtin" or "KES"
    default_key: str
    endpoints: Mapping[str, str]  # endpoint -> "online" | "offline"


@dataclass(frozen=True, slots=True)
class KeyStatus:
    key_id: str
    encryption_ok: bool
    decryption_ok: bool
    error: str = ""


class KMS(Protocol):
    """Async KMS. ``context`` is the associated data, a flat string map that the
    implementation encodes canonically (Go-style JSON, sorted keys)."""

    @property
    def default_key(self) -> str: ...

    async def generate_key(self, key_id: str, context: Mapping[str, str]) -> DataKey: ...

    async def decrypt(
        self, key_id: str, ciphertext: bytes, context: Mapping[str, str]
    ) -> bytes: ...

    async def create_key(self, key_id: str) -> None: ...

    async def key_status(self, key_id: str) -> KeyStatus: ...

    async def status(self) -> KMSStatus: ...

    async def close(self) -> None: ...
