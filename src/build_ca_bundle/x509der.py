"""The fields of an X.509 certificate that a bundle needs, read straight from its DER.

Standard library only. Importing ``cryptography`` costs more than a whole run of p11-kit's
``trust extract`` (issue 7), and a bundle needs only a few fields: serial, validity, names,
basicConstraints, keyUsage, extendedKeyUsage, and the raw issuer, subject and public key.
What needs real cryptography (signatures, key details) stays with ``cryptography``, imported
on first use (:attr:`build_ca_bundle.certificates.Certificate.x509`).

The reader is strict DER, as cryptography's is: definite minimal lengths, no trailing bytes,
each field where RFC 5280 puts it, no duplicate extension. One exception follows OpenSSL,
which decides what the OS trusts: a BOOLEAN is TRUE for any non-zero byte (older CA software
wrote 0x01; OpenSSL trusts such a root, cryptography refuses it). Whatever it accepts must still
load in OpenSSL before a bundle is replaced (:mod:`build_ca_bundle.bundle`), and a test
compares every field with cryptography's over every root on the machine and certifi's.
"""

from __future__ import annotations

import datetime as dt
import functools

from build_ca_bundle.values import Value

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import Final

BASIC_CONSTRAINTS = "2.5.29.19"
KEY_USAGE = "2.5.29.15"
EXTENDED_KEY_USAGE = "2.5.29.37"
SUBJECT_KEY_IDENTIFIER = "2.5.29.14"

# RFC 4514 short names, exactly the ones cryptography's Name.rfc4514_string() uses.
_SHORT_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}

_SEQUENCE, _SET, _INTEGER, _BOOLEAN, _BIT_STRING, _OCTET_STRING, _OID = (
    0x30,
    0x31,
    0x02,
    0x01,
    0x03,
    0x04,
    0x06,
)
_UTC_TIME, _GENERALIZED_TIME = 0x17, 0x18
_UTF8_STRING, _BMP_STRING, _UNIVERSAL_STRING = 0x0C, 0x1E, 0x1C

# A name as its attributes: RDNs in DER order, each a tuple of (dotted OID, value). Values
# are text, or bytes for a BIT STRING (cryptography's convention).
Attribute = tuple[str, "str | bytes"]
Name = tuple[tuple[Attribute, ...], ...]


ANY_TAG = -1  # read_tlv: any tag will do


class DERError(ValueError):
    """Not the DER of an X.509 certificate; the message says where it went wrong."""


class Extension(Value):
    __slots__ = ("critical", "value")
    critical: Final[bool]
    value: Final[bytes]  # the extnValue OCTET STRING's content: the extension's own DER

    def __init__(self, critical: bool, value: bytes) -> None:
        self.critical = critical
        self.value = value


class Fields(Value):
    """What :func:`read` found; ``*_der`` are complete DER elements, tag and length included."""

    __slots__ = (
        "version",
        "serial_number",
        "issuer_der",
        "subject_der",
        "issuer",
        "subject",
        "spki_der",
        "not_before",
        "not_after",
        "extensions",
    )
    version: Final[int]  # 1, 2 or 3
    serial_number: Final[int]
    issuer_der: Final[bytes]
    subject_der: Final[bytes]
    issuer: Final[Name]
    subject: Final[Name]
    spki_der: Final[bytes]
    not_before: Final[dt.datetime]
    not_after: Final[dt.datetime]
    extensions: Final[dict[str, Extension]]

    def __init__(
        self,
        *,
        version: int,
        serial_number: int,
        issuer_der: bytes,
        subject_der: bytes,
        issuer: Name,
        subject: Name,
        spki_der: bytes,
        not_before: dt.datetime,
        not_after: dt.datetime,
        extensions: dict[str, Extension],
    ) -> None:
        self.version = version
        self.serial_number = serial_number
        self.issuer_der = issuer_der
        self.subject_der = subject_der
        self.issuer = issuer
        self.subject = subject
        self.spki_der = spki_der
        self.not_before = not_before
        self.not_after = not_after
        self.extensions = extensions


