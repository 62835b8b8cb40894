"""The pip target: pip's own file lookup, safe edits, and everything that beats our cert."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import venv
from pathlib import Path

import pip
import pytest

from build_ca_bundle.errors import ConfigError
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import Severity, backup_path
from build_ca_bundle.targets import pip as pip_target
from build_ca_bundle.targets.pip import PipEnvironment, config_files, current_cert, target_file
from tests.conftest import Home


def make_env(
    tmp_path: Path, platform: str = "linux", encoding: str = "utf-8", **environ: str
) -> PipEnvironment:
    return PipEnvironment(
        platform=platform,
        environ=environ,
        home=tmp_path / "home",
        prefix=tmp_path / "venv",
        encoding=encoding,
        system_root=tmp_path / "root",
    )


def bundle_in(tmp_path: Path) -> Path:
    return tmp_path / "ca" / "bundle.pem"


# --- where pip's files are ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        (
            "linux",
            {},
            {
                "global": ["root/etc/xdg/pip/pip.conf", "root/etc/pip.conf"],
                "user": ["home/.pip/pip.conf", "home/.config/pip/pip.conf"],
            },
        ),
        (
            "linux",
            {"XDG_CONFIG_DIRS": "{t}/a: relative :{t}/b", "XDG_CONFIG_HOME": "{t}/cfg"},
            {
                "global": ["a/pip/pip.conf", "b/pip/pip.conf", "root/etc/pip.conf"],
                "user": ["home/.pip/pip.conf", "cfg/pip/pip.conf"],
            },
        ),
        (
            "linux",
            {"XDG_CONFIG_HOME": "relative/is/ignored"},
            {
                "global": ["root/etc/xdg/pip/pip.conf", "root/etc/pip.conf"],
                "user": ["home/.pip/pip.conf", "home/.config/pip/pip.conf"],
            },
        ),
        (
            "darwin",
            {"XDG_CONFIG_HOME": "{t}/cfg"},  # pip ignores it on macOS
            {
                "global": ["root/Library/Application Support/pip/pip.conf"],
                "user": ["home/.pip/pip.conf", "home/.config/pip/pip.conf"],
            },
        ),
        (
            "darwin",
            {"XDG_DATA_DIRS": "{t}/share1:{t}/share2"},
            {
                "global": ["share1/pip/pip.conf", "share2/pip/pip.conf"],
                "user": ["home/.pip/pip.conf", "home/.config/pip/pip.conf"],
            },
        ),
        (
            "win32",
            {"APPDATA": "{t}/Roaming", "ALLUSERSPROFILE": "{t}/PD"},
            {
                "global": ["PD/pip/pip.ini"],
                "user": ["home/pip/pip.ini", "Roaming/pip/pip.ini"],
            },
        ),
        (
            "win32",
            {"WIN_PD_OVERRIDE_APPDATA": "//server/share", "APPDATA": "{t}/Roaming"},
            {
                "global": ["root/ProgramData/pip/pip.ini"],
                "user": ["home/pip/pip.ini", "//server/share/pip/pip.ini"],
            },
        ),
    ],
)
def test_files_per_os_in_pips_load_order(
    tmp_path: Path, platform: str, environ: dict[str, str], expected: dict[str, list[str]]
) -> None:
    env = make_env(tmp_path, platform, **{k: v.format(t=tmp_path) for k, v in environ.items()})
    files = config_files(env)
    assert files["global"] == [tmp_path / p for p in expected["global"]]
    assert files["user"] == [tmp_path / p for p in expected["user"]]
    basename = "pip.ini" if platform == "win32" else "pip.conf"
    assert files["site"] == [tmp_path / "venv" / basename]
    assert files["env"] == []


def test_macos_uses_application_support_once_its_pip_folder_exists(tmp_path: Path) -> None:
    env = make_env(tmp_path, "darwin")
    support = tmp_path / "home" / "Library" / "Application Support" / "pip"
    support.mkdir(parents=True)
    assert config_files(env)["user"][-1] == support / "pip.conf"
    assert target_file(Scope.USER, env) == support / "pip.conf"


def test_macos_puts_homebrew_share_before_library(tmp_path: Path) -> None:
    base = Path("/opt/homebrew/opt/python@3.13/Frameworks/Python.framework/Versions/3.13")
    env = make_env(tmp_path, "darwin").replace(base_prefix=base)
    assert config_files(env)["global"] == [
        Path("/opt/homebrew/share/pip/pip.conf"),
        tmp_path / "root" / "Library" / "Application Support" / "pip" / "pip.conf",
    ]


@pytest.mark.parametrize(
    ("platform", "scope", "expected"),
    [
        ("linux", Scope.USER, "home/.config/pip/pip.conf"),
        ("linux", Scope.GLOBAL, "root/etc/pip.conf"),  # `pip config --global` writes the last
        ("linux", Scope.SITE, "venv/pip.conf"),
        ("darwin", Scope.USER, "home/.config/pip/pip.conf"),
        ("darwin", Scope.GLOBAL, "root/Library/Application Support/pip/pip.conf"),
        ("win32", Scope.USER, "home/AppData/Roaming/pip/pip.ini"),
        ("win32", Scope.GLOBAL, "root/ProgramData/pip/pip.ini"),
        ("win32", Scope.SITE, "venv/pip.ini"),
    ],
)
def test_target_file_is_the_one_pip_config_writes(
    tmp_path: Path, platform: str, scope: Scope, expected: str
) -> None:
    assert target_file(scope, make_env(tmp_path, platform)) == tmp_path / expected


def test_an_existing_pip_config_file_switches_user_files_off(tmp_path: Path) -> None:
    named = tmp_path / "corp.conf"
    named.write_text("[global]\n")
    files = config_files(make_env(tmp_path, PIP_CONFIG_FILE=str(named)))
    assert files["user"] == []
    assert files["env"] == [named]
    assert files["global"] and files["site"]


def test_a_missing_pip_config_file_leaves_user_files_on(tmp_path: Path) -> None:
    files = config_files(make_env(tmp_path, PIP_CONFIG_FILE=str(tmp_path / "missing.conf")))
    assert len(files["user"]) == 2
    assert files["env"] == [tmp_path / "missing.conf"]


@pytest.mark.parametrize(("platform", "devnull"), [("linux", "/dev/null"), ("win32", "nul")])
def test_pip_config_file_devnull_switches_every_file_off(
    tmp_path: Path, platform: str, devnull: str
) -> None:
    files = config_files(make_env(tmp_path, platform, PIP_CONFIG_FILE=devnull))
    assert files == {"global": [], "user": [], "site": [], "env": []}


# --- planning and applying the edit --------------------------------------------------------


def test_first_run_creates_the_file_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    bundle = bundle_in(tmp_path)
    first = pip_target.plan(bundle, Scope.USER, env)
    assert [(c.key, c.old, c.new) for c in first.changes] == [("global.cert", None, str(bundle))]
    assert pip_target.apply(first) == first.changes
    written = tmp_path / "home" / ".config" / "pip" / "pip.conf"
    assert written.read_bytes() == f"[global]\ncert = {bundle}\n".encode()
    assert stat.S_IMODE(written.stat().st_mode) == 0o644

    second = pip_target.plan(bundle, Scope.USER, env)
    assert second.changes == []
    assert pip_target.apply(second) == []
    assert not backup_path(written).exists()


def test_windows_gets_crlf_in_a_new_file(tmp_path: Path) -> None:
    env = make_env(tmp_path, "win32")
    bundle = bundle_in(tmp_path)
    pip_target.apply(pip_target.plan(bundle, Scope.SITE, env))
    expected = f"[global]\r\ncert = {bundle}\r\n".encode()
    assert (tmp_path / "venv" / "pip.ini").read_bytes() == expected


def test_editing_keeps_everything_else_and_writes_a_backup(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    path = target_file(Scope.USER, env)
    path.parent.mkdir(parents=True)
    original = (
        b"# IT managed\r\n[global]\r\nindex-url = https://mirror.invalid/simple\r\n"
        b"--CERT = /old.pem\r\n\r\n[install]\r\nuser = yes"
    )
    path.write_bytes(original)
    path.chmod(0o640)
    bundle = bundle_in(tmp_path)

    plan = pip_target.plan(bundle, Scope.USER, env)
    assert path.read_bytes() == original  # planning touches nothing
    [change] = pip_target.apply(plan)

    assert change.old == "/old.pem"
    assert path.read_bytes() == original.replace(b"/old.pem", str(bundle).encode())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert backup_path(path).read_bytes() == original
    # A pip.conf may hold a proxy password: its backup is no more readable than it is.
    assert stat.S_IMODE(backup_path(path).stat().st_mode) == 0o640
    assert any("backup at" in note for note in change.notes)


def test_a_config_folder_that_is_a_dangling_link_is_named_as_such(tmp_path: Path) -> None:
    """XDG_CONFIG_HOME pointing at a removed folder: the error was 'File exists'."""
    env = make_env(tmp_path)
    path = target_file(Scope.USER, env)
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    path.parent.symlink_to(tmp_path / "removed-config")
    with pytest.raises(ConfigError, match=r"is a link to .*removed-config, which does not exist"):
        pip_target.apply(pip_target.plan(bundle_in(tmp_path), Scope.USER, env))


def test_a_link_at_the_backup_name_is_never_written_through(tmp_path: Path) -> None:
    """A root run with a user's HOME would otherwise create, as root, the file a planted
    pip.conf.bak link names (/etc/profile.d/...), holding the user's pip.conf."""
    env = make_env(tmp_path)
    path = target_file(Scope.USER, env)
    path.parent.mkdir(parents=True)
    path.write_text("[global]\ntimeout = 9\n")
    elsewhere = tmp_path / "profile.d" / "planted.sh"
    elsewhere.parent.mkdir()
    backup_path(path).symlink_to(elsewhere)
    bundle = bundle_in(tmp_path)

    [change] = pip_target.apply(pip_target.plan(bundle, Scope.USER, env))

    assert f"cert = {bundle}" in path.read_text()
    assert not elsewhere.exists()
    assert backup_path(path).is_symlink()  # the person's (or attacker's) link, left alone
    assert not any("backup at" in note for note in change.notes)  # so undo trusts no backup


