"""The agent console's HTTP API: login, queue, accept, reply, notes, transfer, return, close.

Routes translate and call one service each; what a takeover or hand-back does to the
conversation (notices, the satisfaction question, Rasa paused or resumed) is the conversations
module's. Annotations are evaluated, not postponed: the routes' dependencies are closures.
"""

import hashlib
import logging
import secrets
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    Security,
)
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from bot.conversations import ConversationPreview, customer_id
from bot.handoff import AgentProfile, HandoffView, session_key
from bot.language import Language
from bot.media import AttachmentNotFound
from channels.connector import attachment_file, is_loopback
from channels.console._audit import ConsoleReads
from channels.console._context import ContextBuilder
from channels.console._dispatch import Dispatcher
from channels.console._services import (
    COOKIE,
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION,
    ConsoleServices,
)
from channels.console._tickets import ConversationTickets

logger = logging.getLogger(__name__)


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


# The largest integer key SQLite and PostgreSQL store: a larger id is refused (422) before any
# query rather than failing in the driver (the fuzzing found a 500 for 2**63).
ROW_ID_MAX = 2**63 - 1
HandoffId = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description="The handoff's id.")]


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)
    skill: str | None = None


def agent_json(agent: AgentProfile) -> dict[str, Any]:
    return {
        "id": agent.id,
        "username": agent.username,
        "display_name": agent.display_name,
        "role": agent.role,
        "supervises": agent.supervises,
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


def preview_json(preview: ConversationPreview | None) -> dict[str, Any]:
    """Who waits and what they last wrote: the shop's customer id where the channel vouches
    for it, else a short tag of the channel's id (telling visitors apart, revealing nothing)."""
    if preview is None:
        return {"customer": None, "visitor": None, "last_text": None, "last_at": None}
    return {
        "customer": customer_id(preview.channel, preview.sender),
        "visitor": hashlib.sha256(preview.sender.encode()).hexdigest()[:4],
        "last_text": preview.last_text,
        "last_at": None if preview.last_at is None else preview.last_at.isoformat(),
    }


def build_router(
    console: ConsoleServices, dispatcher: Dispatcher, context: ContextBuilder
) -> APIRouter:
    """The console's routes; every one but login needs a session cookie, and every
    state-changing one but login the CSRF token too."""
    api = APIRouter(prefix="/console/api", tags=["console"], dependencies=[Depends(csrf_check)])
    router = APIRouter(tags=["console"])

    async def current_agent(
        console_session: Annotated[str | None, Security(SESSION)] = None,
    ) -> AgentProfile:
        """The logged-in agent, or 401."""
        token = console_session
        agent = await console.agents.agent_for_token(token) if token else None
        if agent is None:
            raise HTTPException(status_code=401, detail="log in to the console first")
        return agent

    Agent = Annotated[AgentProfile, Depends(current_agent)]
    reads = ConsoleReads(console.conversations, console.audit)
    ticket_work = (
        None if console.tickets is None else ConversationTickets(console, console.tickets, reads)
    )

    def tickets() -> ConversationTickets:
        if ticket_work is None:
            raise HTTPException(404, detail="tickets are not set up on this hub")
        return ticket_work

    @api.post("/login")
    async def login(body: LoginIn, request: Request, response: Response) -> dict[str, Any]:
        client = request.client.host if request.client else None
        if console.secure_cookies and request.url.scheme != "https" and not is_loopback(client):
            # The browser would drop the Secure cookies: a login that seems to do nothing.
            raise HTTPException(
                400,
                detail="this console keeps its session in Secure cookies, which browsers keep "
                "over https only: open the console at its https address (where TLS ends at a "
                "proxy, it must send 'X-Forwarded-Proto: https'; on a trusted network without "
                "TLS, the hub's operator can set BOT_CONSOLE_SECURE_COOKIES=false)",
            )
        token, agent = await console.agents.log_in(body.username, body.password, client_key=client)
        max_age = int(console.session.total_seconds())
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=console.secure_cookies,
            path="/",  # the console pages, its API and the socket.io endpoint
            max_age=max_age,
        )
        response.set_cookie(
            CSRF_COOKIE,
            secrets.token_urlsafe(32),
            httponly=False,  # the console's script reads it and sends it back as a header
            samesite="strict",
            secure=console.secure_cookies,
            path="/",
            max_age=max_age,
        )
        logger.info("Agent %d logged in", agent.id)
        return agent_json(agent)

    @api.post("/logout")
    async def logout(
        response: Response, console_session: Annotated[str | None, Security(SESSION)] = None
    ) -> dict[str, str]:
        if console_session:
            agent = await console.agents.agent_for_token(console_session)
            await console.agents.log_out(console_session)
            # The session's live sockets go too, before anything else is pushed to them.
            await dispatcher.session_ended(session_key(console_session))
            if agent is not None:
                await console.agents.set_presence(agent.id, "offline")
                await dispatcher.agents_changed()
        response.delete_cookie(COOKIE, path="/", secure=console.secure_cookies, samesite="strict")
        response.delete_cookie(
            CSRF_COOKIE, path="/", secure=console.secure_cookies, samesite="strict"
        )
        return {"status": "logged out"}

    @api.get("/me")
    async def me(agent: Agent) -> dict[str, Any]:
        return agent_json(agent)

    @api.post("/presence")
    async def presence(body: PresenceIn, agent: Agent) -> dict[str, Any]:
        await console.agents.set_presence(agent.id, body.presence)
        await dispatcher.agents_changed()
        return {"presence": body.presence}

    @api.get("/queue")
    async def queue(agent: Agent) -> list[dict[str, Any]]:
        views = await console.handoffs.visible_to(agent)
        previews = await console.conversations.previews([v.conversation_id for v in views])
        await reads.listed(agent, previews.values(), "queue")
        return [handoff_json(v) | preview_json(previews.get(v.conversation_id)) for v in views]

    @api.get("/agents")
    async def agents(agent: Agent) -> list[dict[str, Any]]:
        return [agent_json(a) for a in await console.agents.all()]

    @api.get("/handoffs/{handoff_id}")
    async def handoff_context(handoff_id: HandoffId, agent: Agent) -> dict[str, Any]:
        """The conversation panel (transcript, summary, notes, the customer's context); audited
        before it is sent, the linked conversations in other apps each under their customer."""
        view = await console.handoffs.get(handoff_id, agent)
        await reads.handoff_opened(agent, view)
        panel = await context.build(view)
        await reads.linked_shown(agent, view, panel["linked_conversations"])
        return {"handoff": handoff_json(view), **panel}

    @api.post("/handoffs/{handoff_id}/accept")
    async def accept(handoff_id: HandoffId, agent: Agent) -> dict[str, Any]:
        view = await console.conversations.accept_handoff(agent, handoff_id)
        await dispatcher.queue_changed()
        return handoff_json(view)

    @api.post("/handoffs/{handoff_id}/messages")
    async def reply(handoff_id: HandoffId, body: TextIn, agent: Agent) -> dict[str, Any]:
        view = await console.handoffs.get(handoff_id, agent)
        if view.status != "active" or view.agent_id != agent.id:
            raise HTTPException(409, detail="accept the conversation before replying")
        message = await console.conversations.post(
            view.conversation_id,
            body.text,
            author="agent",
            payload={"agent": agent.display_name},
        )
        return message.as_json()

    @api.post("/handoffs/{handoff_id}/notes")
    async def note(handoff_id: HandoffId, body: TextIn, agent: Agent) -> dict[str, int]:
        return {"id": await console.handoffs.add_note(agent, handoff_id, body.text)}

    @api.post("/handoffs/{handoff_id}/transfer")
    async def transfer(handoff_id: HandoffId, body: TransferIn, agent: Agent) -> dict[str, Any]:
        view = await console.conversations.transfer_handoff(
            agent, handoff_id, to_agent=body.agent_id, to_skill=body.skill
        )
        await dispatcher.handoff_moved(view.conversation_id)
        await dispatcher.queue_changed()
        return handoff_json(view)

    @api.post("/handoffs/{handoff_id}/return")
    async def return_to_bot(handoff_id: HandoffId, agent: Agent) -> dict[str, Any]:
        view = await console.conversations.return_to_bot(agent, handoff_id)
        await dispatcher.queue_changed()
        return handoff_json(view)

    @api.post("/handoffs/{handoff_id}/close")
    async def close(handoff_id: HandoffId, body: CloseIn, agent: Agent) -> dict[str, Any]:
        view = await console.conversations.close_handoff(agent, handoff_id, body.resolution)
        await dispatcher.queue_changed()
        return handoff_json(view)

    @api.post("/handoffs/{handoff_id}/ticket")
    async def ticket_from_conversation(handoff_id: HandoffId, agent: Agent) -> dict[str, Any]:
        """A ticket for the conversation the agent handles; the customer is told its number."""
        return await tickets().open_from_handoff(agent, handoff_id)

    @api.get("/tickets/{number}/conversation")
    async def ticket_conversation(number: str, agent: Agent) -> dict[str, Any]:
        """The conversation a ticket was opened from, for the ticket page."""
        return await tickets().conversation_of(number, agent)

    @api.get("/canned")
    async def canned(agent: Agent, language: Language = "zh") -> list[dict[str, str]]:
        return context.canned_replies(language)

    @api.get("/supervisor")
    async def supervisor(agent: Agent) -> dict[str, Any]:
        _supervisor_only(agent)
        return await dispatcher.overview()

    @api.get("/supervisor/unanswered")
    async def unanswered(
        agent: Agent,
        days: Annotated[int, Query(ge=1, le=366)] = 30,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        """What customers asked that the knowledge base could not answer."""
        _supervisor_only(agent)
        return await console.knowledge_gaps(days, limit)

    @router.get("/console/media/{attachment_id}", include_in_schema=False)
    async def console_media(attachment_id: str, agent: Agent) -> FileResponse:
        """The original of a voice message or image, for an agent who may see its conversation
        (one of its handoffs is theirs or queued for their skills; a supervisor sees all).
        Otherwise 404, as for an unknown id: the answer does not tell that it exists."""
        unknown = HTTPException(status_code=404, detail=f"no attachment {attachment_id}")
        try:
            attachment = await console.attachments.get(attachment_id)
        except AttachmentNotFound as exc:
            raise unknown from exc
        conversation_id = await console.conversations.find(attachment.channel, attachment.sender)
        if not await console.handoffs.may_see_conversation(agent, conversation_id):
            raise unknown
        await reads.media(agent, attachment)
        return attachment_file(attachment)

    router.include_router(api)
    return router


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_EXEMPT = frozenset({"/console/api/login"})


async def csrf_check(request: Request) -> None:
    """Double-submit CSRF check: a state-changing request (but login) must carry the header
    ``X-CSRF-Token`` equal to the ``console_csrf`` cookie set at login. Another site's form or
    script can send the cookies, but can neither read the token nor set the header."""
    if request.method not in UNSAFE_METHODS or request.url.path in CSRF_EXEMPT:
        return
    if not request.cookies.get(COOKIE):
        return  # no session to ride on: the route answers 401 itself
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not header or not secrets.compare_digest(cookie, header):
        raise HTTPException(
            status_code=403,
            detail=f"missing or wrong CSRF token: send the '{CSRF_COOKIE}' cookie's value in "
            f"the header '{CSRF_HEADER}' (log in again if the cookie is gone)",
        )


def _supervisor_only(agent: AgentProfile) -> None:
    if not agent.supervises:
        raise HTTPException(403, detail="the supervisor view is for supervisors")
