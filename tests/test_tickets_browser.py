"""The console's ticket pages in headless Chromium against a live hub (Rasa is not needed): an
agent logs in, finds a ticket the shop opened through the API, filters, opens it, assigns it,
replies publicly and resolves it; the reply, the assignment and the status are stored."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from bot.app import Settings, create_asgi
from bot.app._container import build_hub_services
from bot.storage import Conversation, Handoff, Message, utcnow
from tests.browser import PASSWORD, WAIT_MS, browser, playwright
from tests.live_hub import hub_settings, serving_in_thread

__all__ = ["browser", "playwright"]  # fixtures

KEY = "tickets-browser-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
# Screenshots of the pages for people to look at (not committed): the system's temporary folder,
# or BOT_TEST_SHOTS.
SHOTS = Path(os.environ.get("BOT_TEST_SHOTS") or Path(tempfile.gettempdir()) / "console-shots")
HOSTILE = '<img src=x onerror="document.body.dataset.pwned=1"><script>alert(1)</script>'


async def prepare(settings: Settings) -> None:
    hub = build_hub_services(settings)
    await hub.database.migrate()
    await hub.agents.create("mei", PASSWORD, display_name="Mei")
    await hub.agents.create("tom", PASSWORD, display_name="Tom")
    # Two customers waiting for a human: one the shop names (REST), one anonymous web-chat visitor.
    for public_id, channel, sender, texts, waited in [
        (
            "c-rest",
            "rest",
            "customer-42",
            ["我的订单还没到", "快点给我转人工！"],
            timedelta(minutes=33),
        ),
        ("c-web", "webchat", "session-9f8e7d", ["hello", HOSTILE], timedelta(hours=1, minutes=5)),
    ]:
        conversation = Conversation(
            public_id=public_id, channel=channel, sender=sender, language="zh", mode="bot"
        )
        conversation.messages = [
            Message(direction="in", author="customer", text=text, language="zh") for text in texts
        ] + [Message(direction="out", author="bot", text="正在为您转接人工客服", language="zh")]

        def store(session: Session, stored: Conversation = conversation) -> None:
            session.add(stored)

        await hub.database.session(store)
        ticket = await hub.handoffs.request(
            public_id, "customer_request", language="zh", skill="general"
        )

        since = utcnow() - waited

        def backdate(
            session: Session, handoff_id: int = ticket.handoff.id, at: Any = since
        ) -> None:
            handoff = session.get(Handoff, handoff_id)
            assert handoff is not None
            handoff.requested_at = at

        await hub.database.session(backdate)
    hub.tracker_events.dispose()
    hub.database.dispose()


@pytest.fixture
def hub_url(tmp_path: Path) -> Iterator[str]:
    """A hub on a free port in a thread (Playwright's sync API cannot run inside the test's
    event loop), with the shop's API key so the test can open tickets as the shop does."""
    settings = hub_settings(tmp_path, api_key=KEY)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, prepare(settings)).result()
    with serving_in_thread(create_asgi(settings)) as url:
        yield url


def open_ticket(shop: httpx.Client, **fields: Any) -> dict[str, Any]:
    created = shop.post("/api/tickets", json=fields)
    assert created.status_code == 201, created.text
    ticket: dict[str, Any] = created.json()
    return ticket


def stored(shop: httpx.Client, number: str) -> dict[str, Any]:
    answer = shop.get(f"/api/tickets/{number}")
    assert answer.status_code == 200, answer.text
    detail: dict[str, Any] = answer.json()
    return detail


def log_in(page: Page, hub_url: str) -> None:
    page.goto(f"{hub_url}/console")
    page.locator("#username").fill("mei")
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-button").click()
    expect(page.locator("#me")).to_have_text("Mei", timeout=WAIT_MS)


