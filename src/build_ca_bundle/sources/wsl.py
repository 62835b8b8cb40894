"""WSL: the Windows host's trust store, read through the Windows interop.

In WSL the Linux store lacks the roots group policy installed on Windows ("It isn't"
propagated: microsoft/WSL#3161), which is exactly why pip fails there. When interop is on,
``powershell.exe`` lists the host's Root and Disallowed stores; their certificates join as
their own source. Windows PowerShell 5.1 reports each certificate's usages as Windows
computes them (CertGetEnhancedKeyUsage), so a root restricted away from server
authentication is left out; an empty list means all usages (or, rarely, disabled: the two
look alike there). Disallowed still wins. No interop, a timeout or an error is a problem in
the summary, never a crash.
"""

from __future__ import annotations

import base64
import binascii
import configparser
import errno
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from build_ca_bundle.certificates import (
    Candidate,
    Problem,
    SourceKind,
    SourceResult,
    Verdict,
    parse_der,
)
from build_ca_bundle.sources import StoreOptions
from build_ca_bundle.sources.windows import allows_server_auth, describe_usages

NAME = "windows-host"
POWERSHELL = "powershell.exe"  # Windows PowerShell 5.1, on every Windows 10 and 11
# Where it is when WSL does not append Windows' folders to PATH (appendWindowsPath=false).
POWERSHELL_ON_C = "Windows/System32/WindowsPowerShell/v1.0/powershell.exe"  # below C:'s mount
MOUNTS = "proc/mounts"  # C: is "C:\\" on drvfs (WSL 1) or 9p with aname=drvfs;path=C:\ (WSL 2)
WSL_CONF = "etc/wsl.conf"  # [automount] root: where drives go when /proc/mounts cannot say
FSTAB = "etc/fstab"  # where a drive is mounted when automount is off
DEFAULT_AUTOMOUNT_ROOT = "/mnt/"
WHERE = f"Windows host store ({POWERSHELL})"
HINT = "--no-windows-host turns the host store off"

# The host stores we read, and what a certificate in each means for the bundle.
HOST_STORES = {
    "LocalMachine\\Root": Verdict.TRUST,  # machine roots, group policy and enterprise included
    "CurrentUser\\Root": Verdict.TRUST,  # the user's roots (Windows shows the machine's too)
    "LocalMachine\\Disallowed": Verdict.DISTRUST,  # distrusted machine-wide
    "CurrentUser\\Disallowed": Verdict.DISTRUST,  # distrusted by the user
}

# Markers in the script's output besides base64 and OIDs.
UNREADABLE = "!"  # in place of the certificate: the store could not be opened
UTF8_BOM = b"\xef\xbb\xbf"
HEX = "hex:"  # before the certificate in hex, from Constrained Language Mode (no ":" in base64)
USAGES_UNKNOWN = "?"  # in place of the usages: they could not be read; treated as all

# What a bundle for any scope but "user" reads: the machine's stores, not the Windows
# user's own (as the Windows reader does, sources/crypt32.py).
MACHINE_STORES = tuple(store for store in HOST_STORES if store.startswith("LocalMachine\\"))


def script(stores: Sequence[str]) -> str:
    """One line per certificate: store, tab, base64 DER, tab, comma-separated usage OIDs.
    ASCII only, so no console code page can garble it. The script holds no double quote:
    WSL's translation of arguments to a Windows command line does not keep them intact.

    Under AppLocker or WDAC, PowerShell runs in Constrained Language Mode, where only core
    types' methods may be called: ``[Convert]::ToBase64String`` stopped the script there
    ("Method invocation is supported only on core types"). System.Byte is a core type, so
    that mode writes each byte's ``ToString('x2')`` after ``hex:`` instead."""
    store_list = ",".join(f"'{store}'" for store in stores)
    return " ".join(
        (
            # A store that cannot be opened then lands in catch instead of on stderr.
            "$ErrorActionPreference = 'Stop';",
            "$t = [char]9;",
            "$full = $ExecutionContext.SessionState.LanguageMode -eq 'FullLanguage';",
            f"foreach ($s in @({store_list})) {{",
            "try { $certs = @(Get-ChildItem -Path ('Cert:\\' + $s)) }",
            f"catch {{ $s + $t + '{UNREADABLE}'; continue }};",
            "foreach ($c in $certs) {",
            # EnhancedKeyUsageList: property and extension intersected, as Windows decides.
            "try { $u = @($c.EnhancedKeyUsageList | ForEach-Object { $_.ObjectId }) -join ',' }",
            f"catch {{ $u = '{USAGES_UNKNOWN}' }};",
            "if ($full) { $d = [Convert]::ToBase64String($c.RawData) }",
            # A foreach statement, not ForEach-Object: a pipeline per byte is far slower.
            f"else {{ $d = '{HEX}' + (-join @(foreach ($b in $c.RawData)",
            "{ $b.ToString('x2') })) };",
            "$s + $t + $d + $t + $u",
            "} }",
        )
    )


