"""Grade a class's submissions into one CSV, in a clean environment, with grades a student's code
cannot reach.

    python tools/grade.py SUBMISSIONS [--autograders DIR] [--output grades.csv] [--jobs N]
                          [--timeout S] [--memory GIB] [--environment DIR | --python PY] [--overwrite]
    make grade SUBMISSIONS=dir [SEED=n] [GRADES=grades.csv] [OVERWRITE=1]

SUBMISSIONS is a folder of notebooks (`.ipynb`) or of the zip files the notebooks' export cell
writes (notebook and check log). A file directly in the folder is graded under its file name
(`alice.ipynb`: student `alice`); a file in a subfolder under the subfolder's name
(`alice/01_shapes.zip`: student `alice`), as learning-management systems export them. Each
submission is matched to its assignment by the name otter assign wrote into the notebook's
metadata, and graded with that assignment's zip from --autograders (default
_build/assignments; _build/assignments-seed<SEED> for a term's variant).

Where grading runs: in a virtual environment built once (and cached in --environment, default
_build/grade-env) from exactly what the autograder zips declare (their environment.yml; less
NOT_KEPT, which only slows otter's start), so every route (`make grade`, this script) gives a
submission the same grade. --python grades with another environment's Python instead (then
grades may differ from the clean environment's).

How a submission is graded, in three processes per submission:

1. `otter run` with the autograder zip (the student's code and otter's checks in one kernel, as
   on Gradescope): its scores are compared with the student's check log and with step 3.
2. The notebook's code cells run in a fresh Python process, with the zip's test cases run the
   same way otter runs them, and every value the tests take from the notebook (the submitted
   functions' results for the tests' arguments, and the answers' values) is written out as plain
   data (numbers, strings, lists, NumPy arrays of numbers): never an object with behaviour.
3. In another fresh process that runs no student code, the zip's tests (read from the zip, never
   from a folder the notebook could write to) are evaluated against that plain data with an
   unpatched NumPy. The rules (Python and NumPy only: `BANNED` in the zip's
   assignment_rules.py) are checked on the notebook's source, here, outside any kernel. These
   scores are the grade.

Anything that looks like tampering goes into the CSV as a "review:" note: a notebook that
overrides equality, patches a module (NumPy, otter), runs code dynamically (exec,
`__import__`, sys.modules, builtins), starts processes, writes files, rewrites the test files
beside it, imports a banned module by a route its source does not show, or whose otter score
differs from the independent one; also a check log that does not match.

The CSV has one row per student, assignment and question (points, max_points, note), a `total`
row per counted submission (seconds: the wall time of its grading; note: "log verified", why
it could not be graded, or what to review), and a `not counted` row for each earlier submission
of a student who submitted one assignment more than once: the latest counts (the newest time a
file records: the newest entry of an export zip, written by the export cell, or an .ipynb's
modification time; ties go to the last path in sorted order), among the readable ones. A
gradebook CSV (--gradebook, default <output>-gradebook.csv beside it) has one row per student
and one column per assignment, the counted totals, for a learning-management system's import.
An existing non-empty CSV is never overwritten without --overwrite; a folder without
submissions is refused.
"""

import argparse
import ast
import base64
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRADER = Path(__file__).resolve()
COLUMNS = ["student", "assignment", "question", "points", "max_points", "seconds", "note", "file"]
DEFAULT_ENVIRONMENT = ROOT / "_build" / "grade-env"
WHEELS = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "alexnet-book" / "wheels"
# Removed from the clean environment after it is built: rfc3987-syntax comes with jsonschema's
# optional format checks (through jupyter-events), which grading never uses, and compiles 38 Lark
# grammars each time jsonschema is imported, as `otter run` does in more than one process: one
# `otter run` took 17.4 s with it and 5.7 s without it (the same scores). jsonschema imports it
# only if present.
NOT_KEPT = ("rfc3987-syntax",)
# Failures of the grading machine, not of the submission: a Jupyter kernel that dies while
# starting (for instance when two kernels starting at once pick the same free port).
RETRIED = ("Kernel died before replying to kernel_info",)
# Names through which code reaches modules, objects or processes out of a reader's sight: a graded
# function that uses one earns no hidden-test points (as a banned module does).
DYNAMIC = (
    "__import__",
    "importlib",
    "exec",
    "eval",
    "compile",
    "globals",
    "vars",
    "__builtins__",
    "builtins",
    "get_ipython",
    "subprocess",
    "ctypes",
    "sys.modules",
    "multiprocessing",
)
EQUALITY = (
    "__eq__",
    "__ne__",
    "__bool__",
    "__array_ufunc__",
    "__array_function__",
    "__instancecheck__",
    "__subclasscheck__",
)
OS_CALLS = (
    "system",
    "popen",
    "fork",
    "forkpty",
    "kill",
    "killpg",
    "close",
    "closerange",
    "dup",
    "dup2",
    "write",
    "open",
    "fdopen",
    "remove",
    "unlink",
    "rename",
    "renames",
    "replace",
    "rmdir",
    "removedirs",
    "truncate",
    "chmod",
    "putenv",
)
PATH_WRITES = (
    "write_text",
    "write_bytes",
    "unlink",
    "rename",
    "replace",
    "rmdir",
    "touch",
    "chmod",
    "symlink_to",
    "hardlink_to",
)
PROCESS_MODULES = ("subprocess", "multiprocessing", "pty", "ctypes", "signal", "pexpect", "sh")


class NotGraded(Exception):
    """A submission that cannot be graded, with the reason."""


# --- Autograders ----------------------------------------------------------------------------------


def autograders(directory: Path) -> dict[str, Path]:
    """{assignment name: autograder zip} under `directory` (<name>/autograder/*.zip), as absolute
    paths: otter runs in a folder of its own, where a path relative to here names nothing."""
    zips = {}
    for zip_path in sorted(Path(directory).resolve().glob("*/autograder/*.zip")):
        with zipfile.ZipFile(zip_path) as archive:
            config = json.loads(archive.read("otter_config.json"))
        zips[config.get("assignment_name") or zip_path.parents[1].name] = zip_path
    return zips


def _case_points(test: dict) -> list[float]:
    """Each case's points, resolved as otter resolves them."""
    cases = test["suites"][0]["cases"]
    total = test.get("points")
    if isinstance(total, list):
        return [float(p) for p in total]
    given = [case.get("points") for case in cases]
    specified = sum(p for p in given if p is not None)
    unspecified = sum(p is None for p in given)
    if total is not None:
        share = (total - specified) / unspecified if unspecified else 0.0
    elif specified == 0:
        share = 1 / unspecified if unspecified else 0.0
    else:
        share = 0.0
    return [float(share if p is None else p) for p in given]


def tests(zip_path: Path) -> dict[str, dict]:
    """{question: {"cases": [(code, hidden, points)], "file": name}} of an autograder zip."""
    found = {}
    with zipfile.ZipFile(zip_path) as archive:
        for name in sorted(archive.namelist()):
            if name.startswith("tests/") and name.endswith(".py"):
                scope: dict = {}
                exec(archive.read(name).decode(), scope)  # the instructor's own test files
                test = scope["test"]
                cases = test["suites"][0]["cases"]
                found[test["name"]] = {
                    "file": name,
                    "cases": [
                        (case["code"], bool(case.get("hidden")), points)
                        for case, points in zip(cases, _case_points(test))
                    ],
                }
    return found


def questions(zip_path: Path) -> dict[str, float]:
    """{question: points} of an autograder zip, from its test files."""
    return {q: sum(p for *_, p in t["cases"]) for q, t in tests(zip_path).items()}


