"""Client errors: each carries the exit code the CLI returns and, for server errors, the S3 code.

::

    ClientError                 exit 1  any failure (an S3 error not listed below, local I/O)
     ├── UsageError             exit 2  bad argument, unknown alias, refused without --force
     ├── NotFoundError          exit 3  NoSuchBucket, NoSuchKey, a missing local file
     ├── AccessError            exit 4  AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch
     └── ConnectionFailed       exit 5  cannot connect, TLS failure, timeout

Click's own usage errors also exit 2. Messages never contain secrets: the path, the S3 code,
the server's message and the HTTP status, nothing from the request headers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = [
    "AccessError",
    "ClientError",
    "ConnectionFailed",
    "NotFoundError",
    "UsageError",
    "from_botocore",
    "translate",
]

_NOT_FOUND_CODES = frozenset(
    {"NoSuchBucket", "NoSuchKey", "NoSuchUpload", "NotFound", "404", "kms:KeyNotFound"}
)
_ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "RequestTimeTooSkewed",
        "403",
    }
)
# HEAD responses have no body: botocore reports the status as the code.
_STATUS_TEXT = {
    "400": ("BadRequest", "Bad Request"),
    "403": ("AccessDenied", "Forbidden"),
    "404": ("NotFound", "Not Found"),
    "405": ("MethodNotAllowed", "Method Not Allowed"),
    "500": ("InternalError", "Internal Server Error"),
    "501": ("NotImplemented", "Not Implemented"),
    "503": ("ServiceUnavailable", "Service Unavailable"),
}


class ClientError(Exception):
    """A failed client operation; ``str()`` is the message shown to the user."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        target: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.target = target
        self.detail = detail  # the server's own message, when there is one

    def __str__(self) -> str:
        text = self.message
        if self.code:
            detail = self.code if self.status is None else f"{self.code}, HTTP {self.status}"
            text = f"{text} ({detail})"
        return text

    def to_json(self) -> dict[str, Any]:
        """mc's error shape (``message``, ``type``, ``cause``) plus ``code`` and ``httpStatus``."""
        error: dict[str, Any] = {"message": self.message, "type": "error"}
        if self.code:
            error["code"] = self.code
        if self.status is not None:
            error["httpStatus"] = self.status
        if self.target:
            error["target"] = self.target
        cause: dict[str, Any] = {"message": self.detail or self.message}
        if self.code:
            cause["error"] = {
                "Code": self.code,
                "Message": self.detail or "",
                "StatusCode": self.status,
            }
        error["cause"] = cause
        return {"status": "error", "error": error}


class UsageError(ClientError):
    exit_code = 2


class NotFoundError(ClientError):
    exit_code = 3


class AccessError(ClientError):
    exit_code = 4


class ConnectionFailed(ClientError):
    exit_code = 5


def error_for_code(
    code: str,
    message: str,
    *,
    status: int | None = None,
    target: str | None = None,
    detail: str | None = None,
) -> ClientError:
    """The exception class for an S3 (or admin API) error code."""
    cls: type[ClientError] = ClientError
    if code in _NOT_FOUND_CODES:
        cls = NotFoundError
    elif code in _ACCESS_CODES:
        cls = AccessError
    return cls(message, code=code, status=status, target=target, detail=detail)


def from_botocore(exc: Exception, action: str, target: str) -> ClientError:
    """Translate a botocore exception into a :class:`ClientError` for ``action target``."""
    from botocore import exceptions as bex  # type: ignore[import-untyped]

    where = f"{action} `{target}`"
    if isinstance(exc, bex.ClientError):
        response: dict[str, Any] = exc.response
        error = response.get("Error", {})
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(error.get("Code") or status or "Unknown")
        message = str(error.get("Message") or "")
        if code in _STATUS_TEXT:
            code, default = _STATUS_TEXT[code]
            message = message or default
        return error_for_code(
            code,
            f"{where}: {message or 'request failed'}",
            status=status,
            target=target,
            detail=message or None,
        )
    if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
        return UsageError(f"{where}: no credentials", target=target)
    if isinstance(exc, bex.SSLError):
        return ConnectionFailed(f"{where}: TLS failure: {exc}", target=target)
    if isinstance(exc, bex.EndpointConnectionError | bex.ConnectionError | bex.ConnectTimeoutError):
        return ConnectionFailed(f"{where}: {exc}", target=target)
    if isinstance(exc, bex.ReadTimeoutError):
        return ConnectionFailed(f"{where}: timed out: {exc}", target=target)
    if isinstance(exc, bex.ParamValidationError):
        return UsageError(f"{where}: {exc}", target=target)
    return ClientError(f"{where}: {exc}", target=target)


@contextlib.contextmanager
def translate(action: str, target: str) -> Iterator[None]:
    """Turn botocore/boto3 failures inside the block into :class:`ClientError`."""
    try:
        yield
    except (ClientError, BrokenPipeError):
        raise
    except Exception as exc:
        cause = _botocore_cause(exc)
        if cause is None:
            if isinstance(exc, OSError):
                raise _from_os_error(exc, target) from None
            raise
        raise from_botocore(cause, action, target) from None


def _botocore_cause(exc: BaseException) -> Exception | None:
    """The botocore exception behind ``exc`` (boto3 wraps some in its own errors)."""
    from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]
    from botocore.exceptions import ClientError as BotoClientError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, BotoCoreError | BotoClientError):
            return seen  # type: ignore[no-any-return]
        seen = seen.__cause__ or seen.__context__
    return None


def _from_os_error(exc: OSError, target: str) -> ClientError:
    text = f"`{exc.filename or target}`: {exc.strerror or exc}"
    if isinstance(exc, FileNotFoundError):
        return NotFoundError(text, target=target)
    if isinstance(exc, PermissionError):
        return AccessError(text, target=target)
    return ClientError(text, target=target)
