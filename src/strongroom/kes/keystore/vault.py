"""The key server's keystore on a Vault K/V engine (HashiCorp Vault or OpenBao).

Wire behaviour follows KES (``../shared/specs/kes.md`` §9.2) so that a key written by KES is
readable here and the other way round: key ``<name>`` lives at ``<engine>/<prefix>/<name>``
(v2: ``<engine>/data/<prefix>/<name>``) as the secret ``{"<name>": "<§7 value string>"}``.

- Authentication: AppRole login; the token is renewed (``auth/token/renew-self``) once 80 % of
  its TTL has passed, or replaced by a fresh login when it is not renewable or less than 30 s
  remain. Renewal happens on the next operation, not in a background task: an idle store whose
  token lapsed simply logs in again. A 403 on a key operation is told apart by asking Vault
  (``auth/token/lookup-self``): an invalid token means log in and retry once, a valid one
  means the policy denies it (``VaultPolicyError``, text starting ``prohibited by policy``).
- A rejected login (wrong or revoked secret id) is a ``KeyStoreError``; further logins are not
  attempted for ``approle_retry`` seconds (the previous error is raised again meanwhile).
- A sealed, uninitialised, stopped or unreachable Vault is a ``KeyStoreUnreachableError``; the
  store recovers by itself once Vault answers again.
- K/V v1 create is read-then-write (not atomic between key servers; the guide's policy has no
  ``update``, so the losing writer gets a 403 which is reported as "key exists"). K/V v2 create
  writes with ``cas=0`` (atomic). v2 reads ask for version 1 like KES; delete removes the
  metadata (all versions).
- Values are the key server's §7 text (ASCII). Bytes that are not UTF-8 are stored base64 with
  a marker field so the store still round-trips any value; KES never writes such values.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Self

from strongroom.kes.keystore.base import (
    KeyExistsError,
    KeyNotFoundError,
    KeyStoreDeniedError,
    KeyStoreError,
    KeyStoreStatus,
    KeyStoreUnreachableError,
)
from strongroom.kes.keystore.mem import list_page
from strongroom.vault.client import (
    AsyncVaultClient,
    VaultConnectionError,
    VaultError,
    VaultSettings,
)

__all__ = ["VaultKeyStore", "VaultPolicyError"]

# The health query KES's Go client sends: every non-active state answers 299 with a body.
_HEALTH_PARAMS = {
    "standbycode": "299",
    "drsecondarycode": "299",
    "performancestandbycode": "299",
    "sealedcode": "299",
    "uninitcode": "299",
}
_RELOGIN_BELOW = 30.0  # seconds of TTL left under which a token is replaced, not renewed
_ENCODING_FIELD = "strongroom.encoding"  # never a valid key name (no '.' allowed)


_CONSEQUENCE = {
    "create": "creating keys will be refused",
    "delete": "deleting keys will be refused",
    "list": "listing keys will be refused",
}


class VaultPolicyError(KeyStoreDeniedError):
    """Vault's ACL policy denies the operation; the text starts with ``prohibited by policy``."""


def _seconds(value: float | int | timedelta | str | None, default: float) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, str):
        return _parse_duration(value)
    return float(value)


