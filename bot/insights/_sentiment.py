"""Per-message sentiment for Chinese (snownlp + our lexicon) and English (VADER + our lexicon)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import yaml
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.language import Language

if TYPE_CHECKING:
    from bot.insights._emotion import Emotion, EmotionModel
    from bot.insights._tuned import TunedClassifier
EMOTION_NAMES = ("anger", "anxiety", "satisfaction", "neutral")

LEXICON_PATH = Path(__file__).with_name("lexicon.yml")
NEGATIVE_BELOW = -0.25
# Below this the emotion head is unsure (four classes: chance is 0.25), so it changes nothing.
EMOTION_CONFIDENCE = 0.5
POSITIVE_ABOVE = 0.25
# snownlp was trained on product reviews and calls plain questions ("退款什么时候到账") negative,
# so alone it may move a score only this far; the lexicon carries the decision.
SNOWNLP_WEIGHT_ALONE = 0.2
SNOWNLP_WEIGHT_WITH_LEXICON = 0.25


@dataclass(frozen=True)
class Sentiment:
    """How a message feels: score in [-1, 1], a label, whether it reads as angry, and the e5
    model's emotion (None when no model scored it)."""

    score: float
    label: Literal["negative", "neutral", "positive"]
    angry: bool
    terms: list[str] = field(default_factory=list)
    emotion: Emotion | None = None
    emotion_confidence: float = 0.0

    def to_metadata(self) -> dict[str, Any]:
        """What travels to the dialogue with the message (``metadata.sentiment``)."""
        given: dict[str, Any] = {
            "score": round(self.score, 4),
            "label": self.label,
            "angry": self.angry,
        }
        if self.emotion is not None:
            given["emotion"] = self.emotion
            given["emotion_confidence"] = round(self.emotion_confidence, 4)
        return given

    @classmethod
    def from_metadata(cls, given: Any) -> Sentiment:
        """The sentiment the hub sent with a message; neutral when it sent none (``rasa shell``)."""
        if not isinstance(given, dict):
            return cls(0.0, "neutral", False)
        label = given.get("label")
        score = given.get("score")
        emotion = given.get("emotion")
        confidence = given.get("emotion_confidence")
        known = emotion in EMOTION_NAMES
        return cls(
            score=float(score) if isinstance(score, int | float) else 0.0,
            label=label if label in ("negative", "neutral", "positive") else "neutral",
            angry=given.get("angry") is True,
            emotion=cast("Emotion", emotion) if known else None,
            emotion_confidence=(
                min(1.0, max(0.0, float(confidence)))
                if known and isinstance(confidence, int | float)
                else 0.0
            ),
        )