def banned_modules(zip_path: Path) -> tuple[str, ...]:
    """BANNED of the assignment_rules.py the zip ships (the instructor's rule)."""
    with zipfile.ZipFile(zip_path) as archive:
        source = archive.read("files/assignment_rules.py").decode()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "BANNED":
            return tuple(ast.literal_eval(node.value))
    raise ValueError(f"{zip_path.name}: assignment_rules.py defines no BANNED")


def given_cells(zip_path: Path) -> set[str]:
    """The code cells every student receives (setup, data): those of the student notebook built
    beside the zip (or of the autograder notebook outside its solutions)."""
    name = zip_path.parents[1].name
    for notebook in (zip_path.parents[1] / "student" / f"{name}.ipynb", zip_path.parent / f"{name}.ipynb"):
        if notebook.exists():
            cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
            return {_text(c["source"]).strip() for c in cells if c.get("cell_type") == "code"}
    return set()


def declared(zip_path: Path) -> tuple[str, list[str]]:
    """(Python version, packages) an autograder zip's environment.yml declares."""
    text = zipfile.ZipFile(zip_path).read("environment.yml").decode()
    python, packages, section = "", [], ""
    for line in text.splitlines():
        if re.match(r"[A-Za-z_]+:", line):
            section = line.split(":")[0]
        match = re.match(r"\s*-\s+(.+?)\s*$", line)
        if section != "dependencies" or not match or match[1] in ("pip", "pip:"):
            continue
        if match[1].startswith("python="):
            python = match[1].split("=", 1)[1]
        else:
            packages.append(match[1].strip("'\""))
    return python, packages


# --- The clean grading environment ------------------------------------------------------------


def environment_variables(python: str, work: Path | None = None) -> dict[str, str]:
    """The variables a grading process gets: the environment's bin first on PATH, nothing of the
    caller's Python or Jupyter set-up, and (with `work`) private Jupyter, IPython and temporary
    folders inside `work`, removed with it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "JUPYTER", "IPYTHON"))
        and k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "MPLCONFIGDIR", "TMPDIR")
    }
    bin_dir = os.path.dirname(python)
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PYTHONNOUSERSITE="1")
    if os.path.exists(os.path.join(bin_dir, "..", "pyvenv.cfg")):
        env["VIRTUAL_ENV"] = os.path.dirname(bin_dir)
    if work is not None:
        for variable, folder in (
            ("TMPDIR", "tmp"),
            ("JUPYTER_CONFIG_DIR", "jupyter/config"),
            ("JUPYTER_DATA_DIR", "jupyter/data"),
            ("JUPYTER_RUNTIME_DIR", "jupyter/run"),
            ("IPYTHONDIR", "ipython"),
            ("MPLCONFIGDIR", "mpl"),
        ):
            (work / folder).mkdir(parents=True, exist_ok=True)
            env[variable] = str(work / folder)
    return env


def uv_executable() -> str | None:
    """uv's executable where it is installed (the course's requirements.txt has it), else None
    (tests/test_colab.py builds its rehearsal kernel with it too)."""
    try:
        import uv
    except ImportError:
        return None
    return uv.find_uv_bin()


def ensure_environment(directory: Path, zips: dict[str, Path]) -> Path:
    """The clean environment's Python: a virtual environment in `directory` holding only what the
    autograder zips declare, built on first use (by uv where installed, from its cache when
    offline; else by pip, its downloads cached under WHEELS) and reused
    while the declarations are unchanged. Raises NotGraded with the reason when it cannot."""
    declarations = {(v, tuple(p)) for v, p in map(declared, zips.values())}
    if len(declarations) != 1:
        raise NotGraded(f"the autograders declare different environments: {sorted(declarations)}")
    ((version, packages),) = declarations
    declared_text = "\n".join([version, *packages])
    # The stamp names the removal too, so an environment built before it is rebuilt once.
    stamp_text = "\n".join([declared_text, *(f"without {name}" for name in NOT_KEPT)])
    directory = Path(os.path.abspath(directory))
    python, stamp = directory / "bin" / "python", directory / ".declared"
    if python.exists() and stamp.exists() and stamp.read_text() == stamp_text:
        return python
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if version and version != running:
        raise NotGraded(
            f"the autograders declare Python {version} but this is Python {running}: run "
            f"grade.py with Python {version} (for instance .venv/bin/python), or pass --python"
        )
    shutil.rmtree(directory, ignore_errors=True)
    print(f"building the clean grading environment in {directory} (once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(directory)], check=True, timeout=300)
    env = environment_variables(str(python))
    if uv_executable():  # uv: the same packages in a fraction of pip's time, its own cache, offline first
        install = [uv_executable(), "pip", "install", "--quiet", "--python", str(python), *packages]
        result = subprocess.run([*install, "--offline"], env=env, capture_output=True, text=True, timeout=1800)
        if result.returncode:
            result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=1800)
        if result.returncode:
            shutil.rmtree(directory, ignore_errors=True)
            raise NotGraded(f"could not build the grading environment (uv):\n{result.stderr[-2000:]}")
        _remove_not_kept([uv_executable(), "pip", "uninstall", "--quiet", "--python", str(python)], env)
        stamp.write_text(stamp_text)
        return python
    wheels = WHEELS / hashlib.sha256(declared_text.encode()).hexdigest()[:16]  # kept across that rebuild
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--quiet", "--disable-pip-version-check"]
    install = pip + ["install", "--no-compile", "--no-index", "--find-links", str(wheels), *packages]
    if not wheels.is_dir() or subprocess.run(install, env=env, capture_output=True).returncode:
        download = subprocess.run(
            pip + ["download", "--dest", str(wheels), *packages],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        result = (
            download
            if download.returncode
            else subprocess.run(install, env=env, capture_output=True, text=True, timeout=1800)
        )
        if result.returncode:
            shutil.rmtree(directory, ignore_errors=True)
            raise NotGraded(f"could not build the grading environment (pip):\n{result.stderr[-2000:]}")
    _remove_not_kept(pip + ["uninstall", "--yes"], env)
    stamp.write_text(stamp_text)
    return python


def _remove_not_kept(uninstall: list[str], env: dict) -> None:
    """Uninstall NOT_KEPT from a freshly built environment. Where one is not installed (its
    dependant not declared), nothing happens; a removal that fails only leaves grading slower."""
    subprocess.run([*uninstall, *NOT_KEPT], env=env, capture_output=True, timeout=300)


# --- Submissions ----------------------------------------------------------------------------------


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def submissions(folder: Path) -> list[tuple[str, Path]]:
    """(student, path) of every notebook or zip under `folder`."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if (
            path.suffix not in (".ipynb", ".zip")
            or not path.is_file()
            or any(p.startswith(".") or p == "__MACOSX" for p in relative.parts)
        ):
            continue
        found.append((relative.parts[0] if len(relative.parts) > 1 else path.stem, path))
    return found


def read_submission(path: Path) -> tuple[dict, bytes | None, list[str]]:
    """(notebook, check log or None, other files in the zip); raises NotGraded with the reason."""
    log, others = None, []
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                names = [
                    n
                    for n in archive.namelist()
                    if not n.endswith("/") and "__MACOSX" not in n and ".ipynb_checkpoints" not in n
                ]
                notebooks = [n for n in names if n.endswith(".ipynb")]
                if not notebooks:
                    raise NotGraded(
                        f"the zip holds no notebook (.ipynb), only: {', '.join(names) or 'nothing'}"
                    )
                if len(notebooks) > 1:
                    raise NotGraded(f"the zip holds {len(notebooks)} notebooks: {', '.join(notebooks)}")
                raw = archive.read(notebooks[0])
                if ".OTTER_LOG" in names:
                    log = archive.read(".OTTER_LOG")
                others = [n for n in names if n not in (notebooks[0], ".OTTER_LOG", "__zip_filename__")]
        else:
            raw = path.read_bytes()
    except zipfile.BadZipFile as error:
        raise NotGraded(f"not a readable zip file ({error})") from None
    try:
        notebook = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise NotGraded("the notebook is not UTF-8 text (damaged?)") from None
    except json.JSONDecodeError as error:
        raise NotGraded(
            f"the notebook is not valid JSON ({error.msg} at line {error.lineno}, "
            f"column {error.colno}): truncated or damaged; ask for it again"
        ) from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise NotGraded("not a Jupyter notebook (no cells)")
    return notebook, log, others


