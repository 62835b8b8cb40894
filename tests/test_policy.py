"""The IT policy file: parsing, checking, and where it lives."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path, PureWindowsPath

import pytest

from build_ca_bundle import cli, policy
from build_ca_bundle.errors import ExitCode, PolicyError
from tests.conftest import Home
from tests.pki import make_root


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def os_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An OS store of one root, named by SSL_CERT_FILE (as tests/test_cli.py's ``store``)."""
    store = make_root("Policy Test OS Root").write(tmp_path / "store" / "ca-certificates.crt")
    monkeypatch.setenv("SSL_CERT_FILE", str(store))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "store" / "certs"))
    return store


@pytest.fixture
def machine_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The machine-wide policy's location, moved into the test's folder."""
    machine = tmp_path / "machine" / "policy.toml"
    machine.parent.mkdir()
    monkeypatch.setattr(policy, "default_location", lambda **_: machine)
    return machine


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI as a logon script runs it: exit code, stdout, stderr."""
    code = cli.main(["--no-verify", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_full_policy_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
# IT's policy for every laptop
extra_ca = ["/etc/corp/roots"]
required = ["ABcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd" ]
exclude = []
scope = "global"
output = "/etc/build-ca-bundle/ca-bundle.pem"
configure = ["pip", "git"]
verify_targets = ["https://pypi.corp.example/simple/"]
keep_expired = false
""",
    )
    loaded = policy.load(path, explicit=True)
    assert loaded.path == path
    assert loaded.string("scope") == "global"
    assert loaded.strings("configure") == ["pip", "git"]
    assert loaded.strings("extra_ca") == ["/etc/corp/roots"]
    assert loaded.flag("keep_expired") is False
    assert loaded.flag("include_intermediates") is None
    assert "exclude" in loaded
    assert "include_intermediates" not in loaded


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'scope = "user"\nrequired = "abc\nexclude = []\n')
    with pytest.raises(PolicyError) as caught:
        policy.load(path, explicit=True)
    assert str(caught.value).startswith(f"{path}: ")
    assert "line 2" in str(caught.value)
    assert caught.value.exit_code is ExitCode.CONFIG


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('requierd = ["ab"]\n', "line 1: unknown key 'requierd'"),
        ('scope = "user"\nrequired = "ab"\n', "line 2: required must be a list of strings"),
        # Python's words were "'keep_expired' must be bool", "'scope' must be str".
        ("keep_expired = 1\n", "line 1: keep_expired must be true or false"),
        ('keep_expired = "no"\n', "line 1: keep_expired must be true or false"),
        ("scope = 1\n", "line 1: scope must be a string in quotes"),
        ('scope = "everyone"\n', "line 1: scope must be one of global, none, site, user"),
        ("extra_ca = [1, 2]\n", "extra_ca must be a list of strings"),
        (
            'scope = "user"\nexclude = ["4f1c"]\n',  # a typo would match nothing, silently
            "line 2: 'exclude' holds '4f1c', which is not a SHA-256 fingerprint",
        ),
        (  # was exit 1, "an unexpected internal error", with neither file nor line
            '\nconfigure = ["pip", "gti"]\n',
            "line 2: 'configure' holds 'gti', which is no tool",
        ),
        (  # relative to the current folder, which differs from logon to logon
            'scope = "user"\noutput = "corp/ca-bundle.pem"\n',
            "line 2: 'output' holds 'corp/ca-bundle.pem', which is not an absolute path",
        ),
        ('extra_ca = ["roots"]\n', "line 1: 'extra_ca' holds 'roots', which is not an abs"),
        ('# scope\n\n\n\n"scope" = "machine"\n', "line 5: scope must be one of"),  # quoted
        (  # a table was said to be on line 1
            'scope = "user"\n\n[extra_ca]\npath = "/etc/corp"\n',
            "line 3: extra_ca must be a list of strings",
        ),
        (  # checked as TLS on port 443, then "offline" (exit 7) in every run's live check
            'verify_targets = ["http://pypi.corp.example/simple/"]\n',
            "line 1: 'verify_targets' holds 'http://pypi.corp.example/simple/': only https://",
        ),
        ('verify_targets = ["https://"]\n', "'verify_targets' holds 'https://'"),
        (  # its token was quoted back, into every logon's log
            'verify_targets = ["http://ci:glpat-s3cret@index.example/simple/"]\n',
            r"holds 'http://\*\*\*\*@index.example/simple/': only https://",
        ),
    ],
)
def test_wrong_keys_and_types_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        policy.load(write(tmp_path, text), explicit=True)


def test_missing_default_policy_is_no_policy_but_a_named_one_is_an_error(tmp_path: Path) -> None:
    assert policy.load(tmp_path / "absent.toml", explicit=False).values == {}
    with pytest.raises(PolicyError, match="policy file not found"):
        policy.load(tmp_path / "absent.toml", explicit=True)


def test_a_default_policy_that_is_a_dangling_link_is_an_error_not_no_policy(
    tmp_path: Path,
) -> None:
    """A link into a share not mounted yet read as "no policy": the run went on without
    IT's required and excluded roots."""
    link = tmp_path / "policy.toml"
    link.symlink_to(tmp_path / "not-mounted" / "policy.toml")
    with pytest.raises(PolicyError, match=f"because {link} is a link to"):
        policy.load(link, explicit=False)
    folder = tmp_path / "build-ca-bundle"  # the folder is the link: the same
    folder.symlink_to(tmp_path / "share-not-mounted")
    with pytest.raises(PolicyError, match=f"because {folder} is a link to"):
        policy.load(folder / "policy.toml", explicit=False)
    assert policy.load(tmp_path / "absent" / "policy.toml", explicit=False).values == {}


def test_not_utf8_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b'keep_expired = false\nscope = "\xff"\n')
    with pytest.raises(PolicyError, match="line 2: not UTF-8"):
        policy.load(path, explicit=True)


def test_a_byte_order_mark_is_read_past(tmp_path: Path) -> None:
    """Windows PowerShell 5 writes one (Set-Content -Encoding UTF8): 'Invalid statement (at
    line 1, column 1)' before, for a file that looks right in every editor."""
    path = tmp_path / "policy.toml"
    path.write_bytes(b'\xef\xbb\xbfscope = "none"\n')
    assert policy.load(path, explicit=True).values == {"scope": "none"}


def test_default_locations() -> None:
    assert policy.default_location("linux") == Path("/etc/build-ca-bundle/policy.toml")
    assert policy.default_location("darwin") == Path(
        "/Library/Application Support/build-ca-bundle/policy.toml"
    )
    windows = policy.default_location("win32", {"PROGRAMDATA": "D:\\Data"})
    assert PureWindowsPath(str(windows)) == PureWindowsPath(r"D:\Data\build-ca-bundle\policy.toml")


@pytest.mark.parametrize("ending", sorted({"/", os.sep}))
def test_an_output_ending_in_a_separator_is_refused(
    os_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], ending: str
) -> None:
    """``output = ".../newdir/"`` wrote a file named ``newdir`` (and pointed pip at it);
    the same path given as --output was refused."""
    folder = tmp_path / "newdir"
    # A literal string: a Windows path's backslashes are not escapes there.
    own = write(tmp_path, f"scope = 'none'\noutput = '{folder}{ending}'\n")
    code, _, err = run(capsys, "--policy", str(own))
    assert code == ExitCode.CONFIG
    assert f"{own}, line 2: 'output' holds" in err
    assert "ends with a separator, so it names a folder" in err
    assert f"{folder}{ending}ca-bundle.pem" in err
    assert not folder.exists()


