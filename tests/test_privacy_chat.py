"""A customer's privacy requests typed in the chat (issue 14): "导出我的数据" gets a signed,
expiring download link; "删除我的数据" asks first and "确认删除" erases; "订阅" opts in to
marketing. The words alone; the links' tokens; then the real hub (real SQLite) with a local
server standing in for Rasa and Telegram, and with Rasa down."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.app import HubServices, Settings, create_app
from bot.privacy import (
    CHAT_REPLIES,
    ERASE_PROMPT,
    EXPORT_SENT,
    EarlierMessage,
    ExportLinkExpired,
    ExportLinkInvalid,
    ExportLinks,
    Subject,
    chat_request,
    erasure_pending,
)
from bot.storage import utcnow
from tests.app_standin import AppStandIn, drain
from tests.launch import free_port
from tests.test_marketing_campaigns_hub import telegram_says
from tests.test_webchat_channel import Hub as WebchatHub
from tests.test_webchat_channel import Widget, hub, widgets  # noqa: F401 - fixtures

KEY = "k" * 32
API = {"Authorization": f"Bearer {KEY}"}
SECRET = "s" * 32
CUSTOMER = "customer-42"
OTHER = "customer-7"
TELEGRAM_SECRET = "hub_secret-123"
CHAT = 515151


# ---- the words ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("导出我的数据", "export"),
        ("下载我的数据。", "export"),
        ("我的个人数据", "export"),
        ("Export my data", "export"),
        ("download my data!", "export"),
        ("  MY DATA  ", "export"),
        ("删除我的数据", "erase"),
        ("删除我的个人信息！", "erase"),
        ("注销我的数据", "erase"),
        ("Delete my data.", "erase"),
        ("erase my data", "erase"),
        ("Forget me!", "erase"),
        ("确认删除", "confirm_erase"),
        ("ＣＯＮＦＩＲＭ　ＤＥＬＥＴＥ", "confirm_erase"),  # full-width, as some keyboards type
        ("订阅", "opt_in"),
        ("订阅营销", "opt_in"),
        ("Subscribe", "opt_in"),
        ("opt-in", "opt_in"),
    ],
)
def test_a_whole_message_is_a_request(text: str, kind: str) -> None:
    assert chat_request(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "how do I delete my data from the app?",
        "don't delete my order",
        "怎么删除我的个人数据",
        "<script>删除我的数据</script>",
        "退订",
        "STOP",
        "unsubscribe",
        "取消订阅",
        "",
        "data",
    ],
)
def test_a_sentence_that_merely_contains_the_words_is_no_request(text: str) -> None:
    assert chat_request(text) is None


def test_an_erasure_waits_behind_the_hubs_fresh_question_only() -> None:
    now = utcnow()
    asked = EarlierMessage("system", ERASE_PROMPT, now - timedelta(minutes=9))
    assert erasure_pending(asked, now)
    assert not erasure_pending(
        EarlierMessage("system", ERASE_PROMPT, now - timedelta(minutes=11)), now
    )
    assert not erasure_pending(EarlierMessage("customer", None, now), now)
    assert not erasure_pending(EarlierMessage("bot", ERASE_PROMPT, now), now)  # only the hub's
    assert not erasure_pending(None, now)


# ---- the links ---------------------------------------------------------------------------


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> Any:
        return self.now


def test_a_link_opens_its_customers_export_for_15_minutes_only() -> None:
    clock = Clock()
    links = ExportLinks(SECRET, "https://hub.example/", clock=clock)
    subject = Subject("webchat", "3f2a9c0d1e2b4a5f")
    link, expires = links.link(subject)
    assert link.startswith("https://hub.example/privacy/download/")
    assert expires - clock.now <= timedelta(minutes=15)
    token = link.rsplit("/", 1)[1]
    assert links.subject(token) == subject
    # Encrypted, not only signed: the session id (which reopens the chat) is nowhere in it.
    assert b"3f2a9c0d1e2b4a5f" not in base64.urlsafe_b64decode(token + "==")
    # No public address: relative in web chat (the widget resolves it against its hub), on the
    # hub's own address in the apps, where a relative link leads nowhere.
    local = ExportLinks(SECRET, fallback_url="http://127.0.0.1:8000")
    assert local.link(subject)[0].startswith("/privacy/download/")
    telegram = local.link(Subject("telegram", "515151"))[0]
    assert telegram.startswith("http://127.0.0.1:8000/privacy/download/")

    clock.now += timedelta(minutes=15)
    with pytest.raises(ExportLinkExpired, match="expired"):
        links.subject(token)


@pytest.mark.parametrize("change", ["tampered", "foreign", "cut", "garbage"])
def test_a_changed_or_foreign_token_opens_nothing(change: str) -> None:
    links = ExportLinks(SECRET)
    token = links.token(Subject("rest", CUSTOMER))[0]
    bad = {
        "tampered": token[:40] + ("A" if token[40] != "A" else "B") + token[41:],
        "foreign": ExportLinks("another-hubs-secret").token(Subject("rest", CUSTOMER))[0],
        "cut": token[:-5],
        "garbage": "<script>alert(1)</script>",
    }[change]
    with pytest.raises(ExportLinkInvalid, match="not valid"):
        links.subject(bad)


# ---- the hub -----------------------------------------------------------------------------


def hub_settings(tmp_path: Path, rasa_port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "var_dir": tmp_path,
        "rasa_port": rasa_port,
        "actions_port": rasa_port,
        "api_key": KEY,
        "privacy_link_secret": SECRET,
        "telegram_bot_token": "123456:ABC-test",
        "telegram_secret_token": TELEGRAM_SECRET,
        "telegram_bot_username": "shop_bot",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def client(tmp_path: Path, stand_in: AppStandIn) -> Iterator[TestClient]:
    settings = hub_settings(tmp_path, stand_in.port, telegram_api_url=stand_in.url)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def services(client: TestClient) -> HubServices:
    found: HubServices = client.app.state.services  # type: ignore[attr-defined]
    return found


def run(client: TestClient, work: Any, *args: Any) -> Any:
    return client.portal.call(work, *args)  # type: ignore[union-attr]


def say(client: TestClient, text: str, sender: str = CUSTOMER) -> dict[str, Any]:
    response = client.post("/api/messages", json={"sender": sender, "text": text}, headers=API)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def kinds(answer: dict[str, Any]) -> list[str | None]:
    return [(reply.get("custom") or {}).get("kind") for reply in answer["replies"]]


def exported(client: TestClient, sender: str = CUSTOMER) -> dict[str, Any]:
    response = client.get("/api/privacy/export", params={"sender": sender}, headers=API)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = json.loads(
        zipfile.ZipFile(io.BytesIO(response.content)).read("data.json")
    )
    return data


def audit(client: TestClient, customer: str, action: str) -> list[tuple[str, str, str]]:
    records = run(client, partial(services(client).audit.list, customer_id=customer, limit=100))
    return [(r.actor_kind, r.actor_id, r.reason) for r in records if r.action == action]


def test_export_by_message_gives_a_link_to_the_zip_and_only_that(
    client: TestClient, stand_in: AppStandIn
) -> None:
    say(client, "我的快递到哪了？")
    say(client, "Hello, I'm the other one", sender=OTHER)
    answer = say(client, "导出我的数据")
    assert answer["mode"] == "bot"
    [reply] = answer["replies"]
    link = reply["custom"]["link"]
    assert reply["text"] == CHAT_REPLIES["privacy_export"]["zh"].format(link=link)
    assert reply["custom"]["kind"] == "privacy_export"
    hub_url = services(client).settings.hub_url
    assert link.startswith(f"{hub_url}/privacy/download/")  # no BOT_PUBLIC_URL: the hub's address
    link = link.removeprefix(hub_url)
    assert [m["message"] for m in stand_in.rasa_seen] == [
        "我的快递到哪了？",
        "Hello, I'm the other one",
    ]  # Rasa was not asked

    page = client.get(link)  # what a link preview fetches: a button, no export
    assert page.status_code == 200
    assert f'action="{link}"' in page.text
    assert audit(client, CUSTOMER, "privacy.export") == []

    download = client.post(link)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert download.headers["cache-control"] == "no-store"
    data = json.loads(zipfile.ZipFile(io.BytesIO(download.content)).read("data.json"))
    assert data["customer"] == {"channel": "rest", "sender": CUSTOMER, "id": CUSTOMER}
    texts = [m["text"] for m in data["conversation"]["messages"]]
    assert texts[:3] == ["我的快递到哪了？", "echo: 我的快递到哪了？", "导出我的数据"]
    assert "Hello, I'm the other one" not in json.dumps(data, ensure_ascii=False)
    assert audit(client, CUSTOMER, "privacy.export") == [
        ("customer", CUSTOMER, "requested in chat")
    ]


def test_the_conversation_keeps_no_export_link(client: TestClient) -> None:
    """Agents read conversations: what is stored says a link was sent, never the link, which
    would open the customer's export to its reader for 15 minutes."""
    link = say(client, "export my data")["replies"][0]["custom"]["link"]
    conversations = services(client).conversations
    conversation_id = run(client, conversations.find, "rest", CUSTOMER)
    stored = run(client, conversations.history, conversation_id)
    assert [(m.author, m.text, m.payload) for m in stored] == [
        ("customer", "export my data", None),
        (
            "system",
            CHAT_REPLIES[EXPORT_SENT]["en"],
            {"custom": {"kind": EXPORT_SENT, "author": "system"}},
        ),
    ]
    token = link.rsplit("/", 1)[1]
    assert token not in json.dumps(exported(client), ensure_ascii=False)


