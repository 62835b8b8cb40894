"""git: ``http.sslCAInfo`` through ``git config`` (user: ``--global``; machine: ``--system``).

``http.sslCAInfo`` *replaces* git's roots, so it names the whole bundle (certifi plus the OS
roots), never the extra roots alone. ``GIT_SSL_CAINFO`` beats every config file, and a
per-URL ``http.<url>.sslCAInfo`` beats ours for that URL: both are findings.

Git for Windows with ``http.sslBackend=schannel`` ignores ``http.sslCAInfo`` unless
``http.schannelUseSSLCAInfo`` is true, and then the file *replaces* the Windows store
(git/git Documentation/config/http.adoc). Our bundle holds the Windows roots, so we set both.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from build_ca_bundle.errors import ConfigError
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import CREATED_NOTE, Change, Finding, Severity, tools
from build_ca_bundle.targets.tools import ToolEnvironment, ToolPlan, run
from build_ca_bundle.values import Value

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import Final

__all__ = ["ToolEnvironment", "apply", "config_file", "plan", "undo"]

TARGET = "git"
KEY = "http.sslCAInfo"
SCHANNEL_KEY = "http.schannelUseSSLCAInfo"
# `git config --get` exits 1 when the key is unset; other codes are real failures.
_UNSET = 1
_SCOPE_OPTIONS = {Scope.USER: "--global", Scope.GLOBAL: "--system"}

REPLACES_NOTE = (
    "http.sslCAInfo replaces git's own roots; the bundle holds certifi and the OS roots, "
    "so nothing git trusted before is lost"
)
SCHANNEL_NOTE = (
    "git uses schannel (the Windows store) here and ignores http.sslCAInfo unless "
    "http.schannelUseSSLCAInfo is true; then the bundle replaces the Windows store, which is "
    "safe because the bundle holds the Windows roots"
)


def plan(bundle: Path, extra_roots: Path, scope: Scope, env: ToolEnvironment) -> ToolPlan:
    """Set ``http.sslCAInfo`` to ``bundle`` in the scope's file; report what beats it.

    Touches nothing. ``extra_roots`` is unused: the setting replaces git's roots.
    """
    result = ToolPlan(TARGET, env=env)
    if not tools.can_plan(result, scope, env):
        return result
    if scope not in _SCOPE_OPTIONS:
        result.findings.append(
            tools.not_applicable(TARGET, scope, "git config is per user, machine or repository")
        )
        return result
    option = _SCOPE_OPTIONS[scope]
    path = config_file(scope, env)
    result.files.append(path)
    listing, origins, conditional = _http_settings(env)
    # An [include]d file's http settings count too: watched, and said when they differ.
    result.files += [origin for origin in dict.fromkeys(origins) if origin not in (None, path)]
    value = str(bundle)
    result.files += [include.path for include in conditional]
    ordered = _Settings(listing, origins, conditional)
    result.findings.extend(_conditional_findings(ordered, value, scope, path, env))
    ours = [
        (v, origin)
        for (s, k, v), origin in zip(listing, origins, strict=True)
        if s == _scope_name(scope) and k == KEY.lower()
    ]
    # Values in the file we write: 'git config' refuses to overwrite more than one there.
    duplicates = [v for v, origin in ours if origin == path]
    result.findings.extend(
        _included_finding(origin, theirs, path)
        for theirs, origin in ours
        if origin not in (path, None) and not tools.same_path(theirs, value, env.platform)
    )
    if len(duplicates) > 1:
        result.findings.append(_duplicate_finding(option, duplicates))
        return result
    old = _get(env, [option], KEY)
    if not tools.same_path(old, value, env.platform):
        notes = (REPLACES_NOTE,) + (() if os.path.lexists(path) else (CREATED_NOTE,))
        change = Change(TARGET, path, KEY, old, value, notes)
        result.changes.append(change)
        result.commands[change] = ["config", option, KEY, value]
    else:  # ours is there: does git read it last?
        _say_if_shadowed(result, option, value)
    if env.platform == "win32" and _effective(listing, "http.sslbackend") == "schannel":
        _plan_schannel(result, option, path, env)
    result.findings.extend(_findings(value, scope, listing, origins, env))
    return result


def apply(plan: ToolPlan) -> list[Change]:
    """Run ``git config`` for each planned change, in the environment it was planned in;
    then ask git which value it reads (an [include]d file read after ours beats it), and
    where an includeIf file's CA file stands now that ours is written."""
    applied = tools.apply_commands(plan, TARGET)
    for change in applied:
        if change.key == KEY:
            option = next(arg for arg in plan.commands[change] if arg in _SCOPE_OPTIONS.values())
            _say_if_shadowed(plan, option, str(change.new))
            _say_where_include_ifs_win(plan, change, option)
    return applied


