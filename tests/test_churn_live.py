"""Churn on the platform's own customers, end to end on real SQLite stores: features through
the modules' services, proxy-label training and scoring through the CLI, retention effects
carried out (coupon notice, priority routing, follow-up ticket) and reasons for the console."""

from __future__ import annotations

import contextlib
import json
import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from bot.app import Settings, app, create_app
from bot.app._analytics import fallback_texts
from bot.app._churn_features import (
    FEATURES,
    ChurnFeatureBuilder,
    RetentionEffects,
    at_risk,
    churn_context,
    load_model,
)
from bot.app._container import build_hub_services
from bot.conversations import ConversationService, InboundMessage
from bot.dialogue import DialogueUnavailable, RasaClient
from bot.handoff import AgentDirectory, BusinessHours, HandoffService
from bot.insights import (
    ChurnDataError,
    ChurnScore,
    ChurnScores,
    RetentionDesk,
    RetentionRule,
    holdout_arm,
)
from bot.orders import OrderService
from bot.privacy import ConsentService, Subject
from bot.storage import Conversation, Database
from bot.tickets import TicketConfig, TicketDraft, TicketQuery, TicketService
from tests.launch import free_port

HOURS = BusinessHours.parse("00:00-24:00", "Asia/Shanghai")
PRODUCT = {
    "sku": "BK-001",
    "name_zh": "书",
    "name_en": "book",
    "category": "books",
    "price": 100,
    "kind": "normal",
}


def _order(number: int, customer: str, days_ago: int, status: str = "completed") -> dict[str, Any]:
    return {
        "id": f"YX26{number:08d}",
        "customer": customer,
        "status": status,
        "placed_days_ago": days_ago,
        "address": "上海市浦东新区世纪大道100号",
        "recipient": "客户",
        "phone": "13800000000",
        "items": [{"sku": "BK-001", "quantity": 1}],
    }


