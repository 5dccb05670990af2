"""``ls``: buckets of an alias, objects and prefixes of a bucket, and the object trees that
``cp -r``, ``rm -r`` and ``rb --force`` walk.

A path without a trailing ``/`` names an object, a "folder" (the prefix ``KEY/``), or both;
recursive walks take the object itself and everything under ``KEY/``, never ``KEY2``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from strongroom.client.connection import Connections
from strongroom.client.errors import NotFoundError, translate
from strongroom.client.formatting import human_size, iso_date, text_date
from strongroom.client.paths import RemotePath

__all__ = ["Entry", "iter_objects", "iter_tree", "list_path", "tree_relative_name"]


@dataclass(frozen=True)
class Entry:
    url: str
    name: str
    type: str  # "file" or "folder"
    size: int = 0
    last_modified: datetime | None = None
    etag: str | None = None
    storage_class: str | None = None

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "status": "success",
            "type": self.type,
            "lastModified": iso_date(self.last_modified),
            "size": self.size,
            "key": self.name,
            "url": self.url,
        }
        if self.etag:
            value["etag"] = self.etag
        if self.storage_class:
            value["storageClass"] = self.storage_class
        return value

    def to_text(self) -> str:
        date = text_date(self.last_modified) if self.last_modified else " " * 23
        klass = f" {self.storage_class}" if self.storage_class else ""
        return f"[{date}] {human_size(self.size, sep=''):>7}{klass} {self.name}"


def iter_objects(client: Any, bucket: str, prefix: str = "") -> Iterator[dict[str, Any]]:
    """Every object under ``prefix`` (no delimiter), in key order."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def _iter_level(client: Any, bucket: str, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """One level under ``prefix``: ("folder", common prefix) and ("file", object), in order."""
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        items = [("folder", p) for p in page.get("CommonPrefixes", [])]
        items += [("file", o) for o in page.get("Contents", [])]
        items.sort(key=lambda item: str(item[1].get("Prefix") or item[1].get("Key")))
        yield from items


def _exact_object(client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The object named ``key`` if it exists (it sorts first among keys starting with it)."""
    page = client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    for obj in page.get("Contents", []):
        if obj["Key"] == key:
            return dict(obj)
    return None


def iter_tree(client: Any, path: RemotePath) -> Iterator[dict[str, Any]]:
    """Objects of a recursive operation on ``path``: ``KEY`` itself and all under ``KEY/``."""
    key = path.key
    if not key or key.endswith("/"):
        yield from iter_objects(client, path.bucket, key)
        return
    for obj in iter_objects(client, path.bucket, key):
        name = obj["Key"]
        if name == key or name.startswith(key + "/"):
            yield obj


def tree_relative_name(path: RemotePath, key: str) -> str:
    """The name of ``key`` relative to a walk of ``path`` (keeps the folder's own name)."""
    if not path.key or path.key.endswith("/"):
        return key[len(path.key) :]
    parent = posixpath.dirname(path.key)
    return key[len(parent) + 1 :] if parent else key


def _file_entry(path: RemotePath, obj: dict[str, Any], name: str) -> Entry:
    return Entry(
        url=str(path.with_key(obj["Key"])),
        name=name,
        type="file",
        size=int(obj.get("Size", 0)),
        last_modified=obj.get("LastModified"),
        etag=str(obj.get("ETag", "")).strip('"') or None,
        storage_class=obj.get("StorageClass") or "STANDARD",
    )


def _list_buckets(conns: Connections, path: RemotePath) -> Iterator[Entry]:
    client = conns.s3(path.alias)
    with translate("Unable to list", str(path)):
        response = client.list_buckets()
    for bucket in response.get("Buckets", []):
        name = bucket["Name"]
        yield Entry(
            url=f"{path.alias}/{name}",
            name=f"{name}/",
            type="folder",
            last_modified=bucket.get("CreationDate"),
        )


def list_path(conns: Connections, path: RemotePath, *, recursive: bool = False) -> Iterator[Entry]:
    if not path.bucket:
        yield from _list_buckets(conns, path)
        return
    client = conns.s3(path.alias)
    with translate("Unable to list", str(path)):
        if recursive:
            found = False
            for obj in iter_tree(client, path):
                found = True
                yield _file_entry(path, obj, tree_relative_name(path, obj["Key"]))
            if not found and path.key and not path.key.endswith("/"):
                raise NotFoundError(
                    f"Unable to list `{path}`: no such object or prefix", code="NoSuchKey"
                )
            return
        prefix = path.key
        found = False
        if prefix and not prefix.endswith("/"):
            exact = _exact_object(client, path.bucket, prefix)
            if exact is not None:
                found = True
                yield _file_entry(path, exact, posixpath.basename(prefix))
            prefix += "/"
        for kind, item in _iter_level(client, path.bucket, prefix):
            found = True
            if kind == "folder":
                name = item["Prefix"][len(prefix) :]
                yield Entry(url=str(path.with_key(item["Prefix"])), name=name, type="folder")
            else:
                if item["Key"] == prefix:  # a folder marker object
                    continue
                yield _file_entry(path, item, item["Key"][len(prefix) :])
        if not found and path.key and not path.key.endswith("/"):
            raise NotFoundError(
                f"Unable to list `{path}`: no such object or prefix", code="NoSuchKey"
            )
