"""Ticket list latency and SLA job time at 100,000 tickets, on SQLite (and PostgreSQL if given).

    .venv/bin/python -m bench.tickets [--tickets 100000] [--queries 200] [--postgres URL]

``--postgres`` takes a SQLAlchemy URL of an EMPTY database (it is migrated and filled).

1. ``list``: ``TicketService.list_tickets`` (count + one page of 50) with 10 filters combined
   (status, priority, team, category, assignee, SLA state, text, created range, updated range,
   customer absent/present), random values per query; p50/p95 in ms. Also the console's plain
   default list (status filter, newest first) and a Chinese text search alone.
   Measured once before ``refresh_statistics`` (ANALYZE) and then after it.
2. ``sla``: ``run_sla_check`` with every ticket open: a run where 10% are newly due, a run where
   the other 90% fall due at once (worst case), and a repeat run with nothing new. The 90% run
   is also measured, on the same data refilled, (a) as the job ran before this stop (SQLite's
   default 2 MB page cache instead of the job's 64 MB) and (b) as per-row work: the due tickets
   read into Python and one UPDATE per ticket (history and alert rows inserted in batches, as an
   ORM unit of work would), for the ratios ``before / after``.
   ``--sla-only`` skips the list part.
Wall times and this process's CPU times (``cpu_``; the database work runs in-process for
SQLite, in the server for PostgreSQL) are both reported: on a shared machine wall time includes
waiting for a core. Data is synthetic (random values, seeded). Prints JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Column, MetaData, Table, create_engine, delete, insert, select, update

import bot.tickets._service as ticket_internals  # the bench flips the job's cache size
from bot.handoff import SKILLS, BusinessHours
from bot.storage import Database
from bot.storage.models import UTCDateTime
from bot.tickets import ACTIVE, CATEGORIES, PRIORITIES, TicketConfig, TicketQuery, TicketService

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
STATUS_WEIGHTS = {
    "new": 20,
    "open": 30,
    "pending_customer": 10,
    "resolved": 20,
    "closed": 15,
    "reopened": 5,
}
WORDS = ["退款", "快递", "发票", "包裹", "账号", "refund", "parcel", "invoice", "account", "broken"]
ASSIGNEES = [f"agent{i}" for i in range(20)]
DATES = (
    "created_at",
    "updated_at",
    "sla_started_at",
    "first_response_due_at",
    "resolution_due_at",
    "next_due_at",
    "sla_watch_at",
)


def rows(count: int, seed: int, all_open: bool) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    made: list[dict[str, Any]] = []
    for i in range(count):
        created = NOW - timedelta(minutes=rng.randrange(90 * 24 * 60))
        status = "open" if all_open else rng.choices(statuses, weights)[0]
        active = status in ("new", "open", "reopened")
        due = created + timedelta(hours=rng.randrange(1, 96))
        if all_open:  # 10% due by NOW, the rest within the next 9 hours
            due = (
                NOW - timedelta(minutes=rng.randrange(60))
                if i % 10 == 0
                else NOW + timedelta(minutes=rng.randrange(1, 540))
            )
        word, other = rng.choice(WORDS), rng.choice(WORDS)
        made.append(
            {
                "number": f"T-{created:%Y%m%d}-{i + 1:06d}",
                "customer_id": f"cust{rng.randrange(20_000)}",
                "conversation_id": None,
                "channel": rng.choice(["webchat", "rest", "wechat"]),
                "language": "en" if word.isascii() else "zh",
                "subject": f"{word} {other} #{i}",
                "description": f"关于{word}的问题 about {other}, order {rng.randrange(10**6)}",
                "category": rng.choice(CATEGORIES),
                "priority": rng.choice(PRIORITIES),
                "status": status,
                "team": rng.choice(SKILLS),
                "assignee": rng.choice([*ASSIGNEES, None, None]),
                "tags": [],
                "version": 1,
                "created_at": created,
                "updated_at": created + timedelta(minutes=rng.randrange(600)),
                "sla_started_at": created,
                "paused_seconds": 0,
                "first_response_due_at": due,
                "resolution_due_at": due + timedelta(hours=24),
                "next_due_at": due if active else None,
                "sla_watch_at": due if active else None,
            }
        )
    return made


def fill(url: str, count: int, all_open: bool) -> float:
    engine = create_engine(url)
    table = Table(
        "tickets",
        MetaData(),
        *(Column(name, UTCDateTime()) for name in DATES),
        autoload_with=engine,
    )
    started = time.perf_counter()
    with engine.begin() as connection:
        # Every SLA run starts from the same tables: earlier runs' history and alerts go too.
        for table_name in ("ticket_alerts", "ticket_history"):
            connection.exec_driver_sql(f"DELETE FROM {table_name}")
        connection.execute(delete(table))
        made = rows(count, 7, all_open)
        for first in range(0, count, 5_000):
            connection.execute(insert(table), made[first : first + 5_000])
    engine.dispose()
    return time.perf_counter() - started


def per_row_sla(url: str, moment: datetime) -> int:
    """The reference the set-based job is compared with: the first-response breaches of the due
    tickets marked one UPDATE per ticket (history and alerts inserted in batches)."""
    engine = create_engine(url)
    meta = MetaData()
    dated = ("first_responded_at", "first_response_breached_at", "resolution_breached_at")
    tickets = Table(
        "tickets",
        meta,
        *(Column(name, UTCDateTime()) for name in DATES + dated),
        autoload_with=engine,
    )
    history = Table("ticket_history", meta, Column("at", UTCDateTime()), autoload_with=engine)
    alerts = Table("ticket_alerts", meta, Column("created_at", UTCDateTime()), autoload_with=engine)
    t = tickets.c
    marked = 0
    with engine.begin() as connection:
        due = connection.execute(
            select(tickets).where(t.sla_watch_at <= moment, t.status.in_(ACTIVE))
        ).all()
        notes, alarms = [], []
        for row in due:
            values: dict[str, Any] = {"sla_watch_at": None}
            if (
                row.first_responded_at is None
                and row.first_response_due_at <= moment
                and row.first_response_breached_at is None
            ):
                values["first_response_breached_at"] = moment
                notes.append(
                    {
                        "ticket_id": row.id,
                        "actor": "system:sla",
                        "field": "first_response_breached_at",
                        "old_value": None,
                        "new_value": moment.isoformat(),
                        "at": moment,
                    }
                )
                alarms.append(
                    {
                        "ticket_id": row.id,
                        "team": row.team,
                        "kind": "first_response_breached",
                        "created_at": moment,
                    }
                )
                marked += 1
            if row.resolution_breached_at is None and row.resolution_due_at > moment:
                values["sla_watch_at"] = row.resolution_due_at
            connection.execute(update(tickets).where(t.id == row.id).values(**values))
        if notes:
            connection.execute(insert(history), notes)
            connection.execute(insert(alerts), alarms)
    engine.dispose()
    return marked


async def sla_ratios(service: TicketService, url: str, count: int) -> dict[str, Any]:
    """The 90%-at-once run three ways on freshly filled data: the job now, the job with SQLite's
    default page cache (as before this stop; SQLite only), and per-row updates."""
    moment = NOW + timedelta(hours=10)
    found: dict[str, Any] = {}

    async def job(name: str) -> None:
        await asyncio.to_thread(fill, url, count, True)
        await service.run_sla_check(NOW)  # the first 10% as in the main run
        started, used = time.perf_counter(), time.process_time()
        report = await service.run_sla_check(moment)
        found[name] = {
            "seconds": round(time.perf_counter() - started, 3),
            "cpu_seconds": round(time.process_time() - used, 3),
            "first_response_breaches": report.first_response_breaches,
        }

    await job("job")
    if url.startswith("sqlite"):
        kept = ticket_internals.SLA_SQLITE_CACHE_KIB
        ticket_internals.SLA_SQLITE_CACHE_KIB = -2000  # SQLite's default
        try:
            await job("job_default_cache")
        finally:
            ticket_internals.SLA_SQLITE_CACHE_KIB = kept
    await asyncio.to_thread(fill, url, count, True)
    await service.run_sla_check(NOW)
    started, used = time.perf_counter(), time.process_time()
    marked = await asyncio.to_thread(per_row_sla, url, moment)
    found["per_row"] = {
        "seconds": round(time.perf_counter() - started, 3),
        "cpu_seconds": round(time.process_time() - used, 3),
        "first_response_breaches": marked,
    }
    for name in ("job_default_cache", "per_row"):
        if name in found:
            found[f"{name}_over_job"] = round(found[name]["seconds"] / found["job"]["seconds"], 2)
    return found


def ten_filters(rng: random.Random) -> TicketQuery:
    created_from = NOW - timedelta(days=rng.randrange(20, 80))
    return TicketQuery(
        statuses=tuple(rng.sample(["new", "open", "reopened", "pending_customer"], 2)),
        priorities=tuple(rng.sample(PRIORITIES, 2)),
        teams=tuple(rng.sample(SKILLS, 2)),
        categories=tuple(rng.sample(CATEGORIES, 4)),
        assignees=tuple(rng.sample(ASSIGNEES, 5)),
        unassigned=True,
        sla_state=rng.choice(["ok", "due_soon", "breached"]),
        text=rng.choice(WORDS),
        created_from=created_from,
        created_to=created_from + timedelta(days=15),
        updated_from=created_from,
        sort=rng.choice(["-updated_at", "-priority", "next_due_at"]),
    )


async def timed(service: TicketService, queries: list[TicketQuery]) -> dict[str, float]:
    times, cpu = [], []
    for query in queries:
        started, used = time.perf_counter(), time.process_time()
        await service.list_tickets(query)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
    return {"queries": len(times), **_percentiles("", times), **_percentiles("cpu_", cpu)}


def _percentiles(prefix: str, values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        f"{prefix}p50_ms": round(statistics.median(values), 2),
        f"{prefix}p95_ms": round(values[int(len(values) * 0.95) - 1], 2),
        f"{prefix}max_ms": round(values[-1], 2),
    }


async def bench_backend(url: str, count: int, queries: int, sla_only: bool) -> dict[str, Any]:
    database = Database(url)
    await database.migrate()
    hours = BusinessHours.parse("00:00-24:00", "Asia/Shanghai")
    service = TicketService(database, TicketConfig(hours=hours), clock=lambda: NOW)
    result: dict[str, Any] = {"tickets": count}
    if not sla_only:
        await bench_list(service, url, count, queries, result)
    # SLA job: every ticket open and unanswered.
    await asyncio.to_thread(fill, url, count, True)
    runs = {}
    for name, moment in (
        ("ten_percent_due", NOW),
        ("rest_due_at_once", NOW + timedelta(hours=10)),
        ("nothing_new", NOW + timedelta(hours=10, minutes=1)),
    ):
        started, used = time.perf_counter(), time.process_time()
        report = await service.run_sla_check(moment)
        runs[name] = {
            "seconds": round(time.perf_counter() - started, 3),
            "cpu_seconds": round(time.process_time() - used, 3),
            "report": report.__dict__,
        }
    result["sla"] = runs
    result["sla_rest_due_at_once_compared"] = await sla_ratios(service, url, count)
    database.dispose()
    return result


async def bench_list(
    service: TicketService, url: str, count: int, queries: int, result: dict[str, Any]
) -> None:
    result["fill_s"] = round(await asyncio.to_thread(fill, url, count, False), 2)
    rng = random.Random(1)
    await service.list_tickets(ten_filters(rng))  # warm the caches once
    result["list_10_filters_no_statistics"] = await timed(
        service, [ten_filters(rng) for _ in range(queries // 4)]
    )
    started = time.perf_counter()
    await service.refresh_statistics()
    result["refresh_statistics_s"] = round(time.perf_counter() - started, 2)
    result["list_10_filters"] = await timed(service, [ten_filters(rng) for _ in range(queries)])
    result["list_default"] = await timed(
        service,
        [TicketQuery(statuses=("new", "open", "reopened"), offset=50 * (i % 5)) for i in range(50)],
    )
    result["list_text_zh"] = await timed(service, [TicketQuery(text="发票") for _ in range(20)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--postgres", help="SQLAlchemy URL of an empty PostgreSQL database")
    parser.add_argument("--sla-only", action="store_true", help="skip the list latencies")
    args = parser.parse_args()
    output: dict[str, Any] = {"data": "synthetic, seeded random tickets"}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        output["sqlite"] = asyncio.run(
            bench_backend(url, args.tickets, args.queries, args.sla_only)
        )
    if args.postgres:
        output["postgresql"] = asyncio.run(
            bench_backend(args.postgres, args.tickets, args.queries, args.sla_only)
        )
    print(json.dumps(output, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
