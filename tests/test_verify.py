"""verify: live handshakes with three trust sources, through a real intercepting proxy."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import certifi
import pytest

from build_ca_bundle import cli, verify
from build_ca_bundle.errors import ExitCode
from tests.pki import make_root
from tests.tls import HTTPSServer, corporate_network, free_port

pytestmark = pytest.mark.e2e


def bundle_with(tmp_path: Path, *pems: bytes) -> Path:
    path = tmp_path / "bundle.pem"
    path.write_bytes(Path(certifi.where()).read_bytes() + b"".join(pems))
    return path


def contexts(bundle: Path) -> list[tuple[str, Callable[[], ssl.SSLContext]]]:
    return [
        ("bundle", lambda: verify.bundle_context(bundle)),
        ("os", verify.os_context),
        ("certifi", verify.certifi_context),
    ]


def test_through_the_proxy_bundle_passes_and_certifi_alone_fails(tmp_path: Path) -> None:
    with corporate_network(tmp_path) as (index, proxy):
        bundle = bundle_with(tmp_path, proxy.root.pem)
        result = verify.check_target(
            index.simple_url,
            contexts=contexts(bundle),
            proxy=verify.Proxy.parse(proxy.url),
            timeout=10,
        )
    assert result.status("bundle") is verify.Status.OK
    assert result.status("certifi") is verify.Status.CERTIFICATE
    assert result.status("os") is verify.Status.CERTIFICATE  # the test root is in no OS store
    # The chain the proxy presented is its own: signed by the corporate root.
    assert result.chain[0].issuer == proxy.root.cert.subject.rfc4514_string()
    assert any("that is why pip failed before" in line for line in result.advice)


def test_missing_root_is_named_with_the_next_step(tmp_path: Path) -> None:
    with corporate_network(tmp_path) as (index, proxy):
        bundle = bundle_with(tmp_path)  # certifi only: the proxy's root is missing
        result = verify.check_target(
            index.simple_url,
            contexts=contexts(bundle),
            proxy=verify.Proxy.parse(proxy.url),
            timeout=10,
        )
    assert result.status("bundle") is verify.Status.CERTIFICATE
    issuer = proxy.root.cert.subject.rfc4514_string()
    assert any(f"the OS does not trust `{issuer}` either" in line for line in result.advice)
    assert any("--extra-ca FILE" in line for line in result.advice)


def test_advice_does_not_speak_for_a_store_it_did_not_check() -> None:
    """The check after a build tries the bundle alone: it said "the OS does not trust it
    either" of a root the OS trusts (one left out with --exclude)."""
    top = verify.ChainCertificate("CN=Proxy Root", "CN=Proxy Root", "ab" * 32, b"", True)
    result = verify.TargetResult(
        "https://pypi.org/simple/",
        "pypi.org",
        443,
        None,
        checks=[verify.Check("bundle", verify.Status.CERTIFICATE)],
        chain=[top],
    )
    (advice,) = verify.advise(result)
    assert "does not trust `CN=Proxy Root`" in advice
    assert "build-ca-bundle verify" in advice
    assert "the OS does not" not in advice


@pytest.mark.parametrize("proxy", [None, "http://alice:s3cret@proxy.corp:8080"])
def test_a_lone_server_certificate_blames_the_server_only_without_a_proxy(
    proxy: str | None,
) -> None:
    """Only the leaf came: straight from the server, its owner should send the chain; through
    a proxy, an inspecting proxy may be the one that signed it, and the server's owner was
    blamed for the proxy's chain (audit h43)."""
    leaf = verify.ChainCertificate("CN=pypi.org", "CN=Corp Issuing CA", "cd" * 32, b"")
    result = verify.TargetResult(
        "https://pypi.org/simple/",
        "pypi.org",
        443,
        proxy,
        checks=[
            verify.Check("bundle", verify.Status.CERTIFICATE),
            verify.Check("os", verify.Status.CERTIFICATE),
            verify.Check("certifi", verify.Status.CERTIFICATE),
        ],
        chain=[leaf],
    )
    (lone,) = [
        line for line in verify.advise(result) if "`CN=Corp Issuing CA` is an intermediate" in line
    ]
    if proxy is None:
        assert "the server is not sending its full chain, and its owner should fix that" in lone
    else:
        assert "the proxy at http://****@proxy.corp:8080 if it inspects TLS" in lone
        assert "IT for the proxy" in lone and "s3cret" not in lone


def test_a_server_of_an_unknown_ca_is_named(tmp_path: Path) -> None:
    stranger = make_root("Nobody Trusts This CA")
    with HTTPSServer(stranger.issue("127.0.0.1"), tmp_path / "srv") as server:
        bundle = bundle_with(tmp_path)
        result = verify.check_target(
            server.url,
            contexts=contexts(bundle),
            proxy=None,
            timeout=5,
        )
    assert {check.status for check in result.checks} == {verify.Status.CERTIFICATE}
    assert "Nobody Trusts This CA" in result.chain[0].issuer
    assert any("Nobody Trusts This CA" in line for line in result.advice)


