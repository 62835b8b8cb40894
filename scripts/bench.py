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
  scale      synthetic stores of N CA certificates: ours (full run, then rebuilds with one
             root more or less) against a plain script that parses the same store with
             `cryptography`, deduplicates and writes it

The reference is p11-kit's `trust extract --format=pem-bundle --filter=ca-anchors
--purpose=server-auth OUT` over this machine's store (Debian: apt-get install p11-kit
p11-kit-modules). Without it the ratios that need it are skipped, and the script says so.
Needs only the project's own dependencies. Prints medians, peak memory, and ratios: the median
of each round's ratio (our run against the reference run right after it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

CLEARED_PREFIXES = ("PIP_", "SSL_CERT_", "REQUESTS_CA", "CURL_CA", "XDG_", "BUILD_CA_BUNDLE")

BASELINE = r"""
import hashlib, sys
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
data = open(sys.argv[1], "rb").read()
seen, out = set(), []
for block in data.split(b"-----END CERTIFICATE-----")[:-1]:
    pem = block[block.index(b"-----BEGIN CERTIFICATE-----"):] + b"-----END CERTIFICATE-----\n"
    cert = x509.load_pem_x509_certificate(pem)
    der = cert.public_bytes(Encoding.DER)
    digest = hashlib.sha256(der).hexdigest()
    if digest not in seen:
        seen.add(digest)
        out.append(cert.public_bytes(Encoding.PEM))
open(sys.argv[2], "wb").write(b"".join(out))
"""


def timed(command: Sequence[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak resident memory (KiB) of one run."""
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


def alternate(
    rounds: int,
    ours: Callable[[], tuple[float, int]],
    reference: Callable[[], tuple[float, int]] | None,
) -> tuple[list[float], list[int], list[float]]:
    ours(), reference() if reference else None  # warm-up: caches, page cache, .pyc files
    mine, memory, theirs = [], [], []
    for _ in range(rounds):
        seconds, peak = ours()
        mine.append(seconds)
        memory.append(peak)
        if reference is not None:
            theirs.append(reference()[0])
    return mine, memory, theirs


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED_PREFIXES)}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CONFIG_DIRS=str(home / "etc-xdg"),
    )
    return env


def report(name: str, mine: list[float], memory: list[int], theirs: list[float], what: str) -> None:
    median = statistics.median(mine)
    line = f"{name:10} ours {median * 1000:7.1f} ms  peak {max(memory) / 1024:5.1f} MiB"
    if theirs:
        # Each of our runs is paired with the reference run right after it: the median of
        # those ratios is steadier on a noisy machine than a ratio of medians.
        reference = statistics.median(theirs)
        paired = statistics.median(ours / ref for ours, ref in zip(mine, theirs, strict=True))
        line += f"  {what} {reference * 1000:7.1f} ms  ratio {paired:4.2f}x"
    print(line, flush=True)


def make_store(path: Path, count: int) -> None:
    """A bundle of ``count`` distinct self-signed CA certificates, made in a child process:
    a child's peak memory counts the pages it shares with its parent at fork time, so this
    process must not grow by importing cryptography."""
    subprocess.run([sys.executable, __file__, "--make-store", str(path), str(count)], check=True)


def _make_store_here(path: Path, count: int) -> None:
    """:func:`make_store`'s work (EC P-256: fast to make)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())  # one key: signing dominates, not keygen
    now = dt.datetime.now(dt.timezone.utc)
    with path.open("wb") as out:
        for number in range(count):
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Synthetic Root {number}")])
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(number + 1)
                .not_valid_before(now - dt.timedelta(days=1))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256())
            )
            out.write(cert.public_bytes(Encoding.PEM))


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
    make_store(extra, 1)
    without = path.read_bytes()
    with_extra = without + extra.read_bytes()
    state = {"added": False}

    def flip() -> None:
        state["added"] = not state["added"]
        path.write_bytes(with_extra if state["added"] else without)

    return flip


def scale(
    tool: list[str], env: dict[str, str], work: Path, sizes: list[int], main_rounds: int
) -> None:
    """Full runs over synthetic stores of each size, against the plain baseline script."""
    print("scale: ours (full run, --scope none) vs a plain parse-dedupe-write script")
    medians = {}
    for size in sizes:
        store = work / f"store-{size}.pem"
        make_store(store, size)
        empty = work / "empty-dir"
        empty.mkdir(exist_ok=True)
        scaled_env = dict(env, SSL_CERT_FILE=str(store), SSL_CERT_DIR=str(empty))
        output = work / f"bundle-{size}.pem"
        command = [*tool, "--scope", "none", "--output", str(output)]

        def ours_scaled(
            output: Path = output,
            command: list[str] = command,
            scaled_env: dict[str, str] = scaled_env,
        ) -> tuple[float, int]:
            for leftover in output.parent.glob(output.name + "*"):
                leftover.unlink()
            return timed(command, scaled_env)

        baseline = [sys.executable, "-c", BASELINE, str(store), str(work / "plain.pem")]
        rounds = max(3, main_rounds // 3)

        def plain(baseline: list[str] = baseline) -> tuple[float, int]:
            return timed(baseline, env)

        mine, memory, theirs = alternate(rounds, ours_scaled, plain)
        medians[size] = statistics.median(mine)
        report(f"{size:>6}", mine, memory, theirs, "plain")
        check = check_cost(output, env)
        # The check alone, against the plain script's whole run: the floor of our ratio
        # while the bundle must load in ssl before it replaces the old one.
        floor = check / 1000 / statistics.median(theirs)
        print(
            f"{'':10} of which the check that the bundle loads in ssl: {check:.0f} ms "
            f"({floor:.1f}x the plain script's whole run)"
        )

        timed(command, scaled_env)  # the bundle and its proof now exist
        one_more = flipper(store, work / f"one-more-{size}.pem")

        def rebuild_scaled(
            flip: Callable[[], None] = one_more,
            command: list[str] = command,
            scaled_env: dict[str, str] = scaled_env,
        ) -> tuple[float, int]:
            flip()
            return timed(command, scaled_env)

        mine, memory, theirs = alternate(rounds, rebuild_scaled, plain)
        report("   rebuild", mine, memory, theirs, "plain")
    if len(sizes) >= 2:
        low, high = sizes[0], sizes[-1]
        per_cert = (medians[high] - medians[low]) / (high - low)
        print(f"per certificate: {per_cert * 1e6:.0f} us (from {low} to {high})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--scale", default="1000,10000", help="store sizes, comma-separated")
    parser.add_argument("--make-store", nargs=2, metavar=("PATH", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_store:
        _make_store_here(Path(args.make_store[0]), int(args.make_store[1]))
        return 0

    trust = shutil.which("trust")
    print(f"python {sys.version.split()[0]} on {os.uname().machine}, {os.cpu_count()} cores")
    compile_package()
    if trust is None:
        print(
            "p11-kit's `trust` is not installed: ratios against it are skipped "
            "(Debian: apt-get install p11-kit p11-kit-modules)"
        )
    tool = tool_command()
    print(f"ours: {' '.join(tool)}")

    with tempfile.TemporaryDirectory(prefix="bcb-bench-") as scratch:
        work = Path(scratch)
        home = work / "home"
        home.mkdir()
        env = environment(home)
        out = work / "p11kit.pem"
        reference_command = [
            trust or "trust",
            "extract",
            "--format=pem-bundle",
            "--filter=ca-anchors",
            "--purpose=server-auth",
            "--overwrite",
            str(out),
        ]

        def reference() -> tuple[float, int]:
            return timed(reference_command, env)

        ref = reference if trust else None

        timed(tool, env)  # the first full run: bundle, pip.conf and manifest now exist
        mine, memory, theirs = alternate(args.rounds, lambda: timed(tool, env), ref)
        report("unchanged", mine, memory, theirs, "p11-kit")

        bundle_dir = home / "data" / "build-ca-bundle"

        def full() -> tuple[float, int]:
            shutil.rmtree(bundle_dir, ignore_errors=True)
            (home / "config" / "pip" / "pip.conf").unlink(missing_ok=True)
            return timed(tool, env)

        mine, memory, theirs = alternate(args.rounds, full, ref)
        report("full", mine, memory, theirs, "p11-kit")

        extra = work / "extra-ca.pem"
        make_store(extra, 1)
        with_extra = [*tool, "--extra-ca", str(extra)]
        timed(with_extra, env)  # the bundle and its proof now exist
        flip = flipper(extra, work / "another-root.pem")

        def rebuild() -> tuple[float, int]:
            flip()
            return timed(with_extra, env)

        mine, memory, theirs = alternate(args.rounds, rebuild, ref)
        report("rebuild", mine, memory, theirs, "p11-kit")

        scale(tool, env, work, [int(size) for size in args.scale.split(",") if size], args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
