"""pip: find its config files exactly as pip 26.3 does, and set ``[global] cert`` in one.

Mirrors ``pip/_internal/configuration.py`` and ``utils/appdirs.py`` (pip 26.3, vendoring
platformdirs 4.12): which files are loaded, in which order, how they are decoded and parsed,
and how a ``cert`` value is chosen among files, command sections and ``PIP_CERT``. The plan
also reports everything that would still beat the value we write, with the exact fix.

Nothing here asks which OS it runs on: :class:`PipEnvironment` carries the platform, the
environment and the folders, so every rule is testable on any machine.
"""

from __future__ import annotations

import contextlib
import locale
import ntpath
import os
import posixpath
import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path

from build_ca_bundle import inifile
from build_ca_bundle.errors import ConfigError
from build_ca_bundle.regular import read_bytes
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import (
    CREATED_NOTE,
    LEFT_ALONE,
    TRUSTED_HOSTS_KEPT,
    Change,
    Finding,
    Plan,
    Severity,
    backup_note,
    backup_of,
    backup_path,
    check_unchanged,
    has_backup,
    real_file,
    write_backup,
)
from build_ca_bundle.values import Value

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import Final

    from build_ca_bundle.verify import Proxy

TARGET = "pip"
SECTION = "global"
KEY = "cert"
UTF8_BOM = b"\xef\xbb\xbf"
# PowerShell 5.1's `>` writes UTF-16LE with this mark; pip cannot read such a file at all.
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

# pip commands: a `cert` in one of these sections beats `[global] cert` for that command.
# pip ignores sections with other names. (pip 26.3 `commands_dict`.)
PIP_COMMANDS = (
    "install",
    "lock",
    "download",
    "uninstall",
    "freeze",
    "inspect",
    "list",
    "show",
    "check",
    "config",
    "search",
    "cache",
    "index",
    "wheel",
    "hash",
    "completion",
    "debug",
    "help",
)


class _Layout(Value):
    """What differs per OS in pip's file rules (``configuration.py``)."""

    __slots__ = ("basename", "legacy_user_dir", "devnull", "separator", "newline")
    basename: Final[str]  # CONFIG_BASENAME
    legacy_user_dir: Final[str]  # the legacy user folder under the home folder
    devnull: Final[str]  # os.devnull there: PIP_CONFIG_FILE set to exactly this disables all files
    separator: Final[str]  # path separator, for the `~` form of a path we write
    newline: Final[str]  # line ending of a file we create

    def __init__(
        self, basename: str, legacy_user_dir: str, devnull: str, separator: str, newline: str
    ) -> None:
        self.basename = basename
        self.legacy_user_dir = legacy_user_dir
        self.devnull = devnull
        self.separator = separator
        self.newline = newline


_LAYOUTS = {
    # %USERPROFILE%\pip\pip.ini is the legacy user file; Notepad users expect CRLF.
    "win32": _Layout("pip.ini", "pip", "nul", "\\", "\r\n"),
    # macOS keeps the Unix names: ~/.pip/pip.conf is the legacy user file.
    "darwin": _Layout("pip.conf", ".pip", "/dev/null", "/", "\n"),
    # Linux and every other Unix-like system.
    "linux": _Layout("pip.conf", ".pip", "/dev/null", "/", "\n"),
}

# Fixed machine folders pip falls back to, relative to PipEnvironment.system_root.
_LINUX_XDG_CONFIG_DIRS = ("etc", "xdg")  # platformdirs' default when XDG_CONFIG_DIRS is unset
_LINUX_ETC = ("etc",)  # pip always appends /etc, so /etc/pip.conf is the last global file
_MACOS_SITE_DATA = ("Library", "Application Support")  # platformdirs' macOS site data dir
_WINDOWS_PROGRAMDATA = ("ProgramData",)  # C:\ProgramData, if neither API nor variables say
# Per-user folders pip falls back to, relative to the home folder.
_MACOS_USER_DATA = ("Library", "Application Support")  # used only if <it>/pip exists
_LINUX_USER_CONFIG = (".config",)  # default of XDG_CONFIG_HOME; also macOS' fallback
_WINDOWS_APPDATA = ("AppData", "Roaming")  # FOLDERID_RoamingAppData's default place

# platformdirs puts a Homebrew Python's site folders first (pip >= 26.2 on macOS).
_HOMEBREW_PYTHON = re.compile(
    r"(?P<prefix>.+)/opt/python[^/]*/Frameworks/Python\.framework/Versions/[^/]+"
)


