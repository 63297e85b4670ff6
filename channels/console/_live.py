"""The console's live channel: socket.io namespace ``/console`` for queue, messages and typing.

Agents authenticate with the same session cookie as the HTTP API. Each agent joins a room of
their own; opening a conversation joins its room, after the same permission check as the API.
Every event re-checks the session; a socket whose session ends (log-out, expiry) is
disconnected before anything more is pushed to it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from http.cookies import SimpleCookie
from typing import Any

import socketio

from bot.conversations import ConversationEvent
from bot.handoff import AgentProfile, HandoffError, session_key
from bot.storage import utcnow
from channels.connector import same_origin
from channels.console._audit import ConsoleReads
from channels.console._dispatch import Dispatcher
from channels.console._services import COOKIE, ConsoleServices

logger = logging.getLogger(__name__)

NAMESPACE = "/console"


def _agent_room(agent_id: int) -> str:
    return f"agent:{agent_id}"


def _session_room(key: str) -> str:
    return f"session:{key}"


def _conversation_room(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


class ConsoleNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Pushes console events to logged-in agents."""

    def __init__(self, hub: ConsoleServices, dispatcher: Dispatcher) -> None:
        super().__init__(NAMESPACE)
        self._hub = hub
        self._reads = ConsoleReads(hub.conversations, hub.audit)
        self._expiries: dict[str, asyncio.Task[None]] = {}  # sid -> its session's expiry
        self._dropping: set[asyncio.Task[None]] = set()
        dispatcher.subscribe(self._on_console_event)
        hub.conversations.events.subscribe(self._on_conversation_event)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        if not same_origin(environ):
            # The widget's sites may open sockets to the hub, but not the agents' console.
            raise socketio.exceptions.ConnectionRefusedError("the console opens from the hub only")
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        token = cookie[COOKIE].value if COOKIE in cookie else None
        found = await self._hub.agents.session_of(token) if token else None
        if token is None or found is None:
            raise socketio.exceptions.ConnectionRefusedError("log in to the console first")
        agent, expires_at = found
        # The token stays in the server's memory only, to re-check the session on every event.
        await self.save_session(sid, {"agent": agent, "token": token})
        self._expiries[sid] = asyncio.create_task(self._expire(sid, expires_at))
        await self.enter_room(sid, _session_room(session_key(token)))
        await self.enter_room(sid, _agent_room(agent.id))
        if agent.supervises:
            await self.enter_room(sid, "supervisors")
        await self.enter_room(sid, "agents")
        return True

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        expiry = self._expiries.pop(sid, None)
        if expiry is not None:
            expiry.cancel()

    async def on_watch(self, sid: str, data: Any) -> dict[str, Any]:
        """Follow one handed-off conversation live (only one the agent may see)."""
        agent = await self._agent(sid)
        if agent is None:
            return {"ok": False, "error": "the console session ended; log in again"}
        try:
            view = await self._hub.handoffs.get(int(data["handoff_id"]), agent)
        except (HandoffError, KeyError, TypeError, ValueError) as exc:
            return {"ok": False, "error": str(exc) or "handoff_id is missing"}
        # Its new messages reach the agent from now on: a read of the conversation.
        await self._reads.conversation(agent, view.conversation_id, "watched live")
        for room in self.rooms(sid):
            if room.startswith("conversation:"):
                await self.leave_room(sid, room)
        await self.enter_room(sid, _conversation_room(view.conversation_id))
        await self.save_session(sid, {**await self.get_session(sid), "watching": view.id})
        return {"ok": True, "conversation_id": view.conversation_id}

    async def on_typing(self, sid: str, data: Any) -> None:
        """The agent is typing: tell the customer's channel."""
        agent = await self._agent(sid)
        if agent is None:
            return
        try:
            view = await self._hub.handoffs.get(int(data["handoff_id"]), agent)
        except (HandoffError, KeyError, TypeError, ValueError):
            return
        if view.status == "active" and view.agent_id == agent.id:
            await self._hub.conversations.events.publish(
                ConversationEvent(
                    "typing",
                    view.conversation_id,
                    view.channel,
                    data={"who": "agent", "name": agent.display_name},
                )
            )

    async def _agent(self, sid: str) -> AgentProfile | None:
        """The socket's agent as the session says now; None (and the socket dropped) when the
        session has ended."""
        session = await self.get_session(sid)
        token = session.get("token")
        found = await self._hub.agents.session_of(token) if token else None
        if found is None:
            await self._leave_all(sid)
            # Disconnected once the event's answer ("log in again") is on its way.
            task = asyncio.create_task(self.disconnect(sid))
            self._dropping.add(task)
            task.add_done_callback(self._dropping.discard)
            return None
        agent = found[0]
        if agent != session.get("agent"):  # a changed role or name counts from now on
            await self.save_session(sid, {**session, "agent": agent})
        return agent

    async def _recheck_watchers(self, conversation_id: str) -> None:
        """Sockets following a conversation that changed hands stop following it unless their
        agent may still see it (a supervisor, the new holder)."""
        room = _conversation_room(conversation_id)
        for sid, _eio_sid in list(self.server.manager.get_participants(NAMESPACE, room)):
            agent = await self._agent(sid)
            if agent is None:
                continue
            watching = (await self.get_session(sid)).get("watching")
            try:
                await self._hub.handoffs.get(int(watching), agent)
            except (HandoffError, TypeError, ValueError):
                await self.leave_room(sid, room)
                await self.emit("unwatched", {"conversation_id": conversation_id}, to=sid)

    async def _drop(self, sid: str) -> None:
        await self._leave_all(sid)
        await self.disconnect(sid)

    async def _leave_all(self, sid: str) -> None:
        for room in self.rooms(sid):
            if room != sid:
                await self.leave_room(sid, room)  # nothing more reaches it, even in between

    async def _expire(self, sid: str, expires_at: datetime) -> None:
        # Timers, not polling: the session's end is known when the socket connects.
        await asyncio.sleep(max(0.0, (expires_at - utcnow()).total_seconds()))
        self._expiries.pop(sid, None)
        logger.info("A console socket's session expired; disconnecting it")
        await self._drop(sid)

    async def tickets_changed(self) -> None:
        """Tell every agent's open ticket list to reload (a ticket was opened or changed)."""
        await self.emit("tickets", {}, room="agents")

    async def _on_console_event(self, event: str, data: dict[str, Any]) -> None:
        if event == "session_ended":
            room = _session_room(str(data["session"]))
            for sid, _eio_sid in list(self.server.manager.get_participants(NAMESPACE, room)):
                await self._drop(sid)
        elif event == "handoff_moved":
            await self._recheck_watchers(str(data["conversation_id"]))
        elif event == "assigned":
            await self.emit("assigned", data, room=_agent_room(int(data["agent_id"])))
        elif event == "queue":
            await self.emit("queue", data, room="agents")

    async def _on_conversation_event(self, event: ConversationEvent) -> None:
        room = _conversation_room(event.conversation_id)
        if event.kind == "message" and event.message is not None:
            await self.emit("message", event.message.as_json(), room=room)
        elif event.kind == "typing" and event.data.get("who") == "customer":
            await self.emit("typing", {"conversation_id": event.conversation_id}, room=room)
        elif event.kind == "mode":
            await self.emit(
                "mode", {"conversation_id": event.conversation_id, **event.data}, room=room
            )
            await self.emit("queue", {}, room="agents")
