"""The Colab path (issue 15): the setup cell leaves Colab's packages alone, installs the
library from the same branch as the notebooks, really runs in a Colab-like kernel, and no
notebook depends on its place in the repository."""

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from notebook_checks import NOTEBOOKS, ROOT, code_cells, config, read

CONSTRAINTS = ROOT / "tools" / "colab-constraints.txt"
REPOSITORY_DIRS = {"notebooks", "benchmarks", "book", "assignments", "tests", "tools", "alexnet_book"}


def _setup_cell(path: Path) -> str:
    return code_cells(read(path))[0].source


def test_setup_cell_is_identical_everywhere_and_installs_the_configured_branch():
    cells = {_setup_cell(path) for path in NOTEBOOKS}
    assert len(cells) == 1, "every notebook must open with the same Colab setup cell"
    cell = cells.pop()
    assert f'REF = "{config()["repository"]["branch"]}"' in cell
    assert 'git+{REPOSITORY}@{REF}' in cell
    assert '"pip", "list", "--format=freeze"' in cell and '"-c"' in cell, \
        "the cell must pin every package Colab already has"


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


def _clean_pip_env() -> dict:
    # This machine's pip configuration (local mirrors, caps) must not colour the answer.
    return {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


@pytest.mark.slow
def test_setup_cell_install_leaves_colabs_tensorflow_stack_untouched(tmp_path):
    """pip's dry run of the cell's install, from a clean slate, against Colab's versions:
    it must resolve, and every pinned package must stay at Colab's version."""
    pins = dict(line.split("==") for line in CONSTRAINTS.read_text().splitlines()
                if line and not line.startswith("#"))
    report = tmp_path / "report.json"
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--report", str(report), "-c", str(CONSTRAINTS), f"alexnet_book @ {ROOT.as_uri()}"],
        capture_output=True, text=True, env=_clean_pip_env(), timeout=600)
    print(f"dry-run resolution: {time.perf_counter() - start:.0f} s")
    assert out.returncode == 0, out.stderr[-3000:]
    planned = {item["metadata"]["name"].lower(): item["metadata"]["version"]
               for item in json.loads(report.read_text())["install"]}
    assert {"alexnet_book", "wandb", "codecarbon"} <= set(planned)
    changed = {name: (version, planned[name]) for name, version in pins.items()
               if name in planned and planned[name] != version}
    assert not changed, f"the install would change Colab's packages: {changed}"


@pytest.mark.slow
def test_colab_rehearsal_of_chapter_00(tmp_path):
    """Chapter 00 alone in an empty folder, in a kernel that imports a fake google.colab at
    start-up (as Colab's does), with REPOSITORY pointing at this checkout: the setup cell's
    real install path runs (pip from git, pinned), then the whole chapter."""
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    venv = tmp_path / "colab-venv"  # sees the course's packages, installs into its own folder
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    course_site = next(p for p in sys.path if p.endswith("site-packages") and sys.prefix in p)
    (site / "course.pth").write_text(course_site + "\n")
    python = venv / "bin" / "python"
    fake = tmp_path / "fake"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "colab" / "__init__.py").write_text('"""Stands in for Colab."""\n')
    kernels = tmp_path / "kernels" / "kernels" / "colab"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}",
                 "--IPKernelApp.exec_lines=['import google.colab']",
                 "--IPKernelApp.capture_fd_output=False"],
        "display_name": "colab rehearsal", "language": "python",
        "env": {"PYTHONPATH": str(fake), "PIP_CONFIG_FILE": os.devnull,
                "TF_CPP_MIN_LOG_LEVEL": "2"}}))
    folder = tmp_path / "empty"
    folder.mkdir()
    notebook = read(ROOT / "notebooks" / "00_setup_and_tour.ipynb")
    cell = code_cells(notebook)[0]
    url = config()["repository"]["url"].rstrip("/")
    cell.source = cell.source.replace(url, ROOT.as_uri()).replace(
        f'REF = "{config()["repository"]["branch"]}"', f'REF = "{head}"')
    assert ROOT.as_uri() in cell.source and head in cell.source
    import nbclient

    env = {"JUPYTER_PATH": str(tmp_path / "kernels"), "ALEXNET_RUNS_DIR": str(tmp_path / "runs")}
    old = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        start = time.perf_counter()
        nbclient.NotebookClient(notebook, kernel_name="colab", timeout=600,
                                resources={"metadata": {"path": str(folder)}}).execute()
        print(f"rehearsal: {time.perf_counter() - start:.0f} s")
    finally:
        for key, value in old.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    # From the notebook's folder, as its kernel saw it (from the repository root, Python would
    # import the checkout's alexnet_book/ folder first).
    installed = subprocess.run([str(python), "-c", "import alexnet_book; print(alexnet_book.__file__)"],
                               capture_output=True, text=True, check=True, cwd=folder).stdout
    assert str(site) in installed, f"the setup cell did not install the library: {installed}"
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    assert list(folder.iterdir()) == [] or all(p.name in {"runs", "wandb", "emissions.csv"}
                                               for p in folder.iterdir())
    nbformat.validate(notebook)
