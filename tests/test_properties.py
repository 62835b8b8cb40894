"""Properties over whole runs: hostile pip.conf files and stores of thousands of blocks.

The editor's own property test (tests/test_inifile.py) works on text; these drive the real
CLI, so the BOM repair, the encoding, the backup and the refusal paths are all in the loop.
"""

from __future__ import annotations

import base64
import configparser
import re
import shutil
import sys

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from build_ca_bundle import cli
from build_ca_bundle.certificates import parse_bytes
from tests.conftest import Home
from tests.pki import make_root
from tests.test_cli import Store, bundle_path, store
from tests.test_inifile import _ini_texts

__all__ = ["store"]  # the fixture, imported for the test below


def _repeated(lines: list[tuple[str, bool]], line: str) -> tuple[str, bool]:
    """A header or key line written again at the end: pip refuses a repeated section, or a
    repeated key within one; a key repeated in another section is a new key there."""
    headers = [text for text, _ in lines if text.startswith("[")]
    key = re.split("[=:]", line, maxsplit=1)[0].strip().lower()
    in_global = bool(headers) and headers[-1] == "[global]"
    return line, in_global and not line.startswith("[") and key == "cert"


def _pip_accepts(text: str) -> bool:
    """pip reads its files with RawConfigParser (strict: duplicates are errors)."""
    try:
        configparser.RawConfigParser().read_string(text)
    except configparser.Error:
        return False
    return True


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the pip user file at its Linux (XDG) path"
)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=_ini_texts(), repeat=st.integers(min_value=-1, max_value=12))
def test_any_pip_conf_keeps_every_other_line_or_is_refused_untouched(
    store: Store,
    isolated_home: Home,
    case: tuple[list[tuple[str, bool]], str, bool],
    repeat: int,
) -> None:
    lines, newline, final_break = case
    if 0 <= repeat < len(lines) and lines[repeat][0][:1] not in ("", " ", "#", ";"):
        lines = [*lines, _repeated(lines, lines[repeat][0])]
    text = newline.join(line for line, _ in lines) + (newline if final_break and lines else "")
    pip_conf = isolated_home.pip_user_config
    shutil.rmtree(isolated_home.data, ignore_errors=True)  # each example: a first run
    pip_conf.parent.mkdir(parents=True, exist_ok=True)
    for leftover in pip_conf.parent.iterdir():
        leftover.unlink()
    pip_conf.write_bytes(text.encode("utf-8"))

    code = cli.main(["--no-verify", "--quiet"])

    after = pip_conf.read_bytes()
    if not _pip_accepts(text):
        event("refused")
        assert code == 3
        assert after == text.encode("utf-8")  # refused: byte for byte as it was
        return
    event("accepted")
    assert code in (0, 13)  # 13: a generated command section's cert beats ours (said on stderr)
    source = lines[: len(text.splitlines())]  # a final empty item is no line of the file
    original = [line for line, is_cert in source if not is_cert]
    ours = str(bundle_path(isolated_home))
    kept = [line for line in after.decode("utf-8").splitlines() if not line.endswith(ours)]
    if "[global]" not in (line for line, _ in source):  # the run appended the section
        assert kept[-1] == "[global]"
        kept = kept[:-1]
        assert kept in (original, [*original, ""])  # perhaps a blank line before it
    else:
        assert kept == original  # every other line, in order, byte for byte
    parser = configparser.RawConfigParser()
    parser.read_string(after.decode("utf-8"))
    assert parser.get("global", "cert") == str(bundle_path(isolated_home))


def test_a_store_of_thousands_of_blocks_good_and_broken_reads_in_one_pass() -> None:
    """3,000 blocks: valid roots, broken base64, truncated DER, key blocks, NUL bytes and
    non-ASCII text between them. Every good root is read, every bad block is named."""
    roots = [make_root(f"Thousands Root {n}") for n in range(20)]
    parts = []
    for number in range(1000):
        parts.append(roots[number % len(roots)].pem)
        parts.append(b"-----BEGIN CERTIFICATE-----\n!!not base64!!\n-----END CERTIFICATE-----\n")
        parts.append(
            b"\x00 \xd0\xba\xd0\xbb\xd1\x8e\xd1\x87\n-----BEGIN CERTIFICATE-----\nMIIB\n"
            b"-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nAAAA\n"
            b"-----END PRIVATE KEY-----\n"
        )
    parsed, problems = parse_bytes(b"".join(parts), "thousands.pem")
    assert len(parsed) == 1000
    assert {item.certificate.sha256 for item in parsed} == {root.sha256 for root in roots}
    assert len(problems) == 2000
    assert all(problem.where.startswith("thousands.pem (block ") for problem in problems)


_GOOD = [make_root(f"Property Root {n}") for n in range(3)]
_BLOCKS = st.one_of(
    st.sampled_from([("good", root.pem) for root in _GOOD]),
    st.just(("bad", b"-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n")),
    st.builds(  # a valid PEM whose base64 is one huge line (some tools write it so)
        lambda root: ("good", _one_line(root.pem)), st.sampled_from(_GOOD)
    ),
    st.builds(  # DER cut short inside valid base64
        lambda root, cut: ("bad", _pem_of(root.der[:cut])),
        st.sampled_from(_GOOD),
        st.integers(min_value=1, max_value=200),
    ),
    st.builds(lambda text: ("text", text.encode("utf-8", "surrogatepass")), st.text(max_size=40)),
    st.just(("text", b"\x00\x00\xff\xfe")),
)


def _one_line(pem: bytes) -> bytes:
    body = b"".join(pem.splitlines()[1:-1])
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"\n-----END CERTIFICATE-----\n"


def _pem_of(der: bytes) -> bytes:
    return (
        b"-----BEGIN CERTIFICATE-----\n" + base64.b64encode(der) + b"\n-----END CERTIFICATE-----\n"
    )


@settings(max_examples=200, deadline=None)
@given(blocks=st.lists(_BLOCKS, max_size=60))
def test_every_good_block_is_read_and_every_bad_one_named(
    blocks: list[tuple[str, bytes]],
) -> None:
    data = b"".join(part if kind != "text" else part + b"\n" for kind, part in blocks)
    parsed, problems = parse_bytes(data, "mixed.pem")
    good = [part for kind, part in blocks if kind == "good"]
    if all(kind == "text" for kind, _ in blocks):
        return  # nothing but text: one "no certificate" problem, tested elsewhere
    assert len(parsed) == len(good)
    assert len(problems) == sum(kind == "bad" for kind, _ in blocks)
    assert all(problem.where.startswith("mixed.pem") for problem in problems)
