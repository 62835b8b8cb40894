"""The bundle file: render it in certifi's format, and replace it atomically under a lock.

A bundle on disk is always complete and loadable: the new content must load in an
``ssl.SSLContext`` before the old file is touched; it is written to a temp file in the same
folder, synced, and renamed over the old one. Two runs (two logons at once) serialise on a
lock file beside the bundle. An unchanged bundle is not rewritten: not even its time changes.
Blocks already known to load are not loaded again: those of the previous bundle (its exact
bytes, the same OpenSSL, as the manifest's proof says) and those of certifi's file, which the
run loads on a thread while it reads the stores.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from build_ca_bundle import lock, manifest, openssl, x509der
from build_ca_bundle.certificates import BUNDLE_MARKER, Entry
from build_ca_bundle.errors import (
    BundleError,
    LockTimeoutError,
    UnloadableCertificatesError,
    UnsafePathError,
)
from build_ca_bundle.history import SUFFIX as HISTORY_SUFFIX
from build_ca_bundle.inifile import NEW_FILE_FLAGS, remove_stale_temps, sync_folder, temp_path
from build_ca_bundle.paths import default_bundle_path
from build_ca_bundle.regular import read_bytes
from build_ca_bundle.scope import Scope
from build_ca_bundle.values import Value

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import Final

_HEADER = """\
# One PEM file with every root this machine trusts for TLS: certifi's (Mozilla's) roots,
# the roots the operating system trusts for server authentication, and files named with
# --extra-ca, minus what the operating system distrusts.
# Do not edit: the next run of build-ca-bundle replaces this file.
# Certificates: {count}
"""

# The attributes certifi names in its "# Issuer:" and "# Subject:" lines, in its order.
_CERTIFI_NAME_ATTRIBUTES = (("CN", "2.5.4.3"), ("O", "2.5.4.10"), ("OU", "2.5.4.11"))

# Readable by every account (pip may run as another user than the one who wrote the bundle),
# writable only by the owner: a bundle others can change lets them add a root.
_FILE_MODE = 0o644
_FOLDER_MODE = 0o755


# --- rendering --------------------------------------------------------------------------


def render(entries: Sequence[Entry], blocks: dict[str, str] | None = None) -> bytes:
    """The bundle's bytes: ASCII, LF, a certifi-style header before each certificate.

    The same entries always give the same bytes: no time, host or user goes in. ``blocks``
    keeps each entry's text by SHA-256 between calls, so ``extra-roots.pem``, a subset of
    the same entries, renders none of them twice.
    """
    cache = {} if blocks is None else blocks
    parts = [BUNDLE_MARKER.decode("ascii"), "\n", _HEADER.format(count=len(entries)), "\n"]
    for entry in entries:
        block = cache.get(entry.certificate.sha256)
        if block is None:
            block = _certificate_header(entry) + pem_text(entry.certificate.der) + "\n"
            cache[entry.certificate.sha256] = block
        parts.append(block)
    return "".join(parts).encode("ascii")


def _certificate_header(entry: Entry) -> str:
    cert = entry.certificate
    lines = [
        f"# Issuer: {_certifi_name(cert.issuer_name)}",
        f"# Subject: {_certifi_name(cert.subject_name)}",
        f'# Label: "{ascii_escaped(cert.label)}"',
        f"# Serial: {cert.serial_number}",
        f"# MD5 Fingerprint: {_colons(hashlib.md5(cert.der, usedforsecurity=False).digest())}",
        f"# SHA1 Fingerprint: {_colons(hashlib.sha1(cert.der, usedforsecurity=False).digest())}",
        f"# SHA256 Fingerprint: {_colons(bytes.fromhex(cert.sha256))}",
        f"# Source: {ascii_escaped(', '.join(entry.origins))}",
    ]
    return "\n".join(lines) + "\n"


def _colons(digest: bytes) -> str:
    return digest.hex(":")  # certifi's style: lower-case hex pairs joined by ':'


@functools.lru_cache(maxsize=4096)  # a root's issuer is its subject: one name, two lines
def _certifi_name(name: x509der.Name) -> str:
    """certifi's style: ``CN=… O=… OU=…``, those three attributes, in that order.

    A corporate root may have none of them (only DC= parts, say); it gets the RFC 4514
    form rather than an empty line.
    """
    parts = []
    for label, oid in _CERTIFI_NAME_ATTRIBUTES:
        for value in x509der.attribute_values(name, oid):
            text = value if isinstance(value, str) else value.decode("utf-8", "replace")
            parts.append(f"{label}={ascii_escaped(text)}")
    return " ".join(parts) if parts else ascii_escaped(x509der.rfc4514(name))


def ascii_escaped(text: str) -> str:
    """Escape what is not printable ASCII as certifi does (``\\xfa``, ``\\u0151``), so the
    file stays ASCII and a newline in a name cannot start a line of its own."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        char if " " <= char <= "~" else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def pem_text(der: bytes) -> str:
    """One certificate as a PEM block: 64-character lines, LF."""
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


