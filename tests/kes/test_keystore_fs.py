"""The filesystem keystore passes the conformance suite, plus its file-level guarantees."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from strongroom.kes.keystore.base import (
    KeyNotFoundError,
    KeyStore,
    KeyStoreError,
    KeyStoreUnreachableError,
)
from strongroom.kes.keystore.fs import MAX_VALUE_SIZE, FileKeyStore
from tests.kes.keystore_conformance import KeyStoreConformance, run


class TestFileKeyStore(KeyStoreConformance):
    @contextlib.asynccontextmanager
    async def open_store(self) -> AsyncIterator[KeyStore]:
        with tempfile.TemporaryDirectory() as tmp:
            store = FileKeyStore(Path(tmp) / "keys")
            try:
                yield store
            finally:
                await store.close()


def test_files_are_private_and_hold_the_exact_value(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    run(store.create("minio-key-1", b'{"bytes":"x"}'))
    path = tmp_path / "keys" / "minio-key-1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == b'{"bytes":"x"}'
    assert sorted(os.listdir(tmp_path / "keys")) == ["minio-key-1"]  # no temp file left
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700


@pytest.mark.parametrize("name", ["", ".", "..", "../etc", "a/b", "a\\b", "my.key", "a\x00b"])
def test_invalid_names_are_rejected(tmp_path: Path, name: str) -> None:
    store = FileKeyStore(tmp_path)
    for op in (store.create(name, b"v"), store.get(name), store.delete(name)):
        with pytest.raises(KeyStoreError, match="invalid key name"):
            run(op)
    assert os.listdir(tmp_path) == []


def test_existing_seed_files_are_read_and_foreign_entries_ignored(tmp_path: Path) -> None:
    (tmp_path / "minio-key-1").write_bytes(b'{"bytes":"AAAA"}')
    (tmp_path / ".minio-key-2.1234.tmp").write_bytes(b"partial")
    (tmp_path / "sub").mkdir()
    store = FileKeyStore(tmp_path)
    assert run(store.get("minio-key-1")) == b'{"bytes":"AAAA"}'
    assert run(store.list("")) == (["minio-key-1"], "")
    with pytest.raises(KeyStoreError):
        run(store.get("sub"))


def test_read_limit(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path)
    (tmp_path / "exact").write_bytes(b"x" * MAX_VALUE_SIZE)
    (tmp_path / "huge").write_bytes(b"x" * (MAX_VALUE_SIZE + 1))
    assert len(run(store.get("exact"))) == MAX_VALUE_SIZE
    with pytest.raises(KeyStoreError, match="1 MiB"):
        run(store.get("huge"))


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"secret")
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "link").symlink_to(tmp_path / "target")
    store = FileKeyStore(keys)
    with pytest.raises(KeyStoreError):
        run(store.get("link"))
    assert run(store.list("")) == ([], "")


def test_missing_directory_is_unreachable(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    (tmp_path / "keys").rmdir()
    with pytest.raises(KeyStoreUnreachableError):
        run(store.status())
    with pytest.raises(KeyNotFoundError):
        run(store.get("a"))
