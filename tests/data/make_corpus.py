#!/usr/bin/env python3
"""Regenerate the corpus of real-world oddities in tests/data/, byte for byte.

Run ``python tests/data/make_corpus.py [FOLDER]`` (default: this script's folder). Every file
it writes is a pure function of this script: the keys are derived from fixed seeds, the dates
and serial numbers are fixed and the ECDSA signatures are deterministic (RFC 6979), so a run
on any machine gives the committed bytes (tests/test_corpus.py checks that). The roots are
valid from 2024 until 2045, so no test rots before then. README.md beside it is written by
hand and lists what each file is and which real-world tool produces it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent
NOT_BEFORE = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
NOT_AFTER = dt.datetime(2045, 1, 1, tzinfo=dt.timezone.utc)
ORGANIZATION = "build-ca-bundle corpus"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
BOM = b"\xef\xbb\xbf"

# The roots every certificate file is made of: file stem -> common name.
ROOTS = {
    "alpha": "Corpus Alpha Root CA",
    "beta": "Corpus Beta Root CA",
    # Name constraints listing many permitted domains: a DER of several kilobytes, as some
    # corporate constrained roots are. Its base64 on one line is far beyond 10,000 characters.
    "wide": "Corpus Name-Constrained Root CA",
}
WIDE_DOMAINS = 400


def _seeded(text: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{ORGANIZATION} {text}".encode()).digest(), "big")


def _key(stem: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(_seeded(f"key {stem}") % (_P256_ORDER - 1) + 1, ec.SECP256R1())


def make_root(stem: str) -> x509.Certificate:
    """The root named ``stem`` in :data:`ROOTS`, the same bytes on every run."""
    key = _key(stem)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, ROOTS[stem]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_seeded(f"serial {stem}") >> 100)  # positive, under 20 bytes
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if stem == "wide":
        permitted: list[x509.GeneralName] = [
            x509.DNSName(f"division{number:03d}.corp.example") for number in range(WIDE_DOMAINS)
        ]
        builder = builder.add_extension(
            x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None),
            critical=True,
        )
    return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)


def pem(cert: x509.Certificate) -> bytes:
    """PEM as ``openssl x509`` writes it: 64-column lines, LF."""
    return cert.public_bytes(serialization.Encoding.PEM)


def one_line_pem(cert: x509.Certificate) -> bytes:
    """The base64 on a single line, as ``[Convert]::ToBase64String`` in PowerShell gives it."""
    body = base64.b64encode(cert.public_bytes(serialization.Encoding.DER))
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"\n-----END CERTIFICATE-----\n"


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


def _names(cert: x509.Certificate) -> tuple[str, str]:
    return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()


def showcerts(*certs: x509.Certificate) -> bytes:
    """What ``openssl s_client -connect HOST:443 -showcerts`` prints: text around each block."""
    out = [b"CONNECTED(00000003)\n", b"---\n", b"Certificate chain\n"]
    for number, cert in enumerate(certs):
        subject, issuer = _names(cert)
        out.append(f" {number} s:{subject}\n   i:{issuer}\n".encode())
        out.append(b"   a:PKEY: id-ecPublicKey, 256 (bit); sigalg: ecdsa-with-SHA256\n")
        out.append(pem(cert))
    subject, issuer = _names(certs[0])
    out.append(b"---\nServer certificate\n")
    out.append(f"subject={subject}\nissuer={issuer}\n---\n".encode())
    out.append(b"No client certificate CA names sent\nDONE\n")
    return b"".join(out)


def text_dump(cert: x509.Certificate) -> bytes:
    """What ``openssl x509 -in root.crt -text`` prints: a readable dump, then the PEM."""
    subject, issuer = _names(cert)
    lines = [
        "Certificate:",
        "    Data:",
        "        Version: 3 (0x2)",
        f"        Serial Number: {cert.serial_number:#x}",
        "        Signature Algorithm: ecdsa-with-SHA256",
        f"        Issuer: {issuer}",
        "        Validity",
        f"            Not Before: {NOT_BEFORE:%b %d %H:%M:%S %Y} GMT",
        f"            Not After : {NOT_AFTER:%b %d %H:%M:%S %Y} GMT",
        f"        Subject: {subject}",
        "        X509v3 extensions:",
        "            X509v3 Basic Constraints: critical",
        "                CA:TRUE",
        "",
    ]
    return "\n".join(lines).encode() + pem(cert)


# --- pip config files -----------------------------------------------------------------------

INDEX = "https://pypi.corp.example/simple"


def _long_line() -> bytes:
    mirrors = " ".join(f"https://mirror{n:03d}.corp.example/simple" for n in range(400))
    return f"[global]\ntimeout = 60\nextra-index-url = {mirrors}\n\n[install]\nuser = no\n".encode()


PIP_FILES: dict[str, bytes] = {
    "crlf.conf": crlf(
        f"; pip settings, saved by Notepad\n[global]\nindex-url = {INDEX}\ntimeout = 60\n\n"
        "[install]\nno-compile = yes\n".encode()
    ),
    "bom.conf": BOM + crlf(f"[global]\nindex-url = {INDEX}\ntimeout = 60\n".encode()),
    "mixed-endings.conf": (
        f"[global]\r\nindex-url = {INDEX}\r\ntimeout = 60\n\n# added from WSL with nano\n"
        "[install]\nuser = no\r\n".encode()
    ),
    "tabs.conf": (
        b"[global]\n"
        b"extra-index-url =\thttps://a.corp.example/simple\n"
        b"\thttps://b.corp.example/simple\n"
        b"\t\thttps://c.corp.example/simple\n"
        b"timeout\t=\t60\n"
        b"\n[install]\n\tuser = no\n"
    ),
    "duplicate-section.conf": (
        f"[global]\ntimeout = 60\n\n[global]\nindex-url = {INDEX}\n".encode()
    ),
    "duplicate-key.conf": (
        f"[global]\nindex-url = {INDEX}\ntimeout = 60\nindex-url = {INDEX}\n".encode()
    ),
    "duplicate-key-spellings.conf": (
        f"[global]\nindex_url = {INDEX}\nindex-url = https://other.corp.example/simple\n".encode()
    ),
    "percent.conf": (
        b"# 100% of our traffic goes through the proxy\n"
        b"[global]\n"
        b"index-url = https://ana:p%40ss%25w0rd@pypi.corp.example/simple\n"
        b"proxy = http://CORP%5Cana:s3cr%21t@proxy.corp.example:3128\n"
        b"log = /var/log/pip/%(user)s-%%.log\n"
    ),
    "continuation.conf": (
        b"[global]\n"
        b"extra-index-url =\n"
        b"    https://pypi.corp.example/simple\n"
        b"    https://mirror.corp.example/simple\n"
        b"find-links =\n"
        b"    /srv/wheels\n"
        b"\n"
        b"    /opt/wheels\n"
        b"# the value above has a blank line inside it\n"
        b"timeout = 60\n"
        b"\n"
        b"[install]\n"
        b"no-binary =\n"
        b"    lxml\n"
        b"    psycopg2\n"
    ),
    "long-line.conf": _long_line(),
}


def certificate_files(roots: dict[str, x509.Certificate]) -> dict[str, bytes]:
    alpha, beta, wide = roots["alpha"], roots["beta"], roots["wide"]
    return {
        "crlf.pem": crlf(pem(alpha) + pem(beta)),
        "bom.pem": BOM + pem(alpha),
        "bom-crlf.pem": BOM + crlf(pem(beta)),
        "mixed-endings.pem": crlf(pem(alpha)) + pem(beta),
        "showcerts.txt": showcerts(beta, alpha),
        "text-dump.crt": text_dump(wide),
        "one-line.pem": one_line_pem(wide) + pem(alpha),
        "truncated.pem": pem(beta) + pem(alpha)[:300],
    }


def generate(folder: Path) -> list[Path]:
    """Write every generated file under ``folder``; return their paths."""
    written: list[Path] = []

    def put(relative: str, data: bytes) -> None:
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)

    roots = {stem: make_root(stem) for stem in ROOTS}
    for stem, cert in roots.items():
        put(f"roots/{stem}.pem", pem(cert))
    for name, data in certificate_files(roots).items():
        put(f"certs/{name}", data)
    for name, data in PIP_FILES.items():
        put(f"pip/{name}", data)
    return written


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else HERE
    for path in generate(folder):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
