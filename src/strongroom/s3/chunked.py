"""Incremental ``aws-chunked`` decoding with chunk-signature and trailer verification.

The body of a streaming upload is framed as::

    <hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n ... 0[;chunk-signature=<sig>]\\r\\n
    [<trailer>:<value>\\r\\n ... [x-amz-trailer-signature:<sig>\\r\\n]]\\r\\n

``ChunkedDecoder.feed`` takes the body in arbitrary slices and returns the payload bytes in order;
``finish`` checks that the body was complete and returns the trailers. Chunk signatures are
chained from the request's seed signature (AWS "Signature Calculations for the Authorization
Header: Transferring Payload in Multiple Chunks") and trailers are signed with the last chunk
signature ("... Including Trailing Headers").

Fail closed: in the signed modes no byte of a chunk is returned before that chunk's signature has
been verified. Pieces are zero-copy views (``memoryview``) of the fed buffers whenever possible;
only a signed chunk that straddles two feeds of a *mutable* buffer is copied (``bytes`` input is
never copied). The consumer must still treat the upload as unproven until ``finish`` returns:
a truncated body is only known at the end.

Refusals are ``S3Error``: ``SignatureDoesNotMatch`` (a chunk or trailer signature),
``IncompleteBody`` (truncated or malformed framing, wrong ``x-amz-decoded-content-length``),
``InvalidArgument`` (a chunk over ``max_chunk_size``, oversized headers or trailers).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

from strongroom.s3.errors import S3Error
from strongroom.s3.sigv4 import EMPTY_SHA256, AuthResult, PayloadMode

__all__ = ["MAX_LINE", "MAX_TRAILER_BYTES", "ChunkedDecoder"]

MAX_LINE: Final = 4096  # one chunk header or trailer line, without its CRLF
MAX_TRAILER_BYTES: Final = 16384  # the whole trailer section
MAX_TRAILERS: Final = 32
DEFAULT_MAX_CHUNK: Final = 16 << 20

_HEADER: Final = 0
_DATA: Final = 1
_DATA_CRLF: Final = 2
_TRAILER: Final = 3
_DONE: Final = 4

_SIZE_RE = re.compile(rb"[0-9a-fA-F]{1,16}")
_SIG_RE = re.compile(rb"[0-9a-f]{64}")
_SIG_PREFIX: Final = b"chunk-signature="
_TRAILER_SIG: Final = "x-amz-trailer-signature"

Piece = bytes | memoryview


def _framing(detail: str) -> S3Error:
    del detail  # kept at the call sites for readers; clients get S3's fixed text
    return S3Error("IncompleteBody")


class ChunkedDecoder:
    """Decode one ``aws-chunked`` body for a request authenticated as ``auth``."""

    __slots__ = (
        "_decoded",
        "_decoded_length",
        "_key",
        "_line",
        "_max_chunk",
        "_mode",
        "_pending",
        "_prefix",
        "_previous",
        "_remaining",
        "_seen_crlf",
        "_sha",
        "_signature",
        "_state",
        "_trailer_bytes",
        "_trailer_lines",
        "_trailer_signed",
        "_trailers",
    )

    def __init__(
        self,
        auth: AuthResult,
        *,
        decoded_length: int | None,
        max_chunk_size: int = DEFAULT_MAX_CHUNK,
    ) -> None:
        if not auth.payload.is_chunked:
            raise ValueError(f"payload mode {auth.payload} is not aws-chunked")
        self._mode = auth.payload
        self._decoded_length = decoded_length
        self._max_chunk = max_chunk_size
        self._key = auth.signing_key
        self._prefix = f"{auth.amz_date}\n{auth.scope}\n"
        self._previous = auth.signature
        self._state = _HEADER
        self._line = bytearray()
        self._remaining = 0
        self._seen_crlf = 0
        self._decoded = 0
        self._sha: hashlib._Hash | None = None
        self._signature = b""
        self._pending: list[Piece] = []
        self._trailers: dict[str, str] = {}
        self._trailer_lines: list[str] = []
        self._trailer_bytes = 0
        self._trailer_signed = False

    @property
    def decoded(self) -> int:
        """Payload bytes decoded so far (including any not yet released)."""
        return self._decoded

    def feed(self, data: bytes | bytearray | memoryview) -> list[Piece]:
        """Decode the next slice of the body; return the payload pieces it completes, in order.

        Pieces are ``data`` itself or views of it (or of earlier ``bytes`` feeds): consume them
        before reusing a mutable buffer. In the signed modes a chunk's bytes are returned only
        once its signature verified, so a piece may come out one or more feeds later.
        """
        view = data if isinstance(data, memoryview) else memoryview(data)
        if view.ndim != 1 or view.itemsize != 1:
            view = view.cast("B")
        out: list[Piece] = []
        signed = self._mode.has_chunk_signatures
        fresh = len(self._pending)  # pending pieces from earlier feeds are already safe to hold
        pos = 0
        end = len(view)
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                piece: Piece = (
                    data if take == end and isinstance(data, bytes) else view[pos : pos + take]
                )
                pos += take
                self._remaining -= take
                if signed:
                    assert self._sha is not None
                    self._sha.update(piece)
                    self._pending.append(piece)
                else:
                    out.append(piece)
                if self._remaining == 0:
                    if signed:
                        self._verify_chunk()
                        out.extend(self._pending)
                        self._pending.clear()
                        fresh = 0
                    self._state = _DATA_CRLF
                    self._seen_crlf = 0
            elif state == _DATA_CRLF:
                while self._seen_crlf < 2 and pos < end:
                    if view[pos] != (13, 10)[self._seen_crlf]:
                        raise _framing("chunk data not followed by CRLF")
                    self._seen_crlf += 1
                    pos += 1
                if self._seen_crlf == 2:
                    self._state = _HEADER
            elif state in (_HEADER, _TRAILER):
                line, pos = self._read_line(view, pos, end)
                if line is None:
                    break
                if state == _HEADER:
                    self._on_header(line)
                else:
                    self._on_trailer_line(line)
            else:
                raise _framing("data after the end of the aws-chunked body")
        if len(self._pending) > fresh and not isinstance(data, bytes):
            # Held back until the chunk verifies, but the caller may reuse its buffer: copy.
            self._pending[fresh:] = [bytes(p) for p in self._pending[fresh:]]
        return out

    def finish(self) -> dict[str, str]:
        """End of body: check completeness and the decoded length; return the trailers."""
        if (
            self._state == _TRAILER
            and not self._line
            and not self._trailer_lines
            and self._mode is PayloadMode.STREAMING_UNSIGNED_TRAILER
        ):
            # `0\r\n` and nothing after it: what some SDKs send when they have no trailer.
            self._state = _DONE
        if self._state != _DONE:
            raise _framing("truncated aws-chunked body")
        if self._decoded_length is not None and self._decoded != self._decoded_length:
            raise S3Error("IncompleteBody")
        return dict(self._trailers)

    # --- lines ----------------------------------------------------------------------------------

    def _read_line(self, view: memoryview, pos: int, end: int) -> tuple[bytes | None, int]:
        """The next LF-terminated line (LF excluded) or None if the slice ends first."""
        room = MAX_LINE + 2 - len(self._line)
        # Lines are short (a signed chunk header is ~85 bytes): look in a small window first so
        # that small chunks do not copy kilobytes of their data per header.
        window = bytes(view[pos : min(end, pos + min(room, 128))])
        newline = window.find(b"\n")
        if newline < 0 and room > 128 and end - pos > 128:
            window = bytes(view[pos : min(end, pos + room)])
            newline = window.find(b"\n")
        if newline < 0:
            if len(window) >= room:
                raise S3Error("InvalidArgument", "aws-chunked line too long")
            self._line += window
            return None, end
        if self._line:
            line = bytes(self._line) + window[:newline]
            self._line.clear()
        else:
            line = window[:newline]
        return line, pos + newline + 1

    def _on_header(self, line: bytes) -> None:
        if not line.endswith(b"\r"):
            raise _framing("chunk header not terminated by CRLF")
        line = line[:-1]
        size_text, sep, extension = line.partition(b";")
        if _SIZE_RE.fullmatch(size_text) is None:
            raise _framing("chunk size is not hex")
        size = int(size_text, 16)
        if size > self._max_chunk:
            raise S3Error(
                "InvalidArgument", f"Chunk size exceeds the maximum of {self._max_chunk} bytes."
            )
        if self._mode.has_chunk_signatures:
            if not sep or not extension.startswith(_SIG_PREFIX):
                raise _framing("chunk signature missing")
            signature = extension[len(_SIG_PREFIX) :]
            if _SIG_RE.fullmatch(signature) is None:
                raise S3Error("SignatureDoesNotMatch")
            self._signature = signature
            self._sha = hashlib.sha256()
        if self._decoded_length is not None and self._decoded + size > self._decoded_length:
            raise S3Error("IncompleteBody")
        self._decoded += size
        if size == 0:
            if self._mode.has_chunk_signatures:
                self._verify_chunk()
            self._state = _TRAILER
        else:
            self._remaining = size
            self._state = _DATA

    def _on_trailer_line(self, line: bytes) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        self._trailer_bytes += len(line) + 2
        if self._trailer_bytes > MAX_TRAILER_BYTES:
            raise S3Error("InvalidArgument", "The trailing headers are too large.")
        signed = self._mode is PayloadMode.STREAMING_SIGNED_TRAILER
        if not line:
            if signed and not self._trailer_signed:
                if self._trailer_lines:
                    return  # tolerated: a blank line between the checksums and the signature
                raise _framing("trailer signature missing")
            self._state = _DONE
            return
        if self._mode is PayloadMode.STREAMING_SIGNED:
            raise _framing("trailers in a body that declared none")
        if self._trailer_signed:
            raise _framing("trailer after the trailer signature")
        name_bytes, sep, value_bytes = line.partition(b":")
        if not sep:
            raise _framing("malformed trailer")
        name = name_bytes.decode("latin-1").strip().lower()
        value = value_bytes.decode("latin-1").strip()
        if not name or name in self._trailers or len(self._trailers) >= MAX_TRAILERS:
            raise S3Error("InvalidArgument", "Malformed trailing headers.")
        if name == _TRAILER_SIG:
            if signed:
                self._verify_trailer(value)
                self._trailer_signed = True
            return
        self._trailers[name] = value
        self._trailer_lines.append(f"{name}:{value}\n")

    # --- signatures -----------------------------------------------------------------------------

    def _verify_chunk(self) -> None:
        assert self._sha is not None
        string_to_sign = (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{self._prefix}{self._previous}\n{EMPTY_SHA256}\n"
            f"{self._sha.hexdigest()}"
        )
        expected = hmac.digest(self._key, string_to_sign.encode(), "sha256").hex()
        if not hmac.compare_digest(expected.encode(), self._signature):
            raise S3Error("SignatureDoesNotMatch")
        self._previous = expected
        self._sha = None

    def _verify_trailer(self, provided: str) -> None:
        digest = hashlib.sha256("".join(self._trailer_lines).encode("latin-1")).hexdigest()
        string_to_sign = f"AWS4-HMAC-SHA256-TRAILER\n{self._prefix}{self._previous}\n{digest}"
        expected = hmac.digest(self._key, string_to_sign.encode(), "sha256").hex()
        if not hmac.compare_digest(expected.encode(), provided.encode("latin-1")):
            raise S3Error("SignatureDoesNotMatch")
