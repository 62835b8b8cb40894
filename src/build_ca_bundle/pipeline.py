"""The jobs, end to end: build (read, merge, write, configure), check, undo, pin from a server.

The CLI parses flags into :class:`BuildOptions`, calls one function here and prints what it
returns; this module holds the order of the steps and nothing platform-specific.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from build_ca_bundle import bundle, fastpath, history, manifest, openssl, paths
from build_ca_bundle.certificates import (
    BUNDLE_MARKER,
    Candidate,
    Entry,
    Parsed,
    Problem,
    Selection,
    SourceKind,
    SourceResult,
    Verdict,
    parse_bytes,
    parse_der,
    read_certificate_file,
    select,
)
from build_ca_bundle.errors import (
    BuildCABundleError,
    BundleError,
    ConfigError,
    NoCertificatesError,
    PinMismatchError,
    RequiredRootMissingError,
    UnloadableCertificatesError,
    UnsafePathError,
)
from build_ca_bundle.inifile import remove_stale_temps, write_atomically
from build_ca_bundle.options import BuildOptions, fingerprint
from build_ca_bundle.regular import ForeignFileError, read_own_bytes
from build_ca_bundle.scope import Scope
from build_ca_bundle.sources import StoreOptions, files, load_os_store, mozilla
from build_ca_bundle.targets import Change, Finding, Plan, Severity
from build_ca_bundle.values import Value

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import Final

EXTRA_ROOTS_NAME = "extra-roots.pem"
PINNED_ROOTS_NAME = "pinned-roots.pem"
PINNED = "pinned"  # the source, and the origin, of roots pinned with --from-server --pin


class BuildReport(Value, mutable=True):
    """What a run found and did: the CLI's human and JSON output are made from this."""

    __slots__ = (
        "options",
        "bundle_path",
        "extra_roots_path",
        "bundle_changed",
        "selection",
        "sources",
        "plans",
        "changes",
        "dry_run",
        "notices",
    )
    options: BuildOptions
    bundle_path: Path
    extra_roots_path: Path
    bundle_changed: bool
    selection: Selection
    sources: list[SourceResult]
    plans: list[Plan]
    changes: list[Change]
    dry_run: bool
    notices: list[Finding]  # about the bundle itself (a root not valid yet)

    def __init__(
        self,
        *,
        options: BuildOptions,
        bundle_path: Path,
        extra_roots_path: Path,
        bundle_changed: bool,
        selection: Selection,
        sources: list[SourceResult],
        plans: list[Plan],
        changes: list[Change],
        dry_run: bool,
        notices: list[Finding] | None = None,
    ) -> None:
        self.options = options
        self.bundle_path = bundle_path
        self.extra_roots_path = extra_roots_path
        self.bundle_changed = bundle_changed
        self.selection = selection
        self.sources = sources
        self.plans = plans
        self.changes = changes
        self.dry_run = dry_run
        self.notices = [] if notices is None else notices

    @property
    def problems(self) -> list[Problem]:
        return [problem for source in self.sources for problem in source.problems]

    @property
    def findings(self) -> list[Finding]:
        return [*self.notices, *(finding for plan in self.plans for finding in plan.findings)]

    def not_applied(self) -> bool:
        """A tool will not use the bundle: a setting beats ours (PIP_CERT, a later pip file,
        a command section's cert), said as an error finding of its plan (exit 13). What
        --ci exported to later steps no longer counts (:meth:`settle_exported`)."""
        return any(
            finding.severity is Severity.ERROR for plan in self.plans for finding in plan.findings
        )

    def settle_exported(self, exported: dict[str, str]) -> None:
        """A variable that beat our setting (an error), now exported by --ci to later steps,
        pointed at the bundle: a notice. The error said "unset PIP_CERT" under an exit 0."""
        for plan in self.plans:
            plan.findings = [_settled(finding, exported, plan.target) for finding in plan.findings]

    @property
    def changed_anything(self) -> bool:
        return self.bundle_changed or bool(self.changes)


def _settled(finding: Finding, exported: dict[str, str], target: str) -> Finding:
    if finding.severity is not Severity.ERROR:
        return finding
    if target == "pip" and "PIP_CERT" in exported:
        from build_ca_bundle.targets.pip import beaten_by_pip_cert

        if beaten_by_pip_cert(finding):  # a later file's cert, a section's, PIP_CONFIG_FILE
            return Finding(
                Severity.INFO,
                finding.where,
                f"{finding.message}, in this step only: --ci exported "
                f"PIP_CERT={exported['PIP_CERT']} to the later steps, which beats every "
                "config file and section",
                f"nothing to do for the later steps (for this one: {finding.fix})",
            )
    name = finding.where.removeprefix("environment variable ")
    if name == finding.where or name not in exported:
        return finding
    # Ours reaches the later steps, unless the pipeline itself sets the variable for them.
    return Finding(
        Severity.WARNING,
        finding.where,
        f"beats our setting in this step: --ci exported {name}={exported[name]} to the later "
        "steps, where a value the pipeline sets itself still wins (a step's or job's env, "
        "GitLab project or group variables)",
        f"if the pipeline's settings set {name}, remove it there",
    )


def bundle_path(options: BuildOptions) -> Path:
    return fastpath.bundle_path(options)


def extra_roots_path(bundle_file: Path) -> Path:
    """``extra-roots.pem`` beside the bundle (``<name>.extra-roots.pem`` for a custom name)."""
    return _beside(bundle_file, EXTRA_ROOTS_NAME)


# How the pinned roots' file begins (``_save_pinned``): undo removes only such a file.
PINNED_MARKER = b"# Roots pinned with build-ca-bundle"


def pinned_roots_path(bundle_file: Path) -> Path:
    """``pinned-roots.pem`` beside the bundle: the roots pinned with ``--from-server --pin``,
    which every later run keeps (``undo`` removes them; so does deleting a block)."""
    return _beside(bundle_file, PINNED_ROOTS_NAME)


def _beside(bundle_file: Path, name: str) -> Path:
    if bundle_file.name == "ca-bundle.pem":
        return bundle_file.with_name(name)
    return bundle_file.with_name(f"{bundle_file.stem}.{name}")


