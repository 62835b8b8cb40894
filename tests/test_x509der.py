"""The standard-library DER reader against cryptography, field by field.

Every root this machine has and every root in certifi, plus made certificates with the odd
names and extensions real stores hold: the reader must agree with cryptography on each field
the bundle uses, and refuse what is not DER with a DERError, never another exception.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import ssl
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from build_ca_bundle import x509der
from build_ca_bundle.certificates import _is_ca, parse_der, parse_pem
from tests.pki import DAY, NOW, _elements, _strip, _tlv, key_usage, make_root, make_v1_root


def _system_and_certifi_roots() -> Iterator[bytes]:
    paths = [Path(certifi.where()), *sorted(Path("/etc/ssl/certs").glob("*.pem"))]
    seen = set()
    for path in paths:
        parsed, _ = parse_pem(path.read_bytes(), str(path))
        for item in parsed:
            if item.certificate.sha256 not in seen:
                seen.add(item.certificate.sha256)
                yield item.certificate.der


def _cryptography(der: bytes) -> x509.Certificate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(der)


def _expected_is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        pass
    if cert.subject != cert.issuer:
        return False
    try:
        return bool(cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign)
    except x509.ExtensionNotFound:
        return True


def _assert_same(der: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        _compare(der)


def _compare(der: bytes) -> None:
    theirs = _cryptography(der)
    ours = parse_der(der)
    assert ours.serial_number == theirs.serial_number
    assert ours.not_before == theirs.not_valid_before_utc
    assert ours.not_after == theirs.not_valid_after_utc
    assert ours.version == theirs.version.value + 1
    assert ours.subject == theirs.subject.rfc4514_string()
    assert ours.issuer == theirs.issuer.rfc4514_string()
    assert ours.fields.subject_der == theirs.subject.public_bytes()
    assert ours.fields.issuer_der == theirs.issuer.public_bytes()
    spki = theirs.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert ours.spki_sha256 == hashlib.sha256(spki).hexdigest()
    assert ours.is_ca == _expected_is_ca(theirs)
    try:
        eku = theirs.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ours.extended_key_usage == frozenset(oid.dotted_string for oid in eku)
    except x509.ExtensionNotFound:
        assert ours.extended_key_usage is None
    assert set(ours.fields.extensions) == {e.oid.dotted_string for e in theirs.extensions}


def test_every_root_on_this_machine_and_in_certifi_reads_as_cryptography_reads_it() -> None:
    roots = list(_system_and_certifi_roots())
    assert len(roots) > 100  # certifi alone has over 100
    for der in roots:
        _assert_same(der)


def _build(
    subject: x509.Name,
    *,
    extensions: list[tuple[x509.ExtensionType, bool]] = (),  # type: ignore[assignment]
    serial: int = 4242,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 365 * DAY)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


ODD_NAMES = {
    "escaped characters": x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, ' #Root, "A+B"; <x> \\ '),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ünïcödé Ltd. 株式会社"),
        ]
    ),
    "multi-valued RDN and unknown OIDs": x509.Name(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, "Multi"),
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, "12345"),
                ]
            ),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.EMAIL_ADDRESS, "pki@example.com")]
            ),
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "corp")]),
        ]
    ),
    "BMPString and UniversalString": x509.Name(
        [
            x509.NameAttribute(
                NameOID.COMMON_NAME, "Wide Root \u00e9", _type=x509.name._ASN1Type.BMPString
            ),
            x509.NameAttribute(
                NameOID.ORGANIZATION_NAME,
                "Universal \U0001f512",
                _type=x509.name._ASN1Type.UniversalString,
            ),
        ]
    ),
    "a bit string value": x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Unique"),
            x509.NameAttribute(
                NameOID.X500_UNIQUE_IDENTIFIER, b"\x00\x01\x02", _type=x509.name._ASN1Type.BitString
            ),
        ]
    ),
}


@pytest.mark.parametrize("case", sorted(ODD_NAMES))
def test_odd_names_read_as_cryptography_reads_them(case: str) -> None:
    _assert_same(_build(ODD_NAMES[case]))


EXTENSIONS: dict[str, list[tuple[x509.ExtensionType, bool]]] = {
    "cA false": [(x509.BasicConstraints(ca=False, path_length=None), True)],
    "cA with a path length": [(x509.BasicConstraints(ca=True, path_length=2), False)],
    "keyUsage without certificate signing": [
        (key_usage("digital_signature", "key_encipherment"), True)
    ],
    "keyUsage with only certificate signing": [(key_usage("key_cert_sign"), True)],
    "extendedKeyUsage": [
        (
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CODE_SIGNING]
            ),
            False,
        )
    ],
    "subject key identifier only": [
        (x509.SubjectKeyIdentifier(b"\x01" * 20), False),
    ],
}


@pytest.mark.parametrize("case", sorted(EXTENSIONS))
def test_extensions_read_as_cryptography_reads_them(case: str) -> None:
    _assert_same(_build(x509.Name([]), extensions=EXTENSIONS[case]))


def test_negative_serial_dates_before_2050_and_after_and_v1() -> None:
    negative = _with_tbs_item(_build(x509.Name([])), 1, b"\x02\x01\xfb")  # real roots have these
    _assert_same(negative)
    assert parse_der(negative).serial_number == -5
    _assert_same(
        _build(
            x509.Name([]),
            not_before=dt.datetime(1999, 1, 1, tzinfo=dt.timezone.utc),  # UTCTime 99
            not_after=dt.datetime(2051, 6, 1, 12, 30, 5, tzinfo=dt.timezone.utc),  # Generalized
        )
    )
    _assert_same(make_v1_root().der)


def test_an_rsa_root_reads_too() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "RSA Root")])
    der = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )
    _assert_same(der)


def _with_tbs_item(der: bytes, index: int, replacement: bytes) -> bytes:
    outer = _elements(_strip(der))
    tbs_items = _elements(_strip(outer[0]))
    tbs_items[index] = replacement
    return _tlv(0x30, _tlv(0x30, b"".join(tbs_items)) + outer[1] + outer[2])


BROKEN = {
    "empty": b"",
    "not a sequence": b"\x02\x01\x00",
    "indefinite length": b"\x30\x80\x00\x00",
    "non-minimal length": b"\x30\x81\x05" + b"\x00" * 5,
    "trailing data": make_root().der + b"\x00",
    "truncated": make_root().der[:-10],
    "bad time": _with_tbs_item(make_root().der, 4, _tlv(0x30, _tlv(0x17, b"99AB01000000Z") * 2)),
    "local time": _with_tbs_item(make_root().der, 4, _tlv(0x30, _tlv(0x17, b"990101000000") * 2)),
    "empty serial": _with_tbs_item(make_root().der, 1, b"\x02\x00"),
    # What OpenSSL refuses to load, so a bundle holding it would break pip: refused here,
    # so the certificate is skipped with a problem instead.
    "padded serial": _with_tbs_item(make_root().der, 1, b"\x02\x02\x00\x01"),
    "public key without algorithm": _with_tbs_item(make_root().der, 6, _tlv(0x30, b"\x02\x01\x00")),
    "invalid UTF-8 in a name": _with_tbs_item(
        make_root().der,
        5,
        _tlv(0x30, _tlv(0x31, _tlv(0x30, _tlv(0x06, b"\x55\x04\x03") + _tlv(0x0C, b"\xff")))),
    ),
    "odd-length BMPString in a name": _with_tbs_item(
        make_root().der,
        5,
        _tlv(0x30, _tlv(0x31, _tlv(0x30, _tlv(0x06, b"\x55\x04\x03") + _tlv(0x1E, b"\x00A\x00")))),
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_what_is_not_der_is_refused_with_a_reason(case: str) -> None:
    with pytest.raises(x509der.DERError):
        x509der.read(BROKEN[case])
    with pytest.raises(ValueError, match=r"not a valid X\.509 certificate"):
        parse_der(BROKEN[case])


def test_a_duplicate_extension_is_refused() -> None:
    der = make_root().der
    outer = _elements(_strip(der))
    tbs_items = _elements(_strip(outer[0]))
    extensions = _elements(_strip(_strip(tbs_items[-1])))
    doubled = _tlv(0xA3, _tlv(0x30, b"".join(extensions + extensions[:1])))
    with pytest.raises(x509der.DERError, match="duplicate extension"):
        x509der.read(_with_tbs_item(der, len(tbs_items) - 1, doubled))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_certificates_give_a_derror_or_agree_with_cryptography(data: st.DataObject) -> None:
    der = bytearray(_SEED)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(der) - 1))
        der[position] = data.draw(st.integers(0, 255))
    try:
        fields = x509der.read(bytes(der))
        _is_ca(fields)
    except x509der.DERError:
        return
    # What we accept, cryptography parses to the same serial and validity (or rejects too).
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            theirs = _cryptography(bytes(der))
            serial, after = theirs.serial_number, theirs.not_valid_after_utc
    except Exception:  # ValueError, InvalidVersion: cryptography refuses it
        return
    assert (fields.serial_number, fields.not_after) == (serial, after)


_SEED = make_root("Mutation Seed").der


@pytest.mark.parametrize(
    "case",
    [
        "padded serial",
        "public key without algorithm",
        "invalid UTF-8 in a name",
        "odd-length BMPString in a name",
    ],
)
def test_what_the_reader_refuses_beyond_the_structure_openssl_refuses_too(case: str) -> None:
    """Strict where OpenSSL is: such a certificate in a bundle would make it fail to load."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with pytest.raises(ssl.SSLError):
        context.load_verify_locations(cadata=BROKEN[case])


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_subject_hash_is_openssls_for_every_root_here_and_the_odd_names() -> None:
    """The name a hashed folder files a root under: `openssl x509 -hash` is the oracle, over
    the machine's and certifi's roots and names with case, spaces and wide strings."""
    made = [_build(name) for name in ODD_NAMES.values()]
    made.append(
        _build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "  Mixed   CASE  Root ")]))
    )
    for der in [*_system_and_certifi_roots(), *made]:
        pem = ssl.DER_cert_to_PEM_cert(der).encode()
        theirs = (
            subprocess.run(
                ["openssl", "x509", "-noout", "-hash"], input=pem, capture_output=True, check=True
            )
            .stdout.decode()
            .strip()
        )
        assert x509der.subject_hash(x509der.read(der).subject_der) == theirs
