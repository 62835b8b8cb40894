"""A real Windows CPython under Wine (prepared by scripts/setup-wine), for the `wine` tests.

Each test session gets a fresh Wine prefix (so seeded certificate stores never leak) whose
``C:\\python311`` links to the prepared interpreter. Windows Python under Wine needs pipes for
its standard streams, never files; and it ignores PYTHONPATH (its ``._pth`` file fixes
sys.path), so a ``.pth`` file points it at this checkout's ``src``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

import pytest

REPO = Path(__file__).resolve().parent.parent
PREPARED = REPO / ".cache" / "wine" / "prefix"
PYTHON = "C:\\python311\\python.exe"

# Variables a Windows program must get from Wine, not from the Linux test environment.
_UNIX_ONLY = ("APPDATA", "LOCALAPPDATA", "USERPROFILE", "PROGRAMDATA", "XDG_", "PIP_", "SSL_")


def unix_to_windows(path: Path) -> str:
    """Wine maps the Unix root to drive Z:."""
    return "Z:\\" + "\\".join(path.resolve().parts[1:])


@dataclass
class Wine:
    prefix: Path
    user: str | None = None  # run as this Unix user (its Wine profile is C:\\users\\<name>)
    lang: str | None = None  # e.g. ko_KR.UTF-8: Wine then uses the Korean ANSI code page

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        if self.user is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith(_UNIX_ONLY)}
        else:  # a clean environment for the other user, as a login would give
            env = {"PATH": "/usr/bin:/bin", "HOME": f"/home/{self.user}"}
        if self.lang:
            env.update(LANG=self.lang, LC_ALL=self.lang)
        env.update(
            WINEPREFIX=str(self.prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml="
        )
        env.update(extra or {})
        return env

    def command(self, program: Sequence[str], env: Mapping[str, str]) -> list[str]:
        if self.user is None:
            return list(program)
        variables = [f"{name}={value}" for name, value in env.items()]
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", self.user, "--", "/usr/bin/env", "-i", *variables, *program]

    def outer_env(self, env: dict[str, str]) -> dict[str, str] | None:
        """The environment of the process we start: runuser's own is the caller's."""
        return env if self.user is None else None

    def python(
        self,
        args: Sequence[str],
        *,
        stdin: str = "",
        timeout: float = 180,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run Windows python with piped streams (files make it fail to start)."""
        env = self.env(extra_env)
        return subprocess.run(
            self.command(["wine", PYTHON, *args], env),
            input=stdin,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=self.outer_env(env),
            timeout=timeout,
            check=False,
        )

    def windows_path(self, windows: str) -> Path:
        """The Unix path of a C:\\ path inside this prefix."""
        relative = PureWindowsPath(windows).relative_to("C:\\")
        return self.prefix / "drive_c" / Path(*relative.parts)

    def seed(self, entries: list[dict[str, object]]) -> None:
        """Add certificates to Wine's system stores through crypt32, as Windows tools do."""
        result = self.python(["-c", SEED_SCRIPT], stdin=json.dumps(entries))
        if result.returncode != 0 or "seeded" not in result.stdout:
            raise RuntimeError(f"seeding failed: {result.stdout}\n{result.stderr}")


def unavailable_reason() -> str | None:
    if shutil.which("wine") is None:
        return "wine is not installed (scripts/setup-wine installs it)"
    if not (PREPARED.parent / "ready").exists():
        return "the Windows CPython is not prepared (run scripts/setup-wine)"
    return None


KOREAN_USER = "김민준"  # created by scripts/setup-wine with useradd --badname
KOREAN_LANG = "ko_KR.UTF-8"


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


def make_prefix(folder: Path, *, user: str | None = None, lang: str | None = None) -> Wine:
    """A fresh prefix with the prepared interpreter linked in."""
    reason = unavailable_reason() or (korean_unavailable_reason() if user else None)
    if reason:
        pytest.skip(f"Windows under Wine unavailable: {reason}")
    wine = Wine(folder, user=user, lang=lang)
    if user is not None:
        # The other user must own its prefix and reach it: callers put it in a folder of
        # its own under /tmp, not under pytest's folders, which are private to root.
        shutil.chown(folder.parent, user)
        folder.parent.chmod(0o755)
    env = wine.env()
    subprocess.run(
        wine.command(["wineboot", "--init"], env),
        env=wine.outer_env(env),
        capture_output=True,
        timeout=300,
        check=False,
    )
    (folder / "drive_c" / "python311").symlink_to(PREPARED / "drive_c" / "python311")
    site = PREPARED / "drive_c" / "python311" / "Lib" / "site-packages"
    (site / "build_ca_bundle_src.pth").write_text(unix_to_windows(REPO / "src") + "\n")
    return wine


# Runs inside Windows python: reads JSON entries from stdin and adds each certificate to a
# system store (CERT_STORE_PROV_SYSTEM_W), with an EKU property when one is given.
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
LOCATIONS = {"CurrentUser": 0x10000, "LocalMachine": 0x20000}
for entry in json.load(sys.stdin):
    store = crypt32.CertOpenStore(ctypes.c_void_p(10), 0, None,
                                  LOCATIONS[entry["location"]], entry["store"])
    if not store:
        raise SystemExit(f"CertOpenStore failed: {ctypes.get_last_error()}")
    der = base64.b64decode(entry["der"])
    context = ctypes.c_void_p()
    ok = crypt32.CertAddEncodedCertificateToStore(store, 0x10001, der, len(der), 3,
                                                  ctypes.byref(context))
    if not ok:
        raise SystemExit(f"CertAddEncodedCertificateToStore failed: {ctypes.get_last_error()}")
    if entry.get("eku"):
        value = base64.b64decode(entry["eku"])
        blob = BLOB(len(value), value)
        if not crypt32.CertSetCertificateContextProperty(context, 9, 0, ctypes.byref(blob)):
            raise SystemExit(f"CertSetCertificateContextProperty failed: {ctypes.get_last_error()}")
    crypt32.CertFreeCertificateContext(context)
    crypt32.CertCloseStore(store, 0)
print("seeded")
"""
