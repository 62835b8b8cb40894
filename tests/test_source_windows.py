"""The Windows reader, fed exactly what ``ssl.enum_certificates`` returns on Windows:
a list of ``(der bytes, "x509_asn" | "pkcs_7_asn" | int, True | frozenset of usage OIDs)``.

CPython builds that list from a set, so one store never holds the same tuple twice, but the
same certificate can come back twice with different usages (one per location)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st

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
from build_ca_bundle.sources import StoreOptions, mozilla, windows
from tests.pki import CODE_SIGNING, EMAIL, NOW, make_expired_root, make_root
from tests.pki import SERVER_AUTH as SERVER_AUTH_EKU

CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2"
CODE_SIGNING_OID = "1.3.6.1.5.5.7.3.3"
EMAIL_OID = "1.3.6.1.5.5.7.3.4"
UNPARSABLE = b"\x30\x03\x02\x01\x00"  # a SEQUENCE holding one INTEGER: DER, not a certificate

Stores = dict[str, list[windows.Item]]


class FakeEnum:
    """``ssl.enum_certificates`` over fixed stores; a store it does not have is one that
    cannot be opened (CPython raises OSError, PermissionError for access denied)."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.calls: list[str] = []

    def __call__(self, name: str) -> list[windows.Item]:
        self.calls.append(name)
        if name not in self.stores:
            raise PermissionError(13, "Access is denied", name)
        return list(self.stores[name])


def read(stores: Stores, *, include_intermediates: bool = False) -> SourceResult:
    options = StoreOptions(environ={}, include_intermediates=include_intermediates)
    return windows.load(options, enum=FakeEnum(stores))


def by_label(result: SourceResult, verdict: Verdict) -> dict[str, Candidate]:
    return {c.certificate.label: c for c in result.candidates if c.verdict is verdict}


def base(*ders: bytes) -> SourceResult:
    """A certifi-like source holding these certificates."""
    result = SourceResult(name="certifi", kind=SourceKind.BASE)
    result.candidates = [Candidate(parse_der(der), Verdict.TRUST, "certifi") for der in ders]
    return result


# (what the ROOT entry looks like, its certificate's own EKU extension, kept?, reason)
ROOT_CASES = [
    pytest.param("x509_asn", True, None, "ROOT, all usages", id="gpo-root-all-usages"),
    pytest.param(
        "x509_asn", frozenset({CODE_SIGNING_OID}), None, None, id="code-signing-only-dropped"
    ),
    pytest.param(
        "x509_asn",
        frozenset({SERVER_AUTH, CLIENT_AUTH_OID}),
        [EMAIL],
        None,
        id="property-allows-but-extension-is-email-only-dropped",
    ),
    pytest.param(
        "x509_asn",
        {SERVER_AUTH, CLIENT_AUTH_OID},  # a plain set is accepted as well
        None,
        "ROOT, usages: serverAuth, clientAuth",
        id="server-and-client-auth-kept",
    ),
    pytest.param(
        "x509_asn",
        frozenset({ANY_EKU}),
        None,
        "ROOT, usages: anyExtendedKeyUsage",
        id="any-eku-kept",
    ),
    pytest.param(
        "x509_asn",
        frozenset({SERVER_AUTH, EMAIL_OID}),
        [SERVER_AUTH_EKU, CODE_SIGNING],
        "ROOT, usages: serverAuth",
        id="intersection-reported",
    ),
    pytest.param(
        # CertGetEnhancedKeyUsage intersects OID strings: anyEKU matches only itself.
        "x509_asn",
        frozenset({ANY_EKU}),
        [SERVER_AUTH_EKU],
        None,
        id="any-eku-property-with-server-auth-extension-dropped-as-windows-does",
    ),
    pytest.param("x509_asn", frozenset(), None, None, id="disabled-for-all-purposes-dropped"),
    pytest.param(0x10001, True, None, "ROOT, all usages", id="x509-or-pkcs7-65537-kept"),
]


@pytest.mark.parametrize(("encoding", "trust", "extension", "reason"), ROOT_CASES)
def test_root_is_an_anchor_only_where_windows_trusts_it_for_servers(
    encoding: str | int,
    trust: windows.Trust,
    extension: list[x509.ObjectIdentifier] | None,
    reason: str | None,
) -> None:
    root = make_root("Corp Root", eku=extension)
    result = read({"ROOT": [(root.der, encoding, trust)], "Disallowed": []})
    assert result.problems == []
    if reason is None:
        assert result.candidates == []
        assert result.notes == [
            "1 ROOT certificate(s) are not trusted by Windows for server authentication "
            "(restricted to other usages, or disabled): left out"
        ]
    else:
        (candidate,) = result.candidates
        assert (candidate.verdict, candidate.reason) == (Verdict.TRUST, reason)
        assert candidate.source == "windows:ROOT"
        assert [e.certificate.label for e in select([result], now=NOW).entries] == ["Corp Root"]


