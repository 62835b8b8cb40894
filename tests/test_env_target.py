"""Environment variables: shell syntax read back by real shells, CI formats, persistence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from build_ca_bundle.errors import BundleError
from build_ca_bundle.options import BuildOptions
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import env, registry

TRICKY = Path("/home/o'brien/My Data/$HOME/ca-bundle.pem")


def values(tmp_path: Path) -> dict[str, str]:
    return env.variables(tmp_path / "ca bundle.pem", tmp_path / "extra-roots.pem")


def test_variables_name_the_bundle_and_node_gets_only_the_extra_roots(tmp_path: Path) -> None:
    found = values(tmp_path)
    assert found["NODE_EXTRA_CA_CERTS"] == str(tmp_path / "extra-roots.pem")
    assert {found[name] for name in found if name != "NODE_EXTRA_CA_CERTS"} == {
        str(tmp_path / "ca bundle.pem")
    }
    assert set(found) == {
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "AWS_CA_BUNDLE",
        "PIP_CERT",
        "GIT_SSL_CAINFO",
        "NODE_EXTRA_CA_CERTS",
    }


def test_sh_output_is_read_back_exactly_by_a_real_shell() -> None:
    script = env.render({"SSL_CERT_FILE": str(TRICKY), "PIP_CERT": "plain"}, "sh")
    completed = subprocess.run(
        ["sh", "-c", script + 'printf "%s\\n%s\\n" "$SSL_CERT_FILE" "$PIP_CERT"'],
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.splitlines() == [str(TRICKY), "plain"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed here")
def test_fish_output_is_read_back_exactly_by_fish() -> None:
    script = env.render({"SSL_CERT_FILE": str(TRICKY) + "\\x"}, "fish")
    completed = subprocess.run(
        ["fish", "-c", script + "echo $SSL_CERT_FILE"], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == str(TRICKY) + "\\x"


def test_powershell_and_cmd_quoting() -> None:
    assert env.render({"PIP_CERT": "C:\\Users\\O'Brien\\b.pem"}, "powershell") == (
        "$env:PIP_CERT = 'C:\\Users\\O''Brien\\b.pem'\n"
    )
    # PowerShell ends a single-quoted string on typographic quotes too: each is doubled.
    assert env.render({"PIP_CERT": "C:\\O\u2019Brien\u2018\u201a\u201b\\b.pem"}, "powershell") == (
        "$env:PIP_CERT = 'C:\\O\u2019\u2019Brien\u2018\u2018\u201a\u201a\u201b\u201b\\b.pem'\n"
    )
    assert env.render({"PIP_CERT": "C:\\a b\\b.pem"}, "cmd") == 'set "PIP_CERT=C:\\a b\\b.pem"\n'
    assert env.render({"PIP_CERT": "C:\\100%\\b.pem"}, "cmd") == 'set "PIP_CERT=C:\\100%%\\b.pem"\n'


def test_default_shell() -> None:
    assert env.default_shell({"SHELL": "/usr/bin/fish"}, "linux") == "fish"
    assert env.default_shell({"SHELL": "/bin/bash"}, "linux") == "sh"
    assert env.default_shell({}, "win32") == "powershell"
    assert env.default_shell({"SHELL": "/usr/bin/pwsh"}, "linux") == "powershell"
    assert env.default_shell({"SHELL": "/opt/microsoft/powershell/7/pwsh"}, "darwin") == (
        "powershell"
    )


def test_github_actions_appends_to_github_env(tmp_path: Path) -> None:
    github_env = tmp_path / "github_env"
    github_env.write_text("EARLIER=1\n")
    export = env.ci_export(
        {"PIP_CERT": "/b.pem", "SSL_CERT_FILE": "/b.pem"},
        {"GITHUB_ACTIONS": "true", "GITHUB_ENV": str(github_env)},
    )
    assert export is not None
    assert export.system == "GitHub Actions"
    env.write_ci_export(export)
    assert github_env.read_text() == "EARLIER=1\nPIP_CERT=/b.pem\nSSL_CERT_FILE=/b.pem\n"


@pytest.mark.parametrize("system", ["GITHUB_ENV", "BASH_ENV"])
def test_an_env_file_without_a_last_line_break_keeps_its_line_and_ours(
    tmp_path: Path, system: str
) -> None:
    """`printf 'FOO=bar' >> $GITHUB_ENV` earlier in the step: our first line was read as the
    end of theirs (FOO=barSSL_CERT_FILE=...), which lost both."""
    path = tmp_path / "env-file"
    path.write_text("FOO=bar")
    environ = {"GITHUB_ACTIONS": "true", "CIRCLECI": "true", system: str(path)}
    export = env.ci_export({"PIP_CERT": "/b.pem"}, environ)
    assert export is not None
    env.write_ci_export(export)
    assert path.read_text().splitlines() == ["FOO=bar", export.text.rstrip("\n")]


def test_exports_a_ci_system_would_change_are_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    """GitLab expands `$` in dotenv values and strips spaces around them, and refuses a
    report of 5 KB or more; Azure with DECODE_PERCENTS off leaves %AZP25 in the path. The
    later steps got another path, or none, after an exit 0."""
    dotenv = tmp_path / "x.env"
    gitlab = {"GITLAB_CI": "true"}

    def refused(value: str, environ: dict[str, str]) -> str:
        export = env.ci_export({"PIP_CERT": value}, environ, dotenv=dotenv)
        assert export is not None
        with pytest.raises(BundleError) as error:
            env.check_ci_export(export, environ, try_open=True)
        return str(error.value)

    assert "GitLab expands '$'" in refused("/builds/$HOME/b.pem", gitlab)
    assert "starts or ends with one" in refused("/builds/b.pem ", gitlab)
    assert "GitLab refuses one of 5120 bytes or more" in refused("/b" * 2600, gitlab)
    azure_off = {"TF_BUILD": "True", "DECODE_PERCENTS": "False"}
    assert "would not decode the '%'" in refused("/100%/b.pem", azure_off)
    assert not dotenv.exists()
    for value, environ in (("/builds/b.pem", gitlab), ("/100%/b.pem", {"TF_BUILD": "True"})):
        export = env.ci_export({"PIP_CERT": value}, environ, dotenv=dotenv)
        assert export is not None
        env.check_ci_export(export, environ, try_open=True)  # fine
    assert dotenv.read_text() == ""  # opened to see that it can be, not written


def test_gitlab_writes_a_dotenv_report(tmp_path: Path) -> None:
    export = env.ci_export({"PIP_CERT": "/b.pem"}, {"GITLAB_CI": "true"}, dotenv=tmp_path / "x.env")
    assert export is not None
    env.write_ci_export(export)
    assert (tmp_path / "x.env").read_text() == "PIP_CERT=/b.pem\n"
    # A second run in the job (another --output) replaces the report: one value each.
    again = env.ci_export({"PIP_CERT": "/c.pem"}, {"GITLAB_CI": "true"}, dotenv=tmp_path / "x.env")
    assert again is not None
    env.write_ci_export(again)
    assert (tmp_path / "x.env").read_text() == "PIP_CERT=/c.pem\n"


def test_gitlab_warns_when_later_jobs_cannot_have_the_bundle(tmp_path: Path) -> None:
    """A dotenv report reaches later jobs, in fresh containers with only the checkout and
    artifacts: a bundle under $HOME named there made every TLS client trust nothing, and
    the step said only "exported 7 variables"."""
    project = tmp_path / "builds" / "group" / "project"
    project.mkdir(parents=True)
    environ = {"GITLAB_CI": "true", "CI_PROJECT_DIR": str(project)}
    export = env.ci_export({"PIP_CERT": "/b.pem"}, environ)
    assert export is not None
    home_bundle = tmp_path / "home" / ".local" / "share" / "build-ca-bundle" / "ca-bundle.pem"
    warning = env.ci_export_warning(export, home_bundle, environ)
    assert warning is not None
    assert f"{home_bundle} is outside $CI_PROJECT_DIR ({project})" in warning
    assert "--output $CI_PROJECT_DIR/ca-bundle.pem" in warning
    assert env.ci_export_warning(export, project / "ca-bundle.pem", environ) is None
    github = env.ci_export({"PIP_CERT": "/b.pem"}, {"GITHUB_ACTIONS": "true", "GITHUB_ENV": "x"})
    assert github is not None  # the same job's later steps: its files are all there
    assert env.ci_export_warning(github, home_bundle, environ) is None


def test_gitlab_warns_when_the_runner_names_the_project_folder_per_job(tmp_path: Path) -> None:
    """Shell and Kubernetes runners build in <builds>/<token>/<n>/<group>/<project>: the
    later job ran in another such folder, and pip said "invalid path" of the exported one."""
    builds = tmp_path / "builds"
    per_job = builds / "t0ken123" / "0" / "grp" / "proj"
    fixed = builds / "grp" / "proj"
    for project, warned in ((per_job, True), (fixed, False)):
        environ = {
            "GITLAB_CI": "true",
            "CI_PROJECT_DIR": str(project),
            "CI_BUILDS_DIR": str(builds),
            "CI_PROJECT_PATH": "grp/proj",
        }
        export = env.ci_export({"PIP_CERT": str(project / "ca-bundle.pem")}, environ)
        assert export is not None
        warning = env.ci_export_warning(export, project / "ca-bundle.pem", environ)
        assert (warning is not None and "names the folder per job" in warning) == warned


def test_gitlab_dotenv_goes_where_the_artifact_path_is_read_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`artifacts: reports: dotenv: build-ca-bundle.env` is read from $CI_PROJECT_DIR: a
    script that went `cd tools/` first had the report written there, GitLab found none, and
    later jobs got no variable after an exit 0."""
    project = tmp_path / "project"
    elsewhere = project / "tools"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    environ = {"GITLAB_CI": "true", "CI_PROJECT_DIR": str(project)}
    export = env.ci_export({"PIP_CERT": "/b.pem"}, environ)
    assert export is not None
    env.write_ci_export(export)
    assert (project / "build-ca-bundle.env").read_text() == "PIP_CERT=/b.pem\n"
    assert not (elsewhere / "build-ca-bundle.env").exists()
    assert export.path == project / "build-ca-bundle.env"  # absolute, as --json says it


