"""The console's campaign builder in headless Chromium against a live hub (Rasa is not needed)
and a real SMTP server: a saved segment picked and previewed, approved copy put into two arms,
an A/B/n experiment with a hold-out, the campaign created and sent from the page; then a tracked
link followed and an order attributed, and the live results show each arm's sent, clicks,
conversions, rate with its interval and uplift over the hold-out, in a chart too; zh and en;
customer text stays text; the builder refuses what cannot be sent and stores nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from bot.app import Settings, create_asgi
from bot.app._container import build_hub_services
from bot.marketing import Contact, CopyBrief
from bot.marketing._stats import wilson
from bot.recommend import CATALOGUE
from tests.browser import WAIT_MS, browser, playwright
from tests.conftest import query_hub_db
from tests.live_hub import hub_settings, serving_in_thread
from tests.smtp_server import Mailbox, body_of, smtp_server

__all__ = ["browser", "playwright"]  # fixtures

PASSWORD = "correct horse battery"
HOSTILE = '<img src=x onerror="document.body.dataset.pwned=1">'
CUSTOMERS = [f"cust{i:02d}" for i in range(16)]
SHOP = "https://shop.example/summer"


@dataclass
class Hub:
    url: str
    settings: Settings
    mailbox: Mailbox
    var_dir: Path


def on_hub(settings: Settings, work: Any) -> Any:
    """Run ``work(services)`` on a second set of the hub's services (same SQLite file)."""

    async def run() -> Any:
        hub = build_hub_services(settings)
        try:
            return await work(hub)
        finally:
            hub.tracker_events.dispose()
            hub.database.dispose()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


async def prepare(hub: Any) -> None:
    """A supervisor, an audience on e-mail (all but one opted in), a saved segment and a batch
    of approved copy (two in Chinese, one in English)."""
    await hub.database.migrate()
    await hub.agents.create("sam", PASSWORD, role="supervisor")
    await hub.recommendations.import_catalogue(CATALOGUE)
    for customer in [*CUSTOMERS, HOSTILE]:
        address = f"{customer}@example.com" if customer != HOSTILE else "odd@example.com"
        await hub.marketing.upsert_contact(Contact(customer, "email", "zh", address=address))
        if customer != CUSTOMERS[-1]:
            await hub.consents.grant(customer, "marketing", "email")
    await hub.marketing.save_segment("mail-list", "channel == 'email'")
    brief = CopyBrief(("EL-005",), discounts=(20.0,), claims=("limited_time",), channel="email")
    for language, n in (("zh", 2), ("en", 1)):
        for variant in await hub.copy_desk.draft("summer", brief, language, n=n):
            await hub.copy_desk.review(variant.id, "approve", "sam")


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with smtp_server() as mailbox:
        settings = hub_settings(
            tmp_path,
            marketing_quiet_hours="00:00-00:00",
            marketing_send_every_s=3600.0,
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            smtp_security="none",
        )
        on_hub(settings, prepare)
        with serving_in_thread(create_asgi(settings)) as url:
            yield Hub(url, settings, mailbox, tmp_path)


def supervisor_page(browser: Browser, hub: Hub) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 1400}, locale="zh-CN")
    login = context.request.post(
        f"{hub.url}/console/api/login", data={"username": "sam", "password": PASSWORD}
    )
    assert login.ok
    page = context.new_page()
    page.goto(f"{hub.url}/console/marketing")
    expect(page.locator("body")).to_have_attribute("data-loaded", "all", timeout=WAIT_MS)
    return page


def fill_builder(page: Page) -> list[int]:
    """Segment and copy chosen in the form; the ids of the approved variants, oldest first."""
    page.select_option("#b-saved", "mail-list")
    expect(page.locator("#b-segment")).to_have_value("channel == 'email'")
    expect(page.locator("#b-counts")).to_have_text("全部 17 人，符合 17 人，可触达 16 人")
    expect(page.locator("#b-sample li")).to_have_count(5)
    page.fill("#b-copy", "summer")
    page.locator("#b-load").click()
    picks = page.locator("#b-variants select")
    expect(picks).to_have_count(3)
    return [int(picks.nth(i).get_attribute("data-variant") or 0) for i in range(3)]


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def signed(x: float) -> str:
    return f"{'+' if x >= 0 else ''}{100 * x:.1f}%"


