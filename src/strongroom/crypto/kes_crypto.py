"""KES key material, ciphertext formats and stored-key formats (``specs/kes.md`` §6, §7).

A :class:`SecretKey` is a 32-byte master key with an algorithm (AES256 or ChaCha20), an optional
32-byte HMAC key and creation metadata. It encrypts with a one-time sealing key derived from the
master key and a random 16-byte IV (§6.3):

* AES256:   ``sk = HMAC-SHA256(K, iv)``, then AES-256-GCM(sk) with a random 12-byte nonce;
* ChaCha20: ``sk = HChaCha20(K, iv)``,   then ChaCha20-Poly1305(sk) with a random 12-byte nonce.

Ciphertexts come in three encodings (§6.4); :meth:`SecretKey.encrypt` writes ``raw`` by default
(KES >= 2024-02) and ``json`` or ``msgpack`` on request; :meth:`SecretKey.decrypt` reads all three.
Every decryption failure raises the one :class:`DecryptionError`: a caller (or attacker) learns
nothing from which check failed.

Stored keys (§7): :meth:`SecretKey.marshal` writes the ``modern`` profile (base64 of a protobuf
``KeyVersion``) or the ``legacy`` one (JSON readable by every KES since v0.11);
:func:`parse_stored_key` reads all three historical formats.

Exceptions::

    ValueError
    ├── DecryptionError      any ciphertext that does not decrypt (uniform)
    ├── KeyFormatError       a stored-key value that does not parse
    └── HMACUnsupportedError the key has no HMAC key (it was stored in a legacy JSON format)
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import hashlib
import hmac as _hmac
import json
import os
import struct
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from strongroom.crypto.hmac_sha256 import hmac_sha256

__all__ = [
    "CiphertextFormat",
    "DecryptionError",
    "HMACUnsupportedError",
    "KeyAlgorithm",
    "KeyFormatError",
    "SecretKey",
    "StoredKeyProfile",
    "format_go_time",
    "generate_data_key",
    "hchacha20",
    "parse_stored_key",
]

KEY_SIZE = 32
IV_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
_RAW_OVERHEAD = IV_SIZE + NONCE_SIZE

CiphertextFormat = Literal["raw", "json", "msgpack"]
StoredKeyProfile = Literal["modern", "legacy"]
RandomBytes = Callable[[int], bytes]

DECRYPTION_FAILED = "decryption failed: ciphertext is not authentic"


class DecryptionError(ValueError):
    """The ciphertext is malformed, was tampered with, or the key or context is wrong."""

    def __init__(self) -> None:
        super().__init__(DECRYPTION_FAILED)


class KeyFormatError(ValueError):
    """A stored-key value is not one of the §7 formats. The message never holds key bytes."""


class HMACUnsupportedError(ValueError):
    """The key has no HMAC key (keys stored in a legacy JSON format have none)."""

    def __init__(self) -> None:
        super().__init__("key does not support HMAC")


class KeyAlgorithm(enum.Enum):
    """Secret-key algorithm; the value is KES-HEAD's spelling (``describe`` shows it)."""

    AES256 = "AES256"
    CHACHA20 = "ChaCha20"

    @property
    def proto_type(self) -> int:
        """Enum number in the protobuf ``SecretKey.Type`` field."""
        return 1 if self is KeyAlgorithm.AES256 else 2

    @property
    def long_name(self) -> str:
        """KES v0.20-2023 spelling (stored-key JSON ``algorithm``, msgpack ciphertexts)."""
        return "AES256-GCM_SHA256" if self is KeyAlgorithm.AES256 else "XCHACHA20-POLY1305"

    @property
    def json_aead(self) -> str:
        """Spelling inside a JSON ciphertext's ``aead`` field (SEED - v0.19.1)."""
        return "AES-256-GCM-HMAC-SHA-256" if self is KeyAlgorithm.AES256 else "ChaCha20Poly1305"

    @classmethod
    def parse(cls, name: str) -> KeyAlgorithm:
        """Accept every spelling any KES generation wrote (import cipher, stored algorithm)."""
        try:
            return _ALGORITHM_NAMES[name]
        except KeyError:
            raise ValueError(f"algorithm '{name}' is not supported") from None


