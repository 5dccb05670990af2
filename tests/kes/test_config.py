"""Key server config files (specs/kes.md §10): the guide's YAML, the modern layout, errors."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.kes.config import (
    CacheConfig,
    ConfigError,
    FSKeystoreConfig,
    MemKeystoreConfig,
    PolicyConfig,
    VaultKeystoreConfig,
    load_config,
    parse_config,
    parse_duration,
)

MINIO = "dd46485bedc9ad2909d2e8f9017216eec4413bc5c64b236d992f7ec19c843c5f"
ROOT = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22"

# Verbatim from specs/minio-kms-guide.txt §4.2, trailing spaces included (a data file, so
# that no formatter strips them).
GUIDE_FILE = Path(__file__).parent / "data" / "guide-kes-config.yaml"

MODERN = f"""\
version: v1
address: 0.0.0.0:7373
admin:
  identity: ${{KES_ADMIN}}
tls:
  key: ./server.key
  cert: ./server.cert
  password: ${{KES_TLS_PASSWORD}}
  auth: off
  ca: ./ca
api:
  /v1/ready:
    skip_auth: true
    timeout: 15s
policy:
  minio:
    allow:
    - /v1/key/create/minio-*
    - /v1/key/generate/minio-*
    - /v1/key/decrypt/minio-*
    deny:
    - /v1/key/decrypt/minio-secret*
    identities:
    - {MINIO}
  other:
    allow: [/v1/status]
    identities: []
cache:
  expiry:
    any: 5m0s
    unused: 1m30s
    offline: 1h
log:
  error: on
  audit: off
keys:
  - name: minio-key-1
  - name: minio-key-2
keystore:
  vault:
    endpoint: https://127.0.0.1:8200
    engine: kv
    version: v2
    namespace: ns1
    prefix: 012
    approle:
      namespace: /
      engine: approle
      id: ${{ROLE_ID}}
      secret: ${{SECRET_ID}}
    tls:
      ca: ./vault-ca.crt
    status:
      ping: 15s
