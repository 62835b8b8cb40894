"""One function per command: call the library, print through :mod:`output`, return the exit
code. The CLI parses; these glue; the library decides."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from build_ca_bundle import output
from build_ca_bundle.errors import BuildCABundleError, BundleError, ExitCode
from build_ca_bundle.options import BuildOptions, fingerprint
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import Finding, Severity

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from build_ca_bundle.targets.env import CIExport
    from build_ca_bundle.targets.pip import PipEnvironment
    from build_ca_bundle.verify import TargetResult

POST_BUILD_TIMEOUT = 3.0


def build(args: argparse.Namespace, options: BuildOptions) -> int:
    from build_ca_bundle import fastpath, manifest, pipeline

    check_again = manifest.check_failed(fastpath.bundle_path(options))
    # A CI export that cannot work fails before anything is done.
    ci = _ci_export(fastpath.bundle_path(options), options) if getattr(args, "ci", False) else None
    report = pipeline.build(options)
    results: list[TargetResult] = []
    code = ExitCode.OK
    if (
        args.verify
        and (report.changed_anything or check_again)
        and not options.dry_run
        and "pip" in options.configure
    ):
        results = _check_pip_index(report.bundle_path, options, args.proxy)
        code = _verify_code(results, offline_counts=False)
        if code is ExitCode.VERIFY_FAILED:
            manifest.flag_check_failed(report.bundle_path)
    checked = code
    exported = None
    if ci is not None:
        values, export = ci
        exported = _export_to_ci(
            report.bundle_path, values, export, options, quiet=args.quiet, as_json=args.json
        )
    # What --ci exported to later CI steps names the bundle there: it beats ours no more.
    variables = exported.get("variables") if exported and exported.get("system") else None
    if isinstance(variables, dict):
        report.settle_exported(variables)
    if code is ExitCode.OK and not options.dry_run and report.not_applied():
        code = ExitCode.NOT_APPLIED  # done, but pip (or another tool) will not use it
    if args.json:
        payload = output.build_json(report, exit_code=int(code), verify=results)
        if exported is not None:
            payload["ci"] = exported
        output.emit_json(payload)
    elif not args.quiet:
        output.build_human(report, verbose=args.verbose)
        if results:
            output.targets_human(results)
    else:  # errors only, on stderr: what keeps pip from the bundle, a failed check
        errors = [f for f in report.findings if f.severity is Severity.ERROR]
        output.findings_human(errors, errors=sys.stderr)
        if checked is not ExitCode.OK:  # the check's own verdict: a passed one is no error
            output.targets_human(results, stream=sys.stderr)
    return int(code)


def _check_pip_index(bundle: Path, options: BuildOptions, proxy: str | None) -> list[TargetResult]:
    """After a change: does pip's index verify with the new bundle? Offline is not a failure."""
    from build_ca_bundle import verify
    from build_ca_bundle.targets import pip

    env = pip.PipEnvironment.current(options.environ)
    index = pip.option_value(env, "index-url") or verify.DEFAULT_TARGETS[0]
    result = verify.check_target(
        index,
        contexts=[("bundle", lambda: verify.bundle_context(bundle))],
        proxy=pip.proxy_for(index, env, explicit=proxy),
        timeout=POST_BUILD_TIMEOUT,
    )
    return [result]


def _verify_code(results: list[TargetResult], *, offline_counts: bool) -> ExitCode:
    """A certificate failure of the bundle first; then the network, where the user asked;
    then a bundle that is missing or does not load."""
    from build_ca_bundle.verify import Status

    checks = [check for result in results for check in result.checks]
    if any(c.trust == "bundle" and c.status is Status.CERTIFICATE for c in checks):
        return ExitCode.VERIFY_FAILED
    # A handshake that failed with no certificate verdict (EOF, plain http on 443) is the
    # network's or the server's, as offline is: exit 6 says "failed on a certificate".
    network = (Status.OFFLINE, Status.PROXY, Status.TLS)
    if offline_counts and any(c.status in network for c in checks):
        return ExitCode.OFFLINE
    if any(c.trust == "bundle" and c.status is Status.UNAVAILABLE for c in checks):
        return ExitCode.BUNDLE  # none there, or it does not load (the other checks still ran)
    return ExitCode.OK


