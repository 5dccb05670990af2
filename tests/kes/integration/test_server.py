"""Server start-up from config, memory locking, shutdown, and the client's fail-over."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from strongroom.cli.kes import cli
from strongroom.kes.client import KESClient, KESError, KESUnavailableError
from strongroom.kes.config import parse_config
from strongroom.kes.keystore.mem import MemoryKeyStore
from strongroom.kes.server import (
    KeyServer,
    Overrides,
    ServerError,
    lock_memory,
    settings_from_config,
    split_address,
)

from .helpers import PKI, LoopThread, RunningServer, loop_thread, make_pki, settings_for


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def lt() -> Iterator[LoopThread]:
    with loop_thread() as t:
        yield t


def test_mlock_errors_name_the_capability() -> None:
    lock_memory(lambda flags: 0)
    with pytest.raises(ServerError, match="CAP_IPC_LOCK"):
        lock_memory(lambda flags: errno.EPERM)
    with pytest.raises(ServerError, match=r"CAP_IPC_LOCK.*RLIMIT_MEMLOCK"):
        lock_memory(lambda flags: errno.ENOMEM)


def test_split_address() -> None:
    assert split_address("0.0.0.0:7373") == ("0.0.0.0", 7373)
    assert split_address(":7373") == ("0.0.0.0", 7373)
    assert split_address("[::1]:7373") == ("::1", 7373)
    with pytest.raises(ServerError):
        split_address("localhost")


def test_settings_from_config_and_overrides(pki: PKI, tmp_path: Path) -> None:
    text = f"""
address: 127.0.0.1:7000
root: {"a" * 64}
tls:
  key: {pki.server_key}
  cert: {pki.server_cert}
policy:
  minio:
    paths: [/v1/key/create/minio-*]
    identities: ["{"b" * 64}"]
keys:
  fs:
    path: {tmp_path / "keys"}
