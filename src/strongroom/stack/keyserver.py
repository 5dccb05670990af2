"""The key server in the stack: the guide's kes-config.yaml, start-up, the master key.

The configuration is the guide's layout (section 4.2): the object server's identity may create,
generate with and decrypt with keys named ``minio-*``; master keys live in OpenBao's K/V engine
under ``minio/`` through the AppRole that `stack up` provisioned. It is rewritten on every run
(ports or the identity may have changed) with mode 0600, because it holds the secret id.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx

from strongroom.stack.errors import StackError
from strongroom.stack.files import write_file
from strongroom.stack.layout import Layout, Ports
from strongroom.stack.openbao import PREFIX, AppRole
from strongroom.stack.process import Service, log_tail

__all__ = ["KEY_NAME", "create_master_key", "service", "wait_ready", "write_config"]

KEY_NAME = "minio-key-1"
POLICY_PATHS = (
    "/v1/key/create/minio-*",
    "/v1/key/generate/minio-*",
    "/v1/key/decrypt/minio-*",
)


def _q(value: str) -> str:
    """A YAML scalar that stays a string whatever it holds (JSON strings are YAML)."""
    return json.dumps(value)


def render_config(layout: Layout, ports: Ports, approle: AppRole, identity: str) -> str:
    paths = "".join(f"    - {p}\n" for p in POLICY_PATHS)
    return (
        "# Written by `strongroom stack up`: the MinIO KMS guide's key server configuration.\n"
        "# Rewritten on every `stack up`; it holds the AppRole secret id (mode 0600).\n"
        f"address: 127.0.0.1:{ports.kes}\n"
        "\n"
        "tls:\n"
        f"  key:  {_q(str(layout.kes_key))}\n"
        f"  cert: {_q(str(layout.kes_cert))}\n"
        "\n"
        "policy:\n"
        "  minio:\n"
        "    paths:\n"
        f"{paths}"
        "    identities:\n"
        f"    - {identity}   # the object server: certs/minio.cert\n"
        "\n"
        "cache:\n"
        "  expiry:\n"
        "    any:    5m0s\n"
        "    unused: 20s\n"
        "\n"
        "keys:\n"
        "  vault:\n"
        f"    endpoint: https://127.0.0.1:{ports.vault}\n"
        f"    prefix:   {PREFIX}\n"
        "    approle:\n"
        f"      id:     {_q(approle.role_id)}\n"
        f"      secret: {_q(approle.secret_id)}\n"
        "      retry:  15s\n"
        "    tls:\n"
        f"      ca: {_q(str(layout.ca_cert))}\n"
        "    status:\n"
        "      ping: 10s\n"
    )


def write_config(layout: Layout, ports: Ports, approle: AppRole, identity: str) -> None:
    text = render_config(layout, ports, approle, identity)
    write_file(layout.kes_config, text.encode(), private=True)


def _child_env() -> dict[str, str]:
    prefixes = ("MINIO_", "KES_", "VAULT_", "BAO_", "AWS_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def service(layout: Layout) -> Service:
    argv = [
        sys.executable,
        "-m",
        "strongroom",
        "kes",
        "server",
        f"--config={layout.kes_config}",
        "--root=disabled",
        "--auth=off",
    ]
    if os.geteuid() == 0:  # mlock needs CAP_IPC_LOCK, which root has
        argv.append("--mlock")
    return Service(
        name="kes",
        title="key server",
        argv=argv,
        cwd=layout.kes_dir,
        marker=f"--config={layout.kes_config}",
        env=_child_env(),
    )


def wait_ready(
    layout: Layout, ports: Ports, proc: subprocess.Popen[bytes], timeout: float = 30.0
) -> None:
    """Wait until ``GET /version`` answers over TLS (verified against the stack's CA)."""
    url = f"https://127.0.0.1:{ports.kes}/version"
    deadline = time.monotonic() + timeout
    with httpx.Client(verify=str(layout.ca_cert), timeout=2.0, trust_env=False) as http:
        while True:
            if proc.poll() is not None:
                raise StackError(
                    f"the key server exited with status {proc.returncode}; the end of "
                    f"{layout.log_file('kes')}:\n{log_tail(layout.log_file('kes'))}"
                )
            try:
                if http.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StackError(
                    f"the key server did not answer within {timeout:.0f}s; the end of "
                    f"{layout.log_file('kes')}:\n{log_tail(layout.log_file('kes'))}"
                )
            time.sleep(0.05)


def create_master_key(layout: Layout, ports: Ports, timeout: float = 30.0) -> bool:
    """``kes key create minio-key-1`` as the object server's identity (the guide's 4.3).
    True when the key was created, False when it existed already."""
    from strongroom.kes.client import KESClient, KESError, KESKeyExistsError

    async def create() -> bool:
        deadline = time.monotonic() + timeout
        async with KESClient(
            f"https://127.0.0.1:{ports.kes}",
            cert_file=str(layout.client_cert),
            key_file=str(layout.client_key),
            ca=str(layout.ca_cert),
        ) as client:
            while True:
                try:
                    await client.create_key(KEY_NAME)
                    return True
                except KESKeyExistsError:
                    return False
                except KESError as exc:
                    # the keystore may need a moment (a fresh raft leader, the first login)
                    if exc.status < 500 or time.monotonic() > deadline:
                        raise StackError(
                            f"creating the master key {KEY_NAME} failed: {exc.message}; the end "
                            f"of {layout.log_file('kes')}:\n{log_tail(layout.log_file('kes'))}"
                        ) from None
                    await asyncio.sleep(0.2)

    try:
        return asyncio.run(create())
    except OSError as exc:
        raise StackError(f"creating the master key {KEY_NAME} failed: {exc}") from None
