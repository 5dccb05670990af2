"""AWS Signature Version 4 verification for the object server, exactly as S3 does it.

Pure library code: the HTTP layer hands over the request line and headers, this module says who
signed the request and how the payload is to be checked, or raises ``S3Error`` with the code AWS
uses. No I/O, no clock of its own (``now`` is a parameter).

Two forms are accepted:

- the ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`` header;
- presigned query strings (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
  ``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature``).

Signature Version 2 is refused with AWS's own answer for regions that only speak SigV4
(``InvalidRequest``: "The authorization mechanism you have provided is not supported...").

Canonicalisation follows S3, not the generic SigV4 rules: the path is not normalised (``..`` and
``//`` stay) and is encoded once. Clients differ in how they percent-encode on the wire, so the
canonical path and query are rebuilt from the decoded bytes with AWS's encoding (unreserved
``A-Za-z0-9-_.~`` kept, ``/`` kept in the path, everything else ``%XX`` upper case); when that does
not verify, the request target exactly as received is tried as well (some clients sign what they
send, e.g. ``%2F`` inside a key). Both candidates describe this same request, so trying the second
one widens nothing an attacker could use.

Header values: pass them decoded from the wire as latin-1 (every byte one character). The
canonical request is hashed as UTF-8, which is what botocore does; clients that sign the raw bytes
of a non-ASCII header value are matched by a second candidate.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Final
from urllib.parse import unquote_to_bytes

from strongroom.s3.errors import S3Error

__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "AuthResult",
    "PayloadMode",
    "authenticate",
    "canonical_path",
    "canonical_query",
    "derive_signing_key",
    "hmac_sha256_hex",
    "presign_query",
    "sign_chunk",
    "sign_headers",
    "uri_encode",
]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
SERVICE: Final = "s3"
TERMINATOR: Final = "aws4_request"
EMPTY_SHA256: Final = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
MAX_PRESIGN_EXPIRES: Final = 604800  # seven days, in seconds
DEFAULT_MAX_SKEW: Final = timedelta(minutes=15)

UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED: Final = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER: Final = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER: Final = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_SIGV4A_PREFIX: Final = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_AMZ_DATE = re.compile(r"(\d{8})T(\d{6})Z")
_CREDENTIAL_EXPECTED: Final = (
    'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
)
_HEADER_MALFORMED: Final = "The authorization header is malformed; "
_QUERY_MALFORMED: Final = "Error parsing the X-Amz-Credential parameter; "
_PRESIGN_REQUIRED: Final = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)
_NO_DATE: Final = "AWS authentication requires a valid Date or x-amz-date header"


class PayloadMode(enum.Enum):
    """How the request body is protected, from ``x-amz-content-sha256``."""

    SIGNED = "signed"  # a hex SHA-256 of the whole body: AuthResult.expected_sha256
    UNSIGNED = UNSIGNED_PAYLOAD  # also every presigned request without a payload hash
    STREAMING_SIGNED = STREAMING_SIGNED
    STREAMING_SIGNED_TRAILER = STREAMING_SIGNED_TRAILER
    STREAMING_UNSIGNED_TRAILER = STREAMING_UNSIGNED_TRAILER

    @property
    def is_chunked(self) -> bool:
        """True when the body is ``aws-chunked`` framed (decode it with ``ChunkedDecoder``)."""
        return self not in (PayloadMode.SIGNED, PayloadMode.UNSIGNED)

    @property
    def has_chunk_signatures(self) -> bool:
        return self in (PayloadMode.STREAMING_SIGNED, PayloadMode.STREAMING_SIGNED_TRAILER)

    @property
    def has_trailer(self) -> bool:
        return self in (
            PayloadMode.STREAMING_SIGNED_TRAILER,
            PayloadMode.STREAMING_UNSIGNED_TRAILER,
        )


@dataclass(frozen=True, slots=True)
class AuthResult:
    """Who signed the request, and what the body verifiers need.

    ``signature`` is the request's own signature: the seed of the chunk-signature chain.
    """

    access_key: str
    payload: PayloadMode
    expected_sha256: str | None  # lower-case hex, only for PayloadMode.SIGNED
    signature: str
    signing_key: bytes = field(repr=False)
    scope: str  # YYYYMMDD/region/s3/aws4_request
    amz_date: str  # YYYYMMDDTHHMMSSZ
    region: str
    signed_headers: tuple[str, ...]
    presigned: bool = False


# --- signing keys -------------------------------------------------------------------------------

_KEY_CACHE_SIZE: Final = 256
_key_cache: dict[tuple[str, str, str, str], bytes] = {}


def derive_signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """The SigV4 signing key, cached per (secret, date, region, service) in a small dict."""
    cache_key = (secret, date, region, service)
    key = _key_cache.get(cache_key)
    if key is None:
        key = hmac.digest(("AWS4" + secret).encode(), date.encode(), "sha256")
        for part in (region, service, TERMINATOR):
            key = hmac.digest(key, part.encode(), "sha256")
        if len(_key_cache) >= _KEY_CACHE_SIZE:
            # Drop the oldest entry (dicts keep insertion order). Under threads a race costs at
            # most a recomputation, or an entry more than the bound for a moment.
            with contextlib.suppress(RuntimeError, StopIteration):
                _key_cache.pop(next(iter(_key_cache)), None)
        _key_cache[cache_key] = key
    return key


def hmac_sha256_hex(key: bytes, message: str) -> str:
    return hmac.digest(key, message.encode(), "sha256").hex()


# --- canonicalisation ---------------------------------------------------------------------------

_UNRESERVED: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
)
_ENCODE_TABLE: Final = tuple(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256))
_ENCODE_TABLE_PATH: Final = tuple("/" if b == 0x2F else _ENCODE_TABLE[b] for b in range(256))


def _to_bytes(value: str | bytes) -> bytes:
    """Wire bytes of a request-target component: latin-1 when possible, else UTF-8."""
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


def uri_encode(data: bytes, *, keep_slash: bool = False) -> str:
    """AWS's UriEncode: unreserved characters kept, every other byte ``%XX`` (upper case)."""
    if _is_unreserved(data, keep_slash):
        return data.decode("ascii")
    table = _ENCODE_TABLE_PATH if keep_slash else _ENCODE_TABLE
    return "".join([table[b] for b in data])


