#!/usr/bin/env python3
"""Benchmark build-ca-bundle against p11-kit's `trust extract`, side by side, as ratios.

    python scripts/bench.py                  # all scenarios, 15 rounds each
    python scripts/bench.py --rounds 5 --scale 1000

Scenarios (each tool runs alternately with the reference, after a warm-up round):
  unchanged  bundle current and pip set: ours decides from its manifest
  full       no bundle yet: ours reads the store and certifi, writes bundle and pip.conf
  rebuild    bundle current, then one root added or removed (an --extra-ca file that changes
             every round): a full run, but the blocks the last bundle loaded with are not
             loaded in ssl again
  scale      synthetic stores of N CA certificates, laid out as Debian's (a bundle file and
             a hashed folder, each cert its own key, SKI/AKI): ours (full run, then rebuilds
             with one root more or less) against a plain script that parses the same store
             with `cryptography`, deduplicates and writes it

The reference is p11-kit's `trust extract --format=pem-bundle --filter=ca-anchors
--purpose=server-auth OUT` over this machine's store (Debian: apt-get install p11-kit
p11-kit-modules). Without it the ratios that need it are skipped, and the script says so.
Needs only the project's own dependencies. Prints medians with the rounds' min-max, peak
memory, and ratios: the median of each round's ratio (our run against the reference run of
the same round; which of the two runs first alternates from round to round).

Peak memory comes from separate runs under GNU ``/usr/bin/time -f %M``, never from the timed
runs: Python spawns with vfork, so a child's ``ru_maxrss`` includes this process's own peak,
and time's own fork and exec must not be in the wall times. Without /usr/bin/time the figure
is the timed runs' ``ru_maxrss``: an upper bound that includes this benchmark's own peak.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from build_ca_bundle.quick import RELEVANT_PREFIXES, RELEVANT_VARIABLES

# Everything the tool reads from the environment, so the caller's settings cannot leak into
# either scenario: quick.py's lists (which decide the fast path), the variables `env`
# configures, and the CI markers whose files a run writes to. PATH stays: tools are found on it.
CLEARED_PREFIXES = (
    *RELEVANT_PREFIXES,
    *("SSL_CERT_", "REQUESTS_CA", "CURL_CA", "XDG_", "BUILD_CA_BUNDLE", "CI_"),
)
CLEARED_NAMES = frozenset(RELEVANT_VARIABLES) | {
    *("AWS_CA_BUNDLE", "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS", "CONDARC", "POETRY_CONFIG_DIR"),
    *("GITHUB_ACTIONS", "GITHUB_ENV", "GITLAB_CI", "TF_BUILD", "CIRCLECI", "BASH_ENV"),
}

# OpenSSL's hashed-folder names (c_rehash): only these are opened.
HASH_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")

# Read by every run whatever HOME says (pip appends /etc/pip.conf; the machine policy):
# the benchmark cannot isolate them, so it says when they exist.
GLOBAL_FILES = ("/etc/pip.conf", "/etc/build-ca-bundle/policy.toml")
# Read only when XDG_CONFIG_DIRS is unset; the benchmark points it into its own HOME.
SHADOWED_FILES = ("/etc/xdg/pip/pip.conf",)

# Reads what ours reads: certifi's cacert.pem (ours merges it), the store's SSL_CERT_FILE and
# every <hash>.N entry of its SSL_CERT_DIR, deduplicated across all (argv: bundle, folder,
# output).
BASELINE = r"""
import hashlib, os, re, sys
import certifi
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
folder = sys.argv[2]
names = sorted(n for n in os.listdir(folder) if re.fullmatch(r"[0-9a-f]{8}\.[0-9]+", n))
files = [certifi.where(), sys.argv[1], *(os.path.join(folder, name) for name in names)]
seen, out = set(), []
for data in (open(path, "rb").read() for path in files):
    for block in data.split(b"-----END CERTIFICATE-----")[:-1]:
        pem = block[block.index(b"-----BEGIN CERTIFICATE-----"):] + b"-----END CERTIFICATE-----\n"
        cert = x509.load_pem_x509_certificate(pem)
        der = cert.public_bytes(Encoding.DER)
        digest = hashlib.sha256(der).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out.append(cert.public_bytes(Encoding.PEM))
