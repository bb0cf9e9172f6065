import numpy as np
import pytest

import keras
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