def test_pkcs7_and_other_encodings_are_skipped_like_the_stdlib_does() -> None:
    pkcs7, odd, kept = make_root("PKCS7"), make_root("Odd Encoding"), make_root("Kept")
    stores: Stores = {
        "ROOT": [
            (pkcs7.der, "pkcs_7_asn", True),
            (odd.der, 0x10000 | 0x20, True),  # no X509_ASN_ENCODING bit
            (kept.der, "x509_asn", True),
        ],
        "Disallowed": [],
    }
    result = read(stores)
    assert set(by_label(result, Verdict.TRUST)) == {"Kept"}
    assert "skipped 2 ROOT entries not encoded as X.509" in result.notes
    assert result.problems == []


def test_disallowed_removes_a_certifi_root_whatever_usages_its_entry_carries() -> None:
    certifi = mozilla.load()
    public = certifi.candidates[0].certificate  # a real Mozilla root the admin distrusted
    corp = make_root("Corp Root")
    stores: Stores = {
        "ROOT": [(corp.der, "x509_asn", True), (public.der, "x509_asn", True)],
        # Only e-mail in the entry's usages: Windows still distrusts it for everything.
        "Disallowed": [(public.der, "x509_asn", frozenset({EMAIL_OID}))],
    }
    result = read(stores)
    distrust = by_label(result, Verdict.DISTRUST)[public.label]
    assert (distrust.source, distrust.reason) == ("windows:Disallowed", "Windows Disallowed store")
    assert any(
        "applied 1 certificate(s) from the Windows Disallowed store" in n for n in result.notes
    )

    selection = select([certifi, result], now=NOW)
    kept = {entry.certificate.sha256 for entry in selection.entries}
    assert public.sha256 not in kept
    assert corp.sha256 in kept
    assert len(kept) == len(certifi.candidates)  # certifi minus one, plus the corporate root
    (excluded,) = [e for e in selection.excluded if e.certificate == public]
    assert excluded.reason == "distrusted by windows:Disallowed (Windows Disallowed store)"


def test_disallowed_removes_a_root_from_a_small_base_source_too() -> None:
    bad = make_root("Compromised Root")
    result = read({"ROOT": [], "Disallowed": [(bad.der, "x509_asn", frozenset({EMAIL_OID}))]})
    assert select([base(bad.der), result], now=NOW).entries == []


def test_an_unparsable_entry_is_a_problem_naming_store_and_entry() -> None:
    kept = make_root("Still Read")
    stores: Stores = {
        "ROOT": [(UNPARSABLE, "x509_asn", True), (kept.der, "x509_asn", True)],
        "Disallowed": [],
    }
    result = read(stores)
    assert set(by_label(result, Verdict.TRUST)) == {"Still Read"}
    (problem,) = result.problems
    assert problem.where == "Windows ROOT store (entry 1)"
    assert problem.message.startswith("skipped (SHA-256 ")
    assert "not a valid X.509 certificate" in problem.message


def test_a_malformed_item_is_a_problem_not_a_crash() -> None:
    kept = make_root("Still Read")
    items: list[object] = [(kept.der, "x509_asn"), ("text", "x509_asn", True), None]
    items.append((kept.der, "x509_asn", True))
    wrong_shapes = cast("list[windows.Item]", items)  # what a broken enumerator could return
    result = windows.load(StoreOptions(environ={}), enum=lambda name: wrong_shapes)
    assert set(by_label(result, Verdict.TRUST)) == {"Still Read"}
    wheres = {p.where for p in result.problems}
    assert {f"Windows ROOT store (entry {n})" for n in (1, 2, 3)} <= wheres


def test_an_unreadable_disallowed_store_is_a_problem_and_roots_are_still_read() -> None:
    kept = make_root("Still Read")
    result = read({"ROOT": [(kept.der, "x509_asn", True)]})  # Disallowed: access denied
    assert set(by_label(result, Verdict.TRUST)) == {"Still Read"}
    (problem,) = result.problems
    assert problem.where == "Windows Disallowed store"
    assert "Access is denied" in problem.message
    assert "could not be removed" in problem.message


