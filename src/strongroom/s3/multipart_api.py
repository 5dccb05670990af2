"""Multipart uploads: create, upload part (and part copy), complete, abort, list."""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Iterator

from strongroom.crypto import dare
from strongroom.net.streaming import Response
from strongroom.s3 import checksums, conditions, objectmeta, sse
from strongroom.s3.bucket_api import owner_xml, require_bucket
from strongroom.s3.context import Ctx
from strongroom.s3.errors import S3Error
from strongroom.s3.names import check_object_key
from strongroom.s3.object_api import (
    check_copy_conditions,
    checksum_headers,
    condition_error,
    finish_segment,
    load_source,
    needs_md5,
    parse_copy_source,
    requested_sse,
    source_customer_key,
    unseal_for_read,
    write_condition,
)
from strongroom.s3.payload import MAX_PART_SIZE, read_body, receive, store_plaintext
from strongroom.s3.reader import OpenObject
from strongroom.s3.storage import (
    BucketNotFoundError,
    ObjectRecord,
    Segment,
    UploadNotFoundError,
    UploadRecord,
    WriteConditionError,
)
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
    checksum_headers_out = _checksum_choice(ctx, meta)
    requested = await requested_sse(ctx)
    object_key = None
    if requested.kind is not sse.Kind.NONE:
        kms = ctx.services.config.kms
        object_key = await sse.new_object_key(kms, requested, ctx.bucket, ctx.key)
        meta.update(object_key.meta)
        meta[sse.M_MULTIPART] = ""
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
    headers = sse.response_headers(object_key, meta) + checksum_headers_out
    return ctx.response(200, body, headers, xml=True)


def _checksum_choice(ctx: Ctx, meta: dict[str, str]) -> list[tuple[str, str]]:
    """x-amz-checksum-algorithm/-type of CreateMultipartUpload, remembered with the upload."""
    raw = ctx.headers.get("x-amz-checksum-algorithm")
    if not raw:
        return []
    algorithm = raw.strip().lower()
    if not checksums.supported(algorithm):
        raise S3Error("InvalidRequest", f"Checksum algorithm {raw} is not supported.")
    default = "FULL_OBJECT" if algorithm == "crc64nvme" else "COMPOSITE"
    kind = ctx.headers.get("x-amz-checksum-type", default).strip().upper()
    if kind not in ("COMPOSITE", "FULL_OBJECT"):
        raise S3Error("InvalidRequest", "The x-amz-checksum-type header is invalid.")
    if (kind == "FULL_OBJECT" and not checksums.is_crc(algorithm)) or (
        kind == "COMPOSITE" and algorithm == "crc64nvme"
    ):
        raise S3Error(
            "InvalidRequest", f"The {kind} checksum type cannot be used with {algorithm.upper()}."
        )
    meta[objectmeta.CHECKSUM_ALGORITHM] = algorithm
    meta[objectmeta.CHECKSUM_TYPE] = kind
    return [("x-amz-checksum-algorithm", algorithm.upper()), ("x-amz-checksum-type", kind)]


async def upload_key(
    ctx: Ctx, upload: UploadRecord, *, complete: bool = False
) -> sse.ObjectKey | None:
    """The object key of an encrypted upload (SSE-C: from this request's headers).

    A part that carries an SSE-C key for an upload that was not initiated with SSE-C is refused
    (AWS's 400) rather than silently stored under another encryption than the client asked for.
    CompleteMultipartUpload without the key of an SSE-C upload is MinIO's missing-key error.
    """
    kind = sse.kind_of(upload.meta)
    customer = sse.parse_customer_key(ctx.headers)
    if kind is not sse.Kind.SSE_C:
        if customer is not None and not complete:
            raise S3Error("InvalidRequest", sse.MSG_PART_NEEDS_KEY)
        customer = None
    elif customer is None:
        if complete:
            raise S3Error("InvalidArgument", sse.MSG_MISSING_KEY)
        raise S3Error("InvalidRequest", sse.MSG_PART_NEEDS_KEY)
    if kind is sse.Kind.NONE:
        return None
    return await sse.unseal(ctx.services.config.kms, upload.meta, ctx.bucket, ctx.key, customer)


