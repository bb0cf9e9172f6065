"""Statistics for the claims lab (:mod:`alexnet_book.claims`): paired differences and
ratios with 95% confidence intervals, paired proportions over test images (McNemar), and
the verdict that follows from an interval.

Runs of two arms are *paired* by seed: the same seed gives both arms the same data order
(and the same initial weights where their shapes agree), so the seed-to-seed noise that
both share cancels in the difference. With ``n`` seeds the mean paired difference has a
Student t interval with ``n - 1`` degrees of freedom.

Only NumPy is needed; SciPy is used for the t quantile when it is installed, and a table
of exact quantiles otherwise (they agree to the table's three decimals).
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

#: Two-sided 95% quantiles of Student's t (the 0.975 quantile) by degrees of freedom.
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
         9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131,
         16: 2.120, 17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074,
         23: 2.069, 24: 2.064, 25: 2.060, 26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045,
         30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}
_Z975 = 1.959964


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
    """The two-sided ``level`` quantile of Student's t with ``df`` degrees of freedom.

    Raises:
        ValueError: df < 1, or a level other than 0.95 without SciPy installed.
    """
    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise ValueError(f"df must be an integer >= 1, got {df!r}")
    try:
        from scipy import stats as scipy_stats
    except ImportError:
        scipy_stats = None
    if scipy_stats is not None:
        return float(scipy_stats.t.ppf(0.5 + level / 2, df))
    if level != 0.95:
        raise ValueError(f"without SciPy only level=0.95 is available, got {level!r}")
    if df in _T975:
        return _T975[df]
    larger = [d for d in _T975 if d > df]
    return _T975[min(larger)] if larger else _Z975  # a slightly wider interval, never narrower


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
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in logs (exact for any n)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    return min(1.0, sum(math.exp(base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p
                                 + (n - i) * log_q) for i in range(k + 1)))


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
    tail = (1 - level) / 2

    def solve(f) -> float:  # f increases with p from below 0 to above 0
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return (lo + hi) / 2

    low = 0.0 if k == 0 else solve(lambda p: (1 - _binomial_cdf(k - 1, n, p)) - tail)
    high = 1.0 if k == n else solve(lambda p: tail - _binomial_cdf(k, n, p))
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
