"""The Feishu (Lark) channel: ``/channels/feishu`` (url_verification, verification token,
encrypt-key decryption and signature), interactive cards, replies through the message API and
the durable outbox, and the message-read event of what the bot sent."""

from channels.feishu._api import CHANNEL, REFUSED, TOKEN_EXPIRED, FeishuApi, render
from channels.feishu._router import (
    PATH,
    READ_EVENT,
    BadReadEvent,
    MessagesRead,
    build_router,
    normalize,
    read_receipt,
)

__all__ = [
    "CHANNEL",
    "PATH",
    "READ_EVENT",
    "REFUSED",
    "TOKEN_EXPIRED",
    "BadReadEvent",
    "FeishuApi",
    "MessagesRead",
    "build_router",
    "normalize",
    "read_receipt",
    "render",
]
