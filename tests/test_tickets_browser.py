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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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
    await hub.agents.create("lead", PASSWORD, display_name="Lead", role="supervisor")
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


def log_in(page: Page, hub_url: str, username: str = "mei") -> None:
    page.goto(f"{hub_url}/console")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-button").click()
    expect(page.locator("#me")).to_have_text(username.capitalize(), timeout=WAIT_MS)


# zh-CN's short date and time, as the page writes them in the browser's own time zone.
LOCAL_TIME = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2}) (\d{1,2}):(\d{2})$")


def shown_as_local(text: str, iso: str, zone: str) -> bool:
    """Whether ``text`` is the moment ``iso`` in ``zone`` to the minute, as zh-CN writes it."""
    found = LOCAL_TIME.match(text)
    assert found is not None, f"{text!r} is not a local date and time"
    moment = datetime.fromisoformat(iso).astimezone(ZoneInfo(zone))
    parts = tuple(int(g) for g in found.groups())
    return parts == (moment.year, moment.month, moment.day, moment.hour, moment.minute)


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
        expect(page.locator(f"#tk-rows tr[data-number='{number}'] td").nth(2)).to_have_text(
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
        # The thread names the agent as the console does, not by the stored actor key.
        expect(page.locator("#tk-thread .entry-reply .who")).to_contain_text(" · Mei · ")
        page.locator("#tk-text").fill("已联系仓库")
        page.locator("#tk-note").click()
        expect(page.locator("#tk-thread .entry-note .text")).to_have_text(["已联系仓库"])
        # Someone else changes the ticket meanwhile: the agent's stale change is refused (409),
        # the page says why and shows the ticket as it now is; nothing is overwritten.
        version = stored(shop, number)["ticket"]["version"]
        behind = shop.patch(f"/api/tickets/{number}", json={"version": version, "tags": ["耳机"]})
        assert behind.status_code == 200, behind.text
        # The page notices (live), and says so without swapping the ticket under the agent.
        expect(page.locator("#tk-stale")).to_be_visible(timeout=WAIT_MS)
        page.locator("#d-status").select_option("resolved")
        page.locator("#d-status-go").click()
        expect(page.locator("#tk-detail-error")).to_contain_text(
            f"is at version {version + 1}, not {version}: someone changed it meanwhile"
        )
        expect(page.locator("#tk-fields dd[data-field='tags']")).to_have_text("耳机")
        expect(page.locator("#tk-stale")).to_be_hidden()
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


def test_a_conversation_becomes_a_ticket_whose_page_links_back_and_speaks_in_words(
    browser: Browser, hub_url: str
) -> None:
    zone = "America/New_York"  # not the shop's (Asia/Shanghai) nor UTC: times follow the browser
    context = browser.new_context(
        viewport={"width": 1500, "height": 1000}, locale="zh-CN", timezone_id=zone
    )
    page = context.new_page()
    log_in(page, hub_url)
    visitor = page.locator("#queue .queue-open").filter(has_not_text="customer-42")
    visitor.click()
    page.locator("#accept").click()
    expect(page.locator("#to-ticket")).to_be_visible(timeout=WAIT_MS)
    page.locator("#to-ticket").click()
    link = page.locator("#ticket-link")
    expect(link).to_have_text(re.compile(r"^已创建工单 T-\d{8}-\d{4}$"), timeout=WAIT_MS)
    number = (link.text_content() or "").split()[-1]
    # A second click opens no duplicate.
    page.locator("#to-ticket").click()
    expect(link).to_have_text(f"该会话已有工单 {number}")
    # The customer is told the number in their conversation (the ticket-notice job posts it).
    expect(page.locator("#transcript .text").last).to_contain_text(
        f"已为本次对话创建工单 {number}", timeout=WAIT_MS
    )

    link.click()
    expect(page).to_have_url(f"{hub_url}/console/tickets?ticket={number}")
    expect(page.locator("#tk-detail-title")).to_contain_text(number, timeout=WAIT_MS)
    fields = page.locator("#tk-fields")
    expect(fields.locator("dd[data-field='channel']")).to_have_text("webchat")
    expect(fields.locator("dd[data-field='customer']")).to_have_text("webchat:session-9f8e7d")
    expect(fields.locator("dd[data-field='description']")).to_contain_text(HOSTILE)
    # History in words: field names and values translated, times in the browser's zone.
    status_row = page.locator("#tk-history tr[data-field='status']")
    expect(status_row.locator("td").nth(1)).to_have_text("Mei")
    expect(status_row.locator("td").nth(2)).to_have_text("状态")
    expect(status_row.locator("td").nth(3)).to_have_text("新建")
    with httpx.Client(base_url=hub_url, headers=AUTH, timeout=30) as shop:
        created = stored(shop, number)["ticket"]["created_at"]
    assert shown_as_local(status_row.locator("td").first.text_content() or "", created, zone)
    page.locator("#tk-text").fill("我们已登记，会尽快处理。")
    page.locator("#tk-reply").click()
    first_reply = page.locator("#tk-history tr[data-field='first_responded_at']")
    expect(first_reply.locator("td").nth(2)).to_have_text("首次响应")
    with httpx.Client(base_url=hub_url, headers=AUTH, timeout=30) as shop:
        responded = stored(shop, number)["ticket"]["first_responded_at"]
    assert shown_as_local(first_reply.locator("td").nth(3).text_content() or "", responded, zone)
    history = page.locator("#tk-history").text_content() or ""
    assert "first_responded_at" not in history
    assert not re.search(r"\d{4}-\d{2}-\d{2}T", history)
    # The originating conversation, its customer's markup shown as text.
    page.locator("#d-conversation").click()
    conversation = page.locator("#tk-conversation .text")
    expect(conversation.first).to_have_text("hello")
    expect(conversation.nth(1)).to_have_text(HOSTILE)
    assert page.locator("#tk-conversation img, #tk-conversation script").count() == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "ticket-from-conversation.png"), full_page=True)
    assert page.evaluate("document.body.dataset.pwned") is None
    # The conversation is still with the agent: the ticket page opens it in the console.
    page.locator("#tk-open-handoff").click()
    expect(page.locator("#transcript .text").first).to_have_text("hello", timeout=WAIT_MS)
    expect(page.locator("#to-ticket")).to_be_visible()
    context.close()


