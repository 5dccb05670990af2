"""Key server configuration files (``specs/kes.md`` §10): both YAML layouts, one typed result.

The file is composed into YAML nodes with PyYAML's ``BaseLoader`` (every scalar stays a string,
so ``on``, ``off`` and ``012`` mean what they say, and every node knows its line), then read
into frozen dataclasses. The file format never leaks past :func:`load_config`.

Layouts:

* **seed** (KES v0.11-v0.16, MinIO's KMS guide): ``root``, ``policy.<n>.paths``, ``keys`` as a
  *mapping* holding the keystore (``keys.fs``/``keys.vault``). Recognised by any of these;
  strict like KES then was: an unknown key is an error. ``paths`` keep Go glob semantics.
* **modern** (KES v0.17+): ``admin.identity``, ``policy.<n>.allow/deny``, ``keys`` as a list of
  keys to create at start, ``keystore``. Lenient like KES-HEAD: unknown keys are ignored and
  reported in :attr:`ServerConfig.warnings`.

Mixing both spellings of one concept (``root`` and ``admin``, ``keys.vault`` and ``keystore``,
``paths`` and ``allow``) is an error. A scalar that is exactly ``${NAME}`` is replaced by the
environment variable (never inside policy patterns); a missing variable is an error. Every
error names the file, the line and the key::

    kes-config.yaml:12: cache.expiry.any: invalid duration "5x"

Not checked here because command-line flags may still supply them: ``tls.key``/``tls.cert``
and the admin identity (``--root``); the server checks them after applying the flags.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import yaml

from strongroom.kes.policy import (
    Policy,
    PolicyError,
    PolicySet,
    valid_name,
)

__all__ = [
    "APIRouteConfig",
    "CacheConfig",
    "ConfigError",
    "FSKeystoreConfig",
    "KeystoreConfig",
    "LogConfig",
    "MemKeystoreConfig",
    "PolicyConfig",
    "ServerConfig",
    "TLSConfig",
    "VaultKeystoreConfig",
    "load_config",
    "parse_config",
    "parse_duration",
]

DEFAULT_ADDRESS = "0.0.0.0:7373"
DEFAULT_EXPIRY_ANY = 300.0
DEFAULT_EXPIRY_UNUSED = 30.0


class ConfigError(ValueError):
    """An invalid configuration; ``str()`` is ``file:line: key: message``."""

    def __init__(self, file: str, line: int | None, key: str, message: str) -> None:
        self.file, self.line, self.key, self.message = file, line, key, message
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")


# ---------------------------------------------------------------------------------------------
# Typed result


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """Server TLS. ``auth``: ``""`` (not set: the default, off), ``"on"`` (verify client
    chains against ``ca``) or ``"off"`` (any client certificate; identity = key pin)."""

    key: str = ""
    cert: str = ""
    password: str = ""
    ca: str = ""
    auth: Literal["", "on", "off"] = ""
    proxy_identities: tuple[str, ...] = ()
    proxy_header: str = "X-Tls-Client-Cert"


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """One policy. ``syntax`` is ``glob`` for the seed's ``paths`` (Go ``path.Match``) and
    ``auto`` for ``allow``/``deny`` (see :mod:`strongroom.kes.policy`)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    identities: tuple[str, ...] = ()
    syntax: Literal["auto", "glob"] = "auto"

    def to_policy(self) -> Policy:
        return Policy(allow=self.allow, deny=self.deny, syntax=self.syntax)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Cache expiries in seconds; 0 disables that expiry (``expiry_offline`` 0: no offline
    caching)."""

    expiry_any: float = DEFAULT_EXPIRY_ANY
    expiry_unused: float = DEFAULT_EXPIRY_UNUSED
    expiry_offline: float = 0.0


@dataclass(frozen=True, slots=True)
class LogConfig:
    """``error``: error log to stderr (default on); ``audit``: audit log to stdout (default
    off). ``*_level`` keep the modern level spelling (``INFO``, ``DEBUG``...) when given."""

    error: bool = True
    audit: bool = False
    error_level: str = ""
    audit_level: str = ""


@dataclass(frozen=True, slots=True)
class APIRouteConfig:
    """Modern ``api.<path>`` override: skip authentication and/or change the timeout (s)."""

    skip_auth: bool = False
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class FSKeystoreConfig:
    path: str


@dataclass(frozen=True, slots=True)
class MemKeystoreConfig:
    """In-memory keystore: what the seed server used when no keystore is configured."""


@dataclass(frozen=True, slots=True)
class VaultKeystoreConfig:
    """Vault/OpenBao K/V keystore (seed ``keys.vault`` and modern ``keystore.vault``).

    Field names match ``VaultKeyStore``'s keyword arguments; durations are seconds.
    ``approle_namespace`` (modern) is the namespace used for login (``/`` = root).
    """

    endpoint: str
    engine: str = "kv"
    version: Literal["v1", "v2"] = "v1"
    namespace: str = ""
    prefix: str = ""
    approle_engine: str = "approle"
    approle_namespace: str = ""
    approle_id: str = ""
    approle_secret: str = ""
    approle_retry: float = 5.0
    tls_key: str = ""
    tls_cert: str = ""
    tls_ca: str = ""
    status_ping: float = 10.0


KeystoreConfig = FSKeystoreConfig | MemKeystoreConfig | VaultKeystoreConfig


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """A loaded key server configuration. ``admin`` is ``None`` when not configured (the
    ``--root`` flag may supply it); ``disabled`` or ``_`` are kept as given and never match."""

    address: str = DEFAULT_ADDRESS
    tls: TLSConfig = field(default_factory=TLSConfig)
    admin: str | None = None
    policies: Mapping[str, PolicyConfig] = field(default_factory=dict)
    cache: CacheConfig = field(default_factory=CacheConfig)
    log: LogConfig = field(default_factory=LogConfig)
    keys: tuple[str, ...] = ()
    keystore: KeystoreConfig = field(default_factory=MemKeystoreConfig)
    api: Mapping[str, APIRouteConfig] = field(default_factory=dict)
    layout: Literal["seed", "modern"] = "modern"
    source: str = ""
    warnings: tuple[str, ...] = ()

    def policy_set(self, admin: str | None = None) -> PolicySet:
        """The validated :class:`PolicySet`; ``admin`` (e.g. the ``--root`` flag) overrides
        the file's admin. Raises ``PolicyError``."""
        return PolicySet.build(
            admin if admin is not None else self.admin,
            {n: (p.to_policy(), p.identities) for n, p in self.policies.items()},
        )


