"""The Colab path (issue 15): the setup cell leaves Colab's packages alone, installs the
library the notebooks were executed with (pinned by its content hash), really runs in a
Colab-like kernel, and no notebook depends on its place in the repository."""

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from notebook_checks import NOTEBOOKS, ROOT, code_cells, config, read
from wheel_checks import clean_pip_env, library_wheel

sys.path.insert(0, str(ROOT / "tools"))
import colab_constraints  # noqa: E402
import grade  # noqa: E402
import pin_library  # noqa: E402

REPOSITORY_DIRS = {"notebooks", "benchmarks", "book", "assignments", "tests", "tools", "alexnet_book"}


def _setup_cell(path: Path) -> str:
    return code_cells(read(path))[0].source


def test_setup_cell_is_identical_everywhere_and_installs_the_pinned_library():
    cells = {_setup_cell(path) for path in NOTEBOOKS}
    assert len(cells) == 1, "every notebook must open with the same Colab setup cell"
    cell = cells.pop()
    assert f'BRANCH = "{config()["repository"]["branch"]}"' in cell
    assert re.search(r'^LIBRARY = "[0-9a-f]{16}"$', cell, re.MULTILINE), "run tools/pin_library.py"
    assert cell == pin_library.setup_cell(_pinned()), "the setup cell tools/pin_library.py writes: make pin"
    assert 'alexnet_book[chapters] @ git+{REPOSITORY}@{ref}' in cell
    assert 'install_library(f"library-{LIBRARY}")' in cell and "install_library(BRANCH)" in cell
    assert '"pip", "list", "--format=freeze"' in cell and '"-c"' in cell, \
        "the cell must pin every package Colab already has"


def _pinned() -> str:
    """The library's content hash the notebooks pin."""
    return pin_library.PIN.search(_setup_cell(NOTEBOOKS[0])).group(1)


def test_the_notebooks_pin_the_library_of_the_checkout():
    """The notebooks install the library they were executed with: the hash they pin is the
    hash of the checkout's library. It reads files only (no history), so it holds in a
    shallow clone and after a squash merge (the test below builds both)."""
    problems = pin_library.check(ROOT)
    assert not problems, ("the library changed without a new pin: run `make pin` (tools/pin_library.py) "
                          "and commit the notebooks with the library\n" + "\n".join(problems))


def test_pin_library_rewrites_the_setup_cell_of_every_notebook(tmp_path):
    copies = []
    for path in NOTEBOOKS[:2]:
        copies.append(tmp_path / path.name)
        copies[-1].write_text(path.read_text())
    assert pin_library.pin("ab" * 8, copies) == copies
    assert all(_setup_cell(p) == pin_library.setup_cell("ab" * 8) for p in copies)
    assert all(read(p).cells[i].metadata == read(o).cells[i].metadata
               for p, o in zip(copies, NOTEBOOKS) for i in range(len(read(o).cells)))  # tags kept
    assert pin_library.pin("ab" * 8, copies) == []  # already pinned: nothing to write
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nbformat.write(other, tmp_path / "other.ipynb")
    with pytest.raises(ValueError, match='has no LIBRARY = "..." line'):
        pin_library.pin("ab" * 8, [tmp_path / "other.ipynb"])


GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                          env=GIT_ENV).stdout.strip()


def _course_repository(folder: Path) -> Path:
    """A small git repository shaped as the course: the library, _config.yml, the pin tool and
    the eight notebooks reduced to their setup cells, pinned and committed on main."""
    import shutil

    shutil.copytree(ROOT / "alexnet_book", folder / "alexnet_book",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "_config.yml", "tools/pin_library.py"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, folder / name)
    (folder / "notebooks").mkdir()
    for path in NOTEBOOKS:
        setup = code_cells(read(path))[0]
        setup_only = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup.source,
                                                                                metadata=setup.metadata)])
        nbformat.write(setup_only, folder / "notebooks" / path.name)
    (folder / ".gitignore").write_text("__pycache__/\n")
    _git(folder, "init", "--quiet", "--initial-branch", "main")
    _repin(folder)
    _git(folder, "add", ".")
    _git(folder, "commit", "--quiet", "-m", "the course")
    return folder


def _repin(root: Path) -> None:
    pin_library.pin(pin_library.library_hash(root), sorted((root / "notebooks").glob("*.ipynb")), root)


