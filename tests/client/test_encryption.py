"""--enc-c (SSE-C) over HTTPS, --enc-kms and --enc-s3; TLS trust (--ca, --insecure)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from tests.client.conftest import Strongroom, lines_json, set_alias, unique
from tests.support.s3server import S3Server

KEY = bytes(range(32))
KEY_B64 = base64.b64encode(KEY).decode()  # 44 characters, padded
KEY_B64_RAW = KEY_B64.rstrip("=")  # mc writes it without padding
OTHER_KEY = hashlib.sha256(b"other").digest()


@pytest.fixture
def secure(sr: Strongroom, tls_server: S3Server) -> str:
    assert tls_server.ca_path is not None
    set_alias(sr, "secure", tls_server.endpoint, "--ca", str(tls_server.ca_path))
    bucket = unique()
    sr.ok("mb", f"secure/{bucket}")
    return bucket


def test_sse_c_scoped_key(sr: Strongroom, secure: str, tmp_path: Path) -> None:
    payload = os.urandom(200_000)
    (tmp_path / "secret.bin").write_bytes(payload)
    scoped = f"secure/{secure}/private/={KEY_B64}"
    sr.ok("cp", "--enc-c", scoped, str(tmp_path / "secret.bin"), f"secure/{secure}/private/")
    url = f"secure/{secure}/private/secret.bin"

    # without the key the server refuses: non-zero exit, a hint, no bytes
    refused = sr("stat", url)
    assert refused.exit_code != 0
    assert "--enc-c" in refused.stderr
    assert sr("cat", url).exit_code != 0

    text = sr.ok("stat", "--enc-c", scoped, url).stdout.splitlines()
    encrypted = text[text.index("Encrypted :") + 1 :]
    assert "  X-Amz-Server-Side-Encryption-Customer-Algorithm: AES256" in encrypted
    md5 = base64.b64encode(hashlib.md5(KEY).digest()).decode()
    assert any(line.endswith(md5) and "Customer-Key-Md5" in line for line in encrypted)

    assert sr.ok("cat", "--enc-c", scoped, url).stdout_bytes == payload
    sr.ok("cp", "--enc-c", scoped, url, str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == payload

    # the wrong key is refused with the server's 403
    wrong = sr("cat", "--enc-c", f"secure/{secure}/={OTHER_KEY.hex()}", url)
    assert wrong.exit_code == 4, wrong.output
    assert "HTTP 403" in wrong.stderr
    assert OTHER_KEY.hex() not in wrong.output and KEY_B64 not in wrong.output


def test_sse_c_plain_keys_and_rotation(sr: Strongroom, secure: str, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"rotate me")
    sr.ok("cp", "--enc-c", KEY.hex(), str(tmp_path / "f.txt"), f"secure/{secure}/a/f.txt")
    # mc's unpadded base64 of the same key reads it
    assert sr.ok("cat", "--enc-c", KEY_B64_RAW, f"secure/{secure}/a/f.txt").stdout_bytes == (
        b"rotate me"
    )
    # server-side copy to a new key: the source key for a/, the target key for b/
    sr.ok(
        "cp",
        "--enc-c",
        f"secure/{secure}/a/={KEY_B64}",
        "--enc-c",
        f"secure/{secure}/b/={base64.b64encode(OTHER_KEY).decode()}",
        f"secure/{secure}/a/f.txt",
        f"secure/{secure}/b/f.txt",
    )
    other = f"secure/{secure}/={OTHER_KEY.hex()}"
    assert sr.ok("cat", "--enc-c", other, f"secure/{secure}/b/f.txt").stdout_bytes == b"rotate me"
    assert sr("cat", "--enc-c", KEY.hex(), f"secure/{secure}/b/f.txt").exit_code == 4


def test_enc_kms_and_enc_s3(sr: Strongroom, secure: str, tmp_path: Path) -> None:
    (tmp_path / "k").write_bytes(b"kms")
    sr.ok("cp", "--enc-kms", "strongroom-local-key", str(tmp_path / "k"), f"secure/{secure}/k")
    stat = lines_json(sr.ok("stat", "--json", f"secure/{secure}/k"))[0]
    assert stat["encryption"]["X-Amz-Server-Side-Encryption"] == "aws:kms"
    assert (
        "strongroom-local-key" in stat["encryption"]["X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"]
    )
    assert sr.ok("cat", f"secure/{secure}/k").stdout_bytes == b"kms"

    sr.ok("cp", "--enc-s3", str(tmp_path / "k"), f"secure/{secure}/s")
    stat = lines_json(sr.ok("stat", "--json", f"secure/{secure}/s"))[0]
    assert stat["encryption"] == {"X-Amz-Server-Side-Encryption": "AES256"}


def test_bad_keys_are_usage_errors(sr: Strongroom, secure: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    for bad in ("tooshort", "secure/x=" + "00" * 31, "nosuchalias/b=" + KEY.hex()):
        result = sr("cp", "--enc-c", bad, str(tmp_path / "f"), f"secure/{secure}/f")
        assert result.exit_code == 2, (bad, result.output)


def test_tls_trust(sr: Strongroom, tls_server: S3Server) -> None:
    set_alias(sr, "untrusted", tls_server.endpoint)
    failed = sr("ls", "untrusted")
    assert failed.exit_code == 5, failed.output
    assert "TLS" in failed.stderr or "SSL" in failed.stderr or "certificate" in failed.stderr
    sr.ok("ls", "--insecure", "untrusted")
    set_alias(sr, "skip", tls_server.endpoint, "--insecure")
    sr.ok("ls", "skip")
    listed = lines_json(sr.ok("alias", "ls", "--json", "skip"))[0]
    assert listed["insecure"] is True


def test_sse_c_over_http_is_refused(sr: Strongroom, local: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    result = sr("cp", "--enc-c", KEY.hex(), str(tmp_path / "f"), f"local/{local}/f")
    assert result.exit_code == 1
    assert "InvalidRequest" in result.stderr and "HTTP 400" in result.stderr
