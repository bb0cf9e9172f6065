"""Does AlexNet beat chapter 0's small network once its layers have room? Paired seeds
of both, trained on the same images for the same epochs by ``train_fashion_mnist.py``.

At the quick profile (67x67 inputs, 6,000 images, 5 epochs) AlexNet loses to the
12,810-parameter small network: pool5 is one pixel wide and a few hundred steps of
momentum SGD are not enough. This runs both on the course's 50,000 training images, at an
AlexNet size a CPU can afford for several seeds (default 99x99, which leaves pool5 2x2,
at a quarter of the paper's width), each seed once per network, in its own process. Each
finished run is appended to ``--out`` as a JSON line, and a run already there is not
repeated, so a killed run resumes. The last line printed is the paired summary.

    nice -n 19 python benchmarks/alexnet_vs_small.py --seeds 5 --out benchmarks/results/alexnet-vs-small/X.jsonl
    python benchmarks/alexnet_vs_small.py --quick --seeds 2 --out /tmp/x.jsonl   # tests, < 1 min
    bash tools/gpu_check.sh duel   # on a GPU: the paper's 227x227 network at full width
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from train_fashion_mnist import MIN_IMAGE_SIZE, MIN_WIDTH  # this folder: the script's own

from alexnet_book.cli import at_least, number_at_least

HERE = Path(__file__).resolve().parent
MODELS = ("small", "alexnet")  # each seed trains the baseline first, then AlexNet


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON lines file, appended to")
    parser.add_argument("--seeds", type=at_least(1), default=3)
    parser.add_argument("--epochs", type=at_least(1), default=10)
    parser.add_argument("--image-size", type=at_least(MIN_IMAGE_SIZE), default=99,
                        help="AlexNet's input side (default 99: pool5 2x2)")
    parser.add_argument("--width", type=number_at_least(MIN_WIDTH), default=0.25,
                        help="AlexNet's width (default 0.25)")
    parser.add_argument("--require-gpu", action="store_true", help="passed on to every run")
    parser.add_argument("--no-energy", action="store_true", help="passed on to every run")
    parser.add_argument("--quick", action="store_true",
                        help="train_fashion_mnist.py --quick for both (512 images, 67x67, 1 epoch)")
    args = parser.parse_args(argv)
    if args.out.exists() and not args.out.is_file():
        parser.error(f"argument --out: {args.out} is not a file")
    return args


def run_arguments(args, model: str, seed: int) -> list[str]:
    """train_fashion_mnist.py's arguments for one run."""
    common = ["--model", model, "--seed", str(seed), "--epochs", "1" if args.quick else str(args.epochs)]
    common += [flag for flag, on in (("--quick", args.quick), ("--require-gpu", args.require_gpu),
                                     ("--no-energy", args.no_energy)) if on]
    if model == "alexnet":
        common += ["--towers", "1"]  # one tower: the network chapters 2-5 measure
        if not args.quick:
            common += ["--image-size", str(args.image_size), "--width", f"{args.width:g}"]
    return common


def done_runs(path: Path) -> dict[tuple[str, int], dict]:
    """The runs already in ``path``, by (model, seed); a damaged line stops with its number."""
    runs = {}
    if not path.exists():
        return runs
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            run = json.loads(line)
            runs[(run["model"], int(run["seed"]))] = run
        except (ValueError, KeyError, TypeError) as error:
            raise SystemExit(f"{path}:{number}: not a run of this benchmark ({error}); "
                             "move the file aside to start again") from None
    return runs


def summary(runs: dict[tuple[str, int], dict]) -> dict:
    """Test accuracy of AlexNet minus the small network's over the seeds both finished."""
    from alexnet_book import stats

    seeds = sorted(s for m, s in runs if m == "alexnet" and ("small", s) in runs)
    result = {"benchmark": "alexnet_vs_small", "seeds": seeds}
    if seeds:
        small = [runs["small", s]["test_accuracy"] for s in seeds]
        alexnet = [runs["alexnet", s]["test_accuracy"] for s in seeds]
        difference = stats.paired_difference(small, alexnet)
        result.update(small_test_accuracy=small, alexnet_test_accuracy=alexnet,
                      difference=difference.estimate,  # no interval from one seed: null ends
                      low=difference.low if math.isfinite(difference.low) else None,
                      high=difference.high if math.isfinite(difference.high) else None,
                      describe=difference.describe(3))
    return result


def main(argv=None) -> dict:
    args = parse_args(argv)
    runs = done_runs(args.out)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for seed in range(args.seeds):
        for model in MODELS:
            if (model, seed) in runs:
                continue
            start = time.perf_counter()
            command = [sys.executable, str(HERE / "train_fashion_mnist.py"), *run_arguments(args, model, seed)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{' '.join(command[1:])} failed:\n{done.stderr[-3000:]}")
            run = json.loads(done.stdout.strip().splitlines()[-1])
            with args.out.open("a") as out:
                out.write(json.dumps(run) + "\n")
            runs[model, seed] = run
            print(f"seed {seed} {model}: test accuracy {run['test_accuracy']:.4f} "
                  f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    result = summary(runs)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
