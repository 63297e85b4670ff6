"""Tell Chinese from English in short customer messages, by the sentence's frame.

Standard library only: Rasa's Python 3.10 environment imports this module too. This is the one
place the platform decides the language of a text; its callers are the conversation store
(``bot.conversations``, each inbound message), the web-chat protocol and Rasa's
``LanguageTagger`` component (``bot.rasa_components``), which fills the ``language`` slot.

General-purpose language detectors guess badly on the short, mixed messages customers type
("我的order到哪了", "iPhone 15 有货吗", "change my address to 上海市浦东新区世纪大道100号"), and we
only ever choose between two languages whose scripts differ. Mixed messages are decided by the
sentence frame, not by the first Han character: the words that hold a sentence together
(Han function characters such as 的了吗我要, English function words such as my, to, can, the)
say which language the customer writes in, while embedded spans say nothing: a Chinese address,
a quoted phrase, a product name, a code with digits. Text with neither script (order numbers
such as "YX2611010001", tracking numbers, emoji) keeps the language the conversation already has.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")

_HAN_CLASS = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef"
_HAN = re.compile(f"[{_HAN_CLASS}]")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:'[a-z]+)?")
# A token with a digit in it is a code (order, tracking or model number), not a word.
_CODE = re.compile(r"[A-Za-z0-9_-]*[0-9][A-Za-z0-9_-]*")
# Chinese-only punctuation counts as Chinese when a message has no letters at all ("？？").
_ZH_PUNCT = re.compile(r"[，。！？；：、“”‘’（）【】《》]")
# Quoted spans are names or citations, not the customer's sentence.
_QUOTED = re.compile(r"“[^”]*”|‘[^’]*’|「[^」]*」|《[^》]*》|\"[^\"]*\"")
# A Chinese address: a run of Han characters and digits with at least two address parts
# ("上海市浦东新区世纪大道100号", "北京市朝阳区建国路88号").
_HAN_RUN = re.compile(f"[{_HAN_CLASS}0-9０-９\\-#]+")
_ADDRESS_PART = re.compile(r"省|市|区|县|镇|乡|村|路|街|大道|巷|弄|号|栋|楼|室|大厦|小区|花园|广场")
_ADDRESS_PARTS = 2
# Characters that only occur in a Chinese sentence's frame, never in a name or an address.
_HAN_FRAME = frozenset(
    "的了吗呢吧啊呀嘛我你您他她是在有不没要想能请帮把给让这那个么什哪怎还也都就很和"
)
_EN_FRAME = frozenset(
    {
        "a",
        "an",
        "the",
        "to",
        "of",
        "for",
        "from",
        "with",
        "in",
        "on",
        "at",
        "by",
        "about",
        "is",
        "are",
        "am",
        "was",
        "were",
        "be",
        "been",
        "do",
        "does",
        "did",
        "can",
        "could",
        "would",
        "will",
        "should",
        "may",
        "might",
        "must",
        "i",
        "me",
        "my",
        "mine",
        "you",
        "your",
        "we",
        "our",
        "us",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "and",
        "or",
        "but",
        "not",
        "no",
        "please",
        "want",
        "need",
        "how",
        "what",
        "where",
        "when",
        "why",
        "which",
        "who",
        "have",
        "has",
        "had",
        "get",
        "got",
        "there",
        "here",
        "if",
        "so",
        "just",
    }
)
_FRAME_WORDS = 2


def detect_language(text: str, previous: Language | None = None) -> Language | None:
    """Return "zh" or "en" for ``text``; ``previous`` (or None) when the text has no letters."""
    text = _CODE.sub(" ", text)
    han = len(_HAN.findall(text))
    latin_words = _LATIN_WORD.findall(text)
    if han and latin_words:
        return _mixed(text)
    if han:
        return "zh"
    if latin_words:
        return "en"
    if _ZH_PUNCT.search(text):
        return "zh"
    return previous


def _mixed(text: str) -> Language:
    """The language of a message with both scripts, from the words that frame the sentence."""
    frame = _QUOTED.sub(" ", text)
    frame = _HAN_RUN.sub(
        lambda run: " " if len(_ADDRESS_PART.findall(run.group(0))) >= _ADDRESS_PARTS else run[0],
        frame,
    )
    han = _HAN.findall(frame)
    words = [w.lower() for w in _LATIN_WORD.findall(frame)]
    if not han:
        return "en" if words else "zh"
    if not words:
        return "zh"
    zh_frame = sum(char in _HAN_FRAME for char in han)
    en_frame = sum(word in _EN_FRAME for word in words)
    if en_frame >= _FRAME_WORDS and zh_frame == 0:
        return "en"
    if zh_frame and not en_frame:
        return "zh"
    # Neither frame is clear ("退货 return", "我想 change my address"): a few pasted English
    # words in a Chinese message are common, the reverse is rare, so English needs a majority.
    latin_chars = sum(len(word) for word in words)
    return "en" if len(words) >= 3 and latin_chars > 4 * len(han) else "zh"
