"""Object operations: PUT, GET/HEAD, DELETE, DeleteObjects, CopyObject, ACL and tagging."""

from __future__ import annotations

import base64
import hashlib
import time
from urllib.parse import unquote, urlencode

from strongroom.net.streaming import Response
from strongroom.s3 import conditions, objectmeta
from strongroom.s3.bucket_api import owner_id, owner_xml, require_bucket
from strongroom.s3.context import Ctx
from strongroom.s3.errors import S3Error
from strongroom.s3.names import check_object_key
from strongroom.s3.payload import receive
from strongroom.s3.reader import OpenObject
from strongroom.s3.storage import BucketNotFoundError, ObjectRecord, Segment
from strongroom.s3.xmlio import document, element, iso8601, parse, text

MAX_DELETE_OBJECTS = 1000
MAX_XML_BODY = 2 * 1024 * 1024
OPEN_RETRIES = 3


def checksum_headers(segment_checksums: dict[str, str]) -> list[tuple[str, str]]:
    return [(f"x-amz-checksum-{alg.lower()}", value) for alg, value in segment_checksums.items()]


async def put_object(ctx: Ctx) -> Response:
    check_object_key(ctx.key)
    await require_bucket(ctx)
    meta = objectmeta.from_headers(ctx.headers)
    existing = None
    if "if-none-match" in ctx.headers or "if-match" in ctx.headers:
        existing = ctx.storage.get_object(ctx.bucket, ctx.key)
        _check_write_conditions(ctx, existing)
    received = await receive(ctx)
    record = ObjectRecord(
        bucket=ctx.bucket,
        key=ctx.key,
        size=received.segment.plain_size,
        etag=received.md5_hex,
        mtime=time.time(),
        meta=meta,
        segments=[received.segment],
    )
    await _publish(ctx, record)
    headers = [("ETag", f'"{received.md5_hex}"')]
    headers.extend(checksum_headers(received.checksums))
    return ctx.response(200, headers=headers)


def _check_write_conditions(ctx: Ctx, existing: ObjectRecord | None) -> None:
    """Conditional writes: If-None-Match: * and If-Match: etag."""
    if_none = ctx.headers.get("if-none-match")
    if if_none is not None:
        if if_none.strip() != "*":
            raise S3Error("NotImplemented", "If-None-Match only supports *")
        if existing is not None:
            raise S3Error("PreconditionFailed")
    if_match = ctx.headers.get("if-match")
    if if_match is not None:
        if existing is None:
            raise S3Error("NoSuchKey")
        conditions.evaluate(ctx.headers, existing.etag, existing.mtime, read=False)


async def _publish(ctx: Ctx, record: ObjectRecord) -> None:
    try:
        await ctx.services.write(ctx.storage.put_object, record)
    except BucketNotFoundError:
        ctx.storage.remove_data([s.file for s in record.segments if s.file])
        raise S3Error("NoSuchBucket", resource=ctx.bucket) from None


def load_object(ctx: Ctx) -> ObjectRecord:
    record = ctx.storage.get_object(ctx.bucket, ctx.key)
    if record is None:
        if not ctx.storage.bucket_exists(ctx.bucket):
            raise S3Error("NoSuchBucket", resource=ctx.bucket)
        raise S3Error("NoSuchKey")
    return record


def open_object(ctx: Ctx) -> OpenObject:
    """Load and open an object; retries when a concurrent overwrite removed its files."""
    for attempt in range(OPEN_RETRIES):
        record = load_object(ctx)
        try:
            return OpenObject(ctx.storage, record)
        except FileNotFoundError:
            if attempt == OPEN_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


async def get_object(ctx: Ctx, *, head: bool) -> Response:
    if ctx.key:
        check_object_key(ctx.key)
    opened = open_object(ctx)
    try:
        return _object_response(ctx, opened, head=head)
    except BaseException:
        opened.close()
        raise


