"""Hub storage: the database, its tables and migrations."""

from bot.storage._database import Database, alembic_config, upgrade
from bot.storage.models import (
    Agent,
    AgentNote,
    AgentSession,
    Attachment,
    Base,
    Conversation,
    Handoff,
    Message,
    WebchatSession,
    utcnow,
)

__all__ = [
    "Agent",
    "AgentNote",
    "AgentSession",
    "Attachment",
    "Base",
    "Conversation",
    "Database",
    "Handoff",
    "Message",
    "WebchatSession",
    "alembic_config",
    "upgrade",
    "utcnow",
]
