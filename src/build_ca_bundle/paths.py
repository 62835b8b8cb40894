"""Where the bundle goes by default, per scope and OS. Light: the unchanged-run check needs it
before anything heavy is imported."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Mapping
from pathlib import Path, PureWindowsPath

from build_ca_bundle.scope import Scope

BUNDLE_NAME = "ca-bundle.pem"
APP = "build-ca-bundle"

# Machine-wide folders, writable by administrators only, one per OS.
_MACHINE_FOLDERS = {
    # Linux and other Unix: beside the policy file IT manages.
    "linux": "/etc/build-ca-bundle",
    # macOS: machine-wide app data, where an MDM or an admin puts files.
    "darwin": "/Library/Application Support/build-ca-bundle",
}


def default_bundle_path(
    scope: Scope, platform: str = sys.platform, environ: Mapping[str, str] | None = None
) -> Path:
    """The bundle's path for ``scope`` when ``--output`` does not say."""
    environ = os.environ if environ is None else environ
    if scope is Scope.GLOBAL:
        if platform == "win32":
            program_data = environ.get("PROGRAMDATA") or r"C:\ProgramData"
            return Path(PureWindowsPath(program_data, APP, BUNDLE_NAME))
        return Path(_MACHINE_FOLDERS.get(platform, _MACHINE_FOLDERS["linux"]), BUNDLE_NAME)
    if scope is Scope.SITE:
        # The environment's own share folder: removed with the venv, like pip's site config.
        return Path(sys.prefix, "share", APP, BUNDLE_NAME)
    from build_ca_bundle.quick import user_bundle_path

    # The logon path's own answer, so the two always find one manifest: platformdirs'
    # arithmetic on Linux and macOS (without its tempfile, random and shutil imports),
    # platformdirs itself on Windows. Other systems (or another platform named in tests):
    known = user_bundle_path(environ, platform)
    if known is not None:
        return Path(known)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP, appauthor=False), BUNDLE_NAME)


@functools.cache  # asked five times a full run (preload, reader, check); certifi stays put
def certifi_bundle() -> Path:
    """certifi's ``cacert.pem``, found without importing certifi when it is a plain file:
    ``certifi.where()`` imports importlib.resources and zipfile, which cost more than
    reading the file (issue 7). A zipped install gets ``certifi.where()``'s extracted copy."""
    import importlib.util

    spec = importlib.util.find_spec("certifi")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder, "cacert.pem")
        if candidate.is_file():
            return candidate
    import certifi

    return Path(certifi.where())


def certifi_shadows(bundle_file: Path) -> list[Path]:
    """The import-path entries searched before certifi's folder: a certifi installed into one
    of them later (``pip install --user -U certifi`` beside a system certifi) is the one the
    next run imports, with the old ``cacert.pem`` untouched. Watched, its arrival brings a
    full run. The first entry, the script's folder (or the current one under ``python -m``),
    is left out: it changes with every install of a script (or by where the run starts), and
    a ``certifi/`` there is not an install."""
    package_folder = bundle_file.parent.parent
    shadows = []
    # -P (3.11+) puts no such entry first
    for entry in sys.path if getattr(sys.flags, "safe_path", False) else sys.path[1:]:
        folder = Path(entry).absolute()
        if folder == package_folder:
            break
        shadows.append(folder)
    return shadows


def certifi_origin(bundle_file: Path) -> Path:
    """The file whose change means certifi's roots changed: ``cacert.pem`` itself, or for a
    zipped install (a zipapp, a .pyz) the archive it is in. ``certifi.where()`` extracts a
    copy to a new temporary file every run: watched, every run looked like a certifi upgrade."""
    import importlib.util

    spec = importlib.util.find_spec("certifi")
    origin = Path(spec.origin) if spec and spec.origin else None
    if origin is None or origin.is_file() or bundle_file.parent == origin.parent:
        return bundle_file
    for container in origin.parents:
        if container.is_file():  # the archive
            return container
    return bundle_file


def certifi_version(bundle_file: Path) -> tuple[int, ...] | None:
    """The version of the certifi whose ``cacert.pem`` this is ("2026.10.19" as (2026, 10,
    19)), read from the ``__init__.py`` beside it; None if that says no version."""
    import re

    try:
        text = bundle_file.with_name("__init__.py").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found = re.search(r"""^__version__\s*=\s*["']([0-9.]+)["']""", text, re.MULTILINE)
    return tuple(int(part) for part in found.group(1).split(".") if part) if found else None
