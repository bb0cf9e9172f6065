"""The device the current Keras backend computes on: GPU or CPU, its name and compute
capability, and a report of the environment for benchmark results.

The TensorFlow / JAX / PyTorch chain lives here once; everything else asks this module.
"""

from __future__ import annotations

import datetime
import functools
import os
import platform
from typing import NamedTuple


class GPU(NamedTuple):
    """The first GPU the backend sees."""

    name: str
    compute_capability: tuple[int, int] | None


def _first_gpu(backend: str) -> GPU | None:
    """The backend's first GPU, or None (the one place that asks each framework)."""
    # Only the backend in force is imported: the library runs on JAX without TensorFlow (and
    # without PyTorch).
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return None
        details = tf.config.experimental.get_device_details(gpus[0])
        capability = details.get("compute_capability")
        return GPU(details.get("device_name", "GPU"), tuple(capability) if capability else None)
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if not gpus:
            return None
        capability = getattr(gpus[0], "compute_capability", None)
        if capability:
            major, minor = str(capability).split(".")[:2]
            capability = (int(major), int(minor))
        return GPU(gpus[0].device_kind, capability or None)
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return None
        return GPU(torch.cuda.get_device_name(0), tuple(torch.cuda.get_device_capability(0)))
    return None


@functools.cache
def _gpu_for(backend: str) -> GPU | None:
    try:
        return _first_gpu(backend)
    except (ImportError, RuntimeError, KeyError, AttributeError, ValueError):
        return None


def gpu() -> GPU | None:
    """The first GPU the current Keras backend computes on, or None on a CPU."""
    # Keras here, not at the top: `profile` imports this module, and importing Keras starts its
    # backend, so `alexnet_book.profile` imports light, before a program has chosen its backend.
    import keras

    return _gpu_for(keras.backend.backend())


def gpu_available() -> bool:
    """True when the current Keras backend sees a GPU."""
    return gpu() is not None


def gpu_compute_capability() -> tuple[int, int] | None:
    """The first GPU's CUDA compute capability, e.g. (9, 0) for an H100, or None."""
    found = gpu()
    return found.compute_capability if found else None


def cpu_name() -> str:
    """The CPU's model name (Linux), else the machine type."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """One line naming the Keras backend and whether it computes on a GPU or the CPU."""
    import keras  # not at the top: see gpu()

    found = gpu()
    where = f"GPU ({found.name})" if found else "CPU only"
    return f"Keras backend: {keras.backend.backend()}; compute: {where}"


def environment_report() -> dict:
    """Backend, device, library versions and date, stored with every benchmark result."""
    import keras  # not at the top: see gpu()

    backend = keras.backend.backend()
    found = gpu()
    report = {
        "date": datetime.date.today().isoformat(),
        "backend": backend,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "gpu": found is not None,
        "device": found.name if found else cpu_name(),
        "cpu_cores": os.cpu_count(),
    }
    framework = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    if framework:
        try:
            report[framework] = __import__(framework).__version__
        except ImportError:
            pass
    return report
