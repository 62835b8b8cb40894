"""Parsing, the CA and trust rules, and the merge that decides what goes in a bundle."""

from __future__ import annotations

import base64
import datetime as dt
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from build_ca_bundle.certificates import (
    ANY_EKU,
    SERVER_AUTH,
    AuxTrust,
    Candidate,
    SourceKind,
    SourceResult,
    Verdict,
    aux_verdict,
    parse_bytes,
    parse_der,
    parse_pem,
    read_certificate_file,
    select,
)
from tests.pki import (
    NOW,
    Issued,
    make_expired_root,
    make_root,
    make_sha1_root,
    make_v1_root,
    trusted_certificate,
    with_tbs_bytes,
    with_version,
)

EMAIL = "1.3.6.1.5.5.7.3.4"


def result(kind: SourceKind, name: str, *items: tuple[Issued, Verdict]) -> SourceResult:
    source = SourceResult(name=name, kind=kind)
    source.candidates = [
        Candidate(parse_der(issued.der), verdict, name, "test") for issued, verdict in items
    ]
    return source


# --- parsing -----------------------------------------------------------------------------


def test_pem_bundle_with_crlf_bom_and_text_around_blocks() -> None:
    one, two = make_root("One"), make_root("Two")
    data = (
        b"\xef\xbb\xbfsome text a tool left here\r\n"
        + one.pem.replace(b"\n", b"\r\n")
        + b"\r\n# a comment between blocks\r\n"
        + two.pem
        + b"trailing words"
    )
    parsed, problems = parse_pem(data, "bundle.pem")
    assert [item.certificate.sha256 for item in parsed] == [one.sha256, two.sha256]
    assert problems == []


def _openssl_loads(data: bytes, folder: Path) -> int:
    """How many certificates OpenSSL loads from a PEM file of ``data`` (cadata takes ASCII
    text only, bytes as DER)."""
    path = folder / "loaded.pem"
    path.write_bytes(data)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(path))
    return int(context.cert_store_stats()["x509_ca"])


def test_a_certificate_after_a_byte_order_mark_mid_bundle_is_read_as_openssl_does(
    tmp_path: Path,
) -> None:
    """`cat corp.crt >> bundle` with a BOM-prefixed corp.crt (Windows Notepad, PowerShell
    5.1) puts the BOM at the start of a BEGIN line mid-file: OpenSSL 3 reads that block
    (it strips a BOM from each block's first line), and it was dropped here without a
    word. One after other text on its line is no BEGIN line, to either of us."""
    one, two, three = make_root("One"), make_root("Two"), make_root("Three")
    bom = b"\xef\xbb\xbf"
    for data in (one.pem + bom + two.pem, one.pem.replace(b"\n", b"\r\n") + bom + two.pem):
        parsed, problems = parse_pem(data, "bundle.pem")
        assert [item.certificate.sha256 for item in parsed] == [one.sha256, two.sha256]
        assert problems == []
        assert _openssl_loads(data, tmp_path) == 2
    not_a_line_start = one.pem + b"text" + bom + three.pem
    parsed, _ = parse_pem(not_a_line_start, "bundle.pem")
    assert [item.certificate.sha256 for item in parsed] == [one.sha256]
    assert _openssl_loads(not_a_line_start, tmp_path) == 1


def test_old_x509_certificate_label_is_read() -> None:
    root = make_root()
    data = root.pem.replace(b"BEGIN CERTIFICATE", b"BEGIN X509 CERTIFICATE").replace(
        b"END CERTIFICATE", b"END X509 CERTIFICATE"
    )
    parsed, problems = parse_pem(data, "old.pem")
    assert [item.certificate.sha256 for item in parsed] == [root.sha256]
    assert problems == []


def test_keys_and_crls_are_ignored_not_reported() -> None:
    root = make_root()
    data = root.key_pem + root.pem + b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"
    parsed, problems = parse_pem(data, "mixed.pem")
    assert len(parsed) == 1
    assert problems == []


