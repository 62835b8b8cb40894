"""What an ordinary account may not write or read is left as it is, with a clear error.

Root writes over a chmod 444 file and reads a chmod 000 one, and the suite runs as root here,
so these run the code as an ordinary account (tests/accounts.py): the kernel says no, as it
would to the person at the keyboard.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from build_ca_bundle.errors import ExitCode
from tests import fake_tool
from tests.accounts import Account, ordinary_account_fixture  # noqa: F401 (a fixture)
from tests.pki import make_root

_PIP_CONF = "# the team's settings\n[global]\ntimeout = 30\n"


def _cli_environment(account: Account) -> dict[str, str]:
    """A private user in the account's folder: its own store file, HOME and XDG folders."""
    root = account.folder
    (root / "certs").mkdir()
    (root / "store.pem").write_bytes(make_root("Permissions Root").pem)
    env = dict(os.environ)  # already cleared of this machine's settings (conftest.py)
    env.update(
        HOME=str(root / "home"),
        XDG_DATA_HOME=str(root / "data"),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_CACHE_HOME=str(root / "cache"),
        XDG_CONFIG_DIRS=str(root / "etc-xdg"),
        SSL_CERT_FILE=str(root / "store.pem"),
        SSL_CERT_DIR=str(root / "certs"),
        SHELL="/bin/sh",
    )
    return env


def _read_only_file(account: Account, path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    account.own(account.folder)
    path.chmod(0o444)
    return path


def test_write_atomically_leaves_a_read_only_file_as_it_is(ordinary_account: Account) -> None:
    """Every config writer goes through write_atomically. The rename it makes is allowed by
    the folder, so it replaced a file made read-only on purpose."""
    target = _read_only_file(ordinary_account, ordinary_account.folder / "uv.toml", "mine\n")
    answer = ordinary_account.call(
        f"""
        import json
        from pathlib import Path
        from build_ca_bundle import inifile
        try:
            inifile.write_atomically(Path({str(target)!r}), b"ours\\n")
        except OSError as error:
            print(json.dumps([type(error).__name__, error.strerror]))
        else:
            print(json.dumps(None))
        """
    )
    assert answer == ["PermissionError", "read-only for this account"]
    assert target.read_text() == "mine\n"
    assert sorted(item.name for item in ordinary_account.folder.iterdir()) == ["uv.toml"]


def test_a_read_only_pip_conf_is_left_as_it_is(ordinary_account: Account) -> None:
    env = _cli_environment(ordinary_account)
    pip_conf = _read_only_file(
        ordinary_account, ordinary_account.folder / "config/pip/pip.conf", _PIP_CONF
    )
    done = ordinary_account.run(["-m", "build_ca_bundle", "--no-verify"], env)
    assert done.returncode == ExitCode.CONFIG, done.stderr
    assert f"cannot write {pip_conf} (read-only for this account); it was left unchanged" in (
        done.stderr
    )
    assert pip_conf.read_text() == _PIP_CONF
    assert sorted(item.name for item in pip_conf.parent.iterdir()) == ["pip.conf"]


def test_a_read_only_uv_toml_is_left_as_it_is_and_pip_is_still_set(
    ordinary_account: Account,
) -> None:
    env = _cli_environment(ordinary_account)
    bin_dir = ordinary_account.folder / "bin"
    fake_tool.install(bin_dir, "uv", ordinary_account.python)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    uv_toml = _read_only_file(
        ordinary_account, ordinary_account.folder / "config/uv/uv.toml", "native-tls = false\n"
    )
    done = ordinary_account.run(
        ["-m", "build_ca_bundle", "--no-verify", "--configure", "pip,uv"], env
    )
    assert done.returncode == ExitCode.CONFIG, done.stderr
    assert f"cannot write {uv_toml} (read-only for this account); it was left unchanged" in (
        done.stderr
    )
    assert "set as planned: pip" in done.stderr
    assert uv_toml.read_text() == "native-tls = false\n"
    assert "cert = " in (ordinary_account.folder / "config/pip/pip.conf").read_text()


def test_a_read_only_start_up_file_is_left_as_it_is(ordinary_account: Account) -> None:
    env = _cli_environment(ordinary_account)
    profile = _read_only_file(
        ordinary_account, ordinary_account.folder / "home/.profile", "# mine\n"
    )
    done = ordinary_account.run(
        ["-m", "build_ca_bundle", "--no-verify", "--configure", "pip,env"], env
    )
    assert done.returncode == ExitCode.CONFIG, done.stderr
    assert (
        f"cannot write the start-up file {profile} (read-only for this account); it was left "
        "unchanged" in done.stderr
    )
    assert profile.read_text() == "# mine\n"


def test_a_read_only_bundle_folder_is_a_clear_error(ordinary_account: Account) -> None:
    folder = ordinary_account.folder / "ro"
    folder.mkdir()
    ordinary_account.own(folder)
    folder.chmod(0o555)
    answer = ordinary_account.call(
        f"""
        import json
        from pathlib import Path
        from build_ca_bundle import bundle
        from build_ca_bundle.errors import BundleError
        try:
            bundle.write(Path({str(folder)!r}) / "ca-bundle.pem", "")
        except BundleError as error:
            print(json.dumps([str(error), bool(error.hint)]))
        """
    )
    assert answer is not None
    message, has_hint = answer
    assert str(folder) in message
    assert has_hint
    assert list(folder.iterdir()) == []


def test_an_unreadable_store_file_is_named_and_the_rest_is_read(ordinary_account: Account) -> None:
    env = _cli_environment(ordinary_account)
    locked = ordinary_account.folder / "certs" / "0badf00d.0"
    locked.write_bytes(make_root("Locked").pem)
    ordinary_account.own(ordinary_account.folder)
    locked.chmod(0)
    done = ordinary_account.run(["-m", "build_ca_bundle", "--no-verify", "--json"], env)
    assert done.returncode == ExitCode.OK, done.stderr
    assert f"{locked}" in done.stdout
    assert "cannot read (permission denied)" in done.stdout
    bundle = (ordinary_account.folder / "data/build-ca-bundle/ca-bundle.pem").read_text()
    assert "Permissions Root" in bundle
    assert "Locked" not in bundle


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_read_only_gitconfig_is_left_as_it_is_and_each_read_only_file_is_named(
    ordinary_account: Account,
) -> None:
    """git writes a lock file and renames it over ~/.gitconfig: a chmod 444 one was edited
    (and stayed 444). And the error names every file left alone, not the first only."""
    env = _cli_environment(ordinary_account)
    bin_dir = ordinary_account.folder / "bin"
    fake_tool.install(bin_dir, "uv", ordinary_account.python)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    gitconfig = _read_only_file(
        ordinary_account, ordinary_account.folder / "home/.gitconfig", "[user]\n\tname = Me\n"
    )
    uv_toml = _read_only_file(ordinary_account, ordinary_account.folder / "config/uv/uv.toml", "")
    done = ordinary_account.run(
        ["-m", "build_ca_bundle", "--no-verify", "--configure", "pip,git,uv"], env
    )
    assert done.returncode == ExitCode.CONFIG, done.stderr
    for path in (gitconfig, uv_toml):
        assert f"cannot write {path} (read-only for this account)" in done.stderr
    assert "set as planned: pip" in done.stderr
    assert gitconfig.read_text() == "[user]\n\tname = Me\n"
