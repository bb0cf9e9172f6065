"""The paper's quantitative claims, tested: a registry, a runner and the analysis.

Each :class:`Claim` holds the paper's words and place, the paper's value, the two arms it
compares (a baseline and a variant: model and training settings), the metric, and the
scale it runs at per profile. :func:`run` trains the arms, paired by seed (the same data
order, the same initial weights where the shapes agree, the same dropout masks), and
appends one JSON line per run to a results file; :func:`summarise` turns runs into
effects with 95% intervals and a verdict per claim (:mod:`alexnet_book.stats`).

Command line::

    python -m alexnet_book.claims [--profile quick|full] [--only ID ...] [--seeds N]
                                  [--out FILE] [--workers N] [--list]

The runner uses NumPy arrays and ``fit`` only (no tf.data), so it runs on the Keras JAX
backend without TensorFlow. It compiles each arm once and re-initialises the weights, the
optimiser's state and the dropout streams for every seed and learning rate, and with
``--workers N`` it runs arms in N processes that share the one GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from alexnet_book import stats

#: The one line that measures the full profile on a GPU (the results file is named after
#: the device and the date, under benchmarks/results/claims/).
GPU_COMMAND = ("KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false "
               "python -m alexnet_book.claims --profile full --seeds 5 --workers 4")

#: Metrics a claim can compare: name -> (how arms are compared, what it measures).
METRICS = {
    "test_error": ("difference", "test top-1 error at the end of training (%)"),
    "best_test_error": ("difference", "test top-1 error at the epoch of lowest validation error (%)"),
    "gap": ("difference", "test error minus training error at the end of training (points)"),
    "train_error": ("difference", "training error at the end of training, measured without dropout (%)"),
    "steps": ("ratio", "training steps until the running training error reaches a threshold"),
    "ten_patch": ("paired images", "test top-1 error of the same models, paired over test images (%)"),
}
NETS = ("alexnet", "half_one_tower", "four_layer")
INPUTS = ("centred", "standardised")
EVALUATIONS = ("centre", "ten_patch")
#: Fields every stored result line has.
ROW_FIELDS = ("claim", "arm", "seed", "learning_rate", "profile", "metrics", "epochs", "images",
              "seconds", "device", "backend", "versions", "date")
#: The pixels added on each side before random crops (Fashion-MNIST's 28 -> 32 -> 28 crops,
#: the paper's 224 of 256 in proportion).
CROP_PADDING = 2


class UnknownClaimError(ValueError):
    """A claim id that the registry does not hold, or one that cannot run as asked."""


class ResultsFormatError(ValueError):
    """A stored result line lacks a field or holds a value the registry does not know."""


# --- the registry ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Arm:
    """One side of a comparison: the network and how it is trained.

    Attributes:
        name: a short label ("LRN", "none", "tanh").
        net: "alexnet" (:func:`alexnet_book.models.course_model`), "half_one_tower" (the
            paper's one-GPU comparison net, section 3.2 and its footnote) or "four_layer"
            (:func:`four_layer_net`, the small network of Figure 1 and section 3.3).
        options: the builder's keyword arguments, as sorted ``(name, value)`` pairs.
        weight_decay: the paper's coupled weight decay (section 5); 0 turns it off.
        crops_and_flips: train on random crops and horizontal flips (section 4.1).
        learning_rates: the rates tried; more than one makes a grid, and the analysis uses
            each arm's best rate.
        evaluation: "centre" (the image itself) or "ten_patch" (section 4.1's average over
            four corners, the centre and their reflections).
    """

    name: str
    net: str = "alexnet"
    options: tuple = ()
    weight_decay: float = 5e-4
    crops_and_flips: bool = False
    learning_rates: tuple[float, ...] = (0.01,)
    evaluation: str = "centre"

    def training(self) -> tuple:
        """What decides the trained weights (arms equal here share their runs)."""
        return (self.net, self.options, self.weight_decay, self.crops_and_flips, self.learning_rates)

    def describe(self) -> str:
        """One line: the net, its options and the training settings that differ from the paper's."""
        parts = [self.net] + [f"{k}={v!r}" for k, v in self.options]
        if self.weight_decay != 5e-4:
            parts.append(f"weight decay {self.weight_decay:g}")
        if self.crops_and_flips:
            parts.append("crops+flips")
        rates = ", ".join(f"{r:g}" for r in self.learning_rates)
        parts.append(f"lr {rates}" if len(self.learning_rates) == 1 else f"lr grid {rates}")
        if self.evaluation != "centre":
            parts.append(f"evaluated on {self.evaluation.replace('_', ' ')}")
        return ", ".join(parts)


def arm(name: str, net: str = "alexnet", weight_decay: float = 5e-4, crops_and_flips: bool = False,
        learning_rates: Sequence[float] = (0.01,), evaluation: str = "centre", **options) -> Arm:
    """An :class:`Arm`, its builder options given as keywords.

    Raises:
        ValueError: an unknown net or evaluation, or no learning rate.
    """
    if net not in NETS:
        raise ValueError(f"net must be one of {NETS}, got {net!r}")
    if evaluation not in EVALUATIONS:
        raise ValueError(f"evaluation must be one of {EVALUATIONS}, got {evaluation!r}")
    if not learning_rates or any(not r > 0 for r in learning_rates):
        raise ValueError(f"learning_rates must be positive numbers, got {learning_rates!r}")
    return Arm(name, net, tuple(sorted(options.items())), float(weight_decay), bool(crops_and_flips),
               tuple(float(r) for r in learning_rates), evaluation)


@dataclasses.dataclass(frozen=True)
class Scale:
    """How large a claim's experiment is at one profile. Image size, batch size, test
    images and AlexNet's width come from the profile (:mod:`alexnet_book.profile`).

    Attributes:
        train_images: training images (a class-balanced subset, the same for every seed).
        epochs: passes over them (the most, when the run stops at a threshold).
        seeds: seeds run by default (``--seeds`` overrides).
        val_images: validation images scored after every epoch (0: none); the
            ``best_test_error`` metric uses the weights of the epoch with the lowest
            validation error.
        drops: fractions of the epochs after which the learning rate is divided by 10
            (the paper's schedule, section 5, at fixed points); () keeps it constant.
        stop_at_threshold: stop a run when the running training error reaches the claim's
            threshold (for claims that only count steps).
        inputs: "centred" (raw pixels minus the mean image, as the paper, section 2) or
            "standardised" (also divided by the pixels' standard deviation).
        width: the network's width multiplier (None: the profile's for AlexNet, 1 for
            the four-layer net).
        threshold: the training error (%) for the steps metric at this scale (None: the
            claim's).
        learning_rates: the rates every arm tries at this scale (None: the arm's own).
    """

    train_images: int
    epochs: int
    seeds: int
    val_images: int = 0
    drops: tuple[float, ...] = (0.6, 0.9)
    stop_at_threshold: bool = False
    inputs: str = "centred"
    width: float | None = None
    threshold: float | None = None
    learning_rates: tuple[float, ...] | None = None

    def describe(self) -> str:
        """``"1,536 images x 8 epochs, 3 seeds"``."""
        text = f"{self.train_images:,} images x {self.epochs} epochs, {self.seeds} seeds"
        if self.val_images:
            text += f", validation {self.val_images:,}"
        if self.learning_rates:
            text += f", lr grid {', '.join(f'{r:g}' for r in self.learning_rates)}"
        if self.threshold is not None:
            text += f", threshold {self.threshold:g}%"
        return text


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the paper (or, with ``of_the_paper=False``, a question the course adds).

    Attributes:
        id: the registry key, e.g. "lrn".
        title: a short name for tables.
        place: where the paper says it ("section 3.3").
        quote: the paper's words.
        paper: the paper's numbers as the paper gives them ("" when it gives none).
        paper_value: the paper's effect in this claim's units (variant minus baseline in
            points, or variant over baseline for ratios), or None.
        direction: the sign the paper expects: -1 the variant lowers the metric (a ratio
            below 1), +1 it raises it.
        metric: a key of :data:`METRICS`.
        baseline, variant: the two arms (None for a claim that cannot be tested here).
        scales: ``(profile name, Scale)`` pairs; a profile not listed does not run it.
        threshold: training error (%) for the steps metric; window: steps averaged.
        design: why the experiment is built this way.
        untestable: why it cannot be tested on Fashion-MNIST ("" when it can).
        of_the_paper: False for a comparison the course adds (no paper value).
    """

    id: str
    title: str
    place: str
    quote: str
    paper: str
    paper_value: float | None
    direction: int
    metric: str
    baseline: Arm | None
    variant: Arm | None
    scales: tuple = ()
    threshold: float | None = None
    window: int = 10
    design: str = ""
    untestable: str = ""
    of_the_paper: bool = True

    @property
    def testable(self) -> bool:
        return not self.untestable

    def scale(self, profile_name: str) -> Scale | None:
        """This claim's scale at a profile, or None when it does not run there."""
        return dict(self.scales).get(profile_name)

    def threshold_at(self, profile_name: str) -> float | None:
        """The training error (%) the steps metric counts to at a profile."""
        if self.metric != "steps":
            return None
        scale = self.scale(profile_name)
        return scale.threshold if scale is not None and scale.threshold is not None else self.threshold

    def arms(self) -> tuple[Arm, ...]:
        return tuple(a for a in (self.baseline, self.variant) if a is not None)

    def describe_value(self) -> str:
        """The paper's value in this claim's units, e.g. "-1.40 points" or "x6"."""
        if self.paper_value is None:
            return "no number" if self.of_the_paper else "not in the paper"
        if METRICS[self.metric][0] == "ratio":
            return f"x{self.paper_value:g}"
        return f"{self.paper_value:+.2f} points"


# Scales shared by several claims: equal arms at an equal scale run once and serve them all.
FOUR_LAYER_STEPS = (("quick", Scale(6_144, 3, 3, drops=(), stop_at_threshold=True,
                                    inputs="standardised", width=0.5, threshold=20.0,
                                    learning_rates=(0.01, 0.03, 0.1, 0.3))),
                    ("full", Scale(50_000, 4, 5, drops=(), stop_at_threshold=True,
                                   inputs="standardised", width=1.0)),
                    # smoke: the code path only (CI runs chapter 7 this way), not a result
                    ("smoke", Scale(256, 1, 2, drops=(), stop_at_threshold=True,
                                    inputs="standardised", width=0.5, threshold=50.0,
                                    learning_rates=(0.03, 0.1))))
FOUR_LAYER_TEST = (("full", Scale(50_000, 10, 5, width=1.0)),)
MAIN = (("full", Scale(10_000, 4, 5)),)
OVERFIT = (("quick", Scale(1_024, 10, 3, val_images=400)),
           ("full", Scale(4_000, 25, 5, val_images=1_000)),
           ("smoke", Scale(8, 1, 2, val_images=4)))
OVERFIT_FULL = (OVERFIT[1],)

STANDARD = arm("paper's AlexNet")
_RELU_RATES = (0.003, 0.01, 0.03, 0.1, 0.3)
_FOUR_LAYER = dict(net="four_layer", weight_decay=0.0)


def _claims() -> tuple[Claim, ...]:
    return (
        Claim(
            "relu_tanh", "ReLU vs tanh", "section 3.1, Figure 1",
            "A four-layer convolutional neural network with ReLUs (solid line) reaches a 25% "
            "training error rate on CIFAR-10 six times faster than an equivalent network with "
            "tanh neurons (dashed line). The learning rates for each network were chosen "
            "independently to make training as fast as possible. No regularization of any kind "
            "was employed.",
            "six times faster to 25% training error (CIFAR-10)", 6.0, +1, "steps",
            arm("ReLU", activation="relu", learning_rates=_RELU_RATES, **_FOUR_LAYER),
            arm("tanh", activation="tanh", learning_rates=_RELU_RATES, **_FOUR_LAYER),
            FOUR_LAYER_STEPS, threshold=10.0, window=10,
            design="Figure 1's kind of network (three convolutions and a softmax layer), no "
                   "regularisation, standardised inputs, momentum SGD at each unit's best rate of "
                   "a log-spaced grid (the analysis reports whether the grid brackets it), and the "
                   "training error measured at every step (averaged over a short window) until it "
                   "reaches the threshold: the ratio is tanh's steps over ReLU's."),
        Claim(
            "towers", "two towers vs one", "section 3.2 and footnote 2",
            "This scheme reduces our top-1 and top-5 error rates by 1.7% and 1.2%, respectively, "
            "as compared with a net with half as many kernels in each convolutional layer "
            "trained on one GPU. [Footnote:] we did not halve the size of the final convolutional "
            "layer (nor the fully-connected layers which follow).",
            "-1.7 top-1, -1.2 top-5 (points, ILSVRC)", -1.7, -1, "test_error",
            arm("one tower, half the kernels", net="half_one_tower"),
            arm("two towers", towers=2), MAIN,
            design="The two-tower net (grouped convolutions in conv2, conv4 and conv5) against the "
                   "paper's one-GPU net: half the kernels in conv1 to conv4, conv5 and the dense "
                   "layers kept whole, as the footnote says, so the baseline is larger than half."),
        Claim(
            "lrn", "LRN vs none", "section 3.3",
            "Response normalization reduces our top-1 and top-5 error rates by 1.4% and 1.2%, "
            "respectively.",
            "-1.4 top-1, -1.2 top-5 (points, ILSVRC)", -1.4, -1, "test_error",
            arm("no normalisation", norm=None), STANDARD, MAIN,
            design="The same AlexNet with and without LRN after conv1 and conv2, fed raw pixels "
                   "minus the mean image (LRN's constants assume that scale). Only full profile: "
                   "at the quick profile's small images pool5 is one pixel."),
        Claim(
            "lrn_four_layer", "LRN, four-layer net", "section 3.3",
            "We also verified the effectiveness of this scheme on the CIFAR-10 dataset: a "
            "four-layer CNN achieved a 13% test error rate without normalization and 11% with "
            "normalization.",
            "13% -> 11% test error (CIFAR-10)", -2.0, -1, "test_error",
            arm("no normalisation", paper_init=True, learning_rates=(0.001,), **_FOUR_LAYER),
            arm("LRN", norm="lrn", paper_init=True, learning_rates=(0.001,), **_FOUR_LAYER),
            FOUR_LAYER_TEST,
            design="The small four-layer network with and without LRN after each convolution, on "
                   "raw pixels minus the mean image (the scale LRN's constants assume) with the "
                   "paper's N(0, 0.01^2) weights, without which the network without normalisation "
                   "does not train on raw pixels. Full profile only: LRN is slow on a CPU."),
        Claim(
            "batchnorm", "BatchNorm vs LRN", "section 3.3 (course question)",
            "BatchNorm (Ioffe and Szegedy, 2015) is not in the paper; it replaced LRN in later "
            "networks.",
            "", None, -1, "test_error",
            STANDARD, arm("BatchNorm", norm="batchnorm"), MAIN, of_the_paper=False,
            design="BatchNorm where LRN sits (after conv1 and conv2), everything else equal; the "
                   "expected direction is BatchNorm's lower error."),
        Claim(
            "overlapping_pool", "overlapping pooling", "section 3.4",
            "This scheme reduces the top-1 and top-5 error rates by 0.4% and 0.3%, respectively, "
            "as compared with the non-overlapping scheme s = 2, z = 2, which produces output of "
            "equivalent dimensions.",
            "-0.4 top-1, -0.3 top-5 (points, ILSVRC)", -0.4, -1, "test_error",
            arm("2x2 pooling", overlapping_pool=False), STANDARD, MAIN,
            design="3x3 stride-2 pooling against 2x2 stride-2 pooling; both give the same map "
                   "sizes at 227x227, so nothing else changes."),
        Claim(
            "crops_flips", "crops and flips", "section 4.1",
            "Without this scheme, our network suffers from substantial overfitting, which would "
            "have forced us to use much smaller networks.",
            "", None, -1, "best_test_error",
            STANDARD, arm("crops+flips", crops_and_flips=True), OVERFIT,
            design="A regime where the plain network clearly overfits: a small training subset, "
                   "many epochs, the validation error scored every epoch and the test error taken "
                   "at the best epoch. Crops are 28x28 windows of the image padded to 32x32 (the "
                   "paper's 224 of 256), with random horizontal flips; the test uses the image "
                   "itself, which is the centre crop."),
        Claim(
            "ten_patch", "ten-patch testing", "section 4.1; section 6, footnote 5",
            "At test time, the network makes a prediction by extracting five 224 x 224 patches "
            "(the four corner patches and the center patch) as well as their horizontal "
            "reflections (hence ten patches in all), and averaging the predictions. [Footnote:] "
            "The error rates without averaging predictions over ten patches as described in "
            "Section 4.1 are 39.0% and 18.3%.",
            "39.0/18.3 -> 37.5/17.0 top-1/top-5 (%, ILSVRC-2010): -1.5 top-1", -1.5, -1, "ten_patch",
            arm("centre patch", crops_and_flips=True),
            arm("ten patches", crops_and_flips=True, evaluation="ten_patch"), OVERFIT,
            design="The crops-and-flips models of the claim above, each scored on the centre "
                   "patch and on the average of ten patches: the same model and the same test "
                   "images, so the comparison is paired over images (McNemar) and pooled over "
                   "seeds."),
        Claim(
            "dropout_overfitting", "dropout: overfitting", "section 4.2",
            "Without dropout, our network exhibits substantial overfitting.",
            "", None, -1, "gap",
            arm("no dropout", dropout=0.0), STANDARD, OVERFIT_FULL,
            design="The overfitting regime of the crops claim; the metric is the gap between "
                   "test and training error at the end of training."),
        Claim(
            "dropout_convergence", "dropout: iterations", "section 4.2",
            "Dropout roughly doubles the number of iterations required to converge.",
            "about twice the iterations", 2.0, +1, "steps",
            arm("no dropout", dropout=0.0), STANDARD, OVERFIT_FULL, threshold=10.0, window=10,
            design="The same runs as the overfitting claim; convergence is counted as the steps "
                   "until the running training error (dropout active, as in training) reaches the "
                   "threshold."),
        Claim(
            "weight_decay", "weight decay: training error", "section 5",
            "We found that this small amount of weight decay was important for the model to "
            "learn. In other words, weight decay here is not merely a regularizer: it reduces "
            "the model's training error.",
            "", None, -1, "train_error",
            arm("no weight decay", weight_decay=0.0), STANDARD, MAIN,
            design="The paper's weight decay (0.0005, inside the momentum) against none, the "
                   "training error measured at the end on the training images without dropout."),
        Claim(
            "init_bias_one", "initialisation: biases 1", "section 5",
            "We initialized the neuron biases in the second, fourth, and fifth convolutional "
            "layers, as well as in the fully-connected hidden layers, with the constant 1. This "
            "initialization accelerates the early stages of learning by providing the ReLUs with "
            "positive inputs.",
            "", None, -1, "steps",
            arm("N(0, 0.01^2), biases 0", paper_init=True, zero_biases=True),
            arm("N(0, 0.01^2), biases 1", paper_init=True), MAIN, threshold=50.0, window=10,
            design="The paper's N(0, 0.01^2) weights with its biases of 1 against biases of 0; "
                   "'early stages' is counted as the steps to a high training error threshold."),
        Claim(
            "init_glorot", "paper init vs Glorot", "section 5 (course question)",
            "We initialized the weights in each layer from a zero-mean Gaussian distribution "
            "with standard deviation 0.01.",
            "", None, -1, "steps",
            STANDARD, arm("paper's init", paper_init=True), MAIN, threshold=50.0, window=10,
            of_the_paper=False,
            design="The paper's initialisation against Keras' default (Glorot, 2010), steps to "
                   "the same early threshold."),
        Claim(
            "depth", "removing a middle layer", "section 7",
            "Our network's performance degrades if a single convolutional layer is removed. For "
            "example, removing any of the middle layers results in a loss of about 2% for the "
            "top-1 performance of the network.",
            "about +2 top-1 (points, ILSVRC)", 2.0, +1, "test_error",
            STANDARD, arm("without conv3", drop_conv=3), MAIN,
            design="AlexNet with conv3 removed (models.alexnet(drop_conv=3)) against the whole "
                   "network, same data and budget."),
        Claim(
            "pca_colour", "PCA colour noise", "section 4.1",
            "This scheme reduces the top-1 error rate by over 1%.",
            "over -1 top-1 (points, ILSVRC)", -1.0, -1, "test_error", None, None,
            untestable="Fashion-MNIST is greyscale: there are no colour channels to perturb."),
        Claim(
            "ensemble", "five networks averaged", "section 6",
            "The CNN described in this paper achieves a top-5 error rate of 18.2%. Averaging the "
            "predictions of five similar CNNs gives an error rate of 16.4%.",
            "-1.8 top-5 (points, ILSVRC-2012 validation)", -1.8, -1, "test_error", None, None,
            untestable="Not tested yet: the runner stores each run's metrics, not its test "
                       "predictions, which averaging five networks needs."),
        Claim(
            "colour_towers", "colour-specific tower", "section 6.1, Figure 3",
            "The kernels on GPU 1 are largely color-agnostic, while the kernels on GPU 2 are "
            "largely color-specific.",
            "", None, -1, "test_error", None, None,
            untestable="Fashion-MNIST is greyscale: no kernel can specialise in colour."),
        Claim(
            "two_gpu_time", "two GPUs: training time", "section 3.2",
            "The two-GPU net takes slightly less time to train than the one-GPU net.",
            "", None, -1, "test_error", None, None,
            untestable="The course runs both towers on one device (grouped convolutions); the "
                       "claim is about splitting the work over two GPUs."),
    )


#: The registry: claim id -> :class:`Claim`, in the paper's order.
CLAIMS: dict[str, Claim] = {claim.id: claim for claim in _claims()}


def get(claim_id: str) -> Claim:
    """The claim called ``claim_id``.

    Raises:
        UnknownClaimError: no such claim (the message lists the valid ids).
    """
    if claim_id not in CLAIMS:
        raise UnknownClaimError(f"unknown claim {claim_id!r}; valid claims: {', '.join(CLAIMS)}")
    return CLAIMS[claim_id]


def _profile(name: str):
    from alexnet_book import profile as profiles

    if not isinstance(name, str) or name.strip().lower() not in profiles.PROFILES:
        raise ValueError(f"profile must be one of {', '.join(profiles.PROFILES)}, got {name!r}")
    return profiles.get(name)


def runnable(profile_name: str) -> list[str]:
    """Ids of the claims that run at a profile.

    Raises:
        ValueError: an unknown profile (the message lists the valid ones).
    """
    _profile(profile_name)
    return [c.id for c in CLAIMS.values() if c.testable and c.scale(profile_name)]


def select(profile_name: str, only: Iterable[str] | None = None) -> list[Claim]:
    """The claims to run: ``only`` (in the registry's order), or all that run at the profile.

    Raises:
        ValueError: an unknown profile.
        UnknownClaimError: an unknown id, an untestable claim, or one without a scale at
            this profile (each message names the valid choices).
    """
    available = runnable(profile_name)
    if only is None:
        return [CLAIMS[i] for i in available]
    wanted = list(dict.fromkeys(only))
    if not wanted:
        raise UnknownClaimError(f"no claim given; valid claims at {profile_name}: {', '.join(available)}")
    for claim_id in wanted:
        claim = get(claim_id)
        if not claim.testable:
            raise UnknownClaimError(f"claim {claim_id!r} cannot be tested here ({claim.untestable}); "
                                    f"claims that run at {profile_name}: {', '.join(available)}")
        if claim_id not in available:
            raise UnknownClaimError(f"claim {claim_id!r} has no {profile_name} scale; claims that "
                                    f"run at {profile_name}: {', '.join(available)}")
    return [CLAIMS[i] for i in available if i in wanted]


def _check_seeds(seeds) -> None:
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer))
                              or seeds < 1):
        raise ValueError(f"seeds must be an integer >= 1 (1 gives no interval; 3 or more is "
                         f"useful), got {seeds!r}")


