"""Data augmentation as the paper did it (section 4.1), from Keras preprocessing layers.

- Random crops and horizontal flips in training, the centre crop at evaluation.
- "Fancy PCA" colour noise: :class:`PCAColorAugmentation`.
- Test-time averaging over ten patches: :func:`ten_crop_predict`.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _check_crop(image_size: int, crop_size: int) -> None:
    if crop_size < 1 or image_size < 1:
        raise ValueError(f"sizes must be >= 1, got image {image_size} and crop {crop_size}")
    if crop_size > image_size:
        raise ValueError(
            f"crop {crop_size}x{crop_size} is larger than the image {image_size}x{image_size}; "
            f"the crop must be at most {image_size}"
        )


def _check_images(shape, image_size: int | None, what: str) -> None:
    """Images must be a batch ``(n, h, w, c)``, ``image_size`` square where the size is
    known (``None`` dimensions pass)."""
    shape = tuple(shape)
    if len(shape) != 4:
        hint = ("add a channel axis to greyscale images with images[..., None]" if len(shape) == 3
                else "pass one image as images[None]" if len(shape) == 2 else "")
        raise ValueError(f"{what} needs a batch of images of shape (batch, height, width, "
                         f"channels), got shape {shape}" + (f"; {hint}" if hint else ""))
    height, width = shape[1], shape[2]
    if image_size is not None and any(d is not None and d != image_size for d in (height, width)):
        raise ValueError(
            f"{what} was declared for {image_size}x{image_size} images, got {height}x{width}; "
            "resize or pad the images first, or declare their size")


@keras.saving.register_keras_serializable(package="alexnet_book")
class CropAndFlip(keras.layers.Layer):
    """Random crops and horizontal flips drawn for each image independently, as the paper
    does (section 4.1): in training, every image of a batch gets its own offset and its
    own coin flip; at inference, the centre crop.

    Keras' ``RandomCrop`` draws one offset per batch (all images of a batch are cropped at
    the same place), so this layer gathers rows and columns per image with ``keras.ops``:
    no Python loop, on every backend and inside ``tf.data``.

    Args:
        image_size: side of the square input images.
        crop_size: side of the square crops.
        flip: also mirror half of the images, chosen per image.
        seed: seed of the layer's random generator.

    Raises:
        ValueError: the crop is larger than the image; at call time, images of another
            rank or size (the layer stays usable).
    """

    def __init__(self, image_size: int, crop_size: int, flip: bool = True,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        _check_crop(image_size, crop_size)
        self.image_size, self.crop_size, self.flip, self.seed = image_size, crop_size, flip, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.crop_size, self.crop_size, input_shape[3])

    def call(self, images, training=None):
        _check_images(images.shape, self.image_size, "crop_and_flip")
        size, crop = self.image_size, self.crop_size
        if not training:
            start = (size - crop) // 2
            return images[:, start:start + crop, start:start + crop, :]
        shape = ops.shape(images)
        batch, channels = shape[0], shape[3]
        tops = keras.random.randint((batch,), 0, size - crop + 1, dtype="int32",
                                    seed=self.seed_generator)
        lefts = keras.random.randint((batch,), 0, size - crop + 1, dtype="int32",
                                     seed=self.seed_generator)
        steps = ops.arange(crop, dtype="int32")
        rows = tops[:, None] + steps[None, :]                  # (batch, crop)
        columns = lefts[:, None] + steps[None, :]
        if self.flip:  # a mirrored crop reads its columns right to left
            mirrored = keras.random.uniform((batch,), seed=self.seed_generator) < 0.5
            columns = ops.where(mirrored[:, None], ops.flip(columns, axis=1), columns)
        rows = ops.broadcast_to(rows[:, :, None, None], (batch, crop, size, channels))
        images = ops.take_along_axis(images, rows, axis=1)
        columns = ops.broadcast_to(columns[:, None, :, None], (batch, crop, crop, channels))
        return ops.take_along_axis(images, columns, axis=2)

    def get_config(self):
        return {**super().get_config(), "image_size": self.image_size,
                "crop_size": self.crop_size, "flip": self.flip, "seed": self.seed}


def crop_and_flip(image_size: int, crop_size: int, flip: bool = True,
                  seed: int | None = None) -> CropAndFlip:
    """The paper's training augmentation: a random ``crop_size`` square from an
    ``image_size`` square image and a random horizontal flip, each drawn per image (224
    from 256 in the paper). Apply it with ``training=True`` (inside ``fit`` or a
    ``tf.data`` map) to batches of shape ``(batch, image_size, image_size, channels)``.

    Raises:
        ValueError: the crop is larger than the image; at call time, images of another
            rank or size.
    """
    return CropAndFlip(image_size, crop_size, flip=flip, seed=seed, name="crop_and_flip")


def shift_and_flip(image_size: int, shift: int, seed: int | None = None) -> keras.Sequential:
    """The paper's crops and flips for images too small to crop further: zero-pad by
    ``shift`` pixels, then a per-image random ``image_size`` crop (a shift of up to
    ``shift`` pixels each way) and a random horizontal flip. The course uses it on 28x28
    Fashion-MNIST with a shift of 2 (25 positions, each also mirrored).

    Raises:
        ValueError: image_size < 1 or shift < 0; at call time, images of another size.
    """
    if shift < 0:
        raise ValueError(f"shift must be >= 0 pixels, got {shift}")
    padded = image_size + 2 * shift
    return keras.Sequential([keras.layers.ZeroPadding2D(shift),
                             crop_and_flip(padded, image_size, seed=seed)], name="shift_and_flip")


def center_crop(image_size: int, crop_size: int) -> keras.layers.CenterCrop:
    """The evaluation counterpart of :func:`crop_and_flip`: the central square.

    Raises:
        ValueError: the crop is larger than the image.
    """
    _check_crop(image_size, crop_size)
    return keras.layers.CenterCrop(crop_size, crop_size, name="center_crop")


def distinct_crops_and_flips(image_size: int, crop_size: int) -> int:
    """Distinct training inputs one image yields under crops and flips:
    ``(image_size - crop_size + 1)**2 * 2``; the paper counts translations as
    ``(256 - 224)**2 * 2 = 2048``.

    Raises:
        ValueError: the crop is larger than the image.
    """
    _check_crop(image_size, crop_size)
    return (image_size - crop_size + 1) ** 2 * 2


def rgb_pca(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending) and eigenvectors (columns) of the 3x3 covariance of the
    RGB values of every pixel of ``images`` (``(..., 3)``).

    Raises:
        ValueError: the last axis is not 3 (RGB).
    """
    images = np.asarray(images)
    if images.ndim < 2 or images.shape[-1] != 3:
        raise ValueError(f"PCA colour augmentation needs RGB images (last axis 3), got shape "
                         f"{images.shape}")
    pixels = images.reshape(-1, 3).astype("float64")
    covariance = np.cov(pixels, rowvar=False)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    return eigenvalues[order], eigenvectors[:, order]


