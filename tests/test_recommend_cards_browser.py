"""Recommendation cards in the widget, in real headless Chromium (Debian's) against a real hub on
a free port: the cards render with their "Details" and "Not interested" buttons, "Details" shows
the description and stores a click, "Not interested" stores a dismiss of that item for the
session's customer (``webchat:<session>``) and greys the card out.

The hub here runs without Rasa: the card frame the dialogue's action would send
(tests/test_recommend_feedback.py checks the action's cards) is put into the widget's live
socket.io connection, as tests/test_widget_browser.py does."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from playwright.async_api import Page, WebSocketRoute, async_playwright, expect

from bot.app import HubServices, Settings
from bot.recommend import RecommendService
from tests.browser import ARGS, CHROMIUM
from tests.launch import free_port
from tests.live_hub import serving

WAIT_S = 30.0
WAIT_MS = 30_000


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[tuple[str, FastAPI]]:
    nobody = free_port()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, var_dir=tmp_path, rasa_port=nobody, actions_port=nobody
    )
    async with serving(settings) as hub:
        yield hub.url, hub.app


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as running:
        browser = await running.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = await browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
        yield await context.new_page()
        await context.close()
        await browser.close()


def card(item_id: str, title: str, details: str) -> dict[str, Any]:
    """A card as ``ActionRecommend`` makes it for the web chat."""
    return {
        "title": title,
        "subtitle": "数码电子类热销商品",
        "details": details,
        "buttons": [
            {"type": "recommendation_feedback", "title": "看看详情", "event": "click", "item_id": item_id},
            {"type": "recommendation_feedback", "title": "不感兴趣", "event": "dismiss", "item_id": item_id},
        ],
    }  # fmt: skip


async def test_cards_render_and_their_buttons_store_click_and_dismiss_events(
    hub: tuple[str, FastAPI], page: Page
) -> None:
    url, app = hub
    services: HubServices = app.state.services
    recommendations: RecommendService = services.recommendations
    frame = {
        "text": "根据您的需求，为您推荐：",
        "message_id": 10_000_001,
        "author": "bot",
        "attachment": {
            "type": "template",
            "payload": {
                "template_type": "generic",
                "elements": [
                    card(
                        "EL-001", "华为 Mate 60 手机 ¥4999", "华为 Mate 60 手机，数码电子类商品。"
                    ),
                    card("EL-002", "小米 14 手机 ¥3999", "小米 14 手机，数码电子类商品。"),
                    card("NOPE-1", "不存在的商品 ¥1", "一件目录里没有的商品"),
                ],
            },
        },
    }
    sockets: list[WebSocketRoute] = []

    def proxy(ws: WebSocketRoute) -> None:
        ws.connect_to_server()
        sockets.append(ws)

    await page.route_web_socket(re.compile(r".*/socket\.io/.*"), proxy)
    await page.goto(f"{url}/")
    await page.locator(".launcher").click()
    await expect(page.locator(".msg.bot").first).to_be_visible(timeout=WAIT_MS)
    # The widget keeps the session id the hub confirmed: the customer is webchat:<session>.
    confirmed = await page.wait_for_function(
        "() => { const saved = Object.entries(localStorage)"
        ".find(([k]) => k.startsWith('yx-webchat:'));"
        " return saved && JSON.parse(saved[1]).sessionId; }",
        timeout=WAIT_MS,
    )
    session_id = await confirmed.json_value()
    assert isinstance(session_id, str)
    assert session_id
    customer = f"webchat:{session_id}"
    sockets[0].send("42" + json.dumps(["bot_uttered", frame], ensure_ascii=False))

    cards = page.locator(".cards.carousel .card")
    await expect(cards).to_have_count(3)
    await expect(cards.locator("strong")).to_have_text(
        ["华为 Mate 60 手机 ¥4999", "小米 14 手机 ¥3999", "不存在的商品 ¥1"]
    )
    await expect(cards.nth(0).locator("button")).to_have_text(["看看详情", "不感兴趣"])
    await expect(cards.nth(0).locator(".details")).to_be_hidden()

    await cards.nth(0).get_by_role("button", name="看看详情").click()
    await expect(cards.nth(0).locator(".details")).to_have_text(
        "华为 Mate 60 手机，数码电子类商品。"
    )

    await cards.nth(1).get_by_role("button", name="不感兴趣").click()
    await expect(cards.nth(1)).to_have_class(re.compile(r"\bdismissed\b"))
    await expect(cards.nth(1).locator(".card-note")).to_have_text("好的，不再为您推荐这件商品。")
    await expect(cards.nth(1).locator("button").first).to_be_disabled()

    # An item the catalogue does not have: the hub refuses it, the widget says so.
    await cards.nth(2).get_by_role("button", name="不感兴趣").click()
    await expect(cards.nth(2).locator(".card-note")).to_have_text("操作没有成功，请稍后再试。")
    await expect(cards.nth(2)).not_to_have_class(re.compile(r"\bdismissed\b"))

    stored = await recommendations.events_of(customer)
    assert [(e.kind, e.item_id, e.channel, e.device) for e in stored] == [
        ("click", "EL-001", "webchat", "desktop"),
        ("dismiss", "EL-002", "webchat", "desktop"),
    ]
