"""End-to-end vectors of spec Appendix B (derived by an independent port; every primitive they
use is also covered by MinIO's own vectors)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable

from strongroom.crypto import dare, sealing
from strongroom.crypto.kms_context import canonical_context
from strongroom.crypto.sealing import Domain
from strongroom.kms.static import StaticKMS, parse_secret_key


def _scripted(*chunks: bytes) -> Callable[[int], bytes]:
    it = iter(chunks)
    return lambda n: next(it)


def test_b1_sse_s3_single_part() -> None:
    name, master = parse_secret_key("my-key:eEm+JI9/q4JhH8QwKvf3LKo4DEBl6QbfvAl1CAbMIv8=")
    kms = StaticKMS(name, master, random=_scripted(b"\x11" * 32 + bytes(range(28))))
    bucket, obj = "bucket", "dir/object.txt"
    plaintext = b"Hello, MinIO SSE!\n" * 1000
    assert hashlib.md5(plaintext).hexdigest() == "a5ec34127bad5ffdb52948c717007540"

    ctx = {bucket: sealing.object_path(bucket, obj)}
    assert canonical_context(ctx) == b'{"bucket":"bucket/dir/object.txt"}'
    dk = asyncio.run(kms.generate_key(kms.default_key, ctx))
    assert dk.key_id == "my-key"
    assert base64.b64encode(dk.ciphertext).decode() == (
        "rj/qEkxQQeIaxikejwrBXoKYTKnFbOV9/uFBliWzKl9v7zKTl0y3j/trI8KGe06RAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=="
    )

    oek = sealing.generate_object_key(dk.plaintext, random=b"\x22" * 32)
    assert oek.hex() == "67bbb8a71854ac8220038f3943937d72321bf00d912c92245609f595df7e3a26"
    iv = sealing.generate_iv(random=b"\x33" * 32)
    assert base64.b64encode(iv).decode() == "MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM="
    kek = sealing.derive_kek(dk.plaintext, iv, Domain.SSE_S3, bucket, obj)
    assert kek.hex() == "4ba34c226be3e6ec4baf9566554645cc86566cc097d7bfa91e947b92e364c536"
    sealed = sealing.seal_object_key(
        oek, dk.plaintext, iv, Domain.SSE_S3, bucket, obj, nonce=b"\x44" * 12
    )
    assert base64.b64encode(sealed).decode() == (
        "IAAfAMRERERERERERERERLn3GoEgMQ7f6enQUQDFU4gbJskMRKqThLt9CyfA86PR1up0uWFHiBeOtOqMrtkESw=="
    )
    etag = sealing.seal_etag(oek, hashlib.md5(plaintext).digest(), nonce=b"\x66" * 12)
    assert etag.hex() == (
        "20000f00e66666666666666666666666b454fdfddf564b49cc70a33584b3bf537967798f6e9688d09a2231b458443852"
    )
    data = dare.encrypt(oek, plaintext, nonce=b"\x55" * 12)
    assert len(data) == 18032
    assert hashlib.sha256(data).hexdigest() == (
        "b025bf3394a53597bbe171df90fddbd02a61f4ff1c268695383e5531cfd0ddb7"
    )
    assert data.hex().startswith("20004f46d5555555555555555555555564318")

    # and the read path: KMS decrypt, unseal, decrypt data and ETag
    dek = asyncio.run(kms.decrypt("my-key", dk.ciphertext, ctx))
    key = sealing.unseal_object_key(sealed, dek, iv, Domain.SSE_S3, bucket, obj)
    assert dare.decrypt(key, data) == plaintext
    assert sealing.decrypt_etag(key, etag.hex()) == "a5ec34127bad5ffdb52948c717007540"


def test_b2_sse_c_multipart() -> None:
    client_key = base64.b64decode("MzJieXRlc2xvbmdzZWNyZXRrZXltdXN0cHJvdmlkZWQ=")
    upload_id = "8b5b0ad1-1c4a-4f1e-a3f1-6f1c4e2a9d10"
    oek = sealing.generate_object_key(client_key, random=b"\x77" * 32)
    assert oek.hex() == "94e334d53a685531af93a15d1d5b25a9c1d2a29e491f3ab1bb4c0960f197f505"
    iv = b"\x88" * 32
    assert base64.b64encode(iv).decode() == "iIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIg="
    sealed = sealing.seal_object_key(
        oek, client_key, iv, Domain.SSE_C, "bucket", "object", nonce=b"\x99" * 12
    )
    assert base64.b64encode(sealed).decode() == (
        "IAAfAJmZmZmZmZmZmZmZmf3w2V0Tf3CD+eUY+Y2Ulmo0O1yoFAtLTu2fLufFNt3Py/qzn8nXDGlk1oFQHMYZKw=="
    )
    expected = {
        1: (
            "0f792c38dd4050108c007be407242fd6af643189d38b0b38d4a7d963f4d77310",
            "74a28663c5230aeda443acdc",
            "2f167fa6020c3fc8d9400fa2b9309c58edd54d67dd759cf1dc9e2f0beb785aac",
        ),
        2: (
            "9a4cc25552d89c957f5f98ef74cd89e390eece05aac6ac9b38c7adce443e3ebf",
            "ac4eeca48f977dd5ae64448a",
            "6684aa669175a07e80bce31481356eeac1878e9d16d274c8b37222c38c97f2d4",
        ),
    }
    parts = []
    for number, (key_hex, nonce_hex, digest) in expected.items():
        key = sealing.part_key(oek, number)
        assert key.hex() == key_hex
        nonce = sealing.minio_part_nonce(upload_id, number)
        assert nonce.hex() == nonce_hex
        enc = dare.DareEncryptor(key, nonce=nonce)
        body = bytes([number]) * (5 << 20)
        stored = b"".join(enc.update(body[i : i + (1 << 20)]) for i in range(0, len(body), 1 << 20))
        stored += enc.finalize()
        assert len(stored) == 5245440
        assert hashlib.sha256(stored).hexdigest() == digest
        parts.append(stored)

    # a range across the part boundary, read back through the multipart mapping
    blob = b"".join(parts)
    size = 5 << 20
    got = b"".join(
        dare.decrypt_multipart_range(
            lambda i: sealing.part_key(oek, i + 1),
            lambda off, n: blob[off : off + n],
            [size, size],
            size - 3,
            6,
        )
    )
    assert got == b"\x01\x01\x01\x02\x02\x02"
