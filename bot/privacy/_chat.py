"""A customer's privacy requests typed in the chat (PIPL arts. 45 and 47: a copy of their data
and its deletion, by a convenient means): "导出我的数据" gets a download link to the export,
"删除我的数据" erases after a confirmation, "订阅" opts in to marketing on the channel.

The channel vouches for the sender (the web-chat session, the app's chat id or openid, the
shop's back end on ``rest``), so the sender is the subject, as an admin would name them.

A command is the whole message, as the marketing opt-out words are: "don't delete my order"
or "how do I delete my data from the app?" are questions for the dialogue.

The erasure's confirmation survives hub replicas and restarts because nothing waits in memory:
it is pending while the hub's question (a system message marked ``ERASE_PROMPT``) is the
conversation's message just before the confirmation, less than ``ERASE_WINDOW`` old. Any other
message in between (the customer's, an agent's, a campaign's) cancels it.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.privacy._errors import InvalidPrivacyRequest
from bot.privacy._links import ExportLinks
from bot.privacy._rights import PersonalData, Subject
from bot.privacy._subjects import anonymous_sender
from bot.redaction import Redaction
from bot.storage import utcnow

logger = logging.getLogger(__name__)

ChatRequestKind = Literal["export", "erase", "confirm_erase", "opt_in"]
ChatLanguage = Literal["zh", "en"]

EXPORT_WORDS = frozenset(
    {
        "导出我的数据",
        "下载我的数据",
        "我的个人数据",
        "export my data",
        "download my data",
        "my data",
    }
)
ERASE_WORDS = frozenset(
    {
        "删除我的数据",
        "删除我的个人信息",
        "注销我的数据",
        "delete my data",
        "erase my data",
        "forget me",
    }
)
CONFIRM_ERASE_WORDS = frozenset({"确认删除", "confirm delete"})
OPT_IN_WORDS = frozenset({"订阅", "订阅营销", "subscribe", "opt in"})
_WORDS: tuple[tuple[frozenset[str], ChatRequestKind], ...] = (
    (EXPORT_WORDS, "export"),
    (ERASE_WORDS, "erase"),
    (CONFIRM_ERASE_WORDS, "confirm_erase"),
    (OPT_IN_WORDS, "opt_in"),
)
_PUNCTUATION = re.compile(r"[\s\W_]+", re.UNICODE)

ERASE_WINDOW = timedelta(minutes=10)
# The ``kind`` of the hub's replies; ERASE_PROMPT marks the question an erasure waits behind.
ERASE_PROMPT = "privacy_erase_prompt"
EXPORT_LINK = "privacy_export"
EXPORT_SENT = "privacy_export_sent"  # what the conversation keeps of EXPORT_LINK: no link
ERASED = "privacy_erased"
NOTHING_PENDING = "privacy_nothing_pending"
OPTED_IN = "privacy_opt_in"
OPT_IN_REFUSED = "privacy_opt_in_refused"
CHAT_REASON = "requested in chat"

CHAT_REPLIES: dict[str, dict[ChatLanguage, str]] = {
    EXPORT_LINK: {
        "zh": "您的个人数据已准备好，请在 15 分钟内从此链接下载（zip 文件）：{link}",
        "en": "Your personal data is ready: download it (a zip file) within 15 minutes: {link}",
    },
    EXPORT_SENT: {
        "zh": "已向您发送个人数据的下载链接（自本消息起 15 分钟内有效）。"
        "为保护您的数据，链接不保存在对话记录里；如需再次下载，请重新发送“导出我的数据”。",
        "en": "A download link to your personal data was sent to you (valid 15 minutes from this "
        "message). To protect your data, the link is not kept in this conversation; to download "
        'again, send "export my data" again.',
    },
    ERASE_PROMPT: {
        "zh": "确定要删除您的数据吗？将删除：本对话的全部消息、您发送的图片和语音、推荐和营销记录，"
        "并撤回您的同意。保留：工单（匿名化）、审计记录（只记录做过什么，不含内容）和订单。"
        "请在 10 分钟内回复“确认删除”；回复其他内容即取消。",
        "en": "Delete your data? This deletes this conversation's messages, the pictures and "
        "voice messages you sent, your recommendation and marketing records, and withdraws your "
        "consents. Kept: tickets (anonymised), audit records (what was done, never what was "
        'said) and orders. Reply "CONFIRM DELETE" within 10 minutes; anything else cancels.',
    },
    ERASED: {
        "zh": "您的数据已删除。工单已匿名化，审计记录保留。之后发消息会开始新的对话。",
        "en": "Your data has been deleted. Tickets were anonymised and the audit records kept. "
        "Writing again starts a new conversation.",
    },
    NOTHING_PENDING: {
        "zh": "没有等待确认的删除请求（须在 10 分钟内确认）。"
        "如需删除您的数据，请先发送“删除我的数据”。",
        "en": "No deletion is waiting for your confirmation (it must come within 10 minutes). "
        'To delete your data, first send "delete my data".',
    },
    OPTED_IN: {
        "zh": "已为您订阅本渠道的营销消息。随时回复“退订”即可取消。",
        "en": "You are subscribed to marketing messages on this channel. Reply STOP at any time "
        "to unsubscribe.",
    },
    OPT_IN_REFUSED: {
        "zh": "请先登录商城再订阅：未登录的网页聊天无法记录您的同意，也收不到营销消息。",
        "en": "Please log in to the shop first: a chat that is not logged in cannot record your "
        "consent, nor receive marketing messages.",
    },
}


def chat_request(text: str) -> ChatRequestKind | None:
    """Which privacy request the whole message is (NFKC, case and punctuation folded), if any."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    words = _PUNCTUATION.sub(" ", folded).strip()
    return next((kind for wordlist, kind in _WORDS if words in wordlist), None)


