"""The networks of the course: AlexNet (paper, section 3 and Figure 2), the variant this
course grew from, LeNet-5 and ZF Net for contrast, and a per-layer accounting table.
"""

from __future__ import annotations

import inspect
import math
import numbers

import keras
import numpy as np
import pandas as pd

from alexnet_book import profile as profiles
from alexnet_book.layers import LocalResponseNormalization, TowerConv2D

NORMS = ("lrn", "batchnorm", None)
#: The middle convolutions ``alexnet(drop_conv=...)`` can remove (section 7's ablation).
DROPPABLE_CONVS = (None, 3, 4)

# The paper's channel counts: conv1..conv5, then the two hidden dense layers.
ALEXNET_FILTERS = (96, 256, 384, 384, 256)
ALEXNET_DENSE = 4096


def minimum_input_size(overlapping_pool: bool = True) -> int:
    """The smallest square input AlexNet's stem (11x11 stride-4 conv1, three poolings)
    accepts while every feature map keeps at least one pixel: 67 with 3x3 stride-2
    pooling, 39 with 2x2 stride-2 pooling."""
    pool, stride = (3, 2) if overlapping_pool else (2, 2)
    size = 1
    for _ in range(3):  # undo pool5, pool2, pool1 (convs 2-5 keep their size)
        size = (size - 1) * stride + pool
    return (size - 1) * 4 + 11


#: The narrowest network the builders accept: conv1 keeps 6 filters and fc6 256 units.
MIN_WIDTH = 1 / 16


def _check_width(width: float) -> None:
    """A real number (Python's or NumPy's) from :data:`MIN_WIDTH` up, finite.

    Raises:
        ValueError: naming the value received (a number as written, anything else with its type).
    """
    number = isinstance(width, numbers.Real) and not isinstance(width, (bool, np.bool_))
    if not number or not MIN_WIDTH <= width < math.inf:
        shown = str(width) if number else f"{width!r} (a {type(width).__name__})"
        raise ValueError(f"width must be a number >= {MIN_WIDTH:g} (1.0 is the paper's network; "
                         f"narrower ones barely learn), got {shown}")


def _check_input_size(input_shape, resize_to: int | None, overlapping_pool: bool = True) -> None:
    """One input check for every AlexNet builder: a (height, width, channels) shape whose
    side, or ``resize_to``, is at least :func:`minimum_input_size`."""
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    side = resize_to if resize_to is not None else min(input_shape[:2])
    minimum = minimum_input_size(overlapping_pool)
    if side < minimum:
        hint = "" if resize_to is not None else f", or pass resize_to={minimum}"
        raise ValueError(
            f"input {side}x{side} is too small for AlexNet's stem (11x11 stride-4 conv1 "
            f"and three {'3x3' if overlapping_pool else '2x2'} poolings): the minimum is "
            f"{minimum}x{minimum}{hint}"
        )


def _scaled(units: int, width: float, multiple: int) -> int:
    """``units * width`` rounded to a multiple of ``multiple`` (the tower count), >= 1 each."""
    return max(multiple, int(round(units * width / multiple)) * multiple)


