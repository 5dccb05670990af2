"""POST Object: browser-form uploads authenticated by a signed policy document.

The request is ``multipart/form-data`` to ``/bucket``; its fields carry the key, the base64
policy and its signature (SigV4: ``x-amz-algorithm/credential/date/signature``; V2:
``AWSAccessKeyId`` and ``signature``), and the last field, ``file``, the object. The policy's
expiration and every condition are checked before the object is published; every form field
(but the signature fields, ``file``, ``policy`` and ``x-ignore-*``) must be covered by a
condition, as AWS requires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from strongroom.crypto import dare
from strongroom.net.streaming import Response
from strongroom.s3 import objectmeta, sse
from strongroom.s3.bucket_api import require_bucket
from strongroom.s3.context import Ctx
from strongroom.s3.errors import S3Error
from strongroom.s3.names import check_object_key
from strongroom.s3.object_api import finish_segment, new_key, publish, requested_sse
from strongroom.s3.payload import MAX_OBJECT_SIZE, store_stream
from strongroom.s3.sigv4 import derive_signing_key
from strongroom.s3.storage import ObjectRecord
from strongroom.s3.xmlio import document, element

MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 100
MAX_PART_HEADER_BYTES = 8 * 1024
_BOUNDARY_RE = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_NAME_RE = re.compile(r'\bname="([^"]*)"', re.IGNORECASE)
_FILENAME_RE = re.compile(r'\bfilename="([^"]*)"', re.IGNORECASE)
_UNCHECKED_FIELDS = frozenset(
    {"file", "policy", "x-amz-signature", "signature", "awsaccesskeyid", "x-amz-credential",
     "x-amz-algorithm", "x-amz-date", "x-amz-security-token"}
)  # fmt: skip


def is_post_object(ctx: Ctx) -> bool:
    request = ctx.request
    content_type = request.headers.get("content-type", "").lower()
    return (
        request.method == "POST"
        and bool(ctx.bucket)
        and not ctx.key
        and not ctx.query
        and content_type.startswith("multipart/form-data")
    )


class _Form:
    """A streaming multipart/form-data reader: fields into memory (bounded), the ``file``
    field as a stream of chunks."""

    def __init__(self, ctx: Ctx, boundary: bytes) -> None:
        self._body = ctx.request.body
        self._delimiter = b"\r\n--" + boundary
        self._buffer = bytearray(b"\r\n")  # the first boundary has no CRLF before it
        self._eof = False
        self.fields: dict[str, str] = {}
        self.filename = ""
        self.file_content_type = ""

    async def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = await self._body.read()
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    async def _until(self, marker: bytes, limit: int) -> bytes:
        while True:
            index = self._buffer.find(marker)
            if index >= 0:
                found = bytes(self._buffer[:index])
                del self._buffer[: index + len(marker)]
                return found
            if len(self._buffer) > limit + len(marker):
                raise S3Error("MalformedPOSTRequest", "A form field is too large")
            if not await self._fill():
                raise S3Error("MalformedPOSTRequest")

    async def read_fields(self) -> bool:
        """Read fields up to the file; True when a file field follows."""
        await self._until(self._delimiter, MAX_FIELD_BYTES)
        while True:
            trailer = await self._until(b"\r\n", 2)
            if trailer == b"--":
                return False
            if trailer:
                raise S3Error("MalformedPOSTRequest")
            raw_headers = await self._until(b"\r\n\r\n", MAX_PART_HEADER_BYTES)
            disposition = ""
            content_type = ""
            for line in raw_headers.decode("utf-8", "replace").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-disposition":
                    disposition = value.strip()
                elif name.strip().lower() == "content-type":
                    content_type = value.strip()
            match = _NAME_RE.search(disposition)
            if match is None:
                raise S3Error("MalformedPOSTRequest")
            name = match.group(1)
            if name.lower() == "file":
                filename = _FILENAME_RE.search(disposition)
                self.filename = filename.group(1) if filename else ""
                self.file_content_type = content_type
                return True
            if len(self.fields) >= MAX_FIELDS:
                raise S3Error("MalformedPOSTRequest", "Too many form fields")
            raw_value = await self._until(self._delimiter, MAX_FIELD_BYTES)
            self.fields[name.lower()] = raw_value.decode("utf-8", "replace")

    async def file_chunks(self) -> AsyncIterator[bytes]:
        """The file field's bytes, up to the next boundary (the rest of the form is ignored)."""
        keep = len(self._delimiter)
        while True:
            index = self._buffer.find(self._delimiter)
            if index >= 0:
                if index:
                    yield bytes(self._buffer[:index])
                del self._buffer[:]
                while await self._fill():  # drain the closing boundary and any later fields
                    del self._buffer[:]
                return
            if len(self._buffer) > keep:
                cut = len(self._buffer) - keep
                yield bytes(self._buffer[:cut])
                del self._buffer[:cut]
            if not await self._fill():
                raise S3Error("IncompleteBody", "The form ended before the file's boundary")


