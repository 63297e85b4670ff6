"""``python -m bot kb ...`` in-process: JSON out, clear errors, the eval on a tiny corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.app import app

CORPUS = [
    {"id": "fee", "question": "运费怎么收？", "answer": "满99元包邮，不满99元收10元运费。"},
    {"id": "refund", "question": "How long does a refund take?", "answer": "3–5 business days."},
    {"id": "hours", "question": "客服什么时间上班？", "answer": "每天09:00–21:00。"},
    {"id": "points", "question": "How do I earn points?", "answer": "1 point for every ¥1 paid."},
]
QA = [
    {"question": "邮费多少钱", "relevant_ids": ["fee"]},
    {"question": "when will I get my money back", "relevant_ids": ["refund"]},
    {"question": "人工客服几点上班", "relevant_ids": ["hours"]},
    {"question": "do purchases earn reward points", "relevant_ids": ["points"]},
    {"question": "What's the capital of France?", "relevant_ids": []},
]


@pytest.fixture
def runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> CliRunner:
    monkeypatch.setenv("BOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BOT_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("BOT_KNOWLEDGE_FAQ_THRESHOLD", "0.9")
    monkeypatch.setenv("BOT_KNOWLEDGE_ANSWER_THRESHOLD", "0.86")
    cache = tmp_path_factory.getbasetemp() / "cli-embeddings.sqlite"
    monkeypatch.setenv("BOT_EMBEDDING_CACHE", str(cache))
    return CliRunner()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in CORPUS), encoding="utf-8")
    return path


def run(runner: CliRunner, *args: str) -> tuple[int, dict[str, Any], str]:
    result = runner.invoke(app, ["kb", *args])
    data = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return result.exit_code, data, result.stderr


def test_ingest_ask_stats_delete(runner: CliRunner, corpus: Path) -> None:
    code, report, _ = run(runner, "ingest", str(corpus), "--no-progress")
    assert code == 0
    assert (report["added"], report["failed"], report["chunks_added"]) == (
        [str(corpus.resolve())],
        {},
        8,
    )
    code, again, _ = run(runner, "ingest", str(corpus), "--no-progress")
    assert (code, again["unchanged"], again["chunks_added"]) == (0, [str(corpus.resolve())], 0)

    code, answer, _ = run(runner, "ask", "邮费多少钱？")
    assert code == 0
    assert answer == {
        "answer": "满99元包邮，不满99元收10元运费。",
        "citations": [
            {
                "n": 1,
                "doc_id": "fee",
                "title": "运费怎么收？",
                "section": "",
                "source": "corpus.jsonl",
                "language": "zh",
                "url": "",
            }
        ],
        "abstained": False,
        "kind": "faq",
        "language": "zh",
        "confidence": answer["confidence"],
        "cached": False,
        "note": "",
        "related": [],
    }
    code, unknown, _ = run(runner, "ask", "What's the capital of France?")
    assert (code, unknown["abstained"], unknown["kind"], unknown["citations"]) == (
        0,
        True,
        "abstained",
        [],
    )

    code, stats, _ = run(runner, "stats", "--sources")
    assert code == 0
    assert (stats["sources"], stats["faq_entries"], stats["question_wordings"]) == (1, 4, 4)
    assert [s["source"] for s in stats["source_list"]] == [str(corpus.resolve())]

    code, deleted, _ = run(runner, "delete", "corpus.jsonl")
    assert (code, deleted) == (0, {"deleted": str(corpus.resolve()), "chunks_deleted": 8})
    code, _, error = run(runner, "delete", "corpus.jsonl")
    assert code == 2
    assert "error: no source 'corpus.jsonl' in the knowledge base" in error


def test_ingest_reports_bad_files_with_exit_code_1(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- question: 只有问题\n", encoding="utf-8")
    code, report, _ = run(runner, "ingest", str(bad), str(tmp_path / "missing"), "--no-progress")
    assert code == 1
    assert report["failed"] == {
        str(bad.resolve()): "bad.yaml: entry 1 (id 'bad.yaml#1') has no answer",
        str(tmp_path / "missing"): f"{tmp_path / 'missing'}: no such file or folder",
    }


def test_eval_on_a_tiny_corpus(runner: CliRunner, corpus: Path, tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in QA), encoding="utf-8")

    def evaluate_at(threshold: str) -> tuple[int, Any]:
        code, report, _ = run(
            runner,
            "eval",
            *("--corpus", str(corpus), "--qa", str(qa), "--no-progress"),
            *("--faq-threshold", threshold, "--answer-threshold", threshold),
        )
        return code, report

    # Thresholds between the tiny corpus's matches (cosine 0.86 and up) and the stray question
    # (0.75); the defaults are calibrated on the sample knowledge base, not on four FAQ entries.
    code, report = evaluate_at("0.85")
    assert code == 0
    assert {k: report[k] for k in ("questions", "answerable", "unanswerable")} == {
        "questions": 5,
        "answerable": 4,
        "unanswerable": 1,
    }
    assert (report["recall_at_1"], report["recall_at_5"], report["mrr_at_10"]) == (1.0, 1.0, 1.0)
    assert (report["answer_rate"], report["abstention_rate"]) == (1.0, 1.0)
    assert report["false_answer_rate"] == 0.0
    assert report["ingest_chunks"] == 8
    assert isinstance(report["query_ms_p95"], float)
    assert isinstance(report["calibration"], dict)
    assert "misses" not in report
    assert report["thresholds"] == {
        "en": {"faq": 0.85, "answer": 0.85, "from": "configured"},
        "zh": {"faq": 0.85, "answer": 0.85, "from": "configured"},
    }
    # Four entries are too few for the corpus to calibrate itself: the shipped thresholds.
    assert report["self_calibration"]["derived"]["en"] == {
        "skipped": "2 FAQ entries: too few to probe (at least 8)"
    }

    # Stricter than any match: every question is declined.
    code, strict = evaluate_at("0.95")
    assert code == 0
    assert (strict["answer_rate"], strict["abstention_rate"]) == (0.0, 1.0)


@pytest.mark.parametrize(
    ("qa_text", "message"),
    [
        ('{"question": "x"}\n', "qa.jsonl: line 1: 'relevant_ids' must be a list of ids"),
        ('{"relevant_ids": []}\n', "qa.jsonl: line 1 has no 'question'"),
        ("not json\n", "qa.jsonl: line 1 is not valid JSON"),
        ("\n", "qa.jsonl: the QA file has no questions"),
    ],
)
def test_eval_names_a_bad_qa_file(
    runner: CliRunner, corpus: Path, tmp_path: Path, qa_text: str, message: str
) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(qa_text, encoding="utf-8")
    code, _, error = run(runner, "eval", "--corpus", str(corpus), "--qa", str(qa), "--no-progress")
    assert code == 2
    assert message in error


def test_calibrate_and_stats_show_how_thresholds_were_derived(
    runner: CliRunner, corpus: Path
) -> None:
    code, _, _ = run(runner, "ingest", str(corpus), "--no-progress")
    assert code == 0
    code, calibration, _ = run(runner, "calibrate")
    assert code == 0
    too_few = "2 FAQ entries: too few to probe (at least 8)"
    assert calibration["thresholds"] == {}
    assert calibration["derived"] == {"en": {"skipped": too_few}, "zh": {"skipped": too_few}}
    code, stats, _ = run(runner, "stats")
    assert code == 0
    assert stats["thresholds"]["self_calibration"] == calibration
    # Thresholds set in the settings (as this runner does) are the operator's choice.
    assert stats["thresholds"]["in_use"]["zh"] == {
        "faq": 0.9,
        "answer": 0.86,
        "disagreement_penalty": 0.0,
        "from": "configured",
    }
    assert set(stats["answer_cache"]) >= {"backend", "hits", "misses", "hit_rate", "cached_ms_p95"}
