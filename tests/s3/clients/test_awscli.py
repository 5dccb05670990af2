"""The AWS CLI (`aws`, PyPI `awscli`, v1) against a real server, over HTTP and HTTPS."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import crc32c
import httpx
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


class Aws:
    """`aws` with private config files and the server's endpoint (and CA for HTTPS)."""

    def __init__(self, target: Target, root: Path) -> None:
        self.target = target
        self._boto: Any = None
        self.program = require_program("aws")
        home = root / "home"
        home.mkdir(parents=True, exist_ok=True)
        config = root / "config"
        credentials = root / "credentials"
        config.write_text(
            "[default]\nregion = us-east-1\nretry_mode = standard\nmax_attempts = 1\n"
        )
        credentials.write_text(
            f"[default]\naws_access_key_id = {target.access_key}\n"
            f"aws_secret_access_key = {target.secret_key}\n"
        )
        self.env = clean_env(
            home,
            {
                "AWS_CONFIG_FILE": str(config),
                "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
                "AWS_PAGER": "",
            },
        )

    def argv(self, *args: str) -> list[str]:
        argv = [self.program, "--endpoint-url", self.target.endpoint]
        if self.target.ca_path is not None:
            argv += ["--ca-bundle", str(self.target.ca_path)]
        return [*argv, *args]

    def __call__(self, *args: str, check: bool = True, cwd: Path | None = None) -> str:
        proc = run(self.argv(*args), env=self.env, check=check, cwd=cwd, server=self.target.server)
        return proc.stdout.decode()

    def fails(self, *args: str) -> str:
        proc = run(self.argv(*args), env=self.env, check=False, server=self.target.server)
        assert proc.returncode != 0, proc.stdout.decode()
        return proc.stderr.decode()

    def json(self, *args: str) -> Any:
        out = self(*args, "--output", "json")
        return json.loads(out) if out.strip() else {}

    @property
    def boto(self) -> Any:
        """A boto3 client on the same server, for setting up and checking state cheaply."""
        if self._boto is None:
            self._boto = self.target.boto3()
        return self._boto

    def s3(self, *args: str, cwd: Path | None = None) -> str:
        extra = ["--no-progress"] if args[0] in ("cp", "mv", "sync") else []
        return self("s3", *args, *extra, cwd=cwd)


