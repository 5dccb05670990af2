"""The embedded storage backend: a local directory.

Layout under the served directory ``DIR``::

    DIR/.strongroom.sys/meta.db        SQLite (WAL): buckets, objects, uploads, parts
    DIR/.strongroom.sys/data/XX/NAME   object and part data files, one per stored segment

Atomicity: a data file is written under a fresh unique name and fsynced before the metadata
transaction that references it commits; until then no reader can see it. Replacing or deleting
an object commits first and unlinks the old files afterwards, so a crash at any point leaves
either the old object or the new one, whole, plus at most an unreferenced file (swept at start).
Small objects (up to ``INLINE_LIMIT`` stored bytes) live inside the database row: one fsync.

Keys are stored as UTF-8 BLOBs so that SQLite's memcmp ordering is S3's byte ordering, and a
prefix becomes a half-open key range: listing cost depends on the listed range only.

Thread model: each thread gets its own SQLite connection; several processes may share DIR.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

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

INLINE_LIMIT = 128 * 1024
SYS_DIR = ".strongroom.sys"
ORPHAN_GRACE_SECONDS = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL,
    config TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    mtime REAL NOT NULL,
    meta TEXT NOT NULL,
    segments TEXT NOT NULL,
    inline BLOB,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    initiated REAL NOT NULL,
    meta TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    segment TEXT NOT NULL,
    inline BLOB,
    mtime REAL NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
"""


def key_successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


