"""A lean keep-alive HTTP/1.1 transport for the object server's data-key calls to KES.

Every encrypted PUT and GET makes one of these calls, so they must cost little: one write per
request, a pool of idle TLS connections per endpoint (no polling of idle connections), and a
response parsed with httptools. Fail-over follows the KES client's rules (``kes/client.py``):
localhost endpoints first, a failing endpoint skipped for 30 s, retries on network errors and
503. Other, rarer calls (create, status, list) keep using :class:`strongroom.kes.client.KESClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httptools

from strongroom.kes.client import KESError, KESUnavailableError, _is_localhost, _typed_error

MAX_RESPONSE = 1 << 20
ENDPOINT_TIMEOUT = 30.0
REQUEST_TIMEOUT = 15.0
MAX_IDLE_PER_ENDPOINT = 64


class _Response:
    """httptools callbacks collecting one response."""

    def __init__(self) -> None:
        self.parser: httptools.HttpResponseParser | None = None
        self.body = bytearray()
        self.done = False
        self.keep_alive = False
        self.content_type = ""
        self._header = b""

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self.content_type = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body += body
        if len(self.body) > MAX_RESPONSE:
            raise ValueError("response too large")

    def on_message_complete(self) -> None:
        self.done = True
        # asked here: once the callback returns, the parser has reset and answers False
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> tuple[int, _Response]:
        self.writer.write(request)
        response = _Response()
        parser = httptools.HttpResponseParser(response)
        response.parser = parser
        while not response.done:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionResetError("the key server closed the connection")
            parser.feed_data(data)
        return parser.get_status_code(), response

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class KESWire:
    """POST JSON to a KES endpoint and return the decoded JSON answer."""

    def __init__(
        self, endpoints: Sequence[str], context: ssl.SSLContext, *, retries: int = 2
    ) -> None:
        self.endpoints = list(endpoints)
        self._context = context
        self._retries = retries
        self._idle: dict[str, list[_Connection]] = {e: [] for e in self.endpoints}
        self._timed_out: dict[str, float] = {}

    def _order(self) -> list[str]:
        if len(self.endpoints) == 1:
            return list(self.endpoints)
        first: list[str] = []
        rest = list(self.endpoints)
        if _is_localhost(rest[0]):
            first, rest = [rest[0]], rest[1:]
        start = random.randrange(len(rest)) if rest else 0  # noqa: S311 - load balancing
        return first + rest[start:] + rest[:start]

    async def _connect(self, endpoint: str) -> _Connection:
        parts = urlsplit(endpoint)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 443
        reader, writer = await asyncio.open_connection(
            host, port, ssl=self._context, server_hostname=host
        )
        return _Connection(reader, writer)

    async def _send_once(self, endpoint: str, request: bytes) -> tuple[int, _Response]:
        idle = self._idle[endpoint]
        while idle:  # a pooled connection may have been closed by the server meanwhile
            connection = idle.pop()
            try:
                status, response = await asyncio.wait_for(
                    connection.exchange(request), REQUEST_TIMEOUT
                )
            except (OSError, ValueError, httptools.HttpParserError, asyncio.IncompleteReadError):
                connection.close()
                continue
            self._release(endpoint, connection, response)
            return status, response
        connection = await asyncio.wait_for(self._connect(endpoint), REQUEST_TIMEOUT)
        try:
            status, response = await asyncio.wait_for(connection.exchange(request), REQUEST_TIMEOUT)
        except BaseException:
            connection.close()
            raise
        self._release(endpoint, connection, response)
        return status, response

    def _release(self, endpoint: str, connection: _Connection, response: _Response) -> None:
        idle = self._idle[endpoint]
        if response.keep_alive and len(idle) < MAX_IDLE_PER_ENDPOINT:
            idle.append(connection)
        else:
            connection.close()

    async def _send(self, endpoint: str, request: bytes) -> tuple[int, _Response]:
        attempt = 0
        while True:
            try:
                status, response = await self._send_once(endpoint, request)
            except (OSError, TimeoutError, ValueError, httptools.HttpParserError):
                if attempt >= self._retries:
                    raise
            else:
                if status != 503 or attempt >= self._retries:
                    return status, response
            attempt += 1
            await asyncio.sleep(0.2 + random.random() * 0.8)  # noqa: S311 - jitter

    async def post_json(self, path: str, document: dict[str, Any]) -> Any:
        body = json.dumps(document).encode()
        now = time.monotonic()
        order = self._order()
        candidates = [e for e in order if self._timed_out.get(e, 0.0) <= now] or order
        last: Exception | None = None
        for endpoint in candidates:
            host = urlsplit(endpoint).netloc
            request = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            try:
                status, response = await self._send(endpoint, request)
            except (OSError, TimeoutError, ValueError, httptools.HttpParserError) as exc:
                last = exc
                self._timed_out[endpoint] = time.monotonic() + ENDPOINT_TIMEOUT
                continue
            if status >= 500 and status != 501 and len(candidates) > 1:
                self._timed_out[endpoint] = time.monotonic() + ENDPOINT_TIMEOUT
                last = _error(status, response)
                continue
            self._timed_out.pop(endpoint, None)
            if status != 200:
                raise _error(status, response)
            try:
                return json.loads(response.body)
            except ValueError:
                raise KESError(status, "invalid server response") from None
        if isinstance(last, KESError):
            raise last
        raise KESUnavailableError(0, f"no KES server reachable: {last}")

    def close(self) -> None:
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
            idle.clear()


def _error(status: int, response: _Response) -> KESError:
    text = bytes(response.body[:MAX_RESPONSE]).decode("utf-8", "replace").strip()
    message = text
    if response.content_type.startswith("application/json"):
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            value = doc.get("error") or doc.get("message")
            if isinstance(value, str):
                message = value
    return _typed_error(status, message or f"HTTP {status}")
