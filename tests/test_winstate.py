"""The registry state the unchanged-run check watches on Windows (build_ca_bundle.winstate).

A fake ``winreg`` in winreg's own shapes: keys opened by path, ``OpenKey`` raising
``FileNotFoundError`` (winerror 2) for a missing key, ``QueryInfoKey`` returning (subkeys,
values, last write time in 100 ns units). The real thing runs under Wine (tests/test_wine.py).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from build_ca_bundle import manifest, winstate

ROOT = r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\SystemCertificates\ROOT"
USERS_ROOT = r"HKEY_USERS\*\Software\Microsoft\SystemCertificates\ROOT"
THUMBPRINT = "4E654AF1BC4AB20957AE2C30E13026A0C0FFEE00"


@dataclass
class Key:
    written: int = 133_000_000_000_000_000
    values: int = 0
    subkeys: dict[str, Key] = field(default_factory=dict)


class FakeRegistry:
    """Hives of nested keys; a handle is the Key object itself."""

    def __init__(self) -> None:
        self.HKEY_CURRENT_USER = Key()
        self.HKEY_LOCAL_MACHINE = Key()
        self.HKEY_USERS = Key()
        self.open_handles = 0

    def make(self, hive: Key, path: str) -> Key:
        key = hive
        for part in path.split("\\"):
            key = key.subkeys.setdefault(part, Key())
        return key

    def OpenKey(self, key: Key, sub_key: str) -> Key:
        for part in sub_key.split("\\") if sub_key else []:  # "": the key itself
            # Windows compares key names without regard to case.
            found = {name.lower(): child for name, child in key.subkeys.items()}.get(part.lower())
            if found is None:
                raise FileNotFoundError(2, "The system cannot find the file specified")
            key = found
        self.open_handles += 1
        return key

    def QueryInfoKey(self, key: Key) -> tuple[int, int, int]:
        return len(key.subkeys), key.values, key.written

    def EnumKey(self, key: Key, index: int) -> str:
        names = list(key.subkeys)
        if index >= len(names):
            raise OSError(259, "No more data is available")
        return names[index]

    def CloseKey(self, key: Key) -> None:
        self.open_handles -= 1


def machine_with_a_root() -> tuple[FakeRegistry, Key]:
    registry = FakeRegistry()
    store = registry.make(registry.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\SystemCertificates")
    certificate = registry.make(store, rf"ROOT\Certificates\{THUMBPRINT}")
    certificate.values = 1  # the Blob
    registry.make(store, r"ROOT\CRLs")
    registry.make(store, r"My\Certificates\0011")  # a store we do not read
    return registry, certificate


def test_the_same_state_gives_the_same_signature_and_closes_every_key() -> None:
    registry, _ = machine_with_a_root()
    first = winstate.signature(ROOT, registry)
    assert first is not None
    assert winstate.signature(ROOT, registry) == first
    assert registry.open_handles == 0


def test_adding_a_root_changes_the_signature() -> None:
    registry, _ = machine_with_a_root()
    before = winstate.signature(ROOT, registry)
    certificates = registry.OpenKey(registry.HKEY_LOCAL_MACHINE, ROOT.split("\\", 1)[1])
    certificates = certificates.subkeys["Certificates"]
    certificates.subkeys["A1B2"] = Key(values=1)
    certificates.written += 1  # Windows updates the parent's time when a subkey is added
    assert winstate.signature(ROOT, registry) != before


def test_editing_a_roots_usages_changes_the_signature() -> None:
    """certmgr's "Enable only the following purposes" rewrites the Blob value: only the
    certificate's own key gets a new time, not the store's."""
    registry, certificate = machine_with_a_root()
    before = winstate.signature(ROOT, registry)
    certificate.written += 10_000_000
    assert winstate.signature(ROOT, registry) != before


def test_removing_a_root_changes_the_signature() -> None:
    registry, _ = machine_with_a_root()
    before = winstate.signature(ROOT, registry)
    certificates = registry.make(
        registry.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\SystemCertificates\ROOT\Certificates"
    )
    certificates.subkeys.clear()
    assert winstate.signature(ROOT, registry) != before


def test_a_store_that_appears_later_changes_the_signature() -> None:
    """Group policy creates its key on first push: absent, then present, is a change."""
    registry = FakeRegistry()
    policy = r"HKEY_LOCAL_MACHINE\SOFTWARE\Policies\Microsoft\SystemCertificates\ROOT"
    absent = winstate.signature(policy, registry)
    registry.make(
        registry.HKEY_LOCAL_MACHINE,
        rf"SOFTWARE\Policies\Microsoft\SystemCertificates\ROOT\Certificates\{THUMBPRINT}",
    )
    assert winstate.signature(policy, registry) != absent


def test_another_store_changing_leaves_the_signature_alone() -> None:
    registry, _ = machine_with_a_root()
    before = winstate.signature(ROOT, registry)
    registry.make(
        registry.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\SystemCertificates\My\Certificates\FF"
    )
    assert winstate.signature(ROOT, registry) == before


def test_every_loaded_user_hive_is_watched() -> None:
    """CPython's collection includes the USERS location: each hive under HKEY_USERS."""
    registry = FakeRegistry()
    registry.make(registry.HKEY_USERS, r"S-1-5-18\Software\Microsoft\SystemCertificates\ROOT")
    before = winstate.signature(USERS_ROOT, registry)
    hive = registry.make(registry.HKEY_USERS, r"S-1-5-21-1\Software\Microsoft\SystemCertificates")
    after_login = winstate.signature(USERS_ROOT, registry)
    assert after_login != before  # a new hive (another user logged on)
    registry.make(hive, rf"ROOT\Certificates\{THUMBPRINT}")
    assert winstate.signature(USERS_ROOT, registry) != after_login  # a root in that hive


def test_without_a_registry_nothing_is_taken_as_unchanged() -> None:
    """Off Windows (or a hive name we do not know) the signature is None: the manifest check
    treats a None record as changed, so such a run is always a full one."""
    if sys.platform != "win32":
        assert winstate.signature(ROOT) is None  # no winreg here
    assert winstate.signature(r"HKEY_NOWHERE\Software", FakeRegistry()) is None


def test_watched_keys_cover_the_physical_stores_of_root() -> None:
    keys = winstate.watched_keys(["ROOT"])
    assert ROOT in keys
    assert r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\SystemCertificates\AuthRoot" in keys
    assert r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\SystemCertificates\SmartCardRoot" in keys
    assert len(keys) == len(set(keys)) == 3 * 7


@pytest.mark.skipif(sys.platform == "win32", reason="Windows can read the registry")
def test_a_watched_store_that_cannot_be_read_never_counts_as_unchanged(tmp_path: Path) -> None:
    """Through the real manifest: a registry key recorded but unreadable now (None here, off
    Windows) makes the unchanged-run check say the store changed, so the run is a full one."""
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_text("bundle")
    record = manifest.record(
        bundle, key="k", inputs=[], outputs=[], expires=None, certificates=1, registry_keys=[ROOT]
    )
    manifest.write(bundle, record)
    assert manifest.stale_reason(bundle, "k", 0.0) == f"the certificate store {ROOT} changed"
    without = manifest.record(bundle, key="k", inputs=[], outputs=[], expires=None, certificates=1)
    manifest.write(bundle, without)
    assert manifest.stale_reason(bundle, "k", 0.0) is None  # the same run without the store
