"""Evaluation: ingest a corpus into a temporary collection, ask a QA set, measure, calibrate.

The QA file is JSONL of ``{"question", "relevant_ids": [...]}``; an empty list means the corpus
does not answer the question, and the knowledge base should abstain.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from knowledge._base import KnowledgeBase, KnowledgeConfig
from knowledge._embeddings import Embedder
from knowledge._errors import InvalidSource
from knowledge._lexical import LEXICAL_TOP
from knowledge._retrieval import DocumentHit, retrieve
from knowledge._types import LanguageDetector

# Thresholds of a decision: (FAQ, answer) or, self-calibrated, (FAQ, answer, disagreement penalty).
Pair = tuple[float, ...]

logger = logging.getLogger(__name__)

# The goal the calibration aims at: abstain on this share of unanswerable questions.
TARGET_ABSTENTION = 0.9
_GRID = np.round(np.arange(0.80, 0.985, 0.0025), 4)


@dataclass(frozen=True)
class QAItem:
    question: str
    relevant_ids: tuple[str, ...]
    language: str | None = None


@dataclass
class EvalReport:
    """Retrieval and answer quality on a QA set, speed, and thresholds the set suggests."""

    questions: int
    answerable: int
    unanswerable: int
    recall_at_1: float
    recall_at_5: float
    mrr_at_10: float
    answer_rate: float  # answerable questions that got an answer
    abstention_rate: float  # unanswerable questions the knowledge base declined
    false_answer_rate: float  # answers citing nothing relevant, among all answers
    # answers to answerable questions from a wrong document that offer a related question from a
    # relevant one
    related_recovery_rate: float
    # answerable questions the knowledge base declined whose entry it offered ("did you mean…?")
    suggested_rate: float
    related_per_answer: float  # related questions offered per answer, on average
    kinds: dict[str, int]
    query_ms_p50: float
    query_ms_p95: float
    ingest_chunks: int
    ingest_seconds: float
    ingest_chunks_per_s: float
    thresholds: dict[str, dict[str, Any]]  # per language: faq, answer, where they come from
    calibration: dict[str, Any]  # thresholds the labelled (dev) questions choose
    # No labels: the thresholds the corpus gave itself at ingestion, and the shipped ones.
    self_calibration: dict[str, Any]
    shipped: dict[str, Any]
    misses: list[dict[str, Any]] = field(default_factory=list)
    # The test split, asked once with the thresholds calibrated on this (dev) set.
    test: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_qa(path: Path) -> list[QAItem]:
    """Read a QA JSONL file; every bad line is named."""
    items: list[QAItem] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidSource(f"{path}: cannot read the QA file ({exc})") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidSource(f"{path.name}: line {number} is not valid JSON ({exc})") from exc
        question = row.get("question") if isinstance(row, dict) else None
        relevant = row.get("relevant_ids") if isinstance(row, dict) else None
        if not isinstance(question, str) or not question.strip():
            raise InvalidSource(f"{path.name}: line {number} has no 'question'")
        if not isinstance(relevant, list) or not all(isinstance(r, str) for r in relevant):
            raise InvalidSource(
                f"{path.name}: line {number}: 'relevant_ids' must be a list of ids "
                "(empty when the corpus does not answer the question)"
            )
        language = row.get("language")
        items.append(QAItem(question.strip(), tuple(relevant), language or None))
    if not items:
        raise InvalidSource(f"{path.name}: the QA file has no questions")
    return items


def evaluate(
    corpus: Path,
    qa: Path,
    config: KnowledgeConfig | None = None,
    *,
    detect_language: LanguageDetector,
    test_qa: Path | None = None,
    embedder: Embedder | None = None,
    progress: bool = False,
) -> EvalReport:
    """Ingest ``corpus`` (FAQ JSONL file or folder) into a temporary collection and ask ``qa``;
    with ``test_qa``, thresholds are calibrated on ``qa`` (the dev split) and the test split is
    reported with them."""
    items = load_qa(qa)
    tests = load_qa(test_qa) if test_qa is not None else None
    if not corpus.exists():
        raise InvalidSource(f"{corpus}: no such corpus file or folder")
    base = config or KnowledgeConfig()
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as tmp:
        kb = KnowledgeBase(
            replace(
                base,
                persist_dir=Path(tmp) / "chroma",
                chroma_url=None,
                embedding_cache=Path(tmp) / "embeddings.sqlite",
                collection="eval",
                cache_size=0,
            ),
            detect_language=detect_language,
            embedder=embedder,
        )
        try:
            ingested = kb.ingest([corpus], progress=progress)
            if ingested.failed:
                raise InvalidSource(
                    "the corpus has files that cannot be ingested: "
                    + "; ".join(ingested.failed.values())
                )
            report = _measure(kb, items, ingested.chunks_added, ingested.seconds, progress)
            if tests is not None:
                report.test = _test_split(kb, tests, report.calibration["thresholds"], progress)
            return report
        finally:
            kb.close()


def _measure(
    kb: KnowledgeBase, items: Sequence[QAItem], chunks: int, seconds: float, progress: bool
) -> EvalReport:
    def language_of(item: QAItem) -> str:
        return item.language or kb.detect(item.question) or kb.config.default_language

    ranks: list[int | None] = []
    timings: list[float] = []
    kinds: dict[str, int] = {}
    answered = abstained = wrong = misled = recovered = related = declined = suggested = 0
    signals: list[tuple[QAItem, list[DocumentHit]]] = []
    misses: list[dict[str, Any]] = []
    for item in tqdm(items, desc="eval", unit="question", disable=not progress):
        started = time.perf_counter()
        answer = kb.answer(item.question, item.language)
        timings.append((time.perf_counter() - started) * 1000)
        kinds[answer.kind] = kinds.get(answer.kind, 0) + 1
        hits = retrieve(
            kb._corpus(),
            kb._index,
            kb._embedder,
            item.question,
            {},
            repair=kb.config.query_repair,
        )
        signals.append((item, hits))
        relevant = set(item.relevant_ids)
        if relevant:
            ranked = [h.doc_id for h in hits[:10]]
            rank = next((i for i, d in enumerate(ranked, 1) if d in relevant), None)
            ranks.append(rank)
            if rank != 1:
                misses.append(
                    {"question": item.question, "expected": sorted(relevant), "got": ranked[:3]}
                )
        if answer.abstained:
            abstained += not relevant
            declined += bool(relevant)
            suggested += bool(relevant & {r.doc_id for r in answer.related})
            continue
        answered += bool(relevant)
        related += len(answer.related)
        if not relevant & {c.doc_id for c in answer.citations}:
            wrong += 1
            misled += bool(relevant)
            recovered += bool(relevant & {r.doc_id for r in answer.related})
    answerable = ranks
    n_answerable = len(answerable)
    n_unanswerable = len(items) - n_answerable
    all_answers = sum(v for k, v in kinds.items() if k != "abstained")
    return EvalReport(
        questions=len(items),
        answerable=n_answerable,
        unanswerable=n_unanswerable,
        recall_at_1=_share(sum(r == 1 for r in answerable), n_answerable),
        recall_at_5=_share(sum(r is not None and r <= 5 for r in answerable), n_answerable),
        mrr_at_10=_share(sum(1 / r for r in answerable if r is not None), n_answerable),
        answer_rate=_share(answered, n_answerable),
        abstention_rate=_share(abstained, n_unanswerable),
        false_answer_rate=_share(wrong, all_answers),
        related_recovery_rate=_share(recovered, misled),
        suggested_rate=_share(suggested, declined),
        related_per_answer=_share(related, all_answers),
        kinds=kinds,
        query_ms_p50=round(float(np.percentile(timings, 50)), 1),
        query_ms_p95=round(float(np.percentile(timings, 95)), 1),
        ingest_chunks=chunks,
        ingest_seconds=round(seconds, 2),
        ingest_chunks_per_s=round(chunks / seconds, 1) if seconds else 0.0,
        thresholds={
            language: dict(zip(("faq", "answer", "from"), kb.thresholds(language), strict=True))
            for language in sorted({language_of(item) for item in items})
        },
        calibration=calibrate(signals, language_of),
        self_calibration=_self_calibrated(kb, signals, language_of),
        shipped=_shipped(kb, signals, language_of),
        misses=misses[:30],
    )


def _own_thresholds(kb: KnowledgeBase) -> dict[str, Pair]:
    calibration = kb._corpus().calibration
    if calibration is None:
        return {}
    return {
        lang: (t["faq"], t["answer"], t.get("disagreement_penalty", 0.0))
        for lang, t in calibration.thresholds.items()
    }


def _self_calibrated(
    kb: KnowledgeBase, signals: Sequence[Signal], language_of: Callable[[QAItem], str]
) -> dict[str, Any]:
    """Rates at the thresholds the corpus gave itself (a language it gave none answers with the
    shipped ones, as the knowledge base does)."""
    calibration = kb._corpus().calibration
    chosen = _with_shipped(kb, _own_thresholds(kb), signals, language_of)
    return {
        "thresholds": calibration.thresholds if calibration else {},
        "derived": calibration.derived if calibration else "not derived",
        **_rates(signals, chosen, language_of),
    }


def _with_shipped(
    kb: KnowledgeBase,
    own: dict[str, Pair],
    signals: Sequence[Signal],
    language_of: Callable[[QAItem], str],
) -> dict[str, Pair]:
    languages = {language_of(item) for item, _ in signals}
    return {lang: own.get(lang, kb.config.thresholds(lang)) for lang in languages}


def _shipped(
    kb: KnowledgeBase, signals: Sequence[Signal], language_of: Callable[[QAItem], str]
) -> dict[str, Any]:
    chosen = _with_shipped(kb, {}, signals, language_of)
    return {
        "thresholds": {lang: {"faq": f, "answer": a} for lang, (f, a) in chosen.items()},
        **_rates(signals, chosen, language_of),
    }


def _test_split(
    kb: KnowledgeBase,
    items: Sequence[QAItem],
    calibrated: dict[str, dict[str, float]],
    progress: bool,
) -> dict[str, Any]:
    """Rates on the test split at the thresholds the dev split chose (never tuned on these)."""

    def language_of(item: QAItem) -> str:
        return item.language or kb.detect(item.question) or kb.config.default_language

    signals = [
        (
            item,
            retrieve(
                kb._corpus(),
                kb._index,
                kb._embedder,
                item.question,
                {},
                repair=kb.config.query_repair,
            ),
        )
        for item in tqdm(items, desc="test", unit="question", disable=not progress)
    ]
    ranks = [
        next((i for i, h in enumerate(hits[:10], 1) if h.doc_id in item.relevant_ids), None)
        for item, hits in signals
        if item.relevant_ids
    ]
    chosen: dict[str, Pair] = {
        lang: (pair["faq"], pair["answer"]) for lang, pair in calibrated.items()
    }
    return {
        "questions": len(items),
        "answerable": len(ranks),
        "recall_at_1": _share(sum(r == 1 for r in ranks), len(ranks)),
        "recall_at_5": _share(sum(r is not None and r <= 5 for r in ranks), len(ranks)),
        "thresholds_from": "dev",
        **_rates(signals, chosen, language_of),
        "self_calibrated": _rates(
            signals, _with_shipped(kb, _own_thresholds(kb), signals, language_of), language_of
        ),
        "shipped": _rates(signals, _with_shipped(kb, {}, signals, language_of), language_of),
    }


def _share(count: float, total: int) -> float:
    return round(count / total, 4) if total else 0.0


def _decide(
    hits: Sequence[DocumentHit], faq: float, answer: float, penalty: float = 0.0
) -> str | None:
    """The document the knowledge base would answer from at these thresholds (None: abstain);
    the same rule as ``KnowledgeBase._compose``, ``penalty`` asked of a document the lexical
    ranking does not confirm."""
    if not hits:
        return None

    def extra(hit: DocumentHit) -> float:
        return 0.0 if hit.lexical >= LEXICAL_TOP else penalty

    best_faq = max(hits[:3], key=lambda h: h.question_similarity)
    if best_faq.question_similarity >= faq + extra(best_faq):
        return best_faq.doc_id
    return next((h.doc_id for h in hits[:5] if h.passage_similarity >= answer + extra(h)), None)


Signal = tuple[QAItem, list[DocumentHit]]
# abstentions on unanswerable questions -> (correct answers, answers, thresholds per language)
_Front = dict[int, tuple[int, int, dict[str, Pair]]]


def calibrate(signals: Sequence[Signal], language_of: Callable[[QAItem], str]) -> dict[str, Any]:
    """Thresholds per language of the question that answer the most answerable questions
    correctly while abstaining on at least ``TARGET_ABSTENTION`` of the unanswerable ones (the
    closest to it when none does), and how well thresholds chosen this way do on questions they
    were not chosen on (five-fold cross-validation)."""
    chosen = _choose(signals, language_of)
    rates = _rates(signals, chosen, language_of)
    return {
        "thresholds": {
            language: {"faq": faq, "answer": answer} for language, (faq, answer) in chosen.items()
        },
        **rates,
        "cross_validated": _cross_validate(signals, language_of),
    }


def _choose(signals: Sequence[Signal], language_of: Callable[[QAItem], str]) -> dict[str, Pair]:
    groups: dict[str, list[Signal]] = {}
    for signal in signals:
        groups.setdefault(language_of(signal[0]), []).append(signal)
    front: _Front = {0: (0, 0, {})}
    for language, group in sorted(groups.items()):
        merged: _Front = {}
        for abstained, (correct, answered, pair) in _language_front(group).items():
            for total, (c0, a0, choice) in front.items():
                key = total + abstained
                value = (c0 + correct, a0 + answered, {**choice, language: pair})
                if key not in merged or value[:2] > merged[key][:2]:
                    merged[key] = value
        front = merged
    unanswerable = sum(not item.relevant_ids for item, _ in signals)
    needed = TARGET_ABSTENTION * unanswerable
    meeting = [k for k in front if k >= needed - 1e-9]
    # Among the choices that abstain enough, the most correct answers, then the most answers,
    # then the most abstentions; when none does, the one closest to the target.
    best = max(meeting, key=lambda k: (*front[k][:2], k)) if meeting else max(front)
    return front[best][2]


def _language_front(group: Sequence[Signal]) -> dict[int, tuple[int, int, Pair]]:
    """For each number of abstentions on unanswerable questions, the thresholds answering the
    most answerable questions correctly (then the most)."""
    front: dict[int, tuple[int, int, Pair]] = {}
    for faq in _GRID:
        for answer in _GRID:
            pair = (float(faq), float(answer))
            tally = _Tally.of(group, _everywhere(pair))
            value = (tally.correct, tally.answered, pair)
            if tally.abstained not in front or value[:2] > front[tally.abstained][:2]:
                front[tally.abstained] = value
    return front


Thresholds = Callable[[QAItem], Pair]


def _everywhere(pair: Pair) -> Thresholds:
    return lambda _item: pair


def _per_language(chosen: dict[str, Pair], language_of: Callable[[QAItem], str]) -> Thresholds:
    # A language the choice has not seen answers nothing.
    return lambda item: chosen.get(language_of(item), (1.0, 1.0))


@dataclass
class _Tally:
    """What thresholds do on a set of questions."""

    abstained: int = 0  # unanswerable questions declined
    unanswerable: int = 0
    answered: int = 0  # answerable questions answered
    correct: int = 0  # ... from a relevant document
    answerable: int = 0
    given: int = 0  # answers given, to any question
    wrong: int = 0  # ... citing no relevant document (every answer to an unanswerable one)

    @classmethod
    def of(cls, signals: Sequence[Signal], thresholds: Thresholds) -> _Tally:
        tally = cls()
        for item, hits in signals:
            decided = _decide(hits, *thresholds(item))
            tally.given += decided is not None
            tally.wrong += decided is not None and decided not in item.relevant_ids
            if not item.relevant_ids:
                tally.unanswerable += 1
                tally.abstained += decided is None
                continue
            tally.answerable += 1
            tally.answered += decided is not None
            tally.correct += decided in item.relevant_ids
        return tally

    def add(self, other: _Tally) -> None:
        for name in (
            "abstained",
            "unanswerable",
            "answered",
            "correct",
            "answerable",
            "given",
            "wrong",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def rates(self) -> dict[str, float]:
        return {
            "abstention_rate": _share(self.abstained, self.unanswerable),
            "answer_rate": _share(self.answered, self.answerable),
            "correct_answer_rate": _share(self.correct, self.answerable),
            "false_answer_rate": _share(self.wrong, self.given),
        }


def _rates(
    signals: Sequence[Signal],
    chosen: dict[str, Pair],
    language_of: Callable[[QAItem], str],
) -> dict[str, float]:
    return _Tally.of(signals, _per_language(chosen, language_of)).rates()


def _cross_validate(
    signals: Sequence[Signal], language_of: Callable[[QAItem], str], folds: int = 5
) -> dict[str, float]:
    """Rates on each fifth of the questions with thresholds chosen on the other four fifths."""
    order = np.random.default_rng(0).permutation(len(signals))
    total = _Tally()
    for fold in range(folds):
        held = {int(i) for i in order[fold::folds]}
        train = [s for i, s in enumerate(signals) if i not in held]
        test = [s for i, s in enumerate(signals) if i in held]
        chosen = _choose(train, language_of)
        total.add(_Tally.of(test, _per_language(chosen, language_of)))
    return total.rates()


@dataclass(frozen=True)
class GroundingReport:
    """How the grounding check does on (answer, passage, faithful) pairs."""

    pairs: int
    faithful: int
    unfaithful: int
    unfaithful_rejected: float  # share of unfaithful answers rejected (the "precision")
    faithful_accepted: float  # share of faithful answers kept (the "recall")
    rejection_precision: float  # share of rejected answers that were unfaithful
    rejected_by_edit: dict[str, str]  # per kind of edit: "rejected/total"
    mistakes: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def grounding_report(path: Path, embedder: Embedder | None = None) -> GroundingReport:
    """Run the grounding check on a JSONL file of ``{"answer", "passage", "language",
    "faithful", "edit"}`` rows (``knowledge/eval/grounding_test.jsonl`` ships one)."""
    from knowledge._embeddings import E5Embedder
    from knowledge._generation import Passage, check_grounding

    rows = _load_grounding(path)
    model = embedder or E5Embedder()
    kept_faithful = rejected_unfaithful = rejected_faithful = 0
    by_edit: dict[str, list[int]] = {}
    mistakes: list[dict[str, Any]] = []
    for row in rows:
        verdict = check_grounding(
            row["answer"], "", row["language"], [Passage(1, "", row["passage"])], model
        )
        tally = by_edit.setdefault(row["edit"], [0, 0])
        tally[0] += not verdict.ok
        tally[1] += 1
        if row["faithful"]:
            kept_faithful += verdict.ok
            rejected_faithful += not verdict.ok
        else:
            rejected_unfaithful += not verdict.ok
        if verdict.ok != row["faithful"]:
            mistakes.append(
                {"answer": row["answer"], "edit": row["edit"], "reason": verdict.reason}
            )
    faithful = sum(bool(r["faithful"]) for r in rows)
    return GroundingReport(
        pairs=len(rows),
        faithful=faithful,
        unfaithful=len(rows) - faithful,
        unfaithful_rejected=_share(rejected_unfaithful, len(rows) - faithful),
        faithful_accepted=_share(kept_faithful, faithful),
        rejection_precision=_share(rejected_unfaithful, rejected_unfaithful + rejected_faithful),
        rejected_by_edit={edit: f"{r}/{n}" for edit, (r, n) in sorted(by_edit.items())},
        mistakes=mistakes,
    )


def _load_grounding(path: Path) -> list[dict[str, Any]]:
    """Read a grounding pairs file; every bad line is named."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidSource(f"{path}: cannot read the grounding pairs file ({exc})") from exc
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidSource(f"{path.name}: line {number} is not valid JSON ({exc})") from exc
        if not isinstance(row, dict):
            raise InvalidSource(f"{path.name}: line {number} must be a JSON object")
        problems = [
            f"'{key}' must be a non-empty string"
            for key in ("answer", "passage")
            if not isinstance(row.get(key), str) or not row[key].strip()
        ]
        if row.get("language") not in ("zh", "en"):
            problems.append("'language' must be 'zh' or 'en'")
        if not isinstance(row.get("faithful"), bool):
            problems.append("'faithful' must be true or false")
        if problems:
            raise InvalidSource(f"{path.name}: line {number}: " + "; ".join(problems))
        rows.append({**row, "edit": str(row.get("edit") or "unlabelled")})
    if not rows:
        raise InvalidSource(f"{path.name}: the grounding pairs file has no pairs")
    return rows
