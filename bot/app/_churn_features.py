"""Churn on the platform's own customers: features from the modules' public services, the label
(a shop's list of known churners, or the proxy "no order in the next N days"), training, scoring
and the retention effects (coupon notice, priority routing, follow-up ticket).

It lives in the wiring because it crosses modules: orders, conversations, handoffs, tickets and
insights each answer through their public service and none of them knows the others.

Features are taken *as of* a moment: only orders, messages, handoffs and tickets before it count.
The proxy label looks at the window after that moment, so training on it never sees the future
it predicts (``as_of = today - N days``; churned = no order placed in the N days since).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import pandas as pd  # type: ignore[import-untyped]

from bot.app._analytics import fallback_texts
from bot.conversations import (
    IDENTIFIED_CHANNELS,
    ConversationService,
    StoredMessage,
    customer_id,
    identified_sender,
    vouched_senders,
)
from bot.handoff import HandoffService
from bot.insights import (
    ActionKind,
    AtRiskCustomer,
    ChurnDataError,
    ChurnModel,
    ChurnReport,
    ChurnScore,
    ChurnScores,
    ChurnTable,
    Effect,
    RetentionRule,
    RetentionUndeliverable,
    train_churn,
)
from bot.orders import Order, OrderService
from bot.tickets import MAX_PAGE, TicketDraft, TicketQuery, TicketService, TicketView

logger = logging.getLogger(__name__)

# The one channel whose sender is the shop's customer id (bot.conversations.customer_id).
CUSTOMER_CHANNEL = sorted(IDENTIFIED_CHANNELS)[0]
RETURN_STATUSES = frozenset({"return_requested", "returned", "refunded"})
COMPLAINT_HANDOFFS = frozenset({"severe_complaint", "angry"})
OPEN_TICKET_STATUSES = frozenset({"new", "open", "pending_customer", "reopened"})
MAX_MESSAGES = 2000
MAX_CUSTOMERS = 200_000
# Names of the features in the reasons agents read (zh, en).
FEATURE_LABELS: dict[str, tuple[str, str]] = {
    "days_since_last_order": ("距上次下单天数", "days since the last order"),
    "orders": ("订单数", "number of orders"),
    "spend": ("累计消费（元）", "spend (yuan)"),
    "returns": ("退货次数", "returns"),
    "cancellations": ("取消订单数", "cancelled orders"),
    "complaints": ("投诉次数", "complaints"),
    "handoffs": ("转人工次数", "handoffs to an agent"),
    "fallbacks": ("机器人没听懂的次数", "messages the bot did not understand"),
    "sentiment_mean": ("平均情绪", "average sentiment"),
    "sentiment_trend": ("情绪变化（近期减早期）", "sentiment trend (recent minus earlier)"),
    "open_tickets": ("未解决工单", "open tickets"),
    "breached_tickets": ("超出时限的工单", "tickets past their SLA"),
    "csat": ("满意度评分", "satisfaction score (CSAT)"),
    "tier": ("会员等级", "membership tier"),
}
FEATURES = tuple(FEATURE_LABELS)
# A customer with no orders before the cutoff: recency stands at this many days.
NO_ORDER_DAYS = 3650.0


@dataclass(frozen=True)
class CustomerActivity:
    """One customer's features as of a moment, plus their value (spend) for the retention rules."""

    customer_id: str
    channel: str
    features: dict[str, float | str]

    @property
    def value(self) -> float:
        spend = self.features.get("spend", 0.0)
        return float(spend) if isinstance(spend, int | float) else 0.0