open(sys.argv[3], "wb").write(b"".join(out))
"""


def timed(command: Sequence[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and ``ru_maxrss`` (KiB) of one run. That maxrss includes this process's
    own peak (vfork: the child starts in our address space), so it is an upper bound only."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {stderr}")
    return elapsed, usage.ru_maxrss


GNU_TIME = "/usr/bin/time"


def memory_meter() -> str | None:
    """GNU time, if it is there and answers ``-f %M``: its forked child starts from time's
    small address space, so %M is the tool's own peak (BSD time has no -f)."""
    if not Path(GNU_TIME).exists():
        return None
    with tempfile.NamedTemporaryFile() as out:
        result = subprocess.run(
            [GNU_TIME, "-f", "%M", "-o", out.name, "/bin/true"], capture_output=True, check=False
        )
        return GNU_TIME if result.returncode == 0 and out.read().strip().isdigit() else None


def peak_kib(command: Sequence[str], env: dict[str, str], meter: str) -> int:
    """Peak resident memory (KiB) of one run under GNU time."""
    with tempfile.NamedTemporaryFile() as out:
        result = subprocess.run(
            [meter, "-f", "%M", "-o", out.name, *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        if result.returncode != 0:
            said = result.stderr.decode(errors="replace")
            raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {said}")
        # time writes "Command exited with non-zero status" first on failure: last line.
        return int(out.read().decode().split()[-1])


def _nothing() -> None:
    """No setup."""


@dataclass
class Scenario:
    """A command and what must hold before each run of it (done untimed, by ``setup``)."""

    command: list[str]
    env: dict[str, str]
    setup: Callable[[], None] = field(default=_nothing)

    def wall(self) -> tuple[float, int]:
        self.setup()
        return timed(self.command, self.env)

    def peak(self, meter: str) -> int:
        self.setup()
        return peak_kib(self.command, self.env, meter)


@dataclass
class Samples:
    """Our wall times, the reference's (same rounds), and our peak memory."""

    mine: list[float]
    theirs: list[float]
    peak: int  # KiB
    exact: bool  # False: ru_maxrss of the timed runs, an upper bound


def alternate(
    rounds: int, ours: Scenario, reference: Scenario | None, meter: str | None
) -> Samples:
    ours.wall(), reference.wall() if reference else None  # warm-up: caches, .pyc files
    mine, maxrss, theirs = [], [], []
    for number in range(rounds):
        # Who goes first alternates: the second run of a round may find caches the first
        # warmed, or a CPU the first heated; neither side should always get that.
        if reference is not None and number % 2:
            theirs.append(reference.wall()[0])
        seconds, peak = ours.wall()
        mine.append(seconds)
        maxrss.append(peak)
        if reference is not None and not number % 2:
            theirs.append(reference.wall()[0])
    if meter is None:
        return Samples(mine, theirs, max(maxrss), exact=False)
    # Separate runs: the memory meter's own fork and exec stay out of the wall times.
    peak = max(ours.peak(meter) for _ in range(min(3, rounds)))
    return Samples(mine, theirs, peak, exact=True)


def cleared(name: str) -> bool:
    upper = name.upper()  # Windows names are case-blind; the tool compares them upper-cased
    return name in CLEARED_NAMES or upper in CLEARED_NAMES or upper.startswith(CLEARED_PREFIXES)


def environment(home: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not cleared(name)}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CONFIG_DIRS=str(home / "etc-xdg"),
    )
    return env


def require_absent(*paths: Path) -> None:
    """A full run must start from nothing: fail loudly if a setup left something behind."""
    left = [str(path) for path in paths if path.exists()]
    if left:
        raise SystemExit(f"a full run would not start from nothing: {', '.join(left)} exist")


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """mtime (ns) and size of everything below ``root``, folders too (a file made and
    removed again changes its folder's mtime)."""
    found = {}
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        found[str(path)] = (info.st_mtime_ns, info.st_size)
    return found


def check_fast_path(tool: list[str], env: dict[str, str], home: Path, files: list[Path]) -> None:
    """Run the unchanged scenario once, not quiet, and fail loudly unless it says "bundle
    unchanged" and touches nothing: otherwise we would time some other path."""
    require_present = [str(path) for path in files if not path.is_file()]
    if require_present:
        raise SystemExit(f"unchanged: missing before the run: {', '.join(require_present)}")
    loud = [arg for arg in tool if arg not in {"--quiet", "-q"}]
    before = snapshot(home)
    result = subprocess.run(loud, env=env, capture_output=True, text=True, check=False)
    after = snapshot(home)
    changed = sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
    said = result.stdout + result.stderr
    if result.returncode != 0 or "bundle unchanged" not in said or changed:
        raise SystemExit(
            f"unchanged: not the fast path (exit {result.returncode}; changed: "
            f"{', '.join(changed) or 'nothing'}); it printed:\n{said}"
        )
    print("unchanged: checked: it printed 'bundle unchanged' and touched no file")


def paired_ratio(samples: Samples) -> float:
    """The median of each round's ours/reference ratio."""
    pairs = zip(samples.mine, samples.theirs, strict=True)
    return statistics.median(ours / reference for ours, reference in pairs)


def spread(seconds: list[float]) -> str:
    """Median and min-max in ms: how far apart the rounds were."""
    low, high = min(seconds) * 1000, max(seconds) * 1000
    digits = 1 if high < 100 else 0  # p11-kit's few ms need the tenths
    return f"{statistics.median(seconds) * 1000:7.1f} ms ({low:.{digits}f}-{high:.{digits}f})"


def report(name: str, samples: Samples, what: str) -> None:
    bound = "" if samples.exact else "<="  # an upper bound: includes this process's peak
    line = f"{name:10} ours {spread(samples.mine)}  peak {bound}{samples.peak / 1024:5.1f} MiB"
    if samples.theirs:
        # Each of our runs is paired with the reference run of its round: the median of
        # those ratios is steadier on a noisy machine than a ratio of medians.
        line += f"  {what} {spread(samples.theirs)}  ratio {paired_ratio(samples):4.2f}x"
    print(line, flush=True)


def make_store(folder: Path, count: int) -> Path:
    """A store laid out as Debian's /etc/ssl/certs: ``ca-certificates.crt`` with ``count``
    self-signed CA certificates, and beside it one ``.pem`` file per certificate with a
    ``<subject_hash>.N`` link to it, as c_rehash and update-ca-certificates make. Returns the
    bundle file. Made in a child process: without GNU time our peak memory is the children's
    ru_maxrss, which counts this process's own peak (vfork), so this process must not grow by
    importing cryptography."""
    subprocess.run([sys.executable, __file__, "--make-store", str(folder), str(count)], check=True)
    return folder / "ca-certificates.crt"


def make_roots(path: Path, count: int, name: str) -> None:
    """A PEM file of ``count`` such certificates, named ``<name> <number>`` (child process)."""
    command = [sys.executable, __file__, "--make-roots", str(path), str(count), name]
    subprocess.run(command, check=True)


def _certificates(count: int, name: str) -> list[bytes]:
    """PEM certificates shaped like a distro's roots: each its own key (EC P-256 keygen costs
    ~20 us, less than signing), SKI, AKI = SKI, CA:TRUE and keyCertSign/cRLSign."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    pems = []
    for number in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "XX"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "build-ca-bundle bench"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{name} {number}"),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        pems.append(cert.public_bytes(Encoding.PEM))
    return pems


def _make_store_here(folder: Path, count: int) -> None:
    """:func:`make_store`'s work."""
    from cryptography import x509

    from build_ca_bundle.x509der import subject_hash

    folder.mkdir(parents=True, exist_ok=True)
    pems = _certificates(count, "Synthetic Root")
    (folder / "ca-certificates.crt").write_bytes(b"".join(pems))
    for number, pem in enumerate(pems):
        single = folder / f"Synthetic_Root_{number}.pem"
        single.write_bytes(pem)
        digest = subject_hash(x509.load_pem_x509_certificate(pem).subject.public_bytes())
        suffix = 0
        while (folder / f"{digest}.{suffix}").is_symlink():  # same hash: next number
            suffix += 1
        (folder / f"{digest}.{suffix}").symlink_to(single.name)


def compile_package() -> None:
    """Byte-compile the tool, as pip does when it installs it. A checkout run with
    PYTHONDONTWRITEBYTECODE (set on some machines) would otherwise compile every module on
    every run and measure the compiler, not the tool."""
    import compileall

    import build_ca_bundle

    compileall.compile_dir(Path(build_ca_bundle.__file__).parent, quiet=1)
    print("bytecode: compiled (as pip does at install)")


def tool_command() -> list[str]:
    """The console script, as users and logon scripts run it (``python -m`` adds runpy)."""
    script = Path(sys.executable).with_name("build-ca-bundle")
    tool = [str(script)] if script.exists() else [sys.executable, "-m", "build_ca_bundle"]
    return [*tool, "--no-verify", "--quiet"]


CHECK = r"""
import sys, time
from pathlib import Path
from build_ca_bundle import bundle
path = Path(sys.argv[1])
content = path.read_bytes()
start = time.perf_counter()
bundle._check_loads(content, path)
print((time.perf_counter() - start) * 1000)
"""


def check_cost(bundle: Path, env: dict[str, str]) -> float:
    """Milliseconds our load check takes over ``bundle`` in a fresh process, as in a run."""
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(bundle)], env=env, capture_output=True, check=True
    )
    return float(result.stdout)


