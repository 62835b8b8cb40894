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
