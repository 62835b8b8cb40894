"""The macOS reader, through a fake `security` executable that answers as Apple's does.

Every test runs the real subprocess path: ``macos.load`` starts ``python fake_security.py``,
which prints PEM, keychain lists and exported trust-settings plists made here on the spot.
"""

from __future__ import annotations

import hashlib
import json
import plistlib
import sys
from pathlib import Path
from typing import Any

import pytest

from build_ca_bundle.certificates import (
    Candidate,
    SourceKind,
    SourceResult,
    Verdict,
    parse_der,
    select,
)
from build_ca_bundle.sources import StoreOptions, macos
from tests.pki import NOW, Issued, make_root, make_sha1_root

FAKE = Path(__file__).with_name("fake_security.py")
LOGIN = "/Users/u/Library/Keychains/login.keychain-db"
SSL = {"kSecTrustSettingsPolicy": macos.SSL_POLICY, "kSecTrustSettingsPolicyName": "sslServer"}
SMIME = {"kSecTrustSettingsPolicy": bytes.fromhex("2a864886f763640108")}  # ...100.1.8
BASIC = {"kSecTrustSettingsPolicy": bytes.fromhex("2a864886f763640102")}  # ...100.1.2 basicX509
Settings = list[dict[str, Any]]


def sha1(cert: Issued) -> str:
    return hashlib.sha1(cert.der, usedforsecurity=False).hexdigest().upper()


def export(entries: dict[Issued, Settings | None]) -> bytes:
    """A trust-settings export as `security trust-settings-export` writes it."""
    trust_list: dict[str, Any] = {
        # Present in real exports; its settings must never be applied to a certificate.
        macos.DEFAULT_ROOT_RECORD: {"trustSettings": [{"kSecTrustSettingsResult": 3}]}
    }
    for cert, value in entries.items():
        record: dict[str, Any] = {
            "issuerName": cert.cert.issuer.public_bytes(),
            "serialNumber": cert.cert.serial_number.to_bytes(20, "big").lstrip(b"\0"),
            "modDate": NOW.replace(tzinfo=None, microsecond=0),
        }
        if value is not None:
            record["trustSettings"] = value
        trust_list[sha1(cert)] = record
    return plistlib.dumps({"trustVersion": 1, "trustList": trust_list})