class ChurnFeatureBuilder:
    """Customer-level churn features from the orders, conversations, handoffs and tickets."""

    def __init__(
        self,
        orders: OrderService,
        conversations: ConversationService,
        handoffs: HandoffService,
        tickets: TicketService,
    ) -> None:
        self._orders = orders
        self._conversations = conversations
        self._handoffs = handoffs
        self._tickets = tickets
        self._fallbacks = fallback_texts()

    async def customer_ids(self) -> list[str]:
        """Every customer the order store knows."""
        ids = await asyncio.to_thread(self._orders.customer_ids)
        if len(ids) > MAX_CUSTOMERS:
            raise ChurnDataError(f"more than {MAX_CUSTOMERS} customers; score them in parts")
        return ids

    async def activity(self, customer_id: str, as_of: datetime) -> CustomerActivity:
        """The customer's features counting only what happened before ``as_of``."""
        orders = await asyncio.to_thread(self._orders.orders_of, customer_id)
        tier = await asyncio.to_thread(self._orders.tier_of, customer_id)
        features: dict[str, float | str] = {"tier": tier or "unknown"}
        # Orders are dated in the shop's time zone: a UTC date is a day off for part of the day.
        features |= order_features(orders, self._orders.date_of(as_of))
        messages, handoffs, channel = await self._conversations_of(customer_id, as_of)
        tickets = [t for t in await self._tickets_of(customer_id) if t.created_at < as_of]
        features |= self._conversation_features(messages, handoffs)
        features |= ticket_features(tickets, as_of)
        features["complaints"] = float(
            sum(1 for h in handoffs if h.get("reason") in COMPLAINT_HANDOFFS)
            + sum(1 for t in tickets if t.category == "complaint")
        )
        scores = [float(str(h["csat"])) for h in handoffs if h.get("csat") is not None]
        scores += [float(t.satisfaction) for t in tickets if t.satisfaction is not None]
        features["csat"] = float(np.mean(scores)) if scores else math.nan
        return CustomerActivity(customer_id, channel, features)

    async def activities(
        self, as_of: datetime, customer_ids: Iterable[str] | None = None
    ) -> list[CustomerActivity]:
        """Features of the given customers (every customer by default) as of ``as_of``."""
        ids = list(customer_ids) if customer_ids is not None else await self.customer_ids()
        return [await self.activity(c, as_of) for c in ids]

    async def _conversations_of(
        self, customer_id: str, as_of: datetime
    ) -> tuple[list[StoredMessage], list[dict[str, object]], str]:
        """The messages (in time order) and handoffs before ``as_of`` of every conversation a
        channel vouches is the customer's: the shop's back end on ``rest`` and the web chat of
        an identified customer alike (an anonymous session is nobody's); and the channel the
        customer last wrote on (where a retention coupon reaches them; ``rest`` if none)."""
        messages: list[StoredMessage] = []
        handoffs: list[dict[str, object]] = []
        latest: tuple[datetime, str] | None = None
        for channel, sender in vouched_senders(customer_id):
            conversation = await self._conversations.find(channel, sender)
            if conversation is None:
                continue
            history = await self._conversations.history(conversation, limit=MAX_MESSAGES)
            before = [m for m in history if m.created_at < as_of]
            messages += before
            wrote = [m.created_at for m in before if m.direction == "in"]
            if wrote and (latest is None or max(wrote) > latest[0]):
                latest = max(wrote), channel
            exported = await self._handoffs.export_conversation(conversation)
            handoffs += [h for h in exported["handoffs"] if _before(h.get("requested_at"), as_of)]
        messages.sort(key=lambda m: m.created_at)  # the sentiment trend reads them in time order
        return messages, handoffs, latest[1] if latest is not None else CUSTOMER_CHANNEL

    async def _tickets_of(self, customer_id: str) -> list[TicketView]:
        found: list[TicketView] = []
        while True:
            page = await self._tickets.list_tickets(
                TicketQuery(
                    customer_id=customer_id,
                    sort="-created_at",
                    offset=len(found),
                    limit=MAX_PAGE,
                    count_total=False,
                )
            )
            found.extend(page.items)
            if len(page.items) < MAX_PAGE:
                return found

    def _conversation_features(
        self, messages: Sequence[StoredMessage], handoffs: Sequence[dict[str, object]]
    ) -> dict[str, float | str]:
        scored = [m.sentiment for m in messages if m.direction == "in" and m.sentiment is not None]
        half = len(scored) // 2
        trend = float(np.mean(scored[half:]) - np.mean(scored[:half])) if half else 0.0
        fallbacks = sum(
            1 for m in messages if m.direction == "out" and m.text.strip() in self._fallbacks
        )
        return {
            "handoffs": float(len(handoffs)),
            "fallbacks": float(fallbacks),
            "sentiment_mean": float(np.mean(scored)) if scored else 0.0,
            "sentiment_trend": round(trend, 4),
        }


