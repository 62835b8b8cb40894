"""The Linux (and other Unix) trust store: bundle files, hashed folders, and distrust.

What the OS trusts: ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set (as OpenSSL reads them), else
p11-kit's extracted server-auth anchors or the first distro bundle, plus every hashed
certificate folder — the union, as Go reads it. What it distrusts: p11-kit's reject flags
and blocklists, and Debian's ``!`` deselections. Those are returned as DISTRUST, so the merge
removes them from certifi's part too. Details: reference/os_stores.md §3.
"""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path

from build_ca_bundle.certificates import (
    BUNDLE_MARKER,
    Candidate,
    Parsed,
    Problem,
    SourceKind,
    SourceResult,
    Verdict,
    aux_verdict,
    read_certificate_file,
)
from build_ca_bundle.sources import StoreOptions

NAME = "linux"

# p11-kit's extracted server-auth anchors, blocklist already applied. Preferred when present.
P11KIT_ANCHOR_BUNDLES = (
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # Fedora, RHEL, CentOS
    "/etc/ca-certificates/extracted/tls-ca-bundle.pem",  # Arch
    "/var/lib/ca-certificates/ca-bundle.pem",  # openSUSE, SLES
)

# Distro bundle files, the first that exists is read (union of Go, openssl-probe, truststore).
DISTRO_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Gentoo, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL 6+
    "/etc/ssl/ca-bundle.pem",  # openSUSE, SLES
    "/etc/pki/tls/cacert.pem",  # OpenELEC
    "/etc/ssl/cert.pem",  # Alpine, Arch, Fedora 34-42, RHEL 9-10, macOS-like layouts
    "/etc/pki/tls/cert.pem",  # Fedora <= 34, RHEL <= 9
    "/opt/etc/ssl/certs/ca-certificates.crt",  # Entware
    "/etc/ssl/certs/cacert.pem",  # older layouts
)

# Hashed certificate folders (OpenSSL's CApath), every one that exists is read.
HASHED_FOLDERS = (
    "/etc/ssl/certs",  # Debian, Ubuntu, Alpine, SUSE
    "/etc/pki/tls/certs",  # Fedora, RHEL
    "/var/lib/ca-certificates/openssl",  # openSUSE, SLES (TRUSTED CERTIFICATE files)
    "/etc/ca-certificates/extracted/cadir",  # Arch (hard links)
    "/etc/pki/ca-trust/extracted/pem/directory-hash",  # Fedora, RHEL 9+
)

# p11-kit's trust decisions in OpenSSL's format: blocklisted certificates carry reject flags
# or an empty trust list. Never read as anchors: they include non-anchors too.
P11KIT_TRUST_BUNDLES = (
    "/etc/pki/ca-trust/extracted/openssl/ca-bundle.trust.crt",  # Fedora, RHEL
    "/etc/ca-certificates/extracted/ca-bundle.trust.crt",  # Arch
)

# Raw blocklists (PEM or DER files). p11-kit < 0.24 called them "blacklist".
BLOCKLIST_FOLDERS = (
    "/etc/pki/ca-trust/source/blocklist",  # Fedora, RHEL
    "/etc/pki/ca-trust/source/blacklist",
    "/usr/share/pki/ca-trust-source/blocklist",
    "/usr/share/pki/ca-trust-source/blacklist",
    "/etc/ca-certificates/trust-source/blocklist",  # Arch
    "/etc/ca-certificates/trust-source/blacklist",
    "/etc/pki/trust/blocklist",  # SUSE
    "/etc/pki/trust/blacklist",
)

# Debian's selection of Mozilla roots; a line "!path" deselects /usr/share/ca-certificates/path.
DEBIAN_CONF = "/etc/ca-certificates.conf"
DEBIAN_SHARE = "/usr/share/ca-certificates"

# The names OpenSSL's hash lookup opens: eight hex digits, a dot, a number.
_HASH_NAME = re.compile(r"^[0-9a-f]{8}\.\d+$")


def load(options: StoreOptions, *, root: Path = Path("/")) -> SourceResult:
    """Read what this system trusts and distrusts for TLS servers."""
    reader = _Reader(options, root)
    reader.read_trusted()
    reader.read_distrusted()
    return reader.result


