"""git: ``http.sslCAInfo`` through ``git config`` (user: ``--global``; machine: ``--system``).

The setting *replaces* git's roots, which is why it names the whole bundle. On Windows with
``http.sslBackend=schannel`` git ignores it unless ``http.schannelUseSSLCAInfo`` is true; we
say so rather than switch the backend behind the user's back.
"""

from __future__ import annotations

from pathlib import Path

from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import Change, Finding, Plan, Severity, tools
from build_ca_bundle.targets.tools import ToolEnvironment

__all__ = ["ToolEnvironment", "apply", "plan", "undo"]


def _file(scope: Scope, env: ToolEnvironment) -> Path:
    if scope is Scope.GLOBAL:
        return Path("/etc/gitconfig") if env.platform != "win32" else Path("git --system config")
    return env.home / ".gitconfig"


def _findings(bundle: Path, env: ToolEnvironment) -> list[Finding]:
    findings = []
    other = env.environ.get("GIT_SSL_CAINFO")
    if other and other != str(bundle):
        findings.append(
            Finding(
                Severity.WARNING,
                "environment: GIT_SSL_CAINFO",
                f"names {other}: it beats git's http.sslCAInfo",
                f"point GIT_SSL_CAINFO at {bundle}, or unset it",
            )
        )
    if env.platform == "win32":
        backend = tools.run(SETTING, env, ["config", "--get", "http.sslBackend"]).stdout.strip()
        if backend == "schannel":
            findings.append(
                Finding(
                    Severity.WARNING,
                    "git http.sslBackend",
                    "git uses schannel (the Windows store), which ignores http.sslCAInfo",
                    "nothing needed if the root is in the Windows store; otherwise "
                    "git config --global http.schannelUseSSLCAInfo true",
                )
            )
    return findings


SETTING = tools.ToolSetting(
    tool="git",
    key="http.sslCAInfo",
    locations={Scope.USER: ["--global"], Scope.GLOBAL: ["--system"]},
    get=lambda key, where: ["config", *where, "--get", key],
    set=lambda key, value, where: ["config", *where, key, value],
    unset=lambda key, where: ["config", *where, "--unset", key],
    file=_file,
    findings=_findings,
)


def plan(bundle: Path, extra_roots: Path, scope: Scope, env: ToolEnvironment) -> Plan:
    return tools.plan(SETTING, bundle, scope, env)


def apply(plan: Plan, env: ToolEnvironment | None = None) -> list[Change]:
    return tools.apply(SETTING, plan, env or ToolEnvironment.current())


def undo(change: Change, env: ToolEnvironment) -> str:
    return tools.undo(SETTING, change, env)
