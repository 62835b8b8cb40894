"""npm: ``cafile`` through ``npm config`` (user: ``--location=user``; machine: ``global``).

``cafile`` is passed to Node as the ``ca`` option, which *replaces* Node's roots and makes npm
ignore ``NODE_EXTRA_CA_CERTS``; so it names the whole bundle (certifi plus the OS roots).

Two npm behaviours shape this module (checked with npm 11.19):

* ``npm config get cafile --location=user`` prints the *effective* value (from any file or
  the environment), not the user file's, so the value before our change is read from the file
  itself, parsed the way npm's ``ini`` package does.
* ``npm config set`` rewrites the whole file and drops its comments, so a backup of the file
  is kept before our first change and the change says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from build_ca_bundle.errors import ConfigError
from build_ca_bundle.inifile import write_atomically
from build_ca_bundle.regular import read_bytes
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import (
    BACKUP_KEPT,
    Change,
    Finding,
    Severity,
    backup_of,
    backup_path,
    tools,
)
from build_ca_bundle.targets.tools import ToolEnvironment, ToolPlan, run

__all__ = ["ToolEnvironment", "apply", "plan", "undo"]

TARGET = "npm"
KEY = "cafile"
_LOCATIONS = {Scope.USER: "user", Scope.GLOBAL: "global"}
_FILE_SETTING = {"user": "userconfig", "global": "globalconfig"}  # npm's name for each file

REPLACES_NOTE = (
    "cafile replaces Node's built-in roots for npm and makes npm ignore NODE_EXTRA_CA_CERTS; "
    "the bundle holds certifi and the OS roots, so nothing npm trusted before is lost"
)


def plan(bundle: Path, extra_roots: Path, scope: Scope, env: ToolEnvironment) -> ToolPlan:
    """Set ``cafile`` to ``bundle`` in the scope's npmrc; report what beats it or turns
    verification off. Touches nothing; runs npm once."""
    result = ToolPlan(TARGET, env=env)
    if not tools.can_plan(result, scope, env):
        return result
    if scope not in _LOCATIONS:
        result.findings.append(
            tools.not_applicable(TARGET, scope, "npm config is per user, machine or project")
        )
        return result
    location = _LOCATIONS[scope]
    effective = _get(env, ["userconfig", "globalconfig", "strict-ssl"], location)
    path = Path(effective[_FILE_SETTING[location]])
    result.files.append(path)
    value = str(bundle)
    old = read_value(path, KEY)
    others = [Path(effective[name]) for name in ("userconfig", "globalconfig")]
    inline = _inline_roots_anywhere([path, *others], env)
    unset = not tools.same_path(old, value, env.platform)
    if unset and inline:
        # npm ignores `ca` once cafile is set, whichever file or variable either comes from
        # (definitions.js: cafile's flatten replaces flatOptions.ca): lost, unsaid.
        where = ", ".join(f"{count} in {place}" for place, count in inline)
        result.findings.append(
            Finding(
                Severity.ERROR,
                inline[0][0],
                f"npm has inline root(s) in `ca` ({where}), which npm ignores once cafile is "
                "set: cafile was left as it is, or npm would stop trusting them",
                "save them to a PEM file, add it with build-ca-bundle --extra-ca FILE, and "
                "remove the ca lines (or the variable) there; the next run then sets cafile",
            )
        )
    elif unset and _comments_unkept(path):
        # npm's `config set` rewrites the file without its comments, and a backup is never
        # written over another file: they would be lost for good. Moved away, it means a
        # full run, which sets cafile.
        result.watched.append(backup_path(path))
        result.findings.append(
            Finding(
                Severity.ERROR,
                str(path),
                f"npm would rewrite {path} without its comments, and {backup_path(path)} is "
                "another file, so no backup can keep them: cafile was left as it is",
                f"move {backup_path(path)} away (or take the comments out of {path}); the "
                "next run then sets cafile and keeps a backup",
            )
        )
    elif unset:
        notes = [REPLACES_NOTE]
        backup = tools.keep_backup(result, path)
        if backup is not None:
            notes.append(f"npm rewrites the file without its comments; {backup}")
        change = Change(TARGET, path, KEY, old, value, tuple(notes))
        result.changes.append(change)
        result.commands[change] = ["config", "set", KEY, value, f"--location={location}"]
    result.findings.extend(_findings(value, scope, effective, env))
    return result


def apply(plan: ToolPlan) -> list[Change]:
    """Back up each npmrc, then run ``npm config set`` in the environment of the plan."""
    with _keeping_modes([change.path for change in plan.changes]):
        return tools.apply_commands(plan, TARGET)


@contextlib.contextmanager
def _keeping_modes(paths: list[Path]) -> Iterator[None]:
    """npm writes the global npmrc with mode 0666 whatever it was (npm 11): every account
    could then point every account's npm at its own CA. Each file gets its mode back after
    npm has written it, and one npm created gets npm's mode without group or other write."""
    if os.name != "posix":
        yield  # Windows: ACLs, not mode bits
        return
    before: dict[Path, int | None] = {}
    for path in paths:
        try:
            before[path] = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            before[path] = None
    try:
        yield
    finally:
        for path, mode in before.items():
            with contextlib.suppress(OSError):
                now = stat.S_IMODE(path.stat().st_mode)
                wanted = now & ~(stat.S_IWGRP | stat.S_IWOTH) if mode is None else mode
                if now != wanted:
                    path.chmod(wanted)


