"""The generic mTLS listener (net.mtls + net.http) with a trivial handler on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from strongroom.net.http import HTTPServerState, Request, Response
from strongroom.net.mtls import TLSSettings, create_tls_server

from .helpers import PKI, LoopThread, loop_thread, make_pki


async def _echo(request: Request) -> Response:
    if request.path == "/stream":

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(200):
                yield bytes([65 + i % 26]) * 65536

        return Response(200, stream=chunks(), content_type="application/octet-stream")
    ident = request.info("peer_identity") or "none"
    text = f"{request.method} {request.path} {ident} {len(request.body)} {request.body_too_large}"
    return Response(200, text.encode(), content_type="text/plain")


class Server:
    def __init__(self, lt: LoopThread, pki: PKI, keepalive: float = 5, **settings: object) -> None:
        self.lt = lt
        self.state = HTTPServerState(
            _echo, body_limit=lambda m, p: 1 << 20, keepalive_timeout=keepalive, request_timeout=0.5
        )
        tls = TLSSettings(str(pki.server_cert), str(pki.server_key), **settings)  # type: ignore[arg-type]

        async def start() -> asyncio.Server:
            return await create_tls_server(self.state.protocol_factory, "127.0.0.1", 0, tls)

        self.server: asyncio.Server = lt.call(start())
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.state.shutdown(1)

        self.lt.call(stop())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def lt() -> Iterator[LoopThread]:
    with loop_thread() as t:
        yield t


@pytest.fixture
def server(lt: LoopThread, pki: PKI) -> Iterator[Server]:
    s = Server(lt, pki, handshake_timeout=0.5)
    yield s
    s.close()


def test_self_signed_ed25519_client_accepted_with_identity(server: Server, pki: PKI) -> None:
    client = pki.self_signed("ed")
    with httpx.Client(verify=pki.client_context(client)) as c:
        for _ in range(3):  # keep-alive
            r = c.post(server.url + "/a/b", content=b"x" * 1000)
            assert r.status_code == 200
            assert r.text == f"POST /a/b {client.identity} 1000 False"
            assert r.http_version == "HTTP/1.1"


def test_api_key_certificate_accepted(server: Server, pki: PKI) -> None:
    client = pki.api_key("apikey", "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc")
    assert client.identity == "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22"
    with httpx.Client(verify=pki.client_context(client)) as c:
        assert c.get(server.url + "/").text.split()[2] == client.identity


def test_no_client_certificate_reaches_app_without_identity(server: Server, pki: PKI) -> None:
    with httpx.Client(verify=pki.client_context(None)) as c:
        assert c.get(server.url + "/x").text == "GET /x none 0 False"


def test_body_limit_flags_large_bodies(server: Server, pki: PKI) -> None:
    client = pki.self_signed("big")
    with httpx.Client(verify=pki.client_context(client)) as c:
        r = c.put(server.url + "/up", content=b"y" * (3 << 20))
        assert r.text.endswith(" 0 True")
        # the connection stays usable
        assert c.get(server.url + "/x").text.endswith(" 0 False")


def test_alpn_is_http11_and_tls12_or_newer(server: Server, pki: PKI) -> None:
    ctx = pki.client_context(pki.self_signed("alpn"))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", server.port)) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.selected_alpn_protocol() == "http/1.1"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    ctx12 = pki.client_context(pki.self_signed("tls12"))
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    with (
        socket.create_connection(("127.0.0.1", server.port)) as raw,
        ctx12.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == "TLSv1.2"
        tls.sendall(b"GET /v HTTP/1.1\r\nHost: x\r\n\r\n")
        assert tls.recv(100).startswith(b"HTTP/1.1 200 OK")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize("verify_client", [False, True])
def test_certificate_request_has_no_ca_names_and_allows_ed25519(
    lt: LoopThread, pki: PKI, verify_client: bool
) -> None:
    s = Server(lt, pki, verify_client=verify_client, ca=str(pki.ca_file))
    try:
        client = pki.ca_signed("probe") if verify_client else pki.self_signed("probe")
        out = subprocess.run(
            [
                *("openssl", "s_client", "-connect", f"127.0.0.1:{s.port}", "-tls1_2"),
                *("-cert", str(client.cert), "-key", str(client.key)),
                *("-CAfile", str(pki.ca_file), "-ign_eof"),
            ],
            input=b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            capture_output=True,
            timeout=20,
            check=False,
        )
        text = (out.stdout + out.stderr).decode()
    finally:
        s.close()
    assert "No client certificate CA names sent" in text, text
    requested = next(x for x in text.splitlines() if x.startswith("Requested Signature Alg"))
    assert "ed25519" in requested  # Go clients only send Ed25519 certificates if listed
    assert client.identity in text  # the handshake completed and the identity arrived


def test_handshake_timeout_closes_silent_connections(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.settimeout(5)
        start = time.monotonic()
        assert raw.recv(10) == b""
        assert time.monotonic() - start < 3


def test_close_notify_both_ways(server: Server, pki: PKI) -> None:
    ctx = pki.client_context(pki.self_signed("cn"))
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        tls.sendall(b"GET /v HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = tls.recv(4096)
            if not chunk:  # a clean close_notify, not a ragged EOF (that raises)
                break
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in data
        tls.close()


def test_pipelined_requests_are_answered_in_order(server: Server, pki: PKI) -> None:
    ctx = pki.client_context(pki.self_signed("pipe"))
    with (
        socket.create_connection(("127.0.0.1", server.port)) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(
            b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.index(b"GET /1") < data.index(b"GET /2") < data.index(b"GET /3")


def test_streamed_response_with_slow_reader(server: Server, pki: PKI) -> None:
    client = pki.self_signed("slow")
    total = 0
    with (
        httpx.Client(verify=pki.client_context(client)) as c,
        c.stream("GET", server.url + "/stream") as r,
    ):
        for i, chunk in enumerate(r.iter_bytes(1 << 20)):
            if i == 0:
                time.sleep(0.3)  # let the server hit the write high-water mark
            total += len(chunk)
    assert total == 200 * 65536


def test_auth_on_accepts_ca_signed_and_rejects_others(lt: LoopThread, pki: PKI) -> None:
    s = Server(lt, pki, verify_client=True, ca=str(pki.ca_file))
    try:
        good = pki.ca_signed("good")
        with httpx.Client(verify=pki.client_context(good)) as c:
            assert good.identity in c.get(s.url + "/").text
        bad = pki.self_signed("bad")
        with pytest.raises(httpx.HTTPError), httpx.Client(verify=pki.client_context(bad)) as c:
            c.get(s.url + "/")
    finally:
        s.close()


def test_shutdown_closes_idle_connections(lt: LoopThread, pki: PKI) -> None:
    s = Server(lt, pki)
    ctx = pki.client_context(pki.self_signed("idle"))
    raw = socket.create_connection(("127.0.0.1", s.port))
    tls = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    tls.sendall(b"GET /v HTTP/1.1\r\nHost: x\r\n\r\n")
    assert tls.recv(4096).startswith(b"HTTP/1.1 200")
    s.close()
    tls.settimeout(5)
    assert tls.recv(10) == b""
    tls.close()


def test_pki_dir_is_private(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    assert (pki.self_signed("p").key.stat().st_mode & 0o777) == 0o600


def test_slow_requests_get_408(server: Server, pki: PKI) -> None:
    ctx = pki.client_context(pki.self_signed("slowloris"))
    with (
        socket.create_connection(("127.0.0.1", server.port)) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /v HTTP/1.1\r\nHost: x\r\n")  # headers never end
        tls.settimeout(5)
        data = b""
        while chunk := tls.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 408 ")


def test_expect_100_continue(server: Server, pki: PKI) -> None:
    ctx = pki.client_context(pki.self_signed("expect"))
    with (
        socket.create_connection(("127.0.0.1", server.port)) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(
            b"PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        )
        tls.settimeout(5)
        assert tls.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        tls.sendall(b"hello")
        assert b" 5 False" in tls.recv(4096)


def test_idle_keepalive_connections_close(lt: LoopThread, pki: PKI) -> None:
    s = Server(lt, pki, keepalive=0.3)
    try:
        ctx = pki.client_context(pki.self_signed("idle2"))
        with (
            socket.create_connection(("127.0.0.1", s.port)) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"GET /v HTTP/1.1\r\nHost: x\r\n\r\n")
            tls.settimeout(5)
            assert tls.recv(4096).startswith(b"HTTP/1.1 200")
            start = time.monotonic()
            assert tls.recv(10) == b""  # closed with close_notify after 0.3 s idle
            assert time.monotonic() - start < 3
    finally:
        s.close()


def test_identity_skips_ca_certificates_of_the_chain(server: Server, pki: PKI) -> None:
    from .helpers import ClientCert

    leaf = pki.ca_signed("leaf-with-ca")
    full = pki.dir / "leaf-with-ca-full.cert"
    full.write_bytes(leaf.cert.read_bytes() + pki.ca_file.read_bytes())
    with httpx.Client(verify=pki.client_context(ClientCert(leaf.key, full, leaf.identity))) as c:
        assert c.get(server.url + "/").text.split()[2] == leaf.identity


def test_oversized_headers_are_refused(server: Server, pki: PKI) -> None:
    ctx = pki.client_context(pki.self_signed("bigheaders"))
    with (
        socket.create_connection(("127.0.0.1", server.port)) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /v HTTP/1.1\r\nHost: x\r\n" + b"X-Filler: " + b"a" * 70000 + b"\r\n\r\n")
        tls.settimeout(5)
        data = b""
        with contextlib.suppress(ConnectionError):
            while chunk := tls.recv(4096):
                data += chunk
    assert data.startswith(b"HTTP/1.1 431 ")


def test_pipelined_responses_leave_in_one_write(server: Server, pki: PKI) -> None:
    ctx = pki.client_context(pki.self_signed("batch"))
    with (
        socket.create_connection(("127.0.0.1", server.port)) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(5)))
        first = tls.recv(65536)  # one TLS record's plaintext
    assert first.count(b"HTTP/1.1 200 OK") == 5


@pytest.mark.parametrize("direct", [True, False], ids=["direct-openssl", "pyopenssl-api"])
def test_both_record_paths_serve_requests(
    lt: LoopThread, pki: PKI, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    """Established connections use the direct OpenSSL calls when pyOpenSSL exposes them and
    pyOpenSSL's own API otherwise: both carry small and large requests and responses."""
    from strongroom.net import mtls

    assert mtls._DIRECT is not None  # this pyOpenSSL exposes what the direct path needs
    if not direct:
        monkeypatch.setattr(mtls, "_DIRECT", None)
    server = Server(lt, pki)
    try:
        client = pki.self_signed("paths")
        with httpx.Client(verify=pki.client_context(client)) as c:
            for size in (0, 10, 100_000, 900_000):
                r = c.post(server.url + "/p", content=b"z" * size)
                assert r.text == f"POST /p {client.identity} {size} False"
            streamed = c.get(server.url + "/stream")
            assert len(streamed.content) == 200 * 65536
    finally:
        server.close()


def test_garbage_record_after_handshake_closes_the_connection(server: Server, pki: PKI) -> None:
    """A record that fails authentication ends the connection; nothing reaches the app."""
    ctx = pki.client_context(pki.self_signed("garbage"))
    with (
        socket.create_connection(("127.0.0.1", server.port)) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(b"GET /before HTTP/1.1\r\nHost: x\r\n\r\n")
        tls.settimeout(5)
        assert tls.recv(65536).startswith(b"HTTP/1.1 200 ")
        # an application-data record whose contents are not authentic, under the TLS layer
        with socket.socket(fileno=os.dup(tls.fileno())) as under:
            under.sendall(b"\x17\x03\x03\x00\x40" + b"\x00" * 0x40)
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            assert tls.recv(65536) == b""
