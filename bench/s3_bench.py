"""Object server benchmark: strongroom against moto, SeaweedFS and the client's own ceiling.

One command::

    python bench/s3_bench.py [--quick] [--only strongroom,sink] [--sizes 4k,1m,64m,list]
                             [--clients 1,8] [--seconds 5] [--json results.json]

For each server in turn (one at a time, each pinned to CPU 0 with ``taskset``; this process,
the load generator, pins itself to CPU 1) it starts the server on a fresh directory, creates
the buckets and the objects the GET and LIST cells read, then runs every workload cell: PUT and
GET of 4 KiB (ops/s), 1 MiB and 64 MiB (MB/s, 10^6 bytes), and a full ListObjectsV2
pagination of a 10,000-key bucket (keys/s), each with 1 and 8 concurrent clients (one
keep-alive connection each). A cell warms up, then runs for a fixed time (and until each client
finished at least one operation); its figure is the work done over the time to the last
completion.

Columns: ``strongroom`` (the object server, plain HTTP, one worker), ``moto`` (moto[server]),
``seaweedfs`` (``weed server -s3``), ``sink`` (bench/sink_server.py: reads and discards bodies,
canned GET bodies and listing pages: the most this client can drive), and the ratios
strongroom/seaweedfs and strongroom/moto. A server that cannot run is reported and skipped.
The benchmark reports numbers, never verdicts: it does not fail because of timing.

Adding a column for another strongroom configuration (e.g. SSE-S3 or SSE-C) is one entry in
``columns()``: ``start_strongroom`` takes ``tls=True`` (HTTPS with a generated CA) and
``put_headers``/``get_headers`` that the client signs and sends on every PUT/GET.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import hashlib
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from s3_client import (
    DATA_BUCKET,
    CellResult,
    HTTPError,
    Payloads,
    S3Client,
    Target,
    Workload,
    close_all,
    human_size,
    prepare,
    run_cell,
)
from s3_servers import (
    Server,
    Unavailable,
    start_moto,
    start_seaweedfs,
    start_sink,
    start_strongroom,
)

SIZES = {"4k": 4 << 10, "1m": 1 << 20, "64m": 64 << 20}
# Targets from the object server issue (printed beside the measurement, never enforced).
TARGETS = {
    ("put", 64 << 20): 400.0,
    ("get", 64 << 20): 1000.0,
    ("put", 4 << 10): 1500.0,
    ("get", 4 << 10): 3000.0,
}
ORDER = (
    "strongroom",
    "strongroom-sse-s3",
    "strongroom-tls",
    "strongroom-sse-c",
    "moto",
    "seaweedfs",
    "sink",
)


@dataclass
class Column:
    name: str
    start: Callable[[Path, str | None], Server]


# SSE-C test key (32 bytes) and its headers: sent on PUT and GET, over HTTPS only.
SSEC_KEY = bytes(range(32))
SSEC_HEADERS = (
    ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
    ("x-amz-server-side-encryption-customer-key", base64.b64encode(SSEC_KEY).decode()),
    (
        "x-amz-server-side-encryption-customer-key-md5",
        base64.b64encode(hashlib.md5(SSEC_KEY).digest()).decode(),
    ),
)
SSE_S3_HEADERS = (("x-amz-server-side-encryption", "AES256"),)


def columns(sse: list[str] | None = None, command: Sequence[str] = ()) -> list[Column]:
    """The servers measured, in table order. ``sse`` adds strongroom columns beside plaintext:
    ``s3`` (SSE-S3: the header on every PUT, plain HTTP) and ``c`` (SSE-C: the three customer
    headers on PUT and GET, over HTTPS with a generated CA)."""
    sr = functools.partial(start_strongroom, command=tuple(command))
    result = [Column("strongroom", functools.partial(sr, name="strongroom"))]
    for mode in sse or []:
        if mode == "s3":
            start = functools.partial(sr, name="strongroom-sse-s3", put_headers=SSE_S3_HEADERS)
            result.append(Column("strongroom-sse-s3", start))
        elif mode == "tls":  # plaintext over HTTPS: SSE-C's fair baseline
            start = functools.partial(sr, name="strongroom-tls", tls=True)
            result.append(Column("strongroom-tls", start))
        elif mode == "c":
            start = functools.partial(
                sr,
                name="strongroom-sse-c",
                tls=True,
                put_headers=SSEC_HEADERS,
                get_headers=SSEC_HEADERS,
            )
            result.append(Column("strongroom-sse-c", start))
    result += [
        Column("moto", start_moto),
        Column("seaweedfs", start_seaweedfs),
        Column("sink", start_sink),
    ]
    return result


@dataclass
class ServerRun:
    name: str
    note: str = ""
    error: str = ""
    cells: dict[str, CellResult] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)  # 1-min load average before and after


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="S3 object server benchmark against moto, SeaweedFS and a sink ceiling."
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: short cells, <~60 s")
    parser.add_argument(
        "--only",
        default="",
        help="comma list of columns to run (strongroom, moto, seaweedfs, sink); default all",
    )
    parser.add_argument(
        "--sizes",
        default="",
        help="comma list of workloads: 4k, 1m, 64m (or any size), list; default all, "
        "with --quick 4k,1m,list",
    )
    parser.add_argument(
        "--sse",
        default="",
        help="comma list of extra strongroom columns: s3 (SSE-S3), c (SSE-C over HTTPS), "
        "tls (plaintext over HTTPS, SSE-C's baseline)",
    )
    parser.add_argument(
        "--strongroom-cmd",
        default="",
        help="command that replaces `python -m strongroom` (e.g. to measure a patched build)",
    )
    parser.add_argument("--clients", default="1,8", help="concurrent clients per cell (1,8)")
    parser.add_argument("--seconds", type=float, default=None, help="measured time per cell (5)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up per cell (1)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each cell N times, report the best (1)"
    )
    parser.add_argument("--list-keys", type=int, default=None, help="keys in the LIST bucket")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for servers (0)")
    parser.add_argument("--client-cpu", default="1", help="CPU list for the load generator (1)")
    parser.add_argument("--workdir", help="where servers keep data (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    args.seconds = args.seconds if args.seconds is not None else (0.4 if args.quick else 5.0)
    args.warmup = args.warmup if args.warmup is not None else (0.15 if args.quick else 1.0)
    args.list_keys = args.list_keys or (500 if args.quick else 10_000)
    return args


def workloads(args: argparse.Namespace) -> list[Workload]:
    default = "4k,1m,list" if args.quick else "4k,1m,64m,list"
    chosen = [s.strip().lower() for s in (args.sizes or default).split(",") if s.strip()]
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    result: list[Workload] = []
    for name in chosen:
        if name == "list":
            result.extend(Workload("list", args.list_keys, c) for c in clients)
            continue
        size = SIZES.get(name)
        if size is None:
            size = _parse_size(name)
        for op in ("put", "get"):
            result.extend(Workload(op, size, c) for c in clients)
    return result


def _parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    if text[-1:] in units:
        return int(text[:-1]) * units[text[-1]]
    return int(text)


def _cpus(text: str) -> set[int]:
    cpus: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def wait_ready(target: Target, timeout: float = 60.0) -> None:
    """Until the server answers a signed CreateBucket (SeaweedFS listens before its filer is up)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        client = S3Client(target)
        try:
            status = await client.create_bucket(DATA_BUCKET)
            if status in (200, 409):
                return
            last = f"HTTP {status}"
        except (HTTPError, OSError) as exc:
            last = str(exc)
        finally:
            await close_all([client])
        await asyncio.sleep(0.25)
    raise Unavailable(f"not ready within {timeout:.0f}s: {last}")


