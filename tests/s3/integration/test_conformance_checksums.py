"""Flexible checksums and conditional writes as current SDKs use them (botocore >= 1.36 sends a
CRC32 by default), where the server once differed from AWS. Each test names the behaviour it
pins down; every case runs on plain, SSE-S3 and (where it applies) SSE-C objects."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import itertools
import os
import ssl
import threading
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError
from tests.support.s3server import S3Server

MiB = 1024 * 1024
_names = itertools.count()

SSE_C_KEY = b"c" * 32
SSE_C = {
    "SSECustomerAlgorithm": "AES256",
    "SSECustomerKey": base64.b64encode(SSE_C_KEY).decode(),
    "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(SSE_C_KEY).digest()).decode(),
}
ENCRYPTIONS = {"plain": {}, "sse-s3": {"ServerSideEncryption": "AES256"}, "sse-c": SSE_C}


def code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def status(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def read_key(enc: dict[str, str]) -> dict[str, str]:
    """The SSE-C headers reads need (none for other encryptions)."""
    return SSE_C if "SSECustomerKey" in enc else {}


@pytest.fixture(scope="module")
def kms_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("checksum-conformance")
    secret = base64.b64encode(os.urandom(32)).decode()
    env = {"MINIO_KMS_SECRET_KEY": f"checksum-key:{secret}"}
    with S3Server(root / "data", tls=True, env=env) as server:
        yield server


@pytest.fixture
def client(kms_server: S3Server) -> Any:
    return kms_server.client()


@pytest.fixture
def bkt(client: Any) -> str:
    name = f"cksum-conf-{next(_names)}"
    client.create_bucket(Bucket=name)
    return name


# --- conditional writes -------------------------------------------------------------------------


@pytest.mark.parametrize("enc", ["plain", "sse-s3", "sse-c"])
def test_put_if_match_uses_the_etag_clients_see(client: Any, bkt: str, enc: str) -> None:
    """If-Match on PutObject compares the ETag the client got (an SSE-S3 object's stored ETag
    is sealed: the right ETag was refused with 412)."""
    kw = ENCRYPTIONS[enc]
    etag = client.put_object(Bucket=bkt, Key="k", Body=b"one", **kw)["ETag"]
    client.put_object(Bucket=bkt, Key="k", Body=b"two", IfMatch=etag, **kw)
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=bkt, Key="k", Body=b"three", IfMatch=etag, **kw)
    assert (status(info.value), code(info.value)) == (412, "PreconditionFailed")
    body = client.get_object(Bucket=bkt, Key="k", **read_key(kw))["Body"].read()
    assert body == b"two"
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=bkt, Key="missing", Body=b"x", IfMatch=etag, **kw)
    assert (status(info.value), code(info.value)) == (404, "NoSuchKey")


def _upload_one_part(client: Any, bkt: str, key: str, **kw: Any) -> tuple[str, list[Any]]:
    upload = client.create_multipart_upload(Bucket=bkt, Key=key, **kw)["UploadId"]
    part = client.upload_part(
        Bucket=bkt, Key=key, UploadId=upload, PartNumber=1, Body=b"part", **read_key(kw)
    )
    return upload, [{"PartNumber": 1, "ETag": part["ETag"]}]


@pytest.mark.parametrize("enc", ["plain", "sse-s3"])
def test_complete_multipart_upload_honours_if_none_match_and_if_match(
    client: Any, bkt: str, enc: str
) -> None:
    """CompleteMultipartUpload with If-None-Match: * / If-Match (AWS conditional writes) was
    completed unconditionally, replacing the object."""
    kw = ENCRYPTIONS[enc]
    etag = client.put_object(Bucket=bkt, Key="k", Body=b"first", **kw)["ETag"]
    upload, parts = _upload_one_part(client, bkt, "k", **kw)
    with pytest.raises(ClientError) as info:
        client.complete_multipart_upload(
            Bucket=bkt, Key="k", UploadId=upload, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
        )
    assert (status(info.value), code(info.value)) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as info:
        client.complete_multipart_upload(
            Bucket=bkt, Key="k", UploadId=upload, MultipartUpload={"Parts": parts}, IfMatch='"0"'
        )
    assert (status(info.value), code(info.value)) == (412, "PreconditionFailed")
    assert client.get_object(Bucket=bkt, Key="k")["Body"].read() == b"first"
    # The upload survives a failed condition: it can still be completed.
    done = client.complete_multipart_upload(
        Bucket=bkt, Key="k", UploadId=upload, MultipartUpload={"Parts": parts}, IfMatch=etag
    )
    assert done["ETag"].endswith('-1"')
    assert client.get_object(Bucket=bkt, Key="k")["Body"].read() == b"part"

    upload, parts = _upload_one_part(client, bkt, "new", **kw)
    client.complete_multipart_upload(
        Bucket=bkt, Key="new", UploadId=upload, MultipartUpload={"Parts": parts}, IfNoneMatch="*"
    )
    upload, parts = _upload_one_part(client, bkt, "absent", **kw)
    with pytest.raises(ClientError) as info:
        client.complete_multipart_upload(
            Bucket=bkt,
            Key="absent",
            UploadId=upload,
            MultipartUpload={"Parts": parts},
            IfMatch=etag,
        )
    assert (status(info.value), code(info.value)) == (404, "NoSuchKey")


@pytest.mark.parametrize("enc", ["plain", "sse-s3"])
def test_copy_object_destination_conditions(client: Any, bkt: str, enc: str) -> None:
    """CopyObject's If-None-Match / If-Match apply to the destination (botocore's IfNoneMatch /
    IfMatch); they were ignored and the destination overwritten."""
    kw = ENCRYPTIONS[enc]
    client.put_object(Bucket=bkt, Key="src", Body=b"source", **kw)
    etag = client.put_object(Bucket=bkt, Key="dst", Body=b"dest", **kw)["ETag"]
    source = {"Bucket": bkt, "Key": "src"}
    with pytest.raises(ClientError) as info:
        client.copy_object(Bucket=bkt, Key="dst", CopySource=source, IfNoneMatch="*", **kw)
    assert (status(info.value), code(info.value)) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as info:
        client.copy_object(Bucket=bkt, Key="dst", CopySource=source, IfMatch='"0"', **kw)
    assert (status(info.value), code(info.value)) == (412, "PreconditionFailed")
    assert client.get_object(Bucket=bkt, Key="dst")["Body"].read() == b"dest"
    client.copy_object(Bucket=bkt, Key="dst", CopySource=source, IfMatch=etag, **kw)
    assert client.get_object(Bucket=bkt, Key="dst")["Body"].read() == b"source"
    client.copy_object(Bucket=bkt, Key="fresh", CopySource=source, IfNoneMatch="*", **kw)
    with pytest.raises(ClientError) as info:
        client.copy_object(Bucket=bkt, Key="nothing", CopySource=source, IfMatch=etag, **kw)
    assert (status(info.value), code(info.value)) == (404, "NoSuchKey")


def _slow_put(
    server: S3Server, client: Any, bkt: str, key: str, headers: dict[str, str]
) -> tuple[http.client.HTTPSConnection, bytes]:
    """Start a presigned PUT (headers sent, half the body), to be finished by the caller."""
    url = client.generate_presigned_url(
        "put_object", Params={"Bucket": bkt, "Key": key}, ExpiresIn=300
    )
    parts = urlsplit(url)
    assert server.ca_path is not None
    context = ssl.create_default_context(cafile=str(server.ca_path))
    conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, context=context)
    body = b"x" * (2 * MiB)
    conn.putrequest("PUT", f"{parts.path}?{parts.query}")
    conn.putheader("Content-Length", str(len(body)))
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(body[:MiB])
    return conn, body[MiB:]


def _finish(conn: http.client.HTTPSConnection, rest: bytes) -> tuple[int, bytes]:
    conn.send(rest)
    response = conn.getresponse()
    result = response.status, response.read()
    conn.close()
    return result


def test_conditional_put_checks_again_at_commit(
    kms_server: S3Server, client: Any, bkt: str
) -> None:
    """A conditional PUT re-checks its condition when it commits: an object created while an
    If-None-Match: * upload was in flight makes that upload fail 412 (the first write to finish
    wins, as AWS), and a delete during an If-Match upload is 409 ConditionalRequestConflict.
    Before, the check ran only before the body and the later upload silently replaced."""
    conn, rest = _slow_put(kms_server, client, bkt, "race", {"If-None-Match": "*"})
    client.put_object(Bucket=bkt, Key="race", Body=b"winner")
    code_, body = _finish(conn, rest)
    assert code_ == 412 and b"<Code>PreconditionFailed</Code>" in body
    assert client.get_object(Bucket=bkt, Key="race")["Body"].read() == b"winner"

    etag = client.put_object(Bucket=bkt, Key="gone", Body=b"v1")["ETag"]
    conn, rest = _slow_put(kms_server, client, bkt, "gone", {"If-Match": etag})
    client.delete_object(Bucket=bkt, Key="gone")
    code_, body = _finish(conn, rest)
    assert code_ == 409 and b"<Code>ConditionalRequestConflict</Code>" in body
    with pytest.raises(ClientError) as info:
        client.head_object(Bucket=bkt, Key="gone")
    assert status(info.value) == 404

    etag = client.put_object(Bucket=bkt, Key="swap", Body=b"v1")["ETag"]
    conn, rest = _slow_put(kms_server, client, bkt, "swap", {"If-Match": etag})
    client.put_object(Bucket=bkt, Key="swap", Body=b"v2")
    code_, body = _finish(conn, rest)
    assert code_ == 412
    assert client.get_object(Bucket=bkt, Key="swap")["Body"].read() == b"v2"


def test_concurrent_if_none_match_puts_have_one_winner(client: Any, bkt: str) -> None:
    """Many If-None-Match: * PUTs of one key at once: exactly one succeeds, the rest are 412."""
    results: list[int] = []
    lock = threading.Lock()

    def put(i: int) -> None:
        try:
            client.put_object(Bucket=bkt, Key="once", Body=os.urandom(64 * 1024), IfNoneMatch="*")
            outcome = 200
        except ClientError as exc:
            outcome = status(exc)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] + [412] * 7


# --- the checksum algorithms botocore knows ---------------------------------------------------

_NEWER = {"SHA512": 64, "MD5": 16, "XXHASH64": 8, "XXHASH3": 8, "XXHASH128": 16}


@pytest.mark.parametrize("enc", ["plain", "sse-s3", "sse-c"])
@pytest.mark.parametrize("algorithm", sorted(_NEWER))
def test_newer_checksum_algorithms_are_verified_and_kept(
    client: Any, bkt: str, enc: str, algorithm: str
) -> None:
    """x-amz-checksum-sha512, -md5 and -xxhash64/-xxhash3/-xxhash128 (botocore 1.43's
    ChecksumSHA512 ... parameters) were ignored: a wrong value was stored without complaint and
    the checksum never returned. Now a wrong one is BadDigest and a right one kept."""
    kw = ENCRYPTIONS[enc]
    wrong = base64.b64encode(b"\x01" * _NEWER[algorithm]).decode()
    with pytest.raises(ClientError) as info:
        client.put_object(
            Bucket=bkt, Key="k", Body=b"hello", **{f"Checksum{algorithm}": wrong}, **kw
        )
    assert (status(info.value), code(info.value)) == (400, "BadDigest")
    assert algorithm in str(info.value.response["Error"]["Message"])
    if algorithm == "MD5":  # botocore computes no MD5 flexible checksum itself
        value = base64.b64encode(hashlib.md5(b"hello").digest()).decode()
        put = client.put_object(Bucket=bkt, Key="k", Body=b"hello", ChecksumMD5=value, **kw)
    else:
        put = client.put_object(
            Bucket=bkt, Key="k", Body=b"hello" * 1000, ChecksumAlgorithm=algorithm, **kw
        )
        value = put[f"Checksum{algorithm}"]
    assert put[f"Checksum{algorithm}"] == value
    head = client.head_object(Bucket=bkt, Key="k", ChecksumMode="ENABLED", **read_key(kw))
    assert head[f"Checksum{algorithm}"] == value
    assert head["ChecksumType"] == "FULL_OBJECT"


# --- multipart and copy checksums on encrypted objects -----------------------------------------


def _sha256_upload(client: Any, bkt: str, key: str, kw: dict[str, str]) -> tuple[str, list[Any]]:
    upload = client.create_multipart_upload(Bucket=bkt, Key=key, ChecksumAlgorithm="SHA256", **kw)[
        "UploadId"
    ]
    parts = []
    for number, data in ((1, b"a" * (5 * MiB)), (2, b"b" * 10)):
        got = client.upload_part(
            Bucket=bkt,
            Key=key,
            UploadId=upload,
            PartNumber=number,
            Body=data,
            ChecksumAlgorithm="SHA256",
            **read_key(kw),
        )
        parts.append(
            {"PartNumber": number, "ETag": got["ETag"], "ChecksumSHA256": got["ChecksumSHA256"]}
        )
    return upload, parts


@pytest.mark.parametrize("enc", ["plain", "sse-s3", "sse-c"])
def test_list_parts_shows_part_checksums_and_the_upload_algorithm(
    client: Any, bkt: str, enc: str
) -> None:
    """ListParts lists each part's checksum also for encrypted uploads (they are stored sealed
    and were left out), with the upload's ChecksumAlgorithm and ChecksumType (were missing).
    An SSE-C upload's part checksums need the key (AWS); without it they are left out."""
    kw = ENCRYPTIONS[enc]
    upload, parts = _sha256_upload(client, bkt, "m", kw)
    listed = client.list_parts(Bucket=bkt, Key="m", UploadId=upload, **read_key(kw))
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == ("SHA256", "COMPOSITE")
    assert [p.get("ChecksumSHA256") for p in listed["Parts"]] == [
        p["ChecksumSHA256"] for p in parts
    ]
    assert [p["ETag"] for p in listed["Parts"]] == [p["ETag"] for p in parts]
    if enc == "sse-c":
        bare = client.list_parts(Bucket=bkt, Key="m", UploadId=upload)
        assert all("ChecksumSHA256" not in p for p in bare["Parts"])


