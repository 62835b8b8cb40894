"""npm: ``cafile`` through ``npm config`` (user: ``--location=user``; machine: ``global``).

``cafile`` *replaces* Node's roots (and makes ``NODE_EXTRA_CA_CERTS`` ignored), which is why it
names the whole bundle. ``npm config get`` prints the effective value, not one file's, so the
old value is read from the file itself.
"""

from __future__ import annotations

from pathlib import Path

from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import Change, Finding, Plan, Severity, tools
from build_ca_bundle.targets.tools import ToolEnvironment

__all__ = ["ToolEnvironment", "apply", "plan", "undo"]


def _file(scope: Scope, env: ToolEnvironment) -> Path:
    if scope is Scope.GLOBAL:
        completed = tools.run(SETTING, env, ["config", "get", "globalconfig"])
        return Path(completed.stdout.strip())
    return Path(env.environ.get("npm_config_userconfig") or env.home / ".npmrc")


def _findings(bundle: Path, env: ToolEnvironment) -> list[Finding]:
    strict = tools.run(SETTING, env, ["config", "get", "strict-ssl"]).stdout.strip()
    if strict == "false":
        return [
            Finding(
                Severity.ERROR,
                "npm strict-ssl",
                "npm skips TLS verification",
                "npm config delete strict-ssl (the bundle makes it unneeded)",
            )
        ]
    return []


SETTING = tools.ToolSetting(
    tool="npm",
    key="cafile",
    locations={Scope.USER: ["--location=user"], Scope.GLOBAL: ["--location=global"]},
    get=lambda key, where: ["config", "get", key, *where],
    set=lambda key, value, where: ["config", "set", key, value, *where],
    unset=lambda key, where: ["config", "delete", key, *where],
    file=_file,
    findings=_findings,
)


def _value_in_file(path: Path, key: str) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        name, separator, value = line.partition("=")
        if separator and name.strip() == key:
            return value.strip()
    return None


def plan(bundle: Path, extra_roots: Path, scope: Scope, env: ToolEnvironment) -> Plan:
    result = Plan(target="npm")
    if env.which("npm") is None or scope not in SETTING.locations:
        return tools.plan(SETTING, bundle, scope, env)  # the notice for an absent tool or scope
    path = _file(scope, env)
    old = _value_in_file(path, SETTING.key)  # `npm config get` prints the effective value
    if old != str(bundle):
        result.changes.append(Change("npm", path, SETTING.key, old, str(bundle)))
    result.findings.extend(_findings(bundle, env))
    return result


def apply(plan: Plan, env: ToolEnvironment | None = None) -> list[Change]:
    return tools.apply(SETTING, plan, env or ToolEnvironment.current())


def undo(change: Change, env: ToolEnvironment) -> str:
    now = _value_in_file(change.path, change.key)
    if now != change.new:
        return f"left alone: npm {change.key} is now {now!r}, not ours"
    tools.write(SETTING, tools.scope_of(SETTING, change, env), env, change.old)
    return "removed" if change.old is None else f"restored {change.old}"
