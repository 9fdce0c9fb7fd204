"""The README stays true: its marked Python blocks run, its command lines parse.

A ```python block runs here when it contains the comment ``# test: run`` (offline, with the
local model, in a temporary folder). Every ``chainserve ...`` or ``python -m chainserve ...``
line of a shell block must be a valid command line.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from chainserve.cli import parse

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
MARKER = "# test: run"
COMMAND = re.compile(r"(?:^|&&|;)\s*(?:chainserve|python3? -m chainserve)\b([^&;#\n]*)", re.M)


def _blocks(language: str) -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 1, match[2])
        for match in FENCE.finditer(text)
        if match[1] in language.split("|")
    ]


def test_marked_python_blocks_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CHAINSERVE_MODEL", "local")
    monkeypatch.chdir(tmp_path)
    marked = [(line, code) for line, code in _blocks("python") if MARKER in code]
    assert marked, f"no README python block is marked {MARKER!r}"
    for line, code in marked:
        # dont_inherit: the block runs as a user would run it, not with this
        # module's `from __future__ import annotations`.
        exec(compile(code, f"README.md:{line}", "exec", dont_inherit=True), {"__name__": "readme"})


def test_command_lines_in_shell_blocks_parse() -> None:
    for line, code in _blocks("bash|sh|shell|console"):
        for match in COMMAND.finditer(code):
            args = shlex.split(match[1])
            if "--help" in args or "--version" in args:
                continue
            try:
                parse(args)
            except SystemExit as exc:
                raise AssertionError(f"README.md:{line}: bad command {match[0]!r}") from exc
