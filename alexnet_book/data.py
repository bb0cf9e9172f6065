"""Fashion-MNIST, available with or without internet.

``keras.datasets.fashion_mnist.load_data()`` downloads four .gz files into Keras' cache
(``$KERAS_HOME/datasets/fashion-mnist``, by default ``~/.keras/datasets/fashion-mnist``).
Offline, :func:`install_offline_copy` fills that cache from Debian's package
``dataset-fashion-mnist`` (files in ``/usr/share/datasets/fashion-mnist``), so Keras finds
the files and never touches the network.

The library reads the files itself from the cache it checked (Keras' own loader would
switch to ``/tmp/.keras`` when the cache is read-only) and verifies them: a truncated or
corrupted file is named in the error, and ``python -m alexnet_book.data`` replaces it.
While Debian's package holds an intact copy, a damaged cache only costs a warning: the
data loads from the package.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import urllib.request
import warnings
import zlib
from pathlib import Path

import numpy as np

from alexnet_book import profile as profiles

#: The four files, named exactly as Keras' loader expects them.
FASHION_MNIST_FILES = (
    "train-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
)
#: Items in each real file and the sha256 of its decompressed content (the .gz bytes differ
#: between Keras' download and Debian's package; the content does not).
FASHION_MNIST_CONTENT = {
    "train-labels-idx1-ubyte.gz":
        (60_000, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "train-images-idx3-ubyte.gz":
        (60_000, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "t10k-labels-idx1-ubyte.gz":
        (10_000, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    "t10k-images-idx3-ubyte.gz":
        (10_000, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
}
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Where Keras downloads the files from (``keras.datasets.fashion_mnist``).
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
#: Seconds :func:`main`'s download may wait for any one read before it gives up.
DOWNLOAD_TIMEOUT = 15.0
#: The advice for a cache that cannot be written, in one place.
KERAS_HOME_ADVICE = ("point KERAS_HOME at a writable folder (e.g. `export KERAS_HOME=/tmp/keras`) "
                     "and run `python -m alexnet_book.data` again")

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
    """The data is neither in Keras' cache nor downloadable, a file is damaged, or the
    cache cannot be written."""


class DamagedFileError(DataUnavailableError):
    """A data file is truncated, corrupted or not Fashion-MNIST's (the message names it)."""


class CacheNotWritableError(DataUnavailableError):
    """Keras' cache is read-only (or otherwise cannot be written)."""


def in_colab() -> bool:
    """True inside Google Colab (where downloading works and apt is not ours to run)."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


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
    """True when all four files are in Keras' cache (present; :func:`check_files`
    verifies their content)."""
    cache_dir = Path(cache_dir) if cache_dir else keras_cache_dir()
    return all((cache_dir / name).is_file() for name in FASHION_MNIST_FILES)


def read_idx(path: Path) -> np.ndarray:
    """One gzipped IDX file (labels ``(n,)`` or images ``(n, rows, cols)``, uint8),
    verified: gzip's CRC, a header that matches the data's length and the file's name,
    and, for a file of the real data set's size, the sha256 of Fashion-MNIST's content.

    Raises:
        ValueError: the file is truncated, corrupted or not the expected file (the
            message says which check failed).
        OSError: the file cannot be read.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"not a complete gzip file, truncated or corrupted ({error})") from error
    magic = struct.unpack(">I", raw[:4])[0] if len(raw) >= 8 else None
    expected_magic = 2049 if "labels" in path.name else 2051
    if magic != expected_magic or (magic == 2051 and len(raw) < 16):
        raise ValueError(f"not an IDX {'label' if expected_magic == 2049 else 'image'} file "
                         f"(header {raw[:4].hex() or 'empty'})")
    if magic == 2049:
        shape, offset = struct.unpack(">I", raw[4:8]), 8
    else:
        shape, offset = struct.unpack(">III", raw[4:16]), 16
    size = int(np.prod(shape))
    if len(raw) - offset != size:
        raise ValueError(f"holds {len(raw) - offset:,} bytes of data where its header "
                         f"announces {size:,}, truncated or corrupted")
    known = FASHION_MNIST_CONTENT.get(path.name)
    if known and shape[0] == known[0] and hashlib.sha256(raw).hexdigest() != known[1]:
        raise ValueError("its content is not Fashion-MNIST's (sha256 of the data differs)")
    return np.frombuffer(raw, np.uint8, offset=offset).reshape(shape)


