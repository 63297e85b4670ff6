"""Self-calibration: thresholds the knowledge base derives from its own corpus at ingestion, on
real Chroma and the bundled e5 model."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.language import detect_language
from knowledge import E5Embedder, Embedder, KnowledgeBase, KnowledgeConfig, SelfCalibration
from knowledge._calibration import ONE_CLASS_TARGET, _choose, _one_class, _Probe, decide
from knowledge._retrieval import retrieve

# Twelve FAQ entries of a bicycle-repair shop (not the demo shop), each with two other wordings.
ENTRIES = [
    (
        "opening-hours",
        "When is the workshop open?",
        ["What are your opening hours", "what time do you open"],
        "Monday to Saturday, 9:00 to 18:00.",
    ),
    (
        "flat-tyre",
        "How much does fixing a flat tyre cost?",
        ["price to repair a puncture", "flat tire repair cost"],
        "A puncture repair is 12 euros, inner tube included.",
    ),
    (
        "brake-service",
        "Can you adjust my brakes?",
        ["my brakes squeak, can you fix them", "brake tuning"],
        "Brake adjustment takes 20 minutes and costs 15 euros.",
    ),
    (
        "e-bike-battery",
        "Do you repair e-bike batteries?",
        ["my electric bike battery is dead", "ebike battery service"],
        "We test batteries for free and replace cells from 90 euros.",
    ),
    (
        "rental",
        "Can I rent a bike?",
        ["do you have bikes for hire", "bike rental price"],
        "City bikes rent for 15 euros a day.",
    ),
    (
        "parking",
        "Is there parking near the shop?",
        ["where can I park my car", "car park nearby"],
        "There is free parking behind the building.",
    ),
    (
        "payment",
        "Which payment methods do you accept?",
        ["can I pay by card", "do you take cash"],
        "Cash, cards and mobile payments.",
    ),
    (
        "warranty",
        "Is there a warranty on repairs?",
        ["how long are repairs guaranteed", "repair guarantee"],
        "Every repair is guaranteed for six months.",
    ),
    (
        "appointment",
        "Do I need an appointment?",
        ["can I just walk in", "how do I book a repair slot"],
        "Walk-ins are welcome; booking online skips the queue.",
    ),
    (
        "chain",
        "How often should I replace my chain?",
        ["when to change the bike chain", "chain wear"],
        "Roughly every 3,000 km; we measure wear for free.",
    ),
    (
        "kids-bikes",
        "Do you sell children's bikes?",
        ["bikes for kids", "bicycle for my daughter"],
        "Yes, from balance bikes to 24-inch wheels.",
    ),
    (
        "delivery",
        "Can you deliver a repaired bike to my home?",
        ["home delivery of my bike", "do you bring the bike back"],
        "Within 10 km for 10 euros.",
    ),
]


def write_corpus(path: Path, entries: list[tuple[str, str, list[str], str]]) -> Path:
    rows = [
        {"id": i, "question": q, "alternatives": alts, "answer": a, "language": "en"}
        for i, q, alts, a in entries
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return E5Embedder()


@pytest.fixture
def kb(tmp_path: Path, embedder: Embedder) -> Iterator[KnowledgeBase]:
    config = KnowledgeConfig(
        persist_dir=tmp_path / "chroma",
        embedding_cache=tmp_path / "embeddings.sqlite",
        refresh_interval_s=0.0,
    )
    knowledge = KnowledgeBase(config, detect_language=detect_language, embedder=embedder)
    yield knowledge
    knowledge.close()


def test_ingestion_derives_thresholds_stored_with_the_revision(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    corpus = write_corpus(tmp_path / "faq.jsonl", ENTRIES)
    kb.ingest([corpus])
    stats = kb.stats()
    calibration = stats["thresholds"]["self_calibration"]
    assert calibration["revision"] == stats["revision"]
    en = calibration["thresholds"]["en"]
    assert 0.7 <= en["answer"] <= 0.99
    assert 0.7 <= en["faq"] <= 0.99
    derived = calibration["derived"]["en"]
    assert (derived["entries"], derived["answerable_probes"], derived["unanswerable_probes"]) == (
        12,
        24,
        12,
    )
    assert derived["probe_abstention_rate"] >= derived["target_abstention"]
    # Distinct entries sit further apart than the wordings of one entry.
    between = derived["between_entries_similarity_quartiles"]
    own = derived["answerable_similarity_quartiles"]
    assert between[1] < own[1]
    assert stats["thresholds"]["in_use"]["en"] == {**en, "from": "self-calibrated"}
    # Chinese has no entries to probe: the configured thresholds answer it.
    assert stats["thresholds"]["in_use"]["zh"]["from"] == "configured"

    # An answerable customer question is answered, one the FAQ does not cover is declined.
    assert kb.answer("how much is a puncture repair?").citations[0].doc_id == "flat-tyre"
    assert kb.answer("Can you service my car's air conditioning?").abstained

    # The calibration follows the corpus: a changed corpus gets its own at its new revision.
    write_corpus(corpus, ENTRIES[:-1])
    kb.ingest([corpus])
    after = kb.stats()
    assert after["revision"] != stats["revision"]
    assert after["thresholds"]["self_calibration"]["revision"] == after["revision"]
    assert after["thresholds"]["self_calibration"]["derived"]["en"]["entries"] == 11


def test_a_reopened_knowledge_base_reads_the_stored_calibration(
    kb: KnowledgeBase, tmp_path: Path, embedder: Embedder
) -> None:
    kb.ingest([write_corpus(tmp_path / "faq.jsonl", ENTRIES)])
    stored = kb.stats()["thresholds"]["self_calibration"]
    other = KnowledgeBase(kb.config, detect_language=detect_language, embedder=embedder)
    try:
        assert other.stats()["thresholds"]["self_calibration"] == stored
        assert other.thresholds("en") == (
            stored["thresholds"]["en"]["faq"],
            stored["thresholds"]["en"]["answer"],
            "self-calibrated",
        )
    finally:
        other.close()


def test_too_small_a_corpus_keeps_the_configured_thresholds(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    kb.ingest([write_corpus(tmp_path / "faq.jsonl", ENTRIES[:4])])
    stats = kb.stats()
    assert stats["thresholds"]["self_calibration"]["derived"]["en"] == {
        "skipped": "4 FAQ entries: too few to probe (at least 8)"
    }
    assert stats["thresholds"]["in_use"]["en"] == {
        "faq": 0.8725,
        "answer": 0.855,
        "disagreement_penalty": 0.0,
        "from": "configured",
    }


def test_self_calibration_off_uses_the_configured_thresholds(
    tmp_path: Path, embedder: Embedder
) -> None:
    config = KnowledgeConfig(
        persist_dir=tmp_path / "chroma",
        embedding_cache=tmp_path / "embeddings.sqlite",
        faq_threshold=0.93,
        answer_threshold=0.91,
        self_calibrate=False,
    )
    kb = KnowledgeBase(config, detect_language=detect_language, embedder=embedder)
    try:
        kb.ingest([write_corpus(tmp_path / "faq.jsonl", ENTRIES)])
        stats = kb.stats()
        assert stats["thresholds"]["in_use"]["en"] == {
            "faq": 0.93,
            "answer": 0.91,
            "disagreement_penalty": 0.0,
            "from": "configured",
        }
        # Still derived, for `kb stats` and `kb eval` to show.
        assert "en" in stats["thresholds"]["self_calibration"]["thresholds"]
    finally:
        kb.close()


def test_the_choice_keeps_the_abstention_target_then_answers_the_most() -> None:
    # Unanswerable probes find another entry at 0.80–0.89; answerable ones find their own entry
    # at 0.84–0.95. Abstaining on 90 % of the unanswerable ones needs a threshold above 0.88.
    negatives = [_Probe(False, f"n{i}", ((f"x{i}", 0.80 + i * 0.01, 0.5),)) for i in range(10)]
    positives = [_Probe(True, f"p{i}", ((f"p{i}", 0.84 + i * 0.01, 0.5),)) for i in range(12)]
    (faq, answer, penalty), rates = _choose([*negatives, *positives], 0.9)
    assert 0.88 < faq <= 0.89
    assert answer > 0.5
    assert penalty == 0.0  # no probe is lexically confirmed: the penalty cannot help
    assert rates == {
        "probe_abstention_rate": 0.9,
        "probe_answer_rate": round(7 / 12, 4),
        "probe_correct_rate": round(7 / 12, 4),
        "probes_lexically_confirmed": 0.0,
    }


def test_lexical_agreement_lets_confirmed_entries_through_below_the_others() -> None:
    # Both kinds of probe overlap at 0.800–0.836, but the lexical ranking confirms only the
    # answerable probes' own entries: a penalty on unconfirmed documents separates them, which
    # no threshold alone can.
    negatives = [_Probe(False, f"n{i}", ((f"x{i}", 0.80 + i * 0.004, 0.5),)) for i in range(10)]
    positives = [
        _Probe(True, f"p{i}", ((f"p{i}", 0.80 + i * 0.004, 0.5),), frozenset({f"p{i}"}))
        for i in range(10)
    ]
    (faq, _, penalty), rates = _choose([*negatives, *positives], 0.9)
    assert faq <= 0.80 < 0.836 < faq + penalty
    assert rates["probe_abstention_rate"] == 1.0
    assert rates["probe_answer_rate"] == 1.0
    # Without the signal (penalty 0.0 only) the same probes force a trade.
    (_, _, none), without = _choose([*negatives, *positives], 0.9, penalties=(0.0,))
    assert none == 0.0
    assert without["probe_answer_rate"] <= 0.2


def test_decide_follows_the_answer_rule() -> None:
    top = (("a", 0.80, 0.91), ("b", 0.92, 0.70))
    assert decide(top, 0.90, 0.95) == "b"  # the best FAQ wording among the first three
    assert decide(top, 0.95, 0.90) == "a"  # else the first passage over its threshold
    assert decide(top, 0.95, 0.95) is None
    assert decide((), 0.5, 0.5) is None
    # A document the lexical ranking does not confirm must clear the threshold by the penalty.
    assert decide(top, 0.90, 0.95, 0.03) is None
    assert decide(top, 0.90, 0.95, 0.03, frozenset({"b"})) == "b"
    assert decide(top, 0.95, 0.90, 0.005) == "a"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        '{"revision": "r"}',
        '{"thresholds": []}',
        '{"revision": "r", "thresholds": {"en": {"faq": 0.9, "answer": 0.9, '
        '"disagreement_penalty": -0.5}}}',
        '{"revision": "r", "thresholds": {"en": {"faq": 0.9, "answer": 0.9, '
        '"disagreement_penalty": NaN}}}',
        '{"revision": "r", "thresholds": {"en": {"faq": 0.9, "answer": 0.9, '
        '"disagreement_penalty": "a lot"}}}',
    ],
)
def test_an_unreadable_stored_calibration_is_ignored(text: str) -> None:
    assert SelfCalibration.from_json(text) is None


def test_a_calibration_stored_before_the_penalty_reads_as_no_penalty() -> None:
    text = '{"revision": "r", "thresholds": {"en": {"faq": 0.9, "answer": 0.88}}}'
    calibration = SelfCalibration.from_json(text)
    assert calibration is not None
    assert calibration.thresholds == {
        "en": {"faq": 0.9, "answer": 0.88, "disagreement_penalty": 0.0}
    }


class HashingEmbedder(Embedder):
    """Vectors from a hash of the text: a real embedder without meaning, for volume tests where
    what the vectors mean does not matter and e5 would take minutes."""

    name = "hashing-test"

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        rows = [
            np.random.default_rng(int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little"))
            .standard_normal(32)
            .astype(np.float32)
            for t in texts
        ]
        return np.vstack([r / np.linalg.norm(r) for r in rows])

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        return self.embed_passages(texts)


def test_a_faq_file_larger_than_one_chroma_batch_ingests_and_calibrates(tmp_path: Path) -> None:
    # 6,000 question wordings: over Chroma's largest batch (5,461 here), two of the store's.
    entries = [(f"e{n}", f"question {n}", [f"wording {n}"], f"answer {n}") for n in range(3000)]
    config = KnowledgeConfig(
        persist_dir=tmp_path / "chroma", embedding_cache=tmp_path / "embeddings.sqlite"
    )
    kb = KnowledgeBase(config, detect_language=detect_language, embedder=HashingEmbedder())
    try:
        report = kb.ingest([write_corpus(tmp_path / "faq.jsonl", entries)])
        assert (report.failed, report.chunks_added) == ({}, 9000)
        stats = kb.stats()
        assert (stats["faq_entries"], stats["question_wordings"]) == (3000, 6000)
        derived = stats["thresholds"]["self_calibration"]["derived"]["en"]
        assert (derived["answerable_probes"], derived["unanswerable_probes"]) == (200, 200)
    finally:
        kb.close()


@pytest.mark.parametrize(("penalty", "unconfirmed_answered"), [(0.0, True), (0.05, False)])
def test_answers_ask_more_of_a_document_the_lexical_ranking_does_not_confirm(
    kb: KnowledgeBase, tmp_path: Path, penalty: float, unconfirmed_answered: bool
) -> None:
    kb.ingest([write_corpus(tmp_path / "faq.jsonl", ENTRIES)])
    revision = kb.stats()["revision"]
    thresholds = {"en": {"faq": 0.87, "answer": 0.99, "disagreement_penalty": penalty}}
    assert kb._index.set_calibration(revision, SelfCalibration(revision, thresholds).to_json())
    kb._corpus(force=True)
    # Both find the opening hours above 0.87 (e5); only the second shares words with it.
    unconfirmed, confirmed = "When can I come by?", "what are the workshop hours"
    for question, lexical in ((unconfirmed, 0.0), (confirmed, 1.0)):
        hits = retrieve(kb._corpus(), kb._index, kb._embedder, question, {})
        best = max(hits[:3], key=lambda h: h.question_similarity)
        assert (best.doc_id, best.question_similarity > 0.87, best.lexical) == (
            "opening-hours",
            True,
            lexical,
        )
    assert kb.answer(confirmed).citations[0].doc_id == "opening-hours"
    assert kb.answer(unconfirmed).abstained is not unconfirmed_answered
    assert kb.stats()["thresholds"]["in_use"]["en"] == {
        **thresholds["en"],
        "from": "self-calibrated",
    }


# ---- a FAQ file without alternative wordings: the unanswerable probes alone -----------------


def test_without_answerable_probes_the_thresholds_meet_the_target_and_no_more() -> None:
    # Leave-one-entry-out probes find another entry at 0.800-0.890, nothing answerable to weigh.
    negatives = [_Probe(False, f"n{i}", ((f"x{i}", 0.80 + i * 0.01, 0.5),)) for i in range(10)]
    (faq, answer, penalty), how = _one_class(negatives, 0.5, gap=0.02)
    # 0.80-0.84 abstain below any threshold above 0.84: the lowest of the grid is 0.8425.
    assert 0.84 < faq <= 0.8425
    assert answer == pytest.approx(faq - 0.02)
    assert penalty == 0.0
    assert how["probe_abstention_rate"] == 0.5
    assert how["chosen_by"].startswith("the abstention target alone: 0 answerable probes")
    # The rule for corpora with answerable probes would abstain on every probe here.
    (faq_max, _, _), _ = _choose(negatives, 0.5)
    assert faq_max > 0.89


def test_a_faq_file_without_alternative_wordings_calibrates_on_the_target_alone(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    plain: list[tuple[str, str, list[str], str]] = [(i, q, [], a) for i, q, _, a in ENTRIES]
    kb.ingest([write_corpus(tmp_path / "faq.jsonl", plain)])
    calibration = kb.stats()["thresholds"]["self_calibration"]
    derived = calibration["derived"]["en"]
    assert (derived["answerable_probes"], derived["unanswerable_probes"]) == (0, 12)
    assert derived["target_abstention"] == ONE_CLASS_TARGET
    assert derived["chosen_by"].startswith("the abstention target alone")
    assert ONE_CLASS_TARGET <= derived["probe_abstention_rate"] < 0.75
    faq, answer = calibration["thresholds"]["en"]["faq"], calibration["thresholds"]["en"]["answer"]
    configured_faq, configured_answer = kb.config.thresholds("en")
    assert faq - answer == pytest.approx(configured_faq - configured_answer)
    # An entry's own question is still answered.
    assert kb.answer("Do you sell children's bikes?").citations[0].doc_id == "kids-bikes"


def test_another_abstention_target_is_derived_at_the_next_ingestion(
    kb: KnowledgeBase, tmp_path: Path, embedder: Embedder
) -> None:
    corpus = write_corpus(tmp_path / "faq.jsonl", ENTRIES)
    kb.ingest([corpus])
    strict = kb.stats()["thresholds"]["self_calibration"]
    assert strict["target_abstention"] == 0.9
    config = replace(kb.config, target_abstention=0.5)
    reader = KnowledgeBase(config, detect_language=detect_language, embedder=embedder)
    lenient = KnowledgeBase(config, detect_language=detect_language, embedder=embedder)
    try:
        # The stored thresholds were made for another target: not used until derived again.
        assert reader.thresholds("en")[2] == "configured"
        report = lenient.ingest([corpus])
        assert not report.changed  # nothing in the corpus changed: only the target did
        derived = lenient.stats()["thresholds"]["self_calibration"]
        assert derived["target_abstention"] == 0.5
        assert derived["derived"]["en"]["target_abstention"] == 0.5
        assert lenient.thresholds("en")[2] == "self-calibrated"
        # Declining fewer probes never asks for a higher FAQ threshold.
        assert derived["thresholds"]["en"]["faq"] <= strict["thresholds"]["en"]["faq"]
        assert derived["derived"]["en"]["probe_abstention_rate"] >= 0.5
        # Another process at the same target picks them up without a new revision (the action
        # server while the hub ingests).
        assert reader.thresholds("en") == (
            derived["thresholds"]["en"]["faq"],
            derived["thresholds"]["en"]["answer"],
            "self-calibrated",
        )
    finally:
        reader.close()
        lenient.close()


def test_the_target_setting_reaches_the_knowledge_base() -> None:
    from bot.app import Settings, knowledge_config

    assert knowledge_config(Settings(_env_file=None)).target_abstention == 0.9  # type: ignore[call-arg]
    lenient = Settings(_env_file=None, knowledge_target_abstention=0.6)  # type: ignore[call-arg]
    assert knowledge_config(lenient).target_abstention == 0.6
    with pytest.raises(ValueError, match="knowledge_target_abstention"):
        Settings(_env_file=None, knowledge_target_abstention=1.0)  # type: ignore[call-arg]
