"""Exceptions and exit codes.

Every failure we foresee is a :class:`BuildCABundleError`. Its message says what failed and
where; ``hint`` says what to do. The CLI catches only this base class, prints ``error:`` and
``hint:`` lines and exits with the error's code, so no traceback reaches a user for a failure
we expected.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes. Documented in the README as a stable interface."""

    OK = 0
    FAILURE = 1  # an unexpected internal error
    USAGE = 2  # argparse's own code for bad arguments
    CONFIG = 3  # a config file could not be read, parsed or written
    NO_CERTIFICATES = 4  # nothing usable to write: refuse rather than write a bad bundle
    BUNDLE = 5  # the bundle could not be written or did not load
    VERIFY_FAILED = 6  # the live TLS check failed with a certificate error
    OFFLINE = 7  # the live TLS check could not reach the server or the proxy
    REQUIRED_MISSING = 8  # a required root is not in the result: nothing was changed
    PIN_MISMATCH = 9  # --from-server: the presented root does not match --pin
    STALE = 10  # --check: the bundle or the pip setting is not current
    LOCKED = 11  # another run held the lock for too long
    FINDINGS = 12  # doctor found something insecure or broken
    NOT_APPLIED = 13  # done, but a setting that beats ours keeps a tool from the bundle


class BuildCABundleError(Exception):
    """Base class of every failure the tool foresees."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(BuildCABundleError):
    """A flag's value makes no sense (an unknown tool name): argparse's exit code."""

    exit_code = ExitCode.USAGE


class ConfigError(BuildCABundleError):
    """A tool's config file could not be read, parsed or written. It was left as it was."""

    exit_code = ExitCode.CONFIG


class NoCertificatesError(BuildCABundleError):
    """The sources yielded nothing worth writing."""

    exit_code = ExitCode.NO_CERTIFICATES


class BundleError(BuildCABundleError):
    """The bundle could not be written, or the new one did not load; the old one is kept."""

    exit_code = ExitCode.BUNDLE


class UnloadableCertificatesError(BundleError):
    """Python's ssl refuses some certificates of a new bundle; the rest loads."""

    def __init__(self, message: str, *, sha256s: frozenset[str], reason: str) -> None:
        super().__init__(message)
        self.sha256s = sha256s
        self.reason = reason


class LockTimeoutError(BuildCABundleError):
    """Another run held the bundle's lock for longer than we wait."""

    exit_code = ExitCode.LOCKED


class UnsafePathError(BuildCABundleError):
    """A machine-wide path could be replaced by an ordinary user."""

    exit_code = ExitCode.BUNDLE


class RequiredRootMissingError(BuildCABundleError):
    """A root the user or policy requires is not in the result; nothing was changed."""

    exit_code = ExitCode.REQUIRED_MISSING


class PolicyError(BuildCABundleError):
    """The IT policy file could not be read or holds something we do not understand."""

    exit_code = ExitCode.CONFIG


class PinMismatchError(BuildCABundleError):
    """--from-server: what the server presents is not what the user pinned."""

    exit_code = ExitCode.PIN_MISMATCH


class OfflineError(BuildCABundleError):
    """A server or the proxy could not be reached: a network problem, not a trust one."""

    exit_code = ExitCode.OFFLINE
