"""Layers the paper uses that Keras does not ship: local response normalisation.

Written with ``keras.ops`` only, so it runs on the TensorFlow, JAX and PyTorch backends.
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="alexnet_book")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalisation across channels (paper, section 3.3).

    For activity ``a`` at channel ``i``::

        b_i = a_i / (bias + alpha * sum_{j=i-r}^{i+r} a_j ** 2) ** beta

    with the sum clipped at the first and last channel. The paper's values are
    ``k=2, n=5, alpha=1e-4, beta=0.75``; ``n=5`` is ``depth_radius=2``. As in TensorFlow's
    ``tf.nn.local_response_normalization``, ``alpha`` multiplies the plain sum (PyTorch and
    Caffe divide it by ``n``: see :func:`from_torch_settings`). Channels-last inputs;
    integer inputs (e.g. uint8 images) are computed in the layer's float dtype.

    Args:
        depth_radius: half-width ``r`` of the channel window (window size ``2r + 1``).
        bias: the constant ``k``.
        alpha: the scale of the sum of squares.
        beta: the exponent.

    Raises:
        ValueError: ``depth_radius`` negative or not an integer, ``bias`` or ``beta`` not
            positive, ``alpha`` negative.
    """

    def __init__(self, depth_radius: int = 2, bias: float = 2.0, alpha: float = 1e-4,
                 beta: float = 0.75, **kwargs):
        super().__init__(**kwargs)
        if (isinstance(depth_radius, bool) or not isinstance(depth_radius, numbers.Integral)
                or depth_radius < 0):
            raise ValueError(f"depth_radius must be an integer >= 0, got {depth_radius!r}")
        if not bias > 0:
            raise ValueError(f"bias must be > 0, got {bias!r}")
        if not alpha >= 0:
            raise ValueError(f"alpha must be >= 0, got {alpha!r}")
        if not beta > 0:
            raise ValueError(f"beta must be > 0, got {beta!r}")
        self.depth_radius = int(depth_radius)  # also NumPy integers, stored as int for the config
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def build(self, input_shape):
        # The window sum over channels is one matmul with a band matrix:
        # band[j, i] = 1 where |i - j| <= depth_radius. Fast on every backend.
        channels = int(input_shape[-1])
        index = np.arange(channels)
        self._band = np.asarray(np.abs(index[:, None] - index[None, :]) <= self.depth_radius,
                                dtype="float32")

    def call(self, inputs):
        if not keras.backend.is_float_dtype(keras.backend.standardize_dtype(inputs.dtype)):
            inputs = ops.cast(inputs, self.compute_dtype)
        band = ops.cast(ops.convert_to_tensor(self._band), inputs.dtype)
        window_sum = ops.matmul(ops.square(inputs), band)
        return inputs / ops.power(self.bias + self.alpha * window_sum, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }


def from_torch_settings(size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> dict:
    """Convert PyTorch's ``nn.LocalResponseNorm(size, alpha, beta, k)`` (and Caffe's LRN),
    which divide ``alpha`` by the window ``size``, into this layer's arguments.

    Raises:
        ValueError: ``size`` is not a positive odd integer (an even window has no centre).
    """
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd integer, got {size!r}")
    return {"depth_radius": (int(size) - 1) // 2, "bias": k, "alpha": alpha / size, "beta": beta}


@keras.saving.register_keras_serializable(package="alexnet_book")
class TowerConv2D(keras.layers.Conv2D):
    """``Conv2D`` whose ``groups`` (the paper's towers, section 3.2) run as one convolution
    per group, concatenated along the channels.

    The weights, the configuration and the result are those of ``Conv2D(groups=...)``; only
    the computation differs. TensorFlow's CPU kernels have no grouped convolution, so Keras
    compiles each grouped one with XLA, which trains AlexNet's two-tower net several times
    slower on a CPU than the one-tower net; on other backends the grouped op is used as is.
    """

    def convolution_op(self, inputs, kernel):
        if self.groups == 1 or keras.backend.backend() != "tensorflow":
            return super().convolution_op(inputs, kernel)
        axis = -1 if self.data_format == "channels_last" else 1
        # kernel: (height, width, in_channels / groups, filters); group g owns the g-th
        # slice of the input channels and the g-th slice of the filters
        towers = zip(ops.split(inputs, self.groups, axis=axis),
                     ops.split(kernel, self.groups, axis=-1))
        return ops.concatenate(
            [ops.conv(x, k, strides=list(self.strides), padding=self.padding,
                      dilation_rate=self.dilation_rate, data_format=self.data_format)
             for x, k in towers], axis=axis)
