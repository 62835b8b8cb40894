"""The console script and ``python -m``: try the quick unchanged-run answer before importing
the CLI (argparse, pathlib and the rest cost more than the whole check)."""

from __future__ import annotations

import contextlib
import os
import sys


def main() -> int:
    from build_ca_bundle import console

    _hold_closed_standard_streams()
    try:
        from build_ca_bundle import quick

        try:
            code = quick.try_unchanged(sys.argv[1:], os.environ)
            if code is None:
                from build_ca_bundle.cli import main as cli_main

                code = cli_main(quick_checked=True)
        except SystemExit as leaving:  # argparse's: a usage error, --help, --version
            given = 0 if leaving.code is None else leaving.code
            code = given if isinstance(given, int) else 1  # sys.exit("message"): a failure
        console.flush()  # here, not at exit: a failure then is exit 120 and a traceback
    except KeyboardInterrupt:
        # Ctrl-C: every file is replaced whole or not at all, so there is nothing to tell
        # but that; the shell's convention for SIGINT is 128 + 2.
        with contextlib.suppress(OSError):
            print("build-ca-bundle: interrupted; no file was left half-written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`build-ca-bundle --json | head`): not our failure, and no
        # traceback. Python's recipe: point stdout at devnull so the exit flush is quiet.
        _silence_stdout()
        return 1
    except console.OutputError as failure:
        # A log file on a full disk: the run did its work, only its report is lost. Said
        # once, where it may still be read; no traceback.
        _silence_stdout()
        with contextlib.suppress(OSError):
            print(
                f"build-ca-bundle: cannot write its output ({failure}); the run itself is done",
                file=sys.stderr,
            )
        return 1
    return code


def _hold_closed_standard_streams() -> None:
    """A launcher that closed stdin, stdout or stderr (``>&-``): the next file opened would
    get that descriptor, and a tool we run (git, npm) would write its output into it, a
    bundle's temp file say. Each closed one is held open on the null device instead, and
    Python, which made no stream for it (``sys.stdout`` None: --json crashed with a
    traceback), writes there: what was closed is not wanted, and the exit code still says."""
    for descriptor, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(descriptor)
        except OSError:
            with contextlib.suppress(OSError):
                os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
        if getattr(sys, name) is None:
            with contextlib.suppress(OSError):
                mode = "r" if descriptor == 0 else "w"
                # open(), not Path.open(): pathlib is not imported on the unchanged run.
                stream = open(os.devnull, mode, encoding="utf-8")  # noqa: PTH123, SIM115
                setattr(sys, name, stream)


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
