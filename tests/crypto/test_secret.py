from __future__ import annotations

import pickle

import pytest

from strongroom.crypto.secret import SecretBytes


def test_redacted_everywhere() -> None:
    s = SecretBytes(b"top-secret-value")
    for shown in (
        repr(s),
        str(s),
        f"{s}",
        f"{s!r}",
        "%s" % (s,),  # type: ignore[str-bytes-safe]  # noqa: UP031
        str([s]),
        repr({"k": s}),
    ):
        assert "top-secret" not in shown
        assert "redacted" in shown


def test_behaves_like_bytes() -> None:
    s = SecretBytes(b"\x01\x02")
    assert isinstance(s, bytes)
    assert s == b"\x01\x02" and s != b"\x01\x03" and s == bytearray(b"\x01\x02")
    assert s == b"\x01\x02"
    assert hash(s) == hash(b"\x01\x02")
    assert s.reveal() == b"\x01\x02" and type(s.reveal()) is bytes
    assert s != "text"


def test_not_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(SecretBytes(b"k"))