def _change_library(root: Path, module: str, line: str) -> None:
    with open(root / "alexnet_book" / module, "a") as f:
        f.write(line + "\n")


def _guard(root: Path) -> subprocess.CompletedProcess:
    """The pin's guard as a clone runs it: its own tools/pin_library.py --check."""
    return subprocess.run([sys.executable, str(root / "tools" / "pin_library.py"), "--check"],
                          capture_output=True, text=True)


def test_the_pin_guard_works_in_a_shallow_clone_and_after_a_squash_merge(tmp_path):
    """The guard needs no history: it passes in a clone of depth 1 and on main after a branch
    of two commits (each changing the library and re-pinning) is squash-merged, and it fails
    wherever the library changed without a new pin."""
    main = _course_repository(tmp_path / "main")
    assert pin_library.check(main) == []
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", main.as_uri(), str(shallow)], check=True,
                   env=GIT_ENV)
    assert _git(shallow, "rev-parse", "--is-shallow-repository") == "true"
    assert _guard(shallow).returncode == 0, _guard(shallow).stdout

    _git(main, "switch", "--quiet", "-c", "feature")
    for module, line in (("profile.py", "# a first change"), ("data.py", "# a second change")):
        _change_library(main, module, line)
        _repin(main)
        _git(main, "commit", "--quiet", "-am", f"library: {line}, re-pinned")
    pinned_on_branch = _git(main, "rev-parse", "HEAD")
    _git(main, "switch", "--quiet", "main")
    _git(main, "merge", "--quiet", "--squash", "feature")
    _git(main, "commit", "--quiet", "-m", "the feature, squashed")
    _git(main, "branch", "--quiet", "-D", "feature")
    ancestor = subprocess.run(["git", "-C", str(main), "merge-base", "--is-ancestor", pinned_on_branch, "HEAD"])
    assert ancestor.returncode == 1, "a squash merge: the branch's commits are not in main's history"
    assert pin_library.check(main) == [] and _guard(main).returncode == 0
    squashed = tmp_path / "squashed-shallow"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", main.as_uri(), str(squashed)], check=True,
                   env=GIT_ENV)
    assert _guard(squashed).returncode == 0, _guard(squashed).stdout

    _change_library(main, "models.py", "# changed, not re-pinned")
    _git(main, "commit", "--quiet", "-am", "library changed without make pin")
    stale = tmp_path / "stale-shallow"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", main.as_uri(), str(stale)], check=True,
                   env=GIT_ENV)
    for root in (main, stale):
        guard = _guard(root)
        assert guard.returncode == 1 and guard.stdout.count("the library is ") == len(NOTEBOOKS), guard.stdout
    _repin(stale)
    assert _guard(stale).returncode == 0
    (stale / "alexnet_book" / "new_module.py").write_text("X = 1\n")  # uncommitted counts too
    assert _guard(stale).returncode == 1
    (stale / "alexnet_book" / "new_module.py").unlink()
    (stale / "alexnet_book" / "__pycache__").mkdir(exist_ok=True)
    (stale / "alexnet_book" / "__pycache__" / "x.pyc").write_bytes(b"ignored")
    assert _guard(stale).returncode == 0, "what git ignores is not the library"


def test_the_library_tag_is_pushed_once_where_the_setup_cell_installs_from(tmp_path):
    """`make tag-library` (the Pages workflow, on main) tags library-<hash> at HEAD and pushes
    it; a later commit with the same library keeps the first tag."""
    main = _course_repository(tmp_path / "main")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(main), str(remote)], check=True, env=GIT_ENV)
    _git(main, "remote", "add", "origin", remote.as_uri())
    name = "library-" + pin_library.library_hash(main)
    assert "pushed" in pin_library.tag(main)
    first = _git(remote, "rev-parse", f"{name}^{{commit}}")
    assert first == _git(main, "rev-parse", "HEAD")
    (main / "README.md").write_text("not the library\n")
    _git(main, "add", "README.md")
    _git(main, "commit", "--quiet", "-m", "not the library")
    assert "kept" in pin_library.tag(main)
    assert _git(remote, "rev-parse", f"{name}^{{commit}}") == first
    _change_library(main, "profile.py", "# uncommitted")
    with pytest.raises(SystemExit, match="uncommitted"):
        pin_library.tag(main)


