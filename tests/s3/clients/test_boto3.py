"""boto3 as a client library: checksum modes, managed transfers, presigned URLs, virtual hosts."""

from __future__ import annotations

import base64
import hashlib
import io
import socket
import ssl
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from tests.s3.clients.helpers import MIB, Target, md5_file, unique_bucket
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server

TRANSFER = TransferConfig(
    multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4
)


class Recorder:
    """Records the headers of every request a boto3 client sends."""

    def __init__(self, client: Any) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        client.meta.events.register("before-send.s3.*", self._record)

    def _record(self, request: Any, **_: Any) -> None:
        headers = {
            k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
        }
        self.requests.append((request.method, request.url, headers))

    def last(self, method: str) -> dict[str, str]:
        return next(h for m, _, h in reversed(self.requests) if m == method)


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _client(target: Target, **config: Any) -> Any:
    return target.boto3(**config)


@pytest.fixture
def bucket(target: Target) -> str:
    name = unique_bucket("boto")
    _client(target).create_bucket(Bucket=name)
    return name


def _http(target: Target) -> httpx.Client:
    verify: ssl.SSLContext | bool = True
    if target.ca_path is not None:
        verify = ssl.create_default_context(cafile=str(target.ca_path))
    return httpx.Client(verify=verify, trust_env=False)


# -------------------------------------------------------------------------------- checksums


def test_default_checksums_put_get(target: Target, bucket: str) -> None:
    """boto3's default (`when_supported`): CRC32 on every upload, as an aws-chunked trailer
    with STREAMING-UNSIGNED-PAYLOAD-TRAILER over HTTPS, as a header over HTTP."""
    s3 = _client(target)
    recorder = Recorder(s3)
    data = b"default checksum behaviour " * 1000
    res = s3.put_object(Bucket=bucket, Key="k", Body=io.BytesIO(data))
    assert res["ChecksumCRC32"] == _crc32(data)
    sent = recorder.last("PUT")
    if target.tls:
        assert sent["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
        assert sent["x-amz-trailer"] == "x-amz-checksum-crc32"
        assert "aws-chunked" in sent["content-encoding"]
    else:
        assert sent["x-amz-checksum-crc32"] == _crc32(data)
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["Body"].read() == data  # botocore validates the CRC32 while reading
    assert got["ChecksumCRC32"] == _crc32(data)
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ContentLength"] == len(data)


# Regression test for a server bug, now fixed: PutObject with `Content-Encoding: aws-
# chunked` (boto3's default over HTTPS) stores the framing token as the object's Content-
# Encoding; HEAD/GET then return `Content-Encoding: aws-chunked` (or `gzip,aws-chunked`). S3
# strips `aws-chunked` (objectmeta.from_headers keeps content-encoding verbatim)
@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_aws_chunked_is_not_a_stored_content_encoding(
    https_target: Target, encoding: str | None
) -> None:
    s3 = _client(https_target)
    name = unique_bucket("boto")
    s3.create_bucket(Bucket=name)
    extra = {"ContentEncoding": encoding} if encoding else {}
    s3.put_object(Bucket=name, Key="k", Body=b"framed by the client", **extra)
    head = s3.head_object(Bucket=name, Key="k")
    assert head.get("ContentEncoding") == encoding
    got = s3.get_object(Bucket=name, Key="k")
    assert got.get("ContentEncoding") == encoding


@pytest.mark.parametrize("algorithm", ["CRC32C", "SHA1", "SHA256"])
def test_default_checksums_other_algorithms(target: Target, bucket: str, algorithm: str) -> None:
    s3 = _client(target)
    data = b"x" * 70_000
    s3.put_object(Bucket=bucket, Key=algorithm, Body=data, ChecksumAlgorithm=algorithm)
    got = s3.get_object(Bucket=bucket, Key=algorithm, ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert f"Checksum{algorithm}" in got


def test_when_required_sends_no_checksum(target: Target, bucket: str) -> None:
    s3 = _client(
        target,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    recorder = Recorder(s3)
    data = b"plain body"
    res = s3.put_object(Bucket=bucket, Key="plain", Body=data)
    assert res["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    sent = recorder.last("PUT")
    assert not any(h.startswith("x-amz-checksum-") for h in sent)
    assert "x-amz-trailer" not in sent
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == data
    # DeleteObjects requires a checksum even so (Content-MD5 or a CRC32 header)
    res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "plain"}]})
    assert [d["Key"] for d in res["Deleted"]] == ["plain"]


