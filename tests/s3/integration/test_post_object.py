"""POST Object: browser-form uploads with a signed policy (SigV4 and V2)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server

from strongroom.s3.sigv4 import derive_signing_key


def v4_form(policy: dict[str, Any], **fields: str) -> dict[str, str]:
    now = datetime.now(UTC)
    date = now.strftime("%Y%m%d")
    credential = f"{ACCESS_KEY}/{date}/us-east-1/s3/aws4_request"
    form = {
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": credential,
        "x-amz-date": now.strftime("%Y%m%dT%H%M%SZ"),
        **fields,
    }
    conditions = policy.setdefault("conditions", [])
    conditions += [
        {"x-amz-algorithm": form["x-amz-algorithm"]},
        {"x-amz-credential": credential},
        {"x-amz-date": form["x-amz-date"]},
    ]
    encoded = base64.b64encode(json.dumps(policy).encode()).decode()
    key = derive_signing_key(SECRET_KEY, date, "us-east-1")
    form["policy"] = encoded
    form["x-amz-signature"] = hmac.new(key, encoded.encode(), hashlib.sha256).hexdigest()
    return form


def expiry(minutes: int = 10) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def post(
    server: S3Server, bucket: str, form: dict[str, str], content: bytes, filename: str = "f.txt"
) -> httpx.Response:
    with httpx.Client(timeout=10) as client:
        return client.post(
            f"{server.endpoint}/{bucket}", data=form, files={"file": (filename, content)}
        )


def test_post_object_v4(server: S3Server, s3: Any, bucket: str) -> None:
    policy = {
        "expiration": expiry(),
        "conditions": [
            {"bucket": bucket},
            ["starts-with", "$key", "uploads/"],
            ["content-length-range", 1, 1000],
            ["starts-with", "$Content-Type", "text/"],
            {"x-amz-meta-origin": "form"},
        ],
    }
    form = v4_form(
        policy,
        key="uploads/${filename}",
        **{"Content-Type": "text/plain", "x-amz-meta-origin": "form"},
    )
    response = post(server, bucket, form, b"posted from a form", filename="hello.txt")
    assert response.status_code == 204, response.text
    got = s3.get_object(Bucket=bucket, Key="uploads/hello.txt")
    assert got["Body"].read() == b"posted from a form"
    assert got["ContentType"] == "text/plain"
    assert got["Metadata"] == {"origin": "form"}
    assert response.headers["etag"] == got["ETag"]


def test_post_object_201_and_v2(server: S3Server, s3: Any, bucket: str) -> None:
    policy = {
        "expiration": expiry(),
        "conditions": [{"bucket": bucket}, {"key": "v2.bin"}, {"success_action_status": "201"}],
    }
    encoded = base64.b64encode(json.dumps(policy).encode()).decode()
    signature = base64.b64encode(
        hmac.new(SECRET_KEY.encode(), encoded.encode(), hashlib.sha1).digest()
    ).decode()
    form = {
        "key": "v2.bin",
        "AWSAccessKeyId": ACCESS_KEY,
        "policy": encoded,
        "signature": signature,
        "success_action_status": "201",
    }
    response = post(server, bucket, form, b"\x00\x01binary")
    assert response.status_code == 201, response.text
    assert b"<Key>v2.bin</Key>" in response.content
    assert s3.get_object(Bucket=bucket, Key="v2.bin")["Body"].read() == b"\x00\x01binary"


def test_post_object_refusals(server: S3Server, s3: Any, bucket: str) -> None:
    base = {
        "conditions": [
            {"bucket": bucket},
            ["starts-with", "$key", "ok/"],
            ["content-length-range", 0, 10],
        ]
    }
    expired = v4_form({"expiration": expiry(-1), **json.loads(json.dumps(base))}, key="ok/a")
    assert post(server, bucket, expired, b"x").status_code == 403
    wrong_key = v4_form({"expiration": expiry(), **json.loads(json.dumps(base))}, key="other/a")
    assert post(server, bucket, wrong_key, b"x").status_code == 403
    too_big = v4_form({"expiration": expiry(), **json.loads(json.dumps(base))}, key="ok/big")
    response = post(server, bucket, too_big, b"x" * 11)
    assert response.status_code == 400 and b"EntityTooLarge" in response.content
    extra = v4_form(
        {"expiration": expiry(), **json.loads(json.dumps(base))},
        key="ok/extra",
        **{"x-amz-meta-sneaky": "1"},
    )
    assert post(server, bucket, extra, b"x").status_code == 403
    tampered = v4_form({"expiration": expiry(), **json.loads(json.dumps(base))}, key="ok/t")
    tampered["x-amz-signature"] = "0" * 64
    response = post(server, bucket, tampered, b"x")
    assert response.status_code == 403 and b"SignatureDoesNotMatch" in response.content
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert listed == []