def _ci_export(bundle: Path, options: BuildOptions) -> tuple[dict[str, str], CIExport | None]:
    """The variables --ci exports, and how this CI system takes them (None outside CI),
    checked (env.check_ci_export) before the run builds anything."""
    from build_ca_bundle.pipeline import extra_roots_path
    from build_ca_bundle.targets import env

    values = env.variables(bundle, extra_roots_path(bundle))
    export = env.ci_export(values, options.environ)
    if export is not None:
        env.check_ci_export(export, options.environ, try_open=not options.dry_run)
    return values, export


def _export_to_ci(
    bundle: Path,
    values: dict[str, str],
    export: CIExport | None,
    options: BuildOptions,
    *,
    quiet: bool,
    as_json: bool,
) -> dict[str, object]:
    """Export the variables to later CI steps; what was exported, for ``--json`` (whose
    stdout must stay one JSON object: no line of ours goes there, only Azure's ``##vso``
    commands, which Azure reads from stdout)."""
    from build_ca_bundle.targets import env

    if export is None:  # not in a known CI system: print them, for the user to pass on
        if options.dry_run and not bundle.is_file():
            # As `env` refuses to: lines pointing curl, requests or uv at a file the dry run
            # did not write would make them trust nothing.
            nothing = f"no variables printed: a dry run writes no bundle, and {bundle} is not there"
            if not (quiet or as_json):
                output.say(f"warning: {nothing}")
            return {"system": None, "path": None, "variables": {}, "warning": nothing}
        if not as_json:
            shell = env.default_shell(options.environ)
            env.print_exactly(env.render(values, shell), "printed", batch=env.oem_shell(shell))
        return {"system": None, "path": None, "variables": values, "warning": None}
    if not options.dry_run:  # no bundle was written: steps pointed at it would trust nothing
        env.write_ci_export(export)
    warning = env.ci_export_warning(export, bundle, options.environ)
    if not (quiet or as_json):
        done = "would export" if options.dry_run else "exported"
        where = f" ({export.path})" if export.path else ""
        output.say(f"{done} {len(values)} variables to later {export.system} steps{where}")
        if warning:
            output.say(f"warning: {warning}")
    path = str(export.path) if export.path else None
    return {"system": export.system, "path": path, "variables": values, "warning": warning}


def from_server(args: argparse.Namespace, options: BuildOptions) -> BuildOptions | None:
    """Show the chain; with a matching --pin, return options that trust its top certificate."""
    from build_ca_bundle import pipeline

    chain, ders = pipeline.presented_chain(args.from_server, proxy=args.proxy, options=options)
    if not args.json and not args.quiet:
        output.say(f"{chain.host}:{chain.port} presents:")
        for subject, issuer, sha256 in chain.chain:
            output.say(f"  {subject}")
            output.say(f"    issuer {issuer}; sha256 {sha256}")
    if args.pin is None:
        root = bool(ders) and pipeline.is_a_root(ders[-1])
        command = (
            f"build-ca-bundle --from-server {args.from_server} --pin {chain.top[2]}"
            if root
            else "build-ca-bundle --extra-ca FILE (the server does not present its root: "
            "ask IT for it)"
        )
        if args.json:
            presented = [
                {"subject": subject, "issuer": issuer, "sha256": sha256}
                for subject, issuer, sha256 in chain.chain
            ]
            output.emit_json(
                {
                    "from_server": {"host": chain.host, "port": chain.port, "chain": presented},
                    "trusted": None,
                    "next": command,
                    "exit_code": int(ExitCode.OK),
                }
            )
        elif not args.quiet and root:
            output.say(
                f"nothing trusted. Check the top fingerprint with IT, then run:\n  {command}"
            )
        elif not args.quiet:
            output.say(
                f"nothing trusted. The top certificate presented ({chain.top[0]}) is not a "
                "root, so pinning it would not help: ask IT for the root, then run "
                "build-ca-bundle --extra-ca FILE"
            )
        return None
    pinned = pipeline.pinned_root(chain, ders, args.pin)
    return options.replace(pinned=(*options.pinned, pinned))