def _parse_duration(text: str) -> float:
    """A Go duration such as ``15s``, ``1m30s`` or ``500ms`` (plain numbers are seconds)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    total, number, i = 0.0, "", 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = next(
            (u for u in ("ms", "us", "µs", "ns", "h", "m", "s") if text.startswith(u, i)), ""
        )
        if not unit or not number:
            raise ValueError(f"invalid duration {text!r}")
        total += float(number) * units[unit]
        number, i = "", i + len(unit)
    if number:
        raise ValueError(f"invalid duration {text!r}: missing unit")
    return total


def _kv_version(version: str | int | None) -> int:
    text = str(version or "v1").strip().lower().removeprefix("v")
    if text not in ("1", "2"):
        raise ValueError(f"vault keystore: K/V version must be v1 or v2, not {version!r}")
    return int(text)


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


def encode_secret(name: str, value: bytes) -> dict[str, str]:
    """The secret data KES writes for key ``name``: ``{name: value}`` with the value as text.
    Bytes that are not UTF-8 (never written by KES) go base64 with a marker field."""
    try:
        return {name: value.decode("utf-8")}
    except UnicodeDecodeError:
        return {name: base64.b64encode(value).decode("ascii"), _ENCODING_FIELD: "base64"}


def decode_secret(path: str, name: str, data: dict[str, Any]) -> bytes:
    """The stored value of key ``name`` from the secret data read at ``path``."""
    if name not in data:
        raise KeyStoreError(
            f"vault: entry {path} exists but holds no field {name!r} (not a key server entry)"
        )
    value = data[name]
    if not isinstance(value, str):
        raise KeyStoreError(f"vault: entry {path} field {name!r} is not a string")
    if data.get(_ENCODING_FIELD) == "base64":
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise KeyStoreError(f"vault: entry {path} is not valid base64") from None
    return value.encode("utf-8")


class VaultKeyStore:
    """Async keystore on a Vault K/V engine, safe for concurrent use by many tasks."""

    def __init__(
        self,
        *,
        endpoint: str,
        engine: str = "kv",
        version: str | int = "v1",
        namespace: str = "",
        prefix: str = "",
        approle_engine: str = "approle",
        approle_namespace: str = "",
        approle_id: str = "",
        approle_secret: str = "",
        approle_retry: float | timedelta | str | None = 5.0,
        tls_key: str = "",
        tls_cert: str = "",
        tls_ca: str = "",
        status_ping: float | timedelta | str | None = 10.0,
        timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not endpoint.startswith(("https://", "http://")):
            raise ValueError(f"vault keystore: endpoint {endpoint!r} must be an http(s):// URL")
        if not approle_id or not approle_secret:
            raise ValueError("vault keystore: approle id and secret are required")
        if bool(tls_key) != bool(tls_cert):
            raise ValueError("vault keystore: tls key and cert must be given together")
        self.endpoint = endpoint
        self.engine = engine.strip("/") or "kv"
        self.version = _kv_version(version)
        self.namespace = namespace.strip("/")
        self.prefix = prefix.strip("/")
        self.approle_engine = approle_engine.strip("/") or "approle"
        # Login namespace: empty = the store's namespace, "/" = the root namespace.
        self._login_namespace: bool | str = True
        if approle_namespace:
            self._login_namespace = approle_namespace.strip("/") or False
        self._approle_id = approle_id
        self._approle_secret = approle_secret
        self.approle_retry = _seconds(approle_retry, 5.0)
        # Accepted for configuration compatibility. Vault itself answers 503 while sealed, so
        # operations fail fast without a polling loop; the key server's cache probes status().
        self.status_ping = _seconds(status_ping, 10.0)
        self._clock = clock
        self._client = AsyncVaultClient(
            VaultSettings(
                address=endpoint,
                ca_cert=tls_ca,
                namespace=self.namespace,
                client_cert=tls_cert,
                client_key=tls_key,
                timeout=timeout,
            )
        )
        self.token_accessor = ""  # not a secret: identifies the token in Vault's audit log
        self.logins = 0  # successful AppRole logins so far
        self.renewals = 0  # successful token renewals so far
        self._renew_at: float | None = None  # None: the token never needs renewing
        self._expires_at: float | None = None
        self._renewable = False
        self._login_error: KeyStoreError | None = None
        self._login_failed_at = 0.0
        self._lock = asyncio.Lock()

    @classmethod
    def from_config(cls, cfg: Any) -> Self:
        """Build from a ``VaultKeystoreConfig``-like object (read by attribute name)."""

        def attr(name: str, default: Any = "") -> Any:
            value = getattr(cfg, name, default)
            return default if value is None else value

        return cls(
            endpoint=attr("endpoint"),
            engine=attr("engine", "kv") or "kv",
            version=attr("version", "v1") or "v1",
            namespace=attr("namespace"),
            prefix=attr("prefix"),
            approle_engine=attr("approle_engine", "approle") or "approle",
            approle_namespace=attr("approle_namespace"),
            approle_id=attr("approle_id"),
            approle_secret=attr("approle_secret"),
            approle_retry=attr("approle_retry", None),
            tls_key=attr("tls_key"),
            tls_cert=attr("tls_cert"),
            tls_ca=attr("tls_ca"),
            status_ping=attr("status_ping", None),
        )

    def __repr__(self) -> str:
        return (
            f"VaultKeyStore(endpoint={self.endpoint!r}, engine={self.engine!r}, "
            f"version='v{self.version}', namespace={self.namespace!r}, prefix={self.prefix!r})"
        )

    # --- KeyStore protocol ----------------------------------------------------------------------

    async def status(self) -> KeyStoreStatus:
        start = time.perf_counter()
        try:
            body = await self._client.request(
                "GET", "sys/health", params=_HEALTH_PARAMS, token=False, namespace=False
            )
        except VaultConnectionError as exc:
            raise self._map(exc, "status", "") from None
        except VaultError as exc:
            raise KeyStoreUnreachableError(f"vault: health check failed: {exc}") from None
        latency = time.perf_counter() - start
        body = body or {}
        if not body.get("initialized", False):
            raise KeyStoreUnreachableError(f"vault: {self.endpoint} is not initialized")
        if body.get("sealed", True):
            raise KeyStoreUnreachableError(f"vault: {self.endpoint} is sealed")
        return KeyStoreStatus(latency=latency)

    async def check(self) -> list[str]:
        """Start-up check: Vault serves, the AppRole login works and the policy allows reading
        keys. Raises ``KeyStoreUnreachableError`` (sealed, down), ``KeyStoreError`` (login
        rejected) or ``VaultPolicyError`` (no ``read``); returns warnings for capabilities the
        key server may miss later (``create``, ``delete``, ``list``), empty when all are there.
        """
        await self.status()
        probe = "strongroom-capability-probe"
        if self.version == 1:
            wanted = {
                self._v1_path(probe): ("read", "create", "delete"),
                _join(self.engine, self.prefix) + "/": ("list",),
            }
        else:
            wanted = {
                self._data_path(probe): ("read", "create"),
                self._meta_path(probe): ("delete",),
                _join(self.engine, "metadata", self.prefix) + "/": ("list",),
            }
        try:
            body = await self._call(
                "POST", "sys/capabilities-self", {"paths": list(wanted)}, op=("check", "")
            )
        except VaultError as exc:
            raise self._map(exc, "check capabilities", "") from None
        data = (body or {}).get("data") or body or {}
        warnings: list[str] = []
        for path, caps in wanted.items():
            granted = set(data.get(path) or ())
            for cap in caps:
                if cap in granted or "root" in granted:
                    continue
                if cap == "read":
                    raise VaultPolicyError(
                        f"prohibited by policy: the vault policy grants no 'read' on {path} "
                        "(the key server cannot read its keys)"
                    )
                warnings.append(f"vault policy lacks {cap!r} on {path}: {_CONSEQUENCE[cap]}")
        return warnings

    async def create(self, name: str, value: bytes) -> None:
        self._check_name(name)
        secret = encode_secret(name, value)
        if await self._read(name, "create") is not None:
            raise KeyExistsError(f"key {name!r} already exists")
        body: dict[str, Any] = dict(secret)
        path = self._v1_path(name)
        if self.version == 2:
            path, body = self._data_path(name), {"options": {"cas": 0}, "data": secret}
        try:
            await self._call("PUT", path, body, op=("create", name))
        except VaultPolicyError:
            # No 'update' capability: a concurrent creator won the race, or the policy
            # lacks 'create'. Tell the two apart by looking again.
            if await self._read(name, "create") is not None:
                raise KeyExistsError(f"key {name!r} already exists") from None
            raise
        except VaultError as exc:
            if (
                self.version == 2
                and exc.status == 400
                and any("check-and-set" in e for e in exc.errors)
            ):
                raise KeyExistsError(f"key {name!r} already exists") from None
            raise self._map(exc, "create", name) from None

    async def get(self, name: str) -> bytes:
        self._check_name(name)
        value = await self._read(name, "read")
        if value is None:
            raise KeyNotFoundError(f"key {name!r} does not exist")
        return value

    async def delete(self, name: str) -> None:
        self._check_name(name)
        if await self._read(name, "delete") is None:
            raise KeyNotFoundError(f"key {name!r} does not exist")
        path = self._v1_path(name) if self.version == 1 else self._meta_path(name)
        try:
            await self._call("DELETE", path, op=("delete", name))
        except VaultError as exc:
            raise self._map(exc, "delete", name) from None

    async def list(self, prefix: str, limit: int = -1) -> tuple[list[str], str]:
        if self.version == 1:
            path = _join(self.engine, self.prefix)
        else:
            path = _join(self.engine, "metadata", self.prefix)
        try:
            body = await self._call("GET", path, params={"list": "true"}, op=("list", prefix))
        except VaultError as exc:
            if exc.status == 404:
                return [], ""
            raise self._map(exc, "list", prefix) from None
        keys = ((body or {}).get("data") or {}).get("keys") or []
        # Entries ending in '/' are sub-folders of the prefix, not keys (KES SEED skipped them).
        return list_page(
            (k for k in keys if isinstance(k, str) and not k.endswith("/")), prefix, limit
        )

    async def close(self) -> None:
        await self._client.close()

    # --- paths and values -----------------------------------------------------------------------

    def _v1_path(self, name: str) -> str:
        return _join(self.engine, self.prefix, name)

    def _data_path(self, name: str) -> str:
        return _join(self.engine, "data", self.prefix, name)

    def _meta_path(self, name: str) -> str:
        return _join(self.engine, "metadata", self.prefix, name)

    @staticmethod
    def _check_name(name: str) -> None:
        if not name or "/" in name or name in (".", "..") or name == _ENCODING_FIELD:
            raise KeyStoreError(f"invalid key name {name!r}")

    async def _read(self, name: str, op: str) -> bytes | None:
        """The stored value, or None when the key does not exist."""
        if self.version == 1:
            path, params = self._v1_path(name), None
        else:
            path, params = self._data_path(name), {"version": "1"}
        try:
            body = await self._call("GET", path, params=params, op=(op, name))
        except VaultError as exc:
            if exc.status == 404:
                return None
            raise self._map(exc, op, name) from None
        data = (body or {}).get("data") or {}
        if self.version == 2:
            data = data.get("data") or {}
            if not data:
                return None  # deleted or destroyed version
        return decode_secret(path, name, data)

    # --- requests, token lifecycle and errors ---------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        op: tuple[str, str] = ("access", ""),
    ) -> dict[str, Any] | None:
        """One authenticated request; logs in again once if the token turned out invalid.
        A 403 with a valid token becomes ``VaultPolicyError``; other VaultErrors propagate."""
        await self._ensure_token()
        token = self._client.token
        try:
            return await self._client.request(method, path, body, params=params)
        except VaultError as exc:
            if exc.status != 403:
                raise
            if not await self._token_invalid(token):
                raise self._map(exc, *op) from None
        await self._ensure_token()
        try:
            return await self._client.request(method, path, body, params=params)
        except VaultError as exc:
            if exc.status == 403:
                raise self._map(exc, *op) from None
            raise

    async def _token_invalid(self, token: str) -> bool:
        """After a 403: is ``token`` itself invalid (expired, revoked)? Drops it if so."""
        async with self._lock:
            if self._client.token != token:
                return True  # another task already replaced it
            try:
                await self._client.request("GET", "auth/token/lookup-self")
                return False
            except VaultError as exc:
                if exc.status != 403:
                    raise self._map(exc, "authenticate", "") from None
            self._client.token = ""
            return True

    async def _ensure_token(self) -> None:
        if self._client.token and (self._renew_at is None or self._clock() < self._renew_at):
            return
        async with self._lock:
            now = self._clock()
            if not self._client.token:
                await self._login()
            elif self._renew_at is not None and now >= self._renew_at:
                left = (self._expires_at or now) - now
                if self._renewable and left >= _RELOGIN_BELOW:
                    try:
                        await self._renew()
                        return
                    except (VaultConnectionError, KeyStoreUnreachableError):
                        raise
                    except (VaultError, KeyStoreError):
                        pass  # not renewable any more: log in again
                await self._login()

    async def _renew(self) -> None:
        try:
            body = await self._client.request("PUT", "auth/token/renew-self", {"increment": 0})
        except VaultError as exc:
            if isinstance(exc, VaultConnectionError) or exc.sealed:
                raise self._map(exc, "renew token", "") from None
            raise
        self._take_auth(body, "renew")
        self.renewals += 1

    async def _login(self) -> None:
        now = self._clock()
        if self._login_error is not None and now - self._login_failed_at < self.approle_retry:
            raise KeyStoreError(str(self._login_error))
        try:
            body = await self._client.request(
                "PUT",
                f"auth/{self.approle_engine}/login",
                {"role_id": self._approle_id, "secret_id": self._approle_secret},
                token=False,
                namespace=self._login_namespace,
            )
        except VaultError as exc:
            if isinstance(exc, VaultConnectionError) or exc.status >= 500:
                raise self._map(exc, "log in", "") from None
            detail = "; ".join(exc.errors) or str(exc.status)
            error = KeyStoreError(
                f"vault: approle login at auth/{self.approle_engine} failed: {detail} "
                "(check the approle id and secret; the secret id may have been revoked)"
            )
            self._login_error, self._login_failed_at = error, now
            raise error from None
        self._login_error = None
        self._take_auth(body, "login")
        self.logins += 1

    def _take_auth(self, body: dict[str, Any] | None, what: str) -> None:
        auth = (body or {}).get("auth") or {}
        token = auth.get("client_token")
        if not isinstance(token, str) or not token:
            raise KeyStoreError(f"vault: {what} answered without a token")
        now = self._clock()
        ttl = float(auth.get("lease_duration") or 0)
        self._client.token = token
        self.token_accessor = str(auth.get("accessor") or "")
        self._renewable = bool(auth.get("renewable"))
        if ttl > 0:
            self._renew_at, self._expires_at = now + 0.8 * ttl, now + ttl
        else:
            self._renew_at = self._expires_at = None

    def _map(self, exc: VaultError, op: str, what: str) -> KeyStoreError:
        """Translate a Vault error into the keystore hierarchy (texts never hold secrets)."""
        if not what:
            subject = ""
        elif op == "list":
            subject = f" with prefix {what!r}"
        else:
            subject = f" of key {what!r}"
        if isinstance(exc, VaultConnectionError):
            reason = "; ".join(exc.errors)
            return KeyStoreUnreachableError(
                f"vault: {self.endpoint} is not reachable ({op}{subject}): {reason}"
            )
        if exc.status == 503 or exc.sealed:
            reason = "is sealed" if exc.sealed else "is unavailable"
            return KeyStoreUnreachableError(f"vault: {self.endpoint} {reason} ({op}{subject})")
        if exc.status in (502, 504):
            return KeyStoreUnreachableError(
                f"vault: {self.endpoint} is unavailable ({op}{subject})"
            )
        if exc.status == 403:
            return VaultPolicyError(
                f"prohibited by policy: vault denied {op}{subject} "
                f"(403 permission denied on {exc.path}; check the key server's Vault policy)"
            )
        return KeyStoreError(f"vault: {op}{subject} failed: {exc}")
