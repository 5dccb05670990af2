"""`strongroom vault` against a real OpenBao (click's CliRunner, plus one real subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

from strongroom.cli.main import cli
from strongroom.kes.keystore.vault import VaultKeyStore
from tests.support.openbao import OpenBaoServer

pytestmark = pytest.mark.openbao

_CLEAN = {k: None for k in os.environ if k.startswith(("VAULT_", "BAO_"))}


def invoke(bao: OpenBaoServer, *args: str, token: str | None = None, input: str | None = None):  # type: ignore[no-untyped-def]
    env: dict[str, str | None] = {**_CLEAN, **bao.env(token)}
    return CliRunner().invoke(cli, ["vault", *args], env=env, input=input)


def test_init_output_file_unseal_and_status(openbao_fresh: OpenBaoServer, tmp_path: Path) -> None:
    bao = openbao_fresh
    result = invoke(bao, "status", token="")
    assert result.exit_code == 2, result.output
    assert "Initialized" in result.output and "false" in result.output

    out = tmp_path / "init.json"
    result = invoke(
        bao, "init", "--shares", "3", "--threshold", "2", "--output", str(out), token=""
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    saved = json.loads(out.read_text())
    assert len(saved["unseal_keys_b64"]) == 3 and saved["root_token"]
    assert saved["root_token"] not in result.output
    assert all(k not in result.output for k in saved["unseal_keys_b64"])

    result = invoke(bao, "init", token="")
    assert result.exit_code == 1
    assert "already initialized" in result.output

    result = invoke(bao, "unseal", saved["unseal_keys_b64"][0], token="")
    assert result.exit_code == 0, result.output
    assert "Unseal Progress    1/2" in result.output
    result = invoke(bao, "status", "--json", token="")
    assert result.exit_code == 2
    assert json.loads(result.output)["progress"] == 1

    result = invoke(bao, "unseal", "--from", str(out), token="")
    assert result.exit_code == 0, result.output
    assert "Sealed          false" in result.output

    bao.root_token, bao.unseal_shares = saved["root_token"], saved["unseal_keys_b64"]
    bao.wait_active()
    result = invoke(bao, "status")
    assert result.exit_code == 0, result.output


def test_init_prints_shares_and_refuses_existing_output(
    openbao_fresh: OpenBaoServer, tmp_path: Path
) -> None:
    existing = tmp_path / "exists.json"
    existing.write_text("keep me")
    result = invoke(openbao_fresh, "init", "--output", str(existing), token="")
    assert result.exit_code == 1
    assert existing.read_text() == "keep me"

    result = invoke(openbao_fresh, "init", "--shares", "1", "--threshold", "1", "--json", token="")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["unseal_shares"] == 1 and len(data["unseal_keys_b64"]) == 1
    result = invoke(openbao_fresh, "unseal", token="", input=data["unseal_keys_b64"][0] + "\n")
    assert result.exit_code == 0, result.output
    assert "Sealed" in result.output


def test_status_exit_codes(openbao: OpenBaoServer) -> None:
    result = invoke(openbao, "status")
    assert result.exit_code == 0, result.output
    assert "Sealed          false" in result.output
    result = invoke(openbao, "--address", "https://127.0.0.1:1", "status")
    assert result.exit_code == 1
    assert "Error checking seal status" in result.output


def test_bootstrap_block_works_in_the_keystore(
    openbao: OpenBaoServer, unique: Callable[[str], str]
) -> None:
    prefix = unique("app")
    result = invoke(
        openbao,
        "bootstrap",
        "--prefix",
        prefix,
        "--kv-version",
        "2",
        "--engine",
        unique("kv"),
        "--policy-name",
        unique("policy"),
        "--role-name",
        unique("role"),
        "--format",
        "modern",
    )
    assert result.exit_code == 0, result.output
    block = yaml.load(result.stdout, Loader=yaml.BaseLoader)["keystore"]["vault"]
    assert block["version"] == "v2" and block["prefix"] == prefix
    assert "enabled kv v2 engine" in result.stderr
    cfg = SimpleNamespace(
        endpoint=block["endpoint"],
        engine=block["engine"],
        version=block["version"],
        prefix=block["prefix"],
        approle_engine=block["approle"]["engine"],
        approle_id=block["approle"]["id"],
        approle_secret=block["approle"]["secret"],
        tls_ca=block["tls"]["ca"],
    )
    store = VaultKeyStore.from_config(cfg)

    async def body() -> None:
        await store.create("minio-key-1", b"value")
        assert await store.get("minio-key-1") == b"value"
        assert await store.list("") == (["minio-key-1"], "")
        await store.close()

    asyncio.run(body())


def test_bootstrap_guide_block_and_json(
    openbao: OpenBaoServer, unique: Callable[[str], str]
) -> None:
    args = ["--prefix", unique("app"), "--policy-name", unique("p"), "--role-name", unique("r")]
    result = invoke(openbao, "bootstrap", *args)
    assert result.exit_code == 0, result.output
    guide = yaml.load(result.stdout, Loader=yaml.BaseLoader)
    assert set(guide["keys"]["vault"]) == {"endpoint", "prefix", "approle", "tls", "status"}

    result = invoke(openbao, "bootstrap", *args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["config"]["keys"]["vault"]["approle"]["secret"] == data["secret_id"]
    assert "kv v1 engine already enabled at kv/" in data["steps"]


def test_bootstrap_without_token_fails_cleanly(openbao: OpenBaoServer) -> None:
    result = invoke(openbao, "bootstrap", token="")
    assert result.exit_code == 1
    assert "403" in result.output and "permission denied" in result.output


def test_real_process(openbao: OpenBaoServer) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _CLEAN} | openbao.env()
    proc = subprocess.run(
        [sys.executable, "-m", "strongroom", "vault", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sealed"] is False
