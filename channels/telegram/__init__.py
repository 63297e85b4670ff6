"""The Telegram channel: ``/channels/telegram`` (secret-token header), inline keyboards, replies
through the Bot API and the durable outbox."""

from channels.telegram._api import CHANNEL, TelegramApi, render
from channels.telegram._router import PATH, build_router, normalize

__all__ = ["CHANNEL", "PATH", "TelegramApi", "build_router", "normalize", "render"]
