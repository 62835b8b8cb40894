"""Windows for real: Windows CPython under Wine, its certificate stores seeded through crypt32,
our tool run through its Windows code paths, and a certifi-only Windows pip through the proxy."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests.pki import CODE_SIGNING, make_root
from tests.tls import PROBE, corporate_network
from tests.wine import KOREAN_LANG, KOREAN_USER, Wine, make_prefix

pytestmark = pytest.mark.wine


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Wine:
    return make_prefix(tmp_path_factory.mktemp("wine") / "prefix")


def entry(
    store: str,
    der: bytes,
    *,
    location: str = "CurrentUser",
    eku: list[x509.ObjectIdentifier] | None = None,
) -> dict[str, object]:
    value: dict[str, object] = {
        "store": store,
        "location": location,
        "der": base64.b64encode(der).decode(),
    }
    if eku is not None:
        value["eku"] = base64.b64encode(x509.ExtendedKeyUsage(eku).public_bytes()).decode()
    return value


def windows_pip_install(proxy: str, index: str) -> list[str]:
    """Windows pip trusting only certifi or its `cert` setting, as pip < 24.2 did."""
    return [
        "-m",
        "pip",
        "install",
        "--target",
        "C:\\probe",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--use-deprecated=legacy-certs",
        "--retries",
        "0",
        "--timeout",
        "20",
        "--proxy",
        proxy,
        "--index-url",
        index,
        PROBE,
    ]


READ_STORES = """
import json
from build_ca_bundle.sources import StoreOptions, windows
result = windows.load(StoreOptions())
print(json.dumps({c.certificate.sha256: c.verdict.value for c in result.candidates}))
"""


def test_group_policy_root_kept_usage_restricted_dropped_disallowed_wins(wine: Wine) -> None:
    corporate = make_root("GPO Corporate Root")
    signing_only = make_root("Code Signing Only Root")
    disallowed = make_root("Disallowed Root")
    wine.seed(
        [
            entry("ROOT", corporate.der, location="LocalMachine"),
            entry("ROOT", signing_only.der, eku=[CODE_SIGNING]),
            entry("ROOT", disallowed.der),
            entry("Disallowed", disallowed.der, location="LocalMachine"),
        ]
    )
    raw = wine.python(
        [
            "-c",
            "import ssl; print([t for d, e, t in ssl.enum_certificates('ROOT')"
            " if b'Code Signing Only' in d])",
        ]
    )
    assert "1.3.6.1.5.5.7.3.3" in raw.stdout, raw.stderr  # the stdlib returns the property
    result = wine.python(["-c", READ_STORES])
    assert result.returncode == 0, result.stderr
    verdicts = json.loads(result.stdout.strip().splitlines()[-1])
    assert verdicts[corporate.sha256] == "trust"
    assert signing_only.sha256 not in verdicts
    assert verdicts[disallowed.sha256] == "distrust"


def test_certifi_only_windows_pip_works_through_the_proxy_after_the_tool(
    wine: Wine, tmp_path: Path
) -> None:
    with corporate_network(tmp_path) as (index, proxy):
        wine.seed([entry("ROOT", proxy.root.der)])
        pip = windows_pip_install(proxy.url, index.simple_url)
        before = wine.python(pip)
        assert before.returncode != 0
        assert "CERTIFICATE_VERIFY_FAILED" in before.stdout + before.stderr
        tool = wine.python(["-m", "build_ca_bundle", "--no-verify"])
        assert tool.returncode == 0, tool.stdout + tool.stderr
        assert proxy.root.sha256 in tool.stdout
        after = wine.python(pip)
        assert after.returncode == 0, after.stdout + after.stderr
    assert wine.windows_path(f"C:\\probe\\{PROBE}.py").exists()
    users = wine.prefix / "drive_c" / "users"
    (pip_ini,) = users.glob("*/AppData/Roaming/pip/pip.ini")
    data = pip_ini.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.startswith(b"[global]\r\ncert = C:\\users\\")
    assert data.endswith(b"\\build-ca-bundle\\ca-bundle.pem\r\n")


@pytest.fixture(scope="module")
def korean_wine() -> Iterator[Wine]:
    folder = Path(tempfile.mkdtemp(prefix="bcb-wine-ko-", dir="/tmp"))
    try:
        yield make_prefix(folder / "prefix", user=KOREAN_USER, lang=KOREAN_LANG)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_korean_profile_under_the_korean_code_page(korean_wine: Wine, tmp_path: Path) -> None:
    """C:\\users\\김민준 and cp949: pip.ini holds the path in the code page pip reads."""
    encoding = korean_wine.python(["-c", "import locale; print(locale.getencoding())"])
    assert encoding.stdout.strip() == "cp949"
    with corporate_network(tmp_path) as (index, proxy):
        korean_wine.seed([entry("ROOT", proxy.root.der)])
        tool = korean_wine.python(["-m", "build_ca_bundle", "--no-verify"])
        assert tool.returncode == 0, tool.stdout + tool.stderr
        pip = windows_pip_install(proxy.url, index.simple_url)
        after = korean_wine.python(pip)
        assert after.returncode == 0, after.stdout + after.stderr
    pip_ini = korean_wine.prefix / "drive_c" / "users" / KOREAN_USER / "AppData" / "Roaming"
    data = (pip_ini / "pip" / "pip.ini").read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    bundle = f"C:\\users\\{KOREAN_USER}\\AppData\\Local\\build-ca-bundle\\ca-bundle.pem"
    assert data == f"[global]\r\ncert = {bundle}\r\n".encode("cp949")
