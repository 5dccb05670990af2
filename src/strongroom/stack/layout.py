"""Where a stack keeps its files: everything lives under one directory.

::

    DIR/stack.json                 ports and names of the last `stack up` (no secrets)
    DIR/credentials.json           object-server access and secret key, URL, CA (0600)
    DIR/credentials.env            the same as AWS_* variables for the AWS CLI and boto3 (0600)
    DIR/certs/ca.crt, ca.key       the local CA (key 0600) that issued the server certificates
    DIR/certs/vault-tls.{crt,key}  OpenBao's server certificate
    DIR/certs/kes-tls.{crt,key}    the key server's server certificate
    DIR/certs/minio.{key,cert}     the object server's client identity (self-signed Ed25519)
    DIR/certs/s3/public.crt, private.key   the object server's certificate (its --certs-dir)
    DIR/secrets/                   0700: vault-init.json (unseal shares, root token),
                                   approle.json (the key server's role id and secret id)
    DIR/vault/vault-config.json    OpenBao's configuration; DIR/vault/raft/ its storage
    DIR/kes/kes-config.yaml        the key server's configuration (0600: holds the secret id)
    DIR/data/                      the object server's data directory
    DIR/run/NAME.pid               pid files; DIR/logs/NAME.log the processes' output
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SERVICES", "Layout", "Ports"]

# Start order; `down` stops them in reverse.
SERVICES = ("openbao", "kes", "s3")


@dataclass(frozen=True, slots=True)
class Ports:
    """The guide's ports by default; OpenBao's cluster port is the API port + 1."""

    s3: int = 9000
    kes: int = 7373
    vault: int = 8200

    @property
    def vault_cluster(self) -> int:
        return self.vault + 1

    def named(self) -> list[tuple[str, int, str]]:
        """(what, port, option that changes it) for every port the stack listens on."""
        return [
            ("OpenBao", self.vault, "--vault-port"),
            ("OpenBao cluster", self.vault_cluster, "--vault-port"),
            ("key server", self.kes, "--kes-port"),
            ("object server", self.s3, "--s3-port"),
        ]


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "stack.json"

    @property
    def lock(self) -> Path:
        return self.root / ".stack.lock"

    @property
    def credentials(self) -> Path:
        return self.root / "credentials.json"

    @property
    def credentials_env(self) -> Path:
        return self.root / "credentials.env"

    # certificates
    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def ca_cert(self) -> Path:
        return self.certs / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.certs / "ca.key"

    @property
    def vault_cert(self) -> Path:
        return self.certs / "vault-tls.crt"

    @property
    def vault_key(self) -> Path:
        return self.certs / "vault-tls.key"

    @property
    def kes_cert(self) -> Path:
        return self.certs / "kes-tls.crt"

    @property
    def kes_key(self) -> Path:
        return self.certs / "kes-tls.key"

    @property
    def client_cert(self) -> Path:
        return self.certs / "minio.cert"

    @property
    def client_key(self) -> Path:
        return self.certs / "minio.key"

    @property
    def s3_certs(self) -> Path:
        return self.certs / "s3"

    @property
    def s3_cert(self) -> Path:
        return self.s3_certs / "public.crt"

    @property
    def s3_key(self) -> Path:
        return self.s3_certs / "private.key"

    # secrets
    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def vault_init(self) -> Path:
        return self.secrets / "vault-init.json"

    @property
    def approle(self) -> Path:
        return self.secrets / "approle.json"

    # services
    @property
    def vault_dir(self) -> Path:
        return self.root / "vault"

    @property
    def vault_config(self) -> Path:
        return self.vault_dir / "vault-config.json"

    @property
    def raft(self) -> Path:
        return self.vault_dir / "raft"

    @property
    def kes_dir(self) -> Path:
        return self.root / "kes"

    @property
    def kes_config(self) -> Path:
        return self.kes_dir / "kes-config.yaml"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def pid_file(self, service: str) -> Path:
        return self.run / f"{service}.pid"

    def log_file(self, service: str) -> Path:
        return self.logs / f"{service}.log"
