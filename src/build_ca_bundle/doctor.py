"""Audits: what switches TLS verification off, and what keeps our bundle from applying.

Each check reads files or the environment and returns :class:`Finding` values with the place
(file and line where there is one) and the exact fix. Nothing here writes; ``doctor --fix``
(in :mod:`build_ca_bundle.pipeline`) applies the few fixes that are safe to make alone.
"""

from __future__ import annotations

import configparser
import os
import re
import site
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

from build_ca_bundle import x509der
from build_ca_bundle.certificates import Certificate
from build_ca_bundle.regular import read_bytes
from build_ca_bundle.targets import Finding, Severity
from build_ca_bundle.values import Value

FIXED_BY = "`build-ca-bundle doctor --fix`"


def trusted_host_fix(fixed_by: str = FIXED_BY) -> str:
    """The fix of a pip trusted-host entry; ``fixed_by`` says who removes it (another
    scope's file: an administrator, another account)."""
    return (
        f"remove it ({fixed_by} does, keeping a backup): with the bundle, pip verifies these "
        "hosts instead of trusting anything they send"
    )


def _site_folders() -> list[Path]:
    folders = [Path(p) for p in site.getsitepackages()]
    user = site.getusersitepackages()
    if user:
        folders.append(Path(user))
    return folders


class DoctorContext(Value):
    """Where the checks look. Tests point every field at a private folder."""

    __slots__ = (
        "home",
        "cwd",
        "environ",
        "platform",
        "pip_files",
        "system_root",
        "git",
        "site_folders",
        "bundle",
        "pip_fixed_by",
    )
    home: Final[Path]
    cwd: Final[Path]
    environ: Final[Mapping[str, str]]
    platform: Final[str]
    pip_files: Final[Sequence[Path]]  # every pip config file pip would load, in its order
    system_root: Final[Path]
    git: Final[Sequence[str] | None]  # None: do not ask git
    site_folders: Final[Sequence[Path]]
    bundle: Final[Path | None]  # our bundle, when the checks should compare against it
    # Who removes a pip file's trusted-host, where not this run's `doctor --fix` (FIXED_BY)
    pip_fixed_by: Final[Mapping[Path, str]]

    def __init__(
        self,
        home: Path,
        cwd: Path,
        environ: Mapping[str, str],
        platform: str = sys.platform,
        pip_files: Sequence[Path] = (),
        system_root: Path = Path("/"),
        git: Sequence[str] | None = ("git",),
        site_folders: Sequence[Path] | None = None,
        bundle: Path | None = None,
        pip_fixed_by: Mapping[Path, str] | None = None,
    ) -> None:
        self.home = home
        self.cwd = cwd
        self.environ = environ
        self.platform = platform
        self.pip_files = pip_files
        self.system_root = system_root
        self.git = git
        self.site_folders = _site_folders() if site_folders is None else site_folders
        self.bundle = bundle
        self.pip_fixed_by = pip_fixed_by or {}

    def under_root(self, absolute: str) -> Path:
        return self.system_root / absolute.lstrip("/")


Check = Callable[[DoctorContext], list[Finding]]


def run_checks(context: DoctorContext, checks: Iterable[Check] | None = None) -> list[Finding]:
    findings: list[Finding] = []
    for check in checks if checks is not None else ALL_CHECKS:
        findings.extend(check(context))
    return findings


def _read_lines(path: Path) -> list[str] | None:
    """A file's lines, or None; a FIFO or device (a requirements.txt made one) is not read:
    it would hang doctor, or fill memory."""
    try:
        return read_bytes(path).decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None


def _error(where: str, message: str, fix: str) -> Finding:
    return Finding(Severity.ERROR, where, message, fix)


# --- pip -------------------------------------------------------------------------------

_SECTION = configparser.RawConfigParser.SECTCRE
_OPTION = configparser.RawConfigParser.OPTCRE