@pytest.fixture(scope="module")
def aws(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Aws:
    return Aws(target, tmp_path_factory.mktemp(f"aws-{target.scheme}"))


@pytest.fixture(scope="module")
def aws_http(http_target: Target, tmp_path_factory: pytest.TempPathFactory) -> Aws:
    return Aws(http_target, tmp_path_factory.mktemp("aws-http-only"))


@pytest.fixture
def bucket(aws: Aws) -> Iterator[str]:
    name = unique_bucket("aws")
    aws.boto.create_bucket(Bucket=name)
    yield name


@pytest.fixture
def http_bucket(aws_http: Aws) -> Iterator[str]:
    name = unique_bucket("awsapi")
    aws_http.boto.create_bucket(Bucket=name)
    yield name


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _exists(aws: Aws, bucket: str, key: str) -> bool:
    listing = aws.boto.list_objects_v2(Bucket=bucket, Prefix=key)
    return any(c["Key"] == key for c in listing.get("Contents", []))


# ---------------------------------------------------------------------------- aws s3


def test_mb_ls_rb(aws_http: Aws) -> None:
    name = unique_bucket("aws")
    assert f"make_bucket: {name}" in aws_http.s3("mb", f"s3://{name}")
    assert name in aws_http.s3("ls").split()
    err = aws_http.fails("s3", "mb", f"s3://{name}")
    assert "BucketAlreadyOwnedByYou" in err
    aws_http.boto.put_object(Bucket=name, Key="x", Body=b"x")
    assert "BucketNotEmpty" in aws_http.fails("s3", "rb", f"s3://{name}")
    assert f"remove_bucket: {name}" in aws_http.s3("rb", f"s3://{name}", "--force")
    assert name not in [b["Name"] for b in aws_http.boto.list_buckets()["Buckets"]]


def test_cp_small_roundtrip(aws: Aws, bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "small.txt"
    src.write_bytes(b"hello strongroom\n")
    out = aws.s3("cp", str(src), f"s3://{bucket}/dir/small.txt")
    assert "upload:" in out
    head = aws.boto.head_object(Bucket=bucket, Key="dir/small.txt")
    assert head["ContentLength"] == src.stat().st_size
    assert head["ETag"] == f'"{md5_file(src)}"'
    assert head["ContentType"] == "text/plain"
    dst = tmp_path / "back.txt"
    aws.s3("cp", f"s3://{bucket}/dir/small.txt", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    if aws.target.tls:
        return  # the streaming case below does not depend on the transport
    # stdin and stdout streaming
    proc = run(
        aws.argv("s3", "cp", "-", f"s3://{bucket}/stdin.bin"),
        env=aws.env,
        input_bytes=b"from stdin" * 1000,
        server=aws.target.server,
    )
    assert proc.returncode == 0
    assert aws("s3", "cp", f"s3://{bucket}/stdin.bin", "-").encode() == b"from stdin" * 1000


def test_cp_multipart_roundtrip(aws: Aws, bucket: str, big_file: Path, tmp_path: Path) -> None:
    aws.s3("cp", str(big_file), f"s3://{bucket}/big.bin")
    head = aws.boto.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == big_file.stat().st_size
    # 20 MiB with the default 8 MiB chunk size: three parts
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]
    dst = tmp_path / "big.bin"
    aws.s3("cp", f"s3://{bucket}/big.bin", str(dst))
    assert md5_file(dst) == md5_file(big_file)


def test_ls_recursive_and_prefixes(aws_http: Aws, http_bucket: str, tmp_path: Path) -> None:
    files = {
        "top.txt": b"t",
        "a/one.txt": b"11",
        "a/two.txt": b"222",
        "a/deep/three.txt": b"3333",
        "b/four.txt": b"44444",
    }
    _write_tree(tmp_path / "src", files)
    aws_http.s3("cp", "--recursive", str(tmp_path / "src"), f"s3://{http_bucket}/")
    top = aws_http.s3("ls", f"s3://{http_bucket}/")
    lines = [line.split() for line in top.splitlines()]
    assert ["PRE", "a/"] in lines
    assert ["PRE", "b/"] in lines
    assert any(line[-1] == "top.txt" and line[-2] == "1" for line in lines)
    assert len(lines) == 3
    sub = aws_http.s3("ls", f"s3://{http_bucket}/a/")
    names = sorted(line.split()[-1] for line in sub.splitlines())
    assert names == ["deep/", "one.txt", "two.txt"]
    # a key prefix that is not a "directory"
    partial = aws_http.s3("ls", "--recursive", f"s3://{http_bucket}/a/t")
    assert [line.split()[-1] for line in partial.splitlines()] == ["a/two.txt"]
    summary = aws_http.s3("ls", "--recursive", "--summarize", f"s3://{http_bucket}")
    keys = sorted(line.split()[-1] for line in summary.splitlines() if line.startswith("20"))
    assert keys == sorted(files)
    assert "Total Objects: 5" in summary
    assert "Total Size: 15" in summary


def test_rm_recursive(aws_http: Aws, http_bucket: str, tmp_path: Path) -> None:
    for key in ["keep.txt", "gone/1", "gone/2/3"]:
        aws_http.boto.put_object(Bucket=http_bucket, Key=key, Body=b"x")
    out = aws_http.s3("rm", "--recursive", f"s3://{http_bucket}/gone/")
    assert out.count("delete:") == 2
    listing = aws_http.boto.list_objects_v2(Bucket=http_bucket)
    assert [c["Key"] for c in listing["Contents"]] == ["keep.txt"]
    assert "delete:" in aws_http.s3("rm", f"s3://{http_bucket}/keep.txt")
    assert aws_http.boto.list_objects_v2(Bucket=http_bucket)["KeyCount"] == 0


def test_sync_both_ways(aws: Aws, bucket: str, tmp_path: Path) -> None:
    files = {
        "readme.md": b"# hi\n",
        "data/1.bin": bytes(range(256)) * 40,
        "data/2.bin": b"\x00" * 3000,
        "data/nested/x y.txt": "unicodé name".encode(),
    }
    up = tmp_path / "up"
    _write_tree(up, files)
    out = aws.s3("sync", str(up), f"s3://{bucket}/tree")
    assert out.count("upload:") == len(files)
    # A second sync sees nothing to do.
    assert aws.s3("sync", str(up), f"s3://{bucket}/tree").strip() == ""

    down = tmp_path / "down"
    out = aws.s3("sync", f"s3://{bucket}/tree", str(down))
    assert out.count("download:") == len(files)
    assert _tree(down) == files
    assert aws.s3("sync", f"s3://{bucket}/tree", str(down)).strip() == ""

    # A changed file (different size) and a deleted file propagate with --delete.
    (up / "readme.md").write_bytes(b"# changed readme\n")
    (up / "data" / "2.bin").unlink()
    out = aws.s3("sync", "--delete", str(up), f"s3://{bucket}/tree")
    assert out.count("upload:") == 1
    assert out.count("delete:") == 1
    out = aws.s3("sync", "--delete", f"s3://{bucket}/tree", str(down))
    assert _tree(down) == _tree(up)


# ---------------------------------------------------------------------------- aws s3api (HTTP)


def test_head_object_metadata(aws_http: Aws, http_bucket: str, tmp_path: Path) -> None:
    body = tmp_path / "b.html"
    body.write_bytes(b"<p>x</p>")
    aws_http(
        "s3api",
        "put-object",
        "--bucket",
        http_bucket,
        "--key",
        "page.html",
        "--body",
        str(body),
        "--content-type",
        "text/html",
        "--cache-control",
        "max-age=60",
        "--content-disposition",
        "inline",
        "--metadata",
        "colour=blue,Owner=Ann",
    )
    head = aws_http.json("s3api", "head-object", "--bucket", http_bucket, "--key", "page.html")
    assert head["ContentType"] == "text/html"
    assert head["CacheControl"] == "max-age=60"
    assert head["ContentDisposition"] == "inline"
    assert head["Metadata"] == {"colour": "blue", "owner": "Ann"}
    assert head["ContentLength"] == 8


def test_get_object_range(aws_http: Aws, http_bucket: str, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4
    src = tmp_path / "src"
    src.write_bytes(data)
    aws_http.boto.put_object(Bucket=http_bucket, Key="r", Body=data)
    for spec, expected, content_range in [
        ("bytes=10-19", data[10:20], "bytes 10-19/1024"),
        ("bytes=-5", data[-5:], "bytes 1019-1023/1024"),
    ]:
        out = tmp_path / "out"
        meta = aws_http.json(
            "s3api", "get-object", "--bucket", http_bucket, "--key", "r", "--range", spec, str(out)
        )
        assert out.read_bytes() == expected, spec
        assert meta["ContentRange"] == content_range
        assert meta["ContentLength"] == len(expected)
    err = aws_http.fails(
        "s3api",
        "get-object",
        "--bucket",
        http_bucket,
        "--key",
        "r",
        "--range",
        "bytes=5000-",
        str(tmp_path / "o"),
    )
    assert "InvalidRange" in err


def test_list_objects_v2_delimiter_and_pagination(
    aws_http: Aws, http_bucket: str, tmp_path: Path
) -> None:
    keys = [f"p/{i:02d}" for i in range(7)] + ["q/1", "q/2", "r", "s"]
    for key in keys:
        aws_http.boto.put_object(Bucket=http_bucket, Key=key, Body=b"")
    listing = aws_http.json("s3api", "list-objects-v2", "--bucket", http_bucket, "--delimiter", "/")
    assert [c["Key"] for c in listing["Contents"]] == ["r", "s"]
    assert [p["Prefix"] for p in listing["CommonPrefixes"]] == ["p/", "q/"]

    # The CLI paginates itself with small pages and must see every key exactly once.
    listing = aws_http.json("s3api", "list-objects-v2", "--bucket", http_bucket, "--page-size", "3")
    assert [c["Key"] for c in listing["Contents"]] == sorted(keys)

    # One page at a time by hand with continuation tokens.
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        args = [
            "s3api",
            "list-objects-v2",
            "--bucket",
            http_bucket,
            "--prefix",
            "p/",
            "--max-keys",
            "3",
            "--no-paginate",
        ]
        if token:
            args += ["--continuation-token", token]
        page = aws_http.json(*args)
        pages += 1
        seen += [c["Key"] for c in page.get("Contents", [])]
        assert page["KeyCount"] == len(page.get("Contents", []))
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == [f"p/{i:02d}" for i in range(7)]
    assert pages == 3


def test_copy_object(aws_http: Aws, http_bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"copy me")
    aws_http(
        "s3api",
        "put-object",
        "--bucket",
        http_bucket,
        "--key",
        "orig",
        "--body",
        str(src),
        "--content-type",
        "text/x-orig",
        "--metadata",
        "a=1",
    )
    other = unique_bucket("awscopy")
    aws_http.boto.create_bucket(Bucket=other)
    res = aws_http.json(
        "s3api",
        "copy-object",
        "--bucket",
        other,
        "--key",
        "dup",
        "--copy-source",
        f"{http_bucket}/orig",
    )
    assert res["CopyObjectResult"]["ETag"] == f'"{md5_file(src)}"'
    head = aws_http.boto.head_object(Bucket=other, Key="dup")
    assert head["ContentType"] == "text/x-orig"
    assert head["Metadata"] == {"a": "1"}
    aws_http(
        "s3api",
        "copy-object",
        "--bucket",
        http_bucket,
        "--key",
        "replaced",
        "--copy-source",
        f"{http_bucket}/orig",
        "--metadata-directive",
        "REPLACE",
        "--metadata",
        "b=2",
        "--content-type",
        "text/x-new",
    )
    head = aws_http.boto.head_object(Bucket=http_bucket, Key="replaced")
    assert head["ContentType"] == "text/x-new"
    assert head["Metadata"] == {"b": "2"}
    out = tmp_path / "out"
    aws_http("s3api", "get-object", "--bucket", other, "--key", "dup", str(out))
    assert out.read_bytes() == b"copy me"
    # aws s3 cp between buckets uses CopyObject as well
    aws_http.s3("cp", f"s3://{http_bucket}/orig", f"s3://{other}/via-cp")
    aws_http("s3", "cp", f"s3://{other}/via-cp", str(out))
    assert out.read_bytes() == b"copy me"


def test_multipart_by_hand(aws_http: Aws, http_bucket: str, tmp_path: Path) -> None:
    part1 = tmp_path / "p1"
    part2 = tmp_path / "p2"
    part1.write_bytes(b"a" * (5 * MIB))
    part2.write_bytes(b"tail")
    created = aws_http.json(
        "s3api", "create-multipart-upload", "--bucket", http_bucket, "--key", "mp"
    )
    upload_id = created["UploadId"]
    uploads = aws_http.boto.list_multipart_uploads(Bucket=http_bucket)
    assert [u["UploadId"] for u in uploads["Uploads"]] == [upload_id]
    etags = []
    for number, path in [(1, part1), (2, part2)]:
        res = aws_http.json(
            "s3api",
            "upload-part",
            "--bucket",
            http_bucket,
            "--key",
            "mp",
            "--upload-id",
            upload_id,
            "--part-number",
            str(number),
            "--body",
            str(path),
        )
        assert res["ETag"] == f'"{md5_file(path)}"'
        etags.append(res["ETag"])
    parts = aws_http.json(
        "s3api", "list-parts", "--bucket", http_bucket, "--key", "mp", "--upload-id", upload_id
    )
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(1, 5 * MIB), (2, 4)]
    completion = tmp_path / "complete.json"
    completion.write_text(
        json.dumps({"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
    )
    done = aws_http.json(
        "s3api",
        "complete-multipart-upload",
        "--bucket",
        http_bucket,
        "--key",
        "mp",
        "--upload-id",
        upload_id,
        "--multipart-upload",
        f"file://{completion}",
    )
    expected = hashlib.md5(b"".join(bytes.fromhex(e.strip('"')) for e in etags)).hexdigest()
    assert done["ETag"] == f'"{expected}-2"'
    out = tmp_path / "out"
    aws_http("s3api", "get-object", "--bucket", http_bucket, "--key", "mp", str(out))
    assert out.read_bytes() == part1.read_bytes() + b"tail"

    # abort, then the upload is gone
    other = aws_http.json(
        "s3api", "create-multipart-upload", "--bucket", http_bucket, "--key", "aborted"
    )
    aws_http(
        "s3api",
        "abort-multipart-upload",
        "--bucket",
        http_bucket,
        "--key",
        "aborted",
        "--upload-id",
        other["UploadId"],
    )
    uploads = aws_http.boto.list_multipart_uploads(Bucket=http_bucket)
    assert uploads.get("Uploads", []) == []
    err = aws_http.fails(
        "s3api",
        "list-parts",
        "--bucket",
        http_bucket,
        "--key",
        "aborted",
        "--upload-id",
        other["UploadId"],
    )
    assert "NoSuchUpload" in err


def test_put_object_content_md5(aws_http: Aws, http_bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"integrity")
    good = base64.b64encode(hashlib.md5(b"integrity").digest()).decode()
    bad = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    res = aws_http.json(
        "s3api",
        "put-object",
        "--bucket",
        http_bucket,
        "--key",
        "md5",
        "--body",
        str(src),
        "--content-md5",
        good,
    )
    assert res["ETag"] == f'"{hashlib.md5(b"integrity").hexdigest()}"'
    err = aws_http.fails(
        "s3api",
        "put-object",
        "--bucket",
        http_bucket,
        "--key",
        "md5-bad",
        "--body",
        str(src),
        "--content-md5",
        bad,
    )
    assert "BadDigest" in err
    assert not _exists(aws_http, http_bucket, "md5-bad")


def _checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "CRC32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    elif algorithm == "CRC32C":
        raw = crc32c.crc32c(data).to_bytes(4, "big")
    else:
        raw = hashlib.new(algorithm.lower(), data).digest()
    return base64.b64encode(raw).decode()


def _has_crt() -> bool:
    try:
        import awscrt  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize(
    ("target", "algorithm"),
    # over HTTPS the CLI sends the checksum as an aws-chunked trailer; over HTTP as a header
    # (CRC32 trailers are also sent by every `aws s3 cp` over HTTPS)
    [("https", "CRC32C"), ("https", "SHA1"), ("https", "SHA256"), ("http", "CRC32")],
    indirect=["target"],
)
def test_put_object_checksum_algorithm(
    aws: Aws, bucket: str, tmp_path: Path, algorithm: str
) -> None:
    if algorithm == "CRC32C" and not _has_crt():
        pytest.skip("the AWS CLI needs botocore[crt] (awscrt) to compute CRC32C")
    data = b"checksummed body " * 500
    src = tmp_path / "src"
    src.write_bytes(data)
    expected = _checksum(algorithm, data)
    res = aws.json(
        "s3api",
        "put-object",
        "--bucket",
        bucket,
        "--key",
        "ck",
        "--body",
        str(src),
        "--checksum-algorithm",
        algorithm,
    )
    assert res[f"Checksum{algorithm}"] == expected
    out = tmp_path / "out"
    got = aws.json(
        "s3api",
        "get-object",
        "--bucket",
        bucket,
        "--key",
        "ck",
        "--checksum-mode",
        "ENABLED",
        str(out),
    )
    assert got[f"Checksum{algorithm}"] == expected
    assert out.read_bytes() == data
    head = aws.boto.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected


def test_put_object_wrong_checksum_rejected(
    aws_http: Aws, http_bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"payload")
    err = aws_http.fails(
        "s3api",
        "put-object",
        "--bucket",
        http_bucket,
        "--key",
        "wrong",
        "--body",
        str(src),
        "--checksum-sha256",
        _checksum("SHA256", b"other"),
    )
    assert "BadDigest" in err or "XAmzContentChecksumMismatch" in err or "InvalidRequest" in err
    assert not _exists(aws_http, http_bucket, "wrong")


def test_delete_objects(aws_http: Aws, http_bucket: str, tmp_path: Path) -> None:
    for key in ["d1", "d2", "keep", "dir/d3"]:
        aws_http.boto.put_object(Bucket=http_bucket, Key=key, Body=b"")
    request = {"Objects": [{"Key": "d1"}, {"Key": "d2"}, {"Key": "dir/d3"}, {"Key": "never"}]}
    res = aws_http.json(
        "s3api", "delete-objects", "--bucket", http_bucket, "--delete", json.dumps(request)
    )
    assert sorted(d["Key"] for d in res["Deleted"]) == ["d1", "d2", "dir/d3", "never"]
    assert "Errors" not in res
    quiet = {"Objects": [{"Key": "keep"}], "Quiet": True}
    res = aws_http.json(
        "s3api", "delete-objects", "--bucket", http_bucket, "--delete", json.dumps(quiet)
    )
    assert "Deleted" not in res
    assert aws_http.boto.list_objects_v2(Bucket=http_bucket)["KeyCount"] == 0


# ------------------------------------------------------------------------ more aws s3 cases


# Regression test for a server bug, now fixed: over HTTPS `aws s3 cp` sends PutObject
# with `Content-Encoding: aws-chunked` (STREAMING-UNSIGNED-PAYLOAD-TRAILER); the server stores
# it, so HEAD/GET return `Content-Encoding: aws-chunked` (`gzip,aws-chunked` with --content-
# encoding gzip). S3 strips the aws-chunked token (objectmeta.from_headers)
def test_cp_over_https_stores_no_aws_chunked_encoding(
    https_target: Target, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    aws = Aws(https_target, tmp_path_factory.mktemp("aws-https-ce"))
    name = unique_bucket("awsce")
    aws.boto.create_bucket(Bucket=name)
    src = tmp_path / "page.html"
    src.write_bytes(b"<html></html>")
    aws.s3("cp", str(src), f"s3://{name}/plain.html")
    aws.s3("cp", "--content-encoding", "gzip", str(src), f"s3://{name}/gz.html")
    assert "ContentEncoding" not in aws.boto.head_object(Bucket=name, Key="plain.html")
    assert aws.boto.head_object(Bucket=name, Key="gz.html")["ContentEncoding"] == "gzip"


def test_cp_stdin_multipart_stream(aws_http: Aws, http_bucket: str) -> None:
    """Unknown-size upload from stdin: the CLI buffers 8 MiB parts into a multipart upload."""
    data = bytes(range(256)) * (40 * 1024 + 7)  # just over 10 MiB
    run(
        aws_http.argv("s3", "cp", "-", f"s3://{http_bucket}/stream.bin"),
        env=aws_http.env,
        input_bytes=data,
        server=aws_http.target.server,
    )
    head = aws_http.boto.head_object(Bucket=http_bucket, Key="stream.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-2")
    body = aws_http.boto.get_object(Bucket=http_bucket, Key="stream.bin")["Body"].read()
    assert body == data


@http_only
def test_special_character_keys_round_trip(aws: Aws, bucket: str, tmp_path: Path) -> None:
    """`aws s3 sync` lists with encoding-type=url; names must survive both directions."""
    names = [
        "space key.txt",
        "plus+key.txt",
        "percent%41key.txt",
        "ünïcödé ключ.txt",
        "amp&eq=q?.txt",
        "tilde~star*.txt",
        "semi;colon,comma.txt",
        "quote'dq\".txt",
        "brackets[1]{2}.txt",
        "hash#.txt",
        "lt<gt>.txt",
    ]
    files = {name: name.encode() for name in names}
    up = tmp_path / "up"
    _write_tree(up, files)
    out = aws.s3("sync", str(up), f"s3://{bucket}/k/")
    assert out.count("upload:") == len(files)
    listing = aws.boto.list_objects_v2(Bucket=bucket)
    assert sorted(c["Key"] for c in listing["Contents"]) == sorted(f"k/{n}" for n in names)
    assert aws.s3("sync", str(up), f"s3://{bucket}/k/").strip() == ""
    down = tmp_path / "down"
    aws.s3("sync", f"s3://{bucket}/k/", str(down))
    assert _tree(down) == files
    out = aws.s3("rm", "--recursive", f"s3://{bucket}/k/")
    assert out.count("delete:") == len(files)


def test_copy_in_place_replacing_metadata(aws_http: Aws, http_bucket: str) -> None:
    aws_http.boto.put_object(Bucket=http_bucket, Key="obj", Body=b"same bytes", Metadata={"a": "1"})
    aws_http.s3(
        "cp",
        f"s3://{http_bucket}/obj",
        f"s3://{http_bucket}/obj",
        "--metadata-directive",
        "REPLACE",
        "--metadata",
        "b=2",
        "--content-type",
        "text/x-replaced",
    )
    head = aws_http.boto.head_object(Bucket=http_bucket, Key="obj")
    assert head["Metadata"] == {"b": "2"}
    assert head["ContentType"] == "text/x-replaced"
    assert aws_http.boto.get_object(Bucket=http_bucket, Key="obj")["Body"].read() == b"same bytes"
    # copying onto itself without changing anything is refused, as S3 does
    err = aws_http.fails(
        "s3api",
        "copy-object",
        "--bucket",
        http_bucket,
        "--key",
        "obj",
        "--copy-source",
        f"{http_bucket}/obj",
    )
    assert "InvalidRequest" in err


def test_presign(aws: Aws, bucket: str) -> None:
    aws.boto.put_object(Bucket=bucket, Key="shared.txt", Body=b"shared via presign")
    url = aws("s3", "presign", f"s3://{bucket}/shared.txt", "--expires-in", "120").strip()
    verify: ssl.SSLContext | bool = True
    if aws.target.ca_path is not None:
        verify = ssl.create_default_context(cafile=str(aws.target.ca_path))
    with httpx.Client(verify=verify, trust_env=False) as http:
        response = http.get(url)
    assert response.status_code == 200, response.text
    assert response.content == b"shared via presign"


def test_list_objects_v1_delimiter_pagination(aws_http: Aws, http_bucket: str) -> None:
    keys = ["a/1", "a/2", "b/1", "c", "d/1", "d/2", "e", "f/x/y", "g"]
    for key in keys:
        aws_http.boto.put_object(Bucket=http_bucket, Key=key, Body=b"")
    listing = aws_http.json(
        "s3api", "list-objects", "--bucket", http_bucket, "--delimiter", "/", "--page-size", "1"
    )
    assert [c["Key"] for c in listing["Contents"]] == ["c", "e", "g"]
    assert [p["Prefix"] for p in listing["CommonPrefixes"]] == ["a/", "b/", "d/", "f/"]
    listing = aws_http.json("s3api", "list-objects", "--bucket", http_bucket, "--page-size", "2")
    assert [c["Key"] for c in listing["Contents"]] == keys


def test_list_uploads_and_parts_pagination(aws_http: Aws, http_bucket: str) -> None:
    s3 = aws_http.boto
    uploads = [
        (key, s3.create_multipart_upload(Bucket=http_bucket, Key=key)["UploadId"])
        for key in ["m/x", "m/x", "m/y", "n"]
    ]
    key, upload_id = uploads[0]
    for number in range(1, 5):
        s3.upload_part(
            Bucket=http_bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=b"p" * number
        )
    listing = aws_http.json(
        "s3api", "list-multipart-uploads", "--bucket", http_bucket, "--page-size", "1"
    )
    assert sorted((u["Key"], u["UploadId"]) for u in listing["Uploads"]) == sorted(uploads)
    listing = aws_http.json(
        "s3api", "list-multipart-uploads", "--bucket", http_bucket, "--delimiter", "/"
    )
    assert [u["Key"] for u in listing["Uploads"]] == ["n"]
    assert [p["Prefix"] for p in listing["CommonPrefixes"]] == ["m/"]
    parts = aws_http.json(
        "s3api",
        "list-parts",
        "--bucket",
        http_bucket,
        "--key",
        key,
        "--upload-id",
        upload_id,
        "--page-size",
        "1",
    )
    assert [(p["PartNumber"], p["Size"]) for p in parts["Parts"]] == [(n, n) for n in range(1, 5)]
    for key, upload_id in uploads:
        s3.abort_multipart_upload(Bucket=http_bucket, Key=key, UploadId=upload_id)


def test_conditional_get_and_overrides(aws_http: Aws, http_bucket: str, tmp_path: Path) -> None:
    etag = aws_http.boto.put_object(Bucket=http_bucket, Key="c", Body=b"conditional")["ETag"]
    out = tmp_path / "out"
    err = aws_http.fails(
        "s3api",
        "get-object",
        "--bucket",
        http_bucket,
        "--key",
        "c",
        "--if-none-match",
        etag,
        str(out),
    )
    assert "304" in err
    err = aws_http.fails(
        "s3api",
        "get-object",
        "--bucket",
        http_bucket,
        "--key",
        "c",
        "--if-match",
        '"0000"',
        str(out),
    )
    assert "PreconditionFailed" in err
    got = aws_http.json(
        "s3api",
        "get-object",
        "--bucket",
        http_bucket,
        "--key",
        "c",
        "--if-match",
        etag,
        "--response-content-type",
        "text/x-override",
        "--response-content-disposition",
        'attachment; filename="c.txt"',
        str(out),
    )
    assert got["ContentType"] == "text/x-override"
    assert got["ContentDisposition"] == 'attachment; filename="c.txt"'
    assert out.read_bytes() == b"conditional"


# Regression test for a server bug, now fixed (4898707): a client configured for another region
# (`--region eu-west-1`, a common ~/.aws/config default) got 400 AuthorizationHeaderMalformed
# without a <Region> element, so botocore could not re-sign and every bucket operation failed.
# MinIO without a configured region accepts any signing region.
def test_client_configured_for_another_region(
    aws_http: Aws, http_bucket: str, tmp_path: Path
) -> None:
    src = tmp_path / "f.txt"
    src.write_bytes(b"from a client in eu-west-1")
    aws_http(
        "--region", "eu-west-1", "s3", "cp", "--no-progress", str(src), f"s3://{http_bucket}/f.txt"
    )
    listing = aws_http("--region", "eu-west-1", "s3", "ls", f"s3://{http_bucket}/")
    assert "f.txt" in listing
    out = aws_http("--region", "eu-west-1", "s3", "cp", f"s3://{http_bucket}/f.txt", "-")
    assert out == "from a client in eu-west-1"


def test_get_object_attributes(aws_http: Aws, http_bucket: str) -> None:
    data = b"attributes"
    aws_http.boto.put_object(Bucket=http_bucket, Key="a", Body=data, ChecksumAlgorithm="SHA256")
    attrs = aws_http.json(
        "s3api",
        "get-object-attributes",
        "--bucket",
        http_bucket,
        "--key",
        "a",
        "--object-attributes",
        "ETag",
        "ObjectSize",
        "Checksum",
    )
    assert attrs["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    assert attrs["ObjectSize"] == len(data)
    assert attrs["Checksum"]["ChecksumSHA256"] == _checksum("SHA256", data)
