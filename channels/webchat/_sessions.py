"""Web-chat sessions: which conversation sender a session id stands for, and how far its replies
were delivered to a connected socket (so a widget that reconnects gets what it missed).

A session id stands for one sender for good: the session id itself (anonymous), or an identified
customer (``customer:<id>``). A socket that names a session of another sender gets a new one, so
a browser left logged out never reopens the customer's conversation with the id it kept.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.storage import Database, WebchatSession, utcnow

_SENDER = select(WebchatSession.sender, WebchatSession.delivered_id).where(
    WebchatSession.session_id == bindparam("session_id")
)
_INSERT = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(WebchatSession).on_conflict_do_nothing(
        index_elements=["session_id"]
    )
    for dialect in (sqlite, postgresql)
}
# Bound names differ from the column names: SQLAlchemy reserves those in UPDATE statements.
_SEEN = (
    update(WebchatSession)
    .where(WebchatSession.session_id == bindparam("session_key"))
    .values(seen_at=bindparam("now"))
)
_DELIVERED = (
    update(WebchatSession)
    .where(
        WebchatSession.sender == bindparam("sender_key"),
        WebchatSession.delivered_id < bindparam("message_id"),
    )
    .values(delivered_id=bindparam("message_id"))
)


class WebchatSessions:
    """Session ids of the web-chat channel, stored in the hub database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def open(
        self, session_id: str, sender: str | None = None, *, create: bool = True
    ) -> tuple[str, int] | None:
        """The session's sender and delivery cursor, creating the session if it is new (for
        ``sender``, else anonymous: the session id itself) unless ``create`` is false. None
        when the session id stands for another sender than the one asked for, or is new and
        not to be created."""
        wanted = sender or session_id

        def work(connection: Connection) -> tuple[str, int] | None:
            now = utcnow()
            key = {"session_id": session_id}
            row = connection.execute(_SENDER, key).first()
            if row is None and not create:
                return None
            if row is None:
                connection.execute(
                    _INSERT[connection.dialect.name],
                    {**key, "sender": wanted, "delivered_id": 0, "created_at": now,
                     "seen_at": now},
                )  # fmt: skip
                row = connection.execute(_SENDER, key).one()
            if str(row.sender) != wanted:
                return None
            connection.execute(_SEEN, {"session_key": session_id, "now": now})
            return str(row.sender), int(row.delivered_id)

        return await self._db.transaction(work)

    async def forget(self, sender: str) -> int:
        """Delete every session of ``sender`` (an erasure); how many there were."""

        def work(connection: Connection) -> int:
            result = connection.execute(
                delete(WebchatSession).where(WebchatSession.sender == sender)
            )
            return int(result.rowcount or 0)

        return await self._db.transaction(work)

    async def sender_of(self, session_id: str) -> str | None:
        """The sender of a known session; None for a session id never opened."""

        def work(connection: Connection) -> str | None:
            row = connection.execute(_SENDER, {"session_id": session_id}).first()
            return None if row is None else str(row.sender)

        return await self._db.transaction(work)

    async def delivered(self, sender: str, message_id: int) -> None:
        """Remember that messages up to ``message_id`` reached a connected socket."""
        await self._db.transaction(
            lambda c: c.execute(_DELIVERED, {"sender_key": sender, "message_id": message_id})
        )
