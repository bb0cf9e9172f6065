"""``python -m alexnet_book.claims``: run claims in a tier, append results (resuming from
what the file holds), print the summary; ``--list`` prints the registry, ``--report FILE``
summarises a results file without training.

Arguments are checked before anything else happens (no device probe, no import of the
backend), so a mistake is answered at once.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    from alexnet_book.claims.paper import CLAIMS
    from alexnet_book.claims.registry import TIERS

    p = argparse.ArgumentParser(prog="python -m alexnet_book.claims",
                                description="Test the paper's claims on Fashion-MNIST.")
    p.add_argument("--tier", "--profile", dest="tier", choices=TIERS, default=None,
                   help="claims tier (default: $ALEXNET_PROFILE's tier, else full with a GPU, else quick)")
    p.add_argument("--only", nargs="+", metavar="ID", help=f"claim ids: {', '.join(CLAIMS)}")
    p.add_argument("--seeds", type=int, default=None, help="seeds per arm (default: the scale's)")
    p.add_argument("--out", default=None, help="results file to append to and resume from (default: "
                   "benchmarks/results/claims/claims-<tier>-<device>-<date>.jsonl)")
    p.add_argument("--workers", type=int, default=1, help="arms run at the same time (processes)")
    p.add_argument("--fresh", action="store_true", help="run everything even if --out holds it")
    p.add_argument("--part", metavar="K/N", default=None,
                   help="run the K-th of N parts of similar size (e.g. 1/8); resume makes parts repeatable")
    p.add_argument("--list", action="store_true", help="print the registry and exit")
    p.add_argument("--plan", action="store_true", help="print the runs the command would train and exit")
    p.add_argument("--report", metavar="FILE", help="summarise a results file and exit (no training)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    import pandas as pd

    from alexnet_book.claims import report, runner, store

    p = parser()
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error(f"--workers must be >= 1, got {args.workers}")
    part = None
    if args.part is not None:
        try:
            part = tuple(int(x) for x in args.part.split("/"))
            if len(part) != 2 or not 1 <= part[0] <= part[1]:
                raise ValueError
        except ValueError:
            p.error(f"--part must be K/N with 1 <= K <= N, e.g. 1/8; got {args.part!r}")
        if args.workers != 1:
            p.error("--part runs with --workers 1")
    if args.list:
        with pd.option_context("display.width", 200, "display.max_colwidth", 60):
            print(report.registry_table().to_string())
        return 0
    if args.report:
        try:
            rows, problems = store.read_file(args.report)
        except (OSError, store.ResultsFormatError) as error:
            p.error(str(error))
        rows, note = store.drop_stale(rows)
        problems += [note] if note else []
        for problem in problems:
            print(problem, file=sys.stderr)
        with pd.option_context("display.width", 220, "display.max_colwidth", 90):
            table = report.summarise(rows).drop(columns=["device", "date"])
            print(table.to_string(float_format="{:.3f}".format))
        return 0
    try:  # what needs no tier is checked first: resolving the default tier probes the device
        runner.check_seeds(args.seeds)
        for claim_id in args.only or ():
            runner.get(claim_id)
    except ValueError as error:
        p.error(str(error))
    tier = args.tier
    if tier is None:
        from alexnet_book import profile as profiles

        tier = profiles.current().name
    try:
        jobs = runner.plan(tier, args.only, args.seeds)
    except ValueError as error:
        p.error(str(error))
    out = Path(args.out) if args.out else None
    if out is not None:
        try:
            store.check_writable(out)
        except OSError as error:
            p.error(str(error))
    planned = sum(j.images() for j in jobs)
    if args.plan:
        for job in jobs:
            print(f"{job.label}: {job.runs()} runs x {job.images_per_run():,} images "
                  f"({job.scale.describe()}; lr {', '.join(f'{r:g}' for r in job.rates)})")
        print(f"{len(jobs)} arms, {sum(j.runs() for j in jobs)} runs, at most {planned:,} training images")
        if part is not None:
            units = runner.split(jobs, part[1])[part[0] - 1]
            images = sum(jobs[i].images_per_run() * len(jobs[i].rates) for i, _ in units)
            print(f"part {part[0]}/{part[1]}: {len(units)} (arm, seed) units, "
                  f"at most {images:,} training images")
        return 0
    out = out or runner.default_out(tier=tier)
    print(f"tier {tier}: {len(jobs)} arms, {sum(j.runs() for j in jobs)} runs, at most {planned:,} "
          f"training images; results appended to {out}", flush=True)
    start = time.perf_counter()
    try:
        runner.run(tier, args.only, args.seeds, out=out, workers=args.workers,
                   progress=not args.no_progress, stream=sys.stderr, resume=not args.fresh, part=part)
    except (OSError, store.ResultsFormatError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows, _ = store.read_file(out)
    with pd.option_context("display.width", 220, "display.max_colwidth", 90):
        print(report.summarise([r for r in rows if r["profile"] == tier]).drop(
            columns=["device", "date"]).to_string(float_format="{:.3f}".format))
    print(f"{len(rows)} result lines in {out} ({time.perf_counter() - start:.0f} s this time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