class PipEnvironment(Value):
    """Everything pip's file lookup depends on, so tests can fake any OS."""

    __slots__ = (
        "platform",
        "environ",
        "home",
        "prefix",
        "encoding",
        "system_root",
        "base_prefix",
        "appdata",
        "programdata",
    )
    platform: Final[str]  # "linux", "darwin" or "win32"
    environ: Final[Mapping[str, str]]
    home: Final[Path]  # os.path.expanduser("~"): HOME on Unix, USERPROFILE on Windows
    prefix: Final[Path]  # sys.prefix: the site file lives here
    encoding: Final[str]  # what pip decodes config files with
    system_root: Final[Path]  # joined in front of fixed machine paths such as /etc
    base_prefix: Final[Path | None]  # sys.base_prefix: spots a Homebrew Python on macOS
    # Windows known folders as the shell reports them (pip asks the API, not %APPDATA%);
    # None: take them from the environment, as platformdirs does without ctypes.
    appdata: Final[Path | None]
    programdata: Final[Path | None]

    def __init__(
        self,
        *,
        platform: str,
        environ: Mapping[str, str],
        home: Path,
        prefix: Path,
        encoding: str,
        system_root: Path = Path("/"),
        base_prefix: Path | None = None,
        appdata: Path | None = None,
        programdata: Path | None = None,
    ) -> None:
        self.platform = platform
        self.environ = environ
        self.home = home
        self.prefix = prefix
        self.encoding = encoding
        self.system_root = system_root
        self.base_prefix = base_prefix
        self.appdata = appdata
        self.programdata = programdata

    @classmethod
    def current(cls, environ: Mapping[str, str] | None = None) -> PipEnvironment:
        """The environment of this process (or ``environ``), as pip would see it."""
        env = dict(os.environ if environ is None else environ)
        platform = sys.platform if sys.platform in ("win32", "darwin") else "linux"
        appdata, programdata = _windows_known_folders()
        return cls(
            platform=platform,
            environ=env,
            home=_home_from(env, platform),
            prefix=Path(sys.prefix),
            encoding=pip_file_encoding(),
            system_root=Path(env.get("SystemDrive", "C:") + "\\" if platform == "win32" else "/"),
            base_prefix=Path(sys.base_prefix),
            appdata=appdata,
            programdata=programdata,
        )

    @property
    def layout(self) -> _Layout:
        return _LAYOUTS.get(self.platform, _LAYOUTS["linux"])


def pip_file_encoding() -> str:
    """The codec pip 26.3 reads config files with (``configuration._construct_parser``)."""
    if sys.flags.utf8_mode:
        return "utf-8"
    if sys.version_info >= (3, 11):
        return locale.getencoding()
    return locale.getpreferredencoding(False)  # pragma: no cover - Python 3.10


def _home_from(environ: Mapping[str, str], platform: str) -> Path:
    if platform == "win32":
        profile = environ.get("USERPROFILE") or (
            environ.get("HOMEDRIVE", "") + environ.get("HOMEPATH", "")
        )
    else:
        profile = environ.get("HOME", "")
    return Path(profile) if profile else Path.home()


def _windows_known_folders() -> tuple[Path | None, Path | None]:
    """Roaming AppData and ProgramData from the shell API, like pip's platformdirs."""
    if sys.platform == "win32":
        try:
            from platformdirs.windows import get_win_folder

            appdata = get_win_folder("CSIDL_APPDATA")
            programdata = get_win_folder("CSIDL_COMMON_APPDATA")
        except Exception:  # any failure: fall back to the environment, as platformdirs does
            return None, None
        return Path(appdata), Path(programdata)
    else:  # noqa: RET505 - mypy skips a platform branch only as an if/else pair
        return None, None


# ---------------------------------------------------------------------------------------
# Where the files are


def config_files(env: PipEnvironment) -> dict[str, list[Path]]:
    """The files pip loads, by kind, in load order (later files win).

    Keys: "global", "user", "site", "env" (``PIP_CONFIG_FILE``). Like pip, a
    ``PIP_CONFIG_FILE`` that exists switches the user files off, and one set to
    ``os.devnull`` switches every file off. Files that do not exist are listed too.
    """
    named = env.environ.get("PIP_CONFIG_FILE")
    if named == env.layout.devnull:
        return {"global": [], "user": [], "site": [], "env": []}
    user = [] if named and Path(named).exists() else user_files(env)
    return {
        "global": global_files(env),
        "user": user,
        "site": [env.prefix / env.layout.basename],
        "env": [Path(named)] if named else [],
    }


def global_files(env: PipEnvironment) -> list[Path]:
    """Machine-wide files (``appdirs.site_config_dirs``), lowest precedence first."""
    return [folder / env.layout.basename for folder in _global_folders(env)]


def _global_folders(env: PipEnvironment) -> list[Path]:
    if env.platform == "win32":
        return [_windows_programdata(env) / "pip"]
    if env.platform == "darwin":
        xdg = _xdg_list(env, "XDG_DATA_DIRS")
        if xdg:
            return [folder / "pip" for folder in xdg]
        homebrew = _homebrew_prefix(env)
        brew = [homebrew / "share" / "pip"] if homebrew else []
        return [*brew, env.system_root.joinpath(*_MACOS_SITE_DATA, "pip")]
    xdg = _xdg_list(env, "XDG_CONFIG_DIRS") or [env.system_root.joinpath(*_LINUX_XDG_CONFIG_DIRS)]
    return [*(folder / "pip" for folder in xdg), env.system_root.joinpath(*_LINUX_ETC)]


def user_files(env: PipEnvironment) -> list[Path]:
    """The legacy user file, then the new one (which wins)."""
    basename = env.layout.basename
    legacy = env.home / env.layout.legacy_user_dir / basename
    return [legacy, _user_folder(env) / basename]


def _user_folder(env: PipEnvironment) -> Path:
    if env.platform == "win32":
        return _windows_appdata(env) / "pip"
    if env.platform == "darwin":
        # pip uses Application Support only if that pip folder already exists.
        data = _xdg_single(env, "XDG_DATA_HOME") or env.home.joinpath(*_MACOS_USER_DATA)
        if (data / "pip").is_dir():
            return data / "pip"
        return env.home.joinpath(*_LINUX_USER_CONFIG, "pip")
    config = _xdg_single(env, "XDG_CONFIG_HOME") or env.home.joinpath(*_LINUX_USER_CONFIG)
    return config / "pip"


