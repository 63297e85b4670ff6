"""Handoff end to end in two real headless Chromium pages: a customer in the web-chat widget and
an agent in the console, against the whole running platform."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from bot.conversations import csat_question, notice
from channels.media import render_text_image
from tests.browser import (
    PASSWORD,
    WAIT_MS,
    bot_texts,
    browser,
    conversation_of,
    open_chat,
    playwright,
    send,
)
from tests.conftest import query_hub_db, response_text
from tests.launch import PlatformProcess

__all__ = ["browser", "playwright"]  # fixtures

pytestmark = pytest.mark.integration

ORDER_ID = "YX2611010001"
# Markup in a Chinese message (mostly Chinese, so the conversation stays in Chinese).
HOSTILE = '请看<img src=x onerror="window.pwned=1">这段话<script>window.pwned=2</script>谢谢你们的耐心帮助'


@pytest.fixture
def contexts(browser: Browser) -> Iterator[tuple[BrowserContext, BrowserContext]]:
    """Two separate browser profiles: the customer's and the agent's (their own cookies)."""
    customer = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    agent = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    yield customer, agent
    customer.close()
    agent.close()


def add_agent(platform: PlatformProcess) -> str:
    username = f"agent-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [sys.executable, "-m", "bot", "agents", "add", username, "--max-chats", "50",
         "--skills", "orders,refunds,technical,sales,general", "--display-name", "小李"],
        env={**platform.env, "BOT_NEW_AGENT_PASSWORD": PASSWORD},
        check=True,
        capture_output=True,
    )  # fmt: skip
    return username


def log_in(page: Page, platform: PlatformProcess, username: str) -> None:
    page.goto(f"{platform.hub_url}/console")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-button").click()
    expect(page.locator("#app")).to_be_visible(timeout=WAIT_MS)
    page.locator("#presence").select_option("online")


def csrf(context: BrowserContext) -> dict[str, str]:
    """The CSRF header the console's script sends, from the context's cookie."""
    token = next(c["value"] for c in context.cookies() if c["name"] == "console_csrf")
    return {"X-CSRF-Token": token}


def handoff_of(agent: BrowserContext, platform: PlatformProcess, conversation_id: str) -> int:
    """The handoff id of the conversation, as the agent's own session sees the queue."""
    for _ in range(100):
        queue = agent.request.get(f"{platform.hub_url}/console/api/queue").json()
        mine = [h for h in queue if h["conversation_id"] == conversation_id]
        if mine:
            return int(mine[0]["id"])
        agent.pages[0].wait_for_timeout(300)
    pytest.fail(f"the handoff of {conversation_id} never reached the agent's queue")


def test_customer_asks_for_a_human_agent_helps_and_hands_back(
    contexts: tuple[BrowserContext, BrowserContext], platform: PlatformProcess, tmp_path: Path
) -> None:
    customer_context, agent_context = contexts
    agent = agent_context.new_page()
    log_in(agent, platform, add_agent(platform))
    expect(agent.locator("#presence")).to_have_value("online")
    try:
        serve_and_hand_back(customer_context.new_page(), agent, agent_context, platform, tmp_path)
    finally:
        # Offline again, so later tests' handoffs are not routed to this agent.
        offline = {"presence": "offline"}
        agent_context.request.post(
            f"{platform.hub_url}/console/api/presence", data=offline, headers=csrf(agent_context)
        )


