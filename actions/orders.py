"""Order forms: status, return, cancellation and address change, with ownership checks.

The forms ask for an order id first. An order that is not the sender's is not revealed until
the customer gives the last four digits of the phone number on it; an id with no order behind it
is treated exactly like someone else's order (asked for the digits, which never match), so the
replies do not tell which ids exist. Wrong digits are counted per order id and per conversation,
each one written to the audit log. Whether the rest of a form is asked depends on the order
(``required_slots``); the submit actions say why when it is not.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions._context import (
    audit_failure,
    customer_id_of,
    entity_values,
    failures_today,
    language_of,
    order_request_task,
    order_service,
    phone_offer_of,
    response_text,
)
from actions.tasks import finish_task, offer_paused_task, slot_before_latest_message
from bot.orders import (
    InvalidAddress,
    InvalidOrderId,
    InvalidStateChange,
    Order,
    OrderNotFound,
    OrdersError,
    address_given,
    asks_other_address,
    carrier_name,
    gives_return_reason,
    names_wrong_order,
    phone_answer_from,
)

# Slots a form leaves behind; the order id stays so the customer need not repeat it.
FORM_SLOTS = (
    "phone_last4",
    "return_reason",
    "return_confirmed",
    "cancel_confirmed",
    "new_address",
    "address_confirmed",
)
# The audit action of a wrong phone ending (one record per try, in every conversation).
VERIFY_FAILED = "order.verify_failed"


# A "yes" that carries out a change (a return, a cancellation, a new address) must be a surer
# "yes" than the intent classifier's rejection asks of any message (threshold 0.3): mumbles and
# keyboard noise ("啊啊啊啊啊", "哦哦哦哦哦") land on `affirm` with 0.4-0.6. Below this the
# question is asked again. On held-out folds of the training data 5 of 141 real "yes" answers
# fall below 0.6 and 16 of 27 non-answers taken for `affirm` do (bench/nlu_oos.py's folds).
CONFIRMATION_FLOOR = 0.6


def _value(value: Any) -> str:
    return str(value[-1] if isinstance(value, list) else value)


def _order(tracker: Tracker) -> Order | None:
    order_id = tracker.get_slot("order_id")
    if not order_id:
        return None
    try:
        return order_service().get(str(order_id))
    except OrdersError:
        return None


def _is_cleared(tracker: Tracker, order: Order) -> bool:
    return order_service().may_see(
        order, customer_id_of(tracker), tracker.get_slot("verified_orders") or []
    )


def _claimed_id(tracker: Tracker) -> str | None:
    """The order id the form holds: a real order's, or a well-formed id with no order behind it."""
    order_id = tracker.get_slot("order_id")
    return str(order_id) if order_id else None


def _attempts(tracker: Tracker) -> dict[str, int]:
    attempts = tracker.get_slot("phone_attempts") or {}
    return {str(k): int(v) for k, v in attempts.items()} if isinstance(attempts, dict) else {}


def _failure(order_id: str) -> str:
    """The audit reason of a wrong phone ending for ``order_id`` (it names the id tried, never
    the digits); the daily limit per order counts these."""
    return f"wrong phone digits for {order_id}"


async def _verification_exhausted(tracker: Tracker, order_id: str) -> bool:
    """Whether the phone check stopped for ``order_id``: too many wrong digits for it in this
    conversation or in every conversation of the last day, or for every id this conversation
    tried."""
    attempts = _attempts(tracker)
    return order_service().verification_blocked(
        attempts.get(order_id, 0),
        sum(attempts.values()),
        await failures_today(VERIFY_FAILED, _failure(order_id)),
    )


