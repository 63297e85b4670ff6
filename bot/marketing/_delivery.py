"""What became of a campaign message after the campaign handed it over.

A courier answers with a ``Handover``: the message waits in a queue before the channel's API
("queued": the messaging apps' durable outbox, which retries until the app takes or refuses
it) or the channel's API accepted it ("sent"). Later news, read from the queue or pushed by a
channel that reports deliveries, moves it on: "sent", "delivered", "read", or "failed" with the
reason (a failed message is a failed recipient, and its send no longer counts against the
caps). A state never goes back, and "failed" is final.

Most channels say nothing after accepting a message: for them "sent" (accepted by the channel)
is all the shop can know, and the report says so per channel (``DELIVERY_KNOWN``), in English
and, for the console in Chinese, in Chinese (``delivery_known_zh``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

DeliveryState = Literal["queued", "sent", "delivered", "read", "failed"]
QUEUED, ACCEPTED, DELIVERED, READ, UNDELIVERED = "queued", "sent", "delivered", "read", "failed"
DELIVERY_STATES: tuple[DeliveryState, ...] = ("queued", "sent", "delivered", "read", "failed")
# The states a message may still move on from, for each state it may move to.
EARLIER: dict[str, tuple[str, ...]] = {
    ACCEPTED: (QUEUED,),
    DELIVERED: (QUEUED, ACCEPTED),
    READ: (QUEUED, ACCEPTED, DELIVERED),
    UNDELIVERED: (QUEUED, ACCEPTED, DELIVERED),
}

ACCEPTED_ONLY = (
    "sent = accepted by the channel's API; the channel reports no delivery or read receipt"
)
# What each channel tells the shop after it took a message (the wiring adds the receipts it
# follows, ``Campaigns.follow_receipts``).
DELIVERY_KNOWN: dict[str, str] = {
    "email": "sent = accepted by the SMTP server; bounces and opens are not read",
    "rest": "sent = stored in the customer's conversation; the shop's back end fetches it",
    "webchat": "sent = stored in the customer's conversation, shown when they open the chat; "
    "no read receipt",
    "telegram": f"{ACCEPTED_ONLY} (the Bot API gives bots none)",
    "slack": f"{ACCEPTED_ONLY} (the Web API gives apps none)",
    "wechat": f"{ACCEPTED_ONLY} (customer-service messages have none)",
    "wecom": f"{ACCEPTED_ONLY} (application messages have none)",
    "dingtalk": "read once DingTalk's read-status query says the customer read it (a group: "
    "once any member read it; asked periodically, for the 24 hours DingTalk answers it); no "
    "delivery receipt: sent = accepted by the robot API",
    "feishu": "read when Feishu sends its message-read event (im.message.message_read_v1, "
    "one-to-one chats, once the business subscribed to it in the app's console); no "
    "delivery receipt: sent = accepted by the message API",
}
# What the report says of WeChat's template messages once their receipts are routed to the
# campaigns (the wiring's ``Campaigns.follow_receipts``).
TEMPLATE_RECEIPTS = (
    "delivered or failed as WeChat reports each template message (TEMPLATESENDJOBFINISH); "
    "no read receipt"
)
# Every note above in Chinese, by its English text: a report names what each channel tells as
# ``Campaigns`` gives it (English), and the console in Chinese shows this instead.
_ACCEPTED_ONLY_ZH = "已发送 = 渠道接口已接收；该渠道不回报送达或已读"
DELIVERY_KNOWN_IN_CHINESE: dict[str, str] = {
    ACCEPTED_ONLY: _ACCEPTED_ONLY_ZH,
    DELIVERY_KNOWN["email"]: "已发送 = SMTP 服务器已接收；不读取退信和打开情况",
    DELIVERY_KNOWN["rest"]: "已发送 = 已存入客户的会话，由商家后台自行获取",
    DELIVERY_KNOWN["webchat"]: "已发送 = 已存入客户的会话，客户打开聊天时可见；无已读回执",
    DELIVERY_KNOWN["telegram"]: f"{_ACCEPTED_ONLY_ZH}（Bot API 不向机器人提供回执）",
    DELIVERY_KNOWN["slack"]: f"{_ACCEPTED_ONLY_ZH}（Web API 不向应用提供回执）",
    DELIVERY_KNOWN["wechat"]: f"{_ACCEPTED_ONLY_ZH}（客服消息没有回执）",
    DELIVERY_KNOWN["wecom"]: f"{_ACCEPTED_ONLY_ZH}（应用消息没有回执）",
    DELIVERY_KNOWN["dingtalk"]: "钉钉已读状态查询显示客户已读后记为已读（群消息：任一成员已读即记为"
    "已读；定期查询，持续钉钉允许查询的 24 小时）；无送达回执：已发送 = 机器人接口已接收",
    DELIVERY_KNOWN["feishu"]: "飞书推送消息已读事件（im.message.message_read_v1，仅单聊，"
    "需商家在开发者后台订阅该事件）后记为已读；无送达回执：已发送 = 消息接口已接收",
    TEMPLATE_RECEIPTS: "按微信对每条模板消息的回报（TEMPLATESENDJOBFINISH）记为已送达或失败；"
    "无已读回执",
}


def delivery_known_zh(known: Mapping[str, str]) -> dict[str, str]:
    """A report's ``delivery_known`` in Chinese; a note with no translation (one a wiring added
    without one) stays in English rather than disappear."""
    return {key: DELIVERY_KNOWN_IN_CHINESE.get(note, note) for key, note in known.items()}


@dataclass(frozen=True)
class Handover:
    """Where a courier left a message: waiting before the channel's API ("queued") or taken by
    it ("sent"), and the key later news names it by (None: no news will come)."""

    state: Literal["queued", "sent"] = "sent"
    key: str | None = None


@dataclass(frozen=True)
class DeliveryNews:
    """A later state of a handed-over message, from its queue or its channel."""

    key: str
    state: DeliveryState
    at: datetime | None = None
    reason: str | None = None  # why it failed


# The news of queued messages by their keys (the outbox, through the wiring); a key with no
# news yet is left out.
DeliveryLookup = Callable[[Sequence[str]], Awaitable[list[DeliveryNews]]]
