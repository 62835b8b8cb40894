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


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a regular file; OSError (strerror "not a regular file") for anything
    else, as for a file that cannot be read."""
    descriptor = os.open(path, _FLAGS)
    try:
        mode = os.fstat(descriptor).st_mode
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
