"""The command line, called as ``main([...])`` the way a user runs it.

The OS store here is a test store named by SSL_CERT_FILE and SSL_CERT_DIR, which the Linux
reader honours as OpenSSL does: the same code path a user with those variables takes.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from build_ca_bundle import cli, history, manifest, openssl, pipeline
from build_ca_bundle.certificates import parse_der
from build_ca_bundle.errors import BundleError, ConfigError, ExitCode
from build_ca_bundle.targets import Change, Plan, backup_of
from tests import fake_tool
from tests.conftest import Home
from tests.pki import Issued, make_expired_root, make_root, refused_by_openssl


@dataclass
class Store:
    file: Path
    folder: Path
    corporate: Issued

    def add(self, issued: Issued, name: str) -> Path:
        """Install a certificate the way c_rehash does: the file, and a hash-named link."""
        path = issued.write(self.folder / name)
        (self.folder / f"{issued.hash_name}.0").symlink_to(name)
        return path


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A Linux-style store holding one corporate root, named by SSL_CERT_FILE/SSL_CERT_DIR."""
    corporate = make_root("Example Corp TLS Inspection Root", organization="Example Corp")
    file = tmp_path / "store" / "ca-certificates.crt"
    file.parent.mkdir()
    file.write_bytes(corporate.pem)
    folder = tmp_path / "store" / "certs"
    folder.mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", str(file))
    monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    return Store(file, folder, corporate)


def bundle_path(home: Home) -> Path:
    return home.data / "build-ca-bundle" / "ca-bundle.pem"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["--no-verify", *args] if args[:1] != ("--check",) else list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bare_run_writes_the_bundle_and_points_pip_at_it(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys)
    assert (code, err) == (0, "")
    bundle = bundle_path(isolated_home)
    text = bundle.read_text(encoding="ascii")
    assert store.corporate.pem.decode().strip() in text
    assert text.count("-----BEGIN CERTIFICATE-----") > 100  # certifi's roots too
    assert f"wrote {bundle}" in out
    assert "Example Corp TLS Inspection Root" in out
    assert store.corporate.sha256 in out
    pip_conf = isolated_home.pip_user_config
    assert pip_conf.read_text() == f"[global]\ncert = {bundle}\n"
    assert f"pip: set {pip_conf}: global.cert: (unset) -> {bundle}" in out
    extra = bundle.with_name("extra-roots.pem").read_text()
    assert extra.count("-----BEGIN CERTIFICATE-----") == 1
    assert store.corporate.pem.decode().strip() in extra


def test_second_run_changes_nothing_and_says_so(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys)[0] == 0
    bundle = bundle_path(isolated_home)
    before = {path: path.stat().st_mtime_ns for path in bundle.parent.iterdir()}
    pip_before = isolated_home.pip_user_config.stat().st_mtime_ns
    code, out, _ = run(capsys)
    assert code == 0
    assert out.startswith(f"bundle unchanged: {bundle}")
    assert "nothing to do" in out
    assert {path: path.stat().st_mtime_ns for path in bundle.parent.iterdir()} == before
    assert isolated_home.pip_user_config.stat().st_mtime_ns == pip_before


def test_a_new_root_in_the_store_triggers_a_full_run(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys)[0] == 0
    second = make_root("Second Corp Root")
    store.add(second, "2nd.pem")
    code, out, _ = run(capsys)
    assert code == 0
    assert f"wrote {bundle_path(isolated_home)}" in out
    assert second.pem.decode().strip() in bundle_path(isolated_home).read_text()