class _Reader:
    def __init__(self, options: StoreOptions, root: Path) -> None:
        self.options = options
        self.root = root
        self.result = SourceResult(name=NAME, kind=SourceKind.OS)
        self.own = {_resolved(path) for path in options.own_outputs}
        self.seen_files: set[tuple[int, int]] = set()

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    # --- trust ------------------------------------------------------------------------

    def read_trusted(self) -> None:
        env_file, env_dirs = self._from_environment()
        if env_file is not None or env_dirs is not None:
            if env_file is not None:
                self._read_bundle(env_file, "SSL_CERT_FILE")
            if env_dirs is not None:
                for folder in env_dirs:
                    self._read_hashed_folder(folder, "SSL_CERT_DIR")
            # OpenSSL replaces each default independently: the other one still applies.
            if env_file is None:
                self._read_default_bundle()
            if env_dirs is None:
                self._read_default_folders()
        else:
            self._read_default_bundle()
            self._read_default_folders()
        if not any(c.verdict is Verdict.TRUST for c in self.result.candidates):
            self.result.problems.append(
                Problem("linux trust store", "no trusted certificate found in any known place")
            )

    def _from_environment(self) -> tuple[Path | None, list[Path] | None]:
        environ = self.options.environ
        file_value = environ.get("SSL_CERT_FILE") or None
        dir_value = environ.get("SSL_CERT_DIR") or None
        env_file = Path(file_value) if file_value else None
        if env_file is not None and self._is_own_output(env_file):
            self.result.notes.append(
                f"SSL_CERT_FILE={env_file} is our own bundle: ignored, or each run would feed "
                "on the last"
            )
            env_file = None
        env_dirs = (
            [Path(part) for part in dir_value.split(os.pathsep) if part] if dir_value else None
        )
        honoured = [
            name
            for name, value in (("SSL_CERT_FILE", env_file), ("SSL_CERT_DIR", env_dirs))
            if value is not None
        ]
        if honoured:
            self.result.notes.append("honoured " + " and ".join(honoured) + " as OpenSSL does")
        return env_file, env_dirs

    def _is_own_output(self, path: Path) -> bool:
        if _resolved(path) in self.own:
            return True
        try:
            with path.open("rb") as handle:
                return handle.read(len(BUNDLE_MARKER)) == BUNDLE_MARKER
        except OSError:
            return False

    def _read_default_bundle(self) -> None:
        candidates = [self.path(p) for p in (*P11KIT_ANCHOR_BUNDLES, *DISTRO_BUNDLES)]
        if self.root == Path("/"):
            default = ssl.get_default_verify_paths().openssl_cafile
            if default:
                candidates.append(Path(default))
        for candidate in candidates:
            if candidate.is_file() and not self._is_own_output(candidate):
                self._read_bundle(candidate, "distro bundle")
                return

    def _read_default_folders(self) -> None:
        folders = [self.path(p) for p in HASHED_FOLDERS]
        if self.root == Path("/"):
            default = ssl.get_default_verify_paths().openssl_capath
            if default:
                folders.append(Path(default))
        seen: set[Path] = set()
        for folder in folders:
            resolved = _resolved(folder)
            if folder.is_dir() and resolved not in seen:
                seen.add(resolved)
                self._read_hashed_folder(folder, "hashed folder")

    def _read_bundle(self, path: Path, why: str) -> None:
        if self._is_own_output(path):
            self.result.notes.append(f"{path} is our own bundle: not read")
            return
        self.result.inputs.append(path)
        if not self._first_visit(path):
            return
        parsed, problems = read_certificate_file(path, allow_der=False)
        self.result.problems.extend(problems)
        self._add_trusted(parsed, str(path), why)

    def _read_hashed_folder(self, folder: Path, why: str) -> None:
        self.result.inputs.append(folder)
        try:
            names = sorted(entry.name for entry in os.scandir(folder))
        except OSError as exc:
            self.result.problems.append(
                Problem(str(folder), f"cannot list the folder ({exc.strerror or exc})")
            )
            return
        for name in names:
            if not _HASH_NAME.match(name):
                continue  # bundles, CRLs (.rN), localhost.crt: not what OpenSSL looks up
            path = folder / name
            problem = _entry_problem(path)
            if problem:
                self.result.problems.append(Problem(str(path), problem))
                continue
            if not self._first_visit(path):
                continue
            self.result.inputs.append(path)
            parsed, problems = read_certificate_file(path)
            self.result.problems.extend(problems)
            self._add_trusted(parsed, str(folder), why)

    def _first_visit(self, path: Path) -> bool:
        """Each file once, however many links lead to it."""
        try:
            info = path.stat()
        except OSError:
            return True
        key = (info.st_dev, info.st_ino)
        if key in self.seen_files:
            return False
        self.seen_files.add(key)
        return True

    def _add_trusted(self, parsed: list[Parsed], source: str, why: str) -> None:
        for item in parsed:
            if item.aux is None:
                verdict: Verdict | None = Verdict.TRUST
                reason = why
            else:
                verdict = aux_verdict(item.certificate, item.aux)
                reason = f"{why}, OpenSSL trust flags"
            if verdict is not None:
                self.result.candidates.append(
                    Candidate(
                        item.certificate,
                        verdict,
                        source,
                        reason,
                        match_key=verdict is Verdict.DISTRUST,
                    )
                )

    # --- distrust ---------------------------------------------------------------------

    def read_distrusted(self) -> None:
        for name in P11KIT_TRUST_BUNDLES:
            path = self.path(name)
            if path.is_file():
                self._read_trust_decisions(path)
        for name in BLOCKLIST_FOLDERS:
            folder = self.path(name)
            if folder.is_dir():
                self._read_blocklist(folder)
        self._read_debian_deselections()

    def _read_trust_decisions(self, path: Path) -> None:
        self.result.inputs.append(path)
        parsed, problems = read_certificate_file(path, allow_der=False)
        self.result.problems.extend(problems)
        for item in parsed:
            if item.aux is None:
                continue
            if aux_verdict(item.certificate, item.aux) is Verdict.DISTRUST:
                self.result.candidates.append(
                    Candidate(
                        item.certificate,
                        Verdict.DISTRUST,
                        str(path),
                        "p11-kit: rejected for server authentication",
                        match_key=True,
                    )
                )

    def _read_blocklist(self, folder: Path) -> None:
        self.result.inputs.append(folder)
        try:
            entries = sorted(folder.iterdir())
        except OSError as exc:
            self.result.problems.append(Problem(str(folder), f"cannot list ({exc.strerror})"))
            return
        for path in entries:
            problem = _entry_problem(path)
            if problem:
                self.result.problems.append(Problem(str(path), problem))
                continue
            self.result.inputs.append(path)
            parsed, problems = read_certificate_file(path)
            self.result.problems.extend(problems)
            for item in parsed:
                self.result.candidates.append(
                    Candidate(
                        item.certificate,
                        Verdict.DISTRUST,
                        str(path),
                        "p11-kit blocklist",
                        match_key=True,
                    )
                )

    def _read_debian_deselections(self) -> None:
        conf = self.path(DEBIAN_CONF)
        try:
            lines = conf.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return
        except OSError as exc:
            self.result.problems.append(Problem(str(conf), f"cannot read ({exc.strerror})"))
            return
        self.result.inputs.append(conf)
        share = self.path(DEBIAN_SHARE)
        for line in lines:
            if not line.startswith("!"):
                continue
            path = share / line[1:].strip()
            if not path.is_file():
                continue  # deselected and also removed: nothing can re-add it but certifi
            parsed, problems = read_certificate_file(path)
            self.result.problems.extend(problems)
            for item in parsed:
                self.result.candidates.append(
                    Candidate(
                        item.certificate,
                        Verdict.DISTRUST,
                        str(conf),
                        f"deselected in {DEBIAN_CONF} (!{line[1:].strip()})",
                    )
                )


def _entry_problem(path: Path) -> str | None:
    """Why a folder entry cannot be read as a certificate file, or None if it can."""
    if path.is_symlink() and not path.exists():
        try:
            path.stat()
        except OSError as exc:
            if exc.errno == 40:  # ELOOP
                return "skipped: symlink loop"
        return "skipped: dangling symlink"
    if path.is_dir():
        return "skipped: a folder where a certificate file was expected"
    if not path.is_file():
        return "skipped: not a regular file"
    return None


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path.absolute()