def test_a_path_written_with_tilde_counts_as_ours(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    path = target_file(Scope.USER, env)
    path.parent.mkdir(parents=True)
    path.write_text("[global]\ncert = ~/ca/bundle.pem\n")
    plan = pip_target.plan(tmp_path / "home" / "ca" / "bundle.pem", Scope.USER, env)
    assert plan.changes == []


def test_a_utf8_bom_is_removed_with_a_backup_and_a_note(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    bundle = bundle_in(tmp_path)
    path = target_file(Scope.USER, env)
    path.parent.mkdir(parents=True)
    original = f"\ufeff[global]\ncert = {bundle}\ntimeout = 9\n".encode()
    path.write_bytes(original)

    [change] = pip_target.apply(pip_target.plan(bundle, Scope.USER, env))

    assert path.read_bytes() == original[3:]
    assert backup_path(path).read_bytes() == original
    assert any("byte order mark" in note for note in change.notes)
    assert pip_target.plan(bundle, Scope.USER, env).changes == []


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"[global]\ncert = /a\nno delimiter here\n", 3),
        (b"cert = /a\n[global]\n", 1),
        (b"[global]\ncert = /a\n[install]\n[global]\n", 4),
        (b"[global]\ncert = /a\nCert = /b\n", 3),  # pip normalises the name: a duplicate
        (b"[global]\nx = 1\nproxy = caf\xe9\n", 3),  # Latin-1, not UTF-8
    ],
)
def test_a_file_pip_cannot_read_is_reported_with_its_line_and_left_alone(
    tmp_path: Path, content: bytes, line: int
) -> None:
    env = make_env(tmp_path)
    path = target_file(Scope.USER, env)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        pip_target.plan(bundle_in(tmp_path), Scope.USER, env)
    assert str(path) in caught.value.message
    assert f"line {line}" in caught.value.message
    assert path.read_bytes() == content
    assert not backup_path(path).exists()