def fix_scope(path: Path, env: PipEnvironment) -> Scope | None:
    """The scope whose ``doctor --fix`` may edit ``path``, one of the files pip loads:
    a machine-wide file is the whole machine's (its trusted-host serves every account, and
    removing it points only one account's pip at a bundle), the user's files and
    ``PIP_CONFIG_FILE``'s are the user's, the environment's is the site's."""
    kinds = config_files(env)
    if path in kinds["global"]:  # first: PIP_CONFIG_FILE may name a machine-wide file
        return Scope.GLOBAL
    if path in kinds["site"]:
        return Scope.SITE
    return Scope.USER if path in kinds["user"] or path in kinds["env"] else None


def site_file(env: PipEnvironment) -> Path:
    return env.prefix / env.layout.basename


def target_file(scope: Scope, env: PipEnvironment) -> Path:
    """The file we write for ``scope``: the one ``pip config --<scope> set`` writes."""
    if scope is Scope.USER:
        return user_files(env)[-1]
    if scope is Scope.GLOBAL:
        return global_files(env)[-1]
    if scope is Scope.SITE:
        return site_file(env)
    raise ValueError("scope NONE writes no pip file")


def _xdg_single(env: PipEnvironment, name: str) -> Path | None:
    """platformdirs takes an XDG variable only if it is an absolute path."""
    value = env.environ.get(name, "").strip()
    return Path(value) if posixpath.isabs(value) else None


def _xdg_list(env: PipEnvironment, name: str) -> list[Path]:
    entries = (entry.strip() for entry in env.environ.get(name, "").split(":"))
    return [Path(entry) for entry in entries if posixpath.isabs(entry)]


def _homebrew_prefix(env: PipEnvironment) -> Path | None:
    if env.base_prefix is None:
        return None
    match = _HOMEBREW_PYTHON.fullmatch(env.base_prefix.as_posix())
    return Path(match["prefix"]) if match else None


def _windows_appdata(env: PipEnvironment) -> Path:
    return (
        _windows_override(env, "WIN_PD_OVERRIDE_APPDATA")
        or env.appdata
        or _path_from(env, "APPDATA")
        or env.home.joinpath(*_WINDOWS_APPDATA)
    )


def _windows_programdata(env: PipEnvironment) -> Path:
    return (
        _windows_override(env, "WIN_PD_OVERRIDE_COMMON_APPDATA")
        or env.programdata
        or _path_from(env, "ALLUSERSPROFILE")
        or _path_from(env, "PROGRAMDATA")
        or env.system_root.joinpath(*_WINDOWS_PROGRAMDATA)
    )


def _windows_override(env: PipEnvironment, name: str) -> Path | None:
    """platformdirs >= 4.3 lets WIN_PD_OVERRIDE_* replace a known folder (if fully qualified)."""
    value = env.environ.get(name, "").strip()
    drive, tail = ntpath.splitdrive(value)
    qualified = drive.startswith(("\\", "/")) or (bool(drive) and tail.startswith(("\\", "/")))
    return Path(value) if qualified else None


def _path_from(env: PipEnvironment, name: str) -> Path | None:
    value = env.environ.get(name)
    return Path(value) if value else None


# ---------------------------------------------------------------------------------------
# Reading files as pip does


def normalize_name(name: str) -> str:
    """pip's ``_normalize_name``: ``CERT``, ``--cert`` and ``Cert`` are all ``cert``."""
    return name.lower().replace("_", "-").removeprefix("--")


class ConfigFile(Value):
    """One config file as pip reads it. ``raw`` is None if there is no such file."""

    __slots__ = ("path", "raw", "text", "bom", "sections", "defaults")
    path: Final[Path]
    raw: Final[bytes | None]
    text: Final[str]  # decoded, without a byte order mark
    bom: Final[bool]  # starts with a UTF-8 byte order mark: pip fails on it
    # section -> normalised key -> value, with [DEFAULT] values merged in as configparser does
    sections: Final[dict[str, dict[str, str]]]
    defaults: Final[dict[str, str]]  # the [DEFAULT] section's own: where a fix must edit

    def __init__(
        self,
        path: Path,
        raw: bytes | None = None,
        text: str = "",
        bom: bool = False,
        sections: dict[str, dict[str, str]] | None = None,
        defaults: dict[str, str] | None = None,
    ) -> None:
        self.path = path
        self.raw = raw
        self.text = text
        self.bom = bom
        self.sections = {} if sections is None else sections
        self.defaults = {} if defaults is None else defaults

    def get(self, section: str, key: str = KEY) -> str | None:
        return self.sections.get(section, {}).get(key)


class _Unreadable(Exception):
    """pip cannot load this file; the message says why and where."""

    def __init__(
        self, path: Path, reason: str, line: int | None = None, *, folder: bool = False
    ) -> None:
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.reason = reason
        self.line = line
        self.folder = folder  # a folder where the file goes: pip passes over it


def read_config(path: Path, env: PipEnvironment) -> ConfigFile:
    """Read one file as pip does; raise ConfigError if pip could not load it.

    A UTF-8 byte order mark is accepted here (and reported in ``bom``), because we can
    repair it; pip itself fails on it.
    """
    try:
        return _read(path, env)
    except _Unreadable as error:
        if error.folder and error.reason == "is a folder":
            raise ConfigError(
                f"{path} is a folder where pip's config file goes: pip passes over it, and "
                "the bundle cannot be set there; it was left unchanged",
                hint=f"remove or rename the folder {path}",
            ) from error
        if error.folder:
            raise ConfigError(
                f"{path} cannot be pip's config file: a folder above it is a file (check "
                "XDG_CONFIG_HOME and HOME); pip passes over it, and the bundle cannot be set "
                "there",
                hint="point XDG_CONFIG_HOME at a folder, or unset it",
            ) from error
        raise ConfigError(
            f"pip cannot read its config file {error}; it was left unchanged",
            hint=f"fix or remove {path}; pip fails on every command while it is like this",
        ) from error


