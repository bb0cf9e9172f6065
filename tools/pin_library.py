"""Pin every notebook to the library it was executed with, by content: the Colab setup cell.

The library is ``alexnet_book/`` and ``pyproject.toml``; its *content hash* (the first 16
hex digits of a SHA-256 over each file's path and bytes, see :func:`library_hash`) needs
no git history, so it is the same in a full clone, a shallow clone (CI's checkout of depth
1) and after a squash merge, and it can be written in the same commit as the library
change it names. This tool writes every notebook's first code cell from :data:`SETUP_CELL`
with that hash as ``LIBRARY = "..."``; in Colab the cell installs the library from the
repository's tag ``library-<hash>``, which the Pages workflow pushes (``make tag-library``,
``--tag`` here) on the first pushed head of ``main`` that holds that library, so a notebook
kept from an older course installs its own library. When the tag cannot be reached (a
branch not merged yet, or the workflow has not run) the cell installs the branch's
library and says so. ``tests/test_colab.py`` checks that the pinned hash is the hash of
the checkout's library (CONTRIBUTING, "The library pin", says why this design).

Usage, after changing the library (commit the library and the notebooks together)::

    python tools/pin_library.py           # or: make pin
    python tools/pin_library.py --check   # exit 1 when a notebook pins another library
    python tools/pin_library.py --tag     # (the Pages workflow) tag library-<hash> at HEAD
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARY_PATHS = ("alexnet_book", "pyproject.toml")
#: The pin as the setup cell writes it: 16 hex digits of the library's content hash.
PIN = re.compile(r'^LIBRARY = "([0-9a-f]*)"', re.MULTILINE)
HASH_DIGITS = 16
TAG_PREFIX = "library-"

#: Every notebook's first code cell (folded on the website: every name the page uses is
#: defined here). ``{repository}`` and ``{branch}`` come from ``_config.yml``.
SETUP_CELL = '''\
# Colab setup: install the course's library and only what Colab lacks, pinning every
# package Colab already has, so nothing Colab ships changes (pip stops instead, and this
# cell prints pip's reason). A no-op outside Colab, whose kernel imports google.colab.
import subprocess
import sys

REPOSITORY = "{repository}"
BRANCH = "{branch}"  # _config.yml's repository.branch
# The library these notebooks were executed with, by its content hash (tools/pin_library.py
# writes it; the repository's tag library-<hash> holds it), so a copy kept from an older
# course gets its own library; else the branch's.
LIBRARY = "{library}"
if "google.colab" in sys.modules:
    installed = subprocess.run([sys.executable, "-m", "pip", "list", "--format=freeze"],
                               capture_output=True, text=True, check=True).stdout
    with open("/tmp/colab-installed.txt", "w") as pins:
        pins.write(installed)

    def install_library(ref: str) -> bool:
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--progress-bar", "off",
                               "-c", "/tmp/colab-installed.txt",
                               f"alexnet_book[chapters] @ git+{{REPOSITORY}}@{{ref}}"],
                              capture_output=True, text=True)
        if done.returncode:  # pip's own reason: which package blocks, and what it needs
            print("\\n".join((done.stdout + done.stderr).strip().splitlines()[-25:]))
        return done.returncode == 0

    if not install_library(f"library-{{LIBRARY}}"):
        print(f"the library's tag library-{{LIBRARY}} could not be installed; trying {{BRANCH}}")
        if not install_library(BRANCH):
            raise RuntimeError("the course's library could not be installed: see pip's message above")'''


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    # safe.directory: a CI container's checkout belongs to another user than the job's root
    return subprocess.run(["git", "-c", f"safe.directory={root}", "-C", str(root), *args],
                          capture_output=True, text=True, check=check)


def library_files(root: Path = ROOT) -> list[str]:
    """The library's files as a clone holds them (relative paths, sorted): tracked files and
    new ones git does not ignore, so an uncommitted module counts and ``__pycache__`` or an
    editable install's ``*.egg-info`` do not; outside a git checkout, every file but those."""
    listed = _git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--",
                  *LIBRARY_PATHS, check=False)
    if listed.returncode == 0:
        names = {name for name in listed.stdout.split("\0") if name and (root / name).is_file()}
    else:
        names = {str(p.relative_to(root)) for p in (root / LIBRARY_PATHS[0]).rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p)}
        names |= {name for name in LIBRARY_PATHS[1:] if (root / name).is_file()}
    return sorted(names)


