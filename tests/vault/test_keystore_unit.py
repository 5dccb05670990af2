"""VaultKeyStore pieces that need no server: value encoding, durations, construction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.kes.keystore.base import KeyStoreError
from strongroom.kes.keystore.vault import (
    VaultKeyStore,
    _parse_duration,
    decode_secret,
    encode_secret,
)
from tests.kes.keystore_conformance import run

names = st.from_regex(r"[0-9A-Za-z_-]{1,80}", fullmatch=True)


@given(names, st.binary(max_size=512))
def test_any_value_round_trips(name: str, value: bytes) -> None:
    assert decode_secret("kv/p/" + name, name, encode_secret(name, value)) == value


@given(names, st.text(max_size=256))
def test_text_values_are_stored_like_kes(name: str, text: str) -> None:
    # KES stores {"<name>": "<value string>"}: a text value is kept as is, no extra field.
    assert encode_secret(name, text.encode()) == {name: text}


def test_decode_rejects_foreign_entries() -> None:
    with pytest.raises(KeyStoreError, match="holds no field 'k'"):
        decode_secret("kv/k", "k", {"other": "x"})
    with pytest.raises(KeyStoreError, match="not a string"):
        decode_secret("kv/k", "k", {"k": 1})
    with pytest.raises(KeyStoreError, match="not valid base64"):
        decode_secret("kv/k", "k", {"k": "%%%", "strongroom.encoding": "base64"})


@given(
    st.integers(0, 99),
    st.integers(0, 59),
    st.integers(0, 59),
    st.integers(0, 999),
)
def test_go_durations(h: int, m: int, s: int, ms: int) -> None:
    text = f"{h}h{m}m{s}s{ms}ms"
    assert _parse_duration(text) == pytest.approx(h * 3600 + m * 60 + s + ms / 1000)


@pytest.mark.parametrize("text", ["", "5", "1.5s", "15s", "5m0s", "300ms", "1h"])
def test_duration_examples(text: str) -> None:
    expected = {"": 0, "5": 5, "1.5s": 1.5, "15s": 15, "5m0s": 300, "300ms": 0.3, "1h": 3600}
    assert _parse_duration(text) == expected[text]


@pytest.mark.parametrize("text", ["s", "5x", "1h5", "m5"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        _parse_duration(text)


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="approle"):
        VaultKeyStore(endpoint="https://127.0.0.1:8200")
    with pytest.raises(ValueError, match="http"):
        VaultKeyStore(endpoint="127.0.0.1:8200", approle_id="a", approle_secret="b")
    with pytest.raises(ValueError, match="v1 or v2"):
        VaultKeyStore(endpoint="https://x", approle_id="a", approle_secret="b", version="v3")
    with pytest.raises(ValueError, match="together"):
        VaultKeyStore(endpoint="https://x", approle_id="a", approle_secret="b", tls_key="k")
    with pytest.raises(FileNotFoundError):
        VaultKeyStore(endpoint="https://x", approle_id="a", approle_secret="b", tls_ca="/nope.pem")
    store = VaultKeyStore(
        endpoint="https://x",
        approle_id="a",
        approle_secret="the-secret",
        approle_retry="1m30s",
        status_ping=timedelta(seconds=15),
        version=2,
    )
    assert (store.approle_retry, store.status_ping, store.version) == (90.0, 15.0, 2)
    assert "the-secret" not in repr(store)
    run(store.close())
