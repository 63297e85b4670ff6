"""Messages NLU is unsure of that the words settle: an order id with little else outside a form
starts the task its words name (the order's status when they name none), and "预算不限" answers
the recommendation form's budget question. Actions run directly with rasa-sdk's tracker and
dispatcher on a real order store.

Also: "推荐个耳机，预算不限" fills the budget from the request itself, and the second fallback stage
starts an order's task as the first one does."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions import ActionServices
from actions._context import order_request_task
from actions.knowledge import ActionAnswerFromKnowledge
from actions.service import ActionFallbackSuggest, ValidateRecommendForm
from bot.dialogue import means_any_budget, names_any_budget, order_message_task, other_requests


@pytest.fixture(autouse=True)
def order_store(action_services: ActionServices) -> ActionServices:
    return action_services  # the services the wiring gives the action server


def tracker(text: str, intent: str, slots: dict[str, Any], loop: str | None = None) -> Tracker:
    parse = {"intent": {"name": intent}, "entities": [], "text": text, "metadata": {}}
    events = [{"event": "user", "text": text, "parse_data": parse, "metadata": {}}]
    return Tracker(
        "visitor", {"language": "zh", **slots}, parse, events, False, None,
        {"name": loop} if loop else {}, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "task"),
    [
        ("订单YX2611010007", "order_status_form"),
        ("YX2611010007", "order_status_form"),
        ("order YX2611010007", "order_status_form"),
        ("my order no. YX2611010007 please", "order_status_form"),
        ("trak YX2611010007", "order_status_form"),
        ("staus yx 2611 010 007", "order_status_form"),
        ("YX2611010025收货地址改为上海市徐汇区漕溪北路88号", "address_form"),
        ("YX2611010025改地址到广州市天河区体育西路1号", "address_form"),
        ("please change YX2611010025's address to 北京市海淀区中关村大街1号", "address_form"),
        ("cancel YX2611010002", "cancel_form"),
        ("YX2611010007 退货", "return_form"),
        # Other words are NLU's and the knowledge base's to read.
        ("YX2611010007 我要投诉你们的快递员", None),
        ("YX2611010007 为什么还没发货呢？", None),
        ("YX2611010007 hello there my friend", None),
        ("YX2611010007 推荐个耳机", None),
        # Two orders: which one for what is not for the words to guess.
        ("YX2611010007 YX2611010008", None),
        ("你好", None),
    ],
)
async def test_an_order_id_outside_a_form_starts_the_task_its_words_name(
    text: str, task: str | None
) -> None:
    state = tracker(text, "nlu_fallback", {})
    assert order_request_task(state) == task
    if task is not None:
        # The fallback starts the task instead of answering from the knowledge base.
        events = await ActionFallbackSuggest().run(CollectingDispatcher(), state, {})
        assert events == [FollowupAction(task)]


async def test_inside_a_form_an_order_id_is_the_forms_to_read() -> None:
    state = tracker("订单YX2611010007", "nlu_fallback", {}, loop="return_form")
    assert order_request_task(state) is None


def test_the_task_of_the_words_beside_an_order_id() -> None:
    assert order_message_task(" 收货地址改为上海市徐汇区漕溪北路88号") == "address_form"
    assert order_message_task("  ") == "order_status_form"


@pytest.mark.parametrize(
    ("text", "budget"),
    [
        ("预算不限", {"budget": "any"}),
        ("不限", {"budget": "any"}),
        ("多少钱都行", {"budget": "any"}),
        ("没有预算", {"budget": "any"}),
        ("no budget limit", {"budget": "any"}),
        ("any price is fine", {"budget": "any"}),
        ("price doesn't matter", {"budget": "any"}),
        # An amount is the regex entity's to read; anything else is no answer.
        ("不超过500，多少钱都行", {}),
        ("两千以内", {}),
        ("你们有实体店吗", {}),
        ("<script>alert(1)</script>", {}),
    ],
)
async def test_no_budget_limit_fills_the_budget_with_any(text: str, budget: dict[str, Any]) -> None:
    state = tracker(
        text, "nlu_fallback", {"product_category": "耳机", "requested_slot": "budget"},
        loop="recommend_form",
    )  # fmt: skip
    form = ValidateRecommendForm()
    assert await form.extract_budget(CollectingDispatcher(), state, {}) == budget
    if budget:
        assert await form.validate_budget("any", CollectingDispatcher(), state, {}) == budget


async def test_no_limit_fills_only_the_budget_question() -> None:
    state = tracker("不限", "inform", {"requested_slot": "product_category"}, loop="recommend_form")
    assert await ValidateRecommendForm().extract_budget(CollectingDispatcher(), state, {}) == {}
    assert means_any_budget("不限") is True


@pytest.mark.parametrize(
    ("text", "others"),
    [
        (
            "who pays return shipping? and where is YX2611010007",
            ["who pays return shipping", "where is YX2611010007"],
        ),
        ("运费谁出？帮我查下YX2611010007", ["运费谁出", "帮我查下YX2611010007"]),
        ("where is my order?", []),
    ],
)
def test_a_question_mark_ends_one_request(text: str, others: list[str]) -> None:
    assert other_requests(text) == others


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("推荐个耳机，预算不限", True),
        ("帮我推荐个手机，多少钱都行", True),
        ("推荐一款耳机 价格无所谓", True),
        ("recommend headphones, no budget limit", True),
        ("suggest a laptop, the price doesn't matter", True),
        ("recommend a phone, money is no object", True),
        # No word for the budget beside "不限": the colour, the brand, anything else.
        ("推荐个耳机", False),
        ("推荐个耳机，颜色不限", False),
        ("不限", False),
        ("recommend headphones, any colour, it doesn't matter", False),
        # An amount says the budget matters.
        ("推荐个耳机，预算不限，500以内最好", False),
        ("recommend headphones under 300, no budget limit on cables", False),
    ],
)
def test_a_request_names_any_budget_only_in_words_for_the_budget(text: str, says: bool) -> None:
    assert names_any_budget(text) is says


@pytest.mark.parametrize(
    ("text", "requested", "budget"),
    [
        # The request itself, as the form starts (nothing asked yet).
        ("推荐个耳机，预算不限", None, {"budget": "any"}),
        ("recommend headphones, no budget limit", None, {"budget": "any"}),
        # The answer to the category question.
        ("耳机吧，价格无所谓", "product_category", {"budget": "any"}),
        ("推荐个耳机", None, {}),
        ("不限", "product_category", {}),
    ],
)
async def test_no_budget_limit_in_another_message_of_the_form_fills_the_budget(
    text: str, requested: str | None, budget: dict[str, Any]
) -> None:
    state = tracker(
        text, "ask_recommendation", {"requested_slot": requested}, loop="recommend_form"
    )
    assert await ValidateRecommendForm().extract_budget(CollectingDispatcher(), state, {}) == budget


async def test_a_budget_already_given_is_kept() -> None:
    state = tracker(
        "预算不限", "inform", {"requested_slot": "product_category", "budget": "500以内"},
        loop="recommend_form",
    )  # fmt: skip
    assert await ValidateRecommendForm().extract_budget(CollectingDispatcher(), state, {}) == {}


@pytest.mark.parametrize(
    ("text", "task"),
    [("YX2611010001", "order_status_form"), ("cancel YX2611010002", "cancel_form")],
)
async def test_the_second_fallback_stage_starts_the_task_an_order_id_asks_for(
    text: str, task: str
) -> None:
    # After "did you mean…?" buttons, the rule's knowledge answer reads an unclear message
    # that names an order as the first stage does: the order's task, not a policy text.
    state = tracker(text, "nlu_fallback", {})
    dispatcher = CollectingDispatcher()
    assert await ActionAnswerFromKnowledge().run(dispatcher, state, {}) == [FollowupAction(task)]
    assert dispatcher.messages == []
    for thread in threading.enumerate():  # the action's knowledge warm-up, before teardown
        if thread.name == "knowledge-warm-up":
            thread.join()