def serve_and_hand_back(
    customer: Page,
    agent: Page,
    agent_context: BrowserContext,
    platform: PlatformProcess,
    tmp: Path,
) -> None:
    open_chat(customer, platform)
    send(customer, "运费怎么收？")
    expect(bot_texts(customer).last).to_contain_text("免运费", timeout=WAIT_MS)
    send(customer, f"我的订单{ORDER_ID}到哪了")
    expect(bot_texts(customer).last).to_contain_text(ORDER_ID, timeout=WAIT_MS)
    send(customer, "我要转人工")
    expect(bot_texts(customer).last).to_contain_text("人工客服", timeout=WAIT_MS)
    conversation_id = conversation_of(customer, platform)

    # The request reaches the agent's live queue; opening it shows the context.
    handoff = handoff_of(agent_context, platform, conversation_id)
    item = agent.locator(f'.queue-open[data-handoff="{handoff}"]')
    expect(item).to_be_visible(timeout=WAIT_MS)
    # Who, on which channel, what they last wrote, why and how long they have waited.
    expect(item.locator(".who")).to_contain_text("网页聊天")
    expect(item.locator(".last")).to_have_text("我要转人工")
    expect(item.locator(".meta")).to_contain_text("客户要求")
    item.click()
    transcript = agent.locator("#transcript .text")
    expect(transcript.filter(has_text="我要转人工")).to_have_count(1, timeout=WAIT_MS)
    expect(agent.locator("#summary")).to_contain_text("转人工原因：customer_request")
    expect(agent.locator("#orders")).to_contain_text(ORDER_ID)
    expect(agent.locator("#nlu")).to_contain_text(ORDER_ID)
    # The knowledge answer's sources came from Rasa as a message of their own with no text
    # (stored for the context panel's sources): no empty bubble in the transcript for it.
    expect(transcript.filter(has_text="免运费")).to_have_count(1)
    data_only = query_hub_db(
        platform.var_dir,
        "SELECT count(*) AS n FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE c.public_id = ? AND m.direction = 'out' AND coalesce(m.text, '') = ''",
        (conversation_id,),
    )
    assert data_only[0]["n"] >= 1
    assert all(text.strip() for text in transcript.all_inner_texts())

    agent.locator("#accept").click()
    expect(agent.locator("#reply-form")).to_be_visible(timeout=WAIT_MS)
    expect(customer.locator(".msg .text").last).to_contain_text("小李", timeout=WAIT_MS)

    # Live chat both ways, with the customer's typing shown to the agent.
    agent.locator("#reply").fill("您好，我是客服小李，正在为您查询物流。")
    agent.locator("#send").click()
    expect(customer.locator(".msg.agent .text").last).to_have_text(
        "您好，我是客服小李，正在为您查询物流。", timeout=WAIT_MS
    )
    box = customer.locator("textarea.input")
    for _ in range(3):  # typing is a hint, sent at most every 2 s and shown for 4 s: try again
        box.press_sequentially("好")
        try:
            expect(agent.locator("#typing")).to_be_visible(timeout=5_000)
            break
        except AssertionError:
            customer.wait_for_timeout(2_100)
    else:
        pytest.fail("the customer's typing never showed in the console")
    box.fill("好的")
    box.press("Enter")
    expect(transcript.last).to_have_text("好的", timeout=WAIT_MS)

    # A picture sent to the agent: its text in the transcript, the original one click away.
    shot = render_text_image([f"订单号：{ORDER_ID}", "物流停在中转站三天了"], tmp / "shot.png")
    customer.locator("input.file").set_input_files(str(shot))
    link = agent.locator("#transcript li").last.locator("a.media")
    expect(link).to_have_text("查看原图片", timeout=WAIT_MS)
    expect(agent.locator("#transcript li").last.locator(".read")).to_contain_text("中转站")
    original = agent_context.request.get(f"{platform.hub_url}{link.get_attribute('href')}")
    assert (original.status, original.headers["content-type"]) == (200, "image/png")
    assert original.body() == shot.read_bytes()

    # Whatever the customer types is text in the console, never markup or script.
    send(customer, HOSTILE)
    expect(transcript.last).to_have_text(HOSTILE, timeout=WAIT_MS)
    assert agent.locator("#transcript img, #transcript script").count() == 0
    assert agent.evaluate("window.pwned") is None

    # Back to the bot: it says so, asks for a rating, and answers again.
    agent.locator("#return").click()
    expect(customer.locator(".msg .text").filter(has_text=notice("returned", "zh"))).to_have_count(
        1, timeout=WAIT_MS
    )
    question, _ = csat_question("zh")
    expect(bot_texts(customer).last).to_have_text(question, timeout=WAIT_MS)
    customer.locator(".quick button", has_text="5").click()
    expect(bot_texts(customer).last).to_have_text(notice("csat_thanks", "zh"), timeout=WAIT_MS)
    send(customer, "你好")
    expect(bot_texts(customer).last).to_have_text(
        response_text("utter_greet", "zh"), timeout=WAIT_MS
    )

    (row,) = query_hub_db(
        platform.var_dir,
        "SELECT h.status, h.csat, c.mode FROM handoffs h JOIN conversations c"
        " ON c.id = h.conversation_id WHERE c.public_id = ?",
        (conversation_id,),
    )
    assert (row["status"], row["csat"], row["mode"]) == ("returned", 5, "bot")


def test_the_supervisor_sees_what_the_knowledge_base_could_not_answer(
    contexts: tuple[BrowserContext, BrowserContext], platform: PlatformProcess
) -> None:
    customer_context, supervisor_context = contexts
    customer = customer_context.new_page()
    open_chat(customer, platform)
    send(customer, "你们在北京有线下门店吗")
    # A shop without stores: "not possible here", and the knowledge base had nothing either.
    expect(bot_texts(customer).last).to_contain_text("人工客服可以告诉您", timeout=WAIT_MS)

    username = f"sup-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        [sys.executable, "-m", "bot", "agents", "add", username, "--role", "supervisor"],
        env={**platform.env, "BOT_NEW_AGENT_PASSWORD": PASSWORD},
        check=True,
        capture_output=True,
    )
    page = supervisor_context.new_page()
    page.goto(f"{platform.hub_url}/console")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("#login-button").click()
    expect(page.locator("#app")).to_be_visible(timeout=WAIT_MS)
    page.goto(f"{platform.hub_url}/console/supervisor")
    expect(page.locator("#gaps-title")).to_have_text("知识库没能回答的问题（近30天）")
    # Asked once; the knowledge base still has no answer for it.
    cells = page.locator("#gaps tr", has_text="你们在北京有线下门店吗").locator("td")
    expect(cells).to_have_text(["你们在北京有线下门店吗", "1", re.compile(r"\d"), "–"])
    page.locator(".lang-toggle").click()
    expect(page.locator("#gaps-title")).to_have_text(
        "Questions the knowledge base could not answer (last 30 days)"
    )
