"""The bundle file: its format, where it goes, atomic replacement, and failures while writing."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

import certifi
import platformdirs
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from build_ca_bundle import bundle, openssl
from build_ca_bundle.certificates import (
    BUNDLE_MARKER,
    Certificate,
    Entry,
    SourceKind,
    parse_der,
    parse_pem,
)
from build_ca_bundle.errors import BundleError, ExitCode, LockTimeoutError, UnsafePathError
from build_ca_bundle.scope import Scope
from tests.pki import DAY, NOW, Issued, make_root, refused_by_openssl

# Windows keeps permissions in ACLs; its mode bits only say read-only or not.
posix_modes = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")

CERTIFI_PEM = Path(certifi.where()).read_text(encoding="ascii")
# One certifi block: its comment header, then its PEM block.
CERTIFI_BLOCK = re.compile(
    r"((?:# [^\n]*\n)+)(-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n)", re.S
)


def entry(certificate: Certificate, *origins: str) -> Entry:
    return Entry(certificate, origins or ("test",), frozenset({SourceKind.OS}))


def entries(*names: str) -> list[Entry]:
    return [entry(parse_der(make_root(name).der)) for name in names]


def certifi_blocks() -> list[tuple[list[str], Certificate]]:
    """certifi's own header lines for each of its certificates."""
    blocks = []
    for header, pem in CERTIFI_BLOCK.findall(CERTIFI_PEM):
        (parsed,), _ = parse_pem(pem.encode("ascii"), "certifi")
        blocks.append((header.splitlines(), parsed.certificate))
    return blocks


def header_lines(content: bytes) -> list[str]:
    """The comment lines of the one certificate in a rendered bundle."""
    text = content.decode("ascii")
    before_pem = text[: text.index("-----BEGIN CERTIFICATE-----")]
    return before_pem.split("\n\n")[-1].splitlines()


def root_named(name: x509.Name) -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(4242)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return parse_der(cert.public_bytes(serialization.Encoding.DER))


def temp_files(folder: Path) -> list[str]:
    return sorted(item.name for item in folder.iterdir() if item.name.endswith(".tmp"))


def loads(content: bytes) -> int:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=content.decode("ascii"))
    return len(context.get_ca_certs())


# --- the format -----------------------------------------------------------------------------


def test_issuer_subject_serial_and_fingerprints_are_certifis_own_lines() -> None:
    blocks = certifi_blocks()
    assert len(blocks) > 100  # the whole of certifi's bundle, not a sample
    for theirs, certificate in blocks:
        ours = header_lines(bundle.render([entry(certificate, "certifi")]))
        assert [line for line in ours if not line.startswith("# Label:")] == [
            *(line for line in theirs if not line.startswith("# Label:")),
            "# Source: certifi",
        ]


def test_labels_match_certifi_except_where_mozilla_chose_another_name() -> None:
    """certifi's label is Mozilla's nickname from certdata.txt, which the certificate does not
    carry; ours is the subject's CN (else OU, else O). Mozilla mostly uses the CN, so most
    labels agree, and where they agree the escaping of non-ASCII letters agrees too."""
    blocks = certifi_blocks()
    same = 0
    matched_non_ascii = False
    for theirs, certificate in blocks:
        their_label = next(line for line in theirs if line.startswith("# Label:"))
        our_label = header_lines(bundle.render([entry(certificate)]))[2]
        assert re.fullmatch(r'# Label: "[ -~]+"', our_label)
        if our_label == their_label:
            same += 1
            matched_non_ascii = matched_non_ascii or "\\" in their_label
    assert same >= 0.9 * len(blocks)
    assert matched_non_ascii  # e.g. NetLock Arany (Class Gold) F\u0151tan\xfas\xedtv\xe1ny


