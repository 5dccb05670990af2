"""VaultKeyStore against a real OpenBao: the keystore conformance suite on K/V v1 and v2, and
wire compatibility with KES (kes.md §9.2: what is stored where)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import pytest
import trustme

from strongroom.kes.keystore.base import KeyStore, KeyStoreError, KeyStoreUnreachableError
from strongroom.kes.keystore.vault import VaultKeyStore, VaultPolicyError
from strongroom.vault.provision import BootstrapResult
from tests.kes.keystore_conformance import KeyStoreConformance, run
from tests.support.openbao import OpenBaoServer

pytestmark = pytest.mark.openbao

# A KES-HEAD stored key (kes.md §7.3, protobuf form) and a KES 0.20-era JSON one.
KES_MODERN_VALUE = (
    "CiQKIMiHG7XrN94FuwblJJor4f7f6rbqAl7DwsLaiIoyz0D2EAESJAognLXl4yqa4cjZTcSbsU6sNnN8kP9ARWkXwa20YQZa"
    "9HgQARoMCNithK0GEID67qYDIkAzZWNmY2RmMzhmY2JlMTQxYWUyNmExMDMwZjgxZTk2Yjc1MzM2NWE0Njc2MGFlNmI1Nzg2"
    "OThhOTdjNTlmZDIy"
)
KES_LEGACY_VALUE = (
    '{"bytes":"J8qmOyEV2ce2yoAC+5t0Y7CSP/hTMppL7XHpAnyc+0E=","algorithm":"AES256-GCM_SHA256",'
    '"created_at":"2009-11-10T23:00:00Z","created_by":"40235905b7b83e0537a002db523cd019d6709b899adc'
    '249c957860cd00fa9f78"}'
)


@pytest.fixture(scope="session")
def setup_v1(openbao: OpenBaoServer) -> BootstrapResult:
    return openbao.bootstrap(
        prefix="conformance",
        allow_list=True,
        policy_name="conformance-v1",
        role_name="conformance-v1",
    )


@pytest.fixture(scope="session")
def setup_v2(openbao: OpenBaoServer) -> BootstrapResult:
    return openbao.bootstrap(
        engine="kv2",
        kv_version=2,
        prefix="conformance",
        policy_name="conformance-v2",
        role_name="conformance-v2",
    )


def _store(bao: OpenBaoServer, setup: BootstrapResult, **overrides: Any) -> VaultKeyStore:
    """A store on a fresh sub-prefix (the policy's ``<prefix>/*`` covers it), so it starts empty."""
    kwargs = bao.keystore_kwargs(setup)
    kwargs["prefix"] = f"{setup.prefix}/{uuid.uuid4().hex[:10]}"
    kwargs.update(overrides)
    return VaultKeyStore(**kwargs)


class _VaultConformance(KeyStoreConformance):
    bao: OpenBaoServer
    setup: BootstrapResult

    @contextlib.asynccontextmanager
    async def open_store(self) -> AsyncIterator[KeyStore]:
        store = _store(self.bao, self.setup)
        try:
            yield store
        finally:
            await store.close()


class TestVaultKVv1(_VaultConformance):
    @pytest.fixture(autouse=True)
    def _bind(self, openbao: OpenBaoServer, setup_v1: BootstrapResult) -> None:
        self.bao, self.setup = openbao, setup_v1


class TestVaultKVv2(_VaultConformance):
    @pytest.fixture(autouse=True)
    def _bind(self, openbao: OpenBaoServer, setup_v2: BootstrapResult) -> None:
        self.bao, self.setup = openbao, setup_v2


# --- wire compatibility with KES ----------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_stored_exactly_like_kes(
    openbao: OpenBaoServer,
    setup_v1: BootstrapResult,
    setup_v2: BootstrapResult,
    version: int,
) -> None:
    setup = setup_v1 if version == 1 else setup_v2
    store = _store(openbao, setup)

    async def body() -> None:
        await store.create("minio-key-1", KES_MODERN_VALUE.encode())
        await store.close()

    run(body())
    with openbao.client() as root:
        if version == 1:
            entry = root.read(f"kv/{store.prefix}/minio-key-1")
            assert entry is not None
            assert entry["data"] == {"minio-key-1": KES_MODERN_VALUE}
        else:
            entry = root.read(f"kv2/data/{store.prefix}/minio-key-1", params={"version": "1"})
            assert entry is not None
            assert entry["data"]["data"] == {"minio-key-1": KES_MODERN_VALUE}
            assert entry["data"]["metadata"]["version"] == 1


@pytest.mark.parametrize("version", [1, 2])
def test_reads_what_kes_wrote(
    openbao: OpenBaoServer,
    setup_v1: BootstrapResult,
    setup_v2: BootstrapResult,
    version: int,
) -> None:
    setup = setup_v1 if version == 1 else setup_v2
    store = _store(openbao, setup)
    with openbao.client() as root:  # the exact requests KES makes (kes.md §9.2, 4.)
        for name, value in (("minio-key-1", KES_MODERN_VALUE), ("minio-key-2", KES_LEGACY_VALUE)):
            if version == 1:
                root.write(f"kv/{store.prefix}/{name}", {name: value})
            else:
                root.write(
                    f"kv2/data/{store.prefix}/{name}",
                    {"options": {"cas": 0}, "data": {name: value}},
                )

    async def body() -> None:
        assert await store.get("minio-key-1") == KES_MODERN_VALUE.encode()
        assert await store.get("minio-key-2") == KES_LEGACY_VALUE.encode()
        assert await store.list("minio-") == (["minio-key-1", "minio-key-2"], "")
        await store.delete("minio-key-1")
        await store.close()

    run(body())
    with openbao.client() as root:
        path = f"kv/{store.prefix}" if version == 1 else f"kv2/metadata/{store.prefix}"
        assert root.list(path) == ["minio-key-2"]