def _raw_text(path: Path) -> str:
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                return "\n".join(
                    archive.read(n).decode("utf-8", "replace")
                    for n in archive.namelist()
                    if n.endswith(".ipynb")
                )
        return path.read_bytes().decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile):
        return ""


def assignment_of(path: Path, known: list[str], notebook: dict | None = None) -> str:
    """The assignment a submission answers: otter's metadata, else the one name (of `known`) the
    damaged file's text or its path mentions; ValueError when none can be told."""
    if notebook is not None:
        name = (notebook.get("metadata") or {}).get("otter", {}).get("assignment_name")
        if name:
            return name
    mentioned = sorted(
        {k for k in known if re.search(rf'Notebook\(\\?"{re.escape(k)}\.ipynb', _raw_text(path))}
    )
    if len(mentioned) != 1:
        mentioned = [k for k in known if k in str(path)]
    if len(mentioned) != 1:
        raise ValueError("cannot tell which assignment it answers (no otter metadata)")
    return mentioned[0]


def recorded_time(path: Path) -> float:
    """When the submission was saved: the newest entry of a zip (the export cell writes it), or
    the file's modification time."""
    if path.suffix == ".zip":
        try:
            with zipfile.ZipFile(path) as archive:
                stamps = [time.mktime((*info.date_time, 0, 0, -1)) for info in archive.infolist()]
            if stamps:
                return max(stamps)
        except (zipfile.BadZipFile, OverflowError, ValueError):
            pass
    return path.stat().st_mtime


# --- Reading the notebook's source, outside any kernel ------------------------------------------


def python_source(cell: str) -> tuple[str, list[str]]:
    """A code cell as plain Python: IPython magics and shell lines become `pass`; returns the
    source and the magics found."""
    if cell.lstrip().startswith("%%"):
        return "pass", [cell.lstrip().split()[0]]
    lines, magics = [], []
    for line in cell.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith(("!", "%")):
            magics.append(stripped.split()[0] if stripped.split() else stripped)
            lines.append(line[: len(line) - len(stripped)] + "pass")
        else:
            lines.append(line)
    return "\n".join(lines), magics


def _root(node) -> str:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def _stored(node) -> set[str]:
    """Names a node binds: assignment targets, loop variables, parameters, imports, definitions."""
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            names.add(sub.id)
        elif isinstance(sub, ast.arg):
            names.add(sub.arg)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in sub.names}
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub is not node:
            names.add(sub.name)
    return names


def _imports(node, banned) -> set[str]:
    """Banned modules a node imports: import statements and string literals given to
    __import__ or import_module."""
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            found |= {a.name.split(".")[0] for a in sub.names}
        elif isinstance(sub, ast.ImportFrom) and sub.module and not sub.level:
            found.add(sub.module.split(".")[0])
        elif isinstance(sub, ast.Call) and (
            _dotted(sub.func).split(".")[-1] in ("__import__", "import_module")
        ):
            found |= {
                a.value.split(".")[0]
                for a in sub.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            }
    return found & set(banned)


def _dynamic(node) -> set[str]:
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in DYNAMIC:
            found.add(sub.id)
        elif isinstance(sub, ast.Attribute) and _dotted(sub) in DYNAMIC:
            found.add(_dotted(sub))
    return found


def _references(node) -> set[str]:
    """Names a definition or statement reads from the notebook's globals."""
    loaded = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        loaded -= _stored(node)
    return loaded


def _statements(body):
    """Module-level statements, descending into if/for/while/with/try but not definitions."""
    for statement in body:
        children = [getattr(statement, f, []) for f in ("body", "orelse", "finalbody")]
        children += [h.body for h in getattr(statement, "handlers", [])]
        if isinstance(statement, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)):
            yield statement, True
            for child in children:
                yield from _statements(child)
        else:
            yield statement, False


def inspect_notebook(notebook: dict, banned, given: set[str]) -> dict:
    """What the notebook's source shows, read here, outside any kernel:
    {"imports": banned modules imported anywhere, "uses": {global name: banned modules or dynamic
    names it reaches}, "review": what looks like tampering, "errors": cells that are not Python}."""
    banned = tuple(banned)
    trees, errors, review = [], [], set()
    for number, cell in enumerate(c for c in notebook["cells"] if c.get("cell_type") == "code"):
        text = _text(cell.get("source", ""))
        source, magics = python_source(text)
        try:
            tree = ast.parse(source)
        except SyntaxError as error:
            errors.append(f"code cell {number + 1} is not Python ({error.msg}, line {error.lineno})")
            continue
        trees.append(tree)
        if text.strip() in given:
            continue
        if any(
            m.startswith("!")
            or m.lstrip("%")
            in ("system", "sx", "bash", "sh", "script", "pip", "conda", "writefile", "run", "load")
            for m in magics
        ):
            review.add(f"runs shell commands or magics ({', '.join(sorted(set(magics)))})")
        review |= _tampering(tree)
    modules = {}  # alias -> module
    for tree in trees:
        for sub in ast.walk(tree):
            if isinstance(sub, ast.Import):
                for a in sub.names:
                    modules[(a.asname or a.name).split(".")[0]] = a.asname and a.name or a.name.split(".")[0]
            elif isinstance(sub, ast.ImportFrom) and sub.module:
                for a in sub.names:
                    modules[a.asname or a.name] = f"{sub.module}.{a.name}"
    for tree in trees:  # patching an imported module or object
        for sub in ast.walk(tree):
            targets = []
            if isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = sub.targets if isinstance(sub, (ast.Assign, ast.Delete)) else [sub.target]
            elif (
                isinstance(sub, ast.Call) and getattr(sub.func, "id", "") in ("setattr", "delattr") and sub.args
            ):
                targets = [ast.Attribute(value=sub.args[0], attr="?")]
            for target in targets:
                for node in ast.walk(target):
                    if isinstance(node, (ast.Attribute, ast.Subscript)) and _root(node) in modules:
                        what = (_dotted(node) if isinstance(node, ast.Attribute)
                                else (_dotted(node.value) or _root(node)) + "[...]")
                        module = modules[_root(node)]
                        review.add(f"patches {module}{what[len(_root(node)) :]}")
                        break
    imports = set().union(*(_imports(t, banned) for t in trees)) if trees else set()
    bindings: dict[str, set] = {}
    direct: dict[str, set] = {}
    for tree in trees:
        for statement, compound in _statements(tree.body):
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = {statement.name}
                refs = _references(statement)
                found = _imports(statement, banned) | _dynamic(statement)
            elif isinstance(statement, (ast.Import, ast.ImportFrom)):
                for a in statement.names:
                    name = (a.asname or a.name).split(".")[0]
                    root = (a.name if isinstance(statement, ast.Import) else statement.module or "").split(".")[
                        0
                    ]
                    direct.setdefault(name, set()).update({root} & set(banned))
                continue
            else:
                header = (
                    [statement.test]
                    if isinstance(statement, (ast.If, ast.While))
                    else [statement.iter, statement.target]
                    if isinstance(statement, (ast.For, ast.AsyncFor))
                    else [
                        i
                        for w in getattr(statement, "items", [])
                        for i in (w.context_expr, w.optional_vars)
                        if i
                    ]
                    if compound
                    else [statement]
                )
                if compound and not header:
                    continue
                holder = ast.Module(
                    body=[ast.Expr(h) if isinstance(h, ast.expr) else h for h in header], type_ignores=[]
                )
                refs = _references(holder)
                found = _imports(holder, banned) | _dynamic(holder)
                names = {n for n in _stored(holder)}
                for sub in ast.walk(holder):  # obj.attr = v, obj[k] = v, setattr(obj, ...), obj.update(...)
                    if isinstance(sub, (ast.Attribute, ast.Subscript)) and isinstance(sub.ctx, ast.Store):
                        names.add(_root(sub))
                    elif (
                        isinstance(sub, ast.Call)
                        and isinstance(sub.func, ast.Attribute)
                        and sub.func.attr
                        in ("update", "append", "extend", "insert", "setdefault", "add", "__setitem__")
                    ):
                        names.add(_root(sub.func))
                    elif isinstance(sub, ast.Call) and getattr(sub.func, "id", "") == "setattr" and sub.args:
                        names.add(_root(sub.args[0]))
                names.discard("")
            for name in names:
                bindings.setdefault(name, set()).update(refs)
                direct.setdefault(name, set()).update(found)
    import builtins

    builtin_names = set(dir(builtins))
    uses = {name: set(direct.get(name, ())) for name in set(bindings) | set(direct)}
    for name, refs in bindings.items():  # names from nowhere (smuggled through builtins) count too
        if imports and any(r not in bindings and r not in direct and r not in builtin_names for r in refs):
            uses[name] |= imports
    changed = True
    while changed:
        changed = False
        for name, refs in bindings.items():
            reached = set().union(*(uses.get(r, set()) for r in refs)) if refs else set()
            if not reached <= uses[name]:
                uses[name] |= reached
                changed = True
    return {
        "imports": sorted(imports),
        "uses": {k: sorted(v) for k, v in uses.items() if v},
        "review": sorted(review),
        "errors": errors,
    }