def flipper(path: Path, extra: Path) -> Callable[[], None]:
    """Each call adds one root to the file at ``path`` or takes it away again."""
    make_roots(extra, 1, "One More Root")
    without = path.read_bytes()
    with_extra = without + extra.read_bytes()
    state = {"added": False}

    def flip() -> None:
        state["added"] = not state["added"]
        path.write_bytes(with_extra if state["added"] else without)

    return flip


def scale_one(
    tool: list[str], env: dict[str, str], work: Path, size: int, rounds: int, meter: str | None
) -> Samples:
    """Full runs and rebuilds over one synthetic store, each against the plain script.
    Returns the full runs' samples."""
    folder = work / f"store-{size}"
    store = make_store(folder, size)
    scaled_env = dict(env, SSL_CERT_FILE=str(store), SSL_CERT_DIR=str(folder))
    # A folder of its own: the bundle's side files (manifest, extra-roots.pem, locks, ...)
    # are many and named several ways, and a first run must find none of them.
    outputs = work / f"out-{size}"
    output = outputs / "bundle.pem"
    command = [*tool, "--scope", "none", "--output", str(output)]

    def clean() -> None:
        shutil.rmtree(outputs, ignore_errors=True)
        require_absent(outputs)
        outputs.mkdir()

    plain_out = work / "plain.pem"
    baseline = [sys.executable, "-c", BASELINE, str(store), str(folder), str(plain_out)]
    plain = Scenario(baseline, env)
    full = alternate(rounds, Scenario(command, scaled_env, clean), plain, meter)
    report(f"{size:>6}", full, "plain")
    check = check_cost(output, env)
    # The check alone, against the plain script's whole run: the floor of our ratio
    # while the bundle must load in ssl before it replaces the old one.
    floor = check / 1000 / statistics.median(full.theirs)
    print(
        f"{'':10} of which the check that the bundle loads in ssl: {check:.0f} ms "
        f"({floor:.1f}x the plain script's whole run)"
    )

    timed(command, scaled_env)  # the bundle and its proof now exist
    one_more = flipper(store, work / f"one-more-{size}.pem")
    report(
        "   rebuild",
        alternate(rounds, Scenario(command, scaled_env, one_more), plain, meter),
        "plain",
    )
    return full


