"""The key server's HTTP API: route table, authorization, handlers (spec kes.md §1.2-§4).

Every request goes through the same steps, in this order:

1. the percent-decoded path is checked: unclean paths (``//``, ``/./``, ``/../``) are refused
   with 400 *before* authorization, so no prefix policy can be bypassed;
2. the route is found by prefix (``/v1/key/create/`` + resource); a subtree route called without
   its trailing slash (``GET /v1/key/list``) is that route with an empty resource, authorized
   as the slash form; unknown paths answer 404 ``404 page not found``;
3. the method is checked (POST is accepted wherever PUT is declared, and the reverse);
4. the body limit of the route applies (larger bodies: 400 ``invalid request body``);
5. the caller is identified by its TLS certificate and authorized: ``/version`` needs nothing,
   ``/v1/identity/self/describe`` only a certificate, everything else the admin identity or a
   policy that allows the path (403 ``prohibited by policy``);
6. the handler runs under the route's timeout; metrics and one audit event are recorded.

Errors are :class:`~strongroom.kes.errors.APIError` values rendered as ``{"message":…}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import platform
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote

from strongroom.crypto.identity import is_identity
from strongroom.crypto.kes_crypto import (
    CiphertextFormat,
    DecryptionError,
    HMACUnsupportedError,
    KeyAlgorithm,
    SecretKey,
    format_go_time,
    generate_data_key,
)
from strongroom.kes import errors
from strongroom.kes.audit import AuditLog, ErrorLog
from strongroom.kes.errors import APIError
from strongroom.kes.keystore.base import (
    KeyExistsError,
    KeyNotFoundError,
    KeyStoreDeniedError,
    KeyStoreError,
    KeyStoreStatus,
    KeyStoreUnreachableError,
)
from strongroom.kes.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from strongroom.kes.metrics import Metrics, num_cpu_used, rss_bytes
from strongroom.kes.policy import valid_name, valid_pattern
from strongroom.net.http import Request, Response

log = logging.getLogger("strongroom.kes.api")

__all__ = ["ROUTES", "Access", "KeyServerAPI", "PolicyView", "Route"]

MB = 1_000_000
MIB = 1 << 20
JSON = "application/json"
NDJSON = "application/x-ndjson"


class KeyCacheLike(Protocol):
    """What the API needs from ``strongroom.kes.cache.KeyCache``."""

    def peek(self, name: str) -> SecretKey | None: ...

    async def get(self, name: str) -> SecretKey: ...

    async def create(self, name: str, key: SecretKey) -> None: ...

    async def delete(self, name: str) -> None: ...

    async def status(self) -> KeyStoreStatus: ...

    async def list(self, prefix: str, limit: int = -1) -> tuple[list[str], str]: ...


class PolicyView(Protocol):
    """What the API needs from one policy of ``strongroom.kes.policy``."""

    @property
    def allow(self) -> Sequence[str]: ...

    @property
    def deny(self) -> Sequence[str]: ...

    def verify(self, path: str) -> bool: ...


@dataclass
class Access:
    """Who may do what: the admin identity, named policies and identity -> policy name.

    ``admin`` is ``None`` when disabled; a value that is not 64 hex digits never matches an
    identity anyway. Identities can be removed at run time (``/v1/identity/delete``); policies
    come from the config file only.
    """

    admin: str | None
    policies: Mapping[str, PolicyView]
    identities: dict[str, str]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _decisions: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)

    def is_admin(self, identity: str) -> bool:
        """Only a real identity (64 hex digits) can be the admin: ``disabled`` never matches."""
        return self.admin is not None and identity == self.admin and is_identity(identity)

    def policy_of(self, identity: str) -> tuple[str, PolicyView] | None:
        name = self.identities.get(identity)
        if name is None:
            return None
        policy = self.policies.get(name)
        return None if policy is None else (name, policy)

    def allowed(self, identity: str, path: str) -> bool:
        """Policy decision for (identity, path), memoised: MinIO uses few keys and paths."""
        key = (identity, path)
        decision = self._decisions.get(key)
        if decision is None:
            if self.is_admin(identity):
                decision = True
            else:
                found = self.policy_of(identity)
                decision = found is not None and found[1].verify(path)
            if len(self._decisions) >= 4096:
                self._decisions.clear()
            self._decisions[key] = decision
        return decision

    def remove_identity(self, identity: str) -> bool:
        """Drop an identity's policy assignment (run time only); False if it had none."""
        self._decisions.clear()
        return self.identities.pop(identity, None) is not None


