"""The library runs on any Keras backend and never imports TensorFlow unless the backend
is TensorFlow. Checked on JAX, the backend the GPU benchmarks use on machines without
TensorFlow: build, train a step with the paper's optimiser, LRN and its gradient,
augmentation and ten-crop prediction, in a fresh process."""

import subprocess
import sys

import pytest
from keras_checks import jax_cpu_environment

CODE = """
import sys
import numpy as np
import keras
import jax
from alexnet_book import augment, layers, models, speed, training
assert keras.backend.backend() == "jax"
# (keras.utils.set_random_seed would import TensorFlow itself when it is installed)
model = models.alexnet((28, 28, 1), 10, width=0.25, resize_to=67)
optimizer, callbacks = training.paper_recipe()
model = speed.compile_for_speed(model, optimizer, mixed_precision="auto", jit_compile=False).model
x = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
history = model.fit(x, np.arange(16) % 10, epochs=1, batch_size=8, verbose=0,
                    validation_data=(x, np.arange(16) % 10), callbacks=callbacks)
lrn = layers.LocalResponseNormalization()
grad = jax.grad(lambda t: keras.ops.sum(lrn(t)))(np.full((1, 2, 2, 8), 50.0, "float32"))
pca = augment.PCAColorAugmentation(seed=0).adapt(np.random.default_rng(1).random((2, 4, 4, 3)))
shifted = pca(np.zeros((2, 4, 4, 3), "float32"), training=True)
probs = augment.ten_crop_predict(model, np.zeros((2, 32, 32, 1), "float32"), crop_size=28)
crops = augment.crop_and_flip(32, 28, seed=0)(np.random.default_rng(2).random((4, 32, 32, 1)), training=True)
print(len(history.history["loss"]), np.isfinite(np.asarray(grad)).all(),
      np.asarray(shifted).shape, probs.shape, np.asarray(crops).shape, "tensorflow" in sys.modules)
"""


@pytest.mark.integration
def test_library_runs_on_jax_without_tensorflow():
    env = jax_cpu_environment()
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "1 True (2, 4, 4, 3) (2, 10) (4, 28, 28, 1) False"