def _read(path: Path, env: PipEnvironment) -> ConfigFile:
    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        return ConfigFile(path)
    except IsADirectoryError as error:
        raise _Unreadable(path, "is a folder", folder=True) from error
    except NotADirectoryError as error:  # XDG_CONFIG_HOME=/dev/null: pip passes over it
        raise _Unreadable(path, "is under a file, not a folder", folder=True) from error
    except OSError as error:
        raise _Unreadable(path, f"cannot read it ({error.strerror})") from error
    bom = raw.startswith(UTF8_BOM)
    body = raw[len(UTF8_BOM) :] if bom else raw
    text = _decode(path, body, env.encoding)
    try:
        parser = inifile.parse(text, normalize_name)
    except inifile.IniError as error:
        raise _Unreadable(path, error.reason, error.line) from error
    sections = {name: dict(parser.items(name)) for name in parser.sections()}
    return ConfigFile(path, raw, text, bom, sections, dict(parser.defaults()))


def _decode(path: Path, body: bytes, encoding: str) -> str:
    if body.startswith(UTF16_BOMS):
        raise _Unreadable(path, "is UTF-16 text (as PowerShell's '>' writes); save it as ASCII")
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as error:
        line = body[: error.start].count(b"\n") + 1
        raise _Unreadable(path, f"contains invalid {encoding} characters", line) from error
    except LookupError as error:
        raise _Unreadable(path, f"unknown text encoding {encoding!r}") from error
    if text.encode(encoding) != body:
        raise _Unreadable(path, f"does not survive a round trip through {encoding}")
    return text


# ---------------------------------------------------------------------------------------
# Which cert pip uses


class CertSetting(Value):
    """The ``cert`` pip uses for one command, and where it comes from."""

    __slots__ = ("value", "origin", "path")
    value: Final[str | None]  # as written, before pip expands "~"; None: pip's default trust
    origin: Final[str | None]  # "PIP_CERT", or "<file> [section]"
    path: Final[Path | None]  # the config file, if the value comes from one

    def __init__(self, value: str | None, origin: str | None, path: Path | None = None) -> None:
        self.value = value
        self.origin = origin
        self.path = path


def loaded_files(env: PipEnvironment) -> list[Path]:
    """Every file pip loads, in precedence order, each once (pip keys them by name)."""
    ordered: list[Path] = []
    for kind in ("global", "user", "site", "env"):
        ordered.extend(path for path in config_files(env)[kind] if path not in ordered)
    return ordered


def current_cert(env: PipEnvironment, command: str = "install") -> CertSetting:
    """The ``cert`` that ``pip <command>`` would use. Raises ConfigError if pip would fail."""
    files = [read_config(path, env) for path in loaded_files(env)]
    for bad in files:
        if bad.bom:
            raise ConfigError(
                f"pip cannot read its config file {bad.path}: it starts with a UTF-8 byte "
                "order mark",
                hint="run build-ca-bundle to repair it, or save the file without a BOM",
            )
    return _effective(files, env.environ, command)


def _effective(files: list[ConfigFile], environ: Mapping[str, str], command: str) -> CertSetting:
    """pip's ``_get_ordered_configuration_items``: global, then command, then PIP_CERT.

    Within one section the last file wins, even with an empty value, and empty values are
    then dropped: so an empty ``cert =`` in a later file erases an earlier one.
    """
    from_env = environ.get("PIP_CERT", "")
    if from_env:
        return CertSetting(from_env, "PIP_CERT")
    for section in (command, SECTION):
        winner = _last_in_section(files, section)
        if winner is not None and winner.get(section):
            return CertSetting(winner.get(section), f"{winner.path} [{section}]", winner.path)
    return CertSetting(None, None)


def _last_in_section(files: list[ConfigFile], section: str) -> ConfigFile | None:
    holders = [file for file in files if file.get(section) is not None]
    return holders[-1] if holders else None


def option_value(env: PipEnvironment, key: str, command: str = "install") -> str | None:
    """The value pip uses for any option (``index-url``, ``proxy``, …), by the same rules as
    ``cert``: ``PIP_<KEY>`` first, then the command's section, then ``[global]``."""
    name = normalize_name(key)
    from_env = env.environ.get("PIP_" + name.upper().replace("-", "_"), "")
    if from_env:
        return from_env
    files = [read_config(path, env) for path in loaded_files(env)]
    for section in (command, SECTION):
        holders = [file for file in files if file.get(section, name) is not None]
        if holders and holders[-1].get(section, name):
            return holders[-1].get(section, name)
    return None


def proxy_options(env: PipEnvironment) -> tuple[str | None, bool]:
    """pip's ``proxy``, and whether its ``no-proxy-env`` is on (pip 26.3 on: pip then leaves
    the environment's proxies and no_proxy alone). A flag's value is read as pip's strtobool
    reads it."""
    flag = option_value(env, "no-proxy-env")
    on = flag is not None and flag.strip().lower() in ("y", "yes", "t", "true", "on", "1")
    return option_value(env, "proxy"), on