def _before(moment: object, as_of: datetime) -> bool:
    return isinstance(moment, str) and datetime.fromisoformat(moment) < as_of


def order_features(orders: Sequence[Order], as_of: date) -> dict[str, float | str]:
    """Recency, frequency, monetary value, returns and cancellations of orders before ``as_of``."""
    before = [o for o in orders if o.placed_on < as_of]
    kept = [o for o in before if o.status != "cancelled"]
    last = max((o.placed_on for o in before), default=None)
    return {
        "days_since_last_order": float((as_of - last).days) if last else NO_ORDER_DAYS,
        "orders": float(len(kept)),
        "spend": float(sum(o.total for o in kept if o.status not in RETURN_STATUSES)),
        "returns": float(sum(1 for o in before if o.status in RETURN_STATUSES)),
        "cancellations": float(sum(1 for o in before if o.status == "cancelled")),
    }


def ticket_features(tickets: Sequence[TicketView], as_of: datetime) -> dict[str, float | str]:
    """Tickets still open at ``as_of`` and tickets that missed an SLA deadline before it."""

    def open_then(t: TicketView) -> bool:
        if t.status in OPEN_TICKET_STATUSES:
            return True
        done = t.resolved_at or t.closed_at
        return done is None or done >= as_of  # resolved only after the moment

    def breached(t: TicketView) -> bool:
        moments = (t.first_response_breached_at, t.resolution_breached_at)
        return any(m is not None and m < as_of for m in moments)

    return {
        "open_tickets": float(sum(1 for t in tickets if open_then(t))),
        "breached_tickets": float(sum(1 for t in tickets if breached(t))),
    }


def proxy_labels(
    orders_by_customer: Mapping[str, Sequence[Order]], as_of: date, days: int
) -> dict[str, int]:
    """1 (churned) for a customer with no order placed in ``[as_of, as_of + days)``."""
    end = as_of + timedelta(days=days)
    return {
        c: int(not any(as_of <= o.placed_on < end for o in orders))
        for c, orders in orders_by_customer.items()
    }


def midnight(day: date) -> datetime:
    """The start of ``day`` in UTC (features are cut at day boundaries)."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def activity_table(activities: Sequence[CustomerActivity]) -> pd.DataFrame:
    """One row per customer, the features in a fixed order."""
    return pd.DataFrame([{f: a.features[f] for f in FEATURES} for a in activities])


def train_on_activity(
    activities: Sequence[CustomerActivity], labels: Mapping[str, int], seed: int = 0
) -> tuple[ChurnModel, ChurnReport]:
    """The calibrated churn model on the customers that have a label."""
    labelled = [a for a in activities if a.customer_id in labels]
    if not labelled:
        raise ChurnDataError("no customer of the label list is known to the order store")
    table = ChurnTable(
        activity_table(labelled),
        np.array([labels[a.customer_id] for a in labelled], dtype=int),
        [a.customer_id for a in labelled],
    )
    return train_churn(table, seed, FEATURE_LABELS)


def score_activity(
    model: ChurnModel, activities: Sequence[CustomerActivity], model_name: str
) -> list[ChurnScore]:
    """Each customer's calibrated risk and top three reasons in Chinese and English."""
    if not activities:
        return []
    table = activity_table(activities)
    risk = model.risk(table)
    scores: list[ChurnScore] = []
    for position, activity in enumerate(activities):
        row = table.iloc[[position]]
        scores.append(
            ChurnScore(
                activity.customer_id,
                activity.channel,
                float(risk[position]),
                activity.value,
                tuple(model.reasons(row, "zh")),
                tuple(model.reasons(row, "en")),
                model_name,
            )
        )
    return scores


