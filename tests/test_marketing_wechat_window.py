"""WeChat's 48-hour rule for campaign messages, through the hub as wired (real app, real SQLite):
the customer writes through the WeChat webhook (encrypted and signed with wechatpy's crypto), a
local server stands in for WeChat's API and Rasa. A campaign run more than 48 hours after the
customer's last message skips them (``outside_48h_window``, and the caps stay free); within
the window the message goes out through the customer-service API. With
``BOT_WECHAT_CAMPAIGN_TEMPLATE_ID`` set, a follower past the window gets the shop's template
message instead, and WeChat's refusals are failed deliveries with WeChat's reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.app._apps import reach_outside_windows
from bot.app._container import HubServices
from bot.app._marketing import ConversationCourier
from bot.marketing import CampaignDraft, Campaigns, Contact, CopyBrief, Variant, privacy_key
from bot.storage import utcnow
from tests.app_standin import AppStandIn, drain
from tests.test_channels_wechat import OPENID, settings_for, signed_post, text_xml

TEMPLATE = "tmpl-Campaign_01"  # the template the shop registered in the back office
SHOP_PAGE = "https://shop.example/sale"


@pytest.fixture
def client(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    settings = settings_for(tmp_path, stand_in, marketing_quiet_hours="00:00-00:00")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def template_client(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    """The hub with a campaign template; the stand-in's account has it, caps allow five a day."""
    stand_in.templates.add(TEMPLATE)
    settings = settings_for(
        tmp_path,
        stand_in,
        marketing_quiet_hours="00:00-00:00",
        marketing_max_per_day=5,
        marketing_max_per_week=5,
        wechat_campaign_template_id=TEMPLATE,
        wechat_campaign_template_field="keyword1",
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def campaigns_at(hub: HubServices, clock: list[datetime], apps: object = None) -> Campaigns:
    """The hub's campaigns as wired (the conversation courier and its last-message lookup, and
    with ``apps`` the template courier of its settings), on a clock the test moves."""
    courier = ConversationCourier(hub.conversations)
    campaigns = Campaigns(
        hub.database,
        hub.marketing,
        {},
        hub.campaigns.links,  # the hub's own signer: its /m/c/ route follows these links
        default_courier=courier,
        last_inbound=courier.last_inbound,
        clock=lambda: clock[0],
    )
    if apps is not None:
        reach_outside_windows(hub.settings, apps, campaigns)  # type: ignore[arg-type]
    return campaigns


def customer_wrote(client: TestClient, stand_in: AppStandIn) -> datetime:
    """The follower writes once (the bot answers) and opts in to marketing on WeChat."""
    wrote = utcnow()
    assert signed_post(client, text_xml("你好", 7001)).status_code == 200
    drain(client)
    stand_in.wait_for(lambda: len(stand_in.sent) == 1, "the bot's reply")
    consented(client)
    return wrote


def consented(client: TestClient, grant: bool = True) -> None:
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    client.portal.call(hub.marketing.upsert_contact, Contact(OPENID, "wechat", "zh"))  # type: ignore[union-attr]
    if grant:
        client.portal.call(hub.consents.grant, privacy_key(OPENID, "wechat"), "marketing", "wechat")  # type: ignore[union-attr]


def approved_copy(client: TestClient) -> Variant:
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    brief = CopyBrief(("EL-005",), discounts=(20.0,), claims=("limited_time",), channel="webchat")
    portal = client.portal
    assert portal is not None
    [variant] = portal.call(hub.copy_desk.draft, "window", brief, "zh", 1)
    portal.call(hub.copy_desk.review, variant.id, "approve", "editor")
    return variant


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
    portal.call(hub.consents.grant, privacy_key(OPENID, "wechat"), "marketing", "wechat")
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


def test_followers_past_the_window_get_the_template_message(
    template_client: TestClient, stand_in: AppStandIn
) -> None:
    client = template_client
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    wrote = customer_wrote(client, stand_in)
    variant = approved_copy(client)
    clock = [wrote + timedelta(hours=47)]
    campaigns = campaigns_at(hub, clock, client.app.state.apps)  # type: ignore[attr-defined]

    # Within the window the customer-service message goes out, as without a template.
    soon = portal.call(
        campaigns.create,
        CampaignDraft("soon", "true", {"main": [variant.id]}, starts_at=clock[0]),
    )
    assert portal.call(campaigns.run_due).outcomes == {"sent": 1}
    drain(client)
    stand_in.wait_for(lambda: len(stand_in.sent) == 2, "the customer-service message")
    assert stand_in.sent[1].body["msgtype"] == "text"
    [reached] = portal.call(campaigns.report, soon.id).recipients
    assert (reached.status, reached.reason) == ("sent", None)

    # Past it, the template message: the copy in the shop's field, the tracked link as url.
    clock[0] = wrote + timedelta(hours=49)
    late = portal.call(
        campaigns.create,
        CampaignDraft("late", "true", {"main": [variant.id]}, url=SHOP_PAGE, starts_at=clock[0]),
    )
    assert portal.call(campaigns.run_due).outcomes == {"sent": 1}
    assert len(stand_in.sent) == 3
    body = stand_in.sent[2].body
    link = body.pop("url")
    assert body == {
        "touser": OPENID,
        "template_id": TEMPLATE,
        "data": {"keyword1": {"value": variant.text}},
    }
    report = portal.call(campaigns.report, late.id)
    [reached] = report.recipients
    assert (reached.status, reached.reason) == (
        "sent",
        "template_message: outside_48h_window",
    )
    assert report.reasons == {"template_message": 1}
    assert len(portal.call(hub.marketing.sends, OPENID)) == 2  # both count toward the caps

    # The link is the hub's tracked link: the click is counted and lands on the shop's page.
    followed = client.get(urlsplit(link).path, follow_redirects=False)
    assert followed.status_code == 302
    assert followed.headers["location"].startswith(f"{SHOP_PAGE}?campaign_click=")
    assert portal.call(campaigns.report, late.id).unique_clicks == 1


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        (
            {"refused": 43004},
            "delivery: WeChat template message: the customer no longer follows the account (43004)",
        ),
        (
            {"template": "tmpl-someone-else"},
            "delivery: WeChat template message: WeChat does not know the template id (40037); "
            "check BOT_WECHAT_CAMPAIGN_TEMPLATE_ID against the templates of the account's back "
            "office",
        ),
    ],
)
def test_wechat_refusing_a_template_message_fails_the_delivery(
    template_client: TestClient, stand_in: AppStandIn, account: dict[str, object], reason: str
) -> None:
    client = template_client
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    wrote = customer_wrote(client, stand_in)
    if "refused" in account:
        stand_in.refused[OPENID] = int(str(account["refused"]))
    else:
        stand_in.templates.clear()  # the shop's template was deleted in the back office
        stand_in.templates.add(str(account["template"]))
    variant = approved_copy(client)
    clock = [wrote + timedelta(hours=72)]
    campaigns = campaigns_at(hub, clock, client.app.state.apps)  # type: ignore[attr-defined]
    campaign = portal.call(
        campaigns.create,
        CampaignDraft("refused", "true", {"main": [variant.id]}, starts_at=clock[0]),
    )

    assert portal.call(campaigns.run_due).outcomes == {"failed": 1}
    [failed] = portal.call(campaigns.report, campaign.id).recipients
    assert (failed.status, failed.reason) == ("failed", reason)
    assert portal.call(hub.marketing.sends, OPENID) == []  # nothing went out: the caps stay free
    assert len(stand_in.sent) == 1  # the bot's reply only


