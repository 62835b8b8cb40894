"""Run a command against a private copy of the Linux trust store, with the real tools.

Inside ``unshare -m`` (a private mount namespace; needs root) tmp copies are bind-mounted
over ``/etc/ssl/certs`` and ``/usr/local/share/ca-certificates``; the given roots are
installed with Debian's real ``update-ca-certificates``; then the command runs and sees that
store. The machine's own files are never written: its update hooks (Java's keystore, which
calls dpkg) are hidden behind an empty folder, and so are the machine-wide pip config files,
which would otherwise decide what pip trusts in the test.
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


@functools.cache
def unavailable_reason() -> str | None:
    """Why a private store cannot be made here, or None if it can (probed once)."""
    reason = ""
    if os.geteuid() != 0:
        reason = "needs root for a private mount namespace (unshare -m)"
    elif shutil.which("unshare") is None:
        reason = "unshare (util-linux) is not installed"
    elif not Path(UPDATE).exists():
        reason = "update-ca-certificates (Debian's ca-certificates) is not installed"
    else:
        probe = subprocess.run(
            ["unshare", "-m", "sh", "-c", "mount --make-rprivate / && mount -t tmpfs none /mnt"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            reason = f"mount namespaces are not allowed here ({probe.stderr.strip()})"
    return reason or None


def require_private_store() -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"private Linux trust store unavailable: {reason}")


def script(tmp: Path, roots: Sequence[Path], command: Sequence[str]) -> str:
    """The shell script that builds the private store, then runs ``command``."""
    certs, local, hooks, xdg_pip = tmp / "certs", tmp / "local", tmp / "hooks", tmp / "xdg-pip"
    empty = tmp / "empty-pip.conf"
    q = shlex.quote
    lines = [
        "set -e",
        "mount --make-rprivate /",
        f"mkdir -p {q(str(certs))} {q(str(local))} {q(str(hooks))} {q(str(xdg_pip))}",
        f": > {q(str(empty))}",
        # A realistic store: the machine's own, then ours on top of it.
        f"cp -a /etc/ssl/certs/. {q(str(certs))}/",
        f"mount --bind {q(str(certs))} /etc/ssl/certs",
        f"mount --bind {q(str(local))} /usr/local/share/ca-certificates",
        f"mount --bind {q(str(hooks))} /etc/ca-certificates/update.d",
    ]
    if Path("/etc/pip.conf").exists():
        lines.append(f"mount --bind {q(str(empty))} /etc/pip.conf")
    if Path("/etc/xdg/pip").is_dir():
        lines.append(f"mount --bind {q(str(xdg_pip))} /etc/xdg/pip")
    for number, root in enumerate(roots):
        lines.append(f"cp {q(str(root))} /usr/local/share/ca-certificates/test-root-{number}.crt")
    lines.append(f"{UPDATE} >/dev/null")
    lines.append("exec " + " ".join(q(part) for part in command))
    return "\n".join(lines) + "\n"


def run(
    command: Sequence[str],
    *,
    tmp: Path,
    roots: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in a private namespace whose trust store holds ``roots``."""
    require_private_store()
    tmp.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script(tmp, roots, command)],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        timeout=timeout,
        check=False,
    )
