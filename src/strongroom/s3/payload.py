"""Receiving an object's bytes: the PUT data path.

    socket -> Body -> [aws-chunked decoder] -> checksums (MD5 + requested) -> [transform]
           -> sink (inline buffer, spilling to a new data file) -> verify -> fsync

The transform is where encryption slots in: it sees plaintext and returns what to store.
Nothing is published here: the caller commits a metadata record naming the returned segment
only after every check passed, so a failed or dropped upload leaves no trace but a discarded
temp file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from strongroom.s3.checksums import Checksummer
from strongroom.s3.chunked import ChunkedDecoder
from strongroom.s3.context import Ctx
from strongroom.s3.errors import S3Error
from strongroom.s3.sigv4 import PayloadMode
from strongroom.s3.storage import DataWriter, Segment
from strongroom.s3.storage.local import INLINE_LIMIT

MAX_OBJECT_SIZE = 5 * 1024**4  # 5 TiB, as S3
MAX_PART_SIZE = 5 * 1024**3


class Transform(Protocol):
    """A stage between plaintext and storage (encryption). ``update_parts`` returns the pieces
    to store, in order, unjoined (the sink writes them with one ``writev``)."""

    def update_parts(self, data: bytes | memoryview) -> list[bytes]: ...

    def finalize(self) -> bytes: ...


@dataclass(slots=True)
class Received:
    segment: Segment
    md5_hex: str
    checksums: dict[str, str] = field(default_factory=dict)  # e.g. {"CRC32": base64}


class _Sink:
    """Buffers small payloads in memory; spills to a new data file past the inline limit."""

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx
        self._buffer = bytearray()
        self._writer: DataWriter | None = None
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        if not data:
            return
        self.size += len(data)
        if self._writer is None:
            self._buffer += data
            if len(self._buffer) > INLINE_LIMIT:
                self._writer = self._ctx.storage.new_data()
                self._writer.write(memoryview(self._buffer))
                self._buffer = bytearray()
        else:
            self._writer.write(data)

    def write_parts(self, pieces: list[bytes]) -> None:
        if self._writer is None:
            for piece in pieces:
                self.write(piece)
        else:
            self.size += sum(len(p) for p in pieces)
            self._writer.write_many(pieces)

    def store(self, data: bytes | memoryview, transform: Transform | None) -> None:
        """Store plaintext ``data``, through ``transform`` when there is one."""
        if transform is None:
            self.write(data)
        else:
            self.write_parts(transform.update_parts(data))

    async def commit(self, segment: Segment) -> Segment:
        if self._writer is None:
            segment.data = bytes(self._buffer)
        else:
            await self._ctx.services.blocking(self._writer.commit)
            segment.file = self._writer.name
        return segment

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.discard()
            self._writer = None


def declared_length(ctx: Ctx) -> int | None:
    """The plaintext length the client announced (None when it did not)."""
    headers = ctx.headers
    raw = headers.get("x-amz-decoded-content-length")
    if raw is None and ctx.auth is not None and not ctx.auth.payload.is_chunked:
        raw = headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise S3Error("InvalidArgument", "Invalid content length")
    return int(raw)


async def receive(
    ctx: Ctx,
    *,
    transform: Transform | None = None,
    part_number: int = 0,
    max_size: int = MAX_OBJECT_SIZE,
    md5: bool = True,
    also: tuple[str, ...] = (),
) -> Received:
    """Receive the request body into a new segment. ``md5=False`` skips the MD5 pass (the
    ETag is then random, as for SSE-C and SSE-KMS) unless Content-MD5 asks for it."""
    auth = ctx.auth
    assert auth is not None
    request = ctx.request
    headers = ctx.headers
    if "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", ""):
        raise S3Error("MissingContentLength")
    length = declared_length(ctx)
    if length is not None and length > max_size:
        raise S3Error("EntityTooLarge")

    decoder = ChunkedDecoder(auth, decoded_length=length) if auth.payload.is_chunked else None
    signed = auth.expected_sha256 if auth.payload is PayloadMode.SIGNED else None
    checksummer = Checksummer.from_headers(ctx.headers, expected_sha256=signed, md5=md5, also=also)
    md5 = md5 or "content-md5" in ctx.headers
    sink = _Sink(ctx)
    received = 0
    try:
        while True:
            chunk = await request.body.read()
            if not chunk:
                break
            pieces: list[bytes | memoryview] = decoder.feed(chunk) if decoder else [chunk]
            for piece in pieces:
                received += len(piece)
                if received > max_size:
                    raise S3Error("EntityTooLarge")
                checksummer.update(piece)
                sink.store(piece, transform)
        trailers = decoder.finish() if decoder is not None else {}
        if length is not None and received != length:
            raise S3Error("IncompleteBody")
        checksummer.verify(trailers)
        if transform is not None:
            sink.write(transform.finalize())
        segment = Segment(
            size=sink.size,
            plain_size=received,
            etag=checksummer.etag() if md5 else "",
            part_number=part_number,
            checksums={a.upper(): v for a, v in checksummer.checksums().items()},
        )
        segment = await sink.commit(segment)
    except BaseException:
        sink.discard()
        raise
    return Received(segment, segment.etag, segment.checksums)


async def read_body(ctx: Ctx, limit: int, *, body_checksums: bool = True) -> bytes:
    """The whole (small) body of a request that is not an upload: XML documents of DeleteObjects,
    CompleteMultipartUpload, tagging, ACLs and bucket configurations.

    Verified as upload bodies are: the signed ``x-amz-content-sha256`` (a body changed after
    signing is ``XAmzContentSHA256Mismatch``), ``Content-MD5`` and the ``x-amz-checksum-*``
    header or trailer that botocore >= 1.36 sends instead of Content-MD5 (``BadDigest``);
    aws-chunked bodies are decoded with their chunk signatures checked. Past ``limit`` bytes
    the request is refused as the body reader refuses it. ``body_checksums=False`` for
    CompleteMultipartUpload, whose ``x-amz-checksum-*`` header is the object's checksum.
    """
    auth = ctx.auth
    headers = ctx.headers
    if not body_checksums:
        headers = {
            k: v
            for k, v in headers.items()
            if not k.startswith("x-amz-checksum-")
            and k not in ("x-amz-sdk-checksum-algorithm", "x-amz-trailer")
        }
    body = await ctx.request.body.read_all(limit)
    if auth is None:  # e.g. signature V2: no payload hash to hold the body to
        checksummer = Checksummer.from_headers(headers, md5=False)
        checksummer.update(body)
        checksummer.verify()
        return body
    trailers: dict[str, str] = {}
    if auth.payload.is_chunked:
        decoder = ChunkedDecoder(auth, decoded_length=declared_length(ctx))
        body = b"".join(bytes(piece) for piece in decoder.feed(body))
        trailers = decoder.finish()
    signed = auth.expected_sha256 if auth.payload is PayloadMode.SIGNED else None
    checksummer = Checksummer.from_headers(headers, expected_sha256=signed, md5=False)
    checksummer.update(body)
    checksummer.verify(trailers)
    return body


async def store_stream(
    ctx: Ctx,
    chunks: AsyncIterator[bytes],
    *,
    transform: Transform | None = None,
    part_number: int = 0,
    algorithms: tuple[str, ...] = (),
    max_size: int = MAX_OBJECT_SIZE,
) -> Received:
    """Store plaintext that is not a plain request body (copies, POST form files): MD5 for the
    ETag and any requested checksums, the optional transform, then the same sink as uploads."""
    checksummer = Checksummer(algorithms)
    sink = _Sink(ctx)
    size = 0
    try:
        async for chunk in chunks:
            size += len(chunk)
            if size > max_size:
                raise S3Error("EntityTooLarge")
            checksummer.update(chunk)
            sink.store(chunk, transform)
        if transform is not None:
            sink.write(transform.finalize())
        etag = checksummer.etag()
        values = {a.upper(): v for a, v in checksummer.checksums().items()}
        segment = Segment(
            size=sink.size, plain_size=size, etag=etag, part_number=part_number, checksums=values
        )
        segment = await sink.commit(segment)
    except BaseException:
        sink.discard()
        raise
    return Received(segment, etag, dict(values))


async def store_plaintext(
    ctx: Ctx,
    chunks: Iterator[bytes],
    *,
    transform: Transform | None = None,
    part_number: int = 0,
    algorithms: tuple[str, ...] = (),
) -> Received:
    """:func:`store_stream` for plaintext the server produces itself (copies)."""

    async def paced() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk
            await asyncio.sleep(0)  # let other connections move between megabytes

    return await store_stream(
        ctx, paced(), transform=transform, part_number=part_number, algorithms=algorithms
    )
