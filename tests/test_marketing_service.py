"""The marketing service on a real SQLite database with the real consent and recommendation
services: the audience, segment previews, the send gate (consent, quiet hours, caps; property
tests that none can be bypassed), opt-outs, experiments and attribution."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.marketing import (
    OPT_OUT_CONFIRMATION,
    Contact,
    ContactPolicy,
    ExperimentNotFound,
    InvalidMarketingRequest,
    InvalidSegment,
    MarketingConfig,
    MarketingService,
    SegmentNotFound,
    is_opt_out,
)
from bot.privacy import ConsentService
from bot.recommend import CATALOGUE, Event, RecommendService
from bot.storage import Database

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, 23:00 in New York
POLICY = ContactPolicy(max_per_day=1, max_per_week=3, quiet_start=time(21), quiet_end=time(9))


async def marketing_on(database: Database) -> tuple[MarketingService, ConsentService]:
    consents = ConsentService(database)
    recommend = RecommendService(database, clock=lambda: NOW)
    await recommend.import_catalogue(CATALOGUE)
    service = MarketingService(
        database, consents, recommend.profile, MarketingConfig(POLICY), clock=lambda: NOW
    )
    return service, consents


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/hub.db")
    await db.migrate()
    yield db
    db.dispose()


@pytest.fixture
async def shop(database: Database) -> tuple[MarketingService, ConsentService, RecommendService]:
    consents = ConsentService(database)
    recommend = RecommendService(database, clock=lambda: NOW)
    await recommend.import_catalogue(CATALOGUE)
    service = MarketingService(
        database, consents, recommend.profile, MarketingConfig(POLICY), clock=lambda: NOW
    )
    return service, consents, recommend


async def test_preview_counts_matches_reachable_and_samples(
    shop: tuple[MarketingService, ConsentService, RecommendService],
) -> None:
    marketing, consents, recommend = shop
    for i in range(6):
        await marketing.upsert_contact(
            Contact(
                f"c{i}",
                "rest",
                "zh" if i % 2 == 0 else "en",
                tags=frozenset({"vip"} if i < 2 else set()),
            )
        )
    for i in (0, 2, 3):
        await recommend.record_event(
            Event(f"c{i}", "EL-001", "purchase", NOW - timedelta(days=i + 1))
        )
    await consents.grant("c0", "marketing", "rest")
    await consents.grant("c3", "marketing", "webchat")  # another channel: not reachable on rest

    preview = await marketing.preview("frequency >= 1 and recency_days < 10")
    assert (preview.audience, preview.matched, preview.reachable) == (6, 3, 1)
    assert [p.customer_id for p in preview.sample] == ["c0", "c2", "c3"]
    first = preview.sample[0]
    assert (first.monetary, first.consented, first.language, first.recency_days) == (
        4999.0,
        True,
        "zh",
        1.0,
    )
    assert first.affinity["electronics"] > 0
    vip = await marketing.preview('"vip" in tags and language == "en"', sample=5)
    assert [p.customer_id for p in vip.sample] == ["c1"]
    assert (await marketing.preview("affinity.electronics > 0", sample=1)).matched == 3


async def test_segments_are_saved_and_read_back(
    shop: tuple[MarketingService, ConsentService, RecommendService],
) -> None:
    marketing = shop[0]
    await marketing.save_segment("big-spenders", "monetary >= 1000")
    await marketing.save_segment("big-spenders", "monetary >= 2000")
    assert await marketing.segments() == {"big-spenders": "monetary >= 2000"}
    assert (await marketing.segment("big-spenders")).expression == "monetary >= 2000"
    with pytest.raises(SegmentNotFound, match="no saved segment is named 'nope'"):
        await marketing.segment("nope")
    with pytest.raises(InvalidSegment, match="unknown field"):
        await marketing.save_segment("bad", "salary > 1")
    with pytest.raises(InvalidSegment, match="a segment name is"):
        await marketing.save_segment("<script>", "true")
    assert await marketing.segments() == {"big-spenders": "monetary >= 2000"}


@pytest.mark.parametrize(
    ("contact", "message"),
    [
        (Contact("", "rest"), "customer_id must be 1 to 128 visible characters"),
        (Contact("a" * 129, "rest"), "customer_id must be 1 to 128 visible characters"),
        (Contact("a", "REST"), "channel must be 1 to 32 lower-case"),
        (Contact("a", "rest", timezone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (Contact("a", "rest", timezone="../../etc/passwd"), "unknown time zone"),
        (Contact("a", "rest", tags=frozenset({"<b>"})), "tags: at most 32"),
        (Contact("a", "rest", churn_risk=1.5), "churn_risk must be between 0 and 1"),
        (Contact("a", "rest", language="fr"), "language must be 'zh', 'en' or empty"),
    ],
)
async def test_bad_contacts_are_refused_and_nothing_is_stored(
    shop: tuple[MarketingService, ConsentService, RecommendService], contact: Contact, message: str
) -> None:
    marketing = shop[0]
    with pytest.raises(InvalidMarketingRequest, match=message.replace("(", r"\(")):
        await marketing.upsert_contact(contact)
    assert await marketing.contacts() == []


async def test_the_gate_refuses_without_consent_in_quiet_hours_and_over_caps(
    shop: tuple[MarketingService, ConsentService, RecommendService],
) -> None:
    marketing, consents, _ = shop
    await marketing.upsert_contact(Contact("ny", "rest", timezone="America/New_York"))
    await marketing.upsert_contact(Contact("sh", "rest", timezone="Asia/Shanghai"))
    assert (await marketing.admit("sh", "rest", "launch")).refused == "no_consent"
    await consents.grant("sh", "marketing", "rest")
    await consents.grant("ny", "marketing", "rest")
    assert (await marketing.admit("ny", "rest", "launch")).refused == "quiet_hours"  # 23:00 there
    assert (await marketing.admit("sh", "rest", "launch")).admitted
    assert (await marketing.admit("sh", "rest", "launch")).refused == "frequency_cap"
    assert (await marketing.admit("sh", "rest", "x", NOW + timedelta(days=1))).admitted
    assert (await marketing.admit("sh", "rest", "x", NOW + timedelta(days=2))).admitted
    # Three in the week: a fourth waits until the first leaves the seven-day window.
    assert (await marketing.admit("sh", "rest", "x", NOW + timedelta(days=3))).refused == (
        "frequency_cap"
    )
    assert (await marketing.admit("sh", "rest", "x", NOW + timedelta(days=7, minutes=1))).admitted
    assert len(await marketing.sends("sh")) == 4
    assert await marketing.sends("ny") == []


@pytest.mark.parametrize(
    ("customer", "channel", "campaign", "at", "message"),
    [
        ("", "rest", "c", NOW, "customer_id must be"),
        ("a", "Rest!", "c", NOW, "channel must be"),
        ("a", "rest", "<script>", NOW, "campaign must be"),
        ("a", "rest", "c", datetime(2026, 12, 2, 12), "the send time must carry a time zone"),
    ],
)
async def test_bad_send_requests_are_refused(
    shop: tuple[MarketingService, ConsentService, RecommendService],
    customer: str,
    channel: str,
    campaign: str,
    at: datetime,
    message: str,
) -> None:
    marketing, consents, _ = shop
    await consents.grant("a", "marketing", "rest")
    with pytest.raises(InvalidMarketingRequest, match=message):
        await marketing.admit(customer, channel, campaign, at)
    assert await marketing.sends("a") == []


async def test_a_flood_of_concurrent_sends_still_respects_the_cap(
    shop: tuple[MarketingService, ConsentService, RecommendService],
) -> None:
    marketing, consents, _ = shop
    await consents.grant("flood", "marketing", "rest")
    answers = await asyncio.gather(*(marketing.admit("flood", "rest", "f") for _ in range(40)))
    assert sum(a.admitted for a in answers) == 1
    assert len(await marketing.sends("flood")) == 1


@pytest.mark.parametrize(
    ("text", "opt_out"),
    [
        ("退订", True),
        ("  STOP ", True),
        ("Stop.", True),
        ("ＳＴＯＰ", True),  # full width
        ("unsubscribe!", True),
        ("TD", True),
        ("取消订阅。", True),
        ("don't stop my order", False),
        ("怎么退订单", False),
        ("", False),
        ("stopping", False),
    ],
)
def test_opt_out_words_are_whole_messages(text: str, opt_out: bool) -> None:
    assert is_opt_out(text) is opt_out


async def test_opt_out_revokes_at_once_and_is_confirmed(
    shop: tuple[MarketingService, ConsentService, RecommendService],
) -> None:
    marketing, consents, _ = shop
    await consents.grant("u", "marketing", "webchat")
    assert (await marketing.admit("u", "webchat", "a")).admitted
    assert await marketing.opt_out("u", "webchat", "en") == OPT_OUT_CONFIRMATION["en"]
    assert await consents.allows("u", "marketing", "webchat") is False
    later = NOW + timedelta(days=3)
    assert (await marketing.admit("u", "webchat", "a", later)).refused == "no_consent"
    assert (await consents.history("u"))[-1].actor_kind == "customer"


# ---- property tests: no sequence of grants, revocations and sends gets past the gate, and
# ---- only messages that went out count against the caps (failed deliveries are released) -----

CUSTOMERS = {"c-sh": "Asia/Shanghai", "c-ny": "America/New_York", "c-ld": "Europe/London"}
CHANNELS = ("rest", "webchat")
operation = st.tuples(
    # "fail": admitted, then the courier could not deliver (the send is released)
    st.sampled_from(["grant", "revoke", "send", "send", "send", "fail", "fail"]),
    st.sampled_from(sorted(CUSTOMERS)),
    st.sampled_from(CHANNELS),
    st.integers(min_value=0, max_value=36 * 60),  # minutes after the previous operation
)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated hub database that each example copies (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "hub.db"

    async def migrate() -> None:
        db = Database(f"sqlite:///{path}")
        await db.migrate()
        db.dispose()

    asyncio.run(migrate())
    return path


def reference_decision(
    consented: bool, local: datetime, earlier: list[datetime], moment: datetime
) -> str | None:
    """The rule as a customer would state it, written independently of the gate."""
    if not consented:
        return "no_consent"
    if local.hour >= 21 or local.hour < 9:
        return "quiet_hours"
    in_day = [t for t in earlier if moment - t < timedelta(days=1)]
    in_week = [t for t in earlier if moment - t < timedelta(days=7)]
    if len(in_day) >= 1 or len(in_week) >= 3:
        return "frequency_cap"
    return None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(operation, min_size=1, max_size=40))
def test_caps_consent_and_quiet_hours_cannot_be_bypassed(
    migrated: Path,
    tmp_path_factory: pytest.TempPathFactory,
    operations: list[tuple[str, str, str, int]],
) -> None:
    path = tmp_path_factory.mktemp("example") / "hub.db"
    shutil.copy(migrated, path)

    async def run() -> None:
        db = Database(f"sqlite:///{path}")
        consents = ConsentService(db)

        async def no_profile(_customer: str) -> None:
            return None

        marketing = MarketingService(db, consents, no_profile, MarketingConfig(POLICY))
        for customer, timezone in CUSTOMERS.items():
            for channel in CHANNELS:
                await marketing.upsert_contact(Contact(customer, channel, timezone=timezone))
        consented: dict[tuple[str, str], bool] = {}
        admitted: dict[str, list[datetime]] = {c: [] for c in CUSTOMERS}
        moment = NOW
        for kind, customer, channel, minutes in operations:
            moment += timedelta(minutes=minutes)
            if kind == "grant":
                await consents.grant(customer, "marketing", channel)
                consented[(customer, channel)] = True
            elif kind == "revoke":
                await marketing.opt_out(customer, channel)
                consented[(customer, channel)] = False
            else:
                answer = await marketing.admit(customer, channel, "prop", moment)
                local = moment.astimezone(ZoneInfo(CUSTOMERS[customer]))
                expected = reference_decision(
                    consented.get((customer, channel), False), local, admitted[customer], moment
                )
                assert answer.refused == expected
                if answer.admitted and kind == "fail":
                    await marketing.release(answer)
                elif answer.admitted:
                    admitted[customer].append(moment)
        for customer, times in admitted.items():
            assert await marketing.sends(customer) == times
            for i, sent in enumerate(times):  # no window holds more than the caps
                assert sum(1 for t in times[i:] if t - sent < timedelta(days=1)) <= 1
                assert sum(1 for t in times[i:] if t - sent < timedelta(days=7)) <= 3
        db.dispose()

    asyncio.run(run())


# ---- experiments ----------------------------------------------------------------------------


async def test_experiment_assignment_is_stable_and_conversions_are_attributed(
    shop: tuple[MarketingService, ConsentService, RecommendService],
) -> None:
    marketing = shop[0]
    experiment = await marketing.create_experiment(
        "spring", ["control", "B"], horizon=50, attribution_hours=48, seed=5
    )
    assert experiment.control_share == 0.5
    arms = {f"c{i}": await marketing.assign(experiment.id, f"c{i}") for i in range(200)}
    assert arms == {c: await marketing.assign(experiment.id, c) for c in arms}  # replays
    assert 70 < list(arms.values()).count("B") < 130
    buyer_b = next(c for c, a in arms.items() if a == "B")
    buyer_control = next(c for c, a in arms.items() if a == "control")
    assert await marketing.record_conversion(experiment.id, buyer_b, "o-1", 100.0, NOW)
    assert not await marketing.record_conversion(experiment.id, buyer_b, "o-1", 100.0, NOW)
    assert not await marketing.record_conversion(experiment.id, "stranger", "o-2", 10.0, NOW)
    late = NOW + timedelta(hours=49)
    assert not await marketing.record_conversion(experiment.id, buyer_control, "o-3", 10.0, late)
    before = NOW - timedelta(minutes=1)
    assert not await marketing.record_conversion(experiment.id, buyer_control, "o-4", 1.0, before)
    assert await marketing.record_conversion(experiment.id, buyer_b, "o-5", 50.0, NOW)
    out = await marketing.results(experiment.id)
    control, b = out.arms
    assert (control.name, control.conversions, control.revenue) == ("control", 0, 0.0)
    n_b = list(arms.values()).count("B")
    assert (b.name, b.recipients, b.conversions, b.revenue) == ("B", n_b, 1, 150.0)
    assert b.revenue_per_recipient == pytest.approx(150.0 / n_b)
    assert out.decided is True
    assert out.winner is None  # one order is no evidence


async def test_thompson_experiments_shift_traffic_to_the_converting_arm(
    shop: tuple[MarketingService, ConsentService, RecommendService],
) -> None:
    marketing = shop[0]
    experiment = await marketing.create_experiment(
        "bandit", ["hold", "B", "C"], policy="thompson", control_share=0.1
    )
    for i in range(60):
        arm = await marketing.assign(experiment.id, f"early{i}")
        if arm == "C":
            await marketing.record_conversion(experiment.id, f"early{i}", f"o{i}", 10.0, NOW)
    later = [await marketing.assign(experiment.id, f"late{i}") for i in range(100)]
    assert later.count("C") > 3 * later.count("B")


@pytest.mark.parametrize(
    ("name", "arms", "policy", "horizon", "share", "message"),
    [
        ("x", ["only"], "fixed", 10, None, "arms: 2 to 10 distinct names"),
        ("x", ["a", "a"], "fixed", 10, None, "arms: 2 to 10 distinct names"),
        ("x", ["a", "<b>"], "fixed", 10, None, "each arm name"),
        ("x", ["a", "b"], "epsilon", 10, None, "policy must be one of fixed, thompson"),
        ("x", ["a", "b"], "fixed", 0, None, "horizon must be between"),
        ("x", ["a", "b"], "fixed", 10, 1.0, "control_share must be between 0 and 1"),
        ("", ["a", "b"], "fixed", 10, None, "name must be"),
    ],
)
async def test_bad_experiments_are_refused(
    shop: tuple[MarketingService, ConsentService, RecommendService],
    name: str,
    arms: list[str],
    policy: str,
    horizon: int,
    share: float | None,
    message: str,
) -> None:
    marketing = shop[0]
    with pytest.raises(InvalidMarketingRequest, match=message):
        await marketing.create_experiment(
            name, arms, policy=policy, horizon=horizon, control_share=share
        )
    assert await marketing.experiments() == []


async def test_unknown_and_duplicate_experiments(
    shop: tuple[MarketingService, ConsentService, RecommendService],
) -> None:
    marketing = shop[0]
    await marketing.create_experiment("dup", ["a", "b"])
    with pytest.raises(InvalidMarketingRequest, match="an experiment is already named 'dup'"):
        await marketing.create_experiment("dup", ["a", "b"])
    with pytest.raises(ExperimentNotFound, match="no experiment has id 999"):
        await marketing.assign(999, "c")
    with pytest.raises(ExperimentNotFound):
        await marketing.results(999)
    assert [e.name for e in await marketing.experiments()] == ["dup"]


async def test_a_customer_is_exported_and_erased_from_every_marketing_table(
    shop: tuple[MarketingService, ConsentService, RecommendService],
) -> None:
    marketing, consents, _ = shop
    await marketing.upsert_contact(Contact("gone", "rest", "zh", tags=frozenset({"vip"})))
    await marketing.upsert_contact(Contact("stays", "rest"))
    await consents.grant("gone", "marketing", "rest")
    assert (await marketing.admit("gone", "rest", "a")).admitted
    experiment = await marketing.create_experiment("privacy", ["control", "B"])
    await marketing.assign(experiment.id, "gone")
    await marketing.record_conversion(experiment.id, "gone", "o-9", 12.0, NOW)
    exported = await marketing.export_customer("gone")
    assert exported["contacts"] == [
        {
            "channel": "rest",
            "language": "zh",
            "timezone": "",
            "tags": ["vip"],
            "churn_risk": 0.0,
            "address": "",
            "birthday": None,
        }
    ]
    assert exported["conversions"] == [
        {"experiment": experiment.id, "order_id": "o-9", "revenue": 12.0}
    ]
    assert await marketing.erase_customer("gone") == {
        "contacts": 1,
        "sends": 1,
        "assignments": 1,
        "conversions": 1,
        "campaign_conversions": 0,
        "campaign_recipients": 0,
        "campaign_links_bought_by": 0,
    }
    assert await marketing.export_customer("gone") == {
        "campaign_links_bought_by": [],
        "campaign_messages": [],
        "contacts": [],
        "sends": [],
        "assignments": [],
        "conversions": [],
    }
    assert [c.customer_id for c in await marketing.contacts()] == ["stays"]
