"""Object operations through boto3 against a real server process."""

from __future__ import annotations

import hashlib
import io
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def status(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def test_put_get_head_roundtrip_with_metadata(s3: Any, bucket: str) -> None:
    body = os.urandom(1000)
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/obj.bin",
        Body=body,
        ContentType="application/x-test",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="x.bin"',
        ContentEncoding="identity",
        ContentLanguage="en",
        Expires=datetime(2030, 1, 1, tzinfo=UTC),
        Metadata={"color": "blue", "Mixed-Case": "Value"},
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-test"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == 'attachment; filename="x.bin"'
    assert got["ContentEncoding"] == "identity"
    assert got["ContentLanguage"] == "en"
    assert got["Metadata"] == {"color": "blue", "mixed-case": "Value"}
    head = s3.head_object(Bucket=bucket, Key="dir/obj.bin")
    assert head["ContentLength"] == 1000
    assert head["ETag"] == put["ETag"]
    assert head["AcceptRanges"] == "bytes"


def test_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_large_object_spills_to_file_and_reads_back(s3: Any, bucket: str) -> None:
    body = os.urandom(3 * 1024 * 1024 + 17)
    s3.put_object(Bucket=bucket, Key="large", Body=body)
    assert s3.get_object(Bucket=bucket, Key="large")["Body"].read() == body


def test_overwrite_replaces(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first" * 100000)
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


@pytest.mark.parametrize(
    ("header", "expected", "code"),
    [
        ("bytes=0-9", (0, 9), 206),
        ("bytes=10-", (10, 99), 206),
        ("bytes=-5", (95, 99), 206),
        ("bytes=90-200", (90, 99), 206),
        ("bytes=0-0", (0, 0), 206),
    ],
)
def test_ranges(s3: Any, bucket: str, header: str, expected: tuple[int, int], code: int) -> None:
    body = bytes(range(100))
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    first, last = expected
    assert got["ResponseMetadata"]["HTTPStatusCode"] == code
    assert got["Body"].read() == body[first : last + 1]
    assert got["ContentRange"] == f"bytes {first}-{last}/100"


def test_unsatisfiable_range_is_416(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=b"abc")
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-20")
    assert error_code(info.value) == "InvalidRange"
    assert status(info.value) == 416


def test_range_on_file_backed_object(s3: Any, bucket: str) -> None:
    body = os.urandom(1024 * 1024)
    s3.put_object(Bucket=bucket, Key="big", Body=body)
    got = s3.get_object(Bucket=bucket, Key="big", Range="bytes=500000-600000")
    assert got["Body"].read() == body[500000:600001]


def test_conditional_get(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"data")
    etag = put["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"data"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"nope"')
    assert status(info.value) == 412
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert status(info.value) == 304
    future = datetime.now(UTC) + timedelta(days=1)
    past = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert status(info.value) == 304
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"data"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert status(info.value) == 412
    assert s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=future)["ContentLength"] == 4


def test_conditional_put_if_none_match(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert status(info.value) == 412
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"1"


def test_response_overrides(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    got = s3.get_object(
        Bucket=bucket,
        Key="o",
        ResponseContentType="application/json",
        ResponseContentDisposition="inline",
        ResponseCacheControl="no-cache",
    )
    assert got["ContentType"] == "application/json"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "no-cache"


def test_missing_key_and_bucket(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="missing")
    assert error_code(info.value) == "NoSuchKey"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket="no-such-bucket-here", Key="x")
    assert error_code(info.value) == "NoSuchBucket"
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="missing")
    assert status(info.value) == 404


def test_delete_object_idempotent(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="d", Body=b"x")
    assert s3.delete_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="d")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="d")


def test_delete_objects_verbose_and_quiet(s3: Any, bucket: str) -> None:
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"del/{i}", Body=b"x")
    result = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [{"Key": "del/0"}, {"Key": "del/1", "VersionId": "null"}, {"Key": "nope"}]
        },
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["del/0", "del/1", "nope"]
    quiet = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "del/2"}, {"Key": "del/3"}], "Quiet": True}
    )
    assert "Deleted" not in quiet
    left = s3.list_objects_v2(Bucket=bucket, Prefix="del/")
    assert [o["Key"] for o in left["Contents"]] == ["del/4"]


def test_copy_object_copy_and_replace(s3: Any, bucket: str) -> None:
    body = os.urandom(300 * 1024)
    s3.put_object(Bucket=bucket, Key="src", Body=body, Metadata={"a": "1"}, ContentType="text/x")
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == body
    assert got["Metadata"] == {"a": "1"}
    assert got["ContentType"] == "text/x"
    s3.copy_object(
        Bucket=bucket,
        Key="dst2",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="text/y",
    )
    head = s3.head_object(Bucket=bucket, Key="dst2")
    assert head["Metadata"] == {"b": "2"}
    assert head["ContentType"] == "text/y"
    # The source may go away: the copy keeps its data.
    s3.delete_object(Bucket=bucket, Key="src")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body


def test_copy_onto_itself_requires_replace(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="self", Body=b"x", Metadata={"v": "1"})
    with pytest.raises(ClientError) as info:
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    assert error_code(info.value) == "InvalidRequest"
    s3.copy_object(
        Bucket=bucket,
        Key="self",
        CopySource={"Bucket": bucket, "Key": "self"},
        MetadataDirective="REPLACE",
        Metadata={"v": "2"},
    )
    got = s3.get_object(Bucket=bucket, Key="self")
    assert got["Metadata"] == {"v": "2"}
    assert got["Body"].read() == b"x"


