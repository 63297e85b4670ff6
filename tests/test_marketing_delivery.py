"""What became of each campaign message after the handover, through the hub as wired (real app,
real SQLite, a local server standing in for Telegram's and WeChat's APIs and Rasa, a real SMTP
server): queued in the outbox, sent once the app's API took it, failed with the app's reason
when it refused or the outbox's retries ran out (the recipient failed, the caps freed), and
WeChat's template messages delivered or failed as WeChat's job-finished events say; counted in
the report in total and per arm, with what each channel can report at all."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.app import Settings, create_app
from bot.app._cli import app
from bot.app._container import HubServices
from bot.app._marketing import TEMPLATE_RECEIPTS
from bot.marketing import DELIVERY_KNOWN, DELIVERY_STATES, CampaignDraft, privacy_key
from bot.storage import upgrade
from tests.app_standin import AppStandIn, drain
from tests.migrations import model_differences
from tests.smtp_server import Mailbox, smtp_server
from tests.test_channels_wechat import OPENID, settings_for, signed_post
from tests.test_marketing_campaigns_hub import AUTH, KEY, TELEGRAM_SECRET, api, telegram_says
from tests.test_marketing_wechat_window import TEMPLATE, approved_copy, consented

CHAT = 1001


def no_deliveries(**counts: int) -> dict[str, int]:
    """Delivery counts: every state named, zeros included, as the report gives them."""
    return {state: counts.get(state, 0) for state in DELIVERY_STATES}


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def client(tmp_path: Path, stand_in: AppStandIn, mailbox: Mailbox) -> Iterator[TestClient]:
    values: dict[str, Any] = {
        "var_dir": tmp_path,
        "rasa_port": stand_in.port,
        "actions_port": stand_in.port,
        "api_key": KEY,
        "marketing_quiet_hours": "00:00-00:00",  # the test must not depend on the hour
        "marketing_send_every_s": 3600.0,  # the tests run the campaign job themselves
        "smtp_host": "127.0.0.1",
        "smtp_port": mailbox.port,
        "smtp_security": "none",
        "telegram_bot_token": "123456:ABC-test",
        "telegram_secret_token": TELEGRAM_SECRET,
        "telegram_bot_username": "shop_bot",
        "telegram_api_url": stand_in.url,
        "outbox_retry_s": 3600.0,  # the tests run the outbox's retries themselves
        "outbox_max_attempts": 2,
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def services(client: TestClient) -> HubServices:
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    return hub


def retry_outbox(client: TestClient) -> None:
    """Make every pending outbox message due and run the outbox job once (its own API)."""
    hub, portal = services(client), client.portal
    assert portal is not None
    for message in portal.call(hub.outbox.messages, "telegram"):
        if message.status == "pending":
            portal.call(hub.outbox.retry_now, message.id)
    apps = client.app.state.apps  # type: ignore[attr-defined]
    portal.call(apps.deliver_due)
    drain(client)


def audience(client: TestClient, contacts: list[dict[str, str]]) -> None:
    hub, portal = services(client), client.portal
    assert portal is not None
    for contact in contacts:
        api(client, "PUT", "/contacts", json=contact)
        key = privacy_key(contact["customer_id"], contact["channel"])
        portal.call(hub.consents.grant, key, "marketing", contact["channel"])


def approved(client: TestClient, n: int) -> list[int]:
    brief = {"products": ["EL-005"], "discounts": [20], "claims": ["limited_time"]}
    drafted = api(
        client,
        "POST",
        "/copy/drafts",
        json={"campaign": "spring", "language": "zh", "n": n, "brief": brief},
    )
    for variant in drafted:
        review = {"action": "approve", "reviewer": "editor"}
        api(client, "POST", f"/copy/variants/{variant['id']}/review", json=review)
    return [v["id"] for v in drafted]


def test_each_message_is_followed_from_the_handover_per_arm(
    client: TestClient,
    stand_in: AppStandIn,
    mailbox: Mailbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A/B with a hold-out (seed 4 puts every recipient here in A or B): the Telegram message
    waits in the outbox while Telegram's API is down (queued), goes out on the retry (sent);
    REST and e-mail are accepted at the handover; a contact with no conversation fails before
    any handover and is no delivery. ``python -m bot marketing report`` says the same."""
    hub, portal = services(client), client.portal
    assert portal is not None
    telegram_says(client, "hello", update_id=1, chat=CHAT)
    client.post("/api/messages", json={"sender": "customer-001", "text": "你好"}, headers=AUTH)
    drain(client)
    audience(
        client,
        [
            {"customer_id": str(CHAT), "channel": "telegram", "language": "en"},
            {"customer_id": "customer-001", "channel": "rest", "language": "zh"},
            {"customer_id": "customer-002", "channel": "email", "address": "li@example.com"},
            {"customer_id": "customer-003", "channel": "rest"},
        ],
    )
    first, second = approved(client, 2)
    experiment = api(
        client,
        "POST",
        "/experiments",
        json={"name": "ab", "arms": ["holdout", "A", "B"], "control_share": 0.2, "seed": 4},
    )
    campaign = api(
        client,
        "POST",
        "/campaigns",
        json={
            "name": "ab",
            "segment": "true",
            "variants": {"A": [first], "B": [second]},
            "experiment_id": experiment["id"],
        },
    )
    stand_in.fail_sends = 1  # Telegram's API answers 502 once

    assert api(client, "POST", "/campaigns/run")["outcomes"] == {"sent": 3, "failed": 1}
    drain(client)
    report = api(client, "GET", f"/campaigns/{campaign['id']}")
    found = {r["customer_id"]: (r["arm"], r["status"], r["delivery"]) for r in report["recipients"]}
    assert found == {
        str(CHAT): ("A", "sent", "queued"),
        "customer-001": ("B", "sent", "sent"),
        "customer-002": ("A", "sent", "sent"),
        "customer-003": ("B", "failed", None),
    }
    assert report["delivery"] == no_deliveries(queued=1, sent=2)
    arms = {a["name"]: (a["delivery"], a["deferred"]) for a in report["arms"]}
    assert arms == {
        "holdout": (no_deliveries(), 0),
        "A": (no_deliveries(queued=1, sent=1), 0),
        "B": (no_deliveries(sent=1), 0),
    }
    assert report["delivery_known"] == {
        channel: DELIVERY_KNOWN[channel] for channel in ("email", "rest", "telegram")
    }
    assert "accepted by the channel" in report["delivery_known"]["telegram"]

    # The outbox's retry gets it through: the report reads the news (sent, when Telegram took it).
    retry_outbox(client)
    outboxed = portal.call(hub.outbox.messages, "telegram")[-1]  # after the bot's echo
    assert (outboxed.status, outboxed.attempts) == ("sent", 2)
    report = api(client, "GET", f"/campaigns/{campaign['id']}")
    [telegram] = [r for r in report["recipients"] if r["channel"] == "telegram"]
    assert (telegram["status"], telegram["delivery"]) == ("sent", "sent")
    assert datetime.fromisoformat(telegram["delivery_at"]) == outboxed.sent_at
    assert report["delivery"] == no_deliveries(sent=3)
    assert {a["name"]: a["delivery"] for a in report["arms"]} == {
        "holdout": no_deliveries(),
        "A": no_deliveries(sent=2),
        "B": no_deliveries(sent=1),
    }
    assert len(stand_in.texts()) == 2  # the bot's echo, and the campaign message once

    # The command line reads the same report from the hub's database.
    monkeypatch.setenv("BOT_VAR_DIR", str(tmp_path))
    printed = CliRunner().invoke(app, ["marketing", "report", str(campaign["id"])])
    assert printed.exit_code == 0, printed.output
    found = json.loads(printed.stdout)
    assert "recipients" not in found
    assert (found["delivery"], found["delivery_known"], found["deferred"]) == (
        report["delivery"],
        report["delivery_known"],
        0,
    )
    assert [(a["name"], a["delivery"]) for a in found["arms"]] == [
        (a["name"], a["delivery"]) for a in report["arms"]
    ]
    missing = CliRunner().invoke(app, ["marketing", "report", "999"])
    assert missing.exit_code == 2
    assert "no campaign has id 999" in missing.stderr


