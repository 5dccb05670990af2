"""Vectors (specs/kes.md §6.9, §7.3) and property tests for strongroom.crypto.kes_crypto."""

from __future__ import annotations

import base64
import contextlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.crypto.kes_crypto import (
    DecryptionError,
    HMACUnsupportedError,
    KeyAlgorithm,
    KeyFormatError,
    SecretKey,
    format_go_time,
    generate_data_key,
    hchacha20,
    parse_stored_key,
)

AES = KeyAlgorithm.AES256
CHACHA = KeyAlgorithm.CHACHA20
Z32 = bytes(32)
P16 = bytes(16)
K2 = base64.b64decode("dDHbTWgo+Yh3u804SYB5OyVMy6RiLeJYBQth1f6KlEU=")
PT2 = base64.b64decode("CLcJoykFCWZDkEIiUq9bJRqwCwW9ZDvdgu8EMA==")

J1 = {
    "aead": "AES-256-GCM-HMAC-SHA-256",
    "iv": "xLxIN3tSCkg2xMafuvwUwg==",
    "nonce": "gu0mGwUkwcvMEoi5",
    "bytes": "WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc=",
}
J2 = {
    "aead": "ChaCha20Poly1305",
    "iv": "s3fSZ6vk5m+DfQA8yZWeUg==",
    "nonce": "8/kHMnCMs3h9NZ2a",
    "bytes": "cw22HjLq/4cx8507SW4hhSrYbDiMuRao4b5+GE+XfbE=",
}
J3 = {
    "aead": "ChaCha20Poly1305",
    "id": "66687aadf862bd776c8fc18b8e9f8e20",
    "iv": "EC0eZp7Pqt+LnkOae5xaAg==",
    "nonce": "X1ejXKmH/ugFZPkk",
    "bytes": "wIGBTDs6aOvsqJfekZ0PYRT/OHyFX2TXqeNwl1SLXOI=",
}
M1 = "lbFBRVMyNTYtR0NNX1NIQTI1NtkgNjY2ODdhYWRmODYyYmQ3NzZjOGZjMThiOGU5ZjhlMjDEEExv7LAd4oz0SaHZrX5LBufEDEKME1ow1CDfUFrqv8QgJuy7Sw+jVqz99TK1HV851LT3K4mwwDv46TB2ngWkAJQ="
M2 = "lbJYQ0hBQ0hBMjAtUE9MWTEzMDXZIDY2Njg3YWFkZjg2MmJkNzc2YzhmYzE4YjhlOWY4ZTIwxBBAr+aptD4x2+qfOhiErbnkxAxYs8RmNC1JJXD1hiHEIJ2KqM0jjkME7ndx8nyVseesN83Np0rM5ejVUun+fNFu"
R1 = "zwdDgHeRlIFRnJ7+DIhs/ka7GFK2CFSfDELqg1VCyTQzZ58o7MAdupMLk3ZjlMo2ZUDwldL2o41nAWDc"
R2 = "s2gmfQHeGdlyL8x1yEWSACUV3GrSoz3t160hugMgzKWgyqesXDVUJ5Dw5Mt076rR1PNiU9X4YjLH14D8a81t2r2xsz4gVZac"
R3 = "gO4woRIswAJdjUjW7z2ApsSQxJlwB24yjLrmH4eI7sB0uh5nfEJfk9ybTPFft5FRFaZCVBmzhx7OJs9n0WWtxH3sySIxecIK"


def _json(doc: dict[str, str]) -> bytes:
    return json.dumps(doc).encode()


def key(raw: bytes, algorithm: KeyAlgorithm) -> SecretKey:
    return SecretKey(raw, algorithm)


# --- §6.9 positive vectors ----------------------------------------------------------------

