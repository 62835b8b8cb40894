"""Readers of the places certificates come from, and the one place that picks the OS reader.

Each reader offers ``load(options, ...) -> SourceResult`` and never raises for one bad file,
store or command: what it could not read becomes a :class:`Problem` in its result.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from build_ca_bundle.certificates import SourceResult
from build_ca_bundle.values import Value

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import Final

__all__ = ["SourceResult", "StoreOptions", "is_wsl", "load_os_store"]


class StoreOptions(Value):
    """What the OS readers need to know about this run."""

    __slots__ = ("scope", "own_outputs", "include_intermediates", "windows_host", "environ")
    scope: Final[str]  # macOS reads the login keychain and user trust settings only for "user"
    own_outputs: Final[tuple[Path, ...]]  # our bundles: never read back as OS data
    include_intermediates: Final[bool]  # Windows CA store: offer intermediates as such
    windows_host: Final[bool]  # WSL: also read the Windows host's store through interop
    environ: Final[Mapping[str, str]]  # a copy of os.environ unless given

    def __init__(
        self,
        scope: str = "user",
        own_outputs: tuple[Path, ...] = (),
        include_intermediates: bool = False,
        windows_host: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.scope = scope
        self.own_outputs = own_outputs
        self.include_intermediates = include_intermediates
        self.windows_host = windows_host
        self.environ = dict(os.environ) if environ is None else environ


# What WSL itself sets up, and a container on WSL's kernel does not inherit: the interop
# entries WSL's /init registers (WSLInterop-late when systemd runs; git-credential-manager
# PR #2064), and /run/WSL, where its interop sockets live (left when systemd-binfmt cleared
# the entry: microsoft/WSL#8843).
WSL_EVIDENCE = (
    "proc/sys/fs/binfmt_misc/WSLInterop",
    "proc/sys/fs/binfmt_misc/WSLInterop-late",
    "run/WSL",
)
WSL_VARIABLES = ("WSL_DISTRO_NAME", "WSL_INTEROP")  # set by WSL in every session it starts


def is_wsl(root: Path = Path("/"), environ: Mapping[str, str] = os.environ) -> bool:
    """Microsoft's kernel says so in /proc/version, in WSL 1 and 2 (microsoft/WSL#6088), and
    WSL's own traces are here. The kernel string alone also held in a Docker Desktop or
    devcontainer container on WSL 2's kernel (git-credential-manager#1813), where no
    Windows program can run: every run there reported the host store unreadable.

    Here, not in the WSL reader: deciding costs no import of the reader's subprocess.
    """
    variables = any(environ.get(name) for name in WSL_VARIABLES)
    try:
        version = (root / "proc" / "version").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return variables  # no /proc: WSL's own variables, if set
    if "microsoft" not in version.lower():
        return False
    if "-Microsoft" in version:  # WSL 1's own kernel ("4.4.0-19041-Microsoft"): no
        return True  # container runs on it, and `sudo` dropped the variables (env_reset)
    # A few stats at most, once per full run (the quick path never asks).
    return variables or any(os.path.lexists(root / path) for path in WSL_EVIDENCE)


def load_os_store(options: StoreOptions) -> list[SourceResult]:
    """Read what this machine's OS trusts for TLS, and what it distrusts."""
    if sys.platform == "win32":
        from build_ca_bundle.sources import windows

        results = [windows.load(options)]
    elif sys.platform == "darwin":
        from build_ca_bundle.sources import macos

        results = [macos.load(options)]
    else:
        from build_ca_bundle.sources import linux

        results = [linux.load(options)]
        if options.windows_host and is_wsl(environ=options.environ):
            from build_ca_bundle.sources import wsl

            results.append(wsl.load(options))
    return results
