"""Training throughput of AlexNet (227x227x3, batch 256, 1,000 classes): Keras on the
current backend against the same network in plain PyTorch, with the paper's LRN and
without it.

Every case runs in its own process (a framework never shares the GPU with another, and
JAX does not pre-allocate it), trains on one random batch already resident on the
device (so no host-to-device copy is timed), untimed warm-up steps first, then timed
steps closed by a device synchronisation. The parent prints one JSON line: both rates,
their ratio with and without LRN, and on a GPU the fraction of the bound that the
device's matrix-product rate allows.

    KERAS_BACKEND=jax python benchmarks/throughput.py             # all cases
    python benchmarks/throughput.py --quick                       # seconds on a CPU
    python benchmarks/throughput.py --framework keras --norm none # one case
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np

from alexnet_book.cli import PRECISIONS, at_least, fraction

# JAX takes 75% of the GPU's memory at start-up unless told not to; each case runs alone,
# but a JAX parent or a stray JAX import must not starve the PyTorch process.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

QUICK = {"batch_size": 8, "steps": 3, "warmup": 1, "width": 0.25}
SIZE, CLASSES = 227, 1000


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=at_least(1), default=256)
    parser.add_argument("--steps", type=at_least(1), default=50, help="timed steps (default 50)")
    parser.add_argument("--warmup", type=at_least(1), default=10,
                        help="untimed steps first: tracing, compilation, cuDNN's search (default 10)")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto: bfloat16 on GPUs of compute capability >= 8.0, float16 on "
                             "older GPUs, float32 on the CPU (the same for both frameworks)")
    parser.add_argument("--dropout", type=fraction, default=0.5, help="rate after fc6 and fc7")
    parser.add_argument("--torch-compile", action="store_true",
                        help="add rows for torch.compile'd PyTorch")
    parser.add_argument("--require-gpu", action="store_true", help="fail unless a GPU is used")
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny run for tests: {QUICK} (width: AlexNet's channel multiplier)")
    parser.add_argument("--framework", choices=("keras", "torch", "matmul"),
                        help="run one case in this process: keras, torch, or matmul (the "
                             "device's matrix-product rate, for the bound)")
    parser.add_argument("--norm", choices=("lrn", "none"), default="lrn",
                        help="with --framework: the paper's LRN after conv1 and conv2, or none")
    parser.add_argument("--trace", metavar="DIR",
                        help="with --framework keras on JAX: also write a JAX profiler trace "
                             "of 10 steps (after the timing) to DIR")
    args = parser.parse_args(argv)
    args.width = 1.0
    if args.quick:
        vars(args).update(QUICK)
    if args.trace and args.framework != "keras":
        parser.error(f"argument --trace: traces the Keras case; add --framework keras "
                     f"(got --framework {args.framework})")
    args.error = parser.error
    return args


def no_gpu(args, what: str) -> None:
    args.error(f"argument --require-gpu: {what} sees no GPU; run on a GPU machine "
               "(on JAX: pip install 'jax[cuda12]'), or drop --require-gpu")


# ----------------------------------------------------------------------------- Keras


def keras_case(args) -> dict:
    import keras

    from alexnet_book import device, models, speed

    backend = keras.backend.backend()
    if args.require_gpu and not device.gpu_available():
        no_gpu(args, f"Keras on {backend}")
    if args.trace and backend != "jax":
        args.error(f"argument --trace: writes a JAX profiler trace; KERAS_BACKEND is {backend!r}, "
                   "run with KERAS_BACKEND=jax")
    keras.utils.set_random_seed(0)
    model = models.alexnet((SIZE, SIZE, 3), CLASSES, norm="lrn" if args.norm == "lrn" else None,
                           width=args.width, dropout=args.dropout)
    # Multiply-accumulates of the forward pass; training does about three times the
    # work (forward, gradients of the activations, gradients of the weights), 2 FLOP each.
    train_flop = 6 * int(models.layer_table(model)["MACs"].sum())
    compiled = speed.compile_for_speed(model, keras.optimizers.SGD(0.01, momentum=0.9),
                                       metrics=(), mixed_precision=args.precision,
                                       jit_compile="auto")  # speed.auto_jit_compile: on for JAX and GPUs
    x, y = random_batch(args.batch_size)
    x, y = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(y)  # on the device, once

    def same_batch():
        # The resident batch at every step: fit's device_put of an array already on the
        # device is a no-op, so no host-to-device copy is timed.
        while True:
            yield x, y

    # Why fit and not train_on_batch: train_on_batch hands the loss back as a host value,
    # a synchronisation after every step. fit (on JAX and PyTorch) dispatches step after
    # step without waiting when no callback has a per-batch hook (ThroughputCallback has
    # none); ThroughputCallback reads the clock after the last step has finished (it
    # waits for the optimizer's step counter, an output of that step). TensorFlow's fit
    # turns every step's logs into Python floats: a sync per step there.
    def train(steps, callbacks=()):
        compiled.model.fit(same_batch(), steps_per_epoch=steps, epochs=1, shuffle=False,
                           verbose=0, callbacks=list(callbacks))

    train(args.warmup)
    meter = speed.ThroughputCallback(args.batch_size)
    train(args.steps, [meter])
    if args.trace:
        import jax

        with jax.profiler.trace(args.trace, create_perfetto_trace=True):
            train(10)
    return {
        "images_per_second": meter.images_per_second[-1],
        "precision": compiled.precision,
        "jit_compile": compiled.model.jit_compile,  # what Keras kept (a layer can veto XLA)
        "input": f"{type(x).__module__}.{type(x).__name__} on {where(x)}",
        "train_gflop_per_image": train_flop / 1e9,
        "environment": device.environment_report(),
    }


def where(tensor) -> str:
    """The device a backend tensor lives on."""
    if hasattr(tensor, "devices"):  # jax.Array
        return ",".join(str(d) for d in tensor.devices())
    return str(getattr(tensor, "device", "host"))


def random_batch(batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.random((batch_size, SIZE, SIZE, 3), dtype=np.float32),
            rng.integers(0, CLASSES, batch_size).astype("int32"))


def matmul_case(args) -> dict:
    """The device's matrix-product rate in the benchmark's precision: the ceiling for any
    network whose work is matrix products (AlexNet's convolutions and dense layers)."""
    import keras
    from keras import ops

    from alexnet_book import device, speed

    if args.require_gpu and not device.gpu_available():
        no_gpu(args, f"Keras on {keras.backend.backend()}")
    precision = speed.choose_precision() if args.precision == "auto" else args.precision
    dtype = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}.get(precision, "float32")
    n = 256 if args.quick else 8192
    a = ops.ones((n, n), dtype=dtype)
    b = ops.ones((n, n), dtype=dtype)
    # images_per_second with one "image" per call counts products per second; reading
    # one element of the last product back is the synchronisation.
    products = speed.images_per_second(lambda: ops.matmul(a, b), images_per_step=1, steps=50,
                                       warmup=5, synchronise=lambda c: ops.convert_to_numpy(c[0, 0]))
    return {"matmul_tflops": products * 2 * n**3 / 1e12, "dtype": dtype}


