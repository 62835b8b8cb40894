"""The command line: parse flags, call the library, print what happened. No logic of its own."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from build_ca_bundle import __version__
from build_ca_bundle.errors import BuildCABundleError, ExitCode
from build_ca_bundle.scope import Scope

if TYPE_CHECKING:  # the pipeline imports cryptography: keep --help and --version light
    from collections.abc import Callable

    from build_ca_bundle.certificates import Entry
    from build_ca_bundle.pipeline import BuildReport

JSON_FORMAT_VERSION = 1

_DESCRIPTION = """\
Build one CA bundle from the roots this machine's OS trusts for TLS (corporate, group-policy
and MDM roots included; what the OS distrusts excluded) merged with certifi's, write it to a
fixed path, and point pip's `cert` option at it. Verification stays on.
"""

_EPILOG = """\
exit codes: 0 done (also: nothing to do), 2 usage, 3 a config file could not be read or
written, 4 no usable certificates, 5 the bundle could not be written, 8 a required root is
missing (nothing changed), 11 another run held the lock too long.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build-ca-bundle",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--scope",
        choices=[scope.value for scope in Scope],
        default=Scope.USER.value,
        help="whose pip config to set and where the bundle goes: user (default), site "
        "(this Python environment), global (the whole machine; needs admin), none (bundle only)",
    )
    parser.add_argument(
        "--output", "-o", type=Path, metavar="PATH", help="write the bundle here instead"
    )
    parser.add_argument(
        "--extra-ca",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="also trust the certificates in this PEM/DER file or folder (repeatable)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="SHA256",
        help="never include the certificate with this SHA-256 fingerprint (repeatable)",
    )
    parser.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="SHA256",
        help="change nothing and exit 8 unless this root is in the result (repeatable)",
    )
    parser.add_argument(
        "--keep-expired", action="store_true", help="keep expired roots (dropped by default)"
    )
    parser.add_argument(
        "--include-intermediates",
        action="store_true",
        help="also add OS intermediates that chain to a root in the bundle (Windows CA store)",
    )
    parser.add_argument(
        "--no-windows-host",
        dest="windows_host",
        action="store_false",
        help="under WSL, do not read the Windows host's trust store",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would change; write nothing"
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    output.add_argument("--json", action="store_true", help="print one JSON object (stable)")
    output.add_argument(
        "--verbose", "-v", action="store_true", help="also list every certificate and source note"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    args = build_parser().parse_args(argv)
    from build_ca_bundle.pipeline import BuildOptions, build

    options = BuildOptions(
        scope=Scope(args.scope),
        output=args.output.expanduser().absolute() if args.output else None,
        extra_ca=tuple(path.expanduser() for path in args.extra_ca),
        keep_expired=args.keep_expired,
        include_intermediates=args.include_intermediates,
        exclude=tuple(args.exclude),
        require=tuple(args.require),
        windows_host=args.windows_host,
        dry_run=args.dry_run,
        environ=dict(os.environ),
    )
    try:
        report = build(options)
    except BuildCABundleError as error:
        _print_error(error, as_json=args.json)
        return int(error.exit_code)
    if args.json:
        _print_json(report_to_json(report))
    elif not args.quiet:
        print_report(report, verbose=args.verbose)
    return int(ExitCode.OK)


# --- output -------------------------------------------------------------------------------


def _print_error(error: BuildCABundleError, *, as_json: bool) -> None:
    if as_json:
        payload = {
            "format": JSON_FORMAT_VERSION,
            "error": {"message": error.message, "hint": error.hint},
            "exit_code": int(error.exit_code),
        }
        _print_json(payload)
    print(f"error: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"hint: {error.hint}", file=sys.stderr)


def _print_json(payload: dict[str, Any]) -> None:
    json.dump(payload, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def report_to_json(report: BuildReport) -> dict[str, Any]:
    """The stable JSON shape of a run, documented in the README."""
    from build_ca_bundle.certificates import Verdict

    return {
        "format": JSON_FORMAT_VERSION,
        "dry_run": report.dry_run,
        "bundle": {
            "path": str(report.bundle_path),
            "changed": report.bundle_changed,
            "certificates": len(report.selection.entries),
        },
        "sources": [
            {
                "name": source.name,
                "kind": source.kind.value,
                "trusted": report.count(source, Verdict.TRUST),
                "distrusted": report.count(source, Verdict.DISTRUST),
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
                "notes": list(change.notes),
                "applied": not report.dry_run,
            }
            for change in report.changes
        ],
        "findings": [
            {
                "severity": finding.severity.value,
                "where": finding.where,
                "message": finding.message,
                "fix": finding.fix,
            }
            for finding in report.findings
        ],
        "exit_code": int(ExitCode.OK),
    }


def _entry_json(entry: Entry) -> dict[str, Any]:
    cert = entry.certificate
    return {
        "subject": cert.subject,
        "label": cert.label,
        "sha256": cert.sha256,
        "not_after": cert.not_after.isoformat(),
        "origins": list(entry.origins),
    }


def print_report(report: BuildReport, *, verbose: bool = False, out: TextIO | None = None) -> None:
    """A few lines a person reads: what was found, what was written, what changed."""
    from build_ca_bundle.certificates import Verdict

    stream = out or sys.stdout

    def say(line: str = "") -> None:
        print(line, file=stream)

    entries = report.selection.entries
    if report.dry_run:
        verb = "would write" if report.bundle_changed else "bundle unchanged:"
    else:
        verb = "wrote" if report.bundle_changed else "bundle unchanged:"
    say(f"{verb} {report.bundle_path} ({len(entries)} certificates)")
    for source in report.sources:
        trusted = report.count(source, Verdict.TRUST)
        distrusted = report.count(source, Verdict.DISTRUST)
        line = f"  {source.name}: {trusted} trusted"
        if distrusted:
            line += f", {distrusted} distrusted"
        say(line)
        if verbose:
            for note in source.notes:
                say(f"    note: {note}")
    beyond = report.selection.beyond_base()
    if beyond:
        say(f"roots the OS or your files add beyond certifi ({len(beyond)}):")
        for entry in beyond:
            cert = entry.certificate
            say(f"  {_printable(cert.subject)}")
            say(f"    sha256 {cert.sha256}  from {', '.join(entry.origins)}")
    else:
        say("the OS adds no roots beyond certifi")
    if report.selection.excluded:
        say(f"left out ({len(report.selection.excluded)}):")
        for item in report.selection.excluded:
            say(f"  {_printable(item.certificate.label)}: {item.reason}")
    if report.problems:
        say(f"problems, skipped ({len(report.problems)}):")
        for problem in report.problems:
            say(f"  {_printable(str(problem))}")
    if verbose:
        say("certificates in the bundle:")
        for entry in entries:
            say(f"  {entry.certificate.sha256[:16]}  {_printable(entry.certificate.label)}")
    _print_changes(report, say)
    for finding in report.findings:
        say(f"{finding.severity.value}: {_printable(str(finding))}")
        say(f"  fix: {finding.fix}")


def _print_changes(report: BuildReport, say: Callable[[str], None]) -> None:
    prefix = "would set" if report.dry_run else "set"
    for change in report.changes:
        say(f"{change.target}: {prefix} {change}")
        for note in change.notes:
            say(f"  {note}")
    if not report.changed_anything:
        say("nothing to do: the bundle is current and pip already points at it")


def _printable(text: str) -> str:
    """Keep a line on a terminal that cannot show every character."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)
