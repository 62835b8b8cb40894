"""WSL: the Windows host's store through interop, with a runner that answers as
``powershell.exe`` running our script would: ``store<TAB>base64 DER<TAB>usage OIDs`` lines,
CRLF line ends, ``!`` for a store that could not be opened."""

from __future__ import annotations

import base64
import errno
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from build_ca_bundle.certificates import (
    SERVER_AUTH,
    Candidate,
    SourceKind,
    SourceResult,
    Verdict,
    parse_der,
    select,
)
from build_ca_bundle.sources import StoreOptions, is_wsl, wsl
from tests.pki import NOW, Issued, make_root

CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
CODE_SIGNING = "1.3.6.1.5.5.7.3.3"
NOT_A_CERTIFICATE = base64.b64encode(b"\x30\x03\x02\x01\x00").decode()  # valid DER, no cert


def line(store: str, cert: Issued, usages: str = "") -> str:
    return f"{store}\t{base64.b64encode(cert.der).decode()}\t{usages}"


def hex_line(store: str, cert: Issued, usages: str = "") -> str:
    """A line as the script writes it in Constrained Language Mode: hex after ``hex:``."""
    return f"{store}\thex:{cert.der.hex()}\t{usages}"


# What Windows PowerShell 5.1 prints when Constrained Language Mode stops a method call.
CLM_ERROR = (
    b"Cannot invoke method. Method invocation is supported only on core types in this "
    b"language mode.\r\nAt line:1 char:442\r\n+ ... { $d = [Convert]::ToBase64String($c.Raw"
    b"Data) } ...\r\n+                  ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\r\n"
    b"    + CategoryInfo          : InvalidOperation: (:) [], RuntimeException\r\n"
    b"    + FullyQualifiedErrorId : MethodInvocationNotSupportedInConstrainedLanguage\r\n"
)


