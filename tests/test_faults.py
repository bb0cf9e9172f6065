"""Faults injected into checkpoint-and-resume (issue 16, item 1): a damaged backup stops
``fit`` with a clear error before anything trains, and the evidence is kept."""

import json

import keras
import numpy as np
import pytest

from alexnet_book import training

X = np.random.default_rng(0).random((32, 4)).astype("float32")
Y = np.arange(32) % 3


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
    return model


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("runtime disconnected")


@pytest.fixture
def backup(tmp_path):
    """The folder an interrupted 5-epoch fit leaves: weights and metadata after epoch 2."""
    with pytest.raises(RuntimeError, match="disconnected"):
        _model().fit(X, Y, epochs=5, batch_size=8, verbose=0,
                     callbacks=[training.backup_callback("run", root=tmp_path), _Interrupt()])
    folder = tmp_path / "backup" / "run"
    assert json.loads((folder / "training_metadata.json").read_text())["epoch"] == 2
    return folder


def _resume(folder):
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    callback = training.backup_callback(folder.name, root=folder.parent.parent)
    with pytest.raises(training.IncompleteBackupError) as error:
        model.fit(X, Y, epochs=5, batch_size=8, verbose=0, callbacks=[callback])
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)  # nothing trained
    assert folder.is_dir()  # the evidence is kept
    message = str(error.value)
    assert str(folder) in message and "Delete it to train from scratch" in message
    return message


def test_missing_weights_is_refused(backup):
    (backup / "latest.weights.h5").unlink()
    assert "latest.weights.h5 is missing (the metadata says epoch 2" in _resume(backup)


def test_missing_metadata_is_refused(backup):
    (backup / "training_metadata.json").unlink()
    assert "training_metadata.json is missing, so the epoch to resume from is unknown" in _resume(backup)


def test_truncated_metadata_is_refused(backup):
    path = backup / "training_metadata.json"
    path.write_text(path.read_text()[:5])
    assert "training_metadata.json is unreadable" in _resume(backup)


def test_weights_from_another_epoch_are_refused(backup):
    weights = backup / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes() + b"\0")  # another file than the record's
    assert "latest.weights.h5 is not the file the metadata (epoch 2) was written with" in _resume(backup)


def test_unloadable_weights_are_refused(backup):
    path = backup / "training_metadata.json"
    path.write_text(json.dumps({"epoch": 2, "batch": 0}))  # written by plain Keras: no hash
    (backup / "latest.weights.h5").write_bytes(b"not an HDF5 file")
    assert "its weights do not load" in _resume(backup)


def test_an_intact_backup_still_resumes_exactly(backup):
    reference = _model()
    reference.fit(X, Y, epochs=5, batch_size=8, verbose=0)
    resumed = _model()
    history = resumed.fit(X, Y, epochs=5, batch_size=8, verbose=0,
                          callbacks=[training.backup_callback("run", root=backup.parent.parent)])
    assert len(history.history["loss"]) == 3 and history.epoch == [2, 3, 4]
    for a, b in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not backup.exists()