@pytest.mark.parametrize("enc", ["plain", "sse-s3", "sse-c"])
def test_part_level_checksums_of_a_completed_upload(client: Any, bkt: str, enc: str) -> None:
    """A completed COMPOSITE upload gives its part checksums: GetObjectAttributes ObjectParts
    (per part, paged by MaxParts/PartNumberMarker; were absent, and Checksum lacked
    ChecksumType) and HEAD/GET with PartNumber and ChecksumMode (gave no checksum)."""
    kw = ENCRYPTIONS[enc]
    upload, parts = _sha256_upload(client, bkt, "m", kw)
    done = client.complete_multipart_upload(
        Bucket=bkt, Key="m", UploadId=upload, MultipartUpload={"Parts": parts}, **read_key(kw)
    )
    attrs = client.get_object_attributes(
        Bucket=bkt, Key="m", ObjectAttributes=["Checksum", "ObjectParts"], **read_key(kw)
    )
    assert attrs["Checksum"] == {
        "ChecksumSHA256": done["ChecksumSHA256"],
        "ChecksumType": "COMPOSITE",
    }
    object_parts = attrs["ObjectParts"]
    assert object_parts["TotalPartsCount"] == 2 and object_parts["IsTruncated"] is False
    assert [p["ChecksumSHA256"] for p in object_parts["Parts"]] == [
        p["ChecksumSHA256"] for p in parts
    ]
    page = client.get_object_attributes(
        Bucket=bkt, Key="m", ObjectAttributes=["ObjectParts"], MaxParts=1, **read_key(kw)
    )["ObjectParts"]
    assert page["IsTruncated"] is True and page["NextPartNumberMarker"] == 1
    assert [p["PartNumber"] for p in page["Parts"]] == [1]
    rest = client.get_object_attributes(
        Bucket=bkt,
        Key="m",
        ObjectAttributes=["ObjectParts"],
        PartNumberMarker=1,
        **read_key(kw),
    )["ObjectParts"]
    assert [p["PartNumber"] for p in rest["Parts"]] == [2]

    head = client.head_object(
        Bucket=bkt, Key="m", PartNumber=2, ChecksumMode="ENABLED", **read_key(kw)
    )
    assert head["ChecksumSHA256"] == parts[1]["ChecksumSHA256"]
    got = client.get_object(
        Bucket=bkt, Key="m", PartNumber=2, ChecksumMode="ENABLED", **read_key(kw)
    )
    assert got["ChecksumSHA256"] == parts[1]["ChecksumSHA256"]
    assert got["Body"].read() == b"b" * 10  # botocore validated the part checksum