_SAFE_PATH_RE = re.compile(rb"[A-Za-z0-9\-_.~/]*")
_SAFE_RE = re.compile(rb"[A-Za-z0-9\-_.~]*")


def _is_unreserved(data: bytes, keep_slash: bool) -> bool:
    return (_SAFE_PATH_RE if keep_slash else _SAFE_RE).fullmatch(data) is not None


def canonical_path(raw_path: str | bytes) -> str:
    """The S3 canonical URI: the decoded path encoded once, not normalised; ``/`` if empty."""
    raw = _to_bytes(raw_path)
    if b"%" not in raw and _SAFE_PATH_RE.fullmatch(raw) is not None:
        return raw.decode("ascii") or "/"
    return uri_encode(unquote_to_bytes(raw), keep_slash=True) or "/"


def _query_pairs(raw_query: str | bytes) -> list[tuple[bytes, bytes]]:
    """Decoded (name, value) pairs in order; empty components skipped; ``+`` stays ``+``."""
    raw = _to_bytes(raw_query)
    pairs: list[tuple[bytes, bytes]] = []
    if not raw:
        return pairs
    for part in raw.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        pairs.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    return pairs


def canonical_query(raw_query: str | bytes, *, exclude: str | None = None) -> str:
    """The canonical query string: names and values re-encoded, sorted by name then value."""
    return _canonical_query_from_pairs(_query_pairs(raw_query), exclude)