def test_an_unreadable_root_store_says_so_and_disallowed_still_applies() -> None:
    bad = make_root("Compromised Root")
    result = read({"Disallowed": [(bad.der, "x509_asn", True)]})
    (problem,) = result.problems
    assert problem.where == "Windows ROOT store"
    assert "no Windows roots are in the bundle" in problem.message
    assert select([base(bad.der), result], now=NOW).entries == []


def test_ca_store_is_not_read_unless_intermediates_are_asked_for() -> None:
    root = make_root("Issuing Root")
    chained = root.issue("Proxy Intermediate", ca=True)
    orphan = make_root("Unknown Root").issue("Orphan Intermediate", ca=True)
    stores: Stores = {
        "ROOT": [(root.der, "x509_asn", True)],
        "Disallowed": [],
        "CA": [
            (chained.der, "x509_asn", True),
            (orphan.der, "x509_asn", True),
            (root.der, "x509_asn", True),  # roots also show up in CA: counted once
        ],
    }
    enum = FakeEnum(stores)
    plain = windows.load(StoreOptions(environ={}), enum=enum)
    assert "CA" not in enum.calls
    assert set(by_label(plain, Verdict.TRUST)) == {"Issuing Root"}
    assert by_label(plain, Verdict.INTERMEDIATE) == {}

    asked = read(stores, include_intermediates=True)
    offered = by_label(asked, Verdict.INTERMEDIATE)
    assert offered["Proxy Intermediate"].reason == "CA, all usages"
    selection = select([asked], now=NOW, include_intermediates=True)
    assert [e.certificate.label for e in selection.entries] == [
        "Issuing Root",
        "Proxy Intermediate",
    ]
    assert select([asked], now=NOW).entries[0].certificate.label == "Issuing Root"
    assert len(select([asked], now=NOW).entries) == 1  # not without the flag to select()


def test_ca_store_intermediate_restricted_to_code_signing_is_not_offered() -> None:
    root = make_root("Issuing Root")
    signing = root.issue("Code Signing CA", ca=True)
    stores: Stores = {
        "ROOT": [(root.der, "x509_asn", True)],
        "Disallowed": [],
        "CA": [(signing.der, "x509_asn", frozenset({CODE_SIGNING_OID}))],
    }
    result = read(stores, include_intermediates=True)
    assert by_label(result, Verdict.INTERMEDIATE) == {}


def test_a_root_in_two_locations_counts_once_and_any_trusting_instance_wins() -> None:
    root = make_root("In Two Locations")
    stores: Stores = {
        # Disabled for servers in one location, trusted in another: Chromium trusts it.
        "ROOT": [(root.der, "x509_asn", frozenset({CODE_SIGNING_OID})), (root.der, 65537, True)],
        "Disallowed": [(root.der, "x509_asn", True), (root.der, "x509_asn", frozenset())],
    }
    result = read(stores)
    verdicts = sorted(c.verdict.value for c in result.candidates)
    assert verdicts == ["distrust", "trust"]
    assert not any("not trusted" in note for note in result.notes)
    assert any("applied 1 certificate(s)" in note for note in result.notes)


def test_duplicates_across_stores_give_one_bundle_entry() -> None:
    root = make_root("Everywhere")
    stores: Stores = {
        "ROOT": [(root.der, "x509_asn", True), (root.der, "x509_asn", frozenset({SERVER_AUTH}))],
        "Disallowed": [],
        "CA": [(root.der, "x509_asn", True)],
    }
    result = read(stores, include_intermediates=True)
    selection = select([base(root.der), result], now=NOW, include_intermediates=True)
    (entry,) = selection.entries
    assert entry.origins == ("certifi", "windows:ROOT")


def test_expired_roots_are_left_to_select_which_reports_them() -> None:
    expired = make_expired_root("Old Corp Root")
    result = read({"ROOT": [(expired.der, "x509_asn", True)], "Disallowed": []})
    assert set(by_label(result, Verdict.TRUST)) == {"Old Corp Root"}
    selection = select([result], now=NOW)
    assert selection.entries == []
    assert selection.excluded[0].reason.startswith("expired on ")


def test_no_enum_certificates_outside_windows() -> None:
    result = windows.load(StoreOptions(environ={}))  # Linux CPython has no enum_certificates
    assert result.candidates == []
    (problem,) = result.problems
    assert "ssl.enum_certificates is not available" in problem.message


