"""Insights about customers: sentiment and emotion of each message, the knowledge base's gaps,
churn risk with its reasons, and retention actions with measured uplift."""

from bot.insights._churn import (
    ChurnDataError,
    ChurnModel,
    ChurnReport,
    ChurnTable,
    read_churn_csv,
    synthetic_churn_table,
    train_churn,
)
from bot.insights._emotion import (
    EMOTION_MODEL,
    EMOTIONS,
    POLARITY_MODEL,
    Emotion,
    EmotionModel,
    EmotionReading,
    LinearHead,
    ModelFileError,
)
from bot.insights._gaps import Gap, RepliedQuestion, RepliesSince, gaps_report
from bot.insights._retention import (
    ACTION_KINDS,
    DEFAULT_RULES,
    AtRiskCustomer,
    Decision,
    RetentionAction,
    RetentionDesk,
    RetentionError,
    RetentionRule,
    Uplift,
    holdout_arm,
)
from bot.insights._sentiment import Sentiment, SentimentAnalyzer
from bot.insights._sentiment_lab import (
    LabelledDataError,
    build_shipped_models,
    evaluate_csv,
    read_labelled_csv,
    spread_labels,
    train_business,
)
from bot.insights._strategy import ReplyStrategy, reply_strategy
from bot.insights._vectors import VectorCache

__all__ = [
    "ACTION_KINDS",
    "DEFAULT_RULES",
    "EMOTIONS",
    "EMOTION_MODEL",
    "POLARITY_MODEL",
    "AtRiskCustomer",
    "ChurnDataError",
    "ChurnModel",
    "ChurnReport",
    "ChurnTable",
    "Decision",
    "Emotion",
    "EmotionModel",
    "EmotionReading",
    "Gap",
    "LabelledDataError",
    "LinearHead",
    "ModelFileError",
    "RepliedQuestion",
    "RepliesSince",
    "ReplyStrategy",
    "RetentionAction",
    "RetentionDesk",
    "RetentionError",
    "RetentionRule",
    "Sentiment",
    "SentimentAnalyzer",
    "Uplift",
    "VectorCache",
    "build_shipped_models",
    "evaluate_csv",
    "gaps_report",
    "holdout_arm",
    "read_churn_csv",
    "read_labelled_csv",
    "reply_strategy",
    "spread_labels",
    "synthetic_churn_table",
    "train_business",
    "train_churn",
]
