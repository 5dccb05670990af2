"""Parsers and formatters of the client library, without a server."""

from __future__ import annotations

import base64
import io
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from strongroom.client.aliases import Alias
from strongroom.client.connection import addressing_style, verify_setting
from strongroom.client.errors import UsageError
from strongroom.client.formatting import canonical_header, human_size, text_date
from strongroom.client.paths import LocalPath, RemotePath, parse_target, safe_join
from strongroom.client.progress import NullProgress, RichProgress, make_progress
from strongroom.client.sse import parse_encryption, parse_sse_c_key

ALIASES = {"local", "play"}
KEY = bytes(range(32))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("local", RemotePath("local")),
        ("local/", RemotePath("local")),
        ("local/b", RemotePath("local", "b")),
        ("local/b/", RemotePath("local", "b")),
        ("local/b/k", RemotePath("local", "b", "k")),
        ("local/b/dir/", RemotePath("local", "b", "dir/")),
        ("local/b/a=b/c d", RemotePath("local", "b", "a=b/c d")),
        ("other/b/k", LocalPath("other/b/k")),
        ("./local/b", LocalPath("./local/b")),
        ("/local/b", LocalPath("/local/b")),
        ("file.txt", LocalPath("file.txt")),
    ],
)
def test_parse_target(text: str, expected: object) -> None:
    assert parse_target(text, ALIASES) == expected


def test_remote_path_helpers() -> None:
    path = RemotePath("local", "b", "dir/file.txt")
    assert str(path) == "local/b/dir/file.txt"
    assert path.basename == "file.txt"
    assert not path.is_dir and RemotePath("local", "b", "dir/").is_dir
    with pytest.raises(UsageError):
        RemotePath("local").require_bucket("cp")
    with pytest.raises(UsageError):
        RemotePath("local", "b", "dir/").require_key("cat")


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd", "", "./", "a/.."])
def test_safe_join_refuses_escapes(bad: str) -> None:
    with pytest.raises(UsageError):
        safe_join("/tmp/root", bad)


def test_safe_join() -> None:
    assert safe_join("/tmp/root", "a//b/./c") == "/tmp/root/a/b/c"


@given(st.binary(min_size=32, max_size=32))
def test_sse_c_key_encodings(key: bytes) -> None:
    b64 = base64.b64encode(key).decode()
    for text in (key.hex(), key.hex().upper(), b64, b64.rstrip("=")):
        assert bytes(parse_sse_c_key(text)) == key
    enc = parse_encryption(sse_c=[f"local/bucket/pre=fix/={b64}"], aliases=ALIASES)
    assert enc.customer_key(RemotePath("local", "bucket", "pre=fix/obj")) == key
    assert enc.customer_key(RemotePath("local", "bucket", "other")) is None


@given(st.text(max_size=80))
def test_sse_c_key_parser_never_crashes(text: str) -> None:
    try:
        key = parse_sse_c_key(text)
    except UsageError as exc:
        assert text.strip() == "" or text not in str(exc) or len(text) < 8
    else:
        assert len(key) == 32


def test_encryption_precedence() -> None:
    enc = parse_encryption(
        s3=True,
        kms=["local/b/kms/=key-1", "default-key"],
        sse_c=[
            f"local/b/c/={KEY.hex()}",
            f"local/b/c/deeper/={base64.b64encode(KEY[::-1]).decode()}",
        ],
        aliases=ALIASES,
    )
    assert enc.write_args(RemotePath("local", "b", "c/x"))["SSECustomerKey"] == KEY
    assert enc.write_args(RemotePath("local", "b", "c/deeper/x"))["SSECustomerKey"] == KEY[::-1]
    assert enc.write_args(RemotePath("local", "b", "kms/x")) == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "key-1",
    }
    assert enc.write_args(RemotePath("local", "b", "y"))["SSEKMSKeyId"] == "default-key"
    assert parse_encryption(s3=True).write_args(RemotePath("local", "b", "y")) == {
        "ServerSideEncryption": "AES256"
    }
    assert enc.copy_source_args(RemotePath("local", "b", "c/x"))["CopySourceSSECustomerKey"] == KEY
    assert enc.read_args(RemotePath("local", "b", "y")) == {}
    assert KEY.hex() not in repr(enc)


