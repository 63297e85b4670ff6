"""The web-chat channel over real socket.io against the real platform (hub, Rasa, actions).

A Python socket.io client plays the Rasa web-chat widgets: session_request / session_confirm,
user_uttered / bot_uttered with the real bot's replies, an agent who writes while the customer is
away, and the quick replies of the closing survey. Errors and cursors without Rasa are in
tests/test_webchat_channel.py.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import socketio

from bot.conversations import csat_question, notice
from tests.conftest import query_hub_db, response_text
from tests.launch import PlatformProcess

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"
WAIT_S = 30.0


class Widget:
    """A socket.io client that records what the hub sends, like a web-chat widget would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()
        for name in ("session_confirm", "bot_uttered", "history", "media_read", "typing", "mode"):
            self.client.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[[Any], Any]:
        async def record(data: Any) -> None:
            async with self._changed:
                self.events.append((name, data))
                self._changed.notify_all()

        return record

    async def connect(self) -> None:
        await self.client.connect(self.url, transports=["websocket"], wait_timeout=10)

    async def start(self, **request: Any) -> str:
        """Connect and ask for a session; return the confirmed session id."""
        await self.connect()
        await self.client.emit("session_request", request)
        confirm = await self.next("session_confirm")
        return str(confirm)

    async def say(self, text: str, session_id: str, **extra: Any) -> Any:
        message = {"message": text, "session_id": session_id, "customData": {}, **extra}
        return await self.client.call("user_uttered", message, timeout=WAIT_S)

    def of(self, name: str) -> list[Any]:
        return [data for kind, data in self.events if kind == name]

    async def next(self, name: str, count: int = 1) -> Any:
        """Wait until ``count`` events called ``name`` arrived; return the last of them."""
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: len(self.of(name)) >= count)
        return self.of(name)[count - 1]

    async def event(self, name: str, data: Any) -> None:
        """Wait until an event ``name`` carrying ``data`` arrived (a mode change comes as an
        event of its own, after the message that announces it)."""
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: data in self.of(name))

    async def utterance(self, text: str) -> Any:
        """Wait until a ``bot_uttered`` with this text arrived; return it."""

        def said() -> Any:
            return next((u for u in self.of("bot_uttered") if u.get("text") == text), None)

        try:
            async with asyncio.timeout(WAIT_S), self._changed:
                await self._changed.wait_for(lambda: said() is not None)
        except TimeoutError:
            seen = [u.get("text") for u in self.of("bot_uttered")]
            raise AssertionError(
                f"no bot_uttered {text!r} within {WAIT_S:g} s; got {seen}"
            ) from None
        return said()

    async def close(self) -> None:
        await self.client.disconnect()


@pytest.fixture
async def widgets(platform: PlatformProcess) -> AsyncIterator[Callable[[], Widget]]:
    made: list[Widget] = []

    def make() -> Widget:
        widget = Widget(platform.hub_url)
        made.append(widget)
        return widget

    yield make
    for widget in made:
        await widget.close()


async def test_a_new_session_gets_an_id_and_a_known_one_keeps_it(
    widgets: Callable[[], Widget],
) -> None:
    fresh = await widgets().start()
    assert re.fullmatch(r"[0-9a-f]{32}", fresh)
    chosen = f"widget-{uuid.uuid4().hex[:12]}"
    assert await widgets().start(session_id=chosen) == chosen
    # An id that is not a plain token is replaced rather than trusted.
    assert await widgets().start(session_id="../../etc/passwd") != "../../etc/passwd"


@pytest.mark.parametrize(("text", "language"), [("你好", "zh"), ("hello there", "en")])
async def test_messages_are_answered_in_the_customers_language(
    widgets: Callable[[], Widget], platform: PlatformProcess, text: str, language: str
) -> None:
    widget = widgets()
    session_id = await widget.start()
    ack = await widget.say(text, session_id)
    assert ack["ok"] is True
    reply = await widget.next("bot_uttered")
    assert reply["text"] == response_text("utter_greet", language)
    assert reply["author"] == "bot"
    assert isinstance(reply["message_id"], int)
    rows = query_hub_db(
        platform.var_dir,
        "SELECT c.channel, c.sender, m.text FROM messages m JOIN conversations c"
        " ON c.id = m.conversation_id WHERE c.public_id = ? ORDER BY m.id",
        (ack["conversation_id"],),
    )
    assert [tuple(r) for r in rows] == [
        ("webchat", session_id, text),
        ("webchat", session_id, reply["text"]),
    ]


async def test_every_socket_of_a_session_gets_the_replies(widgets: Callable[[], Widget]) -> None:
    first, second = widgets(), widgets()
    session_id = await first.start()
    await second.start(session_id=session_id)
    await first.say("hello", session_id)
    assert (await first.next("bot_uttered"))["text"] == response_text("utter_greet", "en")
    assert (await second.next("bot_uttered"))["text"] == response_text("utter_greet", "en")


