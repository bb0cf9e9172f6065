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

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The command line every grading process is started with (`python -I tools/grade.py _record ...`):
# the entry script puts this package on sys.path, which -I leaves without the script's folder.
GRADER = ROOT / "tools" / "grade.py"


class NotGraded(Exception):
    """A submission that cannot be graded, with the reason."""
