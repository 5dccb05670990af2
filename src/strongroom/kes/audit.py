"""Audit and error logs of the key server, and their live streams (spec kes.md §4.7, §13).

* Audit: one JSON event per request, after its status is known::

      {"time":"<RFC 3339, ns>","request":{"ip":"…","path":"…","identity":"…"},
       "response":{"code":<status>,"time":<nanoseconds>}}

  written to stdout when enabled and to every ``/v1/log/audit`` subscriber. The response time is
  in nanoseconds: that is what kms-go's ``AuditStream`` decodes (a Go ``time.Duration``).
* Error: the server's log records (logger ``strongroom.kes``) as text lines on stderr when
  enabled, and as ``{"message":"<line>"}`` to every ``/v1/log/error`` subscriber.

Subscribers get a bounded queue; a subscriber that cannot keep up loses events rather than
slowing down requests. No history is replayed. Events never contain key material: handlers only
ever pass names, identities, paths and statuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TextIO

__all__ = ["AuditLog", "ErrorLog", "Stream", "format_time_ns"]

_QUEUE_SIZE = 1024


def format_time_ns(ns: int) -> str:
    """RFC 3339 in UTC with nanoseconds and trailing zeros trimmed (Go's ``RFC3339Nano``)."""
    seconds, frac = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += f".{frac:09d}".rstrip("0")
    return text + "Z"


class Stream:
    """Fan-out of encoded lines to live subscribers."""

    def __init__(self, on_delivered: Callable[[int], None] | None = None) -> None:
        self._queues: set[asyncio.Queue[bytes | None]] = set()
        self._on_delivered = on_delivered

    @property
    def active(self) -> bool:
        return bool(self._queues)

    def publish(self, line: bytes) -> None:
        delivered = 0
        for queue in self._queues:
            try:
                queue.put_nowait(line)
                delivered += 1
            except asyncio.QueueFull:
                pass
        if delivered and self._on_delivered is not None:
            self._on_delivered(delivered)

    def subscribe(self) -> AsyncIterator[bytes]:
        """Register a subscriber now and return its lines (each ending in ``\\n``); the
        iterator ends on ``close()`` and unregisters when closed or garbage collected."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(_QUEUE_SIZE)
        self._queues.add(queue)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
        try:
            while True:
                line = await queue.get()
                if line is None:
                    return
                yield line
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)


class AuditLog:
    """Writes one audit event per request to stdout (if enabled) and to subscribers."""

    def __init__(
        self,
        *,
        to_stdout: bool = False,
        out: TextIO | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        on_delivered: Callable[[int], None] | None = None,
    ) -> None:
        self.to_stdout = to_stdout
        self._out = out
        self._clock_ns = clock_ns
        self.stream = Stream(on_delivered)

    @property
    def enabled(self) -> bool:
        return self.to_stdout or self.stream.active

    def event(self, *, identity: str, path: str, ip: str, status: int, duration_ns: int) -> bytes:
        doc = {
            "time": format_time_ns(self._clock_ns()),
            "request": {"ip": ip, "path": path, "identity": identity},
            "response": {"code": status, "time": duration_ns},
        }
        return json.dumps(doc, separators=(",", ":")).encode() + b"\n"

    def log(self, *, identity: str, path: str, ip: str, status: int, duration_ns: int) -> None:
        if not self.enabled:
            return
        line = self.event(
            identity=identity, path=path, ip=ip, status=status, duration_ns=duration_ns
        )
        if self.to_stdout:
            out = self._out or sys.stdout
            out.write(line.decode())
            out.flush()
        self.stream.publish(line)


class ErrorLog(logging.Handler):
    """A logging handler that feeds ``/v1/log/error`` subscribers (and optionally stderr)."""

    def __init__(
        self,
        *,
        to_stderr: bool = True,
        err: TextIO | None = None,
        on_delivered: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(logging.INFO)
        self.to_stderr = to_stderr
        self._err = err
        self.stream = Stream(on_delivered)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record).rstrip("\n")
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)
            return
        if self.to_stderr:
            err = self._err or sys.stderr
            err.write(line + "\n")
            err.flush()
        if self.stream.active:
            self.stream.publish(
                json.dumps({"message": line}, separators=(",", ":")).encode() + b"\n"
            )
