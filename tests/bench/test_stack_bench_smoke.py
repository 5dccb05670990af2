"""Smoke test of ``bench/stack_bench.py``: the full stack (OpenBao, key server, object server)
beside the static-key object server, both over HTTPS with SSE-S3.

It runs the benchmark command with tiny cells and checks that every cell measured something,
that every response was a 2xx, that both servers' CPU time was seen (the stack's key server too:
its data keys really come from there) and that nothing the benchmark started is left running.
It never asserts on speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.openbao import OpenBaoNotFoundError, find_bao

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "stack_bench.py"

pytestmark = pytest.mark.openbao


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_tiny_run(tmp_path: Path) -> None:
    try:
        find_bao()
    except OpenBaoNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    out = tmp_path / "result.json"
    work = tmp_path / "work"
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = str(cpus[0]), str(cpus[-1])
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--sizes",
            "4k,256k",
            "--clients",
            "1,2",
            "--seconds",
            "0.15",
            "--warmup",
            "0.03",
            "--repeat",
            "1",
            "--server-cpu",
            server_cpu,
            "--client-cpu",
            client_cpu,
            "--workdir",
            str(work),
            "--kes-client",
            "40",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["error"] == ""
    expected = {
        f"{op} {size} x{clients}"
        for op in ("PUT", "GET")
        for size in ("4 KiB", "256 KiB")
        for clients in (1, 2)
    }
    servers = result["servers"]
    assert set(servers) == {"static", "stack"}
    for name, server in servers.items():
        assert set(server["cells"]) == expected, name
        for cell_name, cell in server["cells"].items():
            where = (name, cell_name, cell["all_statuses"], cell["all_errors"][:2])
            assert cell["ok"], where
            assert cell["all_errors"] == [], where
            assert all(200 <= int(s) < 300 for s in cell["all_statuses"]), where
            assert cell["ops"] >= cell["clients"], where
            assert cell["value"] > 0, where
            assert cell["bytes"] == cell["ops"] * cell["size"], where  # every body whole
            assert cell["cpu_seconds"]["object server"] > 0, where
        # nothing the benchmark started is still running
        for role, pid in server["pids"].items():
            assert not _alive(pid), (name, role, pid)
    stack_cpu = [c["cpu_seconds"] for c in servers["stack"]["cells"].values()]
    assert set(stack_cpu[0]) == {"object server", "key server", "OpenBao"}
    assert sum(c["key server"] for c in stack_cpu) > 0  # data keys came from the key server
    assert set(result["ratios"]) == expected
    assert all(r > 0 for r in result["ratios"].values())
    # the KES client alone: both clients, 1 and 8 concurrent, CPU seen on both sides
    rows = result["kes_client"]
    assert [(r["client"].split()[0], r["clients"]) for r in rows] == [
        ("KESClient", 1),
        ("KESClient", 8),
        ("minimal", 1),
        ("minimal", 8),
    ]
    for row in rows:
        assert row["requests"] > 0 and row["req_per_s"] > 0, row
        assert row["client_cpu_ms"] > 0, row
    # the printed table: both columns, the ratio, the target line, the CPU table
    assert "stack/static" in proc.stdout and ">= 0.70" in proc.stdout
    assert "CPU per operation" in proc.stdout
    for cell_name in expected:
        assert cell_name in proc.stdout
    # the stack's processes were pinned (inherited from `taskset -c` on `stack up`)
    assert "(inherited)" in proc.stderr
    assert "x-amz-server-side-encryption: 'AES256'" in proc.stderr