def _say_where_include_ifs_win(plan: ToolPlan, change: Change, option: str) -> None:
    """Before the write, where git would put our line was not known; now it is: the plan's
    "may" about an includeIf file's CA file becomes "does", or goes."""
    if plan.env is None or not any(f.message.endswith(_MAY_WIN) for f in plan.findings):
        return
    scope = Scope.GLOBAL if option == "--system" else Scope.USER
    listing, origins, conditional = _http_settings(plan.env)
    ordered = _Settings(listing, origins, conditional)
    now = _conditional_findings(ordered, str(change.new), scope, change.path, plan.env)
    plan.findings[:] = [f for f in plan.findings if not f.message.endswith(_MAY_WIN)]
    plan.findings.extend(f for f in now if f.severity is Severity.WARNING)  # off: said already


def _say_if_shadowed(plan: ToolPlan, option: str, value: str) -> None:
    """An error (exit 13) if git, reading the scope's file with its [include]s, ends on
    another http.sslCAInfo than ours: where the include comes after our line, its value
    wins, and git does not use the bundle (the plan's warning could only say "may"). Only
    where the plan found an included file setting another value: no git call otherwise."""
    if plan.env is None or not any(f.where.endswith(f": {KEY}") for f in plan.findings):
        return
    completed = run(
        plan.env,
        TARGET,
        ["config", option, "--includes", "--show-origin", "--get", KEY],
        check=False,
    )
    origin, _, effective = completed.stdout.rstrip("\r\n").partition("\t")
    if completed.returncode != 0 or tools.same_path(effective, value, plan.env.platform):
        return
    where = origin.removeprefix("file:")
    plan.findings[:] = [f for f in plan.findings if f.where != f"{where}: {KEY}"]  # said here
    plan.findings.append(
        Finding(
            Severity.ERROR,
            f"{where}: {KEY}",
            f"git reads {KEY} = {effective} from {where}, an [include]d file it reads after "
            "ours: git does not use the bundle",
            f"git config --file {where} --unset {KEY}",
        )
    )


def undo(change: Change, env: ToolEnvironment) -> str:
    """Put back the value from before our change, in the very file we changed, unless a
    person has changed it since."""
    where = ["--file", str(change.path)]
    outcome = tools.revert(
        env,
        change,
        _get(env, where, change.key),
        remove=["config", *where, "--unset", change.key],
        restore=["config", *where, change.key, change.old or ""],
    )
    if outcome == "removed" and CREATED_NOTE in change.notes:
        with contextlib.suppress(OSError):
            if change.path.stat().st_size == 0:  # git created it for us, and it is empty again
                change.path.unlink()
                return "removed, with the file git had created for it"
    return outcome


def config_file(scope: Scope, env: ToolEnvironment) -> Path:
    """The file ``git config --global``/``--system`` writes (git's builtin/config.c)."""
    if scope is Scope.GLOBAL:
        return _system_file(env)
    named = env.variable("GIT_CONFIG_GLOBAL")  # git >= 2.32: replaces both user files
    if named:
        return Path(named)
    home = Path(env.variable("HOME") or env.home)  # Git for Windows also honours HOME
    user_file = home / ".gitconfig"
    config_home = env.variable("XDG_CONFIG_HOME")
    xdg_file = (Path(config_home) if config_home else home / ".config") / "git" / "config"
    # git writes the XDG file only when it exists and ~/.gitconfig does not.
    if not user_file.exists() and xdg_file.exists():
        return xdg_file
    return user_file


