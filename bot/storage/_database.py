"""Engine, units of work and schema migrations of the hub database.

Storage work runs in a small thread pool on SQLAlchemy's synchronous engine: one hop off the
event loop per unit of work measured 3x faster than the asyncio engine (aiosqlite hops threads
on every statement), and the hub's message path is latency-bound.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
WORKERS = 8
# Units of work a caller must answer quickly (a webhook's acknowledgement) run on their own
# threads, so they never queue behind the message handling that fills the shared ones.
URGENT_WORKERS = 2


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer. With WAL, synchronous=NORMAL survives a crash of
    # the process (only a power loss can drop the last commits) and spares an fsync per commit.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


# The statements that need SQLite's write lock (what a unit of work's first write starts with).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")


class _WriterTurns:
    """One writer at a time in this process, urgent units of work first (SQLite only).

    SQLite lets one writer in; the others retry in its busy handler's back-off (sleeps of 1, 2,
    5, 10 … 100 ms between tries), so during a burst a webhook's acknowledgement could wait over
    100 ms for an insert of under a millisecond. Taking turns here hands the lock over at once
    and lets urgent work go first. Hand-written: neither SQLAlchemy nor the sqlite3 module queues
    writers (``BEGIN IMMEDIATE`` would hold readers too, which WAL lets run beside the writer)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = False
        self._queues: tuple[deque[threading.Event], ...] = (deque(), deque())  # urgent, ordinary
        self._waiting_changed = threading.Condition(self._lock)
        self.waiting = 0  # how many units of work wait for their turn (tests, diagnostics)

    def acquire(self, urgent: bool) -> None:
        with self._lock:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._queues[0 if urgent else 1].append(turn)
            self.waiting += 1
            self._waiting_changed.notify_all()
        turn.wait()  # the turn is handed straight to this thread: no herd to wake

    def until_waiting(self, count: int, timeout_s: float) -> bool:
        """Block until ``count`` units of work wait for their turn (tests); False on timeout."""
        with self._waiting_changed:
            return self._waiting_changed.wait_for(lambda: self.waiting >= count, timeout_s)

    def release(self) -> None:
        with self._lock:
            for queue in self._queues:
                if queue:
                    self.waiting -= 1
                    queue.popleft().set()  # still held: it is that thread's turn now
                    return
            self._held = False


class Database:
    """The hub database: an engine, units of work run off the event loop, and migrations."""

    def __init__(self, url: str, *, writer_turns: bool = True) -> None:
        """``writer_turns``: SQLite writers of this process queue (below) rather than retry in
        SQLite's busy back-off; off only to measure the difference (``bench/storage_turns.py``)."""
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(
            url,
            pool_pre_ping=not self.is_sqlite,
            pool_size=WORKERS + URGENT_WORKERS,
            max_overflow=0,
        )
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        if self.is_sqlite and writer_turns:
            event.listen(self.engine, "before_cursor_execute", self._before_statement)
        self._turns = _WriterTurns()
        self._unit_state = threading.local()  # per storage thread: urgent?, holding the turn?
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="db")
        self._urgent = ThreadPoolExecutor(
            max_workers=URGENT_WORKERS, thread_name_prefix="db-urgent"
        )

    async def transaction(self, work: Callable[[Connection], T], *, urgent: bool = False) -> T:
        """Run ``work(connection)`` in one transaction on a storage thread; commit on success.

        ``urgent``: as for :meth:`session`."""
        loop = asyncio.get_running_loop()
        executor = self._urgent if urgent else self._executor
        return await loop.run_in_executor(executor, self._in_transaction, work, urgent)

    async def session(self, work: Callable[[Session], T], *, urgent: bool = False) -> T:
        """Run ``work(session)`` in one ORM session on a storage thread; commit on success.

        ``urgent``: on the threads kept for small units of work someone is waiting on (a
        webhook's acknowledgement), not behind the queue of the shared ones."""
        loop = asyncio.get_running_loop()
        executor = self._urgent if urgent else self._executor
        return await loop.run_in_executor(executor, self._in_session, work, urgent)

    def _in_transaction(self, work: Callable[[Connection], T], urgent: bool) -> T:
        with self._unit(urgent), self.engine.begin() as connection:
            return work(connection)

    def _in_session(self, work: Callable[[Session], T], urgent: bool) -> T:
        with self._unit(urgent), self._sessions.begin() as session:
            return work(session)

    @contextmanager
    def _unit(self, urgent: bool) -> Iterator[None]:
        """A unit of work on this thread: its first write waits for its turn (SQLite), which
        it gives back once the transaction is over (committed or rolled back)."""
        state = self._unit_state
        state.urgent, state.holding = urgent, False
        try:
            yield
        finally:
            if state.holding:
                self._turns.release()
            state.urgent, state.holding = None, False

    def _before_statement(self, *args: Any) -> None:
        statement: str = args[2]  # (connection, cursor, statement, parameters, context, many)
        state = self._unit_state
        if getattr(state, "urgent", None) is None or state.holding:
            return  # outside a unit of work (migrations, start-up), or its turn is taken
        if statement.lstrip()[:6].upper().startswith(_WRITES):
            self._turns.acquire(state.urgent)
            state.holding = True

    def open_pool(self) -> None:
        """Open every pooled connection now (blocking), so the first units of work after a
        start do not each pay for a connection (about 30 ms with SQLite's pragmas)."""
        opened = [self.engine.connect() for _ in range(WORKERS + URGENT_WORKERS)]
        for connection in opened:
            connection.close()  # back to the pool, open

    async def migrate(self) -> None:
        """Bring the schema to the newest migration of every module (Alembic ``upgrade heads``)."""
        await asyncio.to_thread(upgrade, self.url)

    def dispose(self) -> None:
        """Stop the storage threads and close every pooled connection."""
        self._executor.shutdown(wait=True)
        self._urgent.shutdown(wait=True)
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Run the migrations up to ``revision`` (blocking); ``heads``: each module's newest."""
    logger.info("Migrating the hub database to %s", revision)
    command.upgrade(alembic_config(url), revision)
