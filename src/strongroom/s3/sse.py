"""Server-side encryption for the object server: which SSE a request asks for, sealing a fresh
object key at write time, unsealing it at read time, and what clients see (headers, ETags).

The cryptography lives in ``strongroom.crypto`` (DARE, sealing, KMS context); the KMS behind
``strongroom.kms.base.KMS``. This module is protocol: header parsing, errors exactly as MinIO and
AWS give them (``../shared/specs/minio-sse.md`` §1), and the stored metadata layout (§2.5).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from strongroom.crypto import dare, sealing
from strongroom.crypto.kms_context import canonical_context, parse_context
from strongroom.crypto.secret import SecretBytes
from strongroom.kms.base import (
    KMS,
    KMSDecryptError,
    KMSError,
    KMSKeyNotFoundError,
    KMSUnavailableError,
)
from strongroom.s3.errors import S3Error
from strongroom.s3.sse_config import AES256, AWS_KMS, EncryptionRule

# Request headers (lower-case, as the HTTP layer gives them).
H_SSE = "x-amz-server-side-encryption"
H_KMS_KEY = "x-amz-server-side-encryption-aws-kms-key-id"
H_KMS_CONTEXT = "x-amz-server-side-encryption-context"
H_C_ALGORITHM = "x-amz-server-side-encryption-customer-algorithm"
H_C_KEY = "x-amz-server-side-encryption-customer-key"
H_C_KEY_MD5 = "x-amz-server-side-encryption-customer-key-md5"
COPY_PREFIX = "x-amz-copy-source-"
SSEC_HEADERS = (H_C_ALGORITHM, H_C_KEY, H_C_KEY_MD5)
_COPY_SSEC_HEADERS = tuple(COPY_PREFIX + h.removeprefix("x-amz-") for h in SSEC_HEADERS)

# Stored metadata (internal: never returned to clients, never copied by COPY).
INTERNAL = "x-minio-internal-server-side-encryption-"
M_SEAL_ALGORITHM = INTERNAL + "seal-algorithm"
M_IV = INTERNAL + "iv"
M_SEALED_KEY_C = INTERNAL + "sealed-key"
M_SEALED_KEY_S3 = INTERNAL + "s3-sealed-key"
M_SEALED_KEY_KMS = INTERNAL + "kms-sealed-key"
M_KMS_KEY_ID = INTERNAL + "s3-kms-key-id"
M_KMS_SEALED_DEK = INTERNAL + "s3-kms-sealed-key"
M_CONTEXT = INTERNAL + "context"
M_MULTIPART = "x-minio-internal-encrypted-multipart"
M_SSEC_KEY_MD5 = "x-minio-internal-ssec-key-md5"  # the client's key MD5, to echo on responses

ARN_PREFIX = "arn:aws:kms:"

_MSG_SSEC_TLS = (
    "Requests specifying Server Side Encryption with Customer provided keys must be made over "
    "a secure connection."
)
MSG_ALGORITHM = (
    "Requests specifying Server Side Encryption with Customer provided keys must provide a "
    "valid encryption algorithm."
)
MSG_MISSING_KEY = (
    "Requests specifying Server Side Encryption with Customer provided keys must provide an "
    "appropriate secret key."
)
_MSG_MISSING_MD5 = (
    "Requests specifying Server Side Encryption with Customer provided keys must provide the "
    "client calculated MD5 of the secret key."
)
MSG_INVALID_KEY = "The secret key was invalid for the specified algorithm."
_MSG_MD5_MISMATCH = "The calculated MD5 hash of the key did not match the hash that was provided."
_MSG_INCOMPATIBLE = (
    "Server Side Encryption with Customer provided key is incompatible with the encryption "
    "method specified"
)
_MSG_KMS_HEADER = (
    "Server Side Encryption with AWS KMS managed key requires HTTP header "
    "x-amz-server-side-encryption : aws:kms"
)
MSG_STORED_ENCRYPTED = (
    "The object was stored using a form of Server Side Encryption. The correct parameters must "
    "be provided to retrieve the object."
)
MSG_NOT_APPLICABLE = "The encryption parameters are not applicable to this object."
MSG_PART_NEEDS_KEY = (
    "The multipart upload initiate requested encryption. Subsequent part requests must include "
    "the appropriate encryption parameters."
)
MSG_NO_KMS = "Server side encryption specified but KMS is not configured"


class Kind(enum.Enum):
    NONE = "none"
    SSE_S3 = "SSE-S3"
    SSE_KMS = "SSE-KMS"
    SSE_C = "SSE-C"

    @property
    def domain(self) -> sealing.Domain:
        return _DOMAINS[self]


_DOMAINS = {
    Kind.SSE_S3: sealing.Domain.SSE_S3,
    Kind.SSE_KMS: sealing.Domain.SSE_KMS,
    Kind.SSE_C: sealing.Domain.SSE_C,
}


@dataclass(frozen=True, slots=True)
class CustomerKey:
    key: SecretBytes = field(repr=False)
    key_md5: str  # base64, as the client sent it


@dataclass(frozen=True, slots=True)
class Requested:
    """The SSE a request asks for (after defaults, when applied)."""

    kind: Kind
    kms_key_id: str = ""  # SSE-KMS: the key name as the client gave it (ARN prefix stripped)
    context: dict[str, str] = field(default_factory=dict)  # SSE-KMS client context
    customer: CustomerKey | None = None


NONE = Requested(Kind.NONE)
SSE_S3 = Requested(Kind.SSE_S3)


def has_ssec_headers(headers: Mapping[str, str]) -> bool:
    return any(h in headers or COPY_PREFIX + h[len("x-amz-") :] in headers for h in SSEC_HEADERS)


def check_transport(headers: Mapping[str, str], tls: bool, allow_http: bool) -> None:
    """SSE-C keys travel in headers: refuse them over plain HTTP (MinIO does so for any request)."""
    if not tls and not allow_http and has_ssec_headers(headers):
        raise S3Error("InvalidRequest", _MSG_SSEC_TLS)


def parse_customer_key(
    headers: Mapping[str, str], *, copy_source: bool = False
) -> CustomerKey | None:
    """SSE-C headers (or their copy-source variants); None when none is present."""
    names = _COPY_SSEC_HEADERS if copy_source else SSEC_HEADERS
    if names[0] not in headers and names[1] not in headers and names[2] not in headers:
        return None
    algorithm, raw_key, raw_md5 = (headers.get(n, "") for n in names)
    if algorithm != "AES256":
        raise S3Error("InvalidArgument", MSG_ALGORITHM)
    if not raw_key:
        raise S3Error("InvalidArgument", MSG_MISSING_KEY)
    if not raw_md5:
        raise S3Error("InvalidArgument", _MSG_MISSING_MD5)
    # A malformed key is the client's error (400, as AWS answers; MinIO says 403), and the MD5
    # is checked before the length, in AWS's order.
    try:
        key = base64.b64decode(raw_key, validate=True)
    except (binascii.Error, ValueError):
        raise S3Error("InvalidArgument", MSG_INVALID_KEY) from None
    try:
        md5 = base64.b64decode(raw_md5, validate=True)
    except (binascii.Error, ValueError):
        md5 = b""
    if not hmac.compare_digest(md5, hashlib.md5(key).digest()):  # noqa: S324 - protocol
        raise S3Error("InvalidArgument", _MSG_MD5_MISMATCH)
    if len(key) != 32:
        raise S3Error("InvalidArgument", MSG_INVALID_KEY)
    return CustomerKey(SecretBytes(key), raw_md5)


def _kms_requested(headers: Mapping[str, str]) -> bool:
    if H_KMS_KEY in headers or H_KMS_CONTEXT in headers:
        return True
    value = headers.get(H_SSE)
    return value is not None and value.upper() != AES256


def parse_request(headers: Mapping[str, str]) -> Requested:
    """The SSE a PUT, CopyObject (destination) or CreateMultipartUpload asks for."""
    customer = parse_customer_key(headers)
    sse_value = headers.get(H_SSE)
    kms = _kms_requested(headers)
    s3 = sse_value is not None and sse_value.lower() != AWS_KMS
    if customer is not None:
        if kms or s3:
            raise S3Error("InvalidArgument", _MSG_INCOMPATIBLE)
        return Requested(Kind.SSE_C, customer=customer)
    if kms:
        if sse_value is None or sse_value != AWS_KMS:
            if sse_value is not None and sse_value.lower() != AWS_KMS:
                raise S3Error("InvalidArgument", "Invalid server side encryption header value")
            raise S3Error("InvalidArgument", _MSG_KMS_HEADER)
        key_id = headers.get(H_KMS_KEY, "")
        if key_id != key_id.strip():
            raise S3Error(
                "InvalidRequest", "The specified KMS KeyID contains unsupported characters"
            )
        key_id = key_id.removeprefix(ARN_PREFIX)
        context: dict[str, str] = {}
        raw_context = headers.get(H_KMS_CONTEXT)
        if raw_context:
            try:
                context = parse_context(base64.b64decode(raw_context, validate=True))
            except (binascii.Error, ValueError):
                raise S3Error(
                    "InvalidArgument", "The SSE-KMS context must be base64-encoded JSON"
                ) from None
        return Requested(Kind.SSE_KMS, kms_key_id=key_id, context=context)
    if s3:
        return SSE_S3
    return NONE


def apply_defaults(
    requested: Requested, rule: EncryptionRule | None, auto_encryption: bool
) -> Requested:
    """A request's own SSE headers win; else the bucket default; else auto-encryption.

    Auto-encryption gives SSE-S3 with the KMS default key, as the guide documents and as AWS
    encrypts by default (current MinIO makes it SSE-KMS with the same key; SSE-S3 keeps ETags
    equal to the content MD5, which sync tools rely on).
    """
    if requested.kind is not Kind.NONE:
        return requested
    if rule is not None:
        if rule.algorithm == AES256:
            return SSE_S3
        return Requested(Kind.SSE_KMS, kms_key_id=rule.kms_key_id)
    if auto_encryption:
        return SSE_S3
    return NONE


def reject_get_headers(headers: Mapping[str, str]) -> None:
    """GET/HEAD must not carry SSE-S3/SSE-KMS request headers (AWS: 400 BadRequest)."""
    if H_SSE in headers or H_KMS_KEY in headers or H_KMS_CONTEXT in headers:
        raise S3Error(
            "BadRequest", "SSE-S3 and SSE-KMS headers are not allowed on reads", status=400
        )


def kind_of(meta: Mapping[str, str]) -> Kind:
    """Which SSE an object (or upload) was stored with, from its metadata."""
    if M_SEALED_KEY_KMS in meta:
        return Kind.SSE_KMS
    if M_SEALED_KEY_S3 in meta:
        return Kind.SSE_S3
    if M_SEALED_KEY_C in meta:
        return Kind.SSE_C
    if any(name.startswith(INTERNAL) for name in meta):
        raise S3Error("InternalError", "The object's encryption metadata is damaged")
    return Kind.NONE


def is_encrypted(meta: Mapping[str, str]) -> bool:
    return kind_of(meta) is not Kind.NONE


def kms_context(bucket: str, key: str, client: Mapping[str, str]) -> dict[str, str]:
    """The associated data of a data key: the client context plus ``{bucket: "bucket/key"}``
    unless the client already used the bucket name as a context key."""
    if not client:
        return {bucket: sealing.object_path(bucket, key)}
    context = dict(client)
    context.setdefault(bucket, sealing.object_path(bucket, key))
    return context


def kms_error(exc: KMSError) -> S3Error:
    if isinstance(exc, KMSKeyNotFoundError):
        return S3Error("KMS.NotFoundException")
    if isinstance(exc, KMSUnavailableError):
        return S3Error("ServiceUnavailable", f"The KMS is unavailable, retry later: {exc}")
    return S3Error("InternalError", f"The KMS failed to process the request: {exc}")


def require_kms(kms: KMS | None) -> KMS:
    if kms is None:
        raise S3Error("NotImplemented", MSG_NO_KMS)
    return kms


@dataclass(slots=True)
class ObjectKey:
    """An unsealed object encryption key and how it was sealed."""

    kind: Kind
    key: SecretBytes = field(repr=False)
    meta: dict[str, str]  # the internal metadata to store
    customer_md5: str = ""  # SSE-C: base64 key MD5 to echo

    def part_key(self, part_number: int) -> SecretBytes:
        return sealing.part_key(self.key, part_number)


async def new_object_key(kms: KMS | None, requested: Requested, bucket: str, key: str) -> ObjectKey:
    """Generate and seal a fresh object key for ``bucket/key``."""
    random = os.urandom(sealing.NEW_KEY_RANDOM)  # one draw: IV, key randomness, seal nonce
    kind = requested.kind
    if kind is Kind.SSE_C:
        assert requested.customer is not None
        object_key, sealed = sealing.new_object_key(
            requested.customer.key, sealing.Domain.SSE_C, bucket, key, random=random
        )
        meta = {
            M_SEAL_ALGORITHM: sealed.algorithm,
            M_IV: _b64(sealed.iv),
            M_SEALED_KEY_C: _b64(sealed.sealed),
        }
        return ObjectKey(Kind.SSE_C, object_key, meta, requested.customer.key_md5)
    kms = require_kms(kms)
    key_id = requested.kms_key_id or kms.default_key
    context = kms_context(bucket, key, requested.context)
    try:
        data_key = await kms.generate_key(key_id, context)
    except KMSError as exc:
        raise kms_error(exc) from None
    object_key, sealed = sealing.new_object_key(
        data_key.plaintext, _DOMAINS[kind], bucket, key, random=random
    )
    meta = {
        M_SEAL_ALGORITHM: sealed.algorithm,
        M_IV: _b64(sealed.iv),
        M_SEALED_KEY_KMS if kind is Kind.SSE_KMS else M_SEALED_KEY_S3: _b64(sealed.sealed),
        M_KMS_KEY_ID: key_id,
        M_KMS_SEALED_DEK: _b64(data_key.ciphertext),
    }
    if kind is Kind.SSE_KMS and requested.context:
        meta[M_CONTEXT] = _b64(canonical_context(requested.context))
    return ObjectKey(kind, object_key, meta)


async def unseal(
    kms: KMS | None,
    meta: Mapping[str, str],
    bucket: str,
    key: str,
    customer: CustomerKey | None,
) -> ObjectKey:
    """Recover the object key of an encrypted object or upload. Raises S3 errors: 400 without
    the SSE-C key it needs, 403 with a wrong one, the KMS's error when it fails."""
    kind = kind_of(meta)
    internal = {k: v for k, v in meta.items() if k.startswith(INTERNAL)}
    try:
        iv = base64.b64decode(meta[M_IV], validate=True)
        algorithm = meta.get(M_SEAL_ALGORITHM, "")
    except (KeyError, binascii.Error, ValueError):
        raise S3Error("InternalError", "The object's encryption metadata is damaged") from None
    if kind is Kind.SSE_C:
        if customer is None:
            raise S3Error("InvalidRequest", MSG_STORED_ENCRYPTED)
        try:
            object_key = sealing.unseal_object_key(
                _unb64(meta[M_SEALED_KEY_C]), customer.key, iv, sealing.Domain.SSE_C, bucket, key,
                algorithm=algorithm,
            )  # fmt: skip
        except sealing.UnsealError:
            raise S3Error("AccessDenied") from None
        return ObjectKey(kind, object_key, internal, customer.key_md5)
    if customer is not None:
        raise S3Error("InvalidRequest", MSG_STORED_ENCRYPTED)
    kms = require_kms(kms)
    client_context = _stored_context(meta)
    context = kms_context(bucket, key, client_context)
    try:
        ciphertext = _unb64(meta[M_KMS_SEALED_DEK])
        key_id = meta[M_KMS_KEY_ID]
    except KeyError:
        raise S3Error("InternalError", "The object's encryption metadata is damaged") from None
    try:
        data_key = await kms.decrypt(key_id, ciphertext, context)
    except KMSDecryptError:
        raise S3Error("InternalError", "The object's data key cannot be decrypted") from None
    except KMSError as exc:
        raise kms_error(exc) from None
    sealed_name = M_SEALED_KEY_KMS if kind is Kind.SSE_KMS else M_SEALED_KEY_S3
    try:
        object_key = sealing.unseal_object_key(
            _unb64(meta[sealed_name]), data_key, iv, kind.domain, bucket, key, algorithm=algorithm
        )
    except sealing.UnsealError:
        raise S3Error("InternalError", "The object key cannot be unsealed") from None
    return ObjectKey(kind, object_key, internal)


