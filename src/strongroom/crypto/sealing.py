"""The object key hierarchy (MinIO's ``internal/crypto/key.go``), byte-compatible with MinIO.

::

    OEK       = HMAC-SHA256(K, "object-encryption-key generation" || R32)     R32: 32 random bytes
    KEK       = HMAC-SHA256(K, IV || domain || "DAREv2-HMAC-SHA256" || path.Join(bucket, object))
    sealed    = DARE2(KEK, OEK)                       64 bytes, stored base64 in the metadata
    part key  = HMAC-SHA256(OEK, le32(part number))   multipart: one DARE stream per part
    ETag key  = HMAC-SHA256(OEK, "SSE-etag")          stored ETag = hex(DARE2(ETag key, etag))

``K`` is the KMS data key (SSE-S3, SSE-KMS) or the client's key (SSE-C); ``domain`` is
``SSE-C``, ``SSE-S3`` or ``SSE-KMS``. Because the KEK binds domain and object name, a sealed key
moved to another object or SSE type does not open. Every unseal failure raises
:class:`UnsealError`, whatever the cause.
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
from dataclasses import dataclass

from strongroom.crypto import dare
from strongroom.crypto.hmac_sha256 import hmac_sha256
from strongroom.crypto.secret import SecretBytes

__all__ = [
    "IV_SIZE",
    "NEW_KEY_RANDOM",
    "OBJECT_KEY_SIZE",
    "SEALED_KEY_SIZE",
    "SEAL_ALGORITHM",
    "Domain",
    "SealedKey",
    "UnsealError",
    "checksum_key",
    "decrypt_etag",
    "derive_kek",
    "etag_key",
    "format_sealed_etag",
    "generate_iv",
    "generate_object_key",
    "is_sealed_etag",
    "minio_part_nonce",
    "new_object_key",
    "object_path",
    "open_object_key",
    "part_key",
    "reseal_object_key",
    "seal_etag",
    "seal_object_key",
    "unseal_etag",
    "unseal_object_key",
]

SEAL_ALGORITHM = "DAREv2-HMAC-SHA256"
LEGACY_SEAL_ALGORITHM = "DARE-SHA256"  # pre-2018 SSE-C (DARE 1.0): not supported for reading
OBJECT_KEY_SIZE = 32
IV_SIZE = 32
SEALED_KEY_SIZE = 64
MAX_PART_NUMBER = (1 << 32) - 1

_OEK_CONTEXT = b"object-encryption-key generation"
_ETAG_CONTEXT = b"SSE-etag"
_CHECKSUM_CONTEXT = b"object-checksum"


class UnsealError(Exception):
    """A sealed key or ETag does not open: wrong key, wrong object, wrong domain, or tampered."""

    def __init__(self, message: str = "the object key cannot be unsealed") -> None:
        super().__init__(message)


class Domain(enum.StrEnum):
    SSE_C = "SSE-C"
    SSE_S3 = "SSE-S3"
    SSE_KMS = "SSE-KMS"


# The constant middle of the KEK derivation, per domain (a Domain member or its string value).
_KEK_TAGS = {d.value: (d.value + SEAL_ALGORITHM).encode() for d in Domain}


def _kek_tag(domain: Domain | str) -> bytes:
    try:
        return _KEK_TAGS[domain]
    except (KeyError, TypeError):
        raise ValueError(f"unknown sealing domain {domain!r}") from None


def _hmac(key: bytes, msg: bytes) -> SecretBytes:
    return SecretBytes(hmac_sha256(key, msg))


def _check32(value: bytes, what: str) -> None:
    if len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes")


# --- object names ------------------------------------------------------------------------------


def _go_clean(path: str) -> str:
    """Go's ``path.Clean``: lexical clean-up of a slash-separated path."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
        else:
            parts.append(seg)
    cleaned = "/".join(parts)
    if rooted:
        cleaned = "/" + cleaned
    return cleaned or "."


def object_path(bucket: str, object_name: str) -> str:
    """Go's ``path.Join(bucket, object)``, the name a key is bound to. Note that it cleans the
    path: ``a/./b``, ``a//b`` and ``a/b/`` all give ``bucket/a/b``, so object names that differ
    only that way share a binding (the object server should refuse such names)."""
    joined = f"/{bucket}/{object_name}/"
    if (
        bucket
        and object_name
        and "//" not in joined
        and "/./" not in joined
        and "/../" not in joined
    ):
        return joined[1:-1]  # already clean: every segment is a real name
    elems = [e for e in (bucket, object_name) if e]
    return _go_clean("/".join(elems)) if elems else ""


