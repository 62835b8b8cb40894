"""The uv target: ``system-certs = true`` edited into uv.toml as text; uv's version comes
from a fake ``uv`` (tests/fake_tool.py), since uv is not installed here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from build_ca_bundle.errors import ConfigError
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import Severity, backup_path, uv
from build_ca_bundle.targets.tools import ToolEnvironment
from tests import fake_tool
from tests.conftest import Home

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

USER_TOML = """\
# uv settings for the office
index-url = "https://pypi.example.com/simple"  # the mirror

# our internal index
[[index]]
name = "internal"
url = "https://pypi.example.com/simple"
"""


def uv_env(home: Home, tmp_path: Path, platform: str = "linux", **extra: str) -> ToolEnvironment:
    bin_dir = tmp_path / "bin"
    fake_tool.install(bin_dir, "uv")
    environ = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **extra}
    return ToolEnvironment(environ, home.home, platform)


def user_toml(home: Home) -> Path:
    return home.config / "uv" / "uv.toml"


def written_user_toml(home: Home, text: str) -> Path:
    """The user's uv.toml, holding ``text``."""
    path = user_toml(home)
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_adds_one_line_keeps_comments_unchanged_run_and_undo(
    isolated_home: Home, tmp_path: Path
) -> None:
    path = written_user_toml(isolated_home, USER_TOML)
    path.chmod(0o600)  # an index URL with a token in it
    env = uv_env(isolated_home, tmp_path)
    bundle = tmp_path / "ca-bundle.pem"

    planned = uv.plan(bundle, tmp_path / "e.pem", Scope.USER, env)
    (change,) = planned.changes
    assert (change.path, change.key, change.old, change.new) == (path, "system-certs", None, "true")
    assert path.read_text() == USER_TOML  # plan touched nothing
    uv.apply(planned)
    assert path.read_text() == USER_TOML.replace("mirror\n", "mirror\nsystem-certs = true\n")
    assert tomllib.loads(path.read_text())["system-certs"] is True
    assert backup_path(path).read_text() == USER_TOML
    assert backup_path(path).stat().st_mode & 0o777 == 0o600  # no more readable than it
    assert uv.plan(bundle, tmp_path / "e.pem", Scope.USER, env).changes == []

    assert uv.undo(change, env) == "restored the file from its backup, byte for byte"
    assert path.read_text() == USER_TOML


def test_replaces_a_false_value_keeping_its_comment_and_restores_it(
    isolated_home: Home, tmp_path: Path
) -> None:
    path = user_toml(isolated_home)
    path.parent.mkdir(parents=True)
    original = "system-certs = false  # IT said so\r\n[pip]\r\nindex-url = 'x'\r\n"
    path.write_bytes(original.encode())
    env = uv_env(isolated_home, tmp_path)
    (change,) = uv.apply(uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env))
    assert change.old == "false"
    assert path.read_bytes() == original.replace("false", "true", 1).encode()
    assert uv.undo(change, env) == "restored the file from its backup, byte for byte"
    assert path.read_bytes() == original.encode()


def test_a_uv_toml_with_a_byte_order_mark_is_edited_and_keeps_it(
    isolated_home: Home, tmp_path: Path
) -> None:
    """PowerShell 5.1's `-Encoding UTF8` starts the file with a BOM, which uv reads past:
    the run stopped with "not valid TOML (uv cannot read the file either)", exit 3, and
    left pip and git unset too."""
    path = user_toml(isolated_home)
    path.parent.mkdir(parents=True)
    original = b"\xef\xbb\xbfsystem-certs = false\r\n[pip]\r\nindex-url = 'x'\r\n"
    path.write_bytes(original)
    env = uv_env(isolated_home, tmp_path)
    (change,) = uv.apply(uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env))
    assert change.old == "false"
    assert path.read_bytes() == original.replace(b"false", b"true", 1)
    assert uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env).changes == []
    assert uv.undo(change, env) == "restored the file from its backup, byte for byte"
    assert path.read_bytes() == original
    path.write_bytes(b"\xef\xbb\xbf# mine\n")  # no backup this time: the text is edited
    backup_path(path).unlink()
    (change,) = uv.apply(uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env))
    assert path.read_bytes() == b"\xef\xbb\xbfsystem-certs = true\n# mine\n"
    backup_path(path).unlink()
    assert uv.undo(change, env) == "removed"
    assert path.read_bytes() == b"\xef\xbb\xbf# mine\n"


