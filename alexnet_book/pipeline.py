"""The course's input pipeline: tf.data batches, augmented on whole batches in parallel
and prefetched, so the device never waits for Python (chapter 5 measures why).

TensorFlow is imported only when a pipeline is built: the rest of the library runs on
any Keras backend.
"""

from __future__ import annotations

import numpy as np


def batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    augmentation=None,
    shuffle: bool = True,
    seed: int = 0,
):
    """A ``tf.data.Dataset`` of ``(images, labels)`` batches: cached, reshuffled every
    epoch (when ``shuffle``), batched, passed through ``augmentation`` (a Keras layer
    called with ``training=True``, e.g. :func:`alexnet_book.augment.crop_and_flip`, or
    a deterministic one such as a centre crop) on whole batches in parallel, and
    prefetched.

    Raises:
        ValueError: batch_size < 1, or x and y of different lengths.
    """
    # tf.data only here: the rest of the library imports on JAX without TensorFlow
    import tensorflow as tf

    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x):,} and {len(y):,}")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augmentation is not None:
        ds = ds.map(lambda images, labels: (augmentation(images, training=True), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