def read_sources(options: BuildOptions, output: Path) -> list[SourceResult]:
    """certifi, the OS store, and the files the user named, each as its own result."""
    own = (output, extra_roots_path(output))
    store_options = StoreOptions(
        scope=options.scope.value,
        own_outputs=own,
        include_intermediates=options.include_intermediates,
        windows_host=options.windows_host,
        environ=options.environ,
    )
    results = [_certifi(output, options), *load_os_store(store_options)]
    if options.extra_ca:
        results.append(files.load(options.extra_ca, own_outputs=own))
    pinned = _pinned_source(options.pinned, pinned_roots_path(output))
    if pinned.candidates or pinned.problems:
        results.append(pinned)
    return results


def _certifi(output: Path, options: BuildOptions) -> SourceResult:
    """certifi's roots: this Python's, or a newer certifi's that the last run for this
    bundle read. Two Pythons (two venvs) running for one account would otherwise rebuild
    the bundle in turn, and the older certifi brought back roots Mozilla had removed."""
    ours = paths.certifi_bundle()
    newer = _newer_certifi(output, ours, options)
    result = mozilla.load(ours if newer is None else newer)
    result.inputs.extend(paths.certifi_shadows(ours))
    if newer is None:
        return result
    result.inputs.append(paths.certifi_origin(ours))  # upgraded here: this one wins again
    result.notes.append(
        f"certifi's roots from {newer}: a newer certifi than this Python's ({ours}), read by "
        "an earlier run for this bundle; upgrade certifi here to use its own"
    )
    return result


def _newer_certifi(output: Path, ours: Path, options: BuildOptions) -> Path | None:
    recorded = manifest.load(output)
    mine = paths.certifi_version(ours) or ()
    for name in recorded["inputs"] if recorded is not None else ():
        other = Path(name)
        if other.name != "cacert.pem" or other.parent.name != "certifi" or other == ours:
            continue
        if other.is_file() and (paths.certifi_version(other) or ()) > mine:
            try:  # every account's trust, or root's: root's files only
                if options.scope is Scope.GLOBAL:
                    bundle.check_machine_file(other, "the newer certifi")
                else:
                    bundle.check_root_file(other, "the newer certifi")
            except BuildCABundleError:
                continue
            return other
    return None


def _pinned_source(pinned: Sequence[bytes], saved: Path) -> SourceResult:
    """The roots pinned in this run, and those pinned in earlier ones (``saved``)."""
    result = SourceResult(name=PINNED, kind=SourceKind.EXTRA)
    if os.path.lexists(saved):  # not Path.exists: it raises for a name too long
        parsed, problems = _read_pinned(saved)
        result.problems.extend(problems)
        for item in parsed:
            reason = f"fingerprint pinned earlier ({saved})"
            result.candidates.append(Candidate(item.certificate, Verdict.TRUST, PINNED, reason))
    for der in pinned:
        result.candidates.append(
            Candidate(parse_der(der), Verdict.TRUST, PINNED, "fingerprint pinned by the user")
        )
    return result


def _read_pinned(saved: Path) -> tuple[list[Parsed], list[Problem]]:
    """The roots pinned earlier, from a file this account alone can have written: one
    planted in /tmp after the checks by path (check_root_side_files) put another account's
    CA into root's bundle, trusted with no pin, and every later run kept it."""
    try:
        data = read_own_bytes(saved)
    except ForeignFileError as exc:
        raise UnsafePathError(
            f"the pinned roots' file {saved} is not ours: {exc.strerror}; nothing was changed",
            hint="remove it, and pin again with --from-server HOST --pin SHA256; keep bundles "
            "in a folder only you can write",
        ) from exc
    except OSError as exc:
        return [], [Problem(str(saved), f"skipped: cannot read ({exc.strerror or exc})")]
    return parse_bytes(data, str(saved), allow_der=False)


def _save_pinned(sources: list[SourceResult], path: Path) -> None:
    """Keep every pinned root for the runs to come, in a PEM file of its own: a pin given
    once must not be lost at the next logon, which runs without it."""
    pinned = [s for s in sources if s.name == PINNED]
    ders = {c.certificate.sha256: c.certificate.der for s in pinned for c in s.candidates}
    if not ders:
        return
    text = (
        PINNED_MARKER.decode("ascii") + " --from-server --pin. Every run adds them to the\n"
        "# bundle; remove a block to unpin it (build-ca-bundle undo removes this file).\n"
        + "".join(bundle.pem_text(der) for der in ders.values())
    )
    if bundle.read_existing(path) != text.encode("ascii"):
        write_atomically(path, text.encode("ascii"), mode=0o644, ours=True)


@contextlib.contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """A run makes a dozen small objects per certificate, none of them in a cycle (reference
    counting frees them), and Python's cycle collector would walk them all again and again:
    5% of a run over 10,000 roots. Switched back on after, for a program that imports us."""
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@_without_cycle_collection()
def build(options: BuildOptions) -> BuildReport:
    """Run the main job. Raises a :class:`BuildCABundleError` when it must refuse; then
    nothing was changed. Runs for one bundle take turns (two logons at once)."""
    output = bundle_path(options)
    try:
        bundle.check_bundle_path(output)
        # Its side files too: the pinned roots' file would be trusted, then rewritten.
        bundle.check_ours(extra_roots_path(output), bundle=output)
        bundle.check_ours(pinned_roots_path(output), PINNED_MARKER, bundle=output)
        bundle.check_lock_files(output, extra_roots_path(output))
        if options.scope is not Scope.GLOBAL:  # as root: a sudo-kept HOME, /tmp, a venv
            check_root_side_files(output)
        if options.dry_run:
            return _build(options)
        if options.scope is Scope.GLOBAL:
            bundle.check_machine_path(output)  # before the lock creates any folder
        new_folder = not output.parent.exists()
        try:
            with bundle.run_lock(output):
                _remove_killed_runs_temps(output)
                return _build(options)
        except BuildCABundleError:
            if new_folder:
                _remove_what_a_refused_first_run_made(output)
            raise
    finally:  # a run refused before it wrote: its preload ends with it
        openssl.preloaded(paths.certifi_bundle())


