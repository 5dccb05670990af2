"""The guide's sections 3 and 4 end to end: `strongroom vault bootstrap` provisions a real
OpenBao, its `keys.vault` block goes into the guide's key server config, and the key server
process keeps its master keys there, including while OpenBao is sealed, stopped and back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from strongroom.cli.main import cli
from tests.support.openbao import OpenBaoServer

pytestmark = pytest.mark.openbao

CONTEXT = "eyJteWJ1Y2tldCI6Im15YnVja2V0L2EvYi50eHQifQ=="
# A stored key as KES 0.20+ writes it (kes.md §7.3), for keys "another key server" created.
KES_VALUE = (
    '{"bytes":"J8qmOyEV2ce2yoAC+5t0Y7CSP/hTMppL7XHpAnyc+0E=","algorithm":"AES256-GCM_SHA256",'
    '"created_at":"2009-11-10T23:00:00Z","created_by":"40235905b7b83e0537a002db523cd019d6709b899adc'
    '249c957860cd00fa9f78"}'
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Guide:
    dir: Path
    bao: OpenBaoServer
    url: str
    proc: subprocess.Popen[str]

    def kes(self, *args: str) -> Result:
        env = {
            "KES_SERVER": self.url,
            "KES_CLIENT_KEY": str(self.dir / "minio.key"),
            "KES_CLIENT_CERT": str(self.dir / "minio.cert"),
        }
        return CliRunner().invoke(cli, ["kes", *args], env=env)


def _strongroom(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "strongroom", *args],
        cwd=cwd,
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def guide(
    openbao_private: OpenBaoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Guide]:
    bao = openbao_private
    d = tmp_path_factory.mktemp("kes-guide")
    # 2.2 the key server's certificate; the guide's `tls.ca: vault-tls.crt` is OpenBao's CA here
    (d / "vault-tls.crt").write_bytes(bao.ca_path.read_bytes())
    (d / "kes-tls.key").write_bytes((bao.workdir / "server.key").read_bytes())
    (d / "kes-tls.crt").write_bytes((bao.workdir / "server.pem").read_bytes())
    # 3.2 - 3.5 in one command, printing the keys.vault block
    block = _strongroom(
        d, "vault", "bootstrap", "--prefix", "minio", "--kes-ca", "vault-tls.crt", env=bao.env()
    )
    # 4.1 the MinIO identity
    _strongroom(
        d, "kes", "tool", "identity", "new", "MinIO", "--key=minio.key", "--cert=minio.cert"
    )
    identity = _strongroom(d, "kes", "tool", "identity", "of", "minio.cert").split()[-1]
    # 4.2 the guide's config with the printed block
    (d / "kes-config.yaml").write_text(
        "address: 0.0.0.0:7373\n"
        "tls:\n  key:  kes-tls.key\n  cert: kes-tls.crt\n"
        "policy:\n  minio:\n    paths:\n"
        "    - /v1/key/create/minio-*\n    - /v1/key/generate/minio-*\n"
        "    - /v1/key/decrypt/minio-*\n"
        f"    identities:\n    - {identity}\n"
        "cache:\n  expiry:\n    any:    5m0s\n    unused: 20s\n" + block
    )
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "strongroom",
            "kes",
            "server",
            "--config=kes-config.yaml",
            "--mlock",
            "--root=disabled",
            "--auth=off",
            f"--addr=127.0.0.1:{port}",
        ],
        cwd=d,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"key server exited {proc.returncode}: {proc.communicate()[1]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            assert time.monotonic() < deadline, "key server did not start"
            time.sleep(0.05)
    try:
        yield Guide(d, bao, f"https://127.0.0.1:{port}", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_key_create_lands_in_openbao(guide: Guide) -> None:
    r = guide.kes("key", "create", "minio-key-1", "-k")
    assert r.exit_code == 0, r.output
    r = guide.kes("key", "create", "my-key-1", "-k")
    assert (r.exit_code, r.stderr.strip()) == (1, "Error: prohibited by policy")
    r = guide.kes("key", "create", "minio-key-1", "-k")
    assert (r.exit_code, r.stderr.strip()) == (1, "Error: key does already exist")
    with guide.bao.client() as root:
        entry = root.read("kv/minio/minio-key-1")
    assert entry is not None and set(entry["data"]) == {"minio-key-1"}
    r = guide.kes("key", "dek", "minio-key-1", CONTEXT, "-k")
    assert r.exit_code == 0, r.output


def test_sealed_then_unsealed(guide: Guide) -> None:
    assert guide.kes("key", "create", "minio-key-sealed-1", "-k").exit_code == 0
    assert guide.kes("key", "dek", "minio-key-sealed-1", CONTEXT, "-k").exit_code == 0  # cached
    with guide.bao.client() as root:  # created by another key server: not in our cache
        root.write("kv/minio/minio-key-sealed-2", {"minio-key-sealed-2": KES_VALUE})
    guide.bao.seal()
    try:
        r = guide.kes("key", "dek", "minio-key-sealed-1", CONTEXT, "-k")
        assert r.exit_code == 0, r.output  # the cached key keeps serving
        r = guide.kes("key", "dek", "minio-key-sealed-2", CONTEXT, "-k")  # never fetched
        assert r.exit_code == 1
        assert r.stderr.startswith("Error: ") and len(r.stderr.strip()) > len("Error: ")
        r = guide.kes("key", "create", "minio-key-sealed-3", "-k")
        assert r.exit_code == 1
    finally:
        guide.bao.unseal()
    r = guide.kes("key", "dek", "minio-key-sealed-2", CONTEXT, "-k")
    assert r.exit_code == 0, r.output
    assert guide.proc.poll() is None


def test_openbao_stopped_and_restarted(guide: Guide) -> None:
    assert guide.kes("key", "create", "minio-key-restart", "-k").exit_code == 0
    guide.bao.stop()
    try:
        r = guide.kes("key", "create", "minio-key-restart-2", "-k")
        assert r.exit_code == 1 and r.stderr.startswith("Error: ")
    finally:
        guide.bao.start()
        guide.bao.unseal()
    # the key server recovers without a restart of its own
    r = guide.kes("key", "dek", "minio-key-restart", CONTEXT, "-k")
    assert r.exit_code == 0, r.output
    assert guide.kes("key", "create", "minio-key-restart-2", "-k").exit_code == 0
    assert guide.proc.poll() is None


def test_policy_without_create(guide: Guide) -> None:
    with guide.bao.client() as root:
        root.write(
            "sys/policies/acl/minio-key-policy",
            {"policy": 'path "kv/minio/*" { capabilities = ["read", "delete"] }'},
        )
    try:
        r = guide.kes("key", "create", "minio-key-denied", "-k")
        assert r.exit_code == 1
        # Vault's policy denies the write: the key server answers KES's 403 text.
        assert r.stderr.strip() == "Error: prohibited by policy"
        assert guide.proc.poll() is None  # a clean error, the server lives on
        r = guide.kes("key", "dek", "minio-key-1", CONTEXT, "-k")
        assert r.exit_code == 0, r.output
    finally:
        with guide.bao.client() as root:
            root.write(
                "sys/policies/acl/minio-key-policy",
                {"policy": 'path "kv/minio/*" { capabilities = ["create", "read", "delete"] }'},
            )
