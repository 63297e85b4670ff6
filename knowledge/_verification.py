"""The optional LLM verifier: before the knowledge base gives an answer its thresholds chose, the
configured model is asked whether the chosen FAQ entry or passage answers the question at all.

A "no" turns the answer into an abstention; a failure of the model (timeout, HTTP error, a reply
that is neither yes nor no) keeps the thresholds' decision, so a model that is down never costs an
answer. Measured by ``bench/kb_verifier.py``: off by default (README, "LLM verifier").
"""

from __future__ import annotations

import logging
import re
from enum import Enum
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate

logger = logging.getLogger(__name__)

# A yes or a no is all the verifier reads; a few tokens leave room for "Yes." or "是的".
VERIFY_MAX_TOKENS = 4
# Entries are cut to this many characters: the first part of an answer says what it is about.
ENTRY_CHARS = 600

# Worded for small models (Qwen2.5-0.5B): the material and the question in the user turn, which
# ends with the two words allowed; no example reply (small models copy it).
_PROMPTS = {
    "en": ChatPromptTemplate.from_messages(
        [
            (
                "system",
                "You check a customer-service knowledge base. Reply with one word: yes or no.",
            ),
            (
                "human",
                "Customer question: {question}\n\nKnowledge-base entry:\n{entry}\n\n"
                "Does this entry answer the customer's question? Reply yes or no:",
            ),
        ]
    ),
    "zh": ChatPromptTemplate.from_messages(
        [
            ("system", "你在检查客服知识库。只用一个字回答：是 或 否。"),
            (
                "human",
                "客户问题：{question}\n\n知识库条目：\n{entry}\n\n"
                "这个条目回答了客户的问题吗？只回答“是”或“否”：",
            ),
        ]
    ),
}
_YES_WORDS = {"yes", "yeah", "yep", "true", "correct"}
_NO_WORDS = {"no", "nope", "false", "incorrect"}
# 不是/不能/没有 start with their negation; 是/对/能/可以 say yes.
_ZH_NO = re.compile(r"^[否不没无]")
_ZH_YES = re.compile(r"^(?:是|对|能|可以|有)")
_LEADING = re.compile(r"^[\s\"'`*“”‘’「」【】\[\(（:：.,，。!！-]+")
_ANSWER_LABEL = re.compile(r"^(?:answer|reply|回答|答案|答)\s*[:：]\s*", re.IGNORECASE)


class Verdict(Enum):
    """What the verifier concluded about an answer the thresholds chose."""

    ANSWERS = "answers"  # the model said yes
    DOES_NOT_ANSWER = "does not answer"  # the model said no: abstain
    UNKNOWN = "unknown"  # no usable reply: keep the thresholds' decision


def verification_prompt(question: str, entry: str, language: str) -> list[BaseMessage]:
    """The yes/no question put to the model, in the customer's language (English for others)."""
    template = _PROMPTS.get(language, _PROMPTS["en"])
    return template.format_messages(question=question, entry=entry[:ENTRY_CHARS].strip())


def parse_verdict(reply: str) -> Verdict:
    """A model's reply read: yes/是 → ANSWERS, no/否/不… → DOES_NOT_ANSWER, else UNKNOWN."""
    text = _LEADING.sub("", _ANSWER_LABEL.sub("", _LEADING.sub("", reply.strip())))
    word = re.match(r"\w+", text, re.ASCII)
    if word is not None:
        first = word.group().lower()
        if first in _YES_WORDS:
            return Verdict.ANSWERS
        if first in _NO_WORDS:
            return Verdict.DOES_NOT_ANSWER
        return Verdict.UNKNOWN
    if _ZH_NO.match(text):
        return Verdict.DOES_NOT_ANSWER
    if _ZH_YES.match(text):
        return Verdict.ANSWERS
    return Verdict.UNKNOWN


def verify(model: BaseChatModel, question: str, entry: str, language: str) -> Verdict:
    """Ask ``model`` whether ``entry`` answers ``question``; any failure is UNKNOWN, logged with
    its kind only (never the question)."""
    try:
        reply: BaseMessage = model.invoke(verification_prompt(question, entry, language))
    except Exception as exc:  # noqa: BLE001 - any failure of a remote model keeps the decision
        logger.warning(
            "The LLM verifier failed (%s); keeping the thresholds' decision", type(exc).__name__
        )
        return Verdict.UNKNOWN
    content: Any = reply.content
    if isinstance(content, list):
        content = "".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    verdict = parse_verdict(str(content))
    if verdict is Verdict.UNKNOWN:
        logger.warning(
            "The LLM verifier replied neither yes nor no (%d characters); keeping the "
            "thresholds' decision",
            len(str(content)),
        )
    return verdict