def test_offline_and_refusing_proxy_are_not_certificate_failures(tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path)
    closed = free_port()
    offline = verify.check_target(
        f"https://127.0.0.1:{closed}/",
        contexts=contexts(bundle),
        proxy=None,
        timeout=2,
    )
    assert [check.status for check in offline.checks] == [verify.Status.OFFLINE]
    assert "network problem" in offline.advice[0]
    refused = verify.check_target(
        "https://pypi.org/simple/",
        contexts=contexts(bundle),
        proxy=verify.Proxy.parse(f"http://127.0.0.1:{closed}"),
        timeout=2,
    )
    assert [check.status for check in refused.checks] == [verify.Status.PROXY]


def test_cli_verify_json_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with corporate_network(tmp_path) as (index, proxy):
        good = bundle_with(tmp_path, proxy.root.pem)
        args = ["verify", index.simple_url, "--proxy", proxy.url, "--bundle", str(good), "--json"]
        assert cli.main(args) == ExitCode.OK
        payload = json.loads(capsys.readouterr().out)
        checks = payload["targets"][0]["checks"]
        assert checks["bundle"]["status"] == "ok"
        assert checks["certifi"]["status"] == "certificate"
        bad = tmp_path / "certifi-only.pem"
        bad.write_bytes(Path(certifi.where()).read_bytes())
        args = ["verify", index.simple_url, "--proxy", proxy.url, "--bundle", str(bad)]
        assert cli.main(args) == ExitCode.VERIFY_FAILED
        assert "the OS does not trust" in capsys.readouterr().out
        # --quiet: errors only, on stderr (the whole report went to stdout).
        assert cli.main([*args, "--quiet"]) == ExitCode.VERIFY_FAILED
        quiet = capsys.readouterr()
        assert (quiet.out, "the OS does not trust" in quiet.err) == ("", True)
        assert (
            cli.main(
                ["verify", index.simple_url, "--proxy", proxy.url, "--bundle", str(good), "-q"]
            )
            == 0
        )
        assert capsys.readouterr() == ("", "")
        # No bundle to check: a CI step must not pass on it (the other checks still run).
        missing = ["verify", index.simple_url, "--proxy", proxy.url, "--bundle", "/nonexistent"]
        assert cli.main(missing) == ExitCode.BUNDLE
        assert "--bundle /nonexistent: no such file" in capsys.readouterr().err
        broken = tmp_path / "broken.pem"  # there, but it does not load: no better
        broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        args = ["verify", index.simple_url, "--proxy", proxy.url, "--bundle", str(broken)]
        assert cli.main(args) == ExitCode.BUNDLE
        assert "bundle   unavailable" in capsys.readouterr().out
    closed = free_port()
    assert (
        cli.main(["verify", f"https://127.0.0.1:{closed}/", "--timeout", "2"]) == ExitCode.OFFLINE
    )


def test_proxy_selection_follows_pip_then_environment() -> None:
    env = {"https_proxy": "http://user:p%40ss@proxy.corp:3128", "no_proxy": ".internal,localhost"}
    chosen = verify.proxy_for("https://pypi.org/simple/", environ=env)
    assert chosen is not None
    assert (chosen.host, chosen.port) == ("proxy.corp", 3128)
    assert chosen.authorization == "Basic dXNlcjpwQHNz"  # user:p@ss
    assert verify.proxy_for("https://pkgs.internal/simple/", environ=env) is None
    assert verify.proxy_for("https://localhost/", environ=env) is None
    # verify HOST:PORT, as documented: no_proxy applies to it as to the URL form.
    assert verify.proxy_for("pkgs.internal:8443", environ=env) is None
    assert verify.proxy_for("localhost", environ=env) is None
    bare = verify.proxy_for("pypi.org:443", environ=env)
    assert bare is not None and bare.host == "proxy.corp"
    configured = verify.proxy_for(
        "https://pypi.org/", configured="http://pip.proxy:8080", environ=env
    )
    assert configured is not None and configured.host == "pip.proxy"
    explicit = verify.proxy_for(
        "https://pypi.org/", explicit="cli.proxy:1", configured="x:2", environ=env
    )
    assert explicit is not None and explicit.host == "cli.proxy"
    assert verify.proxy_for("https://pypi.org/", environ={}) is None


