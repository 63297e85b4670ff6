"""What every action reads from the dialogue: language, customer, response texts; the services.

Services are built once per action-server process, on first use, from ``Settings()``.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from rasa_sdk import Tracker

from bot.insights import SentimentAnalyzer
from bot.orders import OrderService
from bot.settings import Settings

Language = Literal["zh", "en"]


@cache
def order_service() -> OrderService:
    """The order service of this process."""
    return OrderService.from_settings(Settings())


@cache
def sentiment_analyzer() -> SentimentAnalyzer:
    """The sentiment analyzer of this process (the hub uses the same rules)."""
    return SentimentAnalyzer()


def language_of(tracker: Tracker) -> Language:
    """The customer's current language, from the ``language`` slot (English when unknown)."""
    return "zh" if tracker.get_slot("language") == "zh" else "en"


def customer_id_of(tracker: Tracker) -> str | None:
    """The channel's id of the customer, which the hub sends as ``metadata.customer_id``."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    value = metadata.get("customer_id") if isinstance(metadata, dict) else None
    return str(value) if value else None


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