def _tampering(tree) -> set[str]:
    """What looks like tampering in one cell."""
    found = set()
    for sub in ast.walk(tree):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub.name in EQUALITY:
            found.add(f"overrides {sub.name}")
        elif isinstance(sub, ast.Constant) and sub.value in EQUALITY:
            found.add(f"overrides {sub.value}")
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in sub.names] if isinstance(sub, ast.Import) else [sub.module or ""]
            for name in names:
                root = name.split(".")[0]
                if root in PROCESS_MODULES:
                    found.add(f"imports {root} (processes or low-level access)")
                elif root in ("importlib", "builtins", "gc", "inspect", "sys") and isinstance(
                    sub, ast.ImportFrom
                ):
                    found.add(f"imports from {root}")
                elif root in ("importlib", "builtins", "gc"):
                    found.add(f"imports {root}")
                elif root == "otter":
                    found.add("uses otter's internals")
        elif isinstance(sub, ast.Name) and sub.id in (
            "exec",
            "eval",
            "compile",
            "__import__",
            "globals",
            "vars",
            "__builtins__",
            "get_ipython",
            "Checker",
        ):
            found.add(f"runs code dynamically ({sub.id})" if sub.id != "Checker" else "uses otter's internals")
        elif isinstance(sub, ast.Attribute):
            dotted = _dotted(sub)
            if dotted == "sys.modules" or dotted.startswith("sys.modules."):
                found.add("changes sys.modules")
            elif dotted.startswith("os.") and (
                dotted.split(".")[1] in OS_CALLS
                or dotted.split(".")[1].startswith(("exec", "spawn", "posix_spawn"))
            ):
                found.add(f"uses {dotted} (files or processes)")
            elif dotted.startswith(("otter.", "grader.")) and not dotted.startswith(
                ("grader.check", "grader.export")
            ):
                found.add(f"uses otter's internals ({dotted})")
            elif sub.attr in PATH_WRITES and isinstance(sub.ctx, ast.Load):
                found.add(f"writes files (.{sub.attr})")
            elif sub.attr.startswith("__") and sub.attr in (
                "__code__",
                "__globals__",
                "__dict__",
                "__class__",
                "__subclasses__",
                "__closure__",
            ):
                found.add(f"reaches {sub.attr}")
        if isinstance(sub, ast.Call) and getattr(sub.func, "id", "") == "open":
            mode = (
                sub.args[1]
                if len(sub.args) > 1
                else next((k.value for k in sub.keywords if k.arg == "mode"), None)
            )
            reads = mode is None or (
                isinstance(mode, ast.Constant)
                and isinstance(mode.value, str)
                and not set(mode.value) & set("wax+")
            )
            if not reads:
                found.add("writes files (open)")
    return found


# --- Plain data: the only thing that crosses from the student's process to the checker -----------


def _numpy():
    import numpy

    return numpy


def encode(value, depth: int = 0):
    """A value as JSON-able plain data (numbers, strings, containers, NumPy arrays of numbers), by
    exact type only: an object of any other type (or a subclass) becomes {"__unsupported__": type}."""
    np = _numpy()
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if depth > 30:
        return {"__unsupported__": "nesting deeper than 30"}
    if kind is list:
        return [encode(v, depth + 1) for v in value]
    if kind is tuple:
        return {"__tuple__": [encode(v, depth + 1) for v in value]}
    if kind is dict:
        return {"__dict__": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if kind is np.ndarray and value.dtype.kind in "biufc":
        return {
            "__ndarray__": [
                value.dtype.str,
                list(value.shape),
                base64.b64encode(np.ndarray.tobytes(value)).decode(),
            ]
        }
    if kind in _scalar_types(np):
        return {"__scalar__": [np.dtype(kind).str, base64.b64encode(kind.tobytes(value)).decode()]}
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if kind is type(np):
        try:
            return {"__module__": str(value.__name__)}
        except Exception:  # noqa: BLE001 - a module whose name cannot be read
            return {"__unsupported__": "module"}
    try:
        name = type.__dict__["__qualname__"].__get__(kind)
    except Exception:  # noqa: BLE001 - a type whose name cannot be read
        name = "?"
    return {"__unsupported__": str(name)}


def _scalar_types(np) -> set:
    return {
        t
        for t in (
            np.bool_,
            np.int8,
            np.int16,
            np.int32,
            np.int64,
            np.uint8,
            np.uint16,
            np.uint32,
            np.uint64,
            np.float16,
            np.float32,
            np.float64,
            np.longdouble,
            np.complex64,
            np.complex128,
        )
    }


class NotPlain:
    """What a value that was not plain data becomes in the checker: equal to nothing but itself."""

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self):
        return f"<a {self.kind} object, not a plain value>"


MODULES = ("numpy", "math", "random", "itertools", "functools", "collections", "statistics")


def decode(data, unsupported: list):
    """Plain data back into values (in the checker, which runs no student code)."""
    np = _numpy()
    if isinstance(data, list):
        return [decode(v, unsupported) for v in data]
    if not isinstance(data, dict):
        return data
    ((key, payload),) = data.items()
    if key == "__tuple__":
        return tuple(decode(v, unsupported) for v in payload)
    if key == "__dict__":
        return {_hashable(decode(k, unsupported)): decode(v, unsupported) for k, v in payload}
    if key in ("__ndarray__", "__scalar__"):
        dtype = np.dtype(payload[0])
        if dtype.kind not in "biufc" or dtype.fields:
            unsupported.append(f"array of {dtype}")
            return NotPlain(f"array of {dtype}")
        flat = np.frombuffer(base64.b64decode(payload[-1]), dtype=dtype)
        return flat.reshape(payload[1]).copy() if key == "__ndarray__" else flat[0]
    if key == "__ellipsis__":
        return ...
    if key == "__module__" and payload in MODULES:
        import importlib

        return importlib.import_module(payload)
    unsupported.append(str(payload))
    return NotPlain(str(payload))