def read_tlv(
    data: bytes, offset: int, end_of_data: int, tag: int = ANY_TAG, what: str = ""
) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``offset``, which ends by
    ``end_of_data``; with ``tag``, it must have that tag, or the error says ``expected
    <what>``. One function for both: it runs some 30 times a certificate, and a wrapper's
    extra call was a tenth of reading a store of thousands of roots."""
    if offset + 2 > end_of_data:
        raise DERError("truncated DER")
    found = data[offset]
    if found != tag:  # a tag we ask for is never a multi-byte one
        if tag != ANY_TAG:
            raise DERError(f"expected {what}")
        if found & 0x1F == 0x1F:
            raise DERError("multi-byte DER tag")
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise DERError("indefinite length (BER, not DER)")
        if count > 4 or start + count > end_of_data:
            raise DERError("bad DER length")
        if data[start] == 0:
            raise DERError("non-minimal DER length")
        length = int.from_bytes(data[start : start + count], "big")
        if length < 0x80:
            raise DERError("non-minimal DER length")
        start += count
    end = start + length
    if end > end_of_data:
        raise DERError("truncated DER")
    return found, start, end


@functools.lru_cache(maxsize=1024)  # the same few dozen OIDs fill every certificate
def decode_oid(body: bytes) -> str:
    if not body or body[-1] & 0x80:
        raise DERError("bad OID")
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def oid_list(data: bytes, start: int, end: int) -> frozenset[str]:
    """The OIDs of a SEQUENCE OF OBJECT IDENTIFIER's content."""
    oids = set()
    offset = start
    while offset < end:
        _, body_start, body_end = read_tlv(data, offset, end, _OID, "an OID")
        oids.add(decode_oid(data[body_start:body_end]))
        offset = body_end
    return frozenset(oids)


def read(der: bytes) -> Fields:
    """Read a certificate's DER. Raises :class:`DERError`."""
    _, cert_start, cert_end = read_tlv(der, 0, len(der), _SEQUENCE, "a certificate SEQUENCE")
    if cert_end != len(der):
        raise DERError("data after the certificate")
    _, tbs_start, tbs_end = read_tlv(der, cert_start, cert_end, _SEQUENCE, "tbsCertificate")
    _, algorithm_start, algorithm_end = read_tlv(der, tbs_end, cert_end, _SEQUENCE, "an algorithm")
    del algorithm_start
    _, _, signature_end = read_tlv(der, algorithm_end, cert_end, _BIT_STRING, "a signature")
    if signature_end != cert_end:
        raise DERError("data after the signature")
    return _read_tbs(der, tbs_start, tbs_end)


def _read_tbs(der: bytes, offset: int, end: int) -> Fields:
    version = 1
    tag, start, stop = read_tlv(der, offset, end)
    if tag == 0xA0:  # [0] EXPLICIT Version DEFAULT v1
        _, number_start, number_end = read_tlv(der, start, stop, _INTEGER, "the version")
        if number_end != stop:
            raise DERError("bad version")
        version = int.from_bytes(der[number_start:number_end], "big", signed=True) + 1
        if version not in (1, 2, 3):
            raise DERError(f"unknown certificate version {version}")
        offset = stop
    _, start, stop = read_tlv(der, offset, end, _INTEGER, "the serial number")
    serial = _integer(der[start:stop], "serial number")
    offset = _algorithm(der, stop, end, "the signature algorithm")
    issuer = _element(der, offset, end, _SEQUENCE, "the issuer")
    offset += len(issuer)
    _, validity_start, validity_end = read_tlv(der, offset, end, _SEQUENCE, "the validity")
    not_before, next_time = _read_time(der, validity_start, validity_end)
    not_after, last = _read_time(der, next_time, validity_end)
    if last != validity_end:
        raise DERError("bad validity")
    offset = validity_end
    subject = _element(der, offset, end, _SEQUENCE, "the subject")
    offset += len(subject)
    spki = _element(der, offset, end, _SEQUENCE, "the public key")
    _check_spki(spki)
    offset += len(spki)
    extensions: dict[str, Extension] = {}
    for optional in (0x81, 0x82, 0xA3):  # issuerUniqueID, subjectUniqueID, extensions
        if offset < end and der[offset] == optional:
            tag, start, stop = read_tlv(der, offset, end)
            if tag == 0xA3:
                extensions = _read_extensions(der, start, stop)
            offset = stop
    if offset != end:
        raise DERError("unexpected data in tbsCertificate")
    return Fields(
        version=version,
        serial_number=serial,
        issuer_der=issuer,
        subject_der=subject,
        issuer=_read_name(issuer),  # a name that does not parse is a broken certificate
        subject=_read_name(subject),
        spki_der=spki,
        not_before=not_before,
        not_after=not_after,
        extensions=extensions,
    )


