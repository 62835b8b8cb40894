"""What every tool target shares (``targets/tools.py``): a tool that is not installed, or
``--scope none``, plans nothing and says why, the same way for git, npm, conda and uv."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import pytest

from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import Severity, conda, git, npm, uv
from build_ca_bundle.targets.tools import ToolEnvironment
from tests.conftest import Home

TOOLS = [pytest.param(module, id=module.TARGET) for module in (git, npm, conda, uv)]


@pytest.mark.parametrize("module", TOOLS)
def test_an_absent_tool_is_a_notice_and_nothing_is_planned(
    module: ModuleType, isolated_home: Home, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = ToolEnvironment({**os.environ, "PATH": str(empty)}, isolated_home.home)
    planned = module.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env)
    assert planned.changes == []
    assert [(f.severity, f.message) for f in planned.findings] == [
        (Severity.INFO, f"{module.TARGET} not found; not configured")
    ]
    assert module.apply(planned) == []


@pytest.mark.parametrize("module", TOOLS)
def test_scope_none_plans_nothing_and_runs_nothing(
    module: ModuleType, isolated_home: Home, tmp_path: Path
) -> None:
    """--scope none writes only the bundle: no tool is even looked for (PATH is empty of
    tools here, so a lookup would have said "not found")."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = ToolEnvironment({**os.environ, "PATH": str(empty)}, isolated_home.home)
    planned = module.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.NONE, env)
    assert (planned.changes, planned.findings) == ([], [])


@pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")
def test_a_hung_tool_is_ended_with_everything_it_started(tmp_path: Path) -> None:
    """A wrapper (a version manager's shim) that hangs was killed after the timeout, but
    its child went on running after the logon script had finished."""
    import subprocess
    import time

    from build_ca_bundle.errors import ConfigError
    from build_ca_bundle.targets import tools

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    child_pid = tmp_path / "child.pid"
    shim = bin_dir / "git"
    shim.write_text(f"#!/bin/sh\nsleep 600 &\necho $! > {child_pid}\nwait\n")
    shim.chmod(0o755)
    env = ToolEnvironment({"PATH": f"{bin_dir}:/usr/bin:/bin"}, tmp_path, timeout=1.0)
    with pytest.raises(ConfigError, match="did not finish in 1 s"):
        tools.run(env, "git", ["config", "--list"])
    pid = int(child_pid.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = subprocess.run(
            ["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, check=False
        )
        if not state.stdout.strip() or state.stdout.strip().startswith("Z"):
            break  # gone (or a zombie waiting for its reaper)
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        pytest.fail("the tool's child outlived the timeout")
