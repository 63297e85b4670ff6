"""Scores of an NLU model on the project's held-out test split, per language, and the report of
a retraining: the training examples it added (a diff of the corrections YAML) and the scores of
the old and the new model side by side, from the same evaluation code as ``bot eval nlu``."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.dialogue import TEST_DATA, Evaluator, RasaToolchain, load_examples, score
from bot.language import LANGUAGES

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LanguageScore:
    """A model's scores on one language's test messages."""

    macro_f1: float
    accuracy: float
    examples: int

    def as_json(self) -> dict[str, float | int]:
        return {"macro_f1": self.macro_f1, "accuracy": self.accuracy, "examples": self.examples}


Scores = Mapping[str, LanguageScore]
Scorer = Callable[[Path], Scores]  # a model file → its scores per language (blocking)


def held_out_scores(toolchain: RasaToolchain, model: Path, test_dir: Path = TEST_DATA) -> Scores:
    """Score ``model`` on the test split of each language (one Rasa process for all of them)."""
    by_language = {language: load_examples(test_dir / language) for language in LANGUAGES}
    examples = [e for language in LANGUAGES for e in by_language[language]]
    predictions = Evaluator(toolchain).predict(model, examples)
    scores: dict[str, LanguageScore] = {}
    start = 0
    for language in LANGUAGES:
        part = by_language[language]
        if not part:
            continue
        found = score(part, predictions[start : start + len(part)])
        start += len(part)
        scores[language] = LanguageScore(found["macro_f1"], found["accuracy"], len(part))
    return scores


def not_worse(before: Scores | None, after: Scores, tolerance: float) -> bool:
    """Whether the new model's macro-F1 is within ``tolerance`` of the old one's (or above) in
    every language the old one was scored on; True when there is no old model to compare with."""
    if before is None:
        return True
    return all(
        language in after and after[language].macro_f1 >= old.macro_f1 - tolerance
        for language, old in before.items()
    )


def yaml_diff(old: str, new: str, name: str) -> str:
    """A unified diff of the corrections file, empty when it did not change."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"a/{name}",
        tofile=f"b/{name}",
    )
    return "".join(lines)


def added_examples(diff: str) -> int:
    """How many training examples a diff of the corrections file adds: its added lines that are
    an example (indented ``- text`` under ``examples: |``, not ``- intent: x``)."""
    return sum(
        1
        for line in diff.splitlines()
        if line.startswith("+ ") and line[1:].lstrip().startswith("- ")
    )


def retrain_report(
    *,
    before_model: str | None,
    after_model: str,
    diff: str,
    before: Scores | None,
    after: Scores,
    tolerance: float,
) -> dict[str, object]:
    """The report kept and shown: models, what was added, the scores, and the verdict."""
    return {
        "before_model": before_model,
        "after_model": after_model,
        "added": added_examples(diff),
        "diff": diff,
        "before": None if before is None else {k: v.as_json() for k, v in before.items()},
        "after": {k: v.as_json() for k, v in after.items()},
        "tolerance": tolerance,
        "not_worse": not_worse(before, after, tolerance),
    }
