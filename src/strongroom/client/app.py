"""What every client command shares: the alias store, S3 connections, output and errors.

The click modules (``strongroom.cli.client`` and ``strongroom.cli.admin``) stay thin: they
build an :class:`App` from their common options, call the library, and print through it.
``--json`` prints one JSON object per line (mc's shape, ``"status": "success"|"error"``),
errors included, on stdout; text errors go to stderr. Exit codes: see ``errors``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from strongroom.client.aliases import Alias, AliasStore
from strongroom.client.connection import Connections
from strongroom.client.errors import ClientError, UsageError
from strongroom.client.paths import RemotePath, Target, parse_target

__all__ = ["App", "run"]

T = TypeVar("T")


class App:
    def __init__(
        self, *, json_output: bool = False, config_dir: Path | None = None, insecure: bool = False
    ) -> None:
        self.json = json_output
        self.store = AliasStore(config_dir)
        self.insecure = insecure

    @cached_property
    def aliases(self) -> dict[str, Alias]:
        aliases = self.store.load()
        if self.insecure:
            aliases = {n: dataclasses.replace(a, insecure=True) for n, a in aliases.items()}
        return aliases

    @cached_property
    def conns(self) -> Connections:
        return Connections(self.aliases)

    def target(self, text: str) -> Target:
        return parse_target(text, self.aliases)

    def remote(self, text: str) -> RemotePath:
        target = self.target(text)
        if not isinstance(target, RemotePath):
            head = text.split("/", 1)[0]
            raise UsageError(
                f"`{text}` is not a remote path: no alias `{head}` "
                "(add one with `strongroom alias set`)"
            )
        return target

    def close(self) -> None:
        if "conns" in self.__dict__:
            self.conns.close()

    # -- output --------------------------------------------------------------------------------

    def emit(self, value: dict[str, Any], text: str | Iterable[str] | None) -> None:
        """Print one result: ``value`` as a JSON line, or ``text`` (lines) otherwise."""
        if self.json:
            click.echo(json.dumps(value, default=str))
        elif text is not None:
            click.echo(text if isinstance(text, str) else "\n".join(text))

    def fail(self, exc: ClientError) -> NoReturn:
        if self.json:
            click.echo(json.dumps(exc.to_json()))
        else:
            click.echo(f"strongroom: <ERROR> {exc}", err=True)
        raise click.exceptions.Exit(exc.exit_code)


def run(app: App, body: Callable[[], T]) -> T:
    """Run a command body; a :class:`ClientError` becomes its message and exit code."""
    try:
        return body()
    except ClientError as exc:
        app.fail(exc)
    except KeyboardInterrupt:
        click.echo("strongroom: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # the reader went away (`strongroom cat ... | head`): stop quietly, as SIGPIPE would
        devnull = os.open(os.devnull, os.O_WRONLY)
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)
    finally:
        app.close()
