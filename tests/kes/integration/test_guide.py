"""MinIO's KMS guide, step by step, with the real `strongroom kes` commands and server process."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import PKI, make_pki

GUIDE_CONFIG = """\
# The TCP address (ip:port) for the KES server to listen on.
address: 0.0.0.0:7373

tls:
  key:  kes-tls.key
  cert: kes-tls.crt

policy:
  minio:
    paths:
    - /v1/key/create/minio-*
    - /v1/key/generate/minio-*
    - /v1/key/decrypt/minio-*
    identities:
    - {identity}

cache:
  expiry:
    any:    5m0s{ws1}
    unused: 20s{ws1}

keys:
{keys}
"""
GUIDE_VAULT = """\
  vault:
    endpoint: https://127.0.0.1:{vault_port}  # The Vault endpoint - i.e. https://127.0.0.1:8200
    prefix:   minio                   # The domain resp. prefix at Vault's K/V backend{ws1}

    approle:
      id:     "role-id"    # Your AppRole Role ID{ws1}
      secret: "secret-id"  # Your AppRole Secret ID
      retry:  15s   # Duration until the server tries to re-authenticate after connection loss.

    tls:
      ca: vault-tls.crt  # Since we use self-signed certificates
{ws4}
    status:
      ping: 10s
"""


def guide_config(identity: str, keys: str) -> str:
    """The guide's YAML, verbatim (its trailing blanks included)."""
    ws = {f"ws{n}": " " * n for n in range(1, 9)}
    return GUIDE_CONFIG.format(
        identity=identity, keys=keys.format(**ws, vault_port="{vault_port}"), **ws
    )


def can_mlock() -> bool:
    """Whether this process may lock all its memory (root with CAP_IPC_LOCK usually can)."""
    probe = "import ctypes; raise SystemExit(ctypes.CDLL(None, use_errno=True).mlockall(3) != 0)"
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


MLOCK = ["--mlock"] if can_mlock() else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kes(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strongroom", "kes", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


class ServerProcess:
    def __init__(self, cwd: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "strongroom",
                "kes",
                "server",
                *args,
                f"--addr=127.0.0.1:{self.port}",
            ],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                _, err = self.proc.communicate()
                raise AssertionError(f"server exited {self.proc.returncode}: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=15)
        return self.proc.returncode, out, err


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, PKI, str]]:
    """The guide's setup: KES TLS certificate, MinIO identity, config file, running server."""
    d = tmp_path_factory.mktemp("guide")
    pki = make_pki(d)
    (d / "kes-tls.key").write_bytes(pki.server_key.read_bytes())
    (d / "kes-tls.crt").write_bytes(pki.server_cert.read_bytes())
    # 4.1 Create an identity for MinIO (flags after the positional subject, as in the guide)
    r = kes(
        d,
        "tool",
        "identity",
        "new",
        "MinIO",
        "--key=minio.key",
        "--cert=minio.cert",
        "--time=8760h",
    )
    assert r.returncode == 0, r.stderr
    assert (d / "minio.key").stat().st_mode & 0o777 == 0o600
    r = kes(d, "tool", "identity", "of", "minio.cert")
    assert r.returncode == 0, r.stderr
    identity = r.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", identity)
    assert r.stdout.strip() == kes(d, "identity", "of", "minio.cert").stdout.strip()
    # 4.2 The config file (filesystem keystore in place of Vault, which this test does not run)
    (d / "kes-config.yaml").write_text(guide_config(identity, "  fs:\n    path: ./keys\n"))
    yield d, pki, identity


@pytest.fixture(scope="module")
def server(guide: tuple[Path, PKI, str]) -> Iterator[ServerProcess]:
    d, _, _ = guide
    s = ServerProcess(d, "--config=kes-config.yaml", *MLOCK, "--root=disabled", "--auth=off")
    yield s
    code, _, err = s.stop()
    assert code == 0, err


def minio_env(d: Path, url: str) -> dict[str, str]:
    return {
        "KES_SERVER": url,
        "KES_CLIENT_KEY": str(d / "minio.key"),
        "KES_CLIENT_CERT": str(d / "minio.cert"),
    }


