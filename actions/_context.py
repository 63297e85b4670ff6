"""What every action reads from the dialogue (language, customer, sentiment, response texts) and
the services it calls.

The services come from the wiring: ``python -m bot actions`` builds them once and calls
``configure`` before the action server loads this package (rasa-sdk has no other way in).
Language and sentiment are decided once, by the hub, and travel in the message's metadata.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rasa_sdk import Tracker

from bot.dialogue import order_message_task, other_requests
from bot.insights import Sentiment
from bot.language import Language
from bot.orders import ORDER_ID_PATTERN, OrderService, order_ids_in
from bot.privacy import AuditLog, ConsentService, PrivacyError
from bot.recommend import RecommendService
from bot.storage import utcnow
from bot.tickets import TicketService
from knowledge import KnowledgeBase

logger = logging.getLogger(__name__)

_ORDER_ID_IN_TEXT = re.compile(ORDER_ID_PATTERN, re.IGNORECASE)


@dataclass(frozen=True)
class ActionServices:
    """The modules custom actions call."""

    orders: OrderService
    knowledge: Callable[[], KnowledgeBase]  # the one knowledge base, opened on first use
    tickets: TicketService
    audit: AuditLog | None = None  # failed verifications are recorded here when given
    recommend: RecommendService | None = None  # without it: the catalogue filtered by the form
    consents: ConsentService | None = None  # personalised ranking only with a recorded opt-in


_services: ActionServices | None = None


def configure(services: ActionServices | None) -> None:
    """Hand the actions their services; the wiring calls this once per process (None: none)."""
    global _services
    _services = services


def services() -> ActionServices:
    """The services the wiring configured."""
    if _services is None:
        raise RuntimeError(
            "the actions have no services: start the action server with `python -m bot actions` "
            "(not `rasa run actions`), which builds them from the settings"
        )
    return _services


def order_service() -> OrderService:
    """The order service of this process."""
    return services().orders


def ticket_service() -> TicketService:
    """The ticket service of this process."""
    return services().tickets


def language_of(tracker: Tracker) -> Language:
    """The customer's current language, from the ``language`` slot (English when unknown)."""
    return "zh" if tracker.get_slot("language") == "zh" else "en"


def _metadata(tracker: Tracker) -> dict[str, Any]:
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return metadata if isinstance(metadata, dict) else {}


def customer_id_of(tracker: Tracker) -> str | None:
    """The channel's id of the customer, which the hub sends as ``metadata.customer_id``."""
    value = _metadata(tracker).get("customer_id")
    return str(value) if value else None


def customer_key_of(tracker: Tracker) -> str:
    """Whom the customer's tickets belong to: the hub's ``metadata.customer_key`` (the shop's
    customer id on ``rest``, else ``channel:sender``), or the Rasa conversation when the message
    did not come through the hub (``rasa shell``)."""
    value = _metadata(tracker).get("customer_key")
    return str(value) if value else f"rasa:{tracker.sender_id}"[:128]


def recommendation_key_of(tracker: Tracker) -> str:
    """Whom recommendation events name: the person the hub linked this app identity to by a
    verified phone (``metadata.linked_customer``), else ``customer_key_of``."""
    value = _metadata(tracker).get("linked_customer")
    return str(value)[:128] if value else customer_key_of(tracker)


def phone_offer_of(tracker: Tracker) -> str | None:
    """How the customer's app can vouch for their number in this chat (``metadata.phone_offer``:
    ``contact`` for Telegram's share-my-number, ``directory`` for an app that looks it up), as
    the hub's app connector says; None elsewhere."""
    value = _metadata(tracker).get("phone_offer")
    return str(value) if value in ("contact", "directory") else None


def channel_of(tracker: Tracker) -> str:
    """The channel the customer writes on (``metadata.channel``), ``rasa`` outside the hub."""
    value = _metadata(tracker).get("channel")
    return str(value) if value else "rasa"


def sentiment_of(tracker: Tracker) -> Sentiment:
    """The hub's score of the customer's latest message (``metadata.sentiment``); neutral when
    the message did not come through the hub (``rasa shell``)."""
    return Sentiment.from_metadata(_metadata(tracker).get("sentiment"))


async def audit_failure(tracker: Tracker, action: str, reason: str) -> None:
    """Write a customer's failed verification to the audit log (``action`` such as
    ``order.verify_failed``; ``reason`` names ids, never what the customer typed)."""
    audit = services().audit
    if audit is None:
        return
    customer = customer_key_of(tracker)  # the privacy key, as consents and exports use it
    try:
        await audit.record("customer", customer[:64], action, customer[:128], reason)
    except PrivacyError:
        # A record the log refuses (it would hold personal data) must not stop the dialogue;
        # the refusal itself is logged without the record.
        logger.exception("the audit log refused a %s record", action)


async def failures_today(action: str, reason: str) -> int:
    """How many failures ``audit_failure`` recorded with this ``action`` and ``reason`` in the
    last day, over every conversation (limits that a new conversation must not reset); 0
    without an audit log."""
    audit = services().audit
    if audit is None:
        return 0
    return await audit.count(action=action, reason=reason, since=utcnow() - timedelta(days=1))


def entity_values(tracker: Tracker, entity: str) -> list[str]:
    """Values of ``entity`` in the customer's latest message."""
    return [
        str(e.get("value"))
        for e in (tracker.latest_message or {}).get("entities") or []
        if e.get("entity") == entity
    ]


def response_text(domain: dict[str, Any], name: str, language: Language) -> str:
    """The text of a domain response in ``language`` (the unconditioned variant is English)."""
    variants = (domain.get("responses") or {}).get(name) or []
    for variant in variants:
        conditions = variant.get("condition") or []
        is_zh = any(c.get("name") == "language" and c.get("value") == "zh" for c in conditions)
        if is_zh == (language == "zh"):
            return str(variant.get("text") or "")
    raise KeyError(f"the domain has no {language} variant of the response {name!r}")


def order_request_task(tracker: Tracker) -> str | None:
    """The order task that a message outside any form asks for by its words when NLU could not
    tell ("订单YX…", "trak YX…", "YX…收货地址改为…"): None inside a form, for a message naming
    no order or several, and when its other words ask for something else."""
    if (tracker.active_loop or {}).get("name"):
        return None
    text = str((tracker.latest_message or {}).get("text") or "")
    # Several requests in one message keep their own path (answer, then the order: see
    # ActionFallbackSuggest), so that none of them is dropped.
    if len(set(order_ids_in(text))) != 1 or other_requests(text):
        return None
    return order_message_task(_ORDER_ID_IN_TEXT.sub(" ", text))
