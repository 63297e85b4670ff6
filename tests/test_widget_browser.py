"""The widget in real headless Chromium (Debian's) against the real platform.

Text in Chinese and English, an agent's live reply and a quick reply, related questions under a
knowledge answer, a screenshot with an order id, a voice message through Chromium's fake
microphone fed from a WAV, the history after a page reload, the keyboard and a phone-sized
screen.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from bot.conversations import csat_question, notice
from channels.media import render_text_image, synthesize_speech
from tests.browser import (
    ARGS,
    CHROMIUM,
    WAIT_MS,
    agent_console,
    bot_texts,
    browser,
    conversation_of,
    open_chat,
    playwright,
    send,
    wait_for_handoff,
)
from tests.conftest import response_text
from tests.launch import PlatformProcess

__all__ = ["browser", "playwright"]  # fixtures

pytestmark = pytest.mark.integration

ORDER_ID = "YX2611010001"


@pytest.fixture(scope="module")
def voice_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spoken question with silence around it, as Chromium's fake microphone wants it."""
    folder = tmp_path_factory.mktemp("voice")
    spoken = synthesize_speech("Where is my order?", "en", folder / "spoken.wav")
    padded = folder / "microphone.wav"
    subprocess.run(
        ["sox", str(spoken), "-r", "48000", "-b", "16", "-c", "1", str(padded),
         "pad", "0.5", "1.5"],
        check=True,
    )  # fmt: skip
    return padded


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    yield context.new_page()
    context.close()


def test_text_in_both_languages_an_agent_a_quick_reply_and_a_reload(
    page: Page, platform: PlatformProcess
) -> None:
    open_chat(page, platform)
    focused = page.evaluate(
        "document.querySelector('#youxuan-chat').shadowRoot.activeElement.className"
    )
    assert focused == "input"
    expect(page.locator(".panel")).to_have_attribute("role", "dialog")
    expect(page.locator(".log")).to_have_attribute("role", "log")

    send(page, "你好")
    expect(bot_texts(page).last).to_have_text(response_text("utter_greet", "zh"), timeout=WAIT_MS)
    send(page, "hello there")
    expect(bot_texts(page).last).to_have_text(response_text("utter_greet", "en"), timeout=WAIT_MS)

    # An angry message goes to a human; the agent's reply and the closing survey arrive live.
    username = f"agent-{uuid.uuid4().hex[:6]}"
    with agent_console(platform, username) as agent:
        send(page, "你们这什么垃圾服务，我要投诉你们！！")
        expect(bot_texts(page).last).to_contain_text("人工客服", timeout=WAIT_MS)
        handoff = wait_for_handoff(agent, conversation_of(page, platform))
        agent.post(f"/console/api/handoffs/{handoff}/accept").raise_for_status()
        agent.post(
            f"/console/api/handoffs/{handoff}/messages", json={"text": "您好，我是客服小王。"}
        ).raise_for_status()
        expect(page.locator(".msg.agent .text").last).to_have_text(
            "您好，我是客服小王。", timeout=WAIT_MS
        )
        expect(page.locator(".msg.agent .who").last).to_have_text(username)
        agent.post(
            f"/console/api/handoffs/{handoff}/close", json={"resolution": "answered"}
        ).raise_for_status()
    question, _ = csat_question("zh")
    expect(bot_texts(page).last).to_have_text(question, timeout=WAIT_MS)
    quick_replies = page.locator(".quick button")
    expect(quick_replies).to_have_text(["1", "2", "3", "4", "5"])
    quick_replies.last.click()
    expect(bot_texts(page).last).to_have_text(notice("csat_thanks", "zh"), timeout=WAIT_MS)
    expect(quick_replies).to_have_count(0)

    before = page.locator(".msg .text").all_inner_texts()
    page.reload()
    page.locator(".launcher").click()
    expect(page.locator(".msg .text")).to_have_text(before, timeout=WAIT_MS)

    page.keyboard.press("Escape")
    expect(page.locator(".panel")).to_be_hidden()
    assert (
        page.evaluate("document.querySelector('#youxuan-chat').shadowRoot.activeElement.className")
        == "launcher"
    )