def reseal_customer(
    object_key: ObjectKey, meta: Mapping[str, str], new: CustomerKey, bucket: str, key: str
) -> dict[str, str]:
    """SSE-C key rotation: the same object key sealed under a new client key (same IV)."""
    iv = base64.b64decode(meta[M_IV])
    sealed = sealing.seal_object_key(object_key.key, new.key, iv, sealing.Domain.SSE_C, bucket, key)
    out = dict(meta)
    out[M_SEAL_ALGORITHM] = sealing.SEAL_ALGORITHM
    out[M_SEALED_KEY_C] = _b64(sealed)
    return out


def _stored_context(meta: Mapping[str, str]) -> dict[str, str]:
    raw = meta.get(M_CONTEXT)
    if not raw:
        return {}
    try:
        parsed = json.loads(base64.b64decode(raw))
    except (binascii.Error, ValueError):
        raise S3Error("InternalError", "The object's encryption context is damaged") from None
    if not isinstance(parsed, dict):
        raise S3Error("InternalError", "The object's encryption context is damaged")
    return {str(k): str(v) for k, v in parsed.items()}


# -- ETags --


def seal_etag(object_key: ObjectKey, md5: bytes | None) -> str:
    """The stored ETag of an encrypted single-part object or part: sealed, hex.

    SSE-S3 seals the plaintext MD5 (clients see it after unsealing); SSE-C and SSE-KMS seal the
    MD5 when the client sent Content-MD5, else 16 random bytes (MinIO's rule).
    """
    value = md5 if md5 is not None else os.urandom(16)
    return sealing.seal_etag(object_key.key, value).hex()