def synthetic_shop(path: Path, customers: int = 300, seed: int = 3) -> dict[str, int]:
    """A made-up shop (synthetic): loyal customers order every 10–40 days up to today; leaving
    ones stopped 90–210 days ago; 10 % of the loyal stop at the cut-off with no warning (noise).
    Returns whether each customer ordered in the last 90 days (0) or not (1)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    truth: dict[str, int] = {}
    for i in range(customers):
        cid = f"cust-{i:04d}"
        leaving = rng.random() < 0.4
        silent = not leaving and rng.random() < 0.1
        stop = int(rng.integers(90, 210)) if leaving else (91 if silent else 0)
        day = 400 - int(rng.integers(0, 30))
        while day >= stop:
            status = "cancelled" if rng.random() < 0.05 else "completed"
            rows.append(_order(len(rows) + 1, cid, day, status))
            day -= int(rng.integers(10, 40))
        truth[cid] = int(not any(r["placed_days_ago"] < 90 for r in rows if r["customer"] == cid))
    data = {
        "customers": [
            {"id": c, "name": "客户", "phone": "13800000000", "tier": "regular"} for c in truth
        ],
        "products": [PRODUCT],
        "orders": rows,
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return truth


@dataclass
class Platform:
    database: Database
    orders: OrderService
    conversations: ConversationService
    handoffs: HandoffService
    agents: AgentDirectory
    tickets: TicketService
    consents: ConsentService
    scores: ChurnScores


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()
    nobody = free_port()
    dialogue = RasaClient(f"http://127.0.0.1:{nobody}", f"http://127.0.0.1:{nobody}", 2.0)
    await dialogue.start()
    handoffs = HandoffService(database, HOURS)
    fixtures = tmp_path / "shop.yml"
    fixtures.write_text(
        yaml.safe_dump(
            {
                "customers": [
                    {"id": "alice", "name": "A", "phone": "13800000001", "tier": "gold"},
                    {"id": "bob", "name": "B", "phone": "13800000002", "tier": "regular"},
                ],
                "products": [PRODUCT],
                "orders": [
                    _order(1, "alice", 40),
                    _order(2, "alice", 20, "cancelled"),
                    _order(3, "alice", 10, "returned"),
                    _order(4, "alice", 5),
                    _order(5, "bob", 300),
                ],
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    yield Platform(
        database,
        OrderService(tmp_path / "orders.db", fixtures=fixtures),
        ConversationService(
            database, dialogue, handoffs, HOURS, max_text_chars=500, default_language="en"
        ),
        handoffs,
        AgentDirectory(database, timedelta(hours=1)),
        TicketService(database, TicketConfig(HOURS)),
        ConsentService(database),
        ChurnScores(database),
    )
    await dialogue.close()
    database.dispose()


async def say(platform: Platform, channel: str, sender: str, words: str) -> str:
    # Rasa is down: the message is kept (marked failed), which is all these tests need.
    with contextlib.suppress(DialogueUnavailable):
        await platform.conversations.receive(InboundMessage(channel, sender, words))
    found = await platform.conversations.find(channel, sender)
    assert found is not None
    return found


def builder(platform: Platform) -> ChurnFeatureBuilder:
    return ChurnFeatureBuilder(
        platform.orders, platform.conversations, platform.handoffs, platform.tickets
    )


async def test_features_come_from_every_modules_service(platform: Platform) -> None:
    conversation = await say(platform, "rest", "alice", "Thanks, all good")
    await say(platform, "rest", "alice", "This is terrible, I am very angry and disappointed")
    agent = await platform.agents.create("lead", "a-long-password", role="supervisor")
    handoff = await platform.handoffs.request(conversation, "angry", language="en", skill="general")
    await platform.handoffs.accept(agent, handoff.handoff.id)
    await platform.handoffs.close(agent, handoff.handoff.id, "resolved")
    await platform.handoffs.record_csat(handoff.handoff.id, 2)
    await platform.tickets.create(
        TicketDraft("alice", "Broken again", "It broke", category="complaint"), actor="t"
    )
    await platform.tickets.create(TicketDraft("alice", "Invoice", "Need one"), actor="t")
    await platform.tickets.create(TicketDraft("bob", "Other", "not alice's"), actor="t")
    later = datetime.now(UTC) + timedelta(seconds=1)

    alice = await builder(platform).activity("alice", later)
    features = dict(alice.features)
    sentiment_mean, trend = features.pop("sentiment_mean"), features.pop("sentiment_trend")
    assert features == {
        "tier": "gold",
        "days_since_last_order": 5.0,
        "orders": 3.0,  # the cancelled order does not count
        "spend": 200.0,  # nor does the returned one's money
        "returns": 1.0,
        "cancellations": 1.0,
        "handoffs": 1.0,
        "fallbacks": 0.0,
        "open_tickets": 2.0,
        "breached_tickets": 0.0,
        "complaints": 2.0,  # the angry handoff and the complaint ticket
        "csat": 2.0,
    }
    assert isinstance(trend, float)
    assert trend < 0
    assert isinstance(sentiment_mean, float)
    assert (alice.channel, alice.value) == ("rest", 200.0)
    # As of before any of it: only the orders placed before that day count, nothing else.
    early = await builder(platform).activity("alice", later - timedelta(days=15))
    assert (early.features["orders"], early.features["handoffs"]) == (1.0, 0.0)
    assert early.features["open_tickets"] == 0.0
    assert math.isnan(float(early.features["csat"]))
    bob = await builder(platform).activity("bob", later)
    assert (bob.features["days_since_last_order"], bob.features["handoffs"]) == (300.0, 0.0)
    assert set(bob.features) == set(FEATURES)


@pytest.mark.parametrize(("channel", "sender"), [("rest", "alice"), ("webchat", "customer:alice")])
async def test_an_identified_web_chat_customer_counts_as_a_rest_one(
    platform: Platform, channel: str, sender: str
) -> None:
    """The same conversation through the shop's back end or the identified web chat gives the
    shop's customer the same features: sentiment trend, complaints, handoffs, fallbacks."""
    conversation = await say(platform, channel, sender, "Thanks, all good")
    await platform.conversations.post(conversation, sorted(fallback_texts())[0], author="bot")
    await say(platform, channel, sender, "This is terrible, I am very angry and disappointed")
    agent = await platform.agents.create("lead", "a-long-password", role="supervisor")
    handoff = await platform.handoffs.request(conversation, "angry", language="en", skill="general")
    await platform.handoffs.accept(agent, handoff.handoff.id)
    await platform.handoffs.close(agent, handoff.handoff.id, "resolved")
    await platform.handoffs.record_csat(handoff.handoff.id, 2)
    # Neither an anonymous session nor another customer's identified chat is alice's.
    await say(platform, "webchat", "alice", "I am furious, the worst shop ever")
    await say(platform, "webchat", "customer:bob", "I am furious, the worst shop ever")
    later = datetime.now(UTC) + timedelta(seconds=1)

    alice = await builder(platform).activity("alice", later)
    features = dict(alice.features)
    trend = features.pop("sentiment_trend")
    assert isinstance(trend, float)
    assert trend < 0
    assert {k: features[k] for k in ("handoffs", "complaints", "fallbacks", "csat")} == {
        "handoffs": 1.0,
        "complaints": 1.0,  # the angry handoff
        "fallbacks": 1.0,
        "csat": 2.0,
    }
    bob = await builder(platform).activity("bob", later)
    assert float(bob.features["sentiment_mean"]) < 0  # bob's identified chat is his


