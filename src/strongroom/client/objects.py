"""``stat``, ``cat`` and ``rm`` of objects."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from strongroom.client.connection import Connections
from strongroom.client.errors import ClientError, NotFoundError, UsageError, translate
from strongroom.client.formatting import canonical_header, human_size, iso_date, text_date
from strongroom.client.listing import iter_tree
from strongroom.client.paths import RemotePath
from strongroom.client.sse import Encryption

__all__ = ["ObjectStat", "cat_object", "remove_object", "remove_tree", "stat_path"]

ENCRYPTION_PREFIX = "x-amz-server-side-encryption"
_METADATA_HEADERS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    "x-amz-storage-class",
    "x-amz-tagging-count",
    "x-amz-website-redirect-location",
)
CHUNK = 1 << 20


@dataclass(frozen=True)
class ObjectStat:
    url: str
    name: str
    type: str
    size: int = 0
    last_modified: datetime | None = None
    etag: str | None = None
    version_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    encryption: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "status": "success",
            "name": self.name,
            "url": self.url,
            "lastModified": iso_date(self.last_modified),
            "size": self.size,
            "etag": self.etag or "",
            "type": self.type,
            # mc puts the encryption headers among the metadata; "encryption" has them alone
            "metadata": {**self.metadata, **self.encryption},
            "encryption": dict(self.encryption),
        }
        if self.version_id:
            value["versionID"] = self.version_id
        return value

    def to_text(self) -> list[str]:
        """mc's layout: ``Name      : test.file`` ... ``Encrypted :`` and its headers."""
        lines = [f"{'Name':<10}: {self.name}"]
        if self.last_modified is not None:
            lines.append(f"{'Date':<10}: {text_date(self.last_modified)}")
        lines.append(f"{'Size':<10}: {human_size(self.size)}")
        if self.etag:
            lines.append(f"{'ETag':<10}: {self.etag}")
        if self.version_id:
            lines.append(f"{'VersionID':<10}: {self.version_id}")
        lines.append(f"{'Type':<10}: {self.type}")
        for title, headers in (("Metadata", self.metadata), ("Encrypted", self.encryption)):
            if headers:
                width = max(len(k) for k in headers)
                lines.append(f"{title:<10}:")
                lines.extend(f"  {k:<{width}}: {v}" for k, v in sorted(headers.items()))
        return lines


