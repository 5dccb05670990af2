"""Object server storage: records and the embedded local-directory backend."""

from strongroom.s3.storage.local import DataWriter, LocalStorage
from strongroom.s3.storage.records import (
    BucketExistsError,
    BucketNotEmptyError,
    BucketNotFoundError,
    ListEntry,
    ObjectRecord,
    PartRecord,
    Segment,
    StorageError,
    UploadNotFoundError,
    UploadRecord,
    WriteConditionError,
)

__all__ = [
    "BucketExistsError",
    "BucketNotEmptyError",
    "BucketNotFoundError",
    "DataWriter",
    "ListEntry",
    "LocalStorage",
    "ObjectRecord",
    "PartRecord",
    "Segment",
    "StorageError",
    "UploadNotFoundError",
    "UploadRecord",
    "WriteConditionError",
]