async def test_every_vouched_conversation_of_a_customer_counts(platform: Platform) -> None:
    """A customer who wrote through the back end and the identified web chat: both
    conversations' handoffs count, and the sentiment trend reads their messages in time order."""
    rest = await say(platform, "rest", "alice", "Thanks, all good, great service")
    webchat = await say(platform, "webchat", "customer:alice", "Terrible, I am very angry")
    for conversation in (rest, webchat):
        await platform.handoffs.request(conversation, "angry", language="en", skill="general")
    later = datetime.now(UTC) + timedelta(seconds=1)

    alice = await builder(platform).activity("alice", later)
    assert (alice.features["handoffs"], alice.features["complaints"]) == (2.0, 2.0)
    assert float(alice.features["sentiment_trend"]) < 0  # happy on REST first, angry later
    assert alice.channel == "webchat"  # where she last wrote: a coupon reaches her there
    # Before the web-chat message only the REST conversation counts.
    [first] = await platform.conversations.history(webchat, limit=1)
    early = await builder(platform).activity("alice", first.created_at)
    assert early.features["sentiment_trend"] == 0.0
    assert float(early.features["sentiment_mean"]) > 0
    assert early.channel == "rest"


def _cli(args: list[str], var_dir: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env={"BOT_VAR_DIR": str(var_dir)})
    return result.exit_code, result.stdout, result.stderr


