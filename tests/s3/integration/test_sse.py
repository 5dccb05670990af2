"""Server-side encryption end to end: boto3 over HTTPS against a real server process."""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ResponseStreamingError
from tests.support.s3server import S3Server

MiB = 1024 * 1024
MASTER_KEY_NAME = "my-minio-key"
MASTER_KEY = bytes(range(32))
_names = itertools.count()


def code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def status(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def ssec(key: bytes, *, copy: bool = False) -> dict[str, str]:
    prefix = "CopySource" if copy else ""
    return {
        f"{prefix}SSECustomerAlgorithm": "AES256",
        f"{prefix}SSECustomerKey": base64.b64encode(key).decode(),
        f"{prefix}SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode(),
    }


@pytest.fixture(scope="module")
def kms_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """HTTPS, a static master key from the environment, auto-encryption off."""
    root = tmp_path_factory.mktemp("sse")
    env = {"MINIO_KMS_SECRET_KEY": f"{MASTER_KEY_NAME}:{base64.b64encode(MASTER_KEY).decode()}"}
    with S3Server(root / "data", tls=True, env=env) as server:
        yield server


@pytest.fixture
def client(kms_server: S3Server) -> Any:
    # boto3 sends SSE-C keys as raw base64 via its own parameter handling.
    return kms_server.client()


@pytest.fixture
def bkt(client: Any) -> str:
    name = f"sse-{next(_names)}"
    client.create_bucket(Bucket=name)
    return name


def put_ssec(client: Any, bucket: str, key: str, body: bytes, customer: bytes) -> Any:
    return client.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        SSECustomerAlgorithm="AES256",
        SSECustomerKey=customer,
    )


def test_plain_when_auto_encryption_off(client: Any, bkt: str) -> None:
    put = client.put_object(Bucket=bkt, Key="plain", Body=b"x")
    assert "ServerSideEncryption" not in put
    assert "ServerSideEncryption" not in client.head_object(Bucket=bkt, Key="plain")


def test_sse_s3(client: Any, bkt: str) -> None:
    body = os.urandom(200_000)
    put = client.put_object(Bucket=bkt, Key="s3", Body=body, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = client.get_object(Bucket=bkt, Key="s3")
    assert got["Body"].read() == body
    assert got["ServerSideEncryption"] == "AES256"
    assert got["ContentLength"] == len(body)
    head = client.head_object(Bucket=bkt, Key="s3")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ETag"] == put["ETag"]
    ranged = client.get_object(Bucket=bkt, Key="s3", Range="bytes=65530-131080")
    assert ranged["Body"].read() == body[65530:131081]


def test_sse_kms_key_and_context(client: Any, bkt: str) -> None:
    context = base64.b64encode(b'{"purpose":"test","<&>":"x"}').decode()
    put = client.put_object(
        Bucket=bkt,
        Key="kms",
        Body=b"kms body",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=MASTER_KEY_NAME,
        SSEKMSEncryptionContext=context,
    )
    assert put["ServerSideEncryption"] == "aws:kms"
    assert put["SSEKMSKeyId"] == f"arn:aws:kms:{MASTER_KEY_NAME}"
    got = client.get_object(Bucket=bkt, Key="kms")
    assert got["Body"].read() == b"kms body"
    assert got["SSEKMSKeyId"] == f"arn:aws:kms:{MASTER_KEY_NAME}"
    assert got["ETag"] == put["ETag"]
    listed = client.list_objects_v2(Bucket=bkt)["Contents"][0]
    assert listed["ETag"] == put["ETag"]
    assert listed["Size"] == len(b"kms body")


def test_sse_kms_unknown_key(client: Any, bkt: str) -> None:
    with pytest.raises(ClientError) as info:
        client.put_object(
            Bucket=bkt, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId="nope"
        )
    assert code(info.value) == "KMS.NotFoundException"
    with pytest.raises(ClientError):
        client.head_object(Bucket=bkt, Key="k")


def test_sse_c_roundtrip_and_errors(client: Any, bkt: str) -> None:
    key = os.urandom(32)
    body = os.urandom(100_000)
    put = put_ssec(client, bkt, "c", body, key)
    assert put["SSECustomerAlgorithm"] == "AES256"
    assert put["SSECustomerKeyMD5"] == base64.b64encode(hashlib.md5(key).digest()).decode()
    got = client.get_object(Bucket=bkt, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=key)
    assert got["Body"].read() == body
    assert got["SSECustomerKeyMD5"] == put["SSECustomerKeyMD5"]
    ranged = client.get_object(
        Bucket=bkt,
        Key="c",
        SSECustomerAlgorithm="AES256",
        SSECustomerKey=key,
        Range="bytes=500-999",
    )
    assert ranged["Body"].read() == body[500:1000]
    with pytest.raises(ClientError) as info:
        client.get_object(Bucket=bkt, Key="c")
    assert (status(info.value), code(info.value)) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as info:
        client.get_object(
            Bucket=bkt, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32)
        )
    assert (status(info.value), code(info.value)) == (403, "AccessDenied")
    with pytest.raises(ClientError) as info:
        client.head_object(Bucket=bkt, Key="c")
    assert status(info.value) == 400
    head = client.head_object(
        Bucket=bkt, Key="c", SSECustomerAlgorithm="AES256", SSECustomerKey=key
    )
    assert head["ContentLength"] == len(body)


