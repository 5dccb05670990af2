"""Smoke test of the S3 benchmark's load generator against a real object server.

It runs each kind of cell for a fraction of a second and checks that the numbers are sane and
non-zero and that every response was a 2xx. It never asserts on speed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import s3_client  # noqa: E402
from s3_client import CellResult, Payloads, Target, Workload  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(tmp_path_factory.mktemp("bench") / "data") as srv:
        yield srv


def _target(server: S3Server, **kwargs: object) -> Target:
    return Target(
        "strongroom",
        "127.0.0.1",
        server.port,
        ACCESS_KEY,
        SECRET_KEY,
        ca_file=str(server.ca_path) if server.ca_path else None,
        **kwargs,  # type: ignore[arg-type]
    )


async def _run(target: Target, workloads: list[Workload]) -> list[CellResult]:
    payloads = Payloads()
    keys = await s3_client.prepare(target, workloads, payloads, quick=True, log=lambda _: None)
    results = []
    for workload in workloads:
        results.append(
            await s3_client.run_cell(
                target,
                workload,
                payloads,
                keys.get(str(workload.size), ()),
                seconds=0.12,
                warmup=0.03,
            )
        )
    return results


def _check(result: CellResult) -> None:
    w = result.workload
    assert result.ok, (w.name, dict(result.statuses), result.errors[:3])
    assert result.ops >= w.clients, w.name
    assert sum(result.statuses.values()) == result.ops
    assert result.seconds > 0
    assert result.value > 0
    assert len(result.latencies) == result.ops
    if w.op in ("put", "get"):
        assert result.bytes == result.ops * w.size, w.name  # every body went whole
    else:
        assert result.keys == result.ops * w.size, w.name  # every listing saw every key
    row = result.as_dict()
    assert row["value"] > 0 and row["unit"] == w.unit


def test_load_generator_against_strongroom(server: S3Server) -> None:
    workloads = [
        Workload(op, size, clients)
        for size in (4096, 1 << 20)
        for op in ("put", "get")
        for clients in (1, 8)
    ] + [Workload("list", 300, 1), Workload("list", 300, 8)]
    results = asyncio.run(_run(_target(server), workloads))
    assert [r.workload for r in results] == workloads
    for result in results:
        _check(result)


def test_signed_extra_headers(server: S3Server) -> None:
    """Headers a later SSE column adds are sent and signed (the server verifies SigV4)."""
    target = _target(server, put_headers=(("x-amz-meta-bench", "yes"),))
    (result,) = asyncio.run(_run(target, [Workload("put", 4096, 2)]))
    _check(result)


def test_https(tmp_path: Path) -> None:
    with S3Server(tmp_path / "data", tls=True) as tls_server:
        target = _target(tls_server, tls=True)
        results = asyncio.run(_run(target, [Workload("put", 1 << 20, 2), Workload("get", 4096, 2)]))
    for result in results:
        _check(result)