def test_wrong_trailer_or_header_checksum_is_rejected(target: Target, bucket: str) -> None:
    s3 = _client(target)
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"abc", ChecksumCRC32=_crc32(b"abd"))
    assert info.value.response["Error"]["Code"] in ("BadDigest", "InvalidRequest")
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="bad")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# ------------------------------------------------------------------------ managed transfers


def test_upload_download_file_multipart(
    target: Target, bucket: str, big_file: Path, tmp_path: Path
) -> None:
    s3 = _client(target)
    s3.upload_file(str(big_file), bucket, "big.bin", Config=TRANSFER)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == big_file.stat().st_size
    assert head["ETag"].strip('"').endswith("-4")
    dst = tmp_path / "big.bin"
    s3.download_file(bucket, "big.bin", str(dst), Config=TRANSFER)
    assert md5_file(dst) == md5_file(big_file)
    # GET with partNumber returns exactly one part
    part = s3.get_object(Bucket=bucket, Key="big.bin", PartNumber=2)
    assert part["ContentLength"] == 5 * MIB
    assert part["PartsCount"] == 4
    with big_file.open("rb") as fh:
        fh.seek(5 * MIB)
        assert part["Body"].read() == fh.read(5 * MIB)


# Regression test for a server bug, now fixed: a multipart upload created with x-amz-
# checksum-algorithm CRC32 (boto3's default for upload_file) whose parts and
# CompleteMultipartUpload carry ChecksumCRC32 yields no x-amz-checksum-crc32 on HEAD/GET with
# x-amz-checksum-mode: ENABLED, nor ChecksumCRC32 in the CompleteMultipartUploadResult; S3
# returns the composite `<b64 crc32 of part crc32s>-N` (object_api only returns checksums for
# single-segment objects; complete_upload ignores the per-part checksums)
def test_multipart_composite_checksum(target: Target, bucket: str) -> None:
    s3 = _client(target)
    parts = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"tail"]
    s3.upload_fileobj(io.BytesIO(b"".join(parts)), bucket, "mp", Config=TRANSFER)
    raw = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
    expected = f"{_crc32(raw)}-3"
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32") == expected
    assert head.get("ChecksumType") == "COMPOSITE"
    got = s3.get_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert got.get("ChecksumCRC32") == expected
    assert got["Body"].read() == b"".join(parts)
    # one part asked for by number carries that part's own checksum
    part = s3.get_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED", PartNumber=3)
    assert part["Body"].read() == b"tail"


# Regression test for a server bug, now fixed: CompleteMultipartUpload accepts a
# <ChecksumSHA256> for a part that differs from the checksum the part was uploaded with; S3 and
# MinIO answer 400 InvalidPart (multipart_api.complete_upload compares only PartNumber and ETag)
def test_complete_rejects_wrong_part_checksum(target: Target, bucket: str) -> None:
    s3 = _client(target)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mpc", ChecksumAlgorithm="SHA256")
    part = s3.upload_part(
        Bucket=bucket,
        Key="mpc",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"x" * 10,
        ChecksumAlgorithm="SHA256",
    )
    wrong = base64.b64encode(hashlib.sha256(b"not the part").digest()).decode()
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mpc",
            UploadId=upload["UploadId"],
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumSHA256": wrong}]
            },
        )
    assert info.value.response["Error"]["Code"] == "InvalidPart"


# Regression test for a server bug, now fixed: CopyObject ignores x-amz-checksum-
# algorithm (boto3 ChecksumAlgorithm=SHA256): the CopyObjectResult has no ChecksumSHA256 and the
# copy has no checksum on HEAD with x-amz-checksum-mode; S3/MinIO compute the requested checksum
# of the copy (object_api copy path)
def test_copy_object_with_checksum_algorithm(target: Target, bucket: str) -> None:
    s3 = _client(target)
    data = b"copy with a new checksum"
    s3.put_object(Bucket=bucket, Key="src", Body=data)
    expected = base64.b64encode(hashlib.sha256(data).digest()).decode()
    res = s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src"},
        ChecksumAlgorithm="SHA256",
    )
    assert res["CopyObjectResult"].get("ChecksumSHA256") == expected
    head = s3.head_object(Bucket=bucket, Key="dst", ChecksumMode="ENABLED")
    assert head.get("ChecksumSHA256") == expected