def registry_table(profiles: Sequence[str] = ("quick", "full")):
    """The registry as a table: claim, place, paper's value, metric, arms and the scale per
    profile ("-" where a claim does not run)."""
    import pandas as pd

    rows = []
    for c in CLAIMS.values():
        row = {"claim": c.id, "place": c.place, "paper": c.paper or "(no number)",
               "metric": c.metric if c.testable else "-",
               "baseline -> variant": f"{c.baseline.name} -> {c.variant.name}" if c.testable
               else f"not testable: {c.untestable}"}
        for name in profiles:
            scale = c.scale(name)
            row[name] = scale.describe() if scale and c.testable else "-"
        rows.append(row)
    return pd.DataFrame(rows).set_index("claim")


# --- networks the registry needs beyond models.alexnet -----------------------------------

#: Filters of the four-layer network (cuda-convnet's CIFAR-10 example: three 5x5
#: convolutions with 3x3 stride-2 pooling, then the softmax layer).
FOUR_LAYER_FILTERS = (32, 32, 64)


def four_layer_net(activation: str = "relu", norm: str | None = None, width: float = 1.0,
                   paper_init: bool = False, input_shape: tuple[int, int, int] = (28, 28, 1),
                   num_classes: int = 10):
    """The small network of Figure 1 and section 3.3's CIFAR-10 test: three 5x5
    convolutions (32, 32, 64 filters times ``width``), each followed by the activation,
    optional LRN and 3x3 stride-2 max pooling, then a softmax layer: four layers with
    weights. ``paper_init`` draws every kernel from N(0, 0.01^2) with zero biases (section 5;
    on raw pixels it keeps the activations moderate), otherwise Keras' Glorot default.

    Raises:
        ValueError: an activation other than "relu" or "tanh", a norm other than None or
            "lrn", or a width that leaves no filter.
    """
    import keras

    from alexnet_book.layers import LocalResponseNormalization

    if activation not in ("relu", "tanh"):
        raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
    if norm not in (None, "lrn"):
        raise ValueError(f"norm must be None or 'lrn', got {norm!r}")
    filters = [max(1, round(f * width)) for f in FOUR_LAYER_FILTERS]
    if not width > 0 or min(filters) < 1:
        raise ValueError(f"width must be > 0, got {width!r}")
    init = {"kernel_initializer": keras.initializers.RandomNormal(0.0, 0.01)} if paper_init else {}
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2D(f, 5, padding="same", activation=activation, name=f"conv{i}", **init)(x)
        if norm == "lrn":
            x = LocalResponseNormalization(name=f"lrn{i}")(x)
        x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="softmax", **init)(x)
    return keras.Model(inputs, outputs, name=f"four_layer_{activation}{'_lrn' if norm else ''}")