_ALGORITHM_NAMES: dict[str, KeyAlgorithm] = {
    "AES256": KeyAlgorithm.AES256,
    "AES256-GCM_SHA256": KeyAlgorithm.AES256,
    "ChaCha20": KeyAlgorithm.CHACHA20,
    "XCHACHA20-POLY1305": KeyAlgorithm.CHACHA20,
}
_JSON_AEAD_NAMES: dict[str, KeyAlgorithm] = {
    "AES-256-GCM-HMAC-SHA-256": KeyAlgorithm.AES256,
    "ChaCha20Poly1305": KeyAlgorithm.CHACHA20,
}


# ---------------------------------------------------------------------------------------------
# Primitives


_SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20 (the XChaCha20 subkey derivation): 20 rounds, output words 0-3 and 12-15.

    Computed from one ChaCha20 keystream block: with ``nonce16`` as the 16-byte ChaCha20 IV
    (counter || nonce, RFC 7539) the initial state is exactly HChaCha20's, and a block is
    ``rounds(state) + state``; subtracting the known input words leaves HChaCha20's output.
    """
    if len(key) != KEY_SIZE or len(nonce16) != IV_SIZE:
        raise ValueError("hchacha20: key must be 32 bytes and nonce 16 bytes")
    block = Cipher(algorithms.ChaCha20(key, nonce16), mode=None).encryptor().update(bytes(64))
    words = struct.unpack("<16I", block)
    iv_words = struct.unpack("<4I", nonce16)
    out = [(w - c) & 0xFFFFFFFF for w, c in zip(words[0:4], _SIGMA, strict=True)]
    out += [(w - c) & 0xFFFFFFFF for w, c in zip(words[12:16], iv_words, strict=True)]
    return struct.pack("<8I", *out)


def _sealing_aead(algorithm: KeyAlgorithm, key: bytes, iv: bytes) -> AESGCM | ChaCha20Poly1305:
    if algorithm is KeyAlgorithm.AES256:
        return AESGCM(hmac_sha256(key, iv))
    return ChaCha20Poly1305(hchacha20(key, iv))


# ---------------------------------------------------------------------------------------------
# Time helpers (Go's RFC 3339 with nanoseconds, trailing zeros trimmed)


def format_go_time(t: datetime | None) -> str:
    """Format like Go's ``time.Time`` JSON encoding; ``None`` is Go's zero time."""
    if t is None:
        return "0001-01-01T00:00:00Z"
    t = t.astimezone(UTC)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}".rstrip("0")
    return text + "Z"


def _parse_go_time(text: str) -> datetime | None:
    if text in ("", "0001-01-01T00:00:00Z"):
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise KeyFormatError("invalid created_at time") from None
    if t.tzinfo is None:
        raise KeyFormatError("invalid created_at time")
    return t.astimezone(UTC)


# ---------------------------------------------------------------------------------------------
# Secret key


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class SecretKey:
    """A KES master key. Its repr and str never show key bytes.

    ``created_at`` is ``None`` for keys stored without metadata (SEED format);
    ``hmac_key`` is ``None`` for keys stored in a JSON format (they cannot compute HMACs).
    """

    _key: bytes
    algorithm: KeyAlgorithm = KeyAlgorithm.AES256
    created_at: datetime | None = None
    created_by: str = ""
    _hmac_key: bytes | None = None

    def __post_init__(self) -> None:
        if len(self._key) != KEY_SIZE:
            raise ValueError("invalid key size: a secret key is 32 bytes")
        if self._hmac_key is not None and len(self._hmac_key) != KEY_SIZE:
            raise ValueError("invalid HMAC key size: an HMAC key is 32 bytes")

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def generate(
        cls,
        algorithm: KeyAlgorithm = KeyAlgorithm.AES256,
        created_by: str = "",
        *,
        now: datetime | None = None,
        randbytes: RandomBytes = os.urandom,
    ) -> SecretKey:
        """A fresh random key with a fresh HMAC key, ``created_at`` = now (UTC)."""
        return cls(
            randbytes(KEY_SIZE),
            algorithm,
            now or datetime.now(UTC),
            created_by,
            randbytes(KEY_SIZE),
        )

    @classmethod
    def from_bytes(
        cls,
        key: bytes,
        algorithm: KeyAlgorithm = KeyAlgorithm.AES256,
        created_by: str = "",
        *,
        hmac_key: bytes | None = None,
        created_at: datetime | None = None,
        now: datetime | None = None,
        randbytes: RandomBytes = os.urandom,
    ) -> SecretKey:
        """Wrap given key bytes (``import``). Without ``hmac_key`` a random one is generated,
        as KES does on import; without ``created_at`` it is ``now``."""
        return cls(
            bytes(key),
            algorithm,
            created_at or now or datetime.now(UTC),
            created_by,
            bytes(hmac_key) if hmac_key is not None else randbytes(KEY_SIZE),
        )

    # -- properties ------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"SecretKey(algorithm={self.algorithm.value}, id={self.key_id}, key=<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretKey):
            return NotImplemented
        return (
            _hmac.compare_digest(self._key, other._key)
            and self.algorithm is other.algorithm
            and self.created_at == other.created_at
            and self.created_by == other.created_by
            and _hmac.compare_digest(self._hmac_key or b"", other._hmac_key or b"")
            and (self._hmac_key is None) == (other._hmac_key is None)
        )

    def __hash__(self) -> int:
        return hash(self.key_id)

    @property
    def key_id(self) -> str:
        """KES v0.16-2023 key ID: hex of the first 16 bytes of SHA-256(key)."""
        return hashlib.sha256(self._key).digest()[:16].hex()

    @property
    def has_hmac(self) -> bool:
        return self._hmac_key is not None

    def secret_bytes(self) -> bytes:
        """The 32 raw key bytes. Only for export/tests: never log or return them."""
        return self._key

    # -- operations ------------------------------------------------------------------------

    def encrypt(
        self,
        plaintext: bytes,
        associated_data: bytes = b"",
        *,
        format: CiphertextFormat = "raw",
        randbytes: RandomBytes = os.urandom,
    ) -> bytes:
        """Encrypt and authenticate ``plaintext`` bound to ``associated_data`` (the context).

        ``format``: ``raw`` (KES >= 2024-02, default), ``json`` (legacy profile, readable by
        every KES) or ``msgpack`` (v0.19.2-2024-01; for compatibility tests).
        ``randbytes`` supplies the 28 random bytes (iv then nonce); tests make it fixed.
        """
        rand = randbytes(_RAW_OVERHEAD)
        if len(rand) != _RAW_OVERHEAD:
            raise ValueError("randbytes returned the wrong number of bytes")
        iv, nonce = rand[:IV_SIZE], rand[IV_SIZE:]
        sealed = _sealing_aead(self.algorithm, self._key, iv).encrypt(
            nonce, plaintext, associated_data
        )
        if format == "raw":
            return sealed + iv + nonce
        if format == "json":
            return _encode_json_ciphertext(self.algorithm, self.key_id, iv, nonce, sealed)
        if format == "msgpack":
            return _encode_msgpack_ciphertext(self.algorithm, self.key_id, iv, nonce, sealed)
        raise ValueError(f"unknown ciphertext format {format!r}")

    def decrypt(self, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        """Decrypt any of the three ciphertext formats; raise :class:`DecryptionError` on any
        failure. Structured ciphertexts use the algorithm they name; raw ones the key's."""
        try:
            parsed = _parse_ciphertext(ciphertext)
            if parsed is None:
                return self._open(self.algorithm, *_split_raw(ciphertext), associated_data)
            algorithm, key_id, iv, nonce, sealed = parsed
            if key_id and key_id != self.key_id:
                raise DecryptionError
            return self._open(algorithm, iv, nonce, sealed, associated_data)
        except DecryptionError:
            raise
        except (InvalidTag, ValueError, TypeError, OverflowError, IndexError, KeyError):
            raise DecryptionError from None

    def _open(
        self, algorithm: KeyAlgorithm, iv: bytes, nonce: bytes, sealed: bytes, ad: bytes
    ) -> bytes:
        if len(iv) != IV_SIZE or len(nonce) != NONCE_SIZE or len(sealed) < TAG_SIZE:
            raise DecryptionError
        return _sealing_aead(algorithm, self._key, iv).decrypt(nonce, sealed, ad)

    def hmac(self, message: bytes) -> bytes:
        """HMAC-SHA256 of ``message`` under the key's HMAC key (§6.7)."""
        if self._hmac_key is None:
            raise HMACUnsupportedError
        return _hmac.new(self._hmac_key, message, hashlib.sha256).digest()

    def verify_hmac(self, message: bytes, mac: bytes) -> bool:
        """Constant-time check of ``mac`` against :meth:`hmac` of ``message``."""
        return _hmac.compare_digest(self.hmac(message), mac)

    def marshal(self, profile: StoredKeyProfile = "modern") -> bytes:
        """The stored-key value (§7).

        ``modern``: ASCII base64 of the protobuf ``KeyVersion`` (KES >= 2024-02); needs an HMAC
        key. ``legacy``: JSON ``{"bytes","algorithm","created_at","created_by"}`` with the long
        algorithm spelling, readable by every KES generation.
        """
        if profile == "legacy":
            doc = {
                "bytes": base64.b64encode(self._key).decode(),
                "algorithm": self.algorithm.long_name,
                "created_at": format_go_time(self.created_at),
                "created_by": self.created_by,
            }
            return json.dumps(doc, separators=(",", ":")).encode()
        if profile != "modern":
            raise ValueError(f"unknown stored-key profile {profile!r}")
        if self._hmac_key is None:
            raise HMACUnsupportedError
        return base64.b64encode(_encode_key_version(self))


