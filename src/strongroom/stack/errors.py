"""The stack's one exception: its message says what went wrong and what to do."""

from __future__ import annotations

__all__ = ["StackError"]


class StackError(Exception):
    """``stack up`` or ``stack down`` cannot proceed (a port in use, ``bao`` missing, a
    service that did not start: the message includes the end of its log)."""
