"""The command line: parse flags, call the library, print what happened. No logic of its own.

``build-ca-bundle`` alone does the main job. The unchanged-run check runs before anything
heavy is imported, so a logon script pays for the interpreter and little else.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from build_ca_bundle import __version__
from build_ca_bundle.errors import BuildCABundleError, BundleError, ExitCode, PolicyError
from build_ca_bundle.options import (
    BuildOptions,
    check_tool_names,
    not_a_tls_target,
    sha256_fingerprint,
)
from build_ca_bundle.scope import Scope

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import NoReturn

_DESCRIPTION = """\
Build one CA bundle from the roots this machine's OS trusts for TLS (corporate, group-policy
and MDM roots included; what the OS distrusts excluded) merged with certifi's, write it to a
fixed path, and point pip's `cert` option at it. Verification stays on.

commands (optional; without one, build the bundle and configure pip):
  verify [URL ...]   live TLS check: bundle vs OS store vs certifi, through your proxy
  doctor [--fix]     find what switches verification off or keeps the bundle from applying
  undo               revert every change this tool made, and remove its bundle
  env [--shell SH]   print the environment variables for other tools (eval "$(...)")
"""

_EPILOG = """\
exit codes: 0 done or nothing to do; 2 usage; 3 a config or policy file could not be read or
written (left unchanged); 4 no usable certificates; 5 the bundle could not be written;
6 the live check failed on a certificate; 7 offline or the proxy refused; 8 a required root is
missing (nothing changed); 9 --from-server: fingerprint mismatch; 10 --check: stale;
11 another run held the lock too long; 12 doctor found problems; 13 done, but a setting that beats
ours keeps a tool from the bundle (the error says which); 1 an internal error (please report
it) or the output could not be written; 130 interrupted (every file is whole).
"""


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options every command takes. Subcommands repeat them with SUPPRESS defaults, so
    `build-ca-bundle --json verify` and `build-ca-bundle verify --json` both work."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--scope",
        choices=[scope.value for scope in Scope],
        default=default(None),
        help="user (default): your pip config and data folder; site: this Python environment; "
        "global: the whole machine (needs admin); none: the bundle only",
    )
    parser.add_argument(
        "--output",
        "-o",
        type=_bundle_file,
        metavar="PATH",
        default=default(None),
        help="the bundle's path (default: per scope)",
    )
    parser.add_argument(
        "--policy",
        type=_user_path,
        metavar="FILE",
        default=default(None),
        help="read this policy file too, over the machine-wide one (whose lists still apply)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--quiet", "-q", action="store_true", default=default(False), help="print errors only"
    )
    output.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON object (a stable interface)",
    )
    output.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        default=default(False),
        help="say more: every certificate, every source note",
    )


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's, given the terminal's width. argparse makes a formatter for every
    ``add_argument``, and one without a width imports shutil to ask (and shutil imports bz2
    and lzma): 2 ms of every full run."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_terminal_columns() - 2)  # argparse's own margin


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, the same way: $COLUMNS, the terminal, 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    stream = sys.__stdout__
    if columns <= 0 and stream is not None:
        try:
            columns = os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def _user_path(value: str) -> Path:
    """argparse's reading of a path: ``~`` expanded, as a shell does unquoted (quoted, or
    after ``--policy=``, it is not: a "policy file not found: ~/b.toml"). A ``~user`` the
    system does not know is a usage error; it was a RuntimeError traceback."""
    try:
        return Path(value).expanduser()
    except RuntimeError:
        user = Path(value).parts[0]  # "~nosuchuser", or "~" with no HOME and no account
        raise argparse.ArgumentTypeError(
            f"{value!r}: the home folder of {user!r} is not known here: give the full path"
        ) from None


def _bundle_file(value: str) -> Path:
    """argparse's check of --output: a file's path. ``newdir/`` means a folder, but Path()
    drops the slash, and a file named ``newdir`` was written (and pip pointed at it)."""
    if value.endswith(("/", os.sep)) or (os.altsep and value.endswith(os.altsep)):
        raise argparse.ArgumentTypeError(
            f"{value!r} ends with a separator, so it names a folder: give the bundle file's "
            f"path, e.g. {value}ca-bundle.pem"
        )
    return _user_path(value)


def _fingerprint(value: str) -> str:
    """argparse's check of a SHA-256 fingerprint: a typo must not silently match nothing."""
    if sha256_fingerprint(value) is None:
        raise argparse.ArgumentTypeError(
            f"not a SHA-256 fingerprint: {value!r} (64 hex digits; colons allowed)"
        )
    return value


