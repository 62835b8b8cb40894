"""What a full run needs of Python's ``ssl``, taken from its C core, ``_ssl``.

Importing ``ssl`` costs about 15 ms (it builds its enums and imports ``socket``): a tenth of
a full run, which needs none of that. It needs to load certificates into a context, the
OpenSSL version, and OpenSSL's default paths. ``ssl.SSLContext`` is ``_ssl._SSLContext``
with Python conveniences on top, and ``load_verify_locations`` is the same C method either
way: what loads here loads in pip's ``ssl``. ``ssl.py`` itself imports these names from
``_ssl`` unconditionally, so every Python with an ``ssl`` module has them.
"""

from __future__ import annotations

from _ssl import OPENSSL_VERSION, PROTOCOL_TLS_CLIENT, SSLError, _SSLContext

__all__ = ["OPENSSL_VERSION", "SSLError", "default_file", "default_folder", "new_context"]


def new_context() -> _SSLContext:
    """A client context, as ``ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)`` makes it."""
    return _SSLContext(PROTOCOL_TLS_CLIENT)


def default_file() -> str:
    """OpenSSL's compiled-in CA file (``ssl.get_default_verify_paths().openssl_cafile``)."""
    from _ssl import get_default_verify_paths

    return str(get_default_verify_paths()[1])


def default_folder() -> str:
    """OpenSSL's compiled-in CA folder (``...().openssl_capath``)."""
    from _ssl import get_default_verify_paths

    return str(get_default_verify_paths()[3])


def library_files() -> list[str]:
    """The files this Python's ssl is made of: the ``_ssl`` extension and, on Linux, the
    OpenSSL libraries it loaded (a distro updates those without touching Python). The
    manifest watches them: a new OpenSSL could refuse a block the old one loaded."""
    import _ssl
    from pathlib import Path

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
    return sorted(files)


_LIBRARIES = ("libssl.", "libcrypto.", "libssl-", "libcrypto-")