"""
    config = parse_config(text, "kes.yaml")
    s = settings_from_config(config)
    assert s.address == "127.0.0.1:7000" and s.access.admin == "a" * 64
    assert s.access.allowed("b" * 64, "/v1/key/create/minio-1")
    assert not s.access.allowed("b" * 64, "/v1/key/create/other")
    assert not s.tls.verify_client
    s = settings_from_config(config, Overrides(address=":1", root="disabled", auth="on"))
    assert s.address == ":1" and s.tls.verify_client
    assert not s.access.allowed("disabled", "/v1/status")


def test_config_errors_stop_the_server(pki: PKI) -> None:
    store = "keystore:\n  fs:\n    path: /tmp/keys\n"
    no_admin = parse_config(
        f"tls:\n  key: {pki.server_key}\n  cert: {pki.server_cert}\n{store}", "a.yaml"
    )
    with pytest.raises(ServerError, match="admin"):
        settings_from_config(no_admin)
    no_tls = parse_config(f"admin:\n  identity: disabled\n{store}", "b.yaml")
    with pytest.raises(ServerError, match="tls"):
        settings_from_config(no_tls)
    proxy = parse_config(
        f"admin:\n  identity: disabled\ntls:\n  key: {pki.server_key}\n  cert: {pki.server_cert}\n"
        f"  proxy:\n    identities: [{'c' * 64}]\n{store}",
        "c.yaml",
    )
    with pytest.raises(ServerError, match="proxy"):
        settings_from_config(proxy)


def test_stop_ends_log_streams(lt: LoopThread, pki: PKI) -> None:
    admin = pki.self_signed("admin")
    s = RunningServer(lt, settings_for(pki, MemoryKeyStore(), admin=admin.identity))
    ended = threading.Event()

    def subscribe() -> None:
        with httpx.Client(verify=pki.client_context(admin), timeout=10) as c:
            try:
                with c.stream("GET", s.url + "/v1/log/error") as r:
                    for _ in r.iter_lines():
                        pass
            except httpx.HTTPError:
                pass
        ended.set()

    t = threading.Thread(target=subscribe, daemon=True)
    t.start()
    lt.call(asyncio.sleep(0.2))
    s.stop()
    assert ended.wait(5)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", s.server.port), timeout=1):
        pass


def test_error_log_stream_carries_server_log_lines(lt: LoopThread, pki: PKI) -> None:
    admin = pki.self_signed("errlog")
    s = RunningServer(lt, settings_for(pki, MemoryKeyStore(), admin=admin.identity))
    lines: list[dict[str, str]] = []
    try:
        with (
            httpx.Client(verify=pki.client_context(admin), timeout=10) as c,
            c.stream("GET", s.url + "/v1/log/error") as r,
        ):
            import logging

            lt.call(asyncio.sleep(0.1))
            logging.getLogger("strongroom.kes").warning("something happened")
            for line in r.iter_lines():
                lines.append(json.loads(line))
                break
    finally:
        s.stop()
    assert lines[0]["message"].endswith("something happened")


def test_client_fails_over_to_a_live_endpoint(lt: LoopThread, pki: PKI) -> None:
    admin = pki.self_signed("failover")
    s = RunningServer(lt, settings_for(pki, MemoryKeyStore(), admin=admin.identity))
    with socket.socket() as dead:
        dead.bind(("127.0.0.1", 0))
        dead_url = f"https://127.0.0.1:{dead.getsockname()[1]}"

        async def no_sleep(_: float) -> None:
            return None

        async def main() -> tuple[str, str]:
            async with KESClient(
                [dead_url, s.url],
                cert_file=str(admin.cert),
                key_file=str(admin.key),
                ca=str(pki.ca_file),
                sleep=no_sleep,
            ) as c:
                await c.create_key("fo-key")
                first = await c.version()
            async with KESClient(
                dead_url,
                cert_file=str(admin.cert),
                key_file=str(admin.key),
                ca=str(pki.ca_file),
                sleep=no_sleep,
            ) as c:
                try:
                    await c.version()
                except KESUnavailableError as exc:
                    return first, exc.message
            return first, ""

        try:
            version, message = asyncio.run(main())
        finally:
            s.stop()
    assert version and message.startswith("no KES server reachable")


def test_cli_help_and_identity_files(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["--help"]).output
    for name in ("server", "key", "identity", "tool", "status", "policy"):
        assert name in out
    r = runner.invoke(
        cli,
        [
            "identity",
            "new",
            "svc",
            "--key",
            str(tmp_path / "k.pem"),
            "--cert",
            str(tmp_path / "c.pem"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    r2 = runner.invoke(cli, ["identity", "of", str(tmp_path / "c.pem")])
    assert r2.output.strip() == doc["identity"]
    r3 = runner.invoke(
        cli,
        [
            "identity",
            "new",
            "svc",
            "--key",
            str(tmp_path / "k.pem"),
            "--cert",
            str(tmp_path / "c.pem"),
        ],
    )
    assert r3.exit_code == 1 and "already exists" in r3.output
    r4 = runner.invoke(
        cli, ["identity", "of", "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc"]
    )
    assert r4.output.strip() == "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22"
    r5 = runner.invoke(
        cli, ["key", "ls"], env={"KES_API_KEY": "", "KES_CLIENT_KEY": "", "KES_CLIENT_CERT": ""}
    )
    assert r5.exit_code == 1 and "Error: no API key or client certificate" in r5.output


def test_keyserver_refuses_a_busy_port(lt: LoopThread, pki: PKI) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        settings = settings_for(pki, MemoryKeyStore())
        settings.address = f"127.0.0.1:{busy.getsockname()[1]}"
        with pytest.raises(ServerError, match="cannot listen"):
            lt.call(KeyServer(settings).start())


def test_cache_expiry_with_an_injected_clock(lt: LoopThread, pki: PKI) -> None:
    """Keys deleted behind the server's back keep serving until the cache expires them."""
    now = [1000.0]
    admin = pki.self_signed("clock")
    store = MemoryKeyStore()
    s = RunningServer(
        lt,
        settings_for(
            pki, store, admin=admin.identity, expiry_any=300, expiry_unused=20, clock=lambda: now[0]
        ),
    )

    def generate(c: httpx.Client, name: str) -> int:
        return c.put(s.url + f"/v1/key/generate/{name}").status_code

    try:
        with httpx.Client(verify=pki.client_context(admin), timeout=10) as c:
            for name in ("busy", "idle"):
                assert c.put(s.url + f"/v1/key/create/{name}").status_code == 200
                assert generate(c, name) == 200
                lt.call(store.delete(name))  # gone from the store, still cached
            for step in range(1, 4):  # unused/2 passes; "busy" is used in between
                now[0] += 10.5
                lt.call(s.server.cache.tick(now[0]))
                assert generate(c, "busy") == 200
                if step == 1:
                    assert generate(c, "idle") == 200
            assert generate(c, "idle") == 404  # unused for a full period: expired
            now[0] += 300
            lt.call(s.server.cache.tick(now[0]))
            assert generate(c, "busy") == 404  # expiry "any" drops everything
    finally:
        s.stop()


