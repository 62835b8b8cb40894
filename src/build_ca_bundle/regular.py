"""Reading a file that must be a plain file.

A FIFO or a device where a config, record or certificate file is expected (a pip.conf made
a FIFO, a link to /dev/zero) would block the run forever, at every logon, or fill memory.
Opened without blocking, checked, then read: one more system call than ``read_bytes``.
Standard library only: the unchanged run reads its manifest through it.
"""

from __future__ import annotations

import errno
import os
import stat
import sys

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)  # a file of ours is never a link


def _foreign(info: os.stat_result) -> str | None:
    """Why a record is not ours to obey, or None: another account owns it, or another may
    write it. Root's own is as good as ours (no user can plant a file as root: a global
    bundle's record, read by `--check` or doctor of each account, was refused)."""
    if sys.platform == "win32":
        return None
    else:  # noqa: RET505 (mypy checks one branch per platform)
        if info.st_uid not in (os.geteuid(), 0):
            return "another account owns it, so it is not ours to obey"
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return "other accounts may write it (its mode lets them), so it is not ours to obey"
        return None


class ForeignFileError(PermissionError):
    """A file of ours (a record, a pinned roots' file) that another account owns or may
    change: never obeyed or trusted."""


def read_own_bytes(path: str | os.PathLike[str]) -> bytes:
    """:func:`read_bytes`, for a file this tool wrote beside a bundle (its run and change
    records, its pinned roots): ForeignFileError unless the running account (or root) owns
    it and no other may write it, as the open file says (not the path: one planted in a sticky /tmp
    between a check by path and the read was obeyed, root deleting and writing the files it
    named). Not on Windows, where ACLs decide."""
    return read_bytes(path, own=True)


def read_bytes(path: str | os.PathLike[str], *, own: bool = False) -> bytes:
    """The bytes of a regular file; OSError (strerror "not a regular file") for anything
    else, as for a file that cannot be read."""
    descriptor = os.open(path, _FLAGS | (_NO_FOLLOW if own else 0))
    try:
        info = os.fstat(descriptor)
        mode = info.st_mode
        foreign = _foreign(info) if own else None
        if foreign is not None:
            raise ForeignFileError(errno.EPERM, foreign, os.fspath(path))
        if stat.S_ISDIR(mode):  # as read_bytes says it
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fspath(path))
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        if sys.platform != "win32":  # no set_blocking there before 3.12 (nor FIFOs to open)
            os.set_blocking(descriptor, True)  # a regular file never blocks; be plain
        chunks = []
        while chunk := os.read(descriptor, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)
