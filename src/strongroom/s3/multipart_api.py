"""Multipart uploads: create, upload part (and part copy), complete, abort, list."""

from __future__ import annotations

import hashlib
import os
import time

from strongroom.net.streaming import Response
from strongroom.s3 import conditions, objectmeta
from strongroom.s3.bucket_api import owner_xml, require_bucket
from strongroom.s3.context import Ctx
from strongroom.s3.errors import S3Error
from strongroom.s3.names import check_object_key
from strongroom.s3.object_api import checksum_headers, load_source, parse_copy_source
from strongroom.s3.payload import MAX_PART_SIZE, receive
from strongroom.s3.reader import OpenObject
from strongroom.s3.storage import (
    BucketNotFoundError,
    ObjectRecord,
    Segment,
    UploadNotFoundError,
    UploadRecord,
)
from strongroom.s3.storage.local import INLINE_LIMIT
from strongroom.s3.xmlio import document, element, iso8601, parse, text

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10000
MAX_COMPLETE_BODY = 4 * 1024 * 1024


def _upload(ctx: Ctx) -> UploadRecord:
    upload_id = ctx.query.get("uploadId", "")
    try:
        upload = ctx.storage.get_upload(upload_id)
    except UploadNotFoundError:
        if not ctx.storage.bucket_exists(ctx.bucket):
            raise S3Error("NoSuchBucket", resource=ctx.bucket) from None
        raise S3Error("NoSuchUpload") from None
    if upload.bucket != ctx.bucket or upload.key != ctx.key:
        raise S3Error("NoSuchUpload")
    return upload


def _part_number(ctx: Ctx) -> int:
    raw = ctx.query.get("partNumber", "")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PARTS:
        raise S3Error(
            "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive"
        )
    return int(raw)


async def create_upload(ctx: Ctx) -> Response:
    check_object_key(ctx.key)
    await require_bucket(ctx)
    meta = objectmeta.from_headers(ctx.headers)
    try:
        upload = await ctx.services.write(ctx.storage.create_upload, ctx.bucket, ctx.key, meta)
    except BucketNotFoundError:
        raise S3Error("NoSuchBucket", resource=ctx.bucket) from None
    body = document(
        "InitiateMultipartUploadResult",
        [
            element("Bucket", ctx.bucket),
            element("Key", ctx.key),
            element("UploadId", upload.upload_id),
        ],
    )
    return ctx.response(200, body, xml=True)


async def upload_part(ctx: Ctx) -> Response:
    number = _part_number(ctx)
    upload = _upload(ctx)
    received = await receive(ctx, part_number=number, max_size=MAX_PART_SIZE)
    await _store_part(ctx, upload, received.segment)
    headers = [("ETag", f'"{received.md5_hex}"')]
    headers.extend(checksum_headers(received.checksums))
    return ctx.response(200, headers=headers)


async def _store_part(ctx: Ctx, upload: UploadRecord, segment: Segment) -> None:
    try:
        await ctx.services.write(ctx.storage.put_part, upload.upload_id, segment)
    except UploadNotFoundError:
        ctx.storage.remove_data([segment.file] if segment.file else [])
        raise S3Error("NoSuchUpload") from None


async def upload_part_copy(ctx: Ctx) -> Response:
    number = _part_number(ctx)
    upload = _upload(ctx)
    src_bucket, src_key = parse_copy_source(ctx)
    source = load_source(ctx, src_bucket, src_key)
    first, last = 0, source.size - 1
    raw_range = ctx.headers.get("x-amz-copy-source-range")
    if raw_range:
        first, last = conditions.parse_copy_range(raw_range, source.size)
    length = max(last - first + 1, 0)
    if length > MAX_PART_SIZE:
        raise S3Error("EntityTooLarge")
    segment = await ctx.services.blocking(_copy_range, ctx, source, first, last, number)
    await _store_part(ctx, upload, segment)
    now = time.time()
    body = document(
        "CopyPartResult",
        [element("LastModified", iso8601(now)), element("ETag", f'"{segment.etag}"')],
    )
    return ctx.response(200, body, xml=True)


