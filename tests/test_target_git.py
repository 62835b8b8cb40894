"""The git target against the real git, with the test's private HOME (and no system file)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from build_ca_bundle.errors import ConfigError
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import Severity, git
from build_ca_bundle.targets.tools import ToolEnvironment
from tests.conftest import Home

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def tool_env(home: Home, platform: str = "linux", **extra: str) -> ToolEnvironment:
    return ToolEnvironment({**os.environ, **extra}, home.home, platform)


def git_get(env: ToolEnvironment, *args: str) -> str | None:
    """What git itself reads, or None when the key is unset."""
    completed = subprocess.run(
        ["git", "config", *args],
        capture_output=True,
        text=True,
        env=dict(env.environ),
        check=False,
    )
    assert completed.returncode in (0, 1), completed.stderr
    return completed.stdout.strip() if completed.returncode == 0 else None


def test_set_read_back_by_git_unchanged_run_then_undo_restores(
    isolated_home: Home, tmp_path: Path
) -> None:
    gitconfig = isolated_home.home / ".gitconfig"
    gitconfig.write_text("# my settings\n[http]\n\tsslCAInfo = /old.pem\n[user]\n\tname = Ann\n")
    env = tool_env(isolated_home)
    bundle = tmp_path / "ca-bundle.pem"

    planned = git.plan(bundle, tmp_path / "extra.pem", Scope.USER, env)
    (change,) = planned.changes
    assert (change.path, change.key, change.old, change.new) == (
        gitconfig,
        "http.sslCAInfo",
        "/old.pem",
        str(bundle),
    )
    assert gitconfig.read_text().count("/old.pem") == 1  # plan touched nothing
    assert git.apply(planned) == [change]
    assert git_get(env, "--global", "--get", "http.sslCAInfo") == str(bundle)
    assert "# my settings" in gitconfig.read_text()
    assert git.plan(bundle, tmp_path / "extra.pem", Scope.USER, env).changes == []

    assert git.undo(change, env) == "restored"
    assert git_get(env, "--global", "--get", "http.sslCAInfo") == "/old.pem"
    assert git_get(env, "--global", "--get", "user.name") == "Ann"


def test_undo_removes_ours_but_leaves_a_value_changed_since(
    isolated_home: Home, tmp_path: Path
) -> None:
    env = tool_env(isolated_home)
    bundle = tmp_path / "ca-bundle.pem"
    (change,) = git.apply(git.plan(bundle, tmp_path / "e.pem", Scope.USER, env))
    assert change.old is None
    subprocess.run(["git", "config", "--global", "http.sslCAInfo", "/mine.pem"], check=True)
    assert git.undo(change, env) == "left alone: changed by someone since (now /mine.pem)"
    assert git_get(env, "--global", "--get", "http.sslCAInfo") == "/mine.pem"

    subprocess.run(["git", "config", "--global", "http.sslCAInfo", str(bundle)], check=True)
    # git had created ~/.gitconfig for our setting: empty again, it goes too (an empty
    # file was left behind before).
    assert git.undo(change, env) == "removed, with the file git had created for it"
    assert git_get(env, "--global", "--get", "http.sslCAInfo") is None
    assert not (isolated_home.home / ".gitconfig").exists()

    gitconfig = isolated_home.home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = Someone\n")  # a file of the person's: it stays
    (change,) = git.apply(git.plan(bundle, tmp_path / "e.pem", Scope.USER, env))
    assert git.undo(change, env) == "removed"
    assert gitconfig.read_text().startswith("[user]")


def test_apply_runs_git_in_the_environment_of_the_plan(
    isolated_home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tool_env(isolated_home)
    planned = git.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("HOME", str(elsewhere))  # e.g. a caller that changed HOME since
    git.apply(planned)
    assert not (elsewhere / ".gitconfig").exists()
    assert (isolated_home.home / ".gitconfig").exists()


def test_global_scope_writes_the_system_file(isolated_home: Home, tmp_path: Path) -> None:
    system_file = tmp_path / "etc-gitconfig"
    env = tool_env(isolated_home, GIT_CONFIG_SYSTEM=str(system_file))
    bundle = tmp_path / "ca-bundle.pem"
    (change,) = git.apply(git.plan(bundle, tmp_path / "e.pem", Scope.GLOBAL, env))
    assert change.path == system_file
    assert git_get(env, "--system", "--get", "http.sslCAInfo") == str(bundle)
    assert not (isolated_home.home / ".gitconfig").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
def test_the_system_file_git_creates_is_readable_by_every_account_whatever_the_umask(
    isolated_home: Home, tmp_path: Path
) -> None:
    """Under umask 077 (a hardened logon script) a global run made /etc/gitconfig 0600, and
    every other account's git failed: "unable to access '/etc/gitconfig'"."""
    system_file = tmp_path / "etc-gitconfig"
    env = tool_env(isolated_home, GIT_CONFIG_SYSTEM=str(system_file))
    before = os.umask(0o077)
    try:
        git.apply(git.plan(tmp_path / "ca-bundle.pem", tmp_path / "e.pem", Scope.GLOBAL, env))
    finally:
        os.umask(before)
    assert stat.S_IMODE(system_file.stat().st_mode) == 0o644