def test_from_server_trusts_only_a_pinned_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_root("OS Root For The Test")
    store_file = store.write(tmp_path / "store.pem")
    monkeypatch.setenv("SSL_CERT_FILE", str(store_file))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    presented = make_root("Root The Server Presents")
    output = tmp_path / "out.pem"
    common = ["--no-verify", "--scope", "none", "--output", str(output)]
    with HTTPSServer(presented.issue("127.0.0.1"), tmp_path / "srv", send_root=True) as server:
        spec = f"127.0.0.1:{server.port}"
        # Without a pin: show the chain and the command; trust nothing.
        assert cli.main([*common, "--from-server", spec]) == 0
        shown = capsys.readouterr().out
        assert f"--pin {presented.sha256}" in shown
        assert not output.exists()
        assert cli.main([*common, "--json", "--from-server", spec]) == 0  # one JSON object
        shown_json = json.loads(capsys.readouterr().out)
        assert shown_json["trusted"] is None
        assert shown_json["from_server"]["chain"][-1]["sha256"] == presented.sha256
        assert not output.exists()
        # A wrong pin changes nothing.
        wrong = make_root("Other").sha256
        assert cli.main([*common, "--from-server", spec, "--pin", wrong]) == ExitCode.PIN_MISMATCH
        assert not output.exists()
        assert presented.sha256 in capsys.readouterr().err
        # The right pin adds exactly that root.
        assert cli.main([*common, "--from-server", spec, "--pin", presented.sha256]) == 0
    text = output.read_text()
    assert presented.pem.decode().strip() in text
    assert "# Source: pinned" in text
    capsys.readouterr()


def test_a_pinned_root_stays_in_later_runs_until_unpinned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pin is given once, by hand; the logon runs that follow do not repeat it, and must
    not drop the root (pip would fail again). Deleting the file, or undo, unpins."""
    monkeypatch.setenv("SSL_CERT_FILE", str(make_root("OS Root").write(tmp_path / "store.pem")))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    presented = make_root("Proxy Root Pinned Once")
    block = presented.pem.decode().strip()
    output = tmp_path / "ca-bundle.pem"
    pinned = tmp_path / "pinned-roots.pem"
    common = ["--no-verify", "--scope", "none", "--output", str(output)]
    with HTTPSServer(presented.issue("127.0.0.1"), tmp_path / "srv", send_root=True) as server:
        pin = [*common, "--from-server", f"127.0.0.1:{server.port}", "--pin", presented.sha256]
        assert cli.main(pin) == 0
        assert block in pinned.read_text()

        assert cli.main(common) == 0  # the next logon: no --from-server, no --pin
        assert block in output.read_text()
        capsys.readouterr()
        assert cli.main(common) == 0
        assert capsys.readouterr().out.startswith("bundle unchanged:")

        pinned.unlink()  # unpinned by hand: the next run notices and drops the root
        assert cli.main(common) == 0
        assert block not in output.read_text()

        assert cli.main(pin) == 0
        assert cli.main(["undo", "--scope", "none", "--output", str(output)]) == 0
        assert not pinned.exists()
        assert not output.exists()


def test_an_unreadable_pinned_file_is_no_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty OS store is refused (exit 4) rather than written as a certifi-only bundle;
    a pinned-roots file that holds nothing usable must not count as a root."""
    (tmp_path / "store.pem").write_text("not a certificate\n")
    (tmp_path / "none").mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "store.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    (tmp_path / "pinned-roots.pem").write_text(
        "# Roots pinned with build-ca-bundle, edited\n-----BEGIN CERTIFICATE-----\nbroken\n"
    )
    output = tmp_path / "ca-bundle.pem"
    code = cli.main(["--no-verify", "--scope", "none", "--output", str(output)])
    assert code == ExitCode.NO_CERTIFICATES
    assert not output.exists()


