"""Real TLS on 127.0.0.1 for the end-to-end tests: a package index, an intercepting proxy, pip.

- :class:`HTTPSServer` serves any handler over HTTPS with any leaf certificate.
- :class:`PackageIndex` serves a PEP 503 "simple" index with one tiny wheel, with a
  certificate from a CA the test makes (the "index CA", standing in for PyPI's public CA).
- :class:`InterceptingProxy` runs mitmproxy's ``mitmdump``, which re-signs every connection
  with a "corporate" root the test makes: the situation this tool exists for. mitmproxy pins
  an older ``cryptography`` than ours, so it lives in its own environment
  (``scripts/setup-test-tools`` makes it) and is called by path.
- :func:`pip_command` and :func:`run_pip` run the real pip with certifi-only trust.

The fixtures at the end (``index_ca``, ``package_index``, ``corporate_root``,
``intercepting_proxy``) wrap these; ``tests/conftest.py`` loads them with
``pytest_plugins = ["tests.tls"]``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import http.server
import io
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import certifi
import pytest
from cryptography import x509

from tests.pki import Issued, make_root

REPO = Path(__file__).resolve().parent.parent
PROBE = "bcb_probe"
PROBE_PROJECT = "bcb-probe"  # the PEP 503 normalized name pip asks for
PROBE_WHEEL = f"{PROBE}-1.0-py3-none-any.whl"
PROBE_VALUE = "installed through a verified connection"

HANDLER_TIMEOUT = 10  # seconds a server thread waits for a silent client
PROXY_START_TIMEOUT = 30  # mitmdump imports a lot; a cold start takes a few seconds
PIP_TIMEOUT = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- the probe wheel ----------------------------------------------------------------------


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel() -> bytes:
    """A minimal pure-Python wheel, built by hand (a wheel is a zip with metadata)."""
    info = f"{PROBE}-1.0.dist-info"
    files = {
        f"{PROBE}.py": f"VALUE = {PROBE_VALUE!r}\n".encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: 1.0\n".encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = [_record_line(name, data) for name, data in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            # A fixed date keeps the wheel, and so its hash, the same in every run.
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def _simple_pages(wheel: bytes) -> dict[str, tuple[str, bytes]]:
    """Path -> (content type, body) for a PEP 503 index holding one wheel."""
    html = "text/html; charset=utf-8"
    digest = hashlib.sha256(wheel).hexdigest()
    project = f"/simple/{PROBE_PROJECT}/"

    def page(link: str, text: str) -> bytes:
        return f'<!DOCTYPE html>\n<html><body><a href="{link}">{text}</a></body></html>\n'.encode()

    return {
        "/simple/": (html, page(project, PROBE_PROJECT)),
        project: (html, page(f"/files/{PROBE_WHEEL}#sha256={digest}", PROBE_WHEEL)),
        f"/files/{PROBE_WHEEL}": ("application/octet-stream", wheel),
    }


# --- HTTPS servers --------------------------------------------------------------------------


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    timeout = HANDLER_TIMEOUT  # a client that never speaks cannot hold a thread forever

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test output is for the test."""


class _IndexHandler(_QuietHandler):
    pages: dict[str, tuple[str, bytes]] = {}  # noqa: RUF012 (set per server by a subclass)
    served: list[str] = []  # noqa: RUF012

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == f"/simple/{PROBE}/":  # a client that does not normalize the name
            path = f"/simple/{PROBE_PROJECT}/"
        found = self.pages.get(path)
        if found is None:
            self.send_error(404)
            return
        self.served.append(path)
        kind, body = found
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


_Request = socket.socket | tuple[bytes, socket.socket]


