"""Key server benchmark: data-key generate/decrypt over mTLS keep-alive, and new handshakes.

One command::

    python bench/kes_bench.py [--seconds 5] [--json]

It starts, each pinned to CPU 0 with ``taskset``:

* the real key server (``strongroom kes server``, in-memory keystore, audit off), and
* a baseline: a trivial endpoint on the very same serving stack (``net.mtls`` + ``net.http``,
  same TLS settings, same client certificate) that answers a fixed 100-byte JSON body,

then drives both from a load generator pinned to CPU 1 (raw asyncio + uvloop HTTP/1.1 over stdlib
``ssl`` with an Ed25519 client certificate; one connection per client, keep-alive) and prints
ops/s, p50/p99 latency and the ratio key-server/baseline. The two servers alternate and every
measurement is repeated ``--rounds`` times; the best round counts (the machine may be shared).
Each row also shows the server's CPU time per request (from /proc), which other load on the
machine disturbs far less than ops/s.
Targets (printed, never enforced):
>= 5,000 generate/s with 16 clients, p99 < 10 ms with one client, >= 150 new handshakes/s.
The benchmark never fails because of timing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = base64.b64encode(b'{"mybucket":"mybucket/a/b.txt"}').decode()
KEY = "bench-key"


# -- baseline server ---------------------------------------------------------------------------


def serve_baseline(port: int, cert: str, key: str) -> None:
    """A trivial endpoint on the same serving stack as the key server."""
    from strongroom.net.http import HTTPServerState, Request, Response
    from strongroom.net.mtls import TLSSettings, create_tls_server

    body = b'{"plaintext":"' + b"A" * 44 + b'","ciphertext":"' + b"B" * 24 + b'"}\n'

    async def handler(request: Request) -> Response:
        request.info("peer_identity")  # the key server computes it too
        return Response(200, body, content_type="application/json")

    async def main() -> None:
        state = HTTPServerState(handler)
        await create_tls_server(state.protocol_factory, "127.0.0.1", port, TLSSettings(cert, key))
        print("ready", flush=True)
        await asyncio.Event().wait()

    _run_loop(main())


def _run_loop(coro: Any) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:  # pragma: no cover
        asyncio.run(coro)


# -- load generator ----------------------------------------------------------------------------


def _request(method: str, path: str, body: bytes) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    return head.encode() + b"Content-Length: %d\r\n\r\n" % len(body) + body


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, req: bytes) -> bytes:
    writer.write(req)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    body = await reader.readexactly(length) if length else b""
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer: {head[:40]!r} {body[:200]!r}")
    return body


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0 if unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


async def _load(
    port: int, ctx: ssl.SSLContext, req: bytes, clients: int, seconds: float, pid: int = 0
) -> dict[str, float]:
    latencies: list[float] = []
    deadline = 0.0

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1"
        )
        await _one(reader, writer, req)  # warm up
        await start.wait()
        perf = time.perf_counter
        while perf() < deadline:
            t0 = perf()
            await _one(reader, writer, req)
            latencies.append(perf() - t0)
        writer.close()

    start = asyncio.Event()
    tasks = [asyncio.create_task(worker()) for _ in range(clients)]
    await asyncio.sleep(0.3)
    t_start = time.perf_counter()
    cpu_start = _cpu_seconds(pid) if pid else 0.0
    deadline = t_start + seconds
    start.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t_start
    cpu = (_cpu_seconds(pid) - cpu_start) if pid else 0.0
    latencies.sort()
    return {
        "ops": len(latencies) / elapsed,
        # server CPU per request: robust against other load on the machine
        "cpu_us": 1e6 * cpu / max(1, len(latencies)),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


async def _handshakes(port: int, ctx: ssl.SSLContext, seconds: float, workers: int = 8) -> float:
    count = 0
    deadline = time.perf_counter() + seconds
    req = b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < deadline:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1"
            )
            await _one(reader, writer, req)
            writer.close()
            count += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return count / (time.perf_counter() - t0)


def run_load(args: argparse.Namespace) -> None:
    """Load-generator process: prints one JSON document with all measurements."""
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.load_cert_chain(args.client_cert, args.client_key)
    ctx.set_alpn_protocols(["http/1.1"])
    seconds = args.seconds

    async def main() -> dict[str, Any]:
        gen = _request("PUT", f"/v1/key/generate/{KEY}", json.dumps({"context": CONTEXT}).encode())
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", args.kes_port, ssl=ctx, server_hostname="127.0.0.1"
        )
        doc = json.loads(await _one(reader, writer, gen))
        writer.close()
        dec = _request(
            "PUT",
            f"/v1/key/decrypt/{KEY}",
            json.dumps({"ciphertext": doc["ciphertext"], "context": CONTEXT}).encode(),
        )
        base = _request("PUT", "/baseline", b'{"context":"' + CONTEXT.encode() + b'"}')
        requests = {
            "kes": {"generate": gen, "decrypt": dec},
            "baseline": {"generate": base, "decrypt": base},
        }
        ports = {"kes": args.kes_port, "baseline": args.base_port}
        pids = {"kes": args.kes_pid or 0, "baseline": args.base_pid or 0}
        out: dict[str, Any] = {}
        # Key server and baseline alternate, each measurement repeated; the best round counts
        # (the machine may be shared: the best round is the least disturbed one).
        for op in ("generate", "decrypt"):
            for clients in (1, 16):
                for _ in range(args.rounds):
                    for label in ("kes", "baseline"):
                        r = await _load(
                            ports[label], ctx, requests[label][op], clients, seconds, pids[label]
                        )
                        key = f"{label}.{op}.{clients}"
                        cpu = min(r["cpu_us"], out.get(key, r)["cpu_us"])
                        if key not in out or r["ops"] > out[key]["ops"]:
                            out[key] = r
                        out[key]["cpu_us"] = cpu
        for _ in range(args.rounds):
            for label in ("kes", "baseline"):
                h = await _handshakes(ports[label], ctx, seconds)
                out[f"{label}.handshakes"] = max(h, out.get(f"{label}.handshakes", 0.0))
        return out

    try:
        import uvloop

        result = uvloop.run(main())
    except ImportError:  # pragma: no cover
        result = asyncio.run(main())
    print(json.dumps(result))


# -- orchestration -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(cpu: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > cpu:
        return ["taskset", "-c", str(cpu)]
    return []


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def orchestrate(args: argparse.Namespace) -> None:
    from strongroom.crypto.identity import identity_of_certificate, new_identity_certificate

    work = Path(tempfile.mkdtemp(prefix="kes-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        skey, scert = new_identity_certificate(
            "localhost", key_type="ecdsa", dns_names=["localhost"], ip_addresses=["127.0.0.1"]
        )
        (work / "server.key").write_bytes(skey)
        (work / "server.cert").write_bytes(scert)
        ckey, ccert = new_identity_certificate("bench-client")
        (work / "client.key").write_bytes(ckey)
        (work / "client.cert").write_bytes(ccert)
        identity = identity_of_certificate(ccert)
        kes_port, base_port = _free_port(), _free_port()
        (work / "kes.yaml").write_text(
            f"""version: v1
