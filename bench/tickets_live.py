"""From "a ticket is opened" to "the agent sees it in the console's ticket list", in Debian's
Chromium against a served hub on real SQLite (Rasa is not needed).

    .venv/bin/python -m bench.tickets_live [--tickets 40] [--backlog 2000]

An agent's ticket page is open on the default view; the shop opens tickets one at a time through
``POST /api/tickets``; each is timed from just before the request until its row is in the page
(the hub's ticket-list watch notices the change, the page reloads its list). ``--backlog``
tickets exist before the run (synthetic subjects). Prints JSON with p50/p95/max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from bot.app import Settings, create_asgi
from bot.app._container import build_hub_services
from tests.browser import ARGS, CHROMIUM, PASSWORD
from tests.live_hub import hub_settings, serving_in_thread

KEY = "bench-tickets-live-key-0123456789abcdef"


async def prepare(settings: Settings) -> None:
    hub = build_hub_services(settings)
    await hub.database.migrate()
    await hub.agents.create("mei", PASSWORD, display_name="Mei")
    hub.tracker_events.dispose()
    hub.database.dispose()


def ticket(n: int) -> dict[str, object]:
    return {
        "customer_id": f"customer-{n}",
        "subject": f"Parcel {n} has not arrived",
        "description": f"Order YX26110{n:05d} was due last week.",
        "category": "delivery",
    }


def measure(tickets: int, backlog: int) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="bench-tickets-live-"))
    settings = hub_settings(folder, api_key=KEY)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, prepare(settings)).result()
    auth = {"Authorization": f"Bearer {KEY}"}
    with (
        serving_in_thread(create_asgi(settings)) as url,
        httpx.Client(base_url=url, headers=auth, timeout=30) as shop,
        sync_playwright() as playwright,
    ):
        for n in range(backlog):
            assert shop.post("/api/tickets", json=ticket(100_000 + n)).status_code == 201
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(f"{url}/console")
        page.locator("#username").fill("mei")
        page.locator("#password").fill(PASSWORD)
        page.locator("#login-button").click()
        page.wait_for_selector("#me:has-text('Mei')")
        page.goto(f"{url}/console/tickets")
        page.wait_for_selector("body[data-loaded='list']")
        seen_ms: list[float] = []
        for n in range(tickets):
            started = time.perf_counter()
            created = shop.post("/api/tickets", json=ticket(n))
            assert created.status_code == 201, created.text
            number = created.json()["number"]
            page.wait_for_selector(f"#tk-rows tr[data-number='{number}']", timeout=30_000)
            seen_ms.append((time.perf_counter() - started) * 1000)
        browser.close()
    ordered = sorted(seen_ms)
    return {
        "bench": "tickets_live",
        "data": "synthetic tickets, SQLite, one hub, headless Chromium",
        "tickets": tickets,
        "backlog": backlog,
        "open_to_visible_ms": {
            "p50": round(statistics.median(ordered), 1),
            "p95": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
            "max": round(ordered[-1], 1),
        },
        "goal_p95_ms": 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=40)
    parser.add_argument("--backlog", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(measure(args.tickets, args.backlog), indent=2))


if __name__ == "__main__":
    main()
