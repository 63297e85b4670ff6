"""Intent corrections in headless Chromium: an agent corrects a customer message from the NLU
panel, a supervisor accepts it on /console/corrections; customer text stays text."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from bot.app import Settings, create_asgi
from bot.app._container import build_hub_services
from bot.insights import store_message_intent
from bot.storage import Conversation, Message
from tests.browser import PASSWORD, WAIT_MS, browser, playwright
from tests.conftest import query_hub_db
from tests.live_hub import hub_settings, serving_in_thread

__all__ = ["browser", "playwright"]  # fixtures

HOSTILE = '<img src=x onerror="document.body.dataset.pwned=1"> 我的电话13812345678 包裹被压坏了'
ENGLISH = "<b>where</b> is my parcel, call me on +44 7700 900123"


async def prepare(settings: Settings) -> None:
    hub = build_hub_services(settings)
    await hub.database.migrate()
    await hub.agents.create("olga", PASSWORD, skills=("orders",))
    await hub.agents.create("sam", PASSWORD, role="supervisor")

    def store(session: Session) -> None:
        conversation = Conversation(
            public_id="d" * 32, channel="webchat", sender="visitor-1", language="zh", mode="bot"
        )
        message = Message(
            conversation=conversation,
            direction="in",
            author="customer",
            text=HOSTILE,
            language="zh",
        )
        other = Conversation(
            public_id="e" * 32, channel="webchat", sender="visitor-2", language="en", mode="bot"
        )
        english = Message(
            conversation=other, direction="in", author="customer", text=ENGLISH, language="en"
        )
        session.add_all([conversation, message, other, english])
        session.flush()
        store_message_intent(session.connection(), message.id, "greet", 0.35)
        ranking = [("check_order_status", 0.41), ("complain", 0.38), ("nlu_fallback", 0.1)]
        store_message_intent(session.connection(), english.id, "check_order_status", 0.41, ranking)

    await hub.database.session(store)
    await hub.handoffs.request("d" * 32, "customer_request", language="zh", skill="orders")
    hub.tracker_events.dispose()
    hub.database.dispose()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    settings = hub_settings(tmp_path, business_hours="00:00-24:00")
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, prepare(settings)).result()
    with serving_in_thread(create_asgi(settings)) as url:
        yield url, settings


def log_in(page: Page, url: str, username: str) -> None:
    page.goto(f"{url}/console")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-button").click()
    expect(page.locator("#me")).to_have_text(username, timeout=WAIT_MS)


def test_an_agent_corrects_and_a_supervisor_accepts(
    browser: Browser, hub: tuple[str, Settings]
) -> None:
    url, settings = hub
    page = browser.new_page(locale="zh-CN")
    log_in(page, url, "olga")
    page.locator("#queue .queue-open").first.click()
    form = page.locator("form#correction")
    expect(form).to_be_visible(timeout=WAIT_MS)
    expect(form.locator("select[name=message] option")).to_have_text([HOSTILE[:60]])
    form.locator("select[name=intent]").select_option("complain")
    form.locator("button").click()
    expect(form.locator(".correction-status")).to_have_text("已提交，待主管审核", timeout=WAIT_MS)
    assert page.evaluate("document.body.dataset.pwned") is None
    page.close()

    lead = browser.new_page(locale="zh-CN")
    log_in(lead, url, "sam")
    lead.goto(f"{url}/console/corrections")
    rows = lead.locator("#corrections tr")
    expect(rows).to_have_count(1, timeout=WAIT_MS)
    expect(rows.first.locator("td").nth(0)).to_contain_text("[phone]")
    expect(rows.first.locator("td").nth(0)).to_contain_text("<img src=x")  # text, not markup
    expect(rows.first.locator("td").nth(1)).to_have_text("greet")
    expect(rows.first.locator("td").nth(2)).to_have_text("complain")
    rows.first.locator("button.accept").click()
    expect(rows.first.locator("td").nth(4)).to_have_text("已通过", timeout=WAIT_MS)
    expect(lead.locator("#co-counts")).to_have_text("待审 0 · 已通过 1 · 已驳回 0")
    assert lead.evaluate("document.body.dataset.pwned") is None
    lead.close()
    stored = query_hub_db(settings.var_dir, "SELECT text, status FROM intent_corrections")
    assert [r["status"] for r in stored] == ["accepted"]
    assert "13812345678" not in stored[0]["text"]


def test_a_supervisor_settles_unsure_messages_with_one_click(
    browser: Browser, hub: tuple[str, Settings]
) -> None:
    url, settings = hub
    lead = browser.new_page(locale="zh-CN")
    log_in(lead, url, "sam")
    lead.goto(f"{url}/console/corrections")
    rows = lead.locator("#unsure tr")
    expect(rows).to_have_count(2, timeout=WAIT_MS)  # newest first
    english, chinese = rows.nth(0), rows.nth(1)
    expect(english.locator("td").nth(0)).to_contain_text("<b>where</b>")  # text, not markup
    expect(english.locator("td").nth(0)).not_to_contain_text("7700 900123")  # redacted
    expect(english.locator("td").nth(1)).to_have_text("置信度低")
    expect(english.locator("td").nth(2)).to_have_text("check_order_status (0.41)")
    # The bot's intent to confirm, then the alternatives that are intents of the domain.
    expect(english.locator("button.pick")).to_have_text(
        ["确认 check_order_status", "complain (0.38)"]
    )
    expect(chinese.locator("button.pick")).to_have_text(["确认 greet"])
    lead.locator("#un-language").select_option("en")
    expect(rows).to_have_count(1, timeout=WAIT_MS)
    lead.locator(".lang-toggle").first.click()
    expect(lead.locator("#un-heading")).to_have_text("Messages the bot was unsure about")
    expect(rows.first.locator("td").nth(1)).to_have_text("low confidence", timeout=WAIT_MS)
    rows.first.locator("button.pick", has_text="complain").click()
    expect(rows.first).to_have_text("recorded as complain", timeout=WAIT_MS)
    done = lead.locator("#corrections tr")
    expect(done).to_have_count(1, timeout=WAIT_MS)
    expect(done.first.locator("td").nth(2)).to_have_text("complain")
    expect(done.first.locator("td").nth(4)).to_have_text("accepted")
    expect(lead.locator("#co-counts")).to_have_text("pending 0 · accepted 1 · rejected 0")
    # The Chinese one is still there; another intent picked from the list settles it.
    lead.locator("#un-language").select_option("")
    expect(rows).to_have_count(1, timeout=WAIT_MS)
    expect(rows.first.locator("td").nth(0)).to_contain_text("包裹被压坏了")
    rows.first.locator("select.other").select_option("complain")
    expect(done).to_have_count(2, timeout=WAIT_MS)
    lead.locator("#un-language").select_option("zh")
    expect(rows.first).to_have_text("Nothing to settle", timeout=WAIT_MS)
    assert lead.evaluate("document.body.dataset.pwned") is None
    lead.close()
    stored = query_hub_db(
        settings.var_dir,
        "SELECT text, wrong_intent, right_intent, status, reviewer FROM intent_corrections "
        "ORDER BY id",
    )
    assert [(r["wrong_intent"], r["right_intent"], r["status"], r["reviewer"]) for r in stored] == [
        ("check_order_status", "complain", "accepted", "sam"),
        ("greet", "complain", "accepted", "sam"),
    ]
    assert all("13812345678" not in r["text"] and "900123" not in r["text"] for r in stored)
