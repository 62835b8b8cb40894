"""Stand-ins for tools that are not installed here: ``conda config`` and ``uv --version``.

Run as ``python fake_tool.py <tool> <args...>`` through the wrapper :func:`install` puts on
PATH. Every call appends its argv (JSON, one line) to ``$FAKE_TOOL_LOG``, so tests can check
the arguments against the tool's documented CLI.

The conda part behaves like conda/cli/main_config.py for the commands the target uses:
``[--system | --env | --file F] --get KEY --json`` (prints ``{"get", "rc_path", ...}``; reads
the system file in place of a missing one, as conda does, and writes what it read, with the
change, to the missing file), ``--set KEY VALUE`` (``true`` and
``false`` become YAML booleans), ``--remove-key KEY`` (fails if absent) and
``--show-sources --json``. Files: user ``~/.condarc``, system ``$FAKE_CONDA_ROOT/.condarc``,
environment ``$CONDA_PREFIX/.condarc``. Other lines (comments) survive, as with ruamel.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

_BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def install(bin_dir: Path, tool: str, python: str = sys.executable) -> Path:
    """Put an executable ``tool`` into ``bin_dir`` that runs this fake; return its path."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / tool
    wrapper.write_text(f'#!/bin/sh\nexec "{python}" "{__file__}" {tool} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def calls(log: Path) -> list[list[str]]:
    """The argv of every call recorded in ``log``, oldest first."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def _record(tool: str, argv: list[str]) -> None:
    log = os.environ.get("FAKE_TOOL_LOG")
    if log:
        with Path(log).open("a", encoding="utf-8") as stream:
            stream.write(json.dumps([tool, *argv]) + "\n")


def _scalar(text: str) -> object:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return _BOOLEANS.get(text.lower(), text)


def _yaml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    values: dict[str, object] = {}
    for line in path.read_text().splitlines():
        if line.strip().startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        values[key.strip()] = _scalar(value)
    return values


def _write(path: Path, source: Path, key: str, value: object | None) -> None:
    """Set or remove ``key`` in ``path``, starting from ``source``'s lines, as conda starts
    from the system file when ``path`` is missing and then writes all of it to ``path``."""
    lines = source.read_text().splitlines() if source.exists() else []
    kept = [line for line in lines if line.partition(":")[0].strip() != key or line.startswith("#")]
    if value is not None:
        kept.append(f"{key}: {_yaml(value)}")
    path.write_text("".join(f"{line}\n" for line in kept))


def _paths() -> tuple[Path, Path, Path | None]:
    user = Path(os.environ["HOME"]) / ".condarc"
    system = Path(os.environ.get("FAKE_CONDA_ROOT", "/nonexistent-conda-root")) / ".condarc"
    prefix = os.environ.get("CONDA_PREFIX")
    return user, system, Path(prefix) / ".condarc" if prefix else None


def _conda(argv: list[str]) -> int:
    if argv[:1] != ["config"]:
        sys.stderr.write(f"fake conda: unsupported command {argv}\n")
        return 2
    args = argv[1:]
    as_json = "--json" in args
    args = [a for a in args if a != "--json"]
    user, system, environment = _paths()
    if args == ["--show-sources"]:
        return _show_sources([system, user, environment], as_json)
    rc_path = user
    if args[:1] == ["--system"]:
        rc_path, args = system, args[1:]
    elif args[:1] == ["--env"]:
        rc_path, args = environment or user, args[1:]
    elif args[:1] == ["--file"]:
        rc_path, args = Path(args[1]), args[2:]
    # conda reads the system file in place of a missing one (main_config.execute_config).
    source = rc_path if rc_path.exists() or not system.exists() else system
    return _config(rc_path, source, args, as_json)


def _config(rc_path: Path, source: Path, args: list[str], as_json: bool) -> int:
    """--get, --set and --remove-key on one file."""
    if args[:1] == ["--get"] and len(args) == 2:
        values = _read(source)
        got = {args[1]: values[args[1]]} if args[1] in values else {}
        if as_json:
            print(json.dumps({"get": got, "rc_path": str(rc_path), "success": True}))
        return 0
    if args[:1] == ["--set"] and os.environ.get("FAKE_CONDA_SET_FAILS"):
        sys.stderr.write("CondaError: simulated failure\n")
        return 1
    if args[:1] == ["--set"] and len(args) == 3:
        _write(rc_path, source, args[1], _scalar(args[2]))
        return 0
    if args[:1] == ["--remove-key"] and len(args) == 2 and args[1] in _read(source):
        _write(rc_path, source, args[1], None)
        return 0
    if args[:1] == ["--remove-key"]:
        sys.stderr.write(f"CondaKeyError: '{args[-1]}': undefined in config\n")
        return 1
    sys.stderr.write(f"fake conda: unsupported arguments {args}\n")
    return 2


def _show_sources(paths: list[Path | None], as_json: bool) -> int:
    sources: dict[str, dict[str, object]] = {
        str(path): _read(path) for path in paths if path is not None and path.exists()
    }
    if "CONDA_SSL_VERIFY" in os.environ:
        sources["envvars"] = {"ssl_verify": _scalar(os.environ["CONDA_SSL_VERIFY"])}
    print(json.dumps(sources) if as_json else sources)
    return 0


def _uv(argv: list[str]) -> int:
    if argv == ["--version"]:
        print(f"uv {os.environ.get('FAKE_UV_VERSION', '0.12.5')} (fake 2026-01-01)")
        return 0
    sys.stderr.write(f"fake uv: unsupported arguments {argv}\n")
    return 2


def main(argv: list[str]) -> int:
    tool, *rest = argv
    _record(tool, rest)
    return {"conda": _conda, "uv": _uv}[tool](rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
