"""The conversation service's units of work: plain functions over one database connection.

Statements are built once, at import, and executed with parameters: building them per message
cost as much as running them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.dialogue import BotReply
from bot.language import LANGUAGES, Language, detect_language
from bot.storage import Conversation, Message, utcnow

_SELECT_CONVERSATION = select(
    Conversation.id, Conversation.public_id, Conversation.language, Conversation.mode
).where(Conversation.channel == bindparam("channel"), Conversation.sender == bindparam("sender"))
_SET_LANGUAGE = (
    update(Conversation)
    .where(Conversation.id == bindparam("conversation_pk"))
    .values(language=bindparam("language"), updated_at=bindparam("now"))
)
_INSERT_MESSAGE = insert(Message).returning(Message.id)
_INSERT_MESSAGES = insert(Message)
_SET_STATUS = (
    update(Message).where(Message.id == bindparam("message_id")).values(status=bindparam("status"))
)
# Two first messages of one sender may race; the loser's insert does nothing.
_INSERT_CONVERSATION = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(Conversation).on_conflict_do_nothing(
        index_elements=["channel", "sender"]
    )
    for dialect in (sqlite, postgresql)
}


@dataclass(frozen=True)
class OpenTurn:
    """An inbound message that is stored and waits for the bot's answer."""

    conversation_pk: int
    conversation_id: str
    mode: str
    message_id: int
    language: Language


def open_turn(
    connection: Connection,
    channel: str,
    sender: str,
    text: str,
    metadata: dict[str, Any],
    default_language: Language,
) -> OpenTurn:
    """Store a customer message (creating the conversation if new) as pending."""
    conversation = _conversation_row(connection, channel, sender)
    known = conversation.language in LANGUAGES
    previous = cast(Language, conversation.language) if known else default_language
    language = detect_language(text, previous=previous) or previous
    now = utcnow()
    if language != conversation.language:
        connection.execute(
            _SET_LANGUAGE, {"conversation_pk": conversation.id, "language": language, "now": now}
        )
    message_id = connection.execute(
        _INSERT_MESSAGE,
        {
            "conversation_id": conversation.id,
            "direction": "in",
            "author": "customer",
            "text": text,
            "payload": metadata or None,
            "language": language,
            "status": "pending",
            "created_at": now,
        },
    ).scalar_one()
    return OpenTurn(
        conversation.id, conversation.public_id, conversation.mode, message_id, language
    )


def close_turn(
    connection: Connection, turn: OpenTurn, status: str, replies: Sequence[BotReply] = ()
) -> None:
    """Mark the inbound message answered or failed and store the bot's replies."""
    connection.execute(_SET_STATUS, {"message_id": turn.message_id, "status": status})
    if not replies:
        return
    now = utcnow()
    rows = [
        {
            "conversation_id": turn.conversation_pk,
            "direction": "out",
            "author": "bot",
            "text": reply.text or "",
            "payload": reply.model_dump(exclude={"text"}, exclude_defaults=True) or None,
            "language": turn.language,
            "status": "sent",
            "created_at": now,
        }
        for reply in replies
    ]
    connection.execute(_INSERT_MESSAGES, rows)


def _conversation_row(connection: Connection, channel: str, sender: str) -> Any:
    key = {"channel": channel, "sender": sender}
    row = connection.execute(_SELECT_CONVERSATION, key).first()
    if row is not None:
        return row
    now = utcnow()
    connection.execute(
        _INSERT_CONVERSATION[connection.dialect.name],
        {**key, "public_id": uuid.uuid4().hex, "mode": "bot", "created_at": now, "updated_at": now},
    )
    return connection.execute(_SELECT_CONVERSATION, key).one()