def test_a_campaign_built_in_the_form_is_sent_and_its_results_shown(
    browser: Browser, hub: Hub
) -> None:
    page = supervisor_page(browser, hub)
    zh_one, zh_two, en_one = fill_builder(page)
    # Arm A: a Chinese and an English variant; arm B: the other Chinese one.
    page.select_option(f'#b-variants select[data-variant="{zh_one}"]', "A")
    page.select_option(f'#b-variants select[data-variant="{en_one}"]', "A")
    page.select_option(f'#b-variants select[data-variant="{zh_two}"]', "B")
    page.fill("#b-url", SHOP)
    page.select_option("#b-experiment", "fixed")
    page.fill("#b-holdout", "25")
    page.fill("#b-horizon", "5")
    page.fill("#b-name", "summer-ab")
    page.locator("#b-create").click()
    expect(page.locator("#b-result")).to_contain_text("已创建活动“summer-ab”")
    expect(page.locator("#mk-error")).to_have_text("")

    [stored] = query_hub_db(
        hub.var_dir,
        "SELECT c.kind, c.content, c.url, e.arms, e.policy, e.horizon FROM marketing_campaigns c "
        "JOIN marketing_experiments e ON e.id = c.experiment_id WHERE c.name = 'summer-ab'",
    )
    assert dict(stored) == {
        "kind": "once",
        "content": f'{{"A": [{zh_one}, {en_one}], "B": [{zh_two}]}}',
        "url": SHOP,
        "arms": '{"arms": ["holdout", "A", "B"], "control_share": 0.25, "attribution_hours": 168}',
        "policy": "fixed",
        "horizon": 5,
    }

    # Sent from the page: the results table shows every arm as the database has it.
    page.locator("#run").click()
    expect(page.locator("#run-result")).to_contain_text("新增 17 位收件人")
    counts = {
        (r["arm"], r["status"]): r["n"]
        for r in query_hub_db(
            hub.var_dir,
            "SELECT arm, status, count(*) AS n FROM marketing_recipients GROUP BY arm, status",
        )
    }
    sent = {arm: counts.get((arm, "sent"), 0) for arm in ("A", "B")}
    held = counts.get(("holdout", "held_out"), 0)
    assert held > 0
    assert sent["A"] > 0
    assert sent["B"] > 0
    assert len(hub.mailbox.messages) == sent["A"] + sent["B"]
    arms = page.locator("#r-arms tr")
    expect(arms).to_have_count(3)
    expect(page.locator("#r-campaign option:checked")).to_have_text("summer-ab")
    expect(arms.nth(1).locator("td").nth(2)).to_have_text(str(sent["A"]))
    expect(arms.nth(2).locator("td").nth(2)).to_have_text(str(sent["B"]))
    expect(arms.nth(0).locator("td").nth(0)).to_have_text("holdout（对照组，不发送）")

    # A customer of arm A follows the link and orders: attributed to the campaign and arm A.
    mail = next(
        m
        for m in hub.mailbox.messages
        if any(
            r["arm"] == "A"
            for r in query_hub_db(
                hub.var_dir,
                "SELECT arm FROM marketing_recipients WHERE customer_id = ?",
                (str(m["To"]).split("@")[0],),
            )
        )
    )
    customer = str(mail["To"]).split("@")[0]
    [link] = [w for w in body_of(mail).split() if "/m/c/" in w]
    token = link.rsplit("/m/c/", 1)[1]
    followed = page.context.request.get(f"{hub.url}/m/c/{token}", max_redirects=0)
    assert (followed.status, followed.headers["location"]) == (
        302,
        f"{SHOP}?campaign_click={token}",
    )

    async def order(services: Any) -> Any:
        return await services.campaigns.attribute_order(customer, "YX-SUMMER-1", 299.0)

    campaign_id = on_hub(hub.settings, order)
    assert campaign_id is not None

    async def experiment(services: Any) -> Any:
        [made] = await services.marketing.experiments()
        return await services.marketing.results(made.id)

    results = on_hub(hub.settings, experiment)
    arm_a = next(a for a in results.arms if a.name == "A")
    page.locator("#run").click()  # reloads the campaigns and their results
    cells = arms.nth(1).locator("td")
    expect(cells.nth(3)).to_have_text("1")  # unique clicks
    expect(cells.nth(4)).to_have_text("1")  # conversions
    low, high = wilson(1, arm_a.recipients) or (0.0, 0.0)
    rate = f"{percent(arm_a.conversion_rate)} ({percent(low)}–{percent(high)})"
    expect(cells.nth(5)).to_have_text(rate)
    assert arm_a.uplift is not None
    assert arm_a.uplift_interval is not None
    uplift = f"{signed(arm_a.uplift)} ({' … '.join(signed(x) for x in arm_a.uplift_interval)})"
    expect(cells.nth(6)).to_have_text(uplift)
    chart = page.evaluate(
        "(() => { const c = window.MARKETING.chart; return { labels: c.data.labels,"
        " data: c.data.datasets.map((d) => d.data) }; })()"
    )
    assert chart == {
        "labels": ["holdout", "A", "B"],
        "data": [[0, sent["A"], sent["B"]], [0, 1, 0], [0, 1, 0]],
    }

    # The budget plan learns from this campaign: the saved segment's e-mail cell has its
    # sends and the one conversion; a cost the page cannot read and a segment nobody saved
    # are refused, saying why.
    page.fill("#g-budget", "5")
    page.fill("#g-costs", "email")
    page.locator("#g-plan").click()
    expect(page.locator("#mk-error")).to_contain_text("sms=0.3")
    page.fill("#g-costs", "email=1")
    page.fill("#g-segments", "nobody")
    page.locator("#g-plan").click()
    expect(page.locator("#mk-error")).to_contain_text("no saved segment is named 'nobody'")
    page.fill("#g-segments", "mail-list")
    page.locator("#g-plan").click()
    expect(page.locator("#mk-error")).to_have_text("")
    cell = page.locator("#g-rows tr").first.locator("td")
    expect(cell.nth(0)).to_have_text("mail-list")
    expect(cell.nth(2)).to_have_text("16")
    expect(cell.nth(3)).to_have_text(f"{sent['A'] + sent['B']} / 1")
    expect(cell.nth(5)).to_have_text("5")
    expect(page.locator("#g-summary")).to_contain_text("计划花费 5.00（预算 5.00）")

    # English; and the hostile customer's id was shown as text, never run.
    page.locator(".lang-toggle").click()
    expect(page.locator("#build-title")).to_have_text("New campaign")
    expect(arms.nth(0).locator("td").nth(0)).to_have_text("holdout (hold-out, sent nothing)")
    expect(page.locator("#g-summary")).to_contain_text("Planned spend 5.00 (budget 5.00)")
    assert page.evaluate("document.body.dataset.pwned") is None
    page.context.close()


