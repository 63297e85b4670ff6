"""Insights about customers: sentiment of each message, and the knowledge base's gaps."""

from bot.insights._gaps import Gap, RepliedQuestion, RepliesSince, gaps_report
from bot.insights._sentiment import Sentiment, SentimentAnalyzer

__all__ = [
    "Gap",
    "RepliedQuestion",
    "RepliesSince",
    "Sentiment",
    "SentimentAnalyzer",
    "gaps_report",
]