class _FakePip:
    """subprocess.run for the setup cell: `pip list` answers, installs succeed only for the
    refs given; a failed install answers as pip does when a dependency conflicts."""

    def __init__(self, installable):
        self.installable, self.installs = installable, []

    def __call__(self, command, **kwargs):
        if "list" in command:
            return subprocess.CompletedProcess(command, 0, stdout="numpy==2.0.2\npsutil==5.9.5\n")
        ref = command[-1].rsplit("@", 1)[1]
        self.installs.append(ref)
        if ref in self.installable:
            return subprocess.CompletedProcess(command, 0, stdout="Successfully installed", stderr="")
        return subprocess.CompletedProcess(command, 1, stdout="Collecting codecarbon>=3.3\n", stderr=(
            "The conflict is caused by:\n    codecarbon 3.3.2 depends on psutil>=6.0.0\n"
            "    The user requested (constraint) psutil==5.9.5\nERROR: ResolutionImpossible"))


@pytest.mark.parametrize("installable, installs, error", [
    ({"library-PINNED"}, ["library-PINNED"], None),            # the pinned library's tag
    ({"main"}, ["library-PINNED", "main"], None),              # unreachable: the branch, with a note
    (set(), ["library-PINNED", "main"], RuntimeError),         # neither: a clear error, no silent pass
])
def test_setup_cell_falls_back_to_the_branch_and_fails_loudly(installable, installs, error,
                                                            monkeypatch, capsys):
    # the cell tools/pin_library.py writes (the test above: every notebook's setup cell is it)
    source = pin_library.setup_cell("PINNED")
    source = source.replace('"/tmp/colab-installed.txt"', repr(str(Path(os.devnull))))
    fake = _FakePip(installable)
    monkeypatch.setattr(subprocess, "run", fake)
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    if error:
        with pytest.raises(error, match="could not be installed"):
            exec(source, {})
    else:
        exec(source, {})
    assert fake.installs == installs
    out = capsys.readouterr().out
    assert ("trying main" in out) == (installs != ["library-PINNED"])
    # pip's reason is shown when an install fails: the package that blocks, and what it needs
    assert ("codecarbon 3.3.2 depends on psutil>=6.0.0" in out) == ("library-PINNED" not in installable)


def _string_constants(source: str):
    tree = ast.parse("\n".join(line for line in source.splitlines()
                               if not line.lstrip().startswith(("%", "!"))))
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def relative_paths(source: str) -> list[str]:
    """String constants that name a file by its place in the repository."""
    found = []
    for text in _string_constants(source):
        first = text.split("/")[0]
        if text.startswith(("../", "./")) or ("/" in text and first in REPOSITORY_DIRS):
            found.append(text)
    return found


def test_the_relative_path_check_can_fail():
    assert relative_paths('open("../benchmarks/results/a.json")') == ["../benchmarks/results/a.json"]
    assert relative_paths('Path("benchmarks/results")') == ["benchmarks/results"]
    assert relative_paths('x = "a/b"; url = "https://x.org/notebooks/a"') == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_notebook_reads_files_by_their_place_in_the_repository(path):
    source = "\n".join(cell.source for cell in code_cells(read(path)))
    assert not relative_paths(source), f"{path.name}: {relative_paths(source)}"


def test_the_constraints_are_colabs_whole_published_list():
    info = colab_constraints.read()
    assert re.fullmatch(r"[0-9a-f]{40}", info["commit"]) and info["python"].startswith("3.")
    assert len(info["pins"]) > 500, "the whole pip-freeze.txt, not a few packages"
    for name in ("tensorflow", "keras", "numpy", "protobuf", "psutil", "pandas", "matplotlib",
                 "scikit-image", "jax", "wandb", "scipy", "httpx"):
        assert name in info["pins"], name
    urls = ("en_core", "google-colab", "jupyter_kernel", "torch")  # `name @ url` lines
    assert all(line.startswith(urls) for line in info["other"])


#: Where the dry runs' answers are kept (git-ignored), each under the hash of what it reads.
DRY_RUN_CACHE = ROOT / "_build" / "cache" / "colab-dry-run"
#: pip also reads the index, which no hash covers: an answer older than this is asked again.
DRY_RUN_MAX_AGE_S = 7 * 24 * 3600


