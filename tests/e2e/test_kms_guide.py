"""MinIO's KMS guide, step by step, with Strongroom's commands (docs/kms-guide.md).

Every command runs as a subprocess, as a user would type it: openssl for the certificates,
a real OpenBao (`bao server`) with the guide's config on raft storage, `strongroom vault` to
initialise, unseal and provision it, `strongroom kes` for the identity, the key server and the
master key, `strongroom server` with the guide's MINIO_* environment, and the client CLI for
the final `cp` and `stat`. Then every component is restarted (OpenBao unsealed again) and the
objects read back. Ports are free ones instead of 8200/7373/9000, so the test can run beside
anything else.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import Shell, free_port, wait_port

pytestmark = pytest.mark.openbao

# 2.1 / 2.2 / 2.3: the guide's openssl commands (the same for the object server's certificate)
OPENSSL = """\
openssl ecparam -genkey -name prime256v1 | openssl ec -out {key}
openssl req -new -x509 -days 365 \\
    -key {key} \\
    -out {crt} \\
    -subj "/C=/ST=/L=/O=/CN=localhost" \\
    -addext "subjectAltName = IP:127.0.0.1"
"""


@dataclass
class Guide:
    sh: Shell
    dir: Path
    vault_port: int
    kes_port: int
    s3_port: int
    unseal_keys: list[str] = field(default_factory=list, repr=False)
    root_token: str = field(default="", repr=False)
    identity: str = ""

    @property
    def minio_env(self) -> dict[str, str]:
        """Section 5's exports, as the guide writes them."""
        return {
            "MINIO_KMS_KES_ENDPOINT": f"https://localhost:{self.kes_port}",
            "MINIO_KMS_KES_KEY_FILE": "minio.key",
            "MINIO_KMS_KES_CERT_FILE": "minio.cert",
            "MINIO_KMS_KES_KEY_NAME": "minio-key-1",
            "MINIO_KMS_KES_CA_PATH": "kes-tls.crt",
            "MINIO_KMS_AUTO_ENCRYPTION": "on",
            "MINIO_ACCESS_KEY": "minio",
            "MINIO_SECRET_KEY": "minio123",
        }

    # --- the three servers -------------------------------------------------------------------

    def start_vault(self) -> None:
        proc = self.sh.start("vault", "bao server -config vault-config.json")
        wait_port(self.vault_port, proc, "OpenBao")

    def unseal(self) -> None:
        """3.1: three of the five shares, then wait until raft made this node the leader."""
        for key in self.unseal_keys[:3]:
            self.sh.run(f"strongroom vault unseal {key}")
        st = self.sh.run("strongroom vault status", check=False)
        assert st.returncode == 0, st.stdout + st.stderr
        assert re.search(r"Sealed\s+false", st.stdout), st.stdout
        self.sh.run(
            "until curl -sf --cacert vault-tls.crt $VAULT_ADDR/v1/sys/health > /dev/null; "
            "do sleep 0.2; done",
            timeout=60,
        )

    def start_kes(self) -> None:
        # --mlock needs CAP_IPC_LOCK: root has it (the guide's setcap gives it to others)
        mlock = " --mlock" if os.geteuid() == 0 else ""
        proc = self.sh.start(
            "kes",
            f"strongroom kes server --config=kes-config.yaml{mlock} --root=disabled --auth=off",
        )
        wait_port(self.kes_port, proc, "the key server")

    def start_minio(self) -> None:
        proc = self.sh.start(
            "minio",
            f"strongroom server export --address 127.0.0.1:{self.s3_port} --certs-dir certs "
            "--workers 1",
            env=self.minio_env,
        )
        try:
            wait_port(self.s3_port, proc, "the object server")
        except AssertionError:
            raise AssertionError(self.sh.log("minio")) from None

    def stop_everything(self) -> None:
        for name in ("minio", "kes", "vault"):
            for proc_name, proc in list(self.sh.procs):
                if proc_name == name and proc.poll() is None:
                    status = self.sh.stop(proc)
                    assert status == 0, f"{name} exited {status} on SIGTERM:\n{self.sh.log(name)}"
        self.sh.procs.clear()


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory, bin_dir: Path) -> Iterator[Guide]:
    d = tmp_path_factory.mktemp("kms-guide")
    vault_port, kes_port, s3_port = free_port(), free_port(), free_port()
    sh = Shell(
        d,
        bin_dir,
        {
            # 3.1 (VAULT_CACERT instead of VAULT_SKIP_VERIFY: the certificate is the CA)
            "VAULT_ADDR": f"https://127.0.0.1:{vault_port}",
            "VAULT_CACERT": "vault-tls.crt",
            # the client CLI's aliases, kept out of the home directory
            "STRONGROOM_CONFIG_DIR": str(d / "client-config"),
        },
    )
    g = Guide(sh, d, vault_port, kes_port, s3_port)
    try:
        _sections_2_to_4(g)
        yield g
    finally:
        sh.stop_all()


