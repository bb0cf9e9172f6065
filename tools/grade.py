"""Grade a class's submissions into one CSV, in a clean environment, with grades a student's code
cannot reach.

    python tools/grade.py SUBMISSIONS [--autograders DIR] [--output grades.csv] [--jobs N]
                          [--timeout S] [--memory GIB] [--environment DIR | --python PY] [--overwrite]
    make grade SUBMISSIONS=dir [SEED=n] [GRADES=grades.csv] [OVERWRITE=1]

The command line only: the grader is the package beside it, tools/grading/ (its docstring says
how a submission is graded), one job per module:

    autograder    what an autograder zip holds (tests, points, rules, declared environment)
    environment   the clean grading environment, built once from those declarations
    reading       the class's submissions: found, read, matched to an assignment, dated
    inspection    the notebook's source, read outside any kernel (banned modules, tampering)
    encoding      plain data, the only thing that crosses from the student's process
    record        step 2: the notebook's code in its own process, recording plain data
    replay        step 3: the tests against that data, in a process that runs no student code
    limits        a grading process's memory and time limits, and nothing left running
    steps         one submission: otter's run, the recording run and the checker
    gradebook     a class: the CSV and the gradebook
    cli           this command line (and the internal modes the grading processes run)

Every grading process runs this file (`python -I tools/grade.py _record ...`), with the clean
environment's Python, which need not have anything of the course installed: the package is found
beside this file, never installed.
"""

import sys
from pathlib import Path

# -I (isolated mode, as every grading process runs) leaves this file's folder off sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grading import (  # noqa: E402 - the modules too, for callers that patch one
    GRADER,
    ROOT,
    NotGraded,
    autograder,
    cli,
    encoding,
    environment,
    gradebook,
    inspection,
    limits,
    reading,
    record,
    replay,
    steps,
)
from grading.autograder import autograders, banned_modules, declared, given_cells, questions, tests  # noqa: E402
from grading.cli import main  # noqa: E402
from grading.encoding import NotPlain, call_key, decode, encode  # noqa: E402
from grading.environment import (  # noqa: E402
    DEFAULT_ENVIRONMENT,
    NOT_KEPT,
    WHEELS,
    ensure_environment,
    environment_variables,
    uv_executable,
)
from grading.gradebook import COLUMNS, grade  # noqa: E402
from grading.inspection import inspect_notebook, python_source  # noqa: E402
from grading.limits import Timeout, run_limited  # noqa: E402
from grading.reading import assignment_of, read_submission, recorded_time, submissions  # noqa: E402
from grading.record import free_names  # noqa: E402
from grading.steps import RETRIED, grade_submission, run_otter  # noqa: E402

__all__ = [
    "COLUMNS", "DEFAULT_ENVIRONMENT", "GRADER", "NOT_KEPT", "RETRIED", "ROOT", "WHEELS", "NotGraded",
    "NotPlain", "Timeout", "assignment_of", "autograder", "autograders", "cli", "banned_modules",
    "call_key", "declared", "decode", "encode", "encoding", "ensure_environment", "environment",
    "environment_variables", "free_names", "given_cells", "grade", "grade_submission", "gradebook",
    "inspect_notebook", "inspection", "limits", "main", "python_source", "questions", "read_submission",
    "reading", "record", "recorded_time", "replay", "run_limited", "run_otter", "steps", "submissions",
    "tests", "uv_executable",
]

if __name__ == "__main__":
    main()
