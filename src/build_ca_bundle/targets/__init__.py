"""Tools we configure to use the bundle. One module per tool.

Each offers ``plan(...) -> Plan`` (what would change, and what would shadow it, touching
nothing) and ``apply(plan) -> list[Change]``, so ``--dry-run`` is a plan that is not applied.
"""

from __future__ import annotations

import enum
import os
import stat
from pathlib import Path

from build_ca_bundle.regular import read_bytes
from build_ca_bundle.values import Value

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import Final


# A Change note: the file did not exist before. undo removes it again if it holds nothing else.
CREATED_NOTE = "created the file"
# A Change note (Windows): the value before was REG_EXPAND_SZ, and undo writes it back so.
EXPANDABLE_NOTE = "the value before was REG_EXPAND_SZ"
_BACKUP_AT = "backup at "  # a Change note, maybe after other text: the backup it made
# How an undo outcome begins when a setting is not ours any more: undo leaves it, and the
# backup of its file, to the person who changed it.
LEFT_ALONE = "left alone: "
NOT_UNDONE = "not undone: "  # an undo outcome: the setting is as it was, and still ours
# In an undo outcome: the revert did not give the file back whole (npm drops comments), so
# its backup stays for the person to take what they need from.
BACKUP_KEPT = "; the backup with its comments stays at "
# In a pip undo outcome: doctor --fix removed trusted-host lines that undo does not bring
# back (they switch verification off), so the backup, their only copy, stays.
TRUSTED_HOSTS_KEPT = "; the backup, with the trusted-host lines no longer in the file, stays at "


def keeps_backup(outcome: str) -> bool:
    """Whether an undo outcome says the file's backup stays (see BACKUP_KEPT)."""
    return BACKUP_KEPT in outcome or TRUSTED_HOSTS_KEPT in outcome


def real_file(path: Path) -> Path:
    """The file to write or remove for ``path``: through a link (dotfile managers link
    pip.conf and start-up files), so that the person's link stays a link."""
    return path.resolve() if path.is_symlink() else path


def backup_path(path: Path) -> Path:
    """Where a file's bytes from before our first change are kept."""
    return path.with_name(path.name + ".bak")


def has_backup(path: Path) -> bool:
    """Whether something is at ``path``'s backup name already: a backup of ours, a person's
    own file, or a link, dangling or not. The oldest backup is the person's file, so a later
    change never replaces it."""
    return os.path.lexists(backup_path(path))


def refuse_read_only(path: Path) -> None:
    """ConfigError if ``path`` exists and is read-only for us (chmod 444 on purpose, another
    owner): the change is not made, though its folder would let a rename through. Before a
    backup, and before a tool that writes its own file (git config) is run."""
    from build_ca_bundle import inifile
    from build_ca_bundle.errors import ConfigError

    real = real_file(path)
    if not real.exists():
        return
    try:
        inifile.refuse_read_only(real)
    except PermissionError as error:
        raise ConfigError(
            f"cannot write {path} ({error.strerror}); it was left unchanged",
            hint="make it writable if it may be edited, or make the change yourself",
        ) from error


def write_backup(path: Path, data: bytes) -> bool:
    """Keep ``data``, the bytes of ``path`` before our first change, at its backup name,
    unless something is there (:func:`has_backup`); True if it was written.

    Never through a link at that name: a root run would write wherever a user's link led
    (/etc/profile.d). The backup gets the permission bits of the file it keeps (0600 for a
    pip.conf or .npmrc that holds a proxy password or a token), not 0644."""
    from build_ca_bundle import inifile

    if has_backup(path):
        return False
    try:
        mode = stat.S_IMODE(real_file(path).stat().st_mode)
    except OSError:
        mode = None  # the file is gone (undo puts it back from here): the default mode
    else:
        refuse_read_only(path)  # no backup of a file we may not change
    inifile.write_atomically(backup_path(path), data, mode=mode)
    return True


