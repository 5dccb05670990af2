"""DARE 2.0: the authenticated stream format of minio/sio, used for object data, sealed keys and ETags.

A stream is a sequence of packages::

    package = header(16) || ciphertext(n) || tag(16)            1 <= n <= 65536
    header  = 0x20 || cipher || le16(n - 1) || nonce(12)         bit 0x80 of nonce[0] = final flag

Every package but the last holds exactly 64 KiB of plaintext; the last one carries the final flag.
The AEAD nonce of package ``seq`` is the header nonce with its last four bytes, read as a
little-endian integer, XORed with ``seq``; the AEAD associated data is ``header[0:4]``. An empty
plaintext is an empty stream (no package at all), as in sio.

Public surface:

* :class:`DareEncryptor` (incremental, for the PUT path) and :func:`encrypt` (one shot).
* :class:`DareDecryptor` (incremental, whole streams) and :func:`decrypt` (one shot).
* :func:`decrypt_range` and :func:`decrypt_multipart_range`: read and open only the packages
  that overlap a plaintext range.
* :func:`encrypted_size`, :func:`decrypted_size`, :func:`encrypted_range`,
  :func:`multipart_encrypted_range`, :func:`part_ranges`: size and range arithmetic.

Every failure to open data raises :class:`DareError`, and no byte of a package is returned before
that package authenticated.
"""

from __future__ import annotations

import enum
import hmac
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

__all__ = [
    "HEADER_SIZE",
    "MAX_PAYLOAD_SIZE",
    "MAX_STREAM_SIZE",
    "PACKAGE_SIZE",
    "TAG_SIZE",
    "VERSION_20",
    "BytesLike",
    "CipherSuite",
    "DareDecryptor",
    "DareEncryptor",
    "DareError",
    "EncryptedRange",
    "PartRange",
    "decrypt",
    "decrypt_multipart_range",
    "decrypt_multipart_range_into",
    "decrypt_range",
    "decrypt_range_into",
    "decrypted_size",
    "encrypt",
    "encrypt_one_package",
    "encrypted_range",
    "encrypted_size",
    "multipart_encrypted_range",
    "part_ranges",
]

VERSION_20 = 0x20
HEADER_SIZE = 16
TAG_SIZE = 16
MAX_PAYLOAD_SIZE = 1 << 16
PACKAGE_SIZE = HEADER_SIZE + MAX_PAYLOAD_SIZE + TAG_SIZE  # a full package on disk: 65568 bytes
OVERHEAD = HEADER_SIZE + TAG_SIZE
MAX_SEQUENCE_NUMBER = (1 << 32) - 1
MAX_STREAM_SIZE = 1 << 48  # 2^32 packages of 64 KiB
KEY_SIZE = 32
NONCE_SIZE = 12
FINAL_FLAG = 0x80

DEFAULT_READ_SIZE = 16 * PACKAGE_SIZE  # about 1 MiB per read() call of decrypt_range

BytesLike = bytes | bytearray | memoryview


class DareError(Exception):
    """The data is not an authentic DARE 2.0 stream for this key (tampered, truncated, reordered,
    spliced, or simply the wrong key). One type for every failure; the message is for logs only."""


class CipherSuite(enum.IntEnum):
    AES_256_GCM = 0x00
    CHACHA20_POLY1305 = 0x01


_Aead = AESGCM | ChaCha20Poly1305


def _new_aead(cipher: CipherSuite, key: bytes) -> _Aead:
    if cipher is CipherSuite.AES_256_GCM:
        return AESGCM(key)
    return ChaCha20Poly1305(key)


def _suite(cipher: CipherSuite | int) -> CipherSuite:
    """``CipherSuite(cipher)`` without the enum call for the usual case (a member already)."""
    if cipher is CipherSuite.AES_256_GCM or cipher is CipherSuite.CHACHA20_POLY1305:
        return cipher
    return CipherSuite(cipher)


def _check_key(key: bytes) -> bytes:
    key = bytes(key)
    if len(key) != KEY_SIZE:
        raise ValueError("a DARE key must be 32 bytes")
    return key


