"""The Linux (and other Unix) trust store: bundle files, hashed folders, and distrust.

What the OS trusts: ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set (each replaces its own
default, as in OpenSSL), else p11-kit's extracted server-auth anchors or the first distro
bundle, plus every hashed certificate folder: the union, as Go reads it. What it distrusts:
p11-kit's reject flags and blocklists, and Debian's ``!`` deselections. Those come back as
DISTRUST, so the merge removes them from certifi's part too. Details: reference/os_stores.md §3.

Nothing here raises for a bad file: every unreadable, dangling or malformed entry becomes a
:class:`Problem` naming the path, and the rest of the store is still read.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath

from build_ca_bundle import openssl, x509der
from build_ca_bundle.certificates import (
    ANY_EKU,
    BUNDLE_MARKER,
    SERVER_AUTH,
    SERVER_AUTH_PURPOSES,
    AuxTrust,
    Candidate,
    Parsed,
    Problem,
    SourceKind,
    SourceResult,
    Verdict,
    aux_verdict,
    parse_bytes,
    pem_fingerprints,
)
from build_ca_bundle.regular import read_bytes
from build_ca_bundle.sources import StoreOptions

NAME = "linux"

# --- Where each distro keeps what it trusts -----------------------------------------------
# Every path is absolute as on a live system; ``load(root=...)`` joins them under a fake root.

# p11-kit's `extract --filter=ca-anchors --purpose server-auth`: the blocklist is already
# applied. Preferred over any other bundle when present.
P11KIT_ANCHOR_BUNDLES = (
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  # Fedora, RHEL, CentOS, Amazon Linux
    "/etc/ca-certificates/extracted/tls-ca-bundle.pem",  # Arch, Manjaro
    "/var/lib/ca-certificates/ca-bundle.pem",  # openSUSE, SLES
)

# Otherwise the first of these that exists (union of Go, openssl-probe and truststore).
DISTRO_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Gentoo, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL 6+ (a link to the p11-kit bundle)
    "/etc/ssl/ca-bundle.pem",  # openSUSE, SLES
    "/etc/pki/tls/cacert.pem",  # OpenELEC
    "/etc/ssl/cert.pem",  # Alpine, Arch, OpenWRT, Fedora 34-42, RHEL 9-10
    "/etc/pki/tls/cert.pem",  # Fedora <= 34, RHEL <= 9
    "/opt/etc/ssl/certs/ca-certificates.crt",  # Entware
    "/etc/ssl/certs/cacert.pem",  # older hand-made layouts
)

# Hashed certificate folders (OpenSSL's CApath): every one that exists is read.
HASHED_FOLDERS = (
    "/etc/ssl/certs",  # Debian, Ubuntu, Alpine, Gentoo, SUSE (links into the others)
    "/etc/pki/tls/certs",  # Fedora, RHEL (also holds mod_ssl's localhost.crt: not a hash name)
    "/var/lib/ca-certificates/openssl",  # openSUSE, SLES: TRUSTED CERTIFICATE files
    "/etc/ca-certificates/extracted/cadir",  # Arch: hard links
    "/etc/pki/ca-trust/extracted/pem/directory-hash",  # Fedora 37+, RHEL 9+
)

# p11-kit's `extract --format=openssl-bundle --filter=certificates`: every certificate with
# its trust decision, non-anchors and blocklisted ones included. Read for distrust only.
P11KIT_TRUST_DECISIONS = (
    "/etc/pki/ca-trust/extracted/openssl/ca-bundle.trust.crt",  # Fedora, RHEL, CentOS
    "/etc/ca-certificates/extracted/ca-bundle.trust.crt",  # Arch, Manjaro
)

# p11-kit's raw blocklists (PEM or DER files); p11-kit < 0.24 named them "blacklist".
BLOCKLIST_FOLDERS = (
    "/etc/pki/ca-trust/source/blocklist",  # Fedora, RHEL: the admin's
    "/etc/pki/ca-trust/source/blacklist",  # Fedora, RHEL before p11-kit 0.24
    "/usr/share/pki/ca-trust-source/blocklist",  # Fedora, RHEL: the package's
    "/usr/share/pki/ca-trust-source/blacklist",  # the same before p11-kit 0.24
    "/etc/ca-certificates/trust-source/blocklist",  # Arch, Manjaro
    "/etc/ca-certificates/trust-source/blacklist",  # Arch before p11-kit 0.24
    "/etc/pki/trust/blocklist",  # openSUSE, SLES
    "/etc/pki/trust/blacklist",  # openSUSE, SLES (older)
)

# Where an admin drops a root for the distro's tool to add to the store, and that tool. A root
# there that the store lacks means the tool was not run since (or skipped the file): the OS
# does not trust it yet, so neither do we, but the user must hear why.
PENDING_ANCHOR_FOLDERS = (
    ("/usr/local/share/ca-certificates", "update-ca-certificates"),  # Debian, Ubuntu, Alpine
    ("/etc/pki/ca-trust/source/anchors", "update-ca-trust"),  # Fedora, RHEL, CentOS
    ("/etc/ca-certificates/trust-source/anchors", "update-ca-trust"),  # Arch, Manjaro
    ("/etc/pki/trust/anchors", "update-ca-certificates"),  # openSUSE, SLES
)
# Debian's update-ca-certificates takes only these (`find -L . -type f -name '*.crt'`).
_DEBIAN_LOCAL = "/usr/local/share/ca-certificates"

# Debian's selection of the roots in /usr/share/ca-certificates: "!path" deselects one.
DEBIAN_CONF = "/etc/ca-certificates.conf"  # Debian, Ubuntu
DEBIAN_SHARE = "/usr/share/ca-certificates"  # Debian, Ubuntu

# The only names OpenSSL's hash lookup opens: eight lowercase hex digits, a dot, a number.
# Skips bundles, CRLs (.r0), localhost.crt and the links update-ca-certificates makes.
_HASH_NAME = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")

_LIVE_ROOT = Path("/")

# The public roots the distro's CA package ships (Mozilla's set as of the package's date),
# apart from what an administrator adds: the report names those one by one.
PACKAGED_ROOTS = (
    "/usr/share/ca-certificates/mozilla",  # Debian, Ubuntu: one .crt per root
    "/usr/share/pki/ca-trust-source/ca-bundle.trust.p11-kit",  # Fedora, RHEL
)


def packaged_roots(root: Path = _LIVE_ROOT) -> set[str]:
    """SHA-256 fingerprints of the roots in the distro's CA package, for the report only."""
    found: set[str] = set()
    for name in PACKAGED_ROOTS:
        path = root / name.lstrip("/")
        for file in sorted(path.glob("*.crt")) if path.is_dir() else [path]:
            with contextlib.suppress(OSError):
                found |= pem_fingerprints(read_bytes(file))
    return found


