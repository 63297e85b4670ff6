"""The web-chat channel: socket.io (Rasa web-chat protocol) and the widget's upload endpoint."""

from channels.webchat._namespace import CHANNEL, NAMESPACE, WebchatNamespace, session_room
from channels.webchat._protocol import bot_uttered, history_item
from channels.webchat._routes import WebchatCORS, allowed_origins, build_router
from channels.webchat._sessions import WebchatSessions

__all__ = [
    "CHANNEL",
    "NAMESPACE",
    "WebchatCORS",
    "WebchatNamespace",
    "WebchatSessions",
    "allowed_origins",
    "bot_uttered",
    "build_router",
    "history_item",
    "session_room",
]