# --- where --------------------------------------------------------------------------------


def default_path(
    scope: Scope, platform: str = sys.platform, environ: Mapping[str, str] = os.environ
) -> Path:
    """The bundle's path for ``scope`` when the user names none.

    The per-OS table lives in :mod:`build_ca_bundle.paths`, which the quick unchanged-run
    check imports before anything heavy.
    """
    return default_bundle_path(scope, platform, environ)


def check_bundle_path(path: Path) -> None:
    """Refuse a bundle path that names a folder, before its lock files are made beside it,
    or that holds a line break: every file that names the bundle (pip.conf, a profile, a
    CI system's variables) would read a second line of someone's choosing."""
    if any(mark in str(path) for mark in "\r\n"):
        raise BundleError(
            f"the bundle path {str(path)!r} holds a line break",
            hint="choose a path without line breaks",
        )
    if path.is_dir():
        raise BundleError(
            f"{path} is a folder: the bundle needs a file's path",
            hint=f"name a file, e.g. --output {path / 'ca-bundle.pem'}",
        )
    check_ours(path)


def check_ours(path: Path, marker: bytes = BUNDLE_MARKER, *, bundle: Path | None = None) -> None:
    """Refuse to replace a file this tool did not write: ``--output ~/.bashrc`` (or a
    policy's ``output`` naming the policy, an --extra-ca file, pip.conf) replaced it with a
    bundle, and nothing kept what it held. An empty file holds nothing to lose."""
    if os.path.isdir(path):  # noqa: PTH112 (Path.is_dir raises for a name too long)
        raise BundleError(
            f"{path} is a folder, where this tool keeps a file; nothing was changed",
            hint="move that folder away, or name another path with --output",
        )
    if is_ours(path, marker, bundle=bundle):
        return
    try:
        regular = stat.S_ISREG(path.stat().st_mode)
    except OSError:
        regular = False  # a dangling link, say
    what = (
        f"holds a file this tool did not write (it does not begin with '{marker.decode('ascii')}')"
        if regular
        else "is not a regular file (a device, a FIFO, a socket, a dangling link)"
    )
    raise BundleError(
        f"{path} {what}; it was not replaced, and nothing was changed",
        hint="name another path with --output, or move that file away first",
    )


def is_ours(
    path: Path,
    marker: bytes = BUNDLE_MARKER,
    *,
    bundle: Path | None = None,
    empty_is_ours: bool = True,
) -> bool:
    """True if nothing is at ``path``, or a regular file that begins with ``marker`` (what
    this tool writes at the top of every file of its own of that kind), or an empty one
    (nothing to lose by replacing it; undo, which would delete it, passes
    ``empty_is_ours=False``), or if a run of ours keeps its record beside the bundle it
    belongs to (``bundle``, else ``path`` itself): a bundle of ours edited by hand is rebuilt.
    Anything but a regular file (/dev/null, a FIFO, a socket) is never ours, and never
    opened: a FIFO would hang the run."""
    try:
        status = path.stat()  # through a link: what it leads to is what would be replaced
    except FileNotFoundError:
        return not path.is_symlink()  # a dangling link is someone's, not nothing
    except OSError:
        return not os.path.lexists(path)
    if not stat.S_ISREG(status.st_mode):
        return False
    try:
        with open(path, "rb") as handle:  # noqa: PTH123 (a few bytes, not the whole file)
            head = handle.read(len(marker))
    except OSError:
        return False
    if head == marker or (not head and empty_is_ours):
        return True
    owner = path if bundle is None else bundle
    records = (manifest.path_for(owner), os.fspath(owner) + HISTORY_SUFFIX)
    return any(os.path.lexists(record) for record in records)