def test_sse_c_headers_on_plain_object(client: Any, bkt: str) -> None:
    client.put_object(Bucket=bkt, Key="p", Body=b"x")
    with pytest.raises(ClientError) as info:
        client.get_object(
            Bucket=bkt, Key="p", SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32)
        )
    assert code(info.value) == "InvalidRequest"


def test_sse_headers_on_get_rejected(client: Any, bkt: str) -> None:
    import http.client
    import ssl

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from tests.support.s3server import ACCESS_KEY, SECRET_KEY

    client.put_object(Bucket=bkt, Key="g", Body=b"x", ServerSideEncryption="AES256")
    server = client.meta.endpoint_url
    request = AWSRequest(
        method="GET", url=f"{server}/{bkt}/g", headers={"x-amz-server-side-encryption": "AES256"}
    )
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    host, port = server.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=client.meta.config.__dict__.get("_verify") or None)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
    try:
        conn.request("GET", f"/{bkt}/g", headers=dict(request.headers.items()))
        response = conn.getresponse()
        assert response.status == 400
        response.read()
    finally:
        conn.close()


def test_conflicting_sse_headers(client: Any, bkt: str) -> None:
    with pytest.raises(ClientError) as info:
        client.put_object(
            Bucket=bkt,
            Key="both",
            Body=b"x",
            ServerSideEncryption="AES256",
            SSECustomerAlgorithm="AES256",
            SSECustomerKey=os.urandom(32),
        )
    assert code(info.value) == "InvalidArgument"


MODES = ["plain", "sse-s3", "sse-kms", "sse-c"]
SOURCE_KEY = os.urandom(32)
DEST_KEY = os.urandom(32)


def _put_args(mode: str, customer: bytes) -> dict[str, Any]:
    if mode == "sse-s3":
        return {"ServerSideEncryption": "AES256"}
    if mode == "sse-kms":
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": MASTER_KEY_NAME}
    if mode == "sse-c":
        return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": customer}
    return {}


def _get_args(mode: str, customer: bytes) -> dict[str, Any]:
    if mode == "sse-c":
        return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": customer}
    return {}


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(MODES, MODES)))
def test_copy_matrix(client: Any, bkt: str, src: str, dst: str) -> None:
    body = os.urandom(150_000)
    client.put_object(Bucket=bkt, Key="src", Body=body, **_put_args(src, SOURCE_KEY))
    copy_args: dict[str, Any] = dict(_put_args(dst, DEST_KEY))
    if src == "sse-c":
        copy_args.update(
            CopySourceSSECustomerAlgorithm="AES256", CopySourceSSECustomerKey=SOURCE_KEY
        )
    client.copy_object(Bucket=bkt, Key="dst", CopySource={"Bucket": bkt, "Key": "src"}, **copy_args)
    got = client.get_object(Bucket=bkt, Key="dst", **_get_args(dst, DEST_KEY))
    assert got["Body"].read() == body
    expected = {"plain": None, "sse-s3": "AES256", "sse-kms": "aws:kms", "sse-c": None}[dst]
    assert got.get("ServerSideEncryption") == expected
    if dst == "sse-c":
        assert got["SSECustomerAlgorithm"] == "AES256"


