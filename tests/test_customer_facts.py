"""What the hub tells agents and the handoff triggers about a customer: identity, VIP, orders."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import CustomerFacts, Settings, SharedKnowledge, order_service
from bot.conversations import customer_id


@pytest.fixture
def sources(tmp_path: Path) -> CustomerFacts:
    settings = Settings(var_dir=tmp_path)
    return CustomerFacts(order_service(settings), SharedKnowledge(settings))


def test_only_the_shops_back_end_vouches_for_a_customer() -> None:
    assert customer_id("rest", "customer-002") == "customer-002"
    assert customer_id("webchat", "customer-002") is None


async def test_gold_and_platinum_members_are_vips(sources: CustomerFacts) -> None:
    assert await sources.is_vip("rest", "customer-002")  # gold
    assert await sources.is_vip("rest", "customer-005")  # platinum
    assert not await sources.is_vip("rest", "customer-001")  # silver
    assert not await sources.is_vip("rest", "nobody")


async def test_orders_named_and_of_the_account(sources: CustomerFacts) -> None:
    own = await sources.orders("rest", "customer-001", [], "zh")
    assert own
    assert all(set(o) >= {"id", "status", "total", "items", "phone_last4"} for o in own)
    assert all(len(o["phone_last4"]) == 4 for o in own)
    assert "phone" not in own[0]

    named = await sources.orders("rest", "customer-001", ["yx2611010012", "YX0000000000"], "en")
    assert named[0]["id"] == "YX2611010012"  # the one the conversation is about comes first
    assert [o["id"] for o in named[1:]] == [o["id"] for o in own]

    # A browser session named after a customer sees only the order it named.
    anonymous = await sources.orders("webchat", "customer-001", ["YX2611010012"], "zh")
    assert [o["id"] for o in anonymous] == ["YX2611010012"]