def _system_file(env: ToolEnvironment) -> Path:
    """Ask git: its system file depends on how it was built (/etc/gitconfig, Homebrew's
    prefix, C:\\Program Files\\Git\\etc\\gitconfig). ``--edit`` with an editor that only
    prints its argument shows the path and, unlike ``--global --edit``, creates nothing."""
    named = env.variable("GIT_CONFIG_SYSTEM")
    if named:
        return Path(named)
    quiet = tools.ToolEnvironment(
        {**env.environ, "GIT_EDITOR": "echo"}, env.home, env.platform, env.timeout
    )
    shown = run(quiet, TARGET, ["config", "--system", "--edit"]).stdout.strip()
    if not shown:
        raise ConfigError("git did not name its system config file")
    return Path(shown)


def _get(env: ToolEnvironment, where: list[str], key: str) -> str | None:
    completed = run(env, TARGET, ["config", *where, "--get", key], check=False)
    if completed.returncode == _UNSET:
        return None
    if completed.returncode != 0:
        raise ConfigError(
            f"git cannot read its config: {completed.stderr.strip()[:300]}",
            hint="fix the file git names; nothing was changed",
        )
    return completed.stdout.rstrip("\r\n")


def _included_finding(origin: Path, theirs: str, path: Path) -> Finding:
    return Finding(
        Severity.WARNING,
        f"{origin}: {KEY}",
        f"{KEY} = {theirs} in {origin}, a file git reads with {path} ([include]): git uses "
        "the value it reads last, which may not be ours",
        f"git config --file {origin} --unset {KEY}",
    )


def _http_settings(
    env: ToolEnvironment,
) -> tuple[list[tuple[str, str, str]], list[Path | None], list[_IncludeIf]]:
    """Every ``http.*`` setting git reads here, as (scope, lower-case key, value), in the
    order git reads them (later wins), and the file each comes from; and each ``includeIf``
    (condition, file), which git reads only in the repositories the condition names."""
    completed = run(
        env,
        TARGET,
        ["config", "--show-scope", "--show-origin", "--get-regexp", r"^(http|includeif)\."],
        check=False,
    )
    if completed.returncode not in (0, _UNSET):
        raise ConfigError(
            f"git cannot read its config: {completed.stderr.strip()[:300]}",
            hint="fix the file git names; nothing was changed",
        )
    settings: list[tuple[str, str, str]] = []
    origins: list[Path | None] = []
    conditional: list[_IncludeIf] = []
    for line in completed.stdout.splitlines():
        scope, _, rest = line.partition("\t")
        origin, _, rest = rest.partition("\t")  # file:<path>, or command line:, blob:
        key, space, value = rest.partition(" ")
        if not space:
            value = "true"  # a bare key ("sslVerify" alone) is a true boolean to git
        # Section and variable names are case-blind; a URL subsection keeps its case.
        first, _, last = key.rpartition(".")
        source = Path(origin[len("file:") :]) if origin.startswith("file:") else None
        if first.lower().startswith("includeif."):
            if last.lower() == "path" and value:
                condition, included = first[len("includeif.") :], _included_path(value, source)
                conditional.append(_IncludeIf(condition, included, source, len(settings)))
            continue
        settings.append((scope, f"{first}.{last.lower()}", value))
        origins.append(source)
    return settings, origins, conditional


def _included_path(value: str, origin: Path | None) -> Path:
    """An include's path as git resolves it: ``~/`` is the home folder, and a relative path
    is taken from the folder of the file that names it."""
    path = Path(value).expanduser()
    if not path.is_absolute() and origin is not None:
        path = origin.parent / path
    return path