class _TLSServer(http.server.ThreadingHTTPServer):
    """Handshakes in the handler's thread; closes cleanly even with clients connected."""

    daemon_threads = False  # joined at close: nothing outlives the test
    block_on_close = True

    def __init__(
        self, handler: type[http.server.BaseHTTPRequestHandler], context: ssl.SSLContext
    ) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        # Without this, a client stuck in the handshake would block accept() and shutdown().
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def process_request(self, request: _Request, client_address: object) -> None:
        if isinstance(request, socket.socket):
            with self._lock:
                self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _Request) -> None:
        if isinstance(request, socket.socket):
            with self._lock:
                self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Wake handler threads blocked on a silent client, so close() can join them."""
        with self._lock:
            requests = list(self._open)
        for request in requests:
            with contextlib.suppress(OSError):
                request.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: _Request, client_address: object) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):  # ssl.SSLError included
            return  # clients refuse our certificate on purpose, or we dropped them
        super().handle_error(request, client_address)


def _server_chain(leaf: Issued, folder: Path, *, send_root: bool) -> tuple[Path, Path]:
    chain, key = leaf.write_server_files(folder)
    if send_root:  # some proxies and servers present their root too
        root = leaf
        while root.parent is not None:
            root = root.parent
        chain.write_bytes(chain.read_bytes() + root.pem)
    return chain, key


class HTTPSServer:
    """A threaded HTTPS server on 127.0.0.1 (a free port) presenting ``leaf``'s chain.

    Use it as a context manager; it serves from ``__enter__`` until ``__exit__``.
    """

    def __init__(
        self,
        leaf: Issued,
        folder: Path,
        handler: type[http.server.BaseHTTPRequestHandler] = _QuietHandler,
        *,
        send_root: bool = False,
    ) -> None:
        chain, key = _server_chain(leaf, folder, send_root=send_root)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, key)
        self.leaf = leaf
        self.httpd = _TLSServer(handler, context)
        self.port: int = self.httpd.server_address[1]
        # A short poll keeps shutdown() quick: it waits for the loop to notice.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def __enter__(self) -> HTTPSServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(timeout=5)
        self.httpd.drop_connections()
        self.httpd.server_close()


class PackageIndex(HTTPSServer):
    """A "simple" index with the probe wheel, its certificate issued by ``ca``."""

    def __init__(self, ca: Issued, folder: Path) -> None:
        self.served: list[str] = []  # paths served, in order: proof that pip came here
        handler = type(
            "IndexHandler",
            (_IndexHandler,),
            {"pages": _simple_pages(make_wheel()), "served": self.served},
        )
        super().__init__(ca.issue("127.0.0.1"), folder, handler)
        self.ca = ca
        self.ca_file = ca.write(folder / "index-ca.pem")

    def __enter__(self) -> PackageIndex:
        super().__enter__()
        return self

    @property
    def simple_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/simple/"


# --- the intercepting proxy -----------------------------------------------------------------


def mitmdump_path() -> Path | None:
    """``$BCB_MITMDUMP`` if set, else the one ``scripts/setup-test-tools`` installs; None if
    that file is missing."""
    configured = os.environ.get("BCB_MITMDUMP")
    path = Path(configured) if configured else REPO / ".venv-mitmproxy" / "bin" / "mitmdump"
    return path if path.is_file() else None


def require_mitmdump() -> Path:
    """The mitmdump to run; skips the calling test, saying how to get one, if there is none."""
    executable = mitmdump_path()
    if executable is None:
        where = os.environ.get("BCB_MITMDUMP") or REPO / ".venv-mitmproxy" / "bin" / "mitmdump"
        pytest.skip(
            f"mitmproxy is not installed (no {where}): run scripts/setup-test-tools, "
            "or point BCB_MITMDUMP at a mitmdump"
        )
    return executable


def _without_proxy_variables(environ: Mapping[str, str]) -> dict[str, str]:
    return {key: value for key, value in environ.items() if not key.lower().endswith("_proxy")}


class InterceptingProxy:
    """mitmdump on 127.0.0.1, re-signing every connection with ``root``.

    It verifies upstream servers against ``upstream_ca`` only, so a server chained to any
    other CA still fails through it, as through a real corporate proxy.
    """

    def __init__(self, root: Issued, upstream_ca: Path, folder: Path) -> None:
        executable = require_mitmdump()
        folder.mkdir(parents=True, exist_ok=True)
        # mitmproxy's CA is <confdir>/mitmproxy-ca.pem: the private key and the certificate,
        # both PEM, in one file (docs: concepts/certificates).
        (folder / "mitmproxy-ca.pem").write_bytes(root.key_pem + root.pem)
        self.root = root
        self.root_file = root.write(folder / "corporate-root.pem")
        self.port = free_port()
        self.log = folder / "mitmdump.log"
        self.command = [
            str(executable),
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            str(self.port),
            "--set",
            f"confdir={folder}",
            "--set",
            f"ssl_verify_upstream_trusted_ca={upstream_ca}",
            "--set",
            "ssl_insecure=false",  # the default; said here because the tests rely on it
            "--set",
            "connection_strategy=eager",  # handshake upstream first, like a real proxy
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> InterceptingProxy:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_without_proxy_variables(os.environ),
            )
        try:
            self._wait_until_listening()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_until_listening(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + PROXY_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"mitmdump exited with {self.process.returncode} before listening:\n"
                    f"{' '.join(self.command)}\n{self.output()}"
                )
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"mitmdump did not listen on port {self.port} within {PROXY_START_TIMEOUT}s:\n"
            f"{self.output()}"
        )

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@dataclass(frozen=True)
class ProxiedResponse:
    """What a client saw fetching a URL through the proxy."""

    leaf: x509.Certificate  # the certificate presented to the client
    status: int
    body: bytes


def get_through_proxy(
    proxy_url: str, url: str, *, trust: Path, timeout: float = 10
) -> ProxiedResponse:
    """GET ``url`` (https) through ``proxy_url`` (HTTP CONNECT), trusting only ``trust``.

    Raises ``ssl.SSLCertVerificationError`` when the presented chain does not verify.
    """
    proxy, target = urllib.parse.urlsplit(proxy_url), urllib.parse.urlsplit(url)
    assert proxy.hostname and proxy.port and target.hostname
    context = ssl.create_default_context(cafile=str(trust))
    connection = http.client.HTTPSConnection(
        proxy.hostname, proxy.port, context=context, timeout=timeout
    )
    try:
        connection.set_tunnel(target.hostname, target.port or 443)
        connection.request("GET", target.path or "/")
        assert isinstance(connection.sock, ssl.SSLSocket)
        der = connection.sock.getpeercert(binary_form=True)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert der is not None
    return ProxiedResponse(x509.load_der_x509_certificate(der), response.status, body)


@contextlib.contextmanager
def corporate_network(tmp_path: Path) -> Iterator[tuple[PackageIndex, InterceptingProxy]]:
    """A package index behind a TLS-intercepting proxy whose root only the 'OS' trusts."""
    with (
        PackageIndex(make_index_ca(), tmp_path / "index") as index,
        InterceptingProxy(make_corporate_root(), index.ca_file, tmp_path / "mitm") as proxy,
    ):
        yield index, proxy


def make_index_ca() -> Issued:
    return make_root("Public Index CA (test)")


def make_corporate_root() -> Issued:
    return make_root("Example Corp TLS Inspection Root", organization="Example Corp")


def certifi_bundle(path: Path, *extra: Issued) -> Path:
    """Write certifi's roots plus ``extra`` to ``path``: a bundle like the tool makes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(Path(certifi.where()).read_bytes() + b"".join(root.pem for root in extra))
    return path


