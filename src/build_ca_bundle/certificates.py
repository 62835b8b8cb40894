"""Certificates: the model, PEM/DER parsing, and the rules that pick what goes in a bundle.

Everything here is pure: it takes bytes and values and returns values, on any OS. Sources
turn what an OS or a file says into :class:`Candidate` values; :func:`select` merges them into
the ordered list of :class:`Entry` values the bundle is rendered from.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import enum
import functools
import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from build_ca_bundle import x509der
from build_ca_bundle.options import fingerprint
from build_ca_bundle.regular import read_bytes
from build_ca_bundle.values import Value

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import Final

    from cryptography import x509

SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
ANY_EKU = "2.5.29.37.0"
SERVER_AUTH_PURPOSES = frozenset({SERVER_AUTH, ANY_EKU})

# The PEM labels that carry a plain X.509 certificate. "X509 CERTIFICATE" is an old
# OpenSSL spelling still found in hand-made bundles.
_PLAIN_LABELS = frozenset({b"CERTIFICATE", b"X509 CERTIFICATE"})
_TRUSTED_LABEL = b"TRUSTED CERTIFICATE"
# What OpenSSL's PEM reader strips from the end of every line (pem_lib.c sanitize_line:
# each byte <= ' ' as a *signed* char): spaces, tabs, CR, control characters, and any byte
# from 0x80 on, so a no-break space pasted from a web page or a mail is nothing to it.
_LINE_TRAILER = bytes(range(0x21)) + bytes(range(0x80, 0x100))
_BLANK_LINE = re.compile(rb"\n[\x00-\x09\x0b-\x20\x80-\xff]*\n")  # nothing but a trailer
# A BEGIN line as OpenSSL's PEM reader takes it: at the start of a line, and nothing after
# it but that trailer. An indented one is no BEGIN line to OpenSSL.
_PEM_BEGIN_LINE = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----[\x00-\x09\x0b-\x20\x80-\xff]*(?:\n|\Z)"
)
_UTF8_BOM = b"\xef\xbb\xbf"

# The first line of every bundle we write. A file that carries it is our own output and is
# never read back as OS data, or each run would feed on the one before.
BUNDLE_MARKER = b"# This CA bundle was written by build-ca-bundle."


class Problem(Value):
    """Something a source could not read or use. Reported, never fatal on its own."""

    __slots__ = ("where", "message", "lost_nothing")
    where: Final[str]  # a file path, a store name or a command
    message: Final[str]
    lost_nothing: Final[bool]  # said, though every certificate there was read

    def __init__(self, where: str, message: str, *, lost_nothing: bool = False) -> None:
        self.where = where
        self.message = message
        self.lost_nothing = lost_nothing

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class Certificate(Value):
    """One X.509 certificate, identified by the SHA-256 of its DER encoding.

    The fields every run needs are read from the DER when parsing, with the standard library
    (:mod:`build_ca_bundle.x509der`); names as text are decoded on first use, and what needs
    real cryptography (the self-signature, key details) loads ``cryptography`` on first use.
    A store of thousands of roots is read in linear time with a small constant.
    """

    # "__dict__" holds what functools.cached_property computes on first use.
    __slots__ = ("der", "sha256", "fields", "is_ca", "extended_key_usage", "label", "__dict__")
    _hidden = frozenset({"fields"})
    der: Final[bytes]
    sha256: Final[str]
    fields: Final[x509der.Fields]
    is_ca: Final[bool]
    # The extendedKeyUsage purposes, or None without the extension (any purpose).
    extended_key_usage: Final[frozenset[str] | None]
    # A short human name: the subject's CN, else OU, else O, else the whole subject. Every
    # run needs it for every root (the order, the headers): set at once, not on first use
    # (Python 3.11's cached_property takes a lock on each first use).
    label: Final[str]

    def __init__(
        self,
        der: bytes,
        sha256: str,
        fields: x509der.Fields,
        is_ca: bool,
        extended_key_usage: frozenset[str] | None,
    ) -> None:
        self.der = der
        self.sha256 = sha256
        self.fields = fields
        self.is_ca = is_ca
        self.extended_key_usage = extended_key_usage
        self.label = name_label(fields.subject)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Certificate) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)

    @property
    def serial_number(self) -> int:
        return self.fields.serial_number

    @property
    def not_before(self) -> dt.datetime:
        return self.fields.not_before

    @property
    def not_after(self) -> dt.datetime:
        return self.fields.not_after

    @property
    def version(self) -> int:
        return self.fields.version

    @functools.cached_property
    def x509(self) -> x509.Certificate:
        """cryptography's view, for what needs signatures or key details (imported lazily)."""
        import warnings

        from cryptography import x509
        from cryptography.utils import CryptographyDeprecationWarning

        # Some roots in real stores have a negative serial number; cryptography warns about
        # them but parses them, and OpenSSL accepts them, so they are not our user's problem.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_der_x509_certificate(self.der)

    @property
    def subject_name(self) -> x509der.Name:
        return self.fields.subject

    @property
    def issuer_name(self) -> x509der.Name:
        return self.fields.issuer

    @functools.cached_property
    def subject(self) -> str:
        return x509der.rfc4514(self.subject_name)

    @functools.cached_property
    def issuer(self) -> str:
        return x509der.rfc4514(self.issuer_name)

    @functools.cached_property
    def self_signed(self) -> bool:
        """Self-issued, and its own key made its signature (with any hash: SHA-1 too)."""
        return self.fields.subject_der == self.fields.issuer_der and _signs_itself(self)

    @functools.cached_property
    def spki_sha256(self) -> str:
        return hashlib.sha256(self.fields.spki_der).hexdigest()

    @property
    def issuer_serial(self) -> tuple[bytes, int]:
        return (self.fields.issuer_der, self.serial_number)

    def expired(self, now: dt.datetime) -> bool:
        return self.not_after < now

    def not_yet_valid(self, now: dt.datetime) -> bool:
        return self.not_before > now