class SlowStore(MemoryKeyStore):
    async def get(self, name: str) -> bytes:
        await asyncio.sleep(3)
        return await super().get(name)


def test_route_timeout_answers_503(lt: LoopThread, pki: PKI) -> None:
    admin = pki.self_signed("slow")
    s = RunningServer(
        lt,
        settings_for(pki, SlowStore(), admin=admin.identity, timeouts={"/v1/key/generate": 0.3}),
    )
    try:
        with httpx.Client(verify=pki.client_context(admin), timeout=10) as c:
            assert c.put(s.url + "/v1/key/create/slow-key").status_code == 200
            lt.call(_evict_all(s))
            r = c.put(s.url + "/v1/key/generate/slow-key")
            assert r.status_code == 503 and r.json() == {"message": "request timed out"}
            assert c.get(s.url + "/version").status_code == 200  # the connection still works
    finally:
        s.stop()


async def _evict_all(s: RunningServer) -> None:
    s.server.cache.evict_all()


def test_client_follows_the_audit_log(lt: LoopThread, pki: PKI) -> None:
    admin = pki.self_signed("follower")
    s = RunningServer(lt, settings_for(pki, MemoryKeyStore(), admin=admin.identity))

    async def main() -> list[dict[str, object]]:
        async with (
            KESClient(
                s.url, cert_file=str(admin.cert), key_file=str(admin.key), ca=str(pki.ca_file)
            ) as follower,
            KESClient(
                s.url, cert_file=str(admin.cert), key_file=str(admin.key), ca=str(pki.ca_file)
            ) as actor,
        ):
            events: list[dict[str, object]] = []

            async def follow() -> None:
                async for event in follower.log_stream("audit"):
                    request = event["request"]
                    assert isinstance(request, dict)
                    if str(request["path"]).startswith("/v1/key/"):
                        events.append(event)
                        return

            task = asyncio.create_task(follow())
            for _ in range(500):  # until the server has registered the subscriber
                if s.server.audit.stream.active:
                    break
                await asyncio.sleep(0.01)
            await actor.create_key("followed")
            await asyncio.wait_for(task, 5)
            return events

    try:
        events = asyncio.run(main())
    finally:
        s.stop()
    assert events[0]["request"] == {
        "ip": "127.0.0.1",
        "path": "/v1/key/create/followed",
        "identity": admin.identity,
    }