@pytest.mark.parametrize("key", ["extra_ca", "output"])
def test_a_home_folder_that_is_not_known_is_refused(
    os_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    """``~nosuchuser/x.pem`` crashed the run: RuntimeError, 'Could not determine home
    directory', with neither the file nor the line."""
    value = '["~nosuchuser-h48/x.pem"]' if key == "extra_ca" else "'~nosuchuser-h48/x.pem'"
    own = write(tmp_path, f"scope = 'none'\n{key} = {value}\n")
    code, _, err = run(capsys, "--policy", str(own))
    assert code == ExitCode.CONFIG
    assert f"{own}, line 2: {key!r} holds '~nosuchuser-h48/x.pem', whose home folder" in err


@pytest.mark.skipif(sys.platform == "win32", reason="the passwd database")
def test_a_tilde_with_no_home_and_no_passwd_entry_is_refused(
    os_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``~/x.pem`` under an account with no HOME and no passwd entry (a container's uid)
    crashed the run with RuntimeError, as ``~nosuchuser`` did."""
    import pwd

    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(uid)

    monkeypatch.delenv("HOME")
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    own = write(tmp_path, "extra_ca = ['~/x.pem']\n")
    with pytest.raises(PolicyError, match=r"line 1: 'extra_ca' holds '~/x\.pem', whose home"):
        policy.load(own, explicit=True)


@pytest.mark.parametrize(("key", "value"), [("extra_ca", "['~/corp.pem']")])
def test_a_tilde_in_the_machine_policy_is_refused_but_not_in_ones_own(
    os_store: Path,
    machine_policy: Path,
    tmp_path: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
    key: str,
    value: str,
) -> None:
    """``~`` passed the machine policy's "absolute path" check, but it is each user's own
    home: every account's run read a file that account controls into the bundle IT meant
    to decide. Named with --policy it is the machine's all the same."""
    make_root("Planted In A Home").write(isolated_home.home / "corp.pem")
    machine_policy.write_text(f"scope = 'none'\n{key} = {value}\n")
    for args in ((), ("--policy", str(machine_policy))):
        code, _, err = run(capsys, *args)
        assert code == ExitCode.CONFIG
        assert f"{machine_policy}, line 2: {key!r} holds '~/" in err
        assert "machine-wide policy is each user's own home folder" in err
    own = write(tmp_path, f"{key} = {value}\n")
    machine_policy.write_text("scope = 'none'\n")
    assert run(capsys, "--policy", str(own))[0] == 0


def test_a_machine_policy_may_put_each_accounts_bundle_under_its_home(
    os_store: Path,
    machine_policy: Path,
    isolated_home: Home,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`output = "~/.certs/ca-bundle.pem"`: a per-user place IT chose, each account's own
    bundle. It was refused with the extra_ca rule, and every logon on every machine exited
    3. (`~root/...` in extra_ca is one fixed home, and passes that rule too.)"""
    machine_policy.write_text('output = "~/.certs/ca-bundle.pem"\nextra_ca = ["~root/x.pem"]\n')
    assert policy.load(machine_policy, explicit=False).strings("extra_ca") == ["~root/x.pem"]
    machine_policy.write_text('output = "~/.certs/ca-bundle.pem"\n')
    assert run(capsys)[0] == 0
    assert (isolated_home.home / ".certs" / "ca-bundle.pem").is_file()


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("https://pypi.corp.example:99999/simple/", "not a valid port"),
        ("https://:8443/simple/", "no host name"),
        ("pypi.corp.example:65536", "not a valid port"),
    ],
)
def test_a_verify_target_no_server_could_answer_is_refused(
    os_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, reason: str
) -> None:
    """An impossible port, or no host, passed the policy's check, and every run's live check
    then tried it and failed (exit 6 here, "offline" exit 7 elsewhere); on the command line
    it is refused (verify's own rule)."""
    own = write(tmp_path, f"scope = 'none'\nverify_targets = ['{target}']\n")
    code = cli.main(["--policy", str(own)])  # the live check on: it is what failed
    err = capsys.readouterr().err
    assert code == ExitCode.CONFIG
    assert f"{own}, line 2: 'verify_targets' holds {target!r}: {reason}" in err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('scope = "user"\nscope = "global"\n', "line 2, .*: is scope given twice"),
        ("[extra_ca]\n[extra_ca]\n", "line 2, .*: is extra_ca given twice"),
    ],
)
def test_a_key_given_twice_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    """tomllib's "Cannot overwrite a value (at line 2, column 15)" was all it said: neither
    the key nor that it was given twice."""
    own = write(tmp_path, text)
    code, _, err = run(capsys, "--policy", str(own))
    assert code == ExitCode.CONFIG
    assert re.search(f"{re.escape(str(own))}: .*{message}", err)
    assert "hint: set each key once" in err


def test_a_bad_item_in_a_list_over_many_lines_names_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The key's line was named (line 1), not the item's, in a list of many."""
    own = write(
        tmp_path,
        'configure = [\n  "pip",  # ] in a comment\n  "git",\n  "gti",\n]\n',
    )
    code, _, err = run(capsys, "--policy", str(own))
    assert code == ExitCode.CONFIG
    assert f"{own}, line 4: 'configure' holds 'gti'" in err
    own.write_text('exclude = ["4f1c"]\nextra_ca = [\n  "/etc/corp",\n  "roots",\n]\n')
    with pytest.raises(PolicyError, match="line 1: 'exclude' holds '4f1c'"):
        policy.load(own, explicit=True)
    own.write_text('extra_ca = [\n  "/etc/corp",\n  "roots",\n]\n')
    with pytest.raises(PolicyError, match="line 3: 'extra_ca' holds 'roots'"):
        policy.load(own, explicit=True)
