"""Intent corrections in the console: an agent says what a customer message of a conversation
they may see meant; supervisors accept or reject, and settle the messages the bot was unsure
about with one click (``/console/corrections`` page).

Every change needs the CSRF token, as the rest of the console API. Annotations are evaluated,
not postponed: the routes' dependencies are closures.
"""

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Security
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from bot.corrections import CorrectionService
from bot.handoff import AgentDirectory, AgentProfile, HandoffService
from channels.console._api import ROW_ID_MAX, HandoffId, csrf_check
from channels.console._audit import ConsoleReads
from channels.console._pages import _SECURITY_HEADERS, STATIC
from channels.console._services import SESSION

logger = logging.getLogger(__name__)


class CorrectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    message_id: int = Field(ge=1, le=ROW_ID_MAX)
    intent: str = Field(min_length=1, max_length=64)


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["accept", "reject"]


class SettleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intent: str = Field(min_length=1, max_length=64)


def build_corrections_router(
    agents: AgentDirectory,
    handoffs: HandoffService,
    corrections: CorrectionService,
    reads: ConsoleReads,
) -> APIRouter:
    """``GET /console/api/corrections/intents``, ``POST /console/api/handoffs/{id}/corrections``
    (agents); ``GET /console/api/corrections``, ``POST /console/api/corrections/{id}/review``,
    ``GET /console/api/corrections/unsure``, ``POST /console/api/corrections/unsure/{message}``,
    ``GET /console/api/corrections/retrain`` and the page ``GET /console/corrections``
    (supervisors)."""
    router = APIRouter(tags=["console"])
    api = APIRouter(prefix="/console/api", tags=["console"], dependencies=[Depends(csrf_check)])

    async def current_agent(
        console_session: Annotated[str | None, Security(SESSION)] = None,
    ) -> AgentProfile:
        agent = await agents.agent_for_token(console_session) if console_session else None
        if agent is None:
            raise HTTPException(status_code=401, detail="log in to the console first")
        return agent

    async def supervisor(agent: Annotated[AgentProfile, Depends(current_agent)]) -> AgentProfile:
        if not agent.supervises:
            raise HTTPException(403, detail="reviewing corrections is for supervisors")
        return agent

    Agent = Annotated[AgentProfile, Depends(current_agent)]
    Supervisor = Annotated[AgentProfile, Depends(supervisor)]

    @router.get("/console/corrections", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "corrections.html", headers=_SECURITY_HEADERS)

    @api.get("/corrections/intents")
    async def intents(agent: Agent) -> list[str]:
        """The intents an agent may pick: the Rasa domain's."""
        return corrections.intents

    @api.post("/handoffs/{handoff_id}/corrections")
    async def correct(handoff_id: HandoffId, body: CorrectionIn, agent: Agent) -> dict[str, Any]:
        """Correct the intent of a customer message of a conversation the agent may see."""
        view = await handoffs.get(handoff_id, agent)  # NotAllowed / not found for the others
        correction = await corrections.correct(
            message_id=body.message_id,
            conversation_id=view.conversation_id,
            agent=agent.username,
            right_intent=body.intent,
        )
        return correction.as_json()

    @api.get("/corrections")
    async def listed(
        agent: Supervisor,
        status: Literal["pending", "accepted", "rejected"] | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        """Corrections, newest first, and how many there are of each status."""
        found = await corrections.listed(status, limit)
        await reads.conversations_listed(agent, (c.conversation_id for c in found), "corrections")
        return {"counts": await corrections.count(), "corrections": [c.as_json() for c in found]}

    @api.post("/corrections/{correction_id}/review")
    async def review(
        body: ReviewIn, agent: Supervisor, correction_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)]
    ) -> dict[str, Any]:
        """Accept (it becomes a training example) or reject a pending correction."""
        reviewed = await corrections.review(
            correction_id, reviewer=agent.username, accept=body.decision == "accept"
        )
        return reviewed.as_json()

    @api.get("/corrections/unsure")
    async def unsure(
        agent: Supervisor,
        language: Literal["zh", "en"] | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        before: Annotated[int | None, Query(ge=1)] = None,
    ) -> dict[str, Any]:
        """Messages the bot was unsure about and nobody corrected yet, newest first; ``before``:
        the next page starts below that message id."""
        found = await corrections.unsure(language=language, limit=limit, before_id=before)
        await reads.conversations_listed(
            agent, (m.conversation_id for m in found), "unsure messages"
        )
        return {"messages": [m.as_json() for m in found]}

    @api.post("/corrections/unsure/{message_id}")
    async def settle(
        body: SettleIn, agent: Supervisor, message_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)]
    ) -> dict[str, Any]:
        """Confirm the bot's intent or pick another: an accepted correction at once."""
        settled = await corrections.settle(
            message_id=message_id, intent=body.intent, supervisor=agent.username
        )
        return settled.as_json()

    @api.get("/corrections/retrain")
    async def retrain(agent: Supervisor) -> dict[str, Any]:
        """The newest NLU retraining's report (scores before and after), or null."""
        return {"report": await corrections.last_retrain()}

    router.include_router(api)
    return router
