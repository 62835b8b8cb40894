"""The test infrastructure does what the end-to-end tests rely on.

A local HTTPS index that real pip installs from; a real mitmproxy that re-signs with the
test's corporate root and still checks upstream servers; pip that trusts only certifi or
``--cert`` and no machine config; a private trust store built with the real
``update-ca-certificates`` that leaves the machine's store untouched.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import certifi
import pytest

from tests import linux_store
from tests.pki import Issued, make_root
from tests.tls import (  # noqa: F401 (fixtures; tests/conftest.py may load them too)
    PROBE,
    PROBE_VALUE,
    PROBE_WHEEL,
    HTTPSServer,
    InterceptingProxy,
    PackageIndex,
    certifi_bundle,
    clean_env,
    corporate_root_fixture,
    get_through_proxy,
    index_ca_fixture,
    intercepting_proxy_fixture,
    make_wheel,
    output,
    package_index_fixture,
    pip_command,
    pip_version,
    require_mitmdump,
    run_pip,
)

VERIFY_FAILED = "CERTIFICATE_VERIFY_FAILED"


def install(index: PackageIndex, target: Path, *options: str) -> list[str]:
    return pip_command(
        "install", "--target", str(target), *options, PROBE, index_url=index.simple_url
    )


def download(index: PackageIndex, dest: Path, *, legacy_certs: bool = True) -> list[str]:
    return pip_command(
        "download",
        "--dest",
        str(dest),
        PROBE,
        index_url=index.simple_url,
        legacy_certs=legacy_certs,
    )


def installed(target: Path) -> bool:
    probe = target / f"{PROBE}.py"
    return probe.is_file() and PROBE_VALUE in probe.read_text()


def fetch(url: str, context: ssl.SSLContext) -> bytes:
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        body: bytes = response.read()
        return body


# --- the probe wheel and the index ---------------------------------------------------------


def test_probe_wheel_records_every_file_with_its_hash() -> None:
    with zipfile.ZipFile(io.BytesIO(make_wheel())) as wheel:
        names = set(wheel.namelist())
        record = wheel.read(f"{PROBE}-1.0.dist-info/RECORD").decode().splitlines()
        for line in record:
            name, digest, size = line.split(",")
            if name.endswith("RECORD"):
                continue
            data = wheel.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == f"sha256={expected.decode()}"
            assert int(size) == len(data)
    assert names == {
        f"{PROBE}.py",
        f"{PROBE}-1.0.dist-info/METADATA",
        f"{PROBE}-1.0.dist-info/WHEEL",
        f"{PROBE}-1.0.dist-info/RECORD",
    }
    assert make_wheel() == make_wheel()  # reproducible, so its hash is stable


def test_index_serves_pep503_pages_to_clients_that_trust_its_ca(
    package_index: PackageIndex,
) -> None:
    trusting = ssl.create_default_context(cafile=str(package_index.ca_file))
    root_page = fetch(package_index.simple_url, trusting).decode()
    assert 'href="/simple/bcb-probe/"' in root_page
    project_page = fetch(package_index.simple_url + "bcb-probe/", trusting).decode()
    digest = hashlib.sha256(make_wheel()).hexdigest()
    assert f'href="/files/{PROBE_WHEEL}#sha256={digest}"' in project_page
    with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
        fetch(package_index.simple_url, ssl.create_default_context(cafile=certifi.where()))
    assert package_index.served == ["/simple/", "/simple/bcb-probe/"]


def test_https_server_presents_the_given_leaf(tmp_path: Path) -> None:
    stranger = make_root("Nobody Trusts This CA")
    with HTTPSServer(stranger.issue("127.0.0.1"), tmp_path / "srv") as server:
        trusting = ssl.create_default_context(cafile=str(stranger.write(tmp_path / "s.pem")))
        with pytest.raises(urllib.error.HTTPError) as answer:  # verified; then 501: no do_GET
            fetch(server.url, trusting)
        assert answer.value.code == 501
        answer.value.close()
        with pytest.raises(urllib.error.URLError, match=VERIFY_FAILED):
            fetch(server.url, ssl.create_default_context(cafile=certifi.where()))


def test_server_stops_promptly_while_a_silent_client_is_connected(tmp_path: Path) -> None:
    server = HTTPSServer(make_root().issue("127.0.0.1"), tmp_path / "srv")
    with server, socket.create_connection(("127.0.0.1", server.port), timeout=5) as silent:
        time.sleep(0.2)  # its handler thread now waits for a handshake that never comes
        started = time.monotonic()
        server.__exit__()
        stopped = time.monotonic() - started
        assert silent.recv(1) == b""  # the server dropped it
    assert stopped < 2
    assert not server.thread.is_alive()


# --- pip ---------------------------------------------------------------------------------------


def test_pip_command_trusts_only_certifi_or_cert() -> None:
    command = pip_command("download", PROBE, index_url="https://127.0.0.1:1/simple/")
    assert command[:3] == [sys.executable, "-m", "pip"]
    for flag in ("--disable-pip-version-check", "--no-input", "--no-cache-dir"):
        assert flag in command
    assert ("--use-deprecated=legacy-certs" in command) == (pip_version() >= (24, 2))
    assert "--isolated" in pip_command(index_url="x", isolated=True)
    assert "--use-deprecated=legacy-certs" not in pip_command(index_url="x", legacy_certs=False)


def test_run_pip_reads_no_machine_config() -> None:
    """This machine has /etc/pip.conf (cert = the OS bundle); pip must not see it."""
    listed = run_pip([sys.executable, "-m", "pip", "config", "list"], timeout=30)
    assert listed.returncode == 0, output(listed)
    values = listed.stdout.splitlines()
    assert all(line.startswith(":env:") for line in values), values  # no file's values


@pytest.mark.e2e
def test_pip_installs_from_the_index_with_its_ca_and_fails_with_certifi(
    package_index: PackageIndex, tmp_path: Path
) -> None:
    certifi_only = run_pip(install(package_index, tmp_path / "a"))
    assert certifi_only.returncode != 0
    assert VERIFY_FAILED in output(certifi_only)
    assert not installed(tmp_path / "a")

    with_cert = run_pip(
        install(package_index, tmp_path / "b", "--cert", str(package_index.ca_file))
    )
    assert with_cert.returncode == 0, output(with_cert)
    assert installed(tmp_path / "b")
    assert f"/files/{PROBE_WHEEL}" in package_index.served


@pytest.mark.e2e
def test_legacy_certs_makes_pip_ignore_what_openssl_trusts(
    package_index: PackageIndex, tmp_path: Path
) -> None:
    """pip >= 24.2 trusts the OS (truststore; on Linux, OpenSSL's default paths, which
    SSL_CERT_FILE replaces); with legacy-certs it trusts only certifi, like older pips."""
    if pip_version() < (24, 2):
        pytest.skip("this pip has no truststore: it trusts only certifi anyway")
    env = clean_env(SSL_CERT_FILE=str(package_index.ca_file))
    modern = run_pip(download(package_index, tmp_path / "a", legacy_certs=False), env=env)
    assert modern.returncode == 0, output(modern)
    legacy = run_pip(download(package_index, tmp_path / "b"), env=env)
    assert legacy.returncode != 0
    assert VERIFY_FAILED in output(legacy)


# --- the intercepting proxy -----------------------------------------------------------------


def test_proxy_re_signs_with_the_corporate_root(
    intercepting_proxy: InterceptingProxy, package_index: PackageIndex, corporate_root: Issued
) -> None:
    assert intercepting_proxy.url == f"http://127.0.0.1:{intercepting_proxy.port}"
    assert intercepting_proxy.root is corporate_root
    seen = get_through_proxy(
        intercepting_proxy.url, package_index.simple_url, trust=intercepting_proxy.root_file
    )
    assert seen.status == 200
    assert b"bcb-probe" in seen.body
    assert seen.leaf.issuer == corporate_root.cert.subject
    # The index's own CA no longer verifies what the client is shown.
    with pytest.raises(ssl.SSLCertVerificationError):
        get_through_proxy(
            intercepting_proxy.url, package_index.simple_url, trust=package_index.ca_file
        )


def test_proxy_refuses_an_upstream_signed_by_another_ca(
    intercepting_proxy: InterceptingProxy, tmp_path: Path
) -> None:
    stranger = make_root("Nobody Trusts This CA")
    with HTTPSServer(stranger.issue("127.0.0.1"), tmp_path / "srv") as server:
        seen = get_through_proxy(
            intercepting_proxy.url, server.url, trust=intercepting_proxy.root_file
        )
    assert seen.status == 502
    assert b"Certificate verify failed" in seen.body


def test_proxy_that_dies_at_start_reports_its_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index_ca: Issued
) -> None:
    fake = tmp_path / "mitmdump"
    fake.write_text("#!/bin/sh\necho 'boom: cannot load the CA' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("BCB_MITMDUMP", str(fake))
    proxy = InterceptingProxy(make_root(), index_ca.write(tmp_path / "ca.pem"), tmp_path / "m")
    with pytest.raises(RuntimeError, match=r"(?s)exited with 3.*boom: cannot load the CA"):
        proxy.__enter__()
    assert proxy.process is None


def test_missing_mitmdump_skips_with_the_way_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BCB_MITMDUMP", str(tmp_path / "no-such-mitmdump"))
    with pytest.raises(pytest.skip.Exception, match=r"no-such-mitmdump.*setup-test-tools"):
        require_mitmdump()


@pytest.mark.e2e
def test_pip_through_the_proxy_needs_the_corporate_root(
    intercepting_proxy: InterceptingProxy, package_index: PackageIndex, tmp_path: Path
) -> None:
    proxy = ("--proxy", intercepting_proxy.url)
    certifi_only = run_pip(install(package_index, tmp_path / "a", *proxy))
    assert certifi_only.returncode != 0
    assert VERIFY_FAILED in output(certifi_only)

    bundle = certifi_bundle(tmp_path / "bundle.pem", intercepting_proxy.root)
    with_bundle = run_pip(install(package_index, tmp_path / "b", *proxy, "--cert", str(bundle)))
    assert with_bundle.returncode == 0, output(with_bundle)
    assert installed(tmp_path / "b")
    assert f"/files/{PROBE_WHEEL}" in package_index.served  # it came from our index


# --- the private Linux trust store ----------------------------------------------------------

# Run inside and outside the private store: what does this process's OS store say?
REPORT = """
import json, os, ssl, sys, urllib.request
root, url = sys.argv[1:]
with open("/etc/ssl/certs/ca-certificates.crt", "rb") as bundle, open(root, "rb") as pem:
    in_bundle = pem.read().strip() in bundle.read()