address: 127.0.0.1:{kes_port}
admin:
  identity: disabled
tls:
  key: {work / "server.key"}
  cert: {work / "server.cert"}
policy:
  bench:
    allow:
    - /v1/key/create/bench-*
    - /v1/key/generate/bench-*
    - /v1/key/decrypt/bench-*
    - /version
    identities:
    - {identity}
log:
  error: off
  audit: off
keys:
- name: {KEY}
keystore:
  fs:
    path: {work / "keys"}
"""
        )
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
        kes = subprocess.Popen(
            [
                *_pin(0),
                sys.executable,
                "-m",
                "strongroom",
                "kes",
                "server",
                "--quiet",
                "--config",
                str(work / "kes.yaml"),
            ],
            env=env,
        )
        procs.append(kes)
        base = subprocess.Popen(
            [
                *_pin(0),
                sys.executable,
                __file__,
                "--baseline-server",
                str(base_port),
                "--cert",
                str(work / "server.cert"),
                "--key",
                str(work / "server.key"),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        procs.append(base)
        _wait_port(kes_port, kes)
        _wait_port(base_port, base)
        load = subprocess.run(
            [
                *_pin(1),
                sys.executable,
                __file__,
                "--load",
                "--kes-port",
                str(kes_port),
                "--base-port",
                str(base_port),
                "--ca",
                str(work / "server.cert"),
                "--client-cert",
                str(work / "client.cert"),
                "--client-key",
                str(work / "client.key"),
                "--seconds",
                str(args.seconds),
                "--rounds",
                str(args.rounds),
                "--kes-pid",
                str(kes.pid),
                "--base-pid",
                str(base.pid),
            ],
            env=env,
            capture_output=True,
            check=False,
        )
        if load.returncode != 0:
            print(load.stderr.decode(), file=sys.stderr)
            raise SystemExit("load generator failed")
        result = json.loads(load.stdout)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    _report(result)


def _report(r: dict[str, Any]) -> None:
    print(f"KES key server vs baseline (same TLS/HTTP stack), {os.cpu_count()} CPUs")
    print(f"{'measurement':<28}{'kes':>12}{'baseline':>12}{'ratio':>8}")
    for op in ("generate", "decrypt"):
        for clients in (1, 16):
            k, b = r[f"kes.{op}.{clients}"], r[f"baseline.{op}.{clients}"]
            print(
                f"{op + ' ops/s, ' + str(clients) + ' cl':<28}"
                f"{k['ops']:>12.0f}{b['ops']:>12.0f}{k['ops'] / b['ops']:>8.2f}"
            )
            for q in ("p50_ms", "p99_ms"):
                print(
                    f"{'  ' + q.replace('_ms', '') + ' ms':<28}"
                    f"{k[q]:>12.2f}{b[q]:>12.2f}{k[q] / b[q]:>8.2f}"
                )
            if k.get("cpu_us") and b.get("cpu_us"):
                print(
                    f"{'  server CPU us/op':<28}"
                    f"{k['cpu_us']:>12.1f}{b['cpu_us']:>12.1f}{k['cpu_us'] / b['cpu_us']:>8.2f}"
                )
    k, b = r["kes.handshakes"], r["baseline.handshakes"]
    print(f"{'new mTLS handshakes/s':<28}{k:>12.0f}{b:>12.0f}{k / b:>8.2f}")
    g16, p99 = r["kes.generate.16"]["ops"], r["kes.generate.1"]["p99_ms"]
    print()
    print("targets (informative):")
    print(f"  generate/s, 16 clients >= 5000:  {g16:.0f}  {'met' if g16 >= 5000 else 'NOT met'}")
    print(f"  p99, 1 client < 10 ms:           {p99:.2f}  {'met' if p99 < 10 else 'NOT met'}")
    print(f"  handshakes/s >= 150:             {k:.0f}  {'met' if k >= 150 else 'NOT met'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=2.0, help="duration of each measurement")
    p.add_argument("--rounds", type=int, default=2, help="repetitions; the best round counts")
    p.add_argument("--json", action="store_true", help="print raw results as JSON")
    p.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    p.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    for name in ("--cert", "--key", "--ca", "--client-cert", "--client-key"):
        p.add_argument(name, help=argparse.SUPPRESS)
    p.add_argument("--kes-port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--base-port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--kes-pid", type=int, help=argparse.SUPPRESS)
    p.add_argument("--base-pid", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.baseline_server:
        serve_baseline(args.baseline_server, args.cert, args.key)
    elif args.load:
        run_load(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
