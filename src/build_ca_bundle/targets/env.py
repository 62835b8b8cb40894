"""Environment variables for the tools that do not read pip's config: print, persist, export.

Most of these variables *replace* a tool's roots (reference/tools.md §0), which is why they
name the whole bundle, certifi included. ``NODE_EXTRA_CA_CERTS`` *adds* to Node's roots, so it
names ``extra-roots.pem``: only what the OS adds beyond certifi.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

from build_ca_bundle import console
from build_ca_bundle.regular import read_bytes
from build_ca_bundle.targets import EXPANDABLE_NOTE, Change, real_file
from build_ca_bundle.values import Value

# Variable -> which file it names, and the tools that read it.
BUNDLE_VARIABLES = {
    "SSL_CERT_FILE": "bundle",  # OpenSSL-based tools, Python's ssl, httpx, uv, Go on Linux, Ruby
    "REQUESTS_CA_BUNDLE": "bundle",  # requests, pip, Poetry, Azure CLI, twine
    "CURL_CA_BUNDLE": "bundle",  # curl (OpenSSL builds), requests' second choice, R
    "AWS_CA_BUNDLE": "bundle",  # AWS CLI and botocore
    "PIP_CERT": "bundle",  # pip, also where no pip.conf is read (e.g. --isolated is not used)
    "GIT_SSL_CAINFO": "bundle",  # git (OpenSSL/GnuTLS builds)
    "NODE_EXTRA_CA_CERTS": "extra",  # Node.js and npm: adds to Node's own roots
}


def variables(bundle: Path, extra_roots: Path) -> dict[str, str]:
    """The variables and values, in a stable order."""
    files = {"bundle": str(bundle), "extra": str(extra_roots)}
    return {name: files[kind] for name, kind in BUNDLE_VARIABLES.items()}


# --- shells -----------------------------------------------------------------------------


def _sh_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _fish_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# PowerShell's lexer ends a single-quoted string on any of these, not only on "'"
# (CharExtensions.IsSingleQuote): a profile folder "O\u2019Brien" (a typographic
# apostrophe) ended the string after "O" and ran the rest as code. Doubled, each is
# itself, as "''" is "'".
_POWERSHELL_QUOTES = "'\u2018\u2019\u201a\u201b"


def _powershell_quote(value: str) -> str:
    return "'" + "".join(c * 2 if c in _POWERSHELL_QUOTES else c for c in value) + "'"


SHELLS: dict[str, Callable[[str, str], str]] = {
    "sh": lambda name, value: f"export {name}={_sh_quote(value)}",  # sh, bash, zsh, dash
    "fish": lambda name, value: f"set -gx {name} {_fish_quote(value)}",
    "powershell": lambda name, value: f"$env:{name} = {_powershell_quote(value)}",
    # For a batch file, where "%%" is one "%": a folder named "100%OS%done" stays that.
    "cmd": lambda name, value: f'set "{name}={value.replace("%", "%%")}"',
}


def default_shell(environ: Mapping[str, str], platform: str = sys.platform) -> str:
    shell = Path(environ.get("SHELL", "")).name
    if shell == "fish":
        return "fish"
    if shell.removesuffix(".exe") in ("pwsh", "powershell"):  # a login shell on Linux/macOS too
        return "powershell"
    if platform == "win32" and not shell:
        return "powershell"
    return "sh"


def render(values: Mapping[str, str], shell: str) -> str:
    line = SHELLS[shell]
    return "".join(line(name, value) + "\n" for name, value in values.items())


# --- CI systems -------------------------------------------------------------------------


class CIExport(Value):
    """How one CI system passes variables to later steps."""

    __slots__ = ("system", "path", "text", "values")
    system: Final[str]
    path: Final[Path | None]  # the file we append to (GitLab's: replace), if any
    text: Final[str]  # what we write to it, or print
    values: Final[Mapping[str, str]]  # the variables the text sets

    def __init__(
        self, system: str, path: Path | None, text: str, values: Mapping[str, str]
    ) -> None:
        self.system = system
        self.path = path
        self.text = text
        self.values = values


DOTENV_NAME = "build-ca-bundle.env"  # GitLab's dotenv report, in the checkout


def ci_export(
    values: Mapping[str, str], environ: Mapping[str, str], *, dotenv: Path | None = None
) -> CIExport | None:
    """The export for the CI system we run in, or None outside CI."""
    if environ.get("GITHUB_ACTIONS") == "true" and environ.get("GITHUB_ENV"):
        # docs.github.com: "echo NAME=value >> $GITHUB_ENV". Paths with a line break are
        # refused before anything is built (bundle.check_bundle_path): none reach here.
        text = "".join(f"{name}={value}\n" for name, value in values.items())
        return CIExport("GitHub Actions", Path(environ["GITHUB_ENV"]), text, values)
    if environ.get("GITLAB_CI") == "true":
        # A dotenv report file: the job declares `artifacts: reports: dotenv: <file>`, a path
        # GitLab takes from $CI_PROJECT_DIR, wherever the script has gone with `cd`.
        text = "".join(f"{name}={value}\n" for name, value in values.items())
        project = Path(environ.get("CI_PROJECT_DIR") or os.curdir).absolute()
        return CIExport("GitLab CI", dotenv or project / DOTENV_NAME, text, values)
    if environ.get("TF_BUILD", "").lower() == "true":
        text = "".join(
            f"##vso[task.setvariable variable={name}]{_azure_escape(value)}\n"
            for name, value in values.items()
        )
        return CIExport("Azure Pipelines", None, text, values)
    if environ.get("CIRCLECI") == "true" and environ.get("BASH_ENV"):
        return CIExport("CircleCI", Path(environ["BASH_ENV"]), render(values, "sh"), values)
    return None


def ci_export_warning(export: CIExport, bundle: Path, environ: Mapping[str, str]) -> str | None:
    """What keeps the exported paths from serving where they go, if anything. GitLab's
    dotenv report reaches later jobs, which run in a fresh container with only the
    checkout and its artifacts: a bundle under $HOME is not there, and every TLS client
    pointed at it would trust nothing."""
    project = environ.get("CI_PROJECT_DIR")
    if export.system != "GitLab CI" or not project:
        return None
    try:
        bundle.resolve().relative_to(Path(project).resolve())
    except ValueError:
        return (
            f"the bundle {bundle} is outside $CI_PROJECT_DIR ({project}): later jobs get the "
            "variables but not the file (only the checkout and artifacts reach them); use "
            "--output $CI_PROJECT_DIR/ca-bundle.pem and keep it as an artifact"
        )
    builds, path = environ.get("CI_BUILDS_DIR"), environ.get("CI_PROJECT_PATH")
    if builds and path and Path(project) != Path(builds, path):
        # Shell and Kubernetes runners put their token and a concurrency number in the
        # folder (<builds>/<token>/<n>/<project path>): a later job may run in another.
        return (
            f"$CI_PROJECT_DIR ({project}) is not $CI_BUILDS_DIR/$CI_PROJECT_PATH: this runner "
            "names the folder per job, so a later job may find the artifacts elsewhere and "
            "the exported paths naming nothing; run build-ca-bundle --ci in each job that "
            "needs it, or give the runner a fixed builds_dir"
        )
    return None


def _azure_escape(value: str) -> str:
    """A logging command's data as azure-pipelines-task-lib escapes it (the agent undoes it)."""
    return value.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")


