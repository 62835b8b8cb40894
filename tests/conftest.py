"""Fixtures shared by every test.

The autouse fixture ``isolated_environment`` is the most important one: this machine (like
many corporate and CI machines) exports PIP_CERT, REQUESTS_CA_BUNDLE, SSL_CERT_FILE and more,
and has machine-wide pip config. Without it, tests would test the machine instead of the code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Variables that change which CA bundle, proxy or config file a tool uses, or where a user's
# files are. Cleared for every test; tests that want one set it themselves.
_CLEARED_EXACT = {
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "NODE_USE_SYSTEM_CA",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "GIT_SSL_NO_VERIFY",
    "AWS_CA_BUNDLE",
    "NIX_SSL_CERT_FILE",
    "HTTPLIB2_CA_CERTS",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
    "PYTHONHTTPSVERIFY",
    "VIRTUAL_ENV",
    "CONDARC",
    "CONDA_SSL_VERIFY",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "USERPROFILE",
    "WSL_DISTRO_NAME",
    "WSL_INTEROP",
    "GITHUB_ENV",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "TF_BUILD",
    "CIRCLECI",
    "BASH_ENV",
    "CI",
}
_CLEARED_PREFIXES = (
    "PIP_",
    "UV_",
    "XDG_",
    "CLOUDSDK_",
    "POETRY_",
    "BUILD_CA_BUNDLE_",
    "GIT_CONFIG",
    "NPM_CONFIG_",
)
_PROXY_NAMES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy"}


@dataclass(frozen=True)
class Home:
    """The private folders one test gets instead of the user's."""

    root: Path
    home: Path
    config: Path  # XDG_CONFIG_HOME
    data: Path  # XDG_DATA_HOME
    cache: Path  # XDG_CACHE_HOME
    config_dirs: Path  # XDG_CONFIG_DIRS (replaces /etc/xdg)
    appdata: Path  # %APPDATA% (Roaming)
    localappdata: Path  # %LOCALAPPDATA%

    @property
    def pip_user_config(self) -> Path:
        return self.config / "pip" / "pip.conf"


def cleared(name: str) -> bool:
    return (
        name in _CLEARED_EXACT
        or name.lower() in _PROXY_NAMES
        or name.upper().startswith(_CLEARED_PREFIXES)
    )


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    """Clear every variable that points a tool at a CA bundle or config; give a private HOME."""
    for name in list(os.environ):
        if cleared(name):
            monkeypatch.delenv(name)
    root = tmp_path / "isolated"
    home = Home(
        root=root,
        home=root / "home",
        config=root / "home" / ".config",
        data=root / "home" / ".local" / "share",
        cache=root / "home" / ".cache",
        config_dirs=root / "etc-xdg",
        appdata=root / "home" / "AppData" / "Roaming",
        localappdata=root / "home" / "AppData" / "Local",
    )
    for folder in (home.home, home.config_dirs):
        folder.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home.home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home.config))
    monkeypatch.setenv("XDG_DATA_HOME", str(home.data))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home.cache))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(home.config_dirs))
    monkeypatch.setenv("XDG_DATA_DIRS", str(root / "usr-share"))
    monkeypatch.setenv("APPDATA", str(home.appdata))
    monkeypatch.setenv("LOCALAPPDATA", str(home.localappdata))
    # Keep the tests' own pip and git quiet and away from the user's files.
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("PIP_NO_INPUT", "1")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    yield home


@pytest.fixture
def isolated_home(isolated_environment: Home) -> Home:
    """The same private folders, by a name that reads well in a test's arguments."""
    return isolated_environment