def _remove_what_a_refused_first_run_made(output: Path) -> None:
    """A first run that refused (a required root missing, an extra CA path not there) said
    "nothing was changed", and left the folder it had made for its lock, with the lock in
    it. Its own lock files go, and the folder if that leaves it empty; never another
    file (a run that wrote anything else is not a refused one)."""
    for path in (output, extra_roots_path(output)):
        if not os.path.lexists(path):
            bundle.remove_locks(path)
    with contextlib.suppress(OSError):
        output.parent.rmdir()  # only if empty


def side_files(output: Path) -> list[tuple[Path, str]]:
    """The bundle and the files beside it that only this bundle's runs read and write,
    with what each one is."""
    return [
        (output, "the bundle"),
        (extra_roots_path(output), "the extra roots' file"),
        (pinned_roots_path(output), "the pinned roots' file"),
        (Path(manifest.path_for(output)), "the run's record"),
        (history.path_for(output), "the change record"),
    ]


def _remove_killed_runs_temps(output: Path) -> None:
    """Under the run lock, a temp file of ours for one of the :func:`side_files` is a killed
    run's, whatever its age. write_atomically keeps young ones for ten minutes, for files
    that runs for other bundles share (pip.conf); kept here, a manifest's would make every
    run a full one, and --check say stale, until then, and undo would leave it behind."""
    remove_stale_temps(*(path for path, _ in side_files(output)))


def _build(options: BuildOptions) -> BuildReport:
    output = bundle_path(options)
    extra_path = extra_roots_path(output)
    check_machine_policy(options)
    loaded_before = None if options.dry_run else fastpath.start_loading(options)
    sources = read_sources(options, output)
    # What the bundle is built from, as it was read: see manifest.record.
    when_read = manifest.signatures(path for source in sources for path in source.inputs)
    _refuse_unread_extra_files(sources)
    _refuse_without_os_roots(sources, options)
    now = options.now or dt.datetime.now(dt.timezone.utc)
    selection = select(
        sources,
        now=now,
        keep_expired=options.keep_expired,
        include_intermediates=options.include_intermediates,
        exclude=options.exclude,
    )
    _check_usable(selection, options)
    _refuse_losing_unread_roots(output, sources, selection)
    _refuse_losing_damaged_extra_roots(output, sources, selection)
    left_behind = _extra_ca_left_behind(output, options, selection)
    plans = _plan_targets(output, extra_path, options)
    # The configs as planned, and (below) as each tool's changes left them: one that another
    # writer changes before the record is written is recorded as changed (manifest.record).
    when_read.update(manifest.signatures(_config_files(plans)))
    _keep_roots_tools_trusted(plans, selection)
    if options.scope is Scope.GLOBAL:
        _check_machine_files(sources, plans, options)
    else:  # the bundle and its side files were checked before the lock
        check_root_configs_and_stores(sources, plans, options.policy_paths)
    blocks: dict[str, str] = {}
    proof = None
    if options.dry_run:
        changed = bundle.read_existing(output) != bundle.render(selection.entries, blocks)
        changes = [change for plan in plans for change in plan.changes]
    else:
        selection, written = _write_loadable(output, selection, blocks, options, loaded_before)
        changed, proof = written.changed, written.proof
        extra_content = bundle.render(selection.beyond_base(), blocks)
        _write_extra_roots(output, extra_path, extra_content)
        _save_pinned(sources, pinned_roots_path(output))
        changes = _apply(output, plans, when_read)
    report = BuildReport(
        options=options,
        bundle_path=output,
        extra_roots_path=extra_path,
        bundle_changed=changed,
        selection=selection,
        sources=sources,
        plans=plans,
        changes=changes,
        dry_run=options.dry_run,
        notices=[
            *left_behind,
            *_extra_not_read(sources),
            *_extra_that_gave_no_root(options, sources, selection),
            *_not_valid_yet(selection, now),
            *_tools_left_alone(options),
        ],
    )
    if not options.dry_run:
        try:
            if all(source.complete_inputs for source in sources):
                _record_manifest(report, proof, when_read)
            else:  # what we read cannot all be watched: every run is a full run
                manifest.remove(output)
        except OSError as exc:
            # The bundle and the settings are done and right; only the shortcut is lost.
            with contextlib.suppress(OSError):
                manifest.remove(output)  # an old record must not outlive this run
            report.notices.append(
                Finding(
                    Severity.ERROR,
                    str(manifest.path_for(output)),
                    f"cannot save this run's record ({exc.strerror or exc}): the bundle and "
                    "pip are set, but every run will be a full one until it can",
                    "free some disk space, or make the file and its folder writable",
                )
            )
    return report


def _refuse_unread_extra_files(sources: list[SourceResult]) -> None:
    """An --extra-ca file or folder (or the policy's extra_ca) that cannot be read at all:
    change nothing (exit 3). Built without it, the bundle would lose the roots it gave
    (a share not mounted yet at logon), and a mistyped path left the corporate root out of
    every machine with exit 0. A bad certificate in a file that was read is skipped, and
    said (below)."""
    unread = [
        problem
        for source in sources
        if source.kind is SourceKind.EXTRA  # files.load's (an OS store's: below)
        for problem in source.unread
    ]
    if unread:
        raise ConfigError(
            "an extra CA file or folder could not be read, so nothing was changed: "
            + "; ".join(f"{problem.where} ({problem.message})" for problem in unread),
            hint="check the path given with --extra-ca or in the policy's extra_ca",
        )


def _extra_not_read(sources: list[SourceResult]) -> list[Finding]:
    """What an --extra-ca file or folder (or the policy's extra_ca) could not give: an error,
    said on stderr even with --quiet. A mistyped path left the corporate root out of every
    machine, and a logon script never heard of it."""
    return [
        Finding(Severity.WARNING, problem.where, problem.message, "fix the file")
        if problem.lost_nothing  # its roots are in: not an error
        else Finding(
            Severity.ERROR,
            problem.where,
            f"not in the bundle: {problem.message.removeprefix('skipped: ')}",
            "check the path given with --extra-ca or in the policy's extra_ca",
        )
        for source in sources
        if source.kind is SourceKind.EXTRA and source.name != PINNED
        for problem in source.problems
    ]


