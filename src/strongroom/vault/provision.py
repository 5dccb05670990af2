"""Provisioning a Vault-API central key store the way the MinIO KMS guide does (its section 3).

``init`` / ``unseal`` / ``status`` / ``seal`` drive the seal lifecycle; ``bootstrap`` performs the
guide's whole section 3 in one call: enable the K/V engine and AppRole, write the key server's
policy, create the role, read its role id, create a secret id, and render the key server
configuration block (guide ``keys.vault`` or modern ``keystore.vault`` layout).

Every function takes a ``VaultClient`` (see ``strongroom.vault.client``); results whose fields
are secrets (unseal shares, root token, secret id) keep them out of their ``repr``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from strongroom.vault.client import VaultClient, VaultError

__all__ = [
    "BootstrapResult",
    "InitResult",
    "ProvisionError",
    "SealStatus",
    "bootstrap",
    "init",
    "policy_text",
    "seal",
    "status",
    "unseal",
]

Layout = Literal["guide", "modern"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


class ProvisionError(Exception):
    """The store is not in a state provisioning can work with (already initialised, a mount
    of the wrong type in the way, ...). The message says what to do."""


@dataclass(frozen=True, slots=True)
class SealStatus:
    """``sys/seal-status`` (also the answer to each unseal step)."""

    initialized: bool
    sealed: bool
    threshold: int
    shares: int
    progress: int
    nonce: str = ""
    version: str = ""
    storage_type: str = ""
    cluster_name: str = ""
    cluster_id: str = ""
    seal_type: str = "shamir"

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> SealStatus:
        return cls(
            initialized=bool(body.get("initialized")),
            sealed=bool(body.get("sealed", True)),
            threshold=int(body.get("t") or 0),
            shares=int(body.get("n") or 0),
            progress=int(body.get("progress") or 0),
            nonce=str(body.get("nonce") or ""),
            version=str(body.get("version") or ""),
            storage_type=str(body.get("storage_type") or ""),
            cluster_name=str(body.get("cluster_name") or ""),
            cluster_id=str(body.get("cluster_id") or ""),
            seal_type=str(body.get("type") or "shamir"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.seal_type,
            "initialized": self.initialized,
            "sealed": self.sealed,
            "t": self.threshold,
            "n": self.shares,
            "progress": self.progress,
            "nonce": self.nonce,
            "version": self.version,
            "storage_type": self.storage_type,
            "cluster_name": self.cluster_name,
            "cluster_id": self.cluster_id,
        }


@dataclass(frozen=True, slots=True)
class InitResult:
    """The unseal shares and the initial root token. Shown once by Vault: store them safely."""

    shares: int
    threshold: int
    keys_b64: tuple[str, ...] = field(repr=False)
    keys_hex: tuple[str, ...] = field(repr=False)
    root_token: str = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """The same field names as ``bao operator init -format=json``."""
        return {
            "unseal_keys_b64": list(self.keys_b64),
            "unseal_keys_hex": list(self.keys_hex),
            "unseal_shares": self.shares,
            "unseal_threshold": self.threshold,
            "root_token": self.root_token,
        }


def status(client: VaultClient) -> SealStatus:
    """Seal status; works while sealed and before initialisation (no token needed)."""
    body = client.request("GET", "sys/seal-status", token=False)
    return SealStatus.from_json(body or {})


def init(client: VaultClient, shares: int = 5, threshold: int = 3) -> InitResult:
    """Initialise the store with Shamir shares; refuses if it is initialised already."""
    if shares < 1 or threshold < 1 or threshold > shares or (shares > 1 and threshold < 2):
        raise ProvisionError(
            f"invalid shares/threshold {shares}/{threshold}: need 1 <= threshold <= shares, "
            "and threshold >= 2 when there are several shares"
        )
    if status(client).initialized:
        raise ProvisionError(
            f"vault at {client.settings.address} is already initialized; refusing to initialize it "
            "again (unseal it with the shares you were given)"
        )
    try:
        body = client.request(
            "PUT",
            "sys/init",
            {"secret_shares": shares, "secret_threshold": threshold},
            token=False,
        )
    except VaultError as exc:
        if any("already initialized" in e for e in exc.errors):
            raise ProvisionError(
                f"vault at {client.settings.address} is already initialized"
            ) from None
        raise
    body = body or {}
    return InitResult(
        shares=shares,
        threshold=threshold,
        keys_b64=tuple(body.get("keys_base64") or ()),
        keys_hex=tuple(body.get("keys") or ()),
        root_token=str(body.get("root_token") or ""),
    )


def unseal(client: VaultClient, share: str) -> SealStatus:
    """Submit one unseal share (base64 or hex); the answer shows the progress."""
    body = client.request(
        "PUT", "sys/unseal", {"key": share.strip(), "reset": False, "migrate": False}, token=False
    )
    return SealStatus.from_json(body or {})


def unseal_reset(client: VaultClient) -> SealStatus:
    """Discard the shares submitted so far."""
    body = client.request("PUT", "sys/unseal", {"reset": True}, token=False)
    return SealStatus.from_json(body or {})


def seal(client: VaultClient) -> None:
    """Seal the store (root token, or ``sudo`` on ``sys/seal``)."""
    client.request("PUT", "sys/seal")


# --- bootstrap: the guide's section 3 -----------------------------------------------------------


def policy_text(engine: str, prefix: str, kv_version: int, *, allow_list: bool = False) -> str:
    """The key server's ACL policy: the guide's for K/V v1, the data/metadata pair for v2.

    The guide grants create, read and delete but neither ``update`` (a key can never be
    overwritten) nor ``list`` (listing keys fails); ``allow_list`` adds ``list`` for v1.
    """
    if kv_version == 1:
        caps = ["create", "read", "delete"] + (["list"] if allow_list else [])
        return _policy_block(f"{engine}/{prefix}/*", caps)
    return _policy_block(f"{engine}/data/{prefix}/*", ["create", "read", "delete"]) + (
        _policy_block(f"{engine}/metadata/{prefix}/*", ["read", "delete", "list"])
    )


def _policy_block(path: str, caps: list[str]) -> str:
    quoted = ", ".join(f'"{c}"' for c in caps)
    return f'path "{path}" {{\n  capabilities = [ {quoted} ]\n}}\n\n'


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """What ``bootstrap`` set up, and the key server configuration that uses it."""

    address: str
    engine: str
    kv_version: int
    prefix: str
    approle_engine: str
    policy_name: str
    role_name: str
    role_id: str
    secret_id: str = field(repr=False)
    secret_id_accessor: str
    policy: str = ""
    namespace: str = ""
    ca_cert: str = ""
    steps: tuple[str, ...] = ()

    def keys_vault(self) -> dict[str, Any]:
        """The guide's ``keys.vault`` block (KES seed layout)."""
        vault: dict[str, Any] = {"endpoint": self.address}
        if self.engine != "kv":
            vault["engine"] = self.engine
        if self.kv_version != 1:
            vault["version"] = f"v{self.kv_version}"
        if self.namespace:
            vault["namespace"] = self.namespace
        vault["prefix"] = self.prefix
        approle: dict[str, Any] = {"id": self.role_id, "secret": self.secret_id, "retry": "15s"}
        if self.approle_engine != "approle":
            approle = {"engine": self.approle_engine, **approle}
        vault["approle"] = approle
        if self.ca_cert:
            vault["tls"] = {"ca": self.ca_cert}
        vault["status"] = {"ping": "10s"}
        return {"keys": {"vault": vault}}

    def keystore_vault(self) -> dict[str, Any]:
        """The modern ``keystore.vault`` block (KES 2023+ layout)."""
        vault: dict[str, Any] = {
            "endpoint": self.address,
            "engine": self.engine,
            "version": f"v{self.kv_version}",
        }
        if self.namespace:
            vault["namespace"] = self.namespace
        vault["prefix"] = self.prefix
        vault["approle"] = {
            "engine": self.approle_engine,
            "id": self.role_id,
            "secret": self.secret_id,
        }
        if self.ca_cert:
            vault["tls"] = {"ca": self.ca_cert}
        vault["status"] = {"ping": "10s"}
        return {"keystore": {"vault": vault}}

    def render(self, layout: Layout = "guide") -> str:
        """The YAML block to paste into the key server configuration."""
        block = self.keys_vault() if layout == "guide" else self.keystore_vault()
        return yaml.safe_dump(block, sort_keys=False, default_flow_style=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "namespace": self.namespace,
            "engine": self.engine,
            "kv_version": self.kv_version,
            "prefix": self.prefix,
            "approle_engine": self.approle_engine,
            "policy_name": self.policy_name,
            "policy": self.policy,
            "role_name": self.role_name,
            "role_id": self.role_id,
            "secret_id": self.secret_id,
            "secret_id_accessor": self.secret_id_accessor,
            "steps": list(self.steps),
        }