@pytest.mark.parametrize("enc", ["plain", "sse-s3", "sse-c"])
def test_copy_keeps_the_source_checksum_algorithm(client: Any, bkt: str, enc: str) -> None:
    """CopyObject without x-amz-checksum-algorithm keeps the source's algorithm (AWS): an
    encrypted copy had no checksum at all, and CopyObjectResult never named it."""
    kw = ENCRYPTIONS[enc]
    put = client.put_object(Bucket=bkt, Key="s", Body=b"hello", ChecksumAlgorithm="CRC32C", **kw)
    source_key = (
        {
            "CopySourceSSECustomerAlgorithm": "AES256",
            "CopySourceSSECustomerKey": SSE_C["SSECustomerKey"],
            "CopySourceSSECustomerKeyMD5": SSE_C["SSECustomerKeyMD5"],
        }
        if enc == "sse-c"
        else {}
    )
    copied = client.copy_object(
        Bucket=bkt, Key="d", CopySource={"Bucket": bkt, "Key": "s"}, **kw, **source_key
    )
    assert copied["CopyObjectResult"]["ChecksumCRC32C"] == put["ChecksumCRC32C"]
    head = client.head_object(Bucket=bkt, Key="d", ChecksumMode="ENABLED", **read_key(kw))
    assert head["ChecksumCRC32C"] == put["ChecksumCRC32C"]
    # An explicit algorithm still wins.
    other = client.copy_object(
        Bucket=bkt,
        Key="e",
        CopySource={"Bucket": bkt, "Key": "s"},
        ChecksumAlgorithm="SHA1",
        **kw,
        **source_key,
    )
    assert set(other["CopyObjectResult"]) >= {"ChecksumSHA1"}
    assert "ChecksumCRC32C" not in other["CopyObjectResult"]


