"""An async client for KES-compatible key servers (ours and upstream KES), over mTLS.

The client authenticates with a certificate and private key (PEM files) or with a ``kes:v1:``
API key (turned into a self-signed Ed25519 certificate, spec kes.md §2.3). Server certificates are
verified by default (``ca`` adds a CA file or directory); ``insecure=True`` skips that, like
``kes ... -k``.

Several endpoints make the client fail over like kms-go (``specs/minio-sse.md`` §5.3): a
localhost endpoint is tried first, then the others from a random start; a transport error or a
5xx other than 501 puts an endpoint in a 30-second timeout and moves on; every call is retried two
more times on network errors and 503 after 200-1000 ms.

Errors::

    KESError                      status + the server's message (``{"message"|"error":…}``)
    ├── KESNotAllowedError        403
    ├── KESKeyExistsError         400 "key does already exist" / "key already exists"
    ├── KESKeyNotFoundError       404 "key does not exist"
    ├── KESDecryptError           400 "decryption failed: …" / "ciphertext is not authentic"
    └── KESUnavailableError       no endpoint answered (status 0)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import os
import random
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

__all__ = [
    "KESClient",
    "KESDecryptError",
    "KESError",
    "KESKeyExistsError",
    "KESKeyNotFoundError",
    "KESNotAllowedError",
    "KESUnavailableError",
    "client_ssl_context",
    "parse_endpoints",
]

DEFAULT_SERVER = "https://127.0.0.1:7373"
_MAX_RESPONSE = 1 << 20
_ENDPOINT_TIMEOUT = 30.0


class KESError(Exception):
    """An error answer from the key server: HTTP ``status`` and its ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.message!r})"


class KESNotAllowedError(KESError):
    pass


class KESKeyExistsError(KESError):
    pass


class KESKeyNotFoundError(KESError):
    pass


class KESDecryptError(KESError):
    pass


class KESUnavailableError(KESError):
    pass


def _typed_error(status: int, message: str) -> KESError:
    if status == 403:
        return KESNotAllowedError(status, message)
    if status == 400 and message in ("key does already exist", "key already exists"):
        return KESKeyExistsError(status, message)
    if status == 404 and message == "key does not exist":
        return KESKeyNotFoundError(status, message)
    if status == 400 and message in (
        "decryption failed: ciphertext is not authentic",
        "ciphertext is not authentic",
    ):
        return KESDecryptError(status, message)
    return KESError(status, message)