class FakeMac:
    """The keychains and trust settings the fake `security` answers with."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv("FAKE_SECURITY_DATA", str(folder))
        self.keychains: dict[str, list[Issued]] = {
            macos.SYSTEM_ROOTS: [],
            macos.SYSTEM_KEYCHAIN: [],
            LOGIN: [],
        }
        # keychain_list.c display_name: four spaces, the quoted path.
        self.write("list-keychains.txt", f'    "{LOGIN}"\n'.encode())
        self.root = folder / "root"
        self.home = folder / "home"

    def write(self, name: str, data: bytes) -> None:
        (self.folder / name).write_bytes(data)

    def add(self, keychain: str, *certs: Issued) -> None:
        self.keychains.setdefault(keychain, []).extend(certs)

    def settings(self, domain: str, entries: dict[Issued, Settings | None]) -> None:
        self.write(f"{domain}.plist", export(entries))

    def fail(self, call: str, code: int, message: str) -> None:
        self.write("fail.json", json.dumps({call: [code, message]}).encode())

    def calls(self) -> list[str]:
        return (self.folder / "calls.log").read_text().splitlines()

    def load(self, scope: str = "user", timeout: float = 10) -> SourceResult:
        mapping: dict[str, list[str]] = {}
        for keychain, certs in self.keychains.items():
            mapping[keychain] = []
            for cert in certs:
                name = f"{cert.sha256}.der"
                self.write(name, cert.der)
                mapping[keychain].append(name)
        self.write("keychains.json", json.dumps(mapping).encode())
        (self.folder / "calls.log").write_text("")
        return macos.load(
            StoreOptions(scope=scope, environ={}),
            security=(sys.executable, str(FAKE)),
            timeout=timeout,
            system_root=self.root,
            home=self.home,
        )


@pytest.fixture
def mac(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeMac:
    return FakeMac(tmp_path / "fake-mac", monkeypatch)


def verdicts(result: SourceResult) -> dict[str, Verdict]:
    return {c.certificate.label: c.verdict for c in result.candidates}


def reasons(result: SourceResult) -> dict[str, str]:
    return {c.certificate.label: c.reason for c in result.candidates}


# --- the everyday cases ------------------------------------------------------------------


def test_mdm_root_with_admin_trust_is_kept_and_without_it_dropped(mac: FakeMac) -> None:
    mdm, stray = make_root("MDM Corp Root"), make_root("Stray Root")
    mac.add(macos.SYSTEM_KEYCHAIN, mdm, stray)
    mac.settings("admin", {mdm: [{**SSL, "kSecTrustSettingsResult": 1}]})
    result = mac.load()
    assert verdicts(result) == {"MDM Corp Root": Verdict.TRUST}
    assert reasons(result) == {
        "MDM Corp Root": "System.keychain: admin trust settings: TrustRoot for SSL"
    }
    assert "1 keychain certificates are not trusted for SSL: left out" in result.notes
    assert result.problems == []


def test_sha1_self_signed_roots_count_as_roots(mac: FakeMac) -> None:
    """TrustRoot needs a self-signed certificate, and a root self-signed with SHA-1 is one:
    many corporate roots made before 2017 are, and so are Apple-shipped roots such as
    DigiCert Global Root CA (cryptography's verify_directly_issued_by refuses SHA-1)."""
    corporate, shipped = make_sha1_root("Old Corp Proxy Root"), make_sha1_root("Old Public Root")
    mac.add(macos.SYSTEM_KEYCHAIN, corporate)
    mac.add(macos.SYSTEM_ROOTS, shipped)
    mac.settings("admin", {corporate: [{**SSL, "kSecTrustSettingsResult": 1}]})
    result = mac.load()
    assert verdicts(result) == {
        "Old Corp Proxy Root": Verdict.TRUST,
        "Old Public Root": Verdict.TRUST,
    }
    assert reasons(result)["Old Corp Proxy Root"].endswith("TrustRoot for SSL")


def test_system_roots_are_trusted_without_settings(mac: FakeMac) -> None:
    mac.add(macos.SYSTEM_ROOTS, make_root("Apple Shipped Root"))
    result = mac.load()
    assert verdicts(result) == {"Apple Shipped Root": Verdict.TRUST}
    assert reasons(result) == {"Apple Shipped Root": "SystemRootCertificates.keychain: system root"}


def test_user_deny_of_a_system_root_counts_only_in_user_scope(mac: FakeMac) -> None:
    denied = make_root("Root The User Denied")
    mac.add(macos.SYSTEM_ROOTS, denied)
    mac.settings("user", {denied: [{**SSL, "kSecTrustSettingsResult": 3}]})

    user = mac.load(scope="user")
    assert verdicts(user) == {"Root The User Denied": Verdict.DISTRUST}
    assert reasons(user) == {
        "Root The User Denied": "SystemRootCertificates.keychain: user trust settings: Deny for SSL"
    }
    certifi = SourceResult(name="certifi", kind=SourceKind.BASE)
    certifi.candidates = [Candidate(parse_der(denied.der), Verdict.TRUST, "certifi")]
    assert select([certifi, user], now=NOW).entries == []  # gone from certifi's part too

    machine = mac.load(scope="global")
    assert verdicts(machine) == {"Root The User Denied": Verdict.TRUST}
    calls = mac.calls()
    assert not any(LOGIN in call or call.startswith("list-keychains") for call in calls)
    exports = [call for call in calls if call.startswith("trust-settings-export")]
    assert len(exports) == 1
    assert exports[0].startswith("trust-settings-export -d ")  # the admin domain only


def test_a_deny_for_a_root_in_no_keychain_removes_certifis_copy(mac: FakeMac) -> None:
    """macOS applies trust settings by hash, to a certificate from anywhere: an admin who
    distrusted a public root and deleted it from the System keychain (`security
    delete-certificate` without -t keeps the settings) has it distrusted still. certifi's
    copy was kept before the source stated such Denies by hash."""
    dropped, user_denied = make_root("Root Deleted But Denied"), make_root("User Denied Only")
    only_trusted, kept = make_root("Trusted In No Keychain"), make_root("Untouched Root")
    mac.settings(
        "admin",
        {
            dropped: [{**SSL, "kSecTrustSettingsResult": 3}],
            only_trusted: [{**SSL, "kSecTrustSettingsResult": 1}],  # no copy: adds nothing
        },
    )
    mac.settings("user", {user_denied: [{**SSL, "kSecTrustSettingsResult": 3}]})
    certifi = SourceResult(name="certifi", kind=SourceKind.BASE)
    certifi.candidates = [
        Candidate(parse_der(cert.der), Verdict.TRUST, "certifi")
        for cert in (dropped, user_denied, only_trusted, kept)
    ]

    user = mac.load(scope="user")
    assert user.candidates == []
    assert user.distrusted_sha1 == {
        sha1(dropped): ("macos:trust settings", "admin trust settings: Deny for SSL"),
        sha1(user_denied): ("macos:trust settings", "user trust settings: Deny for SSL"),
    }
    assert user.count(Verdict.DISTRUST) == 2  # the summary's "macos: 0 trusted, 2 distrusted"
    selection = select([certifi, user], now=NOW)
    assert [e.certificate.label for e in selection.entries] == [
        "Trusted In No Keychain",
        "Untouched Root",
    ]
    assert {e.certificate.label: e.reason for e in selection.excluded} == {
        "Root Deleted But Denied": "distrusted by macos:trust settings "
        "(admin trust settings: Deny for SSL)",
        "User Denied Only": "distrusted by macos:trust settings "
        "(user trust settings: Deny for SSL)",
    }

    machine = mac.load(scope="global")  # the user domain is not read machine-wide
    assert list(machine.distrusted_sha1) == [sha1(dropped)]
    labels = [e.certificate.label for e in select([certifi, machine], now=NOW).entries]
    assert labels == ["User Denied Only", "Trusted In No Keychain", "Untouched Root"]


def test_admin_settings_overrule_user_settings_as_trustd_has_it(mac: FakeMac) -> None:
    """trustd (SecLegacyAnchorSourceCopyUsageConstraints, rdar://37052515): when the admin
    domain has settings for a certificate, the user's are not read. The reader had the
    order of Go 1.16 and of SecTrustSettings.h's comment: a user's Always Trust lifted an
    admin's Deny, and a user's Deny removed an MDM root (from certifi's part too)."""
    denied, mdm_root = make_root("Admin Denied"), make_root("Zscaler Root CA")
    smime_only, user_only = make_root("Admin SMIME Only"), make_root("User Trusted Only")
    mac.add(macos.SYSTEM_KEYCHAIN, denied, mdm_root, smime_only, user_only)
    mac.settings(
        "admin",
        {
            denied: [{**SSL, "kSecTrustSettingsResult": 3}],
            mdm_root: [{**SSL, "kSecTrustSettingsResult": 1}],
            smime_only: [{**SMIME, "kSecTrustSettingsResult": 1}],
        },
    )
    mac.settings(
        "user",
        {
            denied: [{**SSL, "kSecTrustSettingsResult": 1}],
            mdm_root: [{**SSL, "kSecTrustSettingsResult": 3}],
            smime_only: [{**SSL, "kSecTrustSettingsResult": 1}],
            user_only: [{**SSL, "kSecTrustSettingsResult": 1}],
        },
    )
    result = mac.load()
    assert verdicts(result) == {
        "Admin Denied": Verdict.DISTRUST,
        "Zscaler Root CA": Verdict.TRUST,
        "User Trusted Only": Verdict.TRUST,  # no admin settings: the user's apply
    }  # "Admin SMIME Only": the admin's settings decide nothing for SSL, and the user's go unread
    assert "admin trust settings" in reasons(result)["Zscaler Root CA"]
    assert "user trust settings" in reasons(result)["User Trusted Only"]


def test_trust_as_root_makes_no_anchor_of_a_root(mac: FakeMac) -> None:
    """TrustAsRoot is for a non-root certificate (trustd and Go: !selfSigned)."""
    root = make_root("Self-Signed As Root")
    mac.add(macos.SYSTEM_KEYCHAIN, root)
    mac.settings("admin", {root: [{**SSL, "kSecTrustSettingsResult": 2}]})
    assert verdicts(mac.load()) == {}


def test_disable_user_trust_settings_is_honoured(mac: FakeMac) -> None:
    denied = make_root("System Root")
    mac.add(macos.SYSTEM_ROOTS, denied)
    mac.settings("user", {denied: [{**SSL, "kSecTrustSettingsResult": 3}]})
    preferences = mac.root / "Library/Preferences/com.apple.security.plist"
    preferences.parent.mkdir(parents=True)
    preferences.write_bytes(
        plistlib.dumps({"DisableUserTrustSettings": True}, fmt=plistlib.FMT_BINARY)
    )
    result = mac.load()
    assert verdicts(result) == {"System Root": Verdict.TRUST}
    assert any("DisableUserTrustSettings" in note for note in result.notes)
    exports = [c.split()[:2] for c in mac.calls() if c.startswith("trust-settings-export")]
    assert exports == [["trust-settings-export", "-d"]]  # the user domain was not read


# --- one domain's rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param([], Verdict.TRUST, id="empty array: trusted for everything"),
        pytest.param(None, Verdict.TRUST, id="no trustSettings key: the same"),
        pytest.param([{**SSL}], Verdict.TRUST, id="no result: TrustRoot"),
        pytest.param([{**SMIME, "kSecTrustSettingsResult": 1}], None, id="S/MIME only"),
        pytest.param([{**SSL, "kSecTrustSettingsResult": 4}], None, id="unspecified"),
        pytest.param(
            [{**SSL, "kSecTrustSettingsResult": 0}, {**SSL, "kSecTrustSettingsResult": 1}],
            None,
            id="the first dict that applies decides, an Invalid one too (trustd; not Go)",
        ),
        pytest.param(
            [{**SSL, "kSecTrustSettingsResult": 4}, {"kSecTrustSettingsResult": 1}],
            None,
            id="an Unspecified first dict: not trusted, though a later one trusts",
        ),
        pytest.param(
            [{**SSL, "kSecTrustSettingsResult": 4}, {**SSL, "kSecTrustSettingsResult": 3}],
            None,
            id="an Unspecified first dict: not denied, though a later one denies",
        ),
        pytest.param(
            [{**SSL, "kSecTrustSettingsPolicyName": "sslClient", "kSecTrustSettingsResult": 3}],
            None,
            id="sslClient shares the SSL OID: its Deny is not a server Deny",
        ),
        pytest.param(
            [{**SSL, "kSecTrustSettingsPolicyName": "sslClient", "kSecTrustSettingsResult": 1}],
            None,
            id="nor its trust server trust",
        ),
        pytest.param(
            [
                {**SSL, "kSecTrustSettingsPolicyName": "sslClient", "kSecTrustSettingsResult": 3},
                {**SSL, "kSecTrustSettingsResult": 1},
            ],
            Verdict.TRUST,
            id="past the client dict, the server one decides",
        ),
        pytest.param(
            [{"kSecTrustSettingsPolicyName": "sslServer", "kSecTrustSettingsResult": 3}],
            Verdict.DISTRUST,
            id="a name alone: sslServer applies",
        ),
        pytest.param(
            [{"kSecTrustSettingsPolicy": macos.SSL_POLICY, "kSecTrustSettingsResult": 3}],
            Verdict.DISTRUST,
            id="the SSL OID alone applies",
        ),
        pytest.param(
            [{**SMIME, "kSecTrustSettingsResult": 3}, {**SSL, "kSecTrustSettingsResult": 1}],
            Verdict.TRUST,
            id="the first SSL dict wins",
        ),
        pytest.param(
            [{**SSL, "kSecTrustSettingsResult": 1}, {**SSL, "kSecTrustSettingsResult": 3}],
            Verdict.TRUST,
            id="first decisive result wins over a later Deny",
        ),
        pytest.param(
            [{**BASIC, "kSecTrustSettingsResult": 1}], None, id="basic X.509 policy is not SSL"
        ),
        pytest.param([{"kSecTrustSettingsResult": 3}], Verdict.DISTRUST, id="no policy: all"),
        pytest.param(
            [{**SSL, "kSecTrustSettingsPolicyString": "intranet.example"}],
            None,
            id="trust for one host name is not trust",
        ),
        pytest.param(
            [{**SSL, "kSecTrustSettingsApplication": b"app", "kSecTrustSettingsResult": 1}],
            None,
            id="trust for one app is not trust",
        ),
        pytest.param(
            [{**SSL, "kSecTrustSettingsApplication": b"app", "kSecTrustSettingsResult": 3}],
            Verdict.DISTRUST,
            id="an app-scoped Deny still denies",
        ),
        pytest.param(
            [{**SSL, "kSecTrustSettingsPolicyString": "x.example", "kSecTrustSettingsResult": 3}],
            Verdict.DISTRUST,
            id="a host-scoped Deny still denies",
        ),
        pytest.param([{**SSL, "kSecTrustSettingsKeyUsage": 4}], None, id="usage without SignCert"),
        pytest.param([{**SSL, "kSecTrustSettingsKeyUsage": 0}], None, id="usage 0"),
        pytest.param([{**SSL, "kSecTrustSettingsKeyUsage": 8 | 4}], Verdict.TRUST, id="SignCert"),
        pytest.param([{**SSL, "kSecTrustSettingsKeyUsage": -1}], Verdict.TRUST, id="usage any"),
        pytest.param(
            [{**SSL, "kSecTrustSettingsKeyUsage": 0xFFFFFFFF}], Verdict.TRUST, id="usage any u32"
        ),
        pytest.param(
            [{**SSL, "kSecTrustSettingsKeyUsage": 4, "kSecTrustSettingsResult": 3}],
            None,
            id="a Deny for other key uses does not deny",
        ),
        pytest.param(
            [{**SSL, "kSecTrustSettingsResult": True}], Verdict.TRUST, id="not a number: TrustRoot"
        ),
        pytest.param(["not a dict", {**SSL}], Verdict.TRUST, id="malformed dict skipped"),
    ],
)
def test_admin_trust_settings_rules(
    mac: FakeMac, settings: Settings | None, expected: Verdict | None
) -> None:
    root = make_root("Corp Root")
    mac.add(macos.SYSTEM_KEYCHAIN, root)
    mac.settings("admin", {root: settings})
    assert verdicts(mac.load()).get("Corp Root") == expected


