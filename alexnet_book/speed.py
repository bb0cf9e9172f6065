"""Training fast and measuring it: precision and XLA for the device, and one way to time
images per second (an epoch callback for ``fit``, and :func:`fit_images_per_second` built on
it, for training; a timer for anything else, such as an input pipeline).

Nothing here imports TensorFlow: the same code runs on JAX and PyTorch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import keras
import numpy as np
from keras import ops

from alexnet_book import cli, device

PRECISIONS = (*cli.PRECISIONS, None)  # the command lines' choices (cli imports no Keras), or None


def choose_precision() -> str:
    """The mixed-precision policy for this device: ``mixed_bfloat16`` on GPUs with
    bfloat16 tensor cores (compute capability 8.0 and newer: A100, H100, RTX 30xx...),
    ``mixed_float16`` (with loss scaling) on older GPUs, ``float32`` on the CPU."""
    capability = device.gpu_compute_capability()
    if capability is None:
        return "float32"
    return "mixed_bfloat16" if capability >= (8, 0) else "mixed_float16"


def with_precision(model: keras.Model, policy: str) -> keras.Model:
    """A copy of ``model`` (same weights) whose layers compute in ``policy``; the last
    layer stays float32 so the softmax and the loss are computed accurately.

    Raises:
        ValueError: an unknown policy.
    """
    if policy not in ("float32", "mixed_float16", "mixed_bfloat16"):
        raise ValueError(
            f"policy must be 'float32', 'mixed_float16' or 'mixed_bfloat16', got {policy!r}")
    last = model.layers[-1].name

    def clone(layer):
        config = layer.get_config()
        config["dtype"] = "float32" if layer.name == last else policy
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def auto_jit_compile() -> bool:
    """XLA when it pays: always on JAX (without it JAX runs op by op), on a GPU otherwise.
    On a CPU, TensorFlow's XLA is faster per step once compiled (chapter 5's table), but its
    compilation outweighs that in the chapters' fits of a few epochs: on the course's two
    cores, a two-epoch quick-profile fit took 27.1 s with XLA and 11.3 s without
    (2026-12-02, compilation included)."""
    return keras.backend.backend() == "jax" or device.gpu_available()


class Compiled(NamedTuple):
    """What :func:`compile_for_speed` chose: the compiled model (a copy when the precision
    changed), the precision policy and whether XLA compiles the step."""

    model: keras.Model
    precision: str
    jit_compile: bool


def compile_for_speed(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    loss="sparse_categorical_crossentropy",
    metrics=("accuracy",),
    mixed_precision: str | None = "auto",
    jit_compile: bool | str = "auto",
) -> Compiled:
    """Compile ``model`` for speed on the current device.

    Args:
        model: the model (not modified; a copy is returned when the precision changes).
        optimizer, loss, metrics: as for ``model.compile``.
        mixed_precision: "auto" (:func:`choose_precision`), "float32" or None (off),
            "mixed_float16" (the optimizer is wrapped in a ``LossScaleOptimizer`` so small
            float16 gradients do not underflow) or "mixed_bfloat16" (no scaling needed:
            bfloat16 has float32's exponent range).
        jit_compile: XLA compilation; "auto" is :func:`auto_jit_compile`.

    Returns:
        ``Compiled(model, precision, jit_compile)``: unpack it as
        ``model, precision, jit = compile_for_speed(...)``.

    Raises:
        ValueError: an unknown precision or jit_compile value.
    """
    if mixed_precision not in PRECISIONS:
        raise ValueError(f"mixed_precision must be one of {PRECISIONS}, got {mixed_precision!r}")
    if jit_compile not in (True, False, "auto"):
        raise ValueError(f"jit_compile must be True, False or 'auto', got {jit_compile!r}")
    policy = choose_precision() if mixed_precision == "auto" else (mixed_precision or "float32")
    if policy != "float32":
        model = with_precision(model, policy)
    if policy == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    if jit_compile == "auto":
        jit_compile = auto_jit_compile()
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics or []),
                  jit_compile=jit_compile)
    return Compiled(model, policy, bool(jit_compile))


class ThroughputCallback(keras.callbacks.Callback):
    """Training images per second of each epoch of ``fit``, validation excluded, with the
    first (compiling) epoch reported apart from the steady state.

    It times whole epochs and takes the step count from ``fit``'s parameters, so it
    defines no per-batch hook: Keras then dispatches steps asynchronously instead of
    waiting for every step's results (a per-batch hook cost 29% on an H200). It reads
    the clock once the epoch's last step has finished, not when it was dispatched.

    Args:
        batch_size: images per step (the last, partial batch is counted as full).

    Attributes:
        epoch_seconds: wall time of every epoch's training part.
        images_per_second: training throughput of every epoch.

    Raises:
        ValueError: batch_size < 1; at the end of an epoch, a ``fit`` whose number of
            steps per epoch is unknown (pass ``steps_per_epoch``).
    """

    async_safe = True  # no per-batch hook: nothing forces a sync per step

    def __init__(self, batch_size: int):
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        self.epoch_seconds: list[float] = []
        self.images_per_second: list[float] = []
        self._start: float | None = None
        self._train_seconds: float | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._train_seconds = None
        self._start = time.perf_counter()

    def _wait_for_last_step(self) -> None:
        # On JAX and PyTorch, fit reaches validation while the steps it dispatched may
        # still be running (measured on JAX: 0.014 s for an epoch of 0.3 s). The optimizer's
        # step counter is an output of the last step: reading it waits for that step.
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            ops.convert_to_numpy(optimizer.iterations)

    def on_test_begin(self, logs=None):
        if self._start is not None and self._train_seconds is None:
            self._wait_for_last_step()
            self._train_seconds = time.perf_counter() - self._start

    def on_epoch_end(self, epoch, logs=None):
        if self._train_seconds is None:
            self._wait_for_last_step()
        seconds = self._train_seconds or (time.perf_counter() - self._start)
        steps = self.params.get("steps")
        if not steps:
            raise ValueError("ThroughputCallback needs fit's steps per epoch; the data's length "
                             "is unknown, so pass steps_per_epoch to fit")
        self.epoch_seconds.append(seconds)
        self.images_per_second.append(steps * self.batch_size / seconds)
        self._start = None
        if logs is not None:
            logs["images_per_second"] = self.images_per_second[-1]

    @property
    def first_epoch(self) -> float:
        """Throughput of the first epoch, which includes tracing and compilation."""
        return self.images_per_second[0]

    @property
    def steady_state(self) -> float:
        """Mean throughput of the epochs after the first (the first if only one ran)."""
        rest = self.images_per_second[1:] or self.images_per_second
        return sum(rest) / len(rest)


def fit_images_per_second(model: keras.Model, x, y, batch_size: int, steps: int = 8) -> float:
    """Training images per second of a compiled ``model`` as the course states every
    training rate: the steady state of ``fit`` (:class:`ThroughputCallback`), here over two
    epochs of ``steps`` batches, the first of which compiles. The batches are the first
    ``batch_size * steps`` rows of ``x`` and ``y``, repeated from the start where there
    are fewer.

    Raises:
        ValueError: batch_size or steps < 1, or x and y empty or of different lengths.
    """
    for name, value in (("batch_size", batch_size), ("steps", steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"x and y need the same number of rows, at least one; got {len(x)} and {len(y)}")
    rows = np.arange(batch_size * steps) % len(x)
    meter = ThroughputCallback(batch_size)
    model.fit(np.asarray(x)[rows], np.asarray(y)[rows], batch_size=batch_size, epochs=2,
              shuffle=False, verbose=0, callbacks=[meter])
    return meter.steady_state


def images_per_second(
    step: Callable[[], Any],
    images_per_step: int,
    steps: int = 8,
    warmup: int = 2,
    synchronise: Callable[[Any], Any] | None = None,
) -> float:
    """Time ``step`` (one training step, one batch of a pipeline, ...) and return images per
    second: ``warmup`` untimed calls (tracing, compilation, caches), then ``steps`` timed
    calls, then one ``synchronise(last result)`` inside the timed part so that work still
    queued on an accelerator is counted.

    Args:
        step: a function of no arguments doing one unit of work.
        images_per_step: images that one call processes.
        steps, warmup: timed and untimed calls.
        synchronise: waits for the device, given the last call's result (e.g.
            ``keras.ops.convert_to_numpy``); None when ``step`` already returns host values.

    Raises:
        ValueError: images_per_step or steps < 1, or warmup < 0.
    """
    for name, value, least in (("images_per_step", images_per_step, 1), ("steps", steps, 1),
                               ("warmup", warmup, 0)):
        if value < least:
            raise ValueError(f"{name} must be >= {least}, got {value!r}")
    for _ in range(warmup):
        result = step()
    if warmup and synchronise is not None:
        synchronise(result)
    start = time.perf_counter()
    for _ in range(steps):
        result = step()
    if synchronise is not None:
        synchronise(result)
    return images_per_step * steps / (time.perf_counter() - start)


@keras.saving.register_keras_serializable(package="alexnet_book")
class DeviceCentring(keras.layers.Layer):
    """:func:`alexnet_book.data.centre` on the device: uint8 images in, float32 pixel values
    minus the training mean out (with a channel axis for greyscale), so the host sends one
    byte per pixel and no float copy of the data set is ever made.

    The layer always computes in float32, whatever the model's precision policy (a
    bfloat16 subtraction would round the result): the same numbers as ``data.centre``.

    Args:
        mean: the training mean image, ``(h, w)`` or ``(h, w, c)``
            (:func:`alexnet_book.data.mean_image`).

    Raises:
        ValueError: ``mean`` is not one image; at build time, images of another shape.
    """

    def __init__(self, mean, **kwargs):
        kwargs["dtype"] = "float32"  # exact whatever policy with_precision asks for
        super().__init__(**kwargs)
        self.mean = np.asarray(mean, dtype="float32")
        if self.mean.ndim not in (2, 3):
            raise ValueError(f"mean must be one image, (h, w) or (h, w, c), got shape {self.mean.shape}")

    def build(self, input_shape):
        if tuple(input_shape[1:]) != self.mean.shape:
            raise ValueError(f"images must have the mean's shape {self.mean.shape} after the batch "
                             f"axis, got images of shape {tuple(input_shape)}")

    def call(self, images):
        centred = ops.cast(images, "float32") - ops.convert_to_tensor(self.mean)
        return centred[..., None] if self.mean.ndim == 2 else centred

    def compute_output_shape(self, input_shape):
        return (*input_shape, 1) if self.mean.ndim == 2 else input_shape

    def get_config(self):
        return {**super().get_config(), "mean": self.mean.tolist()}

