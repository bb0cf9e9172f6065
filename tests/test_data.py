import gzip
import io
import os
import struct
import subprocess
import sys
import urllib.error

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


def test_centre_subtracts_the_mean_image_and_adds_a_channel():
    images = np.stack([np.full((2, 2), v, np.uint8) for v in (10, 30)])
    mean = data.mean_image(images)
    assert mean.tolist() == [[20.0, 20.0], [20.0, 20.0]]
    centred = data.centre(images, mean)
    assert centred.shape == (2, 2, 2, 1) and centred.dtype == np.float32
    assert centred[:, 0, 0, 0].tolist() == [-10.0, 10.0]
    with pytest.raises(ValueError, match=r"mean must have one image's shape \(2, 2\), got \(3,\)"):
        data.centre(images, np.zeros(3))


# Faults (issue 16): damaged files, a read-only cache, apt only when it helps.


def _damage(path, how):
    raw = path.read_bytes()
    if how == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    else:  # flip one byte of the compressed data (before the 8-byte trailer)
        at = len(raw) - 10
        path.write_bytes(raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1:])


@pytest.mark.parametrize("how", ["truncate", "corrupt"])
def test_damaged_cache_file_is_named_with_the_fix(monkeypatch, tmp_path, how):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    cache = _write_idx(tmp_path / "kh" / "datasets" / "fashion-mnist", n_train=200)
    _damage(cache / "train-images-idx3-ubyte.gz", how)
    with pytest.raises(data.DamagedFileError) as error:
        data.load_fashion_mnist(source_dir=tmp_path / "nowhere")
    message = str(error.value)
    assert str(cache / "train-images-idx3-ubyte.gz") in message
    assert "python -m alexnet_book.data" in message
    assert list(data.check_files(cache)) == ["train-images-idx3-ubyte.gz"]


