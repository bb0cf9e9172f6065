"""Write the library's commit into every notebook's Colab setup cell (``LIBRARY = "..."``).

In Colab the cell installs the course's library from GitHub at that commit, so a copy of a
notebook kept from an older version of the course gets the library it was executed with,
not whatever the branch holds today (the branch is the fallback when the commit cannot be
reached). The commit is the last one that changed the library (``alexnet_book/`` and
``pyproject.toml``); ``tests/test_colab.py`` checks that the library at the pinned commit is
the library of HEAD.

Usage, after committing a change to the library::

    python tools/pin_library.py      # or: make pin
    git commit -am "Pin the notebooks to the library's commit"
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LIBRARY_PATHS = ("alexnet_book", "pyproject.toml")
PIN = re.compile(r'^LIBRARY = "([0-9a-f]*)"', re.MULTILINE)


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def library_commit() -> str:
    """The last commit that changed the library.

    Raises:
        SystemExit: the library has uncommitted changes (commit them first: the pin must
            name a commit that holds them).
    """
    if _git("status", "--porcelain", "--", *LIBRARY_PATHS):
        raise SystemExit("the library has uncommitted changes: commit them, then pin")
    return _git("log", "-1", "--format=%H", "--", *LIBRARY_PATHS)


def pin(commit: str, notebooks: list[Path]) -> list[Path]:
    """Write ``commit`` into each notebook's setup cell; returns the notebooks changed.

    Raises:
        ValueError: a notebook's first code cell has no ``LIBRARY = "..."`` line.
    """
    changed = []
    for path in notebooks:
        notebook = nbformat.read(path, 4)
        cell = next(c for c in notebook.cells if c.cell_type == "code")
        if not PIN.search(cell.source):
            raise ValueError(f"{path}: the first code cell has no LIBRARY = \"...\" line")
        source = PIN.sub(f'LIBRARY = "{commit}"', cell.source)
        if source != cell.source:
            cell.source = source
            nbformat.write(notebook, path)
            changed.append(path)
    return changed


def main() -> int:
    commit = library_commit()
    changed = pin(commit, sorted((ROOT / "notebooks").glob("*.ipynb")))
    print(f"library commit {commit[:12]}: {len(changed)} notebook(s) updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
