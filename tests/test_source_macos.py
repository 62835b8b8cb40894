"""The macOS reader through a fake `security` executable that answers as Apple's does."""

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
from tests.pki import NOW, Issued, make_root

FAKE = Path(__file__).with_name("fake_security.py")
LOGIN = "/Users/u/Library/Keychains/login.keychain-db"
SSL = {"kSecTrustSettingsPolicy": macos.SSL_POLICY, "kSecTrustSettingsPolicyName": "sslServer"}
SMIME = {"kSecTrustSettingsPolicy": bytes.fromhex("2a864886f763640108")}  # …100.1.8


class FakeMac:
    """The data the fake `security` answers with."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv("FAKE_SECURITY_DATA", str(folder))
        self.keychains: dict[str, list[Issued]] = {
            macos.SYSTEM_ROOTS: [],
            macos.SYSTEM_KEYCHAIN: [],
            LOGIN: [],
        }
        (folder / "list-keychains.txt").write_text(f'    "{LOGIN}"\n')

    def add(self, keychain: str, *certs: Issued) -> None:
        self.keychains[keychain].extend(certs)

    def settings(self, domain: str, entries: dict[Issued, list[dict[str, Any]] | None]) -> None:
        trust_list: dict[str, Any] = {
            "kSecTrustRecordDefaultRootCert": {"trustSettings": [{"kSecTrustSettingsResult": 3}]}
        }
        for cert, value in entries.items():
            sha1 = hashlib.sha1(cert.der, usedforsecurity=False).hexdigest().upper()
            record: dict[str, Any] = {"modDate": NOW.replace(tzinfo=None)}
            if value is not None:
                record["trustSettings"] = value
            trust_list[sha1] = record
        document = {"trustVersion": 1, "trustList": trust_list}
        (self.folder / f"{domain}.plist").write_bytes(plistlib.dumps(document))

    def load(self, scope: str = "user", timeout: float = 10) -> SourceResult:
        mapping = {}
        for index, (keychain, certs) in enumerate(self.keychains.items()):
            name = f"keychain{index}.pem"
            (self.folder / name).write_bytes(b"".join(c.pem for c in certs))
            mapping[keychain] = name
        (self.folder / "keychains.json").write_text(json.dumps(mapping))
        options = StoreOptions(scope=scope, environ={})
        return macos.load(
            options,
            security=(sys.executable, str(FAKE)),
            timeout=timeout,
            system_root=self.folder / "root",
            home=self.folder / "home",
        )


@pytest.fixture
def mac(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeMac:
    return FakeMac(tmp_path / "fake-mac", monkeypatch)


def verdicts(result: SourceResult) -> dict[str, Verdict]:
    return {c.certificate.label: c.verdict for c in result.candidates}


def test_mdm_root_with_admin_trust_is_kept_and_without_it_dropped(mac: FakeMac) -> None:
    mdm, stray = make_root("MDM Corp Root"), make_root("Stray Root")
    mac.add(macos.SYSTEM_KEYCHAIN, mdm, stray)
    mac.settings("admin", {mdm: [{**SSL, "kSecTrustSettingsResult": 1}]})
    result = mac.load()
    assert verdicts(result) == {"MDM Corp Root": Verdict.TRUST}
    (candidate,) = result.candidates
    assert candidate.reason == "System.keychain: admin trust settings: TrustRoot for SSL"
    assert any("have no trust for SSL" in note for note in result.notes)


def test_system_roots_are_trusted_without_settings(mac: FakeMac) -> None:
    apple = make_root("Apple Shipped Root")
    mac.add(macos.SYSTEM_ROOTS, apple)
    result = mac.load()
    assert verdicts(result) == {"Apple Shipped Root": Verdict.TRUST}
    assert result.candidates[0].reason == "SystemRootCertificates.keychain: system root"


def test_user_deny_of_a_system_root_counts_only_in_user_scope(mac: FakeMac) -> None:
    denied = make_root("Root The User Denied")
    mac.add(macos.SYSTEM_ROOTS, denied)
    mac.settings("user", {denied: [{**SSL, "kSecTrustSettingsResult": 3}]})
    user = mac.load(scope="user")
    assert verdicts(user) == {"Root The User Denied": Verdict.DISTRUST}
    certifi = SourceResult(name="certifi", kind=SourceKind.BASE)
    certifi.candidates = [Candidate(parse_der(denied.der), Verdict.TRUST, "certifi")]
    assert select([certifi, user], now=NOW).entries == []  # gone from certifi's part too
    machine = mac.load(scope="global")
    assert verdicts(machine) == {"Root The User Denied": Verdict.TRUST}
    calls = (mac.folder / "calls.log").read_text().splitlines()
    assert not any(LOGIN in call for call in calls[-4:])  # global: no login keychain


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ([], Verdict.TRUST),  # empty array: trusted for everything
        (None, Verdict.TRUST),  # no trustSettings key at all: the same
        ([{**SMIME, "kSecTrustSettingsResult": 1}], None),  # S/MIME only: unspecified for TLS
        ([{**SSL, "kSecTrustSettingsResult": 4}], None),  # explicitly unspecified
        ([{**SSL, "kSecTrustSettingsPolicyString": "intranet.example"}], None),  # one host only
        (
            [{**SSL, "kSecTrustSettingsApplication": b"app", "kSecTrustSettingsResult": 3}],
            Verdict.DISTRUST,
        ),  # a scoped Deny still denies
        ([{**SSL, "kSecTrustSettingsKeyUsage": 4}], None),  # usage without signing certs
        ([{**SSL, "kSecTrustSettingsKeyUsage": -1}], Verdict.TRUST),
        ([{**SMIME, "kSecTrustSettingsResult": 3}, {**SSL}], Verdict.TRUST),  # first *SSL* wins
        ([{"kSecTrustSettingsResult": 3}], Verdict.DISTRUST),  # no policy: applies to SSL
    ],
)
def test_admin_trust_settings_rules(
    mac: FakeMac, settings: list[dict[str, Any]] | None, expected: Verdict | None
) -> None:
    root = make_root("Corp Root")
    mac.add(macos.SYSTEM_KEYCHAIN, root)
    mac.settings("admin", {root: settings})
    found = verdicts(mac.load())
    assert found.get("Corp Root") == expected


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
    assert verdicts(mac.load()) == {"Intermediate As Root": Verdict.TRUST}


def test_duplicate_across_keychains_is_one_candidate(mac: FakeMac) -> None:
    root = make_root("In Two Keychains")
    mac.add(macos.SYSTEM_ROOTS, root)
    mac.add(LOGIN, root)
    result = mac.load()
    assert len(result.candidates) == 1
    assert result.candidates[0].source == "macos:SystemRootCertificates.keychain, login.keychain-db"


def test_no_trust_settings_is_not_a_problem(mac: FakeMac) -> None:
    mac.add(macos.SYSTEM_ROOTS, make_root("Root"))
    result = mac.load()
    assert result.problems == []


def test_missing_tool_and_hanging_tool_are_problems(mac: FakeMac, tmp_path: Path) -> None:
    missing = macos.load(StoreOptions(environ={}), security=(str(tmp_path / "no-such-tool"),))
    assert missing.candidates == []
    assert any("not found" in p.message for p in missing.problems)
    assert missing.problems[-1].message == "could not be read: every security call failed"
    (mac.folder / "hang").touch()
    hung = mac.load(timeout=0.5)
    assert hung.candidates == []
    assert any("no answer within 0.5 s" in p.message for p in hung.problems)