def _tls_target(value: str) -> str:
    """argparse's check of a URL to verify (see :func:`options.not_a_tls_target`)."""
    from build_ca_bundle import verify  # only when verify is given a URL

    if not_a_tls_target(value):
        raise argparse.ArgumentTypeError(
            f"{verify.redacted(value)!r}: only https:// URLs have certificates to check "
            "(or give HOST[:PORT])"
        )
    reason = verify.unreachable_reason(value)
    if reason is not None:  # a typo is the user's to fix, not "offline" (exit 7)
        raise argparse.ArgumentTypeError(f"{verify.redacted(value)}: {reason}")
    return value


def _seconds(value: str) -> float:
    """argparse's check of a timeout: 0 would make every socket non-blocking (a false
    "offline"), and a negative one is refused by socket itself."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"not a number of seconds above 0: {value!r}")
    return seconds


class _Parser(argparse.ArgumentParser):
    """argparse's, but a usage error under ``--json`` is the JSON object the README
    promises for every error (a fleet wrapper parsed an empty stdout), besides argparse's
    lines on stderr. Subparsers are made of this class too (argparse's default)."""

    wants_json = False  # set by main() from the raw arguments: argparse has not read them yet
    # Each command's parser, by name: a flag a command does not take is said with its usage.
    command_parsers: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        if _Parser.wants_json:
            from build_ca_bundle import output

            output.emit_json(
                {"error": {"message": message, "hint": None}, "exit_code": int(ExitCode.USAGE)}
            )
        super().error(message)


def build_parser() -> _Parser:
    parser = _Parser(
        prog="build-ca-bundle",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    parser.command_parsers = {}
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common(parser, suppress=False)
    parser.add_argument(
        "--extra-ca",
        action="append",
        type=_user_path,
        default=[],
        metavar="PATH",
        help="also trust the certificates in this PEM/DER file or folder",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        type=_fingerprint,
        default=[],
        metavar="SHA256",
        help="never include the certificate with this SHA-256 fingerprint",
    )
    parser.add_argument(
        "--require",
        action="append",
        type=_fingerprint,
        default=[],
        metavar="SHA256",
        help="change nothing and exit 8 unless this root is in the result",
    )
    # Each with its --no- form: a flag wins over the policy for a single value, both ways.
    # (Not BooleanOptionalAction: "--include-intermediates, --no-include-intermediates" is
    # wider than a narrow terminal's help column.)
    for name, help_on, help_off in (
        ("keep-expired", "keep expired roots (left out by default)", "leave them out"),
        (
            "include-intermediates",
            "also add OS intermediates that chain to a root in the bundle",
            "do not (over a policy's include_intermediates)",
        ),
    ):
        pair = parser.add_mutually_exclusive_group()
        dest = name.replace("-", "_")
        pair.add_argument(f"--{name}", dest=dest, action="store_true", default=None, help=help_on)
        pair.add_argument(
            f"--no-{name}", dest=dest, action="store_false", default=None, help=help_off
        )
    parser.add_argument(
        "--no-windows-host",
        dest="windows_host",
        action="store_false",
        help="under WSL, do not read the Windows host's trust store",
    )
    parser.add_argument(
        "--configure",
        metavar="TOOLS",
        action="append",
        help="comma-separated tools to point at the bundle: pip (default), "
        "git, npm, conda, uv, env (persist variables), or all (repeatable)",
    )
    parser.add_argument(
        "--persist-env",
        action="store_true",
        help="persist the variables `env` prints (the same as adding env to --configure)",
    )
    parser.add_argument(
        "--ci",
        action="store_true",
        help="export the variables to later CI steps (GitHub Actions, GitLab "
        "CI, Azure Pipelines, CircleCI); elsewhere print them",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would change; write nothing"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 0 if the bundle and pip's setting are "
        "current, 10 (with the reason) if not",
    )
    parser.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip the live check of pip's index after a change",
    )
    parser.add_argument(
        "--from-server",
        metavar="HOST[:PORT]",
        help="show the chain a server presents (HOST[:PORT] or an https:// URL); with "
        "--pin, trust its top certificate if the fingerprint matches",
    )
    parser.add_argument(
        "--pin", type=_fingerprint, metavar="SHA256", help="the fingerprint IT published"
    )
    parser.add_argument(
        "--proxy",
        metavar="URL",
        help="proxy for live checks (default: pip's proxy, then https_proxy)",
    )

    # The commands are listed in the description, with their arguments; a help= per command
    # would list them a second time under COMMAND.
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", help="one of the commands above (optional)"
    )

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        """A command's parser: the common flags (out of its help), wrapped as the main one."""
        sub = commands.add_parser(name, description=summary, formatter_class=_Formatter)
        _common(sub, suppress=True)
        parser.command_parsers[name] = sub
        return sub

    verify = command(
        "verify",
        "Live TLS check of each URL with the bundle, the OS store and certifi, through your\n"
        "proxy (pip's, or --proxy).",
    )
    verify.add_argument(
        "urls",
        nargs="*",
        type=_tls_target,
        metavar="URL",
        help="https:// URL or HOST[:PORT] (default: the policy's verify_targets, pip's "
        "indexes and PyPI)",
    )
    verify.add_argument(
        "--proxy",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="proxy to connect through (default: pip's proxy, then https_proxy)",
    )
    verify.add_argument(
        "--bundle",
        type=_user_path,
        metavar="PATH",
        help="check this bundle (default: ours for the scope)",
    )
    verify.add_argument(
        "--timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="give up on a server after this long (default: 5)",
    )

    doctor = command(
        "doctor",
        "Find what switches verification off or keeps the bundle from applying; --fix fixes\n"
        "what is safe to fix alone.",
    )
    doctor.add_argument(
        "--fix",
        action="store_true",
        help="fix what is safe to fix alone; print the commands for the rest",
    )

    undo = command(
        "undo",
        "Revert every change this tool made, and remove its bundle.",
    )
    undo.add_argument(
        "--dry-run",
        action="store_true",
        default=argparse.SUPPRESS,
        help="say what undo would revert and remove; change nothing",
    )
    env = command(
        "env",
        'Print the environment variables for other tools: eval "$(build-ca-bundle env)".',
    )
    env.add_argument(
        "--shell",
        # bash, zsh, dash and ksh take sh's syntax: a user names the shell they run.
        type=lambda name: "sh" if name in ("bash", "zsh", "dash", "ksh") else name,
        choices=["sh", "fish", "powershell", "cmd"],
        help="the syntax: sh (bash, zsh), fish, powershell or cmd (default: from $SHELL)",
    )
    return parser