def verify(args: argparse.Namespace, options: BuildOptions) -> int:
    from build_ca_bundle import fastpath
    from build_ca_bundle import verify as live
    from build_ca_bundle.errors import BundleError
    from build_ca_bundle.targets import pip

    env = pip.PipEnvironment.current(options.environ)
    if args.bundle is not None and not args.bundle.is_file():
        # Said before any connection (it was said per server, as "run build-ca-bundle
        # first", which never makes that file). Exit 5, no bundle: a CI step fails on it.
        raise BundleError(
            f"--bundle {args.bundle}: no such file",
            hint=f"build it first (build-ca-bundle --output {args.bundle}), or name the "
            "bundle that exists",
        )
    targets = list(args.urls)  # each checked by argparse (cli._tls_target)
    if not targets:  # pip's own indexes, then the public ones they do not cover
        targets = [*options.verify_targets, *_pip_indexes(env)]
        for default in live.DEFAULT_TARGETS:
            if not any(_same_host(default, target) for target in targets):
                targets.append(default)
    bundle = args.bundle or fastpath.bundle_path(options)
    contexts = [
        ("bundle", lambda: live.bundle_context(bundle)),
        ("os", live.os_context),
        ("certifi", live.certifi_context),
    ]
    results = []
    for url in targets:
        proxy = pip.proxy_for(url, env, explicit=getattr(args, "proxy", None))
        results.append(live.check_target(url, contexts=contexts, proxy=proxy, timeout=args.timeout))
    code = _verify_code(results, offline_counts=True)
    if args.json:
        output.emit_json(
            {
                "bundle": str(bundle),
                "targets": [output.target_json(r) for r in results],
                "exit_code": int(code),
            }
        )
    elif not args.quiet:
        output.targets_human(results, verbose=args.verbose)
    elif code is not ExitCode.OK:  # errors only, on stderr: only the servers that failed
        failed = [r for r in results if any(c.status.value != "ok" for c in r.checks)]
        output.targets_human(failed, stream=sys.stderr)
    return int(code)


def _pip_indexes(env: PipEnvironment) -> list[str]:
    from build_ca_bundle.targets import pip

    found = []
    index = pip.option_value(env, "index-url")
    if index:
        found.append(index)
    extra = pip.option_value(env, "extra-index-url")
    if extra:
        found.extend(extra.split())
    return found


def _same_host(left: str, right: str) -> bool:
    from urllib.parse import urlsplit

    return urlsplit(left).hostname == urlsplit(right).hostname


