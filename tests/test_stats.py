"""The claims lab's statistics on synthetic numbers with known answers."""

import math

import numpy as np
import pytest

from alexnet_book import stats


def test_t_interval_of_a_known_sample():
    # differences 1, 2, 3: mean 2, standard deviation 1, t(2, 0.975) = 4.303
    interval = stats.paired_difference([0, 0, 0], [1, 2, 3])
    half = 4.302653 / math.sqrt(3)
    assert interval.estimate == pytest.approx(2.0)
    assert interval.low == pytest.approx(2 - half, abs=1e-3)
    assert interval.high == pytest.approx(2 + half, abs=1e-3)
    assert interval.n == 3 and interval.kind == "difference"


#: Student's t quantiles from a printed table (two-sided 95%, and 90% for df 4: the 0.975 and
#: 0.95 points), an independent source for the library's quantiles.
T_TABLE_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 9: 2.262, 14: 2.145, 29: 2.045,
               60: 2.000, 120: 1.980}


def test_quantiles_match_a_printed_table():
    for df, value in T_TABLE_975.items():
        assert stats.t_quantile(df) == pytest.approx(value, abs=5e-4), df
    assert stats.t_quantile(4, level=0.9) == pytest.approx(2.132, abs=5e-4)
    assert stats.t_quantile(10**6) == pytest.approx(1.95996, abs=1e-4)  # the normal's 97.5% point
    assert stats.t_quantile(35) > 2.03  # a table's 2.021 (the next entry, df 40) was too narrow
    with pytest.raises(ValueError, match="level must be in"):
        stats.t_quantile(4, level=1.5)


def test_the_verdict_follows_from_the_intervals_ends_by_its_definition():
    """Independent of stats.verdict's code: an interval entirely above 0 is an increase, entirely
    below a decrease, and one that holds 0 is neither, whatever the direction expected."""
    cases = [((+1.0, 0.2, 1.8), +1, stats.REPRODUCED), ((+1.0, 0.2, 1.8), -1, stats.OPPOSITE),
             ((-1.0, -1.8, -0.2), -1, stats.REPRODUCED), ((-1.0, -1.8, -0.2), +1, stats.OPPOSITE),
             ((0.1, -0.5, 0.7), -1, stats.NOT_DETECTED), ((0.1, -0.5, 0.7), +1, stats.NOT_DETECTED)]
    for (estimate, low, high), direction, expected in cases:
        assert stats.verdict(stats.Interval(estimate, low, high, 5), direction) == expected
    ratio = stats.Interval(1.5, 1.1, 2.0, 5, "ratio")  # no effect is 1 for a ratio
    assert stats.verdict(ratio, +1) == stats.REPRODUCED


def test_size_verdicts_and_zero_variation():
    interval = stats.paired_difference([20, 21, 22, 23], [18.4, 19.6, 20.5, 21.5])
    assert stats.size_verdict(interval, -1.5) == stats.AS_LARGE
    assert stats.size_verdict(interval, -5.0) == stats.SMALLER
    assert stats.size_verdict(interval, -0.2) == stats.LARGER
    ratio = stats.paired_ratio([100, 100, 100], [120, 125, 130])
    assert stats.size_verdict(ratio, 6.0) == stats.SMALLER
    same = stats.paired_difference([20, 21, 22], [19, 20, 21])
    assert stats.no_variation(same) and stats.size_verdict(same, -1.0) == stats.NO_VARIATION
    assert stats.size_verdict(interval, None) == ""


def test_no_size_verdict_for_an_interval_on_the_other_side_of_no_effect():
    """An effect measured in the opposite direction is not "smaller" than the paper's: the
    direction verdict says "opposite" and the size verdict stays empty (chapter 7's local
    response normalization result, +15.2 [9.2, 21.2] against the paper's -2, was once
    labelled "smaller here")."""
    opposite = stats.Interval(15.2, 9.2, 21.2, 4)
    assert stats.verdict(opposite, -1) == stats.OPPOSITE
    assert stats.size_verdict(opposite, -2.0) == ""
    assert stats.size_verdict(stats.Interval(-3.0, -5.0, -1.0, 4), 2.0) == ""
    ratio = stats.Interval(0.8, 0.7, 0.9, 4, kind="ratio")
    assert stats.size_verdict(ratio, 6.0) == ""
    # An interval that reaches across no effect still gets a size verdict.
    assert stats.size_verdict(stats.Interval(1.0, -1.0, 3.0, 4), -2.0) == stats.SMALLER


