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
from bot.app._container import (
    marketing_config,
    order_service,
    recommend_service,
    ticket_service,
)
from bot.app._feedback import OrderEvents
from bot.app._knowledge import SharedKnowledge
from bot.app._marketing import CampaignOrders, campaigns_of
from bot.app._settings import Settings
from bot.marketing import MarketingService
from bot.privacy import AuditLog, ConsentService
from bot.storage import Database
from knowledge import set_embedding_threads

logger = logging.getLogger(__name__)


def run_action_server(settings: Settings) -> None:
    """Serve the custom actions on ``actions_host:actions_port`` until stopped."""
    set_embedding_threads(settings.embedding_threads)
    knowledge = SharedKnowledge(settings)
    # The hub migrates this database at its start; the action server reads and writes rows.
    database = Database(settings.hub_database_url)
    orders = order_service(settings)
    recommend = recommend_service(settings, database)
    # A return the customer asks for in the dialogue is a "return" event for recommendations.
    orders.subscribe(OrderEvents(recommend))
    # An order placed here is credited to the campaign that last reached the customer (the
    # action server sends nothing: no conversations, no couriers).
    consents = ConsentService(database)
    marketing = MarketingService(database, consents, recommend.profile, marketing_config(settings))
    orders.subscribe(CampaignOrders(campaigns_of(settings, database, marketing, None)))
    actions.configure(
        actions.ActionServices(
            orders=orders,
            knowledge=knowledge.get,
            audit=AuditLog(database),
            recommend=recommend,
            consents=consents,
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