# --------------------------------------------------------------------------- PyTorch


def torch_alexnet(width: float, lrn: bool, dropout: float):
    """The library's one-tower AlexNet in plain PyTorch (same channels, same LRN)."""
    import torch.nn as nn

    def c(n):
        return max(1, int(round(n * width)))

    def norm():
        # PyTorch divides alpha by the window size: 5e-4 / 5 is the paper's 1e-4, k = 2.
        return [nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)] if lrn else []

    return nn.Sequential(
        nn.Conv2d(3, c(96), 11, stride=4), nn.ReLU(), *norm(), nn.MaxPool2d(3, 2),
        nn.Conv2d(c(96), c(256), 5, padding=2), nn.ReLU(), *norm(), nn.MaxPool2d(3, 2),
        nn.Conv2d(c(256), c(384), 3, padding=1), nn.ReLU(),
        nn.Conv2d(c(384), c(384), 3, padding=1), nn.ReLU(),
        nn.Conv2d(c(384), c(256), 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Linear(c(256) * 6 * 6, c(4096)), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(c(4096), c(4096)), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(c(4096), CLASSES),
    )


def torch_case(args, compile_model: bool = False) -> dict:
    import torch

    from alexnet_book import speed

    cuda = torch.cuda.is_available()
    if args.require_gpu and not cuda:
        no_gpu(args, "PyTorch")
    target = "cuda" if cuda else "cpu"
    precision = args.precision
    if precision == "auto":  # speed.choose_precision's rule, asked of PyTorch
        precision = ("float32" if not cuda else "mixed_bfloat16"
                     if torch.cuda.get_device_capability(0) >= (8, 0) else "mixed_float16")
    torch.backends.cudnn.benchmark = True  # pick the fastest convolution algorithms
    torch.manual_seed(0)
    model = torch_alexnet(args.width, args.norm == "lrn", args.dropout)
    model = model.to(target, memory_format=torch.channels_last)
    if compile_model:
        model = torch.compile(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    dtype = {"mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(target, enabled=dtype is torch.float16)  # as Keras' loss scaling
    x, y = (torch.from_numpy(a) for a in random_batch(args.batch_size))
    x = x.permute(0, 3, 1, 2).to(target, memory_format=torch.channels_last)  # on the device, once
    y = y.long().to(target)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(target, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss

    sync = (lambda _: torch.cuda.synchronize()) if cuda else None
    rate = speed.images_per_second(step, args.batch_size, steps=args.steps, warmup=args.warmup,
                                   synchronise=sync)
    return {"images_per_second": rate, "precision": precision, "torch": torch.__version__,
            "torch_device": torch.cuda.get_device_name(0) if cuda else "cpu",
            "input": f"torch.Tensor on {x.device}"}


# ---------------------------------------------------------------------------- parent


def child(args, framework: str, norm: str = "lrn", precision: str | None = None,
          extra=()) -> dict:
    """One case in a fresh process; its last stdout line is its JSON."""
    command = [sys.executable, os.path.abspath(__file__), "--framework", framework, "--norm", norm,
               "--batch-size", str(args.batch_size), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--dropout", str(args.dropout),
               "--precision", precision or args.precision, *extra]
    if args.quick:
        command.append("--quick")
    if args.require_gpu:
        command.append("--require-gpu")
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    out = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env, check=False)
    if out.returncode != 0:
        sys.exit(f"throughput.py: the {framework} case (norm {norm}) failed with exit status "
                 f"{out.returncode}; its error is above")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_all(args) -> dict:
    keras_lrn = child(args, "keras", "lrn")
    precision = keras_lrn["precision"]  # "auto" resolved once, then the same everywhere
    keras_none = child(args, "keras", "none", precision)
    rates = {"keras": keras_lrn["images_per_second"], "keras_no_lrn": keras_none["images_per_second"]}
    torch_version = torch_note = None
    if importlib.util.find_spec("torch") is None:
        torch_note = "PyTorch is not installed: no comparison"
        rates.update(torch=None, torch_no_lrn=None)
    else:
        for norm, key in (("lrn", "torch"), ("none", "torch_no_lrn")):
            case = child(args, "torch", norm, precision)
            rates[key], torch_version = case["images_per_second"], case["torch"]
            if args.torch_compile:
                compiled = child(args, "torch", norm, precision, ["--torch-compile"])
                rates[key.replace("torch", "torch_compile")] = compiled["images_per_second"]

    def ratio(a, b):
        return None if rates.get(a) is None or rates.get(b) is None else round(rates[a] / rates[b], 3)

    result = {
        "benchmark": "throughput",
        "quick": args.quick,
        "method": "one process per case, inputs resident on the device, Keras fit timed by "
                  "ThroughputCallback, PyTorch by images_per_second with torch.cuda.synchronize",
        "batch_size": args.batch_size, "image_size": SIZE, "width": args.width,
        "dropout": args.dropout, "steps": args.steps, "warmup": args.warmup,
        "precision": precision, "jit_compile": keras_lrn["jit_compile"],
        **{f"{key}_images_per_second": None if rate is None else round(rate, 1)
           for key, rate in rates.items()},
        "keras_over_torch": ratio("keras", "torch"),
        "keras_over_torch_no_lrn": ratio("keras_no_lrn", "torch_no_lrn"),
        "torch": torch_version, "torch_note": torch_note,
        "keras_input": keras_lrn["input"],
        "train_gflop_per_image": round(keras_lrn["train_gflop_per_image"], 3),
        "matmul_tflops": None, "bound_images_per_second": None,
        "keras_fraction_of_bound": None, "keras_no_lrn_fraction_of_bound": None,
        **keras_lrn["environment"],
    }
    if keras_lrn["environment"]["gpu"] and not args.quick:
        add_bound(result, child(args, "matmul", precision=precision)["matmul_tflops"])
    return result


def add_bound(result: dict, tflops: float) -> dict:
    """The bound: every training FLOP at the device's large-matrix-product rate, and the
    fraction of it Keras reaches with and without LRN."""
    bound = tflops * 1e12 / (result["train_gflop_per_image"] * 1e9)
    result.update(matmul_tflops=round(tflops, 1), bound_images_per_second=round(bound))
    for key in ("keras", "keras_no_lrn"):
        result[f"{key}_fraction_of_bound"] = round(result[f"{key}_images_per_second"] / bound, 3)
    return result


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.framework is None:
        result = run_all(args)
    elif args.framework == "keras":
        result = {"framework": "keras", "norm": args.norm, **keras_case(args)}
    elif args.framework == "torch":
        result = {"framework": "torch", "norm": args.norm, **torch_case(args, args.torch_compile)}
    else:
        result = {"framework": "matmul", **matmul_case(args)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
