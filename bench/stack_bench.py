"""SSE-S3 through the full secure stack beside the static-key KMS, in the same run.

One command::

    python bench/stack_bench.py [--quick] [--json results.json] [--sizes 4k,64m]
                                [--clients 1,8] [--seconds 5] [--repeat 2]

Two object servers, both over HTTPS with the same certificate, both one worker, both with
``MINIO_KMS_AUTO_ENCRYPTION=on`` and every PUT carrying ``x-amz-server-side-encryption: AES256``:

* ``stack``: ``strongroom stack up DIR`` on a temporary directory: the object server asks the key
  server (mTLS) for one data key per PUT and one decryption per GET; the key server keeps its
  master key in OpenBao (TLS, K/V via AppRole).
* ``static``: ``strongroom server`` with ``MINIO_KMS_SECRET_KEY=name:base64`` (the static-key KMS,
  no network hop), serving the stack's own ``certs/s3`` certificate.

Pinning: every server process runs on CPU 0, this process (the load generator) on CPU 1. The stack
is started as ``taskset -c 0 python -m strongroom stack up ...``: ``stack up`` spawns OpenBao, the
key server and the object server as its children, and a child inherits its parent's CPU affinity
across fork and exec, so all three start pinned (OpenBao's Go runtime then also sizes GOMAXPROCS to
the one CPU, which pinning with ``taskset -p`` after start would not do). The benchmark then reads
the affinity of every thread of every stack process and re-pins (``taskset -a -p``) any that is
not on CPU 0 (none is expected); the check is printed.

Cells (the load generator of ``bench/s3_bench.py``): PUT and GET of 4 KiB objects (ops/s) and
64 MiB objects (MB/s, 10^6 bytes/s), 1 and 8 clients, one keep-alive TLS connection each. The two
servers are measured cell by cell, alternating which goes first, so that a shared machine's load
drifts over both alike. For every cell the CPU time of each server process (from /proc) is
recorded, so the table also says where the time went (object server, key server, OpenBao).

Targets from the issue (printed, never enforced): 4 KiB SSE-S3 PUT stack/static >= 0.7; 64 MiB
PUT and GET stack/static >= 0.95. The benchmark never fails on timing; whatever it started is
stopped on every exit path (``stack down``, then SIGKILL of any pid that is still alive).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from s3_bench import SSE_S3_HEADERS, _cpus, _parse_size, _run_loop, fmt, machine, wait_ready
from s3_client import (
    DATA_BUCKET,
    CellResult,
    HTTPError,
    Payloads,
    Signer,
    Target,
    Workload,
    prepare,
    run_cell,
    uri_encode,
)
from s3_servers import (
    ACCESS_KEY,
    SECRET_KEY,
    Unavailable,
    _clean_env,
    _spawn,
    _wait_port,
    free_port,
    pinned,
)

SIZES = {"4k": 4 << 10, "64m": 64 << 20}
NAMES = ("static", "stack")
# (op, size) -> minimum stack/static ratio, from the issue.
TARGETS = {("put", 4 << 10): 0.7, ("put", 64 << 20): 0.95, ("get", 64 << 20): 0.95}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- processes ----------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from "state" on


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of these processes (and their reaped children)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields:  # utime, stime, cutime, cstime are fields 14-17 (index 11-14 here)
            total += sum(int(f) for f in fields[11:15])
    return total / CLK_TCK


def descendants(pid: int) -> list[int]:
    """``pid`` and every live process below it (worker processes, if a server forks)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def thread_affinities(pid: int) -> dict[int, set[int]]:
    result = {}
    try:
        tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return {}
    for tid in tids:
        with contextlib.suppress(OSError):
            result[tid] = set(os.sched_getaffinity(tid))
    return result


def ensure_pinned(pid: int, cpus: set[int], cpu_text: str) -> str:
    """Check every thread of ``pid`` runs only on ``cpus``; re-pin with ``taskset -a -p``
    otherwise. Returns a one-line account."""
    before = thread_affinities(pid)
    stray = {t: a for t, a in before.items() if a != cpus}
    if not stray:
        return f"{len(before)} threads on CPU {cpu_text} (inherited)"
    subprocess.run(
        ["taskset", "-a", "-p", "-c", cpu_text, str(pid)], capture_output=True, check=False
    )
    after = thread_affinities(pid)
    still = sum(1 for a in after.values() if a != cpus)
    return f"{len(stray)} of {len(before)} threads re-pinned with taskset -a -p; {still} stray"