def _object_response(ctx: Ctx, opened: OpenObject, *, head: bool) -> Response:
    record = opened.record
    etag = record.etag
    conditions.evaluate(ctx.headers, etag, record.mtime)
    headers = list(ctx.response_headers)
    headers.extend(objectmeta.response_headers(record, etag))
    size = record.size
    first, last = 0, size - 1
    status = 200
    part_number = ctx.query.get("partNumber")
    if part_number is not None:
        first, last = _part_range(record, part_number)
        headers.append(("x-amz-mp-parts-count", str(max(len(record.segments), 1))))
        if record.multipart or size > 0:
            status = 206
            headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
    else:
        byte_range = conditions.parse_range(ctx.headers.get("range"), size)
        if byte_range is not None:
            first, last = byte_range
            status = 206
            headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
    checksum_mode = ctx.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
    if checksum_mode and status == 200 and len(record.segments) == 1:
        headers.extend(checksum_headers(record.segments[0].checksums))
    objectmeta.apply_overrides(headers, ctx.query)
    length = last - first + 1 if size else 0
    if head or length == 0:
        opened.close()
        return Response(status, headers, b"", content_length=length)
    body = opened.plain_body(first, last)
    return Response(status, headers, body, content_length=length, on_done=opened.closer())


def _part_range(record: ObjectRecord, raw: str) -> tuple[int, int]:
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000")
    number = int(raw)
    if not record.multipart:
        if number != 1:
            raise S3Error("InvalidPartNumber")
        return 0, record.size - 1
    offset = 0
    for seg in record.segments:
        if seg.part_number == number:
            return offset, offset + seg.plain_size - 1
        offset += seg.plain_size
    raise S3Error("InvalidPartNumber")


async def delete_object(ctx: Ctx) -> Response:
    check_object_key(ctx.key)
    await require_bucket(ctx)
    await ctx.services.write(ctx.storage.delete_object, ctx.bucket, ctx.key)
    return ctx.response(204)


async def delete_objects(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    body = await ctx.request.body.read_all(MAX_XML_BODY)
    content_md5 = ctx.headers.get("content-md5")
    if content_md5 is not None:
        expected = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - protocol
        if content_md5 != expected:
            raise S3Error("BadDigest")
    root = parse(body)
    if root.tag != "Delete":
        raise S3Error("MalformedXML")
    quiet = text(root, "Quiet").lower() == "true"
    objects = root.findall("Object")
    if not objects or len(objects) > MAX_DELETE_OBJECTS:
        raise S3Error("MalformedXML")
    results: list[str] = []
    for obj in objects:
        key = text(obj, "Key")
        version = obj.find("VersionId")
        version_xml = element("VersionId", version.text or "") if version is not None else ""
        try:
            check_object_key(key)
            if version is not None and version.text not in ("null", None, ""):
                raise S3Error("NoSuchVersion")
            await ctx.services.write(ctx.storage.delete_object, ctx.bucket, key)
        except S3Error as exc:
            results.append(
                "<Error>"
                + element("Key", key)
                + version_xml
                + element("Code", exc.code)
                + element("Message", exc.message)
                + "</Error>"
            )
            continue
        if not quiet:
            results.append("<Deleted>" + element("Key", key) + version_xml + "</Deleted>")
    return ctx.response(200, document("DeleteResult", results), xml=True)


# -- CopyObject --


def parse_copy_source(ctx: Ctx) -> tuple[str, str]:
    raw = ctx.headers["x-amz-copy-source"]
    source, _, version = raw.partition("?")
    source = unquote(source).lstrip("/")
    bucket, _, key = source.partition("/")
    if not bucket or not key:
        raise S3Error("InvalidArgument", "Copy Source must mention the source bucket and key")
    if version and version.removeprefix("versionId=") not in ("null", ""):
        raise S3Error("NoSuchVersion")
    check_object_key(key)
    return bucket, key


def load_source(ctx: Ctx, bucket: str, key: str) -> ObjectRecord:
    record = ctx.storage.get_object(bucket, key)
    if record is None:
        if not ctx.storage.bucket_exists(bucket):
            raise S3Error("NoSuchBucket", resource=bucket)
        raise S3Error("NoSuchKey", resource=f"/{bucket}/{key}")
    conditions.evaluate(ctx.headers, record.etag, record.mtime, prefix="x-amz-copy-source-")
    return record


async def copy_object(ctx: Ctx) -> Response:
    check_object_key(ctx.key)
    await require_bucket(ctx)
    src_bucket, src_key = parse_copy_source(ctx)
    source = load_source(ctx, src_bucket, src_key)
    directive = ctx.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.")
    tagging_directive = ctx.headers.get("x-amz-tagging-directive", "COPY").upper()
    if directive == "REPLACE":
        meta = objectmeta.from_headers(ctx.headers)
        meta.pop(objectmeta.TAGGING, None)
    else:
        meta = objectmeta.public_items(source.meta)
    if tagging_directive == "REPLACE":
        meta.pop(objectmeta.TAGGING, None)
        if "x-amz-tagging" in ctx.headers:
            meta[objectmeta.TAGGING] = objectmeta.normalise_tagging(ctx.headers["x-amz-tagging"])
    else:
        meta.pop(objectmeta.TAGGING, None)
        if objectmeta.TAGGING in source.meta:
            meta[objectmeta.TAGGING] = source.meta[objectmeta.TAGGING]
    same = src_bucket == ctx.bucket and src_key == ctx.key
    if same and directive != "REPLACE":
        raise S3Error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect location "
            "or encryption attributes.",
        )
    now = time.time()
    if same:
        updated = await ctx.services.write(
            ctx.storage.update_object_meta, ctx.bucket, ctx.key, source.etag, meta, now
        )
        if not updated:
            raise S3Error("InternalError", "The source object changed during the copy; retry")
    else:
        segments = await ctx.services.blocking(_link_segments, ctx, source.segments)
        record = ObjectRecord(ctx.bucket, ctx.key, source.size, source.etag, now, meta, segments)
        await _publish(ctx, record)
    body = document(
        "CopyObjectResult",
        [element("LastModified", iso8601(now)), element("ETag", f'"{source.etag}"')],
    )
    return ctx.response(200, body, xml=True)


