"""Rasa's stored dialogue events, read and deleted in its tracker store's database.

Why not over Rasa's HTTP API like everything else: Rasa 3.6 has no endpoint that deletes a
conversation, and replacing a tracker's events (``PUT .../tracker/events``) only appends rows to
its SQL tracker store, so the customer's words would stay. The table is Rasa's ``events``
(``sender_id``, ``type_name``, ``timestamp``, ``data``), reflected from the database rather than
declared here, so a schema Rasa changes fails loudly instead of deleting the wrong rows.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, MetaData, Table, create_engine, delete, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import NoSuchTableError

logger = logging.getLogger(__name__)

EVENTS_TABLE = "events"


class TrackerStoreEvents:
    """The events of Rasa's SQL tracker store at ``url``; a store Rasa has not created yet
    holds nothing (and is not created here)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    def _events(self) -> tuple[Engine, Table] | None:
        parsed = make_url(self.url)
        is_sqlite = parsed.get_backend_name() == "sqlite"
        if is_sqlite and parsed.database and not _exists(parsed.database):
            return None  # Rasa never ran here: no events, and no empty file left behind
        if self._engine is None:
            self._engine = create_engine(self.url, pool_pre_ping=not is_sqlite)
        try:
            table = Table(EVENTS_TABLE, MetaData(), autoload_with=self._engine)
        except NoSuchTableError:
            return None
        return self._engine, table

    async def export_conversation(self, sender_id: str) -> list[dict[str, Any]]:
        """The conversation's events as Rasa stored them (its ``data`` JSON), oldest first."""
        return await asyncio.to_thread(self._export, sender_id)

    async def erase_conversation(self, sender_id: str) -> int:
        """Delete the conversation's events; returns how many."""
        return await asyncio.to_thread(self._delete, "sender_id", sender_id)

    async def expire(self, before: datetime, *, dry_run: bool) -> int:
        """Retention: events older than ``before``, counted (``dry_run``) or deleted."""
        if dry_run:
            return await asyncio.to_thread(self._count_before, before.timestamp())
        return await asyncio.to_thread(self._delete, "before", before.timestamp())

    def _export(self, sender_id: str) -> list[dict[str, Any]]:
        found = self._events()
        if found is None:
            return []
        engine, table = found
        query = select(table.c.data).where(table.c.sender_id == sender_id).order_by(table.c.id)
        with engine.connect() as connection:
            return [_event(data) for (data,) in connection.execute(query)]

    def _count_before(self, timestamp: float) -> int:
        found = self._events()
        if found is None:
            return 0
        engine, table = found
        query = select(func.count()).where(table.c.timestamp < timestamp)
        with engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def _delete(self, by: str, value: str | float) -> int:
        found = self._events()
        if found is None:
            return 0
        engine, table = found
        where = table.c.sender_id == value if by == "sender_id" else table.c.timestamp < value
        with engine.begin() as connection:
            result = connection.execute(delete(table).where(where))
        return int(cast(CursorResult[Any], result).rowcount)

    def dispose(self) -> None:
        """Close the pooled connections."""
        if self._engine is not None:
            self._engine.dispose()


def _exists(path: str) -> bool:
    return Path(path).is_file()


def _event(data: str | None) -> dict[str, Any]:
    try:
        event = json.loads(data or "{}")
    except ValueError:
        return {"unreadable": data}
    return event if isinstance(event, dict) else {"event": event}
