"""The benchmarks' --quick modes run and report what they promise (no speed asserted)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, tmp_path) -> dict:
    env = {**os.environ, "ALEXNET_RUNS_DIR": str(tmp_path), "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_train_benchmark_quick(tmp_path):
    result = _run("train_fashion_mnist.py", tmp_path)
    assert result["quick"] is True and result["epochs"] == 1
    assert 0.1 < result["test_accuracy"] <= 1.0
    assert result["images_per_second"] > 0 and result["kwh"] > 0
    assert result["backend"] == "tensorflow" and result["date"]


def test_throughput_benchmark_quick(tmp_path):
    result = _run("throughput.py", tmp_path)
    assert result["keras_images_per_second"] > 0
    if result["torch_images_per_second"] is None:
        assert result["keras_over_torch"] is None
    else:
        assert result["keras_over_torch"] == pytest.approx(
            result["keras_images_per_second"] / result["torch_images_per_second"], rel=1e-2)


def test_stored_results_are_labelled():
    for path in (ROOT / "benchmarks" / "results").glob("*.json"):
        result = json.loads(path.read_text())
        for key in ("benchmark", "device", "backend", "date", "keras"):
            assert key in result, f"{path.name} lacks {key!r}"