DECRYPT_VECTORS = [
    pytest.param(Z32, AES, b"", _json(J1), P16, id="J1"),
    pytest.param(Z32, CHACHA, b"", _json(J2), P16, id="J2"),
    pytest.param(Z32, CHACHA, b"", _json(J3), P16, id="J3"),
    pytest.param(Z32, AES, b"", base64.b64decode(M1), P16, id="M1"),
    pytest.param(Z32, CHACHA, b"", base64.b64decode(M2), P16, id="M2"),
    pytest.param(Z32, AES, b"", base64.b64decode(R1), P16, id="R1"),
    pytest.param(K2, AES, P16, base64.b64decode(R2), PT2, id="R2"),
    pytest.param(K2, CHACHA, P16, base64.b64decode(R3), PT2, id="R3"),
    # Structured ciphertexts name their algorithm: a typeless (AES256) legacy key still
    # decrypts a ChaCha20 JSON/msgpack ciphertext (§6.5 recommendation).
    pytest.param(Z32, AES, b"", _json(J2), P16, id="J2-under-typeless-key"),
    pytest.param(Z32, AES, b"", base64.b64decode(M2), P16, id="M2-under-typeless-key"),
]


@pytest.mark.parametrize(("raw", "algorithm", "ad", "ciphertext", "plaintext"), DECRYPT_VECTORS)
def test_decrypt_vectors(
    raw: bytes, algorithm: KeyAlgorithm, ad: bytes, ciphertext: bytes, plaintext: bytes
) -> None:
    assert key(raw, algorithm).decrypt(ciphertext, ad) == plaintext


# --- §6.9 must-fail vectors -----------------------------------------------------------------

FAIL_VECTORS = [
    pytest.param(AES, _json({**J1, "aead": "AES-256-GCM"}), b"", id="unknown-aead"),
    pytest.param(AES, _json({**J1, "iv": "EjOY4JKqjIrPmQ5z1KSR8zlhggY="}), b"", id="iv-20"),
    pytest.param(CHACHA, _json({**J2, "nonce": "SXAbms731/c="}), b"", id="nonce-8"),
    pytest.param(AES, _json({**J1, "nonce": "efY+4kYF9n8="}), b"", id="nonce-8-aes"),
    pytest.param(
        AES,
        _json({**J1, "bytes": "QTza1g5oX3f9cGJMbY1xJwWPj1F7R2VnNl6XpFKYQy0="}),
        b"",
        id="j1-tag",
    ),
    pytest.param(
        CHACHA,
        _json({**J2, "bytes": "TTi8pkO+Jh1JWAHvPxZeUk/iVoBPUCE4ZSVGBy3fW2s="}),
        b"",
        id="j2-tag",
    ),
    pytest.param(AES, _json(J1).replace(b",", b"", 1), b"", id="missing-comma"),
    pytest.param(AES, base64.b64decode(R1), b"x", id="r1-wrong-ad"),
    pytest.param(AES, _json({**J3, "id": "00" * 16}), b"", id="key-id-mismatch"),
    pytest.param(AES, b"", b"", id="empty"),
    pytest.param(AES, bytes(28), b"", id="28-bytes"),
]


@pytest.mark.parametrize(("algorithm", "ciphertext", "ad"), FAIL_VECTORS)
def test_decrypt_must_fail(algorithm: KeyAlgorithm, ciphertext: bytes, ad: bytes) -> None:
    with pytest.raises(DecryptionError, match=r"^decryption failed: ciphertext is not authentic$"):
        key(Z32, algorithm).decrypt(ciphertext, ad)


def test_r2_with_empty_ad_fails() -> None:
    with pytest.raises(DecryptionError):
        key(K2, AES).decrypt(base64.b64decode(R2), b"")


# --- self-computed deterministic vectors ------------------------------------------------------

CONTEXT = base64.b64decode("eyJteWJ1Y2tldCI6Im15YnVja2V0L2EvYi50eHQifQ==")
FIXED = bytes(range(0x40, 0x50)) + bytes(range(0x60, 0x6C))


