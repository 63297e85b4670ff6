"""A campaign end to end through the hub as it is wired (real app, real SQLite): copy drafted
and approved over ``/api/marketing``, sent by the campaign job into a REST conversation, to a
Telegram chat through the outbox (a local server stands in for the Bot API and Rasa) and by
e-mail to a real SMTP server; the tracked link followed; an order placed in the orders module
credited to the campaign."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from bot.app import Settings, create_app
from bot.app._container import HubServices
from bot.marketing import OPT_OUT_CONFIRMATION, privacy_key
from bot.orders import OrderService
from tests.app_standin import AppStandIn, drain
from tests.conftest import query_hub_db
from tests.smtp_server import Mailbox, body_of, smtp_server

KEY = "m" * 32
AUTH = {"Authorization": f"Bearer {KEY}"}
ADMIN_AUTH = {"Authorization": f"Bearer {'z' * 32}"}
SHOP = "https://shop.example/spring"
TELEGRAM_SECRET = "hub_secret-123"
CHAT = 424242


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
        "admin_token": "z" * 32,
        "marketing_quiet_hours": "00:00-00:00",  # the test must not depend on the hour
        "smtp_host": "127.0.0.1",
        "smtp_port": mailbox.port,
        "smtp_security": "none",
        "telegram_bot_token": "123456:ABC-test",
        "telegram_secret_token": TELEGRAM_SECRET,
        "telegram_bot_username": "shop_bot",
        "telegram_api_url": stand_in.url,
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def services(client: TestClient) -> HubServices:
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    return hub


def api(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(method, f"/api/marketing{path}", headers=AUTH, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def telegram_says(client: TestClient, text: str, update_id: int = 1, chat: int = CHAT) -> None:
    update = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": chat, "is_bot": False, "first_name": "Li"},
            "chat": {"id": chat, "type": "private"},
            "date": 1796180000,
            "text": text,
        },
    }
    headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
    assert client.post("/channels/telegram", json=update, headers=headers).status_code == 200


def test_send_click_order_conversion_through_the_hub(
    client: TestClient, stand_in: AppStandIn, mailbox: Mailbox, tmp_path: Path
) -> None:
    hub = services(client)
    assert client.portal is not None
    # Customers: one wrote on the REST channel, one on Telegram, one is reached by e-mail,
    # one has no conversation to post into, one never opted in.
    client.post("/api/messages", json={"sender": "customer-001", "text": "你好"}, headers=AUTH)
    telegram_says(client, "hello")
    drain(client)
    telegram_sender = client.portal.call(hub.conversations.find, "telegram", str(CHAT))
    assert telegram_sender is not None
    contacts = [
        {"customer_id": "customer-001", "channel": "rest", "language": "zh"},
        {"customer_id": str(CHAT), "channel": "telegram", "language": "en"},
        {"customer_id": "customer-002", "channel": "email", "address": "li@example.com"},
        {"customer_id": "customer-003", "channel": "rest"},
        {"customer_id": "customer-004", "channel": "rest"},
    ]
    for contact in contacts:
        api(client, "PUT", "/contacts", json=contact)
        if contact["customer_id"] != "customer-004":
            client.portal.call(
                hub.consents.grant,
                privacy_key(contact["customer_id"], contact["channel"]),
                "marketing",
                contact["channel"],
            )
    brief = {"products": ["EL-005"], "discounts": [20], "claims": ["limited_time"]}
    ids = []
    for language in ("zh", "en"):
        [variant] = api(
            client,
            "POST",
            "/copy/drafts",
            json={"campaign": "spring", "language": language, "n": 1, "brief": brief},
        )
        api(
            client,
            "POST",
            f"/copy/variants/{variant['id']}/review",
            json={"action": "approve", "reviewer": "editor"},
        )
        ids.append(variant["id"])
    campaign = api(
        client,
        "POST",
        "/campaigns",
        json={"name": "spring", "segment": "true", "variants": {"main": ids}, "url": SHOP},
    )
    assert campaign["status"] == "scheduled"

    run = api(client, "POST", "/campaigns/run")
    assert run == {"recipients_added": 5, "outcomes": {"sent": 3, "skipped": 1, "failed": 1}}
    drain(client)
    report = api(client, "GET", f"/campaigns/{campaign['id']}")
    results = {r["customer_id"]: (r["status"], r["reason"]) for r in report["recipients"]}
    assert results == {
        "customer-001": ("sent", None),
        str(CHAT): ("sent", None),
        "customer-002": ("sent", None),
        "customer-003": ("failed", "delivery: the customer has no rest conversation yet"),
        "customer-004": ("skipped", "no_consent"),
    }
    assert report["campaign"]["status"] == "done"

    # Web/REST conversation: the message is in the history, from the system, with the link.
    conversation = client.portal.call(hub.conversations.find, "rest", "customer-001")
    assert conversation is not None
    history = client.portal.call(hub.conversations.history, conversation)
    posted = history[-1]
    assert posted.author == "system"
    assert posted.payload is not None
    assert posted.payload["custom"]["kind"] == "marketing"
    link = posted.payload["custom"]["link"]
    assert posted.text.endswith(link)
    assert "customer-001" not in link
    # Telegram: the connector sent it through the outbox to the Bot API.
    telegram_texts = [s.body.get("text", "") for s in stand_in.sent]
    assert any("/m/c/" in t and "Sony" in t for t in telegram_texts), telegram_texts
    # E-mail: one message to the address, with its own link.
    [mail] = mailbox.messages
    assert mail["To"] == "li@example.com"
    assert "/m/c/" in body_of(mail)

    # The link: redirected to the campaign's own page, counted; forged tokens are refused.
    path = link.split("://", 1)[1].split("/", 1)[1]
    for _ in range(2):
        followed = client.get(f"/{path}", follow_redirects=False)
        assert (followed.status_code, followed.headers["location"]) == (
            302,
            f"{SHOP}?campaign_click={path.rsplit('/', 1)[1]}",
        )
    forged = client.get(f"/{path[:-2]}xx", follow_redirects=False)
    assert forged.status_code == 404
    assert "this link is not valid" in forged.json()["detail"]

    # Unsubscribing from the e-mail: the page changes nothing, its button opts out of e-mail
    # marketing (and only e-mail); a tracked-link token is no unsubscribe token.
    unsubscribe = mail["List-Unsubscribe"].strip("<>").split("://", 1)[1].split("/", 1)[1]
    page = client.get(f"/{unsubscribe}")
    assert page.status_code == 200
    assert f'action="/{unsubscribe}"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert client.portal.call(hub.consents.allows, "customer-002", "marketing", "email")
    done = client.post(f"/{unsubscribe}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert OPT_OUT_CONFIRMATION["zh"] in done.text
    assert not client.portal.call(hub.consents.allows, "customer-002", "marketing", "email")
    assert client.portal.call(hub.consents.allows, "customer-001", "marketing", "rest")
    assert client.post(f"/m/u/{path.rsplit('/', 1)[1]}").status_code == 404

    # The shop's checkout reports the order over HTTP: stored by the orders module, credited
    # to the campaign and its arm; refused without the key or for an unknown customer.
    order = {
        "customer_id": "customer-001",
        "items": [{"sku": "EL-005", "quantity": 1}],
        "address": "广州市天河区天河路385号太古汇一座2205",
        "recipient": "张伟",
        "phone": "13530246633",
    }
    assert client.post("/api/orders/placed", json=order).status_code == 401
    unknown = client.post(
        "/api/orders/placed", json={**order, "customer_id": "guessed-999"}, headers=AUTH
    )
    assert (unknown.status_code, unknown.json()["detail"]) == (
        422,
        "no customer has id 'guessed-999'",
    )
    placed = client.post("/api/orders/placed", json=order, headers=AUTH)
    assert placed.status_code == 201, placed.text
    for listener in client.app.state.order_listeners:  # type: ignore[attr-defined]
        client.portal.call(listener.drain)
    stored = OrderService(tmp_path / "orders.db").get(placed.json()["order_id"])
    assert (stored.customer_id, stored.total) == ("customer-001", placed.json()["total"])
    report = api(client, "GET", f"/campaigns/{campaign['id']}")
    assert (report["clicks"], report["unique_clicks"]) == (2, 1)
    assert (report["conversions"], report["revenue"]) == (1, float(placed.json()["total"]))
    [arm] = report["arms"]
    assert (arm["name"], arm["sent"], arm["unique_clicks"], arm["conversions"]) == (
        "main",
        3,
        1,
        1,
    )
    # The purchase is also the customer's recommendation event (the marketing triggers see it).
    events = client.portal.call(hub.recommendations.events_of, "customer-001")
    assert [(e.item_id, e.kind) for e in events] == [("EL-005", "purchase")]

    # Telegram: the customer follows the link from the chat; the shop's site keeps the
    # campaign_click the redirect added, and the checkout reports it with the order of the
    # shop's own customer id (customer-006 to the shop, a chat id to Telegram): credited to
    # the Telegram message. A forged click stores the order all the same, credited to nothing.
    [telegram_link] = [w for t in telegram_texts for w in t.split() if "/m/c/" in w]
    telegram_path = telegram_link.split("://", 1)[1].split("/", 1)[1]
    landed = client.get(f"/{telegram_path}", follow_redirects=False)
    assert landed.status_code == 302
    click = parse_qs(urlsplit(landed.headers["location"]).query)["campaign_click"][0]
    forged = client.post(
        "/api/orders/placed",
        json={**order, "customer_id": "customer-007", "campaign_click": click[:-3] + "xyz"},
        headers=AUTH,
    )
    assert (forged.status_code, forged.json()["campaign_click"]) == (201, "unknown")
    refused = client.post(
        "/api/orders/placed",
        json={**order, "customer_id": "guessed-999", "campaign_click": click},
        headers=AUTH,
    )
    assert refused.status_code == 422
    bought = client.post(
        "/api/orders/placed",
        json={**order, "customer_id": "customer-006", "campaign_click": click},
        headers=AUTH,
    )
    assert (bought.status_code, bought.json()["campaign_click"]) == (201, "noted")
    for listener in client.app.state.order_listeners:  # type: ignore[attr-defined]
        client.portal.call(listener.drain)
    report = api(client, "GET", f"/campaigns/{campaign['id']}")
    assert (report["clicks"], report["unique_clicks"]) == (3, 2)
    assert report["conversions"] == 2
    credited = {r["customer_id"]: r for r in report["recipients"]}
    assert credited[str(CHAT)]["clicks"] == 1
    rows = query_hub_db(
        tmp_path,
        "SELECT r.customer_id, r.channel, c.customer_id AS buyer FROM "
        "marketing_campaign_conversions c JOIN marketing_recipients r ON r.id = c.recipient_id "
        "ORDER BY c.id",
    )
    assert [tuple(r) for r in rows] == [
        ("customer-001", "rest", "customer-001"),
        (str(CHAT), "telegram", "customer-006"),
    ]


def test_the_copy_names_each_recipients_own_picks(client: TestClient) -> None:
    """ "{picks}" in the approved copy becomes the recipient's recommended items at sending:
    personalised with their consent to it, the most popular without; named in their language."""
    hub = services(client)
    assert client.portal is not None
    now = "2026-12-01T10:00:00+00:00"

    def viewed(
        customer: str, items: tuple[str, ...], kinds: tuple[str, ...] = ("view",)
    ) -> list[dict[str, str]]:
        return [
            {"customer_id": customer, "item_id": item, "kind": kind, "at": now}
            for item in items
            for kind in kinds
        ]

    # customer-001 likes clothes; the crowd views three electronics and home items, and a few
    # shoppers view customer-001's clothes with others (what collaborative filtering learns).
    events = viewed("customer-001", ("CL-001", "CL-002", "CL-003"), ("view", "cart"))
    for n in range(6):
        events += viewed(f"shopper-{n}", ("EL-005", "EL-006", "HA-001"))
    for n in range(6, 9):
        events += viewed(f"shopper-{n}", ("CL-001", "CL-002", "CL-004", "CL-005", "BE-001"))
    recorded = client.post("/api/events", json={"events": events}, headers=AUTH)
    assert recorded.status_code == 201, recorded.text
    client.portal.call(hub.recommendations.train)
    for customer in ("customer-001", "customer-005"):
        client.post("/api/messages", json={"sender": customer, "text": "你好"}, headers=AUTH)
        api(client, "PUT", "/contacts", json={"customer_id": customer, "channel": "rest"})
        client.portal.call(hub.consents.grant, customer, "marketing", "rest")
    client.portal.call(hub.consents.grant, "customer-001", "personalisation", "rest")
    brief = {"products": ["EL-005"], "discounts": [20], "claims": ["limited_time"]}
    [variant] = api(
        client,
        "POST",
        "/copy/drafts",
        json={"campaign": "picks", "language": "zh", "n": 1, "brief": brief},
    )
    reviewed = api(
        client,
        "POST",
        f"/copy/variants/{variant['id']}/review",
        json={
            "action": "edit",
            "reviewer": "editor",
            "edited_text": "为您精选：{picks}。限时8折。",
        },
    )
    assert reviewed["status"] == "approved", reviewed
    api(
        client,
        "POST",
        "/campaigns",
        json={"name": "picks", "segment": "true", "variants": {"main": [variant["id"]]}},
    )
    assert api(client, "POST", "/campaigns/run")["outcomes"] == {"sent": 2}
    drain(client)
    for customer, personalised in (("customer-001", True), ("customer-005", False)):
        expected = client.portal.call(
            partial(hub.recommendations.recommend, customer, k=3, personalised=personalised)
        )
        conversation = client.portal.call(hub.conversations.find, "rest", customer)
        assert conversation is not None
        posted = client.portal.call(hub.conversations.history, conversation)[-1]
        names = "、".join(r.item.name_zh for r in expected)
        assert posted.text == f"为您精选：{names}。限时8折。", customer
    assert {
        r.item.id for r in client.portal.call(hub.recommendations.recommend, "customer-001")
    } != {
        r.item.id
        for r in client.portal.call(
            partial(hub.recommendations.recommend, "customer-001", personalised=False)
        )
    }


def test_a_telegram_customers_consent_opt_out_and_erasure_reach_the_same_records(
    client: TestClient, stand_in: AppStandIn
) -> None:
    """Marketing names a Telegram contact by the chat id, the privacy module by
    ``telegram:<chat id>``: an admin's record of the customer's opt-in lets the campaign gate
    through, "STOP" in the chat revokes that same consent, and the customer's erasure takes
    their marketing rows and revokes the consent again given."""
    hub = services(client)
    assert client.portal is not None
    telegram_says(client, "hello", update_id=1)
    drain(client)
    contact = {"customer_id": str(CHAT), "channel": "telegram", "language": "en"}
    api(client, "PUT", "/contacts", json=contact)
    send = {"customer_id": str(CHAT), "channel": "telegram", "campaign": "spring"}
    assert api(client, "POST", "/sends", json=send)["refused"] == "no_consent"
    consents = f"/admin/privacy/customers/telegram/{CHAT}/consents"
    opt_in = {"purpose": "marketing", "granted": True}
    assert client.post(consents, json=opt_in, headers=ADMIN_AUTH).status_code == 201
    assert api(client, "POST", "/sends", json=send)["admitted"] is True

    telegram_says(client, "STOP", update_id=2)
    drain(client)
    assert api(client, "POST", "/sends", json=send)["refused"] == "no_consent"
    sent = [s.body.get("text", "") for s in stand_in.sent]
    assert any(text in sent for text in OPT_OUT_CONFIRMATION.values()), sent
    current = client.get(consents, headers=ADMIN_AUTH).json()["current"]
    assert [(c["customer_id"], c["granted"], c["actor_kind"]) for c in current] == [
        (f"telegram:{CHAT}", False, "customer")
    ]

    assert client.post(consents, json=opt_in, headers=ADMIN_AUTH).status_code == 201
    erased = client.request(
        "DELETE", f"/admin/privacy/customers/telegram/{CHAT}", headers=ADMIN_AUTH
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["others"]["marketing"]["contacts"] == 1
    assert erased.json()["others"]["marketing"]["sends"] == 1
    assert not client.portal.call(hub.consents.allows, f"telegram:{CHAT}", "marketing", "telegram")
    assert api(client, "POST", "/sends", json=send)["refused"] == "no_consent"


def test_campaign_routes_refuse_bad_input_and_stay_closed_without_the_key(
    client: TestClient,
) -> None:
    bad = client.post(
        "/api/marketing/campaigns",
        json={"name": "x", "segment": "true", "variants": {"main": [1]}, "url": "javascript:x"},
        headers=AUTH,
    )
    assert bad.status_code == 422
    assert "no copy variant has id 1" in bad.json()["detail"]
    assert "url must be an absolute http(s) address" in bad.json()["detail"]
    assert client.get("/api/marketing/campaigns").status_code == 401
    assert client.get("/api/marketing/campaigns/99", headers=AUTH).status_code == 404
    assert client.get("/m/c/1", follow_redirects=False).status_code == 404
    assert client.get("/api/marketing/campaigns", headers=AUTH).json() == []
