"""The object server in the stack: credentials, the guide's environment, start-up.

The server runs over HTTPS (``certs/s3`` is its ``--certs-dir``) with the guide's section 5
environment: the key server endpoint, the object server's client identity, the default key
``minio-key-1``, the CA, and ``MINIO_KMS_AUTO_ENCRYPTION=on`` so every object is SSE-S3.
Its root credentials are generated once and kept in ``credentials.json`` (0600).
"""

from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys
import time
from dataclasses import dataclass, field

import httpx

from strongroom.stack.errors import StackError
from strongroom.stack.files import read_json, write_file, write_json
from strongroom.stack.keyserver import KEY_NAME
from strongroom.stack.layout import Layout, Ports
from strongroom.stack.process import Service, log_tail

__all__ = ["Credentials", "ensure_credentials", "service", "wait_ready", "write_env_file"]

REGION = "us-east-1"
_ACCESS_ALPHABET = string.ascii_uppercase + string.digits


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)


def ensure_credentials(layout: Layout) -> Credentials:
    """The saved credentials, or new random ones (20-character access key, 40-character
    secret key, like AWS's) saved with mode 0600."""
    doc = read_json(layout.credentials)
    if isinstance(doc, dict) and doc.get("access_key") and doc.get("secret_key"):
        return Credentials(str(doc["access_key"]), str(doc["secret_key"]))
    access = "".join(secrets.choice(_ACCESS_ALPHABET) for _ in range(20))
    secret = secrets.token_urlsafe(30)  # 40 characters
    creds = Credentials(access, secret)
    write_json(layout.credentials, {"access_key": access, "secret_key": secret}, private=True)
    return creds


def url(ports: Ports) -> str:
    return f"https://127.0.0.1:{ports.s3}"


def write_credentials(layout: Layout, ports: Ports, creds: Credentials) -> None:
    """credentials.json (with the URL, region and CA for convenience) and credentials.env."""
    write_json(
        layout.credentials,
        {
            "url": url(ports),
            "access_key": creds.access_key,
            "secret_key": creds.secret_key,
            "region": REGION,
            "ca": str(layout.ca_cert),
        },
        private=True,
    )
    write_env_file(layout, ports, creds)


def write_env_file(layout: Layout, ports: Ports, creds: Credentials) -> None:
    """``. credentials.env`` sets up the AWS CLI and boto3 (AWS_ENDPOINT_URL, AWS_CA_BUNDLE)."""
    lines = [
        "# Written by `strongroom stack up`: source it for the AWS CLI or boto3.",
        f"export AWS_ACCESS_KEY_ID={creds.access_key}",
        f"export AWS_SECRET_ACCESS_KEY={creds.secret_key}",
        f"export AWS_DEFAULT_REGION={REGION}",
        f"export AWS_ENDPOINT_URL={url(ports)}",
        f"export AWS_CA_BUNDLE='{layout.ca_cert}'",
        "",
    ]
    write_file(layout.credentials_env, "\n".join(lines).encode(), private=True)


def service(layout: Layout, ports: Ports, creds: Credentials, workers: int) -> Service:
    prefixes = ("MINIO_", "KES_", "VAULT_", "BAO_", "AWS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(
        {
            "MINIO_KMS_KES_ENDPOINT": f"https://127.0.0.1:{ports.kes}",
            "MINIO_KMS_KES_KEY_FILE": str(layout.client_key),
            "MINIO_KMS_KES_CERT_FILE": str(layout.client_cert),
            "MINIO_KMS_KES_KEY_NAME": KEY_NAME,
            "MINIO_KMS_KES_CA_PATH": str(layout.ca_cert),
            "MINIO_KMS_AUTO_ENCRYPTION": "on",
            "MINIO_ROOT_USER": creds.access_key,
            "MINIO_ROOT_PASSWORD": creds.secret_key,
        }
    )
    argv = [
        sys.executable,
        "-m",
        "strongroom",
        "server",
        str(layout.data),
        f"--address=127.0.0.1:{ports.s3}",
        f"--certs-dir={layout.s3_certs}",
        f"--workers={workers}",
    ]
    return Service(
        name="s3",
        title="object server",
        argv=argv,
        cwd=layout.root,
        marker=str(layout.data),
        env=env,
    )


def wait_ready(
    layout: Layout, ports: Ports, proc: subprocess.Popen[bytes], timeout: float = 30.0
) -> None:
    """Wait until ``GET /minio/health/live`` answers 200 over verified HTTPS."""
    health = f"{url(ports)}/minio/health/live"
    deadline = time.monotonic() + timeout
    with httpx.Client(verify=str(layout.ca_cert), timeout=2.0, trust_env=False) as http:
        while True:
            if proc.poll() is not None:
                raise StackError(
                    f"the object server exited with status {proc.returncode}; the end of "
                    f"{layout.log_file('s3')}:\n{log_tail(layout.log_file('s3'))}"
                )
            try:
                if http.get(health).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise StackError(
                    f"the object server did not answer within {timeout:.0f}s; the end of "
                    f"{layout.log_file('s3')}:\n{log_tail(layout.log_file('s3'))}"
                )
            time.sleep(0.05)
