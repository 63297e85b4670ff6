"""The Feishu (Lark) channel: ``/channels/feishu`` (url_verification, verification token,
encrypt-key decryption and signature), interactive cards, replies through the message API and
the durable outbox."""

from channels.feishu._api import CHANNEL, REFUSED, TOKEN_EXPIRED, FeishuApi, render
from channels.feishu._router import PATH, build_router, normalize

__all__ = [
    "CHANNEL",
    "PATH",
    "REFUSED",
    "TOKEN_EXPIRED",
    "FeishuApi",
    "build_router",
    "normalize",
    "render",
]
