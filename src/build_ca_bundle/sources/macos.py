"""The macOS trust store, read through ``/usr/bin/security`` and decided as macOS decides.

Certificates come from the keychains (the system roots, the System keychain where MDM and
admins put corporate roots, and for ``--scope user`` the user's keychains); trust comes from
the trust settings of the admin and user domains (``security trust-settings-export``). The
rules follow Go 1.16's ``root_darwin.go`` (reference/os_stores.md §2.4): user settings beat
admin settings, which beat "it is a system root"; only SSL (or unconstrained) settings grant
trust; "unspecified" is not trust; a Deny removes the certificate everywhere, certifi's part
included.
"""

from __future__ import annotations

import hashlib
import plistlib
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from build_ca_bundle.certificates import (
    Candidate,
    Certificate,
    Problem,
    SourceKind,
    SourceResult,
    Verdict,
    parse_pem,
)
from build_ca_bundle.sources import StoreOptions

NAME = "macos"

# Keychains, in the order we read them.
SYSTEM_ROOTS = "/System/Library/Keychains/SystemRootCertificates.keychain"  # Apple's roots
SYSTEM_KEYCHAIN = "/Library/Keychains/System.keychain"  # MDM- and admin-installed roots
# Files whose change means the store changed (for the unchanged-run check).
ADMIN_TRUST_SETTINGS = "/Library/Security/Trust Settings/Admin.plist"
SECURITY_PREFERENCES = "/Library/Preferences/com.apple.security.plist"

# Trust settings results (SecTrustSettingsResult).
TRUST_ROOT, TRUST_AS_ROOT, DENY, UNSPECIFIED = 1, 2, 3, 4
_DECISIVE = (TRUST_ROOT, TRUST_AS_ROOT, DENY)
_RESULT_NAMES = {0: "Invalid", 1: "TrustRoot", 2: "TrustAsRoot", 3: "Deny", 4: "Unspecified"}

# The Apple SSL policy, 1.2.840.113635.100.1.3, as plists hold it: the OID's content bytes.
SSL_POLICY = bytes.fromhex("2a864886f763640103")
SSL_POLICY_OID = "1.2.840.113635.100.1.3"
# kSecTrustSettingsKeyUsage: -1 (all) or a mask that must include signing certificates.
KEY_USAGE_ANY = (-1, 0xFFFFFFFF)
KEY_USAGE_SIGN_CERT = 0x8
DEFAULT_ROOT_RECORD = "kSecTrustRecordDefaultRootCert"
NO_SETTINGS = "No Trust Settings were found"


@dataclass
class _Found:
    certificate: Certificate
    keychains: list[str] = field(default_factory=list)


def load(
    options: StoreOptions,
    *,
    security: Sequence[str] = ("/usr/bin/security",),
    timeout: float = 30.0,
    system_root: Path = Path("/"),
    home: Path | None = None,
) -> SourceResult:
    """Read the keychains and trust settings, and decide each certificate for TLS."""
    reader = _Reader(options, list(security), timeout, system_root, home or Path.home())
    return reader.read()