def load(options: StoreOptions, *, root: Path = _LIVE_ROOT) -> SourceResult:
    """Read what this system trusts and distrusts for TLS servers.

    ``root`` is where the store's paths are looked up (a chroot, a container image, a test's
    fake tree). Paths named by ``SSL_CERT_FILE``/``SSL_CERT_DIR`` are taken as they are.
    """
    reader = _Reader(options, root)
    reader.read_trusted()
    reader.read_distrusted()
    reader.report_pending()
    return reader.result


class _Reader:
    """One pass over the store, collecting candidates, problems and inputs."""

    def __init__(self, options: StoreOptions, root: Path) -> None:
        self.options = options
        self.root = root
        self.result = SourceResult(name=NAME, kind=SourceKind.OS)
        self.own_paths = {_resolved(path) for path in options.own_outputs}
        self.own_files = {key for key in map(_file_key, options.own_outputs) if key}
        self.files_read: set[tuple[int, int]] = set()  # one read per file, however linked
        self.folders_read: set[tuple[int, int]] = set()
        self.trusted: set[tuple[str, Verdict]] = set()  # one candidate per DER and verdict
        self.watched: set[Path] = set()
        self.store_found = False

    def live(self, absolute: str) -> Path:
        """A store path from the tables, under ``root``."""
        return self.root / absolute.lstrip("/")

    def problem(self, where: Path | str, message: str) -> None:
        self.result.problems.append(Problem(str(where), message))

    def watch(self, path: Path) -> None:
        """Record a path whose change (or appearance) changes what this reader returns."""
        if path not in self.watched:
            self.watched.add(path)
            self.result.inputs.append(path)

    # --- trust ----------------------------------------------------------------------------

    def read_trusted(self) -> None:
        env_file, env_dirs = self._environment()
        if env_file is not None:
            self.result.named_inputs.append(env_file)
            self.watch(env_file)  # one created later must bring a full run
            self._read_anchor_file(env_file, "SSL_CERT_FILE", required=True)
        elif self.options.environ.get("SSL_CERT_FILE") != "":
            self._read_first_bundle()
        if env_dirs is not None:
            for folder in env_dirs:
                self.result.named_inputs.append(folder)
                self._read_hashed_folder(folder, "SSL_CERT_DIR", required=True, named=True)
        else:
            for folder in self._default_folders():
                self._read_hashed_folder(folder, "hashed folder", required=False)
        self._report_empty_store(env_file, env_dirs)

    def _environment(self) -> tuple[Path | None, list[Path] | None]:
        """SSL_CERT_FILE and SSL_CERT_DIR as OpenSSL reads them, minus our own output.

        None means "not set": the default for that one still applies, as in OpenSSL.
        """
        environ = self.options.environ
        file_value = environ.get("SSL_CERT_FILE", "")
        dir_value = environ.get("SSL_CERT_DIR")
        env_file = Path(file_value) if file_value else None
        # OpenSSL and Go split SSL_CERT_DIR on ":"; an empty part names no folder. Set but
        # empty, either variable means none for OpenSSL, not the default: so here too.
        env_dirs = None if dir_value is None else [Path(p) for p in dir_value.split(":") if p]
        for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            if environ.get(variable) == "":
                self.result.notes.append(
                    f"{variable} is set but empty: OpenSSL then reads no CA "
                    f"{'file' if variable == 'SSL_CERT_FILE' else 'folder'}, not even the "
                    "default one, and neither does this tool (unset it to read the default)"
                )
        if env_file is not None and self._is_own_output(env_file):
            self._note_own_output("SSL_CERT_FILE", file_value)
            env_file = None
        if env_dirs is not None and any(map(self._is_own_output, env_dirs)):
            self._note_own_output("SSL_CERT_DIR", dir_value or "")
            env_dirs = None
        if file_value or dir_value:
            self.result.notes.append(_honoured_note(env_file, env_dirs))
        return env_file, env_dirs

    def _note_own_output(self, variable: str, value: str) -> None:
        self.result.notes.append(
            f"{variable}={value} is a bundle this tool wrote: ignored, or each run would "
            "feed on the last (the default store is read instead)"
        )

    def _is_own_output(self, path: Path) -> bool:
        """Our bundle, by path or identity, or any file that starts with our marker."""
        if _resolved(path) in self.own_paths or _file_key(path) in self.own_files:
            return True
        if not path.is_file():
            return False  # a FIFO would block the open; a folder is never our bundle
        try:
            with path.open("rb") as handle:
                return handle.read(len(BUNDLE_MARKER)) == BUNDLE_MARKER
        except OSError:
            return False

    def _read_first_bundle(self) -> None:
        for path, reason in self._bundle_candidates():
            self.watch(path)  # one appearing before the one read would replace it
            if self._read_anchor_file(path, reason, required=False):
                return

    def _bundle_candidates(self) -> list[tuple[Path, str]]:
        candidates = [(self.live(p), "p11-kit server-auth anchors") for p in P11KIT_ANCHOR_BUNDLES]
        candidates += [(self.live(p), "distro bundle") for p in DISTRO_BUNDLES]
        if self.root == _LIVE_ROOT:
            default = openssl.default_file()
            if default:
                candidates.append((Path(default), "OpenSSL's default file"))
        return candidates

    def _default_folders(self) -> list[Path]:
        folders = [self.live(p) for p in HASHED_FOLDERS]
        if self.root == _LIVE_ROOT:
            default = openssl.default_folder()
            if default:
                folders.append(Path(default))
        return folders

    def _read_anchor_file(self, path: Path, reason: str, *, required: bool) -> bool:
        """Read one bundle; False if there was nothing usable, so the next may be tried."""
        info = self._stat_file(path, required=required)
        if info is None:
            return False
        self.watch(path)
        self.store_found = True
        parsed = self._read_once(path, info)
        if parsed is None:
            return False
        self._add_anchors(parsed, str(path), reason)
        return True

    def _read_hashed_folder(
        self, folder: Path, reason: str, *, required: bool, named: bool = False
    ) -> None:
        names = self._list_folder(folder, required=required)
        if names is None:
            return
        self.store_found = True
        misnamed: dict[tuple[int, int], tuple[Path, list[Parsed]]] = {}
        for name in names:
            if not _HASH_NAME.match(name):
                continue
            path = folder / name
            self.watch(path)
            if named:
                self.result.named_inputs.append(path)
            info = self._stat_file(path, required=True)
            if info is None:
                continue
            parsed = self._read_once(path, info)
            # Checked only for what would be new: a root the bundle file gave already gains
            # nothing (Debian's folder repeats its bundle, and hashing each name is 2 ms).
            if parsed and self._adds_roots(parsed) and not _found_under(name, parsed):
                # Not opened under this name, but maybe under another: p11-kit and SUSE's
                # c_rehash link each file under OpenSSL's old hash too (extract-openssl.c:
                # "output both"). Read again under the right name, if there is one.
                key = (info.st_dev, info.st_ino)
                self.files_read.discard(key)
                misnamed.setdefault(key, (path, parsed))
                continue
            if parsed is not None:
                self._add_anchors(parsed, str(path), reason)
        for key, (path, parsed) in misnamed.items():
            if key in self.files_read:
                continue  # read under its right name
            hashes = ", ".join(sorted({_subject_hash(item) for item in parsed}))
            self.problem(
                path,
                f"skipped: OpenSSL looks this certificate up under {hashes}.N, so it never "
                f"opens {path.name}; run 'sudo update-ca-certificates' (or c_rehash) to "
                "rename it",
            )

    def _adds_roots(self, parsed: list[Parsed]) -> bool:
        return any((item.certificate.sha256, Verdict.TRUST) not in self.trusted for item in parsed)

    def _list_folder(self, folder: Path, *, required: bool) -> list[str] | None:
        """The sorted names in a folder not read yet; None if it is missing or unusable."""
        self.watch(folder)  # watched while absent too: one created later changes the store
        try:
            info = folder.stat()
        except FileNotFoundError:
            if required or folder.is_symlink():
                self.problem(folder, _missing_message(folder, "folder"))
            return None
        except OSError as exc:
            self.problem(folder, f"skipped: {_os_reason(exc)}")
            return None
        self.watch(folder)
        if not stat.S_ISDIR(info.st_mode):
            self.problem(folder, "skipped: a file where a certificate folder was expected")
            return None
        key = (info.st_dev, info.st_ino)
        if key in self.folders_read:
            return None  # e.g. /usr/lib/ssl/certs -> /etc/ssl/certs
        self.folders_read.add(key)
        try:
            return sorted(entry.name for entry in folder.iterdir())
        except OSError as exc:
            self.problem(folder, f"skipped: cannot list the folder ({_os_reason(exc)})")
            return None

    def _stat_file(self, path: Path, *, required: bool) -> os.stat_result | None:
        """The file's status if it can be read as a certificate file, else None.

        A missing file is a problem only when ``required``; a dangling link always is.
        """
        try:
            info = path.stat()
        except FileNotFoundError:
            if required or path.is_symlink():
                self.problem(path, _missing_message(path, "file"))
            return None
        except OSError as exc:
            self.problem(path, f"skipped: {_os_reason(exc)}")
            return None
        if stat.S_ISDIR(info.st_mode):
            self.problem(path, "skipped: a folder where a certificate file was expected")
            return None
        if not stat.S_ISREG(info.st_mode):
            # A FIFO or a device would block or never end; OpenSSL has no use for them.
            self.problem(path, "skipped: not a regular file")
            return None
        return info

    def _read_once(self, path: Path, info: os.stat_result) -> list[Parsed] | None:
        """Parse an anchor file not read before (links and bundles share files).

        PEM only: OpenSSL reads bundles and hashed folders as PEM, so raw DER there is
        not a certificate to it either.
        """
        key = (info.st_dev, info.st_ino)
        if key in self.files_read:
            return []
        self.files_read.add(key)
        if key in self.own_files:
            self.result.notes.append(f"{path} is a bundle this tool wrote: not read")
            return None
        return self._parse_file(path, allow_der=False, refuse_own=True)

    def _parse_file(self, path: Path, *, allow_der: bool, refuse_own: bool) -> list[Parsed] | None:
        try:
            data = read_bytes(path)
        except OSError as exc:
            self.problem(path, f"skipped: cannot read ({_os_reason(exc)})")
            return None
        if refuse_own and data.startswith(BUNDLE_MARKER):
            self.result.notes.append(f"{path} is a bundle this tool wrote: not read")
            return None
        if not data.strip():
            self.problem(path, "skipped: empty file")
            return None
        parsed, problems = parse_bytes(data, str(path), allow_der=allow_der)
        self.result.problems.extend(problems)
        return parsed

    def _add_anchors(self, parsed: Iterable[Parsed], source: str, reason: str) -> None:
        for item in parsed:
            candidate = _anchor_candidate(item, source, reason)
            if candidate is None:
                continue
            key = (candidate.certificate.sha256, candidate.verdict)
            if key not in self.trusted:  # the bundle and the folders repeat each other
                self.trusted.add(key)
                self.result.candidates.append(candidate)

    def _report_empty_store(self, env_file: Path | None, env_dirs: list[Path] | None) -> None:
        if not self.store_found:
            files = "SSL_CERT_FILE" if env_file is not None else "the known bundle files"
            folders = "SSL_CERT_DIR" if env_dirs is not None else "the known certificate folders"
            self.problem(
                "linux trust store",
                f"no trust store found: nothing readable in {files} or {folders} "
                "(is the ca-certificates package installed?)",
            )
        elif not any(c.verdict is Verdict.TRUST for c in self.result.candidates):
            self.problem("linux trust store", "the trust store holds no trusted certificate")

    # --- roots waiting for the distro's tool ---------------------------------------------

    def report_pending(self) -> None:
        """A problem for each root in an admin's anchor folder that the store lacks."""
        environ = self.options.environ
        if "SSL_CERT_FILE" in environ or "SSL_CERT_DIR" in environ:
            return  # the store read is not the distro's: its tool would change nothing here
        stored = {c.certificate.sha256 for c in self.result.candidates}
        for folder_name, tool in PENDING_ANCHOR_FOLDERS:
            for path in _files_below(self.live(folder_name), self.watch):
                self._report_if_pending(path, folder_name, tool, stored)

    def _report_if_pending(self, path: Path, folder: str, tool: str, stored: set[str]) -> None:
        try:
            data = read_bytes(path)
        except OSError:
            return  # the tool cannot read it either; nothing to tell that it would not
        parsed, problems = parse_bytes(data, str(path))
        if not parsed:
            if problems:  # the distro's tool copies it into the store file all the same
                why = problems[0].message.removeprefix("skipped: ")
                self.problem(path, f"no root the trust store can take: {why}")
            return
        missing = [item for item in parsed if item.certificate.sha256 not in stored]
        if not missing:
            return
        label = missing[0].certificate.label
        purposes = _other_purposes_only(missing[0])
        if purposes:
            # The distro's tool took it, for those purposes: no TLS store holds it, ever.
            self.problem(
                path,
                f"not a root for TLS servers ({label}): it is trusted only for {purposes}, "
                "so the OS does not use it for TLS, and neither does the bundle",
            )
            return
        if folder == _DEBIAN_LOCAL and b"-----BEGIN" not in data:
            # Debian's tool takes PEM only: it copies DER bytes into the store file, where
            # no reader finds a certificate, so running it again never helps.
            pem = path.with_suffix(".crt") if path.suffix != ".crt" else path
            self.problem(
                path,
                f"not in the trust store ({label}): it is DER, and update-ca-certificates "
                f"takes only PEM; convert it ('sudo openssl x509 -inform der -in {path} -out "
                f"{pem.with_name(pem.stem + '-pem.crt')}', then remove {path.name}), then run "
                "'sudo update-ca-certificates'",
            )
        elif folder == _DEBIAN_LOCAL and path.suffix != ".crt":
            self.problem(
                path,
                f"not in the trust store ({label}): update-ca-certificates reads only *.crt "
                f"files; rename it to {path.with_suffix('.crt').name}, then run "
                "'sudo update-ca-certificates'",
            )
        else:
            self.problem(
                path,
                f"not in the trust store yet ({label}): run 'sudo {tool}' to add it; until "
                "then the OS does not trust it, and neither does the bundle",
            )

    # --- distrust -------------------------------------------------------------------------

    def read_distrusted(self) -> None:
        for name in P11KIT_TRUST_DECISIONS:
            self._read_trust_decisions(self.live(name))
        for name in BLOCKLIST_FOLDERS:
            self._read_blocklist(self.live(name))
        self._read_debian_deselections()

    def _read_trust_decisions(self, path: Path) -> None:
        """Distrust what p11-kit rejected for serverAuth; nothing here is read as an anchor.

        p11-kit writes a blocklisted certificate with no trust list and every known purpose
        rejected, and a non-anchor with an empty trust list and no rejects (trust/
        extract-openssl.c, write_trust_and_rejects). So the rejects mean distrust here, and
        a trust list without serverAuth (an anchor for e-mail only), but an empty one not.
        """
        self.watch(path)
        if self._stat_file(path, required=False) is None:
            return
        for item in self._parse_file(path, allow_der=False, refuse_own=False) or []:
            rejected = _rejected_purposes(item.aux)
            if rejected:
                self._distrust(item, str(path), f"p11-kit: rejected for {rejected}")
            elif (
                item.aux is not None
                and item.aux.trust
                and not (item.aux.trust & SERVER_AUTH_PURPOSES)
            ):
                # An anchor for other purposes only (e-mail): p11-kit keeps it out of the
                # TLS bundle, and OpenSSL rejects it for TLS servers; certifi's copy goes too.
                why = f"p11-kit: trusted only for {_only_for(item.aux)}"
                self._distrust(item, str(path), why, match_key=False)

    def _read_blocklist(self, folder: Path) -> None:
        """Every file in a blocklist folder, PEM or DER, as p11-kit loads it."""
        self.watch(folder)  # one created later (blocklist entries, too) must trigger a run
        for name in self._list_folder(folder, required=False) or []:
            path = folder / name
            if path.is_dir():
                continue  # p11-kit skips subfolders of a blocklist too (trust/token.c)
            self.watch(path)
            if self._stat_file(path, required=True) is None:
                continue
            for item in self._parse_file(path, allow_der=True, refuse_own=False) or []:
                self._distrust(item, str(path), "p11-kit blocklist")

    def _read_debian_deselections(self) -> None:
        """Distrust each ``!name`` of /etc/ca-certificates.conf, so certifi cannot re-add it."""
        conf = self.live(DEBIAN_CONF)
        self.watch(conf)
        if self._stat_file(conf, required=False) is None:
            return
        try:
            text = conf.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            self.problem(conf, f"skipped: cannot read ({_os_reason(exc)})")
            return
        share = self.live(DEBIAN_SHARE)
        lines = text.splitlines()
        # update-ca-certificates removes the "!" ones first, then adds every plain line and
        # every local *.crt: a certificate added back that way stays in the store.
        selected = {line.strip() for line in lines if line.strip()[:1] not in ("", "!", "#")}
        local: set[str] | None = None
        for name in _deselected_names(lines):
            if name in selected:
                continue  # "name" and "!name" both: added back after the removal
            relative = PurePosixPath(name)
            if relative.is_absolute() or ".." in relative.parts:
                self.problem(conf, f"skipped !{name}: not a path under {DEBIAN_SHARE}")
                continue
            path = share / relative
            self.watch(path)
            if self._stat_file(path, required=False) is None:
                continue  # deselected and removed: certifi may still have it, nothing to match
            reason = f"deselected in {DEBIAN_CONF} (!{name})"
            for item in self._parse_file(path, allow_der=False, refuse_own=False) or []:
                if local is None:
                    local = self._debian_local_certificates()
                if item.certificate.sha256 in local:
                    continue  # the admin installed it again as a local root
                # Exactly that certificate: update-ca-certificates leaves out the one file,
                # and a renewed root with the same key (Firmaprofesional's) stays trusted.
                self._distrust(item, str(path), reason, match_key=False)

    def _debian_local_certificates(self) -> set[str]:
        """What update-ca-certificates adds from the admin's folder: each *.crt below it."""
        found: set[str] = set()
        for path in _files_below(self.live(_DEBIAN_LOCAL), self.watch):
            if path.suffix == ".crt":
                found.update(item.certificate.sha256 for item in parse_file_quietly(path))
        return found

    def _distrust(self, item: Parsed, source: str, reason: str, *, match_key: bool = True) -> None:
        """``match_key``: p11-kit's rule, a distrust also covers the same key and the same
        issuer+serial."""
        self.result.candidates.append(
            Candidate(item.certificate, Verdict.DISTRUST, source, reason, match_key=match_key)
        )


