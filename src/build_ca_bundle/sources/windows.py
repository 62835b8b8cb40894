"""The Windows trust store: for ``--scope user`` through the standard library's
``ssl.enum_certificates``, for any other scope through :mod:`.crypt32`, which gives the same
items from the machine's own locations alone.

``enum_certificates(store)`` opens the store in the local-machine, enterprise, group-policy,
current-user, user-group-policy, services and users locations and enumerates them as one
collection (CPython ``_ssl.c``), so a root pushed by group policy or Intune is there. Each
item is ``(der, encoding, trust)``: ``trust`` is ``True`` (no usage restriction at all) or a
frozenset of usage OIDs, taken from the certificate's EKU *property* if it has one, else
from its EKU extension. Windows uses the intersection of the two (CertGetEnhancedKeyUsage,
as Chromium's and Node's ``IsCertTrustedForServerAuth`` read it); the standard library does
not, so we do.

ROOT gives anchors; Disallowed is distrusted whatever its usages, certifi's part included;
CA gives intermediates only when asked. Windows fills ROOT lazily from Windows Update, so a
public root may be missing there: certifi covers those.
"""

from __future__ import annotations

import contextlib
import hashlib
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Final, Union

from build_ca_bundle import winstate
from build_ca_bundle.certificates import (
    SERVER_AUTH,
    SERVER_AUTH_PURPOSES,
    Candidate,
    Certificate,
    Problem,
    SourceKind,
    SourceResult,
    Verdict,
    parse_der,
)
from build_ca_bundle.sources import StoreOptions, crypt32
from build_ca_bundle.values import Value

NAME = "windows"

# The shapes ``ssl.enum_certificates`` returns (Union: these aliases are evaluated on 3.10).
Trust = Union[bool, frozenset[str], set[str]]  # noqa: UP007
Item = tuple[bytes, Union[str, int], Trust]  # noqa: UP007
Enumerator = Callable[[str], Iterable[Item]]

# The system stores we read, by the name ``enum_certificates`` passes to CertOpenStore.
ROOT = "ROOT"  # trusted root authorities: the anchors
DISALLOWED = "Disallowed"  # untrusted certificates: removed everywhere, whatever their usages
CA = "CA"  # intermediate authorities: only with --include-intermediates

# Encodings: CPython returns "x509_asn" for exactly X509_ASN_ENCODING (0x1), "pkcs_7_asn" for
# exactly PKCS_7_ASN_ENCODING (0x10000), and any other value as an int: 0x10001 (both flags,
# as some tools add certificates) arrives as 65537 and still holds an X.509 certificate.
X509_ASN = "x509_asn"
X509_ASN_BIT = 0x1

# Short names of the usages a root is commonly restricted to, for the report. Listed in
# this order; any other OID is shown as it is, after these.
USAGE_NAMES = {
    SERVER_AUTH: "serverAuth",  # TLS server authentication: what a bundle is for
    "2.5.29.37.0": "anyExtendedKeyUsage",  # any purpose
    "1.3.6.1.5.5.7.3.2": "clientAuth",  # TLS client authentication
    "1.3.6.1.5.5.7.3.3": "codeSigning",  # Authenticode and other code signing
    "1.3.6.1.5.5.7.3.4": "emailProtection",  # S/MIME
    "1.3.6.1.5.5.7.3.8": "timeStamping",  # RFC 3161 time stamps
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",  # OCSP responders
    "1.3.6.1.4.1.311.10.3.4": "encryptingFileSystem",  # Microsoft EFS
}


def describe_usages(usages: frozenset[str] | None) -> str:
    """``all usages`` for no restriction, else the usages by name: ``usages: serverAuth``."""
    if usages is None:
        return "all usages"
    if not usages:
        return "disabled for all purposes"
    known = [name for oid, name in USAGE_NAMES.items() if oid in usages]
    return "usages: " + ", ".join(known + sorted(usages - USAGE_NAMES.keys()))


def allows_server_auth(usages: frozenset[str] | None) -> bool:
    return usages is None or bool(usages & SERVER_AUTH_PURPOSES)


class _Entry(Value):
    """One X.509 item of a store, parsed."""

    __slots__ = ("certificate", "usages")
    certificate: Final[Certificate]
    usages: Final[frozenset[str] | None]  # effective usages as Windows computes them; None = all

    def __init__(self, certificate: Certificate, usages: frozenset[str] | None) -> None:
        self.certificate = certificate
        self.usages = usages