def test_layout_marker_comment_block_then_one_block_per_certificate() -> None:
    items = entries("Alpha Root", "Beta Root", "Gamma Root")
    items[1] = entry(items[1].certificate, "/etc/ssl/certs/ca-certificates.crt", "certifi")
    content = bundle.render(items)
    text = content.decode("ascii")
    assert b"\r" not in content
    assert text.startswith(BUNDLE_MARKER.decode("ascii") + "\n# ")
    top = text.split("\n\n")[0]
    assert "Do not edit: the next run of build-ca-bundle replaces this file." in top
    assert "# Certificates: 3" in top.splitlines()
    assert "# Source: /etc/ssl/certs/ca-certificates.crt, certifi\n" in text
    assert text.endswith("-----END CERTIFICATE-----\n\n")
    blocks = text.split("\n\n")[1:-1]
    assert len(blocks) == 3
    for block in blocks:
        lines = block.splitlines()
        assert [line.split(":")[0] for line in lines[:8]] == [
            "# Issuer",
            "# Subject",
            "# Label",
            "# Serial",
            "# MD5 Fingerprint",
            "# SHA1 Fingerprint",
            "# SHA256 Fingerprint",
            "# Source",
        ]
        assert lines[8] == "-----BEGIN CERTIFICATE-----"
        assert all(len(line) == 64 for line in lines[9:-2])
        assert 0 < len(lines[-2]) <= 64
    parsed, problems = parse_pem(content, "bundle")
    assert problems == []
    assert [item.certificate for item in parsed] == [item.certificate for item in items]
    assert loads(content) == 3


def test_same_entries_give_the_same_bytes() -> None:
    root = make_root("Deterministic Root")
    first = bundle.render([entry(parse_der(root.der), "a", "b")])
    parse_der.cache_clear()  # a freshly parsed certificate, as in the next run
    again = bundle.render([entry(parse_der(root.der), "a", "b")])
    assert first == again
    assert bundle.render([]) == bundle.render([])


def test_korean_names_and_paths_are_escaped_readably_and_the_file_is_ascii() -> None:
    korean = parse_der(make_root("한국 루트", organization="예시").der)
    content = bundle.render([entry(korean, "C:\\Users\\김철수\\corp.pem")])
    content.decode("ascii")  # pure ASCII, so ssl's cadata= and every editor accept it
    lines = header_lines(content)
    assert lines[0] == "# Issuer: CN=\\ud55c\\uad6d \\ub8e8\\ud2b8 O=\\uc608\\uc2dc"
    assert lines[1] == "# Subject: CN=\\ud55c\\uad6d \\ub8e8\\ud2b8 O=\\uc608\\uc2dc"
    assert lines[2] == '# Label: "\\ud55c\\uad6d \\ub8e8\\ud2b8"'
    assert lines[7] == "# Source: C:\\Users\\\\uae40\\ucca0\\uc218\\corp.pem"
    assert loads(content) == 1


def test_newlines_and_control_characters_cannot_break_the_comment_structure() -> None:
    hostile = "Evil\n# Label: forged\r\x1b[31m\x7f\u2028end"
    cert = parse_der(make_root(hostile, organization="Org\nOU=x").der)
    content = bundle.render([entry(cert, "/tmp/a\nb.pem")])
    text = content.decode("ascii")
    for line in text.splitlines():
        assert line == "" or line.startswith(("# ", "-----")) or re.fullmatch(r"[\w+/=]+", line)
    lines = header_lines(content)
    assert len(lines) == 8
    escaped = "Evil\\n# Label: forged\\r\\x1b[31m\\x7f\\u2028end"
    assert lines[1] == f"# Subject: CN={escaped} O=Org\\nOU=x"
    assert lines[2] == f'# Label: "{escaped}"'
    assert lines[7] == "# Source: /tmp/a\\nb.pem"
    assert loads(content) == 1


def test_a_name_without_cn_o_or_ou_is_shown_in_full() -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "corp"),
            x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example"),
        ]
    )
    lines = header_lines(bundle.render([entry(root_named(name))]))
    assert lines[1] == "# Subject: DC=example,DC=corp"


# --- a real TLS handshake against the written bundle ------------------------------------


