"""Choose the intent classifier's out-of-scope rejection, report test once; prints JSON.

    .venv-rasa/bin/python -m bench.nlu_oos [--choose-on cv|dev] [--threshold T --min-similarity S]

Runs in the Rasa environment (the model is ``bot.rasa_components.IntentClassifier``'s, with
Rasa's scikit-learn). Trains one model on nlu_data/train (zh and en together, as the platform
does), then:

1. on held-out folds of train plus the DEV split (``--choose-on``, below; nlu_data/dev/<lang> in
   scope, nlu_data/oos/dev.yml out of scope) sweeps
   the rejection's two knobs: ``threshold`` (top probability) and ``min_similarity`` (cosine of
   the nearest training example in e5 space), and keeps the pair with the highest out-of-scope
   recall whose in-scope accuracy in each language stays within ``MAX_DROP`` of no rejection
   (ties: higher accuracy, then the lower knobs). ``--budget-on macro_f1`` bounds macro-F1
   instead, as the choice before 2026-12-04 did: macro-F1 forgives rejection (a rejected
   message that would have been wrong raises its class's precision), so that budget let in-scope
   accuracy fall 4.8 and 5.7 points on held-out folds;
2. reports the TEST split (nlu_data/test/<lang>, nlu_data/oos/test.yml) with that pair.

The out-of-scope sets are SYNTHETIC (written by hand for this project, see their headers).
A message counts as rejected when the model gives ``nlu_fallback`` or the explicit
``out_of_scope`` intent (the bot then says what it can help with instead: a rejection too; before
2026-12-04 only ``nlu_fallback`` counted); in-scope examples that are rejected count as errors.
``in_scope`` splits the in-scope messages into right, rejected and given a wrong intent.
``--threshold``/``--min-similarity`` skip the sweep and score dev (and, with ``--choose-on cv``,
the held-out folds) with the given pair; ``--report-test`` adds the test split (run it once, at
the end).

``--choose-on cv`` (the default since 2026-12-04, and how the platform's knobs were chosen)
chooses on more data than dev's 256 in-scope messages: each of ``FOLDS`` models is trained on
the other folds of nlu_data/train (stratified by intent, fixed seed) and scores its held-out fold
(every training example is then scored by a model that never saw it) and the dev split, in scope
and out of scope. The budget and the order of preference are the same as on dev alone
(``--choose-on dev``).
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "nlu_data" / "train"
OOS = ROOT / "nlu_data" / "oos"
CACHE = ROOT / "var" / "bench" / "intent-e5.npz"  # var/ is not versioned
LANGUAGES = ("zh", "en")
FALLBACK = "nlu_fallback"
REJECTIONS = (FALLBACK, "out_of_scope")  # what the bot answers with "not something I can do"
MAX_DROP = 0.015  # the budget: in-scope accuracy at most 1.5 points below no rejection
THRESHOLDS = [round(x, 2) for x in np.arange(0.0, 0.81, 0.05)]
FOLDS = 5
SIMILARITIES = [round(x, 3) for x in np.arange(0.0, 0.921, 0.01)]
ANNOTATION = re.compile(r"\[([^\]]+)\](\([^)]+\)|\{[^}]+\})")


def load(path: Path) -> list[tuple[str, str]]:
    """(text, intent) of every example in a Rasa NLU file or folder, annotations read as text."""
    pairs = []
    for file in sorted(path.rglob("*.yml")) if path.is_dir() else [path]:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            if isinstance(block, dict) and "intent" in block:
                for line in str(block.get("examples") or "").splitlines():
                    if line.strip().startswith("- "):
                        text = ANNOTATION.sub(r"\1", line.strip()[2:]).strip()
                        pairs.append((text, block["intent"]))
    return pairs


def is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


class Split:
    """One split's messages, gold intents, and the model's raw outputs."""

    def __init__(self, model: Any, embed: Any, name: str) -> None:
        self.languages: list[str] = []
        pairs: list[tuple[str, str]] = []
        for language in LANGUAGES:
            found = load(ROOT / "nlu_data" / name / language)
            pairs += found
            self.languages += [language] * len(found)
        oos = load(OOS / f"{name}.yml")
        pairs += oos
        self.languages += ["zh" if is_chinese(t) else "en" for t, _ in oos]
        self.texts = [t for t, _ in pairs]
        self.gold = [g for _, g in pairs]
        probabilities, embeddings = model.probabilities(self.texts, embed)
        order = np.argsort(-probabilities, axis=1)
        self.top = [model.classes[i] for i in order[:, 0]]
        self.top_probability = probabilities[np.arange(len(pairs)), order[:, 0]]
        self.similarity = np.asarray(model.nearest_similarity(embeddings))

    def predicted(self, threshold: float, min_similarity: float) -> list[str]:
        rejected = (self.top_probability < threshold) | (self.similarity < min_similarity)
        return [FALLBACK if r else top for r, top in zip(rejected, self.top, strict=True)]

    def scores(self, threshold: float, min_similarity: float) -> dict[str, Any]:
        from sklearn.metrics import f1_score  # type: ignore[import-untyped]

        predicted = self.predicted(threshold, min_similarity)
        result: dict[str, Any] = {}
        for language in LANGUAGES:
            rows = [
                (g, p)
                for g, p, lang in zip(self.gold, predicted, self.languages, strict=True)
                if lang == language and g != FALLBACK
            ]
            gold, guess = [g for g, _ in rows], [p for _, p in rows]
            result[f"macro_f1_{language}"] = round(
                float(f1_score(gold, guess, labels=sorted(set(gold)), average="macro")), 4
            )
            result[f"accuracy_{language}"] = round(sum(a == b for a, b in rows) / len(rows), 4)
        in_scope = [(g, p) for g, p in zip(self.gold, predicted, strict=True) if g != FALLBACK]
        rejected = sum(p == FALLBACK for _, p in in_scope)
        right = sum(g == p for g, p in in_scope)
        result["in_scope"] = {  # what a customer with an in-scope message gets
            "right": round(right / len(in_scope), 4),
            "rejected": round(rejected / len(in_scope), 4),
            "wrong_intent": round((len(in_scope) - right - rejected) / len(in_scope), 4),
        }
        oos = [p for g, p in zip(self.gold, predicted, strict=True) if g == FALLBACK]
        flagged = [g for g, p in zip(self.gold, predicted, strict=True) if p in REJECTIONS]
        result["oos_examples"] = len(oos)
        result["oos_recall"] = round(sum(p in REJECTIONS for p in oos) / len(oos), 4)
        result["oos_precision"] = (
            round(sum(g in REJECTIONS for g in flagged) / len(flagged), 4) if flagged else None
        )
        result["oos_missed"] = [
            t
            for t, g, p in zip(self.texts, self.gold, predicted, strict=True)
            if g == FALLBACK and p not in REJECTIONS
        ]
        result["in_scope_rejected"] = [
            t
            for t, g, p in zip(self.texts, self.gold, predicted, strict=True)
            if g != FALLBACK and p == FALLBACK
        ]
        return result


class CrossValidated(Split):
    """Out-of-fold scores: train's examples by the fold models that did not see them, and the
    dev split (in scope and out of scope) once by each fold model."""

    def __init__(self, module: Any, training: list[tuple[str, str]], embed: Any) -> None:
        from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

        dev_pairs: list[tuple[str, str]] = []
        dev_languages: list[str] = []
        for language in LANGUAGES:
            found = load(ROOT / "nlu_data" / "dev" / language)
            dev_pairs += found
            dev_languages += [language] * len(found)
        oos = load(OOS / "dev.yml")
        dev_pairs += oos
        dev_languages += ["zh" if is_chinese(t) else "en" for t, _ in oos]
        self.texts, self.gold, self.languages, self.top = [], [], [], []
        probabilities: list[float] = []
        similarities: list[float] = []
        labels = [g for _, g in training]
        folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=0)
        for number, (kept, held) in enumerate(folds.split(np.zeros(len(labels)), labels), 1):
            model = module.IntentModel.fit(
                [training[i][0] for i in kept],
                [labels[i] for i in kept],
                module.Settings(),
                embed,
            )
            scored = [training[i] for i in held] + dev_pairs
            languages = ["zh" if is_chinese(training[i][0]) else "en" for i in held] + dev_languages
            texts = [t for t, _ in scored]
            rows, embeddings = model.probabilities(texts, embed)
            order = np.argsort(-rows, axis=1)
            self.texts += texts
            self.gold += [g for _, g in scored]
            self.languages += languages
            self.top += [model.classes[i] for i in order[:, 0]]
            probabilities += list(rows[np.arange(len(texts)), order[:, 0]])
            similarities += model.nearest_similarity(embeddings)
            print(f"fold {number}/{FOLDS} scored", flush=True, file=sys.stderr)
        self.top_probability = np.asarray(probabilities)
        self.similarity = np.asarray(similarities)


def choose(dev: Split, metric: str = "accuracy") -> tuple[float, float, dict[str, Any]]:
    base = dev.scores(0.0, 0.0)
    best: tuple[Any, ...] | None = None
    for threshold, similarity in itertools.product(THRESHOLDS, SIMILARITIES):
        scored = dev.scores(threshold, similarity)
        if any(
            scored[f"{metric}_{lang}"] < base[f"{metric}_{lang}"] - MAX_DROP for lang in LANGUAGES
        ):
            continue
        key = (
            scored["oos_recall"],
            min(scored[f"{metric}_{lang}"] for lang in LANGUAGES),
            -threshold,
            -similarity,
        )
        if best is None or key > best[0]:
            best = (key, threshold, similarity, scored)
    assert best is not None  # (0, 0) always qualifies
    return best[1], best[2], base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float)
    parser.add_argument("--min-similarity", type=float)
    parser.add_argument(
        "--choose-on",
        choices=("dev", "cv"),
        default="cv",
        help="the dev split alone, or train's held-out folds plus dev (see above)",
    )
    parser.add_argument(
        "--budget-on",
        choices=("accuracy", "macro_f1"),
        default="accuracy",
        help="what may fall by at most 1.5 points (the issue's goal names in-scope accuracy)",
    )
    parser.add_argument(
        "--report-test", action="store_true", help="also score the test split (do it once)"
    )
    args = parser.parse_args()
    model_module = importlib.import_module("bot.rasa_components.intent_model")
    training = load(TRAIN)
    encoder = model_module.e5_encoder()
    cache = model_module.EmbeddingCache(CACHE)

    def embed(texts: Any) -> Any:
        return cache.embed(list(texts), encoder)

    started = time.monotonic()
    model = model_module.IntentModel.fit(
        [t for t, _ in training], [g for _, g in training], model_module.Settings(), embed
    )
    result: dict[str, Any] = {
        "training_examples": len(training),
        "intents": len(model.classes),
        "training_seconds": round(time.monotonic() - started, 1),
        "oos_data": "SYNTHETIC (nlu_data/oos, written by hand)",
    }
    dev = Split(model, embed, "dev")
    if args.threshold is None or args.min_similarity is None:
        basis = dev if args.choose_on == "dev" else CrossValidated(model_module, training, embed)
        threshold, similarity, base = choose(basis, args.budget_on)
        result["budget"] = f"{args.budget_on} in each language at most {MAX_DROP:.3f} below"
        result["chosen_on"] = (
            "dev" if args.choose_on == "dev" else f"{FOLDS}-fold cross-validation on train + dev"
        )
        result["basis_without_rejection"] = base
        if basis is not dev:
            chosen = basis.scores(threshold, similarity)
            result["basis_chosen"] = {
                k: v for k, v in chosen.items() if k not in ("oos_missed", "in_scope_rejected")
            }
            result["basis_chosen"]["in_scope_rejected"] = len(chosen["in_scope_rejected"])
    else:
        threshold, similarity = args.threshold, args.min_similarity
        result["chosen_on"] = "given"
        if args.choose_on == "cv":
            scored = CrossValidated(model_module, training, embed).scores(threshold, similarity)
            result["basis"] = {
                k: v for k, v in scored.items() if k not in ("oos_missed", "in_scope_rejected")
            }
    result["threshold"], result["min_similarity"] = threshold, similarity
    result["dev"] = dev.scores(threshold, similarity)
    if args.report_test:
        test = Split(model, embed, "test")
        result["test_without_rejection"] = test.scores(0.0, 0.0)
        result["test"] = test.scores(threshold, similarity)
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
