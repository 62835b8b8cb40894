"""WSL: the Windows host's store through interop (a runner that answers as powershell.exe)."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

from build_ca_bundle.certificates import Verdict
from build_ca_bundle.sources import StoreOptions, wsl
from tests.pki import make_root


def answer(stdout: bytes, code: int = 0) -> wsl.Runner:
    def runner(command: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
        assert command[:4] == ["powershell.exe", "-NoProfile", "-NonInteractive", "-Command"]
        return subprocess.CompletedProcess(command, code, stdout, b"boom")

    return runner


def test_host_roots_and_disallowed_are_merged() -> None:
    gpo, bad = make_root("Host GPO Root"), make_root("Host Disallowed")
    lines = [
        f"LocalMachine\\Root\t{base64.b64encode(gpo.der).decode()}",
        f"CurrentUser\\Root\t{base64.b64encode(bad.der).decode()}",
        f"LocalMachine\\Disallowed\t{base64.b64encode(bad.der).decode()}",
        "CurrentUser\\Root\tnot-base64!",
    ]
    result = wsl.load(StoreOptions(environ={}), runner=answer("\r\n".join(lines).encode()))
    verdicts = {(c.certificate.label, c.verdict) for c in result.candidates}
    assert ("Host GPO Root", Verdict.TRUST) in verdicts
    assert ("Host Disallowed", Verdict.DISTRUST) in verdicts
    assert result.candidates[0].source == "windows-host:LocalMachine\\Root"
    assert [p.where for p in result.problems] == ["windows-host:CurrentUser\\Root (line 4)"]


def test_missing_interop_timeout_and_failure_are_problems() -> None:
    def missing(command: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
        raise FileNotFoundError(command[0])

    def slow(command: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
        raise subprocess.TimeoutExpired(command, timeout)

    for runner, text in (
        (missing, "interop is off"),
        (slow, "no answer within"),
        (answer(b"", code=1), "exited with 1"),
    ):
        result = wsl.load(StoreOptions(environ={}), runner=runner, timeout=2)
        assert result.candidates == []
        assert text in result.problems[0].message
        assert "--no-windows-host" in result.problems[0].message


def test_is_wsl(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "version").write_text(
        "Linux version 5.15.167.4-microsoft-standard-WSL2 (root@f9c826d3017f)"
    )
    assert wsl.is_wsl(tmp_path, environ={})
    (tmp_path / "proc" / "version").write_text("Linux version 6.1.0-18-amd64 (debian)")
    assert not wsl.is_wsl(tmp_path, environ={})
    assert wsl.is_wsl(tmp_path / "nothing", environ={"WSL_DISTRO_NAME": "Ubuntu"})
