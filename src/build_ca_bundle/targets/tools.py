"""What the git, npm, conda and uv targets share.

Each of those targets reads and writes its setting through the tool's own command line where
the tool has one, so the tool's own rules for which file a scope means still apply. This
module finds the tool on ``PATH``, runs it with a timeout and an explicit environment, and
carries that environment from ``plan`` to ``apply`` (``apply(plan)`` takes nothing else).
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from build_ca_bundle import inifile
from build_ca_bundle.errors import ConfigError
from build_ca_bundle.regular import read_bytes
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import (
    LEFT_ALONE,
    Change,
    Finding,
    Plan,
    Severity,
    backup_note,
    backup_of,
    backup_path,
    has_backup,
    real_file,
    refuse_read_only,
    write_backup,
)
from build_ca_bundle.values import Value

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import Final

# Long enough for conda (a Python start plus its plugins: seconds on a cold disk), short enough
# that a hung tool does not hang a logon script.
TIMEOUT = 60.0


class ToolEnvironment(Value):
    """Everything a tool target depends on, so tests can fake any OS and any PATH."""

    __slots__ = ("environ", "home", "platform", "timeout")
    environ: Final[Mapping[str, str]]
    home: Final[Path]  # the user's home: HOME on Unix, USERPROFILE on Windows
    platform: Final[str]  # "linux", "darwin" or "win32"
    timeout: Final[float]

    def __init__(
        self,
        environ: Mapping[str, str],
        home: Path,
        platform: str = "linux",
        timeout: float = TIMEOUT,
    ) -> None:
        self.environ = environ
        self.home = home
        self.platform = platform
        self.timeout = timeout

    @classmethod
    def current(cls, environ: Mapping[str, str] | None = None) -> ToolEnvironment:
        """This process's environment (or ``environ``), as the tools will see it."""
        env = dict(os.environ if environ is None else environ)
        platform = sys.platform if sys.platform in ("win32", "darwin") else "linux"
        name = "USERPROFILE" if platform == "win32" else "HOME"
        home = Path(env[name]) if env.get(name) else Path.home()
        return cls(environ=env, home=home, platform=platform)

    def which(self, tool: str) -> str | None:
        """The tool's executable on this environment's PATH, as the user's shell finds it."""
        return shutil.which(tool, path=self.environ.get("PATH", ""))

    def path_folders(self) -> list[Path]:
        """The absolute folders of PATH, where an installed tool appears."""
        folders = map(Path, dict.fromkeys(self.environ.get("PATH", "").split(os.pathsep)))
        return [folder for folder in folders if folder.is_absolute()]

    def variable(self, name: str) -> str | None:
        """An environment variable; case-blind on Windows, like the OS."""
        if self.platform != "win32":
            return self.environ.get(name)
        wanted = name.upper()
        return next((v for k, v in self.environ.items() if k.upper() == wanted), None)


class ToolPlan(Plan):
    """A plan that also knows how to apply each change: the tool's arguments, and the
    environment to run it in (the one the plan was made in, not whatever apply runs in)."""

    __slots__ = ("env", "commands")
    _hidden = Plan._hidden | {"env", "commands"}
    env: ToolEnvironment | None
    commands: dict[Change, list[str]]

    def __init__(
        self,
        target: str,
        env: ToolEnvironment | None = None,
        commands: dict[Change, list[str]] | None = None,
    ) -> None:
        super().__init__(target)
        self.env = env
        self.commands = {} if commands is None else commands


# Variables that keep a tool from writing beside what it is asked to: npm writes a debug log
# under ~/.npm/_logs and checks the registry for a newer npm on every call, `--dry-run`
# and doctor's reads included.
_QUIET = {"npm": {"npm_config_logs_max": "0", "npm_config_update_notifier": "false"}}


