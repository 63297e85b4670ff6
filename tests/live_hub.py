"""The hub served by uvicorn on a free port (real socket.io, real SQLite), for tests that need
real sockets: ``async with serving(settings) as hub`` in the test's event loop, or
``with serving_in_thread(asgi) as url`` for synchronous tests (Playwright's sync API,
schemathesis). Both wait for uvicorn's start-up to finish, not for a flag to be polled."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import socketio
import uvicorn

from bot.app import Settings, create_app
from tests.launch import free_port
from tests.test_webchat_channel import Hub

START_S = 60.0  # the longest wait for a hub to be serving


def hub_settings(var_dir: Path, **overrides: Any) -> Settings:
    """Settings of a hub with Rasa and the action server down (nothing listens there), unless
    ``overrides`` name their ports (a stand-in's)."""
    nobody = free_port()
    values = {"rasa_port": nobody, "actions_port": nobody, **overrides}
    return Settings(_env_file=None, var_dir=var_dir, **values)  # type: ignore[call-arg]


class AnnouncingServer(uvicorn.Server):
    """uvicorn with an event set once its start-up is over (listening, or failed)."""

    def __init__(self, app: Any, port: int, timeout_graceful_shutdown: int | None = None) -> None:
        # Idle keep-alive connections stay open for the whole test: with uvicorn's 5 s, a
        # client reusing a pooled connection just as the server closes it gets ECONNRESET
        # (Playwright's request API does not retry; seen in CI on a tracked-link GET).
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_keep_alive=300,
            timeout_graceful_shutdown=timeout_graceful_shutdown,
        )
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.ready.set()


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Hub]:
    app = create_app(settings)
    port = free_port()
    server = AnnouncingServer(socketio.ASGIApp(app.state.sio, other_asgi_app=app), port)
    task = asyncio.create_task(server.serve())
    try:
        # A hub's start-up (migrations, the catalogue) on a loaded 2-core machine took over 20 s.
        assert await asyncio.to_thread(server.ready.wait, START_S), "no start-up in time"
        assert server.started, "the hub did not start"
        yield Hub(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        await task


@contextmanager
def serving_in_thread(
    asgi: Any,
    start_timeout_s: float = START_S,
    port: int | None = None,
    timeout_graceful_shutdown: int | None = None,
) -> Iterator[str]:
    """``asgi`` served in a thread of its own (on ``port``, else a free one); its base URL.
    ``timeout_graceful_shutdown`` bounds the wait for requests still open at the end."""
    port = port or free_port()
    server = AnnouncingServer(asgi, port, timeout_graceful_shutdown)
    thread = threading.Thread(target=server.run, name="served-hub", daemon=True)
    thread.start()
    try:
        assert server.ready.wait(start_timeout_s), "no start-up in time"
        assert server.started, "the hub did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
