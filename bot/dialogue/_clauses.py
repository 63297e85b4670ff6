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


def drops_current_task(text: str) -> bool:
    """Whether the message opens with a stop ("算了", "never mind") before saying anything else."""
    return _STOP_FIRST.search(text) is not None


def is_question(text: str) -> bool:
    """Whether a clause asks something rather than telling or requesting."""
    return _QUESTION.search(text) is not None