def not_ours_now(change: Change, env: ToolEnvironment) -> str | None:
    """Why undo leaves the value alone (a person changed it since), or None if it is ours.
    ConfigError if the file cannot be read."""
    now = read_value(change.path, change.key)
    return None if tools.same_path(now, change.new, env.platform) else tools.left_alone(now)


def undo(change: Change, env: ToolEnvironment) -> str:
    """Put back the value from before our change, in the very file we changed (named to npm
    with ``--userconfig``/``--globalconfig``), unless a person has changed it since."""
    left_alone = not_ours_now(change, env)
    if left_alone is not None:
        return left_alone  # before _file_options, which starts npm
    now = read_value(change.path, change.key)
    where = _file_options(change.path, env)
    before = _read(change.path)  # as a person left it since our change
    with _keeping_modes([change.path]):
        outcome = tools.revert(
            env,
            change,
            now,
            remove=["config", "delete", change.key, *where],
            restore=["config", "set", change.key, change.old or "", *where],
        )
    backup = backup_of(change)
    in_backup = None if backup is None else _comments(_read(backup))
    restored = _put_back_backup(change)
    after = _comments(_read(change.path)) or set()
    if restored is not None:
        outcome = restored
    elif (
        backup is not None
        and outcome.startswith(("removed", "restored"))
        and (in_backup is None or not in_backup <= after)
    ):
        outcome += f"{BACKUP_KEPT}{backup}"  # npm rewrote the file without its comments
    added = (_comments(before) or set()) - (in_backup or set())  # a person's, since ours
    if before is not None and not added <= after:
        kept = change.path.with_name(change.path.name + UNDO_COPY)
        write_atomically(kept, before, mode=0o600)  # an npmrc may hold a token
        outcome += f"; npm dropped comments added since our change: the file as it was is at {kept}"
    return outcome


def _comments_unkept(path: Path) -> bool:
    """Whether the npmrc has comments that its existing .bak, which a backup never replaces,
    does not hold."""
    backup = backup_path(path)
    if not backup.exists():
        return False
    return bool((_comments(_read(path)) or set()) - (_comments(_read(backup)) or set()))


# Beside an npmrc whose comments, written after our change, npm's revert dropped.
UNDO_COPY = ".before-undo"


def _read(path: Path) -> bytes | None:
    try:
        return read_bytes(path)
    except OSError:
        return None


def _comments(data: bytes | None) -> set[str] | None:
    """The comment lines of an npmrc's bytes; None for no file, or one not in UTF-8."""
    if data is None:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return {line for line in text.splitlines() if line.lstrip().startswith((";", "#"))}


def _put_back_backup(change: Change) -> str | None:
    """npm rewrote the file without its comments, line ends and layout: if, reverted, it
    now says exactly what the backup says, the backup's bytes are the file again."""
    backup = backup_of(change)
    try:
        if backup is None or _settings(backup) != _settings(change.path):
            return None
        data = backup.read_bytes()
    except (OSError, UnicodeDecodeError):
        return None
    tools.write_file(change.path, data)
    return "restored the file from its backup, comments and all"


def _settings(path: Path) -> dict[tuple[str, str], str]:
    """Every key of an npmrc as npm's ``ini`` reads it, by (section, key)."""
    found: dict[tuple[str, str], str] = {}
    section = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1].strip()
            continue
        name, separator, raw = stripped.partition("=")
        if separator and not stripped.startswith((";", "#")):
            found[(section, _unquote(name))] = _unquote(raw)
    return found


def _file_options(path: Path, env: ToolEnvironment) -> list[str]:
    """Options that make npm edit exactly ``path``. npm refuses to load one file both as the
    user and the global file ("double-loading config"), so a path that is the global file now
    is named as the global one."""
    globalconfig = _get(env, ["globalconfig"], "user")["globalconfig"]
    if tools.same_path(str(path), globalconfig, env.platform):
        return [f"--globalconfig={path}", "--location=global"]
    return [f"--userconfig={path}", "--location=user"]