# ---------------------------------------------------------------------------------------------
# Durations


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-z\u00b5\u03bc]*)")


def parse_duration(text: str) -> float:
    """Parse a Go duration (``5m0s``, ``20s``, ``1h30m``, ``1.5h``, ``300ms``) into seconds.
    ``0`` needs no unit; anything else does. Raises ``ValueError``."""
    s = text.strip()
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f'invalid duration "{text}"')
    total, pos = 0.0, 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None or m.end() == pos:
            raise ValueError(f'invalid duration "{text}"')
        number, unit = m.groups()
        if number in ("", "."):
            raise ValueError(f'invalid duration "{text}"')
        if not unit:
            raise ValueError(f'missing unit in duration "{text}"')
        if unit not in _DURATION_UNITS:
            raise ValueError(f'unknown unit "{unit}" in duration "{text}"')
        total += float(number) * _DURATION_UNITS[unit]
        pos = m.end()
    return sign * total


# ---------------------------------------------------------------------------------------------
# Node reading


_ENV_REF = re.compile(r"\$\{([^}]*)\}")
_TRUE = frozenset({"true", "on", "yes", "1"})
_FALSE = frozenset({"false", "off", "no", "0"})


@dataclass
class _Reader:
    file: str
    env: Mapping[str, str]
    strict: bool = False
    warnings: list[str] = field(default_factory=list)

    def error(self, node: yaml.Node | None, key: str, message: str) -> ConfigError:
        line = node.start_mark.line + 1 if node is not None else None
        return ConfigError(self.file, line, key, message)

    def mapping(self, node: yaml.Node, key: str) -> _Map:
        if isinstance(node, yaml.ScalarNode) and node.value == "":
            return _Map(self, None, key, {})  # "tls:" with nothing under it
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, key, "expected a mapping")
        items: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                raise self.error(k, key, "mapping keys must be strings")
            if k.value in items:
                raise self.error(k, _join(key, k.value), "duplicate key")
            items[k.value] = (k, v)
        return _Map(self, node, key, items)

    def string(self, node: yaml.Node, key: str, *, env: bool = True) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, key, "expected a string")
        value = str(node.value)
        if env:
            ref = _ENV_REF.fullmatch(value.strip())
            if ref is not None:
                name = ref.group(1)
                if name not in self.env:
                    raise self.error(node, key, f"referenced env. variable '{name}' not found")
                return self.env[name]
        return value

    def strings(self, node: yaml.Node, key: str, *, env: bool = True) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode) and node.value == "":
            return ()
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, key, "expected a list")
        return tuple(self.string(n, f"{key}[{i}]", env=env) for i, n in enumerate(node.value))

    def duration(self, node: yaml.Node, key: str) -> float | None:
        text = self.string(node, key).strip()
        if not text:
            return None
        try:
            value = parse_duration(text)
        except ValueError as e:
            raise self.error(node, key, str(e)) from None
        if value < 0:
            raise self.error(node, key, f'negative duration "{text}"')
        return value

    def boolean(self, node: yaml.Node, key: str) -> bool:
        text = self.string(node, key).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self.error(node, key, f'invalid boolean "{text}": use true/on or false/off')


