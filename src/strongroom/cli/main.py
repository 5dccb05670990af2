"""The `strongroom` command: one entry point, command groups loaded on first use.

Each role keeps its commands in its own module (``strongroom.cli.<module>``) exposing a click
command or group named ``cli``. Loading lazily keeps ``strongroom --help`` fast and lets a role's
heavy imports (TLS, crypto) stay out of the others.
"""

from __future__ import annotations

import importlib

import click

# command name -> (module under strongroom.cli, short help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "server": ("server", "Run the S3 object server on a directory."),
    "kes": ("kes", "Run or talk to the KES-compatible key server."),
    "vault": ("vault", "Provision an OpenBao/Vault central key store."),
    "alias": ("client", "Manage S3 server aliases."),
    "admin": ("admin", "Administer an object server (KMS status and keys)."),
    "stack": ("stack", "Run the whole secure stack on one machine."),
}
# client commands that live in strongroom.cli.client, keyed by name
_CLIENT_COMMANDS = ("mb", "rb", "ls", "cp", "cat", "rm", "stat")


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(_COMMANDS) | set(_CLIENT_COMMANDS)
        return sorted(n for n in names if self._load(n) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(name: str) -> click.Command | None:
        if name in _COMMANDS:
            module_name, attr = _COMMANDS[name][0], "cli"
            if name == "alias":
                attr = "alias"
        elif name in _CLIENT_COMMANDS:
            module_name, attr = "client", name
        else:
            return None
        try:
            module = importlib.import_module(f"strongroom.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"strongroom.cli.{module_name}":
                return None
            raise
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="strongroom")
def cli() -> None:
    """Strongroom: encrypted S3 object storage with its own key management."""


def main() -> None:
    cli()
