"""Shared by the Keras tests: one save/load check (layers, augmentation, models) and the
environment of a subprocess that runs Keras on JAX."""

import os
from pathlib import Path

import keras
import numpy as np


def assert_survives_save_and_load(model: keras.Model, x: np.ndarray, folder: Path) -> keras.Model:
    """Save ``model`` as .keras, load it back and check the same predictions on ``x``;
    returns the loaded model for further checks."""
    path = Path(folder) / f"{model.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    return loaded


def jax_cpu_environment(**more) -> dict[str, str]:
    """The environment of a test's subprocess that runs Keras on JAX on the CPU. XLA's backend
    (LLVM) optimises least: such a test runs a handful of steps, where compiling every step
    function costs far more than running it, and no test asserts a speed."""
    return {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": "--xla_backend_optimization_level=0", **more}
