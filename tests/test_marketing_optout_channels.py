"""Opting out of marketing by message on every channel besides REST and Telegram (those are in
tests/test_marketing_api.py and tests/test_marketing_campaigns_hub.py), through the hub as wired
(real app, real SQLite; a local server stands in for each app's API and for Rasa, which echoes).

For each channel: an administrator records the customer's marketing opt-in on that channel
(the admin privacy API); the customer asks a question that merely contains an opt-out word,
which revokes nothing; then sends the opt-out word of their language as the whole message. The
consent is revoked at once (read back through the privacy module), the confirmation reaches the
customer through the channel's own outbound path in their language, the message still reaches
the dialogue, and the app delivering the same message again (same message id) confirms nothing
twice. Deliveries are posted as each app's connector expects them, signed or encrypted with the
app SDK's own crypto (the helpers of tests/test_channels_<app>.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.app import HubServices, Settings, create_app
from bot.language import Language
from bot.marketing import OPT_OUT_CONFIRMATION
from tests import test_channels_dingtalk as dingtalk
from tests import test_channels_feishu as feishu
from tests import test_channels_slack as slack
from tests import test_channels_wechat as wechat
from tests import test_channels_wecom as wecom
from tests.app_standin import AppStandIn, app_settings_env, drain
from tests.live_hub import hub_settings, serving
from tests.test_webchat_channel import WAIT_S, Hub, Widget
from tests.test_webchat_identity import SECRET as IDENTITY_SECRET
from tests.test_webchat_identity import ShopWidget, auth

ADMIN_TOKEN = "z" * 32
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
OPT_IN = {"purpose": "marketing", "granted": True}
# Questions about unsubscribing, not requests: the dialogue answers them.
QUESTIONS: dict[Language, str] = {
    "zh": "请问怎么退订邮件？",
    "en": "how do I unsubscribe from emails?",
}


# ---- the messaging apps ---------------------------------------------------------------------


@dataclass(frozen=True)
class AppCustomer:
    """A customer on one messaging app, and how that app speaks to the hub about them."""

    channel: str
    sender: str  # whom the app's connector names as the conversation's sender
    language: Language
    opt_out: str
    ack: str  # the webhook's answer to a delivery it accepted
    delivery: Callable[[str, int], Any]  # the app's delivery of text message number n
    post: Callable[[TestClient, Any, int], Any]  # (hub, delivery, retry number): the response
    sent: Callable[[str], dict[str, Any]]  # what the app's API gets for a text to the customer


def post_slack(client: TestClient, envelope: dict[str, Any], retry: int) -> Any:
    """An Events API request; a retry carries Slack's ``X-Slack-Retry-*`` headers and the same
    event id, as Slack sends it when the first answer was late."""
    body = json.dumps(envelope).encode()
    headers = {"content-type": "application/json", **slack.signed(body)}
    if retry:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return client.post("/channels/slack/events", content=body, headers=headers)


# WeChat's customer-service messages may go out within 48 hours of the customer's last message:
# the opt-out is that message, so the free-form confirmation is always inside the window. The
# other apps have no such window for a bot writing to a customer who wrote to it.
APP_CUSTOMERS = [
    AppCustomer(
        channel="wechat",
        sender=wechat.OPENID,
        language="zh",
        opt_out="退订",
        ack="success",
        delivery=lambda text, n: wechat.text_xml(text, 6000 + n),
        # WeChat signs every retry afresh (timestamp, nonce); the XML and its MsgId are the same.
        post=lambda client, xml, _retry: wechat.signed_post(client, xml),
        sent=lambda text: {"touser": wechat.OPENID, "msgtype": "text", "text": {"content": text}},
    ),
    AppCustomer(
        channel="wecom",
        sender=wecom.USER,
        language="zh",
        opt_out="退订",
        ack="",
        delivery=lambda text, n: wecom.text_xml(text, 7000 + n),
        post=lambda client, xml, _retry: wecom.post(client, xml),
        sent=lambda text: {
            "touser": wecom.USER,
            "agentid": int(wecom.AGENT_ID),
            "msgtype": "text",
            "text": {"content": text},
        },
    ),
    AppCustomer(
        channel="dingtalk",
        sender=f"user:{dingtalk.STAFF}",
        language="zh",
        opt_out="退订",
        ack="{}",
        delivery=lambda text, n: dingtalk.callback(f"msg-{n}", text),
        post=lambda client, body, _retry: dingtalk.post(client, body),
        sent=lambda text: {
            "path": "/v1.0/robot/oToMessages/batchSend",
            "robotCode": dingtalk.APP_KEY,
            "userIds": [dingtalk.STAFF],
            "msgKey": "sampleText",
            "msgParam": {"content": text},
        },
    ),
    AppCustomer(
        channel="feishu",
        sender=feishu.CHAT,
        language="zh",
        opt_out="退订",
        ack="{}",
        # A redelivered event keeps its event id and its message's id.
        delivery=lambda text, n: feishu.message_event(f"ev-{n}", f"om_{n}", text),
        post=lambda client, event, _retry: feishu.post(client, event),
        sent=lambda text: {
            "receive_id": feishu.CHAT,
            "msg_type": "interactive",
            "content": {
                "elements": [{"tag": "div", "text": {"tag": "plain_text", "content": text}}]
            },
        },
    ),
    AppCustomer(
        channel="slack",
        sender=slack.DM,
        language="en",
        opt_out="STOP",
        ack="",
        delivery=lambda text, n: slack.event(f"Ev{n}", text, ts=f"1355517523.00000{n}"),
        post=post_slack,
        sent=lambda text: {
            "method": "chat.postMessage",
            "channel": slack.DM,
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "plain_text", "text": text}}],
        },
    ),
]


def app_hub(var_dir: Path, stand_in: AppStandIn, channel: str) -> Settings:
    """The hub with ``channel`` on (the credentials the channel tests sign with, its API and Rasa
    stood in for by ``stand_in``) and the admin token."""
    prefix = f"BOT_{channel.upper()}_"
    app: dict[str, Any] = {
        name.removeprefix("BOT_").lower(): value
        for name, value in app_settings_env(stand_in.url).items()
        if name.startswith(prefix)
    }
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=var_dir,
        rasa_port=stand_in.port,
        actions_port=stand_in.port,
        admin_token=ADMIN_TOKEN,
        outbox_retry_s=3600.0,  # nothing is retried behind the test's back
        **app,
    )


def services(client: TestClient) -> HubServices:
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    return hub


def consent_records(consents: dict[str, Any], which: str) -> list[tuple[Any, ...]]:
    """The admin API's ``current`` or ``history`` consents, without their times."""
    return [
        (c["customer_id"], c["purpose"], c["channel"], c["granted"], c["actor_kind"])
        for c in consents[which]
    ]


