"""The macOS trust store, read through ``/usr/bin/security`` and decided as macOS decides.

Certificates come from the keychains (the system roots, the System keychain where MDM and
admins put corporate roots, and for ``--scope user`` the user's keychains); trust comes from
the trust settings of the admin and user domains (``security trust-settings-export``). The
rules follow Go 1.16's ``root_darwin.go`` (reference/os_stores.md §2.4), except that admin
settings beat user settings, as trustd has them (see :func:`combine`), and both beat "it is a
system root"; only SSL (or unconstrained) settings grant
trust; "unspecified" is not trust; a Deny removes the certificate everywhere, certifi's part
included.

Everything here is plain Python over the tool's output, so it imports and runs on any OS;
tests point ``security`` at a fake executable that answers as Apple's tool does.
"""

from __future__ import annotations

import enum
import hashlib
import plistlib
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

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
from build_ca_bundle.values import Value

NAME = "macos"
STORE = "macOS trust store"

# --- Where macOS keeps its trust (Security's TrustSettingsSchema.h) --------------------------

# Apple's shipped roots: trusted as roots for everything unless a user or admin setting says
# otherwise (the "system domain").
SYSTEM_ROOTS = "/System/Library/Keychains/SystemRootCertificates.keychain"
# Where MDM profiles and `security add-trusted-cert -d` put corporate roots; they are trusted
# only through admin trust settings.
SYSTEM_KEYCHAIN = "/Library/Keychains/System.keychain"
# The user's default keychain, relative to the home folder; `list-keychains -d user` names the
# real search list, this is what it usually holds.
LOGIN_KEYCHAIN = "Library/Keychains/login.keychain-db"

# Holds DisableUserTrustSettings (true: the user domain is ignored).
SECURITY_PREFERENCES = "/Library/Preferences/com.apple.security.plist"
DISABLE_USER_TRUST_SETTINGS = "DisableUserTrustSettings"

# Files whose change means the store changed; the unchanged-run check stats them.
WATCHED = (
    SYSTEM_ROOTS,
    SYSTEM_KEYCHAIN,
    # The system domain's trust settings: change with OS updates, with the roots.
    "/System/Library/Keychains/SystemTrustSettings.plist",
    # The folder of Admin.plist and of the root-only per-user files (<uuid>.plist, or
    # <uuid>/TrustSettings.plist on newer systems): replacing any of them touches the folder.
    "/Library/Security/Trust Settings",
    # The admin domain's trust settings (MDM, `security add-trusted-cert -d`).
    "/Library/Security/Trust Settings/Admin.plist",
    SECURITY_PREFERENCES,
)


class TrustResult(enum.IntEnum):
    """SecTrustSettingsResult (SecTrustSettings.h)."""

    INVALID = 0  # never decides: the walk goes on
    TRUST_ROOT = 1  # an anchor, but only if the certificate is self-signed
    TRUST_AS_ROOT = 2  # a non-root certificate treated as an anchor
    DENY = 3  # never trusted: removed everywhere
    UNSPECIFIED = 4  # no decision: the walk goes on; at the end, not trusted


_DECISIVE = frozenset({TrustResult.TRUST_ROOT, TrustResult.TRUST_AS_ROOT, TrustResult.DENY})
# The names Apple uses, for reasons a user can search for.
_APPLE_NAMES = {
    TrustResult.INVALID: "Invalid",
    TrustResult.TRUST_ROOT: "TrustRoot",
    TrustResult.TRUST_AS_ROOT: "TrustAsRoot",
    TrustResult.DENY: "Deny",
    TrustResult.UNSPECIFIED: "Unspecified",
}

