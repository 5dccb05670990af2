"""S3 payload checksums: MD5 for the ETag, ``x-amz-checksum-*``, ``Content-MD5`` and the signed
payload hash, computed in one pass over the body.

A ``Checksummer`` is built from the request headers (``Checksummer.from_headers``), fed every
payload byte once (``update``), then ``verify``-ed with the trailers of an ``aws-chunked`` body (if
any). Refusals are ``S3Error`` with S3's codes and texts:

- ``InvalidDigest``: a ``Content-MD5`` that is not base64 of 16 bytes;
- ``BadDigest``: ``Content-MD5`` mismatch, or ``x-amz-checksum-ALG`` mismatch ("The CRC32 you
  specified did not match the calculated checksum.");
- ``XAmzContentSHA256Mismatch``: the signed ``x-amz-content-sha256`` does not match;
- ``InvalidRequest``: malformed checksum values, several checksum types, an unknown algorithm;
- ``NotImplemented``: CRC64NVME when no fast implementation is installed (``awscrt``).

The other half: ``composite_checksum`` (multipart COMPOSITE: checksum of the part checksums,
``-N``) and ``combine_crc``/``full_object_crc`` (multipart FULL_OBJECT CRCs from part CRCs).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, Protocol

import crc32c as _crc32c

from strongroom.s3.errors import S3Error

__all__ = [
    "ALGORITHMS",
    "Checksummer",
    "checksum_header",
    "combine_crc",
    "composite_checksum",
    "compute_checksum",
    "full_object_crc",
    "is_crc",
    "is_valid",
    "sent_algorithm",
    "supported",
]

try:  # optional: boto3[crt] brings awscrt and its native CRC64NVME (~17 GB/s here)
    from awscrt.checksums import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
        crc64nvme as _crc64nvme,
    )

    _HAS_CRC64: bool = True
except ImportError:  # pragma: no cover - without awscrt, CRC64NVME is refused
    _crc64nvme = None
    _HAS_CRC64 = False

try:  # the XXHash family comes from awscrt too (as botocore computes it)
    from awscrt.checksums import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
        XXHash as _XXHash,
    )
except ImportError:  # pragma: no cover - older awscrt or none: XXHASH* are refused
    _XXHash = None

# Algorithm (lower case, as in the header name) -> (name in messages, digest size in bytes).
_ALGORITHMS: Final[dict[str, tuple[str, int]]] = {
    "crc32": ("CRC32", 4),
    "crc32c": ("CRC32C", 4),
    "sha1": ("SHA1", 20),
    "sha256": ("SHA256", 32),
    "crc64nvme": ("CRC64NVME", 8),
    "sha512": ("SHA512", 64),
    "md5": ("MD5", 16),
    "xxhash64": ("XXHASH64", 8),
    "xxhash3": ("XXHASH3", 8),
    "xxhash128": ("XXHASH128", 16),
}
ALGORITHMS: Final = tuple(_ALGORITHMS)
_PREFIX: Final = "x-amz-checksum-"


def checksum_header(algorithm: str) -> str:
    """``x-amz-checksum-crc32`` for ``crc32``."""
    return _PREFIX + algorithm


def is_crc(algorithm: str) -> bool:
    """True for the CRCs, the algorithms a FULL_OBJECT multipart checksum can use."""
    return algorithm in ("crc32", "crc32c", "crc64nvme")


def supported(algorithm: str) -> bool:
    """True when this server can compute ``algorithm`` (CRC64NVME needs ``awscrt``)."""
    if algorithm not in _ALGORITHMS:
        return False
    if algorithm == "crc64nvme":
        return _HAS_CRC64
    if algorithm.startswith("xxhash"):
        return _XXHash is not None
    return True


class _Hash(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc32:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes | memoryview) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


class _Crc32c(_Crc32):
    __slots__ = ()

    def update(self, data: bytes | memoryview) -> None:
        self.value = _crc32c.crc32c(data, self.value)


class _Crc64Nvme(_Crc32):
    __slots__ = ()

    def update(self, data: bytes | memoryview) -> None:
        assert _crc64nvme is not None
        self.value = _crc64nvme(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(8, "big")


class _XXHashState:
    """awscrt's XXHash finalizes once; the digest is kept for the next ``digest()``."""

    __slots__ = ("_digest", "_hash")

    def __init__(self, algorithm: str) -> None:
        assert _XXHash is not None
        if algorithm == "xxhash64":
            self._hash = _XXHash.new_xxhash64()
        elif algorithm == "xxhash3":
            self._hash = _XXHash.new_xxhash3_64()
        else:
            self._hash = _XXHash.new_xxhash3_128()
        self._digest: bytes | None = None

    def update(self, data: bytes | memoryview) -> None:
        if self._digest is not None:
            raise ValueError("XXHash already finalized")
        if isinstance(data, memoryview):
            data = bytes(data)  # awscrt's XXHash takes bytes, not buffer views
        self._hash.update(data)

    def digest(self) -> bytes:
        if self._digest is None:
            self._digest = bytes(self._hash.finalize())
        return self._digest