class _IncludeIf(Value):
    """An ``includeIf`` section's file: git reads it where ``condition`` holds, at the
    place of the section (``position``: how many http settings git has read before it)."""

    __slots__ = ("condition", "path", "origin", "position")
    condition: Final[str]
    path: Final[Path]
    origin: Final[Path | None]
    position: Final[int]

    def __init__(self, condition: str, path: Path, origin: Path | None, position: int) -> None:
        self.condition = condition
        self.path = path
        self.origin = origin
        self.position = position


class _Settings(Value):
    """What git reads outside a repository, in its order: see :func:`_http_settings`."""

    __slots__ = ("listing", "origins", "conditional")
    listing: Final[list[tuple[str, str, str]]]
    origins: Final[list[Path | None]]
    conditional: Final[list[_IncludeIf]]

    def __init__(
        self,
        listing: list[tuple[str, str, str]],
        origins: list[Path | None],
        conditional: list[_IncludeIf],
    ) -> None:
        self.listing = listing
        self.origins = origins
        self.conditional = conditional


_MAY_WIN = "git uses the value it reads last, which may not be ours there"


def _conditional_findings(
    ordered: _Settings, value: str, scope: Scope, path: Path, env: ToolEnvironment
) -> list[Finding]:
    """What an ``includeIf`` file sets for git's TLS: git reads it only in the repositories
    its condition names (``gitdir:~/work/``), never in a run from the home folder, so
    ``git config`` alone does not show it. A CA file there beats ours in them when git
    reads it after ours; switched-off verification is verification off in them."""
    ours = [
        index
        for index, ((_, key, theirs), origin) in enumerate(
            zip(ordered.listing, ordered.origins, strict=True)
        )
        if origin == path and key == KEY.lower() and tools.same_path(theirs, value, env.platform)
    ]
    findings: list[Finding] = []
    for include in ordered.conditional:
        completed = run(
            env,
            TARGET,
            ["config", "--file", str(include.path), "--includes", "--get-regexp", r"^http\."],
            check=False,
        )
        if completed.returncode != 0:
            continue  # not there (yet), or nothing of http in it; watched either way
        where = f'repositories where includeIf "{include.condition}" holds'
        for line in completed.stdout.splitlines():
            key, space, theirs = line.partition(" ")
            last = key.rpartition(".")[2].lower()
            if last == "sslcainfo" and not tools.same_path(theirs, value, env.platform):
                wins = _include_wins(include, ours[-1] if ours else None, scope, path)
                if wins is False:
                    continue  # git reads ours after it
                outcome = "git uses it there, not the bundle" if wins else _MAY_WIN
                findings.append(
                    Finding(
                        Severity.WARNING,
                        f"{include.path}: {key}",
                        f"{key} = {theirs} in {include.path}, which git reads in {where}: "
                        f"{outcome}",
                        f"git config --file {include.path} --unset {key}  (or set it to {value})",
                    )
                )
            elif last == "sslverify" and (theirs if space else "true").strip().lower() in _FALSE:
                findings.append(
                    Finding(
                        Severity.ERROR,
                        f"{include.path}: {key}",
                        f"{key} = {theirs.strip() or '(empty: false to git)'} in "
                        f"{include.path}: git does not verify TLS certificates in {where}",
                        f"git config --file {include.path} --unset {key}  "
                        "(http.sslCAInfo names the bundle)",
                    )
                )
    return findings


def _include_wins(include: _IncludeIf, ours: int | None, scope: Scope, path: Path) -> bool | None:
    """Whether git reads the includeIf file after our value (then its value wins there);
    None when that cannot be told: ours is not written yet, or the section is in a file
    whose order against ours is not ours to know."""
    if ours is None:
        return None
    if include.origin == path:
        return include.position > ours
    if scope is Scope.GLOBAL:
        return True  # ours is in the system file: every other file is read after it
    return None


def _effective(listing: list[tuple[str, str, str]], key: str) -> str | None:
    values = [value for _, name, value in listing if name.lower() == key]
    return values[-1].strip().lower() if values else None