def _check_range(value_range, name: str) -> tuple[float, float]:
    """``(low, high)`` as floats.

    Raises:
        ValueError: not two numbers with low < high.
    """
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (low, high), two numbers, got {value_range!r}") from None
    if not low < high:
        raise ValueError(f"{name} must be (low, high) with low < high, got {tuple(value_range)}")
    return (low, high)


@keras.saving.register_keras_serializable(package="alexnet_book")
class PCAColorAugmentation(keras.layers.Layer):
    """"Fancy PCA" colour noise (paper, section 4.1).

    :meth:`adapt` finds the eigenvectors ``p_i`` and eigenvalues ``lambda_i`` of the 3x3
    covariance of the RGB pixel values of a data set. In training, each image draws
    ``alpha_i ~ N(0, sigma)`` and every one of its pixels gets ``[p1 p2 p3] @ [alpha_1
    lambda_1, alpha_2 lambda_2, alpha_3 lambda_3]`` added; at inference the layer is the
    identity.

    Units: the PCA and the noise are computed on pixel values scaled to [0, 1], whatever
    the input's scale, so the same relative colour change reaches uint8 images (always
    0-255) and float images in any declared range. Float inputs are read in
    ``value_range`` when it is given, else in the range of the images :meth:`adapt` saw:
    0-255 after uint8 images (so the uint8 images a float32 ``keras.Input`` or a cast in
    ``tf.data`` turns into floats keep their range), [0, 1] after float images. An eager
    call with float values outside that range, or filling only its lowest 1/255 (images
    in [0, 1] where 0-255 was adapted), is refused; inside ``tf.data`` or a compiled
    model the values cannot be checked. The result is clipped to the valid range and
    keeps the input's dtype (uint8 is rounded, never wrapped around).

    Args:
        sigma: standard deviation of the alphas (the paper's 0.1); 0 gives the identity.
        eigenvalues, eigenvectors: the PCA of [0, 1]-scaled pixels, normally set by
            :meth:`adapt` (stored in the config so a saved model keeps them).
        seed: seed of the layer's random draws.
        value_range: ``(low, high)`` of float inputs; ``None`` (the default) takes the
            range of the images given to :meth:`adapt`.
        adapted_range: the float range :meth:`adapt` set (stored in the config).

    Raises:
        ValueError: sigma < 0 or an empty value_range; in :meth:`adapt`, float images
            outside value_range; at call time, inputs that are not RGB, a training call
            before :meth:`adapt`, or (eagerly) float values that do not fit the range.
    """

    def __init__(self, sigma: float = 0.1, eigenvalues=None, eigenvectors=None,
                 seed: int | None = None, value_range=None, adapted_range=None, **kwargs):
        super().__init__(**kwargs)
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma!r}")
        self.sigma = float(sigma)
        self.seed = seed
        self.value_range = None if value_range is None else _check_range(value_range, "value_range")
        self.adapted_range = (None if adapted_range is None
                              else _check_range(adapted_range, "adapted_range"))
        self.eigenvalues = None if eigenvalues is None else np.asarray(eigenvalues, "float32")
        self.eigenvectors = None if eigenvectors is None else np.asarray(eigenvectors, "float32")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _range_of(self, dtype) -> tuple[float, float]:
        """The valid pixel range of inputs of ``dtype``: 0-255 for uint8; for floats the
        declared ``value_range``, else the range :meth:`adapt` saw, else [0, 1]."""
        if keras.backend.standardize_dtype(dtype) == "uint8":
            return (0.0, 255.0)
        return self.value_range or self.adapted_range or (0.0, 1.0)

    def _range_source(self) -> str:
        """Where the float range comes from, for error messages."""
        if self.value_range is not None:
            return "its value_range"
        if self.adapted_range == (0.0, 255.0):
            return "the range of the uint8 images it was adapted on"
        return "the range of the float images it was adapted on"

    def adapt(self, images: np.ndarray) -> PCAColorAugmentation:
        """Compute the RGB PCA from ``images`` (a NumPy array ``(n, h, w, 3)``: uint8, or
        floats within ``value_range``, [0, 1] when none is declared), on pixel values
        scaled to [0, 1]. Without a declared ``value_range``, float inputs are then read
        in the range of these images (0-255 after uint8 images).

        Raises:
            ValueError: not RGB, or float values outside ``value_range``.
        """
        images = np.asarray(images)
        uint8 = images.dtype == np.uint8
        low, high = (0.0, 255.0) if uint8 else (self.value_range or (0.0, 1.0))
        if images.size and not uint8:
            found = (float(images.min()), float(images.max()))
            slack = 1e-3 * (high - low)
            if found[0] < low - slack or found[1] > high + slack:
                raise ValueError(
                    f"images have values from {found[0]:g} to {found[1]:g}, outside value_range "
                    f"{(low, high)}; pass value_range=(0, 255) for images in [0, 255], or "
                    "uint8 images")
        eigenvalues, eigenvectors = rgb_pca((images.astype("float64") - low) / (high - low))
        self.eigenvalues = eigenvalues.astype("float32")
        self.eigenvectors = eigenvectors.astype("float32")
        self.adapted_range = (low, high)
        return self

    def _check_values(self, inputs, low: float, high: float) -> None:
        """Refuse float inputs whose values do not fit ``(low, high)``, where they are
        known (an eager call; symbolic tensors pass unchecked)."""
        try:
            found = (float(ops.convert_to_numpy(ops.min(inputs))),
                     float(ops.convert_to_numpy(ops.max(inputs))))
        except Exception:  # symbolic (tf.data, tf.function, jax.jit): values unknown yet
            return
        slack = 1e-3 * (high - low)
        outside = found[0] < low - slack or found[1] > high + slack
        too_small = low < found[1] <= low + (high - low) / 255 + slack and high - low > 1 + slack
        if outside or too_small:
            theirs = "(0, 1)" if 0 <= found[0] and found[1] <= 1 else "(0, 255)"
            raise ValueError(
                f"PCAColorAugmentation reads float inputs in {low:g}-{high:g} "
                f"({self._range_source()}), got values from {found[0]:g} to {found[1]:g}; "
                f"scale the inputs to {low:g}-{high:g}, or declare their range when creating "
                f"the layer (e.g. value_range={theirs})")

    def build(self, input_shape):
        if input_shape[-1] != 3:
            raise ValueError(
                f"PCAColorAugmentation needs RGB images (3 channels), got {input_shape[-1]} "
                "channel(s); colour noise does not apply to greyscale images"
            )

    def call(self, inputs, training=None):
        if not training or self.sigma == 0:
            return inputs
        if self.eigenvalues is None:
            raise ValueError("PCAColorAugmentation: call adapt(images) before training")
        low, high = self._range_of(inputs.dtype)
        if keras.backend.standardize_dtype(inputs.dtype) != "uint8":
            self._check_values(inputs, low, high)
        batch = ops.shape(inputs)[0]
        alphas = keras.random.normal((batch, 3), stddev=self.sigma, seed=self.seed_generator)
        weighted = alphas * ops.convert_to_tensor(self.eigenvalues)  # (batch, 3)
        shift = ops.matmul(weighted, ops.transpose(ops.convert_to_tensor(self.eigenvectors)))
        shift = ops.reshape(shift * (high - low), (batch, 1, 1, 3))  # [0, 1] units to the input's
        noisy = ops.clip(ops.cast(inputs, "float32") + shift, low, high)
        if keras.backend.standardize_dtype(inputs.dtype) == "uint8":
            noisy = ops.round(noisy)
        return ops.cast(noisy, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "sigma": self.sigma,
            "seed": self.seed,
            "value_range": None if self.value_range is None else list(self.value_range),
            "adapted_range": None if self.adapted_range is None else list(self.adapted_range),
            "eigenvalues": None if self.eigenvalues is None else self.eigenvalues.tolist(),
            "eigenvectors": None if self.eigenvectors is None else self.eigenvectors.tolist(),
        }


