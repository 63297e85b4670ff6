"""Generated answers: a LangChain chat model over any OpenAI-compatible endpoint, and the check
that keeps an answer only when the retrieved passages support every sentence and number of it."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate

from knowledge._embeddings import Embedder
from knowledge._text import _chinese_number, han_ratio, numbers, sentences, tokens

logger = logging.getLogger(__name__)

NO_ANSWER = "NO_ANSWER"
# A statement of the answer is supported when most of its words are in the passages, or, across
# languages, when it is a near-paraphrase of one of their sentences. e5 similarity alone cannot
# tell: an invented "we also give you a gift card" scores 0.87 against a refund policy, while a
# faithful translation scores 0.82-0.95 (tests/test_knowledge_generation.py holds the cases).
LEXICAL_SUPPORT = 0.5
SUPPORT_THRESHOLD = 0.93
_CLAUSE_END = re.compile(r"(?<=[，,；;：:])\s*")
_CITATION = re.compile(r"\[(\d{1,2})\]|【(\d{1,2})】")

_LANGUAGE_NAMES = {"zh": "Simplified Chinese (简体中文)", "en": "English"}

# Worded for small models too (tried on Qwen2.5-0.5B): the passages and the question go in the
# user turn, which ends with what to write; an example answer in the instructions gets copied.
PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You are a helpful customer-service assistant. Use only the facts in the passages "
            "the customer gives you. Cite the passage number in square brackets after each "
            "sentence. If the passages say nothing about the question, reply " + NO_ANSWER + ".",
        ),
        (
            "human",
            "Passages:\n{passages}\n\nQuestion: {question}\n\n"
            "Answer in {language_name} in one or two sentences:",
        ),
    ]
)


SUMMARY_PROMPT = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You brief a customer-service agent who takes over a chat from a bot. State what the "
            "customer wants, what has been tried and what is still open. Use only facts from the "
            "conversation.",
        ),
        (
            "human",
            "Conversation:\n{conversation}\n\n"
            "Summarize it for the agent in {language_name}, in at most three short sentences:",
        ),
    ]
)


@dataclass(frozen=True)
class LLMConfig:
    """An OpenAI-compatible chat endpoint."""

    base_url: str
    model: str
    api_key: str = "not-needed"
    timeout_s: float = 30.0
    max_tokens: int = 160


@dataclass(frozen=True)
class Passage:
    """A retrieved passage offered to the model as ``[n]``."""

    n: int
    heading: str
    text: str


@dataclass(frozen=True)
class Verdict:
    """Whether a generated answer may be shown, why not, and which passages it rests on."""

    ok: bool
    reason: str
    cited: tuple[int, ...]
    text: str


def chat_model(config: LLMConfig) -> BaseChatModel:
    """LangChain's OpenAI chat model pointed at the configured endpoint; greedy decoding."""
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    return ChatOpenAI(
        base_url=config.base_url,
        model=config.model,
        api_key=SecretStr(config.api_key),
        temperature=0,
        max_completion_tokens=config.max_tokens,
        timeout=config.timeout_s,
        max_retries=1,
    )


def generate(
    model: BaseChatModel, question: str, language: str, passages: Sequence[Passage]
) -> str:
    """The model's answer text (raw: citations markers included)."""
    numbered = "\n".join(f"[{p.n}] {p.text}" for p in passages)
    messages = PROMPT.format_messages(
        language_name=_LANGUAGE_NAMES.get(language, "English"),
        passages=numbered,
        question=question,
    )
    reply: BaseMessage = model.invoke(messages)
    content: Any = reply.content
    if isinstance(content, list):
        content = "".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return str(content).strip()


def summarize_conversation(model: BaseChatModel, lines: Sequence[str], language: str) -> str:
    """A short briefing on a conversation (``lines`` like "Customer: …"), in ``language``."""
    messages = SUMMARY_PROMPT.format_messages(
        language_name=_LANGUAGE_NAMES.get(language, "English"), conversation="\n".join(lines)
    )
    reply: BaseMessage = model.invoke(messages)
    return str(reply.content).strip()


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _clauses(text: str) -> list[str]:
    """Statements of an answer: its sentences, split again at commas and semicolons, so an
    invented clause cannot hide behind a supported one."""
    return [c.strip() for s in sentences(text) for c in _CLAUSE_END.split(s) if c.strip()]


