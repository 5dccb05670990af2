"""Filesystem keystore (``keystore.fs.path``, ``specs/kes.md`` §9.1): one file per key.

The file name is the key name and the content is the stored-key value. Creation is atomic and
create-only: the value is written to a private temporary file (mode 0600, ``fsync``) that is
then hard-linked to its final name, which fails if the name exists; so a crash never leaves a
partial key and concurrent creators (tasks, processes or key servers sharing the directory)
yield exactly one winner. Names with ``/``, ``\\``, ``.`` or NUL are rejected, so a key name
can never escape the directory; temporary files carry a ``.`` so they never look like keys.

Honest note: this is for single machines and tests. It stores master keys in plaintext; protect
the directory (0700) and the disk it lives on.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import os
import secrets
import stat
import time
from pathlib import Path

from strongroom.kes.keystore.base import (
    KeyExistsError,
    KeyNotFoundError,
    KeyStoreError,
    KeyStoreStatus,
    KeyStoreUnreachableError,
)
from strongroom.kes.keystore.mem import list_page

__all__ = ["MAX_VALUE_SIZE", "FileKeyStore"]

MAX_VALUE_SIZE = 1 << 20  # 1 MiB read limit
_FORBIDDEN = frozenset("/\\.\x00")


def _check_name(name: str) -> None:
    if not name or any(c in _FORBIDDEN for c in name):
        raise KeyStoreError(f"invalid key name '{name}'")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileKeyStore:
    """A ``KeyStore`` over a directory, created (mode 0700) if missing.

    Blocking file I/O runs in a worker thread so the event loop never waits on the disk.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise KeyStoreError(f"fs keystore: cannot create directory: {e.strerror}") from None

    def __repr__(self) -> str:
        return f"FileKeyStore({str(self.path)!r})"

    # -- status ----------------------------------------------------------------------------

    async def status(self) -> KeyStoreStatus:
        start = time.perf_counter()
        try:
            st = await asyncio.to_thread(os.stat, self.path)
        except OSError as e:
            raise KeyStoreUnreachableError(f"fs keystore: {e.strerror}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise KeyStoreUnreachableError("fs keystore: path is not a directory")
        return KeyStoreStatus(latency=time.perf_counter() - start)

    # -- create ----------------------------------------------------------------------------

    async def create(self, name: str, value: bytes) -> None:
        _check_name(name)
        await asyncio.to_thread(self._create, name, bytes(value))

    def _create(self, name: str, value: bytes) -> None:
        final = self.path / name
        tmp = self.path / f".{name}.{secrets.token_hex(8)}.tmp"
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(tmp, flags, 0o600)
        except OSError as e:
            raise self._error("create", e) from None
        try:
            try:
                view = memoryview(value)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, final)
            except FileExistsError:
                raise KeyExistsError(f"key '{name}' already exists") from None
            _fsync_dir(self.path)
        except OSError as e:
            raise self._error("create", e) from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    # -- get -------------------------------------------------------------------------------

    async def get(self, name: str) -> bytes:
        _check_name(name)
        return await asyncio.to_thread(self._get, name)

    def _get(self, name: str) -> bytes:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.path / name, flags)
        except FileNotFoundError:
            raise KeyNotFoundError(f"key '{name}' does not exist") from None
        except OSError as e:
            raise self._error("read", e) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise KeyStoreError(f"fs keystore: key '{name}' is not a regular file")
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_VALUE_SIZE:
                chunk = os.read(fd, MAX_VALUE_SIZE + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > MAX_VALUE_SIZE:
                raise KeyStoreError(f"fs keystore: key '{name}' exceeds 1 MiB")
            return b"".join(chunks)
        except OSError as e:
            raise self._error("read", e) from None
        finally:
            os.close(fd)

    # -- delete ----------------------------------------------------------------------------

    async def delete(self, name: str) -> None:
        _check_name(name)
        await asyncio.to_thread(self._delete, name)

    def _delete(self, name: str) -> None:
        try:
            os.unlink(self.path / name)
            _fsync_dir(self.path)
        except FileNotFoundError:
            raise KeyNotFoundError(f"key '{name}' does not exist") from None
        except OSError as e:
            raise self._error("delete", e) from None

    # -- list ------------------------------------------------------------------------------

    async def list(self, prefix: str, limit: int = -1) -> tuple[list[str], str]:
        return await asyncio.to_thread(self._list, prefix, limit)

    def _list(self, prefix: str, limit: int) -> tuple[builtins.list[str], str]:
        try:
            with os.scandir(self.path) as entries:
                names = [
                    e.name
                    for e in entries
                    if e.name.startswith(prefix)
                    and not any(c in _FORBIDDEN for c in e.name)
                    and e.is_file(follow_symlinks=False)
                ]
        except OSError as e:
            raise self._error("list", e) from None
        return list_page(names, prefix, limit)

    async def close(self) -> None:
        return None

    def _error(self, op: str, e: OSError) -> KeyStoreError:
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.EIO, errno.ESTALE):
            return KeyStoreUnreachableError(f"fs keystore: failed to {op} key: {e.strerror}")
        return KeyStoreError(f"fs keystore: failed to {op} key: {e.strerror}")
