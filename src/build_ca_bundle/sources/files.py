"""Extra certificate files and folders named by the user (``--extra-ca``) or the policy.

These are roots IT hands out as files. A file may be PEM (one or many certificates, also
``TRUSTED CERTIFICATE``) or a single DER certificate; a folder is read one level deep.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from build_ca_bundle.certificates import (
    BUNDLE_MARKER,
    Candidate,
    Problem,
    SourceKind,
    SourceResult,
    Verdict,
    aux_verdict,
    parse_bytes,
)
from build_ca_bundle.regular import read_bytes

NAME = "extra"

# Names a certificate file in a folder usually has. Others (README, .key) are skipped.
CERTIFICATE_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".der", ".ca-bundle"})


def load(paths: Sequence[Path], own_outputs: Iterable[Path] = ()) -> SourceResult:
    """Read every named file, and every certificate file in every named folder."""
    result = SourceResult(name=NAME, kind=SourceKind.EXTRA)
    own = {_resolved(path) for path in own_outputs}
    for path in paths:
        blocks = 0  # certificates read from it (good ones: a file of junk gives nothing)
        said_before = len(result.problems)
        if path.is_dir():
            result.inputs.append(path)
            try:
                children = sorted(path.iterdir())
            except OSError as exc:
                _unread(result, Problem(str(path), f"cannot list folder ({exc.strerror})"))
                continue
            for child in children:
                skipped = _skipped_in_folder(child)
                if skipped is None:
                    blocks += _read_into(result, child, own)
                elif skipped == _NOT_THERE:  # a link into a share that is not mounted
                    _unread(result, Problem(str(child), skipped))
                elif skipped:  # an IT-provided root must not go missing without a word
                    result.problems.append(Problem(str(child), skipped))
        elif path.exists():
            blocks += _read_into(result, path, own)
        else:
            _unread(result, Problem(str(path), "skipped: no such file or folder"))
            continue
        if not blocks:
            # No certificate could be read from it: an empty mount point, an emptied file, a
            # file of junk or of broken blocks (a download cut short), only subfolders or
            # misnamed files. A bundle built without it would drop the roots it gave last
            # time. (A bad certificate beside good ones is only skipped, and said.)
            why = [
                problem
                for problem in result.problems[said_before:]
                if problem.message != _EMPTY_FILE and all(problem is not u for u in result.unread)
            ]
            result.unread.extend(why)
            if not why:
                _unread(result, Problem(str(path), _GAVE_NOTHING))
    return result


_NOT_THERE = "skipped: a link to a file that is not there (a share not mounted yet?)"
_GAVE_NOTHING = "gave no certificate (an empty folder or file: a share not mounted yet?)"
_EMPTY_FILE = "skipped: an empty file"


def _unread(result: SourceResult, problem: Problem) -> None:
    result.problems.append(problem)
    result.unread.append(problem)


def _skipped_in_folder(child: Path) -> str | None:
    """Why a folder's entry is not read ("" for one to pass over without a word: a dotfile);
    None if it is read."""
    if child.name.startswith("."):
        return ""  # .DS_Store, editors' swap files, our own temp files
    if child.is_dir():
        return "skipped: a folder inside an --extra-ca folder (name it to read it too)"
    if not child.is_file():  # a dangling link: one into a share that is not mounted
        return _NOT_THERE if child.is_symlink() else "skipped: not a regular file"
    if child.suffix.lower() in CERTIFICATE_SUFFIXES:
        return None
    if not _looks_like_certificates(child):
        return ""  # README.txt, notes: not ours to read or to mention
    names = ", ".join(sorted(CERTIFICATE_SUFFIXES))
    return f"skipped: holds certificates but its name does not end in {names}; rename it"


def _looks_like_certificates(path: Path) -> bool:
    """PEM certificate text or DER (a SEQUENCE) at the start of the file."""
    head = _head(path)
    return b"CERTIFICATE-----" in head or head[:2] in (b"\x30\x82", b"\x30\x81")


def _read_into(result: SourceResult, path: Path, own: set[Path]) -> int:
    """Read one file's certificates into ``result``; how many it held (a bad one is skipped,
    and said, and not counted: a file of nothing but bad ones gave nothing)."""
    if _resolved(path) in own:
        result.problems.append(Problem(str(path), "skipped: this is our own output bundle"))
        return 1  # something is there: the mistake is said, not "gave nothing"
    result.inputs.append(path)
    try:
        data = read_bytes(path)
    except OSError as exc:
        _unread(result, Problem(str(path), f"skipped: cannot read ({exc.strerror or exc})"))
        return 0
    if not data:
        result.problems.append(Problem(str(path), _EMPTY_FILE))
        return 0
    parsed, problems = parse_bytes(data, str(path))
    result.problems.extend(problems)
    if parsed and BUNDLE_MARKER in data[:_HEAD]:
        result.problems.append(Problem(str(path), "skipped: a bundle written by build-ca-bundle"))
        return len(parsed)
    for item in parsed:
        verdict = Verdict.TRUST if item.aux is None else aux_verdict(item.certificate, item.aux)
        if verdict is not None:
            result.candidates.append(Candidate(item.certificate, verdict, str(path), "named file"))
    return len(parsed)  # a distrusted one counts: the file said something


_HEAD = 4096  # where our bundle's marker and a PEM or DER start are looked for


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_HEAD)
    except OSError:
        return b""


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()
