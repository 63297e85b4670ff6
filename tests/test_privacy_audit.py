"""The audit log and consents on a real SQLite database, migrated by the privacy branch."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.privacy import AuditLog, AuditRecord, Consent, ConsentService, InvalidPrivacyRequest
from bot.privacy._tables import AuditEntry
from bot.storage import Database, utcnow

APPEND_ONLY = (
    "the audit log (privacy_audit_log) is append-only: its records can be neither changed nor "
    "deleted"
)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/hub.db")
    await db.migrate()
    yield db
    db.dispose()


async def rows(database: Database, sql: str) -> list[tuple[object, ...]]:
    return await database.transaction(lambda c: [tuple(r) for r in c.execute(text(sql))])


async def test_the_privacy_branch_is_migrated(database: Database) -> None:
    heads = await rows(database, "SELECT version_num FROM alembic_version ORDER BY version_num")
    assert ("0401",) in heads  # the privacy branch's newest: the append-only triggers
    tables = await rows(
        database,
        "SELECT type, name FROM sqlite_master WHERE name LIKE 'privacy_%' AND type != 'index' "
        "ORDER BY name",
    )
    assert tables == [
        ("table", "privacy_audit_log"),
        ("trigger", "privacy_audit_log_no_delete"),
        ("trigger", "privacy_audit_log_no_update"),
        ("table", "privacy_consents"),
    ]


async def test_records_are_appended_and_listed_newest_first(database: Database) -> None:
    audit = AuditLog(database)
    first = await audit.record("agent", "7", "conversation.read", "web:abc", "handoff")
    second = await audit.record("admin", "root", "customer.export", "web:abc", "PIPL request")
    await audit.record("system", "retention", "messages.expire", "web:other", "")
    assert isinstance(first, AuditRecord)
    listed = await audit.list(customer_id="web:abc")
    assert [(r.actor_kind, r.actor_id, r.action, r.customer_id, r.reason) for r in listed] == [
        ("admin", "root", "customer.export", "web:abc", "PIPL request"),
        ("agent", "7", "conversation.read", "web:abc", "handoff"),
    ]
    assert [r.id for r in await audit.list(actor_kind="system")] == [first.id + 2]
    assert await audit.list(since=utcnow() + timedelta(seconds=1)) == []
    assert [r.id for r in await audit.list(limit=1)] == [second.id + 1]
    # The stored row is exactly these columns: no message text, nothing else about the customer.
    stored = await rows(
        database,
        "SELECT actor_kind, actor_id, action, customer_id, reason FROM privacy_audit_log "
        "ORDER BY id",
    )
    assert stored == [
        ("agent", "7", "conversation.read", "web:abc", "handoff"),
        ("admin", "root", "customer.export", "web:abc", "PIPL request"),
        ("system", "retention", "messages.expire", "web:other", ""),
    ]
    columns = await rows(database, "SELECT name FROM pragma_table_info('privacy_audit_log')")
    assert [c[0] for c in columns] == [
        "id",
        "at",
        "actor_kind",
        "actor_id",
        "action",
        "customer_id",
        "reason",
    ]


def test_the_audit_log_has_no_way_to_change_or_remove_entries() -> None:
    public = {name for name in dir(AuditLog) if not name.startswith("_")}
    # Appending and reading only; the database refuses the rest (see the trigger tests below).
    assert public == {"record", "record_read", "record_listed", "count", "list"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("robot", "1", "conversation.read", "web:a", ""),
            "actor_kind must be one of agent, admin, system, customer, not 'robot'",
        ),
        (
            ("agent", "1", "Read Conversation", "web:a", ""),
            "action must be dotted lower-case words such as 'conversation.read', not "
            "'Read Conversation'",
        ),
        (
            ("agent", "1", "conversation.read", "", ""),
            "customer_id must be 1 to 128 characters with no spaces at either end",
        ),
        (
            ("agent", "1", "conversation.read", "web:a", "customer said call 13812345678"),
            "the audit record must hold no personal data beyond the customer id; found phone",
        ),
        (
            ("agent", "1", "conversation.read", "web:a", "x" * 201),
            "reason must be at most 200 characters: say why, do not quote messages",
        ),
        (
            ("agent", "a@b.example.com", "x", "web:a", "see zs@example.com"),
            "the audit record must hold no personal data beyond the customer id; found email",
        ),
    ],
)
async def test_bad_records_are_refused_and_nothing_is_stored(
    database: Database, args: tuple[str, str, str, str, str], message: str
) -> None:
    audit = AuditLog(database)
    await audit.record("system", "boot", "audit.start", "web:keep", "")
    with pytest.raises(InvalidPrivacyRequest) as raised:
        await audit.record(*args)
    assert str(raised.value) == message
    assert [r.action for r in await audit.list()] == ["audit.start"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit must be between 1 and 1000, not 0"),
        ({"actor_kind": "bot"}, "actor_kind must be one of agent, admin, system, customer"),
    ],
)
async def test_bad_list_filters_are_named(
    database: Database, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidPrivacyRequest) as raised:
        await AuditLog(database).list(**kwargs)  # type: ignore[arg-type]
    assert str(raised.value) == message


async def test_consent_grant_revoke_current_and_history(database: Database) -> None:
    consents = ConsentService(database)
    assert await consents.allows("web:c1", "marketing", "webchat") is False
    await consents.grant("web:c1", "marketing", "webchat")
    await consents.grant("web:c1", "personalisation", "webchat")
    await consents.revoke("web:c1", "marketing", "webchat", actor_kind="admin", actor_id="root")
    await consents.grant("web:c2", "marketing", "wechat")

    def shape(items: list[Consent]) -> list[tuple[str, str, str, bool, str]]:
        return [(c.customer_id, c.purpose, c.channel, c.granted, c.actor_kind) for c in items]

    assert shape(await consents.current("web:c1")) == [
        ("web:c1", "marketing", "webchat", False, "admin"),
        ("web:c1", "personalisation", "webchat", True, "customer"),
    ]
    assert shape(await consents.history("web:c1")) == [
        ("web:c1", "marketing", "webchat", True, "customer"),
        ("web:c1", "personalisation", "webchat", True, "customer"),
        ("web:c1", "marketing", "webchat", False, "admin"),
    ]
    assert await consents.allows("web:c1", "marketing", "webchat") is False
    assert await consents.allows("web:c1", "personalisation", "webchat") is True
    assert await consents.allows("web:c1", "personalisation", "wechat") is False
    assert await consents.allows("web:c2", "marketing", "wechat") is True
    audited = await AuditLog(database).list(customer_id="web:c1")
    assert [(r.actor_kind, r.actor_id, r.action, r.reason) for r in audited] == [
        ("admin", "root", "consent.revoke", "marketing on webchat"),
        ("customer", "", "consent.grant", "personalisation on webchat"),
        ("customer", "", "consent.grant", "marketing on webchat"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("web:c1", "spam", "webchat"),
            "purpose must be one of marketing, personalisation, not 'spam'",
        ),
        (
            (" web:c1", "marketing", "Web Chat"),
            "customer_id must be 1 to 128 characters with no spaces at either end; channel must "
            "be 1 to 32 lower-case letters, digits, '-' or '_', not 'Web Chat'",
        ),
    ],
)
async def test_bad_consents_are_refused_and_nothing_is_stored(
    database: Database, args: tuple[str, str, str], message: str
) -> None:
    consents = ConsentService(database)
    await consents.grant("web:c1", "marketing", "webchat")
    with pytest.raises(InvalidPrivacyRequest) as raised:
        await consents.grant(*args)
    assert str(raised.value) == message
    assert len(await consents.history("web:c1")) == 1
    assert len(await AuditLog(database).list()) == 1


# ---- reads, once per window ------------------------------------------------------------------


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_the_same_read_within_the_window_is_covered_by_its_first_record(
    database: Database,
) -> None:
    clock = Clock()
    audit = AuditLog(database, read_window=timedelta(minutes=10), clock=clock)
    start = clock.now

    async def read_at(
        minutes: float, actor_id: str = "7", reason: str = "console: opened conversation c1"
    ) -> AuditRecord:
        clock.now = start + timedelta(minutes=minutes)
        return await audit.record_read("agent", actor_id, "conversation.read", "web:a", reason)

    first = await read_at(0)
    # Within the window the first record stands for the repeats, and is what they get back.
    assert [await read_at(m) for m in (5, 9.99)] == [first, first]
    # Another agent, or another thing read, is another read.
    other_agent = await read_at(9.99, actor_id="8")
    other_thing = await read_at(9.99, reason="console: opened conversation c2")
    # A full window after the first record, a read gets its own record again.
    again = await read_at(10)
    assert await read_at(19.99) == again
    later = await read_at(20)
    listed = await audit.list(customer_id="web:a")
    assert [(r.actor_id, r.reason, r.at - start) for r in reversed(listed)] == [
        ("7", "console: opened conversation c1", timedelta(0)),
        ("8", "console: opened conversation c1", timedelta(minutes=9.99)),
        ("7", "console: opened conversation c2", timedelta(minutes=9.99)),
        ("7", "console: opened conversation c1", timedelta(minutes=10)),
        ("7", "console: opened conversation c1", timedelta(minutes=20)),
    ]
    assert [r.id for r in reversed(listed)] == [
        first.id,
        other_agent.id,
        other_thing.id,
        again.id,
        later.id,
    ]
    # Other actions are never folded: each change is recorded however often it comes.
    clock.now = start + timedelta(minutes=21)
    for _ in range(2):
        await audit.record("admin", "root", "privacy.export", "web:a", "PIPL request")
    assert len(await audit.list(customer_id="web:a", action="privacy.export")) == 2


async def test_a_bad_read_is_refused_like_any_record(database: Database) -> None:
    with pytest.raises(InvalidPrivacyRequest) as raised:
        await AuditLog(database).record_read(
            "agent", "7", "conversation.read", "web:a", "customer wrote 13812345678"
        )
    assert str(raised.value) == (
        "the audit record must hold no personal data beyond the customer id; found phone"
    )
    assert await AuditLog(database).list() == []


async def test_records_are_listed_by_action_and_actor(database: Database) -> None:
    audit = AuditLog(database)
    await audit.record_read("agent", "7", "conversation.read", "web:a", "console: c1")
    await audit.record_read("agent", "7", "media.read", "web:a", "console: file f1")
    await audit.record_read("agent", "8", "conversation.read", "web:b", "console: c2")
    read = await audit.list(action="conversation.read")
    assert [(r.actor_id, r.customer_id) for r in read] == [("8", "web:b"), ("7", "web:a")]
    mine = await audit.list(actor_kind="agent", actor_id="7")
    assert [r.action for r in mine] == ["media.read", "conversation.read"]


# ---- append-only in the database -------------------------------------------------------------


@pytest.fixture
async def any_database(database_url: str) -> AsyncIterator[Database]:
    """The hub database, migrated, on SQLite and on PostgreSQL."""
    db = Database(database_url)
    await db.migrate()
    yield db
    db.dispose()


def rows_of(session: Session) -> list[tuple[object, ...]]:
    query = select(
        AuditEntry.id,
        AuditEntry.at,
        AuditEntry.actor_kind,
        AuditEntry.actor_id,
        AuditEntry.action,
        AuditEntry.customer_id,
        AuditEntry.reason,
    ).order_by(AuditEntry.id)
    return [tuple(r) for r in session.execute(query)]


def change_the_reason(session: Session) -> None:
    session.execute(update(AuditEntry).values(reason="nothing happened"))


def delete_one(session: Session) -> None:
    session.execute(delete(AuditEntry).where(AuditEntry.action == "conversation.read"))


def delete_all(session: Session) -> None:
    session.execute(delete(AuditEntry))


def edit_through_the_orm(session: Session) -> None:
    entry = session.execute(select(AuditEntry).limit(1)).scalar_one()
    entry.actor_id = "someone else"
    session.flush()


def remove_through_the_orm(session: Session) -> None:
    session.delete(session.execute(select(AuditEntry).limit(1)).scalar_one())
    session.flush()


@pytest.mark.parametrize(
    "tamper",
    [change_the_reason, delete_one, delete_all, edit_through_the_orm, remove_through_the_orm],
)
async def test_the_database_refuses_to_change_or_delete_audit_records(
    any_database: Database, tamper: Callable[[Session], None]
) -> None:
    audit = AuditLog(any_database)
    await audit.record_read("agent", "7", "conversation.read", "web:a", "console: c1")
    await audit.record("admin", "root", "privacy.erase", "web:a", "customer request")
    before = await any_database.session(rows_of)
    assert len(before) == 2
    with pytest.raises(IntegrityError) as raised:
        await any_database.session(tamper)
    assert APPEND_ONLY in str(raised.value)
    assert await any_database.session(rows_of) == before
    # Appending still works, after the refusal as before it.
    await audit.record("system", "retention", "messages.expire", "web:a", "")
    assert len(await any_database.session(rows_of)) == 3


# SQLite has no TRUNCATE; its DELETE without WHERE is refused above.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_postgresql_refuses_to_truncate_the_audit_log(any_database: Database) -> None:
    await AuditLog(any_database).record("admin", "root", "privacy.export", "web:a", "")
    with pytest.raises(IntegrityError) as raised:
        await any_database.transaction(lambda c: c.exec_driver_sql("TRUNCATE privacy_audit_log"))
    assert APPEND_ONLY in str(raised.value)
    assert len(await AuditLog(any_database).list()) == 1