class DataWriter:
    """Writes one new data file; invisible to readers until a metadata commit names it."""

    def __init__(self, path: Path, name: str) -> None:
        self.name = name
        self._path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self.size += written

    def write_many(self, pieces: list[bytes]) -> None:
        """Write pieces in order with one ``writev`` (no joining copy)."""
        if not pieces:
            return
        written = os.writev(self._fd, pieces)
        self.size += written
        if written < sum(len(p) for p in pieces):  # a short write: finish piece by piece
            for piece in pieces:
                if written >= len(piece):
                    written -= len(piece)
                    continue
                self.write(memoryview(piece)[written:])
                written = 0

    def commit(self) -> None:
        """Flush to stable storage (file and its directory entry). Blocking."""
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        dir_fd = os.open(self._path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.sys_dir = self.root / SYS_DIR
        self.data_dir = self.sys_dir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._db_path = self.sys_dir / "meta.db"
        self._local = threading.local()
        conn = self._conn()
        with conn:
            conn.executescript(_SCHEMA)

    # -- connections and transactions --
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._db_path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=OFF")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write: its own transaction, or a savepoint inside a running :meth:`batch`."""
        conn = self._conn()
        if getattr(self._local, "batch", None) is not None:
            conn.execute("SAVEPOINT write")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK TO write")
                conn.execute("RELEASE write")
                raise
            conn.execute("RELEASE write")
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group commit: every write inside commits with one transaction (one fsync); a write
        that fails rolls back alone. Files replaced by the writes are removed after COMMIT."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        removed: list[str] = []
        self._local.batch = removed
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.batch = None
        self.remove_data(removed)

    def _remove_after_commit(self, names: list[str]) -> None:
        pending: list[str] | None = getattr(self._local, "batch", None)
        if pending is not None:
            pending.extend(names)
        else:
            self.remove_data(names)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- data files --
    def new_data(self) -> DataWriter:
        name = secrets.token_hex(16)
        directory = self.data_dir / name[:2]
        directory.mkdir(exist_ok=True)
        return DataWriter(directory / name, name)

    def open_data(self, name: str) -> BinaryIO:
        if len(name) != 32 or not all(c in "0123456789abcdef" for c in name):
            raise StorageError("corrupt segment reference")
        return open(self.data_dir / name[:2] / name, "rb")

    def link_data(self, name: str) -> str:
        """A second name for an existing data file (data files are immutable). Blocking."""
        source = self.open_data(name)
        source.close()
        new = secrets.token_hex(16)
        directory = self.data_dir / new[:2]
        directory.mkdir(exist_ok=True)
        os.link(self.data_dir / name[:2] / name, directory / new)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return new

    def remove_data(self, names: list[str]) -> None:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / name[:2] / name).unlink()

    def sweep_orphans(self, older_than: float = ORPHAN_GRACE_SECONDS) -> int:
        """Delete data files that no object or upload part references and that have not
        changed for ``older_than`` seconds (left by crashes between writing a file and
        publishing it, or between a commit and the removal of the files it replaced). Returns
        the count.

        Candidates are listed before the references are read, and judged by their inode change
        time (which a new hard link updates), so a file that gets published or linked meanwhile
        is never taken.
        """
        cutoff = time.time() - older_than
        candidates: list[Path] = []
        for directory in self.data_dir.iterdir():
            if not directory.is_dir():
                continue
            for path in directory.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    info = path.stat()
                    if max(info.st_mtime, info.st_ctime) < cutoff:
                        candidates.append(path)
        if not candidates:
            return 0
        conn = self._conn()
        referenced: set[str] = set()
        conn.execute("BEGIN")  # one snapshot: a file moving from an upload to an object is seen
        try:
            for (raw,) in conn.execute("SELECT segments FROM objects"):
                referenced.update(s["file"] for s in json.loads(raw) if "file" in s)
            for (raw,) in conn.execute("SELECT segment FROM parts"):
                seg = json.loads(raw)
                if "file" in seg:
                    referenced.add(seg["file"])
        finally:
            conn.execute("COMMIT")
        removed = 0
        for path in candidates:
            if path.name not in referenced:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        return removed

    # -- buckets --
    def create_bucket(self, name: str, now: float | None = None) -> None:
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM buckets WHERE name=?", (name,)).fetchone():
                raise BucketExistsError(name)
            conn.execute(
                "INSERT INTO buckets (name, created) VALUES (?, ?)",
                (name, now if now is not None else time.time()),
            )

    def delete_bucket(self, name: str) -> None:
        with self._write() as conn:
            if not conn.execute("SELECT 1 FROM buckets WHERE name=?", (name,)).fetchone():
                raise BucketNotFoundError(name)
            if conn.execute("SELECT 1 FROM objects WHERE bucket=? LIMIT 1", (name,)).fetchone():
                raise BucketNotEmptyError(name)
            uploads = [
                r[0] for r in conn.execute("SELECT upload_id FROM uploads WHERE bucket=?", (name,))
            ]
            files = self._part_files(conn, uploads)
            for upload_id in uploads:
                conn.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
            conn.execute("DELETE FROM uploads WHERE bucket=?", (name,))
            conn.execute("DELETE FROM buckets WHERE name=?", (name,))
        self._remove_after_commit(files)

    def bucket_exists(self, name: str) -> bool:
        row = self._conn().execute("SELECT 1 FROM buckets WHERE name=?", (name,)).fetchone()
        return row is not None

    def list_buckets(self) -> list[tuple[str, float]]:
        rows = self._conn().execute("SELECT name, created FROM buckets ORDER BY name")
        return [(str(n), float(c)) for n, c in rows]

    def get_bucket_config(self, name: str) -> dict[str, str]:
        row = self._conn().execute("SELECT config FROM buckets WHERE name=?", (name,)).fetchone()
        if row is None:
            raise BucketNotFoundError(name)
        config: dict[str, str] = json.loads(row[0])
        return config

    def set_bucket_config(self, name: str, item: str, value: str | None) -> None:
        with self._write() as conn:
            row = conn.execute("SELECT config FROM buckets WHERE name=?", (name,)).fetchone()
            if row is None:
                raise BucketNotFoundError(name)
            config = json.loads(row[0])
            if value is None:
                config.pop(item, None)
            else:
                config[item] = value
            conn.execute("UPDATE buckets SET config=? WHERE name=?", (json.dumps(config), name))

    # -- objects --
    def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        row = (
            self._conn()
            .execute(
                "SELECT size, etag, mtime, meta, segments, inline FROM objects "
                "WHERE bucket=? AND key=?",
                (bucket, key.encode()),
            )
            .fetchone()
        )
        if row is None:
            return None
        size, etag, mtime, meta, segments, inline = row
        segs = [Segment.from_json(s) for s in json.loads(segments)]
        if inline is not None and segs:
            segs[0].data = bytes(inline)
        return ObjectRecord(bucket, key, int(size), str(etag), float(mtime), json.loads(meta), segs)

    def put_object(
        self, record: ObjectRecord, *, if_absent: bool = False, if_etag: str | None = None
    ) -> None:
        """Insert or replace the object; data files of a replaced object are removed.

        ``if_absent``: only if no object has the key; ``if_etag``: only if the object's stored
        ETag is still this one (else ``WriteConditionError``; conditional writes)."""
        inline = None
        if len(record.segments) == 1 and record.segments[0].data is not None:
            inline = record.segments[0].data
        segments = json.dumps([s.to_json() for s in record.segments])
        with self._write() as conn:
            if not conn.execute("SELECT 1 FROM buckets WHERE name=?", (record.bucket,)).fetchone():
                raise BucketNotFoundError(record.bucket)
            self._check_condition(conn, record, if_absent, if_etag)
            old = self._object_files(conn, record.bucket, record.key)
            conn.execute(
                "INSERT OR REPLACE INTO objects (bucket, key, size, etag, mtime, meta, segments,"
                " inline) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.bucket,
                    record.key.encode(),
                    record.size,
                    record.etag,
                    record.mtime,
                    json.dumps(record.meta, separators=(",", ":")),
                    segments,
                    inline,
                ),
            )
        self._remove_after_commit(old)

    def update_object_meta(
        self, bucket: str, key: str, expect_etag: str, meta: dict[str, str], mtime: float
    ) -> bool:
        """Replace an object's metadata only (its data stays), if it is still the same object."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE objects SET meta=?, mtime=? WHERE bucket=? AND key=? AND etag=?",
                (json.dumps(meta, separators=(",", ":")), mtime, bucket, key.encode(), expect_etag),
            )
            return cur.rowcount == 1

    def delete_object(self, bucket: str, key: str) -> bool:
        with self._write() as conn:
            old = self._object_files(conn, bucket, key)
            cur = conn.execute(
                "DELETE FROM objects WHERE bucket=? AND key=?", (bucket, key.encode())
            )
            deleted = cur.rowcount == 1
        self._remove_after_commit(old)
        return deleted

    @staticmethod
    def _object_files(conn: sqlite3.Connection, bucket: str, key: str) -> list[str]:
        row = conn.execute(
            "SELECT segments FROM objects WHERE bucket=? AND key=?", (bucket, key.encode())
        ).fetchone()
        if row is None:
            return []
        return [s["file"] for s in json.loads(row[0]) if "file" in s]

    def iter_objects(
        self, bucket: str, prefix: str, start: bytes, *, inclusive: bool, batch: int = 1000
    ) -> Iterator[ListEntry]:
        """Objects whose key starts with ``prefix`` and is > (or >=) ``start``, in key order.

        The caller drives the iteration and may stop at any point; restarts are cheap seeks.
        """
        low = max(prefix.encode(), start)
        high = key_successor(prefix.encode()) if prefix else None
        op = ">=" if inclusive or low != start else ">"
        conn = self._conn()
        while True:
            sql = f"SELECT key, size, etag, mtime, meta FROM objects WHERE bucket=? AND key {op} ?"  # noqa: S608
            params: list[object] = [bucket, low]
            if high is not None:
                sql += " AND key < ?"
                params.append(high)
            sql += " ORDER BY key LIMIT ?"
            params.append(batch)
            rows = conn.execute(sql, params).fetchall()
            for key, size, etag, mtime, meta in rows:
                yield ListEntry(
                    bytes(key).decode(), int(size), str(etag), float(mtime), json.loads(meta)
                )
            if len(rows) < batch:
                return
            low = bytes(rows[-1][0])
            op = ">"

    # -- multipart --
    def create_upload(self, bucket: str, key: str, meta: dict[str, str]) -> UploadRecord:
        # hex: an id must never start with "-" (command lines read that as an option)
        upload_id = secrets.token_hex(24)
        now = time.time()
        with self._write() as conn:
            if not conn.execute("SELECT 1 FROM buckets WHERE name=?", (bucket,)).fetchone():
                raise BucketNotFoundError(bucket)
            conn.execute(
                "INSERT INTO uploads (upload_id, bucket, key, initiated, meta) VALUES (?,?,?,?,?)",
                (upload_id, bucket, key.encode(), now, json.dumps(meta)),
            )
        return UploadRecord(upload_id, bucket, key, now, meta)

    def get_upload(self, upload_id: str) -> UploadRecord:
        row = (
            self._conn()
            .execute(
                "SELECT bucket, key, initiated, meta FROM uploads WHERE upload_id=?", (upload_id,)
            )
            .fetchone()
        )
        if row is None:
            raise UploadNotFoundError(upload_id)
        bucket, key, initiated, meta = row
        return UploadRecord(
            upload_id, str(bucket), bytes(key).decode(), float(initiated), json.loads(meta)
        )

    def put_part(self, upload_id: str, segment: Segment) -> None:
        inline = segment.data
        with self._write() as conn:
            if not conn.execute("SELECT 1 FROM uploads WHERE upload_id=?", (upload_id,)).fetchone():
                raise UploadNotFoundError(upload_id)
            old = conn.execute(
                "SELECT segment FROM parts WHERE upload_id=? AND part_number=?",
                (upload_id, segment.part_number),
            ).fetchone()
            conn.execute(
                "INSERT OR REPLACE INTO parts (upload_id, part_number, segment, inline, mtime)"
                " VALUES (?,?,?,?,?)",
                (
                    upload_id,
                    segment.part_number,
                    json.dumps(segment.to_json()),
                    inline,
                    time.time(),
                ),
            )
        if old is not None:
            previous = json.loads(old[0])
            if "file" in previous and previous["file"] != segment.file:
                self._remove_after_commit([previous["file"]])

    def list_parts(self, upload_id: str, after: int = 0, limit: int = 10000) -> list[PartRecord]:
        rows = self._conn().execute(
            "SELECT segment, inline, mtime FROM parts WHERE upload_id=? AND part_number>? "
            "ORDER BY part_number LIMIT ?",
            (upload_id, after, limit),
        )
        return [
            PartRecord(
                upload_id,
                Segment.from_json(json.loads(seg), bytes(inl) if inl else None),
                float(mtime),
            )
            for seg, inl, mtime in rows
        ]

    @staticmethod
    def _check_condition(
        conn: sqlite3.Connection, record: ObjectRecord, if_absent: bool, if_etag: str | None
    ) -> None:
        if not if_absent and if_etag is None:
            return
        row = conn.execute(
            "SELECT etag FROM objects WHERE bucket=? AND key=?",
            (record.bucket, record.key.encode()),
        ).fetchone()
        if if_absent and row is not None:
            raise WriteConditionError()
        if if_etag is not None:
            if row is None:
                raise WriteConditionError(missing=True)
            if row[0] != if_etag:
                raise WriteConditionError()

    def complete_upload(
        self,
        upload_id: str,
        record: ObjectRecord,
        *,
        if_absent: bool = False,
        if_etag: str | None = None,
    ) -> None:
        """Atomically publish ``record`` (whose segments are parts of the upload) and drop the
        upload; parts not used by ``record`` and the replaced object's files are removed.
        ``if_absent``/``if_etag`` as for ``put_object`` (the upload is kept when they fail)."""
        used = {s.file for s in record.segments if s.file is not None}
        with self._write() as conn:
            if not conn.execute("SELECT 1 FROM uploads WHERE upload_id=?", (upload_id,)).fetchone():
                raise UploadNotFoundError(upload_id)
            if not conn.execute("SELECT 1 FROM buckets WHERE name=?", (record.bucket,)).fetchone():
                raise BucketNotFoundError(record.bucket)
            self._check_condition(conn, record, if_absent, if_etag)
            unused = [f for f in self._part_files(conn, [upload_id]) if f not in used]
            old = [f for f in self._object_files(conn, record.bucket, record.key) if f not in used]
            inline = None
            if len(record.segments) == 1 and record.segments[0].data is not None:
                inline = record.segments[0].data
            conn.execute(
                "INSERT OR REPLACE INTO objects (bucket, key, size, etag, mtime, meta, segments,"
                " inline) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.bucket,
                    record.key.encode(),
                    record.size,
                    record.etag,
                    record.mtime,
                    json.dumps(record.meta, separators=(",", ":")),
                    json.dumps([s.to_json() for s in record.segments]),
                    inline,
                ),
            )
            conn.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
            conn.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))
        self._remove_after_commit(unused + old)

    def abort_upload(self, upload_id: str) -> None:
        with self._write() as conn:
            if not conn.execute("SELECT 1 FROM uploads WHERE upload_id=?", (upload_id,)).fetchone():
                raise UploadNotFoundError(upload_id)
            files = self._part_files(conn, [upload_id])
            conn.execute("DELETE FROM parts WHERE upload_id=?", (upload_id,))
            conn.execute("DELETE FROM uploads WHERE upload_id=?", (upload_id,))
        self._remove_after_commit(files)

    def list_uploads(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, limit: int
    ) -> list[UploadRecord]:
        low = max(prefix.encode(), key_marker.encode())
        high = key_successor(prefix.encode()) if prefix else None
        sql = "SELECT upload_id, key, initiated, meta FROM uploads WHERE bucket=? AND key >= ?"
        params: list[object] = [bucket, low]
        if high is not None:
            sql += " AND key < ?"
            params.append(high)
        sql += " ORDER BY key, upload_id LIMIT ?"
        params.append(limit + 1000)
        out: list[UploadRecord] = []
        marker = key_marker.encode()
        for upload_id, key, initiated, meta in self._conn().execute(sql, params):
            raw_key = bytes(key)
            if (
                key_marker
                and raw_key == marker
                and (not upload_id_marker or str(upload_id) <= upload_id_marker)
            ):
                continue
            out.append(
                UploadRecord(
                    str(upload_id), bucket, raw_key.decode(), float(initiated), json.loads(meta)
                )
            )
            if len(out) > limit:
                break
        return out

    @staticmethod
    def _part_files(conn: sqlite3.Connection, upload_ids: list[str]) -> list[str]:
        files: list[str] = []
        for upload_id in upload_ids:
            for (raw,) in conn.execute("SELECT segment FROM parts WHERE upload_id=?", (upload_id,)):
                seg = json.loads(raw)
                if "file" in seg:
                    files.append(seg["file"])
        return files
