"""The PBX's TLS certificate: the site's own, or one made once for this installation."""

from __future__ import annotations

import ipaddress
import shutil
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core import clock
from core.paths import Paths
from core.site import Site

CERTIFICATE = "pbx-tls.crt"
KEY = "pbx-tls.key"
VALID_FOR = timedelta(days=825)


def install_certificate(site: Site, paths: Paths, etc: Path) -> None:
    """Put the certificate and key where Asterisk reads them (``etc``), mode 0600 for the key:
    the site's files if it names them, else this installation's own (made on first use)."""
    sip = site.sip
    if sip.tls_port is None and sip.wss_port is None:
        return
    if sip.tls_certificate is not None and sip.tls_key is not None:
        certificate, key = sip.tls_certificate, sip.tls_key
    else:
        certificate, key = own_certificate(site, paths.state / "tls")
    shutil.copyfile(certificate, etc / CERTIFICATE)
    shutil.copyfile(key, etc / KEY)
    (etc / KEY).chmod(0o600)


def edge_certificate(site: Site, paths: Paths) -> tuple[Path, Path]:
    """The edge's certificate and key for SIP over TLS: the site's own ([sip]
    ``tls_certificate``), else one made once for the edge's address."""
    if site.edge is None:
        raise ValueError("the site file has no [edge]")
    if site.sip.tls_certificate is not None and site.sip.tls_key is not None:
        return site.sip.tls_certificate, site.sip.tls_key
    return own_certificate(site, paths.state / "edge-tls", site.edge.address)


def own_certificate(site: Site, directory: Path, address: str | None = None) -> tuple[Path, Path]:
    """A self-signed certificate for the PBX's SIP addresses (or ``address`` and the
    external one), made once and kept."""
    certificate, key_file = directory / CERTIFICATE, directory / KEY
    if certificate.exists() and key_file.exists():
        return certificate, key_file
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    address = address or site.sip.bind
    names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(address))]
    external = site.sip.external_address
    if external:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(external)))
        except ValueError:
            names.append(x509.DNSName(external))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"hotline SIP {address}")])
    now = clock.now()
    built = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    certificate.write_bytes(built.public_bytes(serialization.Encoding.PEM))
    return certificate, key_file