def test_system_file_is_asked_of_git_without_creating_it(isolated_home: Home) -> None:
    path = git.config_file(Scope.GLOBAL, tool_env(isolated_home))
    assert path.is_absolute()
    assert path.name == "gitconfig"
    assert not (isolated_home.home / ".gitconfig").exists()


def test_xdg_file_is_used_when_it_is_the_only_one(isolated_home: Home) -> None:
    xdg = isolated_home.config / "git" / "config"
    xdg.parent.mkdir(parents=True)
    xdg.write_text("[user]\n\tname = Ann\n")
    env = tool_env(isolated_home)
    assert git.config_file(Scope.USER, env) == xdg
    (change,) = git.plan(Path("/b.pem"), Path("/e.pem"), Scope.USER, env).changes
    assert change.path == xdg


def test_site_scope_is_a_notice_without_changes(isolated_home: Home, tmp_path: Path) -> None:
    site = git.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.SITE, tool_env(isolated_home))
    assert site.changes == []
    assert [f.severity for f in site.findings] == [Severity.INFO]


def test_windows_schannel_plans_both_settings(isolated_home: Home, tmp_path: Path) -> None:
    (isolated_home.home / ".gitconfig").write_text("[http]\n\tsslBackend = schannel\n")
    env = tool_env(isolated_home, platform="win32")
    bundle = tmp_path / "ca-bundle.pem"
    planned = git.plan(bundle, tmp_path / "e.pem", Scope.USER, env)
    assert [(c.key, c.new) for c in planned.changes] == [
        ("http.sslCAInfo", str(bundle)),
        ("http.schannelUseSSLCAInfo", "true"),
    ]
    assert "replaces the Windows store" in planned.changes[1].notes[0]
    git.apply(planned)
    assert git_get(env, "--global", "--get", "http.schannelUseSSLCAInfo") == "true"
    assert git.plan(bundle, tmp_path / "e.pem", Scope.USER, env).changes == []


@pytest.mark.parametrize(
    ("platform", "backend"), [("win32", "openssl"), ("win32", None), ("linux", "schannel")]
)
def test_schannel_setting_only_where_git_uses_schannel(
    isolated_home: Home, tmp_path: Path, platform: str, backend: str | None
) -> None:
    if backend is not None:
        (isolated_home.home / ".gitconfig").write_text(f"[http]\n\tsslBackend = {backend}\n")
    env = tool_env(isolated_home, platform=platform)
    planned = git.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env)
    assert [c.key for c in planned.changes] == ["http.sslCAInfo"]