def _canonical_query_from_pairs(pairs: list[tuple[bytes, bytes]], exclude: str | None) -> str:
    excluded = exclude.encode() if exclude is not None else None
    encoded = sorted((uri_encode(n), uri_encode(v)) for n, v in pairs if n != excluded)
    return "&".join(f"{n}={v}" for n, v in encoded)


def _raw_canonical_query(raw_query: str | bytes, exclude: str | None) -> str:
    """The query as the client sent it, only sorted (what botocore signs)."""
    raw = _to_bytes(raw_query)
    pairs: list[tuple[str, str]] = []
    for part in raw.split(b"&") if raw else []:
        if not part:
            continue
        name, _, value = part.decode("latin-1").partition("=")
        if exclude is not None and unquote_to_bytes(name) == exclude.encode():
            continue
        pairs.append((name, value))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def _trim_all(value: str) -> str:
    """Trimall as botocore does it: every run of (Unicode) white space becomes one space."""
    return " ".join(value.split())


_SPACES = re.compile(" +")


def _trim_spaces(value: str) -> str:
    """Trimall as minio-py and others do it: only runs of ASCII spaces collapse."""
    return _SPACES.sub(" ", value).strip()


def _canonical_headers(
    headers: Mapping[str, str],
    signed: tuple[str, ...],
    *,
    raw_bytes: bool = False,
    trim: Callable[[str], str] = _trim_all,
) -> bytes | None:
    text = "".join([f"{name}:{trim(headers.get(name, ''))}\n" for name in signed])
    if not raw_bytes:
        return text.encode()
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return None


def _string_to_sign(amz_date: str, scope: str, canonical_request: bytes) -> str:
    digest = hashlib.sha256(canonical_request).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


# --- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Credential:
    access_key: str
    date: str
    region: str
    service: str
    terminator: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


def _parse_credential(value: str, code: str, prefix: str) -> _Credential:
    # The access key itself may not contain "/", so split from the right.
    parts = value.rsplit("/", 4)
    if len(parts) != 5 or not all(parts):
        raise S3Error(code, prefix + _CREDENTIAL_EXPECTED)
    return _Credential(*parts)


def _check_scope(cred: _Credential, region: str, code: str, prefix: str) -> None:
    if not re.fullmatch(r"\d{8}", cred.date):
        raise S3Error(code, prefix + _CREDENTIAL_EXPECTED)
    if region and cred.region != region:  # an empty region accepts any (MinIO's default)
        raise S3Error(
            code,
            f"{prefix}the region '{cred.region}' is wrong; expecting '{region}'",
            extra={"Region": region},
        )
    if cred.service != SERVICE:
        raise S3Error(
            code, f'{prefix}incorrect service "{cred.service}". This endpoint belongs to "s3".'
        )
    if cred.terminator != TERMINATOR:
        raise S3Error(
            code,
            f'{prefix}incorrect terminal "{cred.terminator}". This endpoint uses "aws4_request".',
        )


def _parse_amz_date(value: str) -> datetime | None:
    m = _AMZ_DATE.fullmatch(value)
    if m is None:
        return None
    try:
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _request_time(headers: Mapping[str, str]) -> tuple[str, datetime]:
    """(x-amz-date form, time) from ``x-amz-date`` or else ``Date``; AccessDenied if neither."""
    amz = headers.get("x-amz-date")
    if amz is not None:
        when = _parse_amz_date(amz.strip())
        if when is None:
            raise S3Error("AccessDenied", _NO_DATE)
        return amz.strip(), when
    date = headers.get("date")
    if date is not None:
        try:
            when = parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
            return when.strftime("%Y%m%dT%H%M%SZ"), when
    raise S3Error("AccessDenied", _NO_DATE)


def _check_skew(when: datetime, now: datetime, max_skew: timedelta) -> None:
    if abs(now - when) > max_skew:
        raise S3Error(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )


