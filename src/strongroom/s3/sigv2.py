"""AWS Signature Version 2 (header ``Authorization: AWS key:sig`` and presigned query strings).

Still what boto3's ``generate_presigned_url`` produces for S3 by default, and what older tools
send. The payload is not signed in V2: bodies are checked by Content-MD5 and checksums only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from strongroom.s3.errors import S3Error
from strongroom.s3.sigv4 import AuthResult, PayloadMode

# Query parameters that are part of the V2 canonical resource (sorted when rendered).
SUB_RESOURCES = frozenset(
    {
        "acl",
        "cors",
        "delete",
        "encryption",
        "lifecycle",
        "location",
        "logging",
        "notification",
        "partNumber",
        "policy",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "select",
        "select-type",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)
MAX_SKEW = timedelta(minutes=15)


def is_v2(raw_query: str, headers: Mapping[str, str]) -> bool:
    if headers.get("authorization", "").startswith("AWS "):
        return True
    return "Signature=" in raw_query and "AWSAccessKeyId=" in raw_query


def canonical_resource(bucket_prefix: str, raw_path: str, raw_query: str) -> str:
    """``bucket_prefix`` is ``/bucket`` for virtual-host-style requests, else empty."""
    pairs = [(k, v) for k, v in parse_qsl(raw_query, keep_blank_values=True) if k in SUB_RESOURCES]
    pairs.sort()
    resource = bucket_prefix + (raw_path or "/")
    if pairs:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in pairs)
    return resource


def resource_variants(resource: str) -> tuple[str, ...]:
    """The canonical resource, and for a path-style bucket request also its other spelling.

    botocore signs a bucket-level request as ``/bucket/`` (the virtual-host form) while it
    sends ``/bucket``; both name the same bucket, so both are accepted.
    """
    path, sep, query = resource.partition("?")
    if path.count("/") == 1 and len(path) > 1:
        return resource, path + "/" + sep + query
    if path.count("/") == 2 and path.endswith("/") and len(path) > 2:
        return resource, path[:-1] + sep + query
    return (resource,)


def _amz_headers(headers: Mapping[str, str]) -> str:
    names = sorted(name for name in headers if name.startswith("x-amz-"))
    return "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in names)


def string_to_sign(
    method: str, headers: Mapping[str, str], date_or_expires: str, resource: str
) -> str:
    return "\n".join(
        [
            method,
            headers.get("content-md5", ""),
            headers.get("content-type", ""),
            date_or_expires,
            _amz_headers(headers) + resource,
        ]
    )


def sign(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _result(access_key: str) -> AuthResult:
    return AuthResult(
        access_key=access_key,
        payload=PayloadMode.UNSIGNED,
        expected_sha256=None,
        signature="",
        signing_key=b"",
        scope="",
        amz_date="",
        region="",
        signed_headers=(),
    )


def authenticate(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    *,
    lookup_secret: Callable[[str], str | None],
    now: datetime,
    bucket_prefix: str = "",
) -> AuthResult:
    resource = canonical_resource(bucket_prefix, raw_path, raw_query)
    authorization = headers.get("authorization")
    if authorization is not None:
        credential = authorization[len("AWS ") :]
        access_key, sep, signature = credential.rpartition(":")
        if not sep or not access_key:
            raise S3Error("AuthorizationHeaderMalformed", "The authorization header is malformed")
        if "x-amz-date" in headers:
            date_text, date_field = headers["x-amz-date"], ""
        elif "date" in headers:
            date_text = date_field = headers["date"]
        else:
            raise S3Error(
                "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
            )
        try:
            when = parsedate_to_datetime(date_text)
        except (TypeError, ValueError, IndexError):
            raise S3Error(
                "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
            ) from None
        if when.tzinfo is None or abs(now - when) > MAX_SKEW:
            raise S3Error("RequestTimeTooSkewed")
        date_or_expires = date_field
    else:
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        access_key = params.get("AWSAccessKeyId", "")
        signature = params.get("Signature", "")
        expires = params.get("Expires", "")
        if not access_key or not signature or not expires.isdigit():
            raise S3Error(
                "AccessDenied",
                "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
            )
        if now.timestamp() > int(expires):
            raise S3Error("AccessDenied", "Request has expired")
        date_or_expires = expires
    secret = lookup_secret(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId")
    for variant in resource_variants(resource):
        text = string_to_sign(method, headers, date_or_expires, variant)
        if hmac.compare_digest(sign(secret, text).encode(), signature.encode()):
            return _result(access_key)
    raise S3Error("SignatureDoesNotMatch")
