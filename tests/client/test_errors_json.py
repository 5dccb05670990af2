"""--json output shapes (one object per line) and errors: exit codes and S3 codes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.client.conftest import Strongroom, lines_json, set_alias, unique
from tests.support.s3server import ACCESS_KEY, S3Server, free_port


def test_json_shapes(sr: Strongroom, local: str, tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"hello")
    made = lines_json(sr.ok("mb", "--json", f"local/{local}-2"))
    assert made == [{"status": "success", "bucket": f"local/{local}-2"}]

    copied = lines_json(sr.ok("cp", "--json", str(tmp_path / "f.txt"), f"local/{local}/d/"))
    assert copied == [
        {
            "status": "success",
            "source": str(tmp_path / "f.txt"),
            "target": f"local/{local}/d/f.txt",
            "size": 5,
            "totalSize": 5,
        }
    ]

    (entry,) = lines_json(sr.ok("ls", "--json", "-r", f"local/{local}"))
    assert set(entry) == {
        "status", "type", "lastModified", "size", "key", "url", "etag", "storageClass"
    }  # fmt: skip
    assert (entry["key"], entry["type"], entry["size"]) == ("d/f.txt", "file", 5)
    assert entry["url"] == f"local/{local}/d/f.txt"
    assert entry["lastModified"].endswith("Z")

    (info,) = lines_json(sr.ok("stat", "--json", f"local/{local}/d/f.txt"))
    assert {k: info[k] for k in ("status", "name", "size", "type")} == {
        "status": "success",
        "name": "f.txt",
        "size": 5,
        "type": "file",
    }
    assert info["etag"] == "5d41402abc4b2a76b9719d911017c592"
    assert info["metadata"]["Content-Type"] == "text/plain"
    assert info["metadata"]["X-Amz-Server-Side-Encryption"] == "AES256"

    (bucket,) = lines_json(sr.ok("stat", "--json", f"local/{local}"))
    assert (bucket["type"], bucket["name"]) == ("folder", f"{local}/")

    removed = lines_json(sr.ok("rm", "--json", f"local/{local}/d/f.txt"))
    assert removed == [{"status": "success", "key": f"local/{local}/d/f.txt"}]
    dropped = lines_json(sr.ok("rb", "--json", f"local/{local}-2"))
    assert dropped == [{"status": "success", "bucket": f"local/{local}-2"}]


def test_missing_bucket(sr: Strongroom, server: S3Server, tmp_path: Path) -> None:
    set_alias(sr, "local", server.endpoint)
    missing = f"local/{unique('missing')}"
    for args in (["ls", missing], ["ls", "-r", missing], ["stat", missing + "/k"]):
        result = sr(*args)
        assert result.exit_code == 3, (args, result.output)
    text = sr("ls", missing)
    assert "NoSuchBucket" in text.stderr and "HTTP 404" in text.stderr
    assert text.stdout == ""
    as_json = sr("ls", "--json", missing)
    assert as_json.exit_code == 3
    (error,) = lines_json(as_json)
    assert error["status"] == "error"
    assert error["error"]["code"] == "NoSuchBucket"
    assert error["error"]["httpStatus"] == 404
    assert error["error"]["type"] == "error"
    assert error["error"]["cause"] == {
        "message": "The specified bucket does not exist",
        "error": {
            "Code": "NoSuchBucket",
            "Message": "The specified bucket does not exist",
            "StatusCode": 404,
        },
    }
    (tmp_path / "f").write_bytes(b"x")
    upload = sr("cp", str(tmp_path / "f"), missing + "/f")
    assert upload.exit_code == 3 and "NoSuchBucket" in upload.stderr


def test_wrong_credentials(sr: Strongroom, server: S3Server) -> None:
    sr.ok("alias", "set", "bad", server.endpoint, ACCESS_KEY, "not-the-secret")
    result = sr("ls", "bad")
    assert result.exit_code == 4
    assert "SignatureDoesNotMatch" in result.stderr
    assert "not-the-secret" not in result.output
    sr.ok("alias", "set", "nobody", server.endpoint, "no-such-user", "whatever-secret")
    result = sr("mb", f"nobody/{unique()}")
    assert result.exit_code == 4
    assert "InvalidAccessKeyId" in result.stderr


def test_connection_refused(sr: Strongroom) -> None:
    sr.ok("alias", "set", "down", f"http://127.0.0.1:{free_port()}", "a", "secret-key")
    result = sr("ls", "down")
    assert result.exit_code == 5, result.output
    assert "Could not connect" in result.stderr


def test_usage_errors(sr: Strongroom, local: str) -> None:
    result = sr("ls", "unknown-alias/bucket")
    assert result.exit_code == 2 and "no alias `unknown-alias`" in result.stderr
    assert sr("cat", f"local/{local}").exit_code == 2
    assert sr("rm", f"local/{local}").exit_code == 2
    assert sr("cp", f"local/{local}/x").exit_code == 2
    rm_json = sr("rm", "-r", "--json", f"local/{local}/x")
    assert rm_json.exit_code == 2
    assert json.loads(rm_json.stdout)["status"] == "error"


def test_subprocess_exit_codes(sr: Strongroom, server: S3Server) -> None:
    set_alias(sr, "local", server.endpoint)
    done = sr.process("stat", f"local/{unique('none')}/key")
    assert done.returncode == 3
    assert done.stderr.startswith(b"strongroom: <ERROR> Unable to stat")