@contextlib.contextmanager
def tls_server(leaf: Issued, folder: Path) -> Iterator[int]:
    """An HTTPS-less TLS server on 127.0.0.1 that says hello to each client; yields its port."""
    chain, key = leaf.write_server_files(folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.05)

        def serve() -> None:
            while not stop.is_set():
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                with connection, contextlib.suppress(OSError):  # ssl.SSLError is an OSError
                    connection.settimeout(5)
                    with context.wrap_socket(connection, server_side=True) as tls:
                        tls.sendall(b"hello")

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            yield listener.getsockname()[1]
        finally:
            stop.set()
            thread.join()


def greeting(cafile: Path, port: int) -> bytes:
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        return tls.recv(5)


def test_a_client_trusting_the_written_bundle_verifies_a_server_of_the_corporate_root(
    tmp_path: Path,
) -> None:
    corporate = make_root("Example Corp TLS Inspection Root")
    certifi_part = [entry(certificate, "certifi") for _, certificate in certifi_blocks()[:5]]
    content = bundle.render([*certifi_part, entry(parse_der(corporate.der), "ROOT")])
    target = tmp_path / "out" / "ca-bundle.pem"
    assert bundle.write(target, content).changed

    with tls_server(corporate.issue("proxy.example"), tmp_path / "server") as port:
        with pytest.raises(ssl.SSLCertVerificationError):
            greeting(Path(certifi.where()), port)  # certifi alone: the situation we fix
        assert greeting(target, port) == b"hello"


# --- where ----------------------------------------------------------------------------------


def test_user_scope_and_no_scope_use_platformdirs_user_data_folder() -> None:
    expected = Path(platformdirs.user_data_dir("build-ca-bundle", appauthor=False))
    assert bundle.default_path(Scope.USER) == expected / "ca-bundle.pem"
    assert bundle.default_path(Scope.NONE) == expected / "ca-bundle.pem"


def test_site_scope_lives_in_the_running_environment() -> None:
    path = bundle.default_path(Scope.SITE)
    assert path == Path(sys.prefix, "share", "build-ca-bundle", "ca-bundle.pem")


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {}, PurePosixPath("/etc/build-ca-bundle/ca-bundle.pem")),
        ("freebsd14", {}, PurePosixPath("/etc/build-ca-bundle/ca-bundle.pem")),
        (
            "darwin",
            {},
            PurePosixPath("/Library/Application Support/build-ca-bundle/ca-bundle.pem"),
        ),
        ("win32", {}, PureWindowsPath("C:/ProgramData/build-ca-bundle/ca-bundle.pem")),
        (
            "win32",
            {"PROGRAMDATA": "D:\\Data"},
            PureWindowsPath("D:/Data/build-ca-bundle/ca-bundle.pem"),
        ),
    ],
)
def test_global_scope_is_an_admin_only_machine_folder(
    platform: str, environ: dict[str, str], expected: PurePath
) -> None:
    path = bundle.default_path(Scope.GLOBAL, platform, environ)
    assert type(expected)(path) == expected


_ROOTS_FILE = Path("/etc/os-release")  # root's, 0644, in root's /etc: on every Linux


@pytest.mark.skipif(sys.platform == "win32" or not _ROOTS_FILE.exists(), reason="POSIX owners")
def test_a_machine_wide_run_relies_only_on_files_root_alone_can_change(tmp_path: Path) -> None:
    bundle.check_machine_file(_ROOTS_FILE, "the extra CA file")  # root's: fine
    # Under /tmp (1777): anyone may put a file there first, or swap a link.
    mine = tmp_path / "corp.pem"
    mine.write_bytes(b"x")
    with pytest.raises(UnsafePathError, match="can be changed by users other than root") as bad:
        bundle.check_machine_file(mine, "the extra CA file")
    assert bad.value.exit_code is ExitCode.BUNDLE
    # A link to root's file, in a folder others can write: they can point it elsewhere.
    link = tmp_path / "pip.conf"
    link.symlink_to(_ROOTS_FILE)
    with pytest.raises(UnsafePathError, match=f"a link to {_ROOTS_FILE.resolve()}"):
        bundle.check_machine_file(link, "the machine-wide pip config")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="lchown to another account needs root"
)
def test_a_link_that_passes_through_another_accounts_link_is_refused(tmp_path: Path) -> None:
    """/etc/corp.pem -> ~user/hop -> /etc/real.pem: the path as given and where it ends are
    root's, but the user can turn their hop to their own file between two runs."""
    roots = tmp_path / "roots"
    theirs = tmp_path / "theirs"
    for folder in (roots, theirs):
        folder.mkdir(mode=0o755)
    (roots / "real.pem").write_bytes(b"x")
    (theirs / "hop").symlink_to(roots / "real.pem")
    (roots / "corp.pem").symlink_to(theirs / "hop")
    bundle.check_root_file(roots / "corp.pem", "the extra CA file")  # all root's: fine
    os.chown(theirs, 65534, 65534)
    os.lchown(theirs / "hop", 65534, 65534)
    with pytest.raises(UnsafePathError, match=f"{theirs} is not owned by root"):
        bundle.check_root_file(roots / "corp.pem", "the extra CA file")


