"""BufferStream bodies: views of one reused buffer reach the client intact, over plain TCP and
TLS, however slowly the client reads; a failure midway cuts the connection."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
import trustme

from strongroom.net.streaming import BufferStream, HttpConnection, Request, Response

VIEW = 256 * 1024
VIEWS = 24  # 6 MiB: far more than the socket buffers hold


def _pattern(index: int) -> bytes:
    return hashlib.sha256(b"%d" % index).digest() * (VIEW // 32)


def _views(buffer: bytearray, count: int, fail_at: int | None) -> Iterator[memoryview]:
    view = memoryview(buffer)
    for index in range(count):
        if index == fail_at:
            raise RuntimeError("the producer failed")
        buffer[:] = _pattern(index)  # overwrite the one buffer: a kept reference would show
        yield view


async def _app(request: Request) -> Response:
    fail_at = int(request.query) if request.query else None
    body = BufferStream(_views(bytearray(VIEW), VIEWS, fail_at))
    return Response(200, [], body, content_length=VIEW * VIEWS)


class _Server:
    def __init__(self, tls: bool) -> None:
        self.tls = tls
        self.context: ssl.SSLContext | None = None
        self.client_context: ssl.SSLContext | None = None
        if tls:
            ca = trustme.CA()
            self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(self.context)
            self.client_context = ssl.create_default_context()
            ca.configure_trust(self.client_context)
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            self.loop.create_server(
                lambda: HttpConnection(_app, tls=self.tls), "127.0.0.1", 0, ssl=self.context
            )
        )
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(self.loop)
        for task in tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self.loop.run_until_complete(server.wait_closed())
        self.loop.close()

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        if self.client_context is not None:
            return self.client_context.wrap_socket(sock, server_hostname="127.0.0.1")
        return sock

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(params=[False, True], ids=["http", "https"])
def server(request: pytest.FixtureRequest) -> Iterator[_Server]:
    srv = _Server(request.param)
    yield srv
    srv.close()


def _get(sock: socket.socket, query: str, *, slow: bool) -> tuple[bytes, bytes]:
    target = f"/?{query}" if query else "/"
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    received = bytearray(body)
    while True:
        if slow and len(received) < 2 * VIEW:
            time.sleep(0.01)  # let the server's socket buffer fill: writes go partial
        chunk = sock.recv(16384 if slow else 1 << 20)
        if not chunk:
            break
        received += chunk
        if len(received) >= VIEW * VIEWS:
            break
    return head, bytes(received)


@pytest.mark.parametrize("slow", [False, True], ids=["fast", "slow"])
def test_every_view_arrives_intact(server: _Server, slow: bool) -> None:
    with server.connect() as sock:
        for _ in range(2):  # and the connection stays usable afterwards
            head, body = _get(sock, "", slow=slow)
            assert head.startswith(b"HTTP/1.1 200")
            assert f"Content-Length: {VIEW * VIEWS}".encode() in head
            assert body == b"".join(_pattern(i) for i in range(VIEWS))


def test_failure_midway_cuts_the_connection(server: _Server) -> None:
    with server.connect() as sock:
        head, body = _get(sock, "5", slow=False)
        assert head.startswith(b"HTTP/1.1 200")
        assert len(body) == 5 * VIEW  # the views before the failure, then the end of the stream
        assert body == b"".join(_pattern(i) for i in range(5))


def test_first_view_is_produced_before_the_response() -> None:
    with pytest.raises(RuntimeError):
        BufferStream(_views(bytearray(VIEW), VIEWS, 0))