def check_machine_path(path: Path) -> None:
    """Refuse a machine-wide bundle path an ordinary user could replace or redirect.

    The bundle, if it exists, and every existing folder above it must be owned by root,
    writable by no one else, and not a symlink; otherwise a user could swap the file every
    account's pip trusts. (Windows: the ProgramData ACL is IT's to set; not checked here.)
    """
    if sys.platform != "win32":
        _check_posix_machine_path(path)


def _existing(
    items: Iterable[Path], checking: Callable[[], str] = str
) -> Iterator[tuple[Path, os.stat_result]]:
    """Each item that exists, with its own status (a link's, not its target's). A missing
    one will be created by us, as root, with our modes. ``checking``: what the error says
    it was checked for, made only when one is said."""
    for item in items:
        try:
            info = item.lstat()
        except (FileNotFoundError, NotADirectoryError):  # a file on the way: said when made
            continue
        except OSError as exc:
            raise UnsafePathError(f"cannot check {item}{checking()}: {exc.strerror}") from exc
        yield item, info


def _shown(path: Path, role: str) -> str:
    """A checked file as an error names it: its role, and where a link leads (resolved
    only for the message: it cost a lookup of every folder for each of 4,000 store files)."""
    absolute = path.absolute()
    try:
        real = path.resolve()
    except (OSError, RuntimeError):  # a link loop (RuntimeError before 3.13)
        real = absolute
    return f"{role} {path}" + (f" (a link to {real})" if real != absolute else "")


# While :func:`checking_once` holds: the paths found root's and safe (by sticky_ok), so
# that a folder above thousands of files (a hashed store SSL_CERT_DIR names, as root) is
# looked at once, not once for each file in it; and what each link on the way leads to.
_checked_now: dict[bool, set[Path]] | None = None
_links_now: dict[Path, Path | None] = {}


def _link_target(path: Path) -> Path | None:
    """Where the link ``path`` leads, or None if it is no link (or not there)."""
    if _checked_now is not None and path in _links_now:
        return _links_now[path]
    try:
        hop: Path | None = path.readlink()
    except OSError:
        hop = None
    if _checked_now is not None:
        _links_now[path] = hop
    return hop


@contextlib.contextmanager
def checking_once() -> Iterator[None]:
    """Within it, each path the root checks found safe is not looked at again: for one
    batch of checks, made together (a file changed in between is the same race as one
    changed right after)."""
    global _checked_now  # noqa: PLW0603 - one batch at a time, in one thread
    outer = _checked_now
    _checked_now = {True: set(), False: set()} if outer is None else outer
    try:
        yield
    finally:
        _checked_now = outer
        if outer is None:
            _links_now.clear()


def _check_posix_machine_path(path: Path) -> None:
    for item, info in _existing([path, *path.parents]):
        if stat.S_ISLNK(info.st_mode):
            raise UnsafePathError(
                f"{item} is a symlink: a machine-wide bundle must not be reached through one",
                hint="use a path of real folders owned by root",
            )
        if info.st_uid != 0 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise UnsafePathError(
                f"{item} can be changed by users other than root, so the machine-wide bundle "
                f"{path} could be swapped",
                hint="use a folder owned by root and writable only by root",
            )


def check_machine_file(path: Path, role: str) -> None:
    """Refuse a file a machine-wide run relies on or edits (the machine's pip config, an
    ``--extra-ca`` file whose roots every account will trust, the policy) if an ordinary
    user could change it or swap it: the path as given and the file it leads to, with
    every folder above each, must be root's and writable by no one else. A link is fine
    when root owns it and its folder (``/etc/alternatives``). (Windows: ACLs, IT's to set;
    not checked here.)"""
    if sys.platform != "win32":
        _check_posix_machine_file(path, role)