def alexnet(
    input_shape: tuple[int, int, int] = (227, 227, 3),
    num_classes: int = 1000,
    towers: int = 1,
    norm: str | None = "lrn",
    overlapping_pool: bool = True,
    dropout: float = 0.5,
    width: float = 1.0,
    paper_init: bool = False,
    resize_to: int | None = None,
    name: str | None = None,
    drop_conv: int | None = None,
) -> keras.Model:
    """AlexNet as in the paper (section 3, Figure 2).

    conv1 96x11x11/4 -> [norm] -> pool -> conv2 256x5x5 -> [norm] -> pool -> conv3 384x3x3
    -> conv4 384x3x3 -> conv5 256x3x3 -> pool -> fc6 4096 -> dropout -> fc7 4096 -> dropout
    -> fc8 softmax. ReLU after every convolution and hidden dense layer.

    Args:
        input_shape: ``(height, width, channels)`` of the images fed to the model. 227x227
            makes the paper's arithmetic work; the paper's 224 (and Figure 2's 150,528-value
            input) is an open question: padding or a typo.
        num_classes: units of the softmax layer.
        towers: 1 for one tower; 2 for the paper's two-GPU split, as grouped convolutions
            (``groups=2`` in conv2, conv4 and conv5; conv3 and the dense layers see both
            towers). Defaults give 62,378,344 parameters with one tower, 60,965,224 with two.
        norm: "lrn" (local response normalisation after conv1 and conv2, as in the paper),
            "batchnorm" (BatchNormalization in the same two places, for the ablation of
            chapter 3) or None.
        overlapping_pool: 3x3 stride-2 pooling (the paper, section 3.4); False gives
            2x2 stride-2 pooling.
        dropout: dropout rate after fc6 and fc7 (section 4.2); 0 disables it.
        width: multiplier on every filter and unit count (1.0 is the paper's network).
        paper_init: weights from N(0, 0.01^2); biases 1 in conv2, conv4, conv5 and the
            hidden dense layers, 0 elsewhere (section 5). Otherwise Keras' defaults.
        resize_to: if set, a ``Resizing`` layer first scales the input to
            ``resize_to x resize_to``: the course's adaptation for small images such as
            Fashion-MNIST's 28x28, done on the device so the data stays small.
        name: model name (default "alexnet").
        drop_conv: None for the paper's five convolutions; 3 or 4 removes that middle
            layer (3x3, same padding, so the shapes around it still fit) for the depth
            ablation of section 7, "removing any of the middle layers results in a loss
            of about 2% for the top-1 performance".

    Returns:
        An uncompiled ``keras.Model``.

    Raises:
        ValueError: towers not 1 or 2, unknown norm, width below MIN_WIDTH, a dropout rate outside
            [0, 1), an input smaller than the stem accepts (the message names the
            minimum), or a drop_conv other than None, 3 or 4.
    """
    if towers not in (1, 2) or isinstance(towers, bool):
        raise ValueError(f"towers must be 1 or 2, got {towers!r}")
    if norm not in NORMS:
        raise ValueError(f"norm must be one of 'lrn', 'batchnorm' or None, got {norm!r}")
    _check_width(width)
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    _check_input_size(input_shape, resize_to, overlapping_pool)
    if drop_conv not in DROPPABLE_CONVS or isinstance(drop_conv, bool):
        raise ValueError(f"drop_conv must be one of {DROPPABLE_CONVS} (None keeps all five "
                         f"convolutions; 3 or 4 removes that middle layer), got {drop_conv!r}")

    filters = [_scaled(f, width, towers) for f in ALEXNET_FILTERS]
    # one tower: plain Conv2D; two: the same layer computed per tower (TowerConv2D)
    tower_conv = TowerConv2D if towers > 1 else keras.layers.Conv2D
    dense_units = _scaled(ALEXNET_DENSE, width, 1)
    pool_size = 3 if overlapping_pool else 2
    zeros, ones = keras.initializers.Zeros(), keras.initializers.Ones()

    def init(bias_one: bool) -> dict:
        if not paper_init:
            return {}
        return {
            "kernel_initializer": keras.initializers.RandomNormal(0.0, 0.01),
            "bias_initializer": ones if bias_one else zeros,
        }

    def normalise(x, label):
        if norm == "lrn":
            return LocalResponseNormalization(name=f"lrn{label}")(x)
        if norm == "batchnorm":
            return keras.layers.BatchNormalization(name=f"bn{label}")(x)
        return x

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    if resize_to is not None:
        x = keras.layers.Resizing(resize_to, resize_to, name="resize")(x)
    x = keras.layers.Conv2D(filters[0], 11, strides=4, activation="relu", name="conv1",
                            **init(False))(x)
    x = normalise(x, 1)
    x = keras.layers.MaxPooling2D(pool_size, strides=2, name="pool1")(x)
    x = tower_conv(filters[1], 5, padding="same", groups=towers, activation="relu",
                   name="conv2", **init(True))(x)
    x = normalise(x, 2)
    x = keras.layers.MaxPooling2D(pool_size, strides=2, name="pool2")(x)
    if drop_conv != 3:
        x = keras.layers.Conv2D(filters[2], 3, padding="same", activation="relu", name="conv3",
                                **init(False))(x)
    if drop_conv != 4:
        x = tower_conv(filters[3], 3, padding="same", groups=towers, activation="relu",
                       name="conv4", **init(True))(x)
    x = tower_conv(filters[4], 3, padding="same", groups=towers, activation="relu",
                   name="conv5", **init(True))(x)
    x = keras.layers.MaxPooling2D(pool_size, strides=2, name="pool5")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="fc6", **init(True))(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout6")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="fc7", **init(True))(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout7")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="fc8",
                                 **init(False))(x)
    return keras.Model(inputs, outputs, name=name or "alexnet")