def _fixed(n: int) -> bytes:
    assert n == 28
    return FIXED


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        (
            AES,
            "66eLyNBlVziFtqG+xr+rEffJp+XmxfjtDTEDbHWp64s3hz7aReers4X/21uMNxrYQEFCQ0RFRkdISUpLTE1OT2BhYmNkZWZnaGlqaw==",
        ),
        (
            CHACHA,
            "qnapmVAihCow//3IZ4yB/m3is1yovtBj5OIgV5drg5a4+w0pLuCVLajekd78DWa/QEFCQ0RFRkdISUpLTE1OT2BhYmNkZWZnaGlqaw==",
        ),
    ],
)
def test_deterministic_raw_encrypt(algorithm: KeyAlgorithm, expected: str) -> None:
    k = key(K2, algorithm)
    ciphertext = k.encrypt(bytes(range(32)), CONTEXT, randbytes=_fixed)
    assert base64.b64encode(ciphertext).decode() == expected
    assert len(ciphertext) == 76
    assert k.decrypt(ciphertext, CONTEXT) == bytes(range(32))


def test_hchacha20_draft_vector() -> None:
    out = hchacha20(bytes(range(32)), bytes.fromhex("000000090000004a0000000031415927"))
    assert out.hex() == "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    sealing = hchacha20(K2, bytes(range(0x40, 0x50)))
    assert sealing.hex() == "1cef549fb280d79dae043423ca8ebc8b0e244f2e8aea57a2470d3272def19cfc"


def test_hmac_vector() -> None:
    hkey = base64.b64decode("nLXl4yqa4cjZTcSbsU6sNnN8kP9ARWkXwa20YQZa9Hg=")
    k = SecretKey.from_bytes(K2, hmac_key=hkey)
    mac = k.hmac(b"root access key")
    assert base64.b64encode(mac).decode() == "RZ6oLdN7V4mUCqvnichIoUNLNQi+XLhKOVhhoJ0V3ts="
    assert k.verify_hmac(b"root access key", mac)
    assert not k.verify_hmac(b"root secret key", mac)


def test_key_id_of_zero_key() -> None:
    assert key(Z32, AES).key_id == "66687aadf862bd776c8fc18b8e9f8e20"


# --- §7.3 stored keys -------------------------------------------------------------------------

PROTO = "CiQKIMiHG7XrN94FuwblJJor4f7f6rbqAl7DwsLaiIoyz0D2EAESJAognLXl4yqa4cjZTcSbsU6sNnN8kP9ARWkXwa20YQZa9HgQARoMCNithK0GEID67qYDIkAzZWNmY2RmMzhmY2JlMTQxYWUyNmExMDMwZjgxZTk2Yjc1MzM2NWE0Njc2MGFlNmI1Nzg2OThhOTdjNTlmZDIy"
ROOT = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22"


def test_stored_seed_json() -> None:
    k = parse_stored_key(b'{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}')
    assert k.algorithm is AES
    assert k.secret_bytes() == Z32
    assert k.created_at is None
    assert k.created_by == ""
    assert not k.has_hmac
    with pytest.raises(HMACUnsupportedError, match="key does not support HMAC"):
        k.hmac(b"x")


@pytest.mark.parametrize(
    ("value", "algorithm", "hex_key", "creator"),
    [
        (
            '{"bytes":"J8qmOyEV2ce2yoAC+5t0Y7CSP/hTMppL7XHpAnyc+0E=","algorithm":"AES256-GCM_SHA256","created_at":"2009-11-10T23:00:00Z","created_by":"40235905b7b83e0537a002db523cd019d6709b899adc249c957860cd00fa9f78"}',
            AES,
            "27caa63b2115d9c7b6ca8002fb9b7463b0923ff853329a4bed71e9027c9cfb41",
            "40235905b7b83e0537a002db523cd019d6709b899adc249c957860cd00fa9f78",
        ),
        (
            '{"bytes":"9ew6BCae3+13sniOUwttEJ62amg98YXc0OW0WBhNiCY=","algorithm":"XCHACHA20-POLY1305","created_at":"2009-11-10T23:00:00Z","created_by":"189d9de5331e3ee8abe9e4bd40d474ad621d79ccf83a711f6ac68050eb15a52a"}',
            CHACHA,
            base64.b64decode("9ew6BCae3+13sniOUwttEJ62amg98YXc0OW0WBhNiCY=").hex(),
            "189d9de5331e3ee8abe9e4bd40d474ad621d79ccf83a711f6ac68050eb15a52a",
        ),
    ],
)
def test_stored_v020_json(value: str, algorithm: KeyAlgorithm, hex_key: str, creator: str) -> None:
    k = parse_stored_key(value.encode())
    assert k.algorithm is algorithm
    assert k.secret_bytes().hex() == hex_key
    assert k.created_at == datetime(2009, 11, 10, 23, tzinfo=UTC)
    assert k.created_by == creator