def check_machine_policy(path: Path, named: Iterable[Path]) -> None:
    """Refuse, in every scope, the machine's policy and the ``extra_ca`` files it names if
    an ordinary user could change them: what they say goes into every account's bundle
    (root's own included), so one user would decide what all of them trust. A sticky
    folder (/tmp) above is fine: others cannot rename or remove root's files there."""
    if sys.platform != "win32":
        _check_posix_machine_policy(path, named)
    else:
        _check_windows_machine_policy(path, named)


def _check_windows_machine_policy(path: Path, named: Iterable[Path]) -> None:
    """Every user may create files and folders in %ProgramData%: the policy, and the extra
    CA files it names there, with the folders between, must be owned by Administrators,
    SYSTEM or TrustedInstaller (:mod:`build_ca_bundle.winowner`), or a user made them.
    Elsewhere (Program Files, IT's shares) the ACLs are IT's, as before."""
    program_data = Path(os.environ.get("PROGRAMDATA") or "C:\\ProgramData")
    for item, role in ((path, "the machine's policy"), *_named_files(named)):
        for checked in (item, *item.parents):
            if checked == program_data or program_data not in checked.parents:
                break  # %ProgramData% itself is SYSTEM's; above it, not the users' area
            check_windows_machine_owner(checked, f"{role} {item}")


