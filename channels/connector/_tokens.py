"""An app's access token (WeChat, WeCom, Feishu, DingTalk all use one): cached until shortly
before it expires, fetched by one caller at a time, and refreshed once when the app says the
token a call used has expired.

With several hub replicas the token is kept in a ``SharedTokens`` store (Redis in the scale
profile) and fetched by one replica at a time under the store's lock: WeChat invalidates the
previous token a few minutes after a new one is issued, so replicas fetching their own would keep
cancelling each other's, and every app limits how many tokens a day may be fetched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

T = TypeVar("T")
# Fetch a fresh token: (token, seconds it lives).
TokenFetch = Callable[[], Awaitable[tuple[str, float]]]


class SharedTokens(Protocol):
    """Where replicas keep one app's token (``key``) between them."""

    async def get(self, key: str) -> tuple[str, float] | None:
        """The stored token and the seconds it is still to be used for, or None."""
        ...

    async def put(self, key: str, token: str, usable_s: float) -> None:
        """Keep ``token`` for ``usable_s`` seconds."""
        ...

    async def forget(self, key: str, token: str) -> None:
        """Drop the stored token if it is still ``token`` (not one another replica put since)."""
        ...

    def fetching(self, key: str) -> AbstractAsyncContextManager[object]:
        """Held by one replica at a time while it fetches a new token."""
        ...


class CachedToken:
    """One app's access token, shared by every call of this process (and, once ``share`` is
    called, with the other replicas)."""

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
        self._shared: SharedTokens | None = None
        self._key = ""
        self.fetches = 0  # how many tokens were fetched (the check command and tests read it)

    def share(self, store: SharedTokens, key: str) -> None:
        """Keep the token in ``store`` under ``key`` from now on."""
        self._shared, self._key = store, key

    async def get(self) -> str:
        """The current token, fetched first when there is none or it is about to expire."""
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                if self._shared is None:
                    token, lifetime = await self._fetch()
                    self.fetches += 1
                    self._keep(token, max(0.0, lifetime - self._margin_s))
                else:
                    self._keep(*await self._from_store(self._shared))
            assert self._token is not None
            return self._token

    async def _from_store(self, store: SharedTokens) -> tuple[str, float]:
        stored = await store.get(self._key)
        if stored is not None:
            return stored
        async with store.fetching(self._key):
            stored = await store.get(self._key)  # another replica may have fetched meanwhile
            if stored is not None:
                return stored
            token, lifetime = await self._fetch()
            self.fetches += 1
            usable = max(0.0, lifetime - self._margin_s)
            await store.put(self._key, token, usable)
            return token, usable

    def _keep(self, token: str, usable_s: float) -> None:
        self._token = token
        self._expires_at = self._clock() + usable_s

    async def expire(self, token: str) -> None:
        """The app refused ``token`` as expired: forget it unless another call replaced it."""
        if self._token == token:
            self._token = None
        if self._shared is not None:
            await self._shared.forget(self._key, token)

    async def call(self, work: Callable[[str], Awaitable[T]], expired: Callable[[T], bool]) -> T:
        """``work(token)``; when its result says the token expired, once more with a new one."""
        token = await self.get()
        result = await work(token)
        if expired(result):
            await self.expire(token)
            result = await work(await self.get())
        return result
