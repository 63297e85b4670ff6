"""Tickets from the dialogue: open one (``ticket_form``), a ticket's status, adding information.

Only the customer's own tickets are named. A number that is unknown and a number that is someone
else's get the same answer, and the numbers that matched nothing are counted: after
``MAX_LOOKUP_FAILURES`` the bot stops looking numbers up in this conversation (a human can
still help), so numbers cannot be probed one after another.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions._context import (
    audit_failure,
    channel_of,
    customer_key_of,
    entity_values,
    language_of,
    sentiment_of,
    ticket_service,
)
from bot.language import Language
from bot.orders import order_ids_in
from bot.tickets import (
    InvalidStatusChange,
    TicketDraft,
    TicketError,
    TicketNotFound,
    TicketQuery,
    TicketView,
    status_name,
    ticket_numbers_in,
)

logger = logging.getLogger(__name__)

MAX_LOOKUP_FAILURES = 3
LISTED_TICKETS = 5
SUBJECT_CHARS = 60
MIN_DESCRIPTION_CHARS = 4
MAX_DESCRIPTION_CHARS = 2000
# Categories whose tickets ask for the order they are about.
ORDER_CATEGORIES = frozenset({"order", "return_refund", "delivery", "payment"})
NO_ORDER = "none"
FORM_SLOTS = ("ticket_category", "ticket_description", "ticket_order_id", "ticket_contact")

# Words naming each category in the customer's answer, checked in this order (so "退货退款"
# is a return and "订单问题" an order). The buttons send these words too.
_CATEGORY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("return_refund", ("退货", "退款", "退换", "return", "refund")),
    ("delivery", ("物流", "配送", "快递", "送货", "发货", "delivery", "shipping", "parcel")),
    ("payment", ("支付", "付款", "扣款", "扣费", "payment", "pay", "charged")),
    ("account", ("账户", "账号", "登录", "密码", "account", "login", "password")),
    ("complaint", ("投诉", "complain")),
    ("product", ("商品", "产品", "质量", "product", "item", "quality")),
    ("order", ("订单", "order")),
    ("other", ("其他", "其它", "别的", "other", "something else")),
)
_CONTACT_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("email", ("邮件", "邮箱", "email", "e-mail", "mail")),
    ("phone", ("电话", "手机", "phone", "call")),
    ("chat", ("这里", "在线", "聊天", "here", "chat")),
)
_NO_ORDER_WORDS = re.compile(r"^(?:没有|没|无|不需要|不用|none|no|nope|n/a|no order\b.*)[。.!！]*$")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<!\d)1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)")


def _words_choice(text: str, table: tuple[tuple[str, tuple[str, ...]], ...]) -> str | None:
    folded = text.casefold()
    for choice, words in table:
        if any(word in folded for word in words):
            return choice
    return None


def category_from(text: str) -> str | None:
    """The ticket category the customer's answer names, or None."""
    return _words_choice(text, _CATEGORY_WORDS)


def contact_from(text: str) -> str | None:
    """How the customer wants to be contacted ("chat", "email", "phone"), or None."""
    if _EMAIL.search(text):
        return "email"
    if _PHONE.search(text):
        return "phone"
    return _words_choice(text, _CONTACT_WORDS)


def _latest_text(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("text") or "").strip()


def _fresh(tracker: Tracker) -> bool:
    """Whether nothing has answered the customer's latest message yet (a form re-run after a
    digression must not take an old message as the answer)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return True
        if event.get("event") == "bot":
            return False
    return False


def _answer_to(tracker: Tracker, slot: str) -> str | None:
    """The latest message, when it answers the question the form asked for ``slot``."""
    if tracker.get_slot("requested_slot") != slot or not _fresh(tracker):
        return None
    text = _latest_text(tracker)
    return text if text and not text.startswith("/") else None


def _stopped(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Whether the customer stopped the form ("算了"); they are told it is dropped."""
    intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
    if intent != "stop":
        return False
    dispatcher.utter_message(response="utter_form_stopped")
    return True


def _when(moment: datetime | None, tracker: Tracker) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(ticket_service().zone).strftime("%Y-%m-%d %H:%M")


def _failures(tracker: Tracker) -> int:
    value = tracker.get_slot("ticket_lookup_failures")
    return int(value) if isinstance(value, (int, float)) else 0


def _numbers(tracker: Tracker) -> list[str]:
    found = ticket_numbers_in(_latest_text(tracker))
    for value in entity_values(tracker, "ticket_id"):
        found += [n for n in ticket_numbers_in(value) if n not in found]
    return found


async def _own_ticket(tracker: Tracker, number: str) -> TicketView | None:
    """The customer's ticket ``number``; None when it is unknown or someone else's (the same)."""
    try:
        detail = await ticket_service().get(number, customer_id=customer_key_of(tracker))
    except TicketNotFound:
        logger.info(
            "A ticket number asked for in conversation %s matched none of the customer's",
            tracker.sender_id,
        )
        return None
    return detail.ticket


