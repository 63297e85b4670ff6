"""Messaging-app access tokens shared by hub replicas through a real Redis server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from bot.app._scale import RedisTokens
from channels.connector import CachedToken
from tests.servers import redis_server

LIFETIME_S = 7200.0


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


class App:
    """The app's token endpoint: every fetch issues a new token (and WeChat would then retire
    the previous one), so the count is what replicas must keep low."""

    def __init__(self) -> None:
        self.issued = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def fetch(self) -> tuple[str, float]:
        await self.gate.wait()
        self.issued += 1
        return f"tok-{self.issued}", LIFETIME_S


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[list[aioredis.Redis]]:
    opened = [aioredis.Redis.from_url(redis_url) for _ in range(2)]
    await opened[0].flushdb()
    yield opened
    for client in opened:
        await client.aclose()


def replica(app: App, client: aioredis.Redis) -> CachedToken:
    token = CachedToken(app.fetch)
    token.share(RedisTokens(client), "wechat")
    return token


async def test_replicas_asking_at_once_fetch_one_token(clients: list[aioredis.Redis]) -> None:
    app = App()
    app.gate.clear()  # hold the first fetch so every other caller queues behind it
    first, second = replica(app, clients[0]), replica(app, clients[1])
    asking = [asyncio.create_task(r.get()) for r in (first, second) for _ in range(5)]
    await asyncio.sleep(0)  # let every caller reach the lock before the fetch is released
    app.gate.set()
    tokens = await asyncio.gather(*asking)
    assert set(tokens) == {"tok-1"}
    assert app.issued == 1
    ttl_ms = await clients[0].pttl("bot:app-token:wechat")
    assert 0 < ttl_ms <= (LIFETIME_S - 300) * 1000


async def test_an_expired_token_is_refetched_once_for_every_replica(
    clients: list[aioredis.Redis],
) -> None:
    app = App()
    first, second = replica(app, clients[0]), replica(app, clients[1])
    assert await first.get() == await second.get() == "tok-1"
    used: list[str] = []

    async def send(token: str) -> bool:
        used.append(token)
        return token != "tok-1"  # the app now refuses tok-1 as expired

    assert await first.call(send, expired=lambda ok: not ok)
    # The second replica still holds tok-1; the app refuses it, and it takes the first's new one
    # from Redis instead of fetching (which would retire tok-2 under the first replica's feet).
    assert await second.call(send, expired=lambda ok: not ok)
    assert used == ["tok-1", "tok-2", "tok-1", "tok-2"]
    assert app.issued == 2
    assert (await clients[0].get("bot:app-token:wechat")) == b"tok-2"


async def test_a_replica_alone_keeps_its_token_in_memory() -> None:
    app = App()
    alone = CachedToken(app.fetch)
    assert [await alone.get() for _ in range(3)] == ["tok-1"] * 3
    await alone.expire("tok-1")
    assert await alone.get() == "tok-2"
