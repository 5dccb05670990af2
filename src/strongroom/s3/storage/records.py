"""What the object server stores about buckets, objects and multipart uploads.

These records are the storage interface's vocabulary: a backend persists them and never
interprets ``meta`` (which holds user metadata, standard headers and the sealed encryption
metadata as plain strings).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class StorageError(Exception):
    """A storage backend failure (I/O, corruption). Rendered as S3 InternalError."""


class BucketExistsError(StorageError):
    pass


class BucketNotFoundError(StorageError):
    pass


class BucketNotEmptyError(StorageError):
    pass


class UploadNotFoundError(StorageError):
    pass


class WriteConditionError(StorageError):
    """A conditional write found the object changed when it came to commit.

    ``missing`` is True when the object it expected (``if_etag``) no longer exists."""

    def __init__(self, missing: bool = False) -> None:
        super().__init__("missing" if missing else "changed")
        self.missing = missing


@dataclass(slots=True)
class Segment:
    """One stored data stream: a whole single-part object or one part of a multipart object.

    ``file`` is the backend's name for the data (None when the bytes are inline in ``data``).
    ``size`` counts stored bytes (ciphertext when encrypted); ``plain_size`` plaintext bytes.
    """

    size: int
    plain_size: int
    etag: str
    part_number: int = 0
    file: str | None = None
    data: bytes | None = None
    checksums: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "size": self.size,
            "plain": self.plain_size,
            "etag": self.etag,
            "n": self.part_number,
        }
        if self.file is not None:
            out["file"] = self.file
        if self.checksums:
            out["ck"] = self.checksums
        return out

    @classmethod
    def from_json(cls, raw: dict[str, object], data: bytes | None = None) -> Segment:
        checksums = raw.get("ck")
        file = raw.get("file")
        return cls(
            size=int(str(raw["size"])),
            plain_size=int(str(raw["plain"])),
            etag=str(raw["etag"]),
            part_number=int(str(raw.get("n", 0))),
            file=str(file) if file is not None else None,
            data=data,
            checksums=dict(checksums) if isinstance(checksums, dict) else {},
        )


@dataclass(slots=True)
class ObjectRecord:
    bucket: str
    key: str
    size: int  # plaintext size, what clients see
    etag: str  # stored ETag (may be sealed when encrypted; the SSE layer presents it)
    mtime: float  # seconds since the epoch
    meta: dict[str, str] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)

    @property
    def multipart(self) -> bool:
        return any(seg.part_number > 0 for seg in self.segments)


@dataclass(slots=True)
class ListEntry:
    """One row of a listing: enough to render ListObjects without loading data segments."""

    key: str
    size: int
    etag: str
    mtime: float
    meta: dict[str, str]


@dataclass(slots=True)
class UploadRecord:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    meta: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class PartRecord:
    upload_id: str
    segment: Segment
    mtime: float