# Keys of one usage-constraint dictionary in a trustSettings array (TrustSettingsSchema.h).
POLICY = "kSecTrustSettingsPolicy"  # the OID's content bytes; absent: every policy
POLICY_NAME = "kSecTrustSettingsPolicyName"  # "sslServer", "sslClient", ...: with the OID
SSL_SERVER_NAME = "sslServer"  # kSecPolicyNameSSLServer: the policy a TLS client evaluates
POLICY_STRING = "kSecTrustSettingsPolicyString"  # a host name or e-mail: trust for that only
APPLICATION = "kSecTrustSettingsApplication"  # one app's code requirement: trust for it only
KEY_USAGE = "kSecTrustSettingsKeyUsage"  # which uses of the key the setting covers
RESULT = "kSecTrustSettingsResult"  # a TrustResult; absent: TrustRoot
# The Apple SSL policy, 1.2.840.113635.100.1.3, as exported plists hold it (base64
# KoZIhvdjZAED): the OID's content bytes, without tag and length.
SSL_POLICY = bytes.fromhex("2a864886f763640103")
SSL_POLICY_OID = "1.2.840.113635.100.1.3"
KEY_USAGE_ANY = frozenset({-1, 0xFFFFFFFF})  # kSecTrustSettingsKeyUseAny, signed or not
KEY_USAGE_SIGN_CERT = 0x8  # kSecTrustSettingsKeyUseSignCert: what an anchor must allow
# A trustList entry that is not a certificate hash (settings for "the default root").
DEFAULT_ROOT_RECORD = "kSecTrustRecordDefaultRootCert"

# `security trust-settings-export` with no settings in the domain: exit 1 and, on stderr,
# "SecTrustSettingsCreateExternalRepresentation: No Trust Settings were found." (cssmPerror).
# Apple may localise the second half; then the domain is reported as a problem, and empty.
NO_SETTINGS_EXIT = 1
NO_SETTINGS_MESSAGE = "No Trust Settings were found"


class Domain(Value):
    """A trust-settings domain that `security trust-settings-export` can write."""

    __slots__ = ("name", "flags")
    name: Final[str]
    flags: Final[tuple[str, ...]]

    def __init__(self, name: str, flags: tuple[str, ...]) -> None:
        self.name = name
        self.flags = flags


ADMIN = Domain("admin", ("-d",))
USER = Domain("user", ())

# SHA-1 of the DER (upper-case hex) -> that certificate's trustSettings array.
TrustSettings = dict[str, list[Any]]


def load(
    options: StoreOptions,
    *,
    security: Sequence[str] = ("/usr/bin/security",),
    timeout: float = 30.0,
    system_root: Path = Path("/"),
    home: Path | None = None,
) -> SourceResult:
    """Read the keychains and trust settings, and decide each certificate for TLS.

    ``security`` is the argv prefix that runs the tool; ``system_root`` and ``home`` say where
    the files named in ``inputs`` live (tests point them at a folder).
    """
    reader = _Reader(
        user_scope=options.scope == "user",
        security=list(security),
        timeout=timeout,
        system_root=system_root,
        home=home if home is not None else Path.home(),
    )
    return reader.read()


class _Found(Value, mutable=True):
    """A certificate and every keychain it was found in."""

    __slots__ = ("certificate", "keychains")
    certificate: Certificate
    keychains: list[str]

    def __init__(self, certificate: Certificate) -> None:
        self.certificate = certificate
        self.keychains = []


