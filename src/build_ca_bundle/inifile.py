"""Set one key in an INI file and keep every other byte.

``configparser`` can read INI files but writing one back drops comments, blank lines and
key spellings. This editor changes the one line that holds the key (or inserts one) and
leaves the rest of the text alone. It reads lines exactly as ``RawConfigParser`` with its
defaults does (``#``/``;`` full-line comments, no inline comments, ``=``/``:`` delimiters,
indented continuation lines, blank lines inside values), so it finds the same key the
parser finds. After every edit the result is parsed again; an edit that would change any
other value, or not read back, is refused.

It knows nothing about any tool: the caller passes how key names are normalised.
"""

from __future__ import annotations

import configparser
import contextlib
import enum
import errno
import os
import re
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path

from build_ca_bundle.tempfiles import temp_name, temp_target
from build_ca_bundle.values import Value

TYPE_CHECKING = False  # not typing's: importing typing costs 3 ms of a full run
if TYPE_CHECKING:
    from typing import Final

# configparser's own patterns, so both read a line the same way.
_SECTION_RE = configparser.RawConfigParser.SECTCRE
_OPTION_RE = configparser.RawConfigParser.OPTCRE
_NONSPACE_RE = configparser.RawConfigParser.NONSPACECRE
_COMMENT_PREFIXES = ("#", ";")

# Text files are read with universal newlines: these three end a line, nothing else does.
_LINE_RE = re.compile(r"[^\r\n]*(\r\n|\r|\n|$)")

KeyNormalizer = Callable[[str], str]


class IniError(ValueError):
    """The text is not an INI file the parser accepts, or the edit cannot be made safely."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason if line is None else f"line {line}: {reason}")
        self.reason = reason
        self.line = line  # 1-based, as configparser counts


class Line(Value):
    """One line of the text: its content and the terminator it had ("" on a last line)."""

    __slots__ = ("body", "end")
    body: Final[str]
    end: Final[str]

    def __init__(self, body: str, end: str) -> None:
        self.body = body
        self.end = end


class _Kind(enum.Enum):
    BLANK = "blank"
    COMMENT = "comment"
    SECTION = "section"
    OPTION = "option"
    CONTINUATION = "continuation"  # an indented line that extends the value above
    INVALID = "invalid"


# What may sit between a key's line and its last continuation line.
_INSIDE_VALUE = (_Kind.CONTINUATION, _Kind.BLANK, _Kind.COMMENT)


class _Classified(Value):
    __slots__ = ("kind", "section", "key", "indent")
    kind: Final[_Kind]
    section: Final[str | None]  # the section the line is in (the header's own name for a header)
    key: Final[str | None]  # normalised key name, for an option or its continuation lines
    indent: Final[int]

    def __init__(self, kind: _Kind, section: str | None, key: str | None, indent: int) -> None:
        self.kind = kind
        self.section = section
        self.key = key
        self.indent = indent


def split_lines(text: str) -> list[Line]:
    """Split like a text file read with universal newlines, keeping each terminator."""
    lines: list[Line] = []
    position = 0
    while position < len(text):
        match = _LINE_RE.match(text, position)
        if match is None:  # pragma: no cover - the pattern matches at every position
            break
        lines.append(Line(text[match.start() : match.start(1)], match.group(1)))
        position = match.end()
    return lines


def join_lines(lines: list[Line]) -> str:
    return "".join(line.body + line.end for line in lines)


def parse(text: str, normalize_key: KeyNormalizer = str.lower) -> configparser.RawConfigParser:
    """Parse as ``RawConfigParser`` (strict) does, or raise :class:`IniError` with the line."""
    parser = _Parser(normalize_key)
    try:
        parser.read_file((line.body + "\n" for line in split_lines(text)), source="<text>")
    except configparser.Error as error:
        raise _as_ini_error(error) from error
    return parser


class _Parser(configparser.RawConfigParser):
    def __init__(self, normalize_key: KeyNormalizer) -> None:
        super().__init__()
        self._normalize_key = normalize_key

    def optionxform(self, optionstr: str) -> str:
        return self._normalize_key(optionstr)


def _unrepr(line: str) -> str:
    """configparser keeps a bad line as its repr(): the line itself, to quote it once."""
    import ast

    try:
        value = ast.literal_eval(line)
    except (ValueError, SyntaxError):
        return line
    return value if isinstance(value, str) else line


def _as_ini_error(error: configparser.Error) -> IniError:
    """Name the first bad line; configparser's own messages are long and name a fake file."""
    if isinstance(error, configparser.MissingSectionHeaderError):
        return IniError(
            f"text before the first [section] header: {error.line.strip()!r}", error.lineno
        )
    if isinstance(error, configparser.ParsingError):
        lineno, line = error.errors[0]
        return IniError(f"not a 'key = value' line: {_unrepr(line).strip()!r}", lineno)
    if isinstance(error, configparser.DuplicateSectionError):
        return IniError(f"section [{error.section}] appears twice", error.lineno)
    if isinstance(error, configparser.DuplicateOptionError):
        return IniError(f"key {error.option!r} appears twice in [{error.section}]", error.lineno)
    return IniError(str(error))


