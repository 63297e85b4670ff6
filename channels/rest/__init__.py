"""The REST channel: ``POST /api/messages`` and ``/api/media``."""

from channels.rest._media import build_media_router
from channels.rest._router import MessageIn, MessagesOut, ReplyOut, build_router

__all__ = ["MessageIn", "MessagesOut", "ReplyOut", "build_media_router", "build_router"]
