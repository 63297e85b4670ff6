"""Experiment arithmetic: arm assignment (fixed split or Thompson sampling), results with
uplift intervals, the fixed-horizon stop rule and the sample size that sets the horizon.

Conversion uplift: the Beta(1 + conversions, 1 + misses) posterior of each arm, with the
difference's credible interval from seeded Monte Carlo draws (no new dependency; at these
counts it agrees with the Wald interval to the third decimal, a test checks it). Revenue per
recipient: Welch's t interval (scipy). Stop rule: fixed horizon. No winner is named before every
arm has ``horizon`` recipients, however the interim numbers look, so looking at the results
every day cannot peek its way to a false winner; with several treatment arms the interval level
is Bonferroni-corrected.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

from bot.marketing._errors import InvalidMarketingRequest

Policy = Literal["fixed", "thompson"]
POLICIES: tuple[Policy, ...] = ("fixed", "thompson")
DRAWS = 20000


def sample_size(baseline: float, lift: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Recipients per arm for a two-sided test of ``baseline`` vs ``baseline + lift``."""
    if not 0 < baseline < 1 or not 0 < baseline + lift < 1 or lift == 0:
        raise InvalidMarketingRequest(
            "baseline and baseline + lift must be conversion rates between 0 and 1, lift not 0"
        )
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise InvalidMarketingRequest("alpha and power must be between 0 and 1")
    p1, p2 = baseline, baseline + lift
    mean = (p1 + p2) / 2
    z_alpha = float(stats.norm.ppf(1 - alpha / 2))
    z_power = float(stats.norm.ppf(power))
    root = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    return math.ceil(root**2 / lift**2)


def hashed_unit(seed: int, customer_id: str) -> float:
    """A stable number in [0, 1) for the customer in this experiment (same customer, same arm)."""
    digest = hashlib.sha256(f"{seed}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose_arm(
    arms: list[str],
    control_share: float,
    policy: Policy,
    unit: float,
    counts: dict[str, tuple[int, int]],
    rng: np.random.Generator,
) -> str:
    """The arm for one recipient: the control keeps its fixed hold-out share; the rest is split
    evenly (``fixed``) or by Thompson sampling on each treatment's Beta posterior of
    ``counts[arm] = (recipients, conversions)``."""
    control, treatments = arms[0], arms[1:]
    if unit < control_share:
        return control
    if policy == "fixed":
        share = (unit - control_share) / (1 - control_share)
        return treatments[min(int(share * len(treatments)), len(treatments) - 1)]
    draws = []
    for arm in treatments:
        recipients, conversions = counts.get(arm, (0, 0))
        draws.append(rng.beta(1 + conversions, 1 + recipients - conversions))
    return treatments[int(np.argmax(draws))]


@dataclass(frozen=True)
class ArmLog:
    """An arm's recipients: each one's revenue in the window (0.0: did not convert)."""

    name: str
    revenue: list[float]
    conversions: int

    @property
    def recipients(self) -> int:
        return len(self.revenue)


@dataclass(frozen=True)
class ArmResult:
    """One arm's figures; the uplift fields compare it with the control (None for the control)."""

    name: str
    recipients: int
    conversions: int
    conversion_rate: float
    revenue: float
    revenue_per_recipient: float
    uplift: float | None = None  # conversion-rate difference to control
    uplift_interval: tuple[float, float] | None = None
    relative_uplift: float | None = None
    revenue_uplift: float | None = None  # revenue-per-recipient difference to control
    revenue_uplift_interval: tuple[float, float] | None = None
    probability_better: float | None = None  # posterior P(rate > control's rate)


@dataclass(frozen=True)
class Results:
    """An experiment's results and what the stop rule says."""

    arms: list[ArmResult]
    level: float  # the credibility/confidence level of the intervals
    horizon: int
    decided: bool  # every arm has reached the horizon
    winner: str | None  # named only once decided, when its interval excludes 0 (or control)
    stop_rule: str


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def results(logs: list[ArmLog], horizon: int, seed: int = 0, alpha: float = 0.05) -> Results:
    """Figures per arm with uplift over the control (``logs[0]``) and the stop rule's verdict."""
    if len(logs) < 2:
        raise InvalidMarketingRequest("an experiment needs a control and at least one treatment")
    level = 1 - alpha / (len(logs) - 1)
    rng = np.random.default_rng(seed)
    control = logs[0]
    base = rng.beta(1 + control.conversions, 1 + control.recipients - control.conversions, DRAWS)
    out = [_plain(control)]
    for arm in logs[1:]:
        draws = rng.beta(1 + arm.conversions, 1 + arm.recipients - arm.conversions, DRAWS)
        plain = _plain(arm)
        diff = draws - base
        revenue_diff, revenue_interval = _welch(arm.revenue, control.revenue, level)
        out.append(
            replace(
                plain,
                uplift=plain.conversion_rate - out[0].conversion_rate,
                uplift_interval=_interval(diff, level),
                relative_uplift=(
                    plain.conversion_rate / out[0].conversion_rate - 1
                    if out[0].conversion_rate
                    else None
                ),
                revenue_uplift=revenue_diff,
                revenue_uplift_interval=revenue_interval,
                probability_better=float(np.mean(diff > 0)),
            )
        )
    decided = all(arm.recipients >= horizon for arm in logs)
    winner = None
    if decided:
        winners = [a for a in out[1:] if a.uplift_interval and a.uplift_interval[0] > 0]
        if winners:
            winner = max(winners, key=lambda a: a.conversion_rate).name
        elif all(a.uplift_interval and a.uplift_interval[1] < 0 for a in out[1:]):
            winner = control.name
    rule = (
        f"fixed horizon: no winner before every arm has {horizon} recipients; then the best arm "
        f"whose {level:.1%} interval of uplift over control excludes 0"
    )
    return Results(out, level, horizon, decided, winner, rule)


def wilson(successes: int, trials: int, level: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of a conversion rate (None without trials): unlike the Wald
    interval it stays inside [0, 1] and is not empty at 0 or all conversions."""
    if trials <= 0 or not 0 <= successes <= trials:
        return None
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    rate = successes / trials
    denominator = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _plain(arm: ArmLog) -> ArmResult:
    total = float(sum(arm.revenue))
    n = arm.recipients
    return ArmResult(
        arm.name,
        n,
        arm.conversions,
        arm.conversions / n if n else 0.0,
        total,
        total / n if n else 0.0,
    )


def _welch(
    arm: list[float], control: list[float], level: float
) -> tuple[float | None, tuple[float, float] | None]:
    if len(arm) < 2 or len(control) < 2:
        return None, None
    diff = float(np.mean(arm) - np.mean(control))
    if np.var(arm) == 0 and np.var(control) == 0:
        return diff, (diff, diff)
    test = stats.ttest_ind(arm, control, equal_var=False)
    low, high = test.confidence_interval(confidence_level=level)
    return diff, (float(low), float(high))
