"""HandoffService and AgentDirectory on a real SQLite database, with a clock the test moves."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.handoff import (
    AgentDirectory,
    AgentExists,
    AgentProfile,
    BusinessHours,
    HandoffService,
    InvalidBusinessHours,
    InvalidCredentials,
    InvalidRequest,
    InvalidTransition,
    NotAllowed,
)
from bot.storage import Conversation, Database


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 10:00 in Beijing

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(database: Database, clock: Clock) -> HandoffService:
    return HandoffService(database, BusinessHours.parse("09:00-21:00", "Asia/Shanghai"), clock)


@pytest.fixture
def agents(database: Database) -> AgentDirectory:
    return AgentDirectory(database, session_ttl=timedelta(hours=8))


async def conversation(database: Database, mode: str = "bot") -> str:
    public_id = uuid.uuid4().hex
    await database.session(
        lambda s: s.add(
            Conversation(
                public_id=public_id,
                channel="webchat",
                sender=public_id,
                language="zh",
                mode=mode,
            )
        )
    )
    return public_id


async def mode_of(database: Database, public_id: str) -> str:
    return await database.transaction(
        lambda c: c.execute(
            select(Conversation.mode).where(Conversation.public_id == public_id)
        ).scalar_one()
    )


async def online_agent(agents: AgentDirectory, name: str, **kwargs) -> AgentProfile:  # type: ignore[no-untyped-def]
    profile = await agents.create(name, "correct horse battery", **kwargs)
    await agents.set_presence(profile.id, "online")
    return profile


async def test_full_handoff_cycle(
    service: HandoffService, agents: AgentDirectory, database: Database, clock: Clock
) -> None:
    conv = await conversation(database)
    alice = await online_agent(agents, "alice", skills=("orders",))
    ticket = await service.request(
        conv, "customer_request", language="zh", skill="orders", intent="check_order_status"
    )
    assert ticket.opens_at is None
    assert (ticket.position.position, ticket.position.agents_available) == (1, 1)
    assert await mode_of(database, conv) == "waiting"
    # Asking again while waiting changes nothing.
    again = await service.request(conv, "customer_request", language="zh", skill="orders")
    assert again.handoff.id == ticket.handoff.id

    [assigned] = await service.route_waiting()
    assert (assigned.id, assigned.agent_id, assigned.status) == (
        ticket.handoff.id,
        alice.id,
        "assigned",
    )
    clock.now += timedelta(minutes=2)
    active = await service.accept(alice, assigned.id)
    assert (active.status, active.waited) == ("active", timedelta(minutes=2))
    assert await mode_of(database, conv) == "human"

    note_id = await service.add_note(alice, active.id, "customer is a repeat buyer")
    assert note_id > 0
    closed = await service.close(alice, active.id, "explained the delivery delay")
    assert (closed.status, closed.resolution) == ("closed", "explained the delivery delay")
    assert await mode_of(database, conv) == "closed"
    pending = await service.pending_csat(conv)
    assert pending is not None
    await service.record_csat(pending.id, 5)
    assert await service.pending_csat(conv) is None
    with pytest.raises(InvalidTransition, match="has its satisfaction score already"):
        await service.record_csat(pending.id, 4)
    await service.reopen_for_bot(conv)
    assert await mode_of(database, conv) == "bot"


async def test_return_to_bot_and_cancel(
    service: HandoffService, agents: AgentDirectory, database: Database
) -> None:
    bob = await online_agent(agents, "bob")
    first = await conversation(database)
    ticket = await service.request(first, "angry", language="en", skill="general")
    await service.accept(bob, ticket.handoff.id)
    returned = await service.return_to_bot(bob, ticket.handoff.id)
    assert returned.status == "returned"
    assert await mode_of(database, first) == "bot"
    # Handed back, the customer is asked to rate the human part of the conversation too.
    pending = await service.pending_csat(first)
    assert pending is not None
    assert pending.id == ticket.handoff.id
    await service.record_csat(pending.id, 4)
    assert await service.pending_csat(first) is None

    second = await conversation(database)
    await service.request(second, "customer_request", language="en", skill="general")
    cancelled = await service.cancel_by_customer(second)
    assert cancelled.status == "cancelled"
    assert await mode_of(database, second) == "bot"
    # Nobody served the customer: nothing to rate.
    assert await service.pending_csat(second) is None
    with pytest.raises(InvalidTransition, match="closed or handed back"):
        await service.record_csat(cancelled.id, 3)
    with pytest.raises(InvalidTransition):
        await service.cancel_by_customer(second)


async def test_agents_see_only_their_skills_and_their_own(
    service: HandoffService, agents: AgentDirectory, database: Database
) -> None:
    orders = await online_agent(agents, "orders-agent", skills=("orders",), languages=("zh",))
    refunds = await online_agent(
        agents, "refunds-agent", skills=("refunds",), languages=("zh", "en")
    )
    boss = await agents.create("boss", "correct horse battery", role="supervisor")
    t1 = await service.request(
        await conversation(database), "customer_request", language="zh", skill="orders"
    )
    t2 = await service.request(
        await conversation(database), "customer_request", language="en", skill="orders"
    )
    t3 = await service.request(
        await conversation(database), "customer_request", language="en", skill="refunds"
    )
    assert [v.id for v in await service.visible_to(orders)] == [t1.handoff.id]
    assert [v.id for v in await service.visible_to(refunds)] == [t3.handoff.id]
    assert {v.id for v in await service.visible_to(boss)} == {
        t1.handoff.id,
        t2.handoff.id,
        t3.handoff.id,
    }
    with pytest.raises(NotAllowed):
        await service.accept(orders, t3.handoff.id)
    await service.accept(refunds, t3.handoff.id)
    with pytest.raises(NotAllowed):
        await service.close(orders, t3.handoff.id, "not mine")
    with pytest.raises(InvalidTransition, match="cannot be accepted"):
        await service.accept(boss, t3.handoff.id)


async def test_transfer_to_agent_and_to_skill(
    service: HandoffService, agents: AgentDirectory, database: Database
) -> None:
    ann = await online_agent(agents, "ann", skills=("orders", "refunds"))
    ben = await online_agent(agents, "ben", skills=("refunds",))
    conv = await conversation(database)
    ticket = await service.request(conv, "customer_request", language="zh", skill="orders")
    await service.accept(ann, ticket.handoff.id)
    moved = await service.transfer(ann, ticket.handoff.id, to_agent=ben.id)
    assert (moved.status, moved.agent_id) == ("assigned", ben.id)
    assert await mode_of(database, conv) == "waiting"
    with pytest.raises(NotAllowed):
        await service.accept(ann, ticket.handoff.id)  # it is ben's now
    await service.accept(ben, ticket.handoff.id)
    requeued = await service.transfer(ben, ticket.handoff.id, to_skill="orders")
    assert (requeued.status, requeued.agent_id, requeued.skill) == ("queued", None, "orders")
    with pytest.raises(InvalidRequest, match="exactly one"):
        await service.transfer(ben, ticket.handoff.id)
    with pytest.raises(InvalidRequest, match="unknown skill"):
        await service.transfer(ben, ticket.handoff.id, to_skill="magic")


async def test_after_hours_request_waits_for_the_next_shift(
    service: HandoffService, database: Database, clock: Clock
) -> None:
    clock.now = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)  # 23:30 in Beijing
    ticket = await service.request(
        await conversation(database), "after_hours_message", language="zh", skill="general"
    )
    assert ticket.opens_at == datetime(2026, 11, 29, 1, 0, tzinfo=UTC)  # 09:00 Beijing
    assert ticket.handoff.status == "queued"


async def test_load_limit_and_presence(
    service: HandoffService, agents: AgentDirectory, database: Database
) -> None:
    solo = await online_agent(agents, "solo", max_chats=1)
    tickets = [
        await service.request(
            await conversation(database), "customer_request", language="zh", skill="general"
        )
        for _ in range(3)
    ]
    assert len(await service.route_waiting()) == 1
    assert await service.route_waiting() == []  # solo is full
    third = await service.position(tickets[2].handoff.id)
    assert third.position == 3
    await agents.set_presence(solo.id, "away")
    with pytest.raises(InvalidRequest, match="presence must be one of"):
        await agents.set_presence(solo.id, "sleeping")


async def test_bad_requests(service: HandoffService, database: Database) -> None:
    conv = await conversation(database)
    with pytest.raises(InvalidRequest, match="unknown handoff reason"):
        await service.request(conv, "boredom", language="zh", skill="general")
    with pytest.raises(InvalidRequest, match="unknown skill"):
        await service.request(conv, "angry", language="zh", skill="astrology")
    closed = await conversation(database, mode="human")
    with pytest.raises(InvalidTransition, match="is human"):
        await service.request(closed, "angry", language="zh", skill="general")


async def test_agent_logins(agents: AgentDirectory) -> None:
    await agents.create("carol", "correct horse battery", display_name="Carol")
    with pytest.raises(AgentExists):
        await agents.create("carol", "another password")
    with pytest.raises(InvalidRequest, match="at least 8 characters"):
        await agents.create("dave", "short")
    with pytest.raises(InvalidRequest, match="skills must be among"):
        await agents.create("erin", "long enough pw", skills=("juggling",))
    with pytest.raises(InvalidCredentials):
        await agents.log_in("carol", "wrong password")
    with pytest.raises(InvalidCredentials):
        await agents.log_in("nobody", "correct horse battery")
    token, profile = await agents.log_in("carol", "correct horse battery")
    assert profile.display_name == "Carol"
    assert await agents.agent_for_token(token) == profile
    await agents.log_out(token)
    assert await agents.agent_for_token(token) is None
    assert await agents.agent_for_token("forged") is None


@pytest.mark.parametrize(
    ("spec", "zone", "message"),
    [
        ("9-21", "Asia/Shanghai", "not like"),
        ("25:00-21:00", "Asia/Shanghai", "impossible"),
        ("09:00-21:00", "Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_business_hours(spec: str, zone: str, message: str) -> None:
    with pytest.raises(InvalidBusinessHours, match=message):
        BusinessHours.parse(spec, zone)


def test_business_hours_across_midnight() -> None:
    night = BusinessHours.parse("22:00-06:00", "UTC")
    assert night.is_open(datetime(2026, 1, 1, 23, 0, tzinfo=UTC))
    assert night.is_open(datetime(2026, 1, 1, 5, 59, tzinfo=UTC))
    assert not night.is_open(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    assert night.next_opening(datetime(2026, 1, 1, 12, 0, tzinfo=UTC)) == datetime(
        2026, 1, 1, 22, 0, tzinfo=UTC
    )
    assert BusinessHours.parse("00:00-24:00", "UTC").is_open(datetime(2026, 1, 1, 3, 0, tzinfo=UTC))