def test_dry_run_writes_nothing(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--dry-run")
    assert code == 0
    assert "would write" in out
    assert "pip: would set" in out
    assert "would create the file" in out  # not "created the file": nothing was
    assert "created the file" not in out.replace("would create the file", "")
    (change,) = json.loads(run(capsys, "--dry-run", "--json")[1])["changes"]
    assert (change["notes"], change["applied"]) == (["would create the file"], False)
    assert not bundle_path(isolated_home).exists()
    assert not isolated_home.pip_user_config.exists()


def test_an_extra_ca_path_that_cannot_be_read_changes_nothing(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped path left the corporate root out of every machine with exit 0; and a
    share not mounted yet at logon rebuilt the bundle without the roots it had given. Now
    nothing changes (exit 3), said on stderr even with --quiet, and the bundle from before
    keeps its roots. A bad certificate in a file that was read is still only skipped."""
    share = tmp_path / "share"
    corp = make_root("Root On The Share")
    corp.write(share / "corp.pem")
    assert run(capsys, "--quiet", "--extra-ca", str(share))[0] == 0
    before = bundle_path(isolated_home).read_bytes()
    share.rename(tmp_path / "unmounted")
    for _ in range(2):  # and not taken as unchanged the second time
        code, out, err = run(capsys, "--quiet", "--extra-ca", str(share))
        assert (code, out) == (ExitCode.CONFIG, "")
        assert f"could not be read, so nothing was changed: {share} (skipped: no such" in err
        assert err.count(str(share)) == 1
    assert bundle_path(isolated_home).read_bytes() == before
    assert corp.pem.decode().strip() in before.decode()  # its roots kept, not dropped

    # The share's mount point, empty while it is not mounted; a folder of links into it.
    share.mkdir()
    links = tmp_path / "links"
    links.mkdir()
    (links / "corp.pem").symlink_to(tmp_path / "unmounted" / "corp.pem")
    (tmp_path / "unmounted").rename(tmp_path / "away")
    for named, said in ((share, "gave no certificate"), (links, "a link to a file that is not")):
        code, _, err = run(capsys, "--quiet", "--extra-ca", str(named))
        assert code == ExitCode.CONFIG, named
        assert said in err
    assert bundle_path(isolated_home).read_bytes() == before
    share.rmdir()
    (tmp_path / "away").rename(share)
    (share / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n")
    code, _, err = run(capsys, "--quiet", "--extra-ca", str(share))
    assert code == 0
    assert f"{share / 'broken.pem'} (block 1): not in the bundle: truncated PEM block" in err
    # A file of nothing but broken blocks, named alone (a download cut short), gave nothing:
    # built without it, the bundle would lose the root it gave before.
    code, _, err = run(capsys, "--quiet", "--extra-ca", str(share / "broken.pem"))
    assert code == ExitCode.CONFIG
    assert f"nothing was changed: {share / 'broken.pem'} (block 1) (skipped: truncated" in err
    assert bundle_path(isolated_home).read_bytes() == before


def test_an_extra_ca_file_cut_short_in_a_root_the_bundle_has_changes_nothing(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A download of corp.pem cut short in its second root: the rebuild dropped that root,
    exit 0, with one error line; the same in a folder --extra-ca names. A file that gave
    nothing at all was refused already; now so is one that loses a root the bundle had."""
    first, second = make_root("Corp Root A"), make_root("Corp Root B")
    whole = first.pem + second.pem
    corp = tmp_path / "corp.pem"
    corp.write_bytes(whole)
    folder = tmp_path / "roots"
    folder.mkdir()
    (folder / "a.pem").write_bytes(make_root("Corp Root C").pem)
    (folder / "b.pem").write_bytes(second.pem)
    for named, damaged in ((corp, corp), (folder, folder / "b.pem")):
        assert run(capsys, "--quiet", "--extra-ca", str(named))[0] == 0
        before = bundle_path(isolated_home).read_bytes()
        good = damaged.read_bytes()
        damaged.write_bytes(good[: len(good) - 200])  # cut in the last root's base64
        code, out, err = run(capsys, "--quiet", "--extra-ca", str(named))
        assert (code, out) == (ExitCode.CONFIG, "")
        assert f"{damaged} (block " in err
        assert (
            "a rebuild would drop the 1 root(s) the bundle has from that file (Corp Root B)" in err
        )
        assert bundle_path(isolated_home).read_bytes() == before
        damaged.write_bytes(good)


def test_an_extra_ca_file_whose_every_certificate_is_left_out_is_an_error(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--extra-ca old-corp.pem` holding only an expired root: left out, exit 0, and under
    --quiet not a word, though the root IT meant was not in the bundle."""
    expired = tmp_path / "old-corp.pem"
    expired.write_bytes(make_expired_root("Old Corp Root").pem)
    code, out, err = run(capsys, "--quiet", "--extra-ca", str(expired))
    assert (code, out) == (0, "")
    assert f"error: {expired}: gave no root to the bundle: every certificate in it was left" in err
    assert "Old Corp Root: expired on" in err
    assert run(capsys, "--quiet", "--extra-ca", str(expired), "--keep-expired")[2] == ""


def test_pin_without_from_server_is_a_usage_error_not_ignored(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """Alone, --pin pinned nothing and said nothing: the admin thought the root trusted."""
    with pytest.raises(SystemExit) as usage:
        run(capsys, "--pin", "ab" * 32)
    assert usage.value.code == ExitCode.USAGE
    assert "--pin needs --from-server" in capsys.readouterr().err
    assert not bundle_path(isolated_home).exists()


def test_json_output_is_one_object_with_the_documented_keys(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--json")
    assert code == 0
    payload = json.loads(out)
    assert set(payload) >= {
        "format",
        "dry_run",
        "bundle",
        "sources",
        "beyond_certifi",
        "excluded",
        "problems",
        "changes",
        "findings",
        "exit_code",
    }
    assert payload["bundle"]["path"] == str(bundle_path(isolated_home))
    assert payload["bundle"]["changed"] is True
    assert [item["sha256"] for item in payload["beyond_certifi"]] == [store.corporate.sha256]
    (change,) = payload["changes"]
    assert (change["target"], change["key"], change["old"]) == ("pip", "global.cert", None)
    names = [source["name"] for source in payload["sources"]]
    assert names[:2] == ["certifi", "linux"]


def test_korean_subject_is_escaped_and_the_bundle_stays_ascii(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    korean = make_root("한국 사내 루트 CA", organization="예시 주식회사")
    store.add(korean, "korean.pem")
    assert run(capsys)[0] == 0
    data = bundle_path(isolated_home).read_bytes()
    data.decode("ascii")  # raises if anything is not ASCII
    assert korean.pem.strip() in data


def _run_on_a_cp1252_pipe(*args: str) -> subprocess.CompletedProcess[bytes]:
    """The tool as Windows runs it with stdout piped (ConvertFrom-Json, CI): Python then
    writes the pipe in the ANSI code page."""
    environ = dict(os.environ, PYTHONIOENCODING="cp1252")
    command = [sys.executable, "-m", "build_ca_bundle", "--no-verify", *args]
    return subprocess.run(command, env=environ, capture_output=True, check=False)


def test_json_is_one_object_on_a_pipe_that_cannot_hold_every_name(
    store: Store, isolated_home: Home
) -> None:
    """Windows, stdout piped: a root named "NetLock Arany (Class Gold) Főtanúsítvány" (in
    Wine's own store) ended the JSON mid-way with a UnicodeEncodeError, exit 1."""
    store.add(make_root("NetLock Arany (Class Gold) Főtanúsítvány"), "netlock.pem")
    completed = _run_on_a_cp1252_pipe("--json")
    assert completed.returncode == 0, completed.stderr
    payload = json.loads(completed.stdout.decode("cp1252"))
    labels = [entry["label"] for entry in payload["beyond_certifi"]]
    assert "NetLock Arany (Class Gold) Főtanúsítvány" in labels


def test_a_path_the_console_cannot_hold_is_escaped_in_words_and_refused_for_shells(
    store: Store, isolated_home: Home, tmp_path: Path
) -> None:
    """A Korean profile on a cp1252 console: the unchanged run, --check and env crashed
    (exit 1). Words may escape what the console cannot show; a shell line must not, or
    it names another path: env refuses, with the reason."""
    output = tmp_path / "김민준" / "ca-bundle.pem"
    assert _run_on_a_cp1252_pipe("--scope", "none", "--output", str(output)).returncode == 0
    unchanged = _run_on_a_cp1252_pipe("--scope", "none", "--output", str(output))
    assert unchanged.returncode == 0, unchanged.stderr
    assert b"bundle unchanged: " in unchanged.stdout
    assert b"\\uae40" in unchanged.stdout  # escaped, not lost
    check = _run_on_a_cp1252_pipe("--check", "--scope", "none", "--output", str(output))
    assert (check.returncode, check.stdout.startswith(b"current: ")) == (0, True)
    for shell in ("sh", "powershell", "cmd"):
        printed = _run_on_a_cp1252_pipe("env", "--shell", shell, "--output", str(output))
        assert printed.returncode == ExitCode.BUNDLE, printed.stderr
        assert printed.stdout == b""
        assert b"cannot be written in cp1252" in printed.stderr


def test_azure_gets_its_variables_exactly_or_a_reason_on_a_cp1252_pipe(
    store: Store, isolated_home: Home, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Azure reads ##vso commands from stdout: a path the pipe cannot hold was a traceback."""
    monkeypatch.setenv("TF_BUILD", "True")
    output = tmp_path / "김민준" / "ca-bundle.pem"
    completed = _run_on_a_cp1252_pipe("--ci", "--scope", "none", "--output", str(output))
    assert completed.returncode == ExitCode.BUNDLE, completed.stderr
    assert b"no variables exported to Azure Pipelines" in completed.stderr
    assert b"##vso" not in completed.stdout
    assert b"Traceback" not in completed.stderr
    plain = _run_on_a_cp1252_pipe("--ci", "--scope", "none", "--output", str(tmp_path / "b.pem"))
    assert plain.returncode == 0
    assert plain.stdout.count(b"##vso[task.setvariable") == 7


def test_expired_and_leaf_certificates_are_left_out_and_reported(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    expired = make_expired_root()
    leaf = store.corporate.issue("server.example")
    store.add(expired, "expired.pem")
    store.add(leaf, "leaf.pem")
    code, out, _ = run(capsys)
    assert code == 0
    text = bundle_path(isolated_home).read_text()
    assert expired.pem.decode().strip() not in text
    assert leaf.pem.decode().strip() not in text
    assert "expired on" in out
    assert "not a CA certificate" in out
    # The source's count says so too, not "2 trusted" alone above "left out".
    assert re.search(r"^  linux: \d+ trusted \(2 of them left out, below\)$", out, re.M), out
    assert run(capsys, "--keep-expired")[0] == 0
    assert expired.pem.decode().strip() in bundle_path(isolated_home).read_text()
    # The kept root had expired already: that made every run a full one and --check stale.
    code, out, _ = run(capsys, "--keep-expired")
    assert (code, out.split(":")[0]) == (0, "bundle unchanged")
    assert run(capsys, "--keep-expired", "--check")[0] == ExitCode.OK


def test_unparsable_pip_conf_is_reported_and_left_byte_identical(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    original = b"[global]\ntimeout = 60\nthis line is not valid\n"
    pip_conf.write_bytes(original)
    code, _, err = run(capsys)
    assert code == ExitCode.CONFIG
    assert str(pip_conf) in err
    assert "line 3" in err
    assert pip_conf.read_bytes() == original
    assert not bundle_path(isolated_home).exists()  # refused before anything was written
    assert "Traceback" not in err


def test_no_os_roots_is_refused_instead_of_a_certifi_only_bundle(
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-folder"))
    code, _, err = run(capsys)
    assert code == ExitCode.NO_CERTIFICATES
    assert "the OS trust store yielded no certificates" in err
    assert "hint:" in err
    assert not bundle_path(isolated_home).exists()


def test_required_root_missing_changes_nothing(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    absent = make_root("Not Installed Yet").sha256
    code, _, err = run(capsys, "--require", absent)
    assert code == ExitCode.REQUIRED_MISSING
    assert absent in err
    assert not bundle_path(isolated_home).exists()
    assert not isolated_home.pip_user_config.exists()
    assert "not enrolled?" in err
    # "Nothing was changed": not even the data folder and the run lock made for the run.
    assert not bundle_path(isolated_home).parent.exists()
    # Required and excluded: found, and left out on purpose. "Not enrolled yet?" sent IT
    # looking for a root the machine has.
    corporate = store.corporate.sha256
    code, _, err = run(capsys, "--require", corporate, "--exclude", corporate)
    assert code == ExitCode.REQUIRED_MISSING
    label = parse_der(store.corporate.der).label
    assert f"{corporate} ({label}: found, but left out: excluded by fingerprint)" in err
    assert "cannot be both required and left out" in err
    assert "not enrolled?" not in err
    fingerprint = ":".join(store.corporate.sha256[i : i + 2].upper() for i in range(0, 64, 2))
    assert run(capsys, "--require", fingerprint)[0] == 0


def test_extra_ca_folder_and_exclude(
    store: Store, tmp_path: Path, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    handed_out = make_root("Root IT Handed Out")
    handed_out.write(tmp_path / "it" / "root.crt")
    code, out, _ = run(
        capsys, "--extra-ca", str(tmp_path / "it"), "--exclude", store.corporate.sha256
    )
    assert code == 0
    text = bundle_path(isolated_home).read_text()
    assert handed_out.pem.decode().strip() in text
    assert store.corporate.pem.decode().strip() not in text
    assert "excluded by fingerprint" in out


def test_check_reports_stale_then_current(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--check")
    assert code == ExitCode.STALE
    assert out.startswith("stale: ")
    # --quiet: errors only, and "stale" is the answer, not an error: the exit code says it.
    assert run(capsys, "--check", "--quiet") == (ExitCode.STALE, "", "")
    assert run(capsys)[0] == 0
    assert run(capsys, "--check")[0] == 0
    isolated_home.pip_user_config.write_text("[global]\ncert = /somewhere/else.pem\n")
    code, out, _ = run(capsys, "--check")
    assert code == ExitCode.STALE
    assert str(isolated_home.pip_user_config) in out


def test_the_same_options_spelled_otherwise_find_the_run_current(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """An IT check written as `--scope user --check` after a bare logon run said stale
    (exit 10), and a run with it rebuilt: the argv differed, the options did not."""
    # Roots only this file holds, one expired: without it, or with --keep-expired, a run
    # would write another bundle.
    extra_file = isolated_home.root / "extra.pem"
    extra_file.write_bytes(make_root("Only In The Extra File").pem + make_expired_root().pem)
    extra = ["--extra-ca", str(extra_file)]
    assert run(capsys, *extra)[0] == 0
    written = {path: path.stat().st_mtime_ns for path in isolated_home.root.rglob("*")}
    for spelled in (
        ["--scope", "user", *extra, "--check"],
        ["--check", f"--extra-ca={extra_file}", "--scope=user"],
    ):
        assert run(capsys, *spelled)[:2] == (
            ExitCode.OK,
            f"current: {bundle_path(isolated_home)}\n",
        )
    code, out, _ = run(capsys, "--scope=user", f"--extra-ca={extra_file}")
    assert (code, out.split(":")[0]) == (0, "bundle unchanged")
    assert {path: path.stat().st_mtime_ns for path in isolated_home.root.rglob("*")} == written
    assert run(capsys, "--scope", "user", "--check")[0] == ExitCode.STALE  # no --extra-ca
    assert run(capsys, *extra, "--keep-expired", "--check")[0] == ExitCode.STALE

    excluded = make_root("Excluded By Fingerprint").sha256
    assert run(capsys, *extra, "--exclude", excluded, "--configure", "pip,uv")[0] == 0
    shouted = ":".join(excluded[i : i + 2] for i in range(0, 64, 2)).upper()
    for spelled in (
        [*extra, "--exclude", shouted, "--configure", "uv,pip"],
        [
            *extra,
            "--exclude",
            excluded,
            "--configure",
            "pip,uv",
            "-o",
            str(bundle_path(isolated_home)),
        ],
    ):
        assert run(capsys, *spelled, "--check")[0] == ExitCode.OK, spelled


def test_a_file_this_tool_did_not_write_is_never_replaced_or_removed(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--output ~/.bashrc` replaced the file with a bundle, and `undo --output notes.txt`
    deleted whatever was there: neither kept a copy. A bundle of ours edited by hand is
    still rebuilt (its record is beside it), and an empty file holds nothing to lose."""
    bashrc = isolated_home.home / ".bashrc"
    bashrc.write_text("export EDITOR=vi\n")
    code, _, err = run(capsys, "--scope", "none", "--output", str(bashrc))
    assert code == ExitCode.BUNDLE
    assert f"{bashrc} holds a file this tool did not write" in err
    assert bashrc.read_text() == "export EDITOR=vi\n"
    assert sorted(p.name for p in bashrc.parent.iterdir()) == [".bashrc"]  # no lock, no temp

    roots = tmp_path / "certs" / "extra-roots.pem"  # where the side file of ca-bundle.pem goes
    make_root("Someone's Own Root").write(roots)
    code, _, err = run(capsys, "--scope", "none", "--output", str(roots.with_name("ca-bundle.pem")))
    assert code == ExitCode.BUNDLE
    assert f"{roots} holds a file this tool did not write" in err
    assert not roots.with_name("ca-bundle.pem").exists()

    pinned = tmp_path / "own" / "pinned-roots.pem"  # the side file of own/ca-bundle.pem
    make_root("Trusted Nowhere").write(pinned)
    mine = pinned.read_bytes()
    code, _, err = run(capsys, "--scope", "none", "-o", str(pinned.with_name("ca-bundle.pem")))
    assert code == ExitCode.BUNDLE  # it was trusted, then rewritten with our header
    assert f"{pinned} holds a file this tool did not write" in err
    assert pinned.read_bytes() == mine

    notes = tmp_path / "notes.txt"
    notes.write_text("precious\n")
    code, out, _ = run(capsys, "--output", str(notes), "undo")
    assert code == 0
    assert f"left alone: {notes} (this tool did not write it)" in out
    assert notes.read_text() == "precious\n"

    ours = tmp_path / "ours.pem"
    ours.touch()  # empty: nothing to lose
    assert run(capsys, "--scope", "none", "--output", str(ours))[0] == 0
    ours.write_text("edited by hand\n")  # ours, with its record beside it: rebuilt
    assert run(capsys, "--scope", "none", "--output", str(ours))[0] == 0
    assert ours.read_text().startswith("# This CA bundle was written by build-ca-bundle.")
    ours.write_text("edited by hand\n")
    code, out, _ = run(capsys, "--scope", "none", "--output", str(ours), "undo")
    assert (code, ours.exists()) == (0, False), out


def test_dry_run_and_check_never_write_before_a_command(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--dry-run undo` undid everything (the flag was taken, then ignored), and
    `--dry-run doctor --fix` removed trusted-host lines. Undo has a real dry run now; the
    other commands refuse the flags instead of ignoring them."""
    assert run(capsys)[0] == 0
    pip_conf = isolated_home.pip_user_config
    before = {path: path.read_bytes() for path in isolated_home.root.rglob("*") if path.is_file()}
    for spelled in (["--dry-run", "undo"], ["undo", "--dry-run"]):
        code, out, _ = run(capsys, *spelled)
        assert code == 0
        assert f"pip: {pip_conf}: global.cert: would put back (unset), unless changed since" in out
        assert f"would remove {bundle_path(isolated_home)}" in out
    assert json.loads(run(capsys, "undo", "--dry-run", "--json")[1])["dry_run"] is True
    after = {path: path.read_bytes() for path in isolated_home.root.rglob("*") if path.is_file()}
    assert after == before
    for refused, usage_of, said in (
        (["--check", "undo"], " undo", "--check is for the build itself; undo does not take it"),
        (["--dry-run", "doctor", "--fix"], " doctor", "doctor --fix has no dry run"),
        (["--dry-run", "env"], " env", "--dry-run is for the build and undo; env writes nothing"),
        # After the command, argparse called them "unrecognized arguments" under the main
        # usage, which lists --dry-run and --check as if they were fine.
        (["doctor", "--dry-run"], " doctor", "--dry-run is for the build and undo; doctor"),
        (["verify", "--check"], " verify", "--check is for the build itself; verify does not"),
        (["env", "--extra-ca", "x.pem"], " env", "env does not take --extra-ca x.pem"),
    ):
        with pytest.raises(SystemExit) as usage:
            cli.main(refused)
        assert usage.value.code == ExitCode.USAGE
        err = capsys.readouterr().err
        assert err.startswith(f"usage: build-ca-bundle{usage_of} [")
        assert f"build-ca-bundle{usage_of}: error: {said}" in err
    assert cli.main(["undo"]) == 0
    assert not bundle_path(isolated_home).exists()


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--json", "--exclude", "abc"], "not a SHA-256 fingerprint: 'abc'"),
        (["--json", "--bogus"], "unrecognized arguments: --bogus"),
        (["--json", "-q"], "not allowed with argument --json"),
        (["--json", "verify", "http://x"], "only https:// URLs"),
        (["--json", "--pin", "a" * 64], "--pin needs --from-server"),
        (["--json", "--check", "doctor"], "--check is for the build itself"),
        (["--jso", "--bogus"], "unrecognized arguments: --bogus"),  # argparse's prefix
        (["--json=yes"], "ignored explicit argument 'yes'"),  # no JSON object before
        # A RuntimeError traceback ("Could not determine home directory"), exit 1:
        (["--json", "--extra-ca", "~nosuchuser/x.pem"], "home folder of '~nosuchuser' is not"),
        (["--json", "-o", "~nosuchuser/ca.pem"], "home folder of '~nosuchuser' is not known"),
    ],
)
def test_a_usage_error_under_json_is_one_json_object_too(
    arguments: list[str], said: str, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README promises one JSON object for every error under --json; argparse's usage
    errors printed only text on stderr, and a fleet wrapper parsed an empty stdout."""
    with pytest.raises(SystemExit) as usage:
        cli.main(arguments)
    assert usage.value.code == ExitCode.USAGE
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["exit_code"] == ExitCode.USAGE
    assert said in payload["error"]["message"]
    assert said in captured.err  # argparse's lines stay, for a person reading the log
    with pytest.raises(SystemExit):
        cli.main([a for a in arguments if not "--json".startswith(a.split("=")[0])] + ["--bogus"])
    assert capsys.readouterr().out == ""  # without --json, stdout stays empty


def test_an_output_ending_with_a_slash_is_a_usage_error_not_a_file_of_that_name(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--output newdir/` wrote a file named newdir (exit 0) and pointed pip at it: the
    slash said folder, and Path() dropped it."""
    wanted = f"{tmp_path / 'newdir'}/"
    with pytest.raises(SystemExit) as usage:
        cli.main(["--output", wanted])
    assert usage.value.code == ExitCode.USAGE
    assert f"e.g. {wanted}ca-bundle.pem" in capsys.readouterr().err
    assert not (tmp_path / "newdir").exists()
    assert not isolated_home.pip_user_config.exists()


def test_a_bare_undo_after_an_output_run_says_where_that_bundles_undo_is(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "nothing to undo" (exit 0) while pip.conf still named corp.pem."""
    corp = tmp_path / "corp.pem"
    assert run(capsys, "--output", str(corp))[0] == 0
    code, out, _ = run(capsys, "undo")
    assert code == 0
    assert f"pip's cert names {corp}, a bundle of this tool's: undo it with " in out
    assert f"build-ca-bundle undo --output {corp}" in out
    assert run(capsys, "--output", str(corp), "undo")[0] == 0
    assert not corp.exists()
    assert "pip's cert names" not in run(capsys, "undo")[1]


def test_undo_says_a_setting_removed_by_hand_is_unset(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said "cert is now None", Python's word, not the person's. The dry run says the
    same (it said "would put back (unset)")."""
    assert run(capsys)[0] == 0
    pip_conf = isolated_home.pip_user_config
    pip_conf.write_text("[global]\ntimeout = 60\n")
    code, out, _ = run(capsys, "undo", "--dry-run")
    assert f"would be left alone: {pip_conf} [global] cert is now unset, not ours" in out
    code, out, _ = run(capsys, "undo")
    assert code == 0
    assert f"left alone: {pip_conf} [global] cert is now unset, not ours" in out
    assert pip_conf.read_text() == "[global]\ntimeout = 60\n"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX special files")
def test_what_is_not_a_regular_file_of_ours_is_never_opened_replaced_or_removed(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As root, `--output /dev/null` replaced the device with a bundle file and `undo
    --output /dev/null` deleted it (a device read as an empty file: tested on a device node
    of the test's own); a FIFO there hung the
    run; `undo --output proj/yarn` took yarn.lock for our lock; and `undo --output
    pkg/__init__.py` deleted an empty file of the person's."""
    fifo = tmp_path / "fifo.pem"
    os.mkfifo(fifo)
    specials = [fifo]
    if os.geteuid() == 0:  # a device of the test's own, never the machine's /dev/null
        device = tmp_path / "null"
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        specials.append(device)
    for special in specials:
        code, _, err = run(capsys, "--scope", "none", "-o", str(special))  # FIFO: a hang
        assert code == ExitCode.BUNDLE, special
        assert "is not a regular file (a device, a FIFO" in err
    assert fifo.is_fifo() and all(not path.is_file() for path in specials)
    for special in specials:
        code, out, _ = run(capsys, "--scope", "none", "-o", str(special), "undo")
        assert (code, f"left alone: {special} (this tool did not write it)" in out) == (0, True)
    assert fifo.is_fifo() and all(path.exists() and not path.is_file() for path in specials)

    project = tmp_path / "proj"
    project.mkdir()
    (project / "yarn.lock").write_text("# yarn lockfile v1\n")
    (project / "__init__.py").touch()
    for named in ("yarn", "__init__.py"):
        assert run(capsys, "--scope", "none", "-o", str(project / named), "undo")[0] == 0
    assert (project / "yarn.lock").read_text() == "# yarn lockfile v1\n"
    assert (project / "__init__.py").exists()

    # A run there: yarn.lock was opened read-write as our lock and made 0600.
    (project / "yarn.lock").chmod(0o664)
    code, _, err = run(capsys, "--scope", "none", "-o", str(project / "yarn"))
    assert code == ExitCode.BUNDLE
    assert "a file that is not one of our (empty) lock files" in err
    assert stat.S_IMODE((project / "yarn.lock").stat().st_mode) == 0o664
    assert not (project / "yarn").exists()
    # A link at the side file's lock: refused before anything is written, not half a run.
    side_lock = tmp_path / "side" / "extra-roots.pem.lock"
    side_lock.parent.mkdir()
    side_lock.symlink_to(tmp_path / "elsewhere")
    code, _, err = run(capsys, "--scope", "none", "-o", str(side_lock.with_name("ca-bundle.pem")))
    assert (code, "a link is in its place" in err) == (ExitCode.BUNDLE, True)
    assert not side_lock.with_name("ca-bundle.pem").exists()


def test_undo_dry_run_says_the_bundle_would_be_kept_where_undo_keeps_it(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dry run said "would remove" the bundle where undo keeps it (exit 3): a pip.conf
    it cannot parse, or one that names the bundle without a record of ours."""
    assert run(capsys)[0] == 0
    pip_conf = isolated_home.pip_user_config
    pip_conf.write_text(pip_conf.read_text() + "garbage line\n")
    for dry in (True, False):
        code = cli.main(["undo", *(["--dry-run"] if dry else [])])
        out, err = capsys.readouterr()
        assert code == ExitCode.CONFIG, dry
        assert f"{'would keep' if dry else 'kept'} {bundle_path(isolated_home)}" in err
        assert "remove" not in out
    pip_conf.write_text("[global]\n")
    assert cli.main(["undo"]) == 0  # the record was kept while a setting was not undone
    assert run(capsys)[0] == 0
    history.path_for(bundle_path(isolated_home)).unlink()  # no record; pip.conf names it
    code = cli.main(["undo", "--dry-run"])
    assert code == ExitCode.CONFIG
    assert f"{pip_conf} names it" in capsys.readouterr().err


def test_undo_restores_pip_conf_byte_for_byte_and_removes_the_bundle(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    original = b"# my pip settings\r\n[global]\r\ntimeout = 60\r\n\r\n[install]\r\nuser = no\r\n"
    pip_conf.write_bytes(original)
    assert run(capsys)[0] == 0
    assert b"cert = " in pip_conf.read_bytes()
    code, out, _ = cli.main(["undo"]), capsys.readouterr().out, None
    assert code == 0
    assert pip_conf.read_bytes() == original
    assert not bundle_path(isolated_home).exists()
    assert "removed" in out


@pytest.mark.parametrize("at_first", ["[global]\ncert = /old.pem\n", None])
def test_undo_puts_back_what_a_person_set_between_two_runs(
    at_first: str | None,
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A run set the bundle, the person set /mine.pem, the next run set the bundle again:
    undo put back what was there before the first run (/old.pem), or deleted the file the
    first run had created, and /mine.pem was nowhere."""
    pip_conf = isolated_home.pip_user_config
    if at_first is not None:
        pip_conf.parent.mkdir(parents=True)
        pip_conf.write_text(at_first)
    assert run(capsys)[0] == 0
    pip_conf.write_text("[global]\ncert = /mine.pem\ntimeout = 60\n")
    code, out, _ = run(capsys)
    assert (code, f"global.cert: /mine.pem -> {bundle_path(isolated_home)}" in out) == (0, True)
    assert cli.main(["undo"]) == 0
    assert pip_conf.read_text() == "[global]\ncert = /mine.pem\ntimeout = 60\n"
    if at_first is not None:  # the file from before the first run: kept, and said
        assert f"an older copy of the file stays at {pip_conf}.bak" in capsys.readouterr().out
        assert Path(f"{pip_conf}.bak").read_text() == at_first


def test_undo_removes_the_pip_conf_it_created_and_its_own_folder(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    pip_conf = isolated_home.pip_user_config
    assert run(capsys)[0] == 0
    assert run(capsys, "--extra-ca", str(store.file))[0] == 0  # a second change of the setting
    assert pip_conf.exists()
    assert cli.main(["undo"]) == 0
    assert "with the file this tool had created" in capsys.readouterr().out
    assert not pip_conf.exists()
    assert not bundle_path(isolated_home).parent.exists()


@pytest.mark.parametrize(
    "original",
    [
        "[install]\nuser = no\n",  # no [global]: undo left one behind
        "",
        "# only a comment\n",
        "[global]\ntimeout = 60",  # no final line break: undo added one
        "[global]\ncert = /etc/corp.pem   \n",  # trailing spaces: dropped
        "[DEFAULT]\ncert = /etc/corp.pem\n[global]\n",  # inherited: undo wrote it out
        "\ufeff[global]\ntimeout = 60\n",  # a BOM, which breaks pip: it stays removed
    ],
)
def test_undo_puts_back_every_byte_when_nobody_edited_the_file_since(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str], original: str
) -> None:
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_bytes(original.encode("utf-8"))
    assert run(capsys)[0] == 0
    assert cli.main(["undo"]) == 0
    said = capsys.readouterr().out
    assert pip_conf.read_bytes() == original.removeprefix("\ufeff").encode("utf-8")
    assert not pip_conf.with_name("pip.conf.bak").exists()
    bom = original.startswith("\ufeff")
    assert ("without the byte order mark that broke pip" in said) is bom
    assert ("byte for byte" in said) is not bom


def test_undo_keeps_a_created_pip_conf_a_person_added_to(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    pip_conf = isolated_home.pip_user_config
    assert run(capsys)[0] == 0
    pip_conf.write_text(pip_conf.read_text() + "timeout = 60\n")
    assert cli.main(["undo"]) == 0
    assert pip_conf.read_text() == "[global]\ntimeout = 60\n"


def test_undo_leaves_a_value_a_person_changed_since(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys)[0] == 0
    isolated_home.pip_user_config.write_text("[global]\ncert = /my/own.pem\n")
    assert cli.main(["undo"]) == 0
    assert "left alone" in capsys.readouterr().out
    assert isolated_home.pip_user_config.read_text() == "[global]\ncert = /my/own.pem\n"


def test_undo_puts_back_a_cert_a_person_wrote_over_two_lines(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """A value on a continuation line: undo refused to write a line break, said "not
    undone", exited 0 and removed the bundle, leaving pip pointed at a missing file."""
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    original = "[global]\ncert =\n    /etc/ssl/certs/ca-certificates.crt\ntimeout = 60\n"
    pip_conf.write_text(original)
    assert run(capsys)[0] == 0
    assert f"cert = {bundle_path(isolated_home)}\ntimeout" in pip_conf.read_text()
    assert cli.main(["undo"]) == 0
    assert pip_conf.read_text() == original
    assert not bundle_path(isolated_home).exists()


def test_an_undo_that_cannot_revert_keeps_the_bundle_and_what_is_left_to_undo(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    pip_conf = isolated_home.pip_user_config
    assert run(capsys)[0] == 0
    ours = pip_conf.read_text()
    pip_conf.write_text(ours + "[global]\ntimeout = 60\n")  # pip refuses this file too
    capsys.readouterr()
    assert cli.main(["undo"]) == ExitCode.CONFIG
    out, err = capsys.readouterr()
    assert "not undone" in out
    assert f"error: kept {bundle_path(isolated_home)}" in err
    assert bundle_path(isolated_home).exists()  # the setting still names it: pip still works
    pip_conf.write_text(ours)  # the person fixes the file
    assert cli.main(["undo"]) == 0  # the record was kept: this undo finishes the job
    assert not pip_conf.exists()
    assert not bundle_path(isolated_home).exists()


def test_undo_keeps_a_bundle_that_pip_conf_named_before_any_change_of_ours(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """A synced dotfile or a re-imaged machine: pip.conf names the bundle already, so the
    run changes nothing and records nothing. undo then removed the bundle under it."""
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text(f"[global]\ncert = {bundle_path(isolated_home)}\n")
    assert run(capsys)[0] == 0
    assert cli.main(["undo"]) == ExitCode.CONFIG
    captured = capsys.readouterr()
    assert f"{pip_conf} names it" in captured.err
    assert "no bundle" not in captured.out  # it said "nothing to undo: ... no bundle" too
    assert bundle_path(isolated_home).exists()
    pip_conf.write_text("[global]\n")  # the person takes the line out: now undo finishes
    assert cli.main(["undo"]) == 0
    assert not bundle_path(isolated_home).exists()


@pytest.mark.parametrize("where", ["[install] of pip.conf", "~/.pip/pip.conf"])
def test_undo_keeps_a_bundle_that_another_section_or_pip_file_names(
    where: str, store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the scope's own [global] cert was looked at: with `[install] cert = <bundle>`
    by hand, or pip's older per-user file naming it, undo removed the bundle and `pip
    install` failed ("Could not find a suitable TLS CA certificate bundle")."""
    assert run(capsys)[0] == 0
    bundle = bundle_path(isolated_home)
    if where.startswith("[install]"):
        naming = isolated_home.pip_user_config
        naming.write_text(naming.read_text() + f"[install]\ncert = {bundle}\n")
    else:
        naming = isolated_home.home / ".pip" / "pip.conf"
        naming.parent.mkdir()
        naming.write_text(f"[global]\ncert = {bundle}\n")
    assert cli.main(["undo"]) == ExitCode.CONFIG
    assert f"{naming} names it" in capsys.readouterr().err
    assert bundle.exists()


def test_undo_of_two_bundles_in_turn_puts_back_what_was_there_before_both(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Default bundle, then --output another: undoing the first left the setting alone and
    threw away the only record of the original cert; undoing the second then put back the
    first bundle's path, a file already removed."""
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    original = "[global]\ncert = /etc/corp/old-root.pem\n"
    pip_conf.write_text(original)
    other = tmp_path / "other" / "ca.pem"
    assert run(capsys)[0] == 0
    assert run(capsys, "--output", str(other))[0] == 0
    assert cli.main(["undo"]) == 0
    assert "left alone" in capsys.readouterr().out
    assert cli.main(["undo", "--output", str(other)]) == 0
    assert pip_conf.read_text() == original


needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="the rules for a run as root (chown to another account needs root)",
)
NOBODY = 65534


@needs_root
def test_as_root_user_scope_refuses_a_home_another_account_owns(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sudo build-ca-bundle` where sudo keeps HOME: root would leave root-owned files in
    the person's home, write through their links (~/.config/pip -> /etc), and root's pip
    would trust a bundle they can replace. Refused, nothing written."""
    for folder in (isolated_home.home, isolated_home.config, isolated_home.data):
        folder.mkdir(parents=True, exist_ok=True)
        os.chown(folder, NOBODY, NOBODY)
    code, _, err = run(capsys)
    assert code == ExitCode.BUNDLE
    assert "as root, every scope but --scope global reads and writes only root's own files" in err
    assert "not owned by root" in err
    assert not bundle_path(isolated_home).exists()
    assert not isolated_home.pip_user_config.exists()
    assert list(isolated_home.data.rglob("*")) == []  # not even a lock file (root's, 0600)
    code, _, _ = run(capsys, "--scope", "none")  # no setting, and the --output is root's
    assert code == ExitCode.BUNDLE  # the same home: --scope none is no way around it
    assert list(isolated_home.data.rglob("*")) == []
    root_only = tmp_path / "root-only" / "ca-bundle.pem"
    assert run(capsys, "--scope", "none", "--output", str(root_only))[0] == 0


@needs_root
def test_as_root_a_pip_conf_made_read_only_is_left_as_it_is(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """access() says root may write anything: a chmod 444 pip.conf, made read-only on
    purpose, was replaced by root's run (and a 0444 .bak left beside it)."""
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text("[global]\ntimeout = 60\n")
    pip_conf.chmod(0o444)
    code, _, err = run(capsys)
    assert code == ExitCode.CONFIG
    assert f"cannot write {pip_conf} (read-only for this account); it was left unchanged" in err
    assert pip_conf.read_text() == "[global]\ntimeout = 60\n"
    assert sorted(item.name for item in pip_conf.parent.iterdir()) == ["pip.conf"]


def _planted_record(record: Path, victim: Path, key: str, old: str, *, backup: Path) -> Path:
    """A change record another account (nobody) wrote: undo would set ``key`` in ``victim``
    back to ``old`` and remove ``backup``, were it obeyed."""
    change = {
        "target": "pip",
        "path": str(victim),
        "key": key,
        "old": old,
        "new": None,
        "created": False,
        "backup": str(backup),
    }
    record.write_text(json.dumps({"format": 1, "changes": [change]}))
    os.chown(record, NOBODY, NOBODY)
    return record


def _shared_folder(tmp_path: Path) -> Path:
    """A folder like /tmp: anyone may add files (sticky, 1777)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    return shared


@needs_root
def test_as_root_undo_never_acts_on_a_record_another_account_wrote(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`undo --scope none --output /tmp/x.pem` as root obeyed a change record another user had
    put there: it set `trusted-host` in the file they named (verification off), and deleted
    the "backup" they named. Refused in every scope now, in /tmp and in their folders."""
    victim = tmp_path / "etc-pip.conf"
    victim.write_text("[global]\ntimeout = 60\n")
    precious = tmp_path / "precious"
    precious.write_text("root's\n")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    for folder in (_shared_folder(tmp_path), theirs):
        output = folder / "x.pem"
        record = _planted_record(
            folder / "x.pem.changes.json",
            victim,
            "global.trusted-host",
            "pypi.org files.pythonhosted.org",
            backup=precious,
        )
        for scope in ("none", "user"):
            code, _, err = run(capsys, "undo", "--scope", scope, "--output", str(output))
            assert code == ExitCode.BUNDLE, (folder, scope)
            # In their folder, the bundle's own path is refused first; in /tmp, the record.
            refused = output if folder == theirs else record
            assert f"{refused} can be changed by another account" in err
        assert victim.read_text() == "[global]\ntimeout = 60\n"
        assert precious.read_text() == "root's\n"
        assert sorted(p.name for p in folder.iterdir()) == ["x.pem.changes.json"]  # no lock


@needs_root
def test_as_root_files_another_account_planted_beside_the_bundle_are_refused(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sudo build-ca-bundle --output /tmp/corp-ca.pem`: another user's
    /tmp/corp-ca.pinned-roots.pem put their root in root's bundle with no pin given, and
    root's pip trusted it; their manifest could name a "newer certifi" of theirs."""
    shared = _shared_folder(tmp_path)
    output = shared / "corp-ca.pem"
    evil = make_root("Attacker Evil Root")
    planted = {
        shared / "corp-ca.pinned-roots.pem": b"# Roots pinned with build-ca-bundle\n" + evil.pem,
        shared / "corp-ca.pem.manifest.json": b'{"format": 1}',
    }
    for path, content in planted.items():  # one at a time: each is refused on its own
        path.write_bytes(content)
        os.chown(path, NOBODY, NOBODY)
        for scope in ("user", "none"):
            code, _, err = run(capsys, "--scope", scope, "--output", str(output))
            assert code == ExitCode.BUNDLE, (path, scope)
            assert f"{path} can be changed by another account" in err
        assert sorted(shared.iterdir()) == [path]  # no bundle, no lock file
        path.unlink()
    assert not isolated_home.pip_user_config.exists()


@needs_root
def test_files_planted_after_the_checks_by_path_are_refused_when_read(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The checks above look at paths before the run lock: a file another account created
    in /tmp in between (inotify tells them when) was read unchecked. Root's undo wrote the
    values and deleted the "backup" a planted change record named; a planted pinned roots'
    file put their CA into root's bundle, and the unchanged runs after kept it. Each is
    checked as it is read now (the open file's owner and mode), here with the earlier check
    skipped, as the race skips it."""
    monkeypatch.setattr(pipeline, "check_root_side_files", lambda output: None)
    shared = _shared_folder(tmp_path)
    output = shared / "x.pem"
    precious = tmp_path / "precious"
    precious.write_text("root's\n")
    record = _planted_record(
        shared / "x.pem.changes.json",
        tmp_path / "written.conf",
        "global.index-url",
        "https://evil.example/simple",
        backup=precious,
    )
    code, _, err = run(capsys, "undo", "--scope", "none", "--output", str(output))
    assert code == ExitCode.BUNDLE
    assert f"the change record {record} is not ours: another account owns it" in err
    assert precious.read_text() == "root's\n"
    assert not (tmp_path / "written.conf").exists()
    record.unlink()

    evil = make_root("Mallory Evil Root")
    pinned = shared / "x.pinned-roots.pem"
    pinned.write_bytes(b"# Roots pinned with build-ca-bundle\n" + evil.pem)
    os.chown(pinned, NOBODY, NOBODY)
    code, _, err = run(capsys, "--scope", "none", "--output", str(output))
    assert code == ExitCode.BUNDLE
    assert f"the pinned roots' file {pinned} is not ours" in err
    assert not output.exists()
    os.chown(pinned, 0, 0)
    pinned.chmod(0o666)  # root's, but anyone may write it: not ours either
    assert run(capsys, "--scope", "none", "--output", str(output))[0] == ExitCode.BUNDLE
    pinned.unlink()

    assert run(capsys, "--scope", "none", "--output", str(output))[0] == 0
    recorded = shared / "x.pem.manifest.json"
    os.chown(recorded, NOBODY, NOBODY)  # theirs now: it proves nothing, a full run decides
    assert manifest.load(output) is None
    assert run(capsys, "--scope", "none", "--output", str(output))[0] == 0
    assert recorded.stat().st_uid == 0  # and wrote root's own


@needs_root
def test_a_record_is_ours_when_this_account_or_root_owns_it_and_no_other_may_write_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root's own record (a --scope global bundle's, read by each account's --check and
    doctor) was refused as "not ours": no account can plant a file as root. One of this
    account's that others may write (chmod g+w) is refused, and said as such, with the
    chmod that makes it ours again; it was said to be another account's."""
    from build_ca_bundle.regular import ForeignFileError, read_own_bytes

    record = tmp_path / "ca-bundle.pem.changes.json"
    record.write_text("{}")
    record.chmod(0o644)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # an ordinary account reads root's
    os.chown(record, 0, 0)
    assert read_own_bytes(record) == b"{}"
    os.chown(record, 1000, 1000)  # its own
    assert read_own_bytes(record) == b"{}"
    os.chown(record, 1001, 1001)  # a neighbour's
    with pytest.raises(ForeignFileError, match="another account owns it"):
        read_own_bytes(record)
    os.chown(record, 1000, 1000)
    record.chmod(0o664)
    with pytest.raises(ForeignFileError, match="other accounts may write it"):
        read_own_bytes(record)
    monkeypatch.undo()
    record.chmod(0o644)
    os.chown(record, 0, 0)
    linked = tmp_path / "linked.pem.changes.json"  # a dotfile manager's link
    linked.symlink_to(record)
    with pytest.raises(ConfigError, match="it is a link; a record of ours is never read"):
        history.load(tmp_path / "linked.pem")


@needs_root
def test_as_root_a_store_another_account_names_through_sudo_e_is_refused(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`sudo -E build-ca-bundle`: the account's SSL_CERT_FILE named a store of theirs, and
    their roots went into root's own bundle, which root's pip trusts."""
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    store_file = theirs / "store.pem"
    store_file.write_bytes(store.file.read_bytes() + make_root("Theirs").pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(store_file))
    code, _, err = run(capsys)
    assert code == ExitCode.BUNDLE
    assert f"the store that SSL_CERT_FILE or SSL_CERT_DIR names, {store_file}" in err
    assert not bundle_path(isolated_home).exists()


@needs_root
def test_as_root_extra_ca_and_policy_files_another_account_can_write_are_refused(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sudo build-ca-bundle --extra-ca /tmp/corp.pem`: a file another account owns (or can
    replace) put their root in root's own bundle, and root's pip then installed whatever
    their proxy served. The same for a folder's file and for a named policy. A root-owned
    file in /tmp (sticky) is root's alone, and is used."""
    shared = _shared_folder(tmp_path)
    corp = make_root("Corp Extra Root")
    folder = tmp_path / "extra-folder"
    folder.mkdir()
    policy = shared / "policy.toml"
    planted = {
        shared / "corp.pem": ("--extra-ca", shared / "corp.pem"),
        folder / "corp.pem": ("--extra-ca", folder),
        policy: ("--policy", policy),
    }
    for path, (flag, named) in planted.items():
        if path == policy:
            path.write_text(f'extra_ca = ["{folder}"]\n')
            (folder / "corp.pem").write_bytes(corp.pem)  # root's: only the policy is theirs
        else:
            path.write_bytes(corp.pem)
        os.chown(path, NOBODY, NOBODY)
        for scope in ("user", "none"):
            args = ["--scope", scope, flag, str(named)]
            if scope == "none":
                args += ["--output", str(tmp_path / "none.pem")]
            code, _, err = run(capsys, *args)
            assert code == ExitCode.BUNDLE, (path, scope, err)
            assert f"{path} can be changed by another account" in err
            assert "copy it to a file only root can write" in err
        assert not bundle_path(isolated_home).exists()
        assert not (tmp_path / "none.pem").exists()
        assert not isolated_home.pip_user_config.exists()
        os.chown(path, 0, 0)  # root's own file in a sticky folder: trusted
        code, _, err = run(capsys, flag, str(named))
        assert code == 0, err
        assert corp.pem.decode() in bundle_path(isolated_home).read_text()
        assert run(capsys, "undo")[0] == 0
        path.unlink()


@needs_root
def test_a_change_record_another_account_could_write_is_not_inherited(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pip.conf named another bundle: its record says what was there before, unless another
    account could have written that record (then undo would restore their value, and
    remove, as root, the "backup" they named)."""
    from build_ca_bundle import history

    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text("[global]\ncert = /etc/corp/old-root.pem\n")
    first = bundle_path(isolated_home)
    assert run(capsys)[0] == 0
    record = history.path_for(first)
    record.write_text(record.read_text().replace("/etc/corp/old-root.pem", "/tmp/theirs.pem"))
    os.chown(record, NOBODY, NOBODY)
    other = tmp_path / "other" / "ca.pem"
    assert run(capsys, "--output", str(other))[0] == 0
    [change] = history.load(other)
    assert change.old == str(first)  # what pip.conf held, not what their record says
    assert cli.main(["undo", "--output", str(other)]) == 0
    assert "/tmp/theirs.pem" not in pip_conf.read_text()
    # Nor does undo act on such a record of its own bundle: it names what to remove.
    capsys.readouterr()
    assert cli.main(["undo"]) == ExitCode.BUNDLE
    assert (
        f"the change record {record} can be changed by another account" in capsys.readouterr().err
    )
    assert record.exists() and first.exists()


def test_a_store_changed_while_the_run_wrote_brings_a_full_run_next(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The record took the store's signature after the run wrote, not when it read: a root
    IT added (or removed) in between was never in the bundle, and every later run, and
    --check, said current, until some other input changed."""
    from build_ca_bundle import certificates, pipeline

    real_select = certificates.select
    arrived = make_root("Added While The Run Wrote")

    def select_then_store_changes(*args: Any, **kwargs: Any) -> Any:
        selection = real_select(*args, **kwargs)
        store.add(arrived, "arrived.pem")  # after the sources were read
        return selection

    monkeypatch.setattr(pipeline, "select", select_then_store_changes)
    assert run(capsys)[0] == 0
    monkeypatch.setattr(pipeline, "select", real_select)
    assert arrived.pem.decode() not in bundle_path(isolated_home).read_text()
    assert run(capsys, "--check")[0] == ExitCode.STALE
    code, out, _ = run(capsys)
    assert code == 0
    assert not out.startswith("bundle unchanged")
    assert "Added While The Run Wrote" in out
    assert run(capsys)[1].startswith("bundle unchanged")


def test_a_config_another_writer_changes_before_the_record_brings_a_full_run(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pip.conf rewritten by another tool after our write, while the run still set git or
    npm (seconds): the record took the new file as ours, and every later logon was the
    unchanged run, with pip's cert gone."""
    real_record = manifest.record
    pip_conf = isolated_home.pip_user_config

    def record_after_another_writer(*args: Any, **kwargs: Any) -> dict[str, Any]:
        pip_conf.write_text("[global]\ntimeout = 60\n")  # their rewrite, without our cert
        return real_record(*args, **kwargs)

    monkeypatch.setattr(manifest, "record", record_after_another_writer)
    assert run(capsys)[0] == 0
    monkeypatch.setattr(manifest, "record", real_record)
    assert run(capsys)[0] == 0
    assert "cert = " in pip_conf.read_text()  # the next run was a full one, and set it again
    assert "timeout = 60" in pip_conf.read_text()
    assert run(capsys)[1].startswith("bundle unchanged")


def test_a_run_killed_after_it_set_pip_leaves_a_record_for_undo(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed between setting pip.conf and saving the record: the next run changes nothing
    and records nothing, and undo removed the bundle pip.conf names."""
    from build_ca_bundle import pipeline

    real_apply = pipeline._apply

    def apply_then_die(
        output: Path, plans: list[Plan], when_set: dict[str, manifest.Signature]
    ) -> list[Change]:
        real_apply(output, plans, when_set)
        raise SystemExit("killed")  # nothing after this point of the run happens

    monkeypatch.setattr(pipeline, "_apply", apply_then_die)
    with pytest.raises(SystemExit):
        run(capsys)
    monkeypatch.setattr(pipeline, "_apply", real_apply)  # not undo(): that ends the isolation
    assert run(capsys)[0] == 0
    assert cli.main(["undo"]) == 0
    assert not isolated_home.pip_user_config.exists()
    assert not bundle_path(isolated_home).exists()


def test_the_first_backup_is_never_replaced(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pip.conf.bak holds the person's file from before the first change: a later change (a
    person's edit of cert, then our run) replaced it, as it replaced their own .bak."""
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    theirs = "[global]\nindex-url = https://mirror.example/simple\n"
    pip_conf.with_name("pip.conf.bak").write_text(theirs)
    pip_conf.write_text("[global]\ntimeout = 60\n")
    assert run(capsys)[0] == 0
    pip_conf.write_text("[global]\ntimeout = 60\ncert = /elsewhere.pem\n")
    assert run(capsys)[0] == 0
    assert pip_conf.with_name("pip.conf.bak").read_text() == theirs


def test_a_run_killed_between_the_backup_and_pip_conf_leaves_undo_its_backup(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed after pip.conf.bak was written but before pip.conf: the next run's record
    said "no backup" (the backup was there already, so it made none), and undo left the
    .bak behind for good, calling it "an older copy"."""
    from build_ca_bundle import inifile

    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    before = "[global]\n# our mirror\nindex-url = https://mirror.example/simple\n"
    pip_conf.write_text(before)
    write = inifile.write_atomically

    def killed_at_pip_conf(path: Path, data: bytes, **options: Any) -> None:
        if path.name == "pip.conf":
            raise KeyboardInterrupt  # as a kill: the backup is written, pip.conf is not
        write(path, data, **options)

    monkeypatch.setattr(inifile, "write_atomically", killed_at_pip_conf)
    with pytest.raises(KeyboardInterrupt):
        run(capsys)
    monkeypatch.setattr(inifile, "write_atomically", write)
    backup = pip_conf.with_name("pip.conf.bak")
    assert (pip_conf.read_text(), backup.read_text()) == (before, before)
    assert run(capsys)[0] == 0
    [change] = history.load(bundle_path(isolated_home))
    assert backup_of(change) == backup
    code, out, _ = run(capsys, "undo")
    assert code == 0
    assert "older copy" not in out
    assert pip_conf.read_text() == before
    assert not backup.exists()


def test_undo_takes_back_what_it_made_and_only_that(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pip.conf a link to a file not there yet (dotfiles not checked out): the run creates
    the file; undo removed the person's link and left the file. And the backup of the first
    change stayed behind after undo had put the file back."""
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    target = tmp_path / "dotfiles" / "pip.conf"
    target.parent.mkdir()
    pip_conf.symlink_to(target)
    assert run(capsys)[0] == 0
    assert target.exists()
    assert cli.main(["undo"]) == 0
    assert pip_conf.is_symlink() and not target.exists()  # the link stays, dangling as before

    pip_conf.unlink()
    pip_conf.write_text("[global]\ntimeout = 60\n")
    assert run(capsys)[0] == 0
    backup = pip_conf.with_name("pip.conf.bak")
    assert backup.read_text() == "[global]\ntimeout = 60\n"
    assert cli.main(["undo"]) == 0
    assert pip_conf.read_text() == "[global]\ntimeout = 60\n"
    assert not backup.exists()


def test_a_folder_where_pip_conf_goes_is_named_for_what_it_is(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """The message said "pip fails on every command"; pip passes over a folder."""
    folder = isolated_home.pip_user_config
    folder.mkdir(parents=True)
    code, _, err = run(capsys)
    assert code == ExitCode.CONFIG
    assert f"{folder} is a folder where pip's config file goes: pip passes over it" in err
    assert "fails on every command" not in err
    assert folder.is_dir() and list(folder.iterdir()) == []
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, check=False
    )
    assert pip.returncode == 0  # pip itself goes on


def test_a_config_folder_that_is_a_file_is_named_for_what_it_is(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """XDG_CONFIG_HOME=/dev/null: "cannot read it (Not a directory) ... pip fails on every
    command while it is like this", and pip works (it passes over the file)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", os.devnull)
    code, _, err = run(capsys)
    assert code == ExitCode.CONFIG
    assert f"{os.devnull}/pip/pip.conf cannot be pip's config file: a folder above it" in err
    assert "fails on every command" not in err
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, check=False
    )
    assert pip.returncode == 0


def test_a_root_not_valid_yet_is_kept_and_said_until_it_is_valid(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """reference/os_stores.md: not-yet-valid roots are kept (as the OS keeps them) and
    warned about; the warning said nothing. The record holds until the root is valid: a
    full run then, whose report no longer warns."""
    from tests.pki import DAY, NOW

    early = make_root("Issued Ahead Of The Clock", not_before=NOW + 2 * DAY)
    store.add(early, "early.pem")
    code, out, _ = run(capsys)
    assert code == 0
    assert "warning: Issued Ahead Of The Clock: not valid until" in out
    assert early.pem.decode().strip() in bundle_path(isolated_home).read_text()
    recorded = manifest.load(bundle_path(isolated_home))
    assert recorded is not None
    assert recorded["expires"] == pytest.approx((NOW + 2 * DAY).timestamp(), abs=1)
    assert "not valid until" in run(capsys)[1]  # the unchanged run says it again


@pytest.mark.parametrize(
    "record",
    [
        '{"format": 2, "changes": []}',  # what a newer version could write
        "[1, 2]",
        '{"format": 1}',
        '{"format": 1, "changes": [{"target": "pip"}]}',
        '{"format": 1, "changes": [{"target": "pip", "path": 5, "key": "global.cert", '
        '"old": null, "new": "x"}]}',
        '{"format": 1, "changes": [{"target": "emacs", "path": "/x", "key": "k", '
        '"old": null, "new": "x"}]}',
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_a_change_record_this_version_cannot_read_is_kept_and_named(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str], record: str
) -> None:
    """undo said "nothing to undo", deleted such a record and with it the note of the cert
    before ours; a record with a wrong-typed entry was a traceback at every logon."""
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
    assert run(capsys)[0] == 0
    changes = bundle_path(isolated_home).with_name("ca-bundle.pem.changes.json")
    changes.write_text(record)
    capsys.readouterr()
    assert cli.main(["undo"]) == ExitCode.CONFIG
    assert f"cannot read our change record {changes}" in capsys.readouterr().err
    assert changes.read_text() == record
    assert bundle_path(isolated_home).exists()
    store.add(make_root("A Root Added Later"), "later.pem")  # the next logon: a full run,
    assert run(capsys)[0] == 0  # which has no change to record
    pip_conf.write_text("[global]\ncert = /elsewhere.pem\n")  # and one that has
    code, _, err = run(capsys)
    assert code == ExitCode.CONFIG  # said, not a traceback; and nothing edited unrecorded
    assert "cannot read our change record" in err
    assert pip_conf.read_text() == "[global]\ncert = /elsewhere.pem\n"


@pytest.mark.parametrize(
    "damage",
    [
        lambda record: record.pop("certificates"),
        lambda record: record.__setitem__("certificates", "x"),
        lambda record: record.__setitem__("outputs", {}),
        lambda record: record.__setitem__("expires", "soon"),
        lambda record: record.__setitem__("warnings", [1]),
    ],
)
def test_a_manifest_of_any_other_shape_means_a_full_run(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[dict[str, object]], object],
) -> None:
    """A manifest without "certificates" crashed every run; one watching no outputs called
    a deleted bundle current."""
    assert run(capsys)[0] == 0
    bundle = bundle_path(isolated_home)
    path = bundle.with_name("ca-bundle.pem.manifest.json")
    record = json.loads(path.read_text())
    damage(record)
    path.write_text(json.dumps(record))
    bundle.unlink()
    assert run(capsys, "--check")[0] == ExitCode.STALE
    code, out, _ = run(capsys)
    assert code == 0 and f"wrote {bundle}" in out


@pytest.mark.parametrize("version", ["9999.1.1", "2000.1.1"])
def test_two_pythons_for_one_account_agree_on_the_newer_certifi(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    version: str,
) -> None:
    """Two venvs running for one account, one with an older certifi: each run rebuilt the
    bundle, and the older certifi's brought back roots Mozilla had removed. A run uses the
    newer certifi the last run read, if that is still there."""
    import certifi

    from build_ca_bundle import paths

    other = tmp_path / "other-venv" / "certifi" / "cacert.pem"
    other.parent.mkdir(parents=True)
    only_there = make_root("Only In The Other Certifi")
    other.write_bytes(Path(certifi.where()).read_bytes() + only_there.pem)
    (other.parent / "__init__.py").write_text(f'__version__ = "{version}"\n')
    ours = paths.certifi_bundle()
    monkeypatch.setattr(paths, "certifi_bundle", lambda: other)  # the other Python's run
    assert run(capsys)[0] == 0
    monkeypatch.setattr(paths, "certifi_bundle", lambda: ours)  # then ours
    bundle = bundle_path(isolated_home)
    before = bundle.stat()
    code, out, _ = run(capsys, "--verbose")
    assert code == 0
    newer = version.startswith("9999")
    assert (only_there.pem.decode().strip() in bundle.read_text()) is newer
    assert (f"certifi's roots from {other}" in out) is newer
    if newer:  # the same bytes: not written again
        assert (bundle.stat().st_ino, bundle.stat().st_mtime_ns) == (
            before.st_ino,
            before.st_mtime_ns,
        )


def test_a_zipped_certifi_lets_a_second_run_be_an_unchanged_one(
    store: Store, isolated_home: Home, tmp_path: Path
) -> None:
    """A zipapp: certifi.where() extracts cacert.pem to a new temporary file each run, and
    the manifest watched that file, so every run was a full one and --check always said
    stale. The archive is watched instead."""
    import zipfile

    import certifi

    archive = tmp_path / "app.pyz"
    package = Path(certifi.__file__).parent
    with zipfile.ZipFile(archive, "w") as zipped:
        for item in package.iterdir():
            if item.is_file():
                zipped.write(item, f"certifi/{item.name}")
    environ = dict(os.environ, PYTHONPATH=os.pathsep.join([str(archive), *sys.path]))
    command = [sys.executable, "-m", "build_ca_bundle", "--no-verify"]

    def run_zipped(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], env=environ, capture_output=True, text=True, check=False
        )

    first = run_zipped()
    assert first.returncode == 0, first.stderr
    recorded = manifest.load(bundle_path(isolated_home))
    assert recorded is not None and str(archive) in recorded["inputs"]
    assert run_zipped("--check").returncode == ExitCode.OK
    assert "bundle unchanged" in run_zipped().stdout


def test_env_command_prints_variables_a_real_shell_reads(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    # No bundle yet: nothing for eval, or every tool would trust a missing file (nothing).
    assert cli.main(["env", "--shell", "sh"]) == ExitCode.BUNDLE
    empty, err = capsys.readouterr()
    assert empty == ""
    assert "no bundle at" in err
    assert run(capsys)[0] == 0
    assert cli.main(["env", "--shell", "sh"]) == 0
    script = capsys.readouterr().out
    completed = subprocess.run(
        ["sh", "-c", script + 'echo "$PIP_CERT|$NODE_EXTRA_CA_CERTS"'],
        capture_output=True,
        text=True,
        check=True,
    )
    bundle = bundle_path(isolated_home)
    assert completed.stdout.strip() == f"{bundle}|{bundle.with_name('extra-roots.pem')}"
    for named in ("bash", "zsh"):  # the shell a user runs: sh's syntax (it was refused)
        assert cli.main(["env", "--shell", named]) == 0
        assert capsys.readouterr().out == script


def test_shadowing_variable_is_reported_with_the_fix(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    code, _, err = run(capsys)
    assert code == ExitCode.NOT_APPLIED  # done, but pip does not use the bundle
    assert "REQUESTS_CA_BUNDLE" in err  # an error: pip does not use the bundle
    assert "fix:" in err


def loaded_by_a_run(modules: tuple[str, ...]) -> str:
    """Run the console script's code in a fresh Python; its exit code and which of
    ``modules`` it imported."""
    probe = (
        "import sys; sys.argv[1:] = ['--no-verify']; from build_ca_bundle import entry; "
        f"code = entry.main(); print(code, sorted(m for m in {modules!r} if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=True,
    )
    return completed.stdout.strip().splitlines()[-1]


def test_unchanged_run_imports_no_certificate_machinery(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys)[0] == 0
    heavy = ("cryptography", "truststore", "build_ca_bundle.certificates", "ssl", "argparse")
    assert loaded_by_a_run((*heavy, "platformdirs", "build_ca_bundle.cli")) == "0 []"


def test_a_full_run_imports_neither_cryptography_nor_what_it_can_do_without(
    store: Store, isolated_home: Home
) -> None:
    """A full run (here the first) parses certificates with our own reader and loads them
    through ssl's C core; cryptography and truststore are for signatures and the live check;
    ssl's Python layer, typing, tempfile, dataclasses (values.py says why) and shutil (which
    argparse imports to ask the terminal's width) cost milliseconds a full run does not need."""
    heavy = ("cryptography", "truststore", "ssl", "typing", "tempfile", "dataclasses", "shutil")
    assert loaded_by_a_run(heavy) == "0 []"


def test_a_first_run_starts_loading_certifi_before_its_heavy_imports(
    store: Store, isolated_home: Home
) -> None:
    """ssl loads certifi's file on a thread while the full run imports the pipeline: the
    thread must start before those imports, or it only adds a wait."""
    probe = (
        "import sys; sys.argv[1:] = ['--no-verify', '--quiet']\n"
        "from build_ca_bundle import entry, openssl\n"
        "real, seen = openssl.preload, []\n"
        "def preload(path):\n"
        "    seen.append('build_ca_bundle.pipeline' in sys.modules)\n"
        "    real(path)\n"
        "openssl.preload = preload\n"
        "code = entry.main(); print(code, seen)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    # The CLI's call, before the pipeline is imported; then the pipeline's, which finds the
    # load already started.
    assert completed.stdout.strip().splitlines()[-1] == "0 [False, True]"


def test_manifest_records_what_the_run_read(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys)[0] == 0
    recorded = manifest.load(bundle_path(isolated_home))
    assert recorded is not None
    assert str(store.file) in recorded["inputs"]
    assert str(isolated_home.pip_user_config) in recorded["inputs"]


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--scope", "everyone"])
    assert caught.value.code == 2


def test_python_m_runs_the_tool(store: Store, isolated_home: Home) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "build_ca_bundle", "--no-verify", "--scope", "none"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert bundle_path(isolated_home).exists()
    assert not isolated_home.pip_user_config.exists()


def test_doctor_finds_workarounds_and_fix_removes_pips_safely(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text(
        "# from the wiki\n[global]\ntimeout = 60\ntrusted-host = pypi.org\n"
        "    files.pythonhosted.org\n[install]\ntrusted-host = pypi.org\n"
    )
    bashrc = isolated_home.home / ".bashrc"
    bashrc.write_text("alias pipi='pip install --trusted-host pypi.org'\n")
    assert cli.main(["doctor"]) == ExitCode.FINDINGS
    out = capsys.readouterr().out
    assert f"{pip_conf}:4" in out
    assert f"{pip_conf}:7" in out
    assert f"{bashrc}:1" in out
    assert "no bundle yet" in out

    assert cli.main(["doctor", "--fix", "--json"]) == ExitCode.FINDINGS  # .bashrc remains
    payload = json.loads(capsys.readouterr().out)
    assert any("removed global.trusted-host" in line for line in payload["fixed"])
    places = [finding["where"] for finding in payload["findings"]]
    assert f"{bashrc}:1" in places
    assert not any(place.startswith(str(pip_conf)) for place in places)
    bundle = bundle_path(isolated_home)
    assert pip_conf.read_text() == (
        f"# from the wiki\n[global]\ntimeout = 60\ncert = {bundle}\n[install]\n"
    )
    assert "trusted-host" in pip_conf.with_name("pip.conf.bak").read_text()
    assert bashrc.read_text() == "alias pipi='pip install --trusted-host pypi.org'\n"
    assert "not current" not in json.dumps(payload)  # the fix's own pip.conf edit is recorded
    assert run(capsys, "--check")[0] == ExitCode.OK


WORKAROUND = "[global]\ntrusted-host = pypi.org\n"


def test_doctor_quiet_prints_only_its_errors_on_stderr(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--quiet means errors only, on stderr; doctor -q printed every finding, info and
    warnings with their "fix: nothing to do", on stdout."""
    isolated_home.pip_user_config.parent.mkdir(parents=True)
    isolated_home.pip_user_config.write_text(WORKAROUND)
    code, out, err = run(capsys, "--quiet", "doctor")
    assert code == ExitCode.FINDINGS
    assert out == ""
    assert f"error: {isolated_home.pip_user_config}:2: pip [global] trusted-host" in err
    assert "warning:" not in err and "info:" not in err
    assert "no bundle yet" not in err  # a warning: the error explains the exit code
    isolated_home.pip_user_config.unlink()  # warnings alone: exit 12 with nothing said
    code, out, err = run(capsys, "--quiet", "doctor")
    assert (code, out) == (ExitCode.FINDINGS, "")
    assert "warning: " in err and "no bundle yet" in err
    assert run(capsys)[0] == 0
    isolated_home.pip_user_config.write_text(  # a line added by hand: still current
        isolated_home.pip_user_config.read_text() + "timeout = 30\n"
    )
    assert run(capsys, "--check")[0] == 0
    code, out, err = run(capsys, "doctor")  # as --check decides (it said "not current")
    assert "not current" not in out + err


def test_doctor_fix_edits_only_its_scopes_pip_files_and_says_who_fixes_the_others(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """IT's machine-wide pip.conf holds trusted-host too. doctor --fix (--scope user) used
    to rewrite it as well, or fail on it with exit 3 as an ordinary user: every other
    account lost a setting that worked and got no bundle. Now only the user's file changes;
    the machine's stays, byte for byte, and the finding says who removes it."""
    user_conf = isolated_home.pip_user_config
    user_conf.parent.mkdir(parents=True)
    user_conf.write_text("# mine\n" + WORKAROUND)
    machine_conf = isolated_home.config_dirs / "pip" / "pip.conf"
    machine_conf.parent.mkdir()
    machine_conf.write_text("# IT's\n[global]\ntrusted-host = machine.example\n")
    code, out, err = run(capsys, "doctor", "--fix")
    assert (code, err) == (ExitCode.FINDINGS, "")  # the machine's trusted-host remains
    assert f"removed global.trusted-host = pypi.org from {user_conf}" in out
    assert user_conf.read_text() == f"# mine\n[global]\ncert = {bundle_path(isolated_home)}\n"
    assert machine_conf.read_text() == "# IT's\n[global]\ntrusted-host = machine.example\n"
    assert sorted(path.name for path in machine_conf.parent.iterdir()) == ["pip.conf"]
    assert f"{machine_conf}:3" in out
    assert "an administrator's `build-ca-bundle doctor --fix --scope global` does" in out
    assert f"error: {user_conf}:" not in out


def test_doctor_fix_removes_no_trusted_host_when_the_build_fails(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trusted-host went first, then the build failed (a required root missing): pip
    had neither trusted-host nor a bundle, and failed at the proxy. Now the build comes
    first, and a failed one leaves pip's file as it was."""
    user_conf = isolated_home.pip_user_config
    user_conf.parent.mkdir(parents=True)
    user_conf.write_text(WORKAROUND)
    code, _, err = run(capsys, "--require", "ab" * 32, "doctor", "--fix")
    assert code == ExitCode.REQUIRED_MISSING
    assert "ab" * 32 in err
    assert user_conf.read_text() == WORKAROUND
    assert sorted(path.name for path in user_conf.parent.iterdir()) == ["pip.conf"]


def test_doctor_fix_removes_no_trusted_host_where_pip_will_not_use_the_bundle(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--configure git doctor --fix`, a PIP_CONFIG_FILE naming the file with trusted-host,
    or PIP_CERT naming another bundle: trusted-host was removed, and pip, whose cert was not
    the bundle, failed at the proxy with neither."""
    user_conf = isolated_home.pip_user_config
    user_conf.parent.mkdir(parents=True)
    user_conf.write_text(WORKAROUND)
    code, _, err = run(capsys, "--configure", "git", "doctor", "--fix")
    assert code == ExitCode.CONFIG
    assert "trusted-host was left as it is: pip does not verify with the bundle" in err
    assert user_conf.read_text() == WORKAROUND
    named = tmp_path / "named-pip.conf"
    named.write_text(WORKAROUND)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(named))
    code, _, err = run(capsys, "doctor", "--fix", "--scope", "user")
    assert named.read_text() == WORKAROUND
    monkeypatch.delenv("PIP_CONFIG_FILE")
    monkeypatch.setenv("PIP_CERT", str(tmp_path / "other.pem"))
    code, _, err = run(capsys, "doctor", "--fix")
    assert code == ExitCode.CONFIG and "its cert is" in err
    assert user_conf.read_text().count("trusted-host") == WORKAROUND.count("trusted-host")
    monkeypatch.delenv("PIP_CERT")
    run(capsys, "doctor", "--fix")
    assert "trusted-host" not in user_conf.read_text()  # pip uses the bundle: removed


def test_undo_after_doctor_fix_keeps_the_backup_that_holds_the_removed_trusted_host(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """A build made pip.conf.bak; doctor --fix then removed trusted-host, and undo removed
    the .bak: the removed lines were nowhere, though the README says they are in the .bak.
    Now undo and its dry run say the backup stays, and it does."""
    user_conf = isolated_home.pip_user_config
    user_conf.parent.mkdir(parents=True)
    user_conf.write_text("[global]\ntimeout = 60\ntrusted-host = pypi.org\n# keep me\n")
    assert run(capsys)[0] == 0
    backup = user_conf.with_name("pip.conf.bak")
    assert backup.exists()
    code, out, _ = run(capsys, "doctor", "--fix")
    assert code == ExitCode.FINDINGS  # the store's SSL_CERT_FILE is a warning
    assert "removed global.trusted-host = pypi.org" in out
    assert "trusted-host" not in user_conf.read_text()

    code, out, _ = run(capsys, "undo", "--dry-run")
    assert code == ExitCode.OK
    assert f"the trusted-host lines no longer in the file, stays at {backup}" in out
    code, out, _ = run(capsys, "undo")
    assert code == ExitCode.OK
    assert f"the trusted-host lines no longer in the file, stays at {backup}" in out
    assert user_conf.read_text() == "[global]\ntimeout = 60\n# keep me\n"
    assert "trusted-host = pypi.org" in backup.read_text()
    assert not bundle_path(isolated_home).exists()


def root_only_folder() -> str:
    """A folder that is root's alone, for a machine-wide path that must pass the checks
    (tmp_path lies under /tmp, which is everyone's)."""
    for candidate in (Path("/var/cache"), Path("/root")):
        status = candidate.lstat() if candidate.is_dir() else None
        if status and status.st_uid == 0 and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return str(candidate)
    pytest.skip("no folder here is root's alone")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() != 0, reason="POSIX, as root")
def test_a_machine_wide_doctor_fix_leaves_a_pip_config_users_can_change_alone(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """doctor --fix --scope global edits every pip file that holds trusted-host. One in an
    XDG_CONFIG_DIRS folder under /tmp (pip reads it for every account) is anyone's to swap
    for a link to a file root must not write: refused before the lock or the build make
    anything, the file as it was."""
    machine_conf = isolated_home.config_dirs / "pip" / "pip.conf"
    machine_conf.parent.mkdir()
    machine_conf.write_text(WORKAROUND)
    unsafe_output = tmp_path / "machine" / "ca-bundle.pem"
    code, _, err = run(capsys, "doctor", "--fix", "--scope", "global", "-o", str(unsafe_output))
    assert code == ExitCode.BUNDLE
    assert f"the machine-wide bundle {unsafe_output} could be swapped" in err
    assert not unsafe_output.parent.exists()  # not even the lock's folder

    safe = Path(tempfile.mkdtemp(prefix="bcb-test-", dir=root_only_folder()))
    try:
        output = safe / "ca-bundle.pem"
        code, _, err = run(capsys, "doctor", "--fix", "--scope", "global", "-o", str(output))
        assert code == ExitCode.BUNDLE
        assert f"the machine-wide pip config {machine_conf} can be changed by users" in err
        assert not output.exists()
    finally:
        shutil.rmtree(safe)
    assert machine_conf.read_text() == WORKAROUND
    assert sorted(path.name for path in machine_conf.parent.iterdir()) == ["pip.conf"]


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() != 0, reason="POSIX, as root")
@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() != 0, reason="POSIX, as root")
def test_a_bundle_folder_made_writable_by_others_is_refused_by_the_next_run_too(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full run refuses a bundle others could replace; the unchanged run and --check
    decided from the record alone and called it current. Who may write each folder above
    the bundle is in the record now."""
    assert run(capsys)[0] == 0
    folder = bundle_path(isolated_home).parent
    folder.chmod(0o777)
    code, out, _ = run(capsys, "--check")
    assert (code, out) == (ExitCode.STALE, f"stale: who may write {folder} changed\n")
    code, _, err = run(capsys)
    assert code == ExitCode.BUNDLE
    assert str(folder) in err
    folder.chmod(0o755)
    assert run(capsys)[0] == 0
    assert run(capsys, "--check")[0] == ExitCode.OK

    # Through a link: a symlinked HOME whose target is made writable by others.
    real_home = isolated_home.root / "real-home"
    real_home.mkdir(mode=0o700)
    linked = isolated_home.root / "linked-home"
    linked.symlink_to(real_home)
    monkeypatch.setenv("HOME", str(linked))
    monkeypatch.setenv("XDG_DATA_HOME", str(linked / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(linked / "config"))
    assert run(capsys)[0] == 0
    real_home.chmod(0o777)
    code, out, _ = run(capsys, "--check")
    assert (code, out) == (ExitCode.STALE, f"stale: who may write {real_home} changed\n")


def test_doctor_fix_as_root_leaves_another_accounts_pip_config_alone(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """sudo kept a user's HOME: doctor --fix (--scope user) would have rewritten their
    pip.conf as root, through whatever link they put there."""
    user_conf = isolated_home.pip_user_config
    user_conf.parent.mkdir(parents=True)
    user_conf.write_text(WORKAROUND)
    os.chown(user_conf, 65534, 65534)  # nobody's
    code, _, err = run(capsys, "doctor", "--fix")
    assert code == ExitCode.BUNDLE
    assert f"{user_conf}" in err
    assert user_conf.read_text() == WORKAROUND
    assert sorted(path.name for path in user_conf.parent.iterdir()) == ["pip.conf"]


def test_doctor_from_a_removed_folder_still_checks_the_rest(
    store: Store, isolated_home: Home, tmp_path: Path
) -> None:
    """A shell left in a deleted checkout: doctor and doctor --fix failed with a traceback
    (Path.cwd() raises). The removed folder holds nothing to check; the rest is checked."""
    import sys

    gone = tmp_path / "deleted-checkout"
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text("[global]\ntrusted-host = pypi.org\n")
    script = (
        "import os, subprocess, sys; os.rmdir(os.getcwd()); sys.exit(subprocess.call(sys.argv[1:]))"
    )

    def from_removed_folder(*args: str) -> subprocess.CompletedProcess[str]:
        gone.mkdir()
        return subprocess.run(
            [sys.executable, "-c", script, sys.executable, "-m", "build_ca_bundle", *args],
            cwd=gone,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    result = from_removed_folder("doctor")
    assert "Traceback" not in result.stderr
    assert result.returncode == ExitCode.FINDINGS
    assert "trusted-host" in result.stdout + result.stderr

    result = from_removed_folder("--scope", "none", "-o", "rel.pem")  # Path.absolute raised
    assert (result.returncode, result.stderr.splitlines()[0]) == (
        ExitCode.BUNDLE,
        "error: the bundle path rel.pem is relative, and the current folder no longer exists",
    )


def test_doctor_agrees_with_the_build_about_whether_the_bundle_is_current(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """doctor is about the bundle its common options name; its own options (--fix) and the
    command's name are not options of that build. It said "not current" after every run."""
    assert run(capsys)[0] == ExitCode.OK
    for command in (["doctor"], ["doctor", "--verbose"], ["--quiet", "doctor", "--json"]):
        cli.main(command)
        assert "not current" not in capsys.readouterr().out, command
    store.file.write_bytes(store.file.read_bytes() + make_root("Added Later").pem)
    cli.main(["doctor"])
    assert f"the bundle is not current: {store.file} changed" in capsys.readouterr().out


def test_plain_doctor_after_a_configure_run_names_that_run_instead_of_calling_it_stale(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """`build-ca-bundle --configure pip,uv` then `doctor`: "the bundle is not current: the
    options, policy or environment changed", exit 12, and `build-ca-bundle` as the fix."""
    assert run(capsys, "--configure", "pip,uv", "--keep-expired")[0] == ExitCode.OK
    bundle = bundle_path(isolated_home)
    # The same options: that run, so only the machine's findings (the test store's
    # SSL_CERT_FILE names another bundle: a warning, exit 12).
    same = cli.main(["--no-verify", "--configure", "pip,uv", "--keep-expired", "doctor"])
    assert f"{bundle}: " not in capsys.readouterr().out
    code = cli.main(["doctor"])
    out = capsys.readouterr().out
    assert (code, "not current" in out) == (same, False)
    built_by = "build-ca-bundle --no-verify --configure pip,uv --keep-expired"
    assert f"info: {bundle}: current, built by `{built_by}`, with other options" in out
    # without the flags that say nothing of what it set up (--no-verify, a proxy, -q)
    hint = "build-ca-bundle --configure pip,uv --keep-expired doctor"
    assert f"fix: to check what that run set up: {hint}\n" in out

    store.file.write_bytes(store.file.read_bytes() + make_root("Added Later").pem)
    assert cli.main(["doctor"]) == ExitCode.FINDINGS
    assert f"the bundle is not current: {store.file} changed" in capsys.readouterr().out


def test_doctor_reports_each_ca_variable_once_and_says_what_it_does(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = store.file.parent / "other-bundle.pem"
    other.write_bytes(store.corporate.pem)
    monkeypatch.setenv("PIP_CERT", str(other))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    assert run(capsys)[0] == ExitCode.NOT_APPLIED
    cli.main(["doctor", "--json"])
    findings = json.loads(capsys.readouterr().out)["findings"]
    about = [f for f in findings if "PIP_CERT" in f["where"] or "REQUESTS_CA" in f["where"]]
    assert [(f["severity"], f["where"]) for f in about] == [
        ("error", "environment variable PIP_CERT"),
        ("error", "environment variable REQUESTS_CA_BUNDLE"),
    ]
    (ssl_cert_file,) = [f for f in findings if f["where"] == "environment: SSL_CERT_FILE"]
    assert "pip" not in ssl_cert_file["message"]  # pip's cert is not beaten by it

    # A variable naming no file: one error, which says so (it was two, one per angle).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(store.file.parent / "gone.pem"))
    cli.main(["doctor", "--json"])
    findings = json.loads(capsys.readouterr().out)["findings"]
    (gone,) = [f for f in findings if "REQUESTS_CA" in f["where"]]
    assert gone["severity"] == "error"
    assert "gone.pem (which does not exist) replaces pip's cert" in gone["message"]


def test_a_log_taking_stdout_and_stderr_gets_the_lines_in_the_order_they_were_said(
    store: Store, tmp_path: Path, isolated_home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`build-ca-bundle >> logon.log 2>&1`: stdout is block-buffered in a file, so the error
    about PIP_CERT landed above the "wrote" line it follows (audit h43)."""
    monkeypatch.setenv("PIP_CERT", str(store.file))
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # this machine sets it; a PC does not
    log = tmp_path / "logon.log"
    with log.open("wb") as both:
        done = subprocess.run(
            [sys.executable, "-m", "build_ca_bundle", "--no-verify"],
            stdout=both,
            stderr=both,
            check=False,
        )
    assert done.returncode == ExitCode.NOT_APPLIED
    lines = log.read_text().splitlines()
    wrote = next(n for n, line in enumerate(lines) if line.startswith("wrote "))
    error = next(n for n, line in enumerate(lines) if line.startswith("error: "))
    assert wrote < error, lines


def test_quiet_still_says_on_stderr_what_keeps_pip_from_the_bundle(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A logon script runs -q and drops stdout: PIP_CERT beating pip.conf (this very machine
    exports one) went unsaid, though --quiet means "errors only". And it exits 13, every
    logon while it holds: the first run said so with 13, the next ones with 0, and a fleet
    counting exit codes took the machine for a healthy one."""
    monkeypatch.setenv("PIP_CERT", str(store.file))
    code, out, err = run(capsys, "--quiet")
    assert (code, out) == (ExitCode.NOT_APPLIED, "")
    assert "error: environment variable PIP_CERT" in err
    assert "  fix: " in err
    for unchanged in (["--quiet"], []):  # the next logon: nothing changed, it still holds
        code, out, err = run(capsys, *unchanged)
        assert code == ExitCode.NOT_APPLIED
        assert "error: environment variable PIP_CERT" in err
        assert "error:" not in out
    quick = subprocess.run(  # the logon path that answers before the CLI is imported
        [sys.executable, "-m", "build_ca_bundle", "-q"], capture_output=True, text=True, check=False
    )
    assert (quick.returncode, quick.stdout) == (ExitCode.NOT_APPLIED, "")
    assert "error: environment variable PIP_CERT" in quick.stderr
    # --check: current, and the error still holds (it said only "current" before).
    for check in (["--check", "-q"], ["--check", "--scope=user"]):  # quick path, full CLI
        code, out, err = run(capsys, *check)
        assert code == ExitCode.OK
        assert "error: environment variable PIP_CERT" in err, check
    payload = json.loads(run(capsys, "--check", "--json")[1])
    assert any("PIP_CERT" in error for error in payload["errors"])
    code, out, _ = run(capsys, "--keep-expired")  # a full run that changes nothing
    assert code == ExitCode.NOT_APPLIED
    assert "nothing changed: the bundle is current; see the errors below" in out
    assert "every setting already points at it" not in out  # PIP_CERT beats it
    monkeypatch.delenv("PIP_CERT")
    assert run(capsys, "--quiet") == (0, "", "")  # nothing wrong: silent, and 0


def test_doctor_fix_records_what_the_next_logon_run_finds_current(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["doctor", "--fix"])  # it builds the bundle (SSL_CERT_FILE stays a finding)
    assert "not current" not in capsys.readouterr().out
    assert run(capsys, "--check")[:2] == (ExitCode.OK, f"current: {bundle_path(isolated_home)}\n")
    code, out, _ = run(capsys)
    assert code == ExitCode.OK
    assert out.startswith("bundle unchanged:")


@pytest.mark.parametrize(
    ("arguments", "build"),
    [
        (["doctor"], []),
        (
            ["--configure", "env", "doctor", "--fix", "--scope=user"],
            ["--configure", "env", "--scope=user"],
        ),
        (["--output", "doctor", "doctor"], ["--output", "doctor"]),  # a bundle named "doctor"
        (["verify", "https://x/", "--bundle", "b.pem", "--scope", "global"], ["--scope", "global"]),
        (
            ["--out", "x", "env", "--shell", "fish", "--pol", "p.toml"],
            ["--out", "x", "--pol", "p.toml"],
        ),
        (["undo", "-ox.pem"], ["-ox.pem"]),
    ],
)
def test_a_commands_build_arguments(arguments: list[str], build: list[str]) -> None:
    parser = cli.build_parser()
    command = parser.parse_args(arguments).command
    assert cli._build_arguments(parser, arguments, command) == build


def test_a_run_gives_back_the_cycle_collector_as_it_found_it(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run switches Python's cycle collector off while it works (it only makes acyclic
    objects); a program that imports the tool must get it back as it was."""
    import gc

    assert gc.isenabled()
    assert run(capsys)[0] == 0
    assert gc.isenabled()
    gc.disable()
    try:
        assert run(capsys, "--extra-ca", str(store.file))[0] == 0
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("flag", ["--exclude", "--require", "--pin"])
def test_a_mistyped_fingerprint_is_a_usage_error(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fingerprint that is not one would match nothing, silently: refused (exit 2)."""
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--no-verify", flag, "4f1c"])
    assert stopped.value.code == ExitCode.USAGE
    assert "not a SHA-256 fingerprint: '4f1c'" in capsys.readouterr().err


def test_output_naming_a_folder_is_refused_before_anything_is_written(
    store: Store, tmp_path: Path, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "bundles"
    folder.mkdir()
    before = sorted(tmp_path.iterdir())
    code, _, err = run(capsys, "--output", str(folder))
    assert code == ExitCode.BUNDLE
    assert f"{folder} is a folder" in err
    assert f"--output {folder / 'ca-bundle.pem'}" in err
    assert sorted(tmp_path.iterdir()) == before  # no lock files beside it
    assert list(folder.iterdir()) == []


def test_a_reader_that_goes_away_gets_no_traceback(store: Store, isolated_home: Home) -> None:
    """`build-ca-bundle --json | head`: the reader is gone before the output is. Exit 1, no
    traceback (its end of the pipe is closed before the run even starts, so every write
    fails, as the writes after `head` quits do)."""
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)
    process = subprocess.Popen(
        [sys.executable, "-m", "build_ca_bundle", "--no-verify", "--json"],
        stdout=write_end,
        stderr=subprocess.PIPE,
    )
    os.close(write_end)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert b"Traceback" not in stderr
    assert bundle_path(isolated_home).exists()  # the run itself did its job
    # argparse leaves by SystemExit, before the flush: exit 120 and Python's "Exception
    # ignored ... BrokenPipeError" for these. (Buffered, as a pipe is by default: with
    # PYTHONUNBUFFERED argparse's own write fails, and argparse ignores that.)
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    for arguments in (["--version"], ["--json", "--bogus"], ["--help"]):
        read_end, write_end = os.pipe()
        os.close(read_end)
        leaving = subprocess.run(
            [sys.executable, "-m", "build_ca_bundle", *arguments],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=buffered,
            timeout=60,
            check=False,
        )
        os.close(write_end)
        assert leaving.returncode == 1, arguments
        assert b"Exception ignored" not in leaving.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_output_to_a_full_disk_is_one_line_on_stderr_not_a_traceback(
    store: Store, isolated_home: Home, extra: list[str]
) -> None:
    """A logon script's log on a full disk: the run does its work; its report cannot go
    out. Exit 1 with one line saying so (it was a traceback, or exit 120 at the exit flush
    on an unchanged run)."""
    import sys

    for _ in range(2):  # a first run, then the unchanged one
        with Path("/dev/full").open("w") as full:
            result = subprocess.run(
                [sys.executable, "-m", "build_ca_bundle", "--no-verify", *extra],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
                check=False,
            )
        assert result.returncode == 1
        assert result.stderr == (
            "build-ca-bundle: cannot write its output (No space left on device); "
            "the run itself is done\n"
        )
        assert bundle_path(isolated_home).exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell")
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_closed_stdout_is_no_traceback_and_takes_no_file_of_ours(
    store: Store, isolated_home: Home
) -> None:
    """A launcher that closes stdout (`>&-`): the unchanged run and --check ended in an
    AttributeError traceback (exit 1, the answer lost). The closed descriptor is now held on
    the null device, so no file of ours takes it while git runs (which writes to it)."""
    tool = [sys.executable, "-m", "build_ca_bundle", "--no-verify", "--configure", "pip,git"]
    stale = ["--exclude", store.corporate.sha256, "--check"]  # a run would drop that root
    for extra, code in (
        ([], 0),
        ([], 0),
        (["--check"], 0),
        (stale, 10),
        # Each of these was an AttributeError traceback, exit 1 (sys.stdout is None):
        (["--json"], 0),
        (["--check", "--json"], 0),
        (["env"], 0),
        (["--json", "--extra-ca", "/nowhere.pem"], ExitCode.CONFIG),
    ):
        closed = subprocess.run(
            ["sh", "-c", 'exec "$@" >&-', "sh", *tool, *extra],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        said = closed.stderr if code != ExitCode.CONFIG else ""
        assert (closed.returncode, said) == (code, ""), extra
        assert "Traceback" not in closed.stderr
    assert bundle_path(isolated_home).read_bytes().startswith(b"# This CA bundle")
    assert run_check_current(isolated_home)


def run_check_current(home: Home) -> bool:
    """Whether a --check (in a child, stdout a pipe) says the bundle is current."""
    check = [sys.executable, "-m", "build_ca_bundle", "--configure", "pip,git", "--check"]
    result = subprocess.run(check, capture_output=True, text=True, timeout=120, check=False)
    return result.returncode == 0 and result.stdout.startswith("current: ")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_ctrl_c_is_one_line_and_exit_130_not_a_traceback(store: Store, isolated_home: Home) -> None:
    """SIGINT in the middle of a run: a KeyboardInterrupt traceback before."""
    import signal
    import sys

    from build_ca_bundle import bundle as bundle_module

    run_lock = bundle_path(isolated_home).with_name("ca-bundle.pem.run.lock")
    with bundle_module.run_lock(bundle_path(isolated_home)):  # the run waits here
        process = subprocess.Popen(
            [sys.executable, "-m", "build_ca_bundle", "--no-verify"],
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until_it_waits_on(process, run_lock)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr == "build-ca-bundle: interrupted; no file was left half-written\n"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_run_that_waited_on_an_undo_builds_after_it_in_a_new_folder(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """A logon run waited on the run lock while the person's undo removed the lock files
    and then the bundle's folder: the run failed with exit 5, "cannot open the lock file
    ... No such file or directory" and a hint to check the folder's permissions (8 runs in
    80 racing undos). Now it makes the folder again and takes its turn."""
    import sys

    from build_ca_bundle import bundle as bundle_module

    assert run(capsys)[0] == 0
    output = bundle_path(isolated_home)
    run_lock = output.with_name("ca-bundle.pem.run.lock")
    with bundle_module.run_lock(output):  # the undo, holding the run lock
        process = subprocess.Popen(  # --verbose: a full run, which takes the lock
            [sys.executable, "-m", "build_ca_bundle", "--no-verify", "--verbose"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until_it_waits_on(process, run_lock)
        # What undo leaves when it lets go: no bundle, no lock files, no folder.
        shutil.rmtree(output.parent)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (0, ""), out
    assert output.is_file()


def wait_until_it_waits_on(process: subprocess.Popen[str], lock_file: Path) -> None:
    """Until the child has ``lock_file`` open (it then waits for the lock we hold)."""
    import time

    deadline = time.monotonic() + 60
    fds = Path(f"/proc/{process.pid}/fd")
    while not any(_names(link, lock_file) for link in fds.iterdir()):
        assert time.monotonic() < deadline, "the run never reached its lock"
        time.sleep(0.05)


def _names(link: Path, target: Path) -> bool:
    try:
        return link.readlink() == target
    except OSError:
        return False


def test_extra_roots_that_cannot_be_written_do_not_claim_the_bundle_unchanged(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bundle is replaced first, then extra-roots.pem: a failure on the second said
    "the previous bundle is unchanged", which was false and misled whoever read it. (What is
    in the way, a folder say, is refused before anything is written.)"""
    bundle = bundle_path(isolated_home)
    extra = bundle.with_name("extra-roots.pem")
    extra.mkdir(parents=True)  # in the way
    code, _, err = run(capsys)
    assert code == ExitCode.BUNDLE
    assert f"{extra} is a folder" in err
    assert not bundle.exists()
    assert not isolated_home.pip_user_config.exists()
    extra.rmdir()

    long_name = bundle.with_name("b" * 224 + ".pem")  # its side file's temp name: too long
    code, _, err = run(capsys, "--output", str(long_name))
    assert code == ExitCode.BUNDLE
    assert f"{long_name} was written, but " in err
    assert "no setting was changed" in err
    assert not isolated_home.pip_user_config.exists()


def test_policy_file_sets_defaults_and_flags_win(
    store: Store, tmp_path: Path, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    extra = make_root("Root From Policy")
    extra.write(tmp_path / "policy-roots" / "corp.crt")
    policy.write_text(
        f'extra_ca = ["{tmp_path / "policy-roots"}"]\n'
        f'required = ["{store.corporate.sha256}"]\n'
        'scope = "none"\n'
    )
    code, out, _ = run(capsys, "--policy", str(policy))
    assert code == 0
    assert f"policy {policy}: extra_ca, required, scope" in out
    assert extra.pem.decode().strip() in bundle_path(isolated_home).read_text()
    assert not isolated_home.pip_user_config.exists()  # scope none from the policy
    code, out, _ = run(capsys, "--policy", str(policy), "--scope", "user")
    assert code == 0
    assert isolated_home.pip_user_config.exists()  # the flag won
    # and the summary does not credit the policy with it (it listed every key it set)
    assert f"policy {policy}: extra_ca, required\n" in out
    policy.write_text('required = ["' + make_root("Absent").sha256 + '"]\n')
    code, _, err = run(capsys, "--policy", str(policy))
    assert code == ExitCode.REQUIRED_MISSING
    policy.write_text("scope = \n")
    code, _, err = run(capsys, "--policy", str(policy))
    assert code == ExitCode.CONFIG
    assert str(policy) in err


def test_a_quoted_tilde_in_a_path_flag_is_the_home_folder(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--policy=~/corp.toml` (no shell expands "~" there) said "policy file not found:
    ~/corp.toml"; --output and --extra-ca expanded it."""
    (isolated_home.home / "corp.toml").write_text('scope = "none"\n')
    code, out, _ = run(capsys, "--policy=~/corp.toml")
    assert code == 0
    assert f"policy {isolated_home.home / 'corp.toml'}: scope" in out
    assert not isolated_home.pip_user_config.exists()


def test_a_flag_turns_off_what_the_policy_turned_on(
    store: Store, tmp_path: Path, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """`keep_expired = true` in a policy could not be turned off: there was no flag for it,
    though flags win over the policy for single values."""
    expired = make_root(
        "Expired Root",
        not_before=dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc),
        not_after=dt.datetime(2002, 1, 1, tzinfo=dt.timezone.utc),
    )
    expired.write(tmp_path / "roots" / "old.pem")
    policy = tmp_path / "policy.toml"
    policy.write_text(f'extra_ca = ["{tmp_path / "roots"}"]\nkeep_expired = true\n')
    code, out, _ = run(capsys, "--policy", str(policy))
    assert code == 0
    assert expired.pem.decode().strip() in bundle_path(isolated_home).read_text()
    assert f"policy {policy}: extra_ca, keep_expired\n" in out
    code, out, _ = run(capsys, "--policy", str(policy), "--no-keep-expired")
    assert code == 0
    assert expired.pem.decode().strip() not in bundle_path(isolated_home).read_text()
    assert f"policy {policy}: extra_ca\n" in out


def test_a_policys_empty_configure_configures_nothing_and_scope_none_says_what_it_leaves(
    store: Store, tmp_path: Path, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """`configure = []` (IT: no tool) still set pip; `--scope none --configure git` left git
    alone without a word."""
    policy = tmp_path / "policy.toml"
    policy.write_text("configure = []\n")
    code, out, _ = run(capsys, "--policy", str(policy))
    assert code == 0
    assert bundle_path(isolated_home).exists()
    assert not isolated_home.pip_user_config.exists()
    assert json.loads(run(capsys, "--policy", str(policy), "--json")[1])["changes"] == []
    code, out, _ = run(capsys, "--scope", "none", "--configure", "pip,git")
    assert code == 0
    assert "--scope none writes the bundle only: git left as they are" in out
    assert "env persists" not in out
    code, out, _ = run(capsys, "--scope", "none", "--configure", "pip,env")
    assert "fix: choose a scope (user, site, global) to configure them; env persists the " in out
    assert "left as they are" not in run(capsys, "--scope", "none")[1]


def test_a_named_policy_is_read_over_the_machines_and_cannot_drop_what_it_requires(
    store: Store,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--policy FILE replaced the machine's policy: an empty file of one's own brought back
    a root IT had excluded, and dropped the fingerprints IT requires. It is read over the
    machine's now, as flags are: its values win, IT's lists stay."""
    from build_ca_bundle import policy as policy_module

    machine = tmp_path / "machine-policy.toml"
    machine.write_text(f'exclude = ["{store.corporate.sha256}"]\nkeep_expired = false\n')
    monkeypatch.setattr(policy_module, "default_location", lambda **_: machine)
    own = tmp_path / "own.toml"
    own.write_text('scope = "none"\n')
    code, out, _ = run(capsys, "--policy", str(own))
    assert code == 0
    assert store.corporate.pem.decode().strip() not in bundle_path(isolated_home).read_text()
    assert f"policy {machine}, then {own}: exclude, keep_expired, scope" in out
    assert not isolated_home.pip_user_config.exists()  # its own scope won

    machine.write_text(f'required = ["{make_root("Required By IT").sha256}"]\n')
    assert run(capsys, "--policy", str(own))[0] == ExitCode.REQUIRED_MISSING


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_every_scope_refuses_a_machine_policy_that_ordinary_users_could_change(
    store: Store,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--scope global refused a world-writable machine policy; --scope user read it: any
    account could add a root to every account's bundle, root's own included, at the next
    logon. Now every scope refuses it, and the extra CA files it names, with nothing
    changed."""
    from build_ca_bundle import policy as policy_module

    corporate = make_root("Planted Root")
    planted = corporate.write(tmp_path / "planted.pem")
    machine = tmp_path / "machine-policy.toml"
    machine.write_text(f'extra_ca = ["{planted}"]\n')
    monkeypatch.setattr(policy_module, "default_location", lambda **_: machine)
    for writable in (machine, planted):
        writable.chmod(0o666)
        code, _, err = run(capsys)
        assert code == ExitCode.BUNDLE
        assert f"{writable} can be changed by users other than root" in err
        assert "no run relies on it, in any scope" in err
        assert not bundle_path(isolated_home).exists()
        assert not isolated_home.pip_user_config.exists()
        writable.chmod(0o644)
    assert run(capsys)[0] == 0
    assert corporate.pem.decode().strip() in bundle_path(isolated_home).read_text()

    # A file of one's own is one's own choice, but root's bundle takes none that another
    # account could change (test_as_root_extra_ca_and_policy_files_...).
    own = make_root("My Own Root").write(tmp_path / "own.pem")
    own.chmod(0o666)
    as_root = os.geteuid() == 0
    assert run(capsys, "--extra-ca", str(own))[0] == (ExitCode.BUNDLE if as_root else 0)
    own.chmod(0o644)
    assert run(capsys, "--extra-ca", str(own))[0] == 0

    folder = tmp_path / "policy-roots"  # a folder the policy names: each file in it counts
    inside = make_root("In The Folder").write(folder / "corp.crt")
    machine.write_text(f'extra_ca = ["{folder}"]\n')
    inside.chmod(0o666)
    code, _, err = run(capsys)
    assert (code, f"{inside} can be changed by users other than root" in err) == (5, True)


def test_a_machine_policys_folder_made_writable_since_the_last_run_is_not_unchanged(
    store: Store,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`chmod 777` on the policy's folder after a run: the next runs said "bundle unchanged"
    and --check "current", exit 0, where a full run refuses the policy (exit 5): any
    account could now swap in a policy naming its own root. The same for an extra CA
    file's folder."""
    from build_ca_bundle import policy as policy_module

    folder = tmp_path / "machine"
    roots = tmp_path / "it-roots"
    make_root("IT Root").write(roots / "it.pem")
    machine = folder / "policy.toml"
    folder.mkdir()
    machine.write_text(f'extra_ca = ["{roots / "it.pem"}"]\n')
    monkeypatch.setattr(policy_module, "default_location", lambda **_: machine)
    for made_writable in (folder, roots):
        assert run(capsys)[0] == 0
        assert run(capsys)[1].startswith("bundle unchanged")
        made_writable.chmod(0o777)
        assert run(capsys, "--check")[0] == ExitCode.STALE
        code, _, err = run(capsys)
        assert code == ExitCode.BUNDLE
        assert "can be changed by users other than root" in err
        made_writable.chmod(0o755)


def test_doctor_reports_a_machine_policy_every_run_refuses(
    store: Store,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A policy that does not parse: doctor exited 3 with the parse error and no report. A
    world-writable one: doctor said only "the bundle is not current: run build-ca-bundle",
    and that run exited 5."""
    from build_ca_bundle import policy as policy_module

    machine = tmp_path / "machine" / "policy.toml"
    machine.parent.mkdir()
    machine.write_text('scope = "user\n')
    monkeypatch.setattr(policy_module, "default_location", lambda **_: machine)
    code, out, _ = run(capsys, "doctor")
    assert code == ExitCode.FINDINGS
    assert f"error: policy: every run refuses it, and changes nothing: {machine}: " in out
    assert "(at line 1, column 14)" in out
    assert "no bundle yet" in out  # and the rest was looked at, without the policy
    assert run(capsys)[0] == ExitCode.CONFIG  # as doctor says

    machine.write_text('scope = "user"\n')
    assert run(capsys)[0] == 0
    machine.chmod(0o666)
    code, out, _ = run(capsys, "doctor")
    assert code == ExitCode.FINDINGS
    assert f"{machine} can be changed by users other than root" in out
    assert run(capsys)[0] == ExitCode.BUNDLE
    machine.chmod(0o644)
    code, out, _ = run(capsys, "doctor")
    assert "policy:" not in out


def test_global_scope_refuses_a_path_ordinary_users_could_swap(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # tmp_path lies under /tmp, which every user may write to: a machine-wide bundle there
    # could be replaced by anyone. Nothing may be written, and no machine file touched.
    target = tmp_path / "machine" / "ca-bundle.pem"
    code, _, err = run(capsys, "--scope", "global", "--output", str(target))
    assert code == ExitCode.BUNDLE
    assert "can be changed by users other than root" in err
    assert not target.exists()
    real = tmp_path / "real"
    real.mkdir(mode=0o755)
    link = tmp_path / "link"
    link.symlink_to(real)
    code, _, err = run(capsys, "--scope", "global", "--output", str(link / "ca-bundle.pem"))
    assert code == ExitCode.BUNDLE
    assert "symlink" in err


def test_global_scope_refuses_an_extra_ca_file_ordinary_users_could_change(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every account would trust the roots in it: a file under /tmp is anyone's to swap.
    Checked before anything is written (here a dry run, as the bundle path is checked
    first: see the test above)."""
    extra = tmp_path / "corp.pem"
    extra.write_bytes(store.corporate.pem)
    code, _, err = run(capsys, "--scope", "global", "--dry-run", "--extra-ca", str(extra))
    assert code == ExitCode.BUNDLE
    assert f"the extra CA file {extra} can be changed by users other than root" in err


def test_global_scope_refuses_a_store_the_environment_names_in_a_folder_users_can_write(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root's SSL_CERT_FILE (exported by a profile, kept by `sudo -E`) is one session's
    choice, not the OS's: a machine-wide bundle must not take roots from a file an ordinary
    user could change (here under /tmp), as it does not from such an --extra-ca file."""
    code, _, err = run(capsys, "--scope", "global", "--dry-run")
    assert code == ExitCode.BUNDLE
    assert (
        f"the store that SSL_CERT_FILE or SSL_CERT_DIR names, {store.file} can be changed "
        "by users other than root" in err
    )
    monkeypatch.delenv("SSL_CERT_FILE")
    code, _, err = run(capsys, "--scope", "global", "--dry-run")
    assert code == ExitCode.BUNDLE
    assert f"SSL_CERT_DIR names, {store.folder} can be changed" in err


def test_a_name_cannot_forge_lines_or_hide_text_on_the_terminal(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A certificate's name is anyone's to choose (a server's, a proxy's): a line break in
    it printed a line of its own (a forged fingerprint), and an escape sequence could hide
    the real one. Both are written as escapes; the bundle and the JSON were safe already."""
    sneaky = make_root("Evil Root\nsha256 0000 trusted by IT\x1b[8m")
    extra = tmp_path / "sneaky.pem"
    sneaky.write(extra)
    code, out, _ = run(capsys, "--scope", "none", "--extra-ca", str(extra))
    assert code == 0
    assert "\x1b" not in out
    assert not any(line.startswith("sha256 0000") for line in out.splitlines())
    assert "Evil Root\\0Asha256 0000 trusted by IT\\1B[8m" in out  # the subject, RFC 4514
    # The label (messages, the summary's left-out list), as Python writes escapes.
    assert parse_der(sneaky.der).label == "Evil Root\\nsha256 0000 trusted by IT\\x1b[8m"


def test_a_record_that_cannot_be_saved_is_reported_not_a_traceback(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A nearly full disk, an immutable file, a folder in the way: the change record is
    written before pip.conf is touched (exit 3, pip.conf as it was); the manifest after
    everything is done (the run succeeds, and says every run will be a full one)."""
    from build_ca_bundle import history

    bundle = bundle_path(isolated_home)
    real_save = history.save

    def disk_full(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(history, "save", disk_full)
    code, _, err = run(capsys)
    assert code == ExitCode.CONFIG
    assert f"cannot save the change record {history.path_for(bundle)} (No space" in err
    assert not isolated_home.pip_user_config.exists()
    monkeypatch.setattr(history, "save", real_save)  # not undo(): that ends the isolation
    Path(manifest.path_for(bundle)).mkdir()  # a folder where the manifest goes
    code, out, err = run(capsys)
    assert code == 0
    assert "cannot save this run's record" in out + err
    assert "every run will be a full one" in out + err
    assert isolated_home.pip_user_config.exists()
    code, _, err = run(capsys, "--quiet")  # a logon script hears it too
    assert "cannot save this run's record" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_or_device_where_a_file_goes_is_refused_not_waited_on(
    store: Store, isolated_home: Home, tmp_path: Path
) -> None:
    """A FIFO read blocks until someone writes; /dev/zero never ends. At logon either hung
    the login for good. Each is now "not a regular file", at once."""
    import sys

    def tool(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "build_ca_bundle", "--no-verify", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    pip_conf.symlink_to(fifo)
    result = tool()
    assert result.returncode == ExitCode.CONFIG
    assert "not a regular file" in result.stderr
    pip_conf.unlink()
    pip_conf.symlink_to("/dev/zero")
    assert "not a regular file" in tool().stderr
    pip_conf.unlink()
    assert tool().returncode == 0
    # Our own files: a manifest that is a FIFO means a full run; a store file one is a problem.
    manifest_path = Path(manifest.path_for(bundle_path(isolated_home)))
    manifest_path.unlink()
    os.mkfifo(manifest_path)
    assert tool("--check").returncode == ExitCode.STALE
    store.file.unlink()
    os.mkfifo(store.file)
    result = tool("--scope", "none", "--extra-ca", str(store.folder))
    assert result.returncode in (0, ExitCode.CONFIG, ExitCode.NO_CERTIFICATES), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize("mask", [0o000, 0o222, 0o077])
def test_an_odd_umask_leaves_no_folder_open_to_others_and_no_file_shut_to_its_owner(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str], mask: int
) -> None:
    """umask 000 made ~/.config/pip world-writable (anyone could swap pip.conf); umask
    0222 made the lock files 0400, which no later run could open (as their owner)."""
    old = os.umask(mask)
    try:
        assert run(capsys)[0] == 0
    finally:
        os.umask(old)
    folder_mode = stat.S_IMODE(isolated_home.pip_user_config.parent.stat().st_mode)
    assert folder_mode == (0o700 if mask == 0o077 else 0o755)
    bundle = bundle_path(isolated_home)
    for lock_file in bundle.parent.glob("*.lock"):
        assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600, lock_file


def test_unknown_tool_names_are_clear_errors(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--configure", "pip,emacs")
    assert code == ExitCode.USAGE  # a typo, not an internal error ("please report it")
    assert "unknown tool 'emacs'" in err


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_configure_given_twice_configures_both(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--configure git --configure pip` silently meant pip alone (the last one won)."""
    code, out, _ = run(capsys, "--configure", "git", "--configure", "pip")
    assert code == 0
    assert "git: set " in out and "pip: set " in out


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_configure_git_and_undo_through_the_cli(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--configure", "pip,git")
    assert code == 0
    bundle = bundle_path(isolated_home)
    assert (
        f"git: set {isolated_home.home / '.gitconfig'}: http.sslCAInfo: (unset) -> {bundle}" in out
    )
    read = subprocess.run(
        ["git", "config", "--global", "--get", "http.sslCAInfo"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert read.stdout.strip() == str(bundle)
    assert cli.main(["undo"]) == 0
    read = subprocess.run(
        ["git", "config", "--global", "--get", "http.sslCAInfo"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert read.returncode == 1  # unset again


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_one_tool_that_fails_does_not_stop_the_others_and_the_error_says_what_was_done(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """git refused to write (a stale ~/.gitconfig.lock): the tools after it were never
    tried, and the one-line error did not say that pip had been set."""
    monkeypatch.setenv("SHELL", "/bin/bash")
    (isolated_home.home / ".gitconfig.lock").write_text("")
    code, _, err = run(capsys, "--configure", "pip,git,env")
    assert code == ExitCode.CONFIG
    assert "set as planned: pip, env" in err
    assert f"cannot write {isolated_home.home / '.gitconfig'}" in err or "git config" in err
    from build_ca_bundle.targets import env as env_target

    startup, _ = env_target.startup_file(isolated_home.home, os.environ)
    assert "SSL_CERT_FILE" in startup.read_text()  # env, after the failing git, was set
    (isolated_home.home / ".gitconfig.lock").unlink()
    assert run(capsys, "--configure", "pip,git,env")[0] == 0  # the next run sets git


def test_a_start_up_file_that_cannot_be_written_is_an_error_not_a_traceback(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """~/.profile linked into a read-only store (home-manager): a PermissionError traceback
    and exit 1, "an internal error". Now exit 3, naming the file and the link."""
    from build_ca_bundle import pipeline

    monkeypatch.setenv("SHELL", "/bin/sh")
    # As the user whose home it is: root's own check of the files it edits does not run for
    # them, and the write itself fails.
    monkeypatch.setattr(pipeline, "check_root_configs_and_stores", lambda *_: None)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the link's folder should be\n")
    profile = isolated_home.home / ".profile"
    profile.symlink_to(blocked / "profile")
    code, _, err = run(capsys, "--configure", "pip,env")
    assert code == ExitCode.CONFIG, err
    assert f"cannot write the start-up file {profile} (a link to" in err
    assert "Traceback" not in err
    assert "set as planned: pip" in err


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_an_included_git_value_that_wins_over_ours_is_an_error(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """An [include] after the [http] section where git puts our line: its http.sslCAInfo is
    what git uses, and the run said only "may not be ours", exit 0. git is asked now."""
    included = isolated_home.home / "inc.gitconfig"
    included.write_text("[http]\n\tsslCAInfo = /corp/inc.pem\n")
    gitconfig = isolated_home.home / ".gitconfig"
    gitconfig.write_text(f"[http]\n\tpostBuffer = 1\n[include]\n\tpath = {included}\n")
    for _ in range(2):  # the run that sets it, then the one that finds it set
        code, _, err = run(capsys, "--configure", "pip,git")
        assert code == ExitCode.NOT_APPLIED
        assert f"git reads http.sslCAInfo = /corp/inc.pem from {included}" in err
    included.write_text("[http]\n\tpostBuffer = 2\n")  # the fix: nothing set there
    code, _, err = run(capsys, "--configure", "pip,git")
    assert (code, err) == (0, "")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_git_ca_file_with_roots_the_bundle_lacks_is_left_until_they_are_added(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """http.sslCAInfo named the company's own CA file; it was replaced by the bundle, which
    lacked that root, while the note said "nothing git trusted before is lost": the internal
    git server broke. Now git is left as it is, the error says how to add the roots, and
    with them added git points at the bundle."""
    private = make_root("Internal Git Server CA")
    corp = private.write(tmp_path / "corp.pem")
    subprocess.run(["git", "config", "--global", "http.sslCAInfo", str(corp)], check=True)

    def git_ca() -> str:
        read = ["git", "config", "--global", "--get", "http.sslCAInfo"]
        return subprocess.run(read, capture_output=True, text=True, check=True).stdout.strip()

    code, out, err = run(capsys, "--configure", "pip,git")
    assert code == ExitCode.NOT_APPLIED
    assert f"http.sslCAInfo names {corp}, which holds 1 certificate(s) the bundle lacks" in err
    assert f"build-ca-bundle --extra-ca {corp}" in err
    assert git_ca() == str(corp)
    assert "nothing git trusted before is lost" not in out
    code, out, err = run(capsys, "--configure", "pip,git", "--extra-ca", str(corp))
    assert (code, err) == (0, "")
    assert git_ca() == str(bundle_path(isolated_home))
    assert private.pem.decode().strip() in bundle_path(isolated_home).read_text()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_tool_setting_changed_by_hand_makes_the_next_run_a_full_one(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only pip's files were watched: after `git config --global http.sslCAInfo` by hand,
    --check said current and a run said "nothing to do", leaving git on the other file."""
    assert run(capsys, "--configure", "pip,git")[0] == 0
    other = tmp_path / "other.pem"
    subprocess.run(["git", "config", "--global", "http.sslCAInfo", str(other)], check=True)
    code, out, _ = run(capsys, "--configure", "pip,git", "--check")
    assert code == ExitCode.STALE
    assert str(isolated_home.home / ".gitconfig") in out
    code, out, _ = run(capsys, "--configure", "pip,git")
    assert f"http.sslCAInfo: {other} -> {bundle_path(isolated_home)}" in out
    assert run(capsys, "--configure", "pip,git", "--check")[0] == ExitCode.OK


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() != 0, reason="POSIX, as root")
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_machine_wide_run_refuses_a_tool_config_users_can_change_even_when_already_set(
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The machine-wide git config already names the bundle, so there is nothing to change
    in it: it was not checked, though any user could point every account's git elsewhere.
    (The store is the test's own, in the root-only folder: one under /tmp would be refused
    first, and this machine's store is not the code under test.)"""
    safe = Path(tempfile.mkdtemp(prefix="bcb-test-", dir=root_only_folder()))
    try:
        make_root("Machine Store Root").write(safe / "store.pem")
        (safe / "certs").mkdir()
        monkeypatch.setenv("SSL_CERT_FILE", str(safe / "store.pem"))
        monkeypatch.setenv("SSL_CERT_DIR", str(safe / "certs"))
        output = safe / "ca-bundle.pem"
        system = tmp_path / "gitconfig"  # under /tmp: anyone's to swap
        system.write_text(f"[http]\n\tsslCAInfo = {output}\n")
        monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(system))
        monkeypatch.delenv("GIT_CONFIG_NOSYSTEM")
        code, _, err = run(capsys, "--scope", "global", "-o", str(output), "--configure", "git")
        assert code == ExitCode.BUNDLE, err
        assert f"the machine-wide git config {system} can be changed by users" in err
        assert not output.exists()
    finally:
        shutil.rmtree(safe)


def test_persist_env_writes_one_block_to_the_login_shell_file(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHELL", "/bin/bash")
    profile = isolated_home.home / ".profile"
    profile.write_text("export EDITOR=vi\n")
    for _ in range(3):
        assert run(capsys, "--persist-env")[0] == 0
    text = profile.read_text()
    assert text.startswith("export EDITOR=vi\n")
    assert text.count("# >>> build-ca-bundle >>>") == 1
    assert f"export PIP_CERT='{bundle_path(isolated_home)}'" in text
    profile.write_text("export EDITOR=vi\n")  # a person removed the block: the next run notices
    assert run(capsys, "--persist-env")[0] == 0
    assert profile.read_text().count("# >>> build-ca-bundle >>>") == 1
    assert cli.main(["undo"]) == 0
    assert profile.read_text() == "export EDITOR=vi\n"  # not even the blank line before it


def test_undo_removes_a_start_up_file_persist_env_created(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An empty ~/.profile (or fish conf.d file) stayed behind after undo."""
    monkeypatch.setenv("SHELL", "/usr/bin/fish")
    assert run(capsys, "--persist-env")[0] == 0
    fish_file = isolated_home.config / "fish" / "conf.d" / "build-ca-bundle.fish"
    assert fish_file.exists()
    assert cli.main(["undo"]) == 0
    assert not fish_file.exists()


def test_undo_of_one_bundle_leaves_the_start_up_block_another_bundle_wrote(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--configure env`, then the same with another --output: the block names the second
    bundle now, and undo of the first removed it (and the ~/.profile it had created), so
    the second bundle's shells lost their variables with nothing said."""
    monkeypatch.setenv("SHELL", "/bin/sh")
    other = tmp_path / "other" / "ca-bundle.pem"
    assert run(capsys, "--configure", "pip,env")[0] == 0
    assert run(capsys, "--configure", "pip,env", "--output", str(other))[0] == 0
    profile = isolated_home.home / ".profile"
    assert str(other) in profile.read_text()
    code, out, _ = run(capsys, "undo")
    assert code == 0
    assert "the block names another bundle now" in out
    completed = subprocess.run(
        ["sh", "-c", f'. "{profile}"; echo "$PIP_CERT"'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(isolated_home.home)},
    )
    assert completed.stdout.strip() == str(other)
    assert run(capsys, "undo", "--output", str(other))[0] == 0
    assert "build-ca-bundle" not in (profile.read_text() if profile.exists() else "")


@pytest.mark.parametrize("shell", ["/bin/sh", "/usr/bin/fish"])
def test_undo_removes_its_start_up_block_when_the_bundle_path_holds_a_quote(
    shell: str,
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HOME /home/o'brien: the block holds the path quoted (o'\\''brien), undo looked for it
    unquoted, said "the block names another bundle now", removed the bundle, and every login
    shell exported PIP_CERT and SSL_CERT_FILE naming a file that was gone."""
    monkeypatch.setenv("SHELL", shell)
    data = tmp_path / "o'brien" / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    assert run(capsys, "--configure", "pip,env")[0] == 0
    startup = isolated_home.home / ".profile"
    if shell.endswith("fish"):
        startup = isolated_home.config / "fish" / "conf.d" / "build-ca-bundle.fish"
    assert "o'brien" not in startup.read_text()  # quoted, as the shell takes it
    code, out, _ = run(capsys, "undo")
    assert code == 0
    assert "removed, with the file this tool had created" in out
    assert not startup.exists()
    assert not (data / "build-ca-bundle" / "ca-bundle.pem").exists()


def test_undo_leaves_a_block_naming_a_longer_path_that_ends_in_its_own(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The block was "ours" when the bundle's path appeared anywhere in it: /a/ca.pem in
    /x/a/ca.pem too, and undo of the first removed the second's variables."""
    monkeypatch.setenv("SHELL", "/bin/sh")
    short = tmp_path / "a" / "ca.pem"
    longer = tmp_path / "x" / str(short).lstrip("/")
    assert run(capsys, "--scope", "user", "--output", str(short), "--configure", "env")[0] == 0
    assert run(capsys, "--scope", "user", "--output", str(longer), "--configure", "env")[0] == 0
    profile = isolated_home.home / ".profile"
    code, out, _ = run(capsys, "undo", "--output", str(short))
    assert code == 0
    assert "the block names another bundle now" in out
    assert f"export PIP_CERT='{longer}'" in profile.read_text()


@pytest.mark.parametrize("default_first", [True, False])
def test_two_bundles_undone_in_either_order_leave_no_file_this_tool_made(
    default_first: bool,
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first bundle created pip.conf, .npmrc and ~/.profile; a second --output backed
    the first two up (their .bak held the first bundle's setting) and recorded the block as
    "present", not whose. Both undone: the .bak files stayed for ever (and no later run could
    back the files up: the name was taken), and an empty ~/.profile stayed."""
    monkeypatch.setenv("SHELL", "/bin/sh")
    other = tmp_path / "other" / "ca-bundle.pem"
    assert run(capsys, "--configure", "pip,npm,env")[0] == 0
    assert run(capsys, "--configure", "pip,npm,env", "--output", str(other))[0] == 0
    undos = [["undo"], ["undo", "--output", str(other)]]
    for undo in undos if default_first else undos[::-1]:
        assert run(capsys, *undo)[0] == 0
    assert sorted(p.name for p in isolated_home.home.rglob("*") if p.is_file()) == []


def test_setting_zdotdir_brings_a_full_run_that_writes_the_block_where_zsh_reads_it(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHELL", "/usr/bin/zsh")
    monkeypatch.delenv("ZDOTDIR", raising=False)
    assert run(capsys, "--configure", "pip,env")[0] == 0
    assert (isolated_home.home / ".zprofile").exists()
    zdotdir = tmp_path / "zdotdir"
    monkeypatch.setenv("ZDOTDIR", str(zdotdir))
    assert run(capsys, "--configure", "pip,env")[0] == 0  # not the unchanged run
    assert "PIP_CERT" in (zdotdir / ".zprofile").read_text()


def test_a_run_that_could_not_write_the_extra_roots_says_so_and_env_leaves_them_out(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full disk between the bundle and extra-roots.pem: the error said "the previous
    bundle is unchanged" of a bundle it had just written, and `env` (eval'd by profile.d at
    every login) exported NODE_EXTRA_CA_CERTS naming the missing file: Node warned at every
    start."""
    from build_ca_bundle import bundle as bundle_module
    from build_ca_bundle.pipeline import extra_roots_path

    bundle = bundle_path(isolated_home)
    extra = extra_roots_path(bundle)
    real_write = bundle_module.write

    def full_disk_for_extra(path: Path, *args: Any, **kwargs: Any) -> Any:
        if path == extra:
            raise BundleError(
                f"cannot write {path}: No space left on device; the previous bundle is unchanged"
            ) from OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(bundle_module, "write", full_disk_for_extra)
    code, _, err = run(capsys)
    assert code == ExitCode.BUNDLE
    assert f"{bundle} was written, but {extra} could not be (No space left on device)" in err
    assert "previous bundle is unchanged" not in err
    assert bundle.exists() and not extra.exists()
    code, out, err = run(capsys, "env", "--shell", "sh")
    assert code == 0
    assert f"export SSL_CERT_FILE='{bundle}'" in out
    assert "NODE_EXTRA_CA_CERTS" not in out
    assert f"warning: {extra} is missing" in err and "NODE_EXTRA_CA_CERTS left out" in err


@pytest.fixture
def github_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A GitHub Actions step: the file that later steps read their variables from."""
    path = tmp_path / "github_env"
    path.touch()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_ENV", str(path))
    return path


def test_ci_exports_to_github_env(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str], github_env: Path
) -> None:
    code, out, _ = run(capsys, "--ci")
    assert code == 0
    assert "exported 7 variables to later GitHub Actions steps" in out
    lines = github_env.read_text().splitlines()
    assert f"SSL_CERT_FILE={bundle_path(isolated_home)}" in lines
    assert len(lines) == 7


def test_ci_export_keeps_json_one_object_and_quiet_silent(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    github_env: Path,
) -> None:
    code, out, _ = run(capsys, "--ci", "--json")
    payload = json.loads(out)  # the whole of stdout
    assert (code, payload["exit_code"]) == (0, 0)
    assert payload["ci"]["system"] == "GitHub Actions"
    assert payload["ci"]["path"] == str(github_env)
    assert payload["ci"]["variables"]["PIP_CERT"] == str(bundle_path(isolated_home))
    assert len(github_env.read_text().splitlines()) == 7

    assert run(capsys, "--ci", "--quiet")[:2] == (0, "")
    assert len(github_env.read_text().splitlines()) == 14  # exported again, silently

    monkeypatch.delenv("GITHUB_ACTIONS")  # no CI system: JSON carries what to set
    ci = json.loads(run(capsys, "--ci", "--json")[1])["ci"]
    assert (ci["system"], ci["path"], ci["warning"]) == (None, None, None)  # every key there
    assert ci["variables"]["SSL_CERT_FILE"] == str(bundle_path(isolated_home))


def test_ci_dry_run_outside_ci_prints_no_variables_for_a_bundle_not_there(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--ci --dry-run` outside a CI system printed `export SSL_CERT_FILE=...` for a bundle
    the dry run did not write: eval'd, curl and requests trusted nothing. `env` refuses
    the same; in CI the dry run already wrote nothing."""
    code, out, _ = run(capsys, "--ci", "--dry-run", "--no-verify")
    assert code == 0
    assert "SSL_CERT_FILE" not in out
    assert "a dry run writes no bundle" in out
    ci = json.loads(run(capsys, "--ci", "--dry-run", "--no-verify", "--json")[1])["ci"]
    assert ci["variables"] == {} and "a dry run writes no bundle" in ci["warning"]
    assert not bundle_path(isolated_home).exists()
    assert run(capsys)[0] == 0  # once the bundle is there, a dry run prints them
    assert "SSL_CERT_FILE" in run(capsys, "--ci", "--dry-run", "--no-verify")[1]


def test_a_failed_live_check_is_checked_again_by_the_next_run_not_called_unchanged(
    store: Store, isolated_home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check after a change failed (exit 6); the next run, a CI job's re-run or the next
    logon, said "bundle unchanged" and exited 0 with nothing fixed. It checks again now,
    until the check passes; then the unchanged run is back."""
    from tests.tls import HTTPSServer

    inspecting = make_root("Proxy Root Not In The Store Yet")
    with HTTPSServer(inspecting.issue("127.0.0.1"), tmp_path / "srv") as index:
        pip_conf = isolated_home.pip_user_config
        pip_conf.parent.mkdir(parents=True)
        pip_conf.write_text(f"[global]\nindex-url = {index.url}\n")
        for _ in range(2):
            assert cli.main([]) == ExitCode.VERIFY_FAILED
            out = capsys.readouterr().out
            assert "certificates); nothing to do" not in out  # not the unchanged run
            assert f"{index.url}\n  bundle   certificate" in out  # checked, and failed
        # doctor and --check agree: a run changes nothing (current), the check failed.
        assert cli.main(["--check"]) == ExitCode.OK
        capsys.readouterr()
        cli.main(["doctor", "--json"])
        findings = json.loads(capsys.readouterr().out)["findings"]
        messages = [f["message"] for f in findings if f["where"] == str(bundle_path(isolated_home))]
        assert len(messages) == 1 and "live check of pip's index failed" in messages[0]
        store.add(inspecting, "proxy-root.pem")  # IT's root arrives
        assert cli.main([]) == ExitCode.OK
        assert "bundle   ok" in capsys.readouterr().out
        assert cli.main([]) == ExitCode.OK
        assert capsys.readouterr().out.startswith("bundle unchanged:")


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_tool_variable_set_or_unset_since_the_last_run_is_seen_by_the_next(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The unchanged run's key knew pip's variables only: GIT_SSL_CAINFO set after a clean
    run went unsaid (exit 0), and once unset as its fix said, its error came back on every
    run (exit 13) from the record."""
    assert run(capsys, "--configure", "pip,git")[0] == 0
    monkeypatch.setenv("GIT_SSL_CAINFO", "/x.pem")
    code, _, err = run(capsys, "--configure", "pip,git")
    assert code == ExitCode.NOT_APPLIED
    assert "GIT_SSL_CAINFO=/x.pem beats http.sslCAInfo" in err
    monkeypatch.delenv("GIT_SSL_CAINFO")
    for _ in range(2):  # the full run that sees it gone, then the unchanged one
        code, _, err = run(capsys, "--configure", "pip,git")
        assert (code, err) == (0, "")


def test_exit_13_is_for_what_still_beats_the_bundle_after_this_run(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    github_env: Path,
) -> None:
    """REQUESTS_CA_BUNDLE beats pip.conf: exit 13. But a --ci run exports it, pointed at
    the bundle, to every later step (a CI image presetting it failed the step), and a dry
    run did nothing that could be "done, but"."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(store.file))
    assert run(capsys, "--dry-run")[0] == 0
    code, out, err = run(capsys, "--ci")
    assert code == 0
    assert f"REQUESTS_CA_BUNDLE={bundle_path(isolated_home)}" in github_env.read_text()
    # One verdict: no error (that said "unset REQUESTS_CA_BUNDLE") beside the exit 0, but
    # a warning: a value the pipeline sets for later steps itself would still win there.
    assert "error" not in out + err
    assert f"--ci exported REQUESTS_CA_BUNDLE={bundle_path(isolated_home)} to the later" in out
    assert "warning: environment variable REQUESTS_CA_BUNDLE: beats our setting in this step" in out
    assert run(capsys, "--ci", "--quiet")[1:] == ("", "")
    assert run(capsys)[0] == ExitCode.NOT_APPLIED  # no export: it still beats the bundle


def test_check_is_stale_when_a_file_of_the_last_run_is_gone(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry run compares the bundle's bytes only: a deleted extra-roots.pem (what NODE_
    EXTRA_CA_CERTS names) must keep --check stale, not be vouched for by the dry run."""
    assert run(capsys)[0] == 0
    extra_roots = bundle_path(isolated_home).with_name("extra-roots.pem")
    extra_roots.unlink()
    code, out, _ = run(capsys, "--check")
    assert (code, out) == (
        ExitCode.STALE,
        f"stale: {extra_roots} was changed or removed since the last run\n",
    )


def test_a_ci_runs_bundle_is_current_for_a_later_check(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str], github_env: Path
) -> None:
    """--ci exports and --proxy serves the live check: neither changes the result, so a CI
    gate (--check) after the setup step must pass, and doctor must not say "not current"."""
    for flags in (["--ci"], ["--proxy", "http://127.0.0.1:9"], ["--proxy=http://127.0.0.1:9"]):
        assert run(capsys, *flags)[0] == 0
        assert run(capsys, "--check")[0] == ExitCode.OK, flags
    extra = make_root("Only With The Flag").write(isolated_home.root / "extra.pem")
    assert run(capsys, "--extra-ca", str(extra))[0] == 0
    assert run(capsys, "--check")[0] == ExitCode.STALE  # a flag that does change the result


def test_check_asks_a_dry_run_when_the_record_cannot_vouch_for_the_bundle(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """--check said stale after `touch pip.conf`, or a line added to it with our cert still
    there: a compliance sweep flagged every machine whose user edited pip.conf. The record
    only says something may have changed; a dry run now decides, writing nothing, and
    stale stays stale where a run would change the bundle or pip's setting."""
    assert run(capsys)[0] == 0
    pip_conf = isolated_home.pip_user_config
    os.utime(pip_conf, (1, 1))
    with pip_conf.open("a") as text:
        text.write("index-url = https://pypi.org/simple/\n")
    before = {path: path.read_bytes() for path in isolated_home.root.rglob("*") if path.is_file()}
    stamps = {path: path.stat().st_mtime_ns for path in before}
    code, out, _ = run(capsys, "--check")
    assert (code, out) == (ExitCode.OK, f"current: {bundle_path(isolated_home)}\n")
    after = {path: path.read_bytes() for path in isolated_home.root.rglob("*") if path.is_file()}
    assert after == before
    assert {path: path.stat().st_mtime_ns for path in after} == stamps  # nothing written

    pip_conf.write_text(pip_conf.read_text().replace(str(bundle_path(isolated_home)), "/x.pem"))
    code, out, _ = run(capsys, "--check")
    assert (code, out) == (ExitCode.STALE, f"stale: {pip_conf} changed\n")
    assert run(capsys)[0] == 0
    store.add(make_root("Added Since"), "added.pem")
    assert run(capsys, "--check")[0] == ExitCode.STALE


def test_ci_with_dry_run_exports_nothing(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str], github_env: Path
) -> None:
    """No bundle is written: later steps pointed at it would trust nothing (curl exit 77)."""
    code, out, _ = run(capsys, "--ci", "--dry-run")
    assert code == 0
    assert "would export 7 variables to later GitHub Actions steps" in out
    assert github_env.read_text() == ""
    assert not bundle_path(isolated_home).exists()


def test_a_bundle_path_with_a_line_break_is_refused_before_anything_is_written(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], github_env: Path
) -> None:
    """Every file that names the bundle would read a second line of someone's choosing:
    GITHUB_ENV got INJECTED=1 as a variable of its own."""
    target = tmp_path / "b\nINJECTED=1\n" / "ca-bundle.pem"
    before = sorted(tmp_path.iterdir())
    for extra in ([], ["--dry-run"]):
        code, _, err = run(capsys, "--ci", "--scope", "none", "--output", str(target), *extra)
        assert code == ExitCode.BUNDLE
        assert "holds a line break" in err
    assert github_env.read_text() == ""
    assert sorted(tmp_path.iterdir()) == before


def test_a_ci_export_that_cannot_be_written_fails_before_the_bundle_or_pip_is_touched(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unusable $GITHUB_ENV gave exit 5, "the old bundle is kept", after the bundle and
    pip.conf had been written; its hint spoke of links, which GitHub's file may be."""
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_ENV", str(tmp_path))  # a folder
    code, _, err = run(capsys, "--ci")
    assert code == ExitCode.BUNDLE
    assert f"cannot write {tmp_path} for GitHub Actions" in err
    assert "check that GitHub Actions set that variable to a file the job can write" in err
    assert not bundle_path(isolated_home).exists()
    assert not isolated_home.pip_user_config.exists()


def test_a_pip_file_cert_that_beats_ours_is_settled_under_ci_by_the_exported_pip_cert(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    github_env: Path,
) -> None:
    """A CI image's pip.conf with `[install] cert = ...`: --ci failed the step with exit 13,
    though the later steps get PIP_CERT, which beats every config file and section (pip
    applies the environment last). Outside --ci it still is exit 13."""
    pip_conf = isolated_home.pip_user_config
    pip_conf.parent.mkdir(parents=True)
    pip_conf.write_text("[install]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
    code, out, err = run(capsys, "--ci")
    assert (code, err) == (0, "")
    assert "in this step only: --ci exported PIP_CERT=" in out
    # What the later step's pip uses: the exported PIP_CERT, for `pip install` too.
    exported = dict(
        line.split("=", 1) for line in github_env.read_text().splitlines() if "=" in line
    )
    uses = (
        "from pip._internal.commands import create_command as c; "
        "print(c('install').parse_args([])[0].cert)"
    )
    later = subprocess.run(
        [sys.executable, "-c", uses],
        env={**os.environ, **exported},
        capture_output=True,
        text=True,
        check=True,
    )
    assert later.stdout.strip() == str(bundle_path(isolated_home))
    assert run(capsys)[0] == ExitCode.NOT_APPLIED  # no --ci: this shell's pip is not set


def test_pip_config_file_under_ci_is_settled_by_the_exported_pip_cert(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    github_env: Path,
) -> None:
    """PIP_CONFIG_FILE=/dev/null keeps pip from every config file, but PIP_CERT, which --ci
    exports to the later steps, beats config files anyway: no exit 13 there."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    assert run(capsys)[0] == ExitCode.NOT_APPLIED
    code, out, err = run(capsys, "--ci")
    assert (code, err) == (0, "")
    assert "so pip reads no config file at all, in this step only: --ci exported PIP_CERT=" in out


def test_a_killed_runs_temp_file_is_removed_by_the_next_run(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL between writing the new bundle's temp file and renaming it leaves the temp
    file; the next run must not keep it for as long as nothing else changes (the crash
    campaign found one left after 200 kills)."""
    assert run(capsys)[0] == 0
    folder = bundle_path(isolated_home).parent
    not_ours = [folder / ".ca-bundle.pem.not-random.tmp", folder / ".notes.0123456789abcdef.tmp"]
    for path in not_ours:
        path.write_text("someone else's")
    assert run(capsys, "--check")[0] == ExitCode.OK  # those are not ours: nothing to do
    leftover = folder / ".ca-bundle.pem.0123456789abcdef.tmp"
    leftover.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB")  # cut off by the kill
    code, out, _ = run(capsys, "--check")
    assert code == ExitCode.STALE
    assert f"a run was interrupted: {leftover} is left over" in out
    assert run(capsys)[0] == ExitCode.OK
    assert not leftover.exists()
    assert all(path.exists() for path in not_ours)
    code, out, _ = run(capsys)
    assert (code, out.startswith("bundle unchanged:")) == (0, True)


def test_a_killed_runs_temp_file_beside_the_bundle_goes_at_the_next_run_and_at_undo(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run killed while it wrote the manifest (or the change record, the extra roots)
    left a fresh temp file that the next run kept for ten minutes: each logon in them was
    a full run, --check said stale, and undo left the file behind for good."""
    from build_ca_bundle import history, manifest
    from build_ca_bundle.pipeline import extra_roots_path, pinned_roots_path

    bundle = bundle_path(isolated_home)
    rewritten = [Path(manifest.path_for(bundle)), history.path_for(bundle)]
    rewritten.append(extra_roots_path(bundle))
    assert run(capsys)[0] == 0
    for side_file in rewritten:  # --check and the unchanged run see it too
        leftover = side_file.with_name(f".{side_file.name}.0123456789abcdef.tmp")
        leftover.write_text("cut off by the kill")
        assert run(capsys, "--check")[0] == ExitCode.STALE
        assert run(capsys)[0] == ExitCode.OK
        assert not leftover.exists(), side_file
        assert run(capsys, "--check")[0] == ExitCode.OK
        code, out, _ = run(capsys)
        assert (code, out.startswith("bundle unchanged:")) == (0, True)
    # The pinned roots' file is read, not rewritten, by most runs: the next full one.
    pinned = pinned_roots_path(bundle)
    leftover = pinned.with_name(f".{pinned.name}.0123456789abcdef.tmp")
    leftover.write_text("cut off by the kill")
    store.add(make_root("Another Corp Root"), "another.pem")
    assert run(capsys)[0] == ExitCode.OK
    assert not leftover.exists()
    side_files = [*rewritten, pinned]
    leftovers = [path.with_name(f".{path.name}.fedcba9876543210.tmp") for path in side_files]
    for leftover in leftovers:
        leftover.write_text("cut off by the kill")
    assert run(capsys, "undo")[0] == 0
    assert not bundle.parent.exists() or not any(bundle.parent.iterdir())


def test_every_kind_of_input_change_triggers_a_full_run(
    store: Store,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from build_ca_bundle import paths

    certifi_copy = tmp_path / "certifi" / "cacert.pem"
    certifi_copy.parent.mkdir()
    certifi_copy.write_bytes(paths.certifi_bundle().read_bytes())
    monkeypatch.setattr(paths, "certifi_bundle", lambda: certifi_copy)
    extra = make_root("Extra File Root").write(tmp_path / "extra" / "root.pem")
    policy = tmp_path / "policy.toml"
    policy.write_text("keep_expired = false\n")
    args = ("--extra-ca", str(extra), "--policy", str(policy))
    library = tmp_path / "lib" / "libcrypto.so.3"  # stands in for the one a distro updates
    library.parent.mkdir()
    library.write_bytes(b"the old build")
    monkeypatch.setattr(openssl, "library_files", lambda: (str(library),))

    def update_openssl() -> None:
        library.unlink()  # a package upgrade installs a new file; the version string stays
        library.write_bytes(b"the patched build")

    def unchanged() -> bool:
        return _decided_from_the_manifest(capsys, *args)

    assert not unchanged()  # the first run builds
    assert unchanged()
    edits: dict[str, Callable[[], object]] = {
        "certifi upgrade": lambda: certifi_copy.write_bytes(
            certifi_copy.read_bytes() + make_root("New In Certifi").pem
        ),
        "extra file edited": lambda: extra.write_bytes(make_root("Replaced Extra").pem),
        "policy edited": lambda: policy.write_text("keep_expired = false\n# reviewed\n"),
        "bundle edited by hand": lambda: bundle_path(isolated_home).write_text("oops"),
        "bundle deleted": lambda: bundle_path(isolated_home).unlink(),
        "pip.conf edited by hand": lambda: isolated_home.pip_user_config.write_text("[global]\n"),
        "root added to the store": lambda: store.add(make_root("Added Root"), "added.pem"),
        "OpenSSL updated": update_openssl,
    }
    for name, edit in edits.items():
        edit()
        assert not unchanged(), f"{name} did not trigger a full run"
        assert unchanged(), f"{name}: the run after the full one should be unchanged"
    text = bundle_path(isolated_home).read_text()
    assert "New In Certifi" in text and "Replaced Extra" in text and "Added Root" in text


def _decided_from_the_manifest(capsys: pytest.CaptureFixture[str], *args: str) -> bool:
    """True when the run decided from the manifest alone (a full run lists its sources,
    even when it too finds nothing to change)."""
    code, out, _ = run(capsys, *args)
    assert code == 0
    return out.startswith("bundle unchanged:") and "certifi:" not in out


@pytest.mark.parametrize("named", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
def test_a_named_store_that_appears_after_the_run_brings_a_full_run(
    named: str,
    store: Store,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A share mounted after logon: the file or folder the variable names was missing at the
    first run, and its roots went unseen by every run after (found by audit h41)."""
    late = make_root(f"Arrived In {named}")
    target = tmp_path / "late"
    if named == "SSL_CERT_FILE":  # the store keeps a root in its folder meanwhile
        store.corporate.write(store.folder / f"{store.corporate.hash_name}.0")
    monkeypatch.setenv(named, str(target))
    assert not _decided_from_the_manifest(capsys)
    assert _decided_from_the_manifest(capsys)
    if named == "SSL_CERT_FILE":
        late.write(target)
    else:
        target.mkdir()
        late.write(target / f"{late.hash_name}.0")
    assert not _decided_from_the_manifest(capsys)
    assert f"Arrived In {named}" in bundle_path(isolated_home).read_text()


def _certifi_copy(folder: Path, version: str, extra: bytes = b"") -> Path:
    """A certifi package in ``folder`` with this version and ``extra`` roots."""
    import certifi

    package = folder / "certifi"
    shutil.copytree(Path(certifi.where()).parent, package, dirs_exist_ok=True)
    init = package / "__init__.py"
    lines = init.read_text().splitlines()
    init.write_text(
        "\n".join(
            f'__version__ = "{version}"' if line.startswith("__version__") else line
            for line in lines
        )
        + "\n"
    )
    cacert = package / "cacert.pem"
    cacert.write_bytes(Path(certifi.where()).read_bytes() + extra)
    return cacert


def test_upgrading_this_pythons_certifi_after_another_venvs_newer_one_brings_a_full_run(
    store: Store,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run that took another venv's newer certifi says "upgrade certifi here"; the user
    did, and the next run said unchanged: this Python's own cacert.pem was not watched."""
    from build_ca_bundle import paths

    other = _certifi_copy(tmp_path / "venv-b", "2099.1.1")
    ours = _certifi_copy(tmp_path / "venv-a", "2000.1.1")
    monkeypatch.setattr(paths, "certifi_bundle", lambda: other)
    assert not _decided_from_the_manifest(capsys)  # venv B's run records B's certifi
    monkeypatch.setattr(paths, "certifi_bundle", lambda: ours)
    store.add(make_root("Another Corp Root"), "another.pem")  # venv A's full run
    assert "a newer certifi than this Python's" in run(capsys, "--verbose")[1]
    assert _decided_from_the_manifest(capsys)
    _certifi_copy(tmp_path / "venv-a", "2100.1.1", make_root("New In Certifi").pem)
    assert not _decided_from_the_manifest(capsys)
    assert "New In Certifi" in bundle_path(isolated_home).read_text()


def test_a_certifi_installed_ahead_of_this_one_on_the_import_path_brings_a_full_run(
    store: Store,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`pip install --user -U certifi` beside a system certifi: the next run imports the
    user site's, while the old cacert.pem (all the manifest watched) is untouched."""
    from build_ca_bundle import paths

    system = _certifi_copy(tmp_path / "system-site", "2000.1.1")
    user_site = tmp_path / "user-site"
    user_site.mkdir()
    monkeypatch.setattr(sys, "path", [sys.path[0], str(user_site), str(system.parent.parent)])
    monkeypatch.setattr(paths, "certifi_bundle", lambda: system)
    assert not _decided_from_the_manifest(capsys)
    assert _decided_from_the_manifest(capsys)
    newer = _certifi_copy(user_site, "2100.1.1", make_root("New In The User Site").pem)
    monkeypatch.setattr(paths, "certifi_bundle", lambda: newer)  # what find_spec now finds
    assert not _decided_from_the_manifest(capsys)
    assert "New In The User Site" in bundle_path(isolated_home).read_text()


def test_where_python_finds_certifi_is_part_of_the_runs_key() -> None:
    from build_ca_bundle import quick

    before = quick.run_key([], {"HOME": "/home/ana"})
    for name in ("PYTHONPATH", "PYTHONUSERBASE", "PYTHONNOUSERSITE", "PYTHONHOME"):
        assert quick.run_key([], {"HOME": "/home/ana", name: "/opt/py"}) != before, name


def test_a_run_without_the_last_runs_extra_ca_says_which_roots_leave_with_it(
    store: Store,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--extra-ca corp.pem` fixed pip; the next plain run (a logon script's) dropped the
    root in silence and pip failed again (audit h43). It is said, with the fix."""
    monkeypatch.chdir(tmp_path)
    make_root("Given By Hand").write(tmp_path / "corp.pem")
    assert run(capsys, "--extra-ca", "corp.pem")[0] == 0  # relative, as typed
    assert run(capsys, "--extra-ca", str(tmp_path / "corp.pem"))[0] == 0
    code, out, err = run(capsys)
    assert code == 0
    said = out + err
    assert f"{tmp_path / 'corp.pem'}: an extra CA file of an earlier run (--extra-ca" in said
    assert "1 root(s) it gave left the bundle (Given By Hand)" in said
    assert f"pass --extra-ca {tmp_path / 'corp.pem'} on every run" in said
    assert "Given By Hand" not in bundle_path(isolated_home).read_text()
    code, out, err = run(capsys)  # unchanged: the last full run's warnings are repeated
    assert out.startswith("bundle unchanged:") and "left the bundle" in out + err
    store.add(make_root("Another Corp Root"), "another.pem")  # the next full run
    code, out, err = run(capsys)
    assert "left the bundle" not in out + err  # its record had no extra CA: nothing left


def test_an_extra_ca_path_with_non_ascii_letters_that_left_is_said_too(
    store: Store, tmp_path: Path, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bundle's "# Source:" line writes "é" as "\\xe9": the path as given never matched
    it, and a root from ~/Téléchargements/corp.pem left the bundle without a word."""
    folder = tmp_path / "Téléchargements"
    make_root("From Downloads").write(folder / "corp.pem")
    assert run(capsys, "--extra-ca", str(folder / "corp.pem"))[0] == 0
    code, out, err = run(capsys)
    assert code == 0
    assert "1 root(s) it gave left the bundle (From Downloads)" in out + err


def test_an_extra_ca_file_openssl_refuses_whole_gives_its_roots_and_a_warning(
    store: Store, tmp_path: Path, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cat a.crt b.crt > corp.pem` with no final line break in a.crt: OpenSSL reads nothing
    from it, we read both roots. A warning says so; not "not read", which is untrue."""
    first, second = make_root("Glued First"), make_root("Glued Second")
    glued = tmp_path / "corp.pem"
    glued.write_bytes(first.pem.rstrip() + second.pem)
    code, out, err = run(capsys, "--extra-ca", str(glued))
    assert code == 0
    text = bundle_path(isolated_home).read_text()
    assert first.pem.decode().strip() in text and second.pem.decode().strip() in text
    assert "refuses this whole file" in out + err
    assert "was not read" not in out + err


def test_the_moment_a_root_in_the_bundle_expires_the_next_run_is_a_full_one(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """The manifest records when the first root in the bundle expires; past that moment the
    unchanged-run check says so (the full run then leaves the root out)."""
    import datetime as dt
    import time

    from build_ca_bundle import manifest, quick

    soon = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=1)
    store.add(make_root("Expires Within The Hour", not_after=soon), "soon.pem")
    assert run(capsys)[0] == 0
    bundle = bundle_path(isolated_home)
    recorded = manifest.load(bundle)
    assert recorded is not None
    assert recorded["expires"] == soon.timestamp()  # earlier than any certifi root
    key = quick.run_key(["--no-verify"], os.environ)
    assert manifest.stale_reason(bundle, key, time.time()) is None
    later = soon.timestamp() + 1
    assert manifest.stale_reason(bundle, key, later) == "a root in the bundle has expired"


def test_a_linux_intermediate_stays_out_unless_asked_for_and_the_summary_says_so(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    issuing = store.corporate.issue("Example Corp Issuing CA", ca=True)
    store.add(issuing, "issuing.pem")
    code, out, _ = run(capsys, "--scope", "none")
    assert code == 0
    assert "linux: 1 trusted, 1 intermediate(s) left out (see --include-intermediates)" in out
    assert issuing.pem.decode().strip() not in bundle_path(isolated_home).read_text()
    code, out, _ = run(capsys, "--scope", "none", "--include-intermediates")
    assert code == 0
    assert "left out (see" not in out
    assert issuing.pem.decode().strip() in bundle_path(isolated_home).read_text()  # chains


def test_a_certificate_ssl_cannot_load_is_left_out_and_the_rest_written(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """One broken root in the OS store must not keep the corporate root from the machine:
    the bundle is written without it, says why, and loads."""
    import base64
    import ssl

    root = make_root("Refused By OpenSSL")
    broken = base64.encodebytes(refused_by_openssl(root))
    pem = b"-----BEGIN CERTIFICATE-----\n" + broken + b"-----END CERTIFICATE-----\n"
    (store.folder / "refused.pem").write_bytes(pem)
    (store.folder / f"{root.hash_name}.0").symlink_to("refused.pem")
    code, out, _ = run(capsys)
    assert code == 0
    bundle = bundle_path(isolated_home)
    context = ssl.create_default_context(cafile=str(bundle))
    assert context.cert_store_stats()["x509_ca"] > 100
    text = bundle.read_text()
    assert store.corporate.pem.decode().strip() in text
    assert "Refused By OpenSSL" not in text
    assert "Refused By OpenSSL" in out and "cannot load it" in out
    (line,) = [line for line in out.splitlines() if "cannot load it" in line]
    assert str(store.folder) in line  # the file to fix or remove


PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", re.S)


class LoadSpy:
    """Records the certificate blocks a run hands to ``ssl`` to load (as text or as a file,
    on any thread), and still loads them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.blocks: list[str] = []
        self.files: list[str] = []  # loaded as files (cafile)
        self.as_text: list[str] = []  # loaded as text (cadata)
        real = openssl.new_context
        spy = self

        class Recording:
            def __init__(self) -> None:
                self.context = real()

            def load_verify_locations(
                self, cafile: str | None = None, *, cadata: str | None = None
            ) -> None:
                spy.files += [cafile] if cafile else []
                text = Path(cafile).read_text() if cafile else cadata or ""
                spy.blocks += PEM_BLOCK.findall(text)
                spy.as_text += PEM_BLOCK.findall(cadata or "")
                self.context.load_verify_locations(cafile, cadata=cadata)

            def cert_store_stats(self) -> dict[str, int]:
                return self.context.cert_store_stats()

        monkeypatch.setattr(openssl, "new_context", Recording)

    def taken(self) -> list[str]:
        blocks, self.blocks = self.blocks, []
        return blocks


def recorded_as_loaded_under(bundle: Path, version: str) -> None:
    """Make the manifest say that another OpenSSL loaded the bundle's bytes."""
    record = Path(manifest.path_for(bundle))
    data = json.loads(record.read_text())
    current, _, digest = data["loaded"].partition("; sha256=")
    assert current == openssl.identity() and digest
    data["loaded"] = f"{version}; sha256={digest}"
    record.write_text(json.dumps(data))


def test_a_rebuild_loads_only_the_roots_that_are_new(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OpenSSL 3 takes 0.2 ms a certificate: a rebuild at every logon after IT adds a root
    must not pay for the hundreds the last run already loaded."""
    import ssl

    spy = LoadSpy(monkeypatch)
    assert run(capsys)[0] == 0
    bundle = bundle_path(isolated_home)
    written = PEM_BLOCK.findall(bundle.read_text())
    assert len(written) > 100
    assert set(written) <= set(spy.taken())  # the first run loads every block
    second = make_root("Second Corp Root")
    store.add(second, "2nd.pem")
    code, out, _ = run(capsys)
    assert code == 0 and f"wrote {bundle}" in out
    assert spy.taken() == [second.pem.decode()]
    monkeypatch.undo()
    context = ssl.create_default_context(cafile=str(bundle))
    assert context.cert_store_stats()["x509_ca"] > 100  # the whole bundle still loads


def test_a_first_run_loads_certifi_on_a_thread_and_checks_only_the_rest(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """certifi's file loads (without the GIL) while the store is read; the bundle's own
    check then loads only the roots certifi does not have."""
    import certifi

    spy = LoadSpy(monkeypatch)
    assert run(capsys)[0] == 0
    assert [Path(name).resolve() for name in spy.files] == [Path(certifi.where()).resolve()]
    assert spy.as_text == [store.corporate.pem.decode()]
    assert set(PEM_BLOCK.findall(bundle_path(isolated_home).read_text())) <= set(spy.taken())


def test_a_refused_run_leaves_no_preload_to_the_next_run(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run refused before it writes (no OS roots) must end its certifi preload with it: a
    later run in the same process (a test, an embedding tool) loads what it reads itself."""
    import certifi

    files = store.file.read_bytes()
    store.file.write_text("")
    assert run(capsys)[0] == ExitCode.NO_CERTIFICATES
    store.file.write_bytes(files)
    spy = LoadSpy(monkeypatch)
    assert run(capsys)[0] == 0
    assert [Path(name).resolve() for name in spy.files] == [Path(certifi.where()).resolve()]


def test_a_rebuild_under_another_openssl_loads_every_root_again(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = LoadSpy(monkeypatch)
    assert run(capsys)[0] == 0
    bundle = bundle_path(isolated_home)
    recorded_as_loaded_under(bundle, "OpenSSL 1.0.2 (another Python)")
    spy.taken()
    store.add(make_root("Second Corp Root"), "2nd.pem")
    assert run(capsys)[0] == 0
    assert len(spy.taken()) == bundle.read_text().count("-----BEGIN CERTIFICATE-----")


def test_a_hand_edited_bundle_proves_nothing_about_the_blocks_in_it(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone pastes into the bundle a block OpenSSL refuses, and the same root reaches the
    store: the next run must load it, see the refusal and leave it out, not take the pasted
    copy as proof that it loads."""
    import ssl

    assert run(capsys)[0] == 0
    bundle = bundle_path(isolated_home)
    root = make_root("Refused By OpenSSL")
    refused = ssl.DER_cert_to_PEM_cert(refused_by_openssl(root))
    with bundle.open("a", encoding="ascii") as handle:
        handle.write(refused)
    (store.folder / "refused.pem").write_text(refused)
    (store.folder / f"{root.hash_name}.0").symlink_to("refused.pem")
    code, out, _ = run(capsys)
    assert code == 0
    assert "Refused By OpenSSL" in out and "cannot load it" in out
    assert refused not in bundle.read_text()
    context = ssl.create_default_context(cafile=str(bundle))
    assert context.cert_store_stats()["x509_ca"] > 100


def test_the_manifest_watches_the_openssl_the_bundle_loaded_under(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """The files OpenSSL is made of are among the inputs; that a change to one means a full
    run is in test_every_kind_of_input_change_triggers_a_full_run."""
    import _ssl

    assert run(capsys)[0] == 0
    recorded = manifest.load(bundle_path(isolated_home))
    assert recorded is not None
    extension = getattr(_ssl, "__file__", None)  # absent where _ssl is built in
    assert extension is None or extension in recorded["inputs"]
    maps = Path("/proc/self/maps")
    mapped = {
        line.split(maxsplit=5)[-1].strip()
        for line in (maps.read_text().splitlines() if maps.exists() else [])
        if Path(line.split()[-1]).name.startswith(("libssl.", "libcrypto."))
    }  # none where OpenSSL is linked into Python statically
    assert mapped <= set(recorded["inputs"])


def test_an_unchanged_bundle_is_loaded_again_under_another_openssl(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from build_ca_bundle import bundle as bundle_module

    assert run(capsys)[0] == 0
    bundle = bundle_path(isolated_home)
    recorded_as_loaded_under(bundle, "OpenSSL 1.1.1 (before the upgrade)")
    before = bundle.read_bytes()
    store.file.touch()  # a full run, whose bundle comes out the same
    spy = LoadSpy(monkeypatch)
    code, out, _ = run(capsys)
    assert code == 0 and f"wrote {bundle}" not in out
    assert bundle.read_bytes() == before
    assert len(spy.taken()) == before.count(b"-----BEGIN CERTIFICATE-----")
    assert manifest.loaded_proof(bundle) == bundle_module.proof(before)


def test_a_run_refused_while_certifi_is_loading_exits_cleanly(
    store: Store, isolated_home: Home
) -> None:
    """A malformed pip.conf stops the run before the bundle is written, while certifi's file
    may still be loading on its thread: the exit code must be ours, not a crash in OpenSSL's
    exit-time cleanup (seen as SIGSEGV in the corpus campaign before the thread was joined)."""
    isolated_home.pip_user_config.parent.mkdir(parents=True)
    isolated_home.pip_user_config.write_text("[global]\ncert = /a\n[global]\ncert = /b\n")
    command = [sys.executable, "-m", "build_ca_bundle", "--no-verify", "--quiet"]
    runs = [subprocess.run(command, check=False, capture_output=True) for _ in range(12)]
    codes = {completed.returncode for completed in runs}
    assert codes == {int(ExitCode.CONFIG)}


def test_a_security_update_of_openssl_changes_the_load_proof(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian's libssl3 updates keep the upstream version string: the proof must still
    change when the library file does, or a stricter build would be trusted on old proof."""
    library = tmp_path / "libcrypto.so.3"
    library.write_bytes(b"the old build")
    monkeypatch.setattr(openssl, "library_files", lambda: (str(library),))
    openssl.identity.cache_clear()
    before = openssl.identity()
    library.unlink()
    library.write_bytes(b"the patched build")  # a new file, as a package upgrade installs
    openssl.identity.cache_clear()
    after = openssl.identity()
    openssl.identity.cache_clear()
    assert before != after
    assert before.startswith(openssl.OPENSSL_VERSION) and after.startswith(openssl.OPENSSL_VERSION)


@pytest.mark.parametrize("columns", [50, 120])
@pytest.mark.parametrize("command", [[], ["verify"], ["doctor"]])
def test_help_is_wrapped_to_the_terminal_width(
    columns: int,
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """argparse is given the width ($COLUMNS, else the terminal's, else 80) without shutil."""
    monkeypatch.setenv("COLUMNS", str(columns))
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*command, "--help"], quick_checked=True)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--scope" in out
    option_lines = [line for line in out.splitlines() if line.startswith("  -")]
    assert option_lines
    assert max(map(len, option_lines)) <= columns - 2
    assert columns == 50 or max(map(len, option_lines)) > 50 - 2  # wide enough to use it


def test_help_lists_each_command_once_and_each_command_says_what_it_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"], quick_checked=True)
    out = capsys.readouterr().out.splitlines()
    # a listing is indented 2 (the description's) or 4 (argparse's under COMMAND)
    listed = [
        line.split()[0]
        for line in out
        if line[:1] == " " and line.lstrip()[:1].isalpha() and len(line) - len(line.lstrip()) <= 4
    ]
    for name in ("verify", "doctor", "undo", "env"):
        assert listed.count(name) == 1, listed
        with pytest.raises(SystemExit):
            cli.main([name, "--help"], quick_checked=True)
        usage, description = capsys.readouterr().out.split("\n\n")[:2]
        assert f"build-ca-bundle {name}" in usage
        assert not description.startswith(("positional arguments", "options")), description


def test_help_and_readme_name_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    """A logon script's author reads the codes in --help: 1 and 130 were missing there."""
    import re

    with pytest.raises(SystemExit):
        cli.main(["--help"], quick_checked=True)
    epilog = " ".join(capsys.readouterr().out.split("exit codes:")[1].split())
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for code in [*(int(c) for c in ExitCode), 130]:
        if code:
            assert re.search(rf"(^|; ){code} ", epilog), code
        assert f"\n| {code} |" in readme, code


def test_help_without_columns_uses_80_when_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(sys, "__stdout__", None)  # no terminal to ask
    with pytest.raises(SystemExit):
        cli.main(["--help"], quick_checked=True)
    widths = [len(line) for line in capsys.readouterr().out.splitlines() if line.startswith("  -")]
    assert 80 - 2 - 10 < max(widths) <= 80 - 2


@pytest.mark.parametrize(
    "argv", [["--configure", "git"], ["--conf=git"], ["--persist"], ["--pol", "p.toml"]]
)
def test_path_counts_for_the_unchanged_run_when_the_options_may_name_other_tools(
    argv: list[str],
) -> None:
    """A git installed since the last run is one to configure now, so PATH is in the key
    whenever other tools may be named: by argparse's abbreviations (--conf git) too, and by
    a policy file named on the command line (read by the full run only)."""
    from build_ca_bundle import quick

    before = quick.run_key(argv, {"PATH": "/usr/bin"})
    assert quick.run_key(argv, {"PATH": "/opt/git/bin:/usr/bin"}) != before
    assert quick.run_key(["--no-verify"], {"PATH": "/opt/git/bin"}) == quick.run_key(
        ["--no-verify"], {"PATH": "/usr/bin"}
    )


def test_a_tool_installed_after_the_first_run_is_configured_by_the_next(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--configure pip,uv` in a logon script before uv was rolled out said "uv not found",
    and every later logon said "bundle unchanged": uv was never configured."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code, out, _ = run(capsys, "--configure", "pip,uv")
    assert code == 0
    assert "uv not found; not configured" in out
    assert "the first run after uv is on PATH configures it" in out
    assert run(capsys, "--configure", "pip,uv")[1].startswith("bundle unchanged")

    fake_tool.install(bin_dir, "uv")
    code, out, _ = run(capsys, "--configure", "pip,uv")
    assert code == 0
    uv_toml = isolated_home.config / "uv" / "uv.toml"
    assert f"uv: set {uv_toml}: system-certs: (unset) -> true" in out
    assert uv_toml.read_text() == "system-certs = true\n"
    assert run(capsys, "--configure", "pip,uv")[1].startswith("bundle unchanged")


def test_undo_dry_run_tells_of_uv_npm_and_env_what_undo_will_do(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dry run looked at pip alone: it said "would put back" of a uv.toml that no longer
    parsed (undo then kept the bundle, exit 3), of an .npmrc cafile a person had changed,
    and of a start-up block another bundle had rewritten (undo left both alone)."""
    bin_dir = tmp_path / "bin"
    fake_tool.install(bin_dir, "uv")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SHELL", "/bin/sh")
    assert run(capsys, "--configure", "pip,uv,npm,env")[0] == 0
    uv_toml = isolated_home.config / "uv" / "uv.toml"
    with uv_toml.open("a") as handle:
        handle.write("index-url = = broken\n")
    npmrc = isolated_home.home / ".npmrc"
    npmrc.write_text(npmrc.read_text().replace("cafile=", "cafile=/theirs.pem\n#"))
    other = tmp_path / "other" / "ca-bundle.pem"
    assert run(capsys, "--configure", "env", "--output", str(other))[0] == 0
    code, out, _ = run(capsys, "undo", "--dry-run")
    said = {line.split(":")[0]: line for line in out.splitlines()}
    assert f"uv: {uv_toml}: system-certs: not undone: " in said["uv"]
    assert "npm: " in said["npm"] and "would be left alone: changed by someone since" in said["npm"]
    assert said["env"].endswith(
        "would be left alone: the block names another bundle now (a run for it wrote it)"
    )
    assert f"would remove {bundle_path(isolated_home)}" in out
    code_of_undo, out_of_undo, err = run(capsys, "undo", "--quiet")
    assert (out_of_undo, code_of_undo) == ("", ExitCode.CONFIG)  # --quiet: errors, on stderr
    assert f"error: uv: {uv_toml}: system-certs: not undone: " in err
    assert "npm" not in err and "pip" not in err  # what was done, or left alone, is not said
    code_of_undo, out_of_undo, err = run(capsys, "undo")
    assert (code, code_of_undo) == (ExitCode.CONFIG, ExitCode.CONFIG)  # the dry run's too
    assert "uv: " in out_of_undo and "not undone" in out_of_undo
    # system-certs = true names no file: the bundle goes (it was kept "for the settings
    # not undone above", which pointed at nothing), and the record of uv's line stays.
    assert not bundle_path(isolated_home).exists()
    assert "still point at it" not in err
    uv_toml.write_text(uv_toml.read_text().replace("index-url = = broken\n", ""))
    assert run(capsys, "undo")[:2] == (
        0,
        f"uv: {uv_toml}: system-certs: removed, with the file this tool had created\n",
    )


def test_undo_after_the_data_folder_was_removed_says_pip_still_names_the_bundle(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rm -r ~/.local/share/build-ca-bundle`, then undo: "nothing to undo", exit 0, while
    pip's cert named the removed bundle and every pip download failed."""
    assert run(capsys)[0] == 0
    bundle = bundle_path(isolated_home)
    shutil.rmtree(bundle.parent)
    code, out, err = run(capsys, "undo")
    assert code == ExitCode.CONFIG
    assert out == "nothing to undo: no record of changes and no bundle\n"
    assert f"error: {isolated_home.pip_user_config}: cert names {bundle}, this tool's" in err
    payload = json.loads(run(capsys, "undo", "--dry-run", "--json")[1])
    assert (payload["dangling"], payload["exit_code"]) == (
        str(isolated_home.pip_user_config),
        ExitCode.CONFIG,
    )
    code, out, err = run(capsys, "undo", "--quiet")  # said with --quiet too, on stderr
    assert (code, out) == (ExitCode.CONFIG, "")
    assert f"error: {isolated_home.pip_user_config}: cert names {bundle}" in err
    isolated_home.pip_user_config.write_text("[global]\ncert = /etc/company.pem\n")
    assert run(capsys, "undo") == (0, "nothing to undo: no record of changes and no bundle\n", "")


def test_under_wsl_a_host_store_that_cannot_be_read_does_not_drop_its_roots(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A logon where interop failed (a stale WSL_INTEROP, a slow first start): the bundle
    was rebuilt without the group-policy root from the Windows host, exit 0, said only
    among the skipped problems, and with --quiet not at all. pip failed again."""
    import base64

    from build_ca_bundle import sources

    monkeypatch.setattr(sources, "is_wsl", lambda **_: True)
    gpo = make_root("Corp GPO Root", organization="Example Corp")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    powershell = bin_dir / "powershell.exe"  # as WSL runs it: CRLF lines, tab-separated
    answer = f"LocalMachine\\Root\t{base64.b64encode(gpo.der).decode()}\t\r\n"
    powershell.write_text(f"#!/bin/sh\nprintf '%s' '{answer}'\n")
    powershell.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert run(capsys, "--quiet")[0] == 0
    before = bundle_path(isolated_home).read_bytes()
    assert gpo.pem.decode().strip() in before.decode()

    vsock_error = "<3>WSL (1) ERROR: UtilAcceptVsock:250: accept4 failed 110"
    powershell.write_text(f"#!/bin/sh\necho '{vsock_error}' >&2\nexit 1\n")
    code, out, err = run(capsys, "--quiet")
    assert (code, out) == (ExitCode.NO_CERTIFICATES, "")
    assert "a rebuild would drop the 1 root(s) the bundle has from it (Corp GPO Root)" in err
    assert "nothing was changed" in err and "--no-windows-host" in err
    assert bundle_path(isolated_home).read_bytes() == before
    code, _, _ = run(capsys, "--quiet", "--no-windows-host")  # said so: dropped on purpose
    assert code == 0
    assert gpo.pem.decode().strip() not in bundle_path(isolated_home).read_text()


def test_undo_says_which_of_this_shells_variables_name_the_removed_bundle(
    store: Store,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After `eval "$(build-ca-bundle env)"`, undo removed the bundle and said nothing: pip,
    curl and git in that shell then failed on a file that was gone."""
    assert run(capsys)[0] == 0
    bundle = bundle_path(isolated_home)
    monkeypatch.setenv("PIP_CERT", str(bundle))
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", str(bundle.with_name("extra-roots.pem")))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(isolated_home.root / "company.pem"))  # not ours
    assert cli.main(["undo", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "note: this shell's PIP_CERT NODE_EXTRA_CA_CERTS would still name a removed" in out
    assert bundle.exists()
    assert cli.main(["undo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["still_set"] == ["PIP_CERT", "NODE_EXTRA_CA_CERTS"]
    assert not bundle.exists()
    assert cli.main(["undo"]) == 0
    assert "note:" not in capsys.readouterr().out  # nothing left to remove: nothing to say


def test_public_roots_of_the_distros_ca_package_do_not_bury_the_corporate_root(
    store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Debian 12 the report listed 47 roots "beyond certifi", 45 of them public roots
    Debian's older package still ships, and the one corporate root was among them."""
    from build_ca_bundle.sources import linux

    public = [make_root(f"Public Root {n}", organization="Old Public CA") for n in range(3)]
    store.file.write_bytes(store.corporate.pem + b"".join(root.pem for root in public))
    package = tmp_path / "usr" / "share" / "ca-certificates" / "mozilla"
    package.mkdir(parents=True)
    for number, root in enumerate(public):
        root.write(package / f"Public_Root_{number}.crt")
    (package / "damaged.crt").write_text("-----BEGIN CERTIFICATE-----\nnot base64!\n")
    monkeypatch.setattr(linux, "PACKAGED_ROOTS", (str(package),))

    code, out, _ = run(capsys, "--dry-run")
    assert code == 0
    assert "roots the OS or your files add beyond certifi (4):" in out
    assert "  O=Example Corp,CN=Example Corp TLS Inspection Root\n" in out
    assert "Public Root" not in out
    assert "  and 3 public roots of the OS's CA package that certifi no longer ships" in out
    verbose = run(capsys, "--dry-run", "--verbose")[1]
    assert all(f"  O=Old Public CA,CN=Public Root {n}\n" in verbose for n in range(3))
    assert "public roots of the OS's CA package" not in verbose


def test_plain_undo_points_at_an_output_bundle_the_start_up_block_names(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--output X --configure env` (no pip), then plain undo: "nothing to undo", with no
    word of the block in ~/.profile that every login shell still ran."""
    monkeypatch.setenv("SHELL", "/bin/sh")
    other = tmp_path / "o'ther" / "ca-bundle.pem"
    assert run(capsys, "--output", str(other), "--scope", "user", "--configure", "env")[0] == 0
    code, out, _ = run(capsys, "undo")
    assert code == 0
    profile = isolated_home.home / ".profile"
    assert f"the variables block in {profile} names {other}, a bundle of this tool's" in out
    assert out.endswith(f"undo it with build-ca-bundle undo --output {other}\n")


def test_plain_undo_points_at_the_scope_undo_of_a_venvs_bundle(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After `--scope site` in a venv, plain undo said "undo it with undo --output
    <venv>/share/build-ca-bundle/ca-bundle.pem", which left the venv's share folder behind:
    the scope's own undo removes it."""
    venv = tmp_path / "venv"
    venv.mkdir()
    monkeypatch.setattr(sys, "prefix", str(venv))
    assert run(capsys, "--scope", "site")[0] == 0
    site_bundle = venv / "share" / "build-ca-bundle" / "ca-bundle.pem"
    code, out, _ = run(capsys, "undo")
    assert code == 0
    assert f"pip's cert names {site_bundle}, a bundle of this tool's: undo it with " in out
    assert out.endswith("build-ca-bundle --scope site undo\n")
    assert run(capsys, "--scope", "site", "undo")[0] == 0
    assert not (venv / "share" / "build-ca-bundle").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="root's own checks; the suite runs as root here")
def test_a_root_site_run_in_a_venv_another_account_owns_writes_nothing(
    store: Store,
    isolated_home: Home,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`sudo venv/bin/build-ca-bundle --scope site` in a user's venv: root edited the file
    their venv/pip.conf link named (/etc/pip.conf, say) to trust a bundle they can rewrite."""
    venv = tmp_path / "venv"
    venv.mkdir()
    os.chown(venv, 65534, 65534)  # nobody's
    machine_conf = tmp_path / "machine-pip.conf"
    machine_conf.write_text("[global]\ntimeout = 5\n")
    (venv / "pip.conf").symlink_to(machine_conf)
    os.lchown(venv / "pip.conf", 65534, 65534)
    monkeypatch.setattr(sys, "prefix", str(venv))
    code, _, err = run(capsys, "--scope", "site")
    assert code == ExitCode.BUNDLE, err
    assert str(venv) in err
    assert machine_conf.read_text() == "[global]\ntimeout = 5\n"
    assert sorted(path.name for path in venv.iterdir()) == ["pip.conf"]  # no bundle, no lock


def test_doctor_finds_and_fixes_trusted_host_in_default_and_indented_under_a_header(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """`[DEFAULT] trusted-host` (pip applies it to every section): --fix said "removed
    global.trusted-host" and left the file as it was. An indented `  trusted-host` right
    under a header (pip reads it: no option above to continue) went unseen."""
    user_conf = isolated_home.pip_user_config
    user_conf.parent.mkdir(parents=True)
    for text, where in (
        ("[DEFAULT]\ntrusted-host = def.example\n[global]\ntimeout = 5\n", "DEFAULT"),
        ("[global]\n  trusted-host = indented.example\ntimeout = 5\n", "global"),
        ("[global]\ntrusted-host = a.example\n    b.example\ntimeout = 5\n", "global"),
    ):
        user_conf.write_text(text)
        for backup in user_conf.parent.glob("*.bak"):
            backup.unlink()
        code, out, _ = run(capsys, "doctor")
        assert code == ExitCode.FINDINGS, text
        assert f"pip [{where}] trusted-host" in out
        code, out, _ = run(capsys, "doctor", "--fix")
        (fixed,) = [line for line in out.splitlines() if "trusted-host =" in line]
        assert f"removed {where}.trusted-host" in fixed  # one line, a value of two too
        assert "b.example" not in text or "= a.example b.example from" in fixed
        assert "trusted-host" not in user_conf.read_text()
        assert "timeout = 5" in user_conf.read_text()
        assert run(capsys, "undo")[0] == 0


def test_doctor_fix_keeps_the_removed_trusted_host_when_a_backup_holds_older_bytes(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run made pip.conf.bak; a person then added trusted-host, and doctor --fix removed
    it "keeping a backup", but the .bak (never replaced) was the older file: the removed
    line was nowhere."""
    user_conf = isolated_home.pip_user_config
    user_conf.parent.mkdir(parents=True)
    user_conf.write_text("[global]\ntimeout = 60\n")
    assert run(capsys)[0] == 0
    backup = user_conf.with_name("pip.conf.bak")
    first = backup.read_bytes()
    before_fix = user_conf.read_text() + "trusted-host = added.example\n"
    user_conf.write_text(before_fix)
    user_conf.chmod(0o600)
    out = run(capsys, "doctor", "--fix")[1]
    kept = user_conf.with_name("pip.conf.before-fix")
    assert f"removed global.trusted-host = added.example from {user_conf}" in out
    assert f"(the file as it was: {kept})" in out
    assert kept.read_text() == before_fix
    assert kept.stat().st_mode & 0o777 == 0o600
    assert backup.read_bytes() == first  # the first backup is never replaced
    assert "trusted-host" not in user_conf.read_text()


def test_undo_tells_a_windows_shell_how_to_clear_the_variables_it_has(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The note said "run `unset PIP_CERT`" on Windows, where neither cmd nor PowerShell
    has unset."""
    from build_ca_bundle import output
    from build_ca_bundle.pipeline import UndoReport

    report = UndoReport()
    report.still_set = ["PIP_CERT", "SSL_CERT_FILE"]
    monkeypatch.setattr(sys, "platform", "win32")
    output.undo_human(report)
    out = capsys.readouterr().out
    assert "`Remove-Item Env:PIP_CERT; Remove-Item Env:SSL_CERT_FILE` in PowerShell" in out
    assert "unset" not in out
    monkeypatch.setattr(sys, "platform", "linux")
    output.undo_human(report)
    assert "run `unset PIP_CERT SSL_CERT_FILE`" in capsys.readouterr().out


def test_undo_leaves_no_empty_pip_folder_behind_and_keeps_one_with_files(
    store: Store, isolated_home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first run made ~/.config/pip for the pip.conf it created; undo removed the file
    and left the empty folder."""
    folder = isolated_home.pip_user_config.parent
    assert run(capsys)[0] == 0
    assert run(capsys, "undo")[0] == 0
    assert not folder.exists()
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    assert run(capsys)[0] == 0
    assert run(capsys, "undo")[0] == 0
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
