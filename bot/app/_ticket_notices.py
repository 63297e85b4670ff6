"""Ticket news for customers of live channels: moved from the ticket outbox into the customer's
conversation, where the channel delivers it as it delivers every message (web chat: live to a
connected session, or on reconnect as a missed message). REST customers get theirs in the answer
to their next message instead (``channels.rest``)."""

from __future__ import annotations

import logging

from bot.conversations import ConversationNotFound, ConversationService
from bot.tickets import TicketService

logger = logging.getLogger(__name__)

# Channels whose customers are reached through their stored conversation.
CONVERSATION_CHANNELS = ("webchat",)
BATCH = 100


async def deliver_ticket_notices(tickets: TicketService, conversations: ConversationService) -> int:
    """Post every undelivered notice of a ticket with a conversation into that conversation;
    returns how many were posted. A notice is marked delivered only once stored there."""
    posted = 0
    for channel in CONVERSATION_CHANNELS:
        pending = await tickets.pending_notifications(channel, limit=BATCH)
        for notice in pending:
            if notice.conversation_id is None:
                continue  # opened outside a conversation (the API): the webhook tells the shop
            try:
                await conversations.post(
                    notice.conversation_id,
                    notice.text,
                    author="system",
                    payload={"kind": f"ticket_{notice.kind}", "ticket": notice.ticket},
                )
            except ConversationNotFound:
                logger.info(
                    "Ticket %s's conversation is gone; its notice is dropped", notice.ticket
                )
            else:
                posted += 1
            await tickets.mark_delivered([notice.id])
    return posted