def test_entry_not_written_by_a_key_server(
    openbao: OpenBaoServer, setup_v1: BootstrapResult
) -> None:
    store = _store(openbao, setup_v1)
    with openbao.client() as root:
        root.write(f"kv/{store.prefix}/odd", {"something": "else"})

    async def body() -> None:
        with pytest.raises(KeyStoreError, match="holds no field 'odd'"):
            await store.get("odd")
        await store.close()

    run(body())


def test_non_text_values_round_trip(openbao: OpenBaoServer, setup_v1: BootstrapResult) -> None:
    store = _store(openbao, setup_v1)
    value = bytes(range(256))

    async def body() -> None:
        await store.create("binary", value)
        assert await store.get("binary") == value
        await store.close()

    run(body())


def test_from_config_and_repr(openbao: OpenBaoServer, setup_v2: BootstrapResult) -> None:
    cfg = SimpleNamespace(
        endpoint=openbao.address,
        engine="kv2",
        version="v2",
        namespace="",
        prefix=f"conformance/{uuid.uuid4().hex[:8]}",
        approle_engine="approle",
        approle_id=setup_v2.role_id,
        approle_secret=setup_v2.secret_id,
        approle_retry=15.0,
        tls_key="",
        tls_cert="",
        tls_ca=str(openbao.ca_path),
        status_ping=10.0,
    )
    store = VaultKeyStore.from_config(cfg)
    assert store.version == 2 and store.approle_retry == 15.0
    assert setup_v2.secret_id not in repr(store)

    async def body() -> None:
        await store.create("k", b"v")
        assert await store.get("k") == b"v"
        assert setup_v2.secret_id not in repr(store)
        await store.close()

    run(body())


def test_namespace(openbao: OpenBaoServer, unique: Callable[[str], str]) -> None:
    ns = unique("ns")
    setup = openbao.bootstrap(namespace=ns, prefix="minio", allow_list=True)
    store = VaultKeyStore(**openbao.keystore_kwargs(setup))

    explicit = VaultKeyStore(**openbao.keystore_kwargs(setup, approle_namespace=f"/{ns}/"))
    root_login = VaultKeyStore(**openbao.keystore_kwargs(setup, approle_namespace="/"))

    async def body() -> None:
        await store.status()  # health goes without the namespace header
        await store.create("minio-key-1", b"v")
        assert await store.list("") == (["minio-key-1"], "")
        assert await explicit.get("minio-key-1") == b"v"
        with pytest.raises(KeyStoreError, match="login"):  # the role lives in the namespace
            await root_login.get("minio-key-1")
        for s in (store, explicit, root_login):
            await s.close()

    run(body())
    with openbao.client(namespace=ns) as inside, openbao.client() as outside:
        assert inside.read("kv/minio/minio-key-1") is not None
        assert outside.read("kv/minio/minio-key-1") is None


def test_tls_with_client_certificate(
    openbao: OpenBaoServer, setup_v1: BootstrapResult, tmp_path: Any
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("kes.example")
    cert.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    store = _store(
        openbao,
        setup_v1,
        tls_key=str(tmp_path / "client.key"),
        tls_cert=str(tmp_path / "client.pem"),
    )

    async def body() -> None:
        await store.create("k", b"v")
        assert await store.get("k") == b"v"
        await store.close()

    run(body())


def test_untrusted_server_certificate(
    openbao: OpenBaoServer, setup_v1: BootstrapResult, tmp_path: Any
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    store = _store(openbao, setup_v1, tls_ca=str(other))

    async def body() -> None:
        with pytest.raises(KeyStoreUnreachableError, match="not reachable"):
            await store.status()
        with pytest.raises(KeyStoreUnreachableError, match="not reachable"):
            await store.get("k")
        await store.close()

    run(body())


def test_startup_check(
    openbao: OpenBaoServer,
    setup_v1: BootstrapResult,
    setup_v2: BootstrapResult,
    unique: Callable[[str], str],
) -> None:
    guide = openbao.bootstrap(prefix=unique("chk"), policy_name=unique("p"), role_name=unique("r"))
    no_read = openbao.bootstrap(
        prefix=unique("chk"), policy_name=unique("p"), role_name=unique("r")
    )
    with openbao.client() as root:
        root.write(
            f"sys/policies/acl/{no_read.policy_name}",
            {"policy": f'path "kv/{no_read.prefix}/*" {{ capabilities = ["create"] }}'},
        )

    async def body() -> None:
        for setup, expected in (
            (setup_v1, []),  # allow_list: everything granted
            (setup_v2, []),
            (guide, ["list"]),  # the guide's policy has no 'list'
        ):
            store = VaultKeyStore(**openbao.keystore_kwargs(setup))
            warnings = await store.check()
            assert [w.split("'")[1] for w in warnings] == expected, warnings
            await store.close()
        store = VaultKeyStore(**openbao.keystore_kwargs(no_read))
        with pytest.raises(VaultPolicyError, match=r"prohibited by policy: .* no 'read'"):
            await store.check()
        await store.close()

    run(body())
