"""The grader's parts that decide a grade (tools/grade.py and its package, tools/grading/), each
without a class to grade (fast).

What the notebook's source shows (read outside any kernel), the plain data that alone crosses
from a student's process to the checker, the checker's replay of a test against that data, the
odd submissions (truncated, a zip without a notebook), the refusals (no submissions, a CSV it
would overwrite), and the limits on a grading process (memory, time, nothing left running).
The graded class, with every gaming attempt as a submission, is in test_assignments.py.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BANNED = ("alexnet_book", "keras", "tensorflow", "torch", "jax", "scipy")


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


grading = _load(ROOT / "tools" / "grade.py")


def _notebook(*cells: str, **metadata) -> dict:
    return {
        "cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": []} for c in cells],
        "metadata": metadata,
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _inspect(*cells: str, given=()) -> dict:
    return grading.inspect_notebook(_notebook(*cells), BANNED, set(given))


# --- The source, read outside the kernel ------------------------------------------------------------


def test_honest_numpy_answers_show_nothing():
    seen = _inspect(
        "import numpy as np",
        "def cov(x):\n    p = np.asarray(x).reshape(-1, 3)\n    return np.cov(p, rowvar=False)",
        "def helper(a):\n    return cov(a) * 2\n\nvalue = helper(np.ones((2, 3)))\nvalue",
    )
    assert seen == {"imports": [], "uses": {}, "review": [], "errors": []}


def test_banned_modules_are_seen_through_helpers_and_every_smuggling_route():
    seen = _inspect(
        "import numpy as np\nimport builtins\ntry:\n    import keras\nexcept ImportError:\n    keras = None",
        "np.keras = keras\nbuiltins.KERAS = keras\nTOOLS = {'k': keras}",
        "def via_numpy(x):\n    return np.keras",
        "def via_builtins(x):\n    return KERAS",
        "def via_dict(x):\n    return TOOLS['k']",
        "def via_helper(x):\n    return via_dict(x)",
        "def local_import(x):\n    from alexnet_book import layers\n    return layers",
        "def dynamic(x):\n    return __import__('torch')",
        "def clean(width):\n    return width // 2 + 1",
    )
    assert seen["imports"] == ["alexnet_book", "keras", "torch"]
    uses = seen["uses"]
    for name in ("via_numpy", "via_builtins", "via_dict", "via_helper"):
        assert "keras" in uses[name], (name, uses)
    assert uses["local_import"] == ["alexnet_book"]
    assert "__import__" in uses["dynamic"] and "torch" in uses["dynamic"]
    assert "clean" not in uses
    assert any(r.startswith("patches numpy.keras") for r in seen["review"]), seen["review"]
    assert "imports builtins" in seen["review"]


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("class Equal:\n    def __eq__(self, other):\n        return True", "overrides __eq__"),
        ("Sneaky = type('Sneaky', (), {'__eq__': lambda a, b: True})", "overrides __eq__"),
        ("import numpy as np\nnp.allclose = lambda *a, **k: True", "patches numpy.allclose"),
        ("import numpy\nsetattr(numpy, 'isclose', print)", "patches numpy"),
        ("from otter.execute import Checker\nChecker.check = print", "patches otter.execute.Checker.check"),
        ("import sys, types\nsys.modules['assignment_rules'] = types.ModuleType('x')", "changes sys.modules"),
        ("from pathlib import Path\nPath('tests/q1.py').write_text('')", "writes files (.write_text)"),
        ("open('tests/q1.py', 'w').write('')", "writes files (open)"),
        ("import subprocess\nsubprocess.run(['python', '-c', 'import keras'])", "imports subprocess"),
        ("import os\nos.system('python -c \"import keras\"')", "uses os.system"),
        ("exec('import keras')", "runs code dynamically (exec)"),
        ("!pip install keras", "runs shell commands or magics (!pip)"),
    ],
)
def test_tampering_is_named_for_review(cell, expected):
    review = _inspect(cell)["review"]
    assert any(r.startswith(expected) for r in review), review


def test_cells_the_students_received_are_not_flagged():
    setup = "import subprocess\nimport sys\nif 'google.colab' in sys.modules:\n    subprocess.run(['pip'])"
    assert _inspect(setup, given=[setup])["review"] == []
    assert _inspect(setup + "\n", "x = 1")["review"]  # the same lines, but not the given cell


def test_a_cell_that_is_not_python_is_reported():
    assert _inspect("def f(:\n    pass")["errors"] == ["code cell 1 is not Python (invalid syntax, line 1)"]


# --- Plain data --------------------------------------------------------------------------------------


def _roundtrip(value):
    unsupported: list = []
    return grading.decode(json.loads(json.dumps(grading.encode(value))), unsupported), unsupported


@pytest.mark.parametrize(
    "value",
    [
        55,
        2.5,
        -0.0,
        "text",
        None,
        True,
        (3, 7),
        [1, (2, 3.0)],
        {"k": 2.0, "n": 5},
        np.arange(12.0).reshape(3, 4),
        np.array([1, 2], dtype=np.int32),
        np.float32(0.5),
        np.int64(7),
        ...,
    ],
)
def test_plain_values_survive_exactly(value):
    back, unsupported = _roundtrip(value)
    assert unsupported == []
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and np.array_equal(back, value)
    else:
        assert back == value or (back is value)


def test_objects_with_behaviour_become_inert():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    class Int(int):
        def __eq__(self, other):
            return True

    for value in (AlwaysEqual(), Int(3), [AlwaysEqual()], np.array([AlwaysEqual()], dtype=object)):
        back, unsupported = _roundtrip(value)
        assert unsupported, value
        inert = back[0] if isinstance(back, list) else back
        assert isinstance(inert, grading.NotPlain)
        assert inert != 55 and not (inert == inert.kind)


def test_calls_are_keyed_by_their_arguments_values():
    a = grading.call_key((np.zeros(3), 2), {"n": 5})
    assert a == grading.call_key((np.zeros(3), 2), {"n": 5})
    assert a != grading.call_key((np.zeros(3), 2), {"n": 7})
    assert a != grading.call_key((np.zeros(3, dtype=np.float32), 2), {"n": 5})


def _case(code: str) -> str:
    return "".join(
        f">>> {line}\n" if not line.startswith(" ") else f"... {line}\n" for line in code.splitlines()
    )


def _replay(tmp_path, record: dict, rules=None) -> dict:
    """The checker run on a test with one public and one hidden case."""
    tests = {
        "q1": {
            "file": "tests/q1.py",
            "cases": [
                (_case("got = half(10)\nassert got == 5, 'expected 5'"), False, 1.0),
                (
                    _case(
                        "from assignment_rules import banned_uses, message\nassert not banned_uses(half), "
                        "message('half', banned_uses(half))\nfor x in [4, 8]:\n"
                        "    assert np.isclose(half(x), x / 2), x"
                    ),
                    True,
                    2.0,
                ),
            ],
        }
    }
    paths = {name: tmp_path / f"{name}.json" for name in ("tests", "record", "rules", "out")}
    paths["tests"].write_text(json.dumps(tests))
    paths["record"].write_text(json.dumps(record))
    paths["rules"].write_text(json.dumps(rules or {"imports": [], "uses": {}, "everywhere": []}))
    subprocess.run(
        [
            sys.executable,
            "-I",
            str(ROOT / "tools" / "grade.py"),
            "_replay",
            *map(str, (paths["tests"], paths["record"], paths["rules"], paths["out"])),
        ],
        check=True,
        cwd=tmp_path,
        timeout=60,
    )
    return json.loads(paths["out"].read_text())["q1"]


def _record(results: dict) -> dict:
    calls = {grading.call_key((x,), {}): [grading.encode(y)] for x, y in results.items()}
    return {
        "tests": {
            "q1": {
                "values": {"half": {"__function__": True}, "np": {"__module__": "numpy"}},
                "calls": {"half": calls},
            }
        }
    }


def test_checker_scores_recorded_results_with_real_numpy(tmp_path):
    right = _record({10: 5, 4: 2.0, 8: 4.0})
    assert _replay(tmp_path, right)["score"] == 3.0
    wrong = _record({10: 5, 4: 2.0, 8: 5.0})
    assert _replay(tmp_path, wrong)["score"] == 1.0  # the public case only
    missing = _record({10: 5})  # never called with the hidden arguments
    assert _replay(tmp_path, missing)["score"] == 1.0


def test_checker_gives_nothing_for_objects_or_banned_uses(tmp_path):
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    fake = _replay(tmp_path, _record({10: AlwaysEqual(), 4: AlwaysEqual(), 8: AlwaysEqual()}))
    assert fake["score"] == 0.0 and fake["unsupported"], fake
    banned = _replay(
        tmp_path,
        _record({10: 5, 4: 2.0, 8: 4.0}),
        {"imports": ["keras"], "uses": {"half": ["keras"]}, "everywhere": []},
    )
    assert banned["score"] == 1.0  # the public case; the hidden case checks the rules
    hidden_import = _replay(
        tmp_path, _record({10: 5, 4: 2.0, 8: 4.0}), {"imports": ["keras"], "uses": {}, "everywhere": ["keras"]}
    )
    assert hidden_import["score"] == 1.0


# --- Odd submissions -------------------------------------------------------------------------------


def test_a_truncated_notebook_is_named_and_its_assignment_guessed(tmp_path):
    text = json.dumps(_notebook('import otter\ngrader = otter.Notebook("02_lrn.ipynb")', "x = 1"))
    path = tmp_path / "dave.ipynb"
    path.write_text(text[: len(text) // 2])
    with pytest.raises(grading.NotGraded, match="not valid JSON .* truncated"):
        grading.read_submission(path)
    assert grading.assignment_of(path, ["01_shapes", "02_lrn"]) == "02_lrn"


def test_a_zip_without_a_notebook_is_refused(tmp_path):
    path = tmp_path / "01_shapes.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("assignment_rules.py", "BANNED = ()")
    with pytest.raises(grading.NotGraded, match="holds no notebook"):
        grading.read_submission(path)


def test_the_latest_time_a_file_records_decides_between_two_submissions(tmp_path):
    old, new = tmp_path / "a.ipynb", tmp_path / "b.zip"
    old.write_text("{}")
    with zipfile.ZipFile(new, "w") as archive:
        archive.writestr(zipfile.ZipInfo("n.ipynb", (2030, 1, 1, 0, 0, 0)), "{}")
    assert grading.recorded_time(new) > grading.recorded_time(old)
    os.utime(old, (time.time() - 86400,) * 2)
    assert grading.recorded_time(old) < time.time() - 3600


# --- Refusals, within seconds --------------------------------------------------------------------------


@pytest.fixture
def autograder_folder(tmp_path) -> Path:
    folder = tmp_path / "autograders" / "01_shapes" / "autograder"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "01_shapes.zip", "w") as archive:
        archive.writestr("otter_config.json", json.dumps({"assignment_name": "01_shapes"}))
    return folder.parents[1]


def test_autograders_named_relative_to_here_are_found_from_any_folder(tmp_path, autograder_folder, monkeypatch):
    """`make grade` passes --autograders _build/assignments; otter runs elsewhere, so the zips'
    paths must not depend on the folder grading started in."""
    monkeypatch.chdir(tmp_path)
    (zip_path,) = grading.autograders(Path("autograders")).values()
    assert zip_path.is_absolute()
    assert zip_path == autograder_folder / "01_shapes" / "autograder" / "01_shapes.zip"


def _grade(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "grade.py"), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_folder_without_submissions_is_refused_and_the_csv_kept(tmp_path, autograder_folder):
    (tmp_path / "empty").mkdir()
    (tmp_path / "grades.csv").write_text("student,assignment\nalice,01_shapes\n")
    result = _grade(
        tmp_path / "empty",
        "--autograders",
        autograder_folder,
        "--output",
        "grades.csv",
        "--overwrite",
        cwd=tmp_path,
    )
    assert result.returncode != 0 and "no submissions" in result.stderr
    assert (tmp_path / "grades.csv").read_text() == "student,assignment\nalice,01_shapes\n"


def test_a_non_empty_csv_is_not_overwritten_without_the_flag(tmp_path, autograder_folder):
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "alice.ipynb").write_text("{}")
    (tmp_path / "grades.csv").write_text("kept\n")
    result = _grade(
        tmp_path / "class", "--autograders", autograder_folder, "--output", "grades.csv", cwd=tmp_path
    )
    assert result.returncode != 0 and "--overwrite" in result.stderr
    assert (tmp_path / "grades.csv").read_text() == "kept\n"


def test_a_python_that_is_not_one_is_named(tmp_path, autograder_folder):
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "alice.ipynb").write_text("{}")
    result = _grade(
        tmp_path / "class", "--autograders", autograder_folder, "--python", "gradeenv/bin/python", cwd=tmp_path
    )
    assert result.returncode != 0 and "--python gradeenv/bin/python: not an executable Python" in result.stderr


# --- Limits on a grading process ----------------------------------------------------------------------


def test_memory_limit_stops_large_allocations(tmp_path):
    code = (
        "import sys\ntry:\n    b = bytearray(3 * 2**30)\nexcept MemoryError:\n    sys.exit(7)\n"
        "try:\n    c = bytearray(2**43)\nexcept MemoryError:\n    sys.exit(8)\n"
    )
    result = grading.run_limited(
        [sys.executable, "-c", code],
        python=sys.executable,
        timeout=60,
        memory=2 * 2**30,
        cwd=tmp_path,
        env=dict(os.environ),
    )
    assert result.returncode == 7, result.stderr


def test_timeout_kills_what_the_process_started(tmp_path):
    child = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        f"open({str(child)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(300)\n"
    )
    start = time.monotonic()
    with pytest.raises(grading.Timeout, match="over the 3 s time limit"):
        grading.run_limited(
            [sys.executable, "-c", code],
            python=sys.executable,
            timeout=3,
            memory=0,
            cwd=tmp_path,
            env=dict(os.environ),
        )
    assert time.monotonic() - start < 30
    pid = int(child.read_text())
    time.sleep(0.5)
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}").exists() else "gone"
    assert state in ("gone", "Z"), state


class _FakeRun:
    """run_limited for run_otter: each call answers with the next (returncode, stderr); a successful
    call writes the results.json otter would, and prints otter's log check."""

    def __init__(self, *answers, stdout=""):
        self.answers, self.calls, self.stdout = list(answers), 0, stdout

    def __call__(self, command, **kwargs):
        self.calls += 1
        returncode, stderr = self.answers.pop(0)
        if returncode == 0:
            out = Path(command[command.index("-o") + 1])
            (out / "results.json").write_text(
                json.dumps({"tests": [{"name": "q1", "score": 2.0, "max_score": 2.0}]})
            )
        return subprocess.CompletedProcess(command, returncode, stdout=self.stdout, stderr=stderr)