# GitLab refuses a dotenv report of this size or more (its default `dotenv_size` limit).
GITLAB_DOTENV_LIMIT = 5 * 1024


def check_ci_export(export: CIExport, environ: Mapping[str, str], *, try_open: bool) -> None:
    """Refuse, before anything is built or written, an export that the CI system would not
    pass on as it is: later steps would get another path, or nothing, after an exit 0.
    ``try_open``: also open the file it goes to (not for a dry run, which writes nothing)."""
    from build_ca_bundle.errors import BundleError

    values = export.values
    paths = " ".join(sorted(set(values.values())))
    if export.system == "GitLab CI":
        if any("$" in value for value in values.values()):
            # ParseDotenvArtifactService keeps values expandable: `$HOME` in a path would
            # become the later job's home folder.
            raise BundleError(
                f"GitLab expands '$' in dotenv variables, and a path here holds one ({paths})",
                hint="choose an --output path without '$'",
            )
        if any(value != value.strip() for value in values.values()):
            raise BundleError(  # GitLab strips each value: the later job's path would differ
                f"GitLab strips spaces around dotenv values, and a path here starts or ends "
                f"with one ({paths})",
                hint="choose an --output path without leading or trailing spaces",
            )
        if len(export.text.encode("utf-8")) >= GITLAB_DOTENV_LIMIT:
            raise BundleError(
                f"the dotenv report would be {len(export.text.encode('utf-8'))} bytes; GitLab "
                f"refuses one of {GITLAB_DOTENV_LIMIT} bytes or more",
                hint="choose a shorter --output path",
            )
    # The agent turns %AZP25 back into % only while its DECODE_PERCENTS knob is on (the
    # default); a pipeline that turned it off would get the escaped text as the path.
    percent_off = environ.get("DECODE_PERCENTS", "").strip().lower() == "false"
    if export.system == "Azure Pipelines" and percent_off and "%" in paths:
        raise BundleError(
            f"DECODE_PERCENTS is false, so Azure would not decode the '%' in {paths}",
            hint="choose an --output path without '%', or leave DECODE_PERCENTS on",
        )
    if export.path is not None and try_open:
        os.close(_open_export(export, export.path, truncate=False))  # can we write there?