# --- object keys -------------------------------------------------------------------------------


def generate_object_key(ext_key: bytes, *, random: bytes | None = None) -> SecretBytes:
    """A fresh object encryption key: HMAC(K, context || 32 random bytes), as MinIO derives it."""
    _check32(ext_key, "the external key")
    if random is None:
        random = os.urandom(32)
    _check32(random, "the randomness")
    return _hmac(ext_key, _OEK_CONTEXT + random)


def generate_iv(*, random: bytes | None = None) -> bytes:
    """A fresh 32-byte IV for :func:`derive_kek` (stored with the object)."""
    iv = os.urandom(IV_SIZE) if random is None else random
    _check32(iv, "the IV")
    return iv


def derive_kek(
    ext_key: bytes, iv: bytes, domain: Domain | str, bucket: str, object_name: str
) -> SecretBytes:
    """The key-encryption key bound to IV, domain and ``bucket/object``."""
    _check32(ext_key, "the external key")
    _check32(iv, "the IV")
    return _hmac(ext_key, _kek_message(iv, domain, bucket, object_name))


def _kek_message(iv: bytes, domain: Domain | str, bucket: str, object_name: str) -> bytes:
    path = object_path(bucket, object_name).encode("utf-8", "surrogateescape")
    return iv + _kek_tag(domain) + path


def seal_object_key(
    object_key: bytes,
    ext_key: bytes,
    iv: bytes,
    domain: Domain | str,
    bucket: str,
    object_name: str,
    *,
    nonce: bytes | None = None,
) -> bytes:
    """Seal the object key: one 64-byte DARE 2.0 package under the KEK (random nonce)."""
    _check32(object_key, "the object key")
    kek = derive_kek(ext_key, iv, domain, bucket, object_name)
    return dare.encrypt_one_package(kek, object_key, nonce)


def unseal_object_key(
    sealed: bytes,
    ext_key: bytes,
    iv: bytes,
    domain: Domain | str,
    bucket: str,
    object_name: str,
    *,
    algorithm: str = SEAL_ALGORITHM,
) -> SecretBytes:
    """Open a sealed object key; any failure (wrong key, name, domain, IV, algorithm, tampering,
    malformed input) raises :class:`UnsealError`."""
    try:
        if algorithm != SEAL_ALGORITHM or len(sealed) != SEALED_KEY_SIZE:
            raise UnsealError()
        kek = derive_kek(ext_key, iv, domain, bucket, object_name)
        key = dare.decrypt(kek, sealed)
    except (dare.DareError, ValueError):
        raise UnsealError() from None
    if len(key) != OBJECT_KEY_SIZE:
        raise UnsealError()
    return SecretBytes(key)


@dataclass(frozen=True, slots=True)
class SealedKey:
    """What is stored with an object to recover its key: the IV, the 64-byte sealed object key
    and the seal algorithm (MinIO metadata ``...-Iv``, ``...-Sealed-Key``, ``...-Seal-Algorithm``)."""

    iv: bytes
    sealed: bytes
    algorithm: str = SEAL_ALGORITHM


_NONCE = dare.NONCE_SIZE
NEW_KEY_RANDOM = IV_SIZE + 32 + _NONCE  # IV, object key randomness, seal nonce


def new_object_key(
    ext_key: bytes,
    domain: Domain | str,
    bucket: str,
    object_name: str,
    *,
    random: bytes | None = None,
) -> tuple[SecretBytes, SealedKey]:
    """A fresh object key and its sealed form, in one call (the PUT / CreateMultipart path).

    ``random`` is :data:`NEW_KEY_RANDOM` fresh random bytes (default: drawn here): the IV, the
    object key's randomness and the seal's DARE nonce, in that order. The result equals
    ``generate_object_key``, ``generate_iv`` and ``seal_object_key`` fed the same bytes."""
    if random is None:
        random = os.urandom(NEW_KEY_RANDOM)
    elif len(random) != NEW_KEY_RANDOM:
        raise ValueError(f"new_object_key needs {NEW_KEY_RANDOM} random bytes")
    _check32(ext_key, "the external key")
    iv, key_random, nonce = random[:IV_SIZE], random[IV_SIZE:-_NONCE], random[-_NONCE:]
    object_key = hmac_sha256(ext_key, _OEK_CONTEXT + key_random)
    kek = hmac_sha256(ext_key, _kek_message(iv, domain, bucket, object_name))
    sealed = dare.encrypt_one_package(kek, object_key, nonce)
    return SecretBytes(object_key), SealedKey(iv, sealed)