# --- Pure helpers -------------------------------------------------------------------------


def _files_below(folder: Path, watch: Callable[[Path], None]) -> list[Path]:
    """The regular files in ``folder`` and its subfolders, sorted; none if it is absent.
    Links are followed, as the distro tools follow them, but a folder is entered once.
    ``folder``, each subfolder and each file are watched: one added, removed or rewritten
    anywhere below changes what the caller finds."""
    watch(folder)
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for top, folders, names in os.walk(folder, followlinks=True):
        here = Path(top)
        try:
            info = here.stat()
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in seen:
            folders.clear()  # a link loop
            continue
        seen.add((info.st_dev, info.st_ino))
        folders.sort()
        watch(here)
        files = [here / name for name in sorted(names) if (here / name).is_file()]
        for path in files:
            watch(path)
        found.extend(files)
    return found


def _anchor_candidate(item: Parsed, source: str, reason: str) -> Candidate | None:
    """A certificate found where anchors live, decided by its OpenSSL trust flags if any."""
    if item.aux is None:
        cert = item.certificate
        if cert.is_ca and cert.fields.subject_der != cert.fields.issuer_der:
            # Not self-issued: an intermediate. It stays out unless asked for and chaining to
            # a root, since with partial-chain checks (Python 3.13+, curl) it would become an
            # anchor of its own (DESIGN.md).
            return Candidate(cert, Verdict.INTERMEDIATE, source, f"{reason}, an intermediate")
        return Candidate(cert, Verdict.TRUST, source, reason)
    verdict = aux_verdict(item.certificate, item.aux)
    if verdict is None:
        return None  # no trust flags, and not self-signed: OpenSSL's compat rule says nothing
    rejected = _rejected_purposes(item.aux)
    if rejected:
        why, match_key = f"OpenSSL trust flags reject {rejected}", True
    elif verdict is Verdict.DISTRUST and item.aux.trust:
        # Trusted only for other purposes: OpenSSL rejects it for TLS servers. An exact
        # match only, as for an empty list.
        why, match_key = f"OpenSSL trust flags trust it only for {_only_for(item.aux)}", False
    elif verdict is Verdict.DISTRUST:
        # An empty trust list: OpenSSL refuses this certificate as an anchor, and p11-kit
        # reads it as distrust. It is also how p11-kit writes a mere non-anchor, so it must
        # not spread to other certificates with the same key: match the exact DER only.
        why, match_key = "OpenSSL trust flags trust it for nothing", False
    elif item.aux.trust is None:
        why, match_key = "self-signed, no OpenSSL trust flags", False
    else:
        why, match_key = "OpenSSL trust flags allow serverAuth", False
    return Candidate(item.certificate, verdict, source, f"{reason}, {why}", match_key=match_key)


