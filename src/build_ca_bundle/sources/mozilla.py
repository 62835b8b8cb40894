"""certifi's bundle: Mozilla's roots, taken as they are.

Named ``mozilla`` so it never shadows the ``certifi`` package.
"""

from __future__ import annotations

from pathlib import Path

from build_ca_bundle import paths
from build_ca_bundle.certificates import (
    Candidate,
    SourceKind,
    SourceResult,
    Verdict,
    read_certificate_file,
)

NAME = "certifi"


def load(path: Path | None = None) -> SourceResult:
    """Read certifi's ``cacert.pem`` (or ``path``, for tests and pinned copies)."""
    path = path or paths.certifi_bundle()
    parsed, problems = read_certificate_file(path, allow_der=False)
    watched = paths.certifi_origin(path) if path == paths.certifi_bundle() else path
    result = SourceResult(name=NAME, kind=SourceKind.BASE, problems=problems, inputs=[watched])
    result.candidates = [
        Candidate(item.certificate, Verdict.TRUST, NAME, "Mozilla root via certifi")
        for item in parsed
    ]
    return result