def test_findings_for_what_beats_our_setting(isolated_home: Home, tmp_path: Path) -> None:
    (isolated_home.home / ".gitconfig").write_text(
        '[http "https://git.example.com/"]\n\tsslCAInfo = /their.pem\n'
    )
    env = tool_env(isolated_home, GIT_SSL_CAINFO="/elsewhere.pem")
    findings = git.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env).findings
    assert [(f.severity, f.where) for f in findings] == [
        (Severity.ERROR, "environment variable GIT_SSL_CAINFO"),
        (Severity.WARNING, "git global config: http.https://git.example.com/.sslcainfo"),
    ]
    same = tool_env(isolated_home, GIT_SSL_CAINFO=str(tmp_path / "b.pem"))
    assert len(git.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, same).findings) == 1


def test_a_duplicated_key_is_reported_not_overwritten(isolated_home: Home, tmp_path: Path) -> None:
    gitconfig = isolated_home.home / ".gitconfig"
    gitconfig.write_text("[http]\n\tsslCAInfo = /a.pem\n\tsslCAInfo = /b.pem\n")
    planned = git.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, tool_env(isolated_home))
    assert planned.changes == []
    (finding,) = planned.findings
    assert finding.severity is Severity.ERROR
    assert finding.fix.startswith("git config --global --unset-all http.sslCAInfo")


def test_a_broken_config_file_is_an_error_and_left_alone(
    isolated_home: Home, tmp_path: Path
) -> None:
    gitconfig = isolated_home.home / ".gitconfig"
    gitconfig.write_text("[broken\n")
    with pytest.raises(ConfigError, match="bad config line 1"):
        git.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, tool_env(isolated_home))
    assert gitconfig.read_text() == "[broken\n"


def test_an_included_file_is_watched_and_its_other_value_said(
    isolated_home: Home, tmp_path: Path
) -> None:
    """A value in an [include]d file counted as a second one in ~/.gitconfig ("set 2 times
    ... not configured"), though `git config --global` edits only ~/.gitconfig; and the
    included file was not watched, so a change there went unseen."""
    gitconfig = isolated_home.home / ".gitconfig"
    local = isolated_home.home / ".gitconfig.local"
    local.write_text("[http]\n\tsslCAInfo = /elsewhere.pem\n")
    gitconfig.write_text(f"[http]\n\tsslCAInfo = /old.pem\n[include]\n\tpath = {local}\n")
    env = tool_env(isolated_home)
    bundle = tmp_path / "ca-bundle.pem"
    planned = git.plan(bundle, tmp_path / "e.pem", Scope.USER, env)
    (change,) = planned.changes
    assert (change.path, change.old) == (gitconfig, "/old.pem")
    assert local in planned.files and gitconfig in planned.files
    (included,) = [f for f in planned.findings if f.where == f"{local}: http.sslCAInfo"]
    assert included.severity is Severity.WARNING
    assert "/elsewhere.pem" in included.message
    assert included.fix == f"git config --file {local} --unset http.sslCAInfo"


def _read_in(env: ToolEnvironment, repository: Path) -> str:
    """The http.sslCAInfo git reads in a repository there."""
    if not repository.exists():
        subprocess.run(["git", "init", "-q", str(repository)], env=dict(env.environ), check=True)
    completed = subprocess.run(
        ["git", "-C", str(repository), "config", "--get", "http.sslCAInfo"],
        capture_output=True,
        text=True,
        env=dict(env.environ),
        check=True,
    )
    return completed.stdout.strip()