async def upload_part(ctx: Ctx) -> Response:
    number = _part_number(ctx)
    upload = _upload(ctx)
    _check_part_algorithm(ctx, upload)
    object_key = await upload_key(ctx, upload)
    # A fresh random nonce per part upload: a re-uploaded part never reuses (key, nonce).
    transform = dare.DareEncryptor(object_key.part_key(number)) if object_key else None
    received = await receive(
        ctx,
        transform=transform,
        part_number=number,
        max_size=MAX_PART_SIZE,
        md5=needs_md5(ctx, object_key),
        also=_upload_algorithms(upload),
    )
    etag = finish_segment(ctx, received, object_key)
    await _store_part(ctx, upload, received.segment)
    headers = [("ETag", f'"{etag}"')]
    headers.extend(checksum_headers(received.checksums))
    headers.extend(sse.response_headers(object_key, upload.meta))
    return ctx.response(200, headers=headers)


def _check_part_algorithm(ctx: Ctx, upload: UploadRecord) -> None:
    """A part of an upload created with a checksum algorithm must carry that algorithm's
    checksum (AWS; a FULL_OBJECT upload's parts may carry none, the server computes it)."""
    algorithm = upload.meta.get(objectmeta.CHECKSUM_ALGORITHM)
    if not algorithm:
        return
    sent = checksums.sent_algorithm(ctx.headers)
    if sent is None and upload.meta.get(objectmeta.CHECKSUM_TYPE) == "FULL_OBJECT":
        return
    if sent != algorithm:
        raise S3Error(
            "InvalidRequest",
            f"Checksum Type mismatch occurred, expected checksum Type: {algorithm}, "
            f"actual checksum Type: {sent or 'null'}",
        )


def _upload_algorithms(upload: UploadRecord) -> tuple[str, ...]:
    algorithm = upload.meta.get(objectmeta.CHECKSUM_ALGORITHM)
    return (algorithm,) if algorithm else ()


async def _store_part(ctx: Ctx, upload: UploadRecord, segment: Segment) -> None:
    try:
        await ctx.services.write(ctx.storage.put_part, upload.upload_id, segment)
    except UploadNotFoundError:
        ctx.storage.remove_data([segment.file] if segment.file else [])
        raise S3Error("NoSuchUpload") from None


async def upload_part_copy(ctx: Ctx) -> Response:
    number = _part_number(ctx)
    upload = _upload(ctx)
    if sse.H_SSE in ctx.headers or sse.H_KMS_KEY in ctx.headers:
        raise S3Error("NotImplemented", "SSE-KMS headers are not supported on UploadPartCopy")
    object_key = await upload_key(ctx, upload)
    src_bucket, src_key = parse_copy_source(ctx)
    source = load_source(ctx, src_bucket, src_key)
    await check_copy_conditions(ctx, source, src_bucket, src_key)
    src_customer = source_customer_key(ctx, source)
    source_key = await unseal_for_read(ctx, source, src_bucket, src_key, src_customer)
    first, last = 0, source.size - 1
    raw_range = ctx.headers.get("x-amz-copy-source-range")
    if raw_range:
        first, last = conditions.parse_copy_range(raw_range, source.size)
    if last - first + 1 > MAX_PART_SIZE:
        raise S3Error("EntityTooLarge")
    opened = OpenObject(ctx.storage, source)
    try:
        transform = dare.DareEncryptor(object_key.part_key(number)) if object_key else None
        try:
            received = await store_plaintext(
                ctx,
                opened.plaintext(source_key, first, last),
                transform=transform,
                part_number=number,
                algorithms=_upload_algorithms(upload),
            )
        except dare.DareError:
            raise S3Error(
                "InternalError", "The source object was modified and may be compromised"
            ) from None
    finally:
        opened.close()
    etag = finish_segment(ctx, received, object_key)
    await _store_part(ctx, upload, received.segment)
    body = document(
        "CopyPartResult",
        [
            element("LastModified", iso8601(time.time())),
            element("ETag", f'"{etag}"'),
            *(element(f"Checksum{alg}", v) for alg, v in received.checksums.items()),
        ],
    )
    return ctx.response(200, body, sse.response_headers(object_key, upload.meta), xml=True)


