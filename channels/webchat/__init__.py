"""The web-chat channel: socket.io (Rasa web-chat protocol) and the widget's upload endpoint."""

from channels.webchat._identity import (
    CustomerIdentity,
    IdentityRefused,
    customer_hash,
)
from channels.webchat._namespace import CHANNEL, NAMESPACE, WebchatNamespace, session_room
from channels.webchat._protocol import bot_uttered, history_item
from channels.webchat._routes import WebchatCORS, allowed_origins, build_router
from channels.webchat._sessions import WebchatSessions

__all__ = [
    "CHANNEL",
    "NAMESPACE",
    "CustomerIdentity",
    "IdentityRefused",
    "WebchatCORS",
    "WebchatNamespace",
    "WebchatSessions",
    "allowed_origins",
    "bot_uttered",
    "build_router",
    "customer_hash",
    "history_item",
    "session_room",
]