def _dry_run_key(extra: tuple[str, ...] = ()) -> str:
    """The hash of what the dry run reads: Colab's list (its versions and its Python), the
    library the wheel is built from (its modules and pyproject.toml, which declares what it
    needs: tools/pin_library.py's hash), the extra requirements, and pip (the resolver)."""
    import hashlib
    import importlib.metadata

    parts = [colab_constraints.FILE.read_text(), colab_constraints.read()["python"],
             pin_library.library_hash(ROOT), json.dumps(list(extra)), importlib.metadata.version("pip"),
             sys.version.split()[0]]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _dry_run(tmp_path: Path, extra: tuple[str, ...] = (), cache: Path | None = DRY_RUN_CACHE
             ) -> tuple[subprocess.CompletedProcess, dict]:
    """pip's resolution of the setup cell's install for Colab's Python and platform, every
    package of Colab's list pinned (pip resolves for another interpreter with
    --python-version and --only-binary=:all:). The answer is kept in ``cache`` under
    :func:`_dry_run_key`, so a second run with nothing changed reads it (``cache=None``: always
    resolve)."""
    key = _dry_run_key(extra)
    kept = cache / f"{key}.json" if cache is not None else None
    if kept is not None and kept.exists() and time.time() - kept.stat().st_mtime < DRY_RUN_MAX_AGE_S:
        answer = json.loads(kept.read_text())
        print(f"dry-run resolution for Python {colab_constraints.read()['python']}: kept answer "
              f"{kept.name[:12]} (its inputs unchanged)")
        return subprocess.CompletedProcess(answer["args"], answer["returncode"], answer["stdout"],
                                           answer["stderr"]), answer["planned"]
    info = colab_constraints.read()
    constraints = tmp_path / "colab.txt"
    constraints.write_text(colab_constraints.pip_constraints())
    wheel = library_wheel(tmp_path / "wheel")
    report = tmp_path / "report.json"
    platforms = [f for p in ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
                 for f in ("--platform", p)]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
         "--python-version", info["python"], "--implementation", "cp", *platforms,
         "--target", str(tmp_path / "target"), "--report", str(report), "-c", str(constraints),
         f"alexnet_book[chapters] @ {wheel.as_uri()}", *extra],
        capture_output=True, text=True, env=clean_pip_env(), timeout=600)
    print(f"dry-run resolution for Python {info['python']}: {time.perf_counter() - start:.0f} s")
    planned = ({item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
                for item in json.loads(report.read_text())["install"]} if done.returncode == 0 else {})
    if kept is not None and (done.returncode == 0 or "ResolutionImpossible" in done.stderr):
        # pip's answer, not a network failure; written whole (tests run in parallel)
        kept.parent.mkdir(parents=True, exist_ok=True)
        partial = kept.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({"args": [str(a) for a in done.args], "returncode": done.returncode,
                                       "stdout": done.stdout, "stderr": done.stderr, "planned": planned}))
        os.replace(partial, kept)
    return done, planned


def test_the_dry_runs_are_kept_by_the_hash_of_what_they_read(tmp_path, monkeypatch):
    """A second dry run with nothing changed reads the kept answer; a change of the library,
    of Colab's list or of the requirements resolves again."""
    calls, real = [], subprocess.run

    def resolve(command, **kwargs):
        if "--dry-run" not in command:  # git, for the library's hash
            return real(command, **kwargs)
        calls.append(command)
        report = Path(command[command.index("--report") + 1])
        report.write_text(json.dumps({"install": [{"metadata": {"name": "alexnet_book", "version": "1"}}]}))
        return subprocess.CompletedProcess(command, 0, "resolved", "")

    monkeypatch.setattr(sys.modules[__name__], "library_wheel", lambda folder: folder / "alexnet_book-1.whl")
    monkeypatch.setattr(subprocess, "run", resolve)
    cache = tmp_path / "cache"
    first = _dry_run(tmp_path, cache=cache)
    again = _dry_run(tmp_path, cache=cache)
    assert len(calls) == 1 and again[1] == first[1] == {"alexnet-book": "1"} and again[0].stdout == "resolved"
    _dry_run(tmp_path, ("codecarbon>=3.3",), cache=cache)
    assert len(calls) == 2, "other requirements: resolved again"
    monkeypatch.setattr(pin_library, "library_hash", lambda root: "changed")
    _dry_run(tmp_path, cache=cache)
    assert len(calls) == 3, "another library: resolved again"
    monkeypatch.setattr(colab_constraints, "read", lambda path=None: {"python": "3.14", "pins": {}})
    _dry_run(tmp_path, cache=cache)
    assert len(calls) == 4, "another Colab: resolved again"
    old = time.time() - DRY_RUN_MAX_AGE_S - 60
    for kept in cache.iterdir():
        os.utime(kept, (old, old))
    _dry_run(tmp_path, cache=cache)
    assert len(calls) == 5, "an old answer: the index may have moved, resolved again"


