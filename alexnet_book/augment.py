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


def crop_and_flip(image_size: int, crop_size: int, flip: bool = True,
                  seed: int | None = None) -> keras.Sequential:
    """The paper's training augmentation: a random ``crop_size`` square from an
    ``image_size`` square image and a random horizontal flip (224 from 256 in the paper).
    Apply it with ``training=True`` (inside ``fit`` or a ``tf.data`` map).

    Raises:
        ValueError: the crop is larger than the image.
    """
    _check_crop(image_size, crop_size)
    layers = [keras.layers.RandomCrop(crop_size, crop_size, seed=seed, name="random_crop")]
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed, name="random_flip"))
    return keras.Sequential(layers, name="crop_and_flip")


def center_crop(image_size: int, crop_size: int) -> keras.layers.CenterCrop:
    """The evaluation counterpart of :func:`crop_and_flip`: the central square.

    Raises:
        ValueError: the crop is larger than the image.
    """
    _check_crop(image_size, crop_size)
    return keras.layers.CenterCrop(crop_size, crop_size, name="center_crop")


def crop_positions(image_size: int, crop_size: int) -> int:
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


@keras.saving.register_keras_serializable(package="alexnet_book")
class PCAColorAugmentation(keras.layers.Layer):
    """"Fancy PCA" colour noise (paper, section 4.1).

    :meth:`adapt` finds the eigenvectors ``p_i`` and eigenvalues ``lambda_i`` of the 3x3
    covariance of the RGB pixel values of a data set. In training, each image draws
    ``alpha_i ~ N(0, sigma)`` and every one of its pixels gets ``[p1 p2 p3] @ [alpha_1
    lambda_1, alpha_2 lambda_2, alpha_3 lambda_3]`` added; at inference the layer is the
    identity. The noise is in the units of the adapted data: adapt and apply it to
    images of the same scale (the course uses [0, 1]).

    Args:
        sigma: standard deviation of the alphas (the paper's 0.1); 0 gives the identity.
        eigenvalues, eigenvectors: the PCA, normally set by :meth:`adapt` (stored in the
            config so a saved model keeps them).
        seed: seed of the layer's random draws.

    Raises:
        ValueError: sigma < 0; at call time, inputs that are not RGB, or a training call
            before :meth:`adapt`.
    """

    def __init__(self, sigma: float = 0.1, eigenvalues=None, eigenvectors=None,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma!r}")
        self.sigma = float(sigma)
        self.seed = seed
        self.eigenvalues = None if eigenvalues is None else np.asarray(eigenvalues, "float32")
        self.eigenvectors = None if eigenvectors is None else np.asarray(eigenvectors, "float32")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def adapt(self, images: np.ndarray) -> PCAColorAugmentation:
        """Compute the RGB PCA from ``images`` (a NumPy array ``(n, h, w, 3)``)."""
        eigenvalues, eigenvectors = rgb_pca(images)
        self.eigenvalues = eigenvalues.astype("float32")
        self.eigenvectors = eigenvectors.astype("float32")
        return self

    def build(self, input_shape):
        if input_shape[-1] != 3:
            raise ValueError(
                f"PCAColorAugmentation needs RGB images (3 channels), got {input_shape[-1]} "
                "channel(s); colour noise does not apply to grayscale images"
            )

    def call(self, inputs, training=None):
        if not training or self.sigma == 0:
            return inputs
        if self.eigenvalues is None:
            raise ValueError("PCAColorAugmentation: call adapt(images) before training")
        batch = ops.shape(inputs)[0]
        alphas = keras.random.normal((batch, 3), stddev=self.sigma, seed=self.seed_generator)
        weighted = alphas * ops.convert_to_tensor(self.eigenvalues)  # (batch, 3)
        shift = ops.matmul(weighted, ops.transpose(ops.convert_to_tensor(self.eigenvectors)))
        shift = ops.cast(shift, inputs.dtype)
        return inputs + ops.reshape(shift, (batch, 1, 1, 3))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "sigma": self.sigma,
            "seed": self.seed,
            "eigenvalues": None if self.eigenvalues is None else self.eigenvalues.tolist(),
            "eigenvectors": None if self.eigenvectors is None else self.eigenvectors.tolist(),
        }


def ten_crops(images, crop_size: int) -> list:
    """The paper's ten test patches (section 4.1): the four corner and the centre
    ``crop_size`` squares, and their horizontal reflections.

    Raises:
        ValueError: the crop is larger than the images.
    """
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
        ValueError: the crop is larger than the images.
    """
    crop_size = crop_size or model.input_shape[1]
    crops = ten_crops(np.asarray(images), crop_size)
    predictions = [model.predict(ops.convert_to_numpy(crop), batch_size=batch_size, verbose=0)
                   for crop in crops]
    return np.mean(predictions, axis=0)
