"""The configs bench/nlu_compare.py compares."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.nlu_compare import CONFIGS, without_rejection


def test_the_compared_config_keeps_the_classifier_without_its_thresholds(tmp_path: Path) -> None:
    written = without_rejection(CONFIGS / "intent_classifier_en.yml", tmp_path / "en.yml")
    pipeline = yaml.safe_load(written.read_text(encoding="utf-8"))["pipeline"]
    classifier = next(c for c in pipeline if c["name"] == "bot.rasa_components.IntentClassifier")
    assert "threshold" not in classifier
    assert "min_similarity" not in classifier
    assert "threshold" in (CONFIGS / "intent_classifier_en.yml").read_text(encoding="utf-8")