# --- writing --------------------------------------------------------------------------------


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


@posix_modes
@pytest.mark.parametrize("mask", [0o000, 0o077])
def test_new_bundle_and_new_folders_are_readable_by_all_writable_by_owner_only(
    tmp_path: Path, mask: int
) -> None:
    target = tmp_path / "a" / "b" / "ca-bundle.pem"
    content = bundle.render(entries("One"))
    with umask(mask):
        result = bundle.write(target, content)
    assert result == bundle.WriteResult(target, changed=True, proof=bundle.proof(content))
    assert target.read_bytes() == content
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    for folder in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert temp_files(target.parent) == []


def test_unchanged_content_is_not_rewritten_and_new_content_replaces_the_file(
    tmp_path: Path,
) -> None:
    target = tmp_path / "ca-bundle.pem"
    first = bundle.render(entries("First"))
    bundle.write(target, first)
    old_time = time.time() - 3600  # an mtime a rewrite could not keep by chance
    os.utime(target, (old_time, old_time))
    before = target.stat()

    assert bundle.write(target, first) == bundle.WriteResult(target, changed=False)
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    second = bundle.render(entries("Second"))
    assert bundle.write(target, second).changed
    assert target.read_bytes() == second
    assert target.stat().st_ino != before.st_ino  # a new file renamed over, never rewritten
    assert temp_files(tmp_path) == []


@posix_modes
def test_unchanged_but_world_writable_bundle_is_made_safe_without_rewriting(
    tmp_path: Path,
) -> None:
    target = tmp_path / "ca-bundle.pem"
    content = bundle.render(entries("Root"))
    bundle.write(target, content)
    target.chmod(0o666)
    mtime = target.stat().st_mtime_ns
    assert not bundle.write(target, content).changed
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda good: good.replace(b"MI", b"!!", 1), id="corrupt-base64"),
        pytest.param(lambda good: b"", id="empty"),
        pytest.param(lambda good: bundle.render([]), id="no-certificate"),
        pytest.param(lambda good: good.replace(b"# Do", "# Dö".encode()), id="not-ascii"),
    ],
)
def test_content_that_does_not_load_leaves_the_old_bundle(
    tmp_path: Path, bad: Callable[[bytes], bytes]
) -> None:
    target = tmp_path / "ca-bundle.pem"
    good = bundle.render(entries("Good"))
    bundle.write(target, good)
    with pytest.raises(BundleError, match="does not load") as caught:
        bundle.write(target, bad(good))
    assert str(target) in str(caught.value)
    assert caught.value.exit_code is ExitCode.BUNDLE
    assert target.read_bytes() == good
    assert temp_files(tmp_path) == []


def fail_with(error: int) -> Callable[..., object]:
    def fail(*args: object) -> object:
        raise OSError(error, os.strerror(error))

    return fail


