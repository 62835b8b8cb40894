"""The trust boundary: what must never get into the bundle, shown absent from the written file.

Each case puts one or more certificates that must NEVER be trusted into the same input as a
good control root, runs the real CLI (``cli.main``), parses the ca-bundle.pem it wrote (by
hand, not with the tool's parser) and shows: every forbidden SHA-256 is absent, every
allowed one is present, and every certificate in the bundle is either one of certifi's or
one the case allowed.

The Linux cases use the store fixture of tests/test_cli.py (SSL_CERT_FILE/SSL_CERT_DIR). The
Windows, macOS and p11-kit cases replace only the choice of OS reader
(``pipeline.load_os_store``) with the real reader fed the exact shapes its OS produces
(tests/test_source_windows.py, tests/fake_security.py, tests/linux_fixtures.py).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import certifi
import pytest

from build_ca_bundle import cli, pipeline
from build_ca_bundle.certificates import SERVER_AUTH
from build_ca_bundle.errors import ExitCode
from build_ca_bundle.sources import StoreOptions, linux, macos, windows
from tests.conftest import Home
from tests.linux_fixtures import EMAIL, P11KIT_KNOWN_USAGES, place
from tests.pki import Issued, make_expired_root, make_root, trusted_certificate
from tests.test_cli import Store, bundle_path, run, store
from tests.test_source_macos import SSL, FakeMac
from tests.test_source_windows import CODE_SIGNING_OID, FakeEnum
from tests.tls import HTTPSServer

__all__ = ["store"]  # the fixture, imported for the test below

_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n(.*?)-----END CERTIFICATE-----", re.S)


def sha256s(pem: bytes) -> list[str]:
    """The SHA-256 of the DER in every CERTIFICATE block, decoded by hand."""
    return [hashlib.sha256(base64.b64decode(body)).hexdigest() for body in _BLOCK.findall(pem)]


CERTIFI = frozenset(sha256s(Path(certifi.where()).read_bytes()))
CERTIFI_ORDER = sha256s(Path(certifi.where()).read_bytes())


def certifi_root_der(index: int) -> bytes:
    """The DER of one of certifi's own roots, to show a distrust removes it from certifi's part."""
    bodies = _BLOCK.findall(Path(certifi.where()).read_bytes())
    return base64.b64decode(bodies[index])


@dataclass
class Outcome:
    """What one case fed in: labels of the forbidden certificates, and the allowed ones."""

    never: dict[str, str] = field(default_factory=dict)  # label -> sha256
    allowed: dict[str, str] = field(default_factory=dict)  # label -> sha256 (non-certifi)
    certifi_never: dict[str, str] = field(default_factory=dict)  # certifi roots the OS distrusts

    def forbid(self, label: str, issued: Issued) -> None:
        self.never[label] = issued.sha256

    def allow(self, label: str, issued: Issued) -> None:
        self.allowed[label] = issued.sha256


@dataclass
class Ctx:
    tmp_path: Path
    store: Store
    home: Home
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    def run(self, *args: str, code: int = 0) -> str:
        got, out, err = run(self.capsys, *args)
        assert got == code, f"exit {got}, expected {code}\n{out}\n{err}"
        assert "Traceback" not in err
        return out + err

    def control(self) -> Outcome:
        """The store's corporate root: a good root in the same input as the bad ones."""
        outcome = Outcome()
        outcome.allow("control: corporate root in the OS store", self.store.corporate)
        return outcome

    def append_to_store_file(self, data: bytes) -> None:
        self.store.file.write_bytes(self.store.file.read_bytes() + data)

    def use_os_reader(self, reader: Callable[[StoreOptions], object]) -> None:
        """The real reader of another OS, in place of the choice of reader for this one."""
        self.monkeypatch.setattr(pipeline, "load_os_store", lambda options: [reader(options)])


Case = Callable[[Ctx], Outcome]


# --- Linux store: certificates that are not trusted roots for TLS servers -------------------


def leaf_certificates(ctx: Ctx) -> Outcome:
    outcome = ctx.control()
    leaf = ctx.store.corporate.issue("server.corp.example")
    self_signed_leaf = make_root("Self-Signed Server", basic_constraints=False)
    ctx.store.add(leaf, "leaf.pem")
    ctx.append_to_store_file(self_signed_leaf.pem)
    outcome.forbid("leaf issued by the corporate root", leaf)
    outcome.forbid("self-signed leaf (cA=FALSE)", self_signed_leaf)
    ctx.run()
    return outcome


def expired_root(ctx: Ctx) -> Outcome:
    outcome = ctx.control()
    expired = make_expired_root()
    ctx.store.add(expired, "expired.pem")
    outcome.forbid("expired root", expired)
    ctx.run()
    return outcome


