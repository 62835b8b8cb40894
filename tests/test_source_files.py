"""Extra CA files and folders (--extra-ca), and certifi's bundle."""

from __future__ import annotations

from pathlib import Path

import certifi

from build_ca_bundle.certificates import BUNDLE_MARKER, SERVER_AUTH, SourceKind, Verdict
from build_ca_bundle.sources import files, mozilla
from tests.pki import make_root, trusted_certificate


def test_files_and_folders_are_read(tmp_path: Path) -> None:
    single = make_root("Single PEM")
    der = make_root("DER in folder")
    pem = make_root("PEM in folder")
    folder = tmp_path / "corp-roots"
    single.write(tmp_path / "single.pem")
    der.write(folder / "b.cer", pem=False)
    pem.write(folder / "a.crt")
    (folder / "README.txt").write_text("how to install these roots")
    result = files.load([tmp_path / "single.pem", folder])
    assert result.kind is SourceKind.EXTRA
    assert {c.certificate.label for c in result.candidates} == {
        "Single PEM",
        "DER in folder",
        "PEM in folder",
    }
    assert all(c.verdict is Verdict.TRUST for c in result.candidates)
    assert result.problems == []  # README.txt is not a certificate file name: not read


def test_what_a_folder_holds_but_is_not_read_is_named(tmp_path: Path) -> None:
    """An IT-provided root must not go missing without a word: a root file named without a
    certificate suffix, or one in a subfolder, was passed over in silence (exit 0)."""
    folder = tmp_path / "corp-roots"
    make_root("Read").write(folder / "a.pem")
    make_root("No Suffix").write(folder / "CorpRootCA")
    make_root("Text Suffix").write(folder / "corp-root.pem.txt")
    make_root("In A Subfolder").write(folder / "site-b" / "root.pem")
    (folder / "README.txt").write_text("how to install these roots")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    result = files.load([folder])
    assert [c.certificate.label for c in result.candidates] == ["Read"]
    reasons = {Path(p.where).name: p.message for p in result.problems}
    assert set(reasons) == {"CorpRootCA", "corp-root.pem.txt", "site-b"}
    assert "rename it" in reasons["CorpRootCA"]
    assert "name it to read it too" in reasons["site-b"]


def test_missing_path_and_broken_file_are_problems(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    result = files.load([tmp_path / "absent.pem", broken])
    assert result.candidates == []
    assert [p.where for p in result.problems] == [
        str(tmp_path / "absent.pem"),
        f"{broken} (block 1)",
    ]


def test_trusted_certificate_flags_are_honoured(tmp_path: Path) -> None:
    rejected = make_root("Rejected")
    path = tmp_path / "flags.pem"
    path.write_bytes(
        trusted_certificate(rejected, reject=[SERVER_AUTH])
        + trusted_certificate(make_root("Trusted"), trust=[SERVER_AUTH])
    )
    verdicts = {c.certificate.label: c.verdict for c in files.load([path]).candidates}
    assert verdicts == {"Rejected": Verdict.DISTRUST, "Trusted": Verdict.TRUST}


def test_our_own_output_is_never_read_back(tmp_path: Path) -> None:
    output = tmp_path / "ca-bundle.pem"
    output.write_bytes(BUNDLE_MARKER + b"\n" + make_root().pem)
    copy = tmp_path / "copy.pem"
    copy.write_bytes(output.read_bytes())
    result = files.load([output, copy], own_outputs=[output])
    assert result.candidates == []
    assert [p.message for p in result.problems] == [
        "skipped: this is our own output bundle",
        "skipped: a bundle written by build-ca-bundle",
    ]


def test_certifi_is_read_whole() -> None:
    result = mozilla.load()
    assert result.kind is SourceKind.BASE
    assert result.inputs == [Path(certifi.where())]
    assert result.problems == []
    expected = Path(certifi.where()).read_bytes().count(b"-----BEGIN CERTIFICATE-----")
    assert len(result.candidates) == expected > 100


def test_a_named_path_that_holds_no_certificate_at_all_is_unread(tmp_path: Path) -> None:
    """An empty file, a folder of subfolders only, an empty folder: each said "skipped" and
    the run went on without the roots it used to give (a share not mounted yet). Now each
    is unread, which changes nothing (exit 3), and so is a file of nothing but bad blocks (a
    download cut short), each for its own reason: the bundle kept the root it gave before."""
    empty = tmp_path / "empty.pem"
    empty.touch()
    nested = tmp_path / "nested"
    make_root("Deeper").write(nested / "inner" / "root.pem")
    hollow = tmp_path / "hollow"
    hollow.mkdir()
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    result = files.load([empty, nested, hollow, broken])
    said = {p.where: p.message for p in result.unread}
    assert list(said) == [str(empty), str(nested / "inner"), str(hollow), f"{broken} (block 1)"]
    assert "gave no certificate" in said[str(empty)] and "not mounted yet?" in said[str(empty)]
    assert said[str(nested / "inner")].startswith("skipped: a folder inside an --extra-ca folder")
    assert "gave no certificate" in said[str(hollow)]
    assert said[f"{broken} (block 1)"].startswith("skipped: not a valid X.509 certificate")


def test_a_bad_block_beside_good_ones_is_skipped_and_the_rest_is_read(tmp_path: Path) -> None:
    """Only a file that gave nothing stops the run: one bad block among good ones is said."""
    mixed = tmp_path / "mixed.pem"
    good = make_root("Good")
    mixed.write_bytes(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n" + good.pem)
    result = files.load([mixed])
    assert result.unread == []
    assert [p.where for p in result.problems] == [f"{mixed} (block 1)"]
    assert [c.certificate.sha256 for c in result.candidates] == [good.sha256]