# ---------------------------------------------------------------------------------------------
# sizes and ranges


def encrypted_size(plain_size: int) -> int:
    """The size of the DARE stream of ``plain_size`` plaintext bytes (32 bytes per started 64 KiB)."""
    if plain_size < 0 or plain_size > MAX_STREAM_SIZE:
        raise ValueError("plaintext size out of range for a DARE stream")
    full, rest = divmod(plain_size, MAX_PAYLOAD_SIZE)
    return full * PACKAGE_SIZE + (rest + OVERHEAD if rest else 0)


def decrypted_size(enc_size: int) -> int:
    """The plaintext size of a DARE stream of ``enc_size`` bytes.

    Raises :class:`DareError` when no stream can have that size (the object was tampered with).
    """
    if enc_size < 0:
        raise DareError("dare: invalid stream size")
    full, rest = divmod(enc_size, PACKAGE_SIZE)
    if 0 < rest <= OVERHEAD:
        raise DareError("dare: invalid stream size")
    size = full * MAX_PAYLOAD_SIZE + (rest - OVERHEAD if rest else 0)
    if size > MAX_STREAM_SIZE:
        raise DareError("dare: invalid stream size")
    return size


@dataclass(frozen=True, slots=True)
class EncryptedRange:
    """What to read for a plaintext range (MinIO's ``GetDecryptedRange``).

    ``offset``/``length``: the stored bytes to read (for multipart: within the concatenation of the
    stored parts). ``sequence_number``: of the first package read, within its part's stream.
    ``skip``: plaintext bytes to drop from the first package. ``first_part``/``last_part``: indexes
    into the part list (0 for a single-part object). Later parts start at sequence number 0.
    """

    offset: int
    length: int
    sequence_number: int
    skip: int
    first_part: int = 0
    last_part: int = 0


@dataclass(frozen=True, slots=True)
class PartRange:
    """The slice of one part (its own DARE stream) that a multipart range covers."""

    index: int  # position in the part list (not the S3 part number)
    enc_start: int  # where this part's stream starts in the concatenation of the stored parts
    plain_size: int  # plaintext size of the whole part
    offset: int  # plaintext offset within the part
    length: int  # plaintext bytes within the part


def _check_range(plain_size: int, offset: int, length: int) -> None:
    if offset < 0 or length < 0 or offset + length > plain_size:
        raise ValueError("range outside the object")


def part_ranges(part_sizes: Sequence[int], offset: int, length: int) -> list[PartRange]:
    """Split a plaintext range of a multipart object into per-part ranges (empty parts skipped)."""
    for size in part_sizes:
        if size < 0 or size > MAX_STREAM_SIZE:
            raise ValueError("part size out of range")
    _check_range(sum(part_sizes), offset, length)
    result: list[PartRange] = []
    end = offset + length
    cum = enc_cum = 0
    for index, size in enumerate(part_sizes):
        lo, hi = max(offset, cum), min(end, cum + size)
        if lo < hi:
            result.append(PartRange(index, enc_cum, size, lo - cum, hi - lo))
        cum += size
        enc_cum += encrypted_size(size)
        if cum >= end:
            break
    return result


def multipart_encrypted_range(
    part_sizes: Sequence[int], offset: int, length: int
) -> EncryptedRange:
    """Map a plaintext range of an object made of DARE streams (one per part, given by their
    plaintext sizes) to the stored bytes to read. A single-part object is ``[plain_size]``."""
    parts = part_ranges(part_sizes, offset, length)
    if not parts:
        return EncryptedRange(0, 0, 0, 0)
    first, last = parts[0], parts[-1]
    start_pkg, skip = divmod(first.offset, MAX_PAYLOAD_SIZE)
    enc_off = first.enc_start + start_pkg * PACKAGE_SIZE
    end_pkg = (last.offset + last.length - 1) // MAX_PAYLOAD_SIZE
    enc_end = last.enc_start + min((end_pkg + 1) * PACKAGE_SIZE, encrypted_size(last.plain_size))
    return EncryptedRange(enc_off, enc_end - enc_off, start_pkg, skip, first.index, last.index)