def test_guide_key_create(guide: tuple[Path, PKI, str], server: ServerProcess) -> None:
    d, _, _ = guide
    env = minio_env(d, server.url)
    # 4.3 Create a new master key
    r = kes(d, "key", "create", "minio-key-1", "-k", env=env)
    assert r.returncode == 0, r.stderr
    r = kes(d, "key", "create", "my-key-1", "-k", env=env)
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: prohibited by policy"
    r = kes(d, "key", "create", "minio-key-1", "-k", env=env)
    assert r.returncode == 1 and r.stderr.strip() == "Error: key does already exist"
    assert (d / "keys" / "minio-key-1").stat().st_mode & 0o777 == 0o600


def test_guide_data_keys_with_cli(guide: tuple[Path, PKI, str], server: ServerProcess) -> None:
    d, pki, _ = guide
    env = minio_env(d, server.url)
    kes(d, "key", "create", "minio-key-2", "-k", env=env)
    ctx = "eyJteWJ1Y2tldCI6Im15YnVja2V0L2EvYi50eHQifQ=="
    r = kes(d, "key", "dek", "minio-key-2", ctx, "--ca", str(pki.ca_file), env=env)
    assert r.returncode == 0, r.stderr
    assert not r.stdout.endswith("\n")  # non-TTY: exactly one JSON object
    dek = json.loads(r.stdout)
    r = kes(d, "key", "decrypt", "minio-key-2", dek["ciphertext"], ctx, "-k", env=env)
    assert r.returncode == 0 and json.loads(r.stdout) == {"plaintext": dek["plaintext"]}
    r = kes(d, "key", "decrypt", "minio-key-2", dek["ciphertext"], "-k", env=env)
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: decryption failed: ciphertext is not authentic"
    # verification of the server certificate is on by default
    r = kes(d, "key", "dek", "minio-key-2", env=env)
    assert r.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in r.stderr


def test_guide_exact_config_with_vault_down(guide: tuple[Path, PKI, str]) -> None:
    """The guide's file verbatim (Vault keystore) with no Vault listening: the key server
    refuses to start, naming the keystore problem, instead of serving errors."""
    d, _, identity = guide
    (d / "vault-tls.crt").write_bytes((d / "ca.cert").read_bytes())
    (d / "guide-vault.yaml").write_text(
        guide_config(identity, GUIDE_VAULT.replace("{vault_port}", str(free_port())))
    )
    r = kes(d, "server", "--config=guide-vault.yaml", "--root=disabled", "--auth=off")
    assert r.returncode != 0
    assert "keystore is not usable" in r.stderr


def test_no_client_certificate(guide: tuple[Path, PKI, str], server: ServerProcess) -> None:
    import httpx

    _, pki, _ = guide
    server.proc.send_signal(signal.SIGHUP)  # reloads TLS files; the server keeps serving
    time.sleep(0.3)
    with httpx.Client(verify=pki.client_context(None)) as c:
        r = c.put(server.url + "/v1/key/create/minio-x")
    assert r.status_code == 400 and r.json() == {"message": "tls: client certificate is required"}