def test_proxy_training_scoring_and_reasons_through_the_cli(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    truth = synthetic_shop(tmp_path / "shop.yml")
    OrderService(var_dir / "orders.db", fixtures=tmp_path / "shop.yml")  # seeds the store

    code, out, err = _cli(["insights", "churn-score"], var_dir)
    assert code == 2
    assert "run `python -m bot insights churn-train`" in err

    code, out, err = _cli(["insights", "churn-train", "--proxy-days", "90"], var_dir)
    assert code == 0, err
    report = json.loads(out)
    assert report["labels"].startswith("proxy: no order in the 90 days after ")
    assert report["rows"] == len(truth)
    assert report["churn_rate"] == pytest.approx(sum(truth.values()) / len(truth), abs=1e-3)
    assert report["test"]["roc_auc"] >= 0.85  # synthetic shop, test split of 60/20/20
    assert report["top_features"][0][0] == "days_since_last_order"

    scores_csv = tmp_path / "scores.csv"
    code, out, err = _cli(["insights", "churn-score", "--out", str(scores_csv)], var_dir)
    assert code == 0, err
    scored = json.loads(out)
    assert scored["scored"] == len(truth)
    riskiest = scored["riskiest"][0]
    assert truth[riskiest["customer_id"]] == 1
    assert len(riskiest["reasons"]) == 3
    assert "days since the last order" in " ".join(riskiest["reasons"])
    assert scores_csv.read_text(encoding="utf-8").count("\n") == len(truth) + 1

    # The rules over the fresh scores: every at-risk customer decided once per rule, recorded.
    code, out, err = _cli(["insights", "retention-run"], var_dir)
    assert code == 0, err
    run = json.loads(out)
    assert run["considered"] > 0
    assert run["decided"] == sum(run["by_outcome"].values())
    assert run["decided"] >= run["considered"]  # each at-risk customer meets one rule or more
    code, out, err = _cli(["insights", "retention-run"], var_dir)
    assert code == 0, err
    assert json.loads(out)["decided"] == 0

    # Corrupt model file and a bad label file: clear errors, nothing stored changes.
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(b"not a model")
    nowhere = tmp_path / "missing-dir" / "scores.csv"
    code, _out, err = _cli(["insights", "churn-score", "--out", str(nowhere)], var_dir)
    assert code == 2
    assert "cannot write" in err
    code, _out, err = _cli(["insights", "churn-score", "--model", str(bad)], var_dir)
    assert code == 2
    assert "is not a churn model written by churn-train" in err
    labels = tmp_path / "labels.csv"
    labels.write_bytes("customer_id,churned\ncust-0001,是\n".encode("gb18030"))
    code, _out, err = _cli(["insights", "churn-train", "--labels", str(labels)], var_dir)
    assert code == 2
    assert "is not a readable UTF-8 CSV" in err
    labels.write_text("customer_id,churned\ncust-0001,maybe\n", encoding="utf-8")
    code, _out, err = _cli(["insights", "churn-train", "--labels", str(labels)], var_dir)
    assert code == 2
    assert "row 2: churned must be yes/no" in err
    labels.write_text(
        "customer_id,churned\n"
        + "".join(f"{c},{'yes' if y else 'no'}\n" for c, y in truth.items())
        + "<script>x</script>,yes\n",
        encoding="utf-8",
    )
    code, out, err = _cli(["insights", "churn-train", "--labels", str(labels)], var_dir)
    assert code == 0, err
    assert "(1 ids the order store does not know were left out)" in json.loads(out)["labels"]


async def test_retention_effects_are_carried_out_and_recorded(platform: Platform) -> None:
    ids = [f"cust-{i}" for i in range(16)]
    for customer in ids[:-2]:  # the last two never wrote: no conversation to reach
        await say(platform, "rest", customer, "你好")
    rules = (
        RetentionRule("coupon_at_risk", "coupon", 0.5),
        RetentionRule("senior", "priority_routing", 0.5),
        RetentionRule("follow_up", "follow_up_ticket", 0.5),
    )
    effects = RetentionEffects(platform.conversations, platform.tickets, coupon_code="STAY10")
    desk = RetentionDesk(platform.database, platform.consents, effects.as_mapping(), rules)
    for customer in ids:
        await platform.consents.grant(customer, "marketing", "rest")
    await platform.scores.replace(
        [ChurnScore(c, "rest", 0.9, 300.0, ("原因",), ("reason",), "m") for c in ids]
        + [ChurnScore("safe", "rest", 0.1, 300.0, (), (), "m")]
    )
    decisions = await desk.act(at_risk(await platform.scores.at_least(0.5)))

    assert len(decisions) == 3 * len(ids)  # "safe" is no rule's
    for d in decisions:
        arm = holdout_arm(d.customer_id, d.rule, 0.5)
        assert d.arm == arm
        unreachable = d.customer_id in ids[-2:] and d.action == "coupon"
        expected = "holdout" if arm == "holdout" else "undeliverable" if unreachable else "done"
        assert d.status == expected, d
    coupons = {d.customer_id for d in decisions if d.action == "coupon" and d.status == "done"}
    for customer in ids[:-2]:
        conversation = await platform.conversations.find("rest", customer)
        assert conversation is not None
        history = await platform.conversations.history(conversation)
        sent = [m for m in history if (m.payload or {}).get("custom", {}).get("kind")]
        if customer in coupons:
            assert [m.text for m in sent] == [
                "感谢您一直以来的支持！我们为您准备了一张专属优惠券（STAY10），下次下单时可直接使用。"
            ]
        else:
            assert sent == []
    followed = {
        d.customer_id for d in decisions if d.action == "follow_up_ticket" and d.arm == "treated"
    }
    page = await platform.tickets.list_tickets(TicketQuery(categories=("account",), limit=100))
    assert sorted(t.customer_id for t in page.items) == sorted(followed)
    routed = {d.customer_id for d in decisions if d.action == "priority_routing"}
    for customer in routed:
        granted = holdout_arm(customer, "senior", 0.5) == "treated"
        assert await desk.treated(customer, "priority_routing") is granted
    # Applying the rules again changes nothing: no second coupon, no second ticket.
    assert await desk.act(at_risk(await platform.scores.at_least(0.5))) == []
    again = await platform.tickets.list_tickets(TicketQuery(categories=("account",), limit=100))
    assert len(again.items) == len(followed)
    recorded = await platform.database.transaction(
        lambda c: c.execute(text("SELECT count(*) FROM insights_retention_actions")).scalar()
    )
    assert recorded == 3 * len(ids)


async def test_coupon_needs_marketing_consent(platform: Platform) -> None:
    await say(platform, "rest", "nope", "hello")
    rules = (RetentionRule("coupon_at_risk", "coupon", 0.5, holdout_share=0.01),)
    effects = RetentionEffects(platform.conversations, platform.tickets)
    desk = RetentionDesk(platform.database, platform.consents, effects.as_mapping(), rules)
    await platform.scores.replace([ChurnScore("nope", "rest", 0.9, 1.0, (), (), "m")])
    [decision] = await desk.act(at_risk(await platform.scores.at_least(0.5)))
    assert (decision.arm, decision.status) == ("treated", "no_consent")
    conversation = await platform.conversations.find("rest", "nope")
    assert conversation is not None
    assert [m.text for m in await platform.conversations.history(conversation)] == ["hello"]


async def test_a_web_chat_customers_coupon_reaches_their_identified_chat(
    platform: Platform,
) -> None:
    """Scored on the channel they last wrote on, an identified web-chat customer's coupon goes
    to their own web-chat conversation, with the consent they gave there; none on REST."""
    await say(platform, "rest", "wendy", "hello")
    webchat = await say(platform, "webchat", "customer:wendy", "你好，我的积分怎么还没到")
    later = datetime.now(UTC) + timedelta(seconds=1)
    activity = await builder(platform).activity("wendy", later)
    assert activity.channel == "webchat"
    rules = (RetentionRule("coupon_at_risk", "coupon", 0.5, holdout_share=0.01),)
    effects = RetentionEffects(platform.conversations, platform.tickets, coupon_code="STAY10")
    desk = RetentionDesk(platform.database, platform.consents, effects.as_mapping(), rules)
    await platform.consents.grant("wendy", "marketing", "webchat")
    score = ChurnScore("wendy", activity.channel, 0.9, 100.0, (), (), "m")
    await platform.scores.replace([score])
    [decision] = await desk.act(at_risk(await platform.scores.at_least(0.5)))
    assert (decision.arm, decision.status) == ("treated", "done")
    history = await platform.conversations.history(webchat)
    assert [m.text for m in history if m.author == "system"] == [
        "感谢您一直以来的支持！我们为您准备了一张专属优惠券（STAY10），下次下单时可直接使用。"
    ]
    rest = await platform.conversations.find("rest", "wendy")
    assert rest is not None
    assert [m.text for m in await platform.conversations.history(rest)] == ["hello"]


async def test_console_reads_the_top_reasons_in_both_languages(platform: Platform) -> None:
    await platform.scores.replace(
        [
            ChurnScore(
                "alice",
                "rest",
                0.8123,
                200.0,
                (
                    "距上次下单天数为120，提高流失风险",
                    "投诉次数为2，提高流失风险",
                    "订单数为1，提高流失风险",
                    "多余",
                ),
                ("days since the last order is 120, which raises the churn risk", "b", "c"),
                "churn_model.joblib",
            )
        ]
    )
    lookup = churn_context(platform.scores)
    zh = await lookup("rest", "alice", "zh")
    assert zh is not None
    assert zh == {
        "risk": 0.812,
        "reasons": {  # at most three reasons are kept
            "zh": [
                "距上次下单天数为120，提高流失风险",
                "投诉次数为2，提高流失风险",
                "订单数为1，提高流失风险",
            ],
            "en": ["days since the last order is 120, which raises the churn risk", "b", "c"],
        },
        "model": "churn_model.joblib",
        "scored_at": zh["scored_at"],
    }
    assert await lookup("rest", "alice", "en") == zh
    # A web-chat sender could claim any name: no score is shown for it; unscored: nothing.
    assert await lookup("webchat", "alice", "en") is None
    assert await lookup("rest", "bob", "en") is None


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ChurnDataError, match="does not exist"):
        load_model(tmp_path / "missing.joblib")
    (tmp_path / "list.joblib").write_bytes(b"")
    with pytest.raises(ChurnDataError, match="not a churn model"):
        load_model(tmp_path / "list.joblib")


