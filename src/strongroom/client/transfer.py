"""``cp``: local to remote, remote to local, remote to remote, one file or whole trees.

Where things land (``-r`` follows rsync's trailing-slash rule):

- one file to ``ALIAS/BUCKET``, ``ALIAS/BUCKET/PREFIX/`` or an existing local directory: inside
  it under the file's own name; to any other name: that exact name.
- ``-r DIR`` copies the directory itself (``TARGET/DIR/...``); ``-r DIR/`` copies its contents
  (``TARGET/...``). The same for a remote prefix; a whole bucket copies its contents.
- several sources: the target is a directory or prefix.

Remote to remote on the same alias is a server-side copy (CopyObject / UploadPartCopy);
between aliases the bytes stream through this process. Downloads go to a temporary file
renamed into place, so an interrupted copy never leaves a partial file under the final name.
Object keys that would escape the target directory (``..``) are refused.
"""

from __future__ import annotations

import mimetypes
import os
import posixpath
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from strongroom.client.connection import Connections
from strongroom.client.errors import ClientError, NotFoundError, UsageError, translate
from strongroom.client.formatting import human_size
from strongroom.client.listing import iter_tree, tree_relative_name
from strongroom.client.paths import LocalPath, RemotePath, Target, safe_join
from strongroom.client.progress import NullProgress, ProgressSink
from strongroom.client.sse import Encryption

__all__ = ["Copier", "CopyItem", "CopyResult"]


@dataclass(frozen=True)
class CopyItem:
    source: Target
    target: Target
    size: int


@dataclass(frozen=True)
class CopyResult:
    source: str
    target: str
    size: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "success",
            "source": self.source,
            "target": self.target,
            "size": self.size,
            "totalSize": self.size,
        }

    def to_text(self) -> str:
        return f"`{self.source}` -> `{self.target}` ({human_size(self.size)})"


def _transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]

    return TransferConfig(
        multipart_threshold=16 * 1024 * 1024,
        multipart_chunksize=16 * 1024 * 1024,
        max_concurrency=8,
        preferred_transfer_client="classic",
    )


