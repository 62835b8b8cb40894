"""The logon-script path: a bare ``build-ca-bundle`` that finds nothing changed.

It runs before argparse, before the policy is read, before anything else is imported: only
``os``, ``sys`` and the manifest (``json``). It answers only when the answer is certain —
a bare run (or one with output-only flags) whose record matches exactly; anything else falls
through to the full CLI, which decides again with everything loaded.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

from build_ca_bundle import __version__

# Flags that change what is printed or whether the live check runs, not the result.
NEUTRAL_FLAGS = frozenset(
    {"-q", "--quiet", "--no-verify", "--check", "--json", "--verbose", "-v", "--dry-run"}
)

# Variables that change what a run reads or where it writes. A change in any of them means
# the last run's result cannot be reused.
RELEVANT_VARIABLES = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "PIP_CONFIG_FILE",
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HOME",
    "USERPROFILE",
    "APPDATA",
    "LOCALAPPDATA",
    "PROGRAMDATA",
    "XDG_CONFIG_HOME",
    "XDG_CONFIG_DIRS",
    "XDG_DATA_HOME",
    "XDG_DATA_DIRS",
    "VIRTUAL_ENV",
    "WSL_DISTRO_NAME",
    "SHELL",
    "ZDOTDIR",  # where zsh reads the start-up file --configure env writes
    # Where Python finds certifi (a newer one on PYTHONPATH or in the user site wins)
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PYTHONNOUSERSITE",
    "PYTHONSAFEPATH",
)

# And every variable of these families: the configured tools read them (GIT_SSL_CAINFO,
# GIT_CONFIG_GLOBAL, npm_config_cafile, NODE_TLS_REJECT_UNAUTHORIZED, UV_INSECURE_HOST, ...),
# and the run's findings and exit code (13) say what they do. Unset since the last run, one
# kept its error on every run; set, it went unsaid until something else changed.
RELEVANT_PREFIXES = ("PIP_", "GIT_", "NPM_CONFIG_", "NODE_", "UV_", "CONDA")


def relevant_environment(environ: Mapping[str, str], *, tools: bool) -> list[str]:
    """The ``NAME=value`` items of the environment that decide a run's result, sorted.
    ``tools``: other tools may be configured, so PATH counts too (a git installed since is
    one to configure now)."""
    names = set(RELEVANT_VARIABLES) | {"PATH"} if tools else set(RELEVANT_VARIABLES)
    names.update(name for name in environ if name.upper().startswith(RELEVANT_PREFIXES))
    return [f"{name}={environ.get(name)}" for name in sorted(names)]


# The machine-wide policy file per OS (the policy module's table says why each).
POLICY_LOCATIONS = {
    "linux": "/etc/build-ca-bundle/policy.toml",
    "darwin": "/Library/Application Support/build-ca-bundle/policy.toml",
}


def default_policy(environ: Mapping[str, str], platform: str = sys.platform) -> str:
    if platform == "win32":
        program_data = environ.get("PROGRAMDATA") or environ.get("ProgramData") or "C:\\ProgramData"
        return program_data.rstrip("\\") + "\\build-ca-bundle\\policy.toml"
    return POLICY_LOCATIONS.get(platform, POLICY_LOCATIONS["linux"])


# Flags that change neither the bundle nor the settings, though the quick path cannot answer
# for them (--ci exports, --proxy serves the live check): left out of the key, so that a CI
# step's --ci run and a later --check agree about what is current.
_KEY_NEUTRAL_FLAGS = NEUTRAL_FLAGS | {"--ci"}
_KEY_NEUTRAL_VALUE = "--proxy"  # and the value after it, or after "="


def _result_arguments(argv: Sequence[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == _KEY_NEUTRAL_VALUE:
            skip = True
        elif arg not in _KEY_NEUTRAL_FLAGS and not arg.startswith(f"{_KEY_NEUTRAL_VALUE}="):
            kept.append(arg)
    return kept


# Options that may configure tools beyond pip. argparse takes any unambiguous prefix
# (--conf git), so a prefix counts too: one too many only puts PATH into the key.
_TOOL_OPTIONS = ("--configure", "--persist-env", "--policy")


def _may_name_tools(arg: str) -> bool:
    name = arg.partition("=")[0]
    return (
        len(name) > 2
        and name.startswith("--")
        and any(option.startswith(name) for option in _TOOL_OPTIONS)
    )


def run_key(argv: Sequence[str], environ: Mapping[str, str]) -> str:
    """Everything that decides a run's result except the files it reads (the manifest
    records those): the tool, the Python, the meaningful flags, the environment, whether a
    machine policy exists."""
    policy = default_policy(environ)
    has_policy = os.path.exists(policy)
    # Other tools than pip: named on the command line, or by a policy (not read here).
    tools = has_policy or any(_may_name_tools(arg) for arg in argv)
    parts = [
        __version__,
        sys.version,
        sys.prefix,
        sys.platform,
        *_result_arguments(argv),
        "--",
        *relevant_environment(environ, tools=tools),
        f"policy={policy}:{has_policy}",
    ]
    return "\x1f".join(parts)


def user_bundle_path(environ: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """platformdirs' user data folder: plain arithmetic on Linux and macOS, platformdirs
    itself (the shell API) on Windows; None on other systems (the full CLI decides)."""
    home = environ.get("HOME") or os.path.expanduser("~")
    if platform == "darwin":
        folder = os.path.join(home, "Library", "Application Support")
    elif platform.startswith("linux"):
        data_home = environ.get("XDG_DATA_HOME", "").strip()
        folder = data_home if os.path.isabs(data_home) else os.path.join(home, ".local", "share")
    elif platform == "win32" and sys.platform == "win32":
        import platformdirs  # the same call the full CLI makes, so both find one manifest

        folder = platformdirs.user_data_dir(appauthor=False)  # %LOCALAPPDATA%, as known
    else:
        return None
    return os.path.join(folder, "build-ca-bundle", "ca-bundle.pem")


def try_unchanged(argv: Sequence[str], environ: Mapping[str, str]) -> int | None:
    """0 when a bare run would change nothing (after saying so); None to run the full CLI."""
    if any(arg not in NEUTRAL_FLAGS for arg in argv) or set(argv) & {
        "--json",
        "-v",
        "--verbose",
        "--dry-run",
    }:
        return None
    bundle = user_bundle_path(environ)
    if bundle is None:
        return None
    import time

    from build_ca_bundle import manifest
    from build_ca_bundle.console import say

    recorded = manifest.load(bundle)
    if recorded is None or manifest.why_stale(
        recorded, run_key(argv, environ), time.time(), bundle
    ):
        return None
    quiet = bool({"-q", "--quiet"} & set(argv))
    if "--check" in argv:
        if not quiet:
            say(f"current: {bundle}")
        for error in manifest.recorded_errors(recorded):
            say(error, sys.stderr)
    else:
        manifest.say_unchanged(bundle, recorded, quiet=quiet)
        return manifest.exit_code(recorded)
    return 0
