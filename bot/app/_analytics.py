"""Wiring of analytics and pain points: what they read from the other modules, built once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import yaml

from bot.app._settings import Settings
from bot.insights import (
    AnalyticsConfig,
    AnalyticsService,
    FeedbackText,
    PainPointConfig,
    PainPoints,
    TicketFact,
    TicketsBetween,
    TicketTexts,
)
from bot.storage import Database
from bot.tickets import ERASED, MAX_PAGE, TicketQuery, TicketService, TicketView
from knowledge import E5Embedder

DOMAIN_DIR = Path(__file__).resolve().parents[1] / "domain"
# The dialogue's replies that mean "the bot did not understand" (bot/domain/service.yml).
# A satisfaction score (1–5) at or below this makes its comment negative feedback.
CSAT_UNHAPPY = 3
FALLBACK_RESPONSES = ("utter_fallback_suggest", "utter_fallback_offer_human", "utter_default")

# Intents of the domain that say nothing of what a customer came for (bot/domain/*.yml), and
# Rasa's fallback intent: a conversation-day takes the intent of its first message with another.
MINOR_INTENTS = frozenset(
    {
        "greet",
        "goodbye",
        "thanks",
        "bot_challenge",
        "chitchat",
        "inform",
        "affirm",
        "deny",
        "stop",
        "nlu_fallback",
    }
)


@dataclass(frozen=True)
class Analytics:
    """The analytics read model and the pain-point miner."""

    service: AnalyticsService
    painpoints: PainPoints


@cache
def fallback_texts(domain_dir: Path = DOMAIN_DIR) -> frozenset[str]:
    """Every language's text of the fallback responses in the Rasa domain."""
    texts: set[str] = set()
    for path in sorted(domain_dir.glob("*.yml")):
        responses = (
            yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) or {}
        ).get("responses", {})
        for name in FALLBACK_RESPONSES:
            for variant in responses.get(name) or []:
                if isinstance(variant, dict) and variant.get("text"):
                    texts.add(str(variant["text"]))
    return frozenset(texts)


async def _tickets_created(
    tickets: TicketService, since: datetime, until: datetime, limit: int | None
) -> list[TicketView]:
    """Tickets created in ``[since, until)``, newest first, paged through the tickets service."""
    found: list[TicketView] = []
    offset = 0
    while limit is None or len(found) < limit:
        page = await tickets.list_tickets(
            TicketQuery(
                created_from=since,
                created_to=until,
                sort="-created_at",
                offset=offset,
                limit=MAX_PAGE,
                count_total=False,
            )
        )
        found.extend(page.items)
        if len(page.items) < MAX_PAGE:
            break
        offset += MAX_PAGE
    return found if limit is None else found[:limit]


def tickets_between(tickets: TicketService) -> TicketsBetween:
    """The analytics' view of tickets created in a range."""

    async def facts(since: datetime, until: datetime) -> Sequence[TicketFact]:
        return [
            TicketFact(
                created_at=t.created_at,
                channel=t.channel,
                language=t.language,
                assignee=t.assignee,
                breached=t.first_response_breached_at is not None
                or t.resolution_breached_at is not None,
                done=t.status in ("resolved", "closed"),
                satisfaction=t.satisfaction,
            )
            for t in await _tickets_created(tickets, since, until, None)
            if t.merged_into is None
        ]

    return facts


def ticket_texts(tickets: TicketService, csat_at_most: int = CSAT_UNHAPPY) -> TicketTexts:
    """Negative feedback from the tickets module, newest first: tickets' subjects and
    descriptions, and the comments customers gave with a satisfaction score of at most
    ``csat_at_most`` (each up to ``limit``)."""

    async def texts(since: datetime, until: datetime, limit: int) -> Sequence[FeedbackText]:
        found = [
            FeedbackText("ticket", f"{t.subject}. {t.description}"[:500], t.language, t.created_at)
            for t in await _tickets_created(tickets, since, until, limit)
            if t.merged_into is None and t.customer_id != ERASED  # an erased one says nothing
        ]
        comments = await tickets.satisfaction_comments(
            since, until, at_most=csat_at_most, limit=limit
        )
        found += [FeedbackText("csat", c.comment[:500], c.language, c.given_at) for c in comments]
        return found

    return texts


def build_analytics(
    settings: Settings,
    database: Database,
    tickets: TicketService,
) -> Analytics:
    """The analytics services of the hub (and of the report command)."""
    embedder = E5Embedder()
    service = AnalyticsService(
        database,
        tickets_between(tickets),
        AnalyticsConfig(
            fallback_texts=fallback_texts(),
            fcr_days=settings.analytics_fcr_days,
            minor_intents=MINOR_INTENTS,
            refresh_days=settings.analytics_fcr_days + 2,
        ),
    )
    painpoints = PainPoints(
        database,
        embedder.embed_queries,
        ticket_texts(tickets),
        PainPointConfig(distance=settings.painpoint_distance),
    )
    return Analytics(service, painpoints)
