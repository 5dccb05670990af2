"""S3 checksums: published vectors, header parsing, verification errors, multipart helpers."""

from __future__ import annotations

import base64
import hashlib
import random
import zlib

import crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.s3 import checksums
from strongroom.s3.checksums import (
    Checksummer,
    combine_crc,
    composite_checksum,
    compute_checksum,
    full_object_crc,
)
from strongroom.s3.errors import S3Error


def b64(value: int, size: int) -> str:
    return base64.b64encode(value.to_bytes(size, "big")).decode()


def crc64nvme_reference(data: bytes, crc: int = 0) -> int:
    """Bitwise CRC-64/NVME (reflected 0xAD93D23594C93659, init and xorout all ones)."""
    crc ^= 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x9A6C9329AC4BC9B5 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFFFFFFFFFF


CHECK = b"123456789"


def test_check_vectors() -> None:
    assert compute_checksum("crc32", CHECK) == b64(0xCBF43926, 4)
    assert compute_checksum("crc32c", CHECK) == b64(0xE3069283, 4)
    assert (
        compute_checksum("sha1", CHECK)
        == base64.b64encode(bytes.fromhex("f7c3bc1d808e04732adf679965ccc34ca7ae3441")).decode()
    )
    assert (
        compute_checksum("sha256", CHECK)
        == base64.b64encode(
            bytes.fromhex("15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225")
        ).decode()
    )
    assert crc64nvme_reference(CHECK) == 0xAE8B14860A799888  # the catalogue's check value


