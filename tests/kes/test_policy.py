"""Policy matching matrix (specs/kes.md §3) for strongroom.kes.policy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.kes.policy import (
    PatternSyntax,
    Policy,
    PolicyError,
    PolicySet,
    era_dependent_patterns,
    match_pattern,
    valid_name,
    valid_pattern,
)

MINIO = "dd46485bedc9ad2909d2e8f9017216eec4413bc5c64b236d992f7ec19c843c5f"
ROOT = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22"
OTHER = "0426fa9a04bc2756b92fbe8a97e1a1e07b53ecf04ed33da22c33e5c9faeb8cbb"


@pytest.mark.parametrize(
    "name", ["my-key", "abc123", "0", "123ABC321", "_-___---_", "_0", "0-Z", "my_key-0", "a" * 80]
)
def test_valid_names(name: str) -> None:
    assert valid_name(name)


@pytest.mark.parametrize(
    "name", ["", "my.key", "key/", "\u2630", "hel<lo", "\u0395macs", "a" * 81, "-a", "a-", "_"]
)
def test_invalid_names(name: str) -> None:
    assert not valid_name(name)


@pytest.mark.parametrize(
    "pattern", ["*", "my*", "_-*", "", "my-key", "minio-key-*", "a" * 79 + "*"]
)
def test_valid_patterns(pattern: str) -> None:
    assert valid_pattern(pattern)


@pytest.mark.parametrize("pattern", ["*-*", "my.key", "key/", "**", "-a*", "my-", "a" * 80 + "*"])
def test_invalid_patterns(pattern: str) -> None:
    assert not valid_pattern(pattern)


# (pattern, path, prefix result, glob result): where the eras agree and where they differ.
MATRIX = [
    ("/v1/key/create/minio-*", "/v1/key/create/minio-key-1", True, True),
    ("/v1/key/create/minio-*", "/v1/key/create/my-key-1", False, False),
    ("/v1/key/create/minio-*", "/v1/key/create/minio-", True, True),
    ("/v1/key/generate/*", "/v1/key/generate/k", True, True),
    ("/v1/key/*", "/v1/key/create/x", True, False),
    ("/v1/*", "/v1/status", True, True),
    ("/v1/status", "/v1/status", True, True),
    ("/v1/status", "/v1/status/", False, False),
    ("/v1/key/create/a?c", "/v1/key/create/abc", False, True),
    ("/v1/key/create/a?c", "/v1/key/create/a?c", True, True),
    ("/v1/key/create/[ab]*", "/v1/key/create/bx", False, True),
    ("/v1/key/create/[^ab]*", "/v1/key/create/bx", False, False),
    ("/v1/key/create/[^ab]*", "/v1/key/create/cx", False, True),
    ("/v1/key/create/[a-c]", "/v1/key/create/b", False, True),
    ("/v1/identity/assign/my-app/*", "/v1/identity/assign/my-app/x", True, True),
    ("/v1/key/create/\\*", "/v1/key/create/*", False, True),
    ("/v1/key/create/[", "/v1/key/create/[", True, False),  # bad glob never matches
    ("", "", False, False),
    ("", "/v1/status", False, False),
]


@pytest.mark.parametrize(("pattern", "path", "prefix", "glob"), MATRIX)
def test_pattern_matrix(pattern: str, path: str, prefix: bool, glob: bool) -> None:
    assert match_pattern(pattern, path, "prefix") is prefix
    assert match_pattern(pattern, path, "glob") is glob


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("/v1/key/*", "/v1/key/create/x", True),  # only a trailing * -> prefix
        ("/v1/key/create/a?c", "/v1/key/create/abc", True),  # other metachar -> glob
        ("/v1/key/create/*/x", "/v1/key/create/a/x", True),
        ("/v1/key/create/*/x", "/v1/key/create/a/b/x", False),
    ],
)
def test_auto_syntax(pattern: str, path: str, expected: bool) -> None:
    assert match_pattern(pattern, path) is expected


def test_guide_policy_uses_glob_semantics() -> None:
    policy = Policy(
        allow=(
            "/v1/key/create/minio-*",
            "/v1/key/generate/minio-*",
            "/v1/key/decrypt/minio-*",
        ),
        syntax="glob",
    )
    assert policy.verify("/v1/key/create/minio-key-1")
    assert policy.verify("/v1/key/generate/minio-key-1")
    assert policy.verify("/v1/key/decrypt/minio-key-1")
    assert not policy.verify("/v1/key/create/my-key-1")
    assert not policy.verify("/v1/key/delete/minio-key-1")
    assert not policy.verify("/v1/status")


def test_kms_go_case_3_allow_and_deny() -> None:
    policy = Policy(
        allow=("/v1/key/create/my*", "/v1/key/create/your*"), deny=("/v1/key/create/my-key*",)
    )
    assert not policy.verify("/v1/key/create/my-key")
    assert not policy.verify("/v1/key/create/my-key1")
    assert policy.verify("/v1/key/create/my-minio-key")
    assert policy.verify("/v1/key/create/your-minio-key")
    assert not policy.verify("/v1/key/delete/my-minio-key")


def test_deny_wins_and_empty_policy_allows_nothing() -> None:
    assert not Policy(allow=("/v1/*",), deny=("/v1/*",)).verify("/v1/status")
    assert not Policy().verify("/v1/status")


def test_policy_set() -> None:
    policies = PolicySet.build(
        ROOT,
        {
            "minio": (Policy(allow=("/v1/key/generate/minio-*",)), [MINIO]),
            "empty": (Policy(), []),
        },
    )
    assert policies.verify(ROOT, "/v1/key/delete/anything")
    assert policies.is_admin(ROOT)
    assert policies.verify(MINIO, "/v1/key/generate/minio-key-1")
    assert not policies.verify(MINIO, "/v1/key/delete/minio-key-1")
    assert not policies.verify(OTHER, "/v1/key/generate/minio-key-1")
    assert policies.policy_of(MINIO) == ("minio", policies.policies["minio"])
    assert policies.policy_of(OTHER) is None
    assert policies.list_identities() == sorted([ROOT, MINIO])


@pytest.mark.parametrize("admin", [None, "", "disabled", "_"])
def test_disabled_admin_matches_nobody(admin: str | None) -> None:
    policies = PolicySet.build(admin, {})
    assert not policies.verify(ROOT, "/v1/status")
    assert not policies.verify("", "/v1/status")
    assert not policies.is_admin("")


def test_identity_with_two_policies_is_an_error() -> None:
    with pytest.raises(PolicyError, match="already has a policy"):
        PolicySet.build(None, {"a": (Policy(), [MINIO]), "b": (Policy(), [MINIO])})


def test_admin_with_a_policy_is_an_error() -> None:
    with pytest.raises(PolicyError, match="admin"):
        PolicySet.build(ROOT, {"a": (Policy(), [ROOT])})


def test_invalid_policy_name() -> None:
    with pytest.raises(PolicyError, match=r"policy name 'my\.policy'"):
        PolicySet.build(None, {"my.policy": (Policy(), [])})
    PolicySet.build(None, {"my.policy": (Policy(), [])}, strict_names=False)


def test_era_dependent_patterns() -> None:
    patterns = [
        "/v1/key/*",
        "/v1/*",
        "/v1/key/create/minio-*",
        "/v1/key/list/*",
        "/v1/identity/self*",
        "/v1/status",
        "/v1/key/create/a?*",
    ]
    assert era_dependent_patterns(patterns) == ["/v1/key/*", "/v1/*", "/v1/identity/self*"]


@settings(max_examples=300, deadline=None)
@given(
    pattern=st.text(alphabet="/ab*?[]^-\\", max_size=12),
    path=st.text(alphabet="/ab*?[]-\\", max_size=12),
)
def test_matching_never_crashes(pattern: str, path: str) -> None:
    syntaxes: tuple[PatternSyntax, ...] = ("auto", "glob", "prefix")
    for syntax in syntaxes:
        match_pattern(pattern, path, syntax)


@settings(max_examples=200, deadline=None)
@given(stem=st.text(alphabet="abc-_", max_size=8), rest=st.text(alphabet="abc-_", max_size=8))
def test_eras_agree_on_leaf_name_prefixes(stem: str, rest: str) -> None:
    pattern = f"/v1/key/create/{stem}*"
    path = f"/v1/key/create/{stem}{rest}"
    assert match_pattern(pattern, path, "prefix") is match_pattern(pattern, path, "glob") is True
