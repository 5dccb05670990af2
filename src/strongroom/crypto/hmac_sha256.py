"""HMAC-SHA256 (RFC 2104) for the per-object key derivations on the request path.

``hmac.digest`` on CPython 3.11 calls OpenSSL 3's one-shot ``HMAC()``, which looks up the MAC
and the digest by name and builds a MAC context on every call. Measured inside a loaded object
server that costs 3.9 us per call against 2.8 us for the same function composed from two
``hashlib.sha256`` hashes (whose digest CPython looks up once). An SSE PUT derives four keys;
the key server one per data key. :class:`HmacKey` goes further for a key used many times (a
master key): its padded inner and outer states are hashed once and copied per message.

Both give exactly ``hmac.digest(key, msg, "sha256")`` (tested against it).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["HmacKey", "hmac_sha256"]

_BLOCK = 64
_INNER = bytes(b ^ 0x36 for b in range(256))  # translate tables: key byte -> key byte ^ pad
_OUTER = bytes(b ^ 0x5C for b in range(256))
_sha256 = hashlib.sha256


def hmac_sha256(key: bytes, msg: bytes) -> bytes:
    """HMAC-SHA256 of ``msg`` under ``key``."""
    if len(key) > _BLOCK:
        return hmac.digest(key, msg, "sha256")
    padded = bytes(key) + bytes(_BLOCK - len(key))
    inner = _sha256(padded.translate(_INNER) + msg).digest()
    return _sha256(padded.translate(_OUTER) + inner).digest()


class HmacKey:
    """A key for many HMAC-SHA256 computations. Its repr never shows the key."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = _sha256(key).digest()
        padded = bytes(key) + bytes(_BLOCK - len(key))
        self._inner = _sha256(padded.translate(_INNER))
        self._outer = _sha256(padded.translate(_OUTER))

    def __repr__(self) -> str:
        return "HmacKey(<redacted>)"

    def digest(self, msg: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(msg)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()
