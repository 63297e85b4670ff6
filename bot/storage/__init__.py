"""Hub storage: the database, its tables and migrations."""

from bot.storage._database import Database, alembic_config, upgrade
from bot.storage.models import (
    Agent,
    AgentNote,
    AgentSession,
    Base,
    Conversation,
    Handoff,
    Message,
    utcnow,
)

__all__ = [
    "Agent",
    "AgentNote",
    "AgentSession",
    "Base",
    "Conversation",
    "Database",
    "Handoff",
    "Message",
    "alembic_config",
    "upgrade",
    "utcnow",
]