# -- route table ---------------------------------------------------------------------------

NONE, CERT, POLICY = "none", "cert", "policy"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    max_body: int
    timeout: float  # seconds; 0 = none
    auth: str
    handler: str
    metered: bool = True
    listed: bool = True  # shown by /v1/api


ROUTES: tuple[Route, ...] = (
    Route("GET", "/version", 0, 10, NONE, "version", metered=False),
    Route("GET", "/v1/ready", 0, 15, POLICY, "ready", metered=False),
    Route("GET", "/v1/status", 0, 15, POLICY, "status", metered=False),
    Route("GET", "/v1/metrics", 0, 15, POLICY, "metrics", metered=False),
    Route("GET", "/v1/api", 0, 10, POLICY, "api", metered=False),
    Route("PUT", "/v1/key/create/", 0, 15, POLICY, "key_create"),
    Route("PUT", "/v1/key/import/", MB, 15, POLICY, "key_import"),
    Route("GET", "/v1/key/describe/", 0, 15, POLICY, "key_describe"),
    Route("GET", "/v1/key/list/", 0, 15, POLICY, "key_list"),
    Route("DELETE", "/v1/key/delete/", 0, 15, POLICY, "key_delete"),
    Route("PUT", "/v1/key/generate/", MB, 15, POLICY, "key_generate"),
    Route("PUT", "/v1/key/encrypt/", MB, 15, POLICY, "key_encrypt"),
    Route("PUT", "/v1/key/decrypt/", MB, 15, POLICY, "key_decrypt"),
    Route("PUT", "/v1/key/hmac/", MB, 15, POLICY, "key_hmac"),
    Route("POST", "/v1/key/bulk/decrypt/", MIB, 15, POLICY, "key_bulk_decrypt", listed=False),
    Route("GET", "/v1/policy/describe/", 0, 15, POLICY, "policy_describe"),
    Route("GET", "/v1/policy/read/", 0, 15, POLICY, "policy_read"),
    Route("GET", "/v1/policy/list/", 0, 15, POLICY, "policy_list"),
    Route("GET", "/v1/identity/describe/", 0, 15, POLICY, "identity_describe"),
    Route("GET", "/v1/identity/self/describe", 0, 15, CERT, "identity_self_describe"),
    Route("GET", "/v1/identity/list/", 0, 15, POLICY, "identity_list"),
    Route("DELETE", "/v1/identity/delete/", 0, 15, POLICY, "identity_delete", listed=False),
    Route("GET", "/v1/log/error", 0, 0, POLICY, "log_error", metered=False),
    Route("GET", "/v1/log/audit", 0, 0, POLICY, "log_audit", metered=False),
    Route("GET", "/v1/log/error/trace", 0, 0, POLICY, "log_error", metered=False, listed=False),
    Route("GET", "/v1/log/audit/trace", 0, 0, POLICY, "log_audit", metered=False, listed=False),
)

_EXACT: dict[str, Route] = {r.path: r for r in ROUTES if not r.path.endswith("/")}
_SUBTREE: tuple[Route, ...] = tuple(
    sorted((r for r in ROUTES if r.path.endswith("/")), key=lambda r: -len(r.path))
)


_FOUND: dict[str, tuple[Route, str, str] | None] = {}


