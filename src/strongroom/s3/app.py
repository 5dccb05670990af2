"""The S3 application: addressing, authentication, dispatch, and S3 XML errors."""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from strongroom.net.streaming import BadRequest, Request, Response
from strongroom.s3 import (
    admin_api,
    bucket_api,
    listing,
    multipart_api,
    object_api,
    post_object,
    sigv2,
    sse,
)
from strongroom.s3.context import Ctx, Services, split_path
from strongroom.s3.errors import S3Error
from strongroom.s3.names import is_other_version
from strongroom.s3.sigv4 import AuthResult, authenticate
from strongroom.s3.storage import StorageError
from strongroom.s3.xmlio import document, element

log = logging.getLogger("strongroom.s3")

Handler = Callable[[Ctx], Awaitable[Response]]
HEALTH_PREFIX = "/minio/health/"
# Unique per process and request: a random 64-bit start, then counting.
_REQUEST_IDS = itertools.count(int.from_bytes(secrets.token_bytes(8), "big") >> 1)

# Bucket sub-resources that we answer with an "empty" configuration or a not-found error,
# because clients probe them; everything else unknown is NotImplemented.
_BUCKET_GET_SUBRESOURCES: dict[str, Handler] = {
    "location": bucket_api.get_location,
    "versioning": bucket_api.get_versioning,
    "encryption": bucket_api.get_encryption,
    "acl": bucket_api.get_acl,
    "policy": bucket_api.not_found("NoSuchBucketPolicy"),
    "lifecycle": bucket_api.not_found("NoSuchLifecycleConfiguration"),
    "cors": bucket_api.not_found("NoSuchCORSConfiguration"),
    "tagging": bucket_api.get_tagging,
    "website": bucket_api.not_found("NoSuchWebsiteConfiguration"),
    "replication": bucket_api.not_found("ReplicationConfigurationNotFoundError"),
    "object-lock": bucket_api.not_found("ObjectLockConfigurationNotFoundError"),
    "ownershipControls": bucket_api.not_found("OwnershipControlsNotFoundError"),
    "logging": bucket_api.get_logging,
    "notification": bucket_api.get_notification,
    "requestPayment": bucket_api.get_request_payment,
    "accelerate": bucket_api.get_accelerate,
    "uploads": multipart_api.list_uploads,
    "versions": listing.list_object_versions,
    "policyStatus": bucket_api.not_found("NoSuchBucketPolicy"),
}
_NOT_IMPLEMENTED_SUBRESOURCES = frozenset(
    {
        "policy",
        "lifecycle",
        "cors",
        "tagging",
        "website",
        "replication",
        "object-lock",
        "ownershipControls",
        "logging",
        "notification",
        "requestPayment",
        "accelerate",
        "analytics",
        "inventory",
        "metrics",
        "intelligent-tiering",
        "publicAccessBlock",
        "restore",
        "select",
        "torrent",
        "legal-hold",
        "retention",
    }
)

_OBJECT_LOCK_SUBRESOURCES = frozenset({"retention", "legal-hold"})


def _takes_version(method: str, query: dict[str, str]) -> bool:
    """Object calls that address one version: reads, deletes, and PUT of tagging or ACL."""
    if "versionId" not in query or "uploadId" in query:
        return False
    return method in ("GET", "HEAD", "DELETE") or "tagging" in query or "acl" in query