@pytest.mark.parametrize(
    ("owner", "attribute", "error"),
    [
        (os, "write", errno.ENOSPC),  # disk full halfway through
        (os, "fsync", errno.EIO),  # the disk gave up while syncing
        (Path, "replace", errno.EROFS),  # remounted read-only before the rename
    ],
)
def test_a_failing_write_leaves_the_old_bundle_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, owner: object, attribute: str, error: int
) -> None:
    target = tmp_path / "ca-bundle.pem"
    old = bundle.render(entries("Old"))
    bundle.write(target, old)
    monkeypatch.setattr(owner, attribute, fail_with(error))
    with pytest.raises(BundleError) as caught:
        bundle.write(target, bundle.render(entries("New")))
    assert str(target) in str(caught.value)
    assert os.strerror(error) in str(caught.value)
    assert "previous bundle is unchanged" in str(caught.value)
    monkeypatch.undo()
    assert target.read_bytes() == old
    assert temp_files(tmp_path) == []


def test_a_sharing_violation_on_windows_is_waited_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows cannot replace a file pip has open; the rename succeeds once pip closes it."""
    target = tmp_path / "ca-bundle.pem"
    bundle.write(target, bundle.render(entries("Old")))
    real_replace = Path.replace
    refusals = [PermissionError(errno.EACCES, "in use")] * 2

    def replace_when_closed(self: Path, target: Path) -> Path:
        if refusals:
            raise refusals.pop()
        return real_replace(self, target)

    monkeypatch.setattr(bundle, "_REPLACE_ATTEMPTS", 3)
    monkeypatch.setattr(bundle, "_REPLACE_PAUSE", 0.0)
    monkeypatch.setattr(Path, "replace", replace_when_closed)
    new = bundle.render(entries("New"))
    assert bundle.write(target, new).changed
    assert target.read_bytes() == new


@pytest.mark.parametrize("depth", ["folder", "grandparent"])
def test_a_file_where_a_folder_should_be_is_named(tmp_path: Path, depth: str) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    target = blocker / "ca-bundle.pem" if depth == "folder" else blocker / "sub" / "ca-bundle.pem"
    with pytest.raises(BundleError, match="is a file, not a folder") as caught:
        bundle.write(target, bundle.render(entries("X")))
    assert str(blocker) in str(caught.value)
    assert caught.value.hint
    assert blocker.read_text() == "x"


def test_stale_temp_files_of_a_killed_run_are_removed_and_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "ca-bundle.pem"
    ours = tmp_path / ".ca-bundle.pem.0123456789abcdef.tmp"
    kept = [
        tmp_path / ".extra-roots.pem.0123456789abcdef.tmp",  # another bundle's
        tmp_path / ".ca-bundle.pem.x.0123456789abcdef.tmp",  # the bundle "ca-bundle.pem.x"
        tmp_path / ".ca-bundle.pem.notes.tmp",  # not a name we make
    ]
    for item in [ours, *kept]:
        item.write_text("half a bundle")
    bundle.write(target, bundle.render(entries("X")))
    assert not ours.exists()
    assert all(item.exists() for item in kept)


_HOLDER = """
import sys, time
from build_ca_bundle import lock
with lock.hold(sys.argv[1], 5):
    print("held", flush=True)
    time.sleep(60)
"""


def _start_holder(lock_file: Path) -> subprocess.Popen[str]:
    """Another process that takes the lock and then hangs, as a stuck logon would."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(lock_file)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def _end(holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.communicate()


def test_a_stuck_lock_holder_gives_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "ca-bundle.pem"
    holder = _start_holder(bundle.lock_path(target))
    try:
        started = time.monotonic()
        with pytest.raises(LockTimeoutError) as caught:
            bundle.write(target, bundle.render(entries("X")), lock_timeout=0.3)
        assert 0.25 < time.monotonic() - started < 5
    finally:
        _end(holder)
    assert str(tmp_path / "ca-bundle.pem.lock") in str(caught.value)
    assert caught.value.hint and "end it" in caught.value.hint
    assert caught.value.exit_code is ExitCode.LOCKED
    assert not target.exists()


