"""Hub storage: the database, its tables and migrations."""

from bot.storage._database import Database, upgrade
from bot.storage.models import Base, Conversation, Message, utcnow

__all__ = ["Base", "Conversation", "Database", "Message", "upgrade", "utcnow"]
