"""Real full disks and read-only folders, through the real CLI in a subprocess.

The kernel's own errors (ENOSPC, EROFS, EEXIST) come from real mounts: a tiny tmpfs or a
read-only bind mount inside a private mount namespace (``unshare -m``, as root), kept alive by
a sleeping shell that each run joins with ``nsenter``; the test reads the namespace's files
through ``/proc/<pid>/root``. Nothing is mounted where the rest of the machine can see it.
The namespace tests are skipped, with the reason, where that is not allowed.

Every run gets a private user: HOME and XDG folders under the test's tmp_path, a store file
of its own (SSL_CERT_FILE), an empty SSL_CERT_DIR, no PIP_*/SSL_CERT_*/REQUESTS_CA*/CURL_CA*
variable from this machine, and ``--no-verify``.
"""

from __future__ import annotations

import errno
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from build_ca_bundle.errors import ExitCode
from tests.pki import make_root

_CLEARED_PREFIXES = ("PIP_", "SSL_CERT_", "REQUESTS_CA", "CURL_CA", "XDG_", "BUILD_CA_BUNDLE")
_PIP_CONF = b"# the team's settings\n[global]\ntimeout = 30\n"


class User:
    """One private user with a store file we can change between runs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = root / "store.pem"
        (root / "certs").mkdir(parents=True)
        self.data = root / "data"
        self.bundle_folder = self.data / "build-ca-bundle"
        self.bundle = self.bundle_folder / "ca-bundle.pem"
        self.pip_folder = root / "config" / "pip"
        self.pip_conf = self.pip_folder / "pip.conf"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED_PREFIXES)}
        self.env.update(
            HOME=str(root / "home"),
            XDG_DATA_HOME=str(self.data),
            XDG_CONFIG_HOME=str(root / "config"),
            XDG_CACHE_HOME=str(root / "cache"),
            XDG_CONFIG_DIRS=str(root / "etc-xdg"),
            XDG_DATA_DIRS=str(root / "usr-share"),
            SSL_CERT_FILE=str(self.store),
            SSL_CERT_DIR=str(root / "certs"),
            PIP_DISABLE_PIP_VERSION_CHECK="1",
        )
        self.set_roots(1)

    def set_roots(self, count: int) -> None:
        """The OS store now holds ``count`` fresh roots: a different, bigger bundle."""
        pem = b"".join(make_root(f"Faults Root {n}").pem for n in range(count))
        self.store.write_bytes(pem)

    def write_pip_conf(self) -> bytes:
        self.pip_folder.mkdir(parents=True, exist_ok=True)
        self.pip_conf.write_bytes(_PIP_CONF)
        return _PIP_CONF

    def run(self, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
        command = [*prefix, sys.executable, "-m", "build_ca_bundle", "--no-verify"]
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=120, check=False
        )


class Namespace:
    """A private mount namespace: ``setup`` runs in it, then a shell sleeps to keep it."""

    def __init__(self, setup: str) -> None:
        self.process = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             f"{setup} && echo ready && exec sleep 600"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            _, error = self.process.communicate(timeout=30)
            raise RuntimeError(f"cannot set up the mount namespace: {error.strip()}")
        self.pid = self.process.pid  # unshare execs sh, which execs sleep: one pid

    @property
    def enter(self) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "-m", "--"]

    def view(self, path: Path) -> Path:
        """``path`` as processes inside the namespace see it."""
        return Path(f"/proc/{self.pid}/root") / path.relative_to("/")

    def close(self) -> None:
        self.process.kill()
        self.process.communicate(timeout=30)


@pytest.fixture(scope="module")
def mount_namespaces() -> None:
    """Skip unless we may mount inside a private mount namespace (root, unshare -m)."""
    geteuid = getattr(os, "geteuid", None)  # POSIX only
    if geteuid is None or geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs or a read-only bind mount in a namespace")
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("needs util-linux's unshare and nsenter")
    with tempfile.TemporaryDirectory() as scratch:
        probe = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             f"mount -t tmpfs -o size=64k tmpfs '{scratch}' && "
             f"mount --bind '{scratch}' '{scratch}' && mount -o remount,bind,ro '{scratch}'"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    if probe.returncode != 0:
        pytest.skip(f"unshare -m or mount was refused here: {probe.stderr.strip()}")


@pytest.fixture
def namespaces(mount_namespaces: None) -> Iterator[list[Namespace]]:
    """Namespaces a test opens go here and are closed after it."""
    opened: list[Namespace] = []
    yield opened
    for namespace in opened:
        namespace.close()


def temp_files(folder: Path) -> list[str]:
    return sorted(item.name for item in folder.iterdir() if item.name.endswith(".tmp"))


def loads(path: Path) -> bool:
    ssl.create_default_context(cafile=str(path))  # raises if it does not load
    return True


def test_a_full_disk_keeps_the_previous_bundle_and_pip_conf(
    tmp_path: Path, namespaces: list[Namespace]
) -> None:
    """A user whose disk is full sees exit 5 and "cannot write .../ca-bundle.pem: No space
    left on device"; pip keeps working with the bundle from the last good run."""
    user = User(tmp_path / "user")
    user.bundle_folder.mkdir(parents=True)
    ns = Namespace(f"mount -t tmpfs -o size=2m,mode=0755 tmpfs '{user.bundle_folder}'")
    namespaces.append(ns)
    first = user.run(ns.enter)
    assert first.returncode == 0, first.stderr
    bundle = ns.view(user.bundle)
    old_bundle = bundle.read_bytes()
    old_pip_conf = user.pip_conf.read_bytes()
    assert f"cert = {user.bundle}" in old_pip_conf.decode()

    filler = ns.view(user.bundle_folder / "filler")
    with filler.open("wb") as stream:
        try:
            while True:
                stream.write(b"\0" * 65536)
                stream.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # Leave 64 KiB: the new bundle's temp file starts, then the disk is full.
    os.truncate(filler, filler.stat().st_size - 65536)
    assert shutil.disk_usage(ns.view(user.bundle_folder)).free < len(old_bundle) / 2

    user.set_roots(3)
    second = user.run(ns.enter)

    assert second.returncode == int(ExitCode.BUNDLE) == 5, second.stderr
    assert f"cannot write {user.bundle}: No space left on device" in second.stderr
    assert bundle.read_bytes() == old_bundle
    assert loads(bundle)
    assert user.pip_conf.read_bytes() == old_pip_conf
    assert temp_files(ns.view(user.bundle_folder)) == []
    assert temp_files(user.pip_folder) == []