def test_the_builder_refuses_what_cannot_be_sent_and_stores_nothing(
    browser: Browser, hub: Hub
) -> None:
    page = supervisor_page(browser, hub)
    zh_one, zh_two, _ = fill_builder(page)
    page.fill("#b-name", "broken")
    page.locator("#b-create").click()  # no copy chosen
    expect(page.locator("#mk-error")).to_have_text("请至少为一个分组选择已通过的文案。")
    page.select_option(f'#b-variants select[data-variant="{zh_one}"]', "A")
    page.select_option(f'#b-variants select[data-variant="{zh_two}"]', "B")
    page.locator("#b-create").click()  # two arms without an experiment
    expect(page.locator("#mk-error")).to_have_text("不做实验时只能有一个分组（都选 A）。")
    page.select_option("#b-experiment", "thompson")
    page.fill("#b-url", "javascript:alert(1)")
    page.locator("#b-create").click()  # the hub refuses the link
    expect(page.locator("#mk-error")).to_contain_text("url must be an absolute http(s) address")
    page.fill("#b-url", "")
    page.fill("#b-segment", "salary > 1")
    page.locator("#b-create").click()
    expect(page.locator("#mk-error")).to_contain_text("salary")
    for table in ("marketing_campaigns", "marketing_experiments"):
        assert query_hub_db(hub.var_dir, f"SELECT count(*) AS n FROM {table}")[0]["n"] == 0
    page.fill("#b-segment", "channel == 'email'")
    page.select_option("#b-kind", "triggered")
    page.fill("#b-start", "2031-01-02T10:00")
    page.fill("#b-end", "2031-01-09T10:00")
    page.fill("#b-waves", "3")
    page.fill("#b-wave-every", "48")
    page.locator("#b-create").click()  # waves are for one-off campaigns
    expect(page.locator("#mk-error")).to_contain_text("only a one-off campaign is sent in waves")
    assert query_hub_db(hub.var_dir, "SELECT count(*) AS n FROM marketing_campaigns")[0]["n"] == 0
    # Fixed, the same form creates a Thompson-sampling campaign in three waves, two days
    # apart, scheduled for later.
    page.select_option("#b-kind", "once")
    page.locator("#b-create").click()
    expect(page.locator("#b-result")).to_contain_text("broken")
    [row] = query_hub_db(
        hub.var_dir,
        "SELECT c.kind, c.status, c.waves, c.wave_every_s, c.waves_taken, e.policy "
        "FROM marketing_campaigns c JOIN marketing_experiments e ON e.id = c.experiment_id",
    )
    assert dict(row) == {
        "kind": "once",
        "status": "scheduled",
        "waves": 3,
        "wave_every_s": 48 * 3600,
        "waves_taken": 0,
        "policy": "thompson",
    }
    expect(page.locator("#camp-rows tr").first.locator("td").nth(2)).to_have_text(
        "已排期 · 分批 0/3"
    )
    page.context.close()