class SentimentAnalyzer:
    """Scores customer messages; models load once, on first use.

    With an ``EmotionModel`` each message also gets its emotion (anger, anxiety, satisfaction,
    neutral); the score and the angry flag, which decide handoffs, stay the lexicon's. With
    ``tuned_zh`` the polarity blended into a Chinese score is the shipped tuned e5 model's
    (:func:`tuned_zh_positive`) rather than snownlp's.
    """

    def __init__(
        self,
        lexicon_path: Path = LEXICON_PATH,
        emotions: EmotionModel | None = None,
        tuned_zh: bool = False,
    ) -> None:
        self._lexicon: dict[str, Any] = yaml.load(
            lexicon_path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader
        )
        self._emotions = emotions
        self._positive_zh = tuned_zh_positive if tuned_zh else snownlp_positive

    @cached_property
    def _vader(self) -> SentimentIntensityAnalyzer:
        analyzer = SentimentIntensityAnalyzer()
        analyzer.lexicon.update(self._lexicon["en"]["vader"])
        return analyzer

    @cached_property
    def _zh_terms(self) -> list[tuple[str, float]]:
        zh = self._lexicon["zh"]
        terms = [*zh["negative"].items(), *zh["positive"].items()]
        return sorted(terms, key=lambda item: -len(item[0]))  # longest match first

    def forget(self, texts: Sequence[str]) -> int:
        """Drop what the emotion model keeps of these messages (a customer's erasure); how many
        vectors went (none without the model)."""
        return self._emotions.forget(texts) if self._emotions is not None else 0

    def analyze(self, text: str, language: Language) -> Sentiment:
        """Score one message in its language, with its emotion when a model is given."""
        scored, by_words = self._analyze(text, language)
        if self._emotions is None or not text.strip():
            return scored
        reading = self._emotions.read(text)
        angry = scored.angry
        if (
            not by_words
            and reading.emotion == "anxiety"
            and reading.confidence >= EMOTION_CONFIDENCE
        ):
            # A very low score alone ("怎么还没到，急死了") is worry, not rage, when the emotion
            # head is sure of it; insults, threats and shouting stay angry whatever it says.
            angry = False
        return Sentiment(
            scored.score,
            scored.label,
            angry,
            scored.terms,
            reading.emotion,
            reading.confidence,
        )

    def _analyze(self, text: str, language: Language) -> tuple[Sentiment, bool]:
        """The lexicon's reading, and whether its anger comes from words or shouting (rather
        than from the score alone)."""
        normalized = unicodedata.normalize("NFKC", text).strip()
        if not normalized:
            return Sentiment(0.0, "neutral", False), False
        if language == "zh":
            score, terms = self._score_zh(normalized)
            masked = normalized
            for word in self._lexicon["zh"]["anger_exceptions"]:
                masked = masked.replace(word, "\x00" * len(word))
            anger = [t for t in self._lexicon["zh"]["anger"] if t in masked]
        else:
            score, terms = self._score_en(normalized)
            lowered = normalized.lower()
            anger = [
                t for t in self._lexicon["en"]["anger"] if re.search(rf"\b{re.escape(t)}", lowered)
            ]
        shouting = normalized.count("!") + normalized.count("！") >= 2 and score < NEGATIVE_BELOW
        by_words = bool(anger) or shouting
        angry = by_words or score <= -0.75
        if anger:
            score = min(score, -0.5)
        return Sentiment(round(score, 3), _label(score), angry, sorted({*terms, *anger})), by_words

    def _score_zh(self, text: str) -> tuple[float, list[str]]:
        zh = self._lexicon["zh"]
        total = 0.0
        found: list[str] = []
        covered = [False] * len(text)
        for polite in zh.get("score_exceptions", []):
            for match in re.finditer(re.escape(polite), text):
                covered[match.start() : match.end()] = [True] * len(polite)
        for term, weight in self._zh_terms:
            for match in re.finditer(re.escape(term), text):
                start, end = match.span()
                if any(covered[start:end]):
                    continue  # part of a longer term already counted ("不满意" over "满意")
                covered[start:end] = [True] * (end - start)
                before = text[max(0, start - 2) : start]
                value = float(weight)
                if any(n in before for n in zh["negations"]) and value > 0:
                    value = -value * 0.8
                for word, factor in zh["intensifiers"].items():
                    if word in before:
                        value *= factor
                total += value
                found.append(term)
        polarity = 2 * self._positive_zh(text) - 1
        if not found:
            return SNOWNLP_WEIGHT_ALONE * polarity, []
        lexical = math.tanh(total / 3)
        weight = SNOWNLP_WEIGHT_WITH_LEXICON
        blended = (1 - weight) * lexical + weight * polarity
        return max(-1.0, min(1.0, blended)), found

    def _score_en(self, text: str) -> tuple[float, list[str]]:
        scores = self._vader.polarity_scores(text)
        ours = self._lexicon["en"]["vader"]
        terms = [w for w in re.findall(r"[a-z']+", text.lower()) if w in ours]
        return float(scores["compound"]), terms


def load_sentiment_libraries(tuned_zh: bool = False) -> None:
    """Import snownlp now (its models load on import), and with ``tuned_zh`` load the tuned
    Chinese model: the hub's start-up calls it so that no customer's first message waits."""
    import snownlp  # noqa: F401

    if tuned_zh:
        _tuned_zh_model()


@cache
def _tuned_zh_model() -> TunedClassifier:
    """The shipped tuned Chinese polarity model, loaded once per process (torch, transformers
    and peft are imported only here: about 6 s and 0.8 GB more, measured in the README)."""
    from bot.insights._emotion import TUNED_POLARITY_ZH
    from bot.insights._tuned import TunedClassifier

    return TunedClassifier.load(TUNED_POLARITY_ZH)


def tuned_zh_positive(text: str) -> float:
    """The tuned model's probability that ``text`` is positive (``polarity-zh.safetensors``:
    e5 with LoRA adapters, trained on hand-written reviews; about 27 ms a message on a core)."""
    model = _tuned_zh_model()
    return float(model.probabilities([text])[0][model.classes.index("positive")])


def snownlp_positive(text: str) -> float:
    """snownlp's probability that ``text`` is positive. snownlp is imported on first use:
    importing it loads its segmenter, tagger and sentiment models (about 5 s of CPU), which
    every command and process would otherwise pay on start (servers load it in their warm-up)."""
    from snownlp import SnowNLP

    return float(SnowNLP(text).sentiments)


def _label(score: float) -> Literal["negative", "neutral", "positive"]:
    if score <= NEGATIVE_BELOW:
        return "negative"
    if score >= POSITIVE_ABOVE:
        return "positive"
    return "neutral"