def _join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


class _Map:
    """A mapping node being read: tracks which keys were consumed to report unknown ones."""

    def __init__(
        self,
        reader: _Reader,
        node: yaml.Node | None,
        path: str,
        items: dict[str, tuple[yaml.Node, yaml.Node]],
    ) -> None:
        self.r, self.node, self.path, self.items = reader, node, path, items
        self.used: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self.items

    def key(self, key: str) -> str:
        return _join(self.path, key)

    def get(self, key: str) -> yaml.Node | None:
        if key not in self.items:
            return None
        self.used.add(key)
        return self.items[key][1]

    def names(self) -> list[str]:
        return list(self.items)

    def string(self, key: str, default: str = "", *, env: bool = True) -> str:
        node = self.get(key)
        return default if node is None else self.r.string(node, self.key(key), env=env)

    def strings(self, key: str, *, env: bool = True) -> tuple[str, ...]:
        node = self.get(key)
        return () if node is None else self.r.strings(node, self.key(key), env=env)

    def duration(self, key: str) -> float | None:
        node = self.get(key)
        return None if node is None else self.r.duration(node, self.key(key))

    def mapping(self, key: str) -> _Map | None:
        node = self.get(key)
        return None if node is None else self.r.mapping(node, self.key(key))

    def finish(self, *, ignore: bool = False) -> None:
        """Report keys never read: an error in strict (seed) mode, else a warning."""
        for name, (knode, _) in self.items.items():
            if name in self.used or ignore:
                continue
            err = self.r.error(knode, self.key(name), "unknown key")
            if self.r.strict:
                raise err
            self.r.warnings.append(str(err))


