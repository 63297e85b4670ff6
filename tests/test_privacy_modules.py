"""Each module's own part of a customer's erasure and of retention, on SQLite and PostgreSQL:
only that customer's rows go, the rest stays; tickets keep what the books need."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.conversations import (
    ConversationNotFound,
    ConversationService,
    InboundMessage,
    Summarizer,
)
from bot.dialogue import DialogueUnavailable, RasaClient
from bot.handoff import AgentDirectory, BusinessHours, HandoffService
from bot.storage import Conversation, Database, Message, utcnow
from bot.tickets import TicketConfig, TicketDraft, TicketService
from tests.launch import free_port

HOURS = BusinessHours.parse("00:00-24:00", "Asia/Shanghai")


@dataclass
class Modules:
    database: Database
    conversations: ConversationService
    handoffs: HandoffService
    agents: AgentDirectory
    tickets: TicketService
    summaries: Summarizer


@pytest.fixture
async def modules(database_url: str) -> AsyncIterator[Modules]:
    database = Database(database_url)
    await database.migrate()
    nobody = free_port()
    dialogue = RasaClient(f"http://127.0.0.1:{nobody}", f"http://127.0.0.1:{nobody}", 2.0)
    await dialogue.start()
    handoffs = HandoffService(database, HOURS)
    summaries = Summarizer()
    conversations = ConversationService(
        database,
        dialogue,
        handoffs,
        HOURS,
        max_text_chars=500,
        default_language="en",
        summaries=summaries,
    )
    yield Modules(
        database,
        conversations,
        handoffs,
        AgentDirectory(database, timedelta(hours=1)),
        TicketService(database, TicketConfig(HOURS)),
        summaries,
    )
    await dialogue.close()
    database.dispose()


async def say(modules: Modules, sender: str, text: str) -> str:
    # Rasa is down: the message is kept (marked failed), which is all these tests need.
    with contextlib.suppress(DialogueUnavailable):
        await modules.conversations.receive(InboundMessage("rest", sender, text))
    found = await modules.conversations.find("rest", sender)
    assert found is not None
    return found


async def test_a_customers_conversation_goes_with_handoffs_and_notes(modules: Modules) -> None:
    mine = await say(modules, "c1", "My parcel is late")
    await say(modules, "c1", "Still nothing")
    theirs = await say(modules, "c2", "Hello")
    assert [await modules.conversations.sender_of(c) for c in (mine, theirs)] == ["c1", "c2"]
    agent = await modules.agents.create("lead", "a-long-password", role="supervisor")
    for conversation_id in (mine, theirs):
        ticket = await modules.handoffs.request(
            conversation_id, "customer_request", language="en", skill="general"
        )
        await modules.handoffs.add_note(agent, ticket.handoff.id, f"note on {conversation_id}")

    exported = await modules.conversations.export_customer("rest", "c1")
    assert exported is not None
    assert [m["text"] for m in exported["messages"]] == ["My parcel is late", "Still nothing"]
    assert [n["text"] for n in exported["notes"]] == [f"note on {mine}"]

    erased = await modules.conversations.erase_customer("rest", "c1")
    assert erased == {
        "conversations": 1,
        "messages": 2,
        "handoffs": 1,
        "notes": 1,
        "summaries": 0,
        "emotion_vectors": 0,
    }
    assert await modules.conversations.export_customer("rest", "c1") is None
    with pytest.raises(ConversationNotFound):  # not even the hub's memory keeps who it was
        await modules.conversations.sender_of(mine)
    assert await modules.conversations.erase_customer("rest", "c1") == {
        "conversations": 0,
        "messages": 0,
        "handoffs": 0,
        "notes": 0,
        "summaries": 0,
    }
    other = await modules.conversations.export_customer("rest", "c2")
    assert other is not None
    assert [m["text"] for m in other["messages"]] == ["Hello"]
    assert [n["text"] for n in other["notes"]] == [f"note on {theirs}"]


async def test_retention_counts_then_deletes_only_old_messages(modules: Modules) -> None:
    old = await say(modules, "old", "An old question")
    await say(modules, "idle", "Another old question")
    await say(modules, "mixed", "Old part")
    long_ago = utcnow() - timedelta(days=400)

    def age(session: Session) -> None:
        session.execute(update(Conversation).values(updated_at=long_ago))
        session.execute(update(Message).values(created_at=long_ago))

    await modules.database.session(age)
    await say(modules, "mixed", "New part")
    cutoff = utcnow() - timedelta(days=365)

    counted = await modules.conversations.expire_messages(cutoff, dry_run=True)
    assert counted == {"messages": 3, "conversations": 2}
    assert await modules.conversations.expire_messages(cutoff, dry_run=True) == counted
    assert await modules.conversations.expire_messages(cutoff, dry_run=False) == counted
    assert await modules.conversations.find("rest", "old") is None
    with pytest.raises(ConversationNotFound):
        await modules.conversations.sender_of(old)
    assert await modules.conversations.find("rest", "idle") is None
    mixed = await modules.conversations.export_customer("rest", "mixed")
    assert mixed is not None
    assert [m["text"] for m in mixed["messages"]] == ["New part"]


async def test_tickets_are_anonymised_for_the_books(modules: Modules) -> None:
    tickets = modules.tickets
    view, _ = await tickets.create(
        TicketDraft("c1", "Broken", "Call me on 13812345678", category="product"), actor="api"
    )
    await tickets.reply(view.number, author="agent-1", text="We will send a new one")
    other, _ = await tickets.create(TicketDraft("c2", "Late", "Where is it?"), actor="api")

    [exported] = await tickets.export_customer("c1")
    assert exported["ticket"]["description"] == "Call me on 13812345678"
    assert [e["text"] for e in exported["entries"]] == ["We will send a new one"]

    assert await tickets.erase_customer("c1", "admin:x") == 1
    assert await tickets.export_customer("c1") == []
    detail = await tickets.get(view.number)
    assert (detail.ticket.number, detail.ticket.category, detail.ticket.created_at) == (
        view.number,
        "product",
        view.created_at,
    )
    assert (detail.ticket.customer_id, detail.ticket.subject, detail.ticket.description) == (
        "[erased]",
        "[erased]",
        "[erased]",
    )
    assert [e.text for e in detail.entries] == ["[erased]"]
    assert detail.history[-1].field == "personal_data"
    assert detail.history[-1].actor == "admin:x"
    assert (await tickets.get(other.number)).ticket.description == "Where is it?"
    assert await tickets.erase_customer("c1", "admin:x") == 0


async def test_closed_tickets_are_anonymised_after_their_retention(modules: Modules) -> None:
    view, _ = await modules.tickets.create(TicketDraft("c1", "Old", "Long ago"), actor="api")
    await modules.tickets.create(TicketDraft("c2", "Open", "Still open"), actor="api")
    await modules.tickets.change_status(view.number, "closed", actor="agent-1")
    # A cutoff after the closing stands for the retention period having passed.
    later = utcnow() + timedelta(seconds=1)
    assert await modules.tickets.expire_closed(view.created_at, dry_run=True) == 0
    assert await modules.tickets.expire_closed(later, dry_run=True) == 1
    assert await modules.tickets.expire_closed(later, dry_run=False) == 1
    assert await modules.tickets.expire_closed(later, dry_run=True) == 0
    assert (await modules.tickets.get(view.number)).ticket.subject == "[erased]"
    assert [t["ticket"]["subject"] for t in await modules.tickets.export_customer("c2")] == ["Open"]