def check_files(folder: Path | None = None) -> dict[str, str]:
    """The problem with each of the four files in ``folder`` (default: Keras' cache),
    ``{file name: problem}``; empty when all are present and intact."""
    folder = Path(folder) if folder else keras_cache_dir()
    problems = {}
    for name in FASHION_MNIST_FILES:
        if not (folder / name).is_file():
            problems[name] = "missing"
            continue
        try:
            read_idx(folder / name)
        except (ValueError, OSError) as error:
            problems[name] = str(error)
    return problems


def _load_from(folder: Path) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The four files of ``folder``, read and verified with :func:`read_idx`.

    Raises:
        DataUnavailableError: naming the damaged file and how to replace it.
    """
    arrays = []
    for name in FASHION_MNIST_FILES:
        try:
            arrays.append(read_idx(folder / name))
        except (ValueError, OSError) as error:
            raise DamagedFileError(
                f"Fashion-MNIST: {folder / name} is damaged: {error}. Run `python -m "
                "alexnet_book.data` to replace it (from Debian's package, or downloaded "
                f"again); if {folder} is read-only, {KERAS_HOME_ADVICE}."
            ) from error
    y_train, x_train, y_test, x_test = arrays
    for images, labels in ((x_train, y_train), (x_test, y_test)):
        if len(images) != len(labels):
            raise DamagedFileError(
                f"Fashion-MNIST: {folder} holds {len(images):,} images but {len(labels):,} "
                "labels for them; run `python -m alexnet_book.data` to replace the files.")
    return (x_train, y_train), (x_test, y_test)


def _intact_copy(source_dir: Path, cache_dir: Path):
    """The data from ``source_dir`` when it is another folder than the cache and holds the
    four files intact, else ``None``."""
    source_dir = Path(source_dir)
    if source_dir.resolve() == Path(cache_dir).resolve() or not is_cached(source_dir):
        return None
    try:
        return _load_from(source_dir)
    except DataUnavailableError:
        return None


def _missing_data_message(cache_dir: Path, source_dir: Path) -> str:
    return (
        "Fashion-MNIST is not available. Either (1) connect to the internet so that "
        "keras.datasets.fashion_mnist.load_data() can download it, or (2) install the "
        f"Debian package '{DEBIAN_PACKAGE}' (sudo apt-get install {DEBIAN_PACKAGE}, files "
        f"in {source_dir}) and run `python -m alexnet_book.data`, which copies them into "
        f"Keras' cache {cache_dir}. `make book` and `make test` do (2) for you."
    )


def _apt_install() -> None:
    """``apt-get install`` Debian's package (``--reinstall`` when dpkg lists it but its
    files are gone), running ``apt-get update`` only when the first try fails."""
    installed = subprocess.run(["dpkg-query", "-W", "-f=${Status}", DEBIAN_PACKAGE],
                               capture_output=True, text=True, check=False)
    command = ["apt-get", "install", "-y", "-q", DEBIAN_PACKAGE]
    if "install ok installed" in installed.stdout:
        command.insert(2, "--reinstall")
    print(f"Fashion-MNIST: {DEBIAN_DIR} is missing files; running `{' '.join(command)}`",
          flush=True)
    if subprocess.run(command, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(command, check=False)


def install_offline_copy(
    source_dir: Path = DEBIAN_DIR,
    cache_dir: Path | None = None,
    use_apt: bool = True,
) -> Path:
    """Copy Debian's Fashion-MNIST files into Keras' cache (those missing there),
    installing the package first only when its files are absent from ``/usr/share``,
    apt-get can run (as root) and this is not Colab (which downloads instead).

    Args:
        source_dir: where the Debian package puts the files.
        cache_dir: Keras' cache for the data set (default: :func:`keras_cache_dir`).
        use_apt: allow ``apt-get install dataset-fashion-mnist`` when its files are missing.

    Returns:
        The cache directory, holding the four files.

    Raises:
        DataUnavailableError: the files are neither cached nor installable;
            :class:`DamagedFileError` when a source file is damaged;
            :class:`CacheNotWritableError` when the cache cannot be written (read-only).
    """
    cache_dir = Path(cache_dir) if cache_dir else keras_cache_dir()
    to_copy = [n for n in FASHION_MNIST_FILES if not (cache_dir / n).is_file()]
    if not to_copy:
        return cache_dir
    source_dir = Path(source_dir)
    missing = [n for n in FASHION_MNIST_FILES if not (source_dir / n).is_file()]
    if (missing and use_apt and source_dir == DEBIAN_DIR and not in_colab()
            and shutil.which("apt-get") and os.geteuid() == 0):
        _apt_install()
        missing = [n for n in FASHION_MNIST_FILES if not (source_dir / n).is_file()]
    if missing:
        raise DataUnavailableError(_missing_data_message(cache_dir, source_dir))
    damaged = {n: p for n, p in check_files(source_dir).items() if n in to_copy}
    if damaged:
        name, problem = next(iter(damaged.items()))
        raise DamagedFileError(
            f"Fashion-MNIST: {source_dir / name} is damaged: {problem}. Reinstall the "
            f"package (sudo apt-get install --reinstall {DEBIAN_PACKAGE}) or connect to "
            "the internet so that Keras downloads the data.")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for name in to_copy:
            shutil.copyfile(source_dir / name, cache_dir / name)
    except OSError as error:
        raise CacheNotWritableError(
            f"Fashion-MNIST: cannot write Keras' cache {cache_dir} ({error}). Make it "
            "writable, or point KERAS_HOME at a writable folder (e.g. KERAS_HOME=/tmp/keras)."
        ) from error
    return cache_dir


def load_fashion_mnist(
    source_dir: Path = DEBIAN_DIR,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``: uint8 images 28x28 and
    integer labels 0-9, from Keras' cache, Debian's package, or the internet, in that order.
    The files are read and verified from the cache :func:`is_cached` checks (or straight
    from ``source_dir`` when the cache is read-only). A damaged file in the cache is named
    in a warning and the data loads from ``source_dir`` when that copy is intact.

    Raises:
        DataUnavailableError: with both ways to get the data, when none works;
            :class:`DamagedFileError` naming the file, when one is damaged and no intact
            copy is at hand.
    """
    # Keras only to download: importing it starts its backend (TensorFlow unless
    # KERAS_BACKEND says otherwise), so `alexnet_book.data` imports light and on any backend.
    import keras

    cache_dir = keras_cache_dir()
    source_dir = Path(source_dir)
    failure: DataUnavailableError | None = None
    if not is_cached(cache_dir):
        try:
            install_offline_copy(source_dir, cache_dir, use_apt=False)
        except CacheNotWritableError as error:
            print(f"{error} Reading the files from {source_dir} instead.", flush=True)
            return _load_from(source_dir)
        except DataUnavailableError as error:
            failure = error  # Keras may still download it
    if is_cached(cache_dir):
        try:
            return _load_from(cache_dir)
        except DamagedFileError as damaged:
            intact = _intact_copy(source_dir, cache_dir)
            if intact is None:
                raise
            warnings.warn(f"{damaged} Until then the data loads from the intact copy in "
                          f"{source_dir}.", UserWarning, stacklevel=2)
            return intact
    try:
        return keras.datasets.fashion_mnist.load_data()
    except Exception as error:  # Keras raises several kinds on a failed download
        if isinstance(failure, DamagedFileError):
            raise failure from error
        raise DataUnavailableError(_missing_data_message(cache_dir, source_dir)) from error


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


