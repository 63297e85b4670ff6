"""The churn job: off unless ``churn_job_hours`` is set, leased to one replica, and a run (or two
at once) scores every customer and decides each customer once per retention rule: no second
coupon, no second follow-up ticket.

Real SQLite stores, the shop's order store seeded with a synthetic shop (tests.test_churn_live),
the model trained by the CLI; Rasa is down (messages are kept, marked failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any, cast

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.app import Settings, create_app
from bot.app._churn_job import churn_jobs
from bot.app._container import build_hub_services
from bot.app._jobs import Job
from bot.conversations import InboundMessage
from bot.dialogue import DialogueUnavailable
from bot.insights import RetentionAction
from bot.orders import OrderService
from bot.storage import alembic_config, upgrade
from bot.tickets import TicketQuery
from tests.launch import free_port
from tests.test_churn_live import _cli, synthetic_shop

CUSTOMERS = 60


def settings_for(var_dir: Path, **overrides: Any) -> Settings:
    nobody = free_port()
    return Settings(  # type: ignore[call-arg]
        _env_file=None, var_dir=var_dir, rasa_port=nobody, actions_port=nobody, **overrides
    )


async def run(job: Job) -> dict[str, Any]:
    """One run of the job: what it reports."""
    return cast(dict[str, Any], await job.run())


def test_off_by_default_and_one_replica_runs_it(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path / "off"))) as client:
        names = {job.name for job in client.app.state.jobs.scheduled}  # type: ignore[attr-defined]
        assert "churn-retention" not in names
        assert "analytics-rollup" in names
    with TestClient(create_app(settings_for(tmp_path / "on", churn_job_hours=24))) as client:
        jobs = {job.name: job for job in client.app.state.jobs.scheduled}  # type: ignore[attr-defined]
        job = jobs["churn-retention"]
        # Not per replica: with several replicas the job lease lets one run it each day.
        assert (job.every_s, job.first_after_s, job.per_replica) == (86400.0, 60.0, False)


async def test_runs_score_and_act_once_even_when_they_overlap(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    synthetic_shop(tmp_path / "shop.yml", customers=CUSTOMERS)
    OrderService(var_dir / "orders.db", fixtures=tmp_path / "shop.yml")  # seeds the store
    hub = build_hub_services(settings_for(var_dir, churn_job_hours=24))
    await hub.database.migrate()
    await hub.dialogue.start()
    try:
        [job] = churn_jobs(hub)
        # No model trained yet: nothing is scored, nothing decided.
        assert await run(job) == {"scored": 0, "skipped": "no churn model"}
        code, _out, err = await asyncio.to_thread(
            _cli, ["insights", "churn-train", "--proxy-days", "90"], var_dir
        )
        assert code == 0, err
        ids = [f"cust-{i:04d}" for i in range(CUSTOMERS)]
        for customer in ids:  # each can be reached, and agreed to marketing
            with contextlib.suppress(DialogueUnavailable):
                await hub.conversations.receive(InboundMessage("rest", customer, "你好"))
            await hub.consents.grant(customer, "marketing", "rest")

        first, second = await asyncio.gather(run(job), run(job))
        assert first["scored"] == second["scored"] == CUSTOMERS
        rows = await hub.database.session(
            lambda s: [
                (r.customer_id, r.rule, r.arm, r.status) for r in s.scalars(select(RetentionAction))
            ]
        )
        assert len(rows) == first["decided"] + second["decided"] > 0
        assert len({(c, rule) for c, rule, _, _ in rows}) == len(rows)  # one per customer, rule
        assert all(status != "pending" for *_, status in rows)
        coupons_done = {c for c, rule, _, status in rows if "coupon" in rule and status == "done"}
        assert coupons_done  # the synthetic shop has low-value customers at risk
        for customer in ids:
            conversation = await hub.conversations.find("rest", customer)
            assert conversation is not None
            sent = [
                m
                for m in await hub.conversations.history(conversation)
                if (m.payload or {}).get("custom", {}).get("kind") == "retention_coupon"
            ]
            assert len(sent) == (customer in coupons_done)
        tickets = await hub.tickets.list_tickets(TicketQuery(categories=("account",), limit=100))
        followed = {
            c for c, rule, arm, _ in rows if rule.startswith("follow_up") and arm == "treated"
        }
        assert sorted(t.customer_id for t in tickets.items) == sorted(followed)

        # The next day's run scores everyone again and decides no one twice.
        third = await run(job)
        assert (third["scored"], third["decided"]) == (CUSTOMERS, 0)
        assert third["considered"] > 0
    finally:
        await hub.dialogue.close()
        hub.tracker_events.dispose()
        hub.database.dispose()


def test_the_migration_keeps_the_first_decision_of_duplicates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hub.db"
    command.upgrade(alembic_config(url), "0601")  # before the unique index
    row = "INSERT INTO insights_retention_actions (customer_id, channel, rule, action, arm, "
    row += "status, detail, risk, value, decided_at) VALUES (?, 'rest', ?, 'coupon', 'treated', "
    row += "?, '', 0.9, 1, '2026-12-01 00:00:00')"
    with sqlite3.connect(tmp_path / "hub.db") as connection:
        for customer, rule, status in [
            ("a", "coupon_at_risk", "done"),
            ("a", "coupon_at_risk", "done again"),
            ("a", "follow_up", "done"),
            ("b", "coupon_at_risk", "done"),
        ]:
            connection.execute(row, (customer, rule, status))
    upgrade(url)
    with sqlite3.connect(tmp_path / "hub.db") as connection:
        kept = connection.execute(
            "SELECT customer_id, rule, status FROM insights_retention_actions ORDER BY id"
        ).fetchall()
        assert kept == [("a", "coupon_at_risk", "done"), ("a", "follow_up", "done"),
                        ("b", "coupon_at_risk", "done")]  # fmt: skip
        duplicate = (
            "INSERT INTO insights_retention_actions (customer_id, channel, rule, action, arm, "
            "status, detail, risk, value, decided_at) VALUES ('b', 'rest', 'coupon_at_risk', "
            "'coupon', 'treated', 'x', '', 0.9, 1, '2026-12-02 00:00:00')"
        )
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            connection.execute(duplicate)