# --- pip, as a user runs it ---------------------------------------------------------------


def pip_version() -> tuple[int, ...]:
    """The version of the pip that ``sys.executable -m pip`` runs."""
    from importlib.metadata import version

    return tuple(int(part) for part in re.findall(r"\d+", version("pip"))[:2])


def pip_command(
    *args: str, index_url: str, legacy_certs: bool = True, isolated: bool = False
) -> list[str]:
    """``python -m pip ARGS`` against ``index_url``, quiet, uncached and quick to give up.

    ``legacy_certs``: on pip >= 24.2, turn truststore off, so pip trusts only certifi or
    ``--cert``, as older pips do (the situation users are in). ``isolated``: pip's
    ``--isolated`` (no environment variables, no user config).
    """
    command = [sys.executable, "-m", "pip", *args]
    command += ["--disable-pip-version-check", "--no-input", "--no-cache-dir"]
    command += ["--index-url", index_url, "--timeout", "10", "--retries", "0"]
    if legacy_certs and pip_version() >= (24, 2):
        command.append("--use-deprecated=legacy-certs")
    if isolated:
        command.append("--isolated")
    return command


def clean_env(**extra: str) -> dict[str, str]:
    """The environment now (the isolation fixture has cleaned it) plus ``extra``."""
    env = dict(os.environ)
    env.update(extra)
    return env


def run_pip(
    command: list[str],
    *,
    env: Mapping[str, str] | None = None,
    read_config: bool = False,
    timeout: float = PIP_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a :func:`pip_command`; ``env`` defaults to :func:`clean_env` taken now.

    Unless ``read_config``, pip reads no config file (``PIP_CONFIG_FILE=os.devnull``): the
    machine's ``/etc/pip.conf`` would otherwise set ``cert`` for it. With ``read_config``
    pip reads the test's user config and also the machine's global files, so run it in
    :func:`tests.linux_store.run_in_private_store`, which hides them.
    """
    env = dict(env) if env is not None else clean_env()
    if not read_config:
        env["PIP_CONFIG_FILE"] = os.devnull
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    """stdout and stderr together, for assertions and failure messages."""
    return f"{result.stdout}\n{result.stderr}"


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(name="index_ca")
def index_ca_fixture() -> Issued:
    """The CA that signs the package index's certificate (PyPI's public CA, in the story)."""
    return make_index_ca()


@pytest.fixture(name="package_index")
def package_index_fixture(index_ca: Issued, tmp_path: Path) -> Iterator[PackageIndex]:
    """A running PEP 503 index on 127.0.0.1 with the probe wheel, signed by ``index_ca``."""
    with PackageIndex(index_ca, tmp_path / "index") as index:
        yield index


@pytest.fixture(name="corporate_root")
def corporate_root_fixture() -> Issued:
    """The root a TLS-inspecting proxy re-signs with; only the "OS" trusts it."""
    return make_corporate_root()


@pytest.fixture(name="intercepting_proxy")
def intercepting_proxy_fixture(
    corporate_root: Issued, package_index: PackageIndex, tmp_path: Path
) -> Iterator[InterceptingProxy]:
    """mitmdump re-signing with ``corporate_root``, trusting only the index CA upstream."""
    with InterceptingProxy(corporate_root, package_index.ca_file, tmp_path / "mitm") as proxy:
        yield proxy