def ten_crops(images, crop_size: int) -> list:
    """The paper's ten test patches (section 4.1): the four corner and the centre
    ``crop_size`` squares, and their horizontal reflections.

    Raises:
        ValueError: not a batch ``(n, h, w, c)``, or the crop is larger than the images.
    """
    _check_images(images.shape, None, "ten_crops")
    height, width = images.shape[1], images.shape[2]
    _check_crop(min(height, width), crop_size)
    top, left = (height - crop_size) // 2, (width - crop_size) // 2
    corners = [(0, 0), (0, width - crop_size), (height - crop_size, 0),
               (height - crop_size, width - crop_size), (top, left)]
    crops = [images[:, y:y + crop_size, x:x + crop_size] for y, x in corners]
    return crops + [ops.flip(crop, axis=2) for crop in crops]


def ten_crop_predict(model: keras.Model, images, crop_size: int | None = None,
                     batch_size: int = 256):
    """Average the model's softmax predictions over the ten patches of each image.

    Args:
        model: a classifier taking ``crop_size`` square inputs.
        images: ``(n, h, w, c)`` array, larger than or equal to the crop.
        crop_size: patch size (default: the model's input size).
        batch_size: for ``model.predict``.

    Returns:
        ``(n, classes)`` NumPy array of averaged probabilities.

    Raises:
        ValueError: images not a batch ``(n, h, w, c)``; no crop_size for a model that
            accepts any input size; the crop is larger than the images.
    """
    images = np.asarray(images)
    _check_images(images.shape, None, "ten_crop_predict")
    if crop_size is None:
        input_shape = model.input_shape
        if isinstance(input_shape, list) or len(input_shape) != 4:
            raise ValueError(f"ten_crop_predict needs a model with one image input (batch, height, "
                             f"width, channels), got input shape {input_shape}")
        crop_size = input_shape[1]
        if crop_size is None or input_shape[2] != crop_size:
            raise ValueError(
                f"crop_size is required: the model's input size is {input_shape[1:3]}, not one "
                "square size to take from it; pass crop_size=")
    crops = ten_crops(images, crop_size)
    predictions = [model.predict(ops.convert_to_numpy(crop), batch_size=batch_size, verbose=0)
                   for crop in crops]
    return np.mean(predictions, axis=0)