def _hashable(value):
    return value if not isinstance(value, (list, NotPlain)) else repr(value)


def call_key(args, kwargs) -> str:
    """The arguments of a call, as a digest of their plain data."""
    data = [encode(list(args)), sorted([k, encode(v)] for k, v in kwargs.items())]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def free_names(code: str) -> list[str]:
    """The names a test case reads that it does not define: what it takes from the notebook."""
    import builtins
    import doctest

    defined, free = set(), []
    for example in doctest.DocTestParser().parse(code):
        if not isinstance(example, doctest.Example):
            continue
        tree = ast.parse(example.source)
        stored = _stored(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Load)
                and node.id not in defined
                and node.id not in stored
                and not hasattr(builtins, node.id)
                and node.id not in free
            ):
                free.append(node.id)
        defined |= stored
    return free


# --- Step 2: the submission's code, in its own process -------------------------------------------


def _record(tests_json: str, notebook_path: str, report_path: str, events_fd: str) -> None:
    """Run the notebook's code cells in this process and record, for each test, the plain data the
    test takes from the notebook. Otter's grading is imitated: `grader.check(q)` runs q's test at
    that point, the tests not checked run at the end, in order; each example of a test runs even
    when an earlier one fails."""
    import builtins
    import doctest
    import types

    np = _numpy()
    sys.dont_write_bytecode = True
    events = int(events_fd)
    the_tests = json.loads(Path(tests_json).read_text())
    notebook = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    compiled = {}
    for question, test in the_tests.items():
        examples = [
            e.source
            for code, *_ in test["cases"]
            for e in doctest.DocTestParser().parse(code)
            if isinstance(e, doctest.Example)
        ]
        free = []
        for code, *_ in test["cases"]:
            free += [n for n in free_names(code) if n not in free]
        stored = set().union(*(_stored(ast.parse(s)) for s in examples)) if examples else set()
        compiled[question] = ([compile(s, f"<test {question}>", "exec") for s in examples], free, stored)
    report = {"tests": {}, "cells": [], "done": False}
    module_type, ns = types.ModuleType, {"__name__": "__main__", "__builtins__": builtins}
    banned = set(json.loads(Path(tests_json).with_name("banned.json").read_text()))
    our_files = {os.path.abspath(report_path), os.path.abspath(notebook_path), os.path.abspath(tests_json)}

    def emit(line: str) -> None:
        try:
            os.write(events, (line.replace("\n", " ")[:300] + "\n").encode())
        except OSError:
            pass

    def record_test(question: str) -> None:
        if question not in compiled:
            return
        codes, free, stored = compiled[question]
        env, values, calls = dict(ns), {}, {}
        for name in free:
            if name not in ns:
                continue
            value = ns[name]
            if callable(value) and type(value) is not module_type:
                env[name] = recorder(name, value, calls)
                values[name] = {"__function__": True}
            else:
                values[name] = encode(value)
        for code in codes:
            try:
                exec(code, env)
            except BaseException:  # noqa: BLE001 - a failing example does not stop the others
                pass
        for name in stored:
            if name in env:
                ns[name] = env[name]
        report["tests"][question] = {"values": values, "calls": calls}

    def recorder(name, function, calls):
        def call(*args, **kwargs):
            try:
                key = call_key(args, kwargs)
            except BaseException:  # noqa: BLE001
                key = "unkeyable"
            try:
                result = function(*args, **kwargs)
            except BaseException as error:
                calls.setdefault(name, {}).setdefault(key, []).append(
                    {"__raised__": f"{type(error).__name__}: {str(error)[:200]}"}
                )
                raise
            calls.setdefault(name, {}).setdefault(key, []).append(encode(result))
            return result

        call.__wrapped_name__ = name
        return call

    class Notebook:  # otter, as the notebook's setup cell uses it
        def __init__(self, *args, **kwargs):
            pass

        def check(self, question, *args, **kwargs):
            record_test(question)

        def export(self, *args, **kwargs):
            pass

    otter = types.ModuleType("otter")
    otter.Notebook = Notebook
    rules = types.ModuleType("assignment_rules")
    rules.banned_uses = lambda *functions: []
    rules.banned_imports = list
    rules.message = lambda what, uses: f"{what} uses {', '.join(uses)}"
    sys.modules.update(otter=otter, assignment_rules=rules)
    builtins.display = lambda *args, **kwargs: None
    builtins.get_ipython = lambda: types.SimpleNamespace(
        run_line_magic=lambda *a, **k: None,
        run_cell_magic=lambda *a, **k: None,
        system=lambda *a, **k: None,
        getoutput=lambda *a, **k: [],
    )

    def audit(event, args):
        if event == "import" and args[0].split(".")[0] in banned:
            emit(f"import {args[0].split('.')[0]}")
        elif event in (
            "subprocess.Popen",
            "os.system",
            "os.exec",
            "os.posix_spawn",
            "os.spawn",
            "os.fork",
            "os.forkpty",
            "pty.spawn",
            "os.kill",
            "os.killpg",
        ):
            emit(f"process {event}")
        elif event == "open" and len(args) > 2:
            path, mode, flags = args[0], args[1], args[2]
            writes = (isinstance(mode, str) and set(mode) & set("wax+")) or (
                not mode
                and isinstance(flags, int)
                and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC)
            )
            if writes and isinstance(path, (str, bytes)):
                path = os.fsdecode(path)
                if os.path.abspath(path) not in our_files and not path.startswith("/dev/"):
                    emit(f"write {path}")
        elif event.startswith("ctypes."):
            emit(f"ctypes {event}")
        elif (
            event == "object.__setattr__"
            and args
            and isinstance(args[0], type)
            and args[1] not in ("__module__", "__qualname__", "__doc__")
        ):
            module = str(args[0].__dict__.get("__module__", "?"))
            if module.split(".")[0] in ("numpy", "otter", "assignment_rules", "builtins", "json", "doctest"):
                emit(f"patch {module}.{args[0].__name__}.{args[1]}")

    ready = json.dumps(report)  # noqa: F841 - json is warm before the hook
    encode(np.zeros(1))
    call_key((np.zeros(1),), {})
    sys.addaudithook(audit)
    cells = [_text(c.get("source", "")) for c in notebook["cells"] if c.get("cell_type") == "code"]
    for number, cell in enumerate(cells, 1):
        source, _ = python_source(cell)
        try:
            code = compile(source, f"<cell {number}>", "exec")
        except SyntaxError as error:
            report["cells"].append(f"cell {number}: SyntaxError: {error.msg}")
            continue
        try:
            exec(code, ns)
        except BaseException as error:  # noqa: BLE001 - otter runs on after an error
            report["cells"].append(f"cell {number}: {type(error).__name__}")
    for question in sorted(compiled, key=lambda q: the_tests[q]["file"]):
        if question not in report["tests"]:
            record_test(question)
    report["done"] = True
    with open(report_path, "w") as file:
        json.dump(report, file)
    emit("done")
    os._exit(0)  # no atexit handlers or finalisers of the notebook


# --- Step 3: the tests, against plain data, in a process that runs no student code -----------------


