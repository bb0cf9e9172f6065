"""What an autograder zip holds: its questions and their points, the test cases, the banned
modules of its rules, the cells every student receives, and the environment it declares."""

import ast
import json
import re
import zipfile
from pathlib import Path

from grading.inspection import cell_text


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
            return {cell_text(c["source"]).strip() for c in cells if c.get("cell_type") == "code"}
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