def test_the_reader_names_the_registry_keys_of_every_store_it_read() -> None:
    """The unchanged-run check watches these (tests/test_winstate.py, and under Wine)."""
    result = read({"ROOT": [(make_root("R").der, "x509_asn", True)], "Disallowed": []})
    assert result.complete_inputs is True
    keys = result.registry_keys
    for expected in (
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\SystemCertificates\ROOT",
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\SystemCertificates\AuthRoot",
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\SystemCertificates\ROOT",
        r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\EnterpriseCertificates\ROOT",
        r"HKEY_CURRENT_USER\Software\Microsoft\SystemCertificates\ROOT",
        r"HKEY_CURRENT_USER\Software\Policies\Microsoft\SystemCertificates\Disallowed",
        r"HKEY_USERS\*\Software\Microsoft\SystemCertificates\Disallowed",
    ):
        assert expected in keys
    assert not any(key.endswith("\\CA") for key in keys)
    with_ca = read({"ROOT": [], "Disallowed": [], "CA": []}, include_intermediates=True)
    assert r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\SystemCertificates\CA" in with_ca.registry_keys


@pytest.mark.parametrize("scope", ["global", "site", "none"])
def test_any_scope_but_user_reads_the_machines_stores_alone(scope: str, tmp_path: Path) -> None:
    """A machine-wide bundle must not hold a root the account that ran the build added for
    itself: ssl.enum_certificates merges the account's stores in, so only --scope user
    reads it; the others read the machine's locations (sources/crypt32.py, under Wine in
    tests/test_wine.py) and watch only the machine's registry keys."""
    account, machine = make_root("Account Root"), make_root("Machine Root")
    merged = FakeEnum({"ROOT": [(account.der, "x509_asn", True), (machine.der, "x509_asn", True)]})
    merged.stores["Disallowed"] = []
    machine_only = FakeEnum({"ROOT": [(machine.der, "x509_asn", True)], "Disallowed": []})
    appdata = tmp_path / "AppData"
    options = StoreOptions(scope=scope, environ={"APPDATA": str(appdata)})

    result = windows.load(options, enum=merged, machine_enum=machine_only)

    assert [c.certificate.label for c in result.candidates] == ["Machine Root"]
    assert merged.calls == []
    assert machine_only.calls == ["ROOT", "Disallowed"]
    assert all(key.startswith("HKEY_LOCAL_MACHINE\\SOFTWARE\\") for key in result.registry_keys)
    assert not any("Cryptography\\Services" in key for key in result.registry_keys)
    assert not any(str(path).startswith(str(appdata)) for path in result.inputs)

    user = windows.load(
        StoreOptions(scope="user", environ={"APPDATA": str(appdata)}),
        enum=merged,
        machine_enum=machine_only,
    )
    assert {c.certificate.label for c in user.candidates} == {"Account Root", "Machine Root"}
    assert machine_only.calls == ["ROOT", "Disallowed"]  # not called again
    assert any(key.startswith("HKEY_CURRENT_USER\\") for key in user.registry_keys)


def test_no_machine_reader_outside_windows() -> None:
    result = windows.load(StoreOptions(scope="global", environ={}))
    assert result.candidates == []
    (problem,) = result.problems
    assert "crypt32 cannot be called" in problem.message


_ITEMS = st.lists(
    st.tuples(
        st.one_of(st.binary(max_size=64), st.just(UNPARSABLE)),
        st.one_of(st.sampled_from(["x509_asn", "pkcs_7_asn"]), st.integers(0, 0x20001)),
        st.one_of(st.booleans(), st.frozensets(st.sampled_from([SERVER_AUTH, ANY_EKU, "1.2"]))),
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(root=_ITEMS, disallowed=_ITEMS)
def test_any_store_content_gives_problems_never_an_exception(
    root: list[windows.Item], disallowed: list[windows.Item]
) -> None:
    result = read({"ROOT": root, "Disallowed": disallowed})
    assert result.candidates == []  # no certificate among them
    assert all(
        p.where.startswith(("Windows ROOT store", "Windows Disallowed")) for p in result.problems
    )


@pytest.mark.native
def test_this_windows_machines_store_overlaps_certifi() -> None:
    import ssl

    if not hasattr(ssl, "enum_certificates"):
        pytest.skip("not Windows")
    result = windows.load(StoreOptions())
    certifi = {c.certificate.sha256 for c in mozilla.load().candidates}
    found = {c.certificate.sha256 for c in result.candidates if c.verdict is Verdict.TRUST}
    # ROOT fills lazily from Windows Update: expect a fair share, not all of certifi.
    assert len(certifi & found) >= 0.1 * len(certifi)
