"""Training as the paper did it (section 5), on any Keras backend.

Nothing here imports TensorFlow: the same code runs on JAX and PyTorch.
"""

from __future__ import annotations

import time

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="alexnet_book")
class PaperSGD(keras.optimizers.SGD):
    """SGD with momentum and weight decay exactly as section 5 writes the update::

        v <- 0.9 v - 0.0005 * lr * w - lr * dL/dw
        w <- w + v

    The decay term goes through the momentum, as an L2 penalty would. Keras' own
    ``SGD(weight_decay=...)`` is decoupled: it shrinks the weights once per step outside
    the momentum, which with momentum 0.9 is about ten times weaker than the paper's rule.

    Args:
        learning_rate: the paper's 0.01 (or a schedule).
        momentum: the paper's 0.9.
        decay: the paper's weight decay, 0.0005.

    Raises:
        ValueError: a negative decay.
    """

    def __init__(self, learning_rate=0.01, momentum: float = 0.9, decay: float = 5e-4,
                 name: str = "paper_sgd", **kwargs):
        if decay < 0:
            raise ValueError(f"decay must be >= 0, got {decay!r}")
        super().__init__(learning_rate=learning_rate, momentum=momentum, name=name, **kwargs)
        self.decay = float(decay)

    def update_step(self, gradient, variable, learning_rate):
        if self.decay:
            gradient = ops.add(gradient, ops.multiply(ops.cast(self.decay, variable.dtype), variable))
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "decay": self.decay}


def paper_recipe(
    learning_rate: float = 0.01,
    momentum: float = 0.9,
    decay: float = 5e-4,
    patience: int = 2,
    min_learning_rate: float = 1e-5,
) -> tuple[PaperSGD, list[keras.callbacks.Callback]]:
    """The paper's optimiser and schedule (section 5): momentum SGD with weight decay,
    learning rate 0.01 divided by 10 when validation accuracy stops improving. Use it
    with batch size 128.

    Returns:
        ``(optimizer, callbacks)`` for ``compile`` and ``fit`` (the callback watches
        ``val_accuracy``, so ``fit`` needs validation data).
    """
    optimizer = PaperSGD(learning_rate=learning_rate, momentum=momentum, decay=decay)
    schedule = keras.callbacks.ReduceLROnPlateau(
        monitor="val_accuracy", mode="max", factor=0.1, patience=patience,
        min_lr=min_learning_rate, verbose=0,
    )
    return optimizer, [schedule]


class ThroughputCallback(keras.callbacks.Callback):
    """Images per second of each training epoch, with the first (compiling) epoch
    reported apart from the steady state.

    Args:
        batch_size: images per step (the last, partial batch is counted as full).

    Attributes:
        epoch_seconds: wall time of every epoch.
        images_per_second: throughput of every epoch.
    """

    def __init__(self, batch_size: int):
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.batch_size = batch_size
        self.epoch_seconds: list[float] = []
        self.images_per_second: list[float] = []
        self._start = 0.0
        self._steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._steps = 0
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        self.epoch_seconds.append(seconds)
        self.images_per_second.append(self._steps * self.batch_size / seconds)
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


PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16", None)


def gpu_compute_capability() -> tuple[int, int] | None:
    """The first GPU's CUDA compute capability on the current backend, or None."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                return tuple(tf.config.experimental.get_device_details(gpus[0])["compute_capability"])
        elif backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            if gpus:
                major, minor = str(gpus[0].compute_capability).split(".")
                return int(major), int(minor)
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return tuple(torch.cuda.get_device_capability(0))
    except (ImportError, RuntimeError, KeyError, AttributeError, ValueError):
        return None
    return None


def choose_precision() -> str:
    """The mixed-precision policy for this device: ``mixed_bfloat16`` on GPUs with
    bfloat16 tensor cores (compute capability 8.0 and newer: A100, H100, RTX 30xx...),
    ``mixed_float16`` (with loss scaling) on older GPUs, ``float32`` on the CPU."""
    capability = gpu_compute_capability()
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


def compile_for_speed(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    loss="sparse_categorical_crossentropy",
    metrics=("accuracy",),
    mixed_precision: str | None = "auto",
    jit_compile: bool | str = "auto",
) -> keras.Model:
    """Compile ``model`` for speed on the current device.

    Args:
        model: the model (not modified; a copy is returned when the precision changes).
        optimizer, loss, metrics: as for ``model.compile``.
        mixed_precision: "auto" (:func:`choose_precision`), "float32" or None (off),
            "mixed_float16" (the optimizer is wrapped in a ``LossScaleOptimizer`` so small
            float16 gradients do not underflow) or "mixed_bfloat16" (no scaling needed:
            bfloat16 has float32's exponent range).
        jit_compile: XLA compilation; "auto" turns it on when a GPU is present (on this
            course's CPU it was measured slower for AlexNet).

    Returns:
        The compiled model (a copy when the precision changed).

    Raises:
        ValueError: an unknown precision.
    """
    if mixed_precision not in PRECISIONS:
        raise ValueError(f"mixed_precision must be one of {PRECISIONS}, got {mixed_precision!r}")
    policy = choose_precision() if mixed_precision == "auto" else (mixed_precision or "float32")
    if policy != "float32":
        model = with_precision(model, policy)
    if policy == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    if jit_compile == "auto":
        from alexnet_book.profile import gpu_available

        jit_compile = gpu_available()
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics or []),
                  jit_compile=jit_compile)
    return model


def backup_callback(name: str, root=None) -> keras.callbacks.BackupAndRestore:
    """Checkpoint-and-resume for long runs (Colab disconnects): ``fit`` saves its state
    every epoch under ``runs/backup/<name>`` and, if interrupted, resumes from the last
    saved epoch when called again with the same callback folder. The folder is deleted
    when training finishes."""
    from alexnet_book.tracking import runs_dir

    folder = (root or runs_dir()) / "backup" / name
    return keras.callbacks.BackupAndRestore(str(folder), save_freq="epoch",
                                            delete_checkpoint=True)