def _named_files(named: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    role = "the extra CA file the machine's policy names,"
    for extra in named:
        yield extra, role
        if extra.is_dir():  # the files in it are what a run reads
            with contextlib.suppress(OSError):
                yield from ((item, role) for item in sorted(extra.iterdir()) if item.is_file())


def check_windows_machine_owner(path: Path, shown: str) -> None:
    """Refuse ``path`` (exit 5) if it exists and a user owns it; one whose owner cannot be
    read (a share, FAT) passes, as on POSIX a missing part is ours to create."""
    from build_ca_bundle.winowner import MACHINE_OWNERS, owner_sid

    if not os.path.lexists(path):
        return
    owner = owner_sid(path)
    if owner is None or owner in MACHINE_OWNERS:
        return
    raise UnsafePathError(
        f"{shown} can be changed by users other than administrators ({path} is owned by "
        f"{owner}, not Administrators, SYSTEM or TrustedInstaller: any user may create "
        "files in %ProgramData%): no run relies on it, in any scope; nothing was changed",
        hint="as an administrator, remove it and create it again (or take ownership: "
        "takeown /A /F <path>, then icacls <path> /inheritance:r /grant "
        "Administrators:F SYSTEM:F Users:RX)",
    )


def _check_posix_machine_policy(path: Path, named: Iterable[Path]) -> None:
    consequence = "no run relies on it, in any scope; nothing was changed"
    for item, role in ((path, "the machine's policy"), *_named_files(named)):
        _check_posix_machine_file(item, role, sticky_ok=True, consequence=consequence)


def _check_posix_machine_file(
    path: Path,
    role: str,
    *,
    sticky_ok: bool = False,
    consequence: str | None = None,
    hint: str | None = None,
) -> None:
    absolute = path.absolute()
    checked = _checked_now.get(sticky_ok) if _checked_now is not None else None
    chain = _with_parents(_walked(absolute), checked or set())
    unchecked = chain if checked is None else [item for item in chain if item not in checked]
    for item, info in _existing(unchecked, lambda: f" for {_shown(path, role)}"):
        writable = not stat.S_ISLNK(info.st_mode) and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if writable and sticky_ok and stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX:
            writable = 0  # /tmp: others may add entries, not rename or remove root's
        if info.st_uid == 0 and not writable:
            if checked is not None:
                checked.add(item)
            continue
        shown = _shown(path, role)
        if info.st_uid != 0 or writable:
            why = "not owned by root" if info.st_uid else "writable by others"
            if consequence is not None:
                raise UnsafePathError(
                    f"{shown} can be changed by users other than root ({item} is {why}): "
                    f"{consequence}",
                    hint="make the file and its folders root's and writable only by root",
                )
            if sticky_ok:
                raise UnsafePathError(
                    f"{shown} can be changed by another account ({item} is {why}): as root, "
                    "every scope but --scope global reads and writes only root's own files, "
                    "never through another account's folders; nothing was changed",
                    hint=hint
                    or "run without sudo as the account that owns it, with root's HOME "
                    "(sudo -H) for root's, --output in a folder only root can write, or "
                    "--scope global for every account",
                )
            raise UnsafePathError(
                f"{shown} can be changed by users other than root ({item} is {why}): "
                "a machine-wide run does not rely on it; nothing was changed",
                hint="make the file and its folders root's and writable only by root, or "
                "use a file that is",
            )


_MAX_LINKS = 40  # as Linux's own limit on links followed in one lookup (ELOOP)


def _with_parents(walked: list[Path], checked: set[Path]) -> list[Path]:
    """``walked``, then every folder above each of them, once each, in that order. The
    climb from one stops at a folder whose own climb was done (a walk's folders share
    most of theirs), or that was ``checked`` (found safe, and so were all above it):
    building every parent of every step was most of a root run's checks."""
    chain = dict.fromkeys(walked)
    climbed: set[Path] = set()
    for item in walked:
        folder = item.parent
        while folder not in climbed and folder not in checked:
            climbed.add(folder)
            chain.setdefault(folder)
            if folder.parent == folder:
                break
            folder = folder.parent
    return list(chain)


def _walked(path: Path) -> list[Path]:
    """Every path the OS looks up to reach ``path`` (absolute): each folder and link on the
    way, and each hop of a link that leads to another link. A check of the path as given
    and of where it ends misses a hop in the middle: /etc/corp.pem -> ~user/hop ->
    /etc/real.pem ends at root's file, but the user can turn their hop elsewhere."""
    seen: list[Path] = []
    pending = list(path.parts[1:])
    current = Path(path.anchor)
    links = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            continue
        candidate = current / part
        seen.append(candidate)
        hop = _link_target(candidate)
        if hop is None:  # not a link, or not there: a missing part is created by us
            current = candidate
            continue
        links += 1
        if links > _MAX_LINKS:
            break  # a loop: the OS refuses to open it too
        if hop.is_absolute():
            current = Path(hop.anchor)
        pending[:0] = hop.parts[1:] if hop.is_absolute() else hop.parts
    return seen


def check_root_file(path: Path, role: str, *, hint: str | None = None) -> None:
    """As root, ``--scope user`` means root's own files; a HOME that sudo kept is another
    account's (as is a venv another account owns, for ``--scope site``). Refuse a file the
    run would write or read its undo record from if that account could change it or the
    folders above it: root would write through their links, leave root-owned files in their
    home, and root's pip would trust a bundle they can replace. (Not on Windows, where an
    administrator's HOME is their own.)"""
    if sys.platform != "win32" and os.geteuid() == 0:
        _check_posix_machine_file(path, role, sticky_ok=True, hint=hint)


# --- folders and locks ----------------------------------------------------------------------


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _run_lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".run.lock")


def _ensure_folder(folder: Path) -> None:
    """Create the missing folders, each ``rwxr-xr-x`` whatever the umask: with umask 0 a
    world-writable folder would let anyone swap the bundle; with umask 077 other accounts'
    pip could not read it."""
    try:
        _make_folders(folder)
    except FileExistsError as exc:
        raise BundleError(
            f"cannot create the folder {folder}: {exc.filename} is a file, not a folder",
            hint="move that file away, or choose another path with --output",
        ) from exc
    except OSError as exc:
        raise BundleError(
            f"cannot create the folder {folder}: {exc.strerror or exc}",
            hint="check the path and its permissions, or choose another with --output",
        ) from exc


def _make_folders(folder: Path) -> None:
    if folder.is_dir():
        return
    if folder.parent != folder:
        _make_folders(folder.parent)
    try:
        folder.mkdir(mode=_FOLDER_MODE)
    except FileExistsError:
        if folder.is_dir():
            return  # another run made it a moment ago
        raise
    # mkdir's mode was cut by the umask. Best effort: some mounts (FAT, SMB) refuse chmod.
    with contextlib.suppress(OSError):
        folder.chmod(_FOLDER_MODE)


