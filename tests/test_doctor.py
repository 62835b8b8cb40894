"""doctor finds each insecure workaround where people put it, with file and line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from build_ca_bundle import doctor
from build_ca_bundle.certificates import parse_der
from build_ca_bundle.targets import Finding, Severity
from tests.conftest import Home
from tests.pki import make_root


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


def test_requirements_files_and_pipfile(isolated_home: Home, tmp_path: Path) -> None:
    ctx = context(isolated_home, tmp_path)
    (ctx.cwd / "requirements-dev.txt").write_text("--trusted-host pypi.org\nrequests\n")
    (ctx.cwd / "constraints.txt").write_text("# --trusted-host not really\nidna<4\n")
    (ctx.cwd / "Pipfile").write_text(
        '[[source]]\nurl = "https://pypi.org/simple"\nverify_ssl = false\n'
    )
    findings = doctor.check_requirements_files(ctx)
    assert places(findings) == [f"{ctx.cwd / 'requirements-dev.txt'}:1", f"{ctx.cwd / 'Pipfile'}:3"]


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
    assert [f.where for f in findings] == [str(isolated_home.home / ".gitconfig")]
    assert "http.sslverify = false" in findings[0].message


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
    assert "administrator" in finding.fix


def test_ca_variables_naming_missing_files_or_other_bundles(tmp_path: Path) -> None:
    ours = tmp_path / "ours.pem"
    ours.write_text("x")
    other = tmp_path / "other.pem"
    other.write_text("x")
    env = {
        "SSL_CERT_FILE": str(tmp_path / "gone.pem"),
        "REQUESTS_CA_BUNDLE": str(other),
        "PIP_CERT": str(ours),
    }
    ctx = doctor.DoctorContext(home=tmp_path, cwd=tmp_path, environ=env, bundle=ours)
    findings = {f.where: f for f in doctor.check_ca_variables(ctx)}
    assert set(findings) == {"environment: SSL_CERT_FILE", "environment: REQUESTS_CA_BUNDLE"}
    assert findings["environment: SSL_CERT_FILE"].severity is Severity.ERROR
    assert findings["environment: REQUESTS_CA_BUNDLE"].severity is Severity.WARNING


def test_pip_version_is_reported(tmp_path: Path) -> None:
    from importlib import metadata

    ctx = doctor.DoctorContext(home=tmp_path, cwd=tmp_path, environ={})
    (finding,) = doctor.check_pip_version(ctx)
    assert f"pip {metadata.version('pip')}" in finding.message
    assert finding.severity is Severity.INFO
