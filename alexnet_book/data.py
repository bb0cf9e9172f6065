"""Fashion-MNIST, available with or without internet.

``keras.datasets.fashion_mnist.load_data()`` downloads four .gz files into Keras' cache
(``$KERAS_HOME/datasets/fashion-mnist``, by default ``~/.keras/datasets/fashion-mnist``).
Offline, :func:`install_offline_copy` fills that cache from Debian's package
``dataset-fashion-mnist`` (files in ``/usr/share/datasets/fashion-mnist``), so Keras finds
the files and never touches the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

#: The four files, named exactly as Keras' loader expects them.
FASHION_MNIST_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


class DataUnavailableError(RuntimeError):
    """The data is neither in Keras' cache nor downloadable."""


def keras_home() -> Path:
    """Keras' cache root, by Keras' own rule: ``$KERAS_HOME``, else ``~/.keras``, else
    ``/tmp/.keras`` when the home directory is not writable."""
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"]).expanduser()
    home = Path.home()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


def keras_cache_dir() -> Path:
    """Where Keras looks for Fashion-MNIST's files."""
    return keras_home() / "datasets" / "fashion-mnist"


def is_cached(cache_dir: Path | None = None) -> bool:
    """True when all four files are in Keras' cache."""
    cache_dir = cache_dir or keras_cache_dir()
    return all((cache_dir / name).is_file() for name in FASHION_MNIST_FILES)


def _missing_data_message(cache_dir: Path, source_dir: Path) -> str:
    return (
        "Fashion-MNIST is not available. Either (1) connect to the internet so that "
        "keras.datasets.fashion_mnist.load_data() can download it, or (2) install the "
        f"Debian package '{DEBIAN_PACKAGE}' (sudo apt-get install {DEBIAN_PACKAGE}, files "
        f"in {source_dir}) and run `python -m alexnet_book.data`, which copies them into "
        f"Keras' cache {cache_dir}. `make book` and `make test` do (2) for you."
    )


def install_offline_copy(
    source_dir: Path = DEBIAN_DIR,
    cache_dir: Path | None = None,
    use_apt: bool = True,
) -> Path:
    """Copy Debian's Fashion-MNIST files into Keras' cache, installing the package first
    when the files are missing and apt-get can run (as root).

    Args:
        source_dir: where the Debian package puts the files.
        cache_dir: Keras' cache for the data set (default: :func:`keras_cache_dir`).
        use_apt: allow ``apt-get install dataset-fashion-mnist`` when files are missing.

    Returns:
        The cache directory, holding the four files.

    Raises:
        DataUnavailableError: the files are neither cached nor installable.
    """
    cache_dir = Path(cache_dir) if cache_dir else keras_cache_dir()
    if is_cached(cache_dir):
        return cache_dir
    source_dir = Path(source_dir)
    missing = [n for n in FASHION_MNIST_FILES if not (source_dir / n).is_file()]
    if missing and use_apt and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-q", DEBIAN_PACKAGE], check=False)
        missing = [n for n in FASHION_MNIST_FILES if not (source_dir / n).is_file()]
    if missing:
        raise DataUnavailableError(_missing_data_message(cache_dir, source_dir))
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name in FASHION_MNIST_FILES:
        shutil.copyfile(source_dir / name, cache_dir / name)
    return cache_dir


def load_fashion_mnist(
    source_dir: Path = DEBIAN_DIR,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``: uint8 images 28x28 and
    integer labels 0-9, from Keras' cache, Debian's package, or the internet, in that order.

    Raises:
        DataUnavailableError: with both ways to get the data, when none works.
    """
    import keras

    if not is_cached():
        try:
            install_offline_copy(source_dir, use_apt=False)
        except DataUnavailableError:
            pass  # Keras may still download it
    try:
        return keras.datasets.fashion_mnist.load_data()
    except Exception as error:  # Keras raises several kinds on a failed download
        raise DataUnavailableError(
            _missing_data_message(keras_cache_dir(), Path(source_dir))
        ) from error


def subset(
    x: np.ndarray, y: np.ndarray, n: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A class-balanced random subset of ``n`` examples (n a multiple of the class count
    gives exactly equal classes).

    Raises:
        ValueError: ``n`` is not between 1 and ``len(x)``.
    """
    if not 1 <= n <= len(x):
        raise ValueError(f"n must be between 1 and {len(x):,}, got {n}")
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    take = n // len(classes)
    chosen = np.concatenate([idx[:take] for idx in per_class])
    rest = n - len(chosen)
    if rest:
        leftovers = np.setdiff1d(np.arange(len(x)), chosen)
        chosen = np.concatenate([chosen, rng.choice(leftovers, rest, replace=False)])
    chosen = rng.permutation(chosen)
    return x[chosen], y[chosen]


def mean_image(images: np.ndarray) -> np.ndarray:
    """The training set's mean image, in raw pixel units (float32, shape ``(h, w)`` or
    ``(h, w, c)``): what the paper subtracts from every input (section 2)."""
    return np.asarray(images, dtype="float32").mean(axis=0)


def center(images: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Images as the paper fed them (section 2): raw 0-255 values minus the training mean,
    float32, with a channel axis added to grayscale ``(n, h, w)`` arrays.

    Raises:
        ValueError: ``mean`` does not have the shape of one image.
    """
    images = np.asarray(images, dtype="float32")
    if mean.shape != images.shape[1:]:
        raise ValueError(f"mean must have one image's shape {images.shape[1:]}, got {mean.shape}")
    centred = images - mean
    return centred[..., None] if centred.ndim == 3 else centred


def main() -> None:
    """``python -m alexnet_book.data``: make the data available offline."""
    if is_cached():
        print(f"Fashion-MNIST: already in Keras' cache {keras_cache_dir()}")
        return
    try:
        path = install_offline_copy()
        print(f"Fashion-MNIST: copied from {DEBIAN_DIR} into {path}")
    except DataUnavailableError as error:
        print(f"Fashion-MNIST: no offline copy ({error}); Keras will try to download it")


if __name__ == "__main__":
    main()