@contextlib.contextmanager
def run_lock(path: Path, *, timeout: float = 120.0) -> Iterator[None]:
    """Serialise whole runs for one bundle: two logons at once must not both edit pip.conf.

    Separate from the write lock, which also guards writes made outside a run.
    """
    busy = f"another build-ca-bundle run for {path} did not finish within {timeout:g} s"
    with _holding(_run_lock_path(path), timeout, busy):
        yield


@contextlib.contextmanager
def _holding(lock_file: Path, timeout: float, busy: str) -> Iterator[None]:
    """Hold ``lock_file``; a holder that does not let go, or a lock file that cannot be
    opened, is one of our errors with its hint, never a hang or a traceback."""
    try:
        with lock.hold(str(lock_file), timeout, lambda: _ensure_folder(lock_file.parent)):
            yield
    except lock.Timeout as exc:
        raise LockTimeoutError(
            f"{busy} (lock file {lock_file})",
            hint="if no other run is going on, a stuck process holds it: end it and run again",
        ) from exc
    except lock.Unavailable as exc:
        # An empty lock file another account made (an older `sudo` run in one's own
        # folder, say): the folder is writable, and "check that it is" sent people astray.
        foreign = exc.error.strerror == lock.FOREIGN
        raise BundleError(
            f"{exc}; nothing was changed",
            hint=f"it is an empty lock file: if no run of another account's is going on, "
            f"remove it ({lock_file}) and run again"
            if foreign
            else "check that the folder is writable (an administrator for --scope global), "
            "or choose another path with --output",
        ) from exc


def lock_files(path: Path) -> tuple[Path, Path]:
    """The lock files beside ``path``: the write lock, and the run lock."""
    return lock_path(path), _run_lock_path(path)


def check_lock_files(*paths: Path) -> None:
    """What is at the lock files' paths of ``paths`` must be ours or nothing, checked before
    anything is written (one refused after the bundle was written left half a run)."""
    for path in paths:
        for lock_file in lock_files(path):
            try:
                lock.check_lock_file(str(lock_file))
            except lock.Unavailable as exc:
                raise BundleError(
                    f"{exc}; nothing was changed",
                    hint="move that file away, or choose another path with --output",
                ) from exc


# --- writing ------------------------------------------------------------------------------


class WriteResult(Value):
    __slots__ = ("path", "changed", "proof")
    path: Final[Path]
    changed: Final[bool]
    proof: Final[str | None]  # see proof(): set when these bytes are known to load

    def __init__(self, path: Path, changed: bool, proof: str | None = None) -> None:
        self.path = path
        self.changed = changed
        self.proof = proof


def proof(content: bytes) -> str:
    """What the manifest keeps of a bundle that loaded: which OpenSSL (``openssl.identity``)
    loaded which bytes.

    OpenSSL 3 takes about 0.2 ms to decode a certificate, most of a full run over a small
    store and nearly all of one over a large store; with this, a rebuild (a root added,
    certifi upgraded) loads only the blocks that are new.
    """
    return f"{openssl.identity()}; sha256={hashlib.sha256(content).hexdigest()}"


def read_existing(path: Path) -> bytes | None:
    """The bundle's current bytes, or None if there is no readable file."""
    try:
        return read_bytes(path)
    except OSError:
        return None


def write(
    path: Path,
    content: bytes,
    *,
    lock_timeout: float = 60.0,
    validated: bool = False,
    loaded_before: str | None = None,
    preloaded: frozenset[str] = frozenset(),
    bundle: Path | None = None,
) -> WriteResult:
    """Replace ``path`` with ``content`` atomically, unless it already holds exactly that.

    The content must load in ``ssl`` first, unless ``validated``: a subset of blocks that
    were just loaded as part of the main bundle (``extra-roots.pem``, which may be empty).
    ``loaded_before`` is the :func:`proof` recorded for the bundle now on disk: if it still
    matches, the blocks in it are not loaded again; nor are ``preloaded`` blocks, which this
    process loaded already (``openssl.Preload``). The result's ``proof`` is set when the bytes
    now in ``path`` are known to load. ``bundle`` is the bundle a side file belongs to (see
    :func:`is_ours`). Raises :class:`BundleError` (the previous bundle is then unchanged) or
    :class:`LockTimeoutError`.
    """
    busy = f"another build-ca-bundle run held the lock for over {lock_timeout:g} s"
    with _holding(lock_path(path), lock_timeout, busy):
        return _write_locked(path, content, validated, loaded_before, preloaded, bundle)


