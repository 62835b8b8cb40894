"""The bundle file: render it in certifi's format, and replace it atomically under a lock.

A bundle on disk is always complete and loadable: the new content must load in an
``ssl.SSLContext`` before the old file is touched; it is written to a temp file in the same
folder, synced, and renamed over the old one. Two runs (two logons at once) serialise on a
lock file beside the bundle. An unchanged bundle is not rewritten: not even its time changes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import ssl
import stat
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from build_ca_bundle.certificates import BUNDLE_MARKER, Entry
from build_ca_bundle.errors import BundleError, LockTimeoutError, UnsafePathError
from build_ca_bundle.inifile import sync_folder
from build_ca_bundle.paths import default_bundle_path
from build_ca_bundle.scope import Scope

_TEMP_PREFIX = "."
_TEMP_SUFFIX = ".tmp"
_HEADER = """\
# One PEM file with every root this machine trusts for TLS: certifi's (Mozilla's) roots,
# the roots the operating system trusts for server authentication, and files named with
# --extra-ca, minus what the operating system distrusts.
# Do not edit: the next run of build-ca-bundle replaces this file.
# Certificates: {count}
"""


# --- rendering --------------------------------------------------------------------------


def render(entries: Sequence[Entry]) -> bytes:
    """The bundle's bytes: ASCII, LF, a certifi-style header before each certificate."""
    parts = [BUNDLE_MARKER.decode("ascii") + "\n", _HEADER.format(count=len(entries))]
    for entry in entries:
        parts.append("\n")
        parts.append(_certificate_header(entry))
        parts.append(_pem(entry.certificate.der))
    return "".join(parts).encode("ascii")


def _certificate_header(entry: Entry) -> str:
    cert = entry.certificate
    x509 = cert.x509
    lines = [
        f"# Issuer: {_certifi_name(x509.issuer)}",
        f"# Subject: {_certifi_name(x509.subject)}",
        f'# Label: "{_ascii(cert.label)}"',
        f"# Serial: {cert.serial_number}",
        f"# MD5 Fingerprint: {hashlib.md5(cert.der, usedforsecurity=False).digest().hex(':')}",
        f"# SHA1 Fingerprint: {hashlib.sha1(cert.der, usedforsecurity=False).digest().hex(':')}",
        f"# SHA256 Fingerprint: {bytes.fromhex(cert.sha256).hex(':')}",
        f"# Source: {_ascii(', '.join(entry.origins))}",
    ]
    return "\n".join(lines) + "\n"


