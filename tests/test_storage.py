from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, select
from sqlalchemy.orm import Session

from bot.storage import Conversation, Database, Message, alembic_config
from bot.storage._database import WORKERS


@pytest.fixture
async def database(database_url: str) -> Database:
    db = Database(database_url)
    await db.migrate()
    return db


async def test_sqlite_folder_is_created(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/nested/deeper/hub.db")
    await db.migrate()
    assert (tmp_path / "nested" / "deeper" / "hub.db").exists()
    db.dispose()


async def test_migrations_create_the_schema(database: Database) -> None:
    tables = set(inspect(database.engine).get_table_names())
    assert {"conversations", "messages", "alembic_version"} <= tables
    database.dispose()


async def test_migrating_twice_changes_nothing(database: Database) -> None:
    await database.migrate()
    # Each module has its own branch; the database stands at every one's newest migration.
    script = ScriptDirectory.from_config(alembic_config(database.url))
    heads = set(script.get_heads())

    async def versions() -> set[str]:
        return set(
            await database.transaction(
                lambda c: (
                    c.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
                )
            )
        )

    before = await versions()
    await database.migrate()
    assert await versions() == before
    # Every head is applied: stored itself, or an ancestor (a ``depends_on``) of one stored.
    applied = {r.revision for r in script.iterate_revisions(tuple(before), "base")}
    assert heads <= applied
    assert {"0200", "0300", "0401"} <= heads  # tickets, recommend, privacy
    database.dispose()


async def test_timestamps_come_back_in_utc(database: Database) -> None:
    beijing = timezone(timedelta(hours=8))
    created = datetime(2026, 11, 28, 20, 0, tzinfo=beijing)

    def write(session):  # type: ignore[no-untyped-def]
        conversation = Conversation(
            public_id="p1",
            channel="rest",
            sender="s",
            mode="bot",
            created_at=created,
            updated_at=created,
        )
        session.add(conversation)
        session.flush()
        session.add(
            Message(
                conversation_id=conversation.id,
                direction="in",
                author="customer",
                text="你好",
                status="stored",
                created_at=created,
            )
        )

    await database.session(write)
    stored = await database.session(lambda s: s.execute(select(Message.created_at)).scalar_one())
    assert stored == created
    assert stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)
    assert stored == datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    database.dispose()


async def test_naive_timestamps_are_refused(database: Database) -> None:
    def write(session):  # type: ignore[no-untyped-def]
        session.add(
            Conversation(
                public_id="p2",
                channel="rest",
                sender="s2",
                mode="bot",
                created_at=datetime(2026, 1, 1),
                updated_at=datetime(2026, 1, 1),
            )
        )

    with pytest.raises(Exception, match="naive datetime"):
        await database.session(write)
    database.dispose()


async def test_failed_unit_of_work_rolls_back(database: Database) -> None:
    def write_then_fail(session):  # type: ignore[no-untyped-def]
        session.add(Conversation(public_id="p3", channel="rest", sender="s3", mode="bot"))
        session.flush()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await database.session(write_then_fail)
    count = await database.session(lambda s: len(s.execute(select(Conversation)).all()))
    assert count == 0
    database.dispose()


async def test_urgent_work_does_not_queue_behind_busy_storage_threads(database: Database) -> None:
    """Every shared storage thread is held by slow work; an urgent unit of work still runs."""
    release = threading.Event()
    started = threading.Semaphore(0)

    def slow(_session: Session) -> None:
        started.release()
        release.wait(timeout=30)

    holders = [asyncio.ensure_future(database.session(slow)) for _ in range(WORKERS)]
    for _ in range(WORKERS):  # every shared thread is now busy
        await asyncio.to_thread(started.acquire, True, 30)
    queued = asyncio.ensure_future(database.session(lambda s: "shared"))
    try:
        urgent = await asyncio.wait_for(database.session(lambda s: "urgent", urgent=True), 10)
        assert urgent == "urgent"
        assert not queued.done()  # the ordinary one is still waiting for a shared thread
    finally:
        release.set()
    assert await queued == "shared"
    await asyncio.gather(*holders)
    database.dispose()


async def test_sqlite_writers_take_turns_urgent_first_and_readers_never_wait(
    tmp_path: Path,
) -> None:
    """While one unit of work holds SQLite's write turn, a reader runs; of the writers waiting,
    the urgent one (a webhook's acknowledgement) writes before the ordinary one that came first;
    a failed writer gives its turn back."""
    database = Database(f"sqlite:///{tmp_path}/turns.db")
    await database.transaction(lambda c: c.exec_driver_sql("CREATE TABLE t (who TEXT)"))
    holding, release = threading.Event(), threading.Event()

    def hold(connection: Connection) -> None:
        connection.exec_driver_sql("INSERT INTO t VALUES ('holder')")
        holding.set()
        release.wait(timeout=30)

    def write(who: str) -> Callable[[Connection], None]:
        def insert(connection: Connection) -> None:
            connection.exec_driver_sql("INSERT INTO t VALUES (?)", (who,))

        return insert

    try:
        holder = asyncio.ensure_future(database.transaction(hold))
        await asyncio.to_thread(holding.wait, 30)
        rows = await asyncio.wait_for(
            database.transaction(lambda c: c.exec_driver_sql("SELECT count(*) FROM t").scalar()),
            10,
        )
        assert rows == 0  # the holder has not committed; the reader did not wait for it
        ordinary = asyncio.ensure_future(database.transaction(write("ordinary")))
        assert await asyncio.to_thread(database._turns.until_waiting, 1, 10)
        urgent = asyncio.ensure_future(database.transaction(write("urgent"), urgent=True))
        assert await asyncio.to_thread(database._turns.until_waiting, 2, 10)
    finally:
        release.set()
    await asyncio.gather(holder, ordinary, urgent)
    order = await database.transaction(
        lambda c: [row[0] for row in c.exec_driver_sql("SELECT who FROM t ORDER BY rowid")]
    )
    assert order == ["holder", "urgent", "ordinary"]

    def fail(connection: Connection) -> None:
        connection.exec_driver_sql("INSERT INTO t VALUES ('failed')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await database.transaction(fail)
    await asyncio.wait_for(database.transaction(write("after")), 10)  # the turn came back
    assert database._turns.waiting == 0
    database.dispose()