def get_value(
    text: str, section: str, key: str, normalize_key: KeyNormalizer = str.lower
) -> str | None:
    """The value the parser reads for ``[section] key``, or None if absent."""
    parser = parse(text, normalize_key)
    if not parser.has_option(section, normalize_key(key)):
        return None
    return parser.get(section, normalize_key(key))


def set_value(
    text: str,
    section: str,
    key: str,
    value: str,
    *,
    normalize_key: KeyNormalizer = str.lower,
    default_newline: str = "\n",
) -> str:
    """Return ``text`` with ``[section] key = value``, every other line unchanged.

    An existing key keeps its spelling, indent and delimiter; only the value (all its
    continuation lines) is replaced. A missing key goes after the section's last key; a
    missing section is appended. New lines use the text's first line ending, or
    ``default_newline`` if it has none.
    """
    _check_value(value)
    before = parse(text, normalize_key)
    lines = split_lines(text)
    newline = next((line.end for line in lines if line.end), default_newline)
    classified = _classify(lines, normalize_key)
    wanted = normalize_key(key)
    headers = [
        i for i, c in enumerate(classified) if c.kind is _Kind.SECTION and c.section == section
    ]
    if len(headers) > 1:
        raise IniError(f"section [{section}] appears twice", headers[1] + 1)
    if not headers:
        edited = _append_section(lines, section, key, value, newline)
    else:
        edited = _set_in_section(lines, classified, headers[0], wanted, key, value, newline)
    result = join_lines(edited)
    _check_result(before, result, section, wanted, value, normalize_key)
    return result


def remove_value(
    text: str, section: str, key: str, *, normalize_key: KeyNormalizer = str.lower
) -> str:
    """Return ``text`` without ``[section] key`` (its line and continuation lines); every
    other line unchanged. Text without the key comes back as it was."""
    before = parse(text, normalize_key)
    wanted = normalize_key(key)
    lines = split_lines(text)
    classified = _classify(lines, normalize_key)
    found = [
        i
        for i, c in enumerate(classified)
        if c.kind is _Kind.OPTION and c.section == section and c.key == wanted
    ]
    if not found:
        return text
    first = found[0]
    last = first
    following = first + 1
    while following < len(lines) and classified[following].kind in _INSIDE_VALUE:
        if classified[following].kind is _Kind.CONTINUATION:
            last = following
        following += 1
    # Comments and blank lines between continuation lines belong to nobody: keep them.
    dropped = {first} | {
        index for index in range(first, last + 1) if classified[index].kind is _Kind.CONTINUATION
    }
    kept = [line for index, line in enumerate(lines) if index not in dropped]
    if kept and last == len(lines) - 1 and lines[-1].end == "":
        kept[-1] = Line(kept[-1].body, "")  # the file still ends without a line break
    result = join_lines(kept)
    try:
        after = parse(result, normalize_key)
    except IniError as error:
        raise IniError(f"the edited text would not parse ({error})") from error
    inherited = wanted in after.defaults()  # a [DEFAULT] value still shows through
    if after.has_section(section) and after.has_option(section, wanted) and not inherited:
        raise IniError(f"[{section}] {key} is still there after removing it")
    skip = {(section, wanted)}
    if section == "DEFAULT":  # it goes from every section it showed through in, as meant
        shown = before.defaults()[wanted]
        skip |= {(name, wanted) for name in before.sections() if before.get(name, wanted) == shown}
    if _values(before, skip=skip) != _values(after, skip=skip):
        raise IniError("removing the key would change other values")
    return result