def run(
    env: ToolEnvironment, tool: str, args: Sequence[str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``tool args`` in ``env``; a failure to start, a timeout or (with ``check``) a
    non-zero exit is a ConfigError that names the command."""
    executable = env.which(tool)
    if executable is None:
        raise ConfigError(f"{tool} is not on PATH", hint=f"install {tool} or fix PATH")
    command = [executable, *args]
    try:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env={**env.environ, **_QUIET.get(tool, {})},
            # Not the caller's folder: a repository's or project's own config must not decide
            # what we read as the user's value.
            cwd=env.home if env.home.is_dir() else None,
            stdin=subprocess.DEVNULL,
            # Its own process group (POSIX), so that a hung tool goes with all it started:
            # killing the tool alone left a wrapper's children running after the logon.
            start_new_session=os.name == "posix",
            # What it creates readable by every account, as the files we write ourselves:
            # under umask 077 a global run made /etc/gitconfig 0600, and every other
            # account's git failed on it ("unable to access '/etc/gitconfig'").
            umask=0o022 if os.name == "posix" else -1,  # -1: Popen's "leave it" (Windows)
        )
    except OSError as error:
        raise ConfigError(f"cannot run {executable}: {error.strerror or error}") from error
    with process:
        try:
            stdout, stderr = process.communicate(timeout=env.timeout)
        except subprocess.TimeoutExpired as error:
            _kill_all(process)
            process.communicate()
            raise ConfigError(
                f"{tool} {' '.join(args)} did not finish in {env.timeout:g} s"
            ) from error
    completed = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    if check and completed.returncode != 0:
        raise ConfigError(
            f"{tool} {' '.join(args)} failed (exit {completed.returncode}): "
            f"{completed.stderr.strip()[:300]}"
        )
    return completed


def _kill_all(process: subprocess.Popen[str]) -> None:
    """End a tool that did not finish, and on POSIX every process of its group."""
    killpg = getattr(os, "killpg", None)
    if killpg is not None and os.name == "posix":
        try:
            killpg(process.pid, 9)  # SIGKILL; the group is the tool's own (start_new_session)
        except OSError:
            process.kill()
    else:
        process.kill()


def can_plan(result: ToolPlan, scope: Scope, env: ToolEnvironment) -> bool:
    """False when there is nothing to plan: ``--scope none``, or the tool is not installed
    (then ``result`` gets the finding that says so)."""
    if scope is Scope.NONE:
        return False
    if env.which(result.target) is None:
        result.findings.append(not_found(result.target))
        result.watched += env.path_folders()  # installed there later: a full run then
        return False
    return True


def revert(
    env: ToolEnvironment, change: Change, now: str | None, *, remove: list[str], restore: list[str]
) -> str:
    """Undo one change through the tool's CLI (``remove`` if it had no value before, else
    ``restore``), unless a person has changed the value since (``now``)."""
    if not same_path(now, change.new, env.platform):
        return left_alone(now)
    run(env, change.target, remove if change.old is None else restore)
    return undone(change)


def not_found(tool: str) -> Finding:
    # PATH's folders are watched (Plan.watched): installing the tool brings a full run.
    return Finding(
        Severity.INFO,
        tool,
        f"{tool} not found; not configured",
        f"nothing to do now: the first run after {tool} is on PATH configures it",
    )


def not_applicable(tool: str, scope: Scope, why: str) -> Finding:
    return Finding(
        Severity.INFO,
        tool,
        f"{tool} has no {scope.value}-scope setting ({why}); not configured",
        "use --scope user or --scope global",
    )


def same_path(a: str | None, b: str | None, platform: str) -> bool:
    """Compare two paths as the OS does: case-blind, either slash on Windows."""
    if a is None or b is None:
        return a is b
    if platform == "win32":
        return ntpath.normcase(ntpath.normpath(a)) == ntpath.normcase(ntpath.normpath(b))
    return posixpath.normpath(a) == posixpath.normpath(b)


def keep_backup(plan: Plan, path: Path) -> str | None:
    """Queue a backup of ``path`` for apply (its bytes also tell apply whether the file
    changed since); the note to add to the change, if a backup will be made: an older one
    is never replaced (:func:`write_backups`)."""
    try:
        plan.pending[backup_path(path)] = read_bytes(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ConfigError(f"cannot read {path} ({error.strerror})") from error
    return None if has_backup(path) else backup_note(backup_path(path))


def write_backups(plan: Plan) -> None:
    """Write the queued backups, never over an older one: the oldest is the person's file."""
    for path, data in plan.pending.items():
        if path.name.endswith(".bak"):
            original = path.with_name(path.name[: -len(".bak")])
            try:
                write_backup(original, data)
            except OSError as error:
                raise ConfigError(f"cannot write the backup {path} ({error.strerror})") from error


def write_file(path: Path, data: bytes) -> None:
    """Replace a config file's bytes atomically (its mode kept: npm makes npmrc 0600), through
    a link (dotfile managers link them), so that the link stays a link."""
    try:
        inifile.write_atomically(real_file(path), data)
    except OSError as error:
        raise ConfigError(f"cannot write {path} ({error.strerror})") from error


def backup_if_only_ours(change: Change, current: str, edit: Callable[[str], str]) -> bytes | None:
    """The backup's bytes, if the file is exactly the backup with our ``edit`` made (nobody
    edited it since): putting them back is the exact undo. None otherwise, or without a
    backup (UTF-8 files: uv.toml)."""
    backup = backup_of(change)
    if backup is None:
        return None
    try:
        before = backup.read_bytes()
        ours = edit(before.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ConfigError):
        return None
    return before if ours == current else None


def apply_commands(plan: Plan, tool: str) -> list[Change]:
    """Run each planned change's command; stop at the first that fails (ConfigError)."""
    if not plan.changes:
        return []
    if not isinstance(plan, ToolPlan) or plan.env is None:
        raise ConfigError(f"internal: a {tool} plan without its environment")
    for path in dict.fromkeys(change.path for change in plan.changes):
        refuse_read_only(path)  # git writes a lock file and renames it over the file
    write_backups(plan)
    applied = []
    for change in plan.changes:
        run(plan.env, tool, plan.commands[change])
        applied.append(change)
    return applied


def left_alone(now: str | None) -> str:
    shown = "unset" if now is None else now
    return f"{LEFT_ALONE}changed by someone since (now {shown})"


def undone(change: Change) -> str:
    return "removed" if change.old is None else "restored"
