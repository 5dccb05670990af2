"""Bucket operations: list, create, head, delete, location, and the bucket configurations."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

from strongroom.kms.base import KMSError
from strongroom.net.streaming import Response
from strongroom.s3 import objectmeta, sse, sse_config
from strongroom.s3.context import Ctx
from strongroom.s3.errors import S3Error
from strongroom.s3.names import check_bucket_name, valid_existing_bucket_name
from strongroom.s3.payload import read_body
from strongroom.s3.storage import BucketExistsError, BucketNotEmptyError, BucketNotFoundError
from strongroom.s3.xmlio import document, element, iso8601, parse, text

MAX_CONFIG_BYTES = 64 * 1024


def owner_id(ctx: Ctx) -> str:
    access_key = ctx.services.config.credentials.access_key
    return hashlib.sha256(access_key.encode()).hexdigest()


def owner_xml(ctx: Ctx) -> str:
    return (
        "<Owner>"
        + element("ID", owner_id(ctx))
        + element("DisplayName", ctx.services.config.credentials.access_key)
        + "</Owner>"
    )


async def require_bucket(ctx: Ctx) -> None:
    if not valid_existing_bucket_name(ctx.bucket) or not ctx.storage.bucket_exists(ctx.bucket):
        raise S3Error("NoSuchBucket", resource=ctx.bucket)


async def list_buckets(ctx: Ctx) -> Response:
    buckets = ctx.storage.list_buckets()
    entries = "".join(
        "<Bucket>" + element("Name", name) + element("CreationDate", iso8601(created)) + "</Bucket>"
        for name, created in buckets
    )
    body = document("ListAllMyBucketsResult", [owner_xml(ctx), f"<Buckets>{entries}</Buckets>"])
    return ctx.response(200, body, xml=True)


async def create_bucket(ctx: Ctx) -> Response:
    check_bucket_name(ctx.bucket)
    if ctx.headers.get("x-amz-bucket-object-lock-enabled", "").strip().lower() == "true":
        # refused rather than ignored: the client would believe its objects are WORM
        raise S3Error("NotImplemented", "Object Lock is not supported by this server")
    body = await read_body(ctx, MAX_CONFIG_BYTES)
    if body.strip():
        root = parse(body)
        if root.tag != "CreateBucketConfiguration":
            raise S3Error("MalformedXML")
        location = text(root, "LocationConstraint")
        region = ctx.services.config.region
        if location and location != region and not (location == "US" and region == "us-east-1"):
            raise S3Error(
                "InvalidLocationConstraint",
                "The specified location-constraint is not valid",
                status=400,
            )
    try:
        await ctx.services.write(ctx.storage.create_bucket, ctx.bucket)
    except BucketExistsError:
        raise S3Error("BucketAlreadyOwnedByYou", resource=ctx.bucket) from None
    return ctx.response(200, headers=[("Location", f"/{ctx.bucket}")])


async def head_bucket(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    return ctx.response(200, headers=[("x-amz-bucket-region", ctx.services.config.region)])


async def delete_bucket(ctx: Ctx) -> Response:
    try:
        await ctx.services.write(ctx.storage.delete_bucket, ctx.bucket)
    except BucketNotFoundError:
        raise S3Error("NoSuchBucket", resource=ctx.bucket) from None
    except BucketNotEmptyError:
        raise S3Error("BucketNotEmpty", resource=ctx.bucket) from None
    return ctx.response(204)


async def get_location(ctx: Ctx) -> Response:
    region = ctx.services.config.region
    value = "" if region == "us-east-1" else region
    body = document("LocationConstraint", [value.replace("&", "&amp;").replace("<", "&lt;")])
    return ctx.response(200, body, xml=True)


async def get_versioning(ctx: Ctx) -> Response:
    return ctx.response(200, document("VersioningConfiguration", []), xml=True)


async def put_versioning(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    root = parse(await read_body(ctx, MAX_CONFIG_BYTES))
    status = text(root, "Status")
    if status not in ("", "Suspended"):
        raise S3Error("NotImplemented", "Bucket versioning is not supported by this server")
    return ctx.response(200)


async def get_acl(ctx: Ctx) -> Response:
    grant = (
        "<AccessControlList><Grant>"
        '<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">'
        + element("ID", owner_id(ctx))
        + element("DisplayName", ctx.services.config.credentials.access_key)
        + "</Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList>"
    )
    return ctx.response(200, document("AccessControlPolicy", [owner_xml(ctx), grant]), xml=True)


async def put_acl(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    check_private_acl(ctx, await read_body(ctx, MAX_CONFIG_BYTES))
    return ctx.response(200)


def check_private_acl(ctx: Ctx, body: bytes) -> None:
    """Only the owner's full control (the private ACL) is supported: canned ACLs or grants that
    would open access are refused rather than silently ignored."""
    if ctx.headers.get("x-amz-acl", "private") != "private" or any(
        name.startswith("x-amz-grant-") for name in ctx.headers
    ):
        raise S3Error("NotImplemented", "Only the private canned ACL is supported")
    if not body.strip():
        return
    root = parse(body)
    for grant in root.iter("Grant"):
        grantee = grant.find("Grantee")
        uri = grantee.find("URI") if grantee is not None else None
        if uri is not None or text(grant, "Permission") != "FULL_CONTROL":
            raise S3Error("NotImplemented", "Only the private canned ACL is supported")


async def get_logging(ctx: Ctx) -> Response:
    return ctx.response(200, document("BucketLoggingStatus", []), xml=True)


async def get_notification(ctx: Ctx) -> Response:
    return ctx.response(200, document("NotificationConfiguration", []), xml=True)


async def get_request_payment(ctx: Ctx) -> Response:
    body = document("RequestPaymentConfiguration", [element("Payer", "BucketOwner")])
    return ctx.response(200, body, xml=True)


async def get_accelerate(ctx: Ctx) -> Response:
    return ctx.response(200, document("AccelerateConfiguration", []), xml=True)


async def put_object_lock(ctx: Ctx) -> Response:
    """PutObjectLockConfiguration: Object Lock can only be enabled when a bucket is created
    (which this server refuses), so on an existing bucket it is AWS's InvalidBucketState."""
    await require_bucket(ctx)
    raise S3Error(
        "InvalidBucketState", "Object Lock configuration cannot be enabled on existing buckets"
    )


