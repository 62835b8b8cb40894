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


class OutputError(Exception):
    """The console cannot be written (stdout is a log file on a full disk, /dev/full). The
    run's own work is not affected; the entry point says so once, without a traceback. Not
    an ``OSError``, so no file operation's handler takes it for its own failure."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error.strerror or str(error))
        self.error = error


def say(line: str = "", stream: TextIO | None = None) -> None:
    target = stream or sys.stdout
    encoding = getattr(target, "encoding", None) or "utf-8"
    line = inert(line)
    with guarded():
        if target is not sys.stdout and sys.stdout is not None:
            # A log that takes both (`>> log 2>&1`) gets the lines in the order they were
            # said: block-buffered stdout put every error above the "wrote" it follows.
            sys.stdout.flush()
        print(line.encode(encoding, "backslashreplace").decode(encoding), file=target)


# CI runners act on commands in a job's output: Azure Pipelines on "##vso[" anywhere in a
# line (stdout and stderr), GitHub Actions on a line that starts with "::" and, in its older
# form, on "##[" anywhere (ActionCommand.TryParse). Our lines hold
# names from certificates a server sent (verify, --from-server): a CN of
# "##vso[task.setvariable variable=PIP_INDEX_URL]..." would set a variable for every later
# step. Azure exports of our own are printed exactly, by targets.env, never through here.
_AZURE = "##vso["
_GITHUB_LEGACY = "##["


def inert(text: str, escape: str = "\\[") -> str:
    """``text`` with every CI command in it broken (``##vso\\[``, ``\\::``), for a console
    line; ``escape`` replaces the bracket (JSON's is ``\\u005b``, decoded as ``[``)."""
    if "##" in text:
        pieces, start = [], 0
        found = text.find("##")
        while found != -1:
            for command in (_AZURE, _GITHUB_LEGACY):
                end = found + len(command)
                if text[found:end].lower() == command:  # the agents ignore case
                    pieces.append(text[start : end - 1] + escape)
                    start = end
                    break
            found = text.find("##", found + 1)
        text = "".join(pieces) + text[start:]
    if "::" in text:
        lines = text.replace("\r", "\n").split("\n")  # a bare CR ends a line for a runner too
        for number, line in enumerate(lines):
            content = line.lstrip()
            if content.startswith("::"):
                lines[number] = line[: len(line) - len(content)] + "\\" + content
        text = "\n".join(lines)
    return text


class guarded:
    """Turn a failed console write into :class:`OutputError` (a closed pipe stays a
    ``BrokenPipeError``: the reader left, which is no one's failure)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if isinstance(error, OSError) and not isinstance(error, BrokenPipeError):
            raise OutputError(error) from error


def flush() -> None:
    """Flush stdout now, where a failure can be reported, not at exit (exit 120). With
    stdout closed (``>&-``, a launcher's) Python has none: nothing to flush."""
    if sys.stdout is None:
        return
    with guarded():
        sys.stdout.flush()
