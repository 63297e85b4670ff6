"""Read-only lookups for channel connectors: a customer's conversation on a channel."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select

from bot.storage import Conversation, Database

_PUBLIC_ID = select(Conversation.public_id).where(
    Conversation.channel == bindparam("channel"), Conversation.sender == bindparam("sender")
)


async def find_conversation(database: Database, channel: str, sender: str) -> str | None:
    """The public id of the conversation of ``sender`` on ``channel``; None before it has one."""

    def lookup(connection: Connection) -> str | None:
        found = connection.execute(_PUBLIC_ID, {"channel": channel, "sender": sender})
        public_id = found.scalar_one_or_none()
        return None if public_id is None else str(public_id)

    return await database.transaction(lookup)
