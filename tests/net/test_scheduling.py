"""Scheduling by load: the policy object, and the HTTP layer that drives it for the key server."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable

import pytest

from strongroom.net.http import HTTPServerState, Request, Response
from strongroom.scheduling import AdaptivePolicy

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")


def _in_thread(fn: Callable[[], None]) -> None:
    """Run ``fn`` on a thread of its own: policies are per thread, the test's stays as it is."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def test_batch_from_the_first_busy_sign_until_hold_expires() -> None:
    def probe() -> None:
        policy = AdaptivePolicy(hold=1.0)
        assert os.sched_getscheduler(0) == os.SCHED_OTHER
        policy.busy(10.0)
        assert os.sched_getscheduler(0) == os.SCHED_BATCH
        policy.settle(10.5)  # within the hold: load may come back any moment
        assert os.sched_getscheduler(0) == os.SCHED_BATCH
        policy.busy(10.8)  # renewed
        policy.settle(11.5)
        assert os.sched_getscheduler(0) == os.SCHED_BATCH
        policy.settle(11.9)
        assert os.sched_getscheduler(0) == os.SCHED_OTHER
        assert not policy.batch

    _in_thread(probe)
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_pipelined_requests_switch_the_loop_thread_to_batch() -> None:
    """A connection's pipelined requests are served as SCHED_BATCH; a lone request on a quiet
    server (the hold has passed) as SCHED_OTHER."""
    seen: dict[str, int] = {}

    async def handler(request: Request) -> Response:
        seen[request.path] = os.sched_getscheduler(0)
        return Response(200, b"ok")

    def exchange(port: int, paths: list[str]) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in paths)
            )
            data = b""
            while data.count(b"HTTP/1.1 200") < len(paths):
                chunk = sock.recv(65536)
                assert chunk
                data += chunk
            return data

    def probe() -> None:
        async def main() -> None:
            state = HTTPServerState(handler, scheduling=AdaptivePolicy(hold=0.0))
            server = await asyncio.get_running_loop().create_server(
                state.protocol_factory, "127.0.0.1", 0
            )
            port = server.sockets[0].getsockname()[1]
            await asyncio.to_thread(exchange, port, ["/alone"])
            await asyncio.to_thread(exchange, port, ["/p1", "/p2", "/p3"])
            await asyncio.to_thread(exchange, port, ["/quiet"])
            assert os.sched_getscheduler(0) == os.SCHED_OTHER  # settled when the work ended
            server.close()
            await state.shutdown(1)

        asyncio.run(main())

    _in_thread(probe)
    assert seen["/alone"] == os.SCHED_OTHER
    assert seen["/p1"] == seen["/p2"] == seen["/p3"] == os.SCHED_BATCH
    assert seen["/quiet"] == os.SCHED_OTHER
