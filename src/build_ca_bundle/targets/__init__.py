"""Tools we configure to use the bundle. One module per tool.

Each offers ``plan(...) -> Plan`` (what would change, and what would shadow it, touching
nothing) and ``apply(plan) -> list[Change]``, so ``--dry-run`` is a plan that is not applied.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Change:
    """One setting in one file: what it was and what it becomes."""

    target: str  # the tool: "pip", "git", ...
    path: Path  # the file that holds the setting
    key: str  # e.g. "global.cert"
    old: str | None  # None: the setting was absent
    new: str | None  # None: the setting is removed
    notes: tuple[str, ...] = ()  # e.g. "removed a UTF-8 byte order mark; backup at …"

    def __str__(self) -> str:
        old = "(unset)" if self.old is None else self.old
        new = "(unset)" if self.new is None else self.new
        return f"{self.path}: {self.key}: {old} -> {new}"


class Severity(enum.Enum):
    INFO = "info"
    WARNING = "warning"  # our setting may not apply
    ERROR = "error"  # our setting will not apply, or verification is off


@dataclass(frozen=True)
class Finding:
    """Something that shadows or undoes our setting, with where it is and the exact fix."""

    severity: Severity
    where: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Plan:
    """What a target would change, and what would still get in the way."""

    target: str
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    # Work that apply() does beyond setting keys, e.g. the cleaned text of a file with a BOM.
    pending: dict[Path, bytes] = field(default_factory=dict, repr=False)


def check_unchanged(path: Path, original: bytes | None) -> None:
    """Refuse to write ``path`` if it changed since we read it (``None``: did not exist):
    a person or another tool edited it meanwhile, and their edit must not be lost."""
    from build_ca_bundle.errors import ConfigError

    try:
        now: bytes | None = path.read_bytes()
    except FileNotFoundError:
        now = None
    except OSError as error:
        raise ConfigError(f"cannot read {path} ({error.strerror})") from error
    if now != original:
        raise ConfigError(
            f"{path} changed since it was read; nothing was written to it",
            hint="run build-ca-bundle again",
        )
