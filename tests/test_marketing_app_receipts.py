"""What customers read on Feishu and DingTalk, and campaign messages for an app that is off,
through the hub as wired (real app, real SQLite, a local server standing in for each app's API
and Rasa, which echoes).

Feishu: the message API answers the campaign message's ``message_id``; Feishu's
``im.message.message_read_v1`` event, encrypted and signed as the channel's other events are
(the helpers of tests/test_channels_feishu.py), makes it "read", once, whatever is replayed;
ids of messages that are not ours are ignored. DingTalk: the robot's send answers a
``processQueryKey``; the hub's read-status job asks about campaign messages only, until one is
read or older than the 24 hours DingTalk answers for: a one-to-one message of
``oToMessages/readStatus``, a group message of ``groupMessages/query`` page by page, read once
any member read it. An app whose
settings are not given fails its campaign messages at once, naming what turns it on, with the
caps freed. The console's notes of what each channel reports come in Chinese too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.app import Settings, create_app
from bot.app._app_settings import APP_SETTINGS, apps_off
from bot.app._container import HubServices
from bot.app._jobs import Job
from bot.app._marketing import TEMPLATE_RECEIPTS, AppReads, outbox_deliveries
from bot.marketing import (
    DELIVERY_KNOWN,
    DELIVERY_KNOWN_IN_CHINESE,
    DELIVERY_STATES,
    CampaignDraft,
    CampaignReport,
    Contact,
    DeliveryNews,
    delivery_known_zh,
    privacy_key,
)
from bot.marketing._delivery import ACCEPTED_ONLY
from bot.outbox import Outbox
from bot.storage import Database, utcnow
from tests import test_channels_dingtalk as dingtalk
from tests import test_channels_feishu as feishu
from tests.app_standin import AppStandIn, dingtalk_page_token, drain
from tests.conftest import query_hub_db
from tests.test_marketing_wechat_window import approved_copy

KEY = "k" * 32
AUTH = {"Authorization": f"Bearer {KEY}"}
# The reader's open_id: the customer who writes in tests/test_channels_feishu.py.
CUSTOMER = "ou_customer"
STAFF = f"user:{dingtalk.STAFF}"  # the DingTalk customer, as the connector names the sender
GROUP = "cid-group-9"  # a DingTalk group whose members mention the robot: a contact too
GROUP_CONTACT = f"group:{GROUP}"
CAMPAIGN: dict[str, Any] = {
    "api_key": KEY,
    "marketing_quiet_hours": "00:00-00:00",  # the test must not depend on the hour
    "marketing_send_every_s": 3600.0,  # the tests run the campaign job themselves
    "outbox_retry_s": 3600.0,  # nothing is retried behind the test's back
}


def hub_settings(var_dir: Path, stand_in: AppStandIn, **app: Any) -> Settings:
    """The hub with the apps of ``app`` (their API and Rasa stood in for), ready for campaigns."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=stand_in.port,
        actions_port=stand_in.port,
        **CAMPAIGN,
        **app,
    )


FEISHU = {
    "feishu_app_id": "cli_test",
    "feishu_app_secret": "app-secret",
    "feishu_verification_token": feishu.VERIFICATION,
    "feishu_encrypt_key": feishu.ENCRYPT_KEY,
}
DINGTALK = {
    "dingtalk_app_key": dingtalk.APP_KEY,
    "dingtalk_app_secret": dingtalk.APP_SECRET,
    "dingtalk_robot_code": dingtalk.APP_KEY,
}


def deliveries(**counts: int) -> dict[str, int]:
    return {state: counts.get(state, 0) for state in DELIVERY_STATES}


def services(client: TestClient) -> HubServices:
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    return hub


def sent_campaign(client: TestClient, customer_id: str, channel: str) -> int:
    """The customer opted in on ``channel``; one campaign of approved copy, run once: its id."""
    hub, portal = services(client), client.portal
    assert portal is not None
    portal.call(hub.marketing.upsert_contact, Contact(customer_id, channel, "zh"))
    portal.call(hub.consents.grant, privacy_key(customer_id, channel), "marketing", channel)
    variant = approved_copy(client)
    draft = CampaignDraft(f"{channel}-spring", "true", {"main": [variant.id]})
    campaign = portal.call(hub.campaigns.create, draft).id
    assert portal.call(hub.campaigns.run_due).outcomes == {"sent": 1}
    drain(client)  # the connector's send through the outbox
    return campaign