def options_from(
    args: argparse.Namespace, environ: dict[str, str], *, policy_read: bool = True
) -> BuildOptions:
    """Merge flags with the IT policy (and a named one read over it): flags win; lists of
    roots and fingerprints add up. ``policy_read=False``: the flags alone (doctor, when the
    policy cannot be read)."""
    from build_ca_bundle import policy as policy_module

    policy = policy_module.Policy()
    if policy_read:
        location = policy_module.default_location(environ=environ)
        policy = policy_module.load(location, explicit=False)
        if args.policy is not None:
            policy = policy_module.layered(policy, policy_module.load(args.policy, explicit=True))
    scope = Scope(args.scope or policy.string("scope") or Scope.USER.value)
    output = args.output or (Path(policy.string("output") or "") if "output" in policy else None)
    configure_names = (
        ",".join(args.configure).split(",")  # --configure git --configure pip: both
        if getattr(args, "configure", None)
        # A policy's `configure = []` is IT's "no tool": only an absent key means pip.
        else policy.strings("configure")
        if "configure" in policy
        else ["pip"]
    )
    if getattr(args, "persist_env", False):
        configure_names.append("env")

    def flag(name: str) -> bool:
        value = getattr(args, name, None)
        if value is not None:
            return bool(value)
        return bool(policy.flag(name))

    # The single values a flag set: the policy's own did not decide them, and the summary
    # must not say it did (it said "policy: output" of a bundle --output had put elsewhere).
    given = {
        name
        for name, value in (
            ("scope", args.scope),
            ("output", args.output),
            ("configure", getattr(args, "configure", None)),
            ("keep_expired", getattr(args, "keep_expired", None)),
            ("include_intermediates", getattr(args, "include_intermediates", None)),
        )
        if value is not None
    }

    return BuildOptions(
        scope=scope,
        output=_absolute(output.expanduser()) if output else None,
        extra_ca=(
            *(Path(p).expanduser() for p in policy.strings("extra_ca")),  # checked at load
            *getattr(args, "extra_ca", []),  # expanded by argparse
        ),
        keep_expired=flag("keep_expired"),
        include_intermediates=flag("include_intermediates"),
        exclude=(*policy.strings("exclude"), *getattr(args, "exclude", [])),
        require=(*policy.strings("required"), *getattr(args, "require", [])),
        windows_host=getattr(args, "windows_host", True),
        configure=check_tool_names(configure_names),
        policy_paths=policy.paths,
        dry_run=getattr(args, "dry_run", False),
        environ=environ,
        policy_values=tuple(sorted(key for key in policy.values if key not in given)),
        verify_targets=tuple(policy.strings("verify_targets")),
    )


