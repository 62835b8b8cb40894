"""The registry state of the Windows certificate stores, for the unchanged-run check.

Windows keeps the system stores that ``ssl.enum_certificates`` reads in the registry: one key
per physical store, a ``Certificates`` subkey under it, and one subkey per certificate
(named by its SHA-1 thumbprint) whose ``Blob`` value holds the certificate and its
properties, the EKU restriction included. A key's last-write time changes when its values
change or a subkey is added or removed, so the names, value counts and last-write times of
those keys, two levels down, change whenever a certificate is added, removed or has its
usages edited. The manifest keeps one digest per watched key; any difference means a full
run.

Standard library only (``winreg``, ``hashlib``): the logon path imports this, and nothing
that parses a certificate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, cast

# The physical stores behind a logical store's name (Microsoft, "System Store Locations"):
# LocalMachine ROOT also shows AuthRoot (roots Windows Update fetched) and SmartCardRoot.
_PHYSICAL = {"ROOT": ("ROOT", "AuthRoot", "SmartCardRoot")}

# The machine's own locations (LOCAL_MACHINE, its group policy, ENTERPRISE): all that a
# build for any scope but "user" reads (sources/crypt32.py).
_MACHINE_LOCATIONS = (
    r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\SystemCertificates",  # Intune, certutil, MDM
    r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\SystemCertificates",  # group policy
    r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\EnterpriseCertificates",  # AD enterprise roots
)
# Where each location of CPython's collection keeps its stores (_ssl.c opens LOCAL_MACHINE,
# LOCAL_MACHINE_ENTERPRISE, LOCAL_MACHINE_GROUP_POLICY, CURRENT_USER,
# CURRENT_USER_GROUP_POLICY, SERVICES and USERS). "*" stands for every subkey there: each
# service, each loaded user hive.
_LOCATIONS = (
    r"HKEY_CURRENT_USER\Software\Microsoft\SystemCertificates",
    r"HKEY_CURRENT_USER\Software\Policies\Microsoft\SystemCertificates",  # user group policy
    *_MACHINE_LOCATIONS,
    r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Cryptography\Services\*\SystemCertificates",
    r"HKEY_USERS\*\Software\Microsoft\SystemCertificates",
)

_DEPTH = 2  # store key -> Certificates (and ProtectedRoots, AutoUpdate) -> one per certificate


class Registry(Protocol):
    """The part of ``winreg`` we use; tests pass a fake with the same shapes."""

    HKEY_CURRENT_USER: Any
    HKEY_LOCAL_MACHINE: Any
    HKEY_USERS: Any

    def OpenKey(self, key: Any, sub_key: str) -> Any: ...
    def QueryInfoKey(self, key: Any) -> tuple[int, int, int]: ...
    def EnumKey(self, key: Any, index: int) -> str: ...
    def CloseKey(self, key: Any) -> None: ...


def watched_keys(stores: Sequence[str], *, machine_only: bool = False) -> list[str]:
    """The registry keys whose state decides what ``enum_certificates`` (or, with
    ``machine_only``, the machine's own locations) returns for ``stores`` (``ROOT``,
    ``Disallowed``, ``CA``)."""
    locations = _MACHINE_LOCATIONS if machine_only else _LOCATIONS
    return [
        f"{location}\\{physical}"
        for store in stores
        for physical in _PHYSICAL.get(store.upper(), (store,))
        for location in locations
    ]


def signature(key: str, registry: Registry | None = None) -> str | None:
    """A digest of ``key``'s tree as watched, or None where the registry cannot be read
    (not Windows): a watched key that cannot be read is never taken as unchanged."""
    registry = registry or _winreg()
    if registry is None:
        return None
    hive_name, _, path = key.partition("\\")
    hive = getattr(registry, hive_name, None)
    if hive is None:
        return None
    digest = hashlib.sha256()
    for line in _walk(registry, hive, path.split("\\")):
        digest.update(line.encode("utf-8", "surrogatepass") + b"\n")
    return digest.hexdigest()


def _winreg() -> Registry | None:
    try:
        import winreg
    except ImportError:
        return None
    return cast(Registry, winreg)


def _walk(registry: Registry, hive: Any, parts: list[str]) -> Iterator[str]:
    """Lines describing the tree: a wildcard's subkey names, then each key reached."""
    if "*" in parts:
        star = parts.index("*")
        parent = "\\".join(parts[:star])
        key = _read_key(registry, hive, parent)
        names = key[0] if isinstance(key, tuple) else []
        yield f"{parent}\\* = {names!r}"
        for name in names:
            yield from _walk(registry, hive, [*parts[:star], name, *parts[star + 1 :]])
        return
    yield from _tree(registry, hive, "\\".join(parts), _DEPTH)


def _tree(registry: Registry, hive: Any, path: str, depth: int) -> Iterator[str]:
    key = _read_key(registry, hive, path)
    if isinstance(key, str):
        yield f"{path}: {key}"
        return
    names, values, written = key
    yield f"{path}: {len(names)} {values} {written}"
    for name in names if depth else []:
        yield from _tree(registry, hive, f"{path}\\{name}", depth - 1)


def _read_key(registry: Registry, hive: Any, path: str) -> tuple[list[str], int, int] | str:
    """(sorted subkey names, value count, last write time), or why not: absent, unreadable."""
    try:
        handle = registry.OpenKey(hive, path)
    except OSError:
        return "absent"
    try:
        subkeys, values, written = registry.QueryInfoKey(handle)
        return sorted(registry.EnumKey(handle, index) for index in range(subkeys)), values, written
    except OSError:
        return "unreadable"
    finally:
        registry.CloseKey(handle)
