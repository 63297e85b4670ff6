"""What became of a campaign message after the campaign handed it over.

A courier answers with a ``Handover``: the message waits in a queue before the channel's API
("queued": the messaging apps' durable outbox, which retries until the app takes or refuses
it) or the channel's API accepted it ("sent"). Later news, read from the queue or pushed by a
channel that reports deliveries, moves it on: "sent", "delivered", "read", or "failed" with the
reason (a failed message is a failed recipient, and its send no longer counts against the
caps). A state never goes back, and "failed" is final.

Most channels say nothing after accepting a message: for them "sent" (accepted by the channel)
is all the shop can know, and the report says so per channel (``DELIVERY_KNOWN``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

DeliveryState = Literal["queued", "sent", "delivered", "read", "failed"]
QUEUED, ACCEPTED, DELIVERED, READ, UNDELIVERED = "queued", "sent", "delivered", "read", "failed"
DELIVERY_STATES: tuple[DeliveryState, ...] = ("queued", "sent", "delivered", "read", "failed")
# The states a message may still move on from, for each state it may move to.
EARLIER: dict[str, tuple[str, ...]] = {
    ACCEPTED: (QUEUED,),
    DELIVERED: (QUEUED, ACCEPTED),
    READ: (QUEUED, ACCEPTED, DELIVERED),
    UNDELIVERED: (QUEUED, ACCEPTED, DELIVERED),
}

ACCEPTED_ONLY = (
    "sent = accepted by the channel's API; the channel reports no delivery or read receipt"
)
# What each channel tells the shop after it took a message (the wiring adds the receipts it
# follows, ``Campaigns.follow_receipts``).
DELIVERY_KNOWN: dict[str, str] = {
    "email": "sent = accepted by the SMTP server; bounces and opens are not read",
    "rest": "sent = stored in the customer's conversation; the shop's back end fetches it",
    "webchat": "sent = stored in the customer's conversation, shown when they open the chat; "
    "no read receipt",
    "telegram": f"{ACCEPTED_ONLY} (the Bot API gives bots none)",
    "slack": f"{ACCEPTED_ONLY} (the Web API gives apps none)",
    "wechat": f"{ACCEPTED_ONLY} (customer-service messages have none)",
    "wecom": f"{ACCEPTED_ONLY} (application messages have none)",
    "dingtalk": f"{ACCEPTED_ONLY} (read status is a query API, not followed)",
    "feishu": f"{ACCEPTED_ONLY} (its message-read event is not subscribed)",
}


@dataclass(frozen=True)
class Handover:
    """Where a courier left a message: waiting before the channel's API ("queued") or taken by
    it ("sent"), and the key later news names it by (None: no news will come)."""

    state: Literal["queued", "sent"] = "sent"
    key: str | None = None


@dataclass(frozen=True)
class DeliveryNews:
    """A later state of a handed-over message, from its queue or its channel."""

    key: str
    state: DeliveryState
    at: datetime | None = None
    reason: str | None = None  # why it failed


# The news of queued messages by their keys (the outbox, through the wiring); a key with no
# news yet is left out.
DeliveryLookup = Callable[[Sequence[str]], Awaitable[list[DeliveryNews]]]