def course_model(profile=None, **overrides) -> keras.Model:
    """The course's AlexNet for Fashion-MNIST at a profile's scale: 28x28x1 inputs resized
    on the device to ``profile.image_size``, ``profile.width``, 10 classes, and otherwise
    the paper's network. Every chapter and benchmark builds its model here, so the course
    model is changed in one place.

    Args:
        profile: an :class:`alexnet_book.profile.Profile` (default: the one in force).
        **overrides: any other argument of :func:`alexnet` (norm, towers, dropout,
            overlapping_pool, paper_init, name, ...) for ablations.

    Raises:
        ValueError: as :func:`alexnet`, or an override that :func:`alexnet` has no
            argument for.
    """
    profile = profile or profiles.current()
    fixed = {"input_shape": (28, 28, 1), "num_classes": 10}
    known = set(inspect.signature(alexnet).parameters) - set(fixed)
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"course_model got unknown arguments {unknown}; allowed: {sorted(known)}")
    settings = {"width": profile.width, "resize_to": profile.image_size, **overrides}
    return alexnet(**fixed, **settings)


def seed_alexnet(
    input_shape: tuple[int, int, int] = (227, 227, 3),
    num_classes: int = 1000,
    width: float = 1.0,
    l2: float = 2e-4,
    resize_to: int | None = None,
) -> keras.Model:
    """The AlexNet variant this course grew from: the popular Keras tutorial version.

    Same five convolutions and three dense layers as :func:`alexnet`, with these
    differences from the paper:

    1. BatchNormalization after every convolution and hidden dense layer, where the paper
       has LRN after conv1 and conv2 only (BatchNorm appeared in 2015).
    2. Dropout 0.25 after each of the three poolings, in addition to dropout 0.5 after
       fc6 and fc7; the paper has no dropout in the convolutional part.
    3. An L2 penalty of ``l2 = 2e-4`` on every kernel, a loss term; the paper uses weight
       decay 5e-4 inside the SGD update (section 5), which is not the same for momentum SGD
       and differs by a factor of two in scale. The original applied 0.002 to conv4 and
       conv5, ten times the rest: a typo, corrected here to 0.0002 everywhere.
    4. One tower (no grouped convolutions) and Keras' default initialisation.
    5. A softmax output, as in the paper, but trained with Adam in the original.

    Args:
        input_shape, num_classes, width, resize_to: as in :func:`alexnet`.
        l2: the L2 coefficient on every kernel.

    Returns:
        An uncompiled ``keras.Model`` named "seed_alexnet".

    Raises:
        ValueError: width below MIN_WIDTH, l2 < 0, or an input too small (see :func:`alexnet`).
    """
    _check_width(width)
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2!r}")
    _check_input_size(input_shape, resize_to)
    reg = keras.regularizers.L2(l2)
    filters = [_scaled(f, width, 1) for f in ALEXNET_FILTERS]
    dense_units = _scaled(ALEXNET_DENSE, width, 1)

    def conv(x, f, k, label, strides=1, padding="same"):
        x = keras.layers.Conv2D(f, k, strides=strides, padding=padding, activation="relu",
                                kernel_regularizer=reg, name=f"conv{label}")(x)
        return keras.layers.BatchNormalization(name=f"bn{label}")(x)

    def pool(x, label):
        x = keras.layers.MaxPooling2D(3, strides=2, name=f"pool{label}")(x)
        return keras.layers.Dropout(0.25, name=f"pool_dropout{label}")(x)

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    if resize_to is not None:
        x = keras.layers.Resizing(resize_to, resize_to, name="resize")(x)
    x = pool(conv(x, filters[0], 11, 1, strides=4, padding="valid"), 1)
    x = pool(conv(x, filters[1], 5, 2), 2)
    x = conv(x, filters[2], 3, 3)
    x = conv(x, filters[3], 3, 4)
    x = pool(conv(x, filters[4], 3, 5), 5)
    x = keras.layers.Flatten(name="flatten")(x)
    for label in (6, 7):
        x = keras.layers.Dense(dense_units, activation="relu", kernel_regularizer=reg,
                               name=f"fc{label}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{label}")(x)
        x = keras.layers.Dropout(0.5, name=f"dropout{label}")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", kernel_regularizer=reg,
                                 name="fc8")(x)
    return keras.Model(inputs, outputs, name="seed_alexnet")


