"""Evaluate the NLU model and the dialogue on held-out data, with Rasa run as a subprocess.

Rasa lives in its own environment, so training, parsing and story tests run there
(``rasa train nlu``, ``bot.rasa_components.nlu_predict``, ``rasa test core``) and the scores are
computed here. Rasa's output goes to stderr; callers print the returned dictionaries as JSON.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.dialogue._errors import EvaluationFailed
from bot.dialogue._training import CONFIG, PROJECT_ROOT, RasaToolchain, rasa_environment, train
from bot.language import LANGUAGES

logger = logging.getLogger(__name__)

TRAIN_DATA = PROJECT_ROOT / "nlu_data" / "train"
# Held-out NLU data: dev chooses pipelines and thresholds, test is reported once.
DEV_DATA = PROJECT_ROOT / "nlu_data" / "dev"
TEST_DATA = PROJECT_ROOT / "nlu_data" / "test"
TEST_STORIES = TEST_DATA / "stories.yml"
CONFUSIONS_SHOWN = 10
BOOTSTRAP_RESAMPLES = 10_000  # of the paired comparison's interval (seeded: the same every run)

# "[text](entity)", "[text](entity:value)" or '[text]{"entity": "x", "value": "y"}'.
_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<short>[^)]+)\)|(?P<json>\{[^}]+\}))")


@dataclass(frozen=True)
class Entity:
    """An entity by type and character span in its message."""

    entity: str
    start: int
    end: int


@dataclass(frozen=True)
class Example:
    """One labelled message."""

    text: str
    intent: str
    entities: tuple[Entity, ...] = field(default=())


def parse_annotated(line: str) -> tuple[str, tuple[Entity, ...]]:
    """The plain text of a Rasa-annotated example and its entities."""
    text, entities, position = "", [], 0
    for match in _ANNOTATION.finditer(line):
        text += line[position : match.start()]
        if match.group("json"):
            try:
                name = str(json.loads(match.group("json"))["entity"])
            except (ValueError, KeyError) as exc:
                raise EvaluationFailed(f"bad entity annotation {match.group(0)!r}") from exc
        else:
            name = match.group("short").split(":", 1)[0]
        entities.append(Entity(name, len(text), len(text) + len(match.group("text"))))
        text += match.group("text")
        position = match.end()
    return text + line[position:], tuple(entities)


def load_examples(path: Path) -> list[Example]:
    """Labelled messages from Rasa NLU YAML (a file or a folder of them) or a text,intent CSV."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in {".yml", ".yaml", ".csv"})
        return [example for file in files for example in load_examples(file)]
    if not path.is_file():
        raise EvaluationFailed(f"{path} does not exist")
    if path.suffix == ".csv":
        return _load_csv(path)
    if path.suffix not in {".yml", ".yaml"}:
        raise EvaluationFailed(f"{path}: expected Rasa NLU YAML (.yml) or CSV with text,intent")
    return _load_yaml(path)


def _load_csv(path: Path) -> list[Example]:
    with path.open(encoding="utf-8-sig", newline="") as source:
        reader = csv.DictReader(source)
        if reader.fieldnames is None or not {"text", "intent"} <= set(reader.fieldnames):
            raise EvaluationFailed(f"{path}: the CSV needs a header with the columns text,intent")
        examples = []
        for number, row in enumerate(reader, start=2):
            text, intent = (row.get("text") or "").strip(), (row.get("intent") or "").strip()
            if not text or not intent:
                raise EvaluationFailed(f"{path}, line {number}: text and intent must not be empty")
            examples.append(Example(text, intent))
    return examples


