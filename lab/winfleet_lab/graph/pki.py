# Copyright (c) 2026, winfleet.autopilot contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Graph lab's own little PKI: a CA, a TLS server certificate and client certificates.

Everything is generated with ``cryptography`` on first start and kept in the lab's state
directory, so a restarted lab (crash-and-resume tests) keeps its CA and clients keep trusting it.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_SIZE = 2048


def _now():
    return datetime.datetime.now(datetime.UTC)


def _write(path, data, mode=0o600):
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".tmp%d" % os.getpid())
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "winfleet Graph lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn="winfleet Graph lab CA"):
    key = new_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn)).issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(ca_key, ca_cert, hosts):
    key = new_key()
    now = _now()
    sans = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0])).issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def make_client_cert(cn, days=365):
    """A self-signed certificate, as app registrations use for certificate credentials."""
    key = new_key()
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn)).issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def thumbprints(cert):
    """(sha1 hex, sha256 hex) of a certificate's DER form, as Entra stores them."""
    return cert.fingerprint(hashes.SHA1()).hex(), cert.fingerprint(hashes.SHA256()).hex()  # noqa: S303


class LabPKI:
    """CA + server certificate under ``directory``; created once, reused after."""

    def __init__(self, directory, hosts=("127.0.0.1", "localhost")):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_path = self.dir / "ca.pem"
        self.cert_path = self.dir / "server.pem"
        self.key_path = self.dir / "server.key"
        hosts = list(hosts)
        marker = self.dir / "server.hosts"
        if not (self.ca_path.exists() and (self.dir / "ca.key").exists()):
            ca_key, ca_cert = make_ca()
            _write(self.dir / "ca.key", key_pem(ca_key))
            _write(self.ca_path, cert_pem(ca_cert), 0o644)
        else:
            ca_key = serialization.load_pem_private_key((self.dir / "ca.key").read_bytes(), None)
            ca_cert = x509.load_pem_x509_certificate(self.ca_path.read_bytes())
        wanted = ",".join(hosts)
        if not (self.cert_path.exists() and self.key_path.exists() and marker.exists()
                and marker.read_text() == wanted):
            key, cert = make_server_cert(ca_key, ca_cert, hosts)
            _write(self.key_path, key_pem(key))
            _write(self.cert_path, cert_pem(cert), 0o644)
            _write(marker, wanted.encode(), 0o644)