def _replay(tests_json: str, record_json: str, rules_json: str, result_json: str) -> None:
    """Evaluate every test case with otter's doctest semantics against the recorded plain data:
    the notebook's functions become look-ups of their recorded results, its values their plain
    data, and assignment_rules answers from the source inspection."""
    import builtins
    import doctest
    import io
    import types

    np = _numpy()
    the_tests = json.loads(Path(tests_json).read_text())
    record = json.loads(Path(record_json).read_text())
    rules_data = json.loads(Path(rules_json).read_text())

    def banned_uses(*functions):
        found = set(rules_data["everywhere"])
        for function in functions:
            name = getattr(function, "graded_name", None)
            found |= set(rules_data["uses"].get(name, ()))
        return sorted(found)

    rules = types.ModuleType("assignment_rules")
    rules.banned_uses = banned_uses
    rules.banned_imports = lambda: sorted(rules_data["imports"])
    rules.message = lambda what, uses: (
        f"{what} uses {', '.join(uses)}: the rules allow Python and NumPy only, so this question's "
        "hidden tests give no points (see the rules at the top of the notebook)"
    )
    sys.modules["assignment_rules"] = rules
    results = {}
    for question, test in the_tests.items():
        recorded = record.get("tests", {}).get(question)
        unsupported: list[str] = []
        env = {"__builtins__": builtins, "__name__": "__main__"}
        if recorded is not None:
            for name, data in recorded["values"].items():
                if isinstance(data, dict) and data.get("__function__"):
                    env[name] = replayer(name, recorded["calls"].get(name, {}), unsupported)
                else:
                    before = len(unsupported)
                    env[name] = decode(data, unsupported)
                    unsupported[before:] = [f"{name} is a {kind} object" for kind in unsupported[before:]]
        cases = []
        for code, hidden, points in test["cases"]:
            parsed = doctest.DocTestParser().parse(code, question)
            case = doctest.DocTest(
                [e for e in parsed if isinstance(e, doctest.Example)], env, question, None, None, None
            )
            runner, out = doctest.DocTestRunner(verbose=False), io.StringIO()
            runner.run(case, clear_globs=False, out=out.write)
            failed = runner.summarize(verbose=False).failed if recorded is not None else 1
            cases.append({"passed": not failed, "points": points, "hidden": hidden})
        results[question] = {
            "score": sum(c["points"] for c in cases if c["passed"]),
            "cases": cases,
            "unsupported": sorted(set(unsupported)),
            "recorded": recorded is not None,
        }
    Path(result_json).write_text(json.dumps(results))
    del np


def replayer(name: str, calls: dict, unsupported: list):
    """A stand-in for a notebook function: the recorded plain result of the recorded call with the
    same arguments (in order, when it was called more than once)."""
    used: dict[str, int] = {}

    def call(*args, **kwargs):
        key = call_key(args, kwargs)
        results = calls.get(key)
        if not results:
            raise LookupError(f"{name} was not called with these arguments when the notebook ran")
        index = min(used.get(key, 0), len(results) - 1)
        used[key] = index + 1
        data = results[index]
        if isinstance(data, dict) and "__raised__" in data:
            raise RuntimeError(f"{name} raised {data['__raised__']}")
        before = len(unsupported)
        value = decode(data, unsupported)
        unsupported[before:] = [f"{name}(...) returned a {kind} object" for kind in unsupported[before:]]
        return value

    call.graded_name = name
    return call


