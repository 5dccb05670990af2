"""Authorization: policies, pattern matching, the admin identity (``specs/kes.md`` §3).

Evaluation for identity *I* and decoded URL path *P* (§3.1): the admin may do everything; an
identity without a policy nothing; otherwise any matching ``deny`` pattern refuses, and some
``allow`` pattern must match.

Pattern syntax differs by era (§3.2) and is chosen per policy:

* ``"prefix"`` (KES-HEAD): a trailing ``*`` means "string prefix", else exact equality; any other
  ``*``, ``?`` or ``[`` is literal.
* ``"glob"`` (SEED ... KES-2023): Go ``path.Match``: ``*`` any run of non-``/`` characters,
  ``?`` one non-``/`` character, ``[...]`` classes (``^`` negates), ``\\`` escapes. The guide's
  ``paths`` lists use this, so a policy written for the seed means what it meant then.
* ``"auto"`` (default for modern ``allow``/``deny``): ``prefix`` when the only metacharacter is
  one trailing ``*``, else ``glob``.

An empty pattern never matches. Identities are compared as exact strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

__all__ = [
    "PatternSyntax",
    "Policy",
    "PolicyError",
    "PolicySet",
    "era_dependent_patterns",
    "match_pattern",
    "valid_name",
    "valid_pattern",
]

PatternSyntax = Literal["auto", "glob", "prefix"]

_NAME_RE = re.compile(r"[0-9A-Za-z_-]{1,80}")
_PATTERN_RE = re.compile(r"[0-9A-Za-z_-]{0,79}\*?")
_GLOB_META = frozenset("*?[\\")

# Route prefixes (§4.1 and the legacy routes) used to spot era-dependent patterns.
_ROUTES = (
    "/version",
    "/v1/ready",
    "/v1/status",
    "/v1/metrics",
    "/v1/api",
    "/v1/key/create/",
    "/v1/key/import/",
    "/v1/key/describe/",
    "/v1/key/list/",
    "/v1/key/delete/",
    "/v1/key/generate/",
    "/v1/key/encrypt/",
    "/v1/key/decrypt/",
    "/v1/key/hmac/",
    "/v1/key/bulk/decrypt/",
    "/v1/policy/describe/",
    "/v1/policy/read/",
    "/v1/policy/list/",
    "/v1/identity/describe/",
    "/v1/identity/self/describe",
    "/v1/identity/list/",
    "/v1/identity/delete/",
    "/v1/log/error",
    "/v1/log/audit",
    "/v1/log/error/trace",
    "/v1/log/audit/trace",
)


class PolicyError(ValueError):
    """An invalid policy set (bad name, identity with two policies, admin with a policy)."""


def valid_name(name: str) -> bool:
    """KES ``validName``: 1-80 of ``[0-9A-Za-z_-]``, ``-`` neither first nor last, not ``_``.
    Used for key, policy and identity names."""
    return (
        _NAME_RE.fullmatch(name) is not None and name[0] != "-" and name[-1] != "-" and name != "_"
    )


def valid_pattern(pattern: str) -> bool:
    """KES ``validPattern`` for listings: ``""``, ``*``, or a name-like prefix whose only ``*``
    is the last character (at most 80 characters in total)."""
    if pattern in ("", "*"):
        return True
    if len(pattern) > 80 or _PATTERN_RE.fullmatch(pattern) is None:
        return False
    stem = pattern.removesuffix("*")
    return stem != "" and stem[0] != "-" and (pattern.endswith("*") or stem[-1] != "-")


@lru_cache(maxsize=1024)
def _glob_regex(pattern: str) -> re.Pattern[str] | None:
    """Translate a Go ``path.Match`` pattern; ``None`` for a malformed pattern."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\":
            i += 1
            if i >= n:
                return None
            out.append(re.escape(pattern[i]))
        elif c == "[":
            i += 1
            negated = i < n and pattern[i] == "^"
            if negated:
                i += 1
            ranges: list[str] = []
            while True:
                if i >= n:
                    return None
                if pattern[i] == "]" and ranges:
                    break
                lo, i = _class_char(pattern, i)
                if lo is None:
                    return None
                hi: str | None = lo
                if i < n and pattern[i] == "-":
                    hi, i = _class_char(pattern, i + 1)
                if hi is None or hi < lo:
                    return None
                ranges.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
            out.append(("[^" if negated else "[") + "".join(ranges) + "]")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _class_char(pattern: str, i: int) -> tuple[str | None, int]:
    """One (possibly escaped) character inside a ``[...]`` class, Go rules."""
    if i >= len(pattern) or pattern[i] in "-]":
        return None, i
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            return None, i
    return pattern[i], i + 1