def test_api_keys_admin_and_audit_to_stdout(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    r = kes(tmp_path, "identity", "new")
    assert r.returncode == 0 and r.stdout.startswith("kes:v1:")
    api_key = r.stdout.strip()
    admin = kes(tmp_path, "identity", "of", api_key).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", admin)
    (tmp_path / "modern.yaml").write_text(
        f"""version: v1
admin:
  identity: ${{KES_ADMIN}}
tls:
  key: {pki.server_key}
  cert: {pki.server_cert}
log:
  error: on
  audit: on
keys:
  - name: startup-key
keystore:
  fs:
    path: {tmp_path / "keys"}
"""
    )
    os.environ["KES_ADMIN"] = admin
    try:
        s = ServerProcess(tmp_path, "--config", "modern.yaml")
    finally:
        del os.environ["KES_ADMIN"]
    try:
        env = {"KES_SERVER": s.url, "KES_API_KEY": api_key}
        ca = ("--ca", str(pki.ca_file))
        r = kes(tmp_path, "key", "ls", "--json", *ca, env=env)
        assert r.returncode == 0 and json.loads(r.stdout) == ["startup-key"], r.stderr
        r = kes(tmp_path, "key", "describe", "startup-key", "--json", *ca, env=env)
        assert json.loads(r.stdout)["algorithm"] == "AES256"
        r = kes(tmp_path, "key", "import", "imported", "A" * 43 + "=", *ca, env=env)
        assert r.returncode == 0, r.stderr
        r = kes(tmp_path, "key", "encrypt", "imported", "hello", *ca, env=env)
        ct = json.loads(r.stdout)["ciphertext"]
        r = kes(tmp_path, "key", "decrypt", "imported", ct, *ca, env=env)
        assert json.loads(r.stdout) == {"plaintext": "aGVsbG8="}
        r = kes(tmp_path, "key", "rm", "imported", *ca, env=env)
        assert r.returncode == 0
        r = kes(tmp_path, "status", "--json", *ca, env=env)
        assert r.returncode == 0 and json.loads(r.stdout)["keystore_latency"] >= 1
        r = kes(tmp_path, "identity", "info", "--json", *ca, env=env)
        assert json.loads(r.stdout) == {**json.loads(r.stdout), "identity": admin, "admin": True}
    finally:
        code, out, err = s.stop()
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    paths = [e["request"]["path"] for e in events]
    assert "/v1/key/list/*" in paths and "/v1/key/delete/imported" in paths
    assert all(e["request"]["identity"] == admin for e in events)
    assert {"time", "request", "response"} <= set(events[0])


def test_bad_config_names_file_line_and_key(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("address: 0.0.0.0:7373\ncache:\n  expiry:\n    any: 5x\n")
    r = kes(tmp_path, "server", "--config", "bad.yaml", "--root", "disabled")
    assert r.returncode == 1
    assert (
        r.stderr.startswith("Error: ")
        and "bad.yaml:4" in r.stderr
        and "cache.expiry.any" in r.stderr
    )


def test_auth_on_rejects_certificates_not_from_the_ca(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    good, bad = pki.ca_signed("good"), pki.self_signed("bad")
    (tmp_path / "auth.yaml").write_text(
        f"""admin:
  identity: {good.identity}
tls:
  key: {pki.server_key}
  cert: {pki.server_cert}
  ca: {pki.ca_file}
keystore:
  fs:
    path: {tmp_path / "keys"}
"""
    )
    s = ServerProcess(tmp_path, "--config", "auth.yaml", "--auth", "on", "--quiet")
    try:
        ok = kes(
            tmp_path,
            "key",
            "create",
            "k1",
            "--ca",
            str(pki.ca_file),
            env={
                "KES_SERVER": s.url,
                "KES_CLIENT_KEY": str(good.key),
                "KES_CLIENT_CERT": str(good.cert),
            },
        )
        assert ok.returncode == 0, ok.stderr
        no = kes(
            tmp_path,
            "key",
            "create",
            "k2",
            "--ca",
            str(pki.ca_file),
            env={
                "KES_SERVER": s.url,
                "KES_CLIENT_KEY": str(bad.key),
                "KES_CLIENT_CERT": str(bad.cert),
            },
        )
        assert no.returncode == 1 and no.stderr.startswith("Error: ")
    finally:
        s.stop()


def test_mlock_without_the_capability_names_it(guide: tuple[Path, PKI, str]) -> None:
    d, _, _ = guide
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to drop CAP_IPC_LOCK")
        prefix = ["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "--"]
    elif MLOCK:
        pytest.skip("this user may lock memory")
    r = subprocess.run(
        [
            *prefix,
            *(sys.executable, "-m", "strongroom", "kes", "server", "--config=kes-config.yaml"),
            *("--mlock", "--root=disabled", f"--addr=127.0.0.1:{free_port()}"),
        ],
        cwd=d,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 1
    assert r.stderr.startswith("Error: failed to lock memory (--mlock)")
    assert "CAP_IPC_LOCK" in r.stderr
