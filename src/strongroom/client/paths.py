"""Targets on the command line: ``ALIAS[/BUCKET[/KEY]]`` on a server, anything else local.

As in mc, a word is remote when its first ``/``-separated component is a known alias; paths
starting with ``/``, ``./``, ``../`` or ``~`` are always local. A trailing ``/`` is kept: it
means "inside this prefix" to ``cp`` and ``ls``.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Collection
from dataclasses import dataclass

from strongroom.client.errors import UsageError

__all__ = ["LocalPath", "RemotePath", "Target", "parse_target", "safe_join"]


@dataclass(frozen=True)
class RemotePath:
    alias: str
    bucket: str = ""
    key: str = ""

    def __str__(self) -> str:
        if not self.bucket:
            return self.alias
        if not self.key:
            return f"{self.alias}/{self.bucket}"
        return f"{self.alias}/{self.bucket}/{self.key}"

    @property
    def is_dir(self) -> bool:
        """Names a bucket or a prefix ending in ``/``: an object name must be added."""
        return not self.key or self.key.endswith("/")

    @property
    def basename(self) -> str:
        return posixpath.basename(self.key.rstrip("/")) or self.bucket

    def with_key(self, key: str) -> RemotePath:
        return RemotePath(self.alias, self.bucket, key)

    def require_bucket(self, command: str) -> RemotePath:
        if not self.bucket:
            raise UsageError(f"{command}: `{self}` names no bucket: use ALIAS/BUCKET")
        return self

    def require_key(self, command: str) -> RemotePath:
        self.require_bucket(command)
        if not self.key or self.key.endswith("/"):
            raise UsageError(f"{command}: `{self}` names no object: use ALIAS/BUCKET/KEY")
        return self


@dataclass(frozen=True)
class LocalPath:
    path: str

    def __str__(self) -> str:
        return self.path


Target = RemotePath | LocalPath


def parse_target(text: str, aliases: Collection[str]) -> Target:
    if not text:
        raise UsageError("empty path")
    if text.startswith(("/", "./", "../", "~")) or text in (".", ".."):
        return LocalPath(os.path.expanduser(text))
    head, sep, rest = text.partition("/")
    if head not in aliases:
        return LocalPath(text)
    if not sep or not rest:
        return RemotePath(head)
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise UsageError(f"invalid remote path `{text}`: empty bucket name")
    return RemotePath(head, bucket, key)


def safe_join(root: str, relative: str) -> str:
    """``root/relative`` for an object key, refusing keys that would leave ``root``."""
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or relative.startswith("/"):
        raise UsageError(f"refusing to write object `{relative}` outside `{root}`")
    return os.path.join(root, *parts)
