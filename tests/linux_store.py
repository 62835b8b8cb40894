"""Run a command against a private copy of the Linux trust store, with the real tools.

Inside ``unshare -m`` (a private mount namespace; needs root), tmp folders are bind-mounted
over ``/etc/ssl/certs`` (a copy of the machine's) and ``/usr/local/share/ca-certificates``
(empty); the given roots are copied into the latter and installed with Debian's real
``update-ca-certificates``; then the command runs and sees that store. The copy's links to
the machine's own local roots dangle and are dropped, so the store is the distro's roots
plus the test's, whatever the machine adds.

The machine's files are never written. ``update-ca-certificates`` writes only into
``/etc/ssl/certs`` and ``$TMPDIR``; its hooks are hidden behind an empty folder (Debian's
Java hook appends to ``/var/lib/ca-certificates-java`` and runs ``dpkg --triggers-only``).
The machine-wide pip config files are hidden too (bind-mounted empty), since they would
otherwise decide what pip trusts in the test.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

UPDATE = "/usr/sbin/update-ca-certificates"
CERTS = Path("/etc/ssl/certs")
BUNDLE = CERTS / "ca-certificates.crt"
LOCAL = Path("/usr/local/share/ca-certificates")
HOOKS = Path("/etc/ca-certificates/update.d")
PIP_CONF = Path("/etc/pip.conf")
XDG_PIP = Path("/etc/xdg/pip")
SETUP_FAILED = 97  # exit code of the script when the store could not be built


@functools.cache
def unavailable_reason() -> str | None:
    """Why a private store cannot be made here, or None if it can (probed once)."""
    if os.geteuid() != 0:
        return "needs root for a private mount namespace (unshare -m)"
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "unshare or mount (util-linux) is not installed"
    if not Path(UPDATE).is_file():
        return f"{UPDATE} (Debian's ca-certificates) is not installed"
    if not CERTS.is_dir() or not LOCAL.is_dir():
        return f"{CERTS} or {LOCAL} is missing: not a Debian-style trust store"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount --make-rprivate / && mount --bind {CERTS} {CERTS}"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if probe.returncode != 0:
        return f"mount namespaces are not allowed here ({probe.stderr.strip()})"
    return None


def require_private_store() -> None:
    """Skip the calling test, with the reason, when no private store can be made."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"private Linux trust store unavailable: {reason}")


def _bind(source: Path, target: Path) -> str:
    return f"mount --bind {shlex.quote(str(source))} {shlex.quote(str(target))}"


def _hide_machine_files(tmp: Path) -> list[str]:
    """Bind empty stand-ins over the hooks and pip's machine-wide config."""
    hooks, pip_conf, xdg_pip = tmp / "hooks", tmp / "pip.conf", tmp / "xdg-pip"
    hooks.mkdir()
    pip_conf.touch()
    xdg_pip.mkdir()
    lines = []
    if HOOKS.is_dir():
        lines.append(_bind(hooks, HOOKS))
    if PIP_CONF.exists():
        lines.append(_bind(pip_conf, PIP_CONF))
    if XDG_PIP.is_dir():
        lines.append(_bind(xdg_pip, XDG_PIP))
    return lines


def build_script(tmp: Path, add_roots: Sequence[Path], command: Sequence[str]) -> str:
    """The shell script that builds the private store, then runs ``command``."""
    certs, local, log = tmp / "certs", tmp / "local", tmp / "update-ca-certificates.log"
    certs.mkdir()
    local.mkdir()
    # Copied here, not inside the namespace, so a bad root fails before anything is mounted.
    for number, root in enumerate(add_roots):
        shutil.copyfile(root, local / f"test-root-{number}.crt")
    q = shlex.quote
    lines = [
        "set -e",
        "mount --make-rprivate /",  # nothing mounted below reaches the machine
        f"cp -a {CERTS}/. {q(str(certs))}/",  # a realistic store: the machine's own
        _bind(certs, CERTS),
        _bind(local, LOCAL),
        *_hide_machine_files(tmp),
        f"{UPDATE} >{q(str(log))} 2>&1 || {{ cat {q(str(log))} >&2; exit {SETUP_FAILED}; }}",
        "exec " + shlex.join(command),
    ]
    return "\n".join(lines) + "\n"


def run_in_private_store(
    command: Sequence[str],
    *,
    add_roots: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    tmp_path: Path,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a private mount namespace whose trust store also holds ``add_roots``
    (PEM files), installed with the real ``update-ca-certificates``.

    ``tmp_path`` must be a fresh folder (it is created); ``env`` defaults to the current
    environment (which the isolation fixture has cleaned). Skips the test when no private
    store can be made here. Exit code 97 means the store could not be built (see stderr).
    """
    require_private_store()
    tmp_path.mkdir(parents=True)
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", build_script(tmp_path, add_roots, command)],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def run(
    command: Sequence[str],
    *,
    tmp: Path,
    roots: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """:func:`run_in_private_store` under its older argument names."""
    return run_in_private_store(command, add_roots=roots, env=env, tmp_path=tmp, timeout=timeout)
