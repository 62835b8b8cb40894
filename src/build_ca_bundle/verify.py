"""The live check: TLS handshakes to the package indexes, through the proxy users' tools use.

Each target gets three verdicts side by side — with our bundle, with the OS store alone
(truststore), with certifi alone — so a user sees that verification works now, and why it
failed before. On a failure it shows the chain the server presented and the next step.

Nothing received from the network is ever trusted here. :func:`fetch_chain` exists so that
``--from-server HOST --pin SHA256`` can compare what a server presents with a fingerprint IT
published; only the caller decides, and only on an exact match.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import hashlib
import os
import re
import socket
import ssl
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

from build_ca_bundle.values import Value

DEFAULT_TARGETS = ("https://pypi.org/simple/", "https://files.pythonhosted.org/")
DEFAULT_TIMEOUT = 5.0


class Status(enum.Enum):
    OK = "ok"
    CERTIFICATE = "certificate"  # the handshake failed on the server's certificate
    OFFLINE = "offline"  # the server could not be reached (DNS, refused, timeout)
    PROXY = "proxy"  # the proxy could not be reached or refused the tunnel
    TLS = "tls"  # another TLS failure (protocol, handshake)
    UNAVAILABLE = "unavailable"  # this trust source cannot be used here (e.g. no truststore)


class Proxy(Value):
    """An HTTP proxy that tunnels TLS with CONNECT, or one the check cannot use (``unusable``
    says why; nothing is sent to it, credentials least of all)."""

    __slots__ = ("host", "port", "authorization", "unusable")
    host: Final[str]
    port: Final[int]
    authorization: Final[str | None]  # "Basic …" from credentials in the proxy URL
    unusable: Final[str | None]

    def __init__(
        self,
        host: str,
        port: int,
        authorization: str | None = None,
        unusable: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.authorization = authorization
        self.unusable = unusable

    @property
    def url(self) -> str:
        """How output names it (never with credentials)."""
        return self.host if self.unusable else f"http://{authority(self.host, self.port)}"

    @classmethod
    def parse(cls, url: str) -> Proxy:
        if "://" not in url:
            url = "http://" + url
        parts = urllib.parse.urlsplit(url)
        shown = redacted(url)
        if "@" in url.partition("://")[2] and "@" not in parts.netloc:
            # "user:pa/ss@host": the host part ends at the "/", so the password would be
            # taken for the host and port (by pip's urllib3 too).
            return cls(
                shown,
                0,
                unusable=f"the proxy URL {shown} has a '/', '?' or '#' in its user name or "
                "password: write them as %2F, %3F and %23",
            )
        try:
            port = parts.port or 80  # urllib3's (pip's) default for an http:// proxy
        except ValueError:
            return cls(shown, 0, unusable=f"the proxy URL {shown} has no valid port")
        if parts.scheme != "http" or not parts.hostname:
            # https:// means TLS to the proxy itself, then TLS inside it: ssl sockets cannot
            # be nested here, and speaking plain CONNECT to it sent the credentials in clear.
            kind = "an https:// proxy" if parts.scheme == "https" else f"a {parts.scheme} proxy"
            return cls(
                shown,
                0,
                unusable=f"{kind} ({shown}) is not one the live check can use; give the "
                "proxy's http:// address with --proxy (a build can skip the check with "
                "--no-verify)",
            )
        authorization = None
        if parts.username is not None:
            credentials = (
                f"{urllib.parse.unquote(parts.username)}:"
                f"{urllib.parse.unquote(parts.password or '')}"
            )
            authorization = "Basic " + base64.b64encode(credentials.encode()).decode("ascii")
        return cls(parts.hostname, port, authorization)


def redacted(url: str) -> str:
    """A URL as output may show it: user name and password become ``****`` (a user name
    alone may be the token: ``https://glpat-…@…``). An index URL with a token is common in
    CI, whose logs keep what we print. An "@" past the host part (a '/' in the password)
    counts too: the text before it is taken for credentials."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        scheme, rest = "", url
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, end)
    if at < 0:
        at = rest.rfind("@")
    if at < 0:
        return url
    return f"{scheme}{separator}****{rest[at:]}"


def authority(host: str, port: int) -> str:
    """``host:port`` as a CONNECT line and a Host header want it: an IPv6 address in
    brackets, a name in its ASCII (IDNA) form."""
    if ":" in host:
        return f"[{host}]:{port}"
    try:
        return f"{host.encode('idna').decode('ascii')}:{port}"
    except UnicodeError:
        return f"{host}:{port}"  # not a valid name: the lookup will say so


