"""Which runs a tier holds: choosing claims, the jobs (one per distinct trained arm and
scale, serving every claim that compares it) and their split into parts of similar size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np

from alexnet_book.claims import store
from alexnet_book.claims.paper import CLAIMS
from alexnet_book.claims.registry import METRICS, Arm, Claim, Scale, UnknownClaimError, check_tier, tier_profile

# --- choosing claims ---------------------------------------------------------------------------

def get(claim_id: str) -> Claim:
    """The claim called ``claim_id``.

    Raises:
        UnknownClaimError: no such claim (the message lists the valid ids).
    """
    if claim_id not in CLAIMS:
        raise UnknownClaimError(f"unknown claim {claim_id!r}; valid claims: {', '.join(CLAIMS)}")
    return CLAIMS[claim_id]


def runnable(tier: str) -> list[str]:
    """Ids of the claims that run in a tier.

    Raises:
        ValueError: an unknown tier (the message lists the valid ones).
    """
    check_tier(tier)
    return [c.id for c in CLAIMS.values() if c.testable and c.scale(tier)]


def select(tier: str, only: Iterable[str] | None = None) -> list[Claim]:
    """The claims to run: ``only`` (in the registry's order), or all that run in the tier.

    Raises:
        ValueError: an unknown tier.
        UnknownClaimError: an unknown id, an untestable claim, or one without a scale in
            this tier (each message names the valid choices).
    """
    available = runnable(tier)
    if only is None:
        return [CLAIMS[i] for i in available]
    wanted = list(dict.fromkeys(only))
    if not wanted:
        raise UnknownClaimError(f"no claim given; valid claims at {tier}: {', '.join(available)}")
    for claim_id in wanted:
        claim = get(claim_id)
        if not claim.testable:
            raise UnknownClaimError(f"claim {claim_id!r} cannot be tested here ({claim.untestable}); "
                                    f"claims that run at {tier}: {', '.join(available)}")
        if claim_id not in available:
            raise UnknownClaimError(f"claim {claim_id!r} has no {tier} scale; claims that run at "
                                    f"{tier}: {', '.join(available)}")
    return [CLAIMS[i] for i in available if i in wanted]


def check_seeds(seeds) -> None:
    if seeds is not None and (isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer))
                              or seeds < 1):
        raise ValueError(f"seeds must be an integer >= 1 (1 gives no interval; 3 or more is "
                         f"useful), got {seeds!r}")


# --- the plan ----------------------------------------------------------------------------------

@dataclasses.dataclass
class Consumer:
    """A claim that reads a job's runs, and what it needs of them."""

    claim: str
    arm: str
    evaluation: str
    threshold: float | None
    window: int


#: Scale fields added after lines were stored (2026-12-07): a line records them only when set.
NEW_FIELDS = ("init", "arm_rates")


@dataclasses.dataclass
class Job:
    """The runs of one arm at one scale: compiled once, trained for every seed and rate."""

    tier: str
    arm: Arm
    scale: Scale
    seeds: int
    consumers: list = dataclasses.field(default_factory=list)

    @property
    def rates(self) -> tuple[float, ...]:
        """The learning rates this job tries (the scale's grid, else the arm's)."""
        return self.scale.rates_for(self.arm)

    @property
    def label(self) -> str:
        return f"{self.arm.name} ({', '.join(sorted({c.claim for c in self.consumers}))})"

    def profile(self):
        return tier_profile(self.tier, self.scale)

    def images_per_run(self) -> int:
        """Training images of one run (the most, for runs that may stop early)."""
        batch = self.profile().batch_size
        return (self.scale.train_images // batch) * batch * self.scale.epochs

    def images(self) -> int:
        return self.images_per_run() * self.seeds * len(self.rates)

    def runs(self) -> int:
        return self.seeds * len(self.rates)

    def scale_record(self) -> dict:
        """The scale as stored in each result line (with the number of seeds, which
        :func:`~alexnet_book.claims.store.design` leaves out of a run's identity)."""
        profile = self.profile()
        width = self.scale.width if self.scale.width is not None else (
            profile.width if self.arm.net != "four_layer" else 1.0)
        record = {**dataclasses.asdict(self.scale), "image_size": profile.image_size,
                  "batch_size": profile.batch_size, "test_images": profile.test_subset, "width": width}
        for field in NEW_FIELDS:  # recorded only when set: older lines keep their identity
            if record[field] is None:
                del record[field]
        return record

    def key(self, consumer: Consumer, seed: int, rate: float) -> tuple:
        return store.run_key({"claim": consumer.claim, "arm": consumer.arm, "seed": seed,
                              "learning_rate": rate, "profile": self.tier,
                              "scale": self.scale_record()})


def plan(tier: str = "quick", only: Iterable[str] | None = None, seeds: int | None = None) -> list[Job]:
    """The jobs :func:`run` would execute: one per distinct trained arm and scale, each
    serving every claim that compares it (a shared baseline runs once).

    Raises:
        ValueError, UnknownClaimError: as :func:`select`; seeds < 1.
    """
    check_seeds(seeds)
    jobs: dict[tuple, Job] = {}
    for claim in select(tier, only):
        scale = claim.scale(tier)
        n = int(seeds) if seeds is not None else scale.seeds
        for side in claim.arms():
            # a scale's learning rates replace the arm's: arms that differ only there train alike
            trained = side.training()[:-1] + (scale.rates_for(side),)
            job = jobs.setdefault((trained, scale, n), Job(tier, side, scale, n))
            job.consumers.append(Consumer(claim.id, side.name, side.evaluation,
                                          claim.threshold_at(tier), claim.window))
    return sorted(jobs.values(), key=lambda j: -j.images())


def split(jobs: Sequence[Job], parts: int) -> list[set[tuple[int, int]]]:
    """The (job index, seed) units of a plan dealt into ``parts`` parts of about equal
    planned training images (largest first, each to the lightest part so far): a long
    measurement run as several short sessions, each resuming the same results file.

    Raises:
        ValueError: parts < 1.
    """
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ValueError(f"parts must be an integer >= 1, got {parts!r}")
    units = sorted(((j.images_per_run() * len(j.rates), index, seed) for index, j in enumerate(jobs)
                    for seed in range(j.seeds)), reverse=True)
    loads, dealt = [0] * parts, [set() for _ in range(parts)]
    for images, index, seed in units:
        lightest = loads.index(min(loads))
        loads[lightest] += images
        dealt[lightest].add((index, seed))
    return dealt


def metric_value(claim: Claim, row: dict) -> float | None:
    """The number one stored run contributes to its claim."""
    return METRICS[claim.metric].value(row["metrics"])
