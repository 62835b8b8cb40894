"""The unchanged run: decide from the manifest, without importing cryptography or parsing a
certificate. Also ``--check``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from build_ca_bundle import manifest
from build_ca_bundle.options import BuildOptions
from build_ca_bundle.paths import default_bundle_path


def bundle_path(options: BuildOptions) -> Path:
    return options.output or default_bundle_path(options.scope, environ=options.environ)


def stale_reason(options: BuildOptions, *, live_check: bool = True) -> str | None:
    """None when the last full run's result still holds; otherwise why not. ``live_check``:
    as :func:`manifest.why_stale`."""
    return check(options, live_check=live_check)[0]


def check(options: BuildOptions, *, live_check: bool = True) -> tuple[str | None, list[str]]:
    """:func:`stale_reason`, and while the run still holds, the errors it found (they hold
    too: PIP_CERT beats our setting, say), from one reading of the record."""
    now, path, recorded = _recorded(options)
    reason = manifest.why_stale(
        recorded, options.key(), now, path, options_key=options.options_key, live_check=live_check
    )
    return reason, manifest.recorded_errors(recorded) if reason is None else []


def recorded_run(options: BuildOptions) -> tuple[str | None, list[str] | None]:
    """For a recorded run with other options than these (or in another environment): why
    it no longer holds (None: it does), and its arguments (None in a record too old to have
    them). ``doctor`` after ``build-ca-bundle --configure pip,git`` finds that run current."""
    now, path, recorded = _recorded(options)
    reason = manifest.why_stale(recorded, None, now, path)
    arguments = None if recorded is None else recorded.get("arguments")
    well_formed = isinstance(arguments, list) and all(isinstance(a, str) for a in arguments)
    return reason, arguments if well_formed else None


def _recorded(options: BuildOptions) -> tuple[float, Path, manifest.Record | None]:
    """Now, the bundle's path and the record of the run that wrote it."""
    now = options.now or dt.datetime.now(dt.timezone.utc)
    path = bundle_path(options)
    return now.timestamp(), path, manifest.load(path)


def start_loading(options: BuildOptions) -> str | None:
    """A full run is due. Returns the last bundle's load proof (``bundle.proof``), if any;
    without one, starts loading certifi's file in ssl on a thread (``openssl.Preload``), so
    that it overlaps the rest of the run. The CLI calls this before it imports the pipeline,
    then the pipeline, which finds the load started."""
    loaded_before = manifest.loaded_proof(bundle_path(options))
    if loaded_before is None:
        from build_ca_bundle import openssl, paths

        openssl.preload(paths.certifi_bundle())
    return loaded_before


def report_unchanged(options: BuildOptions, *, quiet: bool) -> int:
    """Say the unchanged run's lines; its exit code (:func:`manifest.exit_code`)."""
    path = bundle_path(options)
    recorded = manifest.load(path)
    if recorded is None:
        return 0
    manifest.say_unchanged(path, recorded, quiet=quiet)
    return manifest.exit_code(recorded)


def check_in_full(reason: str, options: BuildOptions) -> tuple[str | None, list[str]]:
    """The record cannot vouch for the bundle (pip.conf touched, a line added to it, a store
    file rewritten the same, other options): a dry run decides, as a compliance sweep asks,
    whether a run would change the bundle or a setting. Stale (``reason``) if it would, if
    it fails, or if what the last run wrote is not as it left it (a dry run compares only
    the bundle's bytes)."""
    from build_ca_bundle import pipeline
    from build_ca_bundle.errors import BuildCABundleError

    bundle = bundle_path(options)
    if not manifest.outputs_intact(manifest.load(bundle), bundle):
        return reason, []
    try:
        report = pipeline.build(options.replace(dry_run=True))
    except BuildCABundleError:
        return reason, []
    if report.bundle_changed or report.changes:
        return reason, []
    errors = [
        f"error: {finding} (fix: {finding.fix})"
        for finding in report.findings
        if finding.severity.value == "error"
    ]
    return None, errors
