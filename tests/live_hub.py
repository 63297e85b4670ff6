"""The hub served in-process by uvicorn on a free port (real socket.io, real SQLite), for tests
that need real sockets: ``async with serving(settings) as hub``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import socketio
import uvicorn

from bot.app import Settings, create_app
from tests.launch import free_port
from tests.test_webchat_channel import WAIT_S, Hub


def hub_settings(var_dir: Path, **overrides: Any) -> Settings:
    """Settings of a hub with Rasa and the action server down (nothing listens there)."""
    nobody = free_port()
    return Settings(  # type: ignore[call-arg]
        _env_file=None, var_dir=var_dir, rasa_port=nobody, actions_port=nobody, **overrides
    )


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[Hub]:
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            socketio.ASGIApp(app.state.sio, other_asgi_app=app),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(WAIT_S):
            while not server.started:  # noqa: ASYNC110 - uvicorn sets a flag, it has no event
                await asyncio.sleep(0.05)
        yield Hub(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        await task
