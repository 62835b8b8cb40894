"""The Linux reader over fake file systems laid out as each distro lays them out."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from build_ca_bundle.certificates import (
    BUNDLE_MARKER,
    SERVER_AUTH,
    Candidate,
    SourceKind,
    SourceResult,
    Verdict,
    parse_der,
    select,
)
from build_ca_bundle.sources import StoreOptions, linux
from tests.pki import NOW, Issued, make_root, trusted_certificate

NO_ENV = StoreOptions(environ={})


def trusted(result: SourceResult) -> set[str]:
    return {c.certificate.sha256 for c in result.candidates if c.verdict is Verdict.TRUST}


def distrusted(result: SourceResult) -> set[str]:
    return {c.certificate.sha256 for c in result.candidates if c.verdict is Verdict.DISTRUST}


def certifi_like(*roots: Issued) -> SourceResult:
    base = SourceResult(name="certifi", kind=SourceKind.BASE)
    base.candidates = [Candidate(parse_der(r.der), Verdict.TRUST, "certifi") for r in roots]
    return base


def place(root: Path, absolute: str, data: bytes) -> Path:
    path = root / absolute.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def debian(tmp_path: Path) -> tuple[Path, dict[str, Issued]]:
    """/usr/share/ca-certificates, absolute and relative links, hash links, the bundle."""
    root = tmp_path / "debian"
    roots = {name: make_root(name) for name in ("Mozilla A", "Mozilla B", "Local Corp")}
    certs = root / "etc/ssl/certs"
    certs.mkdir(parents=True)
    for name, hash_name, source in (
        ("Mozilla A", "1a2b3c4d.0", "mozilla/Mozilla_A.crt"),
        ("Mozilla B", "1a2b3c4d.1", "mozilla/Mozilla_B.crt"),
    ):
        shared = place(root, f"/usr/share/ca-certificates/{source}", roots[name].pem)
        link = certs / Path(source).with_suffix(".pem").name
        link.symlink_to(shared)  # Debian: absolute link into /usr/share
        (certs / hash_name).symlink_to(link.name)  # and a relative hash link
    # A local root as IT installs it: CRLF and a byte order mark.
    local = place(
        root,
        "/usr/local/share/ca-certificates/corp.crt",
        b"\xef\xbb\xbf" + roots["Local Corp"].pem.replace(b"\n", b"\r\n"),
    )
    (certs / "corp.pem").symlink_to(local)
    (certs / "9f8e7d6c.0").symlink_to("corp.pem")
    bundle = b"".join(r.pem for r in roots.values())
    place(root, "/etc/ssl/certs/ca-certificates.crt", bundle)
    place(root, "/etc/ca-certificates.conf", b"mozilla/Mozilla_A.crt\n!mozilla/Mozilla_B.crt\n")
    return root, roots


def test_debian_layout(tmp_path: Path) -> None:
    root, roots = debian(tmp_path)
    result = linux.load(NO_ENV, root=root)
    assert trusted(result) == {r.sha256 for r in roots.values()}
    assert result.problems == []
    # Each certificate once per place, however many links lead to it.
    folder = [c for c in result.candidates if c.source == str(root / "etc/ssl/certs")]
    assert len(folder) == len({c.certificate.sha256 for c in folder}) == 3
    assert root / "etc/ssl/certs/ca-certificates.crt" in result.inputs
    assert root / "etc/ca-certificates.conf" in result.inputs


def test_debian_deselection_removes_the_root_from_certifis_part_too(tmp_path: Path) -> None:
    root, roots = debian(tmp_path)
    result = linux.load(NO_ENV, root=root)
    assert distrusted(result) == {roots["Mozilla B"].sha256}
    selection = select([certifi_like(roots["Mozilla A"], roots["Mozilla B"]), result], now=NOW)
    chosen = {e.certificate.sha256 for e in selection.entries}
    assert roots["Mozilla B"].sha256 not in chosen
    assert roots["Mozilla A"].sha256 in chosen
    reasons = [x.reason for x in selection.excluded]
    assert any("deselected in /etc/ca-certificates.conf" in reason for reason in reasons)


def test_fedora_trust_decisions_are_never_anchors(tmp_path: Path) -> None:
    root = tmp_path / "fedora"
    anchor, blocked, intermediate = make_root("Anchor"), make_root("Blocked"), make_root("X")
    place(root, "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", anchor.pem)
    place(
        root,
        "/etc/pki/ca-trust/extracted/openssl/ca-bundle.trust.crt",
        trusted_certificate(anchor, trust=[SERVER_AUTH])
        + trusted_certificate(blocked, trust=[], reject=["2.5.29.37.0"])
        + trusted_certificate(intermediate, trust=["1.3.6.1.5.5.7.3.4"]),
    )
    # mod_ssl's own key pair lives here too; OpenSSL never looks it up, neither do we.
    place(root, "/etc/pki/tls/certs/localhost.crt", make_root("localhost").pem)
    result = linux.load(NO_ENV, root=root)
    assert trusted(result) == {anchor.sha256}
    assert distrusted(result) == {blocked.sha256}
    selection = select([certifi_like(blocked), result], now=NOW)
    assert [e.certificate.sha256 for e in selection.entries] == [anchor.sha256]


def test_arch_hard_links_are_read_once(tmp_path: Path) -> None:
    root = tmp_path / "arch"
    corp = make_root("Arch Corp")
    first = place(root, "/etc/ca-certificates/extracted/cadir/Arch_Corp.pem", corp.pem)
    os.link(first, first.with_name("0a0b0c0d.0"))
    os.link(first, first.with_name("0a0b0c0d.1"))
    result = linux.load(NO_ENV, root=root)
    assert [c.certificate.sha256 for c in result.candidates] == [corp.sha256]


def test_suse_trusted_certificate_files(tmp_path: Path) -> None:
    root = tmp_path / "suse"
    good, rejected = make_root("SUSE Good"), make_root("SUSE Rejected")
    place(
        root,
        "/var/lib/ca-certificates/openssl/11111111.0",
        trusted_certificate(good, trust=[SERVER_AUTH]),
    )
    place(
        root,
        "/var/lib/ca-certificates/openssl/22222222.0",
        trusted_certificate(rejected, reject=[SERVER_AUTH]),
    )
    result = linux.load(NO_ENV, root=root)
    assert trusted(result) == {good.sha256}
    assert distrusted(result) == {rejected.sha256}


def test_blocklist_folder_pem_and_der(tmp_path: Path) -> None:
    root = tmp_path / "rhel"
    pem_blocked, der_blocked, kept = (
        make_root("PEM blocked"),
        make_root("DER blocked"),
        make_root("Kept"),
    )
    place(root, "/etc/pki/tls/certs/ca-bundle.crt", kept.pem + pem_blocked.pem + der_blocked.pem)
    place(root, "/etc/pki/ca-trust/source/blocklist/a.pem", pem_blocked.pem)
    place(root, "/etc/pki/ca-trust/source/blacklist/b.der", der_blocked.der)
    result = linux.load(NO_ENV, root=root)
    assert distrusted(result) == {pem_blocked.sha256, der_blocked.sha256}
    selection = select([result], now=NOW)
    assert [e.certificate.sha256 for e in selection.entries] == [kept.sha256]


def test_ssl_cert_file_and_dir_are_honoured(tmp_path: Path) -> None:
    root, _ = debian(tmp_path)
    mine = make_root("From SSL_CERT_FILE")
    folder_root = make_root("From SSL_CERT_DIR")
    file = mine.write(tmp_path / "mine.pem")
    folder = tmp_path / "dir"
    folder_root.write(folder / "abcdef12.0")
    options = StoreOptions(environ={"SSL_CERT_FILE": str(file), "SSL_CERT_DIR": str(folder)})
    result = linux.load(options, root=root)
    assert trusted(result) == {mine.sha256, folder_root.sha256}
    assert any("honoured SSL_CERT_FILE and SSL_CERT_DIR" in note for note in result.notes)


def test_ssl_cert_file_replaces_only_the_file(tmp_path: Path) -> None:
    root, roots = debian(tmp_path)
    mine = make_root("Only the file")
    file = mine.write(tmp_path / "mine.pem")
    result = linux.load(StoreOptions(environ={"SSL_CERT_FILE": str(file)}), root=root)
    # The default folders still count, as with OpenSSL.
    assert trusted(result) == {mine.sha256} | {r.sha256 for r in roots.values()}


def test_our_own_output_in_ssl_cert_file_is_ignored(tmp_path: Path) -> None:
    root, roots = debian(tmp_path)
    output = tmp_path / "out" / "ca-bundle.pem"
    output.parent.mkdir()
    output.write_bytes(BUNDLE_MARKER + b"\n" + make_root("Old bundle content").pem)
    copy = tmp_path / "copy.pem"
    copy.write_bytes(output.read_bytes())
    for options in (
        StoreOptions(environ={"SSL_CERT_FILE": str(output)}, own_outputs=(output,)),
        StoreOptions(environ={"SSL_CERT_FILE": str(copy)}),
    ):
        result = linux.load(options, root=root)
        assert trusted(result) == {r.sha256 for r in roots.values()}
        assert any("our own bundle" in note for note in result.notes)


def test_broken_entries_are_problems_naming_the_path(tmp_path: Path) -> None:
    root, roots = debian(tmp_path)
    certs = root / "etc/ssl/certs"
    (certs / "deadbeef.0").symlink_to("/nonexistent/file.pem")
    (certs / "cafecafe.0").mkdir()
    (certs / "0000aaaa.0").symlink_to("0000aaaa.0")
    (certs / "badbad00.0").write_text(
        "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n"
    )
    result = linux.load(NO_ENV, root=root)
    problems = {p.where: p.message for p in result.problems}
    assert problems[str(certs / "deadbeef.0")] == "skipped: dangling symlink"
    assert (
        problems[str(certs / "cafecafe.0")]
        == "skipped: a folder where a certificate file was expected"
    )
    assert problems[str(certs / "0000aaaa.0")] == "skipped: symlink loop"
    assert problems[f"{certs / 'badbad00.0'} (block 1)"] == "skipped: invalid base64"
    assert trusted(result) == {r.sha256 for r in roots.values()}  # the rest is still read


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    root, _ = debian(tmp_path)
    locked = place(root, "/etc/ssl/certs/0badf00d.0", make_root("Locked").pem)
    locked.chmod(0)
    result = linux.load(NO_ENV, root=root)
    assert any(p.where == str(locked) and "cannot read" in p.message for p in result.problems)


def test_no_store_at_all(tmp_path: Path) -> None:
    result = linux.load(NO_ENV, root=tmp_path / "empty")
    assert result.candidates == []
    assert [p.message for p in result.problems] == [
        "no trusted certificate found in any known place"
    ]


@pytest.mark.native
def test_this_machines_store_overlaps_certifi() -> None:
    from build_ca_bundle.sources import mozilla

    result = linux.load(StoreOptions(environ={}))
    if not trusted(result):
        pytest.skip("this machine has no Linux trust store")
    certifi = {c.certificate.sha256 for c in mozilla.load().candidates}
    assert len(certifi & trusted(result)) >= 0.5 * len(certifi)
    still_valid = [
        c for c in result.candidates if c.certificate.not_after > dt.datetime.now(dt.timezone.utc)
    ]
    assert still_valid
