"""ListObjects (v1, v2) and ListObjectVersions.

The walk seeks: keys come from the storage's ordered key range for the prefix, and when a key
rolls up into a common prefix the walk jumps past every key under that prefix with one new
seek. Cost grows with what is returned, not with the number of keys in the bucket.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from strongroom.crypto import sealing
from strongroom.net.streaming import Response
from strongroom.s3 import objectmeta, sse, sse_config
from strongroom.s3.bucket_api import owner_xml, require_bucket
from strongroom.s3.context import Ctx
from strongroom.s3.errors import S3Error
from strongroom.s3.storage import ListEntry, LocalStorage
from strongroom.s3.storage.local import key_successor
from strongroom.s3.xmlio import document, element, iso8601

MAX_KEYS = 1000


@dataclass(slots=True)
class Page:
    entries: list[ListEntry] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    next_marker: str = ""  # the last key or common prefix returned


def walk(
    storage: LocalStorage, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int
) -> Page:
    """Keys and common prefixes strictly after ``after``, up to ``max_keys`` of them together."""
    page = Page()
    count = 0
    start = after.encode()
    # A marker that is itself a common prefix means "after everything under it".
    if after and delimiter and after.startswith(prefix) and after.endswith(delimiter):
        rest = after[len(prefix) :]
        if rest.find(delimiter) == len(rest) - len(delimiter):
            start = key_successor(after.encode()) or start
            inclusive = True
        else:
            inclusive = False
    else:
        inclusive = False
    entries: Iterator[ListEntry] = storage.iter_objects(bucket, prefix, start, inclusive=inclusive)
    while True:
        entry = next(entries, None)
        if entry is None:
            return page
        key = entry.key
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                common = key[: cut + len(delimiter)]
                if not after or common > after:
                    if count == max_keys:
                        page.truncated = True
                        return page
                    page.prefixes.append(common)
                    page.next_marker = common
                    count += 1
                successor = key_successor(common.encode())
                if successor is None:
                    return page
                entries = storage.iter_objects(bucket, prefix, successor, inclusive=True)
                continue
        if count == max_keys:
            page.truncated = True
            return page
        page.entries.append(entry)
        page.next_marker = key
        count += 1


def list_page(
    storage: LocalStorage, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int
) -> Page:
    """A listing's page. max-keys=0 asks for nothing: an empty page that AWS and MinIO do not
    mark truncated (clients would otherwise loop on an empty continuation)."""
    if max_keys == 0:
        return Page()
    return walk(storage, bucket, prefix, delimiter, after, max_keys)


def _max_keys(ctx: Ctx) -> int:
    raw = ctx.query.get("max-keys", str(MAX_KEYS))
    try:
        value = int(raw)
    except ValueError:
        raise S3Error(
            "InvalidArgument", "Provided max-keys not an integer or within integer range"
        ) from None
    if value < 0:
        raise S3Error(
            "InvalidArgument", "Argument maxKeys must be an integer between 0 and 2147483647"
        )
    return min(value, MAX_KEYS)


def _encoding(ctx: Ctx) -> str:
    encoding = ctx.query.get("encoding-type", "")
    if encoding and encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request")
    return encoding


def _enc(value: str, encoding: str) -> str:
    return quote(value, safe="/") if encoding == "url" else value


async def client_etags(ctx: Ctx, entries: list[ListEntry]) -> list[str]:
    """The ETags clients see. SSE-S3 single-part objects store a sealed MD5: unsealing it costs
    one KMS decrypt per object (as in MinIO); other ETags need no key."""
    out: list[str] = []
    for entry in entries:
        kind = sse.kind_of(entry.meta)
        object_key = None
        if kind is sse.Kind.SSE_S3 and sealing.is_sealed_etag(entry.etag):
            object_key = await sse.unseal(
                ctx.services.config.kms, entry.meta, ctx.bucket, entry.key, None
            )
        out.append(sse.client_etag(entry.etag, kind, object_key))
    return out


def _contents(
    ctx: Ctx, entry: ListEntry, etag: str, encoding: str, owner: bool, metadata: bool = False
) -> str:
    parts = [
        "<Contents>",
        element("Key", _enc(entry.key, encoding)),
        element("LastModified", iso8601(entry.mtime)),
        element("ETag", f'"{etag}"'),
        element("Size", entry.size),
        element("StorageClass", "STANDARD"),
        objectmeta.checksum_listing(entry.meta),
    ]
    if owner:
        parts.append(owner_xml(ctx))
    if metadata:
        parts.append(_user_metadata(entry))
    parts.append("</Contents>")
    return "".join(parts)


# A metadata name becomes an element name: only names XML can carry are listed.
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*\Z")


def _canonical(name: str) -> str:
    """Go's canonical header form (x-amz-meta-foo -> X-Amz-Meta-Foo), as MinIO lists it."""
    return "-".join(word[:1].upper() + word[1:].lower() for word in name.split("-"))


