"""The shipped e5 sentiment/emotion heads, the reply strategy, and the sentiment commands."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from typer.testing import CliRunner

from actions import ActionServices
from actions.service import ActionHandleComplaint
from bot.app._cli import app
from bot.insights import (
    EmotionModel,
    LinearHead,
    ModelFileError,
    Sentiment,
    SentimentAnalyzer,
    reply_strategy,
)
from knowledge import E5Embedder

EMBEDDER = E5Embedder()


@pytest.fixture(scope="module")
def analyzer() -> SentimentAnalyzer:
    return SentimentAnalyzer(emotions=EmotionModel(EMBEDDER))


def test_heads_round_trip_and_corrupt_files_are_refused(tmp_path: Path) -> None:
    head = LinearHead(
        ("negative", "positive"),
        np.array([[1.0, -1.0]], dtype=np.float32),
        np.array([0.0], dtype=np.float32),
    )
    path = tmp_path / "head.npz"
    head.save(path)
    loaded = LinearHead.load(path)
    vectors = np.array([[2.0, 0.0], [0.0, 2.0]], dtype=np.float32)
    assert loaded.predict(vectors) == ["positive", "negative"]
    assert np.allclose(loaded.probabilities(vectors).sum(axis=1), 1.0)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="is not a sentiment model file"):
        LinearHead.load(broken)


def test_metadata_carries_the_emotion_and_ignores_forged_values() -> None:
    sentiment = Sentiment(-0.4, "negative", False, [], "anxiety", 0.81)
    assert Sentiment.from_metadata(sentiment.to_metadata()) == sentiment
    forged = {"score": 0, "label": "neutral", "emotion": "<script>", "emotion_confidence": 9}
    assert Sentiment.from_metadata(forged) == Sentiment(0.0, "neutral", False)
    assert Sentiment(0.1, "neutral", False).to_metadata() == {
        "score": 0.1,
        "label": "neutral",
        "angry": False,
    }


@pytest.mark.parametrize(
    ("sentiment", "strategy"),
    [
        (Sentiment(-0.8, "negative", True), "apology_and_human"),
        (Sentiment(-0.3, "negative", False, [], "anger", 0.7), "apology_and_human"),
        (Sentiment(-0.1, "neutral", False, [], "anxiety", 0.7), "reassurance_and_next_step"),
        (Sentiment(-0.1, "neutral", False, [], "anxiety", 0.3), "standard"),
        (Sentiment(0.6, "positive", False, [], "satisfaction", 0.9), "standard"),
    ],
)
def test_reply_strategy(sentiment: Sentiment, strategy: str) -> None:
    assert reply_strategy(sentiment) == strategy


@pytest.mark.parametrize(
    ("text", "language", "emotion"),
    [
        ("我的快递五天没动了，会不会丢了？我有点担心", "zh", "anxiety"),
        ("你们这破服务太气人了，我要投诉！", "zh", "anger"),
        ("收到了，质量很好，谢谢你们", "zh", "satisfaction"),
        ("My package hasn't moved in five days, I'm worried it's lost", "en", "anxiety"),
        ("This is outrageous, your service is a total joke!", "en", "anger"),
        ("Arrived today and it works great, thank you", "en", "satisfaction"),
    ],
)
def test_the_shipped_model_reads_emotions(
    analyzer: SentimentAnalyzer, text: str, language: Any, emotion: str
) -> None:
    assert analyzer.analyze(text, language).emotion == emotion


def test_worry_with_a_very_low_score_is_not_anger_but_insults_still_are(
    analyzer: SentimentAnalyzer,
) -> None:
    worried = analyzer.analyze("我的订单YX2611010008怎么还没到，急死了", "zh")
    assert worried.score <= -0.75  # the lexicon alone would call this angry
    assert (worried.angry, worried.emotion) == (False, "anxiety")
    assert reply_strategy(worried) == "reassurance_and_next_step"
    insulting = analyzer.analyze("怎么还没到，太差劲了，垃圾", "zh")
    assert insulting.angry
    assert SentimentAnalyzer().analyze("我的订单YX2611010008怎么还没到，急死了", "zh").angry


def _tracker(text: str, sentiment: Sentiment, language: str) -> Tracker:
    latest = {
        "intent": {"name": "complain"},
        "entities": [],
        "text": text,
        "metadata": {"sentiment": sentiment.to_metadata()},
    }
    events = [{"event": "user", "text": text, "parse_data": latest}]
    return Tracker("c-1", {"language": language}, latest, events, False, None, {}, None)


@pytest.mark.parametrize(
    ("text", "language", "severity", "follow_up"),
    [
        ("快递一直不更新，明天就要用了，我好着急", "zh", "normal", "utter_complaint_reassure"),
        (
            "The parcel is late and I need it tomorrow, I'm really worried",
            "en",
            "normal",
            "utter_complaint_reassure",
        ),
        ("你们这破服务太气人了，我要投诉！", "zh", "severe", "utter_complaint_offer_human"),
        (
            "This is outrageous, your service is a total joke!",
            "en",
            "severe",
            "utter_complaint_offer_human",
        ),
    ],
)
async def test_complaint_replies_follow_the_emotion(
    analyzer: SentimentAnalyzer,
    action_services: ActionServices,
    text: str,
    language: Any,
    severity: str,
    follow_up: str,
) -> None:
    dispatcher = CollectingDispatcher()
    scored = analyzer.analyze(text, language)
    result = await ActionHandleComplaint().run(dispatcher, _tracker(text, scored, language), {})
    assert result[1] == {
        "event": "slot",
        "name": "complaint_severity",
        "value": severity,
        "timestamp": None,
    }
    # The complaint is kept as a ticket (told to the customer) before the follow-up.
    assert [m["response"] for m in dispatcher.messages] == [
        "utter_complaint_ack",
        "utter_ticket_opened",
        follow_up,
    ]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("BOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BOT_LOG_LEVEL", "WARNING")
    return CliRunner()


def _shipped_rows() -> list[dict[str, str]]:
    """The hand-built emotion set as polarity: satisfaction positive, anger negative."""
    path = Path("bot/insights/data/emotion.tsv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [r for r in rows if r["emotion"] in ("satisfaction", "anger")]


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["review", "stars"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_sentiment_commands_on_a_small_file(runner: CliRunner, tmp_path: Path) -> None:
    rows = [
        {"review": r["text"], "stars": "5" if r["emotion"] == "satisfaction" else "1"}
        for r in _shipped_rows()
    ]
    data = _write(tmp_path / "reviews.csv", rows)
    result = runner.invoke(
        app,
        [
            "insights",
            "sentiment-eval",
            "--data",
            str(data),
            "--text-col",
            "review",
            "--label-col",
            "stars",
            "--positive",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"] == 80
    assert set(report) == {"rows", "skipped", "e5_model", "snownlp_vader"}
    assert report["e5_model"]["macro_f1"] >= 0.8

    out = tmp_path / "business.npz"
    result = runner.invoke(
        app,
        [
            "insights",
            "sentiment-train",
            "--data",
            str(data),
            "--text-col",
            "review",
            "--label-col",
            "stars",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    trained = json.loads(result.stdout)
    assert trained["classes"] == ["1", "5"]
    assert trained["validation (25 % held out)"]["n"] == 20
    assert LinearHead.load(out).classes == ("1", "5")

    few = [dict(r) for r in rows]
    for i, row in enumerate(few):
        if i % 4:
            row["stars"] = ""  # three of four unlabelled
    spread_out = tmp_path / "spread.csv"
    result = runner.invoke(
        app,
        [
            "insights",
            "label-spread",
            "--data",
            str(_write(tmp_path / "few.csv", few)),
            "--text-col",
            "review",
            "--label-col",
            "stars",
            "--out",
            str(spread_out),
        ],
    )
    assert result.exit_code == 0, result.output
    spread = json.loads(result.stdout)
    assert (spread["labelled"], spread["unlabelled"]) == (20, 60)
    with spread_out.open(encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == 60
    truth = {r["review"]: r["stars"] for r in rows}
    agree = sum(truth[w["review"]] == w["stars"] for w in written) / len(written)
    assert agree >= 0.7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text-col", "nope", "--label-col", "stars"], "has no column 'nope'"),
        (["--text-col", "review", "--label-col", "stars"], "pass --positive"),
    ],
)
def test_sentiment_eval_refuses_bad_input(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    data = _write(tmp_path / "r.csv", [{"review": "好", "stars": "5"}])
    result = runner.invoke(app, ["insights", "sentiment-eval", "--data", str(data), *args])
    assert result.exit_code == 2
    assert message in result.output
