"""The paired statistics and the configs of bench/nlu_compare.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from bench.nlu_compare import CONFIGS, paired, without_rejection


def test_paired_counts_the_discordant_messages_and_bounds_the_difference() -> None:
    stock = np.array([True] * 90 + [False] * 10)
    ours = stock.copy()
    ours[90:98] = True  # eight messages only ours gets right
    ours[0] = False  # one only stock gets right
    result = paired(stock, ours, resamples=2000)
    assert result["only_this_right"] == 8
    assert result["only_stock_right"] == 1
    assert result["difference"] == 0.07
    low, high = result["bootstrap_95"]
    assert low < 0.07 < high
    # 8 against 1: an exact two-sided binomial p of 0.039
    assert result["mcnemar_exact_p"] == 0.0391


def test_paired_with_no_discordant_message_says_nothing_differs() -> None:
    same = np.array([True, False, True])
    result = paired(same, same.copy(), resamples=100)
    assert result["mcnemar_exact_p"] == 1.0
    assert result["bootstrap_95"] == [0.0, 0.0]


def test_the_compared_config_keeps_the_classifier_without_its_thresholds(tmp_path: Path) -> None:
    written = without_rejection(CONFIGS / "intent_classifier_en.yml", tmp_path / "en.yml")
    pipeline = yaml.safe_load(written.read_text(encoding="utf-8"))["pipeline"]
    classifier = next(c for c in pipeline if c["name"] == "bot.rasa_components.IntentClassifier")
    assert "threshold" not in classifier
    assert "min_similarity" not in classifier
    assert "threshold" in (CONFIGS / "intent_classifier_en.yml").read_text(encoding="utf-8")