def _extra_that_gave_no_root(
    options: BuildOptions, sources: list[SourceResult], selection: Selection
) -> list[Finding]:
    """An --extra-ca path (or the policy's extra_ca) whose every certificate was left out:
    only a server's own certificate, or an expired root. It went by with exit 0 and, under
    --quiet, without a word, though IT's root was not in the bundle: an error now, on stderr,
    with why each was left out."""
    findings = []
    for named in dict.fromkeys(_absolute_text(path) for path in options.extra_ca):
        if any(_is_in(origin, named) for entry in selection.entries for origin in entry.origins):
            continue
        why = [
            f"{item.certificate.label}: {item.reason}"
            for item in selection.excluded
            if _is_in(item.source, named)
        ]
        if why:  # a path that gave nothing at all was refused already (exit 3)
            findings.append(
                Finding(
                    Severity.ERROR,
                    named,
                    "gave no root to the bundle: every certificate in it was left out ("
                    + "; ".join(why)
                    + ")",
                    "name the file of your CA's root certificate (not a server's own "
                    "certificate), or --keep-expired for an expired one you still need",
                )
            )
    return findings


# A root's header in a bundle we wrote (bundle.render): its label, fingerprint and sources.
_HEADER_ORIGINS = re.compile(
    rb'^# Label: "([^"\n]*)"\n(?:# [^\n]*\n)*?# SHA256 Fingerprint: ([0-9a-f:]+)\n'
    rb"# Source: ([^\n]*)\n",
    re.MULTILINE,
)


def _extra_ca_left_behind(
    output: Path, options: BuildOptions, selection: Selection
) -> list[Finding]:
    """An --extra-ca the last run had and this one lacks: its roots leave the bundle. A
    plain logon run after a developer's `--extra-ca corp.pem` dropped the corporate root in
    silence, and pip failed again (found by audit h43). Said, with the fix."""
    recorded = manifest.load(output)
    before = recorded.get("extra_ca") if recorded is not None else None
    now = {_absolute_text(path) for path in options.extra_ca}
    gone = [p for p in before if isinstance(p, str) and p not in now] if before else []
    content = bundle.read_existing(output) if gone else None
    if not content:
        return []
    findings = []
    for path in gone:
        labels = _roots_it_would_drop(content, selection, path=path)
        if labels:
            findings.append(
                Finding(
                    Severity.WARNING,
                    path,
                    "an extra CA file of an earlier run (--extra-ca or the policy's "
                    "extra_ca), not of this one: "
                    f"{len(labels)} root(s) it gave left the bundle ({', '.join(labels)})",
                    f"pass --extra-ca {path} on every run (a logon script's too), or name it "
                    "in the policy's extra_ca",
                )
            )
    return findings


def _absolute_text(path: str | Path) -> str:
    """``path`` from the current folder (as given, if that folder is gone)."""
    try:
        return str(Path(path).absolute())
    except OSError:
        return str(path)


def _tools_left_alone(options: BuildOptions) -> list[Finding]:
    """--scope none configures no tool: tools named besides pip (the default) were left
    alone without a word, and a policy's `configure = ["git"]` seemed to do nothing."""
    named = [name for name in options.configure if name != "pip"]
    if options.scope is not Scope.NONE or not named:
        return []
    return [
        Finding(
            Severity.WARNING,
            "--configure",
            f"--scope none writes the bundle only: {', '.join(named)} left as they are",
            "choose a scope (user, site, global) to configure them"
            + ("; env persists the variables for --scope user only" if "env" in named else ""),
        )
    ]


def _not_valid_yet(selection: Selection, now: dt.datetime) -> list[Finding]:
    """A root whose validity has not begun is kept, as the OS keeps it, but said: TLS
    through it fails until then (a corporate root issued with a clock ahead, say)."""
    return [
        Finding(
            Severity.WARNING,
            entry.certificate.label,
            f"not valid until {entry.certificate.not_before:%Y-%m-%d %H:%M} UTC: kept, but "
            "connections through it fail until then",
            "check this machine's clock, or the root's dates with IT",
        )
        for entry in selection.entries
        if entry.certificate.not_yet_valid(now)
    ]


def _check_usable(selection: Selection, options: BuildOptions) -> None:
    if not selection.entries:
        raise NoCertificatesError(
            "no usable certificates: every source was empty or unreadable",
            hint="see the problems listed above",
        )
    _check_required(selection, options.require)


def _write_loadable(
    output: Path,
    selection: Selection,
    blocks: dict[str, str],
    options: BuildOptions,
    loaded_before: str | None,
) -> tuple[Selection, bundle.WriteResult]:
    """Write the bundle. A certificate Python's ssl cannot load is left out with the reason,
    the rest written, rather than the whole run failing: one broken root in a store must
    not keep the corporate root from every machine."""
    certifi_loaded = openssl.preloaded(paths.certifi_bundle())
    preloaded = bundle.certificate_blocks(certifi_loaded) if certifi_loaded else frozenset()

    def write(entries: list[Entry]) -> bundle.WriteResult:
        content = bundle.render(entries, blocks)
        return bundle.write(output, content, loaded_before=loaded_before, preloaded=preloaded)

    try:
        return selection, write(selection.entries)
    except UnloadableCertificatesError as exc:
        selection = selection.without(exc.sha256s, exc.reason)
    _check_usable(selection, options)
    return selection, write(selection.entries)


def _refuse_losing_unread_roots(
    output: Path, sources: list[SourceResult], selection: Selection
) -> None:
    """A store that could not be read at all this time (WSL's Windows host: interop broken
    for this session, a stale WSL_INTEROP, PowerShell too slow), whose roots the bundle
    holds: change nothing (exit 4). The rebuild dropped the group-policy root, exit 0, said
    only among the skipped problems (and with --quiet not at all), and pip failed again."""
    unread = [source for source in sources if source.kind is SourceKind.OS and source.unread]
    content = bundle.read_existing(output) if unread else None
    if not content:
        return
    for source in unread:
        labels = _roots_it_would_drop(content, selection, source=source.name)
        if labels:
            why = "; ".join(problem.message for problem in source.unread)
            raise NoCertificatesError(
                f"{source.unread[0].where} could not be read, and a rebuild would drop the "
                f"{len(labels)} root(s) the bundle has from it ({', '.join(labels)}); "
                f"nothing was changed: {why}",
                hint="fix what stopped it (run again from a new WSL shell), or build without "
                "the host's roots with --no-windows-host",
            )