# ---------------------------------------------------------------------------------------------
# Loading


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> ServerConfig:
    """Load and validate a key server config file; raise :class:`ConfigError`."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(name, None, "", f"cannot read config: {e}") from None
    return parse_config(text, name, env=env)


def parse_config(
    text: str, file: str = "<config>", *, env: Mapping[str, str] | None = None
) -> ServerConfig:
    """Parse config text (``file`` names it in errors); ``env`` defaults to ``os.environ``."""
    try:
        root = yaml.compose(text, Loader=yaml.BaseLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(file, line, "", f"invalid YAML: {e.problem or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(file, None, "", f"invalid YAML: {e}") from None
    except RecursionError:
        raise ConfigError(file, None, "", "invalid YAML: nested too deeply") from None
    if root is None:
        raise ConfigError(file, None, "", "the config file is empty")
    reader = _Reader(file, os.environ if env is None else env)
    top = reader.mapping(root, "")
    layout = _detect_layout(reader, top)
    reader.strict = layout == "seed"
    return _read_server(reader, top, layout, file)


def _detect_layout(r: _Reader, top: _Map) -> Literal["seed", "modern"]:
    seed = "root" in top
    keys_node = top.items.get("keys")
    if keys_node is not None and isinstance(keys_node[1], yaml.MappingNode):
        seed = True
    policy = top.items.get("policy")
    if policy is not None and isinstance(policy[1], yaml.MappingNode):
        for _, pnode in policy[1].value:
            if isinstance(pnode, yaml.MappingNode) and any(
                isinstance(k, yaml.ScalarNode) and k.value == "paths" for k, _ in pnode.value
            ):
                seed = True
    if "root" in top and "admin" in top:
        raise r.error(top.items["admin"][0], "admin", "cannot be combined with 'root'")
    if keys_node is not None and isinstance(keys_node[1], yaml.MappingNode) and "keystore" in top:
        raise r.error(
            top.items["keystore"][0], "keystore", "cannot be combined with 'keys.<store>'"
        )
    return "seed" if seed else "modern"


def _read_server(
    r: _Reader, top: _Map, layout: Literal["seed", "modern"], file: str
) -> ServerConfig:
    version_node = top.get("version")
    if version_node is not None:
        version = r.string(version_node, "version").strip()
        if version not in ("", "v1"):
            raise r.error(version_node, "version", f'unsupported config version "{version}"')

    address = top.string("address").strip() or DEFAULT_ADDRESS

    admin: str | None = None
    if "root" in top:
        admin = top.string("root").strip() or None
    admin_map = top.mapping("admin")
    if admin_map is not None:
        admin = admin_map.string("identity").strip() or None
        admin_map.finish()

    tls = _read_tls(r, top.mapping("tls"))
    policies = _read_policies(r, top.mapping("policy"))
    cache = _read_cache(r, top.mapping("cache"), layout)
    log = _read_log(r, top.mapping("log"))
    api = _read_api(r, top.mapping("api"))

    keys: tuple[str, ...] = ()
    keystore: KeystoreConfig | None = None
    keys_node = top.get("keys")
    if keys_node is not None:
        if isinstance(keys_node, yaml.MappingNode):
            keystore = _read_keystore(r, r.mapping(keys_node, "keys"))
        else:
            keys = _read_key_list(r, keys_node)
    store_map = top.mapping("keystore")
    if store_map is not None:
        keystore = _read_keystore(r, store_map)
    if keystore is None:
        if layout == "modern":
            raise ConfigError(file, None, "keystore", "no keystore specified")
        keystore = MemKeystoreConfig()

    top.finish()
    config = ServerConfig(
        address=address,
        tls=tls,
        admin=admin,
        policies=MappingProxyType(policies),
        cache=cache,
        log=log,
        keys=keys,
        keystore=keystore,
        api=MappingProxyType(api),
        layout=layout,
        source=file,
        warnings=tuple(r.warnings),
    )
    try:
        config.policy_set()
    except PolicyError as e:
        node = top.items.get("policy")
        raise r.error(node[0] if node else None, "policy", str(e)) from None
    return config


def _read_tls(r: _Reader, m: _Map | None) -> TLSConfig:
    if m is None:
        return TLSConfig()
    auth_node = m.get("auth")
    auth: Literal["", "on", "off"] = ""
    if auth_node is not None:
        text = r.string(auth_node, m.key("auth")).strip().lower()
        if text in ("on", "true"):
            auth = "on"
        elif text in ("off", "false"):
            auth = "off"
        elif text:
            raise r.error(auth_node, m.key("auth"), f'invalid value "{text}": use on or off')
    proxy_ids: tuple[str, ...] = ()
    header = "X-Tls-Client-Cert"
    proxy = m.mapping("proxy")
    if proxy is not None:
        proxy_ids = tuple(i for i in proxy.strings("identities") if i)
        header_map = proxy.mapping("header")
        if header_map is not None:
            header = header_map.string("cert").strip() or header
            header_map.finish()
        proxy.finish()
    config = TLSConfig(
        key=m.string("key").strip(),
        cert=m.string("cert").strip(),
        password=m.string("password"),
        ca=m.string("ca").strip(),
        auth=auth,
        proxy_identities=proxy_ids,
        proxy_header=header,
    )
    m.finish()
    return config


def _read_policies(r: _Reader, m: _Map | None) -> dict[str, PolicyConfig]:
    if m is None:
        return {}
    policies: dict[str, PolicyConfig] = {}
    for name in m.names():
        node = m.get(name)
        assert node is not None
        key = m.key(name)
        if not valid_name(name):
            raise r.error(
                m.items[name][0], key, "policy name is empty, too long or has invalid characters"
            )
        p = r.mapping(node, key)
        if "paths" in p and ("allow" in p or "deny" in p):
            raise r.error(node, key, "'paths' cannot be combined with 'allow'/'deny'")
        identities = tuple(i.strip() for i in p.strings("identities") if i.strip())
        if "paths" in p:
            policies[name] = PolicyConfig(
                allow=p.strings("paths", env=False), identities=identities, syntax="glob"
            )
        else:
            policies[name] = PolicyConfig(
                allow=p.strings("allow", env=False),
                deny=p.strings("deny", env=False),
                identities=identities,
            )
        p.finish()
    return policies


def _read_cache(r: _Reader, m: _Map | None, layout: str) -> CacheConfig:
    if m is None:
        return CacheConfig()
    expiry = m.mapping("expiry")
    m.finish()
    if expiry is None:
        return CacheConfig()
    any_ = expiry.duration("any")
    unused = expiry.duration("unused")
    offline = expiry.duration("offline")
    expiry.finish()
    # Seed: an explicit 0 means "never expire"; modern: 0 means "use the default".
    if layout == "modern":
        any_ = any_ or None
        unused = unused or None
    return CacheConfig(
        expiry_any=DEFAULT_EXPIRY_ANY if any_ is None else any_,
        expiry_unused=DEFAULT_EXPIRY_UNUSED if unused is None else unused,
        expiry_offline=offline or 0.0,
    )


def _log_switch(r: _Reader, m: _Map, key: str, default: bool) -> tuple[bool, str]:
    node = m.get(key)
    if node is None:
        return default, ""
    text = r.string(node, m.key(key)).strip()
    low = text.lower()
    if low in ("", "on"):
        return True, ""
    if low == "off":
        return False, ""
    if re.fullmatch(r"(debug|info|warn|error)([+-][0-9]+)?|-?[0-9]+", low):
        return True, text.upper()
    raise r.error(node, m.key(key), f'invalid value "{text}": use on, off or a log level')


def _read_log(r: _Reader, m: _Map | None) -> LogConfig:
    if m is None:
        return LogConfig()
    error, error_level = _log_switch(r, m, "error", True)
    audit, audit_level = _log_switch(r, m, "audit", False)
    m.finish()
    return LogConfig(error=error, audit=audit, error_level=error_level, audit_level=audit_level)


def _read_api(r: _Reader, m: _Map | None) -> dict[str, APIRouteConfig]:
    if m is None:
        return {}
    routes: dict[str, APIRouteConfig] = {}
    for path in m.names():
        node = m.get(path)
        assert node is not None
        route = r.mapping(node, m.key(path))
        skip = route.get("skip_auth")
        routes[path] = APIRouteConfig(
            skip_auth=r.boolean(skip, route.key("skip_auth")) if skip is not None else False,
            timeout=route.duration("timeout"),
        )
        route.finish()
    return routes


def _read_key_list(r: _Reader, node: yaml.Node) -> tuple[str, ...]:
    if isinstance(node, yaml.ScalarNode) and node.value == "":
        return ()
    if not isinstance(node, yaml.SequenceNode):
        raise r.error(node, "keys", "expected a list of keys or a keystore mapping")
    names: list[str] = []
    for i, item in enumerate(node.value):
        key = f"keys[{i}]"
        if isinstance(item, yaml.MappingNode):
            entry = r.mapping(item, key)
            name_node = entry.get("name")
            if name_node is None:
                raise r.error(item, key, "missing 'name'")
            name = r.string(name_node, f"{key}.name").strip()
            entry.finish()
        else:
            name = r.string(item, key).strip()
        if not valid_name(name):
            raise r.error(item, key, f"key name '{name}' is empty, too long or invalid")
        if name in names:
            raise r.error(item, key, f"key '{name}' is listed twice")
        names.append(name)
    return tuple(names)


_UNSUPPORTED_STORES = (
    "aws",
    "gcp",
    "azure",
    "gemalto",
    "fortanix",
    "entrust",
    "generic",
    "kes",
)


def _read_keystore(r: _Reader, m: _Map) -> KeystoreConfig:
    chosen: list[tuple[str, KeystoreConfig]] = []
    for name in m.names():
        knode = m.items[name][0]
        if name == "fs":
            fs = m.mapping("fs")
            assert fs is not None
            path_node = fs.get("path")
            path = r.string(path_node, fs.key("path")).strip() if path_node else ""
            if not path:
                raise r.error(path_node or knode, fs.key("path"), "a directory path is required")
            fs.finish()
            chosen.append((name, FSKeystoreConfig(path)))
        elif name == "vault":
            vault = m.mapping("vault")
            assert vault is not None
            chosen.append((name, _read_vault(r, vault, knode)))
        elif name in _UNSUPPORTED_STORES:
            raise r.error(knode, m.key(name), "this keystore is not supported by strongroom")
    m.finish()
    if not chosen:
        raise r.error(m.node, m.path, "no keystore specified")
    if len(chosen) > 1:
        names = ", ".join(n for n, _ in chosen)
        raise r.error(m.node, m.path, f"more than one keystore specified ({names})")
    return chosen[0][1]


def _read_vault(r: _Reader, m: _Map, knode: yaml.Node) -> VaultKeystoreConfig:
    endpoint_node = m.get("endpoint")
    endpoint = r.string(endpoint_node, m.key("endpoint")).strip() if endpoint_node else ""
    if not endpoint:
        raise r.error(endpoint_node or knode, m.key("endpoint"), "the Vault endpoint is required")
    version_node = m.get("version")
    version: Literal["v1", "v2"] = "v1"
    if version_node is not None:
        text = r.string(version_node, m.key("version")).strip()
        if text in ("v2", "2"):
            version = "v2"
        elif text not in ("", "v1", "1"):
            raise r.error(
                version_node, m.key("version"), f'K/V version must be v1 or v2, not "{text}"'
            )
    for unsupported in ("kubernetes", "transit"):
        node = m.get(unsupported)
        if node is not None:
            raise r.error(node, m.key(unsupported), "not supported by strongroom: use approle")

    approle_engine, approle_ns, approle_id, approle_secret = "approle", "", "", ""
    approle_retry: float | None = None
    approle = m.mapping("approle")
    if approle is not None:
        approle_engine = approle.string("engine").strip() or "approle"
        approle_ns = approle.string("namespace").strip()
        approle_id = approle.string("id").strip()
        approle_secret = approle.string("secret").strip()
        approle_retry = approle.duration("retry")
        approle.finish()
    tls_key = tls_cert = tls_ca = ""
    tls = m.mapping("tls")
    if tls is not None:
        tls_key, tls_cert, tls_ca = (tls.string(k).strip() for k in ("key", "cert", "ca"))
        if bool(tls_key) != bool(tls_cert):
            raise r.error(tls.node, tls.path, "key and cert must be given together")
        tls.finish()
    ping: float | None = None
    status = m.mapping("status")
    if status is not None:
        ping = status.duration("ping")
        status.finish()
    config = VaultKeystoreConfig(
        endpoint=endpoint,
        engine=m.string("engine").strip().strip("/") or "kv",
        version=version,
        namespace=m.string("namespace").strip(),
        prefix=m.string("prefix").strip().strip("/"),
        approle_engine=approle_engine,
        approle_namespace=approle_ns,
        approle_id=approle_id,
        approle_secret=approle_secret,
        approle_retry=5.0 if approle_retry is None else approle_retry,
        tls_key=tls_key,
        tls_cert=tls_cert,
        tls_ca=tls_ca,
        status_ping=10.0 if ping is None else ping,
    )
    m.finish()
    return config