def openssl_reject_flags(ctx: Ctx) -> Outcome:
    outcome = ctx.control()
    rejected = make_root("Rejected For serverAuth")
    both = make_root("Trusted And Rejected For serverAuth")
    nothing = make_root("Trusted For Nothing")
    ctx.append_to_store_file(
        trusted_certificate(rejected, reject=[SERVER_AUTH])
        + trusted_certificate(both, trust=[SERVER_AUTH], reject=[SERVER_AUTH])
        + trusted_certificate(nothing, trust=[])
    )
    ctx.store.add(rejected, "rejected-plain.pem")  # a plain copy elsewhere: the reject still wins
    outcome.forbid("TRUSTED CERTIFICATE rejected for serverAuth", rejected)
    outcome.forbid("TRUSTED CERTIFICATE trusted and rejected for serverAuth", both)
    outcome.forbid("TRUSTED CERTIFICATE with an empty trust list", nothing)
    ctx.run()
    return outcome


def email_only(ctx: Ctx) -> Outcome:
    outcome = ctx.control()
    mail = make_root("S/MIME Only Root")
    ctx.append_to_store_file(trusted_certificate(mail, trust=[EMAIL]))
    outcome.forbid("TRUSTED CERTIFICATE trusted for emailProtection only", mail)
    ctx.run()
    return outcome


def linux_intermediate(ctx: Ctx) -> Outcome:
    outcome = ctx.control()
    intermediate = ctx.store.corporate.issue("Corp Issuing CA In The Linux Store", ca=True)
    ctx.store.add(intermediate, "issuing-ca.pem")
    outcome.forbid("intermediate in the Linux store without --include-intermediates", intermediate)
    ctx.run()
    return outcome


def p11kit_blocklist(ctx: Ctx) -> Outcome:
    """Fedora's admin blocklist and p11-kit's trust decisions, under a fake root."""
    outcome = ctx.control()
    blocked = make_root("Blocklisted By The Admin")
    decided = make_root("Rejected In ca-bundle.trust.crt")
    fake = ctx.tmp_path / "fedora"
    ctx.append_to_store_file(blocked.pem + decided.pem)  # also offered as anchors
    place(fake, "/etc/pki/ca-trust/source/blocklist/blocked.pem", blocked.pem)
    public = certifi_root_der(0)
    place(fake, "/etc/pki/ca-trust/source/blocklist/public.der", public)
    place(
        fake,
        "/etc/pki/ca-trust/extracted/openssl/ca-bundle.trust.crt",
        trusted_certificate(decided, reject=P11KIT_KNOWN_USAGES),
    )
    ctx.use_os_reader(lambda options: linux.load(options, root=fake))
    outcome.forbid("root in the p11-kit blocklist", blocked)
    outcome.forbid("root rejected in p11-kit's trust decisions", decided)
    outcome.certifi_never["certifi root in the p11-kit blocklist"] = hashlib.sha256(
        public
    ).hexdigest()
    ctx.run()
    return outcome


def excluded_by_flag(ctx: Ctx) -> Outcome:
    outcome = ctx.control()
    unwanted = make_root("Root IT Said To Drop")
    ctx.store.add(unwanted, "unwanted.pem")
    public = CERTIFI_ORDER[1]
    outcome.forbid("root excluded by --exclude", unwanted)
    outcome.certifi_never["certifi root excluded by --exclude"] = public
    colons = ":".join(unwanted.sha256[i : i + 2].upper() for i in range(0, 64, 2))
    ctx.run("--exclude", colons, "--exclude", public)
    return outcome


def excluded_by_policy(ctx: Ctx) -> Outcome:
    outcome = ctx.control()
    unwanted = make_root("Root The Policy Excludes")
    handed_out = make_root("Root The Policy Hands Out")
    ctx.store.add(unwanted, "unwanted.pem")
    roots = handed_out.write(ctx.tmp_path / "policy-roots" / "corp.crt").parent
    unwanted.write(roots / "unwanted.crt")  # the policy's own folder offers it too
    policy = ctx.tmp_path / "policy.toml"
    policy.write_text(f'extra_ca = ["{roots}"]\nexclude = ["{unwanted.sha256}"]\n')
    outcome.forbid("root excluded by the policy", unwanted)
    outcome.allow("control: root the policy hands out", handed_out)
    ctx.run("--policy", str(policy))
    return outcome


# --- Windows, macOS: the real readers fed their OS's shapes ---------------------------------


def windows_store(ctx: Ctx) -> Outcome:
    outcome = Outcome()
    control = make_root("Windows GPO Root")
    code_signing = make_root("Windows Code Signing Only Root")
    disallowed = make_root("Windows Disallowed Root")
    intermediate = control.issue("Windows CA-Store Intermediate", ca=True)
    public = certifi_root_der(2)
    stores: dict[str, list[windows.Item]] = {
        "ROOT": [
            (control.der, "x509_asn", True),
            (code_signing.der, "x509_asn", frozenset({CODE_SIGNING_OID})),
            (disallowed.der, "x509_asn", True),
            (public, "x509_asn", True),
        ],
        "Disallowed": [
            (disallowed.der, "x509_asn", frozenset({CODE_SIGNING_OID})),
            (public, "x509_asn", True),
        ],
        "CA": [(intermediate.der, "x509_asn", True)],
    }
    ctx.use_os_reader(lambda options: windows.load(options, enum=FakeEnum(stores)))
    outcome.allow("control: ROOT entry for all usages", control)
    outcome.forbid("ROOT entry trusted for code signing only", code_signing)
    outcome.forbid("root in the Disallowed store (and in ROOT)", disallowed)
    outcome.forbid("CA-store intermediate without --include-intermediates", intermediate)
    outcome.certifi_never["certifi root in the Disallowed store"] = hashlib.sha256(
        public
    ).hexdigest()
    ctx.run()
    return outcome