def _verify_signature(ctx: Ctx, fields: dict[str, str]) -> None:
    policy = fields.get("policy", "")
    lookup = ctx.services.config.credentials.lookup
    if "x-amz-signature" in fields:
        if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
            raise S3Error("InvalidArgument", "Unsupported x-amz-algorithm in the form")
        credential = fields.get("x-amz-credential", "").split("/")
        if len(credential) != 5 or credential[3] != "s3" or credential[4] != "aws4_request":
            raise S3Error("InvalidArgument", "Malformed x-amz-credential in the form")
        access_key, date, region = credential[0], credential[1], credential[2]
        secret = lookup(access_key)
        if secret is None:
            raise S3Error("InvalidAccessKeyId")
        expected = hmac.new(
            derive_signing_key(secret, date, region), policy.encode(), hashlib.sha256
        ).hexdigest()
        provided = fields["x-amz-signature"]
    elif "signature" in fields and "awsaccesskeyid" in fields:
        secret = lookup(fields["awsaccesskeyid"])
        if secret is None:
            raise S3Error("InvalidAccessKeyId")
        digest = hmac.new(secret.encode(), policy.encode(), hashlib.sha1).digest()
        expected = base64.b64encode(digest).decode()
        provided = fields["signature"]
    else:
        raise S3Error("AccessDenied", "The form carries no signature")
    if not policy:
        raise S3Error("AccessDenied", "The form carries no policy")
    if not hmac.compare_digest(expected.encode(), provided.encode()):
        raise S3Error("SignatureDoesNotMatch")


def _load_policy(fields: dict[str, str]) -> dict[str, Any]:
    try:
        policy = json.loads(base64.b64decode(fields["policy"], validate=True))
    except (binascii.Error, ValueError, KeyError):
        raise S3Error("MalformedPOSTRequest", "The policy is not base64-encoded JSON") from None
    if not isinstance(policy, dict) or not isinstance(policy.get("conditions"), list):
        raise S3Error("MalformedPOSTRequest", "The policy has no conditions")
    expiration = policy.get("expiration")
    try:
        expires = datetime.fromisoformat(str(expiration).replace("Z", "+00:00"))
    except ValueError:
        raise S3Error("MalformedPOSTRequest", "The policy expiration is invalid") from None
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if expires < datetime.now(UTC):
        raise S3Error("AccessDenied", "Invalid according to Policy: Policy expired.")
    return policy