def test_copy_from_sse_c_without_source_key(client: Any, bkt: str) -> None:
    put_ssec(client, bkt, "locked", b"secret", SOURCE_KEY)
    with pytest.raises(ClientError) as info:
        client.copy_object(Bucket=bkt, Key="other", CopySource={"Bucket": bkt, "Key": "locked"})
    assert code(info.value) == "InvalidArgument"


def data_files(server: S3Server) -> dict[str, bytes]:
    root = server.data_dir / ".strongroom.sys" / "data"
    return {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_sse_c_key_rotation_rewrites_only_metadata(
    client: Any, kms_server: S3Server, bkt: str
) -> None:
    body = os.urandom(300_000)  # large enough to live in a data file
    old, new = os.urandom(32), os.urandom(32)
    put_ssec(client, bkt, "rotate", body, old)
    before = data_files(kms_server)
    client.copy_object(
        Bucket=bkt,
        Key="rotate",
        CopySource={"Bucket": bkt, "Key": "rotate"},
        SSECustomerAlgorithm="AES256",
        SSECustomerKey=new,
        CopySourceSSECustomerAlgorithm="AES256",
        CopySourceSSECustomerKey=old,
    )
    assert data_files(kms_server) == before
    got = client.get_object(
        Bucket=bkt, Key="rotate", SSECustomerAlgorithm="AES256", SSECustomerKey=new
    )
    assert got["Body"].read() == body
    with pytest.raises(ClientError) as info:
        client.get_object(
            Bucket=bkt, Key="rotate", SSECustomerAlgorithm="AES256", SSECustomerKey=old
        )
    assert status(info.value) == 403


@pytest.mark.parametrize("mode", ["sse-s3", "sse-kms", "sse-c"])
def test_multipart_encrypted(client: Any, bkt: str, mode: str) -> None:
    customer = os.urandom(32)
    args = _put_args(mode, customer)
    part_args = _get_args(mode, customer)
    upload_id = client.create_multipart_upload(Bucket=bkt, Key="mp", **args)["UploadId"]
    parts = [os.urandom(5 * MiB + 3), os.urandom(70_000)]
    etags = []
    for number, data in enumerate(parts, 1):
        response = client.upload_part(
            Bucket=bkt, Key="mp", UploadId=upload_id, PartNumber=number, Body=data, **part_args
        )
        etags.append(response["ETag"])
        if mode == "sse-s3":
            assert response["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    # re-uploading a part gets a fresh nonce; the second upload wins
    response = client.upload_part(
        Bucket=bkt, Key="mp", UploadId=upload_id, PartNumber=2, Body=parts[1], **part_args
    )
    etags[1] = response["ETag"]
    listed = client.list_parts(Bucket=bkt, Key="mp", UploadId=upload_id)["Parts"]
    assert [p["ETag"] for p in listed] == etags
    assert [p["Size"] for p in listed] == [len(p) for p in parts]
    client.complete_multipart_upload(
        Bucket=bkt,
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]},
    )
    whole = b"".join(parts)
    got = client.get_object(Bucket=bkt, Key="mp", **part_args)
    assert got["Body"].read() == whole
    assert got["ContentLength"] == len(whole)
    start = 5 * MiB - 100
    ranged = client.get_object(
        Bucket=bkt, Key="mp", Range=f"bytes={start}-{start + 199}", **part_args
    )
    assert ranged["Body"].read() == whole[start : start + 200]
    part2 = client.get_object(Bucket=bkt, Key="mp", PartNumber=2, **part_args)
    assert part2["Body"].read() == parts[1]
    if mode == "sse-s3":
        digests = b"".join(hashlib.md5(p).digest() for p in parts)
        assert got["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-2"'


def test_multipart_sse_c_part_needs_key(client: Any, bkt: str) -> None:
    customer = os.urandom(32)
    upload_id = client.create_multipart_upload(
        Bucket=bkt, Key="needs", SSECustomerAlgorithm="AES256", SSECustomerKey=customer
    )["UploadId"]
    with pytest.raises(ClientError) as info:
        client.upload_part(Bucket=bkt, Key="needs", UploadId=upload_id, PartNumber=1, Body=b"x")
    assert code(info.value) == "InvalidRequest"
    with pytest.raises(ClientError) as info:
        client.upload_part(
            Bucket=bkt,
            Key="needs",
            UploadId=upload_id,
            PartNumber=1,
            Body=b"x",
            SSECustomerAlgorithm="AES256",
            SSECustomerKey=os.urandom(32),
        )
    assert status(info.value) == 403


def test_upload_part_copy_from_encrypted_sources(client: Any, bkt: str) -> None:
    source = os.urandom(6 * MiB)
    customer = os.urandom(32)
    put_ssec(client, bkt, "csrc", source, customer)
    upload_id = client.create_multipart_upload(
        Bucket=bkt, Key="cdst", ServerSideEncryption="AES256"
    )["UploadId"]
    etag = client.upload_part_copy(
        Bucket=bkt,
        Key="cdst",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bkt, "Key": "csrc"},
        CopySourceRange=f"bytes=0-{5 * MiB}",
        CopySourceSSECustomerAlgorithm="AES256",
        CopySourceSSECustomerKey=customer,
    )["CopyPartResult"]["ETag"]
    client.complete_multipart_upload(
        Bucket=bkt,
        Key="cdst",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert client.get_object(Bucket=bkt, Key="cdst")["Body"].read() == source[: 5 * MiB + 1]


def test_bucket_default_encryption(client: Any, bkt: str) -> None:
    client.put_bucket_encryption(
        Bucket=bkt,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    rules = client.get_bucket_encryption(Bucket=bkt)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert client.put_object(Bucket=bkt, Key="d", Body=b"x")["ServerSideEncryption"] == "AES256"
    # a request's own headers win
    own = client.put_object(
        Bucket=bkt, Key="e", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=MASTER_KEY_NAME
    )
    assert own["ServerSideEncryption"] == "aws:kms"
    client.put_bucket_encryption(
        Bucket=bkt,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": f"arn:aws:kms:{MASTER_KEY_NAME}",
                    }
                }
            ]
        },
    )
    kms = client.put_object(Bucket=bkt, Key="f", Body=b"x")
    assert kms["ServerSideEncryption"] == "aws:kms"
    assert kms["SSEKMSKeyId"] == f"arn:aws:kms:{MASTER_KEY_NAME}"
    client.delete_bucket_encryption(Bucket=bkt)
    with pytest.raises(ClientError) as info:
        client.get_bucket_encryption(Bucket=bkt)
    assert code(info.value) == "ServerSideEncryptionConfigurationNotFoundError"
    assert "ServerSideEncryption" not in client.put_object(Bucket=bkt, Key="g", Body=b"x")


