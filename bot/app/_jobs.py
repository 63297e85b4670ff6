"""Background jobs of the embedded default: periodic work run in the hub's event loop.

One hub runs them; with several hub replicas they move to a task queue (scale-out work). A job
that fails is logged and tried again at its next period; it never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """``run`` every ``every_s`` seconds, the first time ``first_after_s`` after start."""

    name: str
    every_s: float
    run: Callable[[], Awaitable[object]]
    first_after_s: float = 0.0


class Jobs:
    """Runs periodic jobs until stopped."""

    def __init__(self, jobs: list[Job]) -> None:
        self._jobs = jobs
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(job), name=job.name) for job in self._jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    @staticmethod
    async def _loop(job: Job) -> None:
        await asyncio.sleep(job.first_after_s)
        while True:
            try:
                await job.run()
            except Exception:
                logger.exception(
                    "Background job %s failed; it runs again in %.0f s", job.name, job.every_s
                )
            await asyncio.sleep(job.every_s)