def save_model(model: ChurnModel, path: Path) -> None:
    """Write the fitted model (joblib pickle: load only files this command wrote)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)


def load_model(path: Path) -> ChurnModel:
    """The model ``churn-train`` wrote; ChurnDataError when there is none or it is not one."""
    if not path.is_file():
        raise ChurnDataError(f"{path} does not exist; run `python -m bot insights churn-train`")
    try:
        model = joblib.load(path)
    except Exception as exc:  # a corrupt pickle raises anything from EOFError to KeyError
        raise ChurnDataError(f"{path} is not a churn model written by churn-train ({exc})") from exc
    if not isinstance(model, ChurnModel):
        raise ChurnDataError(f"{path} is not a churn model written by churn-train")
    return model


def at_risk(scores: Iterable[ChurnScore]) -> list[AtRiskCustomer]:
    """Scores as the retention desk reads them."""
    return [AtRiskCustomer(s.customer_id, s.channel, s.risk, s.value) for s in scores]


def churn_context(
    scores: ChurnScores,
) -> Callable[[str, str, str], Awaitable[dict[str, Any] | None]]:
    """The console's churn panel: risk and the top three reasons in Chinese and English, for a
    customer the channel vouches for and the last scoring run scored."""

    async def lookup(channel: str, sender: str, _language: str) -> dict[str, Any] | None:
        account = customer_id(channel, sender)
        score = await scores.of(account) if account is not None else None
        if score is None:
            return None
        return {
            "risk": round(score.risk, 3),
            # Both languages: the agent reads the console's language, not the customer's.
            "reasons": {"zh": list(score.reasons_zh), "en": list(score.reasons_en)},
            "model": score.model,
            "scored_at": score.scored_at.isoformat() if score.scored_at else None,
        }

    return lookup


# ---- retention effects -----------------------------------------------------------------------

COUPON_TEXT = {
    "zh": "感谢您一直以来的支持！我们为您准备了一张专属优惠券（{code}），下次下单时可直接使用。",
    "en": "Thank you for staying with us! Here is a coupon just for you ({code}) "
    "for your next order.",
}


@dataclass(frozen=True)
class RetentionEffects:
    """What a treated customer gets: a coupon notice in their conversation, priority routing
    (their next handoff is queued with the handoff module's VIP priority), a follow-up ticket."""

    conversations: ConversationService
    tickets: TicketService
    coupon_code: str = "STAY10"
    follow_up_team: str = "general"

    async def coupon(self, customer: AtRiskCustomer, rule: RetentionRule) -> str:
        # The customer's own conversation on the channel they last wrote on (the identified
        # web chat's sender is ``customer:<id>``); consent was checked on that channel.
        sender = identified_sender(customer.channel, customer.customer_id)
        conversation = await self.conversations.find(customer.channel, sender)
        if conversation is None:
            raise RetentionUndeliverable("the customer has no conversation to send the coupon to")
        history = await self.conversations.history(conversation, limit=20)
        language = next((m.language for m in reversed(history) if m.language), "zh")
        text = COUPON_TEXT["zh" if language == "zh" else "en"].format(code=self.coupon_code)
        message = await self.conversations.post(
            conversation,
            text,
            author="system",
            payload={"custom": {"kind": "retention_coupon", "code": self.coupon_code}},
        )
        return f"coupon {self.coupon_code} posted as message {message.id}"

    async def priority_routing(self, customer: AtRiskCustomer, rule: RetentionRule) -> str:
        # Nothing to send now: the VIP lookup reads this decision when the customer next asks
        # for a human (bot.app._customers.CustomerFacts.is_vip).
        return "the next handoff is queued with VIP priority"

    async def follow_up_ticket(self, customer: AtRiskCustomer, rule: RetentionRule) -> str:
        draft = TicketDraft(
            customer_id=customer.customer_id,
            subject="Retention follow-up: customer at risk of churning",
            description=(
                f"Churn risk {customer.risk:.2f}, value {customer.value:.0f} yuan "
                f"(rule {rule.name}). Call or write to the customer and note the outcome."
            ),
            category="account",
            channel=customer.channel,
            team=self.follow_up_team,
            priority="P2",
            tags=("retention",),
        )
        ticket, _created = await self.tickets.create(
            draft,
            actor="retention",
            idempotency_key=f"retention-{rule.name}-{customer.customer_id}"[:128],
        )
        return f"ticket {ticket.number}"

    def as_mapping(self) -> dict[ActionKind, Effect]:
        """The desk's ``effects=`` argument."""
        return {
            "coupon": self.coupon,
            "priority_routing": self.priority_routing,
            "follow_up_ticket": self.follow_up_ticket,
        }