def _get(env: ToolEnvironment, keys: list[str], location: str) -> dict[str, str]:
    """Effective values of keys in one npm start (for several keys npm prints ``key=value``
    lines, for one key just the value)."""
    completed = run(env, TARGET, ["config", "get", *keys, f"--location={location}"])
    if len(keys) == 1:
        return {keys[0]: completed.stdout.strip()}
    values = {}
    for line in completed.stdout.splitlines():
        key, separator, value = line.partition("=")
        if separator:
            values[key.strip()] = value.strip()
    missing = [key for key in keys if key not in values]
    if missing:
        raise ConfigError(f"npm config get printed no value for {', '.join(missing)}")
    return values


def _inline_roots_anywhere(paths: list[Path], env: ToolEnvironment) -> list[tuple[str, int]]:
    """Where npm gets ``ca`` roots given inline: (the file or variable, how many)."""
    found = [(str(path), count) for path in dict.fromkeys(paths) if (count := _inline_roots(path))]
    for name, text in env.environ.items():  # npm reads npm_config_* in any case
        if name.lower() == "npm_config_ca" and "BEGIN CERTIFICATE" in text:
            found.append((f"environment variable {name}", text.count("BEGIN CERTIFICATE")))
    return found


def _inline_roots(path: Path) -> int:
    """How many ``ca=`` / ``ca[]=`` values with a certificate in them the npmrc has."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return 0  # read_value says why, where it matters
    count = 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            break
        name, separator, raw = stripped.partition("=")
        if separator and _unquote(name) in ("ca", "ca[]") and "BEGIN CERTIFICATE" in raw:
            count += 1
    return count


def read_value(path: Path, key: str) -> str | None:
    """The value of a top-level ``key`` in one npmrc file, as npm reads it; None if absent."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    found = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            break  # a section: npm's own keys live at the top
        name, separator, raw = stripped.partition("=")
        if separator and not stripped.startswith((";", "#")) and _unquote(name) == key:
            found = _unquote(raw)  # the last one wins, as in an object built line by line
    return found


def _unquote(raw: str) -> str:
    """npm's ``ini.unsafe``: a JSON string, or text up to an unescaped ``;`` or ``#``."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        if raw[0] == '"':
            try:
                decoded = json.loads(raw)
            except ValueError:
                decoded = raw[1:-1]
            return decoded if isinstance(decoded, str) else raw
        return raw[1:-1]
    out, escaped = [], False
    for char in raw:
        if escaped:
            out.append(char if char in "\\;#" else "\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in ";#":
            break
        else:
            out.append(char)
    if escaped:
        out.append("\\")
    return "".join(out).strip()


def _findings(
    value: str, scope: Scope, effective: dict[str, str], env: ToolEnvironment
) -> list[Finding]:
    findings = []
    if effective.get("strict-ssl") == "false":
        findings.append(_strict_ssl_finding(effective, env))
    variable = _npm_variable(env, "cafile")
    if variable and not tools.same_path(variable, value, env.platform):
        findings.append(
            Finding(
                Severity.ERROR,
                "environment variable npm_config_cafile",
                f"npm_config_cafile={variable} beats every npmrc",
                f"unset npm_config_cafile where it is set, or set it to {value}",
            )
        )
    if scope is Scope.GLOBAL:
        user_file = Path(effective["userconfig"])
        theirs = read_value(user_file, KEY)
        if theirs is not None and not tools.same_path(theirs, value, env.platform):
            findings.append(
                Finding(
                    Severity.WARNING,
                    str(user_file),
                    f"the user's npmrc sets cafile = {theirs}, which beats the global one",
                    f"npm config delete cafile --location=user (or set it to {value})",
                )
            )
    return findings


def _strict_ssl_finding(effective: dict[str, str], env: ToolEnvironment) -> Finding:
    places = [
        name
        for name, file in (("user", "userconfig"), ("global", "globalconfig"))
        if read_value(Path(effective[file]), "strict-ssl") == "false"
    ]
    if (_npm_variable(env, "strict_ssl") or "").lower() == "false":
        fix = "unset npm_config_strict_ssl where it is set (shell profile, CI settings)"
    elif places:
        fix = "; ".join(f"npm config delete strict-ssl --location={p}" for p in places)
    else:
        fix = "remove strict-ssl=false from the project's .npmrc"
    return Finding(
        Severity.ERROR,
        "npm strict-ssl",
        "strict-ssl=false: npm does not verify TLS certificates at all",
        fix + " (with cafile set to the bundle it is not needed)",
    )


def _npm_variable(env: ToolEnvironment, name: str) -> str | None:
    """npm reads ``npm_config_*`` case-blind, with ``_`` or ``-`` in the name."""
    wanted = f"npm_config_{name}".replace("-", "_").lower()
    for key, value in env.environ.items():
        if key.lower().replace("-", "_") == wanted and value:
            return value
    return None
