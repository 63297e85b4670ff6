"""The hub's application factory: wires storage, the dialogue client and the channels together."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Literal

import httpx
import socketio
from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, SecretStr
from starlette.types import ASGIApp, Message

from bot.app._analytics import Analytics, build_analytics
from bot.app._apps import app_jobs, mount_apps, reach_outside_windows
from bot.app._churn_features import churn_context
from bot.app._churn_job import churn_jobs
from bot.app._container import (
    HubServices,
    build_hub_services,
    order_service,
    prepare_recommendations,
    rate_limiter,
)
from bot.app._exposure import check_exposure, console_cookies_secure
from bot.app._feedback import OrderEvents
from bot.app._identity import linked_conversations
from bot.app._jobs import Job, Jobs
from bot.app._knowledge import uploads_dir
from bot.app._logs import configure_logging
from bot.app._marketing import CampaignOrders
from bot.app._nlu_retrain import NluRetrainer
from bot.app._rasa_events import RasaEvents, intent_recorder
from bot.app._scale import ConsoleRelay, RedisJobLease
from bot.app._settings import Settings
from bot.app._ticket_notices import deliver_ticket_notices
from bot.conversations import ConversationEvent, ConversationService, Listener, customer_id
from bot.handoff import AgentDirectory, AgentProfile
from bot.insights import load_sentiment_libraries, painpoints_csv, report_csv
from bot.marketing import OPT_OUT_CONFIRMATION, MarketingService, is_opt_out
from bot.privacy import anonymous_sender
from bot.tickets import TicketService
from channels import admin, console, rest, webchat, widget
from channels.connector import (
    API_KEY,
    BodySizeLimit,
    SocketOrigins,
    bearer_guard,
    install_error_handlers,
    upload_limits,
)
from knowledge import set_embedding_threads

logger = logging.getLogger(__name__)

# How often expired console sessions are deleted (a socket is dropped at its session's expiry
# anyway; this keeps the table small).
SESSION_PURGE_S = 3600.0
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
    check_exposure(settings)
    set_embedding_threads(settings.embedding_threads)
    hub = build_hub_services(settings)
    relay = ConsoleRelay(hub.redis) if hub.redis is not None else None
    dispatcher = console.Dispatcher(hub.handoffs, relay=relay.publish if relay else None)
    hub.conversations.events.subscribe(dispatcher.on_conversation_event)
    hub.conversations.events.subscribe(marketing_opt_outs(hub.conversations, hub.marketing))
    analytics = build_analytics(settings, hub.database, hub.tickets)
    limiter = rate_limiter(settings)
    rasa_events = (
        RasaEvents(settings.rabbitmq_url, settings.rasa_events_queue, intent_recorder(hub.database))
        if settings.scale and settings.rabbitmq_url
        else None
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await hub.database.migrate()
        await asyncio.to_thread(load_sentiment_libraries, settings.sentiment_tuned_zh)
        await hub.dialogue.start()
        await dispatcher.start()
        if relay is not None:
            await relay.start(dispatcher.relayed)
        await hub.media.start()
        await prepare_recommendations(hub.recommendations)
        if rasa_events is not None:
            await rasa_events.start()
        await jobs.start()
        await asyncio.to_thread(hub.database.open_pool)
        await build_routes(_app)
        logger.info("Hub listening on %s (%s profile)", settings.hub_url, settings.profile)
        yield
        await jobs.stop()
        if rasa_events is not None:
            await rasa_events.stop()
        if relay is not None:
            await relay.stop()
        await apps.close()
        hub.outbox.close()
        await hub.media.stop()
        await dispatcher.stop()
        await hub.conversations.settle()
        await hub.dialogue.close()
        hub.tracker_events.dispose()
        await asyncio.to_thread(hub.knowledge.close)
        hub.database.dispose()
        if hub.redis is not None:
            await hub.redis.aclose()

    app = FastAPI(title="Customer-service assistant hub", version="0.1.0", lifespan=lifespan)
    app.state.services = hub  # for tests and the CLI; adapters get only what they need
    app.state.analytics = analytics  # for tests and benchmarks
    app.state.rasa_events = rasa_events
    app.state.limiter = limiter  # for tests and benchmarks
    chat_sessions = webchat.WebchatSessions(hub.database)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_request_bytes,
        path_limits={
            **admin.upload_limit(settings.max_upload_bytes),
            **upload_limits(settings.media_max_upload_bytes),
        },
    )
    app.add_middleware(
        webchat.WebchatCORS, origins=webchat.allowed_origins(settings.webchat_origins)
    )
    install_error_handlers(app)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        rasa_ok, actions_ok = await asyncio.gather(
            hub.dialogue.rasa_healthy(), hub.dialogue.actions_healthy()
        )
        return Health(
            status="ok" if rasa_ok and actions_ok else "degraded",
            rasa="ok" if rasa_ok else "down",
            actions="ok" if actions_ok else "down",
        )

    guards = [Depends(_api_key_guard(settings.api_key))] if settings.api_key else []
    # What the OpenAPI document declares of the routes whose own dependencies read the request
    # (the shop's key, or an agent's console session): alternatives, either one will do.
    key_only = [Security(API_KEY)]
    key_or_session = [Security(API_KEY), Security(console.SESSION)]
    # The admin routes: the admin token, or an admin's console session.
    admin_only = [Depends(limiter.admin_guard()), Security(console.SESSION)]
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
    console_admin = _console_admin(hub.agents)
    app.include_router(
        rest.build_tickets_router(
            hub.tickets, _ticket_callers(settings.api_key, hub.agents), hub.audit
        ),
        dependencies=key_or_session,
    )
    app.include_router(
        rest.build_router(
            hub.conversations,
            limiter,
            settings.default_language,
            # With the key, callers are the shop's servers speaking for many customers.
            limit_addresses=settings.api_key is None,
            tickets=hub.tickets,
        ),
        dependencies=guards,
    )
    app.include_router(
        rest.build_media_router(
            hub.media,
            settings.default_language,
            limiter,
            api_key_set=settings.api_key is not None,
            guards=guards,
        )
    )
    app.include_router(
        admin.build_router(
            admin.AdminServices(
                knowledge=hub.knowledge.get,
                uploads=uploads_dir(settings),
                max_upload_bytes=settings.max_upload_bytes,
                knowledge_gaps=hub.knowledge_gaps,
                token=admin_token,
                console_admin=console_admin,
            )
        ),
        dependencies=admin_only,
    )
    app.include_router(
        admin.build_privacy_router(hub.personal_data, hub.audit, admin_token, console_admin),
        dependencies=admin_only,
    )
    app.include_router(
        rest.build_privacy_router(hub.personal_data, _customer_vouch(settings.api_key)),
        dependencies=key_only,
    )
    app.include_router(
        rest.build_marketing_router(
            hub.marketing,
            hub.copy_desk,
            _marketing_vouch(settings.api_key, hub.agents),
            hub.campaigns,
            hub.budget,
        ),
        dependencies=key_or_session,
    )
    app.include_router(rest.build_campaign_links_router(hub.campaigns))
    # The export a customer asked for in the chat: the signed link is the only key.
    app.include_router(rest.build_download_router(hub.chat_privacy, limiter))
    # Orders the shop's own checkout reports: credited to the campaign that last reached the
    # customer, and purchase events for recommendations (and the marketing triggers).
    orders = order_service(settings)
    campaign_orders = CampaignOrders(hub.campaigns)
    app.state.order_listeners = (OrderEvents(hub.recommendations), campaign_orders)
    for listener in app.state.order_listeners:
        orders.subscribe(listener)
    app.include_router(
        rest.build_orders_router(
            orders, _closed_without_key(settings.api_key, "orders"), campaign_orders
        ),
        dependencies=key_only,
    )
    app.include_router(
        rest.build_events_router(
            hub.recommendations, _closed_without_key(settings.api_key, "events")
        ),
        dependencies=key_only,
    )
    desk = console.ConsoleServices(
        conversations=hub.conversations,
        handoffs=hub.handoffs,
        agents=hub.agents,
        attachments=hub.media.store,
        session=timedelta(hours=settings.agent_session_hours),
        knowledge_gaps=hub.knowledge_gaps,
        tracker=hub.dialogue.tracker,
        audit=hub.audit,
        secure_cookies=console_cookies_secure(settings),
        tickets=hub.tickets,
    )
    pages, console_static = console.build_pages()
    app.include_router(pages)
    app.mount("/console/static", console_static, name="console-static")
    context = console.ContextBuilder(
        desk,
        orders=hub.customers.orders,
        suggest=hub.customers.suggestions,
        summarize=hub.summarizer.summarize,
        churn=churn_context(hub.churn_scores),
        linked=(
            linked_conversations(hub.conversations, hub.identities)
            if hub.identities is not None
            else None
        ),
    )
    app.include_router(console.build_router(desk, dispatcher, context))
    app.include_router(console.build_outbox_router(hub.agents, hub.outbox))
    if hub.corrections is not None:
        app.include_router(
            console.build_corrections_router(
                hub.agents,
                hub.handoffs,
                hub.corrections,
                console.ConsoleReads(hub.conversations, hub.audit),
            )
        )
    app.include_router(
        console.build_analytics_router(
            console.AnalyticsRoutes(
                report=analytics.service.report,
                report_csv=report_csv,
                painpoints=analytics.painpoints.report,
                painpoints_csv=painpoints_csv,
                agents=hub.agents,
                api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            )
        ),
        dependencies=key_or_session,
    )
    app.mount("/static/vendor", StaticFiles(directory=VENDOR), name="vendor")
    app.include_router(
        webchat.build_router(hub.media, chat_sessions, settings.default_language, limiter)
    )
    demo_page, widget_static = widget.build_pages()
    app.include_router(demo_page)
    app.mount("/widget", widget_static, name="widget")
    # One socket.io server for every live channel (web chat, agent console), each on its own
    # namespace; create_asgi() puts it in front of this app. Sockets open from the hub's own
    # pages and from the sites of BOT_WEBCHAT_ORIGINS (their polling handshake gets
    # Access-Control-Allow-Origin), without credentials: the widget needs no cookies and the
    # console's namespace takes its own origin only.
    # Replicas share rooms through Redis: an emit on one reaches sockets on every replica.
    manager = socketio.AsyncRedisManager(settings.redis_url) if settings.scale else None
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=manager,
        cors_allowed_origins=SocketOrigins(webchat.allowed_origins(settings.webchat_origins)),
        cors_credentials=False,
        logger=False,
    )
    live_console = console.ConsoleNamespace(desk, dispatcher)
    sio.register_namespace(live_console)
    chat = webchat.WebchatNamespace(
        hub.conversations,
        chat_sessions,
        settings.default_language,
        limiter,
        recommendations=hub.recommendations,
        identity=webchat.CustomerIdentity(
            settings.webchat_identity_secret.get_secret_value()
            if settings.webchat_identity_secret is not None
            else None,
            settings.webchat_identity_max_age_s,
        ),
    )
    hub.media.subscribe(chat.media_read)
    sio.register_namespace(chat)
    app.state.sio = sio
    # Messaging apps (WeChat…): each one mounted only when its settings are complete.
    apps = mount_apps(app, hub)
    reach_outside_windows(settings, apps, hub.campaigns)
    app.state.apps = apps  # for tests and benchmarks
    jobs = Jobs(
        [
            *background_jobs(hub),
            *analytics_jobs(analytics, settings),
            *churn_jobs(hub),
            *app_jobs(settings, apps),
            ticket_list_watch(hub.tickets, live_console.tickets_changed),
        ],
        lease=RedisJobLease(hub.redis) if hub.redis else None,
    )
    app.state.jobs = jobs  # for tests
    return app


TICKET_WATCH_S = 0.5  # how soon an open ticket list learns of a new or changed ticket


def ticket_list_watch(tickets: TicketService, changed: Callable[[], Awaitable[None]]) -> Job:
    """Every half second, whether any ticket was opened or changed (three primary-key look-ups);
    if so the console's ticket lists reload. A sweep of the shared database rather than an
    in-process signal, so a change made on any replica (or by the action server) is seen."""
    last: tuple[int, int, int] | None = None

    async def check() -> None:
        nonlocal last
        mark = await tickets.change_mark()
        if last is not None and mark != last:
            await changed()
        last = mark

    return Job("ticket-list-watch", TICKET_WATCH_S, check)


def create_asgi(settings: Settings | None = None) -> ASGIApp:
    """The hub as uvicorn serves it: socket.io in front of the FastAPI app."""
    app = create_app(settings)
    asgi: ASGIApp = socketio.ASGIApp(app.state.sio, other_asgi_app=app)
    return asgi


def background_jobs(hub: HubServices) -> list[Job]:
    """The hub's periodic work: SLA breaches, ticket news for web-chat customers, ticket
    webhooks, the ticket list's statistics,
    recommendation models retrained and picked up, the retention of personal data, and expired
    console sessions."""
    settings = hub.settings
    jobs = [
        Job("console-sessions", SESSION_PURGE_S, hub.agents.purge_expired_sessions),
        Job("ticket-sla", settings.ticket_sla_check_s, hub.tickets.run_sla_check),
        Job("ticket-statistics", 24 * 3600.0, hub.tickets.refresh_statistics),
        Job(
            "ticket-notices",
            settings.ticket_notice_check_s,
            partial(deliver_ticket_notices, hub.tickets, hub.conversations),
        ),
        # Every replica loads the newest model it serves.
        Job(
            "recommend-refresh",
            settings.recommend_refresh_s,
            hub.recommendations.refresh,
            per_replica=True,
        ),
        # Not at start: a hub restart should not retrain (python -m bot recommend train does).
        Job(
            "recommend-train",
            settings.recommend_retrain_hours * 3600,
            hub.recommendations.train,
            first_after_s=settings.recommend_retrain_hours * 3600,
        ),
        Job(
            "privacy-retention",
            settings.retention_check_s,
            partial(hub.retention.run, dry_run=False),
        ),
        Job(
            "marketing-campaigns",
            settings.marketing_send_every_s,
            hub.campaigns.run_due,
            first_after_s=settings.marketing_send_every_s,
        ),
    ]
    if settings.nlu_retrain_every_h > 0 and hub.corrections is not None:
        token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
        retrainer = NluRetrainer(
            settings.rasa_toolchain,
            hub.corrections,
            settings.rasa_replica_urls,
            token,
            tolerance=settings.nlu_swap_tolerance,
        )
        every = settings.nlu_retrain_every_h * 3600
        # Not at start: a hub restart should not retrain (python -m bot train does).
        jobs.append(Job("nlu-retrain", every, retrainer.run, first_after_s=every))
    if hub.settings.ticket_webhook_url:

        async def deliver() -> object:
            async with httpx.AsyncClient() as client:
                return await hub.tickets.deliver_webhooks(client)

        jobs.append(Job("ticket-webhooks", 30.0, deliver))
    return jobs


def analytics_jobs(analytics: Analytics, settings: Settings) -> list[Job]:
    """The analytics rollup's recent days recomputed, and new negative messages embedded for
    pain points (a few batches a run: embedding is slow on a small CPU)."""
    return [
        Job("analytics-rollup", settings.analytics_refresh_s, analytics.service.refresh),
        Job("painpoint-vectors", settings.analytics_refresh_s, analytics.painpoints.embed_pending),
    ]


def _ticket_callers(api_key: SecretStr | None, agents: AgentDirectory) -> rest.Authorize:
    """Who may use ``/api/tickets``: an agent logged in to the console (their session cookie,
    and on a change the CSRF token as the console API wants it), or the shop's back end with
    ``BOT_API_KEY`` (every scope). Without either the API stays closed: tickets hold customers'
    personal data."""

    def authorize(scope: str) -> Callable[[Request], Awaitable[rest.TicketCaller]]:
        async def caller(request: Request) -> rest.TicketCaller:
            token = request.cookies.get(console.COOKIE)
            if token and "authorization" not in request.headers:
                return await _console_caller(request, token, agents)
            if api_key is None:
                raise HTTPException(
                    status_code=403,
                    detail="the ticket API is closed: set BOT_API_KEY and send it as "
                    "'Authorization: Bearer <key>'",
                )
            await _api_key_guard(api_key)(request)
            return rest.TicketCaller(actor="api", supervisor=True)

        return caller

    return authorize


def _marketing_vouch(
    api_key: SecretStr | None, agents: AgentDirectory
) -> Callable[[Request], Awaitable[None]]:
    """Who may use ``/api/marketing``: the shop's back end with ``BOT_API_KEY``, or a supervisor
    logged in to the console (the marketing page; the CSRF token on a change). Nobody else:
    the audience is customers' personal data."""
    closed = _closed_without_key(api_key, "marketing")

    async def vouch(request: Request) -> None:
        token = request.cookies.get(console.COOKIE)
        if token and "authorization" not in request.headers:
            agent = await _console_agent(request, token, agents)
            if not agent.supervises:
                raise HTTPException(status_code=403, detail="marketing is for supervisors")
            return
        await closed(request)

    return vouch


