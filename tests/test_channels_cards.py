"""Recommendation cards rendered in each messaging app's own format (unit): the buttons' payloads,
the numbering that runs on across cards in apps without buttons, Telegram's 64-byte limit, and
the feedback payloads the connector reads back (hostile ones refused)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from channels import dingtalk, feishu, slack, telegram, wechat, wecom
from channels.connector import Choice, cards_of, choices_of, feedback_of, feedback_payload
from tests.app_standin import recommendation_cards

LONG_ID = "SKU-" + "x" * 56  # 60 characters: "rf:dismiss:<id>" passes Telegram's 64 bytes
SIMILAR_1 = '/ask_recommendation{"similar_to":"EL-001"}'


def stored(items: list[tuple[str, str]]) -> dict[str, Any]:
    """A stored bot message's payload holding the dialogue's cards (as the hub keeps them)."""
    return {"custom": recommendation_cards(items)}


TWO = stored([("EL-001", "华为 Mate 60 手机 ¥4999"), ("EL-002", "小米 14 手机 ¥3999")])


def test_choices_run_on_across_cards() -> None:
    assert choices_of(TWO) == [
        Choice("看看详情", "rf:click:EL-001"),
        Choice("不感兴趣", "rf:dismiss:EL-001"),
        Choice("更多类似", SIMILAR_1),
        Choice("看看详情", "rf:click:EL-002"),
        Choice("不感兴趣", "rf:dismiss:EL-002"),
        Choice("更多类似", '/ask_recommendation{"similar_to":"EL-002"}'),
    ]
    # A message's own buttons come first, numbered as before.
    mixed = {**TWO, "buttons": [{"title": "Orders", "payload": "/check_order_status"}]}
    assert choices_of(mixed)[0] == Choice("Orders", "/check_order_status")
    assert len(choices_of(mixed)) == 7


def test_telegram_inline_keyboard_one_row_per_card() -> None:
    assert telegram.render("", TWO) == {
        "method": "sendMessage",
        "text": "1. 华为 Mate 60 手机 ¥4999\n同类热销\n\n2. 小米 14 手机 ¥3999\n同类热销",
        "reply_markup": {
            "inline_keyboard": [
                [
                    {"text": "看看详情", "callback_data": "rf:click:EL-001"},
                    {"text": "不感兴趣", "callback_data": "rf:dismiss:EL-001"},
                    {"text": "更多类似", "callback_data": SIMILAR_1},
                ],
                [
                    {"text": "看看详情", "callback_data": "rf:click:EL-002"},
                    {"text": "不感兴趣", "callback_data": "rf:dismiss:EL-002"},
                    {
                        "text": "更多类似",
                        "callback_data": '/ask_recommendation{"similar_to":"EL-002"}',
                    },
                ],
            ]
        },
    }


def test_telegram_payloads_over_64_bytes_become_the_buttons_number() -> None:
    keyboard = telegram.render("", stored([("EL-001", "A"), (LONG_ID, "B")]))["reply_markup"]
    first, second = keyboard["inline_keyboard"]
    assert [key["callback_data"] for key in first] == [
        "rf:click:EL-001",
        "rf:dismiss:EL-001",
        SIMILAR_1,
    ]
    # 9 + 60 bytes, 11 + 60 bytes, 34 + 60 bytes: over the limit, so the number stands in.
    assert [key["callback_data"] for key in second] == ["#4", "#5", "#6"]


def test_slack_blocks_a_section_and_buttons_per_card() -> None:
    body = slack.render("", stored([("EL-001", "华为 Mate 60 手机 ¥4999")]))
    assert body == {
        "text": "华为 Mate 60 手机 ¥4999",
        "blocks": [
            {
                "type": "section",
                "text": {"type": "plain_text", "text": "华为 Mate 60 手机 ¥4999\n同类热销"},
            },
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": title},
                        "value": value,
                        "action_id": f"choice_{number}",
                    }
                    for number, (title, value) in enumerate(
                        [
                            ("看看详情", "rf:click:EL-001"),
                            ("不感兴趣", "rf:dismiss:EL-001"),
                            ("更多类似", SIMILAR_1),
                        ],
                        start=1,
                    )
                ],
            },
        ],
    }


def test_feishu_card_buttons_carry_the_payloads() -> None:
    body = feishu.render("为您推荐：", stored([("EL-001", "华为 Mate 60 手机 ¥4999")]))
    assert body["msg_type"] == "interactive"
    assert json.loads(body["content"]) == {
        "elements": [
            {"tag": "div", "text": {"tag": "plain_text", "content": "为您推荐："}},
            {"tag": "hr"},
            {
                "tag": "div",
                "text": {"tag": "plain_text", "content": "华为 Mate 60 手机 ¥4999\n同类热销"},
            },
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": title},
                        "type": "default",
                        "value": {"payload": payload, "title": title},
                    }
                    for title, payload in [
                        ("看看详情", "rf:click:EL-001"),
                        ("不感兴趣", "rf:dismiss:EL-001"),
                        ("更多类似", SIMILAR_1),
                    ]
                ],
            },
        ]
    }


def test_wechat_menu_names_each_entry_with_its_item() -> None:
    assert wechat.render("", TWO) == {
        "msgtype": "msgmenu",
        "msgmenu": {
            "head_content": "1. 华为 Mate 60 手机 ¥4999\n同类热销\n2. 小米 14 手机 ¥3999\n同类热销",
            "list": [
                {"id": "1", "content": "看看详情 · 华为 Mate 60 手机 ¥4999"},
                {"id": "2", "content": "不感兴趣 · 华为 Mate 60 手机 ¥4999"},
                {"id": "3", "content": "更多类似 · 华为 Mate 60 手机 ¥4999"},
                {"id": "4", "content": "看看详情 · 小米 14 手机 ¥3999"},
                {"id": "5", "content": "不感兴趣 · 小米 14 手机 ¥3999"},
                {"id": "6", "content": "更多类似 · 小米 14 手机 ¥3999"},
            ],
            "tail_content": "",
        },
    }


def test_wecom_and_dingtalk_number_the_choices_in_text() -> None:
    expected = (
        "为您推荐：\n【华为 Mate 60 手机 ¥4999】\n同类热销\n1. 看看详情  2. 不感兴趣  3. 更多类似\n"
        "【小米 14 手机 ¥3999】\n同类热销\n4. 看看详情  5. 不感兴趣  6. 更多类似"
    )
    assert wecom.render("为您推荐：", TWO) == {"msgtype": "text", "text": {"content": expected}}
    assert dingtalk.render("为您推荐：", TWO) == {
        "msgKey": "sampleText",
        "msgParam": {"content": expected},
    }


def test_feedback_payload_round_trip() -> None:
    assert feedback_of(feedback_payload("dismiss", "EL-001")) == ("dismiss", "EL-001")
    assert feedback_of("rf:click:EL-002") == ("click", "EL-002")


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "",
        "/ask_recommendation",
        "rf:",
        "rf:purchase:EL-001",  # only clicks and dismissals come from cards
        "rf:dismiss:",
        "rf:dismiss:" + "x" * 65,
        "RF:dismiss:EL-001",
    ],
)
def test_other_payloads_are_no_feedback(payload: str | None) -> None:
    assert feedback_of(payload) is None


def test_messages_without_cards_have_none() -> None:
    for payload in (None, {}, {"custom": {"kind": "csat"}}, {"custom": {"attachment": "x"}}):
        assert cards_of(payload) == []
