"""The INI editor: one key changes, every other byte stays; what the parser rejects, we refuse."""

from __future__ import annotations

import configparser
import os
import stat
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from build_ca_bundle import inifile
from build_ca_bundle.inifile import IniError, get_value, set_value

OURS = "/opt/ours/bundle.pem"


def test_replaces_the_value_in_place_keeping_comments_crlf_and_other_keys() -> None:
    text = (
        "; managed by IT\r\n"
        "[global]\r\n"
        "# the index\r\n"
        "index-url = https://example.invalid/simple\r\n"
        "cert=/old/bundle.pem\r\n"
        "timeout = 60\r\n"
        "\r\n"
        "[install]\r\n"
        "no-compile = true\r\n"
    )
    assert set_value(text, "global", "cert", OURS) == text.replace(
        "cert=/old/bundle.pem", f"cert={OURS}"
    )


def test_keeps_the_key_spelling_indent_and_delimiter() -> None:
    text = "[global]\n  CERT :  /old\nother = 1\n"
    assert set_value(text, "global", "cert", OURS) == f"[global]\n  CERT :  {OURS}\nother = 1\n"


def test_replaces_a_multi_line_value_whole_and_keeps_comments_between_its_lines() -> None:
    text = "[global]\ncert = /a\n  /b\n# note\n\n  /c\nafter = 1\n"
    assert (
        set_value(text, "global", "cert", OURS) == f"[global]\ncert = {OURS}\n# note\n\nafter = 1\n"
    )


def test_a_file_without_a_final_line_break_keeps_ending_without_one() -> None:
    assert set_value("[global]\ncert = /old", "global", "cert", OURS) == f"[global]\ncert = {OURS}"
    assert (
        set_value("[global]\ncert = /a\n    /b", "global", "cert", OURS)
        == f"[global]\ncert = {OURS}"
    )


def test_inserts_after_the_last_key_of_the_section_not_after_the_next_sections_comment() -> None:
    text = "[global]\ntimeout = 5\n\n# settings for pip install\n[install]\nuser = yes"
    assert set_value(text, "global", "cert", OURS) == (
        f"[global]\ntimeout = 5\ncert = {OURS}\n\n# settings for pip install\n[install]\nuser = yes"
    )


def test_inserting_at_the_end_of_an_unterminated_file_adds_the_files_line_break() -> None:
    assert set_value("[global]\r\ntimeout = 5", "global", "cert", OURS) == (
        f"[global]\r\ntimeout = 5\r\ncert = {OURS}\r\n"
    )


def test_appends_a_missing_section_with_the_files_line_ending() -> None:
    assert set_value("[install]\r\nuser = yes\r\n", "global", "cert", OURS) == (
        f"[install]\r\nuser = yes\r\n\r\n[global]\r\ncert = {OURS}\r\n"
    )


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_new_text_gets_the_default_line_ending(newline: str) -> None:
    assert set_value("", "global", "cert", OURS, default_newline=newline) == (
        f"[global]{newline}cert = {OURS}{newline}"
    )


def test_an_indented_line_after_a_key_is_that_keys_value_not_a_key() -> None:
    # configparser reads "  cert = /x" as the second line of `a`; so must we.
    text = "[global]\na = 1\n  cert = /x\n"
    result = set_value(text, "global", "cert", OURS)
    assert result == f"[global]\na = 1\n  cert = /x\ncert = {OURS}\n"
    assert inifile.get_value(result, "global", "a") == "1\ncert = /x"


def test_a_new_key_in_an_empty_section_does_not_swallow_an_indented_header() -> None:
    text = "[global]\n    [install]\nuser = yes\n"
    result = set_value(text, "global", "cert", OURS)
    assert inifile.get_value(result, "install", "user") == "yes"
    assert inifile.get_value(result, "global", "cert") == OURS


def test_section_names_are_case_sensitive_like_configparser() -> None:
    result = set_value("[Global]\ncert = /old\n", "global", "cert", OURS)
    assert result == f"[Global]\ncert = /old\n\n[global]\ncert = {OURS}\n"


def test_a_key_in_default_is_overridden_not_edited() -> None:
    text = "[DEFAULT]\ncert = /old\n[global]\nx = 1\n"
    result = set_value(text, "global", "cert", OURS)
    assert result == f"[DEFAULT]\ncert = /old\n[global]\nx = 1\ncert = {OURS}\n"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("[global]\ncert = /a\n[install]\n[global]\n", 4, "appears twice"),
        ("[global]\ncert = /a\nCERT = /b\n", 3, "'cert' appears twice"),
        ("cert = /a\n[global]\n", 1, "before the first [section]"),
        ("\ufeff[global]\n", 1, "before the first [section]"),
        ("[global]\ncert = /a\njust words\n", 3, "not a 'key = value' line: 'just words'"),
    ],
)
def test_text_the_parser_rejects_is_refused_with_its_line(
    text: str, line: int, reason: str
) -> None:
    with pytest.raises(IniError) as caught:
        set_value(text, "global", "cert", OURS)
    assert caught.value.line == line
    assert reason in caught.value.reason