SCRIPT = script(tuple(HOST_STORES))  # --scope user
MACHINE_SCRIPT = script(MACHINE_STORES)  # any other scope

Runner = Callable[..., subprocess.CompletedProcess[bytes]]


def load(
    options: StoreOptions,
    *,
    runner: Runner | None = None,
    timeout: float = 30.0,
    root: Path = Path("/"),
) -> SourceResult:
    """Read the Windows host's Root and Disallowed stores through ``powershell.exe``."""
    # The host store can change without any file here changing: never skip a run for it.
    result = SourceResult(name=NAME, kind=SourceKind.OS, complete_inputs=False)
    stores = tuple(HOST_STORES) if options.scope == "user" else MACHINE_STORES
    command = SCRIPT if options.scope == "user" else MACHINE_SCRIPT
    powershell = _powershell(options.environ, root)
    try:
        stdout = _run_script(powershell, command, runner or subprocess.run, timeout, result)
    except FileNotFoundError:
        _report(
            result,
            f"{POWERSHELL} was not found: Windows folders are not on PATH, or interop is off",
        )
        _watch_absence(powershell, root, result)
        return result
    if stdout is not None:
        _parse(stdout, stores, result)
    return result


def _powershell(environ: Mapping[str, str], root: Path) -> str:
    found = shutil.which(POWERSHELL, path=environ.get("PATH", ""))
    if found:
        return found
    fallback = powershell_fallback(root)
    return str(fallback) if fallback.is_file() else POWERSHELL


def powershell_fallback(root: Path = Path("/")) -> Path:
    """Where powershell.exe is below C:'s mount. Not always /mnt/c: with ``[automount]
    root=/`` C: is /c, and appendWindowsPath=false left only the /mnt/c guess, which
    missed it ("powershell.exe was not found" with PowerShell right there)."""
    drive = _c_mount(root) or _automount_root(root) + "c"
    return root / drive.lstrip("/") / POWERSHELL_ON_C


def _watch_absence(powershell: str, root: Path, result: SourceResult) -> None:
    """With no Windows drive mounted, no PATH can lead to powershell.exe: only mounting C:
    can, and that shows in watched files (the fallback appears, or wsl.conf or fstab
    changes). Then the host was not read, and runs may be skipped as on plain Linux; every
    run was a full one, for a host store it never reached. A drive mounted but no
    powershell.exe found stays a full run: PATH, which could bring it, is not in the key of
    every run (quick.relevant_environment)."""
    mounts = _mounts(root)
    if powershell != POWERSHELL or mounts is None or _windows_drive_mounted(mounts):
        return
    fallbacks = {powershell_fallback(root), root / "mnt/c" / POWERSHELL_ON_C}
    result.inputs += [*sorted(fallbacks), root / WSL_CONF, root / FSTAB]
    result.complete_inputs = True


def _windows_drive_mounted(mounts: list[tuple[str, str, str, str]]) -> bool:
    """Any drive through drvfs (WSL 1), 9p with aname=drvfs or virtiofs (WSL 2)."""
    for source, _, kind, options in mounts:
        if kind == "drvfs" or (kind == "9p" and "aname=drvfs" in re.split("[,;]", options)):
            return True
        if kind == "virtiofs" and source.startswith("drvfs"):
            return True
    return False