def test_empty_payload_vectors() -> None:
    assert compute_checksum("crc32", b"") == "AAAAAA=="
    assert compute_checksum("sha256", b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    checksummer = Checksummer()
    assert checksummer.etag() == "d41d8cd98f00b204e9800998ecf8427e"


def test_crc32c_rfc3720_vectors() -> None:
    assert compute_checksum("crc32c", bytes(32)) == b64(0x8A9136AA, 4)
    assert compute_checksum("crc32c", b"\xff" * 32) == b64(0x62A8AB43, 4)
    assert compute_checksum("crc32c", bytes(range(32))) == b64(0x46DD794E, 4)


def test_crc64nvme_only_with_a_fast_implementation() -> None:
    if checksums.supported("crc64nvme"):  # with awscrt installed (boto3[crt])
        assert compute_checksum("crc64nvme", CHECK) == b64(0xAE8B14860A799888, 8)
        data = random.Random(3).randbytes(10_000)
        assert compute_checksum("crc64nvme", data) == b64(crc64nvme_reference(data), 8)
        return
    with pytest.raises(S3Error) as info:
        Checksummer.from_headers({"x-amz-checksum-crc64nvme": b64(0, 8)})
    assert info.value.code == "NotImplemented"


@settings(max_examples=50, deadline=None)
@given(data=st.binary(max_size=5000), cuts=st.lists(st.integers(0, 5000), max_size=6))
def test_incremental_equals_one_shot(data: bytes, cuts: list[int]) -> None:
    checksummer = Checksummer(["crc32", "crc32c", "sha1", "sha256"])
    start = 0
    for cut in [*sorted(c for c in cuts if c <= len(data)), len(data)]:
        checksummer.update(memoryview(data)[start:cut])
        start = cut
    assert checksummer.etag() == hashlib.md5(data).hexdigest()
    assert checksummer.checksums() == {
        "crc32": b64(zlib.crc32(data), 4),
        "crc32c": b64(crc32c.crc32c(data), 4),
        "sha1": base64.b64encode(hashlib.sha1(data).digest()).decode(),
        "sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
    }


# --- request headers ----------------------------------------------------------------------------

BODY = b"The quick brown fox jumps over the lazy dog"


def checked(
    headers: dict[str, str], trailers: dict[str, str] | None = None, **kw: str
) -> Checksummer:
    checksummer = Checksummer.from_headers(headers, **kw)
    checksummer.update(BODY)
    checksummer.verify(trailers)
    return checksummer


def refused(
    code: str, headers: dict[str, str], trailers: dict[str, str] | None = None, **kw: str
) -> S3Error:
    with pytest.raises(S3Error) as info:
        checked(headers, trailers, **kw)
    assert info.value.code == code, info.value.message
    return info.value


MD5 = base64.b64encode(hashlib.md5(BODY).digest()).decode()


def test_content_md5() -> None:
    assert checked({"content-md5": MD5}).etag() == hashlib.md5(BODY).hexdigest()
    error = refused(
        "BadDigest", {"content-md5": base64.b64encode(hashlib.md5(b"x").digest()).decode()}
    )
    assert error.message == "The Content-MD5 you specified did not match what we received."
    refused("InvalidDigest", {"content-md5": "not base64!"})
    refused("InvalidDigest", {"content-md5": base64.b64encode(b"short").decode()})
    assert checked({}).etag() == hashlib.md5(BODY).hexdigest()  # never required


HEADER_ALGORITHMS = ["crc32", "crc32c", "sha1", "sha256"] + (
    ["crc64nvme"] if checksums.supported("crc64nvme") else []
)


@pytest.mark.parametrize("algorithm", HEADER_ALGORITHMS)
def test_checksum_headers(algorithm: str) -> None:
    name = f"x-amz-checksum-{algorithm}"
    good = compute_checksum(algorithm, BODY)
    assert checked({name: good}).checksums() == {algorithm: good}
    assert (
        checked({name: good, "x-amz-sdk-checksum-algorithm": algorithm.upper()}).requested
        == algorithm
    )
    error = refused("BadDigest", {name: compute_checksum(algorithm, b"other")})
    label = algorithm.upper()
    assert error.message == f"The {label} you specified did not match the calculated checksum."
    refused("InvalidRequest", {name: "AAAA"})  # wrong length
    refused("InvalidRequest", {name: "!!!!"})


def test_checksum_in_trailer() -> None:
    good = compute_checksum("crc32", BODY)
    headers = {"x-amz-trailer": "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm": "CRC32"}
    assert checked(headers, {"x-amz-checksum-crc32": good}).checksums() == {"crc32": good}
    error = refused("BadDigest", headers, {"x-amz-checksum-crc32": compute_checksum("crc32", b"")})
    assert error.message == "The CRC32 you specified did not match the calculated checksum."
    refused("InvalidRequest", headers, {})  # declared, not sent
    refused("InvalidRequest", headers, {"x-amz-checksum-crc32": "xx"})  # malformed
    refused("InvalidRequest", headers, {"x-amz-checksum-crc32": good, "x-amz-checksum-sha1": "x"})
    # A trailer that was never declared.
    refused("InvalidRequest", {}, {"x-amz-checksum-crc32c": compute_checksum("crc32c", BODY)})


def test_header_combinations_s3_refuses() -> None:
    crc = compute_checksum("crc32", BODY)
    sha = compute_checksum("sha1", BODY)
    refused("InvalidRequest", {"x-amz-checksum-crc32": crc, "x-amz-checksum-sha1": sha})
    refused("InvalidRequest", {"x-amz-checksum-crc32": crc, "x-amz-trailer": "x-amz-checksum-sha1"})
    refused("InvalidRequest", {"x-amz-sdk-checksum-algorithm": "CRC32"})
    refused("InvalidRequest", {"x-amz-sdk-checksum-algorithm": "MD5", "x-amz-checksum-crc32": crc})
    refused("InvalidRequest", {"x-amz-sdk-checksum-algorithm": "SHA1", "x-amz-checksum-crc32": crc})
    refused("InvalidRequest", {"x-amz-trailer": "x-amz-meta-foo"})
    refused("InvalidRequest", {"x-amz-trailer": "x-amz-checksum-crc32,x-amz-checksum-sha1"})


def test_unrelated_checksum_headers_are_ignored() -> None:
    headers = {"x-amz-checksum-mode": "ENABLED", "x-amz-checksum-type": "FULL_OBJECT"}
    assert checked(headers).checksums() == {}


def test_signed_payload_hash() -> None:
    digest = hashlib.sha256(BODY).hexdigest()
    checked({}, expected_sha256=digest)
    checked({}, expected_sha256=digest.upper())
    error = refused(
        "XAmzContentSHA256Mismatch", {}, expected_sha256=hashlib.sha256(b"").hexdigest()
    )
    assert error.status == 400
    # SHA-256 requested as a checksum too: computed once, both checked.
    both = checked(
        {"x-amz-checksum-sha256": compute_checksum("sha256", BODY)}, expected_sha256=digest
    )
    assert both.algorithms == ("sha256",)


def test_also_computes_extra_algorithms() -> None:
    checksummer = checked({}, also=("crc32",))  # type: ignore[arg-type]
    assert checksummer.checksums() == {"crc32": compute_checksum("crc32", BODY)}
    assert checksummer.requested is None


# --- multipart ----------------------------------------------------------------------------------


def test_composite_checksum() -> None:
    parts = [b"a" * 100, b"b" * 50, b"c"]
    values = [compute_checksum("crc32", p) for p in parts]
    raw = b"".join(base64.b64decode(v) for v in values)
    assert composite_checksum("crc32", values) == f"{b64(zlib.crc32(raw), 4)}-3"
    sha_values = [compute_checksum("sha256", p) for p in parts]
    expected = base64.b64encode(
        hashlib.sha256(b"".join(base64.b64decode(v) for v in sha_values)).digest()
    )
    assert composite_checksum("sha256", sha_values) == f"{expected.decode()}-3"


@settings(max_examples=40, deadline=None)
@given(parts=st.lists(st.binary(max_size=300), min_size=1, max_size=5))
def test_full_object_crc_equals_crc_of_the_whole(parts: list[bytes]) -> None:
    whole = b"".join(parts)
    for algorithm, fn in [("crc32", zlib.crc32), ("crc32c", crc32c.crc32c)]:
        values = [(b64(fn(p), 4), len(p)) for p in parts]
        assert full_object_crc(algorithm, values) == b64(fn(whole), 4)
    values = [(b64(crc64nvme_reference(p), 8), len(p)) for p in parts]
    assert full_object_crc("crc64nvme", values) == b64(crc64nvme_reference(whole), 8)


def test_combine_large_lengths() -> None:
    rng = random.Random(7)
    a, b = rng.randbytes(1 << 20), rng.randbytes(3 << 20)
    assert combine_crc("crc32", zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    with pytest.raises(S3Error):
        full_object_crc("sha256", [("x", 1)])