def test_malformed_blocks_are_problems_naming_the_file_and_block() -> None:
    good = make_root("Good")
    bad_base64 = b"-----BEGIN CERTIFICATE-----\n!!!notbase64!!!\n-----END CERTIFICATE-----\n"
    not_a_cert = (
        b"-----BEGIN CERTIFICATE-----\n"
        + base64.encodebytes(b"\x30\x03\x02\x01\x00")
        + b"-----END CERTIFICATE-----\n"
    )
    with_headers = (
        b"-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n\n"
        + base64.encodebytes(good.der)
        + b"-----END CERTIFICATE-----\n"
    )
    parsed, problems = parse_pem(bad_base64 + not_a_cert + with_headers + good.pem, "/x/ca.pem")
    assert [item.certificate.sha256 for item in parsed] == [good.sha256]
    assert [p.where for p in problems] == [
        "/x/ca.pem (block 1)",
        "/x/ca.pem (block 2)",
        "/x/ca.pem (block 3)",
    ]
    assert problems[0].message == "skipped: invalid base64"
    assert problems[1].message.startswith("skipped: not a valid X.509 certificate")
    assert problems[2].message == "skipped: PEM block has RFC 1421 headers"


def test_der_file_and_garbage_file(tmp_path: Path) -> None:
    root = make_root()
    der_file = root.write(tmp_path / "root.cer", pem=False)
    parsed, problems = read_certificate_file(der_file)
    assert [item.certificate.sha256 for item in parsed] == [root.sha256]
    assert problems == []

    garbage = tmp_path / "notes.txt"
    garbage.write_text("hello")
    parsed, problems = read_certificate_file(garbage)
    assert parsed == []
    assert str(problems[0]) == f"{garbage}: skipped: neither PEM nor DER certificate data"


def test_der_refused_where_only_pem_is_allowed() -> None:
    """A DER file in a hashed folder or bundle is skipped, as OpenSSL skips it; the problem
    said "neither PEM nor DER", which sent the user looking for a broken file."""
    parsed, problems = parse_bytes(make_root().der, "x", allow_der=False)
    assert parsed == []
    (problem,) = problems
    assert "a DER certificate, which OpenSSL does not read here (PEM only)" in problem.message
    assert "openssl x509 -inform der" in problem.message
    _, problems = parse_bytes(b"\x30\x03junk", "y", allow_der=False)
    assert problems[0].message == "skipped: neither PEM nor DER certificate data"


def test_unreadable_path_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    parsed, problems = read_certificate_file(tmp_path / "missing.pem")
    assert parsed == []
    assert "cannot read" in problems[0].message
    parsed, problems = read_certificate_file(tmp_path)  # a folder where a file was expected
    assert parsed == []
    assert "cannot read" in problems[0].message


def test_certificate_names_for_reports() -> None:
    root = make_root("Детали Root", organization="Example")
    cert = parse_der(root.der)
    assert cert.label == "Детали Root"
    assert cert.subject == "O=Example,CN=Детали Root"
    assert cert.issuer == cert.subject
    assert cert.version == 3
    assert cert.is_ca and cert.self_signed


# --- what counts as a CA -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "is_ca", "self_signed"),
    [
        (lambda: make_root("v3 root"), True, True),
        (make_v1_root, True, True),
        (lambda: make_root("self-signed leaf", basic_constraints=False), False, True),
        (lambda: make_root("no basicConstraints", basic_constraints=None), True, True),
        (
            lambda: make_root("no BC, no certSign", basic_constraints=None, key_usage=False),
            True,
            True,
        ),
        (lambda: make_root("issuer").issue("intermediate", ca=True), True, False),
        (lambda: make_root("issuer").issue("leaf.example"), False, False),
    ],
)
def test_ca_and_self_signed_rules(make: object, is_ca: bool, self_signed: bool) -> None:
    issued = make()  # type: ignore[operator]
    cert = parse_der(issued.der)
    assert (cert.is_ca, cert.self_signed) == (is_ca, self_signed)


