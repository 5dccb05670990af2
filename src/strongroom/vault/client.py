"""A small client for the Vault HTTP API (HashiCorp Vault and OpenBao speak the same one).

Only what provisioning and the key server's Vault keystore need: requests under ``/v1/`` with
the token, namespace and request headers, TLS with a custom CA or client certificate, and errors
that carry Vault's ``{"errors": [...]}`` messages with the status. Facts:
``../shared/specs/vault-api.md`` §1 (HTTP layer) and §15 (environment variables).

Exceptions::

    VaultError                 Vault answered with an error status (``status``, ``errors``)
    └── VaultConnectionError   no answer at all: refused, reset, TLS failure, timeout

Tokens are secrets: they are never part of a ``repr``, an exception text or a log record.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Self

import httpx

__all__ = [
    "AsyncVaultClient",
    "VaultClient",
    "VaultConnectionError",
    "VaultError",
    "VaultSettings",
    "parse_bool",
]

DEFAULT_ADDRESS = "https://127.0.0.1:8200"

# Go's strconv.ParseBool set, which is what the vault/bao CLIs accept in VAULT_SKIP_VERIFY.
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(value: str, name: str = "value") -> bool:
    """Parse a boolean the way Go's ``strconv.ParseBool`` does; the empty string is false."""
    if value in _TRUE:
        return True
    if value in _FALSE or value == "":
        return False
    raise ValueError(f"{name}: {value!r} is not a boolean (use true/false or 1/0)")


class VaultError(Exception):
    """Vault answered a request with an error status.

    ``status`` is the HTTP status (0 when there was no answer); ``errors`` are the messages of
    Vault's ``{"errors": [...]}`` body (often empty, e.g. on a 404).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        errors: tuple[str, ...] = (),
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors
        self.method = method
        self.path = path

    @property
    def sealed(self) -> bool:
        """True when Vault refused because it is sealed (or not initialised)."""
        return self.status == 503 and any("sealed" in e.lower() for e in self.errors)

    @property
    def permission_denied(self) -> bool:
        return self.status == 403


class VaultConnectionError(VaultError):
    """No HTTP answer: connection refused or reset, TLS handshake failure, timeout."""


@dataclass(frozen=True, slots=True)
class VaultSettings:
    """Where and how to reach Vault. ``token`` is excluded from the repr."""

    address: str = DEFAULT_ADDRESS
    token: str = field(default="", repr=False)
    ca_cert: str = ""  # file or directory of PEM CA certificates; empty = system roots
    skip_verify: bool = False
    namespace: str = ""
    client_cert: str = ""
    client_key: str = ""
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> VaultSettings:
        """Read ``VAULT_ADDR``, ``VAULT_TOKEN``, ``VAULT_CACERT`` (or ``VAULT_CAPATH``),
        ``VAULT_SKIP_VERIFY``, ``VAULT_NAMESPACE``, ``VAULT_CLIENT_CERT``, ``VAULT_CLIENT_KEY``
        (each falling back to its ``BAO_*`` twin). Keyword overrides that are not None win."""
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(f"VAULT_{name}") or env.get(f"BAO_{name}") or ""

        settings = cls(
            address=get("ADDR") or DEFAULT_ADDRESS,
            token=get("TOKEN"),
            ca_cert=get("CACERT") or get("CAPATH"),
            skip_verify=parse_bool(get("SKIP_VERIFY"), "VAULT_SKIP_VERIFY"),
            namespace=get("NAMESPACE"),
            client_cert=get("CLIENT_CERT"),
            client_key=get("CLIENT_KEY"),
        )
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context for ``https://`` addresses (custom CA, client certificate)."""
        if self.ca_cert and os.path.isdir(self.ca_cert):
            ctx = ssl.create_default_context(capath=self.ca_cert)
        elif self.ca_cert:
            ctx = ssl.create_default_context(cafile=self.ca_cert)
        else:
            ctx = ssl.create_default_context()
        if self.skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_cert:
            ctx.load_cert_chain(self.client_cert, self.client_key or None)
        return ctx


def _api_path(path: str) -> str:
    return "/v1/" + path.strip("/")


