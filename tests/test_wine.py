"""Windows for real: Windows CPython under Wine, its certificate stores seeded through crypt32,
our tool run through its Windows code paths, and a certifi-only Windows pip through the proxy.

Needs scripts/setup-wine; every test here skips, saying why, when Wine is not prepared."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pki import CODE_SIGNING, EMAIL, make_root
from tests.tls import PROBE, corporate_network
from tests.wine import (
    KOREAN_LANG,
    KOREAN_USER,
    LOCAL_MACHINE,
    LOCAL_MACHINE_GROUP_POLICY,
    REPO,
    StoreEntry,
    Wine,
    windows_path,
    wine_prefix,
)

pytestmark = pytest.mark.wine

WINDOWS_READER = REPO / "src" / "build_ca_bundle" / "sources" / "windows.py"


@pytest.fixture(scope="session")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wine]:
    """One copy of the prepared prefix for the session: every test seeds its own new roots."""
    with wine_prefix(tmp_path_factory.mktemp("wine") / "prefix") as prefix:
        yield prefix


def test_the_harness_environment_wins_over_the_one_wine_sets(wine: Wine) -> None:
    """Wine resets APPDATA and USERPROFILE from its registry; the harness must override it."""
    result = wine.python(
        [
            "-c",
            "import os, sys; print(os.environ['APPDATA'], os.path.expanduser('~'), sys.path[0])",
        ],
        env={"APPDATA": "C:\\elsewhere\\Roaming", "USERPROFILE": "C:\\elsewhere"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "C:\\elsewhere\\Roaming",
        "C:\\elsewhere",
        windows_path(REPO / "src"),
    ]


def profile_env(profile: Path) -> dict[str, str]:
    """A Windows user profile in a Linux folder. pip and platformdirs ask the shell API for
    AppData, not %APPDATA%; platformdirs >= 4.3 (ours, and pip's copy) takes WIN_PD_OVERRIDE_*."""
    roaming = windows_path(profile / "AppData" / "Roaming")
    local = windows_path(profile / "AppData" / "Local")
    return {
        "USERPROFILE": windows_path(profile),
        "APPDATA": roaming,
        "LOCALAPPDATA": local,
        "WIN_PD_OVERRIDE_APPDATA": roaming,
        "WIN_PD_OVERRIDE_LOCAL_APPDATA": local,
    }


def test_the_tool_writes_into_the_profile_the_test_names(wine: Wine, tmp_path: Path) -> None:
    root = make_root("Profile Test Root")
    wine.seed([StoreEntry("ROOT", root.der)])
    profile = tmp_path / "profile"
    result = wine.python(["-m", "build_ca_bundle", "--no-verify"], env=profile_env(profile))
    assert result.returncode == 0, result.stdout + result.stderr
    bundle = profile / "AppData" / "Local" / "build-ca-bundle" / "ca-bundle.pem"
    assert root.pem.decode().strip() in bundle.read_text()
    pip_ini = (profile / "AppData" / "Roaming" / "pip" / "pip.ini").read_bytes()
    assert pip_ini == f"[global]\r\ncert = {windows_path(bundle)}\r\n".encode()


def test_seeded_roots_enumerate_with_their_trust(wine: Wine) -> None:
    unrestricted = make_root("Seeded Unrestricted Root")
    machine = make_root("Seeded Machine Root")
    signing_only = make_root("Seeded Code Signing Root")
    wine.seed(
        [
            StoreEntry("ROOT", unrestricted.der),
            StoreEntry("ROOT", machine.der, location=LOCAL_MACHINE),
            StoreEntry("ROOT", signing_only.der, eku=[CODE_SIGNING]),
        ]
    )
    found = {item.sha256: item for item in wine.enum_certificates("ROOT")}
    for root in (unrestricted, machine):
        assert found[root.sha256].encoding == "x509_asn"
        assert found[root.sha256].trust is True
    # The EKU property is what the stdlib reports, as a frozenset of OIDs.
    assert found[signing_only.sha256].trust == frozenset({CODE_SIGNING.dotted_string})
    assert found[signing_only.sha256].trust_type == "frozenset"


def test_seeded_disallowed_enumerates(wine: Wine) -> None:
    user_distrusted = make_root("Seeded Disallowed Root (user)")
    machine_distrusted = make_root("Seeded Disallowed Root (machine)")
    wine.seed(
        [
            StoreEntry("Disallowed", user_distrusted.der),
            StoreEntry("Disallowed", machine_distrusted.der, location=LOCAL_MACHINE),
        ]
    )
    disallowed = {item.sha256 for item in wine.enum_certificates("Disallowed")}
    assert {user_distrusted.sha256, machine_distrusted.sha256} <= disallowed
    roots = {item.sha256 for item in wine.enum_certificates("ROOT")}
    assert user_distrusted.sha256 not in roots


# Runs inside Windows python: our reader on the real (Wine) stores, as JSON.
READ_STORES = """
import json
from build_ca_bundle.sources import StoreOptions, windows
result = windows.load(StoreOptions())
print(json.dumps({
    "candidates": {c.certificate.sha256: c.verdict.value for c in result.candidates},
    "problems": [str(p) for p in result.problems],
}))
"""


def test_our_windows_reader_inside_wine(wine: Wine) -> None:
    if not WINDOWS_READER.exists():
        pytest.skip("sources/windows.py not present")
    corporate = make_root("Reader Corporate Root")
    signing_only = make_root("Reader Code Signing Only Root")
    disallowed = make_root("Reader Disallowed Root")
    wine.seed(
        [
            StoreEntry("ROOT", corporate.der, location=LOCAL_MACHINE),
            StoreEntry("ROOT", signing_only.der, eku=[CODE_SIGNING]),
            StoreEntry("ROOT", disallowed.der),  # trusted as a root, and distrusted: distrust wins
            StoreEntry("Disallowed", disallowed.der, location=LOCAL_MACHINE),
        ]
    )
    result = wine.python(["-c", READ_STORES])
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    verdicts = summary["candidates"]
    assert verdicts[corporate.sha256] == "trust", summary
    assert signing_only.sha256 not in verdicts, summary
    assert verdicts[disallowed.sha256] == "distrust", summary


# Runs inside Windows python: ssl.enum_certificates and our machine-only reader (crypt32 by
# ctypes) over the same store, each item as (sha256, encoding, trust) in JSON.
COMPARE_READERS = """
import hashlib, json, ssl, sys
from build_ca_bundle.sources import crypt32
def items(enumerate_store):
    return sorted(
        [hashlib.sha256(der).hexdigest(), encoding, trust if trust is True else sorted(trust)]
        for der, encoding, trust in enumerate_store(sys.argv[1])
    )
print(json.dumps({"stdlib": items(ssl.enum_certificates),
                  "machine": items(crypt32.machine_enumerator())}))
"""


def test_the_machine_reader_sees_what_the_stdlib_sees_but_the_accounts_own_roots(
    wine: Wine,
) -> None:
    """Our crypt32 reader against ssl.enum_certificates over Wine's real stores: the same
    items in the same shapes (usages from the EKU property or else the extension), and the
    only ones the stdlib adds are the running account's own."""
    machine = make_root("Compare Machine Root")
    signing_only = make_root("Compare Machine Code Signing Root")
    email_extension = make_root("Compare Machine E-mail Extension Root", eku=[EMAIL])
    both_flags = make_root("Compare Machine Both Encodings Root")
    policy = make_root("Compare Group Policy Root")
    account = make_root("Compare Account Root")
    wine.seed(
        [
            StoreEntry("ROOT", machine.der, location=LOCAL_MACHINE),
            StoreEntry("ROOT", signing_only.der, location=LOCAL_MACHINE, eku=[CODE_SIGNING]),
            StoreEntry("ROOT", email_extension.der, location=LOCAL_MACHINE),
            StoreEntry("ROOT", both_flags.der, location=LOCAL_MACHINE, encoding=0x10001),
            StoreEntry("ROOT", policy.der, location=LOCAL_MACHINE_GROUP_POLICY),
            StoreEntry("ROOT", policy.der, location=LOCAL_MACHINE),  # two locations, one item
            StoreEntry("ROOT", account.der),
        ]
    )
    result = wine.python(["-c", COMPARE_READERS, "ROOT"])
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    stdlib = {item[0]: item for item in seen["stdlib"]}
    machine_items = {item[0]: item for item in seen["machine"]}

    assert machine_items[signing_only.sha256][2] == ["1.3.6.1.5.5.7.3.3"]  # the property
    assert machine_items[email_extension.sha256][2] == ["1.3.6.1.5.5.7.3.4"]  # the extension
    assert both_flags.sha256 in machine_items  # Wine stores it as plain X.509 (both readers)
    assert machine_items[policy.sha256][2] is True
    assert [item[0] for item in seen["machine"]].count(policy.sha256) == 1
    assert account.sha256 not in machine_items
    assert all(item in seen["stdlib"] for item in seen["machine"])
    seeded = {machine, signing_only, email_extension, both_flags, policy, account}
    only_in_stdlib = {sha for sha in stdlib if sha not in machine_items}
    assert only_in_stdlib & {root.sha256 for root in seeded} == {account.sha256}


# Runs inside Windows python: our machine reader with crypt32 failing as argv[1] says, through
# the real library otherwise (ctypes.set_last_error is what a failed Win32 call leaves).
FAILING_CRYPT32 = """
import ctypes, json, sys
from build_ca_bundle.sources import StoreOptions, crypt32, windows
real = crypt32._crypt32
ACCESS_DENIED = 5
def failing():
    library = real()
    class Wrapped:
        def __getattr__(self, name):
            return getattr(library, name)
        def CertOpenStore(self, provider, encoding, prov, flags, name):
            if sys.argv[1] == f"open:{flags & 0xFFFF0000:#x}":
                ctypes.set_last_error(ACCESS_DENIED)
                return None
            return library.CertOpenStore(provider, encoding, prov, flags, name)
        def CertEnumCertificatesInStore(self, handle, previous):
            if sys.argv[1] == "enumerate" and previous:  # the listing stops after one
                library.CertFreeCertificateContext(previous)
                ctypes.set_last_error(ACCESS_DENIED)
                return None
            return library.CertEnumCertificatesInStore(handle, previous)
    return Wrapped()
crypt32._crypt32 = failing
result = windows.load(StoreOptions(scope="global"))
print(json.dumps({"roots": len(result.candidates), "problems": [str(p) for p in result.problems]}))
"""


@pytest.mark.parametrize(
    ("failure", "roots_read"),
    [
        pytest.param(f"open:{LOCAL_MACHINE:#x}", False, id="local-machine-denied"),
        pytest.param(f"open:{LOCAL_MACHINE_GROUP_POLICY:#x}", True, id="group-policy-denied"),
        pytest.param("enumerate", False, id="listing-cut-short"),
    ],
)
def test_a_machine_store_read_in_part_is_a_problem_not_a_smaller_store(
    wine: Wine, failure: str, roots_read: bool
) -> None:
    """LOCAL_MACHINE holds nearly all of the machine's roots and its distrust: if it cannot
    be opened, or a listing stops with an error, the store is reported unreadable rather than
    read as the little that came back (a Disallowed list cut short would trust a distrusted
    root). Group policy's own location failing alone loses nothing LOCAL_MACHINE shows."""
    result = wine.python(["-c", FAILING_CRYPT32, failure])
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    unreadable = [p for p in seen["problems"] if "Windows ROOT store: cannot read it" in p]
    assert bool(unreadable) is not roots_read, seen
    assert (seen["roots"] > 0) is roots_read, seen


def test_a_machine_wide_build_holds_the_machines_roots_and_not_the_accounts(
    tmp_path: Path,
) -> None:
    """--scope global run by an account that added a root for itself (CurrentUser\\Root):
    the machine's bundle, which every account's pip reads, leaves that root out; the
    account's own bundle (--scope user) has it."""
    machine, account = make_root("Global Machine Root"), make_root("Global Account Root")
    disallowed = make_root("Global Disallowed Root")
    with wine_prefix(tmp_path / "prefix") as wine:  # its own: this writes C:\\ProgramData
        wine.seed(
            [
                StoreEntry("ROOT", machine.der, location=LOCAL_MACHINE),
                StoreEntry("ROOT", disallowed.der, location=LOCAL_MACHINE),
                StoreEntry("Disallowed", disallowed.der, location=LOCAL_MACHINE),
                StoreEntry("ROOT", account.der),
            ]
        )
        machine_wide = wine.python(["-m", "build_ca_bundle", "--scope", "global", "--no-verify"])
        assert machine_wide.returncode == 0, machine_wide.stdout + machine_wide.stderr
        bundle = wine.drive_c("C:\\ProgramData\\build-ca-bundle\\ca-bundle.pem").read_bytes()
        assert machine.pem in bundle
        assert account.pem not in bundle
        assert disallowed.pem not in bundle

        own = wine.python(["-m", "build_ca_bundle", "--no-verify", "--json"])
        assert own.returncode == 0, own.stdout + own.stderr
        user_bundle = wine.drive_c(json.loads(own.stdout)["bundle"]["path"]).read_bytes()
        assert account.pem in user_bundle
        assert machine.pem in user_bundle


def test_an_unchanged_windows_store_is_not_read_again_and_every_change_is_seen(
    wine: Wine,
) -> None:
    """The logon-script path on Windows: the second run decides from the manifest and the
    registry keys' state; a root added, a root's usages edited, or a root disallowed (each
    through crypt32, as certmgr and group policy do) makes the next run a full one."""
    first, second = make_root("Watch First Root"), make_root("Watch Second Root")
    wine.seed([StoreEntry("ROOT", first.der, location=LOCAL_MACHINE)])  # --scope none: machine's
    tool = ["-m", "build_ca_bundle", "--no-verify", "--scope", "none"]
    tool += ["--output", "C:\\watch\\ca-bundle.pem"]

    def run() -> str:
        result = wine.python(tool)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def unchanged() -> bool:
        return run().startswith("bundle unchanged:")

    assert first.sha256 in run()  # the first run reads the store
    assert unchanged()
    wine.seed([StoreEntry("ROOT", second.der, location=LOCAL_MACHINE)])
    assert second.sha256 in run()  # a root added
    assert unchanged()
    wine.seed([StoreEntry("ROOT", second.der, location=LOCAL_MACHINE, eku=[CODE_SIGNING])])
    assert second.sha256 not in run()  # its usages edited: code signing only
    assert unchanged()
    wine.seed([StoreEntry("Disallowed", first.der, location=LOCAL_MACHINE)])
    assert first.sha256 not in run()  # disallowed
    assert unchanged()


QUICK_PATH = r"""
import sys
from build_ca_bundle import entry
sys.argv = ["build-ca-bundle", "--no-verify"]
code = entry.main()
print("loaded:", sorted(m for m in ("argparse", "cryptography", "build_ca_bundle.cli",
      "build_ca_bundle.certificates") if m in sys.modules))
sys.exit(code)
"""


def test_the_windows_logon_path_answers_before_the_cli_is_imported(wine: Wine) -> None:
    """A bare run on Windows with nothing changed: the entry point finds the manifest in the
    per-user folder (platformdirs, as the full CLI does), walks the registry keys, and
    answers without importing argparse, the CLI or anything that parses certificates."""
    wine.seed([StoreEntry("ROOT", make_root("Quick Path Root").der)])
    first = wine.python(["-m", "build_ca_bundle", "--no-verify"])
    assert first.returncode == 0, first.stdout + first.stderr
    quick = wine.python(["-c", QUICK_PATH])
    assert quick.returncode == 0, quick.stdout + quick.stderr
    assert quick.stdout.startswith("bundle unchanged:"), quick.stdout
    assert "loaded: []" in quick.stdout


def windows_pip_install(proxy: str, index: str) -> list[str]:
    """Windows pip trusting only certifi or its `cert` setting, as pip < 24.2 did."""
    return [
        "-m",
        "pip",
        "install",
        "--target",
        "C:\\probe",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--use-deprecated=legacy-certs",
        "--retries",
        "0",
        "--timeout",
        "20",
        "--proxy",
        proxy,
        "--index-url",
        index,
        PROBE,
    ]


def test_certifi_only_windows_pip_works_through_the_proxy_after_the_tool(
    wine: Wine, tmp_path: Path
) -> None:
    with corporate_network(tmp_path) as (index, proxy):
        wine.seed([StoreEntry("ROOT", proxy.root.der)])
        pip = windows_pip_install(proxy.url, index.simple_url)
        before = wine.python(pip)
        assert before.returncode != 0
        assert "CERTIFICATE_VERIFY_FAILED" in before.stdout + before.stderr
        tool = wine.python(["-m", "build_ca_bundle", "--no-verify"])
        assert tool.returncode == 0, tool.stdout + tool.stderr
        assert proxy.root.sha256 in tool.stdout
        after = wine.python(pip)
        assert after.returncode == 0, after.stdout + after.stderr
    assert wine.drive_c(f"C:\\probe\\{PROBE}.py").exists()
    users = wine.prefix / "drive_c" / "users"
    (pip_ini,) = users.glob("*/AppData/Roaming/pip/pip.ini")
    data = pip_ini.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.startswith(b"[global]\r\ncert = C:\\users\\")
    assert data.endswith(b"\\build-ca-bundle\\ca-bundle.pem\r\n")


@pytest.fixture(scope="module")
def korean_wine() -> Iterator[Wine]:
    # Its own folder under /tmp: the other user cannot enter pytest's root-only folders.
    folder = Path(tempfile.mkdtemp(prefix="bcb-wine-ko-", dir="/tmp"))
    try:
        with wine_prefix(folder / "prefix", user=KOREAN_USER, lang=KOREAN_LANG) as prefix:
            yield prefix
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_korean_profile_under_the_korean_code_page(korean_wine: Wine, tmp_path: Path) -> None:
    """C:\\users\\김민준 and cp949: pip.ini holds the path in the code page pip reads."""
    encoding = korean_wine.python(["-c", "import locale; print(locale.getencoding())"])
    assert encoding.stdout.strip() == "cp949"
    with corporate_network(tmp_path) as (index, proxy):
        korean_wine.seed([StoreEntry("ROOT", proxy.root.der)])
        tool = korean_wine.python(["-m", "build_ca_bundle", "--no-verify"])
        assert tool.returncode == 0, tool.stdout + tool.stderr
        pip = windows_pip_install(proxy.url, index.simple_url)
        after = korean_wine.python(pip)
        assert after.returncode == 0, after.stdout + after.stderr
    pip_ini = korean_wine.prefix / "drive_c" / "users" / KOREAN_USER / "AppData" / "Roaming"
    data = (pip_ini / "pip" / "pip.ini").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    bundle = f"C:\\users\\{KOREAN_USER}\\AppData\\Local\\build-ca-bundle\\ca-bundle.pem"
    assert data == f"[global]\r\ncert = {bundle}\r\n".encode("cp949")


def test_env_for_cmd_sets_the_exact_path_in_a_real_batch_file(wine: Wine, tmp_path: Path) -> None:
    """cmd expands %NAME% in a batch file: a folder named "100%OS%done" became
    "100Windows_NTdone" before "%" was doubled."""
    from build_ca_bundle.targets import env

    path = "C:\\certs\\100%OS%done\\ca-bundle.pem"
    batch = wine.drive_c("C:\\env.cmd")
    batch.write_text(
        "@echo off\r\n"
        + env.render({"SSL_CERT_FILE": path}, "cmd").replace("\n", "\r\n")
        + "set SSL_CERT_FILE\r\n",  # not echo: Wine's echo expands a value once more
        encoding="ascii",
    )
    result = wine.run(["wine", "cmd", "/c", "C:\\env.cmd"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"SSL_CERT_FILE={path}"


_ENV_TO_BATCH = r"""
import subprocess, sys
with open(r"C:\env.cmd", "wb") as batch:  # a file, not a console: as `env ... > env.cmd`
    code = subprocess.call(
        [sys.executable, "-m", "build_ca_bundle", "env", "--shell", "cmd", "--output", sys.argv[1]],
        stdout=batch,
    )
sys.exit(code)
"""


def test_env_for_cmd_writes_a_batch_file_cmd_reads_in_its_own_code_page(
    wine: Wine, tmp_path: Path
) -> None:
    """Python writes a redirected stdout in the ANSI code page (cp1252), but cmd reads a
    batch file in the OEM one: "für Café" came out as a path that does not exist."""
    bundle = "C:\\Zertifikate für Café\\ca-bundle.pem"
    built = wine.python(["-m", "build_ca_bundle", "--no-verify", "--scope", "none", "-o", bundle])
    assert built.returncode == 0, built.stdout + built.stderr
    written = wine.python(["-c", _ENV_TO_BATCH, bundle])
    assert written.returncode == 0, written.stderr
    check = wine.drive_c("C:\\check.cmd")
    check.write_text(
        "@echo off\r\ncall C:\\env.cmd\r\n"
        'if exist "%SSL_CERT_FILE%" (echo FOUND) else (echo MISSING)\r\n',
        encoding="ascii",
    )
    result = wine.run(["wine", "cmd", "/c", "C:\\check.cmd"])
    assert result.stdout.strip().splitlines()[-1] == "FOUND", result.stdout + result.stderr


_ENV_FOR_POWERSHELL = r"""
import subprocess, sys
printed = subprocess.run(
    [sys.executable, "-m", "build_ca_bundle", "env", "--shell", "powershell", "-o", sys.argv[1]],
    stdout=subprocess.PIPE,  # a pipe, as `build-ca-bundle env | Invoke-Expression`
    check=True,
).stdout
sys.stdout.write(printed.hex())
"""


def test_env_for_powershell_is_printed_in_the_code_page_powershell_decodes_it_in(
    wine: Wine,
) -> None:
    """PowerShell decodes a program's output with [Console]::OutputEncoding, the OEM code
    page; Python wrote the pipe in the ANSI one: "José Müller" reached Invoke-Expression as
    "JosΘ Mⁿller", a path that does not exist."""
    bundle = "C:\\Users\\José Müller\\ca-bundle.pem"
    built = wine.python(["-m", "build_ca_bundle", "--no-verify", "--scope", "none", "-o", bundle])
    assert built.returncode == 0, built.stdout + built.stderr
    printed = wine.python(["-c", _ENV_FOR_POWERSHELL, bundle])
    assert printed.returncode == 0, printed.stderr
    oem = wine.python(["-c", "import ctypes; print(ctypes.windll.kernel32.GetOEMCP())"])
    code_page = f"cp{oem.stdout.strip()}"
    text = bytes.fromhex(printed.stdout.strip()).decode(code_page)
    assert f"$env:SSL_CERT_FILE = '{bundle}'" in text


def test_a_machine_policy_a_user_owns_in_programdata_is_refused_for_real(wine: Wine) -> None:
    """The owner read through GetNamedSecurityInfoW, in a real Windows CPython: Wine owns
    every file by the running user's SID (it keeps no ACLs), which is what a policy a
    standard user planted in %ProgramData% looks like on Windows."""
    folder = wine.drive_c("C:\\ProgramData\\build-ca-bundle")
    folder.mkdir(parents=True, exist_ok=True)
    policy = folder / "policy.toml"
    policy.write_text("keep_expired = false\n")
    try:
        result = wine.python(
            ["-m", "build_ca_bundle", "--no-verify", "--scope", "none", "-o", "C:\\p.pem"]
        )
    finally:
        policy.unlink()
        folder.rmdir()
    assert result.returncode == 5, result.stdout + result.stderr  # ExitCode.BUNDLE
    assert "policy.toml can be changed by users other than administrators" in result.stderr
    assert "is owned by S-1-5-21-" in result.stderr
    assert not wine.drive_c("C:\\p.pem").exists()