def _sections_2_to_4(g: Guide) -> None:
    sh = g.sh
    # 2 TLS certificates for Vault and KES (and, 2.3, for the object server)
    sh.run(OPENSSL.format(key="vault-tls.key", crt="vault-tls.crt"))
    sh.run(OPENSSL.format(key="kes-tls.key", crt="kes-tls.crt"))
    sh.run("mkdir -p certs")
    sh.run(OPENSSL.format(key="certs/private.key", crt="certs/public.crt"))

    # 3 the Vault config (raft instead of file: OpenBao refuses the file backend)
    cluster_port = free_port()
    (g.dir / "vault-config.json").write_text(
        json.dumps(
            {
                "api_addr": f"https://127.0.0.1:{g.vault_port}",
                "cluster_addr": f"https://127.0.0.1:{cluster_port}",
                "storage": {
                    "raft": {"path": "vault/raft", "node_id": "node1", "performance_multiplier": 1}
                },
                "default_lease_ttl": "168h",
                "max_lease_ttl": "720h",
                "listener": {
                    "tcp": {
                        "address": f"127.0.0.1:{g.vault_port}",
                        "cluster_address": f"127.0.0.1:{cluster_port}",
                        "tls_cert_file": "vault-tls.crt",
                        "tls_key_file": "vault-tls.key",
                        "tls_min_version": "tls12",
                    }
                },
            },
            indent=2,
        )
    )
    sh.run("mkdir -p vault/raft")
    g.start_vault()

    # 3.1 initialise (5 shares, 3 needed) and unseal
    out = sh.run("strongroom vault init").stdout
    g.unseal_keys = re.findall(r"^Unseal Key \d: (\S+)$", out, re.M)
    g.root_token = re.search(r"^Initial Root Token: (\S+)$", out, re.M).group(1)  # type: ignore[union-attr]
    assert len(g.unseal_keys) == 5
    st = sh.run("strongroom vault status", check=False)
    assert st.returncode == 2 and re.search(r"Sealed\s+true", st.stdout), st.stdout
    sh.env["VAULT_TOKEN"] = g.root_token
    g.unseal()

    # 3.2 - 3.5 in one command: kv, approle, the policy, the role, role id and secret id;
    # it prints the keys.vault block for the key server config
    block = sh.run(
        "strongroom vault bootstrap --prefix minio --kes-ca vault-tls.crt > kes-vault.yaml"
        " && cat kes-vault.yaml"
    ).stdout
    assert "approle:" in block and "prefix: minio" in block

    # 4.1 the object server's identity
    out = sh.run(
        "strongroom kes tool identity new MinIO --key=minio.key --cert=minio.cert --time=8760h"
    )
    g.identity = sh.run("strongroom kes tool identity of minio.cert").stdout.split()[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", g.identity), out.stdout
    assert os.stat(g.dir / "minio.key").st_mode & 0o077 == 0

    # 4.2 the guide's kes-config.yaml with the printed keys.vault block
    (g.dir / "kes-config.yaml").write_text(
        f"address: 0.0.0.0:{g.kes_port}\n"
        "\n"
        "tls:\n"
        "  key:  kes-tls.key\n"
        "  cert: kes-tls.crt\n"
        "\n"
        "policy:\n"
        "  minio:\n"
        "    paths:\n"
        "    - /v1/key/create/minio-*\n"
        "    - /v1/key/generate/minio-*\n"
        "    - /v1/key/decrypt/minio-*\n"
        "    identities:\n"
        f"    - {g.identity}\n"
        "\n"
        "cache:\n"
        "  expiry:\n"
        "    any:    5m0s\n"
        "    unused: 20s\n"
        "\n" + block
    )
    g.start_kes()
    sh.env |= {
        "KES_SERVER": f"https://127.0.0.1:{g.kes_port}",
        "KES_CLIENT_KEY": "minio.key",
        "KES_CLIENT_CERT": "minio.cert",
    }


def test_4_3_master_key_and_policy(guide: Guide) -> None:
    sh = guide.sh
    sh.run("strongroom kes key create minio-key-1 -k")
    r = sh.run("strongroom kes key create my-key-1 -k", check=False)
    assert (r.returncode, r.stderr.strip()) == (1, "Error: prohibited by policy")
    r = sh.run("strongroom kes key create minio-key-1 -k", check=False)
    assert (r.returncode, r.stderr.strip()) == (1, "Error: key does already exist")
    # the key lives in OpenBao under the guide's prefix, written through the AppRole
    out = sh.run(
        'curl -sf --cacert vault-tls.crt -H "X-Vault-Token: $VAULT_TOKEN" '
        "$VAULT_ADDR/v1/kv/minio/minio-key-1"
    ).stdout
    assert set(json.loads(out)["data"]) == {"minio-key-1"}


@pytest.fixture(scope="module")
def minio(guide: Guide) -> Guide:
    """Section 5: the object server with the guide's environment, and a client alias."""
    guide.start_minio()
    guide.sh.run(
        f"strongroom alias set myminio https://127.0.0.1:{guide.s3_port} minio minio123 "
        "--ca certs/public.crt"
    )
    guide.sh.run("strongroom mb myminio/crypt")
    return guide


def _stat_encrypted(sh: Shell, path: str) -> str:
    out = sh.run(f"strongroom stat {path}").stdout
    assert re.search(r"^Encrypted\s*:\s*$", out, re.M), out
    assert re.search(r"^\s+X-Amz-Server-Side-Encryption: AES256$", out, re.M), out
    return out


def test_appendix_a_auto_encryption(minio: Guide) -> None:
    sh = minio.sh
    (minio.dir / "test.file").write_bytes(b"hello")
    big = os.urandom(3 * 1024 * 1024 + 17)  # several DARE packages, an odd tail
    (minio.dir / "big.bin").write_bytes(big)

    sh.run("strongroom cp test.file myminio/crypt/")
    sh.run("strongroom cp big.bin myminio/crypt/")
    out = _stat_encrypted(sh, "myminio/crypt/test.file")
    assert re.search(r"^Size\s*:\s*5 B$", out, re.M), out
    _stat_encrypted(sh, "myminio/crypt/big.bin")

    assert sh.run("strongroom cat myminio/crypt/test.file").stdout == "hello"
    sh.run("strongroom cp myminio/crypt/big.bin big.back")
    assert (minio.dir / "big.back").read_bytes() == big

    # at rest: no plaintext in the export directory
    needle = big[1000:1064]
    for path in (minio.dir / "export").rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path


def test_restart_every_component(minio: Guide) -> None:
    sh = minio.sh
    payload = os.urandom(200_000)
    (minio.dir / "before-restart.bin").write_bytes(payload)
    (minio.dir / "test.file").write_bytes(b"hello")
    sh.run("strongroom cp before-restart.bin myminio/crypt/")
    digest = hashlib.sha256(payload).hexdigest()

    minio.stop_everything()

    # OpenBao comes back sealed; three shares unseal it again
    minio.start_vault()
    st = sh.run("strongroom vault status", check=False)
    assert st.returncode == 2, st.stdout + st.stderr
    minio.unseal()
    minio.start_kes()
    minio.start_minio()

    kms = json.loads(sh.run("strongroom admin kms key status myminio --json").stdout)
    assert (kms["key-id"], kms["encryption"], kms["decryption"]) == ("minio-key-1", True, True)
    sh.run("strongroom cp myminio/crypt/before-restart.bin after.bin")
    assert hashlib.sha256((minio.dir / "after.bin").read_bytes()).hexdigest() == digest
    _stat_encrypted(sh, "myminio/crypt/before-restart.bin")
    if (minio.dir / "big.bin").exists():  # written by the previous test
        sh.run("strongroom cp myminio/crypt/big.bin big.again")
        assert (minio.dir / "big.again").read_bytes() == (minio.dir / "big.bin").read_bytes()
    # and new objects still get encrypted under the key from OpenBao
    sh.run("strongroom cp test.file myminio/crypt/after-restart.txt")
    _stat_encrypted(sh, "myminio/crypt/after-restart.txt")
    assert sh.run("strongroom cat myminio/crypt/after-restart.txt").stdout == "hello"
