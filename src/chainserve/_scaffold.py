"""``chainserve new``: copy the project template of the package, filled in with a name."""

from __future__ import annotations

import re
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from chainserve._version import __version__

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_SKIPPED = {"__pycache__", ".pytest_cache"}
# Template files named "dot_x" become ".x" (dotfiles are easy to lose in packaging), and
# "x.tmpl" becomes "x" (so that linters and test runners leave the template alone).
_DOT = "dot_"
_TMPL = ".tmpl"


class ScaffoldError(Exception):
    """The project cannot be created: bad name, or the folder is taken."""


def create_project(name: str, folder: Path) -> Path:
    """Create ``folder`` with the project template, named ``name``; return the folder."""
    if not _NAME.fullmatch(name):
        raise ScaffoldError(
            f"invalid project name {name!r}: use letters, digits, '-', '_' or '.', "
            "starting with a letter"
        )
    if folder.exists() and any(folder.iterdir()):
        raise ScaffoldError(f"{folder} already exists and is not empty")
    replacements = {"__PROJECT_NAME__": name, "__CHAINSERVE_VERSION__": __version__}
    _copy(resources.files("chainserve").joinpath("templates/project"), folder, replacements)
    return folder


def _copy(source: Traversable, folder: Path, replacements: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name in _SKIPPED or entry.name.endswith(".pyc"):
            continue
        name = entry.name.removesuffix(_TMPL)
        name = "." + name.removeprefix(_DOT) if name.startswith(_DOT) else name
        if entry.is_dir():
            _copy(entry, folder / name, replacements)
            continue
        text = entry.read_text(encoding="utf-8")
        for placeholder, value in replacements.items():
            text = text.replace(placeholder, value)
        (folder / name).write_text(text, encoding="utf-8")