def _link_segments(ctx: Ctx, segments: list[Segment]) -> list[Segment]:
    """New names for the same immutable data: a hard link per file segment (no byte copied)."""
    out: list[Segment] = []
    created: list[str] = []
    try:
        for seg in segments:
            clone = Segment(
                seg.size,
                seg.plain_size,
                seg.etag,
                seg.part_number,
                None,
                seg.data,
                dict(seg.checksums),
            )
            if seg.file is not None:
                clone.file = ctx.storage.link_data(seg.file)
                created.append(clone.file)
            out.append(clone)
    except FileNotFoundError:
        ctx.storage.remove_data(created)
        raise S3Error("NoSuchKey", "The source object changed during the copy") from None
    return out


# -- ACL and tagging --


async def get_acl(ctx: Ctx) -> Response:
    load_object(ctx)
    grant = (
        "<AccessControlList><Grant>"
        '<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">'
        + element("ID", owner_id(ctx))
        + element("DisplayName", ctx.services.config.credentials.access_key)
        + "</Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList>"
    )
    return ctx.response(200, document("AccessControlPolicy", [owner_xml(ctx), grant]), xml=True)


async def put_acl(ctx: Ctx) -> Response:
    load_object(ctx)
    if ctx.headers.get("x-amz-acl", "private") != "private":
        raise S3Error("NotImplemented", "Only the private canned ACL is supported")
    await ctx.request.body.read_all(MAX_XML_BODY)
    return ctx.response(200)


async def get_tagging(ctx: Ctx) -> Response:
    record = load_object(ctx)
    tags = "".join(
        "<Tag>" + element("Key", k) + element("Value", v) + "</Tag>"
        for k, v in objectmeta.tags_of(record.meta)
    )
    return ctx.response(200, document("Tagging", [f"<TagSet>{tags}</TagSet>"]), xml=True)


async def put_tagging(ctx: Ctx) -> Response:
    record = load_object(ctx)
    root = parse(await ctx.request.body.read_all(MAX_XML_BODY))
    tag_set = root.find("TagSet")
    if root.tag != "Tagging" or tag_set is None:
        raise S3Error("MalformedXML")
    tags = [(text(t, "Key"), text(t, "Value")) for t in tag_set.findall("Tag")]
    objectmeta.validate_tags(tags)
    meta = dict(record.meta)
    meta[objectmeta.TAGGING] = urlencode(tags)
    await _update_meta(ctx, record, meta)
    return ctx.response(200)


async def delete_tagging(ctx: Ctx) -> Response:
    record = load_object(ctx)
    meta = dict(record.meta)
    meta.pop(objectmeta.TAGGING, None)
    await _update_meta(ctx, record, meta)
    return ctx.response(204)


async def _update_meta(ctx: Ctx, record: ObjectRecord, meta: dict[str, str]) -> None:
    ok = await ctx.services.write(
        ctx.storage.update_object_meta, ctx.bucket, ctx.key, record.etag, meta, record.mtime
    )
    if not ok:
        raise S3Error("NoSuchKey")
