#!/usr/bin/env python3
"""Reliability campaigns: crashes, races and hostile input, with fixed seeds.

    python scripts/reliability.py            # the full campaigns
    python scripts/reliability.py --quick    # the short ones CI runs (tests/test_reliability.py)

One line per campaign: cases tried, failures, files damaged. Expected: 0 failures and 0
damaged files everywhere (the crash campaign's kills are the cases, not failures).

- crash: SIGKILL a real run at a random moment; the bundle must be the old one or the new
  one, complete and loadable by ssl, pip.conf old or new and parseable; a later run cleans
  any temp file the killed one left.
- race: N runs started at once for one user; all exit 0, agree on one bundle, leave one
  `cert` line in pip.conf.
- machine: N runs started at once with `--scope global` (as root, in a private mount
  namespace; see `machine`): all exit 0, one bundle that loads, one `cert` line in
  /etc/pip.conf as the namespace sees it; the machine's real /etc is never written.
- fuzz: random and mutated bytes into the certificate parser: never an exception.
- corpus: every real-world oddity in tests/data through the parser and a real run.
"""

from __future__ import annotations

import argparse
import configparser
import os
import random
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests.pki makes the certificates
sys.path.insert(0, str(REPO / "src"))

CLEARED_PREFIXES = ("PIP_", "SSL_CERT_", "REQUESTS_CA", "CURL_CA", "XDG_", "BUILD_CA_BUNDLE")


@dataclass
class Outcome:
    name: str
    cases: int = 0
    failures: int = 0
    damaged: int = 0
    details: str = ""

    def line(self) -> str:
        return (
            f"{self.name:7} cases {self.cases:5}  failures {self.failures:3}  "
            f"damaged files {self.damaged:3}{('  ' + self.details) if self.details else ''}"
        )


class Home:
    """A private user with a private store (SSL_CERT_FILE), as the CLI tests use."""

    def __init__(self, folder: Path) -> None:
        from tests.pki import make_root

        self.folder = folder
        self.stores = []
        for number in range(2):  # two stores, so consecutive runs write different bundles
            path = folder / f"store-{number}.pem"
            path.write_bytes(make_root(f"Reliability Root {number}").pem)
            self.stores.append(path)
        (folder / "certs").mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED_PREFIXES)}
        self.env.update(
            HOME=str(folder / "home"),
            XDG_DATA_HOME=str(folder / "data"),
            XDG_CONFIG_HOME=str(folder / "config"),
            XDG_CONFIG_DIRS=str(folder / "etc-xdg"),
            SSL_CERT_DIR=str(folder / "certs"),
        )
        self.bundle = folder / "data" / "build-ca-bundle" / "ca-bundle.pem"
        self.pip_conf = folder / "config" / "pip" / "pip.conf"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "build_ca_bundle", "--no-verify", "--quiet"]

    def env_for(self, store: int) -> dict[str, str]:
        return dict(self.env, SSL_CERT_FILE=str(self.stores[store]))


def bundle_ok(path: Path) -> bool:
    """Absent (never written) or complete and loadable."""
    if not path.exists():
        return True
    try:
        data = path.read_bytes()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=data.decode("ascii"))
    except (OSError, ssl.SSLError, ValueError):
        return False
    return data.rstrip().endswith(b"-----END CERTIFICATE-----")


def pip_conf_ok(path: Path) -> bool:
    if not path.exists():
        return True
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(path.read_text())
    except (configparser.Error, UnicodeDecodeError):
        return False
    return True


