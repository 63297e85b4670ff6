"""The order check answered by Telegram's shared contact through the whole platform: the real
Rasa runs the order form, ``action_ask_phone_last4`` offers the share-my-number keyboard, and the
contact's last four digits pass the form's own check (the apps' API is the session's
``app_stand_in``)."""

from __future__ import annotations

import random

import httpx
import pytest

from channels.connector import LINK_REPLIES
from tests import test_channels_telegram as telegram
from tests.app_standin import AppStandIn
from tests.conftest import response_text
from tests.launch import PlatformProcess
from tests.test_channels_app_links import contact
from tests.test_channels_live import msg_id, wait_for_texts

pytestmark = pytest.mark.integration

ORDER, ORDER_PHONE = "YX2611010008", "+8613697366946"  # bot/orders/fixtures.yml


def test_a_shared_contact_passes_the_real_order_forms_digits_check(
    platform: PlatformProcess, app_stand_in: AppStandIn
) -> None:
    chat = random.randrange(10**8, 10**9)
    with httpx.Client(base_url=platform.hub_url, timeout=30) as hub:
        asked = telegram.post(hub, telegram.text_update(msg_id(), f"帮我查一下订单{ORDER}", chat))  # type: ignore[arg-type]
        assert asked.status_code == 200
        question, offer = wait_for_texts(app_stand_in, str(chat), 2)
        assert question == response_text("utter_ask_phone_last4", "zh").replace("{order_id}", ORDER)
        assert offer == LINK_REPLIES["share_hint"]["zh"]
        keyboard = [s.body for s in list(app_stand_in.sent) if s.body.get("chat_id") == str(chat)]
        assert keyboard[1]["reply_markup"]["keyboard"] == [
            [{"text": LINK_REPLIES["share_button"]["zh"], "request_contact": True}]
        ]
        shared = contact(msg_id(), user_id=chat, phone=ORDER_PHONE)
        shared["message"]["chat"]["id"] = shared["message"]["from"]["id"] = chat
        assert telegram.post(hub, shared).status_code == 200  # type: ignore[arg-type]
        said = wait_for_texts(app_stand_in, str(chat), 5)
    assert said[2:4] == [
        LINK_REPLIES["linked_alone"]["zh"],
        response_text("utter_phone_verified", "zh"),
    ]
    assert said[4].startswith(f"订单 {ORDER}（")
    assert "发出，运单号" in said[4]