def test_stored_protobuf_vector_and_byte_exact_round_trip() -> None:
    k = parse_stored_key(PROTO.encode())
    assert k.secret_bytes() == base64.b64decode("yIcbtes33gW7BuUkmivh/t/qtuoCXsPCwtqIijLPQPY=")
    assert k.algorithm is AES
    assert k.created_at == datetime(2024, 1, 12, 10, 39, 20, 886816, tzinfo=UTC)
    assert format_go_time(k.created_at) == "2024-01-12T10:39:20.886816Z"
    assert k.created_by == ROOT
    assert k.has_hmac
    mac = k.hmac(b"root access key")
    assert base64.b64encode(mac).decode() == "RZ6oLdN7V4mUCqvnichIoUNLNQi+XLhKOVhhoJ0V3ts="
    assert k.marshal("modern") == PROTO.encode()


@pytest.mark.parametrize(
    "value",
    [
        b'"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}',
        b'{bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}',
        b'{"bytes""AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}',
        b'"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="',
        b'{"bytes":"AAAA"}',
        b'{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","algorithm":"DES"}',
        b"[]",
        b"",
        base64.b64encode(b"\x0a\x22\x0a\x20" + bytes(32)),  # no type, no HMAC key
    ],
)
def test_stored_must_fail(value: bytes) -> None:
    with pytest.raises(KeyFormatError):
        parse_stored_key(value)


@pytest.mark.parametrize("algorithm", [AES, CHACHA])
@pytest.mark.parametrize("profile", ["modern", "legacy"])
def test_marshal_round_trip(algorithm: KeyAlgorithm, profile: str) -> None:
    k = SecretKey.generate(algorithm, created_by=ROOT)
    back = parse_stored_key(k.marshal("modern" if profile == "modern" else "legacy"))
    assert back.secret_bytes() == k.secret_bytes()
    assert back.algorithm is algorithm
    assert back.created_by == ROOT
    assert back.created_at == k.created_at
    if profile == "modern":
        assert back == k
    else:
        assert not back.has_hmac


def test_legacy_marshal_layout() -> None:
    k = SecretKey(Z32, CHACHA, datetime(2009, 11, 10, 23, tzinfo=UTC), "me", None)
    assert k.marshal("legacy") == (
        b'{"bytes":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","algorithm":"XCHACHA20-POLY1305",'
        b'"created_at":"2009-11-10T23:00:00Z","created_by":"me"}'
    )
    with pytest.raises(HMACUnsupportedError):
        k.marshal("modern")


def test_repr_is_redacted() -> None:
    k = SecretKey.generate()
    for text in (repr(k), str(k), f"{k}"):
        assert k.secret_bytes().hex() not in text
        assert base64.b64encode(k.secret_bytes()).decode() not in text
        assert "redacted" in text


def test_generate_data_key() -> None:
    k = SecretKey.generate(CHACHA)
    plaintext, ciphertext = generate_data_key(k, CONTEXT)
    assert len(plaintext) == 32 and len(ciphertext) == 76
    assert k.decrypt(ciphertext, CONTEXT) == plaintext
    with pytest.raises(DecryptionError):
        k.decrypt(ciphertext, b"{}")
    _, legacy = generate_data_key(k, CONTEXT, format="json")
    assert json.loads(legacy)["id"] == k.key_id


# --- properties -------------------------------------------------------------------------------

