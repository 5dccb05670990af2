"""The built-in KMS: one static 256-bit master key, configured from the environment.

Configuration (MinIO-compatible; exactly one source may be set)::

    MINIO_KMS_SECRET_KEY=<name>:<base64 of 32 bytes>     current MinIO
    MINIO_KMS_SECRET_KEY_FILE=<path>                      same format in a file
    MINIO_KMS_MASTER_KEY=<name>:<64 hex chars>            older MinIO and the KMS guide
    MINIO_KMS_MASTER_KEY_FILE=<path>                      same format in a file

An empty variable, or a ``_FILE`` path that exists neither as given nor under ``/run/secrets``
(Docker secrets), counts as "not configured", as in MinIO. Malformed values are errors that name
the variable but never show the key.

Data-key ciphertexts (``generate_key`` returns, ``decrypt`` takes):

* current (written): ``AES-256-GCM(HMAC-SHA256(MK, iv)).Seal(nonce, DEK, ctx) || iv(16) ||
  nonce(12)``, 76 bytes, ``ctx`` = canonical context JSON as associated data;
* legacy JSON (read): ``{"aead":"AES-256-GCM-HMAC-SHA-256"|"ChaCha20Poly1305","iv","nonce","bytes"}``,
  the ChaCha variant keyed with ``HChaCha20(MK, iv)``;
* pre-2021 ``MINIO_KMS_MASTER_KEY`` format (read): ``DARE2(HMAC-SHA256(MK, keyID || ctx), DEK)``,
  64 bytes. That KMS accepted any key name (the name is bound by the derivation), so such
  ciphertexts decrypt under whatever key name is stored with them.

The KMS methods are ``async`` to satisfy :class:`~strongroom.kms.base.KMS`; the work is a few
microseconds of CPU, done inline.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from strongroom.crypto import dare
from strongroom.crypto.hchacha20 import hchacha20
from strongroom.crypto.hmac_sha256 import HmacKey
from strongroom.crypto.kms_context import canonical_context
from strongroom.crypto.secret import SecretBytes
from strongroom.kms.base import (
    DataKey,
    KeyStatus,
    KMSDecryptError,
    KMSError,
    KMSKeyExistsError,
    KMSKeyNotFoundError,
    KMSNotSupportedError,
    KMSStatus,
)

__all__ = [
    "ENV_MASTER_KEY",
    "ENV_MASTER_KEY_FILE",
    "ENV_SECRET_KEY",
    "ENV_SECRET_KEY_FILE",
    "LOCAL_KEY_PATH",
    "KMSConfigError",
    "StaticKMS",
    "from_env",
    "load_or_create_local_kms",
    "parse_master_key",
    "parse_secret_key",
]

log = logging.getLogger("strongroom.kms")

ENV_SECRET_KEY = "MINIO_KMS_SECRET_KEY"  # noqa: S105 - a variable name
ENV_SECRET_KEY_FILE = "MINIO_KMS_SECRET_KEY_FILE"  # noqa: S105 - a variable name
ENV_MASTER_KEY = "MINIO_KMS_MASTER_KEY"
ENV_MASTER_KEY_FILE = "MINIO_KMS_MASTER_KEY_FILE"
DOCKER_SECRETS_DIR = "/run/secrets"

LOCAL_KEY_PATH = Path(".strongroom.sys") / "kms-master-key"
DEFAULT_LOCAL_KEY_NAME = "strongroom-local-key"

KEY_SIZE = 32
_IV_SIZE = 16
_NONCE_SIZE = 12
_TAG_SIZE = 16
_IV_END = KEY_SIZE + _IV_SIZE
_GENERATE_RANDOM = _IV_END + _NONCE_SIZE
_STATUS_CONTEXT = {"MinIO admin API": "KMSKeyStatusHandler"}
_AEAD_AES = "AES-256-GCM-HMAC-SHA-256"
_AEAD_CHACHA = "ChaCha20Poly1305"
_NOT_AUTHENTIC = "the data key ciphertext is not authentic"
_MAX_LEGACY_JSON = 4096  # real ones are about 200 bytes


class KMSConfigError(ValueError):
    """The static key configuration is invalid. The message names the variable or file, never
    the key."""


# --- parsing -----------------------------------------------------------------------------------

_KEY_NAME = re.compile(r"[^\s:]+")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def _split(value: str, source: str) -> tuple[str, str]:
    name, sep, key = value.strip().partition(":")
    if not sep:
        raise KMSConfigError(f"{source}: expected '<key-name>:<key>'")
    if not _KEY_NAME.fullmatch(name):
        raise KMSConfigError(f"{source}: the key name is empty or contains spaces")
    return name, key


def parse_secret_key(value: str, source: str = ENV_SECRET_KEY) -> tuple[str, SecretBytes]:
    """Parse ``<name>:<base64 of 32 bytes>``; ``source`` names the variable or file in errors."""
    name, encoded = _split(value, source)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise KMSConfigError(f"{source}: the key is not valid base64") from None
    if len(key) != KEY_SIZE:
        raise KMSConfigError(f"{source}: the key must be 32 bytes, got {len(key)}")
    return name, SecretBytes(key)


def parse_master_key(value: str, source: str = ENV_MASTER_KEY) -> tuple[str, SecretBytes]:
    """Parse the older ``<name>:<64 hex chars>`` form."""
    name, encoded = _split(value, source)
    if not _HEX64.fullmatch(encoded):
        raise KMSConfigError(f"{source}: the key must be 64 hex characters (32 bytes)")
    return name, SecretBytes(bytes.fromhex(encoded))


# --- the KMS -----------------------------------------------------------------------------------


class StaticKMS:
    """A KMS with one named master key; implements :class:`strongroom.kms.base.KMS`.

    ``random`` (default ``os.urandom``) is a parameter so tests can be deterministic.
    ``source`` says where the key came from (for startup messages; never the key itself).
    """

    def __init__(
        self,
        key_id: str,
        key: bytes,
        *,
        source: str = "",
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if not key_id:
            raise ValueError("the key name must not be empty")
        if len(key) != KEY_SIZE:
            raise ValueError("the master key must be 32 bytes")
        self._key_id = key_id
        self._key = SecretBytes(key)
        self._sealing_hmac = HmacKey(key)  # HMAC-SHA256(MK, iv) keys each data key's seal
        self._random = random
        self.source = source

    def __repr__(self) -> str:
        return f"StaticKMS(key_id={self._key_id!r}, source={self.source!r})"

    @property
    def default_key(self) -> str:
        return self._key_id

    def _check_name(self, key_id: str) -> None:
        if key_id and key_id != self._key_id:
            raise KMSKeyNotFoundError(f"key '{key_id}' does not exist")

    # -- data keys

    def generate_key_sync(self, key_id: str, context: Mapping[str, str]) -> DataKey:
        self._check_name(key_id)
        rand = self._random(_GENERATE_RANDOM)  # one draw: data key, IV, nonce
        if len(rand) != _GENERATE_RANDOM:
            raise KMSError("the random source failed")
        dek, iv, nonce = rand[:KEY_SIZE], rand[KEY_SIZE:_IV_END], rand[_IV_END:]
        seal_key = self._sealing_hmac.digest(iv)
        sealed = AESGCM(seal_key).encrypt(nonce, dek, canonical_context(context))
        return DataKey(self._key_id, SecretBytes(dek), sealed + iv + nonce)

    def decrypt_sync(self, key_id: str, ciphertext: bytes, context: Mapping[str, str]) -> bytes:
        ciphertext = bytes(ciphertext)
        if _is_legacy_dare(ciphertext):
            return self._decrypt_legacy_dare(key_id, ciphertext, context)
        self._check_name(key_id)
        aead_name = _AEAD_AES
        if ciphertext[:1] == b"{" and ciphertext[-1:] == b"}":
            # a binary ciphertext may start with "{" and end with "}" by chance (1 in 65536):
            # like MinIO, only a blob that parses as the legacy JSON is treated as one
            legacy = _parse_legacy_json(ciphertext, key_id or self._key_id)
            if legacy is not None:
                aead_name, ciphertext = legacy
        if len(ciphertext) < _IV_SIZE + _NONCE_SIZE + _TAG_SIZE:
            raise KMSDecryptError(_NOT_AUTHENTIC)
        body = ciphertext[: -(_IV_SIZE + _NONCE_SIZE)]
        iv = ciphertext[-(_IV_SIZE + _NONCE_SIZE) : -_NONCE_SIZE]
        nonce = ciphertext[-_NONCE_SIZE:]
        aead: AESGCM | ChaCha20Poly1305
        if aead_name == _AEAD_AES:
            aead = AESGCM(self._sealing_hmac.digest(iv))
        else:
            aead = ChaCha20Poly1305(hchacha20(self._key, iv))
        try:
            return SecretBytes(aead.decrypt(nonce, body, canonical_context(context)))
        except InvalidTag:
            raise KMSDecryptError(_NOT_AUTHENTIC) from None

    def _decrypt_legacy_dare(
        self, key_id: str, ciphertext: bytes, context: Mapping[str, str]
    ) -> bytes:
        derived = hmac.digest(
            self._key,
            (key_id or self._key_id).encode() + canonical_context(context),
            hashlib.sha256,
        )
        try:
            return SecretBytes(dare.decrypt(derived, ciphertext))
        except dare.DareError:
            raise KMSDecryptError(_NOT_AUTHENTIC) from None

    def mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 under the master key (MinIO derives default root credentials this way)."""
        return hmac.digest(self._key, message, hashlib.sha256)

    # -- the async KMS protocol

    async def generate_key(self, key_id: str, context: Mapping[str, str]) -> DataKey:
        return self.generate_key_sync(key_id, context)

    async def decrypt(self, key_id: str, ciphertext: bytes, context: Mapping[str, str]) -> bytes:
        return self.decrypt_sync(key_id, ciphertext, context)

    async def create_key(self, key_id: str) -> None:
        if key_id == self._key_id:
            raise KMSKeyExistsError(f"key '{key_id}' already exists")
        raise KMSNotSupportedError("the built-in KMS has one static key and cannot create keys")

    async def list_keys(self) -> list[str]:
        return [self._key_id]

    async def key_status(self, key_id: str) -> KeyStatus:
        name = key_id or self._key_id
        try:
            dk = self.generate_key_sync(name, _STATUS_CONTEXT)
        except KMSError as err:
            return KeyStatus(name, False, False, str(err))
        try:
            plain = self.decrypt_sync(name, dk.ciphertext, _STATUS_CONTEXT)
        except KMSError as err:
            return KeyStatus(name, True, False, str(err))
        if not hmac.compare_digest(plain, dk.plaintext):
            return KeyStatus(name, True, False, "the decrypted data key does not match")
        return KeyStatus(name, True, True)

    async def status(self) -> KMSStatus:
        return KMSStatus("Builtin", self._key_id, {"127.0.0.1": "online"})

    async def close(self) -> None:
        return None


