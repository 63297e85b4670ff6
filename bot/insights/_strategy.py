"""How the bot's reply adapts to the customer's emotion (the one place this rule lives)."""

from __future__ import annotations

from typing import Literal

from bot.insights._sentiment import EMOTION_CONFIDENCE, Sentiment

ReplyStrategy = Literal["apology_and_human", "reassurance_and_next_step", "standard"]


def reply_strategy(sentiment: Sentiment) -> ReplyStrategy:
    """Angry → apologize and offer a human; anxious → reassure and name the next step."""
    sure = sentiment.emotion_confidence >= EMOTION_CONFIDENCE
    if sentiment.angry or (sure and sentiment.emotion == "anger"):
        return "apology_and_human"
    if sure and sentiment.emotion == "anxiety":
        return "reassurance_and_next_step"
    return "standard"
