"""The identity module on a real database (SQLite and PostgreSQL): phone numbers normalized and
hashed with a key, app identities linked to one person, re-linked, exported and erased."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.identity import (
    IdentityError,
    IdentityService,
    InvalidPhone,
    PhoneHasher,
    is_link_request,
    normalize_phone,
)
from bot.storage import Database
from tests.migrations import model_differences

KEY = b"0123456789abcdef-test-key"


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.migrate()
    yield db
    db.dispose()


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("+8613800138000", "+8613800138000"),  # Telegram, Feishu (E.164)
        ("8613800138000", "+8613800138000"),  # Telegram without the plus
        ("13800138000", "+8613800138000"),  # the mainland's national form (WeCom, DingTalk)
        ("+86 138-0013-8000", "+8613800138000"),
        ("0086 13800138000", "+8613800138000"),
        ("+1 (415) 555-0100", "+14155550100"),
    ],
)
def test_phone_forms_normalize_to_one(raw: str, normalized: str) -> None:
    assert normalize_phone(raw) == normalized


@pytest.mark.parametrize(
    "raw", ["", "12345", "+86 138 0013 800x", "<script>alert(1)</script>", "1" * 16, "++86138"]
)
def test_what_is_no_phone_number_is_refused(raw: str) -> None:
    with pytest.raises(InvalidPhone, match="7 to 15 digits"):
        normalize_phone(raw)


def test_hash_is_keyed_and_equal_across_forms() -> None:
    hasher = PhoneHasher(KEY)
    assert hasher("+8613800138000") == hasher("138 0013 8000")
    assert len(hasher("13800138000")) == 64
    assert "13800138000" not in hasher("13800138000")
    assert PhoneHasher(b"another-key-0123456789")("13800138000") != hasher("13800138000")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        PhoneHasher(b"short")


def test_link_words() -> None:
    assert is_link_request(" 绑定手机 ")
    assert is_link_request("/LINK")
    assert not is_link_request("绑定手机 13800138000")  # a typed number is no link request
    assert not is_link_request("where is my order")


async def test_two_apps_with_one_phone_are_one_person(database: Database) -> None:
    service, hasher = IdentityService(database), PhoneHasher(KEY)
    first = await service.link("telegram", "424242", hasher("+8613800138000"), "telegram")
    assert first.others == []
    second = await service.link("feishu", "oc_chat", hasher("13800138000"), "feishu")
    assert second.person == first.person
    assert [(o.channel, o.sender) for o in second.others] == [("telegram", "424242")]
    assert await service.person_of("telegram", "424242") == first.person
    assert [(o.channel, o.sender) for o in await service.linked("telegram", "424242")] == [
        ("feishu", "oc_chat")
    ]
    # Someone else's number: another person, not linked to these.
    other = await service.link("slack", "D1", hasher("13900139000"), "slack")
    assert other.person != first.person
    assert other.others == []
    assert await service.person_of("wechat", "unknown") is None
    assert await service.linked("wechat", "unknown") == []


async def test_relinking_moves_the_identity(database: Database) -> None:
    service, hasher = IdentityService(database), PhoneHasher(KEY)
    await service.link("telegram", "1", hasher("13800138000"), "telegram")
    await service.link("feishu", "oc", hasher("13800138000"), "feishu")
    moved = await service.link("telegram", "1", hasher("13900139000"), "telegram")
    assert moved.others == []
    assert await service.linked("feishu", "oc") == []


async def test_export_and_erase(database: Database) -> None:
    service, hasher = IdentityService(database), PhoneHasher(KEY)
    await service.link("telegram", "1", hasher("13800138000"), "telegram")
    await service.link("feishu", "oc", hasher("13800138000"), "feishu")
    exported = await service.export_customer("telegram:1")
    assert exported["link"]["verified_by"] == "telegram"  # type: ignore[index]
    assert exported["link"]["phone"] == "kept only as a keyed hash"  # type: ignore[index]
    assert [(o["channel"], o["sender"]) for o in exported["linked_identities"]] == [  # type: ignore[attr-defined]
        ("feishu", "oc")
    ]
    assert hasher("13800138000") not in str(exported)
    assert await service.erase_customer("telegram:1") == {"links": 1}
    assert await service.erase_customer("telegram:1") == {"links": 0}
    assert await service.person_of("telegram", "1") is None
    assert await service.linked("feishu", "oc") == []
    assert await service.export_customer("telegram:1") == {"link": None, "linked_identities": []}


@pytest.mark.parametrize("phone_hash", ["", "13800138000", "g" * 64, "A" * 64])
async def test_link_takes_only_a_hash(database: Database, phone_hash: str) -> None:
    with pytest.raises(IdentityError, match="64-hex-digit keyed hash"):
        await IdentityService(database).link("telegram", "1", phone_hash, "telegram")


def test_migration_0910_creates_exactly_the_modules_table(database: Database) -> None:
    assert model_differences(database, "identity") == []