def error_message(body: bytes, content_type: str) -> str:
    """The message of a KES error response: the JSON ``error`` (or ``message``) field, else the
    body's text; empty when there is neither."""
    text = body[:_MAX_RESPONSE].decode("utf-8", "replace")
    if content_type.startswith("application/json"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            value = doc.get("error") or doc.get("message")
            if isinstance(value, str):
                return value
    return text.strip()


def _error_of(response: httpx.Response) -> KESError:
    message = error_message(response.content, response.headers.get("content-type", ""))
    if not message:
        message = response.reason_phrase or f"HTTP {response.status_code}"
    return _typed_error(response.status_code, message)


def parse_endpoints(value: str | Sequence[str]) -> list[str]:
    """Comma-separated or listed endpoints; ``http://`` is replaced and ``https://`` added."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        item = item.strip().rstrip("/")
        if not item:
            continue
        item = item.removeprefix("http://")
        if not item.startswith("https://"):
            item = "https://" + item
        out.append(item)
    if not out:
        raise ValueError("no KES server endpoint given")
    return out


def endpoint_order(endpoints: Sequence[str]) -> list[str]:
    """The order to try endpoints in: a localhost first endpoint first, then the others from a
    random start (load balancing), wrapping around."""
    if len(endpoints) == 1:
        return list(endpoints)
    first: list[str] = []
    rest = list(endpoints)
    if _is_localhost(rest[0]):
        first, rest = [rest[0]], rest[1:]
    start = random.randrange(len(rest)) if rest else 0  # noqa: S311 - load balancing
    return first + rest[start:] + rest[:start]


def _is_localhost(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_ssl_context(
    *,
    cert_file: str | None = None,
    key_file: str | None = None,
    api_key: str | None = None,
    ca: str | None = None,
    insecure: bool = False,
    password: str | None = None,
) -> ssl.SSLContext:
    """TLS context for a KES client: a client certificate (files or API key) and server
    verification (system roots + ``ca``, or none when ``insecure``)."""
    if api_key and (cert_file or key_file):
        raise ValueError("API key and private key file cannot be used at the same time")
    if bool(cert_file) != bool(key_file):
        raise ValueError("a client certificate needs both a certificate and a private key file")
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca:
        if os.path.isdir(ca):
            ctx.load_verify_locations(capath=ca)
            for name in sorted(os.listdir(ca)):
                path = os.path.join(ca, name)
                if os.path.isfile(path):
                    with contextlib.suppress(ssl.SSLError):
                        ctx.load_verify_locations(cafile=path)
        else:
            ctx.load_verify_locations(cafile=ca)
    if cert_file and key_file:
        ctx.load_cert_chain(cert_file, key_file, password)
    elif api_key:
        from strongroom.crypto.identity import api_key_certificate

        key_pem, cert_pem = api_key_certificate(api_key)
        # ssl can only load a key pair from files: write them to a private directory briefly.
        with tempfile.TemporaryDirectory(prefix="kes-client-") as tmp:
            key_path = os.path.join(tmp, "client.key")
            cert_path = os.path.join(tmp, "client.cert")
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key_pem)
            with open(cert_path, "wb") as f:
                f.write(cert_pem)
            ctx.load_cert_chain(cert_path, key_path)
    return ctx


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(doc: Any, name: str) -> bytes:
    if not isinstance(doc, dict) or not isinstance(doc.get(name), str):
        raise KESError(0, f"invalid server response: missing '{name}'")
    return base64.b64decode(doc[name])


def _lines(response: httpx.Response, field: str) -> list[Any]:
    """List responses: ndjson lines (``{"<field>":…}`` / ``{"error":…}``), a JSON object with
    ``names``/``identities``, or a JSON array."""
    ctype = response.headers.get("content-type", "")
    if ctype.split(";")[0].strip() == "application/x-ndjson":
        rows: list[Any] = []
        for line in response.text.splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            if isinstance(doc, dict) and doc.get("error"):
                raise KESError(response.status_code, str(doc["error"]))
            rows.append(doc)
        return rows
    doc = response.json()
    if isinstance(doc, dict):
        for key in ("names", "identities"):
            if isinstance(doc.get(key), list):
                return [{field: n} for n in doc[key]]
        return [{field: k, "policy": v} for k, v in doc.items()]
    if isinstance(doc, list):
        return [d if isinstance(d, dict) else {field: d} for d in doc]
    raise KESError(0, "invalid server response")


class KESClient:
    """Async KES client. Use ``async with KESClient(...) as c:`` or call ``aclose()``."""

    def __init__(
        self,
        endpoints: str | Sequence[str] = DEFAULT_SERVER,
        *,
        cert_file: str | None = None,
        key_file: str | None = None,
        api_key: str | None = None,
        ca: str | None = None,
        insecure: bool = False,
        password: str | None = None,
        timeout: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
        retries: int = 2,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.endpoints = parse_endpoints(endpoints)
        ctx = ssl_context or client_ssl_context(
            cert_file=cert_file,
            key_file=key_file,
            api_key=api_key,
            ca=ca,
            insecure=insecure,
            password=password,
        )
        self._http = httpx.AsyncClient(
            verify=ctx,
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_keepalive_connections=100, keepalive_expiry=30.0),
        )
        self._retries = retries
        self._sleep = sleep
        self._timed_out: dict[str, float] = {}

    async def __aenter__(self) -> KESClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- transport with fail-over ----------------------------------------------------------
    def _order(self) -> list[str]:
        return endpoint_order(self.endpoints)

    async def _send_one(
        self, endpoint: str, method: str, path: str, body: bytes | None
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    method, endpoint + path, content=body, headers=headers
                )
            except httpx.TransportError:
                if attempt >= self._retries:
                    raise
            else:
                if response.status_code != 503 or attempt >= self._retries:
                    return response
            attempt += 1
            await self._sleep(0.2 + random.random() * 0.8)  # noqa: S311 - jitter

    async def request(
        self, method: str, path: str, body: bytes | None = None, *, ok: int = 200
    ) -> httpx.Response:
        """Send to the first endpoint that answers; raise a typed KESError on error answers."""
        now = time.monotonic()
        order = self._order()
        candidates = [e for e in order if self._timed_out.get(e, 0.0) <= now] or order
        last: Exception | None = None
        for endpoint in candidates:
            try:
                response = await self._send_one(endpoint, method, path, body)
            except httpx.TransportError as exc:
                last = exc
                self._timed_out[endpoint] = time.monotonic() + _ENDPOINT_TIMEOUT
                continue
            if response.status_code >= 500 and response.status_code != 501 and len(candidates) > 1:
                self._timed_out[endpoint] = time.monotonic() + _ENDPOINT_TIMEOUT
                last = _error_of(response)
                continue
            self._timed_out.pop(endpoint, None)
            if response.status_code != ok:
                raise _error_of(response)
            return response
        if isinstance(last, KESError):
            raise last
        raise KESUnavailableError(0, f"no KES server reachable: {last}")

    async def _json(self, method: str, path: str, doc: Any | None = None) -> Any:
        body = None if doc is None else json.dumps(doc).encode()
        response = await self.request(method, path, body)
        return response.json() if response.content.strip() else None

    # -- system ----------------------------------------------------------------------------
    async def version(self) -> str:
        doc = await self._json("GET", "/version")
        return str(doc.get("version", "")) if isinstance(doc, dict) else ""

    async def status(self) -> dict[str, Any]:
        doc = await self._json("GET", "/v1/status")
        return doc if isinstance(doc, dict) else {}

    async def ready(self) -> None:
        await self.request("GET", "/v1/ready")

    async def api(self) -> list[dict[str, Any]]:
        doc = await self._json("GET", "/v1/api")
        return doc if isinstance(doc, list) else []

    async def metrics(self) -> str:
        return (await self.request("GET", "/v1/metrics")).text

    # -- keys ------------------------------------------------------------------------------
    async def create_key(self, name: str) -> None:
        await self.request("POST", f"/v1/key/create/{quote(name, safe='')}")

    async def import_key(self, name: str, key: bytes, cipher: str = "AES256") -> None:
        body = json.dumps({"key": _b64(key), "cipher": cipher}).encode()
        await self.request("POST", f"/v1/key/import/{quote(name, safe='')}", body)

    async def describe_key(self, name: str) -> dict[str, Any]:
        doc = await self._json("GET", f"/v1/key/describe/{quote(name, safe='')}")
        return doc if isinstance(doc, dict) else {}

    async def delete_key(self, name: str) -> None:
        await self.request("DELETE", f"/v1/key/delete/{quote(name, safe='')}")

    async def list_keys(self, pattern: str = "*") -> list[str]:
        response = await self.request("GET", f"/v1/key/list/{quote(pattern, safe='*')}")
        return sorted(str(r.get("name") or r.get("Name") or "") for r in _lines(response, "name"))

    async def generate_key(self, name: str, context: bytes = b"") -> tuple[bytes, bytes]:
        doc = {"context": _b64(context)} if context else {}
        out = await self._json("POST", f"/v1/key/generate/{quote(name, safe='')}", doc)
        return _unb64(out, "plaintext"), _unb64(out, "ciphertext")

    async def encrypt(self, name: str, plaintext: bytes, context: bytes = b"") -> bytes:
        doc = {"plaintext": _b64(plaintext)}
        if context:
            doc["context"] = _b64(context)
        out = await self._json("POST", f"/v1/key/encrypt/{quote(name, safe='')}", doc)
        return _unb64(out, "ciphertext")

    async def decrypt(self, name: str, ciphertext: bytes, context: bytes = b"") -> bytes:
        doc = {"ciphertext": _b64(ciphertext)}
        if context:
            doc["context"] = _b64(context)
        out = await self._json("POST", f"/v1/key/decrypt/{quote(name, safe='')}", doc)
        return _unb64(out, "plaintext")

    async def bulk_decrypt(self, name: str, items: Sequence[tuple[bytes, bytes]]) -> list[bytes]:
        doc = [{"ciphertext": _b64(c), "context": _b64(ctx)} for c, ctx in items]
        out = await self._json("POST", f"/v1/key/bulk/decrypt/{quote(name, safe='')}", doc)
        if not isinstance(out, list):
            raise KESError(0, "invalid server response")
        return [_unb64(d, "plaintext") for d in out]

    async def hmac(self, name: str, message: bytes) -> bytes:
        out = await self._json(
            "PUT", f"/v1/key/hmac/{quote(name, safe='')}", {"message": _b64(message)}
        )
        return _unb64(out, "hmac")

    # -- identities and policies -----------------------------------------------------------
    async def describe_self(self) -> dict[str, Any]:
        doc = await self._json("GET", "/v1/identity/self/describe")
        return doc if isinstance(doc, dict) else {}

    async def describe_identity(self, identity: str) -> dict[str, Any]:
        doc = await self._json("GET", f"/v1/identity/describe/{quote(identity, safe='')}")
        return doc if isinstance(doc, dict) else {}

    async def list_identities(self, pattern: str = "*") -> list[dict[str, Any]]:
        response = await self.request("GET", f"/v1/identity/list/{quote(pattern, safe='*')}")
        return _lines(response, "identity")

    async def delete_identity(self, identity: str) -> None:
        await self.request("DELETE", f"/v1/identity/delete/{quote(identity, safe='')}")

    async def log_stream(self, kind: str = "audit") -> AsyncIterator[dict[str, Any]]:
        """Follow ``/v1/log/audit`` or ``/v1/log/error`` (first endpoint that answers): yields
        one decoded event per line until the server ends the stream."""
        if kind not in ("audit", "error"):
            raise ValueError("kind must be 'audit' or 'error'")
        last: Exception | None = None
        for endpoint in self._order():
            try:
                async with self._http.stream(
                    "GET", f"{endpoint}/v1/log/{kind}", timeout=httpx.Timeout(None, connect=10.0)
                ) as response:
                    if response.status_code != 200:
                        await response.aread()
                        raise _error_of(response)
                    async for line in response.aiter_lines():
                        if line.strip():
                            yield json.loads(line)
                    return
            except httpx.TransportError as exc:
                last = exc
        raise KESUnavailableError(0, f"no KES server reachable: {last}")

    async def describe_policy(self, name: str) -> dict[str, Any]:
        doc = await self._json("GET", f"/v1/policy/describe/{quote(name, safe='')}")
        return doc if isinstance(doc, dict) else {}

    async def read_policy(self, name: str) -> dict[str, Any]:
        doc = await self._json("GET", f"/v1/policy/read/{quote(name, safe='')}")
        return doc if isinstance(doc, dict) else {}

    async def list_policies(self, pattern: str = "*") -> list[str]:
        response = await self.request("GET", f"/v1/policy/list/{quote(pattern, safe='*')}")
        return sorted(str(r.get("name", "")) for r in _lines(response, "name"))
