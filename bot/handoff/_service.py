"""Handoff requests and conversation modes, stored: queue, assignment, transfer, return, close.

Conversation modes move ``bot`` → ``waiting`` → ``human`` → ``bot`` or ``closed``; a handoff moves
``queued`` → ``assigned`` → ``active`` → ``returned`` or ``closed`` (or ``cancelled`` by the
customer). Both change together in one transaction, so they survive any restart consistently.
Sending messages and telling listeners is the caller's business: this module only keeps state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Result, delete, func, select, text
from sqlalchemy.orm import Session

from bot.handoff._agents import AgentProfile
from bot.handoff._errors import InvalidRequest, InvalidTransition, NotAllowed, NotFound
from bot.handoff._hours import BusinessHours
from bot.handoff._routing import (
    DEFAULT_HANDLE_TIME,
    REASON_PRIORITY,
    SKILLS,
    AgentLoad,
    QueuedRequest,
    QueuePosition,
    position_of,
    priority,
    route,
)
from bot.storage import Agent, AgentNote, Conversation, Database, Handoff, utcnow

logger = logging.getLogger(__name__)

# The PostgreSQL advisory lock key that routing holds for its transaction ("handoff" in ASCII).
ROUTING_LOCK = 0x68616E646F6666

OPEN = ("queued", "assigned", "active")
CSAT_WINDOW = timedelta(hours=24)
# Handoffs whose end asks the customer for a satisfaction score.
RATED = ("closed", "returned")


@dataclass(frozen=True)
class HandoffView:
    """A handoff and its conversation, as agents and the customer's channel see them."""

    id: int
    conversation_id: str
    channel: str
    status: str
    reason: str
    priority: int
    vip: bool
    language: str
    skill: str
    intent: str | None
    agent_id: int | None
    requested_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None
    resolution: str | None
    csat: int | None

    @property
    def waited(self) -> timedelta:
        return (self.accepted_at or utcnow()) - self.requested_at


@dataclass(frozen=True)
class HandoffTicket:
    """What the customer is told when a handoff is requested."""

    handoff: HandoffView
    position: QueuePosition
    opens_at: datetime | None  # set when agents are off duty now


