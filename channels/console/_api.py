"""The agent console's HTTP API: login, queue, accept, reply, notes, transfer, return, close."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Cookie, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from bot.admin import SharedKnowledge, gaps_report
from bot.conversations import csat_question, notice
from bot.handoff import AgentProfile, HandoffView
from bot.services import HubServices
from channels.console._context import ContextBuilder
from channels.console._dispatch import Dispatcher

logger = logging.getLogger(__name__)

COOKIE = "console_session"


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    presence: Literal["online", "away", "offline"]


class TextIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resolution: str = Field(min_length=1, max_length=2000)


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: int | None = None
    skill: str | None = None


def agent_json(agent: AgentProfile) -> dict[str, Any]:
    return {
        "id": agent.id,
        "username": agent.username,
        "display_name": agent.display_name,
        "role": agent.role,
        "skills": list(agent.skills),
        "languages": list(agent.languages),
        "max_chats": agent.max_chats,
        "presence": agent.presence,
    }


def handoff_json(view: HandoffView) -> dict[str, Any]:
    return {
        "id": view.id,
        "conversation_id": view.conversation_id,
        "channel": view.channel,
        "status": view.status,
        "reason": view.reason,
        "priority": view.priority,
        "vip": view.vip,
        "language": view.language,
        "skill": view.skill,
        "intent": view.intent,
        "agent_id": view.agent_id,
        "requested_at": view.requested_at.isoformat(),
        "waited_s": round(view.waited.total_seconds()),
        "resolution": view.resolution,
        "csat": view.csat,
    }


def services(request: Request) -> HubServices:
    hub: HubServices = request.app.state.services
    return hub


Services = Annotated[HubServices, Depends(services)]


async def current_agent(
    hub: Services, console_session: Annotated[str | None, Cookie()] = None
) -> AgentProfile:
    """The logged-in agent, or 401."""
    agent = await hub.agents.agent_for_token(console_session) if console_session else None
    if agent is None:
        raise HTTPException(status_code=401, detail="log in to the console first")
    return agent


Agent = Annotated[AgentProfile, Depends(current_agent)]


def build_router(dispatcher: Dispatcher, context: ContextBuilder) -> APIRouter:
    """The console's routes; every one but login needs a session cookie."""
    router = APIRouter(prefix="/console/api", tags=["console"])

    @router.post("/login")
    async def login(body: LoginIn, response: Response, hub: Services) -> dict[str, Any]:
        token, agent = await hub.agents.log_in(body.username, body.password)
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            path="/",  # the console pages, its API and the socket.io endpoint
            max_age=int(timedelta(hours=hub.settings.agent_session_hours).total_seconds()),
        )
        logger.info("Agent %d logged in", agent.id)
        return agent_json(agent)

    @router.post("/logout")
    async def logout(
        response: Response, hub: Services, console_session: Annotated[str | None, Cookie()] = None
    ) -> dict[str, str]:
        if console_session:
            agent = await hub.agents.agent_for_token(console_session)
            await hub.agents.log_out(console_session)
            if agent is not None:
                await hub.agents.set_presence(agent.id, "offline")
                await dispatcher.agents_changed()
        response.delete_cookie(COOKIE, path="/")
        return {"status": "logged out"}

    @router.get("/me")
    async def me(agent: Agent) -> dict[str, Any]:
        return agent_json(agent)

    @router.post("/presence")
    async def presence(body: PresenceIn, agent: Agent, hub: Services) -> dict[str, Any]:
        await hub.agents.set_presence(agent.id, body.presence)
        await dispatcher.agents_changed()
        return {"presence": body.presence}

    @router.get("/queue")
    async def queue(agent: Agent, hub: Services) -> list[dict[str, Any]]:
        return [handoff_json(v) for v in await hub.handoffs.visible_to(agent)]

    @router.get("/agents")
    async def agents(agent: Agent, hub: Services) -> list[dict[str, Any]]:
        return [agent_json(a) for a in await hub.agents.all()]

    @router.get("/handoffs/{handoff_id}")
    async def handoff_context(handoff_id: int, agent: Agent, hub: Services) -> dict[str, Any]:
        view = await hub.handoffs.get(handoff_id, agent)
        return {"handoff": handoff_json(view), **await context.build(view)}

    @router.post("/handoffs/{handoff_id}/accept")
    async def accept(handoff_id: int, agent: Agent, hub: Services) -> dict[str, Any]:
        view = await hub.handoffs.accept(agent, handoff_id)
        await hub.conversations.post(
            view.conversation_id,
            notice("accepted", _lang(view), agent=agent.display_name),
            author="system",
        )
        await hub.conversations.notify_mode(view.conversation_id, view.channel, "human")
        await dispatcher.queue_changed()
        return handoff_json(view)

    @router.post("/handoffs/{handoff_id}/messages")
    async def reply(handoff_id: int, body: TextIn, agent: Agent, hub: Services) -> dict[str, Any]:
        view = await hub.handoffs.get(handoff_id, agent)
        if view.status != "active" or view.agent_id != agent.id:
            raise HTTPException(409, detail="accept the conversation before replying")
        message = await hub.conversations.post(
            view.conversation_id,
            body.text,
            author="agent",
            payload={"agent": agent.display_name},
        )
        return message.as_json()

    @router.post("/handoffs/{handoff_id}/notes")
    async def note(handoff_id: int, body: TextIn, agent: Agent, hub: Services) -> dict[str, int]:
        return {"id": await hub.handoffs.add_note(agent, handoff_id, body.text)}

    @router.post("/handoffs/{handoff_id}/transfer")
    async def transfer(
        handoff_id: int, body: TransferIn, agent: Agent, hub: Services
    ) -> dict[str, Any]:
        view = await hub.handoffs.transfer(
            agent, handoff_id, to_agent=body.agent_id, to_skill=body.skill
        )
        await hub.conversations.notify_mode(view.conversation_id, view.channel, "waiting")
        await dispatcher.queue_changed()
        return handoff_json(view)

    @router.post("/handoffs/{handoff_id}/return")
    async def return_to_bot(handoff_id: int, agent: Agent, hub: Services) -> dict[str, Any]:
        view = await hub.handoffs.return_to_bot(agent, handoff_id)
        await hub.conversations.resume_bot(view.conversation_id)
        await hub.conversations.post(
            view.conversation_id, notice("returned", _lang(view)), author="system"
        )
        text, payload = csat_question(_lang(view))
        await hub.conversations.post(view.conversation_id, text, author="system", payload=payload)
        await hub.conversations.notify_mode(view.conversation_id, view.channel, "bot")
        await dispatcher.queue_changed()
        return handoff_json(view)

    @router.post("/handoffs/{handoff_id}/close")
    async def close(handoff_id: int, body: CloseIn, agent: Agent, hub: Services) -> dict[str, Any]:
        view = await hub.handoffs.close(agent, handoff_id, body.resolution)
        text, payload = csat_question(_lang(view))
        await hub.conversations.post(view.conversation_id, text, author="system", payload=payload)
        await hub.conversations.notify_mode(view.conversation_id, view.channel, "closed")
        await dispatcher.queue_changed()
        return handoff_json(view)

    @router.get("/canned")
    async def canned(agent: Agent, language: Literal["zh", "en"] = "zh") -> list[dict[str, str]]:
        return context.canned_replies(language)

    @router.get("/supervisor")
    async def supervisor(agent: Agent, hub: Services) -> dict[str, Any]:
        _supervisor_only(agent)
        return await dispatcher.overview()

    @router.get("/supervisor/unanswered")
    async def unanswered(
        agent: Agent,
        hub: Services,
        request: Request,
        days: Annotated[int, Query(ge=1, le=366)] = 30,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        """What customers asked that the knowledge base could not answer (see bot.admin)."""
        _supervisor_only(agent)
        knowledge: SharedKnowledge = request.app.state.knowledge
        return await gaps_report(hub.database, knowledge.get, days, limit)

    return router


def _supervisor_only(agent: AgentProfile) -> None:
    if agent.role != "supervisor":
        raise HTTPException(403, detail="the supervisor view is for supervisors")


def _lang(view: HandoffView) -> Literal["zh", "en"]:
    return "en" if view.language == "en" else "zh"