def find_route(path: str) -> tuple[Route, str, str] | None:
    """Return (route, resource, path used for authorization) for a decoded path (memoised:
    clients use few distinct paths)."""
    try:
        return _FOUND[path]
    except KeyError:
        pass
    found = _find_route(path)
    if len(_FOUND) >= 4096:
        _FOUND.clear()
    _FOUND[path] = found
    return found


def _find_route(path: str) -> tuple[Route, str, str] | None:
    route = _EXACT.get(path)
    if route is not None:
        return route, "", path
    for route in _SUBTREE:
        if path.startswith(route.path):
            return route, path[len(route.path) :], path
        if path + "/" == route.path:
            return route, "", route.path
    return None


def _unclean(path: str) -> bool:
    if not path.startswith("/") or "//" in path or "\\" in path or "\x00" in path:
        return True
    if "/." not in path:
        return False
    return any(seg in (".", "..") for seg in path.split("/"))


# -- JSON helpers (Go encoding/json rules) ---------------------------------------------------


def _dumps(doc: Any) -> bytes:
    text = json.dumps(doc, separators=(",", ":"))
    if "<" in text or ">" in text or "&" in text:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode() + b"\n"


def _json(doc: Any, status: int = 200) -> Response:
    return Response(status, _dumps(doc), content_type=JSON)