def _write_locked(
    path: Path,
    content: bytes,
    validated: bool,
    loaded_before: str | None,
    preloaded: frozenset[str],
    bundle: Path | None,
) -> WriteResult:
    remove_stale_temps(path)  # a killed run's: inside the lock, every one of ours is stale
    existing = read_existing(path)
    if existing and not existing.startswith(BUNDLE_MARKER):
        check_ours(path, bundle=bundle)  # a file that is not ours is never replaced
    # Only the exact bytes that loaded, under the same OpenSSL, prove anything: a hand edit
    # or another Python means every block is loaded again.
    proven = None
    if existing is not None and loaded_before is not None and proof(existing) == loaded_before:
        proven = existing
    if existing == content:
        if loaded_before is not None and proven is None and not validated:
            # It loaded under another OpenSSL (the library was upgraded): a stricter one
            # could refuse a block, and pip would fail with it. Loaded once, then proven.
            _check_loads(content, path, preloaded)
            loaded_before = proof(content)
        _forbid_group_and_world_writes(path)
        return WriteResult(path, changed=False, proof=loaded_before)
    if not validated:
        _check_loads(content, path, preloaded | (certificate_blocks(proven) if proven else set()))
    temp = temp_path(path)
    try:
        _write_new_file(temp, content)
        _replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise BundleError(
            f"cannot write {path}: {exc.strerror or exc}; the previous bundle is unchanged",
            hint=_write_hint(exc),
        ) from exc
    sync_folder(path.parent)
    return WriteResult(path, changed=True, proof=None if validated else proof(content))


def _write_hint(error: OSError) -> str:
    """What to do about a failed replace, by what failed."""
    import errno

    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some disk space, or choose another path with --output"
    if isinstance(error, PermissionError) and sys.platform == "win32":
        # Windows refuses to replace a file another program holds open without sharing it.
        return (
            "another program may hold the bundle open (an editor, a virus scan): close it and "
            "run again; else check the folder's permissions, or choose another path with --output"
        )
    return "check the folder's permissions and free space, or choose another path with --output"


def _write_new_file(temp: Path, content: bytes) -> None:
    """Write and sync a file that must not exist yet (never through a planted link)."""
    descriptor = os.open(temp, NEW_FILE_FLAGS, _FILE_MODE)
    try:
        _restore_mode(descriptor)
        _write_all(descriptor, content)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _restore_mode(descriptor: int) -> None:
    """Set exactly rw-r--r--: the umask may have taken away the read bits other accounts'
    pip needs. Best effort, as for folders."""
    fchmod = getattr(os, "fchmod", None)  # absent on Windows before 3.13
    if fchmod is not None:
        with contextlib.suppress(OSError):
            fchmod(descriptor, _FILE_MODE)


