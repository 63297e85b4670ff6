"""Colloquial Chinese questions repaired against the corpus's own words before retrieval.

Customers type on phones with pinyin input: a homophone in place of the word they meant
(留量 for 流量, 套参 for 套餐, 慢游 for 漫游), pinyin initials for a whole word (xhzw for
携号转网, mm for 密码), Cantonese or northern colloquial function words (喺边度, 有冇, 咋整,
啥). e5-small and BM25 both miss such a question's key word. The repair changes a question only
towards words the knowledge base itself uses:

- **dialect words**: a short table of Cantonese and northern colloquial words and their
  standard forms, applied only where the corpus does not use the colloquial word itself;
- **homophones**: a stretch of 2–4 characters that the corpus never has side by side becomes a
  corpus word that sounds the same in pinyin without tones, shares at least half its
  characters, and is the commoner word in jieba's dictionary (so 事实 never becomes 实时);
- **pinyin initials**: a Latin token of initial letters only (no vowel) that the corpus does
  not use gets the commonest corpus word with those initials written after it (the token is
  kept, so an abbreviation that was meant stays).

Written here because no maintained library corrects Chinese against a given vocabulary:
pycorrector's kenlm language models (148 MB to 2.95 GB) come from a model hub, and it corrects
towards general Chinese, which would "correct" a business's own terms. pypinyin gives the
readings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

from pypinyin import lazy_pinyin

from knowledge._text import STOPWORDS, _jieba

_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")
# Latin tokens made of pinyin initials only: no vowel, so "app", "vip", "esim" and "puk" are
# never read as initials.
_INITIALS = re.compile(r"(?<![a-z0-9])[bcdfghjklmnpqrstwxyz]{2,4}(?![a-z0-9])", re.IGNORECASE)

# Cantonese and northern colloquial words as customers type them, and their standard forms;
# longest first. Only words that are not also common standard Chinese (so not 点 "o'clock",
# 系 "department" or 好 "good").
DIALECT: Mapping[str, str] = {
    # Cantonese
    "喺唔喺度": "在不在",
    "喺边度": "在哪里",
    "喺度": "在",
    "仲有": "还有",
    "仲喺": "还在",
    "几时": "什么时候",
    "边度": "哪里",
    "边个": "哪个",
    "点解": "为什么",
    "点样": "怎么样",
    "点算": "怎么办",
    "几多": "多少",
    "有冇": "有没有",
    "係咪": "是不是",
    "系咪": "是不是",
    "得唔得": "行不行",
    "乜嘢": "什么",
    "而家": "现在",
    "琴日": "昨天",
    "听日": "明天",
    "唔该": "请",
    "冇": "没有",
    "喺": "在",
    "咗": "了",
    "揾": "找",
    "哋": "们",
    "嘅": "的",
    "俾": "给",
    "畀": "给",
    "唔": "不",
    "咩": "什么",
    "係": "是",
    "佢": "他",
    "嚟": "来",
    "咁": "这么",
    "嘢": "东西",
    "睇": "看",
    "啲": "些",
    # northern colloquial
    "咋整": "怎么办",
    "咋办": "怎么办",
    "咋回事": "怎么回事",
    "咋": "怎么",
    "啥": "什么",
    "木有": "没有",
    "没啥": "没什么",
    "甭": "不用",
    "俺": "我",
}
_DIALECT = re.compile("|".join(sorted(map(re.escape, DIALECT), key=len, reverse=True)))

# Question words customers abbreviate that a corpus's tokens (stopwords out) do not carry.
_QUESTION_WORDS = ("怎么", "什么", "为什么", "多少", "哪里", "怎样", "可以", "没有", "手机")


@lru_cache(maxsize=65536)
def _reading(char: str) -> str:
    """A character's commonest toneless pinyin reading (a character with none: itself)."""
    found = lazy_pinyin(char)
    return found[0] if found else char


@lru_cache(maxsize=262144)
def _sound(word: str) -> tuple[str, ...]:
    """A word's toneless pinyin, read in context (长途 is chang tu); kept across revisions."""
    return tuple(lazy_pinyin(word))


