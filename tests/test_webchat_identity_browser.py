"""A campaign to an identified web-chat customer, end to end in headless Chromium (Debian's):
the shop's own site (another origin, a local server) renders the real widget for its logged-in
customer with the HMAC its server computes; the customer chats from a laptop and a phone (one
conversation), the campaign reaches both live, the tracked link in the widget leads to the
shop's page, the shop reports the order with ``POST /api/orders/placed``, and the campaign and
its arm are credited. A page with a forged hash stays anonymous and sees none of it.

Hub-only: a local server stands in for Rasa (it echoes), so no model is needed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from bot.app import Settings, create_asgi
from bot.marketing import Contact
from channels.webchat import customer_hash
from tests.app_standin import AppStandIn, running
from tests.browser import WAIT_MS, browser, playwright
from tests.launch import free_port
from tests.live_hub import hub_settings, serving_in_thread
from tests.test_marketing_builder_browser import on_hub
from tests.waiting import wait_until

__all__ = ["browser", "playwright"]  # fixtures

SECRET = "the-shop-and-the-hub-share-this-0123456789"
KEY = "k" * 32
API = {"Authorization": f"Bearer {KEY}"}
CUSTOMER = "customer-001"
WAIT_S = 30.0


@dataclass
class Shop:
    """The shop's site: who is logged in, and where its chat hub is."""

    url: str = ""
    hub_url: str = ""
    logged_in: str = CUSTOMER
    forged: bool = False
    expires_in: int | None = None  # seconds from now: the hash carries an expiry

    def app(self) -> FastAPI:
        site = FastAPI()

        @site.get("/account")
        async def account() -> HTMLResponse:
            # What the shop's server does for its logged-in customer: the two lines of the README.
            expires = None if self.expires_in is None else int(time.time()) + self.expires_in
            signature = customer_hash(SECRET, self.logged_in, expires)
            if self.forged:
                signature = customer_hash("someone-guessing-the-secret-0123456789", CUSTOMER)
            stamp = "" if expires is None else f"data-customer-expires='{expires}' "
            return HTMLResponse(
                "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
                "<title>My account</title></head><body><h1>My account</h1>"
                f"<script src='{self.hub_url}/widget/widget.js' data-language='zh' "
                f"data-customer-id='{self.logged_in}' data-customer-hash='{signature}' "
                f"{stamp}defer></script></body></html>"
            )

        @site.get("/spring")
        async def spring() -> HTMLResponse:
            return HTMLResponse("<!doctype html><title>Spring sale</title><h1>Spring sale</h1>")

        return site


@dataclass
class Hub:
    url: str
    settings: Settings
    shop: Shop


async def prepare(services: Any) -> None:
    """The customer is a web-chat contact who opted in to marketing there."""
    await services.database.migrate()
    await services.marketing.upsert_contact(Contact(CUSTOMER, "webchat", "zh"))
    await services.consents.grant(CUSTOMER, "marketing", "webchat")


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    shop = Shop()
    with (
        running(AppStandIn()) as rasa,
        serving_in_thread(shop.app()) as shop_url,
    ):
        shop.url = shop_url
        port = free_port()
        settings = hub_settings(
            tmp_path,
            port=port,
            public_url=f"http://127.0.0.1:{port}",  # the tracked links point here
            rasa_port=rasa.port,
            actions_port=rasa.port,
            api_key=KEY,
            webchat_identity_secret=SECRET,
            webchat_origins=shop_url,
            marketing_quiet_hours="00:00-00:00",  # the test must not depend on the hour
            marketing_send_every_s=3600.0,  # sent when the test says so
        )
        on_hub(settings, prepare)
        with serving_in_thread(create_asgi(settings), port=port) as url:
            shop.hub_url = url
            yield Hub(url, settings, shop)


def open_account(context: BrowserContext, shop: Shop) -> Page:
    page = context.new_page()
    page.goto(f"{shop.url}/account")
    page.locator(".launcher").click()
    expect(page.locator(".panel")).to_be_visible()
    expect(page.locator(".msg.bot").first).to_be_visible(timeout=WAIT_MS)
    return page


def send(page: Page, text: str) -> None:
    box = page.locator("textarea.input")
    box.fill(text)
    box.press("Enter")


def warned(message: ConsoleMessage) -> bool:
    return message.type == "warning"


