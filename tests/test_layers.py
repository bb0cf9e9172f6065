import keras
import numpy as np
import pytest
import tensorflow as tf
from keras_checks import assert_survives_save_and_load

from alexnet_book.layers import LocalResponseNormalization, TowerConv2D, from_torch_settings


def _random(shape, seed=0):
    # Values of a few units make the denominator matter despite alpha = 1e-4.
    return np.random.default_rng(seed).normal(0, 30, shape).astype("float32")


@pytest.mark.parametrize("radius", [0, 1, 2, 5])
def test_equals_tensorflow_including_edge_channels(radius):
    x = _random((2, 5, 5, 7))
    layer = LocalResponseNormalization(depth_radius=radius, bias=2.0, alpha=1e-4, beta=0.75)
    ours = keras.ops.convert_to_numpy(layer(x))
    theirs = tf.nn.local_response_normalization(x, depth_radius=radius, bias=2.0,
                                                alpha=1e-4, beta=0.75).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours, x / 2.0**0.75)  # the window really normalised something


def test_gradient_equals_tensorflow():
    x = tf.constant(_random((1, 3, 3, 9), seed=1))
    layer = LocalResponseNormalization()
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours = tf.reduce_sum(tf.sin(layer(x)))
        theirs = tf.reduce_sum(tf.sin(tf.nn.local_response_normalization(
            x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)))
    np.testing.assert_allclose(tape.gradient(ours, x), tape.gradient(theirs, x),
                               rtol=1e-4, atol=1e-6)


def test_matches_the_papers_formula_by_hand():
    x = np.zeros((1, 1, 1, 6), "float32")
    x[..., 2] = 100.0
    out = keras.ops.convert_to_numpy(LocalResponseNormalization()(x))[0, 0, 0]
    assert out[2] == pytest.approx(100.0 / (2 + 1e-4 * 100.0**2) ** 0.75, rel=1e-6)
    assert np.all(out[[0, 1, 3, 4, 5]] == 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"depth_radius": -1}, "depth_radius must be an integer >= 0, got -1"),
    ({"depth_radius": 1.5}, "depth_radius must be an integer >= 0, got 1.5"),
    ({"bias": 0}, "bias must be > 0, got 0"),
    ({"beta": -0.75}, "beta must be > 0, got -0.75"),
    ({"alpha": -1e-4}, "alpha must be >= 0, got -0.0001"),
])
def test_invalid_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LocalResponseNormalization(**kwargs)


def test_config_round_trip_and_save_load(tmp_path):
    layer = LocalResponseNormalization(depth_radius=3, bias=1.0, alpha=2e-4, beta=0.5)
    clone = LocalResponseNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    model = keras.Sequential([keras.Input((4, 4, 8)), layer], name="lrn")
    loaded = assert_survives_save_and_load(model, _random((1, 4, 4, 8)), tmp_path)
    assert loaded.layers[0].get_config() == layer.get_config()


def test_torch_settings_divide_alpha_by_the_window():
    # torchvision's AlexNet uses LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2).
    assert from_torch_settings(5, alpha=1e-4, beta=0.75, k=2.0) == {
        "depth_radius": 2, "bias": 2.0, "alpha": 2e-5, "beta": 0.75}
    with pytest.raises(ValueError, match="size must be a positive odd integer, got 4"):
        from_torch_settings(4)


def test_torch_settings_reproduce_torch_semantics():
    """PyTorch's formula, written out: b = a / (k + alpha/n * sum a^2) ** beta."""
    x = _random((1, 2, 2, 6), seed=2)
    n, alpha, beta, k = 5, 1e-3, 0.75, 2.0
    padded = np.pad(x**2, [(0, 0)] * 3 + [(2, 2)])
    window = sum(padded[..., i:i + 6] for i in range(n))
    torch_like = x / (k + alpha / n * window) ** beta
    ours = LocalResponseNormalization(**from_torch_settings(n, alpha, beta, k))(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours), torch_like, rtol=1e-5)


# Faults (issue 16): NumPy integers and integer inputs.


def test_numpy_integer_radius_is_accepted_and_stored_as_int():
    layer = LocalResponseNormalization(depth_radius=np.int64(3))
    assert layer.depth_radius == 3 and type(layer.get_config()["depth_radius"]) is int
    assert from_torch_settings(np.int64(5))["depth_radius"] == 2
    with pytest.raises(ValueError, match="depth_radius must be an integer >= 0, got True"):
        LocalResponseNormalization(depth_radius=True)


def test_uint8_inputs_are_normalised_in_float():
    x = np.random.default_rng(3).integers(0, 256, (1, 3, 3, 6), dtype=np.uint8)
    layer = LocalResponseNormalization()
    out = keras.ops.convert_to_numpy(layer(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(layer(x.astype("float32"))), rtol=1e-6)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_tower_conv_equals_grouped_conv2d(groups):
    """The per-tower computation gives Conv2D(groups=...)'s result and gradients with the
    same weights: only how it is computed differs."""
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 9, 9, 8)), tf.float32)
    options = dict(filters=12, kernel_size=3, padding="same", groups=groups, use_bias=True)
    tower, grouped = TowerConv2D(**options), keras.layers.Conv2D(**options)
    tower.build(x.shape)
    grouped.build(x.shape)
    grouped.set_weights([w + 0.1 * np.random.default_rng(1).normal(size=w.shape)
                         for w in tower.get_weights()])
    tower.set_weights(grouped.get_weights())
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        out_tower, out_grouped = tower(x), grouped(x)
        loss_tower, loss_grouped = tf.reduce_sum(out_tower ** 2), tf.reduce_sum(out_grouped ** 2)
    np.testing.assert_allclose(out_tower, out_grouped, rtol=1e-5, atol=1e-5)
    for a, b in zip(tape.gradient(loss_tower, [x, *tower.trainable_weights]),
                    tape.gradient(loss_grouped, [x, *grouped.trainable_weights])):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_tower_conv_config_round_trip_and_save_load(tmp_path):
    layer = TowerConv2D(8, 3, groups=2, padding="same", name="conv2")
    assert TowerConv2D.from_config(layer.get_config()).get_config() == layer.get_config()
    model = keras.Sequential([keras.Input((7, 7, 4)), layer], name="towers")
    loaded = assert_survives_save_and_load(model, _random((2, 7, 7, 4)), tmp_path)
    assert isinstance(loaded.layers[0], TowerConv2D) and loaded.layers[0].groups == 2
