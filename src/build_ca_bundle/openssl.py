"""What a full run needs of Python's ``ssl``, taken from its C core, ``_ssl``.

Importing ``ssl`` costs about 15 ms (it builds its enums and imports ``socket``): a tenth of
a full run, which needs none of that. It needs to load certificates into a context, the
OpenSSL version, and OpenSSL's default paths. ``ssl.SSLContext`` is ``_ssl._SSLContext``
with Python conveniences on top, and ``load_verify_locations`` is the same C method either
way: what loads here loads in pip's ``ssl``. ``ssl.py`` itself imports these names from
``_ssl`` unconditionally, so every Python with an ``ssl`` module has them.
"""

from __future__ import annotations

import _ssl
import functools
import os
import threading
from _ssl import OPENSSL_VERSION, PROTOCOL_TLS_CLIENT, SSLError, _SSLContext
from pathlib import Path

__all__ = [
    "OPENSSL_VERSION",
    "Preload",
    "SSLError",
    "default_file",
    "default_folder",
    "identity",
    "library_files",
    "new_context",
    "preload",
    "preloaded",
]


def new_context() -> _SSLContext:
    """A client context, as ``ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)`` makes it."""
    return _SSLContext(PROTOCOL_TLS_CLIENT)


def default_file() -> str:
    """OpenSSL's compiled-in CA file (``ssl.get_default_verify_paths().openssl_cafile``)."""
    return str(_ssl.get_default_verify_paths()[1])


def default_folder() -> str:
    """OpenSSL's compiled-in CA folder (``...().openssl_capath``)."""
    return str(_ssl.get_default_verify_paths()[3])


@functools.cache  # the libraries of a running process do not change
def library_files() -> tuple[str, ...]:
    """The files this Python's ssl is made of: the ``_ssl`` extension and, on Linux, the
    OpenSSL libraries it loaded (a distro updates those without touching Python). The
    manifest watches them: a new OpenSSL could refuse a block the old one loaded."""
    files = {_ssl.__file__} if getattr(_ssl, "__file__", None) else set()
    try:
        with Path("/proc/self/maps").open(encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)  # address perms offset device inode path
                path = fields[5].strip() if len(fields) == 6 else ""
                if path.startswith("/") and Path(path).name.startswith(_LIBRARIES):
                    files.add(path)
    except OSError:
        pass  # not Linux: OpenSSL comes with Python there, and sys.version is in the key
    return tuple(sorted(files))


_LIBRARIES = ("libssl.", "libcrypto.", "libssl-", "libcrypto-")


@functools.cache  # the libraries of a running process do not change
def identity() -> str:
    """This OpenSSL, precisely enough for a load proof: its version and the files it is
    made of (a distro's security update keeps the version string, not the files)."""
    import hashlib

    from build_ca_bundle.manifest import signature

    parts = [f"{name}\0{signature(name)}" for name in library_files()]
    files = hashlib.sha256("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
    return f"{OPENSSL_VERSION}; files={files[:16]}"


class Preload:
    """Loads a PEM file in ssl on a thread while the run goes on.

    ssl reads a file without holding the GIL, so the run's imports and its reading of the
    stores go on meanwhile: certifi's roots, most of a bundle, are loaded before the bundle
    is even rendered, and its check then loads only the rest. What counts as loaded is the
    file's bytes if they were the same before and after OpenSSL read them; a file that does
    not load proves nothing.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._loaded: bytes | None = None
        # Not a daemon: a run that fails early must not exit while OpenSSL is in this thread
        # (its atexit cleanup would free what the thread is using: a crash, seen in tests).
        self._thread = threading.Thread(target=self._load, name="preload")
        self._thread.start()

    def _load(self) -> None:
        try:
            before = self._path.read_bytes()
            new_context().load_verify_locations(cafile=os.fspath(self._path))
            after = self._path.read_bytes()
        except (OSError, ValueError, SSLError):
            return
        if before == after:
            self._loaded = before

    def loaded(self) -> bytes | None:
        """The bytes that loaded, or None (waits for the thread)."""
        self._thread.join()
        return self._loaded


_preloads: dict[str, Preload] = {}


def preload(path: Path) -> None:
    """Start loading ``path`` (once: the CLI starts it before the full run's imports, the
    pipeline makes sure it was started)."""
    key = os.fspath(path)
    if key not in _preloads:
        _preloads[key] = Preload(path)


def preloaded(path: Path) -> bytes | None:
    """What the preload of ``path`` loaded (waits for it), once; None if none was started
    or the file did not load."""
    started = _preloads.pop(os.fspath(path), None)
    return started.loaded() if started is not None else None
