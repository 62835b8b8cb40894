"""uv: ``system-certs = true`` in the user's (or the machine's) uv.toml.

uv has no config-file setting that names a CA file. It takes roots from one of:

* its bundled Mozilla roots (the default), which lack the proxy's root;
* ``SSL_CERT_FILE``/``SSL_CERT_DIR``, which *replace* its roots (env target's job);
* the OS verifier, with ``system-certs = true`` in uv.toml (uv >= 0.11; ``native-tls`` before).

We write ``system-certs = true``. uv's docs name it for exactly our case ("if you're relying
on a corporate trust root (e.g., for a mandatory proxy) that's included in your system's
certificate store", docs/concepts/authentication/certificates.md), and the proxy's root is in
the OS store: that is where we read it. A config file reaches uv in every shell, IDE and
service without persisting a variable, and it depends on no path: uv >= 0.12 trusts nothing
when ``SSL_CERT_FILE`` names a missing file. Roots given only as files (``--extra-ca``) are
not in the OS store, so uv sees them only through ``SSL_CERT_FILE``; the change says so.

uv.toml has no CLI editor, so it is edited as text: one top-level line, comments and
everything else kept, the result checked with a TOML parser before it is written.
"""

from __future__ import annotations

import contextlib
import re
import sys
from pathlib import Path
from typing import Any

from build_ca_bundle import inifile
from build_ca_bundle.errors import ConfigError
from build_ca_bundle.regular import read_bytes
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import (
    CREATED_NOTE,
    Change,
    Finding,
    Plan,
    Severity,
    backup_path,
    check_unchanged,
    real_file,
    tools,
)
from build_ca_bundle.targets.tools import ToolEnvironment, ToolPlan, run

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

__all__ = ["ToolEnvironment", "apply", "config_file", "plan", "set_top_level", "undo"]

TARGET = "uv"
KEY = "system-certs"
OLD_KEY = "native-tls"  # the name before uv 0.11; still read, deprecated
FIRST_WITH_KEY = (0, 11)
INSECURE_KEY = "allow-insecure-host"

_VERSION = re.compile(r"\buv (\d+)\.(\d+)")
_TABLE = re.compile(r"^\s*\[")  # a table header: the end of the top-level keys
_COMMENT = re.compile(r"^\s*#")

OS_VERIFIER_NOTE = (
    "uv verifies with the OS verifier, which trusts the OS store the bundle was built from; "
    "roots given only as extra files reach uv through SSL_CERT_FILE (--configure env)"
)


def plan(bundle: Path, extra_roots: Path, scope: Scope, env: ToolEnvironment) -> ToolPlan:
    """Turn on uv's OS verifier in the scope's uv.toml; report what beats it or turns
    verification off. Touches nothing; runs ``uv --version`` once."""
    result = ToolPlan(TARGET, env=env)
    if not tools.can_plan(result, scope, env):
        return result
    if scope is Scope.SITE:
        result.findings.append(
            tools.not_applicable(TARGET, scope, "uv reads project, user and system files")
        )
        return result
    key = KEY if _version(env) >= FIRST_WITH_KEY else OLD_KEY
    path = config_file(scope, env)
    result.files.append(path)
    text, document = _read(path)
    # The new name wins where both are set: native-tls = true beside system-certs = false
    # leaves uv on its bundled roots.
    if (document.get(key) if key in document else document.get(OLD_KEY)) is not True:
        old = document.get(key)
        notes = [OS_VERIFIER_NOTE] + ([] if path.exists() else [CREATED_NOTE])
        backup = tools.keep_backup(result, path)
        if backup is not None:
            notes.append(backup)
        old_text = None if old is None else _toml(old)
        result.changes.append(Change(TARGET, path, key, old_text, "true", tuple(notes)))
        result.pending[path] = set_top_level(text, key, "true", _newline(text, env)).encode()
    result.findings.extend(_findings(bundle, scope, path, document, env))
    return result


def apply(plan: Plan) -> list[Change]:
    """Write each planned uv.toml (a backup first), refusing a file changed since the plan."""
    tools.write_backups(plan)
    applied = []
    for change in plan.changes:
        original = plan.pending.get(backup_path(change.path))
        check_unchanged(change.path, original)
        _write(change.path, plan.pending[change.path])
        applied.append(change)
    return applied


def not_ours_now(change: Change) -> str | None:
    """Why undo leaves the line alone (a person changed it since), or None if it is ours.
    ConfigError if the file cannot be read or parsed: undo then changes nothing there."""
    return _read_for_undo(change)[1]