def test_an_expired_changed_or_foreign_link_exports_nothing(client: TestClient) -> None:
    link = say(client, "export my data")["replies"][0]["custom"]["link"]
    token = link.rsplit("/", 1)[1]
    foreign = ExportLinks("another-hubs-secret").token(Subject("rest", OTHER))[0]
    tampered = token[:40] + ("A" if token[40] != "A" else "B") + token[41:]
    for bad in (foreign, tampered):
        for method in ("GET", "POST"):
            refused = client.request(method, f"/privacy/download/{bad}")
            assert refused.status_code == 403
            assert "not valid" in refused.text
    script = client.get("/privacy/download/<script>alert(1)</script>")
    assert script.status_code in (403, 404)
    assert "<script>" not in script.text

    links = services(client).chat_privacy.links
    real_clock = links.clock
    links.clock = lambda: real_clock() + timedelta(minutes=16)
    expired = client.post(link)
    assert expired.status_code == 410
    assert "expired" in expired.text
    assert audit(client, CUSTOMER, "privacy.export") == []


def test_downloads_are_limited_per_address(client: TestClient) -> None:
    statuses = [client.get("/privacy/download/not-a-token").status_code for _ in range(11)]
    assert statuses == [403] * 10 + [429]


def test_a_public_address_makes_the_link_absolute(tmp_path: Path, stand_in: AppStandIn) -> None:
    settings = hub_settings(tmp_path, stand_in.port, public_url="https://hub.example.com")
    with TestClient(create_app(settings)) as client:
        link = say(client, "下载我的数据")["replies"][0]["custom"]["link"]
        assert link.startswith("https://hub.example.com/privacy/download/")
        download = client.post(link.removeprefix("https://hub.example.com"))
        assert download.status_code == 200


