"""The object server's KMS on a KES-compatible key server (ours or upstream KES), over mTLS.

Configured by MinIO's environment (``../shared/specs/minio-sse.md`` §5.1)::

    MINIO_KMS_KES_ENDPOINT   one endpoint or a comma list (localhost ones are tried first)
    MINIO_KMS_KES_KEY_FILE / MINIO_KMS_KES_CERT_FILE   the client identity (PEM)
    MINIO_KMS_KES_API_KEY    instead of the two files: a kes:v1: API key
    MINIO_KMS_KES_KEY_NAME   the default master key (created at start if missing)
    MINIO_KMS_KES_CAPATH     CA file or directory for the server certificate
    MINIO_KMS_KES_CA_PATH    the guide's spelling of the same

One data key per object: ``generate_key`` is the only KMS round trip on the PUT path. The HTTP
client is created on first use in each process, so worker processes never share connections.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from strongroom.crypto.kms_context import canonical_context
from strongroom.crypto.secret import SecretBytes
from strongroom.kes.client import (
    KESClient,
    KESDecryptError,
    KESError,
    KESKeyExistsError,
    KESKeyNotFoundError,
    KESNotAllowedError,
    KESUnavailableError,
    client_ssl_context,
    parse_endpoints,
)
from strongroom.kms.base import (
    DataKey,
    KeyStatus,
    KMSDecryptError,
    KMSError,
    KMSKeyExistsError,
    KMSKeyNotFoundError,
    KMSStatus,
    KMSUnavailableError,
)
from strongroom.kms.kes_wire import KESWire

ENV_ENDPOINT = "MINIO_KMS_KES_ENDPOINT"
ENV_KEY_FILE = "MINIO_KMS_KES_KEY_FILE"
ENV_CERT_FILE = "MINIO_KMS_KES_CERT_FILE"
ENV_API_KEY = "MINIO_KMS_KES_API_KEY"
ENV_KEY_NAME = "MINIO_KMS_KES_KEY_NAME"
ENV_CAPATH = "MINIO_KMS_KES_CAPATH"
ENV_CA_PATH = "MINIO_KMS_KES_CA_PATH"
ENV_KEY_PASSWORD = "MINIO_KMS_KES_KEY_PASSWORD"  # noqa: S105 - a variable name

_STATUS_CONTEXT = {"MinIO admin API": "KMSKeyStatusHandler"}


class KESConfigError(ValueError):
    """The KES environment is incomplete or inconsistent (message names the variable)."""


@dataclass(frozen=True, slots=True)
class KESSettings:
    endpoints: tuple[str, ...]
    key_name: str
    cert_file: str | None = None
    key_file: str | None = None
    api_key: str | None = field(default=None, repr=False)
    ca: str | None = None
    key_password: str | None = field(default=None, repr=False)
    insecure: bool = False

    def ssl_context(self) -> ssl.SSLContext:
        return client_ssl_context(
            cert_file=self.cert_file,
            key_file=self.key_file,
            api_key=self.api_key,
            ca=self.ca,
            insecure=self.insecure,
            password=self.key_password,
        )

    def client(self) -> KESClient:
        return KESClient(
            list(self.endpoints),
            cert_file=self.cert_file,
            key_file=self.key_file,
            api_key=self.api_key,
            ca=self.ca,
            insecure=self.insecure,
            password=self.key_password,
        )


def settings_from_env(env: Mapping[str, str]) -> KESSettings | None:
    raw_endpoints = env.get(ENV_ENDPOINT, "").strip()
    if not raw_endpoints:
        return None
    try:
        endpoints = tuple(parse_endpoints(raw_endpoints))
    except ValueError as exc:
        raise KESConfigError(f"{ENV_ENDPOINT}: {exc}") from None
    key_name = env.get(ENV_KEY_NAME, "").strip()
    if not key_name:
        raise KESConfigError(f"{ENV_KEY_NAME} must name the default master key")
    api_key = env.get(ENV_API_KEY, "").strip() or None
    key_file = env.get(ENV_KEY_FILE, "").strip() or None
    cert_file = env.get(ENV_CERT_FILE, "").strip() or None
    if api_key and (key_file or cert_file):
        raise KESConfigError(
            f"set either {ENV_API_KEY} or {ENV_KEY_FILE}/{ENV_CERT_FILE}, not both"
        )
    if not api_key and not (key_file and cert_file):
        raise KESConfigError(
            f"{ENV_KEY_FILE} and {ENV_CERT_FILE} (or {ENV_API_KEY}) are required with {ENV_ENDPOINT}"
        )
    ca = env.get(ENV_CAPATH, "").strip() or env.get(ENV_CA_PATH, "").strip() or None
    return KESSettings(
        endpoints=endpoints,
        key_name=key_name,
        cert_file=cert_file,
        key_file=key_file,
        api_key=api_key,
        ca=ca,
        key_password=env.get(ENV_KEY_PASSWORD) or None,
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _field(doc: object, name: str) -> bytes:
    if not isinstance(doc, dict) or not isinstance(doc.get(name), str):
        raise KESError(0, f"invalid server response: missing '{name}'")
    try:
        return base64.b64decode(doc[name], validate=True)
    except (binascii.Error, ValueError):
        raise KESError(0, f"invalid server response: '{name}' is not base64") from None


def _translate(exc: KESError) -> KMSError:
    if isinstance(exc, KESKeyNotFoundError):
        return KMSKeyNotFoundError(exc.message)
    if isinstance(exc, KESKeyExistsError):
        return KMSKeyExistsError(exc.message)
    if isinstance(exc, KESDecryptError):
        return KMSDecryptError(exc.message)
    if isinstance(exc, KESNotAllowedError):
        return KMSError(f"the key server refused: {exc.message}")
    if isinstance(exc, KESUnavailableError) or exc.status >= 500:
        return KMSUnavailableError(f"the key server is unavailable: {exc.message}")
    return KMSError(f"the key server answered {exc.status}: {exc.message}")


class KESKMS:
    """Implements :class:`strongroom.kms.base.KMS` on a KES server."""

    def __init__(self, settings: KESSettings) -> None:
        self.settings = settings
        self._client: KESClient | None = None
        self._wire: KESWire | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return (
            f"KESKMS(endpoints={list(self.settings.endpoints)!r}, key={self.settings.key_name!r})"
        )

    @property
    def default_key(self) -> str:
        return self.settings.key_name

    def _kes(self) -> KESClient:
        self._for_this_loop()
        assert self._client is not None
        return self._client

    def _data_keys(self) -> KESWire:
        """The lean transport for generate/decrypt, the calls on the object data path."""
        self._for_this_loop()
        assert self._wire is not None
        return self._wire

    def _for_this_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = self.settings.client()
            self._wire = KESWire(list(self.settings.endpoints), self.settings.ssl_context())
            self._loop = loop

    async def generate_key(self, key_id: str, context: Mapping[str, str]) -> DataKey:
        name = key_id or self.default_key
        path = f"/v1/key/generate/{quote(name, safe='')}"
        try:
            doc = await self._data_keys().post_json(
                path, {"context": _b64(canonical_context(context))}
            )
            plaintext, ciphertext = _field(doc, "plaintext"), _field(doc, "ciphertext")
        except KESError as exc:
            raise _translate(exc) from None
        except OSError as exc:
            raise KMSUnavailableError(f"the key server is unreachable: {exc}") from None
        if len(plaintext) != 32:
            raise KMSError("the key server returned a data key of the wrong size")
        return DataKey(name, SecretBytes(plaintext), ciphertext)

    async def decrypt(self, key_id: str, ciphertext: bytes, context: Mapping[str, str]) -> bytes:
        path = f"/v1/key/decrypt/{quote(key_id, safe='')}"
        document = {"ciphertext": _b64(ciphertext), "context": _b64(canonical_context(context))}
        try:
            plaintext = _field(await self._data_keys().post_json(path, document), "plaintext")
        except KESError as exc:
            raise _translate(exc) from None
        except OSError as exc:
            raise KMSUnavailableError(f"the key server is unreachable: {exc}") from None
        return SecretBytes(plaintext)

    async def create_key(self, key_id: str) -> None:
        try:
            await self._kes().create_key(key_id)
        except KESError as exc:
            raise _translate(exc) from None

    async def list_keys(self) -> list[str]:
        try:
            return await self._kes().list_keys("*")
        except KESError as exc:
            raise _translate(exc) from None

    async def key_status(self, key_id: str) -> KeyStatus:
        name = key_id or self.default_key
        try:
            data_key = await self.generate_key(name, _STATUS_CONTEXT)
        except KMSError as exc:
            return KeyStatus(name, False, False, str(exc))
        try:
            plaintext = await self.decrypt(name, data_key.ciphertext, _STATUS_CONTEXT)
        except KMSError as exc:
            return KeyStatus(name, True, False, str(exc))
        if not hmac.compare_digest(plaintext, data_key.plaintext):
            return KeyStatus(name, True, False, "the decrypted data key does not match")
        return KeyStatus(name, True, True)

    async def status(self) -> KMSStatus:
        endpoints: dict[str, str] = {}
        for endpoint in self.settings.endpoints:
            probe = KESClient(
                [endpoint],
                ssl_context=None,
                cert_file=self.settings.cert_file,
                key_file=self.settings.key_file,
                api_key=self.settings.api_key,
                ca=self.settings.ca,
                insecure=self.settings.insecure,
                password=self.settings.key_password,
                retries=0,
                timeout=5.0,
            )
            try:
                await probe.version()
                endpoints[endpoint] = "online"
            except (KESError, OSError):
                endpoints[endpoint] = "offline"
            finally:
                await probe.aclose()
        return KMSStatus("KES", self.default_key, endpoints)

    async def ensure_default_key(self) -> None:
        """Create the default key if it does not exist; an existing key is fine. An identity
        that may use but not create keys passes when it can generate a data key."""
        try:
            await self.create_key(self.default_key)
        except KMSKeyExistsError:
            pass
        except KMSUnavailableError:
            raise
        except KMSError:
            await self.generate_key(self.default_key, _STATUS_CONTEXT)

    async def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
            self._wire = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
