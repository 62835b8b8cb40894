"""The fleet and CI scripts, run for real where they can run here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Home
from tests.pki import make_root

REPO = Path(__file__).resolve().parent.parent


def store_env(tmp_path: Path) -> dict[str, str]:
    store = tmp_path / "store.pem"
    store.write_bytes(make_root("Fleet Corp Root").pem + make_root("Second Corp Root").pem)
    (tmp_path / "certs").mkdir()
    bin_dir = Path(sys.executable).parent  # where the console script is installed
    return {
        **os.environ,
        "SSL_CERT_FILE": str(store),
        "SSL_CERT_DIR": str(tmp_path / "certs"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
    }


def test_profile_d_snippet_builds_and_exports(isolated_home: Home, tmp_path: Path) -> None:
    script = REPO / "scripts" / "fleet" / "profile.d-build-ca-bundle.sh"
    completed = subprocess.run(
        ["sh", "-c", f'. "{script}"; printf "%s\\n" "$PIP_CERT"'],
        capture_output=True,
        text=True,
        env=store_env(tmp_path),
        check=True,
        timeout=120,
    )
    bundle = isolated_home.data / "build-ca-bundle" / "ca-bundle.pem"
    assert completed.stdout.strip() == str(bundle)
    assert bundle.exists()


def test_dockerfile_snippet_splits_extra_roots_one_per_file(tmp_path: Path) -> None:
    """The snippet's awk splits extra-roots.pem into the one-certificate *.crt files
    update-ca-certificates wants."""
    snippet = (REPO / "scripts" / "ci" / "Dockerfile.snippet").read_text()
    program = re.search(r"awk '(.*?)' /tmp/extra-roots.pem", snippet)
    assert program is not None
    roots = [make_root(f"Extra {n}") for n in range(3)]
    extra = tmp_path / "extra-roots.pem"
    extra.write_bytes(b"# header\n" + b"".join(b"# Source: x\n" + r.pem for r in roots))
    target = tmp_path / "ca-certificates"
    target.mkdir()
    awk = program.group(1).replace("/usr/local/share/ca-certificates", str(target))
    subprocess.run(["awk", awk, str(extra)], check=True)
    files = sorted(target.glob("*.crt"))
    assert len(files) == 3
    for file, root in zip(files, roots, strict=True):
        assert file.read_bytes().count(b"BEGIN CERTIFICATE") == 1
        assert root.pem in file.read_bytes()


def _fake_tool(folder: Path, code: int) -> None:
    """A build-ca-bundle that says its arguments, complains on stderr, and exits ``code``."""
    folder.mkdir(parents=True)
    tool = folder / "build-ca-bundle"
    tool.write_text(f'#!/bin/sh\necho "ran $*"\necho "error: no corp root" >&2\nexit {code}\n')
    tool.chmod(0o755)


def test_the_launch_agent_finds_a_user_installed_tool_and_logs_to_the_users_own_file(
    tmp_path: Path,
) -> None:
    """The LaunchAgent ran /usr/local/bin only, and sent every user's errors to one
    /tmp/build-ca-bundle.err (the first user's, and a link another could plant)."""
    import plistlib

    agent = plistlib.loads((REPO / "scripts/fleet/com.example.build-ca-bundle.plist").read_bytes())
    assert "StandardErrorPath" not in agent
    home = tmp_path / "home"
    _fake_tool(home / ".local" / "bin", 8)  # pipx's place
    completed = subprocess.run(
        agent["ProgramArguments"],
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},  # launchd's PATH lacks it
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 8  # launchd logs the tool's own exit code
    assert completed.stdout == "ran --quiet --no-verify\n"
    log = home / "Library" / "Logs" / "build-ca-bundle.log"
    assert log.read_text() == "error: no corp root\n"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is absent")
def test_the_systemd_units_verify_and_find_a_user_installed_tool(tmp_path: Path) -> None:
    """A relative ExecStart is looked up in systemd's fixed path, never ~/.local/bin
    ("Command build-ca-bundle is not executable"); Persistent= did nothing without
    OnCalendar=, so a day missed asleep was never caught up."""
    for name in ("build-ca-bundle.service", "build-ca-bundle.timer"):
        (tmp_path / name).write_bytes((REPO / "scripts" / "fleet" / name).read_bytes())
    verified = subprocess.run(
        ["systemd-analyze", "verify", "build-ca-bundle.service", "build-ca-bundle.timer"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert "not executable" not in verified.stderr
    service = (tmp_path / "build-ca-bundle.service").read_text()
    path = re.search(r"^Environment=PATH=(\S+)$", service, re.MULTILINE)
    command = re.search(r"^ExecStart=(.+)$", service, re.MULTILINE)
    assert path is not None and command is not None
    home = tmp_path / "home"
    _fake_tool(home / ".local" / "bin", 0)
    completed = subprocess.run(
        command.group(1).split(),
        env={"PATH": path.group(1).replace("%h", str(home))},
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout == "ran --quiet --no-verify\n"
    timer = (tmp_path / "build-ca-bundle.timer").read_text()
    assert "OnCalendar=" in timer and "Persistent=true" in timer


def _action_script() -> tuple[str, dict[str, str]]:
    """The GitHub action's `run:` script, and its `env:` mapping (name: expression)."""
    text = (REPO / "scripts" / "ci" / "github-action.yml").read_text()
    lines = text.splitlines()
    start = lines.index("      run: |") + 1
    script = [line[8:] for line in lines[start:] if line.startswith("        ") or not line]
    mapping = dict(re.findall(r"^        (BCB_\w+): (\$\{\{ [^}]+ \}\})$", text, re.MULTILINE))
    return "\n".join(script) + "\n", mapping


def test_the_github_action_installs_into_its_own_venv_and_never_runs_its_inputs(
    tmp_path: Path,
) -> None:
    """`python -m pip install` into the runner's Python fails on current Ubuntu images
    (externally managed) and macOS ones have no `python`; `${{ inputs.require }}` pasted
    into the script ran `$(...)` in it as code."""
    script, mapping = _action_script()
    assert "${{" not in script  # inputs reach it as variables only
    assert mapping == {
        "BCB_REQUIRE": "${{ inputs.require }}",
        "BCB_INSTALL_CERT": "${{ inputs.install-cert }}",
    }
    calls = tmp_path / "calls"
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    # python3 -m venv DIR makes a venv whose python and build-ca-bundle say their argv.
    says_argv = tmp_path / "says-argv"
    says_argv.write_text(
        f'#!/bin/sh\nfor a in "$@"; do printf "[%s]" "$a"; done >> {calls}\necho >> {calls}\n'
    )
    (fakes / "python3").write_text(
        '#!/bin/sh\n[ "$1 $2" = "-m venv" ] || exit 9\nmkdir -p "$3/bin"\n'
        f'cp {says_argv} "$3/bin/python"\ncp {says_argv} "$3/bin/build-ca-bundle"\n'
        'chmod +x "$3/bin/python" "$3/bin/build-ca-bundle"\n'
    )
    (fakes / "python3").chmod(0o755)
    injected = tmp_path / "injected"
    environment = {
        "PATH": f"{fakes}:/usr/bin:/bin",
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "BCB_REQUIRE": f"$(touch {injected})",
        "BCB_INSTALL_CERT": "/etc/company root.pem",
    }
    subprocess.run(["bash", "-c", script], env=environment, check=True)
    assert not injected.exists()
    # On a Windows runner python3 may be the Store's stub: python is the one to take.
    (fakes / "python").write_bytes((fakes / "python3").read_bytes())
    (fakes / "python").chmod(0o755)
    (fakes / "python3").write_text("#!/bin/sh\nexit 9009\n")
    calls.unlink()
    subprocess.run(["bash", "-c", script], env={**environment, "RUNNER_OS": "Windows"}, check=True)
    assert calls.read_text().splitlines() == [
        "[-m][pip][install][--quiet][--disable-pip-version-check][build-ca-bundle]"
        "[--cert][/etc/company root.pem]",
        f"[--ci][--no-verify][--require][$(touch {injected})]",
    ]