def _integer(body: bytes, what: str) -> int:
    """A DER INTEGER's value; OpenSSL and cryptography refuse padded encodings, so do we."""
    if not body:
        raise DERError(f"empty {what}")
    if len(body) > 1 and (body[0], body[1] & 0x80) in ((0x00, 0), (0xFF, 0x80)):
        raise DERError(f"{what} is not minimally encoded")
    return int.from_bytes(body, "big", signed=True)


def _algorithm(der: bytes, offset: int, end: int, what: str) -> int:
    """Check an AlgorithmIdentifier (SEQUENCE of an OID and optional parameters); its end."""
    _, start, stop = read_tlv(der, offset, end, _SEQUENCE, what)
    _, _, oid_end = read_tlv(der, start, stop, _OID, what)
    if oid_end < stop:
        _, _, parameters_end = read_tlv(der, oid_end, stop)
        if parameters_end != stop:
            raise DERError(f"bad {what}")
    return stop


def _check_spki(spki: bytes) -> None:
    """SubjectPublicKeyInfo: an AlgorithmIdentifier and a BIT STRING, nothing else. The key
    itself is not decoded (OpenSSL loads certificates whose key it cannot use)."""
    _, start, end = read_tlv(spki, 0, len(spki), _SEQUENCE, "the public key")
    key_start = _algorithm(spki, start, end, "the public key algorithm")
    _, bits_start, bits_end = read_tlv(spki, key_start, end, _BIT_STRING, "the public key")
    if bits_end != end or bits_start == bits_end or spki[bits_start] > 7:
        raise DERError("bad public key")


def _element(der: bytes, offset: int, end: int, tag: int, what: str) -> bytes:
    _, _, stop = read_tlv(der, offset, end, tag, what)
    return der[offset:stop]


def _read_time(der: bytes, offset: int, end: int) -> tuple[dt.datetime, int]:
    tag, start, stop = read_tlv(der, offset, end)
    text = der[start:stop]
    if tag == _UTC_TIME and len(text) == 13:
        year_digits = 2
    elif tag == _GENERALIZED_TIME and len(text) == 15:
        year_digits = 4
    else:
        raise DERError("bad time in validity")
    if not text[:year_digits].isdigit():
        raise DERError("bad time in validity")
    if not text.endswith(b"Z"):
        raise DERError("validity time is not UTC")
    if not text[:-1].isdigit():  # ASCII digits only: int() alone would take "+", "_", spaces
        raise DERError("bad time in validity")
    # One conversion, then arithmetic: twice as fast as a slice and an int() for each field.
    year, rest = divmod(int(text[:-1]), 10**10)
    if year_digits == 2:
        year += 2000 if year < 50 else 1900  # RFC 5280 4.1.2.5.1
    month, rest = divmod(rest, 10**8)
    day, rest = divmod(rest, 10**6)
    hour, rest = divmod(rest, 10**4)
    minute, second = divmod(rest, 100)
    try:
        moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.timezone.utc)
    except ValueError as exc:
        raise DERError(f"bad time in validity ({exc})") from exc
    return moment, stop


def _read_extensions(der: bytes, offset: int, end: int) -> dict[str, Extension]:
    _, start, stop = read_tlv(der, offset, end, _SEQUENCE, "the extensions")
    if stop != end:
        raise DERError("data after the extensions")
    found: dict[str, Extension] = {}
    while start < stop:
        _, item_start, item_end = read_tlv(der, start, stop, _SEQUENCE, "an extension")
        _, oid_start, oid_end = read_tlv(der, item_start, item_end, _OID, "an extension OID")
        oid = decode_oid(der[oid_start:oid_end])
        critical = False
        tag, value_start, value_end = read_tlv(der, oid_end, item_end)
        if tag == _BOOLEAN:
            critical = _boolean(der[value_start:value_end])
            tag, value_start, value_end = read_tlv(der, value_end, item_end)
        if tag != _OCTET_STRING or value_end != item_end:
            raise DERError(f"bad extension {oid}")
        if oid in found:
            raise DERError(f"duplicate extension {oid}")
        found[oid] = Extension(critical, der[value_start:value_end])
        start = item_end
    return found