def crash(cases: int, seed: int, folder: Path) -> Outcome:
    outcome = Outcome("crash")
    rng = random.Random(seed)
    home = Home(folder)
    subprocess.run(home.command(), env=home.env_for(0), check=True)  # an old bundle exists
    for case in range(cases):
        process = subprocess.Popen(home.command(), env=home.env_for((case + 1) % 2))
        time.sleep(rng.uniform(0.0, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait()
        outcome.cases += 1
        if not bundle_ok(home.bundle):
            outcome.damaged += 1
        if not pip_conf_ok(home.pip_conf):
            outcome.damaged += 1
    final = subprocess.run(home.command(), env=home.env_for(0), capture_output=True, check=False)
    if final.returncode != 0:
        outcome.failures += 1
        outcome.details = f"the run after the kills: exit {final.returncode}: {final.stderr!r}"
    folders = (home.bundle.parent, home.pip_conf.parent)
    leftovers = [p for folder in folders for p in folder.iterdir() if p.name.endswith(".tmp")]
    if leftovers:
        outcome.failures += 1
        outcome.details = f"temp files left: {leftovers}"
    return outcome


def run_together(command: list[str], env: dict[str, str], runs: int, outcome: Outcome) -> None:
    """Start ``runs`` copies of ``command`` at once; each one that fails is a failure."""
    processes = [subprocess.Popen(command, env=env, stderr=subprocess.PIPE) for _ in range(runs)]
    for process in processes:
        _, error = process.communicate(timeout=300)
        outcome.cases += 1
        if process.returncode != 0:
            outcome.failures += 1
            outcome.details = error.decode(errors="replace").strip()[:200]


def race(runs: int, folder: Path) -> Outcome:
    outcome = Outcome("race")
    home = Home(folder)
    run_together(home.command(), home.env_for(0), runs, outcome)
    if not bundle_ok(home.bundle):
        outcome.damaged += 1
    text = home.pip_conf.read_text() if home.pip_conf.exists() else ""
    if text.count("cert = ") != 1 or not pip_conf_ok(home.pip_conf):
        outcome.damaged += 1
        outcome.details = f"pip.conf: {text!r}"
    return outcome


# Where the machine campaign's bundle goes, as processes in its namespace see it: under /etc,
# whose overlay keeps every write in the campaign's private folder.
MACHINE_STORE = Path("/etc/bcb-machine-race-store")
MACHINE_BUNDLE = Path("/etc/bcb-machine-race/ca-bundle.pem")


def machine_refusal() -> str | None:
    """Why the machine campaign cannot run here, or None if it can."""
    geteuid = getattr(os, "geteuid", None)  # POSIX only
    if geteuid is None or geteuid() != 0:
        return "needs root (a machine-wide run, in a private mount namespace)"
    for tool in ("unshare", "nsenter", "mount"):
        if shutil.which(tool) is None:
            return f"needs util-linux's {tool}"
    with tempfile.TemporaryDirectory(prefix="bcb-probe-") as scratch:
        upper, work = Path(scratch, "upper"), Path(scratch, "work")
        upper.mkdir()
        work.mkdir()
        probe = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", _overlay(upper, work)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    if probe.returncode != 0:
        return f"unshare -m or an overlay mount on /etc was refused: {probe.stderr.strip()}"
    return None


def _overlay(upper: Path, work: Path) -> str:
    return f"mount -t overlay overlay -o 'lowerdir=/etc,upperdir={upper},workdir={work}' /etc"


def machine(runs: int, folder: Path) -> Outcome:
    """N machine-wide runs (``--scope global``) started at once, as root.

    Isolation: the machine-wide pip file is always ``/etc/pip.conf`` on Linux (pip appends
    /etc after XDG_CONFIG_DIRS, and ``--scope global`` writes the last global file), so no
    variable can move it. The runs therefore share one private mount namespace
    (``unshare -m``, kept alive by a sleeping shell that each run joins with ``nsenter``) in
    which /etc is an overlay: reads see the real /etc, every write lands in
    ``folder/etc-upper``. The bundle goes to ``--output /etc/bcb-machine-race/ca-bundle.pem``,
    physically ``folder/etc-upper/bcb-machine-race``. A folder straight under /tmp or
    /var/tmp cannot serve: those are world-writable (1777), so ``check_machine_path``
    rightly refuses every path below them; here each parent the runs see (/, and /etc,
    which is the overlay's root 0755 upper folder) is root's and 0755.
    """
    outcome = Outcome("machine")
    refusal = machine_refusal()
    if refusal is not None:
        outcome.details = f"skipped: {refusal}"
        return outcome
    home = Home(folder)
    upper, work = folder / "etc-upper", folder / "etc-work"
    upper.mkdir()
    work.mkdir()
    upper.chmod(0o755)
    real_pip_conf = Path("/etc/pip.conf")
    real_before = real_pip_conf.read_bytes() if real_pip_conf.exists() else None
    holder = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         _overlay(upper, work) + " && echo ready && exec sleep 3600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "ready":
            outcome.failures += 1
            outcome.details = f"namespace: {holder.communicate(timeout=30)[1].strip()}"
            return outcome
        enter = ["nsenter", "-t", str(holder.pid), "-m", "--"]
        command = [*enter, *home.command(), "--scope", "global", "--output", str(MACHINE_BUNDLE)]
        run_together(command, _machine_store(home, upper), runs, outcome)
    finally:
        holder.kill()
        holder.communicate(timeout=30)
    _check_machine_files(outcome, home, upper)
    real_after = real_pip_conf.read_bytes() if real_pip_conf.exists() else None
    if real_after != real_before:
        outcome.damaged += 1
        outcome.details = "the machine's real /etc/pip.conf changed"
    return outcome


def _machine_store(home: Home, upper: Path) -> dict[str, str]:
    """The runs' environment, with the store where a machine-wide run accepts it: a
    machine-wide run refuses an SSL_CERT_FILE or SSL_CERT_DIR that is not root's alone
    (under /tmp, anyone's), so the store is copied into the overlay, seen as
    /etc/bcb-machine-race-store."""
    store = upper / MACHINE_STORE.relative_to("/etc")
    (store / "certs").mkdir(parents=True)
    for folder in (store, store / "certs"):
        folder.chmod(0o755)
    (store / "store.pem").write_bytes(home.stores[0].read_bytes())
    return dict(
        home.env_for(0),
        SSL_CERT_FILE=str(MACHINE_STORE / "store.pem"),
        SSL_CERT_DIR=str(MACHINE_STORE / "certs"),
    )


def _check_machine_files(outcome: Outcome, home: Home, upper: Path) -> None:
    """What the runs left in the overlay's upper folder: the bundle, pip.conf, no temp."""
    bundle = upper / MACHINE_BUNDLE.relative_to("/etc")
    root = home.stores[0].read_bytes().decode("ascii").strip()
    if not bundle.exists() or not bundle_ok(bundle) or root not in bundle.read_text():
        outcome.damaged += 1
        outcome.details = f"bundle missing, broken or without the store's root: {bundle}"
    leftovers = [p.name for p in (*bundle.parent.glob("*.tmp"), *upper.glob("*.tmp"))]
    if leftovers:
        outcome.damaged += 1
        outcome.details = f"temp files left: {leftovers}"
    pip_conf = upper / "pip.conf"
    text = pip_conf.read_text() if pip_conf.exists() else ""
    lines = [line for line in text.splitlines() if line.replace(" ", "").startswith("cert=")]
    if lines != [f"cert = {MACHINE_BUNDLE}"] or not pip_conf_ok(pip_conf):
        outcome.damaged += 1
        outcome.details = f"/etc/pip.conf in the namespace: {text!r}"


def fuzz(cases: int, seed: int) -> Outcome:
    from build_ca_bundle.certificates import parse_bytes
    from tests.pki import make_root

    outcome = Outcome("fuzz")
    rng = random.Random(seed)
    seed_pem = make_root("Fuzz Seed").pem
    mutations: list[Callable[[bytes], bytes]] = [
        lambda data: bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))),
        lambda data: data[: rng.randrange(len(data))],  # truncated
        lambda data: _flip(data, rng),  # corrupted
        lambda data: data.replace(b"\n", b"\r\n") * rng.randrange(1, 4),  # CRLF, repeated
        lambda data: b"\xef\xbb\xbf" + data + b"\x00" * rng.randrange(5),  # BOM, NULs
        lambda data: b"-----BEGIN CERTIFICATE-----\n" + b"A" * rng.randrange(10, 20000),
        lambda data: "ключ 한국어 ".encode() + data,
        lambda data: b"\x30" + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))),
    ]
    for _ in range(cases):
        data = rng.choice(mutations)(seed_pem)
        outcome.cases += 1
        try:
            parse_bytes(data, "fuzz")
        except Exception as exc:  # any exception is a failure: bad input must be a problem
            outcome.failures += 1
            outcome.details = f"{type(exc).__name__}: {exc}"[:200]
    return outcome