async def test_our_widget_gets_the_history_after_its_last_message(
    widgets: Callable[[], Widget],
) -> None:
    widget = widgets()
    session_id = await widget.start(last_message_id=0)
    assert (await widget.next("history")) == {"messages": []}
    await widget.say("hello", session_id, client_message_id="c-1")
    greeting = await widget.next("bot_uttered")
    await widget.say("are you a bot?", session_id, client_message_id="c-2")
    await widget.next("bot_uttered", count=2)

    reloaded = widgets()
    await reloaded.start(session_id=session_id, last_message_id=0)
    everything = (await reloaded.next("history"))["messages"]
    assert [(m["direction"], m["text"]) for m in everything] == [
        ("in", "hello"),
        ("out", response_text("utter_greet", "en")),
        ("in", "are you a bot?"),
        ("out", response_text("utter_iamabot", "en")),
    ]
    assert [m.get("client_message_id") for m in everything if m["direction"] == "in"] == [
        "c-1",
        "c-2",
    ]

    resumed = widgets()
    await resumed.start(session_id=session_id, last_message_id=greeting["message_id"])
    after = (await resumed.next("history"))["messages"]
    assert [m["text"] for m in after] == [
        "are you a bot?",
        response_text("utter_iamabot", "en"),
    ]


async def test_an_agent_reaches_the_customer_live_and_after_a_reconnect(
    widgets: Callable[[], Widget], platform: PlatformProcess
) -> None:
    username = f"agent-{uuid.uuid4().hex[:6]}"
    # The most free chat slots: routing picks this agent over any other left online.
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "agents", "add", username, "--max-chats", "50"],
        env={**platform.env, "BOT_NEW_AGENT_PASSWORD": PASSWORD},
        check=True,
        capture_output=True,
    )
    async with httpx.AsyncClient(base_url=platform.hub_url, timeout=30) as agent:
        login = {"username": username, "password": PASSWORD}
        assert (await agent.post("/console/api/login", json=login)).status_code == 200
        agent.headers["X-CSRF-Token"] = agent.cookies["console_csrf"]
        await agent.post("/console/api/presence", json={"presence": "online"})

        widget = widgets()
        session_id = await widget.start()
        ack = await widget.say("你们这什么垃圾服务，我要投诉你们！！", session_id)
        assert ack["mode"] == "waiting"
        queue = (await agent.get("/console/api/queue")).json()
        [handoff] = [h for h in queue if h["conversation_id"] == ack["conversation_id"]]
        base = f"/console/api/handoffs/{handoff['id']}"
        assert (await agent.post(f"{base}/accept")).status_code == 200
        accepted = notice("accepted", "zh", agent=username)
        await widget.utterance(accepted)
        await widget.event("mode", {"mode": "human"})

        sent = await agent.post(f"{base}/messages", json={"text": "您好，我是客服小王。"})
        live = await widget.utterance("您好，我是客服小王。")
        assert (live["author"], live["agent_name"]) == ("agent", username)
        assert live["message_id"] == sent.json()["id"]

        await widget.close()
        await agent.post(f"{base}/messages", json={"text": "请问还在吗？"})
        assert (await agent.post(f"{base}/close", json={"resolution": "done"})).status_code == 200
        await agent.post("/console/api/presence", json={"presence": "offline"})

    back = widgets()
    await back.start(session_id=session_id)
    missed = await back.utterance("请问还在吗？")
    assert missed["author"] == "agent"
    question, _payload = csat_question("zh")
    csat = await back.utterance(question)
    assert csat["quick_replies"] == [
        {"content_type": "text", "title": str(n), "payload": str(n)} for n in range(1, 6)
    ]
    # A quick reply: the title is stored as the customer's words, the payload goes to the bot.
    await back.say("5", session_id, display_text="5")
    thanks = await back.utterance(notice("csat_thanks", "zh"))
    assert thanks["author"] == "system"


async def test_a_session_id_is_no_proof_of_who_the_customer_is(
    widgets: Callable[[], Widget],
) -> None:
    # customer-012 owns YX2611010012: over REST (the shop's back end) the status comes at once
    # (tests/test_dialogue_flows.py); a browser that names its session after that customer is
    # still asked for the phone number's last four digits, and gets no VIP treatment.
    widget = widgets()
    session_id = await widget.start(session_id="customer-012")
    assert session_id == "customer-012"
    ack = await widget.say("订单YX2611010012到哪了", session_id)
    assert ack["ok"]
    reply = await widget.next("bot_uttered")
    assert reply["text"] == response_text("utter_ask_phone_last4", "zh").format(
        order_id="YX2611010012"
    )