class ChainCertificate(Value):
    __slots__ = ("subject", "issuer", "sha256", "der", "self_signed", "is_ca")
    _hidden = frozenset({"der"})
    subject: Final[str]
    issuer: Final[str]
    sha256: Final[str]
    der: Final[bytes]
    self_signed: Final[bool]
    is_ca: Final[bool]

    def __init__(
        self,
        subject: str,
        issuer: str,
        sha256: str,
        der: bytes,
        self_signed: bool = False,
        is_ca: bool = False,
    ) -> None:
        self.subject = subject
        self.issuer = issuer
        self.sha256 = sha256
        self.der = der
        self.self_signed = self_signed
        self.is_ca = is_ca

    @property
    def is_root(self) -> bool:
        """A self-signed CA certificate: the only kind pinning can make an anchor of."""
        return self.self_signed and self.is_ca


class Check(Value):
    """One trust source's verdict on one target."""

    __slots__ = ("trust", "status", "detail")
    trust: Final[str]  # "bundle", "os", "certifi"
    status: Final[Status]
    detail: Final[str]

    def __init__(self, trust: str, status: Status, detail: str = "") -> None:
        self.trust = trust
        self.status = status
        self.detail = detail


class TargetResult(Value, mutable=True):
    __slots__ = ("url", "host", "port", "proxy", "checks", "chain", "advice", "fault")
    url: str
    host: str
    port: int
    proxy: str | None
    checks: list[Check]
    chain: list[ChainCertificate]
    advice: list[str]
    fault: str | None  # what is wrong with the server's certificate beyond trust, if known

    def __init__(
        self,
        url: str,
        host: str,
        port: int,
        proxy: str | None,
        checks: list[Check] | None = None,
        chain: list[ChainCertificate] | None = None,
        advice: list[str] | None = None,
    ) -> None:
        self.url = url
        self.host = host
        self.port = port
        self.proxy = proxy
        self.checks = [] if checks is None else checks
        self.chain = [] if chain is None else chain
        self.advice = [] if advice is None else advice
        self.fault = None

    def status(self, trust: str) -> Status:
        for check in self.checks:
            if check.trust == trust:
                return check.status
        return Status.UNAVAILABLE


class VerifyError(Exception):
    """A failure to reach a server, sorted into offline, proxy or TLS; ``timed_out``: the
    time given (--timeout) ran out."""

    def __init__(self, status: Status, detail: str, *, timed_out: bool = False) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.timed_out = timed_out


