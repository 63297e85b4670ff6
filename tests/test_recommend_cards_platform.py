"""End to end on the whole platform (hub, Rasa, action server) in Debian's Chromium: the
customer asks for a recommendation in the widget, the dialogue's action answers with cards, and
"不感兴趣" on a card stores a dismiss of that item for the session's customer, which the next
recommendation leaves out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser import WAIT_MS, browser, open_chat, playwright, send
from tests.conftest import query_hub_db, response_text
from tests.launch import PlatformProcess

__all__ = ["browser", "playwright"]  # fixtures

pytestmark = pytest.mark.integration

ASK_BUDGET = response_text("utter_ask_budget", "zh")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    yield context.new_page()
    context.close()


def _session_id(page: Page) -> str:
    confirmed = page.wait_for_function(
        "() => { const saved = Object.entries(localStorage)"
        ".find(([k]) => k.startsWith('yx-webchat:'));"
        " return saved && JSON.parse(saved[1]).sessionId; }",
        timeout=WAIT_MS,
    )
    session_id = confirmed.json_value()
    assert isinstance(session_id, str)
    return session_id


def test_not_interested_on_a_recommended_card_is_stored_and_respected(
    page: Page, platform: PlatformProcess
) -> None:
    open_chat(page, platform)
    customer = f"webchat:{_session_id(page)}"
    send(page, "推荐一款手机")
    expect(page.locator(".msg.bot .text").last).to_have_text(ASK_BUDGET, timeout=WAIT_MS)
    send(page, "两千以内")  # four phones and accessories of the demo shop
    cards = page.locator(".msg.bot .cards").last.locator(".card")
    expect(cards.first).to_be_visible(timeout=WAIT_MS)
    expect(cards.first.locator("button")).to_have_text(["看看详情", "不感兴趣", "更多类似"])
    title = cards.first.locator("strong").inner_text()
    cards.first.get_by_role("button", name="不感兴趣").click()
    expect(cards.first.locator(".card-note")).to_have_text("好的，不再为您推荐这件商品。")
    rows = query_hub_db(
        platform.var_dir,
        "SELECT kind, item_id, channel FROM recommend_events WHERE user_id = ?",
        (customer,),
    )
    assert len(rows) == 1
    assert (rows[0]["kind"], rows[0]["channel"]) == ("dismiss", "webchat")
    # Asked again, the dialogue leaves the dismissed item out.
    send(page, "推荐一款手机")
    expect(page.locator(".msg.bot .text").last).to_have_text(ASK_BUDGET, timeout=WAIT_MS)
    send(page, "两千以内")  # four phones and accessories of the demo shop
    again = page.locator(".msg.bot .cards").nth(1).locator(".card strong")
    expect(again.first).to_be_visible(timeout=WAIT_MS)
    assert title not in again.all_inner_texts()


def test_more_like_this_on_a_card_answers_with_similar_items(
    page: Page, platform: PlatformProcess
) -> None:
    open_chat(page, platform)
    send(page, "推荐一款手机")
    expect(page.locator(".msg.bot .text").last).to_have_text(ASK_BUDGET, timeout=WAIT_MS)
    send(page, "两千以内")
    first = page.locator(".msg.bot .cards").last.locator(".card").first
    expect(first).to_be_visible(timeout=WAIT_MS)
    name = first.locator("strong").inner_text().rsplit(" ¥", 1)[0]
    first.get_by_role("button", name="更多类似").click()
    similar = page.locator(".msg.bot .cards").nth(1).locator(".card")
    expect(similar.first).to_be_visible(timeout=WAIT_MS)
    expect(similar.first.locator("p").first).to_have_text(f"与「{name}」相似")
    assert name not in [t.rsplit(" ¥", 1)[0] for t in similar.locator("strong").all_inner_texts()]
    # The customer's side shows the button's words, not the payload behind it.
    expect(page.locator(".msg.mine").last).to_contain_text("更多类似")
    assert "similar_to" not in page.locator(".msg.mine").last.inner_text()
