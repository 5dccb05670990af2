"""The listing walk against a brute-force model, and its cost with many keys."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom.s3.listing import walk
from strongroom.s3.storage import LocalStorage, ObjectRecord, Segment


def model(
    keys: list[str], prefix: str, delimiter: str, after: str, max_keys: int
) -> tuple[list[str], list[str], bool]:
    """S3's listing semantics, the slow and obvious way."""
    items: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for key in sorted(keys, key=lambda k: k.encode()):
        if not key.startswith(prefix):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            common = key[: cut + len(delimiter)]
            if common in seen:
                continue
            seen.add(common)
            if common.encode() > after.encode():
                items.append((common, True))
        elif key.encode() > after.encode():
            items.append((key, False))
    page = items[:max_keys]
    return [k for k, p in page if not p], [k for k, p in page if p], len(items) > max_keys


def bulk_insert(storage: LocalStorage, bucket: str, keys: list[str]) -> None:
    conn = storage._conn()
    segments = json.dumps([Segment(1, 1, "0" * 32).to_json()])
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT OR REPLACE INTO objects (bucket, key, size, etag, mtime, meta, segments, inline)"
        " VALUES (?, ?, 1, ?, 0, '{}', ?, x'00')",
        [(bucket, k.encode(), "0" * 32, segments) for k in keys],
    )
    conn.execute("COMMIT")


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> LocalStorage:
    store = LocalStorage(tmp_path_factory.mktemp("walk"))
    store.create_bucket("b")
    return store


_alphabet = st.sampled_from(["a", "b", "/", "-", "0", "é", "\U0001f600"])
_key = st.text(_alphabet, min_size=1, max_size=6)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    keys=st.lists(_key, min_size=0, max_size=25, unique=True),
    prefix=st.text(_alphabet, max_size=2),
    delimiter=st.sampled_from(["", "/", "-", "ab"]),
    after=st.text(_alphabet, max_size=4),
    max_keys=st.integers(0, 8),
)
def test_walk_matches_model(
    storage: LocalStorage, keys: list[str], prefix: str, delimiter: str, after: str, max_keys: int
) -> None:
    conn = storage._conn()
    conn.execute("DELETE FROM objects WHERE bucket='b'")
    bulk_insert(storage, "b", keys)
    page = walk(storage, "b", prefix, delimiter, after, max_keys)
    expected_keys, expected_prefixes, truncated = model(keys, prefix, delimiter, after, max_keys)
    # A marker that is itself a rolled-up prefix skips everything under it (S3's NextMarker).
    assert [e.key for e in page.entries] == expected_keys
    assert page.prefixes == expected_prefixes
    assert page.truncated == truncated


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    keys=st.lists(_key, min_size=0, max_size=30, unique=True),
    delimiter=st.sampled_from(["", "/"]),
    page_size=st.integers(1, 5),
)
def test_pagination_visits_everything_once(
    storage: LocalStorage, keys: list[str], delimiter: str, page_size: int
) -> None:
    conn = storage._conn()
    conn.execute("DELETE FROM objects WHERE bucket='b'")
    bulk_insert(storage, "b", keys)
    all_keys, all_prefixes, _ = model(keys, "", delimiter, "", 10**6)
    seen_keys: list[str] = []
    seen_prefixes: list[str] = []
    marker = ""
    while True:
        page = walk(storage, "b", "", delimiter, marker, page_size)
        seen_keys += [e.key for e in page.entries]
        seen_prefixes += page.prefixes
        if not page.truncated:
            break
        marker = page.next_marker
    assert seen_keys == all_keys
    assert seen_prefixes == all_prefixes


def test_prefix_query_is_an_index_range(storage: LocalStorage) -> None:
    conn = storage._conn()
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT key, size, etag, mtime, meta FROM objects "
        "WHERE bucket=? AND key >= ? AND key < ? ORDER BY key LIMIT 1000",
        ("b", b"a", b"b"),
    ).fetchall()
    detail = " ".join(str(row[-1]) for row in plan)
    assert "SEARCH objects USING PRIMARY KEY (bucket=? AND key>? AND key<?)" in detail


def test_listing_cost_independent_of_keys_outside_prefix(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    store.create_bucket("big")
    keys = [f"noise/{i:06d}" for i in range(100_000)] + [f"wanted/{i}" for i in range(10)]
    bulk_insert(store, "big", keys)
    statements: list[str] = []
    store._conn().set_trace_callback(statements.append)
    started = time.perf_counter()
    page = walk(store, "big", "wanted/", "", "", 1000)
    elapsed = time.perf_counter() - started
    assert [e.key for e in page.entries] == [f"wanted/{i}" for i in range(10)]
    assert len(statements) == 1
    # Delimiter listing of 100,000 keys under one prefix: one seek per common prefix.
    statements.clear()
    page = walk(store, "big", "", "/", "", 1000)
    assert page.prefixes == ["noise/", "wanted/"]
    assert len(statements) <= 3
    store._conn().set_trace_callback(None)
    print(f"prefix listing among 100,010 keys took {elapsed * 1000:.2f} ms")


def test_records_roundtrip(storage: LocalStorage) -> None:
    record = ObjectRecord(
        "b", "rt", 3, "e" * 32, 1.5, {"x-amz-meta-a": "1"}, [Segment(3, 3, "e" * 32, data=b"abc")]
    )
    storage.put_object(record)
    loaded = storage.get_object("b", "rt")
    assert loaded is not None
    assert loaded.segments[0].data == b"abc"
    assert loaded.meta == {"x-amz-meta-a": "1"}