class _Reader:
    def __init__(
        self,
        options: StoreOptions,
        security: list[str],
        timeout: float,
        system_root: Path,
        home: Path,
    ) -> None:
        self.user_scope = options.scope == "user"
        self.security = security
        self.timeout = timeout
        self.system_root = system_root
        self.home = home
        # User trust settings live where we cannot stat them: never skip a run as unchanged.
        self.result = SourceResult(name=NAME, kind=SourceKind.OS, complete_inputs=False)
        self.calls_ok = 0

    def read(self) -> SourceResult:
        keychains = [SYSTEM_ROOTS, SYSTEM_KEYCHAIN]
        if self.user_scope:
            keychains += self._user_keychains()
        found = self._certificates(keychains)
        admin = self._trust_settings(admin=True)
        user = self._trust_settings(admin=False) if self._user_settings_allowed() else {}
        self._decide(found, admin, user)
        self.result.inputs += [
            self.system_root / p.lstrip("/")
            for p in (SYSTEM_ROOTS, SYSTEM_KEYCHAIN, ADMIN_TRUST_SETTINGS, SECURITY_PREFERENCES)
        ]
        if self.calls_ok == 0:
            self.result.problems.append(
                Problem("macOS trust store", "could not be read: every security call failed")
            )
        return self.result

    # --- running security -----------------------------------------------------------

    def _run(self, *args: str) -> subprocess.CompletedProcess[bytes] | None:
        command = [*self.security, *args]
        where = "security " + " ".join(args)
        try:
            completed = subprocess.run(
                command, capture_output=True, timeout=self.timeout, check=False
            )
        except FileNotFoundError:
            self.result.problems.append(Problem(where, f"{self.security[0]} not found"))
            return None
        except subprocess.TimeoutExpired:
            self.result.problems.append(Problem(where, f"no answer within {self.timeout:g} s"))
            return None
        except OSError as exc:
            self.result.problems.append(Problem(where, f"cannot run it: {exc}"))
            return None
        return completed

    def _user_keychains(self) -> list[str]:
        completed = self._run("list-keychains", "-d", "user")
        if completed is None or completed.returncode != 0:
            if completed is not None:
                self._failed("security list-keychains -d user", completed)
            return []
        self.calls_ok += 1
        names = []
        for line in completed.stdout.decode("utf-8", "replace").splitlines():
            name = line.strip().strip('"')
            if name:
                names.append(name)
                self.result.inputs.append(Path(name))
        return names

    def _certificates(self, keychains: list[str]) -> dict[str, _Found]:
        found: dict[str, _Found] = {}
        for keychain in keychains:
            completed = self._run("find-certificate", "-a", "-p", keychain)
            if completed is None:
                continue
            if completed.returncode != 0:
                self._failed(f"security find-certificate -a -p {keychain}", completed)
                continue
            self.calls_ok += 1
            parsed, problems = parse_pem(completed.stdout, keychain)
            self.result.problems.extend(problems)
            for item in parsed:
                entry = found.setdefault(item.certificate.sha256, _Found(item.certificate))
                if keychain not in entry.keychains:
                    entry.keychains.append(keychain)
        return found

    def _trust_settings(self, *, admin: bool) -> dict[str, list[dict[str, Any]] | None]:
        """SHA-1 (upper-case hex) -> the trustSettings array (None when absent)."""
        with tempfile.TemporaryDirectory(prefix="build-ca-bundle-") as folder:
            out = Path(folder) / "trust.plist"
            args = (
                ("trust-settings-export", "-d", str(out))
                if admin
                else ("trust-settings-export", str(out))
            )
            domain = "admin" if admin else "user"
            completed = self._run(*args)
            if completed is None:
                return {}
            if completed.returncode != 0:
                if NO_SETTINGS in completed.stderr.decode("utf-8", "replace"):
                    self.calls_ok += 1
                    return {}  # an empty domain, which is normal
                self._failed(f"security trust-settings-export ({domain})", completed)
                return {}
            self.calls_ok += 1
            try:
                document = plistlib.loads(out.read_bytes())
            except (OSError, ValueError, plistlib.InvalidFileException) as exc:
                self.result.problems.append(
                    Problem(f"{domain} trust settings", f"cannot read the export: {exc}")
                )
                return {}
        trust_list = document.get("trustList", {}) if isinstance(document, dict) else {}
        settings: dict[str, list[dict[str, Any]] | None] = {}
        for key, record in trust_list.items():
            if key == DEFAULT_ROOT_RECORD or not isinstance(record, dict):
                continue
            value = record.get("trustSettings")
            settings[key.upper()] = list(value) if isinstance(value, list) else None
        return settings

    def _user_settings_allowed(self) -> bool:
        if not self.user_scope:
            return False
        preferences = self.system_root / SECURITY_PREFERENCES.lstrip("/")
        try:
            document = plistlib.loads(preferences.read_bytes())
        except (OSError, ValueError, plistlib.InvalidFileException):
            return True
        disabled = isinstance(document, dict) and document.get("DisableUserTrustSettings")
        if disabled:
            self.result.notes.append("user trust settings are disabled by DisableUserTrustSettings")
        return not disabled

    def _failed(self, where: str, completed: subprocess.CompletedProcess[bytes]) -> None:
        error = completed.stderr.decode("utf-8", "replace").strip()[:200]
        self.result.problems.append(Problem(where, f"exit {completed.returncode}: {error}"))

    # --- deciding --------------------------------------------------------------------

    def _decide(
        self,
        found: dict[str, _Found],
        admin: dict[str, list[dict[str, Any]] | None],
        user: dict[str, list[dict[str, Any]] | None],
    ) -> None:
        unspecified = 0
        for entry in found.values():
            cert = entry.certificate
            sha1 = hashlib.sha1(cert.der, usedforsecurity=False).hexdigest().upper()
            where = ", ".join(Path(name).name for name in entry.keychains)
            verdict, rule = _combined(sha1, entry.keychains, admin, user)
            if verdict is TRUST_ROOT and not cert.self_signed:
                verdict, rule = None, rule + " (TrustRoot needs a self-signed certificate)"
            if verdict is None:
                unspecified += 1
                continue
            mapped = Verdict.DISTRUST if verdict == DENY else Verdict.TRUST
            self.result.candidates.append(
                Candidate(cert, mapped, f"macos:{where}", f"{where}: {rule}")
            )
        if unspecified:
            self.result.notes.append(
                f"{unspecified} keychain certificates have no trust for SSL: left out"
            )


