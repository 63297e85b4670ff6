"""Tickets from the dialogue through the real platform (hub, Rasa, action server), zh and en.

Each test talks as a different shop customer on the REST channel (the shop vouches for the
sender, so tickets belong to that customer id); the replies are compared with the domain's
responses.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import query_hub_db, response_text
from tests.launch import PlatformProcess

pytestmark = pytest.mark.integration

NUMBER = re.compile(r"T-\d{8}-\d{4}")


def say(platform: PlatformProcess, sender: str, text: str) -> list[str]:
    response = httpx.post(
        f"{platform.hub_url}/api/messages", json={"sender": sender, "text": text}, timeout=60
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return [r["text"] for r in body["replies"] if r.get("text")]


def reply(name: str, language: str, **fields: Any) -> str:
    return response_text(name, language).format(**fields)


CONVERSATIONS = {
    "zh": {
        "open": "我要创建工单",
        "category": "物流配送",
        "description": "快递显示已经签收了，但是我根本没收到包裹",
        "order": "YX2611010001",
        "contact": "在这里",
        "status": "我的工单进度",
        "add": "我要补充工单信息",
        "info": "补充一下：快递柜编号是 A-17",
        "status_name": "已受理",
    },
    "en": {
        "open": "I want to open a ticket",
        "category": "delivery",
        "description": "Tracking says delivered but the parcel never arrived",
        "order": "YX2611010001",
        "contact": "here in the chat",
        "status": "what's the status of my ticket",
        "add": "I want to add information to my ticket",
        "info": "One more thing: the parcel locker was number A-17",
        "status_name": "received",
    },
}


@pytest.mark.parametrize("language", ["zh", "en"])
def test_open_a_ticket_ask_its_status_and_add_to_it(
    platform: PlatformProcess, language: str
) -> None:
    lines = CONVERSATIONS[language]
    me, stranger = f"ticket-{uuid.uuid4().hex[:8]}", f"probe-{uuid.uuid4().hex[:8]}"
    assert say(platform, me, lines["open"])[-1] == reply("utter_ask_ticket_category", language)
    assert say(platform, me, lines["category"])[-1] == reply(
        "utter_ask_ticket_description", language
    )
    assert say(platform, me, lines["description"])[-1] == reply(
        "utter_ask_ticket_order_id", language
    )
    assert say(platform, me, lines["order"])[-1] == reply("utter_ask_ticket_contact", language)
    (opened,) = say(platform, me, lines["contact"])
    number = NUMBER.search(opened)
    assert number is not None, opened
    (row,) = query_hub_db(
        platform.var_dir,
        "SELECT customer_id, channel, category, priority, status, description FROM tickets "
        "WHERE number = ?",
        (number.group(0),),
    )
    assert (row["customer_id"], row["channel"], row["category"], row["status"]) == (
        me,
        "rest",
        "delivery",
        "new",
    )
    assert row["description"] == f"{lines['description']}\nOrder: YX2611010001"
    assert opened.startswith(
        reply(
            "utter_ticket_opened",
            language,
            number=number.group(0),
            priority=row["priority"],
            due="@",
        ).split("@")[0]
    )

    status = say(platform, me, lines["status"])
    assert status[0].startswith(
        reply(
            "utter_ticket_status",
            language,
            number=number.group(0),
            subject=lines["description"],
            status=lines["status_name"],
            updated="@",
        ).split("@")[0]
    )

    # The only open ticket is the one meant; what the customer adds lands on it.
    assert say(platform, me, lines["add"])[-1] == reply("utter_ask_ticket_info", language)
    assert say(platform, me, lines["info"]) == [
        reply("utter_ticket_info_added", language, number=number.group(0))
    ]
    entries = query_hub_db(
        platform.var_dir,
        "SELECT e.kind, e.author, e.text FROM ticket_entries e JOIN tickets t "
        "ON t.id = e.ticket_id WHERE t.number = ?",
        (number.group(0),),
    )
    assert [tuple(e) for e in entries] == [("customer", me, lines["info"])]

    # Another customer naming the number learns nothing about it.
    probe = say(platform, stranger, f"{lines['status']} {number.group(0)}")
    assert probe == [reply("utter_ticket_not_found", language, number=number.group(0))]
