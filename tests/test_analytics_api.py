"""The analytics API on a live hub: who may read it, what bad input gets, and the CSV export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import Settings
from bot.app._analytics import build_analytics
from bot.app._container import build_hub_services
from tests.live_hub import hub_settings, serving
from tests.test_insights_analytics import synthetic_log

KEY = "analytics-test-key-0123456789abcdef"
PASSWORD = "correct horse battery"
RANGE = {"from": "2026-11-01", "to": "2026-11-12"}


async def prepare(settings: Settings) -> None:
    """The synthetic log stored, rolled up and its negative messages embedded, before the hub
    starts (so its own jobs find nothing left to do)."""
    hub = build_hub_services(settings)
    await hub.database.migrate()
    await hub.database.transaction(synthetic_log)
    analytics = build_analytics(settings, hub.database, hub.tickets)
    await analytics.service.rebuild(date(2026, 11, 1), date(2026, 11, 12))
    assert await analytics.painpoints.embed_pending() == 2
    await hub.agents.create("sam", PASSWORD, role="supervisor")
    await hub.agents.create("olga", PASSWORD)
    hub.tracker_events.dispose()
    hub.database.dispose()


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[str]:
    settings = hub_settings(tmp_path, api_key=KEY)
    await prepare(settings)
    async with serving(settings) as hub:
        yield hub.url


async def log_in(client: httpx.AsyncClient, username: str) -> httpx.AsyncClient:
    login = {"username": username, "password": PASSWORD}
    assert (await client.post("/console/api/login", json=login)).status_code == 200
    return client


async def test_who_may_read(live: str) -> None:
    async with httpx.AsyncClient(base_url=live, timeout=30) as anonymous:
        nobody = await anonymous.get("/api/analytics/summary", params=RANGE)
        assert nobody.status_code == 401
        wrong = await anonymous.get(
            "/api/analytics/summary", params=RANGE, headers={"Authorization": "Bearer guess"}
        )
        assert wrong.status_code == 401
        assert wrong.json() == {"detail": "wrong API key; send 'Authorization: Bearer <key>'"}
        odd = await anonymous.get(
            "/api/analytics/summary", headers={b"Authorization": "Bearer cl\xe9".encode("latin-1")}
        )
        assert odd.status_code == 401
        keyed = await anonymous.get(
            "/api/analytics/summary", params=RANGE, headers={"Authorization": f"Bearer {KEY}"}
        )
        assert keyed.status_code == 200
        assert keyed.json()["totals"]["conversations"] == 4
        assert keyed.json()["totals"]["csat_avg"] == 4.0  # no tickets in this hub
    async with (
        httpx.AsyncClient(base_url=live, timeout=30) as agent,
        httpx.AsyncClient(base_url=live, timeout=30) as supervisor,
    ):
        await log_in(agent, "olga")
        await log_in(supervisor, "sam")
        refused = await agent.get("/api/analytics/summary", params=RANGE)
        assert refused.status_code == 403
        assert refused.json() == {"detail": "analytics are for supervisors"}
        allowed = await supervisor.get("/api/analytics/summary", params=RANGE)
        assert allowed.status_code == 200
        assert allowed.json()["totals"]["handoffs"] == 2
        pains = await supervisor.get("/api/analytics/painpoints", params=RANGE)
        assert pains.status_code == 200
        assert pains.json()["texts"] == 2


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"from": "2026-11-12", "to": "2026-11-01"}, 422, "'to' (2026-11-01) is before 'from'"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, 422, "from must be a date as YYYY-MM-DD"),
        ({"from": "yesterday"}, 422, "from"),
        ({**RANGE, "granularity": "month"}, 422, "granularity must be one of day, week"),
        ({**RANGE, "channel": "x" * 129}, 422, "channel"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, 422, "at most 731 days"),
    ],
)
async def test_bad_queries_get_a_clear_422(
    live: str, params: dict[str, Any], status: int, detail: str
) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=live, timeout=30, headers=headers) as client:
        answer = await client.get("/api/analytics/summary", params=params)
    assert answer.status_code == status
    assert detail in answer.json()["detail"]


async def test_csv_exports(live: str) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=live, timeout=30, headers=headers) as client:
        summary = await client.get("/api/analytics/summary.csv", params={**RANGE, "language": "en"})
        pains = await client.get("/api/analytics/painpoints.csv", params=RANGE)
    assert summary.headers["content-type"] == "text/csv; charset=utf-8"
    assert summary.headers["content-disposition"] == (
        'attachment; filename="analytics-2026-11-01-2026-11-12.csv"'
    )
    lines = summary.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("section,key,conversations,contained,")
    assert lines[1].startswith("total,,2,1,0.5,1,0.5,3,1,")  # c1's two days
    assert pains.status_code == 200
    assert pains.content.decode("utf-8-sig").splitlines()[0] == (
        "label_zh,label_en,size,this_week,last_week,trend,sources,examples"
    )
