"""Recommendation feedback from the platform itself, on real parts (SQLite, the hub on a free
port, a socket.io client, the order store): the widget's card buttons reported over socket.io
and recorded as the session customer's events, bad reports refused with nothing stored, a
dismissed item never recommended again (service and dialogue action), and a return asked for
in the dialogue recorded as a ``return`` event through the wiring."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import socketio
from fastapi import FastAPI
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions
from actions import ActionServices
from actions.service import ActionRecommend
from bot.app import (
    HubServices,
    OrderEvents,
    Settings,
    SharedKnowledge,
    ensure_recommendation_model,
    order_service,
    recommend_service,
    ticket_service,
)
from bot.orders import InvalidStateChange, OrderService
from bot.privacy import AuditLog, ConsentService, Subject
from bot.recommend import CATALOGUE, Event, Filters, RecommendService
from bot.storage import Database
from tests.launch import free_port
from tests.live_hub import serving

WAIT_S = 20.0
ITEM = "EL-001"  # in the demo catalogue
TODAY = date(2026, 11, 28)  # the order fixtures are dated from the day the store is seeded


# ---- the widget's reports over socket.io -----------------------------------------------------


class Hub:
    """The hub on a free port, its services at hand."""

    def __init__(self, url: str, app: FastAPI) -> None:
        self.url = url
        self.app = app

    @property
    def recommendations(self) -> RecommendService:
        services: HubServices = self.app.state.services
        return services.recommendations


@pytest.fixture
async def hub(tmp_path: Path, rate_window: None) -> AsyncIterator[Hub]:
    nobody = free_port()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=tmp_path,
        rasa_port=nobody,
        actions_port=nobody,
        rate_limit_messages_per_minute=4,
    )
    async with serving(settings) as served:
        yield Hub(served.url, served.app)


@pytest.fixture
async def widget(hub: Hub) -> AsyncIterator[tuple[socketio.AsyncClient, str]]:
    """A socket.io client with a confirmed session."""
    client = socketio.AsyncClient(reconnection=False)
    confirmed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    client.on("session_confirm", lambda session_id: confirmed.set_result(str(session_id)))
    await client.connect(hub.url, transports=["websocket"], wait_timeout=10)
    await client.emit("session_request", {})
    async with asyncio.timeout(WAIT_S):
        session_id = await confirmed
    yield client, session_id
    await client.disconnect()


async def report(client: socketio.AsyncClient, **feedback: Any) -> Any:
    return await client.call("recommendation_feedback", feedback, timeout=WAIT_S)


async def test_a_dismiss_and_a_click_are_the_session_customers_events(
    hub: Hub, widget: tuple[socketio.AsyncClient, str]
) -> None:
    client, session_id = widget
    assert await report(
        client, session_id=session_id, event="dismiss", item_id=ITEM, device="mobile"
    ) == {"ok": True}
    assert await report(client, event="click", item_id="EL-002") == {"ok": True}
    # A replayed dismiss is acknowledged and not stored twice.
    assert await report(client, event="dismiss", item_id=ITEM, device="mobile") == {"ok": True}
    stored = await hub.recommendations.events_of(f"webchat:{session_id}")
    assert [(e.kind, e.item_id, e.channel, e.device) for e in stored] == [
        ("dismiss", ITEM, "webchat", "mobile"),
        ("click", "EL-002", "webchat", None),
    ]
    profile = await hub.recommendations.profile(f"webchat:{session_id}")
    assert profile is not None
    assert profile.events == 2


@pytest.mark.parametrize(
    ("feedback", "error"),
    [
        (
            {"event": "dismiss", "item_id": "NOPE-999"},
            "item 'NOPE-999' is not in the catalogue; import it before its events",
        ),
        ({"event": "purchase", "item_id": ITEM}, "event must be one of click, dismiss"),
        ({"event": "dismiss"}, "item_id must be a text of 1 to 128 characters"),
        ({"event": "dismiss", "item_id": ""}, "item_id must be a text of 1 to 128 characters"),
        ({"event": "dismiss", "item_id": "x" * 129}, "item_id must be a text of 1 to 128 characters"),
        ({"event": "dismiss", "item_id": ["EL-001"]}, "item_id must be a text of 1 to 128 characters"),
        (
            {"event": "click", "item_id": ITEM, "device": "<script>alert(1)</script>"},
            "device must be one of desktop, mobile or absent",
        ),
    ],
)  # fmt: skip
async def test_bad_reports_are_refused_and_nothing_is_stored(
    hub: Hub, widget: tuple[socketio.AsyncClient, str], feedback: dict[str, Any], error: str
) -> None:
    client, session_id = widget
    assert await report(client, **feedback) == {"ok": False, "error": error}
    assert await hub.recommendations.events_of(f"webchat:{session_id}") == []
    assert await hub.recommendations.profile(f"webchat:{session_id}") is None


async def test_a_report_needs_a_session(hub: Hub) -> None:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(hub.url, transports=["websocket"], wait_timeout=10)
    try:
        assert await report(client, event="dismiss", item_id=ITEM) == {
            "ok": False,
            "error": "send session_request with a session_id first",
        }
    finally:
        await client.disconnect()


async def test_a_flood_of_reports_is_refused_like_a_flood_of_messages(
    hub: Hub, widget: tuple[socketio.AsyncClient, str]
) -> None:
    client, session_id = widget
    for _ in range(4):  # the hub's limit here: 4 a minute from one customer
        assert await report(client, event="click", item_id=ITEM) == {"ok": True}
    refused = await report(client, event="click", item_id=ITEM)
    assert refused["ok"] is False
    assert refused["error"].startswith(
        "too many requests: the limit is 4 messages a minute from one customer"
    )
    assert refused["retry_after"] >= 1
    assert len(await hub.recommendations.events_of(f"webchat:{session_id}")) == 4


# ---- a dismissed item in the service and the dialogue ------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Database]]:
    """A hub database with the demo catalogue, books bought by one customer, and a model
    trained the way `python -m bot run` trains the first one."""
    var_dir: Path = tmp_path_factory.mktemp("feedback-var")
    settings = Settings(_env_file=None, var_dir=var_dir)  # type: ignore[call-arg]
    database = Database(settings.hub_database_url)
    service = recommend_service(settings, database)

    async def history() -> None:
        await database.migrate()
        await service.import_catalogue(CATALOGUE)
        books = [i for i in (await service.catalogue()).values() if i.category == "books"]
        at = datetime(2026, 11, 1, tzinfo=UTC)
        for item in books[:2]:
            await service.record_event(Event("customer-007", item.id, "purchase", at))

    asyncio.run(history())
    ensure_recommendation_model(settings)
    yield settings, database
    database.dispose()


async def test_the_service_never_recommends_a_dismissed_item_again(
    trained: tuple[Settings, Database],
) -> None:
    settings, database = trained
    service = recommend_service(settings, database)
    await service.refresh()
    customer = "webchat:service-test"
    first = await service.recommend(customer, k=3, filters=Filters(category="electronics"))
    dismissed = first[0].item.id
    await service.record_event(
        Event(customer, dismissed, "dismiss", datetime.now(UTC), channel="webchat")
    )
    for personalised in (True, False):
        later = await service.recommend(
            customer, k=10, filters=Filters(category="electronics"), personalised=personalised
        )
        assert later
        assert dismissed not in {r.item.id for r in later}
    # Another customer still gets it: the dismiss is this customer's only.
    other = await service.recommend(
        "webchat:someone-else", k=3, filters=Filters(category="electronics")
    )
    assert dismissed in {r.item.id for r in other}


def _tracker(session: str) -> Tracker:
    metadata = {"channel": "webchat", "customer_key": f"webchat:{session}"}
    latest = {"intent": {"name": "ask_recommendation"}, "text": "推荐", "metadata": metadata}
    events = [{"event": "user", "text": "推荐", "parse_data": latest, "metadata": metadata}]
    slots = {"language": "zh", "product_category": "electronics", "budget": "any"}
    return Tracker(session, slots, latest, events, False, None, {}, None)


DOMAIN = {
    "responses": {
        name: [{"text": name}] for name in ("utter_task_recommend_form", "utter_offer_resume")
    }
}


async def _cards(session: str) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    await ActionRecommend().run(dispatcher, _tracker(session), DOMAIN)
    cards: list[dict[str, Any]] = dispatcher.messages[0]["custom"]["attachment"]["payload"][
        "elements"
    ]
    return cards


async def test_the_action_offers_feedback_buttons_and_drops_a_dismissed_item(
    trained: tuple[Settings, Database],
) -> None:
    settings, database = trained
    recommend = recommend_service(settings, database)
    knowledge = SharedKnowledge(settings)
    actions.configure(
        ActionServices(
            orders=order_service(settings),
            knowledge=knowledge.get,
            tickets=ticket_service(settings, database),
            audit=AuditLog(database),
            recommend=recommend,
            consents=ConsentService(database),
        )
    )
    try:
        session = "0123456789abcdef0123456789abcdef"
        cards = await _cards(session)
        catalogue = await recommend.catalogue()
        first = cards[0]["buttons"][0]["item_id"]
        assert cards[0]["buttons"] == [
            {"type": "recommendation_feedback", "title": "看看详情", "event": "click", "item_id": first},
            {"type": "recommendation_feedback", "title": "不感兴趣", "event": "dismiss", "item_id": first},
            {"type": "postback", "title": "更多类似", "payload": f'/ask_recommendation{{"similar_to":"{first}"}}'},
        ]  # fmt: skip
        assert cards[0]["details"] == catalogue[first].description_zh
        # What the widget's "Not interested" records (keyed as the hub keys a web-chat session).
        await recommend.record_event(
            Event(f"webchat:{session}", first, "dismiss", datetime.now(UTC), channel="webchat")
        )
        again = await _cards(session)
        assert again
        assert first not in {c["buttons"][0]["item_id"] for c in again}
    finally:
        actions.configure(None)
        knowledge.close()


# ---- orders ------------------------------------------------------------------------------------


async def test_a_return_is_recorded_through_the_wiring_and_avoided_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OrderService, "today", lambda self: TODAY)
    orders = OrderService(tmp_path / "orders.db")
    database = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    await database.migrate()
    recommend = RecommendService(database)
    await recommend.import_catalogue(CATALOGUE)
    feed = OrderEvents(recommend)
    orders.subscribe(feed)
    order = orders.request_return("YX2611010001", "尺码不合适", TODAY)
    await feed.drain()
    stored = await recommend.events_of(order.customer_id)
    assert [(e.kind, e.item_id, e.channel) for e in stored] == [
        ("return", line.product.sku, "orders") for line in order.items
    ]
    # A refused return changes nothing and records nothing.
    with pytest.raises(InvalidStateChange, match="cannot be returned"):
        orders.request_return("YX2611010001", "尺码不合适", TODAY)
    await feed.drain()
    assert len(await recommend.events_of(order.customer_id)) == len(order.items)
    await recommend.train()
    returned = {line.product.sku for line in order.items}
    category = order.items[0].product.category
    ranked = await recommend.recommend(order.customer_id, k=20, filters=Filters(category=category))
    assert ranked
    assert not returned & {r.item.id for r in ranked}
    database.dispose()


def test_a_return_outside_an_event_loop_is_recorded_before_the_call_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command or script changing an order (no running loop): recorded synchronously."""
    monkeypatch.setattr(OrderService, "today", lambda self: TODAY)
    orders = OrderService(tmp_path / "orders.db")
    database = Database(f"sqlite:///{tmp_path / 'hub.db'}")
    recommend = RecommendService(database)

    async def prepare() -> None:
        await database.migrate()
        await recommend.import_catalogue(CATALOGUE)

    asyncio.run(prepare())
    orders.subscribe(OrderEvents(recommend))
    order = orders.request_return("YX2611010001", "尺码不合适", TODAY)
    stored = asyncio.run(recommend.events_of(order.customer_id))
    assert [(e.kind, e.item_id) for e in stored] == [
        ("return", line.product.sku) for line in order.items
    ]
    database.dispose()


async def test_a_customers_feedback_is_exported_and_erased_with_their_data(
    hub: Hub, widget: tuple[socketio.AsyncClient, str]
) -> None:
    client, session_id = widget
    customer = f"webchat:{session_id}"
    assert await report(client, event="dismiss", item_id=ITEM) == {"ok": True}
    recommendations = hub.recommendations
    exported = await recommendations.export_customer(customer)
    assert exported["profile"] is not None
    assert [(e["kind"], e["item_id"]) for e in exported["events"]] == [("dismiss", ITEM)]  # type: ignore[attr-defined]
    # The privacy module's erasure of the web-chat customer reaches them (the hub's wiring).
    services: HubServices = hub.app.state.services
    erased = await services.personal_data.erase(
        Subject("webchat", session_id), actor_kind="admin", actor_id="admin", reason="request"
    )
    assert erased.others["recommendations"] == {"events": 1, "profiles": 1}
    assert await recommendations.events_of(customer) == []
    assert await recommendations.profile(customer) is None
