"""Generated answers: a LangChain chat model over any OpenAI-compatible endpoint, and the check
that keeps an answer only when the retrieved passages support every sentence and number of it."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate

from knowledge._embeddings import Embedder
from knowledge._text import han_ratio, numbers, sentences, tokens

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
    supporting = tuple(dict.fromkeys(evidence[int(j)][0] for j in np.atleast_1d(best)))
    cited = tuple(sorted(marked)) if marked else supporting
    return Verdict(True, "", cited, text)