async def _failed(dispatcher: CollectingDispatcher, tracker: Tracker, number: str) -> SlotSet:
    """Tell the customer ``number`` is none of theirs, count the failure and audit it."""
    await audit_failure(
        tracker, "ticket.lookup_failed", f"no ticket of theirs numbered {number[:40]}"
    )
    failures = _failures(tracker) + 1
    if failures >= MAX_LOOKUP_FAILURES:
        dispatcher.utter_message(response="utter_ticket_too_many_attempts")
    else:
        dispatcher.utter_message(response="utter_ticket_not_found", number=number)
    return SlotSet("ticket_lookup_failures", float(failures))


async def open_ticket(
    tracker: Tracker,
    *,
    category: str,
    description: str,
    tags: tuple[str, ...] = (),
    team: str = "general",
) -> TicketView:
    """Open a ticket for the customer of ``tracker``'s conversation, prioritized by the rules
    from the category, the text and the hub's sentiment of the latest message."""
    sentiment = sentiment_of(tracker)
    first_line = description.strip().splitlines()[0] if description.strip() else category
    subject = first_line if len(first_line) <= SUBJECT_CHARS else first_line[:SUBJECT_CHARS] + "…"
    draft = TicketDraft(
        customer_id=customer_key_of(tracker),
        subject=subject,
        description=description,
        category=category,
        channel=channel_of(tracker),
        conversation_id=str(tracker.sender_id),
        language=language_of(tracker),
        team=team,
        tags=tags,
        angry=sentiment.angry,
        sentiment=sentiment.score,
    )
    view, _created = await ticket_service().create(draft, actor="bot")
    return view


def tell_opened(dispatcher: CollectingDispatcher, tracker: Tracker, view: TicketView) -> None:
    """The ticket's number, priority and when the customer hears from us first."""
    dispatcher.utter_message(
        response="utter_ticket_opened",
        number=view.number,
        priority=view.priority,
        due=_when(view.first_response_due_at, tracker),
    )


