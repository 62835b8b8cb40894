"""uv: no config file setting takes a CA file. uv reads ``SSL_CERT_FILE`` (which *replaces*
its roots: our bundle carries certifi for that reason) or uses the OS verifier with
``system-certs`` (0.11+). We do not switch uv to the OS verifier behind the user's back (it
has known failures with corporate Windows roots, uv#17355); we point to the variable."""

from __future__ import annotations

from pathlib import Path

from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import Change, Finding, Plan, Severity
from build_ca_bundle.targets.tools import ToolEnvironment

__all__ = ["ToolEnvironment", "apply", "plan", "undo"]


def plan(bundle: Path, extra_roots: Path, scope: Scope, env: ToolEnvironment) -> Plan:
    result = Plan(target="uv")
    current = env.environ.get("SSL_CERT_FILE")
    if current != str(bundle):
        result.findings.append(
            Finding(
                Severity.INFO,
                "uv",
                "uv reads SSL_CERT_FILE, not a config file",
                'build-ca-bundle --persist-env (or eval "$(build-ca-bundle env)")',
            )
        )
    return result


def apply(plan: Plan, env: ToolEnvironment | None = None) -> list[Change]:
    return []


def undo(change: Change, env: ToolEnvironment) -> str:
    return "nothing to undo"
