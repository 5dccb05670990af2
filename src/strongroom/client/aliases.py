"""Aliases: named S3 endpoints with credentials, kept in ``config.json`` (mode 0600).

The file lives in ``~/.strongroom`` unless ``STRONGROOM_CONFIG_DIR`` (or the CLI's
``--config-dir``) says otherwise. It is replaced atomically (temporary file in the same
directory, fsync, rename) under an advisory lock, so concurrent ``alias set`` runs never leave
a half-written file. Its layout follows mc's ``config.json``::

    {"version": "1",
     "aliases": {"local": {"url": "https://127.0.0.1:9000", "accessKey": "...",
                           "secretKey": "...", "api": "S3v4", "path": "auto",
                           "region": "us-east-1", "insecure": false, "ca": null}}}

An alias can also come from the environment, like mc's ``MC_HOST_<alias>``:
``STRONGROOM_HOST_<alias>=https://ACCESS:SECRET@host:port``; it wins over the file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from strongroom.client.errors import ClientError, NotFoundError, UsageError

__all__ = [
    "CONFIG_ENV",
    "HOST_ENV_PREFIX",
    "MASK",
    "Alias",
    "AliasStore",
    "PathStyle",
    "default_config_dir",
]

CONFIG_ENV = "STRONGROOM_CONFIG_DIR"
HOST_ENV_PREFIX = "STRONGROOM_HOST_"
CONFIG_VERSION = "1"
MASK = "********"
DEFAULT_REGION = "us-east-1"

PathStyle = Literal["auto", "on", "off"]
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def default_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    configured = env.get(CONFIG_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".strongroom"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(
            f"invalid alias name `{name}`: use a letter, then letters, digits, `-` or `_`"
        )
    return name


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"invalid URL `{url}`: expected http(s)://host[:port]")
    if parts.username is not None or parts.query or parts.fragment:
        raise UsageError(f"invalid URL `{url}`: no credentials, query or fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError(f"invalid URL `{url}`: bad port") from None
    return url.rstrip("/")


@dataclass(frozen=True)
class Alias:
    """One S3 endpoint. ``secret_key`` is left out of ``repr``; :meth:`public` masks it."""

    name: str
    url: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = DEFAULT_REGION
    path: PathStyle = "auto"
    insecure: bool = False
    ca: str | None = None
    api: str = "S3v4"

    def __post_init__(self) -> None:
        check_name(self.name)
        object.__setattr__(self, "url", check_url(self.url))
        if self.path not in ("auto", "on", "off"):
            raise UsageError(f"invalid path style `{self.path}`: auto, on or off")

    def to_file(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "accessKey": self.access_key,
            "secretKey": self.secret_key,
            "api": self.api,
            "path": self.path,
            "region": self.region,
            "insecure": self.insecure,
            "ca": self.ca,
        }

    def public(self) -> dict[str, Any]:
        """The alias as shown to users: the secret key masked, never the real value."""
        return {
            "alias": self.name,
            "URL": self.url,
            "accessKey": self.access_key,
            "secretKey": MASK,
            "api": self.api,
            "path": self.path,
            "region": self.region,
            "insecure": self.insecure,
            "ca": self.ca,
        }

    @classmethod
    def from_file(cls, name: str, value: Any, source: Path) -> Alias:
        if not isinstance(value, dict):
            raise ClientError(f"{source}: alias `{name}` is not an object")
        try:
            return cls(
                name=name,
                url=str(value["url"]),
                access_key=str(value.get("accessKey", "")),
                secret_key=str(value.get("secretKey", "")),
                region=str(value.get("region") or DEFAULT_REGION),
                path=value.get("path") or "auto",
                insecure=bool(value.get("insecure", False)),
                ca=value.get("ca") or None,
                api=str(value.get("api") or "S3v4"),
            )
        except KeyError as exc:
            raise ClientError(f"{source}: alias `{name}` has no {exc.args[0]}") from None
        except UsageError as exc:
            raise ClientError(f"{source}: alias `{name}`: {exc.message}") from None

    @classmethod
    def from_env_url(cls, name: str, value: str) -> Alias:
        """``https://ACCESS:SECRET@host:port`` (mc's ``MC_HOST_<alias>`` form)."""
        parts = urlsplit(value)
        if parts.username is None or parts.password is None:
            raise UsageError(f"{HOST_ENV_PREFIX}{name}: expected scheme://ACCESS:SECRET@host")
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc = f"{netloc}:{parts.port}"
        url = f"{parts.scheme}://{netloc}{parts.path}"
        return cls(name, url, unquote(parts.username), unquote(parts.password))


class AliasStore:
    """Aliases in ``<config_dir>/config.json``; reads are cheap, writes atomic and locked."""

    FILE_NAME = "config.json"

    def __init__(self, config_dir: Path | None = None, environ: Mapping[str, str] | None = None):
        self.environ = os.environ if environ is None else environ
        self.config_dir = config_dir if config_dir is not None else default_config_dir(self.environ)
        self.path = self.config_dir / self.FILE_NAME

    # -- reading -------------------------------------------------------------------------------

    def _read_file(self) -> dict[str, Alias]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ClientError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ClientError(f"{self.path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
        if not isinstance(data, dict) or not isinstance(data.get("aliases", {}), dict):
            raise ClientError(f"{self.path}: expected an object with an `aliases` object")
        aliases: dict[str, Any] = data.get("aliases", {})
        return {name: Alias.from_file(name, value, self.path) for name, value in aliases.items()}

    def _read_env(self) -> dict[str, Alias]:
        found: dict[str, Alias] = {}
        for key, value in self.environ.items():
            if key.startswith(HOST_ENV_PREFIX) and len(key) > len(HOST_ENV_PREFIX):
                name = key[len(HOST_ENV_PREFIX) :]
                found[name] = Alias.from_env_url(name, value)
        return found

    def load(self) -> dict[str, Alias]:
        """Every alias: the file's, then the environment's (which win)."""
        aliases = self._read_file()
        aliases.update(self._read_env())
        return aliases

    def names(self) -> set[str]:
        return set(self.load())

    def get(self, name: str) -> Alias:
        aliases = self.load()
        if name not in aliases:
            raise NotFoundError(f"no alias `{name}`: add it with `strongroom alias set`")
        return aliases[name]

    # -- writing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = self.config_dir / f".{self.FILE_NAME}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, aliases: Mapping[str, Alias]) -> None:
        document = {
            "version": CONFIG_VERSION,
            "aliases": {name: aliases[name].to_file() for name in sorted(aliases)},
        }
        payload = (json.dumps(document, indent=2) + "\n").encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.FILE_NAME}.", dir=self.config_dir)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.config_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def set(self, alias: Alias) -> Alias:
        """Add or replace ``alias``; a relative CA path is stored absolute."""
        if alias.ca is not None:
            ca = Path(alias.ca).expanduser().resolve()
            if not ca.is_file():
                raise UsageError(f"CA file `{alias.ca}` does not exist")
            alias = replace(alias, ca=str(ca))
        with self._locked():
            aliases = self._read_file()
            aliases[alias.name] = alias
            self._write(aliases)
        return alias

    def remove(self, name: str) -> None:
        with self._locked():
            aliases = self._read_file()
            if name not in aliases:
                raise NotFoundError(f"no alias `{name}` in {self.path}")
            del aliases[name]
            self._write(aliases)
