"""Encryption options of ``cp``, ``cat`` and ``stat``: ``--enc-s3``, ``--enc-kms``, ``--enc-c``.

``--enc-c`` takes mc's form ``ALIAS/BUCKET/PREFIX=KEY`` (the key applies to objects under that
prefix) or a bare ``KEY`` that applies to every remote path. A key is 32 bytes written as 64 hex
digits or base64 (padded, 44 characters, or unpadded, 43, as mc writes it). ``--enc-kms`` takes
``ALIAS/BUCKET/PREFIX=KEY-ID`` or a bare ``KEY-ID``. ``--enc-s3`` asks for SSE-S3 everywhere.

For a write, the longest matching SSE-C prefix wins, then SSE-KMS, then SSE-S3. Reads (GET,
HEAD, the source of a copy) carry the SSE-C key that matches the source path, if any.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from strongroom.client.errors import UsageError
from strongroom.client.paths import RemotePath, parse_target
from strongroom.crypto.secret import SecretBytes

__all__ = ["Encryption", "parse_encryption", "parse_sse_c_key"]

KEY_SIZE = 32
_HEX = re.compile(r"^[0-9A-Fa-f]{64}$")
_B64 = re.compile(r"^[A-Za-z0-9+/]{43}=?$")
_KMS_KEY_ID = re.compile(r"^[A-Za-z0-9:/_.+@-]{1,256}$")


def parse_sse_c_key(text: str) -> SecretBytes:
    """A 32-byte SSE-C key from 64 hex digits or base64; the error never echoes the key."""
    text = text.strip()
    raw: bytes | None = None
    if _HEX.match(text):
        raw = bytes.fromhex(text)
    elif _B64.match(text):
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except binascii.Error:
            raw = None
    if raw is None or len(raw) != KEY_SIZE:
        raise UsageError(
            "invalid SSE-C key: expected 32 bytes as 64 hex digits or base64 (43 or 44 characters)"
        )
    return SecretBytes(raw)


def _scope(prefix: str, aliases: Collection[str], option: str) -> str:
    target = parse_target(prefix, aliases)
    if not isinstance(target, RemotePath):
        raise UsageError(f"{option}: `{prefix}` is not ALIAS/BUCKET[/PREFIX] of a known alias")
    return prefix


def _split_scoped(
    text: str, aliases: Collection[str], valid: Callable[[str], bool]
) -> tuple[str, str] | None:
    """``(prefix, value)`` when ``text`` is ``ALIAS/...=VALUE`` for a known alias.

    Object keys may contain ``=`` and base64 keys end with it, so every ``=`` is tried from
    the left and the first split whose right side is a valid value wins.
    """
    if text.split("/", 1)[0] not in aliases:
        return None
    for index, char in enumerate(text):
        if char == "=" and index > 0 and valid(text[index + 1 :]):
            return text[:index], text[index + 1 :]
    return None


def _is_key(text: str) -> bool:
    return bool(_HEX.match(text) or _B64.match(text))


def _is_kms_key_id(text: str) -> bool:
    return bool(_KMS_KEY_ID.match(text))


@dataclass(frozen=True)
class Encryption:
    s3: bool = False
    kms: tuple[tuple[str, str], ...] = ()
    sse_c: tuple[tuple[str, SecretBytes], ...] = field(default=(), repr=False)

    @property
    def any(self) -> bool:
        return bool(self.s3 or self.kms or self.sse_c)

    @staticmethod
    def _match(scoped: Iterable[tuple[str, Any]], path: RemotePath) -> Any:
        text = str(path)
        best: tuple[int, Any] | None = None
        for prefix, value in scoped:
            matches = prefix == "" or text.startswith(prefix)
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), value)
        return None if best is None else best[1]

    def customer_key(self, path: RemotePath) -> SecretBytes | None:
        key: SecretBytes | None = self._match(self.sse_c, path)
        return key

    def write_args(self, path: RemotePath) -> dict[str, Any]:
        """boto3 arguments for PutObject / CreateMultipartUpload / the target of a copy."""
        key = self.customer_key(path)
        if key is not None:
            return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": bytes(key)}
        kms_key: str | None = self._match(self.kms, path)
        if kms_key is not None:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key}
        if self.s3:
            return {"ServerSideEncryption": "AES256"}
        return {}

    def read_args(self, path: RemotePath) -> dict[str, Any]:
        """boto3 arguments for GetObject / HeadObject of an SSE-C object."""
        key = self.customer_key(path)
        if key is None:
            return {}
        return {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": bytes(key)}

    def copy_source_args(self, path: RemotePath) -> dict[str, Any]:
        key = self.customer_key(path)
        if key is None:
            return {}
        return {
            "CopySourceSSECustomerAlgorithm": "AES256",
            "CopySourceSSECustomerKey": bytes(key),
        }


def parse_encryption(
    *,
    s3: bool = False,
    kms: Iterable[str] = (),
    sse_c: Iterable[str] = (),
    aliases: Collection[str] = (),
) -> Encryption:
    """Parse the options; each may be given several times and as comma-separated lists."""
    kms_pairs: list[tuple[str, str]] = []
    for item in _items(kms):
        scoped = _split_scoped(item, aliases, _is_kms_key_id)
        prefix, key_id = scoped if scoped is not None else ("", item)
        if prefix:
            _scope(prefix, aliases, "--enc-kms")
        if not _KMS_KEY_ID.match(key_id):
            raise UsageError(f"--enc-kms: invalid KMS key id `{key_id}`")
        kms_pairs.append((prefix, key_id))
    c_pairs: list[tuple[str, SecretBytes]] = []
    for item in _items(sse_c):
        scoped = _split_scoped(item, aliases, _is_key)
        if scoped is None and _is_key(item):
            c_pairs.append(("", parse_sse_c_key(item)))
            continue
        if scoped is None:
            raise UsageError(
                "--enc-c: expected ALIAS/BUCKET/PREFIX=KEY (a known alias) or a bare 32-byte key"
            )
        prefix, value = scoped
        _scope(prefix, aliases, "--enc-c")
        c_pairs.append((prefix, parse_sse_c_key(value)))
    for pairs, option in ((kms_pairs, "--enc-kms"), (c_pairs, "--enc-c")):
        prefixes = [p for p, _ in pairs]
        if len(set(prefixes)) != len(prefixes):
            raise UsageError(f"{option}: the same prefix is given twice")
    return Encryption(s3=s3, kms=tuple(kms_pairs), sse_c=tuple(c_pairs))


def _items(values: Iterable[str]) -> Iterable[str]:
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if item:
                yield item
