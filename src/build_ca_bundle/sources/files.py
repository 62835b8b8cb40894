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
    read_certificate_file,
)

NAME = "extra"

# Names a certificate file in a folder usually has. Others (README, .key) are skipped.
CERTIFICATE_SUFFIXES = frozenset({".pem", ".crt", ".cer", ".der", ".ca-bundle"})


def load(paths: Sequence[Path], own_outputs: Iterable[Path] = ()) -> SourceResult:
    """Read every named file, and every certificate file in every named folder."""
    result = SourceResult(name=NAME, kind=SourceKind.EXTRA)
    own = {_resolved(path) for path in own_outputs}
    for path in paths:
        if path.is_dir():
            result.inputs.append(path)
            try:
                children = sorted(child for child in path.iterdir() if child.is_file())
            except OSError as exc:
                result.problems.append(Problem(str(path), f"cannot list folder ({exc.strerror})"))
                continue
            for child in children:
                if child.suffix.lower() in CERTIFICATE_SUFFIXES:
                    _read_into(result, child, own)
        elif path.exists():
            _read_into(result, path, own)
        else:
            result.problems.append(Problem(str(path), "skipped: no such file or folder"))
    return result


def _read_into(result: SourceResult, path: Path, own: set[Path]) -> None:
    if _resolved(path) in own:
        result.problems.append(Problem(str(path), "skipped: this is our own output bundle"))
        return
    result.inputs.append(path)
    parsed, problems = read_certificate_file(path)
    result.problems.extend(problems)
    if parsed and BUNDLE_MARKER in _head(path):
        result.problems.append(Problem(str(path), "skipped: a bundle written by build-ca-bundle"))
        return
    for item in parsed:
        verdict = Verdict.TRUST if item.aux is None else aux_verdict(item.certificate, item.aux)
        if verdict is not None:
            result.candidates.append(Candidate(item.certificate, verdict, str(path), "named file"))


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(4096)
    except OSError:
        return b""


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()