# --- Running processes: time, memory, and nothing left behind -------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def _kill_tree(pid: int) -> None:
    """Kill a process and every process it started (a Jupyter kernel runs in its own session)."""
    tree, todo, found = _children(), [pid], []
    while todo:
        current = todo.pop()
        found.append(current)
        todo += tree.get(current, [])
    for process in found:
        try:
            os.kill(process, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Timeout(Exception):
    pass


def run_limited(
    command: list[str], *, python: str, timeout: float, memory: int, cwd: Path, env: dict, pass_fds=(),
    limit: float | None = None,
) -> subprocess.CompletedProcess:
    """Run `command` under a memory limit (bytes of address space per process, inherited by what it
    starts) and a timeout; on timeout kill it and all it started, then raise Timeout naming `limit`
    (the submission's whole limit, of which `timeout` is what is left; default `timeout`)."""
    limited = [python, "-I", str(GRADER), "_limit", str(memory), "--", *command]
    process = subprocess.Popen(
        limited,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
        pass_fds=pass_fds,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process.pid)
        process.communicate()
        raise Timeout(f"over the {limit or timeout:g} s time limit") from None
    finally:
        if process.poll() is None:
            _kill_tree(process.pid)
        try:  # what it left running in its process group
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return subprocess.CompletedProcess(limited, process.returncode, out, err)


def _limit(memory: str, command: list[str]) -> None:
    import resource

    limit = int(memory)
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.execv(command[0], command)


# --- Grading one submission -------------------------------------------------------------------------


def run_otter(
    python: str,
    zip_path: Path,
    submission: Path,
    out: Path,
    *,
    timeout: float,
    memory: int,
    env: dict,
    attempts: int = 2,
    limit: float | None = None,
) -> tuple[dict, list[str], str]:
    """`otter run` one submission: ({question: points}, notes, failure or ""). A run that fails for
    one of the reasons in RETRIED is run again, up to `attempts` runs in all, within `timeout`
    seconds together (Timeout names `limit`, the submission's whole limit)."""
    deadline = time.monotonic() + timeout
    for attempt in range(1, attempts + 1):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        result = run_limited(
            [python, "-m", "otter", "run", "--no-logo", "-a", str(zip_path), "-o", str(out), str(submission)],
            python=python,
            timeout=max(deadline - time.monotonic(), 0.001),
            memory=memory,
            cwd=out,
            env=env,
            limit=limit or timeout,
        )
        results = out / "results.json"
        if not result.returncode and results.exists():
            break
        output = result.stderr + result.stdout
        if attempt == attempts or not any(reason in output for reason in RETRIED):
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            return {}, [], tail[0][:200]
    data = json.loads(results.read_text())
    scores = {t["name"]: float(t["score"]) for t in data.get("tests", []) if "score" in t and "max_score" in t}
    notes = []
    if "No discrepancies found" in result.stdout:
        notes.append("log verified")
    differing = re.findall(
        r"Score for (\S+) \(([\d.]+)\) differs from logged score \(([\d.]+)\)", result.stdout
    )
    if differing:
        notes.append(
            "review: the check log does not match: "
            + ", ".join(f"{q} {float(a):g} graded, {float(b):g} logged" for q, a, b in differing)
        )
    if (
        "Could not deserialize the log" in result.stdout
        or "Error encountered while trying to verify" in result.stdout
    ):
        notes.append("review: the check log could not be read")
    return scores, notes, ""


def grade_submission(
    python: str,
    zip_path: Path,
    notebook: dict,
    log: bytes | None,
    *,
    timeout: float,
    memory: int,
    given: set[str],
) -> tuple[dict, dict, list[str]]:
    """Grade one readable submission: ({question: points}, {question: note}, notes). Its steps
    (otter's run, the recording run, the checker) share `timeout` seconds: a submission that
    loops costs one limit of a grading slot, not one per step."""
    deadline = time.monotonic() + timeout

    def left() -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout(f"over the {timeout:g} s time limit")
        return remaining

    the_tests, banned = tests(zip_path), banned_modules(zip_path)
    notebook = json.loads(json.dumps(notebook))
    metadata = notebook.setdefault("metadata", {})
    if (metadata.get("kernelspec") or {}).get("name") not in (None, "python3"):
        metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    name = zip_path.parents[1].name
    notes, question_notes = [], {}
    with tempfile.TemporaryDirectory(prefix="grade-") as folder:
        work = Path(folder)
        env = environment_variables(python, work)
        # Otter's run: the notebook (and its check log) as submitted, kernel name made python3.
        submission = work / "submission" / (f"{name}.zip" if log is not None else f"{name}.ipynb")
        submission.parent.mkdir()
        text = json.dumps(notebook)
        if log is not None:
            with zipfile.ZipFile(submission, "w") as archive:
                archive.writestr(f"{name}.ipynb", text)
                archive.writestr(".OTTER_LOG", log)
        else:
            submission.write_text(text)
        otter_scores, otter_notes, otter_failure = {}, [], ""
        try:
            otter_scores, otter_notes, otter_failure = run_otter(
                python, zip_path, submission, work / "otter", timeout=left(), memory=memory, env=env,
                limit=timeout,
            )
        except Timeout as error:
            otter_failure = str(error)
        # The notebook's code in a fresh process, beside copies of the files otter puts there.
        run = work / "run"
        run.mkdir()
        with zipfile.ZipFile(zip_path) as archive:
            shipped = {}
            for member in archive.namelist():
                if member.startswith(("files/", "tests/")) and not member.endswith("/"):
                    target = run / (member[len("files/") :] if member.startswith("files/") else member)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(member))
                    shipped[target] = hashlib.sha256(target.read_bytes()).hexdigest()
        (run / f"{name}.ipynb").write_text(text)
        tests_json = work / "data" / "tests.json"
        tests_json.parent.mkdir()
        tests_json.write_text(json.dumps(the_tests))
        (work / "data" / "banned.json").write_text(json.dumps(list(banned)))
        report = work / "data" / "record.json"
        read_fd, write_fd = os.pipe()
        events: list[str] = []
        reader = threading.Thread(
            target=lambda: events.extend(os.fdopen(read_fd, errors="replace").read().splitlines()), daemon=True
        )
        reader.start()
        failure = ""
        try:
            result = run_limited(
                [
                    python,
                    "-I",
                    str(GRADER),
                    "_record",
                    str(tests_json),
                    str(run / f"{name}.ipynb"),
                    str(report),
                    str(write_fd),
                ],
                python=python,
                timeout=left(),
                memory=memory,
                cwd=run,
                env=env,
                pass_fds=(write_fd,),
                limit=timeout,
            )
            if result.returncode or not report.exists():
                tail = result.stderr.strip().splitlines()[-1:] or [f"exit status {result.returncode}"]
                failure = f"the notebook's code stopped the grading process ({tail[0][:150]})"
        except Timeout as error:
            failure = str(error)
        finally:
            os.close(write_fd)
            reader.join(timeout=10)
        changed = sorted(
            str(p.relative_to(run))
            for p, digest in shipped.items()
            if not p.exists() or hashlib.sha256(p.read_bytes()).hexdigest() != digest
        )
        record = (
            json.loads(report.read_text()) if report.exists() and not failure else {"tests": {}, "cells": []}
        )
        # The source, read here.
        seen = inspect_notebook(notebook, banned, given)
        runtime_imports = sorted({e.split()[1] for e in events if e.startswith("import ")})
        hidden_imports = sorted(set(runtime_imports) - set(seen["imports"]))
        rules_data = {
            "imports": sorted(set(seen["imports"]) | set(runtime_imports)),
            "uses": seen["uses"],
            "everywhere": hidden_imports,
        }
        if failure:  # the recording run did not finish: nothing to check
            raise NotGraded(failure)
        rules_json = work / "data" / "rules.json"
        rules_json.write_text(json.dumps(rules_data))
        replayed = work / "data" / "replayed.json"
        try:
            result = run_limited(
                [
                    python,
                    "-I",
                    str(GRADER),
                    "_replay",
                    str(tests_json),
                    str(report if report.exists() else tests_json),
                    str(rules_json),
                    str(replayed),
                ],
                python=python,
                timeout=left(),
                memory=memory,
                cwd=run,
                env=env,
                limit=timeout,
            )
            if result.returncode or not replayed.exists():
                raise NotGraded(
                    f"the checker failed: {(result.stderr.strip().splitlines() or ['?'])[-1][:200]}"
                )
        except Timeout:
            raise NotGraded("the checker ran over its time limit") from None
        checked = json.loads(replayed.read_text())
    scores = {q: (r["score"] if r["recorded"] else 0.0) for q, r in checked.items()}
    review = list(seen["review"])
    review += [f"imports {m} by a route its source does not show" for m in hidden_imports]
    for event in sorted(set(events) - {"done"}):
        kind, _, what = event.partition(" ")
        if kind == "process":
            review.append(f"starts a process ({what})")
        elif kind == "write":
            review.append(f"writes {os.path.relpath(what, str(run)) if what.startswith(str(run)) else what}")
        elif kind == "ctypes":
            review.append("uses ctypes")
        elif kind == "patch":
            review.append(f"patches {what}")
    if changed:
        review.append(f"changed the files beside it while it was graded: {', '.join(changed)}")
    if "done" not in events:
        review.append("its run did not report to the end")
    if any("MemoryError" in c for c in record.get("cells", [])):
        review.append(f"a cell ran out of the {memory / 2**30:g} GiB memory limit")
    for question, result in checked.items():
        parts = []
        uses = rules_data["everywhere"] or []
        if seen["uses"]:
            functions = [
                n
                for n in record.get("tests", {}).get(question, {}).get("values", {})
                if record["tests"][question]["values"][n] == {"__function__": True}
            ]
            uses = sorted(set(uses).union(*(seen["uses"].get(f, ()) for f in functions)))
        if uses:
            parts.append(f"rules: uses {', '.join(uses)} (no hidden-test points)")
        elif rules_data["imports"] and any("banned_imports(" in c for c, *_ in the_tests[question]["cases"]):
            imported = ", ".join(rules_data["imports"])
            parts.append(f"rules: the notebook imports {imported} (no hidden-test points)")
        if result["unsupported"]:
            parts.append("review: not plain values: " + "; ".join(result["unsupported"][:3]))
        if otter_scores and abs(otter_scores.get(question, 0.0) - scores[question]) > 1e-9:
            parts.append(f"review: otter's run gave {otter_scores.get(question, 0.0):g}")
        if parts:
            question_notes[question] = "; ".join(parts)
    total, otter_total = sum(scores.values()), sum(otter_scores.values())
    if otter_failure:
        review.append(f"otter could not grade it ({otter_failure})")
    elif abs(otter_total - total) > 1e-9:
        review.append(f"otter's run scored {otter_total:g}, the independent check {total:g}")
    # Every rule broken is also on the total's review note, where the guide's filter finds it.
    broken = [q for q, note in question_notes.items() if note.startswith("rules: ")]
    if broken:
        review.append(f"breaks the assignment's rules in {', '.join(broken)} (no hidden-test points there)")
    elif seen["imports"]:
        review.append(f"imports {', '.join(seen['imports'])}, which the assignment's rules ban")
    notes = [n for n in otter_notes if not n.startswith("review")] + notes
    review_notes = [n[len("review: ") :] for n in otter_notes if n.startswith("review")] + review
    if seen["errors"]:
        notes += seen["errors"]
    if review_notes:
        notes.append("review: " + "; ".join(dict.fromkeys(review_notes)))
    return scores, question_notes, notes


# --- A class ----------------------------------------------------------------------------------------


