"""Insights about customers: sentiment of each message, the knowledge base's gaps, service
analytics and pain points."""

from bot.insights._analytics import (
    AnalyticsConfig,
    AnalyticsFilters,
    AnalyticsService,
    InvalidAnalyticsQuery,
    TicketFact,
    TicketsBetween,
    parse_day,
    report_csv,
)
from bot.insights._gaps import Gap, RepliedQuestion, RepliesSince, gaps_report
from bot.insights._painpoints import (
    Embed,
    FeedbackText,
    PainPointConfig,
    PainPoints,
    TicketTexts,
    painpoints_csv,
)
from bot.insights._sentiment import Sentiment, SentimentAnalyzer

__all__ = [
    "AnalyticsConfig",
    "AnalyticsFilters",
    "AnalyticsService",
    "Embed",
    "FeedbackText",
    "Gap",
    "InvalidAnalyticsQuery",
    "PainPointConfig",
    "PainPoints",
    "RepliedQuestion",
    "RepliesSince",
    "Sentiment",
    "SentimentAnalyzer",
    "TicketFact",
    "TicketTexts",
    "TicketsBetween",
    "gaps_report",
    "painpoints_csv",
    "parse_day",
    "report_csv",
]