async def test_priority_routing_makes_the_next_handoff_a_vip_one(tmp_path: Path) -> None:
    hub = build_hub_services(Settings(var_dir=tmp_path))
    await hub.database.migrate()
    try:
        rule = "senior_agent_high_value"  # DEFAULT_RULES: priority routing at value >= 1000
        ids = [f"big-spender-{i}" for i in range(12)]
        await hub.churn_scores.replace(
            [ChurnScore(c, "rest", 0.6, 5000.0, (), (), "m") for c in ids]
        )
        decisions = await hub.retention_desk.act(at_risk(await hub.churn_scores.at_least(0.5)))
        assert {(d.customer_id, d.rule) for d in decisions} == {(c, rule) for c in ids}
        for customer in ids:
            granted = holdout_arm(customer, rule, 0.5) == "treated"
            assert await hub.customers.is_vip("rest", customer) is granted
        assert not await hub.customers.is_vip("rest", "customer-001")  # silver, never scored
    finally:
        hub.tracker_events.dispose()
        hub.database.dispose()


def test_the_console_context_carries_the_scored_customers_reasons(tmp_path: Path) -> None:
    nobody = free_port()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, var_dir=tmp_path, rasa_port=nobody, actions_port=nobody
    )
    app_ = create_app(settings)
    with TestClient(app_) as client:
        hub = app_.state.services
        run = client.portal.call  # type: ignore[union-attr]

        async def prepare(channel: str, sender: str) -> int:
            public_id = uuid.uuid4().hex
            await hub.database.session(
                lambda s: s.add(
                    Conversation(public_id=public_id, channel=channel, sender=sender, language="en")
                )
            )
            ticket = await hub.handoffs.request(
                public_id, "customer_request", language="en", skill="general"
            )
            return int(ticket.handoff.id)

        run(lambda: hub.agents.create("sam", "correct horse battery", role="supervisor"))
        reasons = ("a", "b", "c")
        run(
            lambda: hub.churn_scores.replace(
                [ChurnScore("alice", "rest", 0.7, 9.0, reasons, reasons, "m")]
            )
        )
        scored = run(lambda: prepare("rest", "alice"))
        anonymous = run(lambda: prepare("webchat", "alice"))
        response = client.post(
            "/console/api/login", json={"username": "sam", "password": "correct horse battery"}
        )
        assert response.status_code == 200, response.text
        churn = client.get(f"/console/api/handoffs/{scored}").json()["churn"]
        assert (churn["risk"], churn["reasons"]) == (
            0.7,
            {"zh": ["a", "b", "c"], "en": ["a", "b", "c"]},
        )
        assert client.get(f"/console/api/handoffs/{anonymous}").json()["churn"] is None


