"""``/api/marketing`` and the opt-out words as the hub wires them (real app, real SQLite; Rasa is
down, which the opt-out does not need)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.app import Settings, create_app
from bot.app._container import HubServices
from bot.conversations import InboundMessage
from bot.dialogue import DialogueUnavailable
from bot.marketing import OPT_OUT_CONFIRMATION
from bot.storage import utcnow
from tests.conftest import query_hub_db
from tests.launch import free_port

KEY = "m" * 32
AUTH = {"Authorization": f"Bearer {KEY}"}


def make_settings(var_dir: Path, **overrides: Any) -> Settings:
    nobody = free_port()  # nothing listens here: Rasa and the action server are "down"
    return Settings(  # type: ignore[call-arg]
        _env_file=None, var_dir=var_dir, rasa_port=nobody, actions_port=nobody, **overrides
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    # Quiet hours that never apply, so the test does not depend on the time it runs at.
    settings = make_settings(tmp_path, api_key=KEY, marketing_quiet_hours="00:00-00:00")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def services(client: TestClient) -> HubServices:
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    return hub


def grant(client: TestClient, customer: str, channel: str) -> None:
    assert client.portal is not None
    client.portal.call(services(client).consents.grant, customer, "marketing", channel)


def test_a_hub_without_an_api_key_keeps_marketing_closed(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        response = client.post("/api/marketing/segments/preview", json={"expression": "true"})
    assert response.status_code == 403
    assert "the marketing API is closed: set BOT_API_KEY" in response.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_the_wrong_key_is_refused_and_nothing_is_stored(
    client: TestClient, headers: dict[str, str], tmp_path: Path
) -> None:
    response = client.put(
        "/api/marketing/contacts", json={"customer_id": "a", "channel": "rest"}, headers=headers
    )
    assert response.status_code == 401
    assert query_hub_db(tmp_path, "SELECT count(*) FROM marketing_contacts")[0][0] == 0


def test_audience_preview_and_segments(client: TestClient) -> None:
    for i, (language, tags) in enumerate([("zh", ["vip"]), ("en", []), ("zh", [])]):
        contact = {"customer_id": f"c{i}", "channel": "rest", "language": language, "tags": tags}
        response = client.put("/api/marketing/contacts", json=contact, headers=AUTH)
        assert response.status_code == 200, response.text
    grant(client, "c0", "rest")
    preview = client.post(
        "/api/marketing/segments/preview",
        json={"expression": 'language == "zh"', "sample": 1},
        headers=AUTH,
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["audience"], body["matched"], body["reachable"]) == (3, 2, 1)
    assert [p["customer_id"] for p in body["sample"]] == ["c0"]
    assert body["sample"][0]["tags"] == ["vip"]
    assert body["sample"][0]["timezone"] == "Asia/Shanghai"  # the shop's, by default
    assert body["excluded"] == []  # nobody wrote on the web chat
    saved = client.put(
        "/api/marketing/segments/zh-vip",
        json={"expression": 'language == "zh" and "vip" in tags'},
        headers=AUTH,
    )
    assert saved.status_code == 200
    listed = client.get("/api/marketing/segments", headers=AUTH).json()
    assert listed == {"zh-vip": 'language == "zh" and "vip" in tags'}


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        (
            "/api/marketing/segments/preview",
            {"expression": "monetary > 'a lot'"},
            422,
            "column 10: 'monetary' (a number) cannot be compared with the text 'a lot'",
        ),
        ("/api/marketing/segments/preview", {"expression": "__class__"}, 422, "unknown field"),
        (
            "/api/marketing/contacts",
            {"customer_id": "x", "channel": "rest", "timezone": "Nowhere/City"},
            422,
            "unknown time zone 'Nowhere/City'",
        ),
        (
            "/api/marketing/sends",
            {"customer_id": "x", "channel": "rest", "campaign": "<img src=x>"},
            422,
            "campaign must be",
        ),
        ("/api/marketing/experiments", {"name": "e", "arms": ["a", "a"]}, 422, "distinct names"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    client: TestClient, path: str, body: dict[str, object], status: int, detail: str
) -> None:
    send = client.put if path.endswith("contacts") else client.post
    response = send(path, json=body, headers=AUTH)
    assert response.status_code == status
    assert detail in str(response.json()["detail"])


def test_the_send_gate_over_http(client: TestClient, tmp_path: Path) -> None:
    send = {"customer_id": "s1", "channel": "rest", "campaign": "launch"}
    first = client.post("/api/marketing/sends", json=send, headers=AUTH).json()
    assert (first["admitted"], first["refused"]) == (False, "no_consent")
    grant(client, "s1", "rest")
    second = client.post("/api/marketing/sends", json=send, headers=AUTH).json()
    assert (second["admitted"], second["refused"]) == (True, None)
    third = client.post("/api/marketing/sends", json=send, headers=AUTH).json()
    assert (third["admitted"], third["refused"]) == (False, "frequency_cap")
    assert query_hub_db(tmp_path, "SELECT count(*) FROM marketing_sends")[0][0] == 1


def test_an_experiment_over_http(client: TestClient) -> None:
    created = client.post(
        "/api/marketing/experiments",
        json={"name": "subject-line", "arms": ["control", "emoji"], "horizon": 10, "seed": 3},
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    experiment = created.json()
    url = f"/api/marketing/experiments/{experiment['id']}"
    arms = {}
    for i in range(40):
        answer = client.post(f"{url}/assignments", json={"customer_id": f"u{i}"}, headers=AUTH)
        arms[f"u{i}"] = answer.json()["arm"]
    buyer = next(c for c, a in arms.items() if a == "emoji")
    order = {"customer_id": buyer, "order_id": "YX1", "revenue": 99.5}
    assert client.post(f"{url}/conversions", json=order, headers=AUTH).json() == {
        "attributed": True
    }
    assert client.post(f"{url}/conversions", json=order, headers=AUTH).json() == {
        "attributed": False
    }
    results = client.get(f"{url}/results", headers=AUTH).json()
    assert [a["name"] for a in results["arms"]] == ["control", "emoji"]
    assert results["arms"][1]["conversions"] == 1
    assert results["arms"][1]["revenue"] == 99.5
    assert results["decided"] is True
    assert results["stop_rule"].startswith("fixed horizon")
    missing = client.get("/api/marketing/experiments/999/results", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no experiment has id 999"


@pytest.mark.parametrize(("text", "language"), [("STOP", "en"), ("退订", "zh")])
def test_stop_in_a_conversation_opts_out_at_once_and_confirms(
    client: TestClient, text: str, language: str
) -> None:
    grant(client, "shopper-1", "rest")
    client.post("/api/messages", json={"sender": "shopper-1", "text": text}, headers=AUTH)
    hub = services(client)
    assert client.portal is not None
    assert client.portal.call(hub.consents.allows, "shopper-1", "marketing", "rest") is False
    conversation = client.portal.call(hub.conversations.find, "rest", "shopper-1")
    assert conversation is not None
    history = client.portal.call(hub.conversations.history, conversation)
    assert [(m.author, m.text) for m in history][-1] == (
        "system",
        OPT_OUT_CONFIRMATION[language],
    )
    refused = client.post(
        "/api/marketing/sends",
        json={"customer_id": "shopper-1", "channel": "rest", "campaign": "after"},
        headers=AUTH,
    ).json()
    assert refused["refused"] == "no_consent"


def test_an_ordinary_message_with_stop_in_it_changes_nothing(client: TestClient) -> None:
    grant(client, "shopper-2", "rest")
    client.post(
        "/api/messages", json={"sender": "shopper-2", "text": "please stop my order"}, headers=AUTH
    )
    assert client.portal is not None
    hub = services(client)
    assert client.portal.call(hub.consents.allows, "shopper-2", "marketing", "rest") is True


def test_copy_drafts_and_the_approval_queue_over_http(client: TestClient) -> None:
    draft = {
        "campaign": "earbuds",
        "language": "en",
        "n": 2,
        "brief": {"products": ["EL-005"], "discounts": [20], "claims": ["limited_time"]},
    }
    created = client.post("/api/marketing/copy/drafts", json=draft, headers=AUTH)
    assert created.status_code == 201, created.text
    variants = created.json()
    assert [(v["source"], v["status"]) for v in variants] == [("template", "pending")] * 2
    queue = client.get("/api/marketing/copy/earbuds", params={"status": "pending"}, headers=AUTH)
    assert [v["id"] for v in queue.json()] == [v["id"] for v in variants]
    first, second = variants
    url = "/api/marketing/copy/variants/{}/review"
    bad_edit = {"action": "edit", "reviewer": "ana", "edited_text": "Sony headphones, ¥1!"}
    refused = client.post(url.format(first["id"]), json=bad_edit, headers=AUTH)
    assert refused.status_code == 422
    assert "price '¥1' is not in the catalogue or brief" in refused.json()["detail"]
    edit = {"action": "edit", "reviewer": "ana", "edited_text": "Sony headphones: 20% off."}
    edited = client.post(url.format(first["id"]), json=edit, headers=AUTH).json()
    assert (edited["status"], edited["final_text"], edited["text"]) == (
        "approved",
        "Sony headphones: 20% off.",
        first["text"],
    )
    again = client.post(
        url.format(first["id"]), json={"action": "reject", "reviewer": "bo"}, headers=AUTH
    )
    assert again.status_code == 409
    rejected = client.post(
        url.format(second["id"]), json={"action": "reject", "reviewer": "bo"}, headers=AUTH
    )
    assert rejected.json()["status"] == "rejected"
    missing = client.post(
        url.format(999), json={"action": "approve", "reviewer": "a"}, headers=AUTH
    )
    assert missing.status_code == 404
    unknown = client.post(
        "/api/marketing/copy/drafts",
        json={**draft, "brief": {"products": ["NOPE-1"]}},
        headers=AUTH,
    )
    assert unknown.status_code == 422
    assert "products not in the catalogue: NOPE-1" in unknown.json()["detail"]


def web_chat_says(client: TestClient, sender: str, text: str) -> None:
    """A web-chat message stored as the channel stores it (Rasa is down: kept, marked failed)."""
    assert client.portal is not None
    with contextlib.suppress(DialogueUnavailable):
        client.portal.call(
            services(client).conversations.receive, InboundMessage("webchat", sender, text)
        )


def test_anonymous_web_chat_visitors_are_no_contacts_and_the_preview_says_why(
    client: TestClient, tmp_path: Path
) -> None:
    for sender in ("3f2a9c0d", "b71e55aa", "old-visitor", "customer:c9"):
        web_chat_says(client, sender, "你好")
    # A visitor who last wrote 60 days ago is not counted among the recent ones.
    with sqlite3.connect(tmp_path / "hub.db") as db:
        db.execute(
            "UPDATE messages SET created_at = ? WHERE conversation_id = "
            "(SELECT id FROM conversations WHERE sender = 'old-visitor')",
            ((utcnow() - timedelta(days=60)).replace(tzinfo=None).isoformat(" "),),
        )
    contact = {"customer_id": "c9", "channel": "webchat", "language": "zh"}
    assert client.put("/api/marketing/contacts", json=contact, headers=AUTH).status_code == 200

    body = client.post(
        "/api/marketing/segments/preview", json={"expression": "true"}, headers=AUTH
    ).json()
    # The identified customer is the audience; the two recent anonymous visitors are counted
    # outside it, with the reason.
    assert (body["audience"], [p["customer_id"] for p in body["sample"]]) == (1, ["c9"])
    assert body["excluded"] == [
        {
            "reason": "anonymous_webchat",
            "count": 2,
            "detail": "2 web-chat visitor(s) wrote in the last 30 days without the shop's site "
            "identifying them: an anonymous session is a browser's id with no stable person "
            "behind it, who could give no marketing consent, so it is no contact; identify "
            "logged-in customers (BOT_WEBCHAT_IDENTITY_SECRET) to reach them",
        }
    ]


def test_a_contact_naming_an_anonymous_session_fails_with_the_reason(client: TestClient) -> None:
    """A shop that puts a browser's session id in the audience: the campaign report says that
    an anonymous session is no contact, rather than that the customer never wrote."""
    web_chat_says(client, "3f2a9c0d", "hello")
    contact = {"customer_id": "3f2a9c0d", "channel": "webchat", "language": "en"}
    assert client.put("/api/marketing/contacts", json=contact, headers=AUTH).status_code == 200
    grant(client, "3f2a9c0d", "webchat")
    brief = {"products": ["EL-005"], "discounts": [20], "channel": "webchat"}
    [variant] = client.post(
        "/api/marketing/copy/drafts",
        json={"campaign": "anon", "language": "en", "n": 1, "brief": brief},
        headers=AUTH,
    ).json()
    client.post(
        f"/api/marketing/copy/variants/{variant['id']}/review",
        json={"action": "approve", "reviewer": "editor"},
        headers=AUTH,
    )
    campaign = client.post(
        "/api/marketing/campaigns",
        json={"name": "anon", "segment": "true", "variants": {"main": [variant["id"]]}},
        headers=AUTH,
    ).json()
    run = client.post("/api/marketing/campaigns/run", headers=AUTH).json()
    assert run == {"recipients_added": 1, "outcomes": {"failed": 1}}
    report = client.get(f"/api/marketing/campaigns/{campaign['id']}", headers=AUTH).json()
    assert [(r["status"], r["reason"]) for r in report["recipients"]] == [
        (
            "failed",
            "delivery: anonymous session: a contact on webchat is the shop's id of a customer "
            "its site identified; an anonymous session has no person behind it",
        )
    ]
    assert report["reasons"] == {"delivery": 1}