class Copier:
    def __init__(
        self,
        conns: Connections,
        encryption: Encryption | None = None,
        progress: ProgressSink | None = None,
    ) -> None:
        self.conns = conns
        self.enc = encryption or Encryption()
        self.progress: ProgressSink = progress or NullProgress()
        self._config: Any = None

    @property
    def config(self) -> Any:
        if self._config is None:
            self._config = _transfer_config()
        return self._config

    # -- planning ------------------------------------------------------------------------------

    def plan(self, sources: Sequence[Target], target: Target, *, recursive: bool) -> list[CopyItem]:
        if not sources:
            raise UsageError("cp: no source given")
        if isinstance(target, RemotePath):
            target.require_bucket("cp")
        into = len(sources) > 1 or self._is_container(target)
        items: list[CopyItem] = []
        for source in sources:
            if isinstance(source, LocalPath) and isinstance(target, LocalPath):
                raise UsageError(f"cp: `{source}` and `{target}` are both local paths")
            if isinstance(source, LocalPath):
                items.extend(self._plan_local(source, target, into=into, recursive=recursive))
            else:
                items.extend(self._plan_remote(source, target, into=into, recursive=recursive))
        return items

    @staticmethod
    def _is_container(target: Target) -> bool:
        if isinstance(target, RemotePath):
            return target.is_dir
        return target.path.endswith(os.sep) or os.path.isdir(target.path)

    @staticmethod
    def _place(target: Target, relative: str, *, into: bool) -> Target:
        if isinstance(target, RemotePath):
            if not into and not target.is_dir:
                return target
            prefix = target.key if not target.key or target.key.endswith("/") else target.key + "/"
            return target.with_key(prefix + relative)
        if not into:
            return target
        return LocalPath(safe_join(target.path, relative))

    def _plan_local(
        self, source: LocalPath, target: Target, *, into: bool, recursive: bool
    ) -> Iterator[CopyItem]:
        path = source.path
        if os.path.isdir(path):
            if not recursive:
                raise UsageError(f"cp: `{path}` is a directory: use --recursive")
            base = path if path.endswith(os.sep) else os.path.dirname(path.rstrip(os.sep))
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(root, name)
                    relative = os.path.relpath(full, base or ".").replace(os.sep, "/")
                    yield CopyItem(
                        LocalPath(full),
                        self._place(target, relative, into=True),
                        os.path.getsize(full),
                    )
            return
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            raise NotFoundError(f"cp: `{path}`: no such file or directory", target=path) from None
        except OSError as exc:
            raise ClientError(f"cp: `{path}`: {exc.strerror}", target=path) from None
        yield CopyItem(source, self._place(target, os.path.basename(path), into=into), size)

    def _plan_remote(
        self, source: RemotePath, target: Target, *, into: bool, recursive: bool
    ) -> Iterator[CopyItem]:
        source.require_bucket("cp")
        client = self.conns.s3(source.alias)
        if recursive:
            found = False
            with translate("Unable to list", str(source)):
                objects = list(iter_tree(client, source))
            for obj in objects:
                key = obj["Key"]
                if key.endswith("/"):  # folder marker
                    continue
                found = True
                relative = tree_relative_name(source, key)
                yield CopyItem(
                    source.with_key(key),
                    self._place(target, relative, into=True),
                    int(obj.get("Size", 0)),
                )
            if not found:
                raise NotFoundError(
                    f"cp: nothing under `{source}`", code="NoSuchKey", target=str(source)
                )
            return
        source.require_key("cp")
        try:
            with translate("Unable to stat", str(source)):
                head = client.head_object(
                    Bucket=source.bucket, Key=source.key, **self.enc.read_args(source)
                )
        except ClientError as exc:
            if exc.code != "NotFound":
                raise
            raise NotFoundError(
                f"cp: `{source}`: Object does not exist (a prefix needs --recursive)",
                code="NoSuchKey",
                status=exc.status,
                target=str(source),
            ) from None
        size = int(head.get("ContentLength", 0))
        yield CopyItem(source, self._place(target, source.basename, into=into), size)

    # -- running -------------------------------------------------------------------------------

    def run(self, items: Sequence[CopyItem]) -> Iterator[CopyResult]:
        self.progress.start(sum(item.size for item in items), len(items))
        try:
            for item in items:
                self.progress.begin(posixpath.basename(str(item.source).rstrip("/")))
                started = time.monotonic()
                self._copy_one(item)
                yield CopyResult(
                    str(item.source), str(item.target), item.size, time.monotonic() - started
                )
        finally:
            self.progress.finish()

    def _copy_one(self, item: CopyItem) -> None:
        source, target = item.source, item.target
        callback = self.progress.advance
        if isinstance(source, LocalPath) and isinstance(target, RemotePath):
            extra = self.enc.write_args(target)
            content_type = mimetypes.guess_type(source.path)[0]
            extra["ContentType"] = content_type or "application/octet-stream"
            with translate("Unable to upload", str(target)):
                self.conns.s3(target.alias).upload_file(
                    source.path,
                    target.bucket,
                    target.key,
                    ExtraArgs=extra,
                    Callback=callback,
                    Config=self.config,
                )
        elif isinstance(source, RemotePath) and isinstance(target, LocalPath):
            parent = os.path.dirname(target.path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            with translate("Unable to download", str(source)):
                self.conns.s3(source.alias).download_file(
                    source.bucket,
                    source.key,
                    target.path,
                    ExtraArgs=self.enc.read_args(source),
                    Callback=callback,
                    Config=self.config,
                )
        elif isinstance(source, RemotePath) and isinstance(target, RemotePath):
            if source.alias == target.alias:
                self._server_side_copy(source, target)
            else:
                self._stream_copy(source, target)
        else:
            raise UsageError(f"cp: `{source}` and `{target}` are both local paths")

    def _server_side_copy(self, source: RemotePath, target: RemotePath) -> None:
        extra = {**self.enc.copy_source_args(source), **self.enc.write_args(target)}
        with translate("Unable to copy", f"{source} -> {target}"):
            self.conns.s3(target.alias).copy(
                {"Bucket": source.bucket, "Key": source.key},
                target.bucket,
                target.key,
                ExtraArgs=extra,
                Callback=self.progress.advance,
                Config=self.config,
            )

    def _stream_copy(self, source: RemotePath, target: RemotePath) -> None:
        with translate("Unable to read", str(source)):
            response = self.conns.s3(source.alias).get_object(
                Bucket=source.bucket, Key=source.key, **self.enc.read_args(source)
            )
        body = response["Body"]
        extra = self.enc.write_args(target)
        extra["ContentType"] = response.get("ContentType") or "application/octet-stream"
        if response.get("Metadata"):
            extra["Metadata"] = response["Metadata"]
        try:
            with translate("Unable to upload", str(target)):
                self.conns.s3(target.alias).upload_fileobj(
                    body,
                    target.bucket,
                    target.key,
                    ExtraArgs=extra,
                    Callback=self.progress.advance,
                    Config=self.config,
                )
        finally:
            body.close()
