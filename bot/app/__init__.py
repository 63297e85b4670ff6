"""Wiring: the settings (loaded once), the composition root, the hub's application factory, the
action server, the one command line and the supervisor. Only this layer constructs services."""

from bot.app._cli import app
from bot.app._container import (
    HubServices,
    build_hub_services,
    ensure_recommendation_model,
    order_service,
    recommend_service,
    speech_engine,
    ticket_service,
    unattended_tickets,
)
from bot.app._customers import CustomerFacts
from bot.app._feedback import OrderEvents
from bot.app._hub import background_jobs, create_app, create_asgi
from bot.app._knowledge import (
    SharedKnowledge,
    ingest_sources,
    knowledge_config,
    open_knowledge_base,
    uploads_dir,
)
from bot.app._settings import Settings
from bot.app._supervisor import ProcessSpec, Supervisor, platform_processes
from bot.app._ticket_notices import deliver_ticket_notices
from bot.dialogue import PROJECT_ROOT

__all__ = [
    "PROJECT_ROOT",
    "CustomerFacts",
    "HubServices",
    "OrderEvents",
    "ProcessSpec",
    "Settings",
    "SharedKnowledge",
    "Supervisor",
    "app",
    "background_jobs",
    "build_hub_services",
    "create_app",
    "create_asgi",
    "deliver_ticket_notices",
    "ensure_recommendation_model",
    "ingest_sources",
    "knowledge_config",
    "open_knowledge_base",
    "order_service",
    "platform_processes",
    "recommend_service",
    "speech_engine",
    "ticket_service",
    "unattended_tickets",
    "uploads_dir",
]
