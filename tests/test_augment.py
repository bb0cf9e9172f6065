import keras
import numpy as np
import pytest

from alexnet_book import augment


def _photos(n=4, size=16, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.random((n, size, size, 1))
    # Correlated channels, like real photos.
    noise = rng.random((n, size, size, 3))
    return (0.6 * base + 0.4 * noise * [1.0, 0.6, 0.3]).astype("float32")


def test_crop_and_flip_shapes_and_randomness():
    layer = augment.crop_and_flip(32, 28, seed=0)
    x = np.random.default_rng(0).random((8, 32, 32, 1)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert out.shape == (8, 28, 28, 1)
    # Every output is a (possibly flipped) 28x28 window of its input.
    for image, crop in zip(x, out):
        windows = [image[i:i + 28, j:j + 28] for i in range(5) for j in range(5)]
        assert any(np.allclose(crop, w) or np.allclose(crop, w[:, ::-1]) for w in windows)
    assert not np.allclose(out, keras.ops.convert_to_numpy(layer(x, training=True)))


def test_center_crop_takes_the_middle():
    x = np.arange(36, dtype="float32").reshape(1, 6, 6, 1)
    out = keras.ops.convert_to_numpy(augment.center_crop(6, 2)(x))
    assert out[0, :, :, 0].tolist() == [[14.0, 15.0], [20.0, 21.0]]


def test_crop_count_matches_the_paper():
    assert (256 - 224) ** 2 * 2 == 2048
    assert augment.crop_positions(256, 224) == 33**2 * 2


@pytest.mark.parametrize("make", [augment.crop_and_flip, augment.center_crop, augment.crop_positions])
def test_crop_larger_than_image_is_a_clear_error(make):
    with pytest.raises(ValueError, match="crop 40x40 is larger than the image 32x32"):
        make(32, 40)


def test_rgb_pca_matches_numpy():
    images = _photos()
    values, vectors = augment.rgb_pca(images)
    covariance = np.cov(images.reshape(-1, 3).astype("float64"), rowvar=False)
    np.testing.assert_allclose(covariance @ vectors, vectors * values, rtol=1e-6, atol=1e-12)
    assert np.all(np.diff(values) <= 0)
    np.testing.assert_allclose(sorted(values), np.linalg.eigvalsh(covariance), rtol=1e-8)


def test_pca_noise_is_one_colour_shift_per_image_along_the_components():
    images = _photos()
    layer = augment.PCAColorAugmentation(sigma=0.1, seed=1).adapt(images)
    out = keras.ops.convert_to_numpy(layer(images, training=True))
    shift = out - images
    # The same RGB shift for every pixel of an image, different across images.
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1, :1], shift.shape), atol=1e-6)
    assert not np.allclose(shift[0, 0, 0], shift[1, 0, 0])
    # Each shift is p @ (alpha * lambda): solving for alpha gives finite draws.
    alphas = (shift[:, 0, 0] @ layer.eigenvectors) / layer.eigenvalues  # eigenvectors are orthonormal
    assert np.all(np.abs(alphas) < 1.0) and alphas.std() > 0.01  # within 10 sigma of N(0, 0.1)


def test_sigma_zero_and_inference_are_the_identity():
    images = _photos()
    layer = augment.PCAColorAugmentation(sigma=0.0).adapt(images)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images, training=True)), images)
    layer = augment.PCAColorAugmentation(sigma=0.1).adapt(images)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images, training=False)), images)


def test_pca_errors():
    with pytest.raises(ValueError, match="colour noise does not apply to grayscale"):
        augment.PCAColorAugmentation()(np.zeros((1, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match="needs RGB images"):
        augment.rgb_pca(np.zeros((2, 4, 4, 1)))
    with pytest.raises(ValueError, match="call adapt"):
        augment.PCAColorAugmentation()(np.zeros((1, 4, 4, 3), "float32"), training=True)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        augment.PCAColorAugmentation(sigma=-0.1)


def test_pca_layer_survives_save_and_load(tmp_path):
    images = _photos()
    layer = augment.PCAColorAugmentation(sigma=0.2, seed=3).adapt(images)
    model = keras.Sequential([keras.Input((16, 16, 3)), layer])
    path = tmp_path / "pca.keras"
    model.save(path)
    loaded = keras.models.load_model(path).layers[0]
    np.testing.assert_allclose(loaded.eigenvalues, layer.eigenvalues)
    np.testing.assert_allclose(loaded.eigenvectors, layer.eigenvectors)
    assert loaded.sigma == 0.2


def test_ten_crops_are_corners_centre_and_flips():
    x = np.arange(5 * 5, dtype="float32").reshape(1, 5, 5, 1)
    crops = [keras.ops.convert_to_numpy(c)[0, :, :, 0] for c in augment.ten_crops(x, 3)]
    assert len(crops) == 10
    assert crops[0][0, 0] == 0 and crops[3][-1, -1] == 24 and crops[4][1, 1] == 12
    np.testing.assert_array_equal(crops[5], crops[0][:, ::-1])
    with pytest.raises(ValueError, match="larger than the image"):
        augment.ten_crops(x, 6)


def test_ten_crop_predict_averages_the_ten_predictions():
    inputs = keras.Input((3, 3, 1))
    # A "model" whose output depends on where the crop came from: the mean pixel.
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Concatenate()([mean, 1 - mean]))
    x = np.random.default_rng(0).random((2, 5, 5, 1)).astype("float32")
    expected = np.mean([keras.ops.convert_to_numpy(c).mean(axis=(1, 2, 3))
                        for c in augment.ten_crops(x, 3)], axis=0)
    out = augment.ten_crop_predict(model, x)
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-5)
    assert out.shape == (2, 2)