def pip_trusted_hosts(path: Path) -> list[tuple[int, str, str]]:
    """(line, section, value) of every ``trusted-host`` key in a pip config file."""
    lines = _read_lines(path)
    if lines is None:
        return []
    found: list[tuple[int, str, str]] = []
    section = ""
    option_indent: int | None = None  # the last option line's, in this section
    for number, line in enumerate(lines, start=1):
        text = line.lstrip("\ufeff")
        if not text.strip() or text.lstrip().startswith(("#", ";")):
            continue
        header = _SECTION.match(text)
        if header:
            section, option_indent = header.group("header"), None
            continue
        indent = len(text) - len(text.lstrip())
        if option_indent is not None and indent > option_indent:
            continue  # a continuation of the option above (configparser's rule)
        option_indent = indent
        option = _OPTION.match(text.lstrip())
        if option and option.group("option").strip().lower().replace("_", "-") == "trusted-host":
            found.append((number, section, (option.group("value") or "").strip()))
    return found


def check_pip_config(context: DoctorContext) -> list[Finding]:
    findings = []
    for path in context.pip_files:
        for line, section, value in pip_trusted_hosts(path):
            findings.append(
                _error(
                    f"{path}:{line}",
                    f"pip [{section}] trusted-host = {value}: TLS verification is off for "
                    "these hosts",
                    trusted_host_fix(context.pip_fixed_by.get(path, FIXED_BY)),
                )
            )
    return findings


# --- the environment --------------------------------------------------------------------

_FALSE = frozenset({"false", "no", "0", "off"})


def check_environment(context: DoctorContext) -> list[Finding]:
    env = context.environ
    findings = []

    def unset(name: str, message: str) -> None:
        findings.append(
            _error(
                f"environment: {name}",
                message,
                f"unset {name} where it is set (shell "
                "start-up files, CI settings, the user's environment variables)",
            )
        )

    if env.get("PIP_TRUSTED_HOST"):
        unset("PIP_TRUSTED_HOST", f"pip skips verification for {env['PIP_TRUSTED_HOST']}")
    if "GIT_SSL_NO_VERIFY" in env:
        unset("GIT_SSL_NO_VERIFY", "git skips TLS verification (any value, even 0 or empty)")
    if env.get("NODE_TLS_REJECT_UNAUTHORIZED") == "0":
        unset("NODE_TLS_REJECT_UNAUTHORIZED", "Node.js and npm skip TLS verification")
    if env.get("UV_INSECURE_HOST"):
        unset("UV_INSECURE_HOST", f"uv skips verification for {env['UV_INSECURE_HOST']}")
    for name in (
        "CONDA_SSL_VERIFY",
        "npm_config_strict_ssl",
        "NPM_CONFIG_STRICT_SSL",
        "PDM_PYPI_VERIFY_SSL",
        "YARN_ENABLE_STRICT_SSL",
    ):
        if env.get(name, "").strip().lower() in _FALSE and name in env:
            unset(name, "TLS verification is switched off")
    for name, value in env.items():
        if re.fullmatch(r"POETRY_CERTIFICATES_\w+_CERT", name) and value.lower() == "false":
            unset(name, "Poetry skips verification for this repository")
    if "PYTHONHTTPSVERIFY" in env:
        findings.append(
            Finding(
                Severity.INFO,
                "environment: PYTHONHTTPSVERIFY",
                "has no effect on Python 3 or requests (PEP 493 was for Python 2.7)",
                "unset PYTHONHTTPSVERIFY: it does nothing but suggests verification is off",
            )
        )
    if env.get("CURL_CA_BUNDLE") == "":
        findings.append(
            Finding(
                Severity.WARNING,
                "environment: CURL_CA_BUNDLE",
                "is empty: requests older than 2.28 read that as 'verification off'",
                "unset CURL_CA_BUNDLE",
            )
        )
    return findings


# --- shell start-up files, profiles and requirements files ------------------------------

# fish sets a variable with `set [-gx] NAME value`, where sh and PowerShell write NAME=.
_FISH_SET = r"\bset\s+(?:-\w+\s+)*"
_SHELL_PATTERNS = (
    (re.compile(r"--trusted-host(?:[\s=]|$)"), "pip --trusted-host turns TLS verification off"),
    (
        re.compile(rf"\bPIP_TRUSTED_HOST\s*=|{_FISH_SET}PIP_TRUSTED_HOST\s"),
        "PIP_TRUSTED_HOST turns pip's verification off",
    ),
    (re.compile(r"\bGIT_SSL_NO_VERIFY\b"), "GIT_SSL_NO_VERIFY turns git's verification off"),
    (
        re.compile(
            rf"\bNODE_TLS_REJECT_UNAUTHORIZED\s*=\s*['\"]?0|"
            rf"{_FISH_SET}NODE_TLS_REJECT_UNAUTHORIZED\s+['\"]?0"
        ),
        "NODE_TLS_REJECT_UNAUTHORIZED=0 turns Node's verification off",
    ),
    (re.compile(r"http\.sslVerify[= ]+false", re.IGNORECASE), "git http.sslVerify=false"),
)