def api(method: str, url: str, **kwargs: Any) -> Any:
    response = httpx.request(method, url, headers=API, timeout=30, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def test_a_campaign_reaches_the_identified_customer_and_their_order_is_credited(
    browser: Browser, hub: Hub
) -> None:
    laptop = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN")
    phone = browser.new_context(viewport={"width": 390, "height": 800}, locale="zh-CN")
    stranger = browser.new_context(locale="zh-CN")
    try:
        # The customer chats on the laptop; the phone opens the same conversation.
        mine = open_account(laptop, hub.shop)
        expect(mine.locator("#youxuan-chat")).to_have_attribute("data-identity", "verified")
        send(mine, "你好")
        expect(mine.locator(".msg.bot .text").last).to_have_text("echo: 你好", timeout=WAIT_MS)
        hub.shop.expires_in = 3600  # the phone's page carries a hash that expires in an hour
        other = open_account(phone, hub.shop)
        expect(other.locator("#youxuan-chat")).to_have_attribute("data-identity", "verified")
        expect(other.locator(".msg.mine .text")).to_have_text(["你好"], timeout=WAIT_MS)
        hub.shop.expires_in = None

        # A forged hash: anonymous, told so in the console, none of the customer's chat.
        hub.shop.forged = True
        warnings: list[str] = []
        page = stranger.new_page()
        page.on("console", lambda m: warnings.append(m.text) if warned(m) else None)
        with page.expect_console_message(warned, timeout=WAIT_MS):
            page.goto(f"{hub.shop.url}/account")
            page.locator(".launcher").click()
        expect(page.locator("#youxuan-chat")).to_have_attribute("data-identity", "refused")
        expect(page.locator(".msg.bot").first).to_be_visible(timeout=WAIT_MS)
        assert warnings == [
            "YouXuan chat: customer not identified: customer_hash does not match "
            "customer_id; the chat stays anonymous"
        ]
        expect(page.locator(".msg.mine")).to_have_count(0)
        hub.shop.forged = False

        # A page rendered with an expiry that has passed: anonymous too, and told why.
        hub.shop.expires_in = -60
        warnings.clear()
        with page.expect_console_message(warned, timeout=WAIT_MS):
            page.goto(f"{hub.shop.url}/account")
            page.locator(".launcher").click()
        expect(page.locator("#youxuan-chat")).to_have_attribute("data-identity", "refused")
        assert warnings == [
            "YouXuan chat: customer not identified: customer_expires has passed: the shop's "
            "page must render a fresh customer_hash; the chat stays anonymous"
        ]
        expect(page.locator(".msg.mine")).to_have_count(0)
        hub.shop.expires_in = None

        # The campaign: approved copy for web chat, sent by the campaign job.
        marketing = f"{hub.url}/api/marketing"
        brief = {"products": ["EL-005"], "discounts": [20], "channel": "webchat"}
        [variant] = api(
            "POST",
            f"{marketing}/copy/drafts",
            json={"campaign": "spring", "language": "zh", "n": 1, "brief": brief},
        )
        api(
            "POST",
            f"{marketing}/copy/variants/{variant['id']}/review",
            json={"action": "approve", "reviewer": "editor"},
        )
        campaign = api(
            "POST",
            f"{marketing}/campaigns",
            json={
                "name": "spring",
                "segment": "channel == 'webchat'",
                "variants": {"main": [variant["id"]]},
                "url": f"{hub.shop.url}/spring",
            },
        )
        run = api("POST", f"{marketing}/campaigns/run")
        assert run == {"recipients_added": 1, "outcomes": {"sent": 1}}

        # Live in both browsers, from the shop, with the tracked link as a button.
        for page_of_customer in (mine, other):
            link = page_of_customer.locator(".msg.bot .campaign-link")
            expect(link).to_have_count(1, timeout=WAIT_MS)
            expect(link).to_have_text("查看活动")
            expect(page_of_customer.locator(".msg.bot .who").last).to_have_text("系统消息")
        expect(page.locator(".campaign-link")).to_have_count(0)
        href = mine.locator(".campaign-link").get_attribute("href") or ""
        assert href.startswith(f"{hub.url}/m/c/")
        assert CUSTOMER not in href
        with mine.expect_popup() as opened:
            mine.locator(".campaign-link").click()
        landing = opened.value
        landing.wait_for_load_state()
        # The shop's page, with the link's token for the shop's checkout.
        assert landing.url.startswith(f"{hub.shop.url}/spring?campaign_click=")
        expect(landing.locator("h1")).to_have_text("Spring sale")

        # The shop's checkout reports the order; the campaign and its arm are credited.
        order = {
            "customer_id": CUSTOMER,
            "items": [{"sku": "EL-005", "quantity": 1}],
            "address": "广州市天河区天河路385号太古汇一座2205",
            "recipient": "张伟",
            "phone": "13530246633",
        }
        placed = api("POST", f"{hub.url}/api/orders/placed", json=order)

        def credited() -> dict[str, Any] | None:
            report: dict[str, Any] = api("GET", f"{marketing}/campaigns/{campaign['id']}")
            return report if report["conversions"] else None

        report = wait_until(credited, "the order's conversion", timeout_s=WAIT_S, interval_s=0.2)
        assert (report["clicks"], report["unique_clicks"]) == (1, 1)
        assert (report["conversions"], report["revenue"]) == (1, float(placed["total"]))
        [recipient] = report["recipients"]
        assert (recipient["customer_id"], recipient["channel"], recipient["status"]) == (
            CUSTOMER,
            "webchat",
            "sent",
        )
        [arm] = report["arms"]
        assert (arm["name"], arm["sent"], arm["unique_clicks"], arm["conversions"]) == (
            "main",
            1,
            1,
            1,
        )
    finally:
        for context in (laptop, phone, stranger):
            context.close()