def _read_for_undo(change: Change) -> tuple[str, str | None]:
    """The file's text, and why undo leaves it alone (None: the line is ours)."""
    text, document = _read(change.path)
    now = None if change.key not in document else _toml(document[change.key])
    return text, None if now == change.new else tools.left_alone(now)


def undo(change: Change, env: ToolEnvironment) -> str:
    """Put back the line from before our change, unless a person has changed it since."""
    text, left_alone = _read_for_undo(change)
    if left_alone is not None:
        return left_alone
    original = tools.backup_if_only_ours(
        change,
        text,
        lambda before: set_top_level(
            before.removeprefix("\ufeff"), change.key, "true", _newline(before, env)
        ),
    )
    if original is not None:
        _write(change.path, original)
        return "restored the file from its backup, byte for byte"
    edited = (
        remove_top_level(text, change.key)
        if change.old is None
        else set_top_level(text, change.key, change.old, _newline(text, env))
    )
    if CREATED_NOTE in change.notes and not edited.strip():
        change.path.unlink()  # ours from the start, and nothing added since
        return "removed, with the file this tool had created"
    _write(change.path, edited.encode())
    return tools.undone(change)


def config_file(scope: Scope, env: ToolEnvironment) -> Path:
    """uv's user or system uv.toml (uv docs/concepts/configuration-files.md)."""
    if env.platform == "win32":
        if scope is Scope.GLOBAL:
            return Path(env.variable("PROGRAMDATA") or r"C:\ProgramData") / "uv" / "uv.toml"
        appdata = env.variable("APPDATA")
        return (Path(appdata) if appdata else env.home / "AppData" / "Roaming") / "uv" / "uv.toml"
    if scope is Scope.GLOBAL:
        # uv takes the first uv/uv.toml under $XDG_CONFIG_DIRS, else /etc/uv/uv.toml.
        for folder in (env.variable("XDG_CONFIG_DIRS") or "/etc/xdg").split(":"):
            candidate = Path(folder) / "uv" / "uv.toml"
            if folder and candidate.is_file():
                return candidate
        return Path("/etc/uv/uv.toml")
    config_home = env.variable("XDG_CONFIG_HOME")
    return (Path(config_home) if config_home else env.home / ".config") / "uv" / "uv.toml"


# --- editing one top-level key as text ---------------------------------------------------


def _key_line(key: str) -> re.Pattern[str]:
    name = re.escape(key)
    return re.compile(rf"^(\s*(?:{name}|\"{name}\"|'{name}')\s*=\s*)[^#\r\n]*?(\s*(?:#.*)?)$")


def set_top_level(text: str, key: str, value: str, newline: str = "\n") -> str:
    """``text`` with top-level ``key = value`` (a TOML literal): the existing line's value
    replaced (its comment kept), else a line added before the first table. ConfigError if
    the result would not be the same document with just that key set."""
    lines = text.splitlines(keepends=True)
    pattern = _key_line(key)
    top = _top_level_end(lines)
    for index in range(top):
        body = lines[index].rstrip("\r\n")
        match = pattern.match(body)
        if match:
            ending = lines[index][len(body) :]
            lines[index] = f"{match.group(1)}{value}{match.group(2)}{ending}"
            return _checked(text, "".join(lines), key, value)
    insert_at = top
    while insert_at > 0 and _COMMENT.match(lines[insert_at - 1]):
        insert_at -= 1  # comments right above a table describe that table
    while insert_at > 0 and not lines[insert_at - 1].strip():
        insert_at -= 1  # right after the last top-level line, before the blank ones
    if insert_at > 0 and not lines[insert_at - 1].endswith("\n"):
        lines[insert_at - 1] += newline
    lines.insert(insert_at, f"{key} = {value}{newline}")
    return _checked(text, "".join(lines), key, value)


def remove_top_level(text: str, key: str) -> str:
    """``text`` without its top-level ``key`` line."""
    lines = text.splitlines(keepends=True)
    pattern = _key_line(key)
    kept = [
        line
        for index, line in enumerate(lines)
        if index >= _top_level_end(lines) or not pattern.match(line.rstrip("\r\n"))
    ]
    edited = "".join(kept)
    expected = dict(_parse(text, Path("uv.toml")))
    expected.pop(key, None)
    if _parse(edited, Path("uv.toml")) != expected:
        raise ConfigError(f"cannot remove {key} from uv.toml safely; remove it by hand")
    return edited


def _top_level_end(lines: list[str]) -> int:
    return next((i for i, line in enumerate(lines) if _TABLE.match(line)), len(lines))