class _Base:
    """Request building and response decoding shared by the sync and async clients."""

    def __init__(self, settings: VaultSettings) -> None:
        self.settings = settings
        self._token = settings.token

    @property
    def token(self) -> str:
        return self._token

    @token.setter
    def token(self, value: str) -> None:
        self._token = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}(address={self.settings.address!r})"

    def _headers(self, token: bool, namespace: bool | str) -> dict[str, str]:
        headers = {"X-Vault-Request": "true"}
        if token and self._token:
            headers["X-Vault-Token"] = self._token
        # True: the configured namespace; False: none (sys/health); a string: that one.
        if isinstance(namespace, str):
            ns = namespace
        else:
            ns = self.settings.namespace if namespace else ""
        if ns.strip("/"):
            headers["X-Vault-Namespace"] = ns
        return headers

    def _transport_args(self) -> dict[str, Any]:
        verify: ssl.SSLContext | bool = True
        if self.settings.address.startswith("https://"):
            verify = self.settings.ssl_context()
        return {
            "base_url": self.settings.address.rstrip("/"),
            "verify": verify,
            "timeout": self.settings.timeout,
            "trust_env": False,
        }

    @staticmethod
    def _decode(method: str, path: str, response: httpx.Response) -> dict[str, Any] | None:
        if response.status_code == 204:
            return None
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
        if 200 <= response.status_code < 300:
            return body if isinstance(body, dict) else None
        errors: tuple[str, ...] = ()
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            errors = tuple(str(e).strip() for e in body["errors"])
        detail = "; ".join(" ".join(e.split()) for e in errors) or response.reason_phrase
        raise VaultError(
            f"vault: {method} /v1/{path}: {response.status_code} {detail}",
            status=response.status_code,
            errors=errors,
            method=method,
            path=path,
        )

    @staticmethod
    def _connection_error(method: str, path: str, exc: httpx.HTTPError) -> VaultConnectionError:
        reason = str(exc) or type(exc).__name__
        return VaultConnectionError(
            f"vault: {method} /v1/{path}: cannot reach vault: {reason}",
            errors=(reason,),
            method=method,
            path=path,
        )


class VaultClient(_Base):
    """Synchronous Vault API client (provisioning, CLI)."""

    def __init__(self, settings: VaultSettings | None = None) -> None:
        super().__init__(settings or VaultSettings.from_env())
        self._http = httpx.Client(**self._transport_args())

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        token: bool = True,
        namespace: bool | str = True,
    ) -> dict[str, Any] | None:
        """Send ``method /v1/<path>``; return the JSON body (None for 204), raise VaultError."""
        path = path.strip("/")
        try:
            response = self._http.request(
                method,
                _api_path(path),
                json=json,
                params=params,
                headers=self._headers(token, namespace),
            )
        except httpx.HTTPError as exc:
            raise self._connection_error(method, path, exc) from None
        return self._decode(method, path, response)

    def read(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any] | None:
        """GET a path; None when Vault answers 404."""
        try:
            return self.request("GET", path, params=params)
        except VaultError as exc:
            if exc.status == 404:
                return None
            raise

    def write(self, path: str, data: Any = None) -> dict[str, Any] | None:
        return self.request("PUT", path, data)

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def list(self, path: str) -> list[str]:
        """The ``keys`` of a listing (``GET ?list=true``); empty when Vault answers 404."""
        body = self.read(path, params={"list": "true"})
        keys = ((body or {}).get("data") or {}).get("keys") or []
        return [str(k) for k in keys]


class AsyncVaultClient(_Base):
    """Asynchronous Vault API client (the key server's keystore)."""

    def __init__(self, settings: VaultSettings) -> None:
        super().__init__(settings)
        self._http = httpx.AsyncClient(**self._transport_args())

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        token: bool = True,
        namespace: bool | str = True,
    ) -> dict[str, Any] | None:
        """Send ``method /v1/<path>``; return the JSON body (None for 204), raise VaultError."""
        path = path.strip("/")
        try:
            response = await self._http.request(
                method,
                _api_path(path),
                json=json,
                params=params,
                headers=self._headers(token, namespace),
            )
        except httpx.HTTPError as exc:
            raise self._connection_error(method, path, exc) from None
        return self._decode(method, path, response)
