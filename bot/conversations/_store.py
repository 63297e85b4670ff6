"""The conversation service's units of work: plain functions over one database connection.

Statements are built once, at import, and executed with parameters: building them per message
cost as much as running them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.conversations._errors import ConversationNotFound
from bot.conversations._events import StoredMessage
from bot.dialogue import BotReply
from bot.insights import RepliedQuestion
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
    update(Message)
    .where(Message.id == bindparam("message_id"))
    .values(status=bindparam("status"), sentiment=bindparam("sentiment"))
)
_INSERT_OUTBOUND = insert(Message).returning(Message.id)
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
    channel: str
    created_at: datetime
    # What the channel said about the message (a voice message's or picture's attachment).
    payload: dict[str, Any] | None = None


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
        conversation.id,
        conversation.public_id,
        conversation.mode,
        message_id,
        language,
        channel,
        now,
        metadata or None,
    )


def close_turn(
    connection: Connection,
    turn: OpenTurn,
    status: str,
    replies: Sequence[BotReply] = (),
    sentiment: float | None = None,
    author: str = "bot",
) -> list[StoredMessage]:
    """Mark the inbound message answered or failed, keep its sentiment, store the replies."""
    connection.execute(
        _SET_STATUS, {"message_id": turn.message_id, "status": status, "sentiment": sentiment}
    )
    return [
        store_outbound(
            connection,
            turn.conversation_pk,
            turn.conversation_id,
            reply.text or "",
            reply.model_dump(exclude={"text"}, exclude_defaults=True) or None,
            turn.language,
            author=str((reply.custom or {}).get("author", author)),
        )
        for reply in replies
    ]


def store_outbound(
    connection: Connection,
    conversation_pk: int,
    conversation_id: str,
    text: str,
    payload: dict[str, Any] | None,
    language: str | None,
    author: str,
) -> StoredMessage:
    """Store one message to the customer (from the bot, an agent or the hub itself)."""
    now = utcnow()
    message_id = connection.execute(
        _INSERT_OUTBOUND,
        {
            "conversation_id": conversation_pk,
            "direction": "out",
            "author": author,
            "text": text,
            "payload": payload,
            "language": language,
            "status": "sent",
            "created_at": now,
        },
    ).scalar_one()
    return StoredMessage(message_id, conversation_id, "out", author, text, payload, language, now)


def last_notice_at(connection: Connection, conversation_pk: int) -> datetime | None:
    """When the hub last told this conversation something itself (queue notices)."""
    return connection.execute(
        select(Message.created_at)
        .where(Message.conversation_id == conversation_pk, Message.author == "system")
        .order_by(Message.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def message_before(
    connection: Connection, conversation_pk: int, conversation_id: str, message_id: int
) -> StoredMessage | None:
    """The conversation's message just before ``message_id`` (either direction), if any."""
    row = connection.execute(
        select(Message)
        .where(Message.conversation_id == conversation_pk, Message.id < message_id)
        .order_by(Message.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _stored(row, conversation_id)


def _stored(row: Any, conversation_id: str) -> StoredMessage:
    """A message row as listeners and readers see it."""
    return StoredMessage(
        row.id,
        conversation_id,
        row.direction,
        row.author,
        row.text,
        row.payload,
        row.language,
        row.created_at,
        row.sentiment,
    )


def conversation_key(connection: Connection, conversation_id: str) -> tuple[int, str, str | None]:
    """Primary key, channel and language of a conversation by its public id."""
    row = connection.execute(
        select(Conversation.id, Conversation.channel, Conversation.language).where(
            Conversation.public_id == conversation_id
        )
    ).first()
    if row is None:
        raise ConversationNotFound(f"no conversation {conversation_id}")
    return row.id, row.channel, row.language


def inbound_message(turn: OpenTurn, text: str, sentiment: float | None) -> StoredMessage:
    """The stored form of a turn's inbound message, for listeners."""
    return StoredMessage(
        turn.message_id,
        turn.conversation_id,
        "in",
        "customer",
        text,
        turn.payload,
        turn.language,
        turn.created_at,
        sentiment,
    )


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


def history(
    connection: Connection, conversation_id: str, after_id: int | None, limit: int
) -> list[StoredMessage]:
    """Messages of a conversation in order, after ``after_id`` when given (the newest ``limit``)."""
    pk, _channel, _language = conversation_key(connection, conversation_id)
    query = select(Message).where(Message.conversation_id == pk)
    if after_id is not None:
        query = query.where(Message.id > after_id)
    rows = connection.execute(query.order_by(Message.id.desc()).limit(limit)).all()
    return [_stored(row, conversation_id) for row in reversed(rows)]


PREVIEW_CHARS = 200


@dataclass(frozen=True)
class ConversationPreview:
    """Who a conversation is with and what they last wrote (the console's queue shows it)."""

    conversation_id: str
    channel: str
    sender: str
    last_text: str | None
    last_at: datetime | None


def previews(
    connection: Connection, conversation_ids: Sequence[str]
) -> dict[str, ConversationPreview]:
    """Each conversation's customer and latest customer message, in one query (the messages'
    (conversation_id, id) index finds each latest one)."""
    if not conversation_ids:
        return {}
    latest_in = (
        select(func.max(Message.id))
        .where(Message.conversation_id == Conversation.id, Message.direction == "in")
        .correlate(Conversation)
        .scalar_subquery()
    )
    rows = connection.execute(
        select(
            Conversation.public_id,
            Conversation.channel,
            Conversation.sender,
            Message.text,
            Message.created_at,
        )
        .outerjoin(Message, Message.id == latest_in)
        .where(Conversation.public_id.in_(list(conversation_ids)))
    ).all()
    return {
        row.public_id: ConversationPreview(
            row.public_id,
            row.channel,
            row.sender,
            None if row.text is None else row.text[:PREVIEW_CHARS],
            row.created_at,
        )
        for row in rows
    }


def sender_of(connection: Connection, conversation_id: str) -> str:
    """The channel's id of the conversation's customer."""
    sender = connection.execute(
        select(Conversation.sender).where(Conversation.public_id == conversation_id)
    ).scalar_one_or_none()
    if sender is None:
        raise ConversationNotFound(f"no conversation {conversation_id}")
    return str(sender)


def recent_senders(connection: Connection, channel: str, since: datetime, limit: int) -> list[str]:
    """Senders on ``channel`` who wrote at least once since ``since`` (at most ``limit``)."""
    query = (
        select(Conversation.sender)
        .join(Message, Message.conversation_id == Conversation.id)
        .where(
            Conversation.channel == channel,
            Message.direction == "in",
            Message.created_at >= since,
        )
        .group_by(Conversation.id, Conversation.sender)
        .limit(limit)
    )
    return [str(sender) for sender in connection.execute(query).scalars()]


def replied_questions(connection: Connection, since: datetime, limit: int) -> list[RepliedQuestion]:
    """Bot replies since ``since`` that carry a payload, newest first, each with the customer
    message it answered."""
    out = Message.__table__.alias("reply")
    earlier = Message.__table__.alias("earlier")
    question = Message.__table__.alias("question")
    asked_id = (
        select(func.max(earlier.c.id))
        .where(
            earlier.c.conversation_id == out.c.conversation_id,
            earlier.c.direction == "in",
            earlier.c.id < out.c.id,
        )
        .scalar_subquery()
    )
    rows = connection.execute(
        select(
            question.c.id,
            question.c.text,
            question.c.language,
            question.c.created_at,
            out.c.payload,
        )
        .select_from(out.join(question, question.c.id == asked_id))
        .where(
            out.c.direction == "out",
            out.c.author == "bot",
            out.c.payload.is_not(None),
            out.c.created_at >= since,
        )
        .order_by(out.c.id.desc())
        .limit(limit)
    )
    return [
        RepliedQuestion(int(qid), str(text or ""), language, created_at, payload)
        for qid, text, language, created_at, payload in rows
    ]


def customer_export(connection: Connection, channel: str, sender: str) -> dict[str, Any] | None:
    """A customer's conversation on a channel and all its messages (with sentiment), as JSON;
    None when the customer has none."""
    conversation = connection.execute(
        select(Conversation.__table__).where(
            Conversation.channel == channel, Conversation.sender == sender
        )
    ).first()
    if conversation is None:
        return None
    messages = connection.execute(
        select(Message.__table__)
        .where(Message.conversation_id == conversation.id)
        .order_by(Message.id)
    )
    return {
        "id": conversation.public_id,
        "channel": conversation.channel,
        "sender": conversation.sender,
        "language": conversation.language,
        "mode": conversation.mode,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "messages": [
            {
                "id": m.id,
                "direction": m.direction,
                "author": m.author,
                "text": m.text,
                "payload": m.payload,
                "language": m.language,
                "sentiment": m.sentiment,
                "status": m.status,
                "created_at": m.created_at.isoformat(),
            }
            for m in messages
        ],
    }


def customer_texts(connection: Connection, conversation_id: str) -> list[str]:
    """What the customer wrote in a conversation: its inbound messages' texts, oldest first."""
    rows = connection.execute(
        select(Message.text)
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(Conversation.public_id == conversation_id, Message.direction == "in")
        .order_by(Message.id)
    )
    return [text for (text,) in rows if text]


def erase_conversation(connection: Connection, conversation_id: str) -> int:
    """Delete a conversation and its messages; returns how many messages went."""
    pk = connection.execute(
        select(Conversation.id).where(Conversation.public_id == conversation_id)
    ).scalar_one_or_none()
    if pk is None:
        return 0
    removed = _rowcount(connection.execute(delete(Message).where(Message.conversation_id == pk)))
    connection.execute(delete(Conversation).where(Conversation.id == pk))
    return removed


def expire_messages(connection: Connection, before: datetime, dry_run: bool) -> dict[str, int]:
    """Messages older than ``before``, and the conversations they leave empty and idle since
    then (with their handoffs and notes, by the foreign keys' cascade): counted, or deleted."""
    old = Message.created_at < before
    idle = (
        select(Conversation.id)
        .where(Conversation.updated_at < before, Conversation.mode.in_(("bot", "closed")))
        .where(
            ~select(Message.id)
            .where(Message.conversation_id == Conversation.id, Message.created_at >= before)
            .exists()
        )
    )
    if dry_run:
        messages = connection.execute(select(func.count()).where(old)).scalar_one()
        conversations = connection.execute(select(func.count()).select_from(idle.subquery()))
        return {"messages": int(messages), "conversations": int(conversations.scalar_one())}
    removed = _rowcount(connection.execute(delete(Message).where(old)))
    emptied = _rowcount(connection.execute(delete(Conversation).where(Conversation.id.in_(idle))))
    return {"messages": removed, "conversations": emptied}


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)
