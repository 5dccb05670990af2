"""`strongroom stack up DIR` on a fresh directory, used, stopped, and started again on the same
directory: data, keys, certificates and credentials intact. Then `up` on a running stack (a
restart) and `down`."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from strongroom.vault.client import VaultClient, VaultSettings
from tests.e2e.conftest import Shell, free_port

pytestmark = pytest.mark.openbao


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def stack(tmp_path: Path, bin_dir: Path) -> Iterator[tuple[Shell, str]]:
    sh = Shell(tmp_path, bin_dir, {"STRONGROOM_CONFIG_DIR": str(tmp_path / "client-config")})
    ports = f"--s3-port {free_port()} --kes-port {free_port()} --vault-port {free_port()}"
    try:
        yield sh, ports
    finally:
        sh.run("strongroom stack down stack", check=False)


def _up(sh: Shell, ports: str) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(sh.run(f"strongroom stack up stack {ports} --json").stdout)
    for svc in info["services"].values():
        assert svc["pid"] and _alive(svc["pid"]), svc
    return info


def _s3(info: dict[str, Any]) -> Any:
    creds = json.loads(Path(info["credentials"]).read_text())
    return boto3.client(
        "s3",
        endpoint_url=creds["url"],
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
        region_name=creds["region"],
        verify=creds["ca"],
        config=Config(retries={"max_attempts": 1}),
    )


def test_stack_fresh_then_existing_dir(stack: tuple[Shell, str], tmp_path: Path) -> None:
    sh, ports = stack
    root = tmp_path / "stack"

    # --- fresh directory --------------------------------------------------------------------
    info = _up(sh, ports)
    assert info["initialised"] and info["key_created"] and not info["restarted"]
    assert info["alias"] == "stack" and info["alias_note"].startswith("alias stack set")
    for secret in (
        "credentials.json",
        "credentials.env",
        "secrets/vault-init.json",
        "secrets/approle.json",
        "kes/kes-config.yaml",
        "certs/ca.key",
        "certs/minio.key",
    ):
        assert _mode(root / secret) == 0o600, secret
    assert _mode(root / "secrets") == 0o700
    init = json.loads((root / "secrets/vault-init.json").read_text())
    assert len(init["unseal_keys_b64"]) == 5 and init["unseal_threshold"] == 3

    # the client alias works over verified HTTPS; auto-encryption is on
    (tmp_path / "test.file").write_bytes(b"hello stack\n")
    payload = os.urandom(2 * 1024 * 1024 + 3)
    (tmp_path / "big.bin").write_bytes(payload)
    sh.run("strongroom mb stack/crypt")
    sh.run("strongroom cp test.file stack/crypt/ && strongroom cp big.bin stack/crypt/")
    out = sh.run("strongroom stat stack/crypt/test.file").stdout
    assert re.search(r"^\s+X-Amz-Server-Side-Encryption: AES256$", out, re.M), out
    # ... and so does boto3 with the credentials file and the stack's CA
    s3 = _s3(info)
    head = s3.head_object(Bucket="crypt", Key="big.bin")
    assert head["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket="crypt", Key="big.bin")["Body"].read() == payload
    # ... and so does the AWS CLI with the printed environment file
    out = sh.run(". stack/credentials.env && aws s3api head-object --bucket crypt --key big.bin")
    assert json.loads(out.stdout)["ServerSideEncryption"] == "AES256"
    # the master key lives in OpenBao, under the guide's prefix
    vault = VaultSettings(
        address=info["services"]["openbao"]["url"],
        token=init["root_token"],
        ca_cert=info["ca"],
    )
    with VaultClient(vault) as client:
        entry = client.read("kv/minio/minio-key-1")
    assert entry is not None and set(entry["data"]) == {"minio-key-1"}

    kms = json.loads(sh.run("strongroom admin kms key status stack --json").stdout)
    assert (kms["key-id"], kms["encryption"], kms["decryption"]) == ("minio-key-1", True, True)

    status = sh.run("strongroom stack status stack", check=False)
    assert status.returncode == 0 and status.stdout.count("running") == 3, status.stdout

    certs_before = {p.name: p.read_bytes() for p in (root / "certs").rglob("*") if p.is_file()}
    creds_before = json.loads((root / "credentials.json").read_text())

    # --- down -------------------------------------------------------------------------------
    down = sh.run("strongroom stack down stack").stdout
    assert down.count("Stopped") == 3, down
    for svc in info["services"].values():
        assert not _alive(svc["pid"]), svc
    assert sh.run("strongroom stack status stack", check=False).returncode == 3
    assert "Nothing was running" in sh.run("strongroom stack down stack").stdout

    # --- up again on the existing directory -------------------------------------------------
    again = _up(sh, ports)
    assert not again["initialised"] and not again["key_created"] and not again["restarted"]
    assert again["created"] == []
    assert {p.name: p.read_bytes() for p in (root / "certs").rglob("*") if p.is_file()} == (
        certs_before
    )
    assert json.loads((root / "credentials.json").read_text()) == creds_before
    assert sh.run("strongroom cat stack/crypt/test.file").stdout == "hello stack\n"
    sh.run("strongroom cp stack/crypt/big.bin big.back")
    assert (tmp_path / "big.back").read_bytes() == payload
    out = sh.run("strongroom stat stack/crypt/big.bin").stdout
    assert re.search(r"^\s+X-Amz-Server-Side-Encryption: AES256$", out, re.M), out

    # --- up on a running stack restarts it --------------------------------------------------
    third = _up(sh, ports)
    assert third["restarted"]
    for name in info["services"]:
        assert third["services"][name]["pid"] != again["services"][name]["pid"]
    assert _s3(third).get_object(Bucket="crypt", Key="big.bin")["Body"].read() == payload

    sh.run("strongroom stack down stack")
    for svc in third["services"].values():
        assert not _alive(svc["pid"]), svc
