"""A small HTTP/1.1 server protocol on httptools, meant to sit on ``net.mtls``'s TLS transport.

The application is one async callable ``handler(request) -> Response``. A response carries a
complete body or an async iterator of chunks (sent with chunked transfer encoding, flushed per
chunk, with write backpressure; used for log streams). Requests on one connection are answered in
order (pipelining is allowed), keep-alive is the HTTP/1.1 default, and idle connections close after
``keepalive_timeout`` seconds; a request must arrive completely within ``request_timeout``
seconds of its first byte (else 408 and close). Request bodies are collected up to ``body_limit(method, path)``
bytes; beyond that the body is discarded and ``request.body_too_large`` is set, so the application
can answer its own error. A body larger than ``hard_body_limit`` closes the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, cast

import httptools

from strongroom.scheduling import AdaptivePolicy

__all__ = ["HTTPProtocol", "HTTPServerState", "Request", "Response"]

log = logging.getLogger(__name__)

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_MAX_HEAD = 64 * 1024  # request line + headers


@dataclass(slots=True)
class Request:
    method: str
    path: str  # percent-encoded path as received, without query
    query: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    transport: asyncio.Transport
    body_too_large: bool = False
    http_version: str = "1.1"

    def info(self, name: str, default: Any = None) -> Any:
        """Transport information (``peer_identity``, ``peercert``, ``peername``...)."""
        return self.transport.get_extra_info(name, default)


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None
    content_type: str | None = None


def _internal_error() -> Response:
    return Response(500, b"internal server error\n", content_type="text/plain")


Handler = Callable[[Request], Awaitable[Response]]
# Answers a request at once when it needs no waiting (else None: the async handler answers it).
ImmediateHandler = Callable[[Request], Response | None]
BodyLimit = Callable[[str, str], int]


def _no_body_limit(method: str, path: str) -> int:
    return 1 << 20


class HTTPServerState:
    """Shared by all connections of one server: the handler, limits and the live connections."""

    def __init__(
        self,
        handler: Handler,
        *,
        body_limit: BodyLimit = _no_body_limit,
        hard_body_limit: int = 16 << 20,
        keepalive_timeout: float = 30.0,
        request_timeout: float = 30.0,
        server_header: str | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        scheduling: AdaptivePolicy | None = None,
        immediate: ImmediateHandler | None = None,
    ) -> None:
        self.handler = handler
        self.body_limit = body_limit
        self.hard_body_limit = hard_body_limit
        self.keepalive_timeout = keepalive_timeout
        self.request_timeout = request_timeout
        self.server_header = server_header
        self.on_error = on_error
        # The loop thread's policy by load: batch while requests come pipelined or on several
        # connections at once (see strongroom.scheduling); None leaves the policy alone.
        self.scheduling = scheduling
        # Tried first for a request that finds its connection idle; must give the same answer
        # as ``handler`` would, or None. Saves a task and an event loop turn per request.
        self.immediate = immediate
        self.serving = 0  # connections answering requests now
        self.connections: set[HTTPProtocol] = set()
        self.closing = False
        self._sweeper: asyncio.Task[None] | None = None

    def protocol_factory(self) -> HTTPProtocol:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return HTTPProtocol(self)

    async def _sweep(self) -> None:
        """Enforce the idle and request timeouts for every connection, a few times a second.
        One task instead of a timer per request: timers cost more than the requests here."""
        tick = max(0.05, min(1.0, self.keepalive_timeout / 4, self.request_timeout / 4))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for conn in list(self.connections):
                conn.check_timeouts(now)

    async def shutdown(self, grace: float = 5.0) -> None:
        """Close idle connections now, let in-flight requests finish within ``grace`` seconds,
        then abort what is left (log streams end here)."""
        self.closing = True
        for conn in list(self.connections):
            conn.close_when_idle()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self.connections and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None


class HTTPProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection."""

    def __init__(self, state: HTTPServerState) -> None:
        self._state = state
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._head_size = 0
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._limit = 0
        self._too_large = False
        self._queue: deque[Request] = deque()
        self._busy = False
        self._task: asyncio.Task[None] | None = None
        self._idle_since: float | None = None  # waiting for a request since
        self._request_since: float | None = None  # receiving a request since
        self._close_after = False
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._lost = False
        self._out: list[bytes] = []  # complete responses not yet handed to the transport
        self._flush_scheduled = False
        self._answered_now = 0  # requests of the current data_received answered immediately

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._state.connections.add(self)
        self._idle_since = self._loop.time()

    def data_received(self, data: bytes) -> None:
        # Answers given while parsing leave together after it (one write), not a turn later.
        flush_pending, self._flush_scheduled = self._flush_scheduled, True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, b"upgrade not supported")
        except httptools.HttpParserError:
            self._fail(400, b"malformed request")
        answered, self._answered_now = self._answered_now, 0
        if answered:
            scheduling = self._state.scheduling
            if scheduling is not None:
                now = self._loop.time()
                if answered > 1 or self._state.serving > 0:
                    scheduling.busy(now)
                else:
                    scheduling.settle(now)
            self._flush()
        else:  # nothing was written here: any earlier answer has its flush scheduled already
            self._flush_scheduled = flush_pending

    def eof_received(self) -> bool | None:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._state.connections.discard(self)
        if self._task is not None and not self._task.done():
            self._task.cancel()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("connection lost"))
        self._queue.clear()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        # From the first byte of a request to its last: at most request_timeout seconds.
        self._idle_since = None
        self._request_since = self._loop.time()
        self._url = b""
        self._head_size = 0
        self._headers = {}
        self._body = []
        self._body_size = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_size += len(url)
        if self._head_size > _MAX_HEAD:
            self._fail(414, b"request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        if self._head_size > _MAX_HEAD:
            self._fail(431, b"request header fields too large")
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self._headers.get(key)
        self._headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        path = self._url.partition(b"?")[0]
        method = self._parser.get_method().decode("ascii", "replace")
        self._limit = self._state.body_limit(method, path.decode("latin-1"))
        expect = self._headers.get("expect", "").lower() == "100-continue"
        if expect and self._transport is not None and not self._busy:
            # curl waits for this before sending bodies over 1 KiB. Refusing early would need
            # the app's verdict; it answers after the body (discarded beyond the limit).
            self._write_now(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._state.hard_body_limit:
            self._fail(413, b"request body too large")
            return
        if self._body_size > self._limit:
            self._too_large = True
            self._body = []
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._request_since = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        path, _, query = self._url.partition(b"?")
        request = Request(
            method=self._parser.get_method().decode("ascii", "replace"),
            path=path.decode("latin-1"),
            query=query.decode("latin-1"),
            headers=self._headers,
            body=b"".join(self._body),
            transport=transport,
            body_too_large=self._too_large,
            http_version=self._parser.get_http_version(),
        )
        self._body = []
        if not self._parser.should_keep_alive():
            self._close_after = True
        if not self._busy and not self._queue and self._answer_now(request):
            return
        self._queue.append(request)
        if len(self._queue) > 8:
            transport.pause_reading()
        if not self._busy:
            self._next()

    # -- request processing ----------------------------------------------------------------
    def _answer_now(self, request: Request) -> bool:
        """Answer ``request`` here, inside data_received, if the app can without waiting."""
        immediate = self._state.immediate
        if immediate is None:
            return False
        try:
            response = immediate(request)
        except Exception as exc:
            response = self._handler_failed(exc)
        if response is None:
            return False
        if response.stream is not None:  # a contract violation: streams need the async path
            log.error("an immediate handler returned a streamed response")
            response = _internal_error()
        self._answered_now += 1
        close = self._close_after or self._state.closing
        self._write_response(request, response, close)
        if close:
            self._close()
        else:
            self._idle_since = self._loop.time()
        return True

    def _next(self) -> None:
        if self._lost or not self._queue:
            self._busy = False
            return
        self._busy = True
        if self._task is None:
            self._task = self._loop.create_task(self._serve_queue())

    async def _serve_queue(self) -> None:
        """Answer queued requests in order, in one task (pipelined requests that need no I/O
        are answered in one go, and their responses leave in one write)."""
        state = self._state
        scheduling = state.scheduling
        state.serving += 1
        if scheduling is not None and (len(self._queue) > 1 or state.serving > 1):
            scheduling.busy(self._loop.time())
        try:
            while self._queue and not self._lost:
                request = self._queue.popleft()
                if not await self._run(request):
                    return
        finally:
            self._task = None
            state.serving -= 1
            if scheduling is not None:
                scheduling.settle(self._loop.time())
        self._flush()
        transport = self._transport
        if transport is None or self._lost:
            return
        self._busy = False
        self._idle_since = self._loop.time()
        if self._state.closing:
            self.close_when_idle()

    def _handler_failed(self, exc: Exception) -> Response:
        """Report a handler's exception (to ``on_error``, else the log); the client gets a 500."""
        if self._state.on_error is not None:
            self._state.on_error(exc)
        else:
            log.exception("request handler failed")
        return _internal_error()

    async def _run(self, request: Request) -> bool:
        """Answer one request; False when the connection is done."""
        keep_alive = not self._close_after or bool(self._queue)
        try:
            try:
                response = await self._state.handler(request)
            except Exception as exc:
                response = self._handler_failed(exc)
            close = self._close_after and not self._queue
            if self._state.closing:
                close = True
            if response.stream is None:
                self._write_response(request, response, close)
            else:
                await self._write_stream(request, response)
                close = True
            keep_alive = not close
        except asyncio.CancelledError:
            keep_alive = False
        except ConnectionError:
            keep_alive = False
        transport = self._transport
        if transport is None or self._lost:
            return False
        if not keep_alive:
            self._queue.clear()
            self._close()
            return False
        if len(self._queue) <= 8:
            transport.resume_reading()
        return True

    # -- writing: complete responses are coalesced per loop iteration -----------------------
    def _write_later(self, data: bytes) -> None:
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._out:
            return
        data = b"".join(self._out)
        self._out.clear()
        transport = self._transport
        if transport is not None and not self._lost and not transport.is_closing():
            transport.write(data)

    def _write_now(self, data: bytes) -> None:
        self._flush()
        if self._transport is not None:
            self._transport.write(data)

    def _close(self) -> None:
        self._flush()
        if self._transport is not None:
            self._transport.close()

    def _head(self, status: int, headers: Iterable[tuple[str, str]], close: bool) -> list[bytes]:
        reason = _REASONS.get(status, b"Unknown")
        lines = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
        if self._state.server_header:
            lines.append(b"Server: %s\r\n" % self._state.server_header.encode())
        for name, value in headers:
            lines.append(b"%s: %s\r\n" % (name.encode("latin-1"), value.encode("latin-1")))
        if close:
            lines.append(b"Connection: close\r\n")
        return lines

    def _write_response(self, request: Request, response: Response, close: bool) -> None:
        transport = self._transport
        if transport is None or self._lost:
            return
        headers = list(response.headers)
        if response.content_type is not None:
            headers.append(("Content-Type", response.content_type))
        head = self._head(response.status, headers, close)
        body = response.body
        head.append(b"Content-Length: %d\r\n\r\n" % len(body))
        if request.method != "HEAD" and body:
            head.append(body)
        self._write_later(b"".join(head))

    async def _write_stream(self, request: Request, response: Response) -> None:
        transport = self._transport
        stream = response.stream
        assert stream is not None
        if transport is None:
            return
        headers = list(response.headers)
        if response.content_type is not None:
            headers.append(("Content-Type", response.content_type))
        head = self._head(response.status, headers, True)
        head.append(b"Transfer-Encoding: chunked\r\n\r\n")
        self._write_now(b"".join(head))
        try:
            async for chunk in stream:
                if self._lost:
                    break
                if chunk:
                    transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await self._drain()
            if not self._lost:
                transport.write(b"0\r\n\r\n")
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _drain(self) -> None:
        if not self._write_paused:
            return
        self._drain_waiter = self._loop.create_future()
        try:
            await self._drain_waiter
        finally:
            self._drain_waiter = None

    # -- connection management -------------------------------------------------------------
    def _fail(self, status: int, text: bytes) -> None:
        """Answer a protocol error and close (abort if a response is being written)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._busy:
            self.abort()
            return
        head = self._head(status, [("Content-Type", "text/plain; charset=utf-8")], True)
        head.append(b"Content-Length: %d\r\n\r\n%s" % (len(text), text))
        self._write_now(b"".join(head))
        self._close()

    def check_timeouts(self, now: float) -> None:
        """Called by the server's sweeper: close idle connections, 408 slow requests."""
        if self._request_since is not None:
            if now - self._request_since > self._state.request_timeout:
                self._request_since = None
                self._fail(408, b"request timeout")
        elif (
            self._idle_since is not None
            and not self._busy
            and now - self._idle_since > self._state.keepalive_timeout
            and self._transport is not None
        ):
            self._idle_since = None
            self._close()

    def close_when_idle(self) -> None:
        self._close_after = True
        if not self._busy and self._transport is not None:
            self._close()

    def abort(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._transport is not None:
            self._transport.abort()