def report(client: TestClient, campaign: int) -> CampaignReport:
    assert client.portal is not None
    found: CampaignReport = client.portal.call(services(client).campaigns.report, campaign)
    return found


def only_recipient(client: TestClient, campaign: int) -> tuple[str, str | None, datetime | None]:
    [recipient] = report(client, campaign).recipients
    return recipient.status, recipient.delivery, recipient.delivery_at


# ---- Feishu ---------------------------------------------------------------------------------


@pytest.fixture
def feishu_hub(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    settings = hub_settings(tmp_path, stand_in, **FEISHU, feishu_api_url=stand_in.url)
    with TestClient(create_app(settings)) as client:
        yield client


def read_event(event_id: str, message_ids: Any, read_ms: int, **header: str) -> dict[str, Any]:
    """An ``im.message.message_read_v1`` event (schema 2.0) as Feishu documents it."""
    return {
        "schema": "2.0",
        "header": feishu.event_header(event_id, "im.message.message_read_v1", **header),
        "event": {
            "reader": {
                "reader_id": {"open_id": CUSTOMER, "union_id": "on_customer"},
                "read_time": str(read_ms),
                "tenant_key": "t1",
            },
            "message_id_list": message_ids,
        },
    }


def test_a_feishu_read_event_makes_the_campaign_message_read_once(
    feishu_hub: TestClient, stand_in: AppStandIn
) -> None:
    client = feishu_hub
    hub, portal = services(client), client.portal
    assert portal is not None
    assert feishu.post(client, feishu.message_event("ev-1", "om_1", "你好")).status_code == 200
    drain(client)
    stand_in.wait_for(lambda: len(stand_in.sent) == 1, "the bot's reply")
    campaign = sent_campaign(client, feishu.CHAT, "feishu")
    # The message API answered the campaign message's id; the outbox keeps it.
    [reply, outboxed] = portal.call(hub.outbox.messages, "feishu")
    assert (reply.receipt, outboxed.receipt, outboxed.read_at) == ("om_sent_1", "om_sent_2", None)
    assert only_recipient(client, campaign) == ("sent", "sent", outboxed.sent_at)

    read_ms = int(time.time() * 1000)
    read_at = datetime.fromtimestamp(read_ms / 1000, UTC)
    event = read_event("ev-read-1", ["om_sent_2", "om_not_ours"], read_ms)
    answer = feishu.post(client, event)
    assert (answer.status_code, answer.json()) == (200, {})
    assert only_recipient(client, campaign) == ("sent", "read", read_at)
    # Feishu delivers the same event again, and a later read names the message again: the
    # message was read once, when it was first read.
    assert feishu.post(client, event).status_code == 200
    later = read_event("ev-read-2", ["om_sent_2"], read_ms + 60_000)
    assert feishu.post(client, later).status_code == 200
    assert only_recipient(client, campaign) == ("sent", "read", read_at)
    found = report(client, campaign)
    assert (found.delivery, found.statuses) == (deliveries(read=1), {"sent": 1})
    # Only ids of messages that are not ours: acknowledged, nothing changes.
    assert feishu.post(client, read_event("ev-read-3", ["om_other"], read_ms)).status_code == 200
    assert [m.read_at for m in portal.call(hub.outbox.messages, "feishu")] == [None, read_at]
    assert [seen["message"] for seen in stand_in.rasa_seen] == ["你好"]  # no event is a message

    # What the report tells of Feishu, in English and, for the console in Chinese, in Chinese.
    response = client.get(f"/api/marketing/campaigns/{campaign}", headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["delivery_known"], body["delivery_known_zh"]) == (
        {"feishu": DELIVERY_KNOWN["feishu"]},
        {"feishu": DELIVERY_KNOWN_IN_CHINESE[DELIVERY_KNOWN["feishu"]]},
    )


@pytest.mark.parametrize(
    ("event", "status", "detail"),
    [
        (
            read_event("ev-bad-1", None, 1),
            400,
            "a message-read event needs event.message_id_list: a list of message ids",
        ),
        (
            read_event("ev-bad-2", ["om_sent_1", 7], 1),
            400,
            "a message-read event needs event.message_id_list: a list of message ids",
        ),
        (
            {**read_event("ev-bad-3", ["om_sent_1"], 1), "event": {"message_id_list": ["x"]}},
            400,
            "a message-read event needs event.reader.reader_id.open_id",
        ),
        (
            read_event("ev-bad-4", ["om_sent_1"], 1, token="guessed"),
            401,
            "the token does not match BOT_FEISHU_VERIFICATION_TOKEN",
        ),
    ],
    ids=["no-id-list", "an-id-not-text", "no-reader", "wrong-token"],
)
def test_a_bad_or_forged_read_event_is_refused_and_reads_nothing(
    feishu_hub: TestClient, stand_in: AppStandIn, event: dict[str, Any], status: int, detail: str
) -> None:
    client = feishu_hub
    assert feishu.post(client, feishu.message_event("ev-1", "om_1", "你好")).status_code == 200
    drain(client)
    stand_in.wait_for(lambda: len(stand_in.sent) == 1, "the bot's reply")
    answer = feishu.post(client, event)
    assert (answer.status_code, answer.json()) == (status, {"detail": detail})
    assert (
        feishu.post(client, read_event("ev-5", ["om_sent_1"], 1), sign_key="wrong").status_code
        == 401
    )
    assert client.portal is not None
    [reply] = client.portal.call(services(client).outbox.messages, "feishu")
    assert (reply.receipt, reply.read_at) == ("om_sent_1", None)


# ---- DingTalk -------------------------------------------------------------------------------


@pytest.fixture
def dingtalk_hub(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    settings = hub_settings(
        tmp_path, stand_in, **DINGTALK, dingtalk_api_url=stand_in.url, app_read_check_s=45.0
    )
    with TestClient(create_app(settings)) as client:
        yield client


def read_job(client: TestClient) -> Job:
    jobs = client.app.state.jobs.scheduled  # type: ignore[attr-defined]
    [job] = [j for j in jobs if j.name == "dingtalk-read-status"]
    return job  # type: ignore[no-any-return]


def test_dingtalk_read_status_is_asked_until_the_campaign_message_is_read(
    dingtalk_hub: TestClient, stand_in: AppStandIn
) -> None:
    client = dingtalk_hub
    hub, portal = services(client), client.portal
    assert portal is not None
    assert dingtalk.post(client, dingtalk.callback("msg-1", "你好")).status_code == 200
    drain(client)
    stand_in.wait_for(lambda: len(stand_in.sent) == 1, "the bot's reply")
    campaign = sent_campaign(client, STAFF, "dingtalk")
    [_reply, outboxed] = portal.call(hub.outbox.messages, "dingtalk")
    assert outboxed.receipt == "pqk+2/="
    job = read_job(client)
    assert job.every_s == 45.0  # BOT_APP_READ_CHECK_S

    # Unread: asked about the campaign message only (the bot's reply is followed by nobody).
    assert portal.call(job.run) == 0
    asked = {"robotCode": dingtalk.APP_KEY, "processQueryKey": "pqk+2/="}
    assert stand_in.read_questions == [asked]
    assert only_recipient(client, campaign)[:2] == ("sent", "sent")
    # DingTalk's API down for one question: logged, asked again at the next run.
    stand_in.fail_reads = 1
    assert portal.call(job.run) == 0
    read_ms = int(time.time() * 1000)
    stand_in.dingtalk_read["pqk+2/="] = read_ms
    assert portal.call(job.run) == 1
    read_at = datetime.fromtimestamp(read_ms / 1000, UTC)
    assert only_recipient(client, campaign) == ("sent", "read", read_at)
    assert report(client, campaign).delivery == deliveries(read=1)
    # Read: never asked about again.
    assert portal.call(job.run) == 0
    assert stand_in.read_questions == [asked] * 3
    assert report(client, campaign).delivery_known == {"dingtalk": DELIVERY_KNOWN["dingtalk"]}


def test_dingtalk_read_status_is_given_up_after_the_day_dingtalk_answers(
    dingtalk_hub: TestClient, stand_in: AppStandIn, tmp_path: Path
) -> None:
    client = dingtalk_hub
    assert dingtalk.post(client, dingtalk.callback("msg-1", "你好")).status_code == 200
    drain(client)
    stand_in.wait_for(lambda: len(stand_in.sent) == 1, "the bot's reply")
    campaign = sent_campaign(client, STAFF, "dingtalk")
    assert client.portal is not None
    [_reply, outboxed] = client.portal.call(services(client).outbox.messages, "dingtalk")
    assert outboxed.sent_at is not None
    # The message went out 24 hours and a minute ago, as far as the hub's database knows.
    earlier = outboxed.sent_at - timedelta(hours=24, minutes=1)
    with_age = "UPDATE outbox_messages SET sent_at = ? WHERE id = ?"
    query_hub_db(tmp_path, with_age, (earlier.replace(tzinfo=None).isoformat(" "), outboxed.id))
    stand_in.dingtalk_read["pqk+2/="] = int(time.time() * 1000)
    job = read_job(client)
    assert client.portal.call(job.run) == 0
    assert stand_in.read_questions == []
    assert only_recipient(client, campaign)[:2] == ("sent", "sent")
    followed = query_hub_db(tmp_path, "SELECT follow_reads FROM outbox_messages ORDER BY id")
    assert [row["follow_reads"] for row in followed] == [0, 0]


def group_campaign(client: TestClient, stand_in: AppStandIn) -> int:
    """A member of ``GROUP`` mentioned the robot (the bot's reply is the first send); a campaign
    then reached the group, the second send: its id."""
    mention = dingtalk.callback(
        "msg-g1", "有什么新品", conversationType="2", conversationId=GROUP, isInAtList=True
    )
    assert dingtalk.post(client, mention).status_code == 200
    drain(client)
    stand_in.wait_for(lambda: len(stand_in.sent) == 1, "the bot's reply in the group")
    return sent_campaign(client, GROUP_CONTACT, "dingtalk")


def group_question(page_start: int = 0) -> dict[str, Any]:
    """The hub's ``groupMessages/query`` for the group's campaign message, at one page."""
    asked: dict[str, Any] = {
        "openConversationId": GROUP,
        "robotCode": dingtalk.APP_KEY,
        "processQueryKey": "pqk+2/=",
        "maxResults": 200,
    }
    if page_start:
        asked["nextToken"] = dingtalk_page_token("pqk+2/=", page_start)
    return asked


def test_a_dingtalk_group_campaign_message_is_read_once_any_member_read_it(
    dingtalk_hub: TestClient, stand_in: AppStandIn
) -> None:
    client = dingtalk_hub
    hub, portal = services(client), client.portal
    assert portal is not None
    # 450 members: DingTalk's answer comes in three pages of at most 200.
    stand_in.dingtalk_members[GROUP] = [f"member-{n}" for n in range(1, 451)]
    campaign = group_campaign(client, stand_in)
    [reply, outboxed] = portal.call(hub.outbox.messages, "dingtalk")
    # Each group send keeps its processQueryKey; the recipient says it is a group's.
    assert (reply.recipient, reply.receipt) == (GROUP_CONTACT, "pqk+1/=")
    assert (outboxed.recipient, outboxed.receipt) == (GROUP_CONTACT, "pqk+2/=")
    job = read_job(client)

    # Nobody read it: every page asked, about the campaign message only, and none the
    # one-to-one read-status API (which does not know a group's keys).
    assert portal.call(job.run) == 0
    pages = [group_question(), group_question(200), group_question(400)]
    assert stand_in.read_questions == pages
    assert only_recipient(client, campaign)[:2] == ("sent", "sent")

    # A member on the last page read it: read at the question that found them.
    stand_in.dingtalk_group_read["pqk+2/="] = {"member-420"}
    before = utcnow()
    assert portal.call(job.run) == 1
    status, delivery, read_at = only_recipient(client, campaign)
    assert (status, delivery) == ("sent", "read")
    assert read_at is not None
    assert before <= read_at <= utcnow()
    assert stand_in.read_questions == pages * 2
    found = report(client, campaign)
    assert (found.delivery, found.statuses) == (deliveries(read=1), {"sent": 1})

    # Read: never asked about again, however many more members read it.
    stand_in.dingtalk_group_read["pqk+2/="] |= {"member-1", "member-2"}
    assert portal.call(job.run) == 0
    assert stand_in.read_questions == pages * 2
    # News naming the message again (replayed), or a key that is not ours, or the key on
    # another app, changes nothing.
    reads = AppReads(hub.outbox, hub.campaigns)
    later = utcnow() + timedelta(minutes=5)
    assert portal.call(reads.read, "dingtalk", ["pqk+2/="], later) == 0
    assert portal.call(reads.read, "dingtalk", ["pqk-not-ours"], later) == 0
    assert portal.call(reads.read, "feishu", ["pqk+2/="], later) == 0
    assert only_recipient(client, campaign) == ("sent", "read", read_at)
    assert [m.read_at for m in portal.call(hub.outbox.messages, "dingtalk")] == [None, read_at]


@pytest.mark.parametrize(
    ("trouble", "answer"),
    [
        (
            "not_ready",
            "DingTalk's read status answered HTTP 400: processQueryKey.expireTime "
            "processQueryKey还未生成消息查询数据或已过期",
        ),
        ("down", "DingTalk's API answered HTTP 503"),
    ],
    ids=["not-ready", "down"],
)
def test_a_dingtalk_group_read_error_is_logged_and_the_message_asked_again(
    dingtalk_hub: TestClient,
    stand_in: AppStandIn,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    trouble: str,
    answer: str,
) -> None:
    """DingTalk answers an error (the key's read data not ready yet, or its API down) though a
    member read the message: the run logs DingTalk's own words, nothing is marked, and the
    message stays followed until a later question gets the answer."""
    client = dingtalk_hub
    assert client.portal is not None
    campaign = group_campaign(client, stand_in)
    stand_in.dingtalk_group_read["pqk+2/="] = {"member-2"}
    if trouble == "not_ready":
        stand_in.dingtalk_not_ready.add("pqk+2/=")
    else:
        stand_in.fail_reads = 1
    job = read_job(client)
    with caplog.at_level("WARNING", logger="bot.app._marketing"):
        assert client.portal.call(job.run) == 0
    assert [r.getMessage() for r in caplog.records if r.name == "bot.app._marketing"] == [
        f"1 of 1 dingtalk read-status questions got no answer; the last: {answer}"
    ]
    assert only_recipient(client, campaign)[:2] == ("sent", "sent")
    rows = query_hub_db(tmp_path, "SELECT read_at, follow_reads FROM outbox_messages ORDER BY id")
    assert [tuple(row) for row in rows] == [(None, 0), (None, 1)]

    stand_in.dingtalk_not_ready.clear()
    assert client.portal.call(job.run) == 1
    assert only_recipient(client, campaign)[:2] == ("sent", "read")
    assert stand_in.read_questions == [group_question(), group_question()]


async def test_the_outbox_tells_a_queued_campaign_message_it_was_read(tmp_path: Path) -> None:
    """Read before its campaign heard it was sent (the read event's own news was lost with a
    stopped hub): the outbox's news says read, with the app's time."""
    database = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    await database.migrate()
    try:
        outbox = Outbox(database)
        for number in (7, 8):
            queued = await outbox.enqueue("feishu", "oc_1", {}, source_id=f"message:{number}")
            assert queued is not None

            async def send(recipient: str, body: dict[str, Any], n: int = number) -> str:
                return f"om_{n}"

            await outbox.deliver(queued, {"feishu": send})
        at = utcnow().replace(microsecond=0)
        await outbox.mark_read("feishu", ["om_7"], at)
        [unread] = [m for m in await outbox.messages("feishu") if m.read_at is None]
        keys = ["outbox:feishu:message:7", "outbox:feishu:message:8", "outbox:feishu:message:9"]
        news = await outbox_deliveries(outbox)(keys)
        assert sorted(news, key=lambda n: n.key) == [
            DeliveryNews("outbox:feishu:message:7", "read", at),
            DeliveryNews("outbox:feishu:message:8", "sent", unread.sent_at),
        ]
    finally:
        database.dispose()


# ---- an app that is off ---------------------------------------------------------------------


async def test_a_message_left_queued_for_an_app_now_off_fails_unless_the_outbox_holds_it(
    tmp_path: Path,
) -> None:
    """Posted for Feishu while no connector queued it (before the send-time check, or as the
    app was turned off): its news is the failure with what turns the app on. One the outbox
    holds waits for the app to come back; another app's messages are not touched."""
    database = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    await database.migrate()
    try:
        outbox = Outbox(database)
        assert await outbox.enqueue("feishu", "oc_1", {}, source_id="message:1") is not None
        off = {"feishu": "the feishu channel is off: set …"}
        keys = ["outbox:feishu:message:1", "outbox:feishu:message:2", "outbox:slack:message:3"]
        news = await outbox_deliveries(outbox, off)(keys)
        assert news == [DeliveryNews("outbox:feishu:message:2", "failed", reason=off["feishu"])]
        assert await outbox_deliveries(outbox)(keys) == []  # the app on: no news yet
    finally:
        database.dispose()


def test_a_campaign_message_for_an_app_that_is_off_fails_at_once_and_frees_the_caps(
    tmp_path: Path, stand_in: AppStandIn
) -> None:
    """The customer wrote on Feishu while the channel was on; the hub now runs without it."""
    on = hub_settings(tmp_path, stand_in, **FEISHU, feishu_api_url=stand_in.url)
    with TestClient(create_app(on)) as client:
        assert feishu.post(client, feishu.message_event("ev-1", "om_1", "你好")).status_code == 200
        drain(client)
        stand_in.wait_for(lambda: len(stand_in.sent) == 1, "the bot's reply")
    with TestClient(create_app(hub_settings(tmp_path, stand_in))) as client:
        hub, portal = services(client), client.portal
        assert portal is not None
        conversation = portal.call(hub.conversations.find, "feishu", feishu.CHAT)
        assert conversation is not None
        portal.call(hub.marketing.upsert_contact, Contact(feishu.CHAT, "feishu", "zh"))
        key = privacy_key(feishu.CHAT, "feishu")
        portal.call(hub.consents.grant, key, "marketing", "feishu")
        variant = approved_copy(client)
        draft = CampaignDraft("spring", "true", {"main": [variant.id]})
        campaign = portal.call(hub.campaigns.create, draft).id
        assert portal.call(hub.campaigns.run_due).outcomes == {"failed": 1}
        [failed] = report(client, campaign).recipients
        assert (failed.status, failed.delivery, failed.reason) == (
            "failed",
            None,
            "delivery: the feishu channel is off: set BOT_FEISHU_APP_ID, BOT_FEISHU_APP_SECRET, "
            "BOT_FEISHU_VERIFICATION_TOKEN and BOT_FEISHU_ENCRYPT_KEY to turn it on",
        )
        assert portal.call(hub.marketing.sends, feishu.CHAT) == []  # nothing counts on the caps
        history = portal.call(hub.conversations.history, conversation)
        assert [m.author for m in history] == ["customer", "bot"]  # nothing posted for nobody
        assert len(portal.call(hub.outbox.messages, "feishu")) == 1  # the bot's reply alone
    assert len(stand_in.sent) == 1


def test_each_app_is_off_until_one_of_its_settings_is_given(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, var_dir=tmp_path)  # type: ignore[call-arg]
    off = apps_off(settings)
    assert set(off) == set(APP_SETTINGS)
    assert off["dingtalk"] == (
        "the dingtalk channel is off: set BOT_DINGTALK_APP_KEY, BOT_DINGTALK_APP_SECRET and "
        "BOT_DINGTALK_ROBOT_CODE to turn it on"
    )
    assert off["slack"] == (
        "the slack channel is off: set BOT_SLACK_BOT_TOKEN and BOT_SLACK_SIGNING_SECRET to turn "
        "it on"
    )
    half = Settings(_env_file=None, var_dir=tmp_path, slack_bot_token="xoxb-1")  # type: ignore[call-arg]
    assert "slack" not in apps_off(half)  # half configured: the hub refuses to start instead


# ---- the notes in Chinese -------------------------------------------------------------------


def test_every_delivery_note_has_its_chinese() -> None:
    notes = {*DELIVERY_KNOWN.values(), ACCEPTED_ONLY, TEMPLATE_RECEIPTS}
    assert set(DELIVERY_KNOWN_IN_CHINESE) == notes
    for note in notes:
        chinese = DELIVERY_KNOWN_IN_CHINESE[note]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese), chinese
    known = {"feishu": DELIVERY_KNOWN["feishu"], "fax": "sent = printed"}
    assert delivery_known_zh(known) == {
        "feishu": DELIVERY_KNOWN_IN_CHINESE[DELIVERY_KNOWN["feishu"]],
        "fax": "sent = printed",  # a note with no translation stays as it is
    }
