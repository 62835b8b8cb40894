"""Certificates made on the spot for tests: roots, intermediates, leaves and odd cases.

Every test makes the certificates it needs, so no test depends on a date or on the machine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.timezone.utc)
DAY = dt.timedelta(days=1)

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CODE_SIGNING = ExtendedKeyUsageOID.CODE_SIGNING
EMAIL = ExtendedKeyUsageOID.EMAIL_PROTECTION


def name(common_name: str, organization: str | None = "build-ca-bundle tests") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


@dataclass(eq=False)  # identity: usable as a dict key
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    parent: Issued | None = field(default=None, repr=False)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def hash_name(self) -> str:
        """OpenSSL's subject hash: the name a hashed folder files it under (``<hash>.0``).
        Checked against ``openssl x509 -hash`` in test_x509der."""
        from build_ca_bundle import x509der

        return x509der.subject_hash(self.cert.subject.public_bytes())

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def chain_pem(self) -> bytes:
        """This certificate and its issuers up to (not including) the root."""
        parts = [self.pem]
        parent = self.parent
        while parent is not None and parent.parent is not None:
            parts.append(parent.pem)
            parent = parent.parent
        return b"".join(parts)

    def write(self, path: Path, *, pem: bool = True) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.pem if pem else self.der)
        return path

    def write_server_files(self, folder: Path) -> tuple[Path, Path]:
        """Write chain and key files for an ``ssl`` server or mitmproxy."""
        folder.mkdir(parents=True, exist_ok=True)
        chain = folder / "chain.pem"
        key = folder / "key.pem"
        chain.write_bytes(self.chain_pem())
        key.write_bytes(self.key_pem)
        return chain, key

    def issue(
        self,
        common_name: str,
        *,
        ca: bool = False,
        hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        eku: list[x509.ObjectIdentifier] | None = None,
    ) -> Issued:
        """Issue an intermediate CA (``ca=True``) or a TLS server leaf for ``hosts``."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _base(name(common_name), self.cert.subject, key, not_before, not_after)
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=None), critical=True
        )
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
            critical=False,
        )
        if ca:
            builder = builder.add_extension(_ca_usage(), critical=True)
        else:
            sans: list[x509.GeneralName] = []
            for host in hosts:
                if host.replace(".", "").isdigit() or ":" in host:
                    import ipaddress

                    sans.append(x509.IPAddress(ipaddress.ip_address(host)))
                else:
                    sans.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(eku or [SERVER_AUTH]), critical=False
            )
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(cert, key, parent=self)


def _base(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    not_before: dt.datetime | None,
    not_after: dt.datetime | None,
    *,
    key_identifier: bool = True,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 3650 * DAY)
    )
    if not key_identifier:
        return builder
    identifier = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return builder.add_extension(identifier, critical=False)


_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def key_usage(*enabled: str) -> x509.KeyUsage:
    """A keyUsage extension with just the named usages, e.g. ``key_usage("key_cert_sign")``."""
    unknown = set(enabled) - set(_KEY_USAGES)
    if unknown:
        raise ValueError(f"unknown key usages: {sorted(unknown)}")
    return x509.KeyUsage(**{name: name in enabled for name in _KEY_USAGES})


def _ca_usage() -> x509.KeyUsage:
    return key_usage("digital_signature", "key_cert_sign", "crl_sign")


def make_root(
    common_name: str = "Test Corporate Root CA",
    *,
    organization: str | None = "build-ca-bundle tests",
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    basic_constraints: bool | None = True,
    basic_constraints_critical: bool = True,
    key_usage: bool = True,
    key_identifier: bool = True,
    eku: list[x509.ObjectIdentifier] | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> Issued:
    """A self-signed root.

    ``basic_constraints``: True (cA=TRUE), False (cA=FALSE: a self-signed leaf) or None (absent).
    ``key_identifier``: False leaves out the subjectKeyIdentifier.
    ``key``: another root's, for a renewal that keeps the key.
    """
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = name(common_name, organization)
    builder = _base(subject, subject, key, not_before, not_after, key_identifier=key_identifier)
    if basic_constraints is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=basic_constraints, path_length=None),
            critical=basic_constraints_critical,
        )
    if key_usage:
        builder = builder.add_extension(_ca_usage(), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return Issued(cert, key)


def make_expired_root(common_name: str = "Expired Test Root") -> Issued:
    return make_root(common_name, not_before=NOW - 800 * DAY, not_after=NOW - 400 * DAY)


# --- hand-built DER: cases the builder cannot make ------------------------------------


def _tlv(tag: int, body: bytes) -> bytes:
    length = len(body)
    if length < 0x80:
        encoded = bytes([length])
    else:
        raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
        encoded = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + encoded + body


def _elements(body: bytes) -> list[bytes]:
    """Split DER content into its top-level elements (each with tag and length)."""
    items = []
    offset = 0
    while offset < len(body):
        length = body[offset + 1]
        start = offset + 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(body[start : start + count], "big")
            start += count
        items.append(body[offset : start + length])
        offset = start + length
    return items


def make_v1_root(common_name: str = "Old v1 Root") -> Issued:
    """A version 1 self-signed root: no version field, no extensions (like old roots)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name(common_name)
    template = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 3650 * DAY)
        .sign(key, hashes.SHA256())
    )
    tbs_items = _elements(_strip(template.tbs_certificate_bytes))
    # Drop [0] version; a certificate without extensions has no [3] either.
    tbs_items = [item for item in tbs_items if item[0] not in (0xA0, 0xA3)]
    tbs = _tlv(0x30, b"".join(tbs_items))
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    outer = _elements(_strip(template.public_bytes(serialization.Encoding.DER)))
    algorithm = outer[1]
    der = _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))
    return Issued(x509.load_der_x509_certificate(der), key)


def with_version(issued: Issued, version: int) -> bytes:
    """``issued``'s own root, re-signed with an explicit version field of ``version`` (0-based,
    so 1 is a v2 certificate, 0 a v1 that writes its default out). OpenSSL loads both;
    cryptography refuses both (InvalidVersion, EncodedDefault), so this is DER only."""
    tbs_items = _elements(_strip(issued.cert.tbs_certificate_bytes))
    tbs_items[0] = _tlv(0xA0, _tlv(0x02, bytes([version])))
    tbs = _tlv(0x30, b"".join(tbs_items))
    assert isinstance(issued.key, ec.EllipticCurvePrivateKey)
    signature = issued.key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    outer = _elements(_strip(issued.der))
    return _tlv(0x30, tbs + outer[1] + _tlv(0x03, b"\x00" + signature))


def with_tbs_bytes(issued: Issued, old: bytes, new: bytes) -> bytes:
    """``issued``'s own root with ``old`` replaced once by ``new`` (of the same length) in its
    to-be-signed part, signed again: encodings cryptography's builder never writes."""
    assert len(old) == len(new)
    tbs = issued.cert.tbs_certificate_bytes
    assert tbs.count(old) == 1, old
    tbs = tbs.replace(old, new)
    assert isinstance(issued.key, ec.EllipticCurvePrivateKey)
    signature = issued.key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    outer = _elements(_strip(issued.der))
    return _tlv(0x30, tbs + outer[1] + _tlv(0x03, b"\x00" + signature))


