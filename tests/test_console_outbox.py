"""The supervisors' undelivered-messages page: its API on a real hub and SQLite, and the page
in headless Chromium."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from bot.app import Settings, create_app, create_asgi
from bot.app._container import build_hub_services
from bot.outbox import Outbox, SendFailed
from tests.browser import PASSWORD, WAIT_MS, browser, playwright
from tests.live_hub import hub_settings, serving_in_thread

__all__ = ["browser", "playwright"]  # fixtures

HOSTILE = '<img src=x onerror="document.body.dataset.pwned=1">'


async def failing(_recipient: str, _body: dict[str, Any]) -> None:
    raise SendFailed(f"WeChat answered 500 {HOSTILE}")


async def prepare(settings: Settings) -> list[int]:
    """Two agents (a supervisor and an agent) and two messages the app did not take."""
    hub = build_hub_services(settings)
    await hub.database.migrate()
    await hub.agents.create("lin", PASSWORD, role="supervisor")
    await hub.agents.create("tom", PASSWORD)
    ids = [
        await hub.outbox.enqueue(
            "wechat", recipient, {"text": {"content": "您的订单已发货"}}, source_id=f"m-{n}"
        )
        for n, recipient in enumerate(["oAbCdEf-customer-1", "oXyZ-customer-2"])
    ]
    await hub.outbox.deliver_due({"wechat": failing})
    hub.tracker_events.dispose()
    hub.database.dispose()
    return [i for i in ids if i is not None]


def log_in(client: TestClient, username: str) -> None:
    answer = client.post("/console/api/login", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text


@pytest.fixture
def prepared(tmp_path: Path) -> tuple[Settings, list[int]]:
    settings = hub_settings(tmp_path)
    with ThreadPoolExecutor(1) as pool:
        ids = pool.submit(asyncio.run, prepare(settings)).result()
    return settings, ids


def test_supervisors_see_stuck_messages_and_retry_or_give_up(
    prepared: tuple[Settings, list[int]],
) -> None:
    settings, (first, second) = prepared
    with TestClient(create_app(settings)) as client:
        assert client.get("/console/api/outbox").status_code == 401
        log_in(client, "tom")
        assert client.get("/console/api/outbox").json() == {
            "detail": "the outbox page is for supervisors"
        }
        log_in(client, "lin")
        items = client.get("/console/api/outbox").json()["items"]
        assert [(i["id"], i["recipient"], i["status"], i["attempts"]) for i in items] == [
            (second, "oXy…-2", "pending", 1),
            (first, "oAb…-1", "pending", 1),
        ]
        assert "WeChat answered 500" in items[0]["last_error"]

        assert client.post(f"/console/api/outbox/{first}/retry").status_code == 403  # no CSRF
        client.headers["X-CSRF-Token"] = client.cookies["console_csrf"]
        retried = client.post(f"/console/api/outbox/{first}/retry")
        assert retried.status_code == 200, retried.text
        given_up = client.post(f"/console/api/outbox/{second}/give-up").json()
        assert given_up["status"] == "gave_up"
        assert given_up["last_error"] == "given up by supervisor lin"

        # The retried message is due now: the outbox sends it at its next run.
        sent: list[str] = []

        async def works(recipient: str, _body: dict[str, Any]) -> None:
            sent.append(recipient)

        outbox: Outbox = client.app.state.services.outbox  # type: ignore[attr-defined]
        counts = client.portal.call(outbox.deliver_due, {"wechat": works})  # type: ignore[union-attr]
        assert (counts["sent"], sent) == (1, ["oAbCdEf-customer-1"])

        delivered = client.post(f"/console/api/outbox/{first}/retry")
        assert delivered.status_code == 409
        assert "was delivered" in delivered.json()["detail"]
        assert client.post("/console/api/outbox/999999/retry").status_code == 404
        assert client.post("/console/api/outbox/0/retry").status_code == 422
        # A given-up message may be tried once more.
        again = client.post(f"/console/api/outbox/{second}/retry").json()
        assert (again["status"], again["attempts"]) == ("pending", 1)
        remaining = client.get("/console/api/outbox").json()["items"]
        assert [i["id"] for i in remaining] == [second]


@pytest.fixture
def hub_url(prepared: tuple[Settings, list[int]]) -> Iterator[str]:
    with serving_in_thread(create_asgi(prepared[0])) as url:
        yield url


def test_the_page_lists_them_as_text_and_retries_on_a_click(browser: Browser, hub_url: str) -> None:
    page = browser.new_page(locale="zh-CN")
    page.goto(f"{hub_url}/console")
    page.locator("#username").fill("lin")
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")
    expect(page.locator("#supervisor-link")).to_be_visible(timeout=WAIT_MS)
    page.goto(f"{hub_url}/console/outbox")
    rows = page.locator("#stuck tr")
    expect(rows).to_have_count(2, timeout=WAIT_MS)
    expect(rows.first).to_contain_text("oXy…-2")
    expect(rows.first).to_contain_text(HOSTILE)  # shown as text, not run
    assert page.evaluate("document.body.dataset.pwned") is None
    rows.first.locator("button.retry").click()
    expect(rows.first.locator("td").nth(2)).to_have_text("重试中")
    page.on("dialog", lambda dialog: dialog.accept())
    rows.first.locator("button.give-up").click()
    expect(rows.first.locator("td").nth(2)).to_have_text("已放弃", timeout=WAIT_MS)
    expect(rows.first.locator("button.give-up")).to_have_count(0)
    page.close()