def _copy_range(ctx: Ctx, source: ObjectRecord, first: int, last: int, number: int) -> Segment:
    """Copy plaintext bytes first..last of ``source`` into a new segment. Blocking."""
    opened = OpenObject(ctx.storage, source)
    md5 = hashlib.md5()  # noqa: S324 - the ETag is MD5 by protocol
    length = last - first + 1 if source.size else 0
    writer = ctx.storage.new_data() if length > INLINE_LIMIT else None
    inline = bytearray()
    try:
        body = opened.plain_body(first, last) if length else b""
        if isinstance(body, bytes):
            md5.update(body)
            if writer is None:
                inline += body
            else:
                writer.write(body)
        else:
            for region in body:
                fd = region.file.fileno()
                offset, remaining = region.offset, region.count
                while remaining:
                    chunk = os.pread(fd, min(remaining, 1 << 20), offset)
                    if not chunk:
                        raise S3Error("InternalError", "source object truncated")
                    md5.update(chunk)
                    if writer is None:
                        inline += chunk
                    else:
                        writer.write(chunk)
                    offset += len(chunk)
                    remaining -= len(chunk)
        segment = Segment(length, length, md5.hexdigest(), number)
        if writer is None:
            segment.data = bytes(inline)
        else:
            writer.commit()
            segment.file = writer.name
        return segment
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    finally:
        opened.close()


async def complete_upload(ctx: Ctx) -> Response:
    upload = _upload(ctx)
    root = parse(await ctx.request.body.read_all(MAX_COMPLETE_BODY))
    if root.tag != "CompleteMultipartUpload":
        raise S3Error("MalformedXML")
    requested: list[tuple[int, str]] = []
    for part in root.findall("Part"):
        raw_number = text(part, "PartNumber")
        if not raw_number.isdigit():
            raise S3Error("MalformedXML")
        requested.append((int(raw_number), text(part, "ETag").strip().strip('"')))
    if not requested:
        raise S3Error("MalformedXML", "You must specify at least one part")
    numbers = [n for n, _ in requested]
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
        raise S3Error("InvalidPartOrder")
    stored = {p.segment.part_number: p.segment for p in ctx.storage.list_parts(upload.upload_id)}
    segments: list[Segment] = []
    for index, (number, etag) in enumerate(requested):
        segment = stored.get(number)
        if segment is None or segment.etag != etag:
            raise S3Error("InvalidPart")
        if index < len(requested) - 1 and segment.plain_size < MIN_PART_SIZE:
            raise S3Error("EntityTooSmall")
        segments.append(segment)
    digest = hashlib.md5(b"".join(bytes.fromhex(s.etag) for s in segments))  # noqa: S324
    etag = f"{digest.hexdigest()}-{len(segments)}"
    size = sum(s.plain_size for s in segments)
    record = ObjectRecord(ctx.bucket, ctx.key, size, etag, time.time(), dict(upload.meta), segments)
    if len(segments) == 1 and segments[0].data is not None:
        pass  # a single small part stays inline
    elif any(s.data is not None for s in segments):
        record.segments = await ctx.services.blocking(_spill_inline_parts, ctx, segments)
    try:
        await ctx.services.write(ctx.storage.complete_upload, upload.upload_id, record)
    except UploadNotFoundError:
        raise S3Error("NoSuchUpload") from None
    except BucketNotFoundError:
        raise S3Error("NoSuchBucket", resource=ctx.bucket) from None
    location = f"/{ctx.bucket}/{ctx.key}"
    body = document(
        "CompleteMultipartUploadResult",
        [
            element("Location", location),
            element("Bucket", ctx.bucket),
            element("Key", ctx.key),
            element("ETag", f'"{etag}"'),
        ],
    )
    return ctx.response(200, body, xml=True)


def _spill_inline_parts(ctx: Ctx, segments: list[Segment]) -> list[Segment]:
    """Objects of several parts keep each part in a file; small inline parts move out. Blocking."""
    out: list[Segment] = []
    for seg in segments:
        if seg.data is None:
            out.append(seg)
            continue
        writer = ctx.storage.new_data()
        try:
            writer.write(seg.data)
            writer.commit()
        except BaseException:
            writer.discard()
            raise
        out.append(
            Segment(
                seg.size,
                seg.plain_size,
                seg.etag,
                seg.part_number,
                writer.name,
                None,
                seg.checksums,
            )
        )
    return out


