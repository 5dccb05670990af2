"""A fast streaming HTTP/1.1 server for asyncio, built on httptools (the object server's).

Why not a framework: the object server streams large bodies both ways. This layer gives
handlers a body reader with flow control (reading pauses when the handler falls behind),
``Expect: 100-continue`` answered only when the handler first reads the body, and zero-copy
responses from files with ``loop.sendfile`` (the standard selector loop implements it natively;
uvloop does not), and bodies produced into one reused buffer (``BufferStream``) written without
copies. Handlers are ``async def app(request) -> Response``.

Contracts:
- One request at a time per connection; pipelined requests queue and are answered in order.
- If a handler answers before the whole request body has arrived, the connection is closed
  after the response (the rest of the body is never interpreted as a request).
- A client that disconnects makes ``Body.read`` raise ``ClientDisconnected``.
- A streamed response body that fails midway aborts the connection: a truncated response
  never looks complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, BinaryIO

import httptools

log = logging.getLogger("strongroom.http")

MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 200
BODY_HIGH_WATER = 4 * 1024 * 1024
IDLE_TIMEOUT = 75.0
BODY_TIMEOUT = 120.0
TLS_READ_SIZE = 1024 * 1024

_REASONS = {s.value: s.phrase for s in HTTPStatus}


class ClientDisconnected(Exception):
    """The peer went away (or stopped sending) before the request body was complete."""


class BadRequest(Exception):
    """The request is malformed at the HTTP level."""


@dataclass(slots=True)
class FileRegion:
    """A byte range of an open file to send as (part of) a response body."""

    file: BinaryIO
    offset: int
    count: int


class BufferStream:
    """A response body produced into one reused buffer (e.g. decrypted in place).

    The response must give its ``content_length``. ``views`` yields memoryviews that are valid
    only until the next one is asked for: the server hands each view to the transport and waits
    until the transport no longer holds it before it asks for the next, so nothing is copied on
    the way. The first view is produced here, before the response starts, so that a failure to
    produce even that becomes an error response rather than a cut connection. A failure later
    aborts the connection.
    """

    __slots__ = ("_first", "_views")

    def __init__(self, views: Iterator[memoryview]) -> None:
        self._views = views
        self._first: memoryview | None = next(views, None)

    def __iter__(self) -> Iterator[memoryview]:
        first, self._first = self._first, None
        if first is not None:
            yield first
            yield from self._views

    def close(self) -> None:
        close = getattr(self._views, "close", None)
        if close is not None:
            close()


ResponseBody = bytes | AsyncIterator[bytes] | list[FileRegion] | BufferStream


@dataclass(slots=True)
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: ResponseBody = b""
    # Content-Length to announce for a streamed body or for HEAD; None -> computed or chunked.
    content_length: int | None = None
    # Called after the response is sent or the connection dropped (e.g. to close files).
    on_done: Callable[[], None] | None = None


class Body:
    """The request body as a stream of chunks, with flow control back to the socket."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_complete",
        "_conn",
        "_continue_pending",
        "_error",
        "_waiter",
        "consumed",
        "length",
    )

    def __init__(self, conn: HttpConnection, length: int | None, expect_continue: bool) -> None:
        self._conn = conn
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._complete = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._continue_pending = expect_continue
        self.length = length  # Content-Length, or None for chunked transfer encoding
        self.consumed = 0

    # -- producer side (the connection) --
    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > BODY_HIGH_WATER:
            self._conn._pause_reading()
        self._wake()

    def _finish(self) -> None:
        self._complete = True
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if not self._complete:
            self._error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- consumer side (the handler) --
    @property
    def received(self) -> bool:
        """True once the whole body has arrived (read or not): the connection is in sync."""
        return self._complete

    async def read(self) -> bytes:
        """Return the next chunk, or b"" at the end of the body."""
        while not self._chunks:
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            if self._continue_pending:
                self._continue_pending = False
                self._conn._write_raw(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._conn._resume_reading()
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, BODY_TIMEOUT)
            except TimeoutError:
                raise ClientDisconnected("timed out waiting for the request body") from None
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        self.consumed += len(chunk)
        if self._buffered <= BODY_HIGH_WATER // 2:
            self._conn._resume_reading()
        return chunk

    async def read_all(self, limit: int) -> bytes:
        """Read the whole body; raise ``BadRequest`` past ``limit`` bytes."""
        if self.length is not None and self.length > limit:
            raise BadRequest("request body too large")
        parts: list[bytes] = []
        total = 0
        while chunk := await self.read():
            total += len(chunk)
            if total > limit:
                raise BadRequest("request body too large")
            parts.append(chunk)
        return b"".join(parts)