def _split_headers(headers: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    metadata: dict[str, str] = {}
    encryption: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith(ENCRYPTION_PREFIX):
            encryption[canonical_header(lower)] = value
        elif lower in _METADATA_HEADERS or lower.startswith("x-amz-meta-"):
            metadata[canonical_header(lower)] = value
    return metadata, encryption


def _stat_bucket(conns: Connections, path: RemotePath) -> ObjectStat:
    client = conns.s3(path.alias)
    with translate("Unable to stat", str(path)):
        response = client.head_bucket(Bucket=path.bucket)
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    created = None
    try:
        for bucket in client.list_buckets().get("Buckets", []):
            if bucket["Name"] == path.bucket:
                created = bucket.get("CreationDate")
    except Exception:  # noqa: S110 - the date is a nicety; head_bucket proved access
        pass
    encryption: dict[str, str] = {}
    try:
        config = client.get_bucket_encryption(Bucket=path.bucket)
        rules = config.get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
        for rule in rules:
            default = rule.get("ApplyServerSideEncryptionByDefault", {})
            if default.get("SSEAlgorithm"):
                encryption["X-Amz-Server-Side-Encryption"] = default["SSEAlgorithm"]
            if default.get("KMSMasterKeyID"):
                encryption["X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"] = default[
                    "KMSMasterKeyID"
                ]
    except Exception:  # noqa: S110 - no default encryption, or not supported by the server
        pass
    metadata = {}
    if headers.get("x-amz-bucket-region"):
        metadata["X-Amz-Bucket-Region"] = headers["x-amz-bucket-region"]
    return ObjectStat(
        url=str(path),
        name=f"{path.bucket}/",
        type="folder",
        last_modified=created,
        metadata=metadata,
        encryption=encryption,
    )


def stat_path(conns: Connections, path: RemotePath, enc: Encryption) -> ObjectStat:
    """Stat an object, or a bucket when ``path`` has no key."""
    path.require_bucket("stat")
    if not path.key:
        return _stat_bucket(conns, path)
    client = conns.s3(path.alias)
    try:
        with translate("Unable to stat", str(path)):
            response = client.head_object(Bucket=path.bucket, Key=path.key, **enc.read_args(path))
    except ClientError as exc:
        if exc.code == "NotFound":
            raise NotFoundError(
                f"Unable to stat `{path}`: Object does not exist",
                code="NoSuchKey",
                status=exc.status,
                target=str(path),
            ) from None
        if exc.code == "BadRequest" and enc.customer_key(path) is None:
            raise ClientError(
                f"Unable to stat `{path}`: the server refused the request; if the object is "
                "encrypted with SSE-C, pass its key with --enc-c",
                code=exc.code,
                status=exc.status,
                target=str(path),
            ) from None
        raise
    headers: dict[str, str] = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    metadata, encryption = _split_headers(headers)
    return ObjectStat(
        url=str(path),
        name=posixpath.basename(path.key.rstrip("/")),
        type="file",
        size=int(response.get("ContentLength", 0)),
        last_modified=response.get("LastModified"),
        etag=str(response.get("ETag", "")).strip('"') or None,
        version_id=response.get("VersionId"),
        metadata=metadata,
        encryption=encryption,
    )


def cat_object(conns: Connections, path: RemotePath, enc: Encryption, out: IO[bytes]) -> int:
    """Write the object's bytes to ``out``; the number of bytes."""
    path.require_key("cat")
    client = conns.s3(path.alias)
    written = 0
    with translate("Unable to read", str(path)):
        response = client.get_object(Bucket=path.bucket, Key=path.key, **enc.read_args(path))
        body = response["Body"]
        try:
            for chunk in body.iter_chunks(CHUNK):
                out.write(chunk)
                written += len(chunk)
        finally:
            body.close()
    out.flush()
    return written


def remove_object(conns: Connections, path: RemotePath) -> str:
    """Remove one object; an object that does not exist is an error (as in mc)."""
    path.require_key("rm")
    client = conns.s3(path.alias)
    try:
        with translate("Unable to remove", str(path)):
            client.head_object(Bucket=path.bucket, Key=path.key)
    except ClientError as exc:
        if exc.code == "NotFound":
            raise NotFoundError(
                f"Unable to remove `{path}`: Object does not exist",
                code="NoSuchKey",
                status=exc.status,
                target=str(path),
            ) from None
        if exc.code in ("NoSuchBucket",) or exc.exit_code != 1:
            raise
        # e.g. 400 for an SSE-C object without its key: it exists, go on
    with translate("Unable to remove", str(path)):
        client.delete_object(Bucket=path.bucket, Key=path.key)
    return str(path)


def remove_tree(conns: Connections, path: RemotePath) -> Iterator[str]:
    """Remove ``path``'s object and everything under ``path/``; yields each removed URL."""
    client = conns.s3(path.alias)
    batch: list[str] = []
    with translate("Unable to remove", str(path)):
        for obj in iter_tree(client, path):
            batch.append(obj["Key"])
            if len(batch) == 1000:
                yield from _delete_batch(client, path, batch)
                batch = []
        if batch:
            yield from _delete_batch(client, path, batch)


def _delete_batch(client: Any, path: RemotePath, keys: list[str]) -> Iterator[str]:
    response = client.delete_objects(
        Bucket=path.bucket,
        Delete={"Objects": [{"Key": k} for k in keys], "Quiet": False},
    )
    errors = response.get("Errors", [])
    for deleted in response.get("Deleted", []):
        yield str(path.with_key(deleted["Key"]))
    if errors:
        first = errors[0]
        raise ClientError(
            f"Unable to remove `{path.with_key(first.get('Key', ''))}`: "
            f"{first.get('Message', 'failed')}",
            code=first.get("Code"),
            target=str(path),
        )


def check_recursive_remove(recursive: bool, force: bool) -> None:
    if recursive and not force:
        raise UsageError(
            "rm: removing recursively requires --force: this operation is irreversible"
        )
