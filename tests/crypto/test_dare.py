"""DARE 2.0: sio's vectors, size and range arithmetic, and tampering properties."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom.crypto import dare
from strongroom.crypto.dare import (
    MAX_PAYLOAD_SIZE as P,
)
from strongroom.crypto.dare import (
    PACKAGE_SIZE,
    CipherSuite,
    DareDecryptor,
    DareEncryptor,
    DareError,
)

KEY = bytes(range(32))
NONCE = bytes(range(12))
DATA = Path(__file__).parent / "data" / "sio_dare_v20.txt"


def _vectors(kind: str) -> list[tuple[int, str]]:
    lines = [ln.split() for ln in DATA.read_text().splitlines() if ln and not ln.startswith("#")]
    return list(enumerate(v for k, v in lines if k == kind))


GOLDEN = _vectors("golden")
INVALID = _vectors("invalid")

PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_vector_tables_are_complete() -> None:
    assert len(GOLDEN) == 128
    assert len(INVALID) == 18


@pytest.mark.parametrize(("i", "hexpkg"), GOLDEN, ids=[f"golden{i}" for i, _ in GOLDEN])
def test_golden_seal(i: int, hexpkg: str) -> None:
    enc = DareEncryptor(KEY, cipher=CipherSuite(i % 2), nonce=NONCE, sequence_number=i)
    assert (enc.update(bytes(i + 1)) + enc.finalize()).hex() == hexpkg


@pytest.mark.parametrize(("i", "hexpkg"), GOLDEN, ids=[f"golden{i}" for i, _ in GOLDEN])
def test_golden_open(i: int, hexpkg: str) -> None:
    assert dare.decrypt(KEY, bytes.fromhex(hexpkg), sequence_number=i) == bytes(i + 1)


@pytest.mark.parametrize(("i", "hexpkg"), INVALID, ids=[f"invalid{i}" for i, _ in INVALID])
def test_invalid_packages_rejected(i: int, hexpkg: str) -> None:
    with pytest.raises(DareError):
        dare.decrypt(KEY, bytes.fromhex(hexpkg), sequence_number=i)
    # byte-by-byte feeding must not change the verdict nor leak anything
    dec = DareDecryptor(KEY, sequence_number=i)
    out = b""
    with pytest.raises(DareError):
        for b in bytes.fromhex(hexpkg):
            out += dec.update(bytes([b]))
        dec.finalize()
    assert out == b""


def test_golden_with_wrong_sequence_number_fails() -> None:
    with pytest.raises(DareError):
        dare.decrypt(KEY, bytes.fromhex(GOLDEN[5][1]), sequence_number=4)


def test_cipher_hint_enforced() -> None:
    pkg = bytes.fromhex(GOLDEN[1][1])  # ChaCha20-Poly1305
    assert dare.decrypt(KEY, pkg, sequence_number=1, cipher_hint=CipherSuite.CHACHA20_POLY1305)
    with pytest.raises(DareError):
        dare.decrypt(KEY, pkg, sequence_number=1, cipher_hint=CipherSuite.AES_256_GCM)


# --- sizes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plain", "enc"), [(0, 0), (1, 33), (65537, 65601), (131072, 131136), (131089, 131185)]
)
def test_size_rows(plain: int, enc: int) -> None:
    assert dare.encrypted_size(plain) == enc
    assert dare.decrypted_size(enc) == plain


@pytest.mark.parametrize("enc", [1, 32, 65569, 65568 + 32, -1])
def test_impossible_sizes(enc: int) -> None:
    with pytest.raises(DareError):
        dare.decrypted_size(enc)


def test_encrypted_size_bounds() -> None:
    assert dare.encrypted_size(1 << 48) == (1 << 32) * PACKAGE_SIZE
    with pytest.raises(ValueError):
        dare.encrypted_size(-1)
    with pytest.raises(ValueError):
        dare.encrypted_size((1 << 48) + 1)


@given(st.integers(0, 1 << 48))
def test_size_roundtrip(n: int) -> None:
    assert dare.decrypted_size(dare.encrypted_size(n)) == n


# --- ranges ----------------------------------------------------------------------------------


def test_range_issue50_vector() -> None:
    r = dare.multipart_encrypted_range([297435132, 297435132], 594870256, 8)
    assert (r.offset, r.length, r.skip, r.sequence_number, r.first_part) == (
        595127964,
        32796,
        32756,
        4538,
        1,
    )
    assert dare.encrypted_size(297435132) == 297580380


def test_range_single_stream() -> None:
    r = dare.encrypted_range(10 * 1024, 500, 500)
    assert (r.offset, r.length, r.sequence_number, r.skip) == (0, 10 * 1024 + 32, 0, 500)
    r = dare.encrypted_range(3 * P + 10, P + 5, P)
    assert (r.offset, r.length, r.sequence_number, r.skip) == (PACKAGE_SIZE, 2 * PACKAGE_SIZE, 1, 5)
    r = dare.encrypted_range(3 * P + 10, 3 * P, 10)
    assert (r.offset, r.length, r.sequence_number, r.skip) == (3 * PACKAGE_SIZE, 42, 3, 0)
    with pytest.raises(ValueError):
        dare.encrypted_range(10, 5, 6)


# --- round trips -----------------------------------------------------------------------------

BOUNDARY_SIZES = [0, 1, 2, P - 1, P, P + 1, 2 * P - 1, 2 * P, 2 * P + 1, 3 * P + 7]


def _encrypt_chunked(key: bytes, data: bytes, cuts: list[int], nonce: bytes) -> bytes:
    enc = DareEncryptor(key, nonce=nonce)
    out, pos = [], 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        out.append(enc.update(memoryview(data)[pos:cut] if cut > pos else b""))
        pos = max(pos, cut)
    out.append(enc.update(data[pos:]))
    out.append(enc.finalize())
    return b"".join(out)


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
@pytest.mark.parametrize("cipher", list(CipherSuite))
def test_roundtrip_boundaries(size: int, cipher: CipherSuite) -> None:
    data = os.urandom(size)
    ct = dare.encrypt(KEY, data, cipher=cipher)
    assert len(ct) == dare.encrypted_size(size)
    assert dare.decrypt(KEY, ct) == data
    assert dare.decrypted_size(len(ct)) == size


def test_empty_stream() -> None:
    enc = DareEncryptor(KEY)
    assert enc.update(b"") == b""
    assert enc.finalize() == b""
    assert dare.decrypt(KEY, b"") == b""
    assert list(dare.decrypt_range(KEY, _no_read, 0, 0, 0)) == []


def _no_read(offset: int, length: int) -> bytes:
    raise AssertionError("must not read")


def test_encryptor_holds_back_last_package() -> None:
    enc = DareEncryptor(KEY, nonce=NONCE)
    assert enc.update(bytes(P)) == b""  # might be the final package
    out = enc.update(b"x")
    assert len(out) == PACKAGE_SIZE and not out[4] & 0x80
    last = enc.finalize()
    assert len(last) == 33 and last[4] & 0x80
    with pytest.raises(ValueError):
        enc.update(b"more")


def test_nonce_random_and_shared_by_packages() -> None:
    a, b = dare.encrypt(KEY, bytes(2 * P + 1)), dare.encrypt(KEY, bytes(2 * P + 1))
    assert a[4:16] != b[4:16]
    assert a[4:16] == a[PACKAGE_SIZE + 4 : PACKAGE_SIZE + 16]
    assert a[2 * PACKAGE_SIZE + 4] == a[4] | 0x80


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        DareEncryptor(b"short")
    with pytest.raises(ValueError):
        DareEncryptor(KEY, nonce=b"123")
    with pytest.raises(ValueError):
        dare.decrypt_range(KEY, _no_read, 10, 5, 10)


@PROPS
@given(
    size=st.sampled_from(BOUNDARY_SIZES) | st.integers(0, 3 * P + 100),
    cuts=st.lists(st.integers(0, 4 * P), max_size=6),
    feed=st.integers(1, 3 * P),
)
def test_roundtrip_any_chunking(size: int, cuts: list[int], feed: int) -> None:
    data = os.urandom(size)
    ct = _encrypt_chunked(KEY, data, cuts, nonce=NONCE)
    assert ct == dare.encrypt(KEY, data, nonce=NONCE)
    dec = DareDecryptor(KEY)
    plain = b"".join(dec.update(ct[i : i + feed]) for i in range(0, len(ct), feed))
    assert plain + dec.finalize() == data


# --- tampering: nothing unauthenticated comes out --------------------------------------------


def _feed_until_error(ct: bytes, chunk: int) -> tuple[bytes, bool]:
    dec = DareDecryptor(KEY)
    out = []
    try:
        for i in range(0, len(ct), chunk):
            out.append(dec.update(ct[i : i + chunk]))
        dec.finalize()
    except DareError:
        return b"".join(out), True
    return b"".join(out), False


def _check_prefix(out: bytes, data: bytes, first_bad_package: int) -> None:
    """Output before an error must be whole, authentic packages before the damaged one (or the
    complete plaintext, when the damage is data appended after the final package)."""
    if out == data and first_bad_package * P >= len(data):
        return
    assert len(out) % P == 0
    assert len(out) <= first_bad_package * P
    assert data.startswith(out)


SMALL_SIZES = st.sampled_from([1, P - 1, P, P + 1, 2 * P + 3, 3 * P])


@PROPS
@given(size=SMALL_SIZES, where=st.integers(0), bit=st.integers(0, 7), chunk=st.integers(1, 2 * P))
def test_any_flipped_bit_rejected(size: int, where: int, bit: int, chunk: int) -> None:
    data = os.urandom(size)
    ct = bytearray(dare.encrypt(KEY, data))
    pos = where % len(ct)
    ct[pos] ^= 1 << bit
    out, failed = _feed_until_error(bytes(ct), chunk)
    assert failed
    _check_prefix(out, data, pos // PACKAGE_SIZE)


@PROPS
@given(size=SMALL_SIZES, where=st.integers(1), chunk=st.integers(1, 2 * P))
def test_truncation_rejected(size: int, where: int, chunk: int) -> None:
    data = os.urandom(size)
    ct = dare.encrypt(KEY, data)
    cut = 1 + where % (len(ct) - 1)  # keep at least one byte; dropping all is the empty stream
    out, failed = _feed_until_error(ct[:cut], chunk)
    assert failed
    _check_prefix(out, data, cut // PACKAGE_SIZE)


def _packages(ct: bytes) -> list[bytes]:
    return [ct[i : i + PACKAGE_SIZE] for i in range(0, len(ct), PACKAGE_SIZE)]


@PROPS
@given(n=st.integers(2, 4), data=st.data())
def test_reorder_duplicate_append_rejected(n: int, data: st.DataObject) -> None:
    plain = os.urandom((n - 1) * P + 100)
    pkgs = _packages(dare.encrypt(KEY, plain))
    i = data.draw(st.integers(0, n - 1))
    j = data.draw(st.integers(0, n - 1).filter(lambda x: x != i))
    swapped = list(pkgs)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    other = _packages(dare.encrypt(KEY, plain))  # same key, another nonce
    spliced = list(pkgs)
    spliced[j] = other[j]
    cases = {
        "swap": (b"".join(swapped), min(i, j)),
        "duplicate": (b"".join([*pkgs[: i + 1], pkgs[i], *pkgs[i + 1 :]]), i + 1),
        "append-own": (b"".join([*pkgs, pkgs[i]]), n),
        "append-garbage": (b"".join(pkgs) + b"\x20", n),
        # a package of another stream under the same key is authentic on its own at the same
        # position; splicing is caught at the next package (or at the end, by the nonce check)
        "splice": (b"".join(spliced), max(j, 1)),
        "drop": (b"".join(pkgs[:i] + pkgs[i + 1 :]), i),
    }
    for name, (ct, bad) in cases.items():
        out, failed = _feed_until_error(ct, data.draw(st.integers(1000, 2 * P)))
        assert failed, name
        _check_prefix(out, plain, bad)


# --- range decryption ------------------------------------------------------------------------


class Store:
    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.reads: list[tuple[int, int]] = []

    def read(self, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        return self.blob[offset : offset + length]


@PROPS
@given(
    size=st.sampled_from([1, P - 1, P, P + 1, 3 * P, 3 * P + 17]) | st.integers(1, 4 * P),
    data=st.data(),
    cipher=st.sampled_from(list(CipherSuite)),
)
def test_range_equals_slice(size: int, data: st.DataObject, cipher: CipherSuite) -> None:
    plain = os.urandom(size)
    store = Store(dare.encrypt(KEY, plain, cipher=cipher))
    off = data.draw(st.integers(0, size))
    length = data.draw(st.integers(0, size - off))
    read_size = data.draw(st.sampled_from([1, 2 * PACKAGE_SIZE, dare.DEFAULT_READ_SIZE]))
    chunks = list(dare.decrypt_range(KEY, store.read, size, off, length, read_size=read_size))
    assert b"".join(chunks) == plain[off : off + length]
    assert all(len(c) <= P for c in chunks)
    r = dare.encrypted_range(size, off, length)
    if length:
        assert store.reads[0][0] == r.offset
        assert sum(n for _, n in store.reads) == r.length
        assert r.skip == off % P and r.sequence_number == off // P
    else:
        assert store.reads == []


def test_range_reads_only_needed_packages() -> None:
    size = 64 * P
    store = Store(dare.encrypt(KEY, os.urandom(size)))
    got = b"".join(dare.decrypt_range(KEY, store.read, size, 10 * P + 5, 2 * P))
    assert len(got) == 2 * P
    assert store.reads == [(10 * PACKAGE_SIZE, 3 * PACKAGE_SIZE)]


def _range(blob: bytes, size: int, off: int, length: int) -> tuple[bytes, bool]:
    out = []
    try:
        for c in dare.decrypt_range(KEY, Store(blob).read, size, off, length):
            out.append(c)
    except DareError:
        return b"".join(out), True
    return b"".join(out), False


def test_range_detects_truncated_stream_at_end() -> None:
    plain = os.urandom(3 * P)
    ct = dare.encrypt(KEY, plain)
    # the store lost the last package but the metadata still says 3 packages
    out, failed = _range(ct[: 2 * PACKAGE_SIZE], 3 * P, 0, 3 * P)
    assert failed and plain.startswith(out) and len(out) <= 2 * P
    # metadata claims a shorter object: the package at the claimed end is not final
    out, failed = _range(ct, 2 * P, P, P)
    assert failed and out == b""
    # a stream cut at a package boundary and re-labelled: no final flag
    out, failed = _range(ct[:PACKAGE_SIZE], P, 0, P)
    assert failed and out == b""


def test_range_middle_does_not_accept_final_package() -> None:
    # a stream of 1 package claimed to be 2 packages long: package 0 must not be final
    ct = dare.encrypt(KEY, os.urandom(P))
    out, failed = _range(ct + ct, 2 * P, 0, 10)
    assert failed and out == b""


@PROPS
@given(data=st.data())
def test_range_tampered_package_rejected(data: st.DataObject) -> None:
    damaged = _damaged_range(data)
    out, failed = _range(damaged.ct, damaged.size, damaged.off, damaged.length)
    assert failed
    damaged.check_only_authentic_prefix(out)


@dataclass
class _Damaged:
    """A stream with one flipped bit inside the stored bytes of a plaintext range."""

    plain: bytes
    ct: bytes
    size: int
    off: int
    length: int
    pos: int  # the damaged byte

    def check_only_authentic_prefix(self, out: bytes) -> None:
        """Only bytes of packages before the damaged one may have come out."""
        assert self.plain[self.off : self.off + self.length].startswith(out)
        assert self.off + len(out) <= max(self.off, self.pos // PACKAGE_SIZE * P)


def _damaged_range(data: st.DataObject) -> _Damaged:
    size = 4 * P + 99
    plain = os.urandom(size)
    ct = bytearray(dare.encrypt(KEY, plain))
    off = data.draw(st.integers(0, size - 1))
    length = data.draw(st.integers(1, size - off))
    r = dare.encrypted_range(size, off, length)
    pos = data.draw(st.integers(r.offset, r.offset + r.length - 1))
    ct[pos] ^= 1 << data.draw(st.integers(0, 7))
    return _Damaged(plain, bytes(ct), size, off, length, pos)


def test_range_wrong_key() -> None:
    ct = dare.encrypt(KEY, os.urandom(100))
    with pytest.raises(DareError):
        list(dare.decrypt_range(bytes(32), Store(ct).read, 100, 0, 100))


# --- range decryption into a reused buffer ----------------------------------------------------


def _views_into(blob: bytes, size: int, off: int, length: int, buffer: bytearray) -> list[bytes]:
    """Every yielded view, copied at once (a view is only valid until the next one)."""
    out: list[bytes] = []
    for view in dare.decrypt_range_into(KEY, Store(blob).read, size, off, length, buffer):
        assert view.obj is buffer
        out.append(bytes(view))
    return out


@PROPS
@given(
    size=st.sampled_from([1, P - 1, P, P + 1, 3 * P, 3 * P + 17]) | st.integers(1, 4 * P),
    packages=st.sampled_from([1, 2, 16]),
    data=st.data(),
    cipher=st.sampled_from(list(CipherSuite)),
)
def test_range_into_equals_slice(
    size: int, packages: int, data: st.DataObject, cipher: CipherSuite
) -> None:
    plain = os.urandom(size)
    store = Store(dare.encrypt(KEY, plain, cipher=cipher))
    off = data.draw(st.integers(0, size))
    length = data.draw(st.integers(0, size - off))
    buffer = bytearray(packages * P)
    views: list[bytes] = []
    for view in dare.decrypt_range_into(KEY, store.read, size, off, length, buffer):
        assert view.obj is buffer and 0 < len(view) <= len(buffer)
        views.append(bytes(view))
    assert b"".join(views) == plain[off : off + length]
    r = dare.encrypted_range(size, off, length)
    assert sum(n for _, n in store.reads) == r.length
    assert all(n <= packages * PACKAGE_SIZE for _, n in store.reads)


def test_range_into_reads_only_needed_packages() -> None:
    size = 64 * P
    store = Store(dare.encrypt(KEY, os.urandom(size)))
    buffer = bytearray(16 * P)
    got = b"".join(
        bytes(v) for v in dare.decrypt_range_into(KEY, store.read, size, 10 * P + 5, 2 * P, buffer)
    )
    assert len(got) == 2 * P
    assert store.reads == [(10 * PACKAGE_SIZE, 3 * PACKAGE_SIZE)]


def test_range_into_rejects_odd_buffers() -> None:
    ct = dare.encrypt(KEY, b"x")
    for buffer in (bytearray(0), bytearray(P - 1), bytearray(P + 1)):
        with pytest.raises(ValueError):
            dare.decrypt_range_into(KEY, Store(ct).read, 1, 0, 1, buffer)


@PROPS
@given(data=st.data())
def test_range_into_tampered_package_rejected(data: st.DataObject) -> None:
    d = _damaged_range(data)
    buffer = bytearray(data.draw(st.sampled_from([1, 2, 16])) * P)
    out: list[bytes] = []
    with pytest.raises(DareError):
        for view in dare.decrypt_range_into(KEY, Store(d.ct).read, d.size, d.off, d.length, buffer):
            out.append(bytes(view))
    d.check_only_authentic_prefix(b"".join(out))  # whole views only, never a damaged one


def test_range_into_same_package_twice_is_rejected() -> None:
    # a stored package replayed at the next position fails on its sequence number
    ct = dare.encrypt(KEY, os.urandom(3 * P))
    replayed = ct[:PACKAGE_SIZE] + ct[:PACKAGE_SIZE] + ct[2 * PACKAGE_SIZE :]
    with pytest.raises(DareError):
        _views_into(replayed, 3 * P, 0, 3 * P, bytearray(4 * P))


# --- multipart -------------------------------------------------------------------------------


def _part_key(i: int) -> bytes:
    return hashlib.sha256(b"part%d" % i).digest()


@PROPS
@given(
    sizes=st.lists(st.sampled_from([0, 1, P - 1, P, P + 1, 2 * P + 5]), min_size=1, max_size=4),
    data=st.data(),
)
def test_multipart_range_equals_slice(sizes: list[int], data: st.DataObject) -> None:
    parts = [os.urandom(n) for n in sizes]
    plain = b"".join(parts)
    store = Store(b"".join(dare.encrypt(_part_key(i), p) for i, p in enumerate(parts)))
    total = len(plain)
    off = data.draw(st.integers(0, total))
    length = data.draw(st.integers(0, total - off))
    asked: list[int] = []

    def key(i: int) -> bytes:
        asked.append(i)
        return _part_key(i)

    got = b"".join(dare.decrypt_multipart_range(key, store.read, sizes, off, length))
    assert got == plain[off : off + length]
    r = dare.multipart_encrypted_range(sizes, off, length)
    if length:
        assert store.reads[0][0] == r.offset
        assert sum(n for _, n in store.reads) == r.length
        # empty parts have no stream: their keys are never needed
        assert asked == [i for i in range(r.first_part, r.last_part + 1) if sizes[i]]
        assert [p.index for p in dare.part_ranges(sizes, off, length)] == asked


@PROPS
@given(
    sizes=st.lists(st.sampled_from([0, 1, P - 1, P, P + 1, 2 * P + 5]), min_size=1, max_size=4),
    packages=st.sampled_from([1, 2, 16]),
    data=st.data(),
)
def test_multipart_range_into_equals_slice(
    sizes: list[int], packages: int, data: st.DataObject
) -> None:
    parts = [os.urandom(n) for n in sizes]
    plain = b"".join(parts)
    store = Store(b"".join(dare.encrypt(_part_key(i), p) for i, p in enumerate(parts)))
    total = len(plain)
    off = data.draw(st.integers(0, total))
    length = data.draw(st.integers(0, total - off))
    buffer = bytearray(packages * P)
    views = dare.decrypt_multipart_range_into(_part_key, store.read, sizes, off, length, buffer)
    assert b"".join(bytes(v) for v in views) == plain[off : off + length]
    assert (
        sum(n for _, n in store.reads) == dare.multipart_encrypted_range(sizes, off, length).length
    )


def test_multipart_wrong_part_key() -> None:
    parts = [os.urandom(P + 1), os.urandom(10)]
    store = Store(b"".join(dare.encrypt(_part_key(i), p) for i, p in enumerate(parts)))
    with pytest.raises(DareError):
        list(
            dare.decrypt_multipart_range(lambda i: _part_key(0), store.read, [P + 1, 10], 0, P + 11)
        )


@PROPS
@given(size=st.sampled_from(BOUNDARY_SIZES), feed=st.sampled_from([1000, P - 1, P, P + 33, 3 * P]))
def test_update_parts_equal_update(size: int, feed: int) -> None:
    data = os.urandom(size)
    enc = DareEncryptor(KEY, nonce=NONCE)
    parts: list[bytes] = []
    for i in range(0, size, feed):
        parts.extend(enc.update_parts(data[i : i + feed]))
    ct = b"".join(parts) + enc.finalize()
    assert ct == dare.encrypt(KEY, data, nonce=NONCE)
    dec = DareDecryptor(KEY)
    plain: list[bytes] = []
    for i in range(0, len(ct), feed):
        chunk = dec.update_parts(ct[i : i + feed])
        assert all(len(c) == P for c in chunk[:-1])
        plain.extend(chunk)
    dec.finalize()
    assert b"".join(plain) == data


@PROPS
@given(
    size=st.sampled_from([1, 2, 16, 32, P - 1, P]) | st.integers(1, P),
    cipher=st.sampled_from(list(CipherSuite)),
    nonce=st.binary(min_size=12, max_size=12),
)
def test_one_package_shortcut_equals_the_encryptor(
    size: int, cipher: CipherSuite, nonce: bytes
) -> None:
    data = os.urandom(size)
    enc = DareEncryptor(KEY, cipher=cipher, nonce=nonce)
    expected = enc.update(data) + enc.finalize()
    assert dare.encrypt(KEY, data, cipher=cipher, nonce=nonce) == expected
    assert dare.encrypt_one_package(KEY, data, nonce, cipher=cipher) == expected


@pytest.mark.parametrize("size", [0, P + 1])
def test_one_package_refuses_what_one_package_cannot_hold(size: int) -> None:
    with pytest.raises(ValueError, match="one DARE package"):
        dare.encrypt_one_package(KEY, bytes(size))


@PROPS
@given(
    size=st.integers(1, P),
    cipher=st.sampled_from(list(CipherSuite)),
    flip=st.none() | st.integers(0, 8 * (P + 32) - 1),
)
def test_one_package_decrypt_shortcut_agrees_with_the_decryptor(
    size: int, cipher: CipherSuite, flip: int | None
) -> None:
    data = bytearray(dare.encrypt(KEY, os.urandom(size), cipher=cipher))
    if flip is not None:
        flip %= 8 * len(data)
        data[flip // 8] ^= 1 << (flip % 8)

    def general() -> bytes:
        dec = DareDecryptor(KEY)
        plain = dec.update(bytes(data))
        dec.finalize()
        return plain

    try:
        expected: bytes | None = general()
    except DareError:
        expected = None
    if expected is None:
        with pytest.raises(DareError):
            dare.decrypt(KEY, bytes(data))
    else:
        assert dare.decrypt(KEY, bytes(data)) == expected