class FakePowerShell:
    """A runner that records the command and answers with fixed output."""

    def __init__(self, lines: Sequence[str] = (), code: int = 0, stderr: bytes = b"") -> None:
        self.stdout = "".join(f"{text}\r\n" for text in lines).encode("ascii")
        self.code = code
        self.stderr = stderr
        self.calls: list[tuple[list[str], dict[str, object]]] = []

    def __call__(self, command: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        self.calls.append((command, kwargs))
        return subprocess.CompletedProcess(command, self.code, self.stdout, self.stderr)


def raising(exc: BaseException) -> wsl.Runner:
    def runner(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        raise exc

    return runner


def load(runner: wsl.Runner, timeout: float = 30.0) -> SourceResult:
    return wsl.load(StoreOptions(environ={}), runner=runner, timeout=timeout)


def certifi_with(*certs: Issued) -> SourceResult:
    result = SourceResult(name="certifi", kind=SourceKind.BASE)
    result.candidates = [Candidate(parse_der(c.der), Verdict.TRUST, "certifi") for c in certs]
    return result


def test_host_roots_join_the_bundle_as_their_own_source() -> None:
    gpo, public = make_root("Host GPO Root"), make_root("Public Root")
    runner = FakePowerShell(
        [
            line("LocalMachine\\Root", gpo),
            line("CurrentUser\\Root", gpo),  # CurrentUser shows the machine's roots again
            line("LocalMachine\\Root", public, f"{SERVER_AUTH},{CLIENT_AUTH}"),
        ]
    )
    result = load(runner)
    assert (result.name, result.kind) == ("windows-host", SourceKind.OS)
    assert result.problems == []
    assert result.complete_inputs is False
    (gpo_candidate,) = [c for c in result.candidates if c.certificate.label == "Host GPO Root"]
    assert gpo_candidate.verdict is Verdict.TRUST
    assert gpo_candidate.source == "windows-host:LocalMachine\\Root"
    assert gpo_candidate.reason == "Windows host Root, all usages"

    selection = select([certifi_with(public), result], now=NOW)
    assert [e.certificate.label for e in selection.beyond_base()] == ["Host GPO Root"]
    assert selection.beyond_base()[0].origins == ("windows-host:LocalMachine\\Root",)
    assert "read 2 root(s) and 0 Disallowed certificate(s)" in result.notes[0]


def test_a_host_disallowed_certificate_is_removed_from_certifi_too() -> None:
    bad, corp = make_root("Host Disallowed"), make_root("Corp Root")
    runner = FakePowerShell(
        [
            line("LocalMachine\\Root", corp),
            line("CurrentUser\\Root", bad),
            line("CurrentUser\\Disallowed", bad, "1.3.6.1.5.5.7.3.4"),
        ]
    )
    result = load(runner)
    (distrust,) = [c for c in result.candidates if c.verdict is Verdict.DISTRUST]
    assert (distrust.source, distrust.reason) == (
        "windows-host:CurrentUser\\Disallowed",
        "Windows host Disallowed store",
    )
    selection = select([certifi_with(bad), result], now=NOW)
    assert [e.certificate.label for e in selection.entries] == ["Corp Root"]


@pytest.mark.parametrize("scope", ["global", "site", "none"])
def test_any_scope_but_user_asks_the_host_for_its_machine_stores_alone(scope: str) -> None:
    """A bundle other accounts read must not hold a root the Windows user added for
    themselves (CurrentUser\\Root): the script asks for LocalMachine's stores only, and a
    CurrentUser line in its output is not trusted."""
    machine, own = make_root("Host Machine Root"), make_root("Host User's Own Root")
    runner = FakePowerShell([line("LocalMachine\\Root", machine), line("CurrentUser\\Root", own)])
    result = wsl.load(StoreOptions(scope=scope, environ={}), runner=runner)
    ((command, _),) = runner.calls
    assert "CurrentUser" not in command[-1]
    assert "'LocalMachine\\Root','LocalMachine\\Disallowed'" in command[-1]
    assert [c.certificate.label for c in result.candidates] == ["Host Machine Root"]
    assert [p.message for p in result.problems] == ["unexpected output"]

    user = load(FakePowerShell([line("CurrentUser\\Root", own)]))
    assert [c.certificate.label for c in user.candidates] == ["Host User's Own Root"]


def test_a_host_root_restricted_to_code_signing_is_left_out() -> None:
    signing, unknown = make_root("Signing Root"), make_root("Unknown Usages")
    runner = FakePowerShell(
        [
            line("LocalMachine\\Root", signing, CODE_SIGNING),
            line("LocalMachine\\Root", unknown, "?"),  # usages unreadable: kept, and said so
        ]
    )
    result = load(runner)
    assert [(c.certificate.label, c.reason) for c in result.candidates] == [
        ("Unknown Usages", "Windows host Root, usages unknown")
    ]
    assert any("1 Windows host root(s) are restricted" in note for note in result.notes)


def test_bad_lines_and_unopened_stores_are_problems_and_the_rest_is_read() -> None:
    corp = make_root("Corp Root")
    runner = FakePowerShell(
        [
            "CurrentUser\\Root\tnot-base64!\t",
            f"LocalMachine\\Root\t{NOT_A_CERTIFICATE}\t",
            "LocalMachine\\Disallowed\t!",
            "WARNING: something PowerShell printed",
            line("LocalMachine\\Root", corp),
        ]
    )
    result = load(runner)
    assert [c.certificate.label for c in result.candidates] == ["Corp Root"]
    assert [p.where for p in result.problems] == [
        "windows-host:CurrentUser\\Root (line 1)",
        "windows-host:LocalMachine\\Root (line 2)",
        "windows-host:LocalMachine\\Disallowed",
        "Windows host store (powershell.exe) (line 4)",
    ]
    assert "could not open this store" in result.problems[2].message


def test_powershell_is_run_without_profile_input_or_prompts() -> None:
    runner = FakePowerShell()
    load(runner, timeout=7)
    ((command, kwargs),) = runner.calls
    assert command[0].endswith("powershell.exe")
    assert command[1:] == ["-NoProfile", "-NonInteractive", "-Command", wsl.SCRIPT]
    assert kwargs["timeout"] == 7
    assert kwargs["stdin"] == subprocess.DEVNULL
    assert kwargs["capture_output"] is True


def test_the_script_reads_each_store_and_survives_windows_argument_quoting() -> None:
    script = wsl.SCRIPT
    assert script.isascii()
    assert '"' not in script  # WSL's command-line translation mangles double quotes
    assert "\n" not in script
    for store in wsl.HOST_STORES:
        assert f"'{store}'" in script
    assert "[Convert]::ToBase64String($c.RawData)" in script
    assert "EnhancedKeyUsageList" in script


def test_the_script_has_a_constrained_language_mode_branch_without_dotnet_calls() -> None:
    """AppLocker or WDAC put PowerShell in Constrained Language Mode, where
    ``[Convert]::ToBase64String`` is refused: that mode takes the hex branch, which calls
    nothing but System.Byte's ToString (a core type) and uses -join."""
    script = wsl.SCRIPT
    assert "$ExecutionContext.SessionState.LanguageMode -eq 'FullLanguage'" in script
    branch = script.split("else { $d = ", 1)[1].split("};", 1)[0]
    assert branch == "'hex:' + (-join @(foreach ($b in $c.RawData) { $b.ToString('x2') })) "
    assert "::" not in branch
    assert '"' not in script


def test_hex_lines_from_constrained_language_mode_are_read_like_base64_ones() -> None:
    corp, public = make_root("Corp Root"), make_root("Public Root")
    runner = FakePowerShell(
        [
            hex_line("LocalMachine\\Root", corp),
            hex_line("LocalMachine\\Root", public, SERVER_AUTH),
            "LocalMachine\\Root\thex:30zz\t",
        ]
    )
    result = load(runner)
    assert [c.certificate.label for c in result.candidates] == ["Corp Root", "Public Root"]
    assert [c.certificate.der for c in result.candidates] == [corp.der, public.der]
    (problem,) = result.problems
    assert problem.where == "windows-host:LocalMachine\\Root (line 3)"


def test_a_utf8_bom_before_the_first_line_costs_no_certificate() -> None:
    first, second = make_root("First Root"), make_root("Second Root")
    runner = FakePowerShell([line("LocalMachine\\Root", first), line("LocalMachine\\Root", second)])
    runner.stdout = b"\xef\xbb\xbf" + runner.stdout  # PowerShell with a UTF-8 console
    result = load(runner)
    assert result.problems == []
    assert [c.certificate.label for c in result.candidates] == ["First Root", "Second Root"]


def test_a_language_mode_error_names_constrained_language_mode() -> None:
    result = load(FakePowerShell(code=1, stderr=CLM_ERROR))
    (problem,) = result.problems
    assert "exited with 1: Cannot invoke method." in problem.message
    assert "Constrained Language Mode" in problem.message
    assert "AppLocker or WDAC" in problem.message


@pytest.mark.parametrize(
    ("runner", "expected"),
    [
        pytest.param(
            raising(FileNotFoundError(2, "No such file", "powershell.exe")),
            "powershell.exe was not found",
            id="no-powershell",
        ),
        pytest.param(
            raising(subprocess.TimeoutExpired(["powershell.exe"], 2)),
            "no answer within 2 s",
            id="timeout",
        ),
        pytest.param(
            raising(OSError(errno.ENOEXEC, "Exec format error")),
            "the WSLInterop entry in /proc/sys/fs/binfmt_misc is missing",
            id="binfmt-entry-missing",
        ),
        pytest.param(
            # [interop] enabled=false: /init runs it, waits 10 s for Windows and gives up
            FakePowerShell(
                code=1, stderr=b"<3>WSL (225) ERROR: UtilAcceptVsock:250: accept4 failed 110\n"
            ),
            "WSL interop is off: [interop] enabled=false in /etc/wsl.conf",
            id="interop-off",
        ),
        pytest.param(
            raising(PermissionError(errno.EACCES, "Permission denied")),
            "cannot run powershell.exe",
            id="not-executable",
        ),
        pytest.param(
            FakePowerShell(code=1, stderr=b"Get-ChildItem : Access\r\n denied"),
            "exited with 1: Get-ChildItem : Access denied",
            id="non-zero-exit",
        ),
    ],
)
def test_when_powershell_cannot_answer_the_problem_says_why_and_how_to_stop(
    runner: wsl.Runner, expected: str
) -> None:
    result = load(runner, timeout=2)
    assert result.candidates == []
    (problem,) = result.problems
    assert problem.where == "Windows host store (powershell.exe)"
    assert expected in problem.message
    assert "--no-windows-host" in problem.message


def test_the_real_runner_without_powershell_gives_a_problem() -> None:
    if wsl.powershell_fallback().exists():
        pytest.skip("a real Windows host is reachable here")
    result = wsl.load(StoreOptions(environ={"PATH": ""}))  # subprocess.run, nothing to find
    (problem,) = result.problems
    assert "powershell.exe was not found" in problem.message


# /proc/mounts lines as WSL writes them: the kernel escapes a backslash as \134 and a space
# as \040. Docker Desktop mounts a folder of C: too; that is not C:.
DOCKER_DESKTOP_MOUNT = (
    r"C:\134Program\040Files\134Docker\134Docker\134resources /Docker/host 9p rw,noatime,"
    r"aname=drvfs;path=C:\134Program\040Files\134Docker\134Docker\134resources;"
    r"symlinkroot=/mnt/,cache=5,access=client,msize=65536,trans=fd,rfd=3,wfd=3 0 0"
)
ROOT_FS = "/dev/sdc / ext4 rw,relatime,discard,errors=remount-ro,data=ordered 0 0"
D_DRIVE = r"D:\134 /d 9p rw,noatime,aname=drvfs;path=D:\;uid=1000;gid=1000;symlinkroot=/ 0 0"


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("c_drive", "expected"),
    [
        pytest.param(
            r"C:\134 /c 9p rw,noatime,dirsync,aname=drvfs;path=C:\;uid=1000;gid=1000;"
            r"symlinkroot=/,mmap,access=client,msize=262144,trans=virtio 0 0",
            "c",
            id="wsl2-automount-root-slash",
        ),
        pytest.param(
            r"C:\134 /mnt/c 9p rw,noatime,dirsync,aname=drvfs;path=C:\134;uid=1000;gid=1000;"
            r"symlinkroot=/mnt/,mmap,access=client,msize=65536,trans=fd,rfd=5,wfd=5 0 0",
            "mnt/c",
            id="wsl2-escaped-path",
        ),
        pytest.param(
            r"C:\134 /win/c drvfs rw,noatime,uid=1000,gid=1000,case=off 0 0", "win/c", id="wsl1"
        ),
        pytest.param(
            r"C:\134 /mnt/my\040c 9p rw,aname=drvfs;path=C:\;uid=1000 0 0",
            "mnt/my c",
            id="space",
        ),
    ],
)
def test_powershell_is_found_below_cs_mount_in_proc_mounts(
    tmp_path: Path, c_drive: str, expected: str
) -> None:
    """appendWindowsPath=false leaves PowerShell off PATH; C: is not always /mnt/c."""
    write(tmp_path, "proc/mounts", "\n".join((ROOT_FS, DOCKER_DESKTOP_MOUNT, D_DRIVE, c_drive)))
    found = wsl.powershell_fallback(tmp_path)
    assert found == tmp_path / expected / "Windows/System32/WindowsPowerShell/v1.0/powershell.exe"

    write(tmp_path, str(found.relative_to(tmp_path)), "MZ")
    runner = FakePowerShell()
    wsl.load(StoreOptions(environ={"PATH": "/usr/bin"}), runner=runner, root=tmp_path)
    ((command, _),) = runner.calls
    assert command[0] == str(found)


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ("[automount]\nroot = /\n", "c"),
        ('[automount]\nenabled = true\nroot = "/windows/"  # drives here\n', "windows/c"),
        ("[interop]\nappendWindowsPath = false\n", "mnt/c"),
        ("[automount\nroot = /\n", "mnt/c"),  # not an INI file: WSL's default
    ],
)
def test_without_cs_mount_the_automount_root_of_wsl_conf_decides(
    tmp_path: Path, conf: str, expected: str
) -> None:
    write(tmp_path, "proc/mounts", "\n".join((ROOT_FS, DOCKER_DESKTOP_MOUNT, D_DRIVE)))
    write(tmp_path, "etc/wsl.conf", conf)
    found = wsl.powershell_fallback(tmp_path)
    assert found == tmp_path / expected / "Windows/System32/WindowsPowerShell/v1.0/powershell.exe"


