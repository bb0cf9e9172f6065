"""Training as the paper did it (section 5), on any Keras backend: the optimiser, the
learning-rate schedule, compiling with that recipe, and checkpoint-and-resume. Speed
settings (precision, XLA) and throughput timing live in :mod:`alexnet_book.speed`.

Nothing here imports TensorFlow: the same code runs on JAX and PyTorch.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
from keras import ops

from alexnet_book.speed import ThroughputCallback, compile_for_speed
from alexnet_book.tracking import runs_dir


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
        coupled_weight_decay: the paper's weight decay, 0.0005, added to the gradient
            before the momentum (not Keras' decoupled ``weight_decay``).

    Raises:
        ValueError: a negative coupled_weight_decay.
    """

    def __init__(self, learning_rate=0.01, momentum: float = 0.9,
                 coupled_weight_decay: float = 5e-4, name: str = "paper_sgd", **kwargs):
        if not coupled_weight_decay >= 0:
            raise ValueError(f"coupled_weight_decay must be >= 0, got {coupled_weight_decay!r}")
        super().__init__(learning_rate=learning_rate, momentum=momentum, name=name, **kwargs)
        self.coupled_weight_decay = float(coupled_weight_decay)

    def update_step(self, gradient, variable, learning_rate):
        if self.coupled_weight_decay:
            decay = ops.cast(self.coupled_weight_decay, variable.dtype)
            gradient = ops.add(gradient, ops.multiply(decay, variable))
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "coupled_weight_decay": self.coupled_weight_decay}


