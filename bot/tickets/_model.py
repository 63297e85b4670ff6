"""The ticket's vocabulary and its status transitions (the one table of allowed moves)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.tickets._errors import InvalidStatusChange, InvalidTicket

CATEGORIES = (
    "order",
    "return_refund",
    "delivery",
    "payment",
    "product",
    "account",
    "complaint",
    "other",
)
PRIORITIES = ("P1", "P2", "P3", "P4")  # P1 is the most urgent
STATUSES = ("new", "open", "pending_customer", "resolved", "closed", "reopened")
# Statuses in which the SLA clock runs; ``pending_customer`` pauses it, the rest stop it.
ACTIVE = ("new", "open", "reopened")
SLA_STATES = ("ok", "due_soon", "breached")
# The category of a ticket opened from the dialogue, by the customer's latest request (intent).
CATEGORY_OF_INTENT: Mapping[str, str] = {
    "check_order_status": "order",
    "cancel_order": "order",
    "request_return_refund": "return_refund",
    "change_address": "delivery",
    "complain": "complaint",
}

# Every allowed status change, in one place. ``closed`` is final (as in Zendesk): a customer who
# writes again gets a new ticket, so a closed ticket's figures never change.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "new": frozenset({"open", "pending_customer", "resolved", "closed"}),
    "open": frozenset({"pending_customer", "resolved", "closed"}),
    "pending_customer": frozenset({"open", "resolved", "closed"}),
    "resolved": frozenset({"reopened", "closed"}),
    "reopened": frozenset({"open", "pending_customer", "resolved", "closed"}),
    "closed": frozenset(),
}


def check_transition(number: str, current: str, wanted: str) -> None:
    """Raise ``InvalidStatusChange`` unless ``current`` → ``wanted`` is in ``TRANSITIONS``."""
    if wanted not in STATUSES:
        raise InvalidTicket(f"status {wanted!r} is unknown; use one of {', '.join(STATUSES)}")
    if wanted == current:
        raise InvalidStatusChange(f"ticket {number} is {current} already")
    allowed = TRANSITIONS[current]
    if wanted not in allowed:
        choices = ", ".join(sorted(allowed)) or "nothing: it is final"
        raise InvalidStatusChange(
            f"ticket {number} cannot go from {current} to {wanted}; from {current} it can go to "
            f"{choices}"
        )


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``; otherwise ``InvalidTicket`` naming the field."""
    if value not in allowed:
        raise InvalidTicket(f"{name} {value!r} is unknown; use one of {', '.join(allowed)}")
    return value


@dataclass(frozen=True)
class AttachmentRef:
    """A media original (by its media id) and the text read from it (transcript or OCR)."""

    media_id: str
    text: str = ""


@dataclass(frozen=True)
class TicketDraft:
    """What opening a ticket needs; priority is decided by the rules unless given."""

    customer_id: str
    subject: str
    description: str
    category: str = "other"
    channel: str = "rest"
    conversation_id: str | None = None
    language: str = "en"
    priority: str | None = None
    team: str = "general"
    tags: tuple[str, ...] = ()
    attachments: tuple[AttachmentRef, ...] = ()
    # Signals for the priority rules.
    angry: bool = False
    sentiment: float | None = None
    vip_tier: str | None = None


@dataclass(frozen=True)
class TicketChanges:
    """Fields an agent changes at once (``None``: leave as is); one history row per change."""

    subject: str | None = None
    category: str | None = None
    priority: str | None = None
    status: str | None = None
    team: str | None = None
    assignee: str | None = None
    unassign: bool = False
    tags: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TicketView:
    """A ticket as lists and the console show it."""

    number: str
    customer_id: str
    conversation_id: str | None
    channel: str
    language: str
    subject: str
    description: str
    category: str
    priority: str
    status: str
    team: str
    assignee: str | None
    tags: tuple[str, ...]
    vip_tier: str | None
    satisfaction: int | None
    merged_into: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    first_response_due_at: datetime | None
    first_responded_at: datetime | None
    first_response_breached_at: datetime | None
    resolution_due_at: datetime | None
    resolution_breached_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    paused_at: datetime | None
    next_due_at: datetime | None
    sla_state: str


@dataclass(frozen=True)
class TicketEntry:
    """A public reply, an internal note, or information the customer added."""

    id: int
    kind: str  # "reply" | "note" | "customer"
    author: str
    text: str
    created_at: datetime
    attachments: tuple[AttachmentRef, ...] = ()


@dataclass(frozen=True)
class SatisfactionComment:
    """What a customer wrote with their satisfaction score of a ticket (survey feedback)."""

    number: str
    score: int
    comment: str
    language: str
    given_at: datetime


@dataclass(frozen=True)
class HistoryRow:
    """One change of one field: who, when, old → new."""

    actor: str
    field: str
    old: str | None
    new: str | None
    at: datetime


@dataclass(frozen=True)
class TicketDetail:
    """A ticket with its conversation thread and, for agents, notes and history."""

    ticket: TicketView
    entries: tuple[TicketEntry, ...]
    attachments: tuple[AttachmentRef, ...]
    history: tuple[HistoryRow, ...] = field(default=())


@dataclass(frozen=True)
class TicketPage:
    """One page of a filtered, sorted ticket list; ``total`` is None when not counted."""

    items: tuple[TicketView, ...]
    total: int | None
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.items)
        if self.total is None:
            return end if len(self.items) == self.limit else None
        return end if end < self.total else None


@dataclass(frozen=True)
class CustomerNotification:
    """A message for the customer waiting in the outbox for their channel."""

    id: int
    ticket: str
    customer_id: str
    channel: str
    conversation_id: str | None
    kind: str  # "reply" | "status"
    text: str
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class SupervisorAlert:
    """An SLA breach the team's supervisor is told about."""

    id: int
    ticket: str
    team: str
    kind: str  # "first_response_breached" | "resolution_breached"
    created_at: datetime


@dataclass(frozen=True)
class SlaReport:
    """What one run of the SLA job did."""

    first_response_breaches: int
    resolution_breaches: int
    priorities_raised: int
    alerts: int
    closed: int


@dataclass(frozen=True)
class ConversationLine:
    """One message of the conversation a ticket is opened from."""

    author: str  # "customer" | "bot" | "agent" | "system"
    text: str
    at: datetime


@dataclass(frozen=True)
class ConversationSource:
    """A live conversation an agent turns into a ticket: who, where, and what was said."""

    conversation_id: str
    channel: str
    customer_id: str
    language: str
    team: str
    lines: tuple[ConversationLine, ...]
    angry: bool = False
    sentiment: float | None = None


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk change did to one ticket: the ticket as it now is, or why it was refused."""

    number: str
    ticket: TicketView | None
    error: str | None


@dataclass(frozen=True)
class TeamCompliance:
    """SLA figures of one team's tickets created in a period.

    ``met``: resolved or closed with neither due time missed; ``breached``: a due time missed
    (whatever the status now); the rest are still running on time. ``compliance`` is met out of
    met + breached (the analytics dashboard's definition), None when neither happened.
    """

    team: str
    tickets: int
    met: int
    breached: int
    first_response_breached: int
    resolution_breached: int
    open_now: int

    @property
    def compliance(self) -> float | None:
        decided = self.met + self.breached
        return None if decided == 0 else self.met / decided
