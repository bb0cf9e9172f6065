"""One knob for scale: the ``quick`` and ``full`` profiles.

``quick`` is what CI and a CPU laptop run: every chapter in a few minutes on two cores,
yet still really learning. ``full`` is the real experiment on a GPU. Notebooks never
hard-code sizes; they read :func:`current` and print it. What the device is lives in
:mod:`alexnet_book.device`.
"""

from __future__ import annotations

import dataclasses
import os
import warnings

from alexnet_book import device, results

ENV_VAR = "ALEXNET_PROFILE"


@dataclasses.dataclass(frozen=True)
class Profile:
    """The sizes of one scale of the course's experiments.

    Attributes:
        name: "quick", "full" or "smoke".
        image_size: side of the square images the AlexNet chapters train on.
        train_subset: number of Fashion-MNIST training images used, at most 50,000 (the
            last 10,000 of the 60,000 are held out for validation).
        test_subset: number of test images used for evaluation (of 10,000).
        epochs: training epochs of a chapter's main experiment.
        batch_size: minibatch size (the paper used 128).
        width: multiplier on AlexNet's filter and unit counts (1.0 = the paper's).
        checks_learning: whether runs are long enough for the chapters' checks on what a
            network learned (accuracy thresholds); False only for ``smoke``.
        timed_steps: training steps each throughput measurement of chapter 5 times (after
            its untimed warm-up steps).
        seeds: runs per variant where a chapter repeats a run with other seeds to show how
            much a seed changes (chapter 3's ablation).
        overfitting_epochs: epochs of chapter 4's overfitting experiment, whose small
            training subset (a sixth of ``train_subset``) the plain network must have time
            to memorise.
        live_claims_tier: the claims tier chapter 7 runs live at this profile
            (``alexnet_book.claims``): "quick", or "smoke" (the code path on a few images).
    """

    name: str
    image_size: int
    train_subset: int
    test_subset: int
    epochs: int
    batch_size: int
    width: float
    checks_learning: bool = True
    timed_steps: int = 8
    seeds: int = 2
    overfitting_epochs: int = 20
    live_claims_tier: str = "quick"

    def describe(self) -> str:
        """One stable line for notebooks to print."""
        return (
            f"profile={self.name}: images {self.image_size}x{self.image_size}, "
            f"train {self.train_subset:,}, test {self.test_subset:,}, "
            f"epochs {self.epochs}, batch {self.batch_size}, width x{self.width:g}"
        )


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        image_size=67,
        train_subset=6_000,
        test_subset=2_000,
        epochs=5,
        batch_size=128,
        width=0.25,
    ),
    "full": Profile(
        name="full",
        image_size=227,
        train_subset=50_000,
        test_subset=10_000,
        epochs=10,
        batch_size=128,
        width=1.0,
        overfitting_epochs=60,
        timed_steps=20,  # a GPU step takes milliseconds: more steps for a steadier rate
    ),
    # The full profile's shapes and code paths (227x227, the paper's width) on a handful
    # of batches: CI runs every chapter this way to catch what only breaks at full size.
    "smoke": Profile(
        name="smoke",
        image_size=227,
        train_subset=16,
        test_subset=20,  # the first 20 test images hold every class (chapter 6 shows one each)
        epochs=1,
        batch_size=4,
        width=1.0,
        checks_learning=False,
        timed_steps=1,  # the code path only: a CPU's rate at 227x227 means nothing
        seeds=1,  # likewise: one seed runs every variant's code path
        overfitting_epochs=1,
        live_claims_tier="smoke",
    ),
}


def get(name: str) -> Profile:
    """The profile called ``name``.

    Raises:
        ValueError: ``name`` is not a known profile.
    """
    key = name.strip().lower()
    if key not in PROFILES:
        allowed = ", ".join(sorted(PROFILES))
        raise ValueError(f"{ENV_VAR} must be one of {allowed}, got {name!r}")
    return PROFILES[key]


def current() -> Profile:
    """The profile in force: ``$ALEXNET_PROFILE`` if set, else ``full`` with a GPU, else
    ``quick``.

    Raises:
        ValueError: ``$ALEXNET_PROFILE`` names no known profile.
    """
    requested = os.environ.get(ENV_VAR, "").strip()
    if requested:
        chosen = get(requested)
        if chosen.name == "full" and not device.gpu_available():
            warnings.warn(full_on_cpu_note(chosen), FullProfileOnCPUWarning, stacklevel=2)
        return chosen
    return PROFILES["full"] if device.gpu_available() else PROFILES["quick"]


class FullProfileOnCPUWarning(UserWarning):
    """The full profile was asked for on a machine without a GPU."""


def full_on_cpu_note(chosen: Profile) -> str:
    """What the full profile costs on this CPU, from the stored CPU benchmark when there is one."""
    images = chosen.train_subset * chosen.epochs
    note = (f"{ENV_VAR}=full without a GPU: the paper-scale runs expect a GPU runtime (in Colab: "
            f"Runtime > Change runtime type > GPU). A chapter's main run trains {images:,} images at "
            f"{chosen.image_size}x{chosen.image_size}")
    try:
        rates = [r["keras_images_per_second"] for r in results.stored_results("", timeout=1.0)
                 if r.get("benchmark") == "throughput" and not r.get("gpu")
                 and r.get("keras_images_per_second")]
    except Exception:  # no checkout and no network: say it without the estimate
        rates = []
    if rates:
        note += (f"; at the {max(rates):,.0f} images/s the course measured on a two-core CPU that is "
                 f"about {images / max(rates) / 3600:.0f} hours")
    return note + f". Set {ENV_VAR}=quick for a run of minutes."