def test_template_messages_keep_every_rule_of_the_send_gate(
    template_client: TestClient, stand_in: AppStandIn
) -> None:
    """No consent: skipped before WeChat is asked; the hub as wired sends to a consented
    follower who never wrote (an openid from the shop's CRM) by template."""
    client = template_client
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    consented(client, grant=False)
    variant = approved_copy(client)
    first = portal.call(
        hub.campaigns.create, CampaignDraft("no-consent", "true", {"main": [variant.id]})
    )
    assert portal.call(hub.campaigns.run_due).outcomes == {"skipped": 1}
    [skipped] = portal.call(hub.campaigns.report, first.id).recipients
    assert (skipped.status, skipped.reason) == ("skipped", "no_consent")
    assert stand_in.sent == []

    portal.call(hub.consents.grant, privacy_key(OPENID, "wechat"), "marketing", "wechat")
    second = portal.call(
        hub.campaigns.create, CampaignDraft("consented", "true", {"main": [variant.id]})
    )
    assert portal.call(hub.campaigns.run_due).outcomes == {"sent": 1}
    assert [(s.body["touser"], s.body["template_id"]) for s in stand_in.sent] == [
        (OPENID, TEMPLATE)
    ]
    [reached] = portal.call(hub.campaigns.report, second.id).recipients
    assert reached.reason == "template_message: outside_48h_window"


def test_without_a_template_the_hub_skips_followers_past_the_window(
    client: TestClient, stand_in: AppStandIn
) -> None:
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None
    consented(client)
    variant = approved_copy(client)
    campaign = portal.call(
        hub.campaigns.create, CampaignDraft("no-template", "true", {"main": [variant.id]})
    )
    assert portal.call(hub.campaigns.run_due).outcomes == {"skipped": 1}
    [skipped] = portal.call(hub.campaigns.report, campaign.id).recipients
    assert (skipped.status, skipped.reason) == ("skipped", "outside_48h_window")
    assert stand_in.sent == []
