"""The hardened console on the real hub (real SQLite; uvicorn and a real socket.io client for the
live socket): Secure cookies behind https, the double-submit CSRF token, expired sessions purged,
a login on every route, the live socket dropped on log-out and expiry, media only for agents who
may see the conversation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from fastapi.testclient import TestClient

from bot.app import HubServices, background_jobs, create_app
from bot.handoff import AgentDirectory
from bot.storage import Conversation, Database
from channels.media import render_text_image, sniff_file
from tests.conftest import query_hub_db
from tests.live_hub import hub_settings, serving
from tests.test_console_api import PASSWORD, login, waiting_conversation
from tests.test_console_api import client as client  # the shared fixture

WAIT_S = 20.0


@pytest.mark.parametrize("secure", [False, True])
def test_cookies_are_secure_when_the_console_is_served_over_https(
    tmp_path: Path, secure: bool
) -> None:
    settings = hub_settings(tmp_path, console_secure_cookies=secure)
    app = create_app(settings)
    with TestClient(app, base_url="https://testserver") as https:
        agents: AgentDirectory = app.state.services.agents
        https.portal.call(agents.create, "olga", PASSWORD)  # type: ignore[union-attr]
        response = https.post("/console/api/login", json={"username": "olga", "password": PASSWORD})
        cookies = {
            header.split("=", 1)[0]: header.lower()
            for header in response.headers.get_list("set-cookie")
        }
    session, csrf = cookies["console_session"], cookies["console_csrf"]
    assert "httponly" in session
    assert "httponly" not in csrf  # the console's script reads it
    assert "samesite=strict" in session
    assert "samesite=strict" in csrf
    assert ("; secure" in session, "; secure" in csrf) == (secure, secure)


def test_state_changes_need_the_csrf_token_and_refusals_change_nothing(
    client: TestClient, tmp_path: Path
) -> None:
    login(client, "olga")
    token = client.headers.pop("X-CSRF-Token")
    for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": ""}):
        refused = client.post("/console/api/presence", json={"presence": "online"}, headers=headers)
        assert refused.status_code == 403
        assert "X-CSRF-Token" in refused.json()["detail"]
    assert client.get("/console/api/me").json()["presence"] == "offline"  # nothing changed
    assert client.post("/console/api/logout").status_code == 403  # still logged in
    assert client.get("/console/api/me").status_code == 200
    done = client.post(
        "/console/api/presence", json={"presence": "online"}, headers={"X-CSRF-Token": token}
    )
    assert done.status_code == 200
    assert query_hub_db(tmp_path, "SELECT presence FROM agents WHERE username = 'olga'")[0][0] == (
        "online"
    )
    # Another site's page cannot read the cookie, so it cannot send the header: a form post
    # (cookies only) is refused.
    form = client.post("/console/api/presence", data={"presence": "away"})
    assert form.status_code == 403


def test_every_console_route_but_login_needs_a_session(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    routes = [
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/console/")
        for method in operations
    ]
    assert len(routes) >= 15
    routes.append(("GET", "/console/media/{attachment_id}"))  # not in the schema
    open_routes = {"/console/api/login", "/console/api/logout"}
    for method, route in routes:
        if route in open_routes:
            continue
        path = route.replace("{handoff_id}", "1").replace("{attachment_id}", "x")
        response = client.request(method, path, json={})
        assert response.status_code == 401, (method, path, response.text)


def test_supervisor_routes_refuse_agents(client: TestClient) -> None:
    login(client, "olga")
    for path in ("/console/api/supervisor", "/console/api/supervisor/unanswered"):
        assert client.get(path).status_code == 403
    login(client, "sam")
    assert client.get("/console/api/supervisor").status_code == 200


async def test_expired_sessions_are_purged_by_a_background_job(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path}/hub.db")
    await database.migrate()
    try:
        gone = AgentDirectory(database, timedelta(seconds=-1))  # sessions born expired
        alive = AgentDirectory(database, timedelta(hours=1))
        await gone.create("olga", PASSWORD)
        expired_token, _ = await gone.log_in("olga", PASSWORD)
        live_token, _ = await alive.log_in("olga", PASSWORD)
        assert await alive.purge_expired_sessions() == 1
        assert await alive.agent_for_token(expired_token) is None
        assert await alive.agent_for_token(live_token) is not None
        assert await alive.purge_expired_sessions() == 0
    finally:
        database.dispose()
    settings = hub_settings(tmp_path / "hub")
    services: HubServices = create_app(settings).state.services
    jobs = {job.name: job for job in background_jobs(services)}
    assert jobs["console-sessions"].run == services.agents.purge_expired_sessions


def test_media_only_for_agents_who_may_see_the_conversation(
    client: TestClient, tmp_path: Path
) -> None:
    hub: HubServices = client.app.state.services  # type: ignore[attr-defined]
    conversation_id, handoff_id = waiting_conversation(client, skill="orders", language="zh")
    sender = query_hub_db(
        tmp_path, "SELECT sender FROM conversations WHERE public_id = ?", (conversation_id,)
    )[0]["sender"]
    image = render_text_image(["订单 YX2611010001"], tmp_path / "shot.png")

    async def keep() -> str:
        kept = await hub.media.store.keep(
            image, channel="webchat", sender=sender, media=sniff_file(image)
        )
        return kept.public_id

    attachment = client.portal.call(keep)  # type: ignore[union-attr]
    login(client, "olga")
    assert client.post(f"/console/api/handoffs/{handoff_id}/accept").status_code == 200
    assert client.get(f"/console/media/{attachment}").status_code == 200
    login(client, "rita")  # refunds, English: not hers, not queued for her
    other = client.get(f"/console/media/{attachment}")
    unknown = client.get("/console/media/0123456789abcdef0123456789abcdef")
    assert (other.status_code, unknown.status_code) == (404, 404)
    assert set(other.json()) == set(unknown.json()) == {"detail"}
    login(client, "sam")  # a supervisor
    assert client.get(f"/console/media/{attachment}").status_code == 200


# ---- the live socket -----------------------------------------------------------------------


@dataclass
class Console:
    """An agent's console: an HTTP client with its session and a socket on /console."""

    http: httpx.AsyncClient
    socket: socketio.AsyncClient
    events: list[str] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    def count(self, name: str) -> int:
        return self.events.count(name)

    async def wait_for(self, name: str, count: int) -> None:
        async with asyncio.timeout(WAIT_S), self.changed:
            await self.changed.wait_for(lambda: self.count(name) >= count)