def centre(images: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Images as the paper fed them (section 2): raw 0-255 values minus the training mean,
    float32, with a channel axis added to greyscale ``(n, h, w)`` arrays.

    Raises:
        ValueError: ``mean`` does not have the shape of one image.
    """
    images = np.asarray(images, dtype="float32")
    if mean.shape != images.shape[1:]:
        raise ValueError(f"mean must have one image's shape {images.shape[1:]}, got {mean.shape}")
    centred = images - mean
    return centred[..., None] if centred.ndim == 3 else centred


#: Training images come from the first 50,000 of Fashion-MNIST's 60,000 training
#: images, validation images from the last 10,000: disjoint by construction.
VALIDATION_START = 50_000


@dataclasses.dataclass(frozen=True)
class Splits:
    """The course's train/validation/test images (uint8, 28x28) and labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """The training images' mean image (what the paper subtracts, section 2)."""
        return mean_image(self.x_train)

    def centred(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(train, validation, test)`` images as the paper fed them: raw pixel values
        minus the training mean, float32, with a channel axis (see :func:`centre`)."""
        mean = self.mean
        return centre(self.x_train, mean), centre(self.x_val, mean), centre(self.x_test, mean)

    def describe(self) -> str:
        """One stable line for notebooks to print."""
        return (f"train {len(self.x_train):,}, validation {len(self.x_val):,}, "
                f"test {len(self.x_test):,} images of {self.x_train.shape[1:]}")


def course_splits(profile=None, train_size: int | None = None) -> Splits:
    """The course's one data split for a profile: a class-balanced training subset of
    ``profile.train_subset`` images from the first 50,000 training images, a class-balanced
    validation subset of ``profile.test_subset`` images from the last 10,000 (for the
    learning-rate schedule and curves), and the first ``profile.test_subset`` test images
    (touched only for final numbers).

    Args:
        profile: an :class:`alexnet_book.profile.Profile` (default: the one in force).
        train_size: a different number of training images (e.g. a smaller subset to
            provoke overfitting); at most 50,000.

    Raises:
        DataUnavailableError: the data is neither cached nor downloadable.
        ValueError: train_size outside 1..50,000.
    """
    profile = profile or profiles.current()
    n_train = profile.train_subset if train_size is None else train_size
    if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)) \
            or not 1 <= n_train <= VALIDATION_START:
        raise ValueError(f"train_size must be an integer between 1 and {VALIDATION_START:,}, "
                         f"got {n_train!r}")
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    x_tr, y_tr = subset(x_train[:VALIDATION_START], y_train[:VALIDATION_START],
                        min(int(n_train), VALIDATION_START), seed=0)
    x_val, y_val = subset(x_train[VALIDATION_START:], y_train[VALIDATION_START:],
                          min(profile.test_subset, len(x_train) - VALIDATION_START), seed=1)
    n_test = min(profile.test_subset, len(x_test))
    return Splits(x_tr, y_tr, x_val, y_val, x_test[:n_test], y_test[:n_test])


