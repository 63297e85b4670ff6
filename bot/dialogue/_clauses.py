"""Reading the shape of a customer's message: several requests in one, a stop before a new one.

Standard library only, so that the action server and the benchmark share it. Intents come from
Rasa; this module only finds where a message changes subject, which Rasa's single-intent
classifier cannot say.
"""

from __future__ import annotations

import re

# Words that start another request in the same message ("…，顺便问下退货要几天").
_CONNECTOR = re.compile(
    r"顺便(?:问一?下|问问|说一?下)?|另外|还有(?:就是)?|还想问|再问一?下|然后|"
    r"\b(?:also|and also|by the way|btw|plus|another question|one more thing)\b",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[，,。.;；!！?？\n]+")
# A stop that opens the message: "算了，帮我推荐个耳机吧", "never mind, cancel it instead".
_STOP_FIRST = re.compile(
    r"^\s*(?:算了|不用了|不要了|不办了|不弄了|不退了|不改了|不取消了|不查了|先不|别弄了|"
    r"never\s?mind|forget (?:it|that|the \w+)|scratch that|cancel that|skip (?:it|that))",
    re.IGNORECASE,
)
_QUESTION = re.compile(
    r"[?？]|吗|呢|多久|几天|多少|怎么|如何|能不能|可不可以|可以.+吗|是否|哪|什么|谁|有没有|"
    r"^\s*(?:how|what|when|where|why|which|who|can|could|do|does|is|are|will|would)\b",
    re.IGNORECASE,
)
# Which task a further request of a message asks for, by its words: Rasa classified the message
# as a whole, so the clauses are told apart here (a handful of words per task is enough to say
# "this clause asks for something else"; the task itself starts when the customer says so and
# Rasa reads the clause on its own). Checked in this order: "取消退货" is a cancellation.
_TASK_WORDS = (
    ("cancel_form", re.compile(r"取消|不要这[单个]|\bcancel", re.IGNORECASE)),
    ("return_form", re.compile(r"退货|退款|退掉|退换|\b(?:return|refund)", re.IGNORECASE)),
    ("address_form", re.compile(r"地址|\baddress\b", re.IGNORECASE)),
    ("recommend_form", re.compile(r"推荐|\b(?:recommend|suggest)", re.IGNORECASE)),
    (
        "order_status_form",
        re.compile(
            r"查.{0,4}(?:订单|物流|快递)|到哪|物流|发货了|\b(?:track|status|where is)",
            re.IGNORECASE,
        ),
    ),
)
# "继续", "接着办", "go on": carry on with what was offered; "不用继续了" is no such answer.
_GO_ON = re.compile(
    r"^\s*(?:好的?[，,]?\s*)?(?:继续|接着|接着办|继续办理?|继续吧|接着来)|"
    r"^\s*(?:yes[,!]?\s*)?(?:go on|continue|carry on|resume|let'?s continue|keep going)\b",
    re.IGNORECASE,
)
_NEGATED = re.compile(r"不|别|没|\b(?:no|not|don'?t|stop)\b", re.IGNORECASE)
_MIN_CLAUSE_CHARS = 2
_HAN = re.compile(r"[\u4e00-\u9fff]")


def other_requests(text: str) -> list[str]:
    """The requests of a message that a connector splits into several, in order.

    "查一下订单YX2611010001，顺便问下退货要几天" gives ["查一下订单YX2611010001", "退货要几天"];
    "退货要几天？另外帮我查下订单…" gives both parts too; a message without a connector gives [].
    """
    if _CONNECTOR.search(text) is None:
        return []
    parts = []
    for segment in _CONNECTOR.split(text):
        clauses = [c.strip(" ：:") for c in _CLAUSE_END.split(segment)]
        clauses = [c for c in clauses if len(c) >= _MIN_CLAUSE_CHARS]
        if clauses:
            parts.append("，".join(clauses) if _HAN.search(segment) else ", ".join(clauses))
    return parts if len(parts) > 1 else []


def clause_task(clause: str) -> str | None:
    """The form a request clause asks for ("另外我想退货" → "return_form"), None when its words
    name no task."""
    for form, words in _TASK_WORDS:
        if words.search(clause):
            return form
    return None


def carries_on(text: str) -> bool:
    """Whether the message says to carry on ("继续", "接着办", "go on") and nothing against it."""
    return _GO_ON.search(text) is not None and _NEGATED.search(text) is None


def drops_current_task(text: str) -> bool:
    """Whether the message opens with a stop ("算了", "never mind") before saying anything else."""
    return _STOP_FIRST.search(text) is not None


def is_question(text: str) -> bool:
    """Whether a clause asks something rather than telling or requesting."""
    return _QUESTION.search(text) is not None
