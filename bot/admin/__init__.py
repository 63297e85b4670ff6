"""Administration: the knowledge base as the platform configures it, and the admin API."""

from bot.admin._cli import kb_app
from bot.admin._gaps import Gap, gaps_report
from bot.admin._knowledge import (
    SharedKnowledge,
    ingest_sources,
    knowledge_config,
    open_knowledge_base,
    uploads_dir,
)
from bot.admin._router import PREFIX, build_router, upload_limit

__all__ = [
    "PREFIX",
    "Gap",
    "SharedKnowledge",
    "build_router",
    "gaps_report",
    "ingest_sources",
    "kb_app",
    "knowledge_config",
    "open_knowledge_base",
    "upload_limit",
    "uploads_dir",
]