@dataclass
class Running:
    """One benchmarked object server and the processes whose CPU time it costs."""

    name: str
    target: Target
    pids: dict[str, int]  # role -> pid (object server, key server, OpenBao)
    note: str = ""
    logs: dict[str, Path] = field(default_factory=dict)

    def cpu(self) -> dict[str, float]:
        return {role: cpu_seconds(descendants(pid)) for role, pid in self.pids.items()}

    def check_alive(self) -> None:
        for role, pid in self.pids.items():
            if not alive(pid):
                raise Unavailable(f"{self.name}: the {role} (pid {pid}) has exited")


class Stack:
    """``strongroom stack up`` on a temporary directory, pinned; ``stop`` always cleans up."""

    def __init__(self, root: Path, cpu: str, command: Sequence[str]) -> None:
        self.root = root
        self.cpu = cpu
        self.command = list(command)
        self.pids: list[int] = []
        self.info: dict[str, Any] = {}

    def start(self) -> Running:
        vault = free_port(avoid_offset=1)  # OpenBao's cluster port is the API port + 1
        ports = {"vault": vault}
        ports["kes"] = _free_other(set(ports.values()) | {vault + 1})
        ports["s3"] = _free_other(set(ports.values()) | {vault + 1})
        argv = pinned(
            self.cpu,
            [
                *self.command,
                "stack",
                "up",
                str(self.root),
                f"--s3-port={ports['s3']}",
                f"--kes-port={ports['kes']}",
                f"--vault-port={ports['vault']}",
                "--alias=",  # do not touch the user's client aliases
                "--json",
            ],
        )
        env = _clean_env()
        env.pop("STRONGROOM_CONFIG_DIR", None)
        began = time.perf_counter()
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=180, check=False
        )
        self._collect_pids()  # whatever is running, even after a failure
        if proc.returncode != 0:
            raise Unavailable(f"stack up failed ({proc.returncode}): {proc.stderr[-2000:]}")
        self.info = json.loads(proc.stdout)
        services = self.info["services"]
        pids = {
            "object server": int(services["s3"]["pid"]),
            "key server": int(services["kes"]["pid"]),
            "OpenBao": int(services["openbao"]["pid"]),
        }
        self.pids = list(pids.values())
        cpus = _cpus(self.cpu)
        pinning = {role: ensure_pinned(pid, cpus, self.cpu) for role, pid in pids.items()}
        for role, text in pinning.items():
            log(f"  stack {role} pid {pids[role]}: {text}")
        creds = json.loads(Path(self.info["credentials"]).read_text())
        target = Target(
            "stack",
            "127.0.0.1",
            ports["s3"],
            creds["access_key"],
            creds["secret_key"],
            tls=True,
            ca_file=self.info["ca"],
            put_headers=SSE_S3_HEADERS,
        )
        note = (
            f"strongroom stack up in {time.perf_counter() - began:.1f}s (OpenBao -> key server "
            "-> object server, 1 worker, auto-encryption on)"
        )
        roles = zip(pids, ("s3", "kes", "openbao"), strict=True)
        logs = {role: Path(services[name]["log"]) for role, name in roles}
        return Running("stack", target, pids, note, logs)

    def _collect_pids(self) -> None:
        for name in ("s3", "kes", "openbao"):
            try:
                pid = int((self.root / "run" / f"{name}.pid").read_text().strip())
            except (OSError, ValueError):
                continue
            if pid not in self.pids:
                self.pids.append(pid)

    @property
    def s3_cert_dir(self) -> Path:
        return self.root / "certs" / "s3"

    def stop(self) -> None:
        self._collect_pids()
        if (self.root / "stack.json").exists() or self.pids:
            try:
                subprocess.run(
                    [*self.command, "stack", "down", str(self.root)],
                    capture_output=True,
                    timeout=60,
                    check=False,
                    env=_clean_env(),
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                log(f"  stack down failed: {exc}")
        for pid in self.pids:  # only the pids this benchmark's stack wrote
            if alive(pid):
                log(f"  pid {pid} still alive after stack down: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _free_other(taken: set[int]) -> int:
    for _ in range(100):
        port = free_port()
        if port not in taken:
            return port
    raise Unavailable("no free port")


def start_static(
    workdir: Path, cpu: str, cert_dir: Path, ca_file: str, command: Sequence[str]
) -> tuple[Running, subprocess.Popen[bytes]]:
    """The object server with the static-key KMS, HTTPS with the stack's server certificate."""
    certs = workdir / "static-certs"
    certs.mkdir(parents=True, exist_ok=True)
    for name in ("public.crt", "private.key"):
        shutil.copyfile(cert_dir / name, certs / name)
    port = free_port()
    key = base64.b64encode(os.urandom(32)).decode()
    env = _clean_env()
    env.update(
        {
            "MINIO_ROOT_USER": ACCESS_KEY,
            "MINIO_ROOT_PASSWORD": SECRET_KEY,
            "MINIO_KMS_SECRET_KEY": f"bench-static-key:{key}",
            "MINIO_KMS_AUTO_ENCRYPTION": "on",
        }
    )
    argv = pinned(
        cpu,
        [
            *command,
            "server",
            str(workdir / "static-data"),
            "--address",
            f"127.0.0.1:{port}",
            "--certs-dir",
            str(certs),
            "--workers",
            "1",
        ],
    )
    process, log_path = _spawn("static", argv, workdir, env)
    _wait_port(process, port, log_path)
    target = Target(
        "static",
        "127.0.0.1",
        port,
        ACCESS_KEY,
        SECRET_KEY,
        tls=True,
        ca_file=ca_file,
        put_headers=SSE_S3_HEADERS,
    )
    note = "strongroom server, MINIO_KMS_SECRET_KEY, 1 worker, auto-encryption on"
    running = Running("static", target, {"object server": process.pid}, note, {"s3": log_path})
    return running, process


# -- a signed HEAD: is the object really SSE-S3? ------------------------------------------------


def head_headers(target: Target, key: str) -> tuple[int, dict[str, str]]:
    path = f"/{DATA_BUCKET}/{uri_encode(key)}"
    request = Signer(target).request_head("HEAD", path)
    context = target.ssl_context()
    assert context is not None
    with (
        socket.create_connection((target.host, target.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=target.host) as sock,
    ):
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Cell:
    result: CellResult
    cpu: dict[str, float]  # role -> CPU seconds during the measured try
    client_cpu: float


def measure_cell(
    running: Running,
    workload: Workload,
    payloads: Payloads,
    keys: Sequence[str],
    args: argparse.Namespace,
    run_id: str,
) -> Cell:
    """Warm up (its own short run, not counted), then the measured run; the CPU time of every
    server process and of this process covers the measured run only."""
    running.check_alive()
    if args.warmup > 0:
        _run_loop(
            run_cell(
                running.target,
                workload,
                payloads,
                keys,
                seconds=args.warmup,
                warmup=0,
                run_id=f"w{run_id}",
            )
        )
    profilers = start_profilers(running, workload, args)
    before = running.cpu()
    client_before = time.process_time()
    try:
        result = _run_loop(
            run_cell(
                running.target,
                workload,
                payloads,
                keys,
                seconds=args.seconds,
                warmup=0,
                run_id=run_id,
            )
        )
    finally:
        client = time.process_time() - client_before
        after = running.cpu()
        stop_profilers(profilers)
    cpu = {role: after[role] - before[role] for role in before}
    return Cell(result, cpu, client)


def start_profilers(
    running: Running, workload: Workload, args: argparse.Namespace
) -> list[subprocess.Popen[bytes]]:
    """With ``--profile DIR``: py-spy (collapsed stacks, every thread, on-CPU samples) on each
    Python server process of this cell; OpenBao (Go) is only measured by its CPU time."""
    if not args.profile:
        return []
    spy = shutil.which("py-spy")
    if spy is None:
        log("  --profile needs py-spy (pip install py-spy)")
        return []
    out = Path(args.profile)
    out.mkdir(parents=True, exist_ok=True)
    slug = workload.name.replace(" ", "").lower()
    procs = []
    for role, pid in running.pids.items():
        if role == "OpenBao":
            continue
        path = out / f"{slug}-{running.name}-{role.replace(' ', '-')}.txt"
        argv = [spy, "record", "-p", str(pid), "-r", "250", "--threads"]
        argv += ["--nonblocking", "--format", "raw", "-o", str(path)]
        procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(0.5)  # let py-spy attach before the measured run
    return procs


def stop_profilers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def workloads(args: argparse.Namespace) -> list[Workload]:
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    result = []
    for name in sizes:
        size = SIZES.get(name) or _parse_size(name)
        for op in ("put", "get"):
            result.extend(Workload(op, size, c) for c in clients)
    return result


@dataclass
class Best:
    cell: Cell
    tries: list[float]
    ok: bool
    statuses: dict[int, int]
    errors: list[str]


def run_all(
    servers: dict[str, Running], cells: list[Workload], args: argparse.Namespace
) -> dict[str, dict[str, Best]]:
    payloads = Payloads()
    keys: dict[str, dict[str, list[str]]] = {}
    for name, running in servers.items():
        started = time.perf_counter()
        _run_loop(wait_ready(running.target))
        keys[name] = _run_loop(prepare(running.target, cells, payloads, quick=args.quick, log=log))
        log(f"  {name}: buckets and GET objects ready in {time.perf_counter() - started:.1f}s")
        some_key = next(iter(next(iter(keys[name].values()), [])), None)
        if some_key is not None:
            status, headers = head_headers(running.target, some_key)
            sse = headers.get("x-amz-server-side-encryption", "")
            log(f"  {name}: HEAD {some_key} -> {status}, x-amz-server-side-encryption: {sse!r}")
            if status != 200 or sse != "AES256":
                raise Unavailable(f"{name}: objects are not SSE-S3 (HEAD {status}, {sse!r})")
    results: dict[str, dict[str, Best]] = {name: {} for name in servers}
    order = list(servers)
    for index, workload in enumerate(cells):
        tries: dict[str, list[Cell]] = {name: [] for name in servers}
        for repeat in range(max(args.repeat, 1)):
            # alternate who goes first, cell by cell and repeat by repeat (ABBA)
            sequence = order if (index + repeat) % 2 == 0 else order[::-1]
            for name in sequence:
                running = servers[name]
                cell = measure_cell(
                    running,
                    workload,
                    payloads,
                    keys[name].get(str(workload.size), ()),
                    args,
                    run_id=f"r{repeat}-",
                )
                tries[name].append(cell)
                r = cell.result
                flag = "" if r.ok else f"  NON-2xx/errors {dict(r.statuses)} {r.errors[:2]}"
                cpu = " ".join(f"{k} {v:.2f}s" for k, v in cell.cpu.items())
                log(
                    f"  {workload.name:16} {name:6} {r.value:10,.1f} {workload.unit:5} "
                    f"({r.ops} ops in {r.seconds:.2f}s; CPU {cpu}){flag}"
                )
        for name, cells_tried in tries.items():
            best = max(cells_tried, key=lambda c: c.result.value)
            statuses: dict[int, int] = {}
            errors: list[str] = []
            for c in cells_tried:
                for s, n in c.result.statuses.items():
                    statuses[s] = statuses.get(s, 0) + n
                errors += c.result.errors
            results[name][workload.name] = Best(
                best,
                [round(c.result.value, 2) for c in cells_tried],
                all(c.result.ok for c in cells_tried),
                statuses,
                errors[:10],
            )
    return results


# -- output -------------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> float | None:
    return a / b if a and b else None


def table(results: dict[str, dict[str, Best]], cells: list[Workload]) -> str:
    headers = ["workload", "unit", "static", "stack", "stack/static", "target"]
    rows = []
    for w in cells:
        s = results.get("static", {}).get(w.name)
        f = results.get("stack", {}).get(w.name)
        sv = s.cell.result.value if s else 0.0
        fv = f.cell.result.value if f else 0.0
        ratio = _ratio(fv, sv)
        goal = TARGETS.get((w.op, w.size))
        target = ""
        if goal is not None:
            verdict = "-" if ratio is None else ("met" if ratio >= goal else "NOT met")
            target = f">= {goal:.2f}: {verdict}"
        rows.append(
            [
                w.name,
                w.unit,
                fmt(sv) + ("" if s is None or s.ok else " !"),
                fmt(fv) + ("" if f is None or f.ok else " !"),
                "-" if ratio is None else f"{ratio:.2f}",
                target,
            ]
        )
    return _render(headers, rows, left=2)


def cpu_table(results: dict[str, dict[str, Best]], cells: list[Workload]) -> str:
    """CPU milliseconds per operation (4 KiB) or per MB (64 MiB), per process."""
    headers = [
        "workload",
        "per",
        "static s3",
        "stack s3",
        "key server",
        "OpenBao",
        "stack total",
        "client static",
        "client stack",
    ]
    rows = []
    for w in cells:
        s = results.get("static", {}).get(w.name)
        f = results.get("stack", {}).get(w.name)
        if s is None or f is None:
            continue
        big = w.unit == "MB/s"

        def per(cell: Cell, seconds: float, big: bool = big) -> str:
            r = cell.result
            n = r.bytes / 1e6 if big else r.ops
            return f"{seconds * 1e3 / n:.3f}" if n else "-"

        fc = f.cell.cpu
        rows.append(
            [
                w.name,
                "MB" if big else "op",
                per(s.cell, s.cell.cpu["object server"]),
                per(f.cell, fc["object server"]),
                per(f.cell, fc["key server"]),
                per(f.cell, fc["OpenBao"]),
                per(f.cell, sum(fc.values())),
                per(s.cell, s.cell.client_cpu),
                per(f.cell, f.cell.client_cpu),
            ]
        )
    return _render(headers, rows, left=2)


def _render(headers: list[str], rows: list[list[str]], left: int) -> str:
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cols: list[str]) -> str:
        cells = [
            c.ljust(w) if i < left or (i == len(cols) - 1 and c.startswith(">=")) else c.rjust(w)
            for i, (c, w) in enumerate(zip(cols, widths, strict=True))
        ]
        return "| " + " | ".join(cells) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [line(r) for r in rows])


def to_json(
    results: dict[str, dict[str, Best]],
    servers: dict[str, Running],
    args: argparse.Namespace,
    cells: list[Workload],
    elapsed: float,
    facts: dict[str, Any],
) -> dict[str, Any]:
    ratios = {}
    for w in cells:
        s = results.get("static", {}).get(w.name)
        f = results.get("stack", {}).get(w.name)
        if s and f:
            r = _ratio(f.cell.result.value, s.cell.result.value)
            ratios[w.name] = round(r, 3) if r is not None else None
    return {
        "machine": facts,
        "config": {
            "seconds": args.seconds,
            "warmup": args.warmup,
            "repeat": args.repeat,
            "quick": args.quick,
            "server_cpu": args.server_cpu,
            "client_cpu": args.client_cpu,
            "workloads": [w.name for w in cells],
        },
        "elapsed_seconds": round(elapsed, 1),
        "servers": {
            name: {
                "note": servers[name].note if name in servers else "",
                "pids": servers[name].pids if name in servers else {},
                "cells": {
                    wname: {
                        **best.cell.result.as_dict(),
                        "tries": best.tries,
                        "ok": best.ok,
                        "all_statuses": {str(k): v for k, v in sorted(best.statuses.items())},
                        "all_errors": best.errors,
                        "cpu_seconds": {k: round(v, 3) for k, v in best.cell.cpu.items()},
                        "client_cpu_seconds": round(best.cell.client_cpu, 3),
                    }
                    for wname, best in per_server.items()
                },
            }
            for name, per_server in results.items()
        },
        "ratios": ratios,
        "targets": {
            w.name: TARGETS[(w.op, w.size)]
            for w in cells
            if (w.op, w.size) in TARGETS and w.name in ratios
        },
    }


# -- the KES client alone (--kes-client) --------------------------------------------------------


class _RawKES(asyncio.Protocol):
    """A minimal keep-alive HTTP/1.1 client for one KES request at a time (the floor)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        start = head.find(b"content-length:") + len(b"content-length:")
        stop = head.find(b"\r\n", start)
        length = int(head[start : stop if stop > 0 else None])
        if len(self.buf) >= end + 4 + length:
            body = bytes(self.buf[end + 4 : end + 4 + length])
            del self.buf[: end + 4 + length]
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result((int(head[9:12]), body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HTTPError(f"key server closed the connection: {exc!r}"))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


async def _kes_client_bench(stack: Stack, requests: int) -> list[dict[str, Any]]:
    """``generate_key`` against the stack's key server from this process (CPU 1): the object
    server's client (``strongroom.kes.client.KESClient``, httpx) and a minimal asyncio client
    over the same TLS context, 1 and 8 concurrent; CPU per request on both sides."""
    from strongroom.kes.client import KESClient, client_ssl_context

    port = int(stack.info["ports"]["kes"])
    certs = stack.root / "certs"
    identity = {
        "cert_file": str(certs / "minio.cert"),
        "key_file": str(certs / "minio.key"),
        "ca": str(certs / "ca.crt"),
    }
    kes_pid = int(stack.info["services"]["kes"]["pid"])
    name = "minio-key-1"
    context = b'{"bench-data/object":""}'
    rows: list[dict[str, Any]] = []

    async def timed(label: str, clients: int, one: Any) -> None:
        per = max(requests // clients, 1)
        kes_before, mine_before = cpu_seconds([kes_pid]), time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(one(i, per) for i in range(clients)))
        wall = time.perf_counter() - started
        n = per * clients
        row = {
            "client": label,
            "clients": clients,
            "requests": n,
            "req_per_s": round(n / wall, 1),
            "client_cpu_ms": round((time.process_time() - mine_before) * 1e3 / n, 4),
            "key_server_cpu_ms": round((cpu_seconds([kes_pid]) - kes_before) * 1e3 / n, 4),
        }
        rows.append(row)
        log(f"  {label:34} x{clients}: {row}")

    async with KESClient(f"https://127.0.0.1:{port}", **identity) as kes:
        for _ in range(200):
            await kes.generate_key(name, context)

        async def via_kes(_index: int, count: int) -> None:
            for _ in range(count):
                await kes.generate_key(name, context)

        for clients in (1, 8):
            await timed("KESClient (httpx)", clients, via_kes)

    body = json.dumps({"context": base64.b64encode(context).decode()}).encode()
    request = (
        f"POST /v1/key/generate/{name} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    tls = client_ssl_context(**identity)
    loop = asyncio.get_running_loop()
    conns: list[_RawKES] = []
    try:
        for _ in range(8):
            _, proto = await loop.create_connection(
                _RawKES, "127.0.0.1", port, ssl=tls, server_hostname="127.0.0.1"
            )
            conns.append(proto)
        for _ in range(200):
            status, answer = await conns[0].request(request)
            if status != 200:
                raise HTTPError(f"key server answered {status}: {answer[:200]!r}")

        async def via_raw(index: int, count: int) -> None:
            for _ in range(count):
                status, answer = await conns[index].request(request)
                if status != 200:
                    raise HTTPError(f"key server answered {status}")
                json.loads(answer)

        for clients in (1, 8):
            await timed("minimal asyncio+ssl, one write", clients, via_raw)
    finally:
        for proto in conns:
            if proto.transport is not None:
                proto.transport.close()
        await asyncio.sleep(0.1)
    return rows


def kes_table(rows: list[dict[str, Any]]) -> str:
    headers = ["KES client (same TLS context)", "clients", "req/s", "client ms/req", "kes ms/req"]
    body = [
        [
            r["client"],
            str(r["clients"]),
            fmt(r["req_per_s"]),
            f"{r['client_cpu_ms']:.3f}",
            f"{r['key_server_cpu_ms']:.3f}",
        ]
        for r in rows
    ]
    return _render(headers, body, left=1)


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="SSE-S3 PUT/GET through the full stack (object server -> key server -> "
        "OpenBao, all TLS) beside the static-key KMS over HTTPS."
    )
    parser.add_argument("--quick", action="store_true", help="short cells, under ~60 s")
    parser.add_argument("--sizes", default="4k,64m", help="object sizes (4k,64m)")
    parser.add_argument("--clients", default="1,8", help="concurrent clients per cell (1,8)")
    parser.add_argument("--seconds", type=float, default=None, help="measured time per cell (5)")
    parser.add_argument("--warmup", type=float, default=None, help="warm-up per cell (1)")
    parser.add_argument(
        "--repeat", type=int, default=None, help="tries per cell, best reported (2; quick 1)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--server-cpu", default="0", help="CPU list for every server (0)")
    parser.add_argument("--client-cpu", default="1", help="CPU list for the load generator (1)")
    parser.add_argument(
        "--strongroom-cmd",
        default="",
        help="command that replaces `python -m strongroom` for both object servers' start",
    )
    parser.add_argument(
        "--kes-client",
        type=int,
        default=0,
        metavar="N",
        help="after the cells: N generate_key requests per row from this process with the "
        "object server's KES client (httpx) and with a minimal asyncio client, CPU per request",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="py-spy every Python server process during each measured run (collapsed stacks)",
    )
    parser.add_argument("--workdir", help="where the stack and the static server live")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 0.5 if args.quick else 5.0
    if args.warmup is None:
        args.warmup = 0.15 if args.quick else 1.0
    if args.repeat is None:
        args.repeat = 1 if args.quick else 2
    return args


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop everything


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cells = workloads(args)
    command = args.strongroom_cmd.split() or [sys.executable, "-m", "strongroom"]
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
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
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="stack-bench-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stack = Stack(workdir / "stack", args.server_cpu, command)
    static_proc: subprocess.Popen[bytes] | None = None
    servers: dict[str, Running] = {}
    results: dict[str, dict[str, Best]] = {}
    kes_rows: list[dict[str, Any]] = []
    error = ""
    began = time.perf_counter()
    try:
        log("== starting the stack (strongroom stack up, under taskset)")
        servers["stack"] = stack.start()
        log(f"  {servers['stack'].note}")
        log("== starting the object server with the static-key KMS")
        static, static_proc = start_static(
            workdir,
            args.server_cpu,
            stack.s3_cert_dir,
            servers["stack"].target.ca_file or "",
            command,
        )
        servers = {"static": static, "stack": servers["stack"]}
        log(
            f"  static pid {static.pids['object server']}: "
            f"{ensure_pinned(static.pids['object server'], _cpus(args.server_cpu), args.server_cpu)}"
        )
        log("== measuring (cell by cell, alternating order)")
        results = run_all(servers, cells, args)
        if args.kes_client:
            log(f"== the KES client alone: {args.kes_client} generate_key requests per row")
            # the standard asyncio loop, as in the object server (not the load generator's uvloop)
            kes_rows = asyncio.run(_kes_client_bench(stack, args.kes_client))
    except (Unavailable, HTTPError, OSError, ssl.SSLError, subprocess.SubprocessError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        log(f"benchmark stopped early: {error}")
        for running in servers.values():
            for role, path in running.logs.items():
                tail = path.read_text(errors="replace").splitlines()[-10:] if path.exists() else []
                if tail:
                    log(f"  -- {running.name} {role} log:\n" + "\n".join(tail))
    finally:
        log("== stopping everything")
        if static_proc is not None and static_proc.poll() is None:
            static_proc.send_signal(signal.SIGTERM)
            try:
                static_proc.wait(15)
            except subprocess.TimeoutExpired:
                static_proc.kill()
                static_proc.wait()
        stack.stop()
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - began

    print()
    print(
        f"SSE-S3 through the full stack vs the static-key KMS, {facts['cpus']} CPUs "
        f"({facts['cpu_model']}); servers pinned to CPU {args.server_cpu}, client to CPU "
        f"{args.client_cpu}; {args.seconds:g}s per cell after {args.warmup:g}s warm-up, best of "
        f"{args.repeat}; MB = 10^6 bytes; total {elapsed:.0f}s; load average now "
        f"{os.getloadavg()[0]:.2f}"
    )
    for name, running in servers.items():
        print(f"  {name}: {running.note}")
    if error:
        print(f"  NOT COMPLETE: {error.splitlines()[0]}")
    print()
    print(table(results, cells))
    if results:
        print()
        print("CPU per operation (4 KiB) or per MB (64 MiB), milliseconds:")
        print(cpu_table(results, cells))
    if kes_rows:
        print()
        print("The KES client alone (this process on the client CPU, key server on CPU 0):")
        print(kes_table(kes_rows))
    bad = [
        f"! {name} {wname}: statuses {best.statuses} errors {best.errors[:2]}"
        for name, per in results.items()
        for wname, best in per.items()
        if not best.ok
    ]
    if bad:
        print("\n".join(bad))
    if args.json:
        data = to_json(results, servers, args, cells, elapsed, facts)
        data["error"] = error
        data["kes_client"] = kes_rows
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
