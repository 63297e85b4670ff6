"""The recommendation form's action on the real recommendation service (real SQLite, a model
trained on the demo catalogue): cards with reasons in the web-chat widget, a list on REST, the
form's category and budget respected, personalised ranking only with the customer's consent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions
from actions import ActionServices
from actions.service import ActionRecommend, ActionRecommendSimilar, similar_payload
from bot.app import (
    Settings,
    SharedKnowledge,
    ensure_recommendation_model,
    order_service,
    recommend_service,
    ticket_service,
)
from bot.privacy import AuditLog, ConsentService
from bot.recommend import CATALOGUE, Event
from bot.storage import Database

CUSTOMER = "customer-007"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActionServices]:
    """What the action server gets, on a hub database where the customer viewed and bought
    books, with a model trained the way `python -m bot run` trains the first one."""
    var_dir: Path = tmp_path_factory.mktemp("recommend-var")
    settings = Settings(_env_file=None, var_dir=var_dir)  # type: ignore[call-arg]
    database = Database(settings.hub_database_url)
    service = recommend_service(settings, database)

    async def history() -> None:
        await database.migrate()
        await service.import_catalogue(CATALOGUE)
        books = [i for i in (await service.catalogue()).values() if i.category == "books"]
        at = datetime(2026, 11, 1, tzinfo=UTC)
        for item in books[:2]:
            await service.record_event(Event(CUSTOMER, item.id, "purchase", at, channel="rest"))

    asyncio.run(history())
    ensure_recommendation_model(settings)
    knowledge = SharedKnowledge(settings)
    configured = ActionServices(
        orders=order_service(settings),
        knowledge=knowledge.get,
        tickets=ticket_service(settings, database),
        audit=AuditLog(database),
        recommend=recommend_service(settings, database),
        consents=ConsentService(database),
    )
    yield configured
    knowledge.close()
    database.dispose()


@pytest.fixture(autouse=True)
def configured(services: ActionServices) -> Iterator[ActionServices]:
    actions.configure(services)
    yield services
    actions.configure(None)


DOMAIN = {
    "responses": {
        name: [{"text": name}] for name in ("utter_task_recommend_form", "utter_offer_resume")
    }
}


def tracker(channel: str, slots: dict[str, Any], customer: str | None = None) -> Tracker:
    metadata = {
        "channel": channel,
        "customer_key": customer or f"{channel}:visitor",
        **({"customer_id": customer} if customer else {}),
    }
    latest = {"intent": {"name": "ask_recommendation"}, "text": "推荐", "metadata": metadata}
    events = [{"event": "user", "text": "推荐", "parse_data": latest, "metadata": metadata}]
    return Tracker("visitor", {"language": "zh", **slots}, latest, events, False, None, {}, None)


async def recommend(channel: str, slots: dict[str, Any], customer: str | None = None) -> Any:
    dispatcher = CollectingDispatcher()
    await ActionRecommend().run(dispatcher, tracker(channel, slots, customer), DOMAIN)
    return dispatcher.messages


async def test_web_chat_gets_cards_with_reasons_within_the_category_and_budget(
    configured: ActionServices,
) -> None:
    [message] = await recommend(
        "webchat", {"product_category": "electronics", "budget": "3000以内"}
    )
    assert message["response"] == "utter_recommendations_cards"
    cards = message["custom"]["attachment"]["payload"]["elements"]
    assert 1 <= len(cards) <= 3
    assert configured.recommend is not None
    catalogue = {i.name("zh"): i for i in (await configured.recommend.catalogue()).values()}
    for card in cards:
        name, price = card["title"].rsplit(" ¥", 1)
        assert catalogue[name].category == "electronics"
        assert float(price) <= 3000
        assert card["subtitle"]  # the reason, in Chinese
    assert len({card["title"] for card in cards}) == len(cards)


async def test_rest_gets_a_list_with_reasons() -> None:
    [message] = await recommend("rest", {"product_category": "books", "budget": "any"})
    assert message["response"] == "utter_recommendations"
    lines = message["products"].split("\n")
    assert 1 <= len(lines) <= 3
    assert all(line.startswith("• ") and "¥" in line and ": " in line for line in lines)


async def test_nothing_in_the_budget_says_so() -> None:
    [message] = await recommend("webchat", {"product_category": "electronics", "budget": "1元"})
    assert message["response"] == "utter_no_recommendations"


async def test_ranking_is_personalised_only_after_the_customer_consents(
    configured: ActionServices,
) -> None:
    slots = {"product_category": None, "budget": "any"}
    consents = configured.consents
    assert consents is not None
    before = await recommend("rest", slots, CUSTOMER)
    await consents.grant(
        CUSTOMER, "personalisation", "rest", actor_kind="customer", actor_id=CUSTOMER
    )
    after = await recommend("rest", slots, CUSTOMER)
    # Without consent: the most popular items of each category, whatever the customer did.
    assert [line.rsplit(": ", 1)[1] for line in before[0]["products"].split("\n")] == [
        "数码电子类热销商品",
        "家用电器类热销商品",
        "服装鞋帽类热销商品",
    ]
    # With it: the customer's own history counts (the books they bought).
    assert "与您看过的「" in after[0]["products"]


async def similar_to(item_id: str, channel: str = "webchat") -> list[dict[str, Any]]:
    metadata = {"channel": channel, "customer_key": f"{channel}:visitor"}
    latest = {
        "intent": {"name": "ask_recommendation"},
        "entities": [{"entity": "similar_to", "value": item_id}],
        "text": similar_payload(item_id),
        "metadata": metadata,
    }
    events = [{"event": "user", "text": latest["text"], "parse_data": latest}]
    state = Tracker("visitor", {"language": "zh"}, latest, events, False, None, {}, None)
    dispatcher = CollectingDispatcher()
    await ActionRecommendSimilar().run(dispatcher, state, DOMAIN)
    messages: list[dict[str, Any]] = dispatcher.messages
    return messages


async def test_more_like_this_shows_similar_items_without_the_dismissed_ones(
    configured: ActionServices,
) -> None:
    [message] = await recommend("webchat", {"product_category": "electronics", "budget": "any"})
    first = message["custom"]["attachment"]["payload"]["elements"][0]
    [more] = [b for b in first["buttons"] if b.get("type") == "postback"]
    assert more["title"] == "更多类似"
    recommend_service = configured.recommend
    assert recommend_service is not None
    catalogue = await recommend_service.catalogue()
    source = next(i for i in catalogue.values() if first["title"].startswith(i.name("zh")))
    assert more["payload"] == f'/ask_recommendation{{"similar_to":"{source.id}"}}'

    [similar] = await similar_to(source.id)
    cards = similar["custom"]["attachment"]["payload"]["elements"]
    assert cards
    assert all(c["subtitle"] == f"与「{source.name_zh}」相似" for c in cards)
    shown = [
        next(i for i in catalogue.values() if c["title"].startswith(i.name("zh"))) for c in cards
    ]
    assert source not in shown
    # The tap counted as interest; an item the customer dismissed is not offered again.
    events = await recommend_service.events_of("webchat:visitor")
    assert (events[-1].item_id, events[-1].kind) == (source.id, "click")
    await recommend_service.record_event(
        Event("webchat:visitor", shown[0].id, "dismiss", datetime.now(UTC), channel="webchat")
    )
    [again] = await similar_to(source.id)
    titles = [c["title"] for c in again["custom"]["attachment"]["payload"]["elements"]]
    assert not any(t.startswith(shown[0].name("zh")) for t in titles)


async def test_more_like_an_unknown_item_says_there_is_nothing() -> None:
    [message] = await similar_to("no-such-item")
    assert message["response"] == "utter_no_recommendations"