def test_bulk_changes_merges_and_the_teams_sla(browser: Browser, hub_url: str) -> None:
    with httpx.Client(base_url=hub_url, headers=AUTH, timeout=30) as shop:
        first = open_ticket(
            shop, customer_id="c-7", subject="Parcel late", description="Order 1 is late"
        )
        again = open_ticket(
            shop, customer_id="c-7", subject="Parcel still late", description="Order 1 again"
        )
        other = open_ticket(
            shop, customer_id="c-8", subject="Refund", description="Refund order 2", team="refunds"
        )
        closed = open_ticket(
            shop, customer_id="c-9", subject="Thanks", description="All good", team="refunds"
        )
        answer = shop.patch(
            f"/api/tickets/{closed['number']}", json={"status": "closed", "version": 1}
        )
        assert answer.status_code == 200, answer.text

        context = browser.new_context(viewport={"width": 1500, "height": 1000}, locale="zh-CN")
        page = context.new_page()
        log_in(page, hub_url)
        page.goto(f"{hub_url}/console/tickets")
        rows = page.locator("#tk-rows tr")
        expect(rows).to_have_count(4, timeout=WAIT_MS)
        expect(page.locator("#tk-bulk")).to_be_hidden()
        for ticket in (first, other, closed):
            page.locator(f"#tk-rows tr[data-number='{ticket['number']}'] .pick").check()
        expect(page.locator("#tk-picked")).to_have_text("已选 3 张")
        page.locator("#b-status").select_option("pending_customer")
        page.locator("#b-status-go").click()
        result = page.locator("#tk-bulk-result")
        expect(result).to_contain_text("已更改 2 张 · 1 张未更改")
        expect(result).to_contain_text(
            f"{closed['number']}: ticket {closed['number']} cannot go from closed to "
            "pending_customer"
        )
        expect(page.locator("#tk-bulk")).to_be_hidden()
        page.locator("#tk-all").check()
        expect(page.locator("#tk-picked")).to_have_text("已选 4 张")
        page.locator("#b-assignee").select_option("tom")
        page.locator("#b-assign-go").click()
        expect(result).to_contain_text("已更改 3 张 · 1 张未更改")
        for ticket, status, assignee in (
            (first, "pending_customer", "tom"),
            (again, "new", "tom"),
            (other, "pending_customer", "tom"),
            (closed, "closed", None),
        ):
            found = stored(shop, ticket["number"])["ticket"]
            assert (found["status"], found["assignee"]) == (status, assignee)

        # Merging: an agent cannot merge another customer's ticket (nor force it); the same
        # customer's merges, and the page goes on with the ticket merged into.
        page.locator(f"#tk-rows tr[data-number='{first['number']}'] .open-ticket").click()
        expect(page.locator("#tk-detail-title")).to_contain_text(first["number"])
        expect(page.locator("#d-force-label")).to_be_hidden()
        page.locator("#d-merge-into").fill(other["number"])
        page.locator("#d-merge-go").click()
        expect(page.locator("#tk-detail-error")).to_contain_text("belong to different customers")
        page.locator("#d-merge-into").fill(first["number"].lower())
        page.locator("#d-merge-go").click()
        expect(page.locator("#tk-detail-error")).to_contain_text("into itself")
        page.locator("#d-merge-into").fill(again["number"])
        page.locator("#d-merge-go").click()
        expect(page.locator("#tk-detail-title")).to_contain_text(again["number"])
        merged_row = page.locator("#tk-history tr[data-field='merged_from']")
        expect(merged_row.locator("td").nth(2)).to_have_text("合并自")
        expect(merged_row.locator("td").nth(3)).to_have_text(first["number"])
        expect(page.locator("#tk-thread .entry-note .text")).to_contain_text(
            f"Merged from {first['number']}: Parcel late"
        )
        source = stored(shop, first["number"])
        assert (source["ticket"]["status"], source["ticket"]["merged_into"]) == (
            "closed",
            again["number"],
        )
        context.close()

        # A supervisor may force a merge across customers, and sees SLA compliance per team.
        lead_context = browser.new_context(viewport={"width": 1500, "height": 1000}, locale="zh-CN")
        lead = lead_context.new_page()
        log_in(lead, hub_url, "lead")
        lead.goto(f"{hub_url}/console/tickets?ticket={other['number']}")
        expect(lead.locator("#tk-detail-title")).to_contain_text(other["number"], timeout=WAIT_MS)
        lead.locator("#d-merge-into").fill(again["number"])
        lead.locator("#d-merge-go").click()
        expect(lead.locator("#tk-detail-error")).to_contain_text("a supervisor may force it")
        lead.locator("#d-force").check()
        lead.locator("#d-merge-go").click()
        expect(lead.locator("#tk-detail-title")).to_contain_text(again["number"])
        assert stored(shop, other["number"])["ticket"]["merged_into"] == again["number"]

        lead.goto(f"{hub_url}/console/supervisor")
        refunds = lead.locator("#sla tr[data-team='refunds'] td")
        # refunds: the closed ticket (met); the merged one is counted in the ticket it joined.
        expect(refunds).to_have_text(["退款", "1", "1", "0", "0", "100%"], timeout=WAIT_MS)
        general = lead.locator("#sla tr[data-team='general'] td")
        expect(general).to_have_text(["综合", "1", "0", "0", "1", "–"])
        lead.screenshot(path=str(SHOTS / "supervisor-sla.png"), full_page=True)
        lead_context.close()


