"""The Windows reader, fed exactly what ``ssl.enum_certificates`` returns on Windows:
``[(der bytes, "x509_asn" | "pkcs_7_asn" | int, True | frozenset of usage OIDs)]``."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from build_ca_bundle.certificates import (
    ANY_EKU,
    SERVER_AUTH,
    Candidate,
    SourceKind,
    SourceResult,
    Verdict,
    parse_der,
    select,
)
from build_ca_bundle.sources import StoreOptions, windows
from tests.pki import NOW, Issued, make_root

CODE_SIGNING = "1.3.6.1.5.5.7.3.3"
EMAIL = "1.3.6.1.5.5.7.3.4"
CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"

Item = tuple[bytes, "str | int", "bool | frozenset[str]"]


def enumerator(stores: dict[str, list[Item]]) -> windows.Enumerator:
    def enum(name: str) -> Iterable[tuple[bytes, str | int, bool | frozenset[str]]]:
        if name not in stores:
            raise PermissionError(13, "Access is denied", name)
        return list(stores[name])

    return enum


def labels(result: SourceResult, verdict: Verdict) -> set[str]:
    return {c.certificate.label for c in result.candidates if c.verdict is verdict}


def test_root_usages_decide_like_windows() -> None:
    gpo = make_root("GPO Corp Root")
    any_eku = make_root("Any Purpose Root")
    code_only = make_root("Code Signing Root")
    disabled = make_root("Disabled Root")
    p7 = make_root("PKCS7 Encoded")
    combined = make_root("X509 Or PKCS7")
    # The property allows serverAuth, the certificate's own EKU only e-mail: Windows says no.
    mismatch = make_root("Email EKU Root", eku=[ExtendedKeyUsageOID.EMAIL_PROTECTION])
    both = make_root("Both Allow", eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    stores: dict[str, list[Item]] = {
        "ROOT": [
            (gpo.der, "x509_asn", True),
            (any_eku.der, "x509_asn", frozenset({ANY_EKU})),
            (code_only.der, "x509_asn", frozenset({CODE_SIGNING})),
            (disabled.der, "x509_asn", frozenset()),
            (p7.der, "pkcs_7_asn", True),
            (combined.der, 0x10001, True),
            (mismatch.der, "x509_asn", frozenset({SERVER_AUTH, CLIENT_AUTH})),
            (both.der, "x509_asn", frozenset({SERVER_AUTH})),
        ],
        "Disallowed": [],
    }
    result = windows.load(StoreOptions(environ={}), enum=enumerator(stores))
    assert labels(result, Verdict.TRUST) == {
        "GPO Corp Root",
        "Any Purpose Root",
        "X509 Or PKCS7",
        "Both Allow",
    }
    reasons = {c.certificate.label: c.reason for c in result.candidates}
    assert reasons["GPO Corp Root"] == "ROOT, all usages"
    assert reasons["Any Purpose Root"] == "ROOT, usages: anyExtendedKeyUsage"
    assert any("3 ROOT certificates are not trusted" in note for note in result.notes)
    assert result.problems == []


def test_disallowed_wins_whatever_its_usages_and_also_over_certifi() -> None:
    bad = make_root("Compromised Root")
    kept = make_root("Corp Root")
    stores: dict[str, list[Item]] = {
        "ROOT": [(bad.der, "x509_asn", True), (kept.der, "x509_asn", True)],
        "Disallowed": [(bad.der, "x509_asn", frozenset({EMAIL}))],
    }
    result = windows.load(StoreOptions(environ={}), enum=enumerator(stores))
    assert labels(result, Verdict.DISTRUST) == {"Compromised Root"}
    certifi = SourceResult(name="certifi", kind=SourceKind.BASE)
    certifi.candidates = [Candidate(parse_der(bad.der), Verdict.TRUST, "certifi")]
    selection = select([certifi, result], now=NOW)
    assert [e.certificate.label for e in selection.entries] == ["Corp Root"]
    assert selection.excluded[0].reason.startswith("distrusted by windows:Disallowed")
    assert any("Disallowed store" in note for note in result.notes)


def test_bad_entries_and_unreadable_stores_are_problems() -> None:
    kept = make_root("Still Read")
    stores: dict[str, list[Item]] = {
        "ROOT": [(b"\x30\x03\x02\x01\x00", "x509_asn", True), (kept.der, "x509_asn", True)],
    }  # no Disallowed: enum raises PermissionError, as for a store one cannot open
    result = windows.load(StoreOptions(environ={}), enum=enumerator(stores))
    assert labels(result, Verdict.TRUST) == {"Still Read"}
    wheres = [p.where for p in result.problems]
    assert wheres == ["Windows ROOT store", "Windows Disallowed store"]
    assert "Access is denied" in result.problems[1].message


def test_intermediates_only_when_asked_and_only_if_they_chain() -> None:
    root = make_root("Issuing Root")
    chained = root.issue("Proxy Intermediate", ca=True)
    orphan: Issued = make_root("Unknown").issue("Orphan Intermediate", ca=True)
    stores: dict[str, list[Item]] = {
        "ROOT": [(root.der, "x509_asn", True)],
        "Disallowed": [],
        "CA": [(chained.der, "x509_asn", True), (orphan.der, "x509_asn", True)],
    }
    plain = windows.load(StoreOptions(environ={}), enum=enumerator(stores))
    assert [c.certificate.label for c in plain.candidates] == ["Issuing Root"]
    asked = windows.load(
        StoreOptions(environ={}, include_intermediates=True), enum=enumerator(stores)
    )
    selection = select([asked], now=NOW, include_intermediates=True)
    assert {e.certificate.label for e in selection.entries} == {
        "Issuing Root",
        "Proxy Intermediate",
    }


def test_duplicates_across_locations_count_once() -> None:
    root = make_root("In Two Locations")
    stores: dict[str, list[Item]] = {
        "ROOT": [(root.der, "x509_asn", True), (root.der, "x509_asn", True)],
        "Disallowed": [],
    }
    result = windows.load(StoreOptions(environ={}), enum=enumerator(stores))
    assert len(select([result], now=NOW).entries) == 1


def test_no_enum_certificates_outside_windows() -> None:
    result = windows.load(StoreOptions(environ={}))  # Linux CPython has no enum_certificates
    assert result.candidates == []
    assert "not available" in result.problems[0].message


@pytest.mark.native
def test_this_windows_machines_store_overlaps_certifi() -> None:
    import ssl

    if not hasattr(ssl, "enum_certificates"):
        pytest.skip("not Windows")
    from build_ca_bundle.sources import mozilla

    result = windows.load(StoreOptions())
    certifi = {c.certificate.sha256 for c in mozilla.load().candidates}
    found = {c.certificate.sha256 for c in result.candidates if c.verdict is Verdict.TRUST}
    # ROOT fills lazily from Windows Update: expect a fair share, not all of certifi.
    assert len(certifi & found) >= 0.1 * len(certifi)


def test_windows_stores_cannot_be_watched_so_no_run_is_skipped() -> None:
    stores: dict[str, list[Item]] = {
        "ROOT": [(make_root("R").der, "x509_asn", True)],
        "Disallowed": [],
    }
    result = windows.load(StoreOptions(environ={}), enum=enumerator(stores))
    assert result.complete_inputs is False
