"""WeChat's 48-hour rule for campaign messages, through the hub as wired (real app, real SQLite):
the customer writes through the WeChat webhook (encrypted and signed with wechatpy's crypto), a
local server stands in for WeChat's API and Rasa. A campaign run more than 48 hours after the
customer's last message skips them (``outside_48h_window``, and the caps stay free); within
the window the message goes out through the customer-service API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.app._container import HubServices
from bot.app._marketing import ConversationCourier
from bot.marketing import CampaignDraft, Campaigns, Contact, CopyBrief, LinkSigner
from bot.storage import utcnow
from tests.app_standin import AppStandIn, running
from tests.test_channels_wechat import OPENID, drain, settings_for, signed_post, text_xml


@pytest.fixture
def stand_in() -> Iterator[AppStandIn]:
    with running(AppStandIn()) as server:
        yield server


@pytest.fixture
def client(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    settings = settings_for(tmp_path, stand_in, marketing_quiet_hours="00:00-00:00")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def campaigns_at(hub: HubServices, clock: list[datetime]) -> Campaigns:
    """The hub's campaigns as wired (the conversation courier and its last-message lookup),
    on a clock the test moves."""
    courier = ConversationCourier(hub.conversations)
    return Campaigns(
        hub.database,
        hub.marketing,
        {},
        LinkSigner("w" * 32, "https://hub.example"),
        default_courier=courier,
        last_inbound=courier.last_inbound,
        clock=lambda: clock[0],
    )


def test_wechat_campaign_messages_keep_to_the_48_hour_window(
    client: TestClient, stand_in: AppStandIn
) -> None:
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    wrote = utcnow()
    assert signed_post(client, text_xml("你好", 7001)).status_code == 200
    drain(client)
    stand_in.wait_for(lambda: len(stand_in.sent) == 1, "the bot's reply")
    portal.call(hub.marketing.upsert_contact, Contact(OPENID, "wechat", "zh"))
    portal.call(hub.consents.grant, OPENID, "marketing", "wechat")
    brief = CopyBrief(("EL-005",), discounts=(20.0,), claims=("limited_time",), channel="webchat")
    [variant] = portal.call(hub.copy_desk.draft, "window", brief, "zh", 1)
    portal.call(hub.copy_desk.review, variant.id, "approve", "editor")
    clock = [wrote + timedelta(hours=49)]
    campaigns = campaigns_at(hub, clock)
    late = portal.call(
        campaigns.create,
        CampaignDraft("late", "true", {"main": [variant.id]}, starts_at=clock[0]),
    )

    assert portal.call(campaigns.run_due).outcomes == {"skipped": 1}
    [skipped] = portal.call(campaigns.report, late.id).recipients
    assert (skipped.status, skipped.reason) == ("skipped", "outside_48h_window")
    assert portal.call(hub.marketing.sends, OPENID) == []  # nothing went out: nothing counted
    assert len(stand_in.sent) == 1

    # Within the window (47 hours after the customer's message) it goes out through WeChat.
    clock[0] = wrote + timedelta(hours=47)
    soon = portal.call(
        campaigns.create,
        CampaignDraft("soon", "true", {"main": [variant.id]}, starts_at=clock[0]),
    )
    assert portal.call(campaigns.run_due).outcomes == {"sent": 1}
    drain(client)
    stand_in.wait_for(lambda: len(stand_in.sent) == 2, "the campaign message")
    assert stand_in.sent[1].body == {
        "touser": OPENID,
        "msgtype": "text",
        "text": {"content": variant.text},
    }
    [reached] = portal.call(campaigns.report, soon.id).recipients
    assert (reached.status, reached.reason) == ("sent", None)
