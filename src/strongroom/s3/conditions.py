"""Conditional requests (If-Match and friends) and byte ranges, as S3 evaluates them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from strongroom.s3.errors import S3Error

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _etag_matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == "*" or candidate.strip('"') == etag:
            return True
    return False


def _http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def evaluate(
    headers: Mapping[str, str], etag: str, mtime: float, *, prefix: str = "", read: bool = True
) -> None:
    """Raise PreconditionFailed (412) or NotModified (304) as S3 does.

    ``prefix`` is ``"x-amz-copy-source-"`` for a copy source, where every failure is a 412.
    ``read`` is False for writes (conditional PUT), where If-None-Match failing is a 412.
    """
    modified = int(mtime)
    if_match = headers.get(prefix + "if-match")
    if_unmodified = headers.get(prefix + "if-unmodified-since")
    if_none_match = headers.get(prefix + "if-none-match")
    if_modified = headers.get(prefix + "if-modified-since")
    not_modified = "NotModified" if (read and not prefix) else "PreconditionFailed"

    if if_match is not None:
        if not _etag_matches(if_match, etag):
            raise S3Error("PreconditionFailed", headers=_condition_header("If-Match"))
    elif if_unmodified is not None:
        since = _http_date(if_unmodified)
        if since is not None and modified > since:
            raise S3Error("PreconditionFailed", headers=_condition_header("If-Unmodified-Since"))

    if if_none_match is not None:
        if _etag_matches(if_none_match, etag):
            raise S3Error(not_modified)
    elif if_modified is not None:
        since = _http_date(if_modified)
        if since is not None and modified <= since:
            raise S3Error(not_modified)


def _condition_header(name: str) -> dict[str, str]:
    return {"x-strongroom-condition": name}


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return the inclusive (first, last) byte range, None for the whole object.

    Malformed or multi-range headers are ignored, as S3 does; an unsatisfiable range raises
    InvalidRange (416).
    """
    if not header:
        return None
    match = _RANGE_RE.match(header.strip())
    if match is None:
        return None
    first_s, last_s = match.groups()
    if not first_s and not last_s:
        return None
    if not first_s:
        suffix = int(last_s)
        if suffix == 0:
            raise S3Error("InvalidRange", headers={"Content-Range": f"bytes */{size}"})
        return (max(size - suffix, 0), size - 1) if size else _unsatisfiable(size)
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if last_s and last < first:
        return None
    if first >= size:
        return _unsatisfiable(size)
    return first, min(last, size - 1)


def _unsatisfiable(size: int) -> tuple[int, int]:
    raise S3Error("InvalidRange", headers={"Content-Range": f"bytes */{size}"})


def parse_copy_range(header: str, size: int) -> tuple[int, int]:
    """x-amz-copy-source-range: strict, must be bytes=first-last within the source."""
    match = _RANGE_RE.match(header.strip())
    if match is None or not match.group(1) or not match.group(2):
        raise S3Error("InvalidArgument", "Range specified is not valid for source object")
    first, last = int(match.group(1)), int(match.group(2))
    if first > last or last >= size:
        raise S3Error(
            "InvalidRange",
            "The requested range is not satisfiable",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return first, last
