"""From result lines to what a reader sees: each claim's effect with its 95% interval, a
direction verdict and a size verdict, the design's power (minimum detectable effect),
chapter 7's table and forest plot, and every chapter's "Paper vs here" text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from alexnet_book import stats
from alexnet_book.claims.paper import CLAIMS
from alexnet_book.claims.plan import get
from alexnet_book.claims.registry import (
    LRN_ACTIVE,
    METRICS,
    NEAR_CHANCE,
    OVERFIT_BEST_BY,
    OVERFIT_RISE_POINTS,
    OVERFIT_TAIL,
    PRECONDITIONS,
    TIERS,
    UnknownClaimError,
    check_tier,
)
from alexnet_book.claims.runner import CPU_COMMAND, GPU_COMMAND, STALL_ERROR, unpack_correct

#: The verdict of a design whose measured precondition failed (the reason, with its numbers,
#: is the result's ``reason``): no direction is read from it.
CANNOT_TEST = "this design cannot test the claim at this scale"
#: The names chapters use for it: an arm at chance, a threshold not reached, a baseline that
#: did not overfit are all preconditions that failed, told apart by the reason.
BASELINE_DID_NOT_OVERFIT = THRESHOLD_NOT_REACHED = DID_NOT_LEARN = CANNOT_TEST
ONE_SEED = "one seed so far: no interval yet"
#: A course question's answers (BatchNorm, Glorot): its own question, never "reproduced"; the
#: claims of the paper with a direction verdict (:data:`alexnet_book.stats.VERDICTS`) are the
#: ones corrected together by Holm.
COURSE_YES = "yes, as the course's question asks (the course's question, not the paper's)"
COURSE_NO = "no: the opposite of what the course's question asks (the course's question, not the paper's)"
#: Which tier's stored results a chapter shows first: the largest measured.
PREFERENCE = ("full", "cpu2", "cpu", "quick", "smoke")
#: The stored tiers the chapters read (:func:`stored_by_tier`). ``cpu2`` joins them when its
#: run is complete (benchmarks/results/claims/README.md): until then the chapters show ``cpu``.
STORED_TIERS = ("cpu", "cpu2", "full")


def _smoothed(values: Sequence[float]) -> np.ndarray:
    """A validation curve's moving mean over :data:`~alexnet_book.claims.registry.OVERFIT_TAIL`
    of its epochs (at least 3): its lowest and last values compare like with like, where the
    lowest of the raw curve is biased low by the epoch-to-epoch noise."""
    n = min(len(values), max(3, math.ceil(OVERFIT_TAIL * len(values))))
    return np.convolve(np.asarray(values, float), np.ones(n) / n, mode="valid")


def preconditions_of(row: dict) -> dict:
    """What a run measured for the preconditions, from its line: derived from its curves and
    metrics where they hold the numbers (so lines of an earlier design read the same way), the
    stored ``preconditions`` for the rest (LRN's activity, measured after training).

    Returns:
        a dict with, where measured: ``best_epoch`` (of the lowest validation error),
        ``epochs_run``, ``val_error_rise`` (points: the validation error's mean over the last
        10% of the epochs minus the lowest mean over as many consecutive epochs),
        ``lrn_activity`` (``{layer: {"mean", "sd"}}`` of alpha*sum(a^2)/k after training),
        ``censored`` (a steps run that never reached its threshold, or an epochs run whose
        best epoch was its last) and ``error`` (the error the chance check reads, %).
    """
    stored = dict(row.get("preconditions") or {})
    out: dict = {}
    metrics, curves = row.get("metrics") or {}, row.get("curves") or {}
    val = [v for v in curves.get("val_error", []) if v is not None]
    if val:
        smooth = _smoothed(val)
        out.update(best_epoch=int(np.argmin(val)) + 1, epochs_run=len(val),
                   val_error_rise=round(float(smooth[-1] - smooth.min()), 4))
    if "steps" in metrics:
        out["censored"] = metrics["steps"] is None
    elif "best_epoch" in metrics and "epochs_run" in metrics and val:
        out["censored"] = metrics["best_epoch"] >= metrics["epochs_run"]
    for key in ("test_error", "best_test_error", "train_error"):
        if metrics.get(key) is not None:
            out["error"] = metrics[key]
            break
    if "lrn_activity" in stored:  # {}: measured, and the net has no LRN layer
        out["lrn_activity"] = stored["lrn_activity"]
    return {**out, **{k: v for k, v in stored.items() if k not in out and v is not None}}


def _chooser(value):
    """What picks a seed's rate in a grid: the validation error at the end of the schedule where
    the run scored one (the test images then only measure), else the metric itself (steps:
    the paper chose each network's rate "to make training as fast as possible")."""
    def choose(row):
        val = [v for v in (row.get("curves") or {}).get("val_error", []) if v is not None]
        return val[-1] if val else value(row)
    return choose


def _best_per_seed(rows: Sequence[dict], value) -> dict[int, dict]:
    """Each seed's best run over its learning-rate grid (see :func:`_chooser`)."""
    choose = _chooser(value)
    best: dict[int, dict] = {}
    for row in rows:
        seed = row["seed"]
        if seed not in best or (choose(row), row["learning_rate"]) < (choose(best[seed]),
                                                                       best[seed]["learning_rate"]):
            best[seed] = row
    return best


def _grid_note(rows: Sequence[dict], best: dict[int, dict]) -> str:
    rates = sorted({r["learning_rate"] for r in rows})
    if len(rates) < 2:
        return ""
    chosen = [best[s]["learning_rate"] for s in sorted(best)]
    edge = sum(r in (rates[0], rates[-1]) for r in chosen)
    return (f"{rows[0]['arm']}: best lr {', '.join(f'{r:g}' for r in chosen)} of {rates[0]:g}-{rates[-1]:g}"
            + (f" ({edge} at the grid's edge)" if edge else " (bracketed)"))


def _stalled_seeds(claim, arm_, rows: Sequence[dict], seeds: Sequence[int]) -> list[int]:
    """The seeds in which the arm ran every learning rate of its grid and stalled near chance
    at each (a grid read part-way is not yet "every rate")."""
    out = []
    for seed in seeds:
        mine = [r for r in rows if r["seed"] == seed]
        scale_ = claim.scale(mine[0]["profile"]) if mine else None
        grid = scale_.rates_for(arm_) if scale_ is not None else arm_.learning_rates
        ran = {round(float(r["learning_rate"]), 12) for r in mine}
        if ran >= {round(float(x), 12) for x in grid} and all(r["metrics"].get("stalled") for r in mine):
            out.append(seed)
    return out


def _chance(claim, metric_name: str, by_seed: dict, base, var, seeds) -> list[str]:
    """The "no arm at chance" precondition: its failures, each with the measured numbers."""
    failures = []
    if metric_name == "steps":
        # an arm that stalled near chance at every rate of its grid did not learn: its
        # "steps" are only the allowance, and a ratio of allowances measures nothing
        for arm_, side in ((claim.baseline, base), (claim.variant, var)):
            stuck = _stalled_seeds(claim, arm_, side, seeds)
            if stuck:
                failures.append(f"{arm_.name}: stalled near chance ({STALL_ERROR:.0%} error or more) at "
                                f"every learning rate in seed(s) {', '.join(map(str, stuck))}")
    elif metric_name in ("test_error", "best_test_error", "train_error", "ten_patch"):
        # one seed at chance is enough: its difference measures a failure to train, and
        # it would dominate a mean of a few seeds
        for name, values in by_seed.items():
            at = [(s, v) for s, v in zip(seeds, values) if v >= NEAR_CHANCE]
            if at:
                failures.append(f"{name}: error {NEAR_CHANCE:g}% or more, near chance, in seed(s) "
                                + ", ".join(str(s) for s, _ in at)
                                + f" ({', '.join(f'{v:.1f}%' for _, v in at)})")
    return failures


def _censoring(claim, metric_name: str, tier: str, sides: dict, seeds) -> list[str]:
    """The "no censored value" precondition, in both arms: a steps run that never reached the
    threshold, or a run whose best validation epoch was its last, is a bound, not a value."""
    failures = []
    for name, side in sides.items():
        censored = [s for s in seeds if preconditions_of(side[s]).get("censored")]
        if not censored:
            continue
        if metric_name == "steps":
            what = f"never reached {claim.threshold_at(tier):g}% training error"
        else:
            what = f"had its best validation epoch at its last ({side[censored[0]]['metrics']['epochs_run']})"
        failures.append(f"{name} {what} in {len(censored)} of {len(seeds)} seed(s) (censored)")
    return failures


def overfits(row: dict) -> bool:
    """Whether a run overfit in error: its best validation epoch within the first
    :data:`~alexnet_book.claims.registry.OVERFIT_BEST_BY` of the epochs run, and its validation
    error over the last tenth of them at least
    :data:`~alexnet_book.claims.registry.OVERFIT_RISE_POINTS` above its lowest mean over as
    many consecutive epochs."""
    measured = preconditions_of(row)
    if "best_epoch" not in measured:
        return False
    return (measured["best_epoch"] <= OVERFIT_BEST_BY * measured["epochs_run"]
            and measured["val_error_rise"] >= OVERFIT_RISE_POINTS)


def _overfitting(claim, side: dict, seeds) -> tuple[list[str], str]:
    """The "baseline_overfits" precondition on the baseline's runs: (failures, note)."""
    measured = [preconditions_of(side[s]) for s in seeds]
    fits = sum(overfits(side[s]) for s in seeds)
    epochs = max((m.get("epochs_run", 0) for m in measured), default=0)
    best = ", ".join(str(m.get("best_epoch", "?")) for m in measured)
    rises = ", ".join(f"{m.get('val_error_rise', math.nan):+.1f}" for m in measured)
    detail = f"best validation epoch {best} of {epochs}, validation error {rises} pt after it"
    note = f"{claim.baseline.name} overfit in error in {fits} of {len(seeds)} seed(s) ({detail})"
    if fits * 2 > len(seeds):
        return [], note
    # the failure carries the same numbers: a note repeating them would say it twice
    return [f"the baseline ({claim.baseline.name}) did not overfit in error: {detail}; overfitting needs "
            f"the best epoch by {OVERFIT_BEST_BY:.0%} of the schedule and a rise of "
            f">= {OVERFIT_RISE_POINTS:g} pt, in {fits} of {len(seeds)} seed(s)"], ""


def lrn_summary(rows: Sequence[dict]) -> dict[str, tuple[float, float]]:
    """Per LRN layer, the mean over runs of alpha*sum(a^2)/k's mean and spread after training."""
    layers: dict[str, list] = {}
    for row in rows:
        for layer, values in (preconditions_of(row).get("lrn_activity") or {}).items():
            layers.setdefault(layer, []).append((values["mean"], values["sd"]))
    return {layer: (float(np.mean([m for m, _ in v])), float(np.mean([s for _, s in v])))
            for layer, v in sorted(layers.items())}


def _lrn_active(claim, sides: dict, seeds) -> tuple[list[str], str]:
    """The "lrn_active" precondition on the runs of the arms with LRN: (failures, note)."""
    runs = [side[s] for side in sides.values() for s in seeds]
    layers = lrn_summary(runs)
    if not layers:
        return ["LRN's activity (alpha*sum(a^2)/k after training) was not measured: lines of an "
                "earlier design"], ""
    text = ", ".join(f"{layer} {m:.2g} (sd {sd:.2g})" for layer, (m, sd) in layers.items())
    note = f"LRN's alpha*sum(a^2)/k after training, mean over seeds: {text}"
    if max(m for m, _ in layers.values()) >= LRN_ACTIVE:
        return [], note
    return [f"LRN divides by a near-constant k^beta: alpha*sum(a^2)/k after training is {text}, below "
            f"{LRN_ACTIVE:g} in every LRN layer"], note


def _gap_note(sides: dict, seeds, metric_name: str) -> str:
    """Per arm, the mean over seeds of the test minus the training error at the end of the
    schedule (and of the test error at the best epoch, where that is not the metric)."""
    parts = []
    for name, side in sides.items():
        runs = [side[s]["metrics"] for s in seeds]
        text = f"{name}: test minus training error at the end {np.mean([m['gap'] for m in runs]):.1f} pt"
        if metric_name != "best_test_error" and "best_test_error" in runs[0]:
            text += f", test error at the best epoch {np.mean([m['best_test_error'] for m in runs]):.2f}%"
        parts.append(text)
    return "; ".join(parts)


def reading(interval, claim, metric_name: str) -> str:
    """What a "not detected" interval says: the effects it still allows, read from its ends (not
    from the design's minimum detectable effect)."""
    unit = METRICS[metric_name].unit
    ratio = METRICS[metric_name].comparison == "ratio"
    low, high = interval.low, interval.high
    if not (math.isfinite(low) and math.isfinite(high)):
        return ""
    if ratio:
        toward = high if claim.direction > 0 else low
        against = low if claim.direction > 0 else high
        return (f"the interval x{low:.2f} to x{high:.2f} allows up to x{toward:.2f} in the expected "
                f"direction and x{against:.2f} against it")
    toward = high if claim.direction > 0 else low
    against = low if claim.direction > 0 else high
    return (f"the interval {low:+.2f} to {high:+.2f}{unit} allows an effect of up to {abs(toward):.2f}{unit} "
            f"in the expected direction and {abs(against):.2f}{unit} against it")


def analyse(claim_id: str, rows: Sequence[dict]) -> dict | None:
    """One claim's effect from its result lines (of one tier).

    Every precondition of the design is checked first, from what each run measured (its
    line's ``preconditions``, see :func:`preconditions_of`): no arm at chance, no censored
    value in either arm, and the claim's own (:data:`~alexnet_book.claims.registry.PRECONDITIONS`).
    One that fails gives the verdict :data:`CANNOT_TEST`, with the measured reason in
    ``reason``, and no direction; otherwise the direction is read from the 95% interval.

    Returns:
        None when the rows hold no complete pair; otherwise a dict with ``interval``
        (:class:`alexnet_book.stats.Interval`), ``verdict``, ``reason`` (why the design cannot
        test the claim, "" when it can), ``reading`` (for "not detected", the effects the
        interval still allows), ``size`` (the size verdict), ``seeds``, ``sd`` (of the paired
        differences, or of the log ratios), ``p`` (the paired t test's two-sided p-value),
        ``mde`` (the design's minimum detectable effect at 80% power, for planning),
        ``needed`` (seeds for the paper's effect), ``note``, ``tier``, ``metric``, ``device``,
        ``date``, ``baseline_mean``, ``variant_mean``.

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
    tier = mine[0]["profile"]
    metric_name = claim.metric_at(tier)
    metric = METRICS[metric_name]

    def value(row):
        return metric.value(row["metrics"])

    by_seed_b, by_seed_v = _best_per_seed(base, value), _best_per_seed(var, value)
    notes = [n for n in (_grid_note(base, by_seed_b), _grid_note(var, by_seed_v)) if n]
    seeds = sorted(set(by_seed_b) & set(by_seed_v))
    if not seeds:
        return None
    b = [value(by_seed_b[s]) for s in seeds]
    v = [value(by_seed_v[s]) for s in seeds]
    sides = {claim.baseline.name: by_seed_b, claim.variant.name: by_seed_v}
    failures = _chance(claim, metric_name, {claim.baseline.name: b, claim.variant.name: v}, base, var, seeds)
    # the same failures in a learner's words, one short phrase each (chapters 1-6's boxes)
    plain = ["a network did not learn: its error stayed near chance"] if failures else []
    if metric_name in ("steps", "epochs_to_best"):
        failed = _censoring(claim, metric_name, tier, sides, seeds)
        failures += failed
        if failed:
            plain.append(f"a run never reached {claim.threshold_at(tier):g}% training error"
                         if metric_name == "steps"
                         else "a network was still improving at its last epoch, so its best epoch is unknown")
    if "baseline_overfits" in claim.preconditions:
        failed, note = _overfitting(claim, by_seed_b, seeds)
        failures += failed
        notes += [note] if note else []
        if failed:
            plain.append("the network without it did not overfit, so there was no overfitting for it "
                         "to prevent")
    if "lrn_active" in claim.preconditions:
        failed, note = _lrn_active(claim, sides, seeds)
        failures += failed
        notes += [note] if note else []
        if failed:
            plain.append("LRN's effect on the activations was not measured in these runs" if not note
                         else "LRN barely acted: it divided every activation by about the same constant")
    if metric_name == "ten_patch":
        n = by_seed_b[seeds[0]]["metrics"]["test_images"]
        ps = []
        for s in seeds:
            _, p = stats.paired_proportions(unpack_correct(by_seed_b[s]["metrics"]["correct"], n),
                                            unpack_correct(by_seed_v[s]["metrics"]["correct"], n))
            ps.append(p)
        notes.append(f"per-seed McNemar p over {n:,} test images: {', '.join(f'{p:.2g}' for p in ps)}")
    if "gap" in by_seed_b[seeds[0]]["metrics"]:
        notes.append(_gap_note(sides, seeds, metric_name))
    if metric.comparison == "ratio":
        interval = stats.paired_ratio(b, v)
        spread = np.log(np.asarray(v, float)) - np.log(np.asarray(b, float))
    else:
        interval = stats.paired_difference(b, v)
        spread = np.asarray(v, float) - np.asarray(b, float)
    sd = float(np.std(spread, ddof=1)) if len(seeds) > 1 else math.nan
    mde = needed = None
    if len(seeds) > 1:
        mde = stats.minimum_detectable_effect(sd, len(seeds))
        if metric.comparison == "ratio":
            mde = math.exp(mde)
        if claim.paper_value is not None:
            effect = math.log(claim.paper_value) if metric.comparison == "ratio" else claim.paper_value
            needed = stats.seeds_needed(sd, effect)
    if failures:
        verdict = CANNOT_TEST
    elif len(seeds) == 1:
        verdict = ONE_SEED
    elif stats.no_variation(interval):
        verdict = stats.NO_VARIATION
    else:
        verdict = stats.verdict(interval, claim.direction)
        if not claim.of_the_paper:  # a course question is answered, not "reproduced"
            verdict = {stats.REPRODUCED: COURSE_YES, stats.OPPOSITE: COURSE_NO}.get(verdict, verdict)
    size = stats.size_verdict(interval, claim.paper_value) if verdict in (*stats.VERDICTS, stats.NO_VARIATION) \
        else ""
    if verdict == stats.NOT_DETECTED and size in (stats.SMALLER, stats.LARGER):
        # no effect was detected, so there is no size "here" to compare: what the interval does
        # say is that an effect as large as the paper's is outside it
        size = f"the paper's {claim.describe_value()} lies outside the interval"
    return {"interval": interval, "verdict": verdict, "reason": "; ".join(failures),
            "plain_reason": "; ".join(plain),
            "reading": reading(interval, claim, metric_name) if verdict == stats.NOT_DETECTED else "",
            "size": size, "seeds": len(seeds), "sd": sd,
            "p": stats.paired_t_p(spread), "mde": mde, "needed": needed, "note": "; ".join(notes),
            "tier": tier, "metric": metric_name,
            "device": mine[0]["device"], "date": mine[0]["date"], "baseline_mean": float(np.mean(b)),
            "variant_mean": float(np.mean(v))}


def verdict_text(result: dict) -> str:
    """The verdict in words: "this design cannot test the claim at this scale: <reason>", or
    the direction with, for "not detected", what the interval allows, and the size verdict."""
    text = result["verdict"]
    if result.get("reason"):
        text += f": {result['reason']}"
    if result.get("reading"):
        text += f": {result['reading']}"
    return text + (f"; {result['size']}" if result.get("size") else "")


COLUMNS = ["place", "metric", "paper", "estimate", "low", "high", "kind", "seeds", "p", "p (Holm)", "mde",
           "needed", "verdict", "reason", "reading", "size", "note", "scale", "device", "date"]


def summarise(rows: Sequence[dict]):
    """One line per claim present in ``rows`` (of one tier): the paper's value, our estimate
    with its 95% interval, the seeds, the paired t test's p-value and, for the claims with a
    direction verdict, Holm's correction across them (read together), the design's minimum
    detectable effect, the seeds the paper's effect would need, the verdicts, the reason a
    design cannot test its claim, notes and the scale (a pandas DataFrame indexed by claim)."""
    import pandas as pd

    lines = []
    for claim_id in dict.fromkeys(r["claim"] for r in rows):
        result = analyse(claim_id, rows)
        if result is None:
            continue
        claim, interval = CLAIMS[claim_id], result["interval"]
        lines.append({"claim": claim_id, "place": claim.place, "metric": result["metric"],
                      "paper": claim.describe_value(), "estimate": interval.estimate,
                      "low": interval.low, "high": interval.high, "kind": interval.kind,
                      "seeds": result["seeds"], "p": result["p"], "p (Holm)": math.nan, "mde": result["mde"],
                      "needed": result["needed"], "verdict": result["verdict"], "reason": result["reason"],
                      "reading": result["reading"], "size": result["size"], "note": result["note"],
                      "scale": _scale_text(claim, result["tier"]),
                      "device": result["device"], "date": result["date"]})
    if not lines:
        return pd.DataFrame(columns=COLUMNS)
    table = pd.DataFrame(lines).set_index("claim")
    read = table["verdict"].isin(stats.VERDICTS)
    if read.any():
        table.loc[read, "p (Holm)"] = stats.holm(table.loc[read, "p"])
    return table


def _scale_text(claim, tier: str) -> str:
    scale_ = claim.scale(tier)
    return f"{tier} tier, {scale_.describe()}" if scale_ is not None else f"{tier} tier"


def holm_text(summary, claim_id: str) -> str:
    """``"Holm p 0.031 of 9 claims read together"`` for a claim with a direction verdict in a
    :func:`summarise` table ("" for one without)."""
    if claim_id not in summary.index or not math.isfinite(summary.loc[claim_id, "p (Holm)"]):
        return ""
    read = int(summary["verdict"].isin(stats.VERDICTS).sum())
    p = summary.loc[claim_id, "p (Holm)"]
    return f"Holm p {p:.3g} of {read} claim{'s' if read > 1 else ''} read together"


def describe_result(result: dict, claim_id: str) -> str:
    """``"+0.41 pt [-0.20, 1.02], 3 seeds"``: the effect and its 95% interval (what a "not
    detected" reads from, not the design's minimum detectable effect)."""
    interval = result["interval"]
    unit = METRICS[result.get("metric") or CLAIMS[claim_id].metric].unit
    return f"{interval.describe(2, unit)}, {result['seeds']} seed{'' if result['seeds'] == 1 else 's'}"


def _missing(claim, tier: str, rows_by_tier: Mapping[str, Sequence[dict] | None] | None = None) -> str:
    if tier in claim.beyond:
        return beyond_reason(claim.id, tier, rows_by_tier or {})
    return "not run in this tier" if claim.scale(tier) is None else "not yet measured"


def _beyond_measure(claim, tier: str, rows_by_tier: Mapping[str, Sequence[dict] | None]) -> dict:
    """What makes a claim beyond a tier, computed once for :func:`beyond_reason` and
    :func:`in_plain_words`: for weight decay ``{"efolds", "paper"}`` (the cumulative decay of
    the tier's design and the paper's); otherwise ``{"source", "result"}``, the first stored
    tier with two seeds or more to size the paper's effect by (``{}`` when none has)."""
    from alexnet_book.claims.registry import decay_efolds, paper_decay_efolds, tier_profile

    scale_ = claim.beyond[tier]
    decays = {a.weight_decay for a in claim.arms()}
    if len(decays) > 1:
        steps = scale_.train_images // tier_profile(tier, scale_).batch_size
        rate = max(scale_.rates_for(claim.variant))
        return {"efolds": decay_efolds(steps, scale_.epochs, rate, max(decays), scale_.drops),
                "paper": paper_decay_efolds()}
    for source, rows in rows_by_tier.items():
        result = analyse(claim.id, rows) if rows else None
        if result is not None and result["seeds"] >= 2 and claim.paper_value is not None:
            return {"source": source, "result": result}
    return {}


def _seeds_text(result: dict) -> str:
    return f"{result['needed']} seeds" if result["needed"] else "more than 100 seeds"


def beyond_reason(claim_id: str, tier: str, rows_by_tier: Mapping[str, Sequence[dict] | None]) -> str:
    """Why a claim is beyond a tier's scale, computed: for weight decay, the cumulative decay of
    the largest design the tier affords against the paper's; otherwise the seeds the paper's
    effect needs at the paired standard deviation measured in the stored runs of a tier.

    Raises:
        UnknownClaimError: an unknown claim id.
        ValueError: a claim that is run in ``tier``.
    """
    from alexnet_book.claims.registry import PAPER_DECAY_ASSUMPTION

    claim = get(claim_id)
    if tier not in claim.beyond:
        raise ValueError(f"claim {claim_id!r} is not beyond the {tier} scale; it is beyond "
                         f"{sorted(claim.beyond) or 'none'}")
    where = f"beyond the {tier} scale: at {claim.beyond[tier].describe()}"
    measured = _beyond_measure(claim, tier, rows_by_tier)
    if "efolds" in measured:
        efolds, paper = measured["efolds"], measured["paper"]
        return (f"{where}, the paper's weight decay shrinks the weights by {efolds:.3f} e-folds, "
                f"{efolds / paper:.2%} of the paper's {paper:.1f} ({PAPER_DECAY_ASSUMPTION}): the arms "
                "differ by too little decay to show an effect on learning")
    if measured:
        result = measured["result"]
        return (f"{where}, the paired sd measured in the {measured['source']} tier's {result['seeds']} "
                f"seeds is {result['sd']:.2f}{METRICS[result['metric']].unit}: the paper's "
                f"{claim.describe_value()} needs " + _seeds_text(result))
    return f"{where}: the paper's effect needs more seeds than the tier affords (no stored spread to size it)"


def lab_table(rows_by_tier: Mapping[str, Sequence[dict] | None]):
    """Chapter 7's table: every testable claim with the paper's value and, per tier given,
    ours (effect [95% interval], seeds) and the verdict (or why the design cannot test it),
    with Holm's correction and the scale; notes (learning rates chosen, preconditions
    measured, McNemar). A tier whose rows are None is left out; an empty list reads "not yet
    measured"."""
    import pandas as pd

    lines, summaries = [], {}
    for claim in CLAIMS.values():
        if not claim.testable:
            continue
        notes: list[str] = []
        line = {"claim": claim.title, "place": claim.place,
                "paper": claim.paper or ("(no number)" if claim.of_the_paper else "(course question)")}
        for tier, rows in rows_by_tier.items():
            check_tier(tier)
            if rows is None:
                continue
            if tier not in summaries:
                summaries[tier] = summarise(rows) if rows else None
            result = analyse(claim.id, rows) if rows else None
            if result is None:
                line[f"ours, {tier}"], line[f"verdict, {tier}"] = _missing(claim, tier, rows_by_tier), "-"
                continue
            line[f"ours, {tier}"] = describe_result(result, claim.id)
            line[f"verdict, {tier}"] = "; ".join(
                x for x in (verdict_text(result), holm_text(summaries[tier], claim.id),
                            _scale_text(claim, tier)) if x)
            if result["note"]:
                notes.append(f"{tier}: {result['note']}")
        line["notes"] = "; ".join(notes)
        lines.append(line)
    return pd.DataFrame(lines).set_index("claim")


def untested_table():
    """The claims that cannot be tested on Fashion-MNIST, with the reason."""
    import pandas as pd

    return pd.DataFrame([{"claim": c.title, "place": c.place, "paper": c.paper or "(no number)",
                          "why not here": c.untestable} for c in CLAIMS.values() if not c.testable]
                        ).set_index("claim")


def power_table(rows: Sequence[dict]):
    """Per claim in ``rows``: the paired standard deviation, the seeds run, the minimum
    detectable effect at 80% power and the seeds the paper's effect would need."""
    import pandas as pd

    lines = []
    for claim in CLAIMS.values():
        result = analyse(claim.id, rows) if claim.testable else None
        if result is None or result["seeds"] < 2:
            continue
        ratio = claim.comparison == "ratio"
        lines.append({"claim": claim.id, "paper": claim.describe_value(), "seeds": result["seeds"],
                      "paired sd": result["sd"], "sd of": "log ratio" if ratio else "points",
                      "detects (80% power)": (f"x{result['mde']:.2f}" if ratio else f"{result['mde']:.2f} pt"),
                      "seeds for the paper's effect": (result["needed"] if result["needed"] is not None
                                                       else ("-" if claim.paper_value is None else "> 100"))})
    return pd.DataFrame(lines).set_index("claim") if lines else pd.DataFrame()


def forest_plot(summaries: dict, title: str = "The paper's claims: our effects with 95% intervals"):
    """Each claim's effect and interval (one colour and marker per tier or source) beside
    the paper's value (a black diamond): differences in points on the left, ratios on a
    log axis on the right, with no effect as a dotted line. A hollow marker is a design whose
    precondition failed; a point beyond the axis is drawn at its edge as an arrowhead; a
    single seed is a point without an interval.

    Args:
        summaries: label -> :func:`summarise` output (e.g. {"CPU tier, stored": ...}).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    from alexnet_book import plots

    claim_ids = [c.id for c in CLAIMS.values() if c.testable]
    kinds = {"difference": [i for i in claim_ids if CLAIMS[i].comparison != "ratio"],
             "ratio": [i for i in claim_ids if CLAIMS[i].comparison == "ratio"]}
    fig, axes = plt.subplots(1, 2, figsize=(9, 5), gridspec_kw={"width_ratios": [3, 2]})
    offsets = np.linspace(-0.2, 0.2, len(summaries)) if len(summaries) > 1 else [0.0]
    markers = ("o", "s", "^", "v")
    handles = {}
    no_effect = (CANNOT_TEST,)
    for ax, (kind, ids) in zip(axes, kinds.items()):
        ys = np.arange(len(ids))[::-1]
        ratio = kind == "ratio"
        null = 1.0 if ratio else 0.0
        points = []  # (label, y, estimate, low, high, colour, marker, hollow)
        for (label, table), offset, color, marker in zip(summaries.items(), offsets, plots.PALETTE, markers):
            for y, claim_id in zip(ys, ids):
                if claim_id not in table.index:
                    continue
                r = table.loc[claim_id]
                low, high = r["low"], r["high"]
                informative = math.isfinite(low) and math.isfinite(high) and (not ratio or low > 0)
                if not informative:  # one seed: the point alone
                    low = high = r["estimate"]
                points.append((label, y + offset, r["estimate"], low, high, color, marker,
                               r["verdict"] in no_effect))
        # the axis spans the paper's values and the effects of designs that held, so one
        # runaway interval or an arm that never learned does not squash the rest
        paper = [CLAIMS[i].paper_value for i in ids if CLAIMS[i].paper_value is not None]
        anchors = [null, *paper] + [p[2] for p in points if not p[7]]
        if ratio:
            anchors = [a for a in anchors if a > 0]
            lo, hi = min(anchors) / 4, max(anchors) * 4
        else:
            span = max(anchors) - min(anchors) or 1.0
            lo, hi = min(anchors) - span, max(anchors) + span
        for label, y, estimate, low, high, color, marker, hollow in points:
            shown = min(max(estimate, lo), hi)
            clipped = shown != estimate
            low, high = min(max(low, lo), hi), min(max(high, lo), hi)
            line = ax.errorbar(shown, y, xerr=[[max(shown - low, 0)], [max(high - shown, 0)]],
                               fmt=("<" if estimate < lo else ">") if clipped else marker, color=color,
                               capsize=3, ms=6 if clipped else 5, mfc="white" if hollow else color, zorder=3)
            handles.setdefault(label, line)
        for y, claim_id in zip(ys, ids):
            value = CLAIMS[claim_id].paper_value
            if value is not None:
                # drawn under the effects: a tier's marker at the same height stays visible
                handles.setdefault("paper", ax.plot(value, y, "D", color="black", ms=6, zorder=1)[0])
        ax.axvline(null, color="gray", lw=1, ls=":")
        ax.set_yticks(ys, [CLAIMS[i].title for i in ids], fontsize=8)
        ax.set_ylim(-0.6, len(ids) - 0.4)
        ax.set_xlim(lo, hi)
        ax.grid(axis="x", alpha=0.3)
        if ratio:
            ax.set_xscale("log")
            ticks = [t for t in (1 / 64, 1 / 16, 0.25, 1, 4, 16, 64) if lo <= t <= hi]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("variant / baseline (ratio, log scale)")
        else:
            ax.set_xlabel("variant minus baseline (points of error, %)")
    axes[0].set_title("error differences", fontsize=10)
    axes[1].set_title("steps or epochs (ratios)", fontsize=10)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(len(handles), 4),
               fontsize=8, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def stored_by_tier(repository: str, tiers: Sequence[str] = STORED_TIERS) -> tuple[dict, str | None]:
    """Stored result lines per tier, and why they could not be read (None when they could).

    Never raises for an unreachable store: the reason is returned, so a chapter says it
    once instead of showing an empty measurement.
    """
    from alexnet_book import results
    from alexnet_book.claims.store import stored_rows

    try:
        # lines of an older scale or repeated runs are left out quietly here: chapters show
        # measurements; the command line and the tests report them
        return {tier: stored_rows(repository, tier, warn=False) for tier in tiers}, None
    except results.ResultsUnavailableError as error:
        return {}, str(error)


def paper_vs_here(claim_id: str, live_rows: Sequence[dict] | None = None, live_tier: str = "quick",
                  repository: str | None = None, stored: Mapping[str, Sequence[dict]] | None = None) -> str:
    """A "Paper vs here" paragraph for a chapter, from the registry and results: the
    paper's words and place, its value, and ours from the largest tier measured (the
    stored full or CPU tier), plus the live tier when given.

    Args:
        claim_id: the claim.
        live_rows: result lines run in the chapter (e.g. from :func:`~alexnet_book.claims.run`).
        live_tier: their tier.
        repository: the course's URL: the stored results are read (checkout, else GitHub).
        stored: stored rows per tier, when already read (:func:`stored_by_tier`).

    Raises:
        UnknownClaimError: an unknown claim id.
    """
    claim = get(claim_id)
    if claim.of_the_paper:
        first = f"Paper ({claim.place}): \"{claim.quote}\""
    else:
        first = f"Course question, not in the paper ({claim.place}): {claim.question} Context: {claim.quote}"
    lines = [first, f"Paper's value: {claim.paper or 'no number'}"
             + (f" ({claim.describe_value()} in this course's units)" if claim.paper_value is not None else "")]
    if not claim.testable:
        lines.append(f"Here: cannot be tested ({claim.untestable})")
        return "\n".join(lines)
    unavailable = None
    if stored is None and repository is not None:
        stored, unavailable = stored_by_tier(repository)
    if unavailable:
        lines.append(f"Here, stored measurements: could not be read ({unavailable})")
    shown = False
    for tier in PREFERENCE:
        rows = (stored or {}).get(tier)
        if rows and tier in claim.beyond and not shown:  # measured for the others, not for this claim
            lines.append(f"Here, {tier} tier: {beyond_reason(claim_id, tier, stored or {})}")
        result = analyse(claim_id, rows) if rows else None
        if result is not None:
            lines.append(_here(claim_id, tier, result, "stored", rows))
            shown = True
            break
    if not shown and not unavailable and stored is not None:
        tiers = [t for t in STORED_TIERS if claim.scale(t)]
        lines.append(f"Here, stored measurements: none yet for this claim (tiers {', '.join(tiers) or '-'}; "
                     f"measure with `{CPU_COMMAND}` or on a GPU with `{GPU_COMMAND}`)")
    if live_rows is not None:
        check_tier(live_tier)
        result = analyse(claim_id, live_rows) if live_rows else None
        lines.append(_here(claim_id, live_tier, result, "live", live_rows) if result is not None
                     else f"Here, {live_tier} tier (live): {_missing(claim, live_tier)}")
    return "\n".join(lines)


def largest_measured(claim_id: str, stored: Mapping[str, Sequence[dict] | None]) -> tuple[str, dict] | None:
    """The largest tier (:data:`PREFERENCE`) whose stored rows measure the claim, and its
    :func:`analyse` result; None when no tier does (or the rows could not be read)."""
    for tier in PREFERENCE:
        rows = stored.get(tier)
        result = analyse(claim_id, rows) if rows else None
        if result is not None:
            return tier, result
    return None


#: A tier's runs in a learner's words (chapters 1-6 name no tier).
PLAIN_TIERS = {"smoke": "a few steps", "quick": "the quick profile's small runs",
               "cpu": "small CPU runs of an earlier design", "cpu2": "small runs on a CPU",
               "full": "the paper's 227x227 network on a GPU"}
CHAPTER_7 = "chapter 7 (07_claims) has the design, the intervals and the checks"


def in_plain_words(claim_id: str, stored: Mapping[str, Sequence[dict]] | None = None,
                   repository: str | None = None) -> str:
    """One claim for a learner: the paper's words in short, and what the stored runs of the
    largest tier measured say, in plain English (the direction, its size and 95% interval, and
    whether it survives the correction for the claims tested together), or why this design
    cannot test it. Chapter 7 gives the full account (:func:`paper_vs_here`).

    Args:
        claim_id: the claim.
        stored: stored rows per tier (:func:`stored_by_tier`); read from ``repository`` if None.
        repository: the course's URL.

    Raises:
        UnknownClaimError: an unknown claim id.
    """
    claim = get(claim_id)
    head = f"{claim.title} ({claim.place})"
    if claim.of_the_paper:
        paper = f"the paper: {claim.paper}" if claim.paper else "the paper gives no number"
    else:
        paper = f"the course's question, not the paper's: {claim.question}"
    paper += "" if paper.endswith("?") else "."
    if not claim.testable:
        return f"{head}: {paper} Not testable here: {claim.untestable}"
    if stored is None:
        stored, unavailable = stored_by_tier(repository) if repository else ({}, None)
        if unavailable:
            return f"{head}: {paper} The stored measurements could not be read ({unavailable})."
    found_in = largest_measured(claim_id, stored or {})
    if found_in is None:
        return f"{head}: {paper} Not measured yet."
    tier, result = found_in
    rows = stored[tier]
    beyond = [t for t in PREFERENCE[:PREFERENCE.index(tier)] if t in claim.beyond and (stored or {}).get(t)]
    if beyond:
        why = _plain_beyond(claim, beyond[0], stored or {})
        paper += f" A design that could test it is beyond a CPU: {why}."
    scale_ = claim.scale(tier)
    where = (f"{result['seeds']} paired seeds of {PLAIN_TIERS[tier]}"
             + (f" ({scale_.train_images:,} images x {scale_.epochs} epochs)" if scale_ else ""))
    verdict, interval = result["verdict"], result["interval"]
    if verdict == CANNOT_TEST:
        return f"{head}: {paper} Here ({where}): not testable at this scale, because {result['plain_reason']}."
    metric = METRICS[result["metric"]]
    variant, baseline = _plain_arm(claim, claim.variant), _plain_arm(claim, claim.baseline)
    if metric.comparison == "ratio":
        found = (f"{variant} took x{interval.estimate:.2f} the {_plain_metric(claim, tier)} of {baseline} "
                 f"(95% interval x{interval.low:.2f} to x{interval.high:.2f})")
    else:
        found = (f"{variant} had {abs(interval.estimate):.2f} points "
                 f"{'lower' if interval.estimate < 0 else 'higher'} {_plain_metric(claim, tier)} than "
                 f"{baseline} (95% interval {interval.low:+.2f} to {interval.high:+.2f})")
    summary = summarise(rows)
    holm = summary.loc[claim_id, "p (Holm)"] if claim_id in summary.index else math.nan
    read = int(summary["verdict"].isin(stats.VERDICTS).sum())
    if verdict in (stats.REPRODUCED, stats.OPPOSITE):
        side = ("the paper's direction" if verdict == stats.REPRODUCED
                else "the opposite of the paper's direction")
        held = "holds" if holm < 0.05 else "does not hold"
        meaning = (f"{side}, which {held} once the {read} claims tested together are accounted for "
                   f"(Holm's correction)")
    elif verdict == stats.NOT_DETECTED:
        meaning = "no clear difference: the interval includes no effect (not a refutation)"
    elif verdict in (COURSE_YES, COURSE_NO):
        meaning = "yes" if verdict == COURSE_YES else "no, the opposite"
    else:
        meaning = verdict
    return f"{head}: {paper} Here ({where}): {found}: {meaning}."


#: What the course's standard AlexNet arm (``paper.STANDARD``) is in each claim it is part of,
#: for a learner: "AlexNet (Glorot init)" says which network, not what the claim varies.
PLAIN_STANDARD = {"batchnorm": "LRN", "overlapping_pool": "3x3 overlapping pooling",
                  "crops_flips": "no crops or flips", "dropout_overfitting": "dropout",
                  "dropout_convergence": "dropout", "weight_decay": "weight decay",
                  "depth": "all five convolutions"}


def _plain_arm(claim, arm_) -> str:
    from alexnet_book.claims.paper import STANDARD

    return PLAIN_STANDARD.get(claim.id, arm_.name) if arm_ == STANDARD else arm_.name


def _plain_beyond(claim, tier: str, stored: Mapping[str, Sequence[dict]]) -> str:
    """Why a claim is beyond a tier, in one short clause (:func:`beyond_reason` in full)."""
    measured = _beyond_measure(claim, tier, stored)
    if "efolds" in measured:
        return (f"a CPU run is too short for weight decay to act (it shrinks the weights "
                f"{measured['efolds'] / measured['paper']:.2%} as much as in the paper's 90 epochs)")
    if measured:
        return (f"the paper's effect of {claim.describe_value()} would need {_seeds_text(measured['result'])} "
                "at the spread measured here")
    return "the paper's effect would need more seeds than a CPU affords"


def _plain_metric(claim, tier: str) -> str:
    name = claim.metric_at(tier)
    return {"test_error": "test error", "best_test_error": "test error at its best epoch",
            "train_error": "training error", "ten_patch": "test error",
            "steps": f"steps to {claim.threshold_at(tier) or 0:g}% training error",
            "epochs_to_best": "epochs to its best validation error"}[name]


def _here(claim_id: str, tier: str, result: dict, how: str, rows: Sequence[dict]) -> str:
    claim = CLAIMS[claim_id]
    verdict = "; ".join(x for x in (verdict_text(result), holm_text(summarise(rows), claim_id),
                                    _scale_text(claim, tier)) if x)
    return (f"Here, {tier} tier ({how}, {result['device']}, {result['date']}): "
            f"{describe_result(result, claim_id)}: {verdict}"
            + (f"; {result['note']}" if result["note"] else ""))




def compute_time(rows: Sequence[dict]) -> tuple[int, float]:
    """The training runs behind result lines and their seconds, each run counted once: a
    run that served several claims wrote one line per claim (the same seed, learning rate,
    scale, date and seconds, each line naming the others in ``shared_with``).

    Returns:
        ``(runs, seconds)``.
    """
    from alexnet_book.claims.store import design

    runs = {(frozenset([r["claim"], *r.get("shared_with", [])]), r["seed"], float(r["learning_rate"]),
             r["profile"], design(r.get("scale")), r["date"], r["seconds"]): r["seconds"] for r in rows}
    return len(runs), float(sum(runs.values()))


def registry_table(tiers: Sequence[str] = ("quick", "cpu", "full")):
    """The registry as a table: claim, place, paper's value, metric, arms and the scale per
    tier ("-" where a claim does not run)."""
    import pandas as pd

    rows = []
    for c in CLAIMS.values():
        row = {"claim": c.id, "place": c.place, "paper": c.paper or "(no number)",
               "metric": c.metric if c.testable else "-",
               "baseline -> variant": f"{c.baseline.name} -> {c.variant.name}" if c.testable
               else f"not testable: {c.untestable}"}
        for tier in tiers:
            scale = c.scale(check_tier(tier))
            row[tier] = scale.describe() if scale and c.testable else "-"
        rows.append(row)
    return pd.DataFrame(rows).set_index("claim")


__all__ = ["registry_table", "compute_time", "analyse", "summarise", "lab_table", "untested_table",
           "power_table", "forest_plot", "preconditions_of", "verdict_text", "holm_text", "reading",
           "lrn_summary", "paper_vs_here", "in_plain_words",
           "largest_measured", "stored_by_tier", "describe_result", "overfits", "TIERS",
           "PRECONDITIONS", "UnknownClaimError"]
