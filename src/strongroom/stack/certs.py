"""The stack's certificates: a local CA, server certificates it issues, the client identity.

Every server (OpenBao, the key server, the object server) gets an ECDSA P-256 certificate for
``localhost`` and ``127.0.0.1`` issued by one local CA, so every client trusts one file
(``certs/ca.crt``) and verifies hostnames. The object server's client identity for the key
server is a self-signed Ed25519 certificate made by the same helper as ``kes identity new``:
the key server knows it by its public-key hash, not by an issuer.

Existing files are reused; a server certificate is issued again only when it is missing, was
not issued by the current CA, or expires within 30 days (its key is kept when present).

(This is the one module outside ``strongroom.crypto`` that builds certificates: the identity
helpers there only make self-signed ones.)
"""

from __future__ import annotations

import ipaddress
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from strongroom.crypto.identity import identity_of_certificate, new_identity_certificate
from strongroom.stack.files import write_file
from strongroom.stack.layout import Layout

__all__ = ["ensure_certificates", "identity"]

CA_VALIDITY = timedelta(days=3650)
SERVER_VALIDITY = timedelta(days=397)
CLIENT_VALIDITY = timedelta(hours=8760)  # the guide's --time=8760h
RENEW_BEFORE = timedelta(days=30)
HOSTS = ("localhost",)
IPS = ("127.0.0.1", "::1")


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _load_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _ensure_ca(
    layout: Layout, now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key, cert = _load_key(layout.ca_key), _load_cert(layout.ca_cert)
    if key is not None and cert is not None and cert.not_valid_after_utc > now + RENEW_BEFORE:
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Strongroom stack"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Strongroom stack CA {secrets.token_hex(4)}"),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    write_file(layout.ca_key, _key_pem(key), private=True)
    write_file(layout.ca_cert, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    if cert.issuer != ca.subject:
        return False
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _ensure_server_cert(
    cert_path: Path,
    key_path: Path,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: datetime,
) -> None:
    key, cert = _load_key(key_path), _load_cert(cert_path)
    if (
        key is not None
        and cert is not None
        and _issued_by(cert, ca)
        and cert.not_valid_after_utc > now + RENEW_BEFORE
        and cert.public_key() == key.public_key()
    ):
        return
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
        write_file(key_path, _key_pem(key), private=True)
    sans: list[x509.GeneralName] = [x509.DNSName(h) for h in HOSTS]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in IPS]
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_file(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _ensure_identity(layout: Layout) -> None:
    if layout.client_key.is_file() and _load_cert(layout.client_cert) is not None:
        return
    key_pem, cert_pem = new_identity_certificate("MinIO", validity=CLIENT_VALIDITY)
    write_file(layout.client_key, key_pem, private=True)
    write_file(layout.client_cert, cert_pem)


def ensure_certificates(layout: Layout, *, now: datetime | None = None) -> list[str]:
    """Create what is missing; return what was created or renewed (for the report)."""
    now = now or datetime.now(UTC)
    before = {p: _fingerprint(p) for p in _all_files(layout)}
    layout.certs.mkdir(parents=True, exist_ok=True)
    ca, ca_key = _ensure_ca(layout, now)
    _ensure_server_cert(layout.vault_cert, layout.vault_key, ca, ca_key, now)
    _ensure_server_cert(layout.kes_cert, layout.kes_key, ca, ca_key, now)
    layout.s3_certs.mkdir(parents=True, exist_ok=True)
    _ensure_server_cert(layout.s3_cert, layout.s3_key, ca, ca_key, now)
    _ensure_identity(layout)
    return [p.name for p in _all_files(layout) if _fingerprint(p) != before[p]]


def identity(layout: Layout) -> str:
    """The key-server identity of the object server's client certificate."""
    return identity_of_certificate(layout.client_cert.read_bytes())


def _all_files(layout: Layout) -> list[Path]:
    return [
        layout.ca_cert,
        layout.vault_cert,
        layout.kes_cert,
        layout.s3_cert,
        layout.client_cert,
    ]


def _fingerprint(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