async def complete_upload(ctx: Ctx) -> Response:
    upload = _upload(ctx)
    root = parse(await read_body(ctx, MAX_COMPLETE_BODY, body_checksums=False))
    if root.tag != "CompleteMultipartUpload":
        raise S3Error("MalformedXML")
    condition = await write_condition(ctx)
    algorithm = upload.meta.get(objectmeta.CHECKSUM_ALGORITHM, "")
    requested: list[tuple[int, str]] = []
    claimed: list[str] = []
    for part in root.findall("Part"):
        raw_number = text(part, "PartNumber")
        if not raw_number.isdigit():
            raise S3Error("MalformedXML")
        requested.append((int(raw_number), text(part, "ETag").strip().strip('"')))
        claimed.append(text(part, f"Checksum{algorithm.upper()}") if algorithm else "")
    if not requested:
        raise S3Error("MalformedXML", "You must specify at least one part")
    numbers = [n for n, _ in requested]
    if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
        raise S3Error("InvalidPartOrder")
    stored = {p.segment.part_number: p.segment for p in ctx.storage.list_parts(upload.upload_id)}
    kind = sse.kind_of(upload.meta)
    object_key = None
    # SSE-S3 part ETags are sealed MD5s, and sealed part checksums need the key too.
    # An SSE-C key sent with Complete is verified even when it is not needed.
    if (
        kind is sse.Kind.SSE_S3
        or (algorithm and kind is not sse.Kind.NONE)
        or (kind is sse.Kind.SSE_C and sse.parse_customer_key(ctx.headers) is not None)
    ):
        object_key = await upload_key(ctx, upload, complete=True)
    segments: list[Segment] = []
    client_etags: list[str] = []
    for index, (number, etag) in enumerate(requested):
        segment = stored.get(number)
        if segment is None:
            raise S3Error("InvalidPart")
        client_etag = sse.client_etag(segment.etag, kind, object_key)
        if client_etag != etag:
            raise S3Error("InvalidPart")
        if index < len(requested) - 1 and segment.plain_size < MIN_PART_SIZE:
            raise S3Error("EntityTooSmall")
        segments.append(segment)
        client_etags.append(client_etag)
    digest = hashlib.md5(b"".join(bytes.fromhex(e) for e in client_etags))  # noqa: S324
    etag = f"{digest.hexdigest()}-{len(segments)}"
    size = sum(s.plain_size for s in segments)
    meta = dict(upload.meta)
    result_checksums: list[str] = []
    if algorithm:
        value, checksum_type = _object_checksum(
            algorithm,
            upload,
            segments,
            claimed,
            object_key,
            ctx.headers.get(checksums.checksum_header(algorithm)),
        )
        plain = {algorithm.upper(): value}
        kept = sse.seal_checksums(object_key, plain) if object_key is not None else plain
        meta[objectmeta.CHECKSUMS] = json.dumps(kept)
        result_checksums = [
            element(f"Checksum{algorithm.upper()}", value),
            element("ChecksumType", checksum_type),
        ]
    record = ObjectRecord(ctx.bucket, ctx.key, size, etag, time.time(), meta, segments)
    if len(segments) == 1 and segments[0].data is not None:
        pass  # a single small part stays inline
    elif any(s.data is not None for s in segments):
        record.segments = await ctx.services.blocking(_spill_inline_parts, ctx, segments)
    commit = functools.partial(
        ctx.storage.complete_upload, if_absent=condition.if_absent, if_etag=condition.if_etag
    )
    try:
        await ctx.services.write(commit, upload.upload_id, record)
    except UploadNotFoundError:
        raise S3Error("NoSuchUpload") from None
    except BucketNotFoundError:
        raise S3Error("NoSuchBucket", resource=ctx.bucket) from None
    except WriteConditionError as exc:
        part_files = {s.file for s in segments}
        ctx.storage.remove_data(
            [s.file for s in record.segments if s.file and s.file not in part_files]
        )
        raise condition_error(exc) from None
    location = f"/{ctx.bucket}/{ctx.key}"
    body = document(
        "CompleteMultipartUploadResult",
        [
            element("Location", location),
            element("Bucket", ctx.bucket),
            element("Key", ctx.key),
            element("ETag", f'"{etag}"'),
            *result_checksums,
        ],
    )
    # AWS names the encryption on Complete too (MinIO does not); never the SSE-KMS context.
    headers = [
        (name, value)
        for name, value in sse.response_headers(object_key, upload.meta)
        if name != sse.H_KMS_CONTEXT
    ]
    return ctx.response(200, body, headers, xml=True)


