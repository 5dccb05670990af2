"""Prometheus metrics of the key server (spec kes.md §12), rendered in the text format 0.0.4.

Names and types follow KES-HEAD so that dashboards and ``kes metric``/kms-go keep working.
Families without samples are omitted: kms-go rejects a family that has a ``# TYPE`` line but no
sample (which is what ``prometheus_client`` prints for a labelled counter with no children).
The counters are plain integers updated on the event loop thread: no locks on the request path.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections import Counter
from collections.abc import Callable

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 3.0, 5.0, 10.0)


def _num(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class Metrics:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self.success: Counter[int] = Counter()
        self.error: Counter[int] = Counter()
        self.failure: Counter[int] = Counter()
        self.active = 0
        self._bucket_counts = [0] * len(BUCKETS)
        self._time_sum = 0.0
        self._time_count = 0
        self.log_error_events = 0
        self.log_audit_events = 0

    # -- recording -------------------------------------------------------------------------
    def observe(self, status: int, seconds: float) -> None:
        if status < 400:
            self.success[status] += 1
        elif status < 500:
            self.error[status] += 1
        else:
            self.failure[status] += 1
        self._time_sum += seconds
        self._time_count += 1
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self._bucket_counts[i] += 1
                break

    def audit_delivered(self, n: int) -> None:
        self.log_audit_events += n

    def error_delivered(self, n: int) -> None:
        self.log_error_events += n

    # -- exposition ------------------------------------------------------------------------
    def render(self) -> bytes:
        out: list[str] = []

        def family(name: str, kind: str, help_: str, samples: list[str]) -> None:
            if samples:
                out.append(f"# HELP {name} {help_}")
                out.append(f"# TYPE {name} {kind}")
                out.extend(samples)

        for name, counter, help_ in (
            ("kes_http_request_success", self.success, "Number of successful requests."),
            ("kes_http_request_error", self.error, "Number of failed requests (4xx)."),
            ("kes_http_request_failure", self.failure, "Number of failed requests (5xx)."),
        ):
            family(
                name,
                "counter",
                help_,
                [f'{name}{{code="{code}"}} {n}' for code, n in sorted(counter.items())],
            )
        family(
            "kes_http_request_active",
            "gauge",
            "Number of active requests.",
            [f"kes_http_request_active {self.active}"],
        )
        hist: list[str] = []
        cumulative = 0
        for bound, count in zip(BUCKETS, self._bucket_counts, strict=True):
            cumulative += count
            hist.append(f'kes_http_response_time_bucket{{le="{_num(bound)}"}} {cumulative}')
        hist.append(f'kes_http_response_time_bucket{{le="+Inf"}} {self._time_count}')
        hist.append(f"kes_http_response_time_sum {self._time_sum!r}")
        hist.append(f"kes_http_response_time_count {self._time_count}")
        family("kes_http_response_time", "histogram", "Response time of requests (seconds).", hist)
        family(
            "kes_log_error_events",
            "counter",
            "Number of error log events written to subscribers.",
            [f"kes_log_error_events {self.log_error_events}"],
        )
        family(
            "kes_log_audit_events",
            "counter",
            "Number of audit log events written to subscribers.",
            [f"kes_log_audit_events {self.log_audit_events}"],
        )
        uptime = round(self._clock() - self._started, 2)
        family(
            "kes_system_up_time",
            "gauge",
            "Time the server has been up (seconds).",
            [f"kes_system_up_time {uptime!r}"],
        )
        family(
            "kes_system_num_cpu",
            "gauge",
            "Number of logical CPUs.",
            [f"kes_system_num_cpu {os.cpu_count() or 1}"],
        )
        family(
            "kes_system_num_cpu_used",
            "gauge",
            "Number of CPUs the process may use.",
            [f"kes_system_num_cpu_used {num_cpu_used()}"],
        )
        family(
            "kes_system_num_threads",
            "gauge",
            "Number of threads.",
            [f"kes_system_num_threads {threading.active_count()}"],
        )
        family(
            "kes_system_mem_heap_used",
            "gauge",
            "Resident memory of the process (bytes).",
            [f"kes_system_mem_heap_used {rss_bytes()}"],
        )
        return ("\n".join(out) + "\n").encode()


def num_cpu_used() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def rss_bytes() -> int:
    """Current resident set size (from /proc), else the peak from getrusage."""
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