def encrypted_range(plain_size: int, offset: int, length: int) -> EncryptedRange:
    """:func:`multipart_encrypted_range` for a single stream."""
    return multipart_encrypted_range([plain_size], offset, length)


# ---------------------------------------------------------------------------------------------
# encryption


class DareEncryptor:
    """Incremental DARE 2.0 encryption of one stream.

    ``update()`` returns the packages that are complete; the last package is held back until
    ``finalize()``, because only then is it known to be the final one. Feed chunks of up to a
    few MiB: each call joins its output once, and huge single calls pay for page faults.
    """

    __slots__ = (
        "_aad_full",
        "_aead",
        "_cipher",
        "_ctr",
        "_done",
        "_hdr_full",
        "_nonce",
        "_pending",
        "_prefix",
        "_prefix_final",
        "_seq",
    )

    def __init__(
        self,
        key: bytes,
        *,
        cipher: CipherSuite = CipherSuite.AES_256_GCM,
        nonce: bytes | None = None,
        sequence_number: int = 0,
    ) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("a DARE key must be 32 bytes")
        cipher = _suite(cipher)
        if nonce is None:
            nonce = os.urandom(NONCE_SIZE)
        elif len(nonce) != NONCE_SIZE:
            raise ValueError("a DARE nonce must be 12 bytes")
        if sequence_number and not 0 <= sequence_number <= MAX_SEQUENCE_NUMBER:
            raise ValueError("sequence number out of range")
        # The top bit of the first nonce byte is the final flag: the stream nonce has it clear.
        first = nonce[0] & 0x7F
        tail = bytes(nonce[1:])
        nonce = bytes((first,)) + tail
        self._cipher = cipher
        self._aead = _new_aead(cipher, bytes(key))
        self._nonce = nonce
        self._prefix = nonce[:8]
        self._prefix_final = bytes((first | FINAL_FLAG,)) + tail[:7]
        self._ctr = int.from_bytes(tail[7:], "little")
        self._aad_full = bytes((VERSION_20, cipher, 0xFF, 0xFF))
        self._hdr_full = self._aad_full + nonce
        self._seq = sequence_number
        self._pending = bytearray()
        self._done = False

    @property
    def nonce(self) -> bytes:
        """The stream nonce (final flag clear)."""
        return self._nonce

    def _next_seq(self) -> int:
        seq = self._seq
        if seq > MAX_SEQUENCE_NUMBER:
            raise DareError("dare: stream too long (sequence number overflow)")
        self._seq = seq + 1
        return seq

    def _seal_full(self, out: list[bytes], chunk: BytesLike) -> None:
        seq = self._next_seq()
        aead_nonce = self._prefix + (self._ctr ^ seq).to_bytes(4, "little")
        out.append(self._hdr_full)
        out.append(self._aead.encrypt(aead_nonce, chunk, self._aad_full))

    def _seal_final(self, out: list[bytes], chunk: BytesLike) -> None:
        seq = self._next_seq()
        n = len(chunk) - 1
        aad = bytes([VERSION_20, self._cipher, n & 0xFF, n >> 8])
        aead_nonce = self._prefix_final + (self._ctr ^ seq).to_bytes(4, "little")
        out.append(aad + self._prefix_final + self._nonce[8:])
        out.append(self._aead.encrypt(aead_nonce, chunk, aad))

    def update(self, data: BytesLike) -> bytes:
        """Encrypt more plaintext; returns the packages that are now complete (maybe ``b""``)."""
        parts = self.update_parts(data)
        if not parts:
            return b""
        return b"".join(parts)

    def update_parts(self, data: BytesLike) -> list[bytes]:
        """Like :meth:`update`, but return the output as pieces (header, ciphertext, ...) for
        ``file.writelines()`` / ``os.writev``, saving the copy that joining them costs."""
        if self._done:
            raise ValueError("update() after finalize()")
        mv = memoryview(data).cast("B")
        out: list[bytes] = []
        if not mv:
            return out
        pending = self._pending
        if pending:
            need = MAX_PAYLOAD_SIZE - len(pending)
            if len(mv) <= need:  # not known yet whether more data follows
                pending += mv
                return out
            pending += mv[:need]
            mv = mv[need:]
            self._seal_full(out, pending)
            pending.clear()
        # pending is empty: seal all but the last (possibly full) package straight from the input
        full = (len(mv) - 1) // MAX_PAYLOAD_SIZE
        for i in range(full):
            self._seal_full(out, mv[i * MAX_PAYLOAD_SIZE : (i + 1) * MAX_PAYLOAD_SIZE])
        pending += mv[full * MAX_PAYLOAD_SIZE :]
        return out

    def finalize(self) -> bytes:
        """Seal the last package (with the final flag). An empty stream gives ``b""``."""
        if self._done:
            raise ValueError("finalize() called twice")
        self._done = True
        pending = self._pending
        if not pending:
            return b""
        out: list[bytes] = []
        self._seal_final(out, pending)
        pending.clear()
        return out[0] + out[1]


