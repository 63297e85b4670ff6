"""A ticket end to end in two headless Chromium pages against the whole running platform (real
Rasa, the action server and the widget): a customer complains angrily in the widget, the
complaint becomes a P1 ticket the customer is told of; an agent finds it on the console's ticket
page, replies publicly, the customer sees the reply in the widget; the agent resolves it and the
customer is asked for their satisfaction."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.browser import PASSWORD, WAIT_MS, browser, conversation_of, open_chat, playwright, send
from tests.conftest import query_hub_db
from tests.launch import PlatformProcess

__all__ = ["browser", "playwright"]  # fixtures

pytestmark = pytest.mark.integration

NUMBER = re.compile(r"T-\d{8}-\d{4}")
# The ticket notices reach the widget through the hub's notice job (every 2 s by default).
NOTICE_MS = WAIT_MS * 3


@pytest.fixture
def contexts(browser: Browser) -> Iterator[tuple[BrowserContext, BrowserContext]]:
    """Two separate browser profiles: the customer's and the agent's (their own cookies)."""
    customer = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    agent = browser.new_context(viewport={"width": 1500, "height": 1000}, locale="zh-CN")
    yield customer, agent
    customer.close()
    agent.close()


def test_angry_complaint_to_p1_ticket_reply_resolution_and_satisfaction_question(
    contexts: tuple[BrowserContext, BrowserContext], platform: PlatformProcess
) -> None:
    customer_context, agent_context = contexts
    customer = customer_context.new_page()
    open_chat(customer, platform)
    send(customer, "我要去12315投诉你们，垃圾商家，耳机坏了三次还不给退！")
    texts = customer.locator(".msg .text")
    told = texts.filter(has_text=NUMBER)
    expect(told.first).to_be_visible(timeout=WAIT_MS)
    found = NUMBER.search(told.first.text_content() or "")
    assert found is not None
    number = found.group(0)
    conversation_id = conversation_of(customer, platform)
    (stored,) = query_hub_db(
        platform.var_dir,
        "SELECT priority, category, conversation_id, channel FROM tickets WHERE number = ?",
        (number,),
    )
    assert dict(stored) == {
        "priority": "P1",
        "category": "complaint",
        "conversation_id": conversation_id,
        "channel": "webchat",
    }

    username = f"agent-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [sys.executable, "-m", "bot", "agents", "add", username, "--display-name", "小王"],
        env={**platform.env, "BOT_NEW_AGENT_PASSWORD": PASSWORD},
        check=True,
        capture_output=True,
    )
    agent = agent_context.new_page()
    agent.goto(f"{platform.hub_url}/console")
    agent.locator("#username").fill(username)
    agent.locator("#password").fill(PASSWORD)
    agent.locator("#login-button").click()
    expect(agent.locator("#app")).to_be_visible(timeout=WAIT_MS)
    agent.goto(f"{platform.hub_url}/console/tickets")
    agent.locator("#f-q").fill(number)
    agent.locator("#f-apply").click()
    row = agent.locator(f"#tk-rows tr[data-number='{number}']")
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(row.locator("td").nth(4)).to_have_text("P1")
    row.locator(".open-ticket").click()
    expect(agent.locator("#tk-fields dd[data-field='category']")).to_have_text("投诉")

    reply = "非常抱歉给您带来困扰，我们已安排为您全额退款，请留意到账通知。"
    agent.locator("#tk-text").fill(reply)
    agent.locator("#tk-reply").click()
    expect(agent.locator("#tk-thread .entry-reply .text")).to_have_text([reply])
    # The customer sees the reply in the widget, in their conversation.
    expect(texts.filter(has_text=reply).first).to_contain_text(number, timeout=NOTICE_MS)

    agent.locator("#d-status").select_option("resolved")
    agent.locator("#d-status-go").click()
    expect(agent.locator("#tk-fields dd[data-field='status']")).to_have_text("已解决")
    satisfaction = texts.filter(has_text="请为本次处理打分")
    expect(satisfaction.first).to_contain_text(
        f"您的工单 {number} 状态已更新为：已解决", timeout=NOTICE_MS
    )
    assert customer.evaluate("window.pwned") is None