# Shell start-up files, relative to HOME, that people paste workarounds into.
_HOME_STARTUP_FILES = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",  # a login bash reads it when there is no .bash_profile
    ".bash_aliases",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    # PowerShell 7 and Windows PowerShell 5.1 profiles
    "Documents/PowerShell/Microsoft.PowerShell_profile.ps1",
    "Documents/PowerShell/profile.ps1",
    "Documents/WindowsPowerShell/Microsoft.PowerShell_profile.ps1",
    "Documents/WindowsPowerShell/profile.ps1",
    ".config/powershell/Microsoft.PowerShell_profile.ps1",  # PowerShell on Linux and macOS
    ".config/fish/config.fish",
)


def _scan(path: Path, patterns: Sequence[tuple[re.Pattern[str], str]], fix: str) -> list[Finding]:
    lines = _read_lines(path)
    if lines is None:
        return []
    findings = []
    for number, line in enumerate(lines, start=1):
        # A comment does nothing: a whole line, or from a "#" after a space to the end
        # (pip's requirements rule, and the shells' outside quotes).
        code = _COMMENT.sub("", line)
        for pattern, message in patterns:
            if pattern.search(code):
                findings.append(_error(f"{path}:{number}", message, fix))
    return findings


_COMMENT = re.compile(r"(^|\s)#.*$")


def _startup_files(context: DoctorContext) -> list[Path]:
    files = [context.home / name for name in _HOME_STARTUP_FILES]
    zdotdir = context.environ.get("ZDOTDIR", "")
    if Path(zdotdir).is_absolute():  # zsh reads its own files from there, not from HOME
        files += [Path(zdotdir) / name for name in (".zshenv", ".zprofile", ".zshrc")]
    profile_d = context.under_root("/etc/profile.d")
    if profile_d.is_dir():
        files.extend(sorted(profile_d.glob("*.sh")))
    for name in ("/etc/profile", "/etc/bash.bashrc", "/etc/zsh/zshrc", "/etc/environment"):
        files.append(context.under_root(name))
    return files


def check_shell_files(context: DoctorContext) -> list[Finding]:
    fix = "delete or comment out this line, then open a new shell: the bundle makes it unneeded"
    findings = []
    for path in _startup_files(context):
        findings.extend(_scan(path, _SHELL_PATTERNS, fix))
    return findings


# `export NAME=value`, `NAME=value`, fish's `set -gx NAME value`, PowerShell's
# `$env:NAME = 'value'`: a CA variable a start-up file sets, and the file it names.
_CA_ASSIGNMENT = re.compile(
    r"^\s*(?:(?:export\s+|declare\s+-x\s+|\$env:)?(?P<name>[A-Z_]+)\s*=\s*"
    r"|set\s+(?:-\w+\s+)*(?P<fish>[A-Z_]+)\s+)(?P<value>\S.*?)\s*;?\s*$"
)


def check_ca_variables_set_at_login(context: DoctorContext) -> list[Finding]:
    """A start-up file that sets a CA variable to a file that is gone, or to another
    bundle: every new shell gets it, whatever this one has. (A REQUESTS_CA_BUNDLE left from
    an earlier fix by hand beats pip's cert, and doctor said nothing of the line that sets
    it.) Our own block is not looked at; a value built from other variables is not
    guessed."""
    from build_ca_bundle.targets.env import BEGIN, END

    findings = []
    for path in _startup_files(context):
        lines = _read_lines(path)
        ours = False
        for number, line in enumerate(lines or [], start=1):
            if line.strip() in (BEGIN, END):
                ours = line.strip() == BEGIN
                continue
            found = None if ours else _CA_ASSIGNMENT.match(_COMMENT.sub("", line))
            if found is None:
                continue
            name = found["name"] or found["fish"]
            if name not in CA_VARIABLES:
                continue
            value = _unquoted(found["value"], context.home)
            if value is not None:
                findings.extend(_named_file(f"{path}:{number}", name, value, context))
    return findings


