"""The npm target against the real npm, with npmrc files in the test's folders only.

npm takes about 0.2-0.3 s to start, so each test keeps its npm calls few: a plan is one call.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from build_ca_bundle.options import BuildOptions
from build_ca_bundle.scope import Scope
from build_ca_bundle.targets import Severity, backup_path, npm, registry
from build_ca_bundle.targets.tools import ToolEnvironment
from tests.conftest import Home

needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")


def npm_env(home: Home, tmp_path: Path, **extra: str) -> ToolEnvironment:
    """npm pointed at the test's user and global npmrc, never the machine's."""
    return ToolEnvironment(
        {
            **os.environ,
            "npm_config_userconfig": str(home.home / ".npmrc"),
            "npm_config_globalconfig": str(tmp_path / "global-npmrc"),
            "npm_config_update_notifier": "false",
            **extra,
        },
        home.home,
    )


def npm_get(env: ToolEnvironment, *args: str) -> str:
    completed = subprocess.run(
        ["npm", "config", "get", *args],
        capture_output=True,
        text=True,
        env=dict(env.environ),
        check=True,
    )
    return completed.stdout.strip()


@needs_npm
def test_set_read_back_by_npm_unchanged_run_then_undo_restores(
    isolated_home: Home, tmp_path: Path
) -> None:
    npmrc = isolated_home.home / ".npmrc"
    original = "; proxy settings\nregistry=https://registry.npmjs.org/\ncafile=/old.pem\n"
    npmrc.write_text(original)
    env = npm_env(isolated_home, tmp_path)
    bundle = tmp_path / "ca-bundle.pem"

    planned = npm.plan(bundle, tmp_path / "extra.pem", Scope.USER, env)
    (change,) = planned.changes
    assert (change.path, change.key, change.old, change.new) == (
        npmrc,
        "cafile",
        "/old.pem",
        str(bundle),
    )
    assert any("without its comments" in note for note in change.notes)
    assert npmrc.read_text() == original  # plan touched nothing
    assert npm.apply(planned) == [change]
    assert npm_get(env, "cafile") == str(bundle)
    assert backup_path(npmrc).read_text() == original
    assert "registry=https://registry.npmjs.org/" in npmrc.read_text()
    assert npm.plan(bundle, tmp_path / "extra.pem", Scope.USER, env).changes == []

    # npm's own revert drops the comment; the file says what the backup says, so the
    # backup's bytes are put back: the comment too.
    assert npm.undo(change, env) == "restored the file from its backup, comments and all"
    assert npmrc.read_text() == original


@needs_npm
def test_npm_calls_leave_no_debug_log_or_update_check_behind(
    isolated_home: Home, tmp_path: Path
) -> None:
    """`--dry-run --configure npm` and doctor promise to write nothing, yet every npm call
    left a debug log under ~/.npm/_logs (and npm looked for a newer npm)."""
    env = npm_env(isolated_home, tmp_path)
    environ = {k: v for k, v in env.environ.items() if k != "npm_config_update_notifier"}
    env = ToolEnvironment(environ, isolated_home.home)
    bundle = tmp_path / "ca-bundle.pem"
    planned = npm.plan(bundle, tmp_path / "extra.pem", Scope.USER, env)
    npm.apply(planned)
    npm.undo(planned.changes[0], env)
    npm_folder = isolated_home.home / ".npm"
    assert [path for path in npm_folder.rglob("*") if path.is_file()] == []


@needs_npm
def test_a_linked_npmrc_stays_a_link_through_the_run_and_undo(
    isolated_home: Home, tmp_path: Path
) -> None:
    """A dotfile manager's ~/.npmrc link: undo's restore from the backup replaced the link
    with a file, and the person's real dotfile kept npm's rewrite, without its comments."""
    dotfile = tmp_path / "dotfiles" / "npmrc"
    dotfile.parent.mkdir()
    original = "; my npm settings\nfund=false\n"
    dotfile.write_text(original)
    npmrc = isolated_home.home / ".npmrc"
    npmrc.symlink_to(dotfile)
    env = npm_env(isolated_home, tmp_path)
    (change,) = npm.apply(npm.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env))
    assert npmrc.is_symlink()
    assert npm.undo(change, env) == "restored the file from its backup, comments and all"
    assert npmrc.is_symlink()
    assert dotfile.read_text() == original


@needs_npm
def test_undo_removes_ours_but_leaves_a_value_changed_since(
    isolated_home: Home, tmp_path: Path
) -> None:
    npmrc = isolated_home.home / ".npmrc"
    env = npm_env(isolated_home, tmp_path)
    bundle = tmp_path / "ca-bundle.pem"
    (change,) = npm.apply(npm.plan(bundle, tmp_path / "e.pem", Scope.USER, env))
    assert change.old is None
    assert not backup_path(npmrc).exists()  # there was no file to keep

    npmrc.write_text("cafile=/mine.pem\n")  # a person's edit
    assert npm.undo(change, env) == "left alone: changed by someone since (now /mine.pem)"
    assert npmrc.read_text() == "cafile=/mine.pem\n"

    npmrc.write_text(f"cafile={bundle}\nregistry=https://registry.npmjs.org/\n")
    assert npm.undo(change, env) == "removed"
    assert npm.read_value(npmrc, "cafile") is None
    assert npm.read_value(npmrc, "registry") == "https://registry.npmjs.org/"


@needs_npm
def test_an_undo_that_cannot_give_the_comments_back_keeps_the_backup(
    isolated_home: Home, tmp_path: Path
) -> None:
    """A person added a line after our change: undo reverts setting by setting through
    npm, which drops the file's comments, and then deleted the backup that held them."""
    npmrc = isolated_home.home / ".npmrc"
    npmrc.write_text("; company npm settings: ask IT before changing\nfund=false\n")
    env = npm_env(isolated_home, tmp_path)
    bundle = tmp_path / "ca-bundle.pem"
    (change,) = npm.apply(npm.plan(bundle, tmp_path / "e.pem", Scope.USER, env))
    npmrc.write_text(npmrc.read_text() + "audit=false\n")  # a person's edit since
    options = BuildOptions(environ=dict(env.environ))
    outcome, settled = registry.undo(change, options)
    assert settled
    assert outcome == f"removed; the backup with its comments stays at {backup_path(npmrc)}"
    assert "ask IT before changing" in backup_path(npmrc).read_text()
    assert npm.read_value(npmrc, "cafile") is None
    assert npm.read_value(npmrc, "audit") == "false"