def test_system_certs_false_beside_native_tls_true_is_not_configured(
    isolated_home: Home, tmp_path: Path
) -> None:
    """uv takes the new name where both are set: system-certs = false beats native-tls = true
    and uv stays on its bundled roots (checked with uv 0.13.9), so the run that called this
    configured left uv failing the proxy's certificate with exit 0."""
    path = written_user_toml(
        isolated_home, "system-certs = false  # IT said no\nnative-tls = true\n"
    )
    env = uv_env(isolated_home, tmp_path)
    planned = uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env)
    (change,) = planned.changes
    assert (change.key, change.old, change.new) == ("system-certs", "false", "true")
    uv.apply(planned)
    assert path.read_text() == "system-certs = true  # IT said no\nnative-tls = true\n"
    older = uv_env(isolated_home, tmp_path, FAKE_UV_VERSION="0.10.4")  # knows only native-tls
    assert uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, older).changes == []


def test_a_linked_uv_toml_stays_a_link_through_the_run_and_undo(
    isolated_home: Home, tmp_path: Path
) -> None:
    """A dotfile manager's uv.toml link was replaced with a plain file by the run."""
    dotfile = tmp_path / "dotfiles" / "uv.toml"
    dotfile.parent.mkdir()
    dotfile.write_text(USER_TOML)
    path = user_toml(isolated_home)
    path.parent.mkdir(parents=True)
    path.symlink_to(dotfile)
    env = uv_env(isolated_home, tmp_path)
    (change,) = uv.apply(uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env))
    assert path.is_symlink()
    assert "system-certs = true" in dotfile.read_text()
    assert uv.undo(change, env) == "restored the file from its backup, byte for byte"
    assert path.is_symlink()
    assert dotfile.read_text() == USER_TOML


def test_new_file_and_a_value_changed_since(isolated_home: Home, tmp_path: Path) -> None:
    path = user_toml(isolated_home)
    env = uv_env(isolated_home, tmp_path)
    (change,) = uv.apply(uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env))
    assert path.read_text() == "system-certs = true\n"
    assert not backup_path(path).exists()
    path.write_text("system-certs = false\n")
    assert uv.undo(change, env) == "left alone: changed by someone since (now false)"
    assert path.read_text() == "system-certs = false\n"


def test_undo_after_a_persons_edit_takes_out_only_our_line(
    isolated_home: Home, tmp_path: Path
) -> None:
    path = written_user_toml(isolated_home, USER_TOML)
    env = uv_env(isolated_home, tmp_path)
    (change,) = uv.apply(uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env))
    path.write_text(path.read_text() + "# added by a person\n")
    assert uv.undo(change, env) == "removed"  # not the backup: that would lose the comment
    assert path.read_text() == USER_TOML + "# added by a person\n"


def test_undo_removes_a_uv_toml_it_created(isolated_home: Home, tmp_path: Path) -> None:
    """An empty uv.toml stayed behind."""
    path = user_toml(isolated_home)
    env = uv_env(isolated_home, tmp_path)
    (change,) = uv.apply(uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env))
    assert path.exists()
    assert uv.undo(change, env) == "removed, with the file this tool had created"
    assert not path.exists()