def doctor(args: argparse.Namespace, options: BuildOptions) -> int:
    from build_ca_bundle import doctor as audits
    from build_ca_bundle import fastpath, manifest
    from build_ca_bundle.targets import pip

    env = pip.PipEnvironment.current(options.environ)
    pip_files = pip.loaded_files(env)
    fixed: list[str] = []
    if args.fix:
        fixed = _fix(options, pip_files, env)
    context = audits.current_context(pip_files).replace(
        environ=options.environ,
        bundle=fastpath.bundle_path(options),
        pip_fixed_by=_pip_fixed_by(options.scope, pip_files, env),
    )
    bundle_findings = _bundle_findings(options, env)
    # pip's plan says exactly how a variable beats pip's cert, and whether it names a missing
    # file: the general finding about the same variable would only say it again.
    for_pip = {f.where.removeprefix("environment variable ") for f in bundle_findings}
    findings = [
        finding
        for finding in audits.run_checks(context)
        if finding.where.removeprefix("environment: ") not in for_pip
    ]
    findings += bundle_findings
    findings += _policy_findings(options, getattr(args, "policy_error", None))
    if manifest.check_failed(fastpath.bundle_path(options)):
        # Not "the bundle is not current, run build-ca-bundle": that run changes nothing
        # (--check says current); the check found a root missing (audit h43).
        findings.append(
            Finding(
                Severity.WARNING,
                str(fastpath.bundle_path(options)),
                "the last run's live check of pip's index failed on a certificate: pip "
                "may fail there with the bundle",
                "run build-ca-bundle verify: it says which server failed, and whose root "
                "neither the bundle nor the OS trusts",
            )
        )
    reason = fastpath.stale_reason(options, live_check=False)
    if reason == manifest.OPTIONS_CHANGED:
        reason, arguments = fastpath.recorded_run(options)
        if reason is None:
            findings.append(_built_otherwise(fastpath.bundle_path(options), arguments))
    if reason is not None:  # as --check decides: pip.conf touched is not stale by itself
        reason, _ = fastpath.check_in_full(reason, options)
    if reason is not None:
        findings.append(
            Finding(
                Severity.WARNING,
                str(fastpath.bundle_path(options)),
                f"the bundle is not current: {reason}",
                "run build-ca-bundle",
            )
        )
    serious = [f for f in findings if f.severity is not Severity.INFO]
    code = ExitCode.FINDINGS if serious else ExitCode.OK
    if args.json:
        output.emit_json(
            {"fixed": fixed, "findings": output.findings_json(findings), "exit_code": int(code)}
        )
    elif args.quiet:
        # Errors only, on stderr, as every --quiet run; but what makes exit 12, when no
        # error does (warnings alone gave exit 12 with nothing said).
        errors = [finding for finding in serious if finding.severity is Severity.ERROR]
        output.findings_human(errors or serious, errors=sys.stderr, others=sys.stderr)
    else:
        for line in fixed:
            output.say(f"fixed: {line}")
        output.findings_human(findings)
        if not findings:
            output.say("no problems found: verification is on and the bundle applies")
    return int(code)


def _policy_findings(options: BuildOptions, unreadable: BuildCABundleError | None) -> list[Finding]:
    """A policy every run refuses: one that does not parse (doctor then looked at the rest
    without it; it exited 3 with no report), or a machine policy an ordinary user could
    change (doctor said only "not current: run build-ca-bundle", and that run exited 5)."""
    from build_ca_bundle.errors import PolicyError, UnsafePathError
    from build_ca_bundle.pipeline import check_machine_policy

    problems: list[BuildCABundleError] = [] if unreadable is None else [unreadable]
    if unreadable is None:
        try:
            check_machine_policy(options)
        except (UnsafePathError, PolicyError) as error:
            problems.append(error)
    return [
        Finding(
            Severity.ERROR,
            "policy",
            f"every run refuses it, and changes nothing: {problem.message}",
            problem.hint or "fix the policy file",
        )
        for problem in problems
    ]


def _built_otherwise(bundle: Path, arguments: list[str] | None) -> Finding:
    """The bundle is current, but was built with other options than doctor's (a plain
    `doctor` after `build-ca-bundle --configure pip,git`): say by which, not "stale"."""
    import shlex

    if arguments is None:  # a record from before arguments were kept
        return Finding(
            Severity.INFO,
            str(bundle),
            "current, built with other options than this doctor's or in another environment",
            "give doctor the options of that run to check what it set up",
        )
    built_by = shlex.join(["build-ca-bundle", *arguments])
    for_doctor = shlex.join(["build-ca-bundle", *_what_doctor_takes(arguments), "doctor"])
    return Finding(
        Severity.INFO,
        str(bundle),
        f"current, built by `{built_by}`, with other options than this doctor's or in "
        "another environment",
        f"to check what that run set up: {for_doctor}",
    )