@asynccontextmanager
async def console(url: str, username: str) -> AsyncIterator[Console]:
    async with httpx.AsyncClient(base_url=url) as http:
        answer = await http.post(
            "/console/api/login", json={"username": username, "password": PASSWORD}
        )
        answer.raise_for_status()
        http.headers["X-CSRF-Token"] = answer.cookies["console_csrf"]
        sio = socketio.AsyncClient(reconnection=False)
        live = Console(http, sio)

        def recorder(name: str) -> Callable[[Any], Awaitable[None]]:
            async def record(_data: Any = None) -> None:
                async with live.changed:
                    live.events.append(name)
                    live.changed.notify_all()

            return record

        for name in ("queue", "assigned", "message", "unwatched"):
            sio.on(name, recorder(name), namespace="/console")

        async def dropped(*_args: Any) -> None:
            live.dropped.set()

        sio.on("disconnect", dropped, namespace="/console")
        await sio.connect(
            url,
            namespaces=["/console"],
            transports=["websocket"],
            headers={"Cookie": f"console_session={answer.cookies['console_session']}"},
            wait_timeout=10,
        )
        try:
            yield live
        finally:
            if sio.connected:
                await sio.disconnect()


@pytest.fixture
async def live_hub(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    overrides: dict[str, Any] = getattr(request, "param", {})
    async with serving(hub_settings(tmp_path, **overrides)) as hub:
        agents = hub.services.agents
        for name in ("olga", "rita"):
            await agents.create(name, PASSWORD)
        await agents.create("sam", PASSWORD, role="supervisor")
        yield hub


async def test_logging_out_drops_the_open_socket_and_it_gets_no_more_queue_events(
    live_hub: Any,
) -> None:
    async with console(live_hub.url, "olga") as olga, console(live_hub.url, "rita") as rita:
        await olga.http.post("/console/api/presence", json={"presence": "online"})
        await olga.wait_for("queue", 1)
        await rita.wait_for("queue", 1)
        assert (await olga.http.post("/console/api/logout")).status_code == 200
        async with asyncio.timeout(WAIT_S):
            await olga.dropped.wait()
        seen = olga.count("queue")
        # Another agent's change pushes a queue event to every console still logged in.
        await rita.http.post("/console/api/presence", json={"presence": "online"})
        await rita.wait_for("queue", 3)  # olga's log-out, then rita's presence
        assert olga.count("queue") == seen
        refused = socketio.AsyncClient(reconnection=False)  # the old cookie opens nothing
        with pytest.raises(socketio.exceptions.ConnectionError):
            await refused.connect(
                live_hub.url,
                namespaces=["/console"],
                transports=["websocket"],
                headers={"Cookie": f"console_session={olga.http.cookies.get('console_session')}"},
                wait_timeout=5,
            )


@pytest.mark.parametrize("live_hub", [{"agent_session_hours": 2 / 3600}], indirect=True)
async def test_the_socket_is_dropped_when_its_session_expires(live_hub: Any) -> None:
    async with console(live_hub.url, "olga") as olga:
        async with asyncio.timeout(WAIT_S):
            await olga.dropped.wait()
        assert (await olga.http.get("/console/api/me")).status_code == 401


async def test_every_socket_event_rechecks_the_session(live_hub: Any) -> None:
    async with console(live_hub.url, "olga") as olga:
        token = olga.http.cookies["console_session"]
        # The session ends without the console hearing of it (another hub replica, say).
        await live_hub.services.agents.log_out(token)
        answer = await olga.socket.call("watch", {"handoff_id": 1}, namespace="/console")
        assert answer == {"ok": False, "error": "the console session ended; log in again"}
        async with asyncio.timeout(WAIT_S):
            await olga.dropped.wait()


@pytest.mark.parametrize(
    "live_hub", [{"webchat_origins": "https://shop.example.com"}], indirect=True
)
async def test_the_console_socket_opens_from_the_hubs_own_pages_only(live_hub: Any) -> None:
    async with httpx.AsyncClient(base_url=live_hub.url) as http:
        answer = await http.post(
            "/console/api/login", json={"username": "olga", "password": PASSWORD}
        )
        cookie = {"Cookie": f"console_session={answer.cookies['console_session']}"}
    # The widget's site may open the web chat's socket, never the agents' console.
    for origin, opens in ((live_hub.url, True), ("https://shop.example.com", False)):
        client = socketio.AsyncClient(reconnection=False)
        try:
            await client.connect(
                live_hub.url,
                namespaces=["/console"],
                transports=["websocket"],
                headers={**cookie, "Origin": origin},
                wait_timeout=10,
            )
            assert opens, f"the console opened from {origin}"
        except socketio.exceptions.ConnectionError:
            assert not opens, f"the console did not open from {origin}"
        finally:
            await client.disconnect()


async def test_a_transferred_conversation_is_no_longer_pushed_to_the_old_agent(
    live_hub: Any,
) -> None:
    services: HubServices = live_hub.services
    public_id = "c" * 32
    await services.database.session(
        lambda s: s.add(
            Conversation(
                public_id=public_id, channel="webchat", sender="cust", language="zh", mode="bot"
            )
        )
    )
    ticket = await services.handoffs.request(
        public_id, "customer_request", language="zh", skill="general"
    )
    handoff_id = ticket.handoff.id
    async with (
        console(live_hub.url, "olga") as olga,
        console(live_hub.url, "sam") as sam,
    ):
        accepted = await olga.http.post(f"/console/api/handoffs/{handoff_id}/accept")
        assert accepted.status_code == 200
        for who in (olga, sam):
            watched = await who.socket.call(
                "watch", {"handoff_id": handoff_id}, namespace="/console"
            )
            assert watched["ok"] is True
        rita_id = next(a.id for a in await services.agents.all() if a.username == "rita")
        moved = await olga.http.post(
            f"/console/api/handoffs/{handoff_id}/transfer", json={"agent_id": rita_id}
        )
        assert moved.status_code == 200
        await olga.wait_for("unwatched", 1)
        before, supervisor_before = olga.count("message"), sam.count("message")
        await services.conversations.post(public_id, "for the new agent only", author="agent")
        await sam.wait_for("message", supervisor_before + 1)  # the supervisor still follows
        assert olga.count("message") == before