def test_erasure_asks_first_then_erases_only_that_customer(
    client: TestClient, stand_in: AppStandIn
) -> None:
    say(client, "My phone is 13812345678")
    say(client, "Hello", sender=OTHER)
    asked = say(client, "delete my data")
    assert kinds(asked) == [ERASE_PROMPT]
    assert asked["replies"][0]["text"] == CHAT_REPLIES[ERASE_PROMPT]["en"]
    conversation = asked["conversation_id"]

    done = say(client, "CONFIRM DELETE")
    assert done["conversation_id"] == conversation
    assert done["replies"] == [
        {
            "text": CHAT_REPLIES["privacy_erased"]["en"],
            "buttons": [],
            "image": None,
            "custom": {"kind": "privacy_erased", "author": "system"},
        }
    ]
    assert run(client, services(client).conversations.find, "rest", CUSTOMER) is None
    data = exported(client)
    assert data["conversation"] is None
    assert "13812345678" not in json.dumps(data)
    # Its five messages: two each way before, and the confirmation itself.
    assert audit(client, CUSTOMER, "privacy.erase") == [
        (
            "customer",
            CUSTOMER,
            "requested in chat; conversations=1 messages=5 files=0 tickets=0 events=0",
        )
    ]
    assert [m["text"] for m in exported(client, OTHER)["conversation"]["messages"]] == [
        "Hello",
        "echo: Hello",
    ]
    # Writing again starts afresh.
    assert say(client, "hi")["conversation_id"] != conversation


