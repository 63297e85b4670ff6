"""A simulator with known ground truth (all synthetic) for the policies marketing would run on
real traffic: a 30-day A/B campaign (Thompson sampling vs a fixed 50/50 split vs the oracle),
a budget allocator across segment x channel cells (an LP on posterior means vs a uniform split
vs the LP on the true rates), and a bidding agent for paid placements under a daily budget
(vs the best fixed bid in hindsight and an oracle that knows every conversion probability).

Everything is seeded; each figure is the mean over ``seeds`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog  # type: ignore[import-untyped]

# ---- 1. a 30-day campaign: bandit vs fixed split vs oracle -----------------------------------


@dataclass(frozen=True)
class CampaignSetup:
    """Two copy variants with known conversion rates, a daily audience, a horizon."""

    rates: tuple[float, ...] = (0.05, 0.065)
    per_day: int = 1000
    days: int = 30


@dataclass(frozen=True)
class CampaignResult:
    """Expected conversions per policy and the daily cumulative regret (mean over seeds)."""

    conversions: dict[str, float]
    share_of_oracle: dict[str, float]
    regret: dict[str, list[float]]  # cumulative expected conversions lost to the oracle, per day


def thompson_batch(
    counts: np.ndarray, conversions: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """Arms for ``n`` recipients, each from one draw of every arm's Beta posterior (the same
    rule as ``choose_arm``, vectorised for a day's batch; feedback arrives at day's end)."""
    draws = rng.beta(1 + conversions, 1 + counts - conversions, size=(n, len(counts)))
    picked: np.ndarray = np.argmax(draws, axis=1)
    return picked


def simulate_campaign(setup: CampaignSetup | None = None, seeds: int = 50) -> CampaignResult:
    """Thompson sampling, a fixed even split and the oracle on the same synthetic audience."""
    setup = setup or CampaignSetup()
    rates = np.array(setup.rates)
    best = float(rates.max())
    totals = {"bandit": 0.0, "fixed": 0.0, "oracle": 0.0}
    regret = {"bandit": np.zeros(setup.days), "fixed": np.zeros(setup.days)}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        counts = np.zeros(len(rates))
        conversions = np.zeros(len(rates))
        lost = {"bandit": 0.0, "fixed": 0.0}
        for day in range(setup.days):
            arms = thompson_batch(counts, conversions, setup.per_day, rng)
            converted = rng.random(setup.per_day) < rates[arms]
            np.add.at(counts, arms, 1)
            np.add.at(conversions, arms, converted)
            expected_bandit = float(rates[arms].sum())
            expected_fixed = float(rates.mean() * setup.per_day)
            totals["bandit"] += expected_bandit
            totals["fixed"] += expected_fixed
            totals["oracle"] += best * setup.per_day
            lost["bandit"] += best * setup.per_day - expected_bandit
            lost["fixed"] += best * setup.per_day - expected_fixed
            regret["bandit"][day] += lost["bandit"]
            regret["fixed"][day] += lost["fixed"]
    mean = {k: v / seeds for k, v in totals.items()}
    return CampaignResult(
        mean,
        {k: v / mean["oracle"] for k, v in mean.items()},
        {k: list(v / seeds) for k, v in regret.items()},
    )


def simulate_waves(
    audience: int = 20000,
    waves: tuple[int, ...] = (1, 4, 10),
    rates: tuple[float, ...] = (0.05, 0.065),
    seeds: int = 50,
) -> dict[str, dict[str, float]]:
    """A one-off campaign of ``audience`` recipients sent in N waves (``Campaigns``' waves):
    each wave split by Thompson sampling on the conversions of the earlier ones. One wave is a
    fixed even split; more waves let the bandit shift the rest of the audience to the winner."""
    figures = {}
    for n in waves:
        result = simulate_campaign(
            CampaignSetup(rates=rates, per_day=audience // n, days=n), seeds=seeds
        )
        figures[f"{n}_waves"] = {
            "conversions": result.conversions["bandit"],
            "share_of_oracle": result.share_of_oracle["bandit"],
        }
    return figures


# ---- 2. the budget allocator ------------------------------------------------------------------


@dataclass(frozen=True)
class AllocationSetup:
    """Segment x channel cells: true conversion rates, audience sizes, cost per send."""

    segments: tuple[str, ...] = ("new", "active", "lapsed", "vip")
    channels: tuple[str, ...] = ("email", "sms", "paid_social")
    rates: tuple[tuple[float, ...], ...] = (
        (0.010, 0.020, 0.015),
        (0.030, 0.045, 0.025),
        (0.005, 0.012, 0.020),
        (0.060, 0.080, 0.040),
    )
    audience: tuple[int, ...] = (20000, 15000, 30000, 3000)
    cost: tuple[float, ...] = (0.02, 0.30, 0.80)
    budget: float = 6000.0
    pilot: int = 200  # sends per cell already observed (what the posterior learned from)


@dataclass(frozen=True)
class Allocation:
    """Sends per cell and their expected conversions under the true rates."""

    sends: np.ndarray
    spend: float
    expected_conversions: float


def allocate(
    means: np.ndarray, capacity: np.ndarray, cost: np.ndarray, budget: float
) -> np.ndarray:
    """Sends per cell that maximise expected conversions within the budget: the LP
    max sum(x * mean) s.t. sum(x * cost) <= budget, 0 <= x <= capacity (scipy's HiGHS)."""
    flat_cost = np.broadcast_to(cost, means.shape).ravel()
    solved = linprog(
        -means.ravel(),
        A_ub=flat_cost[None, :],
        b_ub=[budget],
        bounds=list(zip(np.zeros(means.size), capacity.ravel(), strict=True)),
        method="highs",
    )
    if not solved.success:
        raise RuntimeError(f"the allocation LP failed: {solved.message}")
    sends: np.ndarray = solved.x.reshape(means.shape)
    return sends


def simulate_allocation(
    setup: AllocationSetup | None = None, seeds: int = 50
) -> dict[str, dict[str, float]]:
    """The LP on posterior means after a pilot vs a uniform split vs the LP on true rates."""
    setup = setup or AllocationSetup()
    rates = np.array(setup.rates)
    capacity = np.repeat(np.array(setup.audience)[:, None], len(setup.channels), axis=1)
    cost = np.array(setup.cost)[None, :]
    figures: dict[str, list[float]] = {"posterior_lp": [], "uniform": [], "oracle": []}
    spends: dict[str, list[float]] = {k: [] for k in figures}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        pilot = rng.binomial(setup.pilot, rates)
        means = (1 + pilot) / (2 + setup.pilot)  # Beta(1, 1) posterior means
        plans = {
            "posterior_lp": allocate(means, capacity, cost, setup.budget),
            "uniform": even_split(capacity, cost, setup.budget),
            "oracle": allocate(rates, capacity, cost, setup.budget),
        }
        for name, sends in plans.items():
            figures[name].append(float((sends * rates).sum()))
            spends[name].append(float((sends * cost).sum()))
    return {
        name: {
            "expected_conversions": float(np.mean(values)),
            "spend": float(np.mean(spends[name])),
            "share_of_oracle": float(np.mean(values) / np.mean(figures["oracle"])),
        }
        for name, values in figures.items()
    }


def even_split(capacity: np.ndarray, cost: np.ndarray, budget: float) -> np.ndarray:
    """An equal share of the budget per cell (capped by the cell's audience)."""
    per_cell = budget / capacity.size
    costs = np.broadcast_to(cost, capacity.shape)
    sends: np.ndarray = np.minimum(capacity, np.floor(per_cell / costs))
    return sends


# ---- 3. the bidding agent ---------------------------------------------------------------------


@dataclass(frozen=True)
class AuctionSetup:
    """Second-price auctions for ad impressions: segments whose conversion rates vary by hour,
    competing bids that rise in the evening, a daily budget and the value of a conversion."""

    segment_rates: tuple[float, ...] = (0.002, 0.006, 0.015, 0.04)
    segment_mix: tuple[float, ...] = (0.4, 0.3, 0.2, 0.1)
    per_hour: int = 300
    days: int = 30
    budget: float = 400.0  # per day
    value: float = 50.0  # revenue of a conversion
    competition: float = 0.35  # median of the highest competing bid at midday
    hour_factor: tuple[float, ...] = field(
        default_factory=lambda: tuple(
            float(0.5 + 0.9 * np.exp(-(((h - 20) % 24) ** 2) / 18)) for h in range(24)
        )
    )


@dataclass
class BidOutcome:
    """One policy's run: conversions, total spend and spend per day."""

    conversions: float = 0.0
    spend: float = 0.0
    daily_spend: list[float] = field(default_factory=list)


class BidAgent:
    """A contextual bandit that bids for impressions under a daily budget.

    Context: (segment, hour). It keeps a Beta posterior of the conversion rate per context
    (updated only from impressions it won: the feedback an advertiser sees), draws from it
    (Thompson sampling: explores contexts it is unsure of), and bids ``pace * draw * value``:
    the value-proportional bid, which is optimal for second-price auctions under a budget when
    ``pace`` is the budget constraint's multiplier. ``pace`` is learnt online (a dual update):
    up when the day's spend runs behind an even pace, down when ahead. Reward: conversions x
    value, so it does not buy cheap clicks that never convert.
    """

    def __init__(self, setup: AuctionSetup, rng: np.random.Generator) -> None:
        segments = len(setup.segment_rates)
        prior_mean = float(np.dot(setup.segment_mix, setup.segment_rates))
        weight = 50.0  # a weak prior at the average rate: optimistic for unseen contexts
        self.alpha = np.full((segments, 24), prior_mean * weight)
        self.beta = np.full((segments, 24), (1 - prior_mean) * weight)
        self.pace = 1.0
        self.value = setup.value
        self._rng = rng
        self._step = 0.15

    def bids(self, segments: np.ndarray, hour: int) -> np.ndarray:
        """One bid per impression of the hour."""
        draws = self._rng.beta(self.alpha[segments, hour], self.beta[segments, hour])
        bids: np.ndarray = self.pace * draws * self.value
        return bids

    def learn(
        self, segments: np.ndarray, hour: int, won: np.ndarray, converted: np.ndarray
    ) -> None:
        """Update the posteriors from the won impressions of the hour."""
        np.add.at(self.alpha[:, hour], segments[won], converted[won])
        np.add.at(self.beta[:, hour], segments[won], 1 - converted[won])

    def pace_to(self, spent: float, budget: float, elapsed: float) -> None:
        """Move the bid multiplier towards spending the budget evenly over the day."""
        target = budget * elapsed
        error = (target - spent) / budget
        self.pace *= float(np.exp(self._step * np.clip(error * 8, -1, 1)))
        self.pace = float(np.clip(self.pace, 0.05, 50.0))


def run_auctions(
    setup: AuctionSetup, bidder: BidAgent | float | str, seed: int, pace: float = 1.0
) -> BidOutcome:
    """One policy over ``setup.days`` days: a ``BidAgent``, a fixed bid (a number), or
    ``"oracle"`` (value-proportional bids on the true rates, multiplier ``pace``). Within a day,
    no impression is bought once it would take spend past the budget."""
    rng = np.random.default_rng(seed)  # the same traffic for every policy of a seed
    rates = np.array(setup.segment_rates)
    outcome = BidOutcome()
    for _day in range(setup.days):
        spent = 0.0
        for hour in range(24):
            segments = rng.choice(len(rates), size=setup.per_hour, p=setup.segment_mix)
            competing = (
                setup.competition * setup.hour_factor[hour] * rng.lognormal(0, 0.5, setup.per_hour)
            )
            p = rates[segments] * _hour_rate(hour)
            converts = rng.random(setup.per_hour) < p
            if isinstance(bidder, BidAgent):
                bids = bidder.bids(segments, hour)
            elif bidder == "oracle":
                bids = pace * p * setup.value
            else:
                bids = np.full(setup.per_hour, float(bidder))
            won = bids > competing
            cost = np.where(won, competing, 0.0)
            within = np.cumsum(cost) <= setup.budget - spent
            won &= within
            spent += float(cost[won].sum())
            outcome.conversions += float(converts[won].sum())
            if isinstance(bidder, BidAgent):
                bidder.learn(segments, hour, won, converts.astype(float))
                bidder.pace_to(spent, setup.budget, (hour + 1) / 24)
        outcome.daily_spend.append(spent)
        outcome.spend += spent
    return outcome


def _hour_rate(hour: int) -> float:
    """Conversion propensity by hour: evenings convert best, small hours worst."""
    return float(0.4 + 1.2 * np.exp(-(((hour - 21) % 24) ** 2) / 12))


FIXED_BIDS = tuple(round(0.05 * i, 2) for i in range(1, 41))  # 0.05 .. 2.00
ORACLE_PACES = tuple(round(0.1 * 1.25**i, 4) for i in range(0, 25))


def simulate_bidding(
    setup: AuctionSetup | None = None, seeds: int = 3
) -> dict[str, dict[str, float]]:
    """The agent vs the best fixed bid in hindsight vs the oracle; means over seeds."""
    setup = setup or AuctionSetup()
    agent, fixed, oracle = [], [], []
    best_bids: list[float] = []
    for seed in range(seeds):
        agent.append(run_auctions(setup, BidAgent(setup, np.random.default_rng(seed)), seed))
        by_bid = {bid: run_auctions(setup, bid, seed) for bid in FIXED_BIDS}
        best = max(by_bid, key=lambda b: by_bid[b].conversions)
        best_bids.append(best)
        fixed.append(by_bid[best])
        by_pace = {pace: run_auctions(setup, "oracle", seed, pace) for pace in ORACLE_PACES}
        oracle.append(by_pace[max(by_pace, key=lambda p: by_pace[p].conversions)])

    def summary(runs: list[BidOutcome]) -> dict[str, float]:
        return {
            "conversions": float(np.mean([r.conversions for r in runs])),
            "spend": float(np.mean([r.spend for r in runs])),
            "max_daily_spend": float(max(max(r.daily_spend) for r in runs)),
            "days_over_budget": float(
                sum(sum(1 for s in r.daily_spend if s > setup.budget + 1e-9) for r in runs)
            ),
        }

    out = {"agent": summary(agent), "best_fixed_bid": summary(fixed), "oracle": summary(oracle)}
    out["best_fixed_bid"]["bid"] = float(np.mean(best_bids))
    out["agent"]["gain_over_best_fixed"] = (
        out["agent"]["conversions"] / out["best_fixed_bid"]["conversions"] - 1
    )
    out["agent"]["share_of_oracle"] = out["agent"]["conversions"] / out["oracle"]["conversions"]
    out["budget_per_day"] = {"budget": setup.budget, "days": float(setup.days)}
    return out
