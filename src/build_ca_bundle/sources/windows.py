"""The Windows trust store, read through the standard library's ``ssl.enum_certificates``.

``enum_certificates(store)`` already spans the current-user, local-machine, enterprise and
group-policy locations (CPython ``_ssl.c``), so a root pushed by group policy or Intune is
there. Each item is ``(der, encoding, trust)``: ``trust`` is ``True`` (all purposes) or a
set of usage OIDs, taken from the certificate's EKU *property* if it has one, else from its
extension. Windows intersects the two; the standard library does not, so we do.

ROOT gives anchors; Disallowed is distrusted whatever its usages — certifi's part included;
CA gives intermediates only when asked. Windows fills ROOT lazily from Windows Update, so a
public root may be missing there: certifi covers those.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable
from typing import Union

from cryptography import x509

from build_ca_bundle.certificates import (
    ANY_EKU,
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
from build_ca_bundle.sources import StoreOptions

NAME = "windows"

Trust = Union[bool, frozenset[str], set[str]]  # noqa: UP007 - also read as data on 3.10
Enumerator = Callable[[str], Iterable[tuple[bytes, Union[str, int], Trust]]]  # noqa: UP007

# The system stores we read, and what each means for a bundle.
ROOT = "ROOT"  # trusted root authorities: the anchors
DISALLOWED = "Disallowed"  # untrusted certificates: removed everywhere, whatever their usages
CA = "CA"  # intermediate authorities: only with --include-intermediates

# Encodings: CPython names X509_ASN_ENCODING (0x1) "x509_asn" and PKCS_7_ASN_ENCODING
# (0x10000) "pkcs_7_asn"; any other value (e.g. 0x10001 for both) comes back as an int.
X509_ASN = "x509_asn"
X509_ASN_BIT = 0x1

# Names of usages for the report.
_USAGE_NAMES = {
    SERVER_AUTH: "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    ANY_EKU: "anyExtendedKeyUsage",
}


def load(options: StoreOptions, *, enum: Enumerator | None = None) -> SourceResult:
    """Read ROOT (anchors), Disallowed (distrust) and, if asked, CA (intermediates)."""
    result = SourceResult(name=NAME, kind=SourceKind.OS, complete_inputs=False)
    enumerate_store = enum or getattr(ssl, "enum_certificates", None)
    if enumerate_store is None:
        result.problems.append(
            Problem(
                "Windows certificate stores",
                "ssl.enum_certificates is not available in this Python (not a Windows build)",
            )
        )
        return result
    skipped = 0
    for der, usages in _items(enumerate_store, ROOT, result):
        cert = _parse(der, ROOT, result)
        if cert is None:
            continue
        allowed, reason = _server_auth(cert, usages)
        if allowed:
            result.candidates.append(Candidate(cert, Verdict.TRUST, f"windows:{ROOT}", reason))
        else:
            skipped += 1
    if skipped:
        result.notes.append(
            f"{skipped} ROOT certificates are not trusted for server "
            "authentication (usages or disabled): left out"
        )
    distrusted = 0
    for der, _ in _items(enumerate_store, DISALLOWED, result):
        cert = _parse(der, DISALLOWED, result)
        if cert is not None:
            distrusted += 1
            result.candidates.append(
                Candidate(
                    cert, Verdict.DISTRUST, f"windows:{DISALLOWED}", "Windows Disallowed store"
                )
            )
    if distrusted:
        result.notes.append(
            f"applied {distrusted} certificates from the Disallowed store, also to certifi's roots"
        )
    if options.include_intermediates:
        for der, usages in _items(enumerate_store, CA, result):
            cert = _parse(der, CA, result)
            if cert is not None and _server_auth(cert, usages)[0]:
                result.candidates.append(
                    Candidate(cert, Verdict.INTERMEDIATE, f"windows:{CA}", "intermediate")
                )
    return result


def _items(
    enumerate_store: Enumerator, store: str, result: SourceResult
) -> list[tuple[bytes, Trust]]:
    """The X.509 items of one store; a store that cannot be opened is a problem."""
    try:
        raw = list(enumerate_store(store))
    except (OSError, ValueError) as exc:
        result.problems.append(Problem(f"Windows {store} store", f"cannot read it ({exc})"))
        return []
    items = []
    for der, encoding, trust in raw:
        if encoding == X509_ASN or (isinstance(encoding, int) and encoding & X509_ASN_BIT):
            items.append((der, trust))
    return items


def _parse(der: bytes, store: str, result: SourceResult) -> Certificate | None:
    try:
        return parse_der(der)
    except ValueError as exc:
        result.problems.append(Problem(f"Windows {store} store", f"skipped an entry: {exc}"))
        return None


def _server_auth(cert: Certificate, usages: Trust) -> tuple[bool, str]:
    """Whether Windows would use this root for TLS servers, and the usages, for the report.

    The effective usages are the property's (what ``enum_certificates`` returns) intersected
    with the certificate's own EKU extension; an empty set means disabled for all purposes.
    """
    extension = _eku_extension(cert)
    if usages is True:
        effective = extension
    elif usages is False:
        return False, "ROOT, disabled"
    else:
        assigned = frozenset(usages)
        if not assigned:
            return False, "ROOT, disabled for all purposes"
        effective = assigned if extension is None else _intersect(assigned, extension)
    if effective is None:
        return True, "ROOT, all usages"
    names = ", ".join(sorted(_USAGE_NAMES.get(oid, oid) for oid in effective)) or "none"
    return bool(effective & SERVER_AUTH_PURPOSES), f"ROOT, usages: {names}"


def _intersect(assigned: frozenset[str], extension: frozenset[str]) -> frozenset[str]:
    if ANY_EKU in extension:
        return assigned
    if ANY_EKU in assigned:
        return extension
    return assigned & extension


def _eku_extension(cert: Certificate) -> frozenset[str] | None:
    try:
        eku = cert.x509.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return frozenset(oid.dotted_string for oid in eku)