def backup_note(path: Path) -> str:
    return f"{_BACKUP_AT}{path}"


def as_planned(note: str) -> str:
    """A change's note as a dry run says it: nothing was done."""
    if note == CREATED_NOTE:
        return "would create the file"
    if note.startswith(_BACKUP_AT):
        return "would keep a " + note
    return note


def backup_of(change: Change) -> Path | None:
    """The backup this change made of its file, if it made one (see :func:`backup_note`)."""
    for note in change.notes:
        _, found, where = note.rpartition(_BACKUP_AT)
        if found:
            return Path(where)
    return None


class Change(Value):
    """One setting in one file: what it was and what it becomes."""

    __slots__ = ("target", "path", "key", "old", "new", "notes")
    target: Final[str]  # the tool: "pip", "git", ...
    path: Final[Path]  # the file that holds the setting
    key: Final[str]  # e.g. "global.cert"
    old: Final[str | None]  # None: the setting was absent
    new: Final[str | None]  # None: the setting is removed
    notes: Final[tuple[str, ...]]  # e.g. "removed a UTF-8 byte order mark; backup at …"

    def __init__(
        self,
        target: str,
        path: Path,
        key: str,
        old: str | None,
        new: str | None,
        notes: tuple[str, ...] = (),
    ) -> None:
        self.target = target
        self.path = path
        self.key = key
        self.old = old
        self.new = new
        self.notes = notes

    def __str__(self) -> str:
        old = "(unset)" if self.old is None else self.old
        new = "(unset)" if self.new is None else self.new
        return f"{self.path}: {self.key}: {old} -> {new}"


class Severity(enum.Enum):
    INFO = "info"
    WARNING = "warning"  # our setting may not apply
    ERROR = "error"  # our setting will not apply, or verification is off


class Finding(Value):
    """Something that shadows or undoes our setting, with where it is and the exact fix."""

    __slots__ = ("severity", "where", "message", "fix")
    severity: Final[Severity]
    where: Final[str]
    message: Final[str]
    fix: Final[str]

    def __init__(self, severity: Severity, where: str, message: str, fix: str) -> None:
        self.severity = severity
        self.where = where
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class Plan(Value, mutable=True):
    """What a target would change, and what would still get in the way."""

    __slots__ = ("target", "changes", "findings", "pending", "files", "watched")
    _hidden = frozenset({"pending", "files", "watched"})
    target: str
    changes: list[Change]
    findings: list[Finding]
    # Work that apply() does beyond setting keys, e.g. the cleaned text of a file with a BOM.
    pending: dict[Path, bytes]
    # The config file the setting lives in, changed or not: the manifest watches it (a
    # person's `git config` or `npm config delete` means a full run), and a machine-wide
    # run refuses it when users could change it, as it does a file it edits.
    files: list[Path]
    # Watched too, though no config of the tool's: what, once changed, lets a run configure
    # it (PATH's folders while it is not installed; npm's .bak held by another file).
    watched: list[Path]

    def __init__(
        self,
        target: str,
        changes: list[Change] | None = None,
        findings: list[Finding] | None = None,
        pending: dict[Path, bytes] | None = None,
    ) -> None:
        self.target = target
        self.changes = [] if changes is None else changes
        self.findings = [] if findings is None else findings
        self.pending = {} if pending is None else pending
        self.files = []
        self.watched = []


def check_unchanged(path: Path, original: bytes | None) -> None:
    """Refuse to write ``path`` if it changed since we read it (``None``: did not exist):
    a person or another tool edited it meanwhile, and their edit must not be lost."""
    from build_ca_bundle.errors import ConfigError

    try:
        now: bytes | None = read_bytes(path)
    except FileNotFoundError:
        now = None
    except OSError as error:
        raise ConfigError(f"cannot read {path} ({error.strerror})") from error
    if now != original:
        raise ConfigError(
            f"{path} changed since it was read; nothing was written to it",
            hint="run build-ca-bundle again",
        )
