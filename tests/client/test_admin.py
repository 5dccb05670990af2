"""strongroom admin kms ... against the object server's admin API (built-in KMS)."""

from __future__ import annotations

from tests.client.conftest import Strongroom, lines_json, set_alias
from tests.support.s3server import ACCESS_KEY, S3Server


def test_kms_status(sr: Strongroom, server: S3Server) -> None:
    set_alias(sr, "local", server.endpoint)
    text = sr.ok("admin", "kms", "status", "local").stdout.splitlines()
    assert text[0].startswith("Name        : ")
    assert "Default Key : strongroom-local-key" in text
    assert "  - 127.0.0.1: online" in text
    (status,) = lines_json(sr.ok("admin", "kms", "status", "--json", "local"))
    assert status["status"] == "success"
    assert status["defaultKeyID"] == "strongroom-local-key"
    assert status["endpoints"] == {"127.0.0.1": "online"}


def test_kms_key_status(sr: Strongroom, server: S3Server) -> None:
    set_alias(sr, "local", server.endpoint)
    text = sr.ok("admin", "kms", "key", "status", "local").stdout.splitlines()
    assert text == ["Key: strongroom-local-key", "   - Encryption ✔", "   - Decryption ✔"]
    (ok,) = lines_json(
        sr.ok("admin", "kms", "key", "status", "--json", "local", "strongroom-local-key")
    )
    assert ok == {
        "status": "success",
        "key-id": "strongroom-local-key",
        "encryption": True,
        "decryption": True,
    }
    # a key the KMS does not have fails its check: exit 1, the server's error shown
    failed = sr("admin", "kms", "key", "status", "--json", "local", "no-such-key")
    assert failed.exit_code == 1
    (bad,) = lines_json(failed)
    assert bad["status"] == "error" and bad["encryption"] is False
    assert bad["encryption-error"]


def test_kms_key_create(sr: Strongroom, server: S3Server) -> None:
    set_alias(sr, "local", server.endpoint)
    exists = sr("admin", "kms", "key", "create", "local", "strongroom-local-key")
    assert exists.exit_code == 1
    assert "kms:KeyAlreadyExists" in exists.stderr and "HTTP 409" in exists.stderr
    other = sr("admin", "kms", "key", "create", "--json", "local", "another-key")
    assert other.exit_code != 0
    (error,) = lines_json(other)
    assert error["status"] == "error" and error["error"]["code"].startswith("kms:")


def test_admin_errors(sr: Strongroom, server: S3Server) -> None:
    sr.ok("alias", "set", "bad", server.endpoint, ACCESS_KEY, "wrong-secret")
    denied = sr("admin", "kms", "status", "bad")
    assert denied.exit_code == 4
    assert "SignatureDoesNotMatch" in denied.stderr
    assert sr("admin", "kms", "status", "nosuchalias").exit_code == 2


def test_admin_over_tls(sr: Strongroom, tls_server: S3Server) -> None:
    assert tls_server.ca_path is not None
    set_alias(sr, "secure", tls_server.endpoint, "--ca", str(tls_server.ca_path))
    (status,) = lines_json(sr.ok("admin", "kms", "status", "--json", "secure"))
    assert status["defaultKeyID"] == "strongroom-local-key"
    set_alias(sr, "untrusted", tls_server.endpoint)
    assert sr("admin", "kms", "status", "untrusted").exit_code == 5
    sr.ok("admin", "kms", "status", "--insecure", "untrusted")