def _fresh(tracker: Tracker) -> bool:
    """Whether the form runs on the customer's latest message itself: nothing has answered it
    yet (after a digression the form runs again on a message that was already handled)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return True
        if event.get("event") == "bot":
            return False
    return False


def _latest_text(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("text") or "")


def order_fields(order: Order, tracker: Tracker) -> dict[str, Any]:
    """Template values of an order in the customer's language."""
    language = language_of(tracker)
    return {
        "order_id": order.id,
        "items": order.item_names(language),
        "total": order.total,
        "placed_on": order.placed_on.isoformat(),
        "shipped_on": order.shipped_on.isoformat() if order.shipped_on else "",
        "delivered_on": order.delivered_on.isoformat() if order.delivered_on else "",
        "carrier": carrier_name(order.carrier, language),
        "tracking_number": order.tracking_number or "",
        "address": order.address,
    }


class OrderFormValidation(FormValidationAction, ABC):
    """Validates the order id (format, existence, ownership) for every order form."""

    # Abstract, so that rasa-sdk registers only the concrete forms' validators.
    @abstractmethod
    def name(self) -> str: ...

    def order_allows_more(self, order: Order, tracker: Tracker) -> bool:
        """Whether the form should go on past the order id for this order."""
        return True

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        # The domain lists phone_last4 second; it is asked only for someone else's order.
        rest = [s for s in domain_slots if s not in {"order_id", "phone_last4"}]
        claimed = _claimed_id(tracker)
        if claimed is None:
            return ["order_id", *rest]
        order = _order(tracker)
        if order is None or not _is_cleared(tracker, order):
            if await _verification_exhausted(tracker, claimed):
                return ["order_id"]  # the submit action says why and offers a human
            return ["order_id", "phone_last4", *rest]
        if not self.order_allows_more(order, tracker):
            return ["order_id"]
        return ["order_id", *rest]

    async def get_extraction_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = await super().get_extraction_events(dispatcher, tracker, domain)
        text = _latest_text(tracker)
        if (
            _fresh(tracker)
            and tracker.get_slot("order_id")
            and names_wrong_order(text)
            and not self.corrected(tracker)
        ):
            # "wait, wrong order": forget the order and everything answered about it.
            events += [SlotSet(slot, None) for slot in ("order_id", *FORM_SLOTS)]
        return events

    async def extract_phone_last4(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        # Only an attempt at the digits fills the slot; anything else leaves the form, so the
        # message is handled as what it is (a new request, a question, a stop).
        if tracker.get_slot("requested_slot") != "phone_last4" or not _fresh(tracker):
            return {}
        if self.corrected(tracker):
            return {}
        digits = phone_answer_from(_latest_text(tracker))
        return {"phone_last4": digits} if digits else {}

    async def validate_order_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if value is None:
            return {"order_id": None}
        given = _value(value)
        try:
            order = order_service().get(given)
        except InvalidOrderId:
            dispatcher.utter_message(response="utter_order_id_invalid", given=given[:40])
            return {"order_id": None}
        except OrderNotFound:
            # Answered like someone else's order: the phone digits are asked and never match.
            return {"order_id": order_service().normalize_id(given), "phone_last4": None}
        # A new order id means any verification typed for the previous one does not apply.
        return {"order_id": order.id, "phone_last4": None}

    async def validate_phone_last4(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        claimed = _claimed_id(tracker)
        if claimed is None or value is None:
            return {"phone_last4": None}
        order = _order(tracker)
        if order is None or not order_service().phone_matches(order, _value(value)):
            attempts = _attempts(tracker)
            attempts[claimed] = attempts.get(claimed, 0) + 1
            await audit_failure(tracker, VERIFY_FAILED, _failure(claimed))
            blocked = order_service().verification_blocked(
                attempts[claimed],
                sum(attempts.values()),
                await failures_today(VERIFY_FAILED, _failure(claimed)),
            )
            if not blocked:
                dispatcher.utter_message(response="utter_phone_mismatch", order_id=claimed)
            return {"phone_last4": None, "phone_attempts": attempts}
        dispatcher.utter_message(response="utter_phone_verified")
        verified = [*(tracker.get_slot("verified_orders") or []), order.id]
        return {"phone_last4": "verified", "verified_orders": verified}

    @staticmethod
    def corrected(tracker: Tracker) -> bool:
        """Whether the latest message gives an order id, which then wins over other answers."""
        return bool(entity_values(tracker, "order_id"))

    def confirmation(self, tracker: Tracker, value: Any) -> Any:
        """The answer to "shall I go ahead?": None (ask again) for a new order id or an unsure
        "yes" (below ``CONFIRMATION_FLOOR``); a "no" is taken as it comes."""
        if self.corrected(tracker):
            return None
        if value is True:
            intent = (tracker.latest_message or {}).get("intent") or {}
            if float(intent.get("confidence") or 0.0) < CONFIRMATION_FLOOR:
                return None
        return value


class ValidateOrderStatusForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_order_status_form"


class ValidateReturnForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_return_form"

    def order_allows_more(self, order: Order, tracker: Tracker) -> bool:
        service = order_service()
        if not service.return_eligibility(order.id, kind="quality").eligible:
            return False
        reason = tracker.get_slot("return_reason")
        return not reason or service.return_eligibility(order.id, str(reason)).eligible

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        slots = await super().required_slots(domain_slots, dispatcher, tracker, domain)
        order, reason = _order(tracker), tracker.get_slot("return_reason")
        if order is not None and reason and slots == ["order_id"]:
            # Eligible in general but not for this reason: the reason is kept so the submit
            # action can say which window applies.
            return ["order_id", "return_reason"]
        return slots

    async def validate_return_reason(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if value is None or self.corrected(tracker):
            return {"return_reason": None}
        return {"return_reason": _value(value)[:200]}

    async def validate_return_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return {"return_confirmed": self.confirmation(tracker, value)}


class ValidateCancelForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_cancel_form"

    def order_allows_more(self, order: Order, tracker: Tracker) -> bool:
        return order_service().can_change(order) is None

    async def validate_cancel_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return {"cancel_confirmed": self.confirmation(tracker, value)}


class ValidateAddressForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_address_form"

    def order_allows_more(self, order: Order, tracker: Tracker) -> bool:
        return order_service().can_change(order) is None

    async def extract_new_address(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if tracker.get_slot("requested_slot") == "new_address":
            return {}  # the domain's from_text mapping reads the answer to the question
        text = _latest_text(tracker)
        if tracker.get_slot("requested_slot") == "address_confirmed":
            # "换一个地址" at the confirmation: ask for the address again.
            intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
            if asks_other_address(text) or intent == "change_address":
                return {"new_address": address_given(text), "address_confirmed": None}
            return {}
        if tracker.get_slot("new_address") is None and tracker.get_slot("requested_slot") in {
            None,
            "order_id",
        }:
            address = address_given(text)
            return {"new_address": address} if address else {}
        return {}

    async def validate_new_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if value is None:
            return {"new_address": None}
        if self.corrected(tracker) and tracker.get_slot("requested_slot") == "new_address":
            return {"new_address": None}  # "不对，订单号是…" answers no address question
        try:
            return {"new_address": order_service().clean_address(_value(value))}
        except InvalidAddress:
            dispatcher.utter_message(response="utter_address_invalid")
            return {"new_address": None}

    async def validate_address_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return {"address_confirmed": self.confirmation(tracker, value)}


# The custom payload that asks the customer's app to offer its own proof of the number (the
# hub's app connectors read the key: channels/connector/_links.py, ``SHARE_PHONE``).
SHARE_PHONE = {"share_phone": True}


class ActionAskPhoneLast4(Action):
    """Asks for the last four digits of the order's phone; where the customer's app can vouch
    for their number, offers that too (a vouched number reaches ``extract_phone_last4`` as its
    last four digits, checked like typed ones)."""

    def name(self) -> str:
        return "action_ask_phone_last4"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(
            response="utter_ask_phone_last4", order_id=tracker.get_slot("order_id")
        )
        if phone_offer_of(tracker) is not None:
            # A message of its own, as Rasa's REST channel would split it anyway.
            dispatcher.utter_message(json_message=SHARE_PHONE)
        return []


class ActionAskReturnConfirmed(Action):
    """Sums up the return (window, deadline, shipping fee) before asking to confirm it."""

    def name(self) -> str:
        return "action_ask_return_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = _order(tracker)
        if order is None:
            dispatcher.utter_message(response="utter_ask_order_id")
            return []
        language = language_of(tracker)
        decision = order_service().return_eligibility(
            order.id, str(tracker.get_slot("return_reason") or "")
        )
        fee = (
            response_text(domain, "utter_shipping_fee", language).format(fee=decision.shipping_fee)
            if decision.shipping_fee
            else response_text(domain, "utter_shipping_free", language)
        )
        dispatcher.utter_message(
            response="utter_ask_return_confirmed",
            **order_fields(order, tracker),
            return_kind=response_text(domain, f"utter_return_kind_{decision.kind}", language),
            deadline=decision.deadline.isoformat() if decision.deadline else "",
            shipping_fee=fee,
        )
        return []


class _AskAboutOrder(Action, ABC):
    """Asks a form's question about the order in the slots, with the order's details; says
    nothing when no order is known (the form asks for the order id first)."""

    @property
    @abstractmethod
    def response(self) -> str:
        """The domain response that asks the question."""

    def name(self) -> str:
        return "action_" + self.response.removeprefix("utter_")

    def fields(self, order: Order, tracker: Tracker) -> dict[str, Any]:
        return order_fields(order, tracker)

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = _order(tracker)
        if order is not None:
            dispatcher.utter_message(response=self.response, **self.fields(order, tracker))
        return []


class ActionAskCancelConfirmed(_AskAboutOrder):
    response = "utter_ask_cancel_confirmed"


class ActionAskNewAddress(_AskAboutOrder):
    response = "utter_ask_new_address"


class ActionAskAddressConfirmed(_AskAboutOrder):
    response = "utter_ask_address_confirmed"

    def fields(self, order: Order, tracker: Tracker) -> dict[str, Any]:
        return {"order_id": order.id, "new_address": tracker.get_slot("new_address")}


def _reset() -> list[dict[str, Any]]:
    return [SlotSet(slot, None) for slot in FORM_SLOTS]


async def _cleared_order(dispatcher: CollectingDispatcher, tracker: Tracker) -> Order | None:
    """The order a submit action may act on; None (saying why when the phone check stopped)
    when there is none, it is not the sender's or the id has no order behind it."""
    claimed, order = _claimed_id(tracker), _order(tracker)
    if order is not None and _is_cleared(tracker, order):
        return order
    if claimed is not None and await _verification_exhausted(tracker, claimed):
        dispatcher.utter_message(response="utter_phone_attempts_exhausted", order_id=claimed)
    return None


class ActionOrderIdGiven(Action):
    """An order id that NLU read as plain information (`inform`) outside any form: the task the
    message's other words ask for ("YX…改地址到…" is the address change, "YX… cancel it" the
    cancellation), as the first fallback stage reads an unclear message; else, and for an id on
    its own, the order's status. With the rejection threshold at 0.3 such a message is no longer
    rejected when `inform` narrowly beats the task's intent (0.59 against 0.40)."""

    def name(self) -> str:
        return "action_order_id_given"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return [FollowupAction(order_request_task(tracker) or "order_status_form")]


class ActionOrderStatus(Action):
    """Reports the order's status from the store."""

    def name(self) -> str:
        return "action_order_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = await _cleared_order(dispatcher, tracker)
        if order is None:
            return _reset()
        dispatcher.utter_message(
            response=f"utter_order_status_{order.status}", **order_fields(order, tracker)
        )
        return _reset() + await finish_task(dispatcher, tracker, domain, "order_status_form")


class ActionSubmitReturn(Action):
    """Opens the return when confirmed, or says why the order cannot be returned."""

    def name(self) -> str:
        return "action_submit_return"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = await _cleared_order(dispatcher, tracker)
        if order is None:
            return _reset()
        service, reason = order_service(), str(tracker.get_slot("return_reason") or "")
        decision = (
            service.return_eligibility(order.id, reason)
            if reason
            else service.return_eligibility(order.id, kind="quality")
        )
        fields = order_fields(order, tracker)
        deadline = decision.deadline.isoformat() if decision.deadline else ""
        if not decision.eligible:
            dispatcher.utter_message(
                response=f"utter_return_ineligible_{decision.code}", **fields, deadline=deadline
            )
        elif tracker.get_slot("return_confirmed") is True:
            try:
                service.request_return(order.id, reason)
                dispatcher.utter_message(response="utter_return_submitted", **fields)
            except InvalidStateChange as exc:
                dispatcher.utter_message(
                    response=f"utter_return_ineligible_{exc.code}", **fields, deadline=deadline
                )
        else:
            dispatcher.utter_message(response="utter_return_not_submitted")
        return _reset() + await finish_task(dispatcher, tracker, domain, "return_form")


class ActionSubmitCancel(Action):
    """Cancels the order when confirmed, or says why it cannot be cancelled."""

    def name(self) -> str:
        return "action_submit_cancel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = await _cleared_order(dispatcher, tracker)
        if order is None:
            return _reset()
        fields = order_fields(order, tracker)
        refusal = order_service().can_change(order)
        if refusal is not None:
            dispatcher.utter_message(response=f"utter_change_refused_{refusal}", **fields)
        elif tracker.get_slot("cancel_confirmed") is True:
            try:
                order_service().cancel(order.id)
                dispatcher.utter_message(response="utter_cancel_done", **fields)
            except InvalidStateChange as exc:
                dispatcher.utter_message(response=f"utter_change_refused_{exc.code}", **fields)
        else:
            dispatcher.utter_message(response="utter_cancel_not_done")
        return _reset() + await finish_task(dispatcher, tracker, domain, "cancel_form")


class ActionSubmitAddress(Action):
    """Changes the delivery address when confirmed, or says why it cannot be changed."""

    def name(self) -> str:
        return "action_submit_address"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = await _cleared_order(dispatcher, tracker)
        if order is None:
            return _reset()
        fields = order_fields(order, tracker)
        refusal = order_service().can_change(order)
        if refusal is not None:
            dispatcher.utter_message(response=f"utter_change_refused_{refusal}", **fields)
        elif tracker.get_slot("address_confirmed") is True:
            try:
                changed = order_service().change_address(
                    order.id, str(tracker.get_slot("new_address"))
                )
                dispatcher.utter_message(
                    response="utter_address_changed", **order_fields(changed, tracker)
                )
            except InvalidStateChange as exc:
                dispatcher.utter_message(response=f"utter_change_refused_{exc.code}", **fields)
            except InvalidAddress:
                dispatcher.utter_message(response="utter_address_invalid")
        else:
            dispatcher.utter_message(response="utter_address_not_changed")
        return _reset() + await finish_task(dispatcher, tracker, domain, "address_form")


class ActionFormStopped(Action):
    """The customer stopped a form: forget its answers, keep the order id. An unsure `stop`
    in answer to the return's reason question is the reason, and the return form goes on."""

    def name(self) -> str:
        return "action_form_stopped"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        message = tracker.latest_message or {}
        text = str(message.get("text") or "")
        if slot_before_latest_message(tracker, "requested_slot") == "return_reason" and (
            float((message.get("intent") or {}).get("confidence") or 0.0) < CONFIRMATION_FLOOR
            or gives_return_reason(text)
        ):
            # "Why return it?" answered "changed my mind" (`stop` at 0.30): a reason, as
            # customers give it, more likely than a stop. A stop must be as sure as a "yes"
            # that files the return, and must not say why ("no longer need it" is a sure
            # `stop`, 0.75, and a reason); the return's confirmation follows either way, so a
            # customer who did mean to stop says "no" there and nothing is filed.
            return [
                SlotSet("return_reason", text[:200]),
                FollowupAction("return_form"),
            ]
        dispatcher.utter_message(response="utter_form_stopped")
        return _reset() + offer_paused_task(dispatcher, tracker, domain, None)
