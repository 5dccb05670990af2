"""The canonical KMS context: the associated data that binds a data key to its object.

MinIO (and KES) serialise a context, a flat string map, as compact JSON with keys sorted by raw
bytes and strings escaped like Go's HTML-safe ``encoding/json`` of old:

* ``"`` and ``\\`` are backslash-escaped; ``\\n``, ``\\r``, ``\\t`` are written as such;
* every other byte below 0x20 becomes ``\\u00XX`` (lower-case hex: no ``\\b`` or ``\\f``);
* ``<``, ``>``, ``&`` become ``\\u003c``, ``\\u003e``, ``\\u0026``;
  U+2028 and U+2029 become ``\\u2028`` and ``\\u2029``;
* each byte that is not part of valid UTF-8 becomes ``\\ufffd`` (one per byte, as Go decodes);
* everything else, DEL and all other non-ASCII included, is copied as raw UTF-8.

An empty (or absent) context is ``{}``. ``json.dumps`` differs (``\\b``, ``\\f``, no ``<>&``
escapes), so it must not be used for this. Strings may be given as ``bytes`` (exactly Go's view)
or ``str``; a ``str`` is first encoded to UTF-8 with surrogate escapes turned back into the bytes
they stand for, and any other lone surrogate treated as the invalid bytes it would encode to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

__all__ = ["canonical_context", "parse_context"]

_ESCAPES: dict[int, str] = {i: f"\\u{i:04x}" for i in range(0x20)}
_ESCAPES.update(
    {
        ord('"'): '\\"',
        ord("\\"): "\\\\",
        ord("\n"): "\\n",
        ord("\r"): "\\r",
        ord("\t"): "\\t",
        ord("<"): "\\u003c",
        ord(">"): "\\u003e",
        ord("&"): "\\u0026",
        0x2028: "\\u2028",
        0x2029: "\\u2029",
    }
)


def _to_bytes(s: str | bytes) -> bytes:
    if isinstance(s, bytes):
        return s
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: rebuild the bytes they stand for
        return b"".join(
            bytes([ord(c) - 0xDC00])
            if 0xDC80 <= ord(c) <= 0xDCFF
            else c.encode("utf-8", "surrogatepass")
            for c in s
        )


# Printable ASCII that needs no escape: most contexts (bucket and object names) are only that.
_NEEDS_WORK = re.compile(rb'[^\x20-\x7e]|["\\<>&]')


def _quote(raw: bytes) -> bytes:
    if _NEEDS_WORK.search(raw) is None:
        return b'"' + raw + b'"'
    return _quote_escaped(raw)


def _quote_escaped(raw: bytes) -> bytes:
    parts = [b'"']
    pos = 0
    while pos < len(raw):
        try:
            text = raw[pos:].decode("utf-8")
        except UnicodeDecodeError as err:
            parts.append(raw[pos : pos + err.start].decode("utf-8").translate(_ESCAPES).encode())
            parts.append(b"\\ufffd")
            pos += err.start + 1  # Go's decoder steps over one invalid byte at a time
            continue
        parts.append(text.translate(_ESCAPES).encode())
        break
    parts.append(b'"')
    return b"".join(parts)


def canonical_context(context: Mapping[str, str] | Mapping[bytes, bytes] | None) -> bytes:
    """The canonical JSON bytes of ``context`` (``b"{}"`` when empty or None)."""
    if not context:
        return b"{}"
    if len(context) == 1:  # the usual {bucket: "bucket/object"}: nothing to sort
        ((key, value),) = context.items()
        return b"{" + _quote(_to_bytes(key)) + b":" + _quote(_to_bytes(value)) + b"}"
    items = sorted((_to_bytes(k), _to_bytes(v)) for k, v in context.items())
    return b"{" + b",".join(_quote(k) + b":" + _quote(v) for k, v in items) + b"}"


def parse_context(data: bytes | str) -> dict[str, str]:
    """Parse a client context (the decoded SSE-KMS context header): a JSON object whose values are
    all strings. Raises ``ValueError`` otherwise."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError("the encryption context is not valid JSON") from err
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("the encryption context must be a JSON object of strings")
    return value
