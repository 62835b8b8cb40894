"""Lines for a console that may not hold every character (a Korean profile path on a
cp1252 console): what it cannot show is escaped, never a reason to fail.

Standard library only: the unchanged logon run prints through it before anything else is
imported (:mod:`build_ca_bundle.manifest`); so does everything else (:mod:`~.output`).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import TextIO


def say(line: str = "", stream: TextIO | None = None) -> None:
    target = stream or sys.stdout
    encoding = getattr(target, "encoding", None) or "utf-8"
    print(line.encode(encoding, "backslashreplace").decode(encoding), file=target)