def match_pattern(pattern: str, path: str, syntax: PatternSyntax = "auto") -> bool:
    """Does ``pattern`` match the request path ``path`` under ``syntax``? (See module doc.)"""
    if not pattern:
        return False
    if syntax == "auto":
        stem = pattern.removesuffix("*")
        syntax = "glob" if any(c in _GLOB_META for c in stem) else "prefix"
    if syntax == "prefix":
        if pattern.endswith("*"):
            return path.startswith(pattern[:-1])
        return path == pattern
    regex = _glob_regex(pattern)
    return regex is not None and regex.fullmatch(path) is not None


def era_dependent_patterns(patterns: Iterable[str]) -> list[str]:
    """Patterns whose meaning differs between prefix and glob semantics for a real route
    (e.g. ``/v1/key/*``: a prefix of every key route, but a glob matching none). The server
    logs a warning for each at start-up."""
    found: list[str] = []
    for pattern in patterns:
        if not pattern.endswith("*") or any(c in _GLOB_META for c in pattern[:-1]):
            continue
        stem = pattern[:-1]
        if any(r.startswith(stem) and "/" in r[len(stem) :] for r in _ROUTES):
            found.append(pattern)
    return found


@dataclass(frozen=True, slots=True)
class Policy:
    """A named set of allow and deny patterns. ``syntax`` is ``glob`` for the guide's
    ``paths`` lists and ``auto`` for modern ``allow``/``deny`` (see module doc)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    syntax: PatternSyntax = "auto"

    def verify(self, path: str) -> bool:
        """True iff no deny pattern and at least one allow pattern matches ``path``."""
        if any(match_pattern(p, path, self.syntax) for p in self.deny):
            return False
        return any(match_pattern(p, path, self.syntax) for p in self.allow)

    def allows_prefix(self, prefix: str) -> bool:
        """True if some allow pattern starts with ``prefix`` (MinIO's bulk-decrypt probe)."""
        return any(p.startswith(prefix) for p in self.allow)


@dataclass(frozen=True, slots=True)
class PolicySet:
    """The authorization state of a key server: the admin and which policy each identity has.

    Build it with :meth:`build`, which validates. ``admin`` ``None`` (or any value that is not a
    real identity, like ``disabled``) means no admin can ever be recognised.
    """

    admin: str | None
    policies: Mapping[str, Policy] = field(default_factory=dict)
    identities: Mapping[str, str] = field(default_factory=dict)  # identity -> policy name

    @classmethod
    def build(
        cls,
        admin: str | None,
        policies: Mapping[str, tuple[Policy, Iterable[str]]],
        *,
        strict_names: bool = True,
    ) -> PolicySet:
        """Validate and index ``{name: (policy, identities)}``.

        Raises :class:`PolicyError` for an invalid policy name (when ``strict_names``), an
        identity assigned to two policies, or the admin identity assigned to a policy.
        """
        by_name: dict[str, Policy] = {}
        by_identity: dict[str, str] = {}
        for name, (policy, identities) in policies.items():
            if strict_names and not valid_name(name):
                raise PolicyError(
                    f"policy name '{name}' is empty, too long or contains invalid characters"
                )
            if not strict_names and (not name or "/" in name):
                raise PolicyError(f"policy name '{name}' is empty or contains '/'")
            by_name[name] = policy
            for identity in identities:
                if not identity:
                    continue
                if admin and identity == admin:
                    raise PolicyError(
                        f"identity '{identity}' is the admin and cannot have policy '{name}'"
                    )
                if identity in by_identity and by_identity[identity] != name:
                    raise PolicyError(
                        f"identity '{identity}' already has a policy: "
                        f"'{by_identity[identity]}' and '{name}'"
                    )
                by_identity[identity] = name
        return cls(admin or None, by_name, by_identity)

    def is_admin(self, identity: str) -> bool:
        return bool(identity) and self.admin is not None and identity == self.admin

    def policy_of(self, identity: str) -> tuple[str, Policy] | None:
        """The (name, policy) assigned to ``identity``, if any."""
        name = self.identities.get(identity)
        return None if name is None else (name, self.policies[name])

    def verify(self, identity: str, path: str) -> bool:
        """§3.1: admin -> allow; no policy -> deny; else the policy decides."""
        if self.is_admin(identity):
            return True
        assigned = self.policy_of(identity)
        return assigned is not None and assigned[1].verify(path)

    def list_identities(self) -> list[str]:
        """All known identities, sorted; includes the admin value even when it is a
        placeholder such as ``disabled`` (KES-HEAD behaviour)."""
        names = set(self.identities)
        if self.admin:
            names.add(self.admin)
        return sorted(names)