def _certifi_name(name: x509.Name) -> str:
    """certifi's style: ``CN=… O=… OU=…``, those three attributes, in that order."""
    parts = []
    for label, oid in (
        ("CN", NameOID.COMMON_NAME),
        ("O", NameOID.ORGANIZATION_NAME),
        ("OU", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ):
        for attribute in name.get_attributes_for_oid(oid):
            value = attribute.value
            text = value if isinstance(value, str) else value.decode("utf-8", "replace")
            parts.append(f"{label}={_ascii(text)}")
    return " ".join(parts)


def _ascii(text: str) -> str:
    """Escape what is not printable ASCII, so the file stays ASCII and one line stays one."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        char if " " <= char <= "~" else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def _pem(der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


# --- where --------------------------------------------------------------------------------


def default_path(scope: Scope, platform: str = sys.platform) -> Path:
    return default_bundle_path(scope, platform)


def check_machine_path(path: Path) -> None:
    """Refuse a machine-wide bundle path an ordinary user could replace or redirect.

    The bundle, if it exists, and every existing folder above it must be owned by root,
    writable by no one else, and not a symlink; otherwise a user could swap the file every
    account's pip trusts. (Windows: the ProgramData ACL is IT's to set; not checked here.)
    """
    if sys.platform != "win32":
        _check_posix_machine_path(path)


def _check_posix_machine_path(path: Path) -> None:
    for item in [path, *path.parents]:
        try:
            info = item.lstat()
        except FileNotFoundError:
            continue  # created by us, as root, with our modes
        except OSError as exc:
            raise UnsafePathError(f"cannot check {item}: {exc.strerror}") from exc
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


# --- writing ------------------------------------------------------------------------------


@contextlib.contextmanager
def run_lock(path: Path, *, timeout: float = 120.0) -> Iterator[None]:
    """Serialise whole runs for one bundle: two logons at once must not both edit pip.conf.

    Separate from the write lock, which also guards writes made outside a run.
    """
    import filelock

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BundleError(f"cannot create the folder {path.parent}: {exc.strerror or exc}") from exc
    lock = filelock.FileLock(str(path.with_name(path.name + ".run.lock")), timeout=timeout)
    try:
        with lock:
            yield
    except filelock.Timeout as exc:
        raise LockTimeoutError(
            f"another build-ca-bundle run for {path} did not finish within {timeout:g} s",
            hint="if no other run is going on, a stuck process holds it: end it and run again",
        ) from exc


@dataclass(frozen=True)
class WriteResult:
    path: Path
    changed: bool


def read_existing(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def write(
    path: Path, content: bytes, *, lock_timeout: float = 60.0, validated: bool = False
) -> WriteResult:
    """Replace ``path`` with ``content`` atomically, unless it already holds exactly that.

    The content must load in ``ssl`` first, unless ``validated``: a subset of blocks that
    were just loaded as part of the main bundle (``extra-roots.pem``, which may be empty).
    """
    import filelock

    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BundleError(
            f"cannot create the folder {folder}: {exc.strerror or exc}",
            hint="check the path, or choose another with --output",
        ) from exc
    if not folder.is_dir():
        raise BundleError(f"{folder} is not a folder", hint="choose another path with --output")
    lock = filelock.FileLock(str(lock_path(path)), timeout=lock_timeout)
    try:
        with lock:
            return _write_locked(path, content, validated=validated)
    except filelock.Timeout as exc:
        raise LockTimeoutError(
            f"another build-ca-bundle run held {lock_path(path)} for over {lock_timeout:g} s",
            hint="if no other run is going on, a stuck process holds it: end it and run again",
        ) from exc
    except PermissionError as exc:
        raise BundleError(
            f"cannot write in {folder}: {exc.strerror}",
            hint="run as an administrator for --scope global, or use --scope user",
        ) from exc


def _write_locked(path: Path, content: bytes, *, validated: bool) -> WriteResult:
    _remove_stale_temp_files(path)
    if read_existing(path) == content:
        return WriteResult(path, changed=False)
    if not validated:
        _check_loads(content, path)
    temp = path.with_name(f"{_TEMP_PREFIX}{path.name}.{secrets.token_hex(8)}{_TEMP_SUFFIX}")
    try:
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o644)
        try:
            _write_all(descriptor, content)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        temp.chmod(0o644)  # whatever the umask: readable by all, writable by the owner
        temp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise BundleError(
            f"cannot write {path}: {exc.strerror or exc}; the previous bundle is unchanged",
            hint="free some disk space or choose another path with --output",
        ) from exc
    sync_folder(path.parent)
    return WriteResult(path, changed=True)


_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def _write_all(descriptor: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


# OpenSSL 3's certificate store slows down with its size (each insert re-sorts), so a store
# of thousands of roots is loaded in chunks: every block still goes through ssl, in linear time.
_LOAD_CHUNK = 200
_END = "-----END CERTIFICATE-----\n"


def _check_loads(content: bytes, path: Path) -> None:
    try:
        _load_in_chunks(content.decode("ascii"))
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as exc:
        raise BundleError(
            f"the new bundle for {path} does not load in Python's ssl ({exc}); the previous "
            "bundle is unchanged"
        ) from exc


def _load_in_chunks(text: str) -> None:
    blocks = text.split(_END)
    body, rest = blocks[:-1], blocks[-1]
    if rest.strip() or not body:
        raise ValueError("text after the last certificate" if body else "no certificate")
    for start in range(0, len(body), _LOAD_CHUNK):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=_END.join(body[start : start + _LOAD_CHUNK]) + _END)
        if not context.cert_store_stats()["x509_ca"] + context.cert_store_stats()["x509"]:
            raise ValueError("no certificate loaded")


def _remove_stale_temp_files(path: Path) -> None:
    """Temp files a killed run left behind. Inside the lock, every one of ours is stale."""
    pattern = f"{_TEMP_PREFIX}{path.name}.*{_TEMP_SUFFIX}"
    for leftover in _glob(path.parent, pattern):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _glob(folder: Path, pattern: str) -> Iterable[Path]:
    try:
        return list(folder.glob(pattern))
    except OSError:
        return []


def remove(path: Path) -> bool:
    """Remove a bundle and its lock file; True if the bundle was there."""
    removed = False
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        removed = True
    for lock in (lock_path(path), path.with_name(path.name + ".run.lock")):
        with contextlib.suppress(OSError):
            lock.unlink()
    return removed