@pytest.mark.parametrize("value", ["/a\n/b", "/a\r", " /a", "/a "])
def test_a_value_the_parser_would_change_is_refused(value: str) -> None:
    with pytest.raises(IniError):
        set_value("[global]\n", "global", "cert", value)


def test_lone_carriage_returns_end_lines_as_in_a_text_file() -> None:
    assert inifile.split_lines("a\rb\r\nc\nd") == [
        inifile.Line("a", "\r"),
        inifile.Line("b", "\r\n"),
        inifile.Line("c", "\n"),
        inifile.Line("d", ""),
    ]
    assert (
        set_value("[global]\rx = 1\r", "global", "cert", OURS)
        == f"[global]\rx = 1\rcert = {OURS}\r"
    )


def test_write_atomically_keeps_the_mode_and_creates_folders(tmp_path: Path) -> None:
    tmp_path = tmp_path / "work"
    tmp_path.mkdir()
    existing = tmp_path / "pip.conf"
    existing.write_bytes(b"old")
    existing.chmod(0o600)
    inifile.write_atomically(existing, b"new")
    assert existing.read_bytes() == b"new"
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600

    fresh = tmp_path / "a" / "b" / "pip.conf"
    inifile.write_atomically(fresh, b"x")
    assert fresh.read_bytes() == b"x"
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "pip.conf"]  # no temp left


# --- property: any text the parser accepts keeps every line outside the changed key ---

_NAMES = st.sampled_from(["index-url", "timeout", "Cert", "cert", "CERT", "trusted-host", "x"])
_VALUES = st.text(alphabet="abc /:=#;é", max_size=12)
_GAP = st.sampled_from(["", " ", "\t"])


@st.composite
def _section_lines(draw: st.DrawFn, name: str) -> list[tuple[str, bool]]:
    """(line, is the cert value) pairs; continuation lines are indented under their key."""
    lines: list[tuple[str, bool]] = [(f"[{name}]", False)]
    used: set[str] = set()
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["key", "comment", "blank"]))
        if kind == "comment":
            lines.append((draw(st.sampled_from(["#", ";", "  #"])) + draw(_VALUES), False))
        elif kind == "blank":
            lines.append((draw(st.sampled_from(["", "  "])), False))
        else:
            key = draw(_NAMES)
            if key.lower() in used:
                continue
            used.add(key.lower())
            is_cert = name == "global" and key.lower() == "cert"
            delimiter = draw(st.sampled_from(["=", ":"]))
            value = draw(_VALUES).strip()
            lines.append((f"{key}{draw(_GAP)}{delimiter}{draw(_GAP)}{value}", is_cert))
            for _ in range(draw(st.integers(0, 2))):
                lines.append(("    z" + draw(_VALUES).strip(), is_cert))
    return lines


@st.composite
def _ini_texts(draw: st.DrawFn) -> tuple[list[tuple[str, bool]], str, bool]:
    names = draw(st.lists(st.sampled_from(["global", "install", "Global", "x"]), unique=True))
    lines = [pair for name in names for pair in draw(_section_lines(name))]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return lines, newline, draw(st.booleans())


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_ini_texts())
def test_every_line_outside_the_changed_key_stays_byte_identical(
    case: tuple[list[tuple[str, bool]], str, bool],
) -> None:
    lines, newline, final_break = case
    text = newline.join(line for line, _ in lines) + (newline if final_break and lines else "")
    try:
        configparser.RawConfigParser().read_string(text)
    except configparser.Error:
        assume(False)
    result = set_value(text, "global", "cert", OURS, default_newline=newline)

    expected = _without_trailing_blanks([line for line, is_cert in lines if not is_cert])
    result_lines = inifile.split_lines(result)
    assert {line.end for line in result_lines} <= {newline, ""}
    actual = _without_trailing_blanks(
        [line.body for line in result_lines if not line.body.endswith(OURS)]
    )
    if not any(line == "[global]" for line, _ in lines):  # we appended "[global]" + our key
        assert actual[-1] == "[global]"
        actual = _without_trailing_blanks(actual[:-1])  # and perhaps a blank line before it
    assert actual == expected
    assert inifile.get_value(result, "global", "cert") == OURS


def _without_trailing_blanks(lines: list[str]) -> list[str]:
    while lines and lines[-1] == "":
        lines = lines[:-1]
    return lines


