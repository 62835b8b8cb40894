"""The Linux reader over fake file systems laid out as each distro lays them out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from build_ca_bundle.certificates import BUNDLE_MARKER, SERVER_AUTH, SourceResult, Verdict, select
from build_ca_bundle.sources import StoreOptions, linux, mozilla
from tests.conftest import Home
from tests.linux_fixtures import (
    EMAIL,
    Debian,
    Fedora,
    arch_cadir,
    certifi_like,
    link,
    place,
    same_key_reissue,
)
from tests.pki import NOW, Issued, make_root, trusted_certificate

NO_ENV = StoreOptions(environ={})


def trusted(result: SourceResult) -> set[str]:
    return {c.certificate.sha256 for c in result.candidates if c.verdict is Verdict.TRUST}


def distrusted(result: SourceResult) -> set[str]:
    return {c.certificate.sha256 for c in result.candidates if c.verdict is Verdict.DISTRUST}


def hashes(*roots: Issued) -> set[str]:
    return {r.sha256 for r in roots}


def selected(*results: SourceResult) -> set[str]:
    return {e.certificate.sha256 for e in select(results, now=NOW).entries}


def problems(result: SourceResult) -> dict[str, str]:
    return {p.where: p.message for p in result.problems}


# --- Debian, Ubuntu ---------------------------------------------------------------------


def test_debian_store_is_read_once_per_certificate(tmp_path: Path) -> None:
    store = Debian(tmp_path).build()
    result = linux.load(NO_ENV, root=tmp_path)
    assert trusted(result) == hashes(*store.trusted)
    assert result.problems == []
    # The bundle and the hash links (.0, .1, absolute and relative links) name the same
    # roots: each one is offered once, from the bundle.
    assert len(result.candidates) == len(store.trusted) + 1  # + the deselected one
    bundle = tmp_path / "etc/ssl/certs/ca-certificates.crt"
    assert {c.source for c in result.candidates if c.verdict is Verdict.TRUST} == {str(bundle)}
    for watched in (bundle, store.certs, tmp_path / "etc/ca-certificates.conf"):
        assert watched in result.inputs
    assert store.certs / f"{store.corp.hash_name}.0" in result.inputs


def test_hashed_folder_adds_what_the_bundle_lacks(tmp_path: Path) -> None:
    # A root installed by hand (c_rehash) after the bundle was made: Go reads both, so do we.
    store = Debian(tmp_path).build()
    late = make_root("Installed by hand")
    place(tmp_path, "/etc/ssl/certs/Late.pem", late.pem)
    link(tmp_path, f"/etc/ssl/certs/{late.hash_name}.0", "Late.pem")
    result = linux.load(NO_ENV, root=tmp_path)
    assert trusted(result) == hashes(*store.trusted, late)
    [candidate] = [c for c in result.candidates if c.certificate.sha256 == late.sha256]
    assert candidate.source == str(store.certs / f"{late.hash_name}.0")
    assert candidate.reason == "hashed folder"


def test_a_hashed_file_under_another_hash_is_never_opened_by_openssl(tmp_path: Path) -> None:
    """OpenSSL opens <hash>.N only to look up a subject with that hash: a root copied in
    under another name (by hand, or left from another root) is never read, so never
    trusted (openssl verify: error 20). It was trusted here. A file it does open for one
    subject gives it all the certificates in it."""
    store = Debian(tmp_path).build()
    stray, first, second = (make_root(name) for name in ("Stray", "First", "Second"))
    place(tmp_path, "/etc/ssl/certs/deadbeef.0", stray.pem)
    place(tmp_path, f"/etc/ssl/certs/{first.hash_name}.0", first.pem + second.pem)
    result = linux.load(NO_ENV, root=tmp_path)
    assert trusted(result) == hashes(*store.trusted, first, second)
    message = problems(result)[str(store.certs / "deadbeef.0")]
    assert f"OpenSSL looks this certificate up under {stray.hash_name}.N" in message


def test_a_root_linked_under_the_old_hash_too_is_read_under_its_right_one(tmp_path: Path) -> None:
    """p11-kit's pem-directory-hash (Fedora, Arch) and SUSE's c_rehash link every file under
    OpenSSL's old hash as well as its own. The old-hash link, first in the folder, marked
    the file read and was then refused: the root went missing from the bundle, and the run
    told the user to run update-ca-certificates, which was not the trouble."""
    store = Debian(tmp_path).build()
    (store.certs / "ca-certificates.crt").unlink()  # only the folder gives roots
    both, alone = make_root("Linked Twice"), make_root("Only Misnamed")
    place(tmp_path, "/etc/ssl/certs/Linked_Twice.pem", both.pem)
    link(tmp_path, "/etc/ssl/certs/00000000.0", "Linked_Twice.pem")  # before the right name
    link(tmp_path, f"/etc/ssl/certs/{both.hash_name}.0", "Linked_Twice.pem")
    place(tmp_path, "/etc/ssl/certs/Only_Misnamed.pem", alone.pem)
    link(tmp_path, "/etc/ssl/certs/00000001.0", "Only_Misnamed.pem")
    result = linux.load(NO_ENV, root=tmp_path)
    assert both.sha256 in trusted(result)
    assert alone.sha256 not in trusted(result)
    assert set(problems(result)) == {str(store.certs / "00000001.0")}
    assert f"up under {alone.hash_name}.N" in problems(result)[str(store.certs / "00000001.0")]


def test_debian_local_root_with_bom_and_crlf_is_trusted_from_the_folder(tmp_path: Path) -> None:
    store = Debian(tmp_path).build()
    (store.certs / "ca-certificates.crt").unlink()  # only the hash links are left
    result = linux.load(NO_ENV, root=tmp_path)
    assert store.corp.sha256 in trusted(result)
    assert result.problems == []


def test_a_root_dropped_in_without_update_ca_certificates_is_named_not_trusted(
    tmp_path: Path,
) -> None:
    """The commonest mistake: the root copied into /usr/local/share/ca-certificates, and
    update-ca-certificates not run (or the file named .pem, which it skips). The OS does not
    trust it yet, so neither does the bundle, and the user is told what to run."""
    store = Debian(tmp_path).build()
    pending, misnamed = make_root("Copied Not Installed"), make_root("Named PEM")
    waiting = place(tmp_path, "/usr/local/share/ca-certificates/corp/new.crt", pending.pem)
    wrong = place(tmp_path, "/usr/local/share/ca-certificates/other.pem", misnamed.pem)
    result = linux.load(NO_ENV, root=tmp_path)
    assert trusted(result) == hashes(*store.trusted)  # installed ones only
    found = problems(result)
    assert set(found) == {str(waiting), str(wrong)}
    assert "run 'sudo update-ca-certificates' to add it" in found[str(waiting)]
    assert "rename it to other.crt" in found[str(wrong)]
    assert tmp_path / "usr/local/share/ca-certificates" in result.inputs
    # A file added to a subfolder, or one rewritten in place, changes what is pending: the
    # unchanged-run check watches each (it watched the top folder only: audit h41).
    assert {waiting.parent, waiting, wrong} <= set(result.inputs)


def test_a_der_or_broken_file_in_debians_folder_gets_advice_that_works(tmp_path: Path) -> None:
    """update-ca-certificates takes PEM only: for a DER root the advice was "run 'sudo
    update-ca-certificates'", on every run, which never helps. It says to convert it now.
    A file with no certificate in it got no word, though the tool copies it into the store
    file; it is named now."""
    Debian(tmp_path).build()
    der_root = make_root("Sent As DER")
    der = place(tmp_path, "/usr/local/share/ca-certificates/corp-der.crt", der_root.der)
    garbage = place(tmp_path, "/usr/local/share/ca-certificates/garbage.crt", b"not a cert\n")
    empty = place(tmp_path, "/usr/local/share/ca-certificates/empty.crt", b"")
    found = problems(linux.load(NO_ENV, root=tmp_path))
    assert "it is DER, and update-ca-certificates takes only PEM" in found[str(der)]
    assert f"openssl x509 -inform der -in {der} -out " in found[str(der)]
    assert "run 'sudo update-ca-certificates' to add it" not in found[str(der)]
    for broken in (garbage, empty):
        assert "no root the trust store can take: neither PEM nor DER" in found[str(broken)]


def test_a_root_for_other_purposes_only_is_not_called_pending(tmp_path: Path) -> None:
    """An e-mail root in the admin's folder is in the distro's store after its tool ran, for
    e-mail: never in a TLS bundle. "Run update-ca-trust" sent the admin after nothing."""
    from cryptography.x509.oid import ExtendedKeyUsageOID

    store = Debian(tmp_path).build()
    mail = make_root("Mail Only", eku=[ExtendedKeyUsageOID.EMAIL_PROTECTION])
    path = place(tmp_path, "/usr/local/share/ca-certificates/mail.crt", mail.pem)
    result = linux.load(NO_ENV, root=tmp_path)
    assert trusted(result) == hashes(*store.trusted)
    message = problems(result)[str(path)]
    assert "update-ca-certificates" not in message
    assert "trusted only for emailProtection" in message
    assert "the OS does not use it for TLS" in message


def test_with_the_real_update_ca_certificates_a_pending_root_is_named_then_trusted(
    tmp_path: Path, isolated_home: Home
) -> None:
    """In a private copy of this machine's store: the root copied in is named and left out;
    after the real update-ca-certificates it is trusted and nothing is said."""
    import json
    import shlex
    import sys

    from tests import linux_store

    root = make_root("Copied Then Installed")
    source = root.write(tmp_path / "corp.crt")
    tool = shlex.join(
        [sys.executable, "-m", "build_ca_bundle", "--dry-run", "--json", "--scope", "none"]
    )
    script = (
        f"cp {shlex.quote(str(source))} {linux_store.LOCAL}/late-corp.crt && {tool}"
        f" && echo '#####' && {linux_store.UPDATE} >/dev/null && {tool}"
    )
    done = linux_store.run_in_private_store(["sh", "-c", script], tmp_path=tmp_path / "ns")
    assert done.returncode == 0, done.stderr
    before, after = (json.loads(part) for part in done.stdout.split("#####"))
    pending = f"{linux_store.LOCAL}/late-corp.crt"
    assert any(p["where"] == pending for p in before["problems"])
    assert root.sha256 not in {e["sha256"] for e in before["beyond_certifi"]}
    assert not any(p["where"] == pending for p in after["problems"])
    assert root.sha256 in {e["sha256"] for e in after["beyond_certifi"]}


def test_fedora_anchor_not_extracted_yet_is_named(tmp_path: Path) -> None:
    Fedora(tmp_path).build()
    pending = make_root("Fedora Pending")
    waiting = place(tmp_path, "/etc/pki/ca-trust/source/anchors/corp.pem", pending.pem)
    found = problems(linux.load(NO_ENV, root=tmp_path))
    assert "run 'sudo update-ca-trust' to add it" in found[str(waiting)]


def test_roots_already_installed_raise_nothing(tmp_path: Path) -> None:
    store = Debian(tmp_path).build()  # its corp.crt is in the folder and in the store
    result = linux.load(NO_ENV, root=tmp_path)
    assert store.corp.sha256 in trusted(result)
    assert result.problems == []


def test_debian_deselection_removes_the_root_from_certifis_part_too(tmp_path: Path) -> None:
    store = Debian(tmp_path).build()
    result = linux.load(NO_ENV, root=tmp_path)
    assert distrusted(result) == hashes(store.deselected)
    [distrust] = [c for c in result.candidates if c.verdict is Verdict.DISTRUST]
    assert "deselected in /etc/ca-certificates.conf" in distrust.reason
    certifi = certifi_like(store.mozilla_a, store.deselected)
    assert selected(certifi, result) == hashes(store.mozilla_a, store.mozilla_a2, store.corp)
    excluded = select([certifi, result], now=NOW).excluded
    assert [x.certificate.sha256 for x in excluded] == [store.deselected.sha256]
    assert "deselected in /etc/ca-certificates.conf" in excluded[0].reason


def test_debian_deselection_removes_that_root_only_not_its_renewal(tmp_path: Path) -> None:
    """update-ca-certificates leaves out the one file named with '!'. A renewal with the same
    key stays in the OS store (Firmaprofesional's 2009 and 2014 roots share theirs), so it
    must stay in certifi's part: p11-kit's same-key rule is p11-kit's only."""
    store = Debian(tmp_path).build()
    key = store.deselected.key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    renewed = make_root("Mozilla Deselected 2014", key=key)
    place(tmp_path, "/usr/share/ca-certificates/mozilla/Deselected_2.crt", renewed.pem)
    bundle = tmp_path / "etc/ssl/certs/ca-certificates.crt"
    bundle.write_bytes(bundle.read_bytes() + renewed.pem)
    result = linux.load(NO_ENV, root=tmp_path)
    certifi = certifi_like(store.mozilla_a, store.deselected, renewed)
    chosen = selected(certifi, result)
    assert renewed.sha256 in chosen
    assert store.deselected.sha256 not in chosen


@pytest.mark.parametrize("added_back", ["a plain line too", "a local copy"])
def test_a_debian_deselection_added_back_is_no_distrust(tmp_path: Path, added_back: str) -> None:
    """update-ca-certificates removes the "!" ones first, then adds every plain line and
    every local *.crt: a root added back that way is in the store (openssl verify and Python
    accept it), so neither it nor certifi's copy may be taken out."""
    store = Debian(tmp_path).build()
    conf = tmp_path / "etc/ca-certificates.conf"
    if added_back == "a plain line too":
        conf.write_bytes(conf.read_bytes() + b"mozilla/Deselected.crt\n")
    else:
        place(tmp_path, "/usr/local/share/ca-certificates/again.crt", store.deselected.pem)
    result = linux.load(NO_ENV, root=tmp_path)
    assert distrusted(result) == set()
    certifi = certifi_like(store.mozilla_a, store.deselected)
    assert store.deselected.sha256 in selected(certifi, result)


def test_debian_deselection_of_a_path_outside_the_share_is_refused(tmp_path: Path) -> None:
    Debian(tmp_path).build()
    place(tmp_path, "/etc/ca-certificates.conf", b"!../../etc/ssl/certs/ca-certificates.crt\n")
    result = linux.load(NO_ENV, root=tmp_path)
    assert distrusted(result) == set()
    assert (
        "not a path under /usr/share/ca-certificates"
        in problems(result)[str(tmp_path / "etc/ca-certificates.conf")]
    )


# --- Fedora, RHEL, Arch, SUSE -----------------------------------------------------------


def test_fedora_trust_decisions_are_never_read_as_anchors(tmp_path: Path) -> None:
    store = Fedora(tmp_path).build()
    result = linux.load(NO_ENV, root=tmp_path)
    assert trusted(result) == hashes(store.anchor)
    # Blocklisted (every purpose rejected): distrust, matched by key too, as p11-kit does.
    # Blocklisted, and an anchor for e-mail only (p11-kit leaves it out of the TLS bundle).
    assert distrusted(result) == hashes(store.blocked, store.email_only)
    by_hash = {c.certificate.sha256: c for c in result.candidates}
    assert by_hash[store.blocked.sha256].reason == "p11-kit: rejected for serverAuth"
    assert by_hash[store.blocked.sha256].match_key
    assert by_hash[store.email_only.sha256].reason == ("p11-kit: trusted only for emailProtection")
    assert not by_hash[store.email_only.sha256].match_key
    # The non-anchor (empty trust list) says nothing about TLS servers.
    offered = {c.certificate.sha256 for c in result.candidates}
    assert not offered & hashes(store.non_anchor, store.localhost)
    assert result.problems == []
    # mod_ssl's localhost.crt is not a name OpenSSL looks up: never opened.
    assert tmp_path / "etc/pki/tls/certs/localhost.crt" not in result.inputs


def test_fedora_blocklisted_root_is_removed_from_certifis_part(tmp_path: Path) -> None:
    store = Fedora(tmp_path).build()
    result = linux.load(NO_ENV, root=tmp_path)
    reissued = same_key_reissue(store.blocked, "Blocked by admin, reissued")
    certifi = certifi_like(store.blocked, reissued, store.non_anchor)
    # The same key under another certificate goes too; the non-anchor stays in certifi's part.
    assert selected(certifi, result) == hashes(store.anchor, store.non_anchor)
    # An admin's -addtrust emailProtection takes a public root out of TLS use: certifi's
    # copy goes as well (it was in the bundle, where OpenSSL with the distro store refuses).
    certifi = certifi_like(store.email_only, store.non_anchor)
    assert selected(certifi, result) == hashes(store.anchor, store.non_anchor)


def test_arch_hard_links_are_read_once(tmp_path: Path) -> None:
    corp = make_root("Arch Corp")
    cadir = arch_cadir(tmp_path, corp)
    place(tmp_path, "/etc/ca-certificates/extracted/tls-ca-bundle.pem", corp.pem)
    result = linux.load(NO_ENV, root=tmp_path)
    assert [c.certificate.sha256 for c in result.candidates] == [corp.sha256]
    assert cadir in result.inputs


def test_suse_trusted_certificate_files_in_the_hashed_folder(tmp_path: Path) -> None:
    good, rejected, email, nothing, plain = (
        make_root(name) for name in ("Good", "Rejected", "E-mail", "Trusts nothing", "Plain")
    )
    folder = "/var/lib/ca-certificates/openssl"
    place(tmp_path, f"{folder}/{good.hash_name}.0", trusted_certificate(good, trust=[SERVER_AUTH]))
    place(
        tmp_path,
        f"{folder}/{rejected.hash_name}.0",
        trusted_certificate(rejected, reject=[SERVER_AUTH]),
    )
    place(tmp_path, f"{folder}/{email.hash_name}.0", trusted_certificate(email, trust=[EMAIL]))
    place(tmp_path, f"{folder}/{nothing.hash_name}.0", trusted_certificate(nothing, trust=[]))
    place(
        tmp_path, f"{folder}/{plain.hash_name}.0", trusted_certificate(plain)
    )  # no trust settings
    result = linux.load(NO_ENV, root=tmp_path)
    assert trusted(result) == hashes(good, plain)
    # Trusted for e-mail only: OpenSSL rejects it for TLS servers (openssl verify: error 28,
    # "certificate rejected"), so certifi's copy must not bring it back.
    assert distrusted(result) == hashes(rejected, nothing, email)
    by_hash = {c.certificate.sha256: c for c in result.candidates}
    assert by_hash[rejected.sha256].match_key
    # An empty or other-purpose trust list refuses this certificate only, not its key.
    assert not by_hash[nothing.sha256].match_key
    assert not by_hash[email.sha256].match_key
    assert by_hash[email.sha256].reason == (
        "hashed folder, OpenSSL trust flags trust it only for emailProtection"
    )
    assert by_hash[plain.sha256].reason == "hashed folder, self-signed, no OpenSSL trust flags"


@pytest.mark.parametrize("name", ["blocklist", "blacklist"])
def test_blocklist_folder_pem_and_der(tmp_path: Path, name: str) -> None:
    kept, pem_blocked, der_blocked = (make_root(n) for n in ("Kept", "PEM", "DER"))
    bundle = kept.pem + pem_blocked.pem + der_blocked.pem
    place(tmp_path, "/etc/pki/tls/certs/ca-bundle.crt", bundle)
    place(tmp_path, f"/etc/pki/ca-trust/source/{name}/a.pem", pem_blocked.pem)
    place(tmp_path, f"/etc/pki/ca-trust/source/{name}/b.der", der_blocked.der)
    (tmp_path / f"etc/pki/ca-trust/source/{name}/subfolder").mkdir()  # p11-kit skips it
    result = linux.load(NO_ENV, root=tmp_path)
    assert distrusted(result) == hashes(pem_blocked, der_blocked)
    assert {c.reason for c in result.candidates if c.verdict is Verdict.DISTRUST} == {
        "p11-kit blocklist"
    }
    assert result.problems == []
    assert selected(result) == hashes(kept)


# --- SSL_CERT_FILE and SSL_CERT_DIR -----------------------------------------------------


def test_ssl_cert_file_and_dir_replace_the_defaults(tmp_path: Path) -> None:
    store = Debian(tmp_path / "fs").build()
    from_file, from_dir_1, from_dir_2 = (make_root(n) for n in ("File", "Dir 1", "Dir 2"))
    file = from_file.write(tmp_path / "mine.pem")
    from_dir_1.write(tmp_path / f"one/{from_dir_1.hash_name}.0")
    from_dir_2.write(tmp_path / f"two/{from_dir_2.hash_name}.0")
    environ = {
        "SSL_CERT_FILE": str(file),
        "SSL_CERT_DIR": f"{tmp_path / 'one'}::{tmp_path / 'two'}",
    }
    result = linux.load(StoreOptions(environ=environ), root=store.root)
    assert trusted(result) == hashes(from_file, from_dir_1, from_dir_2)
    assert result.notes == ["honoured SSL_CERT_FILE and SSL_CERT_DIR, as OpenSSL reads them"]
    assert {c.reason for c in result.candidates if c.verdict is Verdict.TRUST} == {
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    }
    # What the OS distrusts still counts.
    assert distrusted(result) == hashes(store.deselected)


def test_ssl_cert_file_replaces_only_the_bundle(tmp_path: Path) -> None:
    store = Debian(tmp_path / "fs").build()
    mine = make_root("Only the file")
    late = make_root("Only in the folder")
    place(store.root, f"/etc/ssl/certs/{late.hash_name}.0", late.pem)
    environ = {"SSL_CERT_FILE": str(mine.write(tmp_path / "mine.pem"))}
    result = linux.load(StoreOptions(environ=environ), root=store.root)
    # The default folders still count, as in OpenSSL; the default bundle does not.
    assert trusted(result) == hashes(mine, late, *store.trusted)
    assert store.root / "etc/ssl/certs/ca-certificates.crt" not in result.inputs
    assert "the default folders still count" in result.notes[0]


def test_ssl_cert_dir_replaces_only_the_folders(tmp_path: Path) -> None:
    store = Debian(tmp_path / "fs").build()
    late = make_root("Only in the default folder")
    place(store.root, f"/etc/ssl/certs/{late.hash_name}.0", late.pem)
    mine = make_root("From SSL_CERT_DIR")
    mine.write(tmp_path / f"dir/{mine.hash_name}.0")
    environ = {"SSL_CERT_DIR": str(tmp_path / "dir")}
    result = linux.load(StoreOptions(environ=environ), root=store.root)
    assert trusted(result) == hashes(mine, *store.trusted)


def test_a_variable_set_but_empty_names_nothing_as_in_openssl(tmp_path: Path) -> None:
    """OpenSSL takes a set variable as it is, even empty: SSL_CERT_FILE= loads no CA file,
    not the default (openssl verify fails, and so does Python). A root only in the default
    bundle was trusted here, without a word."""
    store = Debian(tmp_path / "fs").build()
    late = make_root("Only in the folder")
    place(store.root, f"/etc/ssl/certs/{late.hash_name}.0", late.pem)
    result = linux.load(StoreOptions(environ={"SSL_CERT_FILE": ""}), root=store.root)
    assert store.root / "etc/ssl/certs/ca-certificates.crt" not in result.inputs
    assert late.sha256 in trusted(result)  # the default folders still count
    assert any("SSL_CERT_FILE is set but empty" in note for note in result.notes)
    result = linux.load(StoreOptions(environ={"SSL_CERT_DIR": ""}), root=store.root)
    assert late.sha256 not in trusted(result)  # no folder at all, as OpenSSL reads it
    assert any("SSL_CERT_DIR is set but empty" in note for note in result.notes)


def test_ssl_cert_variables_naming_nothing_are_problems(tmp_path: Path) -> None:
    Debian(tmp_path / "fs").build()
    (tmp_path / "a-folder").mkdir()
    environ = {"SSL_CERT_FILE": str(tmp_path / "a-folder"), "SSL_CERT_DIR": str(tmp_path / "no")}
    result = linux.load(StoreOptions(environ=environ), root=tmp_path / "fs")
    assert problems(result) == {
        str(tmp_path / "a-folder"): "skipped: a folder where a certificate file was expected",
        str(tmp_path / "no"): "skipped: no such folder",
        "linux trust store": "no trust store found: nothing readable in SSL_CERT_FILE or "
        "SSL_CERT_DIR (is the ca-certificates package installed?)",
    }


def own_output(tmp_path: Path) -> Path:
    output = tmp_path / "out/ca-bundle.pem"
    output.parent.mkdir()
    output.write_bytes(BUNDLE_MARKER + b"\n" + make_root("Last run's bundle").pem)
    return output


@pytest.mark.parametrize("how", ["own output", "marker in a copy", "own output not written yet"])
def test_our_own_output_in_ssl_cert_file_is_ignored(tmp_path: Path, how: str) -> None:
    store = Debian(tmp_path / "fs").build()
    output = own_output(tmp_path)
    pointed_at, own = {
        "own output": (output, (output,)),
        "marker in a copy": (tmp_path / "copy.pem", ()),
        "own output not written yet": (tmp_path / "out/new.pem", (tmp_path / "out/new.pem",)),
    }[how]
    if how == "marker in a copy":
        pointed_at.write_bytes(output.read_bytes())
    options = StoreOptions(environ={"SSL_CERT_FILE": str(pointed_at)}, own_outputs=own)
    result = linux.load(options, root=store.root)
    assert trusted(result) == hashes(*store.trusted)  # the default store instead
    assert result.problems == []
    assert result.notes[0].startswith(f"SSL_CERT_FILE={pointed_at} is a bundle this tool wrote")
    assert "honoured neither" in result.notes[1]


def test_our_own_output_in_ssl_cert_dir_is_ignored(tmp_path: Path) -> None:
    store = Debian(tmp_path / "fs").build()
    output = own_output(tmp_path)
    options = StoreOptions(environ={"SSL_CERT_DIR": str(output)}, own_outputs=(output,))
    result = linux.load(options, root=store.root)
    assert trusted(result) == hashes(*store.trusted)
    assert result.notes[0].startswith(f"SSL_CERT_DIR={output} is a bundle this tool wrote")


def test_our_own_output_in_a_distro_bundle_place_is_skipped(tmp_path: Path) -> None:
    # An admin pointed the tool's output at /etc/ssl/cert.pem: the next bundle is read.
    store = Debian(tmp_path).build()
    (store.certs / "ca-certificates.crt").unlink()
    written = place(tmp_path, "/etc/ssl/cert.pem", BUNDLE_MARKER + b"\n" + make_root().pem)
    fallback = place(tmp_path, "/etc/pki/tls/cert.pem", make_root("Fallback bundle").pem)
    result = linux.load(NO_ENV, root=tmp_path)
    assert f"{written} is a bundle this tool wrote: not read" in result.notes
    assert str(fallback) in {c.source for c in result.candidates}


# --- Broken stores ----------------------------------------------------------------------


def test_broken_entries_are_problems_naming_the_path(tmp_path: Path) -> None:
    store = Debian(tmp_path).build()
    certs = store.certs
    (certs / "deadbeef.0").symlink_to("/nonexistent/file.pem")
    (certs / "cafecafe.0").mkdir()
    (certs / "0000aaaa.0").symlink_to("0000aaaa.0")
    (certs / "badbad00.0").write_text(
        "-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n"
    )
    (certs / "e0e0e0e0.0").write_bytes(b"")
    os.mkfifo(certs / "f1f0f1f0.0")  # would block a naive reader forever
    (certs / "README").write_text("not a hash name: never read")
    result = linux.load(NO_ENV, root=tmp_path)
    assert problems(result) == {
        str(certs / "deadbeef.0"): "skipped: dangling symlink (to /nonexistent/file.pem)",
        str(certs / "cafecafe.0"): "skipped: a folder where a certificate file was expected",
        str(certs / "0000aaaa.0"): "skipped: symlink loop",
        f"{certs / 'badbad00.0'} (block 1)": "skipped: invalid base64",
        str(certs / "e0e0e0e0.0"): "skipped: empty file",
        str(certs / "f1f0f1f0.0"): "skipped: not a regular file",
    }
    assert trusted(result) == hashes(*store.trusted)  # the rest is still read
    assert certs / "deadbeef.0" in result.inputs  # fixing the link must trigger a run


def test_dangling_bundle_is_a_problem_and_the_next_one_is_read(tmp_path: Path) -> None:
    # Alpine without ca-certificates: /etc/ssl/cert.pem points at a missing bundle.
    dangling = link(tmp_path, "/etc/ssl/cert.pem", "certs/ca-certificates.crt")
    fallback = make_root("Next in the list")
    place(tmp_path, "/etc/pki/tls/cert.pem", fallback.pem)
    result = linux.load(NO_ENV, root=tmp_path)
    assert problems(result) == {
        str(dangling): "skipped: dangling symlink (to certs/ca-certificates.crt)"
    }
    assert trusted(result) == hashes(fallback)


def test_no_store_at_all(tmp_path: Path) -> None:
    result = linux.load(NO_ENV, root=tmp_path / "empty")
    assert result.candidates == []
    assert [p.message for p in result.problems] == [
        "no trust store found: nothing readable in the known bundle files or the known "
        "certificate folders (is the ca-certificates package installed?)"
    ]
    # Installing ca-certificates later must trigger a full run: the places are watched.
    assert tmp_path / "empty/etc/ssl/certs/ca-certificates.crt" in result.inputs


def test_empty_store_folder(tmp_path: Path) -> None:
    # A slim container image: openssl made /etc/ssl/certs, ca-certificates is not installed.
    (tmp_path / "etc/ssl/certs").mkdir(parents=True)
    result = linux.load(NO_ENV, root=tmp_path)
    assert [p.message for p in result.problems] == ["the trust store holds no trusted certificate"]


# --- This machine -----------------------------------------------------------------------


@pytest.mark.native
def test_this_machines_store_overlaps_certifi() -> None:
    """Reads the real store of the machine running the tests (root="/", no variables)."""
    result = linux.load(StoreOptions(environ={}))
    if not trusted(result):
        pytest.skip(f"this machine has no Linux trust store: {result.problems}")
    certifi = {c.certificate.sha256 for c in mozilla.load().candidates}
    overlap = len(certifi & trusted(result)) / len(certifi)
    assert overlap >= 0.5, f"only {overlap:.0%} of certifi's roots are in the OS store"
