"""The blocks `bootstrap` prints, pasted into a key server config, load with the key server's
config parser (``strongroom.kes.config``) and build a working VaultKeyStore (K/V v1 and v2)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from strongroom.kes.config import VaultKeystoreConfig, parse_config
from strongroom.kes.keystore.factory import make_keystore
from strongroom.kes.keystore.vault import VaultKeyStore
from tests.support.openbao import OpenBaoServer

pytestmark = pytest.mark.openbao

HEAD = {
    "guide": "address: 0.0.0.0:7373\nroot: disabled\ntls:\n  key: kes.key\n  cert: kes.crt\n",
    "modern": "admin:\n  identity: disabled\ntls:\n  key: kes.key\n  cert: kes.crt\n",
}


@pytest.mark.parametrize("layout", ["guide", "modern"])
@pytest.mark.parametrize("kv_version", [1, 2])
def test_printed_block_loads_and_works(
    openbao: OpenBaoServer, unique: Callable[[str], str], layout: str, kv_version: int
) -> None:
    setup = openbao.bootstrap(
        prefix=unique("cfg"),
        engine=unique("kvc"),
        kv_version=kv_version,
        policy_name=unique("p"),
        role_name=unique("r"),
    )
    config = parse_config(HEAD[layout] + setup.render("guide" if layout == "guide" else "modern"))
    cfg = config.keystore
    assert isinstance(cfg, VaultKeystoreConfig)
    assert (cfg.endpoint, cfg.engine, cfg.version, cfg.prefix) == (
        openbao.address,
        setup.engine,
        f"v{kv_version}",
        setup.prefix,
    )
    store = make_keystore(cfg)
    assert isinstance(store, VaultKeyStore)

    async def body() -> None:
        try:
            warnings = await store.check()
            # the guide's v1 policy grants no 'list'; the v2 policy does
            assert [w.split("'")[1] for w in warnings] == (["list"] if kv_version == 1 else [])
            await store.create("minio-key-1", b"v")
            assert await store.get("minio-key-1") == b"v"
        finally:
            await store.close()

    asyncio.run(body())
