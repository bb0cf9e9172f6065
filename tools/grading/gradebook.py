"""A class: every submission graded (the latest of a student's counts), into the CSV and the
gradebook."""

import csv
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grading import NotGraded
from grading.autograder import given_cells, questions
from grading.reading import assignment_of, read_submission, recorded_time, submissions
from grading.steps import grade_submission

COLUMNS = ["student", "assignment", "question", "points", "max_points", "seconds", "note", "file"]


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
