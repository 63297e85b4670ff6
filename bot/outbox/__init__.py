"""Outbox: messages for customers on messaging apps, stored before sending and retried with
backoff until the app takes or refuses them; inbound deliveries de-duplicated by message id."""

from bot.outbox._errors import (
    AlreadySent,
    OutboxError,
    OutboxMessageNotFound,
    SendFailed,
    Undeliverable,
)
from bot.outbox._service import (
    GAVE_UP,
    PENDING,
    SENT,
    OutboundMessage,
    Outbox,
    PendingInbound,
    RetryPolicy,
    Sender,
)

__all__ = [
    "GAVE_UP",
    "PENDING",
    "SENT",
    "AlreadySent",
    "OutboundMessage",
    "Outbox",
    "OutboxError",
    "OutboxMessageNotFound",
    "PendingInbound",
    "RetryPolicy",
    "SendFailed",
    "Sender",
    "Undeliverable",
]