class _Listener:
    """A TCP port that records what arrives, and then closes each connection: a server
    that reads the ClientHello and hangs up, or a proxy port that must get nothing."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self.socket.accept()
                with connection:
                    connection.settimeout(2)
                    with contextlib.suppress(OSError):
                        self.received.append(connection.recv(65536))

    def close(self) -> None:
        self.socket.close()


@pytest.mark.parametrize("scheme", ["https", "socks5h", "socks5"])
def test_a_proxy_the_check_cannot_speak_gets_nothing_not_even_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scheme: str
) -> None:
    """An https:// proxy was sent a plain CONNECT with "Proxy-Authorization: Basic" (the
    password in clear); a socks one was a traceback that printed the password."""
    listener = _Listener()
    try:
        url = f"{scheme}://alice:s3cret@127.0.0.1:{listener.port}"
        bundle = bundle_with(tmp_path)
        code = cli.main(["verify", "https://pypi.org/simple/", "--proxy", url, "--json",
                         "--bundle", str(bundle)])  # fmt: skip
        out = capsys.readouterr().out
    finally:
        listener.close()
    assert code == ExitCode.OFFLINE  # the proxy could not be used: not a certificate problem
    payload = json.loads(out)
    assert payload["targets"][0]["checks"]["bundle"]["status"] == "proxy"
    assert "s3cret" not in out and "alice" not in out
    assert listener.received == []


def test_the_proxy_is_the_one_pip_would_use() -> None:
    """pip (requests) reads ALL_PROXY, lets an empty https_proxy cancel HTTPS_PROXY, takes
    CIDR ranges and host:port in no_proxy, and connects to port 80 of a proxy URL without
    one."""
    url = "https://pypi.org/simple/"

    def chosen(**environ: str) -> str | None:
        proxy = verify.proxy_for(url, environ=environ)
        return None if proxy is None else proxy.url

    assert chosen(ALL_PROXY="http://p.example:3128") == "http://p.example:3128"
    assert chosen(https_proxy="", HTTPS_PROXY="http://p.example:3128") is None
    assert chosen(https_proxy="http://p.example") == "http://p.example:80"
    local = "https://127.0.0.1:8443/"
    assert (
        verify.proxy_for(local, environ={"https_proxy": "http://p:1", "no_proxy": "127.0.0.0/8"})
        is None
    )
    named = "https://pkgs.internal:8443/"
    other_port = {"https_proxy": "http://p:1", "no_proxy": "pkgs.internal:9"}
    assert verify.proxy_for(named, environ=other_port) is not None
    same_port = {"https_proxy": "http://p:1", "no_proxy": "pkgs.internal:8443"}
    assert verify.proxy_for(named, environ=same_port) is None


NO_PROXY_CASES = [
    ("https://127.0.0.1:8443/", "127.0.0.1:8443"),  # requests: no host:port for an IPv4 host
    ("https://127.0.0.1:8443/", "127.0.0.0/8"),
    ("https://127.0.0.1:8443/", "127.0.0.1"),
    ("https://10.1.2.3/", "10.0.0.0/8, 192.168.0.0/16"),
    ("https://10.1.2.3/", "10.0.0.0/33"),
    ("https://pkgs.internal:8443/", "pkgs.internal:8443"),
    ("https://pkgs.internal/", "pkgs.internal:443"),  # no port in the URL: none to match
    ("https://pkgs.internal/", ".internal"),
    ("https://badexample.com/", "example.com"),
    ("https://a.example.com/", "example.com"),
    ("https://a.example.com/", "*.example.com"),
    ("https://[::1]:8443/", "::1"),
    ("https://[::1]:8443/", "::1/128"),  # no IPv6 ranges
    ("https://[fe80::1]/", "fe80::/10"),
    ("https://pypi.org/", "foo, *"),  # "*" only alone
    ("https://pypi.org/", "*"),
    ("https://pypi.org/", " * "),
    ("https://Pypi.ORG/", "PYPI.org"),
    ("https://pypi.org/", ".pypi.org"),
    ("https://localhost/", "localhost"),
    ("pkgs.internal:8443", "pkgs.internal"),
]


@pytest.mark.parametrize(("url", "no_proxy"), NO_PROXY_CASES)
@pytest.mark.parametrize("name", ["no_proxy", "NO_PROXY"])
def test_no_proxy_is_read_as_pips_own_requests_reads_it(
    url: str, no_proxy: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify went direct for `no_proxy=127.0.0.1:8441`, `::1/128` or `foo, *`, and said
    "bundle ok", where pip goes through the proxy and fails: the check proved a path pip
    never takes. The answer is now the one pip's vendored requests gives, asked here."""
    import importlib

    utils = importlib.import_module("pip._vendor.requests.utils")
    for variable in (
        "no_proxy",
        "NO_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("https_proxy", "http://proxy.corp:3128")
    monkeypatch.setenv(name, no_proxy)
    full_url = url if "://" in url else f"https://{url}"
    pip_goes_direct = utils.should_bypass_proxies(full_url, no_proxy=None)
    ours = verify.proxy_for(url, environ=dict(os.environ))
    assert (ours is None) == pip_goes_direct


def test_the_connect_line_names_idn_hosts_and_ipv6_addresses_as_proxies_read_them() -> None:
    assert verify.authority("bücher.example", 443) == "xn--bcher-kva.example:443"
    assert verify.authority("::1", 8443) == "[::1]:8443"
    assert verify.authority("pypi.org", 443) == "pypi.org:443"


def test_a_handshake_that_fails_without_a_certificate_verdict_is_not_exit_6(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server that reads the ClientHello and hangs up (or plain http on the port): exit 6
    said "failed on a certificate"."""
    listener = _Listener()
    try:
        bundle = bundle_with(tmp_path)
        code = cli.main(["verify", f"https://127.0.0.1:{listener.port}/", "--bundle",
                         str(bundle), "--timeout", "3"])  # fmt: skip
    finally:
        listener.close()
    out = capsys.readouterr().out
    assert code == ExitCode.OFFLINE
    assert "failed without a verdict on any certificate" in out


def test_no_pinning_is_offered_for_a_certificate_wrong_in_itself(tmp_path: Path) -> None:
    """The bundle trusts the root; the leaf is for another name. Pinning cannot help, and
    must not be offered: a certificate for another name can be an interception."""
    root = make_root("Name Mismatch Root")
    bundle = bundle_with(tmp_path, root.pem)
    leaf = root.issue("other.example", hosts=("other.example",))
    with HTTPSServer(leaf, tmp_path / "srv", send_root=True) as server:
        result = verify.check_target(server.url, contexts=contexts(bundle), proxy=None, timeout=5)
    assert result.status("bundle") is verify.Status.CERTIFICATE
    (advice,) = result.advice
    assert "the server's own certificate is at fault" in advice
    assert "--pin" not in advice and "ask IT" not in advice


def test_from_server_will_not_pin_what_is_not_a_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server presenting only its leaf (as mitmproxy does): the suggested --pin was the
    leaf's, and pinning it printed "pinned: 1 trusted" while TLS still failed."""
    store = make_root("OS Root")
    monkeypatch.setenv("SSL_CERT_FILE", str(store.write(tmp_path / "store.pem")))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    root = make_root("Root Not Presented")
    output = tmp_path / "out.pem"
    common = ["--no-verify", "--scope", "none", "--output", str(output)]
    with HTTPSServer(root.issue("127.0.0.1"), tmp_path / "srv") as server:
        spec = f"127.0.0.1:{server.port}"
        assert cli.main([*common, "--from-server", f"https://{spec}/simple/"]) == 0  # a URL
        assert "is not a root, so pinning it would not help" in capsys.readouterr().out
        assert cli.main([*common, "--from-server", spec]) == 0
        shown = capsys.readouterr().out
        assert "is not a root, so pinning it would not help" in shown
        assert "--pin" not in shown
        presented = verify.fetch_chain("127.0.0.1", server.port)[-1]  # the leaf, alone
        pin = hashlib.sha256(presented).hexdigest()
        assert cli.main([*common, "--from-server", spec, "--pin", pin]) == ExitCode.PIN_MISMATCH
        assert "is not a root" in capsys.readouterr().err
    assert not output.exists()


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ("127.0.0.1:abc", "not HOST[:PORT]"),
        ("127.0.0.1:99999", "not HOST[:PORT]"),
        ("127.0.0.1:0", "not HOST[:PORT]"),  # was taken for "no port", and 443 checked
        (":443", "not HOST[:PORT]"),
        ("https://:443/", "not HOST[:PORT]"),
        ("http://pypi.org/simple/", "only https:// URLs present a TLS chain"),
    ],
)
def test_a_bad_from_server_spec_is_a_usage_error(
    spec: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["--no-verify", "--from-server", spec]) == ExitCode.USAGE
    assert said in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["http://pypi.org/simple/"], "only https:// URLs have certificates to check"),
        (["--timeout", "0", "pypi.org"], "not a number of seconds above 0: '0'"),
        (["--timeout", "nan", "pypi.org"], "not a number of seconds above 0: 'nan'"),
    ],
)
def test_what_verify_cannot_check_is_a_usage_error_not_a_network_one(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """http:// was checked as TLS on port 443 and a zero timeout made every socket
    non-blocking: both ended as "offline" (exit 7), a network problem there was not."""
    with pytest.raises(SystemExit) as usage:
        cli.main(["verify", *args])
    assert usage.value.code == ExitCode.USAGE
    assert said in capsys.readouterr().err


def test_a_url_with_a_port_out_of_range_is_said_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Said as a usage error (exit 2): it was exit 7, "offline", for a typo. argparse says
    it, so the line names the command and the usage follows, as for every other typo."""
    with pytest.raises(SystemExit) as usage:
        cli.main(["verify", "--json", "https://pypi.org:99999/"])
    assert usage.value.code == ExitCode.USAGE
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert "not a valid port (1-65535)" in payload["error"]["message"]
    assert captured.err.startswith("usage: build-ca-bundle verify")
    assert "build-ca-bundle verify: error: argument URL: https://pypi.org:99999/" in captured.err


def test_verify_with_a_bundle_that_is_not_there_fails_before_any_connection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`verify --bundle /tmp/nope.pem` checked three servers, said "no bundle at ...: run
    build-ca-bundle first" (which never makes that file) for each, and exited 5."""
    from build_ca_bundle import verify as live

    def no_network(*_: object, **__: object) -> object:
        raise AssertionError("connected")

    monkeypatch.setattr(live, "check_target", no_network)
    missing = tmp_path / "nope.pem"
    assert cli.main(["verify", "--json", "--bundle", str(missing)]) == ExitCode.BUNDLE
    payload = json.loads(capsys.readouterr().out)
    assert payload["error"]["message"] == f"--bundle {missing}: no such file"
    assert f"build-ca-bundle --output {missing}" in payload["error"]["hint"]


AZURE_COMMAND = "##vso[task.setvariable variable=PIP_INDEX_URL]https://e.vil/s"


def test_names_a_server_sends_cannot_command_the_ci_system(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Azure Pipelines acts on "##vso[" anywhere in a step's output, GitHub Actions on a
    line that starts with "::". verify and --from-server print the names of the chain a
    server sent: a CN like AZURE_COMMAND set PIP_INDEX_URL for every later step, from
    anyone on the network path. Now no printed line, human or JSON, carries a command;
    JSON still decodes to the name as sent."""
    monkeypatch.setenv("TF_BUILD", "True")
    hostile = make_root(AZURE_COMMAND, organization="x##[set-output name=PIP_CERT]/e.vil")
    with HTTPSServer(hostile.issue("127.0.0.1"), tmp_path / "srv", send_root=True) as server:
        printed = []
        for args in (
            ["verify", server.url, "--timeout", "5"],
            ["--json", "verify", server.url, "--timeout", "5"],
            ["--no-verify", "--scope", "none", "--from-server", f"127.0.0.1:{server.port}"],
            ["--json", "--scope", "none", "--from-server", f"127.0.0.1:{server.port}"],
        ):
            code = cli.main(args)
            captured = capsys.readouterr()
            assert code in (ExitCode.OK, ExitCode.BUNDLE, ExitCode.VERIFY_FAILED), captured
            printed.append(captured.out + captured.err)
            if "--json" in args:
                assert AZURE_COMMAND in json.dumps(json.loads(captured.out), ensure_ascii=False)
    text = "\n".join(printed)
    assert "e.vil" in text  # the names are shown...
    assert "##vso[" not in text.lower()  # ...but none is a command
    assert "##[" not in text  # GitHub's older form, anywhere in a line
    assert not any(line.lstrip().startswith("::") for line in text.splitlines())


@contextlib.contextmanager
def raw_server(handle: Callable[[socket.socket], object]) -> Iterator[int]:
    """A TCP server on 127.0.0.1 (its port): ``handle`` gets each connection, in a thread of
    its own, and the connection is closed when it returns."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_one(connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            handle(connection)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                threading.Thread(target=serve_one, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def answering(reply: str) -> Callable[[socket.socket], None]:
    """A connection handler that reads the request, then sends ``reply``."""

    def handle(connection: socket.socket) -> None:
        connection.recv(65536)
        connection.sendall(reply.encode("ascii"))

    return handle


def proxy_answering_407(*authenticate: str) -> contextlib.AbstractContextManager[int]:
    """A proxy on 127.0.0.1 that answers every CONNECT with 407 and these challenges."""
    headers = "".join(f"Proxy-Authenticate: {value}\r\n" for value in authenticate)
    return raw_server(
        answering(
            f"HTTP/1.1 407 Proxy Authentication Required\r\n{headers}Content-Length: 0\r\n\r\n"
        )
    )


@pytest.mark.parametrize(
    ("challenges", "credentials", "said"),
    [
        (['Basic realm="corp"'], "", "the proxy wants credentials: use http://USER:PASSWORD@"),
        (['Basic realm="corp"'], "alice:wrong@", "refused the user name and password given"),
        (["NTLM", "Negotiate"], "alice:secret@", "the proxy wants NTLM/Negotiate sign-in"),
    ],
)
def test_a_407_says_what_the_proxy_asks_for(
    tmp_path: Path, challenges: list[str], credentials: str, said: str
) -> None:
    """Every 407 said "use http://USER:PASSWORD@host:port", also to a user who had, and to
    one whose proxy takes only NTLM or Kerberos, which no user:password can satisfy."""
    with proxy_answering_407(*challenges) as port:
        result = verify.check_target(
            "https://pypi.org/simple/",
            contexts=contexts(bundle_with(tmp_path)),
            proxy=verify.Proxy.parse(f"http://{credentials}127.0.0.1:{port}"),
            timeout=5,
        )
    (check,) = {c.status: c for c in result.checks}.values()
    assert check.status is verify.Status.PROXY
    assert said in check.detail
    assert "secret" not in check.detail and "wrong" not in check.detail


def test_a_server_that_stalls_the_handshake_is_not_called_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It took the connection and then said nothing: "connection failed: timed out ...
    could not be reached" sent the user after the network, which had worked."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    try:
        code = cli.main(
            ["verify", f"https://127.0.0.1:{listener.getsockname()[1]}/", "--timeout", "1"]
        )
    finally:
        for connection in accepted:
            connection.close()
        listener.close()
    out = capsys.readouterr().out
    assert code == ExitCode.OFFLINE  # a network or server problem, not a certificate one
    assert "accepted the connection, but its TLS handshake failed: timed out" in out
    assert "could not be reached" not in out


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("CN=##VSO[task.setvariable variable=X]y", "CN=##VSO\\[task.setvariable variable=X]y"),
        ("a ##vso[b] and ##[set-output name=c]d", "a ##vso\\[b] and ##\\[set-output name=c]d"),
        ("  ::add-mask::secret", "  \\::add-mask::secret"),
        ("first\n::stop-commands::x", "first\n\\::stop-commands::x"),
        ("first\r::error::x", "first\n\\::error::x"),  # a bare CR ends a line too
        ("no command: a::b ## c [d]", "no command: a::b ## c [d]"),
    ],
)
def test_no_ci_command_survives_in_a_printed_line(text: str, shown: str) -> None:
    """Every line we print goes through console.inert: what a CI runner would act on is
    broken, the rest is left as it was (the e2e test above covers the names a server sends)."""
    from build_ca_bundle import console

    assert console.inert(text) == shown
    # In JSON, inside strings: the object still decodes to the text as it was.
    assert json.loads(console.inert(json.dumps(text), escape="\\u005b")) == text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://pypi.org/simple/", "https://pypi.org/simple/"),
        ("https://user:s3cret@idx.corp/simple/", "https://****@idx.corp/simple/"),
        (
            "https://__token__:glpat-s3cret@gitlab.corp/api/",
            "https://****@gitlab.corp/api/",
        ),
        ("https://s3cret-token@idx.corp/simple", "https://****@idx.corp/simple"),
        ("https://user:p%40ss@idx.corp/", "https://****@idx.corp/"),
        ("https://user:p@ss@idx.corp/", "https://****@idx.corp/"),
        ("http://alice:s3cr/et@127.0.0.1:8460", "http://****@127.0.0.1:8460"),
        ("alice:s3cret@proxy:3128", "****@proxy:3128"),
    ],
)
def test_output_never_shows_a_urls_password_or_token(url: str, shown: str) -> None:
    assert verify.redacted(url) == shown


