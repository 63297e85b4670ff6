"""Analytics arithmetic on a synthetic event log whose answers are worked out by hand."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, delete, insert

from bot.insights import (
    AnalyticsConfig,
    AnalyticsFilters,
    AnalyticsService,
    InvalidAnalyticsQuery,
    TicketFact,
    report_csv,
)
from bot.insights._analytics import marginals_of
from bot.storage import (
    Agent,
    Conversation,
    Database,
    Handoff,
    Message,
    alembic_config,
    upgrade,
)
from tests.migrations import model_differences

FALLBACK = "Sorry, I'm not sure what you mean. Did you want to:"
D1 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
D2 = D1 + timedelta(days=1)
D9 = D1 + timedelta(days=8)  # the next Tuesday: outside the 7-day return window of D1


def synthetic_log(connection: Connection) -> None:
    """Three conversations:
    - web/en (c1): D1 two messages (sentiment 0.5, -0.5), a knowledge answer, a fallback; writes
      again on D2 (so D1 is not first-contact resolved), one message (0.0), a knowledge
      abstention and a handoff (angry, intent complaint, agent alice: waits 60 s, handled
      300 s, CSAT 4).
    - wechat/zh (c2): D1 one message (-0.8), handoff (customer_request, no intent, never
      accepted); never writes again.
    - web/zh (c3): D9 one message (no sentiment), a knowledge answer.
    """
    connection.execute(
        insert(Agent),
        [
            {
                "id": 1,
                "username": "alice",
                "display_name": "Alice",
                "password_hash": "x",
                "role": "agent",
                "skills": [],
                "languages": [],
                "max_chats": 3,
                "presence": "online",
                "presence_at": D1,
                "created_at": D1,
            }
        ],
    )
    conversations = [("c1", "web", "en"), ("c2", "wechat", "zh"), ("c3", "web", "zh")]
    for pk, (public, channel, language) in enumerate(conversations, start=1):
        connection.execute(
            insert(Conversation),
            {
                "id": pk,
                "public_id": public,
                "channel": channel,
                "sender": public,
                "language": language,
                "mode": "bot",
                "created_at": D1,
                "updated_at": D1,
            },
        )
    knowledge = {"custom": {"knowledge": {"abstained": False}}}
    abstained = {"custom": {"knowledge": {"abstained": True}}}
    messages: list[tuple[int, str, str, str, Any, float | None, datetime]] = [
        (1, "in", "customer", "where is my parcel", None, 0.5, D1),
        (1, "out", "bot", "It ships in 2 days", knowledge, None, D1 + timedelta(seconds=1)),
        (1, "in", "customer", "hm?", None, -0.5, D1 + timedelta(minutes=1)),
        (1, "out", "bot", FALLBACK, {"buttons": []}, None, D1 + timedelta(minutes=1, seconds=1)),
        (1, "in", "customer", "=SUM(A1) refund 13812345678", None, 0.0, D2),
        (1, "out", "bot", "I do not know", abstained, None, D2 + timedelta(seconds=1)),
        (1, "out", "agent", "Hello, Alice here", None, None, D2 + timedelta(minutes=2)),
        (2, "in", "customer", "人工客服", None, -0.8, D1 + timedelta(hours=2)),
        (3, "in", "customer", "退货政策", None, None, D9),
        (3, "out", "bot", "七天无理由", knowledge, None, D9 + timedelta(seconds=1)),
    ]
    connection.execute(
        insert(Message),
        [
            {
                "conversation_id": pk,
                "direction": direction,
                "author": author,
                "text": text,
                "payload": payload,
                "language": None,
                "sentiment": sentiment,
                "status": "answered" if direction == "in" else "sent",
                "created_at": at,
            }
            for pk, direction, author, text, payload, sentiment, at in messages
        ],
    )
    requested = D2 + timedelta(seconds=5)
    connection.execute(
        insert(Handoff),
        [
            {
                "conversation_id": 1,
                "status": "closed",
                "reason": "angry",
                "vip": False,
                "language": "en",
                "skill": "general",
                "intent": "complaint",
                "agent_id": 1,
                "requested_at": requested,
                "assigned_at": requested + timedelta(seconds=30),
                "accepted_at": requested + timedelta(seconds=60),
                "ended_at": requested + timedelta(seconds=360),
                "csat": 4,
            },
            {
                "conversation_id": 2,
                "status": "queued",
                "reason": "customer_request",
                "vip": False,
                "language": "zh",
                "skill": "general",
                "intent": None,
                "agent_id": None,
                "requested_at": D1 + timedelta(hours=2, seconds=1),
                "assigned_at": None,
                "accepted_at": None,
                "ended_at": None,
                "csat": None,
            },
        ],
    )


TICKETS = [
    TicketFact(D1, "web", "en", "bob", breached=True, done=True, satisfaction=2),
    TicketFact(D1, "web", "en", "bob", breached=False, done=True, satisfaction=None),
    TicketFact(D2, "web", "en", None, breached=False, done=False, satisfaction=None),
]


async def _tickets(since: datetime, until: datetime) -> Sequence[TicketFact]:
    return [t for t in TICKETS if since <= t.created_at < until]


@pytest.fixture
async def analytics(database_url: str) -> AsyncIterator[AnalyticsService]:
    db = Database(database_url)
    await db.migrate()
    await db.transaction(synthetic_log)
    yield AnalyticsService(db, _tickets, AnalyticsConfig(frozenset({FALLBACK})))
    db.dispose()


async def test_totals_of_the_synthetic_log(analytics: AnalyticsService) -> None:
    assert await analytics.refresh(today=date(2026, 11, 12)) > 0
    report = await analytics.report(date(2026, 11, 1), date(2026, 11, 12))
    assert report["totals"] == {
        # conversation-days: c1 on D1, c1 on D2, c2 on D1, c3 on D9
        "conversations": 4,
        "contained": 2,  # c1/D1 and c3/D9
        "containment_rate": 0.5,
        "handoffs": 2,
        "handoff_rate": 0.5,
        "turns": 5,
        "fallbacks": 1,
        "fallback_rate": 0.2,
        "knowledge_answered": 2,
        "knowledge_abstained": 1,
        "knowledge_answer_rate": 0.6667,
        "knowledge_abstain_rate": 0.3333,
        "fcr_rate": 0.75,  # c1/D1 came back on D2
        "avg_handle_s": 300.0,
        "avg_wait_s": 60.0,
        "csat_avg": 3.0,  # the handoff's 4 and a ticket's 2
        "csat_responses": 2,
        "sentiment_avg": -0.2,  # (0.5 - 0.5 + 0.0 - 0.8) / 4
        "negative_messages": 2,
        "tickets": 3,
        "sla_compliance": 0.5,  # one met, one breached, one still open
    }
    assert report["handoff_reasons"] == [
        {"reason": "angry", "count": 1},
        {"reason": "customer_request", "count": 1},
    ]
    assert report["top_intents"] == [{"intent": "complaint", "conversations": 1}]
    by_channel = {g["key"]: g["conversations"] for g in report["by"]["channel"]}
    assert by_channel == {"web": 3, "wechat": 1}
    by_agent = {g["key"]: g["handoffs"] for g in report["by"]["agent"]}
    assert by_agent == {"": 1, "alice": 1, "bob": 0}


async def test_weekly_series_and_filters(analytics: AnalyticsService) -> None:
    await analytics.refresh(today=date(2026, 11, 12))
    weekly = await analytics.report(date(2026, 11, 1), date(2026, 11, 12), granularity="week")
    assert [(p["period"], p["conversations"]) for p in weekly["series"]] == [
        ("2026-11-02", 3),  # weeks start on Monday
        ("2026-11-09", 1),
    ]
    zh = await analytics.report(
        date(2026, 11, 1), date(2026, 11, 12), AnalyticsFilters(language="zh")
    )
    assert zh["totals"]["conversations"] == 2
    assert zh["totals"]["handoff_rate"] == 0.5
    assert zh["totals"]["avg_wait_s"] is None  # the zh handoff was never accepted
    daily = await analytics.report(date(2026, 11, 2), date(2026, 11, 2))
    assert daily["totals"]["conversations"] == 2


async def test_refresh_replaces_days_instead_of_adding(analytics: AnalyticsService) -> None:
    await analytics.refresh(today=date(2026, 11, 12))
    await analytics.rebuild(date(2026, 11, 1), date(2026, 11, 12))
    await analytics.refresh(today=date(2026, 11, 12))
    report = await analytics.report(date(2026, 11, 1), date(2026, 11, 12))
    assert report["totals"]["conversations"] == 4
    assert report["totals"]["tickets"] == 3


async def test_a_cached_report_follows_a_rebuild(analytics: AnalyticsService) -> None:
    await analytics.refresh(today=date(2026, 11, 12))
    first = await analytics.report(date(2026, 11, 1), date(2026, 11, 12))
    first["totals"]["conversations"] = -1  # a caller changing its copy changes no cache
    cached = await analytics.report(date(2026, 11, 1), date(2026, 11, 12))
    assert cached["totals"]["conversations"] == 4
    database = analytics._db

    def erase_c3(connection: Connection) -> None:
        connection.execute(delete(Message).where(Message.conversation_id == 3))

    await database.transaction(erase_c3)
    # Another hub's job rebuilds the day: this hub's cached report is out of date.
    other = AnalyticsService(database, _tickets, AnalyticsConfig(frozenset({FALLBACK})))
    await other.rebuild(date(2026, 11, 10), date(2026, 11, 10))
    changed = await analytics.report(date(2026, 11, 1), date(2026, 11, 12))
    assert changed["totals"]["conversations"] == 3


async def test_csv_export_neutralises_formulas(analytics: AnalyticsService) -> None:
    await analytics.refresh(today=date(2026, 11, 12))
    text = report_csv(await analytics.report(date(2026, 11, 1), date(2026, 11, 12)))
    lines = text.splitlines()
    assert lines[0].startswith("section,key,conversations,contained,containment_rate")
    assert lines[1].startswith("total,,4,2,0.5,2,0.5,5,1,0.2,")
    assert lines[-1] == "unanswered,'=SUM(A1) refund [phone],1"  # redacted, no formula


@pytest.mark.parametrize(
    ("start", "end", "granularity", "message"),
    [
        (date(2026, 11, 5), date(2026, 11, 1), "day", "before"),
        (date(2020, 1, 1), date(2026, 11, 1), "day", "at most"),
        (date(2026, 11, 1), date(2026, 11, 5), "month", "granularity"),
    ],
)
async def test_bad_queries_say_what_is_wrong(
    analytics: AnalyticsService, start: date, end: date, granularity: str, message: str
) -> None:
    with pytest.raises(InvalidAnalyticsQuery, match=message):
        await analytics.report(start, end, granularity=granularity)


@pytest.mark.parametrize(
    ("first", "last", "granularity"),
    [
        (date(2026, 11, 1), date(2026, 11, 12), "day"),
        (date(2026, 11, 1), date(2026, 11, 12), "week"),
        (date(2026, 11, 3), date(2026, 11, 10), "week"),  # partial weeks at both ends
        (date(2026, 11, 2), date(2026, 11, 2), "day"),
    ],
)
async def test_unfiltered_views_from_marginals_equal_the_full_rollup(
    analytics: AnalyticsService, first: date, last: date, granularity: str
) -> None:
    await analytics.refresh(today=date(2026, 11, 12))
    cube = AnalyticsService(
        analytics._db, _tickets, AnalyticsConfig(frozenset({FALLBACK}), use_marginals=False)
    )
    from_marginals = await analytics.report(first, last, granularity=granularity)
    from_cube = await cube.report(first, last, granularity=granularity)
    assert from_marginals == from_cube
    assert from_marginals["totals"]["conversations"] > 0


def test_the_migration_sums_marginals_from_the_existing_rollup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hub.db"
    command.upgrade(alembic_config(url), "0651")  # before the marginals
    cube = [
        ("2026-11-02", "web", "en", "refund", "alice", "conversations", 2.0),
        ("2026-11-02", "web", "zh", "", "", "conversations", 3.0),
        ("2026-11-02", "wechat", "zh", "", "", "reason:angry", 1.0),
        ("2026-11-03", "web", "en", "refund", "", "conversations", 1.0),
    ]
    with sqlite3.connect(tmp_path / "hub.db") as connection:
        connection.executemany(
            "INSERT INTO analytics_daily (day, channel, language, intent, agent, metric, value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            cube,
        )
    upgrade(url)
    with sqlite3.connect(tmp_path / "hub.db") as connection:
        found = connection.execute(
            "SELECT day, dimension, key, metric, value FROM analytics_marginals"
        ).fetchall()
    in_python = {
        (day, name, key, metric): value
        for (day, name, key, metric), value in marginals_of(
            {row[:6]: row[6] for row in cube}
        ).items()
    }
    assert {row[:4]: row[4] for row in found} == in_python
    assert len(found) == len(in_python)
    assert in_python[("2026-11-02", "", "", "conversations")] == 5.0
    assert in_python[("2026-11-02", "intent", "refund", "conversations")] == 2.0
    assert ("2026-11-02", "channel", "wechat", "reason:angry") not in in_python


async def test_the_insights_tables_match_the_models(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()
    differences = model_differences(database, "analytics_", "insights_", "painpoint_")
    database.dispose()
    assert differences == []