@pytest.mark.parametrize("version", [1, 0], ids=["v2", "explicit-v1-default"])
def test_a_trusted_certificate_cryptography_cannot_read_is_decided_as_openssl_does(
    version: int, tmp_path: Path
) -> None:
    """`openssl x509 -setalias Corp -trustout` of a v2 root (or a v1 one writing its default
    version out): OpenSSL trusts it for TLS (its compatibility trust: self-issued), while
    cryptography refuses to read it. Deciding it raised cryptography's error: a traceback
    that stopped the whole run (found by audit h42)."""
    import shutil
    import subprocess

    root = make_root("Corp Aliased Root")
    der = with_version(root, version)
    trusted = trusted_certificate(der, alias="Corp")
    (item,), problems = parse_pem(trusted, "corp.pem")
    assert problems == [] and item.aux is not None
    verdict = aux_verdict(item.certificate, item.aux)  # raised ValueError
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: the oracle for this verdict")
    (tmp_path / "anchor.pem").write_bytes(trusted)
    leaf = root.issue("server.example")
    (tmp_path / "leaf.pem").write_bytes(leaf.pem)
    check = subprocess.run(
        [
            openssl,
            "verify",
            "-CAfile",
            str(tmp_path / "anchor.pem"),
            "-purpose",
            "sslserver",
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (verdict is Verdict.TRUST) == (check.returncode == 0), check.stdout + check.stderr


def test_a_ca_flag_encoded_as_any_true_byte_is_a_ca_as_openssl_reads_it() -> None:
    """basicConstraints cA = TRUE written as 0x01, not DER's 0xFF (older CA software):
    OpenSSL takes any non-zero byte, and trusts the root; we dropped it as "bad BOOLEAN"
    (audit h42). OpenSSL is the oracle: it counts the certificate as a CA."""
    root = make_root("Corp Root With A Lax Boolean")
    # basicConstraints: OID 2.5.29.19, critical TRUE, OCTET STRING { SEQUENCE { cA TRUE } }
    der = with_tbs_bytes(root, b"\x30\x03\x01\x01\xff", b"\x30\x03\x01\x01\x01")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=der)
    assert context.cert_store_stats()["x509_ca"] == 1
    cert = parse_der(der)
    assert cert.is_ca
    assert aux_verdict(cert, AuxTrust(trust=None, reject=None)) is Verdict.TRUST


def test_a_root_self_signed_with_sha1_is_self_signed() -> None:
    """A fifth of the roots distros ship are SHA-1 self-signed; so are many corporate roots.
    OpenSSL never checks an anchor's own signature, so they are roots like any other."""
    cert = parse_der(make_sha1_root().der)
    assert cert.x509.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.5"  # SHA-1
    assert cert.is_ca and cert.self_signed
    assert aux_verdict(cert, AuxTrust(trust=None, reject=None)) is Verdict.TRUST


def test_a_sha1_certificate_that_repeats_its_name_but_another_key_signed_is_not_self_signed() -> (
    None
):
    other = make_sha1_root("Other Key")
    cert = parse_der(make_sha1_root("Looks Self-Signed", signer=other).der)
    assert cert.subject == cert.issuer
    assert not cert.self_signed


def test_a_sha1_signature_is_no_link_for_intermediates() -> None:
    """OpenSSL 3 refuses SHA-1 signatures below the anchor: such an intermediate does not
    chain for pip, so --include-intermediates does not add it."""
    root = make_sha1_root("SHA-1 Issuer")
    intermediate = make_sha1_root("SHA-1 Intermediate", signer=root, issuer=root.cert.subject)
    base = SourceResult(name="os", kind=SourceKind.OS)
    base.candidates = [
        Candidate(parse_der(root.der), Verdict.TRUST, "os"),
        Candidate(parse_der(intermediate.der), Verdict.INTERMEDIATE, "os"),
    ]
    chosen = select([base], now=NOW, include_intermediates=True).entries
    assert [entry.certificate.label for entry in chosen] == ["SHA-1 Issuer"]


def test_v1_root_is_version_1() -> None:
    assert parse_der(make_v1_root().der).version == 1


def test_issuer_name_equal_to_subject_but_signed_by_another_key_is_not_self_signed() -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    other_key = ec.generate_private_key(ec.SECP256R1())
    own_key = ec.generate_private_key(ec.SECP256R1())
    subject = make_root("Looks Self-Signed").cert.subject
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(own_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(other_key, hashes.SHA256())
    )
    assert not parse_der(Issued(cert, own_key).der).self_signed


# --- OpenSSL TRUSTED CERTIFICATE ----------------------------------------------------------


@pytest.mark.parametrize(
    ("trust", "reject", "expected"),
    [
        ([SERVER_AUTH], None, Verdict.TRUST),  # p11-kit: cacert3-trusted-server-alias
        ([ANY_EKU], None, Verdict.TRUST),
        (None, [ANY_EKU], Verdict.DISTRUST),  # cacert3-distrust-all
        ([SERVER_AUTH], [SERVER_AUTH], Verdict.DISTRUST),  # reject wins
        ([], None, Verdict.DISTRUST),  # cacert3-not-trusted: empty trust list
        ([EMAIL], None, Verdict.DISTRUST),  # trusted for e-mail only: OpenSSL rejects it for TLS
        (None, [EMAIL], Verdict.TRUST),  # rejected for e-mail only: compat rule, self-signed
        (None, None, Verdict.TRUST),  # openssl-trust-no-trust: compat rule
    ],
)
def test_trusted_certificate_flags_for_server_auth(
    trust: list[str] | None, reject: list[str] | None, expected: Verdict | None
) -> None:
    root = make_root()
    parsed, problems = parse_pem(trusted_certificate(root, trust=trust, reject=reject), "t")
    assert problems == []
    (item,) = parsed
    assert item.certificate.sha256 == root.sha256  # the aux part is not in the identity
    assert item.aux is not None
    assert aux_verdict(item.certificate, item.aux) == expected


def test_compat_rule_does_not_trust_a_non_self_signed_certificate() -> None:
    intermediate = parse_der(make_root().issue("Intermediate", ca=True).der)
    assert aux_verdict(intermediate, AuxTrust(trust=None, reject=None)) is None


def test_trusted_certificate_alias_is_read() -> None:
    parsed, _ = parse_pem(trusted_certificate(make_root(), trust=[SERVER_AUTH], alias="Corp"), "t")
    assert parsed[0].aux is not None
    assert parsed[0].aux.alias == "Corp"


# --- the merge ---------------------------------------------------------------------------


def test_distrust_from_the_os_removes_a_root_from_certifis_part() -> None:
    kept, distrusted = make_root("Kept"), make_root("Distrusted")
    certifi = result(SourceKind.BASE, "certifi", (kept, Verdict.TRUST), (distrusted, Verdict.TRUST))
    os_store = result(SourceKind.OS, "windows", (distrusted, Verdict.DISTRUST))
    selection = select([certifi, os_store], now=NOW)
    assert [e.certificate.sha256 for e in selection.entries] == [kept.sha256]
    (exclusion,) = selection.excluded
    assert exclusion.certificate.sha256 == distrusted.sha256
    assert exclusion.reason == "distrusted by windows (test)"


def test_p11kit_distrust_matches_the_same_key_in_another_certificate() -> None:
    root = make_root("Reissued")
    # The same key, re-issued with other dates: a different certificate, the same SPKI.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    reissued_cert = (
        x509.CertificateBuilder()
        .subject_name(root.cert.subject)
        .issuer_name(root.cert.subject)
        .public_key(root.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=2))
        .not_valid_after(NOW + dt.timedelta(days=999))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root.key, hashes.SHA256())
    )
    reissued = Issued(reissued_cert, root.key)
    base = result(SourceKind.BASE, "certifi", (reissued, Verdict.TRUST))
    blocklist = SourceResult(name="linux", kind=SourceKind.OS)
    blocklist.candidates = [
        Candidate(parse_der(root.der), Verdict.DISTRUST, "blocklist", "p11-kit", match_key=True)
    ]
    assert select([base, blocklist], now=NOW).entries == []
    # Without p11-kit semantics only the exact certificate is distrusted.
    blocklist.candidates = [Candidate(parse_der(root.der), Verdict.DISTRUST, "store", "exact")]
    assert len(select([base, blocklist], now=NOW).entries) == 1


