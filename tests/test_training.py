import keras
import numpy as np
import pytest

from alexnet_book import training


def test_paper_sgd_follows_section_5_update_rule():
    """v <- 0.9 v - 0.0005 lr w - lr g; w <- w + v, for two steps by hand."""
    w0, g, lr = 2.0, 0.5, 0.1
    variable = keras.Variable(np.array([w0], "float32"))
    optimizer = training.PaperSGD(learning_rate=lr, momentum=0.9, decay=5e-4)
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

    ours = run(training.PaperSGD(0.1, momentum=0.9, decay=0.01))
    keras_sgd = run(keras.optimizers.SGD(0.1, momentum=0.9, weight_decay=0.01))
    # With no gradient, decay through momentum shrinks w much faster than decoupled decay.
    assert 1 - ours > 5 * (1 - keras_sgd) > 0


def test_paper_sgd_serialises_and_rejects_negative_decay():
    optimizer = training.PaperSGD(decay=1e-3)
    clone = training.PaperSGD.from_config(optimizer.get_config())
    assert clone.decay == 1e-3 and float(clone.momentum) == 0.9
    with pytest.raises(ValueError, match="decay must be >= 0, got -1"):
        training.PaperSGD(decay=-1)


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


def test_throughput_callback_counts_images_per_second():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    meter = training.ThroughputCallback(batch_size=8)
    history = model.fit(np.ones((64, 4)), np.ones((64, 1)), batch_size=8, epochs=3, verbose=0,
                        callbacks=[meter])
    assert len(meter.images_per_second) == 3 and all(r > 0 for r in meter.images_per_second)
    assert meter.images_per_second[1] == pytest.approx(64 / meter.epoch_seconds[1])
    assert meter.steady_state == pytest.approx(np.mean(meter.images_per_second[1:]))
    assert meter.first_epoch == meter.images_per_second[0]
    assert history.history["images_per_second"] == meter.images_per_second
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        training.ThroughputCallback(0)


def _tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(hidden))


def test_choose_precision_on_cpu_is_float32(monkeypatch):
    monkeypatch.setattr(training, "gpu_compute_capability", lambda: None)
    assert training.choose_precision() == "float32"
    monkeypatch.setattr(training, "gpu_compute_capability", lambda: (9, 0))
    assert training.choose_precision() == "mixed_bfloat16"
    monkeypatch.setattr(training, "gpu_compute_capability", lambda: (7, 5))
    assert training.choose_precision() == "mixed_float16"


@pytest.mark.parametrize("policy, compute", [("mixed_bfloat16", "bfloat16"),
                                             ("mixed_float16", "float16")])
def test_compile_for_speed_sets_precision_and_loss_scaling(policy, compute):
    model = _tiny_model()
    fast = training.compile_for_speed(model, keras.optimizers.SGD(0.01),
                                      mixed_precision=policy, jit_compile=False)
    assert fast.get_layer("hidden").compute_dtype == compute
    assert fast.get_layer("out").compute_dtype == "float32"
    for a, b in zip(fast.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert isinstance(fast.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    x = np.random.default_rng(0).random((16, 4)).astype("float32")
    fast.fit(x, np.arange(16) % 3, epochs=1, verbose=0)
    assert fast.predict(x, verbose=0).dtype == np.float32


def test_compile_for_speed_rejects_unknown_precision():
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        training.compile_for_speed(_tiny_model(), keras.optimizers.SGD(), mixed_precision="fp8")
    with pytest.raises(ValueError, match="policy must be"):
        training.with_precision(_tiny_model(), "int8")


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
