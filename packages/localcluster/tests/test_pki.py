"""The generated PKI: a serving cert a TLS client accepts for 127.0.0.1, and SA keys."""

from __future__ import annotations

import datetime
import ipaddress
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from localcluster._pki import write_pki

if TYPE_CHECKING:
    from pathlib import Path

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def test_serving_cert_is_signed_by_ca_for_loopback_and_service_ip(tmp_path: Path) -> None:
    files = write_pki(tmp_path, service_ips=["10.96.0.1"], now=NOW)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    serving = x509.load_pem_x509_certificate(files.serving_cert.read_bytes())

    serving.verify_directly_issued_by(ca)
    sans = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("10.96.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    assert serving.not_valid_before_utc < NOW < serving.not_valid_after_utc
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_keys_are_private_files_and_sa_pair_matches(tmp_path: Path) -> None:
    files = write_pki(tmp_path, service_ips=[], now=NOW)
    for key in (files.ca_key, files.serving_key, files.service_account_key):
        assert key.stat().st_mode & 0o077 == 0
    private = serialization.load_pem_private_key(files.service_account_key.read_bytes(), None)
    public = serialization.load_pem_public_key(files.service_account_pub.read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert private.public_key().public_numbers() == public.public_numbers()