ALGORITHMS = st.sampled_from([AES, CHACHA])
FORMATS = st.sampled_from(["raw", "json", "msgpack"])


@settings(max_examples=60, deadline=None)
@given(
    raw=st.binary(min_size=32, max_size=32),
    algorithm=ALGORITHMS,
    fmt=FORMATS,
    plaintext=st.binary(max_size=600),
    ad=st.binary(max_size=64),
)
def test_encrypt_decrypt_round_trip(
    raw: bytes, algorithm: KeyAlgorithm, fmt: str, plaintext: bytes, ad: bytes
) -> None:
    k = key(raw, algorithm)
    ciphertext = k.encrypt(plaintext, ad, format=fmt)  # type: ignore[arg-type]
    assert k.decrypt(ciphertext, ad) == plaintext
    with pytest.raises(DecryptionError):
        k.decrypt(ciphertext, ad + b"\x00")


@settings(max_examples=40, deadline=None)
@given(fmt=FORMATS, plaintext=st.binary(min_size=1, max_size=64), data=st.data())
def test_tampering_is_detected(fmt: str, plaintext: bytes, data: st.DataObject) -> None:
    k = SecretKey.generate()
    ciphertext = bytearray(k.encrypt(plaintext, b"ctx", format=fmt))  # type: ignore[arg-type]
    i = data.draw(st.integers(0, len(ciphertext) - 1))
    ciphertext[i] ^= data.draw(st.integers(1, 255))
    with contextlib.suppress(DecryptionError):  # a JSON whitespace flip may still decrypt
        assert k.decrypt(bytes(ciphertext), b"ctx") == plaintext
    with pytest.raises(DecryptionError):
        k.decrypt(bytes(ciphertext[:-1]), b"ctx")


@settings(max_examples=300, deadline=None)
@given(
    blob=st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=200).map(lambda b: b"\x95" + b),
        st.binary(max_size=200).map(lambda b: b"{" + b),
        st.dictionaries(
            st.sampled_from(["aead", "id", "iv", "nonce", "bytes", "AEAD"]),
            st.one_of(st.text(max_size=30), st.integers(), st.none(), st.lists(st.integers())),
        ).map(lambda d: json.dumps(d).encode()),
    )
)
def test_random_ciphertexts_only_raise_decryption_error(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        SecretKey(Z32, CHACHA).decrypt(blob, b"")


@settings(max_examples=300, deadline=None)
@given(
    blob=st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=150).map(base64.b64encode),
        st.dictionaries(
            st.sampled_from(["bytes", "algorithm", "created_at", "created_by", "Bytes"]),
            st.one_of(st.text(max_size=50), st.integers(), st.none()),
        ).map(lambda d: json.dumps(d).encode()),
    )
)
def test_random_stored_keys_only_raise_key_format_error(blob: bytes) -> None:
    with contextlib.suppress(KeyFormatError):
        parse_stored_key(blob)


def _reference_hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """Straight from the XChaCha20 draft: 10 double rounds, words 0-3 and 12-15."""
    import struct

    def rotl(v: int, c: int) -> int:
        return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))

    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))

    def qr(a: int, b: int, c: int, d: int) -> None:
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = rotl(s[b] ^ s[c], 7)

    for _ in range(10):
        qr(0, 4, 8, 12)
        qr(1, 5, 9, 13)
        qr(2, 6, 10, 14)
        qr(3, 7, 11, 15)
        qr(0, 5, 10, 15)
        qr(1, 6, 11, 12)
        qr(2, 7, 8, 13)
        qr(3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


@settings(max_examples=100, deadline=None)
@given(
    k=st.binary(min_size=32, max_size=32),
    iv=st.one_of(
        st.binary(min_size=16, max_size=16),
        st.binary(min_size=12, max_size=12).map(lambda b: b"\xff\xff\xff\xff" + b),
    ),
)
def test_hchacha20_matches_the_reference(k: bytes, iv: bytes) -> None:
    assert hchacha20(k, iv) == _reference_hchacha20(k, iv)
