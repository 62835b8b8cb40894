"""conda: ``ssl_verify`` through ``conda config`` (user: ``~/.condarc``; machine: ``--system``).

A path in ``ssl_verify`` *replaces* conda's roots and must exist, which is why the bundle is
written before any setting points at it. (conda 23.9+ also takes ``truststore``; a path works
for every version.)
"""

from __future__ import annotations

from pathlib import Path

from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import Change, Finding, Plan, Severity, tools
from build_ca_bundle.targets.tools import ToolEnvironment

__all__ = ["ToolEnvironment", "apply", "plan", "undo"]


def _file(scope: Scope, env: ToolEnvironment) -> Path:
    if scope is Scope.GLOBAL:
        return Path("conda --system .condarc")
    return Path(env.environ.get("CONDARC") or env.home / ".condarc")


def _findings(bundle: Path, env: ToolEnvironment) -> list[Finding]:
    other = env.environ.get("REQUESTS_CA_BUNDLE")
    if other and other != str(bundle):
        return [
            Finding(
                Severity.WARNING,
                "environment: REQUESTS_CA_BUNDLE",
                f"names {other}: conda's requests session prefers it over ssl_verify",
                f"point REQUESTS_CA_BUNDLE at {bundle}, or unset it",
            )
        ]
    return []


def _parse_show(output: str) -> str | None:
    """`conda config --show ssl_verify` prints `ssl_verify: <value>`."""
    _, _, value = output.strip().partition(":")
    value = value.strip()
    return None if value in ("", "true", "True") else value


SETTING = tools.ToolSetting(
    tool="conda",
    key="ssl_verify",
    locations={Scope.USER: [], Scope.GLOBAL: ["--system"]},
    get=lambda key, where: ["config", *where, "--show", key],
    set=lambda key, value, where: ["config", *where, "--set", key, value],
    unset=lambda key, where: ["config", *where, "--remove-key", key],
    file=_file,
    parse=_parse_show,
    findings=_findings,
)


def plan(bundle: Path, extra_roots: Path, scope: Scope, env: ToolEnvironment) -> Plan:
    return tools.plan(SETTING, bundle, scope, env)


def apply(plan: Plan, env: ToolEnvironment | None = None) -> list[Change]:
    return tools.apply(SETTING, plan, env or ToolEnvironment.current())


def undo(change: Change, env: ToolEnvironment) -> str:
    return tools.undo(SETTING, change, env)
