"""certifi's bundle: Mozilla's roots, taken as they are.

Named ``mozilla`` so it never shadows the ``certifi`` package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from build_ca_bundle.certificates import (
    Candidate,
    SourceKind,
    SourceResult,
    Verdict,
    read_certificate_file,
)

NAME = "certifi"


def bundle_path() -> Path:
    """certifi's ``cacert.pem``, found without importing certifi when it is a plain file:
    ``certifi.where()`` imports importlib.resources and zipfile, which cost more than
    reading the file (issue 7). A zipped install gets ``certifi.where()``'s extracted copy."""
    spec = importlib.util.find_spec("certifi")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder, "cacert.pem")
        if candidate.is_file():
            return candidate
    import certifi

    return Path(certifi.where())


def load(path: Path | None = None) -> SourceResult:
    """Read certifi's ``cacert.pem`` (or ``path``, for tests and pinned copies)."""
    path = path or bundle_path()
    parsed, problems = read_certificate_file(path, allow_der=False)
    result = SourceResult(name=NAME, kind=SourceKind.BASE, problems=problems, inputs=[path])
    result.candidates = [
        Candidate(item.certificate, Verdict.TRUST, NAME, "Mozilla root via certifi")
        for item in parsed
    ]
    return result