def test_expired_roots_are_left_out_unless_asked() -> None:
    expired = make_expired_root()
    os_store = result(SourceKind.OS, "linux", (expired, Verdict.TRUST))
    selection = select([os_store], now=NOW)
    assert selection.entries == []
    assert selection.excluded[0].reason.startswith("expired on ")
    assert len(select([os_store], now=NOW, keep_expired=True).entries) == 1


def test_leaves_from_the_os_are_left_out_but_v1_roots_stay() -> None:
    leaf = make_root("Leaf").issue("server.example")
    self_signed_leaf = make_root("Self-signed leaf", basic_constraints=False)
    v1 = make_v1_root()
    os_store = result(
        SourceKind.OS,
        "linux",
        (leaf, Verdict.TRUST),
        (self_signed_leaf, Verdict.TRUST),
        (v1, Verdict.TRUST),
    )
    selection = select([os_store], now=NOW)
    assert [e.certificate.sha256 for e in selection.entries] == [v1.sha256]
    assert {x.reason for x in selection.excluded} == {"not a CA certificate"}


def test_order_is_certifi_first_then_sorted_and_origins_are_merged() -> None:
    c1, c2 = make_root("Zeta certifi"), make_root("Alpha certifi")
    corp_b, corp_a = make_root("beta corp"), make_root("Alpha corp")
    certifi = result(SourceKind.BASE, "certifi", (c1, Verdict.TRUST), (c2, Verdict.TRUST))
    os_store = result(
        SourceKind.OS,
        "linux",
        (corp_b, Verdict.TRUST),
        (c2, Verdict.TRUST),
        (corp_a, Verdict.TRUST),
    )
    # Source order in the list must not matter.
    selection = select([os_store, certifi], now=NOW)
    assert [e.certificate.label for e in selection.entries] == [
        "Zeta certifi",
        "Alpha certifi",
        "Alpha corp",
        "beta corp",
    ]
    assert selection.entries[1].origins == ("certifi", "linux")
    assert [e.certificate.label for e in selection.beyond_base()] == ["Alpha corp", "beta corp"]


