"""`stack up`, `stack down`, `stack status`: the whole guide on one machine.

``up`` runs, in order: certificates -> OpenBao (start, init once, unseal, provision once) ->
key server (config, start, master key) -> object server (HTTPS, auto-encryption) -> client
alias. If a step fails, the processes this run started are stopped again and the error says
which step and shows the end of that process's log. Every process runs in its own session
with a pid file and a log under the stack directory, so it outlives the command.

``up`` on a directory whose stack is running restarts it; on a stopped one it starts it again
with everything kept (data, keys in OpenBao, certificates, credentials). ``down`` stops the
object server, the key server, then OpenBao (SIGTERM, then wait; SIGKILL after 20 s).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strongroom.stack import certs, keyserver, objectserver, openbao
from strongroom.stack.errors import StackError
from strongroom.stack.files import read_json, write_json
from strongroom.stack.layout import SERVICES, Layout, Ports
from strongroom.stack.process import check_ports_free, running_pid, spawn, stop
from strongroom.vault import provision
from strongroom.vault.client import VaultError

__all__ = ["ServiceState", "StackInfo", "down", "status", "up"]

Report = Callable[[str], None]

_TITLES = {"openbao": "OpenBao", "kes": "key server", "s3": "object server"}


def _markers(layout: Layout) -> dict[str, str]:
    return {
        "openbao": str(layout.vault_config),
        "kes": f"--config={layout.kes_config}",
        "s3": str(layout.data),
    }


@dataclass(frozen=True, slots=True)
class ServiceState:
    name: str
    title: str
    url: str
    pid: int | None
    log: Path


@dataclass(frozen=True, slots=True)
class StackInfo:
    """What runs where, for printing (no secret in here but the file names)."""

    root: Path
    ports: Ports
    services: tuple[ServiceState, ...]
    access_key: str
    alias: str | None
    alias_note: str = ""
    created: tuple[str, ...] = ()
    restarted: bool = False
    initialised: bool = False
    key_created: bool = False
    identity: str = ""
    steps: tuple[str, ...] = ()

    @property
    def layout(self) -> Layout:
        return Layout(self.root)

    @property
    def s3_url(self) -> str:
        return objectserver.url(self.ports)

    def to_json(self) -> dict[str, Any]:
        layout = self.layout
        return {
            "dir": str(self.root),
            "services": {
                s.name: {"title": s.title, "url": s.url, "pid": s.pid, "log": str(s.log)}
                for s in self.services
            },
            "ports": {"s3": self.ports.s3, "kes": self.ports.kes, "vault": self.ports.vault},
            "ca": str(layout.ca_cert),
            "credentials": str(layout.credentials),
            "credentials_env": str(layout.credentials_env),
            "access_key": self.access_key,
            "vault_init": str(layout.vault_init),
            "kes_config": str(layout.kes_config),
            "identity": self.identity,
            "key_name": keyserver.KEY_NAME,
            "alias": self.alias,
            "alias_note": self.alias_note,
            "restarted": self.restarted,
            "initialised": self.initialised,
            "key_created": self.key_created,
            "created": list(self.created),
        }


@contextlib.contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    """One `stack up/down` at a time per directory."""
    layout.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackError(
                f"another `strongroom stack` command is working on {layout.root}"
            ) from None
        yield
    finally:
        os.close(fd)


def _stop_all(layout: Layout, report: Report) -> list[tuple[str, int]]:
    stopped: list[tuple[str, int]] = []
    markers = _markers(layout)
    for name in reversed(SERVICES):
        pid = stop(layout, name, markers[name])
        if pid is not None:
            title = _TITLES[name]
            report(f"stopped {title if name == 'openbao' else 'the ' + title} (pid {pid})")
            stopped.append((_TITLES[name], pid))
    return stopped


def _set_alias(name: str, layout: Layout, ports: Ports, creds: objectserver.Credentials) -> str:
    """Set the client alias with the client library; a note when that is not possible."""
    try:
        from strongroom.client.aliases import Alias, AliasStore
        from strongroom.client.errors import ClientError
    except ImportError:
        return "the client library is not installed: no alias set"
    try:
        store = AliasStore()
        store.set(
            Alias(
                name=name,
                url=objectserver.url(ports),
                access_key=creds.access_key,
                secret_key=creds.secret_key,
                ca=str(layout.ca_cert),
            )
        )
    except (ClientError, OSError) as exc:
        return f"could not set the alias {name}: {exc}"
    return f"alias {name} set in {store.path}"


def up(
    root: Path,
    ports: Ports = Ports(),  # noqa: B008 - frozen, immutable default
    *,
    bao: str | None = None,
    alias: str | None = "stack",
    workers: int = 1,
    report: Report = lambda _line: None,
) -> StackInfo:
    """Start (or restart) the stack in ``root``; see the module docstring."""
    layout = Layout(root.expanduser().resolve())
    with _locked(layout):
        binary = openbao.find_bao(bao)
        restarted = bool(_stop_all(layout, report))
        check_ports_free(ports.named())
        for d in (layout.vault_dir, layout.kes_dir, layout.data, layout.run, layout.logs):
            d.mkdir(parents=True, exist_ok=True)
        layout.secrets.mkdir(mode=0o700, parents=True, exist_ok=True)

        created = certs.ensure_certificates(layout)
        if created:
            report(f"certificates: created {', '.join(created)} in {layout.certs}")
        identity = certs.identity(layout)
        creds = objectserver.ensure_credentials(layout)
        objectserver.write_credentials(layout, ports, creds)

        started: list[str] = []
        steps: list[str] = []
        try:
            openbao.write_config(layout, ports)
            proc = spawn(layout, openbao.service(layout, binary))
            started.append("openbao")
            seal = openbao.wait_answering(layout, ports, proc)
            initialised = openbao.initialise(layout, ports, seal)
            if initialised:
                report(f"OpenBao initialised; unseal shares and root token in {layout.vault_init}")
            openbao.unseal(layout, ports)
            report(f"OpenBao is unsealed at https://127.0.0.1:{ports.vault}")
            approle, steps = openbao.provision_store(layout, ports)
            for step in steps:
                report(f"OpenBao: {step}")

            keyserver.write_config(layout, ports, approle, identity)
            proc = spawn(layout, keyserver.service(layout))
            started.append("kes")
            keyserver.wait_ready(layout, ports, proc)
            key_created = keyserver.create_master_key(layout, ports)
            report(
                f"key server at https://127.0.0.1:{ports.kes}; master key {keyserver.KEY_NAME} "
                + ("created" if key_created else "exists")
            )

            proc = spawn(layout, objectserver.service(layout, ports, creds, workers))
            started.append("s3")
            objectserver.wait_ready(layout, ports, proc)
        except BaseException as exc:
            markers = _markers(layout)
            for name in reversed(started):
                stop(layout, name, markers[name])
            if isinstance(exc, VaultError | provision.ProvisionError):
                raise StackError(f"OpenBao: {exc}") from None
            raise

        alias_note = _set_alias(alias, layout, ports, creds) if alias else ""
        write_json(
            layout.state,
            {"ports": {"s3": ports.s3, "kes": ports.kes, "vault": ports.vault}, "alias": alias},
        )
        return StackInfo(
            root=layout.root,
            ports=ports,
            services=_states(layout, ports),
            access_key=creds.access_key,
            alias=alias,
            alias_note=alias_note,
            created=tuple(created),
            restarted=restarted,
            initialised=initialised,
            key_created=key_created,
            identity=identity,
            steps=tuple(steps),
        )


def _states(layout: Layout, ports: Ports) -> tuple[ServiceState, ...]:
    markers = _markers(layout)
    urls = {
        "openbao": f"https://127.0.0.1:{ports.vault}",
        "kes": f"https://127.0.0.1:{ports.kes}",
        "s3": objectserver.url(ports),
    }
    return tuple(
        ServiceState(
            name,
            _TITLES[name],
            urls[name],
            running_pid(layout, name, markers[name]),
            layout.log_file(name),
        )
        for name in SERVICES
    )


def _saved_ports(layout: Layout) -> Ports:
    doc = read_json(layout.state)
    if not isinstance(doc, dict) or not isinstance(doc.get("ports"), dict):
        return Ports()
    p = doc["ports"]
    return Ports(
        s3=int(p.get("s3", 9000)), kes=int(p.get("kes", 7373)), vault=int(p.get("vault", 8200))
    )


def down(root: Path, report: Report = lambda _line: None) -> list[tuple[str, int]]:
    """Stop the stack's processes (object server, key server, OpenBao); data stays."""
    layout = Layout(root.expanduser().resolve())
    if not layout.root.is_dir():
        raise StackError(f"{layout.root} does not exist")
    with _locked(layout):
        return _stop_all(layout, report)


def status(root: Path) -> tuple[ServiceState, ...]:
    layout = Layout(root.expanduser().resolve())
    if not layout.state.is_file():
        raise StackError(f"{layout.root} holds no stack (run `strongroom stack up {root}`)")
    return _states(layout, _saved_ports(layout))
