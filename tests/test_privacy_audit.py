"""The audit log and consents on a real SQLite database, migrated by the privacy branch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.privacy import AuditLog, AuditRecord, Consent, ConsentService, InvalidPrivacyRequest
from bot.storage import Database, utcnow


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
    assert ("0400",) in heads
    tables = await rows(
        database, "SELECT name FROM sqlite_master WHERE name LIKE 'privacy_%' ORDER BY name"
    )
    assert tables == [("privacy_audit_log",), ("privacy_consents",)]


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
    assert public == {"record", "list"}


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
