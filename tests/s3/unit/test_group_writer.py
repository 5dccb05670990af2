"""The metadata writer thread: group commit, and its scheduling under concurrent writes."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from strongroom.s3.context import _GroupWriter
from strongroom.s3.storage import LocalStorage


def test_concurrent_writes_commit_together_and_each_gets_its_answer(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    writer = _GroupWriter(storage)

    async def main() -> list[object]:
        def create(name: str) -> str:
            storage.create_bucket(name)
            return name

        futures = [writer.submit(create, (f"bucket-{i:03d}",)) for i in range(50)]
        futures.append(writer.submit(create, ("bucket-000",)))  # exists: fails alone
        return await asyncio.gather(*futures, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        writer.close()
    assert results[:50] == [f"bucket-{i:03d}" for i in range(50)]
    assert isinstance(results[50], Exception)
    assert len(storage.list_buckets()) == 50


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_the_writer_yields_to_the_loop_only_under_concurrent_writes(tmp_path: Path) -> None:
    writer = _GroupWriter(LocalStorage(tmp_path))
    seen: list[int] = []

    def probe() -> None:  # runs in a thread of its own, as the writer does
        writer._yield_when_busy(True)
        seen.append(os.sched_getscheduler(0))
        writer._yield_when_busy(False)
        seen.append(os.sched_getscheduler(0))

    try:
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join(5)
    finally:
        writer.close()
    assert seen == [os.SCHED_BATCH, os.SCHED_OTHER]
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the policy is per thread


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")
def test_other_requests_in_progress_count_as_load(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    load = [5]
    writer = _GroupWriter(storage, load=lambda: load[0])

    async def one_write(name: str) -> None:
        await writer.submit(storage.create_bucket, (name,))

    try:
        asyncio.run(one_write("busy-bucket"))  # a single write, but the loop is busy
        tid = writer._thread.native_id
        assert tid is not None
        assert os.sched_getscheduler(tid) == os.SCHED_BATCH
        load[0] = 1  # only the request that writes: commit at once
        asyncio.run(one_write("quiet-bucket"))
        assert os.sched_getscheduler(tid) == os.SCHED_OTHER
    finally:
        writer.close()