def _object_checksum(
    algorithm: str,
    upload: UploadRecord,
    segments: list[Segment],
    claimed: list[str],
    object_key: sse.ObjectKey | None,
    expected: str | None,
) -> tuple[str, str]:
    """The object checksum of a multipart upload from its parts' checksums, with AWS's checks
    of what the Complete request claims, in AWS's order (answers recorded against AWS):

    - a COMPOSITE upload needs every part's checksum in the request (``InvalidRequest``;
      FULL_OBJECT may leave them out); a malformed one is ``InvalidArgument``;
    - the whole-object ``x-amz-checksum-ALG`` header (COMPOSITE: without ``-N``) is checked
      against the claimed part checksums (``BadDigest``, algorithm in lower case);
    - then each claimed part checksum against the stored one (``InvalidPart``).
    """
    name = algorithm.upper()
    checksum_type = upload.meta.get(objectmeta.CHECKSUM_TYPE, "COMPOSITE")
    stored = [sse.open_checksums(object_key, seg.checksums).get(name) for seg in segments]
    used: list[str] = []
    for segment, client_value, stored_value in zip(segments, claimed, stored, strict=True):
        client_value = client_value.strip()
        if not client_value:
            if checksum_type == "COMPOSITE":
                raise S3Error(
                    "InvalidRequest",
                    f"The upload was created using a {algorithm} checksum. The complete request "
                    "must include the checksum for each part. It was missing for part "
                    f"{segment.part_number} in the request.",
                )
            if stored_value is None:
                raise S3Error("InvalidPart")
            used.append(stored_value)
        elif not checksums.is_valid(algorithm, client_value):
            raise S3Error(
                "InvalidArgument", "Invalid Base64 or multiple checksums present in request"
            )
        else:
            used.append(client_value)
    if expected is not None:
        header = checksums.checksum_header(algorithm)
        if not checksums.is_valid(algorithm, expected.strip()):
            raise S3Error("InvalidRequest", f"Value for {header} header is invalid.")
        claimed_value, _ = _combine(algorithm, checksum_type, used, segments)
        if claimed_value.partition("-")[0] != expected.strip():
            raise S3Error(
                "BadDigest", f"The {algorithm} you specified did not match the calculated checksum."
            )
    for stored_value, used_value in zip(stored, used, strict=True):
        if stored_value is None or stored_value != used_value:
            raise S3Error("InvalidPart")
    return _combine(algorithm, checksum_type, used, segments)