async def _console_agent(request: Request, token: str, agents: AgentDirectory) -> AgentProfile:
    """The agent whose live console session ``token`` is; on a change, with the console API's
    CSRF token too (401 or 403 otherwise)."""
    found = await agents.agent_for_token(token)
    if found is None:
        raise HTTPException(
            status_code=401, detail="the console session has expired: log in to the console again"
        )
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        # The console API's double-submit check: another site can send the cookies but can
        # neither read the token nor set the header.
        cookie = request.cookies.get(console.CSRF_COOKIE, "")
        header = request.headers.get(console.CSRF_HEADER, "")
        if not cookie or not header or not secrets.compare_digest(cookie, header):
            raise HTTPException(
                status_code=403,
                detail=f"missing or wrong CSRF token: send the '{console.CSRF_COOKIE}' cookie's "
                f"value in the header '{console.CSRF_HEADER}'",
            )
    return found


async def _console_caller(
    request: Request, token: str, agents: AgentDirectory
) -> rest.TicketCaller:
    """The console's agent calling ``/api/tickets``; history names them ``agent:<username>``."""
    agent = await _console_agent(request, token, agents)
    return rest.TicketCaller(
        actor=f"agent:{agent.username}",
        supervisor=agent.supervises,
        agent_id=agent.id,
    )


