"""git and npm targets against the real tools (private HOME), conda through a fake `conda`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import Severity, conda, git, npm, uv
from build_ca_bundle.targets.tools import ToolEnvironment
from tests.conftest import Home


def tool_env(home: Home, **extra: str) -> ToolEnvironment:
    return ToolEnvironment({**os.environ, **extra})


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_set_read_back_by_git_unchanged_then_undo(isolated_home: Home, tmp_path: Path) -> None:
    env = tool_env(isolated_home)
    bundle = tmp_path / "ca-bundle.pem"
    subprocess.run(["git", "config", "--global", "http.sslCAInfo", "/old.pem"], check=True)
    planned = git.plan(bundle, tmp_path / "extra.pem", Scope.USER, env)
    (change,) = planned.changes
    assert (change.old, change.new) == ("/old.pem", str(bundle))
    git.apply(planned, env)
    read = subprocess.run(
        ["git", "config", "--global", "--get", "http.sslCAInfo"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert read.stdout.strip() == str(bundle)
    assert git.plan(bundle, tmp_path / "extra.pem", Scope.USER, env).changes == []
    assert git.undo(change, env) == "restored /old.pem"
    read = subprocess.run(
        ["git", "config", "--global", "--get", "http.sslCAInfo"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert read.stdout.strip() == "/old.pem"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_undo_leaves_a_value_changed_since(isolated_home: Home, tmp_path: Path) -> None:
    env = tool_env(isolated_home)
    planned = git.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env)
    git.apply(planned, env)
    subprocess.run(["git", "config", "--global", "http.sslCAInfo", "/mine.pem"], check=True)
    assert git.undo(planned.changes[0], env).startswith("left alone")
    env_var = tool_env(isolated_home, GIT_SSL_CAINFO="/elsewhere.pem")
    findings = git.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env_var).findings
    assert [f.where for f in findings] == ["environment: GIT_SSL_CAINFO"]


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_npm_cafile_set_read_back_by_npm_and_undone(isolated_home: Home, tmp_path: Path) -> None:
    npmrc = isolated_home.home / ".npmrc"
    npmrc.write_text("registry=https://registry.npmjs.org/\nstrict-ssl=false\n")
    env = tool_env(isolated_home, npm_config_userconfig=str(npmrc))
    bundle = tmp_path / "ca-bundle.pem"
    planned = npm.plan(bundle, tmp_path / "extra.pem", Scope.USER, env)
    (change,) = planned.changes
    assert (change.path, change.old) == (npmrc, None)
    assert [f.severity for f in planned.findings] == [Severity.ERROR]  # strict-ssl=false
    npm.apply(planned, env)
    read = subprocess.run(
        ["npm", "config", "get", "cafile"],
        capture_output=True,
        text=True,
        env=dict(env.environ),
        check=True,
    )
    assert read.stdout.strip() == str(bundle)
    assert "registry=https://registry.npmjs.org/" in npmrc.read_text()
    assert npm.plan(bundle, tmp_path / "extra.pem", Scope.USER, env).changes == []
    assert npm.undo(change, env) == "removed"
    assert "cafile" not in npmrc.read_text()


def test_conda_through_its_cli(isolated_home: Home, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "conda"
    fake.write_text(
        f'#!/bin/sh\nexec {sys.executable} {Path(__file__).with_name("fake_conda.py")} "$@"\n'
    )
    fake.chmod(0o755)
    env = tool_env(isolated_home, PATH=f"{bin_dir}:{os.environ['PATH']}")
    bundle = tmp_path / "ca-bundle.pem"
    planned = conda.plan(bundle, tmp_path / "extra.pem", Scope.USER, env)
    (change,) = planned.changes
    assert change.old is None
    conda.apply(planned, env)
    condarc = isolated_home.home / ".condarc"
    assert condarc.read_text() == f"ssl_verify: {bundle}\n"
    calls = (isolated_home.home / "conda-calls.log").read_text().splitlines()
    assert f"config --set ssl_verify {bundle}" in calls
    assert conda.undo(change, env) == "removed"
    assert condarc.read_text() == ""


def test_absent_tool_is_a_notice_not_an_error(isolated_home: Home, tmp_path: Path) -> None:
    env = tool_env(isolated_home, PATH=str(tmp_path))
    planned = conda.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env)
    assert planned.changes == []
    assert planned.findings[0].severity is Severity.INFO
    assert "not installed" in planned.findings[0].message


def test_uv_points_to_the_variable(isolated_home: Home, tmp_path: Path) -> None:
    planned = uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, tool_env(isolated_home))
    assert planned.changes == []
    assert "SSL_CERT_FILE" in planned.findings[0].message
