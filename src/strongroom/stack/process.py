"""Background processes with pid files and logs, and the checks around them.

A process is "ours" when its pid file names a live process whose command line contains the
service's marker (an absolute path under the stack directory): a stale pid file, or a pid the
system has since given to another program, is never signalled.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from strongroom.stack.errors import StackError
from strongroom.stack.layout import Layout

__all__ = [
    "Service",
    "check_ports_free",
    "log_tail",
    "port_in_use",
    "running_pid",
    "spawn",
    "stop",
]


@dataclass(frozen=True, slots=True)
class Service:
    name: str  # pid and log file stem
    title: str  # for messages
    argv: Sequence[str]
    cwd: Path
    marker: str  # appears in the process's command line
    env: Mapping[str, str] = field(default_factory=dict, repr=False)


def _alive(pid: int) -> bool:
    """True for a live process (a zombie, exited but not reaped, is not alive)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # "pid (comm) state ...": comm may contain spaces and parentheses
    state = stat.rsplit(")", 1)[-1].split()[:1]
    return state != ["Z"]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def running_pid(layout: Layout, name: str, marker: str) -> int | None:
    """The pid of the service's live process, or None (removing a stale pid file)."""
    path = layout.pid_file(name)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if pid > 0 and _alive(pid) and (not os.path.isdir("/proc") or marker in _cmdline(pid)):
        return pid
    with contextlib.suppress(OSError):
        path.unlink()
    return None


def spawn(layout: Layout, service: Service) -> subprocess.Popen[bytes]:
    """Start the service in its own session (it outlives this command), output to its log."""
    layout.run.mkdir(parents=True, exist_ok=True)
    layout.logs.mkdir(parents=True, exist_ok=True)
    log_path = layout.log_file(service.name)
    with log_path.open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting {service.title}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                list(service.argv),
                cwd=service.cwd,
                env=dict(service.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise StackError(f"cannot start {service.title} ({service.argv[0]}): {exc}") from None
    layout.pid_file(service.name).write_text(f"{proc.pid}\n")
    return proc


def stop(layout: Layout, name: str, marker: str, timeout: float = 20.0) -> int | None:
    """SIGTERM the service and wait for it to exit (SIGKILL after ``timeout``).
    Returns the pid that was stopped, or None when it was not running."""
    pid = running_pid(layout, name, marker)
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_gone(pid, 5.0)
    with contextlib.suppress(OSError):
        layout.pid_file(name).unlink()
    return pid


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        # reap it if it is our child (it is when this same command started it)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise
    return False


def check_ports_free(ports: Sequence[tuple[str, int, str]]) -> None:
    """Raise StackError naming the first port some other program listens on."""
    seen: set[int] = set()
    for what, port, option in ports:
        if not 0 < port < 65536:
            raise StackError(f"{what} port {port} is out of range ({option})")
        if port in seen:
            raise StackError(f"port {port} is given to two services; change {option}")
        seen.add(port)
        if port_in_use(port):
            raise StackError(
                f"port {port} ({what}) is in use by another program: stop it or choose another "
                f"port with {option}"
            )


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