# sha1WithRSAEncryption (1.2.840.113549.1.1.5) with its NULL parameters.
_SHA1_WITH_RSA = bytes.fromhex("300d06092a864886f70d0101050500")


def make_sha1_root(
    common_name: str = "Old SHA-1 Root",
    *,
    signer: Issued | None = None,
    issuer: x509.Name | None = None,
) -> Issued:
    """An RSA CA certificate self-signed with SHA-1, as DigiCert Global Root CA, GlobalSign
    Root CA and many corporate roots from before 2017 are (cryptography's builder refuses
    SHA-1, so the signature is made by hand). ``signer``: sign with that RSA key instead;
    ``issuer``: the issuer name (default: its own subject)."""
    from cryptography.hazmat.primitives.asymmetric import padding

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = name(common_name)
    template = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 3650 * DAY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .sign(key, hashes.SHA256())
    )
    tbs_items = _elements(_strip(template.tbs_certificate_bytes))
    tbs_items[2] = _SHA1_WITH_RSA  # after [0] version and the serial: the signature algorithm
    tbs = _tlv(0x30, b"".join(tbs_items))
    signing_key = key if signer is None else signer.key
    if not isinstance(signing_key, rsa.RSAPrivateKey):
        raise TypeError("a SHA-1 root is signed with an RSA key")
    signature = signing_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 (the point)
    der = _tlv(0x30, tbs + _SHA1_WITH_RSA + _tlv(0x03, b"\x00" + signature))
    return Issued(x509.load_der_x509_certificate(der), key)


def _strip(element: bytes) -> bytes:
    """The content of one DER element."""
    length = element[1]
    start = 2
    if length & 0x80:
        start += length & 0x7F
    return element[start:]


def trusted_certificate(
    issued: Issued | bytes,
    *,
    trust: list[str] | None = None,
    reject: list[str] | None = None,
    alias: str | None = None,
) -> bytes:
    """PEM ``TRUSTED CERTIFICATE`` in OpenSSL's aux format, as p11-kit and ``openssl x509
    -addtrust`` write it (of an issued certificate, or of DER bytes)."""
    import base64

    aux = b""
    if trust is not None:
        aux += _tlv(0x30, b"".join(_oid(value) for value in trust))
    if reject is not None:
        aux += _tlv(0xA0, b"".join(_oid(value) for value in reject))
    if alias is not None:
        aux += _tlv(0x0C, alias.encode())
    blob = (issued if isinstance(issued, bytes) else issued.der) + _tlv(0x30, aux)
    text = base64.encodebytes(blob).replace(b"\n", b"")
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return (
        b"-----BEGIN TRUSTED CERTIFICATE-----\n"
        + b"\n".join(lines)
        + b"\n-----END TRUSTED CERTIFICATE-----\n"
    )


def _oid(dotted: str) -> bytes:
    arcs = [int(part) for part in dotted.split(".")]
    body = bytes([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body += bytes(reversed(chunk))
    return _tlv(0x06, body)


def refused_by_openssl(issued: Issued) -> bytes:
    """The certificate with its signature's unused-bits byte set to 8: every field the bundle
    reads is intact, but OpenSSL refuses to load it (c2i_ASN1_BIT_STRING)."""
    tbs, algorithm, signature = _elements(_strip(issued.der))
    return _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x08" + _strip(signature)[1:]))