def test_a_killed_lock_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    """A logon killed while it held the lock (SIGKILL, power off) does not block the next."""
    target = tmp_path / "ca-bundle.pem"
    _end(_start_holder(bundle.lock_path(target)))
    assert bundle.lock_path(target).exists()  # the file stays; the kernel dropped the lock
    assert bundle.write(target, bundle.render(entries("X")), lock_timeout=1).changed


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes; Windows locks by ACL")
def test_only_the_owner_can_open_a_lock_file(tmp_path: Path) -> None:
    """flock works on a read-only descriptor: with a 0644 lock file, any user could hold
    the machine-wide lock and make every rebuild fail after two minutes (exit 11)."""
    target = tmp_path / "ca-bundle.pem"
    old_lock = bundle.lock_path(target)
    old_lock.touch(mode=0o644)  # made by an earlier version
    old_lock.chmod(0o644)
    with bundle.run_lock(target):
        bundle.write(target, bundle.render(entries("X")))
    for lock_file in tmp_path.glob("*.lock"):
        assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600, lock_file


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="another owner needs root")
def test_checks_made_once_for_a_batch_still_refuse_each_unsafe_path(tmp_path: Path) -> None:
    """The root checks look at a folder once per batch (a hashed store of 4,000 files as
    root cost a second): what passed one rule still meets the stricter one, and a file in
    another account's folder is refused after a good one."""
    tmp_path.chmod(0o755)
    safe = tmp_path / "safe"
    safe.mkdir()
    (safe / "a.pem").write_text("a")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "b.pem").write_text("b")
    os.chown(theirs, 65534, 65534)
    shared = tmp_path / "shared"  # like /tmp: root's files there are root's, for root only
    shared.mkdir()
    shared.chmod(0o1777)
    (shared / "c.pem").write_text("c")
    with bundle.checking_once():
        bundle.check_root_file(safe / "a.pem", "the store")
        with pytest.raises(UnsafePathError, match=f"{theirs} is not owned by root"):
            bundle.check_root_file(theirs / "b.pem", "the store")
        bundle.check_root_file(shared / "c.pem", "the store")  # sticky: fine for root's own
        # /tmp and shared passed as sticky for root's own; not for what every account trusts
        with pytest.raises(UnsafePathError, match="is writable by others"):
            bundle.check_machine_file(shared / "c.pem", "the policy file")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="another owner needs root")
def test_a_lock_file_another_account_made_in_the_gap_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty file of another account's, created in a sticky /tmp after the check by
    path and before the open: it was opened, made 0600 and used, and its owner could hold
    it against every run (exit 11). Refused by the open file's owner now."""
    from build_ca_bundle import lock

    target = tmp_path / "ca-bundle.pem"
    planted = bundle.lock_path(target)

    def plant_after_the_check(path: str) -> None:
        if path == str(planted) and not planted.exists():
            planted.touch()
            planted.chmod(0o644)
            os.chown(planted, 65534, 65534)  # nobody's, made in the gap

    monkeypatch.setattr(lock, "check_lock_file", plant_after_the_check)
    with pytest.raises(BundleError, match="another account's file is in its place") as said:
        bundle.write(target, bundle.render(entries("X")))
    assert said.value.hint is not None
    assert "it is an empty lock file: if no run of another account's is going on" in said.value.hint
    assert f"remove it ({planted})" in said.value.hint
    assert not target.exists()
    assert stat.S_IMODE(planted.stat().st_mode) == 0o644  # not made 0600 and used


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() != 0 or shutil.which("flock") is None,
    reason="acting as another user needs root and flock(1)",
)
def test_another_user_cannot_hold_the_lock() -> None:
    def nobody_can_lock(path: Path) -> bool:
        grab = ["flock", "--nonblock", str(path), "true"]
        return subprocess.run(grab, user="nobody", capture_output=True, check=False).returncode == 0

    with tempfile.TemporaryDirectory() as scratch:  # under /tmp: other users can reach it
        folder = Path(scratch)
        folder.chmod(0o755)
        target = folder / "ca-bundle.pem"
        old_lock = bundle.lock_path(target)
        old_lock.touch()
        old_lock.chmod(0o644)
        assert nobody_can_lock(old_lock)  # what an earlier version allowed
        bundle.write(target, bundle.render(entries("X")))
        assert not nobody_can_lock(old_lock)