def _roots_it_would_drop(
    content: bytes, selection: Selection, *, path: str = "", source: str = ""
) -> list[str]:
    """The labels of the roots the bundle on disk has (its "# Source:" lines) from the file
    or folder ``path``, or from the source named ``source``, that this run's selection
    lacks."""
    kept = {entry.certificate.sha256 for entry in selection.entries}
    # As the header writes a path: one with "é" in it is "\xe9" there, and was never found.
    written = bundle.ascii_escaped(path)

    def came_from(origin: str) -> bool:
        if source:
            return origin.startswith(f"{source}:")
        origin = _absolute_text(origin)
        return _is_in(origin, path) or _is_in(origin, written)

    return [
        label.decode("ascii", "replace")
        for label, colons, origins in _HEADER_ORIGINS.findall(content)
        if colons.decode("ascii").replace(":", "") not in kept
        and any(came_from(origin) for origin in origins.decode("ascii", "replace").split(", "))
    ]


def _is_in(origin: str, path: str) -> bool:
    """Whether a root's origin is the file ``path``, or a file in the folder ``path``."""
    return origin == path or origin.startswith(path + os.sep)


def _refuse_losing_damaged_extra_roots(
    output: Path, sources: list[SourceResult], selection: Selection
) -> None:
    """An extra CA file with a certificate it could not read this time (a download cut
    short in its second root), whose roots the bundle holds: change nothing (exit 3). The
    rebuild dropped that root with exit 0 and an error line; a file that gave nothing at all
    was refused already (_refuse_unread_extra_files). A bad block that lost nothing the
    bundle had is only said."""
    damaged = {
        _absolute_text(problem.where.split(" (block ")[0]): problem
        for source in sources
        if source.kind is SourceKind.EXTRA and source.name != PINNED
        for problem in source.problems
        if not problem.lost_nothing
    }
    content = bundle.read_existing(output) if damaged else None
    if not content:
        return
    for path, problem in damaged.items():
        labels = _roots_it_would_drop(content, selection, path=path)
        if labels:
            raise ConfigError(
                f"{problem.where}: {problem.message.removeprefix('skipped: ')}, and a rebuild "
                f"would drop the {len(labels)} root(s) the bundle has from that file "
                f"({', '.join(labels)}); nothing was changed",
                hint="replace the file with a whole copy (a download cut short?); to drop "
                "that root on purpose, take it out of the file",
            )


def _refuse_without_os_roots(sources: list[SourceResult], options: BuildOptions) -> None:
    """A certifi-only bundle written as if all were well would hide the real failure."""
    os_sources = [source for source in sources if source.kind is SourceKind.OS]
    trusted = any(
        candidate.verdict is Verdict.TRUST
        for source in os_sources
        for candidate in source.candidates
    )
    pinned = any(source.name == PINNED and source.candidates for source in sources)
    if trusted or options.extra_ca or pinned:
        return
    problems = "; ".join(str(p) for source in os_sources for p in source.problems)
    raise NoCertificatesError(
        "the OS trust store yielded no certificates" + (f" ({problems})" if problems else ""),
        hint=(
            "fix the trust store (e.g. install ca-certificates), or name the roots with "
            "--extra-ca FILE"
        ),
    )


def _check_required(selection: Selection, required: tuple[str, ...]) -> None:
    present = {entry.certificate.sha256 for entry in selection.entries}
    missing = [value for value in required if fingerprint(value) not in present]
    if not missing:
        return
    # One that was found and left out says why (excluded too, expired, distrusted by the
    # OS): "not enrolled yet?" would send IT looking for a root the machine has.
    left_out = {item.certificate.sha256: item for item in selection.excluded}
    said = []
    for value in missing:
        item = left_out.get(fingerprint(value))
        said.append(
            value
            if item is None
            else f"{value} ({item.certificate.label}: found, but left out: {item.reason})"
        )
    hint = (
        "the machine may not have received the corporate root yet (not enrolled?); "
        "check the OS trust store, or pass the root with --extra-ca FILE"
    )
    if all(fingerprint(value) in left_out for value in missing):
        hint = "a root cannot be both required and left out: see why above"
    raise RequiredRootMissingError(
        "a required root is not in the result, so nothing was changed: " + ", ".join(said),
        hint=hint,
    )


# --- targets ------------------------------------------------------------------------------


def _plan_targets(output: Path, extra_path: Path, options: BuildOptions) -> list[Plan]:
    if options.scope is Scope.NONE:
        return []
    from build_ca_bundle.targets import registry

    return [registry.plan(name, output, extra_path, options) for name in options.configure]


# Settings that replace a tool's roots with the file they name: pointed at the bundle, the
# tool trusts the bundle alone.
_REPLACING_SETTINGS = {("git", "http.sslCAInfo"), ("npm", "cafile")}


def _keep_roots_tools_trusted(plans: list[Plan], selection: Selection) -> None:
    """A git or npm setting that named a file of roots the bundle lacks (a private CA for an
    internal git server or registry) was replaced, and the note said nothing was lost. Such
    a change is left out now, with an error saying how to bring the roots in. A root the
    selection left out on purpose (expired, distrusted, excluded) is no loss."""
    kept = {entry.certificate.sha256 for entry in selection.entries}
    kept |= {item.certificate.sha256 for item in selection.excluded}
    for plan in plans:
        for change in list(plan.changes):
            if (plan.target, change.key) not in _REPLACING_SETTINGS or not change.old:
                continue
            named = Path(change.old).expanduser()
            if not named.is_absolute() or not named.is_file():
                continue  # nothing to lose: the tool trusts nothing from it either
            parsed, _ = read_certificate_file(named, allow_der=False)
            missing = [item.certificate for item in parsed if item.certificate.sha256 not in kept]
            if not missing:
                continue
            plan.changes.remove(change)
            commands = getattr(plan, "commands", None)  # a ToolPlan's: what apply runs
            if isinstance(commands, dict):
                commands.pop(change, None)
            labels = ", ".join(cert.label for cert in missing[:3])
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            plan.findings.append(
                Finding(
                    Severity.ERROR,
                    str(change.path),
                    f"{change.key} names {named}, which holds {len(missing)} certificate(s) "
                    f"the bundle lacks ({labels}{more}): left as it is, or {plan.target} "
                    "would stop trusting them",
                    f"add them to the bundle: build-ca-bundle --extra-ca {named} (with your "
                    "other options); the next run then points it at the bundle",
                )
            )