def test_an_agent_filters_opens_replies_to_and_resolves_a_ticket(
    browser: Browser, hub_url: str
) -> None:
    with httpx.Client(base_url=hub_url, headers=AUTH, timeout=30) as shop:
        angry = open_ticket(
            shop,
            customer_id="customer-7",
            subject="耳机左边没有声音 " + HOSTILE,
            description="收到的耳机左耳没有声音，订单 YX2611010001\n" + HOSTILE,
            category="complaint",
            language="zh",
            angry=True,
        )
        other = open_ticket(
            shop,
            customer_id="customer-8",
            subject="Invoice address",
            description="Please change the address on my invoice",
            category="account",
        )
        number = angry["number"]
        assert angry["priority"] == "P1"
        assert other["priority"] != "P1"

        context = browser.new_context(viewport={"width": 1500, "height": 1000}, locale="zh-CN")
        page = context.new_page()
        log_in(page, hub_url)
        page.get_by_role("link", name="工单").click()
        expect(page).to_have_url(f"{hub_url}/console/tickets")
        rows = page.locator("#tk-rows tr")
        expect(rows).to_have_count(2, timeout=WAIT_MS)
        expect(page.locator("#tk-count")).to_have_text("共 2 张")
        # The customer's markup shows as the text it is and runs nothing.
        expect(page.locator(f"#tk-rows tr[data-number='{number}'] td").nth(1)).to_have_text(
            "耳机左边没有声音 " + HOSTILE
        )
        assert page.locator("#tk-rows img, #tk-rows script").count() == 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "tickets-list.png"), full_page=True)

        # Filters: priority, then text, then a saved view with nothing in it yet.
        page.locator("#f-priority").select_option("P1")
        page.locator("#f-apply").click()
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-number", number)
        page.locator("#f-priority").select_option("")
        page.locator("#f-q").fill("invoice")
        page.locator("#f-apply").click()
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-number", other["number"])
        page.locator("button[data-view='mine']").click()
        expect(rows).to_have_text(["没有符合条件的工单"])
        expect(page).to_have_url(f"{hub_url}/console/tickets?view=mine")
        page.locator("button[data-view='all']").click()
        expect(rows).to_have_count(2)

        page.locator(f"#tk-rows tr[data-number='{number}'] .open-ticket").click()
        expect(page.locator("#tk-detail-title")).to_contain_text(number)
        expect(page.locator("#tk-fields dd[data-field='description']")).to_have_text(
            "收到的耳机左耳没有声音，订单 YX2611010001\n" + HOSTILE
        )
        expect(page.locator("#tk-fields dd[data-field='status']")).to_have_text("新建")

        page.locator("#d-assignee").select_option("mei")
        page.locator("#d-assign-go").click()
        expect(page.locator("#tk-fields dd[data-field='assignee']")).to_have_text("mei")
        page.locator("button[data-view='mine']").click()
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-number", number)
        page.locator("#tk-rows .open-ticket").click()

        reply = "您好，我们会为您补发新耳机，请留意物流信息。"
        page.locator("#tk-text").fill(reply)
        page.locator("#tk-reply").click()
        expect(page.locator("#tk-thread .entry-reply .text")).to_have_text([reply])
        page.locator("#tk-text").fill("已联系仓库")
        page.locator("#tk-note").click()
        expect(page.locator("#tk-thread .entry-note .text")).to_have_text(["已联系仓库"])
        # Someone else changes the ticket meanwhile: the agent's stale change is refused (409),
        # the page says why and shows the ticket as it now is; nothing is overwritten.
        version = stored(shop, number)["ticket"]["version"]
        behind = shop.patch(f"/api/tickets/{number}", json={"version": version, "tags": ["耳机"]})
        assert behind.status_code == 200, behind.text
        page.locator("#d-status").select_option("resolved")
        page.locator("#d-status-go").click()
        expect(page.locator("#tk-detail-error")).to_contain_text(
            f"is at version {version + 1}, not {version}: someone changed it meanwhile"
        )
        expect(page.locator("#tk-fields dd[data-field='tags']")).to_have_text("耳机")
        expect(page.locator("#tk-fields dd[data-field='status']")).to_have_text("处理中")
        page.locator("#d-status").select_option("resolved")
        page.locator("#d-status-go").click()
        expect(page.locator("#tk-fields dd[data-field='status']")).to_have_text("已解决")
        expect(page.locator("#tk-detail-error")).to_have_text("")
        expect(page.locator("#tk-history")).to_contain_text("处理中 → 已解决")
        # From resolved the page offers only the moves the service allows.
        expect(page.locator("#d-status option")).to_have_text(["重新打开", "已关闭"])
        page.screenshot(path=str(SHOTS / "ticket-detail.png"), full_page=True)
        # Resolved, it has left "my open tickets".
        expect(rows).to_have_text(["没有符合条件的工单"])
        assert page.evaluate("document.body.dataset.pwned") is None

        # The other ticket goes to the orders team.
        page.locator("button[data-view='all']").click()
        page.locator(f"#tk-rows tr[data-number='{other['number']}'] .open-ticket").click()
        expect(page.locator("#tk-detail-title")).to_contain_text(other["number"])
        page.locator("#d-team").select_option("orders")
        page.locator("#d-team-go").click()
        expect(page.locator("#tk-fields dd[data-field='team']")).to_have_text("订单")
        assert stored(shop, other["number"])["ticket"]["team"] == "orders"

        detail = stored(shop, number)
        assert detail["ticket"]["status"] == "resolved"
        assert detail["ticket"]["assignee"] == "mei"
        assert detail["ticket"]["tags"] == ["耳机"]
        assert detail["ticket"]["first_responded_at"] is not None
        assert [(e["kind"], e["author"], e["text"]) for e in detail["entries"]] == [
            ("reply", "agent:mei", reply),
            ("note", "agent:mei", "已联系仓库"),
        ]
        assert {(h["field"], h["new"], h["actor"]) for h in detail["history"]} >= {
            ("assignee", "mei", "agent:mei"),
            ("status", "resolved", "agent:mei"),
        }
        assert stored(shop, other["number"])["ticket"]["status"] == "new"
        context.close()