def _combine(
    algorithm: str, checksum_type: str, values: list[str], segments: list[Segment]
) -> tuple[str, str]:
    if checksum_type == "FULL_OBJECT":
        pairs = [(v, seg.plain_size) for v, seg in zip(values, segments, strict=True)]
        return checksums.full_object_crc(algorithm, pairs), checksum_type
    return checksums.composite_checksum(algorithm, values), checksum_type


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
    parts = (
        ctx.storage.list_parts(upload.upload_id, after=marker, limit=max_parts + 1)
        if max_parts
        else []  # max-parts=0 asks for nothing: an empty page, not truncated (as MinIO)
    )
    kind = sse.kind_of(upload.meta)
    algorithm = upload.meta.get(objectmeta.CHECKSUM_ALGORITHM, "")
    object_key = None
    # Sealed part ETags (SSE-S3) and part checksums (every encryption) need the object key;
    # an SSE-C upload's checksums are listed when the request carries its key (AWS asks for it
    # "when the object was created using a checksum algorithm"), and left out otherwise.
    if parts and kind is not sse.Kind.NONE:
        if kind is not sse.Kind.SSE_C:
            object_key = await sse.unseal(
                ctx.services.config.kms, upload.meta, ctx.bucket, ctx.key, None
            )
        elif sse.parse_customer_key(ctx.headers) is not None:
            object_key = await upload_key(ctx, upload, complete=True)
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
            + element("ETag", f'"{sse.client_etag(seg.etag, kind, object_key)}"')
            + element("Size", seg.plain_size)
            + "".join(
                element(f"Checksum{alg}", v)
                for alg, v in sse.open_checksums(object_key, seg.checksums).items()
            )
            + "</Part>"
        )
    if algorithm:
        children.append(element("ChecksumAlgorithm", algorithm.upper()))
        children.append(element("ChecksumType", upload.meta.get(objectmeta.CHECKSUM_TYPE, "")))
    return ctx.response(200, document("ListPartsResult", children), xml=True)


_UPLOAD_BATCH = 1000


def _upload_checksum_elements(upload: UploadRecord) -> str:
    """ChecksumAlgorithm and ChecksumType of an upload created with a checksum algorithm."""
    algorithm = upload.meta.get(objectmeta.CHECKSUM_ALGORITHM)
    if not algorithm:
        return ""
    kind = upload.meta.get(objectmeta.CHECKSUM_TYPE, "COMPOSITE")
    return element("ChecksumAlgorithm", algorithm.upper()) + element("ChecksumType", kind)


def _uploads_after(
    ctx: Ctx, prefix: str, key_marker: str, upload_id_marker: str
) -> Iterator[UploadRecord]:
    """Uploads under ``prefix`` after the markers, in (key, upload id) order, fetched in
    batches: a page that rolls many uploads into common prefixes reads on past them."""
    while True:
        batch = ctx.storage.list_uploads(
            ctx.bucket, prefix, key_marker, upload_id_marker, _UPLOAD_BATCH
        )
        yield from batch[:_UPLOAD_BATCH]
        if len(batch) <= _UPLOAD_BATCH:
            return
        last = batch[_UPLOAD_BATCH - 1]
        key_marker, upload_id_marker = last.key, last.upload_id


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
    children = [
        element("Bucket", ctx.bucket),
        element("KeyMarker", key_marker),
        element("UploadIdMarker", upload_id_marker),
    ]
    entries: list[str] = []
    prefixes: list[str] = []
    truncated = False
    last_key, last_id = "", ""
    for upload in _uploads_after(ctx, prefix, key_marker, upload_id_marker):
        if max_uploads == 0:  # asks for nothing: an empty page, not truncated (as MinIO)
            break
        common = ""
        if delimiter:
            cut = upload.key.find(delimiter, len(prefix))
            if cut >= 0:
                common = upload.key[: cut + len(delimiter)]
                # uploads come in key order, so one prefix's uploads are consecutive; a
                # key marker that is itself a common prefix means "after all of it"
                if (prefixes and prefixes[-1] == common) or (key_marker and common <= key_marker):
                    continue
        if len(entries) + len(prefixes) >= max_uploads:
            truncated = True
            break
        if common:
            prefixes.append(common)
            last_key, last_id = common, ""
            continue
        last_key, last_id = upload.key, upload.upload_id
        entries.append(
            "<Upload>"
            + element("Key", upload.key)
            + element("UploadId", upload.upload_id)
            + owner_xml(ctx).replace("<Owner>", "<Initiator>").replace("</Owner>", "</Initiator>")
            + owner_xml(ctx)
            + element("StorageClass", "STANDARD")
            + element("Initiated", iso8601(upload.initiated))
            + _upload_checksum_elements(upload)
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