def check_machine_policy(options: BuildOptions) -> None:
    """In every scope: the machine's policy, and the extra CA files it names, decide what
    every account trusts; one an ordinary user could change is refused (exit 5). Here, not
    where options are read: the unchanged run imports nothing for it (the record watches the
    policy's owner and mode), and what a policy says counts only where a bundle is built.
    (Windows: ACLs, IT's to set; bundle.check_machine_policy checks nothing there.)"""
    from build_ca_bundle import policy

    machine = policy.default_location(environ=options.environ)
    if machine in options.policy_paths:
        named = policy.load(machine, explicit=False).strings("extra_ca")
        bundle.check_machine_policy(machine, [Path(item).expanduser() for item in named])


def _check_machine_files(
    sources: list[SourceResult], plans: list[Plan], options: BuildOptions
) -> None:
    """What a machine-wide run trusts or edits beyond the OS store (whose own permissions
    are the OS's trust) must be root's alone, or one user would decide for every account."""
    with bundle.checking_once():  # a folder above thousands of store files: once
        for policy_path in options.policy_paths:
            bundle.check_machine_file(policy_path, "the policy file")
        for source in sources:
            if source.kind is SourceKind.EXTRA:
                for path in source.inputs:
                    bundle.check_machine_file(path, "the extra CA file")
        for source in sources:  # root's SSL_CERT_FILE, say, is not the OS's choice
            for path in source.named_inputs:
                bundle.check_machine_file(
                    path, "the store that SSL_CERT_FILE or SSL_CERT_DIR names,"
                )
        for plan in plans:  # the files it edits, and those it leaves as they are
            for path in dict.fromkeys([*(change.path for change in plan.changes), *plan.files]):
                bundle.check_machine_file(path, f"the machine-wide {plan.target} config")


def _write_extra_roots(output: Path, extra_path: Path, content: bytes) -> None:
    """The roots beyond certifi, beside the bundle just written: a failure here must not
    say the bundle is unchanged (it was replaced), only what was not done."""
    try:
        bundle.write(extra_path, content, validated=True, bundle=output)  # blocks just loaded
    except BundleError as exc:
        cause = exc.__cause__
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else exc.message
        raise BundleError(
            f"{output} was written, but {extra_path} could not be ({reason}); no setting "
            "was changed",
            hint=exc.hint,
        ) from exc


def _record_changes(output: Path, changes: list[Change]) -> list[Change]:
    try:
        return history.add(output, changes)
    except OSError as exc:
        raise ConfigError(
            f"cannot save the change record {history.path_for(output)} "
            f"({exc.strerror or exc}): the settings it would record were not changed, so "
            "that undo can always find what this tool changed",
            hint="free some disk space, or make the file and its folder writable",
        ) from exc


def check_root_configs_and_stores(
    sources: list[SourceResult], plans: list[Plan], policy_paths: Sequence[Path]
) -> None:
    """As root outside --scope global, the configs the run edits, the policy and extra CA
    files it trusts, and the stores the environment named (``sudo -E``: the account's
    SSL_CERT_FILE, not root's store) must be root's alone: see :func:`bundle.check_root_file`.
    An --extra-ca file another account can write would put their root in root's bundle, and
    root's pip would install whatever their proxy serves."""
    with bundle.checking_once():  # a folder above thousands of store files: once
        for plan in plans:
            for change in plan.changes:
                bundle.check_root_file(change.path, "the config")
        copy = "copy it to a file only root can write, and name that one"
        for policy_path in policy_paths:
            bundle.check_root_file(policy_path, "the policy file", hint=copy)
        for source in sources:
            if source.kind is SourceKind.EXTRA and source.name != PINNED:  # pinned: a side file
                for path in source.inputs:
                    bundle.check_root_file(path, "the extra CA file", hint=copy)
            for path in source.named_inputs:
                bundle.check_root_file(path, "the store that SSL_CERT_FILE or SSL_CERT_DIR names,")


def check_root_side_files(output: Path) -> None:
    """As root outside --scope global, the bundle and every file beside it that a run reads
    or writes must be root's alone (:func:`bundle.check_root_file`), checked before the lock
    makes any folder or file. Another account's ``pinned-roots.pem`` would be trusted without
    a pin, their manifest would name a "newer certifi" of theirs, and their change record
    would have undo set and remove what they chose: in /tmp, in their home, anywhere."""
    with bundle.checking_once():  # the folders above all of them: looked at once
        locks = [
            lock for item in (output, extra_roots_path(output)) for lock in bundle.lock_files(item)
        ]
        for path, role in (*side_files(output), *((lock, "the lock file") for lock in locks)):
            bundle.check_root_file(path, role)


def _config_files(plans: Sequence[Plan]) -> list[Path]:
    return [path for plan in plans for path in (*plan.files, *plan.watched)]


def _apply(
    output: Path, plans: list[Plan], when_set: dict[str, manifest.Signature]
) -> list[Change]:
    """Each tool's changes, each recorded just before it is made: a run killed between the
    two would otherwise leave a setting naming the bundle with no record, and undo would
    remove the bundle under it (a recorded change never made is one undo finds not there).
    One tool that fails does not stop the others, and the error says what was done: the
    tools after a failing git were left unset, unsaid, and recorded as changed."""
    from build_ca_bundle.targets import registry

    applied: list[Change] = []
    failed: list[tuple[str, BuildCABundleError]] = []
    for plan in plans:
        if not plan.changes:
            continue
        recorded = _record_changes(output, plan.changes)
        try:
            applied.extend(registry.apply(plan))
        except BuildCABundleError as error:
            failed.append((plan.target, error))
        else:  # as this run left them: only a later writer's change counts
            history.drop_unrecorded_backups(plan.changes, recorded)
            when_set.update(manifest.signatures(_config_files([plan])))
    if failed:
        first = failed[0][1]
        done = list(dict.fromkeys(change.target for change in applied))
        others = "; ".join(f"{target}: {error.message}" for target, error in failed[1:])
        raise ConfigError(
            f"{first.message}; "
            + (f"set as planned: {', '.join(done)}" if done else "no tool was set")
            + (f"; also not set: {others}" if others else ""),
            hint=first.hint,
        ) from first
    return applied


