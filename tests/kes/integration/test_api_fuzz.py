"""Property tests of the API's request handling: arbitrary methods, paths and bodies never crash
the server, and a policy never lets a request through to a path it does not allow (no bypass by
percent-encoding, dot segments or doubled slashes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.crypto.kes_crypto import SecretKey
from strongroom.kes.api import Access, KeyServerAPI
from strongroom.kes.cache import KeyCache
from strongroom.kes.keystore.mem import MemoryKeyStore
from strongroom.kes.policy import Policy
from strongroom.net.http import Request, Response

IDENTITY = "ab" * 32


class _Transport:
    def __init__(self, cert: bool) -> None:
        self._info: dict[str, Any] = {
            "peercert": object() if cert else None,
            "peer_identity": IDENTITY if cert else None,
            "peer_identity_error": None,
            "peername": ("127.0.0.1", 1),
        }

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._info.get(name, default)


def _api() -> KeyServerAPI:
    store = MemoryKeyStore({"minio-key": SecretKey.generate().marshal()})
    cache = KeyCache(store, expiry_any=0, expiry_unused=0, expiry_offline=0)
    policy = Policy(allow=("/v1/key/generate/minio-*", "/v1/key/decrypt/minio-*"))
    return KeyServerAPI(
        cache=cache, access=Access(admin=None, policies={"p": policy}, identities={IDENTITY: "p"})
    )


API = _api()
_LOOP: list[asyncio.AbstractEventLoop] = []


@pytest.fixture(scope="module", autouse=True)
def loop() -> Iterator[None]:
    _LOOP.append(asyncio.new_event_loop())
    yield
    loop = _LOOP.pop()
    loop.run_until_complete(API.close())
    loop.close()


segment = st.sampled_from(
    [
        "v1",
        "key",
        "generate",
        "decrypt",
        "create",
        "list",
        "minio-key",
        "my-key",
        "..",
        ".",
        "",
        "%2e%2e",
        "%2F",
        "minio-%2A",
        "*",
        "version",
        "status",
        "log",
        "audit",
        "identity",
        "self",
        "describe",
        "%00",
        "a%2fb",
        "minio-key%2F..%2Fother",
    ]
)
paths = st.lists(segment, min_size=0, max_size=6).map(lambda parts: "/" + "/".join(parts))
methods = st.sampled_from(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"])
bodies = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda d: json.dumps(d).encode(),
        st.dictionaries(
            st.sampled_from(["context", "Context", "ciphertext", "plaintext", "key", "x"]),
            st.one_of(st.text(max_size=20), st.integers(), st.none()),
        ),
    ),
)


def run(method: str, path: str, body: bytes, cert: bool = True) -> Response:
    request = Request(method, path, "", {}, body, _Transport(cert))  # type: ignore[arg-type]
    response: Response = _LOOP[0].run_until_complete(API.handle(request))
    if response.stream is not None:
        _LOOP[0].run_until_complete(response.stream.aclose())  # type: ignore[attr-defined]
    return response


@settings(max_examples=400, deadline=None)
@given(methods, paths, bodies)
def test_no_request_crashes_the_server(method: str, path: str, body: bytes) -> None:
    response = run(method, path, body)
    assert response.status in {200, 400, 403, 404, 405, 406, 501, 502}
    if response.status >= 400 and response.status != 404:
        assert json.loads(response.body)["message"]


@settings(max_examples=400, deadline=None)
@given(methods, paths, bodies)
def test_policy_cannot_be_bypassed(method: str, path: str, body: bytes) -> None:
    response = run(method, path, body)
    if response.status == 200:
        from urllib.parse import unquote

        decoded = unquote(path)
        assert decoded == "/version" or decoded.startswith(
            ("/v1/key/generate/minio-", "/v1/key/decrypt/minio-")
        ), (method, path)
        assert "/.." not in decoded and "//" not in decoded


@given(methods, paths)
def test_no_certificate_means_no_access(method: str, path: str) -> None:
    response = run(method, path, b"", cert=False)
    assert response.status != 200 or path == "/version"