def _payload_mode(value: str) -> tuple[PayloadMode, str | None]:
    if _HEX64.fullmatch(value):
        return PayloadMode.SIGNED, value.lower()
    if value == UNSIGNED_PAYLOAD:
        return PayloadMode.UNSIGNED, None
    if value == STREAMING_SIGNED:
        return PayloadMode.STREAMING_SIGNED, None
    if value == STREAMING_SIGNED_TRAILER:
        return PayloadMode.STREAMING_SIGNED_TRAILER, None
    if value == STREAMING_UNSIGNED_TRAILER:
        return PayloadMode.STREAMING_UNSIGNED_TRAILER, None
    if value.startswith(_SIGV4A_PREFIX):
        raise S3Error("NotImplemented", "AWS Signature Version 4A is not supported.")
    raise S3Error(
        "InvalidArgument",
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
        "or a valid sha256 value.",
    )


def _parse_signed_headers(value: str, code: str, message: str) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if not value or any(not n or n != n.strip().lower() for n in names):
        raise S3Error(code, message)
    if "host" not in names:
        raise S3Error("AccessDenied", "The host header must be signed.")
    return names


def _parse_authorization(value: str) -> tuple[str, str, str]:
    """(credential, signed headers, signature) from an AWS4-HMAC-SHA256 Authorization header."""
    rest = value[len(ALGORITHM) :]
    if not rest[:1].isspace():
        raise S3Error("AuthorizationHeaderMalformed", _HEADER_MALFORMED + "invalid algorithm.")
    fields: dict[str, str] = {}
    for component in rest.split(","):
        component = component.strip()
        if not component:
            continue
        name, sep, val = component.partition("=")
        if not sep or name in fields:
            raise S3Error(
                "AuthorizationHeaderMalformed",
                f'{_HEADER_MALFORMED}the authorization component "{component}" is malformed.',
            )
        fields[name] = val
    try:
        return fields["Credential"], fields["SignedHeaders"], fields["Signature"]
    except KeyError:
        raise S3Error(
            "AuthorizationHeaderMalformed",
            _HEADER_MALFORMED + "the authorization header requires three components: "
            "Credential, SignedHeaders, and Signature.",
        ) from None


# --- verification -------------------------------------------------------------------------------


def _verify_signature(
    *,
    method: str,
    raw_path: str | bytes,
    raw_query: str | bytes,
    query_pairs: list[tuple[bytes, bytes]],
    exclude: str | None,
    headers: Mapping[str, str],
    signed: tuple[str, ...],
    payload_hash: str,
    amz_date: str,
    scope: str,
    key: bytes,
    provided: str,
) -> None:
    provided_bytes = provided.encode("utf-8", "replace")
    tail = (";".join(signed) + "\n" + payload_hash).encode()
    for canonical_request in _canonical_requests(
        method, raw_path, raw_query, query_pairs, exclude, headers, signed, tail
    ):
        expected = hmac_sha256_hex(key, _string_to_sign(amz_date, scope, canonical_request))
        if hmac.compare_digest(expected.encode(), provided_bytes):
            return
    raise S3Error("SignatureDoesNotMatch")


def _canonical_requests(
    method: str,
    raw_path: str | bytes,
    raw_query: str | bytes,
    query_pairs: list[tuple[bytes, bytes]],
    exclude: str | None,
    headers: Mapping[str, str],
    signed: tuple[str, ...],
    tail: bytes,
) -> Iterator[bytes]:
    """The canonical request as AWS builds it, then (lazily, only if that one did not verify)
    the variants that describe the same request the way some clients sign it."""
    head = f"{method}\n{canonical_path(raw_path)}\n".encode()
    query = _canonical_query_from_pairs(query_pairs, exclude).encode() + b"\n"
    canonical_headers = _canonical_headers(headers, signed, raw_bytes=False)
    assert canonical_headers is not None
    yield head + query + canonical_headers + b"\n" + tail

    raw_path_str = _to_bytes(raw_path).decode("latin-1") or "/"
    head_raw = f"{method}\n{raw_path_str}\n".encode()
    query_raw = _raw_canonical_query(raw_query, exclude).encode() + b"\n"
    targets = [(head, query)]
    if (head_raw, query_raw) != (head, query):
        targets.append((head_raw, query_raw))
        yield head_raw + query_raw + canonical_headers + b"\n" + tail
    tried = {canonical_headers}
    for raw_bytes, trim in ((True, _trim_all), (False, _trim_spaces), (True, _trim_spaces)):
        form = _canonical_headers(headers, signed, raw_bytes=raw_bytes, trim=trim)
        if form is None or form in tried:
            continue
        tried.add(form)
        for h, q in targets:
            yield h + q + form + b"\n" + tail


