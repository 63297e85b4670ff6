"""The console's live channel: socket.io namespace ``/console`` for queue, messages and typing.

Agents authenticate with the same session cookie as the HTTP API. Each agent joins a room of
their own; opening a conversation joins its room, after the same permission check as the API.
"""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie
from typing import Any

import socketio

from bot.conversations import ConversationEvent
from bot.handoff import AgentProfile, HandoffError
from channels.console._dispatch import Dispatcher
from channels.console._services import COOKIE, ConsoleServices

logger = logging.getLogger(__name__)

NAMESPACE = "/console"


def _agent_room(agent_id: int) -> str:
    return f"agent:{agent_id}"


def _conversation_room(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


class ConsoleNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Pushes console events to logged-in agents."""

    def __init__(self, hub: ConsoleServices, dispatcher: Dispatcher) -> None:
        super().__init__(NAMESPACE)
        self._hub = hub
        dispatcher.subscribe(self._on_console_event)
        hub.conversations.events.subscribe(self._on_conversation_event)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        token = cookie[COOKIE].value if COOKIE in cookie else None
        agent = await self._hub.agents.agent_for_token(token) if token else None
        if agent is None:
            raise socketio.exceptions.ConnectionRefusedError("log in to the console first")
        await self.save_session(sid, {"agent": agent})
        await self.enter_room(sid, _agent_room(agent.id))
        if agent.role == "supervisor":
            await self.enter_room(sid, "supervisors")
        await self.enter_room(sid, "agents")
        return True

    async def on_watch(self, sid: str, data: Any) -> dict[str, Any]:
        """Follow one handed-off conversation live (only one the agent may see)."""
        agent = await self._agent(sid)
        try:
            view = await self._hub.handoffs.get(int(data["handoff_id"]), agent)
        except (HandoffError, KeyError, TypeError, ValueError) as exc:
            return {"ok": False, "error": str(exc) or "handoff_id is missing"}
        for room in self.rooms(sid):
            if room.startswith("conversation:"):
                await self.leave_room(sid, room)
        await self.enter_room(sid, _conversation_room(view.conversation_id))
        return {"ok": True, "conversation_id": view.conversation_id}

    async def on_typing(self, sid: str, data: Any) -> None:
        """The agent is typing: tell the customer's channel."""
        agent = await self._agent(sid)
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

    async def _agent(self, sid: str) -> AgentProfile:
        session = await self.get_session(sid)
        agent: AgentProfile = session["agent"]
        return agent

    async def _on_console_event(self, event: str, data: dict[str, Any]) -> None:
        if event == "assigned":
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
