"""HChaCha20 (draft-irtf-cfrg-xchacha, section 2.2): derives a 32-byte subkey from a 32-byte key
and a 16-byte nonce. Needed to read legacy ChaCha20-Poly1305 key ciphertexts of MinIO's builtin
KMS and KES. Pure Python: it runs once per key unwrap, not per data byte."""

from __future__ import annotations

import struct

__all__ = ["hchacha20"]

_MASK = 0xFFFFFFFF
_SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)  # "expand 32-byte k"


def _quarter_round(s: list[int], a: int, b: int, c: int, d: int) -> None:
    s[a] = (s[a] + s[b]) & _MASK
    x = s[d] ^ s[a]
    s[d] = ((x << 16) | (x >> 16)) & _MASK
    s[c] = (s[c] + s[d]) & _MASK
    x = s[b] ^ s[c]
    s[b] = ((x << 12) | (x >> 20)) & _MASK
    s[a] = (s[a] + s[b]) & _MASK
    x = s[d] ^ s[a]
    s[d] = ((x << 8) | (x >> 24)) & _MASK
    s[c] = (s[c] + s[d]) & _MASK
    x = s[b] ^ s[c]
    s[b] = ((x << 7) | (x >> 25)) & _MASK


def hchacha20(key: bytes, nonce: bytes) -> bytes:
    if len(key) != 32 or len(nonce) != 16:
        raise ValueError("HChaCha20 takes a 32-byte key and a 16-byte nonce")
    s = [*_SIGMA, *struct.unpack("<8I", key), *struct.unpack("<4I", nonce)]
    for _ in range(10):
        _quarter_round(s, 0, 4, 8, 12)
        _quarter_round(s, 1, 5, 9, 13)
        _quarter_round(s, 2, 6, 10, 14)
        _quarter_round(s, 3, 7, 11, 15)
        _quarter_round(s, 0, 5, 10, 15)
        _quarter_round(s, 1, 6, 11, 12)
        _quarter_round(s, 2, 7, 8, 13)
        _quarter_round(s, 3, 4, 9, 14)
    return struct.pack("<8I", *s[0:4], *s[12:16])