def _full_object_upload(
    s3: Any, bucket: str, key: str, parts: list[bytes]
) -> tuple[str, list[Any]]:
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )
    assert upload.get("ChecksumAlgorithm") == "CRC32"
    assert upload.get("ChecksumType") == "FULL_OBJECT"
    done = []
    for number, data in enumerate(parts, 1):
        res = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=data,
            ChecksumAlgorithm="CRC32",
        )
        assert res["ChecksumCRC32"] == _crc32(data)
        done.append(
            {"PartNumber": number, "ETag": res["ETag"], "ChecksumCRC32": res["ChecksumCRC32"]}
        )
    return upload["UploadId"], done


def test_multipart_full_object_checksum(target: Target, bucket: str) -> None:
    """ChecksumType=FULL_OBJECT (what newer SDKs and the CRT use for CRC uploads)."""
    s3 = _client(target)
    parts = [b"a" * (5 * MIB), b"b" * 100]
    full = _crc32(b"".join(parts))
    upload_id, done = _full_object_upload(s3, bucket, "full", parts)
    res = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="full",
        UploadId=upload_id,
        MultipartUpload={"Parts": done},
        ChecksumCRC32=full,
        ChecksumType="FULL_OBJECT",
    )
    assert res.get("ChecksumCRC32") == full
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32") == full
    assert head.get("ChecksumType") == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(parts)  # botocore validates the full CRC32


# Regression test for a server bug, now fixed: CompleteMultipartUpload of a FULL_OBJECT CRC32
# upload accepts an x-amz-checksum-crc32 that is not the CRC32 of the assembled object (200,
# object created); S3 refuses it with 400 (BadDigest) and creates nothing
# (multipart_api.complete_upload does not compare the client's full-object checksum)
def test_multipart_full_object_checksum_mismatch(target: Target, bucket: str) -> None:
    s3 = _client(target)
    upload_id, done = _full_object_upload(s3, bucket, "bad-full", [b"zz"])
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="bad-full",
            UploadId=upload_id,
            MultipartUpload={"Parts": done},
            ChecksumCRC32=_crc32(b"something else"),
            ChecksumType="FULL_OBJECT",
        )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert info.value.response["Error"]["Code"] in ("BadDigest", "InvalidRequest", "InvalidPart")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad-full")


def test_ranged_get_carries_no_full_object_checksum(target: Target, bucket: str) -> None:
    """botocore asks for checksums on every GET; a 206 must not carry the whole object's
    checksum, or botocore's validation of the partial body fails."""
    s3 = _client(target)
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789" * 100)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"0123456789"
    assert "ChecksumCRC32" not in got


def test_upload_fileobj_when_required_multipart(target: Target, bucket: str) -> None:
    s3 = _client(target, request_checksum_calculation="when_required")
    data = bytes(range(256)) * (24 * 1024)  # 6 MiB
    s3.upload_fileobj(io.BytesIO(data), bucket, "mp", Config=TRANSFER)
    out = io.BytesIO()
    s3.download_fileobj(bucket, "mp", out, Config=TRANSFER)
    assert out.getvalue() == data


def test_managed_copy_uses_upload_part_copy(target: Target, bucket: str, big_file: Path) -> None:
    s3 = _client(target)
    s3.upload_file(str(big_file), bucket, "src.bin", Config=TRANSFER)
    recorder = Recorder(s3)
    s3.copy({"Bucket": bucket, "Key": "src.bin"}, bucket, "dst.bin", Config=TRANSFER)
    assert any("x-amz-copy-source-range" in h for _, _, h in recorder.requests)
    head = s3.head_object(Bucket=bucket, Key="dst.bin")
    assert head["ContentLength"] == big_file.stat().st_size
    body = s3.get_object(Bucket=bucket, Key="dst.bin")["Body"].read()
    assert hashlib.md5(body).hexdigest() == md5_file(big_file)


# ---------------------------------------------------------------------------- presigned URLs


def test_presigned_get_and_put(target: Target, bucket: str) -> None:
    s3 = _client(target, signature_version="s3v4")
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300
    )
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300
    )
    with _http(target) as http:
        response = http.put(put_url, content=b"presigned body")
        assert response.status_code == 200, response.text
        response = http.get(get_url)
        assert response.status_code == 200, response.text
        assert response.content == b"presigned body"
        response = http.get(get_url, headers={"Range": "bytes=0-8"})
        assert response.status_code == 206
        assert response.content == b"presigned"
        # tampering with the signed query breaks the signature
        response = http.get(get_url.replace("X-Amz-Expires=300", "X-Amz-Expires=301"))
        assert response.status_code == 403
        assert "<Code>SignatureDoesNotMatch</Code>" in response.text
    head_url = s3.generate_presigned_url(
        "head_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=300
    )
    with _http(target) as http:
        response = http.head(head_url)
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(b"presigned body"))


