"""What the CLI prints: a few lines for people, or one JSON object (a stable interface)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence

from build_ca_bundle import console
from build_ca_bundle.errors import BuildCABundleError, ExitCode

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, TextIO

    from build_ca_bundle.certificates import Entry
    from build_ca_bundle.options import BuildOptions
    from build_ca_bundle.pipeline import BuildReport, UndoReport
    from build_ca_bundle.targets import Finding
    from build_ca_bundle.verify import TargetResult

JSON_FORMAT = 1

say = console.say  # output.say: the commands print through it


def emit_json(payload: dict[str, Any]) -> None:
    """One JSON object on stdout. Names as they are where stdout can hold them; else as
    \\u escapes, which every JSON reader decodes (Windows pipes are cp1252: a root named
    "NetLock Arany ... Főtanúsítvány" broke the object off mid-way)."""
    payload = {"format": JSON_FORMAT, **payload}
    text = json.dumps(payload, indent=2, ensure_ascii=False)
    try:
        text.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        text = json.dumps(payload, indent=2)
    # In a string only (keys and values); \\u005b is "[" to every JSON reader.
    text = console.inert(text, escape="\\u005b")
    with console.guarded():
        sys.stdout.write(text + "\n")


def error(problem: BuildCABundleError, *, as_json: bool) -> None:
    if as_json:
        emit_json(
            {
                "error": {"message": problem.message, "hint": problem.hint},
                "exit_code": int(problem.exit_code),
            }
        )
    say(f"error: {problem.message}", sys.stderr)
    if problem.hint:
        say(f"hint: {problem.hint}", sys.stderr)


def check_result(
    reason: str | None, errors: list[str], options: BuildOptions, *, as_json: bool, quiet: bool
) -> None:
    """--check's answer; ``errors``: the last run's, which still hold while it is current."""
    from build_ca_bundle.fastpath import bundle_path

    code = ExitCode.OK if reason is None else ExitCode.STALE
    if as_json:
        emit_json(
            {
                "bundle": {"path": str(bundle_path(options))},
                "current": reason is None,
                "reason": reason,
                "errors": errors,
                "exit_code": int(code),
            }
        )
        return
    if not quiet:  # errors only: a logon script's `--check --quiet` reads the exit code
        say(f"stale: {reason}" if reason is not None else f"current: {bundle_path(options)}")
    for error in errors:
        say(error, sys.stderr)


# --- the main job ---------------------------------------------------------------------------


def findings_json(findings: Sequence[Finding]) -> list[dict[str, str]]:
    return [
        {
            "severity": finding.severity.value,
            "where": finding.where,
            "message": finding.message,
            "fix": finding.fix,
        }
        for finding in findings
    ]


def _entry_json(entry: Entry) -> dict[str, Any]:
    cert = entry.certificate
    return {
        "subject": cert.subject,
        "label": cert.label,
        "sha256": cert.sha256,
        "not_after": cert.not_after.isoformat(),
        "origins": list(entry.origins),
    }


def build_json(
    report: BuildReport, *, exit_code: int, verify: list[TargetResult]
) -> dict[str, Any]:
    """The stable JSON shape of a run, documented in the README."""
    from build_ca_bundle.certificates import Verdict
    from build_ca_bundle.targets import as_planned

    payload: dict[str, Any] = {
        "dry_run": report.dry_run,
        "bundle": {
            "path": str(report.bundle_path),
            "changed": report.bundle_changed,
            "certificates": len(report.selection.entries),
            "extra_roots": str(report.extra_roots_path),
        },
        "policy": {
            "path": str(report.options.policy_path) if report.options.policy_path else None,
            "paths": [str(path) for path in report.options.policy_paths],  # machine's first
            "values": list(report.options.policy_values),
        },
        "sources": [
            {
                "name": source.name,
                "kind": source.kind.value,
                "trusted": source.count(Verdict.TRUST),
                "distrusted": source.count(Verdict.DISTRUST),
                "inputs": [str(path) for path in source.inputs],
                "notes": list(source.notes),
            }
            for source in report.sources
        ],
        "beyond_certifi": [_entry_json(entry) for entry in report.selection.beyond_base()],
        "excluded": [
            {
                "subject": item.certificate.subject,
                "sha256": item.certificate.sha256,
                "source": item.source,
                "reason": item.reason,
            }
            for item in report.selection.excluded
        ],
        "problems": [{"where": p.where, "message": p.message} for p in report.problems],
        "changes": [
            {
                "target": change.target,
                "path": str(change.path),
                "key": change.key,
                "old": change.old,
                "new": change.new,
                # As the text says them: a dry run "would create the file" (it said
                # "created the file" beside "applied": false).
                "notes": [as_planned(note) if report.dry_run else note for note in change.notes],
                "applied": not report.dry_run,
            }
            for change in report.changes
        ],
        "findings": findings_json(report.findings),
        "verify": [target_json(result) for result in verify],
        "exit_code": exit_code,
    }
    # Which rule decided each certificate, per source (certifi's all say the same).
    for source, described in zip(report.sources, payload["sources"], strict=True):
        described["decisions"] = [
            {
                "sha256": c.certificate.sha256,
                "label": c.certificate.label,
                "verdict": c.verdict.value,
                "reason": c.reason,
            }
            for c in source.candidates
            if source.kind.value != "base"
        ]
    return payload


def build_human(report: BuildReport, *, verbose: bool = False) -> None:
    """A few lines a person reads: what was found, what was written, what changed."""
    entries = report.selection.entries
    if report.bundle_changed:
        verb = "would write" if report.dry_run else "wrote"
    else:
        verb = "bundle unchanged:"
    say(f"{verb} {report.bundle_path} ({len(entries)} certificates)")
    _sources_human(report, verbose=verbose)
    _beyond_human(report, verbose=verbose)
    if report.selection.excluded:
        say(f"left out ({len(report.selection.excluded)}):")
        for item in report.selection.excluded:
            cert = item.certificate
            # Where it was found: the file to fix or remove (an unloadable root's above all).
            say(f"  {cert.label} (sha256 {cert.sha256[:16]}) from {item.source}: {item.reason}")
    # One that is an error (an --extra-ca path not read) is said once, on stderr, below.
    told = {finding.where for finding in report.findings}
    problems = [problem for problem in report.problems if problem.where not in told]
    if problems:
        say(f"problems, skipped ({len(problems)}):")
        for problem in problems:
            say(f"  {problem}")
    if verbose:
        say("certificates in the bundle:")
        for entry in entries:
            cert = entry.certificate
            say(f"  {cert.sha256[:16]}  {cert.label}  [{', '.join(entry.origins)}]")
    _changes_human(report)
    findings_human(report.findings, errors=sys.stderr)


def _sources_human(report: BuildReport, *, verbose: bool) -> None:
    from build_ca_bundle.certificates import Verdict

    options = report.options
    excluded = {item.certificate.sha256 for item in report.selection.excluded}
    for source in report.sources:
        line = f"  {source.name}: {source.count(Verdict.TRUST)} trusted"
        trusted = {c.certificate.sha256 for c in source.candidates if c.verdict is Verdict.TRUST}
        left_out = len(trusted & excluded)
        if left_out:  # a leaf in an --extra-ca file, an expired root: "left out" says why
            line += f" ({left_out} of them left out, below)"
        distrusted = source.count(Verdict.DISTRUST)
        if distrusted:
            line += f", {distrusted} distrusted"
        intermediates = source.count(Verdict.INTERMEDIATE)
        if intermediates and not options.include_intermediates:
            line += f", {intermediates} intermediate(s) left out (see --include-intermediates)"
        say(line)
        if verbose:
            for note in source.notes:
                say(f"    note: {note}")
            if source.kind.value != "base":  # certifi's roots all have the same reason
                for candidate in source.candidates:
                    verdict = candidate.verdict.value
                    say(f"    {verdict}: {candidate.certificate.label} ({candidate.reason})")
    if options.policy_path is not None and options.policy_values:
        # The keys of both files when a named one is read over the machine's.
        files = ", then ".join(map(str, options.policy_paths))
        say(f"  policy {files}: " + ", ".join(options.policy_values))


def _beyond_human(report: BuildReport, *, verbose: bool) -> None:
    beyond = report.selection.beyond_base()
    if not beyond:
        say("the OS adds no roots beyond certifi")
        return
    # On a distro whose CA package is older than certifi, dozens of public roots certifi
    # has since dropped came first and hid the one corporate root: those go on one line.
    public = set() if verbose else _packaged_roots()
    listed = [entry for entry in beyond if entry.certificate.sha256 not in public]
    say(f"roots the OS or your files add beyond certifi ({len(beyond)}):")
    for entry in listed:
        say(f"  {entry.certificate.subject}")
        say(f"    sha256 {entry.certificate.sha256}  from {', '.join(entry.origins)}")
    if len(listed) < len(beyond):
        say(
            f"  and {len(beyond) - len(listed)} public roots of the OS's CA package that "
            "certifi no longer ships (--verbose lists them)"
        )


def _packaged_roots() -> set[str]:
    from build_ca_bundle.sources import linux

    on_linux = sys.platform.startswith("linux")  # a plain bool: mypy --platform checks both
    return linux.packaged_roots() if on_linux else set()


def _changes_human(report: BuildReport) -> None:
    from build_ca_bundle.targets import as_planned

    prefix = "would set" if report.dry_run else "set"
    for change in report.changes:
        say(f"{change.target}: {prefix} {change}")
        for note in change.notes:
            say(f"  {as_planned(note) if report.dry_run else note}")
    if not report.changed_anything:
        from build_ca_bundle.targets import Severity

        # Not "every setting": one that was not configured says so below, as an error.
        if any(finding.severity is Severity.ERROR for finding in report.findings):
            say("nothing changed: the bundle is current; see the errors below")
        else:
            say("nothing to do: the bundle is current and every setting already points at it")


def findings_human(
    findings: Sequence[Finding], *, errors: TextIO | None = None, others: TextIO | None = None
) -> None:
    """Each finding and its fix; the errors to ``errors`` and the rest to ``others`` if
    given. A build sends errors to stderr (our setting will not apply, or verification is
    off), where a logon script that discards stdout still keeps them; doctor's report is all
    of its stdout, and all of its stderr under --quiet."""
    for finding in findings:
        stream = errors if finding.severity.value == "error" else others
        say(f"{finding.severity.value}: {finding}", stream)
        say(f"  fix: {finding.fix}", stream)


# --- verify ---------------------------------------------------------------------------------


def target_json(result: TargetResult) -> dict[str, Any]:
    return {
        "url": result.url,
        "proxy": result.proxy,
        "checks": {
            check.trust: {"status": check.status.value, "detail": check.detail}
            for check in result.checks
        },
        "chain": [
            {"subject": cert.subject, "issuer": cert.issuer, "sha256": cert.sha256}
            for cert in result.chain
        ],
        "advice": list(result.advice),
    }


def targets_human(
    results: Sequence[TargetResult], *, verbose: bool = False, stream: TextIO | None = None
) -> None:
    for result in results:
        via = f" via {result.proxy}" if result.proxy else ""
        say(f"{result.url}{via}", stream)
        for check in result.checks:
            detail = f" ({check.detail})" if check.detail and check.status.value != "ok" else ""
            say(f"  {check.trust:8} {check.status.value}{detail}", stream)
        failed = any(check.status.value != "ok" for check in result.checks)
        if result.chain and (failed or verbose):
            say("  chain presented:", stream)
            for cert in result.chain:
                say(f"    {cert.subject}", stream)
                say(f"      issuer {cert.issuer}; sha256 {cert.sha256}", stream)
        for line in result.advice:
            say(f"  -> {line}", stream)


# --- undo -----------------------------------------------------------------------------------


def undo_human(report: UndoReport, *, quiet: bool = False) -> None:
    """What undo did; with ``quiet``, only what it could not do, on stderr (a setting not
    undone was said on stdout, and a dangling cert not at all)."""
    from build_ca_bundle.targets import NOT_UNDONE

    for change, outcome in report.outcomes:
        if not quiet:
            say(f"{change.target}: {change.path}: {change.key}: {outcome}")
        elif outcome.startswith(NOT_UNDONE):
            say(f"error: {change.target}: {change.path}: {change.key}: {outcome}", sys.stderr)
    if quiet:
        _undo_errors(report)
        return
    for path in report.removed:
        say(f"would remove {path}" if report.dry_run else f"removed {path}")
    for path in report.foreign:
        say(f"left alone: {path} (this tool did not write it)")
    if report.still_set:
        names = " ".join(report.still_set)
        said = "would still name" if report.dry_run else "still name"
        if sys.platform == "win32":  # cmd and PowerShell have no unset
            clear = "; ".join(f"Remove-Item Env:{name}" for name in report.still_set)
            run = f"`{clear}` in PowerShell (in cmd: `set NAME=` for each)"
        else:
            run = f"`unset {names}`"
        say(
            f"note: this shell's {names} {said} a removed file: run {run} "
            "(or open a new shell), and take them out of the profile or CI settings "
            "that set them"
        )
    if report.nothing_done():
        say("nothing to undo: no record of changes and no bundle")
        if report.elsewhere is not None:
            say(
                f"{report.elsewhere_by} names {report.elsewhere}, a bundle of this tool's: "
                "undo it with "
                f"build-ca-bundle {_undo_arguments(report.elsewhere)}"
            )
    _undo_errors(report)


def _undo_errors(report: UndoReport) -> None:
    """Why undo kept the bundle, or left pip naming a missing one: on stderr, --quiet too."""
    kept = "would keep" if report.dry_run else "kept"
    if report.named_by is not None:
        say(
            f"error: {kept} {report.kept}: {report.named_by} names it in its cert setting, "
            "which this tool did not put there; remove that line, then run "
            "build-ca-bundle undo again",
            sys.stderr,
        )
    elif report.kept is not None:
        say(
            f"error: {kept} {report.kept}: the settings not undone above still point at it; "
            "fix what they name, then run build-ca-bundle undo again",
            sys.stderr,
        )
    if report.dangling is not None:
        config, gone = report.dangling
        say(
            f"error: {config}: cert names {gone}, this tool's bundle, which is gone with the "
            "record of what was there before (its folder was removed by hand?): pip fails "
            "until that line goes; take it out, or run build-ca-bundle to make the bundle "
            "again",
            sys.stderr,
        )


def _undo_arguments(bundle: Path) -> str:
    """How to undo ``bundle``: by its scope when it is a scope's own (a venv's: ``--output``
    undid it but left the venv's share folder, which only the scope's undo removes), else
    by its path."""
    from build_ca_bundle.paths import default_bundle_path
    from build_ca_bundle.scope import Scope

    for scope in (Scope.SITE, Scope.GLOBAL, Scope.USER):
        if default_bundle_path(scope) == bundle:
            return f"--scope {scope.value} undo"
    return f"undo --output {bundle}"


def undo_json(report: UndoReport) -> dict[str, Any]:
    return {
        "undone": [
            {"target": c.target, "path": str(c.path), "key": c.key, "outcome": outcome}
            for c, outcome in report.outcomes
        ],
        "removed": [str(path) for path in report.removed],
        "left_alone": [str(path) for path in report.foreign],
        "kept": None if report.kept is None else str(report.kept),
        "named_by": None if report.named_by is None else str(report.named_by),
        "elsewhere": None if report.elsewhere is None else str(report.elsewhere),
        "still_set": report.still_set,
        "dangling": None if report.dangling is None else str(report.dangling[0]),
        "dry_run": report.dry_run,
        "exit_code": int(undo_exit_code(report)),
    }


def undo_exit_code(report: UndoReport) -> ExitCode:
    """3 while a setting could not be reverted (its file is left as it was)."""
    from build_ca_bundle.targets import NOT_UNDONE

    not_undone = any(outcome.startswith(NOT_UNDONE) for _, outcome in report.outcomes)
    if report.kept is None and report.dangling is None and not not_undone:
        return ExitCode.OK
    return ExitCode.CONFIG


Printer = Callable[[str], None]
