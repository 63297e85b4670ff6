"""``POST /api/events``: the shop reports what customers do on its own site; recommendations and
the marketing triggers see it (real hub, real SQLite, the demo catalogue; Rasa is down)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.recommend import Event
from bot.storage import utcnow
from tests.test_marketing_api import AUTH, KEY, grant, make_settings, services

ITEM = "EL-001"  # in the demo catalogue


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, api_key=KEY, marketing_quiet_hours="00:00-00:00")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def events_of(client: TestClient, customer: str) -> list[Event]:
    assert client.portal is not None
    found: list[Event] = client.portal.call(services(client).recommendations.events_of, customer)
    return found


def test_a_cart_left_for_hours_puts_the_customer_in_the_abandoned_cart_segment(
    client: TestClient,
) -> None:
    five_hours_ago = (utcnow() - timedelta(hours=5)).isoformat()
    response = client.post(
        "/api/events",
        json={
            "events": [
                {"customer_id": "c-cart", "item_id": ITEM, "kind": "view", "at": five_hours_ago},
                {"customer_id": "c-cart", "item_id": ITEM, "kind": "cart", "at": five_hours_ago},
                {"customer_id": "c-browse", "item_id": ITEM, "kind": "view", "device": "app"},
            ]
        },
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"recorded": 3}
    assert [(e.kind, e.item_id, e.channel) for e in events_of(client, "c-cart")] == [
        ("view", ITEM, "shop"),
        ("cart", ITEM, "shop"),
    ]
    for customer in ("c-cart", "c-browse"):
        contact = {"customer_id": customer, "channel": "rest", "language": "en"}
        assert client.put("/api/marketing/contacts", json=contact, headers=AUTH).status_code == 200
        grant(client, customer, "rest")
    preview = client.post(
        "/api/marketing/segments/preview",
        json={"expression": "cart_abandoned_hours >= 4", "sample": 5},
        headers=AUTH,
    )
    assert preview.status_code == 200, preview.text
    assert [p["customer_id"] for p in preview.json()["sample"]] == ["c-cart"]


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"item_id": "NOPE-1"}, "events[1]: item 'NOPE-1' is not in the catalogue"),
        ({"kind": "rating"}, "events[1]: a rating needs a value between 0 and 10"),
        ({"at": "2999-01-01T00:00:00+00:00"}, "events[1]: 'at' is in the future"),
    ],
)
def test_one_bad_event_refuses_the_batch_and_stores_none_of_it(
    client: TestClient, event: dict[str, str], message: str
) -> None:
    good = {"customer_id": "c1", "item_id": ITEM, "kind": "view"}
    response = client.post("/api/events", json={"events": [good, {**good, **event}]}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("nothing was stored: ")
    assert message in response.json()["detail"]
    assert events_of(client, "c1") == []


@pytest.mark.parametrize(
    "body",
    [
        {"events": []},
        {"events": [{"customer_id": "c1", "item_id": ITEM, "kind": "purchase"}]},
        {"events": [{"customer_id": "c1", "item_id": ITEM, "kind": "view", "at": "2026-01-01"}]},
        {"events": [{"customer_id": "", "item_id": ITEM, "kind": "view"}]},
        {"events": [{"customer_id": "c1", "item_id": ITEM, "kind": "view", "extra": 1}]},
    ],
)
def test_malformed_batches_are_refused_saying_what_is_wrong(
    client: TestClient, body: dict[str, object]
) -> None:
    response = client.post("/api/events", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]
    assert events_of(client, "c1") == []


def test_events_need_the_shops_key(client: TestClient, tmp_path: Path) -> None:
    event = {"customer_id": "c1", "item_id": ITEM, "kind": "view"}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = client.post("/api/events", json={"events": [event]}, headers=headers)
        assert response.status_code == 401, response.text
    assert events_of(client, "c1") == []
    with TestClient(create_app(make_settings(tmp_path / "nokey"))) as closed:
        response = closed.post("/api/events", json={"events": [event]})
    assert response.status_code == 403
    assert "the events API is closed: set BOT_API_KEY" in response.json()["detail"]


def test_script_in_a_search_is_stored_as_text(client: TestClient) -> None:
    event = {"customer_id": "c1", "item_id": ITEM, "kind": "search", "query": "<script>x</script>"}
    response = client.post("/api/events", json={"events": [event]}, headers=AUTH)
    assert response.status_code == 201, response.text
    (stored,) = events_of(client, "c1")
    assert stored.query == "<script>x</script>"
