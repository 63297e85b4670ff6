"""The console's reads of a customer's data, written to the privacy module's audit log (PIPL
art. 54: who read which customer's data, when and why).

A record names the agent by id (a username may be a person's name or e-mail, which the audit log
refuses to hold), the customer by the privacy module's key of the conversation's sender (the key
a privacy export lists them by), and what was read by a public id, never by what it says. The
privacy module decides when a repeated read is covered by an earlier record
(``AuditLog.record_read``). Each read is recorded before its data leaves the hub: a read that
cannot be audited fails.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from bot.conversations import ConversationPreview, ConversationService, customer_key
from bot.handoff import AgentProfile, HandoffView
from bot.media import StoredAttachment
from bot.privacy import AuditLog

logger = logging.getLogger(__name__)

CONVERSATION_READ = "conversation.read"  # messages, summary, notes, NLU state
CUSTOMER_READ = "customer.read"  # the context panel's profile: orders, churn risk
MEDIA_READ = "media.read"  # a voice message's or image's original
# A line of a list: who the customer is and what they last wrote (the queue), or one message of
# theirs (the corrections' lists). One record per customer and listing, once per read window.
CONVERSATION_LISTED = "conversation.listed"


class ConsoleReads:
    """Audits each read of a customer's data through the console's routes and socket."""

    def __init__(self, conversations: ConversationService, audit: AuditLog) -> None:
        self._conversations = conversations
        self._audit = audit

    async def handoff_opened(self, agent: AgentProfile, view: HandoffView) -> None:
        """The conversation panel: the transcript with its summary and notes, and the
        customer's context (orders, churn risk)."""
        sender = await self._conversations.sender_of(view.conversation_id)
        key = customer_key(view.channel, sender)
        await self._record(
            agent, CONVERSATION_READ, key, f"console: opened conversation {view.conversation_id}"
        )
        await self._record(
            agent, CUSTOMER_READ, key, f"console: context of conversation {view.conversation_id}"
        )

    async def linked_shown(
        self, agent: AgentProfile, view: HandoffView, linked: list[dict[str, Any]]
    ) -> None:
        """The same person's conversations in other apps, shown beside ``view``: each is read
        under its own customer key (the key its export lists it by)."""
        for conversation in linked:
            await self.conversation(
                agent,
                str(conversation["conversation_id"]),
                f"linked to conversation {view.conversation_id}",
            )

    async def conversation(self, agent: AgentProfile, conversation_id: str, why: str) -> None:
        """A conversation's messages read for ``why`` (a few words, no message text); nothing
        when the conversation is gone (nothing of it was read)."""
        found = (await self._conversations.previews([conversation_id])).get(conversation_id)
        if found is None:
            return
        await self._record(
            agent,
            CONVERSATION_READ,
            customer_key(found.channel, found.sender),
            f"console: {why}: conversation {conversation_id}",
        )

    async def listed(
        self, agent: AgentProfile, previews: Iterable[ConversationPreview], why: str
    ) -> None:
        """A list showing a line of each of these conversations (``why``: which list)."""
        keys = [customer_key(p.channel, p.sender) for p in previews]
        await self._audit.record_listed(
            "agent", str(agent.id), CONVERSATION_LISTED, keys, f"console: {why}"
        )

    async def conversations_listed(
        self, agent: AgentProfile, conversation_ids: Iterable[str], why: str
    ) -> None:
        """:meth:`listed` for a list that names its conversations by id."""
        found = await self._conversations.previews(list(dict.fromkeys(conversation_ids)))
        await self.listed(agent, found.values(), why)

    async def media(self, agent: AgentProfile, attachment: StoredAttachment) -> None:
        """A kept original (voice message, image) opened."""
        await self._record(
            agent,
            MEDIA_READ,
            customer_key(attachment.channel, attachment.sender),
            f"console: opened file {attachment.public_id}",
        )

    async def _record(self, agent: AgentProfile, action: str, key: str, reason: str) -> None:
        await self._audit.record_read("agent", str(agent.id), action, key, reason)