def load(
    options: StoreOptions,
    *,
    enum: Enumerator | None = None,
    machine_enum: Enumerator | None = None,
) -> SourceResult:
    """Read ROOT (anchors), Disallowed (distrust) and, if asked, CA (intermediates): for
    ``--scope user`` as ``ssl.enum_certificates`` merges the machine's and the account's
    stores, for any other scope the machine's alone (see :mod:`.crypt32`)."""
    result = SourceResult(name=NAME, kind=SourceKind.OS)
    stores = [ROOT, DISALLOWED, *([CA] if options.include_intermediates else [])]
    machine_only = options.scope != "user"
    _watch(stores, options, result, machine_only=machine_only)
    enumerate_store: Enumerator | None
    if machine_only:
        enumerate_store = machine_enum or crypt32.machine_enumerator()
        missing = "crypt32 cannot be called from this Python"
    else:
        enumerate_store = enum or getattr(ssl, "enum_certificates", None)
        missing = (
            "ssl.enum_certificates is not available in this Python (it exists only in "
            "Windows builds made with MSVC)"
        )
    if enumerate_store is None:
        result.problems.append(
            Problem("Windows certificate stores", f"{missing}: the Windows roots were not read")
        )
        return result
    _read_roots(enumerate_store, result)
    _read_disallowed(enumerate_store, result)
    if options.include_intermediates:
        _read_intermediates(enumerate_store, result)
    return result


def _watch(
    stores: list[str], options: StoreOptions, result: SourceResult, *, machine_only: bool
) -> None:
    """What the unchanged-run check watches: the stores' registry keys, and for the
    account's stores the roaming profile's file-based copies
    (%APPDATA%\\Microsoft\\SystemCertificates\\<store>)."""
    result.registry_keys = winstate.watched_keys(stores, machine_only=machine_only)
    appdata = options.environ.get("APPDATA")
    if machine_only or not appdata:
        return
    for store in stores:
        folder = Path(appdata, "Microsoft", "SystemCertificates", store, "Certificates")
        result.inputs.append(folder)  # its time changes when a file is added or removed
        with contextlib.suppress(OSError):
            result.inputs.extend(sorted(folder.iterdir()))  # and each file's, when edited


def _read_roots(enumerate_store: Enumerator, result: SourceResult) -> None:
    """Each root trusted for server authentication in at least one location is an anchor."""
    entries = _read_store(
        enumerate_store,
        ROOT,
        result,
        if_unreadable="no Windows roots are in the bundle, so a corporate root pushed by "
        "group policy is missing; certifi's roots and any extra files are still used",
    )
    if entries is None:
        return
    trusted: dict[str, Candidate] = {}
    refused: set[str] = set()
    for entry in entries:
        cert = entry.certificate
        if allows_server_auth(entry.usages):
            # Chromium's rule: trusted if any instance of the certificate is.
            reason = f"{ROOT}, {describe_usages(entry.usages)}"
            trusted.setdefault(cert.sha256, Candidate(cert, Verdict.TRUST, _source(ROOT), reason))
        else:
            refused.add(cert.sha256)
    result.candidates.extend(trusted.values())
    left_out = len(refused - trusted.keys())
    if left_out:
        result.notes.append(
            f"{left_out} {ROOT} certificate(s) are not trusted by Windows for server "
            "authentication (restricted to other usages, or disabled): left out"
        )


def _read_disallowed(enumerate_store: Enumerator, result: SourceResult) -> None:
    """Every certificate in Disallowed is distrusted, for all purposes: Windows does not
    look at its usages there (Chromium's trust_store_win.cc), and neither do we."""
    entries = _read_store(
        enumerate_store,
        DISALLOWED,
        result,
        if_unreadable="certificates Windows distrusts could not be removed from the bundle",
    )
    if entries is None:
        return
    distrusted: dict[str, Candidate] = {}
    for entry in entries:
        cert = entry.certificate
        distrusted.setdefault(
            cert.sha256,
            Candidate(cert, Verdict.DISTRUST, _source(DISALLOWED), "Windows Disallowed store"),
        )
    result.candidates.extend(distrusted.values())
    if distrusted:
        result.notes.append(
            f"applied {len(distrusted)} certificate(s) from the Windows {DISALLOWED} store: "
            "removed from the bundle, certifi's roots included"
        )


