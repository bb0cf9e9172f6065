"""Grading one submission: otter's run, the recording run and the checker, within one time limit,
and the notes that say what to review."""

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from grading import GRADER, NotGraded
from grading.autograder import banned_modules, tests
from grading.environment import environment_variables
from grading.inspection import inspect_notebook
from grading.limits import Timeout, run_limited

# Failures of the grading machine, not of the submission: a Jupyter kernel that dies while
# starting (for instance when two kernels starting at once pick the same free port).
RETRIED = ("Kernel died before replying to kernel_info",)


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