async def measure(
    server: Server, cells: list[Workload], args: argparse.Namespace, run: ServerRun
) -> None:
    target = server.target
    payloads = Payloads()
    started = time.perf_counter()
    await wait_ready(target)
    log(f"  ready after {time.perf_counter() - started:.1f}s more")
    started = time.perf_counter()
    keys = await prepare(target, cells, payloads, quick=args.quick, log=log)
    log(f"  prepared in {time.perf_counter() - started:.1f}s")
    for workload in cells:
        if server.process.poll() is not None:
            raise Unavailable(f"server exited with status {server.process.returncode}")
        tries = [
            await run_cell(
                target,
                workload,
                payloads,
                keys.get(str(workload.size), ()),
                seconds=args.seconds,
                warmup=args.warmup,
            )
            for _ in range(max(args.repeat, 1))
        ]
        # Best of the repeats (the machine may be shared); every try must have been clean.
        result = max(tries, key=lambda r: r.value)
        for other in tries:
            if other is not result:
                result.statuses.update(other.statuses)
                result.errors.extend(other.errors)
        result.tries = [round(r.value, 2) for r in tries]
        run.cells[workload.name] = result
        flag = "" if result.ok else f"  non-2xx/errors: {dict(result.statuses)} {result.errors[:2]}"
        log(
            f"  {workload.name:22} {result.value:12,.1f} {workload.unit:6}"
            f" ({result.ops} ops in {result.seconds:.2f}s){flag}"
        )