#: Kernels per layer of the paper's one-GPU comparison net (section 3.2, footnote 2): half
#: of conv1 to conv4, conv5 and the dense layers whole.
HALF_ONE_TOWER_FILTERS = (48, 128, 192, 192, 256)


def half_one_tower(profile=None, width: float | None = None, dropout: float = 0.5):
    """The one-GPU net the paper compares its two towers with (section 3.2, footnote 2):
    one tower with half the kernels of conv1 to conv4, and conv5 (256) and the dense layers
    (4096) not halved, "to make the two nets have approximately the same number of
    parameters". LRN and overlapping pooling as in :func:`alexnet_book.models.alexnet`.

    Args:
        profile: sizes (default: the one in force).
        width: multiplier on every count (default: the profile's).
        dropout: after fc6 and fc7.
    """
    import keras

    from alexnet_book import models
    from alexnet_book import profile as profiles
    from alexnet_book.layers import LocalResponseNormalization

    profile = profile or profiles.current()
    width = profile.width if width is None else width
    if not width >= models.MIN_WIDTH:
        raise ValueError(f"width must be >= {models.MIN_WIDTH:g}, got {width!r}")
    f = [max(1, round(n * width)) for n in HALF_ONE_TOWER_FILTERS]
    dense = max(1, round(models.ALEXNET_DENSE * width))
    inputs = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Resizing(profile.image_size, profile.image_size, name="resize")(inputs)
    x = keras.layers.Conv2D(f[0], 11, strides=4, activation="relu", name="conv1")(x)
    x = LocalResponseNormalization(name="lrn1")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = keras.layers.Conv2D(f[1], 5, padding="same", activation="relu", name="conv2")(x)
    x = LocalResponseNormalization(name="lrn2")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    for i, n in ((3, f[2]), (4, f[3]), (5, f[4])):
        x = keras.layers.Conv2D(n, 3, padding="same", activation="relu", name=f"conv{i}")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i in (6, 7):
        x = keras.layers.Dense(dense, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="fc8")(x)
    return keras.Model(inputs, outputs, name="half_one_tower")