def grade(
    folder: Path,
    zips: dict[str, Path],
    output: Path,
    *,
    python: str,
    jobs: int = 2,
    timeout: float = 300,
    memory: int = 2 * 2**30,
    gradebook: Path | None = None,
) -> list[dict]:
    """Grade every submission in `folder`, write the CSV to `output` (and the gradebook), return
    the CSV's rows."""
    found = submissions(folder)
    if not found:
        raise NotGraded(f"no submissions (.ipynb or .zip files) under {folder}")
    known = sorted(zips)
    items = []
    for student, path in found:
        item = {
            "student": student,
            "path": path,
            "file": str(path.relative_to(folder)),
            "notes": [],
            "notebook": None,
            "log": None,
            "assignment": None,
            "error": "",
        }
        try:
            item["notebook"], item["log"], others = read_submission(path)
            if others:
                item["notes"].append(f"review: the zip also holds {', '.join(others[:5])} (not used)")
        except NotGraded as error:
            item["error"] = str(error)
        try:
            item["assignment"] = assignment_of(path, known, item["notebook"])
        except ValueError as error:
            item["error"] = item["error"] or f"{error}"
        named = [k for k in known if k in str(path.relative_to(folder))]
        if item["assignment"] and named and item["assignment"] not in named:
            item["notes"].append(
                f"review: its name says {named[0]} but it answers {item['assignment']}; "
                f"graded as {item['assignment']}"
            )
        items.append(item)
    # One counted submission per student and assignment: the latest readable one.
    groups: dict[tuple, list] = {}
    for item in items:
        groups.setdefault((item["student"], item["assignment"] or "unknown"), []).append(item)
    for group in groups.values():
        if len(group) < 2:
            continue
        ordered = sorted(group, key=lambda i: (not i["error"], recorded_time(i["path"]), str(i["path"])))
        counted = ordered[-1]
        for other in ordered[:-1]:
            other["superseded"] = counted["file"]
        counted["notes"].append(
            f"{len(group)} submissions: the latest readable counts "
            f"({', '.join(o['file'] for o in ordered[:-1])} not counted)"
        )
    givens = {name: given_cells(z) for name, z in zips.items()}

    def run(item):
        start = time.monotonic()
        if item.get("superseded"):
            return {}, {}, [f"not counted: superseded by {item['superseded']} (the latest counts)"], 0.0
        if item["error"]:
            return {}, {}, [f"not graded: {item['error']}"], time.monotonic() - start
        name = item["assignment"]
        if name not in zips:
            return {}, {}, [f"not graded: no autograder for {name}"], time.monotonic() - start
        try:
            scores, question_notes, notes = grade_submission(
                python,
                zips[name],
                item["notebook"],
                item["log"],
                timeout=timeout,
                memory=memory,
                given=givens[name],
            )
        except NotGraded as error:
            return {}, {}, [f"not graded: {error}"], time.monotonic() - start
        return scores, question_notes, notes, time.monotonic() - start

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        results = list(pool.map(run, items))
    rows = []
    for item, (scores, question_notes, notes, seconds) in zip(items, results):
        name = item["assignment"] or "unknown"
        possible = questions(zips[name]) if name in zips else {}
        counted = not item.get("superseded")
        if counted:
            for question, top in possible.items():
                rows.append(
                    {
                        "student": item["student"],
                        "assignment": name,
                        "question": question,
                        "points": scores.get(question, 0.0),
                        "max_points": top,
                        "seconds": "",
                        "note": question_notes.get(question, ""),
                        "file": item["file"],
                    }
                )
        note = "; ".join(notes + item["notes"]) if counted else "; ".join(notes)
        rows.append(
            {
                "student": item["student"],
                "assignment": name,
                "question": "total" if counted else "not counted",
                "points": sum(scores.get(q, 0.0) for q in possible) if counted else "",
                "max_points": sum(possible.values()),
                "seconds": f"{seconds:.1f}",
                "note": note,
                "file": item["file"],
            }
        )
        total = rows[-1]
        points = "-" if total["points"] == "" else f"{total['points']:g}"
        print(
            f"{item['student']:>20}  {name:<14} {points}/{total['max_points']:g}  {seconds:5.1f} s  {note}",
            flush=True,
        )
    _write(output, COLUMNS, rows)
    if gradebook is not None:
        students = sorted({r["student"] for r in rows})
        book = {s: {"student": s} for s in students}
        for row in rows:
            if row["question"] == "total" and row["assignment"] in zips:
                book[row["student"]][row["assignment"]] = row["points"]
        _write(gradebook, ["student", *known], list(book.values()))
    return rows


def _write(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("_record", "_replay", "_limit"):
        mode, args = sys.argv[1], sys.argv[2:]
        if mode == "_limit":
            _limit(args[0], args[2:])
        (_record if mode == "_record" else _replay)(*args)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="folder of .ipynb or exported .zip files")
    parser.add_argument(
        "--autograders",
        type=Path,
        default=ROOT / "_build" / "assignments",
        help="folder with <name>/autograder/*.zip (make assignments)",
    )
    parser.add_argument("--output", type=Path, default=Path("grades.csv"))
    parser.add_argument(
        "--gradebook",
        type=Path,
        help="one row per student, one column per assignment (default: <output>-gradebook.csv)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing non-empty CSVs")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at once")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per grading step (default 300)")
    parser.add_argument("--memory", type=float, default=2, help="GiB of memory per process (default 2)")
    parser.add_argument(
        "--environment",
        type=Path,
        default=DEFAULT_ENVIRONMENT,
        help="where the clean environment is built and cached (default _build/grade-env)",
    )
    parser.add_argument(
        "--python",
        help="grade with this Python's otter and NumPy instead of the clean "
        "environment (grades may then differ)",
    )
    args = parser.parse_args()
    gradebook = args.gradebook or args.output.with_name(f"{args.output.stem}-gradebook.csv")
    if not args.submissions.is_dir():
        sys.exit(f"{args.submissions} is not a folder of submissions")
    zips = autograders(args.autograders)
    if not zips:
        sys.exit(f"no autograder zips under {args.autograders}: run `make assignments` first")
    if not submissions(args.submissions):
        sys.exit(
            f"no submissions (.ipynb or .zip files) under {args.submissions}: nothing graded, "
            f"{args.output} left as it was"
        )
    for path in (args.output, gradebook):
        if path.exists() and path.stat().st_size and not args.overwrite:
            sys.exit(
                f"{path} exists and is not empty: pass --overwrite (make grade ... OVERWRITE=1) "
                "or choose another --output"
            )
    if args.jobs < 1 or args.timeout <= 0 or args.memory <= 0:
        sys.exit("--jobs, --timeout and --memory must be positive")
    try:
        if args.python:
            python = shutil.which(args.python) if os.sep not in args.python else args.python
            if not python or not os.access(python, os.X_OK) or os.path.isdir(python):
                sys.exit(
                    f"--python {args.python}: not an executable Python (give the path of the "
                    "environment's bin/python)"
                )
            python = os.path.abspath(python)
        else:
            python = str(ensure_environment(args.environment, zips))
        start = time.monotonic()
        rows = grade(
            args.submissions,
            zips,
            args.output,
            python=python,
            jobs=args.jobs,
            timeout=args.timeout,
            memory=int(args.memory * 2**30),
            gradebook=gradebook,
        )
    except NotGraded as error:
        sys.exit(str(error))
    totals = [r for r in rows if r["question"] == "total"]
    failed = sum(r["note"].startswith("not graded") for r in totals)
    flagged = sum("review:" in r["note"] for r in rows if r["question"] in ("total", "not counted"))
    seconds = [float(r["seconds"]) for r in totals if not r["note"].startswith("not graded")]
    mean = f", {sum(seconds) / len(seconds):.1f} s per submission graded" if seconds else ""
    print(
        f"{args.output}: {len(totals)} submissions counted, {failed} not graded, {flagged} to review"
        f"{mean} ({time.monotonic() - start:.0f} s in all, {args.jobs} at once); gradebook: {gradebook}"
    )


if __name__ == "__main__":
    main()
