"""Our own record of every setting we changed, so ``undo`` can put each one back.

Kept next to the bundle. For each (tool, file, key) it holds the value from before our *first*
change and the value we last wrote: ``undo`` restores the first only while the setting still
holds the second, so a value a person changed since is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from build_ca_bundle.errors import ConfigError
from build_ca_bundle.manifest import CHANGE_RECORD_SUFFIX
from build_ca_bundle.options import TOOLS as TARGETS
from build_ca_bundle.regular import ForeignFileError, read_own_bytes
from build_ca_bundle.targets import CREATED_NOTE, EXPANDABLE_NOTE, Change, backup_note, backup_of

SUFFIX = CHANGE_RECORD_SUFFIX
FORMAT = 1


def path_for(bundle: Path) -> Path:
    return bundle.with_name(bundle.name + SUFFIX)


def load(bundle: Path) -> list[Change]:
    """The recorded changes; none if there is no record. A record this version cannot
    read in full is an error, never "nothing to undo": undo would then remove the bundle
    and the record, and with it the only note of what was there before."""
    path = path_for(bundle)
    try:
        data = json.loads(read_own_bytes(path))
    except FileNotFoundError:
        return []
    except ForeignFileError as exc:
        # Planted (in /tmp, between a check by path and this read): its changes would have
        # us write the values and remove the "backups" another account chose.
        from build_ca_bundle.errors import UnsafePathError

        raise UnsafePathError(
            f"the change record {path} is not ours: {exc.strerror}; nothing was changed",
            hint=f"if you trust what it says, make it yours alone (chmod go-w {path}) and "
            "run again; else keep bundles in a folder only you can write",
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW: a record is never read through a link
            raise _unreadable(
                path, "it is a link; a record of ours is never read through one"
            ) from exc
        raise _unreadable(path, str(exc)) from exc
    except (ValueError, RecursionError) as exc:
        raise _unreadable(path, str(exc)) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise _unreadable(path, f"not a change record of format {FORMAT} (found {found!r})")
    items = data.get("changes")
    if not isinstance(items, list) or not all(_well_formed(item) for item in items):
        raise _unreadable(path, "a change in it lacks a field or has one of the wrong type")
    return [
        Change(
            target=item["target"],
            path=Path(item["path"]),
            key=item["key"],
            old=item["old"],
            new=item["new"],
            notes=_notes(item.get("created"), item.get("backup"), item.get("old_expandable")),
        )
        for item in items
    ]


def _unreadable(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"cannot read our change record {path}: {why}",
        hint="undo needs it: restore it from a backup (or the version of build-ca-bundle that "
        "wrote it), or revert the settings by hand and delete it",
    )


def _well_formed(item: object) -> bool:
    if not isinstance(item, dict) or item.get("target") not in TARGETS:
        return False
    strings = all(isinstance(item.get(name), str) for name in ("path", "key"))
    values = all(isinstance(item.get(name), (str, type(None))) for name in ("old", "new"))
    backup = isinstance(item.get("backup"), (str, type(None)))
    return strings and values and backup


def _notes(created: object, backup: object, expandable: object = False) -> tuple[str, ...]:
    """The notes of a change that undo needs, from what the record keeps of them."""
    notes = [CREATED_NOTE] if created else []
    notes += [EXPANDABLE_NOTE] if expandable else []
    notes += [backup_note(Path(backup))] if isinstance(backup, str) else []
    return tuple(notes)


def merge(recorded: Iterable[Change], applied: Iterable[Change]) -> list[Change]:
    """The record after ``applied``: the first ``old`` of each setting, the latest ``new``;
    whether the first change created the file, and the backup it made. Unless a person set
    the setting in between (a change's ``old`` is not what we last set): then what they set
    is what undo puts back, with that change's own notes, and the earlier record is theirs
    no more (undo gave back the value from before our first change, and their own was lost).
    A setting as it was before our first change is that change never made (a run killed
    after the record and the backup, before the file) or put back by hand: the first
    change's notes stay, with its backup, which this change did not make again.
    """
    by_setting: dict[tuple[str, str, str], Change] = {}
    for change in [*recorded, *applied]:
        setting = (change.target, str(change.path), change.key)
        first = by_setting.get(setting, change)
        notes = first.notes
        if change.old == first.old and change.old != first.new:
            notes = tuple(dict.fromkeys([*first.notes, *change.notes]))
        elif change.old != first.new:
            first = change  # set by a person since our last change: theirs is the "before"
            notes = change.notes
        by_setting[setting] = Change(
            change.target, change.path, change.key, first.old, change.new, notes
        )
    return list(by_setting.values())


def _backup(change: Change) -> str | None:
    found = backup_of(change)
    return None if found is None else str(found)


def add(bundle: Path, applied: Iterable[Change]) -> list[Change]:
    """Record ``applied`` (before they are made); the changes as recorded, each with what
    undo is to put back (see :func:`_inherited`)."""
    applied = [_inherited(change, bundle) for change in applied]
    if applied:
        save(bundle, merge(load(bundle), applied))
    return applied


def drop_unrecorded_backups(made: Iterable[Change], recorded: Iterable[Change]) -> None:
    """Remove each backup a change made that its record does not keep: the file held
    another bundle's setting, and that bundle had created it (so it made none). Such a
    backup holds nothing of the person's, undo must not put back a path that bundle's undo
    removes, and kept, nothing ever removed it and no later change could back the file up
    (its name was taken)."""
    for change, entry in zip(made, recorded, strict=True):
        backup = backup_of(change)
        if backup is not None and backup != backup_of(entry):
            with contextlib.suppress(FileNotFoundError):
                backup.unlink()


def _inherited(change: Change, bundle: Path) -> Change:
    """A setting that named another bundle of ours: that bundle's record holds what was
    there before it, and that is what undo must put back. (That bundle's own undo then finds
    the setting no longer its own and leaves it; restoring its path would point pip at a
    file its undo removed.)"""
    if change.old is None:
        return change
    other = Path(change.old).expanduser()
    if not (other.is_absolute() and other.name) or other == bundle:
        return change  # "" or a relative value names no bundle of ours
    if not path_for(other).is_file() or not _written_by_us(path_for(other)):
        return change
    try:
        earlier = load(other)
    except ConfigError:  # an unreadable record proves nothing
        return change
    setting = (change.target, str(change.path), change.key)
    for item in earlier:  # its first change, with what it made (the file, its backup)
        if (item.target, str(item.path), item.key) == setting:
            return Change(change.target, change.path, change.key, item.old, change.new, item.notes)
    return change


def _written_by_us(record: Path) -> bool:
    """Whether no other account could have written ``record``: for root, the folders above
    it too. Another account's record would have this run restore a value they chose and,
    at undo, remove the "backup" they named (any file, as root)."""
    from build_ca_bundle.bundle import check_root_file
    from build_ca_bundle.errors import UnsafePathError

    if sys.platform == "win32":
        return True  # ACLs: not checked here, as for the machine-wide files
    else:  # noqa: RET505 - mypy checks each platform's branch only under its own platform
        if os.geteuid() == 0:
            try:
                check_root_file(record, "the record")
            except UnsafePathError:
                return False
            return True
        try:
            info = record.stat()
        except OSError:
            return False
        return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def save(bundle: Path, changes: Iterable[Change]) -> None:
    from build_ca_bundle.inifile import write_atomically

    payload = {
        "format": FORMAT,
        "changes": [
            {
                "target": change.target,
                "path": str(change.path),
                "key": change.key,
                "old": change.old,
                "new": change.new,
                "created": CREATED_NOTE in change.notes,  # the file: undo may remove it
                "backup": _backup(change),  # made by this change: undo removes it after
                "old_expandable": EXPANDABLE_NOTE in change.notes,  # Windows: REG_EXPAND_SZ
            }
            for change in changes
        ],
    }
    path = path_for(bundle)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(payload, indent=1).encode("utf-8"), mode=0o644, ours=True)


def remove(bundle: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path_for(bundle).unlink()