def test_exclude_by_fingerprint_with_colons_and_capitals() -> None:
    root = make_root()
    fingerprint = ":".join(root.sha256.upper()[i : i + 2] for i in range(0, len(root.sha256), 2))
    os_store = result(SourceKind.OS, "linux", (root, Verdict.TRUST))
    selection = select([os_store], now=NOW, exclude=[fingerprint])
    assert selection.entries == []
    assert selection.excluded[0].reason == "excluded by fingerprint"


def test_intermediates_only_when_asked_and_only_if_they_chain() -> None:
    root = make_root("Root")
    chained = root.issue("Chained Intermediate", ca=True)
    orphan = make_root("Unknown Root").issue("Orphan Intermediate", ca=True)
    os_store = result(
        SourceKind.OS,
        "windows",
        (root, Verdict.TRUST),
        (chained, Verdict.INTERMEDIATE),
        (orphan, Verdict.INTERMEDIATE),
    )
    assert [e.certificate.label for e in select([os_store], now=NOW).entries] == ["Root"]
    with_intermediates = select([os_store], now=NOW, include_intermediates=True)
    assert [e.certificate.label for e in with_intermediates.entries] == [
        "Chained Intermediate",
        "Root",
    ]


def test_same_certificate_from_two_sources_is_written_once() -> None:
    root = make_root()
    a = result(SourceKind.OS, "linux", (root, Verdict.TRUST), (root, Verdict.TRUST))
    b = result(SourceKind.EXTRA, "extra", (root, Verdict.TRUST))
    selection = select([a, b], now=NOW)
    assert len(selection.entries) == 1
    assert selection.entries[0].kinds == frozenset({SourceKind.OS, SourceKind.EXTRA})


