"""What the contract needs to link a customer's apps by a verified phone (the wiring passes
``bot.app``'s ``CustomerLinks``), what the customer is told, and how the order check's question
for the phone's last four digits offers the app's own way to vouch for the number.

The offer travels in two strings shared with ``actions/`` (nothing may import it): the hub tells
the dialogue how this app can vouch in this chat (``metadata.phone_offer``), and the action that
asks for the digits answers with ``custom.share_phone`` (Rasa's REST channel sends it as a message
of its own, after the question), which the connector renders as the app's offer.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol

# The apps' names as customers know them.
APP_NAMES = {
    "wechat": ("微信", "WeChat"),
    "wecom": ("企业微信", "WeCom"),
    "dingtalk": ("钉钉", "DingTalk"),
    "feishu": ("飞书", "Feishu"),
    "telegram": ("Telegram", "Telegram"),
    "slack": ("Slack", "Slack"),
    "webchat": ("网页聊天", "web chat"),
    "rest": ("网站", "the website"),
}

LINK_REPLIES: dict[str, dict[str, str]] = {
    "share_phone": {
        "zh": "请点下面的按钮分享您自己的手机号，我们会把您在各个应用里的对话关联起来。",
        "en": "Tap the button below to share your own phone number; we will link your "
        "conversations in our other apps to it.",
    },
    "share_button": {"zh": "分享我的手机号", "en": "Share my phone number"},
    "not_own": {
        "zh": "只能绑定您自己的手机号：请点“分享我的手机号”按钮，而不是转发别人的名片。",
        "en": "Only your own number can be linked: tap “Share my phone number” rather than "
        "forwarding someone else's contact.",
    },
    "cannot_vouch": {
        "zh": "这个应用无法证明手机号属于您。请在 Telegram、飞书、企业微信或钉钉中发送“绑定”。",
        "en": "This app cannot vouch for your phone number. Send “link” from Telegram, Feishu, "
        "WeCom or DingTalk instead.",
    },
    "share_hint": {
        "zh": "也可以点下面的“分享我的手机号”：号码是订单上的，就不用输入后四位，"
        "您在各个应用里的对话也会关联起来。",
        "en": "Or tap “Share my phone number” below: if it is the number on the order, no "
        "need to type the digits, and your conversations in our other apps are linked to it.",
    },
    "directory_hint": {
        "zh": "也可以回复“绑定”，用您{app}账号的手机号核对，并关联您在各个应用里的对话。",
        "en": "Or reply “link” to check with the phone number of your {app} account; your "
        "conversations in our other apps are linked to it too.",
    },
    "no_phone": {
        "zh": "您的账号资料里没有可用的手机号，暂时无法绑定。",
        "en": "Your account has no phone number we can use, so it cannot be linked yet.",
    },
    "unavailable": {
        "zh": "暂不支持绑定手机号。",
        "en": "Linking by phone number is not available.",
    },
    "linked_alone": {
        "zh": "已绑定您的手机号。以后在其他应用中绑定同一号码，我们就能认出您。",
        "en": "Your phone number is linked. Link the same number in another app and we will "
        "know it is you.",
    },
    "linked": {
        "zh": "已绑定：您在{apps}中的对话现在属于同一位客户。",
        "en": "Linked: your conversations in {apps} now belong to one customer.",
    },
    "dismissed": {
        "zh": "好的，以后不再向您推荐“{name}”。",
        "en": "Got it: we won't suggest “{name}” again.",
    },
    "unknown_item": {
        "zh": "这件商品已经下架了。",
        "en": "That item is no longer in the catalogue.",
    },
    "no_recommendations": {
        "zh": "暂时无法记录您的选择。",
        "en": "Your choice cannot be recorded right now.",
    },
}


# How an app vouches for the customer's number in a chat: a shared contact that must be the
# sender's own (Telegram, private chats) or the company directory's mobile (Feishu, WeCom,
# DingTalk), looked up when the customer asks to link.
PhoneOffer = Literal["contact", "directory"]
PHONE_OFFER = "phone_offer"  # the inbound metadata key the order check reads
SHARE_PHONE = "share_phone"  # the custom payload key of the check's offer


def offers_phone(payload: dict[str, Any] | None) -> bool:
    """Whether a stored bot message is the order check's offer to vouch for the number."""
    custom = (payload or {}).get("custom")
    return isinstance(custom, dict) and custom.get(SHARE_PHONE) is True


def last_four(phone: str) -> str | None:
    """The last four digits of a number an app vouched for, as the order check compares them."""
    digits = re.sub(r"\D", "", phone)
    return digits[-4:] if len(digits) >= 4 else None


class PhoneLinks(Protocol):
    """Links app identities by a verified phone's keyed hash; names a customer for events."""

    def phone_hash(self, phone: str) -> str | None:
        """The keyed hash of a verified number; None when the text is no phone number."""

    def asks_to_link(self, text: str) -> bool:
        """Whether a message asks to link the customer's apps."""

    async def link(self, channel: str, sender: str, phone_hash: str) -> list[str]:
        """Link the identity; the channels of the person's other identities."""

    async def customer_key(self, channel: str, sender: str) -> str:
        """Whom recommendation events name: the linked person, else ``channel:sender``."""


def link_reply(other_channels: list[str], language: str) -> str:
    """What the customer is told after a link: which apps are now one customer."""
    index = 0 if language == "zh" else 1
    if not other_channels:
        return LINK_REPLIES["linked_alone"][language]
    apps = [APP_NAMES.get(c, (c, c))[index] for c in dict.fromkeys(other_channels)]
    joined = "、".join(apps) if index == 0 else ", ".join(apps)
    current = "和当前应用" if index == 0 else " and this app"
    return LINK_REPLIES["linked"][language].format(apps=joined + current)