def _record_manifest(
    report: BuildReport, proof: str | None, when_read: dict[str, manifest.Signature]
) -> None:
    from build_ca_bundle.targets import registry

    options = report.options
    inputs = [path for source in report.sources for path in source.inputs]
    inputs += list(options.extra_ca)
    inputs += options.policy_paths
    inputs += registry.watched_files(options)
    inputs += [path for plan in report.plans for path in (*plan.files, *plan.watched)]
    inputs += [Path(name) for name in openssl.library_files()]  # it loads under this OpenSSL
    inputs.append(pinned_roots_path(report.bundle_path))  # watched while absent too
    entries = report.selection.entries
    now = options.now or dt.datetime.now(dt.timezone.utc)
    warnings = [
        f"{finding.severity.value}: {finding} (fix: {finding.fix})"
        for finding in report.findings
        if finding.severity is not Severity.INFO
    ]
    manifest.write(
        report.bundle_path,
        manifest.record(
            report.bundle_path,
            key=options.key(),
            options_key=options.options_key(),
            inputs=inputs,
            outputs=[report.extra_roots_path],
            expires=_record_holds_until(entries, now, keep_expired=options.keep_expired),
            certificates=len(entries),
            warnings=warnings,
            registry_keys=[key for source in report.sources for key in source.registry_keys],
            loaded=proof,
            not_applied=report.not_applied(),
            arguments=options.arguments,
            when_read=when_read,
            extra_ca=[_absolute_text(path) for path in options.extra_ca],
            # Who may change these is checked by the full run (check_machine_policy,
            # _check_machine_inputs, check_root_side_files): a policy's folder made
            # world-writable since was still "unchanged", exit 0, where a full run exits 5.
            relied_on=[
                *options.policy_paths,
                *options.extra_ca,
                *(path for source in report.sources for path in source.named_inputs),
                *(path for plan in report.plans for path in (*plan.files, *plan.watched)),
            ],
        ),
    )


def _record_holds_until(
    entries: Sequence[Entry], now: dt.datetime, *, keep_expired: bool
) -> float | None:
    """A full run when a root expires (it leaves the bundle), or one not valid yet becomes
    valid (its notice goes): the record holds until the first of those moments. With
    --keep-expired an expiry changes nothing, and a root that had expired already made every
    run a full one, and --check say stale, for ever."""
    moments = [e.certificate.not_before for e in entries if e.certificate.not_before > now]
    if not keep_expired:
        moments += [entry.certificate.not_after for entry in entries]
    return min(moments).timestamp() if moments else None


# --- check, undo, pin ---------------------------------------------------------------------


class UndoReport(Value, mutable=True):
    __slots__ = (
        "dry_run",
        "outcomes",
        "removed",
        "foreign",
        "kept",
        "named_by",
        "elsewhere",
        "still_set",
        "dangling",
        "elsewhere_by",
    )
    dry_run: bool  # then outcomes and removed say what would be done
    outcomes: list[tuple[Change, str]]
    removed: list[Path]
    foreign: list[Path]  # at one of our files' paths, a file this tool did not write: kept
    # The bundle, kept because a setting that could not be reverted still points at it.
    kept: Path | None
    named_by: Path | None  # or because this file names it, though not by our change
    # Nothing to undo here, but pip's cert names this other bundle of ours (--output).
    elsewhere: Path | None
    elsewhere_by: str  # what names it: "pip's cert", "the variables block in ~/.profile"
    # Variables of this process (the shell that ran undo) that name a removed file: its
    # tools now fail on a missing file until the variable is unset.
    still_set: list[str]
    # Nothing to undo, but this pip file's cert names the bundle, which is gone with its
    # record (the data folder removed by hand): pip fails on every download until it goes.
    dangling: tuple[Path, Path] | None  # (that pip file, the bundle)

    def __init__(self, *, dry_run: bool = False) -> None:
        self.dry_run = dry_run
        self.outcomes = []
        self.removed = []
        self.foreign = []
        self.kept = None
        self.named_by = None
        self.dangling = None
        self.elsewhere_by = ""
        self.elsewhere = None
        self.still_set = []

    def nothing_done(self) -> bool:
        return not (self.outcomes or self.removed or self.foreign) and self.kept is None


def undo(options: BuildOptions, *, dry_run: bool = False) -> UndoReport:
    """Revert every change recorded for this bundle, newest first, then remove our files;
    with ``dry_run``, say what that would do and change nothing."""
    output = bundle_path(options)
    report = UndoReport(dry_run=dry_run)
    if output.parent.is_dir():
        if dry_run:
            _preview_undo(output, options, report)
        else:
            _undo_under_lock(output, options, report)
    if report.nothing_done():  # after an --output run, say where its undo is
        from build_ca_bundle.targets import registry

        elsewhere = registry.bundle_named_elsewhere(options)
        if elsewhere is not None and elsewhere[1] != output:
            report.elsewhere_by, report.elsewhere = elsewhere
        naming = None if output.exists() else registry.still_named_by(output, options)
        report.dangling = None if naming is None else (naming, output)
    report.still_set = _variables_naming(report.removed, options.environ)
    return report


def _variables_naming(removed: list[Path], environ: Mapping[str, str]) -> list[str]:
    from build_ca_bundle.targets.env import BUNDLE_VARIABLES

    def same(name: str | os.PathLike[str]) -> str:
        return os.path.normcase(Path(name).resolve())

    gone = {same(path) for path in removed}
    return [name for name in BUNDLE_VARIABLES if environ.get(name) and same(environ[name]) in gone]


def _undo_under_lock(output: Path, options: BuildOptions, report: UndoReport) -> None:
    # Its record names files to restore and remove: one another account could write would
    # have root remove or overwrite what they chose.
    if options.scope is Scope.GLOBAL:
        bundle.check_machine_file(history.path_for(output), "the change record")
    else:  # every other scope, --scope none included
        check_root_side_files(output)
    with bundle.run_lock(output):
        _remove_killed_runs_temps(output)
        _undo(output, options, report)