def generate_data_key(
    key: SecretKey,
    associated_data: bytes = b"",
    *,
    format: CiphertextFormat = "raw",
    randbytes: RandomBytes = os.urandom,
) -> tuple[bytes, bytes]:
    """§6.2: a fresh 32-byte data key and its ciphertext under ``key``: (plaintext, ciphertext)."""
    plaintext = randbytes(KEY_SIZE)
    return plaintext, key.encrypt(plaintext, associated_data, format=format, randbytes=randbytes)


# ---------------------------------------------------------------------------------------------
# Ciphertext encodings

_Parsed = tuple[KeyAlgorithm, str, bytes, bytes, bytes]


def _split_raw(ciphertext: bytes) -> tuple[bytes, bytes, bytes]:
    if len(ciphertext) <= _RAW_OVERHEAD:
        raise DecryptionError
    n = len(ciphertext)
    return ciphertext[n - 28 : n - 12], ciphertext[n - 12 :], ciphertext[: n - 28]


def _parse_ciphertext(ciphertext: bytes) -> _Parsed | None:
    """Parse a structured (msgpack/JSON) ciphertext; ``None`` means "treat as raw" (§6.5)."""
    if not ciphertext:
        return None
    try:
        if ciphertext[0] == 0x95:
            return _parse_msgpack_ciphertext(ciphertext)
        if ciphertext[0] == 0x7B:
            return _parse_json_ciphertext(ciphertext)
    except (ValueError, TypeError, IndexError, KeyError, struct.error, RecursionError):
        return None
    return None


