"""The DingTalk channel: the robot's ``/channels/dingtalk`` (timestamp + HMAC-SHA256 sign with a
time window), replies through the robot message API and the durable outbox, and the read status
of its one-to-one and group robot messages."""

from channels.dingtalk._api import CHANNEL, READ_STATUS_HOURS, DingTalkApi, render
from channels.dingtalk._router import PATH, build_router, normalize, sign

__all__ = [
    "CHANNEL",
    "PATH",
    "READ_STATUS_HOURS",
    "DingTalkApi",
    "build_router",
    "normalize",
    "render",
    "sign",
]