def test_uv_before_0_11_gets_the_old_name(isolated_home: Home, tmp_path: Path) -> None:
    env = uv_env(isolated_home, tmp_path, FAKE_UV_VERSION="0.10.4")
    (change,) = uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env).changes
    assert change.key == "native-tls"
    # The old name already on counts as on for a newer uv too.
    user_toml(isolated_home).parent.mkdir(parents=True)
    user_toml(isolated_home).write_text("native-tls = true\n")
    newer = uv_env(isolated_home, tmp_path)
    assert uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, newer).changes == []


def test_findings_insecure_hosts_and_variables(isolated_home: Home, tmp_path: Path) -> None:
    path = written_user_toml(isolated_home, 'allow-insecure-host = ["pypi.org"]\n')
    env = uv_env(
        isolated_home,
        tmp_path,
        UV_INSECURE_HOST="files.pythonhosted.org",
        SSL_CERT_FILE="/elsewhere.pem",
        UV_SYSTEM_CERTS="false",
    )
    findings = uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env).findings
    assert [(f.severity, f.where) for f in findings] == [
        (Severity.ERROR, str(path)),
        (Severity.ERROR, "environment variable UV_INSECURE_HOST"),
        (Severity.WARNING, "environment variable UV_SYSTEM_CERTS"),
        (Severity.WARNING, "environment variable SSL_CERT_FILE"),
    ]
    ours = uv_env(isolated_home, tmp_path, SSL_CERT_FILE=str(tmp_path / "b.pem"))
    assert len(uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, ours).findings) == 1


def test_invalid_toml_is_an_error_and_left_untouched(isolated_home: Home, tmp_path: Path) -> None:
    path = written_user_toml(isolated_home, "index-url = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        uv.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, uv_env(isolated_home, tmp_path))
    assert path.read_text() == "index-url = \n"


def test_an_edit_that_would_change_more_is_refused() -> None:
    # A multi-line string whose line looks like a table header: a naive insert would land
    # inside the string. The parser check refuses instead.
    text = 'note = """\n[not a table]\n"""\n[pip]\n'
    with pytest.raises(ConfigError, match="safely"):
        uv.set_top_level(text, "system-certs", "true")


def test_apply_refuses_a_file_changed_since_the_plan(isolated_home: Home, tmp_path: Path) -> None:
    path = written_user_toml(isolated_home, "offline = false\n")
    planned = uv.plan(
        tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, uv_env(isolated_home, tmp_path)
    )
    path.write_text("offline = true\n")
    with pytest.raises(ConfigError, match="changed since"):
        uv.apply(planned)
    assert path.read_text() == "offline = true\n"


def test_where_the_files_are(isolated_home: Home, tmp_path: Path) -> None:
    windows = ToolEnvironment(
        {"APPDATA": r"C:\Users\ann\AppData\Roaming", "PROGRAMDATA": r"D:\ProgramData"},
        Path(r"C:\Users\ann"),
        "win32",
    )
    roaming = Path(r"C:\Users\ann\AppData\Roaming")
    assert uv.config_file(Scope.USER, windows) == roaming / "uv" / "uv.toml"
    assert uv.config_file(Scope.GLOBAL, windows) == Path(r"D:\ProgramData") / "uv" / "uv.toml"
    linux = uv_env(isolated_home, tmp_path)
    assert uv.config_file(Scope.USER, linux) == user_toml(isolated_home)
    assert uv.config_file(Scope.GLOBAL, linux) == Path("/etc/uv/uv.toml")
    xdg_system = isolated_home.config_dirs / "uv" / "uv.toml"
    xdg_system.parent.mkdir(parents=True)
    xdg_system.write_text("")
    assert uv.config_file(Scope.GLOBAL, linux) == xdg_system


def test_site_scope_is_a_notice(isolated_home: Home, tmp_path: Path) -> None:
    site = uv.plan(
        tmp_path / "b.pem", tmp_path / "e.pem", Scope.SITE, uv_env(isolated_home, tmp_path)
    )
    assert (site.changes, [f.severity for f in site.findings]) == ([], [Severity.INFO])
    assert not user_toml(isolated_home).exists()
