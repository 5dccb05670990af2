"""The client against another S3 server: moto's (python -m moto.server)."""

from __future__ import annotations

from pathlib import Path

from tests.client.conftest import Moto, Strongroom, lines_json, unique


def test_moto_round_trip(sr: Strongroom, moto: Moto, tmp_path: Path) -> None:
    sr.ok("alias", "set", "moto", moto.endpoint, "testing", "testing-secret")
    bucket = unique("moto")
    sr.ok("mb", f"moto/{bucket}")
    (tmp_path / "test.file").write_bytes(b"hello moto")
    sr.ok("cp", "--enc-s3", str(tmp_path / "test.file"), f"moto/{bucket}/crypt/")
    text = sr.ok("stat", f"moto/{bucket}/crypt/test.file").stdout.splitlines()
    assert text[0] == "Name      : test.file"
    assert "  X-Amz-Server-Side-Encryption: AES256" in text
    assert sr.ok("cat", f"moto/{bucket}/crypt/test.file").stdout_bytes == b"hello moto"
    listed = lines_json(sr.ok("ls", "--json", f"moto/{bucket}"))
    assert [(e["key"], e["type"]) for e in listed] == [("crypt/", "folder")]
    sr.ok("cp", "-r", f"moto/{bucket}/crypt", str(tmp_path / "down"))
    assert (tmp_path / "down" / "crypt" / "test.file").read_bytes() == b"hello moto"
    missing = sr("ls", f"moto/{unique('none')}")
    assert missing.exit_code == 3 and "NoSuchBucket" in missing.stderr


def test_moto_recursive_and_cleanup(sr: Strongroom, moto: Moto, tmp_path: Path) -> None:
    sr.ok("alias", "set", "moto", moto.endpoint, "testing", "testing-secret")
    bucket = unique("moto")
    sr.ok("mb", f"moto/{bucket}")
    src = tmp_path / "tree"
    (src / "a").mkdir(parents=True)
    (src / "a" / "one").write_bytes(b"1")
    (src / "two").write_bytes(b"")
    sr.ok("cp", "-r", f"{src}/", f"moto/{bucket}/t/")
    keys = [e["key"] for e in lines_json(sr.ok("ls", "-r", "--json", f"moto/{bucket}"))]
    assert keys == ["t/a/one", "t/two"]
    # server-side copy on moto
    sr.ok("cp", f"moto/{bucket}/t/a/one", f"moto/{bucket}/copy")
    assert sr.ok("cat", f"moto/{bucket}/copy").stdout_bytes == b"1"
    removed = lines_json(sr.ok("rm", "-r", "--force", "--json", f"moto/{bucket}/t"))
    assert len(removed) == 2
    sr.ok("rb", "--force", f"moto/{bucket}")
    assert sr("ls", f"moto/{bucket}").exit_code == 3


def test_copy_between_servers(sr: Strongroom, moto: Moto, local: str, tmp_path: Path) -> None:
    """Ours to moto and back: the bytes stream through the client."""
    sr.ok("alias", "set", "moto", moto.endpoint, "testing", "testing-secret")
    bucket = unique("moto")
    sr.ok("mb", f"moto/{bucket}")
    (tmp_path / "f.bin").write_bytes(bytes(range(256)) * 100)
    sr.ok("cp", str(tmp_path / "f.bin"), f"local/{local}/f.bin")
    sr.ok("cp", f"local/{local}/f.bin", f"moto/{bucket}/f.bin")
    sr.ok("cp", f"moto/{bucket}/f.bin", f"local/{local}/back.bin")
    assert sr.ok("cat", f"local/{local}/back.bin").stdout_bytes == bytes(range(256)) * 100


def test_keys_escaping_the_target_are_refused(sr: Strongroom, moto: Moto, tmp_path: Path) -> None:
    """A hostile server's key `p/../../evil` must not write outside the target directory."""
    import boto3
    from botocore.config import Config

    bucket = unique("moto")
    s3 = boto3.client(
        "s3",
        endpoint_url=moto.endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="p/ok", Body=b"fine")
    s3.put_object(Bucket=bucket, Key="p/../../evil", Body=b"evil")
    sr.ok("alias", "set", "moto", moto.endpoint, "testing", "testing-secret")
    out = tmp_path / "a" / "b" / "out"
    result = sr("cp", "-r", f"moto/{bucket}/p/", str(out))
    assert result.exit_code == 2, result.output
    assert "refusing" in result.stderr
    assert not (tmp_path / "a" / "evil").exists() and not (tmp_path / "a" / "b" / "evil").exists()
    assert not out.exists()  # refused while planning: nothing written
