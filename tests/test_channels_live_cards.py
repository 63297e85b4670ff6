"""Recommendation cards in the messaging apps through the whole platform: the real Rasa, action
server and hub (the apps' APIs stood in for by the session's ``app_stand_in``). A Telegram
customer taps "Not interested" and "More like this" on the inline keyboard; a DingTalk customer
answers the numbered choices with a number."""

from __future__ import annotations

import random
import uuid

import httpx
import pytest

from tests import test_channels_dingtalk as dingtalk
from tests import test_channels_telegram as telegram
from tests.app_standin import AppStandIn, Sent
from tests.conftest import query_hub_db
from tests.launch import PlatformProcess

pytestmark = pytest.mark.integration

BUDGET = "两千以内"  # four phones and accessories of the demo shop


@pytest.fixture
def hub(platform: PlatformProcess) -> httpx.Client:
    return httpx.Client(base_url=platform.hub_url, timeout=30)


def sent_to(stand_in: AppStandIn, key: str, recipient: str) -> list[Sent]:
    return [s for s in list(stand_in.sent) if str(s.body.get(key)) == recipient]


def wait_for_count(stand_in: AppStandIn, key: str, recipient: str, count: int) -> list[Sent]:
    stand_in.wait_for(
        lambda: len(sent_to(stand_in, key, recipient)) >= count, f"{count} sends to {recipient}"
    )
    return sent_to(stand_in, key, recipient)


def keyboard_of(sent: Sent) -> list[list[dict[str, str]]]:
    return list((sent.body.get("reply_markup") or {}).get("inline_keyboard") or [])


def events(platform: PlatformProcess, user: str) -> list[tuple[str, str, str]]:
    rows = query_hub_db(
        platform.var_dir,
        "SELECT kind, item_id, channel FROM recommend_events WHERE user_id = ? ORDER BY id",
        (user,),
    )
    return [(r["kind"], r["item_id"], r["channel"]) for r in rows]


def test_telegram_inline_keyboard_feedback_through_the_dialogue(
    hub: httpx.Client, app_stand_in: AppStandIn, platform: PlatformProcess
) -> None:
    chat = random.randrange(10**8, 10**9)
    update = random.randrange(10**9, 10**10)

    def say(text: str) -> None:
        nonlocal update
        update += 1
        response = telegram.post(hub, telegram.text_update(update, text, chat=chat))  # type: ignore[arg-type]
        assert response.status_code == 200

    def tap(data: str) -> None:
        nonlocal update
        update += 1
        query = {
            "update_id": update,
            "callback_query": {
                "id": f"cbq-{update}",
                "from": {"id": chat, "is_bot": False, "first_name": "Li"},
                "message": {"message_id": 1, "chat": {"id": chat, "type": "private"}, "date": 0},
                "chat_instance": "ci",
                "data": data,
            },
        }
        assert telegram.post(hub, query).status_code == 200  # type: ignore[arg-type]

    say("推荐一款手机")
    wait_for_count(app_stand_in, "chat_id", str(chat), 1)
    say(BUDGET)
    app_stand_in.wait_for(
        lambda: any(keyboard_of(s) for s in sent_to(app_stand_in, "chat_id", str(chat))),
        "the recommendation cards",
    )
    cards = next(s for s in sent_to(app_stand_in, "chat_id", str(chat)) if keyboard_of(s))
    first_row = keyboard_of(cards)[0]
    assert [key["text"] for key in first_row] == ["看看详情", "不感兴趣", "更多类似"]
    item = first_row[1]["callback_data"].removeprefix("rf:dismiss:")
    assert first_row[0]["callback_data"] == f"rf:click:{item}"
    assert first_row[2]["callback_data"] == '/ask_recommendation{"similar_to":"' + item + '"}'

    count = len(sent_to(app_stand_in, "chat_id", str(chat)))
    tap(first_row[1]["callback_data"])
    texts = [s.body["text"] for s in wait_for_count(app_stand_in, "chat_id", str(chat), count + 1)]
    assert texts[-1].startswith("好的，以后不再向您推荐“")
    assert events(platform, f"telegram:{chat}") == [("dismiss", item, "telegram")]

    count += 1
    tap(first_row[2]["callback_data"])  # "More like this": the dialogue answers with cards
    app_stand_in.wait_for(
        lambda: any(
            keyboard_of(s) and "相似" in s.body["text"]
            for s in sent_to(app_stand_in, "chat_id", str(chat))[count:]
        ),
        "similar items",
    )
    assert ("click", item, "telegram") in events(platform, f"telegram:{chat}")


def test_dingtalk_customer_answers_a_card_with_its_number(
    hub: httpx.Client, app_stand_in: AppStandIn, platform: PlatformProcess
) -> None:
    staff = f"staff{uuid.uuid4().hex[:8]}"

    def say(text: str) -> None:
        body = dingtalk.callback(f"msg-{uuid.uuid4().hex}", text, senderStaffId=staff)
        assert dingtalk.post(hub, body).status_code == 200  # type: ignore[arg-type]

    def to_customer() -> list[str]:
        return [
            str(s.body["msgParam"]["content"])
            for s in list(app_stand_in.sent)
            if staff in (s.body.get("userIds") or [])
        ]

    say("推荐一款手机")
    app_stand_in.wait_for(lambda: len(to_customer()) >= 1, "the budget question")
    say(BUDGET)
    app_stand_in.wait_for(lambda: any("2. 不感兴趣" in t for t in to_customer()), "numbered cards")
    count = len(to_customer())
    say("2")  # the first card's "Not interested"
    app_stand_in.wait_for(lambda: len(to_customer()) > count, "the acknowledgement")
    assert to_customer()[-1].startswith("好的，以后不再向您推荐“")
    [(kind, _item, channel)] = events(platform, f"dingtalk:user:{staff}")
    assert (kind, channel) == ("dismiss", "dingtalk")
