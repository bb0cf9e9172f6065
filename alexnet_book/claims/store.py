"""Result lines on disk: written whole, read with every problem named by file and line,
merged across files, and the key that lets a restart skip what is stored.

One finished run is one JSON line, appended with a single write, flushed and synced. A
file whose last line was cut (a run killed while writing) is detected: the cut line is
reported with its file and line number and set aside, and a new line is never glued to
it. Reading checks every line against the registry.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

from alexnet_book.claims.registry import METRICS, TIERS

#: Fields every stored result line has.
ROW_FIELDS = ("claim", "arm", "seed", "learning_rate", "profile", "metrics", "epochs", "images",
              "seconds", "device", "backend", "versions", "date")


class ResultsFormatError(ValueError):
    """A stored result line is not JSON, lacks a field or holds a value the registry does
    not know; the message names the file and the line."""


class DuplicateResultsWarning(UserWarning):
    """The same run (claim, arm, seed, rate, tier, scale) is stored more than once."""


def design(scale: dict | None) -> str:
    """A stored scale as the identity of what a run trained: every field but the number of
    seeds (more seeds add runs; they change none that is stored)."""
    return json.dumps({k: v for k, v in (scale or {}).items() if k != "seeds"}, sort_keys=True)


def run_key(row: dict) -> tuple:
    """What identifies a run: its claim, arm, seed, learning rate, tier and scale. A restart
    skips runs whose key is stored; a changed scale runs again."""
    return (row["claim"], row["arm"], row["seed"], float(row["learning_rate"]), row["profile"],
            design(row.get("scale")))


def check_writable(path: str | os.PathLike) -> Path:
    """Make sure results can be appended to ``path`` before anything trains.

    Raises:
        OSError: the folder cannot be created or the file cannot be opened for appending
            (the message names the path).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
    except OSError as error:
        raise OSError(f"cannot write results to {path}: {error.strerror or error}; choose "
                      f"another file with --out") from error
    return path


def repair_tail(path: str | os.PathLike) -> str | None:
    """If the file's last line was cut (no final newline), move it to ``<file>.cut`` and
    truncate it from the file, so the next append starts on a fresh line.

    Returns:
        A message naming the file and line that was set aside, or None.
    """
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return None
    start = data.rfind(b"\n") + 1
    line_number = data.count(b"\n") + 1
    with open(f"{path}.cut", "ab") as aside:
        aside.write(data[start:] + b"\n")
    with path.open("r+b") as f:
        f.truncate(start)
        f.flush()
        os.fsync(f.fileno())
    return (f"{path}, line {line_number}: the last line was cut ({len(data) - start} bytes, a run "
            f"stopped while writing); set aside in {path.name}.cut, that run will be run again")


