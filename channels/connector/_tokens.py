"""An app's access token (WeChat, WeCom, Feishu, DingTalk all use one): cached until shortly
before it expires, fetched by one caller at a time, and refreshed once when the app says the
token a call used has expired."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
# Fetch a fresh token: (token, seconds it lives).
TokenFetch = Callable[[], Awaitable[tuple[str, float]]]


class CachedToken:
    """One app's access token, shared by every call of this process."""

    def __init__(
        self,
        fetch: TokenFetch,
        *,
        margin_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._margin_s = margin_s
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many tokens were fetched (the check command and tests read it)

    async def get(self) -> str:
        """The current token, fetched first when there is none or it is about to expire."""
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                token, lifetime = await self._fetch()
                self.fetches += 1
                self._token = token
                self._expires_at = self._clock() + max(0.0, lifetime - self._margin_s)
            return self._token

    def expire(self, token: str) -> None:
        """The app refused ``token`` as expired: forget it unless another call replaced it."""
        if self._token == token:
            self._token = None

    async def call(self, work: Callable[[str], Awaitable[T]], expired: Callable[[T], bool]) -> T:
        """``work(token)``; when its result says the token expired, once more with a new one."""
        token = await self.get()
        result = await work(token)
        if expired(result):
            self.expire(token)
            result = await work(await self.get())
        return result
