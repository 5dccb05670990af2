"""KES identities, API keys and identity certificates (``specs/kes.md`` §2).

An identity is the lowercase hex SHA-256 of a certificate's DER SubjectPublicKeyInfo, hashed
*exactly as it appears inside the certificate* (not re-serialised). An API key
``kes:v1:<base64(0x00 || seed32)>`` is an Ed25519 private key seed; its identity is the hash of
the Ed25519 SPKI, and a client presents it as a self-signed certificate (§2.3).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "API_KEY_PREFIX",
    "InvalidAPIKeyError",
    "api_key_certificate",
    "api_key_identity",
    "api_key_of_private_key",
    "identity_of_certificate",
    "identity_of_public_key",
    "is_identity",
    "new_api_key",
    "new_identity_certificate",
    "parse_api_key",
    "subject_public_key_info",
]

API_KEY_PREFIX = "kes:v1:"
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
_ED25519_TYPE = 0
KeyType = Literal["ed25519", "ecdsa", "rsa"]


class InvalidAPIKeyError(ValueError):
    """The string is not a ``kes:v1:`` API key. The message never contains the key."""


# ---------------------------------------------------------------------------------------------
# Identities of certificates


def _der_element(data: bytes, pos: int) -> tuple[int, int, int]:
    """Return (tag, content start, element end) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError("unsupported DER tag")
    first = data[pos + 1]
    start = pos + 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or start + n > len(data):
            raise ValueError("invalid DER length")
        length = int.from_bytes(data[start : start + n], "big")
        start += n
    end = start + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, start, end


def subject_public_key_info(certificate_der: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo exactly as encoded in the certificate (a DER walk of
    ``Certificate{ TBSCertificate{ [0]version?, serial, sigAlg, issuer, validity, subject,
    SPKI, ...}, ...}``)."""
    tag, start, _ = _der_element(certificate_der, 0)
    if tag != 0x30:
        raise ValueError("not a DER certificate")
    tag, pos, tbs_end = _der_element(certificate_der, start)
    if tag != 0x30:
        raise ValueError("not a DER certificate")
    tag, _, end = _der_element(certificate_der, pos)
    if tag == 0xA0:  # explicit version
        pos = end
    for _ in range(5):  # serial, signature algorithm, issuer, validity, subject
        _, _, pos = _der_element(certificate_der, pos)
    tag, _, end = _der_element(certificate_der, pos)
    if tag != 0x30 or end > tbs_end:
        raise ValueError("no SubjectPublicKeyInfo in certificate")
    return certificate_der[pos:end]


def identity_of_certificate(cert: x509.Certificate | bytes) -> str:
    """Identity (lowercase hex SHA-256 of the SPKI DER) of a certificate given as a parsed
    ``x509.Certificate`` or as DER or PEM bytes."""
    if isinstance(cert, x509.Certificate):
        der = cert.public_bytes(serialization.Encoding.DER)
    elif cert.lstrip().startswith(b"-----BEGIN"):
        der = x509.load_pem_x509_certificate(cert).public_bytes(serialization.Encoding.DER)
    else:
        der = bytes(cert)
    return hashlib.sha256(subject_public_key_info(der)).hexdigest()


def identity_of_public_key(
    public_key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
) -> str:
    """Identity of a public key (its canonical SPKI DER); equal to the certificate identity
    for every key our tools generate."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def is_identity(value: str) -> bool:
    """True for a well-formed identity (64 lowercase hex chars). Others never match (§2.1)."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


# ---------------------------------------------------------------------------------------------
# API keys


def new_api_key(*, randbytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A fresh random API key ``kes:v1:...`` (Ed25519 seed)."""
    seed = randbytes(32)
    if len(seed) != 32:
        raise ValueError("randbytes returned the wrong number of bytes")
    return API_KEY_PREFIX + base64.b64encode(bytes([_ED25519_TYPE]) + seed).decode()


def parse_api_key(key: str) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 private key of an API key; the ``kes:v1:`` prefix is optional (§2.3)."""
    text = key.strip()
    text = text.removeprefix(API_KEY_PREFIX)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAPIKeyError("invalid API key: invalid encoding") from None
    if len(raw) != 33:
        raise InvalidAPIKeyError("invalid API key: invalid length")
    if raw[0] != _ED25519_TYPE:
        raise InvalidAPIKeyError("invalid API key: unsupported type")
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw[1:])


def api_key_identity(key: str) -> str:
    """Identity of an API key: SHA-256 of ``302a300506032b6570032100 || pub32``."""
    public = parse_api_key(key).public_key().public_bytes_raw()
    return hashlib.sha256(_ED25519_SPKI_PREFIX + public).hexdigest()


def api_key_of_private_key(private_key_pem: bytes, password: bytes | None = None) -> str:
    """Convert an Ed25519 PKCS#8 private key (PEM) into its API key string."""
    private_key = serialization.load_pem_private_key(private_key_pem, password)
    if not isinstance(private_key, ed25519.Ed25519PrivateKey):
        raise InvalidAPIKeyError("invalid API key: only Ed25519 private keys convert")
    seed = private_key.private_bytes_raw()
    return API_KEY_PREFIX + base64.b64encode(bytes([_ED25519_TYPE]) + seed).decode()


def api_key_certificate(key: str, *, now: datetime | None = None) -> tuple[bytes, bytes]:
    """The client certificate KES derives from an API key: (private key PEM, certificate PEM).

    Self-signed Ed25519, CN = the identity, valid from now for 90 days, random serial < 2^128,
    KeyUsage digitalSignature, ExtKeyUsage clientAuth, BasicConstraints CA=false.
    """
    private_key = parse_api_key(key)
    identity = api_key_identity(key)
    now = now or datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(secrets.randbits(127) + 1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=90))
        .add_extension(_KEY_USAGE_SIGNATURE, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    cert = builder.sign(private_key, None)
    return _private_pem(private_key), cert.public_bytes(serialization.Encoding.PEM)


_KEY_USAGE_SIGNATURE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


# ---------------------------------------------------------------------------------------------
# Identity certificates (``kes identity new`` / ``kes tool identity new``)

_PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _private_pem(key: _PrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def new_identity_certificate(
    common_name: str,
    *,
    key_type: KeyType = "ed25519",
    validity: timedelta = timedelta(days=30),
    dns_names: Iterable[str] = (),
    ip_addresses: Iterable[str] = (),
    password: bytes | None = None,
    now: datetime | None = None,
) -> tuple[bytes, bytes]:
    """A new private key and a self-signed certificate for it: (key PEM, cert PEM).

    The key is PKCS#8 PEM (encrypted with ``password`` when given). The certificate has
    CN = ``common_name``, KeyUsage digitalSignature, ExtKeyUsage clientAuth and serverAuth
    (KES #344), BasicConstraints CA=false, and the given DNS/IP SANs. ``key_type`` ``ecdsa``
    means P-256; ``rsa`` means RSA-3072.
    """
    if validity <= timedelta(0):
        raise ValueError("validity must be positive")
    private_key: _PrivateKey
    if key_type == "ed25519":
        private_key = ed25519.Ed25519PrivateKey.generate()
    elif key_type == "ecdsa":
        private_key = ec.generate_private_key(ec.SECP256R1())
    elif key_type == "rsa":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise ValueError(f"unsupported key type {key_type!r}")
    now = now or datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(secrets.randbits(127) + 1)
        .not_valid_before(now)
        .not_valid_after(now + validity)
        .add_extension(_KEY_USAGE_SIGNATURE, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algorithm = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(private_key, algorithm)
    return _private_pem(private_key, password), cert.public_bytes(serialization.Encoding.PEM)
