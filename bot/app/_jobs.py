"""Background jobs: periodic work run in the hub's event loop.

In the embedded default the one hub runs them all. With several hub replicas (the ``scale``
profile) every replica keeps the loops, but each run first takes the job's lease for one period
(``JobLease``, in Redis): one replica runs each period, and when it dies another takes over at
the next try after its lease expires. A job that fails is logged and tried again at its next
period; it never stops the others. Stopping lets a run in progress finish (up to
``STOP_GRACE_S``), so a shutdown does not abandon a half-done send or import.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)

# Within the supervisor's 7 s between SIGTERM and SIGKILL (bot/app/_supervisor.py).
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class Job:
    """``run`` every ``every_s`` seconds, the first time ``first_after_s`` after start;
    ``per_replica`` jobs (refreshing what one process serves) run on every replica."""

    name: str
    every_s: float
    run: Callable[[], Awaitable[object]]
    first_after_s: float = 0.0
    per_replica: bool = False


class JobLease(Protocol):
    """Who runs a job this period when several replicas could."""

    def hold(self, job: str, seconds: float) -> AbstractAsyncContextManager[bool]:
        """Yields True on the one replica that runs ``job`` for the next ``seconds``."""
        ...


class Jobs:
    """Runs periodic jobs until stopped; with a ``lease``, one replica per period runs each."""

    def __init__(self, jobs: list[Job], lease: JobLease | None = None) -> None:
        self._jobs = jobs
        self._lease = lease
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    @property
    def scheduled(self) -> tuple[Job, ...]:
        """The jobs these loops run."""
        return tuple(self._jobs)

    async def start(self) -> None:
        self._stopping = asyncio.Event()
        self._tasks = [asyncio.create_task(self._loop(job), name=job.name) for job in self._jobs]

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """End every loop: waiting ones at once, running ones when their run is done."""
        self._stopping.set()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace_s)
            for task in late:
                logger.warning("Background job %s cut short at shutdown", task.get_name())
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks = []

    async def _loop(self, job: Job) -> None:
        if await self._stopped_within(job.first_after_s):
            return
        while True:
            try:
                await self._run_once(job)
            except Exception:
                logger.exception(
                    "Background job %s failed; it runs again in %.0f s", job.name, job.every_s
                )
            if await self._stopped_within(job.every_s):
                return

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait ``seconds``; True as soon as the jobs are being stopped."""
        if self._stopping.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        return self._stopping.is_set()

    async def _run_once(self, job: Job) -> None:
        if self._lease is None or job.per_replica:
            await job.run()
            return
        async with self._lease.hold(job.name, job.every_s) as held:
            if held:
                await job.run()
            else:
                logger.debug("Job %s runs on another replica this period", job.name)