def encrypt(
    key: bytes,
    data: BytesLike,
    *,
    cipher: CipherSuite = CipherSuite.AES_256_GCM,
    nonce: bytes | None = None,
    sequence_number: int = 0,
) -> bytes:
    """Encrypt a whole plaintext into one DARE 2.0 stream (random nonce unless given)."""
    if 0 < len(data) <= MAX_PAYLOAD_SIZE and sequence_number == 0:
        return encrypt_one_package(key, data, nonce, cipher=_suite(cipher))
    enc = DareEncryptor(key, cipher=cipher, nonce=nonce, sequence_number=sequence_number)
    head = enc.update(data)
    return head + enc.finalize()


def encrypt_one_package(
    key: bytes,
    data: BytesLike,
    nonce: bytes | None = None,
    *,
    cipher: CipherSuite = CipherSuite.AES_256_GCM,
) -> bytes:
    """A stream of exactly one (final) package, sequence number 0: what :class:`DareEncryptor`
    produces for 1..64 KiB of plaintext, without its set-up (sealed keys, ETags, small objects).
    ``cipher`` must be a :class:`CipherSuite` member; ``nonce`` is random unless given."""
    if len(key) != KEY_SIZE:
        raise ValueError("a DARE key must be 32 bytes")
    if not 0 < len(data) <= MAX_PAYLOAD_SIZE:
        raise ValueError("one DARE package holds 1 to 65536 bytes")
    if nonce is None:
        nonce = os.urandom(NONCE_SIZE)
    elif len(nonce) != NONCE_SIZE:
        raise ValueError("a DARE nonce must be 12 bytes")
    n = len(data) - 1
    aad = bytes((VERSION_20, cipher, n & 0xFF, n >> 8))
    # final flag set; sequence number 0 leaves the counter as it is, so the AEAD nonce is
    # exactly the header's nonce
    header_nonce = bytes((nonce[0] | FINAL_FLAG,)) + bytes(nonce[1:])
    sealed = _new_aead(cipher, bytes(key)).encrypt(header_nonce, data, aad)
    return aad + header_nonce + sealed


# ---------------------------------------------------------------------------------------------
# decryption


def _decrypt_one_package(
    key: bytes, data: BytesLike, cipher_hint: CipherSuite | None
) -> bytes | None:
    """A well-formed one-package stream (sealed keys, ETags, small objects) opened without the
    incremental decryptor's set-up; None for anything else, which then takes the general path
    (and gets its precise error there)."""
    size = len(data)
    if size < HEADER_SIZE + 1 + TAG_SIZE or size > PACKAGE_SIZE or len(key) != KEY_SIZE:
        return None
    mv = memoryview(data).cast("B")
    cipher = mv[1]
    if (
        mv[0] != VERSION_20
        or cipher > CipherSuite.CHACHA20_POLY1305
        or (cipher_hint is not None and cipher != cipher_hint)
        or (mv[2] | (mv[3] << 8)) + 1 + OVERHEAD != size
        or not mv[4] & FINAL_FLAG
    ):
        return None
    # sequence number 0 leaves the nonce's counter as it is: the AEAD nonce is the header's
    try:
        return _new_aead(_suite(cipher), bytes(key)).decrypt(
            bytes(mv[4:HEADER_SIZE]), mv[HEADER_SIZE:], mv[:4]
        )
    except InvalidTag:
        raise DareError("dare: authentication failed") from None