def test_api_overrides_skip_auth_and_timeouts(lt: LoopThread, pki: PKI, tmp_path: Path) -> None:
    admin = pki.self_signed("overrides")
    config = parse_config(
        f"""version: v1
admin:
  identity: {admin.identity}
tls:
  key: {pki.server_key}
  cert: {pki.server_cert}
api:
  /v1/ready:
    skip_auth: true
    timeout: 3s
keystore:
  fs:
    path: {tmp_path / "keys"}
""",
        "api.yaml",
    )
    settings = settings_from_config(config, Overrides(address="127.0.0.1:0"))
    settings.error_stderr = False
    s = RunningServer(lt, settings)
    try:
        with httpx.Client(verify=pki.client_context(None), timeout=10) as c:
            assert c.get(s.url + "/v1/ready").status_code == 200  # no certificate needed
            r = c.get(s.url + "/v1/status")
            assert r.status_code == 400
        with httpx.Client(verify=pki.client_context(admin), timeout=10) as c:
            routes = {r["path"]: r for r in c.get(s.url + "/v1/api").json()}
        assert routes["/v1/ready"]["timeout"] == 3
    finally:
        s.stop()


def test_sighup_style_tls_reload_rotates_the_certificate(lt: LoopThread, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    admin = pki.self_signed("rotate")
    s = RunningServer(lt, settings_for(pki, MemoryKeyStore(), admin=admin.identity))

    def served_cert() -> bytes:
        ctx = pki.client_context(admin)
        with (
            socket.create_connection(("127.0.0.1", s.server.port)) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
            assert der is not None
            return der

    try:
        before = served_cert()
        new = pki.ca.issue_cert("127.0.0.1")
        new.private_key_pem.write_to_path(str(pki.server_key))
        new.cert_chain_pems[0].write_to_path(str(pki.server_cert))
        assert s.server.reload_tls()
        after = served_cert()
        assert before != after
        pki.server_cert.write_text("not a certificate")
        assert not s.server.reload_tls()  # a broken file keeps the current certificate
        assert served_cert() == after
    finally:
        s.stop()


@pytest.mark.parametrize(
    ("api_key", "identity"),
    [
        (
            "kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw",
            "0426fa9a04bc2756b92fbe8a97e1a1e07b53ecf04ed33da22c33e5c9faeb8cbb",
        ),
        (
            "kes:v1:AMxvd2uV1l5dDSRwuKZxSjuM5BDemlr+685+JAHA1TuJ",
            "ab785e3b95d80d72cc9c27cb9fde886a0bf9068a69d40e3bd08a54e68c3f2bf7",
        ),
        (
            "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs",
            "ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6",
        ),
    ],
)
def test_identity_of_api_key_vectors(api_key: str, identity: str) -> None:
    r = CliRunner().invoke(cli, ["identity", "of", api_key])
    assert r.exit_code == 0 and r.output.strip() == identity


def test_identity_of_invalid_api_key_fails() -> None:
    r = CliRunner().invoke(
        cli, ["identity", "of", "kes:v1:sbDvZFqUPFFwxRS4EkuoEb2nyyInkdKSUEYHXFHeTouW"]
    )
    assert r.exit_code == 1 and "Error:" in r.output


def test_client_reads_every_list_shape() -> None:
    """ndjson (KES <= 2023, ours), the KES-HEAD JSON object, and the SEED identity map."""
    from strongroom.kes.client import _lines

    nd = httpx.Response(
        200,
        content=b'{"name":"b"}\n{"Name":"a"}\n',
        headers={"content-type": "application/x-ndjson"},
    )
    assert _lines(nd, "name") == [{"name": "b"}, {"Name": "a"}]
    head = httpx.Response(200, json={"names": ["x", "y"], "continue_at": ""})
    assert _lines(head, "name") == [{"name": "x"}, {"name": "y"}]
    ids = httpx.Response(200, json={"identities": ["i1"]})
    assert _lines(ids, "identity") == [{"identity": "i1"}]
    seed = httpx.Response(200, json={"abc": "minio"})
    assert _lines(seed, "identity") == [{"identity": "abc", "policy": "minio"}]
    broken = httpx.Response(
        200,
        content=b'{"name":"a"}\n{"error":"failed to list keys"}\n',
        headers={"content-type": "application/x-ndjson"},
    )
    with pytest.raises(KESError, match="failed to list keys"):
        _lines(broken, "name")
