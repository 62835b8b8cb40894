"""The record of the last full run, which makes an unchanged run nearly free.

Written next to the bundle after every full run: the run's key (tool, Python, flags,
environment), the size, times and identity of every file and folder that run read (store
files, certifi's bundle, the policy, extra files, pip's config files) or wrote (the bundle),
and the moment the first root in it expires. A later run that finds all of it the same has
nothing to do, and knows it without importing ``cryptography`` or parsing a certificate. Any
doubt — a missing or unreadable record, another format, one changed time — means a full run:
correctness beats speed. It also keeps which OpenSSL loaded which bundle bytes, so that a
rebuild loads only the blocks that are new (``bundle.proof``).

Standard library only (``os``, ``json``): the logon-script path imports this and little else.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Sequence

from build_ca_bundle.console import say
from build_ca_bundle.regular import read_own_bytes
from build_ca_bundle.tempfiles import temp_target

FORMAT = 4  # 3: registry keys (Windows stores) among the inputs; 4: the folders' guards
SUFFIX = ".manifest.json"
# The change record beside the bundle (history), named here: the unchanged run looks for a
# killed run's temp file of it without importing history.
CHANGE_RECORD_SUFFIX = ".changes.json"

# Importing typing costs about 3 ms, a tenth of the logon path; the names below are for
# the type checker only (mypy takes a TYPE_CHECKING of our own as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Signature = list[Any] | None
    Record = dict[str, Any]  # what :func:`load` returns


OPTIONS_CHANGED = "the options, policy or environment changed"


def path_for(bundle: str | os.PathLike[str]) -> str:
    return os.fspath(bundle) + SUFFIX


def signature(path: str | os.PathLike[str]) -> Signature:
    """What changes when a file or folder changes: size, times, identity, a link's target.

    A folder's modification time changes when an entry is added, removed or renamed in it.
    """
    try:
        stat = os.stat(path)
    except OSError:
        return None
    signed: list[Any] = [
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ctime_ns,
        stat.st_ino,
        stat.st_dev,
        stat.st_mode,
    ]
    if os.path.islink(path):
        with contextlib.suppress(OSError):
            signed.append(os.readlink(path))
    return signed


def guard(path: str | os.PathLike[str]) -> Signature:
    """Who may change a folder or link, not what is in it: owner, group, type and mode, as
    lstat says. A folder's times change with every file written in it; its owner and mode
    only when someone makes it another account's to write."""
    try:
        status = os.lstat(path)
    except OSError:
        return None
    return [status.st_uid, status.st_gid, status.st_mode]


def guarded(
    bundle: str | os.PathLike[str], relied_on: Iterable[str | os.PathLike[str]] = ()
) -> list[str]:
    """The folders above the bundle, and above each file the run relies on only while no
    other account can change it (``relied_on``: the policy, extra CA files, a store that
    SSL_CERT_FILE names, a machine-wide config): what the full run's checks of who may
    replace them look at (bundle.check_machine_path, check_machine_file, check_root_file).
    One made writable by others since (chmod 777) means a full run, which then refuses it.
    (The files' own owner and mode are in their signatures: chmod and chown change ctime.)"""
    folders: dict[str, None] = {}
    real_folders: dict[str, str] = {}  # a folder's realpath, once: 4,000 store files share one
    for path in (bundle, *relied_on):
        # The path as given and the one its links lead to (a symlinked HOME: the folder
        # made writable is the link's target).
        absolute = os.path.abspath(path)
        folder = os.path.dirname(absolute)
        if folder not in real_folders:
            real_folders[folder] = os.path.realpath(folder)
        starts = [folder, real_folders[folder]]
        if os.path.islink(absolute):
            starts.append(os.path.dirname(os.path.realpath(absolute)))
        for start in starts:
            climbing = start
            while climbing not in folders:
                folders[climbing] = None
                parent = os.path.dirname(climbing)
                if parent == climbing:
                    break
                climbing = parent
    return list(folders)


CHANGED_DURING_RUN = ["changed during the run"]  # equal to no signature: the next run is full


def signatures(paths: Iterable[str | os.PathLike[str]]) -> dict[str, Signature]:
    return {os.fspath(path): signature(path) for path in paths}


def _settled(name: str, when_read: dict[str, Signature]) -> Signature:
    now = signature(name)
    if name in when_read and when_read[name] != now:
        return CHANGED_DURING_RUN
    return now


