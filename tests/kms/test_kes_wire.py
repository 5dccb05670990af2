"""The pipelined data-key transport (kms/kes_wire.py) against a scripted TLS server on
127.0.0.1: order, coalescing, connection loss, ``Connection: close``, timeouts and retries."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httptools
import pytest
import trustme

from strongroom.kms import kes_wire
from strongroom.kms.kes_wire import KESWire


@dataclass
class Script:
    """How the server behaves; what it saw."""

    drop_after: int | None = None  # close without answering once this many requests arrived
    close_every: bool = False  # answer with Connection: close
    stall: bool = False  # never answer
    status: int = 200
    requests_per_read: list[int] = field(default_factory=list)
    connections: int = 0
    received: int = 0


class _ServerProtocol(asyncio.Protocol):
    def __init__(self, script: Script) -> None:
        self.script = script
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body = b""
        self.complete_in_read = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.script.connections += 1

    def data_received(self, data: bytes) -> None:
        self.complete_in_read = 0
        self.parser.feed_data(data)
        if self.complete_in_read:
            self.script.requests_per_read.append(self.complete_in_read)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        script = self.script
        script.received += 1
        self.complete_in_read += 1
        url, body = self.url, self.body
        self.url, self.body = b"", b""
        assert self.transport is not None
        if script.drop_after is not None and script.received >= script.drop_after:
            script.drop_after = None  # once
            self.transport.abort()
            return
        if script.stall:
            return
        answer = json.dumps({"path": url.decode(), "document": json.loads(body)}).encode()
        close = b"Connection: close\r\n" if script.close_every else b""
        self.transport.write(
            b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s"
            % (script.status, close, len(answer), answer)
        )
        if script.close_every:
            self.transport.close()


@contextlib.asynccontextmanager
async def _serving() -> AsyncIterator[tuple[Script, KESWire]]:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    script = Script()
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(
        lambda: _ServerProtocol(script), "127.0.0.1", 0, ssl=server_context
    )
    port = srv.sockets[0].getsockname()[1]
    wire = KESWire([f"https://127.0.0.1:{port}"], client_context, retries=1)
    try:
        yield script, wire
    finally:
        wire.close()
        srv.close()
        await srv.wait_closed()


Scenario = Callable[[Script, KESWire], Awaitable[None]]


def _run(scenario: Scenario) -> None:
    async def main() -> None:
        async with _serving() as (script, wire):
            await scenario(script, wire)

    asyncio.run(main())


async def _call(wire: KESWire, n: int) -> object:
    return await wire.post_json(f"/v1/key/generate/k{n}", {"n": n})


def test_answers_match_requests_under_concurrency() -> None:
    _run(_answers_match_requests_under_concurrency)


async def _answers_match_requests_under_concurrency(script: Script, wire: KESWire) -> None:
    answers = await asyncio.gather(*(_call(wire, n) for n in range(200)))
    assert answers == [{"path": f"/v1/key/generate/k{n}", "document": {"n": n}} for n in range(200)]
    # concurrent requests shared few connections and left together
    assert script.connections <= 2
    assert max(script.requests_per_read) > 1


def test_sequential_requests_reuse_one_connection() -> None:
    _run(_sequential_requests_reuse_one_connection)


async def _sequential_requests_reuse_one_connection(script: Script, wire: KESWire) -> None:
    for n in range(20):
        assert await _call(wire, n) == {"path": f"/v1/key/generate/k{n}", "document": {"n": n}}
    assert script.connections == 1


def test_a_dropped_connection_fails_over_to_a_new_one() -> None:
    _run(_a_dropped_connection_fails_over_to_a_new_one)


async def _a_dropped_connection_fails_over_to_a_new_one(script: Script, wire: KESWire) -> None:
    await _call(wire, 0)
    script.drop_after = 3  # the server drops the connection with requests in flight
    answers = await asyncio.gather(*(_call(wire, n) for n in range(1, 11)))
    assert [a["document"]["n"] for a in answers] == list(range(1, 11))  # type: ignore[index]
    assert script.connections >= 2


def test_connection_close_answers_are_not_reused() -> None:
    _run(_connection_close_answers_are_not_reused)


async def _connection_close_answers_are_not_reused(script: Script, wire: KESWire) -> None:
    script.close_every = True
    for n in range(3):
        assert await _call(wire, n) == {"path": f"/v1/key/generate/k{n}", "document": {"n": n}}
    assert script.connections == 3


def test_a_stalled_server_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kes_wire, "REQUEST_TIMEOUT", 0.2)
    monkeypatch.setattr(kes_wire, "ENDPOINT_TIMEOUT", 0.0)
    _run(_a_stalled_server_times_out)


async def _a_stalled_server_times_out(script: Script, wire: KESWire) -> None:
    script.stall = True
    with pytest.raises(Exception, match="no KES server reachable"):
        await _call(wire, 1)
    script.stall = False
    assert await _call(wire, 2) == {"path": "/v1/key/generate/k2", "document": {"n": 2}}


def test_server_errors_keep_their_status() -> None:
    _run(_server_errors_keep_their_status)


async def _server_errors_keep_their_status(script: Script, wire: KESWire) -> None:
    script.status = 404
    with pytest.raises(Exception) as info:
        await _call(wire, 1)
    assert getattr(info.value, "status", None) == 404
