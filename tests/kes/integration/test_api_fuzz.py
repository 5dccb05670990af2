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


def _same_answer(now: Response, then: Response) -> None:
    assert (now.status, now.content_type, now.headers) == (
        then.status,
        then.content_type,
        then.headers,
    )
    if now.status != 200:
        assert now.body == then.body
    elif b"ciphertext" in now.body:  # generate: fresh keys each time, so check what they are
        for body in (now.body, then.body):
            doc = json.loads(body)
            decrypted = run(
                "POST",
                "/v1/key/decrypt/minio-key",
                json.dumps({"ciphertext": doc["ciphertext"], "context": ""}).encode(),
            )
            assert json.loads(decrypted.body)["plaintext"] == doc["plaintext"]
    else:
        assert now.body == then.body


@settings(max_examples=400, deadline=None)
@given(methods, paths, bodies, st.booleans())
def test_immediate_answers_equal_the_async_answers(
    method: str, path: str, body: bytes, cert: bool
) -> None:
    """What the key server answers inside data_received (cached key, no waiting) is what the
    async handler answers for the same request; anything else is left to the async handler."""
    then = run(method, path, body, cert)  # also caches the key
    request = Request(method, path, "", {}, body, _Transport(cert))  # type: ignore[arg-type]
    now = API.handle_now(request)
    if now is not None:
        _same_answer(now, then)


@pytest.mark.parametrize("name", ["minio-key", "minio-missing", "my-key", "bad%2Fname"])
def test_immediate_data_key_calls(name: str) -> None:
    generated = run("POST", f"/v1/key/generate/{name}", b'{"context":"YnVja2V0"}')
    request = Request(  # type: ignore[arg-type]
        "POST", f"/v1/key/generate/{name}", "", {}, b'{"context":"YnVja2V0"}', _Transport(True)
    )
    now = API.handle_now(request)
    if generated.status == 200:
        assert now is not None and now.status == 200
        for answer in (generated, now):
            doc = json.loads(answer.body)
            body = json.dumps({"ciphertext": doc["ciphertext"], "context": "YnVja2V0"}).encode()
            decrypt = Request(  # type: ignore[arg-type]
                "POST", f"/v1/key/decrypt/{name}", "", {}, body, _Transport(True)
            )
            opened = API.handle_now(decrypt)
            assert opened is not None and json.loads(opened.body)["plaintext"] == doc["plaintext"]
            wrong = body.replace(b"YnVja2V0", b"b3RoZXI=")
            refused = API.handle_now(
                Request("POST", f"/v1/key/decrypt/{name}", "", {}, wrong, _Transport(True))  # type: ignore[arg-type]
            )
            assert refused is not None and refused.status == 400
    elif now is not None:  # refused before any key is needed (policy, name): same refusal
        assert (now.status, now.body) == (generated.status, generated.body)
    else:  # an uncached key (here: missing) or an encoded path is left to the async handler
        assert generated.status == 404 or "%" in name
