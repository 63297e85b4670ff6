"""The ticket API and the SLA job as the hub wires them (real app, real SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.app._hub import background_jobs
from bot.app._jobs import Job, Jobs
from tests.conftest import query_hub_db
from tests.test_hub import make_settings

KEY = "k" * 32
AUTH = {"Authorization": f"Bearer {KEY}"}
TICKET = {
    "customer_id": "customer-7",
    "subject": "耳机左边没有声音",
    "description": "收到的耳机左耳没有声音，订单 YX2611010001",
    "category": "product",
    "language": "zh",
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(tmp_path, api_key=KEY, ticket_sla_check_s=3600.0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_the_shop_opens_and_reads_tickets_with_its_api_key(client: TestClient) -> None:
    created = client.post("/api/tickets", json=TICKET, headers={**AUTH, "Idempotency-Key": "a1"})
    assert created.status_code == 201, created.text
    ticket = created.json()
    assert ticket["number"].startswith("T-")
    again = client.post("/api/tickets", json=TICKET, headers={**AUTH, "Idempotency-Key": "a1"})
    assert again.json()["number"] == ticket["number"]  # a retried POST opens no second ticket
    listed = client.get("/api/tickets", params={"customer_id": "customer-7"}, headers=AUTH)
    assert [t["number"] for t in listed.json()["items"]] == [ticket["number"]]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_without_the_key_the_ticket_api_is_closed(
    client: TestClient, headers: dict[str, str], tmp_path: Path
) -> None:
    assert client.post("/api/tickets", json=TICKET, headers=headers).status_code == 401
    assert client.get("/api/tickets", headers=headers).status_code == 401
    assert query_hub_db(tmp_path, "SELECT count(*) FROM tickets")[0][0] == 0


def test_a_hub_without_an_api_key_keeps_the_ticket_api_closed(tmp_path: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path))) as client:
        response = client.get("/api/tickets")
    assert response.status_code == 403
    assert "BOT_API_KEY" in response.json()["detail"]


def test_the_hub_runs_the_sla_job_and_keeps_ticket_statistics(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_key=KEY)
    app = create_app(settings)
    jobs = {job.name: job.every_s for job in background_jobs(app.state.services)}
    assert jobs == {  # no webhook configured
        "console-sessions": 3600.0,
        "ticket-sla": 60.0,
        "ticket-notices": 2.0,
        "ticket-statistics": 86400.0,
        "recommend-refresh": 60.0,
        "recommend-train": 86400.0,
        "privacy-retention": 3600.0,
        "marketing-campaigns": 60.0,
    }
    hooked = make_settings(
        tmp_path, ticket_webhook_url="http://127.0.0.1:9/hook", ticket_webhook_secret="s" * 16
    )
    assert "ticket-webhooks" in {j.name for j in background_jobs(create_app(hooked).state.services)}


async def test_a_failing_job_is_logged_and_runs_again(caplog: pytest.LogCaptureFixture) -> None:
    runs: list[int] = []
    again = asyncio.Event()

    async def flaky() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("database went away")
        again.set()

    jobs = Jobs([Job("flaky", 0.01, flaky)])
    await jobs.start()
    await asyncio.wait_for(again.wait(), timeout=10)
    await jobs.stop()
    assert len(runs) >= 2
    assert "Background job flaky failed" in caplog.text


async def test_stopping_lets_a_running_job_finish_and_ends_waiting_ones_at_once() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[str] = []

    async def slow_send() -> None:
        started.set()
        await release.wait()
        finished.append("sent")

    async def never_due() -> None:
        finished.append("never")

    jobs = Jobs([Job("send", 3600, slow_send), Job("idle", 3600, never_due, first_after_s=3600)])
    await jobs.start()
    await asyncio.wait_for(started.wait(), timeout=10)
    stopping = asyncio.create_task(jobs.stop())
    await asyncio.sleep(0)  # let stop() begin waiting on the running job
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, timeout=10)
    assert finished == ["sent"]


async def test_a_job_still_running_after_the_grace_is_cut_short(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()

    async def hangs() -> None:
        started.set()
        await asyncio.Event().wait()

    jobs = Jobs([Job("hangs", 3600, hangs)])
    await jobs.start()
    await asyncio.wait_for(started.wait(), timeout=10)
    await asyncio.wait_for(jobs.stop(grace_s=0.05), timeout=10)
    assert "Background job hangs cut short at shutdown" in caplog.text


def test_a_webhook_without_its_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="BOT_TICKET_WEBHOOK_SECRET"):
        create_app(make_settings(tmp_path, ticket_webhook_url="http://127.0.0.1:9/hook"))


def test_a_console_agent_uses_the_ticket_api_with_its_session_and_csrf(tmp_path: Path) -> None:
    # No BOT_API_KEY: the shop's back end is shut out, a logged-in agent is not.
    with TestClient(create_app(make_settings(tmp_path))) as client:
        agents = client.app.state.services.agents  # type: ignore[attr-defined]
        client.portal.call(lambda: agents.create("mei", "a-long-enough-password"))  # type: ignore[union-attr]
        assert client.get("/api/tickets").status_code == 403  # not logged in, no key
        login = client.post(
            "/console/api/login", json={"username": "mei", "password": "a-long-enough-password"}
        )
        assert login.status_code == 200, login.text
        assert client.get("/api/tickets").json()["items"] == []
        refused = client.post("/api/tickets", json=TICKET)  # the cookies alone, as a forged form
        assert refused.status_code == 403
        assert "CSRF" in refused.json()["detail"]
        assert client.get("/api/tickets").json()["items"] == []  # nothing was opened
        csrf = {"X-CSRF-Token": login.cookies["console_csrf"]}
        created = client.post("/api/tickets", json=TICKET, headers=csrf)
        assert created.status_code == 201, created.text
        number = created.json()["number"]
        history = client.get(f"/api/tickets/{number}").json()["history"]
        assert {h["actor"] for h in history} == {"agent:mei"}
        client.post("/console/api/logout", headers=csrf)
        client.cookies.set("console_session", "forged-or-expired")
        expired = client.get("/api/tickets")
        assert expired.status_code == 401
        assert "log in to the console again" in expired.json()["detail"]