def not_found(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """What subprocess.run raises for a bare powershell.exe that no PATH folder holds."""
    raise FileNotFoundError(errno.ENOENT, "No such file or directory", command[0])


def test_no_powershell_and_no_windows_drive_is_watched_like_plain_linux(tmp_path: Path) -> None:
    """Automount off and no drive in fstab: no PATH can reach powershell.exe; mounting C:
    changes watched files. The host was not read, so runs need not all be full ones."""
    write(tmp_path, "proc/mounts", "\n".join((ROOT_FS, "none /mnt/wsl tmpfs rw,relatime 0 0")))
    result = wsl.load(StoreOptions(environ={"PATH": "/usr/bin"}), runner=not_found, root=tmp_path)
    assert "powershell.exe was not found" in result.problems[0].message
    assert result.complete_inputs is True
    assert tmp_path / "mnt/c" / wsl.POWERSHELL_ON_C in result.inputs
    assert tmp_path / "etc/wsl.conf" in result.inputs
    assert tmp_path / "etc/fstab" in result.inputs


@pytest.mark.parametrize(
    "drive",
    [
        D_DRIVE,  # a drive is there: a PATH change (not in every run's key) could find it
        r"C:\134 /mnt/c drvfs rw,noatime,uid=1000,gid=1000,case=off 0 0",
        "drvfsC /mnt/c virtiofs rw,relatime 0 0",
        None,  # /proc/mounts unreadable: cannot tell
    ],
)
def test_no_powershell_with_a_windows_drive_keeps_every_run_full(
    tmp_path: Path, drive: str | None
) -> None:
    if drive is not None:
        write(tmp_path, "proc/mounts", "\n".join((ROOT_FS, drive)))
    result = wsl.load(StoreOptions(environ={"PATH": "/usr/bin"}), runner=not_found, root=tmp_path)
    assert "powershell.exe was not found" in result.problems[0].message
    assert result.complete_inputs is False


def test_a_host_that_answered_or_failed_keeps_every_run_full(tmp_path: Path) -> None:
    write(tmp_path, "proc/mounts", ROOT_FS)
    for runner in (FakePowerShell(), FakePowerShell(code=1), raising(OSError(errno.ENOEXEC, "x"))):
        result = wsl.load(StoreOptions(environ={}), runner=runner, root=tmp_path)
        assert result.complete_inputs is False


def test_with_neither_mounts_nor_wsl_conf_c_is_at_mnt_c(tmp_path: Path) -> None:
    assert wsl.powershell_fallback(tmp_path) == tmp_path / "mnt/c" / wsl.POWERSHELL_ON_C


WSL2_KERNEL = "Linux version 5.15.167.4-microsoft-standard-WSL2 (root@f9c826d3017f) (gcc)"


def proc_version(root: Path, version: str) -> None:
    (root / "proc").mkdir()
    (root / "proc" / "version").write_text(version + "\n")


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (WSL2_KERNEL, True),
        ("Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc)", True),  # WSL 1
        ("Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)", False),
    ],
)
def test_is_wsl_reads_proc_version(tmp_path: Path, version: str, expected: bool) -> None:
    proc_version(tmp_path, version)
    assert is_wsl(tmp_path, environ={"WSL_DISTRO_NAME": "Ubuntu"}) is expected