def main(argv: Sequence[str] | None = None, *, quick_checked: bool = False) -> int:
    """Run the CLI; return the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    environ = dict(os.environ)
    from build_ca_bundle import quick

    if not quick_checked:  # the logon-script path, when not already tried by the entry point
        unchanged = quick.try_unchanged(arguments, environ)
        if unchanged is not None:
            return unchanged
    parser = build_parser()
    # argparse takes any unique prefix of a long option: --js is --json too.
    _Parser.wants_json = any(  # "--json=yes" too: argparse refuses it, under --json
        len(name) > 2 and "--json".startswith(name)
        for name in (
            argument.split("=", 1)[0] for argument in arguments[: _end_of_options(arguments)]
        )
    )
    args, unknown = parser.parse_known_args(arguments)
    if args.command is not None:
        # argparse said a flag after the command that it does not take with the main usage
        # ("doctor --dry-run": unrecognized arguments): the command's own is the one to show.
        command_parser = parser.command_parsers[args.command]
        args.dry_run = args.dry_run or "--dry-run" in unknown
        args.check = args.check or "--check" in unknown
        if args.dry_run or args.check:
            _refuse_write_nothing_flags(command_parser, args)
        if unknown:
            command_parser.error(
                f"{args.command} does not take {' '.join(unknown)} (see {command_parser.prog} -h)"
            )
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if getattr(args, "pin", None) is not None and getattr(args, "from_server", None) is None:
        # Alone it would pin nothing, silently: the admin would think the root trusted.
        parser.error(
            "--pin needs --from-server HOST[:PORT]: it checks the root that server presents"
        )
    try:
        try:
            options = options_from(args, environ)
        except PolicyError as error:
            if args.command != "doctor":
                raise
            # doctor is how one finds out what is wrong: it reports the policy and looks
            # at the rest without it (it exited 3 with no report).
            args.policy_error = error
            options = options_from(args, environ, policy_read=False)
        build_arguments = _build_arguments(parser, arguments, args.command)
        options = options.replace(
            run_key=quick.run_key(build_arguments, environ), arguments=tuple(build_arguments)
        )
        if args.command is None:
            return _build_command(args, options)
        from build_ca_bundle import commands

        return int(getattr(commands, args.command)(args, options))
    except BuildCABundleError as error:
        from build_ca_bundle import output

        output.error(error, as_json=args.json)
        return int(error.exit_code)


def _end_of_options(arguments: list[str]) -> int:
    """Where ``--`` ends the options (what follows is operands), or the end."""
    return arguments.index("--") if "--" in arguments else len(arguments)


def _absolute(path: Path) -> Path:
    """``path`` from the current folder, which a shell left in a removed checkout lacks."""
    try:
        return path.absolute()
    except FileNotFoundError:
        raise BundleError(
            f"the bundle path {path} is relative, and the current folder no longer exists",
            hint="give an absolute path, or cd into a folder that exists",
        ) from None


def _refuse_write_nothing_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--dry-run and --check promise that nothing is written; before a command they were
    taken and ignored, and `--dry-run undo` undid everything. Only undo has a dry run."""
    if args.check:
        parser.error(f"--check is for the build itself; {args.command} does not take it")
    if args.command == "doctor" and getattr(args, "fix", False):
        parser.error("doctor --fix has no dry run: `build-ca-bundle doctor` says what it would fix")
    if args.command != "undo":
        parser.error(f"--dry-run is for the build and undo; {args.command} writes nothing")


