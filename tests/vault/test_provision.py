"""Provisioning against a real OpenBao: init, unseal progress, status, bootstrap (guide §3)."""

from __future__ import annotations

from collections.abc import Callable

import hvac
import hvac.exceptions
import pytest
import yaml

from strongroom.vault import provision
from strongroom.vault.client import VaultError
from tests.support.openbao import OpenBaoServer

pytestmark = pytest.mark.openbao


def test_init_unseal_progress_and_status(openbao_fresh: OpenBaoServer) -> None:
    with openbao_fresh.client(token="") as client:
        st = provision.status(client)
        assert (st.initialized, st.sealed) == (False, True)

        result = provision.init(client, shares=3, threshold=2)
        assert len(result.keys_b64) == len(result.keys_hex) == 3
        assert result.root_token
        assert result.root_token not in repr(result)
        assert all(k not in repr(result) for k in result.keys_b64)

        with pytest.raises(provision.ProvisionError, match="already initialized"):
            provision.init(client, shares=3, threshold=2)

        st = provision.status(client)
        assert (st.initialized, st.sealed, st.threshold, st.shares, st.progress) == (
            True,
            True,
            2,
            3,
            0,
        )
        st = provision.unseal(client, result.keys_b64[0])
        assert (st.sealed, st.progress, st.threshold) == (True, 1, 2)
        assert st.nonce
        st = provision.unseal(client, result.keys_hex[2])  # hex shares work too
        assert (st.sealed, st.progress) == (False, 0)
        assert provision.status(client).sealed is False
        assert st.storage_type == "raft"


def test_init_rejects_bad_threshold(openbao: OpenBaoServer) -> None:
    with openbao.client() as client, pytest.raises(provision.ProvisionError, match="threshold"):
        provision.init(client, shares=3, threshold=4)


def test_unseal_reset_and_bad_share(openbao: OpenBaoServer) -> None:
    with openbao.client(token="") as client:
        # already unsealed: Vault answers with the status; a malformed share is a clear 400
        assert provision.unseal(client, openbao.unseal_shares[0]).sealed is False
        with pytest.raises(VaultError) as info:
            provision.unseal(client, "notakey")
        assert info.value.status == 400
        assert "hex or base64" in str(info.value)


def _login(bao: OpenBaoServer, setup: provision.BootstrapResult) -> hvac.Client:
    """An independent client (hvac) logging in with the bootstrap's role and secret id."""
    client = hvac.Client(
        url=bao.address, verify=str(bao.ca_path), namespace=setup.namespace or None
    )
    client.auth.approle.login(
        role_id=setup.role_id, secret_id=setup.secret_id, mount_point=setup.approle_engine
    )
    return client


def test_bootstrap_v1_guide_policy(openbao: OpenBaoServer, unique: Callable[[str], str]) -> None:
    prefix, policy, role = unique("app"), unique("policy"), unique("role")
    setup = openbao.bootstrap(prefix=prefix, policy_name=policy, role_name=role)
    assert (setup.engine, setup.kv_version, setup.prefix) == ("kv", 1, prefix)
    assert setup.secret_id not in repr(setup)
    assert setup.policy == (
        f'path "kv/{prefix}/*" {{\n  capabilities = [ "create", "read", "delete" ]\n}}\n\n'
    )

    app = _login(openbao, setup)
    me = app.auth.token.lookup_self()["data"]
    assert policy in me["policies"]
    assert me["period"] == 300 and me["num_uses"] == 0
    with openbao.client() as root:
        role_data = root.request("GET", f"auth/approle/role/{role}")
    assert role_data is not None
    data = role_data["data"]
    assert (data["token_num_uses"], data["secret_id_num_uses"], data["token_period"]) == (0, 0, 300)

    kv = app.secrets.kv.v1
    kv.create_or_update_secret(f"{prefix}/k1", {"k1": "v"}, method="PUT", mount_point="kv")
    assert kv.read_secret(f"{prefix}/k1", mount_point="kv")["data"] == {"k1": "v"}
    # limited to the prefix, no overwrite (no 'update'), no listing (no 'list')
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.create_or_update_secret(
            f"{prefix}-other/k1", {"k1": "v"}, method="PUT", mount_point="kv"
        )
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.create_or_update_secret(f"{prefix}/k1", {"k1": "w"}, method="PUT", mount_point="kv")
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.list_secrets(prefix, mount_point="kv")
    kv.delete_secret(f"{prefix}/k1", mount_point="kv")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret(f"{prefix}/k1", mount_point="kv")