_WRITER = """
import sys, time
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from build_ca_bundle import bundle, openssl

target, content, go = Path(sys.argv[1]), Path(sys.argv[2]).read_bytes(), Path(sys.argv[3])
while not go.exists():
    time.sleep(0.002)
for _ in range(3):
    bundle.write(target, content)
"""


def test_concurrent_writers_always_leave_one_complete_loadable_bundle(tmp_path: Path) -> None:
    """Sixteen logon scripts at once: a reader never sees a half-written file, and the last
    one standing is exactly one writer's bundle."""
    target = tmp_path / "shared" / "ca-bundle.pem"
    go = tmp_path / "go"
    contents = set()
    writers = []
    for number in range(16):
        content = bundle.render(entries(f"Writer {number} Root", f"Writer {number} Other"))
        contents.add(content)
        source = tmp_path / f"content-{number}.pem"
        source.write_bytes(content)
        command = [sys.executable, "-c", _WRITER, str(target), str(source), str(go)]
        writers.append(subprocess.Popen(command))
    go.touch()
    seen = set()
    while any(writer.poll() is None for writer in writers):
        current = bundle.read_existing(target)
        if current is not None:
            assert current in contents  # complete, never a mix or a prefix
            seen.add(current)
    assert [writer.wait() for writer in writers] == [0] * 16
    final = target.read_bytes()
    assert final in contents
    assert loads(final) == 2
    assert temp_files(target.parent) == []
    assert seen  # the reader did watch the race


# --- reading and removing -----------------------------------------------------------------


def test_read_existing(tmp_path: Path) -> None:
    target = tmp_path / "ca-bundle.pem"
    assert bundle.read_existing(target) is None
    assert bundle.read_existing(tmp_path) is None  # a folder is not a bundle
    content = bundle.render(entries("X"))
    bundle.write(target, content)
    assert bundle.read_existing(target) == content


def test_remove_takes_the_bundle_and_its_lock_files_and_tolerates_absence(
    tmp_path: Path,
) -> None:
    target = tmp_path / "out" / "ca-bundle.pem"
    with bundle.run_lock(target):
        bundle.write(target, bundle.render(entries("X")))
    assert bundle.lock_path(target).exists()
    assert bundle.remove(target) is True
    assert not target.exists()
    bundle.remove_locks(target)  # undo's last step
    assert list(target.parent.iterdir()) == []
    assert bundle.remove(target) is False
    assert bundle.remove(tmp_path / "never" / "ca-bundle.pem") is False


def test_a_run_waiting_on_a_lock_file_that_undo_removed_takes_the_new_one(
    tmp_path: Path,
) -> None:
    """undo removes the lock files while it holds the run lock. A run that was waiting got
    the removed file's lock and went on beside the run that came after, which had made a
    new file: two runs at once (3 builds racing 3 undos failed 2-4 rounds in 25)."""
    from build_ca_bundle import lock

    path = str(tmp_path / "run.lock")
    inside: list[str] = []
    seen: dict[str, int] = {}

    def run(name: str, stay: float) -> None:
        with lock.hold(path, timeout=10):
            inside.append(name)
            seen[name] = len(inside)
            time.sleep(stay)
            inside.remove(name)

    with lock.hold(path, timeout=10):  # the undo
        waiter = threading.Thread(target=run, args=("waiter", 0))
        waiter.start()
        time.sleep(0.3)  # the waiter now waits on this file
        Path(path).unlink()  # undo's last step, still holding it
        newcomer = threading.Thread(target=run, args=("newcomer", 0.6))
        newcomer.start()  # a run after undo: a new file, free at once
        time.sleep(0.2)
    waiter.join(timeout=20)
    newcomer.join(timeout=20)
    assert seen == {"newcomer": 1, "waiter": 1}  # never both inside at once


def test_remove_reports_what_it_cannot_remove(tmp_path: Path) -> None:
    in_the_way = tmp_path / "ca-bundle.pem"
    in_the_way.mkdir()
    with pytest.raises(BundleError, match=str(in_the_way)):
        bundle.remove(in_the_way)