def test_trust_as_root_keeps_an_intermediate_and_trust_root_needs_self_signed(
    mac: FakeMac,
) -> None:
    issuer = make_root("Issuer")
    as_root = issuer.issue("Intermediate As Root", ca=True)
    wrongly_root = issuer.issue("Intermediate Marked TrustRoot", ca=True)
    mac.add(macos.SYSTEM_KEYCHAIN, as_root, wrongly_root)
    mac.settings(
        "admin",
        {
            as_root: [{**SSL, "kSecTrustSettingsResult": 2}],
            wrongly_root: [{**SSL, "kSecTrustSettingsResult": 1}],
        },
    )
    result = mac.load()
    assert verdicts(result) == {"Intermediate As Root": Verdict.TRUST}
    assert reasons(result)["Intermediate As Root"].endswith("TrustAsRoot for SSL")


def test_default_root_record_is_not_a_certificate() -> None:
    root = make_root("Root")
    settings, problems = macos.parse_trust_settings(export({root: []}), "admin trust settings")
    assert settings == {sha1(root): []}
    assert problems == []


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<?xml",
        b"bplist00 not really",
        b'<plist version="1.0"><date>not a date</date></plist>',
        plistlib.dumps(["not", "a", "dict"]),
        plistlib.dumps({"trustList": {"ABCD": {"trustSettings": "not an array"}}}),
    ],
)
def test_corrupt_exports_are_problems_not_crashes(data: bytes) -> None:
    settings, problems = macos.parse_trust_settings(data, "admin trust settings")
    assert settings == {}
    assert problems
    assert problems[0].where.startswith("admin trust settings")