@needs_npm
@pytest.mark.parametrize("at_first", ["; company npm settings\nfund=false\n", None])
def test_comments_a_person_added_after_our_change_survive_undo(
    isolated_home: Home, tmp_path: Path, at_first: str | None
) -> None:
    """A comment written into ~/.npmrc after our run was gone after undo: npm's revert
    rewrote the file without it (and the backup, from before, never had it)."""
    npmrc = isolated_home.home / ".npmrc"
    if at_first is not None:
        npmrc.write_text(at_first)
    env = npm_env(isolated_home, tmp_path)
    bundle = tmp_path / "ca-bundle.pem"
    (change,) = npm.apply(npm.plan(bundle, tmp_path / "e.pem", Scope.USER, env))
    edited = npmrc.read_text() + "; our mirror, ask Ana\nregistry=https://npm.example.com/\n"
    npmrc.write_text(edited)
    outcome = npm.undo(change, env)
    kept = npmrc.with_name(".npmrc.before-undo")
    assert outcome.endswith(
        f"; npm dropped comments added since our change: the file as it was is at {kept}"
    )
    assert kept.read_text() == edited
    assert kept.stat().st_mode & 0o777 == 0o600
    assert npm.read_value(npmrc, "cafile") is None
    assert npm.read_value(npmrc, "registry") == "https://npm.example.com/"


