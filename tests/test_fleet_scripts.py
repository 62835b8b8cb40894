"""The fleet and CI scripts, run for real where they can run here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import Home
from tests.pki import make_root

REPO = Path(__file__).resolve().parent.parent


def store_env(tmp_path: Path) -> dict[str, str]:
    store = tmp_path / "store.pem"
    store.write_bytes(make_root("Fleet Corp Root").pem + make_root("Second Corp Root").pem)
    (tmp_path / "certs").mkdir()
    bin_dir = Path(sys.executable).parent  # where the console script is installed
    return {
        **os.environ,
        "SSL_CERT_FILE": str(store),
        "SSL_CERT_DIR": str(tmp_path / "certs"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }


def test_profile_d_snippet_builds_and_exports(isolated_home: Home, tmp_path: Path) -> None:
    script = REPO / "scripts" / "fleet" / "profile.d-build-ca-bundle.sh"
    completed = subprocess.run(
        ["sh", "-c", f'. "{script}"; printf "%s\\n" "$PIP_CERT"'],
        capture_output=True,
        text=True,
        env=store_env(tmp_path),
        check=True,
        timeout=120,
    )
    bundle = isolated_home.data / "build-ca-bundle" / "ca-bundle.pem"
    assert completed.stdout.strip() == str(bundle)
    assert bundle.exists()


def test_dockerfile_snippet_splits_extra_roots_one_per_file(tmp_path: Path) -> None:
    """The snippet's awk splits extra-roots.pem into the one-certificate *.crt files
    update-ca-certificates wants."""
    snippet = (REPO / "scripts" / "ci" / "Dockerfile.snippet").read_text()
    program = re.search(r"awk '(.*?)' /tmp/extra-roots.pem", snippet)
    assert program is not None
    roots = [make_root(f"Extra {n}") for n in range(3)]
    extra = tmp_path / "extra-roots.pem"
    extra.write_bytes(b"# header\n" + b"".join(b"# Source: x\n" + r.pem for r in roots))
    target = tmp_path / "ca-certificates"
    target.mkdir()
    awk = program.group(1).replace("/usr/local/share/ca-certificates", str(target))
    subprocess.run(["awk", awk, str(extra)], check=True)
    files = sorted(target.glob("*.crt"))
    assert len(files) == 3
    for file, root in zip(files, roots, strict=True):
        assert file.read_bytes().count(b"BEGIN CERTIFICATE") == 1
        assert root.pem in file.read_bytes()