def _new_hash(algorithm: str) -> _Hash:
    if algorithm == "crc32":
        return _Crc32()
    if algorithm == "crc32c":
        return _Crc32c()
    if algorithm == "sha1":
        return hashlib.sha1(usedforsecurity=False)
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "sha512":
        return hashlib.sha512()
    if algorithm == "md5":
        return hashlib.md5(usedforsecurity=False)
    if algorithm.startswith("xxhash") and algorithm in _ALGORITHMS:
        if _XXHash is None:
            raise S3Error(
                "NotImplemented",
                f"The {_ALGORITHMS[algorithm][0]} checksum algorithm is not supported by this "
                "server.",
            )
        return _XXHashState(algorithm)
    if algorithm == "crc64nvme":
        if not _HAS_CRC64:
            raise S3Error(
                "NotImplemented",
                "The CRC64NVME checksum algorithm is not supported by this server.",
            )
        return _Crc64Nvme()
    raise S3Error("InvalidRequest", f"Checksum algorithm {algorithm!r} is not supported.")


def compute_checksum(algorithm: str, data: bytes | memoryview) -> str:
    """The base64 checksum of ``data``, as S3 returns it in ``x-amz-checksum-ALG``."""
    h = _new_hash(algorithm)
    h.update(data)
    return base64.b64encode(h.digest()).decode()


