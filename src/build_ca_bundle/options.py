"""What a run was asked to do. Light on purpose: the unchanged-run check reads it without
importing the certificate machinery (cryptography)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from build_ca_bundle import __version__
from build_ca_bundle.quick import relevant_environment
from build_ca_bundle.scope import Scope
from build_ca_bundle.values import Value

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import Final


class BuildOptions(Value):
    """Everything a run needs to know, from flags and the IT policy."""

    __slots__ = (
        "scope",
        "output",
        "extra_ca",
        "keep_expired",
        "include_intermediates",
        "exclude",
        "require",
        "windows_host",
        "pinned",
        "configure",
        "policy_paths",
        "policy_values",
        "verify_targets",
        "dry_run",
        "environ",
        "now",
        "run_key",
        "arguments",
    )
    scope: Final[Scope]
    output: Final[Path | None]
    extra_ca: Final[tuple[Path, ...]]
    keep_expired: Final[bool]
    include_intermediates: Final[bool]
    exclude: Final[tuple[str, ...]]  # SHA-256 fingerprints never to include
    require: Final[tuple[str, ...]]  # SHA-256 fingerprints that must be in the result
    windows_host: Final[bool]  # WSL: read the Windows host's store too
    pinned: Final[tuple[bytes, ...]]  # DER roots whose fingerprint the user pinned
    configure: Final[tuple[str, ...]]  # tools to point at the bundle
    policy_paths: Final[tuple[Path, ...]]  # every one read: the machine's, then a named one
    policy_values: Final[tuple[str, ...]]  # which settings came from the policy, for the report
    verify_targets: Final[tuple[str, ...]]  # URLs the live check tries first
    dry_run: Final[bool]
    environ: Final[Mapping[str, str]]  # a copy of os.environ unless given
    now: Final[dt.datetime | None]  # tests pin the clock; None means now
    run_key: Final[str | None]  # the CLI's key (quick.run_key), shared with the quick path
    arguments: Final[tuple[str, ...] | None]  # the CLI's build arguments, for the record

    def __init__(
        self,
        *,
        scope: Scope = Scope.USER,
        output: Path | None = None,
        extra_ca: tuple[Path, ...] = (),
        keep_expired: bool = False,
        include_intermediates: bool = False,
        exclude: tuple[str, ...] = (),
        require: tuple[str, ...] = (),
        windows_host: bool = True,
        pinned: tuple[bytes, ...] = (),
        configure: tuple[str, ...] = ("pip",),
        policy_paths: tuple[Path, ...] = (),
        policy_values: tuple[str, ...] = (),
        verify_targets: tuple[str, ...] = (),
        dry_run: bool = False,
        environ: Mapping[str, str] | None = None,
        now: dt.datetime | None = None,
        run_key: str | None = None,
        arguments: tuple[str, ...] | None = None,
    ) -> None:
        self.scope = scope
        self.output = output
        self.extra_ca = extra_ca
        self.keep_expired = keep_expired
        self.include_intermediates = include_intermediates
        self.exclude = exclude
        self.require = require
        self.windows_host = windows_host
        self.pinned = pinned
        self.configure = configure
        self.policy_paths = policy_paths
        self.policy_values = policy_values
        self.verify_targets = verify_targets
        self.dry_run = dry_run
        self.environ = dict(os.environ) if environ is None else environ
        self.now = now
        self.run_key = run_key
        self.arguments = arguments

    @property
    def policy_path(self) -> Path | None:
        """The policy file read last (the named one, if any), for the report."""
        return self.policy_paths[-1] if self.policy_paths else None

    def key(self) -> str:
        """Everything that decides the result, except the files read (the manifest records
        those). The CLI's runs use the key the quick path computes from argv."""
        return self.run_key if self.run_key is not None else self.options_key()

    def options_key(self) -> str:
        """:meth:`key` from the options as resolved (flags, policy, defaults), not as
        spelled: ``--scope user`` and no flag at all, or ``-o F`` and ``--output=F``, give
        one key, so the full CLI finds a run current that the quick path's argv key would
        not (the quick path answers only for the argv it recorded). Spellings with the same
        result count as one: the tools in any order, a fingerprint in any case or with colons,
        the scope's default path named or not. (The order of --extra-ca files stays: it
        orders each root's sources in its header.)"""
        from build_ca_bundle.paths import default_bundle_path

        output = self.output or default_bundle_path(self.scope, environ=self.environ)
        described = {
            "tool": __version__,
            "python": sys.version,
            "prefix": sys.prefix,
            "platform": sys.platform,
            "scope": self.scope.value,
            "output": str(output),
            "extra_ca": [str(path) for path in self.extra_ca],
            "keep_expired": self.keep_expired,
            "include_intermediates": self.include_intermediates,
            "exclude": sorted({fingerprint(value) for value in self.exclude}),
            "require": sorted({fingerprint(value) for value in self.require}),
            "windows_host": self.windows_host,
            "pinned": sorted(hashlib.sha256(der).hexdigest() for der in self.pinned),
            "configure": sorted(set(self.configure)),
            "policy": [str(path) for path in self.policy_paths],
            "environ": relevant_environment(self.environ, tools=self.configure != ("pip",)),
        }
        text = json.dumps(described, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def not_a_tls_target(value: str) -> bool:
    """True for what verify cannot check, on the command line or in a policy's
    verify_targets: an http:// (or other non-https) URL, checked as TLS on port 443 before,
    and an empty one. An https:// URL or HOST[:PORT] is a target."""
    scheme, separator, rest = value.partition("://")
    return (bool(separator) and scheme.lower() != "https") or not (rest if separator else value)


def fingerprint(value: str) -> str:
    """A SHA-256 fingerprint as we compare them: lower-case hex, no colons."""
    return value.strip().lower().replace(":", "")


def sha256_fingerprint(value: str) -> str | None:
    """:func:`fingerprint` of ``value`` if it is a SHA-256 fingerprint; None if it is not,
    so that a typo is refused instead of matching nothing."""
    normal = fingerprint(value)
    is_hex = len(normal) == 64 and all(char in "0123456789abcdef" for char in normal)
    return normal if is_hex else None


# The names `--configure` takes. pip is the default; `env` persists environment variables.
TOOLS = ("pip", "git", "npm", "conda", "uv", "env")
PLANNED_TOOLS: tuple[str, ...] = ()  # tools we will configure, not written yet


def check_tool_names(names: list[str]) -> tuple[str, ...]:
    """Expand "all" and refuse unknown names."""
    expanded: list[str] = []
    for name in (item.strip() for item in names):
        if name == "all":
            expanded.extend(TOOLS)
        elif name in TOOLS:
            expanded.append(name)
        elif name in PLANNED_TOOLS:
            from build_ca_bundle.errors import UsageError

            raise UsageError(
                f"configuring {name} is not implemented yet",
                hint=f"meanwhile, `build-ca-bundle env` prints the variables {name} reads",
            )
        else:
            from build_ca_bundle.errors import UsageError

            raise UsageError(
                f"unknown tool {name!r} for --configure",
                hint="choose from: all, " + ", ".join(TOOLS),
            )
    return tuple(dict.fromkeys(expanded))
