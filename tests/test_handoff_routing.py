from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.handoff import (
    AgentLoad,
    Assignment,
    QueuedRequest,
    handoff_reason,
    position_of,
    priority,
    queue_order,
    route,
    skill_for_intent,
)

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def request(
    id: int,
    reason: str = "customer_request",
    *,
    language: str = "zh",
    skill: str = "orders",
    vip: bool = False,
    minutes_ago: float = 0,
) -> QueuedRequest:
    return QueuedRequest(id, reason, language, skill, vip, NOW - timedelta(minutes=minutes_ago))


def agent(
    id: int,
    *,
    skills: tuple[str, ...] = ("orders",),
    languages: tuple[str, ...] = ("zh", "en"),
    max_chats: int = 2,
    active: int = 0,
    online: bool = True,
    idle_minutes: float = 0,
) -> AgentLoad:
    return AgentLoad(
        id,
        online,
        frozenset(skills),
        frozenset(languages),
        max_chats,
        active,
        NOW - timedelta(minutes=idle_minutes),
    )


def test_skill_follows_the_intent() -> None:
    assert skill_for_intent("request_return_refund") == "refunds"
    assert skill_for_intent("check_order_status") == "orders"
    assert skill_for_intent("ask_recommendation") == "sales"
    assert skill_for_intent("greet") == "general"
    assert skill_for_intent(None) == "general"


def test_priority_adds_reason_vip_and_waiting_time() -> None:
    assert priority(request(1), NOW) == 1
    assert priority(request(1, "angry"), NOW) == 3
    assert priority(request(1, vip=True), NOW) == 3
    assert priority(request(1, minutes_ago=6), NOW) == 2
    assert priority(request(1, minutes_ago=60), NOW) == 3  # aging is capped at +2


def test_queue_is_priority_then_oldest_first() -> None:
    queue = [
        request(1, minutes_ago=3),
        request(2, "angry", minutes_ago=1),
        request(3, minutes_ago=4),
        request(4, vip=True, minutes_ago=0),
    ]
    assert [r.id for r in queue_order(queue, NOW)] == [2, 4, 3, 1]


def test_routing_respects_skill_language_and_load() -> None:
    queue = [
        request(1, skill="refunds", minutes_ago=5),
        request(2, language="en", minutes_ago=4),
        request(3, minutes_ago=3),
        request(4, minutes_ago=2),
        request(5, minutes_ago=1),
    ]
    agents = [
        agent(10, skills=("orders",), languages=("zh",), max_chats=2),
        agent(11, skills=("refunds", "orders"), languages=("zh", "en"), max_chats=1, active=0),
        agent(12, skills=("orders",), online=False),
    ]
    # 1 (refunds) can only go to 11; 2 (en) needs 11 too but 11 is then full; 3 and 4 fill 10;
    # 5 finds nobody free and waits.
    assert route(queue, agents, NOW) == [Assignment(1, 11), Assignment(3, 10), Assignment(4, 10)]


def test_least_loaded_then_longest_idle_agent_gets_the_request() -> None:
    agents = [
        agent(10, max_chats=3, active=2),
        agent(11, max_chats=3, active=0, idle_minutes=1),
        agent(12, max_chats=3, active=0, idle_minutes=9),
    ]
    assert route([request(1)], agents, NOW) == [Assignment(1, 12)]


def test_general_skill_agents_take_anything() -> None:
    assert route([request(1, skill="technical")], [agent(10, skills=("general",))], NOW) == [
        Assignment(1, 10)
    ]


def test_position_and_wait_estimate() -> None:
    queue = [request(i, minutes_ago=10 - i) for i in range(1, 6)] + [request(9, language="en")]
    busy = [agent(10, max_chats=2, active=2)]
    position = position_of(4, queue, busy, NOW, handle_time=timedelta(minutes=4))
    assert position.position == 4  # the English request competes for no one's place
    assert position.estimated_wait == timedelta(minutes=8)  # 4 ahead / 2 slots → 2 waves
    assert position.agents_available == 1
    free = [agent(10, max_chats=3, active=0)]
    assert position_of(2, queue, free, NOW).estimated_wait == timedelta(0)
    nobody = position_of(1, queue, [], NOW, handle_time=timedelta(minutes=5))
    assert (nobody.position, nobody.agents_available) == (1, 0)


@pytest.mark.parametrize(
    ("requested", "angry", "score", "negative", "vip", "expected", "anxious"),
    [
        ("severe_complaint", False, 0.5, False, False, "severe_complaint", False),
        ("repeated_fallback", False, 0.0, False, False, "repeated_fallback", False),
        (
            "made_up",
            False,
            0.0,
            False,
            False,
            "customer_request",
            False,
        ),  # unknown: a plain request
        (None, True, 0.0, True, False, "angry", False),
        (None, False, -0.7, True, False, "negative_sentiment", False),
        (None, False, -0.6, True, False, "negative_sentiment", False),  # at the threshold
        (None, False, -0.3, True, True, "vip", False),
        (None, False, -0.3, True, False, None, False),
        (None, False, 0.4, False, True, None, False),  # a content VIP stays with the bot
        # Worried, in a hurry: the bot reassures and carries on, unless they ask or get angry.
        (None, False, -0.8, True, False, None, True),
        (None, True, -0.8, True, False, "angry", True),
        ("customer_request", False, -0.8, True, False, "customer_request", True),
        (None, False, -0.3, True, True, "vip", True),
    ],
)
def test_one_rule_decides_why_a_conversation_goes_to_a_human(
    requested: str | None,
    angry: bool,
    score: float,
    negative: bool,
    vip: bool,
    expected: str | None,
    anxious: bool,
) -> None:
    reason = handoff_reason(
        requested,
        angry=angry,
        score=score,
        negative=negative,
        vip=vip,
        threshold=-0.6,
        anxious=anxious,
    )
    assert reason == expected