def check_grounding(
    raw: str,
    question: str,
    language: str,
    passages: Sequence[Passage],
    embedder: Embedder,
    threshold: float = SUPPORT_THRESHOLD,
) -> Verdict:
    """Accept a generated answer only if it answers, in the right language, with every number and
    every sentence found in the passages."""
    marked = {int(a or b) for a, b in _CITATION.findall(raw)}
    text = re.sub(r"\s+([。！？.,，!?])", r"\1", _CITATION.sub("", raw)).strip()
    if not text or NO_ANSWER in raw.upper().replace(" ", "_"):
        return Verdict(False, "the model found no answer in the passages", (), text)
    ratio = han_ratio(text)
    if (language == "zh" and ratio < 0.3) or (language == "en" and ratio > 0.1):
        return Verdict(False, f"the model did not answer in {_LANGUAGE_NAMES[language]}", (), text)
    known = {p.n for p in passages}
    if marked - known:
        return Verdict(
            False, f"the model cited passages that do not exist: {sorted(marked - known)}", (), text
        )
    copied = [p.n for p in passages if _squash(p.text) in _squash(text)]
    if len(copied) >= 2 or (copied and len(_squash(text)) > 1.5 * len(_squash(passages[0].text))):
        return Verdict(False, "the model repeated the passages instead of answering", (), text)
    source_numbers = numbers(" ".join(p.text for p in passages)) | numbers(question)
    invented = sorted(numbers(text) - source_numbers)
    if invented:
        return Verdict(
            False, f"the answer states numbers the passages do not: {invented}", (), text
        )
    claims = [c for c in _clauses(text) if len(tokens(c)) >= 2]
    evidence = [(p.n, s) for p in passages for s in sentences(p.text) if len(s) >= 2]
    if not claims or not evidence:
        return Verdict(False, "the answer has no statement to check", (), text)
    evidence_tokens = [set(tokens(s)) for _, s in evidence]
    known_tokens = set().union(*evidence_tokens) | set(tokens(question))
    claim_vectors = embedder.embed_queries(claims)
    evidence_vectors = embedder.embed_queries([s for _, s in evidence])
    similarity = claim_vectors @ evidence_vectors.T
    best = similarity.argmax(axis=1)
    for i, claim in enumerate(claims):
        words = tokens(claim)
        coverage = sum(w in known_tokens for w in words) / len(words)
        if coverage < LEXICAL_SUPPORT and similarity[i, best[i]] < threshold:
            return Verdict(
                False,
                f"a statement is not supported by the passages (words found {coverage:.0%}, "
                f"similarity {similarity[i, best[i]]:.2f}): {claim[:80]}",
                (),
                text,
            )
    problem = _contradicted(claims, claim_vectors, passages, embedder)
    if problem:
        return Verdict(False, f"a statement contradicts the passages: {problem}", (), text)
    supporting = tuple(dict.fromkeys(evidence[int(j)][0] for j in np.atleast_1d(best)))
    cited = tuple(sorted(marked)) if marked else supporting
    return Verdict(True, "", cited, text)


