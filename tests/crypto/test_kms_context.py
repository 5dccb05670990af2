"""Canonical KMS context JSON, byte-exact with Go's escaping."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.crypto.kms_context import canonical_context, parse_context


@pytest.mark.parametrize(
    ("ctx", "expected"),
    [
        (None, b"{}"),
        ({}, b"{}"),
        ({"bucket": "bucket/dir/object.txt"}, b'{"bucket":"bucket/dir/object.txt"}'),
        ({"b": "2", "a": "1", "B": "0"}, b'{"B":"0","a":"1","b":"2"}'),
        ({"MinIO admin API": "KMSKeyStatusHandler"}, b'{"MinIO admin API":"KMSKeyStatusHandler"}'),
        ({"k": 'q"b\\s'}, b'{"k":"q\\"b\\\\s"}'),
        ({"k": "\n\r\t"}, b'{"k":"\\n\\r\\t"}'),
        ({"k": "\b\f\x00\x1f"}, b'{"k":"\\u0008\\u000c\\u0000\\u001f"}'),
        ({"k": "<a>&"}, b'{"k":"\\u003ca\\u003e\\u0026"}'),
        ({"k": "\u2028\u2029"}, b'{"k":"\\u2028\\u2029"}'),
        ({"k": "\x7f/é€😀"}, b'{"k":"\x7f/' + "é€😀".encode() + b'"}'),
        ({"k": "\ufffd"}, b'{"k":"\xef\xbf\xbd"}'),  # a real U+FFFD is copied
        # sorting is by UTF-8 bytes, which for str equals code point order
        ({"\uffff": "", "\U00010000": ""}, b'{"\xef\xbf\xbf":"","\xf0\x90\x80\x80":""}'),
    ],
)
def test_canonical_vectors(ctx: dict[str, str] | None, expected: bytes) -> None:
    assert canonical_context(ctx) == expected


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        (b"\xff", b"\\ufffd"),
        (b"a\x80b", b"a\\ufffdb"),
        (b"\xe2\x82", b"\\ufffd\\ufffd"),  # Go: one replacement per invalid byte
        (b"\xe2\x82\xac", "€".encode()),
        (b"\xed\xa0\x80", b"\\ufffd\\ufffd\\ufffd"),  # an encoded surrogate is invalid
        (b"\xc0\xaf", b"\\ufffd\\ufffd"),  # overlong
        (b"\xf4\x90\x80\x80", b"\\ufffd" * 4),  # above U+10FFFF
        (b"<\xff>", b"\\u003c\\ufffd\\u003e"),
    ],
)
def test_invalid_utf8_like_go(raw: bytes, escaped: bytes) -> None:
    assert canonical_context({b"k": raw}) == b'{"k":"' + escaped + b'"}'
    # a str carrying the same bytes as surrogate escapes gives the same result
    as_str = raw.decode("utf-8", "surrogateescape")
    assert canonical_context({"k": as_str}) == b'{"k":"' + escaped + b'"}'


def _reference(ctx: dict[str, str]) -> bytes:
    """json.dumps plus the post-processing that makes it Go-compatible (valid text only)."""
    text = json.dumps(dict(sorted(ctx.items())), ensure_ascii=False, separators=(",", ":"))
    for a, b in (
        ("\\b", "\\u0008"),
        ("\\f", "\\u000c"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(a, b)
    return text.encode()


text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)


@given(st.dictionaries(text, text, max_size=5))
def test_matches_reference_and_parses_back(ctx: dict[str, str]) -> None:
    out = canonical_context(ctx)
    if ctx:
        # \\b after an escaped backslash would confuse the naive reference; skip those
        if not any("\\" in s for kv in ctx.items() for s in kv):
            assert out == _reference(ctx)
    else:
        assert out == b"{}"
    assert json.loads(out) == ctx
    assert not any(c < 0x20 for c in out)
    assert b"<" not in out and b">" not in out and b"&" not in out
    assert "\u2028".encode() not in out and "\u2029".encode() not in out
    assert canonical_context(dict(reversed(list(ctx.items())))) == out


@given(st.dictionaries(st.binary(max_size=8), st.binary(max_size=8), max_size=4))
def test_any_bytes_give_valid_json(ctx: dict[bytes, bytes]) -> None:
    out = canonical_context(ctx)
    parsed = json.loads(out.decode("utf-8"))
    assert len(parsed) <= len(ctx)  # distinct invalid byte strings may escape alike, as in Go
    assert out == canonical_context(dict(reversed(list(ctx.items()))))


def test_parse_context() -> None:
    assert parse_context(b'{"bucket": "some-bucket"}') == {"bucket": "some-bucket"}
    assert parse_context("{}") == {}
    for bad in (b"not json", b"[]", b'{"a": 1}', b'{"a": null}', b"\xff"):
        with pytest.raises(ValueError):
            parse_context(bad)


def test_mixed_surrogates() -> None:
    # U+DC80 stands for the raw byte 0x80; U+D800 for the 3 invalid bytes ED A0 80
    assert canonical_context({"k": "a\udc80b\ud800"}) == b'{"k":"a\\ufffdb' + b"\\ufffd" * 3 + b'"}'


@given(
    st.binary(max_size=40)
    | st.text(st.characters(min_codepoint=0x1F, max_codepoint=0x80)).map(str.encode)
)
def test_plain_ascii_shortcut_equals_full_escaping(raw: bytes) -> None:
    from strongroom.crypto.kms_context import _quote, _quote_escaped

    assert _quote(raw) == _quote_escaped(raw)