def proxy_for(url: str, env: PipEnvironment, *, explicit: str | None) -> Proxy | None:
    """The proxy pip would take for ``url`` (:func:`verify.proxy_for`, with pip's own
    settings): what the live check and --from-server connect through."""
    from build_ca_bundle import verify

    configured, no_proxy_env = proxy_options(env)
    return verify.proxy_for(
        url,
        explicit=explicit,
        configured=configured,
        no_proxy_env=no_proxy_env,
        environ=env.environ,
    )


# ---------------------------------------------------------------------------------------
# Plan and apply


def plan(bundle: Path, scope: Scope, env: PipEnvironment) -> Plan:
    """Set ``[global] cert`` to ``bundle`` in the scope's file; report what would beat it.

    Touches nothing. An unparsable target file raises ConfigError; a broken file elsewhere
    is a finding. If the value is already there, the plan has no change.
    """
    result = Plan(target=TARGET)
    if scope is Scope.NONE:
        return result
    path = target_file(scope, env)
    result.files.append(path)
    value = value_for(bundle, scope, env)
    target = read_config(path, env)
    change = _change_for(target, value, env)
    if change is not None:
        result.changes.append(change)
        result.pending[path] = _edited_bytes(target, value, env)
        if target.raw is not None:
            result.pending[backup_path(path)] = target.raw
    result.findings.extend(_findings(target, value, scope, env))
    return result


def apply(plan: Plan) -> list[Change]:
    """Write what ``plan`` holds: a backup of each file first, then the file, atomically.

    Refuses (ConfigError) if a file changed since it was planned.
    """
    applied: list[Change] = []
    for change in plan.changes:
        data = plan.pending[change.path]
        original = plan.pending.get(backup_path(change.path))
        check_unchanged(change.path, original)
        real = real_file(change.path)
        try:
            if original is not None:
                write_backup(change.path, original)
            inifile.write_atomically(real, data)
        except OSError as error:
            raise ConfigError(
                f"cannot write {change.path} ({error.strerror}); it was left unchanged",
                hint=f"check that you may write to {change.path.parent} (for --scope global, "
                "run as an administrator)",
            ) from error
        applied.append(change)
    return applied


def not_ours_now(change: Change, config: ConfigFile, env: PipEnvironment) -> str | None:
    """The outcome for a setting a person changed since our change (undo leaves it), or
    None while it is still ours."""
    section, _, key = change.key.partition(".")
    current = config.get(section, key)
    if change.new is not None and (current is None or not _same_path(current, change.new, env)):
        now = "unset" if current is None else repr(current)
        return f"{LEFT_ALONE}{change.path} [{section}] {key} is now {now}, not ours"
    return None


def undo(change: Change, env: PipEnvironment) -> str:
    """Put back the value from before our first change, if the file still holds ours.

    Returns a one-line outcome. A value a person changed since is left alone.
    """
    section, _, key = change.key.partition(".")
    config = read_config(change.path, env)
    left_alone = not_ours_now(change, config, env)
    if left_alone is not None:
        return left_alone
    original = _backup_if_only_ours(change, config, env)
    if original is not None:
        _write(change.path, original.text.encode(env.encoding))  # a byte order mark stays out
        if original.bom:
            return "restored the file from its backup, without the byte order mark that broke pip"
        return "restored the file from its backup, byte for byte"
    try:
        if change.old is None:
            text = inifile.remove_value(config.text, section, key, normalize_key=normalize_name)
        else:
            text = inifile.set_value(
                config.text, section, key, change.old, normalize_key=normalize_name
            )
    except inifile.IniError as error:
        raise ConfigError(f"cannot undo {change.key} in {change.path}: {error}") from error
    if CREATED_NOTE in change.notes and text.strip() == f"[{section}]":
        # The file was ours from the start, and nothing was added since: leave no trace.
        real = real_file(change.path)
        try:
            real.unlink()  # the file it created; a person's link stays
        except OSError as error:
            raise ConfigError(f"cannot remove {change.path} ({error.strerror})") from error
        if real == change.path:  # pip's own folder (~/.config/pip), made for it: if empty
            with contextlib.suppress(OSError):
                real.parent.rmdir()
        return "removed, with the file this tool had created"
    _write(change.path, text.encode(env.encoding))
    outcome = "removed" if change.old is None else f"restored {change.old}"
    kept = backup_with_trusted_hosts(change, text, env)
    return outcome if kept is None else f"{outcome}{TRUSTED_HOSTS_KEPT}{kept}"


def backup_with_trusted_hosts(change: Change, text: str, env: PipEnvironment) -> Path | None:
    """The change's backup if it has trusted-host entries that ``text``, the file after
    undo, lacks (``doctor --fix`` removed them since): then it is their only copy."""
    backup = backup_of(change)
    if backup is None:
        return None
    try:
        before = _read(backup, env).sections
        parser = inifile.parse(text, normalize_name)
    except (_Unreadable, inifile.IniError):
        return None
    after = {name: dict(parser.items(name)) for name in parser.sections()}
    return backup if _trusted_hosts(before) - _trusted_hosts(after) else None


def _trusted_hosts(sections: dict[str, dict[str, str]]) -> set[tuple[str, str]]:
    return {
        (section, values["trusted-host"])
        for section, values in sections.items()
        if "trusted-host" in values
    }