def _scope_name(scope: Scope) -> str:
    return "system" if scope is Scope.GLOBAL else "global"


def _plan_schannel(result: ToolPlan, option: str, path: Path, env: ToolEnvironment) -> None:
    old = _get(env, [option], SCHANNEL_KEY)
    if old is not None and old.strip().lower() in ("true", "yes", "on", "1"):
        return
    change = Change(TARGET, path, SCHANNEL_KEY, old, "true", (SCHANNEL_NOTE,))
    result.changes.append(change)
    result.commands[change] = ["config", option, SCHANNEL_KEY, "true"]


def _findings(
    value: str,
    scope: Scope,
    listing: list[tuple[str, str, str]],
    origins: list[Path | None],
    env: ToolEnvironment,
) -> list[Finding]:
    findings = _verification_off(listing, origins, env)
    variable = env.variable("GIT_SSL_CAINFO")
    if variable and not tools.same_path(variable, value, env.platform):
        findings.append(
            Finding(
                Severity.ERROR,
                "environment variable GIT_SSL_CAINFO",
                f"GIT_SSL_CAINFO={variable} beats http.sslCAInfo in every git config file",
                f"unset GIT_SSL_CAINFO where it is set (shell profile, CI settings), or set it "
                f"to {value}",
            )
        )
    for setting_scope, key, theirs in listing:
        beats_ours = key.endswith(".sslcainfo") and key != KEY.lower()
        if scope is Scope.GLOBAL and setting_scope in ("global", "local") and key == KEY.lower():
            beats_ours = True  # the user's (or repository's) own file beats the system file
        if beats_ours and not tools.same_path(theirs, value, env.platform):
            option = "--global" if setting_scope == "global" else f"--{setting_scope}"
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"git {setting_scope} config: {key}",
                    f"{key} = {theirs} beats ours"
                    + (" for that URL" if key != KEY.lower() else ""),
                    f"git config {option} --unset {key}  (or set it to {value})",
                )
            )
    return findings


# git's false booleans; an empty value ("sslVerify =") is false too.
_FALSE = frozenset({"false", "no", "off", "0", ""})


def _verification_off(
    listing: list[tuple[str, str, str]], origins: list[Path | None], env: ToolEnvironment
) -> list[Finding]:
    """What makes git skip verification: the bundle cannot help there, and a run that set
    http.sslCAInfo must not read as git being safe (npm's strict-ssl=false is said too)."""
    findings = []
    if env.variable("GIT_SSL_NO_VERIFY") is not None:
        findings.append(
            Finding(
                Severity.ERROR,
                "environment variable GIT_SSL_NO_VERIFY",
                "GIT_SSL_NO_VERIFY is set: git does not verify TLS certificates (any value)",
                "unset GIT_SSL_NO_VERIFY where it is set (shell profile, CI settings); with "
                "http.sslCAInfo set to the bundle it is not needed",
            )
        )
    for (setting_scope, key, theirs), origin in zip(listing, origins, strict=True):
        if key.endswith(".sslverify") and theirs.strip().lower() in _FALSE:
            where = f"--file {origin}" if origin is not None else f"--{setting_scope}"
            findings.append(
                Finding(
                    Severity.ERROR,
                    f"git {setting_scope} config: {key}",
                    f"{key} = {theirs.strip() or '(empty: false to git)'}: git does not verify "
                    "TLS certificates" + ("" if key == "http.sslverify" else " for that URL"),
                    f"git config {where} --unset {key}  (http.sslCAInfo names the bundle)",
                )
            )
    return findings


def _duplicate_finding(option: str, values: list[str]) -> Finding:
    return Finding(
        Severity.ERROR,
        f"git config {option}: {KEY}",
        f"{KEY} is set {len(values)} times ({', '.join(values)}); git uses the last one and "
        "'git config' refuses to overwrite them, so it was not configured",
        f"git config {option} --unset-all {KEY}, then run build-ca-bundle again",
    )