def _check_value(value: str) -> None:
    """A value the parser can read back: its first line on the key's line, the others as
    continuation lines (undo puts back a value a person wrote over several lines)."""
    if "\r" in value:
        raise IniError("a value cannot contain a carriage return")
    first, *more = value.split("\n")
    if first != first.strip() or value != value.rstrip():
        raise IniError("a value cannot start or end with white space; the parser strips it")
    for line in more:
        if line != line.strip() or line.startswith(_COMMENT_PREFIXES):
            raise IniError("a value's line cannot start with white space or a comment mark")


def _classify(lines: list[Line], normalize_key: KeyNormalizer) -> list[_Classified]:
    """Label each line the way ``RawConfigParser._read`` walks it (default settings)."""
    result: list[_Classified] = []
    section: str | None = None
    key: str | None = None
    indent_level = 0
    for line in lines:
        stripped = line.body.strip()
        if stripped.startswith(_COMMENT_PREFIXES) or not stripped:
            kind = _Kind.COMMENT if stripped else _Kind.BLANK
            result.append(_Classified(kind, section, None, 0))
            continue
        found = _NONSPACE_RE.search(line.body)
        indent = found.start() if found else 0
        if section is not None and key and indent > indent_level:
            result.append(_Classified(_Kind.CONTINUATION, section, key, indent))
            continue
        indent_level = indent
        header = _SECTION_RE.match(stripped)
        if header:
            section, key = header.group("header"), None
            result.append(_Classified(_Kind.SECTION, section, None, indent))
            continue
        option = _OPTION_RE.match(stripped) if section is not None else None
        if option is None:
            result.append(_Classified(_Kind.INVALID, section, None, indent))
            continue
        key = normalize_key(option.group("option").rstrip())
        result.append(_Classified(_Kind.OPTION, section, key, indent))
    return result


def _set_in_section(
    lines: list[Line],
    classified: list[_Classified],
    header: int,
    wanted: str,
    key: str,
    value: str,
    newline: str,
) -> list[Line]:
    end = next(
        (i for i in range(header + 1, len(lines)) if classified[i].kind is _Kind.SECTION),
        len(lines),
    )
    members = range(header + 1, end)
    existing = [
        i for i in members if classified[i].kind is _Kind.OPTION and classified[i].key == wanted
    ]
    if existing:
        return _replace_value(lines, classified, existing[0], value, newline)
    content = [i for i in members if classified[i].kind in (_Kind.OPTION, _Kind.CONTINUATION)]
    after = content[-1] if content else header
    indent = _indent_for_new_key(lines, classified, after, end)
    return _insert_after(lines, after, Line(f"{indent}{key} = {value}", newline), newline)


def _indent_for_new_key(
    lines: list[Line], classified: list[_Classified], after: int, end: int
) -> str:
    """Indent a new key so that the line after it keeps its meaning.

    Copy the indent of the section's last key. In an empty section, match the next header:
    a header indented deeper than the key before it would be read as that key's value.
    """
    if classified[after].kind is _Kind.SECTION:
        depth = classified[end].indent if end < len(lines) else 0
        return " " * depth
    option = max(i for i in range(after + 1) if classified[i].kind is _Kind.OPTION)
    return lines[option].body[: classified[option].indent]


