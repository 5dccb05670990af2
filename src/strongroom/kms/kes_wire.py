"""A lean keep-alive HTTP/1.1 transport for the object server's data-key calls to KES.

Every encrypted PUT and GET makes one of these calls, so they must cost little: requests are
pipelined on few TLS connections per endpoint, the requests of one event loop iteration leave in
one write, and responses are parsed with httptools as they stream in (no task or stream reader
per call). Fail-over follows the KES client's rules (``kes/client.py``):
localhost endpoints first, a failing endpoint skipped for 30 s, retries on network errors and
503. Other, rarer calls (create, status, list) keep using :class:`strongroom.kes.client.KESClient`.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections import deque
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httptools

from strongroom.kes.client import (
    KESError,
    KESUnavailableError,
    _typed_error,
    endpoint_order,
    error_message,
)

MAX_RESPONSE = 1 << 20
ENDPOINT_TIMEOUT = 30.0
REQUEST_TIMEOUT = 15.0
PIPELINE_DEPTH = 32  # requests in flight on one connection before another is opened
MAX_CONNECTIONS_PER_ENDPOINT = 16


class _Exchange:
    """One request on a connection and, once complete, its response."""

    __slots__ = ("body", "content_type", "deadline", "future", "keep_alive", "status")

    def __init__(self, future: asyncio.Future[_Exchange], deadline: float) -> None:
        self.future = future
        self.deadline = deadline
        self.status = 0
        self.body = bytearray()
        self.content_type = ""
        self.keep_alive = False


class _Connection(asyncio.Protocol):
    """One TLS connection to a key server that carries pipelined HTTP/1.1 requests.

    A request on an idle connection is written at once; requests that find others in flight are
    gathered until the end of the event loop iteration and leave in one write. Responses, which
    the server sends in request order, are matched to requests in that order: under concurrent PUTs
    many data-key calls share a TLS record, a system call and a wake-up of the key server.
    Losing the connection fails every request still on it with ``ConnectionResetError``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._pending: deque[_Exchange] = deque()
        self._unsent: list[bytes] = []
        self.closed = False
        self.reusable = True  # False once the server said it closes the connection

    # -- asyncio.Protocol --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, ValueError) as exc:
            self.abort(ConnectionResetError(f"invalid response from the key server: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionResetError("the key server closed the connection"))

    # -- httptools callbacks --
    def on_message_begin(self) -> None:
        if not self._pending:
            raise ValueError("a response nobody asked for")

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"content-type":
            self._pending[0].content_type = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        exchange = self._pending[0]
        exchange.body += body
        if len(exchange.body) > MAX_RESPONSE:
            raise ValueError("response too large")

    def on_message_complete(self) -> None:
        exchange = self._pending.popleft()
        exchange.status = self._parser.get_status_code()
        # asked here: once the callback returns, the parser has reset and answers False
        exchange.keep_alive = self._parser.should_keep_alive()
        if not exchange.keep_alive:
            self.reusable = False
        if not exchange.future.done():
            exchange.future.set_result(exchange)

    # -- requests --
    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def request(self, data: bytes) -> asyncio.Future[_Exchange]:
        exchange = _Exchange(self._loop.create_future(), self._loop.time() + REQUEST_TIMEOUT)
        if self.closed:
            exchange.future.set_exception(ConnectionResetError("the connection is closed"))
            return exchange.future
        self._pending.append(exchange)
        if len(self._pending) == 1 and self._transport is not None:
            self._transport.write(data)  # an idle connection: nothing to wait for
        else:
            if not self._unsent:
                self._loop.call_soon(self._flush)
            self._unsent.append(data)
        return exchange.future

    def _flush(self) -> None:
        if self._unsent and self._transport is not None and not self.closed:
            self._transport.write(b"".join(self._unsent))
        self._unsent.clear()

    def overdue(self, now: float) -> bool:
        """Whether the oldest request in flight is past its deadline."""
        return bool(self._pending) and self._pending[0].deadline < now

    def _fail(self, exc: Exception) -> None:
        self._unsent.clear()
        while self._pending:
            future = self._pending.popleft().future
            if not future.done():
                future.set_exception(exc)

    def abort(self, exc: Exception) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.abort()
        self._fail(exc)

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class KESWire:
    """POST JSON to a KES endpoint and return the decoded JSON answer."""

    def __init__(
        self, endpoints: Sequence[str], context: ssl.SSLContext, *, retries: int = 2
    ) -> None:
        self.endpoints = list(endpoints)
        self._context = context
        self._retries = retries
        self._connections: dict[str, list[_Connection]] = {e: [] for e in self.endpoints}
        self._opening: dict[str, asyncio.Task[_Connection]] = {}
        self._watchdog: asyncio.Task[None] | None = None
        self._timed_out: dict[str, float] = {}

    async def _connect(self, endpoint: str) -> _Connection:
        parts = urlsplit(endpoint)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 443
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: _Connection(loop), host, port, ssl=self._context, server_hostname=host
        )
        return connection

    def _pick(self, endpoint: str) -> _Connection | None:
        """The first open connection with room in its pipeline (so that concurrent requests
        gather on one connection); None when a new connection should be opened."""
        connections = self._connections[endpoint]
        if any(c.closed or not c.reusable for c in connections):
            connections[:] = [c for c in connections if not c.closed and c.reusable]
        for connection in connections:
            if connection.in_flight < PIPELINE_DEPTH:
                return connection
        if len(connections) >= MAX_CONNECTIONS_PER_ENDPOINT:
            return min(connections, key=lambda c: c.in_flight)
        return None

    async def _exchange(self, connection: _Connection, request: bytes) -> _Exchange:
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())
        return await connection.request(request)

    async def _watch(self) -> None:
        """Fail the requests of a connection whose oldest request is overdue (and drop the
        connection): one task for all requests, instead of a timer per request."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, REQUEST_TIMEOUT / 4))
            now = loop.time()
            for connections in self._connections.values():
                for connection in connections:
                    if connection.overdue(now):
                        connection.abort(TimeoutError("a request to the key server timed out"))

    async def _open(self, endpoint: str) -> _Connection:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            connection = await self._connect(endpoint)
        self._connections[endpoint].append(connection)
        return connection

    async def _new_connection(self, endpoint: str) -> _Connection:
        """A new connection, shared with every request that asks while it is being opened (a
        burst of first requests opens one connection, not one each)."""
        opening = self._opening.get(endpoint)
        if opening is None:
            opening = asyncio.get_running_loop().create_task(self._open(endpoint))
            self._opening[endpoint] = opening

            def forget(task: asyncio.Task[_Connection]) -> None:
                if self._opening.get(endpoint) is task:
                    del self._opening[endpoint]
                if not task.cancelled():
                    task.exception()  # its waiters got it; none may be left to ask

            opening.add_done_callback(forget)
        return await asyncio.shield(opening)

    async def _send_once(self, endpoint: str, request: bytes) -> _Exchange:
        connection = self._pick(endpoint)
        if connection is not None:
            try:
                return await self._exchange(connection, request)
            except ConnectionResetError:
                pass  # a kept connection the server dropped meanwhile: once more, on a new one
        connection = await self._new_connection(endpoint)
        return await self._exchange(connection, request)

    async def _send(self, endpoint: str, request: bytes) -> _Exchange:
        attempt = 0
        while True:
            try:
                response = await self._send_once(endpoint, request)
            except (OSError, TimeoutError, ValueError, httptools.HttpParserError):
                if attempt >= self._retries:
                    raise
            else:
                if response.status != 503 or attempt >= self._retries:
                    return response
            attempt += 1
            await asyncio.sleep(0.2 + random.random() * 0.8)  # noqa: S311 - jitter

    async def post_json(self, path: str, document: dict[str, Any]) -> Any:
        body = json.dumps(document).encode()
        now = time.monotonic()
        order = endpoint_order(self.endpoints)
        candidates = [e for e in order if self._timed_out.get(e, 0.0) <= now] or order
        last: Exception | None = None
        for endpoint in candidates:
            host = urlsplit(endpoint).netloc
            request = (
                f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            try:
                response = await self._send(endpoint, request)
            except (OSError, TimeoutError, ValueError, httptools.HttpParserError) as exc:
                last = exc
                self._timed_out[endpoint] = time.monotonic() + ENDPOINT_TIMEOUT
                continue
            status = response.status
            if status >= 500 and status != 501 and len(candidates) > 1:
                self._timed_out[endpoint] = time.monotonic() + ENDPOINT_TIMEOUT
                last = _error(response)
                continue
            self._timed_out.pop(endpoint, None)
            if status != 200:
                raise _error(response)
            try:
                return json.loads(response.body)
            except ValueError:
                raise KESError(status, "invalid server response") from None
        if isinstance(last, KESError):
            raise last
        raise KESUnavailableError(0, f"no KES server reachable: {last}")

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        for connections in self._connections.values():
            for connection in connections:
                connection.close()
            connections.clear()


def _error(response: _Exchange) -> KESError:
    message = error_message(bytes(response.body), response.content_type)
    return _typed_error(response.status, message or f"HTTP {response.status}")
