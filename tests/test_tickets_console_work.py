"""TicketService for the console's daily work on a real SQLite database, with a clock the test
moves: bulk changes, merging (forced across customers), a ticket from a live conversation, and
SLA compliance per team."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.storage import Database
from bot.tickets import (
    AttachmentRef,
    BulkOutcome,
    ConversationLine,
    ConversationSource,
    InvalidStatusChange,
    InvalidTicket,
    TeamCompliance,
    TicketChanges,
    TicketConfig,
    TicketService,
)
from tests.test_tickets_service import Clock, any_service, clock, config, draft, local

__all__ = ["any_service", "clock", "config"]  # fixtures


@pytest.fixture
async def service(
    tmp_path: Path, config: TicketConfig, clock: Clock
) -> AsyncIterator[TicketService]:
    db = Database(f"sqlite:///{tmp_path}/hub.db")
    await db.migrate()
    yield TicketService(db, config, clock)
    db.dispose()


async def test_bulk_change_applies_to_each_ticket_and_reports_each_refusal(
    service: TicketService,
) -> None:
    first, _ = await service.create(draft(), actor="bot")
    second, _ = await service.create(draft(customer_id="cust-2"), actor="bot")
    closed, _ = await service.create(draft(customer_id="cust-3"), actor="bot")
    await service.change_status(closed.number, "closed", actor="amy")
    outcomes = await service.bulk_update(
        [first.number, second.number, closed.number, "T-20261202-0099"],
        TicketChanges(status="pending_customer", assignee="amy"),
        actor="agent:lead",
        versions={second.number: second.version},
    )
    assert [(o.number, o.error) for o in outcomes] == [
        (first.number, None),
        (second.number, None),
        (
            closed.number,
            f"ticket {closed.number} cannot go from closed to pending_customer; from closed it "
            "can go to nothing: it is final",
        ),
        ("T-20261202-0099", "no ticket T-20261202-0099"),
    ]
    for number in (first.number, second.number):
        detail = await service.get(number)
        assert (detail.ticket.status, detail.ticket.assignee) == ("pending_customer", "amy")
        assert {(h.actor, h.field, h.new) for h in detail.history} >= {
            ("agent:lead", "status", "pending_customer"),
            ("agent:lead", "assignee", "amy"),
        }
    # The closed ticket kept its assignee (none): a refused ticket is left as it was.
    assert (await service.get(closed.number)).ticket.assignee is None
    (assigned,) = await service.bulk_update(
        [closed.number], TicketChanges(assignee="amy"), actor="agent:lead"
    )
    assert assigned.error == f"ticket {closed.number} is closed; it takes no changes"


async def test_bulk_change_with_a_stale_version_skips_that_ticket(service: TicketService) -> None:
    ticket, _ = await service.create(draft(), actor="bot")
    await service.assign(ticket.number, "tom", actor="lead")
    outcomes = await service.bulk_update(
        [ticket.number],
        TicketChanges(assignee="amy"),
        actor="lead",
        versions={ticket.number: ticket.version},
    )
    assert outcomes[0].ticket is None
    assert "is at version 2, not 1" in (outcomes[0].error or "")
    assert (await service.get(ticket.number)).ticket.assignee == "tom"


@pytest.mark.parametrize(
    ("numbers", "changes", "message"),
    [
        ([], TicketChanges(status="open"), "a bulk change names 1 to 100 tickets, not 0"),
        (
            [f"T-20261202-{i:04d}" for i in range(101)],
            TicketChanges(status="open"),
            "names 1 to 100 tickets, not 101",
        ),
        (["1; DROP TABLE tickets"], TicketChanges(status="open"), "is not like T-20261202-0001"),
        (["T-20261202-0001"], TicketChanges(), "nothing to change"),
        (["T-20261202-0001"], TicketChanges(status="done"), "status 'done' is unknown"),
        (["T-20261202-0001"], TicketChanges(subject="x"), "cannot set one subject"),
    ],
)
async def test_bad_bulk_changes_change_nothing(
    service: TicketService, numbers: list[str], changes: TicketChanges, message: str
) -> None:
    ticket, _ = await service.create(draft(), actor="bot")
    with pytest.raises(InvalidTicket, match=message):
        await service.bulk_update(numbers, changes, actor="lead")
    assert (await service.get(ticket.number)).ticket == ticket


async def test_bulk_names_each_ticket_once(service: TicketService) -> None:
    ticket, _ = await service.create(draft(), actor="bot")
    outcomes = await service.bulk_update(
        [ticket.number, ticket.number.lower(), f" {ticket.number} "],
        TicketChanges(priority="P1"),
        actor="lead",
    )
    assert len(outcomes) == 1
    assert outcomes[0] == BulkOutcome(ticket.number, outcomes[0].ticket, None)
    assert outcomes[0].ticket is not None
    assert outcomes[0].ticket.priority == "P1"


async def test_merge_records_both_histories_links_the_thread_and_moves_attachments(
    service: TicketService,
) -> None:
    source, _ = await service.create(
        draft(attachments=(AttachmentRef("m-1", "photo text"),)), actor="bot"
    )
    await service.reply(source.number, author="agent:amy", text="We are looking")
    target, _ = await service.create(draft(subject="Where is my parcel?"), actor="bot")
    merged = await service.merge(source.number, target.number, actor="agent:lead")
    assert merged.number == target.number
    src = await service.get(source.number)
    dst = await service.get(target.number)
    assert (src.ticket.status, src.ticket.merged_into) == ("closed", target.number)
    # The source keeps its own thread (linked by the pointer), the target notes the merge.
    assert [e.text for e in src.entries] == ["We are looking"]
    assert dst.entries[-1].kind == "note"
    assert dst.entries[-1].text == (
        f"Merged from {source.number}: Parcel not arrived\n\nOrder 1001 was due on Monday."
        f"\n\n(1 replies and notes stay on {source.number}.)"
    )
    assert dst.attachments == (AttachmentRef("m-1", "photo text"),)
    assert ("agent:lead", "merged_from", None, source.number) in {
        (h.actor, h.field, h.old, h.new) for h in dst.history
    }
    assert {("merged_into", target.number), ("status", "closed")} <= {
        (h.field, h.new) for h in src.history
    }
    # The source's customer hears where their ticket went.
    told = await service.pending_notifications("webchat")
    assert told[-1].text == (
        f"Your ticket {source.number} was merged into {target.number}; we continue there."
    )


async def test_invalid_merges_are_refused_and_change_nothing(service: TicketService) -> None:
    first, _ = await service.create(draft(), actor="bot")
    other, _ = await service.create(draft(customer_id="cust-2"), actor="bot")
    done, _ = await service.create(draft(), actor="bot")
    await service.change_status(done.number, "closed", actor="amy")
    with pytest.raises(InvalidTicket, match=r"cannot merge ticket .* into itself"):
        await service.merge(first.number, first.number.lower(), actor="lead")
    with pytest.raises(InvalidTicket, match=r"different customers.*a supervisor may force it"):
        await service.merge(first.number, other.number, actor="lead")
    with pytest.raises(InvalidStatusChange, match=f"ticket {done.number} is closed"):
        await service.merge(first.number, done.number, actor="lead")
    with pytest.raises(InvalidStatusChange, match=f"ticket {done.number} is closed"):
        await service.merge(done.number, first.number, actor="lead")
    assert (await service.get(first.number)).ticket == first
    assert (await service.get(other.number)).ticket == other
    # Forced (the adapter lets only supervisors force), another customer's ticket merges.
    await service.merge(first.number, other.number, actor="agent:boss", force=True)
    note = (await service.get(other.number)).entries[-1].text
    assert note.endswith(f"(Forced: {first.number} was customer cust-1's.)")


def lines(*texts: tuple[str, str]) -> tuple[ConversationLine, ...]:
    return tuple(
        ConversationLine(author, text, local(2, 9, minute))
        for minute, (author, text) in enumerate(texts)
    )


async def test_a_conversation_becomes_a_ticket_once(service: TicketService) -> None:
    source = ConversationSource(
        conversation_id="c-42",
        channel="webchat",
        customer_id="webchat:session-1",
        language="zh",
        team="orders",
        lines=lines(
            ("customer", "我的订单 YX1 还没到"),
            ("bot", "正在为您转接人工客服"),
            ("customer", "快点！   已经一周了"),
            ("agent", "   "),
        ),
        angry=True,
    )
    ticket, created = await service.open_from_conversation(source, actor="agent:mei")
    assert created
    assert (ticket.customer_id, ticket.channel, ticket.conversation_id) == (
        "webchat:session-1",
        "webchat",
        "c-42",
    )
    assert (ticket.subject, ticket.team, ticket.priority, ticket.language) == (
        "快点！ 已经一周了",
        "orders",
        "P1",
        "zh",
    )
    assert ticket.tags == ("from-conversation",)
    assert ticket.description == (
        "[2026-12-02 09:00] customer: 我的订单 YX1 还没到\n"
        "[2026-12-02 09:01] bot: 正在为您转接人工客服\n"
        "[2026-12-02 09:02] customer: 快点！   已经一周了"
    )
    assert service.opened_notice(ticket) == (
        f"已为本次对话创建工单 {ticket.number}，我们会在 2026-12-02 11:00 前回复您。"
        "随时可凭工单号查询进度。"
    )
    told = await service.pending_notifications("webchat", conversation_id="c-42")
    assert [(n.ticket, n.customer_id, n.text) for n in told] == [
        (ticket.number, "webchat:session-1", service.opened_notice(ticket))
    ]
    again, created_again = await service.open_from_conversation(source, actor="agent:tom")
    assert (again.number, created_again) == (ticket.number, False)
    assert len(await service.pending_notifications("webchat", conversation_id="c-42")) == 1
    # Once resolved, the conversation can get a new ticket.
    await service.change_status(ticket.number, "resolved", actor="agent:mei")
    newer, created_newer = await service.open_from_conversation(source, actor="agent:mei")
    assert created_newer
    assert newer.number != ticket.number


async def test_an_empty_conversation_gives_no_ticket(service: TicketService) -> None:
    source = ConversationSource("c-1", "rest", "cust-1", "en", "general", lines())
    with pytest.raises(InvalidTicket, match="conversation c-1 has no messages"):
        await service.open_from_conversation(source, actor="agent:mei")


async def test_sla_compliance_per_team(service: TicketService, clock: Clock) -> None:
    clock.now = local(2, 10)
    met, _ = await service.create(draft(team="orders"), actor="bot")
    late, _ = await service.create(draft(team="orders"), actor="bot")
    running, _ = await service.create(draft(team="refunds"), actor="bot")
    duplicate, _ = await service.create(draft(team="refunds"), actor="bot")
    await service.merge(duplicate.number, running.number, actor="amy")  # counted once
    await service.reply(met.number, author="amy", text="done soon")
    await service.change_status(met.number, "resolved", actor="amy")
    clock.now = local(3, 12)  # P3's first response (8 business hours) is missed by now
    await service.run_sla_check()
    report = await service.sla_compliance(local(1, 0), local(4, 0))
    by_team = {row.team: row for row in report}
    assert by_team["orders"] == TeamCompliance("orders", 2, 1, 1, 1, 0, 1)
    assert by_team["orders"].compliance == 0.5
    assert by_team["refunds"] == TeamCompliance("refunds", 1, 0, 1, 1, 0, 1)
    assert by_team["general"] == TeamCompliance("general", 0, 0, 0, 0, 0, 0)
    assert by_team["general"].compliance is None
    assert [row.team for row in report] == ["orders", "refunds", "technical", "sales", "general"]
    # Outside the period: nothing.
    empty = await service.sla_compliance(local(5, 0), local(6, 0))
    assert all(row.tickets == 0 for row in empty)
    with pytest.raises(InvalidTicket, match="must be after since"):
        await service.sla_compliance(local(4, 0), local(4, 0) - timedelta(days=1))
    del running, late


async def test_bulk_merge_conversation_and_compliance_on_each_backend(
    any_service: TicketService, clock: Clock
) -> None:
    """The same work on SQLite and on a private PostgreSQL (the grouped SQL, the upserts)."""
    service = any_service
    first, _ = await service.create(draft(team="orders"), actor="bot")
    second, _ = await service.create(draft(team="orders"), actor="bot")
    outcomes = await service.bulk_update(
        [first.number, second.number], TicketChanges(assignee="amy"), actor="lead"
    )
    assert [o.error for o in outcomes] == [None, None]
    await service.merge(second.number, first.number, actor="lead")
    source = ConversationSource(
        "c-9", "rest", "cust-9", "en", "refunds", lines(("customer", "Refund please"))
    )
    ticket, created = await service.open_from_conversation(source, actor="agent:amy")
    assert created
    assert (ticket.subject, ticket.team) == ("Refund please", "refunds")
    await service.reply(first.number, author="amy", text="On it")
    await service.change_status(first.number, "resolved", actor="amy")
    report = {row.team: row for row in await service.sla_compliance(local(1, 0), local(9, 0))}
    assert report["orders"] == TeamCompliance("orders", 1, 1, 0, 0, 0, 0)
    assert report["refunds"] == TeamCompliance("refunds", 1, 0, 0, 0, 0, 1)
