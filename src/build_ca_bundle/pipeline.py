"""The main job, end to end: read the sources, merge, write the bundle, point pip at it.

The CLI parses flags into :class:`BuildOptions`, calls :func:`build` and prints the
:class:`BuildReport`; this module holds the order of the steps and nothing platform-specific.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from build_ca_bundle import bundle
from build_ca_bundle.certificates import (
    Problem,
    Selection,
    SourceKind,
    SourceResult,
    Verdict,
    select,
)
from build_ca_bundle.errors import NoCertificatesError, RequiredRootMissingError
from build_ca_bundle.options import BuildOptions
from build_ca_bundle.scope import Scope
from build_ca_bundle.sources import StoreOptions, files, load_os_store, mozilla
from build_ca_bundle.targets import Change, Finding, Plan


@dataclass
class BuildReport:
    """What a run found and did: the CLI's human and JSON output are made from this."""

    bundle_path: Path
    bundle_changed: bool
    selection: Selection
    sources: list[SourceResult]
    plans: list[Plan]
    changes: list[Change]
    dry_run: bool

    @property
    def problems(self) -> list[Problem]:
        return [problem for source in self.sources for problem in source.problems]

    @property
    def findings(self) -> list[Finding]:
        return [finding for plan in self.plans for finding in plan.findings]

    @property
    def changed_anything(self) -> bool:
        return self.bundle_changed or bool(self.changes)

    def count(self, source: SourceResult, verdict: Verdict) -> int:
        """How many distinct certificates a source gave this verdict."""
        return len({c.certificate.sha256 for c in source.candidates if c.verdict is verdict})


def bundle_path(options: BuildOptions) -> Path:
    return options.output or bundle.default_path(options.scope)


def read_sources(options: BuildOptions, output: Path) -> list[SourceResult]:
    """certifi, the OS store, and the files the user named, each as its own result."""
    store_options = StoreOptions(
        scope=options.scope.value,
        own_outputs=(output,),
        include_intermediates=options.include_intermediates,
        windows_host=options.windows_host,
        environ=options.environ,
    )
    results = [mozilla.load(), *load_os_store(store_options)]
    if options.extra_ca:
        results.append(files.load(options.extra_ca, own_outputs=(output,)))
    return results


def build(options: BuildOptions) -> BuildReport:
    """Run the main job. Raises a :class:`BuildCABundleError` when it must refuse."""
    output = bundle_path(options)
    sources = read_sources(options, output)
    _refuse_without_os_roots(sources, options)
    selection = select(
        sources,
        now=options.now or dt.datetime.now(dt.timezone.utc),
        keep_expired=options.keep_expired,
        include_intermediates=options.include_intermediates,
        exclude=options.exclude,
    )
    if not selection.entries:
        raise NoCertificatesError(
            "no usable certificates: every source was empty or unreadable",
            hint="see the problems listed above",
        )
    _check_required(selection, options.require)
    content = bundle.render(selection.entries)
    plans = _plan_targets(output, options)
    if options.dry_run:
        changed = bundle.read_existing(output) != content
        changes = [change for plan in plans for change in plan.changes]
    else:
        changed = bundle.write(output, content).changed
        changes = _apply(plans)
    return BuildReport(
        bundle_path=output,
        bundle_changed=changed,
        selection=selection,
        sources=sources,
        plans=plans,
        changes=changes,
        dry_run=options.dry_run,
    )


def _refuse_without_os_roots(sources: list[SourceResult], options: BuildOptions) -> None:
    """A certifi-only bundle written as if all were well would hide the real failure."""
    os_sources = [source for source in sources if source.kind is SourceKind.OS]
    trusted = any(
        candidate.verdict is Verdict.TRUST for source in os_sources for candidate in source.candidates
    )
    if trusted or options.extra_ca:
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
    missing = [value for value in required if _fingerprint(value) not in present]
    if missing:
        raise RequiredRootMissingError(
            "a required root is not in the result, so nothing was changed: " + ", ".join(missing),
            hint=(
                "the machine may not have received the corporate root yet (not enrolled?); "
                "check the OS trust store, or pass the root with --extra-ca FILE"
            ),
        )


def _fingerprint(value: str) -> str:
    return value.strip().lower().replace(":", "")


def _plan_targets(output: Path, options: BuildOptions) -> list[Plan]:
    if options.scope is Scope.NONE:
        return []
    from build_ca_bundle.targets import pip

    return [pip.plan(output, options.scope, pip.PipEnvironment.current(options.environ))]


def _apply(plans: list[Plan]) -> list[Change]:
    from build_ca_bundle.targets import pip

    applied: list[Change] = []
    for plan in plans:
        if plan.changes:
            applied.extend(pip.apply(plan))
    return applied
