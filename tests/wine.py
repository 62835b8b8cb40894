"""A real Windows CPython under Wine (prepared by scripts/setup-wine), for the `wine` tests.

Use::

    with wine_prefix(tmp_path / "prefix") as wine:  # a private copy of the prepared prefix
        wine.seed([StoreEntry("ROOT", root.der), StoreEntry("Disallowed", bad.der)])
        wine.python(["-m", "build_ca_bundle", "--no-verify"], env={"APPDATA": "C:\\\\x"})
        wine.python(["-m", "pip", "config", "list"])

Facts the harness works around:

- Windows Python under Wine does not start when its stdout is a regular file: streams are pipes.
- Wine's background services (services.exe, rpcss, ...) inherit the streams of the program that
  starts them and live until the server exits, so a captured run would wait ~3 s for them. Each
  prefix therefore gets a persistent wineserver whose services were started with /dev/null.
- The embeddable CPython's ``._pth`` file makes it ignore PYTHONPATH and Wine sets APPDATA,
  USERPROFILE and friends from its registry, whatever the caller passed. A hook that setup-wine
  puts in site-packages honours PYTHONPATH again (so this checkout's ``src`` is importable; its
  path differs per clone) and applies ``BCB_WINE_ENV`` (JSON) over the Windows environment.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

import pytest
from cryptography import x509

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "wine"
PREPARED = CACHE / "prefix"
PYTHON = "C:\\python311\\python.exe"
# Written by scripts/setup-wine: honours PYTHONPATH and BCB_WINE_ENV (see above).
HOOK = PREPARED / "drive_c" / "python311" / "Lib" / "site-packages" / "zz_bcb_wine_hook.pth"
DEFAULT_TIMEOUT = 120.0

# The only Linux variables Wine gets: the rest (CA bundles, proxies, PIP_*, XDG_*) name Linux
# paths and settings that Windows Python would obey. Tests pass what they want through env.
_LINUX_KEPT = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
# Quiet Wine, and no Mono or Gecko installer dialogs (which would need a display).
_WINE_SETTINGS = {"WINEDEBUG": "-all", "WINEDLLOVERRIDES": "mscoree,mshtml="}

KOREAN_USER = "김민준"  # created by scripts/setup-wine with useradd --badname
KOREAN_LANG = "ko_KR.UTF-8"

# Certificate store locations for CertOpenStore (CERT_SYSTEM_STORE_*).
CURRENT_USER = 0x10000
LOCAL_MACHINE = 0x20000
LOCAL_MACHINE_GROUP_POLICY = 0x80000  # where group policy puts its roots
# Encoding types for CertAddEncodedCertificateToStore.
X509_ASN_ENCODING = 0x1
PKCS_7_ASN_ENCODING = 0x10000


def windows_path(path: Path) -> str:
    """The Windows name of a Linux path: Wine maps the Linux root to drive Z:."""
    return "Z:\\" + "\\".join(path.resolve().parts[1:])


@dataclass(frozen=True)
class StoreEntry:
    """One certificate to add to a Windows system store (ROOT, CA, Disallowed, ...)."""

    store: str
    der: bytes
    location: int = CURRENT_USER
    # Usage restriction set as the EKU *property* (CERT_ENHKEY_USAGE_PROP_ID), as certmgr does.
    eku: Sequence[x509.ObjectIdentifier] | None = None
    encoding: int = X509_ASN_ENCODING

    def to_json(self) -> dict[str, object]:
        eku = None
        if self.eku is not None:
            eku = base64.b64encode(x509.ExtendedKeyUsage(self.eku).public_bytes()).decode()
        return {
            "store": self.store,
            "location": self.location,
            "der": base64.b64encode(self.der).decode(),
            "eku": eku,
            "encoding": self.encoding,
        }


@dataclass(frozen=True)
class Enumerated:
    """One item of ``ssl.enum_certificates`` as Windows Python returned it."""

    sha256: str
    encoding: str | int
    trust: bool | frozenset[str]
    trust_type: str  # the Python type of trust inside Windows: bool, set or frozenset


@dataclass
class Wine:
    """One Wine prefix with the prepared Windows CPython at C:\\python311."""

    prefix: Path
    user: str | None = None  # run as this Unix user (its Wine profile is C:\\users\\<name>)
    lang: str | None = None  # e.g. ko_KR.UTF-8: Wine then uses the Korean ANSI code page

    def linux_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment Wine itself starts with."""
        if self.user is None:
            env = {k: v for k, v in os.environ.items() if k in _LINUX_KEPT}
        else:  # a clean environment for the other user, as a login would give
            env = {"PATH": "/usr/bin:/bin", "HOME": f"/home/{self.user}"}
        if self.lang:
            env.update(LANG=self.lang, LC_ALL=self.lang)
        env.update(_WINE_SETTINGS, WINEPREFIX=str(self.prefix))
        env.update(extra or {})
        return env

    def run(
        self,
        program: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: str = "",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run a Wine command (``wine ...``, ``wineserver ...``) with piped streams."""
        full_env = self.linux_env(env)
        command = list(program)
        if self.user is not None:  # runuser drops the caller's environment: pass it through env
            variables = [f"{name}={value}" for name, value in full_env.items()]
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            command = [runuser, "-u", self.user, "--", "/usr/bin/env", "-i", *variables, *command]
        return subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=full_env if self.user is None else None,
            timeout=timeout,
            check=False,
        )

    def python(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdin: str = "",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run Windows ``python.exe args``; ``env`` wins over what Wine sets (APPDATA...).

        This checkout's ``src`` comes first on sys.path unless ``env`` sets PYTHONPATH
        (``;``-separated Windows paths).
        """
        windows_env = {"PYTHONPATH": windows_path(REPO / "src"), **(env or {})}
        linux = {**windows_env, "BCB_WINE_ENV": json.dumps(windows_env)}
        return self.run(["wine", PYTHON, *args], env=linux, stdin=stdin, timeout=timeout)

    def start(self) -> None:
        """A persistent wineserver, its services started with no streams to hold open."""
        detached = "exec </dev/null >/dev/null 2>&1; wineserver -p && wine wineboot"
        result = self.run(["sh", "-c", detached], timeout=300)
        if result.returncode != 0:
            raise RuntimeError(f"wineserver or wineboot failed in {self.prefix}")

    def stop(self) -> None:
        self.run(["wineserver", "-k"], timeout=60)

    def drive_c(self, windows: str) -> Path:
        """The Linux path of a C:\\ path inside this prefix."""
        relative = PureWindowsPath(windows).relative_to("C:\\")
        return self.prefix / "drive_c" / Path(*relative.parts)

    def _harness_python(
        self, args: Sequence[str], stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        """A harness script (not the tool): once more if Wine's process died before Python
        said a word, as it now and then does under a full test run's load (exit code set,
        nothing on stdout or stderr). A script that ran and failed always says why."""
        result = self.python(args, stdin=stdin)
        if result.returncode != 0 and not (result.stdout or result.stderr):
            result = self.python(args, stdin=stdin)
        return result

    def seed(self, entries: Sequence[StoreEntry]) -> None:
        """Add certificates to Wine's system stores through crypt32, as Windows tools do."""
        result = self._harness_python(
            ["-c", SEED_SCRIPT], stdin=json.dumps([e.to_json() for e in entries])
        )
        if result.returncode != 0 or "seeded" not in result.stdout:
            raise RuntimeError(f"seeding failed: {result.stdout}\n{result.stderr}")

    def enum_certificates(self, store: str) -> list[Enumerated]:
        """``ssl.enum_certificates(store)`` as Windows Python sees it."""
        result = self._harness_python(["-c", ENUM_SCRIPT, store])
        if result.returncode != 0:
            raise RuntimeError(f"enum_certificates failed: {result.stdout}\n{result.stderr}")
        return [
            Enumerated(
                sha256=item["sha256"],
                encoding=item["encoding"],
                trust=item["trust"] if item["trust"] is True else frozenset(item["trust"]),
                trust_type=item["trust_type"],
            )
            for item in json.loads(result.stdout)
        ]


def unavailable_reason() -> str | None:
    if shutil.which("wine") is None:
        return "wine is not installed (scripts/setup-wine installs it)"
    if not (CACHE / "ready").exists():
        return "the Windows CPython is not prepared (run scripts/setup-wine)"
    if not HOOK.exists():
        return "the prepared Windows CPython is from an older scripts/setup-wine (run it again)"
    return None


def korean_unavailable_reason() -> str | None:
    import pwd

    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "needs root and runuser to run Wine as another user"
    try:
        pwd.getpwnam(KOREAN_USER)
    except KeyError:
        return f"the user {KOREAN_USER} does not exist (scripts/setup-wine creates it)"
    locales = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False)
    if "ko_KR.utf8" not in locales.stdout:
        return "the ko_KR.UTF-8 locale is not generated (scripts/setup-wine generates it)"
    return None


@contextmanager
def wine_prefix(
    folder: Path, *, user: str | None = None, lang: str | None = None
) -> Iterator[Wine]:
    """A private prefix at ``folder`` with the prepared CPython, its wineserver running.

    For the current user it is a copy of the prepared prefix (about 2.5 s for 0.7 GB; a fresh
    ``wineboot`` takes 6-10 s); for another ``user``, a prefix that user's wineboot makes.
    Seeded stores and written files stay in it, and it is deleted afterwards. Skips the test,
    saying why, when Wine or the prepared CPython is missing.
    """
    reason = unavailable_reason() or (korean_unavailable_reason() if user else None)
    if reason:
        pytest.skip(f"Windows under Wine unavailable: {reason}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    wine = Wine(folder, user=user, lang=lang)
    if user is None:
        subprocess.run(["cp", "-a", "--reflink=auto", str(PREPARED), str(folder)], check=True)
    else:
        # Another user needs a prefix of its own making (Wine names the profile after the
        # user and runs only in a prefix its user owns), with the prepared CPython copied in.
        # Callers use a folder of their own under /tmp: pytest's folders are root-only.
        shutil.chown(folder.parent, user)
        folder.parent.chmod(0o755)
        wine.run(["sh", "-c", "wineboot --init >/dev/null 2>&1 </dev/null; wineserver -w"])
        python = folder / "drive_c" / "python311"
        subprocess.run(
            ["cp", "-a", str(PREPARED / "drive_c" / "python311"), str(python)], check=True
        )
        subprocess.run(["chown", "-R", f"{user}:", str(python)], check=True)
    try:
        wine.start()
        yield wine
    finally:
        wine.stop()
        shutil.rmtree(folder, ignore_errors=True)


# Runs inside Windows python: reads StoreEntry.to_json() items from stdin and adds each
# certificate to a system store (CERT_STORE_PROV_SYSTEM_W), with an EKU property if given.
SEED_SCRIPT = r"""
import base64, ctypes, json, sys
from ctypes import wintypes
crypt32 = ctypes.WinDLL("crypt32", use_last_error=True)
crypt32.CertOpenStore.restype = ctypes.c_void_p
crypt32.CertOpenStore.argtypes = [ctypes.c_void_p, wintypes.DWORD, ctypes.c_void_p,
                                  wintypes.DWORD, ctypes.c_wchar_p]
crypt32.CertAddEncodedCertificateToStore.argtypes = [
    ctypes.c_void_p, wintypes.DWORD, ctypes.c_char_p, wintypes.DWORD, wintypes.DWORD,
    ctypes.POINTER(ctypes.c_void_p)]
class BLOB(ctypes.Structure):
    _fields_ = [("cbData", wintypes.DWORD), ("pbData", ctypes.c_char_p)]
crypt32.CertSetCertificateContextProperty.argtypes = [
    ctypes.c_void_p, wintypes.DWORD, wintypes.DWORD, ctypes.POINTER(BLOB)]
crypt32.CertFreeCertificateContext.argtypes = [ctypes.c_void_p]
crypt32.CertCloseStore.argtypes = [ctypes.c_void_p, wintypes.DWORD]
CERT_STORE_PROV_SYSTEM_W = 10
CERT_STORE_ADD_REPLACE_EXISTING = 3
CERT_ENHKEY_USAGE_PROP_ID = 9
for entry in json.load(sys.stdin):
    store = crypt32.CertOpenStore(ctypes.c_void_p(CERT_STORE_PROV_SYSTEM_W), 0, None,
                                  entry["location"], entry["store"])
    if not store:
        raise SystemExit(f"CertOpenStore failed: {ctypes.get_last_error():#x}")
    der = base64.b64decode(entry["der"])
    context = ctypes.c_void_p()
    if not crypt32.CertAddEncodedCertificateToStore(
            store, entry["encoding"], der, len(der), CERT_STORE_ADD_REPLACE_EXISTING,
            ctypes.byref(context)):
        raise SystemExit(f"CertAddEncodedCertificateToStore failed: {ctypes.get_last_error():#x}")
    if entry["eku"]:
        value = base64.b64decode(entry["eku"])
        blob = BLOB(len(value), value)
        if not crypt32.CertSetCertificateContextProperty(
                context, CERT_ENHKEY_USAGE_PROP_ID, 0, ctypes.byref(blob)):
            raise SystemExit(f"CertSetCertificateContextProperty failed: "
                             f"{ctypes.get_last_error():#x}")
    crypt32.CertFreeCertificateContext(context)
    crypt32.CertCloseStore(store, 0)
print("seeded")
"""

# Runs inside Windows python: ssl.enum_certificates(argv[1]) as JSON, keeping trust's type.
ENUM_SCRIPT = r"""
import hashlib, json, ssl, sys
print(json.dumps([
    {"sha256": hashlib.sha256(der).hexdigest(), "encoding": encoding,
     "trust": trust if trust is True else sorted(trust), "trust_type": type(trust).__name__}
    for der, encoding, trust in ssl.enum_certificates(sys.argv[1])
]))
"""