def _load_yaml(path: Path) -> list[Example]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise EvaluationFailed(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise EvaluationFailed(f"{path}: expected a Rasa NLU file with an `nlu:` list")
    examples = []
    for block in data.get("nlu") or []:
        if not isinstance(block, dict) or "intent" not in block:
            continue  # regexes, synonyms and lookup tables label no messages
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                text, entities = parse_annotated(line[2:].strip())
                examples.append(Example(text, str(block["intent"]), entities))
    return examples


def write_rasa_nlu(examples: list[Example], path: Path) -> None:
    """Write examples (without entities) as a Rasa NLU training file."""
    by_intent: dict[str, list[str]] = {}
    for example in examples:
        by_intent.setdefault(example.intent, []).append(example.text)
    nlu = [
        {"intent": intent, "examples": "".join(f"- {t}\n" for t in texts)}
        for intent, texts in by_intent.items()
    ]
    path.write_text(
        yaml.safe_dump({"version": "3.1", "nlu": nlu}, allow_unicode=True), encoding="utf-8"
    )


def score(
    examples: list[Example], predictions: list[dict[str, Any]], oos_label: str | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1, entity precision/recall/F1 and the commonest confusions."""
    if len(examples) != len(predictions):
        raise EvaluationFailed(f"{len(predictions)} predictions for {len(examples)} examples")
    # scikit-learn loads slowly; only evaluation needs it, never the hub.
    from sklearn.metrics import f1_score  # type: ignore[import-untyped]

    gold = [e.intent for e in examples]
    predicted = [str(p.get("intent")) for p in predictions]
    labels = sorted(set(gold))
    result: dict[str, Any] = {
        "examples": len(examples),
        "accuracy": _round(sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)),
        "macro_f1": _round(
            f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)
        ),
        "confusions": [
            {"intent": g, "predicted": p, "count": n}
            for (g, p), n in Counter(
                (g, p) for g, p in zip(gold, predicted, strict=True) if g != p
            ).most_common(CONFUSIONS_SHOWN)
        ],
    }
    if any(e.entities for e in examples):
        result["entities"] = _entity_scores(examples, predictions)
    if oos_label is not None:
        result.update(_oos_scores(gold, predicted, oos_label))
    return result


def paired_difference(
    baseline_right: list[bool],
    right: list[bool],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Whether one pipeline's lead in accuracy over a baseline, on the same messages, holds.

    The messages only one of the two gets right (the discordant pairs) decide it: the exact
    McNemar test on them (two-sided binomial p), and a 95 % paired-bootstrap interval of the
    difference (``resamples`` draws of the messages, seeded). On a few hundred messages a lead of
    one or two points usually has an interval that holds 0.
    """
    if len(baseline_right) != len(right) or not right:
        raise EvaluationFailed("compare the same, non-zero number of messages")
    import numpy as np
    from scipy.stats import binomtest  # type: ignore[import-untyped]

    base, ours = np.asarray(baseline_right, dtype=bool), np.asarray(right, dtype=bool)
    only_ours, only_base = int(np.sum(ours & ~base)), int(np.sum(base & ~ours))
    discordant = only_ours + only_base
    p_value = binomtest(only_ours, discordant).pvalue if discordant else 1.0
    draws = np.random.default_rng(seed).integers(0, len(ours), size=(resamples, len(ours)))
    low, high = np.percentile(ours[draws].mean(axis=1) - base[draws].mean(axis=1), [2.5, 97.5])
    return {
        "messages": len(ours),
        "difference": _round(float(ours.mean() - base.mean())),
        "only_this_right": only_ours,
        "only_baseline_right": only_base,
        "mcnemar_exact_p": _round(float(p_value)),
        "bootstrap_95": [_round(float(low)), _round(float(high))],
    }


def _entity_scores(examples: list[Example], predictions: list[dict[str, Any]]) -> dict[str, Any]:
    true_positives = gold_count = predicted_count = 0
    for example, prediction in zip(examples, predictions, strict=True):
        gold = Counter(example.entities)
        found = Counter(
            Entity(str(e["entity"]), int(e["start"]), int(e["end"]))
            for e in prediction.get("entities") or []
        )
        true_positives += sum((gold & found).values())
        gold_count += sum(gold.values())
        predicted_count += sum(found.values())
    precision = true_positives / predicted_count if predicted_count else 0.0
    recall = true_positives / gold_count if gold_count else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "gold": gold_count,
        "precision": _round(precision),
        "recall": _round(recall),
        "f1": _round(f1),
    }


def _oos_scores(gold: list[str], predicted: list[str], oos_label: str) -> dict[str, Any]:
    out_of_scope = [(g, p) for g, p in zip(gold, predicted, strict=True) if g == oos_label]
    in_scope = [(g, p) for g, p in zip(gold, predicted, strict=True) if g != oos_label]
    if not out_of_scope:
        raise EvaluationFailed(f"the test data has no example labelled {oos_label!r}")
    rejected = _rejected(oos_label)
    caught = sum(p in rejected for _, p in out_of_scope)
    flagged = sum(p in rejected for _, p in out_of_scope + in_scope)
    return {
        "oos_examples": len(out_of_scope),
        "oos_recall": _round(caught / len(out_of_scope)),
        # None when nothing was rejected: precision is undefined, not perfect.
        "oos_precision": _round(caught / flagged) if flagged else None,
        "in_scope_accuracy": _round(sum(g == p for g, p in in_scope) / len(in_scope))
        if in_scope
        else None,
    }


def _rejected(oos_label: str) -> set[str]:
    """The intents that say "out of scope": a message the model sends to the fallback counts as
    recognised as out of scope."""
    return {oos_label, "nlu_fallback"}


def _right(
    examples: list[Example], predictions: list[dict[str, Any]], oos_label: str | None = None
) -> list[bool]:
    """Per message, whether the model got it right: the labelled intent, or for a message labelled
    ``oos_label``, any rejection (as ``oos_recall`` counts it)."""
    rejected = _rejected(oos_label) if oos_label is not None else set()
    return [
        str(p.get("intent")) == e.intent
        or (e.intent == oos_label and str(p.get("intent")) in rejected)
        for e, p in zip(examples, predictions, strict=True)
    ]


def _round(value: float) -> float:
    return round(float(value), 4)


class Evaluator:
    """Runs Rasa in its environment to train, parse and test stories; scores the results."""

    def __init__(self, toolchain: RasaToolchain, config: Path = CONFIG) -> None:
        self._toolchain = toolchain
        self._config = config

    def project_nlu(self, test_dir: Path = TEST_DATA) -> dict[str, Any]:
        """Scores on the held-out files of each language: of the project's model, or of a fresh
        NLU model trained on the project's data with another config (to compare pipelines)."""
        with tempfile.TemporaryDirectory(prefix="eval-nlu-") as folder:
            result: dict[str, Any] = {}
            if self._config.resolve() == CONFIG.resolve():
                model = train(self._toolchain)  # the platform's model, trained only when stale
            else:
                started = time.monotonic()
                model = self.train_nlu(TRAIN_DATA, Path(folder), cache=Path(folder) / "cache")
                result["training_seconds"] = round(time.monotonic() - started, 1)
            languages = {}
            for language in LANGUAGES:
                examples = load_examples(test_dir / language)
                if not examples:
                    raise EvaluationFailed(f"no held-out examples under {test_dir / language}")
                languages[language] = score(examples, self.predict(model, examples))
        return {
            "model": model.name,
            "config": str(self._config),
            "data": str(
                test_dir.relative_to(PROJECT_ROOT)
                if test_dir.is_relative_to(PROJECT_ROOT)
                else test_dir
            ),
            **result,
            "languages": languages,
        }

    def outside_nlu(
        self,
        train_file: Path,
        test_file: Path,
        oos_label: str | None = None,
        baseline: Path | None = None,
    ) -> dict[str, Any]:
        """Train a fresh NLU model on ``train_file`` with the evaluator's config; score it.

        With ``baseline`` (another Rasa config), a second model is trained and scored on the same
        data, and ``paired`` says whether the first one's lead in accuracy holds
        (``paired_difference``)."""
        training, test = load_examples(train_file), load_examples(test_file)
        if not training or not test:
            raise EvaluationFailed("the training and the test data must each hold examples")
        if baseline is not None and not baseline.is_file():
            raise EvaluationFailed(f"the baseline config {baseline} is not a file")
        with tempfile.TemporaryDirectory(prefix="eval-nlu-") as folder:
            data = Path(folder) / "train.yml"
            if train_file.suffix == ".csv":
                write_rasa_nlu(training, data)
            else:
                data = train_file
            runs = {}
            for name, config in (("this", self._config), ("baseline", baseline)):
                if config is None:
                    continue
                out = Path(folder) / name
                out.mkdir()
                started = time.monotonic()
                # A fresh cache: the reported training time must not come from an earlier run.
                model = self.train_nlu(data, out, cache=out / "cache", config=config)
                seconds = time.monotonic() - started
                runs[name] = (self.predict(model, test), round(seconds, 1))
        predictions, seconds = runs["this"]
        result = {
            **score(test, predictions, oos_label),
            "training_examples": len(training),
            "training_seconds": seconds,
        }
        if "baseline" in runs:
            base_predictions, base_seconds = runs["baseline"]
            base = score(test, base_predictions, oos_label)
            result["baseline"] = {
                "config": str(baseline),
                "accuracy": base["accuracy"],
                "macro_f1": base["macro_f1"],
                "training_seconds": base_seconds,
            }
            result["paired"] = paired_difference(
                _right(test, base_predictions, oos_label), _right(test, predictions, oos_label)
            )
        return result

    def train_nlu(
        self, data: Path, out_dir: Path, cache: Path | None = None, config: Path | None = None
    ) -> Path:
        """Train an NLU-only model on ``data`` into ``out_dir``; return its path.

        ``cache`` replaces Rasa's training cache (by default the platform's, under ``var_dir``);
        ``config`` replaces the evaluator's config.
        """
        self._run(
            [
                "-m",
                "rasa",
                "train",
                "nlu",
                "--config",
                str(config or self._config),
                "--nlu",
                str(data),
                "--out",
                str(out_dir),
                "--fixed-model-name",
                "nlu",
            ],
            what="rasa train nlu",
            cache=cache,
        )
        model = out_dir / "nlu.tar.gz"
        if not model.exists():
            raise EvaluationFailed("`rasa train nlu` made no model; its output above says why")
        return model

    def predict(self, model: Path, examples: list[Example]) -> list[dict[str, Any]]:
        """The model's parse of every example's text."""
        with tempfile.TemporaryDirectory(prefix="eval-parse-") as folder:
            source, target = Path(folder) / "in.jsonl", Path(folder) / "out.jsonl"
            source.write_text(
                "".join(json.dumps({"text": e.text}, ensure_ascii=False) + "\n" for e in examples),
                encoding="utf-8",
            )
            self._run(
                [
                    "-m",
                    "bot.rasa_components.nlu_predict",
                    "--model",
                    str(model),
                    "--input",
                    str(source),
                    "--output",
                    str(target),
                ],
                what="parsing the test messages",
            )
            lines = target.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def stories(self, stories: Path = TEST_STORIES) -> dict[str, Any]:
        """Run test stories against the project's model; every story must pass."""
        if not stories.exists():
            raise EvaluationFailed(f"{stories} does not exist")
        model = train(self._toolchain)
        names = _story_names(stories)
        with tempfile.TemporaryDirectory(prefix="eval-stories-") as folder:
            self._run(
                [
                    "-m",
                    "rasa",
                    "test",
                    "core",
                    "--model",
                    str(model),
                    "--stories",
                    str(stories),
                    "--out",
                    folder,
                ],
                what="rasa test core",
            )
            failed_file = Path(folder) / "failed_test_stories.yml"
            failed_data = (
                yaml.safe_load(failed_file.read_text(encoding="utf-8"))
                if failed_file.exists()
                else None
            )
        # Rasa names a failed story "<name> (<file>)".
        failed = [
            str(s.get("story")).removesuffix(f" ({stories})")
            for s in (failed_data or {}).get("stories") or []
        ]
        return {
            "model": model.name,
            "stories": len(names),
            "passed": len(names) - len(failed),
            "failed": failed,
        }

    def _run(self, arguments: list[str], what: str, cache: Path | None = None) -> None:
        command = [str(self._toolchain.python), *arguments]
        environment = rasa_environment(self._toolchain)
        if cache is not None:
            environment["RASA_CACHE_DIRECTORY"] = str(cache)
        logger.info("Running %s in the Rasa environment", what)
        # Rasa's progress goes to stderr so that stdout stays for the JSON result.
        completed = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=sys.stderr,
            check=False,
        )
        if completed.returncode != 0:
            raise EvaluationFailed(
                f"{what} failed with exit code {completed.returncode}; its output above says why"
            )


def _story_names(path: Path) -> list[str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise EvaluationFailed(f"{path} is not valid YAML: {exc}") from exc
    return [str(story.get("story")) for story in data.get("stories") or []]
