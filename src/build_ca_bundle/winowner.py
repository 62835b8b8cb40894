"""Who owns a file on Windows, for the machine policy's check (:mod:`build_ca_bundle.bundle`).

``%ProgramData%`` lets every user create folders and files in it (Users: create files and
folders, inherited by subfolders; CREATOR OWNER: full control of what one creates). A
``build-ca-bundle\\policy.toml`` a standard user made there first would decide what every
account trusts. What IT deploys (an elevated administrator, group policy, Intune, an
installer) is owned by Administrators, SYSTEM or TrustedInstaller; what a user made is owned
by that user. The owner is read with ``GetNamedSecurityInfoW`` through ``ctypes``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Owners whose files only administrators could have made (well-known SIDs).
MACHINE_OWNERS = {
    "S-1-5-32-544": "Administrators",
    "S-1-5-18": "SYSTEM",
    "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464": "TrustedInstaller",
}

_SE_FILE_OBJECT = 1
_OWNER_SECURITY_INFORMATION = 0x1


def owner_sid(path: Path) -> str | None:
    """The owner's SID of ``path`` as a string; None where it cannot be read (off Windows,
    a file not there, an API error)."""
    if sys.platform != "win32":
        return None
    else:  # noqa: RET505 - mypy checks each platform's branch only under its own platform
        import ctypes
        from ctypes import wintypes

        advapi = ctypes.WinDLL("advapi32", use_last_error=True)
        kernel = ctypes.WinDLL("kernel32", use_last_error=True)
        sid, descriptor = ctypes.c_void_p(), ctypes.c_void_p()
        status = advapi.GetNamedSecurityInfoW(
            ctypes.c_wchar_p(str(path)),
            _SE_FILE_OBJECT,
            _OWNER_SECURITY_INFORMATION,
            ctypes.byref(sid),
            None,
            None,
            None,
            ctypes.byref(descriptor),
        )
        if status != 0:
            return None
        text = wintypes.LPWSTR()
        try:
            if not advapi.ConvertSidToStringSidW(sid, ctypes.byref(text)):
                return None
            return str(text.value)
        finally:
            kernel.LocalFree(text)
            kernel.LocalFree(descriptor)
