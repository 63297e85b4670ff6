"""A hostile user replays the attacks of issue 14's first paragraph that rate limits, the console's
hardening and CORS cover, against the real hub with its default limits (real SQLite; uvicorn and
real socket.io clients where a socket is involved). Each must fail safely: refused with a clear
status, and nothing stored that should not be, nothing stored before lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from fastapi.testclient import TestClient

from bot.app import HubServices, create_app
from channels.media import render_text_image, sniff_file
from tests.conftest import query_hub_db
from tests.live_hub import hub_settings
from tests.test_console_api import waiting_conversation
from tests.test_console_hardening import WAIT_S, console
from tests.test_console_hardening import live_hub as live_hub  # the shared fixture
from tests.test_webchat_channel import Widget

PASSWORD = "correct horse battery"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[TestClient]:
    """The hub as shipped (default limits), no API key, Rasa down: accepted messages are stored
    and answered 503."""
    with TestClient(create_app(hub_settings(tmp_path))) as client:
        yield client


def inbound(var_dir: Path) -> int:
    rows = query_hub_db(var_dir, "SELECT count(*) FROM messages WHERE direction = 'in'")
    return int(rows[0][0])


def test_flooding_one_customer_id_stops_at_the_limit_and_stores_nothing_more(
    hub: TestClient, tmp_path: Path
) -> None:
    statuses = [
        hub.post("/api/messages", json={"sender": "victim", "text": f"spam {i}"}).status_code
        for i in range(40)
    ]
    assert statuses == [503] * 30 + [429] * 10  # 30 a minute per customer by default
    assert inbound(tmp_path) == 30


def test_posting_as_many_customer_ids_from_one_address_stops_at_the_address_limit(
    hub: TestClient, tmp_path: Path
) -> None:
    refused = None
    for i in range(125):
        answer = hub.post("/api/messages", json={"sender": f"id-{i}", "text": "订单"})
        if answer.status_code == 429:
            refused = (i, answer)
            break
    assert refused is not None
    index, answer = refused
    assert index == 120  # 120 a minute per address by default
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.json()["reply"].startswith("您发送得太频繁了")
    assert inbound(tmp_path) == 120


def test_the_eleventh_upload_of_the_day_is_refused(tmp_path: Path) -> None:
    settings = hub_settings(tmp_path, rate_limit_uploads_per_day=10)
    with TestClient(create_app(settings)) as client:
        statuses = [
            client.post(
                "/api/media",
                data={"sender": "uploader", "language": "zh"},
                files={"file": ("x.bin", b"\0" * 1024, "application/octet-stream")},
            ).status_code
            for _ in range(11)
        ]
        assert 429 not in statuses[:10]
        assert statuses[10] == 429
        kept = query_hub_db(tmp_path, "SELECT count(*) FROM attachments")[0][0]
        assert kept == 0  # junk is refused by the intake; the 11th never reached it


def test_big_uploads_stop_at_the_days_bytes(hub: TestClient) -> None:
    nine_mib = b"\0" * (9 * 1024 * 1024)
    statuses = [
        hub.post(
            "/api/media",
            data={"sender": "hoarder"},
            files={"file": ("x.bin", nine_mib, "application/octet-stream")},
        ).status_code
        for _ in range(6)
    ]
    assert statuses[5] == 429  # 50 MiB a day per customer by default: 5 x 9 fit, the 6th not
    assert 429 not in statuses[:5]


def test_a_200_byte_password_logs_in_and_a_wrong_one_is_401(hub: TestClient) -> None:
    long_password = "长密码" * 22 + "ab"  # 200 bytes in UTF-8
    assert len(long_password.encode()) == 200
    services: HubServices = hub.app.state.services  # type: ignore[attr-defined]
    hub.portal.call(services.agents.create, "long", long_password)  # type: ignore[union-attr]
    ok = hub.post("/console/api/login", json={"username": "long", "password": long_password})
    assert ok.status_code == 200
    wrong = hub.post(
        "/console/api/login", json={"username": "long", "password": long_password[:-1] + "x"}
    )
    assert wrong.status_code == 401


def test_another_agents_media_is_404_like_an_unknown_id(hub: TestClient, tmp_path: Path) -> None:
    services: HubServices = hub.app.state.services  # type: ignore[attr-defined]

    async def agents() -> None:
        await services.agents.create("olga", PASSWORD, skills=("orders",))
        await services.agents.create("rita", PASSWORD, skills=("refunds",))

    hub.portal.call(agents)  # type: ignore[union-attr]
    conversation_id, handoff_id = waiting_conversation(hub, skill="orders")
    sender = query_hub_db(
        tmp_path, "SELECT sender FROM conversations WHERE public_id = ?", (conversation_id,)
    )[0]["sender"]
    image = render_text_image(["订单 YX2611010001"], tmp_path / "shot.png")

    async def keep() -> str:
        kept = await services.media.store.keep(
            image, channel="webchat", sender=sender, media=sniff_file(image)
        )
        return kept.public_id

    attachment = hub.portal.call(keep)  # type: ignore[union-attr]
    for name in ("olga", "rita"):
        answer = hub.post("/console/api/login", json={"username": name, "password": PASSWORD})
        hub.headers["X-CSRF-Token"] = answer.cookies["console_csrf"]
        if name == "olga":
            assert hub.post(f"/console/api/handoffs/{handoff_id}/accept").status_code == 200
    assert hub.get(f"/console/media/{attachment}").status_code == 404  # rita's try


async def test_a_logged_out_socket_receives_nothing(live_hub: Any) -> None:
    async with console(live_hub.url, "olga") as olga, console(live_hub.url, "rita") as rita:
        await olga.http.post("/console/api/logout")
        async with asyncio.timeout(WAIT_S):
            await olga.dropped.wait()
        before = list(olga.events)
        await rita.http.post("/console/api/presence", json={"presence": "online"})
        await rita.wait_for("queue", 2)
        assert olga.events == before


@pytest.mark.parametrize(
    "live_hub", [{"webchat_origins": "https://shop.example.com"}], indirect=True
)
async def test_a_foreign_origin_is_refused(live_hub: Any) -> None:
    handshake = f"{live_hub.url}/socket.io/?EIO=4&transport=polling"
    async with httpx.AsyncClient() as http:
        foreign = await http.get(handshake, headers={"Origin": "https://evil.example"})
        listed = await http.get(handshake, headers={"Origin": "https://shop.example.com"})
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers
    assert listed.headers["access-control-allow-origin"] == "https://shop.example.com"
    widget = Widget(live_hub.url)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await widget.client.connect(
            live_hub.url,
            transports=["websocket"],
            headers={"Origin": "https://evil.example"},
            wait_timeout=5,
        )
    await widget.client.disconnect()


def test_console_login_guessing_is_locked_out(hub: TestClient) -> None:
    services: HubServices = hub.app.state.services  # type: ignore[attr-defined]
    hub.portal.call(services.agents.create, "olga", PASSWORD)  # type: ignore[union-attr]
    statuses = [
        hub.post("/console/api/login", json={"username": "olga", "password": f"guess{i}"})
        for i in range(7)
    ]
    assert [s.status_code for s in statuses[:5]] == [401] * 5
    assert statuses[6].status_code == 429
    assert int(statuses[6].headers["retry-after"]) >= 1


# Routes anyone may call: the health check, the marketing links' landing pages, the console's
# login and the web-chat widget's own uploads (its session travels in the form).
PUBLIC = {
    ("/healthz", "get"),
    ("/m/c/{token}", "get"),
    ("/m/u/{token}", "get"),
    ("/m/u/{token}", "post"),
    # A customer's export asked for in the chat: the signed, expiring token is the only key.
    ("/privacy/download/{token}", "get"),
    ("/privacy/download/{token}", "post"),
    ("/console/api/login", "post"),
    ("/webchat/upload", "post"),
    ("/webchat/media/{attachment_id}", "get"),
}


def test_the_openapi_document_says_how_each_route_is_authorised_and_it_holds(
    tmp_path: Path,
) -> None:
    """Every route but the public ones declares its security scheme (the shop's key, the admin
    token or a console session), so an integrator's generated client sends it; and each such
    route, called with none, is refused."""
    settings = hub_settings(tmp_path, api_key="k" * 32, admin_token="a" * 32)
    with TestClient(create_app(settings)) as client:
        document = client.get("/openapi.json").json()
        assert set(document["components"]["securitySchemes"]) == {
            "ApiKey",
            "AdminToken",
            "ConsoleSession",
        }
        operations = {
            (path, method): operation.get("security")
            for path, methods in document["paths"].items()
            for method, operation in methods.items()
        }
        assert {route for route, security in operations.items() if not security} == PUBLIC
        for (path, method), security in operations.items():
            if not security or path == "/console/api/logout":  # ending no session is fine
                continue
            concrete = path.replace("{", "").replace("}", "")  # "{number}" -> "number"
            response = client.request(method.upper(), concrete, json={})
            assert response.status_code in (401, 403, 503), (path, method, response.text)
            assert response.json()["detail"], (path, method)
