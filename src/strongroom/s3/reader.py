"""Reading an object's bytes back: the GET data path for unencrypted objects.

Inline objects come from the record itself; file segments are sent with ``sendfile`` (no copy
through Python). Files are opened before the response starts, so a concurrent overwrite that
unlinks them cannot cut a response short.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import BinaryIO

from strongroom.net.streaming import FileRegion
from strongroom.s3.storage import LocalStorage, ObjectRecord, Segment


class OpenObject:
    """Open handles on an object's data files; ``close`` releases them."""

    def __init__(self, storage: LocalStorage, record: ObjectRecord) -> None:
        self.record = record
        self._files: dict[str, BinaryIO] = {}
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