def _combined(
    sha1: str,
    keychains: list[str],
    admin: dict[str, list[dict[str, Any]] | None],
    user: dict[str, list[dict[str, Any]] | None],
) -> tuple[int | None, str]:
    """User settings, else admin settings, else "a system root is trusted"."""
    for domain, settings in (("user", user), ("admin", admin)):
        if sha1 in settings:
            result = decide(settings[sha1])
            if result in _DECISIVE:
                return result, f"{domain} trust settings: {_RESULT_NAMES[result]} for SSL"
    if SYSTEM_ROOTS in keychains:
        return TRUST_ROOT, "system root"
    return None, "no trust settings for SSL"


def decide(settings: list[dict[str, Any]] | None) -> int:
    """One domain's verdict for one certificate (Go 1.16 ``sslTrustSettingsResult``)."""
    if not settings:
        return TRUST_ROOT  # no constraints at all: trusted as a root for everything
    for constraint in settings:
        if not isinstance(constraint, dict) or not _is_ssl_policy(constraint):
            continue
        result = constraint.get("kSecTrustSettingsResult", TRUST_ROOT)
        scoped = (
            "kSecTrustSettingsPolicyString" in constraint
            or "kSecTrustSettingsApplication" in constraint
        )
        if scoped and result != DENY:
            continue  # trust for one host name or one app is not trust for every connection
        if not _key_usage_allows_roots(constraint.get("kSecTrustSettingsKeyUsage")):
            continue
        if result in _DECISIVE:
            return int(result)
    return UNSPECIFIED


def _is_ssl_policy(constraint: dict[str, Any]) -> bool:
    policy = constraint.get("kSecTrustSettingsPolicy")
    if policy is None:
        return True  # no policy: applies to every policy, SSL included
    if isinstance(policy, bytes):
        return policy == SSL_POLICY
    return str(policy) == SSL_POLICY_OID


def _key_usage_allows_roots(usage: object) -> bool:
    if usage is None:
        return True
    if not isinstance(usage, int):
        return False
    return usage in KEY_USAGE_ANY or bool(usage & KEY_USAGE_SIGN_CERT)
