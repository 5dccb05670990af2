"""The object server's admin KMS API (MinIO's ``/minio/admin/v3/kms/...``), as ``mc admin kms``.

Requests are AWS SigV4-signed (service ``s3``, the alias's region) with the alias's
credentials; responses are JSON. Errors come back as ``{"Code": ..., "Message": ...}``.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from strongroom.client.aliases import Alias
from strongroom.client.connection import CONNECT_TIMEOUT, quiet_insecure_warnings, verify_setting
from strongroom.client.errors import ClientError, error_for_code, from_botocore

__all__ = ["AdminClient", "KMSKeyStatus", "KMSStatus"]

ADMIN_PREFIX = "/minio/admin/v3"


@dataclass(frozen=True)
class KMSStatus:
    name: str
    default_key: str
    endpoints: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "success",
            "name": self.name,
            "defaultKeyID": self.default_key,
            "endpoints": dict(self.endpoints),
        }

    def to_text(self) -> list[str]:
        lines = [f"Name        : {self.name}", f"Default Key : {self.default_key}", "Endpoints   :"]
        lines += [f"  - {url}: {state}" for url, state in sorted(self.endpoints.items())]
        return lines


@dataclass(frozen=True)
class KMSKeyStatus:
    key_id: str
    encryption_error: str | None = None
    decryption_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.encryption_error is None and self.decryption_error is None

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "status": "success" if self.ok else "error",
            "key-id": self.key_id,
            "encryption": self.encryption_error is None,
            "decryption": self.decryption_error is None and self.encryption_error is None,
        }
        if self.encryption_error:
            value["encryption-error"] = self.encryption_error
        if self.decryption_error:
            value["decryption-error"] = self.decryption_error
        return value

    def to_text(self) -> list[str]:
        def mark(error: str | None, skipped: bool = False) -> str:
            if skipped:
                return "✗ (not tried)"
            return "✔" if error is None else f"✗ {error}"

        return [
            f"Key: {self.key_id}",
            f"   - Encryption {mark(self.encryption_error)}",
            f"   - Decryption {mark(self.decryption_error, self.encryption_error is not None)}",
        ]


def _error_fields(body: bytes, status: int) -> tuple[str, str]:
    """Code and message of an error response: JSON (admin API) or S3 XML (auth failures)."""
    text = body.decode(errors="replace").strip()
    try:
        error = json.loads(body)
        if isinstance(error, dict):
            return str(error.get("Code") or f"HTTP{status}"), str(error.get("Message") or "")
    except ValueError:
        pass
    code = re.search(r"<Code>([^<]*)</Code>", text)
    message = re.search(r"<Message>([^<]*)</Message>", text)
    if code:
        return html.unescape(code.group(1)), html.unescape(message.group(1) if message else "")
    return f"HTTP{status}", text[:200]


class AdminClient:
    def __init__(self, alias: Alias, *, timeout: float = 30.0) -> None:
        self.alias = alias
        self.timeout = timeout

    def _request(
        self, action: str, method: str, path: str, query: dict[str, str] | None = None
    ) -> Any:
        from botocore.auth import S3SigV4Auth  # type: ignore[import-untyped]
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
        from botocore.credentials import Credentials  # type: ignore[import-untyped]
        from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]
        from botocore.httpsession import URLLib3Session  # type: ignore[import-untyped]

        base = urlsplit(self.alias.url)
        url = f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}{ADMIN_PREFIX}{path}"
        if query:
            url += "?" + "&".join(
                f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items()
            )
        request = AWSRequest(method=method, url=url, data=b"")
        credentials = Credentials(self.alias.access_key, self.alias.secret_key)
        S3SigV4Auth(credentials, "s3", self.alias.region).add_auth(request)
        if self.alias.insecure:
            quiet_insecure_warnings()
        session = URLLib3Session(
            verify=verify_setting(self.alias), timeout=(CONNECT_TIMEOUT, self.timeout)
        )
        target = self.alias.name
        try:
            response = session.send(request.prepare())
        except BotoCoreError as exc:
            raise from_botocore(exc, "Unable to reach", self.alias.url) from None
        finally:
            session.close()
        body: bytes = response.content or b""
        if response.status_code >= 300:
            code, message = _error_fields(body, response.status_code)
            raise error_for_code(
                code,
                f"{action}: {message or 'request failed'}",
                status=response.status_code,
                target=target,
                detail=message or None,
            )
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except ValueError:
            raise ClientError(f"{action}: the response is not JSON") from None

    def kms_status(self) -> KMSStatus:
        data = self._request(
            f"Unable to get the KMS status of `{self.alias.name}`", "POST", "/kms/status"
        )
        if not isinstance(data, dict):
            raise ClientError("kms status: unexpected response")
        endpoints = data.get("endpoints") or {}
        return KMSStatus(
            name=str(data.get("name", "")),
            default_key=str(data.get("default-key-id", "")),
            endpoints={str(k): str(v) for k, v in endpoints.items()},
            raw=data,
        )

    def create_key(self, name: str) -> None:
        self._request(
            f"Unable to create KMS key `{name}` on `{self.alias.name}`",
            "POST",
            "/kms/key/create",
            {"key-id": name},
        )

    def key_status(self, name: str | None = None) -> KMSKeyStatus:
        data = self._request(
            f"Unable to get the status of KMS key `{name or '(default)'}` on `{self.alias.name}`",
            "GET",
            "/kms/key/status",
            {"key-id": name or ""},
        )
        if not isinstance(data, dict):
            raise ClientError("kms key status: unexpected response")
        return KMSKeyStatus(
            key_id=str(data.get("key-id", name or "")),
            encryption_error=data.get("encryption-error") or None,
            decryption_error=data.get("decryption-error") or None,
        )