def test_gitlab_never_appends_through_a_link_the_repository_committed(tmp_path: Path) -> None:
    """build-ca-bundle.env is ours, in the checkout: a repository that commits it as a link
    to ~/.bashrc must not get our lines appended there."""
    bashrc = tmp_path / "bashrc"
    bashrc.write_text("# mine\n")
    dotenv = tmp_path / "build-ca-bundle.env"
    dotenv.symlink_to(bashrc)
    export = env.ci_export({"PIP_CERT": "/b.pem"}, {"GITLAB_CI": "true"}, dotenv=dotenv)
    assert export is not None
    with pytest.raises(BundleError, match="no variables exported") as refused:
        env.write_ci_export(export)
    assert refused.value.hint == "remove what is at that path (a link is never followed)"
    assert bashrc.read_text() == "# mine\n"


def test_azure_pipelines_prints_logging_commands(capsys: pytest.CaptureFixture[str]) -> None:
    export = env.ci_export({"PIP_CERT": "/b.pem"}, {"TF_BUILD": "True"})
    assert export is not None
    env.write_ci_export(export)
    assert capsys.readouterr().out == "##vso[task.setvariable variable=PIP_CERT]/b.pem\n"


def test_azure_logging_commands_escape_percent_as_the_task_library_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    export = env.ci_export({"PIP_CERT": "/100%/b.pem"}, {"TF_BUILD": "True"})
    assert export is not None
    env.write_ci_export(export)
    assert capsys.readouterr().out == "##vso[task.setvariable variable=PIP_CERT]/100%AZP25/b.pem\n"