def test_copy_conditions(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="cs", Body=b"x")
    with pytest.raises(ClientError) as info:
        s3.copy_object(
            Bucket=bucket, Key="cd", CopySource=f"{bucket}/cs", CopySourceIfMatch='"other"'
        )
    assert status(info.value) == 412
    s3.copy_object(
        Bucket=bucket, Key="cd", CopySource=f"{bucket}/cs", CopySourceIfMatch=put["ETag"]
    )
    with pytest.raises(ClientError) as info:
        s3.copy_object(
            Bucket=bucket, Key="cd", CopySource=f"{bucket}/cs", CopySourceIfNoneMatch=put["ETag"]
        )
    assert status(info.value) == 412


@pytest.mark.parametrize(
    "key",
    [
        "with space/and+plus",
        "unicode/ünïcødé/日本語",
        "a" * 1024,
        "/".join(["d"] * 300),
        "../../etc/passwd",
        "/absolute/looking",
        "trailing/",
        "percent%2Fencoded",
        "question?mark&amp=1",
        "tilde~star*quote'",
    ],
)
def test_awkward_keys(s3: Any, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [key]


def test_key_beside_prefix(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"file")
    s3.put_object(Bucket=bucket, Key="a/b", Body=b"nested")
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"file"
    assert s3.get_object(Bucket=bucket, Key="a/b")["Body"].read() == b"nested"


def test_key_too_long(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error_code(info.value) == "KeyTooLongError"


def test_content_md5(s3: Any, bucket: str) -> None:
    import base64

    body = b"checked"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="md5", Body=body, ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="md5", Body=body, ContentMD5=bad)
    assert error_code(info.value) == "BadDigest"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_checksums_returned(s3: Any, bucket: str, algorithm: str) -> None:
    body = os.urandom(4096)
    put = s3.put_object(Bucket=bucket, Key="ck", Body=body, ChecksumAlgorithm=algorithm)
    value = put[f"Checksum{algorithm}"]
    got = s3.get_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got[f"Checksum{algorithm}"] == value
    head = s3.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == value


def test_wrong_checksum_rejected_and_previous_kept(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="ck2", Body=b"old")
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="ck2", Body=b"new", ChecksumCRC32="AAAAAA==")
    assert error_code(info.value) == "BadDigest"
    assert s3.get_object(Bucket=bucket, Key="ck2")["Body"].read() == b"old"


def test_tagging(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="a=1&b=2")
    assert (
        s3.head_object(Bucket=bucket, Key="t")["ResponseMetadata"]["HTTPHeaders"][
            "x-amz-tagging-count"
        ]
        == "2"
    )
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "2")]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "c", "Value": "3"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []


def test_upload_fileobj_and_download(s3: Any, bucket: str) -> None:
    from boto3.s3.transfer import TransferConfig

    body = os.urandom(12 * 1024 * 1024)
    config = TransferConfig(
        multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024
    )
    s3.upload_fileobj(io.BytesIO(body), bucket, "mp", Config=config)
    out = io.BytesIO()
    s3.download_fileobj(bucket, "mp", out, Config=config)
    assert out.getvalue() == body


def test_presigned_get_and_put(server: Any, s3: Any, bucket: str) -> None:
    import urllib.request

    s3.put_object(Bucket=bucket, Key="pre", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre"})
    with urllib.request.urlopen(url) as response:
        assert response.read() == b"presigned"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre2"})
    # urllib would add a form Content-Type, which V2 presigned URLs sign as empty.
    request = urllib.request.Request(
        put_url, data=b"uploaded", method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    assert s3.get_object(Bucket=bucket, Key="pre2")["Body"].read() == b"uploaded"


def test_presigned_expired(s3: Any, bucket: str) -> None:
    import urllib.error
    import urllib.request

    s3.put_object(Bucket=bucket, Key="exp", Body=b"x")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "exp"}, ExpiresIn=1
    )
    time.sleep(2.1)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url)
    assert info.value.code == 403
    assert b"AccessDenied" in info.value.read()


def test_wrong_secret_and_unknown_key(server: Any, bucket: str) -> None:
    import boto3
    from botocore.config import Config

    kwargs = server.boto3_kwargs()
    kwargs["aws_secret_access_key"] = "wrong-secret-key"
    bad = boto3.client("s3", config=Config(retries={"max_attempts": 1}), **kwargs)
    with pytest.raises(ClientError) as info:
        bad.list_objects_v2(Bucket=bucket)
    assert error_code(info.value) == "SignatureDoesNotMatch"
    kwargs["aws_access_key_id"] = "nobody"
    bad = boto3.client("s3", config=Config(retries={"max_attempts": 1}), **kwargs)
    with pytest.raises(ClientError) as info:
        bad.list_objects_v2(Bucket=bucket)
    assert error_code(info.value) == "InvalidAccessKeyId"


def test_anonymous_denied(server: Any, bucket: str) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.endpoint}/{bucket}")
    assert info.value.code == 403
    body = info.value.read()
    assert b"<Code>AccessDenied</Code>" in body
    assert b"<RequestId>" in body


def test_get_object_attributes(s3: Any, bucket: str) -> None:
    body = b"attributes" * 100
    put = s3.put_object(Bucket=bucket, Key="attr", Body=body, ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(
        Bucket=bucket,
        Key="attr",
        ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass"],
    )
    assert got["ETag"] == put["ETag"].strip('"')
    assert got["ObjectSize"] == len(body)
    assert got["StorageClass"] == "STANDARD"
    assert got["Checksum"]["ChecksumSHA256"] == put["ChecksumSHA256"]


def test_object_acl_only_private(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="acl", Body=b"x")
    s3.put_object_acl(Bucket=bucket, Key="acl", ACL="private")
    with pytest.raises(ClientError) as info:
        s3.put_object_acl(Bucket=bucket, Key="acl", ACL="public-read")
    assert error_code(info.value) == "NotImplemented"