class HandoffService:
    """Keeps the handoff queue and every conversation's mode."""

    def __init__(
        self,
        database: Database,
        hours: BusinessHours,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = database
        self._hours = hours
        self._now = clock

    # ---- customer side -------------------------------------------------------------------

    async def request(
        self,
        conversation_id: str,
        reason: str,
        *,
        language: str,
        skill: str,
        vip: bool = False,
        intent: str | None = None,
    ) -> HandoffTicket:
        """Queue the conversation for a human and put it in ``waiting`` (idempotent when open)."""
        if reason not in REASON_PRIORITY:
            raise InvalidRequest(f"unknown handoff reason {reason!r}")
        if skill not in SKILLS:
            raise InvalidRequest(f"unknown skill {skill!r}; use one of {', '.join(SKILLS)}")
        now = self._now()

        def queue(session: Session) -> HandoffView:
            conversation = _conversation(session, conversation_id)
            existing = _open_handoff(session, conversation.id)
            if existing is not None:
                return self._view(existing, conversation, now)
            if conversation.mode not in ("bot", "closed"):
                raise InvalidTransition(
                    f"conversation {conversation_id} is {conversation.mode}, not with the bot"
                )
            handoff = Handoff(
                conversation_id=conversation.id,
                status="queued",
                reason=reason,
                vip=vip,
                language=language,
                skill=skill,
                intent=intent,
                requested_at=now,
            )
            session.add(handoff)
            conversation.mode = "waiting"
            conversation.updated_at = now
            session.flush()
            return self._view(handoff, conversation, now)

        view = await self._db.session(queue)
        logger.info("Handoff %d queued for conversation %s (%s)", view.id, conversation_id, reason)
        opens_at = None if self._hours.is_open(now) else self._hours.next_opening(now)
        return HandoffTicket(view, await self.position(view.id), opens_at)

    async def position(self, handoff_id: int) -> QueuePosition:
        """Where a queued or assigned request stands, and a wait estimate."""
        now = self._now()

        def load(session: Session) -> QueuePosition:
            waiting = _queued_requests(session)
            if handoff_id not in {r.id for r in waiting}:
                return QueuePosition(0, timedelta(0), 0)
            return position_of(
                handoff_id, waiting, _agent_loads(session), now, _handle_time(session)
            )

        return await self._db.session(load)

    async def open_handoff(self, conversation_id: str) -> HandoffView | None:
        """The conversation's queued, assigned or active handoff, if any."""
        now = self._now()

        def find(session: Session) -> HandoffView | None:
            conversation = _conversation(session, conversation_id)
            handoff = _open_handoff(session, conversation.id)
            return None if handoff is None else self._view(handoff, conversation, now)

        return await self._db.session(find)

    async def cancel_by_customer(self, conversation_id: str) -> HandoffView:
        """The customer no longer wants to wait: back to the bot."""
        return await self._end(
            conversation_id, None, to_status="cancelled", mode="bot", allowed=("queued", "assigned")
        )

    async def pending_csat(self, conversation_id: str) -> HandoffView | None:
        """The conversation's last handoff, when an agent closed it or handed it back to the bot
        (both ask the satisfaction question) and the question is still unanswered."""
        now = self._now()

        def find(session: Session) -> HandoffView | None:
            conversation = _conversation(session, conversation_id)
            handoff = session.execute(
                select(Handoff)
                .where(Handoff.conversation_id == conversation.id)
                .order_by(Handoff.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if handoff is None or handoff.status not in RATED or handoff.csat is not None:
                return None
            if handoff.ended_at and now - handoff.ended_at > CSAT_WINDOW:
                return None
            return self._view(handoff, conversation, now)

        return await self._db.session(find)

    async def record_csat(self, handoff_id: int, score: int) -> None:
        """Store the customer's satisfaction score (1–5) for a closed handoff."""
        if not 1 <= score <= 5:
            raise InvalidRequest(f"a satisfaction score is 1 to 5, not {score}")

        def record(session: Session) -> None:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None or handoff.status not in RATED:
                raise InvalidTransition(
                    "only a handoff an agent closed or handed back takes a satisfaction score"
                )
            if handoff.csat is not None:
                raise InvalidTransition("this handoff has its satisfaction score already")
            handoff.csat, handoff.csat_at = score, self._now()

        await self._db.session(record)

    async def reopen_for_bot(self, conversation_id: str) -> None:
        """A closed conversation gets a new customer message: the bot takes it."""

        def reopen(session: Session) -> None:
            conversation = _conversation(session, conversation_id)
            if conversation.mode == "closed":
                conversation.mode = "bot"
                conversation.updated_at = self._now()

        await self._db.session(reopen)

    # ---- routing --------------------------------------------------------------------------

    async def route_waiting(self) -> list[HandoffView]:
        """Assign queued requests to available agents; return the new assignments."""
        now = self._now()

        def assign(session: Session) -> list[HandoffView]:
            if session.get_bind().dialect.name == "postgresql":
                # Hub replicas route one at a time: the next one's reads (read committed) then
                # see this one's assignments, so no request goes to two agents.
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROUTING_LOCK})
            queued = [r for r in _queued_requests(session, statuses=("queued",))]
            decisions = route(queued, _agent_loads(session), now)
            views = []
            for decision in decisions:
                handoff = session.get(Handoff, decision.request_id)
                assert handoff is not None
                handoff.status, handoff.agent_id = "assigned", decision.agent_id
                handoff.assigned_at = now
                views.append(self._view(handoff, _conversation_of(session, handoff), now))
            return views

        views = await self._db.session(assign)
        for view in views:
            logger.info("Handoff %d assigned to agent %d", view.id, view.agent_id)
        return views

    # ---- agent side -----------------------------------------------------------------------

    async def visible_to(self, agent: AgentProfile) -> list[HandoffView]:
        """Open handoffs the agent may see: queued for their skills and languages, or theirs."""

        views = [v for v in await self.queued() if _may_see(agent, v)]
        return sorted(views, key=lambda v: (v.status != "active", -v.priority, v.requested_at))

    async def get(self, handoff_id: int, agent: AgentProfile | None = None) -> HandoffView:
        """One handoff; with ``agent``, only if that agent may see it."""
        now = self._now()

        def load(session: Session) -> HandoffView:
            handoff = session.get(Handoff, handoff_id)
            if handoff is None:
                raise NotFound(f"no handoff {handoff_id}")
            return self._view(handoff, _conversation_of(session, handoff), now)

        view = await self._db.session(load)
        if agent is not None and not _may_see(agent, view):
            raise NotAllowed("this conversation is neither queued for your skills nor yours")
        return view

    async def may_see_conversation(self, agent: AgentProfile, conversation_id: str | None) -> bool:
        """Whether the agent may see a conversation (its media, say): a supervisor, or an agent
        who may see one of its handoffs (theirs, or one queued for their skills). ``None`` (a
        file whose upload started no conversation) is for supervisors only."""
        if agent.supervises:
            return True
        if conversation_id is None:
            return False
        now = self._now()

        def load(session: Session) -> list[HandoffView]:
            conversation = session.execute(
                select(Conversation).where(Conversation.public_id == conversation_id)
            ).scalar_one_or_none()
            if conversation is None:
                return []
            handoffs = session.execute(
                select(Handoff).where(Handoff.conversation_id == conversation.id)
            ).scalars()
            return [self._view(h, conversation, now) for h in handoffs]

        return any(_may_see(agent, view) for view in await self._db.session(load))

    async def accept(self, agent: AgentProfile, handoff_id: int) -> HandoffView:
        """The agent takes the conversation: mode ``human``."""
        now = self._now()

        def take(session: Session) -> HandoffView:
            handoff, conversation = _locked(session, handoff_id)
            view = self._view(handoff, conversation, now)
            if not _may_see(agent, view):
                raise NotAllowed("this conversation is neither queued for your skills nor yours")
            if handoff.status == "active" and handoff.agent_id == agent.id:
                return view
            if handoff.status not in ("queued", "assigned"):
                raise InvalidTransition(
                    f"handoff {handoff_id} is {handoff.status}; it cannot be accepted"
                )
            if handoff.status == "assigned" and handoff.agent_id != agent.id:
                raise NotAllowed(f"handoff {handoff_id} is assigned to another agent")
            handoff.status, handoff.agent_id = "active", agent.id
            handoff.assigned_at = handoff.assigned_at or now
            handoff.accepted_at = now
            conversation.mode, conversation.updated_at = "human", now
            return self._view(handoff, conversation, now)

        return await self._db.session(take)

    async def transfer(
        self,
        agent: AgentProfile,
        handoff_id: int,
        *,
        to_agent: int | None = None,
        to_skill: str | None = None,
    ) -> HandoffView:
        """Hand the conversation to another agent (assigned to them) or back to a skill's queue."""
        if (to_agent is None) == (to_skill is None):
            raise InvalidRequest("transfer to exactly one of: an agent or a skill")
        if to_skill is not None and to_skill not in SKILLS:
            raise InvalidRequest(f"unknown skill {to_skill!r}; use one of {', '.join(SKILLS)}")
        now = self._now()

        def move(session: Session) -> HandoffView:
            handoff, conversation = _locked(session, handoff_id)
            _require_owner(agent, handoff)
            if handoff.status != "active":
                raise InvalidTransition(f"handoff {handoff_id} is {handoff.status}, not active")
            if to_agent is not None:
                target = session.get(Agent, to_agent)
                if target is None:
                    raise NotFound(f"no agent {to_agent}")
                if target.id == agent.id:
                    raise InvalidRequest("the conversation is yours already")
                handoff.status, handoff.agent_id, handoff.assigned_at = "assigned", target.id, now
            else:
                handoff.status, handoff.agent_id, handoff.skill = "queued", None, to_skill  # type: ignore[assignment]
                handoff.assigned_at = None
            handoff.accepted_at = None
            conversation.mode, conversation.updated_at = "waiting", now
            return self._view(handoff, conversation, now)

        return await self._db.session(move)

    async def return_to_bot(self, agent: AgentProfile, handoff_id: int) -> HandoffView:
        """The agent is done for now; the bot answers again."""
        view = await self.get(handoff_id, agent)
        return await self._end(
            view.conversation_id, agent, to_status="returned", mode="bot", allowed=("active",)
        )

    async def close(self, agent: AgentProfile, handoff_id: int, resolution: str) -> HandoffView:
        """Close with a resolution; the customer is then asked for a satisfaction score."""
        if not resolution.strip():
            raise InvalidRequest("a resolution is needed to close a conversation")
        view = await self.get(handoff_id, agent)
        return await self._end(
            view.conversation_id,
            agent,
            to_status="closed",
            mode="closed",
            allowed=("active",),
            resolution=resolution.strip(),
        )

    async def add_note(self, agent: AgentProfile, handoff_id: int, text: str) -> int:
        """An internal note on the conversation; returns its id."""
        if not text.strip():
            raise InvalidRequest("a note needs some text")
        view = await self.get(handoff_id, agent)

        def add(session: Session) -> int:
            conversation = _conversation(session, view.conversation_id)
            note = AgentNote(
                conversation_id=conversation.id,
                agent_id=agent.id,
                text=text.strip(),
                created_at=self._now(),
            )
            session.add(note)
            session.flush()
            return note.id

        return await self._db.session(add)

    async def notes(self, conversation_id: str) -> list[dict[str, object]]:
        """Internal notes on a conversation, oldest first, with their authors' names."""

        def load(session: Session) -> list[dict[str, object]]:
            conversation = _conversation(session, conversation_id)
            rows = session.execute(
                select(AgentNote, Agent.display_name)
                .outerjoin(Agent, Agent.id == AgentNote.agent_id)
                .where(AgentNote.conversation_id == conversation.id)
                .order_by(AgentNote.id)
            ).all()
            return [
                {
                    "id": note.id,
                    "text": note.text,
                    "agent": name,
                    "created_at": note.created_at.isoformat(),
                }
                for note, name in rows
            ]

        return await self._db.session(load)

    async def export_conversation(self, conversation_id: str) -> dict[str, list[dict[str, object]]]:
        """A conversation's handoffs and the agents' notes on it, as JSON (a customer's export)."""

        def load(session: Session) -> dict[str, list[dict[str, object]]]:
            pk = _conversation_pk(session, conversation_id)
            if pk is None:
                return {"handoffs": [], "notes": []}
            handoffs = session.execute(
                select(Handoff).where(Handoff.conversation_id == pk).order_by(Handoff.id)
            ).scalars()
            notes = session.execute(
                select(AgentNote).where(AgentNote.conversation_id == pk).order_by(AgentNote.id)
            ).scalars()
            return {
                "handoffs": [_handoff_json(h) for h in handoffs],
                "notes": [
                    {"id": n.id, "text": n.text, "created_at": n.created_at.isoformat()}
                    for n in notes
                ],
            }

        return await self._db.session(load)

    async def erase_conversation(self, conversation_id: str) -> dict[str, int]:
        """Delete a conversation's handoffs and notes (a customer's erasure); unknown: nothing."""

        def erase(session: Session) -> dict[str, int]:
            pk = _conversation_pk(session, conversation_id)
            if pk is None:
                return {"handoffs": 0, "notes": 0}
            notes = session.execute(delete(AgentNote).where(AgentNote.conversation_id == pk))
            handoffs = session.execute(delete(Handoff).where(Handoff.conversation_id == pk))
            return {"handoffs": _rowcount(handoffs), "notes": _rowcount(notes)}

        return await self._db.session(erase)

    async def any_agent_online(self) -> bool:
        """Whether at least one agent is online now (their presence, not the business hours)."""
        return any(load.online for load in await self.agent_loads())

    async def agent_loads(self) -> list[AgentLoad]:
        """Every agent with their current number of open conversations."""
        return await self._db.session(_agent_loads)

    async def queued(self) -> list[HandoffView]:
        """All open handoffs (supervisor view)."""
        now = self._now()

        def load(session: Session) -> list[HandoffView]:
            rows = session.execute(
                select(Handoff, Conversation)
                .join(Conversation, Conversation.id == Handoff.conversation_id)
                .where(Handoff.status.in_(OPEN))
            ).all()
            return [self._view(h, c, now) for h, c in rows]

        return await self._db.session(load)

    # ---- internals ------------------------------------------------------------------------

    async def _end(
        self,
        conversation_id: str,
        agent: AgentProfile | None,
        *,
        to_status: str,
        mode: str,
        allowed: tuple[str, ...],
        resolution: str | None = None,
    ) -> HandoffView:
        now = self._now()

        def end(session: Session) -> HandoffView:
            conversation = _conversation(session, conversation_id)
            handoff = _open_handoff(session, conversation.id)
            if handoff is None or handoff.status not in allowed:
                state = handoff.status if handoff else "no open handoff"
                raise InvalidTransition(
                    f"conversation {conversation_id} has {state}; cannot make it {to_status}"
                )
            if agent is not None:
                _require_owner(agent, handoff)
            handoff.status, handoff.ended_at = to_status, now
            if resolution is not None:
                handoff.resolution = resolution
            conversation.mode, conversation.updated_at = mode, now
            return self._view(handoff, conversation, now)

        return await self._db.session(end)

    @staticmethod
    def _view(handoff: Handoff, conversation: Conversation, now: datetime) -> HandoffView:
        request = QueuedRequest(
            handoff.id,
            handoff.reason,
            handoff.language,
            handoff.skill,
            handoff.vip,
            handoff.requested_at,
        )
        return HandoffView(
            id=handoff.id,
            conversation_id=conversation.public_id,
            channel=conversation.channel,
            status=handoff.status,
            reason=handoff.reason,
            priority=priority(request, now),
            vip=handoff.vip,
            language=handoff.language,
            skill=handoff.skill,
            intent=handoff.intent,
            agent_id=handoff.agent_id,
            requested_at=handoff.requested_at,
            accepted_at=handoff.accepted_at,
            ended_at=handoff.ended_at,
            resolution=handoff.resolution,
            csat=handoff.csat,
        )


def _conversation(session: Session, public_id: str) -> Conversation:
    conversation = session.execute(
        select(Conversation).where(Conversation.public_id == public_id)
    ).scalar_one_or_none()
    if conversation is None:
        raise NotFound(f"no conversation {public_id}")
    return conversation


def _conversation_pk(session: Session, public_id: str) -> int | None:
    return session.execute(
        select(Conversation.id).where(Conversation.public_id == public_id)
    ).scalar_one_or_none()


def _rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


def _handoff_json(handoff: Handoff) -> dict[str, object]:
    times = ("requested_at", "assigned_at", "accepted_at", "ended_at", "csat_at")
    return {
        "id": handoff.id,
        "status": handoff.status,
        "reason": handoff.reason,
        "skill": handoff.skill,
        "intent": handoff.intent,
        "language": handoff.language,
        "resolution": handoff.resolution,
        "csat": handoff.csat,
        **{name: _iso(getattr(handoff, name)) for name in times},
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _conversation_of(session: Session, handoff: Handoff) -> Conversation:
    conversation = session.get(Conversation, handoff.conversation_id)
    assert conversation is not None  # a foreign key guarantees it
    return conversation


def _open_handoff(session: Session, conversation_pk: int) -> Handoff | None:
    return session.execute(
        select(Handoff)
        .where(Handoff.conversation_id == conversation_pk, Handoff.status.in_(OPEN))
        .order_by(Handoff.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _locked(session: Session, handoff_id: int) -> tuple[Handoff, Conversation]:
    # FOR UPDATE on PostgreSQL: two agents accepting at once cannot both win (SQLite ignores it
    # and serializes writers anyway).
    handoff = session.execute(
        select(Handoff).where(Handoff.id == handoff_id).with_for_update()
    ).scalar_one_or_none()
    if handoff is None:
        raise NotFound(f"no handoff {handoff_id}")
    return handoff, _conversation_of(session, handoff)


def _require_owner(agent: AgentProfile, handoff: Handoff) -> None:
    if handoff.agent_id != agent.id and not agent.supervises:
        raise NotAllowed("only the agent holding this conversation (or a supervisor) may do that")


def _may_see(agent: AgentProfile, view: HandoffView) -> bool:
    if agent.supervises or view.agent_id == agent.id:
        return True
    if view.status != "queued":
        return False
    skill_ok = view.skill in agent.skills or "general" in agent.skills
    return skill_ok and view.language in agent.languages


def _queued_requests(
    session: Session, statuses: tuple[str, ...] = ("queued", "assigned")
) -> list[QueuedRequest]:
    rows = session.execute(select(Handoff).where(Handoff.status.in_(statuses))).scalars()
    return [QueuedRequest(h.id, h.reason, h.language, h.skill, h.vip, h.requested_at) for h in rows]


def _agent_loads(session: Session) -> list[AgentLoad]:
    active = dict(
        session.execute(
            select(Handoff.agent_id, func.count())
            .where(Handoff.status.in_(("assigned", "active")), Handoff.agent_id.is_not(None))
            .group_by(Handoff.agent_id)
        ).all()
    )
    return [
        AgentLoad(
            a.id,
            a.presence == "online",
            frozenset(a.skills),
            frozenset(a.languages),
            a.max_chats,
            int(active.get(a.id, 0)),
            a.presence_at,
        )
        for a in session.execute(select(Agent)).scalars()
    ]


def _handle_time(session: Session) -> timedelta:
    """Mean handling time of the last 50 finished handoffs (default 5 minutes)."""
    rows = session.execute(
        select(Handoff.accepted_at, Handoff.ended_at)
        .where(Handoff.status.in_(("closed", "returned")), Handoff.accepted_at.is_not(None))
        .order_by(Handoff.id.desc())
        .limit(50)
    ).all()
    spans = [end - start for start, end in rows if start and end and end > start]
    if not spans:
        return DEFAULT_HANDLE_TIME
    return sum(spans, timedelta(0)) / len(spans)