# A build's flags that say nothing of what it set up, and how many values each takes:
# doctor's hint leaves them out (it offered `build-ca-bundle --configure pip,git
# --no-verify doctor`).
_NOT_OF_THE_SETUP = {
    **dict.fromkeys(("--no-verify", "-q", "--quiet", "--json", "--verbose", "--ci"), 0),
    **dict.fromkeys(("--proxy", "--from-server", "--pin"), 1),
}


def _what_doctor_takes(arguments: list[str]) -> list[str]:
    kept: list[str] = []
    skip = 0
    for argument in arguments:
        if skip:
            skip -= 1
            continue
        name = argument.split("=", 1)[0]
        dropped = _NOT_OF_THE_SETUP.get(name)
        if dropped is None:
            kept.append(argument)
        elif "=" not in argument:
            skip = dropped
    return kept


def _pip_fixed_by(scope: Scope, pip_files: list[Path], env: PipEnvironment) -> dict[Path, str]:
    """Who can remove trusted-host from each pip file that this scope's fix leaves alone."""
    from build_ca_bundle.targets import pip

    fixed_by = {
        Scope.GLOBAL: "an administrator's `build-ca-bundle doctor --fix --scope global`",
        Scope.SITE: "`build-ca-bundle doctor --fix --scope site`, run by this environment's "
        "Python,",
        Scope.USER: "`build-ca-bundle doctor --fix`, run by the account whose file it is,",
    }
    return {
        path: fixed_by[owner]
        for path in pip_files
        if (owner := pip.fix_scope(path, env)) is not None and owner is not scope
    }


def _fix(options: BuildOptions, pip_files: list[Path], env: PipEnvironment) -> list[str]:
    """Build the bundle, point pip at it, and remove pip trusted-host entries."""
    from build_ca_bundle import bundle, fastpath, pipeline
    from build_ca_bundle import doctor as audits
    from build_ca_bundle.targets import backup_of, pip

    output = fastpath.bundle_path(options)
    if options.scope is Scope.GLOBAL:
        bundle.check_machine_path(output)  # before the lock makes any folder there
    # Only this scope's files: the others' trusted-host stays, and doctor says who can
    # remove it. Each is checked before any is edited, so a refusal leaves all as they were.
    fixing = [
        path
        for path in pip_files
        if pip.fix_scope(path, env) is options.scope and audits.pip_trusted_hosts(path)
    ]
    for path in fixing:
        if options.scope is Scope.GLOBAL:
            bundle.check_machine_file(path, "the machine-wide pip config")
        elif options.scope is Scope.USER:
            bundle.check_root_file(path, "the pip config")
    # The bundle and pip's cert first: a build that fails (no roots, a required root
    # missing) must not leave pip with neither trusted-host nor a bundle.
    report = pipeline.build(options)
    if not fixing:
        return [f"{change}" for change in report.changes]
    _refuse_unless_pip_uses(output, options)
    removed = []
    # pip.conf edits take turns with runs (a logon at the same moment), as builds do.
    with bundle.run_lock(output):
        for path in fixing:
            for change in pip.remove_trusted_hosts(path, env):
                kept = backup_of(change)
                at = f" (the file as it was: {kept})" if kept is not None else ""
                hosts = " ".join((change.old or "").split())  # a value of several lines
                removed.append(f"removed {change.key} = {hosts} from {path}{at}")
    # Once more, so that the manifest records pip's files as the fix left them: the next
    # logon's run is then the unchanged one (this build changes nothing else).
    pipeline.build(options)
    return [f"{change}" for change in report.changes] + removed


def _refuse_unless_pip_uses(bundle: Path, options: BuildOptions) -> None:
    """trusted-host goes only where pip now verifies with the bundle: not with pip left
    out of --configure, nor where PIP_CERT, PIP_CONFIG_FILE or a later file gives pip
    another cert. pip would be left with neither."""
    from build_ca_bundle.errors import ConfigError
    from build_ca_bundle.targets import pip

    cert = pip.option_value(pip.PipEnvironment.current(options.environ), "cert")
    uses = cert is not None and Path(cert).expanduser().resolve() == bundle.resolve()
    if not uses:
        raise ConfigError(
            "trusted-host was left as it is: pip does not verify with the bundle "
            f"({'its cert is not set' if cert is None else f'its cert is {cert}'}), and "
            "removing it would leave pip with neither",
            hint="let pip use the bundle first (build-ca-bundle, with pip in --configure; "
            "unset PIP_CERT or PIP_CONFIG_FILE if doctor names them), then doctor --fix",
        )