def test_anything_else_cancels_a_pending_erasure(client: TestClient, stand_in: AppStandIn) -> None:
    assert kinds(say(client, "删除我的数据")) == [ERASE_PROMPT]
    assert say(client, "算了，我的订单到哪了")["replies"][0]["text"] == "echo: 算了，我的订单到哪了"
    late = say(client, "确认删除")
    assert kinds(late) == ["privacy_nothing_pending"]
    assert late["replies"][0]["text"] == CHAT_REPLIES["privacy_nothing_pending"]["zh"]
    assert audit(client, CUSTOMER, "privacy.erase") == []

    # Past the 10 minutes, the question has lapsed too (the clock moved, not a sleep).
    assert kinds(say(client, "删除我的数据")) == [ERASE_PROMPT]
    chat = services(client).chat_privacy
    chat.clock = lambda: utcnow() + timedelta(minutes=11)
    assert kinds(say(client, "确认删除")) == ["privacy_nothing_pending"]
    texts = [m["text"] for m in exported(client)["conversation"]["messages"]]
    assert texts[-2:] == ["确认删除", CHAT_REPLIES["privacy_nothing_pending"]["zh"]]


def test_opt_in_by_message_grants_marketing_and_stop_revokes_it(
    client: TestClient, stand_in: AppStandIn
) -> None:
    answer = say(client, "订阅")
    assert kinds(answer) == ["privacy_opt_in"]
    assert "退订" in answer["replies"][0]["text"]
    consents = client.get("/api/privacy/consents", params={"sender": CUSTOMER}, headers=API)
    assert [
        (c["purpose"], c["channel"], c["granted"], c["actor_kind"])
        for c in consents.json()["current"]
    ] == [("marketing", "rest", True, "customer")]
    assert audit(client, CUSTOMER, "consent.grant") == [("customer", CUSTOMER, "marketing on rest")]

    say(client, "STOP")
    consents = client.get("/api/privacy/consents", params={"sender": CUSTOMER}, headers=API)
    assert [(c["granted"], c["actor_kind"]) for c in consents.json()["current"]] == [
        (False, "customer")
    ]


def test_an_anonymous_web_chat_cannot_opt_in(client: TestClient) -> None:
    """Marketing reaches no anonymous web-chat session: no consent is recorded for one."""

    async def nothing_before() -> None:
        return None

    chat = services(client).chat_privacy
    answer = run(client, chat.answer, "webchat", "a1b2c3d4e5f6", "subscribe", "en", nothing_before)
    assert answer.kind == "privacy_opt_in_refused"
    assert run(client, services(client).consents.history, "webchat:a1b2c3d4e5f6") == []


def test_questions_and_script_go_to_the_dialogue(client: TestClient, stand_in: AppStandIn) -> None:
    for text in ("how do I delete my data from the app?", "<script>alert(1)</script>删除我的数据"):
        answer = say(client, text)
        assert answer["replies"][0]["text"] == f"echo: {text}"
    assert [m["message"] for m in stand_in.rasa_seen] == [
        "how do I delete my data from the app?",
        "<script>alert(1)</script>删除我的数据",
    ]


def test_with_a_human_agent_the_message_is_the_agents(client: TestClient) -> None:
    """The hub does not intercept while an agent has the conversation: the agent reads the
    request (and can act on it through the admin's privacy routes)."""
    hub_services = services(client)
    conversation = say(client, "hello")["conversation_id"]
    agent = run(client, hub_services.agents.create, "olga", "a-long-password")
    ticket = run(
        client,
        lambda: hub_services.handoffs.request(
            conversation, "customer_request", language="zh", skill="general"
        ),
    )
    run(client, hub_services.conversations.accept_handoff, agent, ticket.handoff.id)
    answer = say(client, "删除我的数据")
    assert answer["mode"] == "human"
    assert answer["replies"] == []
    history = run(client, hub_services.conversations.history, conversation)
    assert history[-1].text == "删除我的数据"
    assert audit(client, CUSTOMER, "privacy.erase") == []


