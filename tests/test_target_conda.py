"""The conda target through a fake ``conda`` (tests/fake_tool.py) that records its argv and
keeps .condarc files the way ``conda config`` does; conda is not installed here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from build_ca_bundle.errors import ConfigError
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import CREATED_NOTE, Severity, conda
from build_ca_bundle.targets.tools import ToolEnvironment
from tests import fake_tool
from tests.conftest import Home


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "calls.log"


def conda_env(home: Home, tmp_path: Path, log: Path, **extra: str) -> ToolEnvironment:
    bin_dir = tmp_path / "bin"
    fake_tool.install(bin_dir, "conda")
    environ = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_TOOL_LOG": str(log),
        "FAKE_CONDA_ROOT": str(tmp_path / "miniconda3"),
        **extra,
    }
    return ToolEnvironment(environ, home.home)


def test_set_unchanged_run_and_undo_with_conda_cli(
    isolated_home: Home, tmp_path: Path, log: Path
) -> None:
    condarc = isolated_home.home / ".condarc"
    condarc.write_text("# ours\nchannels: conda-forge\nssl_verify: /old.pem\n")
    env = conda_env(isolated_home, tmp_path, log)
    bundle = tmp_path / "ca-bundle.pem"

    planned = conda.plan(bundle, tmp_path / "e.pem", Scope.USER, env)
    (change,) = planned.changes
    assert (change.path, change.key, change.old, change.new) == (
        condarc,
        "ssl_verify",
        "/old.pem",
        str(bundle),
    )
    assert fake_tool.calls(log) == [
        ["conda", "config", "--get", "ssl_verify", "--json"],
        ["conda", "config", "--show-sources", "--json"],
    ]
    conda.apply(planned)
    assert fake_tool.calls(log)[-1] == ["conda", "config", "--set", "ssl_verify", str(bundle)]
    assert condarc.read_text() == f"# ours\nchannels: conda-forge\nssl_verify: {bundle}\n"
    assert conda.plan(bundle, tmp_path / "e.pem", Scope.USER, env).changes == []

    assert conda.undo(change, env) == "restored"
    assert fake_tool.calls(log)[-1] == [
        "conda",
        "config",
        "--file",
        str(condarc),
        "--set",
        "ssl_verify",
        "/old.pem",
    ]
    assert condarc.read_text() == "# ours\nchannels: conda-forge\nssl_verify: /old.pem\n"


def test_undo_removes_ours_but_leaves_a_value_changed_since(
    isolated_home: Home, tmp_path: Path, log: Path
) -> None:
    condarc = isolated_home.home / ".condarc"
    env = conda_env(isolated_home, tmp_path, log)
    bundle = tmp_path / "ca-bundle.pem"
    (change,) = conda.apply(conda.plan(bundle, tmp_path / "e.pem", Scope.USER, env))
    assert change.old is None
    condarc.write_text("ssl_verify: truststore\n")
    assert conda.undo(change, env) == "left alone: changed by someone since (now truststore)"
    assert condarc.read_text() == "ssl_verify: truststore\n"

    condarc.write_text(f"ssl_verify: {bundle}\n")
    assert conda.undo(change, env) == "removed, with the file this tool had created"
    assert fake_tool.calls(log)[-1][-2:] == ["--remove-key", "ssl_verify"]
    assert not condarc.exists()


def test_verification_off_in_our_file_is_replaced_and_restorable(
    isolated_home: Home, tmp_path: Path, log: Path
) -> None:
    condarc = isolated_home.home / ".condarc"
    condarc.write_text("ssl_verify: false\n")
    env = conda_env(isolated_home, tmp_path, log)
    (change,) = conda.apply(conda.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env))
    assert change.old == "false"
    assert any("did not verify TLS" in note for note in change.notes)
    assert conda.undo(change, env) == "restored"
    assert condarc.read_text() == "ssl_verify: false\n"


def test_global_scope_uses_system_and_reports_the_users_value(
    isolated_home: Home, tmp_path: Path, log: Path
) -> None:
    (isolated_home.home / ".condarc").write_text("ssl_verify: /user.pem\n")
    system_rc = tmp_path / "miniconda3" / ".condarc"
    system_rc.parent.mkdir()
    system_rc.write_text("channels: defaults\n")
    env = conda_env(isolated_home, tmp_path, log)
    bundle = tmp_path / "ca-bundle.pem"
    planned = conda.plan(bundle, tmp_path / "e.pem", Scope.GLOBAL, env)
    (change,) = planned.changes
    assert change.path == system_rc
    assert [(f.severity, f.where) for f in planned.findings] == [
        (Severity.WARNING, str(isolated_home.home / ".condarc"))
    ]
    assert "read after ours" in planned.findings[0].message
    conda.apply(planned)
    assert fake_tool.calls(log)[-1] == [
        "conda",
        "config",
        "--system",
        "--set",
        "ssl_verify",
        str(bundle),
    ]
    assert system_rc.read_text() == f"channels: defaults\nssl_verify: {bundle}\n"


def test_site_scope_needs_an_active_environment(
    isolated_home: Home, tmp_path: Path, log: Path
) -> None:
    env = conda_env(isolated_home, tmp_path, log)
    planned = conda.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.SITE, env)
    assert planned.changes == []
    assert [f.severity for f in planned.findings] == [Severity.INFO]
    assert fake_tool.calls(log) == []  # conda's --env would have meant the user file

    prefix = tmp_path / "envs" / "work"
    prefix.mkdir(parents=True)
    active = conda_env(isolated_home, tmp_path, log, CONDA_PREFIX=str(prefix))
    (change,) = conda.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.SITE, active).changes
    assert change.path == prefix / ".condarc"
    assert fake_tool.calls(log)[0] == ["conda", "config", "--env", "--get", "ssl_verify", "--json"]


def test_findings_verification_off_elsewhere_and_requests_variable(
    isolated_home: Home, tmp_path: Path, log: Path
) -> None:
    env = conda_env(
        isolated_home,
        tmp_path,
        log,
        CONDA_SSL_VERIFY="false",
        REQUESTS_CA_BUNDLE="/elsewhere.pem",
    )
    findings = conda.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env).findings
    assert [(f.severity, f.where) for f in findings] == [
        (Severity.ERROR, "environment variable CONDA_SSL_VERIFY"),
        (Severity.WARNING, "environment variable REQUESTS_CA_BUNDLE"),
    ]
    ours = conda_env(isolated_home, tmp_path, log, REQUESTS_CA_BUNDLE=str(tmp_path / "b.pem"))
    assert conda.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, ours).findings == []


def test_a_missing_user_condarc_gets_only_our_setting_and_goes_at_undo(
    isolated_home: Home, tmp_path: Path, log: Path
) -> None:
    """conda config reads the system .condarc in place of a missing ~/.condarc and writes
    all of it there: the user's file became a copy of the admin's (their channels pinned
    for this user from then on), the system's ssl_verify was taken for the user's "old"
    value, and undo wrote it into the copy and left the file."""
    system_rc = tmp_path / "miniconda3" / ".condarc"
    system_rc.parent.mkdir()
    system_text = "channels:\n  - corp-mirror\nssl_verify: /etc/corp/ca.pem\n"
    system_rc.write_text(system_text)
    condarc = isolated_home.home / ".condarc"
    env = conda_env(isolated_home, tmp_path, log)
    bundle = tmp_path / "ca-bundle.pem"

    planned = conda.plan(bundle, tmp_path / "e.pem", Scope.USER, env)
    (change,) = planned.changes
    assert (change.path, change.old) == (condarc, None)
    assert CREATED_NOTE in change.notes
    assert not condarc.exists()  # a plan touches nothing
    conda.apply(planned)
    assert condarc.read_text() == f"ssl_verify: {bundle}\n"
    assert conda.plan(bundle, tmp_path / "e.pem", Scope.USER, env).changes == []

    assert conda.undo(change, env) == "removed, with the file this tool had created"
    assert not condarc.exists()
    assert system_rc.read_text() == system_text


def test_a_created_condarc_a_person_added_to_since_stays_at_undo(
    isolated_home: Home, tmp_path: Path, log: Path
) -> None:
    condarc = isolated_home.home / ".condarc"
    env = conda_env(isolated_home, tmp_path, log)
    bundle = tmp_path / "ca-bundle.pem"
    (change,) = conda.apply(conda.plan(bundle, tmp_path / "e.pem", Scope.USER, env))
    assert CREATED_NOTE in change.notes
    condarc.write_text(condarc.read_text() + "channels: conda-forge\n")
    assert conda.undo(change, env) == "removed"
    assert condarc.read_text() == "channels: conda-forge\n"


def test_a_condarc_created_for_a_set_that_failed_is_not_left_behind(
    isolated_home: Home, tmp_path: Path, log: Path
) -> None:
    condarc = isolated_home.home / ".condarc"
    env = conda_env(isolated_home, tmp_path, log, FAKE_CONDA_SET_FAILS="1")
    planned = conda.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env)
    with pytest.raises(ConfigError, match="simulated failure"):
        conda.apply(planned)
    assert not condarc.exists()