CORPUS = REPO / "tests" / "data"
_UTF8_BOM = b"\xef\xbb\xbf"


def corpus(folder: Path) -> Outcome:
    """Every file of tests/data through the real code. Certificate files: read, never an
    exception. pip config files: a real run either keeps every other line byte for byte
    (the BOM aside, which the run removes with a backup) or refuses with exit 3 and leaves
    the file exactly as it was; anything else is a damaged file."""
    from build_ca_bundle.certificates import read_certificate_file

    outcome = Outcome("corpus")
    for path in sorted((CORPUS / "certs").iterdir()):
        outcome.cases += 1
        try:
            read_certificate_file(path)
        except Exception as exc:  # bad input must be a problem, never an exception
            outcome.failures += 1
            outcome.details = f"{path.name}: {type(exc).__name__}: {exc}"[:200]
    for path in sorted((CORPUS / "pip").glob("*.conf")):
        outcome.cases += 1
        (folder / path.stem).mkdir(parents=True)
        home = Home(folder / path.stem)
        home.pip_conf.parent.mkdir(parents=True)
        original = path.read_bytes()
        home.pip_conf.write_bytes(original)
        run = subprocess.run(home.command(), env=home.env_for(0), capture_output=True, check=False)
        after = home.pip_conf.read_bytes()
        if run.returncode == 3:
            kept = after == original
        elif run.returncode == 0:
            kept = _other_lines(after) == _other_lines(original.removeprefix(_UTF8_BOM))
        else:
            outcome.failures += 1
            outcome.details = f"{path.name}: exit {run.returncode}"
            continue
        if not kept:
            outcome.damaged += 1
            outcome.details = f"{path.name}: lines lost or changed"
    return outcome