@needs_npm
def test_comments_no_backup_could_keep_leave_cafile_unset(
    isolated_home: Home, tmp_path: Path
) -> None:
    """An ~/.npmrc.bak of the person's own (never written over) meant no backup, and npm's
    rewrite took the file's comments with it for good."""
    npmrc = isolated_home.home / ".npmrc"
    original = "; my proxy settings, do not lose\nregistry=https://registry.npmjs.org/\n"
    npmrc.write_text(original)
    backup_path(npmrc).write_text("old stuff\n")
    env = npm_env(isolated_home, tmp_path)
    bundle = tmp_path / "ca-bundle.pem"
    planned = npm.plan(bundle, tmp_path / "e.pem", Scope.USER, env)
    assert planned.changes == []
    (finding,) = [f for f in planned.findings if f.severity is Severity.ERROR]
    assert "without its comments" in finding.message
    assert finding.fix.startswith(f"move {backup_path(npmrc)} away")
    assert npm.apply(planned) == []
    assert npmrc.read_text() == original
    # Moved away: set, with a backup that keeps them.
    assert planned.watched == [backup_path(npmrc)]  # moved away: a full run
    backup_path(npmrc).unlink()
    assert len(npm.apply(npm.plan(bundle, tmp_path / "e.pem", Scope.USER, env))) == 1
    assert backup_path(npmrc).read_text() == original
    # An existing .bak that holds the same comments keeps them: no refusal.
    npmrc.write_text(original)
    assert npm.plan(bundle, tmp_path / "e.pem", Scope.USER, env).changes != []


@needs_npm
def test_global_scope_writes_the_global_npmrc(isolated_home: Home, tmp_path: Path) -> None:
    (isolated_home.home / ".npmrc").write_text("cafile=/user.pem\n")
    env = npm_env(isolated_home, tmp_path)
    bundle = tmp_path / "ca-bundle.pem"
    planned = npm.plan(bundle, tmp_path / "e.pem", Scope.GLOBAL, env)
    (change,) = planned.changes
    assert change.path == tmp_path / "global-npmrc"
    # The user's own cafile beats the global one: say so.
    assert [(f.severity, f.where) for f in planned.findings] == [
        (Severity.WARNING, str(isolated_home.home / ".npmrc"))
    ]
    npm.apply(planned)
    assert npm.read_value(tmp_path / "global-npmrc", "cafile") == str(bundle)
    assert npm.read_value(isolated_home.home / ".npmrc", "cafile") == "/user.pem"
    # Undo edits the recorded (global) file, not the user's.
    assert npm.undo(change, env) == "removed"
    assert npm.read_value(tmp_path / "global-npmrc", "cafile") is None
    assert npm.read_value(isolated_home.home / ".npmrc", "cafile") == "/user.pem"


@needs_npm
@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_the_global_npmrc_keeps_its_mode_though_npm_rewrites_it_world_writable(
    isolated_home: Home, tmp_path: Path
) -> None:
    """npm 11 writes the global npmrc 0666 on every `config set --location=global`: any
    account could then set every account's cafile. It keeps the mode it had, through the
    change and its undo; one npm creates gets no group or other write."""
    env = npm_env(isolated_home, tmp_path)
    global_npmrc = tmp_path / "global-npmrc"
    global_npmrc.write_text("registry=https://registry.npmjs.org/\n")
    global_npmrc.chmod(0o644)
    bundle = tmp_path / "ca-bundle.pem"
    (change,) = npm.apply(npm.plan(bundle, tmp_path / "e.pem", Scope.GLOBAL, env))
    assert npm.read_value(global_npmrc, "cafile") == str(bundle)
    assert stat.S_IMODE(global_npmrc.stat().st_mode) == 0o644
    global_npmrc.write_text(f"cafile={bundle}\nfund=false\n")  # edited: undo goes by npm
    assert npm.undo(change, env) == "removed"
    assert stat.S_IMODE(global_npmrc.stat().st_mode) == 0o644

    global_npmrc.unlink()
    npm.apply(npm.plan(bundle, tmp_path / "e.pem", Scope.GLOBAL, env))
    assert not global_npmrc.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)