def macos_deny(ctx: Ctx) -> Outcome:
    outcome = Outcome()
    mac = FakeMac(ctx.tmp_path / "fake-mac", ctx.monkeypatch)
    control = make_root("MDM Root With Admin Trust")
    denied = make_root("MDM Root With Admin Deny")
    denied_system = make_root("System Root The User Denied")
    mac.add(macos.SYSTEM_KEYCHAIN, control, denied)
    mac.add(macos.SYSTEM_ROOTS, denied_system)
    mac.settings(
        "admin",
        {
            control: [{**SSL, "kSecTrustSettingsResult": 1}],
            denied: [{**SSL, "kSecTrustSettingsResult": 3}],
        },
    )
    mac.settings("user", {denied_system: [{**SSL, "kSecTrustSettingsResult": 3}]})
    ctx.use_os_reader(lambda options: mac.load(options.scope))
    outcome.allow("control: MDM root with admin trust for SSL", control)
    outcome.forbid("System keychain root with an admin Deny", denied)
    outcome.forbid("system root with a user Deny", denied_system)
    ctx.run()
    return outcome


# --- certificates received from a server -----------------------------------------------------


def _server(ctx: Ctx, outcome: Outcome) -> HTTPSServer:
    stranger = make_root("Root A Server Presented")
    leaf = stranger.issue("127.0.0.1")
    outcome.forbid("root a server presented", stranger)
    outcome.forbid("leaf a server presented", leaf)
    return HTTPSServer(leaf, ctx.tmp_path / "server", send_root=True)


def from_server_without_pin(ctx: Ctx) -> Outcome:
    outcome = ctx.control()
    ctx.run()
    with _server(ctx, outcome) as server:
        shown = ctx.run("--from-server", f"127.0.0.1:{server.port}")
    assert "nothing trusted" in shown
    return outcome


def from_server_with_wrong_pin(ctx: Ctx) -> Outcome:
    outcome = ctx.control()
    ctx.run()
    wrong = make_root("Root IT Published").sha256
    with _server(ctx, outcome) as server:
        spec = f"127.0.0.1:{server.port}"
        ctx.run("--from-server", spec, "--pin", wrong, code=ExitCode.PIN_MISMATCH)
    return outcome


def from_server_with_right_pin(ctx: Ctx) -> Outcome:
    """The positive control: the pinned top certificate is trusted, the leaf still is not."""
    outcome = ctx.control()
    with _server(ctx, outcome) as server:
        root = server.leaf.parent
        assert root is not None
        ctx.run("--from-server", f"127.0.0.1:{server.port}", "--pin", root.sha256)
    label = "root a server presented"
    outcome.allowed["pinned root a server presented"] = outcome.never.pop(label)
    return outcome


def verify_against_a_server(ctx: Ctx) -> Outcome:
    outcome = ctx.control()
    ctx.run()
    with _server(ctx, outcome) as server:
        code = cli.main(["verify", server.url, "--timeout", "5"])
    ctx.capsys.readouterr()
    assert code == ExitCode.VERIFY_FAILED
    ctx.run("--verbose")  # a full run after verify: nothing it saw was kept anywhere
    return outcome


CASES: list[Case] = [
    leaf_certificates,
    expired_root,
    openssl_reject_flags,
    email_only,
    p11kit_blocklist,
    excluded_by_flag,
    excluded_by_policy,
    windows_store,
    macos_deny,
    from_server_without_pin,
    from_server_with_wrong_pin,
    from_server_with_right_pin,
    verify_against_a_server,
]


PARAMS = [pytest.param(case, id=case.__name__) for case in [*CASES, linux_intermediate]]


@pytest.mark.parametrize("case", PARAMS)
def test_untrusted_input_never_reaches_the_bundle(
    case: Case,
    store: Store,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcome = case(Ctx(tmp_path, store, isolated_home, capsys, monkeypatch))
    assert outcome.never or outcome.certifi_never, "a case must feed in something forbidden"
    assert outcome.allowed, "a case must feed in a good control root"
    written = sha256s(bundle_path(isolated_home).read_bytes())
    present = set(written)
    assert len(written) == len(present)  # each certificate once
    forbidden = {**outcome.never, **outcome.certifi_never}
    leaked = {label for label, sha in forbidden.items() if sha in present}
    assert not leaked, f"must never be in the bundle: {sorted(leaked)}"
    missing = {label for label, sha in outcome.allowed.items() if sha not in present}
    assert not missing, f"the control is missing, so the case proves nothing: {sorted(missing)}"
    for sha in outcome.certifi_never.values():
        assert sha in CERTIFI  # it was a certifi root, removed from certifi's part
    strangers = present - CERTIFI - set(outcome.allowed.values())
    assert not strangers, "certificates in the bundle that neither certifi nor the test gave"
