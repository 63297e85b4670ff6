"""Agent accounts, their logins and their presence."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import bcrypt
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.handoff._errors import AgentExists, InvalidCredentials, InvalidRequest
from bot.handoff._routing import SKILLS
from bot.storage import Agent, AgentSession, Database, utcnow

PRESENCES = ("online", "away", "offline")
ROLES = ("agent", "supervisor")
MIN_PASSWORD_CHARS = 8


@dataclass(frozen=True)
class AgentProfile:
    """An agent as the console and routing see them (never the password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    skills: tuple[str, ...]
    languages: tuple[str, ...]
    max_chats: int
    presence: str

    @classmethod
    def of(cls, agent: Agent) -> AgentProfile:
        return cls(
            agent.id,
            agent.username,
            agent.display_name,
            agent.role,
            tuple(agent.skills),
            tuple(agent.languages),
            agent.max_chats,
            agent.presence,
        )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AgentDirectory:
    """Creates agents, checks their passwords, and keeps their console sessions."""

    def __init__(self, database: Database, session_ttl: timedelta) -> None:
        self._db = database
        self._ttl = session_ttl

    async def create(
        self,
        username: str,
        password: str,
        *,
        display_name: str | None = None,
        role: str = "agent",
        skills: tuple[str, ...] = ("general",),
        languages: tuple[str, ...] = ("zh", "en"),
        max_chats: int = 3,
    ) -> AgentProfile:
        """Add an agent; the password is stored as a bcrypt hash."""
        _check_new_agent(username, password, role, skills, languages, max_chats)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()

        def add(session: Session) -> AgentProfile:
            agent = Agent(
                username=username,
                display_name=display_name or username,
                password_hash=hashed,
                role=role,
                skills=list(skills),
                languages=list(languages),
                max_chats=max_chats,
                presence="offline",
            )
            session.add(agent)
            try:
                session.flush()
            except IntegrityError as exc:
                raise AgentExists(f"an agent named {username!r} exists already") from exc
            return AgentProfile.of(agent)

        return await self._db.session(add)

    async def log_in(self, username: str, password: str) -> tuple[str, AgentProfile]:
        """Check the password; return a new session token and the agent."""
        agent = await self._db.session(
            lambda s: s.execute(
                select(Agent).where(Agent.username == username)
            ).scalar_one_or_none()
        )
        # Compare against a dummy hash when the name is unknown, so timing does not tell.
        stored = agent.password_hash if agent else _DUMMY_HASH
        if not bcrypt.checkpw(password.encode(), stored.encode()) or agent is None:
            raise InvalidCredentials("wrong username or password")
        token = secrets.token_urlsafe(32)
        expires = utcnow() + self._ttl

        def open_session(session: Session) -> None:
            session.add(
                AgentSession(token_hash=_token_hash(token), agent_id=agent.id, expires_at=expires)
            )

        await self._db.session(open_session)
        return token, AgentProfile.of(agent)

    async def agent_for_token(self, token: str) -> AgentProfile | None:
        """The agent a session token belongs to, if the session is alive."""

        def find(session: Session) -> AgentProfile | None:
            row = session.execute(
                select(Agent, AgentSession)
                .join(AgentSession, AgentSession.agent_id == Agent.id)
                .where(AgentSession.token_hash == _token_hash(token))
            ).first()
            if row is None or row.AgentSession.expires_at <= utcnow():
                return None
            return AgentProfile.of(row.Agent)

        return await self._db.session(find)

    async def log_out(self, token: str) -> None:
        """End a session (no error if it is already gone)."""
        await self._db.session(
            lambda s: s.execute(
                delete(AgentSession).where(AgentSession.token_hash == _token_hash(token))
            )
        )

    async def set_presence(self, agent_id: int, presence: str) -> None:
        """Online, away or offline; only online agents get new conversations."""
        if presence not in PRESENCES:
            raise InvalidRequest(
                f"presence must be one of {', '.join(PRESENCES)}, not {presence!r}"
            )

        def update(session: Session) -> None:
            agent = session.get(Agent, agent_id)
            if agent is None:
                raise InvalidRequest(f"no agent with id {agent_id}")
            agent.presence, agent.presence_at = presence, utcnow()

        await self._db.session(update)

    async def all(self) -> list[AgentProfile]:
        """Every agent, by name."""
        return await self._db.session(
            lambda s: [
                AgentProfile.of(a)
                for a in s.execute(select(Agent).order_by(Agent.username)).scalars()
            ]
        )


def _check_new_agent(
    username: str,
    password: str,
    role: str,
    skills: tuple[str, ...],
    languages: tuple[str, ...],
    max_chats: int,
) -> None:
    problems = []
    if not username.strip() or len(username) > 64:
        problems.append("username must be 1 to 64 characters")
    if len(password) < MIN_PASSWORD_CHARS:
        problems.append(f"password must be at least {MIN_PASSWORD_CHARS} characters")
    if role not in ROLES:
        problems.append(f"role must be one of {', '.join(ROLES)}")
    unknown = sorted(set(skills) - set(SKILLS))
    if unknown or not skills:
        problems.append(
            f"skills must be among {', '.join(SKILLS)} (got {', '.join(unknown) or 'none'})"
        )
    if not languages or set(languages) - {"zh", "en"}:
        problems.append("languages must be among zh, en")
    if not 1 <= max_chats <= 50:
        problems.append("max_chats must be between 1 and 50")
    if problems:
        raise InvalidRequest("; ".join(problems))


_DUMMY_HASH = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt()).decode()