@dataclass(frozen=True)
class EarlierMessage:
    """The conversation's message just before the request: who wrote it, the ``kind`` of a
    hub's reply (None otherwise), and when."""

    author: str
    kind: str | None
    at: datetime


@dataclass(frozen=True)
class ChatAnswer:
    """The hub's answer to a privacy request typed in the chat."""

    kind: str  # one of the keys of CHAT_REPLIES
    text: str
    link: str | None = None  # the export's download link
    expires_at: datetime | None = None
    erased: bool = False  # the conversation is gone: tell the customer without storing it
    # What the conversation keeps instead of this answer, which is then told once and stored
    # nowhere: an export link opens the customer's data to whoever reads it within 15 minutes,
    # and agents read conversations.
    kept: ChatAnswer | None = None


# The conversation's message just before this one, read only when a confirmation needs it.
Earlier = Callable[[], Awaitable[EarlierMessage | None]]


def erasure_pending(earlier: EarlierMessage | None, now: datetime) -> bool:
    """Whether the message before a confirmation is the hub's erasure question, still fresh."""
    return (
        earlier is not None
        and earlier.author == "system"
        and earlier.kind == ERASE_PROMPT
        and timedelta(0) <= now - earlier.at <= ERASE_WINDOW
    )


class ChatRequests:
    """Answers the privacy requests customers type in a chat: export, erasure, opt-in."""

    def __init__(
        self,
        personal_data: PersonalData,
        links: ExportLinks,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._personal_data = personal_data
        self.links = links  # the export's download links (tests move their clock)
        self.clock = clock  # the time now; tests move it

    async def answer(
        self, channel: str, sender: str, text: str, language: str, earlier: Earlier
    ) -> ChatAnswer | None:
        """The hub's answer when ``text`` is a privacy request of ``sender`` on ``channel``;
        None for any other message (the dialogue answers it)."""
        kind = chat_request(text)
        if kind is None:
            return None
        try:
            subject = Subject(channel, sender)
        except InvalidPrivacyRequest:
            logger.warning("A privacy request in the chat names no valid customer on %s", channel)
            return None
        lang: ChatLanguage = "en" if language == "en" else "zh"
        if kind == "export":
            link, expires = self.links.link(subject)
            text = CHAT_REPLIES[EXPORT_LINK][lang].format(link=link)
            kept = _answer(EXPORT_SENT, lang)
            return ChatAnswer(EXPORT_LINK, text, link=link, expires_at=expires, kept=kept)
        if kind == "erase":
            return _answer(ERASE_PROMPT, lang)
        if kind == "confirm_erase":
            if not erasure_pending(await earlier(), self.clock()):
                return _answer(NOTHING_PENDING, lang)
            await self._personal_data.erase(
                subject, actor_kind="customer", actor_id=_actor_id(subject), reason=CHAT_REASON
            )
            return ChatAnswer(ERASED, CHAT_REPLIES[ERASED][lang], erased=True)
        if anonymous_sender(channel, sender):
            return _answer(OPT_IN_REFUSED, lang)
        await self._personal_data.record_consent(
            subject, "marketing", True, actor_kind="customer", actor_id=_actor_id(subject)
        )
        logger.info("A customer opted in to marketing on %s in the chat", channel)
        return _answer(OPTED_IN, lang)

    def check_link(self, token: str) -> None:
        """Raise ``ExportLinkInvalid`` or ``ExportLinkExpired`` when a download link opens
        nothing; nothing is read or audited."""
        self.links.subject(token)

    async def download(self, token: str) -> bytes:
        """The export a download link opens (audited as the customer's own export);
        ``ExportLinkInvalid`` or ``ExportLinkExpired`` before anything is read."""
        subject = self.links.subject(token)
        return await self._personal_data.export(
            subject, actor_kind="customer", actor_id=_actor_id(subject), reason=CHAT_REASON
        )


def _answer(kind: str, language: ChatLanguage) -> ChatAnswer:
    return ChatAnswer(kind, CHAT_REPLIES[kind][language])


def _actor_id(subject: Subject) -> str:
    """The customer's key as the audit record's actor; empty when the audit log would refuse it
    (too long, or shaped like a phone number: the record names the customer anyway)."""
    key = subject.key
    if len(key) > 64 or Redaction.of(key).kinds:
        return ""
    return key