def _write_all(descriptor: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


# Windows refuses to replace a file that another process has open without delete sharing
# (pip reading the old bundle, a virus scanner): that passes within moments, so wait a
# little. Elsewhere a refused rename is a real permission problem: fail at once.
_REPLACE_ATTEMPTS = 10 if os.name == "nt" else 1
_REPLACE_PAUSE = 0.05  # seconds, times the attempt number


def _replace(temp: Path, path: Path) -> None:
    for attempt in range(1, _REPLACE_ATTEMPTS + 1):
        try:
            temp.replace(path)
        except PermissionError:
            if attempt == _REPLACE_ATTEMPTS:
                raise
            time.sleep(_REPLACE_PAUSE * attempt)
        else:
            return


def _forbid_group_and_world_writes(path: Path) -> None:
    """An unchanged bundle stays untouched, except that a world-writable one is fixed."""
    if os.name != "posix":
        return  # Windows permission bits say nothing about who may write (ACLs do)
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            path.chmod(mode & ~(stat.S_IWGRP | stat.S_IWOTH))


# OpenSSL 3's certificate store slows down with its size (each insert re-sorts), so a store
# of thousands of roots is loaded in chunks: every block still goes through ssl, in linear time.
_LOAD_CHUNK = 200
_BEGIN = "-----BEGIN CERTIFICATE-----\n"
_END = "-----END CERTIFICATE-----\n"


def _check_loads(content: bytes, path: Path, proven: frozenset[str] = frozenset()) -> None:
    try:
        text = content.decode("ascii")
        _load_in_chunks(text, proven)
    except (openssl.SSLError, ValueError, UnicodeDecodeError) as exc:
        refused = _refused_blocks(content)
        if refused:
            raise UnloadableCertificatesError(
                f"{len(refused)} certificate(s) of the new bundle for {path} do not load in "
                f"Python's ssl ({exc})",
                sha256s=frozenset(refused),
                reason=f"Python's ssl ({openssl.OPENSSL_VERSION}) cannot load it",
            ) from exc
        raise BundleError(
            f"the new bundle for {path} does not load in Python's ssl ({exc}); the previous "
            "bundle is unchanged"
        ) from exc


def _refused_blocks(content: bytes) -> list[str]:
    """The SHA-256 of each certificate block that ssl refuses on its own (the slow path,
    taken only when a whole bundle failed to load)."""
    from build_ca_bundle.certificates import parse_pem

    refused = []
    for item in parse_pem(content, "the new bundle")[0]:
        context = openssl.new_context()
        try:
            context.load_verify_locations(cadata=item.certificate.der)
        except openssl.SSLError:
            refused.append(item.certificate.sha256)
    return refused


def _load_in_chunks(text: str, proven: frozenset[str] = frozenset()) -> None:
    """Load every certificate block of ``text`` but those in ``proven`` (see
    :func:`certificate_blocks`). The comment lines between blocks are ours, printable ASCII
    starting with '#' (``ascii_escaped``), which OpenSSL's PEM reader skips."""
    blocks = text.split(_END)
    body, rest = blocks[:-1], blocks[-1]
    if rest.strip() or not body:
        raise ValueError("text after the last certificate" if body else "no certificate")
    if proven:
        body = [piece for piece in body if _block_text(piece) not in proven]
    for start in range(0, len(body), _LOAD_CHUNK):
        context = openssl.new_context()
        context.load_verify_locations(cadata=_END.join(body[start : start + _LOAD_CHUNK]) + _END)
        stats = context.cert_store_stats()
        if not stats["x509_ca"] + stats["x509"]:
            raise ValueError("no certificate loaded")


def certificate_blocks(content: bytes) -> frozenset[str]:
    """The certificate blocks (BEGIN line to END line) of a bundle, without the comments."""
    try:
        text = content.decode("ascii")
    except UnicodeDecodeError:
        return frozenset()
    blocks = (_block_text(piece) for piece in text.split(_END)[:-1])
    return frozenset(block for block in blocks if block is not None)


def _block_text(piece: str) -> str | None:
    """The certificate block that ends a piece of text before an END line, without the
    comments before it; None if there is no BEGIN line (then nothing proves it)."""
    _, begin, body = piece.partition(_BEGIN)
    return begin + body + _END if begin else None


def remove(path: Path) -> bool:
    """Remove a bundle (undo); True if it was there. Its lock files stay until the undo's
    last step (:func:`remove_locks`)."""
    try:
        path.unlink()
    except FileNotFoundError:
        removed = False
    except OSError as exc:
        raise BundleError(
            f"cannot remove {path}: {exc.strerror or exc}",
            hint="run with the rights that wrote it (an administrator for --scope global)",
        ) from exc
    else:
        removed = True
    return removed


def remove_locks(path: Path) -> None:
    """Remove a bundle's lock files: undo's last step, with nothing left to do under them.
    A run that was waiting on one then finds it gone and takes the new one (lock.hold)."""
    for lock_file in (lock_path(path), _run_lock_path(path)):
        with contextlib.suppress(OSError):
            status = lock_file.lstat()
            # Ours are empty files: `undo --output proj/yarn` must not take yarn.lock.
            if stat.S_ISREG(status.st_mode) and status.st_size == 0:
                lock_file.unlink()