def _boolean(body: bytes) -> bool:
    """One byte, TRUE if not zero: OpenSSL's rule (asn1_ex_c2i), not DER's 0xFF. Older CA
    software wrote cA TRUE as 0x01, and OpenSSL trusts such a root (audit h42)."""
    if len(body) != 1:
        raise DERError("bad BOOLEAN")
    return body != b"\x00"


def basic_constraints_ca(value: bytes) -> bool:
    """The cA flag of a basicConstraints extension value."""
    _, start, end = read_tlv(value, 0, len(value), _SEQUENCE, "basicConstraints")
    if end != len(value):
        raise DERError("bad basicConstraints")
    if start < end and value[start] == _BOOLEAN:
        _, flag_start, flag_end = read_tlv(value, start, end, _BOOLEAN, "cA")
        return _boolean(value[flag_start:flag_end])
    return False


def key_cert_sign(value: bytes) -> bool:
    """Whether a keyUsage extension value allows signing certificates (bit 5)."""
    _, start, end = read_tlv(value, 0, len(value), _BIT_STRING, "keyUsage")
    if end != len(value) or start == end or value[start] > 7:
        raise DERError("bad keyUsage")
    return end - start > 1 and bool(value[start + 1] & 0x04)


def extended_key_usage(value: bytes) -> frozenset[str]:
    _, start, end = read_tlv(value, 0, len(value), _SEQUENCE, "extendedKeyUsage")
    if end != len(value):
        raise DERError("bad extendedKeyUsage")
    return oid_list(value, start, end)


# --- names -------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # a root's issuer is its subject
def _read_name(name_der: bytes) -> Name:
    """The RDNs of a Name element, in DER order."""
    _, start, end = read_tlv(name_der, 0, len(name_der), _SEQUENCE, "a name")
    rdns = []
    while start < end:
        _, set_start, set_end = read_tlv(name_der, start, end, _SET, "a name's RDN")
        attributes = []
        offset = set_start
        while offset < set_end:
            _, pair_start, pair_end = read_tlv(name_der, offset, set_end, _SEQUENCE, "an attribute")
            _, oid_start, oid_end = read_tlv(name_der, pair_start, pair_end, _OID, "an attribute")
            tag, value_start, value_end = read_tlv(name_der, oid_end, pair_end)
            if value_end != pair_end:
                raise DERError("bad name attribute")
            value = _attribute_value(tag, name_der[value_start:value_end])
            attributes.append((decode_oid(name_der[oid_start:oid_end]), value))
            offset = pair_end
        if not attributes:
            raise DERError("empty RDN in a name")
        rdns.append(tuple(attributes))
        start = set_end
    return tuple(rdns)


# OpenSSL converts these to UTF-8 when it loads a certificate and refuses one that does not
# convert; the others it reads byte by byte (Latin-1), so any byte is loadable there.
_STRICT_STRINGS = {_UTF8_STRING: "utf-8", _BMP_STRING: "utf-16-be", _UNIVERSAL_STRING: "utf-32-be"}


def _attribute_value(tag: int, body: bytes) -> str | bytes:
    if tag == _BIT_STRING:
        return body
    encoding = _STRICT_STRINGS.get(tag)
    if encoding is not None:
        try:
            return body.decode(encoding)
        except UnicodeDecodeError as exc:
            raise DERError(f"a name holds invalid {encoding.upper()} text") from exc
    return body.decode("utf-8", "replace")  # shown as text only; OpenSSL takes any byte


def attribute_values(name: Name, oid: str) -> list[str | bytes]:
    return [value for rdn in name for found, value in rdn if found == oid]