def append(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Append rows, each one whole line, in one write, flushed and synced to disk."""
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if not text:
        return
    with open(path, "a") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def parse_lines(text: str, source: str) -> tuple[list[dict], list[str]]:
    """Result rows from a ``.jsonl`` text, each tagged with ``file`` and ``line``.

    Returns:
        ``(rows, problems)``: a cut last line (no final newline, not valid JSON) is a
        problem, reported and skipped; any other line that is not a JSON object raises.

    Raises:
        ResultsFormatError: a line in the middle is not a JSON object (file and line named).
    """
    rows, problems = [], []
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):  # no newline after it: written by a run that was stopped
                problems.append(f"{source}, line {number}: cut short ({error.msg}); ignored")
                continue
            raise ResultsFormatError(f"{source}, line {number}: not valid JSON ({error.msg} at "
                                     f"column {error.colno})") from error
        if not isinstance(row, dict):
            raise ResultsFormatError(f"{source}, line {number}: a result must be a JSON object, "
                                     f"got {type(row).__name__}")
        rows.append({**row, "file": source, "line": number})
    return rows, problems


def _where(row: dict, index: int, source: str) -> str:
    return f"{row.get('file', source)}, line {row.get('line', index + 1)}"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_rows(rows: Sequence[dict], source: str = "results") -> list[dict]:
    """Check result lines: every field of :data:`ROW_FIELDS`, a known claim, arm and tier, a
    seed >= 0, and the metric's fields as numbers (or null where a threshold was not
    reached).

    Raises:
        ResultsFormatError: the first problem, naming the file, the line, the field and
            what is valid.
    """
    from alexnet_book.claims import CLAIMS

    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ResultsFormatError(f"{source}, line {index + 1}: a result must be a JSON object, "
                                     f"got {row!r}")
        where = _where(row, index, source)
        missing = [f for f in ROW_FIELDS if f not in row]
        if missing:
            raise ResultsFormatError(f"{where}: missing field(s) {missing}; every line needs "
                                     f"{', '.join(ROW_FIELDS)}")
        if row["claim"] not in CLAIMS:
            raise ResultsFormatError(f"{where}: unknown claim {row['claim']!r}; valid claims: "
                                     f"{', '.join(CLAIMS)}")
        claim = CLAIMS[row["claim"]]
        if not isinstance(row["arm"], str) or not row["arm"]:
            raise ResultsFormatError(f"{where}: arm must be an arm's name, got {row['arm']!r}")
        if row["profile"] not in TIERS:
            raise ResultsFormatError(f"{where}: unknown tier {row['profile']!r}; valid: {', '.join(TIERS)}")
        if isinstance(row["seed"], bool) or not isinstance(row["seed"], int) or row["seed"] < 0:
            raise ResultsFormatError(f"{where}: seed must be an integer >= 0, got {row['seed']!r}")
        if not _is_number(row["learning_rate"]) or not row["learning_rate"] > 0:
            raise ResultsFormatError(f"{where}: learning_rate must be a positive number, got "
                                     f"{row['learning_rate']!r}")
        metrics = row["metrics"]
        fields = METRICS[claim.metric_at(row["profile"])].fields
        if not isinstance(row.get("preconditions", {}), dict):
            raise ResultsFormatError(f"{where}: preconditions must be an object of measurements, got "
                                     f"{str(row['preconditions'])[:200]}")
        if not isinstance(metrics, dict) or any(k not in metrics for k in fields):
            raise ResultsFormatError(f"{where}: metrics of claim {claim.id!r} must hold "
                                     f"{', '.join(fields)}, got {str(metrics)[:200]}")
        for key in fields:
            value = metrics[key]
            if key == "correct":
                ok = isinstance(value, str)
            elif key in ("steps",):
                ok = value is None or _is_number(value)
            else:
                ok = _is_number(value)
            if not ok:
                raise ResultsFormatError(f"{where}: metrics.{key} must be "
                                         f"{'a hex string' if key == 'correct' else 'a number'}, "
                                         f"got {value!r}")
    return list(rows)


def read_file(path: str | os.PathLike) -> tuple[list[dict], list[str]]:
    """The validated rows of one results file and the problems set aside (a cut last line).

    Raises:
        ResultsFormatError: a malformed line (file and line named).
    """
    path = Path(path)
    rows, problems = parse_lines(path.read_text(), path.name)
    return validate_rows(rows, path.name), problems


def merge(rows: Sequence[dict]) -> tuple[list[dict], list[str]]:
    """Rows with duplicated runs (the same :func:`run_key`) kept once, the first stored.

    Returns:
        ``(rows, notes)``: one note per duplicated run, naming where both copies are.
    """
    seen: dict[tuple, dict] = {}
    notes = []
    for row in rows:
        key = run_key(row)
        if key in seen:
            first = seen[key]
            notes.append(f"duplicate run {row['claim']}/{row['arm']}/seed {row['seed']}: "
                         f"{row.get('file')}, line {row.get('line')} repeats {first.get('file')}, "
                         f"line {first.get('line')}; the first is used")
            continue
        seen[key] = row
    return list(seen.values()), notes


def stored_rows(repository: str, tier: str = "full", warn: bool = True) -> list[dict]:
    """Result lines stored in ``benchmarks/results/claims/`` (the checkout, else GitHub)
    for a tier, validated and merged across files (duplicates kept once, with a warning).

    Raises:
        ValueError: an unknown tier.
        ResultsFormatError: a stored line is malformed (file and line named).
        alexnet_book.results.ResultsUnavailableError: no checkout and GitHub unreachable.
    """
    from alexnet_book import results
    from alexnet_book.claims.registry import check_tier

    check_tier(tier)
    rows, problems = [], []
    for name, text in results.stored_files(repository, subfolder="claims", suffixes=(".jsonl",)):
        found, cut = parse_lines(text, name)
        rows += validate_rows(found, name)
        problems += cut
    merged, notes = merge([r for r in rows if r["profile"] == tier])
    merged, note = drop_stale(merged)
    notes += [note] if note else []
    if warn and (problems or notes):
        warnings.warn("; ".join(problems + notes), DuplicateResultsWarning, stacklevel=2)
    return merged


def current_scales(tier: str) -> dict[tuple[str, str], tuple[str, tuple[float, ...]]]:
    """(claim, arm) -> the scale record (as JSON) the registry runs them at in ``tier`` and
    the learning rates it tries."""
    from alexnet_book.claims.plan import plan

    return {(c.claim, c.arm): (design(job.scale_record()), tuple(job.rates))
            for job in plan(tier) for c in job.consumers}


def drop_stale(rows: Sequence[dict]) -> tuple[list[dict], str | None]:
    """The rows the registry still runs (the same claim, arm, scale and a learning rate of
    its grid), and a note counting the others (None if there are none): a design that
    changed leaves its old lines in the file, where they stay as a record but are not used."""
    current = {tier: current_scales(tier) for tier in {r["profile"] for r in rows}}
    kept = []
    for row in rows:
        scale, rates = current[row["profile"]].get((row["claim"], row["arm"]), (None, ()))
        if scale == design(row.get("scale")) and any(
                math.isclose(row["learning_rate"], r) for r in rates):
            kept.append(row)
    stale = len(rows) - len(kept)
    note = (f"{stale} stored line(s) ran an arm, scale or learning rate the registry no longer "
            "holds; not used") if stale else None
    return kept, note


def check_complete(rows: Sequence[dict], tier: str, min_seeds: int = 1,
                   only: Iterable[str] | None = None) -> None:
    """Every claim that runs in ``tier`` (or each of ``only``) has both arms with at least
    ``min_seeds`` seeds.

    Raises:
        ResultsFormatError: the claims or arms that are missing or short of seeds.
        UnknownClaimError: ``only`` names a claim that does not run in ``tier``.
    """
    from alexnet_book.claims import CLAIMS, select

    problems = []
    for claim_id in [c.id for c in select(tier, only)]:
        for side in CLAIMS[claim_id].arms():
            seeds = {r["seed"] for r in rows if r["claim"] == claim_id and r["arm"] == side.name}
            if len(seeds) < min_seeds:
                problems.append(f"{claim_id}/{side.name}: {len(seeds)} seed(s)")
    if problems:
        raise ResultsFormatError(f"{tier} results are incomplete (need >= {min_seeds} seeds per "
                                 f"arm of every claim): {'; '.join(problems)}")
