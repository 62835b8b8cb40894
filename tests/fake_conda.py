#!/usr/bin/env python3
"""A stand-in for `conda config` that records argv and keeps `ssl_verify` in a .condarc as
conda writes it (`ssl_verify: <value>`). Only the commands our target uses."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    home = Path(os.environ["HOME"])
    (home / "conda-calls.log").open("a").write(" ".join(argv) + "\n")
    condarc = Path(os.environ.get("CONDARC") or home / ".condarc")
    lines = condarc.read_text().splitlines() if condarc.exists() else []
    values = dict(line.split(": ", 1) for line in lines if ": " in line)
    if argv[:2] == ["config", "--show"]:
        print(f"{argv[2]}: {values.get(argv[2], 'True')}")
        return 0
    if argv[:2] == ["config", "--set"]:
        values[argv[2]] = argv[3]
    elif argv[:2] == ["config", "--remove-key"]:
        if argv[2] not in values:
            sys.stderr.write(
                f"CondaKeyError: '{argv[2]}': key '{argv[2]}' is not in the config file\n"
            )
            return 1
        del values[argv[2]]
    else:
        return 2
    condarc.write_text("".join(f"{key}: {value}\n" for key, value in values.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
