"""The analytics dashboard in headless Chromium against a live hub (Rasa is not needed): its
charts are drawn and add up to the synthetic log's known totals; filters, language and CSV."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from bot.app import create_asgi
from tests.browser import WAIT_MS, browser, playwright
from tests.live_hub import hub_settings, serving_in_thread
from tests.test_analytics_api import PASSWORD, prepare

__all__ = ["browser", "playwright"]  # fixtures

RANGE = "from=2026-11-01&to=2026-11-12"


@pytest.fixture
def hub_url(tmp_path: Path) -> Iterator[str]:
    """A hub serving the synthetic log on a free port, in a thread (Playwright's sync API
    cannot run inside the test's event loop)."""
    settings = hub_settings(tmp_path)
    # In its own thread: this test's thread may already run an event loop (pytest-asyncio).
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, prepare(settings)).result()
    with serving_in_thread(create_asgi(settings)) as url:
        yield url


@pytest.fixture
def page(browser: Browser, hub_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    login = context.request.post(
        f"{hub_url}/console/api/login", data={"username": "sam", "password": PASSWORD}
    )
    assert login.ok
    page = context.new_page()
    yield page
    context.close()


def chart_sums(page: Page, canvas: str) -> list[float]:
    """Each dataset's total as the chart holds it (Chart.js's public ``getChart``)."""
    sums: list[float] = page.evaluate(
        "(id) => Chart.getChart(id).data.datasets.map("
        "(d) => d.data.reduce((a, b) => a + (b || 0), 0))",
        canvas,
    )
    return sums


def painted(page: Page, canvas: str) -> int:
    """How many pixels of the canvas are not transparent."""
    count: int = page.evaluate(
        "(id) => { const c = document.getElementById(id);"
        " const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < px.length; i += 4) if (px[i]) n++; return n; }",
        canvas,
    )
    return count


def test_dashboard_draws_the_known_totals(page: Page, hub_url: str) -> None:
    page.goto(f"{hub_url}/console/dashboard?{RANGE}")
    expect(page.locator("body")).to_have_attribute("data-loaded", "all", timeout=WAIT_MS)
    expect(page.locator("#kpi-conversations .value")).to_have_text("4")
    expect(page.locator("#kpi-handoffs .value")).to_have_text("2")
    expect(page.locator("#kpi-containment_rate .value")).to_have_text("50.0%")
    expect(page.locator("#kpi-fcr_rate .value")).to_have_text("75.0%")
    expect(page.locator("#kpi-avg_wait_s .value")).to_have_text("60")
    assert chart_sums(page, "chart-volume") == [4, 2]  # conversations, handoffs
    assert chart_sums(page, "chart-reasons") == [2]
    assert chart_sums(page, "chart-channel") == [4]
    for canvas in ("chart-volume", "chart-rates", "chart-sentiment", "chart-reasons"):
        assert painted(page, canvas) > 500, canvas
    expect(page.locator("h2[data-dash='chart.volume']")).to_have_text("会话量与转人工")
    expect(page.locator("#intents")).to_contain_text("complaint")
    expect(page.locator("#agents")).to_contain_text("alice")
    # Pain points say where each topic's texts came from: "对话 2" (chat), tickets, CSAT.
    expect(page.locator("th[data-dash='sources']")).to_have_text("来源")
    expect(page.locator("#painpoints tr").first).to_contain_text("对话 2")

    page.locator(".lang-toggle").click()
    expect(page.locator("h2[data-dash='chart.volume']")).to_have_text("Conversations and handoffs")
    expect(page.locator("#kpi-conversations .name")).to_have_text("Conversations")

    page.locator("#language").select_option("zh")
    page.locator("#filters button[type=submit]").click()
    expect(page.locator("#kpi-conversations .value")).to_have_text("2")
    assert chart_sums(page, "chart-volume") == [2, 1]
    csv_link = page.locator("#csv")
    expect(csv_link).to_have_attribute("href", f"/api/analytics/summary.csv?{RANGE}"
                                       "&granularity=day&language=zh")  # fmt: skip
    answer = page.request.get(f"{hub_url}{csv_link.get_attribute('href')}")
    assert answer.ok
    assert answer.text().lstrip("\ufeff").splitlines()[1].startswith("total,,2,")


def test_an_agent_who_is_no_supervisor_sees_the_refusal(browser: Browser, hub_url: str) -> None:
    context = browser.new_context(locale="en-US")
    context.request.post(
        f"{hub_url}/console/api/login", data={"username": "olga", "password": PASSWORD}
    )
    page = context.new_page()
    page.goto(f"{hub_url}/console/dashboard?{RANGE}")
    expect(page.locator("#dash-error")).to_have_text("analytics are for supervisors")
    context.close()