def _build_arguments(
    parser: argparse.ArgumentParser, arguments: list[str], command: str | None
) -> list[str]:
    """The arguments of the plain build that a command's options name: those before the
    command, and the common ones after it (``doctor --scope global`` is about the bundle of
    ``--scope global``). The manifest's key is made of a build's arguments: with the
    command's own, doctor found every bundle "not current", and ``doctor --fix`` recorded a
    key that the next logon run did not have, so it rebuilt."""
    if command is None:
        return arguments
    main_values = _value_options(parser)
    index = 0
    while index < len(arguments) and arguments[index] != command:
        index += 2 if _takes_value(arguments[index], main_values) else 1
    common = argparse.ArgumentParser(add_help=False)
    _common(common, suppress=True)
    common_values = _value_options(common)
    kept, rest = arguments[:index], arguments[index + 1 :]
    position = 0
    while position < len(rest):
        token = rest[position]
        if _takes_value(token, common_values):
            kept += rest[position : position + 2]
            position += 2
            continue
        attached = token.partition("=")[0] if token.startswith("--") else token[:2]
        if attached != token and _takes_value(attached, common_values):
            kept.append(token)  # --scope=global, -oPATH
        position += 1
    return kept


def _value_options(parser: argparse.ArgumentParser) -> frozenset[str]:
    """The option strings of ``parser`` that take a value."""
    return frozenset(
        name for action in parser._actions if action.nargs != 0 for name in action.option_strings
    )


def _takes_value(token: str, options: frozenset[str]) -> bool:
    """Whether ``token`` is one of ``options`` written without ``=``, or, as argparse
    allows, a prefix of exactly one of the long ones (``--out`` for ``--output``)."""
    if token in options:
        return True
    if not token.startswith("--") or "=" in token:
        return False
    return sum(name.startswith(token) for name in options if name.startswith("--")) == 1


def _build_command(args: argparse.Namespace, options: BuildOptions) -> int:
    if args.check:
        from build_ca_bundle import fastpath, output

        reason, errors = fastpath.check(options)
        if reason is not None:
            reason, errors = fastpath.check_in_full(reason, options)
        output.check_result(reason, errors, options, as_json=args.json, quiet=args.quiet)
        return int(ExitCode.OK if reason is None else ExitCode.STALE)
    if args.from_server is not None:
        from build_ca_bundle import commands

        pinned = commands.from_server(args, options)
        if pinned is None:
            return int(ExitCode.OK)
        options = pinned
    elif not (args.dry_run or args.json or args.verbose or args.ci):
        from build_ca_bundle import fastpath

        if fastpath.stale_reason(options) is None:
            return fastpath.report_unchanged(options, quiet=args.quiet)
        fastpath.start_loading(options)
    from build_ca_bundle import commands

    return int(commands.build(args, options))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
