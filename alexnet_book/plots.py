"""Figures shared by the chapters: image grids and training curves.

Colours come from the Okabe-Ito palette, which stays distinguishable with the common
forms of colour blindness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

#: Widest figure, in inches, that the website shows at full size (its content column).
FIGURE_WIDTH = 7.0
#: Font size of image captions, in points: readable at FIGURE_WIDTH.
CAPTION_SIZE = 8

#: Okabe-Ito colour-blind-safe palette.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def image_grid(
    images: np.ndarray,
    labels: Sequence[int],
    class_names: Sequence[str],
    columns: int = 8,
    title: str | None = None,
    predictions: Sequence[int] | None = None,
):
    """A grid of images, each captioned with its class (and the prediction, if given).

    Args:
        images: ``(n, h, w)`` greyscale or ``(n, h, w, 3)`` RGB, uint8 or floats in [0, 1].
        labels: the true class index of each image.
        class_names: names indexed by class.
        columns: images per row.
        title: figure title.
        predictions: predicted class per image; wrong ones are captioned in vermillion.

    Returns:
        The matplotlib figure.

    Raises:
        ValueError: images and labels differ in number, or there are no images.
    """
    images = np.asarray(images)
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(
            f"need one label per image and at least one image, got {len(images)} images "
            f"and {len(labels)} labels"
        )
    rows = int(np.ceil(len(images) / columns))
    # At most the website's content column (about 7 inches at 100 dpi), so that the
    # captions keep their size on the page; two caption lines when predictions are shown.
    width = min(FIGURE_WIDTH, 1.2 * columns)
    caption = (0.42 if predictions is not None else 0.25) * CAPTION_SIZE / 8
    height = rows * (width / columns + caption) + (0.35 if title else 0)
    fig, axes = plt.subplots(rows, columns, figsize=(width, height), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[: len(images)]):
        cmap = "gray_r" if images[i].ndim == 2 or images[i].shape[-1] == 1 else None
        ax.imshow(np.squeeze(images[i]), cmap=cmap)
        caption = class_names[labels[i]]
        color = "black"
        if predictions is not None:
            caption = f"{class_names[predictions[i]]}\n(true: {caption})"
            color = "black" if predictions[i] == labels[i] else PALETTE[3]
        ax.set_title(caption, fontsize=CAPTION_SIZE, color=color)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def training_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    metric: str = "accuracy",
    title: str | None = None,
):
    """Training (dashed) and validation (solid) curves of several runs, one colour per run.

    Args:
        histories: run name -> ``History.history`` dict (holding ``metric`` and
            ``val_<metric>``).
        metric: the metric to plot.
        title: figure title.

    Returns:
        The matplotlib figure.

    Raises:
        KeyError: a history lacks ``metric``.
    """
    fig, ax = plt.subplots(figsize=(8, 4))
    for color, (name, history) in zip(PALETTE, histories.items()):
        if metric not in history:
            raise KeyError(f"history {name!r} has no {metric!r}; it has {sorted(history)}")
        epochs = np.arange(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], "--", color=color, label=f"{name} (train)")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "-", color=color, label=f"{name} (val)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