def _check_conditions(
    policy: dict[str, Any], fields: dict[str, str], bucket: str
) -> tuple[int, int]:
    """Check every condition; return the content-length range (min, max)."""
    values = dict(fields)
    values["bucket"] = bucket
    covered: set[str] = set()
    length_range = (0, MAX_OBJECT_SIZE)

    def fail(reason: str) -> S3Error:
        return S3Error(
            "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {reason}"
        )

    for condition in policy["conditions"]:
        if isinstance(condition, dict):
            for name, expected in condition.items():
                key = str(name).lower()
                covered.add(key)
                if values.get(key) != str(expected):
                    raise fail(f'["eq", "${name}", "{expected}"]')
            continue
        if not isinstance(condition, list) or len(condition) != 3:
            raise S3Error("MalformedPOSTRequest", "A policy condition is malformed")
        operator = str(condition[0]).lower()
        if operator == "content-length-range":
            try:
                length_range = (int(condition[1]), int(condition[2]))
            except (TypeError, ValueError):
                raise S3Error("MalformedPOSTRequest", "content-length-range is malformed") from None
            continue
        name = str(condition[1])
        if not name.startswith("$"):
            raise S3Error("MalformedPOSTRequest", "A policy condition names no field")
        key = name[1:].lower()
        covered.add(key)
        actual = values.get(key, "")
        expected = str(condition[2])
        if operator == "eq" and actual != expected:
            raise fail(f'["eq", "{name}", "{expected}"]')
        if operator == "starts-with":
            candidates = actual.split(",") if key == "content-type" else [actual]
            if not all(c.strip().startswith(expected) for c in candidates):
                raise fail(f'["starts-with", "{name}", "{expected}"]')
        elif operator not in ("eq", "starts-with"):
            raise S3Error("MalformedPOSTRequest", f"Unknown policy condition {operator}")
    for name in fields:
        if name in _UNCHECKED_FIELDS or name.startswith("x-ignore-") or name in covered:
            continue
        raise S3Error(
            "AccessDenied",
            f"Invalid according to Policy: Extra input fields: {name}",
        )
    return length_range


async def post_object(ctx: Ctx) -> Response:
    await require_bucket(ctx)
    match = _BOUNDARY_RE.search(ctx.headers.get("content-type", ""))
    if match is None:
        raise S3Error("MalformedPOSTRequest")
    form = _Form(ctx, match.group(1).encode())
    if not await form.read_fields():
        raise S3Error("InvalidArgument", "POST requires exactly one file upload per request.")
    fields = form.fields
    _verify_signature(ctx, fields)
    policy = _load_policy(fields)
    key = fields.get("key", "").replace("${filename}", form.filename)
    fields["key"] = key
    low, high = _check_conditions(policy, fields, ctx.bucket)
    check_object_key(key)
    ctx.key = key
    headers = {name: value for name, value in fields.items()}
    if form.file_content_type and "content-type" not in headers:
        headers["content-type"] = form.file_content_type
    meta = objectmeta.from_headers(headers)
    object_key = await new_key(ctx, await requested_sse(ctx, headers))
    transform = dare.DareEncryptor(object_key.key) if object_key is not None else None
    received = await store_stream(ctx, form.file_chunks(), transform=transform, max_size=high)
    if not low <= received.segment.plain_size <= high:
        ctx.storage.remove_data([received.segment.file] if received.segment.file else [])
        raise S3Error(
            "EntityTooSmall" if received.segment.plain_size < low else "EntityTooLarge",
            "Your proposed upload does not match the policy's content-length-range",
        )
    etag = finish_segment(ctx, received, object_key)
    if object_key is not None:
        meta.update(object_key.meta)
    record = ObjectRecord(
        ctx.bucket, key, received.segment.plain_size, received.segment.etag, time.time(), meta,
        [received.segment],
    )  # fmt: skip
    await publish(ctx, record)
    response_headers = [("ETag", f'"{etag}"'), ("Location", f"/{ctx.bucket}/{quote(key)}")]
    response_headers.extend(sse.response_headers(object_key, meta))
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect:
        separator = "&" if "?" in redirect else "?"
        target = (
            f"{redirect}{separator}bucket={quote(ctx.bucket)}&key={quote(key)}"
            f"&etag={quote(chr(34) + etag + chr(34))}"
        )
        return ctx.response(303, headers=[*response_headers, ("Location", target)])
    status = fields.get("success_action_status", "204")
    if status == "201":
        body = document(
            "PostResponse",
            [
                element("Location", f"/{ctx.bucket}/{key}"),
                element("Bucket", ctx.bucket),
                element("Key", key),
                element("ETag", f'"{etag}"'),
            ],
            namespace=False,
        )
        return ctx.response(201, body, response_headers, xml=True)
    return ctx.response(200 if status == "200" else 204, headers=response_headers)
