import keras
import numpy as np
import pytest

from alexnet_book import training


def test_paper_sgd_follows_section_5_update_rule():
    """v <- 0.9 v - 0.0005 lr w - lr g; w <- w + v, for two steps by hand."""
    w0, g, lr = 2.0, 0.5, 0.1
    variable = keras.Variable(np.array([w0], "float32"))
    optimizer = training.PaperSGD(learning_rate=lr, momentum=0.9, coupled_weight_decay=5e-4)
    w, v = w0, 0.0
    for _ in range(2):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(np.array([g], "float32")), variable)])
        v = 0.9 * v - 5e-4 * lr * w - lr * g
        w = w + v
    assert keras.ops.convert_to_numpy(variable)[0] == pytest.approx(w, rel=1e-6)


def test_paper_sgd_differs_from_keras_decoupled_decay():
    def run(optimizer):
        variable = keras.Variable(np.array([1.0], "float32"))
        for _ in range(20):
            optimizer.apply_gradients([(keras.ops.zeros((1,)), variable)])
        return float(keras.ops.convert_to_numpy(variable)[0])

    ours = run(training.PaperSGD(0.1, momentum=0.9, coupled_weight_decay=0.01))
    keras_sgd = run(keras.optimizers.SGD(0.1, momentum=0.9, weight_decay=0.01))
    # With no gradient, decay through momentum shrinks w much faster than decoupled decay.
    assert 1 - ours > 5 * (1 - keras_sgd) > 0


def test_paper_sgd_serialises_and_rejects_negative_decay():
    optimizer = training.PaperSGD(coupled_weight_decay=1e-3)
    clone = training.PaperSGD.from_config(optimizer.get_config())
    assert clone.coupled_weight_decay == 1e-3 and float(clone.momentum) == 0.9
    with pytest.raises(ValueError, match="coupled_weight_decay must be >= 0, got -1"):
        training.PaperSGD(coupled_weight_decay=-1)


def test_paper_recipe_divides_the_rate_by_ten_on_a_plateau():
    optimizer, callbacks = training.paper_recipe(patience=1)
    assert float(optimizer.learning_rate) == pytest.approx(0.01)
    (plateau,) = callbacks
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau)
    assert plateau.factor == pytest.approx(0.1) and plateau.monitor == "val_accuracy"
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.zeros((8, 2), "float32")  # constant inputs: validation accuracy cannot improve
    y = np.array([0, 1] * 4)
    model.fit(x, y, validation_data=(x, y), epochs=4, verbose=0, callbacks=callbacks)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) < 0.01 / 9


def _tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(hidden))


def test_compile_with_paper_recipe_uses_paper_sgd_and_the_plateau_rule():
    model, callbacks = training.compile_with_paper_recipe(_tiny_model(), learning_rate=0.02)
    assert isinstance(model.optimizer, training.PaperSGD)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.02)
    assert model.optimizer.coupled_weight_decay == pytest.approx(5e-4)
    assert isinstance(callbacks[0], keras.callbacks.ReduceLROnPlateau)
    assert model.loss == "sparse_categorical_crossentropy"


def test_step_schedule_divides_by_ten_at_the_fractions():
    schedule = training.step_schedule(10)
    rates = [schedule.schedule(epoch) for epoch in range(10)]
    assert rates[:6] == [0.01] * 6
    assert rates[6:9] == pytest.approx([0.001] * 3) and rates[9] == pytest.approx(0.0001)
    for bad, message in (({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
                         ({"epochs": 5, "learning_rate": 0}, "learning_rate must be > 0"),
                         ({"epochs": 5, "drops": (1.5,)}, "drops must be fractions")):
        with pytest.raises(ValueError, match=message):
            training.step_schedule(**bad)


def test_backup_and_restore_resumes_an_interrupted_fit(tmp_path):
    x = np.random.default_rng(0).random((32, 4)).astype("float32")
    y = np.arange(32) % 3

    def fit(model, callbacks, epochs=4):
        model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
        return model.fit(x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0,
                         callbacks=callbacks)

    reference = _tiny_model()
    fit(reference, [])

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("runtime disconnected")

    interrupted = _tiny_model()
    with pytest.raises(RuntimeError, match="disconnected"):
        fit(interrupted, [training.backup_callback("t", root=tmp_path), Interrupt()])
    assert (tmp_path / "backup" / "t").is_dir()
    resumed = _tiny_model()  # a fresh process would rebuild the model from scratch
    history = fit(resumed, [training.backup_callback("t", root=tmp_path)])
    assert len(history.history["loss"]) == 2  # only epochs 3 and 4 ran again
    for a, b in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not (tmp_path / "backup" / "t").exists()


def _tiny_net():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dropout(0.5), keras.layers.Dense(3, activation="softmax")])


def test_train_is_the_chapters_skeleton_and_the_seed_decides_everything():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 3, 64)
    runs = [training.train(_tiny_net, x, y, seed=3, epochs=2, images_per_step=16, validation_data=(x, y))
            for _ in range(2)]
    (model, history, meter), (again, history_again, _) = runs
    assert isinstance(model.optimizer, training.PaperSGD)
    assert len(history["loss"]) == 2 and "val_accuracy" in history and "learning_rate" in history
    assert history["loss"] == history_again["loss"]  # weights, dropout and shuffling from the seed
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), again.get_weights()))
    assert meter.steady_state > 0
    other = training.train(_tiny_net, x, y, seed=4, epochs=2, images_per_step=16, plateau=False)[1]
    assert other["loss"] != history["loss"] and "val_accuracy" not in other


def test_train_refuses_a_plateau_without_validation_data_before_building():
    built = []
    with pytest.raises(ValueError, match="validation_data"):
        training.train(lambda: built.append(1), np.zeros((4, 4)), np.zeros(4), seed=0, epochs=1,
                       images_per_step=2)
    with pytest.raises(ValueError, match="epochs and images_per_step"):
        training.train(_tiny_net, np.zeros((4, 4)), np.zeros(4), seed=0, epochs=0, images_per_step=2,
                       plateau=False)
    assert built == []


def test_train_builds_a_pipeline_after_the_seed_when_given_a_function():
    import tensorflow as tf

    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = np.arange(64) % 3

    def pipeline():  # shuffled by TensorFlow's global seed, as the course's pipeline is
        return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64).batch(16)

    def run():
        return training.train(_tiny_net, pipeline, seed=5, epochs=1, images_per_step=16, plateau=False,
                              shuffle=False)[1]  # the dataset shuffles

    first = run()
    tf.random.uniform(())  # moves the global generator: a dataset built here would shuffle differently
    again = run()
    assert first["loss"] == again["loss"]


def test_train_passes_fit_options_and_gives_loggers_the_meters_rate():
    seen = []

    class Logger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(dict(logs))

    x = np.random.default_rng(2).normal(size=(64, 4)).astype("float32")
    y = np.arange(64) % 3
    history = training.train(_tiny_net, x, y, seed=0, epochs=2, images_per_step=16, validation_split=0.25,
                             callbacks=[Logger()], verbose=0)[1]
    assert "val_accuracy" in history and all(logs.get("images_per_second", 0) > 0 for logs in seen)
