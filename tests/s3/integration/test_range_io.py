"""A range GET of an encrypted object reads only the packages it needs from disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.support.s3server import S3Server

MiB = 1024 * 1024


def read_bytes(pid: int) -> int:
    """Bytes the process read through read(2)/pread(2)/recv(2) so far (rchar)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/PID/io")


@pytest.mark.slow
def test_range_of_large_encrypted_object_reads_little(tmp_path: Path) -> None:
    with S3Server(tmp_path / "data") as server:  # embedded default: SSE-S3 everywhere
        s3 = server.client()
        s3.create_bucket(Bucket="big")
        block = os.urandom(MiB)
        size = 256 * MiB

        source = tmp_path / "source.bin"
        with source.open("wb") as f:
            for _ in range(size // MiB):
                f.write(block)
        with source.open("rb") as f:
            s3.put_object(Bucket="big", Key="obj", Body=f)
        source.unlink()
        assert server.process is not None
        pid = server.process.pid
        start = 200 * MiB + 12345
        s3.head_object(Bucket="big", Key="obj")  # warm the connection
        before = read_bytes(pid)
        got = s3.get_object(Bucket="big", Key="obj", Range=f"bytes={start}-{start + MiB - 1}")
        data = got["Body"].read()
        after = read_bytes(pid)
        offset = start % MiB
        assert data == (block[offset:] + block)[:MiB]
        # 17 DARE packages of 64 KiB + 32 bytes, plus the request itself
        assert after - before < MiB + 64 * 1024 * 2 + 16 * 1024, after - before
