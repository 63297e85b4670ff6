"""How urgent a new ticket is: the priority rules, in one place, configurable.

A ticket starts at its category's priority; a keyword or an angry customer sets a floor; clearly
negative sentiment and a VIP tier each raise it by steps. ``reasons`` says which rules fired, so
an agent (and the history) can see why a ticket is P1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bot.tickets._model import CATEGORIES, PRIORITIES

DEFAULT_BY_CATEGORY = MappingProxyType(
    {
        "order": "P3",
        "return_refund": "P3",
        "delivery": "P3",
        "payment": "P2",
        "product": "P4",
        "account": "P3",
        "complaint": "P2",
        "other": "P4",
    }
)
# Words that set a floor on the priority. Chinese matches as a substring (no spaces between
# words); English as whole words, ignoring case.
DEFAULT_KEYWORDS = MappingProxyType(
    {
        "P1": (
            "lawyer",
            "lawsuit",
            "sue",
            "fraud",
            "police",
            "律师",
            "起诉",
            "诈骗",
            "报警",
            "12315",
            "消协",
            "曝光",
        ),
        "P2": (
            "charged twice",
            "double charged",
            "urgent",
            "stolen",
            "重复扣款",
            "扣了两次",
            "紧急",
            "被盗",
            "盗刷",
        ),
    }
)
DEFAULT_VIP_STEPS = MappingProxyType({"gold": 1, "platinum": 2, "vip": 1})


@dataclass(frozen=True)
class PriorityRules:
    """The priority rules; every field has a sensible default for a web shop."""

    by_category: Mapping[str, str] = field(default_factory=lambda: DEFAULT_BY_CATEGORY)
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_KEYWORDS)
    angry_floor: str = "P1"
    # Sentiment at or below this (-1…1) raises the priority one step.
    negative_sentiment: float = -0.5
    vip_steps: Mapping[str, int] = field(default_factory=lambda: DEFAULT_VIP_STEPS)

    def __post_init__(self) -> None:
        for category, priority in self.by_category.items():
            _check(f"by_category[{category!r}]", priority)
        missing = set(CATEGORIES) - set(self.by_category)
        if missing:
            raise ValueError(f"by_category lacks a priority for {', '.join(sorted(missing))}")
        for priority in self.keywords:
            _check("a keywords key", priority)
        _check("angry_floor", self.angry_floor)


@dataclass(frozen=True)
class PriorityDecision:
    """A priority and the rules that gave it."""

    priority: str
    reasons: tuple[str, ...]


def decide_priority(
    rules: PriorityRules,
    *,
    category: str,
    text: str,
    angry: bool = False,
    sentiment: float | None = None,
    vip_tier: str | None = None,
) -> PriorityDecision:
    """The priority of a new ticket from its category, text, mood and the customer's VIP tier."""
    level = PRIORITIES.index(rules.by_category.get(category, "P4"))
    reasons = [f"category {category}: {PRIORITIES[level]}"]
    for priority in sorted(rules.keywords):  # most urgent first: its floor wins
        word = _first_keyword(rules.keywords[priority], text)
        if word is not None:
            if PRIORITIES.index(priority) < level:
                level = PRIORITIES.index(priority)
                reasons.append(f"keyword {word!r}: at least {priority}")
            break
    if angry and PRIORITIES.index(rules.angry_floor) < level:
        level = PRIORITIES.index(rules.angry_floor)
        reasons.append(f"angry customer: at least {rules.angry_floor}")
    if sentiment is not None and sentiment <= rules.negative_sentiment and level > 0:
        level -= 1
        reasons.append(f"negative sentiment {sentiment:.2f}: one step up")
    steps = rules.vip_steps.get((vip_tier or "").lower(), 0)
    if steps and level > 0:
        level = max(0, level - steps)
        reasons.append(f"VIP tier {vip_tier}: {steps} step(s) up")
    return PriorityDecision(PRIORITIES[level], tuple(reasons))


def raise_priority(priority: str) -> str:
    """One step more urgent (P1 stays P1)."""
    return PRIORITIES[max(0, PRIORITIES.index(priority) - 1)]


def _first_keyword(words: tuple[str, ...], text: str) -> str | None:
    lowered = text.lower()
    for word in words:
        needle = word.lower()
        if needle.isascii():
            if re.search(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])", lowered):
                return word
        elif needle in lowered:
            return word
    return None


def _check(name: str, priority: str) -> None:
    if priority not in PRIORITIES:
        raise ValueError(f"{name} is {priority!r}; use one of {', '.join(PRIORITIES)}")
