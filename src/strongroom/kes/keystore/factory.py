"""Build the configured keystore (``strongroom.kes.config`` keystore variants -> ``KeyStore``).

The Vault backend is imported only when a config asks for it, so a server on the filesystem or
in-memory store never loads the HTTP client stack for Vault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from strongroom.kes.keystore.base import KeyStore, KeyStoreError

if TYPE_CHECKING:
    from strongroom.kes.config import KeystoreConfig

__all__ = ["make_keystore"]


def make_keystore(cfg: KeystoreConfig) -> KeyStore:
    """The keystore described by ``cfg``; raises ``KeyStoreError`` for an unknown variant or
    settings the backend refuses."""
    from strongroom.kes.config import FSKeystoreConfig, MemKeystoreConfig, VaultKeystoreConfig

    if isinstance(cfg, FSKeystoreConfig):
        from strongroom.kes.keystore.fs import FileKeyStore

        return FileKeyStore(cfg.path)
    if isinstance(cfg, MemKeystoreConfig):
        from strongroom.kes.keystore.mem import MemoryKeyStore

        return MemoryKeyStore()
    if isinstance(cfg, VaultKeystoreConfig):
        from strongroom.kes.keystore.vault import VaultKeyStore

        try:
            return VaultKeyStore.from_config(cfg)
        except (ValueError, OSError) as exc:
            raise KeyStoreError(str(exc)) from None
    raise KeyStoreError(f"unsupported keystore configuration: {type(cfg).__name__}")
