"""rclone (Debian package `rclone`) against a real server, over HTTP and HTTPS."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from tests.s3.clients.helpers import (
    MIB,
    Target,
    clean_env,
    http_only,
    md5_file,
    require_program,
    run,
    unique_bucket,
)

pytestmark = pytest.mark.clients

MULTIPART_FLAGS = ("--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M")

#: provider = Other over both transports, provider = Minio over HTTP (the provider changes
#: request shapes, not TLS handling)
both_providers = pytest.mark.parametrize(
    ("target", "remote"),
    [("http", "other"), ("https", "other"), ("http", "minio")],
    indirect=["target"],
)


class Rclone:
    """rclone with a private config holding two remotes for one server:
    `other:` (provider = Other) and `minio:` (provider = Minio)."""

    def __init__(self, target: Target, root: Path) -> None:
        self.target = target
        self.program = require_program("rclone")
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        self.config = root / "rclone.conf"
        sections = []
        for remote, provider in [("other", "Other"), ("minio", "Minio")]:
            sections.append(
                f"[{remote}]\n"
                "type = s3\n"
                f"provider = {provider}\n"
                "env_auth = false\n"
                f"access_key_id = {target.access_key}\n"
                f"secret_access_key = {target.secret_key}\n"
                f"endpoint = {target.endpoint}\n"
                "region = us-east-1\n"
                "force_path_style = true\n"
            )
        self.config.write_text("\n".join(sections))
        self.env = clean_env(home, {"RCLONE_CONFIG": str(self.config)})
        self._boto: Any = None

    @property
    def boto(self) -> Any:
        if self._boto is None:
            self._boto = self.target.boto3()
        return self._boto

    def argv(self, *args: str) -> list[str]:
        argv = [
            self.program,
            "--config",
            str(self.config),
            "--retries",
            "1",
            "--low-level-retries",
            "1",
        ]
        if self.target.ca_path is not None:
            argv += ["--ca-cert", str(self.target.ca_path)]
        return [*argv, *args]

    def __call__(self, *args: str, input_bytes: bytes | None = None) -> tuple[str, str]:
        proc = run(
            self.argv(*args), env=self.env, server=self.target.server, input_bytes=input_bytes
        )
        return proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")

    def out(self, *args: str) -> str:
        return self(*args)[0]

    def log(self, *args: str) -> str:
        """Run with -v and return the log (stderr), where rclone reports each transfer."""
        return self("-v", *args)[1]

    def fails(self, *args: str) -> str:
        proc = run(self.argv(*args), env=self.env, check=False, server=self.target.server)
        assert proc.returncode != 0, proc.stdout.decode()
        return proc.stderr.decode(errors="replace")


@pytest.fixture(scope="module")
def rclone(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Rclone:
    return Rclone(target, tmp_path_factory.mktemp(f"rclone-{target.scheme}"))


@pytest.fixture
def bucket(rclone: Rclone) -> str:
    name = unique_bucket("rclone")
    rclone.boto.create_bucket(Bucket=name)
    return name


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _keys(rclone: Rclone, bucket: str) -> list[str]:
    listing = rclone.boto.list_objects_v2(Bucket=bucket)
    return [c["Key"] for c in listing.get("Contents", [])]


@both_providers
def test_mkdir_lsd_rmdir(rclone: Rclone, remote: str) -> None:
    name = unique_bucket("rclone")
    rclone.out("mkdir", f"{remote}:{name}")
    assert name in rclone.out("lsd", f"{remote}:").split()
    rclone.boto.put_object(Bucket=name, Key="dir/x", Body=b"x")
    assert rclone.out("lsd", f"{remote}:{name}").split()[-1] == "dir"
    rclone.fails("rmdir", f"{remote}:{name}")  # not empty
    rclone.out("purge", f"{remote}:{name}")
    assert name not in rclone.out("lsd", f"{remote}:").split()


@both_providers
def test_copy_ls_cat_check(rclone: Rclone, bucket: str, tmp_path: Path, remote: str) -> None:
    files = {
        "a.txt": b"alpha\n",
        "sub/b.bin": os.urandom(3000),
        "sub/deeper/c with space.txt": "ünïcode\n".encode(),
    }
    src = tmp_path / "src"
    _write_tree(src, files)
    log = rclone.log("copy", str(src), f"{remote}:{bucket}/tree")
    assert log.count("Copied (new)") == len(files)
    listing = rclone.out("ls", f"{remote}:{bucket}")
    assert sorted(line.split(maxsplit=1)[1] for line in listing.splitlines()) == sorted(
        f"tree/{k}" for k in files
    )
    sizes = {line.split(maxsplit=1)[1]: int(line.split()[0]) for line in listing.splitlines()}
    assert sizes == {f"tree/{k}": len(v) for k, v in files.items()}
    assert rclone.out("cat", f"{remote}:{bucket}/tree/a.txt") == "alpha\n"
    lsd = rclone.out("lsd", f"{remote}:{bucket}/tree")
    assert [line.split()[-1] for line in lsd.splitlines()] == ["sub"]
    _, err = rclone("check", str(src), f"{remote}:{bucket}/tree")
    assert "0 differences found" in err
    # rclone check compares MD5 with the ETag: a corrupted remote object is found
    rclone.boto.put_object(Bucket=bucket, Key="tree/a.txt", Body=b"ALPHA\n")
    err = rclone.fails("check", str(src), f"{remote}:{bucket}/tree")
    assert "1 differences found" in err


def test_lsjson_and_md5sum(rclone: Rclone, bucket: str) -> None:
    rclone.boto.put_object(Bucket=bucket, Key="j/one", Body=b"1", ContentType="text/x-one")
    entries = json.loads(rclone.out("lsjson", "--recursive", f"other:{bucket}"))
    by_path = {e["Path"]: e for e in entries}
    assert by_path["j"]["IsDir"] is True
    assert by_path["j/one"]["Size"] == 1
    assert by_path["j/one"]["MimeType"] == "text/x-one"
    md5 = rclone.out("md5sum", f"other:{bucket}")
    assert md5.split() == [hashlib.md5(b"1").hexdigest(), "j/one"]
    size = rclone.out("size", "--json", f"other:{bucket}")
    assert json.loads(size)["bytes"] == 1


@both_providers
def test_multipart_upload(
    rclone: Rclone, bucket: str, big_file: Path, tmp_path: Path, remote: str
) -> None:
    rclone.out("copyto", *MULTIPART_FLAGS, str(big_file), f"{remote}:{bucket}/big.bin")
    head = rclone.boto.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == big_file.stat().st_size
    assert head["ETag"].strip('"').endswith("-4")
    # rclone keeps the whole-file MD5 in metadata for multipart objects
    assert head["Metadata"].get("md5chksum")
    _, err = rclone("check", "--include", "big.bin", str(big_file.parent), f"{remote}:{bucket}")
    assert "0 differences found" in err
    dst = tmp_path / "down.bin"
    rclone.out("copyto", f"{remote}:{bucket}/big.bin", str(dst))
    assert md5_file(dst) == md5_file(big_file)
    # four concurrent ranged GETs
    dst.unlink()
    log = rclone.log(
        "copyto",
        "--multi-thread-streams",
        "4",
        "--multi-thread-cutoff",
        "1M",
        f"{remote}:{bucket}/big.bin",
        str(dst),
    )
    assert "Multi-thread Copied" in log
    assert md5_file(dst) == md5_file(big_file)


def test_rcat_streams_unknown_size_in_parts(rclone: Rclone, bucket: str) -> None:
    data = os.urandom(6 * MIB)
    rclone("rcat", *MULTIPART_FLAGS, f"other:{bucket}/streamed", input_bytes=data)
    got = rclone.boto.get_object(Bucket=bucket, Key="streamed")
    assert got["Body"].read() == data
    assert got["ETag"].strip('"').endswith("-2")


def test_server_side_copy_and_move(rclone: Rclone, bucket: str) -> None:
    rclone.boto.put_object(Bucket=bucket, Key="orig", Body=b"server side", Metadata={"k": "v"})
    log = rclone.log("copyto", f"other:{bucket}/orig", f"other:{bucket}/copied")
    assert "Copied (server-side copy)" in log
    log = rclone.log("moveto", f"other:{bucket}/copied", f"other:{bucket}/moved")
    assert "Moved (server-side)" in log or "Copied (server-side copy)" in log
    assert _keys(rclone, bucket) == ["moved", "orig"]
    got = rclone.boto.get_object(Bucket=bucket, Key="moved")
    assert got["Body"].read() == b"server side"
    assert got["Metadata"].get("k") == "v"


def test_server_side_multipart_copy(rclone: Rclone, bucket: str, big_file: Path) -> None:
    """Above --s3-copy-cutoff rclone copies with UploadPartCopy and byte ranges."""
    rclone.out("copyto", *MULTIPART_FLAGS, str(big_file), f"other:{bucket}/big.bin")
    log = rclone.log(
        "copyto", "--s3-copy-cutoff", "5M", f"other:{bucket}/big.bin", f"other:{bucket}/copy.bin"
    )
    assert "Copied (server-side copy)" in log
    head = rclone.boto.head_object(Bucket=bucket, Key="copy.bin")
    assert head["ContentLength"] == big_file.stat().st_size
    assert head["ETag"].strip('"').endswith("-4")
    body = rclone.boto.get_object(Bucket=bucket, Key="copy.bin")["Body"].read()
    assert hashlib.md5(body).hexdigest() == md5_file(big_file)


def test_delete(rclone: Rclone, bucket: str) -> None:
    for key in ["keep.txt", "tmp/a.log", "tmp/b.txt", "tmp/c/d.log"]:
        rclone.boto.put_object(Bucket=bucket, Key=key, Body=b"")
    rclone.out("delete", "--include", "*.log", f"other:{bucket}")
    assert _keys(rclone, bucket) == ["keep.txt", "tmp/b.txt"]
    rclone.out("deletefile", f"other:{bucket}/tmp/b.txt")
    assert _keys(rclone, bucket) == ["keep.txt"]


def test_sync_both_ways(rclone: Rclone, bucket: str, tmp_path: Path) -> None:
    files = {
        "one.txt": b"one",
        "two/three.bin": os.urandom(2048),
        "two/four/five.txt": b"five",
    }
    up = tmp_path / "up"
    _write_tree(up, files)
    log = rclone.log("sync", str(up), f"other:{bucket}/s")
    assert log.count("Copied (new)") == len(files)
    log = rclone.log("sync", str(up), f"other:{bucket}/s")
    assert "Copied" not in log

    down = tmp_path / "down"
    log = rclone.log("sync", f"other:{bucket}/s", str(down))
    assert log.count("Copied (new)") == len(files)
    assert _tree(down) == files
    log = rclone.log("sync", f"other:{bucket}/s", str(down))
    assert "Copied" not in log

    (up / "one.txt").write_bytes(b"ONE, changed")
    (up / "two" / "three.bin").unlink()
    log = rclone.log("sync", str(up), f"other:{bucket}/s")
    assert "Copied (replaced existing)" in log
    assert "Deleted" in log
    assert sorted(_keys(rclone, bucket)) == ["s/one.txt", "s/two/four/five.txt"]
    rclone.out("sync", f"other:{bucket}/s", str(down))
    assert _tree(down) == _tree(up)


def test_modtime_update_copies_in_place(rclone: Rclone, bucket: str, tmp_path: Path) -> None:
    """Same content, new mtime: rclone rewrites X-Amz-Meta-Mtime with a CopyObject onto itself."""
    src = tmp_path / "src"
    src.mkdir()
    path = src / "f.txt"
    path.write_bytes(b"stable content")
    rclone.log("sync", str(src), f"other:{bucket}/m")
    os.utime(path, (1_577_836_800, 1_577_836_800))  # 2020-01-01
    log = rclone.log("sync", str(src), f"other:{bucket}/m")
    assert "Updated modification time in destination" in log
    assert "Copied" not in log
    head = rclone.boto.head_object(Bucket=bucket, Key="m/f.txt")
    assert float(head["Metadata"]["mtime"]) == 1_577_836_800
    assert "2020-01-01 00:00:00" in rclone.out("lsl", f"other:{bucket}/m")
    assert rclone.boto.get_object(Bucket=bucket, Key="m/f.txt")["Body"].read() == b"stable content"


@pytest.mark.parametrize("list_version", ["1", "2"])
def test_listing_in_small_pages(rclone: Rclone, bucket: str, list_version: str) -> None:
    keys = [f"d{i % 3}/k{i:02d}" for i in range(12)] + ["top"]
    for key in keys:
        rclone.boto.put_object(Bucket=bucket, Key=key, Body=b"")
    flags = ("--s3-list-version", list_version, "--s3-list-chunk", "5")
    listed = rclone.out("lsf", "--recursive", "--files-only", *flags, f"other:{bucket}")
    assert sorted(listed.split()) == sorted(keys)
    top = rclone.out("lsf", *flags, f"other:{bucket}")
    assert sorted(top.split()) == ["d0/", "d1/", "d2/", "top"]


def test_special_character_keys(rclone: Rclone, bucket: str, tmp_path: Path) -> None:
    names = [
        "space key.txt",
        "plus+key.txt",
        "percent%41key.txt",
        "ünïcödé ключ.txt",
        "amp&eq=q?.txt",
        "brackets[1]{2}.txt",
        "hash#.txt",
    ]
    files = {name: name.encode() for name in names}
    src = tmp_path / "src"
    _write_tree(src, files)
    rclone.out("copy", str(src), f"other:{bucket}/k")
    assert sorted(_keys(rclone, bucket)) == sorted(f"k/{n}" for n in names)
    _, err = rclone("check", str(src), f"other:{bucket}/k")
    assert f"{len(names)} matching files" in err
    down = tmp_path / "down"
    rclone.out("copy", f"other:{bucket}/k", str(down))
    assert _tree(down) == files


def test_v2_auth(rclone: Rclone, bucket: str, tmp_path: Path) -> None:
    """--s3-v2-auth signs every request with AWS signature version 2 headers."""
    files = {"a.txt": b"v2 signed", "d/b c+d.txt": b"spaces and plus"}
    src = tmp_path / "src"
    _write_tree(src, files)
    log = rclone.log("copy", "--s3-v2-auth", str(src), f"other:{bucket}/v2")
    assert log.count("Copied (new)") == len(files)
    _, err = rclone("check", "--s3-v2-auth", str(src), f"other:{bucket}/v2")
    assert "0 differences found" in err
    assert rclone.out("cat", "--s3-v2-auth", f"other:{bucket}/v2/a.txt") == "v2 signed"


# Regression test for a server bug, now fixed: with --s3-use-presigned-request rclone 1.60 sends
# the presigned PUT with two identical headers `Content-Length: 3` and `content-length: 3`; the
# server answers `400 malformed HTTP request` (httptools/llhttp raises 'Duplicate Content-
# Length', caught in net/streaming.py data_received). S3 and Go servers (MinIO) accept identical
# duplicates, as RFC 9110 8.6 allows
def test_presigned_request_uploads(rclone: Rclone, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _write_tree(src, {"p.txt": b"uploaded with a presigned PUT"})
    rclone.out("copy", "--s3-use-presigned-request", str(src), f"other:{bucket}/p")
    got = rclone.boto.get_object(Bucket=bucket, Key="p/p.txt")["Body"].read()
    assert got == b"uploaded with a presigned PUT"


@http_only
def test_backend_multipart_cleanup(rclone: Rclone, bucket: str) -> None:
    upload_id = rclone.boto.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
    listing = json.loads(rclone.out("backend", "list-multipart-uploads", f"other:{bucket}"))
    assert [u["UploadId"] for u in listing[bucket]] == [upload_id]
    rclone.out("backend", "cleanup", "-o", "max-age=0s", f"other:{bucket}")
    assert rclone.boto.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@http_only
def test_versions_listing_on_unversioned_bucket(rclone: Rclone, bucket: str) -> None:
    """--s3-versions lists with ListObjectVersions (VersionId "null" on unversioned buckets)."""
    for key in ["v/a", "v/b"]:
        rclone.boto.put_object(Bucket=bucket, Key=key, Body=b"1")
    listed = rclone.out("lsf", "--recursive", "--files-only", "--s3-versions", f"other:{bucket}")
    assert sorted(listed.split()) == ["v/a", "v/b"]
