import numpy as np
import pytest

from alexnet_book import augment, pipeline


def test_batches_shuffle_augment_and_cover_every_image():
    x = np.arange(10 * 6 * 6, dtype="float32").reshape(10, 6, 6, 1)
    y = np.arange(10)
    ds = pipeline.batches(x, y, 4, augmentation=augment.center_crop(6, 4), seed=1)
    first = [(images.numpy(), labels.numpy()) for images, labels in ds]
    assert [len(labels) for _, labels in first] == [4, 4, 2]
    assert sorted(np.concatenate([labels for _, labels in first]).tolist()) == list(range(10))
    images, labels = first[0]
    assert images.shape == (4, 4, 4, 1)
    np.testing.assert_array_equal(images[:, :, :, 0], x[labels, 1:5, 1:5, 0])
    second = np.concatenate([labels.numpy() for _, labels in ds])
    assert second.tolist() != np.concatenate([labels for _, labels in first]).tolist()
    in_order = np.concatenate([labels.numpy() for _, labels in pipeline.batches(x, y, 4, shuffle=False)])
    assert in_order.tolist() == list(range(10))


def test_batches_reject_bad_arguments():
    x, y = np.zeros((4, 2, 2, 1)), np.zeros(4)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        pipeline.batches(x, y, 0)
    with pytest.raises(ValueError, match="x and y must have the same length, got 4 and 3"):
        pipeline.batches(x, y[:3], 2)
