"""One conformance suite for every implementation of ``strongroom.kms.base.KMS``.

Usage: subclass it in a test module and provide a ``kms`` fixture (and, if the default does not
fit, ``unknown_key``)::

    from tests.kms.kms_conformance import KMSConformance

    class TestMyKMS(KMSConformance):
        @pytest.fixture
        def kms(self) -> KMS:
            return MyKMS(...)

The methods are synchronous tests that drive the async protocol with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from strongroom.kms.base import (
    KMS,
    KMSDecryptError,
    KMSKeyExistsError,
    KMSKeyNotFoundError,
)

T = TypeVar("T")

CONTEXTS: list[dict[str, str]] = [
    {},
    {"bucket": "bucket/object"},
    {"photos": "photos/2024/<a&b>.jpg", "user": "\u2028\x00\x7f\u00e9"},
]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class KMSConformance:
    @pytest.fixture
    def unknown_key(self) -> str:
        return "strongroom-conformance-no-such-key"

    def test_default_key(self, kms: KMS) -> None:
        assert kms.default_key

    @pytest.mark.parametrize("context", CONTEXTS)
    def test_generate_then_decrypt(self, kms: KMS, context: dict[str, str]) -> None:
        dk = run(kms.generate_key(kms.default_key, context))
        assert dk.key_id == kms.default_key
        assert len(dk.plaintext) == 32 and dk.ciphertext
        assert dk.plaintext.hex() not in repr(dk)
        assert run(kms.decrypt(kms.default_key, dk.ciphertext, dict(context))) == dk.plaintext

    def test_data_keys_are_fresh(self, kms: KMS) -> None:
        a = run(kms.generate_key(kms.default_key, {}))
        b = run(kms.generate_key(kms.default_key, {}))
        assert a.plaintext != b.plaintext and a.ciphertext != b.ciphertext

    def test_context_is_bound(self, kms: KMS) -> None:
        ctx = {"bucket": "bucket/object"}
        dk = run(kms.generate_key(kms.default_key, ctx))
        for other in (
            {},
            {"bucket": "bucket/object2"},
            {**ctx, "x": "y"},
            {"Bucket": "bucket/object"},
        ):
            with pytest.raises(KMSDecryptError):
                run(kms.decrypt(kms.default_key, dk.ciphertext, other))

    def test_context_order_does_not_matter(self, kms: KMS) -> None:
        dk = run(kms.generate_key(kms.default_key, {"a": "1", "b": "2"}))
        assert (
            run(kms.decrypt(kms.default_key, dk.ciphertext, {"b": "2", "a": "1"})) == dk.plaintext
        )

    def test_tampered_ciphertext(self, kms: KMS) -> None:
        dk = run(kms.generate_key(kms.default_key, {}))
        for pos in (0, len(dk.ciphertext) // 2, len(dk.ciphertext) - 1):
            bad = bytearray(dk.ciphertext)
            bad[pos] ^= 0x04
            with pytest.raises(KMSDecryptError):
                run(kms.decrypt(kms.default_key, bytes(bad), {}))
        for bad_blob in (b"", b"\x00", dk.ciphertext[:-1], dk.ciphertext + b"\x00"):
            with pytest.raises(KMSDecryptError):
                run(kms.decrypt(kms.default_key, bad_blob, {}))

    def test_unknown_key(self, kms: KMS, unknown_key: str) -> None:
        with pytest.raises(KMSKeyNotFoundError):
            run(kms.generate_key(unknown_key, {}))

    def test_create_existing_key(self, kms: KMS) -> None:
        with pytest.raises(KMSKeyExistsError):
            run(kms.create_key(kms.default_key))

    def test_key_status(self, kms: KMS) -> None:
        status = run(kms.key_status(kms.default_key))
        assert status.key_id == kms.default_key
        assert status.encryption_ok and status.decryption_ok and not status.error

    def test_status(self, kms: KMS) -> None:
        status = run(kms.status())
        assert status.default_key == kms.default_key
        assert status.name
        assert status.endpoints and set(status.endpoints.values()) <= {"online", "offline"}

    def test_close(self, kms: KMS) -> None:
        run(kms.close())
