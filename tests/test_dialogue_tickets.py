"""Ticket actions run directly with rasa-sdk's tracker and dispatcher, on a real hub database."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import ActionServices
from actions.tickets import (
    MAX_LOOKUP_FAILURES,
    ActionAddTicketInfo,
    ActionOpenTicket,
    ActionTicketStatus,
    ValidateTicketForm,
    ValidateTicketInfoForm,
    category_from,
    contact_from,
)
from bot.app import PROJECT_ROOT
from bot.tickets import TicketChanges, TicketDraft, TicketQuery, TicketView

ME = "webchat:session-me"
SOMEONE_ELSE = "customer-042"
TICKET_FORM_SLOTS = ["ticket_category", "ticket_description", "ticket_order_id", "ticket_contact"]


def user(intent: str, text: str) -> dict[str, Any]:
    return {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent}, "entities": [], "text": text},
    }


def tracker(
    events: list[dict[str, Any]], slots: dict[str, Any] | None = None, language: str = "zh"
) -> Tracker:
    latest = dict(events[-1]["parse_data"]) if events else {}
    latest["metadata"] = {"customer_key": ME, "channel": "webchat"}
    return Tracker(
        "conversation-7",
        {"language": language, **(slots or {})},
        latest,
        events,
        False,
        None,
        {},
        None,
    )


def asked(slot: str, intent: str, text: str, **slots: Any) -> Tracker:
    """The customer's answer to the form's question for ``slot``."""
    return tracker([user(intent, text)], {"requested_slot": slot, **slots})


async def opened(services: ActionServices, customer: str, **changes: Any) -> TicketView:
    draft = TicketDraft(customer_id=customer, subject="耳机没声音", description="左耳没声音")
    view, _ = await services.tickets.create(draft, actor="test")
    if changes:
        view = await services.tickets.update(view.number, TicketChanges(**changes), actor="agent")
    return view


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("退货退款", "return_refund"),
        ("物流配送", "delivery"),
        ("订单问题", "order"),
        ("投诉", "complaint"),
        ("return or refund", "return_refund"),
        ("Something else", "other"),
        ("My ACCOUNT", "account"),
        ("今天天气不错", None),
    ],
)
def test_categories_are_read_from_the_answer(text: str, category: str | None) -> None:
    assert category_from(text) == category


@pytest.mark.parametrize(
    ("text", "contact"),
    [
        ("在这里", "chat"),
        ("邮件", "email"),
        ("mail me at a.b@example.com", "email"),
        ("打电话 138 0013 8001", "phone"),
        ("here in the chat", "chat"),
        ("随便", None),
    ],
)
def test_contact_preference_is_read_from_the_answer(text: str, contact: str | None) -> None:
    assert contact_from(text) == contact


async def test_the_form_asks_for_an_order_only_when_the_category_is_about_one() -> None:
    form = ValidateTicketForm()
    dispatcher = CollectingDispatcher()
    for category, expected in [
        ("delivery", TICKET_FORM_SLOTS),
        ("product", [s for s in TICKET_FORM_SLOTS if s != "ticket_order_id"]),
        (None, [s for s in TICKET_FORM_SLOTS if s != "ticket_order_id"]),
    ]:
        state = tracker([], {"ticket_category": category})
        assert await form.required_slots(TICKET_FORM_SLOTS, dispatcher, state, {}) == expected


@pytest.mark.parametrize(
    ("slot", "text", "value", "complaint"),
    [
        ("ticket_category", "物流配送", "delivery", None),
        ("ticket_category", "今天天气不错", None, "utter_ticket_category_invalid"),
        ("ticket_description", "快递显示签收但我没收到", "快递显示签收但我没收到", None),
        ("ticket_description", "嗯", None, "utter_ticket_description_too_short"),
        ("ticket_order_id", "订单号 yx 2611 010 001", "YX2611010001", None),
        ("ticket_order_id", "没有", "none", None),
        ("ticket_order_id", "None.", "none", None),
        ("ticket_order_id", "我忘了", None, "utter_ticket_order_id_invalid"),
        ("ticket_contact", "邮件 a.b@example.com", "email a.b@example.com", None),
        ("ticket_contact", "随便", None, "utter_ticket_contact_invalid"),
    ],
)
async def test_each_answer_fills_its_slot_or_is_asked_again(
    slot: str, text: str, value: str | None, complaint: str | None
) -> None:
    dispatcher = CollectingDispatcher()
    extract = getattr(ValidateTicketForm(), f"extract_{slot}")
    assert await extract(dispatcher, asked(slot, "inform", text), {}) == {slot: value}
    assert [m["response"] for m in dispatcher.messages] == ([complaint] if complaint else [])


async def test_an_answer_to_another_question_fills_nothing() -> None:
    form = ValidateTicketForm()
    state = asked("ticket_contact", "inform", "退货退款")
    assert await form.extract_ticket_category(CollectingDispatcher(), state, {}) == {}


async def test_the_form_opens_the_customers_ticket(action_services: ActionServices) -> None:
    dispatcher = CollectingDispatcher()
    slots = {
        "ticket_category": "delivery",
        "ticket_description": "快递显示已签收，但我没有收到包裹",
        "ticket_order_id": "YX2611010001",
        "ticket_contact": "email a.b@example.com",
    }
    result = await ActionOpenTicket().run(
        dispatcher, tracker([user("inform", "邮件 a.b@example.com")], slots), {}
    )
    assert result == [
        {"event": "slot", "name": slot, "value": None, "timestamp": None} for slot in slots
    ]
    (ticket,) = (await action_services.tickets.list_tickets(TicketQuery())).items
    assert (ticket.customer_id, ticket.channel, ticket.conversation_id, ticket.language) == (
        ME,
        "webchat",
        "conversation-7",
        "zh",
    )
    assert (ticket.category, ticket.priority, ticket.status) == ("delivery", "P3", "new")
    assert ticket.subject == "快递显示已签收，但我没有收到包裹"
    assert ticket.description == (
        "快递显示已签收，但我没有收到包裹\nOrder: YX2611010001\nContact: email a.b@example.com"
    )
    assert set(ticket.tags) == {"contact:email", "order:yx2611010001"}  # tags are lower case
    (message,) = dispatcher.messages
    assert ticket.first_response_due_at is not None
    due = ticket.first_response_due_at.astimezone(action_services.tickets.zone)
    assert message == {
        **message,
        "response": "utter_ticket_opened",
        "number": ticket.number,
        "priority": "P3",
        "due": due.strftime("%Y-%m-%d %H:%M"),
    }


async def test_stopping_the_form_opens_nothing(action_services: ActionServices) -> None:
    dispatcher = CollectingDispatcher()
    slots = {"ticket_category": "product", "ticket_description": "耳机左边没有声音"}
    await ActionOpenTicket().run(dispatcher, tracker([user("stop", "算了")], slots), {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_form_stopped"]
    assert (await action_services.tickets.list_tickets(TicketQuery())).items == ()


async def test_status_of_the_customers_own_ticket(action_services: ActionServices) -> None:
    mine = await opened(action_services, ME, status="open")
    await action_services.tickets.reply(mine.number, author="agent-1", text="我们已联系仓库补发")
    dispatcher = CollectingDispatcher()
    state = tracker([user("ticket_status", f"工单 {mine.number.lower()} 进度")])
    assert await ActionTicketStatus().run(dispatcher, state, {}) == []
    status, latest = dispatcher.messages
    assert (status["response"], status["number"], status["status"]) == (
        "utter_ticket_status",
        mine.number,
        "处理中",
    )
    assert (latest["response"], latest["text"]) == (
        "utter_ticket_latest_reply",
        "我们已联系仓库补发",
    )


async def test_someone_elses_ticket_reads_like_an_unknown_one_and_is_counted(
    action_services: ActionServices,
) -> None:
    theirs = await opened(action_services, SOMEONE_ELSE)
    mine = await opened(action_services, ME)
    unknown = "T-20200101-0099"
    answers = []
    failures = 0
    for number in (theirs.number, unknown):
        dispatcher = CollectingDispatcher()
        state = tracker(
            [user("ticket_status", f"{number} 怎么样了")], {"ticket_lookup_failures": failures}
        )
        (counted,) = await ActionTicketStatus().run(dispatcher, state, {})
        failures = int(counted["value"])
        (message,) = dispatcher.messages
        answers.append({**message, "number": "…"})
    assert answers[0] == answers[1]
    assert answers[0]["response"] == "utter_ticket_not_found"
    assert failures == 2
    # The third miss ends look-ups by number, even for the customer's own ticket afterwards.
    dispatcher = CollectingDispatcher()
    state = tracker([user("ticket_status", "T-20200101-0098")], {"ticket_lookup_failures": 2})
    (counted,) = await ActionTicketStatus().run(dispatcher, state, {})
    assert counted["value"] == MAX_LOOKUP_FAILURES
    dispatcher = CollectingDispatcher()
    state = tracker(
        [user("ticket_status", mine.number)], {"ticket_lookup_failures": MAX_LOOKUP_FAILURES}
    )
    assert await ActionTicketStatus().run(dispatcher, state, {}) == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_too_many_attempts"]
    # Every miss is in the audit log, with the number tried and never what else was typed.
    assert action_services.audit is not None
    records = await action_services.audit.list(actor_kind="customer")
    assert sorted(r.reason for r in records if r.action == "ticket.lookup_failed") == sorted(
        f"no ticket of theirs numbered {n}" for n in (theirs.number, unknown, "T-20200101-0098")
    )


async def test_without_a_number_only_the_customers_own_tickets_are_listed(
    action_services: ActionServices,
) -> None:
    async def status() -> list[dict[str, Any]]:
        dispatcher = CollectingDispatcher()
        await ActionTicketStatus().run(
            dispatcher, tracker([user("ticket_status", "我的工单进度")]), {}
        )
        return list(dispatcher.messages)

    await opened(action_services, SOMEONE_ELSE)
    assert [m["response"] for m in await status()] == ["utter_ticket_none"]
    first = await opened(action_services, ME)
    (only,) = await status()
    assert (only["response"], only["number"]) == ("utter_ticket_status", first.number)
    second = await opened(action_services, ME)
    (listing,) = await status()
    assert listing["response"] == "utter_ticket_list"
    assert first.number in listing["tickets"]
    assert second.number in listing["tickets"]
    assert listing["tickets"].count("T-") == 2


async def test_adding_information_to_the_only_open_ticket(action_services: ActionServices) -> None:
    mine = await opened(action_services, ME, status="pending_customer")
    form = ValidateTicketInfoForm()
    start = tracker([user("add_ticket_info", "我要补充工单信息")])
    found = await form.extract_ticket_number(CollectingDispatcher(), start, {})
    assert found == {"ticket_number": mine.number}
    checked = await form.validate_ticket_number(mine.number, CollectingDispatcher(), start, {})
    assert checked == {"ticket_number": mine.number}
    answer = asked("ticket_info", "inform", "快递单号是 SF1234567890", ticket_number=mine.number)
    info = await form.extract_ticket_info(CollectingDispatcher(), answer, {})
    assert info == {"ticket_info": "快递单号是 SF1234567890"}
    dispatcher = CollectingDispatcher()
    state = tracker(
        [user("inform", "快递单号是 SF1234567890")],
        {"ticket_number": mine.number, **info},
    )
    await ActionAddTicketInfo().run(dispatcher, state, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_info_added"]
    detail = await action_services.tickets.get(mine.number, customer_id=ME)
    assert [(e.kind, e.author, e.text) for e in detail.entries] == [
        ("customer", ME, "快递单号是 SF1234567890")
    ]
    assert detail.ticket.status == "open"  # it waited on the customer, who has answered


async def test_information_cannot_go_to_someone_elses_ticket(
    action_services: ActionServices,
) -> None:
    theirs = await opened(action_services, SOMEONE_ELSE)
    dispatcher = CollectingDispatcher()
    state = asked("ticket_number", "inform", theirs.number)
    result = await ValidateTicketInfoForm().validate_ticket_number(
        theirs.number, dispatcher, state, {}
    )
    assert result == {"ticket_number": None, "ticket_lookup_failures": 1.0}
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_not_found"]
    # Even a forged slot cannot write to it: the service checks the owner again.
    dispatcher = CollectingDispatcher()
    forged = tracker(
        [user("inform", "我的补充")], {"ticket_number": theirs.number, "ticket_info": "x" * 8}
    )
    await ActionAddTicketInfo().run(dispatcher, forged, {})
    assert "utter_ticket_info_added" not in [m["response"] for m in dispatcher.messages]
    detail = await action_services.tickets.get(theirs.number)
    assert detail.entries == ()


async def test_a_closed_ticket_takes_no_more_information(action_services: ActionServices) -> None:
    mine = await opened(action_services, ME, status="closed")
    dispatcher = CollectingDispatcher()
    state = asked("ticket_number", "inform", mine.number)
    result = await ValidateTicketInfoForm().validate_ticket_number(
        mine.number, dispatcher, state, {}
    )
    assert result == {"ticket_number": None}
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_closed"]


async def test_too_many_misses_end_the_add_information_form() -> None:
    form = ValidateTicketInfoForm()
    state = tracker([user("inform", "T-20200101-0001")], {"ticket_lookup_failures": 3})
    slots = ["ticket_number", "ticket_info"]
    assert await form.required_slots(slots, CollectingDispatcher(), state, {}) == []
    dispatcher = CollectingDispatcher()
    await ActionAddTicketInfo().run(dispatcher, state, {})
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_too_many_attempts"]


@pytest.mark.parametrize(
    "name", ["utter_ticket_too_many_attempts", "utter_phone_attempts_exhausted"]
)
def test_when_verification_stops_a_human_is_offered_with_a_button(name: str) -> None:
    """After too many wrong ticket numbers or phone endings the customer is offered a human with
    one tap, in both languages (not only told to type "human")."""
    variants = [
        variant
        for path in (PROJECT_ROOT / "bot" / "domain").glob("*.yml")
        for variant in (
            yaml.safe_load(path.read_text(encoding="utf-8")).get("responses") or {}
        ).get(name, [])
    ]
    assert len(variants) == 2  # zh and en
    for variant in variants:
        assert [b["payload"] for b in variant.get("buttons") or []] == ["/request_human"]
