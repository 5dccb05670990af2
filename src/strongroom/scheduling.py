"""Linux scheduling policy of a server thread, chosen by its load.

A thread that serves requests arriving in batches (a key server answering an object server's
pipelined data-key calls, a metadata writer committing queued writes) works best as
``SCHED_BATCH`` while the load lasts: when the sender wakes it, it does not preempt the sender,
which goes on queueing work until it waits or its time slice ends; the woken thread then finds
a bigger batch. One request at a time wants the default ``SCHED_OTHER``: its caller is waiting
and nothing else would come. The policy applies to the calling thread only; elsewhere than
Linux every call is a no-op.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["AdaptivePolicy", "set_batch_policy"]


def set_batch_policy(batch: bool) -> None:
    """``SCHED_BATCH`` (True) or ``SCHED_OTHER`` (False) for the calling thread, if possible."""
    policy = getattr(os, "SCHED_BATCH" if batch else "SCHED_OTHER", None)
    if policy is not None:
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, policy, os.sched_param(0))


class AdaptivePolicy:
    """``SCHED_BATCH`` from the first sign of concurrent load until ``hold`` seconds without one.

    Call :meth:`busy` when concurrent requests are seen and :meth:`settle` when work is done;
    only changes of policy make a system call. All calls must come from the one thread the
    policy is for.
    """

    def __init__(self, hold: float = 0.25) -> None:
        self.hold = hold
        self.batch = False
        self._last_busy = float("-inf")

    def busy(self, now: float) -> None:
        self._last_busy = now
        if not self.batch:
            self.batch = True
            set_batch_policy(True)

    def settle(self, now: float) -> None:
        if self.batch and now - self._last_busy > self.hold:
            self.batch = False
            set_batch_policy(False)