def test_apply_refuses_a_file_that_changed_after_planning(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    path = target_file(Scope.USER, env)
    path.parent.mkdir(parents=True)
    path.write_text("[global]\n")
    plan = pip_target.plan(bundle_in(tmp_path), Scope.USER, env)
    path.write_text("[global]\ntimeout = 5\n")
    with pytest.raises(ConfigError, match="changed since"):
        pip_target.apply(plan)
    assert path.read_text() == "[global]\ntimeout = 5\n"


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_a_path_the_encoding_cannot_hold_is_written_with_tilde(
    tmp_path: Path, encoding: str
) -> None:
    env = make_env(tmp_path, encoding=encoding).replace(home=tmp_path / "김민수")
    bundle = tmp_path / "김민수" / ".ca" / "bundle.pem"
    plan = pip_target.plan(bundle, Scope.USER, env)
    assert [c.new for c in plan.changes] == ["~/.ca/bundle.pem"]
    pip_target.apply(plan)
    assert target_file(Scope.USER, env).read_bytes() == b"[global]\ncert = ~/.ca/bundle.pem\n"
    assert pip_target.plan(bundle, Scope.USER, env).changes == []


def test_a_machine_wide_file_never_gets_a_per_user_tilde_path(tmp_path: Path) -> None:
    env = make_env(tmp_path, encoding="ascii").replace(home=tmp_path / "김민수")
    with pytest.raises(ConfigError) as caught:
        pip_target.plan(tmp_path / "김민수" / "bundle.pem", Scope.GLOBAL, env)
    assert caught.value.hint is not None and "ASCII" in caught.value.hint


def test_scope_none_plans_nothing(tmp_path: Path) -> None:
    plan = pip_target.plan(bundle_in(tmp_path), Scope.NONE, make_env(tmp_path, PIP_CERT="/x"))
    assert plan.changes == [] and plan.findings == []


# --- what beats our value -------------------------------------------------------------------


def findings_for(env: PipEnvironment, bundle: Path, scope: Scope = Scope.USER) -> dict[str, str]:
    plan = pip_target.plan(bundle, scope, env)
    assert all(f.fix for f in plan.findings)
    return {f.where: f.message for f in plan.findings if f.severity is not Severity.INFO}


def test_no_findings_when_nothing_competes(tmp_path: Path) -> None:
    assert findings_for(make_env(tmp_path), bundle_in(tmp_path)) == {}


@pytest.mark.parametrize("name", ["PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_variable_pointing_elsewhere_is_reported(tmp_path: Path, name: str) -> None:
    found = findings_for(make_env(tmp_path, **{name: "/stale.pem"}), bundle_in(tmp_path))
    assert list(found) == [f"environment variable {name}"]


@pytest.mark.parametrize("name", ["PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_variable_pointing_at_our_bundle_is_fine(tmp_path: Path, name: str) -> None:
    bundle = bundle_in(tmp_path)
    assert findings_for(make_env(tmp_path, **{name: str(bundle)}), bundle) == {}


def test_curl_ca_bundle_is_moot_when_requests_ca_bundle_is_ours(tmp_path: Path) -> None:
    bundle = bundle_in(tmp_path)
    env = make_env(tmp_path, REQUESTS_CA_BUNDLE=str(bundle), CURL_CA_BUNDLE="/stale.pem")
    assert findings_for(env, bundle) == {}


def test_a_trusted_host_left_in_a_pip_file_is_said_by_the_build_too(tmp_path: Path) -> None:
    """Only doctor said it: a developer's run fixed pip and left verification off for the
    hosts an old workaround named (audit h43). Each file once, [DEFAULT]'s once."""
    env = make_env(tmp_path)
    glob = tmp_path / "root" / "etc" / "pip.conf"
    glob.parent.mkdir(parents=True)
    glob.write_text("[DEFAULT]\ntrusted-host = mirror.corp\n[global]\ntimeout = 5\n")
    user = target_file(Scope.USER, env)
    user.parent.mkdir(parents=True)
    user.write_text("[global]\ntrusted-host = pypi.org\n  files.pythonhosted.org\n")
    found = findings_for(env, bundle_in(tmp_path))
    assert found[str(user)] == (
        "trusted-host [global] pypi.org files.pythonhosted.org: pip skips TLS verification "
        "for these hosts, which the bundle makes needless"
    )
    assert found[str(glob)].startswith("trusted-host [DEFAULT] mirror.corp: ")
    user.write_text("[global]\ntimeout = 5\n")
    assert str(user) not in findings_for(env, bundle_in(tmp_path))


def test_pip_config_file_devnull_is_reported(tmp_path: Path) -> None:
    found = findings_for(make_env(tmp_path, PIP_CONFIG_FILE="/dev/null"), bundle_in(tmp_path))
    assert "reads no config file" in found["environment variable PIP_CONFIG_FILE"]


def test_an_existing_pip_config_file_hides_the_user_file(tmp_path: Path) -> None:
    named = tmp_path / "corp.conf"
    named.write_text("[global]\n")
    env = make_env(tmp_path, PIP_CONFIG_FILE=str(named))
    assert (
        "does not read the user file"
        in findings_for(env, bundle_in(tmp_path))["environment variable PIP_CONFIG_FILE"]
    )
    # The site file is still read, so that scope has nothing to report.
    assert findings_for(env, bundle_in(tmp_path), Scope.SITE) == {}


def test_cert_in_a_command_section_is_reported_in_any_file(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    glob = tmp_path / "root" / "etc" / "pip.conf"
    glob.parent.mkdir(parents=True)
    glob.write_text("[download]\ncert = /old.pem\n[unknown]\ncert = /ignored.pem\n")
    user = target_file(Scope.USER, env)
    user.parent.mkdir(parents=True)
    user.write_text("[install]\ncert = /other.pem\n[list]\ncert =\n")
    found = findings_for(env, bundle_in(tmp_path))
    assert sorted(found) == [f"{user} [install]", f"{glob} [download]"]


def test_a_cert_in_default_is_named_where_its_line_is(tmp_path: Path) -> None:
    """configparser lends [DEFAULT]'s cert to [install]: the fix said "delete the 'cert'
    line from [install]", a section with no such line."""
    env = make_env(tmp_path)
    user = target_file(Scope.USER, env)
    user.parent.mkdir(parents=True)
    user.write_text("[DEFAULT]\ncert = /x.pem\n[global]\n[install]\nno-compile = yes\n")
    finding = pip_target.plan(bundle_in(tmp_path), Scope.USER, env).findings
    install = [f for f in finding if f.where == f"{user} [install]"]
    assert len(install) == 1
    assert "uses cert = /x.pem from [DEFAULT] (through [install])" in install[0].message
    assert install[0].fix == f"delete the 'cert' line from [DEFAULT] in {user}"


def test_a_later_file_with_another_global_cert_is_reported(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    site = tmp_path / "venv" / "pip.conf"
    site.parent.mkdir(parents=True)
    site.write_text("[global]\ncert = /site.pem\n")
    glob = tmp_path / "root" / "etc" / "pip.conf"
    glob.parent.mkdir(parents=True)
    glob.write_text("[global]\ncert = /lower-precedence.pem\n")  # ours beats it: no finding
    assert list(findings_for(env, bundle_in(tmp_path))) == [f"{site} [global]"]


def test_an_empty_cert_in_a_later_file_erases_ours(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    site = tmp_path / "venv" / "pip.conf"
    site.parent.mkdir(parents=True)
    site.write_text("[global]\ncert =\n")
    assert "erases ours" in findings_for(env, bundle_in(tmp_path))[f"{site} [global]"]


def test_a_broken_file_elsewhere_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    legacy = tmp_path / "home" / ".pip" / "pip.conf"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"\xef\xbb\xbf[global]\ncert = /x\n")
    assert "every pip command fails" in findings_for(env, bundle_in(tmp_path))[str(legacy)]


# --- which cert pip uses --------------------------------------------------------------------


def test_current_cert_follows_pips_precedence(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    assert current_cert(env) == pip_target.CertSetting(None, None)
    glob = tmp_path / "root" / "etc" / "pip.conf"
    glob.parent.mkdir(parents=True)
    glob.write_text("[global]\ncert = /global.pem\n[install]\ncert = /install.pem\n")
    user = target_file(Scope.USER, env)
    user.parent.mkdir(parents=True)
    user.write_text("[global]\ncert = /user.pem\n")

    assert current_cert(env, "download").value == "/user.pem"
    assert current_cert(env, "download").path == user
    assert current_cert(env, "install").value == "/install.pem"  # a command section wins
    with_env = env.replace(environ={"PIP_CERT": "/env.pem"})
    assert current_cert(with_env).origin == "PIP_CERT"
    user.write_text("[global]\ncert =\n")  # an empty value in a later file erases the earlier
    assert current_cert(env, "download").value is None


def test_current_cert_raises_when_pip_would_fail(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    site = tmp_path / "venv" / "pip.conf"
    site.parent.mkdir(parents=True)
    site.write_bytes(b"\xef\xbb\xbf[global]\n")
    with pytest.raises(ConfigError, match="byte order mark"):
        current_cert(env)


# --- real pip reads back what we wrote ------------------------------------------------------


def run_pip(python: str, *args: str, pythonpath: str | None = None) -> str:
    environ = dict(os.environ)
    if pythonpath is not None:
        environ["PYTHONPATH"] = pythonpath
    done = subprocess.run(
        [python, "-m", "pip", *args], capture_output=True, text=True, env=environ, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.e2e
def test_real_pip_reads_the_user_file_we_wrote(isolated_home: Home, tmp_path: Path) -> None:
    env = PipEnvironment.current()
    bundle = tmp_path / "ca" / "bundle.pem"
    plan = pip_target.plan(bundle, Scope.USER, env)
    pip_target.apply(plan)
    assert plan.changes[0].path == isolated_home.pip_user_config

    assert run_pip(sys.executable, "config", "get", "global.cert").strip() == str(bundle)
    debug = run_pip(sys.executable, "config", "debug")
    assert f"{isolated_home.pip_user_config}, exists: True" in debug
    assert f"global.cert: {bundle}" in debug


@pytest.mark.e2e
def test_real_pip_reads_the_site_file_we_wrote(tmp_path: Path) -> None:
    venv_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(venv_dir)
    python = str(venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    env = PipEnvironment.current().replace(prefix=venv_dir)
    bundle = tmp_path / "ca" / "bundle.pem"
    pip_target.apply(pip_target.plan(bundle, Scope.SITE, env))

    pip_parent = str(Path(pip.__file__).parent.parent)  # our pip, run by the new venv's python
    debug = run_pip(python, "config", "debug", pythonpath=pip_parent)
    assert f"{venv_dir / 'pip.conf'}, exists: True" in debug
    got = run_pip(python, "config", "get", "global.cert", pythonpath=pip_parent)
    assert got.strip() == str(bundle)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX owners")
def test_a_machine_wide_run_refuses_a_pip_config_linked_to_a_users_file(tmp_path: Path) -> None:
    """/etc/pip.conf as a link into a folder a user owns: that user would then choose the
    index and the CA of every account's pip. Nothing is written."""
    from build_ca_bundle import pipeline
    from build_ca_bundle.errors import UnsafePathError
    from build_ca_bundle.options import BuildOptions
    from build_ca_bundle.targets import Change, Plan

    users_file = tmp_path / "user" / "pip.conf"
    users_file.parent.mkdir()
    users_file.write_text("[global]\n")
    link = tmp_path / "pip.conf"
    link.symlink_to(users_file)
    plan = Plan("pip", [Change("pip", link, "global.cert", None, "/etc/b/ca-bundle.pem")])
    with pytest.raises(UnsafePathError, match=f"the machine-wide pip config {link}"):
        pipeline._check_machine_files([], [plan], BuildOptions(scope=Scope.GLOBAL))
    assert users_file.read_text() == "[global]\n"
