"""A hub restart in the middle of a handoff loses nothing: modes, queue and messages persist."""

from __future__ import annotations

import os
import signal
import uuid

import httpx
import pytest

from tests.browser import wait_for_handoff
from tests.conftest import query_hub_db, response_text
from tests.launch import PlatformProcess
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


def say(platform: PlatformProcess, sender: str, text: str) -> dict:  # type: ignore[type-arg]
    response = httpx.post(
        f"{platform.hub_url}/api/messages", json={"sender": sender, "text": text}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def add_agent(platform: PlatformProcess, username: str) -> None:
    import subprocess
    import sys

    # The most free chat slots (50, the most allowed): routing gives the request to the agent
    # with the most free slots, so it comes here and not to one another test left online.
    command = ["agents", "add", username, "--skills", "general", "--max-chats", "50"]
    subprocess.run(
        [sys.executable, "-m", "bot", *command],
        env={**platform.env, "BOT_NEW_AGENT_PASSWORD": PASSWORD},
        check=True,
        capture_output=True,
    )


def test_hub_restart_mid_handoff(platform: PlatformProcess) -> None:
    username = f"agent-{uuid.uuid4().hex[:6]}"
    add_agent(platform, username)
    agent = httpx.Client(base_url=platform.hub_url, timeout=30)
    assert (
        agent.post(
            "/console/api/login", json={"username": username, "password": PASSWORD}
        ).status_code
        == 200
    )
    agent.headers["X-CSRF-Token"] = agent.cookies["console_csrf"]
    agent.post("/console/api/presence", json={"presence": "online"}).raise_for_status()

    try:
        sender = f"restart-{uuid.uuid4().hex[:6]}"
        first = say(platform, sender, "this is ridiculous, I want to talk to a person NOW!!")
        assert first["mode"] == "waiting"
        conversation_id = first["conversation_id"]
        handoff = {"id": wait_for_handoff(agent, conversation_id)}
        assert agent.post(f"/console/api/handoffs/{handoff['id']}/accept").status_code == 200
        say(platform, sender, "are you there?")

        pid_file = platform.var_dir / "run" / "hub.pid"
        hub_pid = int(pid_file.read_text())
        os.kill(hub_pid, signal.SIGKILL)
        wait_until(
            lambda: (
                int(pid_file.read_text()) != hub_pid
                and httpx.get(f"{platform.hub_url}/healthz", timeout=2).status_code == 200
            ),
            "the supervisor to start a new hub that answers /healthz",
            timeout_s=60,
            interval_s=0.3,
            # The new hub has not written its pid or is not listening yet.
            ignoring=(httpx.HTTPError, ValueError),
        )

        # After the restart: the customer is still with the human, the agent's session still works.
        during = say(platform, sender, "hello?")
        assert (during["mode"], during["replies"]) == ("human", [])
        context = agent.get(f"/console/api/handoffs/{handoff['id']}").json()
        assert context["handoff"]["status"] == "active"
        customer_lines = [m["text"] for m in context["transcript"] if m["direction"] == "in"]
        assert customer_lines == [
            "this is ridiculous, I want to talk to a person NOW!!",
            "are you there?",
            "hello?",
        ]
        reply = agent.post(
            f"/console/api/handoffs/{handoff['id']}/messages", json={"text": "I'm here."}
        )
        assert reply.status_code == 200
        assert agent.post(f"/console/api/handoffs/{handoff['id']}/return").status_code == 200
        back = say(platform, sender, "hello")
        assert back["mode"] == "bot"
        # The bot answers again, and sensibly: Rasa listens where the handoff paused it.
        assert [r["text"] for r in back["replies"]] == [response_text("utter_greet", "en")]
        rows = query_hub_db(
            platform.var_dir,
            "SELECT m.author FROM messages m JOIN conversations c ON c.id = m.conversation_id"
            " WHERE c.public_id = ? ORDER BY m.id",
            (conversation_id,),
        )
        assert "agent" in [r["author"] for r in rows]
    finally:
        # Offline again: with its 50 free slots it would take every later request for a human.
        agent.post("/console/api/presence", json={"presence": "offline"})