def test_a_pip_index_token_is_not_printed_by_the_check_after_a_build(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pip's index-url with a token (`https://__token__:glpat-…@gitlab…`), the common way
    to reach a private index from CI: the check after every build printed it whole, into
    the job's log. Said as pip says it, with the secret as ****."""
    index = f"https://__token__:glpat-s3cret@127.0.0.1:{free_port()}/simple/"
    monkeypatch.setenv("PIP_INDEX_URL", index)
    monkeypatch.setenv("SSL_CERT_FILE", str(make_root("Corp Root").write(tmp_path / "os.pem")))
    monkeypatch.setattr(verify, "DEFAULT_TARGETS", ())  # pip's index only: no pypi.org here
    first, second = (["--scope", "none", "--output", str(tmp_path / n)] for n in ("a", "b"))
    for arguments in (first, ["--json", *second], ["verify"], ["verify", "--json"]):
        cli.main(arguments)
        out, err = capsys.readouterr()
        assert "s3cret" not in out + err, arguments
        assert "https://****@127.0.0.1" in out + err, arguments


def test_a_proxy_password_with_a_slash_is_refused_without_showing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--proxy http://alice:s3cr/et@host:port`: the host part ends at the '/', so "s3cr"
    was taken for the port, and printed: "the proxy URL http://alice:s3cr has no valid
    port", in the text and in --json."""
    proxy = verify.Proxy.parse(f"http://alice:s3cr/et@127.0.0.1:{free_port()}")
    assert proxy.unusable is not None
    assert "write them as %2F, %3F and %23" in proxy.unusable
    for proxy_url in ("http://alice:s3cr/et@h:1", "http://alice:1234/x@h:1"):
        for arguments in ([], ["--json"]):
            code = cli.main(["verify", *arguments, "https://pypi.org/", "--proxy", proxy_url])
            out, err = capsys.readouterr()
            assert code == ExitCode.OFFLINE
            assert "s3cr" not in out + err and "1234" not in out + err
            assert "alice" not in out + err


def test_pips_no_proxy_env_sends_the_check_past_the_environments_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip 26.3's `no-proxy-env` (PIP_NO_PROXY_ENV=1, or in pip.conf) makes pip leave
    https_proxy alone: the check went through the proxy anyway, and failed on it."""
    from build_ca_bundle.targets import pip

    monkeypatch.setenv("https_proxy", "http://proxy.corp:3128")
    for value, direct in (("1", True), ("yes", True), ("off", False), ("0", False)):
        monkeypatch.setenv("PIP_NO_PROXY_ENV", value)
        configured, no_proxy_env = pip.proxy_options(pip.PipEnvironment.current(os.environ))
        assert (configured, no_proxy_env) == (None, direct)
        chosen = verify.proxy_for("https://pypi.org/", no_proxy_env=no_proxy_env)
        assert (chosen is None) == direct
    monkeypatch.delenv("PIP_NO_PROXY_ENV")
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nno-proxy-env = true\nproxy = http://pip.proxy:8080\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    configured, no_proxy_env = pip.proxy_options(pip.PipEnvironment.current(os.environ))
    assert (configured, no_proxy_env) == ("http://pip.proxy:8080", True)
    chosen = verify.proxy_for("https://pypi.org/", configured=configured, no_proxy_env=True)
    assert chosen is not None and chosen.host == "pip.proxy"  # pip's own proxy still counts


def test_timeout_bounds_the_whole_check_of_a_server_not_each_read(tmp_path: Path) -> None:
    """--timeout 2 took 59 s behind a proxy that sent its answer a byte every half second
    (each read's timeout started again), and three times the timeout for a server that
    took the connection and said nothing (once per trust source)."""
    import time

    done = threading.Event()

    def trickle(connection: socket.socket) -> None:
        connection.recv(65536)
        for byte in b"HTTP/1.1 200 Connection established\r\nX-Slow: " + b"x" * 200:
            if done.wait(0.25):
                return
            connection.sendall(bytes([byte]))

    started = time.monotonic()
    with raw_server(trickle) as port:
        try:
            result = verify.check_target(
                "https://pypi.org/simple/",
                contexts=contexts(bundle_with(tmp_path)),
                proxy=verify.Proxy.parse(f"http://127.0.0.1:{port}"),
                timeout=1,
            )
        finally:
            done.set()
    assert time.monotonic() - started < 10  # the trickle alone would take 60 s
    (check,) = result.checks
    assert check.status is verify.Status.PROXY
    assert "did not answer within 1 s" in check.detail

    accepted: list[socket.socket] = []
    silent = threading.Event()

    def take(connection: socket.socket) -> None:
        accepted.append(connection)
        silent.wait(30)  # says nothing, and keeps the connection, until the check is done

    with raw_server(take) as port:
        try:
            result = verify.check_target(
                f"https://127.0.0.1:{port}/",
                contexts=contexts(bundle_with(tmp_path)),
                proxy=None,
                timeout=1,
            )
        finally:
            silent.set()
    assert len(accepted) == 1  # not once per trust source: they would all wait the same
    (check,) = result.checks
    assert check.status is verify.Status.TLS and "timed out" in check.detail


def test_no_pin_is_offered_for_a_root_whose_server_certificate_is_wrong_anyway(
    tmp_path: Path,
) -> None:
    """An untrusted root that the server presents, over a leaf that has expired (or names
    another host): OpenSSL says "self-signed certificate in certificate chain" first, and
    the advice offered `--from-server --pin` for it, which would only lead to the next
    failure. With the root taken as trusted for one more handshake, in memory, the leaf's
    own fault is found and said, and no pin is offered."""
    import datetime as dt

    root = make_root("Untrusted Presented Root")
    cases = {
        "certificate has expired": root.issue(
            "expired.test", not_after=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
        ),
        "mismatch": root.issue("other.test", hosts=("other.example",)),
    }
    for said, leaf in cases.items():
        with HTTPSServer(leaf, tmp_path / said, send_root=True) as server:
            result = verify.check_target(
                server.url, contexts=contexts(bundle_with(tmp_path)), proxy=None, timeout=5
            )
        assert result.status("bundle") is verify.Status.CERTIFICATE
        assert result.fault is not None and said in result.fault
        assert not any("--pin" in line for line in result.advice), result.advice
        assert any("the server's own certificate is at fault" in line for line in result.advice)
    good = root.issue("good.test")
    with HTTPSServer(good, tmp_path / "good", send_root=True) as server:
        result = verify.check_target(
            server.url, contexts=contexts(bundle_with(tmp_path)), proxy=None, timeout=5
        )
    assert result.fault is None
    assert any(f"--pin {root.sha256}" in line for line in result.advice)  # pinning would do


def test_a_web_server_at_the_proxy_address_is_not_blamed_on_the_target(tmp_path: Path) -> None:
    """A "proxy" that answered CONNECT with `200 OK` and a page (a web server at that
    address) was reported as the target's broken TLS: "does it speak https on that port?"."""
    with raw_server(answering("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")) as port:
        result = verify.check_target(
            "https://pypi.org/simple/",
            contexts=contexts(bundle_with(tmp_path)),
            proxy=verify.Proxy.parse(f"http://127.0.0.1:{port}"),
            timeout=5,
        )
    (check,) = result.checks
    assert check.status is verify.Status.PROXY
    assert "not a tunnel: it does not look like a proxy" in check.detail
    assert any("the proxy could not be used" in line for line in result.advice)


def test_a_url_with_an_impossible_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """`verify https://127.0.0.1:99999/` exited 7 ("offline"): a typo, not the network."""
    for port in ("99999", "0"):  # ":0" was taken for "no port", and 443 checked
        with pytest.raises(SystemExit) as usage:
            cli.main(["verify", f"https://u:s3cret@127.0.0.1:{port}/"])
        assert usage.value.code == ExitCode.USAGE
        err = capsys.readouterr().err
        assert f"https://****@127.0.0.1:{port}/: not a valid port" in err
        assert "s3cret" not in err


def test_a_url_verify_cannot_check_is_said_without_its_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """argparse quoted the whole http:// URL back, token and all, into a CI log."""
    with pytest.raises(SystemExit):
        cli.main(["verify", "http://ci:glpat-s3cret@index.example/simple/"])
    err = capsys.readouterr().err
    assert "only https:// URLs" in err
    assert "s3cret" not in err