# --- keychains ---------------------------------------------------------------------------


def test_user_keychains_come_from_the_search_list(mac: FakeMac) -> None:
    other = "/Users/u/Library/Keychains/Work Certs.keychain-db"
    mac.write("list-keychains.txt", f'    "{LOGIN}"\n    "{other}"\n'.encode())
    mac.add(LOGIN, personal := make_root("Personal Root"))
    mac.add(other, work := make_root("Work Root"))
    mac.settings("user", {personal: [], work: [{**SSL, "kSecTrustSettingsResult": 1}]})
    result = mac.load()
    assert verdicts(result) == {"Personal Root": Verdict.TRUST, "Work Root": Verdict.TRUST}
    assert reasons(result)["Work Root"] == (
        "Work Certs.keychain-db: user trust settings: TrustRoot for SSL"
    )
    assert Path(other) in result.inputs


def test_parse_keychain_list_reads_quoted_indented_lines() -> None:
    output = (
        b'    "/Users/u/Library/Keychains/login.keychain-db"\n'
        b'    "/Library/Keychains/System.keychain"\n'
    )
    assert macos.parse_keychain_list(output) == [
        "/Users/u/Library/Keychains/login.keychain-db",
        "/Library/Keychains/System.keychain",
    ]
    assert macos.parse_keychain_list(b" <NULL>\n\n") == []


