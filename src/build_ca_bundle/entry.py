"""The console script and ``python -m``: try the quick unchanged-run answer before importing
the CLI (argparse, pathlib and the rest cost more than the whole check)."""

from __future__ import annotations

import os
import sys


def main() -> int:
    try:
        from build_ca_bundle import quick

        code = quick.try_unchanged(sys.argv[1:], os.environ)
        if code is not None:
            return code
        from build_ca_bundle.cli import main as cli_main

        return cli_main(quick_checked=True)
    except BrokenPipeError:
        # The reader went away (`build-ca-bundle --json | head`): not our failure, and no
        # traceback. Python's recipe: point stdout at devnull so the exit flush is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