def paper_recipe(
    learning_rate: float = 0.01,
    momentum: float = 0.9,
    coupled_weight_decay: float = 5e-4,
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
    optimizer = PaperSGD(learning_rate=learning_rate, momentum=momentum,
                         coupled_weight_decay=coupled_weight_decay)
    schedule = keras.callbacks.ReduceLROnPlateau(
        monitor="val_accuracy", mode="max", factor=0.1, patience=patience,
        min_lr=min_learning_rate, verbose=0,
    )
    return optimizer, [schedule]


def compile_with_paper_recipe(
    model: keras.Model,
    mixed_precision: str | None = "float32",
    jit_compile: bool | str = False,
    **recipe,
) -> tuple[keras.Model, list[keras.callbacks.Callback]]:
    """Compile ``model`` with :func:`paper_recipe` (sparse cross-entropy, accuracy), the
    course's one way to prepare a network for ``fit``.

    Args:
        model: an uncompiled model.
        mixed_precision, jit_compile: as in :func:`alexnet_book.speed.compile_for_speed`;
            the defaults (float32, no XLA) are what the CPU runs fastest.
        **recipe: overrides of :func:`paper_recipe` (learning_rate, momentum, ...).

    Returns:
        ``(model, callbacks)``: the compiled model (a copy when the precision changed) and
        the schedule's callbacks for ``fit``.
    """
    optimizer, callbacks = paper_recipe(**recipe)
    compiled = compile_for_speed(model, optimizer, mixed_precision=mixed_precision,
                                 jit_compile=jit_compile)
    return compiled.model, callbacks


def train(
    build: Callable[[], keras.Model],
    x,
    y=None,
    *,
    seed: int,
    epochs: int,
    images_per_step: int,
    validation_data=None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    plateau: bool = True,
    **fit_options,
):
    """One training run as the chapters write it: seed everything, build a fresh network,
    compile it with the paper's recipe, fit it with a throughput meter.

    Args:
        build: returns the uncompiled network; called after the seed is set, so the seed
            decides the initial weights as well as dropout and the order of the data.
        x, y: arrays (then ``images_per_step`` is also fit's batch size), or a dataset of
            batches or a function of no arguments returning one (``y`` None): a function is
            called after the seed is set, so that a pipeline's shuffling follows the seed
            too (likewise ``validation_data``; a random layer built outside the function
            keeps its own state).
        seed: for :func:`keras.utils.set_random_seed`.
        epochs, validation_data, **fit_options: as in ``fit`` (``verbose`` 0 unless given).
        images_per_step: the batch size, for the meter.
        callbacks: more callbacks for ``fit``, after the recipe's and the meter's (so a
            logger sees the epoch's ``images_per_second``).
        plateau: keep the recipe's division of the rate by 10 on a validation plateau
            (it needs ``validation_data``); False trains at the constant rate.

    Returns:
        ``(model, history, meter)``: the trained model, ``fit``'s history dict and the
        :class:`~alexnet_book.speed.ThroughputCallback` with the images per second.

    Raises:
        ValueError: epochs or images_per_step < 1, or a plateau schedule without
            validation data (``validation_data`` or ``validation_split``).
    """
    if epochs < 1 or images_per_step < 1:
        raise ValueError(f"epochs and images_per_step must be >= 1, got {epochs!r}, {images_per_step!r}")
    if plateau and validation_data is None and not fit_options.get("validation_split"):
        raise ValueError("the plateau schedule watches val_accuracy: give validation_data, or plateau=False")
    keras.utils.set_random_seed(seed)
    x = x() if callable(x) else x
    validation_data = validation_data() if callable(validation_data) else validation_data
    model, schedule = compile_with_paper_recipe(build())
    meter = ThroughputCallback(images_per_step)
    if y is not None:
        fit_options.setdefault("batch_size", images_per_step)
    fit_options.setdefault("verbose", 0)
    history = model.fit(x, y, epochs=epochs, validation_data=validation_data,
                        callbacks=[*(schedule if plateau else []), meter, *callbacks], **fit_options)
    return model, history.history, meter


def step_schedule(
    epochs: int, learning_rate: float = 0.01, drops: tuple[float, ...] = (0.6, 0.9)
) -> keras.callbacks.LearningRateScheduler:
    """The paper divides the learning rate by 10 when the validation error stops improving
    (section 5, three times); this schedule stands in for that rule with drops at fixed fractions
    of a short budget: with ``epochs=10`` and the defaults, 0.01 for epochs 0-5, 0.001 for
    6-8, 0.0001 for 9. Use it instead of the plateau rule when there are too few epochs
    for a plateau to show.

    Raises:
        ValueError: epochs < 1, learning_rate <= 0, or a drop outside (0, 1).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    if any(not 0 < d < 1 for d in drops):
        raise ValueError(f"drops must be fractions of the budget in (0, 1), got {drops!r}")

    def rate(epoch, _current=None):
        return stepped_rate(epoch, epochs, learning_rate, drops)

    return keras.callbacks.LearningRateScheduler(rate)


def stepped_rate(epoch: int, epochs: int, learning_rate: float, drops: tuple[float, ...]) -> float:
    """The learning rate of ``epoch`` (0-based) when the rate is divided by 10 after each
    fraction ``drops`` of ``epochs``: the one rule :func:`step_schedule` and the claims
    runner share."""
    boundaries = sorted(round(d * epochs) for d in drops)
    return learning_rate * 0.1 ** sum(epoch >= b for b in boundaries)


class IncompleteBackupError(RuntimeError):
    """A training backup lacks a file or its files disagree: resuming from it would train
    the wrong epochs or start from the wrong weights."""


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class CheckedBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore`` that refuses a backup it cannot resume exactly (a
    missing weights or metadata file, unreadable metadata, weights written by another
    epoch than the metadata says, weights that do not load) instead of silently training
    the wrong epochs, and keeps the folder as evidence. The metadata also records the
    sha256 of the weights it belongs to."""

    def _backup_problem(self) -> str | None:
        weights, metadata = Path(self._weights_path), Path(self._training_metadata_path)
        if not weights.is_file() and not metadata.is_file():
            return None  # no backup: a fresh start
        if not metadata.is_file():
            return (f"{metadata.name} is missing, so the epoch to resume from is unknown "
                    "(resuming would restart at epoch 0 and train too many epochs)")
        try:
            record = json.loads(metadata.read_text())
        except (OSError, ValueError) as error:
            return f"{metadata.name} is unreadable ({error})"
        epoch = record.get("epoch") if isinstance(record, dict) else None
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            return f"{metadata.name} holds no valid epoch: {record!r}"
        if not weights.is_file():
            return (f"{weights.name} is missing (the metadata says epoch {epoch}; resuming "
                    "would continue from freshly initialised weights)")
        expected = record.get("weights_sha256")
        if expected is not None and _sha256(weights) != expected:
            return (f"{weights.name} is not the file the metadata (epoch {epoch}) was written "
                    "with (interrupted while saving, or replaced)")
        return None

    def _refuse(self, problem: str) -> IncompleteBackupError:
        return IncompleteBackupError(
            f"The training backup in {self.backup_dir} cannot be resumed exactly: {problem}. "
            "Nothing was trained and the folder is kept. Delete it to train from scratch "
            f"(shutil.rmtree({str(self.backup_dir)!r})), or restore its files.")

    def on_train_begin(self, logs=None):
        problem = self._backup_problem()
        if problem:
            raise self._refuse(problem)
        if not Path(self._weights_path).is_file() or not self.model.built:
            return super().on_train_begin(logs)  # nothing to restore, or Keras' own error
        try:
            super().on_train_begin(logs)
        except (OSError, ValueError, KeyError) as error:  # a damaged file, another model's weights
            raise self._refuse(f"its weights do not load ({type(error).__name__}: {error})") from error

    def _save_model(self):
        super()._save_model()  # the weights, then the metadata
        metadata = Path(self._training_metadata_path)
        record = json.loads(metadata.read_text())
        record["weights_sha256"] = _sha256(self._weights_path)
        partial = metadata.with_name(metadata.name + ".partial")
        partial.write_text(json.dumps(record))
        os.replace(partial, metadata)  # atomic: the old record or the new one, never half


def backup_callback(name: str, root=None) -> CheckedBackupAndRestore:
    """Checkpoint-and-resume for long runs (Colab disconnects): ``fit`` saves its state
    every epoch under ``runs/backup/<name>`` and, if interrupted, resumes from the last
    saved epoch when called again with the same callback folder. The folder is deleted
    when training finishes.

    A backup that cannot be resumed exactly (a file missing or damaged, weights and
    metadata from different epochs) stops ``fit`` with :class:`IncompleteBackupError`
    naming the problem, before anything is trained; the folder is kept.
    """
    folder = Path(root or runs_dir()) / "backup" / name
    return CheckedBackupAndRestore(str(folder), save_freq="epoch", delete_checkpoint=True)
