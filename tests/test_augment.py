import keras
import numpy as np
import pytest
from keras_checks import assert_survives_save_and_load

from alexnet_book import augment


def _photos(n=4, size=16, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.random((n, size, size, 1))
    # Correlated channels, like real photos.
    noise = rng.random((n, size, size, 3))
    # Values in [0.1, 0.9]: small colour shifts are never clipped at 0 or 1.
    return (0.1 + 0.8 * (0.6 * base + 0.4 * noise * [1.0, 0.6, 0.3])).astype("float32")


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


def _offsets(images, crops):
    """(top, left, mirrored) of each crop, found by search over every window."""
    size, crop = images.shape[1], crops.shape[1]
    found = []
    for image, patch in zip(images, crops):
        hits = [(top, left, mirrored) for top in range(size - crop + 1) for left in range(size - crop + 1)
                for mirrored, window in enumerate((image[top:top + crop, left:left + crop],
                                                   image[top:top + crop, left:left + crop][:, ::-1]))
                if np.array_equal(patch, window)]
        assert len(hits) == 1, hits
        found.append(hits[0])
    return found


def test_crops_and_flips_are_drawn_per_image_and_cover_every_offset():
    """Section 4.1 crops each image at its own place (Keras' RandomCrop uses one offset
    per batch): offsets differ within one batch, and over batches every offset and both
    flips occur, about equally often."""
    rng = np.random.default_rng(0)
    images = rng.random((64, 8, 8, 1)).astype("float32")  # distinct pixels: windows unique
    layer = augment.crop_and_flip(8, 5, seed=0)
    first = _offsets(images, keras.ops.convert_to_numpy(layer(images, training=True)))
    assert len({(top, left) for top, left, _ in first}) > 8  # not one shared offset
    counts = np.zeros((4, 4, 2))
    for _ in range(10):
        for top, left, mirrored in _offsets(images, keras.ops.convert_to_numpy(layer(images, training=True))):
            counts[top, left, mirrored] += 1
    assert (counts > 0).all()  # all 4 x 4 offsets, flipped and not
    assert counts.sum() == 640 and counts.max() < 4 * counts.mean()
    centre = keras.ops.convert_to_numpy(layer(images, training=False))
    np.testing.assert_array_equal(centre, images[:, 1:6, 1:6])


def test_shift_and_flip_shifts_each_image_within_the_padding():
    """Pad by 2, crop back to 8: each output is its image shifted by -2..2 pixels per axis
    (zeros shifted in), mirrored or not, and the images of one batch get different shifts."""
    rng = np.random.default_rng(1)
    images = rng.random((32, 8, 8, 1)).astype("float32") + 1  # no zeros inside an image
    out = keras.ops.convert_to_numpy(augment.shift_and_flip(8, 2, seed=0)(images, training=True))
    assert out.shape == images.shape
    padded = np.pad(images, [(0, 0), (2, 2), (2, 2), (0, 0)])
    shifts = set()
    for image, result in zip(padded, out):
        hits = [(top, left, mirrored) for top in range(5) for left in range(5) for mirrored in (0, 1)
                if np.array_equal(result, image[top:top + 8, left:left + 8][:, ::-1] if mirrored
                                  else image[top:top + 8, left:left + 8])]
        assert len(hits) == 1
        shifts.add(hits[0])
    assert len(shifts) > 4
    still = keras.ops.convert_to_numpy(augment.shift_and_flip(8, 2)(images, training=False))
    np.testing.assert_array_equal(still, images)  # inference: the centre, i.e. no shift
    with pytest.raises(ValueError, match="shift must be >= 0"):
        augment.shift_and_flip(8, -1)


def test_center_crop_takes_the_middle():
    x = np.arange(36, dtype="float32").reshape(1, 6, 6, 1)
    out = keras.ops.convert_to_numpy(augment.center_crop(6, 2)(x))
    assert out[0, :, :, 0].tolist() == [[14.0, 15.0], [20.0, 21.0]]


def test_distinct_crops_and_flips_are_counted_exactly():
    """Enumerate every crop and its mirror image of a random image and count the distinct
    patches: (6 - 4 + 1)^2 x 2 = 18. The paper's (256 - 224)^2 x 2 = 2,048 leaves out
    one position per axis; the exact count for 224 of 256 is 33^2 x 2 = 2,178."""
    image = np.random.default_rng(0).random((6, 6))
    patches = {patch.tobytes() for top in range(3) for left in range(3)
               for patch in (image[top:top + 4, left:left + 4], image[top:top + 4, left:left + 4][:, ::-1])}
    assert augment.distinct_crops_and_flips(6, 4) == len(patches) == 18
    assert augment.distinct_crops_and_flips(256, 224) == 2_178


@pytest.mark.parametrize("make", [augment.crop_and_flip, augment.center_crop, augment.distinct_crops_and_flips])
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
    with pytest.raises(ValueError, match="colour noise does not apply to greyscale"):
        augment.PCAColorAugmentation()(np.zeros((1, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match="needs RGB images"):
        augment.rgb_pca(np.zeros((2, 4, 4, 1)))
    with pytest.raises(ValueError, match="call adapt"):
        augment.PCAColorAugmentation()(np.zeros((1, 4, 4, 3), "float32"), training=True)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        augment.PCAColorAugmentation(sigma=-0.1)


def test_pca_layer_survives_save_and_load(tmp_path):
    images = _photos()
    layer = augment.PCAColorAugmentation(sigma=0.2, seed=3, value_range=(0, 255)).adapt(images * 255)
    model = keras.Sequential([keras.Input((16, 16, 3)), layer], name="pca")
    loaded = assert_survives_save_and_load(model, images[:2], tmp_path).layers[0]
    np.testing.assert_allclose(loaded.eigenvalues, layer.eigenvalues)
    np.testing.assert_allclose(loaded.eigenvectors, layer.eigenvectors)
    assert loaded.sigma == 0.2 and loaded.value_range == (0.0, 255.0)


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


# Faults (issue 16): pixel units and dtypes, wrong shapes.


def test_pca_noise_has_the_same_relative_size_for_uint8_and_both_float_scales():
    photos = _photos(seed=2)
    as_uint8 = np.round(photos * 255).astype("uint8")
    layers = {
        "uint8": augment.PCAColorAugmentation(sigma=0.5, seed=4).adapt(as_uint8),
        "[0, 1]": augment.PCAColorAugmentation(sigma=0.5, seed=4).adapt(as_uint8 / 255),
        "[0, 255]": augment.PCAColorAugmentation(sigma=0.5, seed=4, value_range=(0, 255))
        .adapt(as_uint8.astype("float32")),
    }
    for layer in layers.values():  # one PCA, in [0, 1] units, whatever the input's scale
        np.testing.assert_allclose(layer.eigenvalues, layers["uint8"].eigenvalues, rtol=1e-4)
    out_uint8 = keras.ops.convert_to_numpy(layers["uint8"](as_uint8, training=True))
    out_01 = keras.ops.convert_to_numpy(layers["[0, 1]"]((as_uint8 / 255).astype("float32"), training=True))
    out_255 = keras.ops.convert_to_numpy(layers["[0, 255]"](as_uint8.astype("float32"), training=True))
    assert out_uint8.dtype == np.uint8 and out_01.dtype == out_255.dtype == np.float32
    np.testing.assert_allclose(out_255, out_01 * 255, atol=2e-3)
    assert np.abs(out_uint8 - out_255).max() <= 0.5 + 1e-3  # rounded, not wrapped
    shift = np.abs(out_255 - as_uint8).max()
    assert 1 < shift < 60  # sigma 0.5 of a [0, 1] PCA, in 0-255 units (not hundreds)


@pytest.mark.parametrize("dtype, high", [("uint8", 255), ("float32", 1.0)])
def test_pca_noise_is_clipped_to_the_valid_range(dtype, high):
    images = np.zeros((4, 2, 2, 3), dtype)
    images[:, 0] = high  # the brightest and darkest pixels
    layer = augment.PCAColorAugmentation(sigma=100.0, seed=0).adapt(_photos())
    out = keras.ops.convert_to_numpy(layer(images, training=True))
    assert out.dtype == np.dtype(dtype) and out.min() >= 0 and out.max() <= high
    assert np.any(out[:, 0] < high) and np.any(out[:, 1] > 0)  # the noise still moved them


def test_pca_units_errors():
    with pytest.raises(ValueError, match=r"outside value_range \(0.0, 1.0\); pass value_range=\(0, 255\)"):
        augment.PCAColorAugmentation().adapt(_photos() * 255)
    with pytest.raises(ValueError, match=r"value_range must be .* low < high, got \(1, 0\)"):
        augment.PCAColorAugmentation(value_range=(1, 0))


def test_crop_and_flip_rejects_wrong_shapes_and_stays_usable():
    layer = augment.crop_and_flip(32, 28, seed=0)
    with pytest.raises(ValueError, match=r"needs a batch of images .* got shape \(32, 32\)"):
        layer(np.zeros((32, 32), "float32"), training=True)
    with pytest.raises(ValueError, match="declared for 32x32 images, got 20x20"):
        layer(np.zeros((2, 20, 20, 1), "float32"), training=True)  # would be upscaled
    out = layer(np.zeros((2, 32, 32, 1), "float32"), training=True)
    assert tuple(out.shape) == (2, 28, 28, 1)
    with pytest.raises(ValueError, match="declared for 32x32 images, got 40x40"):
        layer(np.zeros((2, 40, 40, 1), "float32"), training=True)


def test_crop_and_flip_works_in_tf_data_and_survives_save_and_load(tmp_path):
    import tensorflow as tf

    layer = augment.crop_and_flip(32, 28, seed=0)
    ds = tf.data.Dataset.from_tensor_slices(np.zeros((5, 32, 32, 1), "float32")).batch(2)
    shapes = [tuple(b.shape) for b in ds.map(lambda x: layer(x, training=True))]
    assert shapes == [(2, 28, 28, 1), (2, 28, 28, 1), (1, 28, 28, 1)]
    model = keras.Sequential([keras.Input((32, 32, 1)), augment.crop_and_flip(32, 28)])
    model.save(tmp_path / "crop.keras")
    loaded = keras.models.load_model(tmp_path / "crop.keras").layers[0]
    assert isinstance(loaded, augment.CropAndFlip) and loaded.image_size == 32


def test_ten_crop_predict_errors_lead_somewhere():
    inputs = keras.Input((None, None, 1))
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    with pytest.raises(ValueError, match=r"crop_size is required: the model's input size is \(None, None\)"):
        augment.ten_crop_predict(model, np.zeros((1, 8, 8, 1), "float32"))
    assert augment.ten_crop_predict(model, np.zeros((1, 8, 8, 1), "float32"), crop_size=4).shape == (1, 1)
    with pytest.raises(ValueError, match=r"ten_crop_predict needs a batch of images .* got shape \(8, 8\)"):
        augment.ten_crop_predict(model, np.zeros((8, 8), "float32"), crop_size=4)


# Faults, second round (issue 26): the noise keeps the range the layer was adapted on.


def _uint8_photos():
    return np.round(_photos(n=8, seed=5) * 255).astype("uint8")


def test_pca_layer_adapted_on_uint8_keeps_0_255_whatever_dtype_reaches_it():
    import tensorflow as tf

    x = _uint8_photos()
    layer = augment.PCAColorAugmentation(0.1, seed=1).adapt(x)
    assert layer.adapted_range == (0.0, 255.0)
    model = keras.Sequential([keras.Input((16, 16, 3)), layer])  # a float32 input
    out = keras.ops.convert_to_numpy(model(x, training=True))
    # Before the fix: values clipped to [0, 1], mean 0.996, 99% of the pixels 1.0.
    assert out.max() > 150 and np.mean(out == 1.0) < 0.01
    assert abs(out.mean() - x.mean()) < 5 and 0.1 < np.abs(out - x).max() < 30
    declared = augment.PCAColorAugmentation(0.1, seed=1, value_range=(0, 255)).adapt(x)
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(
        declared(x.astype("float32"), training=True)), atol=1e-4)  # the same draw, same units
    fresh = augment.PCAColorAugmentation(0.1, seed=1).adapt(x)  # cast to float32 in tf.data
    batches = tf.data.Dataset.from_tensor_slices(x).batch(4).map(
        tf.autograph.experimental.do_not_convert(
            lambda b: fresh(tf.cast(b, "float32"), training=True)))
    in_pipeline = np.concatenate([b.numpy() for b in batches])
    assert in_pipeline.max() > 150 and abs(in_pipeline.mean() - x.mean()) < 5
    as_uint8 = keras.ops.convert_to_numpy(layer(x, training=True))
    assert as_uint8.dtype == np.uint8 and abs(as_uint8.mean() - x.mean()) < 5


def test_pca_layer_refuses_floats_of_another_range_than_it_was_adapted_on():
    x = _uint8_photos()
    on_uint8 = augment.PCAColorAugmentation(0.1, seed=1).adapt(x)
    with pytest.raises(ValueError, match=r"reads float inputs in 0-255 \(the range of the uint8 "
                                         r"images it was adapted on\), got values from .* to "
                                         r"0\.\d+; .*value_range=\(0, 1\)"):
        on_uint8((x / 255).astype("float32"), training=True)
    on_floats = augment.PCAColorAugmentation(0.1, seed=1).adapt(x / 255)
    with pytest.raises(ValueError, match=r"reads float inputs in 0-1 \(the range of the float "
                                         r"images it was adapted on\), got values from .* "
                                         r"value_range=\(0, 255\)"):
        on_floats(x.astype("float32"), training=True)
    # Declaring the inputs' range is the way to adapt on uint8 and feed [0, 1] floats.
    declared = augment.PCAColorAugmentation(0.1, seed=1, value_range=(0, 1)).adapt(x)
    out = keras.ops.convert_to_numpy(declared((x / 255).astype("float32"), training=True))
    assert 0 <= out.min() and out.max() <= 1 and abs(out.mean() - x.mean() / 255) < 0.02
    # Adapting again on floats reads floats in [0, 1] again.
    on_uint8.adapt(x / 255)
    assert on_uint8.adapted_range == (0.0, 1.0)


def test_pca_layer_keeps_its_adapted_range_through_save_and_load(tmp_path):
    x = _uint8_photos()
    layer = augment.PCAColorAugmentation(0.1, seed=1).adapt(x)
    model = keras.Sequential([keras.Input((16, 16, 3)), layer], name="pca_uint8")
    loaded = assert_survives_save_and_load(model, x[:2].astype("float32"), tmp_path).layers[0]
    assert loaded.value_range is None and loaded.adapted_range == (0.0, 255.0)
    out = keras.ops.convert_to_numpy(loaded(x.astype("float32"), training=True))
    assert out.max() > 150 and abs(out.mean() - x.mean()) < 5