def test_malformed_bucket_encryption(client: Any, bkt: str) -> None:
    with pytest.raises(ClientError) as info:
        client.put_bucket_encryption(
            Bucket=bkt,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "DES"}}]
            },
        )
    assert code(info.value) == "MalformedXML"


def test_ssec_over_http_refused(server: S3Server, bucket: str) -> None:
    s3 = server.client()
    with pytest.raises(ClientError) as info:
        s3.put_object(
            Bucket=bucket,
            Key="x",
            Body=b"x",
            SSECustomerAlgorithm="AES256",
            SSECustomerKey=os.urandom(32),
        )
    assert (status(info.value), code(info.value)) == (400, "InvalidRequest")


def test_no_plaintext_or_customer_key_on_disk(kms_server: S3Server, client: Any) -> None:
    bucket = f"scan-{next(_names)}"
    client.create_bucket(Bucket=bucket)
    marker = b"PLAINTEXT-MARKER-" + os.urandom(8).hex().encode()
    body = marker * 20_000  # ~500 KiB: lives in a data file
    small = marker * 10  # inline in the metadata database
    customer = os.urandom(32)
    for mode in ["sse-s3", "sse-kms", "sse-c"]:
        args = _put_args(mode, customer)
        client.put_object(Bucket=bucket, Key=f"{mode}/big", Body=body, **args)
        client.put_object(Bucket=bucket, Key=f"{mode}/small", Body=small, **args)
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=f"{mode}/mp", **args)[
            "UploadId"
        ]
        etag = client.upload_part(
            Bucket=bucket,
            Key=f"{mode}/mp",
            UploadId=upload_id,
            PartNumber=1,
            Body=body,
            **_get_args(mode, customer),
        )["ETag"]
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=f"{mode}/mp",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
    forbidden = [marker, customer, base64.b64encode(customer), MASTER_KEY]
    for path in kms_server.data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for needle in forbidden:
                assert needle not in content, f"{needle[:12]!r} found in {path}"
    # and everything still reads back
    for mode in ["sse-s3", "sse-kms", "sse-c"]:
        got = client.get_object(Bucket=bucket, Key=f"{mode}/mp", **_get_args(mode, customer))
        assert got["Body"].read() == body


