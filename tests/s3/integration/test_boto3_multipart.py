"""Multipart uploads through boto3 against a real server process."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

MiB = 1024 * 1024


def code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def test_create_upload_complete(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1234)]
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", ContentType="text/mp", Metadata={"m": "1"}
    )
    upload_id = upload["UploadId"]
    etags = []
    for number, data in enumerate(parts, 1):
        resp = s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=number, Body=data
        )
        assert resp["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        etags.append(resp["ETag"])
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2, 3]
    assert [p["Size"] for p in listed["Parts"]] == [len(p) for p in parts]
    uploads = s3.list_multipart_uploads(Bucket=bucket)
    assert [u["UploadId"] for u in uploads["Uploads"]] == [upload_id]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
    )
    assert done["ETag"] == multipart_etag(parts)
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == b"".join(parts)
    assert got["ETag"] == multipart_etag(parts)
    assert got["ContentType"] == "text/mp"
    assert got["Metadata"] == {"m": "1"}
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    # partNumber reads one part; ranges cross part boundaries.
    part2 = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert part2["Body"].read() == parts[1]
    assert part2["PartsCount"] == 3
    whole = b"".join(parts)
    crossing = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MiB - 10}-{5 * MiB + 9}")
    assert crossing["Body"].read() == whole[5 * MiB - 10 : 5 * MiB + 10]


def test_complete_with_subset_and_reuploaded_part(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="sub")["UploadId"]
    first = os.urandom(5 * MiB)
    s3.upload_part(
        Bucket=bucket, Key="sub", UploadId=upload_id, PartNumber=1, Body=os.urandom(5 * MiB)
    )
    e1 = s3.upload_part(Bucket=bucket, Key="sub", UploadId=upload_id, PartNumber=1, Body=first)[
        "ETag"
    ]
    s3.upload_part(Bucket=bucket, Key="sub", UploadId=upload_id, PartNumber=2, Body=b"unused")
    e3 = s3.upload_part(Bucket=bucket, Key="sub", UploadId=upload_id, PartNumber=3, Body=b"last")[
        "ETag"
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="sub",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e3}]},
    )
    assert s3.get_object(Bucket=bucket, Key="sub")["Body"].read() == first + b"last"


def test_complete_errors(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="err")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="err", UploadId=upload_id, PartNumber=1, Body=b"small")[
        "ETag"
    ]
    e2 = s3.upload_part(Bucket=bucket, Key="err", UploadId=upload_id, PartNumber=2, Body=b"tail")[
        "ETag"
    ]
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="err",
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]
            },
        )
    assert code(info.value) == "EntityTooSmall"
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="err",
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]
            },
        )
    assert code(info.value) == "InvalidPartOrder"
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="err",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0000"'}]},
        )
    assert code(info.value) == "InvalidPart"
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="err",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 7, "ETag": e1}]},
        )
    assert code(info.value) == "InvalidPart"
    # A single small part is a valid object.
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="err",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]},
    )
    assert s3.get_object(Bucket=bucket, Key="err")["Body"].read() == b"small"


def test_abort_and_no_such_upload(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="ab")["UploadId"]
    s3.upload_part(
        Bucket=bucket, Key="ab", UploadId=upload_id, PartNumber=1, Body=os.urandom(300000)
    )
    s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=upload_id)
    with pytest.raises(ClientError) as info:
        s3.list_parts(Bucket=bucket, Key="ab", UploadId=upload_id)
    assert code(info.value) == "NoSuchUpload"
    with pytest.raises(ClientError) as info:
        s3.upload_part(Bucket=bucket, Key="ab", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert code(info.value) == "NoSuchUpload"
    with pytest.raises(ClientError) as info:
        s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId="bogus")
    assert code(info.value) == "NoSuchUpload"


def test_upload_part_copy_with_range(s3: Any, bucket: str) -> None:
    source = os.urandom(7 * MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    p1 = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )["CopyPartResult"]["ETag"]
    p2 = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange="bytes=100-199",
    )["CopyPartResult"]["ETag"]
    assert p2 == f'"{hashlib.md5(source[100:200]).hexdigest()}"'
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1}, {"PartNumber": 2, "ETag": p2}]},
    )
    got = s3.get_object(Bucket=bucket, Key="assembled")["Body"].read()
    assert got == source[: 5 * MiB] + source[100:200]
    with pytest.raises(ClientError) as info:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="assembled2",
            UploadId=s3.create_multipart_upload(Bucket=bucket, Key="assembled2")["UploadId"],
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "source"},
            CopySourceRange=f"bytes=0-{len(source)}",
        )
    assert code(info.value) == "InvalidRange"


def test_list_multipart_uploads_prefix_and_delimiter(s3: Any, bucket: str) -> None:
    ids = {}
    for key in ["x/1", "x/2", "y/1", "z"]:
        ids[key] = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=bucket, Prefix="x/")
    assert sorted(u["Key"] for u in listed["Uploads"]) == ["x/1", "x/2"]
    rolled = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["x/", "y/"]
    assert [u["Key"] for u in rolled["Uploads"]] == ["z"]
    for key, upload_id in ids.items():
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def test_delete_bucket_with_pending_upload(s3: Any) -> None:
    name = "pending-upload-bucket"
    s3.create_bucket(Bucket=name)
    s3.create_multipart_upload(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
