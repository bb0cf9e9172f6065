"""The course's one data split (data.course_splits): sizes from the profile, disjoint,
class-balanced, deterministic."""

import dataclasses

import numpy as np
import pytest

from alexnet_book import data, profile


@pytest.fixture(scope="module")
def quick_splits():
    return data.course_splits(profile.get("quick"))


def test_sizes_come_from_the_profile(quick_splits):
    quick = profile.get("quick")
    s = quick_splits
    assert (len(s.x_train), len(s.x_val), len(s.x_test)) == (quick.train_subset, quick.test_subset,
                                                            quick.test_subset)
    assert s.x_train.dtype == np.uint8 and s.x_train.shape[1:] == (28, 28)
    assert np.bincount(s.y_train).tolist() == [quick.train_subset // 10] * 10
    assert s.describe() == "train 6,000, validation 2,000, test 2,000 images of (28, 28)"


def test_validation_is_disjoint_from_training_and_test_is_the_test_set(quick_splits):
    (x_all, _), (x_test, y_test) = data.load_fashion_mnist()
    train = {x.tobytes() for x in quick_splits.x_train}
    assert not any(x.tobytes() in train for x in quick_splits.x_val)
    first = {x.tobytes() for x in x_all[: data.VALIDATION_START]}
    assert all(x.tobytes() in first for x in quick_splits.x_train[:200])
    np.testing.assert_array_equal(quick_splits.x_test, x_test[: len(quick_splits.x_test)])


def test_deterministic_and_centred_like_the_paper(quick_splits):
    again = data.course_splits(profile.get("quick"))
    np.testing.assert_array_equal(again.x_train, quick_splits.x_train)
    train, val, test = quick_splits.centred()
    assert train.shape == (len(quick_splits.x_train), 28, 28, 1) and train.dtype == np.float32
    assert abs(float(train.mean())) < 1e-3  # the training mean is subtracted
    np.testing.assert_allclose(test[0, ..., 0], quick_splits.x_test[0] - quick_splits.mean)


def test_train_size_override_and_bad_sizes():
    small = data.course_splits(profile.get("quick"), train_size=1_000)
    assert len(small.x_train) == 1_000
    for bad in (0, 50_001, 2.5):
        with pytest.raises(ValueError, match=r"train_size must be an integer between 1 and 50,000"):
            data.course_splits(profile.get("quick"), train_size=bad)
    with pytest.raises(dataclasses.FrozenInstanceError):
        small.x_train = None


def test_every_profile_has_a_valid_split():
    for name in profile.PROFILES:
        assert 1 <= profile.get(name).train_subset <= data.VALIDATION_START, name


@pytest.mark.parametrize("name", sorted(profile.PROFILES))
def test_every_profiles_test_images_hold_every_class(name):
    # chapter 6 shows the first test image of five classes, also at the smoke profile
    assert set(data.course_splits(profile.get(name)).y_test) == set(range(10))
