"""TicketService on a real database (SQLite; the concurrency test on PostgreSQL too), with a
clock the test moves."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command

from bot.handoff import BusinessHours
from bot.storage import Database, alembic_config, upgrade
from bot.tickets import (
    AttachmentRef,
    HistoryRow,
    IdempotencyConflict,
    InvalidStatusChange,
    InvalidTicket,
    SlaReport,
    StaleTicket,
    TicketChanges,
    TicketConfig,
    TicketDraft,
    TicketEntry,
    TicketNotFound,
    TicketQuery,
    TicketService,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in Shanghai, December 2026 (the 2nd is a Wednesday)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


class Clock:
    def __init__(self) -> None:
        self.now = local(2, 10)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/hub.db")
    await db.migrate()
    yield db
    db.dispose()


@pytest.fixture
async def any_service(
    database_url: str, config: TicketConfig, clock: Clock
) -> AsyncIterator[TicketService]:
    """A service on each backend (SQLite and a private PostgreSQL)."""
    db = Database(database_url)
    await db.migrate()
    yield TicketService(db, config, clock)
    db.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def config() -> TicketConfig:
    hours = BusinessHours.parse("09:00-18:00", "Asia/Shanghai", "mon-fri", ["2026-12-07"])
    return TicketConfig(hours=hours)


@pytest.fixture
def service(database: Database, config: TicketConfig, clock: Clock) -> TicketService:
    return TicketService(database, config, clock)


def draft(**changes: object) -> TicketDraft:
    fields: dict[str, object] = {
        "customer_id": "cust-1",
        "subject": "Parcel not arrived",
        "description": "Order 1001 was due on Monday.",
        "category": "delivery",
        "channel": "webchat",
        "conversation_id": "conv-1",
    }
    fields.update(changes)
    return TicketDraft(**fields)  # type: ignore[arg-type]


async def test_create_numbers_prioritises_and_sets_due_times(service: TicketService) -> None:
    ticket, created = await service.create(draft(), actor="agent:amy")
    assert created
    assert ticket.number == "T-20261202-0001"
    assert (ticket.status, ticket.priority, ticket.version, ticket.sla_state) == (
        "new",
        "P3",
        1,
        "ok",
    )
    # P3: first response in 8 business hours, resolution in 48, from Wednesday 10:00.
    assert ticket.first_response_due_at == local(2, 18)
    assert ticket.resolution_due_at == local(10, 13)  # Monday the 7th is a holiday
    assert ticket.next_due_at == ticket.first_response_due_at
    second, _ = await service.create(draft(subject="Another"), actor="agent:amy")
    assert second.number == "T-20261202-0002"
    detail = await service.get(ticket.number)
    assert detail.history == (
        HistoryRow("agent:amy", "status", None, "new", local(2, 10)),
        HistoryRow("agent:amy", "priority", None, "P3 (category delivery: P3)", local(2, 10)),
    )


async def test_number_day_is_the_business_day(service: TicketService, clock: Clock) -> None:
    clock.now = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)  # already the 3rd in Shanghai
    ticket, _ = await service.create(draft(), actor="bot")
    assert ticket.number == "T-20261203-0001"


async def test_angry_customer_gets_p1_with_reasons(service: TicketService) -> None:
    ticket, _ = await service.create(
        draft(category="complaint", angry=True, description="太差了，我要投诉"), actor="bot"
    )
    assert ticket.priority == "P1"
    history = (await service.get(ticket.number)).history
    assert history[1].new == "P1 (category complaint: P2; angry customer: at least P1)"


async def test_idempotent_creation(service: TicketService) -> None:
    first, created = await service.create(draft(), actor="api", idempotency_key="k-1")
    again, created_again = await service.create(draft(), actor="api", idempotency_key="k-1")
    assert (created, created_again) == (True, False)
    assert again == first
    with pytest.raises(
        IdempotencyConflict,
        match="Idempotency-Key 'k-1' was used for ticket T-20261202-0001 with a different body",
    ):
        await service.create(draft(subject="Else"), actor="api", idempotency_key="k-1")
    page = await service.list_tickets(TicketQuery())
    assert page.total == 1


async def test_concurrent_idempotent_creation_makes_one_ticket(service: TicketService) -> None:
    results = await asyncio.gather(
        *(service.create(draft(), actor="api", idempotency_key="same") for _ in range(6))
    )
    assert len({view.number for view, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 5 + [True]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer_id": " "}, "customer_id must be 1 to 128 visible characters"),
        ({"subject": "  "}, "subject is empty; write something"),
        ({"subject": "x" * 201}, "subject is 201 characters long; the limit is 200"),
        ({"category": "shoes"}, "category 'shoes' is unknown; use one of order, return_refund"),
        ({"priority": "P5"}, "priority 'P5' is unknown; use one of P1, P2, P3, P4"),
        ({"team": "billing"}, "team 'billing' is unknown; use one of orders, refunds"),
        ({"language": "fr"}, "language 'fr' is unknown; use zh or en"),
        ({"sentiment": 3.0}, "sentiment is from -1 to 1, not 3.0"),
        ({"tags": ("a,b",)}, "tag 'a,b' must be 1 to 32 characters without commas"),
        ({"attachments": (AttachmentRef(""),)}, "an attachment's media_id must be 1 to 64"),
    ],
)
async def test_bad_drafts_are_refused_and_store_nothing(
    service: TicketService, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidTicket, match=message):
        await service.create(draft(**changes), actor="api")
    assert (await service.list_tickets(TicketQuery())).total == 0


async def test_customer_sees_only_own_tickets_and_cannot_tell_why(service: TicketService) -> None:
    ticket, _ = await service.create(draft(), actor="bot")
    await service.note(ticket.number, author="agent:amy", text="VIP, be quick")
    own = await service.get(ticket.number, customer_id="cust-1")
    assert own.entries == ()
    assert own.history == ()
    with pytest.raises(TicketNotFound) as foreign:
        await service.get(ticket.number, customer_id="cust-2")
    with pytest.raises(TicketNotFound) as missing:
        await service.get("T-20261202-0999", customer_id="cust-2")
    assert str(foreign.value) == f"no ticket {ticket.number}"
    assert str(missing.value) == "no ticket T-20261202-0999"
    with pytest.raises(InvalidTicket, match="ticket number '1' is not like T-20261202-0001"):
        await service.get("1")


async def test_reply_note_and_customer_thread(service: TicketService, clock: Clock) -> None:
    ticket, _ = await service.create(
        draft(attachments=(AttachmentRef("m-1", "photo of the label"),)), actor="bot"
    )
    clock.now = local(2, 11)
    replied = await service.reply(
        ticket.number, author="agent:amy", text="Checking with the courier"
    )
    assert (replied.status, replied.first_responded_at, replied.version) == (
        "open",
        local(2, 11),
        2,
    )
    assert replied.next_due_at == replied.resolution_due_at
    await service.note(ticket.number, author="agent:amy", text="courier says lost")
    clock.now = local(2, 12)
    await service.add_info(
        ticket.number,
        customer_id="cust-1",
        text="追踪号 SF123",
        attachments=(AttachmentRef("m-2", "截图"),),
    )
    detail = await service.get(ticket.number)
    assert [(e.kind, e.author, e.text) for e in detail.entries] == [
        ("reply", "agent:amy", "Checking with the courier"),
        ("note", "agent:amy", "courier says lost"),
        ("customer", "cust-1", "追踪号 SF123"),
    ]
    assert detail.attachments == (AttachmentRef("m-1", "photo of the label"),)
    assert detail.entries[2].attachments == (AttachmentRef("m-2", "截图"),)
    customer = await service.get(ticket.number, customer_id="cust-1")
    assert [e.kind for e in customer.entries] == ["reply", "customer"]
    assert customer.entries[0] == TicketEntry(
        detail.entries[0].id, "reply", "agent:amy", "Checking with the courier", local(2, 11)
    )


async def test_status_lifecycle_notifies_the_customer(service: TicketService, clock: Clock) -> None:
    ticket, _ = await service.create(draft(language="zh"), actor="bot")
    await service.reply(ticket.number, author="agent:amy", text="请提供订单号")
    await service.change_status(ticket.number, "pending_customer", actor="agent:amy")
    await service.add_info(ticket.number, customer_id="cust-1", text="1001")
    resolved = await service.change_status(ticket.number, "resolved", actor="agent:amy")
    assert (resolved.status, resolved.resolved_at, resolved.next_due_at) == (
        "resolved",
        clock.now,
        None,
    )
    with pytest.raises(InvalidStatusChange, match="cannot go from resolved to open"):
        await service.change_status(ticket.number, "open", actor="agent:amy")
    rated = await service.set_satisfaction(ticket.number, 5, customer_id="cust-1")
    assert rated.satisfaction == 5
    texts = [(n.kind, n.text) for n in await service.pending_notifications("webchat")]
    assert texts == [
        ("reply", f"您的工单 {ticket.number} 有新回复：请提供订单号"),
        ("status", f"您的工单 {ticket.number} 需要您补充信息，请直接在此回复。"),
        (
            "status",
            f"您的工单 {ticket.number} 状态已更新为：已解决。请为本次处理打分：1（很差）到 5（很好）。",
        ),
    ]
    notes = await service.pending_notifications("webchat", conversation_id="conv-1")
    assert await service.mark_delivered([n.id for n in notes]) == 3
    assert await service.pending_notifications("webchat") == []
    assert await service.mark_delivered([n.id for n in notes]) == 0


async def test_customer_reply_reopens_a_resolved_ticket(
    service: TicketService, clock: Clock
) -> None:
    ticket, _ = await service.create(draft(), actor="bot")
    await service.reply(ticket.number, author="agent:amy", text="Refund sent")
    await service.change_status(ticket.number, "resolved", actor="agent:amy")
    clock.now = local(3, 10)
    reopened = await service.add_info(ticket.number, customer_id="cust-1", text="Not received")
    assert reopened.status == "reopened"
    assert reopened.resolution_due_at == local(11, 13)  # a fresh 48 business hours
    assert reopened.next_due_at == reopened.resolution_due_at
    await service.change_status(ticket.number, "closed", actor="agent:amy")
    with pytest.raises(InvalidStatusChange, match="is closed; open a new ticket for anything new"):
        await service.add_info(ticket.number, customer_id="cust-1", text="again")


async def test_pending_customer_pauses_the_clock(service: TicketService, clock: Clock) -> None:
    ticket, _ = await service.create(draft(priority="P1"), actor="agent:amy")
    assert (ticket.first_response_due_at, ticket.resolution_due_at) == (local(2, 11), local(2, 18))
    clock.now = local(2, 10, 30)
    await service.reply(ticket.number, author="agent:amy", text="Need your order id")
    clock.now = local(2, 11)
    paused = await service.change_status(ticket.number, "pending_customer", actor="agent:amy")
    assert (paused.paused_at, paused.next_due_at, paused.sla_state) == (local(2, 11), None, "ok")
    clock.now = local(3, 11)  # 7 h on Wednesday and 2 h on Thursday waited on the customer
    resumed = await service.add_info(ticket.number, customer_id="cust-1", text="1001")
    assert (resumed.status, resumed.paused_at) == ("open", None)
    assert resumed.resolution_due_at == local(3, 18)
    assert resumed.next_due_at == local(3, 18)


async def test_stale_version_is_refused(service: TicketService) -> None:
    ticket, _ = await service.create(draft(), actor="bot")
    await service.assign(ticket.number, "amy", actor="lead", expected_version=1)
    with pytest.raises(StaleTicket, match="is at version 2, not 1: someone changed it meanwhile"):
        await service.assign(ticket.number, "bob", actor="lead", expected_version=1)
    current = (await service.get(ticket.number)).ticket
    assert (current.assignee, current.version) == ("amy", 2)


async def test_update_records_one_history_row_per_field(
    service: TicketService, clock: Clock
) -> None:
    ticket, _ = await service.create(draft(), actor="bot")
    clock.now = local(2, 11)
    changed = await service.update(
        ticket.number,
        TicketChanges(
            priority="P1", team="orders", assignee="amy", tags=("Lost", "courier", "lost")
        ),
        actor="lead",
        expected_version=1,
    )
    assert (changed.priority, changed.team, changed.assignee, changed.tags) == (
        "P1",
        "orders",
        "amy",
        ("lost", "courier"),
    )
    assert changed.first_response_due_at == local(2, 11)  # P1: 1 h from the 10:00 start
    transferred = await service.transfer(ticket.number, "refunds", actor="lead")
    assert (transferred.team, transferred.assignee) == ("refunds", None)
    history = [(h.actor, h.field, h.old, h.new) for h in (await service.get(ticket.number)).history]
    assert history[2:] == [
        ("lead", "tags", "", "lost, courier"),
        ("lead", "team", "general", "orders"),
        ("lead", "assignee", None, "amy"),
        ("lead", "priority", "P3", "P1"),
        ("lead", "team", "orders", "refunds"),
        ("lead", "assignee", "amy", None),
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (TicketChanges(), "nothing to change; give at least one of"),
        (TicketChanges(status="done"), "status 'done' is unknown"),
        (TicketChanges(assignee="amy", unassign=True), "give an assignee or unassign, not both"),
        (TicketChanges(assignee=" "), "assignee must be 1 to 64 visible characters"),
    ],
)
async def test_bad_updates_change_nothing(
    service: TicketService, changes: TicketChanges, message: str
) -> None:
    ticket, _ = await service.create(draft(), actor="bot")
    with pytest.raises(InvalidTicket, match=message):
        await service.update(ticket.number, changes, actor="lead")
    assert (await service.get(ticket.number)).ticket == ticket


async def test_merge(service: TicketService) -> None:
    first, _ = await service.create(
        draft(attachments=(AttachmentRef("m-1", "label"),)), actor="bot"
    )
    second, _ = await service.create(draft(subject="Where is my parcel?"), actor="bot")
    other, _ = await service.create(draft(customer_id="cust-2"), actor="bot")
    with pytest.raises(InvalidTicket, match="belong to different customers"):
        await service.merge(first.number, other.number, actor="lead")
    with pytest.raises(InvalidTicket, match="into itself"):
        await service.merge(first.number, first.number, actor="lead")
    merged = await service.merge(first.number, second.number, actor="lead")
    assert merged.number == second.number
    source = (await service.get(first.number)).ticket
    assert (source.status, source.merged_into) == ("closed", second.number)
    target = await service.get(second.number)
    assert target.attachments == (AttachmentRef("m-1", "label"),)
    assert (
        target.entries[0].text
        == "Merged from T-20261202-0001: Parcel not arrived\n\nOrder 1001 was due on Monday."
    )
    with pytest.raises(InvalidStatusChange, match="is closed; it cannot merge"):
        await service.merge(first.number, second.number, actor="lead")


@pytest.mark.parametrize("score", [0, 6, True])
async def test_bad_satisfaction(service: TicketService, score: int) -> None:
    ticket, _ = await service.create(draft(), actor="bot")
    await service.change_status(ticket.number, "resolved", actor="amy")
    with pytest.raises(InvalidTicket, match="satisfaction is a whole number from 1 to 5"):
        await service.set_satisfaction(ticket.number, score, customer_id="cust-1")


async def test_satisfaction_only_when_resolved(service: TicketService) -> None:
    ticket, _ = await service.create(draft(), actor="bot")
    with pytest.raises(
        InvalidStatusChange, match="is new; satisfaction is asked once it is resolved"
    ):
        await service.set_satisfaction(ticket.number, 4, customer_id="cust-1")


async def test_list_filters_sort_and_pages(service: TicketService, clock: Clock) -> None:
    made = []
    specs = [
        ("cust-1", "delivery", "包裹还没到", "快递三天没有更新"),
        ("cust-2", "payment", "Charged twice", "My card was charged twice for order 7"),
        ("cust-1", "product", "Colour question", "Does it come in red? 100% cotton?"),
        ("cust-3", "complaint", "服务太差", "客服态度很差"),
    ]
    for i, (customer, category, subject, description) in enumerate(specs):
        clock.now = local(2, 10 + i)
        ticket, _ = await service.create(
            draft(
                customer_id=customer, category=category, subject=subject, description=description
            ),
            actor="bot",
        )
        made.append(ticket.number)
    clock.now = local(2, 14)
    await service.assign(made[1], "amy", actor="lead")

    async def numbers(**kwargs: object) -> list[str]:
        page = await service.list_tickets(TicketQuery(**kwargs))  # type: ignore[arg-type]
        return [t.number for t in page.items]

    assert await numbers() == [made[1], made[3], made[2], made[0]]
    assert await numbers(sort="created_at") == made
    assert await numbers(sort="-priority") == [made[1], made[3], made[0], made[2]]
    assert await numbers(text="包裹") == [made[0]]
    assert await numbers(text="CHARGED") == [made[1]]
    assert await numbers(text="100%") == [made[2]]
    assert await numbers(text="%") == [made[2]]
    assert await numbers(text=made[3].lower()) == [made[3]]
    assert await numbers(customer_id="cust-1") == [made[2], made[0]]
    assert await numbers(assignees=("amy",)) == [made[1]]
    assert await numbers(unassigned=True) == [made[3], made[2], made[0]]
    assert await numbers(priorities=("P2",), categories=("payment", "complaint")) == [
        made[1],
        made[3],
    ]
    assert await numbers(created_from=local(2, 11), created_to=local(2, 13)) == [made[1], made[2]]
    assert await numbers(statuses=("open",)) == []
    page = await service.list_tickets(TicketQuery(sort="created_at", limit=3))
    assert ([t.number for t in page.items], page.total, page.next_offset) == (made[:3], 4, 3)
    page = await service.list_tickets(TicketQuery(sort="created_at", limit=3, offset=3))
    assert ([t.number for t in page.items], page.next_offset) == (made[3:], None)
    uncounted = await service.list_tickets(
        TicketQuery(sort="created_at", limit=2, count_total=False)
    )
    assert ([t.number for t in uncounted.items], uncounted.total, uncounted.next_offset) == (
        made[:2],
        None,
        2,
    )


async def test_list_by_sla_state(service: TicketService, clock: Clock) -> None:
    p1, _ = await service.create(draft(priority="P1"), actor="bot")  # first reply due 11:00
    p4, _ = await service.create(draft(priority="P4"), actor="bot")
    clock.now = local(2, 10, 30)
    assert [
        t.number for t in (await service.list_tickets(TicketQuery(sla_state="due_soon"))).items
    ] == [p1.number]
    clock.now = local(2, 11, 30)
    breached = (await service.list_tickets(TicketQuery(sla_state="breached"))).items
    assert [(t.number, t.sla_state) for t in breached] == [(p1.number, "breached")]
    assert [t.number for t in (await service.list_tickets(TicketQuery(sla_state="ok"))).items] == [
        p4.number
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (TicketQuery(statuses=("done",)), "status 'done' is unknown"),
        (
            TicketQuery(sla_state="late"),
            "sla_state 'late' is unknown; use one of ok, due_soon, breached",
        ),
        (TicketQuery(sort="colour"), "sort 'colour' is unknown; use one of created_at"),
        (TicketQuery(limit=500), "limit is 1 to 200, not 500"),
        (TicketQuery(offset=-1), "offset is 0 or more, not -1"),
        (TicketQuery(created_from=datetime(2026, 12, 2)), "created_from needs a time zone"),
    ],
)
async def test_bad_queries(service: TicketService, query: TicketQuery, message: str) -> None:
    with pytest.raises(InvalidTicket, match=message):
        await service.list_tickets(query)


async def test_sla_check_marks_alerts_raises_and_closes(any_service: TicketService) -> None:
    service = any_service
    late, _ = await service.create(
        draft(priority="P2"), actor="bot"
    )  # reply by 14:00, fix by Fri 16:00
    answered, _ = await service.create(draft(priority="P2"), actor="bot")
    await service.reply(answered.number, author="amy", text="On it")
    done, _ = await service.create(draft(priority="P4"), actor="bot")
    await service.change_status(done.number, "resolved", actor="amy")
    waiting, _ = await service.create(draft(priority="P1"), actor="bot")
    await service.change_status(waiting.number, "pending_customer", actor="amy")

    assert await service.run_sla_check(local(2, 13)) == SlaReport(0, 0, 0, 0, 0)
    assert await service.run_sla_check(local(2, 15)) == SlaReport(1, 0, 0, 1, 0)
    assert await service.run_sla_check(local(2, 16)) == SlaReport(0, 0, 0, 0, 0)  # marked once
    assert await service.run_sla_check(local(4, 17)) == SlaReport(0, 2, 2, 2, 0)
    assert await service.run_sla_check(local(8, 11)) == SlaReport(0, 0, 0, 0, 1)  # 4 days resolved

    tickets = {t.number: t for t in (await service.list_tickets(TicketQuery(limit=10))).items}
    assert (tickets[late.number].priority, tickets[late.number].version) == ("P1", 2)
    assert tickets[late.number].first_response_breached_at == local(2, 15)
    assert tickets[late.number].resolution_breached_at == local(4, 17)
    assert tickets[answered.number].first_response_breached_at is None
    assert tickets[done.number].status == "closed"
    assert tickets[waiting.number].first_response_breached_at is None  # paused: never breached
    alerts = await service.alerts("general")
    assert [(a.ticket, a.kind, a.created_at) for a in alerts] == [
        (late.number, "first_response_breached", local(2, 15)),
        (late.number, "resolution_breached", local(4, 17)),
        (answered.number, "resolution_breached", local(4, 17)),
    ]
    assert await service.alerts("orders") == []
    assert await service.acknowledge_alerts([alerts[0].id]) == 1
    assert len(await service.alerts()) == 2
    history = [(h.actor, h.field, h.old, h.new) for h in (await service.get(late.number)).history]
    assert history[2:] == [
        ("system:sla", "first_response_breached_at", None, local(2, 15).isoformat()),
        ("system:sla", "resolution_breached_at", None, local(4, 17).isoformat()),
        ("system:sla", "priority", "P2", "P1"),
    ]


async def test_stale_write_after_sla_raise(any_service: TicketService) -> None:
    service = any_service
    ticket, _ = await service.create(draft(priority="P3"), actor="bot")
    await service.run_sla_check(local(20, 12))
    with pytest.raises(StaleTicket):
        await service.assign(ticket.number, "amy", actor="lead", expected_version=1)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_concurrent_creation_never_repeats_a_number(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, config: TicketConfig
) -> None:
    # Two services on one database stand in for two hub replicas.
    url = f"sqlite:///{tmp_path}/hub.db" if backend == "sqlite" else _postgres_database(request)
    replicas = [Database(url), Database(url)]
    await replicas[0].migrate()
    try:
        services = [TicketService(db, config) for db in replicas]
        results = await asyncio.gather(
            *(services[i % 2].create(draft(subject=f"t{i}"), actor="bot") for i in range(40))
        )
        numbers = sorted(view.number.rsplit("-", 1)[1] for view, _ in results)
        assert numbers == [f"{n:04d}" for n in range(1, 41)]
    finally:
        for db in replicas:
            db.dispose()


def _postgres_database(request: pytest.FixtureRequest) -> str:
    import uuid

    import psycopg

    server: str = request.getfixturevalue("postgres_url")
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql"), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + f"/{name}"


async def test_refresh_statistics_gives_the_planner_figures(
    service: TicketService, tmp_path: Path
) -> None:
    await service.create(draft(), actor="bot")
    await service.refresh_statistics()
    with sqlite3.connect(tmp_path / "hub.db") as connection:
        indexes = {
            row[0]
            for row in connection.execute("SELECT idx FROM sqlite_stat1 WHERE tbl = 'tickets'")
        }
    assert {
        "ix_tickets_queue",
        "ix_tickets_status_updated_at_id",
        "ix_tickets_sla_watch_at",
    } <= indexes


async def test_refresh_statistics_runs_on_each_backend(any_service: TicketService) -> None:
    ticket, _ = await any_service.create(draft(), actor="bot")
    await any_service.refresh_statistics()  # VACUUM on PostgreSQL: outside any transaction
    page = await any_service.list_tickets(TicketQuery(statuses=("new",)))
    assert [t.number for t in page.items] == [ticket.number]


def test_migration_branch_downgrades_and_upgrades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hub.db"
    upgrade(url)
    command.downgrade(alembic_config(url), "tickets@-1")
    with sqlite3.connect(tmp_path / "hub.db") as connection:
        tables = {
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert not {t for t in tables if t.startswith("ticket")}
    assert "conversations" in tables  # other modules' tables stay
    upgrade(url)
    with sqlite3.connect(tmp_path / "hub.db") as connection:
        tables = {
            r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert {t for t in tables if t.startswith("ticket")} == {
        "tickets",
        "ticket_entries",
        "ticket_attachments",
        "ticket_history",
        "ticket_counters",
        "ticket_notifications",
        "ticket_webhooks",
        "ticket_alerts",
    }


async def test_concurrent_writes_lose_nothing(any_service: TicketService) -> None:
    service = any_service
    ticket, _ = await service.create(draft(), actor="bot")
    # Unversioned changes racing each other are redone on the fresh row: all land.
    results = await asyncio.gather(
        *(service.note(ticket.number, author=f"a{i}", text=f"note {i}") for i in range(8))
    )
    assert sorted(v.version for v in results) == list(range(2, 10))
    detail = await service.get(ticket.number)
    assert sorted(e.text for e in detail.entries) == [f"note {i}" for i in range(8)]
    # Versioned changes from the same read: exactly one wins, the rest are told they are stale.
    versioned = await asyncio.gather(
        *(
            service.assign(ticket.number, f"a{i}", actor="lead", expected_version=9)
            for i in range(6)
        ),
        return_exceptions=True,
    )
    winners = [r for r in versioned if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, StaleTicket) for r in versioned if r not in winners)
    final = (await service.get(ticket.number)).ticket
    assert (final.version, final.assignee) == (10, winners[0].assignee)