# --- Contradictions -----------------------------------------------------------------------------
# Hand-written rules rather than a natural-language-inference model: no NLI model ships inside an
# installed package, and e5 similarity cannot see them ("Return shipping is not free" scores 0.9+
# against "Return shipping is free"). Each statement of the answer is compared with the passage
# clause it paraphrases: the same polarity, the same unit after each number, no alternative
# ("after" for "before", "Silver" for "Gold") and no widening word ("all", "only") the passages
# lack. Designed on knowledge/eval/grounding_dev.jsonl; grounding_report measures the test split.
# "not yet X" and 还没/尚未 say "before X", not "never X"; 无理由 and "no-reason" name a kind of
# return. Words of cost polarity ("free", 免费, 包邮) count as negations of paying.
_NEGATION = re.compile(
    r"\b(?:not(?!\s+yet)|never|none|nor|neither|without|cannot|free|no(?!-))\b|n't\b"
    r"|(?<![还尚])[没未]|不|非|别|勿|免|包邮|无(?!理由)",
    re.IGNORECASE,
)
_HAN_CHAR = re.compile(r"[\u3400-\u9fff]")
_SELF_CONTAINED = re.compile(r"free|免|包邮", re.IGNORECASE)
_FREE_PHRASES = re.compile(
    r"free of charge|at no (?:extra )?cost|for free|no charge", re.IGNORECASE
)
_NUMBER = r"(\d+(?:\.\d+)?|[一二两三四五六七八九十]+|{words})"
_RANGE = _NUMBER + r"(?:\s*(?:[–\-~]|to|到|至)\s*" + _NUMBER + ")?"
_EN_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
}
_WORDS = "|".join(_EN_NUMBER_WORDS)
# The unit after a number, and what it means; "days" and "working days" are different units.
_UNITS: tuple[tuple[str, str], ...] = (
    (r"(?:business|working)\s+days?|工作日", "working day"),
    (r"calendar\s+days?|自然日", "calendar day"),
    (r"days?|天", "day"),
    (r"weeks?|周|星期", "week"),
    (r"months?|个月", "month"),
    (r"years?|年", "year"),
    (r"hours?|小时", "hour"),
    (r"minutes?|分钟", "minute"),
    (r"(?:yuan|rmb|cny)\b|元|块", "CNY"),
    (r"(?:dollars?|usd)\b|美元", "USD"),
    (r"(?:euros?|eur)\b|欧元", "EUR"),
    (r"(?:kg|kilograms?)\b|公斤|千克", "kg"),
    (r"(?:points?)\b|积分|分", "point"),
    (r"%|percent\b|折", "percent"),
)
_UNIT_AFTER = re.compile(
    _RANGE.format(words=_WORDS)
    + r"\s*个?\s*("
    + "|".join(f"(?:{pattern})" for pattern, _ in _UNITS)
    + ")",
    re.IGNORECASE,
)
_CURRENCY_BEFORE = re.compile(r"([¥￥$€])\s*(\d+(?:\.\d+)?)")
_CURRENCY_SIGNS = {"¥": "CNY", "￥": "CNY", "$": "USD", "€": "EUR"}
# Words of which a statement holds one; an answer naming another than its passage changes it.
_ALTERNATIVES: tuple[tuple[str, ...], ...] = (
    (r"\bbefore\b|前", r"\b(?:after|later)\b|后"),
    (
        r"\b(?:over|above|more than|at least)\b|以上|超过|满",
        r"\b(?:under|below|less than|at most)\b|以下|不足|不满",
    ),
    (r"\bwithin\b|以内|内", r"\boutside\b|以外|之外"),
    (r"\binclud\w*", r"\bexclud\w*|\bexcept\b|除外"),
    (r"\bweekdays?\b|工作日", r"\bweekends?\b|周末"),
    (r"\bdomestic\b|国内", r"\b(?:international|overseas|abroad)\b|国外|海外|国际"),
    (r"\bgold\b|金卡", r"\bsilver\b|银卡", r"\bplatinum\b|白金", r"\bdiamond\b|钻石"),
    (r"\bam\b|上午|早上", r"\bpm\b|下午|晚上"),
    (
        r"\bjan(?:uary)?\b",
        r"\bfeb(?:ruary)?\b",
        r"\bmarch\b",
        r"\bapril\b",
        r"\bmay\b",
        r"\bjune\b",
        r"\bjuly\b",
        r"\baug(?:ust)?\b",
        r"\bsept?(?:ember)?\b",
        r"\boct(?:ober)?\b",
        r"\bnov(?:ember)?\b",
        r"\bdec(?:ember)?\b",
    ),
)
# Words that widen or narrow what a statement covers; an answer may use one only where its
# passages do.
_SCOPE = re.compile(
    r"\b(?:all|every|any|always|everywhere|everyone|only|even|too|whole|entire)\b"
    r"|所有|全部|任何|一律|全场|仅|只|无论|总是",
    re.IGNORECASE,
)


def _number_value(word: str) -> str:
    lowered = word.lower()
    if lowered in _EN_NUMBER_WORDS:
        return str(_EN_NUMBER_WORDS[lowered])
    if re.fullmatch(r"[一二两三四五六七八九十]+", word):
        value = _chinese_number(word)
        return str(value) if value is not None else word
    return word


def _unit_of(word: str) -> str:
    return next(name for pattern, name in _UNITS if re.fullmatch(pattern, word, re.IGNORECASE))


def _quantities(text: str) -> set[tuple[str, str]]:
    """(number, unit) pairs a text states: "3–5 business days" → (3, working day), (5, …)."""
    folded = unicodedata.normalize("NFKC", text)
    found: set[tuple[str, str]] = set()
    for match in _UNIT_AFTER.finditer(folded):
        unit = _unit_of(match.group(3))
        for number in match.group(1, 2):
            if number:
                found.add((_number_value(number), unit))
    for match in _CURRENCY_BEFORE.finditer(text):
        found.add((match.group(2), _CURRENCY_SIGNS[match.group(1)]))
    return found


