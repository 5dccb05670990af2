"""Vectors (specs/kes.md §2.6) and properties for strongroom.crypto.identity."""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.crypto.identity import (
    InvalidAPIKeyError,
    api_key_certificate,
    api_key_identity,
    api_key_of_private_key,
    identity_of_certificate,
    identity_of_public_key,
    is_identity,
    new_api_key,
    new_identity_certificate,
    parse_api_key,
    subject_public_key_info,
)

API_KEY_VECTORS = [
    (
        "kes:v1:ACQpoGqx3rHHjT938Hfu5hVVQJHZWSqVI2Xp1KlYxFVw",
        "0426fa9a04bc2756b92fbe8a97e1a1e07b53ecf04ed33da22c33e5c9faeb8cbb",
    ),
    (
        "kes:v1:AMxvd2uV1l5dDSRwuKZxSjuM5BDemlr+685+JAHA1TuJ",
        "ab785e3b95d80d72cc9c27cb9fde886a0bf9068a69d40e3bd08a54e68c3f2bf7",
    ),
    (
        "kes:v1:AGaV6VXHasF0FnaB60WdCOeTZ8eTIDikL4zlN16c8NAs",
        "ea9826089311fe44d7590408ede9150f7c637b6cab0a91ee6fe1aa5d9fb366f6",
    ),
    (
        "kes:v1:AD9E7FSYWrMD+VjhI6q545cYT9YOyFxZb7UnjEepYDRc",
        "3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22",
    ),
]


@pytest.mark.parametrize(("api_key", "identity"), API_KEY_VECTORS)
def test_api_key_identity_vectors(api_key: str, identity: str) -> None:
    assert api_key_identity(api_key) == identity
    assert api_key_identity(api_key.removeprefix("kes:v1:")) == identity  # prefix optional


@pytest.mark.parametrize(("api_key", "identity"), API_KEY_VECTORS)
def test_api_key_certificate_carries_the_identity(api_key: str, identity: str) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    key_pem, cert_pem = api_key_certificate(api_key, now=now)
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert identity_of_certificate(cert) == identity
    assert identity_of_certificate(cert_pem) == identity
    assert identity_of_certificate(cert.public_bytes(serialization.Encoding.DER)) == identity
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == identity
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=90)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert 0 < cert.serial_number < 2**128
    private = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    assert api_key_of_private_key(key_pem) == api_key


@pytest.mark.parametrize(
    ("api_key", "message"),
    [
        ("v1:AMxvd2uV1l5dDSRwuKZxSjuM5BDemlr+685+JAHA1TuJ", "encoding"),
        ("kes:AMxvd2uV1l5dDSRwuKZxSjuM5BDemlr+685+JAHA1TuJ", "encoding"),
        ("kes:v1:sbDvZFqUPFFwxRS4EkuoEb2nyyInkdKSUEYHXFHeTouW", "unsupported type"),
        ("kes:v1:AMxvd2uV1l5dDSRwuKZxSjuM5BDemlr+685+JAHA", "invalid length"),
        ("", "invalid length"),
    ],
)
def test_invalid_api_keys(api_key: str, message: str) -> None:
    with pytest.raises(InvalidAPIKeyError, match=message) as info:
        api_key_identity(api_key)
    assert api_key.removeprefix("kes:v1:")[4:] not in str(info.value) or not api_key


def test_new_api_key_round_trips() -> None:
    key = new_api_key()
    assert key.startswith("kes:v1:")
    assert is_identity(api_key_identity(key))
    fixed = new_api_key(randbytes=lambda n: bytes(n))
    assert fixed == "kes:v1:" + "A" * 44
    assert parse_api_key(fixed).private_bytes_raw() == bytes(32)


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa", "rsa"])
def test_new_identity_certificate(key_type: str) -> None:
    key_pem, cert_pem = new_identity_certificate(
        "MinIO",
        key_type=key_type,  # type: ignore[arg-type]
        validity=timedelta(hours=8760),
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1", "::1"],
    )
    cert = x509.load_pem_x509_certificate(cert_pem)
    private = serialization.load_pem_private_key(key_pem, None)
    assert isinstance(
        private, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)
    )
    assert identity_of_certificate(cert_pem) == identity_of_public_key(private.public_key())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "MinIO"
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(hours=8760)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert len(san.get_values_for_type(x509.IPAddress)) == 2
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH}
    assert b"PRIVATE KEY" in key_pem and b"ENCRYPTED" not in key_pem


def test_encrypted_identity_key() -> None:
    key_pem, _ = new_identity_certificate("x", password=b"secret")
    assert b"ENCRYPTED PRIVATE KEY" in key_pem
    serialization.load_pem_private_key(key_pem, b"secret")


def test_identity_hashes_the_original_spki_bytes() -> None:
    _, cert_pem = new_identity_certificate("x", key_type="rsa")
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    spki = subject_public_key_info(der)
    assert identity_of_certificate(der) == hashlib.sha256(spki).hexdigest()
    assert spki in der


def test_is_identity() -> None:
    assert is_identity("3ecfcdf38fcbe141ae26a1030f81e96b753365a46760ae6b578698a97c59fd22")
    assert not is_identity("disabled")
    assert not is_identity("_")
    assert not is_identity("3ECFCDF38FCBE141AE26A1030F81E96B753365A46760AE6B578698A97C59FD22")


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=300))
def test_spki_walker_rejects_garbage_with_value_error(blob: bytes) -> None:
    with contextlib.suppress(ValueError):
        subject_public_key_info(blob)