def record(
    bundle: str | os.PathLike[str],
    *,
    key: str,
    inputs: Iterable[str | os.PathLike[str]],
    outputs: Sequence[str | os.PathLike[str]],
    expires: float | None,
    certificates: int,
    warnings: Sequence[str] = (),
    registry_keys: Iterable[str] = (),
    loaded: str | None = None,
    options_key: str | None = None,
    not_applied: bool = False,
    arguments: Sequence[str] | None = None,
    when_read: dict[str, Signature] | None = None,
    extra_ca: Sequence[str] = (),
    relied_on: Iterable[str | os.PathLike[str]] = (),
) -> dict[str, Any]:
    """Take the signatures now, right after the full run wrote its files. ``loaded`` is the
    bundle's load proof (``bundle.proof``), if its bytes are known to load; ``not_applied``:
    a setting beats ours (exit 13), which holds, as the errors do, while nothing changed.
    ``when_read``: the stores' signatures right after they were read; one that differs now
    (an admin's update-ca-certificates while the run wrote) is recorded as changed, so the
    next run is a full one, not "unchanged" over a bundle built from the older store."""
    names = sorted({os.fspath(path) for path in inputs})
    before = when_read or {}
    registry: dict[str, str | None] = {}
    if registry_keys:  # Windows: the registry's state (elsewhere winstate is not imported)
        from build_ca_bundle import winstate

        registry = {name: winstate.signature(name) for name in sorted(set(registry_keys))}
    return {
        "format": FORMAT,
        "key": key,
        "options": options_key,  # BuildOptions.options_key: the same options, spelled otherwise
        # The CLI arguments of the run, for doctor to name it: absent in older records.
        "arguments": None if arguments is None else list(arguments),
        # The extra CA files and folders, absolute: a later run without one says what the
        # bundle loses with it (absent in older records).
        "extra_ca": list(extra_ca),
        "certificates": certificates,
        "expires": expires,  # seconds since the epoch
        "inputs": {name: _settled(name, before) for name in names},
        "registry": registry,
        "outputs": {os.fspath(p): signature(p) for p in [bundle, *outputs]},
        "guards": {folder: guard(folder) for folder in guarded(bundle, relied_on)},
        "warnings": list(warnings),
        "loaded": loaded,
        "not_applied": not_applied,  # absent in older records: then 0, until a full run
    }


def write(bundle: str | os.PathLike[str], manifest: dict[str, Any]) -> None:
    from pathlib import Path

    from build_ca_bundle.inifile import write_atomically

    # One entry a line, compact within it: readable, and json's C encoder does it (indent=
    # would switch to the pure-Python encoder, a few ms for a store of hashed files).
    lines = [f"{json.dumps(name)}:{json.dumps(value)}" for name, value in sorted(manifest.items())]
    text = "{\n" + ",\n".join(lines) + "\n}\n"
    write_atomically(Path(path_for(bundle)), text.encode("utf-8"), mode=0o644, ours=True)


def flag_check_failed(bundle: str | os.PathLike[str]) -> None:
    """The live check after this run failed on a certificate: the record says so, and the
    next run is a full one that checks again (a CI job re-run, the next logon), rather
    than "unchanged", exit 0, with nothing fixed. A full run's new record clears it."""
    recorded = load(bundle)
    if recorded is not None:
        recorded["check_failed"] = True
        with contextlib.suppress(OSError):  # then the record stays; the run's exit code spoke
            write(bundle, recorded)


def check_failed(bundle: str | os.PathLike[str]) -> bool:
    """Whether the last run's live check failed (:func:`flag_check_failed`)."""
    recorded = load(bundle)
    return recorded is not None and recorded.get("check_failed") is True


def remove(bundle: str | os.PathLike[str]) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path_for(bundle))


def load(bundle: str | os.PathLike[str]) -> dict[str, Any] | None:
    try:
        # Another account's (planted in /tmp) is none: it could name a "newer certifi".
        data = json.loads(read_own_bytes(path_for(bundle)))
    except (OSError, ValueError, RecursionError):  # RecursionError: nesting 100,000 deep
        return None
    return data if _well_formed(data, os.fspath(bundle)) else None


def _well_formed(data: object, bundle: str) -> bool:
    """Every field a record written by :func:`record` has, of its type, and the bundle
    among the outputs it watches: a record without it would call a deleted bundle current."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return False
    needed = {
        "key": str,
        "inputs": dict,
        "registry": dict,
        "outputs": dict,
        "guards": dict,
        "warnings": list,
    }
    if any(not isinstance(data.get(name), kind) for name, kind in needed.items()):
        return False
    count, expires = data.get("certificates"), data.get("expires")
    return (
        isinstance(count, int)
        and not isinstance(count, bool)
        and (expires is None or isinstance(expires, (int, float)))
        and all(isinstance(warning, str) for warning in data["warnings"])
        and bundle in data["outputs"]
    )


def loaded_proof(bundle: str | os.PathLike[str]) -> str | None:
    """The load proof the last full run recorded for the bundle, if any."""
    data = load(bundle)
    value = data.get("loaded") if data is not None else None
    return value if isinstance(value, str) else None


def stale_reason(bundle: str | os.PathLike[str], key: str, now: float) -> str | None:
    """None when the last full run's result still holds; otherwise why not, in a few words."""
    return why_stale(load(bundle), key, now, bundle)


def exit_code(manifest: dict[str, Any]) -> int:
    """The unchanged run's exit code: the last full run's, 13 (``ExitCode.NOT_APPLIED``)
    while a setting beats ours, else 0. (The errors module is not imported here.)"""
    return 13 if manifest.get("not_applied") is True else 0


