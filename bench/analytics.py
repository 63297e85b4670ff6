"""Dashboard load time over 1,000,000 stored messages, on SQLite.

    .venv/bin/python -m bench.analytics [--messages 1000000] [--days 90] [--queries 20]

Fills a fresh hub database with synthetic conversations (seeded random values: 4 channels, two
languages, 10 messages per conversation-day, alternating customer and bot; a third of the bot
replies carry a knowledge answer, a fifth of those an abstention, 5% are fallback texts; 15% of
conversation-days hand off, with intents, agents, wait, handle time and CSAT), then measures:

1. ``rollup_full_s``: the first run of the rollup job over every stored day (what a hub does
   once, on the first start after the upgrade);
2. ``rollup_job_s``: a periodic run (the last ``fcr_days + 2`` days);
3. ``dashboard``: ``AnalyticsService.report`` as ``GET /api/analytics/summary`` calls it, p50 /
   p95 / max in ms over ``--queries`` runs, for the dashboard's default (the last 30 days,
   daily), 90 days weekly, and 30 days filtered by channel and language. It includes the top
   unanswered questions. Each sample uses a new service (no cached report: every one reads the
   database); ``default_after_job_cached`` is the default view as the job leaves it (cached
   until the rollup changes). Unfiltered views read the per-dimension daily sums
   (``analytics_marginals``); ``before_marginals`` times the same unfiltered views read from the
   full rollup (every combination of dimensions), as every view was read before, in the same
   run on the same data.

Wall times on a shared 2-core machine include waiting for a core; ``cpu_`` figures are this
process's CPU time (SQLite runs in-process), and the load average says how busy the machine
was. Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bot.insights import AnalyticsConfig, AnalyticsFilters, AnalyticsService
from bot.storage import Agent, Conversation, Database, Handoff, Message

TODAY = date(2026, 12, 1)
CHANNELS = ["webchat", "wechat", "telegram", "rest"]
INTENTS = ["order_status", "refund", "complaint", "product_question", "delivery", None]
REASONS = ["customer_request", "angry", "negative_sentiment", "repeated_fallback", "vip"]
FALLBACK = "Sorry, I didn't get that. Could you rephrase?"
QUESTIONS = ["能开发票吗", "how do I reset my password", "支持货到付款吗", "do you ship to Macau"]
PER_DAY = 10  # messages per conversation-day


def _fill(database: Database, messages: int, days: int, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    conversation_days = messages // PER_DAY
    conversations = conversation_days // 2  # each conversation is active on about two days
    start = datetime.combine(TODAY - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC)
    counts = {"conversations": conversations, "messages": 0, "handoffs": 0}
    with database.engine.begin() as connection:
        connection.execute(
            insert(Agent),
            [
                {
                    "username": f"agent{i}",
                    "display_name": f"Agent {i}",
                    "password_hash": "x",
                    "role": "agent",
                    "skills": [],
                    "languages": [],
                    "max_chats": 5,
                    "presence": "offline",
                    "presence_at": start,
                    "created_at": start,
                }
                for i in range(1, 21)
            ],
        )
        connection.execute(
            insert(Conversation),
            [
                {
                    "id": pk,
                    "public_id": f"{pk:032x}",
                    "channel": rng.choice(CHANNELS),
                    "sender": f"s{pk}",
                    "language": rng.choice(("zh", "en")),
                    "mode": "bot",
                    "created_at": start,
                    "updated_at": start,
                }
                for pk in range(1, conversations + 1)
            ],
        )
    rows: list[dict[str, Any]] = []
    handoffs: list[dict[str, Any]] = []
    for n in range(conversation_days):
        pk = n % conversations + 1
        at = start + timedelta(seconds=rng.randrange(days * 86400 - 3600))
        for i in range(PER_DAY):
            inbound = i % 2 == 0
            payload = None
            text = rng.choice(QUESTIONS) if inbound else "ok"
            if not inbound:
                roll = rng.random()
                if roll < 0.33:
                    payload = {"custom": {"knowledge": {"abstained": rng.random() < 0.2}}}
                elif roll < 0.38:
                    text = FALLBACK
            rows.append(
                {
                    "conversation_id": pk,
                    "direction": "in" if inbound else "out",
                    "author": "customer" if inbound else "bot",
                    "text": text,
                    "payload": payload,
                    "language": None,
                    "sentiment": round(rng.uniform(-1, 1), 2) if inbound else None,
                    "status": "answered" if inbound else "sent",
                    "created_at": at + timedelta(seconds=20 * i),
                }
            )
        if rng.random() < 0.15:
            requested = at + timedelta(seconds=200)
            accepted = requested + timedelta(seconds=rng.randrange(10, 600))
            handoffs.append(
                {
                    "conversation_id": pk,
                    "status": "closed",
                    "reason": rng.choice(REASONS),
                    "vip": False,
                    "language": "zh",
                    "skill": "general",
                    "intent": rng.choice(INTENTS),
                    "agent_id": rng.randrange(1, 21),
                    "requested_at": requested,
                    "assigned_at": accepted,
                    "accepted_at": accepted,
                    "ended_at": accepted + timedelta(seconds=rng.randrange(60, 1800)),
                    "csat": rng.choice((None, 1, 2, 3, 4, 5)),
                }
            )
        if len(rows) >= 50_000:
            counts["messages"] += _flush(database, rows, handoffs)
            counts["handoffs"] += len(handoffs)
            rows, handoffs = [], []
    counts["messages"] += _flush(database, rows, handoffs)
    counts["handoffs"] += len(handoffs)
    return counts


def _flush(database: Database, rows: list[dict[str, Any]], handoffs: list[dict[str, Any]]) -> int:
    with database.engine.begin() as connection:
        if rows:
            connection.execute(insert(Message), rows)
        if handoffs:
            connection.execute(insert(Handoff), handoffs)
    return len(rows)


async def _no_tickets(_since: datetime, _until: datetime) -> list[Any]:
    return []


def _percentiles(samples: list[float], prefix: str = "") -> dict[str, float]:
    ordered = sorted(samples)
    return {
        f"{prefix}p50_ms": round(statistics.median(ordered) * 1000, 1),
        f"{prefix}p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000, 1),
        f"{prefix}max_ms": round(ordered[-1] * 1000, 1),
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'hub.db'}")
        await database.migrate()
        began = time.perf_counter()
        counts = _fill(database, args.messages, args.days)
        fill_s = time.perf_counter() - began

        service = AnalyticsService(database, _no_tickets, AnalyticsConfig(frozenset({FALLBACK})))
        began, began_cpu = time.perf_counter(), time.process_time()
        rollup_rows = await service.refresh(today=TODAY)
        full_s, full_cpu = time.perf_counter() - began, time.process_time() - began_cpu
        began, began_cpu = time.perf_counter(), time.process_time()
        await service.refresh(today=TODAY)
        job_s, job_cpu = time.perf_counter() - began, time.process_time() - began_cpu
        unfiltered = AnalyticsFilters()
        cases = {
            "default_30_days_daily": (TODAY - timedelta(days=29), unfiltered, "day"),
            "90_days_weekly": (TODAY - timedelta(days=args.days - 1), unfiltered, "week"),
            "90_days_daily": (TODAY - timedelta(days=args.days - 1), unfiltered, "day"),
            "30_days_channel_language": (
                TODAY - timedelta(days=29),
                AnalyticsFilters(channel="wechat", language="zh"),
                "day",
            ),
        }
        dashboard: dict[str, Any] = {}
        before: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        # Interleaved per sample, before and after, so both see the same machine load.
        runs = [(name, True) for name in cases] + [
            (name, False) for name, case in cases.items() if case[1] == unfiltered
        ]
        samples: dict[tuple[str, bool], list[float]] = {run: [] for run in runs}
        cpu: dict[tuple[str, bool], list[float]] = {run: [] for run in runs}
        reports: dict[tuple[str, bool], dict[str, Any]] = {}
        for _ in range(args.queries):
            for name, marginals in runs:
                first, filters, granularity = cases[name]
                # A new service has no cached reports: every sample reads the database.
                config = AnalyticsConfig(use_marginals=marginals)
                cold = AnalyticsService(database, _no_tickets, config)
                began, began_cpu = time.perf_counter(), time.process_time()
                reports[(name, marginals)] = await cold.report(first, TODAY, filters, granularity)
                samples[(name, marginals)].append(time.perf_counter() - began)
                cpu[(name, marginals)].append(time.process_time() - began_cpu)
        for name, marginals in runs:
            figures = _percentiles(samples[(name, marginals)])
            figures |= _percentiles(cpu[(name, marginals)], "cpu_")
            (dashboard if marginals else before)[name] = figures
            totals[name] = reports[(name, True)]["totals"]["conversations"]
        same_figures = all(
            reports[(name, False)] == reports[(name, True)] for name, m in runs if not m
        )
        warm = []
        for _ in range(args.queries):  # the default view, as the job leaves it cached
            began = time.perf_counter()
            await service.report(TODAY - timedelta(days=29), TODAY)
            warm.append(time.perf_counter() - began)
        dashboard["default_after_job_cached"] = _percentiles(warm)
        database.dispose()
    return {
        "benchmark": "analytics",
        "data": "synthetic (seeded random), SQLite",
        **counts,
        "days": args.days,
        "fill_s": round(fill_s, 1),
        "rollup_rows": rollup_rows,
        "rollup_full_s": round(full_s, 2),
        "rollup_full_cpu_s": round(full_cpu, 2),
        "rollup_job_s": round(job_s, 2),
        "rollup_job_cpu_s": round(job_cpu, 2),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "dashboard": dashboard,
        "before_marginals": before,
        "same_reports_before_and_after": same_figures,
        "conversations_in_view": totals,
        "goal_ms": 1000,
        "goal_met_every_view": all(v["p95_ms"] <= 1000 for v in dashboard.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--queries", type=int, default=20)
    print(json.dumps(asyncio.run(_run(parser.parse_args())), indent=2))


if __name__ == "__main__":
    main()