def _english_numbers(text: str) -> set[str]:
    return {
        str(_EN_NUMBER_WORDS[w])
        for w in re.findall(r"[a-z]+", text.lower())
        if w in _EN_NUMBER_WORDS
    }


def _polarity(text: str, other: str) -> int:
    """Parity of the negations of ``text`` that bear on words ``other`` also states: a negation
    in a clause about something else ("unless you are a Gold member" beside "members return for
    free") does not count."""
    other_tokens = set(tokens(other))
    count = 0
    for match in _NEGATION.finditer(text):
        if _HAN_CHAR.match(match.group()):
            # jieba cuts the same words differently in another context: compare character pairs.
            start = match.start() - 3 if _SELF_CONTAINED.fullmatch(match.group()) else match.end()
            window = text[max(0, start) : match.end() + 4]
            bears = any(window[i : i + 2] in other for i in range(len(window) - 1))
        else:
            words = text[match.end() :].split()[:3]
            if _SELF_CONTAINED.fullmatch(match.group()):
                words = [*text[: match.start()].split()[-1:], match.group(), *words]
            bears = any(_same_word(w, o) for w in tokens(" ".join(words)) for o in other_tokens)
        count += bears
    return count % 2


def _same_word(a: str, b: str) -> bool:
    # Stems differ by their endings ("cancel", "cancell"): a shared start of 5 letters is a match.
    return a == b or (a.isascii() and len(a) >= 5 and len(b) >= 5 and a[:5] == b[:5])


def _alternative(claim: str, evidence: str) -> str | None:
    """The word of the claim that replaces another of its kind in the evidence, if any."""
    for group in _ALTERNATIVES:
        said = [p for p in group if re.search(p, claim, re.IGNORECASE)]
        meant = [p for p in group if re.search(p, evidence, re.IGNORECASE)]
        for pattern in said:
            if pattern not in meant and meant:
                word = re.search(pattern, claim, re.IGNORECASE)
                assert word is not None
                other = re.search(meant[0], evidence, re.IGNORECASE)
                assert other is not None
                return f"it says {word.group()!r} where the passage says {other.group()!r}"
    return None


def contradiction(
    claim: str, evidence: str, passages_text: str, sentence: str | None = None
) -> str | None:
    """Why ``claim`` contradicts the passage clause ``evidence`` it paraphrases (None: it does
    not): another polarity, unit, alternative or scope than the passages state. ``sentence``, the
    whole sentence of a clause, settles polarity when the clause is only a condition ("If the
    item has a quality problem," beside "shipping is free for quality problems")."""
    claim, evidence = _FREE_PHRASES.sub("free", claim), _FREE_PHRASES.sub("free", evidence)
    whole = _FREE_PHRASES.sub("free", sentence or claim)
    if _polarity(claim, evidence) != _polarity(evidence, claim) and _polarity(
        whole, evidence
    ) != _polarity(evidence, whole):
        return "it negates what the passage states"
    changed = sorted(_quantities(claim) - _quantities(passages_text))
    if changed:
        return "it changes a quantity or unit: " + ", ".join(f"{n} {u}" for n, u in changed)
    invented = sorted(
        _english_numbers(claim) - numbers(passages_text) - _english_numbers(passages_text)
    )
    if invented:
        return f"it states numbers the passages do not: {invented}"
    swapped = _alternative(claim, evidence)
    if swapped:
        return swapped
    scope = [
        w
        for w in _SCOPE.findall(claim)
        if not re.search(re.escape(w), passages_text, re.IGNORECASE)
    ]
    if scope:
        return f"it widens or narrows the scope with {scope[0]!r}"
    return None


def _contradicted(
    claims: Sequence[str], claim_vectors: Any, passages: Sequence[Passage], embedder: Embedder
) -> str | None:
    """The first contradiction between a claim and the passage clause closest to it."""
    text = " ".join(p.text for p in passages)
    clauses = [c for p in passages for c in _clauses(p.text)]
    if not clauses:
        return None
    similarity = claim_vectors @ embedder.embed_queries(clauses).T
    sentence_of = {c: s for s in sentences(" ".join(claims)) for c in _clauses(s)}
    for i, claim in enumerate(claims):
        evidence = clauses[int(similarity[i].argmax())]
        problem = contradiction(claim, evidence, text, sentence_of.get(claim))
        if problem:
            return f"{problem}: {claim[:80]}"
    return None