def recorded_errors(manifest: dict[str, Any] | None) -> list[str]:
    """The last full run's errors (our setting will not apply: PIP_CERT beats it, say):
    they hold while nothing changed, so --check says them too."""
    warnings = [] if manifest is None else manifest["warnings"]
    return [warning for warning in map(str, warnings) if warning.startswith("error:")]


def say_unchanged(bundle: str | os.PathLike[str], manifest: dict[str, Any], *, quiet: bool) -> None:
    """What an unchanged run says: the bundle, its size, and the last full run's warnings.
    Its errors (our setting will not apply: PIP_CERT beats it, say) still hold, as nothing
    changed: they go to stderr, even with --quiet, as a full run's do."""
    if not quiet:
        count = manifest["certificates"]
        say(f"bundle unchanged: {os.fspath(bundle)} ({count} certificates); nothing to do")
    for warning in map(str, manifest["warnings"]):
        if warning.startswith("error:"):
            say(warning, sys.stderr)
        elif not quiet:
            say(warning)


def why_stale(
    manifest: dict[str, Any] | None,
    key: str | None,
    now: float,
    bundle: str | os.PathLike[str],
    *,
    options_key: Callable[[], str] | None = None,
    live_check: bool = True,
) -> str | None:
    """:func:`stale_reason` for a record already loaded. The run is the recorded one if its
    argv ``key`` is, or else the key ``options_key`` makes from the options as resolved
    (made only then: the argv key answers for the usual logon run). ``live_check``: a
    failed live check counts (the next run is a full one); doctor says it apart. A ``key``
    of None asks only whether the recorded run's inputs and outputs are as it left them."""
    if manifest is None:
        return "no record of an earlier run"
    if live_check and manifest.get("check_failed") is True:
        return "the last run's live check failed on a certificate: checking again"
    if (
        key is not None
        and manifest["key"] != key
        and (options_key is None or manifest.get("options") != options_key())
    ):
        return OPTIONS_CHANGED
    changed = (
        _changed_file(manifest)
        or _changed_store(manifest["registry"])
        or _left_by_a_killed_run(bundle, manifest)
    )
    if changed is not None:
        return changed
    expires = manifest.get("expires")
    if isinstance(expires, (int, float)) and expires <= now:
        return "a root in the bundle has expired"
    return None


def _changed_file(manifest: dict[str, Any]) -> str | None:
    changed_output = _changed_output(manifest)
    if changed_output is not None:
        return changed_output
    for path, signed in manifest["inputs"].items():
        if signature(path) != signed:
            return f"{path} changed"
    return _changed_guard(manifest)


def _changed_output(manifest: dict[str, Any]) -> str | None:
    for path, signed in manifest["outputs"].items():
        if signed is None or signature(path) != signed:
            return f"{path} was changed or removed since the last run"
    return None


def _changed_guard(manifest: dict[str, Any]) -> str | None:
    for folder, guarded_by in manifest["guards"].items():
        if guard(folder) != guarded_by:
            return f"who may write {folder} changed"
    return None


def outputs_intact(manifest: dict[str, Any] | None, bundle: str | os.PathLike[str]) -> bool:
    """Whether what the last run wrote is as it left it: every output file, who may write
    the folders above them, and no temp file of a run killed midway. Then only inputs
    (or options) may have changed, and a dry run can tell whether a run would change
    anything (``--check``); else a run has work to do whatever a dry run says."""
    if manifest is None:
        return False
    return (
        _changed_output(manifest) is None
        and _changed_guard(manifest) is None
        and _left_by_a_killed_run(bundle, manifest) is None
    )


def _left_by_a_killed_run(bundle: str | os.PathLike[str], manifest: dict[str, Any]) -> str | None:
    """A temp file of one of the files a full run rewrites beside the bundle (the bundle,
    extra-roots.pem, this record, the change record). A run killed before its rename leaves
    one; no reader sees it, and the next full run removes it under the lock, so do that
    rather than keep it for as long as nothing else changes."""
    folder = os.path.dirname(os.path.abspath(bundle))
    name = os.path.basename(bundle)
    rewritten = {os.path.basename(path_for(bundle)), name + CHANGE_RECORD_SUFFIX}
    rewritten.update(
        os.path.basename(path)
        for path in manifest["outputs"]
        if os.path.dirname(os.path.abspath(path)) == folder
    )
    try:
        names = os.listdir(folder)
    except OSError:
        return None  # the outputs' signatures already speak for the folder
    for name in names:
        if temp_target(name) in rewritten:
            return f"a run was interrupted: {os.path.join(folder, name)} is left over"
    return None


def _changed_store(recorded: dict[str, str | None]) -> str | None:
    """Which watched registry key's state differs from the record, if any."""
    if not recorded:
        return None  # not on Windows: nothing imported
    from build_ca_bundle import winstate

    for store, signed in recorded.items():
        if signed is None or winstate.signature(store) != signed:
            return f"the certificate store {store} changed"
    return None
