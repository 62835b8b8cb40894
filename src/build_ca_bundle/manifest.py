"""The record of the last full run, which makes an unchanged run nearly free.

Written next to the bundle after every full run: the digest of the options, the size, times
and identity of every file and folder that run read (store files, certifi's bundle, the
policy, extra files, pip's config files) or wrote (the bundle), and the moment the first root
in it expires. A later run that finds all of it the same has nothing to do, and knows it
without importing ``cryptography`` or parsing a single certificate. Any doubt — a missing or
unreadable manifest, another version, one changed time — means a full run: correctness beats
speed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

FORMAT = 1
SUFFIX = ".manifest.json"

Signature = list[int | str] | None


def path_for(bundle: Path) -> Path:
    return bundle.with_name(bundle.name + SUFFIX)


def signature(path: Path) -> Signature:
    """What changes when a file or folder changes: size, times, identity, a link's target.

    A folder's modification time changes when an entry is added, removed or renamed in it.
    """
    try:
        stat = path.stat()
    except OSError:
        return None
    signed: list[int | str] = [
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ctime_ns,
        stat.st_ino,
        stat.st_dev,
        stat.st_mode,
    ]
    if path.is_symlink():
        with contextlib.suppress(OSError):
            signed.append(str(path.readlink()))
    return signed


@dataclass
class Manifest:
    key: str
    inputs: dict[str, Signature]
    outputs: dict[str, Signature]
    expires: str | None  # ISO time of the first expiry among the bundle's roots
    warnings: list[str] = field(default_factory=list)  # what the last full run warned about
    certificates: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "key": self.key,
                "certificates": self.certificates,
                "expires": self.expires,
                "inputs": self.inputs,
                "outputs": self.outputs,
                "warnings": self.warnings,
            },
            indent=1,
            sort_keys=True,
        )


def record(
    bundle: Path,
    *,
    key: str,
    inputs: Iterable[Path],
    outputs: Sequence[Path],
    expires: dt.datetime | None,
    certificates: int,
    warnings: Sequence[str] = (),
) -> Manifest:
    """Take the signatures now, right after the full run wrote its files."""
    return Manifest(
        key=key,
        inputs={str(path): signature(path) for path in sorted(set(inputs), key=str)},
        outputs={str(path): signature(path) for path in [bundle, *outputs]},
        expires=expires.isoformat() if expires else None,
        warnings=list(warnings),
        certificates=certificates,
    )


def write(bundle: Path, manifest: Manifest) -> None:
    from build_ca_bundle.inifile import write_atomically

    write_atomically(path_for(bundle), manifest.to_json().encode("utf-8"), mode=0o644)


def remove(bundle: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path_for(bundle).unlink()


def load(bundle: Path) -> Manifest | None:
    try:
        data = json.loads(path_for(bundle).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            return None
        return Manifest(
            key=str(data["key"]),
            inputs=dict(data["inputs"]),
            outputs=dict(data["outputs"]),
            expires=data.get("expires"),
            warnings=[str(item) for item in data.get("warnings", [])],
            certificates=int(data.get("certificates", 0)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def stale_reason(bundle: Path, key: str, now: dt.datetime) -> str | None:
    """None when the last full run's result still holds; otherwise why not, in a few words."""
    manifest = load(bundle)
    if manifest is None:
        return "no record of an earlier run"
    if manifest.key != key:
        return "the options, policy or environment changed"
    for path, signed in manifest.outputs.items():
        if signed is None or signature(Path(path)) != signed:
            return f"{path} was changed or removed since the last run"
    for path, signed in manifest.inputs.items():
        if signature(Path(path)) != signed:
            return f"{path} changed"
    if manifest.expires and dt.datetime.fromisoformat(manifest.expires) <= now:
        return "a root in the bundle has expired"
    return None
