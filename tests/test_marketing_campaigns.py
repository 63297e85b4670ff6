"""Campaigns on a real SQLite database, the real consent, recommendation and copy services, and
e-mail to a real SMTP server (aiosmtpd on a free port): every send passes the gate and leaves a
result per recipient; tracked links; orders attributed from the orders module's events; two
workers on one database never send a recipient twice."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.insights import ChurnScore, ChurnScores
from bot.marketing import (
    CampaignDraft,
    Campaigns,
    Contact,
    ContactPolicy,
    CopyBrief,
    CopyDesk,
    EmailCourier,
    InvalidMarketingRequest,
    InvalidSegment,
    LinkNotFound,
    LinkSigner,
    MarketingConfig,
    MarketingService,
    Product,
    SmtpConfig,
    wave_share,
)
from bot.orders import FIXTURES, OrderService
from bot.privacy import ConsentService
from bot.recommend import CATALOGUE, RecommendService
from bot.storage import Database, upgrade
from tests.migrations import model_differences
from tests.smtp_server import Mailbox, body_of, smtp_server

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, 23:00 in New York
POLICY = ContactPolicy(max_per_day=1, max_per_week=3, quiet_start=time(21), quiet_end=time(9))
SECRET = "s" * 32
SHOP = "https://shop.example/spring?src=mail"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server() as mailbox:
        yield mailbox, mailbox.port


@dataclass
class Shop:
    database: Database
    marketing: MarketingService
    consents: ConsentService
    desk: CopyDesk
    campaigns: Campaigns
    clock: list[datetime]
    mailbox: Mailbox
    port: int


def campaigns_on(
    shop_db: Database, marketing: MarketingService, port: int, clock: list[datetime]
) -> Campaigns:
    courier = EmailCourier(SmtpConfig("127.0.0.1", "shop@example.com", port=port, security="none"))
    return Campaigns(
        shop_db,
        marketing,
        {"email": courier},
        LinkSigner(SECRET, "https://hub.example"),
        clock=lambda: clock[0],
    )


@pytest.fixture
async def shop(tmp_path: Path, smtp: tuple[Mailbox, int]) -> AsyncIterator[Shop]:
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()
    clock = [NOW]
    consents = ConsentService(database)
    recommend = RecommendService(database, clock=lambda: clock[0])
    await recommend.import_catalogue(CATALOGUE)
    marketing = MarketingService(
        database, consents, recommend.profile, MarketingConfig(POLICY), clock=lambda: clock[0]
    )

    async def catalogue() -> dict[str, Product]:
        items = await recommend.catalogue()
        return {i.id: Product(i.id, i.name_zh, i.name_en, i.price) for i in items.values()}

    desk = CopyDesk(database, catalogue)
    mailbox, port = smtp
    yield Shop(
        database,
        marketing,
        consents,
        desk,
        campaigns_on(database, marketing, port, clock),
        clock,
        mailbox,
        port,
    )
    database.dispose()


async def approved(shop: Shop, language: str = "zh", edit: str | None = None) -> int:
    brief = CopyBrief(("EL-005",), discounts=(20.0,), claims=("limited_time",), channel="email")
    variant = (await shop.desk.draft("spring", brief, "en" if language == "en" else "zh", n=1))[0]
    if edit:
        await shop.desk.review(variant.id, "edit", "editor", edit)
    else:
        await shop.desk.review(variant.id, "approve", "editor")
    return variant.id


async def email_contact(shop: Shop, customer: str, *, consent: bool = True, **extra: Any) -> None:
    address = extra.pop("address", f"{customer}@example.com")
    await shop.marketing.upsert_contact(Contact(customer, "email", address=address, **extra))
    if consent:
        await shop.consents.grant(customer, "marketing", "email")


async def test_a_campaign_passes_the_gate_and_records_every_recipient(shop: Shop) -> None:
    variant = await approved(shop)
    await email_contact(shop, "ann", language="zh")
    await email_contact(shop, "bob", consent=False)
    await email_contact(shop, "cat", address="bounce@example.com")
    await email_contact(shop, "dan", timezone="America/New_York")  # 23:00 there: quiet hours
    campaign = await shop.campaigns.create(
        CampaignDraft("spring", "true", {"main": [variant]}, url=SHOP)
    )

    first = await shop.campaigns.run_due()
    assert (first.recipients_added, first.outcomes) == (
        4,
        {"sent": 1, "skipped": 1, "failed": 1, "deferred": 1},
    )
    report = await shop.campaigns.report(campaign.id)
    by_customer = {r.customer_id: (r.status, r.reason) for r in report.recipients}
    assert by_customer["ann"] == ("sent", None)
    assert by_customer["bob"] == ("skipped", "no_consent")
    assert by_customer["cat"][0] == "failed"
    assert "550" in (by_customer["cat"][1] or "")
    assert "mailbox unavailable" in (by_customer["cat"][1] or "")
    assert by_customer["dan"] == ("pending", "quiet_hours: tried again later")
    assert report.campaign.status == "running"

    [mail] = shop.mailbox.messages
    assert mail["To"] == "ann@example.com"
    body = body_of(mail)
    [link] = [w for w in body.split() if w.startswith("https://hub.example/m/c/")]
    assert "ann" not in link
    assert "退订" in body

    # Nothing more before dan's morning; then dan, once, and the campaign is done.
    assert (await shop.campaigns.run_due()).outcomes == {}
    shop.clock[0] = NOW + timedelta(hours=11)  # 10:00 in New York
    assert (await shop.campaigns.run_due()).outcomes == {"sent": 1}
    assert [m["To"] for m in shop.mailbox.messages] == ["ann@example.com", "dan@example.com"]
    assert (await shop.campaigns.report(campaign.id)).campaign.status == "done"
    assert (await shop.campaigns.run_due()).outcomes == {}


async def test_the_caps_hold_across_campaigns(shop: Shop) -> None:
    variant = await approved(shop)
    await email_contact(shop, "ann")
    for name in ("one", "two"):
        await shop.campaigns.create(CampaignDraft(name, "true", {"main": [variant]}))
    assert (await shop.campaigns.run_due()).outcomes == {"sent": 1, "skipped": 1}
    reports = [await shop.campaigns.report(c.id) for c in await shop.campaigns.campaigns()]
    assert sorted(r.reasons.get("frequency_cap", 0) for r in reports) == [0, 1]
    assert len(shop.mailbox.messages) == 1


async def test_a_failed_send_does_not_count_against_the_caps(shop: Shop) -> None:
    variant = await approved(shop)
    await email_contact(shop, "cat", address="bounce@example.com")
    first = await shop.campaigns.create(CampaignDraft("one", "true", {"main": [variant]}))
    assert (await shop.campaigns.run_due()).outcomes == {"failed": 1}
    assert await shop.marketing.sends("cat") == []
    # The address fixed the same day: the next campaign reaches cat (cap 1 a day), and that
    # send is the one the caps count, so a third one the same day is refused.
    await email_contact(shop, "cat")
    second = await shop.campaigns.create(CampaignDraft("two", "true", {"main": [variant]}))
    assert (await shop.campaigns.run_due()).outcomes == {"sent": 1}
    assert await shop.marketing.sends("cat") == [NOW]
    third = await shop.campaigns.create(CampaignDraft("three", "true", {"main": [variant]}))
    assert (await shop.campaigns.run_due()).outcomes == {"skipped": 1}
    statuses = [
        [
            (r.status, (r.reason or "").split(":")[0])
            for r in (await shop.campaigns.report(c.id)).recipients
        ]
        for c in (first, second, third)
    ]
    assert statuses == [[("failed", "delivery")], [("sent", "")], [("skipped", "frequency_cap")]]
    assert [m["To"] for m in shop.mailbox.messages] == ["cat@example.com"]


async def test_the_edited_copy_in_the_customers_language_is_sent(shop: Shop) -> None:
    zh = await approved(shop, "zh")
    en = await approved(shop, "en", edit="Spring sale: Sony WH-1000XM5 at 20% off, this week only!")
    await email_contact(shop, "eve", language="en")
    await shop.campaigns.create(CampaignDraft("spring", "true", {"main": [zh, en]}))
    await shop.campaigns.run_due()
    [mail] = shop.mailbox.messages
    assert mail["Subject"] == "Spring sale: Sony WH-1000XM5 at 20% off, this week only!"
    assert "Unsubscribe: https://hub.example/m/u/" in body_of(mail)
    assert mail["List-Unsubscribe"].startswith("<https://hub.example/m/u/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"name": "<script>"}, "name must be"),
        ({"url": "javascript:alert(1)"}, "url must be an absolute http(s) address"),
        ({"url": "//evil.example"}, "url must be an absolute http(s) address"),
        ({"variants": {"main": [999]}}, "no copy variant has id 999"),
        ({"variants": {"other": [1]}}, "variants must give copy for exactly the arms ['main']"),
        ({"kind": "weekly"}, "kind must be one of once, triggered"),
        ({"ends_at": NOW - timedelta(hours=1)}, "ends_at must come after starts_at"),
        ({"starts_at": datetime(2026, 12, 2)}, "must carry a time zone"),
        ({"waves": 0}, "waves must be 1 to 30, not 0"),
        ({"waves": 31}, "waves must be 1 to 30, not 31"),
        (
            {"waves": 2, "kind": "triggered", "wave_every": timedelta(hours=2)},
            "only a one-off campaign is sent in waves",
        ),
        ({"waves": 2}, "wave_every_hours must be at least 1 when waves > 1"),
        (
            {"waves": 3, "wave_every": timedelta(hours=12)},
            "the last of 3 waves, 12:00:00 apart, would start at 2026-12-03T04:00:00+00:00, "
            "not before ends_at",
        ),
    ],
)
async def test_bad_campaigns_are_refused_and_nothing_is_stored(
    shop: Shop, change: dict[str, Any], error: str
) -> None:
    await approved(shop)
    draft: dict[str, Any] = {"name": "ok", "segment": "true", "variants": {"main": [1]}}
    draft.update(change)
    with pytest.raises(InvalidMarketingRequest, match=re.escape(error)):
        await shop.campaigns.create(CampaignDraft(**draft))
    assert await shop.campaigns.campaigns() == []


async def test_copy_nobody_approved_is_never_sent(shop: Shop) -> None:
    brief = CopyBrief(("EL-005",), channel="email")
    pending = (await shop.desk.draft("spring", brief, "zh", n=1))[0]
    with pytest.raises(InvalidMarketingRequest, match="a person must approve it"):
        await shop.campaigns.create(CampaignDraft("x", "true", {"main": [pending.id]}))
    with pytest.raises(InvalidSegment):
        await shop.campaigns.create(CampaignDraft("x", "salary > 1", {"main": [pending.id]}))
    assert await shop.campaigns.campaigns() == []


async def sent_link(shop: Shop, customer: str = "ann") -> str:
    variant = await approved(shop)
    await email_contact(shop, customer)
    await shop.campaigns.create(CampaignDraft("spring", "true", {"main": [variant]}, url=SHOP))
    await shop.campaigns.run_due()
    body = body_of(shop.mailbox.messages[-1])
    return next(w for w in body.split() if "/m/c/" in w)


async def test_a_tracked_link_counts_clicks_and_leads_only_to_the_campaigns_url(
    shop: Shop,
) -> None:
    token = (await sent_link(shop)).rsplit("/", 1)[1]
    # The shop's page, with the link's token for its checkout (its own query kept).
    for _ in range(3):
        assert await shop.campaigns.click(token) == f"{SHOP}&campaign_click={token}"
    [campaign] = await shop.campaigns.campaigns()
    report = await shop.campaigns.report(campaign.id)
    assert (report.clicks, report.unique_clicks) == (3, 1)

    forged = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token.split(".")[0] + ".x",
        LinkSigner("another-secret-of-16+", "https://x").link(1).rsplit("/", 1)[1],
        "",
        "1",
    ]
    for bad in forged:
        with pytest.raises(LinkNotFound, match="this link is not valid"):
            await shop.campaigns.click(bad)
    # A well-signed token of a recipient that was never sent (skipped) leads nowhere.
    await email_contact(shop, "bob", consent=False)
    await shop.campaigns.create(CampaignDraft("later", "true", {"main": [1]}, url=SHOP))
    await shop.campaigns.run_due()
    skipped = next(
        r
        for r in (await shop.campaigns.report(campaign.id + 1)).recipients
        if r.customer_id == "bob"
    )
    assert skipped.status == "skipped"
    with pytest.raises(LinkNotFound, match="belongs to no message that was sent"):
        await shop.campaigns.click(shop.campaigns.links.link(3).rsplit("/", 1)[1])
    assert (await shop.campaigns.report(campaign.id)).clicks == 3


async def test_orders_from_the_orders_module_are_attributed_once_within_the_window(
    shop: Shop, tmp_path: Path
) -> None:
    await sent_link(shop, "customer-001")
    [campaign] = await shop.campaigns.campaigns()
    orders = OrderService(tmp_path / "orders.db", fixtures=FIXTURES)
    pending: list[asyncio.Task[int | None]] = []

    def listener(change: Any) -> None:
        if change.kind == "placed":
            order = change.order
            pending.append(
                asyncio.get_running_loop().create_task(
                    shop.campaigns.attribute_order(order.customer_id, order.id, order.total)
                )
            )

    orders.subscribe(listener)
    order = orders.place(
        "customer-001",
        [("EL-005", 1)],
        address="广州市天河区天河路385号太古汇一座2205",
        recipient="张伟",
        phone="13530246633",
    )
    assert await asyncio.gather(*pending) == [campaign.id]
    # A replayed event credits nothing more; an order after the window credits nothing.
    assert await shop.campaigns.attribute_order("customer-001", order.id, order.total) is None
    late = NOW + timedelta(hours=169)
    assert await shop.campaigns.attribute_order("customer-001", "YX9", 10.0, late) is None
    report = await shop.campaigns.report(campaign.id)
    assert (report.conversions, report.revenue) == (1, float(order.total))


async def test_held_out_customers_count_in_the_experiments_uplift(shop: Shop) -> None:
    variant = await approved(shop)
    experiment = await shop.marketing.create_experiment(
        "exp", ["control", "offer"], control_share=0.5, seed=3
    )
    for i in range(20):
        await email_contact(shop, f"c{i}")
    await shop.campaigns.create(
        CampaignDraft("spring", "true", {"offer": [variant]}, experiment_id=experiment.id)
    )
    # One send a day per customer: run as the days go by until nobody waits.
    await shop.campaigns.run_due()
    [campaign] = await shop.campaigns.campaigns()
    report = await shop.campaigns.report(campaign.id)
    held = [r.customer_id for r in report.recipients if r.status == "held_out"]
    sent = [r.customer_id for r in report.recipients if r.status == "sent"]
    assert held
    assert sent
    assert len(held) + len(sent) == 20
    assert sorted(m["To"] for m in shop.mailbox.messages) == sorted(
        f"{c}@example.com" for c in sent
    )
    shop.clock[0] = NOW + timedelta(hours=2)
    assert await shop.campaigns.attribute_order(held[0], "YX1", 100.0) is None  # nothing sent
    assert await shop.campaigns.attribute_order(sent[0], "YX2", 300.0) == campaign.id
    results = await shop.marketing.results(experiment.id)
    by_arm = {a.name: (a.recipients, a.conversions) for a in results.arms}
    assert by_arm == {"control": (len(held), 1), "offer": (len(sent), 1)}


async def test_a_triggered_campaign_reaches_each_new_member_once(shop: Shop) -> None:
    variant = await approved(shop)
    await email_contact(shop, "ann", churn_risk=0.9)
    await email_contact(shop, "bob", churn_risk=0.1)
    await shop.campaigns.create(
        CampaignDraft(
            "winback",
            "churn_risk >= 0.7",
            {"main": [variant]},
            kind="triggered",
            ends_at=NOW + timedelta(days=30),
        )
    )
    assert (await shop.campaigns.run_due()).outcomes == {"sent": 1}
    await email_contact(shop, "bob", churn_risk=0.8)
    shop.clock[0] = NOW + timedelta(hours=1)
    assert (await shop.campaigns.run_due()).outcomes == {"sent": 1}
    shop.clock[0] = NOW + timedelta(days=3)
    assert (await shop.campaigns.run_due()).outcomes == {}
    assert sorted(m["To"] for m in shop.mailbox.messages) == ["ann@example.com", "bob@example.com"]
    [campaign] = await shop.campaigns.campaigns()
    assert campaign.status == "running"
    shop.clock[0] = NOW + timedelta(days=31)
    await shop.campaigns.run_due()
    assert (await shop.campaigns.campaigns())[0].status == "done"


async def test_a_campaign_scheduled_for_later_waits(shop: Shop) -> None:
    variant = await approved(shop)
    await email_contact(shop, "ann")
    later = NOW + timedelta(hours=3)
    await shop.campaigns.create(
        CampaignDraft("later", "true", {"main": [variant]}, starts_at=later)
    )
    assert await shop.campaigns.run_due() == type(await shop.campaigns.run_due())(0, {})
    shop.clock[0] = later
    assert (await shop.campaigns.run_due()).outcomes == {"sent": 1}


async def test_two_workers_on_one_database_send_each_recipient_once(
    shop: Shop, tmp_path: Path
) -> None:
    variant = await approved(shop)
    for i in range(30):
        await email_contact(shop, f"c{i}")
    await shop.campaigns.create(CampaignDraft("spring", "true", {"main": [variant]}))
    # A second "replica": its own engine and services on the same database file.
    other_db = Database(f"sqlite:///{tmp_path}/hub.db")
    try:
        consents = ConsentService(other_db)
        other_marketing = MarketingService(
            other_db,
            consents,
            RecommendService(other_db, clock=lambda: shop.clock[0]).profile,
            MarketingConfig(POLICY),
            clock=lambda: shop.clock[0],
        )
        other = campaigns_on(other_db, other_marketing, shop.port, shop.clock)
        runs = await asyncio.gather(shop.campaigns.run_due(), other.run_due())
    finally:
        other_db.dispose()
    assert sum(r.outcomes.get("sent", 0) for r in runs) == 30
    recipients = sorted(m["To"] for m in shop.mailbox.messages)
    assert recipients == sorted(f"c{i}@example.com" for i in range(30))


async def test_a_claim_left_by_a_dead_worker_is_failed_not_sent_again(shop: Shop) -> None:
    variant = await approved(shop)
    await email_contact(shop, "ann")
    await shop.campaigns.create(CampaignDraft("spring", "true", {"main": [variant]}))
    [campaign] = await shop.campaigns.campaigns()
    # The worker took the audience and claimed ann, then died before sending.
    await shop.database.session(
        lambda s: s.execute(
            text("UPDATE marketing_campaigns SET status = 'running' WHERE id = :id"),
            {"id": campaign.id},
        )
    )
    await shop.campaigns._add_audience(campaign, NOW)
    assert (await shop.campaigns._claim(NOW))[0] == [1]
    shop.clock[0] = NOW + timedelta(minutes=10)
    await shop.campaigns.run_due()
    [row] = (await shop.campaigns.report(campaign.id)).recipients
    assert (row.status, row.reason) == ("failed", "interrupted: the worker stopped during the send")
    assert shop.mailbox.messages == []


async def test_an_erased_customer_leaves_no_campaign_rows(shop: Shop) -> None:
    await sent_link(shop)
    counts = await shop.marketing.erase_customer("ann")
    assert counts["campaign_recipients"] == 1
    [campaign] = await shop.campaigns.campaigns()
    assert (await shop.campaigns.report(campaign.id)).recipients == []


def test_the_smtp_sender_and_security_are_checked() -> None:
    with pytest.raises(InvalidMarketingRequest, match="sender must be an address"):
        SmtpConfig("127.0.0.1", "shop")
    with pytest.raises(InvalidMarketingRequest, match="security must be"):
        SmtpConfig("127.0.0.1", "a@b.c", security="ssl")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "address", ["", "no-at-sign", "a@b", "a@b.c\r\nBcc: x@y.z", "<a@b.cc>", "a" * 250 + "@b.cc"]
)
async def test_bad_email_addresses_are_refused(shop: Shop, address: str) -> None:
    with pytest.raises(InvalidMarketingRequest, match="needs an address like"):
        await shop.marketing.upsert_contact(Contact("x", "email", address=address))
    assert await shop.marketing.contacts() == []


@dataclass
class Replica:
    database: Database
    marketing: MarketingService
    campaigns: Campaigns


async def replicas_on(url: str, port: int, clock: list[datetime]) -> list[Replica]:
    out = []
    for _ in range(2):
        database = Database(url)
        consents = ConsentService(database)
        recommend = RecommendService(database, clock=lambda: clock[0])
        marketing = MarketingService(
            database, consents, recommend.profile, MarketingConfig(POLICY), clock=lambda: clock[0]
        )
        out.append(Replica(database, marketing, campaigns_on(database, marketing, port, clock)))
    return out


async def test_replicas_on_one_database_keep_the_caps_and_send_each_recipient_once(
    database_url: str, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    clock = [NOW]
    first, second = await replicas_on(database_url, port, clock)
    try:
        await first.database.migrate()
        recommend = RecommendService(first.database, clock=lambda: clock[0])
        await recommend.import_catalogue(CATALOGUE)
        consents = ConsentService(first.database)

        async def catalogue() -> dict[str, Product]:
            items = await recommend.catalogue()
            return {i.id: Product(i.id, i.name_zh, i.name_en, i.price) for i in items.values()}

        desk = CopyDesk(first.database, catalogue)
        brief = CopyBrief(("EL-005",), channel="email")
        [variant] = await desk.draft("spring", brief, "zh", n=1)
        await desk.review(variant.id, "approve", "editor")
        for i in range(20):
            contact = Contact(f"c{i}", "email", address=f"c{i}@example.com")
            await first.marketing.upsert_contact(contact)
            await consents.grant(f"c{i}", "marketing", "email")
        await consents.grant("flood", "marketing", "rest")

        # Ten sends to one customer at once, five through each replica: the day's cap is one.
        admissions = await asyncio.gather(
            *(r.marketing.admit("flood", "rest", "x") for r in [first, second] * 5)
        )
        assert sum(a.admitted for a in admissions) == 1

        await first.campaigns.create(CampaignDraft("spring", "true", {"main": [variant.id]}))
        runs = await asyncio.gather(first.campaigns.run_due(), second.campaigns.run_due())
        assert sum(r.outcomes.get("sent", 0) for r in runs) == 20
        assert sorted(m["To"] for m in mailbox.messages) == sorted(
            f"c{i}@example.com" for i in range(20)
        )
    finally:
        first.database.dispose()
        second.database.dispose()


async def test_a_churn_triggered_campaign_follows_the_churn_models_scores(shop: Shop) -> None:
    scores = ChurnScores(shop.database)

    async def churn_risk(customer_id: str) -> float | None:
        score = await scores.of(customer_id)
        return score.risk if score is not None else None

    marketing = MarketingService(
        shop.database,
        shop.consents,
        RecommendService(shop.database, clock=lambda: shop.clock[0]).profile,
        MarketingConfig(POLICY),
        clock=lambda: shop.clock[0],
        churn=churn_risk,
    )
    campaigns = campaigns_on(shop.database, marketing, shop.port, shop.clock)
    variant = await approved(shop)
    await email_contact(shop, "ann", churn_risk=0.1)  # the CRM's value, until a score exists
    await email_contact(shop, "bob", churn_risk=0.9)
    await campaigns.create(
        CampaignDraft(
            "winback",
            "churn_risk >= 0.7",
            {"main": [variant]},
            kind="triggered",
            ends_at=NOW + timedelta(days=30),
        )
    )

    def score(customer: str, risk: float) -> ChurnScore:
        return ChurnScore(customer, "email", risk, 100.0, (), (), "test")

    await scores.replace([score("bob", 0.2)])  # the model says bob is staying: not reached
    assert (await campaigns.run_due()).outcomes == {}
    await scores.replace([score("ann", 0.85)])  # ann's risk rose: reached on the next run
    shop.clock[0] = NOW + timedelta(hours=1)
    assert (await campaigns.run_due()).outcomes == {"sent": 1}
    assert [m["To"] for m in shop.mailbox.messages] == ["ann@example.com"]


async def test_a_thompson_campaign_in_waves_shifts_later_waves_to_the_converting_arm(
    shop: Shop,
) -> None:
    """Four waves a day apart: the first is split evenly; every recipient of arm "b" buys and
    nobody of arm "a" does, so the bandit sends the later waves almost all to "b"."""
    variant = await approved(shop)
    experiment = await shop.marketing.create_experiment(
        "waves", ["control", "a", "b"], policy="thompson", control_share=0.1, seed=5
    )
    customers = [f"w{i:03d}" for i in range(120)]
    for customer in customers:
        await email_contact(shop, customer)
    every = timedelta(days=1)
    created = await shop.campaigns.create(
        CampaignDraft(
            "spring-waves",
            "true",
            {"a": [variant], "b": [variant]},
            experiment_id=experiment.id,
            ends_at=NOW + timedelta(days=5),
            waves=4,
            wave_every=every,
        )
    )
    assert (created.waves, created.waves_taken, created.next_wave_at) == (4, 0, NOW)
    arms_by_wave: list[Counter[str]] = []
    seen: set[str] = set()
    for wave in range(4):
        shop.clock[0] = NOW + wave * every
        await shop.campaigns.run_due()
        campaign = (await shop.campaigns.campaigns())[0]
        report = await shop.campaigns.report(campaign.id)
        new = [r for r in report.recipients if r.customer_id not in seen]
        seen.update(r.customer_id for r in new)
        arms_by_wave.append(Counter(r.arm for r in new))
        # Exactly this wave's share of the segment joined, each customer once.
        assert {r.customer_id for r in new} == {
            c for c in customers if wave_share(campaign.id, c, 4) == wave
        }
        assert campaign.waves_taken == wave + 1
        assert campaign.status == ("done" if wave == 3 else "running")
        for r in new:
            if r.arm == "b":
                order = f"order-{r.customer_id}"
                assert await shop.campaigns.attribute_order(r.customer_id, order, 99.0)
        # Nothing more is taken before the next wave is due.
        assert (await shop.campaigns.run_due()).recipients_added == 0
    assert sorted(seen) == customers
    first, later = arms_by_wave[0], sum(arms_by_wave[1:], Counter())
    assert first["a"] >= 5
    assert first["b"] >= 5
    assert later["b"] >= 0.9 * (later["a"] + later["b"])


async def test_a_late_joiner_is_reached_by_a_later_wave_and_nobody_twice(shop: Shop) -> None:
    variant = await approved(shop)
    for customer in ("ann", "bob", "cat", "dan"):
        await email_contact(shop, customer)
    await shop.campaigns.create(
        CampaignDraft(
            "two-waves",
            "true",
            {"main": [variant]},
            ends_at=NOW + timedelta(days=3),
            waves=2,
            wave_every=timedelta(days=1),
        )
    )
    first = (await shop.campaigns.run_due()).recipients_added
    await email_contact(shop, "eve")  # joins the segment between the waves
    shop.clock[0] = NOW + timedelta(days=1)
    second = (await shop.campaigns.run_due()).recipients_added
    assert first + second == 5
    assert sorted(m["To"] for m in shop.mailbox.messages) == [
        f"{c}@example.com" for c in ("ann", "bob", "cat", "dan", "eve")
    ]
    shop.clock[0] = NOW + timedelta(days=2)
    assert (await shop.campaigns.run_due()).recipients_added == 0
    assert (await shop.campaigns.campaigns())[0].status == "done"


def test_wave_shares_are_stable_and_even() -> None:
    shares = Counter(wave_share(7, f"customer-{i}", 4) for i in range(4000))
    assert set(shares) == {0, 1, 2, 3}
    assert all(900 <= n <= 1100 for n in shares.values())
    assert wave_share(7, "customer-1", 4) == wave_share(7, "customer-1", 4)
    assert [wave_share(c, "x", 1) for c in range(5)] == [0] * 5


def test_migration_0902_gives_earlier_campaigns_their_one_wave(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hub.db"
    upgrade(url, "0901")
    with sqlite3.connect(tmp_path / "hub.db") as db:
        for n, status in enumerate(("done", "running", "scheduled", "taking"), start=1):
            db.execute(
                "INSERT INTO marketing_campaigns (id, name, segment, content, kind, starts_at, "
                f"ends_at, status, created_at) VALUES ({n}, 'c{n}', 'true', '{{}}', 'once', "
                f"'2026-12-01 00:00:00', '2026-12-02 00:00:00', '{status}', "
                "'2026-12-01 00:00:00')"
            )
    upgrade(url)
    with sqlite3.connect(tmp_path / "hub.db") as db:
        rows = db.execute(
            "SELECT status, waves, wave_every_s, waves_taken, next_wave_at IS NOT NULL "
            "FROM marketing_campaigns ORDER BY id"
        ).fetchall()
    assert rows == [
        ("done", 1, 0, 1, 0),
        ("running", 1, 0, 1, 0),
        ("scheduled", 1, 0, 0, 1),
        ("taking", 1, 0, 0, 1),
    ]
    assert model_differences(url, "marketing") == []


async def test_a_click_reported_by_the_checkout_credits_the_buyers_order_to_the_message(
    shop: Shop,
) -> None:
    """The recipient's id is not the buyer's (an app id against the shop's customer id): the
    checkout's campaign_click names the message; the buyer's export shows the link, erasing
    them leaves no trace of them on it."""
    token = (await sent_link(shop, "app-4242")).rsplit("/", 1)[1]
    landing = await shop.campaigns.click(token)
    assert landing.endswith(f"campaign_click={token}")
    assert await shop.campaigns.attribute_order("shop-77", "YX-1", 50.0) is None
    with pytest.raises(LinkNotFound, match="this link is not valid"):
        await shop.campaigns.note_buyer(token[:-2] + "zz", "shop-77")
    [campaign] = await shop.campaigns.campaigns()
    assert await shop.campaigns.note_buyer(token, "shop-77") == campaign.id
    assert await shop.campaigns.attribute_order("shop-77", "YX-2", 80.0) == campaign.id
    assert await shop.campaigns.attribute_order("shop-77", "YX-2", 80.0) is None  # replayed
    report = await shop.campaigns.report(campaign.id)
    assert (report.conversions, report.revenue) == (1, 80.0)
    exported = await shop.marketing.export_customer("shop-77")
    assert exported["campaign_links_bought_by"] == [{"campaign": campaign.id, "channel": "email"}]
    erased = await shop.marketing.erase_customer("shop-77")
    assert (erased["campaign_links_bought_by"], erased["campaign_conversions"]) == (1, 1)
    assert (await shop.marketing.export_customer("shop-77"))["campaign_links_bought_by"] == []
    # The recipient's own row stays (it is the app customer's), and credits the buyer no more.
    assert await shop.campaigns.attribute_order("shop-77", "YX-3", 80.0) is None
    assert [r.customer_id for r in (await shop.campaigns.report(campaign.id)).recipients] == [
        "app-4242"
    ]
