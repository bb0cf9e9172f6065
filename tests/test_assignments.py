"""The autograded assignments: otter assign builds them offline, otter run (no Docker)
grades the reference solution with full marks, an untouched student notebook with zero,
and a partly right one with partial marks; student notebooks hold no solutions or
hidden tests and run top to bottom."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "assignments").glob("*.ipynb"))
OTTER = [sys.executable, "-m", "otter"]
# A wrong answer per assignment: (question, buggy replacement of the placeholder), passing
# only some of that question's tests.
PARTLY_WRONG = {
    "01_shapes": ("def output_size(width, kernel, stride=1, padding=0):\n    ...",
                  "def output_size(width, kernel, stride=1, padding=0):\n"
                  "    return (width - kernel) // stride + 1  # forgets the padding"),
    "02_lrn": ("def window_bounds(i, channels, n=5):\n    ...",
               "def window_bounds(i, channels, n=5):\n    return i - n // 2, i + n // 2  # no clipping"),
    "03_pca_colour": ("def rgb_covariance(images):\n    ...",
                      "def rgb_covariance(images):\n"
                      "    return np.zeros((3, 3))  # right shape, wrong values"),
}


def test_there_are_three_assignments():
    assert [p.stem for p in SOURCES] == sorted(PARTLY_WRONG)


@pytest.fixture(scope="module", params=SOURCES, ids=[p.stem for p in SOURCES])
def built(request, tmp_path_factory):
    source = request.param
    out = tmp_path_factory.mktemp(source.stem) / "dist"
    result = subprocess.run(OTTER + ["assign", str(source), str(out)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (zip_path,) = (out / "autograder").glob("*.zip")
    return source, out, zip_path


def _grade(notebook: Path, zip_path: Path, out: Path) -> dict[str, tuple[float, float]]:
    out.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(OTTER + ["run", "--no-logo", "-a", str(zip_path), "-o", str(out),
                                     str(notebook)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    tests = json.loads((out / "results.json").read_text())["tests"]
    return {t["name"]: (t["score"], t["max_score"]) for t in tests if "score" in t}


def _questions(source: Path) -> dict[str, float]:
    text = "\n".join(c.source for c in nbformat.read(source, 4).cells if c.cell_type == "raw")
    return {m[0]: float(m[1]) for m in re.findall(r"name: (q\S+)\npoints: ([\d.]+)", text)}


def test_reference_solution_scores_full_marks(built, tmp_path):
    source, out, zip_path = built
    scores = _grade(out / "autograder" / source.name, zip_path, tmp_path / "graded")
    assert scores == {q: (p, p) for q, p in _questions(source).items()}


def test_untouched_student_notebook_scores_zero_without_crashing(built, tmp_path):
    source, out, zip_path = built
    scores = _grade(out / "student" / source.name, zip_path, tmp_path / "graded")
    assert scores == {q: (0.0, p) for q, p in _questions(source).items()}


def test_partly_wrong_answer_gets_partial_marks(built, tmp_path):
    source, out, zip_path = built
    student = nbformat.read(out / "student" / source.name, 4)
    placeholder, wrong = PARTLY_WRONG[source.stem]
    cells = [c for c in student.cells if c.source.strip() == placeholder]
    assert len(cells) == 1, f"placeholder not found: {placeholder!r}"
    cells[0].source = wrong
    submission = tmp_path / source.name
    nbformat.write(student, submission)
    scores = _grade(submission, zip_path, tmp_path / "graded")
    partial = [q for q, (score, top) in scores.items() if 0 < score < top]
    assert len(partial) == 1, scores
    assert all(score == 0 for q, (score, _) in scores.items() if q not in partial)


def _solution_lines(source: Path) -> list[str]:
    lines, inside = [], False
    for cell in nbformat.read(source, 4).cells:
        if cell.cell_type != "code":
            continue  # raw cells only delimit blocks; the markers inside code cells count
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped == "# BEGIN SOLUTION":
                inside = True
            elif stripped == "# END SOLUTION":
                inside = False
            elif (inside or stripped.endswith("# SOLUTION")) and stripped:
                lines.append(stripped.split("# SOLUTION")[0].strip())
    return [line for line in lines if len(line) > 12]


def _hidden_tests(source: Path) -> list[str]:
    return [c.source.split("\n", 1)[1].strip() for c in nbformat.read(source, 4).cells
            if c.cell_type == "code" and c.source.startswith("# HIDDEN")]


def test_student_notebook_holds_no_solution_or_hidden_test(built):
    source, out, _ = built
    text = (out / "student" / source.name).read_text()
    student_code = "\n".join(c.source for c in nbformat.read(out / "student" / source.name, 4).cells)
    solutions, hidden = _solution_lines(source), _hidden_tests(source)
    assert solutions and hidden
    for line in solutions:
        assert line not in student_code, f"solution line in the student notebook: {line!r}"
    for test in hidden:
        assert test.splitlines()[-1] not in text, f"hidden test in the student notebook: {test!r}"
    assert "# HIDDEN" not in text


def test_student_notebook_runs_top_to_bottom(built, tmp_path):
    source, out, _ = built
    work = tmp_path / "student"
    shutil.copytree(out / "student", work)
    notebook = nbformat.read(work / source.name, 4)
    nbclient.NotebookClient(notebook, kernel_name="alexnet-book", timeout=300,
                            resources={"metadata": {"path": str(work)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]


def test_committed_student_notebook_is_up_to_date(built):
    """assignments/student/ (what Colab opens) equals a fresh `otter assign` build."""
    source, out, _ = built
    fresh = nbformat.read(out / "student" / source.name, 4)
    committed = nbformat.read(ROOT / "assignments" / "student" / source.name, 4)
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], (
        "run `make assignments` and commit assignments/student/")


def test_setup_cell_installs_from_the_configured_repository():
    from notebook_checks import repository_url

    for source in SOURCES:
        setup = next(c.source for c in nbformat.read(source, 4).cells if c.cell_type == "code")
        assert '"google.colab" in sys.modules' in setup and "otter-grader" in setup
        assert re.findall(r'REPOSITORY = "([^"]+)"', setup) == [repository_url()]


def test_book_page_lists_each_assignment_with_its_points():
    page = (ROOT / "book" / "assignments.md").read_text()
    for source in SOURCES:
        row = next(line for line in page.splitlines() if f"student/{source.name}" in line)
        points = float(row.split("|")[3])
        assert points == sum(_questions(source).values()), (source.name, points)
