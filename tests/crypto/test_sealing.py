"""Key hierarchy: MinIO's sealed-key, part-key and ETag vectors, and binding properties."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.crypto import sealing
from strongroom.crypto.sealing import Domain, UnsealError

SSEC_KEY = base64.b64decode("MzJieXRlc2xvbmdzZWNyZXRrZXltdXN0cHJvdmlkZWQ=")
SSEC_SEALED = base64.b64decode(
    "IAAfAMBdYor5tf/UlVaQvwYlw5yKbPBeQqfygqsfHqhu1wHD9KDAP4bw38AhL12prFTS23JbbR9Re5Qv26ZnlQ=="
)
SSEC_IV = base64.b64decode("coVfGS3I/CTrqexX5vUN+PQPoP9aUFiPYYrSzqTWfBA=")
ZERO = bytes(32)


def test_ssec_vector_key() -> None:
    assert SSEC_KEY == b"32byteslongsecretkeymustprovided"


def test_ssec_vector_kek() -> None:
    kek = sealing.derive_kek(SSEC_KEY, SSEC_IV, Domain.SSE_C, "bucket", "object")
    assert kek.hex() == "c47eac1a2b655726a2c73d565ff522df75dae4e8a7def866335649694b2b14ed"


def test_ssec_vector_unseal() -> None:
    oek = sealing.unseal_object_key(SSEC_SEALED, SSEC_KEY, SSEC_IV, "SSE-C", "bucket", "object")
    assert oek.hex() == "d4bef6fb18079e63828e8ab5953d9ae6d765d410d70e098d5c3d309731668f4e"
    assert "d4bef6" not in repr(oek)


@pytest.mark.parametrize(
    ("key", "iv", "domain", "bucket", "obj", "algorithm"),
    [
        (SSEC_KEY, SSEC_IV, "SSE-C", "bucket", "object2", sealing.SEAL_ALGORITHM),
        (SSEC_KEY, SSEC_IV, "SSE-C", "bucket", "Object", sealing.SEAL_ALGORITHM),
        (SSEC_KEY, SSEC_IV, "SSE-C", "bucket2", "object", sealing.SEAL_ALGORITHM),
        (SSEC_KEY, SSEC_IV, "SSE-S3", "bucket", "object", sealing.SEAL_ALGORITHM),
        (SSEC_KEY, SSEC_IV, "SSE-KMS", "bucket", "object", sealing.SEAL_ALGORITHM),
        (ZERO, SSEC_IV, "SSE-C", "bucket", "object", sealing.SEAL_ALGORITHM),
        (SSEC_KEY, ZERO, "SSE-C", "bucket", "object", sealing.SEAL_ALGORITHM),
        (SSEC_KEY, SSEC_IV, "SSE-C", "bucket", "object", "DARE-SHA256"),
        (SSEC_KEY, SSEC_IV, "SSE-C", "bucket", "object", ""),
    ],
)
def test_ssec_vector_wrong_binding(
    key: bytes, iv: bytes, domain: str, bucket: str, obj: str, algorithm: str
) -> None:
    with pytest.raises(UnsealError):
        sealing.unseal_object_key(SSEC_SEALED, key, iv, domain, bucket, obj, algorithm=algorithm)


@pytest.mark.parametrize(
    "sealed", [b"", SSEC_SEALED[:-1], SSEC_SEALED + b"\0", bytes(64), b"x" * 64]
)
def test_unseal_malformed(sealed: bytes) -> None:
    with pytest.raises(UnsealError):
        sealing.unseal_object_key(sealed, SSEC_KEY, SSEC_IV, "SSE-C", "bucket", "object")


def test_unseal_bad_sizes_are_uniform() -> None:
    with pytest.raises(UnsealError):
        sealing.unseal_object_key(SSEC_SEALED, b"short", SSEC_IV, "SSE-C", "bucket", "object")
    with pytest.raises(UnsealError):
        sealing.unseal_object_key(SSEC_SEALED, SSEC_KEY, b"short", "SSE-C", "bucket", "object")


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        (0, "aa7855e13839dd767cd5da7c1ff5036540c9264b7a803029315e55375287b4af"),
        (1, "a3e7181c6eed030fd52f79537c56c4d07da92e56d374ff1dd2043350785b37d8"),
        (10000, "f86e65c396ed52d204ee44bd1a0bbd86eb8b01b7354e67a3b3ae0e34dd5bd115"),
    ],
)
def test_part_key_vectors(part: int, expected: str) -> None:
    assert sealing.part_key(ZERO, part).hex() == expected


def test_part_key_bounds() -> None:
    with pytest.raises(ValueError):
        sealing.part_key(ZERO, -1)
    with pytest.raises(ValueError):
        sealing.part_key(ZERO, 1 << 32)


SEALED_ETAG = (
    "20000f00f27834c9a2654927546df57f9e998187496394d4ee80f3d9978f85f3"
    "c7d81f72600cdbe03d80dc5a13d69354"
)


def test_decrypt_etag_vector() -> None:
    assert sealing.decrypt_etag(ZERO, SEALED_ETAG) == "8ad3fe6b84bf38489e95c701c84355b6"


@pytest.mark.parametrize(
    "etag", ["916516b396f0f4d4f2a0e7177557bec4-1", "916516b396f0f4d4f2a0e7177557bec4-738"]
)
def test_decrypt_etag_multipart_passthrough(etag: str) -> None:
    assert sealing.decrypt_etag(ZERO, etag) == etag


@pytest.mark.parametrize(
    "etag",
    [
        SEALED_ETAG[:-1],  # odd length
        "21" + SEALED_ETAG[2:],  # changed first byte
        SEALED_ETAG[:-2] + "00",  # tag changed
        "916516b396f0f4d4f2a0e7177557bec4-Q",
        "916516b396f0f4d4f2a0e7177557bec-1",  # 31 hex chars
        "916516b396f0f4d4f2a0e7177557bec4-1-2",
        "zz" * 48,
        " " + SEALED_ETAG[1:],
    ],
)
def test_decrypt_etag_rejects(etag: str) -> None:
    with pytest.raises(UnsealError):
        sealing.decrypt_etag(ZERO, etag)


def test_decrypt_etag_wrong_key() -> None:
    with pytest.raises(UnsealError):
        sealing.decrypt_etag(bytes([1]) + ZERO[1:], SEALED_ETAG)


@pytest.mark.parametrize("size", [0, 8, 16, 20])
def test_etag_roundtrip(size: int) -> None:
    oek = os.urandom(32)
    etag = os.urandom(size)
    sealed = sealing.seal_etag(oek, etag)
    assert len(sealed) == (0 if size == 0 else size + 32)
    assert sealing.unseal_etag(oek, sealed) == etag


def test_sealed_etag_format() -> None:
    oek = os.urandom(32)
    stored = sealing.seal_etag(oek, os.urandom(16)).hex()
    assert len(stored) == 96 and stored.startswith("20000f00")
    assert sealing.is_sealed_etag(stored)
    assert sealing.format_sealed_etag(stored) == stored[-32:]
    plain_md5 = "8ad3fe6b84bf38489e95c701c84355b6"
    assert not sealing.is_sealed_etag(plain_md5)
    assert sealing.format_sealed_etag(plain_md5) == plain_md5
    assert sealing.format_sealed_etag(plain_md5 + "-3") == plain_md5 + "-3"


names = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20)


@given(
    bucket=names,
    obj=names,
    domain=st.sampled_from(list(Domain)),
    other_domain=st.sampled_from(list(Domain)),
    other_obj=names,
)
def test_seal_roundtrip_and_binding(
    bucket: str, obj: str, domain: Domain, other_domain: Domain, other_obj: str
) -> None:
    ext = os.urandom(32)
    oek = sealing.generate_object_key(ext)
    iv = sealing.generate_iv()
    sealed = sealing.seal_object_key(oek, ext, iv, domain, bucket, obj)
    assert len(sealed) == 64
    assert sealing.unseal_object_key(sealed, ext, iv, domain, bucket, obj) == oek
    if other_domain != domain:
        with pytest.raises(UnsealError):
            sealing.unseal_object_key(sealed, ext, iv, other_domain, bucket, obj)
    if sealing.object_path(bucket, other_obj) != sealing.object_path(bucket, obj):
        with pytest.raises(UnsealError):
            sealing.unseal_object_key(sealed, ext, iv, domain, bucket, other_obj)


@pytest.mark.parametrize(
    ("bucket", "obj", "joined"),
    [
        ("bucket", "object", "bucket/object"),
        ("bucket", "dir/object.txt", "bucket/dir/object.txt"),
        ("bucket", "dir/", "bucket/dir"),
        ("bucket", "a//b", "bucket/a/b"),
        ("bucket", "a/./b", "bucket/a/b"),
        ("bucket", "a/../b", "bucket/b"),
        ("bucket", "../../x", "../x"),
        ("bucket", "", "bucket"),
        ("", "", ""),
        ("", "../a", "../a"),
        ("/bucket", "/../a", "/a"),
    ],
)
def test_object_path_is_go_path_join(bucket: str, obj: str, joined: str) -> None:
    assert sealing.object_path(bucket, obj) == joined


def test_minio_part_nonce_is_deterministic() -> None:
    n = sealing.minio_part_nonce("8b5b0ad1-1c4a-4f1e-a3f1-6f1c4e2a9d10", 1)
    assert n.hex() == "74a28663c5230aeda443acdc"


def test_sealed_key_helpers_and_rotation() -> None:
    old, new = os.urandom(32), os.urandom(32)
    oek, sk = sealing.new_object_key(old, Domain.SSE_C, "b", "o")
    assert len(sk.iv) == 32 and len(sk.sealed) == 64 and sk.algorithm == "DAREv2-HMAC-SHA256"
    assert sealing.open_object_key(sk, old, Domain.SSE_C, "b", "o") == oek
    rotated = sealing.reseal_object_key(sk, old, new, Domain.SSE_C, "b", "o")
    assert rotated.iv == sk.iv and rotated.sealed != sk.sealed
    assert sealing.open_object_key(rotated, new, Domain.SSE_C, "b", "o") == oek
    with pytest.raises(UnsealError):
        sealing.open_object_key(rotated, old, Domain.SSE_C, "b", "o")
    with pytest.raises(UnsealError):
        sealing.reseal_object_key(sk, new, old, Domain.SSE_C, "b", "o")
    rewrapped = sealing.reseal_object_key(sk, old, new, Domain.SSE_C, "b", "o", fresh_iv=True)
    assert rewrapped.iv != sk.iv
    assert sealing.open_object_key(rewrapped, new, Domain.SSE_C, "b", "o") == oek


def test_ssec_vector_through_sealed_key() -> None:
    sk = sealing.SealedKey(SSEC_IV, SSEC_SEALED)
    assert (
        sealing.open_object_key(sk, SSEC_KEY, "SSE-C", "bucket", "object")
        .hex()
        .startswith("d4bef6fb")
    )
    legacy = sealing.SealedKey(SSEC_IV, SSEC_SEALED, "DARE-SHA256")
    with pytest.raises(UnsealError):
        sealing.open_object_key(legacy, SSEC_KEY, "SSE-C", "bucket", "object")


_SEGMENT = st.sampled_from(["", ".", "..", "a", "b.c", "..d", "e.."])


@given(
    bucket=st.lists(_SEGMENT, min_size=1, max_size=2).map("/".join),
    obj=st.lists(_SEGMENT, max_size=5).map("/".join),
)
def test_object_path_shortcut_equals_path_clean(bucket: str, obj: str) -> None:
    elems = [e for e in (bucket, obj) if e]
    expected = sealing._go_clean("/".join(elems)) if elems else ""
    assert sealing.object_path(bucket, obj) == expected


@given(
    bucket=names,
    obj=names,
    domain=st.sampled_from(list(Domain)),
    random=st.binary(min_size=sealing.NEW_KEY_RANDOM, max_size=sealing.NEW_KEY_RANDOM),
    ext=st.binary(min_size=32, max_size=32),
)
def test_new_object_key_equals_the_steps(
    bucket: str, obj: str, domain: Domain, random: bytes, ext: bytes
) -> None:
    """The fused PUT-path routine gives exactly what the three documented steps give."""
    oek, sealed = sealing.new_object_key(ext, domain.value, bucket, obj, random=random)
    iv = sealing.generate_iv(random=random[:32])
    expected_oek = sealing.generate_object_key(ext, random=random[32:64])
    assert oek == expected_oek
    assert sealed.iv == iv
    assert sealed.sealed == sealing.seal_object_key(
        expected_oek, ext, iv, domain, bucket, obj, nonce=random[64:]
    )
    assert sealing.open_object_key(sealed, ext, domain, bucket, obj) == oek


def test_new_object_key_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="random bytes"):
        sealing.new_object_key(bytes(32), Domain.SSE_S3, "b", "o", random=bytes(75))
    with pytest.raises(ValueError, match="32 bytes"):
        sealing.new_object_key(bytes(31), Domain.SSE_S3, "b", "o")
    with pytest.raises(ValueError, match="domain"):
        sealing.new_object_key(bytes(32), "SSE-X", "b", "o")
