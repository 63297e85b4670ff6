"""What the ``scale`` profile shares between hub replicas through Redis: leases that run each
periodic job on one replica per period, per-conversation locks, and the console events that act
on every replica's sockets.

A lease per job run rather than a task queue (dramatiq, arq, …): the jobs are periodic sweeps
over the shared database (SLA marks, retention, webhook outbox, retraining) that need "one
replica per period", not a queue of work items. A Redis lock the profile already has gives that
with no broker, no worker process and no new dependency; a replica that dies mid-run loses its
lease when it expires, and the next replica to try takes the job over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import LockError, RedisError

from bot.conversations import ConversationBusy

logger = logging.getLogger(__name__)

KEY_PREFIX = "bot:"
CONSOLE_CHANNEL = f"{KEY_PREFIX}console-events"


def replica_name() -> str:
    """This process among the replicas (host and pid), stored as a lease's owner for operators."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RedisJobLease:
    """``claim(job, seconds)``: True on the one replica that runs ``job`` this period.

    The lease is kept (renewed) while the job runs, so a run longer than its period is never
    started a second time beside itself, and left to expire after it, so no other replica runs
    the job again within the period.
    """

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client

    @contextlib.asynccontextmanager
    async def hold(self, job: str, seconds: float) -> AsyncIterator[bool]:
        """Yields whether this replica holds ``job``'s lease for ``seconds``."""
        lock = self._client.lock(f"{KEY_PREFIX}job:{job}", timeout=seconds, thread_local=False)
        try:
            held = await lock.acquire(blocking=False, token=replica_name())
        except RedisError:
            logger.warning("Redis is unreachable: job %s waits for its next period", job)
            held = False
        if not held:
            yield False
            return
        renewing = asyncio.create_task(_renew(lock, seconds / 3))
        try:
            yield True
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            with contextlib.suppress(LockError, RedisError):
                await lock.reacquire()  # the full period from the end of the run


# Delete the key only if it still holds the token the caller saw expire (atomic in Redis).
_FORGET = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


class RedisTokens:
    """The messaging apps' access tokens, kept in Redis for every replica (``SharedTokens``)."""

    def __init__(self, client: aioredis.Redis, fetch_timeout_s: float = 30.0) -> None:
        self._client = client
        self._fetch_timeout_s = fetch_timeout_s
        self._forget = client.register_script(_FORGET)

    async def get(self, key: str) -> tuple[str, float] | None:
        name = f"{KEY_PREFIX}app-token:{key}"
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.get(name)
            pipe.pttl(name)
            token, ttl_ms = await pipe.execute()
        if token is None or ttl_ms is None or ttl_ms <= 0:
            return None
        return (token.decode() if isinstance(token, bytes) else str(token)), ttl_ms / 1000

    async def put(self, key: str, token: str, usable_s: float) -> None:
        if usable_s > 0:
            await self._client.set(f"{KEY_PREFIX}app-token:{key}", token, px=int(usable_s * 1000))

    async def forget(self, key: str, token: str) -> None:
        await self._forget(keys=[f"{KEY_PREFIX}app-token:{key}"], args=[token])

    def fetching(self, key: str) -> Any:
        return self._client.lock(
            f"{KEY_PREFIX}app-token-fetch:{key}",
            timeout=self._fetch_timeout_s,
            blocking_timeout=self._fetch_timeout_s,
            thread_local=False,
        )


async def _renew(lock: Any, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await lock.reacquire()
        except (LockError, RedisError):
            logger.warning("Could not renew a lease; another replica may take it over")


class RedisConversationLocks:
    """One holder at a time per conversation key, across replicas: a customer's messages are
    stored and answered in the order they came, whichever replica gets each."""

    def __init__(self, client: aioredis.Redis, lease_s: float, wait_s: float) -> None:
        # The lease is renewed while its turn runs, so it can be short: a replica that dies
        # holding it frees the conversation ``lease_s`` later.
        self._client = client
        self._lease_s = lease_s
        self._wait_s = wait_s

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._client.lock(
            f"{KEY_PREFIX}conversation:{key}",
            timeout=self._lease_s,
            blocking_timeout=self._wait_s,
            sleep=0.01,
            thread_local=False,
        )
        if not await lock.acquire():
            raise ConversationBusy(
                f"the previous message of this conversation was still being answered after "
                f"{self._wait_s:.0f} s; this one was not saved, please send it again"
            )
        renewing = asyncio.create_task(_renew(lock, self._lease_s / 3))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            with contextlib.suppress(LockError, RedisError):
                await lock.release()  # expired already: the lease ran out, nothing to free


class ConsoleRelay:
    """Console events that act on live sockets (a log-out, a transfer), told to every replica:
    each replica knows only its own sockets."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._task: asyncio.Task[None] | None = None

    async def publish(self, event: str, data: dict[str, Any]) -> None:
        """Tell every replica (this one included) about ``event``."""
        await self._client.publish(CONSOLE_CHANNEL, json.dumps({"event": event, "data": data}))

    async def start(self, deliver: Callable[[str, dict[str, Any]], Awaitable[None]]) -> None:
        """Hand every relayed event to ``deliver`` until ``stop``; subscribed on return."""
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(CONSOLE_CHANNEL)
        self._task = asyncio.create_task(self._listen(pubsub, deliver))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @staticmethod
    async def _listen(
        pubsub: Any, deliver: Callable[[str, dict[str, Any]], Awaitable[None]]
    ) -> None:
        try:
            async for message in pubsub.listen():
                try:
                    told = json.loads(message["data"])
                    await deliver(str(told["event"]), dict(told["data"]))
                except Exception:
                    logger.exception("A relayed console event could not be handled")
        finally:
            await pubsub.aclose()
