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