def test_bootstrap_is_idempotent(openbao: OpenBaoServer, unique: Callable[[str], str]) -> None:
    prefix, policy, role = unique("app"), unique("policy"), unique("role")
    first = openbao.bootstrap(prefix=prefix, policy_name=policy, role_name=role)
    second = openbao.bootstrap(prefix=prefix, policy_name=policy, role_name=role)
    assert "kv v1 engine already enabled at kv/" in second.steps
    assert "approle auth already enabled at auth/approle/" in second.steps
    assert second.role_id == first.role_id
    assert second.secret_id != first.secret_id
    for setup in (first, second):  # both secret ids work
        assert _login(openbao, setup).is_authenticated()


def test_bootstrap_v2_policy_and_wrong_version(
    openbao: OpenBaoServer, unique: Callable[[str], str]
) -> None:
    engine, prefix = unique("kv2"), unique("app")
    setup = openbao.bootstrap(
        engine=engine,
        kv_version=2,
        prefix=prefix,
        policy_name=unique("policy"),
        role_name=unique("role"),
    )
    assert f'path "{engine}/data/{prefix}/*"' in setup.policy
    assert f'path "{engine}/metadata/{prefix}/*"' in setup.policy
    kv = _login(openbao, setup).secrets.kv.v2
    kv.create_or_update_secret(f"{prefix}/k1", {"k1": "v"}, cas=0, mount_point=engine)
    assert kv.read_secret_version(
        f"{prefix}/k1", mount_point=engine, raise_on_deleted_version=True
    )["data"]["data"] == {"k1": "v"}
    assert kv.list_secrets(prefix, mount_point=engine)["data"]["keys"] == ["k1"]
    kv.delete_metadata_and_all_versions(f"{prefix}/k1", mount_point=engine)
    with pytest.raises(hvac.exceptions.Forbidden):
        kv.create_or_update_secret(f"{prefix}x/k1", {"k1": "v"}, cas=0, mount_point=engine)

    with pytest.raises(provision.ProvisionError, match="already mounted as kv v2"):
        openbao.bootstrap(engine=engine, kv_version=1, prefix=prefix)


def test_bootstrap_in_a_namespace(openbao: OpenBaoServer, unique: Callable[[str], str]) -> None:
    ns = unique("ns")
    setup = openbao.bootstrap(namespace=ns, prefix="minio")
    assert setup.namespace == ns
    assert f"created namespace {ns}" in setup.steps
    app = _login(openbao, setup)
    app.secrets.kv.v1.create_or_update_secret("minio/k", {"k": "v"}, method="PUT", mount_point="kv")
    with openbao.client(namespace=ns) as inside, openbao.client() as outside:
        assert inside.read("kv/minio/k") is not None
        assert outside.read("kv/minio/k") is None


def test_rendered_blocks(openbao: OpenBaoServer, unique: Callable[[str], str]) -> None:
    setup = openbao.bootstrap(prefix=unique("app"), policy_name=unique("p"), role_name=unique("r"))
    guide = yaml.load(setup.render("guide"), Loader=yaml.BaseLoader)
    assert guide == {
        "keys": {
            "vault": {
                "endpoint": openbao.address,
                "prefix": setup.prefix,
                "approle": {"id": setup.role_id, "secret": setup.secret_id, "retry": "15s"},
                "tls": {"ca": str(openbao.ca_path)},
                "status": {"ping": "10s"},
            }
        }
    }
    modern = yaml.load(setup.render("modern"), Loader=yaml.BaseLoader)
    assert modern == {
        "keystore": {
            "vault": {
                "endpoint": openbao.address,
                "engine": "kv",
                "version": "v1",
                "prefix": setup.prefix,
                "approle": {"engine": "approle", "id": setup.role_id, "secret": setup.secret_id},
                "tls": {"ca": str(openbao.ca_path)},
                "status": {"ping": "10s"},
            }
        }
    }


def test_bootstrap_without_token_is_a_clear_error(openbao: OpenBaoServer) -> None:
    with openbao.client(token="") as client, pytest.raises(VaultError) as info:
        provision.bootstrap(client, prefix="minio")
    assert info.value.status == 403