def _console_admin(agents: AgentDirectory) -> admin.ConsoleAdmin:
    """An admin's console session as the admin API's caller (named by agent id in the audit
    log, as the console's reads are); another role's session is refused, not tried as a token."""

    async def caller(request: Request) -> str | None:
        token = request.cookies.get(console.COOKIE)
        if not token:
            return None
        agent = await _console_agent(request, token, agents)
        if not agent.administers:
            raise HTTPException(
                status_code=403,
                detail="the admin API is for admins: ask an admin to give you the admin role "
                "(python -m bot agents add --role admin), or send the admin token",
            )
        return str(agent.id)

    return caller


def _customer_vouch(api_key: SecretStr | None) -> Callable[[Request], Awaitable[None]]:
    """Who may ask for a customer's export or erasure on ``/api/privacy``: the shop's back end
    with ``BOT_API_KEY``, for its logged-in customer. Without the key the routes stay closed."""
    if api_key is not None:
        return _api_key_guard(api_key)

    async def closed(_request: Request) -> None:
        raise HTTPException(
            status_code=403,
            detail="the privacy API is closed: set BOT_API_KEY and send it as "
            "'Authorization: Bearer <key>'",
        )

    return closed


def _closed_without_key(
    api_key: SecretStr | None, api: str
) -> Callable[[Request], Awaitable[None]]:
    """The shop's back end with ``BOT_API_KEY``; without the key the API stays closed."""
    if api_key is not None:
        return _api_key_guard(api_key)

    async def closed(_request: Request) -> None:
        raise HTTPException(
            status_code=403,
            detail=f"the {api} API is closed: set BOT_API_KEY and send it as "
            "'Authorization: Bearer <key>'",
        )

    return closed


