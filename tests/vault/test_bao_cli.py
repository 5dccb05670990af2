"""The guide's section 3 done with the real ``bao`` CLI (the steps in docs/vault.md), then used
by our keystore: what ``strongroom vault bootstrap`` automates works the same by hand."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from strongroom.cli.main import cli
from strongroom.kes.keystore.vault import VaultKeyStore, VaultPolicyError
from tests.support.openbao import OpenBaoServer, find_bao

pytestmark = pytest.mark.openbao

POLICY = """path "kv/minio/*" {
  capabilities = [ "create", "read", "delete" ]
}
"""


def _env(bao: OpenBaoServer, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    return env | bao.env() | extra


def test_bao_init_and_unseal_interoperate(openbao_fresh: OpenBaoServer) -> None:
    """`bao operator init`, one share through `strongroom vault unseal`, one through bao."""
    env = _env(openbao_fresh, VAULT_TOKEN="")
    bao = find_bao()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([bao, *args], env=env, capture_output=True, text=True, timeout=60)

    init = run("operator", "init", "-key-shares=3", "-key-threshold=2")
    assert init.returncode == 0, init.stderr
    keys = [
        line.split(": ", 1)[1] for line in init.stdout.splitlines() if line.startswith("Unseal Key")
    ]
    assert len(keys) == 3 and "Initial Root Token: " in init.stdout
    assert run("status").returncode == 2  # sealed

    result = CliRunner().invoke(cli, ["vault", "unseal", keys[0]], env=env)
    assert result.exit_code == 0, result.output
    assert "Unseal Progress    1/2" in result.output
    assert "Unseal Progress    1/2" in run("status").stdout
    assert run("operator", "unseal", keys[1]).returncode == 0
    openbao_fresh.wait_active()
    assert run("status").returncode == 0
    assert CliRunner().invoke(cli, ["vault", "status"], env=env).exit_code == 0


def test_guide_steps_with_bao(
    openbao: OpenBaoServer, unique: Callable[[str], str], tmp_path: Path
) -> None:
    ns = unique("guide")  # a namespace of its own, so `kv/` and `approle/` are free
    with openbao.client() as root:
        root.request("PUT", f"sys/namespaces/{ns}", None)
    env = _env(openbao, VAULT_NAMESPACE=ns)
    bao = find_bao()

    def run(*args: str) -> str:
        proc = subprocess.run(
            [bao, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    (tmp_path / "minio-kes-policy.hcl").write_text(POLICY)
    assert "Sealed" in run("status")  # exit code 0: unsealed
    assert "Enabled the kv secrets engine at: kv/" in run("secrets", "enable", "kv")
    assert "Enabled approle auth method at: approle/" in run("auth", "enable", "approle")
    run("policy", "write", "minio-key-policy", "./minio-kes-policy.hcl")
    run(
        "write",
        "auth/approle/role/kes-role",
        "token_num_uses=0",
        "secret_id_num_uses=0",
        "period=5m",
    )
    run("write", "auth/approle/role/kes-role", "policies=minio-key-policy")
    role_id = run("read", "-field=role_id", "auth/approle/role/kes-role/role-id").strip()
    secret_id = run("write", "-f", "-field=secret_id", "auth/approle/role/kes-role/secret-id")

    store = VaultKeyStore(
        endpoint=openbao.address,
        namespace=ns,
        prefix="minio",
        approle_id=role_id,
        approle_secret=secret_id.strip(),
        tls_ca=str(openbao.ca_path),
    )

    async def body() -> None:
        await store.create("minio-key-1", b"value")
        assert await store.get("minio-key-1") == b"value"
        with pytest.raises(VaultPolicyError):  # the guide's policy has no 'list'
            await store.list("")
        await store.close()

    asyncio.run(body())
    assert run("read", "-field=minio-key-1", "kv/minio/minio-key-1") == "value"
