"""Tell Chinese from English in short customer messages.

Standard library only: Rasa's Python 3.10 environment imports this module too.

General-purpose language detectors guess badly on the short, mixed messages customers type
("我的order到哪了", "iPhone 15 有货吗"), and we only ever choose between two languages whose
scripts differ, so the script decides: any Han character in a message that is not mostly Latin
words makes it Chinese. Text with neither script (order numbers such as "YX2611010001", tracking
numbers, emoji) keeps the language the conversation already has: letters inside a code with
digits say nothing about the customer's language.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# A token with a digit in it is a code (order, tracking or model number), not a word.
_CODE = re.compile(r"[A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*")
# Chinese-only punctuation counts as Chinese when a message has no letters at all ("？？").
_ZH_PUNCT = re.compile(r"[，。！？；：、“”‘’（）【】《》]")


def detect_language(text: str, previous: Language | None = None) -> Language | None:
    """Return "zh" or "en" for ``text``; ``previous`` (or None) when the text has no letters."""
    han = len(_HAN.findall(text))
    text = _CODE.sub(" ", text)
    latin_words = _LATIN_WORD.findall(text)
    if han:
        # "Please check order 订单" is English with a pasted word; "我的order" is Chinese.
        latin_chars = sum(len(word) for word in latin_words)
        return "en" if len(latin_words) >= 3 and latin_chars > 4 * han else "zh"
    if latin_words:
        return "en"
    if re.search(r"[A-Za-z]", text):
        return "en"
    if _ZH_PUNCT.search(text):
        return "zh"
    return previous
