"""An exclusive lock on a file, so that two runs for one bundle take turns.

The OS primitives are small and do exactly this: ``flock`` on POSIX, ``msvcrt.locking`` on
Windows. The kernel releases both when the holder dies (SIGKILL, a crash, a logoff), so a
killed logon never leaves a lock behind that a later run would wait on. ``filelock`` does
the same, but importing it costs 50 to 80 ms (asyncio, sqlite3, platform and more), more
than all the rest of a full run's imports: measured with ``python -X importtime`` for
filelock 3.32 and 4.3 (issue 7).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
_POLL = 0.05  # seconds between attempts while another run holds the lock
# Only the owner may open it: flock works on a read-only descriptor, so a lock file others
# can read is one any user can hold, and every machine-wide rebuild would then wait for
# them and fail.
_MODE = 0o600


class Timeout(Exception):
    """Another process held the lock for longer than the caller would wait."""


class Unavailable(Exception):
    """The lock file cannot be opened (a read-only folder, a symlink in its place).

    Not an ``OSError``: a caller can tell it from what the locked block itself raises.
    """

    def __init__(self, path: str, error: OSError) -> None:
        super().__init__(f"cannot open the lock file {path}: {error.strerror or error}")
        self.error = error


@contextlib.contextmanager
def hold(path: str, timeout: float, prepare: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.
    ``prepare`` runs before each attempt to open it: an undo we waited on removes the
    lock file and may remove its folder too, which the next attempt then needs again.

    Raises :class:`Timeout` after ``timeout`` seconds, :class:`Unavailable` when the lock
    file cannot be opened.
    """
    deadline = time.monotonic() + timeout
    while True:
        if prepare is not None:
            prepare()
        descriptor = _open(path)
        try:
            _acquire(descriptor, deadline)
        except BaseException as exc:
            os.close(descriptor)
            if isinstance(exc, OSError):  # no locks here (ENOLCK on some NFS mounts)
                raise Unavailable(path, exc) from exc
            raise
        if _still_there(path, descriptor):
            break
        # An undo removed the file while we waited on it: a run that came after holds the
        # new one. Take turns on that, or two runs would go on at once.
        os.close(descriptor)
    try:
        try:
            yield
        finally:
            with contextlib.suppress(OSError):  # closing the descriptor releases it anyway
                _release(descriptor)
    finally:
        os.close(descriptor)


if sys.platform == "win32":
    import msvcrt

    def _try_lock(descriptor: int) -> bool:
        os.lseek(descriptor, 0, os.SEEK_SET)
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)  # the first byte stands for all
        except OSError:
            return False
        return True

    def _release(descriptor: int) -> None:
        os.lseek(descriptor, 0, os.SEEK_SET)
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(descriptor: int) -> bool:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _release(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)


def check_lock_file(path: str) -> None:
    """Refuse what is at a lock file's path unless it is nothing, or an empty regular file
    (ours are): a person's yarn.lock (`--output proj/yarn`) was opened and made 0600, and
    a device there would be opened read-write. Raises :class:`Unavailable`."""
    try:
        status = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return  # nothing there (a file where its folder goes is said when that is made)
    except OSError as exc:
        raise Unavailable(path, exc) from exc
    if stat.S_ISLNK(status.st_mode):
        raise Unavailable(path, OSError(0, "a link is in its place"))
    if not stat.S_ISREG(status.st_mode) or status.st_size:
        raise Unavailable(path, OSError(0, "a file that is not one of our (empty) lock files"))


def _open(path: str) -> int:
    check_lock_file(path)
    try:
        descriptor = os.open(path, _FLAGS, _MODE)
    except PermissionError as exc:
        if sys.platform == "win32":
            raise Unavailable(path, exc) from exc
        else:  # noqa: RET506 - mypy checks each branch on its own platform only
            # Made 0400 under an odd umask (0222) by an earlier version: ours to fix, once.
            try:
                if Path(path).stat().st_uid != os.geteuid():
                    raise Unavailable(path, exc) from exc
                Path(path).chmod(_MODE)
                descriptor = os.open(path, _FLAGS, _MODE)
            except OSError as again:
                raise Unavailable(path, again) from exc
    except OSError as exc:
        raise Unavailable(path, exc) from exc
    try:
        _refuse_foreign(path, descriptor)
    except Unavailable:
        os.close(descriptor)
        raise
    _keep_private(descriptor)
    return descriptor


def _refuse_foreign(path: str, descriptor: int) -> None:
    """The file opened must be the running account's: one another account created in the
    gap after :func:`check_lock_file` (in a sticky /tmp) was opened and made 0600, and they
    could hold the lock against every run (exit 11). Checked by the open file."""
    if sys.platform != "win32" and os.fstat(descriptor).st_uid != os.geteuid():
        raise Unavailable(path, OSError(0, FOREIGN))


FOREIGN = "another account's file is in its place"  # Unavailable's reason, for the hint


def _still_there(path: str, descriptor: int) -> bool:
    """Whether ``path`` is still the file ``descriptor`` holds (not removed or replaced)."""
    try:
        named, held = Path(path).stat(), os.fstat(descriptor)
    except OSError:
        return False
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _keep_private(descriptor: int) -> None:
    """Make a lock file exactly 0600: an earlier version made it 0644 (anyone could hold
    it), an odd umask 0400 (the next run could not open it). Best effort: a file system
    without modes (FAT, SMB) has nothing to set."""
    fchmod = getattr(os, "fchmod", None)  # absent on Windows before 3.13: ACLs rule there
    if fchmod is None or os.name != "posix":
        return
    with contextlib.suppress(OSError):
        if stat.S_IMODE(os.fstat(descriptor).st_mode) != _MODE:  # umask 0222 made it 0400
            fchmod(descriptor, _MODE)


def _acquire(descriptor: int, deadline: float) -> None:
    while not _try_lock(descriptor):
        if time.monotonic() >= deadline:
            raise Timeout
        time.sleep(_POLL)
