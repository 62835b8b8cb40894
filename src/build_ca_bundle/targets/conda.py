"""conda: ``ssl_verify`` through ``conda config`` (user: ``~/.condarc``; machine: ``--system``,
the base installation's .condarc; site: ``--env``, the active environment's .condarc).

A path in ``ssl_verify`` *replaces* conda's roots and must exist, which is why it names the
whole bundle and why the bundle is written before any setting points at it.

``conda config --get ssl_verify --json`` prints the value in the chosen file and that file's
path (``{"get": {...}, "rc_path": ...}``, conda/cli/main_config.py), which gives both the old
value and the file in one start. ``--show-sources --json`` lists every source in the order
conda reads them, which tells what would beat ours. conda's ruamel round trip keeps comments.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from build_ca_bundle.errors import ConfigError
from build_ca_bundle.inifile import NEW_FILE_FLAGS
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import CREATED_NOTE, Change, Finding, Severity, real_file, tools
from build_ca_bundle.targets.tools import ToolEnvironment, ToolPlan, run

__all__ = ["ToolEnvironment", "apply", "plan", "undo"]

TARGET = "conda"
KEY = "ssl_verify"
_ENV_SOURCE = "envvars"  # how --show-sources names CONDA_* variables

REPLACES_NOTE = (
    "ssl_verify with a path replaces conda's roots; the bundle holds certifi and the OS roots"
)


def plan(bundle: Path, extra_roots: Path, scope: Scope, env: ToolEnvironment) -> ToolPlan:
    """Set ``ssl_verify`` to ``bundle`` in the scope's .condarc; report what beats it or turns
    verification off. Touches nothing; runs conda twice."""
    result = ToolPlan(TARGET, env=env)
    if not tools.can_plan(result, scope, env):
        return result
    where = _scope_options(scope, env)
    if where is None:
        result.findings.append(
            tools.not_applicable(TARGET, scope, "no conda environment is active")
        )
        return result
    path, old = _get(env, where)
    result.files.append(path)
    value = str(bundle)
    # A missing file holds no setting, whatever conda's --get read in its place (the system
    # .condarc): apply creates it empty first, or conda would copy the system file into it.
    missing = not path.exists()
    if missing:
        old = None
    if not tools.same_path(old, value, env.platform):
        notes = [REPLACES_NOTE]
        if missing:
            notes.append(CREATED_NOTE)
        if old == "false":
            notes.append("ssl_verify was false here: conda did not verify TLS at all")
        change = Change(TARGET, path, KEY, old, value, tuple(notes))
        result.changes.append(change)
        result.commands[change] = ["config", *where, "--set", KEY, value]
    result.findings.extend(_findings(value, path, env))
    return result


def apply(plan: ToolPlan) -> list[Change]:
    """Run ``conda config --set`` for each planned change, in the environment of the plan.
    A file it is to create is made empty first: conda reads the system .condarc in place of
    a missing file and writes all of it there (conda/cli/main_config.py)."""
    created = [c.path for c in plan.changes if CREATED_NOTE in c.notes and _create_empty(c.path)]
    try:
        return tools.apply_commands(plan, TARGET)
    except ConfigError:
        for path in created:  # conda failed: no empty file of ours stays behind
            _remove_if_empty(path)
        raise


def _create_empty(path: Path) -> bool:
    """Create ``path`` empty (never through a link); False if something is there by now."""
    try:
        os.close(os.open(path, NEW_FILE_FLAGS, 0o644))
    except FileExistsError:
        return False
    except OSError as error:
        raise ConfigError(f"cannot create {path} ({error.strerror or error})") from error
    return True


def _remove_if_empty(path: Path) -> bool:
    """Remove ``path`` if it holds no setting: empty, or the ``{}`` conda writes for an empty
    config. True if it was removed."""
    try:
        if real_file(path).read_text(encoding="utf-8").strip() not in ("", "{}"):
            return False
        real_file(path).unlink()  # the file we created; a person's link to it stays
    except (OSError, UnicodeDecodeError):
        return False
    return True


def undo(change: Change, env: ToolEnvironment) -> str:
    """Put back the value from before our change, in the very file we changed, unless a
    person has changed it since; and remove the file, if we created it and nothing else has
    been set in it since."""
    where = ["--file", str(change.path)]
    outcome = tools.revert(
        env,
        change,
        _get(env, where)[1],
        remove=["config", *where, "--remove-key", change.key],
        restore=["config", *where, "--set", change.key, change.old or ""],
    )
    if outcome == "removed" and CREATED_NOTE in change.notes and _remove_if_empty(change.path):
        return "removed, with the file this tool had created"
    return outcome


def _scope_options(scope: Scope, env: ToolEnvironment) -> list[str] | None:
    if scope is Scope.GLOBAL:
        return ["--system"]
    if scope is Scope.SITE:
        # Without an active environment `--env` silently means the user file; say so instead.
        return ["--env"] if env.variable("CONDA_PREFIX") else None
    return []


def _get(env: ToolEnvironment, where: list[str]) -> tuple[Path, str | None]:
    """The file ``where`` names and the ``ssl_verify`` written in it (None: absent).

    conda quirk: when that file does not exist yet, conda reads the system .condarc in its
    place, so the value is the system's (plan takes a missing file as holding none).
    """
    document = _json(run(env, TARGET, ["config", *where, "--get", KEY, "--json"]).stdout)
    got = document.get("get")
    rc_path = document.get("rc_path")
    if not isinstance(got, dict) or not isinstance(rc_path, str):
        raise ConfigError("conda config --get --json printed no 'get' or 'rc_path'")
    return Path(rc_path), _text(got[KEY]) if KEY in got else None


def _text(value: object) -> str:
    """A .condarc value as we record it: YAML booleans as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json(output: str) -> dict[str, Any]:
    try:
        document = json.loads(output)
    except ValueError as error:
        raise ConfigError(f"conda printed something that is not JSON: {output[:200]!r}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"conda printed unexpected JSON: {output[:200]!r}")
    return document


def _findings(value: str, path: Path, env: ToolEnvironment) -> list[Finding]:
    sources = _json(run(env, TARGET, ["config", "--show-sources", "--json"]).stdout)
    names = list(sources)
    ours = next((n for n in names if tools.same_path(n, str(path), env.platform)), None)
    findings = []
    for index, source in enumerate(names):
        settings = sources[source]
        if source == ours or not isinstance(settings, dict) or KEY not in settings:
            continue
        theirs = _text(settings[KEY])
        if tools.same_path(theirs, value, env.platform):
            continue
        later = ours is None or index > names.index(ours)
        findings.append(_source_finding(source, theirs, value, later))
    findings.extend(_requests_finding(value, env))
    return findings


def _source_finding(source: str, theirs: str, value: str, later: bool) -> Finding:
    if source == _ENV_SOURCE:
        where, fix = "environment variable CONDA_SSL_VERIFY", "unset CONDA_SSL_VERIFY"
        beats = "beats every .condarc"
    else:
        where, fix = source, f"conda config --file {source} --remove-key {KEY}"
        beats = "is read after ours and wins" if later else "is read before ours"
    if theirs.lower() in ("false", "no", "0"):
        return Finding(
            Severity.ERROR,
            where,
            f"ssl_verify: {theirs} turns TLS verification off; it {beats}",
            fix,
        )
    return Finding(
        Severity.WARNING if later or source == _ENV_SOURCE else Severity.INFO,
        where,
        f"ssl_verify: {theirs} {beats}",
        f"{fix} (or set it to {value})",
    )


def _requests_finding(value: str, env: ToolEnvironment) -> list[Finding]:
    # conda downloads through a requests session; requests prefers REQUESTS_CA_BUNDLE (then
    # CURL_CA_BUNDLE) over the session's verify (reference/tools.md §0.3, inferred for conda).
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        theirs = env.variable(name)
        if not theirs:
            continue
        if tools.same_path(theirs, value, env.platform):
            return []
        return [
            Finding(
                Severity.WARNING,
                f"environment variable {name}",
                f"{name}={theirs}: conda's requests session prefers it over ssl_verify",
                f"unset {name} where it is set, or set it to {value}",
            )
        ]
    return []
