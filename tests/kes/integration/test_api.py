"""The key server's HTTP API over real mTLS on loopback: shapes, statuses and exact texts."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from strongroom.kes.client import (
    KESClient,
    KESDecryptError,
    KESError,
    KESKeyExistsError,
    KESKeyNotFoundError,
    KESNotAllowedError,
)
from strongroom.kes.keystore.base import KeyStoreStatus, KeyStoreUnreachableError
from strongroom.kes.keystore.mem import MemoryKeyStore
from strongroom.kes.policy import Policy

from .helpers import PKI, ClientCert, LoopThread, RunningServer, loop_thread, make_pki, settings_for

ROOT_API_KEY = "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc"
ROOT_IDENTITY = "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22"
Z32 = base64.b64encode(bytes(32)).decode()
P16 = base64.b64encode(bytes(16)).decode()
# spec kes.md §7.3: protobuf stored key with an HMAC key
PROTO_KEY = (
    b"CiQKIMiHG7XrN94FuwblJJor4f7f6rbqAl7DwsLaiIoyz0D2EAESJAognLXl4yqa4cjZTcSbsU6sNnN8kP9ARWkXwa20"
    b"YQZa9HgQARoMCNithK0GEID67qYDIkAzZWNmY2RmMzhmY2JlMTQxYWUyNmExMDMwZjgxZTk2Yjc1MzM2NWE0Njc2MGFl"
    b"NmI1Nzg2OThhOTdjNTlmZDIy"
)
J1 = {
    "aead": "AES-256-GCM-HMAC-SHA-256",
    "iv": "xLxIN3tSCkg2xMafuvwUwg==",
    "nonce": "gu0mGwUkwcvMEoi5",
    "bytes": "WVgRjeIJm3w50C/l+y7y2i6mbNg5NCAqN1zvOYWZKmc=",
}
J2 = {
    "aead": "ChaCha20Poly1305",
    "iv": "s3fSZ6vk5m+DfQA8yZWeUg==",
    "nonce": "8/kHMnCMs3h9NZ2a",
    "bytes": "cw22HjLq/4cx8507SW4hhSrYbDiMuRao4b5+GE+XfbE=",
}
M1 = (
    "lbFBRVMyNTYtR0NNX1NIQTI1NtkgNjY2ODdhYWRmODYyYmQ3NzZjOGZjMThiOGU5ZjhlMjDEEExv7LAd4oz0SaHZrX5L"
    "BufEDEKME1ow1CDfUFrqv8QgJuy7Sw+jVqz99TK1HV851LT3K4mwwDv46TB2ngWkAJQ="
)
R1 = "zwdDgHeRlIFRnJ7+DIhs/ka7GFK2CFSfDELqg1VCyTQzZ58o7MAdupMLk3ZjlMo2ZUDwldL2o41nAWDc"


class Store(MemoryKeyStore):
    """A memory store that can be switched off (unreachable) to test offline behaviour."""

    down = False

    async def _gate(self) -> None:
        if self.down:
            raise KeyStoreUnreachableError("store is down")

    async def status(self) -> KeyStoreStatus:
        await self._gate()
        return await super().status()

    async def get(self, name: str) -> bytes:
        await self._gate()
        return await super().get(name)

    async def create(self, name: str, value: bytes) -> None:
        await self._gate()
        await super().create(name, value)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def lt() -> Iterator[LoopThread]:
    with loop_thread() as t:
        yield t


@pytest.fixture(scope="module")
def people(pki: PKI) -> dict[str, ClientCert]:
    return {
        "admin": pki.api_key("root", ROOT_API_KEY),
        "minio": pki.self_signed("minio"),
        "mixed": pki.self_signed("mixed"),
        "nobody": pki.self_signed("nobody"),
    }


@pytest.fixture(scope="module")
def store() -> Store:
    return Store(
        {
            "zero-key": json.dumps({"bytes": Z32}).encode(),
            "proto-key": base64.b64decode(PROTO_KEY) and PROTO_KEY,
        }
    )


@pytest.fixture(scope="module")
def srv(
    lt: LoopThread, pki: PKI, people: dict[str, ClientCert], store: Store
) -> Iterator[RunningServer]:
    policies = {
        "minio": (
            Policy(
                allow=(
                    "/v1/key/create/minio-*",
                    "/v1/key/generate/minio-*",
                    "/v1/key/decrypt/minio-*",
                    "/v1/key/bulk/decrypt/minio-*",
                    "/v1/key/list/*",
                )
            ),
            [people["minio"].identity],
        ),
        "mixed": (
            Policy(
                allow=("/v1/key/create/my*", "/v1/key/create/your*"),
                deny=("/v1/key/create/my-key*",),
            ),
            [people["mixed"].identity],
        ),
    }
    s = RunningServer(
        lt,
        settings_for(pki, store, admin=ROOT_IDENTITY, policies=policies, expiry_offline=300),
    )
    yield s
    s.stop()


def http(pki: PKI, who: ClientCert | None) -> httpx.Client:
    return httpx.Client(verify=pki.client_context(who), timeout=10)


def call(srv: RunningServer, pki: PKI, who: ClientCert | None, fn: Any) -> Any:
    async def main() -> Any:
        if who is None:
            raise AssertionError
        async with KESClient(
            srv.url, cert_file=str(who.cert), key_file=str(who.key), ca=str(pki.ca_file)
        ) as c:
            return await fn(c)

    return asyncio.run(main())


def err(r: httpx.Response) -> tuple[int, str]:
    assert r.headers["content-type"] == "application/json"
    return r.status_code, r.json()["message"]


# -- system ----------------------------------------------------------------------------------


def test_version_needs_no_certificate(srv: RunningServer, pki: PKI) -> None:
    with http(pki, None) as c:
        r = c.get(srv.url + "/version")
    assert r.status_code == 200 and set(r.json()) == {"version", "commit"}


def test_no_client_certificate_is_400(srv: RunningServer, pki: PKI) -> None:
    with http(pki, None) as c:
        r = c.get(srv.url + "/v1/status")
        assert err(r) == (400, "tls: client certificate is required")
        assert r.content == b'{"message":"tls: client certificate is required"\n}'
        assert err(c.get(srv.url + "/v1/identity/self/describe"))[0] == 400


def test_api_key_client_is_admin(
    srv: RunningServer, pki: PKI, people: dict[str, ClientCert]
) -> None:
    async def main() -> dict[str, Any]:
        async with KESClient(srv.url, api_key=ROOT_API_KEY, ca=str(pki.ca_file)) as c:
            return await c.describe_self()

    doc = asyncio.run(main())
    assert doc["identity"] == ROOT_IDENTITY and doc["admin"] is True


def test_status_ready_api_metrics(
    srv: RunningServer, pki: PKI, people: dict[str, ClientCert]
) -> None:
    with http(pki, people["admin"]) as c:
        st = c.get(srv.url + "/v1/status").json()
        assert st["keystore_latency"] >= 1 and "keystore_unreachable" not in st
        assert {
            "version",
            "os",
            "arch",
            "uptime",
            "num_cpu",
            "num_cpu_used",
            "mem_heap_used",
        } <= set(st)
        r = c.get(srv.url + "/v1/ready")
        assert r.status_code == 200 and r.content == b""
        routes = c.get(srv.url + "/v1/api").json()
        by_path = {r["path"]: r for r in routes}
        assert by_path["/v1/key/generate/"] == {
            "method": "PUT",
            "path": "/v1/key/generate/",
            "max_body": 1000000,
            "timeout": 15,
        }
        assert by_path["/version"]["timeout"] == 10 and by_path["/v1/log/audit"]["timeout"] == 0
        c.put(srv.url + "/v1/key/create/metric-key")
        c.put(srv.url + "/v1/key/create/metric-key")
        m = c.get(srv.url + "/v1/metrics")
    assert m.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(m.text)}
    assert families["kes_http_request_success"].samples
    assert any(s.labels == {"code": "400"} for s in families["kes_http_request_error"].samples)
    assert "kes_http_response_time" in families and "kes_system_up_time" in families
    # empty families are omitted (kms-go rejects TYPE lines without samples)
    assert "kes_http_request_failure" not in m.text


def test_no_policy_identity(srv: RunningServer, pki: PKI, people: dict[str, ClientCert]) -> None:
    with http(pki, people["nobody"]) as c:
        assert err(c.get(srv.url + "/v1/status")) == (403, "prohibited by policy")
        assert c.get(srv.url + "/version").status_code == 200
        assert err(c.get(srv.url + "/v1/identity/self/describe")) == (
            404,
            "identity does not exist",
        )


# -- routing ---------------------------------------------------------------------------------


def test_routing_edges(srv: RunningServer, pki: PKI, people: dict[str, ClientCert]) -> None:
    with http(pki, people["admin"]) as c:
        r = c.get(srv.url + "/v1/nothing")
        assert r.status_code == 404 and r.text == "404 page not found\n"
        r = c.get(srv.url + "/v1/key/create/x")
        assert err(r) == (405, "received method 'GET' expected 'PUT'")
        assert r.headers["accept"] == "PUT"
        assert c.post(srv.url + "/v1/key/create/post-key").status_code == 200
        assert c.put(srv.url + "/v1/key/create/put-key").status_code == 200
        assert err(c.get(srv.url + "/v1/key/describe/a/%2e%2e/b"))[0] == 400
        assert err(c.get(srv.url + "/v1//key/describe/b"))[0] == 400
        r = c.put(srv.url + "/v1/key/generate/put-key", content=b"{" + b" " * 1_000_001 + b"}")
        assert err(r) == (400, "invalid request body")
        assert err(c.put(srv.url + "/v1/key/generate/put-key", content=b"[1]")) == (
            400,
            "invalid request body",
        )
        assert err(c.put(srv.url + "/v1/key/create/bad.name")) == (
            400,
            "key name 'bad.name' is empty, too long or contains invalid characters",
        )


# -- keys ------------------------------------------------------------------------------------


def test_key_lifecycle(srv: RunningServer, pki: PKI, people: dict[str, ClientCert]) -> None:
    admin = people["admin"]

    async def flow(c: KESClient) -> None:
        await c.create_key("life-1")
        with pytest.raises(KESKeyExistsError) as exc:
            await c.create_key("life-1")
        assert (exc.value.status, exc.value.message) == (400, "key does already exist")
        doc = await c.describe_key("life-1")
        assert doc["name"] == "life-1" and doc["algorithm"] == "AES256"
        assert doc["created_by"] == ROOT_IDENTITY and len(doc["id"]) == 32
        context = b'{"mybucket":"mybucket/a/b.txt"}'
        plaintext, ciphertext = await c.generate_key("life-1", context)
        assert len(plaintext) == 32 and len(ciphertext) == 76  # raw format
        assert await c.decrypt("life-1", ciphertext, context) == plaintext
        with pytest.raises(KESDecryptError) as exc2:
            await c.decrypt("life-1", ciphertext, b"{}")
        assert exc2.value.message == "decryption failed: ciphertext is not authentic"
        ct = await c.encrypt("life-1", b"hello", b"ctx")
        assert await c.decrypt("life-1", ct, b"ctx") == b"hello"
        assert await c.bulk_decrypt("life-1", [(ciphertext, context), (ct, b"ctx")]) == [
            plaintext,
            b"hello",
        ]
        assert len(await c.hmac("life-1", b"msg")) == 32
        await c.delete_key("life-1")
        with pytest.raises(KESKeyNotFoundError):
            await c.describe_key("life-1")
        with pytest.raises(KESKeyNotFoundError):
            await c.delete_key("life-1")

    call(srv, pki, admin, flow)


def test_import_and_spec_vectors(
    srv: RunningServer, pki: PKI, people: dict[str, ClientCert]
) -> None:
    async def flow(c: KESClient) -> None:
        await c.import_key("imported-zero", bytes(32), "AES256")
        for name in ("imported-zero", "zero-key"):
            for ct in (
                json.dumps(J1).encode(),
                json.dumps(J2).encode(),
                base64.b64decode(M1),
                base64.b64decode(R1),
            ):
                assert await c.decrypt(name, ct) == bytes(16)
        with pytest.raises(KESError) as exc:
            await c.import_key("bad-cipher", bytes(32), "DES")
        assert (exc.value.status, exc.value.message) == (406, "algorithm 'DES' is not supported")
        with pytest.raises(KESError) as exc:
            await c.import_key("short", bytes(16), "AES256")
        assert exc.value.status == 406

    call(srv, pki, people["admin"], flow)


def test_stored_key_vectors_describe_and_hmac(
    srv: RunningServer, pki: PKI, people: dict[str, ClientCert]
) -> None:
    async def flow(c: KESClient) -> None:
        doc = await c.describe_key("proto-key")
        assert doc["created_at"] == "2024-01-12T10:39:20.886816Z"
        assert doc["created_by"] == ROOT_IDENTITY
        mac = await c.hmac("proto-key", b"root access key")
        assert base64.b64encode(mac).decode() == "RZ6oLdN7V4mUCqvnichIoUNLNQi+XLhKOVhhoJ0V3ts="
        with pytest.raises(KESError) as exc:
            await c.hmac("zero-key", b"x")
        assert (exc.value.status, exc.value.message) == (501, "key does not support HMAC")
        assert (await c.describe_key("zero-key"))["created_at"] == "0001-01-01T00:00:00Z"

    call(srv, pki, people["admin"], flow)


def test_listing(srv: RunningServer, pki: PKI, people: dict[str, ClientCert]) -> None:
    names = ["my-key", "abc123", "0", "123ABC321", "_-___---_", "_0", "0-Z", "my_key-0"]
    with http(pki, people["admin"]) as c:
        for n in names:
            c.put(srv.url + f"/v1/key/create/ls{n}")
        r = c.get(srv.url + "/v1/key/list/ls*")
        assert r.headers["content-type"] == "application/x-ndjson"
        listed = [json.loads(line)["name"] for line in r.text.splitlines()]
        assert listed == sorted("ls" + n for n in names)
        all_names = [
            json.loads(x)["name"] for x in c.get(srv.url + "/v1/key/list/").text.splitlines()
        ]
        assert all_names == [
            json.loads(x)["name"] for x in c.get(srv.url + "/v1/key/list").text.splitlines()
        ]
        assert set(listed) <= set(all_names)
        assert [
            json.loads(x)["name"] for x in c.get(srv.url + "/v1/key/list/lsmy").text.splitlines()
        ] == ["lsmy-key", "lsmy_key-0"]
        assert err(c.get(srv.url + "/v1/key/list/*-*")) == (
            400,
            "listing pattern '*-*' is empty, too long or is invalid",
        )


# -- policies and identities -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "name", "allowed"),
    [
        ("mixed", "my-key", False),
        ("mixed", "my-key1", False),
        ("mixed", "my-minio-key", True),
        ("mixed", "your-minio-key", True),
        ("mixed", "other", False),
        ("minio", "minio-p1", True),
        ("minio", "my-p1", False),
        ("nobody", "minio-p2", False),
        ("admin", "admin-anything", True),
    ],
)
def test_policy_matrix(
    srv: RunningServer, pki: PKI, people: dict[str, ClientCert], who: str, name: str, allowed: bool
) -> None:
    with http(pki, people[who]) as c:
        r = c.post(srv.url + f"/v1/key/create/{name}")
    if allowed:
        assert r.status_code == 200
    else:
        assert err(r) == (403, "prohibited by policy")


def test_minio_data_path(srv: RunningServer, pki: PKI, people: dict[str, ClientCert]) -> None:
    async def flow(c: KESClient) -> None:
        await c.create_key("minio-data")
        p, ct = await c.generate_key("minio-data", b'{"mybucket":"mybucket/a/b.txt"}')
        assert await c.decrypt("minio-data", ct, b'{"mybucket":"mybucket/a/b.txt"}') == p
        with pytest.raises(KESNotAllowedError) as exc:
            await c.describe_key("minio-data")
        assert exc.value.message == "prohibited by policy"
        assert "minio-data" in await c.list_keys("minio-*")

    call(srv, pki, people["minio"], flow)


def test_identity_and_policy_apis(
    srv: RunningServer, pki: PKI, people: dict[str, ClientCert]
) -> None:
    minio = people["minio"].identity
    with http(pki, people["minio"]) as c:
        me = c.get(srv.url + "/v1/identity/self/describe").json()
    assert me["identity"] == minio and me["policy"] == "minio" and "admin" not in me
    assert (
        "/v1/key/generate/minio-*" in me["allow"] and me["allow"]["/v1/key/generate/minio-*"] == {}
    )
    with http(pki, people["admin"]) as c:
        d = c.get(srv.url + f"/v1/identity/describe/{minio}").json()
        assert d["policy"] == "minio" and d["created_by"] == ROOT_IDENTITY
        assert c.get(srv.url + f"/v1/identity/describe/{ROOT_IDENTITY}").json()["admin"] is True
        assert err(c.get(srv.url + "/v1/identity/describe/" + "0" * 64)) == (
            404,
            "identity does not exist",
        )
        rows = [json.loads(x) for x in c.get(srv.url + "/v1/identity/list/*").text.splitlines()]
        assert {r["identity"] for r in rows} >= {ROOT_IDENTITY, minio}
        assert c.get(srv.url + "/v1/policy/describe/minio").json()["name"] == "minio"
        pol = c.get(srv.url + "/v1/policy/read/mixed").json()
        assert pol["allow"] == {"/v1/key/create/my*": {}, "/v1/key/create/your*": {}}
        assert pol["deny"] == {"/v1/key/create/my-key*": {}}
        assert err(c.get(srv.url + "/v1/policy/read/none")) == (404, "policy does not exist")
        names = [
            json.loads(x)["name"] for x in c.get(srv.url + "/v1/policy/list/*").text.splitlines()
        ]
        assert names == ["minio", "mixed"]
        assert err(c.delete(srv.url + f"/v1/identity/delete/{ROOT_IDENTITY}"))[0] == 400


def test_identity_delete_revokes_access(
    lt: LoopThread, pki: PKI, people: dict[str, ClientCert]
) -> None:
    user = pki.self_signed("revoked")
    s = RunningServer(
        lt,
        settings_for(
            pki,
            MemoryKeyStore(),
            admin=ROOT_IDENTITY,
            policies={"p": (Policy(allow=("/v1/key/create/*",)), [user.identity])},
        ),
    )
    try:
        with http(pki, user) as c:
            assert c.put(s.url + "/v1/key/create/k1").status_code == 200
        with http(pki, people["admin"]) as c:
            assert c.delete(s.url + f"/v1/identity/delete/{user.identity}").status_code == 200
            assert err(c.delete(s.url + f"/v1/identity/delete/{user.identity}"))[0] == 404
        with http(pki, user) as c:
            assert err(c.put(s.url + "/v1/key/create/k2")) == (403, "prohibited by policy")
    finally:
        s.stop()


# -- audit -------------------------------------------------------------------------------------


def test_audit_stream_has_one_event_per_request(
    srv: RunningServer, pki: PKI, people: dict[str, ClientCert]
) -> None:
    events: list[dict[str, Any]] = []
    ready = threading.Event()

    def reader() -> None:
        with http(pki, people["admin"]) as c, c.stream("GET", srv.url + "/v1/log/audit") as r:
            assert r.headers["content-type"] == "application/x-ndjson"
            ready.set()
            for line in r.iter_lines():
                event = json.loads(line)
                if event["request"]["path"].startswith("/v1/log/"):
                    continue  # the subscription request itself is audited too
                events.append(event)
                if len(events) >= 2:
                    return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    assert ready.wait(5)
    time.sleep(0.1)
    with http(pki, people["minio"]) as c:
        c.put(srv.url + "/v1/key/create/minio-audit")
        c.put(srv.url + "/v1/key/create/denied-audit")
    t.join(5)
    assert [e["request"]["path"] for e in events] == [
        "/v1/key/create/minio-audit",
        "/v1/key/create/denied-audit",
    ]
    assert [e["response"]["code"] for e in events] == [200, 403]
    for e in events:
        assert e["request"]["identity"] == people["minio"].identity
        assert e["request"]["ip"] == "127.0.0.1"
        assert isinstance(e["response"]["time"], int) and e["response"]["time"] > 0  # ns
        assert e["time"].endswith("Z")


def test_error_log_stream_alias(
    srv: RunningServer, pki: PKI, people: dict[str, ClientCert]
) -> None:
    with http(pki, people["admin"]) as c, c.stream("GET", srv.url + "/v1/log/error/trace") as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
    with http(pki, people["minio"]) as c:
        assert err(c.get(srv.url + "/v1/log/audit")) == (403, "prohibited by policy")


# -- offline keystore --------------------------------------------------------------------------


def test_offline_store_serves_cached_keys(
    srv: RunningServer, pki: PKI, people: dict[str, ClientCert], store: Store
) -> None:
    with http(pki, people["admin"]) as c:
        assert c.put(srv.url + "/v1/key/create/cached-key").status_code == 200
        assert c.put(srv.url + "/v1/key/generate/cached-key").status_code == 200
        assert c.put(srv.url + "/v1/key/create/uncached-key").status_code == 200
        srv.lt.call(_evict(srv, "uncached-key"))
        store.down = True
        try:
            srv.lt.call(srv.server.cache.probe())
            assert c.put(srv.url + "/v1/key/generate/cached-key").status_code == 200
            assert err(c.put(srv.url + "/v1/key/generate/uncached-key")) == (
                502,
                "failed to read key",
            )
            assert err(c.get(srv.url + "/v1/ready")) == (504, "key store is not reachable")
            st = c.get(srv.url + "/v1/status").json()
            assert st["keystore_unreachable"] is True and st["keystore_unavailable"] is True
        finally:
            store.down = False
            srv.lt.call(srv.server.cache.probe())
        assert c.get(srv.url + "/v1/ready").status_code == 200


async def _evict(srv: RunningServer, name: str) -> None:
    srv.server.cache._evict(name)


def test_certificate_chains(srv: RunningServer, pki: PKI, people: dict[str, ClientCert]) -> None:
    # leaf + its CA: the CA is skipped, the identity is the leaf's
    leaf = pki.ca_signed("chained")
    chained = pki.dir / "chained-full.cert"
    chained.write_bytes(leaf.cert.read_bytes() + pki.ca_file.read_bytes())
    with http(pki, ClientCert(leaf.key, chained, leaf.identity)) as c:
        assert c.get(srv.url + "/v1/identity/self/describe").status_code == 404  # known, no policy
        assert err(c.get(srv.url + "/v1/status")) == (403, "prohibited by policy")
    # two end-entity certificates: refused
    other = pki.self_signed("second")
    two = pki.dir / "two.cert"
    two.write_bytes(people["minio"].cert.read_bytes() + other.cert.read_bytes())
    with http(pki, ClientCert(people["minio"].key, two, people["minio"].identity)) as c:
        r = c.put(srv.url + "/v1/key/generate/minio-data")
    assert err(r) == (400, "tls: received more than one client certificate")


R_KEY = base64.b64decode("dDHbTWgo+Yh3u804SYB5OyVMy6RiLeJYBQth1f6KlEU=")
R_PLAIN = base64.b64decode("CLcJoykFCWZDkEIiUq9bJRqwCwW9ZDvdgu8EMA==")
R2 = "s2gmfQHeGdlyL8x1yEWSACUV3GrSoz3t160hugMgzKWgyqesXDVUJ5Dw5Mt076rR1PNiU9X4YjLH14D8a81t2r2xsz4gVZac"
R3 = "gO4woRIswAJdjUjW7z2ApsSQxJlwB24yjLrmH4eI7sB0uh5nfEJfk9ybTPFft5FRFaZCVBmzhx7OJs9n0WWtxH3sySIxecIK"
J3 = {
    "aead": "ChaCha20Poly1305",
    "id": "66687aadf862bd776c8fc18b8e9f8e20",
    "iv": "EC0eZp7Pqt+LnkOae5xaAg==",
    "nonce": "X1ejXKmH/ugFZPkk",
    "bytes": "wIGBTDs6aOvsqJfekZ0PYRT/OHyFX2TXqeNwl1SLXOI=",
}
M2 = (
    "lbJYQ0hBQ0hBMjAtUE9MWTEzMDXZIDY2Njg3YWFkZjg2MmJkNzc2YzhmYzE4YjhlOWY4ZTIwxBBAr+aptD4x2+qfOhiE"
    "rbnkxAxYs8RmNC1JJXD1hiHEIJ2KqM0jjkME7ndx8nyVseesN83Np0rM5ejVUun+fNFu"
)


def test_more_ciphertext_vectors_and_must_fail(
    srv: RunningServer, pki: PKI, people: dict[str, ClientCert]
) -> None:
    async def flow(c: KESClient) -> None:
        await c.import_key("r-aes", R_KEY, "AES256")
        await c.import_key("r-chacha", R_KEY, "ChaCha20")
        assert await c.decrypt("r-aes", base64.b64decode(R2), bytes(16)) == R_PLAIN
        assert await c.decrypt("r-chacha", base64.b64decode(R3), bytes(16)) == R_PLAIN
        # structured ChaCha20 ciphertexts under the (typeless, AES) zero key: the algorithm
        # named in the ciphertext wins
        for ct in (json.dumps(J3).encode(), base64.b64decode(M2)):
            assert await c.decrypt("zero-key", ct) == bytes(16)
        must_fail = [
            ("r-aes", base64.b64decode(R2), b""),  # R2 with empty AD
            ("zero-key", json.dumps({**J1, "aead": "AES-256-GCM"}).encode(), b""),
            ("zero-key", json.dumps({**J1, "iv": "EjOY4JKqjIrPmQ5z1KSR8zlhggY="}).encode(), b""),
            ("zero-key", json.dumps({**J2, "nonce": "SXAbms731/c="}).encode(), b""),
            ("zero-key", json.dumps({**J1, "nonce": "efY+4kYF9n8="}).encode(), b""),
            (
                "zero-key",
                json.dumps(
                    {**J1, "bytes": "QTza1g5oX3f9cGJMbY1xJwWPj1F7R2VnNl6XpFKYQy0="}
                ).encode(),
                b"",
            ),
            ("zero-key", json.dumps(J1).encode().replace(b",", b"", 1), b""),
            ("zero-key", b"", b""),
            ("zero-key", bytes(20), b""),
        ]
        for name, ct, ad in must_fail:
            with pytest.raises(KESDecryptError) as exc:
                await c.decrypt(name, ct, ad)
            assert (exc.value.status, exc.value.message) == (
                400,
                "decryption failed: ciphertext is not authentic",
            )

    call(srv, pki, people["admin"], flow)
