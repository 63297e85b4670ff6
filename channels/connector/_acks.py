"""Acknowledgements first: the apps' webhooks are answered before deliveries are handled.

An app waits for its webhook's answer (WeChat 5 s, Slack 3 s) and retries without one, while the
customer waits for the bot's reply anyway. Handling a delivery (storing it in its conversation,
scoring its sentiment, asking Rasa) shares the hub's event loop and interpreter lock with the
acknowledgements of the webhooks still arriving; in a burst of 50 customers' first messages,
deliveries handled at once made the last acknowledgements wait for them (p95 180-340 ms against
87-130 ms with handling held back, ``bench/channels.py``, quiet 2-core machine). So a delivery's
handling waits while any app webhook is being answered in this process, at most ``max_wait_s``:
a steady stream of webhooks must not hold replies back for longer.

Hand-written: an ASGI middleware and an asyncio event; no library orders work this way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from starlette.types import ASGIApp, Receive, Scope, Send

MAX_WAIT_S = 0.5


class AckFirst:
    """Counts the app webhooks being answered; handling waits for none to be."""

    def __init__(self, max_wait_s: float = MAX_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self._answering = 0
        self._waiting = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def answering(self) -> int:
        """Webhooks being answered now."""
        return self._answering

    @property
    def waiting(self) -> int:
        """Deliveries whose handling waits for its turn now."""
        return self._waiting

    @contextlib.contextmanager
    def answering_one(self) -> Iterator[None]:
        """While one webhook is being answered."""
        self._answering += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._answering -= 1
            if self._answering == 0:
                self._idle.set()

    async def turn(self) -> None:
        """Return once no webhook is being answered, or after ``max_wait_s`` at the latest."""
        if self._idle.is_set():
            return
        self._waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.max_wait_s)
        finally:
            self._waiting -= 1


class AckFirstMiddleware:
    """Marks every HTTP request under ``prefix`` (the apps' webhooks) as being answered."""

    def __init__(self, app: ASGIApp, gate: AckFirst, prefix: str = "/channels/") -> None:
        self.app = app
        self.gate = gate
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        with self.gate.answering_one():
            await self.app(scope, receive, send)