_LABEL_ATTRIBUTES = ("2.5.4.3", "2.5.4.11", "2.5.4.10")  # CN, OU, O


def name_label(name: x509der.Name) -> str:
    for oid in _LABEL_ATTRIBUTES:
        values = x509der.attribute_values(name, oid)
        if values:
            value = values[0]
            text = value if isinstance(value, str) else value.decode("utf-8", "replace")
            return x509der.visible(text)
    return x509der.rfc4514(name)


@functools.lru_cache(maxsize=8192)
def parse_der(der: bytes) -> Certificate:
    """Parse one DER certificate. Raises ``ValueError`` with a readable reason.

    Cached: the same roots arrive from certifi, the distro bundle and the hashed folders, and
    a parsed certificate is immutable.
    """
    try:
        fields = x509der.read(der)
        is_ca = _is_ca(fields)
        eku = fields.extensions.get(x509der.EXTENDED_KEY_USAGE)
        purposes = None if eku is None else x509der.extended_key_usage(eku.value)
    except x509der.DERError as exc:
        raise ValueError(f"not a valid X.509 certificate ({exc})") from exc
    return Certificate(
        der=der,
        sha256=hashlib.sha256(der).hexdigest(),
        fields=fields,
        is_ca=is_ca,
        extended_key_usage=purposes,
    )


def _is_ca(fields: x509der.Fields) -> bool:
    """Mirror OpenSSL's X509_check_ca: basicConstraints cA, or an old self-issued root."""
    basic = fields.extensions.get(x509der.BASIC_CONSTRAINTS)
    if basic is not None:
        return x509der.basic_constraints_ca(basic.value)
    if fields.subject_der != fields.issuer_der:
        return False
    # No basicConstraints: v1 roots count, and so do v3 roots whose keyUsage allows signing
    # certificates (OpenSSL treats both as CAs).
    usage = fields.extensions.get(x509der.KEY_USAGE)
    return usage is None or x509der.key_cert_sign(usage.value)


def _signed_by(cert: Certificate, issuer: Certificate) -> bool:
    """Whether ``issuer``'s key made ``cert``'s signature (cryptography, loaded on demand).

    Modern signatures only: cryptography refuses SHA-1 and MD5 here, and so does OpenSSL 3
    from security level 1 (its default) on every certificate of a chain but the anchor: such
    a link is no chain for pip either.
    """
    try:
        cert.x509.verify_directly_issued_by(issuer.x509)
    except Exception:  # InvalidSignature, ValueError, TypeError for odd keys: not issued by
        return False
    return True


