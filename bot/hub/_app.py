"""The hub's application factory: wires storage, the dialogue client and the channels together."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Literal

import socketio
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, SecretStr
from starlette.types import ASGIApp

from bot import admin
from bot.conversations import ConversationService, HandoffPolicy
from bot.dialogue import RasaClient
from bot.handoff import AgentDirectory, BusinessHours, HandoffService
from bot.hub._errors import install_error_handlers
from bot.hub._limits import BodySizeLimit
from bot.hub._sources import CustomerSources
from bot.logs import configure_logging
from bot.orders import OrderService
from bot.services import HubServices
from bot.settings import Settings
from bot.storage import Database
from channels import console, intake, webchat, widget
from channels.console import ContextBuilder, build_pages
from channels.rest import build_router

logger = logging.getLogger(__name__)

VENDOR = Path(__file__).resolve().parents[2] / "channels" / "vendor"


class Health(BaseModel):
    """The hub is up; whether the processes it depends on are too."""

    status: Literal["ok", "degraded"]
    rasa: Literal["ok", "down"]
    actions: Literal["ok", "down"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the hub; uvicorn calls this with no arguments (``--factory``)."""
    settings = settings or Settings()
    configure_logging(settings.log_level)
    database = Database(settings.hub_database_url)
    token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
    dialogue = RasaClient(settings.rasa_url, settings.actions_url, settings.rasa_timeout_s, token)
    hours = BusinessHours.parse(settings.business_hours, settings.timezone)
    handoffs = HandoffService(database, hours)
    agents = AgentDirectory(database, timedelta(hours=settings.agent_session_hours))
    knowledge = admin.SharedKnowledge(settings)
    customers = CustomerSources(
        OrderService.from_settings(settings), knowledge, admin.knowledge_config(settings).llm
    )
    conversations = ConversationService(
        database,
        dialogue,
        handoffs,
        hours,
        max_text_chars=settings.max_text_chars,
        default_language=settings.default_language,
        policy=HandoffPolicy(
            sentiment_threshold=settings.sentiment_handoff_threshold,
            notice_interval=timedelta(seconds=settings.queue_notice_interval_s),
            business_hours=settings.business_hours,
        ),
        is_vip=customers.is_vip,
    )

    dispatcher = console.Dispatcher(handoffs)
    conversations.events.subscribe(dispatcher.on_conversation_event)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await database.migrate()
        await dialogue.start()
        await dispatcher.start()
        await media.start()
        logger.info("Hub listening on %s", settings.hub_url)
        yield
        await media.stop()
        await dispatcher.stop()
        await dialogue.close()
        await asyncio.to_thread(knowledge.close)
        database.dispose()

    app = FastAPI(title="Customer-service assistant hub", version="0.1.0", lifespan=lifespan)
    app.state.services = HubServices(
        settings, database, dialogue, conversations, handoffs, agents, hours
    )
    media = intake.build_intake(app.state.services)
    chat_sessions = webchat.WebchatSessions(database)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_request_bytes,
        path_limits={
            **admin.upload_limit(settings),
            **intake.upload_limits(settings.media_max_upload_bytes),
        },
    )
    app.add_middleware(
        webchat.WebchatCORS, origins=webchat.allowed_origins(settings.webchat_origins)
    )
    install_error_handlers(app)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        rasa_ok, actions_ok = await asyncio.gather(
            dialogue.rasa_healthy(), dialogue.actions_healthy()
        )
        return Health(
            status="ok" if rasa_ok and actions_ok else "degraded",
            rasa="ok" if rasa_ok else "down",
            actions="ok" if actions_ok else "down",
        )

    guards = [Depends(_api_key_guard(settings.api_key))] if settings.api_key else []
    app.include_router(build_router(conversations), dependencies=guards)
    app.include_router(admin.build_router(settings, knowledge, database))
    pages, console_static = build_pages()
    app.include_router(pages)
    app.mount("/console/static", console_static, name="console-static")
    context = ContextBuilder(
        app.state.services,
        orders=customers.orders,
        suggest=customers.suggestions,
        summarize_with=customers.summary,
    )
    app.include_router(console.build_router(dispatcher, context))
    app.mount("/static/vendor", StaticFiles(directory=VENDOR), name="vendor")
    app.include_router(intake.build_router(media, app.state.services, guards))
    app.include_router(webchat.build_router(media, chat_sessions, app.state.services))
    demo_page, widget_static = widget.build_pages()
    app.include_router(demo_page)
    app.mount("/widget", widget_static, name="widget")
    # One socket.io server for every live channel (web chat, agent console), each on its own
    # namespace; create_asgi() puts it in front of this app.
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[], logger=False)
    sio.register_namespace(console.ConsoleNamespace(app.state.services, dispatcher))
    chat = webchat.WebchatNamespace(app.state.services, chat_sessions)
    media.subscribe(chat.media_read)
    sio.register_namespace(chat)
    app.state.sio = sio
    app.state.knowledge = knowledge
    return app


def create_asgi(settings: Settings | None = None) -> ASGIApp:
    """The hub as uvicorn serves it: socket.io in front of the FastAPI app."""
    app = create_app(settings)
    asgi: ASGIApp = socketio.ASGIApp(app.state.sio, other_asgi_app=app)
    return asgi


def _api_key_guard(api_key: SecretStr) -> Callable[[Request], Awaitable[None]]:
    """A dependency that checks the header ``Authorization: Bearer <key>``."""
    expected = api_key.get_secret_value()

    async def guard(request: Request) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given, expected):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong API key; send the header 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return guard
