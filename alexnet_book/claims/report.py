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
from alexnet_book.claims.registry import METRICS, TIERS, UnknownClaimError, check_tier
from alexnet_book.claims.runner import CPU_COMMAND, GPU_COMMAND, STALL_ERROR, unpack_correct

#: Verdicts for designs whose precondition failed or whose metric has no value.
BASELINE_DID_NOT_OVERFIT = "beyond this scale: the baseline did not overfit"
THRESHOLD_NOT_REACHED = "threshold not reached by either arm"
DID_NOT_LEARN = "no effect to read: an arm did not learn (error near chance)"
ONE_SEED = "one seed so far: no interval yet"
#: An arm whose mean error (%) is at least this did not learn (chance is 90% on 10 classes).
NEAR_CHANCE = 80.0
#: The validation loss at the end must exceed its lowest value by this fraction for a run
#: to count as overfitting.
OVERFIT_RISE = 0.10
#: Which tier's stored results a chapter shows first: the largest measured.
PREFERENCE = ("full", "cpu", "quick", "smoke")


def _best_per_seed(rows: Sequence[dict], value) -> dict[int, dict]:
    """Each seed's best run over its learning-rate grid (lowest metric value: the paper
    chose each network's rate "to make training as fast as possible")."""
    best: dict[int, dict] = {}
    for row in rows:
        seed = row["seed"]
        if seed not in best or (value(row), row["learning_rate"]) < (value(best[seed]),
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


def overfits(row: dict) -> bool:
    """Whether a run overfit: its validation loss at the end is at least
    :data:`OVERFIT_RISE` above its lowest value."""
    losses = [v for v in (row.get("curves") or {}).get("val_loss", []) if v is not None]
    if len(losses) < 2:
        return False
    return losses[-1] >= (1 + OVERFIT_RISE) * min(losses) and int(np.argmin(losses)) < len(losses) - 1


def _stalled_seeds(claim, arm_, rows: Sequence[dict], seeds: Sequence[int]) -> list[int]:
    """The seeds in which the arm ran every learning rate of its grid and stalled near chance
    at each (a grid read part-way is not yet "every rate")."""
    out = []
    for seed in seeds:
        mine = [r for r in rows if r["seed"] == seed]
        scale_ = claim.scale(mine[0]["profile"]) if mine else None
        grid = (scale_.learning_rates if scale_ is not None and scale_.learning_rates else None) \
            or arm_.learning_rates
        ran = {round(float(r["learning_rate"]), 12) for r in mine}
        if ran >= {round(float(x), 12) for x in grid} and all(r["metrics"].get("stalled") for r in mine):
            out.append(seed)
    return out


def analyse(claim_id: str, rows: Sequence[dict]) -> dict | None:
    """One claim's effect from its result lines.

    Returns:
        None when the rows hold no complete pair; otherwise a dict with ``interval``
        (:class:`alexnet_book.stats.Interval`), ``verdict`` (the direction, or why there is
        none), ``size`` (the size verdict), ``seeds``, ``sd`` (of the paired differences,
        or of the log ratios), ``p`` (the paired t test's two-sided p-value against no
        effect), ``mde`` (the minimum detectable effect at 80% power, in the
        claim's units), ``needed`` (seeds for the paper's effect), ``note``, ``device``,
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
    metric = METRICS[claim.metric]

    def value(row):
        return metric.value(row["metrics"])

    by_seed_b, by_seed_v = _best_per_seed(base, value), _best_per_seed(var, value)
    notes = [n for n in (_grid_note(base, by_seed_b), _grid_note(var, by_seed_v)) if n]
    seeds = sorted(set(by_seed_b) & set(by_seed_v))
    if not seeds:
        return None
    b = [value(by_seed_b[s]) for s in seeds]
    v = [value(by_seed_v[s]) for s in seeds]
    verdict = None
    if claim.metric == "steps":
        censored = {name: sum(r["metrics"]["steps"] is None for r in side.values())
                    for name, side in ((claim.baseline.name, by_seed_b), (claim.variant.name, by_seed_v))}
        notes += [f"{name}: {n} seed(s) never reached the threshold (counted as the steps allowed + 1)"
                  for name, n in censored.items() if n]
        if all(n == len(seeds) for n in censored.values()):
            verdict = THRESHOLD_NOT_REACHED
        # an arm that stalled near chance at every rate of its grid did not learn: its
        # "steps" are only the allowance, and a ratio of allowances measures nothing
        stalled = {arm_.name: _stalled_seeds(claim, arm_, side, seeds)
                   for arm_, side in ((claim.baseline, base), (claim.variant, var))}
        stuck = [f"{name}: stalled near chance ({STALL_ERROR:.0%} error or more) at every learning rate "
                 f"in seed(s) {', '.join(map(str, ss))}" for name, ss in stalled.items() if ss]
        if stuck:
            notes += stuck
            verdict = DID_NOT_LEARN
    if claim.metric == "epochs_to_best":
        last = sum(by_seed_v[s]["metrics"]["best_epoch"] >= by_seed_v[s]["metrics"]["epochs_run"]
                   for s in seeds)
        if last:
            notes.append(f"{claim.variant.name}: best epoch = last epoch in {last} seed(s) (still "
                         "improving: a lower bound)")
    if claim.metric in ("test_error", "best_test_error", "train_error", "ten_patch"):
        # one seed at chance is enough: its difference measures a failure to train, and
        # it would dominate a mean of a few seeds
        stuck = [f"{name}: error {NEAR_CHANCE:g}% or more, near chance, in seed(s) "
                 + ", ".join(str(s) for s, value in zip(seeds, values) if value >= NEAR_CHANCE)
                 for name, values in ((claim.baseline.name, b), (claim.variant.name, v))
                 if max(values) >= NEAR_CHANCE]
        if stuck:
            notes += stuck
            verdict = DID_NOT_LEARN
    if claim.precondition == "baseline_overfits":
        fits = sum(overfits(by_seed_b[s]) for s in seeds)
        notes.append(f"{claim.baseline.name} overfit in {fits} of {len(seeds)} seed(s)")
        if fits * 2 <= len(seeds):
            verdict = BASELINE_DID_NOT_OVERFIT
    if claim.metric == "ten_patch":
        n = by_seed_b[seeds[0]]["metrics"]["test_images"]
        ps = []
        for s in seeds:
            _, p = stats.paired_proportions(unpack_correct(by_seed_b[s]["metrics"]["correct"], n),
                                            unpack_correct(by_seed_v[s]["metrics"]["correct"], n))
            ps.append(p)
        notes.append(f"per-seed McNemar p over {n:,} test images: {', '.join(f'{p:.2g}' for p in ps)}")
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
    if verdict is None and len(seeds) == 1:
        verdict = ONE_SEED
    if verdict is None:
        verdict = (stats.NO_VARIATION if stats.no_variation(interval)
                   else stats.verdict(interval, claim.direction))
    size = "" if verdict in (BASELINE_DID_NOT_OVERFIT, THRESHOLD_NOT_REACHED, DID_NOT_LEARN, ONE_SEED) else \
        stats.size_verdict(interval, claim.paper_value)
    return {"interval": interval, "verdict": verdict, "size": size, "seeds": len(seeds), "sd": sd,
            "p": stats.paired_t_p(spread), "mde": mde, "needed": needed, "note": "; ".join(notes),
            "device": mine[0]["device"], "date": mine[0]["date"], "baseline_mean": float(np.mean(b)),
            "variant_mean": float(np.mean(v))}


COLUMNS = ["place", "metric", "paper", "estimate", "low", "high", "kind", "seeds", "p", "mde", "needed",
           "verdict", "size", "note", "device", "date"]


def summarise(rows: Sequence[dict]):
    """One line per claim present in ``rows``: the paper's value, our estimate with its
    95% interval, the seeds, the paired t test's p-value, the minimum detectable effect, the
    seeds the paper's effect would need, the verdicts and notes (a pandas DataFrame indexed by
    claim)."""
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
                      "seeds": result["seeds"], "p": result["p"], "mde": result["mde"],
                      "needed": result["needed"], "verdict": result["verdict"], "size": result["size"],
                      "note": result["note"], "device": result["device"], "date": result["date"]})
    if not lines:
        return pd.DataFrame(columns=COLUMNS)
    return pd.DataFrame(lines).set_index("claim")


def describe_result(result: dict, claim_id: str) -> str:
    """``"+0.41 pt [-0.20, 1.02], 3 seeds, detects >= 1.10 pt"``."""
    interval = result["interval"]
    unit = METRICS[CLAIMS[claim_id].metric].unit
    text = f"{interval.describe(2, unit)}, {result['seeds']} seed{'' if result['seeds'] == 1 else 's'}"
    if result["mde"] is not None and math.isfinite(result["mde"]):
        text += (f", detects x{result['mde']:.2f}" if unit == "" else f", detects >= {result['mde']:.2f}{unit}")
    return text


def _missing(claim, tier: str) -> str:
    return "not run in this tier" if claim.scale(tier) is None else "not yet measured"


def lab_table(rows_by_tier: Mapping[str, Sequence[dict] | None]):
    """Chapter 7's table: every testable claim with the paper's value and, per tier given,
    ours (effect [95% interval], seeds, the minimum detectable effect) and the verdicts;
    notes (learning rates chosen, censored runs, overfitting checks, McNemar). A tier
    whose rows are None is left out; an empty list reads "not yet measured"."""
    import pandas as pd

    lines = []
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
            result = analyse(claim.id, rows) if rows else None
            if result is None:
                line[f"ours, {tier}"], line[f"verdict, {tier}"] = _missing(claim, tier), "-"
                continue
            line[f"ours, {tier}"] = describe_result(result, claim.id)
            line[f"verdict, {tier}"] = result["verdict"] + (f"; {result['size']}" if result["size"] else "")
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
    no_effect = (BASELINE_DID_NOT_OVERFIT, THRESHOLD_NOT_REACHED, DID_NOT_LEARN)
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
                               capsize=3, ms=6 if clipped else 5, mfc="white" if hollow else color)
            handles.setdefault(label, line)
        for y, claim_id in zip(ys, ids):
            value = CLAIMS[claim_id].paper_value
            if value is not None:
                handles.setdefault("paper", ax.plot(value, y, "D", color="black", ms=6)[0])
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


def stored_by_tier(repository: str, tiers: Sequence[str] = ("cpu", "full")) -> tuple[dict, str | None]:
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
        result = analyse(claim_id, rows) if rows else None
        if result is not None:
            lines.append(_here(claim_id, tier, result, "stored"))
            shown = True
            break
    if not shown and not unavailable and stored is not None:
        tiers = [t for t in ("cpu", "full") if claim.scale(t)]
        lines.append(f"Here, stored measurements: none yet for this claim (tiers {', '.join(tiers) or '-'}; "
                     f"measure with `{CPU_COMMAND}` or on a GPU with `{GPU_COMMAND}`)")
    if live_rows is not None:
        check_tier(live_tier)
        result = analyse(claim_id, live_rows) if live_rows else None
        lines.append(_here(claim_id, live_tier, result, "live") if result is not None
                     else f"Here, {live_tier} tier (live): {_missing(claim, live_tier)}")
    return "\n".join(lines)


def _here(claim_id: str, tier: str, result: dict, how: str) -> str:
    verdict = result["verdict"] + (f"; {result['size']}" if result["size"] else "")
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
           "power_table", "forest_plot",
           "paper_vs_here", "stored_by_tier", "describe_result", "overfits", "TIERS", "UnknownClaimError"]