def run_server(
    column: Column, cells: list[Workload], args: argparse.Namespace, workdir: Path
) -> ServerRun:
    run = ServerRun(column.name)
    log(f"== {column.name}")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        server = column.start(workdir, args.server_cpu)
    except Unavailable as exc:
        run.error = str(exc)
        log(f"  cannot run {column.name}: {exc}")
        return run
    run.note = server.note
    log(f"  listening after {time.perf_counter() - started:.1f}s")
    try:
        _run_loop(measure(server, cells, args, run))
    except (Unavailable, HTTPError, OSError) as exc:
        run.error = f"{type(exc).__name__}: {exc}"
        log(f"  {column.name} failed: {run.error}\n{server.log_tail()}")
    finally:
        stopping = time.perf_counter()
        server.stop()
        log(f"  stopped in {time.perf_counter() - stopping:.1f}s")
    run.load = (load_before, os.getloadavg()[0])
    return run


def _run_loop(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)


# -- output -------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "-"
    return f"{a / b:.2f}"


def table(runs: dict[str, ServerRun], cells: list[Workload]) -> str:
    shown = [n for n in ORDER if n in runs] + [n for n in runs if n not in ORDER]
    headers = ["workload", "unit", *shown]
    ratios: list[tuple[str, str, str]] = []  # (header, numerator, denominator)
    if "strongroom" in runs:
        ratios += [("sr/seaweedfs", "strongroom", "seaweedfs"), ("sr/moto", "strongroom", "moto")]
        ratios += [
            (f"{name.removeprefix('strongroom-')}/plain", name, "strongroom")
            for name in shown
            if name.startswith("strongroom-sse-")
        ]
        if "strongroom-tls" in runs and "strongroom-sse-c" in runs:
            # SSE-C needs HTTPS: compare it with plaintext over HTTPS as well
            ratios.append(("sse-c/tls", "strongroom-sse-c", "strongroom-tls"))
    headers += [r[0] for r in ratios]
    rows: list[list[str]] = []
    notes: list[str] = []
    for workload in cells:
        row = [workload.name, workload.unit]
        values: dict[str, float | None] = {}
        for name in shown:
            result = runs[name].cells.get(workload.name)
            values[name] = result.value if result is not None else None
            mark = "" if result is None or result.ok else " !"
            if result is not None and not result.ok:
                notes.append(
                    f"! {name} {workload.name}: statuses {dict(result.statuses)}"
                    f" errors {result.errors[:2]}"
                )
            row.append(fmt(values[name]) + mark)
        row += [ratio(values.get(a), values.get(b)) for _, a, b in ratios]
        rows.append(row)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cols: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i < 2 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cols, widths, strict=True))
            )
            + " |"
        )

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out + notes)


