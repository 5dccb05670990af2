"""alias set/ls/rm and the config file: mode 0600, atomic replacement, secrets never shown."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from strongroom.client.aliases import MASK, Alias, AliasStore
from strongroom.client.errors import ClientError, NotFoundError, UsageError
from tests.client.conftest import Strongroom, lines_json

SECRET = "very-secret-value-123"


def test_alias_set_writes_0600_file(sr: Strongroom) -> None:
    result = sr.ok("alias", "set", "one", "http://127.0.0.1:9000", "access", SECRET)
    assert SECRET not in result.output
    path = sr.config_dir / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(sr.config_dir.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    assert data["version"] == "1"
    assert data["aliases"]["one"]["secretKey"] == SECRET
    assert data["aliases"]["one"]["path"] == "auto"
    # no temporary files left behind
    assert sorted(p.name for p in sr.config_dir.iterdir()) == [".config.json.lock", "config.json"]


def test_alias_ls_masks_secrets(sr: Strongroom) -> None:
    sr.ok("alias", "set", "one", "http://127.0.0.1:9000/", "access", SECRET)
    sr.ok("alias", "set", "two", "https://s3.example.com", "ak2", SECRET, "--region", "eu-west-1")
    text = sr.ok("alias", "ls").stdout
    assert SECRET not in text
    assert f"SecretKey : {MASK}" in text
    assert "URL       : http://127.0.0.1:9000\n" in text  # trailing slash dropped
    listed = lines_json(sr.ok("alias", "ls", "--json"))
    assert [a["alias"] for a in listed] == ["one", "two"]
    assert all(a["secretKey"] == MASK and a["status"] == "success" for a in listed)
    assert listed[1]["region"] == "eu-west-1"
    one = lines_json(sr.ok("alias", "ls", "--json", "two"))
    assert [a["alias"] for a in one] == ["two"]


def test_alias_rm(sr: Strongroom) -> None:
    sr.ok("alias", "set", "one", "http://127.0.0.1:9000", "a", SECRET)
    sr.ok("alias", "set", "two", "http://127.0.0.1:9001", "a", SECRET)
    assert lines_json(sr.ok("alias", "rm", "--json", "one")) == [
        {"status": "success", "alias": "one"}
    ]
    assert [a["alias"] for a in lines_json(sr.ok("alias", "ls", "--json"))] == ["two"]
    missing = sr("alias", "rm", "one")
    assert missing.exit_code == 3
    # mc's long names
    assert [a["alias"] for a in lines_json(sr.ok("alias", "list", "--json"))] == ["two"]
    sr.ok("alias", "remove", "two")
    assert sr.ok("alias", "list").stdout == ""


def test_alias_set_prompts_for_keys(sr: Strongroom) -> None:
    result = sr.ok("alias", "set", "p", "http://127.0.0.1:9000", input=f"ak\n{SECRET}\n")
    assert SECRET not in result.stdout
    assert AliasStore(sr.config_dir).get("p").secret_key == SECRET


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["1bad", "http://127.0.0.1:9000", "a", "b"], 2),
        (["ok", "ftp://127.0.0.1:9000", "a", "b"], 2),
        (["ok", "http://user:pw@127.0.0.1:9000", "a", "b"], 2),
        (["ok", "http://127.0.0.1:9000", "a", "b", "--ca", "/nonexistent/ca.pem"], 2),
        (["ok", "http://127.0.0.1:9000", "a", "b", "--path", "sideways"], 2),
    ],
)
def test_alias_set_rejects(sr: Strongroom, args: list[str], code: int) -> None:
    result = sr("alias", "set", *args)
    assert result.exit_code == code, result.output


def test_config_dir_option_and_env(tmp_path: Path, sr: Strongroom) -> None:
    other = tmp_path / "elsewhere"
    sr.ok("alias", "set", "x", "http://127.0.0.1:1", "a", SECRET, "--config-dir", str(other))
    assert (other / "config.json").exists()
    assert not (sr.config_dir / "config.json").exists()
    assert AliasStore(environ={"STRONGROOM_CONFIG_DIR": str(other)}).get("x").url == (
        "http://127.0.0.1:1"
    )


def test_store_environment_alias(tmp_path: Path) -> None:
    store = AliasStore(
        tmp_path,
        environ={"STRONGROOM_HOST_env": "https://AK:S%2Fcret@host.example:9443"},
    )
    alias = store.get("env")
    assert (alias.url, alias.access_key, alias.secret_key) == (
        "https://host.example:9443",
        "AK",
        "S/cret",
    )
    assert "S/cret" not in repr(alias)


def test_store_rejects_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"aliases": {"a": ')
    with pytest.raises(ClientError, match="line 1"):
        AliasStore(tmp_path).load()
    (tmp_path / "config.json").write_text('{"aliases": {"a": {"accessKey": "x"}}}')
    with pytest.raises(ClientError, match="has no url"):
        AliasStore(tmp_path).load()


def test_store_keeps_the_old_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = AliasStore(tmp_path)
    store.set(Alias("a", "http://127.0.0.1:1", "ak", SECRET))
    before = (tmp_path / "config.json").read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.set(Alias("b", "http://127.0.0.1:2", "ak", SECRET))
    assert (tmp_path / "config.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".config.json.lock", "config.json"]


def test_store_errors() -> None:
    store = AliasStore(Path("/nonexistent-strongroom-dir"), environ={})
    with pytest.raises(NotFoundError):
        store.get("nope")
    with pytest.raises(UsageError):
        Alias("bad name", "http://127.0.0.1", "a", "b")