def marketing_opt_outs(conversations: ConversationService, marketing: MarketingService) -> Listener:
    """A listener that opts a customer out of marketing on the channel they wrote "退订",
    "STOP" or "unsubscribe" on (the whole message), at once, and confirms it in the
    conversation as a system message. The message still reaches the dialogue as usual."""

    async def on_event(event: ConversationEvent) -> None:
        message = event.message
        if event.kind != "message" or message is None or message.direction != "in":
            return
        if not is_opt_out(message.text):
            return
        sender = await conversations.sender_of(event.conversation_id)
        language = "en" if message.language == "en" else "zh"
        if anonymous_sender(event.channel, sender):
            # Nothing to revoke: an anonymous web-chat session can give no consent, and its id
            # is the browser's own choice, which may equal an identified customer's id.
            confirmation = OPT_OUT_CONFIRMATION[language]
        else:
            # Marketing names a customer the channel vouches for by the shop's id (an identified
            # web-chat customer's contact), any other by their sender on the channel.
            customer = customer_id(event.channel, sender) or sender
            confirmation = await marketing.opt_out(customer, event.channel, language)
        await conversations.post(event.conversation_id, confirmation, author="system")

    return on_event


def _api_key_guard(api_key: SecretStr) -> Callable[..., Awaitable[None]]:
    """A dependency that checks the header ``Authorization: Bearer <key>``."""
    return bearer_guard(
        api_key.get_secret_value(),
        wrong="missing or wrong API key; send the header 'Authorization: Bearer <key>'",
        declared=API_KEY,
    )


async def build_routes(app: FastAPI) -> int:
    """Have FastAPI build every route before the first customer does; the status answered.

    FastAPI builds a router's routes (their parameter validators) on the first request that
    scans them: on this hub's ~90 routes that cost the first webhook after a start about
    100 ms, which every customer writing at that moment waited for. A request to a path no
    route has scans them all; it goes to the router alone (no middleware, nothing logged).
    """
    path = "/-/build-routes"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
    }
    answered: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        answered.append(message)

    await app.router(scope, receive, send)
    return int(next(m["status"] for m in answered if m["type"] == "http.response.start"))
