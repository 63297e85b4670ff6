"""The admins' personal-data page in headless Chromium (issue 14): an admin exports a customer's
data as a zip, reads their consents and audit log, and erases them, each audited under the
admin's id; a supervisor is told the page is for admins; script stays text."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session

from bot.app import Settings, create_asgi
from bot.app._container import build_hub_services
from bot.storage import Conversation, Message
from tests.browser import PASSWORD, WAIT_MS, browser, playwright
from tests.conftest import query_hub_db
from tests.live_hub import hub_settings, serving_in_thread
from tests.test_corrections_browser import log_in

__all__ = ["browser", "playwright"]  # fixtures

CUSTOMER = "customer-42"
HOSTILE = '<img src=x onerror="document.body.dataset.pwned=1">'
SAID = f"{HOSTILE} where is my parcel?"


async def prepare(settings: Settings) -> None:
    hub = build_hub_services(settings)
    await hub.database.migrate()
    await hub.agents.create("ada", PASSWORD, role="admin")
    await hub.agents.create("sam", PASSWORD, role="supervisor")

    def store(session: Session) -> None:
        conversation = Conversation(
            public_id="c" * 32, channel="rest", sender=CUSTOMER, language="en", mode="bot"
        )
        message = Message(
            conversation=conversation, direction="in", author="customer", text=SAID, language="en"
        )
        session.add_all([conversation, message])

    await hub.database.session(store)
    await hub.consents.grant(CUSTOMER, "marketing", "rest")
    hub.tracker_events.dispose()
    hub.database.dispose()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    settings = hub_settings(tmp_path)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, prepare(settings)).result()
    with serving_in_thread(create_asgi(settings)) as url:
        yield url, settings


def name(page: Page, sender: str, reason: str) -> None:
    page.locator("#pd-channel").select_option("rest")
    page.locator("#pd-sender").fill(sender)
    page.locator("#pd-reason").fill(reason)


def audited(settings: Settings, action: str) -> list[tuple[str, str, str]]:
    rows = query_hub_db(
        settings.var_dir,
        "SELECT actor_kind, actor_id, reason FROM privacy_audit_log "
        "WHERE customer_id = ? AND action = ? ORDER BY id",
        (CUSTOMER, action),
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def admin_id(settings: Settings) -> str:
    [(found,)] = query_hub_db(settings.var_dir, "SELECT id FROM agents WHERE username = 'ada'")
    return str(found)


def test_an_admin_exports_reads_and_erases_a_customer(
    browser: Browser, hub: tuple[str, Settings]
) -> None:
    url, settings = hub
    ada = admin_id(settings)
    page = browser.new_page(accept_downloads=True)
    log_in(page, url, "ada")
    page.goto(f"{url}/console/supervisor")
    expect(page.locator("#privacy-link")).to_be_visible(timeout=WAIT_MS)
    page.locator("#privacy-link").click()
    expect(page).to_have_url(f"{url}/console/privacy")

    page.locator("#pd-export").click()  # nothing named yet: told what is missing
    expect(page.locator("#pd-error")).to_have_text("Fill in the sender id and the reason.")
    name(page, CUSTOMER, "customer asked by phone")
    with page.expect_download(timeout=WAIT_MS) as download:
        page.locator("#pd-export").click()
    zipped = Path(download.value.path()).read_bytes()
    data = json.loads(zipfile.ZipFile(io.BytesIO(zipped)).read("data.json"))
    assert [m["text"] for m in data["conversation"]["messages"]] == [SAID]
    expect(page.locator("#pd-status")).to_have_text("Export downloaded: personal-data-rest.zip")

    page.locator("#pd-consents").click()
    expect(page.locator("#pd-rows tr")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator("#pd-rows tr td").first).to_have_text("marketing")

    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#pd-erase").click()
    expect(page.locator("#pd-status")).to_have_text("Erased.", timeout=WAIT_MS)
    expect(page.locator("#pd-report")).to_contain_text("conversations")

    page.locator("#pd-audit").click()
    logged = query_hub_db(
        settings.var_dir, "SELECT action FROM privacy_audit_log WHERE customer_id = ?", (CUSTOMER,)
    )
    expect(page.locator("#pd-rows tr")).to_have_count(len(logged), timeout=WAIT_MS)
    shown = page.locator("#pd-rows tr td:nth-child(3)").all_text_contents()
    assert sorted(shown) == sorted(row[0] for row in logged)
    assert {"privacy.export", "consent.read", "privacy.erase"} <= set(shown)
    assert audited(settings, "privacy.export") == [("admin", ada, "customer asked by phone")]
    assert audited(settings, "consent.read") == [("admin", ada, "admin api: consents")]
    [(kind, actor, reason)] = audited(settings, "privacy.erase")
    assert (kind, actor) == ("admin", ada)
    assert reason.startswith("customer asked by phone; conversations=1 messages=1")
    assert query_hub_db(settings.var_dir, "SELECT count(*) FROM messages")[0][0] == 0
    assert page.evaluate("document.body.dataset.pwned") is None


def test_a_supervisor_is_told_the_page_is_for_admins_and_script_stays_text(
    browser: Browser, hub: tuple[str, Settings]
) -> None:
    url, settings = hub
    page = browser.new_page()
    log_in(page, url, "sam")
    page.goto(f"{url}/console/supervisor")
    expect(page.locator("#open-count")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#privacy-link")).to_be_hidden()
    page.goto(f"{url}/console/privacy")
    page.on("dialog", lambda dialog: dialog.accept())
    name(page, HOSTILE, "checking")
    page.locator("#pd-erase").click()
    expect(page.locator("#pd-error")).to_contain_text("This page is for admins.", timeout=WAIT_MS)
    expect(page.locator("#pd-error")).to_contain_text("the admin API is for admins")
    assert page.evaluate("document.body.dataset.pwned") is None
    assert query_hub_db(settings.var_dir, "SELECT count(*) FROM messages")[0][0] == 1
    assert audited(settings, "privacy.erase") == []