async def object_lock_missing(ctx: Ctx) -> Response:
    """Get/PutObjectRetention and Get/PutObjectLegalHold: no bucket has Object Lock, which
    AWS answers with InvalidRequest (400)."""
    await require_bucket(ctx)
    raise S3Error("InvalidRequest", "Bucket is missing Object Lock Configuration")


def not_found(code: str) -> Callable[[Ctx], Awaitable[Response]]:
    """A handler for a configuration we do not store: always the code's not-found error."""

    async def handler(ctx: Ctx) -> Response:
        raise S3Error(code)

    return handler


# -- default encryption (PutBucketEncryption and friends) --


async def get_encryption(ctx: Ctx) -> Response:
    config = ctx.storage.get_bucket_config(ctx.bucket).get("encryption")
    if config is None:
        raise S3Error("ServerSideEncryptionConfigurationNotFoundError")
    return ctx.response(200, sse_config.render(sse_config.load(config)), xml=True)


async def put_encryption(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    rule = sse_config.parse_config(await read_body(ctx, MAX_CONFIG_BYTES))
    # Every default needs the KMS, and a named SSE-KMS key must exist: otherwise every later
    # PUT without SSE headers would fail (MinIO checks it the same way, with a test data key).
    kms = sse.require_kms(ctx.services.config.kms)
    if rule.algorithm == sse_config.AWS_KMS and rule.kms_key_id:
        try:
            await kms.generate_key(rule.kms_key_id, {"MinIO admin API": "ServerInfoHandler"})
        except KMSError as exc:
            raise sse.kms_error(exc) from None
    await ctx.services.write(ctx.storage.set_bucket_config, ctx.bucket, "encryption", rule.dump())
    return ctx.response(200)


async def delete_encryption(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    await ctx.services.write(ctx.storage.set_bucket_config, ctx.bucket, "encryption", None)
    return ctx.response(204)


# -- bucket tagging (stored; tags have no effect on access, as in S3 without tag policies) --


async def get_tagging(ctx: Ctx) -> Response:
    stored = ctx.storage.get_bucket_config(ctx.bucket).get("tagging")
    if stored is None:
        raise S3Error("NoSuchTagSet")
    return ctx.response(200, objectmeta.render_tagging(parse_qsl(stored, True)), xml=True)


async def put_tagging(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    body = await read_body(ctx, MAX_CONFIG_BYTES)
    tags = objectmeta.parse_tagging(body, bucket=True)
    await ctx.services.write(ctx.storage.set_bucket_config, ctx.bucket, "tagging", urlencode(tags))
    return ctx.response(204)


async def delete_tagging(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    await ctx.services.write(ctx.storage.set_bucket_config, ctx.bucket, "tagging", None)
    return ctx.response(204)


# -- notifications: none are ever sent, so only the empty configuration can be stored --


async def put_notification(ctx: Ctx) -> Response:
    """PutBucketNotificationConfiguration: an empty configuration (what clients send to remove
    notifications) is the truth and succeeds; any destination is NotImplemented, never
    accepted and then silently not delivered."""
    await require_bucket(ctx)
    root = parse(await read_body(ctx, MAX_CONFIG_BYTES))
    if root.tag != "NotificationConfiguration":
        raise S3Error("MalformedXML")
    if len(root) or (root.text or "").strip():
        raise S3Error("NotImplemented", "Bucket notifications are not supported by this server")
    return ctx.response(200)
