"""Secret bytes: key material whose ``repr``/``str`` never show the value.

:class:`SecretBytes` is a ``bytes`` subclass, so it goes wherever a key does (AEAD constructors,
HMAC, ``DataKey.plaintext``) while logs, tracebacks and f-strings show only a placeholder.
Comparison is constant-time. Python cannot reliably zero immutable ``bytes``; keep the lifetime
of secrets short instead.
"""

from __future__ import annotations

import hmac
from typing import NoReturn

__all__ = ["SecretBytes"]


class SecretBytes(bytes):
    __slots__ = ()

    def __repr__(self) -> str:
        return f"SecretBytes(<redacted, {len(self)} bytes>)"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, bytes | bytearray | memoryview):
            return hmac.compare_digest(bytes(self), bytes(other))
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = bytes.__hash__

    def __reduce__(self) -> NoReturn:
        raise TypeError("secrets are not pickled")

    def reveal(self) -> bytes:
        """The value as plain ``bytes`` (for the rare place that must show or store it)."""
        return bytes(self)
