"""The built-in static-key KMS: formats, vectors, configuration and the local key file."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import stat
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto import dare
from strongroom.crypto.kms_context import canonical_context
from strongroom.kms.base import (
    KMS,
    KMSDecryptError,
    KMSError,
    KMSKeyExistsError,
    KMSKeyNotFoundError,
)
from strongroom.kms.static import (
    LOCAL_KEY_PATH,
    KMSConfigError,
    StaticKMS,
    from_env,
    load_or_create_local_kms,
    parse_secret_key,
)
from tests.kms.kms_conformance import KMSConformance

T = TypeVar("T")

SECRET = "my-key:eEm+JI9/q4JhH8QwKvf3LKo4DEBl6QbfvAl1CAbMIv8="
MASTER = base64.b64decode(SECRET.split(":", 1)[1])


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def scripted(*chunks: bytes) -> Callable[[int], bytes]:
    it: Iterator[bytes] = iter(chunks)

    def rand(n: int) -> bytes:
        out = next(it)
        assert len(out) == n
        return out

    return rand


@pytest.fixture
def kms() -> StaticKMS:
    return StaticKMS("my-key", MASTER)


def test_is_a_kms(kms: StaticKMS) -> None:
    k: KMS = kms
    assert k.default_key == "my-key"
    assert "eEm+" not in repr(kms)


# --- vectors -----------------------------------------------------------------------------------

LEGACY_JSON = [
    (
        None,
        '{"aead":"ChaCha20Poly1305","iv":"JbI+vwvYww1lCb5VpkAFuQ==","nonce":"ARjIjJxBSD541Gz8",'
        '"bytes":"KCbEc2sA0TLvA7aWTWa23AdccVfJMpOxwgG8hm+4PaNrxYfy1xFWZg2gEenVrOgv"}',
        "zmS7NrG765UZ0ZN85oPjybelxqVvpz01vxsSpOISy2M=",
    ),
    (
        {"key": "value"},
        '{"aead":"ChaCha20Poly1305","iv":"r4+yfiVbVIYR0Z2I9Fq+6g==","nonce":"2YpwGwE59GcVraI3",'
        '"bytes":"k/svMglOU7/Kgwv73heG38NWW575XLcFp3SaxQHDMjJGYyRI3Fiygu2OeutGPXNL"}',
        "UnPWsZgVI+T4L9WGNzFlP1PsP1Z6hn2Fx8ISeZfDGnA=",
    ),
]


@pytest.mark.parametrize(("ctx", "ciphertext", "plaintext"), LEGACY_JSON)
def test_legacy_json_vectors(
    kms: StaticKMS, ctx: dict[str, str] | None, ciphertext: str, plaintext: str
) -> None:
    got = run(kms.decrypt("my-key", ciphertext.encode(), ctx or {}))
    assert base64.b64encode(got).decode() == plaintext
    with pytest.raises(KMSDecryptError):
        run(kms.decrypt("my-key", ciphertext.encode(), {"key": "other"}))
    with pytest.raises(KMSKeyNotFoundError):
        run(kms.decrypt("other-key", ciphertext.encode(), ctx or {}))


def _legacy_aes_json(ctx: dict[str, str], dek: bytes, key_id: str = "") -> bytes:
    iv, nonce = os.urandom(16), os.urandom(12)
    seal_key = hmac.digest(MASTER, iv, hashlib.sha256)
    body = AESGCM(seal_key).encrypt(nonce, dek, canonical_context(ctx))
    doc = {"aead": "AES-256-GCM-HMAC-SHA-256"}
    doc.update(
        {
            k: base64.b64encode(v).decode()
            for k, v in (("iv", iv), ("nonce", nonce), ("bytes", body))
        }
    )
    if key_id:
        doc["id"] = key_id
    return json.dumps(doc).encode()


def test_legacy_json_aes(kms: StaticKMS) -> None:
    dek = os.urandom(32)
    ctx = {"bucket": "bucket/object"}
    assert run(kms.decrypt("my-key", _legacy_aes_json(ctx, dek), ctx)) == dek
    assert run(kms.decrypt("my-key", _legacy_aes_json(ctx, dek, "my-key"), ctx)) == dek
    with pytest.raises(KMSDecryptError):
        run(kms.decrypt("my-key", _legacy_aes_json(ctx, dek, "someone-else"), ctx))


def test_binary_ciphertext_that_looks_like_json(kms: StaticKMS) -> None:
    """1 in 65536 current-format ciphertexts starts with '{' and ends with '}' by chance."""
    ctx = {"bucket": "bucket/object"}
    iv_nonce = bytes(27) + b"}"
    for i in range(100_000):
        dek = i.to_bytes(32, "little")
        probe = StaticKMS("my-key", MASTER, random=scripted(dek + iv_nonce))
        dk = probe.generate_key_sync("my-key", ctx)
        if dk.ciphertext[:1] == b"{":
            break
    assert dk.ciphertext[:1] == b"{" and dk.ciphertext[-1:] == b"}"
    assert run(kms.decrypt("my-key", dk.ciphertext, ctx)) == dek


@pytest.mark.parametrize(
    "blob",
    [
        b"{}",
        b"{not json}",
        b'{"aead":"ROT13","iv":"","nonce":"","bytes":""}',
        b'{"aead":"ChaCha20Poly1305","iv":"AA==","nonce":"ARjIjJxBSD541Gz8","bytes":""}',
        b'{"aead":"ChaCha20Poly1305","iv":"JbI+vwvYww1lCb5VpkAFuQ==","nonce":"!","bytes":""}',
        b"",
        b"short",
        bytes(75),
        bytes(76),
    ],
)
def test_malformed_ciphertexts(kms: StaticKMS, blob: bytes) -> None:
    with pytest.raises(KMSDecryptError):
        run(kms.decrypt("my-key", blob, {}))


def test_legacy_master_key_dare_format(kms: StaticKMS) -> None:
    """Pre-2021 MINIO_KMS_MASTER_KEY: DARE2(HMAC(MK, keyID || ctx), DEK), any key name."""
    dek = os.urandom(32)
    ctx = {"bucket": "bucket/object"}
    for key_id in ("my-key", "any-name-at-all"):
        derived = hmac.digest(MASTER, key_id.encode() + canonical_context(ctx), hashlib.sha256)
        blob = dare.encrypt(derived, dek)
        assert len(blob) == 64
        assert run(kms.decrypt(key_id, blob, ctx)) == dek
        with pytest.raises(KMSDecryptError):
            run(kms.decrypt(key_id, blob, {}))
        with pytest.raises(KMSDecryptError):
            run(kms.decrypt(key_id + "x", blob, ctx))


# --- the current format ------------------------------------------------------------------------


def test_appendix_b1_data_key() -> None:
    kms = StaticKMS("my-key", MASTER, random=scripted(b"\x11" * 32 + bytes(range(28))))
    dk = run(kms.generate_key("my-key", {"bucket": "bucket/dir/object.txt"}))
    assert dk.key_id == "my-key"
    assert dk.plaintext == b"\x11" * 32
    assert base64.b64encode(dk.ciphertext).decode() == (
        "rj/qEkxQQeIaxikejwrBXoKYTKnFbOV9/uFBliWzKl9v7zKTl0y3j/trI8KGe06RAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=="
    )
    assert "\\x11\\x11" not in repr(dk) and "redacted" in repr(dk.plaintext)


@pytest.mark.parametrize(
    "ctx", [{}, {"bucket": "bucket/object"}, {"a": "<&>", "b": "\u2028", "": ""}]
)
def test_roundtrip_and_binding(kms: StaticKMS, ctx: dict[str, str]) -> None:
    dk = run(kms.generate_key("my-key", ctx))
    assert len(dk.ciphertext) == 76 and len(dk.plaintext) == 32
    assert run(kms.decrypt("my-key", dk.ciphertext, ctx)) == dk.plaintext
    assert run(kms.decrypt("", dk.ciphertext, ctx)) == dk.plaintext  # "" = the default key
    with pytest.raises(KMSDecryptError):
        run(kms.decrypt("my-key", dk.ciphertext, {**ctx, "extra": "x"}))
    with pytest.raises(KMSDecryptError):
        run(StaticKMS("my-key", os.urandom(32)).decrypt("my-key", dk.ciphertext, ctx))
    for i in range(len(dk.ciphertext)):
        bad = bytearray(dk.ciphertext)
        bad[i] ^= 0x01
        with pytest.raises(KMSDecryptError):
            run(kms.decrypt("my-key", bytes(bad), ctx))


def test_unknown_key(kms: StaticKMS) -> None:
    with pytest.raises(KMSKeyNotFoundError):
        run(kms.generate_key("other", {}))
    dk = run(kms.generate_key("my-key", {}))
    with pytest.raises(KMSKeyNotFoundError):
        run(kms.decrypt("other", dk.ciphertext, {}))


def test_admin_operations(kms: StaticKMS) -> None:
    with pytest.raises(KMSKeyExistsError):
        run(kms.create_key("my-key"))
    with pytest.raises(KMSError):
        run(kms.create_key("new-key"))
    st = run(kms.key_status("my-key"))
    assert (st.key_id, st.encryption_ok, st.decryption_ok, st.error) == ("my-key", True, True, "")
    assert run(kms.key_status("")).key_id == "my-key"
    bad = run(kms.key_status("nope"))
    assert not bad.encryption_ok and not bad.decryption_ok and "nope" in bad.error
    status = run(kms.status())
    assert status.default_key == "my-key" and dict(status.endpoints) == {"127.0.0.1": "online"}
    assert run(kms.list_keys()) == ["my-key"]
    assert kms.mac(b"root access key") == hmac.digest(MASTER, b"root access key", "sha256")
    run(kms.close())


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        StaticKMS("", MASTER)
    with pytest.raises(ValueError):
        StaticKMS("k", MASTER[:31])


# --- configuration -----------------------------------------------------------------------------


def test_env_not_configured(tmp_path: Path) -> None:
    assert from_env({}) is None
    assert from_env({"MINIO_KMS_SECRET_KEY": "", "MINIO_KMS_MASTER_KEY": ""}) is None
    missing = str(tmp_path / "nope")
    assert from_env({"MINIO_KMS_SECRET_KEY_FILE": missing}, secrets_dir=str(tmp_path)) is None


def test_env_secret_key() -> None:
    kms = from_env({"MINIO_KMS_SECRET_KEY": SECRET})
    assert kms is not None and kms.default_key == "my-key"
    assert kms.source == "MINIO_KMS_SECRET_KEY"
    dk = run(kms.generate_key("my-key", {}))
    assert run(StaticKMS("my-key", MASTER).decrypt("my-key", dk.ciphertext, {})) == dk.plaintext


def test_env_master_key() -> None:
    hexkey = MASTER.hex()
    kms = from_env({"MINIO_KMS_MASTER_KEY": f"my-minio-key:{hexkey}"})
    assert kms is not None and kms.default_key == "my-minio-key"
    assert kms.mac(b"x") == hmac.digest(MASTER, b"x", "sha256")
    upper = from_env({"MINIO_KMS_MASTER_KEY": f"k:{hexkey.upper()}"})
    assert upper is not None and upper.mac(b"x") == kms.mac(b"x")


def test_env_files(tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_text(SECRET + "\n")
    kms = from_env({"MINIO_KMS_SECRET_KEY_FILE": str(f)})
    assert kms is not None and kms.default_key == "my-key" and str(f) in kms.source
    m = tmp_path / "master"
    m.write_text(f"mk:{MASTER.hex()}\n")
    kms = from_env({"MINIO_KMS_MASTER_KEY_FILE": str(m)})
    assert kms is not None and kms.default_key == "mk"
    # Docker secrets: a bare name is looked up in the secrets directory
    kms = from_env({"MINIO_KMS_SECRET_KEY_FILE": "secret"}, secrets_dir=str(tmp_path))
    assert kms is not None and kms.default_key == "my-key"


def test_env_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(KMSConfigError, match="MINIO_KMS_SECRET_KEY_FILE"):
        from_env({"MINIO_KMS_SECRET_KEY_FILE": str(tmp_path)})  # a directory


KEY_B64 = SECRET.split(":", 1)[1]


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"MINIO_KMS_SECRET_KEY": SECRET, "MINIO_KMS_SECRET_KEY_FILE": "/x"}, "both set"),
        ({"MINIO_KMS_MASTER_KEY": "a:" + "0" * 64, "MINIO_KMS_MASTER_KEY_FILE": "/x"}, "both"),
        ({"MINIO_KMS_SECRET_KEY": SECRET, "MINIO_KMS_MASTER_KEY": "a:" + "0" * 64}, "only one"),
        ({"MINIO_KMS_SECRET_KEY": KEY_B64}, "<key-name>:<key>"),
        ({"MINIO_KMS_SECRET_KEY": ":" + KEY_B64}, "key name"),
        ({"MINIO_KMS_SECRET_KEY": "my key:" + KEY_B64}, "key name"),
        ({"MINIO_KMS_SECRET_KEY": "k:" + KEY_B64[:-2]}, "base64"),
        ({"MINIO_KMS_SECRET_KEY": "k:" + KEY_B64.replace("+", "-")}, "base64"),
        ({"MINIO_KMS_SECRET_KEY": "k:" + base64.b64encode(MASTER[:31]).decode()}, "32 bytes"),
        ({"MINIO_KMS_MASTER_KEY": "k:" + MASTER.hex()[:-2]}, "64 hex"),
        ({"MINIO_KMS_MASTER_KEY": "k:" + MASTER.hex()[:-1] + "g"}, "64 hex"),
        ({"MINIO_KMS_MASTER_KEY": "k:" + KEY_B64}, "64 hex"),
    ],
)
def test_env_errors_never_show_the_key(env: dict[str, str], needle: str) -> None:
    with pytest.raises(KMSConfigError) as info:
        from_env(env)
    msg = str(info.value)
    assert needle in msg
    assert "MINIO_KMS_" in msg
    for secret in (KEY_B64, KEY_B64[:-2], MASTER.hex()[:20], MASTER.hex()[:20].upper()):
        assert secret not in msg
    assert info.value.__cause__ is None


def test_parse_secret_key_strips_whitespace() -> None:
    name, key = parse_secret_key("  my-key:" + KEY_B64 + "\r\n")
    assert name == "my-key" and key == MASTER


# --- the local key file ------------------------------------------------------------------------


def test_local_key_created_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="strongroom.kms"):
        first = load_or_create_local_kms(tmp_path)
    assert "local use only" in caplog.text
    path = tmp_path / LOCAL_KEY_PATH
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    name, key = parse_secret_key(path.read_text())
    assert name == first.default_key == "strongroom-local-key"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="strongroom.kms"):
        second = load_or_create_local_kms(tmp_path)
    assert caplog.text == ""
    dk = run(first.generate_key(first.default_key, {"b": "b/o"}))
    assert run(second.decrypt(second.default_key, dk.ciphertext, {"b": "b/o"})) == dk.plaintext
    assert sorted(p.name for p in path.parent.iterdir()) == ["kms-master-key"]
    assert key.hex() not in caplog.text


def test_local_key_concurrent_creation(tmp_path: Path) -> None:
    results: list[StaticKMS] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(load_or_create_local_kms(tmp_path))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    macs = {k.mac(b"probe") for k in results}
    assert len(macs) == 1
    assert sorted(p.name for p in (tmp_path / LOCAL_KEY_PATH).parent.iterdir()) == [
        "kms-master-key"
    ]


def test_local_key_permissions_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    load_or_create_local_kms(tmp_path)
    path = tmp_path / LOCAL_KEY_PATH
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="strongroom.kms"):
        load_or_create_local_kms(tmp_path)
    assert "chmod 600" in caplog.text


def test_local_key_corrupt(tmp_path: Path) -> None:
    path = tmp_path / LOCAL_KEY_PATH
    path.parent.mkdir(parents=True)
    path.write_text("garbage")
    with pytest.raises(KMSConfigError, match="kms-master-key"):
        load_or_create_local_kms(tmp_path)


class TestStaticConformance(KMSConformance):
    @pytest.fixture
    def kms(self) -> StaticKMS:
        return StaticKMS("conformance-key", os.urandom(32))


def test_guide_examples(tmp_path: Path) -> None:
    """The KMS guide's Appendix B: a hex master key in the environment or as a Docker secret."""
    hexkey = "6368616e676520746869732070617373776f726420746f206120736563726574"
    kms = from_env({"MINIO_KMS_MASTER_KEY": f"minio-demo-key:{hexkey}"})
    assert kms is not None and kms.default_key == "minio-demo-key"
    assert kms.mac(b"m") == hmac.digest(bytes.fromhex(hexkey), b"m", "sha256")
    (tmp_path / "my_kms_master_key").write_text(f"my-minio-key:{hexkey}\n")
    kms = from_env({"MINIO_KMS_MASTER_KEY_FILE": "my_kms_master_key"}, secrets_dir=str(tmp_path))
    assert kms is not None and kms.default_key == "my-minio-key"
