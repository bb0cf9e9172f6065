"""What only breaks at full size, in the default tier: every network the chapters build, at
the full profile's shapes (227x227 inside the network, the paper's width, one and two
towers), takes one training step with the paper's recipe and predicts from ten patches, in
one process. The integration tier runs each chapter at the smoke profile; this is the
cheap part of that guarantee that every change must pass."""

import keras
import numpy as np
import pytest

from alexnet_book import augment, models, profile, training

FULL = profile.get("full")


def _course_networks():
    """The course model's variants the chapters build (chapters 3, 4, 6 and 7)."""
    return {
        "lrn, one tower": lambda: models.course_model(FULL),
        "lrn, two towers": lambda: models.course_model(FULL, towers=2),
        "no normalisation, two towers": lambda: models.course_model(FULL, towers=2, norm=None),
        "batchnorm": lambda: models.course_model(FULL, norm="batchnorm"),
        "no dropout": lambda: models.course_model(FULL, dropout=0.0),
        "paper's initialisation": lambda: models.course_model(FULL, paper_init=True),
        "half the kernels, one tower": lambda: models.half_one_tower(FULL),
    }


@pytest.mark.parametrize("name", list(_course_networks()))
def test_each_course_network_trains_a_step_and_predicts_ten_patches_at_full_size(name):
    keras.utils.set_random_seed(0)
    model = _course_networks()[name]()
    assert model.get_layer("resize").output.shape[1:3] == (FULL.image_size, FULL.image_size) == (227, 227)
    assert model.get_layer("conv1").filters == (48 if "half" in name else 96)  # the paper's width
    model, _ = training.compile_with_paper_recipe(model)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (4, 28, 28, 1)).astype("float32")
    y = np.arange(4) % 10
    loss = model.train_on_batch(x, y)
    loss = loss[0] if isinstance(loss, list | tuple) else loss
    assert np.isfinite(loss), f"{name}: loss {loss}"
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))  # chapter 4's 32 px images, 28 px patches
    probabilities = augment.ten_crop_predict(model, padded, crop_size=28)
    assert probabilities.shape == (4, 10)
    np.testing.assert_allclose(np.asarray(probabilities).sum(axis=1), 1.0, rtol=1e-4)
    keras.backend.clear_session()


@pytest.mark.parametrize("towers, parameters", [(1, 62_378_344), (2, 60_965_224)])
def test_the_papers_network_trains_a_step_at_227(towers, parameters):
    """Chapters 2 and 5 build the paper's own network (1,000 classes, 227x227x3 inputs)."""
    keras.utils.set_random_seed(0)
    model = models.alexnet(towers=towers)
    assert model.count_params() == parameters
    model, _ = training.compile_with_paper_recipe(model)
    x = np.random.default_rng(0).normal(size=(2, 227, 227, 3)).astype("float32")
    loss = model.train_on_batch(x, np.array([0, 999]))
    assert np.isfinite(loss[0] if isinstance(loss, list | tuple) else loss)
    keras.backend.clear_session()
