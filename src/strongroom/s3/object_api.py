"""Object operations: PUT, GET/HEAD, DELETE, DeleteObjects, CopyObject, ACL and tagging."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlencode

from strongroom.crypto import dare
from strongroom.net.streaming import Response
from strongroom.s3 import checksums, conditions, objectmeta, sse, sse_config
from strongroom.s3.bucket_api import check_private_acl, owner_id, owner_xml, require_bucket
from strongroom.s3.context import Ctx
from strongroom.s3.errors import S3Error
from strongroom.s3.names import check_object_key, is_other_version
from strongroom.s3.payload import Received, read_body, receive, store_plaintext
from strongroom.s3.reader import OpenObject
from strongroom.s3.storage import (
    BucketNotFoundError,
    ObjectRecord,
    Segment,
    WriteConditionError,
)
from strongroom.s3.xmlio import document, element, iso8601, parse, text

MAX_DELETE_OBJECTS = 1000
MAX_XML_BODY = 2 * 1024 * 1024
OPEN_RETRIES = 3


def checksum_headers(segment_checksums: dict[str, str]) -> list[tuple[str, str]]:
    return [(f"x-amz-checksum-{alg.lower()}", value) for alg, value in segment_checksums.items()]


async def requested_sse(ctx: Ctx, headers: Mapping[str, str] | None = None) -> sse.Requested:
    """The SSE of a write: the request's headers (or ``headers``: a POST form's fields), else
    the bucket default, else auto-encryption."""
    requested = sse.parse_request(ctx.headers if headers is None else headers)
    if requested.kind is not sse.Kind.NONE:
        return requested
    try:
        raw_rule = ctx.storage.get_bucket_config(ctx.bucket).get("encryption")
    except BucketNotFoundError:
        raise S3Error("NoSuchBucket", resource=ctx.bucket) from None
    rule = sse_config.load(raw_rule) if raw_rule else None
    return sse.apply_defaults(requested, rule, ctx.services.config.auto_encryption)


async def new_key(ctx: Ctx, requested: sse.Requested) -> sse.ObjectKey | None:
    if requested.kind is sse.Kind.NONE:
        return None
    return await sse.new_object_key(ctx.services.config.kms, requested, ctx.bucket, ctx.key)


def needs_md5(ctx: Ctx, object_key: sse.ObjectKey | None) -> bool:
    """Whether the ETag is the content MD5: plaintext and SSE-S3 always; SSE-C and SSE-KMS only
    with Content-MD5 (otherwise MinIO's random ETag saves a pass over the data)."""
    return object_key is None or object_key.kind is sse.Kind.SSE_S3 or "content-md5" in ctx.headers


def finish_segment(ctx: Ctx, received: Received, object_key: sse.ObjectKey | None) -> str:
    """Seal what an encrypted segment must not keep in clear; return the client's ETag."""
    segment = received.segment
    if object_key is None:
        return received.md5_hex
    real_md5 = needs_md5(ctx, object_key) and received.md5_hex
    segment.etag = sse.seal_etag(object_key, bytes.fromhex(received.md5_hex) if real_md5 else None)
    segment.checksums = sse.seal_checksums(object_key, segment.checksums)
    if object_key.kind is sse.Kind.SSE_S3 and real_md5:
        return received.md5_hex  # what unsealing the stored ETag gives back
    return sse.client_etag(segment.etag, object_key.kind, object_key)


async def put_object(ctx: Ctx) -> Response:
    check_object_key(ctx.key)
    await require_bucket(ctx)
    meta = objectmeta.from_headers(ctx.headers)
    condition = await write_condition(ctx)
    object_key = await new_key(ctx, await requested_sse(ctx))
    transform = dare.DareEncryptor(object_key.key) if object_key is not None else None
    received = await receive(ctx, transform=transform, md5=needs_md5(ctx, object_key))
    etag = finish_segment(ctx, received, object_key)
    if object_key is not None:
        meta.update(object_key.meta)
    meta.update(_single_checksum_meta(received.checksums))
    record = ObjectRecord(
        bucket=ctx.bucket,
        key=ctx.key,
        size=received.segment.plain_size,
        etag=received.segment.etag,
        mtime=time.time(),
        meta=meta,
        segments=[received.segment],
    )
    await publish(ctx, record, condition)
    headers = [("ETag", f'"{etag}"')]
    headers.extend(checksum_headers(received.checksums))
    if received.checksums:
        headers.append(("x-amz-checksum-type", "FULL_OBJECT"))
    headers.extend(sse.response_headers(object_key, meta))
    return ctx.response(200, headers=headers)


@dataclass(frozen=True, slots=True)
class WriteCondition:
    """What a conditional write's commit re-checks atomically: no object (If-None-Match: *)
    or still the object whose stored ETag the client's If-Match matched."""

    if_absent: bool = False
    if_etag: str | None = None


NO_CONDITION = WriteCondition()


async def write_condition(ctx: Ctx) -> WriteCondition:
    """If-None-Match: * and If-Match of PutObject, CopyObject and CompleteMultipartUpload,
    checked against the current object before any work (AWS: 412 PreconditionFailed, If-Match
    on a missing key 404 NoSuchKey); the commit checks again (``publish``)."""
    if_none = ctx.headers.get("if-none-match")
    if_match = ctx.headers.get("if-match")
    if if_none is None and if_match is None:
        return NO_CONDITION
    if if_none is not None and if_none.strip() != "*":
        raise S3Error("NotImplemented", "If-None-Match only supports *")
    existing = ctx.storage.get_object(ctx.bucket, ctx.key)
    if if_none is not None and existing is not None:
        raise S3Error("PreconditionFailed")
    if if_match is None:
        return WriteCondition(if_absent=True)
    if existing is None:
        raise S3Error("NoSuchKey")
    etag = await visible_etag(ctx, existing, ctx.bucket, ctx.key)
    conditions.evaluate({"if-match": if_match}, etag, existing.mtime, read=False)
    return WriteCondition(if_absent=if_none is not None, if_etag=existing.etag)


async def visible_etag(ctx: Ctx, record: ObjectRecord, bucket: str, key: str) -> str:
    """The ETag clients see for ``record`` (an SSE-S3 object's stored ETag is sealed)."""
    kind = sse.kind_of(record.meta)
    object_key = None
    if kind is sse.Kind.SSE_S3:
        object_key = await sse.unseal(ctx.services.config.kms, record.meta, bucket, key, None)
    return sse.client_etag(record.etag, kind, object_key)


async def publish(ctx: Ctx, record: ObjectRecord, condition: WriteCondition = NO_CONDITION) -> None:
    try:
        await ctx.services.write(
            functools.partial(
                ctx.storage.put_object,
                if_absent=condition.if_absent,
                if_etag=condition.if_etag,
            ),
            record,
        )
    except BucketNotFoundError:
        ctx.storage.remove_data([s.file for s in record.segments if s.file])
        raise S3Error("NoSuchBucket", resource=ctx.bucket) from None
    except WriteConditionError as exc:
        ctx.storage.remove_data([s.file for s in record.segments if s.file])
        raise condition_error(exc) from None


def condition_error(exc: WriteConditionError) -> S3Error:
    """A conditional write that lost a race at commit: another write created or replaced the
    object (412, the first write to finish wins), or it was deleted meanwhile (AWS's 409)."""
    if exc.missing:
        return S3Error("ConditionalRequestConflict")
    return S3Error("PreconditionFailed")


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
    sse.reject_get_headers(ctx.headers)
    customer = sse.parse_customer_key(ctx.headers)
    opened = open_object(ctx)
    try:
        object_key = await unseal_for_read(ctx, opened.record, ctx.bucket, ctx.key, customer)
        return _object_response(ctx, opened, object_key, head=head)
    except BaseException:
        opened.close()
        raise


async def unseal_for_read(
    ctx: Ctx, record: ObjectRecord, bucket: str, key: str, customer: sse.CustomerKey | None
) -> sse.ObjectKey | None:
    if not sse.is_encrypted(record.meta):
        if customer is not None:
            raise S3Error("InvalidRequest", sse.MSG_NOT_APPLICABLE)
        return None
    return await sse.unseal(ctx.services.config.kms, record.meta, bucket, key, customer)


def _object_response(
    ctx: Ctx, opened: OpenObject, object_key: sse.ObjectKey | None, *, head: bool
) -> Response:
    record = opened.record
    kind = object_key.kind if object_key is not None else sse.Kind.NONE
    etag = sse.client_etag(record.etag, kind, object_key)
    conditions.evaluate(ctx.headers, etag, record.mtime)
    headers = list(ctx.response_headers)
    headers.extend(objectmeta.response_headers(record, etag))
    headers.extend(sse.response_headers(object_key, record.meta))
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
    if checksum_mode and status == 200:
        headers.extend(_stored_checksums(record, object_key))
    elif checksum_mode and part_number is not None and record.multipart:
        headers.extend(_part_checksums(record, object_key, int(part_number)))
    objectmeta.apply_overrides(headers, ctx.query)
    length = last - first + 1 if size else 0
    if head or length == 0:
        opened.close()
        return Response(status, headers, b"", content_length=length)
    if object_key is None:
        body = opened.plain_body(first, last)
        return Response(status, headers, body, content_length=length, on_done=opened.closer())
    try:
        stream = opened.plaintext_body(object_key, first, last)
    except dare.DareError:
        opened.close()
        raise S3Error(
            "InternalError", "The requested object was modified and may be compromised"
        ) from None
    return Response(status, headers, stream, content_length=length, on_done=opened.closer())


def _stored_checksums(
    record: ObjectRecord, object_key: sse.ObjectKey | None
) -> list[tuple[str, str]]:
    """The object's checksum headers for x-amz-checksum-mode: ENABLED."""
    if record.multipart:
        raw = record.meta.get(objectmeta.CHECKSUMS)
        if not raw:
            return []
        values = sse.open_checksums(object_key, json.loads(raw))
        kind = record.meta.get(objectmeta.CHECKSUM_TYPE, "COMPOSITE")
    elif len(record.segments) == 1:
        values = sse.open_checksums(object_key, record.segments[0].checksums)
        kind = "FULL_OBJECT"
    else:
        return []
    if not values:
        return []
    return [*checksum_headers(values), ("x-amz-checksum-type", kind)]


def _part_checksums(
    record: ObjectRecord, object_key: sse.ObjectKey | None, number: int
) -> list[tuple[str, str]]:
    """A GET or HEAD of one part of a multipart object with x-amz-checksum-mode: ENABLED: that
    part's checksum of the upload's algorithm (AWS returns part-level checksums this way)."""
    algorithm = record.meta.get(objectmeta.CHECKSUM_ALGORITHM, "").upper()
    if not algorithm or not record.meta.get(objectmeta.CHECKSUMS):
        return []
    for seg in record.segments:
        if seg.part_number == number:
            value = sse.open_checksums(object_key, seg.checksums).get(algorithm)
            if not value:
                return []
            kind = record.meta.get(objectmeta.CHECKSUM_TYPE, "COMPOSITE")
            return [*checksum_headers({algorithm: value}), ("x-amz-checksum-type", kind)]
    return []


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


async def absent_version(ctx: Ctx, *, delete: bool) -> Response:
    """A request for a specific version other than "null", which never exists here.

    Deleting it deletes nothing (204, as MinIO answers for a missing version): it must never
    remove the object itself. Reading it (GET, HEAD, tagging, ACL, attributes) is NoSuchKey
    without the object, else NoSuchVersion.
    """
    check_object_key(ctx.key)
    await require_bucket(ctx)
    if delete:
        return ctx.response(204)
    load_object(ctx)
    raise S3Error("NoSuchVersion")


async def delete_objects(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    body = await read_body(ctx, MAX_XML_BODY)
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
            # A version other than "null" never exists: nothing to delete (MinIO reports it
            # deleted); a malformed id is an error for that key.
            if not is_other_version(version.text if version is not None else None):
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
    check_object_key(key)
    if version.startswith("versionId=") and is_other_version(version[len("versionId=") :]):
        raise S3Error("NoSuchVersion")
    return bucket, key


def load_source(ctx: Ctx, bucket: str, key: str) -> ObjectRecord:
    record = ctx.storage.get_object(bucket, key)
    if record is None:
        if not ctx.storage.bucket_exists(bucket):
            raise S3Error("NoSuchBucket", resource=bucket)
        raise S3Error("NoSuchKey", resource=f"/{bucket}/{key}")
    return record


async def check_copy_conditions(ctx: Ctx, source: ObjectRecord, bucket: str, key: str) -> None:
    """x-amz-copy-source-if-* against the ETag clients see (SSE-S3: unsealed)."""
    if not any(name.startswith("x-amz-copy-source-if-") for name in ctx.headers):
        return
    etag = await visible_etag(ctx, source, bucket, key)
    conditions.evaluate(ctx.headers, etag, source.mtime, prefix="x-amz-copy-source-")


def source_customer_key(ctx: Ctx, source: ObjectRecord) -> sse.CustomerKey | None:
    """The copy source's SSE-C key, checked against how the source is stored."""
    customer = sse.parse_customer_key(ctx.headers, copy_source=True)
    kind = sse.kind_of(source.meta)
    if kind is sse.Kind.NONE and customer is not None:
        raise S3Error("InvalidRequest", sse.MSG_NOT_APPLICABLE)
    if kind is sse.Kind.SSE_C and customer is None:
        raise S3Error("InvalidArgument", sse.MSG_ALGORITHM)
    return customer if kind is sse.Kind.SSE_C else None


async def copy_object(ctx: Ctx) -> Response:
    check_object_key(ctx.key)
    await require_bucket(ctx)
    objectmeta.reject_object_lock(ctx.headers)
    src_bucket, src_key = parse_copy_source(ctx)
    source = load_source(ctx, src_bucket, src_key)
    await check_copy_conditions(ctx, source, src_bucket, src_key)
    condition = await write_condition(ctx)
    src_customer = source_customer_key(ctx, source)
    destination = await requested_sse(ctx)
    directive = ctx.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.")
    meta = _copy_metadata(ctx, source, directive)
    same_data = objectmeta.checksum_items(source.meta)  # for copies that keep the data
    same = src_bucket == ctx.bucket and src_key == ctx.key
    src_kind = sse.kind_of(source.meta)
    now = time.time()
    if same and src_kind is sse.Kind.SSE_C and destination.kind is sse.Kind.SSE_C:
        return await _rotate_customer_key(ctx, source, src_customer, destination, meta, now)
    encrypted = src_kind is not sse.Kind.NONE or destination.kind is not sse.Kind.NONE
    explicit_sse = sse.parse_request(ctx.headers).kind is not sse.Kind.NONE
    if same and directive != "REPLACE" and not explicit_sse:
        raise S3Error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect location "
            "or encryption attributes.",
        )
    algorithms = _copy_checksum_algorithms(ctx)
    result: list[str] = []
    if not encrypted and not algorithms:
        if same:
            ok = await ctx.services.write(
                ctx.storage.update_object_meta,
                ctx.bucket,
                ctx.key,
                source.etag,
                {**meta, **same_data},
                now,
            )
            if not ok:
                raise S3Error("InternalError", "The source object changed during the copy; retry")
            etag = source.etag
        else:
            segments = await ctx.services.blocking(_link_segments, ctx, source.segments)
            record = ObjectRecord(
                ctx.bucket, ctx.key, source.size, source.etag, now, {**meta, **same_data}, segments
            )
            await publish(ctx, record, condition)
            etag = source.etag
        if not source.multipart and len(source.segments) == 1:
            kept = source.segments[0].checksums  # the same bytes: the same checksums
            result.extend(element(f"Checksum{alg}", v) for alg, v in kept.items())
            if kept:
                result.append(element("ChecksumType", "FULL_OBJECT"))
        headers: list[tuple[str, str]] = []
    else:
        etag, headers, values = await _copy_reencrypted(
            ctx,
            source,
            src_bucket,
            src_key,
            src_customer,
            destination,
            meta,
            now,
            algorithms,
            condition,
        )
        result.extend(element(f"Checksum{alg}", v) for alg, v in values.items())
        if values:
            result.append(element("ChecksumType", "FULL_OBJECT"))
    body = document(
        "CopyObjectResult",
        [element("LastModified", iso8601(now)), element("ETag", f'"{etag}"'), *result],
    )
    return ctx.response(200, body, headers, xml=True)


def _copy_checksum_algorithms(ctx: Ctx) -> tuple[str, ...]:
    raw = ctx.headers.get("x-amz-checksum-algorithm", "").strip().lower()
    if not raw:
        return ()
    if not checksums.supported(raw):
        raise S3Error("InvalidRequest", "Value for x-amz-checksum-algorithm header is invalid.")
    return (raw,)


def _copy_metadata(ctx: Ctx, source: ObjectRecord, directive: str) -> dict[str, str]:
    tagging_directive = ctx.headers.get("x-amz-tagging-directive", "COPY").upper()
    if directive == "REPLACE":
        meta = objectmeta.from_headers(ctx.headers)
        meta.pop(objectmeta.TAGGING, None)
    else:
        meta = objectmeta.public_items(source.meta)
    if tagging_directive == "REPLACE":
        if "x-amz-tagging" in ctx.headers:
            meta[objectmeta.TAGGING] = objectmeta.normalise_tagging(ctx.headers["x-amz-tagging"])
    elif objectmeta.TAGGING in source.meta:
        meta[objectmeta.TAGGING] = source.meta[objectmeta.TAGGING]
    return meta


async def _rotate_customer_key(
    ctx: Ctx,
    source: ObjectRecord,
    old: sse.CustomerKey | None,
    destination: sse.Requested,
    meta: dict[str, str],
    now: float,
) -> Response:
    """SSE-C key rotation in place: re-seal the same object key; the data is not rewritten."""
    assert destination.customer is not None
    try:
        object_key = await sse.unseal(
            ctx.services.config.kms, source.meta, ctx.bucket, ctx.key, old
        )
    except S3Error as exc:
        if exc.code == "AccessDenied" and old is not None and old.key == destination.customer.key:
            raise S3Error(
                "InvalidArgument",
                "The provided encryption parameters did not match the ones used originally.",
            ) from None
        raise
    internal = {k: v for k, v in source.meta.items() if k.startswith(sse.INTERNAL)}
    resealed = sse.reseal_customer(object_key, internal, destination.customer, ctx.bucket, ctx.key)
    meta.update(resealed)
    meta.update(objectmeta.checksum_items(source.meta))  # same data, same checksums
    ok = await ctx.services.write(
        ctx.storage.update_object_meta, ctx.bucket, ctx.key, source.etag, meta, now
    )
    if not ok:
        raise S3Error("InternalError", "The source object changed during the copy; retry")
    etag = sse.client_etag(source.etag, sse.Kind.SSE_C, object_key)
    body = document(
        "CopyObjectResult", [element("LastModified", iso8601(now)), element("ETag", f'"{etag}"')]
    )
    new_key = sse.ObjectKey(sse.Kind.SSE_C, object_key.key, resealed, destination.customer.key_md5)
    return ctx.response(200, body, sse.response_headers(new_key, meta), xml=True)


async def _copy_reencrypted(
    ctx: Ctx,
    source: ObjectRecord,
    src_bucket: str,
    src_key: str,
    src_customer: sse.CustomerKey | None,
    destination: sse.Requested,
    meta: dict[str, str],
    now: float,
    algorithms: tuple[str, ...] = (),
    condition: WriteCondition = NO_CONDITION,
) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
    """Decrypt the source (if encrypted) and store it under a fresh object key (if requested)."""
    source_key = await unseal_for_read(ctx, source, src_bucket, src_key, src_customer)
    if not algorithms:
        algorithms = _source_algorithms(source, source_key)
    object_key = await new_key(ctx, destination)
    opened = OpenObject(ctx.storage, source)
    try:
        transform = dare.DareEncryptor(object_key.key) if object_key is not None else None
        try:
            received = await store_plaintext(
                ctx,
                opened.plaintext(source_key, 0, source.size - 1),
                transform=transform,
                algorithms=algorithms,
            )
        except dare.DareError:
            raise S3Error(
                "InternalError", "The source object was modified and may be compromised"
            ) from None
    finally:
        opened.close()
    etag = finish_segment(ctx, received, object_key)
    if object_key is not None:
        meta.update(object_key.meta)
    meta.update(_single_checksum_meta(received.checksums))
    segment = received.segment
    record = ObjectRecord(
        ctx.bucket, ctx.key, segment.plain_size, segment.etag, now, meta, [segment]
    )
    await publish(ctx, record, condition)
    return etag, sse.response_headers(object_key, meta), received.checksums


def _single_checksum_meta(values: Mapping[str, str]) -> dict[str, str]:
    """What a single-part object records of its checksum for listings: the algorithm (in the
    clear, as AWS lists it even for encrypted objects) and FULL_OBJECT."""
    if not values:
        return {}
    algorithm = next(iter(values)).lower()
    return {objectmeta.CHECKSUM_ALGORITHM: algorithm, objectmeta.CHECKSUM_TYPE: "FULL_OBJECT"}


def _source_algorithms(source: ObjectRecord, source_key: sse.ObjectKey | None) -> tuple[str, ...]:
    """A copy without x-amz-checksum-algorithm keeps the source's checksum algorithm (AWS); the
    copy is one new object, so its checksum is computed over the whole of it."""
    if source.multipart:
        named = [source.meta.get(objectmeta.CHECKSUM_ALGORITHM, "")]
    elif len(source.segments) == 1:
        named = list(sse.open_checksums(source_key, source.segments[0].checksums))
    else:
        named = []
    return tuple(a.lower() for a in named if a and checksums.supported(a.lower()))


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
    check_private_acl(ctx, await read_body(ctx, MAX_XML_BODY))
    return ctx.response(200)


_ATTRIBUTES = frozenset({"ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"})


async def get_attributes(ctx: Ctx) -> Response:
    """GetObjectAttributes: ETag, checksum, parts, storage class and size in one call."""
    wanted = {
        a.strip() for a in ctx.headers.get("x-amz-object-attributes", "").split(",") if a.strip()
    }
    if not wanted or not wanted <= _ATTRIBUTES:
        raise S3Error("InvalidArgument", "Invalid attribute name specified.")
    sse.reject_get_headers(ctx.headers)
    record = load_object(ctx)
    object_key = await unseal_for_read(
        ctx, record, ctx.bucket, ctx.key, sse.parse_customer_key(ctx.headers)
    )
    kind = object_key.kind if object_key is not None else sse.Kind.NONE
    etag = sse.client_etag(record.etag, kind, object_key)
    conditions.evaluate(ctx.headers, etag, record.mtime)
    children: list[str] = []
    if "ETag" in wanted:
        children.append(element("ETag", etag))
    if "Checksum" in wanted:
        stored = _stored_checksums(record, object_key)
        values = [
            (element(f"Checksum{n.removeprefix('x-amz-checksum-').upper()}", v))
            if n != "x-amz-checksum-type"
            else element("ChecksumType", v)
            for n, v in stored
        ]
        if values:
            children.append("<Checksum>" + "".join(values) + "</Checksum>")
    if "ObjectParts" in wanted and record.multipart:
        children.append(_attribute_parts(ctx, record, object_key))
    if "StorageClass" in wanted:
        children.append(element("StorageClass", "STANDARD"))
    if "ObjectSize" in wanted:
        children.append(element("ObjectSize", record.size))
    headers = [("Last-Modified", objectmeta.http_date(record.mtime))]
    return ctx.response(200, document("GetObjectAttributesResponse", children), headers, xml=True)


def _attribute_parts(ctx: Ctx, record: ObjectRecord, object_key: sse.ObjectKey | None) -> str:
    """GetObjectAttributes ObjectParts: a page of parts (x-amz-max-parts, default 1000, after
    x-amz-part-number-marker) with each part's checksum of the upload's algorithm."""
    raw_max = ctx.headers.get("x-amz-max-parts", "1000").strip()
    raw_marker = ctx.headers.get("x-amz-part-number-marker", "0").strip() or "0"
    if not raw_max.isdigit() or not raw_marker.isdigit():
        raise S3Error("InvalidArgument", "max-parts and part-number-marker must be integers")
    max_parts = min(int(raw_max), 1000)
    marker = int(raw_marker)
    algorithm = record.meta.get(objectmeta.CHECKSUM_ALGORITHM, "").upper()
    if not record.meta.get(objectmeta.CHECKSUMS):
        algorithm = ""
    after = [s for s in record.segments if s.part_number > marker]
    page = after[:max_parts]
    parts: list[str] = []
    for seg in page:
        checksum = ""
        if algorithm:
            value = sse.open_checksums(object_key, seg.checksums).get(algorithm)
            checksum = element(f"Checksum{algorithm}", value) if value else ""
        parts.append(
            "<Part>"
            + element("PartNumber", seg.part_number)
            + element("Size", seg.plain_size)
            + checksum
            + "</Part>"
        )
    return (
        "<ObjectParts>"
        + element("PartsCount", len(record.segments))
        + element("PartNumberMarker", marker)
        + element("NextPartNumberMarker", page[-1].part_number if page else marker)
        + element("MaxParts", max_parts)
        + element("IsTruncated", len(after) > max_parts)
        + "".join(parts)
        + "</ObjectParts>"
    )


async def get_tagging(ctx: Ctx) -> Response:
    record = load_object(ctx)
    return ctx.response(200, objectmeta.render_tagging(objectmeta.tags_of(record.meta)), xml=True)


async def put_tagging(ctx: Ctx) -> Response:
    record = load_object(ctx)
    tags = objectmeta.parse_tagging(await read_body(ctx, MAX_XML_BODY))
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
