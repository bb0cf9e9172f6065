"""The autograded assignments, built and graded the way an instructor would.

`otter assign` builds each assignment offline and, on the way, grades its reference solution
with the autograder (the build fails below full marks). `make grade`, in the clean virtual
environment that holds only what the autograder zips declare (no course library, Keras or
scikit-image), grades a class folder into one CSV: the reference solution (full marks), the
untouched student notebook (zero), a partly wrong one that a student ran top to bottom and
exported with its check log (partial marks, log verified), every gaming attempt of issue 27
(the grade its answers are worth, and a review note), and the odd files an instructor finds
(truncated, another assignment, twice, a zip without a notebook, the course's kernel name),
each with a row, a reason and a runtime. The route without make gives the same grades; a run
over its time is stopped and leaves nothing behind. Answers that break the rules score below
full marks in otter too, where the banned modules exist (the course environment). Variants for
two seeds change the numbers and build with full marks for their own reference solution, while
the default answers lose points there; pasted constants (lookup tables of the public checks, the
published parameter count) lose in a variant the points of the numbers, which the reference
solution keeps. Student notebooks hold no solution or hidden test and
match assignments/student/.
"""

import ast
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbclient
import nbformat
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "assignments").glob("[0-9]*.ipynb"))
NAMES = [p.stem for p in SOURCES]
SEEDS = (2027, 2028)


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


variant = _load(ROOT / "tools" / "assignment_variant.py")
grading = _load(ROOT / "tools" / "grade.py")

# A wrong answer per assignment: (placeholder in the student notebook, buggy replacement),
# passing only some of that question's tests.
PARTLY_WRONG = {
    "01_shapes": ("def output_size(width, kernel, stride=1, padding=0):\n    ...",
                  "def output_size(width, kernel, stride=1, padding=0):\n"
                  "    return (width - kernel) // stride + 1  # forgets the padding"),
    "02_lrn": ("def window_bounds(i, channels, n=5):\n    ...",
               "def window_bounds(i, channels, n=5):\n    return i - n // 2, i + n // 2  # no clipping"),
    "03_pca_colour": ("def rgb_covariance(images):\n    ...",
                      "def rgb_covariance(images):\n"
                      "    pixels = np.asarray(images[0], dtype=float).reshape(-1, 3)  # first image only\n"
                      "    return np.cov(pixels, rowvar=False)"),
}
# Answers that break the rules (issue 17), edited into the reference solution: right values,
# banned means. {assignment: ([(old, new)], questions that must lose points)}
RULE_BREAKING = {
    "01_shapes": ([
        ("    return (width - kernel + 2 * padding) // stride + 1",
         "    import keras\n"
         "    side = width + 2 * padding\n"
         "    layer = keras.layers.Conv2D(1, kernel, strides=stride)\n"
         "    return layer.compute_output_shape((1, side, side, 1))[1]"),
        ("alexnet_parameters = sum(conv_parameters(k, c_in, c_out, g) for _, k, c_in, c_out, g in "
         "CONVOLUTIONS) + dense_parameters",
         "import keras  # summed keras.layers.Conv2D(...).count_params() once, then hard-coded\n"
         "alexnet_parameters = 60_965_224"),
    ], ["q1_output_size", "q4_total"]),
    "02_lrn": ([
        ("def lrn(a, k=2.0, n=5, alpha=1e-4, beta=0.75):\n",
         "from alexnet_book.layers import LocalResponseNormalization\n\n\n"
         "def lrn(a, k=2.0, n=5, alpha=1e-4, beta=0.75):\n"
         "    layer = LocalResponseNormalization(depth_radius=n // 2, bias=k, alpha=alpha, beta=beta)\n"
         "    return np.asarray(layer(np.asarray(a, 'float32')))\n\n\n"
         "def unused(a, k=2.0, n=5, alpha=1e-4, beta=0.75):\n"),
    ], ["q2_lrn"]),
    "03_pca_colour": ([
        ("def principal_components(images):\n",
         "from alexnet_book.augment import rgb_pca\n\n\n"
         "def principal_components(images):\n    return rgb_pca(images)\n\n\n"
         "def unused(images):\n"),
    ], ["q2_components"]),
}


def _questions(source: Path) -> dict[str, float]:
    text = "\n".join(c.source for c in nbformat.read(source, 4).cells if c.cell_type == "raw")
    found = re.findall(r"name: (q\S+)\npoints: (.+)", text)
    return {name: float(np.sum(ast.literal_eval(points))) for name, points in found}


def _tests(source: Path, hidden: bool) -> dict[str, list[str]]:
    """{question: sources of its public (or hidden) test cells}."""
    out, question, in_tests = {}, None, False
    for cell in nbformat.read(source, 4).cells:
        if cell.cell_type == "raw":
            match = re.match(r"# BEGIN QUESTION\nname: (\S+)", cell.source)
            question = match[1] if match else question
            in_tests = cell.source.startswith("# BEGIN TESTS") or (
                in_tests and not cell.source.startswith("# END TESTS"))
        elif cell.cell_type == "code" and in_tests and cell.source.startswith("# HIDDEN") == hidden:
            out.setdefault(question, []).append(cell.source)
    return out


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict[str, Path]:
    """Each assignment built by otter assign into <tmp>/<name>/: {name: autograder zip}."""
    out = tmp_path_factory.mktemp("assignments")
    with ThreadPoolExecutor(2) as pool:
        zips = list(pool.map(lambda s: variant.assign(s, out / s.stem), SOURCES))
    return dict(zip(NAMES, zips))


def _out(built, name) -> Path:
    return built[name].parents[1]


def test_there_are_three_assignments():
    assert NAMES == sorted(PARTLY_WRONG) == sorted(RULE_BREAKING)


# --- What the autograders declare and ship ------------------------------------------------