def test_a_preloaded_file_proves_its_blocks(tmp_path: Path) -> None:
    good = tmp_path / "good.pem"
    good.write_bytes(make_root("One").pem + make_root("Two").pem)
    loaded = openssl.Preload(good).loaded()
    assert loaded == good.read_bytes()
    assert bundle.certificate_blocks(loaded) == frozenset(
        "-----BEGIN CERTIFICATE-----\n" + part
        for part in good.read_text().split("-----BEGIN CERTIFICATE-----\n")[1:]
    )


def test_a_preloaded_file_that_does_not_load_proves_nothing(tmp_path: Path) -> None:
    """One refused block fails the whole file in ssl: then none of its blocks count, and the
    bundle's own check loads (and would refuse) each of them."""
    mixed = tmp_path / "mixed.pem"
    refused = ssl.DER_cert_to_PEM_cert(refused_by_openssl(make_root("Refused")))
    mixed.write_bytes(make_root("Good").pem + refused.encode())
    assert openssl.Preload(mixed).loaded() is None
    assert openssl.Preload(tmp_path / "missing.pem").loaded() is None


def test_a_file_that_changes_while_it_is_preloaded_proves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """certifi upgraded by pip at that moment: the blocks OpenSSL read may not be the ones
    read before or after, so none count."""
    changing = tmp_path / "cacert.pem"
    versions = [make_root("Old").pem, make_root("New").pem]
    changing.write_bytes(versions[0])
    real_read = Path.read_bytes

    def read_then_upgrade(self: Path) -> bytes:
        data = real_read(self)
        if self == changing and versions:
            changing.write_bytes(versions.pop())  # the next reader sees another file
        return data

    monkeypatch.setattr(Path, "read_bytes", read_then_upgrade)
    assert openssl.Preload(changing).loaded() is None


def test_a_windows_machine_policy_a_user_made_in_programdata_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every user may create folders and files in %ProgramData%: a standard user's
    build-ca-bundle\\policy.toml there (made before IT's, or in a folder IT had not made)
    put their root into every account's bundle. Owners as GetNamedSecurityInfoW gives
    them (the Wine test reads them for real)."""
    from build_ca_bundle import bundle, winowner
    from build_ca_bundle.errors import UnsafePathError

    program_data = tmp_path / "ProgramData"
    folder = program_data / "build-ca-bundle"
    folder.mkdir(parents=True)
    policy = folder / "policy.toml"
    policy.write_text('extra_ca = ["corp.pem"]\n')
    extra = folder / "corp.pem"
    extra.write_text("x")
    elsewhere = tmp_path / "Program Files" / "corp.pem"  # outside: IT's ACLs, not checked
    monkeypatch.setenv("PROGRAMDATA", str(program_data))
    user = "S-1-5-21-1004336348-1177238915-682003330-1001"
    owners = {policy: "S-1-5-32-544", folder: "S-1-5-18", extra: "S-1-5-32-544"}
    monkeypatch.setattr(winowner, "owner_sid", lambda path: owners.get(path, user))
    bundle._check_windows_machine_policy(policy, [extra, elsewhere])  # IT's: passes
    for planted in (policy, folder, extra):
        owners[planted] = user
        with pytest.raises(UnsafePathError, match=f"is owned by {user}") as refused:
            bundle._check_windows_machine_policy(policy, [extra])
        assert str(planted) in str(refused.value)
        assert "takeown /A" in (refused.value.hint or "")
        owners[planted] = "S-1-5-18"


def test_a_failed_replace_gets_the_hint_for_what_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every failure said "free some disk space": also Windows' refusal to replace a bundle
    another program held open, where disk space had nothing to do with it."""
    import errno
    import os
    import sys

    from build_ca_bundle import bundle

    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert bundle._write_hint(full).startswith("free some disk space")
    held = PermissionError(errno.EACCES, "Access is denied")
    monkeypatch.setattr(sys, "platform", "win32")
    assert bundle._write_hint(held).startswith("another program may hold the bundle open")
    monkeypatch.setattr(sys, "platform", "linux")
    assert "disk space" not in bundle._write_hint(held).split(";")[0]