def client_etag(stored: str, kind: Kind, object_key: ObjectKey | None) -> str:
    """What clients see as the ETag of an object or part."""
    if kind is Kind.NONE or not sealing.is_sealed_etag(stored):
        return stored
    if kind is Kind.SSE_S3:
        if object_key is None:
            raise ValueError("SSE-S3 ETags need the object key")
        try:
            return sealing.decrypt_etag(object_key.key, stored)
        except sealing.UnsealError:
            raise S3Error("InternalError", "The object's ETag cannot be unsealed") from None
    return sealing.format_sealed_etag(stored)


def response_headers(
    object_key: ObjectKey | None, meta: Mapping[str, str]
) -> list[tuple[str, str]]:
    """SSE headers on PUT, UploadPart, GET and HEAD responses."""
    kind = object_key.kind if object_key is not None else kind_of(meta)
    if kind is Kind.SSE_S3:
        return [("x-amz-server-side-encryption", AES256)]
    if kind is Kind.SSE_KMS:
        key_id = meta.get(M_KMS_KEY_ID, "")
        out = [
            ("x-amz-server-side-encryption", AWS_KMS),
            ("x-amz-server-side-encryption-aws-kms-key-id", ARN_PREFIX + key_id),
        ]
        if meta.get(M_CONTEXT):
            out.append(("x-amz-server-side-encryption-context", meta[M_CONTEXT]))
        return out
    if kind is Kind.SSE_C and object_key is not None:
        return [
            ("x-amz-server-side-encryption-customer-algorithm", AES256),
            ("x-amz-server-side-encryption-customer-key-MD5", object_key.customer_md5),
        ]
    return []


# -- checksums of encrypted objects are stored sealed (they are functions of the plaintext) --

SEALED_CHECKSUMS = "sealed"


def seal_checksums(object_key: ObjectKey, checksums: Mapping[str, str]) -> dict[str, str]:
    if not checksums:
        return {}
    blob = json.dumps(dict(checksums), sort_keys=True).encode()
    sealed = dare.encrypt(sealing.checksum_key(object_key.key), blob)
    return {SEALED_CHECKSUMS: sealed.hex()}


def open_checksums(object_key: ObjectKey | None, stored: Mapping[str, str]) -> dict[str, str]:
    if SEALED_CHECKSUMS not in stored:
        return dict(stored)
    if object_key is None:
        return {}
    try:
        blob = dare.decrypt(
            sealing.checksum_key(object_key.key), bytes.fromhex(stored[SEALED_CHECKSUMS])
        )
        parsed = json.loads(blob)
    except (dare.DareError, ValueError):
        raise S3Error("InternalError", "The object's checksums cannot be unsealed") from None
    return {str(k): str(v) for k, v in parsed.items()}


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise S3Error("InternalError", "The object's encryption metadata is damaged") from None