def _read_only_bundle_folder_run(
    tmp_path: Path, namespaces: list[Namespace]
) -> tuple[User, bytes, bytes, subprocess.CompletedProcess[str]]:
    """A good first run, then a run with a changed store and the bundle folder read-only."""
    user = User(tmp_path / "user")
    first = user.run()
    assert first.returncode == 0, first.stderr
    old_bundle = user.bundle.read_bytes()
    old_pip_conf = user.pip_conf.read_bytes()
    folder = user.bundle_folder
    ns = Namespace(f"mount --bind '{folder}' '{folder}' && mount -o remount,bind,ro '{folder}'")
    namespaces.append(ns)
    user.set_roots(2)
    return user, old_bundle, old_pip_conf, user.run(ns.enter)


def test_b_read_only_bundle_folder_keeps_the_previous_bundle(
    tmp_path: Path, namespaces: list[Namespace]
) -> None:
    """A user whose bundle folder became read-only gets a failed run, and the bundle and
    pip.conf from the last good run stay exactly as they were, with no temp file left."""
    user, old_bundle, old_pip_conf, second = _read_only_bundle_folder_run(tmp_path, namespaces)

    assert second.returncode != 0, second.stdout
    assert user.bundle.read_bytes() == old_bundle  # the same folder: its writes would show
    assert loads(user.bundle)
    assert user.pip_conf.read_bytes() == old_pip_conf
    assert temp_files(user.bundle_folder) == []
    assert temp_files(user.pip_folder) == []


def test_b_read_only_bundle_folder_is_a_clear_error(
    tmp_path: Path, namespaces: list[Namespace]
) -> None:
    """The same user should see exit 5 and one error line naming the read-only folder's
    file, not a Python traceback."""
    user, _, _, second = _read_only_bundle_folder_run(tmp_path, namespaces)

    assert "Traceback" not in second.stderr, second.stderr
    assert second.returncode == int(ExitCode.BUNDLE) == 5, second.stderr
    assert "error: " in second.stderr
    assert str(user.bundle_folder) in second.stderr
    assert "Read-only file system" in second.stderr


def test_c_read_only_pip_folder_leaves_pip_conf_and_says_so(
    tmp_path: Path, namespaces: list[Namespace]
) -> None:
    """A user whose pip config folder is read-only sees exit 3 and an error naming pip.conf,
    which keeps every byte (no backup is written either).

    The bundle is written before the targets are applied (pipeline._build), so the new
    bundle is on disk and loads, but pip does not point at it yet; nothing records the run
    as done (no manifest), so the next run once the folder is writable sets ``cert``.
    """
    user = User(tmp_path / "user")
    old_pip_conf = user.write_pip_conf()
    folder = user.pip_folder
    ns = Namespace(f"mount --bind '{folder}' '{folder}' && mount -o remount,bind,ro '{folder}'")
    namespaces.append(ns)

    result = user.run(ns.enter)

    assert result.returncode == int(ExitCode.CONFIG) == 3, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert f"cannot write {user.pip_conf} (Read-only file system)" in result.stderr
    assert user.pip_conf.read_bytes() == old_pip_conf
    assert sorted(item.name for item in folder.iterdir()) == ["pip.conf"]  # no .bak, no .tmp
    assert loads(user.bundle)  # written before pip was configured, and left in place
    ns.close()
    namespaces.remove(ns)

    again = user.run()  # the folder is writable again (outside the namespace)
    assert again.returncode == 0, again.stderr
    text = user.pip_conf.read_text()
    assert f"cert = {user.bundle}" in text
    assert text.startswith("# the team's settings\n[global]\ntimeout = 30\n")


def test_d_a_file_where_the_bundle_folder_goes_is_left_alone(tmp_path: Path) -> None:
    """A user with a file where the bundle folder should be sees exit 5 and an error naming
    that path; the file and pip.conf keep every byte."""
    user = User(tmp_path / "user")
    old_pip_conf = user.write_pip_conf()
    user.data.mkdir(parents=True)
    user.bundle_folder.write_bytes(b"not a folder\n")

    result = user.run()

    assert result.returncode == int(ExitCode.BUNDLE) == 5, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert f"cannot create the folder {user.bundle_folder}" in result.stderr
    assert user.bundle_folder.read_bytes() == b"not a folder\n"
    assert user.pip_conf.read_bytes() == old_pip_conf
    assert sorted(item.name for item in user.data.iterdir()) == ["build-ca-bundle"]
    assert temp_files(user.pip_folder) == []
