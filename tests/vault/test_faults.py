"""VaultKeyStore under faults, against a real OpenBao: sealed, stopped and restarted, token
expiry and revocation, a policy without ``create``, a revoked secret id."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from strongroom.kes.keystore.base import (
    KeyExistsError,
    KeyNotFoundError,
    KeyStoreError,
    KeyStoreUnreachableError,
)
from strongroom.kes.keystore.vault import VaultKeyStore, VaultPolicyError
from tests.support.openbao import OpenBaoServer

pytestmark = pytest.mark.openbao


def _revoke_token(bao: OpenBaoServer, accessor: str) -> None:
    with bao.client() as root:
        root.request("PUT", "auth/token/revoke-accessor", {"accessor": accessor})


def test_sealed_after_start_then_unsealed(openbao_private: OpenBaoServer) -> None:
    bao = openbao_private
    setup = bao.bootstrap(prefix="sealed")
    store = VaultKeyStore(**bao.keystore_kwargs(setup))

    async def body() -> None:
        await store.create("minio-key-1", b"v")
        bao.seal()
        try:
            with pytest.raises(KeyStoreUnreachableError, match="sealed"):
                await store.status()
            with pytest.raises(KeyStoreUnreachableError, match="sealed"):
                await store.check()
            with pytest.raises(KeyStoreUnreachableError, match="sealed"):
                await store.get("minio-key-1")
            with pytest.raises(KeyStoreUnreachableError, match="sealed"):
                await store.create("minio-key-2", b"v")
        finally:
            bao.unseal()
        await store.status()
        assert await store.get("minio-key-1") == b"v"
        await store.close()

    asyncio.run(body())


def test_stopped_and_restarted(openbao_private: OpenBaoServer) -> None:
    bao = openbao_private
    setup = bao.bootstrap(prefix="restart")
    store = VaultKeyStore(**bao.keystore_kwargs(setup, timeout=5.0))

    async def body() -> None:
        await store.create("minio-key-1", b"v")
        bao.stop()
        try:
            with pytest.raises(KeyStoreUnreachableError, match="not reachable"):
                await store.status()
            with pytest.raises(KeyStoreUnreachableError, match="not reachable"):
                await store.get("minio-key-1")
            bao.start()
            with pytest.raises(KeyStoreUnreachableError, match="sealed"):
                await store.get("minio-key-1")
        finally:
            bao.start()
            bao.unseal()
        # the same store object recovers: same token (tokens survive a restart), same data
        await store.status()
        assert await store.get("minio-key-1") == b"v"
        await store.create("minio-key-2", b"w")
        await store.close()

    asyncio.run(body())


def test_short_token_period_relogs_in_transparently(
    openbao: OpenBaoServer, unique: Callable[[str], str]
) -> None:
    setup = openbao.bootstrap(
        prefix=unique("short"), policy_name=unique("p"), role_name=unique("r"), period="2s"
    )
    store = VaultKeyStore(**openbao.keystore_kwargs(setup))

    async def body() -> None:
        await store.create("k1", b"v")
        first = store.token_accessor
        await asyncio.sleep(2.5)  # the 2 s periodic token has expired in Vault
        assert await store.get("k1") == b"v"
        assert store.token_accessor != first
        await store.close()

    asyncio.run(body())


def test_revoked_token_relogs_in_after_a_403(
    openbao: OpenBaoServer, unique: Callable[[str], str]
) -> None:
    setup = openbao.bootstrap(prefix=unique("rev"), policy_name=unique("p"), role_name=unique("r"))
    store = VaultKeyStore(**openbao.keystore_kwargs(setup))

    async def body() -> None:
        await store.create("k1", b"v")
        first = store.token_accessor
        _revoke_token(openbao, first)  # our clock still thinks the token is good
        assert await store.get("k1") == b"v"
        assert store.token_accessor != first
        await store.close()

    asyncio.run(body())


def test_token_renewed_before_expiry(openbao: OpenBaoServer, unique: Callable[[str], str]) -> None:
    setup = openbao.bootstrap(
        prefix=unique("renew"), policy_name=unique("p"), role_name=unique("r")
    )
    now = [1000.0]
    store = VaultKeyStore(**openbao.keystore_kwargs(setup), clock=lambda: now[0])

    async def body() -> None:
        await store.create("k1", b"v")
        first = store.token_accessor
        assert store._renew_at == pytest.approx(1000.0 + 240.0)  # 80 % of period=5m
        now[0] += 241.0  # past 80 %, 59 s left: renew-self, same token
        assert await store.get("k1") == b"v"
        assert store.token_accessor == first
        assert (store.logins, store.renewals) == (1, 1)
        assert store._renew_at == pytest.approx(1241.0 + 240.0)
        now[0] += 285.0  # less than 30 s left by our clock: a fresh login instead
        assert await store.get("k1") == b"v"
        assert store.token_accessor != first
        await store.close()

    asyncio.run(body())


def test_policy_without_create(openbao: OpenBaoServer, unique: Callable[[str], str]) -> None:
    prefix, policy, role = unique("ro"), unique("p"), unique("r")
    setup = openbao.bootstrap(prefix=prefix, policy_name=policy, role_name=role)
    with openbao.client() as root:  # a key made by someone else, then take 'create' away
        root.write(f"kv/{prefix}/existing", {"existing": "v"})
        root.write(
            f"sys/policies/acl/{policy}",
            {"policy": f'path "kv/{prefix}/*" {{ capabilities = ["read", "delete"] }}'},
        )
    store = VaultKeyStore(**openbao.keystore_kwargs(setup))

    async def body() -> None:
        with pytest.raises(VaultPolicyError) as info:
            await store.create("minio-key-1", b"v")
        assert isinstance(info.value, KeyStoreError)
        assert str(info.value).startswith("prohibited by policy")
        assert "create" in str(info.value)
        with pytest.raises(KeyExistsError):
            await store.create("existing", b"v")
        assert await store.get("existing") == b"v"
        with pytest.raises(VaultPolicyError, match="prohibited by policy"):
            await store.list("")
        with pytest.raises(KeyNotFoundError):
            await store.get("minio-key-1")
        await store.close()

    asyncio.run(body())


def test_revoked_secret_id(openbao: OpenBaoServer, unique: Callable[[str], str]) -> None:
    role = unique("r")
    setup = openbao.bootstrap(prefix=unique("sid"), policy_name=unique("p"), role_name=role)
    store = VaultKeyStore(**openbao.keystore_kwargs(setup, approle_retry=60.0))

    async def body() -> None:
        await store.create("k1", b"v")
        with openbao.client() as root:
            root.request(
                "PUT",
                f"auth/approle/role/{role}/secret-id/destroy",
                {"secret_id": setup.secret_id},
            )
        _revoke_token(openbao, store.token_accessor)
        with pytest.raises(KeyStoreError, match="invalid role or secret ID") as info:
            await store.get("k1")
        assert not isinstance(info.value, KeyStoreUnreachableError)
        assert setup.secret_id not in str(info.value)
        # within approle_retry the store does not hammer Vault with logins
        started = time.monotonic()
        with pytest.raises(KeyStoreError, match="invalid role or secret ID"):
            await store.get("k1")
        assert time.monotonic() - started < 0.5
        await store.close()

    asyncio.run(body())


def test_wrong_secret_id_at_start(openbao: OpenBaoServer, unique: Callable[[str], str]) -> None:
    setup = openbao.bootstrap(prefix=unique("bad"), policy_name=unique("p"), role_name=unique("r"))
    store = VaultKeyStore(**openbao.keystore_kwargs(setup, approle_secret="not-the-secret"))

    async def body() -> None:
        await store.status()  # health needs no login
        with pytest.raises(KeyStoreError, match="invalid role or secret ID"):
            await store.check()  # the start-up check says so at once
        store._login_error = None  # let the next call try again (approle_retry back-off)
        with pytest.raises(
            KeyStoreError, match=r"approle login .* failed: invalid role or secret ID"
        ):
            await store.create("k1", b"v")
        await store.close()

    asyncio.run(body())


def test_unreachable_endpoint() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = VaultKeyStore(endpoint=f"https://127.0.0.1:{port}", approle_id="a", approle_secret="b")

    async def body() -> None:
        with pytest.raises(KeyStoreUnreachableError, match="not reachable"):
            await store.status()
        with pytest.raises(KeyStoreUnreachableError, match="not reachable"):
            await store.get("k1")
        await store.close()

    asyncio.run(body())


def test_concurrent_requests_share_one_login(
    openbao: OpenBaoServer, unique: Callable[[str], str]
) -> None:
    setup = openbao.bootstrap(prefix=unique("many"), policy_name=unique("p"), role_name=unique("r"))
    store = VaultKeyStore(**openbao.keystore_kwargs(setup))

    async def body() -> None:
        await asyncio.gather(*(store.create(f"k{i}", b"v") for i in range(20)))
        assert store.logins == 1
        _revoke_token(openbao, store.token_accessor)
        values = await asyncio.gather(*(store.get(f"k{i}") for i in range(20)))
        assert values == [b"v"] * 20
        assert store.logins == 2  # every task saw the 403, one of them logged in again
        await store.close()

    asyncio.run(body())
