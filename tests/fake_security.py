#!/usr/bin/env python3
"""A stand-in for macOS's /usr/bin/security that prints what Apple's tool prints.

Its answers come from the folder named by FAKE_SECURITY_DATA:
- keychains.json: {"<keychain path>": "<PEM file name>"} for `find-certificate -a -p <kc>`
- list-keychains.txt: the output of `list-keychains -d user`
- admin.plist / user.plist: written to OUT by `trust-settings-export [-d] OUT`; absent means
  the real tool's "No Trust Settings were found" and exit 1
- hang: if present, every call sleeps (to test timeouts)
- calls.log: every argv is appended here
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    data = Path(os.environ["FAKE_SECURITY_DATA"])
    with (data / "calls.log").open("a", encoding="utf-8") as log:
        log.write(" ".join(argv) + "\n")
    if (data / "hang").exists():
        time.sleep(30)
    command = argv[0] if argv else ""
    if command == "find-certificate":
        keychain = argv[-1]
        mapping = json.loads((data / "keychains.json").read_text())
        if keychain not in mapping:
            message = "The specified keychain could not be found."
            sys.stderr.write(f"security: SecKeychainOpen {keychain}: {message}\n")
            return 50
        sys.stdout.buffer.write((data / mapping[keychain]).read_bytes())
        return 0
    if command == "list-keychains":
        sys.stdout.write((data / "list-keychains.txt").read_text())
        return 0
    if command == "trust-settings-export":
        admin = "-d" in argv
        source = data / ("admin.plist" if admin else "user.plist")
        if not source.exists():
            sys.stderr.write(
                "SecTrustSettingsCreateExternalRepresentation: No Trust Settings were found.\n"
            )
            return 1
        shutil.copyfile(source, argv[-1])
        return 0
    sys.stderr.write(f"security: unknown command {command}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
