"""The web-chat channel in an in-process hub served by uvicorn (real socket.io, real SQLite) with
Rasa down: delivery now or on reconnect, history, errors, typing, and media read events.

Outbound messages here come from ``ConversationService.post`` (what agents and the hub use), so
a reply made while the customer's socket is down is deterministic; replies from the real bot
are covered by tests/test_webchat_protocol.py against the whole platform.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from fastapi import FastAPI

from bot.app import HubServices
from bot.conversations import ConversationEvent
from channels.media import render_text_image
from channels.webchat import NAMESPACE, session_room
from tests.waiting import wait_until_async

WAIT_S = 20.0


@dataclass
class Hub:
    url: str
    app: FastAPI

    @property
    def services(self) -> HubServices:
        services: HubServices = self.app.state.services
        return services

    async def conversation_of(self, session_id: str) -> str:
        found = await self.services.conversations.find("webchat", session_id)
        assert found is not None
        return found

    def session_requests_handled(self) -> asyncio.Event:
        """An event set once the hub has wholly handled the next ``session_request`` (session
        confirmed, missed messages sent): python-socketio looks the handler up on the namespace
        each time, so the real handler is wrapped, not replaced."""
        namespace = self.app.state.sio.namespace_handlers[NAMESPACE]
        handle = namespace.on_session_request
        handled = asyncio.Event()

        async def observed(sid: str, data: Any) -> None:
            try:
                await handle(sid, data)
            finally:
                namespace.on_session_request = handle
                handled.set()

        namespace.on_session_request = observed
        return handled

    async def session_gone(self, session_id: str) -> None:
        """Until the hub has handled the going of every socket of the session: a client's
        ``disconnect()`` returns once its packet is sent, and what the hub emits before reading
        it goes to a socket that no longer listens."""
        manager = self.app.state.sio.manager
        room = session_room(session_id)  # the session id is the sender
        # python-socketio has no event for a room left empty: its participants are polled.
        await wait_until_async(
            lambda: not any(True for _ in manager.get_participants(NAMESPACE, room)),
            f"every socket of session {session_id} to leave its room",
            timeout_s=WAIT_S,
            interval_s=0.02,
        )


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    # Imported here: tests.live_hub imports this module's Hub.
    from tests.live_hub import hub_settings, serving

    async with serving(hub_settings(tmp_path, max_text_chars=50)) as served:
        yield served


class Widget:
    """A socket.io client recording what the hub emits."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()
        for name in ("session_confirm", "bot_uttered", "history", "media_read", "typing", "mode"):
            self.client.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[[Any], Awaitable[None]]:
        async def record(data: Any) -> None:
            async with self._changed:
                self.events.append((name, data))
                self._changed.notify_all()

        return record

    def of(self, name: str) -> list[Any]:
        return [data for kind, data in self.events if kind == name]

    async def next(self, name: str, count: int = 1) -> Any:
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: len(self.of(name)) >= count)
        return self.of(name)[count - 1]

    async def start(self, **request: Any) -> str:
        await self.client.connect(self.url, transports=["websocket"], wait_timeout=10)
        await self.client.emit("session_request", request)
        return str(await self.next("session_confirm"))

    async def say(self, text: str, session_id: str | None, **extra: Any) -> Any:
        message = {"message": text, "session_id": session_id, **extra}
        return await self.client.call("user_uttered", message, timeout=WAIT_S)


@pytest.fixture
async def widgets(hub: Hub) -> AsyncIterator[Callable[[], Widget]]:
    made: list[Widget] = []

    def make() -> Widget:
        made.append(Widget(hub.url))
        return made[-1]

    yield make
    for widget in made:
        await widget.client.disconnect()


async def test_a_message_is_kept_and_explained_when_the_bot_is_down(
    hub: Hub, widgets: Callable[[], Widget]
) -> None:
    widget = widgets()
    session_id = await widget.start()
    ack = await widget.say("你好", session_id, customData={"language": "zh"})
    assert ack["ok"] is False
    assert "Rasa cannot be reached" in ack["error"]
    error = await widget.next("bot_uttered")
    assert error["text"] == "助手暂时无法回复，您的消息已保存，请稍后再发一次。"
    assert error["error"]["reason"] == "unavailable"
    history = await hub.services.conversations.history(await hub.conversation_of(session_id))
    assert [(m.direction, m.text) for m in history] == [("in", "你好")]


async def test_outbound_messages_reach_the_session_now_or_on_reconnect(
    hub: Hub, widgets: Callable[[], Widget]
) -> None:
    widget = widgets()
    session_id = await widget.start()
    await widget.say("hello", session_id)  # creates the conversation (unanswered: Rasa is down)
    conversation_id = await hub.conversation_of(session_id)
    conversations = hub.services.conversations

    live = await conversations.post(conversation_id, "I'm Wang, let me check.", author="agent")
    assert (await widget.next("bot_uttered", count=2))["message_id"] == live.id

    await widget.client.disconnect()
    await hub.session_gone(session_id)
    missed = [
        await conversations.post(conversation_id, "Found it: it ships today.", author="agent"),
        await conversations.post(conversation_id, "Anything else?", author="agent"),
    ]
    back = widgets()
    assert await back.start(session_id=session_id) == session_id
    await back.next("bot_uttered", count=2)
    assert [(u["message_id"], u["text"]) for u in back.of("bot_uttered")] == [
        (m.id, m.text) for m in missed
    ]
    # What a connected socket got is not sent again: once the hub has handled the new socket's
    # session request, the next message it gets is the next one posted (one websocket keeps
    # the order, so a message sent again would arrive before it).
    handled = hub.session_requests_handled()
    again = widgets()
    await again.start(session_id=session_id)
    async with asyncio.timeout(WAIT_S):
        await handled.wait()
    after = await conversations.post(conversation_id, "One more thing.", author="agent")
    await again.next("bot_uttered")
    assert [u["message_id"] for u in again.of("bot_uttered")] == [after.id]


