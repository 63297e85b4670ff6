"""Insights about customers: sentiment of each message, the knowledge base's gaps, service
analytics and pain points."""

from bot.insights._analytics import (
    AnalyticsConfig,
    AnalyticsFilters,
    AnalyticsService,
    InvalidAnalyticsQuery,
    TicketFact,
    TicketsBetween,
    UnansweredSource,
    parse_day,
    report_csv,
)
from bot.insights._gaps import Gap, RepliedQuestion, RepliesSince, gaps_report
from bot.insights._sentiment import Sentiment, SentimentAnalyzer

__all__ = [
    "AnalyticsConfig",
    "AnalyticsFilters",
    "AnalyticsService",
    "Gap",
    "InvalidAnalyticsQuery",
    "RepliedQuestion",
    "RepliesSince",
    "Sentiment",
    "SentimentAnalyzer",
    "TicketFact",
    "TicketsBetween",
    "UnansweredSource",
    "gaps_report",
    "parse_day",
    "report_csv",
]