@given(
    prefix=st.binary(max_size=200),
    middle=st.text(max_size=200),
    cut=st.integers(min_value=0, max_value=2000),
)
@settings(max_examples=200, deadline=None)
def test_any_bytes_give_certificates_or_problems_never_an_exception(
    prefix: bytes, middle: str, cut: int
) -> None:
    pem = _SEED.pem
    # The whole block starts a line: OpenSSL reads no BEGIN line that does not.
    data = prefix + pem[:cut] + middle.encode("utf-8", "surrogatepass") + b"\n" + pem
    parsed, problems = parse_bytes(data, "hostile")
    assert all(p.where.startswith("hostile") for p in problems)
    assert _SEED.sha256 in {item.certificate.sha256 for item in parsed}  # the whole one is read


_SEED = make_root("Hypothesis Seed")


def test_a_truncated_block_does_not_hide_the_blocks_after_it() -> None:
    first, second = make_root("After A Cut"), make_root("After A Stray Key Header")
    data = (
        first.pem[:100]  # cut in the middle, no END
        + first.pem
        + b"-----BEGIN PRIVATE KEY-----\nAAAA\n"  # a key block that never ends
        + second.pem
    )
    parsed, _ = parse_pem(data, "cut.pem")
    assert [p.certificate.label for p in parsed] == ["After A Cut", "After A Stray Key Header"]


class _CountingBytes(bytes):
    """Bytes that count how many bytes their searches cover: a measure of the reader's work
    that no machine's speed changes."""

    scanned = 0

    def find(self, sub: bytes, start: int | None = None, end: int | None = None) -> int:  # type: ignore[override]
        begin = 0 if start is None else start
        stop = len(self) if end is None else end
        found = super().find(sub, begin, stop)
        _CountingBytes.scanned += (stop if found == -1 else found) - begin
        return found


@pytest.mark.parametrize(
    "block",
    [
        b"-----BEGIN CERTIFICATE-----\nAAAA\n",
        b"-----BEGIN CERTIFICATE-----\n -----END CERTIFICATE-----\n",
    ],
    ids=["no END line", "an indented END"],
)
def test_reading_many_cut_off_blocks_is_linear_in_the_files_size(block: bytes) -> None:
    """Each BEGIN searched for its END to the end of the file: 825 KB of cut-off blocks
    took 25 s (audit h42), a hang at logon. A search now stops at the next BEGIN."""
    for count in (1000, 4000):
        _CountingBytes.scanned = 0
        data = _CountingBytes(block * count)
        parsed, problems = parse_pem(data, "many.pem")
        assert (parsed, len(problems)) == ([], count)
        assert _CountingBytes.scanned <= 4 * len(data), (count, _CountingBytes.scanned)


_MARKER_LINES: dict[str, Callable[[bytes], bytes]] = {
    "trailing white space after BEGIN (pasted from a mail)": lambda pem: pem.replace(
        b"CERTIFICATE-----\n", b"CERTIFICATE----- \t\n", 1
    ),
    "trailing white space after END": lambda pem: pem.replace(
        b"-----END CERTIFICATE-----", b"-----END CERTIFICATE-----  "
    ),
    "CRLF lines": lambda pem: pem.replace(b"\n", b"\r\n"),
    "no final line break": lambda pem: pem.rstrip(),
    "indented BEGIN line": lambda pem: b"    " + pem,
    "text before BEGIN on its line": lambda pem: b"root: " + pem,
    "text after BEGIN on its line": lambda pem: pem.replace(
        b"CERTIFICATE-----\n", b"CERTIFICATE-----x\n", 1
    ),
    "indented END line": lambda pem: pem.replace(b"-----END", b" -----END"),
    # OpenSSL strips every trailing byte <= ' ' as a signed char: 0x80 and up too.
    "no-break space (UTF-8) after each line, pasted from a web page": lambda pem: b"\n".join(
        line + b"\xc2\xa0" if line else line for line in pem.split(b"\n")
    ),
    "no-break space (Latin-1) after the base64 lines": lambda pem: pem.replace(
        b"\n", b"\xa0\n"
    ).replace(b"-----\xa0\n", b"-----\n"),
    "NUL after the base64 lines": lambda pem: pem.replace(b"\n", b"\x00\n").replace(
        b"-----\x00\n", b"-----\n"
    ),
    "zero-width space after BEGIN": lambda pem: pem.replace(
        b"CERTIFICATE-----\n", "CERTIFICATE-----\u200b\n".encode(), 1
    ),
    "no-break space inside a base64 line": lambda pem: pem[:40] + b"\xc2\xa0" + pem[40:],
}