def _open_export(export: CIExport, path: Path, *, truncate: bool) -> int:
    binary = getattr(os, "O_BINARY", 0)  # Windows: no CRLF made of our LF
    if export.system == "GitLab CI":
        # Our own file in the checkout: replaced, so that a second run in the job does not
        # name every variable twice (or two bundles); and a repository that commits it as a
        # link must not have the job write to what it names (~/.bashrc).
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | binary
        flags |= os.O_TRUNC if truncate else 0
        hint = "remove what is at that path (a link is never followed)"
    else:  # the CI system's own file, for every step: appended to, read for its last byte
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | binary
        hint = f"check that {export.system} set that variable to a file the job can write"
    try:
        return os.open(path, flags, 0o644)
    except OSError as error:
        from build_ca_bundle.errors import BundleError

        raise BundleError(
            f"cannot write {export.path} for {export.system} ({error.strerror or error}); "
            "no variables exported, and nothing was changed",
            hint=hint,
        ) from error


def write_ci_export(export: CIExport) -> None:
    if export.path is None:  # Azure reads its commands from stdout: exactly, or not at all
        print_exactly(export.text, f"exported to {export.system}")
        return
    descriptor = _open_export(export, export.path, truncate=True)
    text = export.text
    if export.system != "GitLab CI" and not _ends_a_line(descriptor):
        # An earlier `printf 'FOO=bar' >> $GITHUB_ENV` left no line break: without one, our
        # first line would be read as the end of theirs (FOO=barSSL_CERT_FILE=...).
        text = "\n" + text
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def _ends_a_line(descriptor: int) -> bool:
    """Whether an appended line would start a line of its own: empty, or ending in LF."""
    size = os.fstat(descriptor).st_size
    if size == 0:
        return True
    os.lseek(descriptor, size - 1, os.SEEK_SET)  # O_APPEND still writes at the end
    return os.read(descriptor, 1) == b"\n"


def oem_shell(shell: str) -> bool:
    """Whether ``shell`` reads what a program prints in the console's OEM code page."""
    return shell in ("cmd", "powershell")


def print_exactly(text: str, what: str, *, batch: bool = False) -> None:
    """Write lines that name the bundle to stdout, every character as it is, or refuse
    (exit 5): an escaped or replaced character would point the shell, or the CI system, at
    another path. ``batch``: for cmd, which reads a batch file in the console's OEM code
    page, and PowerShell, which decodes a program's output with [Console]::OutputEncoding,
    that same OEM page (``env | Invoke-Expression``), not the ANSI one Python writes a
    redirected stdout in: "José" came out as "JosΘ"."""
    as_batch = batch and sys.platform == "win32" and not sys.stdout.isatty()
    encoding = "oem" if as_batch else (sys.stdout.encoding or "utf-8")
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError as error:
        from build_ca_bundle.errors import BundleError

        raise BundleError(
            f"the bundle path cannot be written in {encoding}, the encoding this output goes "
            f"out in: no variables {what}",
            hint="choose a bundle path of plain ASCII with --output (the same for every run)",
        ) from error
    with console.guarded():
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


# --- persisting: POSIX shell start-up file ------------------------------------------------

BEGIN = "# >>> build-ca-bundle >>>"
END = "# <<< build-ca-bundle <<<"
_BLOCK = re.compile(rf"^{re.escape(BEGIN)}\n.*?^{re.escape(END)}\n?", re.MULTILINE | re.DOTALL)


