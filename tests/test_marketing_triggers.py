"""Trigger facts as segment fields, with known answers: an abandoned cart (a cart event with no
purchase of that item since), the first purchase, the birthday (month-day only, in the
customer's time zone); and triggered campaigns on them through the real recommendation
service's events, a real SQLite database and a real SMTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.marketing import (
    CampaignDraft,
    Campaigns,
    Contact,
    ContactPolicy,
    CopyBrief,
    CopyDesk,
    CustomerProfile,
    EmailCourier,
    InvalidMarketingRequest,
    LinkSigner,
    MarketingConfig,
    MarketingService,
    Product,
    Segment,
    SmtpConfig,
)
from bot.marketing._triggers import TriggerFacts, check_birthday, days_to_birthday, trigger_facts
from bot.privacy import ConsentService
from bot.recommend import CATALOGUE, Event, RecommendService
from bot.storage import Database
from tests.smtp_server import Mailbox, smtp_server

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
# No quiet hours (start == end): the tests are about when a trigger fires, not the gate.
ANYTIME = ContactPolicy(max_per_day=10, max_per_week=50, quiet_start=time(0), quiet_end=time(0))


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def test_the_facts_of_a_known_event_history() -> None:
    events = [
        Event("c", "EL-001", "cart", at(-30)),
        Event("c", "EL-001", "purchase", at(-29)),  # bought: that cart is not abandoned
        Event("c", "EL-002", "view", at(-10)),
        Event("c", "EL-002", "cart", at(-6)),
        Event("c", "EL-003", "cart", at(-8)),  # older than EL-002's cart
        Event("c", "EL-004", "purchase", at(-2)),
        Event("c", "EL-005", "cart", at(1)),  # in the future of ``now``: not seen yet
    ]
    assert trigger_facts(events, "12-05", "Asia/Shanghai", NOW) == TriggerFacts(
        purchases=2,
        days_since_first_purchase=29 / 24,
        cart_abandoned_hours=6.0,
        days_to_birthday=3,
    )
    assert trigger_facts([], "", "Asia/Shanghai", NOW) == TriggerFacts()
    # Buying the item later clears its cart; a cart of the same item after that is new.
    later = [
        Event("c", "EL-002", "cart", at(-6)),
        Event("c", "EL-002", "purchase", at(-5)),
        Event("c", "EL-002", "cart", at(-1)),
    ]
    assert trigger_facts(later, "", "UTC", NOW).cart_abandoned_hours == 1.0
    assert trigger_facts(later[:2], "", "UTC", NOW).cart_abandoned_hours is None


@pytest.mark.parametrize(
    ("birthday", "timezone", "now", "days"),
    [
        ("12-02", "Asia/Shanghai", NOW, 0),
        ("12-03", "Asia/Shanghai", datetime(2026, 12, 2, 20, 0, tzinfo=UTC), 0),  # 04:00 there
        ("12-03", "America/New_York", datetime(2026, 12, 2, 20, 0, tzinfo=UTC), 1),
        ("12-01", "Asia/Shanghai", NOW, 364),
        ("01-01", "Asia/Shanghai", NOW, 30),
        ("02-29", "UTC", datetime(2027, 2, 1, tzinfo=UTC), 27),  # 28 February in 2027
        ("02-29", "UTC", datetime(2028, 2, 1, tzinfo=UTC), 28),  # a leap year
    ],
)
def test_days_to_the_birthday(birthday: str, timezone: str, now: datetime, days: int) -> None:
    assert days_to_birthday(birthday, timezone, now) == days


@pytest.mark.parametrize(
    "birthday", ["13-01", "02-30", "04-31", "00-10", "1990-03-28", "3-28", "<b>", "12-2"]
)
def test_a_birthday_that_is_not_a_month_day_is_refused(birthday: str) -> None:
    with pytest.raises(InvalidMarketingRequest, match="month-day"):
        check_birthday(birthday)


def test_unknown_trigger_facts_match_no_comparison() -> None:
    nobody = CustomerProfile("c", "email")
    for expression in (
        "cart_abandoned_hours >= 0",
        "cart_abandoned_hours < 1000000",
        "days_to_birthday == 0",
        "days_to_birthday != 0",
        "days_since_first_purchase <= 1",
    ):
        assert not Segment.parse(expression).matches(nobody), expression
    assert Segment.parse("purchases == 0").matches(nobody)
    assert Segment.parse("not cart_abandoned_hours >= 0").matches(nobody)


@dataclass
class Shop:
    marketing: MarketingService
    recommend: RecommendService
    consents: ConsentService
    campaigns: Campaigns
    desk: CopyDesk
    clock: list[datetime]
    mailbox: Mailbox


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[Shop]:
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()
    clock = [NOW]
    consents = ConsentService(database)
    recommend = RecommendService(database, clock=lambda: clock[0])
    await recommend.import_catalogue(CATALOGUE)
    marketing = MarketingService(
        database,
        consents,
        recommend.profile,
        MarketingConfig(ANYTIME),
        clock=lambda: clock[0],
        events=recommend.events_of,
    )

    async def catalogue() -> dict[str, Product]:
        items = await recommend.catalogue()
        return {i.id: Product(i.id, i.name_zh, i.name_en, i.price) for i in items.values()}

    desk = CopyDesk(database, catalogue)
    with smtp_server() as mailbox:
        courier = EmailCourier(
            SmtpConfig("127.0.0.1", "shop@example.com", port=mailbox.port, security="none")
        )
        campaigns = Campaigns(
            database,
            marketing,
            {"email": courier},
            LinkSigner("s" * 32, "https://hub.example"),
            clock=lambda: clock[0],
        )
        yield Shop(marketing, recommend, consents, campaigns, desk, clock, mailbox)
    database.dispose()


async def customers(shop: Shop, *names: str, birthday: str = "") -> None:
    for name in names:
        await shop.marketing.upsert_contact(
            Contact(name, "email", "zh", address=f"{name}@example.com", birthday=birthday)
        )
        await shop.consents.grant(name, "marketing", "email")


async def triggered(shop: Shop, name: str, segment: str) -> int:
    brief = CopyBrief(("EL-005",), discounts=(20.0,), claims=("limited_time",), channel="email")
    [variant] = await shop.desk.draft(name, brief, "zh", n=1)
    await shop.desk.review(variant.id, "approve", "editor")
    draft = CampaignDraft(
        name, segment, {"main": [variant.id]}, kind="triggered", ends_at=NOW + timedelta(days=30)
    )
    return (await shop.campaigns.create(draft)).id


def mailed(shop: Shop) -> list[str]:
    return [str(m["To"]).split("@")[0] for m in shop.mailbox.messages]


async def test_a_cart_abandoned_for_four_hours_triggers_once(shop: Shop) -> None:
    await customers(shop, "ann", "bob", "cat")
    await shop.recommend.record_event(Event("ann", "EL-002", "cart", at(0)))
    await shop.recommend.record_event(Event("bob", "EL-002", "cart", at(0)))
    await shop.recommend.record_event(Event("bob", "EL-002", "purchase", at(1)))
    await triggered(shop, "cart-back", "cart_abandoned_hours >= 4")
    shop.clock[0] = at(1)
    preview = await shop.marketing.preview("cart_abandoned_hours >= 0")
    assert [p.customer_id for p in preview.sample] == ["ann"]  # bob bought it, cat never carted
    assert preview.sample[0].cart_abandoned_hours == 1.0
    shop.clock[0] = at(3)
    assert (await shop.campaigns.run_due()).recipients_added == 0  # not four hours yet
    shop.clock[0] = at(4)
    assert (await shop.campaigns.run_due()).outcomes == {"sent": 1}
    shop.clock[0] = at(30)
    assert (await shop.campaigns.run_due()).recipients_added == 0  # reached once
    assert mailed(shop) == ["ann"]


async def test_the_first_purchase_triggers_a_welcome(shop: Shop) -> None:
    await customers(shop, "ann", "bob")
    await shop.recommend.record_event(Event("bob", "EL-001", "purchase", at(-24 * 40)))
    await shop.recommend.record_event(Event("bob", "EL-003", "purchase", at(-2)))
    await triggered(shop, "welcome", "purchases == 1 and days_since_first_purchase < 1")
    assert (await shop.campaigns.run_due()).recipients_added == 0
    await shop.recommend.record_event(Event("ann", "EL-004", "purchase", at(-1)))
    assert (await shop.campaigns.run_due()).outcomes == {"sent": 1}
    assert mailed(shop) == ["ann"]  # bob's first purchase was long ago


async def test_a_birthday_campaign_reaches_the_customer_on_the_day(shop: Shop) -> None:
    await customers(shop, "ann", birthday="12-04")
    await customers(shop, "bob")  # no birthday imported
    await triggered(shop, "birthday", "days_to_birthday == 0")
    assert (await shop.campaigns.run_due()).recipients_added == 0
    shop.clock[0] = datetime(2026, 12, 3, 16, 30, tzinfo=UTC)  # 00:30 on 4 December there
    assert (await shop.campaigns.run_due()).outcomes == {"sent": 1}
    assert mailed(shop) == ["ann"]
    # Only the month-day is kept; the export shows it and erasure removes it.
    exported = await shop.marketing.export_customer("ann")
    assert [c["birthday"] for c in exported["contacts"]] == ["12-04"]  # type: ignore[attr-defined]
    await shop.marketing.erase_customer("ann")
    assert (await shop.marketing.export_customer("ann"))["contacts"] == []
    with pytest.raises(InvalidMarketingRequest, match="month-day"):
        await shop.marketing.upsert_contact(
            Contact("cat", "email", address="cat@example.com", birthday="1990-12-04")
        )
