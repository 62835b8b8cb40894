"""The IT policy file: machine-wide defaults for a fleet, in TOML.

IT writes it once (``/etc/build-ca-bundle/policy.toml`` and the like) and every logon run picks
it up. Flags given on the command line win over it; the report says which values came from it.
A file that does not parse, or holds a key or a value we do not know, is an error that names
the file and the line, and nothing is changed: a typo must not silently drop a required root.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path, PureWindowsPath

from build_ca_bundle.errors import PolicyError
from build_ca_bundle.options import TOOLS, not_a_tls_target, sha256_fingerprint
from build_ca_bundle.regular import read_bytes
from build_ca_bundle.values import Value

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import Any, Final

# Where IT puts the policy, per OS. One admin-only place each.
_POLICY_LOCATIONS = {
    # Linux and other Unix: next to the machine-wide bundle.
    "linux": "/etc/build-ca-bundle/policy.toml",
    # macOS: the conventional place for machine-wide app data managed by an admin or MDM.
    "darwin": "/Library/Application Support/build-ca-bundle/policy.toml",
}
_WINDOWS_POLICY = r"build-ca-bundle\policy.toml"  # under %ProgramData%

# Keys a policy may set, with the type each must have.
_KEYS: dict[str, type] = {
    "extra_ca": list,  # files or folders of roots IT hands out
    "exclude": list,  # SHA-256 fingerprints never to include
    "required": list,  # SHA-256 fingerprints that must be in the result, or nothing changes
    "scope": str,  # user, site, global, none
    "output": str,  # where the bundle goes
    "configure": list,  # tools to point at the bundle, e.g. ["pip", "git"]
    "verify_targets": list,  # URLs the live check tries
    "keep_expired": bool,
    "include_intermediates": bool,
}
# Each type as an admin writes it in TOML (Python's "must be bool" is not that).
_KINDS: dict[type, str] = {
    list: 'a list of strings, e.g. ["a", "b"]',
    str: 'a string in quotes, e.g. "user"',
    bool: "true or false",
}
_SCOPES = frozenset({"user", "site", "global", "none"})


class Policy(Value):
    """The values a policy file set, and where it was (``paths``: every file read, the
    machine's first, when a named policy was read over it)."""

    __slots__ = ("paths", "values")
    paths: Final[tuple[Path, ...]]
    values: Final[Mapping[str, Any]]

    def __init__(
        self, paths: tuple[Path, ...] = (), values: Mapping[str, Any] | None = None
    ) -> None:
        self.paths = paths
        self.values = {} if values is None else values

    @property
    def path(self) -> Path | None:
        """The file read last: the named one, when one was read over the machine's."""
        return self.paths[-1] if self.paths else None

    def strings(self, key: str) -> list[str]:
        value = self.values.get(key, [])
        return [str(item) for item in value]

    def string(self, key: str) -> str | None:
        value = self.values.get(key)
        return None if value is None else str(value)

    def flag(self, key: str) -> bool | None:
        value = self.values.get(key)
        return None if value is None else bool(value)

    def __contains__(self, key: str) -> bool:
        return key in self.values


# What a named policy read over the machine's cannot take away: IT's lists add up with it.
_LISTS = frozenset({"extra_ca", "exclude", "required", "verify_targets"})


def layered(machine: Policy, named: Policy) -> Policy:
    """``named`` (``--policy FILE``) read over the machine's policy, as flags are: its
    values win, but the machine's roots, exclusions and required fingerprints stay (a
    policy of one's own must not drop a root IT requires, or bring back one IT excluded)."""
    if machine.path is None or named.path == machine.path:
        return named
    values = {**machine.values, **named.values}
    for key in _LISTS & (machine.values.keys() | named.values.keys()):
        values[key] = [*machine.values.get(key, []), *named.values.get(key, [])]
    return Policy(paths=(*machine.paths, *named.paths), values=values)


def default_location(platform: str = sys.platform, environ: Mapping[str, str] = os.environ) -> Path:
    """The machine-wide policy file for this OS."""
    if platform == "win32":
        program_data = environ.get("PROGRAMDATA") or environ.get("ProgramData") or r"C:\ProgramData"
        return Path(PureWindowsPath(program_data) / _WINDOWS_POLICY)
    return Path(_POLICY_LOCATIONS.get(platform, _POLICY_LOCATIONS["linux"]))


def load(path: Path | None, *, explicit: bool) -> Policy:
    """Read the policy at ``path``. A missing default file is no policy; a missing named one is
    an error, since IT asked for it."""
    if path is None:
        return Policy()
    try:
        data = read_bytes(path)
    except FileNotFoundError:
        if explicit:
            raise PolicyError(f"policy file not found: {path}") from None
        # There, but what it names is not (a share not mounted yet): the file, or a folder
        # above it, is a link that leads nowhere.
        dangling = next(
            (p for p in (path, *path.parents) if p.is_symlink() and not p.exists()), None
        )
        if dangling is not None:
            raise PolicyError(
                f"the policy file {path} is not there because {dangling} is a link to "
                f"{dangling.readlink()}, which is not there; nothing was changed",
                hint="mount or restore what it names, or remove the link",
            ) from None
        return Policy()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from exc
    # The machine's, also when named with --policy: the rule pipeline._check_machine_policy has.
    return parse(data, path, machine=not explicit or path == default_location())


def parse(data: bytes, path: Path, *, machine: bool = False) -> Policy:
    """Parse and check a policy file's bytes (``machine``: the machine-wide policy's)."""
    if sys.version_info >= (3, 11):  # imported here: most runs have no policy file
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        # utf-8-sig: Windows PowerShell 5 (Set-Content -Encoding UTF8) writes a BOM first.
        text = data.decode("utf-8-sig")
        document = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PolicyError(
            f"{path}, line {line}: not UTF-8 text ({exc.reason} at byte {exc.start})",
            hint="save the file as UTF-8; nothing was changed",
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        twice = _given_twice(str(exc), text)
        if twice is not None:
            raise PolicyError(
                f"{path}: {exc}: {twice}", hint="set each key once; nothing was changed"
            ) from exc
        raise PolicyError(
            f"{path}: {exc}", hint="fix the TOML syntax on that line; nothing was changed"
        ) from exc
    _check_types(document, text, path)
    _check_values(document, text, path)
    if machine:
        _check_machine_paths(document, text, path)
    return Policy(paths=(path,), values=document)


def _given_twice(message: str, text: str) -> str | None:
    """What tomllib's "Cannot overwrite a value (at line 2, column 15)" means, with the key it
    does not name; None for another error."""
    if not message.startswith(("Cannot overwrite", "Cannot declare")):
        return None
    import re  # tomllib has imported it already

    found = re.search(r"at line (\d+)", message)
    lines = text.splitlines()
    if found is None or not 0 < int(found[1]) <= len(lines):
        return "a key given twice?"
    key = lines[int(found[1]) - 1].split("=")[0].strip().strip("[]").strip()
    return f"is {key} given twice?" if key else "a key given twice?"


def _check_types(document: dict[str, Any], text: str, path: Path) -> None:
    for key, value in document.items():
        expected = _KEYS.get(key)
        if expected is None:
            raise PolicyError(
                f"{path}, line {_line_of(text, key)}: unknown key {key!r}",
                hint="known keys: " + ", ".join(sorted(_KEYS)),
            )
        if not isinstance(value, expected) or (
            isinstance(value, list) and not all(isinstance(item, str) for item in value)
        ):
            raise PolicyError(
                f"{path}, line {_line_of(text, key)}: {key} must be {_KINDS[expected]}"
            )


def _check_values(document: dict[str, Any], text: str, path: Path) -> None:
    for key in ("exclude", "required"):
        for item in document.get(key, []):
            if sha256_fingerprint(item) is None:
                raise PolicyError(
                    f"{path}, line {_line_of(text, key, item)}: {key!r} holds {item!r}, which "
                    "is not a SHA-256 fingerprint (64 hex digits; colons allowed)"
                )
    for item in document.get("configure", []):
        if item not in (*TOOLS, "all"):
            raise PolicyError(
                f"{path}, line {_line_of(text, 'configure', item)}: 'configure' holds {item!r}, "
                "which is no tool this tool configures",
                hint="choose from: all, " + ", ".join(TOOLS),
            )
    for key in ("output", "extra_ca"):
        values = document.get(key, [])
        for item in [values] if isinstance(values, str) else values:
            if not _expanded(item, key, text, path).is_absolute():
                # Relative to what? The logon's current folder differs from run to run.
                raise PolicyError(
                    f"{path}, line {_line_of(text, key, item)}: {key!r} holds {item!r}, which "
                    "is not an absolute path",
                    hint="write the full path; nothing was changed",
                )
    _check_output_is_a_file(document.get("output"), text, path)
    _check_reachable(document.get("verify_targets", []), text, path)
    scope = document.get("scope")
    if scope is not None and scope not in _SCOPES:
        raise PolicyError(
            f"{path}, line {_line_of(text, 'scope')}: scope must be one of "
            + ", ".join(sorted(_SCOPES))
        )


def _check_reachable(targets: list[str], text: str, path: Path) -> None:
    """An http:// URL was checked as TLS on port 443, and a port of 99999, or no host, was
    "offline" (exit 7) in every run's live check: the command line's rules refuse them here
    too. Said with any password in the URL hidden (a CI log keeps it)."""
    if not targets:
        return
    from build_ca_bundle import verify  # only then: it imports ssl and socket

    for item in targets:
        reason = (
            "only https:// URLs (or HOST[:PORT]) have certificates to check"
            if not_a_tls_target(item)
            else verify.unreachable_reason(item)
        )
        if reason is not None:
            raise PolicyError(
                f"{path}, line {_line_of(text, 'verify_targets', item)}: 'verify_targets' "
                f"holds {verify.redacted(item)!r}: {reason}",
                hint="fix the URL; nothing was changed",
            )


def _check_machine_paths(document: dict[str, Any], text: str, path: Path) -> None:
    """``~`` in the machine policy's extra_ca is each user's own home: every account's run
    would read a root IT hands out from a file that account controls (and a global run then
    refuses it as not root's). ``~name`` is one fixed home, and an ``output`` under ``~`` is
    each account's own bundle, which is theirs anyway (a per-user place IT may choose: it
    was refused, and every logon exited 3). A policy of one's own, named with --policy, may
    use ``~`` anywhere."""
    for item in document.get("extra_ca", []):
        if item == "~" or item.startswith(("~/", "~\\")):
            raise PolicyError(
                f"{path}, line {_line_of(text, 'extra_ca', item)}: 'extra_ca' holds {item!r}, "
                "but ~ in the machine-wide policy is each user's own home folder, which that "
                "user controls",
                hint="write the full path of a place only administrators can change; "
                "nothing was changed",
            )


def _expanded(item: str, key: str, text: str, path: Path) -> Path:
    """``item`` with ``~`` expanded; ``~nosuchuser`` (or ``~`` with neither HOME nor a passwd
    entry) raised RuntimeError, a traceback with neither the file nor the line."""
    try:
        return Path(item).expanduser()
    except RuntimeError:
        raise PolicyError(
            f"{path}, line {_line_of(text, key, item)}: {key!r} holds {item!r}, whose home "
            "folder is not known here",
            hint="write the full path; nothing was changed",
        ) from None


def _check_output_is_a_file(output: str | None, text: str, path: Path) -> None:
    """``newdir/`` means a folder, but Path() drops the slash, and a file named ``newdir``
    was written (and pip pointed at it): the rule --output has (cli._bundle_file)."""
    if output is not None and _ends_with_separator(output):
        raise PolicyError(
            f"{path}, line {_line_of(text, 'output')}: 'output' holds {output!r}, which ends "
            "with a separator, so it names a folder, not the bundle file",
            hint=f"give the bundle file's path, e.g. {output}ca-bundle.pem; nothing was changed",
        )


def _ends_with_separator(value: str) -> bool:
    return value.endswith(("/", os.sep)) or bool(os.altsep and value.endswith(os.altsep))


def _line_of(text: str, key: str, item: str | None = None) -> int:
    """The line a top-level key is set on (``key = ...``, or a ``[key]`` table), for error
    messages; with ``item``, the line of that string in the key's list, if found there (a
    list over many lines was reported on the key's line)."""
    start = _line_of_key(text, key)
    if item is not None:
        lines = text.splitlines()[start - 1 :]
        for number, line in enumerate(lines, start=start):
            if f'"{item}"' in line or f"'{item}'" in line:
                return number
            if "]" in line.split("#")[0]:  # the list ends here
                break
    return start


def _line_of_key(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        for spelled in (key, f'"{key}"', f"'{key}'"):  # TOML's bare and quoted keys
            rest = stripped[len(spelled) :].lstrip() if stripped.startswith(spelled) else None
            if rest is not None and rest.startswith(("=", ".")):
                return number
            table = stripped.lstrip("[").lstrip()
            if (
                stripped.startswith("[")
                and table.startswith(spelled)
                and table[len(spelled) :].lstrip().startswith(("]", "."))
            ):
                return number
    return 1