def _replace_value(
    lines: list[Line], classified: list[_Classified], index: int, value: str, newline: str
) -> list[Line]:
    """Swap the value on the key's line and drop its continuation lines (comments stay);
    a value of several lines gets continuation lines of its own."""
    line = lines[index]
    indent = classified[index].indent
    match = _OPTION_RE.match(line.body[indent:].rstrip())
    if match is None:  # pragma: no cover - the line was classified as an option
        raise IniError("cannot find the value on its line", index + 1)
    head = line.body[: indent + match.start("value")]
    first, *more = value.split("\n")
    if first and not match.group("value") and head.endswith((" =", " :")):
        head += " "  # "cert =" held nothing: "cert = /path", not "cert =/path"
    elif not first:
        head = head.rstrip()  # "cert =", its value below it
    continuation = " " * (indent + 4)
    kept = [Line(head + first, line.end or (newline if more else ""))]
    kept += [Line(continuation + part if part else "", newline) for part in more]
    if more:
        kept[-1] = Line(kept[-1].body, line.end)
    following = index + 1
    while following < len(lines) and classified[following].kind in _INSIDE_VALUE:
        if classified[following].kind is not _Kind.CONTINUATION:
            kept.append(lines[following])
        following += 1
    if following == len(lines) and lines[-1].end == "":
        # We dropped the unterminated last line: the file still ends without a line break.
        kept[-1] = Line(kept[-1].body, "")
    return [*lines[:index], *kept, *lines[following:]]


def _insert_after(lines: list[Line], index: int, new: Line, newline: str) -> list[Line]:
    before = lines[: index + 1]
    if before[-1].end == "":
        before[-1] = Line(before[-1].body, newline)
    return [*before, new, *lines[index + 1 :]]


def _append_section(
    lines: list[Line], section: str, key: str, value: str, newline: str
) -> list[Line]:
    edited = list(lines)
    if edited and edited[-1].end == "":
        edited[-1] = Line(edited[-1].body, newline)
    if edited and edited[-1].body.strip():
        edited.append(Line("", newline))  # a blank line between sections, for people
    edited.append(Line(f"[{section}]", newline))
    edited.append(Line(f"{key} = {value}", newline))
    return edited


def _check_result(
    before: configparser.RawConfigParser,
    result: str,
    section: str,
    key: str,
    value: str,
    normalize_key: KeyNormalizer,
) -> None:
    """Refuse an edit that does not read back, or that changed anything else."""
    try:
        after = parse(result, normalize_key)
    except IniError as error:
        raise IniError(f"the edited text would not parse ({error})") from error
    if not after.has_option(section, key) or after.get(section, key) != value:
        raise IniError(f"the edited text does not read back [{section}] {key} = {value}")
    if _values(before, skip={(section, key)}) != _values(after, skip={(section, key)}):
        raise IniError("the edit would change other values")