def bootstrap(
    client: VaultClient,
    *,
    prefix: str = "minio",
    engine: str = "kv",
    kv_version: int = 1,
    approle_engine: str = "approle",
    policy_name: str = "minio-key-policy",
    role_name: str = "kes-role",
    period: str = "5m",
    allow_list: bool = False,
    create_namespace: bool = True,
    ca_cert: str = "",
) -> BootstrapResult:
    """The guide's section 3 in one call (needs a token allowed to manage mounts and policies).

    Idempotent where Vault allows it: an existing K/V mount of the requested version, an
    existing AppRole mount, the policy and the role are reused or rewritten with the same
    values; only the secret id is new on every call (Vault issues a fresh one each time).
    With a namespace configured on the client, a missing top-level namespace is created.
    """
    if kv_version not in (1, 2):
        raise ProvisionError(f"kv version must be 1 or 2, not {kv_version}")
    for what, value in (
        ("engine", engine),
        ("approle engine", approle_engine),
        ("policy name", policy_name),
        ("role name", role_name),
    ):
        if not _NAME.match(value):
            raise ProvisionError(f"invalid {what} {value!r}")
    prefix = prefix.strip("/")
    if not _PREFIX.match(prefix):
        raise ProvisionError(f"invalid prefix {prefix!r}: use letters, digits, '-', '_', '.'")

    steps: list[str] = []
    namespace = client.settings.namespace.strip("/")
    if namespace and create_namespace:
        steps.append(_ensure_namespace(client, namespace))
    steps.append(_ensure_kv(client, engine, kv_version))
    steps.append(_ensure_approle(client, approle_engine))

    policy = policy_text(engine, prefix, kv_version, allow_list=allow_list)
    client.request("PUT", f"sys/policies/acl/{policy_name}", {"policy": policy})
    steps.append(f"wrote policy {policy_name}")

    role_path = f"auth/{approle_engine}/role/{role_name}"
    client.request(
        "PUT",
        role_path,
        {
            "token_num_uses": "0",
            "secret_id_num_uses": "0",
            "period": period,
            "policies": policy_name,
        },
    )
    steps.append(f"wrote role {role_name} (token_num_uses=0 secret_id_num_uses=0 period={period})")

    role = client.request("GET", f"{role_path}/role-id") or {}
    role_id = str((role.get("data") or {}).get("role_id") or "")
    secret = client.request("PUT", f"{role_path}/secret-id", None) or {}
    secret_data = secret.get("data") or {}
    steps.append("created a secret id")
    if not role_id or not secret_data.get("secret_id"):
        raise ProvisionError(f"vault returned no role id or secret id for role {role_name}")
    return BootstrapResult(
        address=client.settings.address,
        engine=engine,
        kv_version=kv_version,
        prefix=prefix,
        approle_engine=approle_engine,
        policy_name=policy_name,
        role_name=role_name,
        role_id=role_id,
        secret_id=str(secret_data["secret_id"]),
        secret_id_accessor=str(secret_data.get("secret_id_accessor") or ""),
        policy=policy,
        namespace=namespace,
        ca_cert=ca_cert or client.settings.ca_cert,
        steps=tuple(steps),
    )


