"""The notebook contract (DESIGN.md): checks on the stored notebooks themselves."""

import re

import pytest
from notebook_checks import NOTEBOOKS, ROOT, code_cells, read, repository_url, toc_files

IDS = [path.name for path in NOTEBOOKS]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


def test_every_notebook_is_in_the_table_of_contents():
    listed = set(toc_files())
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in listed, f"{path.name} is missing from _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_first_code_cell_sets_up_colab_from_the_configured_repository(path):
    first = code_cells(read(path))[0].source
    assert '"google.colab" in sys.modules' in first
    urls = re.findall(r'REPOSITORY = "([^"]+)"', first)
    assert urls == [repository_url()], f"{path.name}: {urls} != _config.yml's repository.url"
    code = "\n".join(line.split("#")[0] for line in first.splitlines()).lower()
    assert "tensorflow" not in code, "the Colab cell must leave Colab's TensorFlow alone"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_outputs_are_stored_in_order(path):
    counts = []
    for index, cell in enumerate(code_cells(read(path))):
        assert cell.execution_count is not None, f"{path.name}: code cell {index} never ran"
        counts.append(cell.execution_count)
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: run out of order {counts}"
    cells = code_cells(read(path))
    assert any(cell.outputs for cell in cells), f"{path.name}: no stored outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_errors_or_stderr_stored(path):
    for index, cell in enumerate(code_cells(read(path))):
        for output in cell.outputs:
            assert output.output_type != "error", f"{path.name}: cell {index} stored an error"
            assert output.get("name") != "stderr", (
                f"{path.name}: cell {index} stored stderr: {output.text[:200]!r}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_prompts_or_logins(path):
    source = "\n".join(cell.source for cell in code_cells(read(path)))
    assert "wandb.login(" not in source and "input(" not in source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_chapter_shape(path):
    """Learning goals, a summary and exercises with hidden solutions (STYLE.md)."""
    text = "\n".join(cell.source for cell in read(path).cells if cell.cell_type == "markdown")
    assert "Learning goals" in text
    assert "## Summary" in text
    exercises = re.findall(r"```\{exercise\}\n:label: (\S+)", text)
    solutions = re.findall(r"```\{solution\} (\S+)\n:class: dropdown", text)
    assert len(exercises) >= 3, f"{path.name}: {len(exercises)} exercises"
    assert sorted(exercises) == sorted(solutions), "every exercise needs a dropdown solution"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_sizes_come_from_the_profile(path):
    source = "\n".join(cell.source for cell in code_cells(read(path)))
    assert "profile.current()" in source
    assert "print(PROFILE.describe())" in source


def test_nbval_sanitizer_and_kernel_are_in_place():
    assert (ROOT / "tests" / "nbval_sanitize.cfg").is_file()
    makefile = (ROOT / "Makefile").read_text()
    assert "--nbval " in makefile and "--nbval-lax" not in makefile


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_chapters_cite_the_paper_and_exist_in_the_bibliography(path):
    text = "\n".join(cell.source for cell in read(path).cells if cell.cell_type == "markdown")
    keys = set(re.findall(r"\{cite:p\}`([^`]+)`", text))
    cited = {key.strip() for group in keys for key in group.split(",")}
    bib = (ROOT / "book" / "references.bib").read_text()
    missing = [key for key in cited if f"{{{key}," not in bib]
    assert not missing, f"{path.name} cites unknown keys {missing}"
    if not path.name.startswith("00"):
        assert "section" in text.lower(), f"{path.name} never cites the paper by section"