def test_presigned_default_signature(target: Target, bucket: str) -> None:
    """Without signature_version botocore still presigns S3 URLs with query-string SigV2
    (AWSAccessKeyId/Expires/Signature); S3 and MinIO accept those."""
    s3 = _client(target)
    s3.put_object(Bucket=bucket, Key="v2", Body=b"v2 body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2"})
    assert "AWSAccessKeyId=" in url
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "v2put"})
    with _http(target) as http:
        response = http.get(url)
        assert response.status_code == 200, response.text
        assert response.content == b"v2 body"
        response = http.put(put_url, content=b"v2 put")
        assert response.status_code == 200, response.text
        response = http.get(url.replace("/v2?", "/v2put?"))
        assert response.status_code == 403
        assert "<Code>SignatureDoesNotMatch</Code>" in response.text
    assert s3.get_object(Bucket=bucket, Key="v2put")["Body"].read() == b"v2 put"


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_presigned_url_expired(target: Target, bucket: str, signature_version: str) -> None:
    s3 = _client(target, signature_version=signature_version)
    s3.put_object(Bucket=bucket, Key="e", Body=b"soon gone")
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "e"}, ExpiresIn=1
    )
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "e"}, ExpiresIn=1
    )
    time.sleep(2.1)
    with _http(target) as http:
        for response in (http.get(get_url), http.put(put_url, content=b"late")):
            assert response.status_code == 403, response.text
            assert "<Code>AccessDenied</Code>" in response.text
            assert "Request has expired" in response.text
    assert s3.get_object(Bucket=bucket, Key="e")["Body"].read() == b"soon gone"


# ------------------------------------------------------------------ virtual-host addressing


@pytest.fixture(scope="module")
def vhost_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("clients-vhost")
    with S3Server(root / "data", env={"MINIO_DOMAIN": "localhost"}) as server:
        yield server


@pytest.fixture
def resolve_localhost_subdomains(monkeypatch: pytest.MonkeyPatch) -> None:
    """`<bucket>.localhost` does not resolve on every machine; point it at 127.0.0.1."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.usefixtures("resolve_localhost_subdomains")
def test_virtual_host_style(vhost_server: S3Server) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://localhost:{vhost_server.port}",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}),
    )
    recorder = Recorder(s3)
    name = unique_bucket("vhost")
    s3.create_bucket(Bucket=name)
    assert recorder.requests[-1][1].startswith(f"http://{name}.localhost:{vhost_server.port}/")
    s3.put_object(Bucket=name, Key="dir/key.txt", Body=b"virtual")
    assert s3.get_object(Bucket=name, Key="dir/key.txt")["Body"].read() == b"virtual"
    listing = s3.list_objects_v2(Bucket=name, Delimiter="/")
    assert [p["Prefix"] for p in listing["CommonPrefixes"]] == ["dir/"]
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.copy_object(Bucket=name, Key="copy", CopySource={"Bucket": name, "Key": "dir/key.txt"})
    presigner = boto3.client(
        "s3",
        endpoint_url=f"http://localhost:{vhost_server.port}",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "virtual"}, signature_version="s3v4"),
    )
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": name, "Key": "copy"})
    assert url.startswith(f"http://{name}.localhost:")
    with httpx.Client(trust_env=False) as http:
        response = http.get(url)
        assert response.status_code == 200
        assert response.content == b"virtual"
    s3.delete_objects(Bucket=name, Delete={"Objects": [{"Key": "copy"}, {"Key": "dir/key.txt"}]})
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as info:
        s3.head_bucket(Bucket=name)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    # path-style requests keep working on the same server
    path_style = vhost_server.client()
    path_style.create_bucket(Bucket=name)
    path_style.put_object(Bucket=name, Key="p", Body=b"path")
    assert s3.get_object(Bucket=name, Key="p")["Body"].read() == b"path"


# ------------------------------------------------------------------- configured server region


@pytest.fixture(scope="module")
def regional_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("clients-region")
    with S3Server(root / "data", env={"MINIO_REGION": "us-east-1"}) as server:
        yield server


def test_wrong_region_error_lets_clients_redirect(regional_server: S3Server) -> None:
    regional_server.client().create_bucket(Bucket="regional")
    s3 = boto3.client(
        "s3",
        endpoint_url=regional_server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="eu-west-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    s3.put_object(Bucket="regional", Key="k", Body=b"redirected")
    assert s3.get_object(Bucket="regional", Key="k")["Body"].read() == b"redirected"
