"""What SQLite writers taking turns (``Database(writer_turns=True)``, the default) does to an
urgent unit of work, a webhook's acknowledgement insert, while the shared storage threads write
as fast as they can (a burst of message handling), against SQLite's own busy back-off.

    .venv/bin/python -m bench.storage_turns [--seconds 5] [--rounds 3]

Each round runs both ways on a fresh SQLite file (WAL, the hub's pragmas), alternating which goes
first, so the machine's noise falls on both alike: the shared threads (``WORKERS``) each run
transactions that insert a row, read a count and update a row (the shape of storing a message);
every 5 ms an urgent transaction inserts one row. Prints JSON: the urgent inserts' latency
p50/p95/p99/max in ms, the shared transactions per second and their latency, and errors
("database is locked" after the 5 s busy timeout), per way, and the ratios. Synthetic work on
this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from bot.storage import Database
from bot.storage._database import WORKERS

URGENT_EVERY_S = 0.005


def _handling(connection: Connection) -> None:
    connection.exec_driver_sql("INSERT INTO messages (body) VALUES ('a customer message')")
    connection.exec_driver_sql("SELECT count(*) FROM messages").scalar()
    connection.exec_driver_sql("UPDATE counters SET n = n + 1 WHERE id = 1")


def _acknowledgement(connection: Connection) -> None:
    connection.exec_driver_sql("INSERT INTO inbound (body) VALUES ('a delivery')")


async def one_way(turns: bool, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'turns.db'}", writer_turns=turns)

        def schema(connection: Connection) -> None:
            for table in ("messages", "inbound"):
                connection.exec_driver_sql(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, body)")
            connection.exec_driver_sql("CREATE TABLE counters (id INTEGER PRIMARY KEY, n INT)")
            connection.exec_driver_sql("INSERT INTO counters VALUES (1, 0)")

        await database.transaction(schema)
        database.open_pool()
        deadline = time.perf_counter() + seconds
        errors, latencies, shared_latencies = 0, [], []

        async def shared() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    await database.transaction(_handling)
                    shared_latencies.append((time.perf_counter() - started) * 1000)
                except OperationalError:
                    errors += 1

        async def urgent() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    await database.transaction(_acknowledgement, urgent=True)
                    latencies.append((time.perf_counter() - started) * 1000)
                except OperationalError:
                    errors += 1
                await asyncio.sleep(URGENT_EVERY_S)

        await asyncio.gather(*(shared() for _ in range(WORKERS)), urgent())
        database.dispose()
    return {
        "urgent_inserts": len(latencies),
        "urgent_ms": _quantiles(latencies),
        "shared_transactions_per_s": round(len(shared_latencies) / seconds, 1),
        "shared_ms": _quantiles(shared_latencies),
        "errors": errors,
    }


def _quantiles(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100)
    return {
        "p50": round(q[49], 2),
        "p95": round(q[94], 2),
        "p99": round(q[98], 2),
        "max": round(max(samples), 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    report: dict[str, Any] = {"load_average_before": os.getloadavg(), "rounds": []}
    for round_ in range(args.rounds):
        order = (True, False) if round_ % 2 == 0 else (False, True)
        results = {}
        for turns in order:
            results["turns" if turns else "busy_backoff"] = await one_way(turns, args.seconds)
        report["rounds"].append(results)
    for key in ("p95", "p99", "max"):
        report[f"urgent_{key}_backoff_over_turns"] = [
            round(r["busy_backoff"]["urgent_ms"][key] / r["turns"]["urgent_ms"][key], 2)
            for r in report["rounds"]
        ]
    report["shared_throughput_turns_over_backoff"] = [
        round(
            r["turns"]["shared_transactions_per_s"]
            / r["busy_backoff"]["shared_transactions_per_s"],
            2,
        )
        for r in report["rounds"]
    ]
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