async def abort_upload(ctx: Ctx) -> Response:
    upload = _upload(ctx)
    try:
        await ctx.services.write(ctx.storage.abort_upload, upload.upload_id)
    except UploadNotFoundError:
        raise S3Error("NoSuchUpload") from None
    return ctx.response(204)


async def list_parts(ctx: Ctx) -> Response:
    upload = _upload(ctx)
    raw_max = ctx.query.get("max-parts", "1000")
    raw_marker = ctx.query.get("part-number-marker", "0") or "0"
    if not raw_max.isdigit() or not raw_marker.isdigit():
        raise S3Error("InvalidArgument", "max-parts and part-number-marker must be integers")
    max_parts = min(int(raw_max), 1000)
    marker = int(raw_marker)
    parts = ctx.storage.list_parts(upload.upload_id, after=marker, limit=max_parts + 1)
    truncated = len(parts) > max_parts
    parts = parts[:max_parts]
    children = [
        element("Bucket", ctx.bucket),
        element("Key", ctx.key),
        element("UploadId", upload.upload_id),
        owner_xml(ctx).replace("<Owner>", "<Initiator>").replace("</Owner>", "</Initiator>"),
        owner_xml(ctx),
        element("StorageClass", "STANDARD"),
        element("PartNumberMarker", marker),
        element("NextPartNumberMarker", parts[-1].segment.part_number if parts else 0),
        element("MaxParts", max_parts),
        element("IsTruncated", truncated),
    ]
    for part in parts:
        seg = part.segment
        children.append(
            "<Part>"
            + element("PartNumber", seg.part_number)
            + element("LastModified", iso8601(part.mtime))
            + element("ETag", f'"{seg.etag}"')
            + element("Size", seg.plain_size)
            + "".join(element(f"Checksum{alg}", v) for alg, v in seg.checksums.items())
            + "</Part>"
        )
    return ctx.response(200, document("ListPartsResult", children), xml=True)


async def list_uploads(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    query = ctx.query
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    key_marker = query.get("key-marker", "")
    upload_id_marker = query.get("upload-id-marker", "")
    raw_max = query.get("max-uploads", "1000")
    if not raw_max.isdigit():
        raise S3Error("InvalidArgument", "max-uploads must be an integer")
    max_uploads = min(int(raw_max), 1000)
    uploads = ctx.storage.list_uploads(
        ctx.bucket, prefix, key_marker, upload_id_marker, max_uploads
    )
    children = [
        element("Bucket", ctx.bucket),
        element("KeyMarker", key_marker),
        element("UploadIdMarker", upload_id_marker),
    ]
    entries: list[str] = []
    prefixes: list[str] = []
    truncated = False
    last_key, last_id = "", ""
    for upload in uploads:
        if delimiter:
            cut = upload.key.find(delimiter, len(prefix))
            if cut >= 0:
                common = upload.key[: cut + len(delimiter)]
                if common not in prefixes:
                    if len(entries) + len(prefixes) >= max_uploads:
                        truncated = True
                        break
                    prefixes.append(common)
                continue
        if len(entries) + len(prefixes) >= max_uploads:
            truncated = True
            break
        last_key, last_id = upload.key, upload.upload_id
        entries.append(
            "<Upload>"
            + element("Key", upload.key)
            + element("UploadId", upload.upload_id)
            + owner_xml(ctx).replace("<Owner>", "<Initiator>").replace("</Owner>", "</Initiator>")
            + owner_xml(ctx)
            + element("StorageClass", "STANDARD")
            + element("Initiated", iso8601(upload.initiated))
            + "</Upload>"
        )
    children.append(element("NextKeyMarker", last_key))
    children.append(element("NextUploadIdMarker", last_id))
    children.append(element("MaxUploads", max_uploads))
    if prefix:
        children.append(element("Prefix", prefix))
    if delimiter:
        children.append(element("Delimiter", delimiter))
    children.append(element("IsTruncated", truncated))
    children.extend(entries)
    children.extend(f"<CommonPrefixes>{element('Prefix', p)}</CommonPrefixes>" for p in prefixes)
    return ctx.response(200, document("ListMultipartUploadsResult", children), xml=True)
