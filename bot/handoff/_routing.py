"""Priority, queue order, routing and wait estimates of handoff requests: pure functions.

Kept free of storage so the rules can be read and tested in one place; ``HandoffService`` feeds
them rows and writes back their decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

SKILLS = ("orders", "refunds", "technical", "sales", "general")

# Which agent skill an intent needs; anything else goes to "general".
SKILL_BY_INTENT = {
    "check_order_status": "orders",
    "change_address": "orders",
    "cancel_order": "orders",
    "request_return_refund": "refunds",
    "complain": "refunds",
    "ask_knowledge": "technical",
    "ask_recommendation": "sales",
}

# Base priority by reason (higher is served first).
REASON_PRIORITY = {
    "severe_complaint": 3,
    "angry": 3,
    "negative_sentiment": 2,
    "repeated_fallback": 1,
    "customer_request": 1,
    "vip": 1,
    "after_hours_message": 0,
}
VIP_BONUS = 2
AGING_STEP = timedelta(minutes=5)  # every 5 minutes of waiting adds one level…
AGING_MAX = 2  # …up to two, so a long wait cannot starve behind newer urgent requests forever
DEFAULT_HANDLE_TIME = timedelta(minutes=5)


@dataclass(frozen=True)
class QueuedRequest:
    """A handoff request waiting for an agent."""

    id: int
    reason: str
    language: str
    skill: str
    vip: bool
    requested_at: datetime


@dataclass(frozen=True)
class AgentLoad:
    """An agent as routing sees them."""

    id: int
    online: bool
    skills: frozenset[str]
    languages: frozenset[str]
    max_chats: int
    active_chats: int
    idle_since: datetime | None = None

    @property
    def free_slots(self) -> int:
        return max(0, self.max_chats - self.active_chats) if self.online else 0

    def can_take(self, request: QueuedRequest) -> bool:
        """Whether this agent may serve the request (skill and language)."""
        skill_ok = request.skill in self.skills or "general" in self.skills
        return skill_ok and request.language in self.languages


@dataclass
class Assignment:
    """A routing decision: this request goes to this agent."""

    request_id: int
    agent_id: int


@dataclass(frozen=True)
class QueuePosition:
    """Where a request stands: 1 is next; the estimate is a rough minute count."""

    position: int
    estimated_wait: timedelta
    agents_available: int = field(default=0)


def handoff_reason(
    requested: str | None,
    *,
    angry: bool,
    score: float,
    negative: bool,
    vip: bool,
    threshold: float,
    anxious: bool = False,
) -> str | None:
    """Why a turn goes to a human, or None: the one place that decides.

    ``requested`` is what the dialogue reported (the customer asked, took the human offered after
    a severe complaint, or the bot failed twice); then an angry message, one scoring at or below
    ``threshold`` (-1…1), or a negative one from a VIP customer. An ``anxious`` customer (worried,
    in a hurry: "挺着急的", "I fly tomorrow") is not handed over for a low score alone: the bot
    reassures and goes on with the task, which is the quickest help; they can still ask for a
    human, and anger still hands over.
    """
    if requested is not None:
        return requested if requested in REASON_PRIORITY else "customer_request"
    if angry:
        return "angry"
    if score <= threshold and not anxious:
        return "negative_sentiment"
    if negative and vip:
        return "vip"
    return None


def skill_for_intent(intent: str | None) -> str:
    """The agent skill a conversation about ``intent`` needs."""
    return SKILL_BY_INTENT.get(intent or "", "general")


def priority(request: QueuedRequest, now: datetime) -> int:
    """Reason, VIP status and waiting time, as one number: higher is served first."""
    waited = max(timedelta(0), now - request.requested_at)
    aging = min(AGING_MAX, int(waited / AGING_STEP))
    return REASON_PRIORITY.get(request.reason, 1) + (VIP_BONUS if request.vip else 0) + aging


def queue_order(requests: Sequence[QueuedRequest], now: datetime) -> list[QueuedRequest]:
    """Highest priority first; oldest first within a priority."""
    return sorted(requests, key=lambda r: (-priority(r, now), r.requested_at, r.id))


def route(
    requests: Sequence[QueuedRequest], agents: Sequence[AgentLoad], now: datetime
) -> list[Assignment]:
    """Assign queued requests to agents by skill, language and load.

    Requests are taken in queue order; each goes to the eligible agent with the most free slots
    (then the one idle longest). A request nobody can take now keeps its place, and requests
    behind it may still be served by other agents.
    """
    free = {agent.id: agent.free_slots for agent in agents}
    assignments: list[Assignment] = []
    for request in queue_order(requests, now):
        eligible = [a for a in agents if free[a.id] > 0 and a.can_take(request)]
        if not eligible:
            continue
        chosen = min(
            eligible,
            key=lambda a: (-free[a.id], a.idle_since or now, a.id),
        )
        free[chosen.id] -= 1
        assignments.append(Assignment(request.id, chosen.id))
    return assignments


def position_of(
    request_id: int,
    requests: Sequence[QueuedRequest],
    agents: Sequence[AgentLoad],
    now: datetime,
    handle_time: timedelta = DEFAULT_HANDLE_TIME,
) -> QueuePosition:
    """The request's place among those competing for the same agents, and a wait estimate."""
    ordered = queue_order(requests, now)
    target = next(r for r in ordered if r.id == request_id)
    competitors = [r for r in ordered if r.skill == target.skill and r.language == target.language]
    position = competitors.index(target) + 1
    serving = [a for a in agents if a.online and a.can_take(target)]
    if not serving:
        return QueuePosition(position, handle_time * position, 0)
    free_now = sum(a.free_slots for a in serving)
    if position <= free_now:
        return QueuePosition(position, timedelta(0), len(serving))
    capacity = max(1, sum(a.max_chats for a in serving))
    waves = -(-(position - free_now) // capacity)  # ceiling division
    return QueuePosition(position, handle_time * waves, len(serving))
