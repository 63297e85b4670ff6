"""The console's ticket work that needs the conversation: a ticket's originating conversation
for the ticket page, and an agent's one-click ticket from the conversation they are handling.

Each call translates: it reads the conversation through the conversations module and hands the
tickets module plain data (``ConversationSource``); what a ticket holds, and the notice the
customer gets, are the tickets module's.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import HTTPException

from bot.conversations import customer_key
from bot.handoff import AgentProfile, NotAllowed
from bot.tickets import ConversationLine, ConversationSource, TicketService
from channels.console._audit import ConsoleReads
from channels.console._services import ConsoleServices

logger = logging.getLogger(__name__)

TRANSCRIPT_LIMIT = 200  # messages of a ticket's conversation shown on the ticket page
TICKET_LINES = 30  # the latest messages a ticket opened from a conversation carries


class ConversationTickets:
    """Tickets and the conversations they come from, for the console's routes."""

    def __init__(
        self, console: ConsoleServices, tickets: TicketService, reads: ConsoleReads
    ) -> None:
        self._console = console
        self._tickets = tickets
        self._reads = reads

    async def conversation_of(self, number: str, agent: AgentProfile) -> dict[str, Any]:
        """The ticket's originating conversation and its latest messages, and its open handoff
        when the agent may open it in the console. Every agent may read every ticket, and so the
        conversation it came from (its latest messages are in the ticket's description already)."""
        detail = await self._tickets.get(number)
        conversation_id = detail.ticket.conversation_id
        if conversation_id is None:
            raise HTTPException(
                404, detail=f"ticket {detail.ticket.number} was not opened from a conversation"
            )
        await self._reads.conversation(agent, conversation_id, f"ticket {detail.ticket.number}")
        messages = await self._console.conversations.history(
            conversation_id, limit=TRANSCRIPT_LIMIT
        )
        handoff = await self._console.handoffs.open_handoff(conversation_id)
        if handoff is not None:
            try:
                await self._console.handoffs.get(handoff.id, agent)
            except NotAllowed:
                handoff = None  # queued for other skills: not this agent's to open
        return {
            "ticket": detail.ticket.number,
            "conversation_id": conversation_id,
            "channel": detail.ticket.channel,
            "handoff_id": None if handoff is None else handoff.id,
            "transcript": [m.as_json() for m in messages],
        }

    async def open_from_handoff(self, agent: AgentProfile, handoff_id: int) -> dict[str, Any]:
        """A ticket for the conversation the agent is handling (or the one it already has)."""
        view = await self._console.handoffs.get(handoff_id, agent)
        if view.status != "active" or view.agent_id != agent.id:
            raise HTTPException(
                409, detail="accept the conversation before opening a ticket from it"
            )
        conversation = self._console.conversations
        sender = await conversation.sender_of(view.conversation_id)
        messages = await conversation.history(view.conversation_id, limit=TICKET_LINES)
        scores = [m.sentiment for m in messages if m.direction == "in" and m.sentiment is not None]
        source = ConversationSource(
            conversation_id=view.conversation_id,
            channel=view.channel,
            customer_id=customer_key(view.channel, sender),
            language=view.language,
            team=view.skill,
            lines=tuple(ConversationLine(m.author, m.text, m.created_at) for m in messages),
            sentiment=max(-1.0, min(1.0, scores[-1])) if scores else None,
        )
        ticket, created = await self._tickets.open_from_conversation(
            source, actor=f"agent:{agent.username}"
        )
        if created:
            logger.info(
                "Agent %d opened ticket %s from conversation %s",
                agent.id,
                ticket.number,
                view.conversation_id,
            )
        return {
            "number": ticket.number,
            "created": created,
            "priority": ticket.priority,
            "status": ticket.status,
            "first_response_due_at": None
            if ticket.first_response_due_at is None
            else ticket.first_response_due_at.isoformat(),
        }