def _preview_undo(output: Path, options: BuildOptions, report: UndoReport) -> None:
    """What undo would try, from the record: each change back, newest first (a setting a
    person changed since is left alone then), and our files that would go, unless, as
    undo would find, a file it must edit cannot be read or a pip file still names the
    bundle: then the bundle would be kept."""
    from build_ca_bundle.targets import registry

    blocked = False
    recorded = history.load(output)
    for change in reversed(recorded):
        back = "(unset)" if change.old is None else change.old
        known, settled = registry.preview_undo(change, options)
        blocked = blocked or (not settled and _names_a_file(change))
        outcome = known or f"would put back {back}, unless changed since"
        report.outcomes.append((change, outcome))
    if blocked:
        report.kept = output
        return
    naming = registry.still_named_by(output, options, reverting=recorded)
    if naming is not None:
        report.kept, report.named_by = output, naming
        return
    _remove_our_files(output, report)


def _remove_our_files(output: Path, report: UndoReport) -> None:
    """Undo's last step: the bundle and its side files go, each only if it is ours (not
    `undo --output notes.txt`, /dev/null, an empty __init__.py); a dry run only says so."""
    for path, marker in (
        (output, BUNDLE_MARKER),
        (extra_roots_path(output), BUNDLE_MARKER),
        (pinned_roots_path(output), PINNED_MARKER),
    ):
        if not bundle.is_ours(path, marker, bundle=output, empty_is_ours=False):
            report.foreign.append(path)
            continue
        there = path.exists() if report.dry_run else bundle.remove(path)
        if there:
            report.removed.append(path)


def _names_a_file(change: Change) -> bool:
    """Whether a setting left as it is names one of our files: pip's cert, git's sslCAInfo,
    the variables' block do; uv's ``system-certs = true`` names none, and a uv.toml that
    no longer parsed kept the bundle for it ("the settings not undone still point at
    it")."""
    return change.target == "env" or (
        change.new is not None and Path(change.new).expanduser().is_absolute()
    )


def _undo(output: Path, options: BuildOptions, report: UndoReport) -> None:
    from build_ca_bundle.targets import registry

    unsettled: list[Change] = []
    for change in reversed(history.load(output)):
        outcome, settled = registry.undo(change, options)
        report.outcomes.append((change, outcome))
        if not settled:
            unsettled.insert(0, change)
    if unsettled:  # the record of what is left to undo stays, for the next undo
        history.save(output, unsettled)
    if any(_names_a_file(change) for change in unsettled):
        # Removing the bundle now would leave those settings naming a missing file, and pip
        # then fails on every command. Keep it.
        report.kept = output
        return
    naming = registry.still_named_by(output, options)
    if naming is not None:  # set there by someone else: theirs to remove, the bundle stays
        history.remove(output)
        report.kept, report.named_by = output, naming
        return
    _remove_our_files(output, report)
    manifest.remove(output)
    if not unsettled:
        history.remove(output)
    for path in (output, extra_roots_path(output), pinned_roots_path(output)):
        bundle.remove_locks(path)
    if options.output is None:  # our own data folder (never one the user named): if empty
        with contextlib.suppress(OSError):
            output.parent.rmdir()


class PresentedChain(Value):
    __slots__ = ("host", "port", "chain")
    host: Final[str]
    port: Final[int]
    chain: Final[list[tuple[str, str, str]]]  # (subject, issuer, sha256), leaf first

    def __init__(self, host: str, port: int, chain: list[tuple[str, str, str]]) -> None:
        self.host = host
        self.port = port
        self.chain = chain

    @property
    def top(self) -> tuple[str, str, str]:
        return self.chain[-1]


def presented_chain(
    spec: str, *, proxy: str | None, options: BuildOptions
) -> tuple[PresentedChain, list[bytes]]:
    """Fetch what HOST[:PORT] presents (through the proxy). Nothing is trusted here."""
    from build_ca_bundle import verify

    host, port = _host_and_port(spec)
    url = f"https://{verify.authority(host, port)}/"
    from build_ca_bundle.targets import pip

    chosen = pip.proxy_for(url, pip.PipEnvironment.current(options.environ), explicit=proxy)
    try:
        ders = verify.fetch_chain(host, port, proxy=chosen)
    except verify.VerifyError as error:
        from build_ca_bundle.errors import OfflineError

        raise OfflineError(f"cannot fetch the chain of {host}:{port}: {error.detail}") from error
    described = []
    for der in ders:
        item = verify.describe(der)
        described.append((item.subject, item.issuer, item.sha256))
    return PresentedChain(host, port, described), ders


def _host_and_port(spec: str) -> tuple[str, int]:
    """HOST, HOST:PORT, [IPv6] or [IPv6]:PORT, or an https:// URL (as verify takes, and as
    a user copies from a browser); a usage error for anything else."""
    from build_ca_bundle.errors import UsageError

    scheme, separator, rest = spec.partition("://")
    if separator:
        if scheme.lower() != "https":
            raise UsageError(f"--from-server {spec}: only https:// URLs present a TLS chain")
        spec = rest.split("/", 1)[0].rpartition("@")[2]  # the authority, without credentials
    host, port_text = spec, "443"
    if spec.startswith("["):
        host, _, rest = spec[1:].partition("]")
        port_text = rest.removeprefix(":") or "443"
    elif spec.count(":") == 1:
        host, _, port_text = spec.partition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"--from-server {spec}: not HOST[:PORT] with a port from 1 to 65535")
    return host, int(port_text)


def pinned_root(chain: PresentedChain, ders: list[bytes], pin: str) -> bytes:
    """The presented top certificate, only if its SHA-256 is exactly the pinned one."""
    if not ders:
        raise PinMismatchError(f"{chain.host}:{chain.port} presented no certificate")
    if chain.top[2] != fingerprint(pin):
        raise PinMismatchError(
            f"the top certificate {chain.host}:{chain.port} presents has sha256 {chain.top[2]}, "
            f"not the pinned {fingerprint(pin)}: nothing was changed",
            hint="check the fingerprint with IT; a different root may mean another proxy, or "
            "an attack",
        )
    if not is_a_root(ders[-1]):
        raise PinMismatchError(
            f"the certificate with sha256 {chain.top[2]} is not a root (a self-signed CA "
            "certificate): pinned, it would make no TLS connection work; nothing was changed",
            hint="the server does not present its root: ask IT for the root file and use "
            "--extra-ca FILE",
        )
    return ders[-1]


def is_a_root(der: bytes) -> bool:
    """Whether ``der`` is a certificate pinning can make an anchor of (``is_root``)."""
    from build_ca_bundle import verify

    return verify.describe(der).is_root