def startup_file(home: Path, environ: Mapping[str, str]) -> tuple[Path, str]:
    """The login shell's start-up file, and the syntax it takes."""
    shell = Path(login_shell(environ)).name
    if shell == "zsh":  # zsh reads its start-up files from $ZDOTDIR, else from HOME (zsh(1))
        zdotdir = environ.get("ZDOTDIR", "")
        return (Path(zdotdir) if Path(zdotdir).is_absolute() else home) / ".zprofile", "sh"
    if shell == "fish":  # fish reads $XDG_CONFIG_HOME/fish when that is an absolute path
        config = environ.get("XDG_CONFIG_HOME", "")
        folder = Path(config) if Path(config).is_absolute() else home / ".config"
        return folder / "fish" / "conf.d" / "build-ca-bundle.fish", "fish"
    if shell == "bash":  # a login bash reads the first of these, and then not ~/.profile
        for name in (".bash_profile", ".bash_login"):
            if (home / name).exists():
                return home / name, "sh"
    return home / ".profile", "sh"


def login_shell(environ: Mapping[str, str]) -> str:
    """$SHELL, else the account's login shell from the user database: cron and `env -i`
    set no SHELL, and ~/.profile was then written though login bash reads ~/.bash_profile."""
    shell = environ.get("SHELL", "")
    if shell:
        return shell
    if sys.platform == "win32":
        return ""
    else:  # noqa: RET505 (mypy checks one branch per platform)
        import pwd

        try:
            return pwd.getpwuid(os.getuid()).pw_shell
        except KeyError:  # an account the user database does not know (a container's uid)
            return ""


def block(values: Mapping[str, str], shell: str) -> str:
    return (
        f"{BEGIN}\n"
        "# Written by build-ca-bundle; replaced on every run. Remove: build-ca-bundle undo\n"
        f"{render(values, shell)}{END}\n"
    )


def bundle_in_block(found: str, path: Path) -> str | None:
    """The bundle our block ``found`` (in the start-up file ``path``) names, from its
    PIP_CERT line, unquoted as that file's shell reads it; None if no such line is there.
    (Undo looked for the bundle's path anywhere in the block: a path with a "'", quoted
    "o'\\''brien", was never found, and one inside a longer path, "/a/ca.pem" in
    "/x/a/ca.pem", was.)"""
    fish = path.suffix == ".fish"
    prefix = "set -gx PIP_CERT '" if fish else "export PIP_CERT='"
    for line in found.splitlines():
        if line.startswith(prefix) and line.endswith("'"):
            quoted = line[len(prefix) - 1 :]
            if fish:  # inside '': \\ is \ and \' is '
                return re.sub(r"\\([\\'])", r"\1", quoted[1:-1])
            return quoted[1:-1].replace("'\\''", "'")
    return None


def with_block(text: str, new_block: str | None) -> str:
    """``text`` with our block replaced in place (or appended, or removed when None, with
    the blank line put before it)."""
    found = _BLOCK.search(text)
    if found is not None:
        start = found.start()
        if new_block is None and text.endswith("\n\n", 0, start):
            start -= 1
        return text[:start] + (new_block or "") + text[found.end() :]
    if new_block is None:
        return text
    separator = "" if not text or text.endswith("\n") else "\n"
    return text + separator + ("\n" if text else "") + new_block


# A start-up file is the person's: any encoding (Latin-1 from an old system), any line
# ends. Its bytes go through unchanged, undecodable ones included; only our block is ours.
_ENCODING, _ERRORS = "utf-8", "surrogateescape"


def current_block(text: str) -> str | None:
    """Our block in a start-up file's text, if there is one."""
    found = _BLOCK.search(text)
    return None if found is None else found.group(0)


def read_startup_file(path: Path) -> str | None:
    """The file's text, every byte kept (see ``_ENCODING``); None if there is none."""
    try:
        return read_bytes(path).decode(_ENCODING, _ERRORS)
    except (FileNotFoundError, NotADirectoryError):  # a link into a file: none there either
        return None


def plan_startup_file(
    values: Mapping[str, str], home: Path, environ: Mapping[str, str]
) -> tuple[Path, str | None, str] | None:
    """(file, old text or None if absent, new text) when the file needs our block; None
    when it is current."""
    path, shell = startup_file(home, environ)
    old = read_startup_file(path)
    new = with_block(old or "", block(values, shell))
    return None if new == old else (path, old, new)