def test_the_list_shows_a_new_ticket_without_a_reload_and_works_from_the_keyboard(
    browser: Browser, hub_url: str
) -> None:
    with httpx.Client(base_url=hub_url, headers=AUTH, timeout=30) as shop:
        first = open_ticket(
            shop, customer_id="customer-1", subject="第一张", description="一", category="other"
        )
        context = browser.new_context(viewport={"width": 1500, "height": 1000}, locale="zh-CN")
        page = context.new_page()
        log_in(page, hub_url)
        page.goto(f"{hub_url}/console/tickets")
        rows = page.locator("#tk-rows tr")
        expect(rows).to_have_count(1, timeout=WAIT_MS)
        # The shop opens a ticket while the agent looks at the list: it shows up by itself.
        second = open_ticket(
            shop, customer_id="customer-2", subject="第二张", description="二", category="other"
        )
        expect(rows).to_have_count(2, timeout=WAIT_MS)
        expect(rows.first).to_have_attribute("data-number", second["number"])
        # A change to a ticket (assigned through the API) shows too.
        patched = shop.patch(
            f"/api/tickets/{first['number']}", json={"assignee": "tom", "version": first["version"]}
        )
        assert patched.status_code == 200, patched.text
        expect(
            page.locator(f"#tk-rows tr[data-number='{first['number']}'] td").nth(6)
        ).to_have_text("tom", timeout=WAIT_MS)
        # Keyboard: j moves to the first ticket, j again to the next, Enter opens it, r replies.
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.keyboard.press("j")
        expect(page.locator("#tk-rows .open-ticket").first).to_be_focused()
        page.keyboard.press("j")
        page.keyboard.press("Enter")
        expect(page.locator("#tk-detail-title")).to_contain_text(
            page.locator("#tk-rows .open-ticket").nth(1).inner_text(), timeout=WAIT_MS
        )
        page.keyboard.press("r")
        expect(page.locator("#tk-text")).to_be_focused()
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.keyboard.press("/")
        expect(page.locator("#f-q")).to_be_focused()
        context.close()
