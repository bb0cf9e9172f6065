"""The command line: `python tools/grade.py SUBMISSIONS ...` (and the internal modes `_record`,
`_replay` and `_limit` that the grading processes run)."""

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import grading
from grading import ROOT, NotGraded
from grading.autograder import autograders
from grading.environment import DEFAULT_ENVIRONMENT, ensure_environment
from grading.gradebook import grade
from grading.limits import exec_limited
from grading.reading import submissions
from grading.record import record_notebook
from grading.replay import replay_tests


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("_record", "_replay", "_limit"):
        mode, args = sys.argv[1], sys.argv[2:]
        if mode == "_limit":
            exec_limited(args[0], args[2:])
        (record_notebook if mode == "_record" else replay_tests)(*args)
        return
    parser = argparse.ArgumentParser(description=grading.__doc__.split("\n\n")[0])
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
