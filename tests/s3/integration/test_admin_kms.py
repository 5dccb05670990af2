"""The admin KMS API and health probes of the object server."""

from __future__ import annotations

import http.client
import json
from typing import Any

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server


def admin(server: S3Server, method: str, path: str, *, secret: str = SECRET_KEY) -> tuple[int, Any]:
    request = AWSRequest(method=method, url=f"{server.endpoint}{path}", data=b"")
    S3SigV4Auth(Credentials(ACCESS_KEY, secret), "s3", "us-east-1").add_auth(request)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, headers=dict(request.headers.items()))
        response = conn.getresponse()
        raw = response.read()
        body = (
            json.loads(raw)
            if raw and response.getheader("Content-Type") == "application/json"
            else raw
        )
        return response.status, body
    finally:
        conn.close()


def test_kms_status(server: S3Server) -> None:
    code, body = admin(server, "POST", "/minio/admin/v3/kms/status")
    assert code == 200
    assert body["name"] == "Builtin"
    assert body["default-key-id"] == "strongroom-local-key"
    assert body["endpoints"] == {"127.0.0.1": "online"}
    code, again = admin(server, "GET", "/minio/kms/v1/status")
    assert (code, again) == (200, body)


def test_kms_key_status_and_create(server: S3Server) -> None:
    code, body = admin(server, "GET", "/minio/admin/v3/kms/key/status?key-id=")
    assert (code, body) == (200, {"key-id": "strongroom-local-key"})
    code, body = admin(server, "GET", "/minio/admin/v3/kms/key/status?key-id=other")
    assert code == 200 and body["key-id"] == "other" and "encryption-error" in body
    code, body = admin(server, "POST", "/minio/admin/v3/kms/key/create?key-id=strongroom-local-key")
    assert code == 409 and body["Code"] == "kms:KeyAlreadyExists"


def test_admin_api_requires_credentials(server: S3Server) -> None:
    code, body = admin(server, "POST", "/minio/admin/v3/kms/status", secret="wrong-secret-key")
    assert code == 403
    assert b"SignatureDoesNotMatch" in body


def test_health_probes_are_anonymous(server: S3Server) -> None:
    for path in ("/minio/health/live", "/minio/health/ready"):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.status == 200
        finally:
            conn.close()


def test_builtin_kms_cannot_create_other_keys(server: S3Server) -> None:
    code, body = admin(server, "POST", "/minio/admin/v3/kms/key/create?key-id=another-key")
    assert code == 501 and body["Code"] == "kms:NotSupported"