def test_circleci_appends_exports_to_bash_env(tmp_path: Path) -> None:
    bash_env = tmp_path / "bash_env"
    export = env.ci_export(
        {"PIP_CERT": "/b c.pem"}, {"CIRCLECI": "true", "BASH_ENV": str(bash_env)}
    )
    assert export is not None
    env.write_ci_export(export)
    assert bash_env.read_text() == "export PIP_CERT='/b c.pem'\n"


def test_no_ci_detected_outside_ci() -> None:
    assert env.ci_export({"PIP_CERT": "/b"}, {"CI": "true"}) is None


def test_startup_block_is_replaced_in_place_never_duplicated(tmp_path: Path) -> None:
    home = tmp_path
    profile = home / ".profile"
    profile.write_text("# my profile\nexport EDITOR=vi\n")
    environ = {"SHELL": "/bin/sh"}
    for bundle in ("/a.pem", "/b.pem", "/b.pem"):
        planned = env.plan_startup_file({"PIP_CERT": bundle}, home, environ)
        if planned is not None:
            env.apply_startup_file(planned[0], planned[2])
    text = profile.read_text()
    assert text.count(env.BEGIN) == 1
    assert text.startswith("# my profile\nexport EDITOR=vi\n")
    assert "export PIP_CERT='/b.pem'" in text and "/a.pem" not in text
    # The third run found nothing to do.
    assert env.plan_startup_file({"PIP_CERT": "/b.pem"}, home, environ) is None
    # The block is read by a real shell.
    completed = subprocess.run(
        ["sh", "-c", f". {profile}; echo $PIP_CERT"], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "/b.pem"
    # Removing it restores the user's own text, without the blank line put before it.
    assert env.with_block(text, None) == "# my profile\nexport EDITOR=vi\n"


def test_a_start_up_file_keeps_its_bytes_its_line_ends_and_its_link(tmp_path: Path) -> None:
    """CRLF became LF for good, a Latin-1 profile crashed the run (exit 1), and a profile
    linked from a dotfiles folder became a plain file."""
    home = tmp_path / "home"
    home.mkdir()
    dotfiles = tmp_path / "dotfiles" / "zprofile"
    dotfiles.parent.mkdir()
    original = b"# caf\xe9 (Latin-1)\r\nexport EDITOR=vi\r\n"
    dotfiles.write_bytes(original)
    (home / ".zprofile").symlink_to(dotfiles)
    environ = {"SHELL": "/bin/zsh"}
    planned = env.plan_startup_file({"PIP_CERT": "/b.pem"}, home, environ)
    assert planned is not None
    env.apply_startup_file(planned[0], planned[2])
    assert (home / ".zprofile").is_symlink()
    written = dotfiles.read_bytes()
    assert written.startswith(original)
    assert b"export PIP_CERT='/b.pem'\n" in written
    text = env.read_startup_file(home / ".zprofile")
    assert text is not None
    env.apply_startup_file(home / ".zprofile", env.with_block(text, None))
    assert dotfiles.read_bytes() == original


def test_fish_start_up_file_follows_xdg_config_home(tmp_path: Path) -> None:
    """fish reads $XDG_CONFIG_HOME/fish: a block in ~/.config/fish did nothing there."""
    environ = {"SHELL": "/usr/bin/fish", "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    path, _ = env.startup_file(tmp_path / "home", environ)
    assert path == tmp_path / "xdg" / "fish" / "conf.d" / "build-ca-bundle.fish"
    relative = {"SHELL": "/usr/bin/fish", "XDG_CONFIG_HOME": "xdg"}  # fish ignores it
    assert env.startup_file(tmp_path, relative)[0].parent == tmp_path / ".config/fish/conf.d"
    fish = shutil.which("fish")
    if fish is not None:  # and real fish reads it
        env.apply_startup_file(path, env.block({"PIP_CERT": "/b.pem"}, "fish"))
        completed = subprocess.run(
            [fish, "-l", "-c", "echo $PIP_CERT"],
            env={"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", **environ},
            capture_output=True,
            text=True,
            check=True,
        )
        assert completed.stdout.strip() == "/b.pem"


@pytest.mark.parametrize(
    ("shell", "existing", "expected"),
    [
        ("/bin/zsh", [], ".zprofile"),
        ("/bin/bash", [".bash_profile"], ".bash_profile"),
        ("/bin/bash", [".bash_login"], ".bash_login"),
        ("/bin/bash", [".bash_profile", ".bash_login", ".profile"], ".bash_profile"),
        ("/bin/bash", [".profile"], ".profile"),
        ("/bin/bash", [], ".profile"),
        ("/usr/bin/fish", [], ".config/fish/conf.d/build-ca-bundle.fish"),
    ],
)
def test_startup_file_per_shell(
    tmp_path: Path, shell: str, existing: list[str], expected: str
) -> None:
    for name in existing:
        (tmp_path / name).write_text("")
    path, syntax = env.startup_file(tmp_path, {"SHELL": shell})
    assert path == tmp_path / expected
    if shell == "/bin/bash":  # and a real login bash reads the block there
        text = path.read_text() if path.exists() else ""
        path.write_text(env.with_block(text, env.block({"PIP_CERT": "/b.pem"}, syntax)))
        completed = subprocess.run(
            ["bash", "-l", "-c", 'echo "$PIP_CERT"'],
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert completed.stdout.strip() == "/b.pem"


def test_zsh_start_up_file_is_in_zdotdir_when_it_is_set(tmp_path: Path) -> None:
    """zsh reads .zprofile from $ZDOTDIR (zsh(1): "If ZDOTDIR is unset, HOME is used
    instead"): the block went to ~/.zprofile, which such a zsh never reads, and the run
    said "env: set"."""
    home, zdotdir = tmp_path / "home", tmp_path / "home" / ".config" / "zsh"
    zdotdir.mkdir(parents=True)
    environ = {"SHELL": "/usr/bin/zsh", "ZDOTDIR": str(zdotdir)}
    path, syntax = env.startup_file(home, environ)
    assert path == zdotdir / ".zprofile"
    assert env.startup_file(home, {**environ, "ZDOTDIR": "relative"})[0] == home / ".zprofile"
    if shutil.which("zsh") is None:
        return  # the rest is zsh's own reading of it
    path.write_text(env.block({"PIP_CERT": "/b.pem"}, syntax))
    completed = subprocess.run(
        ["zsh", "-l", "-c", 'echo "$PIP_CERT"'],
        env={"HOME": str(home), "ZDOTDIR": str(zdotdir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == "/b.pem"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX user database")
def test_without_shell_the_login_shell_comes_from_the_user_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cron and `env -i` set no SHELL: ~/.profile was written though the account's login
    bash reads ~/.bash_profile, so the block never reached a login shell."""
    import pwd

    (tmp_path / ".bash_profile").write_text("")

    def with_shell(shell: str) -> Callable[[int], pwd.struct_passwd]:
        fields = list(pwd.getpwuid(os.getuid()))
        fields[6] = shell  # pw_shell
        return lambda uid: pwd.struct_passwd(fields)

    monkeypatch.setattr(pwd, "getpwuid", with_shell("/bin/bash"))
    assert env.startup_file(tmp_path, {}) == (tmp_path / ".bash_profile", "sh")
    monkeypatch.setattr(pwd, "getpwuid", with_shell("/usr/bin/zsh"))
    assert env.startup_file(tmp_path, {})[0] == tmp_path / ".zprofile"


class FakeWinreg:
    """winreg's interface over a dict, holding HKCU\\Environment."""

    HKEY_CURRENT_USER = 1
    KEY_READ = 0x20019
    KEY_SET_VALUE = 0x2
    REG_SZ = 1
    REG_EXPAND_SZ = 2

    def __init__(self, initial: dict[str, tuple[str, int]]) -> None:
        self.values = dict(initial)
        self.open_keys = 0

    def OpenKey(self, key: int, sub_key: str, reserved: int = 0, access: int = 0) -> object:
        assert (key, sub_key) == (self.HKEY_CURRENT_USER, "Environment")
        self.open_keys += 1
        return object()

    def QueryValueEx(self, key: object, name: str) -> tuple[object, int]:
        if name not in self.values:
            raise FileNotFoundError(name)
        return self.values[name]

    def SetValueEx(self, key: object, name: str, reserved: int, kind: int, value: str) -> None:
        self.values[name] = (value, kind)

    def DeleteValue(self, key: object, name: str) -> None:
        del self.values[name]

    def CloseKey(self, key: object) -> None:
        self.open_keys -= 1


def test_windows_user_environment_through_winregs_interface() -> None:
    registry = FakeWinreg({"PIP_CERT": ("C:\\old.pem", 1), "PATH": ("C:\\bin", 2)})
    long_value = "C:\\ProgramData\\" + "x" * 1100 + "\\ca.pem"  # setx would truncate at 1024
    # A "%" in the bundle's path is a character: REG_EXPAND_SZ made "100%OS%done" into
    # "100Windows_NTdone" for every new process.
    wanted = {"PIP_CERT": long_value, "SSL_CERT_FILE": "C:\\100%OS%done\\b.pem"}
    changes = env.plan_windows_environment(wanted, registry)
    assert [(c.key, c.old, c.new) for c in changes] == [
        ("PIP_CERT", "C:\\old.pem", long_value),
        ("SSL_CERT_FILE", None, "C:\\100%OS%done\\b.pem"),
    ]
    broadcasts: list[int] = []
    env.apply_windows_environment(changes, registry, lambda: broadcasts.append(1))
    assert registry.values["PIP_CERT"] == (long_value, registry.REG_SZ)
    assert registry.values["SSL_CERT_FILE"] == ("C:\\100%OS%done\\b.pem", registry.REG_SZ)
    assert registry.values["PATH"] == ("C:\\bin", 2)
    assert broadcasts == [1]
    assert registry.open_keys == 0
    assert env.plan_windows_environment(wanted, registry) == []


def test_windows_undo_leaves_a_persons_value_and_restores_the_type_it_had(
    tmp_path: Path,
) -> None:
    """undo wrote over values a person set since, and put a REG_SZ value with a "%" back
    as REG_EXPAND_SZ; a REG_EXPAND_SZ value must go back as one."""
    from build_ca_bundle import history
    from build_ca_bundle.targets import registry as targets

    registry = FakeWinreg(
        {"PIP_CERT": ("%USERPROFILE%\\corp.pem", 2), "SSL_CERT_FILE": ("C:\\100%\\a.pem", 1)}
    )
    wanted = {"PIP_CERT": "C:\\b.pem", "SSL_CERT_FILE": "C:\\b.pem", "CURL_CA_BUNDLE": "C:\\b.pem"}
    changes = env.plan_windows_environment(wanted, registry)
    env.apply_windows_environment(changes, registry, lambda: None)
    # Ours is REG_SZ even where it replaced a REG_EXPAND_SZ value: a "%" in the bundle's
    # path was expanded in every new process ("100%OS%done" -> "100Windows_NTdone").
    assert registry.values["PIP_CERT"] == ("C:\\b.pem", 1)
    # The record undo reads back, as history keeps it on disk.
    history.add(tmp_path / "ca-bundle.pem", changes)
    recorded = {c.key: c for c in history.load(tmp_path / "ca-bundle.pem")}
    registry.values["CURL_CA_BUNDLE"] = ("C:\\mine.pem", 1)  # a person's, since
    outcomes = {
        name: targets.undo_windows_value(recorded[name], registry, lambda: None)
        for name in ("PIP_CERT", "SSL_CERT_FILE", "CURL_CA_BUNDLE")
    }
    assert outcomes["CURL_CA_BUNDLE"].startswith("left alone")
    assert registry.values["CURL_CA_BUNDLE"] == ("C:\\mine.pem", 1)
    assert registry.values["PIP_CERT"] == ("%USERPROFILE%\\corp.pem", 2)  # REG_EXPAND_SZ
    assert registry.values["SSL_CERT_FILE"] == ("C:\\100%\\a.pem", 1)  # REG_SZ, "%" and all


@pytest.mark.parametrize("scope", [Scope.SITE, Scope.GLOBAL])
def test_the_variables_are_persisted_for_the_users_own_bundle_only(
    scope: Scope, tmp_path: Path
) -> None:
    """The start-up file (and HKCU\\Environment) is the account's own: --scope site wrote the
    venv's bundle into ~/.profile, replacing the user scope's block, and its undo then
    removed that block; --scope global wrote root's own ~/.profile. Both are notices now,
    with how to give the machine's shells the variables."""
    home = tmp_path / "home"
    home.mkdir()
    environ = {"HOME": str(home), "SHELL": "/bin/bash"}
    bundle, extra = tmp_path / "ca-bundle.pem", tmp_path / "extra-roots.pem"
    planned = registry.plan("env", bundle, extra, BuildOptions(scope=scope, environ=environ))
    assert planned.changes == []
    (finding,) = planned.findings
    assert f"not for --scope {scope.value}" in finding.message
    assert f"build-ca-bundle --scope {scope.value} env" in finding.fix
    none = registry.plan("env", bundle, extra, BuildOptions(scope=Scope.NONE, environ=environ))
    assert (none.changes, none.findings) == ([], [])
    user = registry.plan("env", bundle, extra, BuildOptions(scope=Scope.USER, environ=environ))
    if sys.platform != "win32":
        (change,) = user.changes
        assert change.path.parent == home
