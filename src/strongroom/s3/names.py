"""Bucket and object name rules."""

from __future__ import annotations

import ipaddress
import re
import uuid

from strongroom.s3.errors import S3Error

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1024


def check_bucket_name(name: str) -> None:
    """AWS's rules for new buckets; InvalidBucketName otherwise."""
    if not _BUCKET_RE.match(name) or ".." in name or ".-" in name or "-." in name:
        raise S3Error("InvalidBucketName", resource=name)
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        raise S3Error("InvalidBucketName", resource=name)
    if name.startswith("xn--") or name.endswith("-s3alias"):
        raise S3Error("InvalidBucketName", resource=name)


def valid_existing_bucket_name(name: str) -> bool:
    """Lenient check for addressing existing buckets (legacy names allowed)."""
    return 3 <= len(name) <= 63 and re.match(r"^[A-Za-z0-9._-]+$", name) is not None


def check_object_key(key: str) -> None:
    """Keys are opaque strings to us (they never become paths), but bounded and NUL-free."""
    if not key:
        raise S3Error("InvalidArgument", "Object name cannot be empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError")
    if "\x00" in key:
        raise S3Error("InvalidArgument", "Object name contains a NUL character")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise S3Error("InvalidArgument", "Object name is not valid UTF-8") from None


def is_other_version(version_id: str | None) -> bool:
    """Whether a ``versionId`` names a version other than the one every object has ("null").

    Buckets are unversioned, so such a version never exists. A malformed id is
    InvalidArgument, as in MinIO (whose version ids are UUIDs); an absent or empty id, or
    "null", is the object itself.
    """
    if version_id is None or version_id in ("", "null"):
        return False
    try:
        uuid.UUID(version_id)
    except ValueError:
        raise S3Error("InvalidArgument", "Invalid version id specified") from None
    return True