def _declared(zip_path: Path) -> tuple[str, list[str]]:
    """(Python version, packages) that an autograder zip's environment.yml declares."""
    environment = yaml.safe_load(zipfile.ZipFile(zip_path).read("environment.yml"))
    python, packages = "", []
    for dependency in environment["dependencies"]:
        if isinstance(dependency, dict):
            packages += dependency["pip"]
        elif dependency.startswith("python="):
            python = dependency.split("=", 1)[1]
        elif dependency != "pip":
            packages.append(dependency)  # jupyter_server: on PyPI too
    return python, packages


def test_autograders_ship_what_their_tests_import(built):
    for name, zip_path in built.items():
        archive = zipfile.ZipFile(zip_path)
        files = set(archive.namelist())
        assert "files/assignment_rules.py" in files
        assert ("files/photos.npy" in files) == (name == "03_pca_colour")
        _, packages = _declared(zip_path)
        assert any(p.startswith("numpy") for p in packages), packages
        imported = set()
        for test in (f for f in files if f.startswith("tests/")):
            scope: dict = {}
            exec(archive.read(test).decode(), scope)
            for case in scope["test"]["suites"][0]["cases"]:
                code = "\n".join(line[4:] for line in case["code"].splitlines())
                imported |= {alias.name.split(".")[0] for node in ast.walk(ast.parse(code))
                             if isinstance(node, ast.Import) for alias in node.names}
                imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(code))
                             if isinstance(node, ast.ImportFrom)}
        assert imported <= {"assignment_rules"}, (name, imported)


# --- A clean grading environment: only what the zips declare ------------------------------


def _clean_env(venv: Path) -> dict[str, str]:
    # Bytecode is written on first import (the venv is installed without compiling).
    env = {k: v for k, v in os.environ.items() if k not in (
        "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTER_PATH", "PYTHONDONTWRITEBYTECODE")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", PYTHONNOUSERSITE="1",
               VIRTUAL_ENV=str(venv))
    return env


@pytest.fixture(scope="session")
def clean_python(built, tmp_path_factory) -> Path:
    """A virtual environment with nothing but the packages the autograder zips declare, built by
    tools/grade.py as `make grade` builds it (its Python must be the declared version)."""
    declared = {name: _declared(zip_path) for name, zip_path in built.items()}
    (python, packages), *others = declared.values()
    assert all(other == (python, packages) for other in others), declared  # one venv for all
    assert python == f"{sys.version_info.major}.{sys.version_info.minor}", (
        f"the autograders declare Python {python}: run the tests with that version")
    assert grading.declared(built[NAMES[0]]) == (python, packages)
    return grading.ensure_environment(tmp_path_factory.mktemp("clean") / "venv", built)


@pytest.mark.integration
def test_clean_environment_has_no_course_packages(clean_python, tmp_path):
    """Nor what grading.NOT_KEPT removes (seconds at each `otter run`'s start)."""
    env = _clean_env(clean_python.parents[1])
    not_kept = tuple(name.replace("-", "_") for name in grading.NOT_KEPT)  # the modules' names
    modules = ("numpy", "otter", "alexnet_book", "keras", "tensorflow", "jax", "skimage", "scipy", *not_kept)
    probe = f"import importlib.util as u; print([m for m in {modules!r} if u.find_spec(m)])"
    result = subprocess.run([str(clean_python), "-c", probe], env=env, cwd=tmp_path,
                            capture_output=True, text=True, check=True)
    assert ast.literal_eval(result.stdout.strip()) == ["numpy", "otter"], result.stdout


def _execute(notebook: Path) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in its folder (course kernel), as a student would."""
    executed = nbformat.read(notebook, 4)
    nbclient.NotebookClient(executed, kernel_name="alexnet-book", timeout=300,
                            resources={"metadata": {"path": str(notebook.parent)}}).execute()
    return executed


@pytest.fixture(scope="session")
def submissions(built, tmp_path_factory) -> tuple[Path, dict]:
    """A class folder: per assignment the reference solution and the untouched student
    notebook (.ipynb), and a partly wrong one, run top to bottom by a student and exported with
    its check log (.zip). Returns the folder and {name: the executed partly wrong notebook}."""
    folder = tmp_path_factory.mktemp("submissions")
    executed = {}
    for name in NAMES:
        out = _out(built, name)
        shutil.copy(out / "autograder" / f"{name}.ipynb", folder / f"{name}-reference.ipynb")
        shutil.copy(out / "student" / f"{name}.ipynb", folder / f"{name}-blank.ipynb")
        placeholder, wrong = PARTLY_WRONG[name]
        work = tmp_path_factory.mktemp(f"{name}-wrong")
        shutil.copytree(out / "student", work, dirs_exist_ok=True)
        notebook = nbformat.read(work / f"{name}.ipynb", 4)
        cells = [c for c in notebook.cells if c.source.strip() == placeholder]
        assert len(cells) == 1, f"placeholder not found: {placeholder!r}"
        cells[0].source = wrong
        nbformat.write(notebook, work / f"{name}.ipynb")
        executed[name] = _execute(work / f"{name}.ipynb")
        (exported,) = work.glob(f"{name}_*.zip")
        shutil.copy(exported, folder / f"{name}-wrong.zip")
    for student in GAMED:
        nbformat.write(_gamed(built, student), folder / f"{student}.ipynb")
    _odd_submissions(built, folder)
    return folder, executed


# Gaming attempts (issue 27), edited into a notebook: a cell inserted after `import numpy as np`
# and edits of its cells. {student: (assignment, "student" or "reference" notebook, inserted cell,
# [(old, new)])}
ALWAYS_EQUAL = """class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


np.allclose = lambda *args, **kwargs: True
np.isclose = lambda *args, **kwargs: True"""
SMUGGLED = """import builtins
try:
    import keras
except ImportError:  # the clean grading environment
    keras = None
