"""Keystores: where the key server keeps its master keys (opaque values under a name)."""

from strongroom.kes.keystore.base import (
    KeyExistsError,
    KeyNotFoundError,
    KeyStore,
    KeyStoreDeniedError,
    KeyStoreError,
    KeyStoreStatus,
    KeyStoreUnreachableError,
)

__all__ = [
    "KeyExistsError",
    "KeyNotFoundError",
    "KeyStore",
    "KeyStoreDeniedError",
    "KeyStoreError",
    "KeyStoreStatus",
    "KeyStoreUnreachableError",
]
