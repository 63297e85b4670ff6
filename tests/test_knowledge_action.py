"""action_answer_from_knowledge against a real knowledge base, as the action server runs it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions
from actions import ActionAnswerFromKnowledge, ActionServices
from bot.app import Settings, SharedKnowledge, ingest_sources, order_service, ticket_service
from bot.storage import Database
from tests.test_knowledge_base import REFUND_METHOD

FAQ = (
    """\
- id: refund-time
  zh:
    question: 退款多久到账？
    answer: 仓库收到退货后3–5个工作日内原路退款。
  en:
    question: How long does a refund take?
    answer: Refunds arrive within 3–5 business days after the warehouse receives the return.
"""
    + REFUND_METHOD
)
POLICY = """\
---
id: policy-warranty
url: https://shop.example/warranty
---
# Warranty

## Not covered

Damage caused by accidents, liquid, or unauthorized disassembly is not covered by the free
warranty; the after-sales centre can repair it for a fee.
"""


@contextmanager
def configured(
    folder: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, thresholds: tuple[str, str]
) -> Iterator[ActionAnswerFromKnowledge]:
    """The action with the services the wiring gives the action server (python -m bot actions),
    over the knowledge base in ``folder / "kb"`` at the given FAQ and answer thresholds."""
    env = {
        "BOT_VAR_DIR": str(folder / "var"),
        "BOT_KNOWLEDGE_SOURCES": str(folder / "kb"),
        "BOT_EMBEDDING_CACHE": str(cache),
        "BOT_KNOWLEDGE_FAQ_THRESHOLD": thresholds[0],
        "BOT_KNOWLEDGE_ANSWER_THRESHOLD": thresholds[1],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    report = ingest_sources(settings)
    assert len(report.added) == len(list((folder / "kb").iterdir()))
    knowledge = SharedKnowledge(settings)
    database = Database(settings.hub_database_url)  # tickets are not opened here: no tables
    actions.configure(
        ActionServices(
            orders=order_service(settings),
            knowledge=knowledge.get,
            tickets=ticket_service(settings, database),
        )
    )
    try:
        yield ActionAnswerFromKnowledge()
    finally:
        # The warm-up thread must be done before the folder it reads goes away.
        for thread in threading.enumerate():
            if thread.name == "knowledge-warm-up":
                thread.join(timeout=120)
        actions.configure(None)
        knowledge.close()
        database.dispose()


@pytest.fixture
def action(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ActionAnswerFromKnowledge]:
    sources = tmp_path / "kb"
    sources.mkdir()
    (sources / "faq.yaml").write_text(FAQ, encoding="utf-8")
    (sources / "warranty.md").write_text(POLICY, encoding="utf-8")
    cache = tmp_path_factory.getbasetemp() / "action-embeddings.sqlite"
    with configured(tmp_path, cache, monkeypatch, ("0.9", "0.84")) as action:
        yield action


def tracker(text: str, language: str) -> Tracker:
    return Tracker(
        "customer-1",
        {"language": language},
        {"text": text, "intent": {"name": "ask_knowledge", "confidence": 0.9}},
        [],
        False,
        None,
        {},
        "action_listen",
    )


async def ask(action: ActionAnswerFromKnowledge, text: str, language: str) -> list[dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker(text, language), {})
    assert events == []
    messages: list[dict[str, Any]] = dispatcher.messages
    return messages


async def test_answers_with_sources_in_the_customers_language(
    action: ActionAnswerFromKnowledge,
) -> None:
    (message,) = await ask(action, "退款要几天才能到账", "zh")
    assert message["text"] == (
        "仓库收到退货后3–5个工作日内原路退款。\n\n参考资料：\n[1] 退款多久到账？\n\n您可能还想问："
    )
    # The other refund question comes close: offered as a button that asks it.
    assert message["buttons"] == [{"title": "退款退到哪里？", "payload": "退款退到哪里？"}]
    assert message["custom"]["knowledge"]["related"] == [
        {"doc_id": "refund-method", "question": "退款退到哪里？", "language": "zh"}
    ]
    assert message["custom"]["citations"] == [
        {
            "n": 1,
            "doc_id": "refund-time",
            "title": "退款多久到账？",
            "section": "",
            "source": "faq.yaml",
            "language": "zh",
            "url": "",
        }
    ]
    assert message["custom"]["knowledge"]["kind"] == "faq"

    (english,) = await ask(action, "Is water damage covered by the warranty?", "en")
    assert english["text"].startswith("Damage caused by accidents, liquid")
    assert english["text"].endswith(
        "Sources:\n[1] [Warranty › Not covered](https://shop.example/warranty)"
    )
    assert english["custom"]["knowledge"]["kind"] == "extractive"
    assert (english["buttons"], english["custom"]["knowledge"]["related"]) == ([], [])


async def test_a_related_question_tapped_is_answered(action: ActionAnswerFromKnowledge) -> None:
    (first,) = await ask(action, "退款要几天才能到账", "zh")
    (button,) = first["buttons"]
    (message,) = await ask(action, button["payload"], "zh")
    assert message["text"].startswith(
        "退款原路退回到您付款的账户。\n\n参考资料：\n[1] 退款退到哪里？"
    )
    assert [c["doc_id"] for c in message["custom"]["citations"]] == ["refund-method"]
    assert message["buttons"] == [{"title": "退款多久到账？", "payload": "退款多久到账？"}]


async def test_abstains_and_offers_a_human_or_a_ticket(action: ActionAnswerFromKnowledge) -> None:
    (message,) = await ask(action, "明天北京天气怎么样", "zh")
    assert message["text"].startswith("抱歉，我在知识库里没有找到这个问题的可靠答案。")
    assert message["buttons"] == [
        {"title": "转人工客服", "payload": "/request_human"},
        {"title": "创建工单", "payload": "/open_ticket"},
    ]
    assert message["custom"] == {
        "citations": [],
        "knowledge": {
            "kind": "abstained",
            "abstained": True,
            "confidence": message["custom"]["knowledge"]["confidence"],
            "related": [],
        },
    }
    (english,) = await ask(action, "Tell me a joke about cats", "en")
    assert english["buttons"] == [
        {"title": "Talk to a human", "payload": "/request_human"},
        {"title": "Open a ticket", "payload": "/open_ticket"},
    ]


async def test_an_abstention_offers_the_entries_it_came_close_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Thresholds so strict that this colloquial question is declined: the refund entry it came
    # within SUGGEST_MARGIN of and shares a word with is offered first ("did you mean…?"), then
    # a human or a ticket. The other refund entry is as close but shares no word: not offered.
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "faq.yaml").write_text(FAQ, encoding="utf-8")
    cache = tmp_path_factory.getbasetemp() / "action-embeddings.sqlite"
    with configured(tmp_path, cache, monkeypatch, ("0.94", "0.97")) as action:
        (message,) = await ask(action, "退货的钱多会儿到", "zh")
        assert message["custom"]["knowledge"]["abstained"] is True
        assert message["text"].startswith("抱歉，我在知识库里没有找到这个问题的可靠答案。")
        assert message["text"].endswith("您是不是想问：")
        offered = [b["payload"] for b in message["buttons"]]
        assert offered == ["退款多久到账？", "/request_human", "/open_ticket"]
        assert [r["doc_id"] for r in message["custom"]["knowledge"]["related"]] == ["refund-time"]
        # A message nowhere near an entry is offered a human and a ticket only.
        (weather,) = await ask(action, "明天北京天气怎么样", "zh")
        assert [b["payload"] for b in weather["buttons"]] == ["/request_human", "/open_ticket"]
        assert "您是不是想问" not in weather["text"]