def _backup_if_only_ours(
    change: Change, config: ConfigFile, env: PipEnvironment
) -> ConfigFile | None:
    """The backup, if the file is exactly the backup with our value set (nobody edited it
    since): putting it back is the exact undo, whatever the file's shape (no [global]
    before, no final line break, a value over two lines). None if the file changed
    otherwise, or there is no backup."""
    backup = backup_of(change)
    section, _, key = change.key.partition(".")
    if backup is None or change.new is None:
        return None
    try:
        before = _read(backup, env)
        if before.raw is None:
            return None
        ours = inifile.set_value(
            before.text,
            section,
            key,
            change.new,
            normalize_key=normalize_name,
            default_newline=env.layout.newline,
        )
    except (_Unreadable, inifile.IniError):
        return None
    return before if ours == config.text else None


def names_bundle(
    scope: Scope,
    bundle: Path,
    env: PipEnvironment,
    ignoring: frozenset[tuple[Path, str]] = frozenset(),
) -> Path | None:
    """A pip config file whose ``cert``, in any section, names ``bundle`` (put there by
    anyone: a synced dotfile, a re-imaged machine, ``[install] cert`` by hand), among the
    scope's file and every file pip loads; else None. Only the scope's own ``[global]``
    was looked at: undo removed a bundle that ``pip install`` was still told to use.
    ``ignoring``: (file, ``section.cert``) settings undo is about to revert (its dry run)."""
    if scope is Scope.NONE:
        return None
    for path in dict.fromkeys([target_file(scope, env), *loaded_files(env)]):
        try:
            sections = read_config(path, env).sections
        except ConfigError:
            continue  # undo reported the scope's file already; pip cannot load the others
        for section, values in sections.items():
            current = values.get(KEY)
            if (path, f"{section}.{KEY}") in ignoring:
                continue
            if current is not None and _same_path(current, str(bundle), env):
                return path
    return None


def remove_trusted_hosts(path: Path, env: PipEnvironment) -> list[Change]:
    """Delete every ``trusted-host`` key from one config file, keeping a backup and every
    other byte. Returns one change per section it was removed from."""
    config = read_config(path, env)
    text = config.text
    changes = []
    kept = _before_fix_path(path, config.raw)
    # Each section as written, [DEFAULT] too: a value that only shows through from
    # [DEFAULT] is removed there, once, not said to be removed from every section.
    sections = dict(config.sections)
    if "trusted-host" in config.defaults:
        sections = {"DEFAULT": config.defaults, **sections}
    for section, values in sections.items():
        if "trusted-host" in values:
            try:
                edited = inifile.remove_value(
                    text, section, "trusted-host", normalize_key=normalize_name
                )
            except inifile.IniError as error:
                raise ConfigError(f"cannot remove trusted-host from {path}: {error}") from error
            if edited == text:
                continue  # not in this section's own lines
            text = edited
            changes.append(
                Change(
                    TARGET,
                    path,
                    f"{section}.trusted-host",
                    values["trusted-host"],
                    None,
                    (backup_note(kept),),
                )
            )
    if changes and config.raw is not None:
        try:
            if kept == backup_path(path):
                write_backup(path, config.raw)  # none yet, or ours already holds these bytes
            else:
                _write_new(kept, config.raw, path)
        except OSError as error:
            raise ConfigError(f"cannot write the backup of {path} ({error.strerror})") from error
        _write(path, text.encode(env.encoding))
    return changes


def _before_fix_path(path: Path, raw: bytes | None) -> Path:
    """Where the file as it is now is kept before trusted-host goes: its .bak, unless that
    holds other bytes (the file before our first change, or a person's own .bak, which is
    never replaced: the removed lines would be nowhere); then a .before-fix file of its own,
    a new one each time."""
    backup = backup_path(path)
    if not has_backup(path):
        return backup
    try:
        if raw is not None and backup.read_bytes() == raw:
            return backup
    except OSError:
        pass
    candidate, number = path.with_name(path.name + ".before-fix"), 1
    while os.path.lexists(candidate):
        number += 1
        candidate = path.with_name(f"{path.name}.before-fix.{number}")
    return candidate


def _write_new(target: Path, data: bytes, like: Path) -> None:
    """``data`` at ``target``, with ``like``'s permission bits (a pip.conf with a proxy
    password is 0600, and so must its copy be)."""
    mode = stat.S_IMODE(real_file(like).stat().st_mode)
    inifile.write_atomically(target, data, mode=mode)


def _write(path: Path, data: bytes) -> None:
    try:
        inifile.write_atomically(real_file(path), data)
    except OSError as error:
        raise ConfigError(
            f"cannot write {path} ({error.strerror}); it was left unchanged"
        ) from error


def value_for(bundle: Path, scope: Scope, env: PipEnvironment) -> str:
    """The text we write after ``cert =``: the absolute path, or ``~/...`` if that is all
    pip's encoding can hold. ``~`` is per user, so machine-wide files never get it."""
    absolute = str(bundle if bundle.is_absolute() else bundle.absolute())
    if any(mark in absolute for mark in "\r\n") or absolute != absolute.strip():
        raise ConfigError(
            f"the bundle path {absolute!r} has a line break or surrounding spaces",
            hint="choose a bundle location without them",
        )
    tilde = _tilde_form(Path(absolute), env)
    candidates = [absolute] + ([tilde] if tilde and scope is not Scope.GLOBAL else [])
    for candidate in candidates:
        if _encodable(candidate, env.encoding):
            return candidate
    raise ConfigError(
        f"pip reads its config as {env.encoding}, which cannot hold the bundle path {absolute}",
        hint="put the bundle in a folder whose path is plain ASCII (e.g. under ProgramData)",
    )