def _other_lines(data: bytes) -> list[bytes]:
    """The file's lines, ends included, without the one ``cert = …`` line a run adds."""
    return [line for line in data.splitlines(keepends=True) if not line.startswith(b"cert = ")]


def _flip(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randrange(1, 8)):
        buffer[rng.randrange(len(buffer))] = rng.randrange(256)
    return bytes(buffer)


def run_all(*, quick: bool, seed: int = 20261124) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="bcb-reliability-") as scratch:
        root = Path(scratch)
        (root / "crash").mkdir()
        (root / "race").mkdir()
        (root / "machine").mkdir()
        (root / "corpus").mkdir()
        return [
            crash(20 if quick else 200, seed, root / "crash"),
            race(8 if quick else 32, root / "race"),
            machine(8 if quick else 32, root / "machine"),
            fuzz(300 if quick else 5000, seed),
            corpus(root / "corpus"),
        ]


def run_machine(*, quick: bool) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="bcb-reliability-") as scratch:
        return [machine(8 if quick else 32, Path(scratch))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the short campaigns CI runs")
    parser.add_argument(
        "--machine", action="store_true", help="only the machine-scope race (root, Linux)"
    )
    args = parser.parse_args()
    outcomes = run_machine(quick=args.quick) if args.machine else run_all(quick=args.quick)
    for outcome in outcomes:
        print(outcome.line())
    return 1 if any(o.failures or o.damaged for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
