"""Server-side encryption corners that ceph s3-tests, MinIO mint and AWS's recorded answers
check, where the server once differed. Each test names the behaviour it pins down."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.support.s3server import S3Server

MiB = 1024 * 1024
MASTER_KEY_NAME = "conformance-key"
_names = itertools.count()


def code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def status(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def message(exc: ClientError) -> str:
    return str(exc.response["Error"]["Message"])


def ssec(key: bytes) -> dict[str, str]:
    """SSE-C parameters with the key and MD5 already encoded (botocore then sends them as is)."""
    return {
        "SSECustomerAlgorithm": "AES256",
        "SSECustomerKey": base64.b64encode(key).decode(),
        "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode(),
    }


@pytest.fixture(scope="module")
def kms_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("sse-conformance")
    secret = base64.b64encode(os.urandom(32)).decode()
    env = {"MINIO_KMS_SECRET_KEY": f"{MASTER_KEY_NAME}:{secret}"}
    with S3Server(root / "data", tls=True, env=env) as server:
        yield server


@pytest.fixture
def client(kms_server: S3Server) -> Any:
    return kms_server.client()


@pytest.fixture
def bkt(client: Any) -> str:
    name = f"ssec-conf-{next(_names)}"
    client.create_bucket(Bucket=name)
    return name


# -- SSE-C key validation --


def test_malformed_sse_c_key_is_400_invalid_argument(client: Any, bkt: str) -> None:
    """A key that is not 32 bytes (with a matching MD5) is AWS's 400 InvalidArgument 'The secret
    key was invalid for the specified algorithm.', not 403 (MinIO's answer, spec §1.10)."""
    short = os.urandom(10)
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=bkt, Key="k", Body=b"x", **ssec(short))
    assert (status(info.value), code(info.value)) == (400, "InvalidArgument")
    assert message(info.value) == "The secret key was invalid for the specified algorithm."
    with pytest.raises(ClientError) as info:
        client.put_object(
            Bucket=bkt,
            Key="k",
            Body=b"x",
            SSECustomerAlgorithm="AES256",
            SSECustomerKey="not base64!",
            SSECustomerKeyMD5="AAAAAAAAAAAAAAAAAAAAAA==",
        )
    assert (status(info.value), code(info.value)) == (400, "InvalidArgument")


def test_sse_c_md5_is_checked_before_the_key_length(client: Any, bkt: str) -> None:
    """AWS checks the MD5 first: a 24-byte key with a wrong MD5 is the MD5 error."""
    params = ssec(os.urandom(24))
    params["SSECustomerKeyMD5"] = base64.b64encode(b"\0" * 16).decode()
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=bkt, Key="k", Body=b"x", **params)
    assert code(info.value) == "InvalidArgument"
    assert "MD5" in message(info.value)


# -- SSE-C multipart --


def _ssec_upload(client: Any, bucket: str, key: str, customer: bytes, **extra: Any) -> str:
    return str(
        client.create_multipart_upload(Bucket=bucket, Key=key, **ssec(customer), **extra)[
            "UploadId"
        ]
    )


@pytest.mark.parametrize("sse", ["none", "AES256"])
def test_sse_c_part_of_an_upload_without_sse_c_is_refused(client: Any, bkt: str, sse: str) -> None:
    """An UploadPart with SSE-C headers on an upload initiated without SSE-C is AWS's 400
    InvalidRequest: it was stored silently under another encryption than the client asked."""
    extra = {} if sse == "none" else {"ServerSideEncryption": sse}
    upload_id = client.create_multipart_upload(Bucket=bkt, Key="m", **extra)["UploadId"]
    with pytest.raises(ClientError) as info:
        client.upload_part(
            Bucket=bkt, Key="m", UploadId=upload_id, PartNumber=1, Body=b"x", **ssec(os.urandom(32))
        )
    assert (status(info.value), code(info.value)) == (400, "InvalidRequest")
    client.put_object(Bucket=bkt, Key="src", Body=b"y" * 10)
    with pytest.raises(ClientError) as info:
        client.upload_part_copy(
            Bucket=bkt,
            Key="m",
            UploadId=upload_id,
            PartNumber=1,
            CopySource={"Bucket": bkt, "Key": "src"},
            **ssec(os.urandom(32)),
        )
    assert (status(info.value), code(info.value)) == (400, "InvalidRequest")
    assert client.list_parts(Bucket=bkt, Key="m", UploadId=upload_id).get("Parts", []) == []


def test_sse_c_complete_with_checksums_needs_the_key(client: Any, bkt: str) -> None:
    """An SSE-C upload with a checksum algorithm needs the key on Complete: without it 400
    InvalidArgument (MinIO's missing-key error, ceph test_multipart_sse_c_checksum_complete);
    with a wrong one 403; with the right one it completes."""
    customer = os.urandom(32)
    upload_id = _ssec_upload(client, bkt, "m", customer, ChecksumAlgorithm="SHA256")
    part = client.upload_part(
        Bucket=bkt,
        Key="m",
        UploadId=upload_id,
        PartNumber=1,
        Body=b"z" * 100,
        ChecksumAlgorithm="SHA256",
        **ssec(customer),
    )
    parts = {
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]}]
    }
    with pytest.raises(ClientError) as info:
        client.complete_multipart_upload(
            Bucket=bkt, Key="m", UploadId=upload_id, MultipartUpload=parts
        )
    assert (status(info.value), code(info.value)) == (400, "InvalidArgument")
    with pytest.raises(ClientError) as info:
        client.complete_multipart_upload(
            Bucket=bkt, Key="m", UploadId=upload_id, MultipartUpload=parts, **ssec(os.urandom(32))
        )
    assert status(info.value) == 403
    done = client.complete_multipart_upload(
        Bucket=bkt, Key="m", UploadId=upload_id, MultipartUpload=parts, **ssec(customer)
    )
    assert done["ETag"].endswith('-1"')
    got = client.get_object(Bucket=bkt, Key="m", **ssec(customer))
    assert got["Body"].read() == b"z" * 100


def test_sse_c_complete_verifies_a_key_it_is_given(client: Any, bkt: str) -> None:
    """Without checksums Complete needs no key (AWS, LocalStack), but a wrong one is refused."""
    customer = os.urandom(32)
    upload_id = _ssec_upload(client, bkt, "m", customer)
    part = client.upload_part(
        Bucket=bkt, Key="m", UploadId=upload_id, PartNumber=1, Body=b"q" * 10, **ssec(customer)
    )
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    with pytest.raises(ClientError) as info:
        client.complete_multipart_upload(
            Bucket=bkt, Key="m", UploadId=upload_id, MultipartUpload=parts, **ssec(os.urandom(32))
        )
    assert status(info.value) == 403
    client.complete_multipart_upload(Bucket=bkt, Key="m", UploadId=upload_id, MultipartUpload=parts)
    head = client.head_object(Bucket=bkt, Key="m", **ssec(customer))
    assert head["ContentLength"] == 10
    assert head["ETag"] == client.list_objects_v2(Bucket=bkt)["Contents"][0]["ETag"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"ServerSideEncryption": "AES256"}, {"ServerSideEncryption": "AES256"}),
        (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": MASTER_KEY_NAME},
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": f"arn:aws:kms:{MASTER_KEY_NAME}"},
        ),
    ],
)
def test_complete_names_the_encryption(
    client: Any, bkt: str, params: dict[str, str], expected: dict[str, str]
) -> None:
    """CompleteMultipartUpload returns x-amz-server-side-encryption (and the KMS key id) as AWS
    does; MinIO leaves them out, and SDKs then report the object as unencrypted."""
    upload_id = client.create_multipart_upload(Bucket=bkt, Key="m", **params)["UploadId"]
    part = client.upload_part(Bucket=bkt, Key="m", UploadId=upload_id, PartNumber=1, Body=b"p")
    done = client.complete_multipart_upload(
        Bucket=bkt,
        Key="m",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert {k: done.get(k) for k in expected} == expected
    head = client.head_object(Bucket=bkt, Key="m")
    assert {k: head.get(k) for k in expected} == expected


# -- bucket default encryption --


def test_bucket_encryption_with_an_unknown_kms_key_is_refused(client: Any, bkt: str) -> None:
    """PutBucketEncryption with an aws:kms key the KMS does not have is 400
    KMS.NotFoundException (MinIO test-generates a data key); it was stored, and then every
    PUT without SSE headers failed."""
    config = {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": "arn:aws:kms:no-such-key",
                }
            }
        ]
    }
    with pytest.raises(ClientError) as info:
        client.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration=config)
    assert (status(info.value), code(info.value)) == (400, "KMS.NotFoundException")
    with pytest.raises(ClientError) as info:
        client.get_bucket_encryption(Bucket=bkt)
    assert code(info.value) == "ServerSideEncryptionConfigurationNotFoundError"
    put = client.put_object(Bucket=bkt, Key="plain", Body=b"x")
    assert "ServerSideEncryption" not in put
    config["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = MASTER_KEY_NAME
    client.put_bucket_encryption(Bucket=bkt, ServerSideEncryptionConfiguration=config)
    put = client.put_object(Bucket=bkt, Key="kms", Body=b"x")
    assert put["SSEKMSKeyId"] == f"arn:aws:kms:{MASTER_KEY_NAME}"


def test_listing_shows_plaintext_sizes_and_client_etags(client: Any, bkt: str) -> None:
    """Every SSE mode lists the plaintext size and the ETag PUT/HEAD returned; SSE-S3 single-part
    ETags are the content MD5, multipart ETags end in -N."""
    customer = os.urandom(32)
    body = os.urandom(70_000)  # more than one 64 KiB DARE package
    puts = {
        "s3": client.put_object(Bucket=bkt, Key="s3", Body=body, ServerSideEncryption="AES256"),
        "kms": client.put_object(Bucket=bkt, Key="kms", Body=body, ServerSideEncryption="aws:kms"),
        "c": client.put_object(Bucket=bkt, Key="c", Body=body, **ssec(customer)),
    }
    assert puts["s3"]["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    listed = {o["Key"]: o for o in client.list_objects_v2(Bucket=bkt)["Contents"]}
    for key, put in puts.items():
        assert listed[key]["Size"] == len(body)
        assert listed[key]["ETag"] == put["ETag"]
    v1 = {o["Key"]: o for o in client.list_objects(Bucket=bkt)["Contents"]}
    assert {k: (o["Size"], o["ETag"]) for k, o in v1.items()} == {
        k: (o["Size"], o["ETag"]) for k, o in listed.items()
    }