class S3App:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.config = services.config

    async def __call__(self, request: Request) -> Response:
        if request.path.startswith(HEALTH_PREFIX):
            return self._health(request)
        self.services.active_requests += 1
        try:
            return await self._handle(request)
        finally:
            self.services.active_requests -= 1

    async def _handle(self, request: Request) -> Response:
        request_id = f"{next(_REQUEST_IDS):016X}"
        bucket, key, virtual_host = self._address(request)
        query = dict(parse_qsl(request.query, keep_blank_values=True))
        ctx = Ctx(request, self.services, request_id, bucket, key, query)
        ctx.response_headers.append(("x-amz-request-id", request_id))
        try:
            sse.check_transport(request.headers, request.tls, self.config.allow_ssec_over_http)
            if post_object.is_post_object(ctx):  # signed by a policy in the form, not headers
                return await post_object.post_object(ctx)
            ctx.auth = self._authenticate(request, bucket, virtual_host)
            return await self._dispatch(ctx)
        except S3Error as exc:
            return self.error_response(ctx, exc)
        except BadRequest as exc:
            return self.error_response(ctx, S3Error("InvalidRequest", str(exc)))
        except StorageError:
            log.exception("storage failure on %s %s", request.method, ctx.resource)
            return self.error_response(ctx, S3Error("InternalError"))

    def _authenticate(self, request: Request, bucket: str, virtual_host: bool) -> AuthResult:
        now = datetime.now(UTC)
        lookup = self.config.credentials.lookup
        if sigv2.is_v2(request.query, request.headers):
            prefix = f"/{bucket}" if virtual_host else ""
            return sigv2.authenticate(
                request.method,
                request.path,
                request.query,
                request.headers,
                lookup_secret=lookup,
                now=now,
                bucket_prefix=prefix,
            )
        return authenticate(
            request.method,
            request.path,
            request.query,
            request.headers,
            lookup_secret=lookup,
            now=now,
            region=self.config.region if self.config.enforce_region else "",
        )

    def _address(self, request: Request) -> tuple[str, str, bool]:
        """Bucket and key from a virtual-host-style Host or from the path."""
        host = request.headers.get("host", "").rsplit(":", 1)[0].lower()
        for domain in self.config.domains:
            suffix = "." + domain
            if host.endswith(suffix) and len(host) > len(suffix):
                bucket = host[: -len(suffix)]
                _, key = split_path("/x" + request.path)
                return bucket, key, True
        bucket, key = split_path(request.path)
        return bucket, key, False

    @staticmethod
    def _health(request: Request) -> Response:
        """Unauthenticated liveness and readiness probes (MinIO's paths)."""
        if request.path in (HEALTH_PREFIX + "live", HEALTH_PREFIX + "ready"):
            return Response(200, [], b"")
        return Response(404, [], b"")

    async def _dispatch(self, ctx: Ctx) -> Response:
        method = ctx.request.method
        query = ctx.query
        if admin_api.is_admin_path(ctx.request.path):
            return await admin_api.handle(ctx)
        if not ctx.bucket:
            if method in ("GET", "HEAD"):
                return await bucket_api.list_buckets(ctx)
            raise S3Error("MethodNotAllowed")
        if not ctx.key:
            return await self._bucket(ctx, method, query)
        return await self._object(ctx, method, query)

    async def _bucket(self, ctx: Ctx, method: str, query: dict[str, str]) -> Response:
        if method == "GET":
            for name, handler in _BUCKET_GET_SUBRESOURCES.items():
                if name in query:
                    await bucket_api.require_bucket(ctx)
                    return await handler(ctx)
            if "events" in query:
                # MinIO's ListenBucketNotification: a stream that never ends. Answering it with
                # a listing makes minio-py wait forever for events.
                await bucket_api.require_bucket(ctx)
                raise S3Error("NotImplemented", "Bucket notifications are not supported")
            if query.get("list-type") == "2":
                return await listing.list_objects_v2(ctx)
            return await listing.list_objects_v1(ctx)
        if method == "HEAD":
            return await bucket_api.head_bucket(ctx)
        if method == "PUT":
            if "encryption" in query:
                return await bucket_api.put_encryption(ctx)
            if "versioning" in query:
                return await bucket_api.put_versioning(ctx)
            if "acl" in query:
                return await bucket_api.put_acl(ctx)
            if "object-lock" in query:
                return await bucket_api.put_object_lock(ctx)
            if "tagging" in query:
                return await bucket_api.put_tagging(ctx)
            if "notification" in query:
                return await bucket_api.put_notification(ctx)
            if _NOT_IMPLEMENTED_SUBRESOURCES.intersection(query):
                await bucket_api.require_bucket(ctx)
                raise S3Error("NotImplemented")
            return await bucket_api.create_bucket(ctx)
        if method == "DELETE":
            if "encryption" in query:
                return await bucket_api.delete_encryption(ctx)
            if "tagging" in query:
                return await bucket_api.delete_tagging(ctx)
            if _NOT_IMPLEMENTED_SUBRESOURCES.intersection(query):
                await bucket_api.require_bucket(ctx)
                return ctx.response(204)
            return await bucket_api.delete_bucket(ctx)
        if method == "POST":
            if "delete" in query:
                return await object_api.delete_objects(ctx)
            raise S3Error("NotImplemented")
        raise S3Error("MethodNotAllowed")

    async def _object(self, ctx: Ctx, method: str, query: dict[str, str]) -> Response:
        if method in ("GET", "PUT") and _OBJECT_LOCK_SUBRESOURCES.intersection(query):
            return await bucket_api.object_lock_missing(ctx)
        if _takes_version(method, query) and is_other_version(query.get("versionId")):
            delete = method == "DELETE" and "tagging" not in query
            return await object_api.absent_version(ctx, delete=delete)
        if method == "PUT":
            if "uploadId" in query or "partNumber" in query:
                if "x-amz-copy-source" in ctx.headers:
                    return await multipart_api.upload_part_copy(ctx)
                return await multipart_api.upload_part(ctx)
            if "acl" in query:
                return await object_api.put_acl(ctx)
            if "tagging" in query:
                return await object_api.put_tagging(ctx)
            if _NOT_IMPLEMENTED_SUBRESOURCES.intersection(query):
                raise S3Error("NotImplemented")
            if "x-amz-copy-source" in ctx.headers:
                return await object_api.copy_object(ctx)
            return await object_api.put_object(ctx)
        if method in ("GET", "HEAD"):
            if "uploadId" in query and method == "GET":
                return await multipart_api.list_parts(ctx)
            if "acl" in query and method == "GET":
                return await object_api.get_acl(ctx)
            if "tagging" in query and method == "GET":
                return await object_api.get_tagging(ctx)
            if "attributes" in query and method == "GET":
                return await object_api.get_attributes(ctx)
            if _NOT_IMPLEMENTED_SUBRESOURCES.intersection(query):
                raise S3Error("NotImplemented")
            return await object_api.get_object(ctx, head=method == "HEAD")
        if method == "DELETE":
            if "uploadId" in query:
                return await multipart_api.abort_upload(ctx)
            if "tagging" in query:
                return await object_api.delete_tagging(ctx)
            return await object_api.delete_object(ctx)
        if method == "POST":
            if "uploads" in query:
                return await multipart_api.create_upload(ctx)
            if "uploadId" in query:
                return await multipart_api.complete_upload(ctx)
            raise S3Error("NotImplemented")
        raise S3Error("MethodNotAllowed")

    @staticmethod
    def error_response(ctx: Ctx, exc: S3Error) -> Response:
        headers = list(ctx.response_headers)
        headers.extend(
            (name, value)
            for name, value in exc.headers.items()
            if not name.startswith("x-strongroom")
        )
        if exc.status == 304:
            return Response(304, headers, b"")
        children = [element("Code", exc.code), element("Message", exc.message)]
        if ctx.key:
            children.append(element("Key", ctx.key))
        if ctx.bucket:
            children.append(element("BucketName", ctx.bucket))
        children.extend(element(name, value) for name, value in exc.extra.items())
        resource = exc.resource or ctx.resource
        if not resource.startswith("/"):
            resource = "/" + resource  # a bare bucket name is the resource /bucket
        children.append(element("Resource", resource))
        children.append(element("RequestId", ctx.request_id))
        children.append(element("HostId", ctx.request_id))
        body = document("Error", children, namespace=False)
        headers.append(("Content-Type", "application/xml"))
        if ctx.request.method == "HEAD":
            return Response(exc.status, headers, b"", content_length=0)
        return Response(exc.status, headers, body)