try:
    urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=10).close()
    fetched = "ok"
except Exception as error:
    fetched = str(error)
pip_conf = open("/etc/pip.conf").read() if os.path.exists("/etc/pip.conf") else ""
xdg_pip = os.listdir("/etc/xdg/pip") if os.path.isdir("/etc/xdg/pip") else []
print(json.dumps({"in_bundle": in_bundle, "fetched": fetched, "pip_conf": pip_conf,
                  "xdg_pip": xdg_pip}))
"""


def machine_store() -> dict[str, bytes | str]:
    """The machine's bundle, its links, and the Java hook's state: to compare after a run."""
    snapshot: dict[str, bytes | str] = {"bundle": linux_store.BUNDLE.read_bytes()}
    for entry in sorted(linux_store.CERTS.iterdir()):
        snapshot[str(entry)] = str(entry.readlink()) if entry.is_symlink() else "file"
    java = Path("/var/lib/ca-certificates-java")
    snapshot["java"] = str(sorted(java.iterdir())) if java.is_dir() else "absent"
    return snapshot


@pytest.mark.e2e
def test_private_store_trusts_the_added_root_and_leaves_the_machine_untouched(
    corporate_root: Issued, tmp_path: Path
) -> None:
    linux_store.require_private_store()
    root_file = corporate_root.write(tmp_path / "corporate.crt")
    before = machine_store()
    with HTTPSServer(corporate_root.issue("127.0.0.1"), tmp_path / "srv") as server:
        command = [sys.executable, "-c", REPORT, str(root_file), server.url]
        inside = linux_store.run_in_private_store(
            command, add_roots=[root_file], env=clean_env(), tmp_path=tmp_path / "ns", timeout=60
        )
        outside = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert inside.returncode == 0, output(inside)
    seen_inside, seen_outside = json.loads(inside.stdout), json.loads(outside.stdout)
    assert seen_inside["in_bundle"] is True
    assert "501" in seen_inside["fetched"]  # verified by the OS store; the server has no GET
    assert seen_inside["pip_conf"] == ""
    assert seen_inside["xdg_pip"] == []
    assert seen_outside["in_bundle"] is False
    assert VERIFY_FAILED in seen_outside["fetched"]
    assert machine_store() == before


@pytest.mark.e2e
def test_legacy_certs_makes_pip_ignore_the_os_store(
    package_index: PackageIndex, tmp_path: Path
) -> None:
    """With the index CA installed in the OS store, pip >= 24.2 (truststore) trusts it, and
    the same pip with legacy-certs does not: it trusts only certifi, like older pips."""
    if pip_version() < (24, 2):
        pytest.skip("this pip has no truststore: it trusts only certifi anyway")
    runs = {
        name: linux_store.run_in_private_store(
            download(package_index, tmp_path / name, legacy_certs=legacy),
            add_roots=[package_index.ca_file],
            env=clean_env(PIP_CONFIG_FILE=os.devnull),
            tmp_path=tmp_path / f"ns-{name}",
            timeout=90,
        )
        for name, legacy in (("truststore", False), ("legacy", True))
    }
    assert runs["truststore"].returncode == 0, output(runs["truststore"])
    assert runs["legacy"].returncode != 0
    assert VERIFY_FAILED in output(runs["legacy"])
