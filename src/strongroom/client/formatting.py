"""Text shapes shared by the commands: sizes, dates and header names as mc prints them."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["canonical_header", "human_size", "iso_date", "text_date"]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(size: int, *, sep: str = " ") -> str:
    """IEC units like go-humanize's ``IBytes``: ``5 B``, ``1.5 KiB``, ``12 MiB``."""
    if size < 1024:
        return f"{size}{sep}B"
    value = float(size)
    unit = 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    number = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return f"{number}{sep}{_UNITS[unit]}"


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def text_date(when: datetime | None) -> str:
    return "" if when is None else _utc(when).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_date(when: datetime | None) -> str | None:
    return None if when is None else _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_header(name: str) -> str:
    """``x-amz-server-side-encryption`` -> ``X-Amz-Server-Side-Encryption`` (Go's form)."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))