@pytest.mark.parametrize(
    "answers, calls, expected",
    [
        # a kernel that dies while starting is the grading machine's failure: graded on a retry
        ([(1, "RuntimeError: Kernel died before replying to kernel_info"), (0, "")], 2, ({"q1": 2.0}, [], "")),
        # any other failure is the submission's: reported at once
        ([(1, "SyntaxError: invalid syntax")], 1, ({}, [], "SyntaxError: invalid syntax")),
        # a kernel that keeps dying: reported after the second run
        (
            [(1, "Kernel died before replying to kernel_info")] * 2,
            2,
            ({}, [], "Kernel died before replying to kernel_info"),
        ),
    ],
)
def test_otter_is_retried_when_a_kernel_died_at_start_only(answers, calls, expected, monkeypatch, tmp_path):
    fake = _FakeRun(*answers)
    monkeypatch.setattr(grading.steps, "run_limited", fake)
    got = grading.run_otter(
        sys.executable, tmp_path / "a.zip", tmp_path / "s.ipynb", tmp_path / "out", timeout=60, memory=0, env={}
    )
    assert got == expected and fake.calls == calls


@pytest.mark.parametrize(
    "stdout, note",
    [
        ("No discrepancies found while verifying scores against the log.", "log verified"),
        (
            "Score for q4_total (0.000) differs from logged score (1.000)",
            "review: the check log does not match: q4_total 0 graded, 1 logged",
        ),
        ("Could not deserialize the log due to an error:\nboom", "review: the check log could not be read"),
    ],
)
def test_log_checks_become_notes(stdout, note, monkeypatch, tmp_path):
    monkeypatch.setattr(grading.steps, "run_limited", _FakeRun((0, ""), stdout=stdout))
    _, notes, _ = grading.run_otter(
        sys.executable, tmp_path / "a.zip", tmp_path / "s.ipynb", tmp_path / "out", timeout=60, memory=0, env={}
    )
    assert notes == [note]


