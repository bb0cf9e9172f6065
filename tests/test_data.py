import gzip
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from alexnet_book import data


def _write_idx(folder, n_train=20, n_test=10):
    """A tiny data set in the real IDX format under Keras' file names."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, n) + labels.tobytes())
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
    return folder


def test_cache_dir_respects_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert data.keras_cache_dir() == tmp_path / "kh" / "datasets" / "fashion-mnist"


def test_offline_copy_fills_keras_cache_and_keras_reads_it(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    source = _write_idx(tmp_path / "debian")
    # Keras reads KERAS_HOME when it is imported: load in a fresh process, network blocked.
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('no network in this test')\n"
        "socket.socket.connect = refuse\n"
        "from alexnet_book import data\n"
        f"(x, y), (xt, yt) = data.load_fashion_mnist(source_dir={str(source)!r})\n"
        "print(x.shape, xt.shape, y.tolist())\n"
    )
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "kh")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    expected = f"(20, 28, 28) (10, 28, 28) {[i % 10 for i in range(20)]}"
    assert out.stdout.strip().splitlines()[-1] == expected
    cache = tmp_path / "kh" / "datasets" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(data.FASHION_MNIST_FILES)


def test_missing_data_names_both_ways(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    with pytest.raises(data.DataUnavailableError) as error:
        data.install_offline_copy(source_dir=tmp_path / "nowhere", use_apt=False)
    message = str(error.value)
    assert "internet" in message and "dataset-fashion-mnist" in message
    assert str(tmp_path / "empty") in message


def test_failed_download_raises_the_clear_error(monkeypatch, tmp_path):
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))

    def no_network():
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", no_network)
    with pytest.raises(data.DataUnavailableError, match="connect to the internet"):
        data.load_fashion_mnist(source_dir=tmp_path / "nowhere")


def test_real_data_is_available_offline():
    """`make test` prepared Keras' cache; the real data loads with its real shapes."""
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    assert x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)
    assert np.bincount(y_train).tolist() == [6_000] * 10
    assert len(data.CLASS_NAMES) == 10


def test_subset_is_balanced_and_reproducible():
    y = np.repeat(np.arange(10), 50)
    x = np.arange(500)
    xs, ys = data.subset(x, y, 100, seed=3)
    assert np.bincount(ys).tolist() == [10] * 10
    assert np.array_equal(y[xs], ys)
    assert np.array_equal(data.subset(x, y, 100, seed=3)[0], xs)
    assert len(set(data.subset(x, y, 105, seed=3)[0].tolist())) == 105


@pytest.mark.parametrize("n", [0, 501])
def test_subset_rejects_bad_sizes(n):
    with pytest.raises(ValueError, match=f"n must be between 1 and 500, got {n}"):
        data.subset(np.zeros(500), np.zeros(500, int), n)


def test_center_subtracts_the_mean_image_and_adds_a_channel():
    images = np.stack([np.full((2, 2), v, np.uint8) for v in (10, 30)])
    mean = data.mean_image(images)
    assert mean.tolist() == [[20.0, 20.0], [20.0, 20.0]]
    centred = data.center(images, mean)
    assert centred.shape == (2, 2, 2, 1) and centred.dtype == np.float32
    assert centred[:, 0, 0, 0].tolist() == [-10.0, 10.0]
    with pytest.raises(ValueError, match=r"mean must have one image's shape \(2, 2\), got \(3,\)"):
        data.center(images, np.zeros(3))
