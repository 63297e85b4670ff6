"""Recommendation cards in the apps: what a stored message's cards and buttons are, as one
numbered list of choices every app renders its own way, and the payload of a card's feedback
button ("Details" is a click, "Not interested" a dismiss) that the connector records itself.

The dialogue's cards are the web-chat widget's generic template (``custom.attachment``); an app
with buttons shows each card's buttons beside it, an app without shows them as numbers that run
on across the cards, so "5" answers the second card's second button whatever the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

FEEDBACK_PREFIX = "rf:"  # "rf:dismiss:EL-001": short enough for Telegram's 64-byte callback data
FeedbackKind = Literal["click", "dismiss"]
FEEDBACK_KINDS: tuple[FeedbackKind, ...] = get_args(FeedbackKind)
MAX_ITEM_ID_CHARS = 64


@dataclass(frozen=True)
class Choice:
    """One button: what the customer sees and the payload a tap sends."""

    title: str
    payload: str


@dataclass(frozen=True)
class Card:
    """One recommended item as an app shows it."""

    title: str
    subtitle: str
    image: str | None
    choices: list[Choice]


def feedback_payload(kind: str, item_id: str) -> str:
    """The payload of a card's feedback button."""
    return f"{FEEDBACK_PREFIX}{kind}:{item_id}"


def feedback_of(payload: str | None) -> tuple[FeedbackKind, str] | None:
    """(``click`` | ``dismiss``, item id) when ``payload`` is a card's feedback button."""
    if not payload or not payload.startswith(FEEDBACK_PREFIX):
        return None
    kind, _, item_id = payload.removeprefix(FEEDBACK_PREFIX).partition(":")
    if not 0 < len(item_id) <= MAX_ITEM_ID_CHARS:
        return None
    for known in FEEDBACK_KINDS:
        if kind == known:
            return known, item_id
    return None


def cards_of(payload: dict[str, Any] | None) -> list[Card]:
    """The recommendation cards of a stored message (none for any other message)."""
    custom = (payload or {}).get("custom")
    attachment = custom.get("attachment") if isinstance(custom, dict) else None
    template = attachment.get("payload") if isinstance(attachment, dict) else None
    elements = template.get("elements") if isinstance(template, dict) else None
    if not isinstance(elements, list):
        return []
    cards = []
    for element in elements:
        if not isinstance(element, dict) or not element.get("title"):
            continue
        image = element.get("image_url")
        cards.append(
            Card(
                str(element["title"]),
                str(element.get("subtitle") or ""),
                image if isinstance(image, str) and image else None,
                [c for c in map(_choice, element.get("buttons") or []) if c is not None],
            )
        )
    return cards


def _choice(button: object) -> Choice | None:
    if not isinstance(button, dict) or not button.get("title"):
        return None
    title = str(button["title"])
    if button.get("type") == "recommendation_feedback":
        kind, item_id = button.get("event"), button.get("item_id")
        if kind in FEEDBACK_KINDS and isinstance(item_id, str) and item_id:
            return Choice(title, feedback_payload(str(kind), item_id))
        return None
    payload = button.get("payload")
    return Choice(title, payload) if isinstance(payload, str) and payload else None


def choices_of(payload: dict[str, Any] | None) -> list[Choice]:
    """Every button of a stored message in the order the apps number them: its own buttons,
    then each card's."""
    # The message's own buttons are numbered as ``numbered_text`` shows them: every one with a
    # title, with or without a payload (one without answers nothing).
    own = [
        Choice(str(b["title"]), str(b.get("payload") or ""))
        for b in (payload or {}).get("buttons") or []
        if isinstance(b, dict) and b.get("title")
    ]
    return own + [choice for card in cards_of(payload) for choice in card.choices]


def card_lines(cards: list[Card], first_number: int) -> list[str]:
    """Cards as text for an app without buttons: each card's lines and its numbered choices."""
    lines, number = [], first_number
    for card in cards:
        lines.append(f"【{card.title}】")
        if card.subtitle:
            lines.append(card.subtitle)
        if card.image:
            lines.append(card.image)
        numbered = []
        for choice in card.choices:
            numbered.append(f"{number}. {choice.title}")
            number += 1
        if numbered:
            lines.append("  ".join(numbered))
    return lines
