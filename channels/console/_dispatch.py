"""Keeps the queue moving: routes waiting requests to agents and tells consoles what changed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.conversations import ConversationEvent
from bot.handoff import HandoffService

logger = logging.getLogger(__name__)

ConsoleListener = Callable[[str, dict[str, Any]], Awaitable[None]]
# Events about sockets that every replica acts on; the others ("queue", "assigned") become
# socket.io emits, which the shared manager already delivers on every replica.
RELAYED = frozenset({"session_ended", "handoff_moved"})


class Dispatcher:
    """Routes on every change and every ``interval_s`` (waiting raises priority over time)."""

    def __init__(
        self,
        handoffs: HandoffService,
        interval_s: float = 5.0,
        relay: ConsoleListener | None = None,
    ) -> None:
        # ``relay`` (several hub replicas) tells every replica's ``relayed`` about the events
        # that act on live sockets, since each replica holds only its own.
        self._handoffs = handoffs
        self._relay = relay
        self._interval = interval_s
        self._listeners: list[ConsoleListener] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def subscribe(self, listener: ConsoleListener) -> None:
        """Call ``listener(event, data)`` for console events ("queue", "assigned",
        "session_ended", "handoff_moved")."""
        self._listeners.append(listener)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def queue_changed(self) -> None:
        """Something in the queue changed: route now and tell consoles."""
        await self._route_and_tell()

    async def agents_changed(self) -> None:
        """An agent came online or left: their capacity changed."""
        await self._route_and_tell()

    async def session_ended(self, session: str) -> None:
        """A console session ended (log-out): its live sockets must go. ``session`` is the
        session's public key (``bot.handoff.session_key``), never the token."""
        await self._tell_every_replica("session_ended", {"session": session})

    async def handoff_moved(self, conversation_id: str) -> None:
        """A conversation changed hands (transfer): sockets following it re-check that their
        agent may still see it."""
        await self._tell_every_replica("handoff_moved", {"conversation_id": conversation_id})

    async def relayed(self, event: str, data: dict[str, Any]) -> None:
        """An event another replica (or this one) relayed: act on this replica's sockets."""
        if event in RELAYED:
            await self._tell(event, data)
        else:
            logger.warning("Ignored a relayed console event of unknown kind %r", event)

    async def _tell_every_replica(self, event: str, data: dict[str, Any]) -> None:
        if self._relay is None:
            await self._tell(event, data)
        else:
            try:
                await self._relay(event, data)
            except Exception:
                logger.exception("Could not relay %s to the other replicas; acting here", event)
                await self._tell(event, data)

    async def on_conversation_event(self, event: ConversationEvent) -> None:
        """Listener for conversation events: a conversation that starts waiting is routed."""
        if event.kind == "mode" and event.data.get("mode") == "waiting":
            await self._route_and_tell()

    async def overview(self) -> dict[str, Any]:
        """Queues by skill and language, and agents with their load (the supervisor view)."""
        views = await self._handoffs.queued()
        loads = {a.id: a for a in await self._handoffs.agent_loads()}
        queues: dict[str, dict[str, Any]] = {}
        for view in views:
            key = f"{view.skill}/{view.language}"
            entry = queues.setdefault(
                key,
                {
                    "skill": view.skill,
                    "language": view.language,
                    "waiting": 0,
                    "active": 0,
                    "longest_wait_s": 0,
                },
            )
            if view.status == "active":
                entry["active"] += 1
            else:
                entry["waiting"] += 1
                entry["longest_wait_s"] = max(
                    entry["longest_wait_s"], round(view.waited.total_seconds())
                )
        return {
            "queues": sorted(queues.values(), key=lambda q: (q["skill"], q["language"])),
            "agents": [
                {
                    "id": a.id,
                    "online": a.online,
                    "active_chats": a.active_chats,
                    "max_chats": a.max_chats,
                    "skills": sorted(a.skills),
                }
                for a in loads.values()
            ],
            "open_conversations": len(views),
        }

    async def _run(self) -> None:
        while True:
            try:
                await self._route_and_tell(quiet=True)
            except Exception:
                logger.exception("Routing failed; trying again in %.0f s", self._interval)
            await asyncio.sleep(self._interval)

    async def _route_and_tell(self, quiet: bool = False) -> None:
        assigned = await self._handoffs.route_waiting()
        for view in assigned:
            await self._tell("assigned", {"handoff_id": view.id, "agent_id": view.agent_id})
        if assigned or not quiet:
            await self._tell("queue", {})

    async def _tell(self, event: str, data: dict[str, Any]) -> None:
        for listener in self._listeners:
            try:
                await listener(event, data)
            except Exception:
                logger.exception("A console listener failed on %s", event)