def _lookup(lookup_secret: Callable[[str], str | None], access_key: str) -> str:
    secret = lookup_secret(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId")
    return secret


def _check_signed_amz_headers(headers: Mapping[str, str], signed: tuple[str, ...]) -> None:
    unsigned = [n for n in headers if n.startswith("x-amz-") and n not in signed]
    if unsigned:
        raise S3Error(
            "AccessDenied",
            "There were headers present in the request which were not signed: "
            + ", ".join(sorted(unsigned)),
        )


def authenticate(
    method: str,
    raw_path: str | bytes,
    raw_query: str | bytes,
    headers: Mapping[str, str],
    *,
    lookup_secret: Callable[[str], str | None],
    now: datetime,
    region: str = "us-east-1",
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> AuthResult:
    """Verify a request's SigV4 signature; return who signed it and how to check its body.

    ``raw_path`` and ``raw_query`` exactly as received (percent-encoded; ``str`` decoded as latin-1
    or ``bytes``), ``headers`` with lower-case names (repeated headers joined with ","),
    ``lookup_secret`` maps an access key to its secret or ``None``, ``now`` is an aware datetime.
    Raises ``S3Error`` with S3's code for every refusal.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    authorization = headers.get("authorization")
    pairs = _query_pairs(raw_query)
    names = {n for n, _ in pairs}
    presigned = b"X-Amz-Algorithm" in names or b"X-Amz-Signature" in names
    v2_query = b"AWSAccessKeyId" in names and b"Signature" in names
    if authorization is not None and (presigned or v2_query):
        raise S3Error(
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
        )
    if authorization is not None:
        return _authenticate_header(
            method, raw_path, raw_query, pairs, headers, authorization,
            lookup_secret=lookup_secret, now=now, region=region, max_skew=max_skew,
        )  # fmt: skip
    if presigned:
        return _authenticate_presigned(
            method, raw_path, raw_query, pairs, headers,
            lookup_secret=lookup_secret, now=now, region=region, max_skew=max_skew,
        )  # fmt: skip
    if v2_query:
        raise _v2_refused()
    raise S3Error("AccessDenied")


def _v2_refused() -> S3Error:
    return S3Error(
        "InvalidRequest",
        "The authorization mechanism you have provided is not supported. "
        "Please use AWS4-HMAC-SHA256.",
    )


def _authenticate_header(
    method: str,
    raw_path: str | bytes,
    raw_query: str | bytes,
    pairs: list[tuple[bytes, bytes]],
    headers: Mapping[str, str],
    authorization: str,
    *,
    lookup_secret: Callable[[str], str | None],
    now: datetime,
    region: str,
    max_skew: timedelta,
) -> AuthResult:
    authorization = authorization.strip()
    if not authorization.startswith(ALGORITHM):
        if authorization.startswith("AWS "):
            raise _v2_refused()
        raise S3Error("InvalidArgument", "Unsupported Authorization Type")
    credential_text, signed_text, signature = _parse_authorization(authorization)
    cred = _parse_credential(credential_text, "AuthorizationHeaderMalformed", _HEADER_MALFORMED)
    signed = _parse_signed_headers(
        signed_text,
        "AuthorizationHeaderMalformed",
        _HEADER_MALFORMED + "the SignedHeaders component is malformed.",
    )
    amz_date, when = _request_time(headers)
    _check_scope(cred, region, "AuthorizationHeaderMalformed", _HEADER_MALFORMED)
    if cred.date != amz_date[:8]:
        raise S3Error(
            "AuthorizationHeaderMalformed",
            _HEADER_MALFORMED + "Invalid credential date. Date is not the same as X-Amz-Date.",
        )
    _check_skew(when, now, max_skew)
    content_sha = headers.get("x-amz-content-sha256")
    if content_sha is None:
        raise S3Error(
            "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        )
    payload, expected = _payload_mode(content_sha.strip())
    _check_signed_amz_headers(headers, signed)
    secret = _lookup(lookup_secret, cred.access_key)
    key = derive_signing_key(secret, cred.date, cred.region)
    _verify_signature(
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        query_pairs=pairs,
        exclude=None,
        headers=headers,
        signed=signed,
        payload_hash=content_sha.strip(),
        amz_date=amz_date,
        scope=cred.scope,
        key=key,
        provided=signature,
    )
    return AuthResult(
        access_key=cred.access_key,
        payload=payload,
        expected_sha256=expected,
        signature=signature,
        signing_key=key,
        scope=cred.scope,
        amz_date=amz_date,
        region=cred.region,
        signed_headers=signed,
    )


def _authenticate_presigned(
    method: str,
    raw_path: str | bytes,
    raw_query: str | bytes,
    pairs: list[tuple[bytes, bytes]],
    headers: Mapping[str, str],
    *,
    lookup_secret: Callable[[str], str | None],
    now: datetime,
    region: str,
    max_skew: timedelta,
) -> AuthResult:
    code = "AuthorizationQueryParametersError"
    params: dict[str, str] = {}
    for name, value in pairs:
        if name.startswith(b"X-Amz-"):
            params.setdefault(name.decode("latin-1"), value.decode("utf-8", "replace"))
    required = (
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
    )
    if any(name not in params for name in required):
        raise S3Error(code, _PRESIGN_REQUIRED)
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise S3Error(code, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    cred = _parse_credential(params["X-Amz-Credential"], code, _QUERY_MALFORMED)
    amz_date = params["X-Amz-Date"]
    when = _parse_amz_date(amz_date)
    if when is None:
        raise S3Error(
            code, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        )
    expires_text = params["X-Amz-Expires"]
    if not re.fullmatch(r"-?\d{1,12}", expires_text):
        raise S3Error(code, "X-Amz-Expires should be a number")
    expires = int(expires_text)
    if expires < 0:
        raise S3Error(code, "X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGN_EXPIRES:
        raise S3Error(code, "X-Amz-Expires must be less than a week (in seconds) that is 604800")
    if expires == 0:
        raise S3Error(code, "X-Amz-Expires must be greater than 0")
    signed = _parse_signed_headers(
        params["X-Amz-SignedHeaders"], code, "X-Amz-SignedHeaders is malformed."
    )
    _check_scope(cred, region, code, _QUERY_MALFORMED)
    if cred.date != amz_date[:8]:
        raise S3Error(
            code, _QUERY_MALFORMED + "Invalid credential date. Date is not the same as X-Amz-Date."
        )
    if when - now > max_skew:
        raise S3Error("AccessDenied", "Request is not valid yet")
    if now > when + timedelta(seconds=expires):
        raise S3Error("AccessDenied", "Request has expired")
    content_sha = params.get("X-Amz-Content-Sha256") or UNSIGNED_PAYLOAD
    payload, expected = _payload_mode(content_sha)
    if payload.is_chunked:
        raise S3Error(
            "InvalidArgument", "Streaming payloads are not allowed in presigned requests."
        )
    secret = _lookup(lookup_secret, cred.access_key)
    key = derive_signing_key(secret, cred.date, cred.region)
    _verify_signature(
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        query_pairs=pairs,
        exclude="X-Amz-Signature",
        headers=headers,
        signed=signed,
        payload_hash=content_sha,
        amz_date=amz_date,
        scope=cred.scope,
        key=key,
        provided=params["X-Amz-Signature"],
    )
    return AuthResult(
        access_key=cred.access_key,
        payload=payload,
        expected_sha256=expected,
        signature=params["X-Amz-Signature"],
        signing_key=key,
        scope=cred.scope,
        amz_date=amz_date,
        region=cred.region,
        signed_headers=signed,
        presigned=True,
    )


# --- the client side (tests, benchmarks, the lean load client) ---------------------------------


def _amz_date(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def sign_headers(
    method: str,
    raw_path: str | bytes,
    raw_query: str | bytes,
    headers: Mapping[str, str],
    *,
    access_key: str,
    secret: str,
    now: datetime,
    region: str = "us-east-1",
    payload_hash: str = UNSIGNED_PAYLOAD,
) -> dict[str, str]:
    """Sign a request as a client: ``headers`` (lower-case names, ``host`` included) plus
    ``x-amz-date``, ``x-amz-content-sha256`` and ``authorization``. Every header is signed."""
    amz_date = _amz_date(now)
    out = {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}
    out["x-amz-date"] = amz_date
    out["x-amz-content-sha256"] = payload_hash
    signed = tuple(sorted(out))
    scope = f"{amz_date[:8]}/{region}/{SERVICE}/{TERMINATOR}"
    canonical = next(
        _canonical_requests(
            method,
            raw_path,
            raw_query,
            _query_pairs(raw_query),
            None,
            out,
            signed,
            (";".join(signed) + "\n" + payload_hash).encode(),
        )
    )
    key = derive_signing_key(secret, amz_date[:8], region)
    signature = hmac_sha256_hex(key, _string_to_sign(amz_date, scope, canonical))
    out["authorization"] = (
        f"{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature}"
    )
    return out


def presign_query(
    method: str,
    raw_path: str | bytes,
    raw_query: str | bytes,
    host: str,
    *,
    access_key: str,
    secret: str,
    now: datetime,
    expires: int = 3600,
    region: str = "us-east-1",
) -> str:
    """A presigned request's query string (``raw_query`` plus the ``X-Amz-*`` parameters)."""
    amz_date = _amz_date(now)
    scope = f"{amz_date[:8]}/{region}/{SERVICE}/{TERMINATOR}"
    params = (
        f"X-Amz-Algorithm={ALGORITHM}"
        f"&X-Amz-Credential={uri_encode(f'{access_key}/{scope}'.encode())}"
        f"&X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
    )
    base = _to_bytes(raw_query).decode("latin-1")
    query = f"{base}&{params}" if base else params
    canonical = next(
        _canonical_requests(
            method,
            raw_path,
            query,
            _query_pairs(query),
            None,
            {"host": host},
            ("host",),
            ("host\n" + UNSIGNED_PAYLOAD).encode(),
        )
    )
    key = derive_signing_key(secret, amz_date[:8], region)
    signature = hmac_sha256_hex(key, _string_to_sign(amz_date, scope, canonical))
    return f"{query}&X-Amz-Signature={signature}"


def sign_chunk(auth: AuthResult, previous: str, data: bytes | memoryview) -> str:
    """The signature of one ``aws-chunked`` chunk, chained from ``previous`` (the seed is
    ``auth.signature``)."""
    string_to_sign = (
        f"AWS4-HMAC-SHA256-PAYLOAD\n{auth.amz_date}\n{auth.scope}\n{previous}\n{EMPTY_SHA256}\n"
        f"{hashlib.sha256(data).hexdigest()}"
    )
    return hmac_sha256_hex(auth.signing_key, string_to_sign)
