"""Statistics for the claims lab (:mod:`alexnet_book.claims`): paired differences and
ratios with 95% confidence intervals, paired proportions over test images (McNemar), and
the verdict that follows from an interval.

Runs of two arms are *paired* by seed: the same seed gives both arms the same data order
(and the same initial weights where their shapes agree), so the seed-to-seed noise that
both share cancels in the difference. With ``n`` seeds the mean paired difference has a
Student t interval with ``n - 1`` degrees of freedom.

Quantiles and binomial tails come from ``scipy.stats``. Beside the direction verdict,
:func:`size_verdict` says whether the paper's value lies inside the interval, and
:func:`minimum_detectable_effect` states a design's power.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

#: The three verdicts, in the order the chapter explains them.
REPRODUCED = "reproduced"
NOT_DETECTED = "not detected at this scale"
OPPOSITE = "opposite"
VERDICTS = (REPRODUCED, NOT_DETECTED, OPPOSITE)

class Interval(NamedTuple):
    """An estimate with its 95% confidence interval.

    Attributes:
        estimate: the mean paired difference (or, for ratios, the geometric mean ratio).
        low, high: the interval's ends (infinite when it cannot be computed: one pair).
        n: the number of pairs (seeds, or test images for paired proportions).
        kind: "difference" or "ratio" (a ratio's interval is computed on the log scale).
    """

    estimate: float
    low: float
    high: float
    n: int
    kind: str = "difference"

    @property
    def null(self) -> float:
        """The value of no effect: 0 for a difference, 1 for a ratio."""
        return 1.0 if self.kind == "ratio" else 0.0

    def describe(self, digits: int = 2, unit: str = "") -> str:
        """``"+1.23 [0.40, 2.06]"`` (a ratio as ``"x1.50 [1.10, 2.05]"``)."""
        if not math.isfinite(self.low) or not math.isfinite(self.high):
            ends = "no interval with one pair"
        else:
            ends = f"{self.low:.{digits}f}, {self.high:.{digits}f}"
        if self.kind == "ratio":
            return f"x{self.estimate:.{digits}f} [{ends}]"
        return f"{self.estimate:+.{digits}f}{unit} [{ends}]"


def t_quantile(df: int, level: float = 0.95) -> float:
    """The two-sided ``level`` quantile of Student's t with ``df`` degrees of freedom
    (``scipy.stats.t``).

    Raises:
        ValueError: df < 1 or a level outside (0, 1).
    """
    # SciPy inside the functions that need it: scipy.stats takes about a second to import, and
    # `from alexnet_book import claims` (chapters 1-4 and 7) imports this module.
    from scipy import stats as scipy_stats

    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise ValueError(f"df must be an integer >= 1, got {df!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return float(scipy_stats.t.ppf(0.5 + level / 2, df))


def _pairs(baseline, variant) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(baseline, dtype=float).ravel()
    v = np.asarray(variant, dtype=float).ravel()
    if len(b) != len(v):
        raise ValueError(f"paired values need one baseline per variant, got {len(b)} and {len(v)}")
    if len(b) < 1:
        raise ValueError("paired values need at least one pair, got none")
    if not (np.isfinite(b).all() and np.isfinite(v).all()):
        raise ValueError("paired values must be finite numbers")
    return b, v


def mean_interval(differences, level: float = 0.95) -> Interval:
    """Mean of ``differences`` with its t interval (infinite ends when there is one value).

    Raises:
        ValueError: no values, or values that are not finite.
    """
    d = np.asarray(differences, dtype=float).ravel()
    if len(d) < 1 or not np.isfinite(d).all():
        raise ValueError(f"need at least one finite value, got {d.tolist()!r}")
    mean = float(d.mean())
    if len(d) == 1:
        return Interval(mean, -math.inf, math.inf, 1)
    half = t_quantile(len(d) - 1, level) * float(d.std(ddof=1)) / math.sqrt(len(d))
    return Interval(mean, mean - half, mean + half, len(d))


def paired_difference(baseline, variant, level: float = 0.95) -> Interval:
    """``variant - baseline`` averaged over pairs (seeds), with a t interval.

    Raises:
        ValueError: unequal lengths, no pairs, or values that are not finite.
    """
    b, v = _pairs(baseline, variant)
    return mean_interval(v - b, level)


def paired_ratio(baseline, variant, level: float = 0.95) -> Interval:
    """``variant / baseline`` as a geometric mean over pairs, with the t interval of the
    mean log ratio transformed back (ratios such as "six times faster" are multiplicative).

    Raises:
        ValueError: unequal lengths, no pairs, or values that are not positive.
    """
    b, v = _pairs(baseline, variant)
    if (b <= 0).any() or (v <= 0).any():
        raise ValueError("a ratio needs positive values on both sides")
    log = mean_interval(np.log(v) - np.log(b), level)
    return Interval(math.exp(log.estimate), math.exp(log.low), math.exp(log.high), log.n, "ratio")


def paired_t_p(differences) -> float:
    """The two-sided p-value of the paired t test that the mean of ``differences`` (variant
    minus baseline per pair; log ratios for a ratio) is zero: NaN with one pair, 0 or 1 for
    pairs that do not vary."""
    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        return math.nan
    sd = float(np.std(d, ddof=1))
    if sd == 0:
        return 1.0 if float(np.mean(d)) == 0 else 0.0
    from scipy import stats as scipy_stats  # see t_quantile

    t = float(np.mean(d)) / (sd / math.sqrt(d.size))
    return float(2 * scipy_stats.t.sf(abs(t), d.size - 1))


def holm(p_values) -> list[float]:
    """Holm's step-down adjustment of p-values tested together (family-wise error at most
    the level when each adjusted p is compared with it), in the order given; NaN stays NaN
    and does not count as a test."""
    p = [float(x) for x in p_values]
    tested = sorted((x, i) for i, x in enumerate(p) if not math.isnan(x))
    adjusted, running = list(p), 0.0
    for rank, (value, index) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * value))
        adjusted[index] = running
    return adjusted


def mcnemar_p(only_baseline: int, only_variant: int) -> float:
    """McNemar's exact two-sided p-value for paired right/wrong outcomes: ``only_baseline``
    items right only under the baseline, ``only_variant`` right only under the variant
    (a binomial test of the discordant pairs against one half).

    Raises:
        ValueError: negative counts.
    """
    b, c = int(only_baseline), int(only_variant)
    if b < 0 or c < 0:
        raise ValueError(f"counts must be >= 0, got {b} and {c}")
    if b + c == 0:
        return 1.0
    from scipy import stats as scipy_stats  # see t_quantile

    return float(scipy_stats.binomtest(b, b + c, 0.5).pvalue)


def clopper_pearson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval for a binomial proportion: the proportions
    that a two-sided exact test at ``1 - level`` does not reject.

    Raises:
        ValueError: counts outside 0 <= successes <= trials, or a level outside (0, 1).
    """
    k, n = int(successes), int(trials)
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= successes <= trials, got {k} of {n}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if n == 0:
        return 0.0, 1.0
    from scipy import stats as scipy_stats  # see t_quantile

    tail = (1 - level) / 2
    low = 0.0 if k == 0 else float(scipy_stats.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(scipy_stats.beta.ppf(1 - tail, k + 1, n - k))
    return low, high


def paired_proportions(baseline_correct, variant_correct, level: float = 0.95) -> tuple[Interval, float]:
    """Difference of *error rates* (variant minus baseline, in percentage points) of two
    classifiers scored on the same items, with McNemar's exact p-value and the exact
    conditional interval that agrees with it: given the ``m`` items on which the two
    disagree, the share of them that only the baseline gets right is binomial, so its
    Clopper-Pearson interval, scaled by ``m / n``, bounds the difference. The interval
    excludes 0 exactly when McNemar's test rejects at ``1 - level``.

    Args:
        baseline_correct, variant_correct: booleans, one per test item (pooled over seeds
            if several models were trained), in the same order.

    Returns:
        ``(interval in points, p-value)``.

    Raises:
        ValueError: unequal lengths or no items.
    """
    a = np.asarray(baseline_correct, dtype=bool).ravel()
    v = np.asarray(variant_correct, dtype=bool).ravel()
    if len(a) != len(v) or len(a) == 0:
        raise ValueError(f"need the same items under both, got {len(a)} and {len(v)}")
    n = len(a)
    only_baseline = int(np.sum(a & ~v))  # the variant got these wrong: its error is higher
    only_variant = int(np.sum(~a & v))
    disagreements = only_baseline + only_variant
    low, high = clopper_pearson(only_baseline, disagreements, level)
    scale = 100.0 * disagreements / n
    interval = Interval(100.0 * (only_baseline - only_variant) / n, scale * (2 * low - 1),
                        scale * (2 * high - 1), n)
    return interval, mcnemar_p(only_baseline, only_variant)


def verdict(interval: Interval, direction: int) -> str:
    """What an interval says about a claim whose effect has the sign ``direction``
    (-1: the variant lowers the metric, +1: it raises it; for ratios, below or above 1):
    :data:`REPRODUCED` when the interval excludes no-effect on the paper's side,
    :data:`OPPOSITE` when it excludes it on the other side, else :data:`NOT_DETECTED`.

    Raises:
        ValueError: a direction other than -1 or +1.
    """
    if direction not in (-1, 1):
        raise ValueError(f"direction must be -1 or +1, got {direction!r}")
    null = interval.null
    if interval.low > null:
        return REPRODUCED if direction > 0 else OPPOSITE
    if interval.high < null:
        return REPRODUCED if direction < 0 else OPPOSITE
    return NOT_DETECTED


#: Size verdicts: where the paper's value lies against our interval.
AS_LARGE = "the paper's value is inside the interval"
SMALLER = "smaller here than the paper's"
LARGER = "larger here than the paper's"
NO_VARIATION = "no variation across seeds: the interval is not informative"


def no_variation(interval: Interval) -> bool:
    """True when every pair gave the same difference (a zero-width interval from two or
    more seeds): a decisive-looking verdict from identical runs is a design problem."""
    return interval.n > 1 and interval.low == interval.high


def size_verdict(interval: Interval, paper_value: float | None) -> str:
    """Whether the paper's effect fits our interval: :data:`AS_LARGE` when it lies inside,
    else :data:`SMALLER` or :data:`LARGER` (by magnitude, on the paper's side of no effect);
    "" without a paper value or an interval, and for an interval wholly on the other side of
    no effect (a size cannot be compared across directions; the direction verdict says
    "opposite").
    """
    if paper_value is None or not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return ""
    if no_variation(interval):
        return NO_VARIATION
    if interval.low <= paper_value <= interval.high:
        return AS_LARGE
    null = interval.null
    paper_above_null = paper_value > null
    if (interval.low > null and paper_value < null) or (interval.high < null and paper_value > null):
        return ""
    above = interval.low > paper_value
    return LARGER if above == paper_above_null else SMALLER


def minimum_detectable_effect(sd: float, n: int, power: float = 0.8, level: float = 0.95) -> float:
    """The smallest true mean paired difference a two-sided paired t test at ``level``
    detects with probability ``power``, for ``n`` pairs of standard deviation ``sd``:
    ``(t_{level} + t_{power}) * sd / sqrt(n)`` (the usual approximation; for ratios, pass
    the standard deviation of the log ratios and exponentiate).

    Raises:
        ValueError: n < 2, sd < 0, or power outside (0, 1).
    """
    from scipy import stats as scipy_stats  # see t_quantile

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not sd >= 0 or not 0 < power < 1:
        raise ValueError(f"need sd >= 0 and power in (0, 1), got {sd!r} and {power!r}")
    quantiles = t_quantile(n - 1, level) + float(scipy_stats.t.ppf(power, n - 1))
    return quantiles * sd / math.sqrt(n)


def seeds_needed(sd: float, effect: float, power: float = 0.8, level: float = 0.95,
                 most: int = 100) -> int | None:
    """The fewest pairs whose minimum detectable effect is at most ``|effect|`` (None when
    more than ``most`` would be needed)."""
    if not abs(effect) > 0:
        return None
    for n in range(2, most + 1):
        if minimum_detectable_effect(sd, n, power, level) <= abs(effect):
            return n
    return None