def _bundle_findings(options: BuildOptions, env: PipEnvironment) -> list[Finding]:
    """What keeps pip from using our bundle, and roots Python 3.13 will reject."""
    from build_ca_bundle import doctor as audits
    from build_ca_bundle import fastpath
    from build_ca_bundle.certificates import read_certificate_file
    from build_ca_bundle.sources import mozilla
    from build_ca_bundle.targets import pip

    bundle = fastpath.bundle_path(options)
    findings: list[Finding] = []
    if options.scope.value != "none":
        findings += pip.plan(bundle, options.scope, env).findings
        current = pip.current_cert(env)
        if current.value is None:
            findings.append(
                Finding(
                    Severity.WARNING,
                    "pip",
                    "pip has no cert setting: it trusts certifi (and, on pip 24.2+, the OS store)",
                    "run build-ca-bundle",
                )
            )
    parsed, _ = read_certificate_file(bundle, allow_der=False)
    if not parsed:
        findings.append(
            Finding(Severity.WARNING, str(bundle), "no bundle yet", "run build-ca-bundle")
        )
        return findings
    present = {item.certificate.sha256 for item in parsed}
    for required in options.require:
        if fingerprint(required) not in present:
            findings.append(
                Finding(
                    Severity.ERROR,
                    str(bundle),
                    f"required root {required} is not in the bundle",
                    "ask IT whether this machine received the corporate root",
                )
            )
    certifi = {c.certificate.sha256 for c in mozilla.load().candidates}
    findings += audits.lint_roots(
        item.certificate for item in parsed if item.certificate.sha256 not in certifi
    )
    return findings


def undo(args: argparse.Namespace, options: BuildOptions) -> int:
    from build_ca_bundle import pipeline

    report = pipeline.undo(options, dry_run=bool(args.dry_run))
    if args.json:
        output.emit_json(output.undo_json(report))
    else:
        output.undo_human(report, quiet=args.quiet)
    return int(output.undo_exit_code(report))


def env(args: argparse.Namespace, options: BuildOptions) -> int:
    from build_ca_bundle import fastpath, pipeline
    from build_ca_bundle.targets import env as variables

    bundle = fastpath.bundle_path(options)
    if not bundle.is_file():
        # eval "$(build-ca-bundle env)" must not point every tool at a missing file: curl,
        # requests and uv then trust nothing. Print nothing; say why on stderr.
        raise BundleError(
            f"no bundle at {bundle} yet: no variables printed",
            hint="run build-ca-bundle first (with the same --scope and --output)",
        )
    extra = pipeline.extra_roots_path(bundle)
    values = variables.variables(bundle, extra)
    if not extra.is_file():
        # The last run wrote the bundle but not the extra roots (a full disk): Node warns
        # at every start about a NODE_EXTRA_CA_CERTS that names nothing. Leave those out.
        from build_ca_bundle.console import say

        left_out = [name for name, value in values.items() if value == str(extra)]
        values = {name: value for name, value in values.items() if name not in left_out}
        say(
            f"warning: {extra} is missing (the last run did not finish): "
            f"{', '.join(left_out)} left out; run build-ca-bundle again",
            sys.stderr,
        )
    if args.json:
        output.emit_json({"variables": values, "exit_code": 0})
        return int(ExitCode.OK)
    shell = args.shell or variables.default_shell(options.environ)
    variables.print_exactly(
        variables.render(values, shell), "printed", batch=variables.oem_shell(shell)
    )
    return int(ExitCode.OK)
