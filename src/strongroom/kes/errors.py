"""The key server's wire errors: one table of HTTP status and exact text (spec kes.md §5).

KES clients identify an error by the pair (status, message), so the texts here are part of the
wire contract. Two texts use the legacy (SEED) spelling on purpose: every client generation maps
``(400, "key does already exist")`` and ``(403, "prohibited by policy")``, while old clients only
know those. On the wire an error is ``{"message":"<text>"}`` with ``Content-Type:
application/json``.
"""

from __future__ import annotations

import json

__all__ = ["APIError", "error_body"]


class APIError(Exception):
    """An error answer: HTTP ``status`` and the exact ``message`` a client compares."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, APIError):
            return NotImplemented
        return (self.status, self.message) == (other.status, other.message)

    def __hash__(self) -> int:
        return hash((self.status, self.message))

    def __repr__(self) -> str:
        return f"APIError({self.status}, {self.message!r})"


def error_body(message: str) -> bytes:
    """The exact error body KES-HEAD writes: ``{"message":<json string>\\n}``."""
    return b'{"message":' + json.dumps(message).encode() + b"\n}"


# -- the table -------------------------------------------------------------------------------
NOT_ALLOWED = APIError(403, "prohibited by policy")
KEY_EXISTS = APIError(400, "key does already exist")
KEY_NOT_FOUND = APIError(404, "key does not exist")
DECRYPT_FAILED = APIError(400, "decryption failed: ciphertext is not authentic")
POLICY_NOT_FOUND = APIError(404, "policy does not exist")
IDENTITY_NOT_FOUND = APIError(404, "identity does not exist")
HMAC_UNSUPPORTED = APIError(501, "key does not support HMAC")
INVALID_BODY = APIError(400, "invalid request body")
INVALID_IMPORT_BODY = APIError(400, "invalid import key request body")
TOO_MANY_CIPHERTEXTS = APIError(400, "too many ciphertexts")
CERT_REQUIRED = APIError(400, "tls: client certificate is required")
TOO_MANY_CERTS = APIError(400, "tls: received more than one client certificate")
TLS_REQUIRED = APIError(400, "insecure connection: TLS is required")
UNCLEAN_PATH = APIError(400, "invalid request path")
CREATE_FAILED = APIError(502, "failed to create key")
READ_FAILED = APIError(502, "failed to read key")
DELETE_FAILED = APIError(502, "failed to delete key")
LIST_FAILED = APIError(502, "failed to list keys")
STORE_UNREACHABLE = APIError(504, "key store is not reachable")
STORE_UNAVAILABLE = APIError(502, "key store is unavailable")
GENERATE_FAILED = APIError(500, "failed to generate encryption key")
ENCRYPT_FAILED = APIError(500, "failed to encrypt plaintext")
VERSION_FAILED = APIError(500, "failed to read server version")
TIMEOUT = APIError(503, "request timed out")


def invalid_key_name(name: str) -> APIError:
    return APIError(400, f"key name '{name}' is empty, too long or contains invalid characters")


def invalid_pattern(pattern: str) -> APIError:
    return APIError(400, f"listing pattern '{pattern}' is empty, too long or is invalid")


def invalid_policy_name(name: str) -> APIError:
    return APIError(400, f"policy name '{name}' is empty, too long or contains invalid characters")


def invalid_identity(identity: str) -> APIError:
    return APIError(400, f"identity '{identity}' is empty, too long or contains invalid characters")


def method_not_allowed(got: str, want: str) -> APIError:
    return APIError(405, f"received method '{got}' expected '{want}'")


def cipher_not_supported(cipher: str) -> APIError:
    return APIError(406, f"algorithm '{cipher}' is not supported")


def invalid_key_size(cipher: str) -> APIError:
    return APIError(406, f"invalid key size for '{cipher}'")
