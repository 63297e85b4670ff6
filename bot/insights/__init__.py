"""Insights about customers: sentiment of each message (churn and analytics come later)."""

from bot.insights._sentiment import Sentiment, SentimentAnalyzer

__all__ = ["Sentiment", "SentimentAnalyzer"]
