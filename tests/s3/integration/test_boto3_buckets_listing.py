"""Buckets and listings through boto3 against a real server process."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from botocore.exceptions import ClientError

_names = itertools.count()


def code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def test_bucket_lifecycle(s3: Any) -> None:
    name = f"lifecycle-{next(_names)}"
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket=name)
    assert code(info.value) == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket=name, Key="x", Body=b"1")
    with pytest.raises(ClientError) as info:
        s3.delete_bucket(Bucket=name)
    assert code(info.value) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="x")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as info:
        s3.head_bucket(Bucket=name)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as info:
        s3.delete_bucket(Bucket=name)
    assert code(info.value) == "NoSuchBucket"


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "UPPER", "under_score", "-start", "end-", "a..b", "192.168.1.1", "xn--abc"],
)
def test_invalid_bucket_names(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket=name)
    assert code(info.value) == "InvalidBucketName"


def test_bucket_location_and_versioning(s3: Any, bucket: str) -> None:
    assert s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") in (None, "")
    versioning = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in versioning


def test_create_bucket_with_location(s3: Any) -> None:
    name = f"located-{next(_names)}"
    with pytest.raises(ClientError):
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})


def _put_keys(s3: Any, bucket: str, keys: list[str]) -> None:
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())


def test_list_v2_delimiter_and_prefixes(s3: Any, bucket: str) -> None:
    keys = ["a-c", "a/b/1", "a/b/2", "a/c", "a0", "b/x", "top"]
    _put_keys(s3, bucket, keys)
    everything = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in everything["Contents"]] == sorted(keys)
    assert everything["KeyCount"] == len(keys)
    rolled = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in rolled["Contents"]] == ["a-c", "a0", "top"]
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "b/"]
    inner = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in inner["Contents"]] == ["a/c"]
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["a/b/"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="a/b/1")
    assert after["Contents"][0]["Key"] == "a/b/2"


def test_list_v2_pagination_with_prefixes(s3: Any, bucket: str) -> None:
    keys = [f"p{i:02d}/k" for i in range(7)] + [f"k{i:02d}" for i in range(6)]
    _put_keys(s3, bucket, keys)
    seen_keys: list[str] = []
    seen_prefixes: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "Delimiter": "/", "MaxKeys": 4}
    pages = 0
    while True:
        page = s3.list_objects_v2(**kwargs)
        pages += 1
        seen_keys += [o["Key"] for o in page.get("Contents", [])]
        seen_prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        assert page["KeyCount"] <= 4
        if not page["IsTruncated"]:
            break
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    assert seen_keys == [f"k{i:02d}" for i in range(6)]
    assert seen_prefixes == [f"p{i:02d}/" for i in range(7)]
    assert pages == 4


def test_list_v1_markers(s3: Any, bucket: str) -> None:
    keys = [f"d{i}/x" for i in range(3)] + ["e1", "e2", "e3"]
    _put_keys(s3, bucket, keys)
    first = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert first["IsTruncated"] is True
    assert [p["Prefix"] for p in first["CommonPrefixes"]] == ["d0/", "d1/"]
    assert first["NextMarker"] == "d1/"
    second = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=10, Marker=first["NextMarker"])
    assert [p["Prefix"] for p in second["CommonPrefixes"]] == ["d2/"]
    assert [o["Key"] for o in second["Contents"]] == ["e1", "e2", "e3"]
    assert "Owner" in second["Contents"][0]
    plain = s3.list_objects(Bucket=bucket, MaxKeys=2)
    assert plain["IsTruncated"] is True
    rest = s3.list_objects(Bucket=bucket, Marker=plain["Contents"][-1]["Key"])
    assert len(plain["Contents"]) + len(rest["Contents"]) == len(keys)


def test_list_paginator_and_fetch_owner(s3: Any, bucket: str) -> None:
    keys = [f"key-{i:03d}" for i in range(25)]
    _put_keys(s3, bucket, keys)
    paginator = s3.get_paginator("list_objects_v2")
    listed = [
        o["Key"]
        for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 7})
        for o in page.get("Contents", [])
    ]
    assert listed == keys
    owned = s3.list_objects_v2(Bucket=bucket, FetchOwner=True, MaxKeys=1)
    assert "ID" in owned["Contents"][0]["Owner"]
    assert "Owner" not in s3.list_objects_v2(Bucket=bucket, MaxKeys=1)["Contents"][0]


def test_list_url_encoding(s3: Any, bucket: str) -> None:
    key = "sp ace/ünï+&<>"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    # boto3 asks for encoding-type=url by default and decodes the answer.
    listed = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == [key]
    listed_v1 = s3.list_objects(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in listed_v1["CommonPrefixes"]] == ["sp ace/"]


def test_max_keys_zero(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="x", Body=b"x")
    page = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert page["KeyCount"] == 0
    assert "Contents" not in page


def test_list_object_versions_unversioned(s3: Any, bucket: str) -> None:
    _put_keys(s3, bucket, ["v1", "v2"])
    versions = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == [
        ("v1", "null", True),
        ("v2", "null", True),
    ]
    s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions["Versions"]
            ]
        },
    )
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_list_missing_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as info:
        s3.list_objects_v2(Bucket="does-not-exist-bucket")
    assert code(info.value) == "NoSuchBucket"


def test_unconfigured_bucket_features(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as info:
        s3.get_bucket_policy(Bucket=bucket)
    assert code(info.value) == "NoSuchBucketPolicy"
    with pytest.raises(ClientError) as info:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(info.value) == "NoSuchTagSet"
    with pytest.raises(ClientError) as info:
        s3.get_bucket_encryption(Bucket=bucket)
    assert code(info.value) == "ServerSideEncryptionConfigurationNotFoundError"
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert acl["Grants"][0]["Permission"] == "FULL_CONTROL"


def test_listing_etags_match_put(s3: Any, bucket: str) -> None:
    """Objects are encrypted by default (SSE-S3): listings still show the content MD5."""
    import hashlib

    put = s3.put_object(Bucket=bucket, Key="etag", Body=b"listed body")
    assert put["ETag"] == f'"{hashlib.md5(b"listed body").hexdigest()}"'
    assert put["ServerSideEncryption"] == "AES256"
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert listed["ETag"] == put["ETag"]
    assert listed["Size"] == len(b"listed body")
    assert s3.list_objects(Bucket=bucket)["Contents"][0]["ETag"] == put["ETag"]
    assert s3.list_object_versions(Bucket=bucket)["Versions"][0]["ETag"] == put["ETag"]
