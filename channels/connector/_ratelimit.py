"""Rate limits and quotas of the channels: messages per sender and per address, uploads (count
and bytes a day) per sender and per address, and the admin API per address.

Counters live in a ``limits`` storage: ``memory://`` in one hub, ``redis://host:6379`` when
several hub replicas share them. A refused request is refused before anything is stored, so a
refusal never loses or half-stores a message.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse
from limits import RateLimitItemPerSecond
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import ConfigurationError
from limits.storage import storage_from_string

from bot.language import Language

logger = logging.getLogger(__name__)

MINUTE = 60
DAY = 24 * 3600

# What a chat customer is told when they are over a limit, in their language.
RATE_LIMIT_REPLY: dict[str, str] = {
    "zh": "您发送得太频繁了，请稍等片刻再试。已发送的消息都已保存。",
    "en": "You are sending too fast; please wait a moment and try again. "
    "Everything you sent before is saved.",
}


class RateLimited(Exception):
    """A request over a rate limit or quota; ``retry_after_s`` says when to try again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Quota:
    """``amount`` units (requests, or bytes) per ``seconds``; ``what`` names it in refusals."""

    amount: int
    seconds: int
    what: str

    def __post_init__(self) -> None:
        if self.amount < 1 or self.seconds < 1:
            raise ValueError(f"the quota of {self.what} needs an amount and a period of >= 1")


@dataclass(frozen=True)
class RateLimits:
    """Every limit the channels apply; the wiring builds it from the settings."""

    messages_per_sender: Quota = Quota(30, MINUTE, "messages a minute from one customer")
    messages_per_address: Quota = Quota(120, MINUTE, "messages a minute from one address")
    uploads_per_sender: Quota = Quota(20, DAY, "uploads a day from one customer")
    upload_bytes_per_sender: Quota = Quota(
        50 * 1024 * 1024, DAY, "upload bytes a day from one customer"
    )
    uploads_per_address: Quota = Quota(100, DAY, "uploads a day from one address")
    upload_bytes_per_address: Quota = Quota(
        250 * 1024 * 1024, DAY, "upload bytes a day from one address"
    )
    admin_per_address: Quota = Quota(60, MINUTE, "admin API requests a minute from one address")


class RateLimiter:
    """Counts requests against ``RateLimits``; ``enabled=False`` lets everything through."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        storage_uri: str = "memory://",
        *,
        enabled: bool = True,
    ) -> None:
        self.limits = limits or RateLimits()
        self.enabled = enabled
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        try:
            # redis-py, as the login throttle: the hub already needs it for socket.io.
            storage = storage_from_string(uri, implementation="redispy")
        except ConfigurationError:
            scheme = storage_uri.split("://", 1)[0]  # a storage URI may carry a password
            raise ValueError(
                f"rate limit storage {scheme!r} is not usable; use memory:// or redis://host:port"
            ) from None
        assert isinstance(storage, AsyncStorage)
        # A sliding-window counter: no double burst at a window's edge, and a refused hit
        # does not count (so a refused upload does not use up the day's bytes).
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._items: dict[Quota, RateLimitItemPerSecond] = {}

    def _item(self, quota: Quota) -> RateLimitItemPerSecond:
        item = self._items.get(quota)
        if item is None:
            item = self._items[quota] = RateLimitItemPerSecond(quota.amount, quota.seconds)
        return item

    async def _refusal(self, quota: Quota, key: str) -> RateLimited:
        stats = await self._limiter.get_window_stats(self._item(quota), quota.what, key)
        wait = max(1, min(quota.seconds, math.ceil(stats.reset_time - time.time())))
        # Never the key itself: it is an address or a customer id (personal data). Debug: a
        # flood would otherwise flood the log too.
        logger.debug("Rate limit reached: %s", quota.what)
        return RateLimited(
            f"too many requests: the limit is {quota.amount} {quota.what}; "
            f"try again in {wait} seconds",
            wait,
        )

    async def check(self, *hits: tuple[Quota, str | None], cost: int = 1) -> None:
        """Count ``cost`` against every (quota, key) pair, or none of them: raise
        ``RateLimited`` (counting nothing) when any is used up. A ``None`` key is skipped.
        (Between the test and the count a concurrent request may use up a quota: then this one
        is refused with the quotas counted before it.)"""
        await self._count([(quota, key, cost) for quota, key in hits])

    async def _count(self, hits: list[tuple[Quota, str | None, int]]) -> None:
        if not self.enabled:
            return
        counted = [(quota, key, cost) for quota, key, cost in hits if key is not None]
        for quota, key, cost in counted:
            if not await self._limiter.test(self._item(quota), quota.what, key, cost=cost):
                raise await self._refusal(quota, key)
        for quota, key, cost in counted:
            if not await self._limiter.hit(self._item(quota), quota.what, key, cost=cost):
                raise await self._refusal(quota, key)  # a concurrent request got there first

    async def message(self, address: str | None, sender: str) -> None:
        """One customer message from ``sender`` (``channel:id``) at ``address``."""
        limits = self.limits
        await self.check(
            (limits.messages_per_address, address), (limits.messages_per_sender, sender)
        )

    async def upload_allowed(self, address: str | None) -> None:
        """Before reading an upload: whether the address has any uploads left today."""
        limits = self.limits
        if not self.enabled or address is None:
            return
        for quota in (limits.uploads_per_address, limits.upload_bytes_per_address):
            if not await self._limiter.test(self._item(quota), quota.what, address):
                raise await self._refusal(quota, address)

    async def upload(self, address: str | None, sender: str, size: int) -> None:
        """One upload of ``size`` bytes: counts and bytes a day, per sender and per address."""
        limits = self.limits
        size = max(1, size)
        await self._count(
            [
                (limits.uploads_per_address, address, 1),
                (limits.uploads_per_sender, sender, 1),
                (limits.upload_bytes_per_address, address, size),
                (limits.upload_bytes_per_sender, sender, size),
            ]
        )

    def admin_guard(self) -> Callable[[Request], Awaitable[None]]:
        """A dependency limiting the admin API per client address."""

        async def guard(request: Request) -> None:
            await self.check((self.limits.admin_per_address, client_address(request)))

        return guard


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or ``localhost``) is only this machine's."""
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def client_address(request: Request) -> str | None:
    """The caller's address (uvicorn puts a trusted proxy's ``X-Forwarded-For`` here)."""
    return request.client.host if request.client else None


def rate_limited_response(exc: RateLimited, language: Language | None = None) -> JSONResponse:
    """429 with ``Retry-After`` and ``detail``; on chat channels also a ``reply`` for the
    customer in their language."""
    body: dict[str, object] = {"detail": str(exc), "reason": "rate_limited"}
    if language is not None:
        body["reply"] = RATE_LIMIT_REPLY[language]
        body["retry_after"] = exc.retry_after_s
    return JSONResponse(
        status_code=429, content=body, headers={"Retry-After": str(exc.retry_after_s)}
    )