@pytest.mark.parametrize(
    "evidence",
    [
        "proc/sys/fs/binfmt_misc/WSLInterop",  # WSL's /init registered interop
        "proc/sys/fs/binfmt_misc/WSLInterop-late",  # the same, when systemd runs
        "run/WSL",  # interop sockets: there when systemd-binfmt cleared the entry
    ],
)
def test_is_wsl_without_wsls_variables_takes_wsls_own_files(tmp_path: Path, evidence: str) -> None:
    """sudo and services drop WSL_DISTRO_NAME and WSL_INTEROP; WSL's files are still there."""
    proc_version(tmp_path, WSL2_KERNEL)
    (tmp_path / evidence).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / evidence).write_text(
        "enabled\ninterpreter /init\nflags: PF\noffset 0\nmagic 4d5a\n"
    )
    assert is_wsl(tmp_path, environ={})
    assert is_wsl(tmp_path, environ={"WSL_INTEROP": "/run/WSL/1_interop"})


def test_wsl1_under_sudo_is_wsl_by_its_kernel_alone(tmp_path: Path) -> None:
    """`sudo` drops WSL_DISTRO_NAME and WSL_INTEROP (env_reset); on WSL 1 the kernel string
    is WSL's own, and no container runs on it: an IT logon script run as root there read no
    host store, and the group-policy root left the bundle."""
    proc_version(tmp_path, "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc)")
    assert is_wsl(tmp_path, environ={"SUDO_USER": "ana"})


def test_a_container_on_wsls_kernel_is_not_wsl(tmp_path: Path) -> None:
    """Docker Desktop and devcontainers share WSL 2's kernel, so /proc/version names
    Microsoft; but WSL's interop entries, /run/WSL and its variables are not there, and no
    Windows program can run: no host store to read."""
    proc_version(tmp_path, WSL2_KERNEL)
    (tmp_path / "proc" / "sys" / "fs" / "binfmt_misc").mkdir(parents=True)
    (tmp_path / "proc" / "sys" / "fs" / "binfmt_misc" / "status").write_text("enabled\n")
    (tmp_path / ".dockerenv").touch()
    assert not is_wsl(tmp_path, environ={"HOSTNAME": "3f4e8a1c2b9d"})


def test_is_wsl_without_proc_falls_back_to_wsls_variables(tmp_path: Path) -> None:
    assert is_wsl(tmp_path, environ={"WSL_DISTRO_NAME": "Ubuntu"})
    assert is_wsl(tmp_path, environ={"WSL_INTEROP": "/run/WSL/1_interop"})
    assert not is_wsl(tmp_path, environ={})