def in_any_order(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sends sorted: the confirmation is sent as the customer's message is handled, the
    dialogue's reply after it, and neither order is the contract."""
    return sorted(bodies, key=lambda body: json.dumps(body, sort_keys=True, ensure_ascii=False))


@pytest.mark.parametrize("customer", APP_CUSTOMERS, ids=lambda customer: customer.channel)
def test_an_app_customer_opts_out_by_message_at_once_and_is_told_once(
    tmp_path: Path, stand_in: AppStandIn, customer: AppCustomer
) -> None:
    channel, language = customer.channel, customer.language
    question, confirmation = QUESTIONS[language], OPT_OUT_CONFIRMATION[language]
    with TestClient(create_app(app_hub(tmp_path, stand_in, channel))) as client:
        assert client.portal is not None
        consents = f"/admin/privacy/customers/{channel}/{customer.sender}/consents"
        opted_in = client.post(consents, json=OPT_IN, headers=ADMIN)
        assert opted_in.status_code == 201, opted_in.text
        key = opted_in.json()["customer_id"]  # the privacy module's name of the app customer
        assert key == f"{channel}:{customer.sender}"

        response = customer.post(client, customer.delivery(question, 1), 0)
        assert (response.status_code, response.text) == (200, customer.ack)
        drain(client)
        assert client.portal.call(services(client).consents.allows, key, "marketing", channel)
        assert [s.body for s in stand_in.sent] == [customer.sent(f"echo: {question}")]

        opt_out = customer.delivery(customer.opt_out, 2)
        response = customer.post(client, opt_out, 0)
        assert (response.status_code, response.text) == (200, customer.ack)
        drain(client)
        assert not client.portal.call(services(client).consents.allows, key, "marketing", channel)
        told = [
            customer.sent(f"echo: {question}"),
            customer.sent(f"echo: {customer.opt_out}"),
            customer.sent(confirmation),
        ]
        assert in_any_order([s.body for s in stand_in.sent]) == in_any_order(told)

        for retry in (1, 2):  # the app delivers the same message again
            response = customer.post(client, opt_out, retry)
            assert (response.status_code, response.text) == (200, customer.ack)
        drain(client)
        assert in_any_order([s.body for s in stand_in.sent]) == in_any_order(told)
        assert [seen["message"] for seen in stand_in.rasa_seen] == [question, customer.opt_out]
        read = client.get(consents, headers=ADMIN)
        assert read.status_code == 200, read.text
        assert consent_records(read.json(), "current") == [
            (key, "marketing", channel, False, "customer")
        ]
        assert consent_records(read.json(), "history") == [
            (key, "marketing", channel, True, "admin"),
            (key, "marketing", channel, False, "customer"),
        ]
        conversations = services(client).conversations
        conversation = client.portal.call(conversations.find, channel, customer.sender)
        assert conversation is not None
        history = client.portal.call(conversations.history, conversation)
        assert [(m.direction, m.author, m.text, m.language) for m in history] == [
            ("in", "customer", question, language),
            ("out", "bot", f"echo: {question}", language),
            ("in", "customer", customer.opt_out, language),
            ("out", "bot", f"echo: {customer.opt_out}", language),
            ("out", "system", confirmation, language),
        ]


# ---- web chat -------------------------------------------------------------------------------

SHOPPER = "shopper-7"  # the shop's id of its logged-in customer, vouched for with the HMAC


@pytest.mark.parametrize(("opt_out", "language"), [("退订", "zh"), ("unsubscribe", "en")])
async def test_a_web_chat_customer_opts_out_by_message_at_once_and_is_told_once(
    tmp_path: Path, stand_in: AppStandIn, opt_out: str, language: Language
) -> None:
    """Over socket.io against the hub served by uvicorn. Only an identified customer (the shop's
    HMAC of their id) can hold a marketing consent on web chat, so this one is."""
    settings = hub_settings(
        tmp_path,
        rasa_port=stand_in.port,
        actions_port=stand_in.port,
        admin_token=ADMIN_TOKEN,
        webchat_identity_secret=IDENTITY_SECRET,
    )
    question, confirmation = QUESTIONS[language], OPT_OUT_CONFIRMATION[language]
    custom: dict[str, str] = {"language": language}
    async with serving(settings) as hub, httpx.AsyncClient(base_url=hub.url) as admin:
        consents = f"/admin/privacy/customers/webchat/customer:{SHOPPER}/consents"
        opted_in = await admin.post(consents, json=OPT_IN, headers=ADMIN)
        assert opted_in.status_code == 201, opted_in.text
        assert opted_in.json()["customer_id"] == SHOPPER
        allows = hub.services.consents.allows
        widget = ShopWidget(hub.url, auth(SHOPPER))
        try:
            session_id = await widget.start(last_message_id=0)
            assert await widget.next("identity") == {"verified": True, "customer_id": SHOPPER}
            # An ack comes once the hub has handled the message, its listeners included.
            ack = await widget.say(question, session_id, client_message_id="m-1", customData=custom)
            assert ack["ok"] is True, ack
            assert await allows(SHOPPER, "marketing", "webchat")
            ack = await widget.say(opt_out, session_id, client_message_id="m-2", customData=custom)
            assert ack["ok"] is True, ack
            assert not await allows(SHOPPER, "marketing", "webchat")

            history = await hub.services.conversations.history(ack["conversation_id"])
            assert [(m.direction, m.author, m.text, m.language) for m in history] == [
                ("in", "customer", question, language),
                ("out", "bot", f"echo: {question}", language),
                ("in", "customer", opt_out, language),
                ("out", "bot", f"echo: {opt_out}", language),
                ("out", "system", confirmation, language),
            ]
            stored = history[-1]
            await widget.next("bot_uttered", count=3)
            uttered = widget.of("bot_uttered")
            assert sorted(u["message_id"] for u in uttered) == [
                m.id for m in history if m.direction == "out"
            ]
            assert next(u for u in uttered if u["message_id"] == stored.id) == {
                "text": confirmation,
                "message_id": stored.id,
                "author": "system",
                "created_at": stored.created_at.isoformat(),
            }
            await _come_back_later(hub, widget, session_id, custom)
        finally:
            await widget.client.disconnect()
        assert [seen["message"] for seen in stand_in.rasa_seen] == [question, opt_out, "thanks"]
        read = await admin.get(consents, headers=ADMIN)
        assert read.status_code == 200, read.text
        assert consent_records(read.json(), "current") == [
            (SHOPPER, "marketing", "webchat", False, "customer")
        ]
        assert consent_records(read.json(), "history") == [
            (SHOPPER, "marketing", "webchat", True, "admin"),
            (SHOPPER, "marketing", "webchat", False, "customer"),
        ]


async def _come_back_later(
    hub: Hub, widget: ShopWidget, session_id: str, custom: dict[str, str]
) -> None:
    """Web chat has no delivery that its transport retries: socket.io hands a customer's message
    to the hub at most once, and neither our widget nor rasa-webchat sends one again. What web
    chat does deliver again is what a session's sockets missed, when the session comes back:
    the confirmation reached the widget, so a new socket of the session does not get it again,
    and the next thing it hears is the reply to its next message."""
    await widget.client.disconnect()
    await hub.session_gone(session_id)
    back = ShopWidget(hub.url, auth(SHOPPER))
    handled = hub.session_requests_handled()
    try:
        assert await back.start(session_id=session_id) == session_id
        async with asyncio.timeout(WAIT_S):
            await handled.wait()  # what the session missed is sent by now
        ack = await back.say("thanks", session_id, client_message_id="m-3", customData=custom)
        assert ack["ok"] is True, ack
        first = await back.next("bot_uttered")
        assert (first["author"], first["text"]) == ("bot", "echo: thanks")
    finally:
        await back.client.disconnect()


async def test_an_anonymous_session_named_like_a_customer_withdraws_nothing(
    tmp_path: Path, stand_in: AppStandIn
) -> None:
    """A browser chooses its own session id: an anonymous session called "shopper-7" is told it
    gets no marketing, and the real shopper-7's consent stays as it was."""
    settings = hub_settings(
        tmp_path,
        rasa_port=stand_in.port,
        actions_port=stand_in.port,
        admin_token=ADMIN_TOKEN,
        webchat_identity_secret=IDENTITY_SECRET,
    )
    async with serving(settings) as hub, httpx.AsyncClient(base_url=hub.url) as admin:
        consents = f"/admin/privacy/customers/webchat/customer:{SHOPPER}/consents"
        opted_in = await admin.post(consents, json=OPT_IN, headers=ADMIN)
        assert opted_in.status_code == 201, opted_in.text
        widget = Widget(hub.url)
        try:
            session_id = await widget.start(session_id=SHOPPER)
            assert session_id == SHOPPER
            ack = await widget.say("STOP", session_id, customData={"language": "en"})
            assert ack["ok"] is True, ack
            history = await hub.services.conversations.history(ack["conversation_id"])
            assert [(m.author, m.text) for m in history][-1] == (
                "system",
                OPT_OUT_CONFIRMATION["en"],
            )
        finally:
            await widget.client.disconnect()
        assert await hub.services.consents.allows(SHOPPER, "marketing", "webchat")
