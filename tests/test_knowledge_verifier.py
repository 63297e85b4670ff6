"""The optional LLM verifier: its prompt and the reading of the reply, and the knowledge base's
safety rules against a loopback stand-in speaking the OpenAI chat-completions format (yes answers,
no abstains, a failure keeps the thresholds' decision, verdicts are cached); one integration test
with the real llama-cpp server."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import Settings
from bot.app._knowledge import knowledge_config
from bot.language import detect_language
from knowledge import E5Embedder, Embedder, KnowledgeBase, KnowledgeConfig, LLMConfig
from knowledge._verification import Verdict, parse_verdict, verification_prompt
from tests.chat_standin import HANG, ChatStandIn, chat_standin, completion
from tests.llm_server import MODEL_ALIAS, llama_server

FAQ = [
    {"id": "hours", "question": "When are you open?", "answer": "Every day from 9:00 to 18:00."},
    {"id": "parking", "question": "Where can I park?", "answer": "Behind the building, free."},
]
POLICY = """\
---
id: policy-returns
language: en
---
# Returns

## Refund times

Refunds go back to the original payment method within 3-5 business days after the warehouse
receives the return.
"""
QUESTION = "When are you open?"


@pytest.fixture
def standin() -> Iterator[ChatStandIn]:
    with chat_standin("yes") as state:
        yield state


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return E5Embedder()


def open_kb(
    folder: Path,
    embedder: Embedder,
    url: str,
    band: float | None = None,
    timeout_s: float = 5.0,
    model: str = "standin",
) -> KnowledgeBase:
    (folder / "kb").mkdir(exist_ok=True)
    (folder / "kb" / "faq.jsonl").write_text("\n".join(json.dumps(r) for r in FAQ))
    (folder / "kb" / "returns.en.md").write_text(POLICY, encoding="utf-8")
    config = KnowledgeConfig(
        persist_dir=folder / "chroma",
        embedding_cache=folder / "embeddings.sqlite",
        faq_threshold=0.9,
        answer_threshold=0.8,
        self_calibrate=False,
        llm=LLMConfig(base_url=url, model=model, timeout_s=timeout_s),
        llm_verify=True,
        verify_band=band,
    )
    kb = KnowledgeBase(config, detect_language=detect_language, embedder=embedder)
    kb.ingest([folder / "kb"])
    return kb


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("Yes", Verdict.ANSWERS),
        ("yes.", Verdict.ANSWERS),
        ("**Yes**, it does.", Verdict.ANSWERS),
        ("Answer: yes", Verdict.ANSWERS),
        ("是", Verdict.ANSWERS),
        ("是的。", Verdict.ANSWERS),
        ("No", Verdict.DOES_NOT_ANSWER),
        ("no, the entry is about parking", Verdict.DOES_NOT_ANSWER),
        ("否", Verdict.DOES_NOT_ANSWER),
        ("不是。", Verdict.DOES_NOT_ANSWER),
        ("不能", Verdict.DOES_NOT_ANSWER),
        ("", Verdict.UNKNOWN),
        ("Maybe", Verdict.UNKNOWN),
        ("yesterday", Verdict.UNKNOWN),
        ("The entry says we open at 9.", Verdict.UNKNOWN),
        ("NO_ANSWER", Verdict.UNKNOWN),
    ],
)
def test_the_reply_is_read_as_yes_no_or_unknown(reply: str, verdict: Verdict) -> None:
    assert parse_verdict(reply) is verdict


def test_the_prompt_asks_yes_or_no_in_the_customers_language() -> None:
    en = verification_prompt("When are you open?", "Q: Hours\nA: 9 to 6", "en")
    zh = verification_prompt("几点开门？", "问：营业时间\n答：9点到18点" + "很" * 2000, "zh")
    assert [(m.type, m.content) for m in en] == [
        ("system", "You check a customer-service knowledge base. Reply with one word: yes or no."),
        (
            "human",
            "Customer question: When are you open?\n\nKnowledge-base entry:\nQ: Hours\nA: 9 to 6"
            "\n\nDoes this entry answer the customer's question? Reply yes or no:",
        ),
    ]
    assert zh[0].content == "你在检查客服知识库。只用一个字回答：是 或 否。"
    assert str(zh[1].content).startswith("客户问题：几点开门？\n\n知识库条目：\n问：营业时间")
    assert str(zh[1].content).endswith("这个条目回答了客户的问题吗？只回答“是”或“否”：")
    assert len(str(zh[1].content)) < 700  # the entry is cut


def test_yes_keeps_the_answer_and_the_verdict_is_cached(
    standin: ChatStandIn, embedder: Embedder, tmp_path: Path
) -> None:
    kb = open_kb(tmp_path, embedder, standin.url)
    try:
        first = kb.answer(QUESTION, "en")
        again = kb.answer("when are you open", "en")
    finally:
        kb.close()
    assert (first.abstained, first.kind, first.answer) == (False, "faq", FAQ[0]["answer"])
    assert (again.cached, again.answer) == (True, FAQ[0]["answer"])
    assert len(standin.requests) == 1
    request = standin.requests[0].body
    assert request["max_completion_tokens"] == 4
    assert request["messages"][1]["content"] == (
        "Customer question: When are you open?\n\nKnowledge-base entry:\n"
        "Q: When are you open?\nA: Every day from 9:00 to 18:00."
        "\n\nDoes this entry answer the customer's question? Reply yes or no:"
    )


def test_no_turns_the_answer_into_a_cached_abstention(
    standin: ChatStandIn, embedder: Embedder, tmp_path: Path
) -> None:
    standin.reply = lambda body: (200, completion("No."))
    kb = open_kb(tmp_path, embedder, standin.url)
    try:
        first = kb.answer(QUESTION, "en")
        again = kb.answer(QUESTION, "en")
    finally:
        kb.close()
    assert (first.abstained, first.kind, first.citations, first.related) == (
        True,
        "abstained",
        (),
        (),
    )
    assert first.note == "the language model judged the best entry off-topic"
    assert (again.cached, again.abstained) == (True, True)
    assert len(standin.requests) == 1


def test_no_on_a_passage_abstains_without_generating(
    standin: ChatStandIn, embedder: Embedder, tmp_path: Path
) -> None:
    standin.reply = lambda body: (200, completion("no"))
    kb = open_kb(tmp_path, embedder, standin.url)
    try:
        answer = kb.answer("How many days until my refund comes back?", "en")
    finally:
        kb.close()
    assert (answer.abstained, answer.kind) == (True, "abstained")
    assert len(standin.requests) == 1  # the verifier's question; no generation after a no
    assert "Refunds go back" in standin.requests[0].body["messages"][1]["content"]


@pytest.mark.parametrize(
    "reply",
    [
        lambda body: (200, completion("I think the entry is relevant")),
        lambda body: (500, b'{"error": {"message": "overloaded"}}'),
        lambda body: (200, b"not json"),
        lambda body: (HANG, b""),
    ],
    ids=["unparsable", "http-500", "broken-body", "timeout"],
)
def test_a_failed_verification_keeps_the_answer_and_asks_again_next_time(
    standin: ChatStandIn,
    embedder: Embedder,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    reply: Callable[[dict[str, Any]], tuple[int, bytes]],
) -> None:
    standin.reply = reply
    kb = open_kb(tmp_path, embedder, standin.url, timeout_s=0.5)
    try:
        with caplog.at_level(logging.WARNING, logger="knowledge._verification"):
            first = kb.answer(QUESTION, "en")
        asked = len(standin.requests)
        again = kb.answer(QUESTION, "en")
    finally:
        kb.close()
    assert (first.abstained, first.kind, first.answer) == (False, "faq", FAQ[0]["answer"])
    assert (again.cached, again.abstained) == (False, False)
    assert asked >= 1
    assert len(standin.requests) == 2 * asked  # not cached: verified afresh
    messages = [r.getMessage() for r in caplog.records if r.name == "knowledge._verification"]
    assert messages
    assert all("keeping the thresholds' decision" in m for m in messages)
    assert QUESTION not in caplog.text


def test_answers_clearing_the_threshold_by_the_band_are_not_verified(
    standin: ChatStandIn, embedder: Embedder, tmp_path: Path
) -> None:
    standin.reply = lambda body: (200, completion("no"))
    kb = open_kb(tmp_path, embedder, standin.url, band=0.05)
    try:
        exact = kb.answer(QUESTION, "en")  # similarity about 1.0: clears 0.9 by far more
    finally:
        kb.close()
    assert (exact.abstained, exact.kind) == (False, "faq")
    assert standin.requests == []


def test_the_verifier_needs_a_language_model(tmp_path: Path, embedder: Embedder) -> None:
    config = KnowledgeConfig(persist_dir=tmp_path / "chroma", llm_verify=True)
    with pytest.raises(ValueError, match="llm_verify needs a language model: configure `llm`"):
        KnowledgeBase(config, detect_language=detect_language, embedder=embedder)
    settings = Settings(_env_file=None, var_dir=tmp_path, knowledge_llm_verify=True)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="BOT_KNOWLEDGE_LLM_VERIFY is on but no LLM"):
        knowledge_config(settings)


def test_settings_reach_the_knowledge_config(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=tmp_path,
        llm_base_url="http://127.0.0.1:1/v1",
        llm_model="m",
        knowledge_llm_verify=True,
        knowledge_llm_verify_band=0.03,
    )
    config = knowledge_config(settings)
    assert (config.llm_verify, config.verify_band) == (True, 0.03)
    assert (knowledge_config(Settings(_env_file=None, var_dir=tmp_path)).llm_verify) is False  # type: ignore[call-arg]


@pytest.mark.integration
def test_the_real_model_gives_a_verdict_that_is_acted_on(
    embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "llm").mkdir()
    with llama_server(tmp_path / "llm") as url:
        kb = open_kb(tmp_path, embedder, url, timeout_s=120, model=MODEL_ALIAS)
        try:
            with caplog.at_level(logging.INFO):
                first = kb.answer("What time do you open in the morning?", "en")
                again = kb.answer("What time do you open in the morning?", "en")
        finally:
            kb.close()
    assert "The LLM verifier failed" not in caplog.text
    assert "neither yes nor no" not in caplog.text
    # A verdict was obtained (a failure is never cached) and acted on: yes answers, no abstains.
    assert again.cached
    if first.abstained:
        assert first.note == "the language model judged the best entry off-topic"
        assert "The LLM verifier declined the answer from hours" in caplog.text
    else:
        assert (first.kind, first.answer) == ("faq", FAQ[0]["answer"])
