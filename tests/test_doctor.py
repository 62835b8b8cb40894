"""doctor finds each insecure workaround where people put it, with file and line."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from build_ca_bundle import doctor
from build_ca_bundle.certificates import parse_der
from build_ca_bundle.targets import Finding, Severity
from tests.conftest import Home
from tests.pki import NOW, Issued, make_root, make_sha1_root, make_v1_root
from tests.tls import HTTPSServer


def context(home: Home, tmp_path: Path, **overrides: object) -> doctor.DoctorContext:
    cwd = tmp_path / "project"
    cwd.mkdir(exist_ok=True)
    values: dict[str, object] = {
        "home": home.home,
        "cwd": cwd,
        "environ": {"HOME": str(home.home), "XDG_CONFIG_HOME": str(home.config)},
        "platform": "linux",
        "system_root": tmp_path / "root",
        "git": None,
        "site_folders": [],
    }
    values.update(overrides)
    return doctor.DoctorContext(**values)  # type: ignore[arg-type]


def places(findings: list[Finding]) -> list[str]:
    return [finding.where for finding in findings]


def test_clean_machine_has_no_findings(isolated_home: Home, tmp_path: Path) -> None:
    findings = doctor.run_checks(context(isolated_home, tmp_path))
    assert [f for f in findings if f.severity is not Severity.INFO] == []


def test_pip_trusted_host_in_every_file_and_section(isolated_home: Home, tmp_path: Path) -> None:
    user = isolated_home.pip_user_config
    user.parent.mkdir(parents=True)
    user.write_text(
        "# my fix from the wiki\n"
        "[global]\n"
        "timeout = 60\n"
        "trusted-host = pypi.org\n"
        "    files.pythonhosted.org\n"
        "[install]\n"
        "; trusted-host = commented.example\n"
        "trusted_host=pypi.python.org\n"
    )
    site = tmp_path / "venv" / "pip.conf"
    site.parent.mkdir()
    site.write_text("[global]\ntrusted-host = example.org\n")
    findings = doctor.check_pip_config(
        context(isolated_home, tmp_path, pip_files=[user, site, tmp_path / "absent.conf"])
    )
    assert places(findings) == [f"{user}:4", f"{user}:8", f"{site}:2"]
    assert "[global] trusted-host = pypi.org" in findings[0].message
    assert "[install]" in findings[1].message
    assert all(f.severity is Severity.ERROR for f in findings)
    assert "doctor --fix" in findings[0].fix


def test_shell_startup_files_and_profiles(isolated_home: Home, tmp_path: Path) -> None:
    home = isolated_home.home
    (home / ".bashrc").write_text(
        "export PATH=$PATH:~/bin\n"
        "alias pipi='pip install --trusted-host pypi.org'\n"
        "# alias old='pip install --trusted-host x'\n"
        "export GIT_SSL_NO_VERIFY=1\n"
    )
    (home / ".zshrc").write_text("export NODE_TLS_REJECT_UNAUTHORIZED=0\n")
    profile = home / "Documents" / "PowerShell" / "Microsoft.PowerShell_profile.ps1"
    profile.parent.mkdir(parents=True)
    profile.write_text("function pipi { pip install --trusted-host=pypi.org @args }\r\n")
    profile_d = tmp_path / "root" / "etc" / "profile.d"
    profile_d.mkdir(parents=True)
    (profile_d / "corp.sh").write_text("export PIP_TRUSTED_HOST='pypi.org'\n")
    findings = doctor.check_shell_files(context(isolated_home, tmp_path))
    assert sorted(places(findings)) == sorted(
        [
            f"{home / '.bashrc'}:2",
            f"{home / '.bashrc'}:4",
            f"{home / '.zshrc'}:1",
            f"{profile}:1",
            f"{profile_d / 'corp.sh'}:1",
        ]
    )


def test_ca_variables_a_start_up_file_sets_to_a_missing_file_or_another_bundle(
    isolated_home: Home, tmp_path: Path
) -> None:
    """`export REQUESTS_CA_BUNDLE=~/old-corp.pem` left in ~/.bashrc from a fix by hand: every
    new shell gets it, and doctor looked only at its own environment, not at the line."""
    home = isolated_home.home
    ours = tmp_path / "ca-bundle.pem"
    ours.write_text("ours\n")
    theirs = tmp_path / "their-bundle.pem"
    theirs.write_text("theirs\n")
    (home / ".bashrc").write_text(
        "export REQUESTS_CA_BUNDLE=~/old-corp.pem\n"  # gone
        f"export SSL_CERT_FILE='{theirs}'  # from the wiki\n"  # another bundle
        f'PIP_CERT="{ours}"\n'  # ours: fine
        "# export CURL_CA_BUNDLE=/nowhere.pem\n"  # a comment does nothing
        "export AWS_CA_BUNDLE=$CORP_CA\n"  # built from another variable: not guessed
        "echo NODE_EXTRA_CA_CERTS=/nowhere.pem\n"  # not an assignment
        "# >>> build-ca-bundle >>>\n"
        "export GIT_SSL_CAINFO='/was/ours.pem'\n"  # our own block: undo's, not doctor's
        "# <<< build-ca-bundle <<<\n"
    )
    config = isolated_home.config / "fish" / "config.fish"
    config.parent.mkdir(parents=True)
    config.write_text("set -gx CURL_CA_BUNDLE /gone/curl.pem\n")
    findings = doctor.check_ca_variables_set_at_login(context(isolated_home, tmp_path, bundle=ours))
    said = {finding.where: finding for finding in findings}
    assert sorted(said) == sorted([f"{home / '.bashrc'}:1", f"{home / '.bashrc'}:2", f"{config}:1"])
    gone = said[f"{home / '.bashrc'}:1"]
    assert gone.severity is Severity.ERROR
    assert (
        f"sets REQUESTS_CA_BUNDLE to {home / 'old-corp.pem'}, which does not exist" in gone.message
    )
    other = said[f"{home / '.bashrc'}:2"]
    assert other.severity is Severity.WARNING
    assert f"sets SSL_CERT_FILE to {theirs}, not our bundle" in other.message
    assert f"point it at {ours}" in other.fix
    assert "sets CURL_CA_BUNDLE to /gone/curl.pem" in said[f"{config}:1"].message


def test_doctor_reads_the_shell_files_and_forms_it_missed_and_not_comments(
    isolated_home: Home, tmp_path: Path
) -> None:
    """Missed: ~/.bash_login (which --persist-env itself writes), $ZDOTDIR's zsh files,
    fish's `set -gx`, `--trusted-host<TAB>host`, dev-requirements.txt. Said wrongly: a
    trailing comment that only mentions --trusted-host, whose fix deleted the requirement."""
    home = isolated_home.home
    zdotdir = tmp_path / "zdot"
    zdotdir.mkdir()
    (home / ".bash_login").write_text("alias pipi='pip install --trusted-host\tpypi.org'\n")
    (zdotdir / ".zshrc").write_text("export PIP_TRUSTED_HOST=pypi.org\n")
    fish = home / ".config" / "fish" / "config.fish"
    fish.parent.mkdir(parents=True)
    fish.write_text(
        "set -gx PIP_TRUSTED_HOST pypi.org\nset -x NODE_TLS_REJECT_UNAUTHORIZED 0\n"
        "set -gx NODE_TLS_REJECT_UNAUTHORIZED 1\n"
    )
    (home / ".bashrc").write_text("export PATH=$PATH:~/bin  # no --trusted-host here\n")
    environ = {"HOME": str(home), "ZDOTDIR": str(zdotdir)}
    findings = doctor.check_shell_files(context(isolated_home, tmp_path, environ=environ))
    assert sorted(places(findings)) == sorted(
        [f"{home / '.bash_login'}:1", f"{zdotdir / '.zshrc'}:1", f"{fish}:1", f"{fish}:2"]
    )
    ctx = context(isolated_home, tmp_path)
    (ctx.cwd / "dev-requirements.txt").write_text(
        "requests==2.0  # no longer needs --trusted-host x\n--trusted-host\tpypi.org\n"
    )
    assert places(doctor.check_requirements_files(ctx)) == [f"{ctx.cwd / 'dev-requirements.txt'}:2"]


def test_requirements_files_and_pipfile(isolated_home: Home, tmp_path: Path) -> None:
    ctx = context(isolated_home, tmp_path)
    (ctx.cwd / "requirements-dev.txt").write_text("--trusted-host pypi.org\nrequests\n")
    (ctx.cwd / "constraints.txt").write_text("# --trusted-host not really\nidna<4\n")
    (ctx.cwd / "Pipfile").write_text(
        '[[source]]\nurl = "https://pypi.org/simple"\nverify_ssl = false\n'
    )
    findings = doctor.check_requirements_files(ctx)
    assert places(findings) == [f"{ctx.cwd / 'requirements-dev.txt'}:1", f"{ctx.cwd / 'Pipfile'}:3"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")
def test_a_fifo_or_device_for_a_requirements_file_is_passed_over(
    isolated_home: Home, tmp_path: Path
) -> None:
    """A FIFO `requirements.txt` in the folder doctor ran in hung it for good (as root too);
    the same reader refuses a link to /dev/zero, which filled memory (not tried here: a
    regression would take the test machine's memory with it)."""
    ctx = context(isolated_home, tmp_path)
    os.mkfifo(ctx.cwd / "requirements.txt")
    (ctx.cwd / "requirements-dev.txt").write_text("--trusted-host pypi.org\n")
    found: list[list[Finding]] = []
    worker = threading.Thread(target=lambda: found.append(doctor.check_requirements_files(ctx)))
    worker.start()
    worker.join(timeout=10)
    blocked = worker.is_alive()
    if blocked:  # let the blocked open end, so the suite does not hang with it
        with open(ctx.cwd / "requirements.txt", "wb"):  # noqa: PTH123
            pass
        worker.join()
    assert not blocked, "doctor blocked on the FIFO"
    assert places(found[0]) == [f"{ctx.cwd / 'requirements-dev.txt'}:1"]


def test_environment_variables() -> None:
    env = {
        "PIP_TRUSTED_HOST": "pypi.org",
        "GIT_SSL_NO_VERIFY": "",
        "NODE_TLS_REJECT_UNAUTHORIZED": "0",
        "UV_INSECURE_HOST": "pypi.org",
        "CONDA_SSL_VERIFY": "false",
        "npm_config_strict_ssl": "false",
        "POETRY_CERTIFICATES_CORP_CERT": "false",
        "PYTHONHTTPSVERIFY": "0",
        "CURL_CA_BUNDLE": "",
    }
    ctx = doctor.DoctorContext(home=Path("/nonexistent"), cwd=Path("/nonexistent"), environ=env)
    findings = {f.where.removeprefix("environment: "): f for f in doctor.check_environment(ctx)}
    assert set(findings) == set(env)
    assert findings["PYTHONHTTPSVERIFY"].severity is Severity.INFO
    assert findings["CURL_CA_BUNDLE"].severity is Severity.WARNING
    assert findings["GIT_SSL_NO_VERIFY"].severity is Severity.ERROR
    # Values that do not switch anything off are not findings.
    harmless = {"NODE_TLS_REJECT_UNAUTHORIZED": "1", "CONDA_SSL_VERIFY": "/corp/ca.pem"}
    ctx = doctor.DoctorContext(home=Path("/x"), cwd=Path("/x"), environ=harmless)
    assert doctor.check_environment(ctx) == []


def test_npm_conda_uv_poetry_files(isolated_home: Home, tmp_path: Path) -> None:
    home = isolated_home.home
    (home / ".npmrc").write_text("registry=https://registry.npmjs.org/\nstrict-ssl=false\n")
    (home / ".condarc").write_text("channels:\n  - defaults\nssl_verify: false\n")
    uv = isolated_home.config / "uv" / "uv.toml"
    uv.parent.mkdir(parents=True)
    uv.write_text('allow-insecure-host = ["pypi.org"]\n')
    poetry = isolated_home.config / "pypoetry" / "config.toml"
    poetry.parent.mkdir(parents=True)
    poetry.write_text("[certificates.corp]\ncert = false\n")
    ctx = context(isolated_home, tmp_path)
    assert places(doctor.check_npm(ctx)) == [f"{home / '.npmrc'}:2"]
    # Run from the home folder: the project's .npmrc is the user's, said once, not twice.
    assert places(doctor.check_npm(ctx.replace(cwd=home))) == [f"{home / '.npmrc'}:2"]
    bundle = tmp_path / "ca-bundle.pem"
    (finding,) = doctor.check_npm(ctx.replace(bundle=bundle))
    assert finding.fix == (
        f"remove strict-ssl=false; point npm at the bundle: npm config set cafile {bundle}"
    )
    # A cafile already there: the fix is the one line, not a cafile it already has.
    (home / ".npmrc").write_text(f"cafile={bundle}\nstrict-ssl=false\n")
    (finding,) = doctor.check_npm(ctx.replace(bundle=bundle))
    assert finding.fix == "remove strict-ssl=false"
    # A project's own cafile beats the user's npmrc there: said, as a warning.
    project = tmp_path / "npm-project"
    project.mkdir()
    (project / ".npmrc").write_text("registry=https://npm.corp/\ncafile = /corp/ca.pem\n")
    (found,) = [f for f in doctor.check_npm(ctx.replace(cwd=project)) if "cafile" in f.message]
    assert (found.severity, found.where) == (Severity.WARNING, f"{project / '.npmrc'}:2")
    assert "uses cafile = /corp/ca.pem from its own .npmrc" in found.message
    assert places(doctor.check_conda(ctx)) == [f"{home / '.condarc'}:3"]
    assert places(doctor.check_uv(ctx)) == [f"{uv}:1"]
    assert places(doctor.check_poetry(ctx)) == [f"{poetry}:2"]


def test_site_customization_that_disables_verification(isolated_home: Home, tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import ssl\nssl._create_default_https_context = ssl._create_unverified_context\n"
    )
    (site / "harmless.pth").write_text("/opt/lib\n")
    findings = doctor.check_site_customization(
        context(isolated_home, tmp_path, site_folders=[site])
    )
    assert places(findings) == [f"{site / 'sitecustomize.py'}:2"]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_ssl_verify_false_with_its_origin(isolated_home: Home, tmp_path: Path) -> None:
    env = {"HOME": str(isolated_home.home), "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "config", "--global", "http.sslVerify", "false"], env=env, check=True)
    subprocess.run(
        ["git", "config", "--global", "http.https://example.org/.sslVerify", "true"],
        env=env,
        check=True,
    )
    ctx = context(isolated_home, tmp_path, environ=env, git=("git",))
    findings = doctor.check_git(ctx)
    gitconfig = isolated_home.home / ".gitconfig"
    number = gitconfig.read_text().splitlines().index("\tsslVerify = false") + 1
    assert [f.where for f in findings] == [f"{gitconfig}:{number}"]  # the line too, as for npm
    assert "http.sslverify = false" in findings[0].message
    # The fix runs as printed, outside a repository too ("git config --unset" alone: "not in
    # a git directory").
    command = findings[0].fix.partition(";")[0].split()
    subprocess.run(command, env=env, cwd=tmp_path, check=True)
    assert doctor.check_git(ctx) == []


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_settings_are_judged_as_git_reads_them(isolated_home: Home, tmp_path: Path) -> None:
    """ "sslVerify =" (empty) is false to git, and git then skips verification; doctor missed
    it. A bare "sslVerify" is true. git --bool is the oracle."""
    env = {"HOME": str(isolated_home.home), "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    gitconfig = isolated_home.home / ".gitconfig"
    gitconfig.write_text(
        '[http]\n\tsslVerify =\n[http "https://a.example/"]\n\tsslVerify\n'
        '[http "https://b.example/"]\n\tsslVerify = Off\n'
    )
    keys = [
        "http.sslVerify",
        "http.https://a.example/.sslVerify",
        "http.https://b.example/.sslVerify",
    ]
    git_says_off = {
        key.lower()
        for key in keys
        if subprocess.run(
            ["git", "config", "--bool", key], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        == "false"
    }
    assert git_says_off == {"http.sslverify", "http.https://b.example/.sslverify"}
    findings = doctor.check_git(context(isolated_home, tmp_path, environ=env, git=("git",)))
    found = {f.message.split(" ")[1] for f in findings}
    assert found == git_says_off
    assert sorted(f.where for f in findings) == [f"{gitconfig}:2", f"{gitconfig}:6"]


def test_conda_ssl_verify_false_with_a_yaml_comment(isolated_home: Home, tmp_path: Path) -> None:
    condarc = isolated_home.home / ".condarc"
    condarc.write_text("ssl_verify: false  # the proxy broke it\n")
    assert places(doctor.check_conda(context(isolated_home, tmp_path))) == [f"{condarc}:1"]
    condarc.write_text("ssl_verify: true  # false alarm\n")
    assert doctor.check_conda(context(isolated_home, tmp_path)) == []


def test_strict_x509_lint_names_what_python_313_rejects() -> None:
    good = parse_der(make_root("Good Root").der)
    lax = parse_der(make_root("Lax Root", basic_constraints_critical=False, key_usage=False).der)
    assert doctor.strict_x509_problems(good) == []
    assert doctor.strict_x509_problems(lax) == [
        "basicConstraints is not marked critical",
        "no keyUsage extension",
    ]
    (finding,) = doctor.lint_roots([good, lax])
    assert "Lax Root" in finding.where
    assert "reissuing it" in finding.fix
    # Broken now only where Python checks strictly; before 3.13 a note, not exit 12 for
    # something no one on the machine can mend.
    strict_python = sys.version_info >= (3, 13)
    assert finding.severity is (Severity.WARNING if strict_python else Severity.INFO)


# Each root, and what the lint says of it. A root without authorityKeyIdentifier is fine:
# "Good Root" has none, as most roots do not.
STRICT_CASES: list[tuple[str, Callable[[], Issued], list[str]]] = [
    ("good", lambda: make_root("Good Root"), []),
    ("SHA-1 self-signed", lambda: make_sha1_root("SHA-1 Root"), []),
    (
        "basicConstraints not critical",
        lambda: make_root("Lax", basic_constraints_critical=False),
        ["basicConstraints is not marked critical"],
    ),
    ("no keyUsage", lambda: make_root("No KU", key_usage=False), ["no keyUsage extension"]),
    (
        "no subjectKeyIdentifier",
        lambda: make_root("No SKI", key_identifier=False),
        ["no subjectKeyIdentifier"],
    ),
    (
        "no basicConstraints",
        lambda: make_root("No BC", basic_constraints=None),
        ["no basicConstraints extension"],
    ),
    (
        "version 1",
        lambda: make_v1_root("V1 Root"),
        ["no basicConstraints extension", "no keyUsage extension", "no subjectKeyIdentifier"],
    ),
]


@pytest.mark.parametrize(
    ("make", "expected"),
    [(make, expected) for _, make, expected in STRICT_CASES],
    ids=[case for case, _, _ in STRICT_CASES],
)
def test_strict_x509_lint_agrees_with_openssl(
    make: Callable[[], Issued], expected: list[str], tmp_path: Path
) -> None:
    """The lint says a root has a problem exactly when a real handshake through it fails
    with the flags Python 3.13 turns on (this OpenSSL does the checking)."""
    root = make()
    assert doctor.strict_x509_problems(parse_der(root.der)) == expected
    context = ssl.create_default_context(cafile=str(root.write(tmp_path / "root.pem")))
    context.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
    with (
        HTTPSServer(root.issue("127.0.0.1"), tmp_path / "server") as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
    ):
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1"):
                verified = True
        except ssl.SSLCertVerificationError:
            verified = False
    assert verified == (expected == [])


def test_strict_lint_reads_old_roots_without_warnings(recwarn: pytest.WarningsRecorder) -> None:
    """Go Daddy's and Starfield's Class 2 roots, still in distro stores, carry serial 0 in
    their authorityKeyIdentifier: cryptography warns when it parses that (and says it will
    refuse it), and doctor printed the warning. The lint reads our own parse of the DER."""
    import warnings

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.utils import CryptographyDeprecationWarning

    from tests.pki import name

    key = ec.generate_private_key(ec.SECP256R1())
    subject = name("Class 2 Style Root")
    own_id = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=3650))
        .add_extension(own_id, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier(own_id.digest, [x509.DirectoryName(subject)], 0),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=False)
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    with warnings.catch_warnings(record=True) as seen:  # the case is real: cryptography warns
        warnings.simplefilter("always")
        _ = x509.load_der_x509_certificate(der).extensions
    assert [w.category for w in seen] == [CryptographyDeprecationWarning]

    assert doctor.strict_x509_problems(parse_der(der)) == [
        "basicConstraints is not marked critical",
        "no keyUsage extension",
    ]
    assert not recwarn.list


def test_a_ca_variable_with_a_literal_tilde_names_nothing_but_for_pip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REQUESTS_CA_BUNDLE='~/.local/share/build-ca-bundle/ca-bundle.pem' (quoted, so no shell
    expanded it): doctor expanded "~" and said nothing, and pip failed with "Could not find a
    suitable TLS CA certificate bundle, invalid path". Only pip expands it (PIP_CERT)."""
    import ssl

    monkeypatch.setenv("HOME", str(tmp_path))
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(make_root("Tilde Root").pem)
    with pytest.raises(FileNotFoundError):  # what OpenSSL (and requests) does with it
        ssl.create_default_context(cafile="~/ca-bundle.pem")
    env = {"REQUESTS_CA_BUNDLE": "~/ca-bundle.pem", "PIP_CERT": "~/ca-bundle.pem"}
    ctx = doctor.DoctorContext(home=tmp_path, cwd=tmp_path, environ=env, bundle=bundle)
    (finding,) = doctor.check_ca_variables(ctx)
    assert (finding.where, finding.severity) == ("environment: REQUESTS_CA_BUNDLE", Severity.ERROR)
    assert "they do not expand '~'" in finding.message
    assert str(bundle) in finding.fix


def test_ca_variables_naming_missing_files_or_other_bundles(tmp_path: Path) -> None:
    ours = tmp_path / "ours.pem"
    ours.write_text("x")
    other = tmp_path / "other.pem"
    other.write_text("x")
    env = {
        "SSL_CERT_FILE": str(tmp_path / "gone.pem"),
        "REQUESTS_CA_BUNDLE": str(other),
        "PIP_CERT": str(ours),
        "GIT_SSL_CAINFO": str(tmp_path / "moved.pem"),  # git, npm and AWS too
        "AWS_CA_BUNDLE": str(other),
        "NODE_EXTRA_CA_CERTS": str(tmp_path / "left.pem"),
    }
    ctx = doctor.DoctorContext(home=tmp_path, cwd=tmp_path, environ=env, bundle=ours)
    findings = {f.where: f.severity for f in doctor.check_ca_variables(ctx)}
    assert findings == {
        "environment: SSL_CERT_FILE": Severity.ERROR,
        "environment: REQUESTS_CA_BUNDLE": Severity.WARNING,
        "environment: GIT_SSL_CAINFO": Severity.ERROR,
        "environment: AWS_CA_BUNDLE": Severity.WARNING,
        "environment: NODE_EXTRA_CA_CERTS": Severity.ERROR,
    }
    # NODE_EXTRA_CA_CERTS adds to Node's roots: naming another file replaces nothing.
    added = doctor.DoctorContext(
        home=tmp_path, cwd=tmp_path, environ={"NODE_EXTRA_CA_CERTS": str(other)}, bundle=ours
    )
    assert doctor.check_ca_variables(added) == []


def test_pip_version_is_reported(tmp_path: Path) -> None:
    from importlib import metadata

    ctx = doctor.DoctorContext(home=tmp_path, cwd=tmp_path, environ={})
    (finding,) = doctor.check_pip_version(ctx)
    assert f"pip {metadata.version('pip')}" in finding.message
    assert finding.severity is Severity.INFO


@pytest.mark.parametrize(
    ("config", "environ", "only_certifi"),
    [
        ("[global]\nuse-deprecated = legacy-certs\n", {}, True),
        ("[install]\nuse_deprecated = legacy-certs\n", {}, True),
        ("[list]\nuse-deprecated = legacy-certs\n", {}, False),  # not an install's
        ("[global]\nuse-deprecated = legacy-certs\n", {"PIP_USE_DEPRECATED": "x"}, False),
        ("[global]\n", {"PIP_USE_DEPRECATED": "legacy-certs"}, True),
    ],
)
def test_pips_legacy_certs_is_read_from_its_config_files_too(
    config: str, environ: dict[str, str], only_certifi: bool, tmp_path: Path
) -> None:
    """`use-deprecated = legacy-certs` in pip.conf turns truststore off as the variable does:
    doctor said pip trusted the OS store (audit h43)."""
    from importlib import metadata

    if tuple(int(p) for p in metadata.version("pip").split(".")[:2]) < (24, 2):
        pytest.skip("this pip trusts only certifi whatever its config says")
    pip_conf = tmp_path / "pip.conf"
    pip_conf.write_text(config)
    environ = {**environ, "PIP_CONFIG_FILE": str(pip_conf), "HOME": str(tmp_path)}
    ctx = doctor.DoctorContext(home=tmp_path, cwd=tmp_path, environ=environ, pip_files=[pip_conf])
    (finding,) = doctor.check_pip_version(ctx)
    assert ("trusts only certifi" in finding.message) is only_certifi, finding.message


def test_the_npmrc_npm_config_userconfig_names_is_audited(
    isolated_home: Home, tmp_path: Path
) -> None:
    """npm reads NPM_CONFIG_USERCONFIG's file in place of ~/.npmrc: its strict-ssl=false
    went unsaid."""
    named = tmp_path / "team.npmrc"
    named.write_text("registry=https://npm.corp/\nstrict-ssl=false\n")
    environ = {"HOME": str(isolated_home.home), "NPM_CONFIG_USERCONFIG": str(named)}
    findings = doctor.check_npm(context(isolated_home, tmp_path, environ=environ))
    assert places(findings) == [f"{named}:2"]