def _signs_itself(cert: Certificate) -> bool:
    """Whether the certificate's own key made its signature, whatever the hash.

    A fifth of the roots distros still ship (DigiCert Global Root CA, GlobalSign Root CA…),
    and many corporate roots made before 2017, are SHA-1 self-signed, which
    :func:`_signed_by` refuses. OpenSSL never checks a trust anchor's own signature, so its
    hash weakens nothing: here it only tells a root from a certificate that merely repeats
    its issuer's name (macOS's trust-as-root rule, OpenSSL's compatibility trust).
    """
    if _signed_by(cert, cert):
        return True
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
    from cryptography.x509 import InvalidVersion

    try:
        x509 = cert.x509
    except (ValueError, InvalidVersion):
        # cryptography refuses some certificates OpenSSL reads (a v2 one, a v1 that writes
        # its default version out). OpenSSL's own rule checks no signature (v3_purp.c,
        # EXFLAG_SS: self-issued, its key identifiers not disagreeing): self-issued it is.
        return True
    try:
        key = x509.public_key()
        scheme = x509.signature_algorithm_parameters
        digest = x509.signature_hash_algorithm
        signature, signed = x509.signature, x509.tbs_certificate_bytes
        if isinstance(key, rsa.RSAPublicKey) and isinstance(scheme, padding.PKCS1v15) and digest:
            key.verify(signature, signed, scheme, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(scheme, ec.ECDSA):
            key.verify(signature, signed, scheme)
        elif isinstance(key, dsa.DSAPublicKey) and digest is not None:
            key.verify(signature, signed, digest)
        else:
            return False
    except Exception:  # InvalidSignature, UnsupportedAlgorithm (MD2...), odd keys
        return False
    return True


# --- OpenSSL "TRUSTED CERTIFICATE" (certificate followed by CertAux) -------------------------


class AuxTrust(Value):
    """OpenSSL's CertAux: the purposes a certificate is trusted or rejected for."""

    __slots__ = ("trust", "reject", "alias")
    trust: Final[frozenset[str] | None]
    reject: Final[frozenset[str] | None]
    alias: Final[str | None]

    def __init__(
        self, trust: frozenset[str] | None, reject: frozenset[str] | None, alias: str | None = None
    ) -> None:
        self.trust = trust
        self.reject = reject
        self.alias = alias


def split_trusted_certificate(blob: bytes) -> tuple[bytes, AuxTrust]:
    """Split the DER of a ``TRUSTED CERTIFICATE`` into the certificate and its CertAux."""
    tag, _, cert_end = x509der.read_tlv(blob, 0, len(blob))
    if tag != 0x30:
        raise ValueError("TRUSTED CERTIFICATE does not start with a certificate")
    der = blob[:cert_end]
    if cert_end == len(blob):
        return der, AuxTrust(trust=None, reject=None)
    tag, aux_start, aux_end = x509der.read_tlv(blob, cert_end, len(blob))
    if tag != 0x30:
        raise ValueError("CertAux is not a SEQUENCE")
    trust: frozenset[str] | None = None
    reject: frozenset[str] | None = None
    alias: str | None = None
    offset = aux_start
    while offset < aux_end:
        tag, body_start, body_end = x509der.read_tlv(blob, offset, len(blob))
        if tag == 0x30:  # trust SEQUENCE OF OID
            trust = x509der.oid_list(blob, body_start, body_end)
        elif tag == 0xA0:  # reject [0] IMPLICIT SEQUENCE OF OID
            reject = x509der.oid_list(blob, body_start, body_end)
        elif tag == 0x0C:  # alias UTF8String
            alias = blob[body_start:body_end].decode("utf-8", "replace")
        offset = body_end  # keyid and other: not needed
    return der, AuxTrust(trust=trust, reject=reject, alias=alias)


class Verdict(enum.Enum):
    """What a source says about one certificate."""

    TRUST = "trust"  # an anchor for server authentication
    DISTRUST = "distrust"  # must not be in the bundle, whichever source offers it
    INTERMEDIATE = "intermediate"  # only with --include-intermediates, if it chains to a root


def aux_verdict(certificate: Certificate, aux: AuxTrust) -> Verdict | None:
    """Decide a TRUSTED CERTIFICATE for server auth as OpenSSL's obj_trust does.

    ``None`` means the entry says nothing usable for TLS servers (ignore it).
    """
    if aux.reject is not None and aux.reject & SERVER_AUTH_PURPOSES:
        return Verdict.DISTRUST
    if aux.trust is not None:
        if aux.trust & SERVER_AUTH_PURPOSES:
            return Verdict.TRUST
        # Trusted for nothing (how p11-kit writes a distrusted certificate), or only for
        # other purposes (an admin's -addtrust emailProtection): OpenSSL rejects it for TLS
        # servers, whatever other copy the store holds ("explicit trust EKUs set and none
        # match", x509_trust.c obj_trust).
        return Verdict.DISTRUST
    # No trust settings at all: OpenSSL's compatibility rule trusts self-signed roots.
    return Verdict.TRUST if certificate.self_signed else None


# --- PEM and DER input ------------------------------------------------------------------


class Parsed(Value):
    """One certificate read from input, with OpenSSL trust flags if it carried them."""

    __slots__ = ("certificate", "aux")
    certificate: Final[Certificate]
    aux: Final[AuxTrust | None]

    def __init__(self, certificate: Certificate, aux: AuxTrust | None = None) -> None:
        self.certificate = certificate
        self.aux = aux


def _pem_blocks(data: bytes) -> Iterator[tuple[bytes, bytes | None, str | None]]:
    """(label, body, damage) of each PEM block; the body is None for a block cut off before
    its END line. A block's body never holds another BEGIN line: after a truncated block,
    reading starts again at the next BEGIN (a property test found this). ``damage``: why
    OpenSSL's reader refuses the whole file at this block (we still read its whole blocks)."""
    begin = _begin_line(data, 0)
    while begin is not None:
        label = begin.group(1)
        end_marker = b"-----END " + label + b"-----"
        following = data.find(b"-----BEGIN ", begin.end())
        # Only up to the next BEGIN: an END beyond it is not this block's. Searching further
        # made a file of many cut-off blocks quadratic (an 825 KB one took 25 s).
        end = _end_line(data, end_marker, begin.end(), following if following != -1 else None)
        if end == -1:
            if following == -1:
                yield label, None, None  # named as truncated
                return
            yield label, None, None
            begin = _begin_line(data, following)  # start again at the next BEGIN
            continue
        body = data[begin.end() : end]
        after = end + len(end_marker)
        line_end = data.find(b"\n", after)
        rest = data[after : len(data) if line_end == -1 else line_end]
        damage = None
        if rest.rstrip(_LINE_TRAILER):
            damage = "text after its END line (a next BEGIN with no line break before it?)"
        elif _blank_line_inside(body):
            damage = "a blank line inside it"
        yield label, body, damage
        begin = _begin_line(data, after)


def _blank_line_inside(body: bytes) -> bool:
    """A blank line OpenSSL's reader refuses: it takes one only as the end of the headers
    (right after BEGIN when there are none)."""
    if _BLANK_LINE.search(b"\n" + body) is None:  # the usual block, found in C
        return False
    lines = body.split(b"\n")[:-1]  # the body ends with the END line's line break
    blank = [n for n, line in enumerate(lines) if not line.rstrip(_LINE_TRAILER)]
    if not blank:
        return False
    first = blank[0]
    headers_end = first == 0 or all(b":" in line for line in lines[:first])
    return not headers_end or len(blank) > 1


def _end_line(data: bytes, marker: bytes, start: int, stop: int | None) -> int:
    """Where the first END line in ``data[start:stop]`` begins, or -1. It must start its
    line, as OpenSSL wants: an indented one is the block's cut-off text to OpenSSL."""
    found = start
    while (found := data.find(marker, found, stop)) != -1 and data[found - 1] != 0x0A:
        found += 1
    return found


def _begin_line(data: bytes, start: int) -> re.Match[bytes] | None:
    """The first BEGIN line from ``start`` on (see ``_PEM_BEGIN_LINE``). One right at
    ``start`` counts wherever it is: a damaged file's next block after a cut, or after an
    END with no line break between them (``cat`` of a file without its last one; OpenSSL
    3.0 refuses that whole file, which is said: ``_pem_blocks``' damage). So does
    one after a UTF-8 byte order mark that starts its line: ``cat`` of a BOM-prefixed .crt
    onto a bundle (Debian's update-ca-certificates builds its bundle so), which OpenSSL 3
    reads (pem_lib.c sanitize_line strips a BOM from each block's first line)."""
    found = start
    while (found := data.find(b"-----BEGIN ", found)) != -1:
        bom = found - len(_UTF8_BOM)
        after_bom = (
            bom >= 0 and data[bom:found] == _UTF8_BOM and (bom == 0 or data[bom - 1] == 0x0A)
        )
        if found in (start, 0) or data[found - 1] == 0x0A or after_bom:
            line = _PEM_BEGIN_LINE.match(data, found)
            if line is not None:
                return line
        found += 1
    return None


def _base64_body(body: bytes) -> bytes:
    """A block's bytes, decoded as OpenSSL decodes them: each line without its trailer
    (``_LINE_TRAILER``), white space anywhere skipped. Raises binascii.Error."""
    try:  # the usual block: base64 and white space only, no line to strip
        return base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        lines = (line.rstrip(_LINE_TRAILER) for line in body.split(b"\n"))
        return base64.b64decode(b"".join(b"".join(lines).split()), validate=True)


def pem_fingerprints(data: bytes) -> set[str]:
    """The SHA-256 of every well-formed certificate block, without parsing one."""
    found = set()
    for label, body, _ in _pem_blocks(data):
        if label in _PLAIN_LABELS and body is not None and b":" not in body:
            with contextlib.suppress(binascii.Error, ValueError):
                der = _base64_body(body)
                found.add(hashlib.sha256(der).hexdigest())
    return found


def parse_pem(data: bytes, where: str) -> tuple[list[Parsed], list[Problem]]:
    """Read every certificate block of PEM text; other blocks (keys, CRLs) are ignored."""
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    parsed: list[Parsed] = []
    problems: list[Problem] = []
    for number, (label, body, damage) in enumerate(_pem_blocks(data), start=1):
        block = f"{where} (block {number})"
        if damage is not None:
            # Read here all the same (the block is whole), but said: no OpenSSL tool
            # trusts anything in a file its reader refuses (curl, Python's ssl).
            problems.append(
                Problem(
                    block,
                    f"read, but OpenSSL's reader refuses this whole file at this block "
                    f"({damage}): curl, Python's ssl and other OpenSSL tools trust none of "
                    "its certificates; fix the file",
                    lost_nothing=True,
                )
            )
        if label not in _PLAIN_LABELS and label != _TRUSTED_LABEL:
            continue
        if body is None:
            problems.append(Problem(block, "skipped: truncated PEM block (no END line)"))
            continue
        if b":" in body:
            # RFC 1421 headers (Proc-Type, DEK-Info): not a plain certificate; Go skips these.
            problems.append(Problem(block, "skipped: PEM block has RFC 1421 headers"))
            continue
        try:
            blob = _base64_body(body)
        except (binascii.Error, ValueError):
            problems.append(Problem(block, "skipped: invalid base64"))
            continue
        try:
            if label == _TRUSTED_LABEL:
                der, aux = split_trusted_certificate(blob)
                parsed.append(Parsed(parse_der(der), aux))
            else:
                parsed.append(Parsed(parse_der(blob)))
        except ValueError as exc:
            problems.append(Problem(block, f"skipped: {exc}"))
    return parsed, problems


def parse_bytes(
    data: bytes, where: str, *, allow_der: bool = True
) -> tuple[list[Parsed], list[Problem]]:
    """Read PEM text or, when allowed, one raw DER certificate."""
    if b"-----BEGIN" in data:
        parsed, problems = parse_pem(data, where)
        if not parsed and not problems:
            problems.append(
                Problem(
                    where,
                    "skipped: no certificate in this PEM file (OpenSSL reads a block only "
                    "from a '-----BEGIN ...-----' line at the start of a line)",
                )
            )
        return parsed, problems
    if allow_der and data[:1] == b"\x30":
        try:
            return [Parsed(parse_der(data))], []
        except ValueError as exc:
            return [], [Problem(where, f"skipped: {exc}")]
    if data[:1] == b"\x30":  # a store OpenSSL reads takes PEM only: say what it is
        with contextlib.suppress(ValueError):
            parse_der(data)
            return [], [
                Problem(
                    where,
                    "skipped: a DER certificate, which OpenSSL does not read here (PEM only); "
                    "convert it: openssl x509 -inform der -in FILE -out FILE.pem",
                )
            ]
    return [], [Problem(where, "skipped: neither PEM nor DER certificate data")]


def read_certificate_file(
    path: Path, *, allow_der: bool = True
) -> tuple[list[Parsed], list[Problem]]:
    """Read a certificate file; an unreadable file is a problem, never an exception."""
    try:
        data = read_bytes(path)
    except OSError as exc:
        return [], [Problem(str(path), f"skipped: cannot read ({exc.strerror or exc})")]
    return parse_bytes(data, str(path), allow_der=allow_der)


# --- Candidates and the merge -----------------------------------------------------------


class SourceKind(enum.Enum):
    BASE = "base"  # certifi: Mozilla's roots, taken as they are
    OS = "os"  # what the operating system trusts
    EXTRA = "extra"  # files the user or the policy named


class Candidate(Value):
    """A source's statement about one certificate."""

    __slots__ = ("certificate", "verdict", "source", "reason", "match_key")
    certificate: Final[Certificate]
    verdict: Final[Verdict]
    source: Final[str]  # where it was found, e.g. "certifi", "/etc/ssl/certs/ca-certificates.crt"
    reason: Final[str]  # why this verdict, e.g. "ROOT, usages: serverAuth"
    # p11-kit distrusts a key, not only a certificate: also match the same public key, or the
    # same issuer and serial number (p11-kit trust/enumerate.c).
    match_key: Final[bool]

    def __init__(
        self,
        certificate: Certificate,
        verdict: Verdict,
        source: str,
        reason: str = "",
        match_key: bool = False,
    ) -> None:
        self.certificate = certificate
        self.verdict = verdict
        self.source = source
        self.reason = reason
        self.match_key = match_key


class SourceResult(Value, mutable=True):
    """Everything one source found: certificates with verdicts, and what it could not read."""

    __slots__ = (
        "name",
        "kind",
        "candidates",
        "problems",
        "inputs",
        "registry_keys",
        "notes",
        "complete_inputs",
        "named_inputs",
        "unread",
        "distrusted_sha1",
    )
    name: str
    kind: SourceKind
    candidates: list[Candidate]
    problems: list[Problem]
    inputs: list[Path]  # files and folders read
    registry_keys: list[str]  # Windows stores read (winstate)
    notes: list[str]  # facts worth a line in the summary
    # False when ``inputs`` and ``registry_keys`` cannot show every change (the WSL host's
    # store, macOS user trust settings): then no run may be skipped as unchanged.
    complete_inputs: bool
    # Inputs the run's environment chose, not the OS (SSL_CERT_FILE, SSL_CERT_DIR and the
    # files read there): a machine-wide run relies on them only if they are root's alone.
    named_inputs: list[Path]
    # A named file or folder that could not be read at all (missing, unreadable), among the
    # problems too: a bundle built without an --extra-ca file IT named would drop its roots.
    unread: list[Problem]
    # Distrust of certificates the source has no copy of: SHA-1 (upper-case hex) -> (source,
    # reason). A macOS Deny is kept by hash; it covers certifi's copy of a root in no keychain.
    distrusted_sha1: dict[str, tuple[str, str]]

    def __init__(
        self,
        name: str,
        kind: SourceKind,
        candidates: list[Candidate] | None = None,
        problems: list[Problem] | None = None,
        inputs: list[Path] | None = None,
        registry_keys: list[str] | None = None,
        notes: list[str] | None = None,
        complete_inputs: bool = True,
        named_inputs: list[Path] | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.candidates = [] if candidates is None else candidates
        self.problems = [] if problems is None else problems
        self.inputs = [] if inputs is None else inputs
        self.registry_keys = [] if registry_keys is None else registry_keys
        self.notes = [] if notes is None else notes
        self.complete_inputs = complete_inputs
        self.named_inputs = [] if named_inputs is None else named_inputs
        self.unread = []
        self.distrusted_sha1 = {}

    def count(self, verdict: Verdict) -> int:
        """How many distinct certificates this source gave ``verdict`` (distrusts by hash, of
        certificates it has no copy of, included)."""
        count = len({c.certificate.sha256 for c in self.candidates if c.verdict is verdict})
        return count + len(self.distrusted_sha1) if verdict is Verdict.DISTRUST else count


class Entry(Value):
    """One certificate in the bundle, and every source that offered it."""

    __slots__ = ("certificate", "origins", "kinds")
    certificate: Final[Certificate]
    origins: Final[tuple[str, ...]]
    kinds: Final[frozenset[SourceKind]]

    def __init__(
        self, certificate: Certificate, origins: tuple[str, ...], kinds: frozenset[SourceKind]
    ) -> None:
        self.certificate = certificate
        self.origins = origins
        self.kinds = kinds


class Exclusion(Value):
    """A certificate a source offered that is not in the bundle, and why."""

    __slots__ = ("certificate", "source", "reason")
    certificate: Final[Certificate]
    source: Final[str]
    reason: Final[str]

    def __init__(self, certificate: Certificate, source: str, reason: str) -> None:
        self.certificate = certificate
        self.source = source
        self.reason = reason


class Selection(Value, mutable=True):
    """What goes in the bundle, in order, and what was left out."""

    __slots__ = ("entries", "excluded")
    entries: list[Entry]
    excluded: list[Exclusion]

    def __init__(self, entries: list[Entry], excluded: list[Exclusion]) -> None:
        self.entries = entries
        self.excluded = excluded

    def beyond_base(self) -> list[Entry]:
        """The entries certifi does not have: usually the corporate roots."""
        return [entry for entry in self.entries if SourceKind.BASE not in entry.kinds]

    def without(self, sha256s: frozenset[str], reason: str) -> Selection:
        """This selection with those certificates moved to the excluded ones, for ``reason``."""
        dropped = [entry for entry in self.entries if entry.certificate.sha256 in sha256s]
        return Selection(
            entries=[entry for entry in self.entries if entry.certificate.sha256 not in sha256s],
            excluded=[
                *self.excluded,
                *(Exclusion(e.certificate, ", ".join(e.origins), reason) for e in dropped),
            ],
        )


class _Distrust:
    """Every distrust the sources stated: by DER, by key where p11-kit's rule says so, and by
    SHA-1 for those stated by hash alone (``SourceResult.distrusted_sha1``)."""

    def __init__(self, results: Iterable[SourceResult]) -> None:
        self.by_der: dict[str, Candidate] = {}
        self.by_key: dict[str, Candidate] = {}
        self.by_issuer_serial: dict[tuple[bytes, int], Candidate] = {}
        self.by_sha1: dict[str, tuple[str, str]] = {}
        for result in results:
            for sha1, (source, reason) in result.distrusted_sha1.items():
                self.by_sha1.setdefault(sha1.upper(), (source, reason))
            for candidate in result.candidates:
                if candidate.verdict is Verdict.DISTRUST:
                    self._add(candidate)

    def _add(self, candidate: Candidate) -> None:
        cert = candidate.certificate
        self.by_der.setdefault(cert.sha256, candidate)
        if candidate.match_key:
            self.by_key.setdefault(cert.spki_sha256, candidate)
            self.by_issuer_serial.setdefault(cert.issuer_serial, candidate)

    def find(self, cert: Certificate) -> tuple[str, str] | None:
        """Who distrusts ``cert`` and why, or None."""
        found = self.by_der.get(cert.sha256)
        if found is None and self.by_key:  # without key distrusts, no key hash to compute
            found = self.by_key.get(cert.spki_sha256) or self.by_issuer_serial.get(
                cert.issuer_serial
            )
        if found is not None:
            return found.source, found.reason
        if self.by_sha1:  # without hash-only distrusts, no SHA-1 to compute
            sha1 = hashlib.sha1(cert.der, usedforsecurity=False).hexdigest().upper()
            return self.by_sha1.get(sha1)
        return None


def select(
    results: Sequence[SourceResult],
    *,
    now: dt.datetime,
    keep_expired: bool = False,
    include_leaf: bool = False,
    include_intermediates: bool = False,
    exclude: Iterable[str] = (),
) -> Selection:
    """Merge what the sources say into the bundle's entries, in a stable order.

    certifi's roots come first in certifi's order, then the others sorted by name and hash.
    A distrust from any source removes the certificate everywhere, certifi's part included.
    """
    excluded_hashes = {fingerprint(value) for value in exclude}
    distrust = _Distrust(results)
    origins: dict[str, list[str]] = {}
    kinds: dict[str, set[SourceKind]] = {}
    chosen: dict[str, Certificate] = {}
    base_order: list[str] = []
    exclusions: dict[tuple[str, str], Exclusion] = {}
    intermediates: list[Candidate] = []

    def exclude_one(candidate: Candidate, reason: str) -> None:
        key = (candidate.certificate.sha256, reason)
        exclusions.setdefault(key, Exclusion(candidate.certificate, candidate.source, reason))

    ordered = sorted(results, key=lambda result: list(SourceKind).index(result.kind))
    for result in ordered:
        for candidate in result.candidates:
            cert = candidate.certificate
            if candidate.verdict is Verdict.INTERMEDIATE:
                intermediates.append(candidate)
                continue
            if candidate.verdict is not Verdict.TRUST:
                continue
            reason = _rejection(
                candidate, result.kind, distrust, excluded_hashes, now, keep_expired, include_leaf
            )
            if reason:
                exclude_one(candidate, reason)
                continue
            if cert.sha256 not in chosen:
                chosen[cert.sha256] = cert
                if result.kind is SourceKind.BASE:
                    base_order.append(cert.sha256)
            sources = origins.setdefault(cert.sha256, [])
            if candidate.source not in sources:
                sources.append(candidate.source)
            kinds.setdefault(cert.sha256, set()).add(result.kind)

    if include_intermediates:
        _add_chaining_intermediates(
            intermediates, chosen, origins, kinds, distrust, excluded_hashes, now, keep_expired
        )

    base_set = set(base_order)
    rest = sorted(
        (sha for sha in chosen if sha not in base_set),
        key=lambda sha: (chosen[sha].label.casefold(), sha),
    )
    entries = [
        Entry(chosen[sha], tuple(origins[sha]), frozenset(kinds[sha])) for sha in base_order + rest
    ]
    kept = set(chosen)
    return Selection(
        entries=entries,
        excluded=[item for item in exclusions.values() if item.certificate.sha256 not in kept],
    )


def _rejection(
    candidate: Candidate,
    kind: SourceKind,
    distrust: _Distrust,
    excluded_hashes: set[str],
    now: dt.datetime,
    keep_expired: bool,
    include_leaf: bool,
) -> str:
    cert = candidate.certificate
    distrusted_by = distrust.find(cert)
    if distrusted_by is not None:
        source, reason = distrusted_by
        why = f" ({reason})" if reason else ""
        return f"distrusted by {source}{why}"
    if cert.sha256 in excluded_hashes:
        return "excluded by fingerprint"
    if not keep_expired and cert.expired(now):
        return f"expired on {cert.not_after:%Y-%m-%d}"
    if kind is not SourceKind.BASE and not cert.is_ca and not include_leaf:
        return "not a CA certificate"
    return ""


def _add_chaining_intermediates(
    intermediates: list[Candidate],
    chosen: dict[str, Certificate],
    origins: dict[str, list[str]],
    kinds: dict[str, set[SourceKind]],
    distrust: _Distrust,
    excluded_hashes: set[str],
    now: dt.datetime,
    keep_expired: bool,
) -> None:
    """Add intermediates that chain by signature to something already chosen."""
    pending = [
        c
        for c in intermediates
        if c.certificate.is_ca
        and not _rejection(c, SourceKind.OS, distrust, excluded_hashes, now, keep_expired, False)
    ]
    progress = True
    while pending and progress:
        progress = False
        for candidate in list(pending):
            cert = candidate.certificate
            if cert.sha256 in chosen:
                pending.remove(candidate)
                continue
            if any(_issued_by(cert, issuer) for issuer in chosen.values()):
                chosen[cert.sha256] = cert
                origins[cert.sha256] = [candidate.source]
                kinds[cert.sha256] = {SourceKind.OS}
                pending.remove(candidate)
                progress = True


def _issued_by(cert: Certificate, issuer: Certificate) -> bool:
    return cert.fields.issuer_der == issuer.fields.subject_der and _signed_by(cert, issuer)
