"""An ordinary account, for the tests about file permissions.

The suite runs as root on this machine and in CI, and root writes into a chmod 555 folder,
replaces a chmod 444 file and reads a chmod 000 one: a test of those as root tests nothing.
Such tests run their code in a subprocess as an ordinary account instead: the suite's own
where it is not root, else ``nobody`` (65534), through ``subprocess``'s ``user=`` and
``group=``. The kernel makes the permission checks; nothing is faked. They skip, saying why,
only where neither works (Windows, or no Python that nobody may run).

Where the test Python lies beyond nobody's reach (pyenv under /root), the system's Python of
the same version runs it, with the test Python's packages on PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import build_ca_bundle

NOBODY = 65534


class Account:
    """Runs Python as an account that file permissions apply to, in a folder it owns."""

    def __init__(self, folder: Path, *, switch: bool) -> None:
        self.folder = folder  # reachable and owned by the account (tmp_path is root's 0700)
        self._switch = switch
        self.python = sys.executable
        self._path = ""  # PYTHONPATH for a Python other than the test Python

    def use_system_python(self) -> None:
        """Run the system's Python of this version, on the test Python's packages."""
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        self.python = shutil.which(version, path="/usr/local/bin:/usr/bin:/bin") or version
        package = Path(build_ca_bundle.__file__).parent.parent  # src/ (an editable install)
        self._path = os.pathsep.join([str(package), *site.getsitepackages()])

    def own(self, *paths: Path) -> None:
        """Give ``paths`` (and what is inside folders) to the account, as its own files."""
        if not self._switch:
            return
        for path in paths:
            for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
                os.chown(item, NOBODY, NOBODY, follow_symlinks=False)

    def run(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``python ARGV`` as the account, with the test's (isolated) environment."""
        keywords: dict[str, Any] = {}
        if self._switch:
            keywords = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
        environ = dict(os.environ if env is None else env)
        if self._path:
            environ["PYTHONPATH"] = self._path
        try:
            return self._run([self.python, *argv], environ, keywords)
        except PermissionError as error:  # the interpreter itself
            return subprocess.CompletedProcess(argv, 126, "", str(error))

    def _run(
        self, argv: list[str], environ: dict[str, str], keywords: dict[str, Any]
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            env=environ,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            **keywords,
        )

    def call(self, source: str) -> Any:
        """Run ``source`` as the account; the JSON it prints last is the answer."""
        done = self.run(["-c", textwrap.dedent(source)])
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(name="ordinary_account")
def ordinary_account_fixture() -> Iterator[Account]:
    """An :class:`Account` with a private folder, or a skip that says why there is none."""
    if os.name != "posix":
        pytest.skip("POSIX permission bits; Windows keeps permissions in ACLs")
    switch = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="bcb-account-"))
    try:
        folder.chmod(0o755)
        account = Account(folder, switch=switch)
        account.own(folder)
        probe = ["-c", "import build_ca_bundle, cryptography"]
        if account.run(probe).returncode != 0:
            account.use_system_python()
            done = account.run(probe)
            if done.returncode != 0:
                pytest.skip(f"no Python that uid {NOBODY} may run: {done.stderr.strip()}")
        yield account
    finally:
        shutil.rmtree(folder, ignore_errors=True)
