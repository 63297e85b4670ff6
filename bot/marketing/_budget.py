"""Budget allocation on the shop's own results: how many messages to send to each saved
segment on each channel so that a budget buys the most expected conversions.

Each (segment, channel) cell's conversion rate is learnt from the campaigns sent to that
segment before: a Beta posterior of the rate from its sends and the orders attributed to them,
with a prior pooled over every cell (the shop's overall rate, worth ``PRIOR_SENDS`` sends), so a
cell nobody has tried yet is planned at the shop's usual rate, not at an optimistic 50 %. The
plan is the linear programme the simulator evaluates (``allocate``: maximise the sum of sends ×
posterior mean within the budget and each cell's reachable audience), beside an even split of
the budget under the same means for comparison. The simulator's figure for this method (96.5 %
of the plan on true rates, an even split 71.8 %) is on synthetic worlds; here the rates are the
shop's own, so the plan is as good as the campaigns it learnt from, and each cell says from how
many sends.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.marketing._errors import InvalidMarketingRequest, InvalidSegment
from bot.marketing._segments import Segment
from bot.marketing._service import MarketingService
from bot.marketing._simulator import allocate, even_split
from bot.marketing._tables import CampaignConversionRow, CampaignRow, RecipientRow
from bot.storage import Database

PRIOR_SENDS = 20.0  # how much the pooled prior weighs, in sends
INTERVAL = 0.90  # the credible interval shown per cell
MAX_BUDGET = 1e9
MAX_COST = 1e4
MAX_CELLS = 500


@dataclass(frozen=True)
class CellPlan:
    """One segment on one channel: what was learnt of it and what the plan sends it."""

    segment: str
    channel: str
    cost: float  # per message
    reachable: int  # members with a marketing opt-in on the channel
    sent: int  # messages earlier campaigns sent this segment on this channel
    conversions: int  # of those recipients, how many bought within the attribution window
    rate: float  # posterior mean of the conversion rate
    interval: tuple[float, float]
    sends: int  # planned
    spend: float
    expected_conversions: float


@dataclass(frozen=True)
class BudgetPlan:
    """The plan for a budget, with the even split's expected conversions beside it."""

    budget: float
    spend: float
    expected_conversions: float
    even_split_conversions: float
    prior_rate: float  # the pooled rate every cell starts from
    cells: list[CellPlan]


