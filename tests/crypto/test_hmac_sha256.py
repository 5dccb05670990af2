"""The request-path HMAC-SHA256 against the standard library's."""

from __future__ import annotations

import hmac

from hypothesis import given
from hypothesis import strategies as st

from strongroom.crypto.hmac_sha256 import HmacKey, hmac_sha256

keys = st.binary(max_size=130)  # shorter than, equal to and longer than the 64-byte block
messages = st.binary(max_size=300)


@given(key=keys, msg=messages)
def test_equals_hmac_digest(key: bytes, msg: bytes) -> None:
    assert hmac_sha256(key, msg) == hmac.digest(key, msg, "sha256")


@given(key=keys, msgs=st.lists(messages, min_size=1, max_size=4))
def test_reused_key_equals_hmac_digest(key: bytes, msgs: list[bytes]) -> None:
    prepared = HmacKey(key)
    for msg in msgs:  # the prepared states must not be consumed by a computation
        assert prepared.digest(msg) == hmac.digest(key, msg, "sha256")


def test_rfc4231_case_2() -> None:
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert hmac_sha256(b"Jefe", b"what do ya want for nothing?").hex() == expected
    assert HmacKey(b"Jefe").digest(b"what do ya want for nothing?").hex() == expected


def test_repr_hides_the_key() -> None:
    key = b"\x01" * 32
    assert repr(HmacKey(key)) == "HmacKey(<redacted>)"
    assert key.hex() not in repr(HmacKey(key))
