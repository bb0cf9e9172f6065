"""The benchmarks' --quick modes run and print every field they promise (no speed is
asserted), bad input fails with a clear message, and every stored result is labelled."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras_checks import jax_cpu_environment

ROOT = Path(__file__).resolve().parents[1]
ENVIRONMENT = ("date", "backend", "keras", "python", "gpu", "device", "cpu_cores")
#: Fields every result of a kind has, including those measured before issue 18's fixes.
SCHEMAS = {
    "throughput": ENVIRONMENT + (
        "benchmark", "quick", "batch_size", "steps", "precision",
        "keras_images_per_second", "torch_images_per_second", "keras_over_torch"),
    "train_fashion_mnist": ENVIRONMENT + (
        "benchmark", "quick", "epochs", "batch_size", "image_size", "width", "train_images",
        "precision", "test_accuracy", "images_per_second", "first_epoch_images_per_second",
        "seconds", "kwh"),
}
#: Fields today's scripts add; a stored result without them carries a "label" saying how
#: it was measured.
CURRENT = {
    "throughput": (
        "method", "image_size", "width", "dropout", "warmup", "jit_compile",
        "keras_no_lrn_images_per_second", "torch_no_lrn_images_per_second",
        "keras_over_torch_no_lrn", "torch", "torch_note", "keras_input", "train_gflop_per_image",
        "matmul_tflops", "bound_images_per_second", "keras_fraction_of_bound",
        "keras_no_lrn_fraction_of_bound"),
    "train_fashion_mnist": (
        "validation_images", "test_images", "input", "jit_compile", "schedule",
        "label_smoothing", "augment", "seed", "val_accuracy", "epoch_images_per_second",
        "train_seconds", "towers", "train_accuracy", "learning_rate", "conv1_kernels"),
}


def _run(script: str, *args, tmp_path, backend=None, expect_ok=True):
    env = jax_cpu_environment() if backend == "jax" else {**os.environ}
    if backend and backend != "jax":
        env["KERAS_BACKEND"] = backend
    env.update(ALEXNET_RUNS_DIR=str(tmp_path), CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    if not expect_ok:
        return out
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _assert_fields(result: dict, kind: str):
    missing = [k for k in SCHEMAS[kind] + CURRENT[kind] if k not in result]
    assert not missing, f"{kind} lacks {missing}"


@pytest.mark.integration
def test_train_benchmark_quick(tmp_path):
    result = _run("train_fashion_mnist.py", "--quick", tmp_path=tmp_path)
    _assert_fields(result, "train_fashion_mnist")
    assert result["quick"] is True and result["epochs"] == 1 and result["train_images"] == 512
    assert (result["schedule"], result["augment"], result["label_smoothing"]) == ("steps", "none", 0)
    assert 0 <= result["test_accuracy"] <= 1 and len(result["val_accuracy"]) == 1
    assert result["images_per_second"] > 0 and result["kwh"] > 0
    assert result["input"].startswith("uint8")
    # what chapter 6 draws beside its own run: the paper's two towers, the curves, conv1's kernels
    kernels = np.asarray(result["conv1_kernels"])
    assert result["towers"] == 2 and len(result["train_accuracy"]) == 1 and result["learning_rate"] == [0.01]
    assert kernels.shape == (11, 11, 24) and np.isfinite(kernels).all() and kernels.std() > 0


@pytest.mark.integration
def test_train_benchmark_options_on_jax(tmp_path):
    pytest.importorskip("jax")
    result = _run("train_fashion_mnist.py", "--quick", "--augment", "all", "--label-smoothing", "0.1",
                  "--schedule", "plateau", "--precision", "mixed_bfloat16", "--no-energy",
                  tmp_path=tmp_path, backend="jax")
    _assert_fields(result, "train_fashion_mnist")
    assert result["backend"] == "jax" and result["jit_compile"] is True  # the shifts keep XLA on
    assert (result["schedule"], result["augment"], result["label_smoothing"]) == ("plateau", "all", 0.1)
    assert result["precision"] == "mixed_bfloat16" and 0 <= result["test_accuracy"] <= 1
    assert result["kwh"] is None  # --no-energy: where codecarbon is not installed (tools/gpu_check.sh)


@pytest.mark.integration
def test_throughput_benchmark_quick(tmp_path):
    result = _run("throughput.py", "--quick", tmp_path=tmp_path)
    _assert_fields(result, "throughput")
    assert result["quick"] is True and result["gpu"] is False
    assert result["keras_images_per_second"] > 0 and result["keras_no_lrn_images_per_second"] > 0
    assert result["train_gflop_per_image"] > 0
    if importlib.util.find_spec("torch") is None:
        assert result["torch_images_per_second"] is None and result["keras_over_torch"] is None
        assert result["torch_note"] == "PyTorch is not installed: no comparison"
    else:
        assert result["keras_over_torch"] == pytest.approx(
            result["keras_images_per_second"] / result["torch_images_per_second"], rel=1e-2)
    assert result["bound_images_per_second"] is None  # measured on a GPU only


@pytest.mark.integration
def test_throughput_keras_trains_on_arrays_resident_on_the_device(tmp_path):
    pytest.importorskip("jax")
    result = _run("throughput.py", "--quick", "--framework", "keras", "--norm", "none",
                  tmp_path=tmp_path, backend="jax")
    assert result["framework"] == "keras" and result["norm"] == "none"
    kind, _, place = result["input"].partition(" on ")
    assert kind.startswith("jaxlib") and "cpu" in place.lower()  # "cpu:0" or "TFRT_CPU_0" by version
    assert result["jit_compile"] is True and result["images_per_second"] > 0


def _load(script: str):
    spec = importlib.util.spec_from_file_location(script.removesuffix(".py"), ROOT / "benchmarks" / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
def test_throughput_bound_from_the_matmul_rate(tmp_path):
    result = _run("throughput.py", "--quick", "--framework", "matmul", tmp_path=tmp_path)
    assert result["framework"] == "matmul" and result["matmul_tflops"] > 0
    # The arithmetic: 6.8 GFLOP per image at 790 TFLOP/s is about 116,000 images/s.
    row = {"train_gflop_per_image": 6.8, "keras_images_per_second": 58_000.0,
           "keras_no_lrn_images_per_second": 29_000.0}
    _load("throughput.py").add_bound(row, 790.0)
    assert row["bound_images_per_second"] == 116_176 and row["matmul_tflops"] == 790.0
    assert (row["keras_fraction_of_bound"], row["keras_no_lrn_fraction_of_bound"]) == (0.499, 0.25)


@pytest.mark.parametrize("script, args, message", [
    ("throughput.py", ["--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    ("throughput.py", ["--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got '0'"),
    ("throughput.py", ["--dropout", "1"], "argument --dropout: must be a number in [0, 1), got '1'"),
    ("throughput.py", ["--trace", "x"], "argument --trace: traces the Keras case"),
    ("train_fashion_mnist.py", ["--epochs", "0"], "argument --epochs: must be an integer >= 1, got '0'"),
    ("train_fashion_mnist.py", ["--batch-size", "-3"],
     "argument --batch-size: must be an integer >= 1, got '-3'"),
    ("train_fashion_mnist.py", ["--precision", "fp8"], "argument --precision: invalid choice: 'fp8'"),
    ("train_fashion_mnist.py", ["--label-smoothing", "1.5"],
     "argument --label-smoothing: must be a number in [0, 1), got '1.5'"),
    ("train_fashion_mnist.py", ["--augment", "always"], "argument --augment: invalid choice: 'always'"),
    ("train_fashion_mnist.py", ["--image-size", "66"],
     "argument --image-size: must be an integer >= 67, got '66'"),
    ("train_fashion_mnist.py", ["--width", "0.05"], "argument --width: must be a number >= 0.0625, got '0.05'"),
    ("train_fashion_mnist.py", ["--model", "small", "--width", "0.5"],
     "argument --image-size/--width: the small network trains on the 28x28 images"),
    ("alexnet_vs_small.py", ["--seeds", "0"], "argument --seeds: must be an integer >= 1, got '0'"),
    ("alexnet_vs_small.py", ["--image-size", "nan"], "argument --image-size: must be an integer >= 67"),
    ("alexnet_vs_small.py", [], "the following arguments are required: --out"),
])
def test_bad_input_is_refused_before_any_work(script, args, message, tmp_path):
    out = _run(script, *args, tmp_path=tmp_path, expect_ok=False)
    assert out.returncode == 2 and message in out.stderr, out.stderr[-2000:]


def test_the_scripts_limits_are_the_librarys():
    # parsed before Keras loads, so the script repeats them
    module = _load("train_fashion_mnist.py")
    from alexnet_book import models
    assert module.MIN_IMAGE_SIZE == models.minimum_input_size() and module.MIN_WIDTH == models.MIN_WIDTH


@pytest.mark.integration
def test_alexnet_vs_small_pairs_seeds_resumes_and_refuses_a_damaged_file(tmp_path):
    out = tmp_path / "duel.jsonl"
    summary = _run("alexnet_vs_small.py", "--quick", "--seeds", "1", "--out", str(out), tmp_path=tmp_path)
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["model"], r["seed"]) for r in runs] == [("small", 0), ("alexnet", 0)]
    small, alexnet = runs
    assert small["parameters"] == 12_810 and small["image_size"] == 28 and small["conv1_kernels"] is None
    assert alexnet["towers"] == 1 and alexnet["image_size"] == 67
    assert alexnet["train_images"] == small["train_images"]
    assert summary["seeds"] == [0] and summary["difference"] == pytest.approx(
        alexnet["test_accuracy"] - small["test_accuracy"])
    again = _run("alexnet_vs_small.py", "--quick", "--seeds", "1", "--out", str(out), tmp_path=tmp_path,
                 expect_ok=False)  # nothing left to train: the stored runs are summarised
    assert again.returncode == 0 and "test accuracy" not in again.stderr
    assert json.loads(again.stdout.splitlines()[-1]) == summary
    out.write_text(out.read_text() + "{not json\n")
    damaged = _run("alexnet_vs_small.py", "--quick", "--out", str(out), tmp_path=tmp_path, expect_ok=False)
    assert damaged.returncode == 1 and f"{out}:3: not a run of this benchmark" in damaged.stderr


def test_alexnet_vs_small_passes_require_gpu_on_and_stops_with_the_reason(tmp_path):
    out = _run("alexnet_vs_small.py", "--quick", "--require-gpu", "--out", str(tmp_path / "d.jsonl"),
               tmp_path=tmp_path, expect_ok=False)
    assert out.returncode == 1 and "--require-gpu failed" in out.stderr and "sees no GPU" in out.stderr
    assert not (tmp_path / "d.jsonl").exists() or not (tmp_path / "d.jsonl").read_text()


@pytest.mark.parametrize("script", ["throughput.py", "train_fashion_mnist.py"])
def test_require_gpu_fails_clearly_without_one(script, tmp_path):
    out = _run(script, "--quick", "--require-gpu", tmp_path=tmp_path, expect_ok=False)
    assert out.returncode != 0 and out.stdout == ""
    assert "argument --require-gpu: Keras on" in out.stderr and "sees no GPU" in out.stderr


def test_augmentation_shifts_and_flips_each_image_when_switched_on():
    module = _load("train_fashion_mnist.py")
    ShiftAndFlip, _ = module.shift_and_flip()
    layer = ShiftAndFlip(seed=1)
    images = np.random.default_rng(0).integers(1, 256, (32, 28, 28), dtype=np.uint8)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images, training=True)), images)
    layer.on.assign(1.0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images, training=False)), images)
    moved = keras.ops.convert_to_numpy(layer(images, training=True))
    pixels = module.SHIFT
    seen = set()
    for image, out in zip(images, moved):
        padded = np.pad(image, pixels)  # black borders: a crop of the padded image
        found = [(flip, dy, dx) for flip in (False, True) for dy in range(2 * pixels + 1)
                 for dx in range(2 * pixels + 1)
                 if np.array_equal((padded[:, ::-1] if flip else padded)[dy:dy + 28, dx:dx + 28], out)]
        assert found, "an output is not a shift or flip of its image"
        seen.add(found[0])
    assert len(seen) > 8  # drawn per image, not once per batch


def test_augmentation_switches_on_at_its_epoch():
    ShiftAndFlip, SwitchOn = _load("train_fashion_mnist.py").shift_and_flip()
    model = keras.Sequential([keras.Input((28, 28), dtype="uint8"), ShiftAndFlip(name="shift_and_flip"),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(float(model.get_layer("shift_and_flip").on)))
    model.fit(np.zeros((8, 28, 28), np.uint8), np.zeros((8, 2)), epochs=3, verbose=0,
              callbacks=[SwitchOn(1), record])
    assert seen == [0.0, 1.0, 1.0]


def test_gpu_scripts_parse_and_refuse_an_unknown_part():
    for script in ("gpu_check.sh", "gpu_prepare.sh"):
        assert subprocess.run(["bash", "-n", str(ROOT / "tools" / script)]).returncode == 0
    out = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "everything"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "benchmarks | claims K/N | duel" in out.stderr


def test_stored_results_are_labelled():
    paths = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    results = {path.name: json.loads(path.read_text()) for path in paths}
    kinds = {result.get("benchmark") for result in results.values()}
    assert set(SCHEMAS) <= kinds, f"benchmarks/results/ needs a result of each of {sorted(SCHEMAS)}"
    for name, result in results.items():
        kind = result.get("benchmark")
        assert kind in SCHEMAS and name.startswith(f"{kind}-"), name
        required = SCHEMAS[kind] + (() if "label" in result else CURRENT[kind])
        missing = [key for key in required if key not in result]
        assert not missing, f"{name} lacks {missing}"
        assert result["quick"] is False, f"{name} is a --quick run"


def test_stored_comparisons_with_the_small_network_pair_their_seeds():
    """What chapter 6 reads: each file's runs are complete train results, both networks per
    seed, on the same images and epochs."""
    paths = sorted((ROOT / "benchmarks" / "results" / "alexnet-vs-small").glob("*.jsonl"))
    assert paths, "chapter 6 reads a stored comparison from benchmarks/results/alexnet-vs-small/"
    for path in paths:
        runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for run in runs:
            _assert_fields(run, "train_fashion_mnist")
            assert run["quick"] is False and run["model"] in ("small", "alexnet"), path.name
        by_model = {m: sorted(r["seed"] for r in runs if r["model"] == m) for m in ("small", "alexnet")}
        assert by_model["small"] == by_model["alexnet"], f"{path.name}: unpaired seeds {by_model}"
        assert len({(r["train_images"], r["test_images"], r["epochs"]) for r in runs}) == 1, path.name