@pytest.mark.integration
def test_setup_cell_install_resolves_against_colabs_whole_list(tmp_path):
    """The cell's install, resolved against every package Colab publishes: it must resolve,
    and leave every listed package at Colab's version (energy accounting included: the
    codecarbon that Colab's psutil allows)."""
    done, planned = _dry_run(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    pins = colab_constraints.read()["pins"]
    assert {"alexnet-book", "wandb", "codecarbon", "scipy", "scikit-image"} <= set(planned)
    changed = {name: (version, planned[name]) for name, version in pins.items()
               if name in planned and planned[name] != version}
    assert not changed, f"the install would change Colab's packages: {changed}"
    print("codecarbon in Colab:", planned["codecarbon"])


@pytest.mark.integration
def test_the_dry_run_fails_when_the_library_needs_what_colab_cannot_give(tmp_path):
    """The test above can fail: asking for codecarbon 3 (psutil>=6) against Colab's psutil
    5.9.5 is ResolutionImpossible, and pip's message names both."""
    done, _ = _dry_run(tmp_path, ("codecarbon>=3.3",))
    assert done.returncode != 0
    assert "ResolutionImpossible" in done.stderr and "psutil" in done.stdout + done.stderr


#: What the rehearsal kernel gets at Colab's versions: what the chapters import, and what
#: a kernel needs.
REHEARSAL = ("tensorflow", "keras", "numpy", "protobuf", "psutil", "pandas", "matplotlib",
             "scikit-image", "jax", "jaxlib", "scipy", "wandb", "httpx", "ipykernel", "ipython", "pip")


def _pyenv_roots() -> list[Path]:
    """pyenv's installations this machine has, found without $HOME: $PYENV_ROOT, the root
    above a `shims` folder on PATH or above the `pyenv` executable, and ~/.pyenv."""
    import shutil

    roots = [Path(os.environ["PYENV_ROOT"])] if os.environ.get("PYENV_ROOT") else []
    roots += [Path(entry).parent for entry in os.environ.get("PATH", "").split(os.pathsep)
              if Path(entry).name == "shims"]
    pyenv = shutil.which("pyenv")
    if pyenv:  # <root>/bin/pyenv, or <root>/libexec/pyenv behind a link
        roots.append(Path(pyenv).resolve().parents[1])
    roots.append(Path(os.path.expanduser("~/.pyenv")))
    return list(dict.fromkeys(roots))


def python_candidates(version: str) -> list[str]:
    """Executables that may be Python `version`: pyenv's (wherever it lives), uv's managed or
    found Pythons, and `pythonX.Y` on PATH."""
    import glob
    import shutil

    candidates = [path for root in _pyenv_roots() for path in
                  sorted(glob.glob(str(root / "versions" / f"{version}.*" / "bin" / f"python{version}")))]
    uv = grade.uv_executable()
    if uv:
        found = subprocess.run([uv, "python", "find", "--no-python-downloads", version],
                               capture_output=True, text=True, env={**os.environ, "UV_OFFLINE": "1"})
        candidates += [found.stdout.strip()] if found.returncode == 0 and found.stdout.strip() else []
    candidates += [p for p in (shutil.which(f"python{version}"),) if p]
    return list(dict.fromkeys(candidates))


def colab_python() -> str | None:
    """An executable of Colab's Python version that runs (a pyenv shim answers even when that
    Python is not selected, or when pyenv's root is not under $HOME), or None."""
    version = colab_constraints.read()["python"]
    check = f"import ssl, sys, venv; assert sys.version_info[:2] == {tuple(map(int, version.split('.')))}"
    for candidate in python_candidates(version):
        if subprocess.run([candidate, "-c", check], capture_output=True).returncode == 0:
            return candidate
    return None


def test_colabs_python_is_found_without_home(monkeypatch, tmp_path):
    """A new user's shell, a container or a CI runner has another $HOME: the pyenv root is
    still found from PATH (its shims folder, or the pyenv executable) and from $PYENV_ROOT."""
    root = tmp_path / "somewhere" / ".pyenv"
    (root / "shims").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    monkeypatch.delenv("PYENV_ROOT", raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join([str(root / "shims"), "/usr/bin", "/bin"]))
    assert root in _pyenv_roots() and Path(tmp_path / "empty-home" / ".pyenv") in _pyenv_roots()
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("PYENV_ROOT", str(root))
    assert _pyenv_roots()[0] == root
    version = tmp_path / "somewhere" / ".pyenv" / "versions" / "3.13.1" / "bin"
    version.mkdir(parents=True)
    (version / "python3.13").write_text("")
    assert str(version / "python3.13") in python_candidates("3.13")


#: What the rehearsal needs and how to get it, said in one line where the machine lacks it.
NO_COLAB_PYTHON = ("the Colab rehearsal needs Colab's Python {version} (Colab's packages need it), "
                   "not found via PYENV_ROOT, pyenv, uv or PATH: `make colab-python` installs it (uv, "
                   "from GitHub), or `pyenv install {version}`")


def _first_cells(path: Path, count: int) -> nbformat.NotebookNode:
    """A notebook of a chapter's first `count` code cells: the Colab setup and its imports."""
    notebook = read(path)
    notebook.cells = code_cells(notebook)[:count]
    return notebook


@pytest.mark.integration
def test_colab_rehearsal_of_every_chapter(tmp_path):
    """Chapter 00 whole, then every other chapter's setup and import cells, in an empty
    folder, in a kernel built from Colab's published list: Colab's Python, Colab's versions of
    what the chapters import (psutil 5.9.5 included) and nothing of the course's environment.
    It imports a fake google.colab at start-up (as Colab's does), so each setup cell's real
    install runs (pip, from a clone of HEAD tagged library-<pin>, every installed package pinned):
    a module only the editable install provides fails here."""
    version = colab_constraints.read()["python"]
    base = colab_python()
    if base is None:
        pytest.skip(NO_COLAB_PYTHON.format(version=version))
    venv = tmp_path / "colab-venv"
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pins = colab_constraints.read()["pins"]
    constraints = tmp_path / "colab.txt"
    constraints.write_text(colab_constraints.pip_constraints())
    start = time.perf_counter()
    # Building the kernel is Colab's work, not the course's: uv (the course's dev tools) installs
    # the same pinned wheels in a fraction of pip's time (15 s against 118 s here); the setup
    # cells below still install with pip, as in Colab.
    uv = grade.uv_executable()
    installer = [uv, "pip", "install", "--python", str(python)] if uv else [str(python), "-m", "pip", "install"]
    subprocess.run([*installer, "--quiet", "--only-binary=:all:", "-c", str(constraints),
                    *[f"{name}=={pins[name]}" for name in REHEARSAL if name in pins]],
                   check=True, env=clean_pip_env(), timeout=1500)
    print(f"rehearsal kernel ({base}): Colab's versions installed in {time.perf_counter() - start:.0f} s "
          f"({'uv' if uv else 'pip'})")
    fake = tmp_path / "fake"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "colab" / "__init__.py").write_text('"""Stands in for Colab."""\n')
    kernels = tmp_path / "kernels" / "kernels" / "colab"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.exec_lines=['import google.colab']"],
        "display_name": "colab rehearsal", "language": "python",
        "env": {"PYTHONPATH": str(fake), "PIP_CONFIG_FILE": os.devnull, "TF_CPP_MIN_LOG_LEVEL": "2",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1"}}))
    folder = tmp_path / "empty"
    folder.mkdir()
    url = config()["repository"]["url"].rstrip("/")
    # The repository as the setup cell finds it on GitHub: HEAD's files, tagged library-<hash>
    # (as the Pages workflow tags main). A new repository, not a clone: this checkout may be
    # shallow, and pip's partial clone of a shallow repository fetches without end.
    source = tmp_path / "repository"
    source.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    assert pin_library.library_hash(source) == _pinned(), "commit the library and its pin first"
    for command in (["init", "--quiet"], ["add", "."], ["commit", "--quiet", "-m", "HEAD"],
                    ["tag", f"library-{_pinned()}"]):
        _git(source, *command)
    import nbclient
    from nbclient.exceptions import CellExecutionError

    def run(notebook: nbformat.NotebookNode) -> float:
        cell = code_cells(notebook)[0]
        cell.source = cell.source.replace(url, source.as_uri())  # the pinned library's tag
        assert source.as_uri() in cell.source
        began = time.perf_counter()
        nbclient.NotebookClient(notebook, kernel_name="colab", timeout=600,
                                resources={"metadata": {"path": str(folder)}}).execute()
        errors = [o for c in code_cells(notebook) for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{errors[0].ename}: {errors[0].evalue}"
        return time.perf_counter() - began

    env = {"JUPYTER_PATH": str(tmp_path / "kernels"), "ALEXNET_RUNS_DIR": str(tmp_path / "runs")}
    old = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    chapter_0 = read(ROOT / "notebooks" / "00_setup_and_tour.ipynb")
    try:
        print(f"rehearsal of chapter 00 whole: {run(chapter_0):.0f} s")
        failed = {}
        for path in NOTEBOOKS[1:]:  # each chapter's setup cell and its imports, in a new kernel
            try:
                print(f"rehearsal of {path.stem}'s setup and imports: {run(_first_cells(path, 2)):.0f} s")
            except (AssertionError, CellExecutionError) as error:
                last = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()[-1]
                failed[path.name] = last[:300]
    finally:
        for key, value in old.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    assert not failed, f"in Colab's kernel, from the wheel pip builds: {failed}"
    # From the notebook's folder, as its kernel saw it (from the repository root, Python would
    # import the checkout's alexnet_book/ folder first).
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    installed = subprocess.run([str(python), "-c", "import alexnet_book; print(alexnet_book.__file__)"],
                               capture_output=True, text=True, check=True, cwd=folder).stdout
    assert site in installed, f"the setup cell did not install the library: {installed}"
    origin = json.loads(next(Path(site).glob("alexnet_book-*.dist-info/direct_url.json")).read_text())
    assert origin["vcs_info"]["requested_revision"] == f"library-{_pinned()}", origin  # the pinned library
    assert origin["vcs_info"]["commit_id"] == subprocess.run(
        ["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(), origin
    assert "editable" not in origin.get("dir_info", {}), origin
    after = dict(line.lower().replace("_", "-").split("==") for line in subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
        check=True).stdout.splitlines() if "==" in line)
    changed = {n: (pins[n], after.get(n)) for n in REHEARSAL if n in pins and after.get(n) != pins[n]}
    assert not changed, f"the setup cell changed Colab's packages: {changed}"
    assert int(after["codecarbon"].split(".")[0]) < 3, "Colab's psutil 5.9.5 allows codecarbon 2.7.1"
    text = "\n".join(o.get("text", "") for c in chapter_0.cells if c.cell_type == "code" for o in c.outputs)
    assert "kWh" in text, "energy accounting ran"
    assert list(folder.iterdir()) == [] or all(p.name in {"runs", "wandb", "emissions.csv"}
                                               for p in folder.iterdir())
    nbformat.validate(chapter_0)


def _declared_distributions() -> set[str]:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["chapters"]
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_the_library_declares_what_its_chapters_import():
    """A learner who installs the library (with its `chapters` extra, as the setup cell does)
    can run every chapter: each module a notebook imports is the standard library's, the
    course's, or comes from a declared distribution."""
    import importlib.metadata

    modules = set()
    for path in NOTEBOOKS:
        for cell in code_cells(read(path)):
            tree = ast.parse("\n".join(line for line in cell.source.splitlines()
                                       if not line.lstrip().startswith(("%", "!"))))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    providers = importlib.metadata.packages_distributions()
    declared = _declared_distributions()
    missing = {}
    for module in sorted(modules - set(sys.stdlib_module_names) - {"alexnet_book", "google"}):
        names = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        if not names & declared:
            missing[module] = sorted(names)
    assert not missing, f"imported by a chapter but not declared in pyproject.toml: {missing}"
    assert {"scikit-image", "tensorflow", "ipython"} <= declared


def test_chapter_5_says_once_that_stored_results_cannot_be_read(monkeypatch, capsys):
    """Offline and outside the repository, chapter 5 says the stored results could not be
    read, and prints no count as if it were a measurement."""
    from alexnet_book import results

    def offline(*args, **kwargs):
        raise results.ResultsUnavailableError("offline")

    monkeypatch.setattr(results, "stored_results", offline)
    cell = next(c.source for c in code_cells(read(ROOT / "notebooks" / "05_gpu_speed.ipynb"))
                if "results.stored_results(REPOSITORY)" in c.source)
    exec(cell, {"results": results, "REPOSITORY": "https://example.invalid", "pd": None, "display": print})
    out = capsys.readouterr().out
    assert out.count("could not be read") == 1 and "stored results:" not in out
