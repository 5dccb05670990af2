"""Reading an object's bytes back: the GET data path.

Inline objects come from the record itself; file segments of unencrypted objects are sent with
``sendfile`` (no copy through Python); encrypted ones are decrypted from a read-only map of the
file into one reused buffer per response. Files are opened before the response starts, so a
concurrent overwrite that unlinks them cannot cut a response short.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

from strongroom.crypto import dare
from strongroom.net.streaming import BufferStream, FileRegion
from strongroom.s3.errors import S3Error
from strongroom.s3.sse import ObjectKey
from strongroom.s3.storage import LocalStorage, ObjectRecord, Segment

READ_SIZE = 1024 * 1024
# Plaintext produced per step of an encrypted GET: 16 packages of 64 KiB, read in one go.
DECRYPT_BUFFER = 16 * dare.MAX_PAYLOAD_SIZE
SMALL_BODY = 256 * 1024  # encrypted bodies up to this size are sent as one piece


class _BufferPool:
    """Decryption buffers kept for the next GET: a fresh 1 MiB buffer costs page faults and a
    zero fill on every request. Used from the event loop thread only."""

    def __init__(self, size: int, keep: int) -> None:
        self._size = size
        self._keep = keep
        self._free: list[bytearray] = []

    def take(self) -> bytearray:
        return self._free.pop() if self._free else bytearray(self._size)

    def give(self, buffer: bytearray) -> None:
        if len(self._free) < self._keep:
            self._free.append(buffer)


_GET_BUFFERS = _BufferPool(DECRYPT_BUFFER, keep=8)


class OpenObject:
    """Open handles on an object's data files; ``close`` releases them."""

    def __init__(self, storage: LocalStorage, record: ObjectRecord) -> None:
        self.record = record
        self._files: dict[str, BinaryIO] = {}
        self._maps: dict[str, mmap.mmap] = {}
        self._buffer: bytearray | None = None  # a pooled GET buffer, returned on close
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
        buffer, self._buffer = self._buffer, None
        if buffer is not None:
            _GET_BUFFERS.give(buffer)
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
        if last < first:
            return iter(())
        if object_key is None:
            return self._stored_chunks(first, last)
        buffer = bytearray(DECRYPT_BUFFER)
        return (bytes(view) for view in self.plaintext_views(object_key, first, last, buffer))

    def plaintext_views(
        self, object_key: ObjectKey, first: int, last: int, buffer: bytearray
    ) -> Iterator[memoryview]:
        """:meth:`plaintext` of an encrypted object as views of ``buffer``, each valid until the
        next is asked for (see ``dare.decrypt_range_into``)."""
        length = last - first + 1
        if length <= 0:
            return iter(())
        segments = self.record.segments
        if not self.record.multipart:
            segment = segments[0]

            def read(offset: int, size: int) -> memoryview:
                return self.view_segment(segment, offset, size)

            return dare.decrypt_range_into(
                object_key.key, read, segment.plain_size, first, length, buffer
            )
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

        return dare.decrypt_multipart_range_into(
            part_key, read_concat, [s.plain_size for s in segments], first, length, buffer
        )

    def plaintext_body(self, object_key: ObjectKey, first: int, last: int) -> bytes | BufferStream:
        """The GET body of bytes first..last of an encrypted object, decrypted into one buffer
        per response (pooled; back to the pool on ``close``, after the response is sent). A
        small body is decrypted whole, so that it leaves in one write with the head. Raises
        ``dare.DareError`` if the first batch does not authenticate."""
        if self._buffer is None:
            self._buffer = _GET_BUFFERS.take()
        views = self.plaintext_views(object_key, first, last, self._buffer)
        if last - first + 1 <= SMALL_BODY:
            return b"".join(bytes(view) for view in views)
        return BufferStream(views)