def test_wrong_content_of_the_real_size_fails_the_checksum(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(path, "wb") as f:  # a valid IDX file of 10,000 labels, not Fashion-MNIST's
        f.write(struct.pack(">II", 2049, 10_000) + bytes(10_000))
    with pytest.raises(ValueError, match="not Fashion-MNIST's"):
        data.read_idx(path)
    with gzip.open(path, "wb") as f:  # header announces more than the file holds
        f.write(struct.pack(">II", 2049, 10_000) + bytes(100))
    with pytest.raises(ValueError, match="holds 100 bytes of data where its header announces 10,000"):
        data.read_idx(path)


def test_main_replaces_a_damaged_file(tmp_path, capsys):
    source = _write_idx(tmp_path / "debian")
    cache = _write_idx(tmp_path / "cache")
    _damage(cache / "t10k-labels-idx1-ubyte.gz", "truncate")
    assert data.main(cache_dir=cache, source_dir=source) == 0
    out = capsys.readouterr().out
    assert f"{cache / 't10k-labels-idx1-ubyte.gz'} is damaged" in out and "copied 1 file" in out
    assert data.check_files(cache) == {}
    assert data.main(cache_dir=cache, source_dir=source) == 0
    assert "present and intact" in capsys.readouterr().out


def _fake_origin(monkeypatch, folder):
    """Keras' download source serving the files of ``folder``; returns the URLs asked for."""
    asked = []

    def urlopen(url, timeout):
        asked.append(url)
        assert url.startswith(data.KERAS_ORIGIN) and timeout == data.DOWNLOAD_TIMEOUT
        return io.BytesIO((folder / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(data.urllib.request, "urlopen", urlopen)
    return asked


def test_main_downloads_a_damaged_file_again_without_an_offline_copy(monkeypatch, tmp_path, capsys):
    cache = _write_idx(tmp_path / "cache")
    _damage(cache / "train-labels-idx1-ubyte.gz", "corrupt")
    asked = _fake_origin(monkeypatch, _write_idx(tmp_path / "remote"))
    assert data.main(cache_dir=cache, source_dir=tmp_path / "nowhere") == 0
    assert asked == [data.KERAS_ORIGIN + "train-labels-idx1-ubyte.gz"]
    assert "downloading the missing files" in capsys.readouterr().out
    assert data.check_files(cache) == {} and not list(cache.glob("*.part"))


def test_read_only_cache_with_files_loads_from_that_cache(monkeypatch, tmp_path):
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    cache = _write_idx(tmp_path / "kh" / "datasets" / "fashion-mnist")
    for path in [*cache.iterdir(), cache]:
        path.chmod(0o555)

    def keras_would_go_to_tmp_and_the_network():
        raise AssertionError("Keras' loader must not be used when the cache is complete")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", keras_would_go_to_tmp_and_the_network)
    (x, y), (xt, yt) = data.load_fashion_mnist(source_dir=tmp_path / "nowhere")
    assert x.shape == (20, 28, 28) and yt.tolist() == list(range(10))


def test_read_only_empty_cache_is_the_documented_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    source = _write_idx(tmp_path / "debian")

    def read_only(*args, **kwargs):  # root ignores chmod, so the file system's answer is faked
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(data.shutil, "copyfile", read_only)
    with pytest.raises(data.CacheNotWritableError, match="KERAS_HOME") as error:
        data.install_offline_copy(source_dir=source, use_apt=False)
    assert isinstance(error.value, data.DataUnavailableError)
    assert "Read-only file system" in str(error.value)
    # Loading still works, straight from the package's files.
    (x, _), _ = data.load_fashion_mnist(source_dir=source)
    assert x.shape == (20, 28, 28)
    assert "Reading the files from" in capsys.readouterr().out


@pytest.fixture
def fake_apt(monkeypatch):
    """apt-get available, running as root, and every subprocess call recorded, not run."""
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, stdout="", stderr="")

    monkeypatch.setattr(data.subprocess, "run", run)
    monkeypatch.setattr(data.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(data.os, "geteuid", lambda: 0)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    return calls


def test_no_apt_when_only_the_cache_lacks_the_files(fake_apt, tmp_path):
    source = _write_idx(tmp_path / "debian")
    data.install_offline_copy(source_dir=source, cache_dir=tmp_path / "cache")
    assert fake_apt == []
    assert data.check_files(tmp_path / "cache") == {}


def test_apt_runs_only_when_the_package_files_are_absent_and_says_so(fake_apt, monkeypatch,
                                                                      tmp_path, capsys):
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "usr-share")
    with pytest.raises(data.DataUnavailableError):
        data.install_offline_copy(source_dir=tmp_path / "usr-share", cache_dir=tmp_path / "cache")
    assert ["apt-get", "install", "-y", "-q", data.DEBIAN_PACKAGE] in fake_apt
    assert "running `apt-get install -y -q dataset-fashion-mnist`" in capsys.readouterr().out
    # Not for another folder (apt cannot fill it), and never in Colab.
    fake_apt.clear()
    with pytest.raises(data.DataUnavailableError):
        data.install_offline_copy(source_dir=tmp_path / "elsewhere", cache_dir=tmp_path / "cache")
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab")
    with pytest.raises(data.DataUnavailableError):
        data.install_offline_copy(source_dir=tmp_path / "usr-share", cache_dir=tmp_path / "cache")
    assert fake_apt == []


# Faults, second round (issue 26): a read-only damaged cache, an honest exit status.


def _read_only(monkeypatch, folder):
    """Deleting under ``folder`` fails as on a read-only file system (root ignores chmod)."""
    unlink = data.Path.unlink

    def refuse(path, *args, **kwargs):
        if folder in path.parents:
            raise OSError(30, "Read-only file system", str(path))
        return unlink(path, *args, **kwargs)

    monkeypatch.setattr(data.Path, "unlink", refuse)


def test_read_only_damaged_cache_loads_the_intact_copy_with_a_warning(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    cache = _write_idx(tmp_path / "kh" / "datasets" / "fashion-mnist", n_train=200)
    source = _write_idx(tmp_path / "debian", n_train=200)
    damaged = cache / "t10k-images-idx3-ubyte.gz"
    _damage(damaged, "truncate")
    _read_only(monkeypatch, cache)
    with pytest.warns(UserWarning) as caught:
        (x, y), (xt, yt) = data.load_fashion_mnist(source_dir=source)
    (x_ok, _), (xt_ok, _) = data._load_from(source)
    np.testing.assert_array_equal(xt, xt_ok)
    assert x.shape == (200, 28, 28) and np.array_equal(x, x_ok)
    warning = str(caught[0].message)
    assert f"{damaged} is damaged" in warning and "KERAS_HOME" in warning
    assert f"loads from the intact copy in {source}" in warning
    # The command names the way out instead of "delete it by hand", and fails honestly.
    assert data.main(cache_dir=cache, source_dir=source) == 1
    out = capsys.readouterr().out
    assert "by hand" not in out and "Read-only file system" in out
    assert "point KERAS_HOME at a writable folder" in out
    assert f"Until then the data loads from the intact copy in {source}" in out
    assert damaged.exists()
    # Following the advice repairs it: a writable KERAS_HOME filled from the package.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "writable"))
    assert data.main(source_dir=source) == 0
    assert data.check_files(data.keras_cache_dir()) == {}


def test_damaged_cache_without_an_intact_copy_still_names_the_file_and_keras_home(monkeypatch,
                                                                                 tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    cache = _write_idx(tmp_path / "kh" / "datasets" / "fashion-mnist")
    source = _write_idx(tmp_path / "debian")
    _damage(cache / "train-labels-idx1-ubyte.gz", "corrupt")
    _damage(source / "train-labels-idx1-ubyte.gz", "corrupt")  # no intact copy anywhere
    with pytest.raises(data.DamagedFileError) as error:
        data.load_fashion_mnist(source_dir=source)
    message = str(error.value)
    assert str(cache / "train-labels-idx1-ubyte.gz") in message and "KERAS_HOME" in message


def test_main_returns_1_when_it_cannot_make_the_data_available(monkeypatch, tmp_path, capsys):
    def offline(url, timeout):
        raise urllib.error.URLError("Network is unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    cache = tmp_path / "cache"
    assert data.main(cache_dir=cache, source_dir=tmp_path / "nowhere") == 1  # before: 0
    out = capsys.readouterr().out
    assert "the download failed too (<urlopen error Network is unreachable>)" in out
    assert "the data is not available" in out and f"apt-get install {data.DEBIAN_PACKAGE}" in out
    assert not list(cache.glob("*"))  # nothing half-written


def test_main_downloads_the_data_without_an_offline_copy(monkeypatch, tmp_path, capsys):
    asked = _fake_origin(monkeypatch, _write_idx(tmp_path / "remote"))
    cache = tmp_path / "cache"
    assert data.main(cache_dir=cache, source_dir=tmp_path / "nowhere") == 0
    assert sorted(asked) == sorted(data.KERAS_ORIGIN + name for name in data.FASHION_MNIST_FILES)
    assert data.check_files(cache) == {}
    # A download that brings a damaged file is not a success.
    _damage(tmp_path / "remote" / "t10k-labels-idx1-ubyte.gz", "truncate")
    (cache / "t10k-labels-idx1-ubyte.gz").unlink()
    capsys.readouterr()
    assert data.main(cache_dir=cache, source_dir=tmp_path / "nowhere") == 1
    assert f"{cache / 't10k-labels-idx1-ubyte.gz'} is damaged (" in capsys.readouterr().out