def rfc4514(name: Name) -> str:
    """The name as cryptography's ``Name.rfc4514_string()`` writes it: RDNs reversed."""
    return ",".join(
        "+".join(f"{_SHORT_NAMES.get(oid, oid)}={_escape(value)}" for oid, value in rdn)
        for rdn in reversed(name)
    )


def _escape(value: str | bytes) -> str:
    """RFC 4514 escaping, character for character as cryptography's ``_escape_dn_value``,
    and hex escapes for what is not printable (where cryptography leaves it raw)."""
    if not value:
        return ""
    if isinstance(value, bytes):
        return "#" + value.hex()
    for char in '\\"+,;<>':
        value = value.replace(char, "\\" + char)
    value = value.replace("\0", "\\00")
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    if not value.isprintable():
        # A line break or an escape sequence in a name (a server's, a proxy's) would forge
        # lines or hide a fingerprint on the terminal: hex escapes, as RFC 4514 allows for
        # any character (cryptography leaves them raw; real names never hold them).
        value = "".join(
            char if char.isprintable() else "".join(f"\\{byte:02X}" for byte in char.encode())
            for char in value
        )
    return value


def visible(text: str) -> str:
    """``text`` with what a terminal would act on (line breaks, escape sequences, direction
    overrides) written as Python escapes: a certificate's name is anyone's to choose."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


# --- OpenSSL's subject hash (the name of a hashed folder's file) ---------------------------

# The string types OpenSSL canonicalizes (ASN1_MASK_CANON), and how each decodes.
_CANON_STRINGS = {
    _UTF8_STRING: "utf-8",
    _BMP_STRING: "utf-16-be",
    _UNIVERSAL_STRING: "utf-32-be",
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # T61String (OpenSSL reads it byte for byte)
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
}
_SPACE = b" \t\n\v\f\r"


def subject_hash(name_der: bytes) -> str:
    """``openssl x509 -hash``: the first four bytes of the SHA-1 of the name's canonical
    encoding (x509_name_canon), little-endian, as eight hex digits. OpenSSL looks a subject
    up in a hashed folder only under this name: a file under any other is never opened.

    The same walk as :func:`_read_name`, which checked this name already when the
    certificate was read. Not one shared walker: yielding each attribute's offsets cost
    _read_name, run for every root of every full run, 1-2 us a certificate (10-15%)."""
    import hashlib

    _, start, end = read_tlv(name_der, 0, len(name_der), _SEQUENCE, "a name")
    canonical = []
    while start < end:
        _, set_start, set_end = read_tlv(name_der, start, end, _SET, "a name's RDN")
        entries = []
        offset = set_start
        while offset < set_end:
            _, pair_start, pair_end = read_tlv(name_der, offset, set_end, _SEQUENCE, "an attribute")
            _, _, oid_end = read_tlv(name_der, pair_start, pair_end, _OID, "an attribute")
            tag, value_start, value_end = read_tlv(name_der, oid_end, pair_end)
            value = _canonical_value(tag, name_der[value_start:value_end])
            entries.append(_tlv(_SEQUENCE, name_der[pair_start:oid_end] + value))
            offset = pair_end
        canonical.append(_tlv(_SET, b"".join(sorted(entries))))
        start = set_end
    digest = hashlib.sha1(b"".join(canonical), usedforsecurity=False).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def _canonical_value(tag: int, body: bytes) -> bytes:
    """asn1_string_canon: as UTF-8, outer spaces gone, inner runs of them one space, ASCII
    lower-cased; a type outside the mask stays as it is."""
    encoding = _CANON_STRINGS.get(tag)
    if encoding is None:
        return _tlv(tag, body)
    try:
        text = body.decode(encoding).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise DERError("a name holds text OpenSSL cannot convert") from exc
    words = [word for word in _split_spaces(text.strip(_SPACE)) if word]
    lowered = bytes(byte + 32 if 0x41 <= byte <= 0x5A else byte for byte in b" ".join(words))
    return _tlv(_UTF8_STRING, lowered)


def _split_spaces(text: bytes) -> list[bytes]:
    for space in _SPACE[1:]:
        text = text.replace(bytes([space]), b" ")
    return text.split(b" ")


def _tlv(tag: int, body: bytes) -> bytes:
    length = len(body)
    if length < 0x80:
        return bytes([tag, length]) + body
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + body