def _tilde_form(bundle: Path, env: PipEnvironment) -> str | None:
    try:
        relative = bundle.relative_to(env.home)
    except ValueError:
        return None
    separator = env.layout.separator
    return "~" + separator + separator.join(relative.parts)


def _encodable(text: str, encoding: str) -> bool:
    try:
        return text.encode(encoding).decode(encoding) == text
    except (UnicodeError, LookupError):
        return False


def _change_for(target: ConfigFile, value: str, env: PipEnvironment) -> Change | None:
    old = target.get(SECTION)
    same = old is not None and _same_path(old, value, env)
    if same and not target.bom:
        return None
    notes: list[str] = []
    if target.raw is None:
        notes.append(CREATED_NOTE)
    else:
        if target.bom:
            notes.append("removed a UTF-8 byte order mark that made every pip command fail")
        if not has_backup(target.path):
            notes.append(backup_note(backup_path(target.path)))
    if value.startswith("~"):
        notes.append(f"wrote a '~' path: {env.encoding} cannot hold the full path")
    return Change(TARGET, target.path, f"{SECTION}.{KEY}", old, value, tuple(notes))


def _edited_bytes(target: ConfigFile, value: str, env: PipEnvironment) -> bytes:
    old = target.get(SECTION)
    if old is not None and _same_path(old, value, env):
        text = target.text  # only the byte order mark goes
    else:
        try:
            text = inifile.set_value(
                target.text,
                SECTION,
                KEY,
                value,
                normalize_key=normalize_name,
                default_newline=env.layout.newline,
            )
        except inifile.IniError as error:
            raise ConfigError(
                f"cannot set [{SECTION}] {KEY} in {target.path} safely: {error}; "
                "it was left unchanged",
                hint=f"add 'cert = {value}' under [global] by hand",
            ) from error
    return text.encode(env.encoding)


def _same_path(written: str, ours: str, env: PipEnvironment) -> bool:
    return _path_key(written, env) == _path_key(ours, env)


def _path_key(value: str, env: PipEnvironment) -> str:
    """Compare paths as pip resolves them: ``~`` expanded, case-blind on Windows."""
    if value == "~" or value.startswith(("~/", "~" + env.layout.separator)):
        value = str(env.home) + value[1:]
    if env.platform == "win32":
        return ntpath.normpath(value.replace("/", "\\")).casefold()
    return posixpath.normpath(value)


# ---------------------------------------------------------------------------------------
# What would beat our value


def _findings(target: ConfigFile, value: str, scope: Scope, env: PipEnvironment) -> list[Finding]:
    order = loaded_files(env)
    findings = _pip_config_file_findings(target.path, order, scope, env)
    if target.path in order:
        findings.extend(_command_shadows(target, value, env))
        findings.extend(_other_file_findings(target.path, order, value, env))
    findings.extend(_environment_findings(value, env))
    findings.extend(_trusted_host_findings(order, env))
    return findings


def _trusted_host_findings(order: list[Path], env: PipEnvironment) -> list[Finding]:
    """A trusted-host left in a pip file keeps verification off for its hosts after the
    bundle made it needless: said by every full run, not by doctor alone (audit h43)."""
    findings = []
    for path in order:
        try:
            loaded = _read(path, env)
        except _Unreadable:
            continue  # said by the broken-file finding
        default = loaded.defaults.get("trusted-host", "")
        own = {"DEFAULT": default} if default.strip() else {}
        for section, values in loaded.sections.items():  # [DEFAULT]'s is merged into each
            value = values.get("trusted-host", "")
            if value.strip() and value != default:
                own[section] = value
        hosts = [f"[{section}] {' '.join(value.split())}" for section, value in own.items()]
        if hosts:
            findings.append(
                Finding(
                    Severity.WARNING,
                    str(path),
                    f"trusted-host {'; '.join(hosts)}: pip skips TLS verification for these "
                    "hosts, which the bundle makes needless",
                    "build-ca-bundle doctor --fix removes it (once pip uses the bundle); "
                    "build-ca-bundle doctor says where else verification is off",
                )
            )
    return findings


def _other_file_findings(
    path: Path, order: list[Path], value: str, env: PipEnvironment
) -> list[Finding]:
    """Broken files (pip fails), later [global] certs and command-section certs."""
    findings: list[Finding] = []
    later = order[order.index(path) + 1 :]
    for other in order:
        if other == path:
            continue
        try:
            loaded = _read(other, env)
        except _Unreadable as error:
            findings.append(_broken_file(error))
            continue
        if loaded.bom:
            findings.append(_broken_file(_Unreadable(other, "starts with a UTF-8 BOM", 1)))
        if other in later:
            findings.extend(_global_shadow(loaded, value, env))
        findings.extend(_command_shadows(loaded, value, env))
    return findings


def _pip_config_file_findings(
    path: Path, order: list[Path], scope: Scope, env: PipEnvironment
) -> list[Finding]:
    named = env.environ.get("PIP_CONFIG_FILE")
    if not named:
        return []
    where = "environment variable PIP_CONFIG_FILE"
    if named == env.layout.devnull:
        return [
            Finding(
                Severity.ERROR,
                where,
                f"PIP_CONFIG_FILE is {named}, so pip reads no config file at all",
                _unset_fix("PIP_CONFIG_FILE", None, env),
            )
        ]
    if path not in order:
        return [
            Finding(
                Severity.ERROR,
                where,
                f"PIP_CONFIG_FILE names {named}, so pip does not read the {scope.value} "
                f"file {path} at all",
                _unset_fix("PIP_CONFIG_FILE", None, env)
                + f"; or add 'cert = <bundle>' under [global] in {named}",
            )
        ]
    return [
        Finding(
            Severity.INFO,
            where,
            f"pip also reads {named}, after {path}; a cert there would win",
            f"keep 'cert' out of {named}, or unset PIP_CONFIG_FILE",
        )
    ]