@pytest.mark.parametrize(
    "values",
    [
        ["short"],
        ["local/b=" + "zz" * 32],
        ["nosuch/b=" + KEY.hex()],
        [KEY.hex() + "," + KEY.hex()],
    ],
)
def test_encryption_rejects(values: list[str]) -> None:
    with pytest.raises(UsageError) as info:
        parse_encryption(sse_c=values, aliases=ALIASES)
    assert KEY.hex() not in str(info.value)


def test_formatting() -> None:
    assert human_size(5) == "5 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(12 * 1024 * 1024) == "12 MiB"
    assert human_size(0, sep="") == "0B"
    assert canonical_header("x-amz-server-side-encryption") == "X-Amz-Server-Side-Encryption"
    assert (
        canonical_header("x-amz-server-side-encryption-customer-key-md5")
        == "X-Amz-Server-Side-Encryption-Customer-Key-Md5"
    )
    assert text_date(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02 03:04:05 UTC"


@pytest.mark.parametrize(
    ("url", "path", "style"),
    [
        ("http://127.0.0.1:9000", "auto", "path"),
        ("http://[::1]:9000", "auto", "path"),
        ("http://localhost:9000", "auto", "path"),
        ("https://minio.example.com", "auto", "path"),
        ("https://s3.eu-west-1.amazonaws.com", "auto", "virtual"),
        ("https://s3.eu-west-1.amazonaws.com", "on", "path"),
        ("http://127.0.0.1:9000", "off", "virtual"),
    ],
)
def test_addressing_style(url: str, path: str, style: str) -> None:
    assert addressing_style(Alias("a", url, "k", "s", path=path)) == style  # type: ignore[arg-type]


def test_verify_setting() -> None:
    assert verify_setting(Alias("a", "https://h", "k", "s")) is True
    assert verify_setting(Alias("a", "https://h", "k", "s", ca="/ca.pem")) == "/ca.pem"
    assert verify_setting(Alias("a", "https://h", "k", "s", ca="/ca.pem", insecure=True)) is False


def test_progress_bar_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    progress = make_progress(True, console)
    assert isinstance(progress, RichProgress)
    progress.start(5 * 1024, 1)
    progress.begin("test.file")
    for _ in range(5):
        time.sleep(0.05)
        progress.advance(1024)
    progress.finish()
    text = out.getvalue()
    assert "test.file" in text
    assert "5.0/5.0 KiB" in text or "5.0 KiB" in text
    assert "100%" in text
    assert "/s" in text  # transfer speed


def test_no_progress_bar_when_not_a_terminal() -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    assert isinstance(make_progress(True, console), NullProgress)
    assert isinstance(make_progress(False, Console(force_terminal=True)), NullProgress)


_keys = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(
    st.sampled_from(sorted(ALIASES)),
    st.from_regex(r"[a-z0-9][a-z0-9.-]{2,20}", fullmatch=True),
    _keys,
)
def test_parse_target_round_trip(alias: str, bucket: str, key: str) -> None:
    target = parse_target(f"{alias}/{bucket}/{key}", ALIASES)
    assert target == RemotePath(alias, bucket, key)
    if key:
        assert str(target) == f"{alias}/{bucket}/{key}"


@given(st.text(max_size=60))
def test_parse_target_never_crashes(text: str) -> None:
    try:
        target = parse_target(text, ALIASES)
    except UsageError:
        return
    assert isinstance(target, RemotePath | LocalPath)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(st.one_of(_json, st.dictionaries(st.just("aliases"), _json)), st.booleans())
def test_config_loader_fails_cleanly(
    tmp_path_factory: pytest.TempPathFactory, document: object, raw: bool
) -> None:
    import json as jsonlib

    from strongroom.client.aliases import AliasStore
    from strongroom.client.errors import ClientError

    directory = tmp_path_factory.mktemp("cfg")
    text = jsonlib.dumps(document)
    (directory / "config.json").write_text(text[: len(text) // 2] if raw else text)
    try:
        aliases = AliasStore(directory, environ={}).load()
    except ClientError:
        return
    assert all(isinstance(a, Alias) for a in aliases.values())


@given(st.text(max_size=120))
def test_encryption_parser_fails_cleanly(text: str) -> None:
    try:
        enc = parse_encryption(sse_c=[text], kms=[text], aliases=ALIASES)
    except UsageError:
        return
    assert all(len(key) == 32 for _, key in enc.sse_c)