def linearity(results: dict[int, Samples]) -> None:
    """Least-squares fit of the full runs' medians against store size: the slope is the cost
    per certificate, and each size's distance from the line shows whether growth is linear
    (two points always fit: give three or more)."""
    sizes = sorted(results)
    ours = [statistics.median(results[size].mine) for size in sizes]
    plain = [statistics.median(results[size].theirs) for size in sizes]
    slope, intercept = statistics.linear_regression(sizes, ours)
    plain_slope, plain_intercept = statistics.linear_regression(sizes, plain)
    print("linearity (full runs, medians; ratio: median of paired ratios):")
    print(f"{'size':>8} {'ours ms':>9} {'plain ms':>9} {'ratio':>6} {'off fit':>8}")
    for size, mine, theirs in zip(sizes, ours, plain, strict=True):
        off = mine / (slope * size + intercept) - 1
        ratio = paired_ratio(results[size])
        print(f"{size:8} {mine * 1000:9.1f} {theirs * 1000:9.1f} {ratio:5.2f}x {off:+8.1%}")
    print(
        f"least squares: ours {slope * 1e6:.0f} us/cert + {intercept * 1000:.0f} ms; "
        f"plain {plain_slope * 1e6:.0f} us/cert + {plain_intercept * 1000:.0f} ms"
    )
    if len(sizes) < 3:
        print("(two sizes: any two points fit a line, so this shows nothing of linearity)")