def small_cnn(input_shape: tuple[int, int, int] = (28, 28, 1), num_classes: int = 10) -> keras.Model:
    """Chapter 0's small network, the course's baseline: two 3x3 convolution and 2x2
    pooling stages (16 and 32 filters) and a softmax layer, 12,810 parameters at the
    defaults, on Fashion-MNIST's 28x28 images at their own size."""
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(num_classes, activation="softmax"),
    ], name="small_cnn")


def lenet5(input_shape: tuple[int, int, int] = (32, 32, 1), num_classes: int = 10) -> keras.Model:
    """LeNet-5 (LeCun et al., 1998), for contrast: 61,706 parameters at the defaults.

    C1 6x5x5 -> S2 average pool -> C3 16x5x5 -> S4 -> C5 120x5x5 -> F6 84 -> softmax, tanh
    activations. Two simplifications of the original, which change the count: C3 connects
    to all six S2 maps (the original used a sparse table: 1,516 instead of 2,416
    parameters), and the output is a softmax layer instead of Euclidean RBF units.

    Raises:
        ValueError: the input is smaller than 32x32 (C5 needs a 5x5 map).
    """
    if min(input_shape[:2]) < 32:
        raise ValueError(f"input {input_shape[0]}x{input_shape[1]} is too small for LeNet-5: "
                         "the minimum is 32x32 (pad 28x28 MNIST images by 2)")
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(6, 5, activation="tanh", name="c1")(inputs)
    x = keras.layers.AveragePooling2D(2, name="s2")(x)
    x = keras.layers.Conv2D(16, 5, activation="tanh", name="c3")(x)
    x = keras.layers.AveragePooling2D(2, name="s4")(x)
    x = keras.layers.Conv2D(120, 5, activation="tanh", name="c5")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(84, activation="tanh", name="f6")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name="lenet5")