def _checked(original: str, edited: str, key: str, value: str) -> str:
    """Refuse an edit that changed more than ``key`` (a multi-line string, say)."""
    expected = dict(_parse(original, Path("uv.toml")))
    expected[key] = tomllib.loads(f"v = {value}")["v"]
    if _parse(edited, Path("uv.toml")) != expected:
        raise ConfigError(
            f"cannot set {key} in uv.toml safely; it was left unchanged",
            hint=f"add '{key} = {value}' at the top of the file by hand",
        )
    return edited


# --- reading and writing ---------------------------------------------------------------


_BOM = b"\xef\xbb\xbf"  # PowerShell 5.1's -Encoding UTF8 writes one; uv reads past it


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    """The file's text, without a byte order mark (tomllib refuses one; _write keeps it)."""
    try:
        text = read_bytes(path).decode("utf-8").removeprefix("\ufeff")
    except FileNotFoundError:
        return "", {}
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}; it was left unchanged") from error
    return text, _parse(text, path)


def _parse(text: str, path: Path) -> dict[str, Any]:
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"{path} is not valid TOML ({error}); it was left unchanged",
            hint="fix that line (uv cannot read the file either)",
        ) from error
    return document


def _toml(value: object) -> str:
    """A value as TOML writes it, so undo can put the same literal back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def _newline(text: str, env: ToolEnvironment) -> str:
    if "\r\n" in text:
        return "\r\n"
    return "\n" if text or env.platform != "win32" else "\r\n"


def _write(path: Path, data: bytes) -> None:
    real = real_file(path)
    with contextlib.suppress(OSError):
        if not data.startswith(_BOM) and read_bytes(real)[: len(_BOM)] == _BOM:
            data = _BOM + data  # the file stays as its owner's editor wrote it
    try:
        inifile.write_atomically(real, data)  # a dotfile manager's link stays
    except OSError as error:
        raise ConfigError(
            f"cannot write {path} ({error.strerror}); it was left unchanged",
            hint="run as an administrator for --scope global, or use --scope user",
        ) from error


# --- what else decides uv's trust --------------------------------------------------------


def _version(env: ToolEnvironment) -> tuple[int, int]:
    match = _VERSION.search(run(env, TARGET, ["--version"]).stdout)
    # An unknown format is a newer uv, not an older one.
    return (int(match.group(1)), int(match.group(2))) if match else (sys.maxsize, 0)


def _findings(
    bundle: Path, scope: Scope, path: Path, document: dict[str, Any], env: ToolEnvironment
) -> list[Finding]:
    findings = []
    files = {path: document}
    if scope is Scope.GLOBAL:  # the user's file is read after the system's and beats it
        user_file = config_file(Scope.USER, env)
        files[user_file] = _read(user_file)[1]
    for file, settings in files.items():
        if settings.get(INSECURE_KEY):
            findings.append(_insecure_finding(str(file), settings[INSECURE_KEY]))
        for key in (KEY, OLD_KEY):
            if file != path and settings.get(key) is False:
                findings.append(_switched_off(str(file), key, f"remove '{key} = false' there"))
    insecure = env.variable("UV_INSECURE_HOST")
    if insecure:
        findings.append(_insecure_finding("environment variable UV_INSECURE_HOST", insecure))
    for name in ("UV_SYSTEM_CERTS", "UV_NATIVE_TLS"):
        flag = env.variable(name)
        if flag is not None and flag.strip().lower() in ("0", "false", "no", "off"):
            findings.append(_switched_off(f"environment variable {name}", name, f"unset {name}"))
    certs = env.variable("SSL_CERT_FILE")
    if certs and not tools.same_path(certs, str(bundle), env.platform):
        findings.append(
            Finding(
                Severity.WARNING,
                "environment variable SSL_CERT_FILE",
                f"SSL_CERT_FILE={certs} replaces every root uv would trust, the OS's too",
                f"unset SSL_CERT_FILE where it is set, or set it to {bundle}",
            )
        )
    for name in ("UV_NO_CONFIG", "UV_CONFIG_FILE"):
        if env.variable(name):
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"environment variable {name}",
                    f"{name} is set, so uv does not read {path}",
                    f"unset {name}, or put '{KEY} = true' in the file uv reads",
                )
            )
    return findings


def _insecure_finding(where: str, hosts: object) -> Finding:
    return Finding(
        Severity.ERROR,
        where,
        f"allow-insecure-host ({hosts}) turns TLS verification off for those hosts",
        "remove it: with the OS verifier (or the bundle) uv verifies them",
    )


def _switched_off(where: str, key: str, fix: str) -> Finding:
    return Finding(
        Severity.WARNING,
        where,
        f"{key} is false here, which beats our setting: uv keeps its bundled roots",
        fix,
    )