def _values(
    parser: configparser.RawConfigParser, skip: set[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """Every value the parser reads, by (section, key), but those in ``skip``."""
    found = {("DEFAULT", name): raw for name, raw in parser.defaults().items()}
    for name in parser.sections():
        for option in parser.options(name):
            found[(name, option)] = parser.get(name, option)
    for item in skip:
        found.pop(item, None)
    return found


def write_atomically(
    path: Path, data: bytes, *, mode: int | None = None, ours: bool = False
) -> None:
    """Replace ``path`` with ``data`` so that readers see the old file or the new one.

    Temp file in the same folder, fsync, ``os.replace``. Keeps the file's permission bits
    (and owner, where we may set it); a new file gets ``mode`` (default 0o644). Callers hold
    the run lock, so a temp file of ours for ``path`` is a killed run's: it is removed.
    ``ours``: a record or roots' file of this tool's, which gets ``mode`` and the running
    account as its owner whatever was there (another account's, kept, made root's new
    record theirs to edit).
    """
    _make_folders(path.parent)
    # A config file is shared by runs for other bundles, which hold other run locks: only
    # a temp file too old to be another run's live write is a killed run's.
    remove_stale_temps(path, older_than=_STALE_AFTER)
    existing = _stat_or_none(path)
    if existing is not None:
        refuse_read_only(path)
    if ours:
        existing = None
    temp = temp_path(path)
    handle = os.open(temp, NEW_FILE_FLAGS, 0o600)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            wanted = existing.st_mode & 0o7777 if existing else (0o644 if mode is None else mode)
            _set_mode_and_owner(stream.fileno(), temp, wanted, existing)
            os.fsync(stream.fileno())
        temp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    sync_folder(path.parent)


def _make_folders(folder: Path) -> None:
    """Create the missing folders as mkdir does, except that the umask may neither open them
    to other accounts' writes (umask 000: another user could swap pip.conf) nor shut out
    their owner (umask 0222 or 0777: the next write fails). A umask of 077 stays private."""
    missing = []
    while not folder.is_dir() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        if new.is_symlink():  # dangling: mkdir would say only "File exists"
            raise FileNotFoundError(
                errno.ENOENT, f"{new} is a link to {new.readlink()}, which does not exist"
            )
        new.mkdir(exist_ok=True)
        if os.name == "posix":
            mask = os.umask(0)
            os.umask(mask)
            with contextlib.suppress(OSError):
                new.chmod(((0o777 & ~mask) | 0o700) & ~0o022)


# A new file only, never through a planted link (what mkstemp does; tempfile itself would
# import shutil, random and the compression modules: 4 ms of a full run).
NEW_FILE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)


def temp_path(path: Path) -> Path:
    """A fresh name for a temp file beside ``path``: ``.<name>.<16 hex digits>.tmp``."""
    return path.with_name(temp_name(path.name))


_STALE_AFTER = 600.0  # seconds: a live write takes milliseconds


def remove_stale_temps(*paths: Path, older_than: float | None = None) -> None:
    """Remove ``.<name>.<random part>.tmp`` beside each of ``paths`` (files of one folder):
    a killed run's temp files. Exactly that pattern, so no other file is touched. Callers
    hold the lock every writer of them takes, or give ``older_than`` (seconds since the
    temp file was written)."""
    if not paths:
        return
    names = {path.name for path in paths}
    try:
        items = list(paths[0].parent.iterdir())
    except OSError:
        return
    now = time.time()
    for item in items:
        if temp_target(item.name) in names:
            with contextlib.suppress(OSError):
                if older_than is None or now - item.lstat().st_mtime > older_than:
                    item.unlink()


def refuse_read_only(path: Path) -> None:
    """A file made read-only for us (chmod 444, the Windows read-only flag, another owner)
    is meant to stay as it is, though the rename would replace it: the folder allows that."""
    if os.access(path, os.W_OK) and not _read_only_for_root(path):
        return
    statvfs, read_only_mount = getattr(os, "statvfs", None), getattr(os, "ST_RDONLY", 0)
    try:
        mounted_read_only = statvfs is not None and bool(statvfs(path).f_flag & read_only_mount)
    except OSError:
        mounted_read_only = False
    if mounted_read_only:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
    raise PermissionError(errno.EACCES, "read-only for this account", str(path))


def _read_only_for_root(path: Path) -> bool:
    """Root may write any file, so access() says yes to a chmod 444 pip.conf: no write bit
    at all means it was made read-only on purpose, and root leaves it too."""
    if sys.platform == "win32":
        return False
    else:  # noqa: RET505 - mypy checks each platform's branch only under its own platform
        info = _stat_or_none(path) if os.geteuid() == 0 else None
        return info is not None and not info.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _set_mode_and_owner(
    descriptor: int, temp: Path, mode: int, existing: os.stat_result | None
) -> None:
    """The temp file's mode, and the owner of the file it replaces (a root run that edits a
    user's file must leave it theirs), set on the open file, not by name: between a close
    and a chmod by name, an account that can write the folder could swap the name for a
    link to /etc/shadow, and root would chmod and chown that."""
    if sys.platform == "win32":
        temp.chmod(mode)  # only the read-only bit: no links to swap in by an ordinary user
    else:
        os.fchmod(descriptor, mode)
        if existing is not None:
            with contextlib.suppress(OSError):
                os.fchown(descriptor, existing.st_uid, existing.st_gid)


def sync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); Windows cannot open a folder for this."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
