"""One rule of who a sender is, shared by the conversations and the privacy requests."""

from __future__ import annotations

import pytest

from bot.conversations import customer_id as conversations_customer_id
from bot.privacy import Subject, customer_id, customer_key, identified_sender, vouched_senders


@pytest.mark.parametrize(
    ("channel", "sender", "shop_id", "key"),
    [
        ("rest", "customer-001", "customer-001", "customer-001"),
        ("webchat", "customer:customer-001", "customer-001", "customer-001"),
        ("webchat", "3f2a9c", None, "webchat:3f2a9c"),
        ("webchat", "customer:", None, "webchat:customer:"),
        ("telegram", "customer:42", None, "telegram:customer:42"),
    ],
)
def test_a_privacy_request_names_the_customer_as_the_conversation_does(
    channel: str, sender: str, shop_id: str | None, key: str
) -> None:
    subject = Subject(channel, sender)
    assert subject.customer_id == shop_id == customer_id(channel, sender)
    assert conversations_customer_id(channel, sender) == shop_id
    # Consents, tickets and the audit log of an identified web-chat customer are the shop's
    # customer's, whichever way the request names them.
    assert subject.key == key == customer_key(channel, sender)


def test_identified_sender_is_the_inverse_where_the_channel_vouches() -> None:
    for channel in ("rest", "webchat"):
        assert customer_id(channel, identified_sender(channel, "c-9")) == "c-9"


def test_vouched_senders_are_every_channel_that_names_the_customer() -> None:
    senders = vouched_senders("c-9")
    assert senders == [("rest", "c-9"), ("webchat", "customer:c-9")]
    assert {customer_id(channel, sender) for channel, sender in senders} == {"c-9"}
