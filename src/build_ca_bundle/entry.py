"""The console script and ``python -m``: try the quick unchanged-run answer before importing
the CLI (argparse, pathlib and the rest cost more than the whole check)."""

from __future__ import annotations

import contextlib
import os
import sys


def main() -> int:
    from build_ca_bundle import console

    try:
        from build_ca_bundle import quick

        code = quick.try_unchanged(sys.argv[1:], os.environ)
        if code is None:
            from build_ca_bundle.cli import main as cli_main

            code = cli_main(quick_checked=True)
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


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