def test_a_screenshot_of_an_order_leads_to_its_status(
    page: Page, platform: PlatformProcess, tmp_path: Path
) -> None:
    order = _live_order(platform, ORDER_ID)  # other tests on this platform may change it
    shot = render_text_image(
        ["优选商城 订单详情", f"订单号：{ORDER_ID}", "实付金额：¥299.00", "收货人：张**"],
        tmp_path / "order.png",
        noise=0.2,
        angle=1.0,
    )
    open_chat(page, platform)
    page.locator("input.file").set_input_files(str(shot))
    read = page.locator(".msg.mine .read").last
    expect(read).to_contain_text("图片文字：优选商城", timeout=WAIT_MS)
    expect(read).to_contain_text(ORDER_ID)
    expect(page.locator(".msg.mine img.picture").last).to_be_visible()
    status_reply = _status_pattern(order["status"])
    reply = bot_texts(page).last
    expect(reply).to_contain_text(ORDER_ID, timeout=WAIT_MS)
    if not status_reply.search(reply.inner_text()):
        # Not this session's order: the bot asks for the phone's last four digits first.
        send(page, str(order["phone"])[-4:])
        expect(bot_texts(page).last).to_have_text(status_reply, timeout=WAIT_MS)


def test_a_picture_without_text_gets_a_clear_reply(
    page: Page, platform: PlatformProcess, tmp_path: Path
) -> None:
    from PIL import Image

    blank = tmp_path / "sky.png"
    Image.new("RGB", (500, 400), (120, 170, 230)).save(blank)
    open_chat(page, platform)
    page.locator("input.file").set_input_files(str(blank))
    expect(page.locator(".msg.error .text").last).to_have_text(
        "图片里没有识别到文字。查询订单请发送订单页面截图，或直接输入订单号。", timeout=WAIT_MS
    )
    expect(page.locator(".msg.mine.failed")).to_have_count(1)


def test_a_voice_message_is_heard_and_answered(
    playwright: Playwright, platform: PlatformProcess, voice_wav: Path
) -> None:
    microphone = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={voice_wav}%noloop",
    ]
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS + microphone)
    try:
        context = chromium.new_context(permissions=["microphone"])
        page = context.new_page()
        open_chat(page, platform)
        page.locator("header .lang").click()  # the customer switches the widget to English
        expect(page.locator(".launcher")).to_have_attribute(
            "aria-label", "Open customer service chat"
        )
        mic = page.locator("button.mic")
        expect(mic).to_have_attribute("aria-label", "Start recording")
        mic.click()
        expect(mic).to_have_attribute("aria-pressed", "true")
        page.wait_for_timeout(3500)
        mic.click()
        heard = page.locator(".msg.mine .read").last
        expect(heard).to_have_text(
            re.compile(r"^Heard: .*where is my order", re.I), timeout=WAIT_MS
        )
        answer = bot_texts(page).last
        expect(answer).not_to_have_text("", timeout=WAIT_MS)
        # The answer comes after the transcript, and it is the bot's, not an error.
        expect(page.locator(".msg").last).to_have_class(re.compile(r"\bbot\b"))
        expect(page.locator(".msg.error")).to_have_count(0)
    finally:
        chromium.close()