async def test_our_widget_asks_for_the_history_after_its_last_message(
    hub: Hub, widgets: Callable[[], Widget]
) -> None:
    widget = widgets()
    session_id = await widget.start(last_message_id=0)
    assert await widget.next("history") == {"messages": []}
    await widget.say("hello", session_id, client_message_id="m-1")
    conversation_id = await hub.conversation_of(session_id)
    first = await hub.services.conversations.post(conversation_id, "one", author="agent")
    await hub.services.conversations.post(conversation_id, "two", author="agent")

    reloaded = widgets()
    await reloaded.start(session_id=session_id, last_message_id=0)
    items = (await reloaded.next("history"))["messages"]
    assert [(i["direction"], i["text"]) for i in items] == [
        ("in", "hello"),
        ("out", "one"),
        ("out", "two"),
    ]
    assert items[0]["client_message_id"] == "m-1"
    resumed = widgets()
    await resumed.start(session_id=session_id, last_message_id=first.id)
    assert [i["text"] for i in (await resumed.next("history"))["messages"]] == ["two"]


@pytest.mark.parametrize(
    ("message", "custom", "reason", "text"),
    [
        ("  ", {"language": "en"}, "empty", "The message is empty."),
        ("x" * 51, {"language": "zh"}, "too_long", "消息太长了，请分几次发送。"),
    ],
)
async def test_unacceptable_messages(
    widgets: Callable[[], Widget], message: str, custom: dict[str, str], reason: str, text: str
) -> None:
    widget = widgets()
    session_id = await widget.start()
    ack = await widget.say(message, session_id, customData=custom)
    assert ack["ok"] is False
    error = await widget.next("bot_uttered")
    assert (error["text"], error["error"]["reason"], error["author"]) == (text, reason, "system")


async def test_a_message_needs_a_session(widgets: Callable[[], Widget]) -> None:
    widget = widgets()
    await widget.client.connect(widget.url, transports=["websocket"], wait_timeout=10)
    assert await widget.say("hello", None) == {
        "ok": False,
        "error": "send session_request with a session_id first",
    }


async def test_typing_goes_both_ways_and_mode_changes_are_told(
    hub: Hub, widgets: Callable[[], Widget]
) -> None:
    seen: list[ConversationEvent] = []
    customer_typed = asyncio.Event()

    async def listen(event: ConversationEvent) -> None:
        seen.append(event)
        if event.kind == "typing":
            customer_typed.set()

    hub.services.conversations.events.subscribe(listen)
    widget = widgets()
    session_id = await widget.start()
    await widget.say("hello", session_id)
    conversation_id = await hub.conversation_of(session_id)

    await widget.client.emit("user_typing", {"session_id": session_id})
    await asyncio.wait_for(customer_typed.wait(), WAIT_S)
    typing = next(e for e in seen if e.kind == "typing")
    assert (typing.conversation_id, typing.data) == (conversation_id, {"who": "customer"})

    events = hub.services.conversations.events
    await events.publish(
        ConversationEvent("typing", conversation_id, "webchat", data={"who": "agent", "name": "W"})
    )
    assert await widget.next("typing") == {"who": "agent", "name": "W"}
    await hub.services.conversations.notify_mode(conversation_id, "webchat", "human")
    assert await widget.next("mode") == {"mode": "human"}


async def test_an_upload_is_read_out_to_the_session_before_the_bot_answers(
    hub: Hub, widgets: Callable[[], Widget], tmp_path: Path
) -> None:
    widget = widgets()
    session_id = await widget.start()
    shot = render_text_image(["订单号：YX2611010001", "实付金额：¥299.00"], tmp_path / "o.png")
    async with httpx.AsyncClient(base_url=hub.url, timeout=60) as client:
        response = await client.post(
            "/webchat/upload",
            data={"session_id": session_id, "language": "zh", "client_message_id": "img-1"},
            files={"file": ("order.png", shot.read_bytes(), "image/png")},
        )
    assert response.status_code == 503  # read and stored; only the bot is missing
    read = await widget.next("media_read")
    assert read["kind"] == "image"
    assert read["client_message_id"] == "img-1"
    assert read["facts"] == {
        "order_ids": ["YX2611010001"],
        "phones": [],
        "amounts": ["299.00"],
    }
    assert "YX2611010001" in read["text"]
    history = await hub.services.conversations.history(await hub.conversation_of(session_id))
    assert [m.text for m in history] == ["[图片] 订单号 YX2611010001"]
    # The original is there for the session's own widget, and for nobody else's.
    attachment = read["attachment_id"]
    async with httpx.AsyncClient(base_url=hub.url) as client:
        own = await client.get(f"/webchat/media/{attachment}", params={"session_id": session_id})
        other = await client.get(f"/webchat/media/{attachment}", params={"session_id": "x" * 32})
    assert (own.status_code, own.content) == (200, shot.read_bytes())
    assert other.status_code == 404