def test_duplicate_across_keychains_is_one_candidate(mac: FakeMac) -> None:
    root = make_root("In Two Keychains")
    mac.add(macos.SYSTEM_ROOTS, root)
    mac.add(LOGIN, root)
    result = mac.load()
    assert len(result.candidates) == 1
    (candidate,) = result.candidates
    assert candidate.source == "macos:SystemRootCertificates.keychain, login.keychain-db"
    assert candidate.reason.startswith("SystemRootCertificates.keychain, login.keychain-db: ")


def test_inputs_name_the_files_a_later_run_can_stat(mac: FakeMac) -> None:
    inputs = mac.load().inputs
    for path in (
        "Library/Keychains/System.keychain",
        "System/Library/Keychains/SystemRootCertificates.keychain",
        "Library/Security/Trust Settings/Admin.plist",
        "Library/Preferences/com.apple.security.plist",
    ):
        assert mac.root / path in inputs
    assert mac.home / "Library/Keychains/login.keychain-db" in inputs
    # User trust settings are in root-only files: a user-scope run is never skipped. The
    # machine scope reads none of them, so its inputs are complete.
    assert mac.load().complete_inputs is False
    assert mac.load(scope="global").complete_inputs is True
    assert mac.home / "Library/Keychains/login.keychain-db" not in mac.load(scope="global").inputs