@pytest.mark.parametrize("variant", sorted(_MARKER_LINES))
def test_a_pem_block_is_read_exactly_when_openssl_reads_it(variant: str, tmp_path: Path) -> None:
    """What the OS trusts is what OpenSSL reads from its files: a root OpenSSL takes must
    not be dropped (a trailing space hid a corporate root, and a rejecting TRUSTED
    CERTIFICATE), and one it cannot read must not be trusted. ssl itself is the oracle."""
    root = make_root("Corp Root")
    text = _MARKER_LINES[variant](root.pem)
    store = tmp_path / "store.pem"
    store.write_bytes(make_root("Other Root").pem + text)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=str(store))
        openssl_reads = context.cert_store_stats()["x509_ca"] == 2
    except ssl.SSLError:
        openssl_reads = False
    parsed, problems = parse_bytes(store.read_bytes(), str(store))
    assert (root.sha256 in {item.certificate.sha256 for item in parsed}) is openssl_reads
    if variant == "indented END line":  # a damaged block: named, never dropped in silence
        assert [p.message for p in problems] == ["skipped: truncated PEM block (no END line)"]


_FILES_OPENSSL_REFUSES = {
    "a next BEGIN on the END line (cat of a file without its last line break)": lambda a, b: (
        a.rstrip() + b
    ),
    "text after END": lambda a, b: (
        a.replace(b"-----END CERTIFICATE-----", b"-----END CERTIFICATE----- x") + b
    ),
    "a blank line inside the base64": lambda a, b: (
        a.replace(b"\n", b"\n\n", 2).replace(b"-----\n\n", b"-----\n", 1) + b
    ),
    "two blank lines after BEGIN": lambda a, b: a.replace(b"-----\n", b"-----\n\n\n", 1) + b,
}


@pytest.mark.parametrize("variant", sorted(_FILES_OPENSSL_REFUSES))
def test_a_file_openssl_refuses_whole_is_read_and_said(variant: str, tmp_path: Path) -> None:
    """OpenSSL reads nothing from such a file (curl and Python's ssl trust none of its roots);
    we read its whole blocks, and said nothing (audit h42). Now it is said, once, with the
    block. ssl is the oracle for the refusal."""
    first, second = make_root("First"), make_root("Second")
    data = _FILES_OPENSSL_REFUSES[variant](first.pem, second.pem)
    store = tmp_path / "store.pem"
    store.write_bytes(data)
    with pytest.raises(ssl.SSLError):
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(store))
    parsed, problems = parse_pem(data, str(store))
    refusals = [p for p in problems if "refuses this whole file" in p.message]
    assert len(refusals) == 1 and refusals[0].where.startswith(f"{store} (block ")
    assert second.sha256 in {item.certificate.sha256 for item in parsed}


def test_a_blank_line_that_ends_pem_headers_is_no_damage() -> None:
    root = make_root("Headers")
    data = (
        b"-----BEGIN CERTIFICATE-----\nComment: from the wiki\n\n"
        + base64.encodebytes(root.der)
        + b"-----END CERTIFICATE-----\n"
        + make_root("After").pem
    )
    _, problems = parse_pem(data, "h.pem")
    assert [p.message for p in problems] == ["skipped: PEM block has RFC 1421 headers"]


def test_a_file_whose_only_block_openssl_cannot_see_says_why(tmp_path: Path) -> None:
    parsed, problems = parse_bytes(b"  " + make_root().pem, "indented.pem")
    assert parsed == []
    assert [p.message for p in problems] == [
        "skipped: no certificate in this PEM file (OpenSSL reads a block only from a "
        "'-----BEGIN ...-----' line at the start of a line)"
    ]
