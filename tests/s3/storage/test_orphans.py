"""Unreferenced data files (left by crashes) are swept; referenced and recent ones never are."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from strongroom.s3.server import sweep_orphans_periodically
from strongroom.s3.storage import LocalStorage, ObjectRecord, Segment


def _file(storage: LocalStorage, data: bytes = b"x" * 1000) -> str:
    writer = storage.new_data()
    writer.write(data)
    writer.commit()
    return writer.name


def _path(storage: LocalStorage, name: str) -> Path:
    return storage.data_dir / name[:2] / name


def _store_object(storage: LocalStorage, key: str, name: str) -> None:
    segment = Segment(size=1000, plain_size=1000, etag="e" * 32)
    segment.file = name
    storage.put_object(ObjectRecord("bkt", key, 1000, "e" * 32, time.time(), {}, [segment]))


def test_sweep_takes_only_old_unreferenced_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.create_bucket("bkt")
    published = _file(storage)
    _store_object(storage, "obj", published)
    upload = storage.create_upload("bkt", "big", {})
    part_file = _file(storage)
    part = Segment(size=1000, plain_size=1000, etag="p" * 32, part_number=1)
    part.file = part_file
    storage.put_part(upload.upload_id, part)
    orphan = _file(storage)

    assert storage.sweep_orphans() == 0  # everything is younger than the grace period
    assert _path(storage, orphan).exists()

    assert storage.sweep_orphans(older_than=-1) == 1  # as if an hour had passed
    assert not _path(storage, orphan).exists()
    assert _path(storage, published).exists() and _path(storage, part_file).exists()
    assert storage.get_object("bkt", "obj") is not None


def test_a_new_link_to_an_old_file_is_not_old(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.create_bucket("bkt")
    source = _file(storage)
    _store_object(storage, "src", source)
    old = time.time() - 7200
    os.utime(_path(storage, source), (old, old))  # written long ago
    copy = storage.link_data(source)  # a CopyObject about to publish its new name
    assert storage.sweep_orphans() == 0  # the link changed the inode: not a candidate yet
    assert _path(storage, copy).exists()


def test_the_periodic_sweeper_runs_and_stops(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    orphan = _file(storage)
    stop = threading.Event()
    thread = threading.Thread(
        target=sweep_orphans_periodically,
        args=(tmp_path, stop),
        kwargs={"delay": 0.0, "interval": 0.05, "grace": -1.0},
    )
    thread.start()
    deadline = time.monotonic() + 10
    while _path(storage, orphan).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert not _path(storage, orphan).exists()