def test_the_page_says_to_log_in_without_a_session(browser: Browser, hub_url: str) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{hub_url}/console/tickets")
    expect(page.locator("#tk-login")).to_be_visible()
    expect(page.locator("#tk-login")).to_contain_text("Log in to the console first.")
    expect(page.locator("#tk-app")).to_be_hidden()
    context.close()


def test_the_queue_shows_who_waits_where_what_they_wrote_and_for_how_long(
    browser: Browser, hub_url: str
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    log_in(page, hub_url)
    items = page.locator("#queue .queue-open")
    expect(items).to_have_count(2)
    named = items.filter(has_text="customer-42")
    expect(named.locator(".who")).to_have_text("customer-42 · App")
    expect(named.locator(".last")).to_have_text("快点给我转人工！")
    expect(named.locator(".meta")).to_have_text("客户要求 · 综合 · ZH")
    expect(named.locator(".waited")).to_have_text("已等待 33分钟")
    visitor = items.filter(has_not_text="customer-42")
    expect(visitor.locator(".who")).to_have_text(re.compile(r"^访客 [0-9a-f]{4} · 网页聊天$"))
    expect(visitor.locator(".last")).to_have_text(HOSTILE)  # as text: nothing runs
    expect(visitor.locator(".waited")).to_have_text("已等待 1小时5分钟")
    assert "session-9f8e7d" not in (visitor.text_content() or "")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "console-queue.png"), full_page=True)
    page.locator("#app .lang-toggle").click()
    page.reload()  # the queue is drawn again in English
    expect(named.locator(".waited")).to_have_text("waited 33 min")
    expect(visitor.locator(".who")).to_have_text(re.compile(r"^Visitor [0-9a-f]{4} · web chat$"))
    expect(visitor.locator(".waited")).to_have_text("waited 1 hr, 5 min")
    assert page.evaluate("document.body.dataset.pwned") is None
    assert page.locator("#queue img, #queue script").count() == 0
    context.close()