def test_rasa_down_the_hub_still_answers_a_request(tmp_path: Path) -> None:
    with TestClient(create_app(hub_settings(tmp_path, free_port()))) as client:
        assert (
            client.post(
                "/api/messages", json={"sender": CUSTOMER, "text": "hi"}, headers=API
            ).status_code
            == 503
        )
        assert kinds(say(client, "export my data")) == ["privacy_export"]


def test_a_telegram_customer_erases_and_is_told_after_the_conversation_is_gone(
    client: TestClient, stand_in: AppStandIn
) -> None:
    hub_services = services(client)
    for update_id, text in enumerate(("hello", "forget me", "confirm delete"), start=1):
        telegram_says(client, text, update_id, chat=CHAT)
        drain(client)
    stand_in.wait_for(
        lambda: CHAT_REPLIES["privacy_erased"]["en"] in stand_in.texts(), "the erasure notice"
    )
    assert stand_in.texts() == [
        "echo: hello",
        CHAT_REPLIES[ERASE_PROMPT]["en"],
        CHAT_REPLIES["privacy_erased"]["en"],
    ]
    assert run(client, hub_services.conversations.find, "telegram", str(CHAT)) is None
    key = f"telegram:{CHAT}"
    [(actor_kind, actor_id, _reason)] = audit(client, key, "privacy.erase")
    assert (actor_kind, actor_id) == ("customer", key)


def test_a_telegram_customer_gets_the_link_and_the_conversation_does_not(
    client: TestClient, stand_in: AppStandIn
) -> None:
    telegram_says(client, "导出我的数据", 1, chat=CHAT)
    drain(client)
    stand_in.wait_for(lambda: len(stand_in.texts()) > 0, "the link")
    [text] = stand_in.texts()
    link = text.rsplit("：", 1)[1]
    assert text == CHAT_REPLIES["privacy_export"]["zh"].format(link=link)
    hub_url = services(client).settings.hub_url
    assert link.startswith(f"{hub_url}/privacy/download/")  # a relative link would lead nowhere
    assert client.get(link.removeprefix(hub_url)).status_code == 200
    conversations = services(client).conversations
    conversation_id = run(client, conversations.find, "telegram", str(CHAT))
    stored = run(client, conversations.history, conversation_id)
    assert [m.text for m in stored] == ["导出我的数据", CHAT_REPLIES[EXPORT_SENT]["zh"]]


async def test_a_web_chat_customer_erases_and_the_widget_is_told(
    hub: WebchatHub,  # noqa: F811 - the web-chat tests' fixture
    widgets: Callable[[], Widget],  # noqa: F811 - the web-chat tests' fixture
) -> None:
    """Over socket.io (Rasa down): the question arrives as a stored message, the notice after
    the erasure as one stored nowhere (no message id to ask after on reconnect)."""
    widget = widgets()
    session_id = await widget.start()
    await widget.say("删除我的数据", session_id)
    asked = await widget.next("bot_uttered")
    assert asked["text"] == CHAT_REPLIES[ERASE_PROMPT]["zh"]
    assert asked["custom"] == {"author": "system", "kind": ERASE_PROMPT}
    ack = await widget.say("确认删除", session_id)
    assert ack["ok"] is True
    told = await widget.next("bot_uttered", count=2)
    assert told["text"] == CHAT_REPLIES["privacy_erased"]["zh"]
    assert "message_id" not in told
    assert await hub.services.conversations.find("webchat", session_id) is None
    [record] = await hub.services.audit.list(customer_id=f"webchat:{session_id}")
    assert (record.action, record.actor_kind) == ("privacy.erase", "customer")

    await widget.say("export my data", session_id)
    sent = await widget.next("bot_uttered", count=3)
    link = sent["custom"]["link"]
    assert link.startswith("/privacy/download/")  # the widget resolves it against the hub
    assert "message_id" not in sent  # stored nowhere
    assert len(widget.of("bot_uttered")) == 3  # the kept version is not sent as well

    reloaded = widgets()  # a page reload: the history has what was kept, not the link
    await reloaded.start(session_id=session_id, last_message_id=0)
    history = (await reloaded.next("history"))["messages"]
    assert [(i["direction"], i["text"]) for i in history] == [
        ("in", "export my data"),
        ("out", CHAT_REPLIES[EXPORT_SENT]["en"]),
    ]