def test_remove_value_drops_the_key_and_its_continuations_only() -> None:
    text = (
        "# my settings\r\n"
        "[global]\r\n"
        "timeout = 5\r\n"
        "trusted-host = pypi.org\r\n"
        "    files.pythonhosted.org\r\n"
        "# a note between lines stays\r\n"
        "    pypi.python.org\r\n"
        "index-url = https://example.org/simple\r\n"
        "[install]\r\n"
        "trusted-host=z"
    )
    assert inifile.remove_value(text, "global", "trusted-host") == (
        "# my settings\r\n"
        "[global]\r\n"
        "timeout = 5\r\n"
        "# a note between lines stays\r\n"
        "index-url = https://example.org/simple\r\n"
        "[install]\r\n"
        "trusted-host=z"
    )
    assert inifile.remove_value(text, "install", "trusted-host").endswith("[install]")
    assert inifile.remove_value(text, "install", "absent") == text


def test_a_killed_writers_temp_files_are_removed_by_the_next_write(tmp_path: Path) -> None:
    """A run killed between creating its temp file and the rename leaves
    `.pip.conf.<16 hex digits>.tmp` (`<8 chars>` from earlier versions, which used mkstemp);
    the next write of that file removes it once it is old, and no other file."""
    target = tmp_path / "pip.conf"
    stale = [
        tmp_path / ".pip.conf.0123456789abcdef.tmp",
        tmp_path / ".pip.conf.k1ll3d_x.tmp",
        tmp_path / ".pip.conf.abcdefgh.tmp",
    ]
    kept = [
        tmp_path / ".pip.conf.toolongname.tmp",  # not a name of ours
        tmp_path / ".pip.ini.abcdefgh.tmp",  # another file's
        tmp_path / "notes.tmp",
    ]
    live = tmp_path / ".pip.conf.fedcba9876543210.tmp"  # a run for another bundle, now
    for item in [*stale, *kept, live]:
        item.write_text("half a file")
    an_hour_ago = time.time() - 3600
    for item in [*stale, *kept]:
        os.utime(item, (an_hour_ago, an_hour_ago))
    inifile.write_atomically(target, b"[global]\n")
    assert target.read_bytes() == b"[global]\n"
    assert not any(item.exists() for item in stale)
    assert all(item.exists() for item in kept)
    # Another run's write in progress (runs for other bundles take other locks) is left.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".pip.conf.")) == [
        ".pip.conf.fedcba9876543210.tmp",
        ".pip.conf.toolongname.tmp",
    ]


def test_a_value_of_several_lines_goes_back_as_continuation_lines() -> None:
    """undo puts back what a person wrote over two lines (configparser reads '\\n/path')."""
    original = "[global]\ncert =\n    /etc/ssl/certs/ca-certificates.crt\ntimeout = 60\n"
    old = get_value(original, "global", "cert")
    assert old == "\n/etc/ssl/certs/ca-certificates.crt"
    ours = set_value(original, "global", "cert", "/b/ca-bundle.pem")
    assert ours == "[global]\ncert = /b/ca-bundle.pem\ntimeout = 60\n"
    assert set_value(ours, "global", "cert", old) == original
    last_line = set_value("[global]\ncert = x", "global", "cert", "a\nb")
    assert last_line == "[global]\ncert = a\n    b"  # still no final line break
    assert get_value(last_line, "global", "cert") == "a\nb"


@pytest.mark.parametrize("value", ["a\n#b", "a\n;b", "a\n b", "a\r\nb", "a\n"])
def test_a_value_line_the_parser_would_not_read_back_is_refused(value: str) -> None:
    with pytest.raises(IniError):
        set_value("[global]\ncert = x\n", "global", "cert", value)


def test_the_mode_is_set_on_the_open_file_not_through_a_name_swapped_for_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temp file's mode was set by name after it was closed: in a folder another
    account can write, they could swap the name for a link to /etc/shadow in between, and
    root chmod'ed (and chown'ed) what it named. A swap at the last moment the file is open:"""
    config = tmp_path / "pip.conf"
    config.write_text("[global]\n")
    config.chmod(0o644)
    victim = tmp_path / "shadow"
    victim.write_text("root:*:19000::::::\n")
    victim.chmod(0o600)
    real_fsync = os.fsync

    def swap_then_fsync(descriptor: int) -> None:
        real_fsync(descriptor)
        for temp in tmp_path.glob(".pip.conf.*.tmp"):  # the temp file's own fsync
            if not temp.is_symlink():
                temp.unlink()
                temp.symlink_to(victim)

    monkeypatch.setattr(os, "fsync", swap_then_fsync)
    inifile.write_atomically(config, b"[global]\ncert = /b.pem\n")
    assert victim.stat().st_mode & 0o777 == 0o600
    assert victim.read_text() == "root:*:19000::::::\n"