def targets_report(runs: dict[str, ServerRun]) -> str:
    run = runs.get("strongroom")
    if run is None:
        return ""
    lines = ["Targets (issue 2, strongroom, 8 clients):"]
    for result in run.cells.values():
        w = result.workload
        goal = TARGETS.get((w.op, w.size))
        if goal is None or w.clients != 8:
            continue
        lines.append(
            f"  {w.name:22} {fmt(result.value):>10} {w.unit:6} target {fmt(goal):>6}"
            f"  ({result.value / goal:.2f} of target)"
        )
    return "\n".join(lines) if len(lines) > 1 else ""


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cells = workloads(args)
    sse = [m.strip().lower() for m in args.sse.split(",") if m.strip()]
    if set(sse) - {"s3", "c", "tls"}:
        log(f"--sse takes s3, c and tls, not {args.sse!r}")
        return 2
    available = columns(sse, shlex.split(args.strongroom_cmd))
    wanted = {n.strip() for n in args.only.split(",") if n.strip()}
    if wanted and "strongroom" in wanted:
        wanted |= {"strongroom-tls" if m == "tls" else f"strongroom-sse-{m}" for m in sse}
    chosen = [c for c in available if not wanted or c.name in wanted]
    unknown = wanted - {c.name for c in available}
    if unknown:
        log(f"unknown --only names: {', '.join(sorted(unknown))}")
        return 2
    try:
        os.sched_setaffinity(0, _cpus(args.client_cpu))
    except (AttributeError, OSError, ValueError) as exc:
        log(f"cannot pin the load generator to CPU {args.client_cpu}: {exc}")
    facts = machine()
    log(
        f"machine: {facts['cpus']} CPUs ({facts['cpu_model']}), Python {facts['python']}; "
        f"servers on CPU {args.server_cpu}, load generator on CPU {args.client_cpu}; "
        f"{args.seconds:g}s per cell after {args.warmup:g}s warm-up, best of {args.repeat}"
    )
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="s3-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, ServerRun] = {}
    began = time.perf_counter()
    try:
        for column in chosen:
            runs[column.name] = run_server(column, cells, args, workdir)
            for path in workdir.glob(f"{column.name}*-data"):
                shutil.rmtree(path, ignore_errors=True)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - began

    print()
    print(
        f"S3 benchmark, {facts['cpus']} CPUs ({facts['cpu_model']}); servers pinned to CPU "
        f"{args.server_cpu}, client to CPU {args.client_cpu}; {args.seconds:g}s per cell, "
        f"best of {args.repeat}; "
        f"MB = 10^6 bytes; total {elapsed:.0f}s"
    )
    for name, run in runs.items():
        detail = run.note or ""
        if run.error:
            detail += f" NOT MEASURED: {run.error.splitlines()[0]}"
        else:
            detail += f" (load average {run.load[0]:.2f} -> {run.load[1]:.2f})"
        print(f"  {name}: {detail.strip()}")
    print()
    print(table(runs, cells))
    report = targets_report(runs)
    if report:
        print()
        print(report)
    if args.json:
        data = {
            "machine": facts,
            "config": {
                "seconds": args.seconds,
                "warmup": args.warmup,
                "list_keys": args.list_keys,
                "server_cpu": args.server_cpu,
                "client_cpu": args.client_cpu,
                "quick": args.quick,
                "repeat": args.repeat,
                "workloads": [w.name for w in cells],
                "sizes": [human_size(w.size) for w in cells if w.op != "list"],
            },
            "elapsed_seconds": round(elapsed, 1),
            "servers": {
                name: {
                    "note": run.note,
                    "error": run.error,
                    "loadavg": run.load,
                    "cells": [r.as_dict() for r in run.cells.values()],
                }
                for name, run in runs.items()
            },
        }
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