def test_images_cards_and_carousels_are_rendered(page: Page, platform: PlatformProcess) -> None:
    # The hub turns stored replies into these frames (tests/test_webchat_messages.py); no domain
    # response sends a carousel yet, so the frame is put into the live socket.io connection.
    carousel = {
        "text": "为您推荐：",
        "message_id": 10_000_001,
        "author": "bot",
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "generic",
                "elements": [
                    {
                        "title": "无线蓝牙耳机",
                        "subtitle": "¥299",
                        "image_url": f"{platform.hub_url}/widget/none.png",
                        "buttons": [{"type": "postback", "title": "就要它", "payload": "你好"}],
                    },
                    {
                        "title": "智能手机",
                        "subtitle": "¥2,499",
                        "buttons": [
                            {"type": "web_url", "title": "详情", "url": "https://shop.example/p/2"}
                        ],
                    },
                ],
            },
        },
    }
    image = {
        "text": "",
        "message_id": 10_000_002,
        "author": "bot",
        "attachment": {"type": "image", "payload": {"src": f"{platform.hub_url}/widget/x.png"}},
    }
    sockets: list[Any] = []

    def proxy(ws: Any) -> None:
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket(re.compile(r".*/socket\.io/.*"), proxy)
    open_chat(page, platform)
    for frame in (carousel, image):
        sockets[0].send("42" + json.dumps(["bot_uttered", frame], ensure_ascii=False))
    cards = page.locator(".cards.carousel .card")
    expect(cards).to_have_count(2)
    expect(cards.locator("strong")).to_have_text(["无线蓝牙耳机", "智能手机"])
    expect(cards.nth(1).locator("a")).to_have_attribute("href", "https://shop.example/p/2")
    expect(cards.nth(1).locator("a")).to_have_attribute("rel", "noopener noreferrer")
    expect(page.locator(".msg.bot img.picture")).to_have_attribute(
        "src", f"{platform.hub_url}/widget/x.png"
    )
    # A card's button sends its payload, like a quick reply, and the bot answers it.
    cards.first.locator("button").click()
    expect(page.locator(".msg.mine .text").last).to_have_text("就要它")
    expect(bot_texts(page).last).to_have_text(response_text("utter_greet", "zh"), timeout=WAIT_MS)


def test_at_phone_width_the_chat_fills_the_screen(
    browser: Browser, platform: PlatformProcess
) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 700}, is_mobile=True)
    try:
        page = context.new_page()
        open_chat(page, platform)
        box = page.locator(".panel").bounding_box()
        assert box is not None
        assert (box["x"], box["width"]) == (0, 375)
        send(page, "你好")
        expect(bot_texts(page).last).to_have_text(
            response_text("utter_greet", "zh"), timeout=WAIT_MS
        )
    finally:
        context.close()


def _live_order(platform: PlatformProcess, order_id: str) -> dict[str, object]:
    """The order as the platform's order store holds it now."""
    with closing(sqlite3.connect(platform.var_dir / "orders.db")) as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT status, phone FROM orders WHERE id = ?", (order_id,)).fetchone()
    return dict(row)


def _status_pattern(status: object) -> re.Pattern[str]:
    """The zh order-status reply of ``status``, its placeholders matching anything."""
    template = response_text(f"utter_order_status_{status}", "zh")
    parts = re.split(r"\{[a-z_]+\}", template)
    return re.compile(".+".join(re.escape(part) for part in parts))


def test_a_knowledge_answer_offers_related_questions_that_ask_with_a_tap(
    page: Page, platform: PlatformProcess
) -> None:
    open_chat(page, platform)
    send(page, "快递费多少钱啊")
    expect(bot_texts(page).last).to_contain_text("您可能还想问：", timeout=WAIT_MS)
    related = page.locator(".quick button")
    expect(related).to_have_text(["退货运费谁出？", "用哪家快递发货？", "怎么查物流？"])
    related.nth(1).click()
    # The customer's bubble shows the question; the courier FAQ answers it.
    expect(page.locator(".msg.mine .text").last).to_have_text("用哪家快递发货？", timeout=WAIT_MS)
    expect(bot_texts(page).last).to_contain_text(
        "我们使用顺丰速运、京东物流和中通快递发货", timeout=WAIT_MS
    )
    expect(bot_texts(page).last).to_contain_text("[1] 用哪家快递发货？")