@needs_npm
def test_strict_ssl_false_and_a_cafile_variable_are_findings(
    isolated_home: Home, tmp_path: Path
) -> None:
    (isolated_home.home / ".npmrc").write_text("strict-ssl=false\n")
    env = npm_env(isolated_home, tmp_path, npm_config_cafile="/elsewhere.pem")
    findings = npm.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env).findings
    assert [(f.severity, f.where) for f in findings] == [
        (Severity.ERROR, "npm strict-ssl"),
        (Severity.ERROR, "environment variable npm_config_cafile"),
    ]
    assert findings[0].fix.startswith("npm config delete strict-ssl --location=user")


@needs_npm
def test_inline_ca_roots_keep_cafile_from_being_set(isolated_home: Home, tmp_path: Path) -> None:
    """npm ignores `ca` once cafile is set: an internal registry's root given inline was
    silently dropped. Now cafile is left as it is, with an error that says what to do."""
    root = "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----"
    (isolated_home.home / ".npmrc").write_text(f'registry=https://npm.corp/\nca[]="{root}"\n')
    env = npm_env(isolated_home, tmp_path)
    planned = npm.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env)
    assert planned.changes == []
    (error,) = [f for f in planned.findings if f.severity is Severity.ERROR]
    user_file = isolated_home.home / ".npmrc"
    assert f"inline root(s) in `ca` (1 in {user_file})" in error.message
    assert "which npm ignores once cafile is set" in error.message
    (isolated_home.home / ".npmrc").write_text("registry=https://npm.corp/\n")
    assert [
        c.key for c in npm.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env).changes
    ] == ["cafile"]


@needs_npm
def test_inline_ca_roots_from_the_global_npmrc_or_a_variable_count_too(
    isolated_home: Home, tmp_path: Path
) -> None:
    """npm's cafile replaces `ca` wherever `ca` comes from: roots inline in the global npmrc
    (or npm_config_ca) were lost when the user's npmrc got cafile, with exit 0."""
    root = "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----"
    global_file = tmp_path / "global-npmrc"
    global_file.write_text(f'ca="{root}"\n')
    env = npm_env(isolated_home, tmp_path)
    planned = npm.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env)
    assert planned.changes == []
    (error,) = [f for f in planned.findings if f.severity is Severity.ERROR]
    assert f"(1 in {global_file})" in error.message
    global_file.unlink()
    env = npm_env(isolated_home, tmp_path, NPM_CONFIG_CA=root.replace("\\n", "\n"))
    planned = npm.plan(tmp_path / "b.pem", tmp_path / "e.pem", Scope.USER, env)
    assert planned.changes == []
    (error,) = [f for f in planned.findings if f.severity is Severity.ERROR]
    assert "(1 in environment variable NPM_CONFIG_CA)" in error.message


@needs_npm
def test_site_scope_is_a_notice(isolated_home: Home, tmp_path: Path) -> None:
    site = npm.plan(
        tmp_path / "b.pem", tmp_path / "e.pem", Scope.SITE, npm_env(isolated_home, tmp_path)
    )
    assert site.changes == []
    assert [(f.severity, "per user, machine or project" in f.message) for f in site.findings] == [
        (Severity.INFO, True)
    ]


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("cafile=/a.pem", "/a.pem"),
        ("cafile = /a b.pem ", "/a b.pem"),
        ('cafile="C:\\\\Users\\\\x.pem"', "C:\\Users\\x.pem"),  # ini writes JSON strings
        ("cafile=C:\\Users\\x.pem", "C:\\Users\\x.pem"),  # a lone backslash stays
        ("cafile=/a.pem ; a comment", "/a.pem"),
        ("cafile=/a\\;b.pem", "/a;b.pem"),
        ("; cafile=/commented.pem", None),
        ("[section]\ncafile=/in-a-section.pem", None),
    ],
)
def test_read_value_parses_like_npm(tmp_path: Path, line: str, value: str | None) -> None:
    npmrc = tmp_path / ".npmrc"
    npmrc.write_text(f"registry=https://r.example/\n{line}\n")
    assert npm.read_value(npmrc, "cafile") == value
