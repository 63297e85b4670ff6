"""The REST channel: ``POST /api/messages``."""

from channels.rest._router import MessageIn, MessagesOut, ReplyOut, build_router

__all__ = ["MessageIn", "MessagesOut", "ReplyOut", "build_router"]