@pytest.mark.parametrize(
    ("trouble", "reason"),
    [
        (
            "refused",
            "delivery: telegram outbox gave up: Telegram refused the message for good "
            "(403: Forbidden: bot was blocked)",
        ),
        ("down", "delivery: telegram outbox gave up: gave up after 2 attempts; last error: "),
    ],
)
def test_a_message_the_outbox_gives_up_fails_its_recipient_and_frees_the_caps(
    client: TestClient, stand_in: AppStandIn, trouble: str, reason: str
) -> None:
    """Telegram refuses for good (the customer blocked the bot): given up at once. Or its API
    is down past ``BOT_OUTBOX_MAX_ATTEMPTS`` (2 here): given up after the retry."""
    hub, portal = services(client), client.portal
    assert portal is not None
    telegram_says(client, "hello", update_id=1, chat=CHAT)
    drain(client)
    audience(client, [{"customer_id": str(CHAT), "channel": "telegram", "language": "en"}])
    [variant] = approved(client, 1)
    campaign = api(
        client,
        "POST",
        "/campaigns",
        json={"name": "x", "segment": "true", "variants": {"main": [variant]}},
    )
    if trouble == "refused":
        stand_in.refused[str(CHAT)] = 403
    else:
        stand_in.fail_sends = 2
    assert api(client, "POST", "/campaigns/run")["outcomes"] == {"sent": 1}
    drain(client)
    assert len(portal.call(hub.marketing.sends, str(CHAT))) == 1  # went out: counted, for now
    if trouble == "down":
        [queued] = api(client, "GET", f"/campaigns/{campaign['id']}")["recipients"]
        assert (queued["status"], queued["delivery"]) == ("sent", "queued")
        retry_outbox(client)

    report = api(client, "GET", f"/campaigns/{campaign['id']}")
    [failed] = report["recipients"]
    assert (failed["status"], failed["delivery"]) == ("failed", "failed")
    assert failed["reason"].startswith(reason), failed["reason"]
    assert report["statuses"] == {"failed": 1}
    assert report["delivery"] == no_deliveries(failed=1)
    assert portal.call(hub.marketing.sends, str(CHAT)) == []  # never reached: the caps are free
    # The customer's export says what became of the message to them.
    exported = portal.call(hub.marketing.export_customer, privacy_key(str(CHAT), "telegram"))
    messages: list[dict[str, Any]] = exported["campaign_messages"]  # type: ignore[assignment]
    assert [(m["status"], m["delivery"]) for m in messages] == [("failed", "failed")]
    # Its links lead nowhere: the message never reached anyone.
    assert stand_in.texts() == ["echo: hello"]