def test_the_minimum_detectable_effect_matches_a_simulation():
    """At the MDE, a paired t test at 5% rejects in about 80% of simulated experiments."""
    scipy_stats = pytest.importorskip("scipy.stats")
    n, sd = 6, 0.5
    effect = stats.minimum_detectable_effect(sd, n)
    rng = np.random.default_rng(0)
    samples = rng.normal(effect, sd, size=(20_000, n))
    rejected = scipy_stats.ttest_1samp(samples, 0.0, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(0.80, abs=0.03)
    assert stats.seeds_needed(sd, effect) == n
    assert stats.seeds_needed(sd, 0.0) is None
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        stats.minimum_detectable_effect(0.5, 1)


@pytest.mark.parametrize("direction, expected", [(+1, stats.REPRODUCED), (-1, stats.OPPOSITE)])
def test_a_clearly_positive_effect(direction, expected):
    rng = np.random.default_rng(0)
    baseline = rng.normal(20, 2, 8)  # seed-to-seed noise shared by both arms
    variant = baseline + 1.5 + rng.normal(0, 0.1, 8)
    interval = stats.paired_difference(baseline, variant)
    assert 1.3 < interval.low < interval.estimate < interval.high < 1.7
    assert stats.verdict(interval, direction) == expected


def test_a_clearly_zero_effect_is_not_detected():
    baseline = np.array([20.0, 22.0, 19.0, 21.0, 20.5])
    variant = baseline + np.array([0.5, -0.5, 0.3, -0.3, 0.0])
    interval = stats.paired_difference(baseline, variant)
    assert interval.low < 0 < interval.high
    assert stats.verdict(interval, -1) == stats.verdict(interval, +1) == stats.NOT_DETECTED


def test_pairing_removes_shared_noise():
    baseline = np.array([10.0, 30.0, 20.0, 40.0])  # large differences between seeds
    variant = baseline - 1.0  # the same shift every seed
    paired = stats.paired_difference(baseline, variant)
    assert paired.low == paired.high == pytest.approx(-1.0)
    assert stats.verdict(paired, -1) == stats.REPRODUCED


def test_ratios_are_geometric_with_a_log_interval():
    interval = stats.paired_ratio([10, 20, 40], [60, 120, 240])
    assert interval.kind == "ratio" and interval.null == 1.0
    assert interval.estimate == pytest.approx(6.0) and interval.low == pytest.approx(6.0)
    assert stats.verdict(interval, +1) == stats.REPRODUCED
    slower = stats.paired_ratio([100, 100, 100, 100], [50, 60, 40, 55])
    assert slower.high < 1 and stats.verdict(slower, +1) == stats.OPPOSITE
    noisy = stats.paired_ratio([100, 100, 100], [50, 200, 100])
    assert noisy.low < 1 < noisy.high and stats.verdict(noisy, +1) == stats.NOT_DETECTED
    assert "x6.00 [6.00, 6.00]" == interval.describe()


def test_one_pair_gives_no_interval_and_no_detection():
    interval = stats.paired_difference([1.0], [5.0])
    assert interval.estimate == 4.0 and math.isinf(interval.low) and math.isinf(interval.high)
    assert stats.verdict(interval, +1) == stats.NOT_DETECTED
    assert "no interval with one pair" in interval.describe()


def test_mcnemar_exact_p():
    assert stats.mcnemar_p(0, 10) == pytest.approx(2 / 1024)
    assert stats.mcnemar_p(5, 5) == 1.0
    assert stats.mcnemar_p(0, 0) == 1.0
    scipy_stats = pytest.importorskip("scipy.stats")
    assert stats.mcnemar_p(12, 30) == pytest.approx(scipy_stats.binomtest(12, 42, 0.5).pvalue)


def test_paired_proportions_over_test_images():
    n = 2000
    centre = np.zeros(n, bool)
    centre[:1600] = True  # 20% error
    ten = centre.copy()
    ten[1600:1660] = True  # ten patches fix 60 images...
    ten[:20] = False  # ...and break 20: error 18%, 2 points lower
    interval, p = stats.paired_proportions(centre, ten)
    assert interval.estimate == pytest.approx(-2.0) and interval.n == n
    assert interval.low < -2.0 < interval.high < 0
    assert p == pytest.approx(stats.mcnemar_p(20, 60)) and p < 0.001
    assert stats.verdict(interval, -1) == stats.REPRODUCED
    same, p_same = stats.paired_proportions(centre, centre)
    assert same.estimate == same.low == same.high == 0 and p_same == 1.0
    assert stats.verdict(same, -1) == stats.NOT_DETECTED


def test_clopper_pearson_matches_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    for k, n in ((0, 10), (3, 10), (10, 10), (20, 55), (480, 1000)):
        low, high = stats.clopper_pearson(k, n)
        result = scipy_stats.binomtest(k, n).proportion_ci(0.95, method="exact")
        assert (low, high) == pytest.approx((result.low, result.high), abs=1e-6)
    with pytest.raises(ValueError, match="0 <= successes <= trials"):
        stats.clopper_pearson(5, 3)


@pytest.mark.parametrize("only_centre, only_ten", [(20, 35), (20, 40), (5, 16), (0, 6), (12, 12), (50, 20)])
def test_the_image_interval_agrees_with_mcnemars_exact_test(only_centre, only_ten):
    n = 1000
    centre = np.zeros(n, bool)
    centre[:only_centre] = True
    ten = np.zeros(n, bool)
    ten[only_centre:only_centre + only_ten] = True
    interval, p = stats.paired_proportions(centre, ten)
    assert interval.estimate == pytest.approx(100 * (only_centre - only_ten) / n)
    excludes_zero = interval.high < 0 or interval.low > 0
    assert excludes_zero == (p < 0.05), (interval, p)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="one baseline per variant, got 2 and 3"):
        stats.paired_difference([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least one pair"):
        stats.paired_difference([], [])
    with pytest.raises(ValueError, match="finite"):
        stats.paired_difference([1, float("nan")], [1, 2])
    with pytest.raises(ValueError, match="positive values"):
        stats.paired_ratio([1, 0], [1, 2])
    with pytest.raises(ValueError, match="direction must be -1 or \\+1, got 0"):
        stats.verdict(stats.Interval(1, 0.5, 1.5, 3), 0)
    with pytest.raises(ValueError, match="df must be an integer >= 1"):
        stats.t_quantile(0)
    with pytest.raises(ValueError, match="counts must be >= 0"):
        stats.mcnemar_p(-1, 2)
    with pytest.raises(ValueError, match="same items"):
        stats.paired_proportions([True], [True, False])


def test_the_paired_t_p_value_matches_scipy_and_the_interval():
    """The p-value is scipy's paired t test, and it is below 0.05 exactly when the 95% interval
    excludes no effect (both from the same t distribution)."""
    from scipy import stats as scipy_stats

    baseline, variant = [20.1, 21.3, 19.8, 22.0, 20.6], [19.0, 20.9, 19.1, 20.2, 20.0]
    p = stats.paired_t_p(np.subtract(variant, baseline))
    assert p == pytest.approx(scipy_stats.ttest_rel(variant, baseline).pvalue, rel=1e-9)
    for shift in np.linspace(-2, 2, 41):
        moved = np.add(variant, shift)
        interval = stats.paired_difference(baseline, moved)
        excludes = interval.low > 0 or interval.high < 0
        assert excludes == (stats.paired_t_p(moved - np.asarray(baseline)) < 0.05), shift
    assert math.isnan(stats.paired_t_p([1.0]))
    assert stats.paired_t_p([0.5, 0.5, 0.5]) == 0.0 and stats.paired_t_p([0.0, 0.0]) == 1.0


def test_holm_adjustment_by_hand():
    """Holm's adjustment on four p-values worked by hand: sorted 0.01, 0.02, 0.03, 0.2 times
    4, 3, 2, 1 gives 0.04, 0.06, 0.06 (kept monotone) and 0.2; NaN is no test."""
    adjusted = stats.holm([0.03, 0.2, 0.01, math.nan, 0.02])
    assert adjusted[:3] == pytest.approx([0.06, 0.2, 0.04]) and adjusted[4] == pytest.approx(0.06)
    assert math.isnan(adjusted[3])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