unknown_future_key: ignored
"""

ENV = {"KES_ADMIN": ROOT, "KES_TLS_PASSWORD": "", "ROLE_ID": "role", "SECRET_ID": "secret"}


def test_the_guides_config_loads(tmp_path: Path) -> None:
    assert b" \n" in GUIDE_FILE.read_bytes()  # the guide's trailing spaces are still there
    path = tmp_path / "kes-config.yaml"
    path.write_bytes(GUIDE_FILE.read_bytes())
    config = load_config(path, env={})
    assert config.layout == "seed"
    assert config.address == "0.0.0.0:7373"
    assert config.tls.key == "kes-tls.key"
    assert config.tls.cert == "kes-tls.crt"
    assert config.admin is None  # the guide passes --root=disabled
    assert config.policies == {
        "minio": PolicyConfig(
            allow=(
                "/v1/key/create/minio-*",
                "/v1/key/generate/minio-*",
                "/v1/key/decrypt/minio-*",
            ),
            identities=(MINIO,),
            syntax="glob",
        )
    }
    assert config.cache == CacheConfig(expiry_any=300, expiry_unused=20, expiry_offline=0)
    assert config.keys == ()
    assert config.keystore == VaultKeystoreConfig(
        endpoint="https://127.0.0.1:8200",
        prefix="minio",
        approle_retry=15,
        tls_ca="vault-tls.crt",
        status_ping=10,
    )
    assert config.log.error and not config.log.audit
    access = config.policy_set(admin="disabled")
    assert access.verify(MINIO, "/v1/key/create/minio-key-1")
    assert not access.verify(MINIO, "/v1/key/create/my-key-1")
    assert not access.is_admin(ROOT)
    assert not access.verify(ROOT, "/v1/key/create/minio-key-1")


def test_the_modern_layout_loads() -> None:
    config = parse_config(MODERN, "kes.yaml", env=ENV)
    assert config.layout == "modern"
    assert config.admin == ROOT
    assert config.tls.auth == "off"
    assert config.tls.ca == "./ca"
    assert config.tls.password == ""
    assert config.api["/v1/ready"].skip_auth is True
    assert config.api["/v1/ready"].timeout == 15
    assert config.policies["minio"].deny == ("/v1/key/decrypt/minio-secret*",)
    assert config.policies["minio"].syntax == "auto"
    assert config.policies["other"] == PolicyConfig(allow=("/v1/status",))
    assert config.cache == CacheConfig(expiry_any=300, expiry_unused=90, expiry_offline=3600)
    assert not config.log.audit
    assert config.keys == ("minio-key-1", "minio-key-2")
    store = config.keystore
    assert isinstance(store, VaultKeystoreConfig)
    assert store.version == "v2"
    assert store.prefix == "012"  # a string, not the octal number 10
    assert store.namespace == "ns1"
    assert store.approle_namespace == "/"
    assert (store.approle_id, store.approle_secret) == ("role", "secret")
    assert store.status_ping == 15
    assert len(config.warnings) == 1
    assert "kes.yaml:55: unknown_future_key: unknown key" in config.warnings[0]
    access = config.policy_set()
    assert access.verify(MINIO, "/v1/key/generate/minio-key-1")
    assert not access.verify(MINIO, "/v1/key/decrypt/minio-secret-1")
    assert access.verify(ROOT, "/v1/key/delete/x")


def test_fs_and_memory_keystores() -> None:
    seed = parse_config("root: disabled\nkeys:\n  fs:\n    path: ./keys\n", env={})
    assert seed.keystore == FSKeystoreConfig("./keys")
    assert seed.admin == "disabled"
    modern = parse_config("admin: {identity: _}\nkeystore:\n  fs: {path: /k}\n", env={})
    assert modern.keystore == FSKeystoreConfig("/k")
    assert parse_config("root: _\n", env={}).keystore == MemKeystoreConfig()


def test_seed_zero_expiry_means_never_and_modern_zero_means_default() -> None:
    seed = parse_config("root: _\ncache: {expiry: {any: 0, unused: 0s}}\n", env={})
    assert seed.cache == CacheConfig(expiry_any=0, expiry_unused=0)
    modern = parse_config(
        "admin: {identity: _}\ncache: {expiry: {any: 0s}}\nkeystore: {fs: {path: k}}\n", env={}
    )
    assert modern.cache == CacheConfig()


def test_env_substitution_only_for_whole_values_and_never_in_patterns() -> None:
    text = (
        "admin: {identity: '${ADMIN}'}\n"
        "tls: {key: 'prefix-${ADMIN}'}\n"
        "policy:\n  p:\n    allow: ['${ADMIN}']\n    identities: ['  ${ID}  ']\n"
        "keystore: {fs: {path: '${DIR}'}}\n"
    )
    config = parse_config(text, env={"ADMIN": ROOT, "ID": MINIO, "DIR": "/keys"})
    assert config.admin == ROOT
    assert config.tls.key == "prefix-${ADMIN}"
    assert config.policies["p"].allow == ("${ADMIN}",)
    assert config.policies["p"].identities == (MINIO,)
    assert config.keystore == FSKeystoreConfig("/keys")


ERRORS = [
    (
        "root: _\ncache:\n  expiry:\n    any: 5x\n",
        r'^kes-config\.yaml:4: cache\.expiry\.any: unknown unit "x" in duration "5x"$',
    ),
    (
        "root: _\ncache:\n  expiry:\n    unused: 20\n",
        r"^kes-config\.yaml:4: cache\.expiry\.unused: missing unit",
    ),
    (
        "root: _\ncache:\n  expiry:\n    any: -5m\n",
        r"^kes-config\.yaml:4: cache\.expiry\.any: negative duration",
    ),
    (
        "admin:\n  identity: ${NOPE}\nkeystore: {fs: {path: k}}\n",
        r"^kes-config\.yaml:2: admin\.identity: referenced env\. variable 'NOPE' not found$",
    ),
    (
        "root: _\ntls:\n  key: a\n  kye: b\n",
        r"^kes-config\.yaml:4: tls\.kye: unknown key$",
    ),
    (
        "root: _\npolicy:\n  minio:\n    paths: [/v1/*]\n    identity: [x]\n",
        r"^kes-config\.yaml:5: policy\.minio\.identity: unknown key$",
    ),
    (
        "root: _\nkeys:\n  vault:\n    endpoint: https://x\n    approle:\n      retyr: 5s\n",
        r"^kes-config\.yaml:6: keys\.vault\.approle\.retyr: unknown key$",
    ),
    (
        "root: _\nadmin: {identity: x}\n",
        r"^kes-config\.yaml:2: admin: cannot be combined with 'root'$",
    ),
    (
        "keys:\n  fs: {path: a}\nkeystore:\n  fs: {path: b}\n",
        r"^kes-config\.yaml:3: keystore: cannot be combined",
    ),
    (
        "policy:\n  p:\n    paths: [a]\n    allow: [b]\n",
        r"^kes-config\.yaml:3: policy\.p: 'paths' cannot be combined",
    ),
    (
        "admin: {identity: x}\n",
        r"^kes-config\.yaml: keystore: no keystore specified$",
    ),
    (
        "admin: {identity: x}\nkeystore:\n  fs: {path: a}\n  vault: {endpoint: b}\n",
        r"^kes-config\.yaml:3: keystore: more than one keystore specified \(fs, vault\)$",
    ),
    (
        "admin: {identity: x}\nkeystore:\n  aws: {secretsmanager: {}}\n",
        r"^kes-config\.yaml:3: keystore\.aws: this keystore is not supported",
    ),
    (
        "admin: {identity: x}\nkeystore:\n  vault:\n    endpoint: e\n    version: v3\n",
        r"^kes-config\.yaml:5: keystore\.vault\.version: K/V version must be v1 or v2",
    ),
    (
        "admin: {identity: x}\nkeystore:\n  vault:\n    prefix: p\n",
        r"^kes-config\.yaml:3: keystore\.vault\.endpoint: the Vault endpoint is required$",
    ),
    (
        "admin: {identity: x}\nkeystore: {fs: {path: k}}\nkeys:\n  - name: a\n  - name: a\n",
        r"^kes-config\.yaml:5: keys\[1\]: key 'a' is listed twice$",
    ),
    (
        "admin: {identity: x}\nkeystore: {fs: {path: k}}\nkeys:\n  - name: my.key\n",
        r"^kes-config\.yaml:4: keys\[0\]: key name 'my\.key'",
    ),
    (
        "admin: {identity: x}\nkeystore: {fs: {path: k}}\nlog: {audit: loud}\n",
        r"^kes-config\.yaml:3: log\.audit: invalid value \"loud\"",
    ),
    (
        "admin: {identity: x}\nkeystore: {fs: {path: k}}\ntls: {auth: maybe}\n",
        r"^kes-config\.yaml:3: tls\.auth: invalid value",
    ),
    (
        "version: v2\n",
        r"^kes-config\.yaml:1: version: unsupported config version \"v2\"$",
    ),
    (
        "root: _\nroot: _\n",
        r"^kes-config\.yaml:2: root: duplicate key$",
    ),
    (
        "root: _\ntls: [a, b]\n",
        r"^kes-config\.yaml:2: tls: expected a mapping$",
    ),
    (
        "root: _\npolicy:\n  p:\n    paths: /v1/*\n",
        r"^kes-config\.yaml:4: policy\.p\.paths: expected a list$",
    ),
    (
        "root: [\n",
        r"^kes-config\.yaml:2: invalid YAML",
    ),
    ("", r"^kes-config\.yaml: the config file is empty$"),
    (
        f"root: {ROOT}\npolicy:\n  p:\n    paths: [/v1/*]\n    identities: [{ROOT}]\n",
        r"^kes-config\.yaml:2: policy: identity '3ecf.*' is the admin",
    ),
    (
        f"policy:\n  a: {{paths: [x], identities: [{MINIO}]}}\n  b: {{paths: [y], identities: [{MINIO}]}}\n",
        r"^kes-config\.yaml:1: policy: .*already has a policy",
    ),
    (
        "root: _\npolicy:\n  my.policy:\n    paths: [x]\n",
        r"^kes-config\.yaml:3: policy\.my\.policy: policy name is empty",
    ),
    (
        "admin: {identity: x}\nkeystore:\n  vault:\n    endpoint: e\n    kubernetes: {role: r}\n",
        r"^kes-config\.yaml:5: keystore\.vault\.kubernetes: not supported",
    ),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_errors_name_file_line_and_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text, "kes-config.yaml", env={})


def test_error_names_the_path_as_given(tmp_path: Path) -> None:
    path = tmp_path / "kes-config.yaml"
    path.write_text("root: _\ncache:\n  expiry:\n    any: 5x\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == f'{path}:4: cache.expiry.any: unknown unit "x" in duration "5x"'
    assert (info.value.line, info.value.key) == (4, "cache.expiry.any")


def test_deep_nesting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^kes\.yaml"):
        parse_config("a: " + "[" * 1200 + "]" * 1200 + "\n", "kes.yaml", env={})


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config("/nonexistent/kes-config.yaml")


def test_scalars_stay_strings() -> None:
    config = parse_config(
        "root: 012\ntls: {key: on, cert: 'off'}\nkeys: {fs: {path: 0x10}}\n", env={}
    )
    assert config.admin == "012"
    assert (config.tls.key, config.tls.cert) == ("on", "off")
    assert config.keystore == FSKeystoreConfig("0x10")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("5m0s", 300),
        ("20s", 20),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("300ms", 0.3),
        ("1us", 1e-6),
        ("1\u00b5s", 1e-6),
        ("2ns", 2e-9),
        ("+1m", 60),
        ("-1m", -60),
        (".5s", 0.5),
        ("8760h", 8760 * 3600),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5x", "m", ".s", "1h 30m", "1.2.3s", "5S", "--1s"])
def test_invalid_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="0123456789.+-hmsunµ x", max_size=12))
def test_duration_parser_only_raises_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_duration(text)


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=200))
def test_config_parser_only_raises_config_error(text: str) -> None:
    try:
        parse_config(text, "fuzz.yaml", env={})
    except ConfigError as e:
        assert str(e).startswith("fuzz.yaml")


def test_loaded_config_is_immutable() -> None:
    config = parse_config(MODERN, "kes.yaml", env=ENV)
    with pytest.raises(TypeError):
        config.policies["x"] = PolicyConfig()  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.address = "elsewhere"  # type: ignore[misc]