def _read_intermediates(enumerate_store: Enumerator, result: SourceResult) -> None:
    """Offer the CA store's certificates as intermediates; select() keeps those that chain
    to a chosen root. One restricted away from server authentication is not offered."""
    entries = _read_store(enumerate_store, CA, result, if_unreadable="no intermediates were added")
    if entries is None:
        return
    offered: dict[str, Candidate] = {}
    for entry in entries:
        cert = entry.certificate
        if allows_server_auth(entry.usages):
            reason = f"{CA}, {describe_usages(entry.usages)}"
            offered.setdefault(
                cert.sha256, Candidate(cert, Verdict.INTERMEDIATE, _source(CA), reason)
            )
    result.candidates.extend(offered.values())
    result.notes.append(
        f"offered {len(offered)} intermediate(s) from the Windows {CA} store "
        "(kept only if they chain to a root in the bundle)"
    )


def _source(store: str) -> str:
    return f"{NAME}:{store}"


# --- reading one store ------------------------------------------------------------------


def _read_store(
    enumerate_store: Enumerator, store: str, result: SourceResult, *, if_unreadable: str
) -> list[_Entry] | None:
    """The parsed X.509 entries of one store, or None if it cannot be read at all.

    A malformed entry is a problem naming the store and the entry; the others are still read.
    """
    where = f"Windows {store} store"
    try:
        items: list[object] = list(enumerate_store(store))
    except (OSError, ValueError) as exc:
        # Both readers raise OSError when reading one certificate's usages fails, CPython's
        # also when no location of the store opens, ours when LOCAL_MACHINE cannot be opened
        # or a store's listing stops short: then the whole store is lost, not one entry.
        result.problems.append(Problem(where, f"cannot read it ({exc}): {if_unreadable}"))
        return None
    entries = []
    not_x509 = 0
    for number, item in enumerate(items, start=1):
        fields = _fields(item)
        if fields is None:
            result.problems.append(Problem(f"{where} (entry {number})", "skipped: malformed"))
            continue
        der, encoding, trust = fields
        if not _is_x509(encoding):
            not_x509 += 1  # the standard library skips these too
            continue
        entry = _parse(der, trust, f"{where} (entry {number})", result)
        if entry is not None:
            entries.append(entry)
    if not_x509:
        result.notes.append(f"skipped {not_x509} {store} entries not encoded as X.509")
    return entries


def _fields(item: object) -> tuple[bytes, str | int, Trust] | None:
    """The (der, encoding, trust) of one item, checked: bad input is a problem, not a crash."""
    if not isinstance(item, tuple) or len(item) != 3:
        return None
    der, encoding, trust = item
    if not isinstance(der, bytes) or not isinstance(encoding, (str, int)):
        return None
    if not isinstance(trust, (bool, frozenset, set)):
        return None
    return der, encoding, trust


def _is_x509(encoding: str | int) -> bool:
    if isinstance(encoding, str):
        return encoding == X509_ASN
    return not isinstance(encoding, bool) and bool(encoding & X509_ASN_BIT)


def _parse(der: bytes, trust: Trust, where: str, result: SourceResult) -> _Entry | None:
    try:
        cert = parse_der(der)
    except ValueError as exc:
        # The fingerprint of the raw bytes finds the entry again with certutil -store.
        digest = hashlib.sha256(der).hexdigest()[:16]
        result.problems.append(Problem(where, f"skipped (SHA-256 {digest}...): {exc}"))
        return None
    return _Entry(cert, effective_usages(cert, trust))


def effective_usages(cert: Certificate, trust: Trust) -> frozenset[str] | None:
    """The usages Windows allows, from what ``enum_certificates`` said; None means all.

    ``True`` means neither an EKU property nor an EKU extension: no restriction. A set came
    from the property if there is one (an empty set is "disabled for all purposes") and is
    intersected with the certificate's own EKU extension, as CertGetEnhancedKeyUsage does:
    a plain set intersection, in which anyExtendedKeyUsage matches only itself.
    """
    extension = cert.extended_key_usage
    if isinstance(trust, bool):
        return extension if trust else frozenset()
    assigned = frozenset(trust)
    return assigned if extension is None else assigned & extension
