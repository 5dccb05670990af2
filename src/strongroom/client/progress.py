"""Transfer progress: a rich bar with size and speed on a terminal, nothing otherwise.

boto3 calls ``advance`` from its worker threads; rich's ``Progress`` takes a lock per update.
"""

from __future__ import annotations

from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

__all__ = ["NullProgress", "ProgressSink", "RichProgress", "make_progress"]


class ProgressSink(Protocol):
    def start(self, total: int, count: int) -> None: ...
    def begin(self, name: str) -> None: ...
    def advance(self, amount: int) -> None: ...
    def finish(self) -> None: ...


class NullProgress:
    def start(self, total: int, count: int) -> None:
        pass

    def begin(self, name: str) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass

    def finish(self) -> None:
        pass


class RichProgress:
    """One bar for the whole command (all files of a recursive copy), like mc's."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}", justify="left"),
            DownloadColumn(binary_units=True),
            BarColumn(bar_width=None),
            TaskProgressColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def start(self, total: int, count: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task("", total=total or None)

    def begin(self, name: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, description=name)

    def advance(self, amount: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def finish(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[0]
            if task.total is None:
                self._progress.update(self._task, total=task.completed)
        self._progress.stop()


def make_progress(enabled: bool, console: Console | None = None) -> ProgressSink:
    """A bar when ``enabled`` and the console is a terminal; otherwise a no-op."""
    console = console or Console()
    if enabled and console.is_terminal:
        return RichProgress(console)
    return NullProgress()