class _Opener:
    """Checks and opens packages of one stream; remembers the stream's cipher and nonce."""

    __slots__ = ("_aeads", "_cipher", "_ctr", "_full_header", "_key", "_nonce", "_prefix")

    def __init__(self, key: bytes, cipher_hint: CipherSuite | None) -> None:
        self._key = _check_key(key)
        self._cipher = None if cipher_hint is None else CipherSuite(cipher_hint)
        self._aeads: dict[int, _Aead] = {}
        self._nonce: bytes | None = None  # 12 bytes, final flag clear
        # Once the stream is known: the exact header of its full, non-final packages, and the
        # AEAD nonce parts of such packages (8-byte prefix, 4-byte counter before the XOR).
        self._full_header: bytes | None = None
        self._prefix = b""
        self._ctr = 0

    def _aead_nonce(self, pkg: memoryview, seq: int, final: bool | None) -> bytes:
        """The AEAD nonce of a package, after checking its header against the stream."""
        if seq > MAX_SEQUENCE_NUMBER:
            raise DareError("dare: sequence number overflow")
        if (
            final is not True
            and len(pkg) == PACKAGE_SIZE
            and self._full_header is not None
            and pkg[:HEADER_SIZE] == self._full_header
        ):
            return self._prefix + (self._ctr ^ seq).to_bytes(4, "little")
        version, cipher_id, flag_byte = pkg[0], pkg[1], pkg[4]
        if version != VERSION_20:
            raise DareError("dare: unsupported version")
        if self._cipher is None:
            if cipher_id > CipherSuite.CHACHA20_POLY1305:
                raise DareError("dare: unsupported cipher")
            self._cipher = CipherSuite(cipher_id)
        elif cipher_id != self._cipher:
            raise DareError("dare: unexpected cipher")
        n = pkg[2] | (pkg[3] << 8)
        if len(pkg) != n + 1 + OVERHEAD:
            raise DareError("dare: invalid package length")
        is_final = bool(flag_byte & FINAL_FLAG)
        if final is not None and is_final != final:
            raise DareError("dare: unexpected final flag" if is_final else "dare: stream truncated")
        if not is_final and n != MAX_PAYLOAD_SIZE - 1:
            raise DareError("dare: invalid package length")
        nonce = bytes([flag_byte & 0x7F]) + bytes(pkg[5:16])
        if self._nonce is None:
            self._nonce = nonce
            self._full_header = bytes([VERSION_20, self._cipher, 0xFF, 0xFF]) + nonce
            self._prefix = nonce[:8]
            self._ctr = int.from_bytes(nonce[8:12], "little")
        elif not hmac.compare_digest(nonce, self._nonce):
            raise DareError("dare: package from another stream")
        ctr = int.from_bytes(pkg[12:16], "little") ^ seq
        return bytes(pkg[4:12]) + ctr.to_bytes(4, "little")

    def _aead(self) -> _Aead:
        assert self._cipher is not None
        aead = self._aeads.get(self._cipher)
        if aead is None:
            aead = self._aeads[self._cipher] = _new_aead(self._cipher, self._key)
        return aead

    def open(self, pkg: memoryview, seq: int, final: bool | None) -> bytes:
        """Open one package. ``final``: whether it must (True) or must not (False) carry the final
        flag; None accepts either. The caller checks ``len(pkg)`` against the header first."""
        nonce = self._aead_nonce(pkg, seq, final)
        try:
            return self._aead().decrypt(nonce, pkg[HEADER_SIZE:], pkg[:4])
        except InvalidTag:
            raise DareError("dare: authentication failed") from None

    def open_into(self, pkg: memoryview, seq: int, final: bool | None, out: memoryview) -> int:
        """Like :meth:`open`, writing the plaintext to the start of ``out``; returns its length.
        On failure ``out`` may hold unauthenticated bytes: the caller must discard them."""
        nonce = self._aead_nonce(pkg, seq, final)
        size = len(pkg) - OVERHEAD
        try:
            self._aead().decrypt_into(nonce, pkg[HEADER_SIZE:], pkg[:4], out[:size])
        except InvalidTag:
            raise DareError("dare: authentication failed") from None
        return size