def _ensure_namespace(client: VaultClient, namespace: str) -> str:
    if "/" in namespace:
        return f"namespace {namespace} (nested: not created, must exist)"
    try:
        client.request("GET", f"sys/namespaces/{namespace}", namespace=False)
        return f"namespace {namespace} exists"
    except VaultError as exc:
        if exc.status != 404:
            raise
    client.request("PUT", f"sys/namespaces/{namespace}", None, namespace=False)
    return f"created namespace {namespace}"


def _mount_version(entry: dict[str, Any]) -> int:
    data = entry.get("data") or entry
    if data.get("type") not in ("kv", "kv-v1", "kv-v2"):
        return 0
    options = data.get("options") or {}
    return 2 if str(options.get("version") or "1") == "2" else 1


def _ensure_kv(client: VaultClient, engine: str, kv_version: int) -> str:
    try:
        entry = client.request("GET", f"sys/mounts/{engine}")
    except VaultError as exc:
        if exc.status not in (400, 404):
            raise
        entry = None
    if entry is not None:
        found = _mount_version(entry)
        if found == kv_version:
            return f"kv v{kv_version} engine already enabled at {engine}/"
        kind = f"kv v{found}" if found else f"a {(entry.get('data') or entry).get('type')} engine"
        raise ProvisionError(
            f"{engine}/ is already mounted as {kind}, not kv v{kv_version}: choose another engine "
            "path or the matching --kv-version"
        )
    client.request(
        "POST",
        f"sys/mounts/{engine}",
        {"type": "kv", "options": {"version": str(kv_version)}},
    )
    return f"enabled kv v{kv_version} engine at {engine}/"


def _ensure_approle(client: VaultClient, path: str) -> str:
    try:
        entry = client.request("GET", f"sys/auth/{path}")
    except VaultError as exc:
        if exc.status not in (400, 404):
            raise
        entry = None
    if entry is not None:
        kind = (entry.get("data") or entry).get("type")
        if kind != "approle":
            raise ProvisionError(f"auth/{path}/ is already a {kind} auth method, not approle")
        return f"approle auth already enabled at auth/{path}/"
    client.request("POST", f"sys/auth/{path}", {"type": "approle"})
    return f"enabled approle auth at auth/{path}/"