def _is_legacy_dare(ciphertext: bytes) -> bool:
    """A 64-byte DARE 2.0 package holding 32 bytes: the pre-2021 master-key format."""
    return (
        len(ciphertext) == dare.HEADER_SIZE + KEY_SIZE + dare.TAG_SIZE
        and ciphertext[0] == dare.VERSION_20
        and ciphertext[1] in (0, 1)
        and ciphertext[2:4] == b"\x1f\x00"
        and bool(ciphertext[4] & 0x80)
    )


def _parse_legacy_json(blob: bytes, key_id: str) -> tuple[str, bytes] | None:
    """Turn the 2021-2024 JSON ciphertext into (aead name, bytes || iv || nonce); None if the
    blob is not that JSON at all. A JSON ciphertext with bad values is not authentic."""
    if len(blob) > _MAX_LEGACY_JSON:
        return None
    try:
        obj = json.loads(blob)
        aead_name = obj["aead"]
        key_name = obj.get("id", "")
        iv = base64.b64decode(obj["iv"], validate=True)
        nonce = base64.b64decode(obj["nonce"], validate=True)
        body = base64.b64decode(obj["bytes"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, binascii.Error):
        return None
    if (
        aead_name not in (_AEAD_AES, _AEAD_CHACHA)
        or not isinstance(key_name, str)
        or (key_name and key_name != key_id)
        or len(iv) != _IV_SIZE
        or len(nonce) != _NONCE_SIZE
    ):
        raise KMSDecryptError(_NOT_AUTHENTIC)
    return aead_name, body + iv + nonce


# --- configuration -----------------------------------------------------------------------------


def _read_key_file(path_value: str, variable: str, secrets_dir: str) -> str | None:
    path = Path(path_value)
    if not path.exists():
        path = Path(secrets_dir) / path_value
        if not path.exists():
            return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else "unreadable"
        raise KMSConfigError(f"{variable}: cannot read {str(path)!r}: {reason}") from None


def from_env(
    environ: Mapping[str, str], *, secrets_dir: str = DOCKER_SECRETS_DIR
) -> StaticKMS | None:
    """The static KMS configured by the environment, or None when none is configured.

    Raises :class:`KMSConfigError` for malformed values and for conflicting settings (a key and
    its ``_FILE`` twin, or a secret key and a master key at once).
    """
    Parser = Callable[[str, str], tuple[str, SecretBytes]]
    sources: list[tuple[str, str, Parser]] = []
    settings: list[tuple[str, str, Parser]] = [
        (ENV_SECRET_KEY, ENV_SECRET_KEY_FILE, parse_secret_key),
        (ENV_MASTER_KEY, ENV_MASTER_KEY_FILE, parse_master_key),
    ]
    for var, file_var, parse in settings:
        value, file_value = environ.get(var, ""), environ.get(file_var, "")
        if value and file_value:
            raise KMSConfigError(f"{var} and {file_var} are both set: set only one")
        if value:
            sources.append((var, value, parse))
        elif file_value:
            content = _read_key_file(file_value, file_var, secrets_dir)
            if content is not None:
                sources.append((f"{file_var} ({file_value})", content, parse))
    if not sources:
        return None
    if len(sources) > 1:
        raise KMSConfigError(
            f"both {ENV_SECRET_KEY}(_FILE) and {ENV_MASTER_KEY}(_FILE) are set: set only one"
        )
    origin, value, parse = sources[0]
    name, key = parse(value, origin)
    return StaticKMS(name, key, source=origin)


# --- the embedded default: a generated key in the data directory -------------------------------


def load_or_create_local_kms(
    data_dir: str | os.PathLike[str], *, key_name: str = DEFAULT_LOCAL_KEY_NAME
) -> StaticKMS:
    """Load the local master key of a data directory, generating it on first use.

    The key lives in ``<data_dir>/.strongroom.sys/kms-master-key`` (mode 0600) in the
    ``MINIO_KMS_SECRET_KEY`` format, so it can be moved into the environment later. It is written
    atomically (temporary file, fsync, link into place, fsync of the directory); when two
    processes race, both end up with the same key. This is for local use: whoever can read the
    data directory can read the key, and losing the file loses every encrypted object.
    """
    path = Path(data_dir) / LOCAL_KEY_PATH
    kms = _load_local(path)
    if kms is not None:
        return kms
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    content = f"{key_name}:{base64.b64encode(os.urandom(KEY_SIZE)).decode()}\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        created = _link_no_clobber(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    kms = _load_local(path)
    if kms is None:  # pragma: no cover - the file was just written
        raise KMSConfigError(f"{str(path)!r}: the generated key file disappeared")
    if created:
        log.warning(
            "generated a local KMS master key in %s: for local use only. Back it up; without it "
            "the encrypted objects cannot be read.",
            path,
        )
    return kms


def _load_local(path: Path) -> StaticKMS | None:
    try:
        content = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        raise KMSConfigError(f"{str(path)!r}: cannot read the local KMS key") from None
    if stat.S_IMODE(mode) & 0o077:
        log.warning("%s is readable by other users: chmod 600 it", path)
    name, key = parse_secret_key(content, repr(str(path)))
    return StaticKMS(name, key, source=str(path))


def _link_no_clobber(tmp: Path, path: Path) -> bool:
    """Put ``tmp`` at ``path`` unless a file is already there; True if ours was placed."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if path.exists():  # a filesystem without hard links: rename, clobbering a racer
            return False
        os.replace(tmp, path)
    return True


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms that cannot open directories
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
