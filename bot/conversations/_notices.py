"""What the hub itself tells customers about the queue and the handoff, in their language."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.language import Language

_TEXTS: dict[str, dict[Language, str]] = {
    "queued": {
        "zh": "正在为您转接人工客服，您前面还有 {ahead} 位，预计等待 {minutes} 分钟。"
        "回复“取消”可返回智能助手。",
        "en": "Connecting you to a human agent. {ahead} ahead of you, about {minutes} min to "
        "wait. Reply “cancel” to go back to the assistant.",
    },
    "next": {
        "zh": "正在为您转接人工客服，马上就好，请稍候。回复“取消”可返回智能助手。",
        "en": "Connecting you to a human agent now, please hold on. Reply “cancel” to go back "
        "to the assistant.",
    },
    "after_hours": {
        "zh": "人工客服的服务时间是每天 {hours}（北京时间），将于 {opens} 上线。"
        "您可以直接留言，客服上线后会第一时间回复您。回复“取消”可返回智能助手。",
        "en": "Our agents work {hours} (Beijing time) and are back at {opens}. Leave a message "
        "here and they will answer it first thing. Reply “cancel” to go back to the assistant.",
    },
    "ticketed": {
        "zh": "现在没有人工客服在线。已为您创建工单 {number}（附上了我们的对话），"
        "客服会在 {due} 前回复您，回复会发到这里。",
        "en": "No agent is online right now. I've opened ticket {number} with our conversation "
        "attached; an agent will reply by {due}, and you'll get the reply here.",
    },
    "cancelled": {
        "zh": "已为您取消人工服务，智能助手继续为您服务。",
        "en": "Handoff cancelled. The assistant is back to help you.",
    },
    "returned": {
        "zh": "人工客服已结束服务，智能助手继续为您服务。",
        "en": "The agent has handed you back to the assistant, who is here to help.",
    },
    "accepted": {
        "zh": "客服 {agent} 已接入，为您服务。",
        "en": "{agent} has joined and will help you now.",
    },
    "csat": {
        "zh": "本次服务已结束。请为客服的服务打分：1（很不满意）到 5（非常满意）。",
        "en": "This chat is closed. How satisfied are you with the agent's help? "
        "1 (very unhappy) to 5 (very happy).",
    },
    "csat_thanks": {
        "zh": "感谢您的评价！如有其他问题，随时告诉我。",
        "en": "Thank you for your feedback! Ask me anything else anytime.",
    },
}


def notice(kind: str, language: Language, **values: object) -> str:
    """The text of one notice in the customer's language."""
    return _TEXTS[kind][language].format(**values)


def queue_notice(
    language: Language,
    position: int,
    wait: timedelta,
    opens_at: datetime | None,
    hours: str,
    zone: ZoneInfo,
) -> str:
    """Where the customer stands in the queue, or when agents are back."""
    if opens_at is not None:
        opens = opens_at.astimezone(zone).strftime("%H:%M")
        return notice("after_hours", language, hours=hours, opens=opens)
    if position <= 1 and wait <= timedelta(0):
        return notice("next", language)
    minutes = max(1, round(wait.total_seconds() / 60))
    return notice("queued", language, ahead=max(0, position - 1), minutes=minutes)


CANCEL_WORDS = frozenset(
    {
        "取消",
        "取消人工",
        "不用了",
        "算了",
        "返回机器人",
        "cancel",
        "never mind",
        "nevermind",
        "stop waiting",
        "/cancel_handoff",
    }
)


def is_cancel(text: str) -> bool:
    """Whether a waiting customer asks to stop waiting and go back to the bot."""
    return text.strip().lower().rstrip("。.!！") in CANCEL_WORDS


def csat_score(text: str) -> int | None:
    """A 1–5 score from an answer to the satisfaction question ("5", "4分", "/csat{...}")."""
    stripped = text.strip()
    for score in range(1, 6):
        if stripped in (
            str(score),
            f"{score}分",
            f"{score} 分",
            f'/csat{{"score": {score}}}',
            f'/csat{{"score":{score}}}',
            "⭐" * score,
            "★" * score,
        ):
            return score
    return None


def csat_buttons() -> list[dict[str, str]]:
    """Quick replies for the satisfaction question."""
    return [{"title": str(n), "payload": str(n)} for n in range(1, 6)]
