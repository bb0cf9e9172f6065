"""Grade a class's submissions with `otter run` (no Docker) into one CSV.

    python tools/grade.py SUBMISSIONS [--autograders DIR] [--output grades.csv] [--jobs N]
    make grade SUBMISSIONS=dir [SEED=2027] [GRADES=grades.csv]

SUBMISSIONS is a folder of notebooks (`.ipynb`) or of the zip files the notebooks' export
cell writes (notebook and check log: otter then verifies the scores against the log). A
file directly in the folder is graded under its file name (`alice.ipynb`: student `alice`);
a file in a subfolder under the subfolder's name (`alice/01_shapes.ipynb`: student `alice`),
as learning-management systems export them. Each submission is matched to its assignment by
the name otter assign wrote into the student notebook's metadata, and graded with that
assignment's zip from --autograders (default _build/assignments, where `make assignments`
puts them; _build/assignments-seed<SEED> for a term's variant).

The CSV has one row per student, assignment and question, plus a `total` row per
submission: student, assignment, question, points, max_points, note. The note says whether
the scores matched the submission's log ("log verified"), or why a submission could not be
graded (it then scores 0).

--python runs otter from another environment (for instance a clean one holding only what
the autograder zips declare), instead of the one running this script.
"""

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["student", "assignment", "question", "points", "max_points", "note"]


def autograders(directory: Path) -> dict[str, Path]:
    """{assignment name: autograder zip} under `directory` (<name>/autograder/*.zip)."""
    zips = {}
    for zip_path in sorted(directory.glob("*/autograder/*.zip")):
        with zipfile.ZipFile(zip_path) as archive:
            config = json.loads(archive.read("otter_config.json"))
        zips[config.get("assignment_name") or zip_path.parents[1].name] = zip_path
    return zips


def questions(zip_path: Path) -> dict[str, float]:
    """{question: points} of an autograder zip, from its test files."""
    points = {}
    with zipfile.ZipFile(zip_path) as archive:
        for name in sorted(archive.namelist()):
            if name.startswith("tests/") and name.endswith(".py"):
                scope: dict = {}
                exec(archive.read(name).decode(), scope)  # the instructor's own test files
                test = scope["test"]
                total = test.get("points")
                if total is None or isinstance(total, list):  # per case, in the file or cases
                    cases = test["suites"][0]["cases"]
                    total = sum(total or [case.get("points") or 0 for case in cases])
                points[test["name"]] = float(total)
    return points


def _notebook(path: Path) -> dict:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            (name,) = [n for n in archive.namelist() if n.endswith(".ipynb")]
            return json.loads(archive.read(name))
    return json.loads(path.read_text(encoding="utf-8"))


def assignment_of(path: Path, known: list[str]) -> str:
    """The assignment a submission answers: otter's metadata, else a known name in the path."""
    try:
        name = _notebook(path).get("metadata", {}).get("otter", {}).get("assignment_name")
    except (ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError):
        name = None
    if name:
        return name
    matches = [k for k in known if k in str(path)]
    if len(matches) != 1:
        raise ValueError("cannot tell which assignment it answers (no otter metadata)")
    return matches[0]


def submissions(folder: Path) -> list[tuple[str, Path]]:
    """(student, path) of every notebook or zip under `folder`."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".ipynb", ".zip") or ".ipynb_checkpoints" in path.parts:
            continue
        relative = path.relative_to(folder)
        found.append((relative.parts[0] if len(relative.parts) > 1 else path.stem, path))
    return found


# Failures of the grading machine, not of the submission: a Jupyter kernel that dies while
# starting (for instance when two kernels starting at once pick the same free port).
RETRIED = ("Kernel died before replying to kernel_info",)


def grade_one(python: str, zip_path: Path, submission: Path, timeout: int,
              attempts: int = 2) -> tuple[dict, str]:
    """Otter run one submission: ({question: points}, note). A run that fails for one of
    the reasons in RETRIED is run again, up to `attempts` runs in all."""
    with tempfile.TemporaryDirectory() as out:
        for attempt in range(1, attempts + 1):
            result = subprocess.run(
                [python, "-m", "otter", "run", "--no-logo", "-a", str(zip_path.resolve()), "-o", out,
                 str(submission.resolve())], capture_output=True, text=True, timeout=timeout, cwd=out)
            results = Path(out) / "results.json"
            if not result.returncode and results.exists():
                break
            output = result.stderr + result.stdout
            if attempt == attempts or not any(reason in output for reason in RETRIED):
                tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
                return {}, f"not graded: {tail[0][:200]}"
        tests = json.loads(results.read_text())["tests"]
    scores = {t["name"]: float(t["score"]) for t in tests if "score" in t and "max_score" in t}
    if "No discrepancies found" in result.stdout:
        note = "log verified"
    elif "Could not deserialize the log" in result.stdout or "discrepanc" in result.stdout.lower():
        note = "log does not match: check by hand"
    else:
        note = ""
    return scores, note


def grade(folder: Path, zips: dict[str, Path], output: Path, *, python: str = sys.executable,
          jobs: int = 2, timeout: int = 600) -> list[dict]:
    """Grade every submission in `folder`, write the CSV to `output`, return its rows."""
    work, unknown = [], {}
    for student, path in submissions(folder):
        try:
            work.append((student, path, assignment_of(path, sorted(zips))))
        except ValueError as error:
            work.append((student, path, None))
            unknown[path] = f"not graded: {error}"

    def run(item):
        student, path, name = item
        if path in unknown:
            return {}, unknown[path]
        if name not in zips:
            return {}, f"not graded: no autograder for {name}"
        try:
            return grade_one(python, zips[name], path, timeout)
        except subprocess.TimeoutExpired:
            return {}, f"not graded: over {timeout} s"

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        results = list(pool.map(run, work))

    rows = []
    for (student, _, name), (scores, note) in zip(work, results):
        possible = questions(zips[name]) if name in zips else {}
        for question, top in possible.items():
            rows.append({"student": student, "assignment": name, "question": question,
                         "points": scores.get(question, 0.0), "max_points": top, "note": ""})
        rows.append({"student": student, "assignment": name or "", "question": "total",
                     "points": sum(scores.get(q, 0.0) for q in possible),
                     "max_points": sum(possible.values()), "note": note})
        print(f"{student:>20}  {name or '?':<14} {rows[-1]['points']:g}/{rows[-1]['max_points']:g}"
              f"  {note}")
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="") as file:
        writer = csv.DictWriter(file, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="folder of .ipynb or exported .zip files")
    parser.add_argument("--autograders", type=Path, default=ROOT / "_build" / "assignments",
                        help="folder with <name>/autograder/*.zip (make assignments)")
    parser.add_argument("--output", type=Path, default=Path("grades.csv"))
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded at once")
    parser.add_argument("--python", default=sys.executable, help="Python whose otter grades")
    args = parser.parse_args()
    zips = autograders(args.autograders)
    if not zips:
        sys.exit(f"no autograder zips under {args.autograders}: run `make assignments` first")
    if not args.submissions.is_dir():
        sys.exit(f"{args.submissions} is not a folder of submissions")
    rows = grade(args.submissions, zips, args.output, python=args.python, jobs=args.jobs)
    totals = [r for r in rows if r["question"] == "total"]
    failed = sum(r["note"].startswith("not graded") for r in totals)
    print(f"{args.output}: {len(totals)} submissions, {failed} not graded")


if __name__ == "__main__":
    main()
