"""Our temp files' names: ``.<name>.<16 hex digits>.tmp``, beside the file they replace.

Standard library only (``os``): the unchanged run looks for a killed run's leftovers with
it (:mod:`build_ca_bundle.manifest`); the writers name and remove them with it
(:mod:`build_ca_bundle.inifile`).
"""

from __future__ import annotations

import os

_HEX = frozenset("0123456789abcdef")
# mkstemp's alphabet: earlier versions named pip.conf's and the manifest's temp files so.
_MKSTEMP = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def temp_name(name: str) -> str:
    """A fresh temp file name for the file ``name``."""
    return f".{name}.{os.urandom(8).hex()}.tmp"  # secrets would cost 1 ms of imports


def temp_target(file_name: str) -> str | None:
    """The name of the file that ``file_name`` is a temp file of ours for; None if it is not
    one (exactly our pattern: no other file is ever taken for ours)."""
    if not (file_name.startswith(".") and file_name.endswith(".tmp")):
        return None
    target, _, part = file_name[1:-4].rpartition(".")
    random = (len(part) == 16 and set(part) <= _HEX) or (len(part) == 8 and set(part) <= _MKSTEMP)
    return target if target and random else None