def _download(cache_dir: Path, timeout: float = DOWNLOAD_TIMEOUT) -> None:
    """Download the files missing from ``cache_dir`` from :data:`KERAS_ORIGIN`, each
    written under a temporary name and renamed once complete.

    Raises:
        OSError: no network, a read that waited more than ``timeout`` seconds, or a cache
            that cannot be written.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name in FASHION_MNIST_FILES:
        if (cache_dir / name).is_file():
            continue
        partial = cache_dir / f"{name}.part"
        try:
            with urllib.request.urlopen(KERAS_ORIGIN + name, timeout=timeout) as response:  # noqa: S310
                with open(partial, "wb") as file:
                    shutil.copyfileobj(response, file)
            partial.replace(cache_dir / name)
        finally:
            partial.unlink(missing_ok=True)  # nothing half-written stays behind


def main(cache_dir: Path | None = None, source_dir: Path = DEBIAN_DIR) -> int:
    """``python -m alexnet_book.data``: verify Keras' cache and make the data available
    offline: a damaged file is named and replaced, and missing files are copied from
    Debian's package or, without it, downloaded from Keras' source. Returns the exit
    status: 0 when the cache then holds the four files intact, 1 when the data is still
    unavailable or damaged (the printed lines say why and what to do)."""
    cache_dir = Path(cache_dir) if cache_dir else keras_cache_dir()
    source_dir = Path(source_dir)
    problems = check_files(cache_dir)
    if not problems:
        print(f"Fashion-MNIST: the four files in Keras' cache {cache_dir} are present and intact")
        return 0
    for name, problem in problems.items():
        if problem != "missing":
            print(f"Fashion-MNIST: {cache_dir / name} is damaged ({problem}); replacing it")
            try:
                (cache_dir / name).unlink()
            except OSError as error:
                meanwhile = (f" Until then the data loads from the intact copy in {source_dir}, "
                             "with a warning." if is_cached(source_dir)
                             and not check_files(source_dir) else "")
                print(f"Fashion-MNIST: cannot replace it ({error}): Keras' cache {cache_dir} "
                      f"cannot be written; {KERAS_HOME_ADVICE}.{meanwhile}")
                return 1
    try:
        install_offline_copy(source_dir, cache_dir)
        print(f"Fashion-MNIST: copied {len(problems)} file(s) from {source_dir} into {cache_dir}")
    except CacheNotWritableError as error:
        print(error)
        return 1
    except DataUnavailableError as error:
        print(f"Fashion-MNIST: no offline copy ({error}); downloading the missing files from "
              f"{KERAS_ORIGIN}", flush=True)
        try:
            _download(cache_dir)
        except (OSError, ValueError) as download_error:  # urllib's errors are OSErrors
            print(f"Fashion-MNIST: the download failed too ({download_error}), so the data is "
                  f"not available: connect to the internet, or install Debian's package (sudo "
                  f"apt-get install {DEBIAN_PACKAGE}), and run `python -m alexnet_book.data` "
                  "again")
            return 1
    still = check_files(cache_dir)
    for name, problem in still.items():
        state = "still missing" if problem == "missing" else f"damaged ({problem})"
        print(f"Fashion-MNIST: {cache_dir / name} is {state}; run `python -m "
              "alexnet_book.data` again to replace it")
    return 1 if still else 0


if __name__ == "__main__":
    sys.exit(main())