def open_object_key(
    sealed: SealedKey, ext_key: bytes, domain: Domain | str, bucket: str, object_name: str
) -> SecretBytes:
    """Unseal a :class:`SealedKey`; raises :class:`UnsealError` on any failure."""
    return unseal_object_key(
        sealed.sealed, ext_key, sealed.iv, domain, bucket, object_name, algorithm=sealed.algorithm
    )


def reseal_object_key(
    sealed: SealedKey,
    old_ext_key: bytes,
    new_ext_key: bytes,
    domain: Domain | str,
    bucket: str,
    object_name: str,
    *,
    fresh_iv: bool = False,
) -> SealedKey:
    """Rotation without touching the data: unseal with the old key, seal the same object key
    under the new one. SSE-C rotation keeps the IV (as MinIO does); a KMS re-wrap passes
    ``fresh_iv=True``. Raises :class:`UnsealError` if the old key does not open it."""
    object_key = open_object_key(sealed, old_ext_key, domain, bucket, object_name)
    iv = generate_iv() if fresh_iv else sealed.iv
    return SealedKey(iv, seal_object_key(object_key, new_ext_key, iv, domain, bucket, object_name))


# --- derived keys ------------------------------------------------------------------------------


def part_key(object_key: bytes, part_number: int) -> SecretBytes:
    """The DARE key of multipart part ``part_number`` (the S3 part number, not an index)."""
    _check32(object_key, "the object key")
    if not 0 <= part_number <= MAX_PART_NUMBER:
        raise ValueError("part number out of range")
    return _hmac(object_key, part_number.to_bytes(4, "little"))


def etag_key(object_key: bytes) -> SecretBytes:
    _check32(object_key, "the object key")
    return _hmac(object_key, _ETAG_CONTEXT)


def checksum_key(object_key: bytes) -> SecretBytes:
    """The key MinIO seals stored object checksums with."""
    _check32(object_key, "the object key")
    return _hmac(object_key, _CHECKSUM_CONTEXT)


def minio_part_nonce(upload_id: str, part_number: int) -> bytes:
    """The deterministic per-part DARE nonce MinIO writes since 2024 (``SHA256(uploadID ||
    decimal(n))[:12]``). For tests and reference only: re-uploading a part with it reuses a
    nonce under the same key, so Strongroom writes random part nonces."""
    return hashlib.sha256(f"{upload_id}{part_number}".encode()).digest()[:12]


# --- ETags -------------------------------------------------------------------------------------


def seal_etag(object_key: bytes, etag: bytes, *, nonce: bytes | None = None) -> bytes:
    """Seal an ETag (16 bytes: 48 sealed bytes). An empty ETag stays empty."""
    if not etag:
        return b""
    return dare.encrypt_one_package(etag_key(object_key), etag, nonce)


def unseal_etag(object_key: bytes, sealed: bytes) -> bytes:
    if not sealed:
        return b""
    try:
        return dare.decrypt(etag_key(object_key), sealed)
    except (dare.DareError, ValueError):
        raise UnsealError("the ETag cannot be unsealed") from None


_MULTIPART_ETAG = re.compile(r"[0-9a-fA-F]{32}-[0-9]{1,10}")


def is_sealed_etag(stored: str) -> bool:
    """Whether a stored ETag is sealed (MinIO: 32 bytes or more, i.e. at least 64 hex chars)."""
    return "-" not in stored and len(stored) >= 64


def format_sealed_etag(stored: str) -> str:
    """The ETag clients see for an SSE-C or SSE-KMS single-part object: the last 16 bytes (the
    AEAD tag) of the sealed ETag, as 32 hex chars. Other ETags are returned as they are."""
    return stored[-32:] if is_sealed_etag(stored) else stored


def decrypt_etag(object_key: bytes, stored: str) -> str:
    """MinIO's ``DecryptETag``: a multipart-style ``<32 hex>-<n>`` ETag is returned unchanged;
    otherwise the hex is a sealed ETag, returned unsealed as hex. Anything malformed raises
    :class:`UnsealError`."""
    if "-" in stored:
        if not _MULTIPART_ETAG.fullmatch(stored) or int(stored[33:]) >= 1 << 31:
            raise UnsealError("the ETag is malformed")
        return stored
    try:
        sealed = bytes.fromhex(stored)
    except ValueError:
        raise UnsealError("the ETag is malformed") from None
    if len(stored) != 2 * len(sealed):  # fromhex accepts spaces
        raise UnsealError("the ETag is malformed")
    return unseal_etag(object_key, sealed).hex()