class DareDecryptor:
    """Incremental decryption of a whole DARE 2.0 stream of unknown length (like sio's reader).

    ``update()`` returns the plaintext of every package that is complete and authentic. Only
    ``finalize()`` proves that the stream was not truncated: a caller must treat its error as
    fatal for everything returned before. An empty input is the empty stream.
    """

    __slots__ = ("_buf", "_done", "_final_seen", "_opener", "_seen_any", "_seq")

    def __init__(
        self, key: bytes, *, sequence_number: int = 0, cipher_hint: CipherSuite | None = None
    ) -> None:
        if not 0 <= sequence_number <= MAX_SEQUENCE_NUMBER:
            raise ValueError("sequence number out of range")
        self._opener = _Opener(key, cipher_hint)
        self._seq = sequence_number
        self._buf = bytearray()
        self._final_seen = False
        self._seen_any = False
        self._done = False

    @staticmethod
    def _package_size(header: BytesLike) -> int:
        """The package size a header announces; rejects short non-final packages early."""
        n = (header[2] | (header[3] << 8)) + 1
        if not header[4] & FINAL_FLAG and n != MAX_PAYLOAD_SIZE:
            raise DareError("dare: invalid package length")
        return HEADER_SIZE + n + TAG_SIZE

    def _consume(self, mv: memoryview, out: list[bytes]) -> int:
        """Open every complete package at the start of ``mv``; returns the bytes consumed."""
        pos, size = 0, len(mv)
        while size - pos >= HEADER_SIZE:
            if self._final_seen:
                raise DareError("dare: unexpected data after final package")
            end = pos + self._package_size(mv[pos : pos + HEADER_SIZE])
            if end > size:
                break
            pkg = mv[pos:end]
            out.append(self._opener.open(pkg, self._seq, None))
            self._seq += 1
            self._final_seen = bool(pkg[4] & FINAL_FLAG)
            pos = end
        if self._final_seen and pos < size:
            raise DareError("dare: unexpected data after final package")
        return pos

    def update(self, data: BytesLike) -> bytes:
        """Decrypt more of the stream; returns the plaintext of the packages completed by it."""
        parts = self.update_parts(data)
        if not parts:
            return b""
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def update_parts(self, data: BytesLike) -> list[bytes]:
        """Like :meth:`update`, but one ``bytes`` per package (no join)."""
        if self._done:
            raise ValueError("update() after finalize()")
        mv = memoryview(data).cast("B")
        out: list[bytes] = []
        if not mv:
            return out
        self._seen_any = True
        buf = self._buf
        if buf:
            # complete the buffered package, then continue straight from the input
            if len(buf) < HEADER_SIZE:
                take = HEADER_SIZE - len(buf)
                buf += mv[:take]
                mv = mv[take:]
                if len(buf) < HEADER_SIZE:
                    return out
            need = self._package_size(buf) - len(buf)
            buf += mv[:need]
            mv = mv[need:]
            if len(buf) < self._package_size(buf):
                return out
            pkg = bytes(buf)
            buf.clear()
            self._consume(memoryview(pkg), out)
        used = self._consume(mv, out)
        buf += mv[used:]
        return out

    def finalize(self) -> bytes:
        if self._done:
            raise ValueError("finalize() called twice")
        self._done = True
        if self._buf:
            raise DareError("dare: stream truncated")
        if self._seen_any and not self._final_seen:
            raise DareError("dare: stream truncated (no final package)")
        return b""


