"""The library's wheel as pip builds it for a learner (Colab installs from the repository, so
pip builds a wheel from a clone), and the library modules the course's sources import."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from notebook_checks import ROOT

LIBRARY = "alexnet_book"
#: Where the course's sources import the library from: the chapters, the assignments (and
#: their rules file), the tools and the benchmarks.
IMPORTING_SOURCES = ("notebooks", "assignments", "tools", "benchmarks")


def clean_pip_env() -> dict:
    # This machine's pip configuration (local mirrors, caps) must not colour the answer.
    return {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _repository_files() -> list[str]:
    """What a clone would hold: the tracked files and new ones git does not ignore (so that an
    uncommitted module counts), without build outputs such as an editable install's."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others",
                             "--exclude-standard", "-z"], capture_output=True, text=True)
    if listed.returncode != 0:  # not a git checkout: the library and its build files
        return [str(p.relative_to(ROOT)) for p in (ROOT / LIBRARY).rglob("*.py")] + \
            ["pyproject.toml", "README.md"]
    return [name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()]


def clean_copy(folder: Path) -> Path:
    """A copy of the repository as a fresh clone has it, in ``folder``."""
    for name in _repository_files():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    return folder


def library_wheel(folder: Path) -> Path:
    """The wheel pip builds from a clean copy of the repository (in an isolated build
    environment, as pip does in Colab), in ``folder``."""
    source = clean_copy(folder / "source")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source),
                    "-w", str(folder)], check=True, env=clean_pip_env(), timeout=300)
    return next(folder.glob(f"{LIBRARY}-*.whl"))


def wheel_modules(wheel: Path) -> set[str]:
    """Dotted names of the Python modules and packages a wheel holds."""
    modules = set()
    for name in zipfile.ZipFile(wheel).namelist():
        if name.endswith(".py") and not name.startswith(f"{LIBRARY}-"):
            parts = name[:-3].split("/")
            modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def source_modules() -> set[str]:
    """Every module and package of the library's source tree (what the wheel must hold)."""
    modules = set()
    for path in (ROOT / LIBRARY).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def _code(path: Path) -> list[str]:
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        # IPython's magics and shell lines are not Python
        return ["\n".join(line for line in s.splitlines() if not line.lstrip().startswith(("%", "!")))
                for s in sources]
    return [path.read_text()]


def imported_library_modules(source: str, is_module) -> set[str]:
    """The library modules a piece of Python imports: ``import alexnet_book.x``,
    ``from alexnet_book.x import y`` and ``from alexnet_book import y`` where ``y`` is a
    module (``is_module(name)`` tells a module from a function or class)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == LIBRARY}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.split(".")[0] == LIBRARY:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if is_module(f"{node.module}.{a.name}")}
    return found


def _is_source_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def modules_the_course_imports() -> dict[str, set[str]]:
    """Each library module any notebook, assignment, tool or benchmark imports, with the
    files that import it."""
    importers: dict[str, set[str]] = {}
    for folder in IMPORTING_SOURCES:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix not in (".py", ".ipynb") or ".ipynb_checkpoints" in path.parts:
                continue
            for code in _code(path):
                for module in imported_library_modules(code, _is_source_module):
                    importers.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    return importers