def zfnet(input_shape: tuple[int, int, int] = (224, 224, 3), num_classes: int = 1000) -> keras.Model:
    """ZF Net (Zeiler and Fergus, 2013; ILSVRC-2013): AlexNet with a finer stem.

    conv1 is 96x7x7 with stride 2 (AlexNet: 11x11, stride 4), conv2 has stride 2, and the
    network runs on one GPU, so no grouped convolutions (conv3 to conv5: 384, 384, 256).
    One-pixel zero padding before conv1 and before the first two poolings gives the
    paper's 110 -> 55 -> 26 -> 13 -> 6 maps. LRN after the first two poolings.

    Raises:
        ValueError: the input is smaller than the 6x6 final map allows (minimum 197x197).
    """
    if min(input_shape[:2]) < 197:
        raise ValueError(f"input {input_shape[0]}x{input_shape[1]} is too small for ZF Net: "
                         "the minimum is 197x197")
    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.ZeroPadding2D(1, name="pad1")(inputs)
    x = keras.layers.Conv2D(96, 7, strides=2, activation="relu", name="conv1")(x)
    x = keras.layers.ZeroPadding2D(1, name="pad_pool1")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = LocalResponseNormalization(name="lrn1")(x)
    x = keras.layers.Conv2D(256, 5, strides=2, activation="relu", name="conv2")(x)
    x = keras.layers.ZeroPadding2D(1, name="pad_pool2")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = LocalResponseNormalization(name="lrn2")(x)
    x = keras.layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    x = keras.layers.Conv2D(384, 3, padding="same", activation="relu", name="conv4")(x)
    x = keras.layers.Conv2D(256, 3, padding="same", activation="relu", name="conv5")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(4096, activation="relu", name="fc6")(x)
    x = keras.layers.Dropout(0.5, name="dropout6")(x)
    x = keras.layers.Dense(4096, activation="relu", name="fc7")(x)
    x = keras.layers.Dropout(0.5, name="dropout7")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="fc8")(x)
    return keras.Model(inputs, outputs, name="zfnet")


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def layer_table(model: keras.Model) -> pd.DataFrame:
    """One row per layer: output shape, parameters, multiply-accumulates (MACs) per image,
    activation memory per image (float32 bytes), receptive field and cumulative stride.

    The receptive field and stride are in pixels of the (possibly resized) input;
    dense layers see the whole image, shown as their input's side. Layers that hold no
    computation of their own (dropout, flatten) cost 0 MACs.

    Raises:
        ValueError: the model has no layers beyond its input.
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not layers:
        raise ValueError(f"model {model.name!r} has no layers to tabulate")
    rows = []
    receptive, jump = 1, 1
    image_side = model.inputs[0].shape[1]
    for layer in layers:
        shape = tuple(layer.output.shape[1:])
        macs = 0
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw = _pair(layer.kernel_size)
            in_channels = layer.input.shape[-1]
            macs = math.prod(shape) * kh * kw * in_channels // layer.groups
            sh, _ = _pair(layer.strides)
            receptive += (kh - 1) * jump
            jump *= sh
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            ph, _ = _pair(layer.pool_size)
            sh, _ = _pair(layer.strides)
            receptive += (ph - 1) * jump
            jump *= sh
        elif isinstance(layer, keras.layers.Dense):
            macs = layer.input.shape[-1] * layer.units
            receptive = image_side  # every unit sees the whole image
        elif isinstance(layer, keras.layers.Resizing):
            receptive, jump, image_side = 1, 1, shape[0]
        rows.append({
            "layer": layer.name,
            # a tower convolution is a Conv2D computed per group: listed as one
            "type": "Conv2D" if isinstance(layer, keras.layers.Conv2D) else type(layer).__name__,
            "output shape": shape,
            "parameters": layer.count_params(),
            "MACs": int(macs),
            "activations (KiB, fp32)": math.prod(shape) * 4 / 1024,
            "receptive field": receptive,
            "stride": jump,
        })
    return pd.DataFrame(rows).set_index("layer")


def summary_text(model: keras.Model, line_length: int = 80) -> str:
    """Keras' ``model.summary()`` as plain text: the same box-drawn table, without the
    terminal colours Rich gives it (they do not read on the website's code background).

    Keras writes the plain table when given a ``print_fn``; in Jupyter, Rich then also
    displays an empty block, which is captured here and dropped.

    Args:
        model: a built Keras model.
        line_length: the table's width in characters (at least 40).

    Returns:
        The summary's lines joined with newlines, no trailing newline.

    Raises:
        ValueError: ``line_length`` is below 40.
    """
    if line_length < 40:
        raise ValueError(f"line_length must be at least 40 characters, got {line_length}")
    try:
        from IPython.utils.capture import capture_output  # IPython: the chapters' extra, not a dependency
    except ImportError:  # the library itself does not need IPython
        from contextlib import nullcontext as capture_output
    lines: list[str] = []
    with capture_output():
        model.summary(line_length=line_length, print_fn=lines.append)
    return "\n".join(lines).rstrip("\n")


#: Filters of the four-layer network (cuda-convnet's CIFAR-10 example: three 5x5
#: convolutions with 3x3 stride-2 pooling, then the softmax layer).
FOUR_LAYER_FILTERS = (32, 32, 64)


def four_layer_net(activation: str = "relu", norm: str | None = None, width: float = 1.0,
                   paper_init: bool = False, bias_one: bool = False, he_init: bool = False,
                   input_shape: tuple[int, int, int] = (28, 28, 1), num_classes: int = 10) -> keras.Model:
    """Figure 1's kind of network and section 3.3's CIFAR-10 test net: three 5x5
    convolutions (32, 32, 64 filters times ``width``), each followed by the activation,
    optional LRN and 3x3 stride-2 max pooling, then a softmax layer: four layers with
    weights. ``paper_init`` draws every kernel from N(0, 0.01^2) with zero biases (section 5),
    otherwise Keras' Glorot default. ``bias_one`` starts the biases of the hidden layers after
    the first (conv2, conv3) at 1, as section 5 does for AlexNet's conv2, conv4, conv5 and
    hidden fully-connected layers ("providing the ReLUs with positive inputs"). ``he_init``
    draws every kernel from He's normal (variance 2 / fan-in): on raw pixels it keeps the
    activations at the pixels' scale, where LRN's constants act.

    Raises:
        ValueError: an activation other than "relu" or "tanh", a norm other than None or
            "lrn", a width that leaves no filter, or both ``paper_init`` and ``he_init``.
    """
    if activation not in ("relu", "tanh"):
        raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
    if norm not in (None, "lrn"):
        raise ValueError(f"norm must be None or 'lrn', got {norm!r}")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not width > 0:
        raise ValueError(f"width must be a number > 0, got {width!r}")
    if paper_init and he_init:
        raise ValueError("paper_init and he_init are two initialisations: choose one, got both True")
    filters = [max(1, round(f * width)) for f in FOUR_LAYER_FILTERS]
    init = {"kernel_initializer": keras.initializers.RandomNormal(0.0, 0.01)} if paper_init else {}
    if he_init:
        init = {"kernel_initializer": keras.initializers.HeNormal()}
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters, start=1):
        bias = {"bias_initializer": keras.initializers.Constant(1.0)} if bias_one and i > 1 else {}
        x = keras.layers.Conv2D(f, 5, padding="same", activation=activation, name=f"conv{i}",
                                **init, **bias)(x)
        if norm == "lrn":
            x = LocalResponseNormalization(name=f"lrn{i}")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="softmax", **init)(x)
    return keras.Model(inputs, outputs, name=f"four_layer_{activation}{'_lrn' if norm else ''}")


#: Kernels per layer of the paper's one-GPU comparison net (section 3.2, footnote 2): half
#: of conv1 to conv4, conv5 and the dense layers whole.
HALF_ONE_TOWER_FILTERS = (48, 128, 192, 192, 256)


def half_one_tower(profile=None, width: float | None = None, dropout: float = 0.5) -> keras.Model:
    """The one-GPU net the paper compares its two towers with (section 3.2, footnote 2):
    one tower with half the kernels of conv1 to conv4, conv5 (256) and the dense layers
    (4096) not halved. LRN and overlapping pooling as in :func:`alexnet`; 28x28x1 inputs
    resized to the profile's image size, as :func:`course_model`.

    Args:
        profile: sizes (default: the one in force).
        width: multiplier on every count (default: the profile's).
        dropout: after fc6 and fc7.

    Raises:
        ValueError: width below MIN_WIDTH.
    """
    profile = profile or profiles.current()
    width = profile.width if width is None else width
    _check_width(width)
    f = [_scaled(n, width, 1) for n in HALF_ONE_TOWER_FILTERS]
    dense = _scaled(ALEXNET_DENSE, width, 1)
    inputs = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Resizing(profile.image_size, profile.image_size, name="resize")(inputs)
    x = keras.layers.Conv2D(f[0], 11, strides=4, activation="relu", name="conv1")(x)
    x = LocalResponseNormalization(name="lrn1")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = keras.layers.Conv2D(f[1], 5, padding="same", activation="relu", name="conv2")(x)
    x = LocalResponseNormalization(name="lrn2")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    for i, n in ((3, f[2]), (4, f[3]), (5, f[4])):
        x = keras.layers.Conv2D(n, 3, padding="same", activation="relu", name=f"conv{i}")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i in (6, 7):
        x = keras.layers.Dense(dense, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="fc8")(x)
    return keras.Model(inputs, outputs, name="half_one_tower")
