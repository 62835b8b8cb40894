"""Real TLS on 127.0.0.1 for the end-to-end tests: a package index, and an intercepting proxy.

- :class:`PackageIndex` serves a PEP 503 "simple" index with one tiny wheel over HTTPS, with
  a certificate from a CA the test makes.
- :class:`InterceptingProxy` runs mitmproxy's ``mitmdump``, which re-signs every connection
  with a "corporate" root the test makes: the situation this tool exists for. mitmproxy pins
  an older ``cryptography`` than ours, so it lives in its own environment
  (``scripts/setup-test-tools`` makes it) and is called by path.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import io
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pki import Issued, make_root

REPO = Path(__file__).resolve().parent.parent
PROBE = "bcb_probe"
PROBE_WHEEL = f"{PROBE}-1.0-py3-none-any.whl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_wheel() -> bytes:
    """A minimal pure-Python wheel, built by hand (a wheel is a zip with metadata)."""
    files = {
        f"{PROBE}.py": b"VALUE = 'installed through a verified connection'\n",
        f"{PROBE}-1.0.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: 1.0\n".encode()
        ),
        f"{PROBE}-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record_lines = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{name},sha256={digest},{len(data)}")
    record_lines.append(f"{PROBE}-1.0.dist-info/RECORD,,")
    files[f"{PROBE}-1.0.dist-info/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class _IndexHandler(http.server.BaseHTTPRequestHandler):
    wheel: bytes = b""

    def do_GET(self) -> None:
        digest = hashlib.sha256(self.wheel).hexdigest()
        pages = {
            "/simple/": f'<a href="/simple/{PROBE.replace("_", "-")}/">{PROBE}</a>'.encode(),
            f"/simple/{PROBE.replace('_', '-')}/": (
                f'<a href="/files/{PROBE_WHEEL}#sha256={digest}">{PROBE_WHEEL}</a>'.encode()
            ),
            f"/files/{PROBE_WHEEL}": self.wheel,
        }
        path = self.path.split("?", 1)[0]
        if path == f"/simple/{PROBE}/":
            path = f"/simple/{PROBE.replace('_', '-')}/"
        body = pages.get(path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        kind = "application/octet-stream" if path.endswith(".whl") else "text/html"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test output is for the test."""


class HTTPSServer:
    """A threaded HTTPS server on 127.0.0.1 with the given leaf certificate."""

    def __init__(
        self,
        leaf: Issued,
        folder: Path,
        handler: type[http.server.BaseHTTPRequestHandler] = http.server.BaseHTTPRequestHandler,
        *,
        send_root: bool = False,
    ) -> None:
        chain, key = leaf.write_server_files(folder)
        if send_root:  # some proxies and servers present their root too
            root = leaf
            while root.parent is not None:
                root = root.parent
            chain.write_bytes(chain.read_bytes() + root.pem)
        self.leaf = leaf
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain, key)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    def __enter__(self) -> HTTPSServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class PackageIndex(HTTPSServer):
    """A "simple" index with one wheel, signed by ``ca`` (the index's own CA)."""

    def __init__(self, ca: Issued, folder: Path) -> None:
        handler = type("Handler", (_IndexHandler,), {"wheel": make_wheel()})
        super().__init__(ca.issue("127.0.0.1"), folder, handler)
        self.ca = ca

    def __enter__(self) -> PackageIndex:
        super().__enter__()
        return self

    @property
    def simple_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/simple/"


def mitmdump_path() -> Path | None:
    configured = os.environ.get("BCB_MITMDUMP")
    candidates = [Path(configured)] if configured else []
    candidates.append(REPO / ".venv-mitmproxy" / "bin" / "mitmdump")
    return next((path for path in candidates if path.is_file()), None)


class InterceptingProxy:
    """mitmdump on 127.0.0.1, re-signing every connection with ``root``; it verifies the
    upstream servers against ``upstream_ca`` (so a server nobody trusts still fails)."""

    def __init__(self, root: Issued, upstream_ca: Path, folder: Path) -> None:
        executable = mitmdump_path()
        if executable is None:
            pytest.skip("mitmproxy is not installed: run scripts/setup-test-tools")
        folder.mkdir(parents=True, exist_ok=True)
        # mitmproxy reads its CA (key and certificate in one file) from confdir.
        (folder / "mitmproxy-ca.pem").write_bytes(root.key_pem + root.pem)
        self.root = root
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
            "connection_strategy=eager",
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> InterceptingProxy:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mitmdump exited: {self.log.read_text(errors='replace')}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return self
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"mitmdump did not listen: {self.log.read_text(errors='replace')}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def corporate_network(tmp_path: Path) -> Iterator[tuple[PackageIndex, InterceptingProxy]]:
    """A package index behind a TLS-intercepting proxy whose root only the 'OS' trusts."""
    index_ca = make_root("Public Index CA (test)")
    index_ca_file = index_ca.write(tmp_path / "index-ca.pem")
    corporate = make_root("Example Corp TLS Inspection Root", organization="Example Corp")
    with (
        PackageIndex(index_ca, tmp_path / "index") as index,
        InterceptingProxy(corporate, index_ca_file, tmp_path / "mitm") as proxy,
    ):
        yield index, proxy


# --- pip, as a user runs it ---------------------------------------------------------------


def pip_version() -> tuple[int, ...]:
    import pip

    return tuple(int(part) for part in pip.__version__.split(".")[:2] if part.isdigit())


def pip_command(*args: str, index_url: str) -> list[str]:
    """pip with certifi-only trust, as pip < 24.2 had (the situation users are in)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        *args,
        "--disable-pip-version-check",
        "--no-input",
        "--no-cache-dir",
        "--index-url",
        index_url,
        "--timeout",
        "10",
        "--retries",
        "0",
    ]
    if pip_version() >= (24, 2):
        command.append("--use-deprecated=legacy-certs")
    return command


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment (the isolation fixture already cleaned it) plus ``extra``."""
    env = dict(os.environ)
    env.update(extra)
    return env


def have(tool: str) -> bool:
    return shutil.which(tool) is not None
