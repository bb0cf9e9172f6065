import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from alexnet_book import plots  # noqa: E402


def test_image_grid_titles_every_image():
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    fig = plots.image_grid(images, [0, 1, 2, 3, 4], list("abcde"), columns=3, title="t")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == list("abcde")
    fig = plots.image_grid(images, [0, 1, 2, 3, 4], list("abcde"), predictions=[0, 1, 2, 3, 0])
    assert fig.axes[4].get_title() == "a\n(true: e)"


def test_image_grid_fits_the_page_column_at_a_readable_size():
    images = np.zeros((20, 28, 28), dtype=np.uint8)
    for columns, predictions in ((10, None), (6, [0] * 20)):
        fig = plots.image_grid(images, [1] * 20, list("abcdefghij"), columns=columns,
                               predictions=predictions)
        assert fig.get_size_inches()[0] <= plots.FIGURE_WIDTH
        assert {ax.title.get_fontsize() for ax in fig.axes if ax.get_title()} == {plots.CAPTION_SIZE}


def test_image_grid_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="got 2 images and 3 labels"):
        plots.image_grid(np.zeros((2, 4, 4)), [0, 1, 2], ["a", "b", "c"])


def test_training_curves_label_train_and_validation():
    history = {"accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6]}
    fig = plots.training_curves({"run": history})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["run (train)", "run (val)"]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "accuracy"
    with pytest.raises(KeyError, match="has no 'loss'"):
        plots.training_curves({"run": history}, metric="loss")