# --- when security misbehaves ------------------------------------------------------------


def test_no_trust_settings_is_an_empty_domain_not_a_problem(mac: FakeMac) -> None:
    mac.add(macos.SYSTEM_ROOTS, make_root("Root"))
    result = mac.load()  # neither admin.plist nor user.plist: both exports exit 1
    assert result.problems == []
    assert len([c for c in mac.calls() if c.startswith("trust-settings-export")]) == 2
    assert verdicts(result) == {"Root": Verdict.TRUST}


def test_a_failing_call_is_a_problem_and_the_rest_is_still_read(mac: FakeMac) -> None:
    mac.add(macos.SYSTEM_ROOTS, make_root("Apple Root"))
    mac.add(macos.SYSTEM_KEYCHAIN, make_root("MDM Root"))
    mac.fail(
        f"find-certificate -a -p {macos.SYSTEM_KEYCHAIN}",
        51,
        "security: SecKeychainSearchCopyNext: The authorization was denied.",
    )
    result = mac.load()
    assert verdicts(result) == {"Apple Root": Verdict.TRUST}
    (problem,) = result.problems
    assert problem.where == f"security find-certificate -a -p {macos.SYSTEM_KEYCHAIN}"
    assert problem.message == (
        "exit 51: security: SecKeychainSearchCopyNext: The authorization was denied."
    )


def test_a_failing_export_other_than_no_settings_is_a_problem(mac: FakeMac) -> None:
    mac.add(macos.SYSTEM_ROOTS, make_root("Apple Root"))
    mac.fail(
        "trust-settings-export -d",
        1,
        "SecTrustSettingsCreateExternalRepresentation: The trust settings record was corrupted.",
    )
    result = mac.load()
    (problem,) = result.problems
    assert problem.where == "security trust-settings-export -d"
    assert problem.message == (
        "exit 1: SecTrustSettingsCreateExternalRepresentation:"
        " The trust settings record was corrupted."
    )
    assert verdicts(result) == {"Apple Root": Verdict.TRUST}


def test_a_corrupt_export_is_a_problem(mac: FakeMac) -> None:
    mac.add(macos.SYSTEM_ROOTS, make_root("Apple Root"))
    mac.write("admin.plist", b"<?xml version='1.0'?><plist><dict><key>trustList")
    result = mac.load()
    assert [p.where for p in result.problems] == ["admin trust settings"]
    assert verdicts(result) == {"Apple Root": Verdict.TRUST}


def test_a_missing_tool_is_one_problem_and_an_unreadable_store(mac: FakeMac) -> None:
    result = macos.load(
        StoreOptions(environ={}),
        security=(str(mac.folder / "no-such-tool"),),
        system_root=mac.root,
        home=mac.home,
    )
    assert result.candidates == []
    missing, unreadable = result.problems
    assert missing.where == "security list-keychains -d user"  # the first call
    assert "no-such-tool not found" in missing.message
    assert unreadable.where == macos.STORE
    assert unreadable.message.startswith("could not be read")


def test_a_hanging_tool_times_out(mac: FakeMac) -> None:
    mac.add(macos.SYSTEM_ROOTS, make_root("Root"))
    mac.write("hang", b"")
    result = mac.load(scope="global", timeout=0.5)
    assert result.candidates == []
    timeouts = [p for p in result.problems if p.message == "no answer within 0.5 s"]
    assert [p.where for p in timeouts] == [
        f"security find-certificate -a -p {macos.SYSTEM_ROOTS}",
        f"security find-certificate -a -p {macos.SYSTEM_KEYCHAIN}",
        "security trust-settings-export -d",
    ]
    assert result.problems[-1].where == macos.STORE
