"""Agent accounts, their logins and their presence."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import ConfigurationError
from limits.storage import storage_from_string
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.handoff._errors import AgentExists, InvalidCredentials, InvalidRequest, LoginThrottled
from bot.handoff._routing import SKILLS
from bot.storage import Agent, AgentSession, Database, utcnow

logger = logging.getLogger(__name__)

PRESENCES = ("online", "away", "offline")
# An admin oversees as a supervisor does and may also act on customers' personal data (export,
# erasure, consents, the audit log): the admin API under their own name, not a shared token.
ROLES = ("agent", "supervisor", "admin")
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

    @property
    def supervises(self) -> bool:
        """Whether they see every conversation and the supervisor pages (supervisors, admins)."""
        return self.role in ("supervisor", "admin")

    @property
    def administers(self) -> bool:
        """Whether they may use the admin API (customers' personal data, the knowledge base)."""
        return self.role == "admin"

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


# Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane) rather than argon2-cffi's
# default 64 MiB x 3 x 4: on a 2-core hub that default took ~450 ms per login under load, and the
# goal is a login p95 under 500 ms while someone floods the form. Any password length works, where
# bcrypt 5 refuses more than 72 bytes; hashes made with other settings are redone on login.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_BCRYPT_MAX_BYTES = 72


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _HASHER.hash(password)


def _verify(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored``: argon2, or a bcrypt hash from before argon2."""
    if stored.startswith("$argon2"):
        try:
            return _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    # bcrypt 4 hashed only the first 72 bytes of longer passwords; bcrypt 5 raises on them.
    secret = password.encode()[:_BCRYPT_MAX_BYTES]
    try:
        return bcrypt.checkpw(secret, stored.encode())
    except ValueError:
        return False


class LoginThrottle:
    """Counts failed logins per username and per client key (an IP, say); after ``max_failures``
    within ``window`` either is locked out for ``lockout``. Counters live in the ``limits``
    storage named by ``storage_uri``: ``memory://`` in one process, ``redis://host:6379`` when
    several hub replicas share them."""

    def __init__(
        self,
        storage_uri: str = "memory://",
        max_failures: int = 5,
        window: timedelta = timedelta(minutes=15),
        lockout: timedelta = timedelta(minutes=15),
    ) -> None:
        if max_failures < 1 or window.total_seconds() < 1 or lockout.total_seconds() < 1:
            raise InvalidRequest(
                "login throttling needs max_failures >= 1 and a window and lockout of at least "
                "one second"
            )
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        try:
            # redis-py rather than limits' default coredis: the hub already needs redis-py for
            # socket.io's Redis manager.
            storage = storage_from_string(uri, implementation="redispy")
        except ConfigurationError:
            # Only the scheme: a storage URI may carry a password.
            scheme = storage_uri.split("://", 1)[0]
            raise InvalidRequest(
                f"login throttle storage {scheme!r} is not usable; use memory:// or "
                "redis://host:port"
            ) from None
        assert isinstance(storage, AsyncStorage)
        # A sliding-window counter: no burst at a window's edge, and (unlike the moving window)
        # clearing a key does not race the memory storage's expiry task.
        self._failures = SlidingWindowCounterRateLimiter(storage)
        self._locks = FixedWindowRateLimiter(storage)
        self._failure_item = RateLimitItemPerSecond(max_failures, int(window.total_seconds()))
        self._lock_item = RateLimitItemPerSecond(1, int(lockout.total_seconds()))

    @staticmethod
    def _keys(username: str, client_key: str | None) -> list[str]:
        keys = [f"user:{username.strip().lower()}"]
        return [*keys, f"client:{client_key}"] if client_key else keys

    async def begin(self, username: str, client_key: str | None) -> None:
        """Count a login attempt before its password is checked, so that concurrent guesses
        cannot outrun the count; raise ``LoginThrottled`` while the username or the client is
        locked out, or when it has used up its attempts."""
        for key in self._keys(username, client_key):
            if not await self._locks.test(self._lock_item, "agent-login-lock", key):
                raise await self._refusal(key)
        for key in self._keys(username, client_key):
            if not await self._failures.hit(self._failure_item, "agent-login", key):
                await self._lock(key)
                raise await self._refusal(key)

    async def failed(self, username: str, client_key: str | None) -> None:
        """The attempt failed: lock out the username or client that has used up its attempts."""
        for key in self._keys(username, client_key):
            if not await self._failures.test(self._failure_item, "agent-login", key):
                await self._lock(key)

    async def succeeded(self, username: str, client_key: str | None) -> None:
        """The password was right: forget the failures of the username and the client."""
        for key in self._keys(username, client_key):
            await self._failures.clear(self._failure_item, "agent-login", key)

    async def _lock(self, key: str) -> None:
        if await self._locks.hit(self._lock_item, "agent-login-lock", key):
            # The key's kind only ("user:", "client:"): the name or address is personal data.
            logger.warning("Console logins locked out after repeated failures (%s)", key[:6])
        await self._failures.clear(self._failure_item, "agent-login", key)

    async def _refusal(self, key: str) -> LoginThrottled:
        stats = await self._locks.get_window_stats(self._lock_item, "agent-login-lock", key)
        wait = max(1, int(stats.reset_time - time.time()) + 1)
        until = datetime.now(UTC) + timedelta(seconds=wait)
        return LoginThrottled(
            "too many failed logins for this account or from this address; try again in "
            f"{wait} seconds (after {until:%H:%M:%S} UTC)",
            wait,
        )


def session_key(token: str) -> str:
    """A public name of a session token (its hash, as stored): safe in logs and room names."""
    return _token_hash(token)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AgentDirectory:
    """Creates agents, checks their passwords, and keeps their console sessions."""

    def __init__(
        self, database: Database, session_ttl: timedelta, throttle: LoginThrottle | None = None
    ) -> None:
        self._db = database
        self._ttl = session_ttl
        self._throttle = throttle or LoginThrottle()

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
        """Add an agent; the password is stored as an argon2id hash."""
        _check_new_agent(username, password, role, skills, languages, max_chats)
        # Hashing takes tens of milliseconds of CPU: off the event loop, like the storage work.
        hashed = await asyncio.to_thread(hash_password, password)

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

    async def log_in(
        self, username: str, password: str, client_key: str | None = None
    ) -> tuple[str, AgentProfile]:
        """Check the password; return a new session token and the agent. ``client_key`` (the
        caller's IP, say) is throttled as well as the username; while either is locked out even
        the right password is refused with ``LoginThrottled``."""
        await self._throttle.begin(username, client_key)
        agent = await self._db.session(
            lambda s: s.execute(
                select(Agent).where(Agent.username == username)
            ).scalar_one_or_none()
        )
        # Compare against a dummy hash when the name is unknown, so timing does not tell.
        stored = agent.password_hash if agent else _DUMMY_HASH
        if not await asyncio.to_thread(_verify, stored, password) or agent is None:
            await self._throttle.failed(username, client_key)
            raise InvalidCredentials("wrong username or password")
        await self._throttle.succeeded(username, client_key)
        if not stored.startswith("$argon2") or _HASHER.check_needs_rehash(stored):
            await self._rehash(agent.id, password)
        token = secrets.token_urlsafe(32)
        expires = utcnow() + self._ttl

        def open_session(session: Session) -> None:
            session.add(
                AgentSession(token_hash=_token_hash(token), agent_id=agent.id, expires_at=expires)
            )

        await self._db.session(open_session)
        return token, AgentProfile.of(agent)

    async def _rehash(self, agent_id: int, password: str) -> None:
        """Store an argon2 hash in place of an older one (bcrypt, or weaker argon2 settings)."""
        hashed = await asyncio.to_thread(hash_password, password)

        def update(session: Session) -> None:
            agent = session.get(Agent, agent_id)
            if agent is not None:
                agent.password_hash = hashed

        await self._db.session(update)
        logger.info("Agent %s's password hash was upgraded to argon2id", agent_id)

    async def agent_for_token(self, token: str) -> AgentProfile | None:
        """The agent a session token belongs to, if the session is alive."""
        found = await self.session_of(token)
        return found[0] if found else None

    async def session_of(self, token: str) -> tuple[AgentProfile, datetime] | None:
        """The agent of a live session and when the session expires (UTC); None if it is not."""

        def find(session: Session) -> tuple[AgentProfile, datetime] | None:
            row = session.execute(
                select(Agent, AgentSession)
                .join(AgentSession, AgentSession.agent_id == Agent.id)
                .where(AgentSession.token_hash == _token_hash(token))
            ).first()
            if row is None or row.AgentSession.expires_at <= utcnow():
                return None
            return AgentProfile.of(row.Agent), row.AgentSession.expires_at

        return await self._db.session(find)

    async def purge_expired_sessions(self) -> int:
        """Delete the sessions that have expired; returns how many there were."""

        def purge(session: Session) -> int:
            result = session.execute(
                delete(AgentSession).where(AgentSession.expires_at <= utcnow())
            )
            return int(getattr(result, "rowcount", 0) or 0)

        purged = await self._db.session(purge)
        if purged:
            logger.info("Purged %d expired console sessions", purged)
        return purged

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


_DUMMY_HASH = hash_password("not-a-password")