# --- The guide, taken literally -------------------------------------------------------------------------


def test_the_guides_grading_commands_exist_as_written():
    page = (ROOT / "book" / "instructors.md").read_text()
    section = page[page.index("**Grade a class locally") : page.index("**Grade a whole class with Docker")]
    usage = subprocess.run([sys.executable, str(ROOT / "tools" / "grade.py"), "--help"], capture_output=True,
                           text=True, timeout=60, check=True).stdout
    flags = set(re.findall(r"`(--[a-z]+)", section)) | set(re.findall(r" (--[a-z]+)", section))
    assert {"--jobs", "--timeout", "--memory", "--overwrite", "--python", "--autograders", "--output",
            "--gradebook"} <= flags, flags
    for flag in flags:
        assert flag in usage, flag
    assert "SECONDS" not in section and "MINUTES" not in section  # the measured time is written in
    for command in re.findall(r"^\s*(make grade [^#\n]*)", section, re.M):
        dry = subprocess.run(["make", "-n", "--no-print-directory", *command.split()[1:], "OVERWRITE=1"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0 and "tools/grade.py submissions/" in dry.stdout, (command, dry.stderr)
        assert "--environment _build/grade-env" in dry.stdout and "--overwrite" in dry.stdout
    for line in re.findall(r"^\s*(\.venv/bin/python tools/grade\.py [^\n]*)", section, re.M):
        for flag in re.findall(r"--[a-z]+", line):
            assert flag in usage, (line, flag)


# --- The clean grading environment's two installers ----------------------------------------------


def _autograder_declaring(folder: Path, package: str) -> Path:
    """A zip whose environment.yml declares this Python and one package, as otter writes it."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    path = folder / "autograder.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("environment.yml", f"name: otter-env\ndependencies:\n  - python={version}\n"
                                            f"  - pip\n  - pip:\n      - {package}\n")
    return path


def _tiny_wheel(folder: Path) -> Path:
    """A one-module wheel built offline (no build isolation), to install without an index."""
    source = folder / "source"
    (source / "tiny_grading_probe").mkdir(parents=True)
    (source / "tiny_grading_probe" / "__init__.py").write_text("ANSWER = 42\n")
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tiny-grading-probe"\nversion = "1.0"\n')
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    str(source), "-w", str(folder / "built")], check=True, timeout=120,
                   env={**os.environ, "PIP_CONFIG_FILE": os.devnull})
    return next((folder / "built").glob("*.whl"))


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_the_clean_environment_holds_what_is_declared_with_either_installer(installer, tmp_path,
                                                                            monkeypatch):
    """uv builds the environment where it is installed; without it, pip does (its downloads
    kept under WHEELS). Either way, with no index (the package is a local wheel), the
    environment holds the declared package and is reused while the declaration is unchanged,
    and a declaration nothing can satisfy is a NotGraded with the installer's reason, leaving
    no half-built environment behind."""
    if installer == "uv" and grading.uv_executable() is None:
        pytest.skip("uv is not installed (requirements.txt installs it)")
    wheel = _tiny_wheel(tmp_path)
    if installer == "pip":
        monkeypatch.setattr(grading.environment, "uv_executable", lambda: None)
        monkeypatch.setattr(grading.environment, "WHEELS", tmp_path / "wheels")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheel.parent))
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(wheel.parent))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    (tmp_path / "ok").mkdir()
    zips = {"a": _autograder_declaring(tmp_path / "ok", "tiny-grading-probe==1.0")}
    python = grading.ensure_environment(tmp_path / "env", zips)
    probe = subprocess.run([str(python), "-c", "import tiny_grading_probe as t; print(t.ANSWER)"],
                           capture_output=True, text=True, env=grading.environment_variables(str(python)))
    assert probe.stdout.strip() == "42", probe.stderr
    before = python.stat().st_mtime
    assert grading.ensure_environment(tmp_path / "env", zips) == python  # reused, not rebuilt
    assert python.stat().st_mtime == before
    (tmp_path / "impossible").mkdir()
    impossible = {"a": _autograder_declaring(tmp_path / "impossible", "tiny-grading-probe==9.9")}
    with pytest.raises(grading.NotGraded, match=rf"could not build the grading environment \({installer}\)"):
        grading.ensure_environment(tmp_path / "env2", impossible)
    assert not (tmp_path / "env2").exists()