def _error(err: APIError, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(err.status, errors.error_body(err.message), headers or [], content_type=JSON)


def _decode_body(body: bytes, err: APIError = errors.INVALID_BODY) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise err from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise err
    return doc


def _field(doc: Mapping[str, Any], name: str) -> Any:
    """Go's case-insensitive field matching: an exact match wins, else any case-fold match."""
    if name in doc:
        return doc[name]
    lowered = name.lower()
    for key, value in doc.items():
        if key.lower() == lowered:
            return value
    return None


def _decrypt_request(request: Request) -> tuple[bytes, bytes]:
    doc = _decode_body(request.body)
    return _b64(doc, "ciphertext"), _b64(doc, "context")


def _decrypted(key: SecretKey, ciphertext: bytes, context: bytes) -> Response:
    try:
        plaintext = key.decrypt(ciphertext, context)
    except DecryptionError:
        raise errors.DECRYPT_FAILED from None
    return Response(200, b'{"plaintext":"%s"}\n' % base64.b64encode(plaintext), content_type=JSON)


def _b64(doc: Mapping[str, Any], name: str, err: APIError = errors.INVALID_BODY) -> bytes:
    """A Go ``[]byte`` field: std base64 with padding, CR/LF ignored, ``null``/missing = empty."""
    value = _field(doc, name)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise err
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise err from None


def _b64s(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _key_error(exc: KeyStoreError, on_other: APIError) -> APIError:
    """Map a keystore error to the wire; failures of the store itself go to the error log
    (keystore messages never hold key material)."""
    if isinstance(exc, KeyNotFoundError):
        return errors.KEY_NOT_FOUND
    if isinstance(exc, KeyExistsError):
        return errors.KEY_EXISTS
    if isinstance(exc, KeyStoreDeniedError):
        log.error("%s: %s", on_other.message, exc)
        return errors.NOT_ALLOWED
    log.error("%s: %s: %s", on_other.message, type(exc).__name__, exc)
    return on_other


# -- the API ---------------------------------------------------------------------------------

Handler = Callable[[Request, str, str], Awaitable[Response]]
ImmediateHandler = Callable[[Request, str, str], Response | None]


class KeyServerAPI:
    """Routes requests to handlers; ``handle`` is the ``net.http`` handler."""

    def __init__(
        self,
        *,
        cache: KeyCacheLike,
        access: Access,
        audit: AuditLog | None = None,
        error_log: ErrorLog | None = None,
        metrics: Metrics | None = None,
        version: str = "",
        commit: str = "",
        profile: str = "modern",
        algorithm: KeyAlgorithm = KeyAlgorithm.AES256,
        timeouts: Mapping[str, float] | None = None,
        skip_auth: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache = cache
        self.access = access
        self.metrics = metrics or Metrics()
        self.audit = audit or AuditLog(on_delivered=self.metrics.audit_delivered)
        self.error_log = error_log or ErrorLog(
            to_stderr=False, on_delivered=self.metrics.error_delivered
        )
        self.version = version
        self.commit = commit
        self.profile = profile
        self.algorithm = algorithm
        self.timeouts = dict(timeouts or {})
        self.skip_auth = skip_auth
        self._clock = clock
        self._started = clock()
        self._deadlines = _Deadlines(min([*self.timeouts.values(), 1.0]))
        self._handlers: dict[str, Handler] = {
            r.handler: getattr(self, "_" + r.handler) for r in ROUTES
        }
        # the data-key calls of object servers, answered without a task when the key is cached
        self._immediate: dict[str, ImmediateHandler] = {
            "key_generate": self._key_generate_now,
            "key_decrypt": self._key_decrypt_now,
        }
        # per route: (effective timeout, authentication required) after config overrides
        self._effective: dict[Route, tuple[float, bool]] = {
            r: (self.route_timeout(r), r.auth != NONE and r.path.rstrip("/") not in skip_auth)
            for r in ROUTES
        }

    async def close(self) -> None:
        """Stop the timeout watchdog (the server calls this when it stops)."""
        await self._deadlines.close()

    # -- net.http hooks --------------------------------------------------------------------
    def body_limit(self, method: str, path: str) -> int:
        found = find_route(unquote(path) if "%" in path else path)
        return found[0].max_body if found is not None else 0

    async def handle(self, request: Request) -> Response:
        start = time.perf_counter_ns()
        identity = ""
        path = request.path
        route: Route | None = None
        try:
            if "%" in path:
                path = unquote(path, errors="strict")
            if _unclean(path):
                raise errors.UNCLEAN_PATH
            found = find_route(path)
            if found is None:
                response = Response(
                    404, b"404 page not found\n", content_type="text/plain; charset=utf-8"
                )
            else:
                route, resource, auth_path = found
                identity, response = await self._dispatch(request, route, resource, auth_path)
        except APIError as err:
            response = _error(err)
        except UnicodeDecodeError:
            response = _error(errors.UNCLEAN_PATH)
        self._record(request, route, path, identity, response, start)
        return response

    def handle_now(self, request: Request) -> Response | None:
        """The answer :meth:`handle` would give, for a data-key call whose key is cached and
        that needs no waiting at all; None for every other request (``handle`` answers it)."""
        start = time.perf_counter_ns()
        path = request.path
        found = find_route(path) if "%" not in path else None
        if found is None:
            return None
        route, resource, auth_path = found
        handler = self._immediate.get(route.handler)
        if handler is None or _unclean(path):
            return None
        identity = ""
        try:
            identity, refused = self._admit(request, route, auth_path)
            response = refused or handler(request, resource, identity)
        except APIError as err:
            response = _error(err)
        if response is None:
            return None
        self._record(request, route, path, identity, response, start)
        return response

    def _record(
        self,
        request: Request,
        route: Route | None,
        path: str,
        identity: str,
        response: Response,
        start: int,
    ) -> None:
        elapsed = time.perf_counter_ns() - start
        if route is not None and route.metered:
            self.metrics.observe(response.status, elapsed / 1e9)
        if self.audit.enabled:
            peer = request.info("peername")
            ip = peer[0] if isinstance(peer, tuple) and peer else ""
            self.audit.log(
                identity=identity, path=path, ip=ip, status=response.status, duration_ns=elapsed
            )

    def _admit(self, request: Request, route: Route, auth_path: str) -> tuple[str, Response | None]:
        """The caller's identity, and the refusal when the request may not run the route
        (wrong method, not allowed, body too large). Raises APIError for a missing identity."""
        method = request.method
        if method != route.method and not ({method, route.method} <= {"PUT", "POST"}):
            err = errors.method_not_allowed(method, route.method)
            return "", _error(err, [("Accept", route.method)])
        identity = ""
        if self._effective[route][1]:
            identity = self._identify(request)
            if route.auth == POLICY and not self.access.allowed(identity, auth_path):
                return identity, _error(errors.NOT_ALLOWED)
        if request.body_too_large and route.max_body > 0:
            return identity, _error(
                errors.INVALID_IMPORT_BODY if route.handler == "key_import" else errors.INVALID_BODY
            )
        return identity, None

    async def _dispatch(
        self, request: Request, route: Route, resource: str, auth_path: str
    ) -> tuple[str, Response]:
        identity, refused = self._admit(request, route, auth_path)
        if refused is not None:
            return identity, refused
        timeout = self._effective[route][0]
        handler = self._handlers[route.handler]
        if route.metered:
            self.metrics.active += 1
        task = asyncio.current_task() if timeout > 0 else None
        if task is not None:
            self._deadlines.watch(task, timeout)
        try:
            return identity, await handler(request, resource, identity)
        except APIError as err:
            return identity, _error(err)
        except asyncio.CancelledError:
            if task is not None and self._deadlines.expired(task):
                return identity, _error(errors.TIMEOUT)
            raise
        finally:
            if task is not None:
                self._deadlines.unwatch(task)
            if route.metered:
                self.metrics.active -= 1

    @staticmethod
    def _identify(request: Request) -> str:
        identity = request.info("peer_identity")
        if isinstance(identity, str):
            return identity
        if request.info("peer_identity_error"):
            raise errors.TOO_MANY_CERTS
        raise errors.CERT_REQUIRED

    def route_timeout(self, route: Route) -> float:
        return self.timeouts.get(route.path.rstrip("/"), route.timeout)

    # -- system ----------------------------------------------------------------------------
    async def _version(self, request: Request, resource: str, identity: str) -> Response:
        return _json({"version": self.version, "commit": self.commit})

    async def _ready(self, request: Request, resource: str, identity: str) -> Response:
        try:
            await self.cache.status()
        except KeyStoreUnreachableError:
            raise errors.STORE_UNREACHABLE from None
        except KeyStoreError:
            raise errors.STORE_UNAVAILABLE from None
        return Response(200)

    async def _status(self, request: Request, resource: str, identity: str) -> Response:
        doc: dict[str, Any] = {
            "version": self.version,
            "os": platform.system().lower(),
            "arch": _arch(),
            "uptime": int(self._clock() - self._started),
            "num_cpu": os.cpu_count() or 1,
            "num_cpu_used": num_cpu_used(),
            "mem_heap_used": rss_bytes(),
            "mem_stack_used": 0,
        }
        try:
            status = await self.cache.status()
            doc["keystore_latency"] = max(1, round(status.latency * 1000))
        except KeyStoreError:
            doc["keystore_unreachable"] = True
            doc["keystore_unavailable"] = True
        return _json(doc)

    async def _api(self, request: Request, resource: str, identity: str) -> Response:
        return _json(
            [
                {
                    "method": r.method,
                    "path": r.path,
                    "max_body": r.max_body,
                    "timeout": int(self.route_timeout(r)),
                }
                for r in ROUTES
                if r.listed
            ]
        )

    async def _metrics(self, request: Request, resource: str, identity: str) -> Response:
        return Response(200, self.metrics.render(), content_type=METRICS_CONTENT_TYPE)

    # -- keys ------------------------------------------------------------------------------
    @staticmethod
    def _name(resource: str) -> str:
        if not valid_name(resource):
            raise errors.invalid_key_name(resource)
        return resource

    async def _get_key(self, name: str) -> SecretKey:
        try:
            return await self.cache.get(name)
        except KeyStoreError as exc:
            raise _key_error(exc, errors.READ_FAILED) from None

    async def _store_key(self, name: str, key: SecretKey) -> None:
        try:
            await self.cache.create(name, key)
        except KeyStoreError as exc:
            raise _key_error(exc, errors.CREATE_FAILED) from None

    async def _key_create(self, request: Request, resource: str, identity: str) -> Response:
        name = self._name(resource)
        try:
            key = SecretKey.generate(self.algorithm, identity)
        except Exception:
            raise errors.GENERATE_FAILED from None
        await self._store_key(name, key)
        return Response(200)

    async def _key_import(self, request: Request, resource: str, identity: str) -> Response:
        name = self._name(resource)
        doc = _decode_body(request.body, errors.INVALID_IMPORT_BODY)
        raw = _b64(doc, "key", errors.INVALID_IMPORT_BODY) or _b64(
            doc, "bytes", errors.INVALID_IMPORT_BODY
        )
        cipher = _field(doc, "cipher")
        if cipher is None:
            cipher = ""
        if not isinstance(cipher, str):
            raise errors.INVALID_IMPORT_BODY
        try:
            algorithm = KeyAlgorithm.parse(cipher) if cipher else KeyAlgorithm.AES256
        except ValueError:
            raise errors.cipher_not_supported(cipher) from None
        if len(raw) != 32:
            raise errors.invalid_key_size(cipher or algorithm.value)
        key = SecretKey.from_bytes(raw, algorithm, identity)
        await self._store_key(name, key)
        return Response(200)

    async def _key_describe(self, request: Request, resource: str, identity: str) -> Response:
        name = self._name(resource)
        key = await self._get_key(name)
        doc: dict[str, Any] = {
            "name": name,
            "id": key.key_id,
            "algorithm": key.algorithm.value,
            "created_at": format_go_time(key.created_at),
        }
        if key.created_by:
            doc["created_by"] = key.created_by
        return _json(doc)

    async def _key_list(self, request: Request, resource: str, identity: str) -> Response:
        if not valid_pattern(resource):
            raise errors.invalid_pattern(resource)
        prefix = resource[:-1] if resource.endswith("*") else resource
        try:
            names, _ = await self.cache.list(prefix, -1)
        except KeyStoreError as exc:
            raise _key_error(exc, errors.LIST_FAILED) from None
        body = b"".join(_dumps({"name": n}) for n in sorted(names) if n.startswith(prefix))
        return Response(200, body, content_type=NDJSON)

    async def _key_delete(self, request: Request, resource: str, identity: str) -> Response:
        name = self._name(resource)
        try:
            await self.cache.delete(name)
        except KeyStoreError as exc:
            raise _key_error(exc, errors.DELETE_FAILED) from None
        return Response(200)

    async def _key_generate(self, request: Request, resource: str, identity: str) -> Response:
        name = self._name(resource)
        context = _b64(_decode_body(request.body), "context")
        return self._generated(await self._get_key(name), context)

    def _key_generate_now(self, request: Request, resource: str, identity: str) -> Response | None:
        name = self._name(resource)
        context = _b64(_decode_body(request.body), "context")
        key = self.cache.peek(name)
        return self._generated(key, context) if key is not None else None

    def _generated(self, key: SecretKey, context: bytes) -> Response:
        fmt: CiphertextFormat = "json" if self.profile == "legacy" else "raw"
        try:
            plaintext, ciphertext = generate_data_key(key, context, format=fmt)
        except Exception:
            raise errors.GENERATE_FAILED from None
        body = b'{"plaintext":"%s","ciphertext":"%s"}\n' % (
            base64.b64encode(plaintext),
            base64.b64encode(ciphertext),
        )
        return Response(200, body, content_type=JSON)

    async def _key_encrypt(self, request: Request, resource: str, identity: str) -> Response:
        name = self._name(resource)
        doc = _decode_body(request.body)
        plaintext = _b64(doc, "plaintext")
        context = _b64(doc, "context")
        key = await self._get_key(name)
        fmt: CiphertextFormat = "json" if self.profile == "legacy" else "raw"
        try:
            ciphertext = key.encrypt(plaintext, context, format=fmt)
        except Exception:
            raise errors.ENCRYPT_FAILED from None
        return Response(
            200, b'{"ciphertext":"%s"}\n' % base64.b64encode(ciphertext), content_type=JSON
        )

    async def _key_decrypt(self, request: Request, resource: str, identity: str) -> Response:
        name = self._name(resource)
        ciphertext, context = _decrypt_request(request)
        return _decrypted(await self._get_key(name), ciphertext, context)

    def _key_decrypt_now(self, request: Request, resource: str, identity: str) -> Response | None:
        name = self._name(resource)
        ciphertext, context = _decrypt_request(request)
        key = self.cache.peek(name)
        return _decrypted(key, ciphertext, context) if key is not None else None

    async def _key_bulk_decrypt(self, request: Request, resource: str, identity: str) -> Response:
        name = self._name(resource)
        try:
            items = json.loads(request.body) if request.body.strip() else []
        except (ValueError, UnicodeDecodeError):
            raise errors.INVALID_BODY from None
        if items is None:
            items = []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise errors.INVALID_BODY
        if len(items) > 1000:
            raise errors.TOO_MANY_CIPHERTEXTS
        key = await self._get_key(name)
        out = []
        for item in items:
            ciphertext, context = _b64(item, "ciphertext"), _b64(item, "context")
            try:
                out.append({"plaintext": _b64s(key.decrypt(ciphertext, context))})
            except DecryptionError:
                raise errors.DECRYPT_FAILED from None
        return _json(out)

    async def _key_hmac(self, request: Request, resource: str, identity: str) -> Response:
        name = self._name(resource)
        message = _b64(_decode_body(request.body), "message")
        key = await self._get_key(name)
        try:
            mac = key.hmac(message)
        except HMACUnsupportedError:
            raise errors.HMAC_UNSUPPORTED from None
        return Response(200, b'{"hmac":"%s"}\n' % base64.b64encode(mac), content_type=JSON)

    # -- policies --------------------------------------------------------------------------
    def _policy(self, resource: str) -> PolicyView:
        if not valid_name(resource):
            raise errors.invalid_policy_name(resource)
        policy = self.access.policies.get(resource)
        if policy is None:
            raise errors.POLICY_NOT_FOUND
        return policy

    def _admin_text(self) -> str:
        return self.access.admin or ""

    async def _policy_describe(self, request: Request, resource: str, identity: str) -> Response:
        self._policy(resource)
        return _json(
            {
                "name": resource,
                "created_at": format_go_time(self.access.created_at),
                "created_by": self._admin_text(),
            }
        )

    async def _policy_read(self, request: Request, resource: str, identity: str) -> Response:
        policy = self._policy(resource)
        doc: dict[str, Any] = {"name": resource}
        doc.update(_allow_deny(policy))
        doc["created_at"] = format_go_time(self.access.created_at)
        doc["created_by"] = self._admin_text()
        return _json(doc)

    async def _policy_list(self, request: Request, resource: str, identity: str) -> Response:
        if not valid_pattern(resource):
            raise errors.invalid_pattern(resource)
        prefix = resource[:-1] if resource.endswith("*") else resource
        created = format_go_time(self.access.created_at)
        body = b"".join(
            _dumps({"name": n, "created_at": created, "created_by": self._admin_text()})
            for n in sorted(self.access.policies)
            if n.startswith(prefix)
        )
        return Response(200, body, content_type=NDJSON)

    # -- identities ------------------------------------------------------------------------
    @staticmethod
    def _identity_arg(resource: str) -> str:
        if not valid_name(resource):
            raise errors.invalid_identity(resource)
        return resource

    def _describe_identity(self, ident: str) -> dict[str, Any]:
        created = format_go_time(self.access.created_at)
        if self.access.is_admin(ident):
            return {"identity": ident, "admin": True, "created_at": created}
        found = self.access.policy_of(ident)
        if found is None:
            raise errors.IDENTITY_NOT_FOUND
        return {
            "identity": ident,
            "policy": found[0],
            "created_at": created,
            "created_by": self._admin_text(),
        }

    async def _identity_describe(self, request: Request, resource: str, identity: str) -> Response:
        doc = self._describe_identity(self._identity_arg(resource))
        doc.pop("identity", None)
        return _json(doc)

    async def _identity_self_describe(
        self, request: Request, resource: str, identity: str
    ) -> Response:
        # KES-2023 flat shape (what kms-go's DescribeSelf parses).
        doc = self._describe_identity(identity)
        found = self.access.policy_of(identity)
        if found is not None and not self.access.is_admin(identity):
            doc.update(_allow_deny(found[1]))
        return _json(doc)

    async def _identity_list(self, request: Request, resource: str, identity: str) -> Response:
        if not valid_pattern(resource):
            raise errors.invalid_pattern(resource)
        prefix = resource[:-1] if resource.endswith("*") else resource
        created = format_go_time(self.access.created_at)
        rows: dict[str, dict[str, Any]] = {}
        if self.access.admin:
            rows[self.access.admin] = {
                "identity": self.access.admin,
                "admin": True,
                "created_at": created,
            }
        for ident, policy in self.access.identities.items():
            rows.setdefault(
                ident,
                {
                    "identity": ident,
                    "policy": policy,
                    "created_at": created,
                    "created_by": self._admin_text(),
                },
            )
        body = b"".join(_dumps(rows[i]) for i in sorted(rows) if i.startswith(prefix))
        return Response(200, body, content_type=NDJSON)

    async def _identity_delete(self, request: Request, resource: str, identity: str) -> Response:
        ident = self._identity_arg(resource)
        if self.access.is_admin(ident):
            raise APIError(400, "identity is root")
        if not self.access.remove_identity(ident):
            raise errors.IDENTITY_NOT_FOUND
        return Response(200)

    # -- logs ------------------------------------------------------------------------------
    async def _log_error(self, request: Request, resource: str, identity: str) -> Response:
        return Response(200, stream=self.error_log.stream.subscribe(), content_type=NDJSON)

    async def _log_audit(self, request: Request, resource: str, identity: str) -> Response:
        return Response(200, stream=self.audit.stream.subscribe(), content_type=NDJSON)


class _Deadlines:
    """Per-route timeouts for many short requests: one watchdog task cancels the tasks that
    overran, instead of a timer per request (a timer costs more than a cached generate)."""

    def __init__(self, resolution: float = 1.0) -> None:
        self._tick = max(0.05, min(1.0, resolution / 2))
        self._due: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None

    def watch(self, task: asyncio.Task[Any], timeout: float) -> None:
        loop = task.get_loop()
        self._due[task] = loop.time() + timeout
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = loop.create_task(self._run())

    def unwatch(self, task: asyncio.Task[Any]) -> None:
        self._due.pop(task, None)
        self._expired.discard(task)

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """True (once) if the watchdog cancelled ``task``; its cancellation is then undone."""
        if task in self._expired:
            self._expired.discard(task)
            task.uncancel()
            return True
        return False

    async def close(self) -> None:
        task, self._watchdog = self._watchdog, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        # Runs until close(): stopping when idle would mean a new task for the next request.
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._tick)
            now = loop.time()
            for task, due in list(self._due.items()):
                if now >= due and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()


def _allow_deny(policy: PolicyView) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if policy.allow:
        doc["allow"] = {p: {} for p in policy.allow}
    if policy.deny:
        doc["deny"] = {p: {} for p in policy.deny}
    return doc


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