class _Deadline:
    """The end of the time one handshake may take, connect, tunnel and TLS together: each
    socket timeout restarts with every byte, and a proxy or server that sends a byte a
    second would hold a logon for minutes. At the end the socket is shut down."""

    def __init__(self, timeout: float) -> None:
        import threading

        self.timeout = timeout
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def guard(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if not self.expired:
                return
        self._shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # a blocked recv returns; close stays the owner's

    def cancel(self) -> None:
        self._timer.cancel()


# --- proxies ---------------------------------------------------------------------------


def proxy_for(
    url: str,
    *,
    explicit: str | None = None,
    configured: str | None = None,
    no_proxy_env: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Proxy | None:
    """The proxy a user's tools would use for ``url``: ``--proxy``, then pip's ``proxy``
    setting, then ``https_proxy``/``HTTPS_PROXY`` unless ``no_proxy`` excludes the host
    (:func:`_bypassed`); none where pip's ``no-proxy-env`` is on, as pip then ignores the
    environment's proxies."""
    if explicit:
        return Proxy.parse(explicit)
    if configured:
        return Proxy.parse(configured)
    if no_proxy_env:
        return None
    env = dict(environ) if environ is not None else dict(os.environ)
    proxies = _environment_proxies(env)
    chosen = proxies.get("https") or proxies.get("all")  # requests' order, so pip's
    if chosen is None or _bypassed(_target_parts(url), env):
        return None
    return Proxy.parse(chosen)


def _target_parts(target: str) -> urllib.parse.SplitResult:
    """A target's URL parts; a bare HOST[:PORT] is an https:// URL's (urlsplit alone finds
    no host in "127.0.0.1:8441", and no_proxy then excluded nothing)."""
    return urllib.parse.urlsplit(target if "://" in target else f"https://{target}")


def _credentials_advice(response: bytes, *, given: bool) -> str:
    """What a 407 asks for. Basic takes USER:PASSWORD in the proxy URL (as pip's does);
    NTLM and Negotiate (Kerberos) do not, for us or for pip: a local relay (cntlm, px) does."""
    offered = []
    for line in response.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1", "replace").partition(":")
        if name.strip().lower() == "proxy-authenticate" and value.split():
            offered.append(value.split()[0])
    if offered and not any(scheme.lower() == "basic" for scheme in offered):
        return (
            f"the proxy wants {'/'.join(dict.fromkeys(offered))} sign-in, which a user:password "
            "in the proxy URL cannot give, here or in pip: use a local relay such as cntlm or "
            "px, or ask IT for a proxy port that takes Basic sign-in"
        )
    if given:
        return "the proxy refused the user name and password given: check them"
    return "the proxy wants credentials: use http://USER:PASSWORD@host:port"


def unreachable_reason(url: str) -> str | None:
    """Why ``url`` (or HOST[:PORT]) names no server one could connect to; None if it does."""
    parts = _target_parts(url)
    if _port_of(parts) is None:
        return "not a valid port (1-65535)"
    if not parts.hostname:
        return "no host name"
    return None


def _port_of(parts: urllib.parse.SplitResult) -> int | None:
    """The URL's port (443 when it gives none); None if it is not one (urllib reads ":0" as
    a port, and it was taken for "none given": host:0 was checked on 443)."""
    try:
        port = parts.port
    except ValueError:
        return None
    if port is None:
        return 443
    return port if port > 0 else None


def _environment_proxies(environ: Mapping[str, str] | None) -> dict[str, str]:
    if environ is None:
        return urllib.request.getproxies_environment()
    # urllib's own rule, which requests (pip) follows: any case sets a proxy, then a
    # lower-case name wins, and a lower-case one set empty removes it.
    found: dict[str, str] = {}
    for name, value in environ.items():
        if value and name.lower().endswith("_proxy"):
            found[name.lower()[: -len("_proxy")]] = value
    for name, value in environ.items():
        if name.endswith("_proxy"):
            if value:
                found[name.lower()[: -len("_proxy")]] = value
            else:
                found.pop(name.lower()[: -len("_proxy")], None)
    return found


def _bypassed(parts: urllib.parse.SplitResult, environ: Mapping[str, str]) -> bool:
    """Whether pip goes to the URL's host directly, past the proxy: requests' own rule
    (utils.should_bypass_proxies, 2.32 on), then urllib's proxy_bypass_environment, which it
    calls. Not curl's: an IPv4 address matches only itself or an IPv4 range, never
    ``host:port``; a name matches itself or a parent domain, with a port only where the URL
    gives one; ``*`` counts only alone; no IPv6 ranges."""
    hostname = parts.hostname
    if hostname is None:
        return True
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY")  # requests' reading
    try:
        port = parts.port
    except ValueError:
        port = None
    if no_proxy:
        entries = [entry for entry in no_proxy.replace(" ", "").split(",") if entry]
        if _is_ipv4(hostname):
            for entry in entries:
                if _is_ipv4_range(entry):
                    if _in_network(hostname, entry):
                        return True
                elif hostname == entry:
                    return True
        else:
            with_port = hostname + (f":{port}" if port else "")
            for name in (entry.lstrip(".") for entry in entries):
                if name in (hostname, with_port):
                    return True
                if hostname.endswith("." + name) or with_port.endswith("." + name):
                    return True
    return _urllib_bypassed(hostname, _environment_proxies(environ).get("no"))


def _urllib_bypassed(host: str, no_proxy: str | None) -> bool:
    """urllib.request.proxy_bypass_environment, which requests calls with the host name
    (typeshed leaves it out): urllib's reading of no_proxy, where a lower-case one set
    empty cancels NO_PROXY."""
    if no_proxy is None:
        return False
    if no_proxy == "*":
        return True
    host = host.lower()
    split = re.fullmatch(r"(.*):([0-9]*)", host, re.DOTALL)  # urllib's _splitport
    host_only = split.group(1) if split else host
    for name in (item.strip().lstrip(".").lower() for item in no_proxy.split(",")):
        if not name:
            continue
        if name in (host_only, host) or host_only.endswith("." + name) or host.endswith("." + name):
            return True
    return False


def _is_ipv4(text: str) -> bool:
    try:
        socket.inet_aton(text)
    except OSError:
        return False
    return True


def _is_ipv4_range(entry: str) -> bool:
    """requests' is_valid_cidr: ``a.b.c.d/N``, N from 1 to 32."""
    if entry.count("/") != 1:
        return False
    base, _, bits = entry.partition("/")
    return bits.isdigit() and 1 <= int(bits) <= 32 and _is_ipv4(base)


def _in_network(address: str, network: str) -> bool:
    base, _, bits = network.partition("/")
    mask = (0xFFFFFFFF << (32 - int(bits))) & 0xFFFFFFFF
    number = int.from_bytes(socket.inet_aton(address), "big")
    return number & mask == int.from_bytes(socket.inet_aton(base), "big") & mask


def _connect(host: str, port: int, proxy: Proxy | None, deadline: _Deadline) -> socket.socket:
    timeout = deadline.timeout
    if proxy is None:
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise VerifyError(
                Status.OFFLINE,
                f"cannot reach {host}:{port}: {_reason(exc)}",
                timed_out=_timed_out(exc),
            ) from exc
        deadline.guard(sock)
        return sock
    if proxy.unusable is not None:
        raise VerifyError(Status.PROXY, proxy.unusable)
    try:
        sock = socket.create_connection((proxy.host, proxy.port), timeout=timeout)
    except OSError as exc:
        raise VerifyError(
            Status.PROXY,
            f"cannot reach the proxy {proxy.url}: {_reason(exc)}",
            timed_out=_timed_out(exc),
        ) from exc
    deadline.guard(sock)
    try:
        _tunnel(sock, host, port, proxy, deadline)
    except BaseException:
        sock.close()
        raise
    return sock


def _tunnel(sock: socket.socket, host: str, port: int, proxy: Proxy, deadline: _Deadline) -> None:
    target = authority(host, port)
    request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if proxy.authorization:
        request += f"Proxy-Authorization: {proxy.authorization}\r\n"
    try:
        sock.sendall((request + "\r\n").encode("ascii"))
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                break
            response += chunk
            if len(response) > 65536:
                break
    except OSError as exc:
        if not deadline.expired:
            raise VerifyError(
                Status.PROXY,
                f"the proxy {proxy.url} failed: {_reason(exc)}",
                timed_out=_timed_out(exc),
            ) from exc
    if deadline.expired:
        raise VerifyError(
            Status.PROXY,
            f"the proxy {proxy.url} did not answer within {deadline.timeout:g} s",
            timed_out=True,
        )
    status_line = response.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = status_line.split(" ", 2)
    _, _, after_head = response.partition(b"\r\n\r\n")
    if len(parts) >= 2 and parts[1] == "200" and after_head:
        # A tunnel carries nothing before our TLS hello: a page after "200" is a web
        # server's answer, not a proxy's (the address is not a proxy's).
        raise VerifyError(
            Status.PROXY,
            f"{proxy.url} answered CONNECT with {status_line!r} and a page, not a tunnel: "
            "it does not look like a proxy",
        )
    if len(parts) < 2 or parts[1] != "200":
        detail = status_line or "no answer"
        if len(parts) >= 2 and parts[1] == "407":
            detail += f" ({_credentials_advice(response, given=proxy.authorization is not None)})"
        elif len(parts) >= 2 and parts[1] in ("502", "503", "504"):
            raise VerifyError(Status.OFFLINE, f"the proxy could not reach {host}:{port}: {detail}")
        raise VerifyError(Status.PROXY, f"the proxy {proxy.url} refused the tunnel: {detail}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"name lookup failed ({exc.strerror})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def handshake(
    host: str, port: int, context: ssl.SSLContext, proxy: Proxy | None, timeout: float
) -> list[bytes]:
    """Do one TLS handshake, all of it within ``timeout``; return the chain the server
    presented (DER, leaf first)."""
    deadline = _Deadline(timeout)
    try:
        sock = _connect(host, port, proxy, deadline)
        try:
            with context.wrap_socket(sock, server_hostname=host) as tls:
                return presented_chain(tls)
        except ssl.SSLCertVerificationError as exc:
            raise VerifyError(Status.CERTIFICATE, exc.verify_message or str(exc)) from exc
        except OSError as exc:  # connected (the proxy's tunnel too): the handshake failed
            cause: BaseException = TimeoutError() if deadline.expired else exc
            if isinstance(cause, ssl.SSLError):
                raise VerifyError(Status.TLS, cause.reason or str(cause)) from exc
            raise VerifyError(
                Status.TLS,
                f"{host}:{port} accepted the connection, but its TLS handshake failed: "
                f"{_reason(cause)}",
                timed_out=_timed_out(cause),
            ) from exc
        finally:
            sock.close()
    finally:
        deadline.cancel()


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, socket.timeout | TimeoutError)


def presented_chain(tls: ssl.SSLSocket) -> list[bytes]:
    """The certificates the server sent, leaf first, as DER."""
    public = getattr(tls, "get_unverified_chain", None)  # Python 3.13+
    if public is not None:
        return [bytes(cert) for cert in public()]
    sslobj = getattr(tls, "_sslobj", None)
    private = getattr(sslobj, "get_unverified_chain", None)  # 3.10-3.12, same data
    if private is not None:
        return [cert.public_bytes(ssl._ssl.ENCODING_DER) for cert in private() or []]  # type: ignore[attr-defined]
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def fetch_chain(
    host: str, port: int = 443, *, proxy: Proxy | None = None, timeout: float = DEFAULT_TIMEOUT
) -> list[bytes]:
    """What the server presents, without verifying it. Never trust this without a pin."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only to read the chain; nothing is sent or trusted
    return handshake(host, port, context, proxy, timeout)


# --- trust sources ---------------------------------------------------------------------


def bundle_context(bundle: Path) -> ssl.SSLContext:
    if not bundle.is_file():
        raise FileNotFoundError(f"no bundle at {bundle}: run build-ca-bundle first")
    return ssl.create_default_context(cafile=str(bundle))


def certifi_context() -> ssl.SSLContext:
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def os_context() -> ssl.SSLContext:
    import truststore

    context: ssl.SSLContext = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return context


def check_target(
    url: str,
    *,
    contexts: Sequence[tuple[str, Callable[[], ssl.SSLContext]]],
    proxy: Proxy | None,
    timeout: float = DEFAULT_TIMEOUT,
) -> TargetResult:
    """Handshake with ``url``'s server once per trust source, and explain a failure."""
    parts = _target_parts(url)
    host = parts.hostname or ""
    port = _port_of(parts)
    shown = redacted(url)
    result = TargetResult(url=shown, host=host, port=port or 0, proxy=proxy.url if proxy else None)
    if port is None or not host:
        result.checks.append(Check("bundle", Status.OFFLINE, "not a host and port one can reach"))
        result.advice = [f"{shown} is not a URL with a host and a valid port (1-65535)"]
        return result
    for trust, make_context in contexts:
        try:
            context = make_context()
        except Exception as exc:  # truststore missing or unsupported here
            result.checks.append(Check(trust, Status.UNAVAILABLE, str(exc)))
            continue
        try:
            chain = handshake(host, port, context, proxy, timeout)
        except VerifyError as exc:
            result.checks.append(Check(trust, exc.status, exc.detail))
            if exc.status in (Status.OFFLINE, Status.PROXY) or exc.timed_out:
                break  # the network, not trust: the other sources would say (and wait) the same
            continue
        result.checks.append(Check(trust, Status.OK))
        if not result.chain:
            result.chain = [describe(der) for der in chain]
    if any(check.status is Status.CERTIFICATE for check in result.checks) and not result.chain:
        with contextlib.suppress(VerifyError):  # the verdicts already say what failed
            presented = fetch_chain(host, port, proxy=proxy, timeout=timeout)
            result.chain = [describe(der) for der in presented]
    if result.status("bundle") is Status.CERTIFICATE and result.chain and result.chain[-1].is_root:
        result.fault = _fault_beyond_trust(host, port, proxy, result.chain[-1].der, timeout)
    result.advice = advise(result)
    return result


def _fault_beyond_trust(
    host: str, port: int, proxy: Proxy | None, root: bytes, timeout: float
) -> str | None:
    """What else OpenSSL finds wrong with the chain once its presented root is taken as
    trusted, in memory, for this one handshake (an expired certificate, another host name):
    OpenSSL reports the untrusted root first, and advice to pin it would only lead to the
    next failure. Nothing is trusted here: the answer decides only what advice says."""
    try:
        context = ssl.create_default_context(cadata=root)
        handshake(host, port, context, proxy, timeout)
    except (VerifyError, ssl.SSLError, ValueError) as error:
        detail = error.detail if isinstance(error, VerifyError) else ""
        return detail if _NOT_A_TRUST_PROBLEM.search(detail) else None
    return None


def describe(der: bytes) -> ChainCertificate:
    from build_ca_bundle.certificates import parse_der

    sha = hashlib.sha256(der).hexdigest()
    try:
        cert = parse_der(der)
    except ValueError:
        return ChainCertificate("(unparsable)", "(unparsable)", sha, der)
    return ChainCertificate(cert.subject, cert.issuer, sha, der, cert.self_signed, cert.is_ca)


# OpenSSL's words for a certificate that is wrong in itself, whatever the roots trusted.
_NOT_A_TRUST_PROBLEM = re.compile(
    r"hostname mismatch|ip address mismatch|certificate has expired|certificate is not yet valid",
    re.IGNORECASE,
)


def _one_certificate_advice(result: TargetResult, issuer: str) -> str:
    """Only the leaf came. Through a proxy, the chain may be the proxy's own re-signed one:
    the server's owner was blamed for an inspecting proxy's chain (audit h43)."""
    if result.proxy is None:
        return (
            f"the server sent only its own certificate: if `{issuer}` is an intermediate CA "
            "rather than a root, the server is not sending its full chain, and its owner "
            "should fix that"
        )
    return (
        f"only one certificate came: if `{issuer}` is an intermediate CA rather than a root, "
        f"whoever signs this connection (the server, or the proxy at {redacted(result.proxy)} "
        "if it inspects TLS) is not sending the full chain: tell the server's owner, or IT "
        "for the proxy"
    )


def advise(result: TargetResult) -> list[str]:
    """The next step, in words, for what the three verdicts say together."""
    bundle, os_store, certifi = (result.status(t) for t in ("bundle", "os", "certifi"))
    statuses = {check.status for check in result.checks}
    if Status.PROXY in statuses:
        return [
            "the proxy could not be used: check the proxy address (--proxy, pip's proxy, "
            "https_proxy) and its credentials; this is not a certificate problem"
        ]
    if Status.OFFLINE in statuses:
        return [
            f"{result.host}:{result.port} could not be reached: this is a network problem, "
            "not a certificate problem"
        ]
    advice: list[str] = []
    if Status.TLS in statuses and Status.CERTIFICATE not in statuses:
        return [
            f"the TLS handshake with {result.host}:{result.port} failed without a verdict on "
            "any certificate: a server or network problem (does it speak https on that "
            "port?), not one of the bundle"
        ]
    verdict = next((c.detail for c in result.checks if c.status is Status.CERTIFICATE), "")
    if result.fault is not None:
        verdict = result.fault  # behind the untrusted root, the certificate is wrong too
    if _NOT_A_TRUST_PROBLEM.search(verdict):
        return [
            f"the server's own certificate is at fault ({verdict}): no root in any bundle "
            "changes that, and pinning must not paper over it (a certificate for another "
            "name can be an interception); check the URL and this machine's clock, or tell "
            "the server's owner"
        ]
    if bundle is Status.OK and certifi is Status.CERTIFICATE:
        advice.append(
            "certifi alone fails here: that is why pip failed before; with the bundle it verifies"
        )
    if bundle is Status.CERTIFICATE:
        top = result.chain[-1] if result.chain else None
        issuer = top.issuer if top else "the issuing CA"
        if os_store is Status.OK:
            advice.append(
                "the OS trusts this server but the bundle does not: the bundle is "
                "stale; run build-ca-bundle again"
            )
        elif "os" not in {check.trust for check in result.checks}:  # the check after a build
            advice.append(
                f"the bundle does not trust `{issuer}`: `build-ca-bundle verify` tells whether "
                "the OS does (a root left out with --exclude, say) or not"
            )
        else:
            advice.append(
                f"the OS does not trust `{issuer}` either: ask IT to install this root in "
                "the OS store, or run `build-ca-bundle --extra-ca FILE` (on every later run "
                "too, or name FILE in the policy's extra_ca)"
            )
            if top is not None and not top.is_ca:
                # Only the server's own certificate came. An intercepting proxy's CA is a
                # root; a server's may be an intermediate it forgot to send (browsers
                # fetch those themselves, OpenSSL does not).
                advice.append(_one_certificate_advice(result, issuer))
            if top is not None and top.is_root:
                advice.append(
                    f"the server presents its root itself (sha256 {top.sha256}); only if IT "
                    f"confirms that fingerprint: build-ca-bundle --from-server "
                    f"{result.host}:{result.port} --pin {top.sha256}"
                )
    return advice