def _mounts(root: Path) -> list[tuple[str, str, str, str]] | None:
    """/proc/mounts as (source, mount point, type, options), or None when unreadable."""
    try:
        table = (root / MOUNTS).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    entries = (line.split() for line in table.splitlines())
    return [(_unescape(f[0]), _unescape(f[1]), f[2], f[3]) for f in entries if len(f) >= 4]


def _c_mount(root: Path) -> str | None:
    """C:'s mount point in /proc/mounts (a folder of C: mounted elsewhere, as Docker
    Desktop does, is not C:)."""
    for source, target, kind, options in _mounts(root) or ():
        if _is_c_drive(source, kind, options):
            return target
    return None


def _is_c_drive(source: str, kind: str, options: str) -> bool:
    if kind == "drvfs":
        return _is_c(source)
    if kind != "9p":
        return False
    settings = re.split("[,;]", options)
    paths = [item[len("path=") :] for item in settings if item.startswith("path=")]
    return "aname=drvfs" in settings and any(_is_c(_unescape(path)) for path in paths)


def _is_c(name: str) -> bool:
    return name.rstrip("\\").upper() == "C:"


def _unescape(field: str) -> str:
    """A /proc/mounts field: the kernel writes a space, tab, newline or backslash as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def _automount_root(root: Path) -> str:
    """``[automount] root`` of /etc/wsl.conf, ending in "/" (WSL's default: /mnt/)."""
    parser = configparser.ConfigParser(
        interpolation=None, strict=False, inline_comment_prefixes=("#",)
    )
    try:
        parser.read_string((root / WSL_CONF).read_text(encoding="utf-8", errors="replace"))
    except (OSError, configparser.Error):
        return DEFAULT_AUTOMOUNT_ROOT
    value = parser.get("automount", "root", fallback="").strip().strip("\"'")
    if not value.startswith("/"):
        return DEFAULT_AUTOMOUNT_ROOT
    return value.rstrip("/") + "/"


def _run_script(
    powershell: str, text: str, runner: Runner, timeout: float, result: SourceResult
) -> bytes | None:
    """The script's output, or None with a problem saying what went wrong."""
    command = [powershell, "-NoProfile", "-NonInteractive", "-Command", text]
    try:
        completed = runner(
            command, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise  # the caller decides whether a later run could find it
    except (OSError, subprocess.TimeoutExpired) as exc:
        _report(result, _why_not_run(exc, timeout))
        return None
    if completed.returncode != 0:
        error = " ".join(completed.stderr.decode("ascii", "replace").split())[:200]
        _report(result, _why_exited(completed.returncode, error))
        return None
    return completed.stdout


def _why_exited(code: int, error: str) -> str:
    """Disabled interop is not ENOEXEC: WSL's /init still runs the program, waits 10 s for
    Windows and exits 1 with "UtilAcceptVsock ... accept4 failed 110" (microsoft/WSL#11920),
    which was shown bare; a stale WSL_INTEROP socket gives the same (microsoft/WSL#6799)."""
    said = f"{POWERSHELL} exited with {code}: {error}"
    if "UtilAcceptVsock" in error:
        return (
            f"{said} (WSL interop is off: [interop] enabled=false in /etc/wsl.conf; set it "
            "true, then 'wsl --shutdown'. Or this shell's WSL_INTEROP socket is stale: open "
            "a new one)"
        )
    if "language mode" in error.lower():  # the script avoids it; a policy may forbid more
        return (
            f"{said} (PowerShell runs in Constrained Language Mode there: an AppLocker or "
            "WDAC policy on the Windows host lets scripts call methods of core types only)"
        )
    return said


def _why_not_run(exc: OSError | subprocess.TimeoutExpired, timeout: float) -> str:
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"{POWERSHELL} gave no answer within {timeout:g} s"
    if exc.errno == errno.ENOEXEC:  # the kernel knows no handler for Windows programs
        return (
            "Windows programs cannot run here: the WSLInterop entry in "
            "/proc/sys/fs/binfmt_misc is missing, often cleared by systemd-binfmt "
            "(microsoft/WSL#8843); 'wsl --shutdown' brings it back, and a binfmt.d file "
            "with ':WSLInterop:M::MZ::/init:PF' keeps it"
        )
    return f"cannot run {POWERSHELL} ({exc})"


def _report(result: SourceResult, message: str) -> None:
    """The host's stores could not be read at all: a problem, and ``unread``, so that a
    rebuild does not drop the roots the last run had from them (pipeline)."""
    result.problems.append(
        Problem(WHERE, f"{message}. The Windows roots are not in the bundle ({HINT}).")
    )
    result.unread.append(Problem(WHERE, message))


def _parse(output: bytes, stores: Sequence[str], result: SourceResult) -> None:
    """Turn the script's lines into candidates, one per certificate and verdict; a line
    from a store not asked for is unexpected output. A UTF-8 BOM before the first line (a
    console set to UTF-8 writes one) made it unreadable, and its certificate was lost."""
    text = output.removeprefix(UTF8_BOM).decode("ascii", "replace")
    chosen: dict[tuple[str, Verdict], Candidate] = {}
    restricted: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        store, _, rest = line.strip().partition("\t")
        encoded, _, usages_text = rest.partition("\t")
        verdict = HOST_STORES.get(store) if store in stores else None
        where = f"{NAME}:{store}"
        if verdict is None:
            result.problems.append(Problem(f"{WHERE} (line {number})", "unexpected output"))
        elif encoded == UNREADABLE:
            result.problems.append(Problem(where, "the Windows host could not open this store"))
        else:
            candidate = _candidate(encoded, usages_text, verdict, where, number, result)
            if candidate is None:
                continue
            if candidate.verdict is Verdict.TRUST and not allows_server_auth(_usages(usages_text)):
                restricted.add(candidate.certificate.sha256)
                continue
            # Each LocalMachine root shows again under CurrentUser: keep the first.
            chosen.setdefault((candidate.certificate.sha256, verdict), candidate)
    result.candidates.extend(chosen.values())
    _summarise(chosen, restricted, result)


def _candidate(
    encoded: str,
    usages_text: str,
    verdict: Verdict,
    where: str,
    number: int,
    result: SourceResult,
) -> Candidate | None:
    try:
        cert = parse_der(_decode(encoded))
    except (binascii.Error, ValueError) as exc:
        result.problems.append(Problem(f"{where} (line {number})", f"skipped: {exc}"))
        return None
    if verdict is Verdict.DISTRUST:
        return Candidate(cert, verdict, where, "Windows host Disallowed store")
    return Candidate(cert, verdict, where, f"Windows host Root, {_describe(usages_text)}")


def _decode(encoded: str) -> bytes:
    """The DER of a certificate as the script wrote it: base64, or hex after ``hex:``."""
    if encoded.startswith(HEX):
        return bytes.fromhex(encoded[len(HEX) :])
    return base64.b64decode(encoded, validate=True)


def _usages(text: str) -> frozenset[str] | None:
    """None (all usages) for an empty or unknown list, else the OIDs."""
    if text in ("", USAGES_UNKNOWN):
        return None
    return frozenset(oid for oid in text.split(",") if oid)


def _describe(text: str) -> str:
    if text == USAGES_UNKNOWN:
        return "usages unknown"
    return describe_usages(_usages(text))


def _summarise(
    chosen: dict[tuple[str, Verdict], Candidate], restricted: set[str], result: SourceResult
) -> None:
    roots = sum(1 for _, verdict in chosen if verdict is Verdict.TRUST)
    distrusted = len(chosen) - roots
    result.notes.append(
        f"read {roots} root(s) and {distrusted} Disallowed certificate(s) from the Windows "
        f"host through WSL interop ({HINT})"
    )
    left_out = len(restricted - {sha for sha, verdict in chosen if verdict is Verdict.TRUST})
    if left_out:
        result.notes.append(
            f"{left_out} Windows host root(s) are restricted to other usages than server "
            "authentication: left out"
        )