class QueryRepair:
    """The repairs a corpus allows, from its BM25 vocabulary (terms and document counts)."""

    def __init__(self, vocabulary: Mapping[str, int]) -> None:
        tokenizer = _jieba()
        self._freq = tokenizer.FREQ
        self._present = {t for t in vocabulary if _HAN.match(t)}
        self._latin = {t for t in vocabulary if t.isascii()}
        self._count = dict(vocabulary)
        # Corpus words (jieba dictionary words of 2–4 characters) by their toneless sound and by
        # their initials.
        self._by_sound: dict[tuple[str, ...], list[str]] = {}
        self._by_initials: dict[str, list[str]] = {}
        words = [
            t
            for t in self._present
            if 2 <= len(t) <= 4 and self._freq.get(t, 0) > 0 and vocabulary.get(t, 0) > 0
        ]
        for word in (*words, *_QUESTION_WORDS):
            sound = _sound(word)
            self._by_sound.setdefault(sound, []).append(word)
            self._by_initials.setdefault("".join(s[0] for s in sound), []).append(word)

    @classmethod
    def of_terms(cls, vocabularies: Iterable[Mapping[str, int]]) -> QueryRepair:
        merged: dict[str, int] = {}
        for vocabulary in vocabularies:
            for term, count in vocabulary.items():
                merged[term] = merged.get(term, 0) + count
        return cls(merged)

    def repair(self, question: str) -> str:
        """The question with its dialect words, homophone typos and pinyin initials mended
        towards the corpus's words; unchanged when nothing applies."""
        text = _DIALECT.sub(self._dialect, question)
        if not _HAN_RUN.search(text):
            return text  # no Chinese: nothing here applies ("my" is no 没有 in English)
        text = _HAN_RUN.sub(lambda m: self._homophones(m.group(0)), text)
        return _INITIALS.sub(self._initials, text)

    def _dialect(self, match: re.Match[str]) -> str:
        word = match.group(0)
        return word if word in self._present else DIALECT[word]

    def _absent(self, window: str) -> bool:
        """Some two adjacent characters of the window never stand side by side in the corpus."""
        return any(window[i : i + 2] not in self._present for i in range(len(window) - 1))

    def _homophones(self, run: str) -> str:
        """Windows of whole jieba pieces (no HMM guesses), at least one of them a lone
        character, that are no dictionary word and that the corpus never writes, mended to the
        corpus word they sound like. A window that cuts through a word ("号码上" read as
        "号 | 马上") is never tried."""
        pieces = list(self._cut(run))
        starts = [0]
        for piece in pieces:
            starts.append(starts[-1] + len(piece))
        bounds = set(starts)
        single = {start for start, piece in zip(starts, pieces, strict=False) if len(piece) == 1}
        out: list[str] = []
        i = 0
        while i < len(run):
            if i in bounds:
                for n in (4, 3, 2):
                    window = run[i : i + n]
                    if (
                        len(window) == n
                        and i + n in bounds
                        and any(j in single for j in range(i, i + n))
                        and self._freq.get(window, 0) == 0
                        and self._absent(window)
                    ):
                        word = self._sounds_like(window)
                        if word is not None:
                            out.append(word)
                            i += n
                            break
                else:
                    out.append(run[i])
                    i += 1
                continue
            out.append(run[i])
            i += 1
        return "".join(out)

    def _cut(self, run: str) -> list[str]:
        return list(_jieba().cut(run, HMM=False))

    def _sounds_like(self, window: str) -> str | None:
        """The corpus word the window was probably typed for, if any: the window read with each
        character's commonest reading (every reading of 不 would also match 否 and 浮; chosen
        on the dev splits, 2026-12-05, where it lost no question)."""
        sound = tuple(_reading(ch) for ch in window)
        own = self._freq.get(window, 0)
        best: tuple[int, int, str] | None = None
        for word in self._by_sound.get(sound, ()):
            differing = sum(a != b for a, b in zip(word, window, strict=True))
            if not 0 < differing <= len(window) // 2 or self._freq.get(word, 0) <= own:
                continue
            rank = (self._count.get(word, 0), self._freq.get(word, 0), word)
            if best is None or rank > best:
                best = rank
        return best[2] if best else None

    def _initials(self, match: re.Match[str]) -> str:
        """Two letters are read as a question word, or as the one corpus word with those
        initials; three or four as the commonest corpus word with them."""
        token = match.group(0)
        if token.lower() in self._latin or token.lower() in STOPWORDS:
            return token
        words = self._by_initials.get(token.lower(), [])
        if len(token) == 2:
            asked = [w for w in words if w in _QUESTION_WORDS]
            words = asked or (words if len(words) == 1 else [])
        if not words:
            return token
        word = max(words, key=lambda w: (self._count.get(w, 0), self._freq.get(w, 0), w))
        return f"{token}{word}"
