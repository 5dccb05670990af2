"""Smoke test of ``bench/kes_vault_bench.py`` against real servers (OpenBao and four key servers).

It runs the benchmark command with tiny cells (one round of 0.2 s, 128 keys) and checks that
every cell measured something, that no request failed and that the cells are what they claim
to be: warm cells read no key from the keystore, cold cells read (nearly) one per request.
It never asserts on speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.openbao import OpenBaoNotFoundError, find_bao

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "kes_vault_bench.py"

pytestmark = pytest.mark.openbao


def test_tiny_run(tmp_path: Path) -> None:
    try:
        find_bao()
    except OpenBaoNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--seconds",
            "0.2",
            "--rounds",
            "1",
            "--keys",
            "128",  # a key comes back after 128 requests: well after the 10 ms cold expiry
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    cells = result["cells"]
    assert set(cells) == {
        f"{store}-{cache}.{clients}"
        for store in ("fs", "vault")
        for cache in ("warm", "cold")
        for clients in (1, 16)
    }
    for name, cell in cells.items():
        assert cell["errors"] == 0, (name, cell["first_error"])
        assert cell["requests"] > 0 and cell["ops"] > 0, name
        assert 0 < cell["p50_ms"] <= cell["p99_ms"], name
        assert cell["kes_cpu_us"] > 0, name
        if "-warm." in name:
            assert cell["reads_per_op"] < 0.1, (name, cell["keystore_reads"])
        else:
            # every request reads its key; 16 clients may share a read (single-flight)
            assert cell["reads_per_op"] > 0.5, (name, cell["keystore_reads"])
    for cells_key, ratio in result["ratios"].items():
        assert ratio > 0, cells_key
    # the printed table names every cell and the target line
    assert "vault ops/s" in proc.stdout and "target" in proc.stdout
    for cache in ("warm", "cold"):
        assert proc.stdout.count(f"\n{cache} ") == 2