def _user_metadata(entry: ListEntry) -> str:
    """MinIO's ListObjectsV2 extension ``metadata=true`` (minio-py ``include_user_meta``):
    the object's user metadata, content type and encryption per entry, and its tags."""
    items: list[tuple[str, str]] = []
    kind = sse.kind_of(entry.meta)
    if kind is sse.Kind.SSE_S3:
        items.append(("X-Amz-Server-Side-Encryption", sse_config.AES256))
    elif kind is sse.Kind.SSE_KMS:
        items.append(("X-Amz-Server-Side-Encryption", sse_config.AWS_KMS))
    elif kind is sse.Kind.SSE_C:
        items.append(("X-Amz-Server-Side-Encryption-Customer-Algorithm", sse_config.AES256))
    for name, value in entry.meta.items():
        if name.startswith(objectmeta.USER_PREFIX):
            items.append((_canonical(name), value))
    items.append(("content-type", entry.meta.get("content-type", objectmeta.DEFAULT_CONTENT_TYPE)))
    body = "".join(element(n, v) for n, v in items if _XML_NAME.match(n))
    out = f"<UserMetadata>{body}</UserMetadata>"
    tags = objectmeta.tags_of(entry.meta)
    if tags:
        out += element("UserTags", "&".join(f"{k}={v}" for k, v in tags))
    return out


def _prefixes(page: Page, encoding: str) -> list[str]:
    return [
        "<CommonPrefixes>" + element("Prefix", _enc(p, encoding)) + "</CommonPrefixes>"
        for p in page.prefixes
    ]


async def list_objects_v1(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    query = ctx.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    marker = query.get("marker", "")
    encoding = _encoding(ctx)
    max_keys = _max_keys(ctx)
    page = list_page(ctx.storage, ctx.bucket, prefix, delimiter, marker, max_keys)
    children = [
        element("Name", ctx.bucket),
        element("Prefix", _enc(prefix, encoding)),
        element("Marker", _enc(marker, encoding)),
        element("MaxKeys", max_keys),
    ]
    if delimiter:
        children.append(element("Delimiter", _enc(delimiter, encoding)))
    children.append(element("IsTruncated", page.truncated))
    if page.truncated and delimiter:
        children.append(element("NextMarker", _enc(page.next_marker, encoding)))
    if encoding:
        children.append(element("EncodingType", encoding))
    etags = await client_etags(ctx, page.entries)
    children.extend(
        _contents(ctx, e, t, encoding, True) for e, t in zip(page.entries, etags, strict=True)
    )
    children.extend(_prefixes(page, encoding))
    return ctx.response(200, document("ListBucketResult", children), xml=True)


def _encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect") from None


async def list_objects_v2(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    query = ctx.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    start_after = query.get("start-after", "")
    token = query.get("continuation-token")
    fetch_owner = query.get("fetch-owner", "").lower() == "true"
    metadata = query.get("metadata", "").lower() == "true"  # MinIO's extension
    encoding = _encoding(ctx)
    max_keys = _max_keys(ctx)
    after = _decode_token(token) if token is not None else start_after
    page = list_page(ctx.storage, ctx.bucket, prefix, delimiter, after, max_keys)
    children = [element("Name", ctx.bucket), element("Prefix", _enc(prefix, encoding))]
    if delimiter:
        children.append(element("Delimiter", _enc(delimiter, encoding)))
    children.append(element("MaxKeys", max_keys))
    children.append(element("KeyCount", len(page.entries) + len(page.prefixes)))
    children.append(element("IsTruncated", page.truncated))
    if token is not None:
        children.append(element("ContinuationToken", token))
    if page.truncated:
        children.append(element("NextContinuationToken", _encode_token(page.next_marker)))
    if start_after:
        children.append(element("StartAfter", _enc(start_after, encoding)))
    if encoding:
        children.append(element("EncodingType", encoding))
    etags = await client_etags(ctx, page.entries)
    children.extend(
        _contents(ctx, e, t, encoding, fetch_owner, metadata)
        for e, t in zip(page.entries, etags, strict=True)
    )
    children.extend(_prefixes(page, encoding))
    return ctx.response(200, document("ListBucketResult", children), xml=True)


async def list_object_versions(ctx: Ctx) -> Response:
    """Unversioned buckets: every object is its only version, with VersionId "null"."""
    query = ctx.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    key_marker = query.get("key-marker", "")
    version_marker = query.get("version-id-marker", "")
    encoding = _encoding(ctx)
    max_keys = _max_keys(ctx)
    if version_marker and not key_marker:
        raise S3Error(
            "InvalidArgument", "A version-id marker cannot be specified without a key marker."
        )
    after = key_marker
    page = list_page(ctx.storage, ctx.bucket, prefix, delimiter, after, max_keys)
    children = [
        element("Name", ctx.bucket),
        element("Prefix", _enc(prefix, encoding)),
        element("KeyMarker", _enc(key_marker, encoding)),
        element("VersionIdMarker", version_marker),
        element("MaxKeys", max_keys),
    ]
    if delimiter:
        children.append(element("Delimiter", _enc(delimiter, encoding)))
    children.append(element("IsTruncated", page.truncated))
    if page.truncated:
        children.append(element("NextKeyMarker", _enc(page.next_marker, encoding)))
        children.append(element("NextVersionIdMarker", "null"))
    if encoding:
        children.append(element("EncodingType", encoding))
    etags = await client_etags(ctx, page.entries)
    for entry, etag in zip(page.entries, etags, strict=True):
        children.append(
            "<Version>"
            + element("Key", _enc(entry.key, encoding))
            + element("VersionId", "null")
            + element("IsLatest", True)
            + element("LastModified", iso8601(entry.mtime))
            + element("ETag", f'"{etag}"')
            + element("Size", entry.size)
            + element("StorageClass", "STANDARD")
            + objectmeta.checksum_listing(entry.meta)
            + owner_xml(ctx)
            + "</Version>"
        )
    children.extend(_prefixes(page, encoding))
    return ctx.response(200, document("ListVersionsResult", children), xml=True)