def _decode(algorithm: str, value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _ALGORITHMS[algorithm][1]:
        raise S3Error(
            "InvalidRequest", f"Value for {checksum_header(algorithm)} {what} is invalid."
        )
    return raw


def is_valid(algorithm: str, value: str) -> bool:
    """True when ``value`` is base64 of a digest of ``algorithm``'s size."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) == _ALGORITHMS[algorithm][1]


def sent_algorithm(headers: Mapping[str, str]) -> str | None:
    """The algorithm of the checksum a request carries (an ``x-amz-checksum-*`` header or the
    trailer ``x-amz-trailer`` names), if any; lower-case header names."""
    trailer = headers.get("x-amz-trailer")
    if trailer is not None:
        for name in trailer.split(","):
            algorithm = _algorithm_of(name.strip().lower())
            if algorithm is not None:
                return algorithm
    for name in headers:
        algorithm = _algorithm_of(name)
        if algorithm is not None:
            return algorithm
    return None


def _algorithm_of(name: str) -> str | None:
    """``crc32`` for the header name ``x-amz-checksum-crc32``; None for other names."""
    if name.startswith(_PREFIX):
        algorithm = name[len(_PREFIX) :]
        if algorithm in _ALGORITHMS:
            return algorithm
    return None


class Checksummer:
    """Everything computed over one payload, in one pass.

    MD5 is always computed (the ETag) unless ``md5=False``; SHA-256 of the whole payload only
    when ``expected_sha256`` is given (``PayloadMode.SIGNED``); plus each algorithm in
    ``algorithms``. ``expected`` maps ``content-md5`` and ``x-amz-checksum-ALG`` names to the
    values the client sent in headers; ``trailer`` names the one checksum that arrives as a
    trailer. Use ``from_headers`` to build one from a request.
    """

    __slots__ = (
        "_expected",
        "_expected_sha256",
        "_hashes",
        "_md5",
        "_sha256",
        "_trailer",
        "_update",
    )

    def __init__(
        self,
        algorithms: Iterable[str] = (),
        *,
        md5: bool = True,
        expected_sha256: str | None = None,
        expected: Mapping[str, str] | None = None,
        trailer: str | None = None,
    ) -> None:
        self._hashes: dict[str, _Hash] = {}
        for algorithm in algorithms:
            if algorithm not in self._hashes:
                self._hashes[algorithm] = _new_hash(algorithm)
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self._expected_sha256 = expected_sha256.lower() if expected_sha256 is not None else None
        self._sha256 = hashlib.sha256() if expected_sha256 is not None else None
        self._expected = dict(expected or {})
        self._trailer = trailer
        updaters: list[Callable[[bytes | memoryview], None]] = []
        if self._md5 is not None:
            updaters.append(self._md5.update)
        if self._sha256 is not None and "sha256" not in self._hashes:
            updaters.append(self._sha256.update)
        updaters.extend(h.update for h in self._hashes.values())
        self._update = tuple(updaters)

    @classmethod
    def from_headers(
        cls,
        headers: Mapping[str, str],
        *,
        expected_sha256: str | None = None,
        also: Iterable[str] = (),
        md5: bool = True,
    ) -> Checksummer:
        """Read ``Content-MD5``, ``x-amz-checksum-*``, ``x-amz-sdk-checksum-algorithm`` and
        ``x-amz-trailer`` (lower-case names); refuse malformed ones before the body is read.

        ``expected_sha256`` is ``AuthResult.expected_sha256``; ``also`` lists algorithms to
        compute whether or not the client asked (e.g. to store a CRC32 with every object);
        ``md5=False`` skips the MD5 pass unless a Content-MD5 header needs checking.
        """
        expected: dict[str, str] = {}
        md5_value = headers.get("content-md5")
        if md5_value is not None:
            try:
                raw = base64.b64decode(md5_value.strip(), validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 16:
                raise S3Error("InvalidDigest")
            expected["content-md5"] = md5_value.strip()

        sent = [(a, v) for name, v in headers.items() if (a := _algorithm_of(name)) is not None]
        trailer: str | None = None
        trailer_header = headers.get("x-amz-trailer")
        if trailer_header is not None:
            for name in (n.strip().lower() for n in trailer_header.split(",")):
                if not name:
                    continue
                algorithm = _algorithm_of(name)
                if algorithm is None or trailer is not None:
                    raise S3Error(
                        "InvalidRequest",
                        "The value specified in the x-amz-trailer header is not supported",
                    )
                trailer = algorithm
        if len(sent) + (trailer is not None) > 1:
            raise S3Error(
                "InvalidRequest",
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            )
        for algorithm, value in sent:
            _decode(algorithm, value, "header")
            expected[checksum_header(algorithm)] = value.strip()

        sdk = headers.get("x-amz-sdk-checksum-algorithm")
        if sdk is not None:
            declared = sdk.strip().lower()
            if declared not in _ALGORITHMS:
                raise S3Error(
                    "InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid."
                )
            chosen = trailer if trailer is not None else (sent[0][0] if sent else None)
            if chosen is None:
                raise S3Error(
                    "InvalidRequest",
                    "x-amz-sdk-checksum-algorithm specified, but no corresponding "
                    "x-amz-checksum-* or x-amz-trailer headers were found.",
                )
            if chosen != declared:
                raise S3Error(
                    "InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid."
                )

        algorithms = [a for a, _ in sent] + ([trailer] if trailer is not None else []) + list(also)
        md5 = md5 or "content-md5" in expected
        return cls(
            algorithms, md5=md5, expected_sha256=expected_sha256, expected=expected, trailer=trailer
        )

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The x-amz-checksum algorithms computed, in order."""
        return tuple(self._hashes)

    @property
    def requested(self) -> str | None:
        """The algorithm the client sent a checksum for (header or trailer), if any."""
        if self._trailer is not None:
            return self._trailer
        for name in self._expected:
            algorithm = _algorithm_of(name)
            if algorithm is not None:
                return algorithm
        return None

    def update(self, data: bytes | memoryview) -> None:
        for update in self._update:
            update(data)

    def md5_digest(self) -> bytes:
        if self._md5 is None:
            raise ValueError("MD5 was not computed")
        return self._md5.digest()

    def etag(self) -> str:
        """The lower-case hex MD5 of the payload (the ETag of a single-part object)."""
        return self.md5_digest().hex()

    def checksums(self) -> dict[str, str]:
        """``{"crc32": base64, ...}`` for every algorithm computed."""
        return {a: base64.b64encode(h.digest()).decode() for a, h in self._hashes.items()}

    def verify(self, trailers: Mapping[str, str] | None = None) -> None:
        """Check what was received against what the client declared; raise ``S3Error``.

        ``trailers``: the trailers of an ``aws-chunked`` body (``ChunkedDecoder.finish()``).
        """
        if self._sha256 is not None:
            hashed = self._hashes.get("sha256", self._sha256)
            if hashed.digest().hex() != self._expected_sha256:
                raise S3Error("XAmzContentSHA256Mismatch")
        expected = dict(self._expected)
        for name, value in (trailers or {}).items():
            algorithm = _algorithm_of(name.lower())
            if algorithm is None:
                continue
            if algorithm != self._trailer:
                raise S3Error(
                    "InvalidRequest",
                    f"The trailer {name} was sent but not declared in x-amz-trailer.",
                )
            _decode(algorithm, value, "trailing header")
            expected[name.lower()] = value.strip()
        if self._trailer is not None and checksum_header(self._trailer) not in expected:
            raise S3Error(
                "InvalidRequest",
                f"The trailer {checksum_header(self._trailer)} was declared in x-amz-trailer "
                "but not sent.",
            )
        md5_value = expected.pop("content-md5", None)
        md5 = self._md5
        if (
            md5_value is not None
            and md5 is not None
            and base64.b64decode(md5_value) != md5.digest()
        ):
            raise S3Error("BadDigest")
        for name, value in expected.items():
            algorithm = _algorithm_of(name)
            if algorithm is None:
                continue
            if _decode(algorithm, value, "header") != self._hashes[algorithm].digest():
                label = _ALGORITHMS[algorithm][0]
                raise S3Error(
                    "BadDigest", f"The {label} you specified did not match the calculated checksum."
                )


# --- multipart ----------------------------------------------------------------------------------


def composite_checksum(algorithm: str, part_checksums: Sequence[str]) -> str:
    """The COMPOSITE multipart checksum: base64 of the checksum of the concatenated raw part
    checksums, then ``-N``."""
    h = _new_hash(algorithm)
    for value in part_checksums:
        h.update(_decode(algorithm, value, "part checksum"))
    return f"{base64.b64encode(h.digest()).decode()}-{len(part_checksums)}"


# Reflected polynomials and widths of the CRCs S3 supports.
_CRC_PARAMS: Final[dict[str, tuple[int, int]]] = {
    "crc32": (0xEDB88320, 32),
    "crc32c": (0x82F63B78, 32),
    "crc64nvme": (0x9A6C9329AC4BC9B5, 64),
}


def _multmodp(a: int, b: int, poly: int, width: int) -> int:
    """a * b modulo the CRC polynomial, in the reflected bit order zlib uses."""
    m = 1 << (width - 1)
    p = 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                return p
        m >>= 1
        b = (b >> 1) ^ poly if b & 1 else b >> 1


_X2N_TABLES: dict[str, list[int]] = {}


def _x2n_table(algorithm: str) -> list[int]:
    table = _X2N_TABLES.get(algorithm)
    if table is None:
        poly, width = _CRC_PARAMS[algorithm]
        p = 1 << (width - 2)  # x^1
        table = [p]
        for _ in range(63):
            p = _multmodp(p, p, poly, width)
            table.append(p)
        _X2N_TABLES[algorithm] = table
    return table


def combine_crc(algorithm: str, crc1: int, crc2: int, len2: int) -> int:
    """CRC of A+B from crc(A), crc(B) and len(B), like zlib's ``crc32_combine``."""
    poly, width = _CRC_PARAMS[algorithm]
    table = _x2n_table(algorithm)
    # x^(8 * len2) mod p
    power = 1 << (width - 1)  # x^0
    k = 3
    n = len2
    while n:
        if n & 1:
            power = _multmodp(table[k & 63], power, poly, width)
        n >>= 1
        k += 1
    return _multmodp(power, crc1, poly, width) ^ crc2


def full_object_crc(algorithm: str, parts: Sequence[tuple[str, int]]) -> str:
    """The FULL_OBJECT multipart checksum (base64, no ``-N``) from (part checksum, part size)."""
    if algorithm not in _CRC_PARAMS:
        raise S3Error(
            "InvalidRequest", f"The FULL_OBJECT checksum type does not support {algorithm}."
        )
    size = _ALGORITHMS[algorithm][1]
    crc = 0
    for value, length in parts:
        part = int.from_bytes(_decode(algorithm, value, "part checksum"), "big")
        crc = combine_crc(algorithm, crc, part, length)
    return base64.b64encode(crc.to_bytes(size, "big")).decode()