def test_tampered_data_is_never_returned(tmp_path: Path) -> None:
    with S3Server(tmp_path / "data") as server:  # embedded default: SSE-S3 for everything
        s3 = server.client()
        s3.create_bucket(Bucket="tamper")
        body = os.urandom(400_000)
        s3.put_object(Bucket="tamper", Key="t", Body=body)
        (path,) = [
            p for p in (server.data_dir / ".strongroom.sys" / "data").rglob("*") if p.is_file()
        ]
        raw = bytearray(path.read_bytes())
        raw[100] ^= 0x01
        path.write_bytes(bytes(raw))
        with pytest.raises(ClientError) as info:
            s3.get_object(Bucket="tamper", Key="t")["Body"].read()
        assert status(info.value) == 500
        # a range in an untouched later package still decrypts; one covering the damage does not
        assert (
            s3.get_object(Bucket="tamper", Key="t", Range="bytes=200000-200099")["Body"].read()
            == body[200000:200100]
        )
        with pytest.raises(ClientError):
            s3.get_object(Bucket="tamper", Key="t", Range="bytes=0-10")["Body"].read()


def test_damage_late_in_a_large_object_cuts_the_response(tmp_path: Path) -> None:
    """Past the first 1 MiB the body is already streaming: a package that does not
    authenticate must end the connection, so the client never sees a complete response."""
    with S3Server(tmp_path / "data") as server:
        s3 = server.client()
        s3.create_bucket(Bucket="tamper")
        body = os.urandom(3 * MiB)
        s3.put_object(Bucket="tamper", Key="t", Body=body)
        (path,) = [
            p for p in (server.data_dir / ".strongroom.sys" / "data").rglob("*") if p.is_file()
        ]
        raw = bytearray(path.read_bytes())
        raw[len(raw) - 300_000] ^= 0x01  # a package in the last MiB
        path.write_bytes(bytes(raw))
        received = b""
        with pytest.raises(ResponseStreamingError):  # the connection ended early
            response = s3.get_object(Bucket="tamper", Key="t")
            received = response["Body"].read()
        assert received == b""
        # what came before the damage was authentic, and the server still answers
        head = s3.get_object(Bucket="tamper", Key="t", Range="bytes=0-1048575")["Body"].read()
        assert head == body[: 1 << 20]


def test_restart_every_mode_still_decrypts(kms_server: S3Server, client: Any) -> None:
    bucket = f"restart-{next(_names)}"
    client.create_bucket(Bucket=bucket)
    customer = os.urandom(32)
    bodies = {mode: os.urandom(70_000) for mode in MODES}
    for mode, body in bodies.items():
        client.put_object(Bucket=bucket, Key=mode, Body=body, **_put_args(mode, customer))
    kms_server.restart()
    fresh = kms_server.client()
    for mode, body in bodies.items():
        assert (
            fresh.get_object(Bucket=bucket, Key=mode, **_get_args(mode, customer))["Body"].read()
            == body
        )


def test_embedded_default_encrypts_with_local_key(tmp_path: Path) -> None:
    with S3Server(tmp_path / "data") as server:
        s3 = server.client()
        s3.create_bucket(Bucket="auto")
        put = s3.put_object(Bucket="auto", Key="x", Body=b"auto-encrypted body")
        assert put["ServerSideEncryption"] == "AES256"
        key_file = server.data_dir / ".strongroom.sys" / "kms-master-key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        first_key = key_file.read_bytes()
        server.restart()
        assert key_file.read_bytes() == first_key
        assert (
            server.client().get_object(Bucket="auto", Key="x")["Body"].read()
            == b"auto-encrypted body"
        )
        assert "local use" in server.log()