_PURPOSE_NAMES = {
    SERVER_AUTH: "serverAuth",
    ANY_EKU: "anyExtendedKeyUsage",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
}


def _subject_hash(item: Parsed) -> str:
    return x509der.subject_hash(item.certificate.fields.subject_der)


def _found_under(name: str, parsed: list[Parsed]) -> bool:
    """Whether OpenSSL opens a hashed folder's file named ``name`` (``<hash>.<n>``) at all:
    only a lookup of a subject with that hash does, and then it loads all the file holds."""
    prefix = name.partition(".")[0]
    return any(_subject_hash(item) == prefix for item in parsed)


def parse_file_quietly(path: Path) -> list[Parsed]:
    """The certificates of a file, or none if it cannot be read (its problems are another
    reader's to report)."""
    try:
        data = read_bytes(path)
    except OSError:
        return []
    return parse_bytes(data, str(path))[0]


def _other_purposes_only(item: Parsed) -> str:
    """The purposes a certificate is limited to, by its extendedKeyUsage or its OpenSSL
    trust list, if serverAuth is not among them ("" if it may serve TLS servers)."""
    usage = item.certificate.extended_key_usage
    if usage is not None and not usage & SERVER_AUTH_PURPOSES:
        return " and ".join(_PURPOSE_NAMES.get(oid, oid) for oid in sorted(usage)) or "nothing"
    if item.aux is not None and item.aux.trust and not item.aux.trust & SERVER_AUTH_PURPOSES:
        return _only_for(item.aux)
    return ""


