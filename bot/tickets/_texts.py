"""What the customer is told about their ticket, in their language (zh or en)."""

from __future__ import annotations

import re
import unicodedata

STATUS_NAMES = {
    "en": {
        "new": "received",
        "open": "being worked on",
        "pending_customer": "waiting for your reply",
        "resolved": "resolved",
        "closed": "closed",
        "reopened": "reopened",
    },
    "zh": {
        "new": "已受理",
        "open": "处理中",
        "pending_customer": "等待您的回复",
        "resolved": "已解决",
        "closed": "已关闭",
        "reopened": "已重新打开",
    },
}
TEMPLATES = {
    "en": {
        "reply": "New reply on your ticket {number}: {text}",
        "status": "Your ticket {number} is now {status}.",
        "pending_customer": "We need more information on your ticket {number}: please reply here.",
        "satisfaction": " How satisfied are you? Reply with a score from 1 (poor) to 5 (great).",
        "merged": "Your ticket {number} was merged into {target}; we continue there.",
        "opened": "We've opened ticket {number} for this conversation; we'll reply by {due}. "
        "Ask about it any time with its number.",
    },
    "zh": {
        "reply": "您的工单 {number} 有新回复：{text}",
        "status": "您的工单 {number} 状态已更新为：{status}。",
        "pending_customer": "您的工单 {number} 需要您补充信息，请直接在此回复。",
        "satisfaction": "请为本次处理打分：1（很差）到 5（很好）。",
        "merged": "您的工单 {number} 已合并到 {target}，后续将在该工单中处理。",
        "opened": "已为本次对话创建工单 {number}，我们会在 {due} 前回复您。"
        "随时可凭工单号查询进度。",
    },
}


def _lang(language: str) -> str:
    return "zh" if language == "zh" else "en"


def status_name(language: str, status: str) -> str:
    """A status as the customer reads it ("being worked on", "处理中")."""
    return STATUS_NAMES[_lang(language)][status]


def reply_text(language: str, number: str, text: str) -> str:
    """A public reply as the customer receives it."""
    return TEMPLATES[_lang(language)]["reply"].format(number=number, text=text)


def status_text(language: str, number: str, status: str) -> str:
    """A status change as the customer is told; resolving asks for a satisfaction score."""
    lang = _lang(language)
    if status == "pending_customer":
        return TEMPLATES[lang]["pending_customer"].format(number=number)
    text = TEMPLATES[lang]["status"].format(number=number, status=STATUS_NAMES[lang][status])
    return text + TEMPLATES[lang]["satisfaction"] if status == "resolved" else text


def merged_text(language: str, number: str, target: str) -> str:
    """The customer's ticket was merged into another of theirs."""
    return TEMPLATES[_lang(language)]["merged"].format(number=number, target=target)


def opened_text(language: str, number: str, due: str) -> str:
    """An agent opened a ticket from the customer's conversation: its number and reply time."""
    return TEMPLATES[_lang(language)]["opened"].format(number=number, due=due)


# A ticket number as customers type it: any case, with or without the dashes, full-width digits
# folded by NFKC first ("t-20261202-0001", "T202612020001", "Ｔ－２０２６１２０２－０００１").
_NUMBER_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])[Tt]-?\s?(\d{8})-?\s?(\d{4,6})(?![0-9])")


def ticket_numbers_in(text: str) -> list[str]:
    """Every ticket number in free text, as ``T-YYYYMMDD-NNNN``, in order of appearance."""
    folded = unicodedata.normalize("NFKC", text).replace("－", "-")
    return [f"T-{m.group(1)}-{m.group(2)}" for m in _NUMBER_IN_TEXT.finditer(folded)]