def _go_b64decode(value: object) -> bytes:
    """Go ``[]byte`` JSON decoding: standard alphabet, padding required, CR/LF ignored."""
    if not isinstance(value, str):
        raise ValueError("not a base64 string")
    text = value.replace("\r", "").replace("\n", "")
    return base64.b64decode(text, validate=True)


def _field(doc: Mapping[str, Any], name: str) -> Any:
    """Go ``encoding/json`` field lookup: exact name first, then case-insensitive."""
    if name in doc:
        return doc[name]
    for k, v in doc.items():
        if k.lower() == name:
            return v
    return None


def _parse_json_ciphertext(data: bytes) -> _Parsed:
    doc = json.loads(data.decode("utf-8"))
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    aead = _field(doc, "aead")
    if not isinstance(aead, str) or aead not in _JSON_AEAD_NAMES:
        raise DecryptionError  # a parsed JSON ciphertext with a bad algorithm is final
    key_id = _field(doc, "id")
    if key_id is not None and not isinstance(key_id, str):
        raise ValueError("invalid id")
    iv = _go_b64decode(_field(doc, "iv"))
    nonce = _go_b64decode(_field(doc, "nonce"))
    sealed = _go_b64decode(_field(doc, "bytes"))
    if len(iv) != IV_SIZE or len(nonce) != NONCE_SIZE:
        raise DecryptionError
    return _JSON_AEAD_NAMES[aead], key_id or "", iv, nonce, sealed