@pytest.fixture
def wechat(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    """The hub with WeChat and a campaign template the stand-in's account has."""
    stand_in.templates.add(TEMPLATE)
    settings = settings_for(
        tmp_path,
        stand_in,
        marketing_quiet_hours="00:00-00:00",
        marketing_max_per_day=5,
        marketing_max_per_week=5,
        marketing_send_every_s=3600.0,
        wechat_campaign_template_id=TEMPLATE,
        wechat_campaign_template_field="keyword1",
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def job_finished(msg_id: int, status: str) -> str:
    """WeChat's TEMPLATESENDJOBFINISH event, as its documentation shows it."""
    return (
        "<xml><ToUserName><![CDATA[gh_account]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
        f"<MsgID>{msg_id}</MsgID><Status><![CDATA[{status}]]></Status></xml>"
    )


def test_wechat_template_messages_are_delivered_or_failed_as_wechat_reports(
    wechat: TestClient, stand_in: AppStandIn
) -> None:
    """Two template messages to a follower past the 48-hour window (WeChat's message ids 1
    and 2); WeChat's signed job-finished events say the first arrived and the second did
    not (the follower blocked the account): delivered, and failed with the caps freed. A
    replayed event changes nothing; an event is no customer message."""
    client = wechat
    hub, portal = services(client), client.portal
    assert portal is not None
    consented(client)
    variant = approved_copy(client)
    ids = []
    for name in ("first", "second"):
        draft = CampaignDraft(name, "true", {"main": [variant.id]})
        ids.append(portal.call(hub.campaigns.create, draft).id)
        assert portal.call(hub.campaigns.run_due).outcomes == {"sent": 1}
    assert [s.body["template_id"] for s in stand_in.sent] == [TEMPLATE, TEMPLATE]
    first = portal.call(hub.campaigns.report, ids[0])
    assert [(r.status, r.delivery) for r in first.recipients] == [("sent", "sent")]
    assert first.delivery_known == {
        "wechat": DELIVERY_KNOWN["wechat"],
        "wechat:template_message": TEMPLATE_RECEIPTS,
    }
    assert len(portal.call(hub.marketing.sends, OPENID)) == 2

    for _ in range(2):  # WeChat repeats an event it got no answer to: the same outcome
        for msg_id, status in ((1, "success"), (2, "failed:user block")):
            answer = signed_post(client, job_finished(msg_id, status))
            assert (answer.status_code, answer.text) == (200, "success")
    assert signed_post(client, job_finished(99, "success")).status_code == 200  # not ours

    [delivered] = portal.call(hub.campaigns.report, ids[0]).recipients
    assert (delivered.status, delivered.delivery) == ("sent", "delivered")
    second = portal.call(hub.campaigns.report, ids[1])
    [failed] = second.recipients
    assert (failed.status, failed.delivery, failed.reason) == (
        "failed",
        "failed",
        "delivery: WeChat template message: failed:user block",
    )
    assert second.delivery == no_deliveries(failed=1)
    assert len(portal.call(hub.marketing.sends, OPENID)) == 1  # only the delivered one counts
    assert stand_in.rasa_seen == []  # no event reached the dialogue


def test_migration_0901_adds_the_delivery_columns_and_marks_earlier_sends_accepted(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/hub.db"
    upgrade(url, "0900")
    with sqlite3.connect(tmp_path / "hub.db") as db:
        db.execute(
            "INSERT INTO marketing_campaigns (id, name, segment, content, kind, starts_at, "
            "ends_at, status, created_at) VALUES (1, 'old', 'true', '{}', 'once', "
            "'2026-12-01 00:00:00', '2026-12-02 00:00:00', 'done', '2026-12-01 00:00:00')"
        )
        for n, status in enumerate(("sent", "skipped"), start=1):
            db.execute(
                "INSERT INTO marketing_recipients (id, campaign_id, customer_id, channel, arm, "
                "status, next_attempt_at, clicks, created_at) VALUES "
                f"({n}, 1, 'c{n}', 'rest', 'main', '{status}', '2026-12-01 00:00:00', 0, "
                "'2026-12-01 00:00:00')"
            )
    upgrade(url)
    with sqlite3.connect(tmp_path / "hub.db") as db:
        rows = db.execute(
            "SELECT status, delivery, deferrals FROM marketing_recipients ORDER BY id"
        ).fetchall()
    assert rows == [("sent", "sent", 0), ("skipped", None, 0)]
    assert model_differences(url, "marketing") == []