def test_an_include_if_file_is_watched_and_what_it_sets_for_tls_said(
    isolated_home: Home, tmp_path: Path
) -> None:
    """`[includeIf "gitdir:~/work/"] path = .gitconfig-work`, which sets the proxy's old CA
    file and switches verification off for a host: git reads it in every repository under
    ~/work, but a run from the home folder never saw it, and said git was set. Whether its
    CA file wins depends on where git reads it against ours: said as git then behaves."""
    gitconfig = isolated_home.home / ".gitconfig"
    work_config = isolated_home.home / ".gitconfig-work"
    work_config.write_text(
        '[http]\n\tsslCAInfo = /etc/old-proxy.pem\n[http "https://git.corp/"]\n\tsslVerify = no\n'
    )
    include = '[includeIf "gitdir:~/work/"]\n\tpath = .gitconfig-work\n'
    env = tool_env(isolated_home)
    bundle = tmp_path / "ca-bundle.pem"
    repository = isolated_home.home / "work" / "repo"
    ca_where = f"{work_config}: http.sslcainfo"
    # Ours is written into an [http] section above the include: the include wins.
    gitconfig.write_text("[http]\n\tsslCAInfo = /old.pem\n" + include)
    planned = git.plan(bundle, tmp_path / "e.pem", Scope.USER, env)
    assert work_config in planned.files
    found = {f.where: f for f in planned.findings}
    assert 'repositories where includeIf "gitdir:~/work/" holds' in found[ca_where].message
    assert "may not be ours" in found[ca_where].message  # where git puts ours is not known
    off = found[f"{work_config}: http.https://git.corp/.sslverify"]
    assert off.severity is Severity.ERROR and "does not verify" in off.message
    git.apply(planned)
    found = {f.where: f for f in planned.findings}
    assert found[ca_where].severity is Severity.WARNING
    assert "git uses it there, not the bundle" in found[ca_where].message
    assert _read_in(env, repository) == "/etc/old-proxy.pem"  # as said
    assert ca_where in {f.where for f in git.plan(bundle, tmp_path / "e", Scope.USER, env).findings}

    # Ours below the include (git appends a new section): ours wins, nothing to say of it.
    gitconfig.write_text("[user]\n\tname = me\n" + include)
    planned = git.plan(bundle, tmp_path / "e.pem", Scope.USER, env)
    git.apply(planned)
    assert ca_where not in {f.where for f in planned.findings}
    assert _read_in(env, repository) == str(bundle)
    assert ca_where not in {
        f.where for f in git.plan(bundle, tmp_path / "e", Scope.USER, env).findings
    }


def test_verification_switched_off_is_an_error_in_the_run_not_only_in_doctor(
    isolated_home: Home, tmp_path: Path
) -> None:
    """The run said "git: set http.sslCAInfo" and exit 0 while git verified nothing there
    (npm's strict-ssl=false and uv's allow-insecure-host were said). git's false booleans
    count, an empty value among them; a bare key is true."""
    gitconfig = isolated_home.home / ".gitconfig"
    included = tmp_path / "team.gitconfig"
    included.write_text('[http "https://pypi.example.com/"]\n\tsslVerify =\n')
    gitconfig.write_text(
        f'[http]\n\tsslVerify = No\n[http "https://ok.example.com/"]\n\tsslVerify\n'
        f"[include]\n\tpath = {included}\n"
    )
    env = tool_env(isolated_home, GIT_SSL_NO_VERIFY="0")
    planned = git.plan(tmp_path / "ca-bundle.pem", tmp_path / "extra.pem", Scope.USER, env)
    off = {(f.where, f.fix) for f in planned.findings if "does not verify" in f.message}
    assert off == {
        ("environment variable GIT_SSL_NO_VERIFY", "unset GIT_SSL_NO_VERIFY where it is set "
         "(shell profile, CI settings); with http.sslCAInfo set to the bundle it is not needed"),
        ("git global config: http.sslverify",
         f"git config --file {gitconfig} --unset http.sslverify  "
         "(http.sslCAInfo names the bundle)"),
        ("git global config: http.https://pypi.example.com/.sslverify",
         f"git config --file {included} --unset http.https://pypi.example.com/.sslverify  "
         "(http.sslCAInfo names the bundle)"),
    }  # fmt: skip
    assert all(f.severity is Severity.ERROR for f in planned.findings if "verify" in f.message)
    env = tool_env(isolated_home)
    gitconfig.write_text("[http]\n\tsslVerify = true\n")
    planned = git.plan(tmp_path / "ca-bundle.pem", tmp_path / "extra.pem", Scope.USER, env)
    assert not [f for f in planned.findings if "does not verify" in f.message]