def _encode_json_ciphertext(
    algorithm: KeyAlgorithm, key_id: str, iv: bytes, nonce: bytes, sealed: bytes
) -> bytes:
    doc = {
        "aead": algorithm.json_aead,
        "id": key_id,
        "iv": base64.b64encode(iv).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "bytes": base64.b64encode(sealed).decode(),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


class _MsgpackReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError("truncated msgpack")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def length(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def str_(self) -> str:
        tag = self.take(1)[0]
        if 0xA0 <= tag <= 0xBF:
            n = tag & 0x1F
        elif tag == 0xD9:
            n = self.length(1)
        elif tag == 0xDA:
            n = self.length(2)
        elif tag == 0xDB:
            n = self.length(4)
        else:
            raise ValueError("expected msgpack str")
        return self.take(n).decode("utf-8")

    def bin_(self) -> bytes:
        tag = self.take(1)[0]
        sizes = {0xC4: 1, 0xC5: 2, 0xC6: 4}
        if tag not in sizes:
            raise ValueError("expected msgpack bin")
        return self.take(self.length(sizes[tag]))


def _parse_msgpack_ciphertext(data: bytes) -> _Parsed:
    r = _MsgpackReader(data)
    if r.take(1) != b"\x95":
        raise ValueError("expected fixarray of 5")
    name = r.str_()
    key_id = r.str_()
    iv, nonce, sealed = r.bin_(), r.bin_(), r.bin_()
    if r.pos != len(data) or len(iv) != IV_SIZE or len(nonce) != NONCE_SIZE:
        raise ValueError("invalid msgpack ciphertext")
    return KeyAlgorithm.parse(name), key_id, iv, nonce, sealed


def _msgpack_str(text: str) -> bytes:
    raw = text.encode()
    if len(raw) < 32:
        return bytes([0xA0 | len(raw)]) + raw
    if len(raw) < 256:
        return b"\xd9" + bytes([len(raw)]) + raw
    return b"\xda" + struct.pack(">H", len(raw)) + raw


def _msgpack_bin(raw: bytes) -> bytes:
    if len(raw) < 256:
        return b"\xc4" + bytes([len(raw)]) + raw
    if len(raw) < 65536:
        return b"\xc5" + struct.pack(">H", len(raw)) + raw
    return b"\xc6" + struct.pack(">I", len(raw)) + raw


def _encode_msgpack_ciphertext(
    algorithm: KeyAlgorithm, key_id: str, iv: bytes, nonce: bytes, sealed: bytes
) -> bytes:
    return (
        b"\x95"
        + _msgpack_str(algorithm.long_name)
        + _msgpack_str(key_id)
        + _msgpack_bin(iv)
        + _msgpack_bin(nonce)
        + _msgpack_bin(sealed)
    )


# ---------------------------------------------------------------------------------------------
# Stored keys (§7)


def parse_stored_key(value: bytes) -> SecretKey:
    """Parse any stored-key format (§7.1): SEED JSON, v0.20 JSON, or base64 protobuf.

    Raises :class:`KeyFormatError` (message free of key material) when it does not parse.
    """
    try:
        doc = json.loads(value.decode("utf-8"))
    except (ValueError, RecursionError):
        doc = None
        is_json = False
    else:
        is_json = True
    if is_json:
        if not isinstance(doc, dict):
            raise KeyFormatError("invalid stored key: not a JSON object")
        return _parse_json_key(doc)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("invalid stored key: neither JSON nor base64") from None
    return _decode_key_version(raw)


def _parse_json_key(doc: Mapping[str, Any]) -> SecretKey:
    try:
        key = _go_b64decode(_field(doc, "bytes"))
    except (binascii.Error, ValueError):
        raise KeyFormatError("invalid stored key: invalid 'bytes'") from None
    if len(key) != KEY_SIZE:
        raise KeyFormatError("invalid stored key: the key is not 32 bytes")
    algorithm_name = _field(doc, "algorithm") or ""
    if not isinstance(algorithm_name, str):
        raise KeyFormatError("invalid stored key: invalid algorithm")
    try:
        algorithm = KeyAlgorithm.parse(algorithm_name) if algorithm_name else KeyAlgorithm.AES256
    except ValueError:
        raise KeyFormatError(f"invalid stored key: unknown algorithm '{algorithm_name}'") from None
    created_at = _field(doc, "created_at") or ""
    created_by = _field(doc, "created_by") or ""
    if not isinstance(created_at, str) or not isinstance(created_by, str):
        raise KeyFormatError("invalid stored key: invalid metadata")
    return SecretKey(key, algorithm, _parse_go_time(created_at), created_by, None)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _pb_bytes(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _pb_uint(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value) if value else b""


def _encode_key_version(key: SecretKey) -> bytes:
    assert key._hmac_key is not None
    out = _pb_bytes(1, _pb_bytes(1, key._key) + _pb_uint(2, key.algorithm.proto_type))
    out += _pb_bytes(2, _pb_bytes(1, key._hmac_key) + _pb_uint(2, 1))
    if key.created_at is not None:
        ts = key.created_at.astimezone(UTC)
        seconds = int(ts.replace(microsecond=0).timestamp())
        out += _pb_bytes(3, _pb_uint(1, seconds) + _pb_uint(2, ts.microsecond * 1000))
    if key.created_by:
        out += _pb_bytes(4, key.created_by.encode())
    return out


def _pb_fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """Decode one protobuf message level into (field number, value); skip nothing."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0

    def varint() -> int:
        nonlocal pos
        result = shift = 0
        while True:
            if pos >= len(data) or shift > 63:
                raise KeyFormatError("invalid stored key: malformed protobuf")
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    while pos < len(data):
        tag = varint()
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise KeyFormatError("invalid stored key: malformed protobuf")
        if wire == 0:
            fields.append((field, varint()))
        elif wire == 2:
            n = varint()
            if pos + n > len(data):
                raise KeyFormatError("invalid stored key: malformed protobuf")
            fields.append((field, data[pos : pos + n]))
            pos += n
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > len(data):
                raise KeyFormatError("invalid stored key: malformed protobuf")
            fields.append((field, int.from_bytes(data[pos : pos + size], "little")))
            pos += size
        else:
            raise KeyFormatError("invalid stored key: malformed protobuf")
    return fields


def _pb_message(data: bytes) -> dict[int, int | bytes]:
    return dict(_pb_fields(data))  # proto3: the last occurrence of a scalar wins


def _decode_key_version(raw: bytes) -> SecretKey:
    top = _pb_message(raw)
    key_msg, hmac_msg = top.get(1, b""), top.get(2, b"")
    ts_msg, created_by = top.get(3, b""), top.get(4, b"")
    if not all(isinstance(v, bytes) for v in (key_msg, hmac_msg, ts_msg, created_by)):
        raise KeyFormatError("invalid stored key: malformed protobuf")
    assert isinstance(key_msg, bytes) and isinstance(hmac_msg, bytes)
    assert isinstance(ts_msg, bytes) and isinstance(created_by, bytes)
    secret, hkey = _pb_message(key_msg), _pb_message(hmac_msg)
    key, key_type = secret.get(1, b""), secret.get(2, 0)
    hmac_key, hash_type = hkey.get(1, b""), hkey.get(2, 0)
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise KeyFormatError("invalid stored key: the key is not 32 bytes")
    if not isinstance(hmac_key, bytes) or len(hmac_key) != KEY_SIZE:
        raise KeyFormatError("invalid stored key: the HMAC key is not 32 bytes")
    algorithms = {1: KeyAlgorithm.AES256, 2: KeyAlgorithm.CHACHA20}
    if key_type not in algorithms:
        raise KeyFormatError("invalid stored key: unknown key type")
    if hash_type != 1:
        raise KeyFormatError("invalid stored key: unknown HMAC hash")
    created_at: datetime | None = None
    if ts_msg:
        ts = _pb_message(ts_msg)
        seconds, nanos = ts.get(1, 0), ts.get(2, 0)
        if not isinstance(seconds, int) or not isinstance(nanos, int) or nanos >= 10**9:
            raise KeyFormatError("invalid stored key: invalid created_at")
        if seconds >= 1 << 63:
            seconds -= 1 << 64
        try:
            created_at = datetime.fromtimestamp(seconds, UTC).replace(microsecond=nanos // 1000)
        except (OverflowError, ValueError, OSError):
            raise KeyFormatError("invalid stored key: invalid created_at") from None
    try:
        creator = created_by.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFormatError("invalid stored key: invalid created_by") from None
    assert isinstance(key_type, int)
    return SecretKey(key, algorithms[key_type], created_at, creator, hmac_key)
