"""The console's marketing page in headless Chromium against a live hub (Rasa is not needed):
a segment previewed with its counts, the copy desk's approve / edit / reject stored, a
campaign sent from the page with its results and deliveries shown; zh and en; customer text shown as text;
agents who are not supervisors are refused."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from bot.app import Settings, create_asgi
from bot.app._container import build_hub_services
from bot.marketing import (
    DELIVERY_KNOWN,
    DELIVERY_KNOWN_IN_CHINESE,
    CampaignDraft,
    Contact,
    CopyBrief,
)
from bot.recommend import CATALOGUE
from tests.browser import WAIT_MS, browser, playwright
from tests.conftest import query_hub_db
from tests.live_hub import hub_settings, serving_in_thread

__all__ = ["browser", "playwright"]  # fixtures

PASSWORD = "correct horse battery"
HOSTILE = '<img src=x onerror="document.body.dataset.pwned=1">'


async def prepare(settings: Settings) -> None:
    """Agents, an audience, a saved segment, copy waiting for review, and a campaign of copy
    approved earlier; stored before the hub starts."""
    hub = build_hub_services(settings)
    await hub.database.migrate()
    await hub.agents.create("sam", PASSWORD, role="supervisor")
    await hub.agents.create("olga", PASSWORD)
    await hub.recommendations.import_catalogue(CATALOGUE)
    for customer, language in (("c1", "zh"), ("c2", "en"), (HOSTILE, "zh")):
        await hub.marketing.upsert_contact(Contact(customer, "rest", language))
    for customer in ("c1", HOSTILE):
        await hub.consents.grant(customer, "marketing", "rest")
    await hub.marketing.save_segment("everyone", "true")
    brief = CopyBrief(("EL-005",), discounts=(20.0,), claims=("limited_time",))
    await hub.copy_desk.draft("spring", brief, "zh", n=3)
    [earlier] = await hub.copy_desk.draft("winter", brief, "zh", n=1)
    await hub.copy_desk.review(earlier.id, "approve", "sam")
    await hub.campaigns.create(CampaignDraft("winter", "true", {"main": [earlier.id]}))
    hub.tracker_events.dispose()
    hub.database.dispose()


@pytest.fixture
def hub_url(tmp_path: Path) -> Iterator[str]:
    settings = hub_settings(
        tmp_path, marketing_quiet_hours="00:00-00:00", marketing_send_every_s=3600.0
    )
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, prepare(settings)).result()
    with serving_in_thread(create_asgi(settings)) as url:
        yield url


def logged_in(browser: Browser, hub_url: str, username: str) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    login = context.request.post(
        f"{hub_url}/console/api/login", data={"username": username, "password": PASSWORD}
    )
    assert login.ok
    return context.new_page()


def test_the_marketing_page(browser: Browser, hub_url: str, tmp_path: Path) -> None:
    page = logged_in(browser, hub_url, "sam")
    page.goto(f"{hub_url}/console/marketing")
    expect(page.locator("body")).to_have_attribute("data-loaded", "all", timeout=WAIT_MS)

    # Segments: the saved one previewed, with counts and members (hostile text stays text).
    expect(page.locator("#seg-rows tr")).to_have_count(1)
    page.locator("#seg-rows button").click()
    expect(page.locator("#preview-counts")).to_have_text("全部 3 人，符合 3 人，可触达 2 人")
    expect(page.locator("#preview-rows tr").nth(0).locator("td").nth(0)).to_have_text(HOSTILE)
    assert page.locator("#preview-rows img").count() == 0
    page.fill("#expression", "salary > 1")
    page.locator("#preview-form button").click()
    expect(page.locator("#mk-error")).to_contain_text("salary")

    # The copy desk: approve one, edit one, reject one; each decision is stored.
    page.fill("#copy-campaign", "spring")
    page.locator("#copy-form button").click()
    expect(page.locator("#copy-rows li.variant")).to_have_count(3)
    first, second, third = (
        int(page.locator("#copy-rows li.variant").nth(i).get_attribute("data-variant") or 0)
        for i in range(3)
    )
    page.locator(f'li[data-variant="{first}"] button.approve').click()
    expect(page.locator("#copy-rows li.variant")).to_have_count(2)
    edited = page.locator(f'li[data-variant="{second}"]')
    edited.locator("button.edit").click()
    original = edited.locator("textarea").input_value()
    edited.locator("textarea").fill(original.strip() + " 详情请看店铺首页。")
    edited.locator("button", has_text="保存修改").click()
    expect(page.locator("#copy-rows li.variant")).to_have_count(1)
    page.locator(f'li[data-variant="{third}"] button.reject').click()
    expect(page.locator("#copy-rows li")).to_have_text("暂无数据")
    stored = query_hub_db(
        tmp_path,
        "SELECT id, status, edited_text, reviewer FROM marketing_copy_variants "
        "WHERE campaign = 'spring' ORDER BY id",
    )
    assert [(r["id"], r["status"], r["reviewer"]) for r in stored] == [
        (first, "approved", "sam"),
        (second, "approved", "sam"),
        (third, "rejected", "sam"),
    ]
    assert stored[1]["edited_text"] == original.strip() + " 详情请看店铺首页。"

    # Campaigns: sent from the page; nobody has a conversation to post into (failed), one
    # customer never opted in (skipped).
    row = page.locator("#camp-rows tr").first
    expect(row.locator("td").nth(2)).to_have_text("已排期")
    page.locator("#run").click()
    expect(page.locator("#run-result")).to_contain_text("新增 3 位收件人")
    cells = row.locator("td")
    expect(cells.nth(2)).to_have_text("已完成")
    assert [cells.nth(i).inner_text() for i in range(3, 7)] == ["0", "1", "2", "0"]
    # Delivery per arm: nothing was handed over (every send failed before it), nobody was
    # deferred; what the channel can report at all is said beside it, in the console's language.
    delivery = page.locator("#r-delivery tr").first.locator("td")
    expect(delivery.nth(0)).to_have_text("main")
    assert [delivery.nth(i).inner_text() for i in range(1, 7)] == ["0"] * 6
    rest_known = DELIVERY_KNOWN["rest"]
    expect(page.locator("#r-known li")).to_have_text(
        [f"rest：{DELIVERY_KNOWN_IN_CHINESE[rest_known]}"]
    )

    # English, and nothing the customers wrote ran as script.
    page.locator(".lang-toggle").click()
    expect(page.locator("#camp-title")).to_have_text("Campaigns")
    expect(cells.nth(2)).to_have_text("done")
    expect(page.locator("h3[data-mk=deliveryTitle]")).to_have_text("Delivery")
    expect(page.locator("#r-known li")).to_have_text([f"rest: {rest_known}"])
    assert page.evaluate("document.body.dataset.pwned") is None
    page.context.close()


def test_an_agent_who_is_not_a_supervisor_is_refused(browser: Browser, hub_url: str) -> None:
    page = logged_in(browser, hub_url, "olga")
    page.goto(f"{hub_url}/console/marketing")
    expect(page.locator("#mk-error")).to_contain_text("marketing is for supervisors")
    page.context.close()
