#!/usr/bin/env python3
"""A stand-in for macOS's /usr/bin/security that prints what Apple's tool prints.

Run as ``python fake_security.py <security arguments>``. Its answers come from the folder
named by FAKE_SECURITY_DATA:
- keychains.json: {"<keychain path>": ["<DER file name>", ...]} for `find-certificate -a -p`;
  a keychain not listed fails as a missing keychain does;
- list-keychains.txt: what `list-keychains -d user` prints on stdout;
- admin.plist, user.plist: what `trust-settings-export -d OUT` / `trust-settings-export OUT`
  write to OUT; absent means the domain has no trust settings;
- fail.json: {"<arguments, without OUT>": [exit code, "stderr line"]} to make one call fail;
- hang: if present, every call sleeps (to test timeouts);
- calls.log: every call's arguments are appended here.

The shapes follow Apple's security tool sources (keychain_find.c, keychain_list.c,
trust_settings_impexp.c, keychain_utilities.c ``print_buffer_pem``).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path

# cssmPerror("SecTrustSettingsCreateExternalRepresentation", errSecNoTrustSettings), exit 1.
NO_SETTINGS = "SecTrustSettingsCreateExternalRepresentation: No Trust Settings were found.\n"
EXPORTED = "...Trust Settings exported successfully.\n"  # stdout, unless -q
# A keychain path that does not exist: errSecNoSuchKeychain (-25294), whose low byte is the
# exit status. The exact function name in the message is not verified.
NO_KEYCHAIN = "security: SecKeychainSearchCopyNext: The specified keychain could not be found.\n"
NO_KEYCHAIN_EXIT = 50


def pem(der: bytes) -> bytes:
    """print_buffer_pem: BEGIN line, base64 in 64-column lines, END line, no blank line."""
    encoded = base64.b64encode(der).decode("ascii")
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    text = "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"
    return text.encode("ascii")


def find_certificate(data: Path, keychain: str) -> int:
    keychains: dict[str, list[str]] = json.loads((data / "keychains.json").read_text())
    if keychain not in keychains:
        sys.stderr.write(NO_KEYCHAIN)
        return NO_KEYCHAIN_EXIT
    for name in keychains[keychain]:
        sys.stdout.buffer.write(pem((data / name).read_bytes()))
    return 0  # an empty keychain: no output, exit 0 (errSecItemNotFound ends the -a loop)


def trust_settings_export(data: Path, argv: list[str]) -> int:
    source = data / ("admin.plist" if "-d" in argv else "user.plist")
    if not source.exists():
        sys.stderr.write(NO_SETTINGS)
        return 1
    Path(argv[-1]).write_bytes(source.read_bytes())
    sys.stdout.write(EXPORTED)
    return 0


def main(argv: list[str]) -> int:
    data = Path(os.environ["FAKE_SECURITY_DATA"])
    with (data / "calls.log").open("a", encoding="utf-8") as log:
        log.write(" ".join(argv) + "\n")
    if (data / "hang").exists():
        time.sleep(30)
    command = argv[0] if argv else ""
    key = " ".join(argv[:-1] if command == "trust-settings-export" else argv)
    failures = data / "fail.json"
    if failures.exists() and key in (planned := json.loads(failures.read_text())):
        code, message = planned[key]
        sys.stderr.write(message + "\n")
        return int(code)
    if command == "find-certificate":
        return find_certificate(data, argv[-1])
    if command == "list-keychains":
        sys.stdout.write((data / "list-keychains.txt").read_text())
        return 0
    if command == "trust-settings-export":
        return trust_settings_export(data, argv)
    sys.stderr.write(f"security: unknown command {command!r}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