def library_hash(root: Path = ROOT) -> str:
    """The library's content hash: SHA-256 over each file's path and bytes, in path order,
    shortened to :data:`HASH_DIGITS` hex digits. It needs no git history."""
    digest = hashlib.sha256()
    for name in library_files(root):
        data = (root / name).read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:HASH_DIGITS]


def setup_cell(library: str, root: Path = ROOT) -> str:
    """The Colab setup cell pinned to ``library`` (a content hash), with the repository's
    URL and branch from ``root``'s ``_config.yml``."""
    import yaml

    repository = yaml.safe_load((root / "_config.yml").read_text())["repository"]
    return SETUP_CELL.format(repository=repository["url"].rstrip("/"), branch=repository["branch"],
                             library=library)


def pinned(path: Path) -> str | None:
    """The hash a notebook's setup cell pins (its first code cell's ``LIBRARY``), or None."""
    import nbformat

    notebook = nbformat.read(path, 4)
    cell = next((c for c in notebook.cells if c.cell_type == "code"), None)
    found = PIN.search(cell.source) if cell is not None else None
    return found.group(1) if found else None


def pin(library: str, notebooks: list[Path], root: Path = ROOT) -> list[Path]:
    """Write the setup cell pinned to ``library`` as each notebook's first code cell (its tags
    and other metadata kept); returns the notebooks changed.

    Raises:
        ValueError: a notebook's first code cell has no ``LIBRARY = "..."`` line (it is not
            the setup cell, so it is not overwritten).
    """
    import nbformat

    source = setup_cell(library, root)
    changed = []
    for path in notebooks:
        notebook = nbformat.read(path, 4)
        cell = next(c for c in notebook.cells if c.cell_type == "code")
        if not PIN.search(cell.source):
            raise ValueError(f"{path}: the first code cell has no LIBRARY = \"...\" line")
        if source != cell.source:
            cell.source = source
            nbformat.write(notebook, path)
            changed.append(path)
    return changed


def check(root: Path = ROOT) -> list[str]:
    """What is wrong with the pin in ``root``: each notebook whose setup cell is not the one
    :func:`pin` writes for the library's hash (empty when every notebook is pinned)."""
    import nbformat

    library = library_hash(root)
    expected = setup_cell(library, root)
    problems = []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, 4)
        cell = next((c for c in notebook.cells if c.cell_type == "code"), None)
        found = PIN.search(cell.source) if cell is not None else None
        if not found or found.group(1) != library:
            problems.append(f"{path.name}: pins {found.group(1) if found else 'nothing'}, "
                            f"the library is {library}")
        elif cell.source != expected:
            problems.append(f"{path.name}: the setup cell is not the one tools/pin_library.py writes")
    return problems


def tag(root: Path = ROOT, remote: str = "origin") -> str:
    """Tag ``library-<hash>`` at HEAD and push it, unless ``remote`` has that tag already (the
    first pushed commit that holds a library keeps it); returns what was done.

    Raises:
        SystemExit: the library has uncommitted changes (HEAD would not hold the hash).
    """
    if _git(root, "status", "--porcelain", "--", *LIBRARY_PATHS).stdout.strip():
        raise SystemExit("the library has uncommitted changes: the tag would not name HEAD's library")
    name = TAG_PREFIX + library_hash(root)
    known = _git(root, "ls-remote", "--exit-code", "--tags", remote, f"refs/tags/{name}", check=False)
    if known.returncode == 0:
        return f"{name} exists on {remote}: kept"
    _git(root, "tag", name, "HEAD")
    _git(root, "push", remote, f"refs/tags/{name}")
    return f"{name} tagged at {_git(root, 'rev-parse', 'HEAD').stdout.strip()[:12]} and pushed to {remote}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a notebook pins another library")
    parser.add_argument("--tag", action="store_true", help="tag library-<hash> at HEAD and push it")
    args = parser.parse_args(argv)
    if args.tag:
        print(tag())
        return 0
    if args.check:
        problems = check()
        print("\n".join(problems) if problems else f"every notebook pins the library {library_hash()}")
        return 1 if problems else 0
    library = library_hash()
    changed = pin(library, sorted((ROOT / "notebooks").glob("*.ipynb")))
    print(f"library {library}: {len(changed)} notebook(s) updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