def _broken_file(error: _Unreadable) -> Finding:
    if error.folder:  # configparser skips what it cannot open: pip goes on without it
        return Finding(
            Severity.INFO,
            str(error.path),
            "a folder where pip looks for a config file: pip passes over it",
            f"remove or rename {error.path} if it is there by mistake",
        )
    line = f"line {error.line} of " if error.line is not None else ""
    return Finding(
        Severity.ERROR,
        str(error.path),
        f"pip cannot load this file, so every pip command fails: {error}",
        f"fix {line}{error.path}, or move the file away",
    )


def beaten_by_pip_cert(finding: Finding) -> bool:
    """Whether PIP_CERT set to the bundle settles ``finding``: a pip file's cert that beats
    ours (:func:`_global_shadow`, :func:`_command_shadows`: "<file> [<section>]"), or a
    PIP_CONFIG_FILE that keeps pip from our file. pip applies the environment after every
    config file and section."""
    if finding.where == "environment variable PIP_CONFIG_FILE":
        return True
    path, space, section = finding.where.rpartition(" ")
    return bool(path and space) and section.startswith("[") and section.endswith("]")


def _global_shadow(loaded: ConfigFile, value: str, env: PipEnvironment) -> list[Finding]:
    theirs = loaded.get(SECTION)
    if theirs is None or _same_path(theirs, value, env):
        return []
    what = "an empty cert, which erases ours" if not theirs else f"cert = {theirs}"
    return [
        Finding(
            Severity.ERROR,
            f"{loaded.path} [{SECTION}]",
            f"pip reads this file after ours and it sets {what}",
            f"delete the 'cert' line from [{SECTION}] in {loaded.path}, or set it to {value}",
        )
    ]


def _command_shadows(loaded: ConfigFile, value: str, env: PipEnvironment) -> list[Finding]:
    findings = []
    for command in PIP_COMMANDS:
        theirs = loaded.get(command)
        if not theirs or _same_path(theirs, value, env):
            continue  # pip drops an empty value here, so it cannot beat [global]
        # A [DEFAULT] value shows through every section that does not set its own: the
        # line to delete is there. (One set the same in both: the next doctor names the other.)
        inherited = loaded.defaults.get(KEY) == theirs
        section = "[DEFAULT]" if inherited else f"[{command}]"
        via = f" (through [{command}])" if inherited else ""
        findings.append(
            Finding(
                Severity.ERROR,
                f"{loaded.path} [{command}]",
                f"'pip {command}' uses cert = {theirs} from {section}{via}, not [global]",
                f"delete the 'cert' line from {section} in {loaded.path}",
            )
        )
    return findings


def _environment_findings(value: str, env: PipEnvironment) -> list[Finding]:
    findings = []
    pip_cert = env.environ.get("PIP_CERT", "")
    if pip_cert and not _same_path(pip_cert, value, env):
        findings.append(
            Finding(
                Severity.ERROR,
                "environment variable PIP_CERT",
                f"PIP_CERT={pip_cert}{_missing(pip_cert, env, expand=True)} beats every "
                "config file",
                _unset_fix("PIP_CERT", value, env),
            )
        )
    # requests: REQUESTS_CA_BUNDLE or else CURL_CA_BUNDLE replaces pip's cert whenever the
    # session trusts the environment: no proxy, no no-proxy-env, on the command line or in
    # pip's config (pip's _build_session). An empty proxy counts since pip 26.3 only: said.
    proxy, no_proxy_env = proxy_options(env)
    if proxy or no_proxy_env:
        return findings
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        theirs = env.environ.get(name, "")
        if not theirs:
            continue
        if not _same_path(theirs, value, env):
            findings.append(
                Finding(
                    Severity.ERROR,
                    f"environment variable {name}",
                    f"{name}={theirs}{_missing(theirs, env, expand=False)} replaces pip's "
                    "cert for every download (unless pip runs with --proxy or --no-proxy-env)",
                    _unset_fix(name, value, env),
                )
            )
        break  # requests reads CURL_CA_BUNDLE only if REQUESTS_CA_BUNDLE is empty
    return findings


def _missing(named: str, env: PipEnvironment, *, expand: bool) -> str:
    """ " (which does not exist)" when the variable names no file: then pip fails every
    download. pip expands "~" in its own option; requests opens the name as written."""
    if Path(_path_key(named, env) if expand else named).exists():
        return ""
    if named.startswith("~") and Path(_path_key(named, env)).exists():
        return " (which names no file: requests does not expand '~')"
    return " (which does not exist)"


def _unset_fix(name: str, value: str | None, env: PipEnvironment) -> str:
    if env.platform == "win32":
        fix = (
            f"remove {name}: [Environment]::SetEnvironmentVariable('{name}', $null, 'User') "
            "(and 'Machine' as an administrator if it is set there), then open a new shell"
        )
    else:
        fix = (
            f"remove the line that sets {name} from your shell profile or CI settings, "
            f"then run 'unset {name}'"
        )
    return fix + (f"; or set it to {value}" if value is not None else "")
