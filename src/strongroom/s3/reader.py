"""Reading an object's bytes back: the GET data path for unencrypted objects.

Inline objects come from the record itself; file segments are sent with ``sendfile`` (no copy
through Python). Files are opened before the response starts, so a concurrent overwrite that
unlinks them cannot cut a response short.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import BinaryIO

from strongroom.crypto import dare
from strongroom.net.streaming import FileRegion
from strongroom.s3.errors import S3Error
from strongroom.s3.sse import ObjectKey
from strongroom.s3.storage import LocalStorage, ObjectRecord, Segment

READ_SIZE = 1024 * 1024
RESPONSE_BATCH = 1024 * 1024


class OpenObject:
    """Open handles on an object's data files; ``close`` releases them."""

    def __init__(self, storage: LocalStorage, record: ObjectRecord) -> None:
        self.record = record
        self._files: dict[str, BinaryIO] = {}
        self._maps: dict[str, mmap.mmap] = {}
        try:
            for seg in record.segments:
                if seg.file is not None:
                    self._files[seg.file] = storage.open_data(seg.file)
        except BaseException:
            self.close()
            raise

    def file(self, segment: Segment) -> BinaryIO:
        assert segment.file is not None
        return self._files[segment.file]

    def close(self) -> None:
        for mapped in self._maps.values():
            with contextlib.suppress(BufferError):  # a view still alive: freed with it
                mapped.close()
        self._maps.clear()
        for handle in self._files.values():
            with contextlib.suppress(OSError):
                handle.close()
        self._files.clear()

    def plain_body(self, first: int, last: int) -> bytes | list[FileRegion]:
        """Bytes first..last (inclusive) of an unencrypted object."""
        regions: list[FileRegion] = []
        inline: list[bytes] = []
        offset = 0
        for seg in self.record.segments:
            seg_first, seg_last = offset, offset + seg.size - 1
            offset += seg.size
            if seg_last < first or seg_first > last or seg.size == 0:
                continue
            start = max(first, seg_first) - seg_first
            end = min(last, seg_last) - seg_first + 1
            if seg.data is not None:
                inline.append(seg.data[start:end])
            else:
                regions.append(FileRegion(self.file(seg), start, end - start))
        if inline and not regions:
            return b"".join(inline)
        if inline:
            raise ValueError("mixed inline and file segments")
        return regions

    def closer(self) -> Callable[[], None]:
        return self.close

    def read_segment(self, segment: Segment, offset: int, length: int) -> bytes:
        """Stored bytes of one segment (blocking pread; page-cache fast)."""
        if segment.data is not None:
            return segment.data[offset : offset + length]
        return os.pread(self.file(segment).fileno(), length, offset)

    def view_segment(self, segment: Segment, offset: int, length: int) -> memoryview:
        """Stored bytes of one segment without a copy (a view of the mapped file); for the
        decryptor, which reads each view before asking for the next."""
        if segment.data is not None:
            return memoryview(segment.data)[offset : offset + length]
        assert segment.file is not None
        mapped = self._maps.get(segment.file)
        if mapped is None:
            if segment.size == 0:
                return memoryview(b"")
            mapped = mmap.mmap(self.file(segment).fileno(), 0, access=mmap.ACCESS_READ)
            self._maps[segment.file] = mapped
        return memoryview(mapped)[offset : offset + length]

    def _stored_chunks(self, first: int, last: int) -> Iterator[bytes]:
        offset = 0
        for seg in self.record.segments:
            seg_first, seg_last = offset, offset + seg.size - 1
            offset += seg.size
            if seg_last < first or seg_first > last or seg.size == 0:
                continue
            pos = max(first, seg_first) - seg_first
            end = min(last, seg_last) - seg_first + 1
            while pos < end:
                chunk = self.read_segment(seg, pos, min(READ_SIZE, end - pos))
                if not chunk:
                    raise S3Error("InternalError", "stored object is truncated")
                pos += len(chunk)
                yield chunk

    def plaintext(self, object_key: ObjectKey | None, first: int, last: int) -> Iterator[bytes]:
        """Plaintext bytes first..last (inclusive), decrypting only the packages they need.

        Every package is authenticated before any of its bytes is yielded; tampering raises
        ``dare.DareError`` (callers turn it into an error or an aborted response).
        """
        length = last - first + 1
        if length <= 0:
            return iter(())
        if object_key is None:
            return self._stored_chunks(first, last)
        segments = self.record.segments
        if not self.record.multipart:
            segment = segments[0]

            def read(offset: int, size: int) -> memoryview:
                return self.view_segment(segment, offset, size)

            return dare.decrypt_range(object_key.key, read, segment.plain_size, first, length)
        starts: list[int] = []
        total = 0
        for seg in segments:
            starts.append(total)
            total += seg.size

        def read_concat(offset: int, size: int) -> memoryview:
            for index in range(len(segments) - 1, -1, -1):
                if starts[index] <= offset:
                    return self.view_segment(segments[index], offset - starts[index], size)
            raise dare.DareError("read outside the object")

        def part_key(index: int) -> bytes:
            return object_key.part_key(segments[index].part_number)

        return dare.decrypt_multipart_range(
            part_key, read_concat, [s.plain_size for s in segments], first, length
        )


def primed_stream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Pull the first batch before the response starts, so that a failure to decrypt even the
    first package becomes a proper error response instead of a cut connection."""
    first = _next_batch(chunks)

    async def stream() -> AsyncIterator[bytes]:
        if first:
            yield first
        while batch := _next_batch(chunks):
            yield batch

    return stream()


def _next_batch(chunks: Iterator[bytes]) -> bytes:
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= RESPONSE_BATCH:
            break
    return b"".join(parts)
