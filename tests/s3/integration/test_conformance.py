"""Corners that S3 conformance suites (ceph s3-tests, MinIO mint) and real clients check, where
the server once differed from AWS S3 or MinIO. Each test names the behaviour it pins down."""

from __future__ import annotations

import http.client
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def status(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def signed_get(server: S3Server, path: str) -> tuple[int, bytes]:
    """A SigV4-signed GET with exactly the query given (no client-side defaults)."""
    url = f"{server.endpoint}{path}"
    request = AWSRequest(method="GET", url=url)
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", path, headers=dict(request.headers.items()))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# -- listing --


@pytest.mark.parametrize("delimiter", ["", "/"])
def test_list_v1_max_keys_zero_is_empty_and_not_truncated(
    s3: Any, bucket: str, delimiter: str
) -> None:
    for key in ("bar", "baz", "foo/x"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    got = s3.list_objects(Bucket=bucket, MaxKeys=0, Delimiter=delimiter)
    assert got["IsTruncated"] is False
    assert "Contents" not in got
    assert "CommonPrefixes" not in got
    assert "NextMarker" not in got
    assert got["MaxKeys"] == 0


def test_list_v2_max_keys_zero_is_empty_and_not_truncated(s3: Any, bucket: str) -> None:
    for key in ("bar", "baz", "quxx"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    got = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert got["IsTruncated"] is False
    assert got["KeyCount"] == 0
    assert "Contents" not in got
    assert "NextContinuationToken" not in got


def test_listing_without_url_encoding_stays_parseable_xml(
    server: S3Server, s3: Any, bucket: str
) -> None:
    """A key with CR must not come back as LF, and a control character must not make the whole
    listing unparseable, when the client does not ask for encoding-type=url (s3cmd, curl)."""
    keys = ["a\rb", "c\nd", "tab\tx", "ctl\x01z", "e&<>\"'f"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    code, body = signed_get(server, f"/{bucket}?list-type=2")
    assert code == 200
    root = ET.fromstring(body)  # well-formed XML 1.0
    listed = {e.text for e in root.iter(NS + "Key")}
    assert {"a\rb", "c\nd", "tab\tx", "e&<>\"'f"} <= listed
    assert "ctl\ufffdz" in listed  # MinIO's rendering of what XML 1.0 cannot carry
    # With encoding-type=url (what boto3 asks for) every key is exact.
    exact = [c["Key"] for c in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(exact) == sorted(keys)


# -- versionId on an unversioned bucket --


def test_delete_with_other_version_id_keeps_the_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="obj", Body=b"keep me")
    s3.delete_object(Bucket=bucket, Key="obj", VersionId=str(uuid.uuid4()))
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"keep me"
    with pytest.raises(ClientError) as exc:
        s3.delete_object(Bucket=bucket, Key="obj", VersionId="not-a-version")
    assert (error_code(exc.value), status(exc.value)) == ("InvalidArgument", 400)
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"keep me"
    # "null" is the object's only version: deleting it deletes the object.
    s3.delete_object(Bucket=bucket, Key="obj", VersionId="null")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="obj")
    assert status(exc.value) == 404


def test_read_other_version_is_no_such_version(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="obj", Body=b"data")
    other = str(uuid.uuid4())
    for call in (s3.get_object, s3.get_object_tagging, s3.get_object_acl):
        with pytest.raises(ClientError) as exc:
            call(Bucket=bucket, Key="obj", VersionId=other)
        assert (error_code(exc.value), status(exc.value)) == ("NoSuchVersion", 404)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="obj", VersionId=other)
    assert status(exc.value) == 404
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="obj", VersionId="bogus")
    assert (error_code(exc.value), status(exc.value)) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="missing", VersionId=other)
    assert error_code(exc.value) == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(
            Bucket=bucket,
            Key="obj",
            VersionId=other,
            Tagging={"TagSet": [{"Key": "k", "Value": "v"}]},
        )
    assert error_code(exc.value) == "NoSuchVersion"
    assert s3.get_object_tagging(Bucket=bucket, Key="obj")["TagSet"] == []
    assert s3.get_object(Bucket=bucket, Key="obj", VersionId="null")["Body"].read() == b"data"


def test_copy_source_version_ids(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"data")
    s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": "null"}
    )
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"data"
    other = str(uuid.uuid4())
    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket=bucket, Key="d2", CopySource={"Bucket": bucket, "Key": "src", "VersionId": other}
        )
    assert (error_code(exc.value), status(exc.value)) == ("NoSuchVersion", 404)
    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket=bucket, Key="d2", CopySource={"Bucket": bucket, "Key": "src", "VersionId": "x"}
        )
    assert (error_code(exc.value), status(exc.value)) == ("InvalidArgument", 400)


def test_delete_objects_with_other_version_ids(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    s3.put_object(Bucket=bucket, Key="b", Body=b"x")
    other = str(uuid.uuid4())
    got = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "a", "VersionId": other},
                {"Key": "b", "VersionId": "bogus"},
            ]
        },
    )
    assert got["Deleted"] == [{"Key": "a", "VersionId": other}]
    assert [(e["Key"], e["Code"]) for e in got["Errors"]] == [("b", "InvalidArgument")]
    assert s3.head_object(Bucket=bucket, Key="a")["ContentLength"] == 1
    assert s3.head_object(Bucket=bucket, Key="b")["ContentLength"] == 1


# -- Signature V2 --


