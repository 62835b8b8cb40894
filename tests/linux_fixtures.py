"""Fake Linux file systems under ``tmp_path``, laid out as each distro's tools lay them out.

Debian: ``update-ca-certificates`` links ``/etc/ssl/certs/NAME.pem`` (absolute) to the file in
``/usr/share/ca-certificates`` or ``/usr/local/share/ca-certificates``, and ``HASH.N``
(relative) to that link. Fedora and Arch: ``p11-kit extract`` writes the anchors bundle and
``ca-bundle.trust.crt``, in which a blocklisted certificate has no trust list and every known
purpose rejected, and a non-anchor has an empty trust list (trust/extract-openssl.c).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from build_ca_bundle.certificates import (
    SERVER_AUTH,
    Candidate,
    SourceKind,
    SourceResult,
    Verdict,
    parse_der,
)
from tests.pki import Issued, make_root, trusted_certificate

# p11-kit's known_usages(): what it rejects for a blocklisted certificate.
P11KIT_KNOWN_USAGES = [
    "1.3.6.1.5.5.7.3.1",  # serverAuth
    "1.3.6.1.5.5.7.3.2",  # clientAuth
    "1.3.6.1.5.5.7.3.3",  # codeSigning
    "1.3.6.1.5.5.7.3.4",  # emailProtection
    "1.3.6.1.5.5.7.3.5",  # ipsecEndSystem
    "1.3.6.1.5.5.7.3.6",  # ipsecTunnel
    "1.3.6.1.5.5.7.3.7",  # ipsecUser
    "1.3.6.1.5.5.7.3.8",  # timeStamping
]
EMAIL = "1.3.6.1.5.5.7.3.4"


def place(root: Path, absolute: str, data: bytes) -> Path:
    """Write ``data`` at ``absolute`` under ``root``, making the folders."""
    path = root / absolute.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def link(root: Path, absolute: str, target: str | Path) -> Path:
    """A symlink at ``absolute`` under ``root``, pointing at ``target`` as given."""
    path = root / absolute.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


def certifi_like(*roots: Issued) -> SourceResult:
    """A BASE source, as certifi's reader returns it, holding ``roots``."""
    base = SourceResult(name="certifi", kind=SourceKind.BASE)
    base.candidates = [Candidate(parse_der(r.der), Verdict.TRUST, "certifi") for r in roots]
    return base


def same_key_reissue(original: Issued, common_name: str) -> Issued:
    """Another self-signed root on ``original``'s key: p11-kit distrusts both as one key."""
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(original.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(original.key, hashes.SHA256())
    )
    return Issued(cert, original.key)


@dataclass
class Debian:
    """A Debian/Ubuntu store after ``update-ca-certificates``."""

    root: Path
    mozilla_a: Issued = field(default_factory=lambda: make_root("Mozilla A"))
    mozilla_a2: Issued = field(default_factory=lambda: make_root("Mozilla A"))  # renewed
    deselected: Issued = field(default_factory=lambda: make_root("Mozilla Deselected"))
    corp: Issued = field(default_factory=lambda: make_root("Local Corp Proxy Root"))

    @property
    def certs(self) -> Path:
        return self.root / "etc/ssl/certs"

    @property
    def trusted(self) -> list[Issued]:
        return [self.mozilla_a, self.mozilla_a2, self.corp]

    def build(self) -> Debian:
        # Two roots with one subject share a hash: .0 and .1 (seen on Debian 12).
        self._install("/usr/share/ca-certificates/mozilla/Mozilla_A.crt", self.mozilla_a, "0")
        self._install("/usr/share/ca-certificates/mozilla/Mozilla_A_2.crt", self.mozilla_a2, "1")
        # A local root as IT drops it in: a byte order mark and CRLF line ends.
        corp_pem = b"\xef\xbb\xbf" + self.corp.pem.replace(b"\n", b"\r\n")
        place(self.root, "/usr/local/share/ca-certificates/corp.crt", corp_pem)
        self._link("/usr/local/share/ca-certificates/corp.crt", "corp", "0", self.corp.hash_name)
        # Deselected: its file stays in /usr/share, no link, not in the bundle.
        place(self.root, "/usr/share/ca-certificates/mozilla/Deselected.crt", self.deselected.pem)
        place(
            self.root,
            "/etc/ca-certificates.conf",
            b"# Lines starting with ! are deselected\r\n"
            b"mozilla/Mozilla_A.crt\r\nmozilla/Mozilla_A_2.crt\r\n!mozilla/Deselected.crt\r\n",
        )
        bundle = self.mozilla_a.pem + self.mozilla_a2.pem + self.corp.pem
        place(self.root, "/etc/ssl/certs/ca-certificates.crt", bundle)
        return self

    def _install(self, absolute: str, issued: Issued, number: str) -> None:
        place(self.root, absolute, issued.pem)
        self._link(absolute, Path(absolute).stem, number, issued.hash_name)

    def _link(self, absolute: str, name: str, number: str, hash_prefix: str) -> None:
        # NAME.pem -> absolute path of the source file; HASH.N -> NAME.pem (relative).
        link(self.root, f"/etc/ssl/certs/{name}.pem", self.root / absolute.lstrip("/"))
        link(self.root, f"/etc/ssl/certs/{hash_prefix}.{number}", f"{name}.pem")


@dataclass
class Fedora:
    """A Fedora/RHEL store after ``update-ca-trust``."""

    root: Path
    anchor: Issued = field(default_factory=lambda: make_root("Fedora Anchor"))
    blocked: Issued = field(default_factory=lambda: make_root("Blocked by admin"))
    non_anchor: Issued = field(default_factory=lambda: make_root("Known but not an anchor"))
    email_only: Issued = field(default_factory=lambda: make_root("E-mail only root"))
    localhost: Issued = field(default_factory=lambda: make_root("localhost.localdomain"))

    def build(self) -> Fedora:
        anchors = place(
            self.root, "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", self.anchor.pem
        )
        place(
            self.root,
            "/etc/pki/ca-trust/extracted/openssl/ca-bundle.trust.crt",
            trusted_certificate(self.anchor, trust=[SERVER_AUTH, EMAIL], alias="Fedora Anchor")
            + trusted_certificate(self.blocked, reject=P11KIT_KNOWN_USAGES)
            + trusted_certificate(self.non_anchor, trust=[])
            + trusted_certificate(self.email_only, trust=[EMAIL]),
        )
        # The compatibility link, and mod_ssl's own key pair next to it.
        link(self.root, "/etc/pki/tls/certs/ca-bundle.crt", anchors)
        place(self.root, "/etc/pki/tls/certs/localhost.crt", self.localhost.pem)
        # p11-kit's pem-directory-hash: NAME.pem plus a relative hash link.
        folder = "/etc/pki/ca-trust/extracted/pem/directory-hash"
        place(self.root, f"{folder}/Fedora_Anchor.pem", self.anchor.pem)
        link(self.root, f"{folder}/{self.anchor.hash_name}.0", "Fedora_Anchor.pem")
        return self


def arch_cadir(root: Path, issued: Issued) -> Path:
    """Arch's cadir: one file and its hash names as hard links to it."""
    first = place(root, "/etc/ca-certificates/extracted/cadir/Arch_Corp.pem", issued.pem)
    os.link(first, first.with_name(f"{issued.hash_name}.0"))
    os.link(first, first.with_name("d0c0b0a0.0"))  # the old-style (MD5) subject hash
    return first.parent