def build(arm_: Arm, profile, scale: Scale | None = None):
    """The uncompiled network of an arm at a profile (and a scale's width).

    Raises:
        ValueError: as the builders (:func:`alexnet_book.models.course_model`,
            :func:`half_one_tower`, :func:`four_layer_net`).
    """
    from alexnet_book import models

    options = dict(arm_.options)
    width = scale.width if scale is not None else None
    if arm_.net == "four_layer":
        return four_layer_net(width=1.0 if width is None else width, **options)
    if arm_.net == "half_one_tower":
        return half_one_tower(profile, width=width, **options)
    zero_biases = options.pop("zero_biases", False)
    if width is not None:
        options["width"] = width
    model = models.course_model(profile, **options)
    if zero_biases:
        import keras

        for layer in model.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) and layer.use_bias:
                layer.bias.assign(np.zeros(layer.bias.shape, "float32"))
    return model


# --- running -------------------------------------------------------------------------------

@dataclasses.dataclass
class _Consumer:
    claim: str
    arm: str
    evaluation: str
    threshold: float | None
    window: int


@dataclasses.dataclass
class _Job:
    """The runs of one arm at one scale: compiled once, trained for every seed and rate."""

    profile: str
    arm: Arm
    scale: Scale
    seeds: int
    consumers: list = dataclasses.field(default_factory=list)

    @property
    def rates(self) -> tuple[float, ...]:
        """The learning rates this job tries (the scale's grid, else the arm's)."""
        return self.scale.learning_rates or self.arm.learning_rates

    @property
    def label(self) -> str:
        return f"{self.arm.name} ({', '.join(sorted({c.claim for c in self.consumers}))})"

    def images(self) -> int:
        """Training images planned (the most, for runs that may stop early)."""
        profile = _profile(self.profile)
        per_epoch = (self.scale.train_images // profile.batch_size) * profile.batch_size
        return per_epoch * self.scale.epochs * self.seeds * len(self.rates)

    def runs(self) -> int:
        return self.seeds * len(self.rates)


def plan(profile_name: str = "quick", only: Iterable[str] | None = None,
         seeds: int | None = None) -> list[_Job]:
    """The jobs :func:`run` would execute: one per distinct trained arm and scale, each
    serving every claim that compares it (a shared baseline runs once).

    Raises:
        ValueError, UnknownClaimError: as :func:`select`; seeds < 1.
    """
    _check_seeds(seeds)
    jobs: dict[tuple, _Job] = {}
    for claim in select(profile_name, only):
        scale = claim.scale(profile_name)
        n = int(seeds) if seeds is not None else scale.seeds
        for side in claim.arms():
            key = (side.training(), scale, n)
            job = jobs.setdefault(key, _Job(profile_name, side, scale, n))
            job.consumers.append(_Consumer(claim.id, side.name, side.evaluation,
                                           claim.threshold_at(profile_name), claim.window))
    return sorted(jobs.values(), key=lambda j: -j.images())


class _Progress:
    """A text progress bar over planned training images (a line every 10% when the stream
    is not a terminal, so logs and notebooks stay short)."""

    def __init__(self, total_images: int, total_runs: int, stream=None, enabled: bool = True):
        self.total, self.runs, self.stream, self.enabled = max(total_images, 1), total_runs, stream, enabled
        self.done_images, self.done_runs, self.start, self._last_decile = 0, 0, time.perf_counter(), -1

    def update(self, planned_images: int, label: str) -> None:
        self.done_images += planned_images
        self.done_runs += 1
        if not self.enabled:
            return
        stream = self.stream or sys.stdout
        fraction = min(self.done_images / self.total, 1.0)
        elapsed = time.perf_counter() - self.start
        left = elapsed / fraction - elapsed if fraction > 0 else float("nan")
        bar = "#" * round(24 * fraction) + "-" * (24 - round(24 * fraction))
        text = (f"[{bar}] {fraction:4.0%} {self.done_runs}/{self.runs} runs, "
                f"{elapsed:4.0f} s, ~{left:3.0f} s left  {label}")
        if getattr(stream, "isatty", lambda: False)():
            stream.write("\r" + text[:150].ljust(150) + ("\n" if self.done_runs == self.runs else ""))
        elif int(fraction * 10) > self._last_decile or self.done_runs == self.runs:
            self._last_decile = int(fraction * 10)
            stream.write(text + "\n")
        stream.flush()


_DATA_CACHE: dict = {}


def _data(profile, scale: Scale) -> dict:
    """Training, validation and test arrays for a scale, cached per process."""
    from alexnet_book import data

    key = (profile.name, scale.train_images, scale.val_images, scale.inputs)
    if key not in _DATA_CACHE:
        splits = data.course_splits(profile, train_size=scale.train_images)
        x_train, x_val, x_test = splits.centred()
        if scale.inputs == "standardised":
            sd = float(x_train.std())
            x_train, x_val, x_test = x_train / sd, x_val / sd, x_test / sd
        n = (len(x_train) // profile.batch_size) * profile.batch_size  # no partial batch
        val = scale.val_images
        _DATA_CACHE[key] = {
            "x_train": x_train[:n], "y_train": splits.y_train[:n],
            "x_val": x_val[:val], "y_val": splits.y_val[:val],
            "x_test": x_test, "y_test": splits.y_test,
        }
    return _DATA_CACHE[key]


def crops_and_flips(images: np.ndarray, rng: np.random.Generator, padding: int = CROP_PADDING) -> np.ndarray:
    """Section 4.1's training augmentation on the host, one random window per image: pad
    by ``padding`` pixels (zeros, the mean after centring), take a window of the original
    size at a random offset, and mirror half of the windows left to right.

    Args:
        images: ``(n, h, w, c)``.
        rng: the seeded generator (the same seed gives the same crops).

    Raises:
        ValueError: not a batch of images, or a negative padding.
    """
    images = np.asarray(images)
    if images.ndim != 4 or padding < 0:
        raise ValueError(f"need images (n, h, w, c) and padding >= 0, got shape {images.shape} "
                         f"and padding {padding}")
    n, h, w, _ = images.shape
    padded = np.pad(images, [(0, 0), (padding, padding), (padding, padding), (0, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(1, 2))
    dy = rng.integers(0, 2 * padding + 1, n)
    dx = rng.integers(0, 2 * padding + 1, n)
    out = np.moveaxis(windows[np.arange(n), dy, dx], 1, -1)  # (n, c, h, w) -> (n, h, w, c)
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, ::-1]
    return np.ascontiguousarray(out)


def _step_errors_callback(batch_size: int, stop_below: float | None, window: int,
                          cap: int | None = None):
    import keras

    class StepErrors(keras.callbacks.Callback):
        """The training error of every step, from ``fit``'s running accuracy (Keras reports
        the mean since the epoch began; the differences give each batch's own). Stops
        training when the running error reaches ``stop_below``, or after ``cap`` steps (a
        run of a learning-rate grid that is already slower than the best one)."""

        def __init__(self):
            super().__init__()
            self.errors: list[float] = []
            self.stopped = False

        def on_epoch_begin(self, epoch, logs=None):
            self._correct = 0

        def on_train_batch_end(self, batch, logs=None):
            seen = (batch + 1) * batch_size
            correct = int(round(float(logs["accuracy"]) * seen))
            self.errors.append(1.0 - (correct - self._correct) / batch_size)
            self._correct = correct
            reached = (stop_below is not None and len(self.errors) >= window
                       and np.mean(self.errors[-window:]) <= stop_below + 1e-12)
            if reached or (cap is not None and len(self.errors) >= cap):
                self.stopped = True
                self.model.stop_training = True

    return StepErrors()


def steps_to(errors: Sequence[float], threshold: float, window: int) -> int | None:
    """The first step (1-based) at which the mean training error of the last ``window``
    steps is at most ``threshold`` (a fraction), or None if it never is.

    Raises:
        ValueError: window < 1.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window!r}")
    errors = np.asarray(errors, dtype=float)
    if len(errors) < window:
        return None
    running = np.convolve(errors, np.ones(window) / window, mode="valid")
    hits = np.flatnonzero(running <= threshold + 1e-12)
    return int(hits[0]) + window if len(hits) else None


def _environment() -> dict:
    from alexnet_book import device

    report = device.environment_report()
    versions = {k: report[k] for k in ("keras", "python", "jax", "tensorflow", "torch") if k in report}
    return {"device": report["device"], "backend": report["backend"], "versions": versions,
            "date": report["date"], "gpu": report["gpu"]}


def _errors(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(error %, mean cross-entropy, correct per image)."""
    correct = probabilities.argmax(axis=1) == labels
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
    return 100.0 * (1.0 - correct.mean()), float(-np.log(picked).mean()), correct


def _number(value):
    """A JSON-safe value: floats rounded, NaN and infinities (a diverged run) as None."""
    if isinstance(value, (float, np.floating)):
        return round(float(value), 4) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _pack(correct: np.ndarray) -> str:
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex()


def unpack_correct(hex_string: str, n: int) -> np.ndarray:
    """The per-image right/wrong vector stored in a result line's ``metrics.correct``."""
    return np.unpackbits(np.frombuffer(bytes.fromhex(hex_string), dtype=np.uint8))[:n].astype(bool)


def _run_job(job: _Job, emit) -> None:
    """Train one job's runs and call ``emit(rows, planned_images, label)`` after each."""
    import keras

    from alexnet_book import augment, speed, training

    profile = _profile(job.profile)
    scale, bs = job.scale, profile.batch_size
    env = _environment()
    arrays = _data(profile, scale)
    x_train, y_train = arrays["x_train"], arrays["y_train"]
    steps_per_epoch = len(x_train) // bs
    padded_test = None
    evaluations = {c.evaluation for c in job.consumers}
    needed = {CLAIMS[c.claim].metric for c in job.consumers}
    needs_steps = [c for c in job.consumers if c.threshold is not None]
    eval_batch = 4 * bs

    keras.utils.set_random_seed(0)
    optimizer = training.PaperSGD(learning_rate=job.rates[0], momentum=0.9,
                                  coupled_weight_decay=job.arm.weight_decay)
    jit = True if keras.backend.backend() == "jax" else "auto"
    model = speed.compile_for_speed(build(job.arm, profile, scale), optimizer, mixed_precision="auto",
                                    jit_compile=jit).model
    model.optimizer.build(model.trainable_variables)
    fresh_optimizer = [np.array(v.numpy()) for v in model.optimizer.variables]
    generators = [layer.seed_generator for layer in model.layers
                  if getattr(layer, "seed_generator", None) is not None]
    first = True
    for seed in range(job.seeds):
        keras.utils.set_random_seed(seed)
        initial = build(job.arm, profile, scale).get_weights()  # the same for equal shapes
        fastest = None  # a grid's best steps so far for this seed: slower runs stop there
        middle = np.median(np.log(job.rates))
        for rate in sorted(job.rates, key=lambda r: (abs(math.log(r) - middle), r)):
            start = time.perf_counter()
            model.set_weights(initial)
            for variable, value in zip(model.optimizer.variables, fresh_optimizer):
                variable.assign(value)
            for index, generator in enumerate(generators):  # the same dropout masks per seed
                generator.state.assign(np.array([1000 * seed + index + 1, 0], "uint32"))
            order_rng = np.random.default_rng([seed, 7])  # the same data order in every arm
            crop_rng = np.random.default_rng([seed, 11])
            stop = None
            if scale.stop_at_threshold and needs_steps:
                stop = max(c.threshold for c in needs_steps) / 100.0
            window = max((c.window for c in needs_steps), default=1)
            cap = fastest if stop is not None and len(job.rates) > 1 else None
            recorder = _step_errors_callback(bs, stop, window, cap)
            val_curve, val_loss_curve, best = [], [], (math.inf, -1, None)
            boundaries = sorted(round(d * scale.epochs) for d in scale.drops)
            epochs_run = 0
            for epoch in range(scale.epochs):
                order = order_rng.permutation(len(x_train))
                x_epoch = x_train[order]
                if job.arm.crops_and_flips:
                    x_epoch = crops_and_flips(x_epoch, crop_rng)
                model.optimizer.learning_rate = rate * 0.1 ** sum(epoch >= b for b in boundaries)
                # a per-step hook makes the device wait every step: only where steps count
                model.fit(x_epoch, y_train[order], batch_size=bs, epochs=1, shuffle=False, verbose=0,
                          callbacks=[recorder] if needs_steps else [])
                epochs_run += 1
                if recorder.stopped:
                    break
                if scale.val_images:
                    probabilities = model.predict(arrays["x_val"], batch_size=eval_batch, verbose=0)
                    val_error, val_loss, _ = _errors(probabilities, arrays["y_val"])
                    val_curve.append(_number(val_error))
                    val_loss_curve.append(_number(val_loss))
                    if val_error < best[0]:
                        best = (val_error, epoch + 1, model.get_weights())
            metrics: dict = {}
            if {"test_error", "gap"} & needed:
                test_probabilities = model.predict(arrays["x_test"], batch_size=eval_batch, verbose=0)
                metrics["test_error"], metrics["test_loss"], _ = _errors(test_probabilities, arrays["y_test"])
            if {"train_error", "gap"} & needed:
                train_probabilities = model.predict(x_train, batch_size=eval_batch, verbose=0)
                metrics["train_error"] = _errors(train_probabilities, y_train)[0]
            if "gap" in needed:
                metrics["gap"] = metrics["test_error"] - metrics["train_error"]
            by_evaluation = {"centre": dict(metrics)}
            if scale.val_images and best[2] is not None and {"best_test_error", "ten_patch"} & needed:
                model.set_weights(best[2])
                metrics["best_epoch"] = best[1]
                for evaluation in evaluations:
                    if evaluation == "ten_patch":
                        if padded_test is None:
                            pad = [(0, 0), (CROP_PADDING, CROP_PADDING), (CROP_PADDING, CROP_PADDING), (0, 0)]
                            padded_test = np.pad(arrays["x_test"], pad)
                        probabilities = augment.ten_crop_predict(model, padded_test,
                                                                 crop_size=x_train.shape[1],
                                                                 batch_size=eval_batch)
                    else:
                        probabilities = model.predict(arrays["x_test"], batch_size=eval_batch, verbose=0)
                    error, _, correct_best = _errors(probabilities, arrays["y_test"])
                    by_evaluation.setdefault(evaluation, {})
                    by_evaluation[evaluation].update(best_test_error=error, best_epoch=best[1],
                                                     correct=_pack(correct_best),
                                                     test_images=len(arrays["y_test"]))
            steps_run = len(recorder.errors) if needs_steps else epochs_run * steps_per_epoch
            if stop is not None:
                reached = steps_to(recorder.errors, stop, window)
                if reached is not None:
                    fastest = reached if fastest is None else min(fastest, reached)
            seconds = time.perf_counter() - start
            rows = []
            for consumer in job.consumers:
                m = {k: _number(v) for k, v in
                     by_evaluation.get(consumer.evaluation, by_evaluation["centre"]).items()}
                if CLAIMS[consumer.claim].metric != "ten_patch":
                    m.pop("correct", None)
                    m.pop("test_images", None)
                if consumer.threshold is not None:
                    m["steps"] = steps_to(recorder.errors, consumer.threshold / 100.0, consumer.window)
                    m["steps_run"] = steps_run
                    m["threshold"] = consumer.threshold
                curves = {"val_error": val_curve, "val_loss": val_loss_curve} if scale.val_images else {}
                rows.append({
                    "claim": consumer.claim, "arm": consumer.arm, "seed": seed, "learning_rate": rate,
                    "profile": job.profile, "metrics": m, "curves": curves,
                    "epochs": round(steps_run / steps_per_epoch, 3) if steps_run else epochs_run,
                    "images": steps_run * bs, "seconds": round(seconds, 2),
                    "compile_included": first,
                    "shared_with": sorted({c.claim for c in job.consumers} - {consumer.claim}),
                    "scale": {**dataclasses.asdict(scale), "image_size": profile.image_size,
                              "batch_size": bs, "test_images": len(arrays["y_test"]),
                              "width": scale.width if scale.width is not None else
                              (profile.width if job.arm.net != "four_layer" else 1.0)},
                    "device": env["device"], "backend": env["backend"], "versions": env["versions"],
                    "date": env["date"],
                })
            first = False
            planned = steps_per_epoch * bs * scale.epochs
            emit(rows, planned, f"{job.arm.name}, seed {seed}" +
                 (f", lr {rate:g}" if len(job.rates) > 1 else ""))
    keras.backend.clear_session()


def _interleaved(jobs: list[_Job]) -> list[_Job]:
    """The order in which parallel workers take jobs: the large AlexNet jobs first, with one
    small four-layer job (bound by per-step overhead, light on the GPU) after each, so the
    GPU stays busy while they run."""
    big = [j for j in jobs if j.arm.net != "four_layer"]
    small = [j for j in jobs if j.arm.net == "four_layer"]
    order = []
    for index in range(max(len(big), len(small))):
        order += big[index:index + 1] + small[index:index + 1]
    return order


def _worker(job: _Job, queue) -> None:
    _run_job(job, lambda rows, planned, label: queue.put((rows, planned, label)))
    queue.put(None)


def default_out(environment: dict | None = None) -> Path:
    """``benchmarks/results/claims/claims-<device>-<date>.jsonl`` in the checkout (the
    current folder when the library is not installed from one)."""
    from alexnet_book import results

    environment = environment or _environment()
    slug = re.sub(r"[^a-z0-9]+", "-", environment["device"].lower()).strip("-")[:40] or "device"
    folder = results.local_results_dir()
    folder = folder / "claims" if folder is not None else Path(".")
    return folder / f"claims-{slug}-{environment['date']}.jsonl"


def run(profile: str = "quick", only: Iterable[str] | None = None, seeds: int | None = None,
        out: str | os.PathLike | None = None, workers: int = 1, progress: bool = True,
        stream=None) -> list[dict]:
    """Run claims and return one result dict per (claim, arm, seed, learning rate),
    appending each as a JSON line to ``out`` when given.

    Args:
        profile: "quick" or "full".
        only: claim ids (default: every claim with a scale at the profile).
        seeds: seeds per arm (default: the scale's).
        out: a ``.jsonl`` file to append to (created with its folder), or None.
        workers: processes that run arms at the same time (on one GPU, they share it).
        progress: print a progress bar to ``stream`` (default stdout).

    Raises:
        ValueError: an unknown profile, seeds or workers < 1.
        UnknownClaimError: an unknown or untestable claim id, or one without this profile.
    """
    jobs = plan(profile, only, seeds)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    bar = _Progress(sum(j.images() for j in jobs), sum(j.runs() for j in jobs), stream, progress)
    collected: list[dict] = []
    path = Path(out) if out is not None else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)

    def emit(rows, planned, label):
        collected.extend(rows)
        if path is not None:
            with path.open("a") as f:
                f.writelines(json.dumps(row) + "\n" for row in rows)
        bar.update(planned, label)

    if workers == 1:
        for job in jobs:
            _run_job(job, emit)
        return collected
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    jobs = _interleaved(jobs)
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # the processes share the GPU
    with context.Manager() as manager:
        queue = manager.Queue()
        with concurrent.futures.ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as pool:
            futures = [pool.submit(_worker, job, queue) for job in jobs]
            finished = 0
            while finished < len(jobs):
                try:
                    item = queue.get(timeout=2)
                except Exception as empty:  # queue.Empty through the manager: a failed worker?
                    for future in futures:
                        if future.done() and future.exception() is not None:
                            raise future.exception() from empty
                    continue
                if item is None:
                    finished += 1
                else:
                    emit(*item)
            for future in futures:
                future.result()
    return collected


# --- reading results -----------------------------------------------------------------------

def validate_rows(rows: Sequence[dict], source: str = "results") -> list[dict]:
    """Check result lines: every field of :data:`ROW_FIELDS`, a known claim and arm, a
    known profile, a seed >= 0 and numeric metrics.

    Returns:
        The rows, unchanged.

    Raises:
        ResultsFormatError: the first problem, naming the line, the field and what is valid.
    """
    from alexnet_book import profile as profiles

    for index, row in enumerate(rows):
        where = f"{row.get('file', source) if isinstance(row, dict) else source}, line {index + 1}"
        if not isinstance(row, dict):
            raise ResultsFormatError(f"{where}: a result must be a JSON object, got {row!r}")
        missing = [f for f in ROW_FIELDS if f not in row]
        if missing:
            raise ResultsFormatError(f"{where}: missing field(s) {missing}; every line needs "
                                     f"{', '.join(ROW_FIELDS)}")
        if row["claim"] not in CLAIMS:
            raise ResultsFormatError(f"{where}: unknown claim {row['claim']!r}; valid claims: "
                                     f"{', '.join(CLAIMS)}")
        claim = CLAIMS[row["claim"]]
        arms = [a.name for a in claim.arms()]
        if row["arm"] not in arms:
            raise ResultsFormatError(f"{where}: claim {claim.id!r} has no arm {row['arm']!r}; "
                                     f"its arms: {arms}")
        if row["profile"] not in profiles.PROFILES:
            raise ResultsFormatError(f"{where}: unknown profile {row['profile']!r}; valid: "
                                     f"{', '.join(profiles.PROFILES)}")
        if isinstance(row["seed"], bool) or not isinstance(row["seed"], int) or row["seed"] < 0:
            raise ResultsFormatError(f"{where}: seed must be an integer >= 0, got {row['seed']!r}")
        needed = {"ten_patch": ("best_test_error", "correct", "test_images"),
                  "steps": ("steps", "steps_run")}.get(claim.metric, (claim.metric,))
        if not isinstance(row["metrics"], dict) or any(k not in row["metrics"] for k in needed):
            raise ResultsFormatError(f"{where}: metrics of claim {claim.id!r} must hold "
                                     f"{', '.join(needed)}, got {str(row['metrics'])[:200]}")
    return list(rows)


def stored_rows(repository: str, profile: str = "full", latest: bool = True) -> list[dict]:
    """Result lines stored in ``benchmarks/results/claims/`` (the checkout, else GitHub)
    for a profile, validated; by default only those of the newest file.

    Raises:
        ValueError: an unknown profile.
        ResultsFormatError: a stored line is malformed (the message names the file).
        alexnet_book.results.ResultsUnavailableError: no checkout and GitHub unreachable.
    """
    from alexnet_book import results

    _profile(profile)
    stored = results.stored_results(repository, subfolder="claims")
    for name in sorted({r["file"] for r in stored}):  # every line of every file, numbered per file
        validate_rows([r for r in stored if r["file"] == name])
    rows = [r for r in stored if r["profile"] == profile]
    if latest and rows:
        newest = max(rows, key=lambda r: (r["date"], r["file"]))["file"]
        rows = [r for r in rows if r["file"] == newest]
    return rows


def check_complete(rows: Sequence[dict], profile: str, min_seeds: int = 1) -> None:
    """Every claim that runs at ``profile`` has both arms with at least ``min_seeds`` seeds.

    Raises:
        ResultsFormatError: the claims or arms that are missing or short of seeds.
    """
    problems = []
    for claim_id in runnable(profile):
        claim = CLAIMS[claim_id]
        for side in claim.arms():
            seeds = {r["seed"] for r in rows if r["claim"] == claim_id and r["arm"] == side.name}
            if len(seeds) < min_seeds:
                problems.append(f"{claim_id}/{side.name}: {len(seeds)} seed(s)")
    if problems:
        raise ResultsFormatError(f"{profile} results are incomplete (need >= {min_seeds} seeds per "
                                 f"arm of every claim): {'; '.join(problems)}")


# --- analysis ------------------------------------------------------------------------------

def _steps(row: dict) -> int:
    """A run's steps to the threshold; one that never reached it counts as the steps it
    ran plus one (a lower bound)."""
    m = row["metrics"]
    return m["steps"] if m["steps"] is not None else m["steps_run"] + 1


def best_per_seed(rows: Sequence[dict]) -> dict[int, dict]:
    """For steps rows of one arm, each seed's fastest run over its learning-rate grid (the
    paper chose each network's rate "to make training as fast as possible")."""
    best: dict[int, dict] = {}
    for row in rows:
        if row["seed"] not in best or (_steps(row), row["learning_rate"]) < (
                _steps(best[row["seed"]]), best[row["seed"]]["learning_rate"]):
            best[row["seed"]] = row
    return best


def _grid_note(rows: Sequence[dict], best: dict[int, dict]) -> str:
    rates = sorted({r["learning_rate"] for r in rows})
    name = rows[0]["arm"]
    chosen = [best[s]["learning_rate"] for s in sorted(best)]
    censored = sum(b["metrics"]["steps"] is None for b in best.values())
    note = ""
    if len(rates) > 1:
        edge = sum(r in (rates[0], rates[-1]) for r in chosen)
        note = (f"{name}: best lr {', '.join(f'{r:g}' for r in chosen)} of "
                f"{rates[0]:g}-{rates[-1]:g}" + (f" ({edge} at the grid's edge)" if edge else " (bracketed)"))
    if censored:
        note += f"{'; ' if note else ''}{name}: {censored} seed(s) never reached the threshold"
    return note


def analyse(claim_id: str, rows: Sequence[dict]) -> dict | None:
    """One claim's effect from its result lines: the interval, the verdict and notes.

    Returns:
        None when the rows hold no complete pair; otherwise a dict with ``interval``
        (:class:`alexnet_book.stats.Interval`), ``verdict``, ``seeds``, ``note``, ``device``,
        ``date``.

    Raises:
        UnknownClaimError: an unknown claim id.
    """
    claim = get(claim_id)
    if not claim.testable:
        return None
    mine = [r for r in rows if r["claim"] == claim_id]
    base = [r for r in mine if r["arm"] == claim.baseline.name]
    var = [r for r in mine if r["arm"] == claim.variant.name]
    if not base or not var:
        return None
    kind = METRICS[claim.metric][0]
    notes = []
    if kind == "ratio":
        by_seed_b, by_seed_v = best_per_seed(base), best_per_seed(var)
        notes += [n for n in (_grid_note(base, by_seed_b), _grid_note(var, by_seed_v)) if n]
    else:
        by_seed_b = {r["seed"]: r for r in base}
        by_seed_v = {r["seed"]: r for r in var}

    def value(row):
        if claim.metric == "steps":
            return _steps(row)
        if claim.metric == "ten_patch":
            return row["metrics"]["best_test_error"]
        return row["metrics"][claim.metric]

    seeds = sorted(set(by_seed_b) & set(by_seed_v))
    if not seeds:
        return None
    if kind == "paired images":
        n = by_seed_b[seeds[0]]["metrics"]["test_images"]
        b = np.concatenate([unpack_correct(by_seed_b[s]["metrics"]["correct"], n) for s in seeds])
        v = np.concatenate([unpack_correct(by_seed_v[s]["metrics"]["correct"], n) for s in seeds])
        interval, p = stats.paired_proportions(b, v)
        notes.append(f"{len(seeds)} model(s) x {n:,} test images, McNemar p = {p:.2g}")
    elif kind == "ratio":
        interval = stats.paired_ratio([value(by_seed_b[s]) for s in seeds],
                                      [value(by_seed_v[s]) for s in seeds])
    else:
        interval = stats.paired_difference([value(by_seed_b[s]) for s in seeds],
                                           [value(by_seed_v[s]) for s in seeds])
    return {"interval": interval, "verdict": stats.verdict(interval, claim.direction), "seeds": len(seeds),
            "note": "; ".join(notes), "device": mine[0]["device"], "date": mine[0]["date"],
            "baseline_mean": float(np.mean([value(by_seed_b[s]) for s in seeds])),
            "variant_mean": float(np.mean([value(by_seed_v[s]) for s in seeds]))}


def summarise(rows: Sequence[dict]):
    """One line per claim present in ``rows``: the paper's value, our estimate with its
    95% interval, the seeds, the verdict and notes (a pandas DataFrame indexed by claim)."""
    import pandas as pd

    lines = []
    for claim_id in dict.fromkeys(r["claim"] for r in rows):
        result = analyse(claim_id, rows)
        if result is None:
            continue
        claim, interval = CLAIMS[claim_id], result["interval"]
        lines.append({"claim": claim_id, "place": claim.place, "metric": claim.metric,
                      "paper": claim.describe_value(), "estimate": interval.estimate,
                      "low": interval.low, "high": interval.high, "kind": interval.kind,
                      "seeds": result["seeds"], "verdict": result["verdict"], "note": result["note"],
                      "device": result["device"], "date": result["date"]})
    return pd.DataFrame(lines).set_index("claim") if lines else pd.DataFrame(
        columns=["place", "metric", "paper", "estimate", "low", "high", "kind", "seeds", "verdict",
                 "note", "device", "date"])


def _cell(result: dict) -> str:
    interval = result["interval"]
    return f"{interval.describe(2, '' if interval.kind == 'ratio' else ' pt')}, {result['seeds']} seeds"


def lab_table(quick_rows: Sequence[dict], full_rows: Sequence[dict]):
    """The chapter's table: every claim of the registry with the paper's value, ours at the
    quick profile and at the full profile (effect [95% interval], seeds), a verdict per
    profile and notes (learning rates chosen, runs that never reached a threshold,
    McNemar's p); claims that cannot be tested or did not run say so."""
    import pandas as pd

    lines = []
    for claim in CLAIMS.values():
        notes: list[str] = []
        line = {"claim": claim.title, "place": claim.place,
                "paper": claim.paper or ("(no number)" if claim.of_the_paper else "(not in the paper)")}
        for label, rows, profile_name in (("quick", quick_rows, "quick"), ("full", full_rows, "full")):
            if not claim.testable:
                line[f"ours, {label}"], line[f"verdict, {label}"] = "cannot be tested", "-"
                continue
            result = analyse(claim.id, rows) if rows else None
            if result is None:
                missing = ("not run at this profile" if claim.scale(profile_name) is None
                           else "not yet measured")
                line[f"ours, {label}"], line[f"verdict, {label}"] = missing, "-"
            else:
                line[f"ours, {label}"] = _cell(result)
                line[f"verdict, {label}"] = result["verdict"]
                if result["note"]:
                    notes.append(f"{label}: {result['note']}")
        line["notes"] = "; ".join(notes)
        lines.append(line)
    return pd.DataFrame(lines).set_index("claim")


def forest_plot(summaries: dict, title: str = "The paper's claims: our effects with 95% intervals"):
    """Each claim's effect and interval (one colour per profile or source) beside the
    paper's value (a black diamond): differences in points on the left, ratios of steps on
    a log axis on the right, with no effect as a dotted line.

    Args:
        summaries: label -> :func:`summarise` output (e.g. {"quick, this machine": ...}).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    from alexnet_book import plots

    claim_ids = [c.id for c in CLAIMS.values() if c.testable]
    kinds = {"difference": [i for i in claim_ids if METRICS[CLAIMS[i].metric][0] != "ratio"],
             "ratio": [i for i in claim_ids if METRICS[CLAIMS[i].metric][0] == "ratio"]}
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    offsets = np.linspace(-0.15, 0.15, len(summaries)) if len(summaries) > 1 else [0.0]
    handles = {}
    for ax, (kind, ids) in zip(axes, kinds.items()):
        ys = np.arange(len(ids))[::-1]
        shown = []
        for (label, table), offset, color in zip(summaries.items(), offsets, plots.PALETTE):
            for y, claim_id in zip(ys, ids):
                if claim_id not in table.index:
                    continue
                r = table.loc[claim_id]
                low = r["low"] if math.isfinite(r["low"]) else r["estimate"]
                high = r["high"] if math.isfinite(r["high"]) else r["estimate"]
                line = ax.errorbar(r["estimate"], y + offset,
                                   xerr=[[r["estimate"] - low], [high - r["estimate"]]],
                                   fmt="o", color=color, capsize=3, ms=5)
                handles.setdefault(label, line)
                shown += [low, high]
        for y, claim_id in zip(ys, ids):
            value = CLAIMS[claim_id].paper_value
            if value is not None:
                handles.setdefault("paper", ax.plot(value, y, "D", color="black", ms=6)[0])
                shown.append(value)
        null = 1.0 if kind == "ratio" else 0.0
        ax.axvline(null, color="gray", lw=1, ls=":")
        ax.set_yticks(ys, [CLAIMS[i].title for i in ids], fontsize=8)
        ax.set_ylim(-0.6, len(ids) - 0.4)
        ax.grid(axis="x", alpha=0.3)
        if kind == "ratio":
            ax.set_xscale("log")
            values = [v for v in shown + [null] if v > 0]
            lo, hi = min(values) / 1.5, max(values) * 1.5
            ax.set_xlim(lo, hi)
            ticks = [t for t in (1 / 16, 1 / 8, 0.25, 0.5, 1, 2, 4, 8, 16, 32) if lo <= t <= hi]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("steps, variant / baseline (ratio, log)")
        else:
            ax.set_xlabel("variant minus baseline (points of error, %)")
    axes[0].set_title("error differences", fontsize=10)
    axes[1].set_title("training steps to a threshold", fontsize=10)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=len(handles), fontsize=8,
               frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def paper_vs_here(claim_id: str, quick_rows: Sequence[dict] | None = None,
                  full_rows: Sequence[dict] | None = None, repository: str | None = None) -> str:
    """A "Paper vs here" paragraph for a chapter, from the registry and results: the
    paper's words and place, its value, and ours per profile with the verdict.

    Args:
        claim_id: the claim.
        quick_rows, full_rows: result lines (e.g. from :func:`run`); None leaves that
            profile out, an empty list says "not yet measured".
        repository: the course's URL (a notebook's ``REPOSITORY``): when given and
            ``full_rows`` is None, the stored full-profile results are read
            (:func:`stored_rows`), and a line says so when they cannot be.

    Raises:
        UnknownClaimError: an unknown claim id.
    """
    from alexnet_book import results

    claim = get(claim_id)
    if claim.of_the_paper:
        first = f"Paper ({claim.place}): \"{claim.quote}\""
    else:
        first = f"Course question, not in the paper ({claim.place}): {claim.quote}"
    lines = [first,
             f"Paper's value: {claim.paper or 'no number'}"
             + (f" ({claim.describe_value()} in this course's units)" if claim.paper_value is not None else "")]
    if not claim.testable:
        lines.append(f"Here: cannot be tested ({claim.untestable})")
        return "\n".join(lines)
    unavailable = None
    if full_rows is None and repository is not None:
        try:
            full_rows = stored_rows(repository, "full")
        except results.ResultsUnavailableError as error:
            unavailable = str(error)
    for label, rows in (("quick", quick_rows), ("full", full_rows)):
        if rows is None:
            if label == "full" and unavailable:
                lines.append(f"Here, full profile: stored results unavailable ({unavailable})")
            continue
        result = analyse(claim_id, rows) if rows else None
        if result is None:
            state = "not run at this profile" if claim.scale(label) is None else "not yet measured"
            lines.append(f"Here, {label} profile: {state}"
                         + (f" (measure it on a GPU: {GPU_COMMAND})" if label == "full" and
                            state == "not yet measured" else ""))
        else:
            lines.append(f"Here, {label} profile ({result['device']}, {result['date']}): "
                         f"{_cell(result)}: {result['verdict']}"
                         + (f"; {result['note']}" if result["note"] else ""))
    return "\n".join(lines)


# --- command line --------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m alexnet_book.claims``: run claims, append results, print the summary."""
    from alexnet_book import profile as profiles

    parser = argparse.ArgumentParser(prog="python -m alexnet_book.claims",
                                     description="Test the paper's claims on Fashion-MNIST.")
    parser.add_argument("--profile", choices=sorted(profiles.PROFILES), default=None,
                        help="scale (default: $ALEXNET_PROFILE, else full with a GPU, else quick)")
    parser.add_argument("--only", nargs="+", metavar="ID", help=f"claim ids: {', '.join(CLAIMS)}")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per arm (default: the scale's)")
    parser.add_argument("--out", default=None,
                        help="results file to append to (default: benchmarks/results/claims/"
                             "claims-<device>-<date>.jsonl)")
    parser.add_argument("--workers", type=int, default=1, help="arms run at the same time (processes)")
    parser.add_argument("--list", action="store_true", help="print the registry and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    name = args.profile or profiles.current().name
    if args.list:
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_colwidth", 60):
            print(registry_table().to_string())
        return 0
    try:
        jobs = plan(name, args.only, args.seeds)
        if args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
    except ValueError as error:
        parser.error(str(error))
    out = Path(args.out) if args.out else default_out()
    planned = sum(j.images() for j in jobs)
    print(f"profile {name}: {len(jobs)} arms, {sum(j.runs() for j in jobs)} runs, at most "
          f"{planned:,} training images; results appended to {out}", flush=True)
    start = time.perf_counter()
    rows = run(name, args.only, args.seeds, out=out, workers=args.workers,
               progress=not args.no_progress, stream=sys.stderr)
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(summarise(rows).drop(columns=["device", "date"]).to_string(float_format="{:.3f}".format))
    print(f"{len(rows)} result lines in {time.perf_counter() - start:.0f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
