"""The Vault API client without a server: settings from the environment, secrecy, errors."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from strongroom.vault.client import (
    VaultClient,
    VaultConnectionError,
    VaultError,
    VaultSettings,
    parse_bool,
)

TOKEN = "s.SuperSecretToken0123456789"


def test_settings_from_env() -> None:
    env = {
        "VAULT_ADDR": "https://vault.example:8200",
        "VAULT_TOKEN": TOKEN,
        "VAULT_CACERT": "/etc/ca.pem",
        "VAULT_SKIP_VERIFY": "true",
        "VAULT_NAMESPACE": "team1",
    }
    s = VaultSettings.from_env(env)
    assert (s.address, s.token, s.ca_cert, s.skip_verify, s.namespace) == (
        "https://vault.example:8200",
        TOKEN,
        "/etc/ca.pem",
        True,
        "team1",
    )
    assert VaultSettings.from_env({}).address == "https://127.0.0.1:8200"
    assert VaultSettings.from_env({"BAO_ADDR": "http://b:1"}).address == "http://b:1"
    assert VaultSettings.from_env(env, address="http://o:2", token=None).address == "http://o:2"


@pytest.mark.parametrize(
    ("text", "value"), [("1", True), ("True", True), ("0", False), ("", False)]
)
def test_parse_bool(text: str, value: bool) -> None:
    assert parse_bool(text) is value


def test_parse_bool_rejects_other_words() -> None:
    with pytest.raises(ValueError, match="VAULT_SKIP_VERIFY"):
        VaultSettings.from_env({"VAULT_SKIP_VERIFY": "yes"})


def test_token_never_in_repr() -> None:
    settings = VaultSettings(address="http://127.0.0.1:1", token=TOKEN)
    with VaultClient(settings) as client:
        assert TOKEN not in repr(settings)
        assert TOKEN not in repr(client)


def _mock(client: VaultClient, handler: httpx.MockTransport) -> None:
    client._http = httpx.Client(transport=handler, base_url=client.settings.address)


def test_error_carries_status_and_messages_not_the_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}
        return httpx.Response(403, json=body)

    with VaultClient(VaultSettings(address="http://vault", token=TOKEN, namespace="ns1")) as client:
        _mock(client, httpx.MockTransport(handler))
        with pytest.raises(VaultError) as info:
            client.request("GET", "kv/minio/x")
    err = info.value
    assert err.status == 403 and err.permission_denied
    assert err.errors == ("1 error occurred:\n\t* permission denied",)
    assert "permission denied" in str(err) and "/v1/kv/minio/x" in str(err)
    assert TOKEN not in str(err) and TOKEN not in repr(err)
    req = seen[0]
    assert req.headers["X-Vault-Token"] == TOKEN
    assert req.headers["X-Vault-Request"] == "true"
    assert req.headers["X-Vault-Namespace"] == "ns1"


def test_read_404_is_none_and_204_is_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(404, json={"errors": []})
        return httpx.Response(204)

    with VaultClient(VaultSettings(address="http://vault")) as client:
        _mock(client, httpx.MockTransport(handler))
        assert client.read("kv/x") is None
        assert client.list("kv/") == []
        assert client.write("kv/x", {"a": "b"}) is None


def test_sealed_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, content=json.dumps({"errors": ["Vault is sealed"]}))

    with VaultClient(VaultSettings(address="http://vault")) as client:
        _mock(client, httpx.MockTransport(handler))
        with pytest.raises(VaultError) as info:
            client.request("GET", "kv/x")
    assert info.value.sealed


def test_health_without_namespace_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"initialized": True, "sealed": False})

    with VaultClient(VaultSettings(address="http://vault", namespace="ns1")) as client:
        _mock(client, httpx.MockTransport(handler))
        client.request("GET", "sys/health", token=False, namespace=False)
    assert "X-Vault-Namespace" not in seen[0].headers
    assert "X-Vault-Token" not in seen[0].headers


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = VaultSettings(address=f"http://127.0.0.1:{port}", timeout=2)
    with VaultClient(settings) as client, pytest.raises(VaultConnectionError, match="reach vault"):
        client.request("GET", "sys/health")
