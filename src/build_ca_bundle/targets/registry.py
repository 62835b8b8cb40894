"""The tools we can configure, by name, behind one plan/apply/undo interface."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from build_ca_bundle.errors import BuildCABundleError
from build_ca_bundle.options import BuildOptions
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import (
    CREATED_NOTE,
    EXPANDABLE_NOTE,
    LEFT_ALONE,
    NOT_UNDONE,
    TRUSTED_HOSTS_KEPT,
    Change,
    Finding,
    Plan,
    Severity,
    backup_of,
    backup_path,
    has_backup,
    keeps_backup,
)

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from build_ca_bundle.targets.env import Registry
    from build_ca_bundle.targets.pip import PipEnvironment


def _pip_env(options: BuildOptions) -> PipEnvironment:
    from build_ca_bundle.targets import pip

    return pip.PipEnvironment.current(options.environ)


def plan(name: str, bundle: Path, extra_roots: Path, options: BuildOptions) -> Plan:
    if name == "pip":
        from build_ca_bundle.targets import pip

        return pip.plan(bundle, options.scope, _pip_env(options))
    if name == "env":
        return _plan_env(bundle, extra_roots, options)
    module = _tool_module(name)
    tool_env = module.ToolEnvironment.current(options.environ)  # type: ignore[attr-defined]
    result: Plan = module.plan(bundle, extra_roots, options.scope, tool_env)  # type: ignore[attr-defined]
    return result


def apply(plan: Plan) -> list[Change]:
    if plan.target == "pip":
        from build_ca_bundle.targets import pip

        return pip.apply(plan)
    if plan.target == "env":
        return _apply_env(plan)
    applied: list[Change] = _tool_module(plan.target).apply(plan)  # type: ignore[attr-defined]
    return applied


def undo(change: Change, options: BuildOptions) -> tuple[str, bool]:
    """Revert one recorded change: (the outcome, whether it is settled). A failure is an
    outcome to report, not a stop; a setting a person changed since is settled (left
    alone on purpose), one that could not be reverted is not."""
    try:
        outcome = _undo(change, options)
    except BuildCABundleError as error:
        return f"{NOT_UNDONE}{error}", False
    backup = backup_of(change)
    if backup is not None and not outcome.startswith(LEFT_ALONE) and not keeps_backup(outcome):
        with contextlib.suppress(FileNotFoundError):
            backup.unlink()  # put back: the backup of the first change has done its job
    elif backup is None and not outcome.startswith(LEFT_ALONE) and has_backup(change.path):
        # Not this change's (a person set the value in between; doctor --fix's): the file
        # as it was before an earlier change stays, and is said, for whoever needs it.
        outcome += f"; an older copy of the file stays at {backup_path(change.path)}"
    return outcome, True


def _undo(change: Change, options: BuildOptions) -> str:
    if change.target == "pip":
        from build_ca_bundle.targets import pip

        return pip.undo(change, _pip_env(options))
    if change.target == "env":
        from build_ca_bundle.fastpath import bundle_path

        return _undo_env(change, bundle_path(options))
    module = _tool_module(change.target)
    tool_env = module.ToolEnvironment.current(options.environ)  # type: ignore[attr-defined]
    outcome: str = module.undo(change, tool_env)  # type: ignore[attr-defined]
    return outcome


def preview_undo(change: Change, options: BuildOptions) -> tuple[str | None, bool]:
    """What ``undo --dry-run`` can tell of a change without editing anything: (the outcome
    undo would have, if known: the file does not parse, or a person changed the setting
    since; whether it would be settled). (None, True) when it would be put back, or for a
    tool whose value only its own CLI reads (git, conda). A dry run said "would put back"
    of a uv.toml that no longer parsed, where undo then kept the bundle and exited 3."""
    if change.target != "pip":
        try:
            left_alone = _not_ours_now(change, options)
        except BuildCABundleError as error:
            return f"{NOT_UNDONE}{error}", False
        return (None if left_alone is None else f"would be {left_alone}"), True
    from build_ca_bundle.targets import pip

    env = _pip_env(options)
    try:
        config = pip.read_config(change.path, env)
    except BuildCABundleError as error:
        return f"{NOT_UNDONE}{error}", False
    left_alone = pip.not_ours_now(change, config, env)
    if left_alone is not None:
        return f"would be {left_alone}", True
    kept = pip.backup_with_trusted_hosts(change, config.text, env)
    if kept is not None:
        back = "(unset)" if change.old is None else change.old
        return f"would put back {back}, unless changed since{TRUSTED_HOSTS_KEPT}{kept}", True
    return None, True


def _not_ours_now(change: Change, options: BuildOptions) -> str | None:
    """Why undo would leave a change of another tool than pip alone, if it can be told
    without running the tool; None if it would revert it (as far as is known)."""
    if change.target == "uv":
        from build_ca_bundle.targets import uv

        return uv.not_ours_now(change)
    if change.target == "npm":
        from build_ca_bundle.targets import npm

        return npm.not_ours_now(change, npm.ToolEnvironment.current(options.environ))
    if change.target == "env" and sys.platform != "win32":
        from build_ca_bundle.fastpath import bundle_path

        return _startup_block_not_ours(change, bundle_path(options))
    return None


def still_named_by(
    bundle: Path, options: BuildOptions, reverting: Sequence[Change] = ()
) -> Path | None:
    """A config file that names ``bundle`` after undo: pip's, whoever set it there
    (``reverting``: the changes undo would revert first, for its dry run)."""
    if "pip" not in options.configure:
        return None
    from build_ca_bundle.targets import pip

    ignoring = frozenset((c.path, c.key) for c in reverting if c.target == "pip")
    return pip.names_bundle(options.scope, bundle, _pip_env(options), ignoring)


def bundle_named_elsewhere(options: BuildOptions) -> tuple[str, Path] | None:
    """A bundle of ours (with our change record beside it) that pip's cert names, or the
    variables' block in the start-up file: (which names it, the bundle). An undo for
    another bundle (the default one, after an --output run) points there; after
    `--output X --configure git,env` it said only "nothing to undo"."""
    if options.scope is Scope.NONE:
        return None
    from build_ca_bundle import history

    for where, value in _bundles_named(options):
        named = Path(value).expanduser()
        if named.is_absolute() and history.path_for(named).is_file():
            return where, named
    return None


def _bundles_named(options: BuildOptions) -> Iterator[tuple[str, str]]:
    from build_ca_bundle.errors import ConfigError

    if "pip" in options.configure:
        from build_ca_bundle.targets import pip

        try:
            value = pip.current_cert(_pip_env(options)).value
        except ConfigError:
            value = None
        if value:
            yield "pip's cert", value
    if sys.platform != "win32" and options.scope is Scope.USER:
        from build_ca_bundle.targets import env

        home = Path(options.environ.get("HOME") or Path.home())
        path, _ = env.startup_file(home, options.environ)
        text = env.read_startup_file(path)
        found = None if text is None else env.current_block(text)
        value = None if found is None else env.bundle_in_block(found, path)
        if value:
            yield f"the variables block in {path}", value


def watched_files(options: BuildOptions) -> list[Path]:
    """The other files pip loads (the user's, the site's, PIP_CONFIG_FILE's): one edited by
    hand can beat our setting, so it means a full run. Not in the pip plan's ``files``,
    which a machine-wide run also checks are root's: these are no file of the machine's.
    (Each plan's ``files``, the tool's own config, are watched beside these.)"""
    if options.scope is Scope.NONE or "pip" not in options.configure:
        return []
    from build_ca_bundle.targets import pip

    return pip.loaded_files(_pip_env(options))


def _tool_module(name: str) -> object:
    import importlib

    return importlib.import_module(f"build_ca_bundle.targets.{name}")


# --- env: persist the variables ------------------------------------------------------------


def _plan_env(bundle: Path, extra_roots: Path, options: BuildOptions) -> Plan:
    from build_ca_bundle.targets import env

    values = env.variables(bundle, extra_roots)
    result = Plan(target="env")
    if options.scope is Scope.NONE:
        return result
    if options.scope is not Scope.USER:
        # The start-up file and HKCU\Environment are the running account's own: a venv's
        # or the machine's bundle does not belong there (and site undo removed the block
        # that user scope had written).
        result.findings.append(
            Finding(
                Severity.INFO,
                "env",
                f"env persists the variables for your account only, not for --scope "
                f"{options.scope.value}; not configured",
                f"print them with `build-ca-bundle --scope {options.scope.value} env` and put "
                "them where that scope's shells read them (every account's: "
                "/etc/profile.d/build-ca-bundle.sh, or the machine environment on Windows)",
            )
        )
        return result
    if sys.platform == "win32":
        import winreg

        result.changes = env.plan_windows_environment(values, winreg)
    else:
        home = Path(options.environ.get("HOME") or Path.home())
        result.files.append(env.startup_file(home, options.environ)[0])  # edited by hand
        planned = env.plan_startup_file(values, home, options.environ)
        if planned is not None:
            path, old, new = planned
            # The bundle the block named before (another --output's: its record holds what
            # was there before it, history._inherited), and the one it names now.
            found = None if old is None else env.current_block(old)
            before = None if found is None else env.bundle_in_block(found, path) or "present"
            notes = (CREATED_NOTE,) if old is None else ()
            result.changes.append(Change("env", path, "block", before, str(bundle), notes))
            result.pending[path] = new.encode("utf-8", "surrogateescape")
    return result


def _apply_env(plan: Plan) -> list[Change]:
    from build_ca_bundle.targets import env

    if sys.platform == "win32":
        import winreg

        env.apply_windows_environment(plan.changes, winreg, env.broadcast_environment_change)
    else:
        for change in plan.changes:
            text = plan.pending[change.path].decode("utf-8", "surrogateescape")
            env.apply_startup_file(change.path, text)
    return list(plan.changes)


def _undo_env(change: Change, bundle: Path) -> str:
    from build_ca_bundle.targets import env

    if sys.platform == "win32":
        import winreg

        outcome = undo_windows_value(change, winreg, env.broadcast_environment_change)
    else:
        outcome = _remove_startup_block(change, bundle)
    return outcome


def undo_windows_value(change: Change, registry: Registry, broadcast: Callable[[], None]) -> str:
    """Put back one HKCU\\Environment value (as the type it had), unless a person has set
    it to something else since: then it is theirs."""
    from build_ca_bundle.targets import env, tools

    value, _ = env.read_windows_environment(registry, [change.key]).get(change.key, (None, 0))
    if value != change.new:
        return tools.left_alone(value)
    notes = (env.WRITE_EXPANDABLE,) if EXPANDABLE_NOTE in change.notes else ()
    reverse = Change("env", change.path, change.key, change.new, change.old, notes)
    env.apply_windows_environment([reverse], registry, broadcast)
    return "restored" if change.old is not None else "removed"


def _startup_block_not_ours(change: Change, bundle: Path) -> str | None:
    """Why undo leaves the start-up file alone, or None if it holds our block for
    ``bundle``: a later run for another bundle (another --output) rewrote it, and its
    shells would lose the variables."""
    from build_ca_bundle.targets import env

    text = env.read_startup_file(change.path)
    if text is None:
        return f"{LEFT_ALONE}the file is gone"
    block = env.current_block(text)
    if block is None:
        return f"{LEFT_ALONE}our block is no longer there"
    if env.bundle_in_block(block, change.path) != str(bundle):
        return f"{LEFT_ALONE}the block names another bundle now (a run for it wrote it)"
    return None


def _remove_startup_block(change: Change, bundle: Path) -> str:
    """Remove our block, unless it is not ours now (:func:`_startup_block_not_ours`)."""
    from build_ca_bundle.targets import env

    left_alone = _startup_block_not_ours(change, bundle)
    if left_alone is not None:
        return left_alone
    text = env.read_startup_file(change.path) or ""
    cleaned = env.with_block(text, None)
    if CREATED_NOTE in change.notes and not cleaned.strip():
        env.remove_startup_file(change.path)  # ours from the start, and nothing added since
        return "removed, with the file this tool had created"
    env.apply_startup_file(change.path, cleaned)
    return "removed our block"