def test_sigv2_bucket_level_requests(server: S3Server, bucket: str) -> None:
    """botocore's V2 signer signs a path-style bucket request as /bucket/ but sends /bucket."""
    v2 = server.client(signature_version="s3")
    v2.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert [c["Key"] for c in v2.list_objects(Bucket=bucket)["Contents"]] == ["k"]
    v2.head_bucket(Bucket=bucket)
    got = v2.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "k"}]})
    assert got["Deleted"] == [{"Key": "k"}]
    kwargs = server.boto3_kwargs() | {"aws_secret_access_key": "not-the-secret"}
    config = Config(signature_version="s3", s3={"addressing_style": "path"})
    wrong = boto3.client("s3", config=config, **kwargs)
    with pytest.raises(ClientError) as exc:
        wrong.list_objects(Bucket=bucket)
    assert error_code(exc.value) == "SignatureDoesNotMatch"


# -- multipart listings --


def test_list_uploads_delimiter_reads_past_rolled_up_uploads(s3: Any, bucket: str) -> None:
    """Uploads rolled into a common prefix must not hide the uploads after it."""
    ids = {k: s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"] for k in ["c", "d"]}
    for n in range(3):
        s3.create_multipart_upload(Bucket=bucket, Key=f"a/{n}")
    first = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", MaxUploads=2)
    assert [p["Prefix"] for p in first["CommonPrefixes"]] == ["a/"]
    assert [u["Key"] for u in first["Uploads"]] == ["c"]
    assert first["IsTruncated"] is True
    assert (first["NextKeyMarker"], first["NextUploadIdMarker"]) == ("c", ids["c"])
    rest = s3.list_multipart_uploads(
        Bucket=bucket,
        Delimiter="/",
        MaxUploads=2,
        KeyMarker=first["NextKeyMarker"],
        UploadIdMarker=first["NextUploadIdMarker"],
    )
    assert [u["Key"] for u in rest["Uploads"]] == ["d"]
    assert "CommonPrefixes" not in rest
    assert rest["IsTruncated"] is False
    # A page that ends on a common prefix continues after everything under it.
    page = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", MaxUploads=1)
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/"]
    assert page["IsTruncated"] is True and page["NextKeyMarker"] == "a/"
    page = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", MaxUploads=1, KeyMarker="a/")
    assert [u["Key"] for u in page["Uploads"]] == ["c"]
    assert "CommonPrefixes" not in page


def test_list_uploads_and_parts_with_zero_maximum(s3: Any, bucket: str) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"x")
    uploads = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=0)
    assert uploads["IsTruncated"] is False
    assert "Uploads" not in uploads
    parts = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload, MaxParts=0)
    assert parts["IsTruncated"] is False
    assert "Parts" not in parts


# -- errors and headers --


def test_bucket_error_resource_is_a_path(server: S3Server) -> None:
    code, body = signed_get(server, "/no-such-bucket-here?location")
    assert code == 404
    root = ET.fromstring(body)
    assert root.findtext("Code") == "NoSuchBucket"
    assert root.findtext("Resource") == "/no-such-bucket-here"


def test_storage_class_validated(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="ia", Body=b"x", StorageClass="STANDARD_IA")
    s3.put_object(Bucket=bucket, Key="rr", Body=b"x", StorageClass="REDUCED_REDUNDANCY")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"x", StorageClass="FOO")
    assert (error_code(exc.value), status(exc.value)) == ("InvalidStorageClass", 400)
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="bad", StorageClass="FOO")
    assert error_code(exc.value) == "InvalidStorageClass"


# -- Object Lock (not supported: refused, never silently ignored) --


def test_object_lock_is_refused_not_ignored(s3: Any, bucket: str) -> None:
    name = f"lock-{uuid.uuid4().hex[:12]}"
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    assert (error_code(exc.value), status(exc.value)) == ("NotImplemented", 501)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert status(exc.value) == 404
    with pytest.raises(ClientError) as exc:
        s3.put_object_lock_configuration(
            Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
        )
    assert (error_code(exc.value), status(exc.value)) == ("InvalidBucketState", 409)
    with pytest.raises(ClientError) as exc:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert error_code(exc.value) == "ObjectLockConfigurationNotFoundError"


def test_retention_and_legal_hold_on_bucket_without_object_lock(s3: Any, bucket: str) -> None:
    """ceph s3-tests' *_invalid_bucket cases: 400 InvalidRequest."""
    s3.put_object(Bucket=bucket, Key="obj", Body=b"abc")
    until = datetime(2030, 1, 1, tzinfo=UTC)
    calls = [
        (s3.put_object_retention, {"Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": until}}),
        (s3.get_object_retention, {}),
        (s3.put_object_legal_hold, {"LegalHold": {"Status": "ON"}}),
        (s3.get_object_legal_hold, {}),
    ]
    for call, extra in calls:
        with pytest.raises(ClientError) as exc:
            call(Bucket=bucket, Key="obj", **extra)
        assert (error_code(exc.value), status(exc.value)) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as exc:
        s3.put_object(
            Bucket=bucket,
            Key="locked",
            Body=b"x",
            ObjectLockMode="GOVERNANCE",
            ObjectLockRetainUntilDate=until,
        )
    assert (error_code(exc.value), status(exc.value)) == ("InvalidRequest", 400)
    with pytest.raises(ClientError) as exc:
        s3.create_multipart_upload(Bucket=bucket, Key="locked", ObjectLockLegalHoldStatus="ON")
    assert error_code(exc.value) == "InvalidRequest"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket=bucket,
            Key="locked",
            CopySource={"Bucket": bucket, "Key": "obj"},
            ObjectLockLegalHoldStatus="ON",
        )
    assert error_code(exc.value) == "InvalidRequest"
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["obj"]
