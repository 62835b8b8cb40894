"""The bundle file: format, atomic replacement, and what happens when writing fails."""

from __future__ import annotations

import errno
import os
import ssl
import stat
import threading
from pathlib import Path

import certifi
import filelock
import pytest

from build_ca_bundle import bundle
from build_ca_bundle.certificates import BUNDLE_MARKER, Entry, SourceKind, parse_der, parse_pem
from build_ca_bundle.errors import BundleError, LockTimeoutError
from tests.pki import make_root


def entries(*names: str) -> list[Entry]:
    return [
        Entry(parse_der(make_root(name).der), ("test",), frozenset({SourceKind.OS}))
        for name in names
    ]


def test_headers_match_certifis_own_format() -> None:
    text = Path(certifi.where()).read_text(encoding="ascii")
    parsed, _ = parse_pem(text.encode(), "certifi")
    for item in parsed[:5]:
        rendered = bundle.render([Entry(item.certificate, ("certifi",), frozenset())]).decode()
        ours = [line for line in rendered.splitlines() if line.startswith("# ") and ":" in line]
        theirs_index = text.index(item.certificate.sha256[:2])  # somewhere after its header
        assert ours[-1] == "# Source: certifi"
        for line in ours:
            if line.startswith(
                ("# Issuer:", "# Subject:", "# Serial:", "# SHA256", "# SHA1", "# MD5")
            ):
                assert line in text, line
        assert theirs_index >= 0


def test_output_is_ascii_deterministic_and_escapes_names() -> None:
    korean = make_root("한국 루트", organization="예시")
    items = [Entry(parse_der(korean.der), ("/etc/ssl/certs\n# injected",), frozenset())]
    first, second = bundle.render(items), bundle.render(items)
    assert first == second
    text = first.decode("ascii")
    assert text.startswith(BUNDLE_MARKER.decode() + "\n")
    assert "\\ud55c\\uad6d" in text  # 한국, escaped and still readable
    assert "\n# injected" not in text  # a newline in a source cannot start a new line


def test_write_is_atomic_mode_0644_and_unchanged_content_is_not_rewritten(
    tmp_path: Path,
) -> None:
    target = tmp_path / "b" / "ca-bundle.pem"
    old_umask = os.umask(0)
    try:
        assert bundle.write(target, bundle.render(entries("One"))).changed
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    before = target.stat()
    same = target.read_bytes()
    mtime = target.stat().st_mtime_ns
    assert not bundle.write(target, same).changed
    assert target.stat().st_mtime_ns == mtime
    assert before.st_mode == target.stat().st_mode
    assert [p.name for p in target.parent.iterdir() if p.name.endswith(".tmp")] == []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(target))


def test_content_that_does_not_load_leaves_the_old_bundle(tmp_path: Path) -> None:
    target = tmp_path / "ca-bundle.pem"
    good = bundle.render(entries("Good"))
    bundle.write(target, good)
    broken = good.replace(b"MI", b"!!", 1)
    with pytest.raises(BundleError, match="does not load"):
        bundle.write(target, broken)
    assert target.read_bytes() == good


def test_disk_full_leaves_the_old_bundle_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ca-bundle.pem"
    good = bundle.render(entries("Old"))
    bundle.write(target, good)

    def full(descriptor: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(BundleError, match="No space left on device") as caught:
        bundle.write(target, bundle.render(entries("New")))
    assert str(target) in str(caught.value)
    assert target.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_file_where_the_folder_should_be(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(BundleError) as caught:
        bundle.write(blocker / "ca-bundle.pem", bundle.render(entries("X")))
    assert str(blocker) in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    with pytest.raises(BundleError):
        bundle.write(folder / "ca-bundle.pem", bundle.render(entries("X")))


def test_stale_temp_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "ca-bundle.pem"
    leftover = tmp_path / ".ca-bundle.pem.0123456789abcdef.tmp"
    leftover.write_text("half a bundle")
    bundle.write(target, bundle.render(entries("X")))
    assert not leftover.exists()


def test_a_stuck_lock_holder_gives_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "ca-bundle.pem"
    holder = filelock.FileLock(str(bundle.lock_path(target)))
    acquired, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder:
            acquired.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    acquired.wait(5)
    try:
        with pytest.raises(LockTimeoutError, match="held"):
            bundle.write(target, bundle.render(entries("X")), lock_timeout=0.2)
    finally:
        release.set()
        thread.join()
    assert not target.exists()