def random_crops_and_flips(images: np.ndarray, rng: np.random.Generator, padding: int = 2) -> np.ndarray:
    """Section 4.1's training augmentation on the host (NumPy, any Keras backend), one
    random window per image: pad by ``padding`` pixels (zeros, the mean after centring),
    take a window of the original size at a random offset, and mirror half of the windows
    left to right. The claims runner uses it (Fashion-MNIST's 28 in 32, the paper's 224 of
    256 in proportion); :func:`crop_and_flip` is the same idea as a Keras layer.

    Args:
        images: ``(n, h, w, c)``.
        rng: the seeded generator (the same seed gives the same crops).
        padding: pixels added on each side.

    Raises:
        ValueError: not a batch of images, or a negative padding.
    """
    images = np.asarray(images)
    if images.ndim != 4 or isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) \
            or padding < 0:
        raise ValueError(f"need images (n, h, w, c) and an integer padding >= 0, got shape "
                         f"{images.shape} and padding {padding!r}")
    n, h, w, _ = images.shape
    padded = np.pad(images, [(0, 0), (padding, padding), (padding, padding), (0, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(1, 2))
    dy = rng.integers(0, 2 * padding + 1, n)
    dx = rng.integers(0, 2 * padding + 1, n)
    out = np.moveaxis(windows[np.arange(n), dy, dx], 1, -1)  # (n, c, h, w) -> (n, h, w, c)
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    return np.ascontiguousarray(out)