async def test_a_customers_erasure_takes_their_score_and_retention_decisions(
    tmp_path: Path,
) -> None:
    hub = build_hub_services(Settings(var_dir=tmp_path))
    await hub.database.migrate()
    try:
        await hub.churn_scores.replace(
            [ChurnScore(c, "rest", 0.9, 5000.0, ("原因",), ("why",), "m") for c in ("ann", "ben")]
        )
        await hub.retention_desk.act(at_risk(await hub.churn_scores.at_least(0.5)))
        scores = (await hub.churn_scores.export_customer("ann"))["scores"]
        assert isinstance(scores, list)
        assert [s["reasons_en"] for s in scores] == [("why",)]
        decisions = (await hub.retention_desk.export_customer("ann"))["decisions"]
        assert isinstance(decisions, list)
        assert len(decisions) == 2

        report = await hub.personal_data.erase(Subject("rest", "ann"), actor_kind="system")
        assert report.others["churn"] == {"scores": 1}
        assert report.others["retention_actions"] == {"decisions": 2}  # priority + follow-up
        assert await hub.churn_scores.of("ann") is None
        assert await hub.retention_desk.history("ann") == []
        assert await hub.churn_scores.of("ben") is not None  # the others stay
        assert len(await hub.retention_desk.history("ben")) == 2
    finally:
        hub.tracker_events.dispose()
        hub.database.dispose()
