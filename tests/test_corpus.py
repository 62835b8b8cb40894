"""The corpus of real-world oddities in tests/data/, each driven through the real code path.

pip config files go through the real CLI (``cli.main``) against a private HOME, and pip itself
(``python -m pip config --user list``) reads the result back. Certificate files go through the
file parser and, as SSL_CERT_FILE, through the Linux reader and the CLI. Folder oddities that
git cannot store (symlink loops, dangling links, a FIFO) are built in tmp_path and read
through SSL_CERT_DIR. See tests/data/README.md for what each case is and where it comes from.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import certifi
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from build_ca_bundle.certificates import Problem, Verdict, read_certificate_file
from build_ca_bundle.errors import ExitCode
from build_ca_bundle.sources import StoreOptions, linux
from tests.conftest import Home
from tests.data import make_corpus
from tests.pki import make_root
from tests.test_cli import Store, bundle_path, run, store

__all__ = ["store"]  # the fixture, imported for the tests below

DATA = Path(__file__).with_name("data")
PIP_DIR = DATA / "pip"
CERTS_DIR = DATA / "certs"


def root_sha256(stem: str) -> str:
    """The SHA-256 of a corpus root, computed by cryptography alone (not the tool's parser)."""
    cert = x509.load_pem_x509_certificate((DATA / "roots" / f"{stem}.pem").read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n(.*?)-----END CERTIFICATE-----", re.S)


def pem_sha256s(data: bytes) -> list[str]:
    """The SHA-256 of the DER in every CERTIFICATE block of a bundle, decoded by hand: not
    the tool's parser, and not cryptography's either (certifi holds a root it warns about)."""
    return [hashlib.sha256(base64.b64decode(body)).hexdigest() for body in _BLOCK.findall(data)]


# --- the corpus itself -------------------------------------------------------------------------


def test_make_corpus_regenerates_every_committed_file_byte_for_byte(tmp_path: Path) -> None:
    written = make_corpus.generate(tmp_path / "fresh")
    relative = sorted(path.relative_to(tmp_path / "fresh").as_posix() for path in written)
    committed = sorted(
        path.relative_to(DATA).as_posix()
        for folder in ("roots", "certs", "pip")
        for path in (DATA / folder).iterdir()
    )
    assert relative == committed  # no stale file left behind, none missing
    for name in relative:
        assert (tmp_path / "fresh" / name).read_bytes() == (DATA / name).read_bytes(), name


def test_every_case_has_a_readme_entry() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for folder in ("roots", "certs", "pip"):
        for path in (DATA / folder).iterdir():
            assert f"`{folder}/{path.name}`" in readme, f"{folder}/{path.name} is not described"
    for built in FOLDER_CASES:
        assert built.readme in readme


def test_committed_roots_are_valid_until_2045() -> None:
    for stem in make_corpus.ROOTS:
        cert = x509.load_pem_x509_certificate((DATA / "roots" / f"{stem}.pem").read_bytes())
        assert cert.not_valid_after_utc.year == 2045
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        expected = make_corpus.make_root(stem).public_key()
        assert cert.public_key().public_bytes(serialization.Encoding.DER, spki) == (
            expected.public_bytes(serialization.Encoding.DER, spki)
        )


# --- certificate files -------------------------------------------------------------------------


@dataclass(frozen=True)
class CertCase:
    name: str
    roots: tuple[str, ...]  # the corpus roots the file holds, in file order


CERT_CASES = [
    CertCase("crlf.pem", ("alpha", "beta")),
    CertCase("bom.pem", ("alpha",)),
    CertCase("bom-crlf.pem", ("beta",)),
    CertCase("mixed-endings.pem", ("alpha", "beta")),
    CertCase("showcerts.txt", ("beta", "alpha")),
    CertCase("text-dump.crt", ("wide",)),
    CertCase("one-line.pem", ("wide", "alpha")),
    CertCase("truncated.pem", ("beta",)),
]


@pytest.mark.parametrize("case", CERT_CASES, ids=lambda case: case.name)
def test_certificate_file_gives_the_right_certificates(case: CertCase) -> None:
    path = CERTS_DIR / case.name
    parsed, problems = read_certificate_file(path)
    assert [item.certificate.sha256 for item in parsed] == [root_sha256(s) for s in case.roots]
    assert all(problem.where.startswith(str(path)) for problem in problems)


@pytest.mark.parametrize("case", CERT_CASES, ids=lambda case: case.name)
def test_certificate_file_as_ssl_cert_file_through_the_cli(
    case: CertCase,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = CERTS_DIR / case.name
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    result = linux.load(StoreOptions(environ=dict(os.environ)))
    trusted = {c.certificate.sha256 for c in result.candidates if c.verdict is Verdict.TRUST}
    assert trusted == {root_sha256(stem) for stem in case.roots}
    assert all(p.where.startswith(str(path)) for p in result.problems if case.name in p.where)
    code, out, err = run(capsys, "--scope", "none")
    assert (code, err) == (0, "")
    written = set(pem_sha256s(bundle_path(isolated_home).read_bytes()))
    assert {root_sha256(stem) for stem in case.roots} <= written
    assert "Traceback" not in out


def test_a_block_cut_off_at_the_end_of_a_file_is_named_as_a_problem() -> None:
    path = CERTS_DIR / "truncated.pem"
    _, problems = read_certificate_file(path)
    assert [problem.where.startswith(str(path)) for problem in problems] == [True]
    assert "truncated" in problems[0].message


# --- pip config files --------------------------------------------------------------------------


def pip_config_list() -> subprocess.CompletedProcess[str]:
    """What pip itself reads from the user's config files (the isolated HOME)."""
    return subprocess.run(
        [sys.executable, "-m", "pip", "config", "--user", "list"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def file_values(listed: subprocess.CompletedProcess[str]) -> set[str]:
    """The ``section.key='value'`` lines pip read from files (not its ``:env:`` ones)."""
    return {line for line in listed.stdout.splitlines() if not line.startswith(":env:")}


def install_pip_conf(home: Home, name: str) -> tuple[Path, bytes]:
    original = (PIP_DIR / name).read_bytes()
    pip_conf = home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_bytes(original)
    return pip_conf, original


def assert_only_the_cert_line_was_added(before: bytes, after: bytes, bundle: Path) -> None:
    lines = after.splitlines(keepends=True)
    cert_lines = [line for line in lines if line.startswith(b"cert = ")]
    assert [line.rstrip(b"\r\n") for line in cert_lines] == [f"cert = {bundle}".encode()]
    assert [line for line in lines if line not in cert_lines] == before.splitlines(keepends=True)


ACCEPTED = [
    "crlf.conf",
    "mixed-endings.conf",
    "tabs.conf",
    "percent.conf",
    "continuation.conf",
    "long-line.conf",
]


@pytest.mark.e2e
@pytest.mark.parametrize("name", ACCEPTED)
def test_accepted_pip_conf_keeps_every_other_line_and_pip_reads_the_cert(
    name: str, store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    pip_conf, original = install_pip_conf(isolated_home, name)
    before = pip_config_list()
    assert before.returncode == 0, before.stderr
    assert file_values(before)  # pip read the file: the comparison below is not vacuous
    code, _, err = run(capsys)
    assert (code, err) == (0, "")
    bundle = bundle_path(isolated_home)
    after_bytes = pip_conf.read_bytes()
    assert_only_the_cert_line_was_added(original, after_bytes, bundle)
    assert pip_conf.with_name("pip.conf.bak").read_bytes() == original
    # pip reads every value it read before, plus our cert; so does configparser.
    after = pip_config_list()
    assert after.returncode == 0, after.stderr
    assert file_values(after) == {
        *file_values(before),
        f"global.cert='{bundle}'",
    }
    parser = configparser.RawConfigParser()
    parser.read_string(after_bytes.decode())
    assert parser.get("global", "cert") == str(bundle)


def test_percent_signs_are_literal_as_pip_reads_them(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    pip_conf, _ = install_pip_conf(isolated_home, "percent.conf")
    assert run(capsys)[0] == 0
    parser = configparser.RawConfigParser()  # pip's parser: no interpolation
    parser.read_string(pip_conf.read_text())
    assert parser.get("global", "index-url") == "https://ana:p%40ss%25w0rd@pypi.corp.example/simple"
    assert parser.get("global", "log") == "/var/log/pip/%(user)s-%%.log"
    interpolating = configparser.ConfigParser()  # what pip does not use, and why it matters
    interpolating.read_string(pip_conf.read_text())
    with pytest.raises(configparser.InterpolationError):
        interpolating.get("global", "log")


@pytest.mark.e2e
def test_bom_is_removed_with_a_backup_and_pip_reads_the_file_again(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    pip_conf, original = install_pip_conf(isolated_home, "bom.conf")
    assert pip_config_list().returncode != 0  # pip fails on every command while it has a BOM
    code, _, err = run(capsys)
    assert (code, err) == (0, "")
    bundle = bundle_path(isolated_home)
    assert_only_the_cert_line_was_added(
        original.removeprefix(make_corpus.BOM), pip_conf.read_bytes(), bundle
    )
    assert pip_conf.with_name("pip.conf.bak").read_bytes() == original
    after = pip_config_list()
    assert after.returncode == 0, after.stderr
    assert file_values(after) == {
        f"global.index-url='{make_corpus.INDEX}'",
        "global.timeout='60'",
        f"global.cert='{bundle}'",
    }


REJECTED = [
    ("duplicate-section.conf", 4),
    ("duplicate-key.conf", 4),
    ("duplicate-key-spellings.conf", 3),
]


@pytest.mark.e2e
@pytest.mark.parametrize(("name", "line"), REJECTED, ids=[name for name, _ in REJECTED])
def test_rejected_pip_conf_is_left_byte_for_byte_with_exit_3_naming_file_and_line(
    name: str,
    line: int,
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pip_conf, original = install_pip_conf(isolated_home, name)
    pip_itself = pip_config_list()
    assert pip_itself.returncode != 0  # pip refuses it too: we agree with pip
    assert f"line  {line}" in pip_itself.stderr or f"line: {line}" in pip_itself.stderr
    code, _, err = run(capsys)
    assert code == ExitCode.CONFIG
    assert str(pip_conf) in err
    assert f"line {line}" in err
    assert "Traceback" not in err
    assert pip_conf.read_bytes() == original
    assert not pip_conf.with_name("pip.conf.bak").exists()
    assert not bundle_path(isolated_home).exists()


# --- folder oddities, built at test time ---------------------------------------------------------


@dataclass(frozen=True)
class FolderCase:
    id: str
    readme: str  # how tests/data/README.md names it
    build: Callable[[Path, Path], tuple[str, list[Problem]]]  # (folder, good file) -> env, problems


def _symlink_loop(folder: Path, good: Path) -> tuple[str, list[Problem]]:
    (folder / "a1b2c3d4.0").symlink_to("a1b2c3d4.1")
    (folder / "a1b2c3d4.1").symlink_to("a1b2c3d4.0")
    return "dir", [
        Problem(str(folder / "a1b2c3d4.0"), "skipped: symlink loop"),
        Problem(str(folder / "a1b2c3d4.1"), "skipped: symlink loop"),
    ]


def _folder_for_file(folder: Path, good: Path) -> tuple[str, list[Problem]]:
    (folder / "12345678.0").mkdir()
    return "dir", [
        Problem(
            str(folder / "12345678.0"), "skipped: a folder where a certificate file was expected"
        )
    ]


def _cert_file_is_a_folder(folder: Path, good: Path) -> tuple[str, list[Problem]]:
    return "file-is-folder", [
        Problem(str(folder), "skipped: a folder where a certificate file was expected")
    ]


def _cert_dir_is_a_file(folder: Path, good: Path) -> tuple[str, list[Problem]]:
    return "dir-is-file", [
        Problem(str(good), "skipped: a file where a certificate folder was expected")
    ]


def _dangling(folder: Path, good: Path) -> tuple[str, list[Problem]]:
    (folder / "corp.pem").write_bytes(make_root("Removed Corp Root").pem)
    (folder / "deadbeef.0").symlink_to("corp.pem")
    (folder / "corp.pem").unlink()  # removed without re-running update-ca-certificates
    return "dir", [Problem(str(folder / "deadbeef.0"), "skipped: dangling symlink (to corp.pem)")]


def _fifo(folder: Path, good: Path) -> tuple[str, list[Problem]]:
    os.mkfifo(folder / "f1f0f1f0.0")
    return "dir", [Problem(str(folder / "f1f0f1f0.0"), "skipped: not a regular file")]


FOLDER_CASES = [
    FolderCase("symlink-loop", "symlink loop", _symlink_loop),
    FolderCase("folder-named-like-a-cert", "folder where a file was expected", _folder_for_file),
    FolderCase(
        "ssl-cert-file-is-a-folder", "`SSL_CERT_FILE` naming a folder", _cert_file_is_a_folder
    ),
    FolderCase("ssl-cert-dir-is-a-file", "`SSL_CERT_DIR` naming a file", _cert_dir_is_a_file),
    FolderCase("dangling-link", "file that vanishes", _dangling),
    FolderCase("fifo", "named pipe", _fifo),
]


@pytest.mark.skipif(os.name != "posix", reason="symlinks and FIFOs as on Linux")
@pytest.mark.parametrize("case", FOLDER_CASES, ids=lambda case: case.id)
def test_linux_reader_finishes_names_the_problem_and_keeps_the_good_certificates(
    case: FolderCase,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    in_folder = make_root("Good Root In The Folder")
    in_file = make_root("Good Root In The File")
    folder = tmp_path / "certs"
    folder.mkdir()
    in_folder.write(folder / "good.pem")
    (folder / f"{in_folder.hash_name}.0").symlink_to("good.pem")
    good_file = in_file.write(tmp_path / "bundle.pem")
    mode, expected = case.build(folder, good_file)
    cert_file, cert_dir = {
        "dir": (good_file, folder),
        "file-is-folder": (folder, folder),
        "dir-is-file": (good_file, good_file),
    }[mode]
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(cert_dir))
    good = {"dir": {in_folder, in_file}, "file-is-folder": {in_folder}, "dir-is-file": {in_file}}
    wanted = {issued.sha256 for issued in good[mode]}

    result = linux.load(StoreOptions(environ=dict(os.environ)))
    trusted = {c.certificate.sha256 for c in result.candidates if c.verdict is Verdict.TRUST}
    assert trusted == wanted
    for problem in expected:
        assert problem in result.problems

    code, out, err = run(capsys, "--scope", "none")
    assert (code, err) == (0, "")
    for problem in expected:
        assert f"  {problem}" in out.splitlines()
    assert wanted <= set(pem_sha256s(bundle_path(isolated_home).read_bytes()))


def test_certifi_is_untouched_by_the_corpus() -> None:
    # The corpus roots are test roots: none may be a real public root.
    public = set(pem_sha256s(Path(certifi.where()).read_bytes()))
    assert not public & {root_sha256(stem) for stem in make_corpus.ROOTS}