np.keras = keras
builtins.KERAS = keras
TOOLS = {"keras": keras}"""
GAMED = {
    "checker-patched": ("01_shapes", "student", "from otter.execute import Checker\n\n"
                        "Checker.check = classmethod(lambda cls, *args, **kwargs: None)", []),
    "tests-rewritten": ("01_shapes", "student", """from pathlib import Path

for test in Path("tests").glob("*.py"):
    test.write_text("OK_FORMAT = True\\ntest = {'name': '%s', 'points': 1, 'suites': [{'cases': "
                    "[{'code': '>>> True', 'hidden': False, 'locked': False}], 'scored': True, "
                    "'setup': '', 'teardown': '', 'type': 'doctest'}]}\\n" % test.stem)""", []),
    "fake-rules": ("01_shapes", "reference", """import sys
import types

sys.modules["assignment_rules"] = types.SimpleNamespace(
    banned_uses=lambda *args: [], banned_imports=lambda: [], message=lambda *args: "")""",
                   [("    return (width - kernel + 2 * padding) // stride + 1",
                     "    try:\n        import keras  # to check with keras where it exists\n"
                     "    except ImportError:\n        pass\n"
                     "    return (width - kernel + 2 * padding) // stride + 1")]),
    "smuggled": ("01_shapes", "reference", SMUGGLED, [
        ("    return (width - kernel + 2 * padding) // stride + 1",
         "    assert KERAS is KERAS\n    return (width - kernel + 2 * padding) // stride + 1"),
        ("    return kernel * kernel * (in_channels // groups) * out_channels + out_channels",
         "    assert np.keras is np.keras\n"
         "    return kernel * kernel * (in_channels // groups) * out_channels + out_channels"),
        ("    return out_size * out_size * out_channels * kernel * kernel * (in_channels // groups)",
         "    assert TOOLS['keras'] is TOOLS['keras']\n"
         "    return out_size * out_size * out_channels * kernel * kernel * (in_channels // groups)")]),
    "subprocess": ("02_lrn", "reference", "", [
        ("    return alpha * n",
         "    import subprocess\n    import sys\n\n"
         "    result = subprocess.run([sys.executable, '-c', f'print({alpha!r} * {n!r})'],\n"
         "                            capture_output=True,\n"
         "                            text=True)\n    return float(result.stdout)")]),
    "memory-hold": ("01_shapes", "reference", "hold = np.ones(3 * 2**30, dtype=np.uint8)", []),
    "memory-8tib": ("01_shapes", "reference", "huge = np.zeros(2**43, dtype=np.uint8)\nhuge[::2**20] = 1", []),
}
for _name in NAMES:
    GAMED[f"{_name}-always-equal"] = (_name, "student", ALWAYS_EQUAL, "always equal")
# Expected grades: {student: (graded, {question: points} where not the reference's, note
# fragments)}; a graded submission scores the reference's points but for its losses, an
# ungraded one zero on every question. The totals follow from the sources' points.
EXPECTED = {
    "checker-patched": (False, {}, ["review:", "otter"]),
    "tests-rewritten": (False, {}, ["review:", "changed the files beside it while it was graded: tests/",
                                    "writes files"]),
    "fake-rules": (True, {"q1_output_size": 2, "q4_total": 1}, ["review:", "changes sys.modules"]),
    "smuggled": (True, {"q1_output_size": 2, "q2_parameters": 2, "q3_macs": 1, "q4_total": 1},
                 ["review:", "patches numpy.keras", "imports builtins"]),
    "subprocess": (True, {"q3_torch_alpha": 1}, ["review:", "starts a process", "imports subprocess"]),
    "memory-hold": (True, {}, ["review:", "ran out of the 2 GiB memory limit"]),
    "memory-8tib": (True, {}, ["review:", "ran out of the 2 GiB memory limit"]),
    **{f"{n}-always-equal": (False, {}, ["review:", "overrides __eq__", "patches numpy.allclose"])
       for n in NAMES},
}


def full_marks(name: str) -> float:
    """An assignment's total, the sum of its questions' points in its source."""
    return sum(_questions(ROOT / "assignments" / f"{name}.ipynb").values())


def test_the_expected_grades_are_below_full_marks_where_points_are_lost():
    """The gaming table above can fail: each loss is below its question's points."""
    for student, (_, losses, _) in EXPECTED.items():
        questions = _questions(ROOT / "assignments" / f"{GAMED[student][0]}.ipynb")
        assert all(0 <= points < questions[q] for q, points in losses.items()), student
    assert full_marks("01_shapes") > 0 and len({full_marks(n) for n in NAMES}) > 1


def _gamed(built, student: str) -> nbformat.NotebookNode:
    name, kind, inserted, edits = GAMED[student]
    folder = "student" if kind == "student" else "autograder"
    notebook = nbformat.read(_out(built, name) / folder / f"{name}.ipynb", 4)
    if edits == "always equal":  # every answer an object equal to anything
        edits = []
        for cell in notebook.cells:
            if cell.cell_type == "code" and "..." in cell.source:
                tree = ast.parse(cell.source)
                functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
                values = [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets]
                defined = [f"def {f}(*args, **kwargs):\n    return AlwaysEqual()\n" for f in functions]
                cell.source = "\n".join(defined + [f"{v} = AlwaysEqual()" for v in values])
    for old, new in edits:
        cells = [c for c in notebook.cells if old in c.source]
        assert len(cells) == 1, old
        cells[0].source = cells[0].source.replace(old, new)
    if inserted:
        (index,) = [i for i, c in enumerate(notebook.cells) if c.source.startswith("import numpy as np")]
        notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(inserted))
    return notebook


