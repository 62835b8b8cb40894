"""The whole story, for real: a root installed with update-ca-certificates, a TLS-intercepting
proxy re-signing with it, and a certifi-only pip that fails before build-ca-bundle and
works after it, with verification on."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests import linux_store
from tests.conftest import Home
from tests.pki import make_root
from tests.tls import PROBE, PackageIndex, clean_env, corporate_network, pip_command

pytestmark = pytest.mark.e2e

COMPANY_PIP_CONF = """\
# Settings from the company wiki
[global]
timeout = 30
; keep this comment
disable-pip-version-check = true

[install]
no-warn-script-location = true
"""


def output(result: object) -> str:
    return f"{getattr(result, 'stdout', '')}\n{getattr(result, 'stderr', '')}"


def test_pip_through_an_intercepting_proxy_works_after_build_ca_bundle(
    tmp_path: Path, isolated_home: Home
) -> None:
    linux_store.require_private_store()
    with corporate_network(tmp_path) as (index, proxy):
        corporate = proxy.root.write(tmp_path / "corporate-root.crt")
        pip_conf = isolated_home.pip_user_config
        pip_conf.parent.mkdir(parents=True)
        pip_conf.write_text(COMPANY_PIP_CONF)
        target = tmp_path / "installed"
        pip = pip_command(
            "install",
            "--target",
            str(target),
            "--proxy",
            proxy.url,
            PROBE,
            index_url=index.simple_url,
        )

        def in_store(command: list[str], name: str) -> object:
            return linux_store.run(command, tmp=tmp_path / name, roots=[corporate], env=clean_env())

        before = in_store(pip, "before")
        assert getattr(before, "returncode", None) != 0
        assert "CERTIFICATE_VERIFY_FAILED" in output(before)

        tool = in_store([sys.executable, "-m", "build_ca_bundle", "--no-verify"], "tool")
        assert getattr(tool, "returncode", None) == 0, output(tool)
        assert "Example Corp TLS Inspection Root" in output(tool)
        assert proxy.root.sha256 in output(tool)

        after = in_store(pip, "after")
        assert getattr(after, "returncode", None) == 0, output(after)
        assert (target / f"{PROBE}.py").exists()

        text = pip_conf.read_text()
        assert text.startswith(COMPANY_PIP_CONF.split("[install]", maxsplit=1)[0].rstrip("\n"))
        assert "; keep this comment" in text
        assert "no-warn-script-location = true" in text
        assert "cert = " in text
        assert "trusted-host" not in text


def test_a_server_chained_to_an_unknown_ca_still_fails(tmp_path: Path, isolated_home: Home) -> None:
    linux_store.require_private_store()
    with corporate_network(tmp_path) as (_, proxy):
        corporate = proxy.root.write(tmp_path / "corporate-root.crt")
        stranger = make_root("Nobody Trusts This CA")
        with PackageIndex(stranger, tmp_path / "stranger") as unknown:
            tool = linux_store.run(
                [sys.executable, "-m", "build_ca_bundle", "--no-verify"],
                tmp=tmp_path / "tool",
                roots=[corporate],
                env=clean_env(),
            )
            assert tool.returncode == 0, output(tool)
            pip = pip_command(
                "download",
                "--dest",
                str(tmp_path / "dl"),
                PROBE,
                index_url=unknown.simple_url,
            )
            result = linux_store.run(pip, tmp=tmp_path / "pip", roots=[corporate], env=clean_env())
            assert result.returncode != 0
            assert "CERTIFICATE_VERIFY_FAILED" in output(result)


def test_post_build_check_verifies_pips_index_through_pips_proxy(
    tmp_path: Path, isolated_home: Home
) -> None:
    """After a change, the tool checks pip's own index through pip's own proxy setting."""
    linux_store.require_private_store()
    with corporate_network(tmp_path) as (index, proxy):
        corporate = proxy.root.write(tmp_path / "corporate-root.crt")
        pip_conf = isolated_home.pip_user_config
        pip_conf.parent.mkdir(parents=True)
        pip_conf.write_text(f"[global]\nindex-url = {index.simple_url}\nproxy = {proxy.url}\n")
        tool = linux_store.run(
            [sys.executable, "-m", "build_ca_bundle"],
            tmp=tmp_path / "tool",
            roots=[corporate],
            env=clean_env(),
        )
        assert tool.returncode == 0, output(tool)
        assert f"{index.simple_url} via {proxy.url}" in tool.stdout
        assert "bundle   ok" in tool.stdout


@pytest.mark.parametrize("proxy_in", ["pip.conf", "https_proxy"])
def test_requests_ca_bundle_beats_the_bundle_exactly_when_pip_trusts_the_environment(
    proxy_in: str, tmp_path: Path, isolated_home: Home
) -> None:
    """A stale REQUESTS_CA_BUNDLE replaces pip's cert only while pip's session reads the
    environment: a `proxy` in pip.conf stops that (pip's _build_session), https_proxy does
    not. The tool said 13 ("beats pip's cert") for both; real pip decides here."""
    import certifi

    linux_store.require_private_store()
    with corporate_network(tmp_path) as (index, proxy):
        corporate = proxy.root.write(tmp_path / "corporate-root.crt")
        pip_conf = isolated_home.pip_user_config
        pip_conf.parent.mkdir(parents=True)
        settings = "[global]\n"
        extra = {"REQUESTS_CA_BUNDLE": certifi.where()}  # no corporate root in it
        if proxy_in == "pip.conf":
            settings += f"proxy = {proxy.url}\n"
        else:
            extra["https_proxy"] = proxy.url
        pip_conf.write_text(settings)
        tool = linux_store.run(
            [sys.executable, "-m", "build_ca_bundle", "--no-verify"],
            tmp=tmp_path / "tool",
            roots=[corporate],
            env=clean_env(**extra),
        )
        pip = pip_command(
            "download", "--dest", str(tmp_path / "dl"), PROBE, index_url=index.simple_url
        )
        after = linux_store.run(
            pip, tmp=tmp_path / "pip", roots=[corporate], env=clean_env(**extra)
        )
        if proxy_in == "pip.conf":
            assert after.returncode == 0, output(after)
            assert tool.returncode == 0, output(tool)
            assert "REQUESTS_CA_BUNDLE" not in output(tool)
        else:
            assert "CERTIFICATE_VERIFY_FAILED" in output(after)
            assert tool.returncode == 13, output(tool)
            assert "environment variable REQUESTS_CA_BUNDLE" in tool.stderr