@dataclass(slots=True)
class Request:
    method: str
    target: str  # raw request target as received
    path: str  # raw (percent-encoded) path
    query: str  # raw query string without "?"
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","
    body: Body
    client: tuple[str, int]
    tls: bool
    http_version: str
    started: float = field(default_factory=time.monotonic)


App = Callable[[Request], Awaitable[Response]]


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests and runs them through the app in order."""

    def __init__(self, app: App, *, tls: bool, server_header: str = "Strongroom") -> None:
        self._app = app
        self._tls = tls
        self._server_header = server_header
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._client: tuple[str, int] = ("", 0)
        self._url = b""
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._queue: deque[Request] = deque()
        self._receiving: Request | None = None
        self._queue_waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._last_activity = time.monotonic()
        self._messages_begun = 0

    # -- asyncio.Protocol --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self._client = (str(peer[0]), int(peer[1]))
        self._task = asyncio.get_running_loop().create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._receiving is not None:
            self._receiving.body._fail(ClientDisconnected("client disconnected"))
        for req in self._queue:
            req.body._fail(ClientDisconnected("client disconnected"))
        self._wake_queue()
        drain = self._drain_waiter
        if drain is not None and not drain.done():
            drain.set_exception(ClientDisconnected("client disconnected"))

    def data_received(self, data: bytes) -> None:
        self._last_activity = time.monotonic()
        begun = self._messages_begun
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            fixed = (
                _without_duplicate_lengths(data) if "Duplicate Content-Length" in str(exc) else None
            )
            if fixed is None or self._messages_begun != begun + 1 or self._receiving is not None:
                self._parse_failed(exc)
                return
            # llhttp refuses repeated identical Content-Length headers, which RFC 9110 8.6
            # allows (rclone sends them): the request started in this chunk, so parse it again
            # without the repeats.
            self._parser = httptools.HttpRequestParser(self)
            try:
                self._parser.feed_data(fixed)
            except (httptools.HttpParserError, BadRequest) as again:
                self._parse_failed(again)
        except httptools.HttpParserUpgrade:
            self._respond_raw_and_close(400, b"upgrades are not supported")
        except BadRequest as exc:
            self._parse_failed(exc)

    def _parse_failed(self, exc: Exception) -> None:
        if self._receiving is not None:
            self._receiving.body._fail(BadRequest(str(exc)))
            self._receiving = None
            self._pause_reading()
        else:
            self._respond_raw_and_close(400, b"malformed HTTP request")

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- httptools callbacks --
    def on_message_begin(self) -> None:
        self._messages_begun += 1
        self._url = b""
        self._headers = {}
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)
        if self._header_bytes > MAX_HEADER_BYTES:
            raise BadRequest("request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEADER_BYTES or len(self._headers) > MAX_HEADERS:
            raise BadRequest("request headers too large")
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1").strip()
        prev = self._headers.get(key)
        self._headers[key] = text if prev is None else f"{prev},{text}"

    def on_headers_complete(self) -> None:
        parser = self._parser
        target = self._url.decode("latin-1")
        path, _, query = target.partition("?")
        headers = self._headers
        length: int | None
        if "transfer-encoding" in headers:
            length = None
        else:
            length = _content_length(headers.get("content-length", "0"))
        expect = headers.get("expect", "").lower() == "100-continue"
        request = Request(
            method=parser.get_method().decode("ascii", "replace"),
            target=target,
            path=path,
            query=query,
            headers=headers,
            body=Body(self, length, expect),
            client=self._client,
            tls=self._tls,
            http_version=parser.get_http_version(),
        )
        self._receiving = request
        self._queue.append(request)
        if len(self._queue) > 1:
            self._pause_reading()  # pipelining: hold further input until we catch up
        self._wake_queue()

    def on_body(self, body: bytes) -> None:
        if self._receiving is not None:
            self._receiving.body._feed(body)

    def on_message_complete(self) -> None:
        if self._receiving is not None:
            self._receiving.body._finish()
            self._receiving = None

    # -- flow control --
    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None and not self._closed:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self._transport is not None and not self._closed:
            self._reading_paused = False
            self._transport.resume_reading()

    def _wake_queue(self) -> None:
        waiter = self._queue_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _write_raw(self, data: bytes) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    async def _drain(self) -> None:
        if self._closed:
            raise ClientDisconnected("client disconnected")
        if self._writing_paused:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None

    async def _send_region(self, transport: asyncio.Transport, region: FileRegion) -> None:
        fd = region.file.fileno()
        offset, remaining = region.offset, region.count
        while remaining:
            chunk = os.pread(fd, min(remaining, TLS_READ_SIZE), offset)
            if not chunk:
                raise ClientDisconnected("the file ended early")
            transport.write(chunk)
            offset += len(chunk)
            remaining -= len(chunk)
            await self._drain()

    async def _send_buffers(self, transport: asyncio.Transport, body: BufferStream) -> None:
        """Write every view of ``body``; each is out of the transport's hands (sent, or copied
        by the transport) before the next one is produced into the same buffer."""
        low, high = transport.get_write_buffer_limits()
        # Pause as soon as the transport buffers anything, so that resume_writing means "empty"
        # (an SSL transport pauses at size >= high, a socket transport at size > high).
        transport.set_write_buffer_limits(high=1 if self._tls else 0, low=0)
        try:
            for view in body:
                transport.write(view)
                await self._drain()
        except BaseException:
            transport.abort()
            self._closed = True
            raise
        finally:
            body.close()
            if not self._closed:
                transport.set_write_buffer_limits(high=high, low=low)

    def _respond_raw_and_close(self, status: int, message: bytes) -> None:
        if self._transport is None or self._closed:
            return
        reason = _REASONS.get(status, "Error")
        self._transport.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(message)}\r\n"
            "Connection: close\r\n\r\n".encode("latin-1")
            + message
        )
        self._transport.close()
        self._closed = True

    # -- the request loop --
    async def _next_request(self) -> Request | None:
        while not self._queue:
            if self._closed:
                return None
            self._resume_reading()
            self._queue_waiter = asyncio.get_running_loop().create_future()
            idle = IDLE_TIMEOUT - (time.monotonic() - self._last_activity)
            try:
                await asyncio.wait_for(self._queue_waiter, max(idle, 0.01))
            except TimeoutError:
                if time.monotonic() - self._last_activity >= IDLE_TIMEOUT:
                    return None
            finally:
                self._queue_waiter = None
        return self._queue[0]

    async def _serve(self) -> None:
        try:
            while True:
                request = await self._next_request()
                if request is None:
                    break
                keep_alive = await self._handle(request)
                self._queue.popleft()
                if not keep_alive or self._closed:
                    break
        except ClientDisconnected:
            pass
        except Exception:
            log.exception("connection handler failed")
        finally:
            if self._transport is not None and not self._closed:
                self._transport.close()
                self._closed = True

    async def _handle(self, request: Request) -> bool:
        try:
            response = await self._app(request)
        except ClientDisconnected:
            return False
        except Exception:
            log.exception("request handler failed: %s %s", request.method, request.path)
            response = Response(500, [("Content-Type", "text/plain")], b"internal error")
        keep_alive = self._wants_keep_alive(request) and request.body.received
        try:
            await self._send(request, response, keep_alive)
        finally:
            if response.on_done is not None:
                response.on_done()
        return keep_alive

    @staticmethod
    def _wants_keep_alive(request: Request) -> bool:
        connection = request.headers.get("connection", "").lower()
        if request.http_version == "1.0":
            return "keep-alive" in connection
        return "close" not in connection

    async def _send(self, request: Request, response: Response, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or self._closed:
            raise ClientDisconnected("client disconnected")
        body = response.body
        status = response.status
        no_body = request.method == "HEAD" or status in (204, 304)
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        lines.append(f"Server: {self._server_header}")
        lines.append("Date: " + _http_now())
        length: int | None
        if response.content_length is not None:
            length = response.content_length
        elif isinstance(body, bytes):
            length = len(body)
        elif isinstance(body, list):
            length = sum(region.count for region in body)
        else:
            length = None
        chunked = False
        if status not in (204, 304):
            if length is not None:
                lines.append(f"Content-Length: {length}")
            elif not no_body:
                chunked = True
                lines.append("Transfer-Encoding: chunked")
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

        body_state = request.body
        if body_state._continue_pending and body_state.received:
            # Expect: 100-continue with a body we never had to ask for (empty, or already
            # here): send the interim response anyway. Clients such as botocore otherwise
            # read our final response as the interim one and desynchronise the connection.
            body_state._continue_pending = False
            transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if no_body:
            transport.write(head)
            if isinstance(body, BufferStream):
                body.close()
            elif not isinstance(body, bytes | list):
                await _aclose(body)
        elif isinstance(body, bytes):
            if len(body) < 65536:
                transport.write(head + body)
            else:
                transport.write(head)
                transport.write(body)
        elif isinstance(body, list):
            transport.write(head)
            loop = asyncio.get_running_loop()
            try:
                for region in body:
                    if region.count <= 0:
                        continue
                    await self._drain()
                    if self._tls:
                        # TLS has no zero-copy path, and asyncio's fallback sends 16 KiB per
                        # loop iteration: read megabytes and write them ourselves.
                        await self._send_region(transport, region)
                    else:
                        await loop.sendfile(transport, region.file, region.offset, region.count)
            except BaseException:
                transport.abort()
                self._closed = True
                raise
        elif isinstance(body, BufferStream):
            if chunked:
                raise ValueError("a BufferStream response needs its Content-Length")
            transport.write(head)
            await self._send_buffers(transport, body)
        else:
            transport.write(head)
            try:
                async for chunk in body:
                    if not chunk:
                        continue
                    if chunked:
                        transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                    else:
                        transport.write(chunk)
                    await self._drain()
                if chunked:
                    transport.write(b"0\r\n\r\n")
            except BaseException:
                # A failed stream must never look like a complete response: drop the connection.
                transport.abort()
                self._closed = True
                raise
            finally:
                await _aclose(body)
        await self._drain()
        if not keep_alive:
            transport.close()
            self._closed = True


def _without_duplicate_lengths(data: bytes) -> bytes | None:
    """``data`` (starting with a request) with repeated identical Content-Length lines removed;
    None when the head is incomplete or the values differ."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.split(b"\r\n")
    kept: list[bytes] = []
    value: bytes | None = None
    for line in lines:
        name, colon, raw = line.partition(b":")
        if colon and name.strip().lower() == b"content-length":
            if value is None:
                value = raw.strip()
            elif raw.strip() != value:
                return None
            else:
                continue
        kept.append(line)
    return b"\r\n".join(kept) + sep + rest


def _http_now() -> str:
    """The Date header value, formatted once per second."""
    return _http_date(int(time.time()))


@functools.lru_cache(maxsize=4)
def _http_date(seconds: int) -> str:
    return formatdate(seconds, usegmt=True)


def _content_length(raw: str) -> int:
    """Content-Length; repeated identical values (``5,5``) are one value (RFC 9110 8.6)."""
    values = {v.strip() for v in raw.split(",")}
    if len(values) != 1:
        raise BadRequest("conflicting Content-Length values")
    (value,) = values
    if not value.isdigit():
        raise BadRequest("invalid Content-Length")
    return int(value)


async def _aclose(body: Any) -> None:
    close = getattr(body, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()
