"""The supervisors' page of messages the messaging apps have not taken (``/console/outbox``):
what is stuck, why, and two decisions: try again now, or give up.

Open to console supervisors only (their session; changes need the CSRF token, as the rest of
the console API). Recipients are shown shortened: enough to tell two apart, not to contact one.
Annotations are evaluated, not postponed: the routes' dependencies are closures.
"""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Security
from fastapi.responses import FileResponse

from bot.handoff import AgentDirectory, AgentProfile
from bot.outbox import OutboundMessage, Outbox
from channels.console._api import csrf_check
from channels.console._pages import _SECURITY_HEADERS, STATIC
from channels.console._services import SESSION

logger = logging.getLogger(__name__)


def shortened(recipient: str) -> str:
    """``oAbCdEf-customer-1`` → ``oAb…-1``: distinguishable, not usable."""
    if len(recipient) <= 6:
        return recipient[:1] + "…"
    return f"{recipient[:3]}…{recipient[-2:]}"


def stuck_json(message: OutboundMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "channel": message.channel,
        "recipient": shortened(message.recipient),
        "conversation_id": message.conversation_id,
        "status": message.status,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "created_at": message.created_at.isoformat(),
        "next_attempt_at": message.next_attempt_at.isoformat(),
    }


def build_outbox_router(agents: AgentDirectory, outbox: Outbox) -> APIRouter:
    """``GET /console/outbox`` (the page), ``GET /console/api/outbox`` (stuck messages),
    ``POST /console/api/outbox/{id}/retry`` and ``/give-up``."""
    router = APIRouter(tags=["console"])
    api = APIRouter(prefix="/console/api/outbox", tags=["console"])

    async def supervisor(
        console_session: Annotated[str | None, Security(SESSION)] = None,
    ) -> AgentProfile:
        agent = await agents.agent_for_token(console_session) if console_session else None
        if agent is None:
            raise HTTPException(status_code=401, detail="log in to the console first")
        if not agent.supervises:
            raise HTTPException(403, detail="the outbox page is for supervisors")
        return agent

    Supervisor = Annotated[AgentProfile, Depends(supervisor)]
    MessageId = Annotated[int, Path(ge=1, le=2**62)]

    @router.get("/console/outbox", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "outbox.html", headers=_SECURITY_HEADERS)

    @api.get("")
    async def stuck(
        _agent: Supervisor, limit: Annotated[int, Query(ge=1, le=500)] = 100
    ) -> dict[str, Any]:
        """Messages not delivered after at least one attempt, or given up; newest first."""
        return {"items": [stuck_json(m) for m in await outbox.stuck(limit)]}

    @api.post("/{message_id}/retry", dependencies=[Depends(csrf_check)])
    async def retry(agent: Supervisor, message_id: MessageId) -> dict[str, Any]:
        """Make the message due now; the outbox job sends it at its next run."""
        message = await outbox.retry_now(message_id)
        logger.info("Supervisor %s retried outbox message %d", agent.username, message_id)
        return stuck_json(message)

    @api.post("/{message_id}/give-up", dependencies=[Depends(csrf_check)])
    async def give_up(agent: Supervisor, message_id: MessageId) -> dict[str, Any]:
        """Stop retrying the message."""
        message = await outbox.give_up(message_id, f"given up by supervisor {agent.username}")
        return stuck_json(message)

    router.include_router(api)
    return router