def test_copy_written_on_the_page_is_checked_reviewed_and_then_offered_to_the_builder(
    browser: Browser, hub: Hub
) -> None:
    page = supervisor_page(browser, hub)
    page.fill("#copy-campaign", "autumn")
    page.fill("#d-products", "EL-999")
    page.locator("#d-write").click()
    expect(page.locator("#mk-error")).to_contain_text("EL-999")
    page.fill("#d-products", "EL-005")
    page.fill("#d-discounts", "20")
    page.fill("#d-claims", "limited_time")
    page.fill("#d-n", "2")
    page.locator("#d-write").click()
    expect(page.locator("#d-result")).to_have_text("已撰写 2 条：2 条待审核，0 条被检查拦截")
    expect(page.locator("#copy-rows li.variant")).to_have_count(2)
    first = page.locator("#copy-rows li.variant").first
    written = int(first.get_attribute("data-variant") or 0)
    first.locator("button.approve").click()
    expect(page.locator("#copy-rows li.variant")).to_have_count(1)
    # Only the approved one is offered to the builder.
    page.fill("#b-copy", "autumn")
    page.locator("#b-load").click()
    expect(page.locator("#b-variants select")).to_have_count(1)
    assert page.locator("#b-variants select").get_attribute("data-variant") == str(written)
    stored = query_hub_db(
        hub.var_dir,
        "SELECT status, source, reviewer FROM marketing_copy_variants WHERE campaign = 'autumn' "
        "ORDER BY id",
    )
    assert [tuple(r) for r in stored] == [
        ("approved", "template", "sam"),
        ("pending", "template", None),
    ]
    page.context.close()
