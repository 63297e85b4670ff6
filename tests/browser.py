"""Shared by the browser tests: Debian's Chromium through Playwright, the widget's controls, and
a console agent made through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, Playwright, expect, sync_playwright

from tests.conftest import query_hub_db
from tests.launch import PlatformProcess
from tests.waiting import wait_until

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
WAIT_MS = 60_000
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield chromium
    chromium.close()


def open_chat(page: Page, platform: PlatformProcess) -> None:
    page.goto(f"{platform.hub_url}/")
    launcher = page.locator(".launcher")
    expect(launcher).to_have_attribute("aria-label", "打开在线客服")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".panel")).to_be_visible()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(page.locator(".msg.bot").first).to_be_visible(timeout=WAIT_MS)


def send(page: Page, text: str) -> None:
    box = page.locator("textarea.input")
    box.fill(text)
    box.press("Enter")


def bot_texts(page: Page) -> Locator:
    return page.locator(".msg.bot .text")


@contextmanager
def agent_console(platform: PlatformProcess, username: str) -> Iterator[httpx.Client]:
    """A console agent, created, logged in and online for the block."""
    # The most free chat slots: routing picks this agent over any other left online.
    subprocess.run(
        [sys.executable, "-m", "bot", "agents", "add", username, "--max-chats", "50"],
        env={**platform.env, "BOT_NEW_AGENT_PASSWORD": PASSWORD},
        check=True,
        capture_output=True,
    )
    with httpx.Client(base_url=platform.hub_url, timeout=30) as client:
        login = {"username": username, "password": PASSWORD}
        client.post("/console/api/login", json=login).raise_for_status()
        client.headers["X-CSRF-Token"] = client.cookies["console_csrf"]
        client.post("/console/api/presence", json={"presence": "online"}).raise_for_status()
        yield client
        client.post("/console/api/presence", json={"presence": "offline"})


def conversation_of(page: Page, platform: PlatformProcess) -> str:
    """The id of the conversation of the widget's session (from the hub's store)."""
    stored = page.evaluate(f"localStorage.getItem('yx-webchat:{platform.hub_url}')")
    session_id = json.loads(stored)["sessionId"]
    rows = query_hub_db(
        platform.var_dir,
        "SELECT public_id FROM conversations WHERE channel = 'webchat' AND sender = ?",
        (session_id,),
    )
    return str(rows[0]["public_id"])


def wait_for_handoff(agent: httpx.Client, conversation_id: str) -> int:
    """The id of the conversation's handoff, once it is in the agent's queue."""

    def in_queue() -> int | None:
        queue = agent.get("/console/api/queue").json()
        return next((int(h["id"]) for h in queue if h["conversation_id"] == conversation_id), None)

    return wait_until(
        in_queue,
        f"the handoff of {conversation_id} to reach the agent's queue",
        timeout_s=30,
        interval_s=0.3,
    )