class ValidateTicketForm(FormValidationAction):
    """Reads the category, description, order id (for order matters) and contact preference."""

    def name(self) -> str:
        return "validate_ticket_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        if tracker.get_slot("ticket_category") in ORDER_CATEGORIES:
            return domain_slots
        return [s for s in domain_slots if s != "ticket_order_id"]

    async def extract_ticket_category(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = _answer_to(tracker, "ticket_category")
        if text is None:
            return {}
        category = category_from(text)
        if category is None:
            dispatcher.utter_message(response="utter_ticket_category_invalid")
        return {"ticket_category": category}

    async def extract_ticket_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = _answer_to(tracker, "ticket_description")
        if text is None:
            return {}
        if len(text) < MIN_DESCRIPTION_CHARS:
            dispatcher.utter_message(response="utter_ticket_description_too_short")
            return {"ticket_description": None}
        return {"ticket_description": text[:MAX_DESCRIPTION_CHARS]}

    async def extract_ticket_order_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = _answer_to(tracker, "ticket_order_id")
        if text is None:
            return {}
        if _NO_ORDER_WORDS.match(text.casefold()):
            return {"ticket_order_id": NO_ORDER}
        ids = order_ids_in(text)
        if not ids:
            dispatcher.utter_message(response="utter_ticket_order_id_invalid")
            return {"ticket_order_id": None}
        return {"ticket_order_id": ids[0]}

    async def extract_ticket_contact(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = _answer_to(tracker, "ticket_contact")
        if text is None:
            return {}
        contact = contact_from(text)
        if contact is None:
            dispatcher.utter_message(response="utter_ticket_contact_invalid")
            return {"ticket_contact": None}
        address = _EMAIL.search(text) or _PHONE.search(text)
        return {"ticket_contact": f"{contact} {address.group(0)}" if address else contact}


class ActionOpenTicket(Action):
    """Opens the ticket the form collected and tells the customer its number and due time."""

    def name(self) -> str:
        return "action_open_ticket"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        reset = [SlotSet(slot, None) for slot in FORM_SLOTS]
        if _stopped(dispatcher, tracker):
            return reset
        category = str(tracker.get_slot("ticket_category") or "other")
        description = str(tracker.get_slot("ticket_description") or "").strip()
        if not description:
            return reset  # the form was left before the description; nothing to open
        order_id = tracker.get_slot("ticket_order_id")
        contact = str(tracker.get_slot("ticket_contact") or "chat")
        lines = [description]
        tags = [f"contact:{contact.split()[0]}"]
        if order_id and order_id != NO_ORDER:
            lines.append(f"Order: {order_id}")
            tags.append(f"order:{order_id}")
        if " " in contact:  # the address the customer gave with the preference
            lines.append(f"Contact: {contact}")
        try:
            view = await open_ticket(
                tracker, category=category, description="\n".join(lines), tags=tuple(tags)
            )
        except TicketError:
            logger.exception("Could not open a ticket for conversation %s", tracker.sender_id)
            dispatcher.utter_message(response="utter_ticket_unavailable")
            return reset
        tell_opened(dispatcher, tracker, view)
        return reset


class ActionTicketStatus(Action):
    """The status of the ticket the customer names, or a list of their own tickets."""

    def name(self) -> str:
        return "action_ticket_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        language = language_of(tracker)
        numbers = _numbers(tracker)
        if numbers:
            if _failures(tracker) >= MAX_LOOKUP_FAILURES:
                dispatcher.utter_message(response="utter_ticket_too_many_attempts")
                return []
            view = await _own_ticket(tracker, numbers[0])
            if view is None:
                return [await _failed(dispatcher, tracker, numbers[0])]
            await self._tell(dispatcher, tracker, view, language)
            return []
        page = await ticket_service().list_tickets(
            TicketQuery(customer_id=customer_key_of(tracker), limit=LISTED_TICKETS)
        )
        if not page.items:
            dispatcher.utter_message(response="utter_ticket_none")
        elif len(page.items) == 1:
            await self._tell(dispatcher, tracker, page.items[0], language)
        else:
            lines = "\n".join(
                f"• {t.number} {t.subject} — {status_name(language, t.status)}" for t in page.items
            )
            dispatcher.utter_message(response="utter_ticket_list", tickets=lines)
        return []

    @staticmethod
    async def _tell(
        dispatcher: CollectingDispatcher, tracker: Tracker, view: TicketView, language: Language
    ) -> None:
        dispatcher.utter_message(
            response="utter_ticket_status",
            number=view.number,
            subject=view.subject,
            status=status_name(language, view.status),
            updated=_when(view.updated_at, tracker),
        )
        detail = await ticket_service().get(view.number, customer_id=customer_key_of(tracker))
        replies = [e for e in detail.entries if e.kind == "reply"]
        if replies:
            dispatcher.utter_message(response="utter_ticket_latest_reply", text=replies[-1].text)


class ValidateTicketInfoForm(FormValidationAction):
    """Which of the customer's own tickets to add to, and what to add."""

    def name(self) -> str:
        return "validate_ticket_info_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        if not tracker.get_slot("ticket_number") and _failures(tracker) >= MAX_LOOKUP_FAILURES:
            return []  # the submit action says why; no more numbers are looked up
        return domain_slots

    async def extract_ticket_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        asked = tracker.get_slot("requested_slot")
        if tracker.get_slot("ticket_number") or not _fresh(tracker):
            return {}
        if asked not in (None, "ticket_number"):
            return {}
        numbers = _numbers(tracker)
        if numbers:
            return {"ticket_number": numbers[0]}
        if asked is None:
            # The request itself named no ticket: the customer's only open one is meant.
            page = await ticket_service().list_tickets(
                TicketQuery(
                    customer_id=customer_key_of(tracker),
                    statuses=("new", "open", "pending_customer", "reopened", "resolved"),
                    limit=2,
                )
            )
            if len(page.items) == 1:
                return {"ticket_number": page.items[0].number}
        return {}

    async def validate_ticket_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        number = str(value)
        if _failures(tracker) >= MAX_LOOKUP_FAILURES:
            dispatcher.utter_message(response="utter_ticket_too_many_attempts")
            return {"ticket_number": None}
        view = await _own_ticket(tracker, number)
        if view is None:
            failed = await _failed(dispatcher, tracker, number)
            return {"ticket_number": None, "ticket_lookup_failures": failed["value"]}
        if view.status == "closed":
            dispatcher.utter_message(response="utter_ticket_closed", number=number)
            return {"ticket_number": None}
        return {"ticket_number": number}

    async def extract_ticket_info(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = _answer_to(tracker, "ticket_info")
        if text is None:
            return {}
        if len(text) < MIN_DESCRIPTION_CHARS:
            dispatcher.utter_message(response="utter_ticket_description_too_short")
            return {"ticket_info": None}
        return {"ticket_info": text[:MAX_DESCRIPTION_CHARS]}


class ActionAddTicketInfo(Action):
    """Adds what the customer wrote to their ticket (a ticket waiting on them opens again)."""

    def name(self) -> str:
        return "action_add_ticket_info"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        reset = [SlotSet("ticket_number", None), SlotSet("ticket_info", None)]
        if _stopped(dispatcher, tracker):
            return reset
        number, info = tracker.get_slot("ticket_number"), tracker.get_slot("ticket_info")
        if not number:
            dispatcher.utter_message(response="utter_ticket_too_many_attempts")
            return reset
        if not info:
            return reset  # the form was left before the information came
        try:
            await ticket_service().add_info(
                str(number), customer_id=customer_key_of(tracker), text=str(info)
            )
        except InvalidStatusChange:
            dispatcher.utter_message(response="utter_ticket_closed", number=number)
            return reset
        except TicketNotFound:  # checked by the form; erased since
            return [*reset, await _failed(dispatcher, tracker, str(number))]
        dispatcher.utter_message(response="utter_ticket_info_added", number=number)
        return reset