class _Reader:
    """One pass over the keychains and trust settings, collecting the result."""

    def __init__(
        self,
        *,
        user_scope: bool,
        security: list[str],
        timeout: float,
        system_root: Path,
        home: Path,
    ) -> None:
        self.user_scope = user_scope
        self.security = security
        self.timeout = timeout
        self.system_root = system_root
        self.home = home
        self.result = SourceResult(name=NAME, kind=SourceKind.OS)
        self.keychains_read = 0
        self.tool_missing = False

    def read(self) -> SourceResult:
        # User trust settings live in root-only files a user cannot stat: with them, never
        # skip a run as unchanged. Without them (--scope site, global) every input is a file
        # anyone can stat: keychains, Admin.plist, the system's trust settings.
        self.result.complete_inputs = not self.user_scope
        user_keychains = self._user_keychains() if self.user_scope else []
        found = self._certificates([SYSTEM_ROOTS, SYSTEM_KEYCHAIN, *user_keychains])
        admin = self._trust_settings(ADMIN)
        user = self._trust_settings(USER) if self._user_settings_apply() else {}
        self._decide(found, admin, user)
        self._record_inputs(user_keychains)
        if self.keychains_read == 0:
            self.result.problems.append(
                Problem(STORE, "could not be read: no keychain answered (see the problems above)")
            )
        return self.result

    # --- running security --------------------------------------------------------------

    def _run(self, where: str, *args: str) -> subprocess.CompletedProcess[bytes] | None:
        """Run ``security args``; None (and a problem under ``where``) if it did not answer."""
        if self.tool_missing:
            return None  # said once already
        try:
            return subprocess.run(
                [*self.security, *args],
                stdin=subprocess.DEVNULL,  # never wait for a password typed on a terminal
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            self.tool_missing = True
            message = f"{self.security[0]} not found: cannot read the {STORE}"
        except subprocess.TimeoutExpired:
            message = f"no answer within {self.timeout:g} s"
        except OSError as exc:
            message = f"cannot run it: {exc.strerror or exc}"
        self.result.problems.append(Problem(where, message))
        return None

    def _failed(self, where: str, completed: subprocess.CompletedProcess[bytes]) -> None:
        error = completed.stderr.decode("utf-8", "replace").strip()
        first_line = error.splitlines()[0][:200] if error else "no message"
        self.result.problems.append(Problem(where, f"exit {completed.returncode}: {first_line}"))

    # --- certificates --------------------------------------------------------------------

    def _user_keychains(self) -> list[str]:
        keychains: list[str] = []
        where = "security list-keychains -d user"
        completed = self._run(where, "list-keychains", "-d", "user")
        if completed is not None and completed.returncode != 0:
            self._failed(where, completed)
        elif completed is not None:
            # Old releases printed the list on stderr; current ones on stdout.
            keychains = parse_keychain_list(completed.stdout) or parse_keychain_list(
                completed.stderr
            )
        login = self.home / LOGIN_KEYCHAIN
        if not keychains and login.exists():
            keychains = [str(login)]  # what the search list usually holds
        return keychains

    def _certificates(self, keychains: list[str]) -> dict[str, _Found]:
        found: dict[str, _Found] = {}
        for keychain in keychains:
            where = f"security find-certificate -a -p {keychain}"
            completed = self._run(where, "find-certificate", "-a", "-p", keychain)
            if completed is None:
                continue
            if completed.returncode != 0:
                self._failed(where, completed)
                continue
            self.keychains_read += 1
            parsed, problems = parse_pem(completed.stdout, keychain)
            self.result.problems.extend(problems)
            for item in parsed:
                entry = found.setdefault(item.certificate.sha256, _Found(item.certificate))
                if keychain not in entry.keychains:
                    entry.keychains.append(keychain)
        return found

    # --- trust settings ------------------------------------------------------------------

    def _trust_settings(self, domain: Domain) -> TrustSettings:
        where = " ".join(("security trust-settings-export", *domain.flags))  # OUT varies
        # A private folder: the export is written to a path we name, and read straight back.
        with tempfile.TemporaryDirectory(prefix="build-ca-bundle-") as folder:
            out = Path(folder) / f"{domain.name}.plist"
            completed = self._run(where, "trust-settings-export", *domain.flags, str(out))
            if completed is None:
                return {}
            if completed.returncode != 0:
                if not _no_trust_settings(completed):
                    self._failed(where, completed)
                return {}
            try:
                data = out.read_bytes()
            except OSError as exc:
                self.result.problems.append(
                    Problem(where, f"exit 0 but no file written ({exc.strerror or exc})")
                )
                return {}
        settings, problems = parse_trust_settings(data, f"{domain.name} trust settings")
        self.result.problems.extend(problems)
        return settings

    def _user_settings_apply(self) -> bool:
        if not self.user_scope:
            return False
        preferences = self.system_root / SECURITY_PREFERENCES.lstrip("/")
        try:
            document = plistlib.loads(preferences.read_bytes())
        except Exception:  # absent (the usual case) or unreadable: the default, enabled
            return True
        if isinstance(document, dict) and document.get(DISABLE_USER_TRUST_SETTINGS) is True:
            self.result.notes.append(
                f"user trust settings ignored: {DISABLE_USER_TRUST_SETTINGS} is set in "
                f"{SECURITY_PREFERENCES}"
            )
            return False
        return True

    # --- deciding ------------------------------------------------------------------------

    def _decide(self, found: dict[str, _Found], admin: TrustSettings, user: TrustSettings) -> None:
        untrusted = 0
        for entry in found.values():
            candidate = _candidate(entry, admin, user)
            if candidate is None:
                untrusted += 1
            else:
                self.result.candidates.append(candidate)
        if untrusted:
            self.result.notes.append(
                f"{untrusted} keychain certificates are not trusted for SSL: left out"
            )
        in_keychains = {_sha1(entry.certificate) for entry in found.values()}
        self.result.distrusted_sha1 = denied_by_hash(admin, user, in_keychains)

    def _record_inputs(self, user_keychains: list[str]) -> None:
        watched = [self.system_root / path.lstrip("/") for path in WATCHED]
        if self.user_scope:
            watched += [Path(keychain) for keychain in user_keychains]
            watched.append(self.home / LOGIN_KEYCHAIN)
        for path in watched:
            if path not in self.result.inputs:
                self.result.inputs.append(path)


def _no_trust_settings(completed: subprocess.CompletedProcess[bytes]) -> bool:
    stderr = completed.stderr.decode("utf-8", "replace")
    return completed.returncode == NO_SETTINGS_EXIT and NO_SETTINGS_MESSAGE in stderr


# --- parsing the tool's output -------------------------------------------------------------


def parse_keychain_list(output: bytes) -> list[str]:
    """The paths in `security list-keychains` output: one ``    "<path>"`` line each."""
    paths = []
    for line in output.decode("utf-8", "replace").splitlines():
        text = line.strip()
        if len(text) > 2 and text.startswith('"') and text.endswith('"'):
            paths.append(text[1:-1])
    return paths


def parse_trust_settings(data: bytes, where: str) -> tuple[TrustSettings, list[Problem]]:
    """Read an exported trust-settings plist: SHA-1 -> trustSettings array.

    An absent array is returned as ``[]``: both mean "trusted for everything". Entries that
    are not a certificate hash, or whose settings are malformed, are left out (a malformed
    one with a problem), so the next domain decides for that certificate.
    """
    try:
        document = plistlib.loads(data)
    except Exception as exc:  # plistlib raises many types on corrupt data, not only ValueError
        return {}, [Problem(where, f"cannot parse the export: {exc}")]
    trust_list = document.get("trustList") if isinstance(document, dict) else None
    if not isinstance(trust_list, dict):
        return {}, [Problem(where, "the export has no trustList dictionary")]
    settings: TrustSettings = {}
    problems: list[Problem] = []
    for key, record in trust_list.items():
        if key == DEFAULT_ROOT_RECORD:
            continue
        value = record.get("trustSettings", []) if isinstance(record, dict) else None
        if not isinstance(value, list):
            problems.append(Problem(f"{where} ({key})", "malformed record: ignored"))
            continue
        settings[str(key).upper()] = value
    return settings, problems


# --- the decision --------------------------------------------------------------------------


def _sha1(cert: Certificate) -> str:
    return hashlib.sha1(cert.der, usedforsecurity=False).hexdigest().upper()  # trustList keys


def denied_by_hash(
    admin: TrustSettings, user: TrustSettings, in_keychains: set[str]
) -> dict[str, tuple[str, str]]:
    """The Denies for certificates in no keychain read: SHA-1 -> (source, reason).

    macOS keeps trust settings by hash and applies them to any certificate with that hash,
    wherever it comes from (a Deny outlives the keychain item it was set on). certifi's copy
    of such a root must go too, so these reach the merge by hash.
    """
    denied = {}
    for sha1 in sorted((admin.keys() | user.keys()) - in_keychains):
        decided = combine(sha1, in_system_roots=False, admin=admin, user=user)
        if decided is not None and decided[0] is TrustResult.DENY:
            denied[sha1] = (f"{NAME}:trust settings", decided[1])
    return denied


def _candidate(entry: _Found, admin: TrustSettings, user: TrustSettings) -> Candidate | None:
    cert = entry.certificate
    decided = combine(
        _sha1(cert), in_system_roots=SYSTEM_ROOTS in entry.keychains, admin=admin, user=user
    )
    if decided is None:
        return None
    result, rule = decided
    if result is TrustResult.TRUST_ROOT and not cert.self_signed:
        return None  # Apple: TrustRoot "can only be applied to root (self-signed) certificates"
    if result is TrustResult.TRUST_AS_ROOT and cert.self_signed:
        return None  # trustd and Go: TrustAsRoot makes an anchor of a non-root only
    verdict = Verdict.DISTRUST if result is TrustResult.DENY else Verdict.TRUST
    where = ", ".join(Path(keychain).name for keychain in entry.keychains)
    return Candidate(cert, verdict, f"{NAME}:{where}", f"{where}: {rule}")


def combine(
    sha1: str, *, in_system_roots: bool, admin: TrustSettings, user: TrustSettings
) -> tuple[TrustResult, str] | None:
    """Admin settings if the admin domain has any for the certificate, else the user's;
    then "a system root is a root"; None: not trusted.

    trustd's order (SecLegacyAnchorSourceCopyUsageConstraints: "admin trust settings
    overrule user trust settings", rdar://37052515): a user's Always Trust cannot lift an
    admin's or an MDM's Deny, nor a user's Deny remove an MDM root. Go 1.16 and the header
    comment in SecTrustSettings.h say the reverse; trustd is what macOS does.
    """
    domain, settings = (ADMIN, admin) if sha1 in admin else (USER, user)
    if sha1 in settings:
        result = decide(settings[sha1])
        if result in _DECISIVE:
            return result, f"{domain.name} trust settings: {_APPLE_NAMES[result]} for SSL"
    if in_system_roots:
        return TrustResult.TRUST_ROOT, "system root"
    return None


def decide(settings: Sequence[object]) -> TrustResult:
    """One domain's result for a TLS server's chain from one certificate's trustSettings.

    trustd's SecPVCGetTrustSettingsResult: the first dict that applies decides, whatever it
    says; an Unspecified or Invalid one too (Go 1.16 goes on past those, and would trust a
    root macOS does not, or remove one it keeps). Plus the KeyUsage check and a scoped Deny.
    """
    if not settings:
        return TrustResult.TRUST_ROOT  # "an empty array means always trust this certificate"
    for constraint in settings:
        if not isinstance(constraint, Mapping):
            continue  # malformed: cannot apply
        if not _applies_to_ssl_server(constraint.get(POLICY), constraint.get(POLICY_NAME)):
            continue
        if not _allows_signing_certificates(constraint.get(KEY_USAGE)):
            continue
        result = _as_int(constraint.get(RESULT))
        if result is None:
            result = TrustResult.TRUST_ROOT  # trustd: no number there means TrustRoot
        # Trust for one host name or one app is not trust for every connection; a Deny is.
        if POLICY_STRING in constraint or APPLICATION in constraint:
            if result == TrustResult.DENY:
                return TrustResult.DENY
            continue
        try:
            return TrustResult(result)
        except ValueError:
            return TrustResult.UNSPECIFIED  # a number Apple defines no result for
    return TrustResult.UNSPECIFIED  # "none of them match the policy": no decision


def _applies_to_ssl_server(policy: object, name: object) -> bool:
    """trustd's SecPVCContainsPolicy for an SSL server evaluation: no policy at all applies
    to every one; an OID alone must be SSL's; with a name, it must be sslServer, not
    sslClient, which shares the OID (client-auth trust is not server trust)."""
    if policy is None and name is None:
        return True
    if name is not None and name != SSL_SERVER_NAME:
        return False
    return policy is None or _is_ssl_policy(policy)


def _is_ssl_policy(policy: object) -> bool:
    if isinstance(policy, bytes):
        return policy == SSL_POLICY
    return policy == SSL_POLICY_OID


def _allows_signing_certificates(usage: object) -> bool:
    if usage is None:
        return True  # no constraint on the key's use
    value = _as_int(usage)
    if value is None:
        return False  # something we cannot read grants nothing
    return value in KEY_USAGE_ANY or bool(value & KEY_USAGE_SIGN_CERT)


def _as_int(value: object) -> int | None:
    # A plist <true/> is a bool, which Python would take for 1 (TrustRoot).
    return value if isinstance(value, int) and not isinstance(value, bool) else None
