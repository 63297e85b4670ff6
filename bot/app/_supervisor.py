"""Starts the platform's processes, waits until each is healthy, restarts crashed ones, stops all.

Each child runs in its own process group so that stopping it also stops the workers it forks
(Sanic starts one); the kernel sends it SIGTERM if the supervisor itself dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import re
import secrets
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import SecretStr

from bot.app._rasa_runtime import rasa_runtime_environment, write_rasa_runtime_files
from bot.app._settings import Settings
from bot.app.rasa_main import TOKEN_ENV
from bot.dialogue import PROJECT_ROOT, rasa_environment

logger = logging.getLogger(__name__)

RASA_MAIN = Path(__file__).with_name("rasa_main.py")

STOP_GRACE_S = 7.0  # SIGTERM, then SIGKILL after this: everything is down within 10 s
HEALTH_POLL_S = 0.5
STABLE_AFTER_S = 60.0  # a process that ran this long has its restart backoff reset
_PR_SET_PDEATHSIG = 1


@dataclass
class ProcessSpec:
    """How to start one child process and how to tell that it is healthy."""

    name: str
    command: Sequence[str]
    health_url: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = PROJECT_ROOT


def platform_processes(settings: Settings, model: Path) -> list[ProcessSpec]:
    """The three processes of the platform: Rasa, the action server and the hub."""
    endpoints, credentials = write_rasa_runtime_files(settings)
    python = sys.executable
    child_env = {"BOT_" + k.upper(): str(v) for k, v in _passed_settings(settings).items()}
    # Rasa's HTTP API (pause, resume, trackers) is token-protected; a fresh token per run unless
    # one is configured. It travels in the environment, never on a command line (rasa_main.py).
    token = settings.rasa_token.get_secret_value() if settings.rasa_token else secrets.token_hex(24)
    child_env["BOT_RASA_TOKEN"] = token
    return [
        ProcessSpec(
            name="rasa",
            command=[
                str(settings.rasa_python),
                str(RASA_MAIN),
                "run",
                "--model",
                str(model),
                "--endpoints",
                str(endpoints),
                "--credentials",
                str(credentials),
                "--interface",
                settings.rasa_host,
                "--port",
                str(settings.rasa_port),
                "--enable-api",
            ],
            health_url=f"{settings.rasa_url}/",
            env={
                **rasa_environment(settings.rasa_toolchain),
                **rasa_runtime_environment(settings),
                TOKEN_ENV: token,
            },
        ),
        ProcessSpec(
            name="actions",
            command=[
                python,
                "-m",
                "bot",
                "actions",
            ],
            health_url=f"{settings.actions_url}/health",
            env={
                **os.environ,
                **child_env,
                "SANIC_HOST": settings.actions_host,
                "PYTHONPATH": str(PROJECT_ROOT),
            },
        ),
        ProcessSpec(
            name="hub",
            command=[
                python,
                "-m",
                "uvicorn",
                "bot.app:create_asgi",
                "--factory",
                "--host",
                settings.host,
                "--port",
                str(settings.port),
                "--no-access-log",
                "--log-level",
                settings.log_level.lower(),
            ],
            health_url=f"{settings.hub_url}/healthz",
            env={**os.environ, **child_env, "PYTHONPATH": str(PROJECT_ROOT)},
        ),
    ]


def _passed_settings(settings: Settings) -> dict[str, object]:
    """Settings given to the supervisor that its children must see too (those set explicitly)."""
    passed: dict[str, object] = {}
    for name in settings.model_fields_set:
        value = getattr(settings, name)
        if value is not None:
            passed[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return passed


class Supervisor:
    """Keeps a set of child processes running until asked to stop."""

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        startup_timeout_s: float,
        backoff_max_s: float,
        stop_grace_s: float = STOP_GRACE_S,
        pid_dir: Path | None = None,
        ready_message: str = "",
    ) -> None:
        self._specs = list(specs)
        self._startup_timeout = startup_timeout_s
        self._backoff_max = backoff_max_s
        self._stop_grace = stop_grace_s
        self._pid_dir = pid_dir
        self._ready_message = ready_message
        self._stopping = asyncio.Event()
        self._processes: dict[str, asyncio.subprocess.Process] = {}
        self._healthy: dict[str, asyncio.Event] = {s.name: asyncio.Event() for s in specs}
        self._relays: set[asyncio.Task[None]] = set()

    def pids(self) -> dict[str, int]:
        """Process ids of the children started last, by name."""
        return {name: process.pid for name, process in self._processes.items()}

    def request_stop(self) -> None:
        """Ask every child to stop (what SIGINT and SIGTERM do)."""
        if not self._stopping.is_set():
            logger.info("Stopping all processes")
        self._stopping.set()

    async def run(self) -> None:
        """Run until ``request_stop``; then stop every child (SIGKILL after a grace period)."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_stop)
        async with httpx.AsyncClient() as http:
            watchers = [asyncio.create_task(self._watch(spec, http)) for spec in self._specs]
            announcer = asyncio.create_task(self._announce_ready())
            await self._stopping.wait()
            announcer.cancel()
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, announcer, return_exceptions=True)
            await asyncio.gather(*(self._stop(name) for name in list(self._processes)))
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        logger.info("All processes stopped")

    async def _announce_ready(self) -> None:
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(event.wait() for event in self._healthy.values()))
        elapsed = asyncio.get_running_loop().time() - started
        logger.info("All processes healthy after %.1f s. %s", elapsed, self._ready_message)

    async def _watch(self, spec: ProcessSpec, http: httpx.AsyncClient) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping.is_set():
            started = loop.time()
            process = await self._spawn(spec)
            health = asyncio.create_task(self._await_health(spec, process, http))
            code = await process.wait()
            health.cancel()
            self._healthy[spec.name].clear()
            if self._stopping.is_set():
                return
            uptime = loop.time() - started
            failures = 1 if uptime >= STABLE_AFTER_S else failures + 1
            delay = min(self._backoff_max, 2.0 ** (failures - 1))
            logger.error(
                "%s exited with code %s after %.1f s; restarting in %.0f s (attempt %d)",
                spec.name,
                code,
                uptime,
                delay,
                failures,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    async def _spawn(self, spec: ProcessSpec) -> asyncio.subprocess.Process:
        logger.info("Starting %s", spec.name)
        process = await asyncio.create_subprocess_exec(
            *spec.command,
            cwd=spec.cwd,
            env=spec.env or None,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            limit=1 << 20,
        )
        self._processes[spec.name] = process
        if self._pid_dir is not None:
            self._pid_dir.mkdir(parents=True, exist_ok=True)
            (self._pid_dir / f"{spec.name}.pid").write_text(f"{process.pid}\n")
        assert process.stdout is not None
        relay = asyncio.create_task(_relay_output(spec.name, process.stdout))
        self._relays.add(relay)
        relay.add_done_callback(self._relays.discard)
        return process

    async def _await_health(
        self, spec: ProcessSpec, process: asyncio.subprocess.Process, http: httpx.AsyncClient
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._startup_timeout
        started = loop.time()
        while loop.time() < deadline:
            try:
                status = (await http.get(spec.health_url, timeout=2.0)).status_code
            except httpx.HTTPError:
                status = None  # not listening yet; poll again
            if status == 200:
                logger.info("%s is healthy (%.1f s)", spec.name, loop.time() - started)
                self._healthy[spec.name].set()
                return
            await asyncio.sleep(HEALTH_POLL_S)
        logger.error(
            "%s did not become healthy within %.0f s; restarting it",
            spec.name,
            self._startup_timeout,
        )
        _signal_group(process, signal.SIGKILL)

    async def _stop(self, name: str) -> None:
        process = self._processes[name]
        if process.returncode is not None:
            return
        _signal_group(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=self._stop_grace)
        except TimeoutError:
            logger.warning("%s did not stop within %.0f s; killing it", name, self._stop_grace)
            _signal_group(process, signal.SIGKILL)
            await process.wait()
        # Workers a child forked share its process group; make sure none outlives it.
        _signal_group(process, signal.SIGKILL)


def _signal_group(process: asyncio.subprocess.Process, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _die_with_parent() -> None:
    """In the child, before exec: ask the kernel for SIGTERM when the supervisor dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# A log record's first line as the children print it: ours (``LOG_FORMAT``), Rasa's and
# Sanic's all start with the date, the time and the level name.
_RECORD_START = re.compile(
    r"^\[?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}[^ \]]*(?: [+-]\d{4})?\]? (?:\[\d+\] )?\[?"
    r"(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b"
)


def relayed_level(line: str, previous: int) -> int:
    """The level to relay a child's output line at: its record's own level when the line starts
    a log record, else the level of the record it continues (a traceback goes on the error's
    level); output before any record is INFO. So a child's warnings and errors still show when
    the supervisor's level is WARNING, and its INFO lines are not raised."""
    match = _RECORD_START.match(line)
    return logging.getLevelNamesMapping()[match.group(1)] if match else previous


async def _relay_output(name: str, stream: asyncio.StreamReader) -> None:
    """Log each line a child prints under ``bot.supervisor.<name>``, at the line's own level."""
    child_logger = logging.getLogger(f"{__name__}.{name}")
    level = logging.INFO
    while True:
        try:
            line = await stream.readline()
        except ValueError:  # a line over the stream limit: skip what is buffered
            child_logger.warning("(an over-long output line was dropped)")
            continue
        if not line:
            return
        text = line.decode("utf-8", errors="replace").rstrip()
        if text:
            level = relayed_level(text, level)
            child_logger.log(level, "%s", text)
