"""WSL: the Windows host's trust store, read through the Windows interop.

In WSL the Linux store lacks the roots group policy installed on Windows, which is exactly
why pip fails there. When interop is on, ``powershell.exe`` can list the host's ROOT and
Disallowed stores; their certificates join as their own source. Usages are not carried over
(PowerShell's view differs from the API's), so ROOT counts as trusted and Disallowed still
wins. No interop, a timeout or an error is a problem in the summary, never a crash.
"""

from __future__ import annotations

import base64
import binascii
import os
import subprocess
from collections.abc import Callable, Mapping
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

NAME = "windows-host"
POWERSHELL = "powershell.exe"

# One line per certificate: "<store path>\t<base64 DER>". ASCII only, so no code page can
# garble it. ROOT stores give anchors; Disallowed stores give distrust.
SCRIPT = (
    "$ErrorActionPreference = 'SilentlyContinue'; "
    "foreach ($store in 'LocalMachine\\Root','CurrentUser\\Root',"
    "'LocalMachine\\Disallowed','CurrentUser\\Disallowed') { "
    "Get-ChildItem -Path ('Cert:\\' + $store) | ForEach-Object { "
    '$store + "`t" + [Convert]::ToBase64String($_.RawData) } }'
)

Runner = Callable[[list[str], float], "subprocess.CompletedProcess[bytes]"]


def is_wsl(root: Path = Path("/"), environ: Mapping[str, str] | None = None) -> bool:
    """Microsoft's kernel says so in /proc/version (WSL 1 and 2)."""
    environ = os.environ if environ is None else environ
    try:
        version = (root / "proc" / "version").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return bool(environ.get("WSL_DISTRO_NAME"))  # no /proc: trust WSL's own variable
    return "microsoft" in version.lower()


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(command, capture_output=True, timeout=timeout, check=False)


def load(
    options: StoreOptions, *, runner: Runner | None = None, timeout: float = 30.0
) -> SourceResult:
    result = SourceResult(name=NAME, kind=SourceKind.OS, complete_inputs=False)
    command = [POWERSHELL, "-NoProfile", "-NonInteractive", "-Command", SCRIPT]
    hint = "run with --no-windows-host to stop trying"
    try:
        completed = (runner or _run)(command, timeout)
    except FileNotFoundError:
        result.problems.append(
            Problem(POWERSHELL, f"not found: Windows interop is off or not set up ({hint})")
        )
        return result
    except subprocess.TimeoutExpired:
        result.problems.append(Problem(POWERSHELL, f"no answer within {timeout:g} s ({hint})"))
        return result
    except OSError as exc:
        result.problems.append(Problem(POWERSHELL, f"cannot run it: {exc} ({hint})"))
        return result
    if completed.returncode != 0:
        error = completed.stderr.decode("utf-8", "replace").strip()[:200]
        result.problems.append(
            Problem(POWERSHELL, f"exited with {completed.returncode}: {error} ({hint})")
        )
        return result
    _parse(completed.stdout.decode("ascii", "replace"), result)
    result.notes.append("read the Windows host's ROOT and Disallowed stores through interop")
    return result


def _parse(text: str, result: SourceResult) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        store, _, encoded = line.strip().partition("\t")
        if not encoded:
            continue
        where = f"{NAME}:{store}"
        try:
            cert = parse_der(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError) as exc:
            result.problems.append(Problem(f"{where} (line {number})", f"skipped: {exc}"))
            continue
        if store.lower().endswith("\\disallowed"):
            result.candidates.append(
                Candidate(cert, Verdict.DISTRUST, where, "Windows host Disallowed store")
            )
        else:
            result.candidates.append(Candidate(cert, Verdict.TRUST, where, "Windows host ROOT"))
