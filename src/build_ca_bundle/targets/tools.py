"""What the git, npm and conda targets share: a setting read and written through the tool's
own command line, so the tool's own rules for its files apply.

Each tool is a :class:`ToolSetting` (how to get, set and unset the value per scope); plan,
apply and undo are the same for all. A tool that is not installed is a notice, not an error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from build_ca_bundle.errors import ConfigError
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import Change, Finding, Plan, Severity

TIMEOUT = 60.0


@dataclass(frozen=True)
class ToolEnvironment:
    environ: Mapping[str, str]
    platform: str = sys.platform

    @classmethod
    def current(cls, environ: Mapping[str, str] | None = None) -> ToolEnvironment:
        return cls(dict(os.environ) if environ is None else dict(environ))

    @property
    def home(self) -> Path:
        return Path(self.environ.get("HOME") or self.environ.get("USERPROFILE") or Path.home())

    def which(self, name: str) -> str | None:
        return shutil.which(name, path=self.environ.get("PATH"))


def _plain(output: str) -> str | None:
    return None if output in ("", "null", "undefined", "None") else output


@dataclass(frozen=True)
class ToolSetting:
    """One key in one tool's config, read and written through the tool's CLI."""

    tool: str  # the executable and the target's name
    key: str
    # scope -> the arguments that choose the file (e.g. ["--global"]); absent: not supported
    locations: Mapping[Scope, Sequence[str]]
    get: Callable[[str, Sequence[str]], list[str]]  # (key, location) -> argv after the tool
    set: Callable[[str, str, Sequence[str]], list[str]]
    unset: Callable[[str, Sequence[str]], list[str]]
    file: Callable[[Scope, ToolEnvironment], Path]  # where the value lives, for the report
    # The value in what `get` printed; None when unset (git exits 1, npm prints "undefined").
    parse: Callable[[str], str | None] = _plain
    findings: Callable[[Path, ToolEnvironment], list[Finding]] = field(
        default=lambda bundle, env: []
    )


def run(
    setting: ToolSetting, env: ToolEnvironment, args: list[str]
) -> subprocess.CompletedProcess[str]:
    executable = env.which(setting.tool)
    if executable is None:
        raise ConfigError(f"{setting.tool} is not installed")
    try:
        return subprocess.run(
            [executable, *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=dict(env.environ),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"cannot run {setting.tool}: {exc}") from exc


def current(setting: ToolSetting, scope: Scope, env: ToolEnvironment) -> str | None:
    completed = run(setting, env, setting.get(setting.key, setting.locations[scope]))
    return setting.parse(completed.stdout.strip()) if completed.returncode == 0 else None


def plan(setting: ToolSetting, bundle: Path, scope: Scope, env: ToolEnvironment) -> Plan:
    result = Plan(target=setting.tool)
    if env.which(setting.tool) is None:
        result.findings.append(
            Finding(
                Severity.INFO,
                setting.tool,
                f"{setting.tool} is not installed: not configured",
                "nothing to do",
            )
        )
        return result
    if scope not in setting.locations:
        result.findings.append(
            Finding(
                Severity.INFO,
                setting.tool,
                f"{setting.tool} has no {scope.value}-scope setting: not configured",
                "use --scope user or --scope global",
            )
        )
        return result
    old = current(setting, scope, env)
    if old != str(bundle):
        result.changes.append(
            Change(setting.tool, setting.file(scope, env), setting.key, old, str(bundle))
        )
    result.findings.extend(setting.findings(bundle, env))
    return result


def apply(setting: ToolSetting, plan: Plan, env: ToolEnvironment) -> list[Change]:
    applied = []
    for change in plan.changes:
        write(setting, scope_of(setting, change, env), env, change.new)
        applied.append(change)
    return applied


def scope_of(setting: ToolSetting, change: Change, env: ToolEnvironment) -> Scope:
    """The scope whose file the change names."""
    return next((s for s in setting.locations if setting.file(s, env) == change.path), Scope.USER)


def undo(setting: ToolSetting, change: Change, env: ToolEnvironment) -> str:
    scope = scope_of(setting, change, env)
    now = current(setting, scope, env)
    if now != change.new:
        return f"left alone: {setting.tool} {change.key} is now {now!r}, not ours"
    write(setting, scope, env, change.old)
    return "removed" if change.old is None else f"restored {change.old}"


def write(setting: ToolSetting, scope: Scope, env: ToolEnvironment, value: str | None) -> None:
    location = setting.locations[scope]
    args = (
        setting.unset(setting.key, location)
        if value is None
        else setting.set(setting.key, value, location)
    )
    completed = run(setting, env, args)
    if completed.returncode != 0:
        raise ConfigError(
            f"{setting.tool} {' '.join(args)} failed: {completed.stderr.strip()[:200]}"
        )
