"""Retention rules on a real SQLite database: hold-outs, consent, records, uplift."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, select, text, update

from bot.insights import (
    AtRiskCustomer,
    Decision,
    RetentionAction,
    RetentionDesk,
    RetentionError,
    RetentionRule,
    Uplift,
    holdout_arm,
)
from bot.privacy import ConsentService
from bot.storage import Database


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/hub.db")
    await db.migrate()
    yield db
    db.dispose()


def test_holdout_is_deterministic_and_balanced_per_rule() -> None:
    ids = [f"customer-{i}" for i in range(20_000)]
    first = [holdout_arm(i, "coupon_at_risk", 0.5) for i in ids]
    assert first == [holdout_arm(i, "coupon_at_risk", 0.5) for i in ids]
    share = first.count("holdout") / len(ids)
    assert 0.48 < share < 0.52
    small = [holdout_arm(i, "follow_up", 0.2) for i in ids].count("holdout") / len(ids)
    assert 0.18 < small < 0.22
    # Another rule draws its own hold-out: the two groups are not the same customers.
    other = [holdout_arm(i, "senior_agent", 0.5) for i in ids]
    agree = sum(a == b for a, b in zip(first, other, strict=True)) / len(ids)
    assert 0.47 < agree < 0.53


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "free_money", "min_risk": 0.5}, "action must be one of"),
        ({"action": "coupon", "min_risk": 0.5, "holdout_share": 0.0}, "holdout_share"),
        ({"action": "coupon", "min_risk": 1.5}, "min_risk"),
    ],
)
def test_bad_rules_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(RetentionError, match=message):
        RetentionRule("r", **kwargs)  # type: ignore[arg-type]


async def test_rules_record_every_decision_and_respect_consent(database: Database) -> None:
    consents = ConsentService(database)
    carried: list[tuple[str, str]] = []

    async def send_coupon(customer: AtRiskCustomer, rule: RetentionRule) -> str:
        carried.append((customer.customer_id, rule.name))
        return "coupon RETAIN10 sent"

    rules = (RetentionRule("coupon", "coupon", 0.5, holdout_share=0.5),)
    desk = RetentionDesk(database, consents, {"coupon": send_coupon}, rules)
    ids = [f"c{i}" for i in range(40)]
    treated = [i for i in ids if holdout_arm(i, "coupon", 0.5) == "treated"]
    consenting = treated[: len(treated) // 2]
    for customer in consenting:
        await consents.grant(customer, "marketing", "rest")
    customers = [AtRiskCustomer(i, "rest", 0.8, 100.0) for i in ids]
    customers.append(AtRiskCustomer("low-risk", "rest", 0.2, 100.0))
    decisions = await desk.act(customers)

    assert len(decisions) == 40  # the low-risk customer is no one's
    by_id = {d.customer_id: d for d in decisions}
    for customer in ids:
        decision = by_id[customer]
        if customer in consenting:
            assert (decision.arm, decision.status) == ("treated", "done")
        elif customer in treated:
            assert (decision.arm, decision.status) == ("treated", "no_consent")
        else:
            assert (decision.arm, decision.status) == ("holdout", "holdout")
    assert sorted(carried) == sorted((c, "coupon") for c in consenting)
    stored = await database.transaction(
        lambda c: c.execute(text("SELECT count(*) FROM insights_retention_actions")).scalar()
    )
    assert stored == 40
    # Run again: nobody is decided twice, nobody gets a second coupon.
    assert await desk.act(customers) == []
    assert len(carried) == len(consenting)
    assert await desk.history("c0") == [by_id["c0"]]


async def test_an_action_nothing_carries_out_is_recorded_as_such(database: Database) -> None:
    rules = (RetentionRule("follow_up", "follow_up_ticket", 0.7, holdout_share=0.5),)
    desk = RetentionDesk(database, ConsentService(database), {}, rules)
    treated = next(
        f"x{i}" for i in range(100) if holdout_arm(f"x{i}", "follow_up", 0.5) == "treated"
    )
    (decision,) = await desk.act([AtRiskCustomer(treated, "webchat", 0.9, 0.0)])
    assert decision == Decision(
        treated,
        "follow_up",
        "follow_up_ticket",
        "treated",
        "no_handler",
        "recorded only: nothing is wired to carry out follow_up_ticket",
    )


async def test_uplift_is_treated_minus_holdout_retention(database: Database) -> None:
    rules = (RetentionRule("route", "priority_routing", 0.5, holdout_share=0.5),)

    async def route(customer: AtRiskCustomer, rule: RetentionRule) -> str:
        return "senior queue"

    desk = RetentionDesk(database, ConsentService(database), {"priority_routing": route}, rules)
    ids = [f"v{i}" for i in range(60)]
    decisions = await desk.act([AtRiskCustomer(i, "rest", 0.9, 2000.0) for i in ids])
    treated = [d.customer_id for d in decisions if d.arm == "treated"]
    holdout = [d.customer_id for d in decisions if d.arm == "holdout"]
    # Known outcomes: 3 of 4 treated stay, 1 of 2 hold-outs stay.
    outcomes = {c: i % 4 != 0 for i, c in enumerate(treated)}
    outcomes |= {c: i % 2 == 0 for i, c in enumerate(holdout)}
    assert await desk.record_outcomes(outcomes) == 60
    (uplift,) = await desk.uplift()
    treated_kept = sum(outcomes[c] for c in treated)
    holdout_kept = sum(outcomes[c] for c in holdout)
    assert uplift == Uplift("route", len(treated), treated_kept, len(holdout), holdout_kept)
    expected = treated_kept / len(treated) - holdout_kept / len(holdout)
    assert uplift.uplift == round(expected, 4)
    assert Uplift("none", 0, 0, 3, 1).uplift is None


async def age(database: Database, days: int) -> None:
    """Make every recorded decision ``days`` older."""

    def work(connection: Connection) -> None:
        rows = connection.execute(select(RetentionAction.id, RetentionAction.decided_at)).all()
        for row_id, decided_at in rows:
            connection.execute(
                update(RetentionAction)
                .where(RetentionAction.id == row_id)
                .values(decided_at=decided_at - timedelta(days=days))
            )

    await database.transaction(work)


async def test_a_rule_decides_again_only_after_the_cooldown(database: Database) -> None:
    rules = (RetentionRule("coupon", "coupon", 0.5, holdout_share=0.5),)
    carried: list[str] = []

    async def send_coupon(customer: AtRiskCustomer, rule: RetentionRule) -> str:
        carried.append(customer.customer_id)
        return "coupon sent"

    consents = ConsentService(database)
    desk = RetentionDesk(
        database, consents, {"coupon": send_coupon}, rules, cooldown=timedelta(days=90)
    )
    treated = next(f"t{i}" for i in range(100) if holdout_arm(f"t{i}", "coupon", 0.5) == "treated")
    held = next(f"h{i}" for i in range(100) if holdout_arm(f"h{i}", "coupon", 0.5) == "holdout")
    await consents.grant(treated, "marketing", "rest")
    customers = [AtRiskCustomer(c, "rest", 0.9, 10.0) for c in (treated, held)]
    first = await desk.act(customers)
    assert [(d.customer_id, d.arm, d.round) for d in first] == [
        (treated, "treated", 0),
        (held, "holdout", 0),
    ]
    assert await desk.act(customers) == []  # within the cooldown: nobody again

    await age(database, 89)
    assert await desk.act(customers) == []  # 89 days: still too early
    await age(database, 2)
    # 91 days on, both are still at risk: a second round, each in the same arm as before.
    second = await desk.act(customers)
    assert [(d.customer_id, d.arm, d.status, d.round) for d in second] == [
        (treated, "treated", "done", 1),
        (held, "holdout", "holdout", 1),
    ]
    assert carried == [treated, treated]
    assert [d.round for d in await desk.history(treated)] == [0, 1]
    assert await desk.act(customers) == []


async def test_overlapping_runs_after_the_cooldown_decide_a_round_once(
    database: Database,
) -> None:
    rules = (RetentionRule("route", "priority_routing", 0.5, holdout_share=0.2),)
    started = asyncio.Event()
    calls: list[str] = []

    async def route(customer: AtRiskCustomer, rule: RetentionRule) -> str:
        calls.append(customer.customer_id)
        started.set()
        await asyncio.sleep(0)  # let the other run reach its claim meanwhile
        return "senior queue"

    desk = RetentionDesk(database, ConsentService(database), {"priority_routing": route}, rules)
    other = RetentionDesk(database, ConsentService(database), {"priority_routing": route}, rules)
    customers = [AtRiskCustomer(f"o{i}", "rest", 0.9, 5000.0) for i in range(30)]
    await desk.act(customers)
    await age(database, 100)
    calls.clear()
    first, second = await asyncio.gather(desk.act(customers), other.act(customers))
    assert len(first) + len(second) == 30  # every customer decided once in round 1
    assert sorted(calls) == sorted(set(calls))
    rows = await database.transaction(
        lambda c: c.execute(
            text("SELECT customer_id, round FROM insights_retention_actions ORDER BY id")
        ).all()
    )
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (c.customer_id, n) for c in customers for n in (0, 1)
    )


def test_a_cooldown_must_be_positive(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/x.db")
    try:
        with pytest.raises(RetentionError, match="cool-down"):
            RetentionDesk(database, ConsentService(database), cooldown=timedelta(0))
    finally:
        database.dispose()
