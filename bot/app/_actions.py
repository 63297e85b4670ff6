"""The action server: rasa-sdk serving the custom actions with the services built here.

rasa-sdk loads actions by package name and has no way to pass them dependencies, so the
wiring hands them their services (``actions.configure``) before the package is registered,
and serves in this one process (Sanic's worker processes would start without them).
"""

from __future__ import annotations

import logging

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor

import actions
from bot.app._container import order_service, recommend_service, ticket_service
from bot.app._feedback import OrderEvents
from bot.app._knowledge import SharedKnowledge
from bot.app._settings import Settings
from bot.privacy import AuditLog, ConsentService
from bot.storage import Database

logger = logging.getLogger(__name__)


def run_action_server(settings: Settings) -> None:
    """Serve the custom actions on ``actions_host:actions_port`` until stopped."""
    knowledge = SharedKnowledge(settings)
    # The hub migrates this database at its start; the action server reads and writes rows.
    database = Database(settings.hub_database_url)
    orders = order_service(settings)
    recommend = recommend_service(settings, database)
    # A return the customer asks for in the dialogue is a "return" event for recommendations.
    orders.subscribe(OrderEvents(recommend))
    actions.configure(
        actions.ActionServices(
            orders=orders,
            knowledge=knowledge.get,
            audit=AuditLog(database),
            recommend=recommend,
            consents=ConsentService(database),
            tickets=ticket_service(settings, database),
        )
    )
    executor = ActionExecutor()
    executor.register_package("actions")
    app = create_app(executor, cors_origins=[])
    logger.info("Action server listening on %s", settings.actions_url)
    try:
        app.run(
            host=settings.actions_host,
            port=settings.actions_port,
            single_process=True,
            access_log=False,
            motd=False,
        )
    finally:
        knowledge.close()
        database.dispose()