def _unquoted(value: str, home: Path) -> str | None:
    """The path a shell makes of ``value``: quotes off, a leading ~ or $HOME expanded; None
    for one built from other variables or commands."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    for prefix in ("~/", "$HOME/", "${HOME}/"):
        if value.startswith(prefix):
            value = f"{home}/{value[len(prefix) :]}"
    if any(char in value for char in "$`'\"") or not value:
        return None
    return value


def _named_file(where: str, name: str, value: str, context: DoctorContext) -> list[Finding]:
    path = Path(value)
    if not path.is_absolute():
        return []  # relative to whichever folder a shell starts in: not ours to judge
    if not path.exists():
        return [
            _error(
                where,
                f"sets {name} to {value}, which does not exist: the tools that read it fail "
                "or trust nothing, in every new shell",
                f"delete this line (or point it at {context.bundle}), then open a new shell"
                if context.bundle is not None
                else "delete this line, then open a new shell",
            )
        ]
    effect = CA_VARIABLES[name]
    if effect is None or context.bundle is None or path.resolve() == context.bundle.resolve():
        return []
    return [
        Finding(
            Severity.WARNING,
            where,
            f"sets {name} to {value}, not our bundle: {effect}",
            f"point it at {context.bundle}, or delete this line; then open a new shell",
        )
    ]


def check_requirements_files(context: DoctorContext) -> list[Finding]:
    findings = []
    fix = "delete the --trusted-host line from this file: the bundle makes it unneeded"
    patterns = [(_SHELL_PATTERNS[0][0], "pip --trusted-host in a requirements file")]
    for pattern in ("*requirements*.txt", "*constraints*.txt", "requirements/*.txt"):
        for path in sorted(context.cwd.glob(pattern)):
            findings.extend(_scan(path, patterns, fix))
    pipfile = context.cwd / "Pipfile"
    verify_ssl = [(re.compile(r"verify_ssl\s*=\s*false", re.IGNORECASE), "Pipfile verify_ssl")]
    findings.extend(
        _scan(pipfile, verify_ssl, "set verify_ssl = true: the bundle makes false unneeded")
    )
    return findings


# --- other tools' config files ---------------------------------------------------------


_GIT_SECTION = re.compile(r'\[\s*([-.\w]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]')
_GIT_NAME = re.compile(r"([A-Za-z][-A-Za-z0-9]*)\s*(?:=|$|[;#])")


def _git_line(path: Path, key: str) -> int | None:
    """The line of ``path`` that sets ``key`` as git prints it (section and name in lower
    case, a subsection as written): git says the file, not the line. The last one wins in
    git, so the last such line."""
    section, found = "", None
    for number, line in enumerate(_read_lines(path) or [], start=1):
        stripped = line.strip()
        header = _GIT_SECTION.match(stripped)
        if header is not None:
            section = header[1].lower() + ("" if header[2] is None else f".{header[2]}")
            stripped = stripped[header.end() :].strip()  # "[http] sslVerify = false"
        name = _GIT_NAME.match(stripped)
        if name is not None and f"{section}.{name[1].lower()}" == key:
            found = number
    return found


def check_git(context: DoctorContext) -> list[Finding]:
    if context.git is None:
        return []
    command = [*context.git, "config", "--show-origin", "--get-regexp", r"^http\..*sslverify$"]
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=10,
            env=dict(context.environ),
            cwd=context.cwd if context.cwd.is_dir() else context.home,  # global config still
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []  # no git, no git finding
    findings = []
    for line in completed.stdout.splitlines():
        origin, _, rest = line.partition("\t")
        key, equals, value = rest.partition(" ")
        # "sslVerify =" (an empty value) is false to git; a bare "sslVerify" is true.
        if value.strip().lower() in _FALSE or (equals and not value.strip()):
            where = origin.removeprefix("file:")
            number = _git_line(Path(where), key)
            findings.append(
                _error(
                    where if number is None else f"{where}:{number}",
                    f"git {key} = {value.strip() or '(empty: false to git)'}: git skips TLS "
                    "verification",
                    f"git config --file {where} --unset {key}; then, if git needs the "
                    "bundle: git config --global http.sslCAInfo <bundle>",
                )
            )
    return findings


def _home_files(context: DoctorContext, *names: str) -> list[Path]:
    return [context.home / name for name in names]


def check_npm(context: DoctorContext) -> list[Finding]:
    pattern = [(re.compile(r"^\s*strict-ssl\s*=\s*false", re.IGNORECASE), "npm strict-ssl=false")]
    bundle = "<bundle>" if context.bundle is None else str(context.bundle)
    findings = []
    # npm reads npm_config_userconfig (any case) in place of ~/.npmrc, and its globalconfig.
    named = [
        Path(value).expanduser()
        for name, value in context.environ.items()
        if name.lower() in ("npm_config_userconfig", "npm_config_globalconfig") and value
    ]
    # Once each: in the home folder, the project's .npmrc is the user's own.
    home_files = _home_files(context, ".npmrc", ".yarnrc")
    for path in dict.fromkeys([*named, *home_files, context.cwd / ".npmrc"]):
        has_cafile = any(map(_CAFILE.match, _read_lines(path) or []))
        fix = "remove strict-ssl=false" + (
            "" if has_cafile else f"; point npm at the bundle: npm config set cafile {bundle}"
        )
        findings.extend(_scan(path, pattern, fix))
    project = context.cwd / ".npmrc"
    if project != context.home / ".npmrc":
        findings.extend(_project_cafile(project))
    return findings


_CAFILE = re.compile(r"^\s*cafile\s*=\s*(?P<value>.+?)\s*$", re.IGNORECASE)


def _project_cafile(path: Path) -> list[Finding]:
    """A project's .npmrc beats the user's: its own cafile is what npm uses in there."""
    findings = []
    for number, line in enumerate(_read_lines(path) or [], start=1):
        found = _CAFILE.match(line)
        if found:
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"{path}:{number}",
                    f"npm in this project uses cafile = {found['value']} from its own .npmrc, "
                    "not the bundle the user's npmrc names",
                    "remove the line if the bundle holds that CA (or add the CA to the bundle "
                    "with --extra-ca)",
                )
            )
    return findings


def check_conda(context: DoctorContext) -> list[Finding]:
    pattern = [
        (
            # YAML: a comment may follow ("ssl_verify: false  # for the proxy").
            re.compile(r"^\s*ssl_verify\s*:\s*(false|no|0|off)\s*(#.*)?$", re.IGNORECASE),
            "conda ssl_verify: false",
        )
    ]
    fix = "conda config --set ssl_verify <bundle> (or truststore on conda 23.9+)"
    config_home = Path(context.environ.get("XDG_CONFIG_HOME") or context.home / ".config")
    paths = [
        *_home_files(context, ".condarc", ".conda/.condarc", ".conda/condarc"),
        config_home / "conda" / ".condarc",
        config_home / "conda" / "condarc",
        context.under_root("/etc/conda/.condarc"),
        context.under_root("/etc/conda/condarc"),
    ]
    if context.environ.get("CONDARC"):
        paths.append(Path(context.environ["CONDARC"]))
    findings = []
    for path in paths:
        findings.extend(_scan(path, pattern, fix))
    return findings


def check_uv(context: DoctorContext) -> list[Finding]:
    pattern = [(re.compile(r"^\s*allow-insecure-host\s*="), "uv allow-insecure-host")]
    fix = "remove allow-insecure-host; give uv the bundle: SSL_CERT_FILE=<bundle>"
    config_home = Path(context.environ.get("XDG_CONFIG_HOME") or context.home / ".config")
    paths = [config_home / "uv" / "uv.toml", context.under_root("/etc/uv/uv.toml")]
    if context.environ.get("APPDATA"):
        paths.append(Path(context.environ["APPDATA"]) / "uv" / "uv.toml")
    paths += [context.cwd / "uv.toml", context.cwd / "pyproject.toml"]
    findings = []
    for path in paths:
        findings.extend(_scan(path, pattern, fix))
    return findings


def check_poetry(context: DoctorContext) -> list[Finding]:
    pattern = [
        (re.compile(r"^\s*cert\s*=\s*false\s*$"), "Poetry certificates.<source>.cert = false")
    ]
    fix = "poetry config --unset certificates.<source>.cert (then REQUESTS_CA_BUNDLE=<bundle>)"
    config_home = Path(context.environ.get("XDG_CONFIG_HOME") or context.home / ".config")
    paths = [
        config_home / "pypoetry" / "config.toml",
        context.home / "Library" / "Application Support" / "pypoetry" / "config.toml",
        context.cwd / "poetry.toml",
    ]
    if context.environ.get("APPDATA"):
        paths.append(Path(context.environ["APPDATA"]) / "pypoetry" / "config.toml")
    if context.environ.get("POETRY_CONFIG_DIR"):
        paths.append(Path(context.environ["POETRY_CONFIG_DIR"]) / "config.toml")
    findings = []
    for path in paths:
        findings.extend(_scan(path, pattern, fix))
    return findings


_UNVERIFIED_CONTEXT = [
    (
        re.compile(r"_create_unverified_context|_create_default_https_context\s*="),
        "installs an unverified HTTPS context for every Python program",
    ),
    (re.compile(r"verify\s*=\s*False"), "turns requests' verification off"),
]


def check_site_customization(context: DoctorContext) -> list[Finding]:
    fix = "delete the code that disables verification from this file"
    findings = []
    for folder in context.site_folders:
        candidates = [folder / "sitecustomize.py", folder / "usercustomize.py"]
        try:
            candidates += sorted(folder.glob("*.pth"))
        except OSError:
            continue
        for path in candidates:
            findings.extend(_scan(path, _UNVERIFIED_CONTEXT, fix))
    return findings


# Variables that name a CA bundle for some tool, and what naming another bundle does
# (reference/tools.md: most *replace* that tool's roots).
CA_VARIABLES: dict[str, str | None] = {
    "SSL_CERT_FILE": "Python's ssl, httpx, uv, curl and Go (on Linux) trust only what it holds",
    "REQUESTS_CA_BUNDLE": "requests trusts only what it holds, and it beats pip's cert",
    "CURL_CA_BUNDLE": "curl trusts only what it holds, and so do requests and pip when "
    "REQUESTS_CA_BUNDLE is unset",
    "PIP_CERT": "it beats the cert in every pip config file",
    "GIT_SSL_CAINFO": "git trusts only what it holds, and it beats http.sslCAInfo",
    "AWS_CA_BUNDLE": "the AWS CLI and botocore trust only what it holds",
    # Adds to Node's roots: another file is fine; a missing one is skipped with a warning
    # on stderr, and the roots it should add are not trusted.
    "NODE_EXTRA_CA_CERTS": None,
}


def check_ca_variables(context: DoctorContext) -> list[Finding]:
    """A CA variable naming a missing file breaks its tools; one naming another bundle
    silently replaces ours (reference/tools.md §0, §7)."""
    findings = []
    for name, effect in CA_VARIABLES.items():
        value = context.environ.get(name)
        if not value:
            continue
        # Only pip expands "~" in it (its cert option is a path); OpenSSL, requests, curl,
        # git and Node open the name as written, so a quoted "~/..." names nothing to them.
        path = Path(value).expanduser() if name == "PIP_CERT" else Path(value)
        if not path.exists():
            literal = value.startswith("~") and Path(value).expanduser().exists()
            findings.append(
                _error(
                    f"environment: {name}",
                    f"names {value}, which does not exist"
                    + (" to the tools that read it: they do not expand '~'" if literal else "")
                    + ": tools that read it fail or trust nothing",
                    f"unset {name}, or point it at the bundle"
                    + (f" by its full path ({Path(value).expanduser()})" if literal else ""),
                )
            )
        elif (
            effect is not None
            and context.bundle is not None
            and path.resolve() != context.bundle.resolve()
        ):
            findings.append(
                Finding(
                    Severity.WARNING,
                    f"environment: {name}",
                    f"names {value}, not our bundle: {effect}",
                    f"point {name} at {context.bundle}, or unset it",
                )
            )
    return findings


def check_pip_version(context: DoctorContext) -> list[Finding]:
    """pip 24.2+ on Python 3.10+ already asks the OS store (truststore) unless told not to."""
    from importlib import metadata

    try:
        version = metadata.version("pip")
    except metadata.PackageNotFoundError:
        return []
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    uses_os = parts >= (24, 2) and sys.version_info >= (3, 10)
    legacy = "legacy-certs" in _pip_use_deprecated(context.environ)
    if uses_os and not legacy:
        message = (
            f"pip {version} also trusts the OS store (truststore); the bundle still "
            "serves pip's build environments, older pips and every other tool"
        )
    else:
        message = (
            f"pip {version} trusts only certifi or its `cert` setting: the bundle is what "
            "lets it through the proxy"
        )
    return [Finding(Severity.INFO, "pip", message, "nothing to do")]


def _pip_use_deprecated(environ: Mapping[str, str]) -> str:
    """pip's use-deprecated, as pip reads it: `use-deprecated = legacy-certs` in pip.conf
    turns truststore off as the variable does (doctor said pip trusted the OS store)."""
    from build_ca_bundle.errors import ConfigError
    from build_ca_bundle.targets import pip

    try:
        return pip.option_value(pip.PipEnvironment.current(environ), "use-deprecated") or ""
    except ConfigError:  # a pip file pip cannot read: the pip checks say so
        return ""


ALL_CHECKS: tuple[Check, ...] = (
    check_pip_config,
    check_environment,
    check_shell_files,
    check_requirements_files,
    check_git,
    check_npm,
    check_conda,
    check_uv,
    check_poetry,
    check_site_customization,
    check_ca_variables,
    check_ca_variables_set_at_login,
    check_pip_version,
)


def current_context(pip_files: Sequence[Path] = ()) -> DoctorContext:
    return DoctorContext(
        home=Path.home(), cwd=_current_folder(), environ=dict(os.environ), pip_files=pip_files
    )


def _current_folder() -> Path:
    """The current folder; a removed one (a shell left in a deleted checkout) by the name
    the shell knew it by: it holds no project files to check, and is no reason to fail."""
    try:
        return Path.cwd()
    except OSError:
        return Path(os.environ.get("PWD") or "/nonexistent (the current folder was removed)")


# --- Python 3.13+ strict X.509 -----------------------------------------------------------


def strict_x509_problems(cert: Certificate) -> list[str]:
    """What OpenSSL's X509_V_FLAG_X509_STRICT, on by default since Python 3.13, rejects in a
    CA certificate that is a chain's anchor. No bundle can fix these: only the CA's owner can
    reissue it. Read from our own parse of the DER: cryptography warns about (and will one
    day refuse) the zero serial numbers some old roots carry in their extensions.

    Not listed: a missing authorityKeyIdentifier. OpenSSL requires it only below the top of
    a chain, and with the partial-chain flag Python 3.13 sets, a chain ends at the first
    certificate the bundle holds (checked with ``openssl verify -x509_strict
    -partial_chain``, intermediates in the bundle included).
    """
    extensions = cert.fields.extensions
    problems = []
    basic = extensions.get(x509der.BASIC_CONSTRAINTS)
    if basic is None:
        problems.append("no basicConstraints extension")
    elif not basic.critical:
        problems.append("basicConstraints is not marked critical")
    if x509der.KEY_USAGE not in extensions:
        problems.append("no keyUsage extension")
    if x509der.SUBJECT_KEY_IDENTIFIER not in extensions:
        problems.append("no subjectKeyIdentifier")
    return problems


def lint_roots(certificates: Iterable[Certificate]) -> list[Finding]:
    findings = []
    for cert in certificates:
        problems = strict_x509_problems(cert)
        if problems:
            findings.append(
                Finding(
                    # Broken now on a Python that checks strictly; on an older one a note of
                    # what an upgrade brings, not a failure no one here can mend (exit 12).
                    Severity.WARNING if sys.version_info >= (3, 13) else Severity.INFO,
                    f"root {cert.label} (sha256 {cert.sha256[:16]}…)",
                    "Python 3.13+ and urllib3 2 reject chains through this root even with the "
                    "bundle (strict X.509 checks): " + "; ".join(problems),
                    "only the root's owner can fix this, by reissuing it (for your company's "
                    "root: IT); until then, tools that verify through truststore (pip 24.2+) "
                    "still work",
                )
            )
    return findings