class BudgetPlanner:
    """Plans a budget across saved segments and channels from the campaigns' own results."""

    def __init__(self, database: Database, marketing: MarketingService) -> None:
        self._db = database
        self._marketing = marketing

    async def plan(
        self, budget: float, costs: Mapping[str, float], segments: Sequence[str] = ()
    ) -> BudgetPlan:
        """The sends per (segment, channel) that maximise expected conversions within
        ``budget``, for the channels of ``costs`` (cost per message) and the saved segments
        named (all of them when none is)."""
        problems = _request_problems(budget, costs)
        saved = await self._marketing.segments()
        names = list(segments) or sorted(saved)
        unknown = [n for n in names if n not in saved]
        if unknown:
            problems.append(f"no saved segment is named {', '.join(map(repr, unknown))}")
        elif not names:
            problems.append("no segment is saved yet: save one first")
        if problems:
            raise InvalidMarketingRequest("; ".join(problems))
        cells: list[tuple[str, str, int]] = []
        for name in names:
            members = await self._marketing.members(saved[name])
            for channel in sorted(costs):
                reachable = sum(1 for m in members if m.channel == channel and m.consented)
                cells.append((name, channel, reachable))
        if len(cells) > MAX_CELLS:
            raise InvalidMarketingRequest(f"at most {MAX_CELLS} segment × channel cells")
        if not any(reachable for _, _, reachable in cells):
            raise InvalidMarketingRequest(
                "nobody in these segments has a marketing opt-in on these channels"
            )
        history = await self._history(saved, names)
        if not any(history.get((name, channel)) for name, channel, _ in cells):
            raise InvalidMarketingRequest(
                "no campaign has been sent to these segments on these channels yet: the plan "
                "learns from their results, so send a first (pilot) campaign to each first"
            )
        return _plan(budget, costs, cells, history)

    async def _history(
        self, saved: Mapping[str, str], names: Sequence[str]
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """(segment name, channel) -> (messages sent, recipients who converted), over the
        campaigns whose audience was that saved segment's expression."""
        by_expression = {Segment.parse(saved[n]).expression: n for n in names}

        def read(session: Session) -> dict[tuple[str, str], tuple[int, int]]:
            campaigns = {
                row.id: by_expression.get(_normalised(row.segment) or "")
                for row in session.execute(select(CampaignRow.id, CampaignRow.segment))
            }
            sent = session.execute(
                select(RecipientRow.campaign_id, RecipientRow.channel, func.count())
                .where(RecipientRow.status == "sent")
                .group_by(RecipientRow.campaign_id, RecipientRow.channel)
            ).all()
            converted = session.execute(
                select(
                    RecipientRow.campaign_id,
                    RecipientRow.channel,
                    func.count(func.distinct(CampaignConversionRow.recipient_id)),
                )
                .join(RecipientRow, RecipientRow.id == CampaignConversionRow.recipient_id)
                .group_by(RecipientRow.campaign_id, RecipientRow.channel)
            ).all()
            totals: dict[tuple[str, str], list[int]] = {}
            for rows, index in ((sent, 0), (converted, 1)):
                for campaign_id, channel, n in rows:
                    name = campaigns.get(campaign_id)
                    if name is not None:
                        totals.setdefault((name, channel), [0, 0])[index] += int(n)
            return {key: (n, c) for key, (n, c) in totals.items()}

        return await self._db.session(read)


def _normalised(expression: str) -> str | None:
    try:
        return Segment.parse(expression).expression
    except InvalidSegment:  # a campaign stored before a grammar change: no saved segment's
        return None


def _request_problems(budget: float, costs: Mapping[str, float]) -> list[str]:
    problems = []
    if not (math.isfinite(budget) and 0 < budget <= MAX_BUDGET):
        problems.append(f"budget must be more than 0 and at most {MAX_BUDGET:g}")
    if not costs:
        problems.append("give the cost per message of at least one channel")
    bad = sorted(c for c, v in costs.items() if not (math.isfinite(v) and 0 < v <= MAX_COST))
    if bad:
        problems.append(
            f"the cost per message must be more than 0 and at most {MAX_COST:g} "
            f"(not for {', '.join(bad)})"
        )
    return problems


def _plan(
    budget: float,
    costs: Mapping[str, float],
    cells: Sequence[tuple[str, str, int]],
    history: Mapping[tuple[str, str], tuple[int, int]],
) -> BudgetPlan:
    observed = [history.get((name, channel), (0, 0)) for name, channel, _ in cells]
    total_sent = sum(n for n, _ in observed)
    total_converted = sum(c for _, c in observed)
    prior_rate = (total_converted + 1) / (total_sent + 2)
    a0, b0 = PRIOR_SENDS * prior_rate, PRIOR_SENDS * (1 - prior_rate)
    a = np.array([a0 + c for _, c in observed])
    b = np.array([b0 + n - c for n, c in observed])
    means = a / (a + b)
    capacity = np.array([float(reachable) for _, _, reachable in cells])
    cost = np.array([costs[channel] for _, channel, _ in cells])
    # Whole messages: the LP's vertex is integral but for one cell, which is rounded down.
    sends = np.floor(allocate(means[None, :], capacity[None, :], cost[None, :], budget)[0] + 1e-9)
    even = even_split(capacity[None, :], cost[None, :], budget)[0]
    low = beta.ppf((1 - INTERVAL) / 2, a, b)
    high = beta.ppf((1 + INTERVAL) / 2, a, b)
    plans = [
        CellPlan(
            name,
            channel,
            float(cost[i]),
            reachable,
            observed[i][0],
            observed[i][1],
            float(means[i]),
            (float(low[i]), float(high[i])),
            int(sends[i]),
            float(sends[i] * cost[i]),
            float(sends[i] * means[i]),
        )
        for i, (name, channel, reachable) in enumerate(cells)
    ]
    return BudgetPlan(
        budget,
        float((sends * cost).sum()),
        float((sends * means).sum()),
        float((even * means).sum()),
        prior_rate,
        plans,
    )
