"""MinIO's admin KMS API (``/minio/admin/v3/kms/...``) and KMS API (``/minio/kms/v1/...``).

Requests are SigV4-signed with the root credentials; responses are JSON. Shapes follow
madmin's ``KMSStatus`` and ``KMSKeyStatus`` (``../shared/specs/minio-sse.md`` §2.10).
"""

from __future__ import annotations

import json
from typing import Any

from strongroom import __version__
from strongroom.kms.base import (
    KMS,
    KMSError,
    KMSKeyExistsError,
    KMSKeyNotFoundError,
    KMSNotSupportedError,
    KMSUnavailableError,
)
from strongroom.net.streaming import Response
from strongroom.s3.context import Ctx

ADMIN_PREFIX = "/minio/admin/v3/"
KMS_PREFIX = "/minio/kms/v1/"


def is_admin_path(path: str) -> bool:
    return path.startswith((ADMIN_PREFIX, KMS_PREFIX))


def _json(ctx: Ctx, status: int, value: Any) -> Response:
    body = json.dumps(value).encode() if value is not None else b""
    headers = [("Content-Type", "application/json")] if body else []
    return ctx.response(status, body, headers)


def _error(ctx: Ctx, status: int, code: str, message: str) -> Response:
    return _json(
        ctx,
        status,
        {
            "Code": code,
            "Message": message,
            "Resource": ctx.request.path,
            "RequestId": ctx.request_id,
            "HostId": ctx.request_id,
        },
    )


def _kms_failure(ctx: Ctx, exc: KMSError) -> Response:
    if isinstance(exc, KMSKeyExistsError):
        return _error(ctx, 409, "kms:KeyAlreadyExists", str(exc))
    if isinstance(exc, KMSKeyNotFoundError):
        return _error(ctx, 404, "kms:KeyNotFound", str(exc))
    if isinstance(exc, KMSNotSupportedError):
        return _error(ctx, 501, "kms:NotSupported", str(exc))
    if isinstance(exc, KMSUnavailableError):
        return _error(ctx, 503, "kms:Unavailable", str(exc))
    return _error(ctx, 500, "kms:Error", str(exc))


async def handle(ctx: Ctx) -> Response:
    path = ctx.request.path
    method = ctx.request.method
    kms = ctx.services.config.kms
    if kms is None:
        return _error(ctx, 501, "NotImplemented", "KMS is not configured")
    route = (
        path[len(ADMIN_PREFIX) :]
        if path.startswith(ADMIN_PREFIX)
        else "kms-v1/" + path[len(KMS_PREFIX) :]
    )
    try:
        if route in ("kms/status", "kms-v1/status") and method in ("GET", "POST"):
            return await _status(ctx, kms)
        if route in ("kms/key/create", "kms-v1/key/create") and method in ("POST", "PUT"):
            name = ctx.query.get("key-id", "")
            if not name:
                return _error(ctx, 400, "InvalidArgument", "key-id is required")
            await kms.create_key(name)
            return _json(ctx, 200, None)
        if route in ("kms/key/status", "kms-v1/key/status") and method in ("GET", "POST"):
            return await _key_status(ctx, kms)
        if route == "kms-v1/version" and method == "GET":
            return _json(ctx, 200, {"version": f"strongroom {__version__}"})
        if route == "kms-v1/key/list" and method == "GET":
            lister = getattr(kms, "list_keys", None)
            if lister is None:
                return _error(ctx, 501, "kms:NotSupported", "this KMS cannot list keys")
            names = await lister()
            pattern = ctx.query.get("pattern", "*")
            return _json(ctx, 200, [{"name": n} for n in names if _match(pattern, n)])
    except KMSError as exc:
        return _kms_failure(ctx, exc)
    return _error(ctx, 404, "XMinioAdminAPINotFound", f"no admin API {method} {path}")


async def _status(ctx: Ctx, kms: KMS) -> Response:
    status = await kms.status()
    return _json(
        ctx,
        200,
        {
            "name": status.name,
            "default-key-id": status.default_key,
            "endpoints": dict(status.endpoints),
        },
    )


async def _key_status(ctx: Ctx, kms: KMS) -> Response:
    name = ctx.query.get("key-id", "") or kms.default_key
    result = await kms.key_status(name)
    body: dict[str, str] = {"key-id": result.key_id}
    if not result.encryption_ok:
        body["encryption-error"] = result.error or "encryption failed"
    elif not result.decryption_ok:
        body["decryption-error"] = result.error or "decryption failed"
    return _json(ctx, 200, body)


def _match(pattern: str, name: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern or "*")
