"""Training throughput of AlexNet (227x227x3, one tower, LRN) on the current Keras
backend and, when PyTorch is installed, of the same network in plain PyTorch.

Prints one JSON line with both rates and their ratio. Random data, so it measures
compute only.

    python benchmarks/throughput.py                 # batch 256, the issue's setting
    python benchmarks/throughput.py --quick         # seconds on a CPU
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import time

import keras
import numpy as np

from alexnet_book import models, profile, training


def keras_rate(batch: int, steps: int, size: int, width: float, precision: str) -> float:
    model = models.alexnet((size, size, 3), 1000, width=width)
    model = training.compile_for_speed(model, keras.optimizers.SGD(0.01, momentum=0.9),
                                       mixed_precision=precision)
    rng = np.random.default_rng(0)
    x = rng.random((batch, size, size, 3), dtype=np.float32)
    y = rng.integers(0, 1000, batch)
    model.train_on_batch(x, y)  # compile
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return batch * steps / (time.perf_counter() - start)


def torch_alexnet(width: float):
    import torch.nn as nn

    def c(n):
        return max(1, int(round(n * width)))

    return nn.Sequential(
        nn.Conv2d(3, c(96), 11, stride=4), nn.ReLU(), nn.LocalResponseNorm(5, 5e-4, 0.75, 2.0),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(c(96), c(256), 5, padding=2), nn.ReLU(), nn.LocalResponseNorm(5, 5e-4, 0.75, 2.0),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(c(256), c(384), 3, padding=1), nn.ReLU(),
        nn.Conv2d(c(384), c(384), 3, padding=1), nn.ReLU(),
        nn.Conv2d(c(384), c(256), 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(c(256) * 36, c(4096)), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(c(4096), c(4096)), nn.ReLU(), nn.Linear(c(4096), 1000),
    )


def torch_rate(batch: int, steps: int, size: int, width: float, bfloat16: bool) -> float:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = torch_alexnet(width).to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(batch, 3, size, size, device=device).to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bfloat16):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--precision", default="auto",
                        choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"])
    parser.add_argument("--quick", action="store_true", help="batch 8, 3 steps, width 0.25")
    args = parser.parse_args(argv)
    size, width = 227, 1.0
    if args.quick:
        args.batch_size, args.steps, width = 8, 3, 0.25
    precision = training.choose_precision() if args.precision == "auto" else args.precision
    ours = keras_rate(args.batch_size, args.steps, size, width, precision)
    theirs = None
    if importlib.util.find_spec("torch") is not None:
        theirs = torch_rate(args.batch_size, args.steps, size, width,
                            bfloat16=precision == "mixed_bfloat16")
    result = {
        "benchmark": "throughput",
        "quick": args.quick,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "width": width,
        "precision": precision,
        "keras_images_per_second": round(ours, 1),
        "torch_images_per_second": None if theirs is None else round(theirs, 1),
        "keras_over_torch": None if theirs is None else round(ours / theirs, 3),
        "torch": None if theirs is None else importlib.import_module("torch").__version__,
        **profile.environment_report(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
