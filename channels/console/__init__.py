"""The agent console: its HTTP API, its pages, its live socket, and the dispatcher that routes the
queue."""

from channels.console._analytics import AnalyticsRoutes, build_analytics_router
from channels.console._api import build_router
from channels.console._audit import ConsoleReads
from channels.console._context import ContextBuilder, OrdersLookup, Suggester
from channels.console._corrections import build_corrections_router
from channels.console._dispatch import Dispatcher
from channels.console._live import ConsoleNamespace
from channels.console._outbox import build_outbox_router
from channels.console._pages import build_pages
from channels.console._services import (
    COOKIE,
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION,
    ConsoleServices,
)

__all__ = [
    "COOKIE",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION",
    "AnalyticsRoutes",
    "ConsoleNamespace",
    "ConsoleReads",
    "ConsoleServices",
    "ContextBuilder",
    "Dispatcher",
    "OrdersLookup",
    "Suggester",
    "build_analytics_router",
    "build_corrections_router",
    "build_outbox_router",
    "build_pages",
    "build_router",
]
