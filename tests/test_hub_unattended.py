"""A request for a human while no agent is online becomes a ticket with the conversation, and
ticket news reaches a web-chat customer through their conversation.

The conversations module runs on a real database with the wiring's ticket adapter; Rasa is a
local HTTP server answering as Rasa does when ``action_handoff`` runs (its reply carries the
handoff marker, and the hub appends events to pause and resume the tracker).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.app import deliver_ticket_notices, unattended_tickets
from bot.conversations import ConversationEvent, ConversationService, InboundMessage
from bot.dialogue import RasaClient
from bot.handoff import AgentDirectory, BusinessHours, HandoffService
from bot.storage import Database
from bot.tickets import TicketConfig, TicketDraft, TicketQuery, TicketService
from tests.launch import free_port

HOURS = BusinessHours.parse("00:00-24:00", "Asia/Shanghai")
HANDOFF_REPLY = {
    "recipient_id": "x",
    "text": "正在为您转接人工客服，请稍候，客服会看到我们之前的对话。",
    "custom": {"handoff": {"reason": "customer_request", "intent": "request_human"}},
}


@dataclass
class Hub:
    conversations: ConversationService
    handoffs: HandoffService
    agents: AgentDirectory
    tickets: TicketService
    rasa_events: list[dict[str, Any]]


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    events: list[dict[str, Any]] = []

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        if body["message"] in {"转人工", "human please"}:
            return web.json_response([HANDOFF_REPLY])
        return web.json_response([{"recipient_id": "x", "text": "我的快递三天没动了"}])

    async def append(request: web.Request) -> web.Response:
        body = await request.json()
        events.extend(body if isinstance(body, list) else [body])
        return web.json_response({})

    async def tracker(_request: web.Request) -> web.Response:
        return web.json_response({"latest_message": {"intent": {"name": "request_human"}}})

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_post("/conversations/{id}/tracker/events", append)
    app.router.add_get("/conversations/{id}/tracker", tracker)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()
    dialogue = RasaClient(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}", 5.0)
    await dialogue.start()
    handoffs = HandoffService(database, HOURS)
    tickets = TicketService(database, TicketConfig(HOURS))
    conversations = ConversationService(
        database,
        dialogue,
        handoffs,
        HOURS,
        max_text_chars=500,
        default_language="zh",
        unattended=unattended_tickets(tickets),
    )
    yield Hub(
        conversations, handoffs, AgentDirectory(database, timedelta(hours=1)), tickets, events
    )
    await dialogue.close()
    await runner.cleanup()
    database.dispose()


async def test_with_nobody_online_the_request_becomes_a_ticket(hub: Hub) -> None:
    await hub.conversations.receive(InboundMessage("webchat", "session-1", "我的快递三天没动了"))
    turn = await hub.conversations.receive(InboundMessage("webchat", "session-1", "转人工"))
    assert turn.mode == "bot"  # no one would take it: the customer stays with the bot
    (ticket,) = (await hub.tickets.list_tickets(TicketQuery())).items
    assert (ticket.customer_id, ticket.channel, ticket.conversation_id) == (
        "webchat:session-1",
        "webchat",
        turn.conversation_id,
    )
    assert set(ticket.tags) == {"no-agent-online", "customer-request"}
    assert ticket.description.splitlines()[:2] == [
        "customer: 我的快递三天没动了",
        "bot: 我的快递三天没动了",
    ]
    assert "customer: 转人工" in ticket.description
    told = turn.replies[-1]
    assert told.custom == {"author": "system", "kind": "ticket", "ticket": ticket.number}
    assert ticket.first_response_due_at is not None
    due = ticket.first_response_due_at.astimezone(HOURS.zone).strftime("%Y-%m-%d %H:%M")
    assert told.text == (
        f"现在没有人工客服在线。已为您创建工单 {ticket.number}（附上了我们的对话），"
        f"客服会在 {due} 前回复您，回复会发到这里。"
    )
    # Rasa was paused by its action_handoff; with no human coming it listens again.
    assert [e["event"] for e in hub.rasa_events][-2:] == ["resume", "action"]
    assert await hub.handoffs.open_handoff(turn.conversation_id) is None


async def test_with_an_agent_online_the_request_queues(hub: Hub) -> None:
    agent = await hub.agents.create("mei", "a-long-enough-password")
    await hub.agents.set_presence(agent.id, "online")
    turn = await hub.conversations.receive(InboundMessage("webchat", "session-2", "转人工"))
    assert turn.mode == "waiting"
    assert (await hub.tickets.list_tickets(TicketQuery())).items == ()


async def test_ticket_news_is_posted_into_the_web_chat_conversation(hub: Hub) -> None:
    turn = await hub.conversations.receive(InboundMessage("webchat", "session-3", "在吗"))
    seen: list[ConversationEvent] = []

    async def listen(event: ConversationEvent) -> None:
        seen.append(event)

    hub.conversations.events.subscribe(listen)
    draft = TicketDraft(
        customer_id="webchat:session-3",
        subject="耳机没声音",
        description="左耳没声音",
        channel="webchat",
        conversation_id=turn.conversation_id,
        language="zh",
    )
    ticket, _ = await hub.tickets.create(draft, actor="bot")
    await hub.tickets.reply(ticket.number, author="agent-1", text="已为您补发")
    assert await deliver_ticket_notices(hub.tickets, hub.conversations) == 1
    latest = (await hub.conversations.history(turn.conversation_id))[-1]
    assert (latest.direction, latest.author, latest.text, latest.payload) == (
        "out",
        "system",
        f"您的工单 {ticket.number} 有新回复：已为您补发",
        {"kind": "ticket_reply", "ticket": ticket.number},
    )
    # The web-chat channel emits every stored outbound message it hears of (live, or as missed
    # on reconnect); the notice is delivered once.
    assert [e.message.id for e in seen if e.kind == "message" and e.message] == [latest.id]
    assert await deliver_ticket_notices(hub.tickets, hub.conversations) == 0
    assert await hub.tickets.pending_notifications("webchat") == []