def scale(
    tool: list[str],
    env: dict[str, str],
    work: Path,
    sizes: list[int],
    main_rounds: int,
    meter: str | None,
) -> None:
    """Full runs over synthetic stores of each size, against the plain baseline script."""
    print("scale: ours (full run, --scope none) vs a plain parse-dedupe-write script")
    rounds = max(3, main_rounds // 3)
    results = {size: scale_one(tool, env, work, size, rounds, meter) for size in sizes}
    if len(sizes) >= 2:
        linearity(results)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--scale",
        default="1000,4000,10000",
        help="store sizes, comma-separated (three or more show whether growth is linear)",
    )
    parser.add_argument("--make-store", nargs=2, metavar=("DIR", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--make-roots", nargs=3, help=argparse.SUPPRESS)  # PATH COUNT NAME
    return parser.parse_args()


def child_task(args: argparse.Namespace) -> bool:
    """The certificate-making children (:func:`make_store`, :func:`make_roots`)."""
    if args.make_store:
        _make_store_here(Path(args.make_store[0]), int(args.make_store[1]))
        return True
    if args.make_roots:
        path, count, name = args.make_roots
        Path(path).write_bytes(b"".join(_certificates(int(count), name)))
        return True
    return False


def cpu_model() -> str:
    """The CPU's name as /proc/cpuinfo gives it (x86: model name; Arm: Hardware, Model)."""
    try:
        lines = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    for key in ("model name", "Hardware", "Model", "cpu model", "Processor"):
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or "unknown CPU"


def interpreter(tool: list[str]) -> str:
    """The Python the tool runs on: its console script's #! line, or ours."""
    first = Path(tool[0])
    if first.name.startswith("python") or tool[0] == sys.executable:
        return tool[0]
    line = first.read_bytes().split(b"\n", 1)[0]
    return line[2:].decode().strip() if line.startswith(b"#!") else sys.executable


def interpreter_facts(python: str) -> str:
    """Python and OpenSSL versions of the tool's interpreter (ssl.OPENSSL_VERSION)."""
    code = "import platform, ssl; print(platform.python_version(), ssl.OPENSSL_VERSION, sep=', ')"
    result = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return f"python {result.stdout.strip()} ({python})"


def store_facts() -> str:
    """The real store the machine scenarios read (SSL_CERT_* cleared: the default one), and
    how many roots it holds."""
    if not sys.platform.startswith("linux"):
        return f"store: {sys.platform}'s own (not counted)"
    from build_ca_bundle.sources.linux import DISTRO_BUNDLES, HASHED_FOLDERS, P11KIT_ANCHOR_BUNDLES

    files = [Path(path) for path in (*P11KIT_ANCHOR_BUNDLES, *DISTRO_BUNDLES)]
    bundle = next((path for path in files if path.is_file()), None)
    line = "store: no bundle file"
    if bundle is not None:
        roots = bundle.read_bytes().count(b"-----BEGIN ")  # CERTIFICATE or TRUSTED CERTIFICATE
        line = f"store: {bundle} ({roots} roots)"
    for folder in (Path(path) for path in HASHED_FOLDERS if Path(path).is_dir()):
        links = sum(1 for entry in folder.iterdir() if HASH_NAME.fullmatch(entry.name))
        line += f", {folder} ({links} <hash>.N entries)"
    return line


def p11kit_facts(trust: str | None) -> str:
    """p11-kit's version, from `trust` or the p11-kit command, or that it is absent."""
    for program in (trust, shutil.which("p11-kit")):
        if program is None:
            continue
        result = subprocess.run([program, "--version"], capture_output=True, text=True, check=False)
        if result.returncode == 0 and result.stdout.strip():
            version = result.stdout.strip().splitlines()[0]
            return f"p11-kit: {version}" + ("" if trust else " (but no `trust`)")
    if trust is not None:  # 0.24 (Debian 12) has no --version: the package manager knows
        query = ["dpkg-query", "-W", "-f=${Version}", "p11-kit"]
        found = shutil.which("dpkg-query") and subprocess.run(
            query, capture_output=True, text=True, check=False
        )
        version = found.stdout.strip() if found and found.returncode == 0 else "version unknown"
        return f"p11-kit: {version} ({trust})"
    return "p11-kit: absent"


def commit_facts() -> str:
    """The checkout's commit, if the benchmark runs from one."""
    git = ["git", "-C", str(Path(__file__).resolve().parent)]
    head = [*git, "rev-parse", "--short", "HEAD"]
    result = subprocess.run(head, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return "commit: not a git checkout"
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD"], check=False).returncode
    return f"commit: {result.stdout.strip()}" + (" with uncommitted changes" if dirty else "")


def header(trust: str | None, meter: str | None, tool: list[str]) -> None:
    """The machine facts the README quotes beside the figures, then how this run measures."""
    uname = os.uname()
    system = f"{uname.machine}, {uname.sysname} {uname.release}"
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, {system}")
    print(interpreter_facts(interpreter(tool)))
    print(store_facts())
    print(p11kit_facts(trust))
    print(commit_facts())
    compile_package()
    if trust is None:
        print(
            "p11-kit's `trust` is not installed: ratios against it are skipped "
            "(Debian: apt-get install p11-kit p11-kit-modules)"
        )
    if meter is None:
        print(
            "GNU /usr/bin/time is absent: peak memory (<=) is an upper bound that includes "
            "this benchmark's own peak (vfork)"
        )
    else:
        print(f"peak memory: separate runs under {meter} -f %M")
    print(f"ours: {' '.join(tool)}")
    isolation_notes()


def isolation_notes() -> None:
    """What the benchmark clears, and the machine-wide files it cannot keep out."""
    names = sorted(name for name in os.environ if cleared(name))
    print(f"environment: cleared or replaced {', '.join(names) or 'nothing (none was set)'}")
    for path in GLOBAL_FILES:
        if Path(path).exists():
            print(f"note: {path} exists: every run reads it, in both scenarios")
    for path in SHADOWED_FILES:
        if Path(path).exists():
            print(f"note: {path} exists, unread here: XDG_CONFIG_DIRS points into the bench HOME")


def reference_scenario(trust: str | None, env: dict[str, str], out: Path) -> Scenario | None:
    """p11-kit's extract of this machine's store, or None without p11-kit."""
    if trust is None:
        return None
    options = ["--format=pem-bundle", "--filter=ca-anchors", "--purpose=server-auth"]
    return Scenario([trust, "extract", *options, "--overwrite", str(out)], env)


def machine_store(
    tool: list[str], home: Path, work: Path, ref: Scenario | None, rounds: int, meter: str | None
) -> None:
    """Unchanged, full and rebuild runs over this machine's own store."""
    env = environment(home)
    timed(tool, env)  # the first full run: bundle, pip.conf and manifest now exist
    bundle_dir = home / "data" / "build-ca-bundle"
    bundle = bundle_dir / "ca-bundle.pem"
    pip_conf = home / "config" / "pip" / "pip.conf"
    manifest = bundle.with_name(bundle.name + ".manifest.json")
    check_fast_path(tool, env, home, [bundle, manifest, pip_conf])
    report("unchanged", alternate(rounds, Scenario(tool, env), ref, meter), "p11-kit")

    def no_bundle() -> None:
        shutil.rmtree(bundle_dir, ignore_errors=True)
        pip_conf.unlink(missing_ok=True)
        require_absent(bundle_dir, pip_conf)

    report("full", alternate(rounds, Scenario(tool, env, no_bundle), ref, meter), "p11-kit")

    extra = work / "extra-ca.pem"
    make_roots(extra, 1, "Extra Root")
    with_extra = [*tool, "--extra-ca", str(extra)]
    timed(with_extra, env)  # the bundle and its proof now exist
    rebuild = Scenario(with_extra, env, flipper(extra, work / "another-root.pem"))
    report("rebuild", alternate(rounds, rebuild, ref, meter), "p11-kit")


def main() -> int:
    args = arguments()
    if child_task(args):
        return 0
    trust = shutil.which("trust")
    meter = memory_meter()
    tool = tool_command()
    header(trust, meter, tool)
    with tempfile.TemporaryDirectory(prefix="bcb-bench-") as scratch:
        work = Path(scratch)
        home = work / "home"
        home.mkdir()
        env = environment(home)
        ref = reference_scenario(trust, env, work / "p11kit.pem")
        machine_store(tool, home, work, ref, args.rounds, meter)
        sizes = [int(size) for size in args.scale.split(",") if size]
        scale(tool, env, work, sizes, args.rounds, meter)
    return 0


if __name__ == "__main__":
    sys.exit(main())