def _only_for(aux: AuxTrust) -> str:
    """The purposes a trust list names, by name."""
    return " and ".join(_PURPOSE_NAMES.get(oid, oid) for oid in sorted(aux.trust or ()))


def _rejected_purposes(aux: AuxTrust | None) -> str:
    """The server-auth purposes an entry rejects, by name ("" if none)."""
    if aux is None or aux.reject is None:
        return ""
    return " and ".join(
        _PURPOSE_NAMES.get(oid, oid) for oid in sorted(aux.reject & SERVER_AUTH_PURPOSES)
    )


def _deselected_names(lines: Sequence[str]) -> list[str]:
    """The names after ``!`` in ca-certificates.conf, as update-ca-certificates reads them."""
    return [line[1:].strip() for line in lines if line.startswith("!") and line[1:].strip()]


def _honoured_note(env_file: Path | None, env_dirs: list[Path] | None) -> str:
    if env_file is not None and env_dirs is not None:
        return "honoured SSL_CERT_FILE and SSL_CERT_DIR, as OpenSSL reads them"
    if env_file is not None:
        return "honoured SSL_CERT_FILE, as OpenSSL reads it (the default folders still count)"
    if env_dirs is not None:
        return "honoured SSL_CERT_DIR, as OpenSSL reads it (the default bundle still counts)"
    return "honoured neither SSL_CERT_FILE nor SSL_CERT_DIR: the default store was read"


def _missing_message(path: Path, kind: str) -> str:
    if path.is_symlink():
        try:
            target = str(path.readlink())
        except OSError:
            target = "?"
        return f"skipped: dangling symlink (to {target})"
    return f"skipped: no such {kind}"


def _os_reason(exc: OSError) -> str:
    """A short reason for an OSError, in the words a user searches for."""
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)


def _file_key(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop on older Pythons
        return path.absolute()