# --- CompleteMultipartUpload checksum checks (AWS's recorded answers) --------------------------


def _crc32_upload(client: Any, bkt: str, key: str, kind: str = "COMPOSITE") -> tuple[str, Any]:
    upload = client.create_multipart_upload(
        Bucket=bkt, Key=key, ChecksumAlgorithm="CRC32", ChecksumType=kind
    )["UploadId"]
    part = client.upload_part(
        Bucket=bkt,
        Key=key,
        UploadId=upload,
        PartNumber=1,
        Body=b"123456789",
        ChecksumAlgorithm="CRC32",
    )
    return upload, part


def _complete_error(client: Any, bkt: str, key: str, upload: str, part: Any, **kw: Any) -> Any:
    with pytest.raises(ClientError) as info:
        client.complete_multipart_upload(
            Bucket=bkt, Key=key, UploadId=upload, MultipartUpload={"Parts": [part]}, **kw
        )
    error = info.value.response["Error"]
    return status(info.value), error["Code"], error["Message"]


def test_complete_checks_part_and_object_checksums_as_aws(client: Any, bkt: str) -> None:
    """Complete of a COMPOSITE CRC32 upload: a part without its checksum is InvalidRequest
    (was accepted), a malformed one InvalidArgument, a wrong one InvalidPart; the whole-object
    x-amz-checksum-crc32 is the composite without "-N" (the right value was BadDigest), a wrong
    one BadDigest naming "crc32", a malformed one InvalidRequest. The object is not created."""
    upload, part = _crc32_upload(client, bkt, "m")
    good = part["ChecksumCRC32"]
    bare = {"PartNumber": 1, "ETag": part["ETag"]}
    assert _complete_error(client, bkt, "m", upload, bare) == (
        400,
        "InvalidRequest",
        "The upload was created using a crc32 checksum. The complete request must include the "
        "checksum for each part. It was missing for part 1 in the request.",
    )
    assert _complete_error(client, bkt, "m", upload, {**bare, "ChecksumCRC32": "!!"}) == (
        400,
        "InvalidArgument",
        "Invalid Base64 or multiple checksums present in request",
    )
    assert _complete_error(client, bkt, "m", upload, {**bare, "ChecksumCRC32": "AAAAAA=="})[:2] == (
        400,
        "InvalidPart",
    )
    with_part = {**bare, "ChecksumCRC32": good}
    # COMPOSITE: the CRC32 of the concatenated raw part CRC32s.
    composite = base64.b64encode(zlib.crc32(base64.b64decode(good)).to_bytes(4, "big")).decode()
    assert _complete_error(client, bkt, "m", upload, with_part, ChecksumCRC32="AAAAAA==") == (
        400,
        "BadDigest",
        "The crc32 you specified did not match the calculated checksum.",
    )
    assert _complete_error(client, bkt, "m", upload, with_part, ChecksumCRC32=composite + "-1")[
        :2
    ] == (400, "InvalidRequest")
    # A wrong part checksum with a whole-object checksum computed from the right one: BadDigest.
    wrong_part = {**bare, "ChecksumCRC32": "AAAAAA=="}
    assert _complete_error(client, bkt, "m", upload, wrong_part, ChecksumCRC32=composite)[:2] == (
        400,
        "BadDigest",
    )
    with pytest.raises(ClientError):
        client.head_object(Bucket=bkt, Key="m")
    done = client.complete_multipart_upload(
        Bucket=bkt,
        Key="m",
        UploadId=upload,
        MultipartUpload={"Parts": [with_part]},
        ChecksumCRC32=composite,
    )
    assert done["ChecksumCRC32"] == composite + "-1"
    assert done["ChecksumType"] == "COMPOSITE"
    head = client.head_object(Bucket=bkt, Key="m", PartNumber=1, ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == good
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-checksum-type"] == "COMPOSITE"


def test_full_object_complete_may_leave_out_part_checksums(client: Any, bkt: str) -> None:
    """A FULL_OBJECT upload's Complete may omit the part checksums (AWS); the whole-object
    header is the plain CRC of the object."""
    upload, part = _crc32_upload(client, bkt, "f", kind="FULL_OBJECT")
    whole = base64.b64encode(zlib.crc32(b"123456789").to_bytes(4, "big")).decode()
    done = client.complete_multipart_upload(
        Bucket=bkt,
        Key="f",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        ChecksumCRC32=whole,
        ChecksumType="FULL_OBJECT",
    )
    assert (done["ChecksumCRC32"], done["ChecksumType"]) == (whole, "FULL_OBJECT")


def test_checksum_type_in_put_copy_and_upload_listing(client: Any, bkt: str) -> None:
    """PutObject and CopyObject name ChecksumType FULL_OBJECT with their checksum, and
    ListMultipartUploads names each upload's ChecksumAlgorithm/ChecksumType (all were missing)."""
    put = client.put_object(Bucket=bkt, Key="s", Body=b"hello", ChecksumAlgorithm="CRC32")
    assert put["ChecksumType"] == "FULL_OBJECT"
    copied = client.copy_object(Bucket=bkt, Key="d", CopySource={"Bucket": bkt, "Key": "s"})
    assert copied["CopyObjectResult"]["ChecksumType"] == "FULL_OBJECT"
    client.create_multipart_upload(
        Bucket=bkt, Key="u", ChecksumAlgorithm="CRC32C", ChecksumType="FULL_OBJECT"
    )
    client.create_multipart_upload(Bucket=bkt, Key="v")
    uploads = {u["Key"]: u for u in client.list_multipart_uploads(Bucket=bkt)["Uploads"]}
    assert (uploads["u"]["ChecksumAlgorithm"], uploads["u"]["ChecksumType"]) == (
        "CRC32C",
        "FULL_OBJECT",
    )
    assert "ChecksumAlgorithm" not in uploads["v"]


# --- aws-chunked bodies end to end ---------------------------------------------------------------


def _signed_chunked_put(
    server: S3Server,
    path: str,
    payload: bytes,
    *,
    chunk: int = 64 * 1024,
    trailer: tuple[str, str] | None = None,
    decoded: int | None = None,
    damage: Any = None,
) -> tuple[int, bytes]:
    """PUT ``payload`` as a signed aws-chunked body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or the
    -TRAILER variant with ``trailer``), built from the spec; ``damage`` edits the framed body."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from tests.support.s3server import ACCESS_KEY, SECRET_KEY

    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    headers = {
        "x-amz-content-sha256": mode,
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload) if decoded is None else decoded),
    }
    if trailer:
        headers["x-amz-trailer"] = trailer[0]
    request = AWSRequest(method="PUT", url=server.endpoint + path, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1").add_auth(request)
    amz_date = request.headers["X-Amz-Date"]
    previous = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (amz_date[:8], "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    empty = hashlib.sha256(b"").hexdigest()
    body = bytearray()
    for start in [*range(0, len(payload), chunk), len(payload)]:
        data = payload[start : start + chunk]
        string = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{empty}\n"
        previous = hmac.new(
            key, (string + hashlib.sha256(data).hexdigest()).encode(), hashlib.sha256
        ).hexdigest()
        body += f"{len(data):x};chunk-signature={previous}\r\n".encode()
        if data:
            body += data + b"\r\n"
    if trailer:
        body += f"{trailer[0]}:{trailer[1]}\r\n".encode()
        digest = hashlib.sha256(f"{trailer[0]}:{trailer[1]}\n".encode()).hexdigest()
        string = f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous}\n{digest}"
        signature = hmac.new(key, string.encode(), hashlib.sha256).hexdigest()
        body += f"x-amz-trailer-signature:{signature}\r\n".encode()
    body += b"\r\n"
    raw = bytes(damage(bytes(body)) if damage else body)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("PUT", path, skip_accept_encoding=True)
    for name, value in request.headers.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(raw)))
    conn.endheaders()
    conn.send(raw)
    response = conn.getresponse()
    result = response.status, response.read()
    conn.close()
    return result


def _flip_after(marker: bytes, offset: int = 0) -> Any:
    def damage(body: bytes) -> bytes:
        at = body.index(marker) + len(marker) + offset
        return body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :]

    return damage


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(tmp_path_factory.mktemp("chunked-e2e") / "data") as server:
        yield server


def test_signed_aws_chunked_refusals_end_to_end(http_server: S3Server) -> None:
    """Signed aws-chunked uploads through the server: a bad chunk signature or changed data is
    403 SignatureDoesNotMatch, a missing final chunk or a chunk size larger than the data 400
    IncompleteBody, a wrong x-amz-decoded-content-length IncompleteBody, a bad trailer
    checksum BadDigest, a bad trailer signature SignatureDoesNotMatch; none stores anything."""
    client = http_server.client()
    client.create_bucket(Bucket="chunked")
    payload = os.urandom(150_000)
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()

    def refused(path: str, **kw: Any) -> tuple[int, str]:
        status_, body = _signed_chunked_put(http_server, path, payload, **kw)
        found = body.split(b"<Code>", 1)[1].split(b"</Code>", 1)[0].decode() if body else ""
        return status_, found

    assert _signed_chunked_put(http_server, "/chunked/ok", payload)[0] == 200
    assert (
        _signed_chunked_put(
            http_server, "/chunked/ok-trailer", payload, trailer=("x-amz-checksum-crc32", crc)
        )[0]
        == 200
    )
    last_chunk = b"0;chunk-signature="
    cases = {
        "bad-signature": (
            {"damage": _flip_after(b"chunk-signature=")},
            403,
            "SignatureDoesNotMatch",
        ),
        "bad-data": ({"damage": _flip_after(b"\r\n", 100)}, 403, "SignatureDoesNotMatch"),
        "no-final-chunk": (
            {"damage": lambda b: b[: b.rindex(last_chunk)]},
            400,
            "IncompleteBody",
        ),
        "size-lies": (
            {"chunk": 150_000, "damage": lambda b: b.replace(b"249f0;", b"249f1;", 1)},
            400,
            "IncompleteBody",
        ),
        "decoded-larger": ({"decoded": len(payload) + 1}, 400, "IncompleteBody"),
        "decoded-smaller": ({"decoded": len(payload) - 1}, 400, "IncompleteBody"),
        "trailer-bad-checksum": (
            {"trailer": ("x-amz-checksum-crc32", "AAAAAA==")},
            400,
            "BadDigest",
        ),
        "trailer-bad-signature": (
            {
                "trailer": ("x-amz-checksum-crc32", crc),
                "damage": _flip_after(b"x-amz-trailer-signature:"),
            },
            403,
            "SignatureDoesNotMatch",
        ),
    }
    for name, (kw, want_status, want_code) in cases.items():
        assert refused(f"/chunked/{name}", **kw) == (want_status, want_code), name
    listed = client.list_objects_v2(Bucket="chunked").get("Contents", [])
    assert sorted(o["Key"] for o in listed) == ["ok", "ok-trailer"]
    got = client.get_object(Bucket="chunked", Key="ok-trailer", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == crc
    assert got["Body"].read() == payload


def test_upload_part_checksum_must_be_the_upload_algorithm(client: Any, bkt: str) -> None:
    """A part of a COMPOSITE SHA1 upload carrying a CRC32C checksum, or none, is AWS's
    InvalidRequest 'Checksum Type mismatch occurred, ...' (both were stored, and Complete then
    failed or computed from server-side values the client never checked)."""
    upload = client.create_multipart_upload(Bucket=bkt, Key="m", ChecksumAlgorithm="SHA1")
    upload_id = upload["UploadId"]
    with pytest.raises(ClientError) as info:
        client.upload_part(
            Bucket=bkt,
            Key="m",
            UploadId=upload_id,
            PartNumber=1,
            Body=b"x",
            ChecksumAlgorithm="CRC32C",
        )
    assert (status(info.value), code(info.value)) == (400, "InvalidRequest")
    assert info.value.response["Error"]["Message"] == (
        "Checksum Type mismatch occurred, expected checksum Type: sha1, actual checksum Type: "
        "crc32c"
    )
    part = client.upload_part(
        Bucket=bkt, Key="m", UploadId=upload_id, PartNumber=1, Body=b"x", ChecksumAlgorithm="SHA1"
    )
    assert part["ChecksumSHA1"] == base64.b64encode(hashlib.sha1(b"x").digest()).decode()
    # A FULL_OBJECT upload's parts may leave the checksum to the server.
    full = client.create_multipart_upload(
        Bucket=bkt, Key="f", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    got = client.upload_part(Bucket=bkt, Key="f", UploadId=full, PartNumber=1, Body=b"x")
    assert got["ChecksumCRC32"] == base64.b64encode(zlib.crc32(b"x").to_bytes(4, "big")).decode()


def test_upload_part_copy_computes_the_upload_checksum(client: Any, bkt: str) -> None:
    """UploadPartCopy into an upload with a checksum algorithm computes the part's checksum
    and returns it in CopyPartResult (it had none, so the upload could not be completed)."""
    client.put_object(Bucket=bkt, Key="src", Body=b"0123456789")
    upload = client.create_multipart_upload(Bucket=bkt, Key="m", ChecksumAlgorithm="CRC32C")
    upload_id = upload["UploadId"]
    copied = client.upload_part_copy(
        Bucket=bkt,
        Key="m",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bkt, "Key": "src"},
        CopySourceRange="bytes=2-5",
    )["CopyPartResult"]
    expected = client.put_object(Bucket=bkt, Key="probe", Body=b"2345", ChecksumAlgorithm="CRC32C")[
        "ChecksumCRC32C"
    ]
    assert copied["ChecksumCRC32C"] == expected
    done = client.complete_multipart_upload(
        Bucket=bkt,
        Key="m",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": copied["ETag"], "ChecksumCRC32C": expected}]
        },
    )
    assert done["ChecksumType"] == "COMPOSITE"
    assert client.get_object(Bucket=bkt, Key="m")["Body"].read() == b"2345"


# --- XML request bodies ------------------------------------------------------------------------


def _replace_header(name: str, value: str) -> Any:
    def handler(request: Any, **_: Any) -> None:
        for header in list(request.headers.keys()):
            if header.lower() == name:
                del request.headers[header]
                request.headers[header] = value

    return handler


def test_xml_bodies_are_held_to_their_checksums_and_signed_hash(
    http_server: S3Server,
) -> None:
    """botocore >= 1.36 protects DeleteObjects, tagging and other XML bodies with
    x-amz-checksum-crc32 instead of Content-MD5, and over plain HTTP signs the body's SHA-256.
    Neither was checked: a wrong CRC32, or a body changed after signing (another key to
    delete), was carried out. Now BadDigest and XAmzContentSHA256Mismatch, as AWS."""
    setup = http_server.client()
    setup.create_bucket(Bucket="xml-bodies")
    for key in ("a", "b"):
        setup.put_object(Bucket="xml-bodies", Key=key, Body=b"1")

    bad_crc = http_server.client()
    bad_crc.meta.events.register(
        "before-sign.s3.*", _replace_header("x-amz-checksum-crc32", "AAAAAA==")
    )
    with pytest.raises(ClientError) as info:
        bad_crc.delete_objects(Bucket="xml-bodies", Delete={"Objects": [{"Key": "a"}]})
    assert (status(info.value), code(info.value)) == (400, "BadDigest")
    with pytest.raises(ClientError) as info:
        bad_crc.put_object_tagging(
            Bucket="xml-bodies", Key="a", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
        )
    assert (status(info.value), code(info.value)) == (400, "BadDigest")

    def swap_key(request: Any, **_: Any) -> None:
        request.body = request.body.replace(b"<Key>a</Key>", b"<Key>b</Key>")

    tampered = http_server.client()
    tampered.meta.events.register("before-send.s3.DeleteObjects", swap_key)
    with pytest.raises(ClientError) as info:
        tampered.delete_objects(Bucket="xml-bodies", Delete={"Objects": [{"Key": "a"}]})
    assert (status(info.value), code(info.value)) == (400, "XAmzContentSHA256Mismatch")

    assert sorted(o["Key"] for o in setup.list_objects_v2(Bucket="xml-bodies")["Contents"]) == [
        "a",
        "b",
    ]
    assert setup.get_object_tagging(Bucket="xml-bodies", Key="a")["TagSet"] == []
    setup.delete_objects(Bucket="xml-bodies", Delete={"Objects": [{"Key": "a"}]})
    assert [o["Key"] for o in setup.list_objects_v2(Bucket="xml-bodies")["Contents"]] == ["b"]


# --- listings ----------------------------------------------------------------------------------


def test_listings_name_checksum_algorithm_and_type(client: Any, bkt: str) -> None:
    """ListObjects v1/v2 and ListObjectVersions name each object's ChecksumAlgorithm and
    ChecksumType (AWS; were missing), also for encrypted objects and copies; a copy that only
    replaces the metadata of a multipart object keeps its checksum (it was lost)."""
    client.put_object(Bucket=bkt, Key="plain", Body=b"x", ChecksumAlgorithm="SHA256")
    client.put_object(
        Bucket=bkt, Key="sse", Body=b"x", ChecksumAlgorithm="CRC32C", ServerSideEncryption="AES256"
    )
    upload, parts = _sha256_upload(client, bkt, "multi", {})
    done = client.complete_multipart_upload(
        Bucket=bkt, Key="multi", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    client.copy_object(
        Bucket=bkt,
        Key="multi",
        CopySource={"Bucket": bkt, "Key": "multi"},
        MetadataDirective="REPLACE",
        Metadata={"new": "1"},
    )
    client.copy_object(Bucket=bkt, Key="copy", CopySource={"Bucket": bkt, "Key": "plain"})
    want = {
        "copy": (["SHA256"], "FULL_OBJECT"),
        "multi": (["SHA256"], "COMPOSITE"),
        "plain": (["SHA256"], "FULL_OBJECT"),
        "sse": (["CRC32C"], "FULL_OBJECT"),
    }
    for listed in (
        client.list_objects_v2(Bucket=bkt)["Contents"],
        client.list_objects(Bucket=bkt)["Contents"],
        client.list_object_versions(Bucket=bkt)["Versions"],
    ):
        got = {o["Key"]: (o.get("ChecksumAlgorithm"), o.get("ChecksumType")) for o in listed}
        assert got == want
    head = client.head_object(Bucket=bkt, Key="multi", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == done["ChecksumSHA256"]
    assert head["Metadata"] == {"new": "1"}
