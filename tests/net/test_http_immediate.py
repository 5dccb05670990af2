"""The HTTP layer's immediate path: requests answered inside data_received, in order with the
ones that need the async handler, over real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from strongroom.net.http import HTTPServerState, Request, Response


class _Server:
    """A plain-TCP server on its own loop thread: paths starting /now are answered immediately,
    /slow only by the async handler (after a real wait), /boom raises in the immediate handler."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.handled: list[str] = []  # which path took which route: "now:/x" or "async:/x"
        self.state = HTTPServerState(self._handler, immediate=self._immediate)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(5)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _start(self) -> asyncio.Server:
        return await self.loop.create_server(self.state.protocol_factory, "127.0.0.1", 0)

    def _immediate(self, request: Request) -> Response | None:
        if request.path.startswith("/boom"):
            raise RuntimeError("broken handler")
        if not request.path.startswith("/now"):
            return None
        self.handled.append("now:" + request.path)
        return Response(200, request.path.encode())

    async def _handler(self, request: Request) -> Response:
        if request.path.startswith("/slow"):
            await asyncio.sleep(0.02)
        self.handled.append("async:" + request.path)
        return Response(200, request.path.encode())

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.state.shutdown(1)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


def _exchange(port: int, raw: bytes, answers: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        while data.count(b"HTTP/1.1 ") < answers:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def _get(path: str, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path.encode(), extra)


def test_pipelined_answers_keep_request_order_across_both_paths(server: _Server) -> None:
    paths = ["/now1", "/slow2", "/now3", "/now4"]
    data = _exchange(server.port, b"".join(_get(p) for p in paths), len(paths))
    bodies = [part.rsplit(b"\r\n\r\n", 1)[-1] for part in data.split(b"HTTP/1.1 ")[1:]]
    assert bodies == [p.encode() for p in paths]
    # once a request waits, the ones behind it wait too (no overtaking)
    assert server.handled == ["now:/now1", "async:/slow2", "async:/now3", "async:/now4"]


def test_immediate_answers_of_one_read_leave_in_one_write(server: _Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"".join(_get(f"/now{i}") for i in range(5)))
        first = sock.recv(65536)
    assert first.count(b"HTTP/1.1 200 OK") == 5
    assert server.handled == [f"now:/now{i}" for i in range(5)]


def test_connection_close_after_an_immediate_answer(server: _Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(_get("/now-last", close=True) + _get("/now-never"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200") == 1
    assert b"Connection: close" in data
    assert server.handled == ["now:/now-last"]


def test_a_failing_immediate_handler_is_a_500_and_the_connection_goes_on(
    server: _Server,
) -> None:
    data = _exchange(server.port, _get("/boom") + _get("/now-after"), 2)
    assert data.startswith(b"HTTP/1.1 500 ")
    assert data.count(b"HTTP/1.1 200 ") == 1
    assert server.handled == ["now:/now-after"]