def decrypt(
    key: bytes,
    data: BytesLike,
    *,
    sequence_number: int = 0,
    cipher_hint: CipherSuite | None = None,
) -> bytes:
    """Decrypt a whole DARE 2.0 stream; raises :class:`DareError` unless all of it is authentic."""
    if sequence_number == 0:
        plain = _decrypt_one_package(key, data, cipher_hint)
        if plain is not None:
            return plain
    dec = DareDecryptor(key, sequence_number=sequence_number, cipher_hint=cipher_hint)
    plain = dec.update(data)
    dec.finalize()
    return plain


ReadFn = Callable[[int, int], BytesLike]


def decrypt_range(
    key: bytes,
    read: ReadFn,
    plain_size: int,
    offset: int,
    length: int,
    *,
    cipher_hint: CipherSuite | None = None,
    read_size: int = DEFAULT_READ_SIZE,
) -> Iterator[bytes]:
    """Yield the plaintext bytes ``[offset, offset+length)`` of a DARE stream of ``plain_size``
    plaintext bytes, in chunks of at most 64 KiB.

    ``read(offset, length)`` returns stored (ciphertext) bytes of the stream and is called only for
    the packages that overlap the range, about ``read_size`` bytes at a time. Every package read is
    checked: header, length, stream nonce, final flag (set exactly on the stream's last package, so
    a range that reaches the end also proves the stream was not truncated), and its AEAD tag with the
    sequence number of its position. Nothing of a package is yielded before it authenticated.
    Arguments are checked at once (``ValueError``); data errors raise :class:`DareError` while
    iterating.
    """
    _check_stream_range(plain_size, offset, length)
    opener = _Opener(key, cipher_hint)
    per_read = max(read_size // PACKAGE_SIZE, 1)
    return _decrypt_range(opener, read, plain_size, offset, length, per_read)


def _decrypt_range(
    opener: _Opener, read: ReadFn, plain_size: int, offset: int, length: int, per_read: int
) -> Iterator[bytes]:
    skip = offset % MAX_PAYLOAD_SIZE
    remaining = length
    for seq, pkg, is_last in _packages(read, plain_size, offset, length, per_read):
        plain = opener.open(pkg, seq, is_last)
        if skip or len(plain) > remaining:
            plain = plain[skip : skip + remaining]
            skip = 0
        remaining -= len(plain)
        yield plain


def decrypt_range_into(
    key: bytes,
    read: ReadFn,
    plain_size: int,
    offset: int,
    length: int,
    buffer: bytearray,
    *,
    cipher_hint: CipherSuite | None = None,
) -> Iterator[memoryview]:
    """:func:`decrypt_range` into a caller's buffer, without a copy per package.

    ``buffer`` holds a whole number of 64 KiB payloads (at least one); packages are read as many
    at a time as it holds. Each yielded view is a slice of ``buffer`` that stays valid only until
    the next one is asked for. After a :class:`DareError` the buffer may hold unauthenticated
    bytes, but no view of them was yielded.
    """
    _check_stream_range(plain_size, offset, length)
    per_read = _buffer_packages(buffer)
    opener = _Opener(key, cipher_hint)
    return _decrypt_range_into(opener, read, plain_size, offset, length, buffer, per_read)


def _buffer_packages(buffer: bytearray) -> int:
    count, rest = divmod(len(buffer), MAX_PAYLOAD_SIZE)
    if count < 1 or rest:
        raise ValueError("the buffer must hold a whole number of 64 KiB payloads")
    return count


def _decrypt_range_into(
    opener: _Opener,
    read: ReadFn,
    plain_size: int,
    offset: int,
    length: int,
    buffer: bytearray,
    per_read: int,
) -> Iterator[memoryview]:
    out = memoryview(buffer)
    skip = offset % MAX_PAYLOAD_SIZE
    remaining = length
    filled = 0
    for seq, pkg, is_last in _packages(read, plain_size, offset, length, per_read):
        filled += opener.open_into(pkg, seq, is_last, out[filled:])
        if filled == len(out) or filled - skip >= remaining:
            view = out[skip : min(filled, skip + remaining)]
            remaining -= len(view)
            skip = filled = 0
            yield view


def _check_stream_range(plain_size: int, offset: int, length: int) -> None:
    if plain_size < 0 or plain_size > MAX_STREAM_SIZE:
        raise ValueError("plaintext size out of range for a DARE stream")
    _check_range(plain_size, offset, length)


def _packages(
    read: ReadFn, plain_size: int, offset: int, length: int, per_read: int
) -> Iterator[tuple[int, memoryview, bool]]:
    """``(sequence number, package, is last of stream)`` for every package that overlaps the
    plaintext range, read ``per_read`` packages at a time, each checked to have the size its
    position requires (its header is checked when it is opened)."""
    if length == 0:
        return
    last_of_stream = (plain_size - 1) // MAX_PAYLOAD_SIZE
    pkg_index = offset // MAX_PAYLOAD_SIZE
    last = (offset + length - 1) // MAX_PAYLOAD_SIZE
    while pkg_index <= last:
        batch_end = min(last + 1, pkg_index + per_read)  # exclusive package index
        enc_off = pkg_index * PACKAGE_SIZE
        if batch_end - 1 == last_of_stream:
            enc_end = encrypted_size(plain_size)
        else:
            enc_end = batch_end * PACKAGE_SIZE
        raw = memoryview(read(enc_off, enc_end - enc_off)).cast("B")
        if len(raw) != enc_end - enc_off:
            raise DareError("dare: stream truncated")
        pos = 0
        for seq in range(pkg_index, batch_end):
            is_last = seq == last_of_stream
            size = plain_size - seq * MAX_PAYLOAD_SIZE + OVERHEAD if is_last else PACKAGE_SIZE
            pkg = raw[pos : pos + size]
            pos += size
            if len(pkg) < HEADER_SIZE or (pkg[2] | (pkg[3] << 8)) + 1 + OVERHEAD != size:
                raise DareError("dare: invalid package length")
            yield seq, pkg, is_last
        pkg_index = batch_end


def decrypt_multipart_range(
    part_key: Callable[[int], bytes],
    read: ReadFn,
    part_sizes: Sequence[int],
    offset: int,
    length: int,
    *,
    cipher_hint: CipherSuite | None = None,
    read_size: int = DEFAULT_READ_SIZE,
) -> Iterator[bytes]:
    """:func:`decrypt_range` over an object made of one DARE stream per part.

    ``part_key(index)`` gives the key of the part at ``index`` in ``part_sizes`` (the caller maps
    the index to the S3 part number); ``read(offset, length)`` reads the concatenation of the
    stored parts. Keys are asked for lazily, part by part.
    """
    ranges = part_ranges(part_sizes, offset, length)
    per_read = max(read_size // PACKAGE_SIZE, 1)

    def chunks() -> Iterator[bytes]:
        for pr in ranges:
            opener = _Opener(part_key(pr.index), cipher_hint)
            read_part = _part_reader(read, pr.enc_start)
            yield from _decrypt_range(
                opener, read_part, pr.plain_size, pr.offset, pr.length, per_read
            )

    return chunks()


def decrypt_multipart_range_into(
    part_key: Callable[[int], bytes],
    read: ReadFn,
    part_sizes: Sequence[int],
    offset: int,
    length: int,
    buffer: bytearray,
    *,
    cipher_hint: CipherSuite | None = None,
) -> Iterator[memoryview]:
    """:func:`decrypt_multipart_range` into a caller's buffer, as :func:`decrypt_range_into`
    (views never span two parts)."""
    ranges = part_ranges(part_sizes, offset, length)
    per_read = _buffer_packages(buffer)

    def views() -> Iterator[memoryview]:
        for pr in ranges:
            opener = _Opener(part_key(pr.index), cipher_hint)
            read_part = _part_reader(read, pr.enc_start)
            yield from _decrypt_range_into(
                opener, read_part, pr.plain_size, pr.offset, pr.length, buffer, per_read
            )

    return views()


def _part_reader(read: ReadFn, base: int) -> ReadFn:
    def read_part(offset: int, size: int) -> BytesLike:
        return read(base + offset, size)

    return read_part