def apply_startup_file(path: Path, new: str) -> None:
    """Write through a link (dotfile managers link start-up files), never replacing it."""
    from build_ca_bundle.errors import ConfigError
    from build_ca_bundle.inifile import write_atomically

    real = real_file(path)
    shown = path if real == path else f"{path} (a link to {real})"
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(real, new.encode(_ENCODING, _ERRORS))
    except OSError as error:  # a link into a read-only store (home-manager), chattr +i
        raise ConfigError(
            f"cannot write the start-up file {shown} ({error.strerror or error}); it was "
            "left unchanged",
            hint="make it writable, or set the variables where your dotfiles are managed "
            "(`build-ca-bundle env` prints them)",
        ) from error


def remove_startup_file(path: Path) -> None:
    """Remove a start-up file this tool created (the file a link leads to, not the link)."""
    real_file(path).unlink()


# --- persisting: Windows per-user environment ---------------------------------------------


class Registry(Protocol):
    """The part of :mod:`winreg` we use, so tests can pass a fake with the same interface."""

    HKEY_CURRENT_USER: int
    KEY_READ: int
    KEY_SET_VALUE: int
    REG_SZ: int
    REG_EXPAND_SZ: int

    # Positional-only and loosely typed, as winreg's own functions are.
    def OpenKey(self, key: Any, sub_key: str, reserved: int, access: int, /) -> Any: ...
    def QueryValueEx(self, key: Any, name: str, /) -> tuple[Any, int]: ...
    def SetValueEx(self, key: Any, name: str, reserved: Any, kind: int, value: Any, /) -> None: ...
    def DeleteValue(self, key: Any, name: str, /) -> None: ...
    def CloseKey(self, key: Any, /) -> None: ...


def read_windows_environment(
    registry: Registry, names: Iterable[str]
) -> dict[str, tuple[str, int]]:
    """The HKCU\\Environment values of ``names`` that are set, with their registry types."""
    key = registry.OpenKey(registry.HKEY_CURRENT_USER, "Environment", 0, registry.KEY_READ)
    found: dict[str, tuple[str, int]] = {}
    try:
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                value, kind = registry.QueryValueEx(key, name)
                found[name] = (str(value), kind)
    finally:
        registry.CloseKey(key)
    return found


# A change undo makes: its value goes back as the REG_EXPAND_SZ it was (EXPANDABLE_NOTE).
WRITE_EXPANDABLE = "written as REG_EXPAND_SZ"


def plan_windows_environment(values: Mapping[str, str], registry: Registry) -> list[Change]:
    """One change per HKCU\\Environment value that differs; a REG_EXPAND_SZ value it
    replaces is noted, so that undo writes it back as one."""
    current = read_windows_environment(registry, values)
    changes = []
    for name, value in values.items():
        old, kind = current.get(name, (None, registry.REG_SZ))
        if old != value:
            notes = (EXPANDABLE_NOTE,) if kind == registry.REG_EXPAND_SZ else ()
            changes.append(Change("env", Path("HKCU\\Environment"), name, old, value, notes))
    return changes


def apply_windows_environment(
    changes: Sequence[Change], registry: Registry, broadcast: Callable[[], None]
) -> None:
    """Write the values (no ``setx``: it truncates at 1024 characters), then tell Explorer.
    Ours are plain REG_SZ: a "%" in the bundle's path is a character, not a variable (a
    folder named "100%OS%done" became "100Windows_NTdone" in every new process)."""
    key = registry.OpenKey(registry.HKEY_CURRENT_USER, "Environment", 0, registry.KEY_SET_VALUE)
    try:
        for change in changes:
            if change.new is None:
                with contextlib.suppress(FileNotFoundError):  # already gone: nothing to undo
                    registry.DeleteValue(key, change.key)
            else:  # EXPANDABLE_NOTE speaks of the value before ours, not of ours
                expandable = WRITE_EXPANDABLE in change.notes
                kind = registry.REG_EXPAND_SZ if expandable else registry.REG_SZ
                registry.SetValueEx(key, change.key, 0, kind, change.new)
    finally:
        registry.CloseKey(key)
    broadcast()


def broadcast_environment_change() -> None:  # pragma: no cover - Windows only
    """Send WM_SETTINGCHANGE("Environment") so new processes see the new values."""
    if sys.platform == "win32":
        import ctypes
        from ctypes import wintypes

        hwnd_broadcast = 0xFFFF
        wm_settingchange = 0x001A
        smto_abortifhung = 0x0002
        result = wintypes.DWORD()
        ctypes.windll.user32.SendMessageTimeoutW(
            hwnd_broadcast,
            wm_settingchange,
            0,
            "Environment",
            smto_abortifhung,
            5000,
            ctypes.byref(result),
        )


def current_environment_shell() -> str:
    return default_shell(os.environ)
