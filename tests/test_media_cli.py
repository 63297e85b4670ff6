"""``python -m bot media ...``: JSON out, clear errors with their own exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app import app
from channels.media import render_text_image, synthesize_speech


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BOT_VAR_DIR", str(tmp_path / "var"))
    return CliRunner()


def test_transcribe_prints_text_language_and_seconds(runner: CliRunner, tmp_path: Path) -> None:
    clip = synthesize_speech("Where is my order?", "en", tmp_path / "question.wav")
    result = runner.invoke(app, ["media", "transcribe", str(clip)])
    assert result.exit_code == 0, result.output
    heard = json.loads(result.stdout)
    assert set(heard) == {"text", "language", "seconds", "duration_s", "backend"}
    assert "where is my order" in heard["text"].lower()
    assert (heard["language"], heard["backend"]) == ("en", "faster-whisper")
    assert heard["seconds"] > 0


def test_ocr_prints_the_text_and_the_facts(runner: CliRunner, tmp_path: Path) -> None:
    lines = ["优选商城 订单详情", "订单号：YX2611010001", "实付金额：¥299.00"]
    shot = render_text_image(lines, tmp_path / "o.png")
    result = runner.invoke(app, ["media", "ocr", str(shot), "--backend", "tesseract"])
    assert result.exit_code == 0, result.output
    read = json.loads(result.stdout)
    assert (read["language"], read["backend"]) == ("zh", "tesseract")
    assert read["facts"]["order_ids"] == ["YX2611010001"]
    assert read["seconds"] > 0


@pytest.mark.parametrize(
    ("args", "code", "error", "says"),
    [
        (["transcribe", "{missing}"], 2, "not_found", "does not exist"),
        (["transcribe", "{image}"], 2, "wrong_kind", "is image (png), not audio"),
        (["ocr", "{audio}"], 2, "wrong_kind", "is audio (wav), not image"),
        (["transcribe", "{audio}", "--backend", "whisper.cpp"], 2, "bad_option", "unknown speech"),
        (
            ["transcribe", "{audio}", "--backend", "openai-whisper"],
            3,
            "unavailable",
            "no package ships one",
        ),
    ],
)
def test_errors_say_what_is_wrong(
    runner: CliRunner, tmp_path: Path, args: list[str], code: int, error: str, says: str
) -> None:
    files = {
        "missing": str(tmp_path / "nope.wav"),
        "image": str(render_text_image(["YX2611010001"], tmp_path / "i.png")),
        "audio": str(synthesize_speech("hello", "en", tmp_path / "a.wav")),
    }
    result = runner.invoke(app, ["media", *[a.format(**files) for a in args]])
    assert result.exit_code == code
    problem = json.loads(result.stderr)
    assert problem["error"] == error
    assert says in problem["detail"]


def test_eval_scores_the_chosen_engines_on_the_generated_set(
    runner: CliRunner, tmp_path: Path
) -> None:
    folder = tmp_path / "eval"
    args = ["media", "eval", "--folder", str(folder), "--speech", "", "--ocr", "tesseract"]
    result = runner.invoke(app, [*args, "--screenshots", "2"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert scores["set"] == {
        "speech_clips_zh": 24,
        "speech_clips_en": 22,
        "screenshots": 2,
        "folder": str(folder),
    }
    assert scores["speech"] == {}
    tesseract = scores["ocr"]["tesseract"]
    assert tesseract["images"] == 2
    assert tesseract["cer"] < 0.3
    assert len(list(folder.glob("zh-*.wav"))) == 24