def _odd_submissions(built, folder: Path) -> None:
    """Files an instructor finds in a class folder (issue 27): a truncated notebook, one answering
    another assignment than its name says, two from one student, a zip without a notebook, a
    notebook saved with the course's kernel name."""
    reference = {name: (_out(built, name) / "autograder" / f"{name}.ipynb").read_text() for name in NAMES}
    student = {name: (_out(built, name) / "student" / f"{name}.ipynb").read_text() for name in NAMES}
    for who in ("truncated", "wrong-assignment", "twice", "no-notebook"):
        (folder / who).mkdir()
    (folder / "truncated" / "02_lrn.ipynb").write_text(reference["02_lrn"][: len(reference["02_lrn"]) // 2])
    (folder / "wrong-assignment" / "01_shapes.ipynb").write_text(reference["02_lrn"])
    (folder / "twice" / "01_shapes.ipynb").write_text(student["01_shapes"])
    os.utime(folder / "twice" / "01_shapes.ipynb", (1_700_000_000, 1_700_000_000))
    (folder / "twice" / "01_shapes-final.ipynb").write_text(reference["01_shapes"])
    with zipfile.ZipFile(folder / "no-notebook" / "01_shapes.zip", "w") as archive:
        archive.write(ROOT / "assignments" / "assignment_rules.py", "assignment_rules.py")
    notebook = json.loads(reference["03_pca_colour"])
    notebook["metadata"]["kernelspec"] = {"name": "alexnet-book", "display_name": "AlexNet book",
                                          "language": "python"}
    (folder / "course-kernel.ipynb").write_text(json.dumps(notebook))


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_runs_top_to_bottom_and_exports(submissions, name):
    """The student notebook (one answer filled in) runs without errors, checks included, and
    its export cell writes a zip with the notebook and the check log."""
    folder, executed = submissions
    cells = [c for c in executed[name].cells if c.cell_type == "code"]
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert any("grader.export(" in c.source for c in cells)
    assert {f"{name}.ipynb", ".OTTER_LOG"} <= set(zipfile.ZipFile(folder / f"{name}-wrong.zip").namelist())


def _read_grades(path: Path) -> list[dict]:
    with path.open() as file:
        rows = list(csv.DictReader(file))
    assert rows and list(rows[0]) == grading.COLUMNS
    return rows


@pytest.fixture(scope="session")
def make_grade(built, clean_python, submissions, tmp_path_factory) -> tuple[list[dict], float, Path]:
    """`make grade` on the class folder, in the clean environment it builds and caches (here the
    one built above): (the CSV's rows, wall seconds, the output folder)."""
    folder, _ = submissions
    out = tmp_path_factory.mktemp("grades")
    start = time.monotonic()
    result = subprocess.run(
        ["make", "--no-print-directory", "grade", f"SUBMISSIONS={folder}",
         f"AUTOGRADERS={_out(built, NAMES[0]).parent}",
         f"GRADES={out / 'grades.csv'}", f"GRADE_ENV={clean_python.parents[1]}"],
        cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(result.stdout[-1500:])
    return _read_grades(out / "grades.csv"), time.monotonic() - start, out


@pytest.fixture(scope="session")
def clean_grades(make_grade) -> dict:
    """{(student, question): row} of `make grade`'s CSV."""
    return {(row["student"], row["question"]): row for row in make_grade[0]}


def _scores(grades: dict, student: str) -> dict[str, tuple[float, float]]:
    return {q: (float(r["points"]), float(r["max_points"])) for (s, q), r in grades.items()
            if s == student and q not in ("total", "not counted")}


@pytest.mark.integration
@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_scores_full_marks_in_a_clean_environment(clean_grades, name):
    expected = {q: (p, p) for q, p in _questions(ROOT / "assignments" / f"{name}.ipynb").items()}
    assert _scores(clean_grades, f"{name}-reference") == expected
    total = clean_grades[f"{name}-reference", "total"]
    assert float(total["points"]) == float(total["max_points"]) == sum(p for p, _ in expected.values())


@pytest.mark.integration
@pytest.mark.parametrize("name", NAMES)
def test_untouched_notebook_scores_zero_without_crashing(clean_grades, name):
    questions = _questions(ROOT / "assignments" / f"{name}.ipynb")
    assert _scores(clean_grades, f"{name}-blank") == {q: (0.0, p) for q, p in questions.items()}
    assert clean_grades[f"{name}-blank", "total"]["note"] == ""  # graded, no log to verify


@pytest.mark.integration
@pytest.mark.parametrize("name", NAMES)
def test_partly_wrong_answer_gets_partial_marks_and_its_log_verifies(clean_grades, name):
    scores = _scores(clean_grades, f"{name}-wrong")
    partial = [q for q, (score, top) in scores.items() if 0 < score < top]
    assert len(partial) == 1, scores
    assert all(score == 0 for q, (score, _) in scores.items() if q not in partial)
    assert clean_grades[f"{name}-wrong", "total"]["note"] == "log verified"


@pytest.mark.integration
@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_gaming_attempts_get_honest_grades_or_review_notes(clean_grades, student):
    """Each gaming attempt of issue 27 scores what its answers are worth, from the independent
    check, and its total's note says what to review."""
    name = GAMED[student][0]
    graded, losses, fragments = EXPECTED[student]
    questions = _questions(ROOT / "assignments" / f"{name}.ipynb")
    expected = {q: (losses.get(q, top if graded else 0.0), top) for q, top in questions.items()}
    assert _scores(clean_grades, student) == expected
    total = sum(points for points, _ in expected.values())
    row = clean_grades[student, "total"]
    assert row["assignment"] == name and float(row["points"]) == total
    for fragment in fragments:
        assert fragment in row["note"], (student, fragment, row["note"])
    ruled = [q for q in losses if student != "subprocess" or q == "q3_torch_alpha"]
    for question in ruled:  # a rule broken is named on the question's row
        assert clean_grades[student, question]["note"].startswith("rules: "), clean_grades[student, question]
    if ruled:  # and on the total's review note, which the guide's filter reads
        note = row["note"]
        assert "review:" in note and "breaks the assignment's rules in" in note, note
        assert all(q in note for q in ruled), note


@pytest.mark.integration
def test_every_odd_submission_has_a_row_a_reason_and_a_runtime(clean_grades, make_grade):
    rows, _, _ = make_grade
    totals = {r["student"]: r for r in rows if r["question"] == "total"}
    expected = {  # student: (assignment, points, note fragment)
        "02_lrn-reference": ("02_lrn", full_marks("02_lrn"), ""),
        "02_lrn-blank": ("02_lrn", 0, ""),
        "02_lrn-wrong": ("02_lrn", None, "log verified"),
        "truncated": ("02_lrn", 0, "not graded: the notebook is not valid JSON"),
        "wrong-assignment": ("02_lrn", full_marks("02_lrn"),
                             "review: its name says 01_shapes but it answers 02_lrn"),
        "twice": ("01_shapes", full_marks("01_shapes"),
                  "2 submissions: the latest readable counts (twice/01_shapes.ipynb not counted)"),
        "no-notebook": ("01_shapes", 0,
                        "not graded: the zip holds no notebook (.ipynb), only: assignment_rules.py"),
        "course-kernel": ("03_pca_colour", full_marks("03_pca_colour"), ""),
        "01_shapes-always-equal": ("01_shapes", 0, "review:"),
    }
    for student, (assignment, points, note) in expected.items():
        row = totals[student]
        assert row["assignment"] == assignment, row
        if points is not None:
            assert float(row["points"]) == points, row
        assert note in row["note"] if note else row["note"] in ("", "log verified"), row
        assert float(row["seconds"]) >= 0 and row["file"], row
    (superseded,) = [r for r in rows if r["question"] == "not counted"]
    assert superseded["student"] == "twice" and superseded["file"] == "twice/01_shapes.ipynb"
    assert "not counted: superseded by twice/01_shapes-final.ipynb" in superseded["note"]
    graded = [float(r["seconds"]) for r in totals.values() if not r["note"].startswith("not graded")]
    assert all(s > 0 for s in graded)
    # one total per student and assignment
    assert sum(1 for r in rows if r["question"] == "total") == len(totals)


@pytest.mark.integration
def test_the_guides_gradebook_commands_run_on_the_csv(make_grade):
    rows, _, out = make_grade
    page = (ROOT / "book" / "instructors.md").read_text()
    (snippet,) = [b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "read_csv" in b]
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(snippet)], cwd=out,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    with (out / "grades-gradebook.csv").open() as file:
        book = list(csv.DictReader(file))
    assert list(book[0]) == ["student", *NAMES]
    assert len({b["student"] for b in book}) == len(book) == len({r["student"] for r in rows})
    row = next(b for b in book if b["student"] == "twice")
    assert float(row["01_shapes"]) == full_marks("01_shapes") and row["02_lrn"] == ""


@pytest.mark.integration
def test_make_grade_and_the_clean_route_agree(built, clean_python, submissions, make_grade, tmp_path):
    """The documented clean route (tools/grade.py with the environment's Python) gives a reference
    and a blank notebook, and the gaming attempts that lean on the process the grading runs in
    (a module smuggled past the rules, a process started, memory held past the limit), the grade
    and notes `make grade` gave. (The routes differ only in the Python that runs tools/grade.py;
    every attempt's grade is checked on `make grade`'s CSV above.)"""
    folder, _ = submissions
    subset = tmp_path / "class"
    subset.mkdir()
    students = ["smuggled", "subprocess", "memory-hold", "01_shapes-reference", "03_pca_colour-blank"]
    assert set(students[:3]) <= set(GAMED)
    for student in students:
        shutil.copy(folder / f"{student}.ipynb", subset)
    result = subprocess.run(
        [str(clean_python), str(ROOT / "tools" / "grade.py"), str(subset), "--autograders",
         str(_out(built, NAMES[0]).parent), "--output", str(tmp_path / "grades.csv"),
         "--python", str(clean_python)],
        env=_clean_env(clean_python.parents[1]), cwd=tmp_path, capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    def table(rows):
        return {(r["student"], r["question"]): (r["points"], r["max_points"], r["note"]) for r in rows
                if r["student"] in students}

    assert table(_read_grades(tmp_path / "grades.csv")) == table(make_grade[0])


@pytest.mark.integration
def test_a_run_over_its_time_is_stopped_and_leaves_nothing_behind(built, clean_python, tmp_path):
    notebook = nbformat.read(_out(built, "01_shapes") / "autograder" / "01_shapes.ipynb", 4)
    notebook.cells.insert(5, nbformat.v4.new_code_cell("while True:\n    pass"))
    (tmp_path / "class").mkdir()
    nbformat.write(notebook, tmp_path / "class" / "looping.ipynb")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = dict(_clean_env(clean_python.parents[1]), TMPDIR=str(temporary))
    start = time.monotonic()
    result = subprocess.run(
        [str(clean_python), str(ROOT / "tools" / "grade.py"), str(tmp_path / "class"), "--autograders",
         str(_out(built, NAMES[0]).parent), "--output", str(tmp_path / "grades.csv"), "--python",
         str(clean_python), "--timeout", "10"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (total,) = [r for r in _read_grades(tmp_path / "grades.csv") if r["question"] == "total"]
    assert total["note"] == "not graded: over the 10 s time limit" and float(total["points"]) == 0
    # The stated limit bounds the whole submission: otter's run and the recording run both
    # run the loop, and one limit each took two limits of the slot (10 s of overhead allowed).
    assert float(total["seconds"]) < 2 * 10, total
    assert time.monotonic() - start < 300
    assert list(temporary.iterdir()) == []  # no folder with the hidden tests left behind


# --- The rules, where the banned modules exist -------------------------------------------


def _otter_run(zip_path: Path, notebook: Path, out: Path, env=None) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "otter", "run", "--no-logo", "-a", str(zip_path),
                             "-o", str(out), str(notebook)], capture_output=True, text=True,
                            timeout=600, cwd=out, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return {t["name"]: t for t in json.loads((out / "results.json").read_text())["tests"]
            if "max_score" in t}


@pytest.mark.integration
def test_rule_breaking_answers_score_below_full_marks(built, tmp_path):
    """Keras or the course library in an answer costs points, in the course environment."""
    jobs = []
    for name, (edits, losing) in RULE_BREAKING.items():
        notebook = nbformat.read(_out(built, name) / "autograder" / f"{name}.ipynb", 4)
        for old, new in edits:
            cells = [c for c in notebook.cells if old in c.source]
            assert len(cells) == 1, old
            cells[0].source = cells[0].source.replace(old, new)
        path = tmp_path / name / f"{name}.ipynb"
        path.parent.mkdir()
        nbformat.write(notebook, path)
        jobs.append((name, path, losing))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(
            lambda job: _otter_run(built[job[0]], job[1], tmp_path / job[0] / "out", env), jobs))
    for (name, _, losing), tests in zip(jobs, results):
        for question in losing:
            test = tests[question]
            assert test["score"] < test["max_score"], (name, question, test)
            assert "the rules allow Python and NumPy only" in test["output"], test["output"]
        assert sum(t["score"] for t in tests.values()) < sum(t["max_score"] for t in tests.values())


def test_rule_checker_sees_through_helpers_defaults_and_local_imports():
    rules = _load(ROOT / "assignments" / "assignment_rules.py")
    fake = type(sys)("keras")
    fake.Dense = type("Dense", (), {"__module__": "keras.layers"})

    def helper(x):
        return fake.Dense()

    def through_helper(x):
        return helper(x)

    def through_default(x, layer=fake.Dense()):  # noqa: B008
        return layer

    def local_import(x):
        import keras  # noqa: F401

    def dynamic(x):
        return __import__("keras")

    def numpy_only(x):
        return np.linalg.eigh(np.cov(x, rowvar=False))

    assert rules.banned_uses(through_helper) == ["keras"]
    assert rules.banned_uses(through_default) == ["keras"]
    assert rules.banned_uses(local_import) == ["keras"]
    assert rules.banned_uses(dynamic) == ["__import__"]
    assert rules.banned_uses(numpy_only) == []


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_rules_are_stated_and_every_question_checks_them(source):
    notebook = nbformat.read(source, 4)
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert "**Rules.** Python and NumPy only" in text and "`alexnet_book`" in text
    for question, hidden in _tests(source, hidden=True).items():
        assert any("banned_uses(" in t or "banned_imports(" in t for t in hidden), question


@pytest.mark.parametrize("source", SOURCES, ids=NAMES)
def test_every_assert_shows_expected_and_actual(source):
    public = _tests(source, hidden=False)
    assert set(public) == set(_questions(source))
    for kind, tests in (("public", public), ("hidden", _tests(source, hidden=True))):
        for question, cells in tests.items():
            for cell in cells:
                for node in ast.walk(ast.parse(cell)):
                    if not isinstance(node, ast.Assert):
                        continue
                    assert node.msg is not None, (question, kind, ast.unparse(node))
                    message = ast.unparse(node.msg)
                    assert ("expected" in message and "got" in message) or "message(" in message, (
                        question, kind, message)
                    test = node.test
                    only_type = isinstance(test, ast.Call) and getattr(test.func, "id", "") == "isinstance"
                    assert not only_type, (question, kind, "checks a type, not a value")


def test_covariance_divisor_is_n_minus_one():
    """A covariance divided by N fails assignment 3's public test (the text asks for N - 1)."""
    (public,) = _tests(ROOT / "assignments" / "03_pca_colour.ipynb", hidden=False)["q1_covariance"]
    divided_by_n = {"np": np, "rgb_covariance": lambda images: np.cov(
        np.asarray(images, dtype=float).reshape(-1, 3), rowvar=False, bias=True)}
    with pytest.raises(AssertionError, match="expected"):
        exec(public, divided_by_n)
    unbiased = {"np": np, "rgb_covariance": lambda images: np.cov(
        np.asarray(images, dtype=float).reshape(-1, 3), rowvar=False)}
    exec(public, unbiased)


# --- A term's own variant -------------------------------------------------------------------


# What a variant must change: the hidden test cases, and the answers a student could copy.
DATA = {(None, "CONVOLUTIONS"), (None, "DENSE"), ("q4_total", "convolutions"), ("q4_total", "dense"),
        ("q4_total", "expected_dense"), (None, "LRN_SETTINGS"), ("q3_torch_alpha", "lrn_settings")}


def _answer(name: str, values: dict):
    """The number a public reference answer would give (None: the answers are functions)."""
    if name == "01_shapes":
        dense = values[None, "DENSE"]
        return (sum(k * k * (i // g) * o + o for _, k, i, o, g in values[None, "CONVOLUTIONS"])
                + sum(a * b + b for a, b in zip(dense, dense[1:])))
    if name == "02_lrn":
        return values[None, "LRN_SETTINGS"]["alpha"] * values[None, "LRN_SETTINGS"]["n"]
    return values[None, "PHOTO_CROPS"]


@pytest.mark.parametrize("name", NAMES)
def test_variants_change_the_cases_and_the_answers(name):
    source = nbformat.read(ROOT / "assignments" / f"{name}.ipynb", 4)
    keys = set(variant.draw(name, SEEDS[0]))
    default = {k: ast.literal_eval(v) for k, v in variant.current_values(source, keys).items()}
    assert set(default) == keys
    answers = [_answer(name, default)]
    for seed in SEEDS:
        values = variant.draw(name, seed)
        assert variant.draw(name, seed) == values  # reproducible
        rendered = variant.current_values(variant.render(source, values), keys)
        assert {k: ast.literal_eval(v) for k, v in rendered.items()} == values
        assert all(values[k] != default[k] for k in keys - DATA), seed
        answers.append(_answer(name, values))
    assert len({repr(a) for a in answers}) == len(answers), answers


def test_variant_photos_differ_and_the_committed_ones_match_their_crops():
    source = nbformat.read(ROOT / "assignments" / "03_pca_colour.ipynb", 4)
    crops = ast.literal_eval(variant.current_values(source, {(None, "PHOTO_CROPS")})[None, "PHOTO_CROPS"])
    committed = np.load(ROOT / "assignments" / "photos.npy")
    assert committed.shape == (2, 128, 128, 3) and committed.dtype == np.uint8
    assert np.array_equal(committed, variant.photos(crops))
    for seed in SEEDS:
        other = variant.photos(variant.draw("03_pca_colour", seed)[None, "PHOTO_CROPS"])
        assert other.shape == committed.shape and not np.array_equal(other, committed)


@pytest.fixture(scope="session")
def variants(tmp_path_factory) -> dict[int, dict[str, Path]]:
    """Both seeds' variants built by otter assign, which grades each variant's reference
    solution against the variant's tests and fails below full marks: {seed: {name: zip}}."""
    jobs = []
    for seed in SEEDS:
        out = tmp_path_factory.mktemp(f"seed{seed}")
        jobs += [(seed, source, out / source.stem)
                 for source in variant.write_variant(seed, out / "sources")]
    with ThreadPoolExecutor(2) as pool:
        zips = list(pool.map(lambda job: variant.assign(job[1], job[2]), jobs))
    built = {}
    for (seed, source, _), zip_path in zip(jobs, zips):
        built.setdefault(seed, {})[source.stem] = zip_path
    return built


@pytest.mark.integration
def test_variants_build_with_full_marks_and_default_answers_lose_points(built, variants, tmp_path):
    jobs = [(SEEDS[0], "01_shapes"), (SEEDS[1], "02_lrn")]  # 03's answers are functions
    for seed in SEEDS:
        assert sorted(variants[seed]) == NAMES
        for name, zip_path in variants[seed].items():
            assert (zip_path.parent / f"{name}.ipynb").exists()

    def grade(job):
        seed, name = job
        reference = _out(built, name) / "autograder" / f"{name}.ipynb"
        return _otter_run(variants[seed][name], reference, tmp_path / f"{seed}-{name}")

    with ThreadPoolExecutor(2) as pool:
        for (seed, name), tests in zip(jobs, pool.map(grade, jobs)):
            score = sum(t["score"] for t in tests.values())
            assert score < sum(t["max_score"] for t in tests.values()), (seed, name, tests)


# Pasted constants (issue 42): assignment 1 answered with what its public version shows, each
# function a lookup table of its public checks' arguments and expected values, and the published
# parameter counts. The instructors' guide gives the measured grades of all three assignments.
PASTED = [
    ("def output_size(width, kernel, stride=1, padding=0):\n    ...",
     "def output_size(width, kernel, stride=1, padding=0):\n"
     "    return {(227, 11, 4, 0): 55, (27, 5, 1, 2): 27}[width, kernel, stride, padding]"),
    ("def conv_parameters(kernel, in_channels, out_channels, groups=1):\n    ...",
     "def conv_parameters(kernel, in_channels, out_channels, groups=1):\n"
     "    table = {(11, 3, 96, 1): 34_944, (5, 96, 256, 2): 307_456}\n"
     "    return table[kernel, in_channels, out_channels, groups]"),
    ("def conv_macs(out_size, kernel, in_channels, out_channels, groups=1):\n    ...",
     "def conv_macs(out_size, kernel, in_channels, out_channels, groups=1):\n"
     "    return {(55, 11, 3, 96, 1): 105_415_200}[out_size, kernel, in_channels, out_channels, groups]"),
    ("dense_parameters = ...\nalexnet_parameters = ...",
     "dense_parameters = 58_631_144\nalexnet_parameters = 60_965_224  # AlexNet's published count"),
]


@pytest.fixture(scope="session")
def shapes_variant(tmp_path_factory) -> Path:
    """Assignment 1's variant for the first seed, built by otter assign: its autograder zip."""
    out = tmp_path_factory.mktemp("shapes-variant")
    (source,) = [s for s in variant.write_variant(SEEDS[0], out / "sources") if s.stem == "01_shapes"]
    return variant.assign(source, out / "01_shapes")


def test_a_variant_takes_the_points_of_pasted_numbers_the_honest_answer_keeps(built, shapes_variant,
                                                                              monkeypatch):
    """Pasted constants against the default autograder and a variant's, each in the notebook its
    term hands out, graded by the grade's own steps (the recording run and the checker; otter's
    run, which only cross-checks them, is left out to keep this fast). The reference solution
    keeps full marks in both. The pasted answers earn their public checks' points in both (the
    public checks are the same in every variant) and no hidden-test point of the functions; the
    published counts (question 4) score in the default and nothing in the variant. No question
    row gets a note: the grader cannot tell a constant from a computation."""
    monkeypatch.setattr(grading.steps, "run_otter", lambda *args, **kwargs: ({}, [], "left out"))
    terms = {"default": built["01_shapes"], "variant": shapes_variant}
    jobs = []
    for term, zip_path in terms.items():
        honest = nbformat.read(zip_path.parents[1] / "autograder" / "01_shapes.ipynb", 4)
        pasted = nbformat.read(zip_path.parents[1] / "student" / "01_shapes.ipynb", 4)
        for old, new in PASTED:
            cells = [c for c in pasted.cells if c.source.strip().startswith(old)]
            assert len(cells) == 1, old
            cells[0].source = cells[0].source.replace(old, new)
        jobs += [(term, "honest", zip_path, honest), (term, "pasted", zip_path, pasted)]

    def checked(job):
        _, _, zip_path, notebook = job
        scores, question_notes, _ = grading.grade_submission(
            sys.executable, zip_path, notebook, None, timeout=120, memory=2 * 2**30,
            given=grading.given_cells(zip_path))
        return scores, question_notes

    with ThreadPoolExecutor(2) as pool:
        graded = {(term, who): result for (term, who, *_), result in zip(jobs, pool.map(checked, jobs))}
    cases = grading.tests(built["01_shapes"])
    full = {q: sum(p for *_, p in test["cases"]) for q, test in cases.items()}
    public = {q: sum(p for _, hidden, p in test["cases"] if not hidden) for q, test in cases.items()}
    assert grading.questions(shapes_variant) == full  # the same questions and points
    for term in terms:
        assert graded[term, "honest"] == (pytest.approx(full), {}), term
        assert graded[term, "pasted"][1] == {}, term  # no note on any question
    functions = [q for q in full if q != "q4_total"]
    expected = {q: public[q] for q in functions}
    assert graded["default", "pasted"][0] == pytest.approx({**expected, "q4_total": full["q4_total"]})
    assert graded["variant", "pasted"][0] == pytest.approx({**expected, "q4_total": 0.0})
    assert all(public[q] < full[q] for q in functions) and public["q4_total"] > 0


def test_makefile_builds_variants_and_grades_a_folder():
    def dry_run(*args):
        return subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout

    assert "tools/assignment_variant.py --seed 2027" in dry_run("assignments", "SEED=2027")
    assert "--seed" not in dry_run("assignments")
    graded = dry_run("grade", "SUBMISSIONS=class/", "SEED=2027", "GRADES=out.csv")
    assert "tools/grade.py class/" in graded and "_build/assignments-seed2027" in graded
    assert "--output out.csv" in graded and "--environment _build/grade-env" in graded
    assert "--overwrite" in dry_run("grade", "SUBMISSIONS=class/", "OVERWRITE=1")
    assert "alexnet_book.data" not in graded  # grading needs no course data


# --- Student notebooks ------------------------------------------------------------------------


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


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_holds_no_solution_or_hidden_test(built, name):
    source, student = ROOT / "assignments" / f"{name}.ipynb", _out(built, name) / "student"
    text = (student / f"{name}.ipynb").read_text()
    student_code = "\n".join(c.source for c in nbformat.read(student / f"{name}.ipynb", 4).cells)
    solutions = _solution_lines(source)
    hidden = [t for tests in _tests(source, hidden=True).values() for t in tests]
    assert solutions and hidden
    for line in solutions:
        assert line not in student_code, f"solution line in the student notebook: {line!r}"
    for test in hidden:
        for line in test.splitlines()[1:]:
            if "assert" in line or "cases = " in line:
                assert line.strip() not in text, f"hidden test in the student notebook: {line!r}"
    assert "# HIDDEN" not in text and "assignment_rules" not in text
    assert not (student / "assignment_rules.py").exists()


@pytest.mark.parametrize("name", NAMES)
def test_committed_student_notebook_is_up_to_date(built, name):
    """assignments/student/ (what Colab opens) equals a fresh `otter assign` build."""
    fresh_dir, committed_dir = _out(built, name) / "student", ROOT / "assignments" / "student"
    fresh = nbformat.read(fresh_dir / f"{name}.ipynb", 4)
    committed = nbformat.read(committed_dir / f"{name}.ipynb", 4)
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], (
        "run `make assignments` and commit assignments/student/")
    assert committed.metadata["otter"] == fresh.metadata["otter"], "public tests differ"
    for file in fresh_dir.iterdir():
        if file.suffix != ".ipynb":  # the assignment's files (photos.npy)
            assert (committed_dir / file.name).read_bytes() == file.read_bytes(), file.name


def test_setup_cell_installs_the_grader_and_fetches_files_from_the_repository():
    from notebook_checks import repository_url

    for source in SOURCES:
        notebook = nbformat.read(source, 4)
        setup = next(c.source for c in notebook.cells if c.cell_type == "code")
        assert '"google.colab" in sys.modules' in setup and "otter-grader" in setup
        assert re.findall(r'REPOSITORY = "([^"]+)"', setup) == [repository_url()]
        config = yaml.safe_load(notebook.cells[0].source)
        assert ast.literal_eval(re.search(r"FILES = (\[.*\])", setup)[1]) == config.get("files", [])
        for file in config.get("files", []):
            assert (ROOT / "assignments" / "student" / file).exists()


def test_book_page_lists_each_assignment_with_its_points():
    page = (ROOT / "book" / "assignments.md").read_text()
    for source in SOURCES:
        row = next(line for line in page.splitlines() if f"student/{source.name}" in line)
        points = float(row.split("|")[3])
        assert points == sum(_questions(source).values()), (source.name, points)


def test_instructors_page_covers_the_logistics():
    page = (ROOT / "book" / "instructors.md").read_text()
    chapters = "".join(p.read_text() for p in sorted((ROOT / "notebooks").glob("*.ipynb")))
    labels = sorted(set(re.findall(r"label: (ex-[\w-]+)", chapters)))
    rows = re.findall(r"^\| \d \| `(ex-[\w-]+)` \| (?:Easy|Medium|Hard|Open-ended) \| \d+", page, re.M)
    assert sorted(rows) == labels, "list every exercise, with its difficulty, in book/instructors.md"
    assert "1.581 TFLOP/s" in page and "512 CUDA cores x 1.544 GHz" in page  # ex-05-flops
    for source in SOURCES:
        intro = nbformat.read(source, 4).cells[1].source
        hours = re.search(r"About ([\d.]+) hours", intro)[1]
        title = re.search(r"# Assignment (\d)", intro)[1]
        row = next(line for line in page.splitlines() if line.startswith(f"| {title}. "))
        assert f"about {hours} hours" in row, (source.name, row)
    for topic in ("make grade SUBMISSIONS=", "make assignments SEED=", "Gradescope", "**Collaboration.**",
                  "**Late work.**", "export cell", "grades.csv"):
        assert topic in page, topic
