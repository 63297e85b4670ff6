"""Agent passwords (argon2, any length, bcrypt hashes upgraded) and login throttling, on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import bcrypt
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from bot.handoff import (
    AgentDirectory,
    InvalidCredentials,
    InvalidRequest,
    LoginThrottle,
    LoginThrottled,
)
from bot.storage import Agent, Database
from tests.servers import redis_server

PASSWORD = "correct horse battery"


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path}/hub.db")
    await db.migrate()
    yield db
    db.dispose()


@pytest.fixture
def agents(database: Database) -> AgentDirectory:
    throttle = LoginThrottle(
        "memory://", max_failures=3, window=timedelta(minutes=5), lockout=timedelta(minutes=2)
    )
    return AgentDirectory(database, session_ttl=timedelta(hours=8), throttle=throttle)


async def stored_hash(database: Database, username: str) -> str:
    return await database.session(
        lambda s: s.execute(
            select(Agent.password_hash).where(Agent.username == username)
        ).scalar_one()
    )


@pytest.mark.parametrize("password", ["short-ok", "长密码" * 70, "x" * 200, "é" * 100])
async def test_any_length_password_works(
    agents: AgentDirectory, database: Database, password: str
) -> None:
    await agents.create("ann", password)
    token, profile = await agents.log_in("ann", password)
    assert (profile.username, len(token) > 20) == ("ann", True)
    assert (await stored_hash(database, "ann")).startswith("$argon2id$")
    with pytest.raises(InvalidCredentials):
        await agents.log_in("ann", password + "!")


async def test_a_bcrypt_hash_verifies_and_is_upgraded(
    agents: AgentDirectory, database: Database
) -> None:
    await agents.create("bob", "placeholder-password")
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()

    def set_legacy(session):  # type: ignore[no-untyped-def]
        session.execute(
            select(Agent).where(Agent.username == "bob")
        ).scalar_one().password_hash = legacy

    await database.session(set_legacy)
    with pytest.raises(InvalidCredentials):
        await agents.log_in("bob", "wrong-password")
    assert await stored_hash(database, "bob") == legacy
    await agents.log_in("bob", PASSWORD)
    upgraded = await stored_hash(database, "bob")
    assert upgraded.startswith("$argon2id$")
    await agents.log_in("bob", PASSWORD)
    assert await stored_hash(database, "bob") == upgraded


async def test_a_long_password_hashed_by_old_bcrypt_still_verifies(
    agents: AgentDirectory, database: Database
) -> None:
    # bcrypt 4 hashed the first 72 bytes of a longer password; bcrypt 5 refuses to.
    long = "p" * 100
    legacy = bcrypt.hashpw(long.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    await agents.create("cy", "placeholder-password")

    def set_legacy(session):  # type: ignore[no-untyped-def]
        session.execute(
            select(Agent).where(Agent.username == "cy")
        ).scalar_one().password_hash = legacy

    await database.session(set_legacy)
    await agents.log_in("cy", long)
    assert (await stored_hash(database, "cy")).startswith("$argon2id$")


async def test_lockout_after_failures_refuses_even_the_right_password(
    agents: AgentDirectory,
) -> None:
    await agents.create("dee", PASSWORD)
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            await agents.log_in("dee", "guess-guess", client_key="10.0.0.9")
    with pytest.raises(LoginThrottled) as locked:
        await agents.log_in("dee", PASSWORD, client_key="10.0.0.1")
    assert 1 <= locked.value.retry_after_s <= 121
    assert str(locked.value).startswith(
        "too many failed logins for this account or from this address; try again in "
        f"{locked.value.retry_after_s} seconds (after "
    )


async def test_a_guessing_client_is_locked_out_across_usernames(agents: AgentDirectory) -> None:
    await agents.create("eve", PASSWORD)
    for name in ("x1", "x2", "x3"):
        with pytest.raises(InvalidCredentials):
            await agents.log_in(name, "guess-guess", client_key="203.0.113.5")
    with pytest.raises(LoginThrottled):
        await agents.log_in("eve", PASSWORD, client_key="203.0.113.5")
    # The agent from another address is not locked out by someone else's guessing.
    _, profile = await agents.log_in("eve", PASSWORD, client_key="198.51.100.7")
    assert profile.username == "eve"


async def test_a_success_forgets_earlier_failures(agents: AgentDirectory) -> None:
    await agents.create("fay", PASSWORD)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await agents.log_in("fay", "guess-guess")
    await agents.log_in("fay", PASSWORD)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await agents.log_in("fay", "guess-guess")
    _, profile = await agents.log_in("fay", PASSWORD)
    assert profile.username == "fay"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_failures": 0}, "login throttling needs max_failures >= 1"),
        ({"window": timedelta(0)}, "login throttling needs max_failures >= 1"),
        ({"lockout": timedelta(milliseconds=10)}, "login throttling needs max_failures >= 1"),
    ],
)
def test_bad_throttle_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        LoginThrottle(**kwargs)  # type: ignore[arg-type]
    assert str(raised.value).startswith(message)


def test_an_unknown_storage_is_named() -> None:
    with pytest.raises(InvalidRequest) as raised:
        LoginThrottle("nosuch://user:secret@host")
    assert str(raised.value) == (
        "login throttle storage 'nosuch' is not usable; use memory:// or redis://host:port"
    )
    assert "secret" not in str(raised.value)


async def test_concurrent_guesses_cannot_outrun_the_count(agents: AgentDirectory) -> None:
    await agents.create("gus", PASSWORD)
    results = await asyncio.gather(
        *(agents.log_in("gus", f"guess-{i}", client_key="192.0.2.1") for i in range(20)),
        return_exceptions=True,
    )
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["InvalidCredentials"] * 3 + ["LoginThrottled"] * 17


async def test_an_argon2_hash_with_other_settings_is_redone(
    agents: AgentDirectory, database: Database
) -> None:
    await agents.create("hal", "placeholder-password")
    heavier = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash(PASSWORD)

    def set_hash(session):  # type: ignore[no-untyped-def]
        session.execute(
            select(Agent).where(Agent.username == "hal")
        ).scalar_one().password_hash = heavier

    await database.session(set_hash)
    await agents.log_in("hal", PASSWORD)
    redone = await stored_hash(database, "hal")
    assert redone != heavier
    assert redone.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A private Redis server on a free port, stopped after the test."""
    with redis_server() as url:
        yield url


async def test_replicas_share_the_count_through_redis(database: Database, redis_url: str) -> None:
    def replica() -> AgentDirectory:
        throttle = LoginThrottle(redis_url, max_failures=3, lockout=timedelta(minutes=2))
        return AgentDirectory(database, session_ttl=timedelta(hours=8), throttle=throttle)

    first, second = replica(), replica()
    await first.create("ivy", PASSWORD)
    for directory in (first, second, first):
        with pytest.raises(InvalidCredentials):
            await directory.log_in("ivy", "guess-guess", client_key="192.0.2.44")
    with pytest.raises(LoginThrottled) as locked:
        await second.log_in("ivy", PASSWORD, client_key="192.0.2.45")
    assert 1 <= locked.value.retry_after_s <= 121
